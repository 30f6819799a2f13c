/*
 * brook — restoration: bringing a task's stores up to their changelog's
 * end before the task processes anything (Kafka Streams' StoreChangelogReader).
 *
 * Each persistent store recorded, with its data, the changelog offset the
 * data matches; only the changelog after it is read. A store without a
 * usable offset (in memory, new, wiped, or an offset the changelog no
 * longer has) starts empty and reads the whole changelog.
 *
 * Restoration runs in the stream thread's poll loop, a step at a time,
 * never inside the rebalance callback: the callback only opens the new
 * tasks and pauses their input partitions (brook__thread_restore_add()).
 * Between steps the thread keeps polling its consumer (so it stays in the
 * group however long restoration takes) and processing the tasks that are
 * ready; each task starts as soon as its own stores are restored, as in
 * Kafka Streams. Every step writes what it applied together with each
 * store's next changelog offset, so a restoration that is interrupted (a
 * rebalance, a stop) resumes where it stopped.
 *
 * The app's restore listener (brook_app_set_restore_listener()) hears of
 * each store's restoration: its start once planned, each step's batch once
 * written, its end once the task is ready, or its suspension when the task
 * closes first.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_int.h"

/* How long one step may apply records before the thread polls again. */
#define BROOK__RESTORE_STEP_MS 100
/* A watermark query that takes longer is retried at the next step. */
#define BROOK__RESTORE_QUERY_MS 2000
/* brook__restore_plan() returns it when the next step should ask again. */
#define BROOK__RESTORE_RETRY BROOK_ERR_TIMED_OUT

/* How long a plan waits for a changelog's last stable offset to reach the
 * store's (see brook__restore_plan()): transaction.timeout.ms (10 s under
 * exactly_once_v2), the broker's scan for timed-out transactions (every
 * 10 s by default), and room to spare. */
#define BROOK__RESTORE_LSO_WAIT_MS 60000

struct brook__rstore {
        brook__store_t *st;
        rd_kafka_topic_t *rkt; /**< Learnt from the first message. */
        bool planned;          /**< start/end are known. */
        int64_t start, end;    /**< [start, end) to read. */
        int64_t next;          /**< Next offset to apply. */
        size_t unflushed;      /**< Applied since the last write. */
        bool done;
        bool local;           /**< start is the store's stored offset. */
        int64_t applied;      /**< Records applied since the plan. */
        int64_t last_applied; /**< The offset of the last one. */
        /** When the plan first found the store past the changelog's last
         *  stable offset (exactly_once_v2), 0 if not. */
        int64_t past_lso_since;
};

typedef enum {
        BROOK__RESTORE_START,
        BROOK__RESTORE_BATCH,
        BROOK__RESTORE_END,
        BROOK__RESTORE_SUSPEND,
} brook__restore_event_t;

/* Tells the app's restore listener, if any, of @p ev of @p rs (planned):
 * @p records for a batch (its records) or an end or suspension (all). */
static void brook__restore_tell(brook__thread_t *thr,
                                const struct brook__rstore *rs,
                                brook__restore_event_t ev, int64_t records)
{
        const brook_restore_listener_t *l = &thr->app->restore_listener;
        brook_restore_info_t ri = {.task_id = rs->st->task->id,
                                   .store = rs->st->def->name,
                                   .changelog = rs->st->changelog,
                                   .partition = rs->st->task->partition,
                                   .start_offset = rs->start,
                                   .end_offset = rs->end,
                                   .local_state = rs->local};
        switch (ev) {
        case BROOK__RESTORE_START:
                if (l->on_start)
                        l->on_start(&ri, l->opaque);
                break;
        case BROOK__RESTORE_BATCH:
                if (l->on_batch)
                        l->on_batch(&ri, rs->last_applied, records, l->opaque);
                break;
        case BROOK__RESTORE_END:
                if (l->on_end)
                        l->on_end(&ri, records, l->opaque);
                break;
        case BROOK__RESTORE_SUSPEND:
                if (l->on_suspend)
                        l->on_suspend(&ri, records, l->opaque);
                break;
        }
}

