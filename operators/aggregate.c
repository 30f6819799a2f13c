/*
 * brook — grouping and aggregation (Kafka Streams' groupByKey, groupBy and
 * KGroupedStream's count, reduce and aggregate).
 *
 * Grouping only remembers what to aggregate; each aggregation then adds, in
 * Kafka Streams' order, its store name, its processor name and (when the
 * key may have changed) a repartition topic named after the grouping or the
 * store, read back as a new sub-topology. The aggregation processor keeps
 * one aggregate per key in its store and forwards each new aggregate as a
 * table update (table.c's forwarding: at once, or as the cache writes it
 * down).
 */
#include <stdlib.h>
#include <string.h>

#include "dsl_int.h"
#include "store_int.h"

/* ---------------------------------------------------------------- grouping */

/* The handle and the grouping's name are one allocation, because the
 * builder frees every handle it keeps with a single free(). */
static brook_grouped_t *grouped_new(brook_stream_t *s, bool repartition,
                                    const brook_grouping_t *grouping)
{
        size_t len =
                grouping && grouping->name ? strlen(grouping->name) + 1 : 0;
        brook_grouped_t *g = brook__xcalloc(1, sizeof *g + len);

        g->b = s->b;
        g->s = s;
        g->repartition = repartition;
        if (grouping)
                g->grouping = *grouping;
        if (len)
                g->grouping.name = memcpy((char *)(g + 1), grouping->name, len);
        brook__builder_keep(s->b, g);
        return g;
}

static bool grouping_bad(brook_stream_t *s, const brook_grouping_t *grouping,
                         const char *func)
{
        char why[256];

        if (grouping &&
            !brook__version_ok(grouping->version, BROOK_GROUPING_VERSION,
                               "brook_grouping_t", why, sizeof why)) {
                brook__builder_fail(s->b, NULL, 0, "%s: %s", func, why);
                return true;
        }
        if (grouping && grouping->name && !*grouping->name) {
                brook__builder_fail(s->b, NULL, 0,
                                    "%s: the grouping name is empty", func);
                return true;
        }
        return false;
}

brook_grouped_t *brook_stream_group_by_key(brook_stream_t *s,
                                           const brook_grouping_t *grouping)
{
        if (!s || grouping_bad(s, grouping, "brook_stream_group_by_key"))
                return NULL;
        return grouped_new(s, s->key_changed, grouping);
}

brook_grouped_t *brook_stream_group_by(brook_stream_t *s,
                                       brook_key_selector_fn fn, void *opaque,
                                       const brook_grouping_t *grouping)
{
        brook_stream_t *sk;

        if (!s || grouping_bad(s, grouping, "brook_stream_group_by"))
                return NULL;
        if (!fn) {
                brook__builder_fail(s->b, NULL, 0,
                                    "brook_stream_group_by: key selector is "
                                    "NULL");
                return NULL;
        }
        /* Kafka Streams adds the key selector at groupBy() and always
         * repartitions after it, even if the key happens not to change. */
        sk = brook_stream_select_key(s, fn, opaque);
        if (!sk)
                return NULL;
        return grouped_new(sk, true, grouping);
}

/* ------------------------------------------------------------- aggregation */

typedef enum {
        AGG_COUNT,
        AGG_REDUCE,
        AGG_AGGREGATE,
} agg_kind_t;

/* What an aggregation node does: its definition opaque, shared by its
 * tasks. */
typedef struct agg_op {
        brook__tnode_t hdr; /* First: see brook__tproc_init(). */
        agg_kind_t kind;
        brook_initializer_fn init;
        brook_reducer_fn reducer;
        brook_aggregator_fn aggregator;
        void *opaque;
} agg_op_t;

static brook_err_t agg_null(const agg_op_t *op, const char *what, char *errstr,
                            size_t errstr_size)
{
        /* The runtime's message names the node. */
        brook__seterr(errstr, errstr_size,
                      "the %s returned NULL for store \"%s\"; an aggregate "
                      "cannot be NULL",
                      what, op->hdr.store);
        return BROOK_ERR_PROCESSING;
}

