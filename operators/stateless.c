/*
 * brook — the stateless record-at-a-time operators (Kafka Streams' filter,
 * map, flatMap, selectKey, peek, foreach and their values-only forms).
 *
 * Each operator is one processor node added with
 * brook_builder_add_processor(). An operator that changes a record makes a
 * new one with brook_ctx_record_new(): the input record may also go to
 * sibling nodes, which must see it unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "dsl_int.h"

/* A user function and its opaque: a processor's definition opaque and,
 * with no init(), its state as well. */
typedef struct stateless_op {
        union {
                brook_predicate_fn pred;
                brook_value_mapper_fn value_mapper;
                brook_key_selector_fn key_selector;
                brook_kv_mapper_fn kv_mapper;
                brook_flat_mapper_fn flat_mapper;
                brook_action_fn action;
        } fn;
        void *opaque;
        bool negate;      /**< filter_not. */
        bool values_only; /**< flat_map_values: keep the input's key. */
} stateless_op_t;

typedef brook_err_t (*process_fn)(brook_ctx_t *ctx, brook_record_t *rec,
                                  void *state, char *errstr,
                                  size_t errstr_size);

struct brook_emitter_s {
        brook_ctx_t *ctx;
        const brook_record_t *rec;
        bool values_only;
        brook_err_t err; /**< The first error a forward returned, */
        char *errstr;    /**< ... and where its reason went. */
        size_t errstr_size;
};

/*
 * Adds processor node "<prefix>-<n>" running @p process under @p s, with a
 * copy of @p op as its state. Returns the node's name (free it), or NULL
 * (the builder holds the error).
 */
static char *op_add_node(brook_stream_t *s, const char *prefix,
                         process_fn process, const stateless_op_t *op)
{
        brook_processor_def_t def = {.process = process,
                                     .opaque_destroy = free};
        char *name;

        def.opaque = brook__xmalloc(sizeof *op);
        memcpy(def.opaque, op, sizeof *op);
        name = brook__builder_new_name(s->b, prefix);
        if (brook_builder_add_processor(s->b, name, &def,
                                        (const char *const *)&s->node, 1, NULL,
                                        0) != BROOK_OK) {
                free(name);
                return NULL;
        }
        return name;
}

/* As op_add_node(), returning the node's stream with the given serdes. */
static brook_stream_t *op_add(brook_stream_t *s, const char *prefix,
                              process_fn process, const stateless_op_t *op,
                              const brook_serde_t *key_serde,
                              const brook_serde_t *value_serde,
                              bool key_changed)
{
        brook_stream_t *out;
        char *name = op_add_node(s, prefix, process, op);

        if (!name)
                return NULL;
        out = brook__stream_new(s->b, name, key_serde, value_serde,
                                key_changed);
        free(name);
        return out;
}

/* Fails the builder when a user function is missing. */
static bool fn_missing(brook_stream_t *s, bool missing, const char *func,
                       const char *what)
{
        if (missing)
                brook__builder_fail(s->b, NULL, 0, "%s: %s is NULL", func,
                                    what);
        return missing;
}

/* ----------------------------------------------------------------- filter */

/* A filter passes the input on untouched, so it forwards it as is. */
static brook_err_t filter_process(brook_ctx_t *ctx, brook_record_t *rec,
                                  void *state, char *errstr, size_t errstr_size)
{
        const stateless_op_t *op = state;

        if (op->fn.pred(rec, op->opaque) == op->negate)
                return BROOK_OK;
        return brook_ctx_forward(ctx, rec, errstr, errstr_size);
}

brook_stream_t *brook_stream_filter(brook_stream_t *s, brook_predicate_fn pred,
                                    void *opaque)
{
        stateless_op_t op = {.fn.pred = pred, .opaque = opaque};

        if (!s || fn_missing(s, !pred, "brook_stream_filter", "predicate"))
                return NULL;
        return op_add(s, "KSTREAM-FILTER", filter_process, &op, s->key_serde,
                      s->value_serde, s->key_changed);
}

brook_stream_t *brook_stream_filter_not(brook_stream_t *s,
                                        brook_predicate_fn pred, void *opaque)
{
        stateless_op_t op = {.fn.pred = pred, .opaque = opaque, .negate = true};

        if (!s || fn_missing(s, !pred, "brook_stream_filter_not", "predicate"))
                return NULL;
        /* Kafka Streams names filterNot nodes KSTREAM-FILTER as well. */
        return op_add(s, "KSTREAM-FILTER", filter_process, &op, s->key_serde,
                      s->value_serde, s->key_changed);
}

/* -------------------------------------------------------------------- map */

static brook_err_t map_process(brook_ctx_t *ctx, brook_record_t *rec,
                               void *state, char *errstr, size_t errstr_size)
{
        const stateless_op_t *op = state;
        void *key = brook_record_key(rec);
        void *value = brook_record_value(rec);

        op->fn.kv_mapper(rec, &key, &value, op->opaque);
        return brook_ctx_forward(
                ctx,
                brook_ctx_record_new(ctx, rec, key, value,
                                     brook_record_timestamp(rec)),
                errstr, errstr_size);
}

brook_stream_t *brook_stream_map(brook_stream_t *s, brook_kv_mapper_fn fn,
                                 void *opaque)
{
        stateless_op_t op = {.fn.kv_mapper = fn, .opaque = opaque};

        if (!s || fn_missing(s, !fn, "brook_stream_map", "mapper"))
                return NULL;
        return op_add(s, "KSTREAM-MAP", map_process, &op, NULL, NULL, true);
}