/* Decides where @p rs starts reading; clears the store if its offset does
 * not fit the changelog. Returns BROOK__RESTORE_RETRY when the changelog's
 * offsets cannot be read yet (no leader, broker unreachable): the next
 * step asks again. */
static brook_err_t brook__restore_plan(brook__thread_t *thr,
                                       struct brook__rstore *rs, char *errstr,
                                       size_t errstr_size)
{
        brook__store_t *st = rs->st;
        int64_t lo, hi, stored = -1;
        rd_kafka_resp_err_t kerr;
        char why[512] = "";
        brook_err_t err;

        if (st->ops->persistent && st->ops->stored_offset)
                stored = st->ops->stored_offset(st->inner);
        kerr = rd_kafka_query_watermark_offsets(thr->restorer, st->changelog,
                                                st->task->partition, &lo, &hi,
                                                BROOK__RESTORE_QUERY_MS);
        if (kerr) {
                brook__seterr(errstr, errstr_size,
                              "task %s: cannot read the offsets of changelog "
                              "\"%s\" partition %" PRId32 ": %s",
                              st->task->id, st->changelog, st->task->partition,
                              rd_kafka_err2str(kerr));
                /* A changelog created moments ago may have no leader yet,
                 * and a broker may be briefly away: both pass. */
                return BROOK__RESTORE_RETRY;
        }
        /* A join store records the offset before the records it held in
         * memory only (wmirror.c), within ten minutes of the commit; its
         * store below is sound whatever the changelog lost before lo. */
        if (stored >= 0 && stored < lo && stored <= hi &&
            st->def->join_buffer && st->def->logging) {
                brook__log("WARN",
                           "task %s: store \"%s\" is at changelog offset "
                           "%" PRId64 ", before the changelog's start %" PRId64
                           ": the records it held in memory from there to "
                           "the start are gone; restoring from the start",
                           st->task->id, st->def->name, stored, lo);
                stored = lo;
        }
        /* Under exactly_once_v2 the end read here is the last stable
         * offset: a transaction left open on the changelog (by an
         * instance killed or stopped mid-transaction, a zombie) holds it
         * back until the transaction ends, aborted by its coordinator
         * after transaction.timeout.ms at the latest. A store whose own
         * committed transactions went past it is sound: its end catches
         * up. So wait for it, a bounded time, before taking the store for
         * ahead of its changelog (a changelog recreated, say). */
        if (stored > hi && stored >= lo && thr->eos) {
                int64_t now = brook__now_mono_ms();
                if (!rs->past_lso_since)
                        rs->past_lso_since = now;
                if (now - rs->past_lso_since < BROOK__RESTORE_LSO_WAIT_MS) {
                        brook__seterr(errstr, errstr_size,
                                      "task %s: store \"%s\" is at changelog "
                                      "offset %" PRId64 ", past the "
                                      "changelog's last stable offset %" PRId64
                                      ": waiting for an open transaction to "
                                      "end",
                                      st->task->id, st->def->name, stored, hi);
                        return BROOK__RESTORE_RETRY;
                }
        }
        if (stored >= 0 && (stored > hi || stored < lo)) {
                brook__log("WARN",
                           "task %s: store \"%s\" is at changelog offset "
                           "%" PRId64 ", outside the changelog's [%" PRId64
                           ", %" PRId64 "]: restoring it from scratch",
                           st->task->id, st->def->name, stored, lo, hi);
                stored = -1;
        }
        if (stored < 0 && st->ops->clear &&
            (err = st->ops->clear(st->inner, why, sizeof why))) {
                brook__seterr(errstr, errstr_size,
                              "task %s: store \"%s\" could not be cleared "
                              "for restoration: %s",
                              st->task->id, st->def->name,
                              *why ? why : "no reason given");
                return err;
        }
        rs->start = rs->next = stored < 0 ? lo : stored;
        rs->end = hi;
        rs->local = stored >= 0;
        rs->planned = true;
        rs->done = rs->start >= rs->end;
        brook__restore_tell(thr, rs, BROOK__RESTORE_START, 0);
        return BROOK_OK;
}