static brook_err_t agg_process(brook_ctx_t *ctx, brook_record_t *rec,
                               void *state, char *errstr, size_t errstr_size)
{
        brook__tfwd_t *fwd = state;
        const agg_op_t *op = fwd->op;
        void *key = brook_record_key(rec);
        void *value = brook_record_value(rec);
        void *stored = NULL, *agg, *out = NULL;
        int64_t ts = brook_record_timestamp(rec), prev_ts;
        brook_err_t err;

        /* As Kafka Streams: "Skipping record due to null key or value",
         * counted in dropped-records. */
        if (!key || !value) {
                brook__ctx_drop(ctx, rec,
                                !key ? BROOK_DROP_NULL_KEY
                                     : BROOK_DROP_NULL_VALUE,
                                !key ? "null key" : "null value");
                return BROOK_OK;
        }
        err = brook__kvstore_get_ts(fwd->st, key, &stored, &prev_ts, errstr,
                                    errstr_size);
        if (err == BROOK_ERR_NOT_FOUND)
                stored = NULL;
        else if (err)
                return err;
        /* Kafka Streams' KStreamAggregate and KStreamReduce: a new key's
         * aggregate has its record's timestamp; a later one the larger of
         * that and the previous aggregate's, which the store keeps. */
        if (stored && prev_ts > ts)
                ts = prev_ts;
        /* The old value sent downstream is the previous aggregate, or for
         * a new key the initializer's (count's 0; reduce has none). */
        agg = stored;
        switch (op->kind) {
        case AGG_COUNT:
                if (!agg)
                        agg = brook_int64_new(brook_record_arena(rec), 0);
                out = brook_int64_new(brook_record_arena(rec),
                                      *(const int64_t *)agg + 1);
                break;
        case AGG_REDUCE:
                out = agg ? op->reducer(rec, agg, op->opaque) : value;
                if (!out)
                        return agg_null(op, "reducer", errstr, errstr_size);
                break;
        case AGG_AGGREGATE:
                if (!agg && !(agg = op->init(rec, op->opaque)))
                        return agg_null(op, "initializer", errstr, errstr_size);
                out = op->aggregator(rec, agg, op->opaque);
                if (!out)
                        return agg_null(op, "aggregator", errstr, errstr_size);
                break;
        }
        return brook__tfwd_put(fwd, rec, key, out, agg, stored, ts, errstr,
                               errstr_size);
}

brook_err_t brook__grouped_prepare(brook_grouped_t *g,
                                   const brook_materialized_t *m, bool reduce,
                                   const char *func, brook__grouped_prep_t *p)
{
        brook_builder_t *b = g->b;
        brook_stream_t *s = g->s;

        memset(p, 0, sizeof *p);
        if (m && m->name && !*m->name) {
                brook__builder_fail(b, NULL, 0,
                                    "%s: the materialized store name is empty",
                                    func);
                return BROOK_ERR_INVALID_ARG;
        }
        /* Kafka Streams' order: the store name, the processor name, then
         * the repartition nodes. */
        if (m && m->name)
                p->store = m->name;
        else
                p->store = p->gen_store = brook__builder_new_name(
                        b, reduce ? "KSTREAM-REDUCE-STATE-STORE"
                                  : "KSTREAM-AGGREGATE-STATE-STORE");
        p->name = brook__builder_new_name(b, reduce ? "KSTREAM-REDUCE"
                                                    : "KSTREAM-AGGREGATE");

        if (g->repartition) {
                brook_repartitioned_t r = {
                        .name = g->grouping.name ? g->grouping.name : p->store,
                        .key_serde = g->grouping.key_serde,
                        .value_serde = g->grouping.value_serde};
                s = brook_stream_repartition(s, &r);
                if (!s) {
                        brook__grouped_prep_free(p);
                        return BROOK_ERR_TOPOLOGY;
                }
        }
        p->s = s;
        p->key_serde =
                g->grouping.key_serde ? g->grouping.key_serde : s->key_serde;
        if (m && m->key_serde)
                p->key_serde = m->key_serde;
        return BROOK_OK;
}

