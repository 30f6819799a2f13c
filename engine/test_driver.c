/*
 * brook — the test driver: a topology run in-process, without a broker
 * (Kafka Streams' TopologyTestDriver). It shares the task code with the
 * real runtime; only the collector (in-memory topics) and the clock differ.
 */
#define _GNU_SOURCE /* nftw's FTW_DEPTH / FTW_PHYS */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "brook_int.h"
#include "store_int.h"

/* A record a sink wrote (or a piped input), kept until the driver goes. */
typedef struct brook__tdrec {
        brook_test_record_t pub;
        brook_header_t *hdrs;
        rd_kafka_headers_t *rkhdrs; /**< For feeding it back as input. */
        char *topic;
} brook__tdrec_t;

typedef struct brook__tdtopic {
        char *name;
        brook__ptrvec_t written; /**< brook__tdrec_t *, in order. */
        size_t read;             /**< How many the test has read. */
        int64_t next_offset;
        /** exactly_once_v2: how many of written are committed (the rest
         *  belong to the open transaction; readers do not see them). */
        size_t committed;
} brook__tdtopic_t;

/* A task's times at the last commit, for its revival after an abort. */
typedef struct brook__tdtimes {
        int64_t stream_time;
        brook__ptrvec_t topics; /**< char *, with ptimes */
        int64_t *ptimes;
} brook__tdtimes_t;

struct brook_test_driver_s {
        brook__collector_t collector; /* First: the collector is the driver. */
        brook__runtime_t rt;
        brook__topology_t topo;
        brook_builder_t *b;
        brook_conf_t *conf;
        brook__ptrvec_t tasks;   /**< One per sub-topology. */
        brook__ptrvec_t topics;  /**< brook__tdtopic_t * */
        brook__ptrvec_t inputs;  /**< Piped records, freed at destroy. */
        brook__ptrvec_t pending; /**< Written records a source reads. */
        brook__ptrvec_t ins;     /**< brook_test_input_t *, freed at destroy. */
        brook__ptrvec_t outs;    /**< brook_test_output_t *, likewise. */
        size_t pending_head;
        int64_t wall_clock;
        bool failed;
        bool auto_commit;
        /* exactly_once_v2: a commit is a transaction. What it covers
         * starts where the last one ended: inputs from inputs_committed
         * on, fed-back records from pending_committed on. */
        bool eos;
        size_t inputs_committed, pending_committed;
        brook__tdtimes_t *times; /**< One per task, at the last commit. */
        brook__td_fail_t fail;   /**< Injected into the next commit. */
        int64_t aborts;
        /* State: a RocksDB in a directory of its own, removed at destroy. */
        char *state_dir;
        brook__stateenv_t env;
        /** Changelog ends, one per changelog topic (one partition). */
        struct brook__tdslot {
                char *topic;
                int64_t end;
                int64_t committed_end; /**< end at the last commit */
        } * slots;
        size_t slot_cnt;
};

/* A typed input topic: its serdes, its clock and the buffers it encodes
 * into (reused from record to record). */
struct brook_test_input_s {
        brook_test_driver_t *td;
        char *topic;
        const brook_serde_t *key_serde, *value_serde;
        int64_t clock;
        int64_t auto_advance;
        brook_buf_t *keybuf, *valbuf;
};

/* A typed output topic. Its arena holds every object it has decoded, so
 * that they live as long as the raw records they come from. */
struct brook_test_output_s {
        brook_test_driver_t *td;
        char *topic;
        const brook_serde_t *key_serde, *value_serde;
        brook_arena_t *arena;
};

static void brook__td_input_free(brook_test_input_t *in)
{
        brook__serde_unref(in->key_serde);
        brook__serde_unref(in->value_serde);
        brook_buf_destroy(in->keybuf);
        brook_buf_destroy(in->valbuf);
        free(in->topic);
        free(in);
}

static void brook__td_output_free(brook_test_output_t *out)
{
        brook__serde_unref(out->key_serde);
        brook__serde_unref(out->value_serde);
        brook_arena_destroy(out->arena);
        free(out->topic);
        free(out);
}

/* How many of @p t's records a reader sees: under exactly_once_v2 only
 * those of committed transactions (a read_committed consumer). */
static size_t brook__td_visible(const brook_test_driver_t *td,
                                const brook__tdtopic_t *t)
{
        return td->eos ? t->committed : t->written.cnt;
}

static brook__tdtopic_t *brook__td_topic(brook_test_driver_t *td,
                                         const char *name)
{
        brook__tdtopic_t *t;
        size_t i;
        for (i = 0; i < td->topics.cnt; i++) {
                t = td->topics.v[i];
                if (!strcmp(t->name, name))
                        return t;
        }
        t = brook__xcalloc(1, sizeof *t);
        t->name = brook__xstrdup(name);
        brook__ptrvec_push(&td->topics, t);
        return t;
}

static brook__tdrec_t *brook__tdrec_new(brook__tdtopic_t *t, const void *key,
                                        size_t key_size, const void *value,
                                        size_t value_size, int64_t timestamp)
{
        brook__tdrec_t *r = brook__xcalloc(1, sizeof *r);
        r->topic = brook__xstrdup(t->name);
        r->pub.topic = r->topic;
        r->pub.partition = 0;
        r->pub.offset = t->next_offset++;
        r->pub.timestamp = timestamp;
        if (key) {
                r->pub.key = memcpy(brook__xmalloc(key_size), key, key_size);
                r->pub.key_size = key_size;
        }
        if (value) {
                r->pub.value =
                        memcpy(brook__xmalloc(value_size), value, value_size);
                r->pub.value_size = value_size;
        }
        return r;
}

/* Keeps a copy of @p hdrs both as the public array and in Kafka's form. */
static void brook__tdrec_set_headers(brook__tdrec_t *r,
                                     rd_kafka_headers_t *rkhdrs)
{
        size_t i, cnt;
        const char *name;
        const void *value;
        size_t size;

        r->rkhdrs = rkhdrs;
        if (!rkhdrs)
                return;
        cnt = rd_kafka_header_cnt(rkhdrs);
        r->hdrs = brook__xcalloc(cnt, sizeof *r->hdrs);
        for (i = 0; !rd_kafka_header_get_all(rkhdrs, i, &name, &value, &size);
             i++) {
                r->hdrs[i].name = name;
                r->hdrs[i].value = value;
                r->hdrs[i].size = size;
        }
        r->pub.headers = r->hdrs;
        r->pub.header_cnt = cnt;
}

