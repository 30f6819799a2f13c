/*
 * brook — global tables at run time (Kafka Streams' GlobalStreamThread and
 * GlobalStateManager).
 *
 * Each global table is a sub-topology of its own (a source and its table
 * source processor, with the store) that no stream thread makes tasks of.
 * The app runs one task of each, "global", fed by a consumer outside the
 * group that reads every partition of their topics. brook_app_start()
 * brings the stores up to date before any stream thread starts; a thread
 * then keeps them so while the app runs. Stream threads read the stores
 * through the thread-safe query_get (brook__ctx_global_get()), which sees
 * what the global thread wrote down: it writes its batch after each poll.
 *
 * Where each partition was read up to is stored in "brook-offsets" under
 * "global/<store>@<partition>", in the same RocksDB write as the data, so
 * a restart resumes where the data is (Kafka Streams keeps a checkpoint
 * file written after a flush, and replays from there). A store that is
 * not brook's RocksDB one keeps no offsets: it is emptied and read from
 * the topic's start at every start. A stored offset the topic no longer
 * has (deleted by retention, or the topic was made again) empties the
 * store too, as Kafka Streams wipes a global store on
 * OffsetOutOfRangeException.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_int.h"
#include "store_int.h"

/* One partition of a global topic. */
typedef struct brook__gpart {
        char *topic;
        int32_t partition;
        brook__task_t *task; /**< The task of the topic's global table. */
        brook__pqueue_t *q;
        /** Offset of the next record to read, and the one stored with the
         *  data (-1: from the start). */
        int64_t next, stored;
        /** The partition's end when the app started (its high watermark):
         *  restoration reads up to it (or to where the consumer says the
         *  end is: the last stable offset under read_committed). */
        int64_t target;
        bool eof; /**< At the end, and nothing read since. */
        /** Restoration, for the restore listener: its first offset,
         *  whether the store had state for it, records applied and those
         *  the listener was told of. */
        int64_t first;
        bool local;
        int64_t restored, told;
        char *off_name; /**< Its name in "brook-offsets", or NULL. */
} brook__gpart_t;

struct brook__global {
        brook__collector_t collector; /* First: the collector is the global. */
        brook_app_t *app;
        brook__runtime_t rt;
        brook__stateenv_t env;
        brook__ptrvec_t tasks; /**< brook__task_t *, one per global table. */
        brook__gpart_t *parts;
        size_t part_cnt;
        rd_kafka_t *consumer;
        /** Dead-letter records (deserialization.exception.handler
         *  dead_letter), made on first use. */
        rd_kafka_t *producer;
        atomic_int dlq_failed; /**< Dead-letter deliveries that failed. */
        char dlq_error[512];
        pthread_t tid;
        bool tid_valid;
        bool dirty;  /**< Records applied since the last write. */
        bool failed; /**< A record failed: nothing more is written. */
        /** Counters for brook_app_stats(): records read while restoring
         *  (as each is applied), dead-lettered (at each write) and
         *  dropped, by reason (as brook__drop() counts them). */
        atomic_llong stat_restored, stat_dlq;
        atomic_llong stat_drops[BROOK__DROP_CNT];
        bool restoring;
};

/* ------------------------------------------------------------ collector */

static void brook__global_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                                void *opaque)
{
        brook__global_t *g = opaque;
        (void)rk;
        if (!rkm->err)
                return;
        if (atomic_fetch_add(&g->dlq_failed, 1) == 0)
                snprintf(g->dlq_error, sizeof g->dlq_error,
                         "dead-letter record to \"%s\" not delivered: %s",
                         rd_kafka_topic_name(rkm->rkt),
                         rd_kafka_err2str(rkm->err));
}

