/*
 * brook — tasks: one per (sub-topology, partition). A task owns the record
 * queues of its partitions, its stream time, its processor instances and
 * their punctuators, and pushes each record depth-first through the
 * sub-topology (Kafka Streams' StreamTask).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brook_int.h"
#include "store_int.h"

void brook__runtime_init(brook__runtime_t *rt, brook__collector_t *collector,
                         const brook__topology_t *topo,
                         const brook_conf_t *conf,
                         int64_t (*wall_clock)(brook__runtime_t *rt),
                         int64_t (*fetched_lag)(brook__runtime_t *rt,
                                                brook__pqueue_t *q))
{
        rt->collector = collector;
        rt->topo = topo;
        rt->conf = conf;
        rt->deser_handler = brook__conf_handler(
                conf, "default.deserialization.exception.handler");
        rt->proc_handler = brook__conf_handler(
                conf, "default.processing.exception.handler");
        rt->prod_handler = brook__conf_handler(
                conf, "default.production.exception.handler");
        rt->dlq_topic = brook__xstrdup(
                brook_conf_get(conf, "errors.deadletterqueue.topic.name"));
        rt->wall_clock = wall_clock;
        rt->fetched_lag = fetched_lag;
        rt->ts_policy = brook__conf_ts_policy(conf);
        rt->max_task_idle_ms = brook__conf_int(conf, "max.task.idle.ms");
        rt->metrics_debug = !strcmp(
                brook_conf_get(conf, "metrics.recording.level"), "DEBUG");
        rt->keybuf = brook_buf_new();
        rt->valbuf = brook_buf_new();
        rt->arena = brook_arena_new();
}

void brook__runtime_free(brook__runtime_t *rt)
{
        brook_arena_destroy(rt->arena);
        brook_arena_destroy(rt->ts_arena);
        rt->arena = rt->ts_arena = NULL;
        brook_buf_destroy(rt->keybuf);
        brook_buf_destroy(rt->valbuf);
        rt->keybuf = rt->valbuf = NULL;
        free(rt->dlq_topic);
        rt->dlq_topic = NULL;
}

brook__task_t *brook__task_new(brook__runtime_t *rt, brook__subtopo_t *sub,
                               int32_t partition)
{
        brook__task_t *task = brook__xcalloc(1, sizeof *task);
        const brook_builder_t *b = rt->topo->b;
        size_t i;

        snprintf(task->id, sizeof task->id, "%d_%" PRId32, sub->id, partition);
        task->sub_id = sub->id;
        task->partition = partition;
        task->sub = sub;
        task->rt = rt;
        task->stream_time = -1;
        task->ctx_cnt = b->nodes.cnt;
        task->ctxs = brook__xcalloc(task->ctx_cnt, sizeof *task->ctxs);
        for (i = 0; i < sub->nodes.cnt; i++) {
                brook__node_t *node = sub->nodes.v[i];
                brook_ctx_t *ctx = &task->ctxs[node->idx];
                ctx->task = task;
                ctx->node = node;
                if (node->kind == BROOK__NODE_SINK && node->topic)
                        ctx->sink_topic =
                                node->sink_internal
                                        ? brook__topology_internal_topic(
                                                  rt->topo, node->topic)
                                        : brook__xstrdup(node->topic);
        }
        return task;
}

brook_err_t brook__task_open_stores(brook__task_t *task, char *errstr,
                                    size_t errstr_size)
{
        const brook_builder_t *b = task->rt->topo->b;
        size_t i;
        for (i = 0; i < b->stores.cnt; i++) {
                brook__storedef_t *def = b->stores.v[i];
                brook__store_t *st;
                brook_err_t err;
                if (def->subtopology != task->sub_id)
                        continue;
                if ((err = brook__store_open(
                             def, task, task->rt->env, task->rt->cache,
                             task->rt->state_dir, &st, errstr, errstr_size)))
                        return err;
                brook__ptrvec_push(&task->stores, st);
        }
        return BROOK_OK;
}

brook_err_t brook__task_flush_caches(brook__task_t *task, char *errstr,
                                     size_t errstr_size)
{
        size_t i;
        brook_err_t err = BROOK_OK;
        task->prod_failed = false;
        task->fatal_failed = false;
        for (i = 0; i < task->stores.cnt && !err; i++) {
                err = brook__store_flush_cache(task->stores.v[i], errstr,
                                               errstr_size);
                /* Records the flush forwarded are done with. */
                brook_arena_reset(task->rt->arena);
                if (task->fatal_failed) {
                        brook__seterr(errstr, errstr_size,
                                      "task %s: flushing the record caches: "
                                      "%s",
                                      task->id, task->fatal_errbuf);
                        return BROOK_ERR_FATAL;
                }
                if (task->prod_failed) {
                        brook__seterr(errstr, errstr_size,
                                      "task %s: flushing the record caches: "
                                      "production error: %s",
                                      task->id, task->prod_errbuf);
                        return BROOK_ERR_FATAL;
                }
        }
        return err;
}

brook_err_t brook__task_flush_stores(brook__task_t *task, char *errstr,
                                     size_t errstr_size)
{
        size_t i;
        brook_err_t err;
        for (i = 0; i < task->stores.cnt; i++)
                if ((err = brook__store_flush_inner(task->stores.v[i], errstr,
                                                    errstr_size)))
                        return err;
        return BROOK_OK;
}

static const char *const brook__store_kind_names[] = {
        [BROOK__STORE_KV] = "a key-value store",
        [BROOK__STORE_WINDOW] = "a window store",
        [BROOK__STORE_SESSION] = "a session store",
        [BROOK__STORE_VERSIONED] = "a versioned store",
};

brook_err_t brook__ctx_store(brook_ctx_t *ctx, const char *name,
                             brook__storekind_t kind, brook__store_t **stp,
                             char *errstr, size_t errstr_size)
{
        brook__task_t *task = ctx->task;
        size_t i, j;
        *stp = NULL;
        for (i = 0; name && i < task->stores.cnt; i++) {
                brook__store_t *st = task->stores.v[i];
                if (strcmp(st->def->name, name))
                        continue;
                for (j = 0; j < st->def->proc_cnt; j++) {
                        if (st->def->procs[j] != ctx->node->idx)
                                continue;
                        if (st->def->kind != kind) {
                                brook__seterr(
                                        errstr, errstr_size,
                                        "processor \"%s\": store \"%s\" is "
                                        "%s, not %s",
                                        ctx->node->name, name,
                                        brook__store_kind_names[st->def->kind],
                                        brook__store_kind_names[kind]);
                                return BROOK_ERR_INVALID_ARG;
                        }
                        *stp = st;
                        return BROOK_OK;
                }
                break;
        }
        /* Kafka Streams' getStateStore() message, in substance. */
        brook__seterr(errstr, errstr_size,
                      "processor \"%s\" has no access to store \"%s\": it "
                      "is not connected to the processor (connect it with "
                      "brook_builder_add_store() or "
                      "brook_builder_connect_store())",
                      ctx->node->name, name ? name : "(null)");
        return BROOK_ERR_NOT_FOUND;
}