static void brook__tdrec_free(brook__tdrec_t *r)
{
        free((void *)r->pub.key);
        free((void *)r->pub.value);
        free(r->hdrs);
        if (r->rkhdrs)
                rd_kafka_headers_destroy(r->rkhdrs);
        free(r->topic);
        free(r);
}

static brook_err_t brook__td_send(brook__collector_t *col, const char *topic,
                                  int32_t partition, const void *key,
                                  size_t key_size, const void *value,
                                  size_t value_size, int64_t timestamp,
                                  rd_kafka_headers_t *hdrs, char *errstr,
                                  size_t errstr_size)
{
        brook_test_driver_t *td = (brook_test_driver_t *)col;
        brook__tdtopic_t *t = brook__td_topic(td, topic);
        brook__tdrec_t *r;

        if (partition > 0) {
                if (hdrs)
                        rd_kafka_headers_destroy(hdrs);
                brook__seterr(errstr, errstr_size,
                              "partition %" PRId32 " of topic \"%s\" does not "
                              "exist: the test driver has one partition",
                              partition, topic);
                return BROOK_ERR_KAFKA;
        }
        /* As the producer refuses a record over message.max.bytes. */
        if (td->rt.max_record_bytes > 0 &&
            brook__record_wire_size(key ? key_size : 0, value ? value_size : 0,
                                    hdrs) > (size_t)td->rt.max_record_bytes) {
                if (hdrs)
                        rd_kafka_headers_destroy(hdrs);
                brook__seterr(
                        errstr, errstr_size,
                        "producing to topic \"%s\" failed: %s", topic,
                        rd_kafka_err2str(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE));
                return BROOK_ERR_KAFKA;
        }
        r = brook__tdrec_new(t, key, key_size, value, value_size, timestamp);
        brook__tdrec_set_headers(r, hdrs);
        brook__ptrvec_push(&t->written, r);
        /* A topic the topology reads is fed back in, after the record that
         * wrote it is done (as a repartition topic would be). */
        if (brook__topology_source_for(&td->topo, topic))
                brook__ptrvec_push(&td->pending, r);
        return BROOK_OK;
}

/* The producer's message.max.bytes as the conf sets it (the producer.
 * prefixed one wins), or 0: the driver has no producer, and without the
 * property set it takes records of any size. */
static int64_t brook__td_max_record_bytes(const brook_conf_t *conf)
{
        const char *v = brook_conf_get(conf, "producer.message.max.bytes");
        if (!v)
                v = brook_conf_get(conf, "message.max.bytes");
        return v ? strtoll(v, NULL, 10) : 0;
}

int64_t brook_test_driver_records_dropped(brook_test_driver_t *td,
                                          brook_drop_reason_t reason)
{
        if (!td || (int)reason < 0 || (int)reason >= BROOK__DROP_CNT)
                return 0;
        return td->rt.drops[reason];
}

static int32_t brook__td_partition_cnt(brook__collector_t *col,
                                       const char *topic)
{
        return 1;
}

static brook_err_t brook__td_send_changelog(
        brook__collector_t *col, const char *topic, int32_t partition,
        const void *key, size_t key_size, const void *value, size_t value_size,
        int64_t timestamp, int64_t *endp, char *errstr, size_t errstr_size)
{
        brook_test_driver_t *td = (brook_test_driver_t *)col;
        brook__tdtopic_t *t = brook__td_topic(td, topic);
        brook__tdrec_t *r = brook__tdrec_new(t, key, key_size, value,
                                             value_size, timestamp);
        brook__ptrvec_push(&t->written, r);
        if (endp && r->pub.offset + 1 > *endp)
                *endp = r->pub.offset + 1;
        return BROOK_OK;
}

static int64_t *brook__td_changelog_slot(brook__collector_t *col,
                                         const char *topic, int32_t partition)
{
        brook_test_driver_t *td = (brook_test_driver_t *)col;
        size_t i;
        for (i = 0; i < td->slot_cnt; i++)
                if (!strcmp(td->slots[i].topic, topic))
                        return &td->slots[i].end;
        /* Slots must not move: they are allocated once, when the driver is
         * made, one per store (each store has its own changelog). */
        td->slots[i].topic = brook__xstrdup(topic);
        td->slots[i].end = -1;
        td->slot_cnt++;
        return &td->slots[i].end;
}

static int64_t brook__td_wall_clock(brook__runtime_t *rt)
{
        brook_test_driver_t *td =
                (brook_test_driver_t *)((char *)rt -
                                        offsetof(brook_test_driver_t, rt));
        return td->wall_clock;
}

/* The instance of global store @p name: its sub-topology's task's (the
 * driver runs global tables as tasks, as TopologyTestDriver's global
 * state task; a record piped to the topic updates the store at once). */
static struct brook__store *brook__td_global_store(brook__runtime_t *rt,
                                                   const char *name)
{
        brook_test_driver_t *td =
                (brook_test_driver_t *)((char *)rt -
                                        offsetof(brook_test_driver_t, rt));
        const brook__storedef_t *def = brook__builder_store(td->b, name);
        brook__task_t *task;
        size_t i;

        if (!def || def->subtopology < 0 ||
            (size_t)def->subtopology >= td->tasks.cnt)
                return NULL;
        task = td->tasks.v[def->subtopology];
        for (i = 0; task && i < task->stores.cnt; i++) {
                brook__store_t *st = task->stores.v[i];
                if (st->def == def)
                        return st;
        }
        return NULL;
}

/* Every record piped is queued at once: there is never more on a
 * "broker" to wait for, so an empty partition is one to idle on. */
static int64_t brook__td_fetched_lag(brook__runtime_t *rt, brook__pqueue_t *q)
{
        (void)rt;
        (void)q;
        return 0;
}

int64_t brook_test_driver_enforced_processing(brook_test_driver_t *td)
{
        return td ? td->rt.enforced : 0;
}

static int brook__rm_one(const char *path, const struct stat *sb, int flag,
                         struct FTW *ftw)
{
        (void)sb;
        (void)flag;
        (void)ftw;
        return remove(path);
}

