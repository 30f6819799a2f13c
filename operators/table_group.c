/*
 * brook — a table regrouped by a new key and aggregated with an adder and
 * a subtractor (Kafka Streams' KTable.groupBy(), KTableRepartitionMap,
 * KGroupedTableImpl, KTableAggregate and KTableReduce).
 *
 * Each update of the table maps its new and its old value to (new key,
 * value) pairs; the old one is taken out of its group's aggregate and the
 * new one added to its group's. Both go through a repartition topic as
 * one record per group, whose value carries the old and the new value in
 * Kafka Streams' Change format (engine/serde_change.c): when a row moves
 * between groups, its old group gets (old, no new) and its new group (new,
 * no old); when it stays, its group gets both at once.
 */
#include <stdlib.h>
#include <string.h>

#include "dsl_int.h"
#include "store_int.h"

/* A table regrouped: what its aggregations build on. Freed with the
 * builder. */
struct brook_grouped_table_s {
        brook_builder_t *b;
        char *select;              /* The select node's name. */
        brook_grouping_t grouping; /* name copied below */
        char *source;              /* A named grouping's repartition
                                    * source, once made; or NULL. */
};

/* ---------------------------------------------------------- select node */

typedef struct sel_op {
        brook_kv_mapper_fn fn;
        void *opaque;
        /* sends old values (made to); versioned: updates may be out of
         * order */
        const brook__tnode_t *parent;
        const brook_serde_t *key_serde; /* NULL: default.key.serde */
} sel_op_t;

typedef struct sel {
        const sel_op_t *op;
        const brook_serde_t *key_serde;
        brook_buf_t *a, *b;
} sel_t;

static brook_err_t sel_init(brook_ctx_t *ctx, void *opaque, void **statep,
                            char *errstr, size_t errstr_size)
{
        const sel_op_t *op = opaque;
        sel_t *s = brook__xcalloc(1, sizeof *s);

        s->op = op;
        s->key_serde = op->key_serde ? op->key_serde
                                     : brook__ctx_default_serde(ctx, true);
        if (!s->key_serde) {
                free(s);
                brook__seterr(errstr, errstr_size,
                              "the grouping has no key serde to compare keys "
                              "with: give one in its brook_grouping_t or set "
                              "default.key.serde");
                return BROOK_ERR_TOPOLOGY;
        }
        s->a = brook_buf_new();
        s->b = brook_buf_new();
        *statep = s;
        return BROOK_OK;
}

static void sel_close(brook_ctx_t *ctx, void *state)
{
        sel_t *s = state;

        (void)ctx;
        brook_buf_destroy(s->a);
        brook_buf_destroy(s->b);
        free(s);
}

/* The mapper's pair for @p value of @p rec's key; false if the key or the
 * value it selects is NULL (such a pair is skipped). */
static bool sel_pair(brook_ctx_t *ctx, const sel_op_t *op,
                     const brook_record_t *rec, void *value, void **keyp,
                     void **valuep)
{
        brook_record_t *r;

        *keyp = *valuep = NULL;
        if (!value)
                return false;
        r = brook_ctx_record_new(ctx, rec, rec->key, value, rec->timestamp);
        op->fn(r, keyp, valuep, op->opaque);
        return *keyp && *valuep;
}

static brook_err_t sel_send(brook_ctx_t *ctx, const brook_record_t *rec,
                            void *key, void *new_value, void *old_value,
                            char *errstr, size_t errstr_size)
{
        brook__changed_t *c = brook_record_alloc(rec, sizeof *c);

        c->new_value = new_value;
        c->old_value = old_value;
        return brook_ctx_forward(
                ctx, brook_ctx_record_new(ctx, rec, key, c, rec->timestamp),
                errstr, errstr_size);
}

