/*
 * brook — restoration: bringing a task's stores up to their changelog's
 * end before the task processes anything (Kafka Streams' StoreChangelogReader).
 *
 * Each persistent store recorded, with its data, the changelog offset the
 * data matches; only the changelog after it is read. A store without a
 * usable offset (in memory, new, wiped, or an offset the changelog no
 * longer has) starts empty and reads the whole changelog.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_int.h"

/* Changelog records applied between two writes of the batch. */
#define BROOK__RESTORE_BATCH 20000
/* Restoration that makes no progress this long has failed. */
#define BROOK__RESTORE_STALL_MS 120000

typedef struct brook__rstore {
        brook_kvstore_t *st;
        rd_kafka_topic_t *rkt; /**< Learnt from the first message. */
        int64_t start, end;    /**< [start, end) to read. */
        int64_t next;          /**< Next offset to apply. */
        size_t unflushed;      /**< Applied since the last batch write. */
        bool done;
} brook__rstore_t;

/* Records next as the store's offset and writes the batch. */
static brook_err_t brook__restore_flush(brook__thread_t *thr,
                                        brook__rstore_t *rs, char *errstr,
                                        size_t errstr_size)
{
        char why[512] = "";
        brook_err_t err;
        if ((err = rs->st->ops->flush(rs->st->inner, rs->next, why,
                                      sizeof why))) {
                brook__seterr(errstr, errstr_size,
                              "task %s: store \"%s\" failed to record "
                              "restored offset %" PRId64 ": %s",
                              rs->st->task->id, rs->st->def->name, rs->next,
                              *why ? why : "no reason given");
                return err;
        }
        rs->unflushed = 0;
        return brook__statebatch_write(thr->env.batch, errstr, errstr_size);
}

/* Decides where @p rs starts reading; clears the store if its offset does
 * not fit the changelog. */