/* The global task sends only dead-letter records. */
static brook_err_t
brook__global_send(brook__collector_t *col, const char *topic,
                   int32_t partition, const void *key, size_t key_size,
                   const void *value, size_t value_size, int64_t timestamp,
                   rd_kafka_headers_t *hdrs, char *errstr, size_t errstr_size)
{
        brook__global_t *g = (brook__global_t *)col;
        rd_kafka_resp_err_t kerr;
        char why[512];

        if (!g->producer) {
                rd_kafka_conf_t *pc = brook__client_conf(g->app, "producer",
                                                         "global-producer", -1,
                                                         errstr, errstr_size);
                if (!pc) {
                        rd_kafka_headers_destroy(hdrs);
                        return BROOK_ERR_KAFKA;
                }
                rd_kafka_conf_set_dr_msg_cb(pc, brook__global_dr_cb);
                rd_kafka_conf_set_opaque(pc, g);
                if (!(g->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, why,
                                                 sizeof why))) {
                        rd_kafka_conf_destroy(pc);
                        rd_kafka_headers_destroy(hdrs);
                        brook__seterr(errstr, errstr_size,
                                      "global thread: producer: %s", why);
                        return BROOK_ERR_KAFKA;
                }
        }
        kerr = rd_kafka_producev(
                g->producer, RD_KAFKA_V_TOPIC(topic),
                RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA
                                                   : partition),
                RD_KAFKA_V_KEY(key, key_size),
                RD_KAFKA_V_VALUE((void *)value, value_size),
                RD_KAFKA_V_TIMESTAMP(timestamp < 0 ? 0 : timestamp),
                RD_KAFKA_V_HEADERS(hdrs),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (kerr) {
                rd_kafka_headers_destroy(hdrs);
                brook__seterr(errstr, errstr_size,
                              "global thread: cannot send to \"%s\": %s", topic,
                              rd_kafka_err2str(kerr));
                return BROOK_ERR_KAFKA;
        }
        return BROOK_OK;
}

static int32_t brook__global_partition_cnt(brook__collector_t *col,
                                           const char *topic)
{
        (void)col;
        (void)topic;
        return -1;
}

static brook_err_t brook__global_send_changelog(
        brook__collector_t *col, const char *topic, int32_t partition,
        const void *key, size_t key_size, const void *value, size_t value_size,
        int64_t timestamp, int64_t *endp, char *errstr, size_t errstr_size)
{
        (void)col;
        (void)partition;
        (void)key;
        (void)key_size;
        (void)value;
        (void)value_size;
        (void)timestamp;
        (void)endp;
        /* Global stores have no changelog: never called. */
        brook__seterr(errstr, errstr_size,
                      "global thread: no changelog may be written (\"%s\")",
                      topic);
        return BROOK_ERR_STATE;
}

static int64_t *brook__global_changelog_slot(brook__collector_t *col,
                                             const char *topic,
                                             int32_t partition)
{
        static int64_t none = -1;
        (void)col;
        (void)topic;
        (void)partition;
        return &none;
}

static int64_t brook__global_wall_clock(brook__runtime_t *rt)
{
        (void)rt;
        return brook__now_wall_ms();
}

/* Each record is processed as it comes: nothing waits for another. */
static int64_t brook__global_fetched_lag(brook__runtime_t *rt,
                                         brook__pqueue_t *q)
{
        (void)rt;
        (void)q;
        return 0;
}

/* The test driver's and the stream threads' lookup share this. */
static brook__store_t *brook__global_find(brook__global_t *g, const char *name)
{
        size_t i, j;
        for (i = 0; g && i < g->tasks.cnt; i++) {
                brook__task_t *task = g->tasks.v[i];
                for (j = 0; j < task->stores.cnt; j++) {
                        brook__store_t *st = task->stores.v[j];
                        if (!strcmp(st->def->name, name))
                                return st;
                }
        }
        return NULL;
}

brook__store_t *brook__global_store(brook__runtime_t *rt, const char *name)
{
        brook__thread_t *thr =
                (brook__thread_t *)(void *)((char *)rt -
                                            offsetof(brook__thread_t, rt));
        return brook__global_find(thr->app->global, name);
}

/* ----------------------------------------------------------- the stores */

/* Whether @p st keeps offsets with its data: brook's RocksDB store. */
static bool brook__global_keeps_offsets(const brook__store_t *st)
{
        return st->ops->persistent && !strcmp(st->ops->kind, "rocksdb");
}