/* Removes @p dir and everything under it. */
static void brook__rmtree(const char *dir)
{
        nftw(dir, brook__rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh state directory under state.dir and the RocksDB in it, when the
 * topology has stores. */
static brook_err_t brook__td_open_state(brook_test_driver_t *td, char *errstr,
                                        size_t errstr_size)
{
        const char *base = brook_conf_get(td->conf, "state.dir");
        int64_t cache_bytes =
                brook__conf_int(td->conf, "statestore.cache.max.bytes");
        size_t n = strlen(base) + 32;
        char *dbdir;
        brook_err_t err;

        td->slots = brook__xcalloc(td->b->stores.cnt + 1, sizeof *td->slots);
        if (!td->b->stores.cnt)
                return BROOK_OK;
        if (mkdir(base, 0755) && errno != EEXIST) {
                brook__seterr(errstr, errstr_size,
                              "state.dir \"%s\" could not be created: %s", base,
                              strerror(errno));
                return BROOK_ERR_STATE;
        }
        td->state_dir = brook__xmalloc(n);
        snprintf(td->state_dir, n, "%s/test-driver-XXXXXX", base);
        if (!mkdtemp(td->state_dir)) {
                brook__seterr(errstr, errstr_size,
                              "could not make a state directory in \"%s\": %s",
                              base, strerror(errno));
                free(td->state_dir);
                td->state_dir = NULL;
                return BROOK_ERR_STATE;
        }
        dbdir = brook__xmalloc(n + 8);
        snprintf(dbdir, n + 8, "%s/rocksdb", td->state_dir);
        err = brook__statedb_open(
                dbdir, brook__conf_int(td->conf, "rocksdb.memory.bytes"),
                &td->env.db, errstr, errstr_size);
        free(dbdir);
        if (err)
                return err;
        td->env.batch = brook__statebatch_new(td->env.db);
        if (brook__conf_int(td->conf, "join.memory.bytes") > 0)
                td->env.wmbudget = brook__wmbudget_new(
                        brook__conf_int(td->conf, "join.memory.bytes"));
        td->rt.env = &td->env;
        td->rt.state_dir = td->state_dir;
        if (cache_bytes > 0)
                td->rt.cache = brook__cache_new((size_t)cache_bytes);
        return BROOK_OK;
}

void brook_test_driver_destroy(brook_test_driver_t *td)
{
        size_t i, j;
        if (!td)
                return;
        for (i = 0; i < td->tasks.cnt; i++)
                brook__task_destroy(td->tasks.v[i], NULL);
        brook__ptrvec_free(&td->tasks);
        for (i = 0; td->times && i < td->topo.sub_cnt; i++) {
                for (j = 0; j < td->times[i].topics.cnt; j++)
                        free(td->times[i].topics.v[j]);
                brook__ptrvec_free(&td->times[i].topics);
                free(td->times[i].ptimes);
        }
        free(td->times);
        for (i = 0; i < td->topics.cnt; i++) {
                brook__tdtopic_t *t = td->topics.v[i];
                for (j = 0; j < t->written.cnt; j++)
                        brook__tdrec_free(t->written.v[j]);
                brook__ptrvec_free(&t->written);
                free(t->name);
                free(t);
        }
        brook__ptrvec_free(&td->topics);
        for (i = 0; i < td->inputs.cnt; i++)
                brook__tdrec_free(td->inputs.v[i]);
        brook__ptrvec_free(&td->inputs);
        brook__ptrvec_free(&td->pending);
        for (i = 0; i < td->ins.cnt; i++)
                brook__td_input_free(td->ins.v[i]);
        brook__ptrvec_free(&td->ins);
        for (i = 0; i < td->outs.cnt; i++)
                brook__td_output_free(td->outs.v[i]);
        brook__ptrvec_free(&td->outs);
        for (i = 0; i < td->slot_cnt; i++)
                free(td->slots[i].topic);
        free(td->slots);
        brook__cache_destroy(td->rt.cache);
        brook__statebatch_destroy(td->env.batch);
        brook__wmbudget_destroy(td->env.wmbudget);
        brook__statedb_close(td->env.db);
        if (td->state_dir) {
                brook__rmtree(td->state_dir);
                free(td->state_dir);
        }
        brook__runtime_free(&td->rt);
        brook__topology_free(&td->topo);
        brook_builder_destroy(td->b);
        brook_conf_destroy(td->conf);
        free(td);
}

/* Restores the logged stores of @p task from the driver's changelog
 * topics: a persistent store from its stored offset, another from the
 * start, up to what is committed (exactly_once_v2: a task revived after
 * an abort). */
static brook_err_t brook__td_restore(brook_test_driver_t *td,
                                     brook__task_t *task, char *errstr,
                                     size_t errstr_size)
{
        brook_err_t err = BROOK_OK;
        size_t i, j;

        brook__statebatch_set_bulk(td->env.batch, true);
        for (i = 0; !err && i < task->stores.cnt; i++) {
                brook__store_t *st = task->stores.v[i];
                brook__tdtopic_t *t;
                int64_t from = -1, end = 0;
                char why[512] = "";
                if (!st->changelog)
                        continue;
                t = brook__td_topic(td, st->changelog);
                if (st->ops->persistent && st->ops->stored_offset)
                        from = st->ops->stored_offset(st->inner);
                if (from < 0 && st->ops->clear &&
                    (err = st->ops->clear(st->inner, why, sizeof why)))
                        break;
                for (j = 0; !err && j < t->committed; j++) {
                        brook__tdrec_t *r = t->written.v[j];
                        end = r->pub.offset + 1;
                        if (r->pub.offset < from)
                                continue;
                        err = brook__store_restore_put(
                                st, r->pub.key, r->pub.key_size, r->pub.value,
                                r->pub.value_size, r->pub.timestamp);
                        if (err)
                                snprintf(why, sizeof why, "%s", st->errbuf);
                }
                if (!err && end > from &&
                    (err = st->ops->flush(st->inner, end, why, sizeof why)))
                        break;
                if (!err && end > *st->changelog_end)
                        *st->changelog_end = end;
                if (err)
                        brook__seterr(errstr, errstr_size,
                                      "task %s: restoring store \"%s\": %s",
                                      task->id, st->def->name, why);
        }
        if (!err)
                err = brook__statebatch_write_bulk(td->env.batch, errstr,
                                                   errstr_size);
        brook__statebatch_set_bulk(td->env.batch, false);
        return err;
}

/* Opens the task of sub-topology @p idx (its only partition, 0): its
 * queues, its stores (restored from what is committed), its times as the
 * last commit left them, then its processors' init(). */
static brook_err_t brook__td_open_task(brook_test_driver_t *td, size_t idx,
                                       char *errstr, size_t errstr_size)
{
        brook__subtopo_t *sub = &td->topo.subs[idx];
        brook__tdtimes_t *tm = &td->times[idx];
        brook__task_t *task = brook__task_new(&td->rt, sub, 0);
        brook_err_t err;
        size_t j, k;

        if (idx < td->tasks.cnt)
                td->tasks.v[idx] = task;
        else
                brook__ptrvec_push(&td->tasks, task);
        /* The task knows all its partitions from the start, as after an
         * assignment: an empty one is waited for (max.task.idle.ms). A
         * pattern's topics come as piped. */
        for (j = 0; j < sub->sources.cnt; j++) {
                brook__node_t *src = sub->sources.v[j];
                for (k = 0; k < src->topic_cnt; k++) {
                        char *topic =
                                src->internal
                                        ? brook__topology_internal_topic(
                                                  &td->topo, src->topics[k])
                                        : brook__xstrdup(src->topics[k]);
                        brook__task_queue(task, topic, src);
                        free(topic);
                }
        }
        task->stream_time = tm->stream_time;
        for (j = 0; j < tm->topics.cnt; j++) {
                const char *topic = tm->topics.v[j];
                brook__node_t *src =
                        brook__topology_source_for(&td->topo, topic);
                if (src)
                        brook__task_queue(task, topic, src)->partition_time =
                                tm->ptimes[j];
        }
        if ((err = brook__task_open_stores(task, errstr, errstr_size)))
                return err;
        if (td->eos && task->stores.cnt &&
            (err = brook__td_restore(td, task, errstr, errstr_size)))
                return err;
        for (j = 0; j < task->stores.cnt; j++) {
                brook__store_t *st = task->stores.v[j];
                atomic_store(&st->state, BROOK__STORE_ACTIVE);
        }
        return brook__task_init(task, errstr, errstr_size);
}

brook_test_driver_t *brook_test_driver_new(brook_builder_t *b,
                                           brook_conf_t *conf,
                                           int64_t wall_clock_ms, char *errstr,
                                           size_t errstr_size)
{
        brook_test_driver_t *td;
        brook_conf_t *own = NULL;
        size_t i;

        if (!b) {
                brook__seterr(errstr, errstr_size, "no builder given");
                return NULL;
        }
        if (conf && brook__conf_error(conf)) {
                brook__seterr(errstr, errstr_size, "%s",
                              brook__conf_error(conf));
                return NULL;
        }
        if (!conf)
                conf = own = brook_conf_new();
        if (!brook_conf_get(conf, "application.id") &&
            brook_conf_set(conf, "application.id", "test-driver", errstr,
                           errstr_size)) {
                brook_conf_destroy(own);
                return NULL;
        }
        /* As Kafka Streams' TopologyTestDriver: results that wait for a
         * closed window come at the first record that closes it, not at
         * most once per second of wall clock. */
        if ((!brook__conf_is_set(conf, BROOK__EMIT_INTERVAL_OUTER_JOIN) &&
             brook_conf_set(conf, BROOK__EMIT_INTERVAL_OUTER_JOIN, "0", errstr,
                            errstr_size)) ||
            (!brook__conf_is_set(conf, BROOK__EMIT_INTERVAL_WINDOWED) &&
             brook_conf_set(conf, BROOK__EMIT_INTERVAL_WINDOWED, "0", errstr,
                            errstr_size))) {
                brook_conf_destroy(own);
                return NULL;
        }

        td = brook__xcalloc(1, sizeof *td);
        if (brook__topology_build(&td->topo, b, conf, errstr, errstr_size)) {
                brook_conf_destroy(own);
                free(td);
                return NULL;
        }
        td->b = b;
        td->conf = conf;
        td->wall_clock = wall_clock_ms;
        td->auto_commit = true;
        td->collector.send = brook__td_send;
        td->collector.partition_cnt = brook__td_partition_cnt;
        td->collector.send_changelog = brook__td_send_changelog;
        td->collector.changelog_slot = brook__td_changelog_slot;
        brook__runtime_init(&td->rt, &td->collector, &td->topo, conf,
                            brook__td_wall_clock, brook__td_fetched_lag);
        td->rt.max_record_bytes = brook__td_max_record_bytes(conf);
        td->rt.global_store = brook__td_global_store;

        if (brook__td_open_state(td, errstr, errstr_size)) {
                td->b = NULL;
                td->conf = NULL;
                brook_test_driver_destroy(td);
                brook_conf_destroy(own);
                return NULL;
        }
        td->eos =
                brook__conf_guarantee(conf) == BROOK__GUARANTEE_EXACTLY_ONCE_V2;
        if (td->env.batch)
                brook__statebatch_set_transactional(td->env.batch, td->eos);
        td->times = brook__xcalloc(td->topo.sub_cnt + 1, sizeof *td->times);
        for (i = 0; i < td->topo.sub_cnt; i++) {
                td->topo.subs[i].partitions = 1;
                td->times[i].stream_time = -1;
                if (brook__td_open_task(td, i, errstr, errstr_size)) {
                        /* The caller keeps b and conf on failure. */
                        td->b = NULL;
                        td->conf = NULL;
                        brook_test_driver_destroy(td);
                        brook_conf_destroy(own);
                        return NULL;
                }
        }
        return td;
}

/* Processes what @p task is ready to (it may wait for an empty partition:
 * max.task.idle.ms, on the driver's wall clock). */
static brook_err_t brook__td_run(brook_test_driver_t *td, brook__task_t *task,
                                 char *errstr, size_t errstr_size)
{
        while (brook__task_ready(task, td->wall_clock)) {
                brook_err_t err = brook__task_process_one(task, NULL, errstr,
                                                          errstr_size);
                if (err) {
                        td->failed = true;
                        return err;
                }
        }
        return BROOK_OK;
}

/* Queues @p r for its source's task and processes the task's queue. */
static brook_err_t brook__td_process(brook_test_driver_t *td, brook__tdrec_t *r,
                                     brook__node_t *src, char *errstr,
                                     size_t errstr_size)
{
        brook__task_t *task = td->tasks.v[src->subtopology];
        brook__pqueue_t *q = brook__task_queue(task, r->topic, src);
        brook__inrec_t in = {
                .topic = r->topic,
                .partition = 0,
                .offset = r->pub.offset,
                .timestamp = r->pub.timestamp,
                .key = r->pub.key,
                .key_size = r->pub.key_size,
                .value = r->pub.value,
                .value_size = r->pub.value_size,
                .headers = r->rkhdrs,
                .owner = r,
        };
        brook__task_enqueue(task, q, &in, NULL);
        return brook__td_run(td, task, errstr, errstr_size);
}

/* Processes records written to topics the topology reads, in write order.
 */
static brook_err_t brook__td_drain(brook_test_driver_t *td, char *errstr,
                                   size_t errstr_size)
{
        brook_err_t err;
        while (td->pending_head < td->pending.cnt) {
                brook__tdrec_t *p = td->pending.v[td->pending_head++];
                brook__node_t *src =
                        brook__topology_source_for(&td->topo, p->topic);
                if ((err = brook__td_process(td, p, src, errstr, errstr_size)))
                        return err;
        }
        return BROOK_OK;
}

brook_err_t brook_test_driver_pipe(brook_test_driver_t *td, const char *topic,
                                   const void *key, size_t key_size,
                                   const void *value, size_t value_size,
                                   int64_t timestamp,
                                   const brook_header_t *headers,
                                   size_t header_cnt, char *errstr,
                                   size_t errstr_size)
{
        brook__node_t *src;
        brook__tdrec_t *r;
        brook_err_t err;
        size_t i;

        if (td->failed) {
                brook__seterr(errstr, errstr_size,
                              "the test driver stopped on an earlier error");
                return BROOK_ERR_FATAL;
        }
        if (!(src = brook__topology_source_for(&td->topo, topic))) {
                brook__seterr(errstr, errstr_size,
                              "no source of the topology reads topic \"%s\"",
                              topic);
                return BROOK_ERR_NOT_FOUND;
        }
        r = brook__tdrec_new(brook__td_topic(td, topic), key, key_size, value,
                             value_size, timestamp);
        if (header_cnt) {
                rd_kafka_headers_t *h = rd_kafka_headers_new(header_cnt);
                for (i = 0; i < header_cnt; i++)
                        rd_kafka_header_add(
                                h, headers[i].name, -1, headers[i].value,
                                headers[i].value ? (ssize_t)headers[i].size
                                                 : 0);
                brook__tdrec_set_headers(r, h);
        }
        brook__ptrvec_push(&td->inputs, r);

        if ((err = brook__td_process(td, r, src, errstr, errstr_size)) ||
            (err = brook__td_drain(td, errstr, errstr_size)))
                return err;
        if (td->auto_commit)
                return brook_test_driver_commit(td, errstr, errstr_size);
        return BROOK_OK;
}

/* What the commit needs of the driver (engine/commit.c). Its records
 * are taken as they are produced; delivering is processing those the
 * caches' flushes sent to a topic the topology reads (a repartition
 * topic), which may dirty caches further down: the caches then flush
 * again, until nothing moves. */
typedef struct brook__td_io {
        brook_test_driver_t *td;
        brook_err_t err; /**< The drain's failure, for the caller. */
} brook__td_io_t;

static brook__commit_t brook__td_deliver(void *opaque, bool *again,
                                         char *errstr, size_t errstr_size)
{
        brook__td_io_t *io = opaque;
        brook_test_driver_t *td = io->td;

        if (td->fail == BROOK__TD_FAIL_DELIVER) {
                td->fail = BROOK__TD_FAIL_NONE;
                brook__seterr(errstr, errstr_size,
                              "a record was not delivered (injected)");
                return td->eos ? BROOK__COMMIT_ABORTED : BROOK__COMMIT_FAILED;
        }
        if (td->pending_head >= td->pending.cnt)
                return BROOK__COMMIT_DONE;
        if ((io->err = brook__td_drain(td, errstr, errstr_size)))
                return BROOK__COMMIT_FAILED;
        *again = true;
        return BROOK__COMMIT_DONE;
}

/* No group, no offsets to commit. */
static brook__commit_t brook__td_commit_offsets(void *opaque, char *errstr,
                                                size_t errstr_size)
{
        (void)opaque;
        (void)errstr;
        (void)errstr_size;
        return BROOK__COMMIT_DONE;
}

/* exactly_once_v2: the transaction commits (or fails as a test asked):
 * what it wrote becomes visible, and the driver remembers where the next
 * one starts and the tasks' times, for a revival after an abort. */
static brook__commit_t brook__td_commit_txn(void *opaque, char *errstr,
                                            size_t errstr_size)
{
        brook__td_io_t *io = opaque;
        brook_test_driver_t *td = io->td;
        size_t i, j;

        if (td->fail == BROOK__TD_FAIL_COMMIT_ABORT) {
                td->fail = BROOK__TD_FAIL_NONE;
                brook__seterr(errstr, errstr_size,
                              "committing the transaction: injected failure "
                              "(the transaction must abort)");
                return BROOK__COMMIT_ABORTED;
        }
        if (td->fail == BROOK__TD_FAIL_COMMIT_RETRY) {
                td->fail = BROOK__TD_FAIL_NONE;
                brook__seterr(errstr, errstr_size,
                              "committing the transaction: injected failure "
                              "(retriable)");
                return BROOK__COMMIT_STALLED;
        }
        for (i = 0; i < td->topics.cnt; i++) {
                brook__tdtopic_t *t = td->topics.v[i];
                t->committed = t->written.cnt;
        }
        td->inputs_committed = td->inputs.cnt;
        td->pending_committed = td->pending.cnt;
        for (i = 0; i < td->slot_cnt; i++)
                td->slots[i].committed_end = td->slots[i].end;
        for (i = 0; i < td->tasks.cnt; i++) {
                brook__task_t *task = td->tasks.v[i];
                brook__tdtimes_t *tm = &td->times[i];
                tm->stream_time = task->stream_time;
                for (j = 0; j < tm->topics.cnt; j++)
                        free(tm->topics.v[j]);
                tm->topics.cnt = 0;
                tm->ptimes =
                        brook__xrealloc(tm->ptimes, (task->queues.cnt + 1) *
                                                            sizeof *tm->ptimes);
                for (j = 0; j < task->queues.cnt; j++) {
                        brook__pqueue_t *q = task->queues.v[j];
                        tm->ptimes[tm->topics.cnt] = q->partition_time;
                        brook__ptrvec_push(&tm->topics,
                                           brook__xstrdup(q->topic));
                }
        }
        return BROOK__COMMIT_DONE;
}

/*
 * The transaction aborted: what it wrote is gone (records, state batch,
 * changelog ends), and every task is revived from the last commit (closed
 * without a commit, its cache and buffers dropped, its stores restored
 * from the committed changelog), as a stream thread does.
 */
static brook_err_t brook__td_abort(brook_test_driver_t *td, char *errstr,
                                   size_t errstr_size)
{
        brook_err_t err = BROOK_OK;
        size_t i, j;

        td->aborts++;
        td->pending.cnt = td->pending_committed;
        td->pending_head = td->pending_committed;
        for (i = 0; i < td->topics.cnt; i++) {
                brook__tdtopic_t *t = td->topics.v[i];
                /* Their offsets stay taken, as an aborted transaction's
                 * do in Kafka. */
                for (j = t->committed; j < t->written.cnt; j++)
                        brook__tdrec_free(t->written.v[j]);
                t->written.cnt = t->committed;
        }
        if (td->env.batch)
                brook__statebatch_discard(td->env.batch);
        for (i = 0; i < td->slot_cnt; i++)
                td->slots[i].end = td->slots[i].committed_end;
        for (i = 0; !err && i < td->tasks.cnt; i++) {
                brook__task_destroy(td->tasks.v[i], NULL);
                td->tasks.v[i] = NULL;
                err = brook__td_open_task(td, i, errstr, errstr_size);
        }
        return err;
}

/* Processes again what was piped since the last commit (after an abort,
 * as a consumer that goes back to the committed offsets). */
static brook_err_t brook__td_replay(brook_test_driver_t *td, char *errstr,
                                    size_t errstr_size)
{
        brook_err_t err;
        size_t i;
        for (i = td->inputs_committed; i < td->inputs.cnt; i++) {
                brook__tdrec_t *r = td->inputs.v[i];
                brook__node_t *src =
                        brook__topology_source_for(&td->topo, r->topic);
                if ((err = brook__td_process(td, r, src, errstr,
                                             errstr_size)) ||
                    (err = brook__td_drain(td, errstr, errstr_size)))
                        return err;
        }
        return BROOK_OK;
}

/* Aborts in a row before the driver gives up (each injected failure
 * fails one attempt only). */
#define BROOK__TD_MAX_ATTEMPTS 8

brook_err_t brook_test_driver_commit(brook_test_driver_t *td, char *errstr,
                                     size_t errstr_size)
{
        brook__td_io_t tio = {td, BROOK_OK};
        brook__commit_io_t io = {brook__td_deliver,
                                 td->eos ? brook__td_commit_txn
                                         : brook__td_commit_offsets,
                                 &tio, td->eos};
        brook__commit_t r = BROOK__COMMIT_FAILED;
        brook_err_t err = BROOK_OK;
        int attempt;

        if (td->failed) {
                brook__seterr(errstr, errstr_size,
                              "the test driver stopped on an earlier error");
                return BROOK_ERR_FATAL;
        }
        for (attempt = 0; attempt < BROOK__TD_MAX_ATTEMPTS; attempt++) {
                if (td->fail == BROOK__TD_FAIL_STATE_WRITE) {
                        td->fail = BROOK__TD_FAIL_NONE;
                        if (td->env.batch)
                                brook__statebatch_fail_next(td->env.batch);
                }
                if (td->fail == BROOK__TD_FAIL_STATE_APPLY) {
                        td->fail = BROOK__TD_FAIL_NONE;
                        if (td->env.batch)
                                brook__statebatch_fail_next_apply(
                                        td->env.batch);
                }
                r = brook__commit(&td->tasks, td->env.batch, &io, &err, errstr,
                                  errstr_size);
                if (r == BROOK__COMMIT_DONE)
                        return BROOK_OK;
                /* Retriable: the same commit again. */
                if (r == BROOK__COMMIT_STALLED)
                        continue;
                if (r != BROOK__COMMIT_ABORTED)
                        break;
                if ((err = brook__td_abort(td, errstr, errstr_size)) ||
                    (err = brook__td_replay(td, errstr, errstr_size))) {
                        td->failed = true;
                        return err;
                }
        }
        /* A record that failed to process leaves the driver usable; a
         * failed flush or state write does not. */
        if (tio.err)
                return tio.err;
        if (r != BROOK__COMMIT_FAILED) {
                char last[512];
                snprintf(last, sizeof last, "%s", errstr);
                brook__seterr(errstr, errstr_size,
                              "the commit failed %d times in a row: %s",
                              BROOK__TD_MAX_ATTEMPTS, last);
        }
        td->failed = true;
        return err ? err : BROOK_ERR_FATAL;
}

void brook__td_fail_next(brook_test_driver_t *td, brook__td_fail_t fail)
{
        td->fail = fail;
}

int64_t brook__td_aborts(const brook_test_driver_t *td)
{
        return td->aborts;
}

void brook_test_driver_set_auto_commit(brook_test_driver_t *td, bool on)
{
        td->auto_commit = on;
}

uint64_t brook_test_driver_store_approximate_bytes(brook_test_driver_t *td,
                                                   const char *name)
{
        size_t i, j;
        for (i = 0; i < td->tasks.cnt; i++) {
                brook__task_t *task = td->tasks.v[i];
                for (j = 0; j < task->stores.cnt; j++) {
                        brook__store_t *st = task->stores.v[j];
                        if (strcmp(st->def->name, name))
                                continue;
                        if (st->ops->version < 2 || !st->ops->approximate_bytes)
                                return 0;
                        return st->ops->approximate_bytes(st->inner);
                }
        }
        return 0;
}

brook_kvstore_t *brook_test_driver_kvstore(brook_test_driver_t *td,
                                           const char *name)
{
        size_t i, j;
        for (i = 0; i < td->tasks.cnt; i++) {
                brook__task_t *task = td->tasks.v[i];
                for (j = 0; j < task->stores.cnt; j++) {
                        brook__store_t *st = task->stores.v[j];
                        if (!strcmp(st->def->name, name) &&
                            st->def->kind == BROOK__STORE_KV)
                                return (brook_kvstore_t *)st;
                }
        }
        return NULL;
}

brook_versionedstore_t *
brook_test_driver_versionedstore(brook_test_driver_t *td, const char *name)
{
        size_t i, j;
        for (i = 0; i < td->tasks.cnt; i++) {
                brook__task_t *task = td->tasks.v[i];
                for (j = 0; j < task->stores.cnt; j++) {
                        brook__store_t *st = task->stores.v[j];
                        if (!strcmp(st->def->name, name) &&
                            st->def->kind == BROOK__STORE_VERSIONED)
                                return (brook_versionedstore_t *)st;
                }
        }
        return NULL;
}

brook_err_t brook_test_driver_advance_wall_clock(brook_test_driver_t *td,
                                                 int64_t advance_ms,
                                                 char *errstr,
                                                 size_t errstr_size)
{
        brook_err_t err;
        size_t i;

        if (td->failed) {
                brook__seterr(errstr, errstr_size,
                              "the test driver stopped on an earlier error");
                return BROOK_ERR_FATAL;
        }
        if (advance_ms < 0) {
                brook__seterr(errstr, errstr_size,
                              "the wall clock cannot go back (advance %" PRId64
                              " ms)",
                              advance_ms);
                return BROOK_ERR_INVALID_ARG;
        }
        td->wall_clock = advance_ms > INT64_MAX - td->wall_clock
                                 ? INT64_MAX
                                 : td->wall_clock + advance_ms;
        for (i = 0; i < td->tasks.cnt; i++) {
                if ((err = brook__task_punctuate_wall(td->tasks.v[i],
                                                      td->wall_clock, errstr,
                                                      errstr_size))) {
                        td->failed = true;
                        return err;
                }
        }
        /* Records that waited for an empty partition may go now
         * (max.task.idle.ms passed); what the punctuators and they wrote
         * to topics the topology reads is processed now, as after a
         * pipe. */
        for (i = 0; i < td->tasks.cnt; i++)
                if ((err = brook__td_run(td, td->tasks.v[i], errstr,
                                         errstr_size)))
                        return err;
        if ((err = brook__td_drain(td, errstr, errstr_size)))
                return err;
        if (td->auto_commit)
                return brook_test_driver_commit(td, errstr, errstr_size);
        return BROOK_OK;
}

bool brook_test_driver_read(brook_test_driver_t *td, const char *topic,
                            brook_test_record_t *out)
{
        size_t i;
        for (i = 0; i < td->topics.cnt; i++) {
                brook__tdtopic_t *t = td->topics.v[i];
                if (strcmp(t->name, topic))
                        continue;
                if (t->read >= brook__td_visible(td, t))
                        return false;
                *out = ((brook__tdrec_t *)t->written.v[t->read++])->pub;
                return true;
        }
        return false;
}

size_t brook_test_driver_unread(brook_test_driver_t *td, const char *topic)
{
        size_t i;
        for (i = 0; i < td->topics.cnt; i++) {
                brook__tdtopic_t *t = td->topics.v[i];
                if (!strcmp(t->name, topic))
                        return brook__td_visible(td, t) - t->read;
        }
        return 0;
}

/* ------------------------------------------------------- typed topics */

brook_test_input_t *brook_test_driver_input(brook_test_driver_t *td,
                                            const char *topic,
                                            const brook_serde_t *key_serde,
                                            const brook_serde_t *value_serde,
                                            const brook_test_input_opts_t *opts,
                                            char *errstr, size_t errstr_size)
{
        brook_test_input_t *in;

        if (!td || !topic || !key_serde || !value_serde) {
                brook__seterr(errstr, errstr_size,
                              "brook_test_driver_input: %s is NULL",
                              !td          ? "td"
                              : !topic     ? "topic"
                              : !key_serde ? "key_serde"
                                           : "value_serde");
                return NULL;
        }
        if (opts && opts->auto_advance_ms < 0) {
                brook__seterr(errstr, errstr_size,
                              "input topic \"%s\": auto_advance_ms is "
                              "negative (%" PRId64 ")",
                              topic, opts->auto_advance_ms);
                return NULL;
        }
        /* Checked here rather than at the first pipe, so that a misspelt
         * topic fails where the test names it. */
        if (!brook__topology_source_for(&td->topo, topic)) {
                brook__seterr(errstr, errstr_size,
                              "no source of the topology reads topic \"%s\"",
                              topic);
                return NULL;
        }
        in = brook__xcalloc(1, sizeof *in);
        in->td = td;
        in->topic = brook__xstrdup(topic);
        in->key_serde = brook__serde_ref(key_serde);
        in->value_serde = brook__serde_ref(value_serde);
        in->clock = opts ? opts->start_timestamp : td->wall_clock;
        in->auto_advance = opts ? opts->auto_advance_ms : 0;
        in->keybuf = brook_buf_new();
        in->valbuf = brook_buf_new();
        brook__ptrvec_push(&td->ins, in);
        return in;
}

/* Encodes @p obj into @p buf with @p serde; *@p datap is NULL for a NULL
 * object (Kafka's null) and never NULL otherwise, even when the encoding is
 * empty (brook_buf_data() promises that). */
static brook_err_t brook__td_encode(brook_test_input_t *in, const char *what,
                                    const brook_serde_t *serde, const void *obj,
                                    brook_buf_t *buf, const void **datap,
                                    size_t *sizep, char *errstr,
                                    size_t errstr_size)
{
        char msg[512];

        brook_buf_clear(buf);
        *datap = NULL;
        *sizep = 0;
        if (!obj)
                return BROOK_OK;
        if (brook__serde_serialize_to(in->topic, serde, obj, buf, msg,
                                      sizeof msg)) {
                brook__seterr(errstr, errstr_size,
                              "input topic \"%s\": the %s serde \"%s\" could "
                              "not encode the %s: %s",
                              in->topic, what, brook_serde_name(serde), what,
                              msg);
                return BROOK_ERR_SERDE;
        }
        *datap = brook_buf_data(buf);
        *sizep = brook_buf_len(buf);
        return BROOK_OK;
}

brook_err_t brook_test_input_pipe_headers(brook_test_input_t *in,
                                          const void *key, const void *value,
                                          int64_t timestamp,
                                          const brook_header_t *headers,
                                          size_t header_cnt, char *errstr,
                                          size_t errstr_size)
{
        const void *kdata, *vdata;
        size_t ksize, vsize;
        brook_err_t err;

        if (!in) {
                brook__seterr(errstr, errstr_size,
                              "brook_test_input_pipe: in is NULL");
                return BROOK_ERR_INVALID_ARG;
        }
        if ((err = brook__td_encode(in, "key", in->key_serde, key, in->keybuf,
                                    &kdata, &ksize, errstr, errstr_size)) ||
            (err = brook__td_encode(in, "value", in->value_serde, value,
                                    in->valbuf, &vdata, &vsize, errstr,
                                    errstr_size)))
                return err;
        /* The clock moves only for a record its serdes could encode, so
         * that a test's deliberate serde failure leaves no gap in the
         * timestamps that follow. */
        if (timestamp == BROOK_TEST_TIMESTAMP_AUTO) {
                timestamp = in->clock;
                in->clock += in->auto_advance;
        }
        return brook_test_driver_pipe(in->td, in->topic, kdata, ksize, vdata,
                                      vsize, timestamp, headers, header_cnt,
                                      errstr, errstr_size);
}

brook_err_t brook_test_input_pipe(brook_test_input_t *in, const void *key,
                                  const void *value, char *errstr,
                                  size_t errstr_size)
{
        return brook_test_input_pipe_headers(in, key, value,
                                             BROOK_TEST_TIMESTAMP_AUTO, NULL, 0,
                                             errstr, errstr_size);
}

brook_err_t brook_test_input_pipe_value(brook_test_input_t *in,
                                        const void *value, char *errstr,
                                        size_t errstr_size)
{
        return brook_test_input_pipe_headers(in, NULL, value,
                                             BROOK_TEST_TIMESTAMP_AUTO, NULL, 0,
                                             errstr, errstr_size);
}

brook_err_t brook_test_input_pipe_at(brook_test_input_t *in, const void *key,
                                     const void *value, int64_t timestamp,
                                     char *errstr, size_t errstr_size)
{
        return brook_test_input_pipe_headers(in, key, value, timestamp, NULL, 0,
                                             errstr, errstr_size);
}

brook_err_t brook_test_input_advance_time(brook_test_input_t *in,
                                          int64_t advance_ms)
{
        if (!in || advance_ms < 0)
                return BROOK_ERR_INVALID_ARG;
        in->clock += advance_ms;
        return BROOK_OK;
}

brook_test_output_t *brook_test_driver_output(brook_test_driver_t *td,
                                              const char *topic,
                                              const brook_serde_t *key_serde,
                                              const brook_serde_t *value_serde)
{
        brook_test_output_t *out;

        if (!td || !topic || !key_serde || !value_serde)
                return NULL;
        out = brook__xcalloc(1, sizeof *out);
        out->td = td;
        out->topic = brook__xstrdup(topic);
        out->key_serde = brook__serde_ref(key_serde);
        out->value_serde = brook__serde_ref(value_serde);
        out->arena = brook_arena_new();
        brook__ptrvec_push(&td->outs, out);
        return out;
}

/* Decodes one part of @p raw (@p what: "key" or "value"). */
static brook_err_t brook__td_decode(brook_test_output_t *out, const char *what,
                                    const brook_serde_t *serde,
                                    const brook_test_record_t *raw,
                                    const void *data, size_t size, void **objp,
                                    char *errstr, size_t errstr_size)
{
        char msg[512];

        if (brook__serde_deserialize_from(out->topic, serde, data, size,
                                          out->arena, objp, msg, sizeof msg)) {
                brook__seterr(errstr, errstr_size,
                              "topic \"%s\" offset %" PRId64 ": the %s serde "
                              "\"%s\" could not decode the %s: %s",
                              out->topic, raw->offset, what,
                              brook_serde_name(serde), what, msg);
                return BROOK_ERR_SERDE;
        }
        return BROOK_OK;
}

/* Takes the next unread record of @p out's topic raw, decoded into
 * *@p rec, or fails with BROOK_ERR_NOT_FOUND if there is none. */
static brook_err_t brook__td_output_next(brook_test_output_t *out,
                                         brook_test_record_t *raw,
                                         brook_test_typed_record_t *rec,
                                         char *errstr, size_t errstr_size)
{
        void *key, *value;
        brook_err_t err;

        if (!brook_test_driver_read(out->td, out->topic, raw)) {
                brook__seterr(errstr, errstr_size,
                              "topic \"%s\" has no unread record", out->topic);
                return BROOK_ERR_NOT_FOUND;
        }
        /* The raw bytes live until the driver goes, as long as the arena,
         * so a decoded object may point into them (the bytes serde's do). */
        if ((err = brook__td_decode(out, "key", out->key_serde, raw, raw->key,
                                    raw->key_size, &key, errstr,
                                    errstr_size)) ||
            (err = brook__td_decode(out, "value", out->value_serde, raw,
                                    raw->value, raw->value_size, &value, errstr,
                                    errstr_size)))
                return err;
        rec->topic = raw->topic;
        rec->partition = raw->partition;
        rec->offset = raw->offset;
        rec->key = key;
        rec->value = value;
        rec->timestamp = raw->timestamp;
        rec->headers = raw->headers;
        rec->header_cnt = raw->header_cnt;
        return BROOK_OK;
}

brook_err_t brook_test_output_read(brook_test_output_t *out,
                                   brook_test_typed_record_t *rec, char *errstr,
                                   size_t errstr_size)
{
        brook_test_record_t raw;

        if (!out || !rec) {
                brook__seterr(errstr, errstr_size,
                              "brook_test_output_read: %s is NULL",
                              !out ? "out" : "rec");
                return BROOK_ERR_INVALID_ARG;
        }
        return brook__td_output_next(out, &raw, rec, errstr, errstr_size);
}

size_t brook_test_output_unread(const brook_test_output_t *out)
{
        return out ? brook_test_driver_unread(out->td, out->topic) : 0;
}

bool brook_test_output_is_empty(const brook_test_output_t *out)
{
        return brook_test_output_unread(out) == 0;
}

brook_err_t brook_test_output_read_map(brook_test_output_t *out,
                                       brook_test_kv_t **kvsp, size_t *cntp,
                                       char *errstr, size_t errstr_size)
{
        /* Keys compare by their encoded bytes (a decoded object has no
         * equality), kept next to each entry while the map is built. */
        brook_test_record_t *keys = NULL, raw;
        brook_test_typed_record_t rec;
        brook_test_kv_t *kvs = NULL;
        size_t cnt = 0, cap = 0, i;
        brook_err_t err = BROOK_OK;

        if (!out || !kvsp || !cntp) {
                brook__seterr(errstr, errstr_size,
                              "brook_test_output_read_map: %s is NULL",
                              !out    ? "out"
                              : !kvsp ? "kvsp"
                                      : "cntp");
                return BROOK_ERR_INVALID_ARG;
        }
        *kvsp = NULL;
        *cntp = 0;
        while (!brook_test_output_is_empty(out)) {
                if ((err = brook__td_output_next(out, &raw, &rec, errstr,
                                                 errstr_size)))
                        break;
                for (i = 0; i < cnt; i++)
                        if ((!keys[i].key) == (!raw.key) &&
                            keys[i].key_size == raw.key_size &&
                            (!raw.key ||
                             !memcmp(keys[i].key, raw.key, raw.key_size)))
                                break;
                if (i == cnt) {
                        if (cnt == cap) {
                                cap = cap ? 2 * cap : 8;
                                keys = brook__xrealloc(keys,
                                                       cap * sizeof *keys);
                                kvs = brook__xrealloc(kvs, cap * sizeof *kvs);
                        }
                        keys[cnt] = raw;
                        kvs[cnt].key = rec.key;
                        cnt++;
                }
                kvs[i].value = rec.value;
        }
        if (!err && cnt) {
                *kvsp = brook_arena_memdup(out->arena, kvs, cnt * sizeof *kvs);
                *cntp = cnt;
        }
        free(keys);
        free(kvs);
        return err;
}