static struct brook__rstore *brook__restore_find(brook__thread_t *thr,
                                                 const rd_kafka_message_t *rkm)
{
        size_t i;
        const char *name = NULL;
        for (i = 0; i < thr->rstore_cnt; i++) {
                struct brook__rstore *rs = &thr->rstores[i];
                if (rs->st->task->partition != rkm->partition)
                        continue;
                if (rs->rkt == rkm->rkt)
                        return rs;
                if (!rs->rkt) {
                        if (!name)
                                name = rd_kafka_topic_name(rkm->rkt);
                        if (!strcmp(name, rs->st->changelog)) {
                                rs->rkt = rkm->rkt;
                                return rs;
                        }
                }
        }
        return NULL;
}

/* One line on a terminal, rewritten in place. */
static void brook__restore_progress(brook__thread_t *thr, bool last)
{
        int64_t done = thr->restore_done, total = thr->restore_total;
        double secs =
                (double)(brook__now_mono_ms() - thr->restore_started) / 1000.0;
        double rate = secs > 0 ? (double)done / secs : 0;
        double eta = rate > 0 ? (double)(total - done) / rate : 0;
        size_t stores = thr->rstore_cnt;
        fprintf(stderr,
                "\rrestoring %zu store%s: %" PRId64 " / %" PRId64
                " records, %.0f records/s, ETA %.1f s   %s",
                stores, stores == 1 ? "" : "s", done, total, rate, eta,
                last ? "\n" : "");
        fflush(stderr);
}

bool brook__thread_restore_add(brook__thread_t *thr, brook__task_t *task)
{
        size_t j, queued = 0;
        for (j = 0; j < task->stores.cnt; j++) {
                brook__store_t *st = task->stores.v[j];
                struct brook__rstore *rs;
                if (!st->changelog) {
                        atomic_store(&st->state, BROOK__STORE_ACTIVE);
                        continue;
                }
                if (thr->rstore_cnt == thr->rstore_cap) {
                        thr->rstore_cap =
                                thr->rstore_cap ? thr->rstore_cap * 2 : 16;
                        thr->rstores = brook__xrealloc(
                                thr->rstores,
                                thr->rstore_cap * sizeof *thr->rstores);
                }
                rs = &thr->rstores[thr->rstore_cnt++];
                memset(rs, 0, sizeof *rs);
                rs->st = st;
                queued++;
        }
        if (!queued)
                return false;
        task->restoring = true;
        if (!thr->restore_started) {
                thr->restore_started = brook__now_mono_ms();
                thr->restore_progress = thr->restore_started;
                thr->restore_done = thr->restore_total = 0;
        }
        atomic_fetch_add(&thr->tasks_restoring, 1);
        atomic_store(&thr->stat_stores_restoring, (long long)thr->rstore_cnt);
        return true;
}

/* Removes entry @p i (the order of the others does not matter). */
static void brook__restore_remove(brook__thread_t *thr, size_t i)
{
        struct brook__rstore *rs = &thr->rstores[i];
        if (rs->planned && !rs->done)
                thr->restore_total -= rs->end - rs->next;
        thr->rstores[i] = thr->rstores[--thr->rstore_cnt];
        thr->restorer_dirty = true;
}