typedef enum {
        GLOBAL_TELL_START,
        GLOBAL_TELL_BATCH,
        GLOBAL_TELL_END,
        GLOBAL_TELL_SUSPEND,
} brook__gtell_t;

/* Tells the app's restore listener, if any, of @p ev of @p p's
 * restoration: the global topic is its "changelog", the task "global". */
static void brook__global_tell(brook__global_t *g, brook__gpart_t *p,
                               brook__gtell_t ev)
{
        const brook_restore_listener_t *l = &g->app->restore_listener;
        brook__store_t *st = p->task->stores.v[0];
        brook_restore_info_t ri = {
                .task_id = "global",
                .store = st->def->name,
                .changelog = p->topic,
                .partition = p->partition,
                .start_offset = p->first,
                .end_offset = p->target > p->first ? p->target : p->first,
                .local_state = p->local};
        switch (ev) {
        case GLOBAL_TELL_START:
                if (l->on_start)
                        l->on_start(&ri, l->opaque);
                break;
        case GLOBAL_TELL_BATCH:
                if (l->on_batch && p->restored > p->told)
                        l->on_batch(&ri, p->next - 1, p->restored - p->told,
                                    l->opaque);
                p->told = p->restored;
                break;
        case GLOBAL_TELL_END:
                if (l->on_end)
                        l->on_end(&ri, p->restored, l->opaque);
                break;
        case GLOBAL_TELL_SUSPEND:
                if (l->on_suspend)
                        l->on_suspend(&ri, p->restored, l->opaque);
                break;
        }
}

/* Writes what was applied, with each partition's offset, in one write. */
static brook_err_t brook__global_write(brook__global_t *g, char *errstr,
                                       size_t errstr_size)
{
        size_t i;
        brook_err_t err;

        if (!g->dirty || g->failed)
                return BROOK_OK;
        /* Dead-letter records first: a record whose offset is stored is
         * one whose dead-letter copy was delivered. */
        if (g->producer) {
                rd_kafka_resp_err_t kerr = rd_kafka_flush(g->producer, 30000);
                if (kerr || atomic_load(&g->dlq_failed)) {
                        brook__seterr(errstr, errstr_size, "global thread: %s",
                                      atomic_load(&g->dlq_failed)
                                              ? g->dlq_error
                                              : "dead-letter records not "
                                                "delivered within 30 s");
                        return BROOK_ERR_KAFKA;
                }
        }
        for (i = 0; i < g->tasks.cnt; i++) {
                brook__task_t *task = g->tasks.v[i];
                brook__store_t *st = task->stores.v[0];
                char why[512] = "";
                /* What a store makes visible or durable at a flush (a
                 * user's store may): no changelog offset. */
                if ((err = st->ops->flush(st->inner, -1, why, sizeof why))) {
                        brook__seterr(errstr, errstr_size,
                                      "global store \"%s\": flush: %s",
                                      st->def->name, why);
                        return err;
                }
        }
        for (i = 0; i < g->part_cnt; i++) {
                brook__gpart_t *p = &g->parts[i];
                if (!p->off_name || p->next == p->stored || p->next < 0)
                        continue;
                brook__statebatch_put_offset(g->env.batch, p->off_name,
                                             p->next);
        }
        if ((err = brook__statebatch_write(g->env.batch, errstr, errstr_size)))
                return err;
        for (i = 0; i < g->part_cnt; i++) {
                if (g->parts[i].next >= 0)
                        g->parts[i].stored = g->parts[i].next;
                if (g->restoring)
                        brook__global_tell(g, &g->parts[i], GLOBAL_TELL_BATCH);
        }
        g->dirty = false;
        atomic_store(&g->stat_dlq, g->rt.dead_lettered);
        return BROOK_OK;
}

void brook__global_stats(brook_app_t *app, brook_app_stats_t *stats)
{
        brook__global_t *g = app->global;
        if (!g)
                return;
        stats->records_restored += atomic_load(&g->stat_restored);
        stats->records_dropped += brook__drops_sum(g->stat_drops);
        stats->records_dead_lettered += atomic_load(&g->stat_dlq);
}