static brook_err_t map_values_process(brook_ctx_t *ctx, brook_record_t *rec,
                                      void *state, char *errstr,
                                      size_t errstr_size)
{
        const stateless_op_t *op = state;
        void *value = op->fn.value_mapper(rec, op->opaque);

        return brook_ctx_forward(
                ctx,
                brook_ctx_record_new(ctx, rec, brook_record_key(rec), value,
                                     brook_record_timestamp(rec)),
                errstr, errstr_size);
}

brook_stream_t *brook_stream_map_values(brook_stream_t *s,
                                        brook_value_mapper_fn fn, void *opaque)
{
        stateless_op_t op = {.fn.value_mapper = fn, .opaque = opaque};

        if (!s || fn_missing(s, !fn, "brook_stream_map_values", "mapper"))
                return NULL;
        return op_add(s, "KSTREAM-MAPVALUES", map_values_process, &op,
                      s->key_serde, NULL, s->key_changed);
}

/* --------------------------------------------------------------- flat map */

void brook_emit(brook_emitter_t *out, void *key, void *value)
{
        /* Once a downstream node failed, the input record fails as a whole;
         * more output would only be thrown away. */
        if (!out || out->err)
                return;
        if (out->values_only)
                key = brook_record_key(out->rec);
        out->err = brook_ctx_forward(
                out->ctx,
                brook_ctx_record_new(out->ctx, out->rec, key, value,
                                     brook_record_timestamp(out->rec)),
                out->errstr, out->errstr_size);
}

static brook_err_t flat_map_process(brook_ctx_t *ctx, brook_record_t *rec,
                                    void *state, char *errstr,
                                    size_t errstr_size)
{
        const stateless_op_t *op = state;
        brook_emitter_t out = {.ctx = ctx,
                               .rec = rec,
                               .values_only = op->values_only,
                               .err = BROOK_OK,
                               .errstr = errstr,
                               .errstr_size = errstr_size};

        op->fn.flat_mapper(rec, &out, op->opaque);
        return out.err;
}

brook_stream_t *brook_stream_flat_map(brook_stream_t *s,
                                      brook_flat_mapper_fn fn, void *opaque)
{
        stateless_op_t op = {.fn.flat_mapper = fn, .opaque = opaque};

        if (!s || fn_missing(s, !fn, "brook_stream_flat_map", "mapper"))
                return NULL;
        return op_add(s, "KSTREAM-FLATMAP", flat_map_process, &op, NULL, NULL,
                      true);
}

brook_stream_t *brook_stream_flat_map_values(brook_stream_t *s,
                                             brook_flat_mapper_fn fn,
                                             void *opaque)
{
        stateless_op_t op = {
                .fn.flat_mapper = fn, .opaque = opaque, .values_only = true};

        if (!s || fn_missing(s, !fn, "brook_stream_flat_map_values", "mapper"))
                return NULL;
        return op_add(s, "KSTREAM-FLATMAPVALUES", flat_map_process, &op,
                      s->key_serde, NULL, s->key_changed);
}

/* ------------------------------------------------------------- select key */

static brook_err_t select_key_process(brook_ctx_t *ctx, brook_record_t *rec,
                                      void *state, char *errstr,
                                      size_t errstr_size)
{
        const stateless_op_t *op = state;
        void *key = op->fn.key_selector(rec, op->opaque);

        return brook_ctx_forward(
                ctx,
                brook_ctx_record_new(ctx, rec, key, brook_record_value(rec),
                                     brook_record_timestamp(rec)),
                errstr, errstr_size);
}

brook_stream_t *brook_stream_select_key(brook_stream_t *s,
                                        brook_key_selector_fn fn, void *opaque)
{
        stateless_op_t op = {.fn.key_selector = fn, .opaque = opaque};

        if (!s || fn_missing(s, !fn, "brook_stream_select_key", "key selector"))
                return NULL;
        return op_add(s, "KSTREAM-KEY-SELECT", select_key_process, &op, NULL,
                      s->value_serde, true);
}

/* ---------------------------------------------------------- peek, foreach */

static brook_err_t peek_process(brook_ctx_t *ctx, brook_record_t *rec,
                                void *state, char *errstr, size_t errstr_size)
{
        const stateless_op_t *op = state;

        op->fn.action(rec, op->opaque);
        return brook_ctx_forward(ctx, rec, errstr, errstr_size);
}

brook_stream_t *brook_stream_peek(brook_stream_t *s, brook_action_fn fn,
                                  void *opaque)
{
        stateless_op_t op = {.fn.action = fn, .opaque = opaque};

        if (!s || fn_missing(s, !fn, "brook_stream_peek", "action"))
                return NULL;
        return op_add(s, "KSTREAM-PEEK", peek_process, &op, s->key_serde,
                      s->value_serde, s->key_changed);
}

static brook_err_t foreach_process(brook_ctx_t *ctx, brook_record_t *rec,
                                   void *state, char *errstr,
                                   size_t errstr_size)
{
        const stateless_op_t *op = state;

        (void)ctx;
        op->fn.action(rec, op->opaque);
        return BROOK_OK;
}

void brook_stream_foreach(brook_stream_t *s, brook_action_fn fn, void *opaque)
{
        stateless_op_t op = {.fn.action = fn, .opaque = opaque};

        if (!s || fn_missing(s, !fn, "brook_stream_foreach", "action"))
                return;
        free(op_add_node(s, "KSTREAM-FOREACH", foreach_process, &op));
}