const brook__storedef_t *brook__ctx_storedef(brook_ctx_t *ctx, const char *name)
{
        brook__task_t *task = ctx->task;

        for (size_t i = 0; i < task->stores.cnt; i++) {
                brook__store_t *st = task->stores.v[i];
                if (!strcmp(st->def->name, name))
                        return st->def;
        }
        return NULL;
}

const brook_serde_t *brook__ctx_default_serde(brook_ctx_t *ctx, bool key)
{
        const brook__topology_t *topo = ctx->task->rt->topo;

        return key ? topo->default_key_serde : topo->default_value_serde;
}

int64_t brook__ctx_conf_int(brook_ctx_t *ctx, const char *name)
{
        return brook__conf_int(ctx->task->rt->conf, name);
}

void *brook__ctx_peer_state(brook_ctx_t *ctx, int node_idx)
{
        brook__task_t *task = ctx->task;
        brook_ctx_t *peer;

        if (node_idx < 0 || (size_t)node_idx >= task->ctx_cnt)
                return NULL;
        peer = &task->ctxs[node_idx];
        return peer->inited ? peer->state : NULL;
}

brook_err_t brook_ctx_kvstore(brook_ctx_t *ctx, const char *name,
                              brook_kvstore_t **stp, char *errstr,
                              size_t errstr_size)
{
        brook__store_t *st;
        brook_err_t err = brook__ctx_store(ctx, name, BROOK__STORE_KV, &st,
                                           errstr, errstr_size);
        *stp = err ? NULL : (brook_kvstore_t *)st;
        return err;
}

brook_err_t brook__task_init(brook__task_t *task, char *errstr,
                             size_t errstr_size)
{
        size_t i;
        for (i = 0; i < task->sub->nodes.cnt; i++) {
                brook__node_t *node = task->sub->nodes.v[i];
                brook_ctx_t *ctx = &task->ctxs[node->idx];
                char why[512];
                why[0] = '\0';
                if (node->kind != BROOK__NODE_PROCESSOR)
                        continue;
                if (!node->def.init) {
                        ctx->state = node->def.opaque;
                } else if (node->def.init(ctx, node->def.opaque, &ctx->state,
                                          why, sizeof why)) {
                        brook__seterr(errstr, errstr_size,
                                      "task %s: processor \"%s\" failed to "
                                      "initialize: %s",
                                      task->id, node->name,
                                      *why ? why : "no reason given");
                        return BROOK_ERR_PROCESSING;
                }
                ctx->inited = true;
        }
        return BROOK_OK;
}

void brook__task_destroy(brook__task_t *task, void (*release)(brook__inrec_t *))
{
        size_t i;
        if (!task)
                return;
        for (i = 0; i < task->sub->nodes.cnt; i++) {
                brook__node_t *node = task->sub->nodes.v[i];
                brook_ctx_t *ctx = &task->ctxs[node->idx];
                if (ctx->inited && node->def.close)
                        node->def.close(ctx, ctx->state);
                /* Records a close() forwarded are gone with the arena. */
                brook_arena_reset(task->rt->arena);
                free(ctx->sink_topic);
        }
        for (i = 0; i < task->stores.cnt; i++)
                brook__store_close(task->stores.v[i]);
        brook__ptrvec_free(&task->stores);
        for (i = 0; i < task->queues.cnt; i++) {
                brook__pqueue_t *q = task->queues.v[i];
                while (q->cnt) {
                        if (release)
                                release(&q->ring[q->head]);
                        q->head = (q->head + 1) % q->cap;
                        q->cnt--;
                }
                free(q->ring);
                free(q->topic);
                free(q);
        }
        brook__ptrvec_free(&task->queues);
        free(task->puncs);
        free(task->ctxs);
        free(task);
}

brook__pqueue_t *brook__task_queue(brook__task_t *task, const char *topic,
                                   brook__node_t *source)
{
        brook__pqueue_t *q;
        size_t i;
        for (i = 0; i < task->queues.cnt; i++) {
                q = task->queues.v[i];
                if (!strcmp(q->topic, topic))
                        return q;
        }
        q = brook__xcalloc(1, sizeof *q);
        q->topic = brook__xstrdup(topic);
        q->partition = task->partition;
        q->source = source;
        q->next_offset = -1;
        q->committed = -1;
        q->purged = -1;
        q->partition_time = -1;
        q->fetch_pos = -1;
        q->eof_pos = -1;
        q->idle_deadline = -1;
        brook__ptrvec_push(&task->queues, q);
        return q;
}

static void brook__pqueue_push(brook__pqueue_t *q, const brook__inrec_t *in)
{
        if (q->cnt == q->cap) {
                size_t cap = q->cap ? q->cap * 2 : 64, i;
                brook__inrec_t *ring = brook__xmalloc(cap * sizeof *ring);
                for (i = 0; i < q->cnt; i++)
                        ring[i] = q->ring[(q->head + i) % q->cap];
                free(q->ring);
                q->ring = ring;
                q->cap = cap;
                q->head = 0;
        }
        q->ring[(q->head + q->cnt) % q->cap] = *in;
        q->cnt++;
}

/* ------------------------------------------------------------ the context */

static brook_err_t brook__dispatch(brook__task_t *task, brook__node_t *node,
                                   brook_record_t *rec, char *errstr,
                                   size_t errstr_size);

brook_err_t brook_ctx_forward(brook_ctx_t *ctx, brook_record_t *rec,
                              char *errstr, size_t errstr_size)
{
        brook__node_t *node = ctx->node;
        brook__task_t *task = ctx->task;
        const brook_builder_t *b = task->rt->topo->b;
        size_t i;
        for (i = 0; i < node->child_cnt; i++) {
                brook_err_t err =
                        brook__dispatch(task, b->nodes.v[node->children[i]],
                                        rec, errstr, errstr_size);
                if (err)
                        return err;
        }
        return BROOK_OK;
}

brook_err_t brook_ctx_forward_to(brook_ctx_t *ctx, brook_record_t *rec,
                                 const char *child, char *errstr,
                                 size_t errstr_size)
{
        brook__node_t *node = ctx->node;
        brook__task_t *task = ctx->task;
        const brook_builder_t *b = task->rt->topo->b;
        size_t i;
        for (i = 0; child && i < node->child_cnt; i++) {
                brook__node_t *c = b->nodes.v[node->children[i]];
                if (!strcmp(c->name, child))
                        return brook__dispatch(task, c, rec, errstr,
                                               errstr_size);
        }
        brook__seterr(errstr, errstr_size, "no child named \"%s\"",
                      child ? child : "(null)");
        return BROOK_ERR_NOT_FOUND;
}

static brook__recmeta_t *brook__meta_empty(brook_arena_t *arena)
{
        brook__recmeta_t *meta = brook_arena_alloc(arena, sizeof *meta);
        memset(meta, 0, sizeof *meta);
        meta->partition = -1;
        meta->offset = -1;
        meta->headers.parsed = true;
        return meta;
}

brook_record_t *brook_ctx_record_new(brook_ctx_t *ctx,
                                     const brook_record_t *parent, void *key,
                                     void *value, int64_t timestamp)
{
        brook_arena_t *arena = ctx->task->rt->arena;
        brook_record_t *rec = brook_arena_alloc(arena, sizeof *rec);
        rec->key = key;
        rec->value = value;
        rec->timestamp = timestamp;
        rec->arena = arena;
        rec->meta = parent ? parent->meta : brook__meta_empty(arena);
        return rec;
}