int64_t brook__global_drops(brook_app_t *app, int reason)
{
        return app->global ? atomic_load(&app->global->stat_drops[reason]) : 0;
}

static void brook__global_release(brook__inrec_t *in)
{
        rd_kafka_message_destroy(in->owner);
}

static brook__gpart_t *brook__global_part(brook__global_t *g,
                                          const rd_kafka_message_t *rkm)
{
        const char *topic;
        size_t i;
        if (!rkm->rkt)
                return NULL;
        topic = rd_kafka_topic_name(rkm->rkt);
        for (i = 0; i < g->part_cnt; i++)
                if (g->parts[i].partition == rkm->partition &&
                    !strcmp(g->parts[i].topic, topic))
                        return &g->parts[i];
        return NULL;
}

/* Applies one message of the consumer (takes it). */
static brook_err_t brook__global_apply(brook__global_t *g,
                                       rd_kafka_message_t *rkm, char *errstr,
                                       size_t errstr_size)
{
        brook__gpart_t *p = brook__global_part(g, rkm);
        brook__inrec_t in = {0};
        brook_err_t err = BROOK_OK;

        if (rkm->err) {
                if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        /* The end: what the partition holds is read (an
                         * empty one too, which then gets an offset). */
                        if (p) {
                                p->eof = true;
                                if (rkm->offset > p->next) {
                                        p->next = rkm->offset;
                                        g->dirty = true;
                                }
                        }
                } else if (rkm->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
                           rkm->err == RD_KAFKA_RESP_ERR__FATAL) {
                        /* Records the store has not read are gone (deleted
                         * by retention, say): Kafka Streams' global thread
                         * dies then, and the next start, finding the
                         * stored offset out of range, reads the topic
                         * again from its start. */
                        brook__seterr(errstr, errstr_size,
                                      "global thread: reading \"%s\" "
                                      "partition %" PRId32
                                      ": %s (restart the app: the store is "
                                      "read again from the topic's start)",
                                      rkm->rkt ? rd_kafka_topic_name(rkm->rkt)
                                               : "its topics",
                                      rkm->partition,
                                      rd_kafka_message_errstr(rkm));
                        err = BROOK_ERR_KAFKA;
                } else {
                        /* Transient (the broker away, metadata not yet
                         * there): librdkafka retries. */
                        brook__log("WARN", "%s: global thread: %s",
                                   g->app->app_id,
                                   rd_kafka_message_errstr(rkm));
                }
                rd_kafka_message_destroy(rkm);
                return err;
        }
        if (!p || rkm->offset < p->next) {
                rd_kafka_message_destroy(rkm);
                return BROOK_OK;
        }
        in.topic = p->topic;
        in.partition = rkm->partition;
        in.offset = rkm->offset;
        in.timestamp = rd_kafka_message_timestamp(rkm, NULL);
        in.key = rkm->key;
        in.key_size = rkm->key_len;
        in.value = rkm->payload;
        in.value_size = rkm->len;
        in.msg = rkm;
        in.owner = rkm;
        p->eof = false;
        if (g->restoring) {
                atomic_fetch_add(&g->stat_restored, 1);
                p->restored++;
        }
        brook__task_enqueue(p->task, p->q, &in, brook__global_release);
        while (!err && p->task->queued)
                err = brook__task_process_one(p->task, brook__global_release,
                                              errstr, errstr_size);
        if (err) {
                /* Its offset is never stored: the next start reads it
                 * again, and fails again unless the handler or the record
                 * changed. */
                g->failed = true;
                return err;
        }
        p->next = in.offset + 1;
        g->dirty = true;
        return BROOK_OK;
}

/* The watermarks of @p gp, retried for a minute (the broker may be
 * starting). */