static brook_err_t sel_process(brook_ctx_t *ctx, brook_record_t *rec,
                               void *state, char *errstr, size_t errstr_size)
{
        sel_t *s = state;
        const sel_op_t *op = s->op;
        void *old = op->parent->send_old ? brook__change_old(rec) : NULL;
        void *nk, *nv, *ok, *ov;
        bool has_new, has_old;
        brook_err_t err;

        if (!rec->key) {
                brook__ctx_fatal(ctx, "a table update to group has a NULL "
                                      "key");
                return BROOK_ERR_PROCESSING;
        }
        /* Kafka Streams' KTableRepartitionMap (KIP-914): the aggregates of
         * a versioned table count its latest values only; an out-of-order
         * update is skipped here, silently, and goes to no topic. */
        if (op->parent->versioned && !brook__change_latest(rec))
                return BROOK_OK;
        has_new = sel_pair(ctx, op, rec, rec->value, &nk, &nv);
        has_old = sel_pair(ctx, op, rec, old, &ok, &ov);
        if (has_new && has_old) {
                brook_buf_clear(s->a);
                brook_buf_clear(s->b);
                if ((err = brook_serde_serialize(s->key_serde, ok, s->a, errstr,
                                                 errstr_size)) ||
                    (err = brook_serde_serialize(s->key_serde, nk, s->b, errstr,
                                                 errstr_size)))
                        return err;
                /* Kafka Streams 3.5+ (KIP-904): one record when the group
                 * stays the same. */
                if (brook_buf_len(s->a) == brook_buf_len(s->b) &&
                    !memcmp(brook_buf_data(s->a), brook_buf_data(s->b),
                            brook_buf_len(s->a)))
                        return sel_send(ctx, rec, ok, nv, ov, errstr,
                                        errstr_size);
        }
        /* The old group first, as Kafka Streams. */
        if (has_old &&
            (err = sel_send(ctx, rec, ok, NULL, ov, errstr, errstr_size)))
                return err;
        if (has_new)
                return sel_send(ctx, rec, nk, nv, NULL, errstr, errstr_size);
        return BROOK_OK;
}

brook_grouped_table_t *brook_table_group_by(brook_table_t *t,
                                            brook_kv_mapper_fn fn, void *opaque,
                                            const brook_grouping_t *grouping)
{
        brook_processor_def_t def = {.init = sel_init,
                                     .process = sel_process,
                                     .close = sel_close,
                                     .opaque_destroy = free};
        brook_grouped_table_t *g = NULL;
        brook_grouping_t gr = {0};
        sel_op_t *op;
        char why[256], *name;
        size_t nlen;

        if (!t)
                return NULL;
        if (!fn) {
                brook__builder_fail(t->b, NULL, 0,
                                    "brook_table_group_by: mapper is NULL");
                return NULL;
        }
        if (grouping &&
            !brook__version_ok(grouping->version, BROOK_GROUPING_VERSION,
                               "brook_grouping_t", why, sizeof why)) {
                brook__builder_fail(t->b, NULL, 0, "brook_table_group_by: %s",
                                    why);
                return NULL;
        }
        if (grouping)
                gr = *grouping;
        if (gr.name && !*gr.name) {
                brook__builder_fail(t->b, NULL, 0,
                                    "brook_table_group_by: the grouping's "
                                    "name is empty");
                return NULL;
        }
        if (t->windowed) {
                brook__builder_fail(t->b, NULL, 0,
                                    "brook_table_group_by: table \"%s\" is "
                                    "windowed: regroup a table of plain keys",
                                    t->node);
                return NULL;
        }
        /* A given name takes a number too, as in Kafka Streams. */
        name = brook__builder_new_name(t->b, "KTABLE-SELECT");
        if (gr.name) {
                free(name);
                name = brook__xstrdup(gr.name);
        }
        op = brook__xcalloc(1, sizeof *op);
        op->fn = fn;
        op->opaque = opaque;
        op->key_serde = gr.key_serde;
        def.opaque = op;
        if (brook_builder_add_processor(t->b, name, &def,
                                        (const char **)&t->node, 1, NULL, 0))
                goto done;
        /* The old value says which group a row leaves. */
        if (!brook__table_send_old_force(t)) {
                brook__builder_fail(t->b, NULL, 0,
                                    "brook_table_group_by: table \"%s\" "
                                    "cannot tell its old values (a windowed "
                                    "or suppressed table)",
                                    t->node);
                goto done;
        }
        op->parent = t->op;
        nlen = strlen(name) + 1;
        g = brook__xcalloc(1, sizeof *g + nlen +
                                      (gr.name ? strlen(gr.name) + 1 : 0));
        g->b = t->b;
        g->select = memcpy((char *)(g + 1), name, nlen);
        g->grouping = gr;
        if (gr.name)
                g->grouping.name = strcpy(g->select + nlen, gr.name);
        brook__builder_keep(t->b, g);
done:
        free(name);
        return g;
}