void brook__thread_restore_drop(brook__thread_t *thr, brook__task_t *task)
{
        size_t i;
        if (!task->restoring)
                return;
        /* Each step wrote what it applied, with the offsets: nothing of
         * this task is pending in the batch. */
        for (i = thr->rstore_cnt; i-- > 0;) {
                struct brook__rstore *rs = &thr->rstores[i];
                if (rs->st->task != task)
                        continue;
                if (rs->planned)
                        brook__restore_tell(thr, rs, BROOK__RESTORE_SUSPEND,
                                            rs->applied);
                brook__restore_remove(thr, i);
        }
        task->restoring = false;
        atomic_fetch_sub(&thr->tasks_restoring, 1);
        atomic_store(&thr->stat_stores_restoring, (long long)thr->rstore_cnt);
        atomic_store(&thr->stat_restore_remaining,
                     thr->restore_total - thr->restore_done);
        if (!thr->rstore_cnt)
                thr->restore_started = thr->restore_total = thr->restore_done =
                        0;
}

/* Assigns the restore consumer every planned store still to read, from
 * its next offset. */
static brook_err_t brook__restore_reassign(brook__thread_t *thr, char *errstr,
                                           size_t errstr_size)
{
        rd_kafka_topic_partition_list_t *parts =
                rd_kafka_topic_partition_list_new((int)thr->rstore_cnt + 1);
        rd_kafka_resp_err_t kerr;
        size_t i;
        for (i = 0; i < thr->rstore_cnt; i++) {
                struct brook__rstore *rs = &thr->rstores[i];
                if (!rs->planned || rs->done)
                        continue;
                rd_kafka_topic_partition_list_add(parts, rs->st->changelog,
                                                  rs->st->task->partition)
                        ->offset = rs->next;
        }
        /* A restorer that kept partitions it no longer needs would fetch
         * them for nothing. */
        kerr = rd_kafka_assign(thr->restorer, parts->cnt ? parts : NULL);
        rd_kafka_topic_partition_list_destroy(parts);
        if (kerr) {
                brook__seterr(errstr, errstr_size,
                              "restore consumer: assign failed: %s",
                              rd_kafka_err2str(kerr));
                return BROOK_ERR_KAFKA;
        }
        thr->restorer_dirty = false;
        return BROOK_OK;
}

/* Writes what the step applied: each store's next offset with its data,
 * in one write. Active tasks' uncommitted writes stay in the batch. */
static brook_err_t brook__restore_write(brook__thread_t *thr, char *errstr,
                                        size_t errstr_size)
{
        size_t i;
        bool any = false;
        brook_err_t err;
        for (i = 0; i < thr->rstore_cnt; i++) {
                struct brook__rstore *rs = &thr->rstores[i];
                char why[512] = "";
                if (!rs->unflushed && !(rs->done && rs->next != rs->start))
                        continue;
                if ((err = rs->st->ops->flush(rs->st->inner, rs->next, why,
                                              sizeof why))) {
                        brook__seterr(errstr, errstr_size,
                                      "task %s: store \"%s\" failed to record "
                                      "restored offset %" PRId64 ": %s",
                                      rs->st->task->id, rs->st->def->name,
                                      rs->next, *why ? why : "no reason given");
                        return err;
                }
                any = true;
        }
        if (any && (err = brook__statebatch_write_bulk(thr->env.batch, errstr,
                                                       errstr_size)))
                return err;
        /* Written: the listener may count it as restored. */
        for (i = 0; i < thr->rstore_cnt; i++) {
                struct brook__rstore *rs = &thr->rstores[i];
                if (!rs->unflushed)
                        continue;
                brook__restore_tell(thr, rs, BROOK__RESTORE_BATCH,
                                    (int64_t)rs->unflushed);
                rs->unflushed = 0;
        }
        return BROOK_OK;
}