static brook_err_t brook__global_watermarks(brook__global_t *g,
                                            const brook__gpart_t *gp,
                                            int64_t *lo, int64_t *hi,
                                            char *errstr, size_t errstr_size)
{
        int64_t began = brook__now_mono_ms();
        rd_kafka_resp_err_t kerr;

        for (;;) {
                kerr = rd_kafka_query_watermark_offsets(
                        g->consumer, gp->topic, gp->partition, lo, hi, 5000);
                if (!kerr)
                        return BROOK_OK;
                if (brook__app_should_stop(g->app) ||
                    brook__now_mono_ms() - began > 60000)
                        break;
                brook__log("WARN",
                           "%s: global thread: offsets of \"%s\" partition "
                           "%" PRId32 ": %s; trying again",
                           g->app->app_id, gp->topic, gp->partition,
                           rd_kafka_err2str(kerr));
        }
        brook__seterr(errstr, errstr_size,
                      "global thread: offsets of \"%s\" partition %" PRId32
                      ": %s",
                      gp->topic, gp->partition, rd_kafka_err2str(kerr));
        return BROOK_ERR_KAFKA;
}

/* Opens the global tasks and their stores, and plans where each partition
 * is read from. */
static brook_err_t brook__global_open(brook__global_t *g, char *errstr,
                                      size_t errstr_size)
{
        brook_app_t *app = g->app;
        size_t s, i;
        int32_t p;
        brook_err_t err;

        for (s = 0; s < app->topo.sub_cnt; s++) {
                brook__subtopo_t *sub = &app->topo.subs[s];
                brook__node_t *src;
                brook__task_t *task;
                brook__store_t *st;
                bool keeps, clear;
                size_t first = g->part_cnt, have = 0;

                if (!sub->global)
                        continue;
                src = sub->sources.v[0];
                task = brook__task_new(&g->rt, sub, -1);
                snprintf(task->id, sizeof task->id, "global");
                brook__ptrvec_push(&g->tasks, task);
                if ((err = brook__task_open_stores(task, errstr, errstr_size)))
                        return err;
                if (task->stores.cnt != 1) {
                        brook__seterr(errstr, errstr_size,
                                      "global table of \"%s\": %zu stores, "
                                      "not 1",
                                      src->topics[0], task->stores.cnt);
                        return BROOK_ERR_TOPOLOGY;
                }
                st = task->stores.v[0];
                if (!st->ops->query_get) {
                        brook__seterr(errstr, errstr_size,
                                      "global store \"%s\": its store (%s) "
                                      "has no query_get, which every stream "
                                      "thread reads a global store with",
                                      st->def->name, st->ops->kind);
                        return BROOK_ERR_STATE;
                }
                keeps = brook__global_keeps_offsets(st);
                g->parts = brook__xrealloc(
                        g->parts, (g->part_cnt + (size_t)sub->partitions) *
                                          sizeof *g->parts);
                for (p = 0; p < sub->partitions; p++) {
                        brook__gpart_t *gp = &g->parts[g->part_cnt++];
                        char name[1024];
                        memset(gp, 0, sizeof *gp);
                        gp->topic = brook__xstrdup(src->topics[0]);
                        gp->partition = p;
                        gp->task = task;
                        gp->q = brook__task_queue(task, gp->topic, src);
                        gp->stored = -1;
                        if (keeps) {
                                /* The topic in the name: a store pointed at
                                 * another topic starts again. */
                                snprintf(name, sizeof name,
                                         "global/%s/%s@%" PRId32, st->def->name,
                                         gp->topic, p);
                                gp->off_name = brook__xstrdup(name);
                                gp->stored = brook__statedb_get_offset(
                                        app->statedb, name);
                        }
                        if (gp->stored >= 0)
                                have++;
                }
                /* Offsets are written with the data: a partition without
                 * one gave the store nothing, and is read from its start
                 * (a partition new to the topic). With none at all the
                 * store is new, cleared, or was another topic's (or not
                 * brook's RocksDB, which keeps no offsets): start from an
                 * empty store, or keys deleted and compacted away since
                 * would stay. */
                clear = have == 0;
                for (i = first; i < g->part_cnt; i++) {
                        int64_t lo = -1, hi = -1;
                        brook__gpart_t *gp = &g->parts[i];
                        if ((err = brook__global_watermarks(
                                     g, gp, &lo, &hi, errstr, errstr_size)))
                                return err;
                        gp->target = hi;
                        gp->local = gp->stored >= 0;
                        gp->first = gp->stored >= 0 ? gp->stored : lo;
                        if (gp->stored >= 0 &&
                            (gp->stored < lo || gp->stored > hi)) {
                                brook__log("WARN",
                                           "%s: global store \"%s\": offset "
                                           "%" PRId64 " of \"%s\" partition "
                                           "%" PRId32 " is outside [%" PRId64
                                           ", %" PRId64 "] (retention, or the "
                                           "topic was made again): reading "
                                           "the topic again from its start",
                                           app->app_id, st->def->name,
                                           gp->stored, gp->topic, gp->partition,
                                           lo, hi);
                                clear = true;
                        }
                }
                if (clear && !st->ops->clear && st->ops->approximate_count &&
                    st->ops->approximate_count(st->inner) > 0) {
                        brook__seterr(errstr, errstr_size,
                                      "global store \"%s\": its %s store "
                                      "holds data but cannot be emptied (no "
                                      "clear), and must be before its topic "
                                      "is read from the start",
                                      st->def->name, st->ops->kind);
                        return BROOK_ERR_STATE;
                }
                if (clear) {
                        char why[512] = "";
                        for (i = first; i < g->part_cnt; i++) {
                                if (g->parts[i].off_name &&
                                    g->parts[i].stored >= 0)
                                        brook__statebatch_put_offset(
                                                g->env.batch,
                                                g->parts[i].off_name, -1);
                                g->parts[i].stored = -1;
                                g->parts[i].local = false;
                        }
                        /* The offsets go first: a crash between the two
                         * writes leaves data that is read again. */
                        if ((err = brook__statebatch_write(g->env.batch, errstr,
                                                           errstr_size)))
                                return err;
                        if (st->ops->clear &&
                            (err = st->ops->clear(st->inner, why,
                                                  sizeof why))) {
                                brook__seterr(errstr, errstr_size,
                                              "global store \"%s\": cannot "
                                              "empty it: %s",
                                              st->def->name, why);
                                return err;
                        }
                }
                for (i = first; i < g->part_cnt; i++)
                        g->parts[i].next = g->parts[i].stored;
                if ((err = brook__task_init(task, errstr, errstr_size)))
                        return err;
                /* Queryable (brook_app_store_get() and the others, as
                 * Kafka Streams' global stores), RESTORING until read up
                 * to the topic's end. */
                brook__app_register_store(app, st);
        }
        return BROOK_OK;
}