/* ---------------------------------------------------------- aggregation */

typedef enum { TAGG_COUNT, TAGG_REDUCE, TAGG_AGGREGATE } tagg_kind_t;

typedef struct tagg_op {
        brook__tnode_t hdr; /* First: see brook__tproc_init(). */
        tagg_kind_t kind;
        brook_initializer_fn init;
        brook_aggregator_fn add, sub;
        brook_reducer_fn radd, rsub;
        void *opaque;
} tagg_op_t;

static brook_err_t tagg_null(const tagg_op_t *op, const char *what,
                             char *errstr, size_t errstr_size)
{
        brook__seterr(errstr, errstr_size,
                      "the %s returned NULL for store \"%s\"; an aggregate "
                      "cannot be NULL",
                      what, op->hdr.store);
        return BROOK_ERR_PROCESSING;
}

/* Kafka Streams' KTableAggregate and KTableReduce. */
static brook_err_t tagg_process(brook_ctx_t *ctx, brook_record_t *rec,
                                void *state, char *errstr, size_t errstr_size)
{
        brook__tfwd_t *fwd = state;
        const tagg_op_t *op = fwd->op;
        const brook__changed_t *c = rec->value;
        brook_arena_t *arena = brook_record_arena(rec);
        void *old_agg = NULL, *mid, *new_agg;
        int64_t ts = rec->timestamp, old_ts = -1;
        brook_record_t *r;
        brook_err_t err;

        if (!rec->key) {
                brook__ctx_fatal(ctx,
                                 "a regrouped table update for store "
                                 "\"%s\" has a NULL key",
                                 op->hdr.store);
                return BROOK_ERR_PROCESSING;
        }
        if (!c) {
                brook__ctx_drop(ctx, rec, BROOK_DROP_NULL_VALUE, "null value");
                return BROOK_OK;
        }
        err = brook__kvstore_get_ts(fwd->st, rec->key, &old_agg, &old_ts,
                                    errstr, errstr_size);
        if (err == BROOK_ERR_NOT_FOUND)
                old_agg = NULL;
        else if (err)
                return err;
        /* First the old value leaves its aggregate... */
        mid = old_agg;
        if (c->old_value && old_agg) {
                r = brook_ctx_record_new(ctx, rec, rec->key, c->old_value,
                                         rec->timestamp);
                switch (op->kind) {
                case TAGG_COUNT:
                        mid = brook_int64_new(arena,
                                              *(const int64_t *)old_agg - 1);
                        break;
                case TAGG_REDUCE:
                        mid = op->rsub(r, old_agg, op->opaque);
                        break;
                case TAGG_AGGREGATE:
                        mid = op->sub(r, old_agg, op->opaque);
                        break;
                }
                if (old_ts > ts)
                        ts = old_ts;
        }
        /* ...then the new one joins it. */
        new_agg = mid;
        if (c->new_value) {
                r = brook_ctx_record_new(ctx, rec, rec->key, c->new_value,
                                         rec->timestamp);
                switch (op->kind) {
                case TAGG_COUNT:
                        new_agg = brook_int64_new(
                                arena, (mid ? *(const int64_t *)mid : 0) + 1);
                        break;
                case TAGG_REDUCE:
                        new_agg = mid ? op->radd(r, mid, op->opaque)
                                      : c->new_value;
                        if (!new_agg)
                                return tagg_null(op, "adder", errstr,
                                                 errstr_size);
                        break;
                case TAGG_AGGREGATE:
                        if (!mid && !(mid = op->init(r, op->opaque)))
                                return tagg_null(op, "initializer", errstr,
                                                 errstr_size);
                        new_agg = op->add(r, mid, op->opaque);
                        if (!new_agg)
                                return tagg_null(op, "adder", errstr,
                                                 errstr_size);
                        break;
                }
                /* KTableReduce stamps an added value with the old
                 * aggregate's time only when there was one to add to;
                 * KTableAggregate whenever the key had an aggregate. */
                if (old_agg && old_ts > ts && (op->kind != TAGG_REDUCE || mid))
                        ts = old_ts;
        }
        /* A NULL aggregate (a reducer's or subtractor's) deletes the key. */
        return brook__tfwd_put(fwd, rec, rec->key, new_agg, old_agg, old_agg,
                               ts, errstr, errstr_size);
}