static brook_err_t brook__restore_plan(brook__thread_t *thr,
                                       brook__rstore_t *rs, char *errstr,
                                       size_t errstr_size)
{
        brook_kvstore_t *st = rs->st;
        int64_t lo, hi, stored = -1;
        rd_kafka_resp_err_t kerr;
        char why[512] = "";
        brook_err_t err;
        int tries;

        if (st->ops->persistent && st->ops->stored_offset)
                stored = st->ops->stored_offset(st->inner);
        /* A changelog brook created moments ago may not have a leader in
         * the metadata yet (NOT_LEADER, LEADER_NOT_AVAILABLE): that passes
         * within seconds, so ask again, for up to 30 s, before failing. */
        for (tries = 0;; tries++) {
                kerr = rd_kafka_query_watermark_offsets(
                        thr->restorer, st->changelog, st->task->partition, &lo,
                        &hi, 30000);
                if ((kerr != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION &&
                     kerr != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
                     kerr != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) ||
                    tries >= 300)
                        break;
                usleep(100 * 1000);
        }
        if (kerr) {
                brook__seterr(errstr, errstr_size,
                              "task %s: cannot read the offsets of changelog "
                              "\"%s\" partition %" PRId32 ": %s",
                              st->task->id, st->changelog, st->task->partition,
                              rd_kafka_err2str(kerr));
                return BROOK_ERR_KAFKA;
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
        rs->done = rs->start >= rs->end;
        return BROOK_OK;
}

static brook__rstore_t *brook__restore_find(brook__rstore_t *rss, size_t cnt,
                                            const rd_kafka_message_t *rkm)
{
        size_t i;
        const char *name = NULL;
        for (i = 0; i < cnt; i++) {
                brook__rstore_t *rs = &rss[i];
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
static void brook__restore_progress(int64_t done, int64_t total, size_t stores,
                                    int64_t started, bool last)
{
        double secs = (double)(brook__now_mono_ms() - started) / 1000.0;
        double rate = secs > 0 ? (double)done / secs : 0;
        double eta = rate > 0 ? (double)(total - done) / rate : 0;
        fprintf(stderr,
                "\rrestoring %zu store%s: %" PRId64 " / %" PRId64
                " records, %.0f records/s, ETA %.1f s   %s",
                stores, stores == 1 ? "" : "s", done, total, rate, eta,
                last ? "\n" : "");
        fflush(stderr);
}

brook_err_t brook__thread_restore(brook__thread_t *thr, brook__ptrvec_t *tasks,
                                  char *errstr, size_t errstr_size)
{
        brook__rstore_t *rss = NULL;
        size_t cnt = 0, cap = 0, i, j, pending = 0;
        rd_kafka_topic_partition_list_t *parts = NULL;
        rd_kafka_queue_t *q = NULL;
        rd_kafka_message_t *batch[1024];
        int64_t total = 0, done = 0, started = brook__now_mono_ms();
        int64_t last_progress = started, last_print = 0;
        bool tty = isatty(STDERR_FILENO);
        int64_t restored_before = atomic_load(&thr->stat_restored);
        brook_err_t err = BROOK_OK;

        for (i = 0; i < tasks->cnt; i++) {
                brook__task_t *task = tasks->v[i];
                for (j = 0; j < task->stores.cnt; j++) {
                        brook_kvstore_t *st = task->stores.v[j];
                        if (!st->changelog) {
                                atomic_store(&st->state, BROOK__STORE_ACTIVE);
                                continue;
                        }
                        if (cnt == cap) {
                                cap = cap ? cap * 2 : 16;
                                rss = brook__xrealloc(rss, cap * sizeof *rss);
                        }
                        memset(&rss[cnt], 0, sizeof rss[cnt]);
                        rss[cnt].st = st;
                        if ((err = brook__restore_plan(thr, &rss[cnt], errstr,
                                                       errstr_size)))
                                goto out;
                        total += rss[cnt].end - rss[cnt].start;
                        cnt++;
                }
        }
        parts = rd_kafka_topic_partition_list_new((int)cnt + 1);
        for (i = 0; i < cnt; i++) {
                if (rss[i].done)
                        continue;
                rd_kafka_topic_partition_list_add(parts, rss[i].st->changelog,
                                                  rss[i].st->task->partition)
                        ->offset = rss[i].start;
                pending++;
        }
        /* Restored writes need no index: nothing reads them before the
         * batch is written. */
        brook__statebatch_set_bulk(thr->env.batch, true);
        atomic_store(&thr->stat_restore_remaining, total);
        atomic_store(&thr->stat_stores_restoring, (long long)pending);
        if (pending) {
                rd_kafka_resp_err_t kerr =
                        rd_kafka_assign(thr->restorer, parts);
                if (kerr) {
                        brook__seterr(errstr, errstr_size,
                                      "restore consumer: assign failed: %s",
                                      rd_kafka_err2str(kerr));
                        err = BROOK_ERR_KAFKA;
                        goto out;
                }
                q = rd_kafka_queue_get_consumer(thr->restorer);
        }
        while (pending) {
                ssize_t got = rd_kafka_consume_batch_queue(
                        q, 200, batch, sizeof batch / sizeof *batch);
                int64_t now = brook__now_mono_ms();
                for (i = 0; got > 0 && i < (size_t)got; i++) {
                        rd_kafka_message_t *rkm = batch[i];
                        brook__rstore_t *rs =
                                brook__restore_find(rss, cnt, rkm);
                        if (!rs || rs->done) {
                                rd_kafka_message_destroy(rkm);
                                continue;
                        }
                        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                                /* At the end even if the last offsets were
                                 * compacted or are transaction markers. */
                                rs->next = rs->end;
                        } else if (rkm->err) {
                                brook__seterr(errstr, errstr_size,
                                              "restoring store \"%s\" from "
                                              "\"%s\" failed: %s",
                                              rs->st->def->name,
                                              rs->st->changelog,
                                              rd_kafka_message_errstr(rkm));
                                rd_kafka_message_destroy(rkm);
                                err = BROOK_ERR_KAFKA;
                                break;
                        } else if (rkm->offset < rs->end) {
                                if ((err = brook__kvstore_restore_put(
                                             rs->st, rkm->key, rkm->key_len,
                                             rkm->payload, rkm->len))) {
                                        brook__seterr(
                                                errstr, errstr_size,
                                                "restoring store \"%s\" "
                                                "failed at changelog offset "
                                                "%" PRId64 ": %s",
                                                rs->st->def->name, rkm->offset,
                                                rs->st->errbuf);
                                        rd_kafka_message_destroy(rkm);
                                        break;
                                }
                                rs->next = rkm->offset + 1;
                                rs->unflushed++;
                                done++;
                        }
                        rd_kafka_message_destroy(rkm);
                        if (rs->next >= rs->end ||
                            rs->unflushed >= BROOK__RESTORE_BATCH) {
                                if ((err = brook__restore_flush(thr, rs, errstr,
                                                                errstr_size)))
                                        break;
                        }
                        if (rs->next >= rs->end) {
                                rs->done = true;
                                pending--;
                                atomic_fetch_sub(&thr->stat_stores_restoring,
                                                 1);
                        }
                        last_progress = now;
                }
                /* An error stops the batch at message i, which is gone;
                 * the messages after it are still ours to destroy. */
                if (err) {
                        for (i++; i < (size_t)got; i++)
                                rd_kafka_message_destroy(batch[i]);
                        goto out;
                }
                /* Published once per batch, not per record. */
                atomic_store(&thr->stat_restored, restored_before + done);
                atomic_store(&thr->stat_restore_remaining, total - done);
                if (tty && now - last_print >= 500) {
                        brook__restore_progress(done, total, cnt, started,
                                                false);
                        last_print = now;
                }
                if (atomic_load(&thr->app->stopping)) {
                        brook__seterr(errstr, errstr_size,
                                      "restoration interrupted: the app is "
                                      "stopping");
                        err = BROOK_ERR_STATE;
                        goto out;
                }
                if (now - last_progress > BROOK__RESTORE_STALL_MS) {
                        brook__seterr(errstr, errstr_size,
                                      "restoration made no progress for %d "
                                      "s (%zu changelog partitions left)",
                                      BROOK__RESTORE_STALL_MS / 1000, pending);
                        err = BROOK_ERR_TIMED_OUT;
                        goto out;
                }
        }
        if (tty && total > 0)
                brook__restore_progress(done, total, cnt, started, true);
        if (total > 0)
                brook__log("INFO",
                           "thread %d: restored %" PRId64
                           " changelog records into %zu stores in %.1f s",
                           thr->idx, done, cnt,
                           (double)(brook__now_mono_ms() - started) / 1000.0);
        for (i = 0; i < cnt; i++) {
                /* New changelog records follow what was restored. */
                *rss[i].st->changelog_end = rss[i].end;
                atomic_store(&rss[i].st->state, BROOK__STORE_ACTIVE);
        }
out:
        atomic_store(&thr->stat_restored, restored_before + done);
        brook__statebatch_set_bulk(thr->env.batch, false);
        if (q)
                rd_kafka_queue_destroy(q);
        if (parts) {
                rd_kafka_resp_err_t kerr = RD_KAFKA_RESP_ERR_NO_ERROR;
                if (parts->cnt)
                        kerr = rd_kafka_assign(thr->restorer, NULL);
                /* A restorer that still holds its partitions would fetch
                 * them for nothing and confuse the next restoration. */
                if (kerr && !err) {
                        brook__seterr(errstr, errstr_size,
                                      "restore consumer: unassign failed: %s",
                                      rd_kafka_err2str(kerr));
                        err = BROOK_ERR_KAFKA;
                }
                rd_kafka_topic_partition_list_destroy(parts);
        }
        atomic_store(&thr->stat_restore_remaining, 0);
        atomic_store(&thr->stat_stores_restoring, 0);
        free(rss);
        return err;
}