void brook__grouped_prep_free(brook__grouped_prep_t *p)
{
        free(p->gen_store);
        free(p->name);
        p->gen_store = p->name = NULL;
}

/*
 * Adds the aggregation @p op over @p g: store, processor and, if needed,
 * the repartition before it. @p value_serde is the store's value serde
 * unless m->value_serde is set (NULL: default.value.serde).
 */
static brook_table_t *agg_add(brook_grouped_t *g, const agg_op_t *op,
                              const brook_serde_t *value_serde,
                              const brook_materialized_t *m, const char *func)
{
        brook_builder_t *b = g->b;
        brook__grouped_prep_t p;
        brook_table_t *t = NULL;
        agg_op_t *copy;
        brook_processor_def_t def = {.init = brook__tproc_init,
                                     .process = agg_process,
                                     .close = brook__tproc_close,
                                     .opaque_destroy = free};
        const char *parent;
        size_t slen;

        if (brook__dsl_versioned_refused(b, m, func) ||
            brook__grouped_prepare(g, m, op->kind == AGG_REDUCE, func, &p))
                return NULL;
        if (m && m->value_serde)
                value_serde = m->value_serde;

        slen = strlen(p.store) + 1;
        copy = brook__xmalloc(sizeof *copy + slen);
        *copy = *op;
        copy->hdr.store = memcpy((char *)(copy + 1), p.store, slen);
        copy->hdr.agg = true;
        def.opaque = copy;
        parent = p.s->node;
        if (brook_builder_add_processor(b, p.name, &def, &parent, 1, NULL, 0) ||
            brook__dsl_store_add(b, m, p.store, p.key_serde, value_serde,
                                 p.name))
                goto done;
        /* Aggregates keep their timestamps (Kafka Streams'
         * TimestampedKeyValueStore). */
        brook__builder_store(b, p.store)->timestamped = true;
        t = brook__table_new(b, p.name, p.key_serde, value_serde, p.store,
                             BROOK__TABLE_AGGREGATE, true, &copy->hdr, NULL);
done:
        brook__grouped_prep_free(&p);
        return t;
}

brook_table_t *brook_grouped_count(brook_grouped_t *g,
                                   const brook_materialized_t *m)
{
        agg_op_t op = {.kind = AGG_COUNT};

        if (!g)
                return NULL;
        return agg_add(g, &op, brook_serde_int64(), m, "brook_grouped_count");
}

brook_table_t *brook_grouped_reduce(brook_grouped_t *g, brook_reducer_fn fn,
                                    void *opaque, const brook_materialized_t *m)
{
        agg_op_t op = {.kind = AGG_REDUCE, .reducer = fn, .opaque = opaque};

        if (!g)
                return NULL;
        if (!fn) {
                brook__builder_fail(g->b, NULL, 0,
                                    "brook_grouped_reduce: reducer is NULL");
                return NULL;
        }
        /* The aggregate is a value: the values' serde, as the repartition
         * topic (if any) carries them. */
        return agg_add(g, &op,
                       g->grouping.value_serde ? g->grouping.value_serde
                                               : g->s->value_serde,
                       m, "brook_grouped_reduce");
}

brook_table_t *brook_grouped_aggregate(brook_grouped_t *g,
                                       brook_initializer_fn init,
                                       brook_aggregator_fn fn, void *opaque,
                                       const brook_materialized_t *m)
{
        agg_op_t op = {.kind = AGG_AGGREGATE,
                       .init = init,
                       .aggregator = fn,
                       .opaque = opaque};

        if (!g)
                return NULL;
        if (!init || !fn) {
                brook__builder_fail(g->b, NULL, 0,
                                    "brook_grouped_aggregate: %s is NULL",
                                    !init ? "initializer" : "aggregator");
                return NULL;
        }
        return agg_add(g, &op, NULL, m, "brook_grouped_aggregate");
}