static brook_err_t brook__global_assign(brook__global_t *g, char *errstr,
                                        size_t errstr_size)
{
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new((int)g->part_cnt);
        rd_kafka_error_t *e;
        size_t i;

        for (i = 0; i < g->part_cnt; i++)
                rd_kafka_topic_partition_list_add(l, g->parts[i].topic,
                                                  g->parts[i].partition)
                        ->offset = g->parts[i].next >= 0
                                           ? g->parts[i].next
                                           : RD_KAFKA_OFFSET_BEGINNING;
        e = rd_kafka_incremental_assign(g->consumer, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (e) {
                brook__seterr(errstr, errstr_size,
                              "global thread: cannot assign its partitions: %s",
                              rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                return BROOK_ERR_KAFKA;
        }
        return BROOK_OK;
}

/* Reads until every partition reached the end it had when the app
 * started, writing down every second (Kafka Streams' global restore reads
 * up to the end offsets it took at the start too). */
static brook_err_t brook__global_restore(brook__global_t *g, char *errstr,
                                         size_t errstr_size)
{
        brook_app_t *app = g->app;
        int64_t started = brook__now_mono_ms(), last_write = started,
                last_print = started, applied = 0;
        brook_err_t err;
        size_t i;

        g->restoring = true;
        for (i = 0; i < g->part_cnt; i++)
                brook__global_tell(g, &g->parts[i], GLOBAL_TELL_START);

        for (;;) {
                rd_kafka_message_t *rkm;
                size_t left = 0;
                /* Read up to its end at the start (on a busy topic the
                 * end moves on), or up to where the consumer found the
                 * end (the last stable offset under read_committed, or
                 * after a transaction marker). */
                for (i = 0; i < g->part_cnt; i++)
                        if (!g->parts[i].eof &&
                            g->parts[i].next < g->parts[i].target)
                                left++;
                if (!left)
                        break;
                if (brook__app_should_stop(app)) {
                        err = brook__global_write(g, errstr, errstr_size);
                        g->restoring = false;
                        for (i = 0; i < g->part_cnt; i++)
                                brook__global_tell(g, &g->parts[i],
                                                   GLOBAL_TELL_SUSPEND);
                        return err;
                }
                if ((rkm = rd_kafka_consumer_poll(g->consumer, 100))) {
                        if (!rkm->err)
                                applied++;
                        if ((err = brook__global_apply(g, rkm, errstr,
                                                       errstr_size)))
                                return err;
                }
                if (brook__now_mono_ms() - last_write >= 1000) {
                        if ((err = brook__global_write(g, errstr, errstr_size)))
                                return err;
                        last_write = brook__now_mono_ms();
                }
                if (brook__now_mono_ms() - last_print >= 10000) {
                        brook__log("INFO",
                                   "%s: restoring global stores: %" PRId64
                                   " records in %.1f s, %zu of %zu "
                                   "partitions to go",
                                   app->app_id, applied,
                                   (double)(brook__now_mono_ms() - started) /
                                           1000.0,
                                   left, g->part_cnt);
                        last_print = brook__now_mono_ms();
                }
        }
        if ((err = brook__global_write(g, errstr, errstr_size)))
                return err;
        g->restoring = false;
        for (i = 0; i < g->part_cnt; i++)
                brook__global_tell(g, &g->parts[i], GLOBAL_TELL_END);
        for (i = 0; i < g->tasks.cnt; i++) {
                brook__task_t *task = g->tasks.v[i];
                atomic_store(&((brook__store_t *)task->stores.v[0])->state,
                             BROOK__STORE_ACTIVE);
        }
        brook__log("INFO",
                   "%s: global stores restored: %" PRId64 " records in %.1f s",
                   app->app_id, applied,
                   (double)(brook__now_mono_ms() - started) / 1000.0);
        return BROOK_OK;
}

static void *brook__global_main(void *arg)
{
        brook__global_t *g = arg;
        brook_app_t *app = brook__own_app = g->app;
        char errstr[1024];
        brook_err_t err = BROOK_OK;

        while (!err && !brook__app_should_stop(app)) {
                rd_kafka_message_t *rkm =
                        rd_kafka_consumer_poll(g->consumer, 100);
                int n = 0;
                /* What is queued already goes in the same write. */
                while (rkm && !err) {
                        err = brook__global_apply(g, rkm, errstr,
                                                  sizeof errstr);
                        rkm = ++n < 1000
                                      ? rd_kafka_consumer_poll(g->consumer, 0)
                                      : NULL;
                }
                if (rkm)
                        rd_kafka_message_destroy(rkm);
                if (!err)
                        err = brook__global_write(g, errstr, sizeof errstr);
        }
        if (!err)
                err = brook__global_write(g, errstr, sizeof errstr);
        if (err)
                /* Kafka Streams: the global thread's death stops the
                 * client (ERROR). */
                brook__app_fail(app, errstr);
        brook__app_thread_exited(app);
        return NULL;
}

brook_err_t brook__global_start(brook_app_t *app, char *errstr,
                                size_t errstr_size)
{
        /* As Kafka Streams' global consumer (auto.offset.reset none):
         * never skip records silently; see brook__global_apply(). */
        static const char *const extra[] = {"auto.offset.reset", "error", NULL};
        brook__global_t *g;
        rd_kafka_conf_t *cc;
        brook_err_t err;
        size_t s;
        bool any = false;

        for (s = 0; s < app->topo.sub_cnt; s++)
                any |= app->topo.subs[s].global;
        if (!any)
                return BROOK_OK;
        g = brook__xcalloc(1, sizeof *g);
        /* brook_app_stats() reads it under the lock. */
        pthread_mutex_lock(&app->lock);
        app->global = g;
        pthread_mutex_unlock(&app->lock);
        g->app = app;
        g->collector.send = brook__global_send;
        g->collector.partition_cnt = brook__global_partition_cnt;
        g->collector.send_changelog = brook__global_send_changelog;
        g->collector.changelog_slot = brook__global_changelog_slot;
        brook__runtime_init(&g->rt, &g->collector, &app->topo, app->conf,
                            brook__global_wall_clock,
                            brook__global_fetched_lag);
        g->rt.drops_pub = g->stat_drops;
        /* Records are applied as they come (no waiting for others). */
        g->rt.max_task_idle_ms = -1;
        /* Dead-letter records are cut to what the producer takes, as the
         * stream threads' are. */
        if ((cc = brook__client_conf(app, "producer", "global-producer", -1,
                                     errstr, errstr_size))) {
                char buf[32];
                size_t size = sizeof buf;
                if (rd_kafka_conf_get(cc, "message.max.bytes", buf, &size) ==
                    RD_KAFKA_CONF_OK)
                        g->rt.max_record_bytes = strtoll(buf, NULL, 10);
                rd_kafka_conf_destroy(cc);
        }
        g->env.db = app->statedb;
        g->env.batch = brook__statebatch_new(app->statedb);
        g->rt.env = &g->env;
        g->rt.state_dir = app->state_dir;

        if (!(g->consumer = brook__assign_consumer_new(
                      app, -1, "global-consumer", extra, errstr, errstr_size)))
                return BROOK_ERR_KAFKA;
        rd_kafka_poll_set_consumer(g->consumer);
        if ((err = brook__global_open(g, errstr, errstr_size)) ||
            (err = brook__global_assign(g, errstr, errstr_size)) ||
            (err = brook__global_restore(g, errstr, errstr_size)))
                return err;
        if (brook__app_should_stop(app))
                return BROOK_OK;
        pthread_mutex_lock(&app->lock);
        app->threads_running++;
        pthread_mutex_unlock(&app->lock);
        if (pthread_create(&g->tid, NULL, brook__global_main, g)) {
                pthread_mutex_lock(&app->lock);
                app->threads_running--;
                pthread_mutex_unlock(&app->lock);
                brook__seterr(errstr, errstr_size,
                              "could not start the global thread");
                return BROOK_ERR_FATAL;
        }
        g->tid_valid = true;
        return BROOK_OK;
}

void brook__global_destroy(brook_app_t *app)
{
        brook__global_t *g = app->global;
        char errstr[512];
        size_t i;

        if (!g)
                return;
        if (g->tid_valid)
                pthread_join(g->tid, NULL);
        else if (g->env.batch && g->dirty &&
                 brook__global_write(g, errstr, sizeof errstr))
                brook__log("WARN", "%s: %s", app->app_id, errstr);
        if (g->consumer) {
                rd_kafka_consumer_close(g->consumer);
                rd_kafka_destroy(g->consumer);
        }
        if (g->producer) {
                rd_kafka_flush(g->producer, 5000);
                rd_kafka_destroy(g->producer);
        }
        for (i = 0; i < g->tasks.cnt; i++) {
                brook__task_t *task = g->tasks.v[i];
                size_t j;
                for (j = 0; j < task->stores.cnt; j++)
                        brook__app_unregister_store(app, task->stores.v[j]);
                brook__task_destroy(task, brook__global_release);
        }
        brook__ptrvec_free(&g->tasks);
        for (i = 0; i < g->part_cnt; i++) {
                free(g->parts[i].topic);
                free(g->parts[i].off_name);
        }
        free(g->parts);
        pthread_mutex_lock(&app->lock);
        brook__global_stats(app, &app->closed_stats);
        for (i = 0; i < BROOK__DROP_CNT; i++)
                app->closed_drops[i] += atomic_load(&g->stat_drops[i]);
        app->global = NULL;
        pthread_mutex_unlock(&app->lock);
        brook__statebatch_destroy(g->env.batch);
        brook__runtime_free(&g->rt);
        free(g);
}