const char *brook_ctx_task_id(const brook_ctx_t *ctx)
{
        return ctx->task->id;
}

int32_t brook_ctx_partition(const brook_ctx_t *ctx)
{
        return ctx->task->partition;
}

const char *brook_ctx_application_id(const brook_ctx_t *ctx)
{
        return ctx->task->rt->topo->app_id;
}

const char *brook_ctx_node_name(const brook_ctx_t *ctx)
{
        return ctx->node->name;
}

int64_t brook_ctx_stream_time(const brook_ctx_t *ctx)
{
        return ctx->task->stream_time;
}

int64_t brook_ctx_wall_clock(const brook_ctx_t *ctx)
{
        brook__runtime_t *rt = ctx->task->rt;
        return rt->wall_clock(rt);
}

/* @p a + @p b for @p b >= 0, saturating at INT64_MAX: a due time past the
 * end of int64 time is one that never comes. */
static int64_t brook__add_sat(int64_t a, int64_t b)
{
        return a > INT64_MAX - b ? INT64_MAX : a + b;
}

brook_err_t brook_ctx_schedule(brook_ctx_t *ctx, int64_t interval_ms,
                               brook_punctuation_type_t type,
                               brook_punctuate_fn fn, void *opaque, int *idp,
                               char *errstr, size_t errstr_size)
{
        brook__task_t *task = ctx->task;
        brook__punctuator_t *p;

        if (idp)
                *idp = -1;
        if (interval_ms < 1 || !fn ||
            (type != BROOK_PUNCTUATE_STREAM_TIME &&
             type != BROOK_PUNCTUATE_WALL_CLOCK)) {
                brook__seterr(errstr, errstr_size,
                              "node \"%s\": cannot schedule a punctuator %s",
                              ctx->node->name,
                              !fn ? "without a function"
                              : interval_ms < 1
                                      ? "with an interval below 1 ms"
                                      : "of an unknown punctuation type");
                return BROOK_ERR_INVALID_ARG;
        }
        if (task->punc_cnt == task->punc_cap) {
                task->punc_cap = task->punc_cap ? task->punc_cap * 2 : 4;
                task->puncs = brook__xrealloc(
                        task->puncs, task->punc_cap * sizeof *task->puncs);
        }
        p = &task->puncs[task->punc_cnt++];
        memset(p, 0, sizeof *p);
        p->id = task->next_punc_id++;
        p->node_idx = ctx->node->idx;
        p->type = type;
        p->interval = interval_ms;
        p->fn = fn;
        p->opaque = opaque;
        /* As Kafka Streams: stream time is aligned to 0 and punctuates as
         * soon as there is data; wall clock fires one interval from now. */
        p->next = type == BROOK_PUNCTUATE_STREAM_TIME
                          ? 0
                          : brook__add_sat(brook_ctx_wall_clock(ctx),
                                           interval_ms);
        if (idp)
                *idp = p->id;
        return BROOK_OK;
}

void brook_ctx_cancel(brook_ctx_t *ctx, int id)
{
        size_t i;
        for (i = 0; i < ctx->task->punc_cnt; i++)
                if (ctx->task->puncs[i].id == id &&
                    ctx->task->puncs[i].node_idx == ctx->node->idx)
                        ctx->task->puncs[i].cancelled = true;
}

/*
 * Fires every due punctuator of @p type at time @p now. A punctuator's
 * failure goes to the processing exception handler, as in Kafka Streams
 * (KIP-1033): `fail` returns it (naming the node, the time and the reason);
 * the other handlers log it and go on, since there is no record to skip or
 * dead-letter.
 */
static brook_err_t brook__task_punctuate(brook__task_t *task,
                                         brook_punctuation_type_t type,
                                         int64_t now, char *errstr,
                                         size_t errstr_size)
{
        const char *kind =
                type == BROOK_PUNCTUATE_STREAM_TIME ? "stream" : "wall-clock";
        size_t i;
        /* Index loop: a punctuator may schedule another (realloc). */
        for (i = 0; i < task->punc_cnt; i++) {
                brook__punctuator_t *p = &task->puncs[i];
                brook_ctx_t *ctx;
                brook_err_t err;
                char why[512];
                uint64_t steps, room;
                why[0] = '\0';
                if (p->cancelled || p->type != type || now < p->next)
                        continue;
                /* Skip missed intervals rather than firing a burst: the
                 * next due time is the first p->next + k * interval
                 * (k >= 1) after now. Unsigned, because now - p->next need
                 * not fit an int64_t (times may be negative), and neither
                 * may the product. A due time past INT64_MAX never comes,
                 * so such a punctuator is done, as if cancelled. */
                steps = ((uint64_t)now - (uint64_t)p->next) /
                                (uint64_t)p->interval +
                        1;
                room = (uint64_t)INT64_MAX - (uint64_t)p->next;
                if (steps > room / (uint64_t)p->interval)
                        p->cancelled = true;
                else
                        p->next = (int64_t)((uint64_t)p->next +
                                            steps * (uint64_t)p->interval);
                ctx = &task->ctxs[p->node_idx];
                task->cur_ts = now;
                task->fwd_failed = false;
                task->prod_failed = false;
                task->fatal_failed = false;
                task->rt->punctuations++;
                err = task->puncs[i].fn(ctx, now, task->puncs[i].opaque, why,
                                        sizeof why);
                brook_arena_reset(task->rt->arena);
                if (task->fatal_failed) {
                        brook__seterr(errstr, errstr_size,
                                      "task %s: punctuator of node \"%s\" at "
                                      "%s time %" PRId64 ": %s",
                                      task->id, ctx->node->name, kind, now,
                                      task->fatal_errbuf);
                        return BROOK_ERR_FATAL;
                }
                if (task->prod_failed) {
                        brook__seterr(errstr, errstr_size,
                                      "task %s: punctuator of node \"%s\" at "
                                      "%s time %" PRId64
                                      ": production error: %s",
                                      task->id, ctx->node->name, kind, now,
                                      task->prod_errbuf);
                        return BROOK_ERR_FATAL;
                }
                if (!err)
                        continue;
                if (!*why)
                        brook__seterr(why, sizeof why, "%s",
                                      brook_err2str(err));
                if (task->rt->proc_handler == BROOK__HANDLER_FAIL) {
                        brook__seterr(errstr, errstr_size,
                                      "task %s: punctuator of node \"%s\" at "
                                      "%s time %" PRId64 " failed: %s",
                                      task->id, ctx->node->name, kind, now,
                                      why);
                        return err;
                }
                brook__log("WARN",
                           "task %s: punctuator of node \"%s\" at %s time "
                           "%" PRId64 " failed, going on: %s",
                           task->id, ctx->node->name, kind, now, why);
        }
        return BROOK_OK;
}

brook_err_t brook__task_punctuate_wall(brook__task_t *task, int64_t now,
                                       char *errstr, size_t errstr_size)
{
        return brook__task_punctuate(task, BROOK_PUNCTUATE_WALL_CLOCK, now,
                                     errstr, errstr_size);
}