/* Applies one message of the restore consumer. */
static brook_err_t brook__restore_apply(brook__thread_t *thr,
                                        rd_kafka_message_t *rkm, char *errstr,
                                        size_t errstr_size)
{
        struct brook__rstore *rs = brook__restore_find(thr, rkm);
        brook_err_t err;

        /* Messages of an earlier assignment, or already applied. */
        if (!rs || !rs->planned || rs->done)
                return BROOK_OK;
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                /* At the end even if the last offsets were compacted away
                 * or are transaction markers. */
                if (rkm->offset >= rs->end) {
                        thr->restore_done += rs->end - rs->next;
                        rs->next = rs->end;
                        rs->done = true;
                }
                return BROOK_OK;
        }
        if (rkm->err) {
                brook__seterr(errstr, errstr_size,
                              "restoring store \"%s\" from \"%s\" failed: %s",
                              rs->st->def->name, rs->st->changelog,
                              rd_kafka_message_errstr(rkm));
                return BROOK_ERR_KAFKA;
        }
        if (rkm->offset < rs->next)
                return BROOK_OK;
        if (rkm->offset < rs->end) {
                if ((err = brook__store_restore_put(
                             rs->st, rkm->key, rkm->key_len, rkm->payload,
                             rkm->len,
                             rd_kafka_message_timestamp(rkm, NULL)))) {
                        brook__seterr(errstr, errstr_size,
                                      "restoring store \"%s\" failed at "
                                      "changelog offset %" PRId64 ": %s",
                                      rs->st->def->name, rkm->offset,
                                      rs->st->errbuf);
                        return err;
                }
                rs->unflushed++;
                rs->applied++;
                rs->last_applied = rkm->offset;
                thr->restore_done++;
                atomic_fetch_add(&thr->stat_restored, 1);
        }
        /* Gaps (compaction) count as read. */
        if (rkm->offset + 1 > rs->next) {
                thr->restore_done += rkm->offset - rs->next;
                rs->next = rkm->offset + 1;
        }
        if (rs->next >= rs->end)
                rs->done = true;
        return BROOK_OK;
}

/* Moves the tasks whose stores are all restored to @p ready. */
static void brook__restore_collect(brook__thread_t *thr, brook__ptrvec_t *ready)
{
        size_t i, j;
        for (i = 0; i < thr->tasks.cnt; i++) {
                brook__task_t *task = thr->tasks.v[i];
                bool all = true;
                if (!task->restoring)
                        continue;
                for (j = 0; j < thr->rstore_cnt && all; j++)
                        if (thr->rstores[j].st->task == task &&
                            !thr->rstores[j].done)
                                all = false;
                if (!all)
                        continue;
                for (j = thr->rstore_cnt; j-- > 0;) {
                        struct brook__rstore *rs = &thr->rstores[j];
                        if (rs->st->task != task)
                                continue;
                        /* New changelog records follow what was
                         * restored. */
                        *rs->st->changelog_end = rs->end;
                        atomic_store(&rs->st->state, BROOK__STORE_ACTIVE);
                        brook__restore_tell(thr, rs, BROOK__RESTORE_END,
                                            rs->applied);
                        brook__restore_remove(thr, j);
                }
                task->restoring = false;
                atomic_fetch_sub(&thr->tasks_restoring, 1);
                brook__ptrvec_push(ready, task);
        }
}

