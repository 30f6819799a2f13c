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
} brook__tdtopic_t;

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
        size_t pending_head;
        int64_t wall_clock;
        bool failed;
        bool auto_commit;
        /* State: a RocksDB in a directory of its own, removed at destroy. */
        char *state_dir;
        brook__stateenv_t env;
        /** Changelog ends, one per changelog topic (one partition). */
        struct brook__tdslot {
                char *topic;
                int64_t end;
        } * slots;
        size_t slot_cnt;
};

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
        r = brook__tdrec_new(t, key, key_size, value, value_size, timestamp);
        brook__tdrec_set_headers(r, hdrs);
        brook__ptrvec_push(&t->written, r);
        /* A topic the topology reads is fed back in, after the record that
         * wrote it is done (as a repartition topic would be). */
        if (brook__topology_source_for(&td->topo, topic))
                brook__ptrvec_push(&td->pending, r);
        return BROOK_OK;
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
        for (i = 0; i < td->slot_cnt; i++)
                free(td->slots[i].topic);
        free(td->slots);
        brook__cache_destroy(td->rt.cache);
        brook__statebatch_destroy(td->env.batch);
        brook__statedb_close(td->env.db);
        if (td->state_dir) {
                brook__rmtree(td->state_dir);
                free(td->state_dir);
        }
        brook_arena_destroy(td->rt.arena);
        brook_buf_destroy(td->rt.keybuf);
        brook_buf_destroy(td->rt.valbuf);
        free(td->rt.dlq_topic);
        brook__topology_free(&td->topo);
        brook_builder_destroy(td->b);
        brook_conf_destroy(td->conf);
        free(td);
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
        td->rt.collector = &td->collector;
        td->rt.topo = &td->topo;
        td->rt.conf = conf;
        td->rt.deser_handler = brook__conf_handler(
                conf, "default.deserialization.exception.handler");
        td->rt.proc_handler = brook__conf_handler(
                conf, "default.processing.exception.handler");
        td->rt.prod_handler = brook__conf_handler(
                conf, "default.production.exception.handler");
        td->rt.dlq_topic = brook__xstrdup(
                brook_conf_get(conf, "errors.deadletterqueue.topic.name"));
        td->rt.wall_clock = brook__td_wall_clock;
        td->rt.keybuf = brook_buf_new();
        td->rt.valbuf = brook_buf_new();
        td->rt.arena = brook_arena_new();

        if (brook__td_open_state(td, errstr, errstr_size)) {
                td->b = NULL;
                td->conf = NULL;
                brook_test_driver_destroy(td);
                brook_conf_destroy(own);
                return NULL;
        }
        for (i = 0; i < td->topo.sub_cnt; i++) {
                brook__subtopo_t *sub = &td->topo.subs[i];
                brook__task_t *task;
                size_t j;
                bool ok;
                sub->partitions = 1;
                task = brook__task_new(&td->rt, sub, 0);
                brook__ptrvec_push(&td->tasks, task);
                /* Stores start empty here: nothing to restore. */
                ok = !brook__task_open_stores(task, errstr, errstr_size);
                for (j = 0; ok && j < task->stores.cnt; j++) {
                        brook_kvstore_t *st = task->stores.v[j];
                        atomic_store(&st->state, BROOK__STORE_ACTIVE);
                }
                if (!ok || brook__task_init(task, errstr, errstr_size)) {
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
        brook__pqueue_push(q, &in);
        task->queued++;
        while (task->queued) {
                brook_err_t err = brook__task_process_one(task, NULL, errstr,
                                                          errstr_size);
                if (err) {
                        td->failed = true;
                        return err;
                }
        }
        return BROOK_OK;
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

brook_err_t brook_test_driver_commit(brook_test_driver_t *td, char *errstr,
                                     size_t errstr_size)
{
        size_t i;
        brook_err_t err;

        if (td->failed) {
                brook__seterr(errstr, errstr_size,
                              "the test driver stopped on an earlier error");
                return BROOK_ERR_FATAL;
        }
        /* Flushing a cache forwards records, which may land in a topic the
         * topology reads (a repartition topic) and dirty caches further
         * down: flush again until nothing moves. */
        do {
                for (i = 0; i < td->tasks.cnt; i++) {
                        if ((err = brook__task_flush_caches(
                                     td->tasks.v[i], errstr, errstr_size))) {
                                td->failed = true;
                                return err;
                        }
                }
        } while (td->pending_head < td->pending.cnt &&
                 !(err = brook__td_drain(td, errstr, errstr_size)));
        if (err)
                return err;
        for (i = 0; i < td->tasks.cnt; i++)
                if ((err = brook__task_flush_stores(td->tasks.v[i], errstr,
                                                    errstr_size)))
                        goto fail;
        if (td->env.batch &&
            (err = brook__statebatch_write(td->env.batch, errstr, errstr_size)))
                goto fail;
        return BROOK_OK;
fail:
        td->failed = true;
        return err;
}

void brook_test_driver_set_auto_commit(brook_test_driver_t *td, bool on)
{
        td->auto_commit = on;
}

brook_kvstore_t *brook_test_driver_kvstore(brook_test_driver_t *td,
                                           const char *name)
{
        size_t i, j;
        for (i = 0; i < td->tasks.cnt; i++) {
                brook__task_t *task = td->tasks.v[i];
                for (j = 0; j < task->stores.cnt; j++) {
                        brook_kvstore_t *st = task->stores.v[j];
                        if (!strcmp(st->def->name, name))
                                return st;
                }
        }
        return NULL;
}

void brook_test_driver_advance_wall_clock(brook_test_driver_t *td,
                                          int64_t advance_ms)
{
        size_t i;
        /* Saturates: the mocked clock stops at the end of int64 time
         * rather than wrapping into the past. */
        td->wall_clock =
                advance_ms > 0 && td->wall_clock > INT64_MAX - advance_ms
                        ? INT64_MAX
                        : td->wall_clock + advance_ms;
        for (i = 0; i < td->tasks.cnt; i++)
                brook__task_punctuate_wall(td->tasks.v[i], td->wall_clock);
}

bool brook_test_driver_read(brook_test_driver_t *td, const char *topic,
                            brook_test_record_t *out)
{
        size_t i;
        for (i = 0; i < td->topics.cnt; i++) {
                brook__tdtopic_t *t = td->topics.v[i];
                if (strcmp(t->name, topic))
                        continue;
                if (t->read >= t->written.cnt)
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
                        return t->written.cnt - t->read;
        }
        return 0;
}