/* ----------------------------------------------------------------- sinks */

static brook_err_t brook__dead_letter(brook__task_t *task,
                                      const brook__inrec_t *in,
                                      const char *exception, const char *msg,
                                      char *errstr, size_t errstr_size);

/*
 * The production handler's dead_letter for sink record @p rec to @p topic:
 * one that did not serialize goes as its input record (its raw key, value
 * and headers, as a processing failure's), one the producer refused as
 * the output it was to be (the key and value serialized in the runtime's
 * buffers, with its headers). The __streams.errors.* headers name the
 * input record, or the output topic when the record came from a
 * punctuator. Returns 0 when it went.
 */
static brook_err_t brook__production_dead_letter(
        brook__task_t *task, const char *topic, const brook_record_t *rec,
        bool serializing, const char *what, char *errstr, size_t errstr_size)
{
        brook__runtime_t *rt = task->rt;
        brook__recmeta_t *m = rec->meta;
        rd_kafka_headers_t *out_hdrs = NULL;
        brook__inrec_t in = {.topic = topic, .partition = -1, .offset = -1};
        brook_err_t err;

        in.timestamp = rec->timestamp;
        if (m && m->topic) {
                in.topic = m->topic;
                in.partition = m->partition;
                in.offset = m->offset;
        }
        if (serializing) {
                if (m) {
                        in.key = m->raw_key;
                        in.key_size = m->raw_key_size;
                        in.value = m->raw_value;
                        in.value_size = m->raw_value_size;
                        in.headers = brook__headers_raw(&m->headers);
                }
        } else {
                if (rec->key) {
                        in.key = brook_buf_data(rt->keybuf);
                        in.key_size = brook_buf_len(rt->keybuf);
                }
                if (rec->value) {
                        in.value = brook_buf_data(rt->valbuf);
                        in.value_size = brook_buf_len(rt->valbuf);
                }
                in.headers = out_hdrs = m ? brook__headers_to_kafka(m) : NULL;
        }
        err = brook__dead_letter(task, &in, "brook.ProductionException", what,
                                 errstr, errstr_size);
        if (out_hdrs)
                rd_kafka_headers_destroy(out_hdrs);
        return err;
}

/*
 * A sink's record to @p topic could not be serialized (@p serializing) or
 * produced, for reason @p why: the production handler decides, as Kafka
 * Streams' RecordCollectorImpl does (KIP-210, KIP-399). log_and_continue
 * drops the record (counted, logged) and the sink succeeds; fail marks the
 * task so that the error stops it whatever the processing handler says.
 * Only errors of the record (BROOK_ERR_KAFKA, BROOK_ERR_SERDE) are the
 * handler's to skip: any other code (the producer is fatally broken, the
 * app is stopping) always stops the task.
 */
static brook_err_t
brook__production_error(brook__task_t *task, brook__node_t *node,
                        const char *topic, const brook_record_t *rec,
                        brook_err_t err, bool serializing, const char *why)
{
        brook__runtime_t *rt = task->rt;
        const brook__recmeta_t *m = rec->meta;
        char what[600];

        if (serializing)
                snprintf(what, sizeof what,
                         "a record for topic \"%s\" could not be "
                         "serialized: %s",
                         topic, why);
        else
                snprintf(what, sizeof what, "%s", why);
        if ((err == BROOK_ERR_KAFKA || err == BROOK_ERR_SERDE) &&
            rt->prod_handler == BROOK__HANDLER_LOG_AND_CONTINUE) {
                brook__drop(rt, BROOK_DROP_PRODUCTION_ERROR,
                            "task %s: node \"%s\": skipping a record to "
                            "topic \"%s\" (input topic=[%s] partition=[%" PRId32
                            "] offset=[%" PRId64 "]) after a production "
                            "error: %s",
                            task->id, node->name, topic,
                            m && m->topic ? m->topic : "",
                            m ? m->partition : -1, m ? m->offset : -1, what);
                return BROOK_OK;
        }
        if ((err == BROOK_ERR_KAFKA || err == BROOK_ERR_SERDE) &&
            rt->prod_handler == BROOK__HANDLER_DEAD_LETTER) {
                char why2[512];
                if (!brook__production_dead_letter(task, topic, rec,
                                                   serializing, what, why2,
                                                   sizeof why2))
                        return BROOK_OK;
                /* Not even the dead-letter topic takes it: the task
                 * stops, naming both. */
                snprintf(what + strlen(what), sizeof what - strlen(what),
                         " (and it could not be dead-lettered to \"%s\": "
                         "%s)",
                         rt->dlq_topic, why2);
        }
        task->prod_failed = true;
        brook__seterr(task->prod_errbuf, sizeof task->prod_errbuf,
                      "in node \"%s\": %s", node->name, what);
        return err;
}

/* Sends @p rec; a failure's reason goes to @p why. */
static brook_err_t brook__sink_send(brook__task_t *task, brook__node_t *node,
                                    brook_record_t *rec, char *why,
                                    size_t why_size)
{
        brook__runtime_t *rt = task->rt;
        brook_ctx_t *ctx = &task->ctxs[node->idx];
        const char *topic = ctx->sink_topic;
        int32_t partition = -1;
        brook_err_t err;

        if (node->chooser) {
                topic = node->chooser(rec, node->chooser_opaque);
                if (!topic) {
                        brook__seterr(why, why_size,
                                      "the topic chooser returned no topic");
                        return BROOK_ERR_PROCESSING;
                }
        }
        brook_buf_clear(rt->keybuf);
        brook_buf_clear(rt->valbuf);
        if ((err = brook__serde_serialize_to(topic, node->key_serde, rec->key,
                                             rt->keybuf, why, why_size)) ||
            (err = brook__serde_serialize_to(topic, node->value_serde,
                                             rec->value, rt->valbuf, why,
                                             why_size)))
                return brook__production_error(task, node, topic, rec, err,
                                               true, why);
        if (node->partitioner) {
                int32_t cnt =
                        rt->collector->partition_cnt(rt->collector, topic);
                if (cnt < 1) {
                        brook__seterr(why, why_size,
                                      "the partition count of topic \"%s\" is "
                                      "unknown",
                                      topic);
                        return BROOK_ERR_KAFKA;
                }
                partition = node->partitioner(
                        topic, rec->key ? brook_buf_data(rt->keybuf) : NULL,
                        brook_buf_len(rt->keybuf), rec, cnt,
                        node->partitioner_opaque);
                if (partition >= cnt || partition < -1) {
                        brook__seterr(why, why_size,
                                      "the partitioner chose partition %" PRId32
                                      " of topic \"%s\", which has %" PRId32,
                                      partition, topic, cnt);
                        return BROOK_ERR_PROCESSING;
                }
        }
        err = rt->collector->send(
                rt->collector, topic, partition,
                rec->key ? brook_buf_data(rt->keybuf) : NULL,
                brook_buf_len(rt->keybuf),
                rec->value ? brook_buf_data(rt->valbuf) : NULL,
                brook_buf_len(rt->valbuf), rec->timestamp,
                brook__headers_to_kafka(rec->meta), why, why_size);
        if (err)
                return brook__production_error(task, node, topic, rec, err,
                                               false, why);
        rt->produced++;
        return BROOK_OK;
}