brook_err_t brook__thread_restore_step(brook__thread_t *thr, int wait_ms,
                                       brook__ptrvec_t *ready, char *errstr,
                                       size_t errstr_size)
{
        rd_kafka_message_t *batch[1024];
        int64_t now = brook__now_mono_ms(), step_end;
        int64_t task_timeout =
                brook__conf_int(thr->app->conf, "task.timeout.ms");
        bool tty = isatty(STDERR_FILENO);
        brook_err_t err = BROOK_OK;
        size_t i, pending = 0;
        char why[512] = "";

        /* Nothing (left) to restore: the restore consumer goes. */
        if (!thr->rstore_cnt) {
                brook__thr_restorer_close(thr);
                return BROOK_OK;
        }
        if ((err = brook__thr_restorer_open(thr, errstr, errstr_size)))
                return err;

        /* A plan asks the broker for its changelog's offsets, up to
         * BROOK__RESTORE_QUERY_MS when no answer comes (the broker away).
         * So a step starts no plan once that long has passed (it plans for
         * under twice that), and the next step starts after the store it
         * stopped at: with every store unanswered, a round of the
         * thread's loop would otherwise wait that long for each store of
         * each restoring task, its consumer unpolled. */
        for (size_t k = 0, n = thr->rstore_cnt; k < n; k++) {
                size_t idx = (thr->plan_next + k) % n;
                struct brook__rstore *rs = &thr->rstores[idx];
                if (rs->planned)
                        continue;
                if (brook__now_mono_ms() - now >= BROOK__RESTORE_QUERY_MS) {
                        thr->plan_next = idx;
                        break;
                }
                err = brook__restore_plan(thr, rs, why, sizeof why);
                if (err == BROOK__RESTORE_RETRY) {
                        err = BROOK_OK;
                        /* Planned later; a stall is caught below. */
                        snprintf(thr->restore_why, sizeof thr->restore_why,
                                 "%s", why);
                        thr->plan_next = (idx + 1) % n;
                        continue;
                }
                if (err) {
                        brook__seterr(errstr, errstr_size, "%s", why);
                        return err;
                }
                thr->restore_total += rs->end - rs->start;
                thr->restore_progress = now;
                thr->restorer_dirty = true;
        }
        for (i = 0; i < thr->rstore_cnt; i++)
                if (thr->rstores[i].planned && !thr->rstores[i].done)
                        pending++;
        if (thr->restorer_dirty &&
            (err = brook__restore_reassign(thr, errstr, errstr_size)))
                return err;

        /* Restored writes need no index: nothing reads them before the
         * step writes them. */
        brook__statebatch_set_bulk(thr->env.batch, true);
        step_end = now + BROOK__RESTORE_STEP_MS;
        while (pending) {
                ssize_t got = rd_kafka_consume_batch_queue(
                        thr->restore_q, wait_ms, batch,
                        sizeof batch / sizeof *batch);
                for (i = 0; got > 0 && i < (size_t)got; i++) {
                        if (!err)
                                err = brook__restore_apply(thr, batch[i],
                                                           errstr, errstr_size);
                        rd_kafka_message_destroy(batch[i]);
                }
                if (err || got <= 0)
                        break;
                thr->restore_progress = brook__now_mono_ms();
                wait_ms = 0;
                if (thr->restore_progress >= step_end)
                        break;
        }
        if (!err)
                err = brook__restore_write(thr, errstr, errstr_size);
        brook__statebatch_set_bulk(thr->env.batch, false);
        if (err)
                return err;

        now = brook__now_mono_ms();
        atomic_store(&thr->stat_restore_remaining,
                     thr->restore_total - thr->restore_done);
        if (tty && thr->restore_total > 0 && now - thr->restore_print >= 500) {
                brook__restore_progress(thr, false);
                thr->restore_print = now;
        }
        brook__restore_collect(thr, ready);
        atomic_store(&thr->stat_stores_restoring, (long long)thr->rstore_cnt);
        if (!thr->rstore_cnt) {
                if (thr->restore_started && thr->restore_total > 0) {
                        if (tty)
                                brook__restore_progress(thr, true);
                        brook__log("INFO",
                                   "thread %d: restored %" PRId64
                                   " changelog records in %.1f s",
                                   thr->idx, thr->restore_done,
                                   (double)(now - thr->restore_started) /
                                           1000.0);
                }
                thr->restore_started = 0;
                atomic_store(&thr->stat_restore_remaining, 0);
                brook__thr_restorer_close(thr);
                return BROOK_OK;
        }
        if (now - thr->restore_progress > task_timeout) {
                brook__seterr(errstr, errstr_size,
                              "restoration made no progress for %" PRId64
                              " ms (task.timeout.ms; %zu changelog "
                              "partitions left)%s%s",
                              task_timeout, thr->rstore_cnt,
                              *thr->restore_why ? ": " : "", thr->restore_why);
                return BROOK_ERR_TIMED_OUT;
        }
        return BROOK_OK;
}