/* The repartition a grouped table's aggregation reads: "<grouping name or
 * store>-repartition", values in Kafka Streams' Change format. Sets
 * *@p sourcep to the source node's name (the caller frees it). */
static brook_err_t tagg_repartition(brook_grouped_table_t *g, const char *store,
                                    char **sourcep)
{
        brook_builder_t *b = g->b;
        const char *base = g->grouping.name ? g->grouping.name : store;
        brook_produced_t produced = {.key_serde = g->grouping.key_serde,
                                     .value_serde = g->grouping.value_serde};
        brook_consumed_t consumed = {.key_serde = g->grouping.key_serde,
                                     .value_serde = g->grouping.value_serde,
                                     .version = BROOK_CONSUMED_VERSION,
                                     .invalid_timestamp =
                                             BROOK_INVALID_TIMESTAMP_FAIL};
        char *sink = brook__builder_new_name(b, "KSTREAM-SINK");
        char *source = brook__builder_new_name(b, "KSTREAM-SOURCE");
        char *topic = brook__xmalloc(strlen(base) + sizeof "-repartition");
        brook__node_t *node;
        brook_err_t err;

        strcpy(topic, base);
        strcat(topic, "-repartition");
        *sourcep = NULL;
        /* A named grouping's aggregations share one topic, as in Kafka
         * Streams. */
        if (g->grouping.name && g->source) {
                *sourcep = brook__xstrdup(g->source);
                err = BROOK_OK;
                goto done;
        }
        if ((err = brook_builder_add_sink(b, sink, topic, NULL, NULL, &produced,
                                          (const char *const *)&g->select, 1,
                                          NULL, 0)))
                goto done;
        node = brook__builder_node(b, sink);
        node->sink_internal = true;
        node->value_wrap = brook__serde_change;
        if ((err = brook_builder_add_source(b, source,
                                            (const char *const *)&topic, 1,
                                            NULL, &consumed, NULL, 0)))
                goto done;
        node = brook__builder_node(b, source);
        node->internal = true;
        node->value_wrap = brook__serde_change;
        if (g->grouping.name) {
                g->source = brook__xstrdup(source);
                brook__builder_keep(b, g->source);
        }
        *sourcep = source;
        source = NULL;
done:
        free(sink);
        free(source);
        free(topic);
        return err;
}