/*
 * Runs @p node on @p rec. A failure's reason goes to @p errstr as
 * `in node "<name>": <reason>`, naming the node that failed: a processor
 * that returns a failure from below it (the reason its forward wrote,
 * unchanged, or none) passes that failure on as it is.
 */
static brook_err_t brook__dispatch(brook__task_t *task, brook__node_t *node,
                                   brook_record_t *rec, char *errstr,
                                   size_t errstr_size)
{
        brook_ctx_t *ctx = &task->ctxs[node->idx];
        char why[512];
        brook_err_t err;
        why[0] = '\0';

        if (task->rt->metrics_debug)
                ctx->processed++;
        switch (node->kind) {
        case BROOK__NODE_PROCESSOR:
                task->fwd_failed = false;
                err = node->def.process(ctx, rec, ctx->state, why, sizeof why);
                if (!err) {
                        /* A failure below that this processor dealt with
                         * must not be taken for a later one's cause. */
                        task->fwd_failed = false;
                        return BROOK_OK;
                }
                if (task->fwd_failed && err == task->fwd_err &&
                    (!*why || !strcmp(why, task->fwd_errbuf))) {
                        brook__seterr(errstr, errstr_size, "%s",
                                      task->fwd_errbuf);
                        return err;
                }
                if (!*why)
                        brook__seterr(why, sizeof why, "%s (no reason given)",
                                      brook_err2str(err));
                break;
        case BROOK__NODE_SINK:
                if (!(err = brook__sink_send(task, node, rec, why,
                                             sizeof why))) {
                        task->fwd_failed = false;
                        return BROOK_OK;
                }
                break;
        default:
                brook__seterr(why, sizeof why, "not a processor or a sink");
                err = BROOK_ERR_TOPOLOGY;
                break;
        }
        brook__seterr(task->fwd_errbuf, sizeof task->fwd_errbuf,
                      "in node \"%s\": %s", node->name, why);
        task->fwd_err = err;
        task->fwd_failed = true;
        brook__seterr(errstr, errstr_size, "%s", task->fwd_errbuf);
        return err;
}

/* ------------------------------------------------------------- handlers */

static void brook__u64str(char *buf, size_t size, int64_t v)
{
        snprintf(buf, size, "%" PRId64, v);
}

rd_kafka_headers_t *brook__dead_letter_headers(const brook__inrec_t *in,
                                               const char *task_id,
                                               const char *exception,
                                               const char *msg)
{
        rd_kafka_headers_t *in_hdrs = in->headers, *hdrs;
        char num[32];

        if (!in_hdrs && in->msg && rd_kafka_message_headers(in->msg, &in_hdrs))
                in_hdrs = NULL;
        hdrs = in_hdrs ? rd_kafka_headers_copy(in_hdrs)
                       : rd_kafka_headers_new(6);

        rd_kafka_header_add(hdrs, "__streams.errors.exception", -1, exception,
                            -1);
        rd_kafka_header_add(hdrs, "__streams.errors.message", -1, msg, -1);
        rd_kafka_header_add(hdrs, "__streams.errors.topic", -1, in->topic, -1);
        brook__u64str(num, sizeof num, in->partition);
        rd_kafka_header_add(hdrs, "__streams.errors.partition", -1, num, -1);
        brook__u64str(num, sizeof num, in->offset);
        rd_kafka_header_add(hdrs, "__streams.errors.offset", -1, num, -1);
        rd_kafka_header_add(hdrs, "__streams.errors.task", -1, task_id, -1);
        return hdrs;
}

bool brook__dead_letter_fit(rd_kafka_headers_t *hdrs, int64_t limit,
                            const void *key, size_t *key_size,
                            const void *value, size_t *value_size)
{
        size_t ks = key ? *key_size : 0, vs = value ? *value_size : 0, base, n,
               orig_vs = vs;
        const char *cut;
        const void *v;
        char num[32];

        if (limit <= 0 ||
            brook__record_wire_size(ks, vs, hdrs) <= (size_t)limit)
                return true;
        /* A record cut before (and refused again) keeps its original
         * sizes; only what was cut is said anew. */
        if (!rd_kafka_header_get_last(hdrs, BROOK__DLQ_TRUNCATED, &v, &n)) {
                rd_kafka_header_remove(hdrs, BROOK__DLQ_TRUNCATED);
                if (!rd_kafka_header_get_last(hdrs, BROOK__DLQ_VALUE_SIZE, &v,
                                              &n) &&
                    n < sizeof num) {
                        memcpy(num, v, n);
                        num[n] = '\0';
                        orig_vs = strtoull(num, NULL, 10);
                }
        } else {
                if (key) {
                        brook__u64str(num, sizeof num, (int64_t)ks);
                        rd_kafka_header_add(hdrs, BROOK__DLQ_KEY_SIZE, -1, num,
                                            -1);
                }
                if (value) {
                        brook__u64str(num, sizeof num, (int64_t)vs);
                        rd_kafka_header_add(hdrs, BROOK__DLQ_VALUE_SIZE, -1,
                                            num, -1);
                }
        }
        /* The value goes first: the key is what names the record. */
        base = brook__record_wire_size(0, 0, hdrs) + 10 +
               strlen(BROOK__DLQ_TRUNCATED);
        if (vs && base + strlen("value") + ks <= (size_t)limit) {
                cut = "value";
                vs = (size_t)limit - base - strlen(cut) - ks;
        } else {
                cut = orig_vs ? "key,value" : "key";
                if (base + strlen(cut) > (size_t)limit)
                        return false;
                ks = (size_t)limit - base - strlen(cut);
                vs = 0;
        }
        rd_kafka_header_add(hdrs, BROOK__DLQ_TRUNCATED, -1, cut, -1);
        *key_size = ks;
        *value_size = vs;
        return true;
}

/* Sends the input record to the dead-letter topic with headers saying what
 * failed and where (KIP-1034's names). A copy larger than the producer
 * takes (message.max.bytes) is cut to fit, value first, with headers
 * saying what was cut and the original sizes, rather than lost. */
static brook_err_t brook__dead_letter(brook__task_t *task,
                                      const brook__inrec_t *in,
                                      const char *exception, const char *msg,
                                      char *errstr, size_t errstr_size)
{
        brook__runtime_t *rt = task->rt;
        rd_kafka_headers_t *hdrs =
                brook__dead_letter_headers(in, task->id, exception, msg);
        size_t key_size = in->key_size, value_size = in->value_size;

        if (!brook__dead_letter_fit(hdrs, rt->max_record_bytes, in->key,
                                    &key_size, in->value, &value_size)) {
                brook__seterr(errstr, errstr_size,
                              "its dead-letter record does not fit "
                              "message.max.bytes (%" PRId64
                              ") even with the key and value cut: the "
                              "headers alone take more",
                              rt->max_record_bytes);
                rd_kafka_headers_destroy(hdrs);
                return BROOK_ERR_KAFKA;
        }
        if (rt->collector->send(rt->collector, rt->dlq_topic, -1, in->key,
                                key_size, in->value, value_size, in->timestamp,
                                hdrs, errstr, errstr_size))
                return BROOK_ERR_KAFKA;
        rt->dead_lettered++;
        return BROOK_OK;
}

/* The error that stops the task after a production failure under the
 * `fail` production handler, naming the input record that caused it. */
static brook_err_t brook__production_fatal(brook__task_t *task,
                                           const brook__inrec_t *in,
                                           char *errstr, size_t errstr_size)
{
        brook__seterr(errstr, errstr_size,
                      "production error at topic \"%s\" partition %" PRId32
                      " offset %" PRId64 " (task %s): %s",
                      in->topic, in->partition, in->offset, task->id,
                      task->prod_errbuf);
        return BROOK_ERR_FATAL;
}

/* Applies @p handler to a record that failed with @p msg; a skip counts
 * as a drop for @p reason. Returns BROOK_OK when the record is dealt with
 * (skipped or dead-lettered). */
static brook_err_t brook__handle(brook__task_t *task, brook__handler_t handler,
                                 brook_drop_reason_t reason,
                                 const brook__inrec_t *in, const char *what,
                                 const char *exception, const char *msg,
                                 char *errstr, size_t errstr_size)
{
        char why[512];
        switch (handler) {
        case BROOK__HANDLER_LOG_AND_CONTINUE:
                brook__drop(task->rt, reason,
                            "task %s: skipping record at topic \"%s\" "
                            "partition %" PRId32 " offset %" PRId64
                            " after a %s error: %s",
                            task->id, in->topic, in->partition, in->offset,
                            what, msg);
                return BROOK_OK;
        case BROOK__HANDLER_DEAD_LETTER:
                if (!brook__dead_letter(task, in, exception, msg, why,
                                        sizeof why))
                        return BROOK_OK;
                /* The dead-letter record itself is a production: its
                 * failure is the production handler's. */
                if (task->rt->prod_handler == BROOK__HANDLER_LOG_AND_CONTINUE) {
                        brook__drop(task->rt, BROOK_DROP_PRODUCTION_ERROR,
                                    "task %s: skipping record at topic \"%s\" "
                                    "partition %" PRId32 " offset %" PRId64
                                    " after a %s error (%s): it could not be "
                                    "dead-lettered to \"%s\": %s",
                                    task->id, in->topic, in->partition,
                                    in->offset, what, msg, task->rt->dlq_topic,
                                    why);
                        return BROOK_OK;
                }
                brook__seterr(errstr, errstr_size,
                              "%s error at topic \"%s\" partition %" PRId32
                              " offset %" PRId64
                              " could not be dead-lettered to \"%s\": %s "
                              "(the error was: %s)",
                              what, in->topic, in->partition, in->offset,
                              task->rt->dlq_topic, why, msg);
                return BROOK_ERR_FATAL;
        case BROOK__HANDLER_FAIL:
                break;
        }
        brook__seterr(errstr, errstr_size,
                      "%s error at topic \"%s\" partition %" PRId32
                      " offset %" PRId64 " (task %s): %s",
                      what, in->topic, in->partition, in->offset, task->id,
                      msg);
        return BROOK_ERR_FATAL;
}

/* ------------------------------------------------------------ event time */

/* The metadata of input record @p in, in @p arena. */
static brook__recmeta_t *brook__meta_in(brook_arena_t *arena,
                                        const brook__inrec_t *in)
{
        brook__recmeta_t *meta = brook_arena_alloc(arena, sizeof *meta);
        memset(meta, 0, sizeof *meta);
        meta->topic = in->topic;
        meta->partition = in->partition;
        meta->offset = in->offset;
        meta->headers.raw = in->headers;
        meta->headers.msg = in->msg;
        meta->raw_key = in->key;
        meta->raw_key_size = in->key_size;
        meta->raw_value = in->value;
        meta->raw_value_size = in->value_size;
        return meta;
}

static brook_invalid_timestamp_t brook__ts_policy(const brook__task_t *task,
                                                  const brook__pqueue_t *q)
{
        return q->source->ts_invalid ? q->source->ts_invalid
                                     : task->rt->ts_policy;
}

/* Applies the invalid-timestamp policy of @p q's source to *@p tsp. */
static brook__head_t brook__ts_check(const brook__task_t *task,
                                     const brook__pqueue_t *q, int64_t *tsp)
{
        if (*tsp >= 0)
                return BROOK__HEAD_READY;
        switch (brook__ts_policy(task, q)) {
        case BROOK_INVALID_TIMESTAMP_LOG_AND_SKIP:
                return BROOK__HEAD_SKIP;
        case BROOK_INVALID_TIMESTAMP_USE_PARTITION_TIME:
                /* Kafka Streams fails when there is no partition time. */
                if (q->partition_time < 0)
                        return BROOK__HEAD_INVALID;
                *tsp = q->partition_time;
                return BROOK__HEAD_READY;
        default:
                return BROOK__HEAD_INVALID;
        }
}

/*
 * The timestamp of @p in, the head of @p q, into *@p tsp: the source's
 * extractor, then its invalid-timestamp policy. Only a user extractor
 * needs the record decoded: into the runtime's scratch arena, reset when
 * it returns (the record is decoded again, into the record arena, when it
 * is processed: nothing decoded has to outlive the records processed in
 * between). A record that does not decode is left to the
 * deserialization handler, as processing would find it.
 */
static brook__head_t brook__extract(brook__task_t *task,
                                    const brook__pqueue_t *q,
                                    const brook__inrec_t *in, int64_t *tsp)
{
        brook__runtime_t *rt = task->rt;
        const brook__node_t *src = q->source;

        if (src->ts_extractor) {
                brook_arena_t *arena = rt->ts_arena;
                brook_record_t *rec;
                void *key = NULL, *value = NULL;
                if (!arena)
                        arena = rt->ts_arena = brook_arena_new();
                if (brook__serde_deserialize_from(in->topic, src->key_serde,
                                                  in->key, in->key_size, arena,
                                                  &key, NULL, 0) ||
                    brook__serde_deserialize_from(in->topic, src->value_serde,
                                                  in->value, in->value_size,
                                                  arena, &value, NULL, 0)) {
                        brook_arena_reset(arena);
                        return BROOK__HEAD_DESER;
                }
                rec = brook_arena_alloc(arena, sizeof *rec);
                rec->key = key;
                rec->value = value;
                rec->timestamp = in->timestamp;
                rec->meta = brook__meta_in(arena, in);
                rec->arena = arena;
                *tsp = src->ts_extractor(rec, q->partition_time,
                                         src->ts_extractor_opaque);
                brook_arena_reset(arena);
        } else if (src->ts_field) {
                if (brook_timestamp_from_json(in->value, in->value_size,
                                              src->ts_field, tsp, NULL, 0))
                        *tsp = src->ts_fallback ==
                                               BROOK_TIMESTAMP_FALLBACK_INVALID
                                       ? -1
                                       : in->timestamp;
        } else {
                *tsp = in->timestamp;
        }
        return brook__ts_check(task, q, tsp);
}