static brook_table_t *tagg_add(brook_grouped_table_t *g, const tagg_op_t *op,
                               const brook_serde_t *value_serde,
                               const brook_materialized_t *m, const char *func)
{
        brook_builder_t *b = g->b;
        brook_processor_def_t def = {.init = brook__tproc_init,
                                     .process = tagg_process,
                                     .close = brook__tproc_close,
                                     .opaque_destroy = free};
        char *gen_store = NULL, *source = NULL, *name = NULL;
        const char *store, *parent;
        const brook_serde_t *ks;
        brook_table_t *t = NULL;
        tagg_op_t *copy;
        size_t slen;

        if (m && m->name && !*m->name) {
                brook__builder_fail(b, NULL, 0,
                                    "%s: the materialized store name is empty",
                                    func);
                return NULL;
        }
        if (brook__dsl_versioned_refused(b, m, func))
                return NULL;
        if (m && m->value_serde)
                value_serde = m->value_serde;
        /* Kafka Streams' order: the store's name, the repartition's sink
         * and source, the processor's name. */
        store = m && m->name ? m->name
                             : (gen_store = brook__builder_new_name(
                                        b, "KTABLE-AGGREGATE-STATE-STORE"));
        if (tagg_repartition(g, store, &source))
                goto done;
        name = brook__builder_new_name(b, op->kind == TAGG_REDUCE
                                                  ? "KTABLE-REDUCE"
                                                  : "KTABLE-AGGREGATE");
        slen = strlen(store) + 1;
        copy = brook__xmalloc(sizeof *copy + slen);
        *copy = *op;
        copy->hdr.store = memcpy((char *)(copy + 1), store, slen);
        copy->hdr.send_old = false;
        copy->hdr.agg = true;
        def.opaque = copy;
        parent = source;
        ks = m && m->key_serde ? m->key_serde : g->grouping.key_serde;
        if (brook_builder_add_processor(b, name, &def, &parent, 1, NULL, 0) ||
            brook__dsl_store_add(b, m, store, ks, value_serde, name))
                goto done;
        brook__builder_store(b, store)->timestamped = true;
        t = brook__table_new(b, name, ks, value_serde, store,
                             BROOK__TABLE_AGGREGATE, true, &copy->hdr, NULL);
done:
        free(gen_store);
        free(source);
        free(name);
        return t;
}

brook_table_t *brook_grouped_table_count(brook_grouped_table_t *g,
                                         const brook_materialized_t *m)
{
        tagg_op_t op = {.kind = TAGG_COUNT};

        if (!g)
                return NULL;
        return tagg_add(g, &op, brook_serde_int64(), m,
                        "brook_grouped_table_count");
}

brook_table_t *brook_grouped_table_reduce(brook_grouped_table_t *g,
                                          brook_reducer_fn adder,
                                          brook_reducer_fn subtractor,
                                          void *opaque,
                                          const brook_materialized_t *m)
{
        tagg_op_t op = {.kind = TAGG_REDUCE,
                        .radd = adder,
                        .rsub = subtractor,
                        .opaque = opaque};

        if (!g)
                return NULL;
        if (!adder || !subtractor) {
                brook__builder_fail(g->b, NULL, 0,
                                    "brook_grouped_table_reduce: %s is NULL",
                                    !adder ? "adder" : "subtractor");
                return NULL;
        }
        return tagg_add(g, &op, g->grouping.value_serde, m,
                        "brook_grouped_table_reduce");
}

brook_table_t *brook_grouped_table_aggregate(brook_grouped_table_t *g,
                                             brook_initializer_fn init,
                                             brook_aggregator_fn adder,
                                             brook_aggregator_fn subtractor,
                                             void *opaque,
                                             const brook_materialized_t *m)
{
        tagg_op_t op = {.kind = TAGG_AGGREGATE,
                        .init = init,
                        .add = adder,
                        .sub = subtractor,
                        .opaque = opaque};

        if (!g)
                return NULL;
        if (!init || !adder || !subtractor) {
                brook__builder_fail(g->b, NULL, 0,
                                    "brook_grouped_table_aggregate: %s is NULL",
                                    !init    ? "initializer"
                                    : !adder ? "adder"
                                             : "subtractor");
                return NULL;
        }
        return tagg_add(g, &op, NULL, m, "brook_grouped_table_aggregate");
}