static void brook__pqueue_pop(brook__task_t *task, brook__pqueue_t *q)
{
        q->head = (q->head + 1) % q->cap;
        q->cnt--;
        task->queued--;
        q->head_state = BROOK__HEAD_NONE;
}

/* Extracts the timestamp of @p q's head (Kafka Streams'
 * RecordQueue.updateHead()): records skipped under LogAndSkip are done
 * here (counted, their offset committable, released), until one stays. */
static void brook__pqueue_head(brook__task_t *task, brook__pqueue_t *q,
                               void (*release)(brook__inrec_t *))
{
        brook__runtime_t *rt = task->rt;
        while (q->cnt && q->head_state == BROOK__HEAD_NONE) {
                brook__inrec_t in = q->ring[q->head];
                int64_t ts;
                brook__head_t st = brook__extract(task, q, &in, &ts);
                if (st != BROOK__HEAD_SKIP) {
                        q->head_state = st;
                        q->head_ts = ts;
                        return;
                }
                brook__drop(rt, BROOK_DROP_INVALID_TIMESTAMP,
                            "task %s: skipping record at topic \"%s\" "
                            "partition %" PRId32 " offset %" PRId64
                            ": invalid (negative) extracted timestamp "
                            "%" PRId64 " (LogAndSkipOnInvalidTimestamp)",
                            task->id, in.topic, in.partition, in.offset, ts);
                brook__pqueue_pop(task, q);
                q->next_offset = in.offset + 1;
                rt->processed++;
                if (release)
                        release(&in);
        }
}

void brook__task_enqueue(brook__task_t *task, brook__pqueue_t *q,
                         const brook__inrec_t *in,
                         void (*release)(brook__inrec_t *))
{
        brook__pqueue_push(q, in);
        task->queued++;
        if (q->cnt == 1)
                brook__pqueue_head(task, q, release);
}

bool brook__task_ready(brook__task_t *task, int64_t now)
{
        brook__runtime_t *rt = task->rt;
        bool queued = false, enforced = false;
        size_t i;

        if (!task->queued)
                return false;
        if (rt->max_task_idle_ms < 0)
                return true;
        for (i = 0; i < task->queues.cnt; i++) {
                brook__pqueue_t *q = task->queues.v[i];
                if (q->cnt && q->head_state != BROOK__HEAD_READY)
                        return true;
        }
        /* Kafka Streams' PartitionGroup.readyToProcess() (KIP-695). */
        for (i = 0; i < task->queues.cnt; i++) {
                brook__pqueue_t *q = task->queues.v[i];
                int64_t lag;
                if (q->cnt) {
                        q->idle_deadline = -1;
                        queued = true;
                        continue;
                }
                /* Unknown, or data on the broker not fetched yet: wait. */
                if ((lag = rt->fetched_lag(rt, q)) != 0) {
                        q->idle_deadline = -1;
                        return false;
                }
                /* Known to be empty: wait max.task.idle.ms for data. */
                if (q->idle_deadline < 0)
                        q->idle_deadline =
                                brook__add_sat(now, rt->max_task_idle_ms);
                if (now < q->idle_deadline)
                        return false;
                enforced = true;
        }
        if (!enforced)
                return true;
        if (!queued)
                return false;
        rt->enforced++;
        return true;
}

/* ------------------------------------------------------------ processing */

/* The next queue to take a record from (Kafka Streams' PartitionGroup):
 * a head that fails or goes to the deserialization handler first, as
 * Kafka Streams handles those when they are queued; otherwise the head
 * with the smallest timestamp, the first queue on a tie. */
static brook__pqueue_t *brook__task_pick(brook__task_t *task)
{
        brook__pqueue_t *best = NULL;
        size_t i;
        for (i = 0; i < task->queues.cnt; i++) {
                brook__pqueue_t *q = task->queues.v[i];
                if (!q->cnt || q->head_state == BROOK__HEAD_NONE)
                        continue;
                if (q->head_state != BROOK__HEAD_READY)
                        return q;
                if (!best || q->head_ts < best->head_ts)
                        best = q;
        }
        return best;
}

/* The error that stops the task on record @p in of @p q, whose timestamp
 * @p ts is invalid under a failing policy. */
static brook_err_t brook__invalid_ts(brook__task_t *task,
                                     const brook__pqueue_t *q,
                                     const brook__inrec_t *in, int64_t ts,
                                     char *errstr, size_t errstr_size)
{
        if (brook__ts_policy(task, q) ==
            BROOK_INVALID_TIMESTAMP_USE_PARTITION_TIME)
                brook__seterr(errstr, errstr_size,
                              "task %s: record at topic \"%s\" partition "
                              "%" PRId32 " offset %" PRId64
                              " has an invalid (negative) timestamp "
                              "%" PRId64
                              " and its partition time is unknown (nothing "
                              "processed from the partition yet), so "
                              "UsePartitionTimeOnInvalidTimestamp cannot "
                              "replace it",
                              task->id, in->topic, in->partition, in->offset,
                              ts);
        else
                brook__seterr(errstr, errstr_size,
                              "task %s: record at topic \"%s\" partition "
                              "%" PRId32 " offset %" PRId64
                              " has an invalid (negative) timestamp "
                              "%" PRId64 " (FailOnInvalidTimestamp; set "
                              "default.timestamp.extractor to "
                              "LogAndSkipOnInvalidTimestamp or "
                              "UsePartitionTimeOnInvalidTimestamp, or the "
                              "source's invalid_timestamp, to go on)",
                              task->id, in->topic, in->partition, in->offset,
                              ts);
        return BROOK_ERR_FATAL;
}

/* Decodes one side of an input record. On failure @p why reads
 * "<side>: <serde's message>"; the prefix is written only then, to keep
 * formatting off the per-record path. */
static brook_err_t brook__deserialize(const brook_serde_t *serde,
                                      const char *topic, const char *side,
                                      const void *data, size_t size,
                                      brook_arena_t *arena, void **objp,
                                      char *why, size_t why_size)
{
        size_t n = strlen(side) + 2;
        brook_err_t err = brook__serde_deserialize_from(
                topic, serde, data, size, arena, objp, why + n, why_size - n);
        if (err) {
                memcpy(why, side, n - 2);
                memcpy(why + n - 2, ": ", 2);
        }
        return err;
}

/* The record @p k places behind @p q's head (fewer than q->cnt). */
static const brook__inrec_t *brook__pqueue_at(const brook__pqueue_t *q,
                                              size_t k)
{
        size_t i = q->head + k;
        return &q->ring[i < q->cap ? i : i - q->cap];
}

/*
 * Fetches into the CPU cache what the records queued next will touch: the
 * queue's own slots, their keys and values (in the consumer's fetch
 * buffers, not touched since the broker thread wrote them) and their
 * messages, which are released after. A record's processing is long
 * enough for each to arrive, and its stalls were a tenth of a join's
 * stream thread. The nodes below @p q's source that wait for the same
 * (a stream-table join's lookup) hear the keys of the next two records:
 * they fetch what those lookups will touch, in two stages, so that each
 * finds its memory in the cache (brook__kvstore_prefetch()).
 */
static void brook__task_prefetch(brook__task_t *task, const brook__pqueue_t *q)
{
        const brook__node_t *src = q->source;
        const brook__inrec_t *in;

        if (q->cnt >= 4) {
                const char *slot = (const char *)brook__pqueue_at(q, 3);
                __builtin_prefetch(slot);
                __builtin_prefetch(slot + sizeof *in - 1);
        }
        if (q->cnt >= 3) {
                in = brook__pqueue_at(q, 2);
                __builtin_prefetch(in->key);
                __builtin_prefetch(in->value);
                if (in->value_size > 64)
                        __builtin_prefetch((const char *)in->value + 64);
                __builtin_prefetch(in->owner);
        }
        for (size_t i = 0; i < src->prefetch_cnt; i++) {
                const brook_ctx_t *ctx = &task->ctxs[src->prefetch_nodes[i]];
                if (!ctx->inited)
                        continue;
                if (q->cnt >= 2 && (in = brook__pqueue_at(q, 1))->key)
                        ctx->node->prefetch(ctx->state, in->key, in->key_size,
                                            false);
                if (q->cnt >= 1 && (in = brook__pqueue_at(q, 0))->key)
                        ctx->node->prefetch(ctx->state, in->key, in->key_size,
                                            true);
        }
}

brook_err_t brook__task_process_one(brook__task_t *task,
                                    void (*release)(brook__inrec_t *),
                                    char *errstr, size_t errstr_size)
{
        brook__runtime_t *rt = task->rt;
        brook__pqueue_t *q = brook__task_pick(task);
        brook__inrec_t in;
        brook__node_t *src;
        brook_record_t *rec;
        brook__head_t state;
        brook_err_t err = BROOK_OK, fwd_err;
        char why[512];
        void *key = NULL, *value = NULL;
        bool counted = false;
        int64_t ts;

        if (!q)
                return BROOK_OK;
        /* A commit's write that failed behind the thread (its writer
         * thread applies it) leaves the stores behind their changelogs:
         * nothing more is processed, and the app stops with the write's
         * failure, as when the commit itself writes. The records before
         * are done (their changelog records go out with the last
         * commit). */
        if (rt->env && rt->env->batch &&
            brook__statebatch_check(rt->env->batch, false, errstr, errstr_size))
                return BROOK_ERR_FATAL;
        in = q->ring[q->head];
        state = q->head_state;
        ts = q->head_ts;
        brook__pqueue_pop(task, q);
        src = q->source;
        brook__task_prefetch(task, q);

        if (state == BROOK__HEAD_INVALID) {
                err = brook__invalid_ts(task, q, &in, ts, errstr, errstr_size);
                goto done;
        }
        if (brook__deserialize(src->key_serde, in.topic, "key", in.key,
                               in.key_size, rt->arena, &key, why, sizeof why) ||
            brook__deserialize(src->value_serde, in.topic, "value", in.value,
                               in.value_size, rt->arena, &value, why,
                               sizeof why)) {
                err = brook__handle(task, rt->deser_handler,
                                    BROOK_DROP_DESERIALIZATION_ERROR, &in,
                                    "deserialization",
                                    "brook.SerializationException", why, errstr,
                                    errstr_size);
                goto done;
        }

        rec = brook_arena_alloc(rt->arena, sizeof *rec);
        rec->key = key;
        rec->value = value;
        rec->timestamp = in.timestamp;
        rec->meta = brook__meta_in(rt->arena, &in);
        rec->arena = rt->arena;
        if (state == BROOK__HEAD_DESER) {
                /* It decoded after all (a serde that changed its mind):
                 * extract its timestamp now. */
                ts = src->ts_extractor(rec, q->partition_time,
                                       src->ts_extractor_opaque);
                state = brook__ts_check(task, q, &ts);
                if (state == BROOK__HEAD_SKIP) {
                        brook__drop(rt, BROOK_DROP_INVALID_TIMESTAMP,
                                    "task %s: skipping record at topic \"%s\" "
                                    "partition %" PRId32 " offset %" PRId64
                                    ": invalid (negative) extracted "
                                    "timestamp %" PRId64
                                    " (LogAndSkipOnInvalidTimestamp)",
                                    task->id, in.topic, in.partition, in.offset,
                                    ts);
                        goto done;
                }
                if (state == BROOK__HEAD_INVALID) {
                        err = brook__invalid_ts(task, q, &in, ts, errstr,
                                                errstr_size);
                        goto done;
                }
        }
        /* Partition time and stream time move when a record is taken to
         * be processed (RecordQueue.poll(), PartitionGroup.nextRecord()). */
        rec->timestamp = ts;
        task->cur_ts = ts;
        if (ts > q->partition_time)
                q->partition_time = ts;
        if (ts > task->stream_time)
                task->stream_time = ts;

        task->fwd_failed = false;
        task->prod_failed = false;
        task->fatal_failed = false;
        if (rt->metrics_debug)
                task->ctxs[src->idx].processed++;
        fwd_err =
                brook_ctx_forward(&task->ctxs[src->idx], rec, why, sizeof why);
        /* One that failed while this record was processed fails it too
         * under exactly-once (its transaction must not commit, whatever
         * its handler says), and under at_least_once if the record met
         * it (a store's read or write failed with it): the app stops with
         * the write's failure, and the record is not done. Otherwise the
         * record is done, and the next one stops, above. */
        if (rt->env && rt->env->batch &&
            (fwd_err || brook__statebatch_transactional(rt->env->batch)) &&
            brook__statebatch_check(rt->env->batch, false, why, sizeof why)) {
                brook__seterr(errstr, errstr_size, "%s", why);
                err = BROOK_ERR_FATAL;
        } else if (task->fatal_failed) {
                /* A production failure under `fail` stops the task even
                 * if a processor above the sink dealt with its error; so
                 * does a processor's fatal failure. */
                brook__seterr(errstr, errstr_size,
                              "task %s: at topic \"%s\" partition %" PRId32
                              " offset %" PRId64 ": %s",
                              task->id, in.topic, in.partition, in.offset,
                              task->fatal_errbuf);
                err = BROOK_ERR_FATAL;
        } else if (task->prod_failed)
                err = brook__production_fatal(task, &in, errstr, errstr_size);
        else if (fwd_err)
                err = brook__handle(task, rt->proc_handler,
                                    BROOK_DROP_PROCESSING_ERROR, &in,
                                    "processing", "brook.ProcessingException",
                                    why, errstr, errstr_size);
        if (!err) {
                /* The record is done: its offset commits even if a
                 * punctuator it triggers fails, since its effects are in
                 * the stores already. */
                q->next_offset = in.offset + 1;
                rt->processed++;
                counted = true;
                err = brook__task_punctuate(task, BROOK_PUNCTUATE_STREAM_TIME,
                                            task->stream_time, errstr,
                                            errstr_size);
        }

done:
        if (!err && !counted) {
                /* Handled and dropped records count as done too. */
                q->next_offset = in.offset + 1;
                rt->processed++;
        }
        brook_arena_reset(rt->arena);
        if (release)
                release(&in);
        /* The next head's timestamp, now that partition time has moved.
         * Not after a fatal error: a record it skipped would be committed
         * past the one that failed. */
        if (!err)
                brook__pqueue_head(task, q, release);
        return err;
}
