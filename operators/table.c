/*
 * brook — tables (Kafka Streams' KTable): a table of a topic, filter,
 * filter_not, map_values and to_stream, and the materialization that
 * aggregations share (a store per table, updates forwarded at once or, when
 * the store caches, as the cache writes them down).
 *
 * A table's records are its updates: (key, new value), with a NULL value
 * for a deleted key. Without old values (Kafka Streams' sendOldValues) each
 * operator maps one update to one update.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsl_int.h"
#include "store_int.h"

/* The handle and its strings are one allocation, because the builder
 * frees every handle it keeps with a single free(). */
brook_table_t *brook__table_new(brook_builder_t *b, const char *node,
                                const brook_serde_t *key_serde,
                                const brook_serde_t *value_serde,
                                const char *store)
{
        size_t nlen = strlen(node) + 1, slen = store ? strlen(store) + 1 : 0;
        brook_table_t *t = brook__xmalloc(sizeof *t + nlen + slen);

        t->b = b;
        t->node = memcpy((char *)(t + 1), node, nlen);
        t->store = store ? memcpy(t->node + nlen, store, slen) : NULL;
        t->key_serde = key_serde;
        t->value_serde = value_serde;
        t->windowed = false;
        t->grace_ms = 0;
        brook__builder_keep(b, t);
        return t;
}

brook_err_t
brook__dsl_store_add(brook_builder_t *b, const brook_materialized_t *m,
                     const char *name, const brook_serde_t *key_serde,
                     const brook_serde_t *value_serde, const char *proc)
{
        brook_materialized_t mat = {0};

        if (m)
                mat = *m;
        mat.name = name;
        if (!mat.key_serde)
                mat.key_serde = key_serde;
        if (!mat.value_serde)
                mat.value_serde = value_serde;
        return brook_builder_add_store(b, &mat, &proc, 1, NULL, 0);
}

/* ------------------------------------------------------------ forwarding */

/* A caching store hands over each entry it writes down; it goes downstream
 * as the table's update, with the timestamp of the entry's last write. */
static brook_err_t tfwd_emit(brook__store_t *st, const void *key,
                             size_t key_size, const void *value,
                             size_t value_size, int64_t ts, void *opaque,
                             char *errstr, size_t errstr_size)
{
        brook__tfwd_t *fwd = opaque;
        brook_record_t *rec =
                brook_ctx_record_new(fwd->ctx, NULL, NULL, NULL, ts);
        brook_err_t err;

        err = brook__kvstore_decode(st, key, key_size, value, value_size,
                                    brook_record_arena(rec), &rec->key,
                                    &rec->value, errstr, errstr_size);
        if (err)
                return err;
        return brook_ctx_forward(fwd->ctx, rec, errstr, errstr_size);
}

brook_err_t brook__tproc_init(brook_ctx_t *ctx, void *opaque, void **statep,
                              char *errstr, size_t errstr_size)
{
        const brook__tnode_t *node = opaque;
        brook__tfwd_t *fwd = brook__xcalloc(1, sizeof *fwd);
        brook_err_t err;

        fwd->op = opaque;
        err = brook__tfwd_init(fwd, ctx, node->store, errstr, errstr_size);
        if (err) {
                free(fwd);
                return err;
        }
        *statep = fwd;
        return BROOK_OK;
}

void brook__tproc_close(brook_ctx_t *ctx, void *state)
{
        brook__tfwd_t *fwd = state;
        (void)ctx;
        brook__tfwd_close(fwd);
        free(fwd);
}

brook_err_t brook__tfwd_init(brook__tfwd_t *fwd, brook_ctx_t *ctx,
                             const char *store, char *errstr,
                             size_t errstr_size)
{
        fwd->ctx = ctx;
        fwd->st = NULL;
        if (!store)
                return BROOK_OK;
        if (brook_ctx_kvstore(ctx, store, &fwd->st, errstr, errstr_size))
                return BROOK_ERR_STATE;
        if (brook__store_caching(&fwd->st->s))
                brook__store_set_emit(&fwd->st->s, tfwd_emit, fwd);
        return BROOK_OK;
}

void brook__tfwd_close(brook__tfwd_t *fwd)
{
        if (fwd->st && brook__store_caching(&fwd->st->s))
                brook__store_set_emit(&fwd->st->s, NULL, NULL);
}

brook_err_t brook__tfwd_put(brook__tfwd_t *fwd, const brook_record_t *parent,
                            void *key, void *value, char *errstr,
                            size_t errstr_size)
{
        brook_err_t err;

        if (fwd->st) {
                /* A write may evict and forward a dirty entry: the reason
                 * then names the node downstream that failed. */
                err = brook_kvstore_put(fwd->st, key, value, errstr,
                                        errstr_size);
                if (err)
                        return err;
                if (brook__store_caching(&fwd->st->s))
                        return BROOK_OK;
        }
        return brook_ctx_forward(
                fwd->ctx,
                brook_ctx_record_new(fwd->ctx, parent, key, value,
                                     brook_record_timestamp(parent)),
                errstr, errstr_size);
}

/* ------------------------------------------------------ table processors */

typedef enum {
        TABLE_SOURCE,
        TABLE_FILTER,
        TABLE_MAP_VALUES,
} table_kind_t;

/* What a table node does: its definition opaque, shared by its tasks. */
typedef struct table_op {
        brook__tnode_t hdr; /* First: see brook__tproc_init(). */
        table_kind_t kind;
        brook_predicate_fn pred;
        brook_value_mapper_fn mapper;
        void *opaque;
        bool negate; /**< filter_not. */
} table_op_t;

static brook_err_t table_process(brook_ctx_t *ctx, brook_record_t *rec,
                                 void *state, char *errstr, size_t errstr_size)
{
        brook__tfwd_t *fwd = state;
        const table_op_t *op = fwd->op;
        void *key = brook_record_key(rec);
        void *value = brook_record_value(rec);

        switch (op->kind) {
        case TABLE_SOURCE:
                /* A table has no row for a null key (Kafka Streams skips
                 * the record, logs it and counts it as dropped). */
                if (!key) {
                        brook__ctx_drop(ctx, rec, BROOK_DROP_NULL_KEY,
                                        "null key");
                        return BROOK_OK;
                }
                break;
        case TABLE_FILTER:
                if (value && op->pred(rec, op->opaque) == op->negate)
                        value = NULL;
                break;
        case TABLE_MAP_VALUES:
                if (value)
                        value = op->mapper(rec, op->opaque);
                break;
        }
        return brook__tfwd_put(fwd, rec, key, value, errstr, errstr_size);
}

/* Adds table node @p name under @p parent, with a copy of @p op whose store
 * is @p store. Returns BROOK_OK or the builder's error. */
static brook_err_t table_node_add(brook_builder_t *b, const char *name,
                                  const char *parent, const table_op_t *op,
                                  const char *store)
{
        size_t slen = store ? strlen(store) + 1 : 0;
        table_op_t *copy = brook__xmalloc(sizeof *copy + slen);
        brook_processor_def_t def = {.init = brook__tproc_init,
                                     .process = table_process,
                                     .close = brook__tproc_close,
                                     .opaque = copy,
                                     .opaque_destroy = free};

        *copy = *op;
        copy->hdr.store =
                store ? memcpy((char *)(copy + 1), store, slen) : NULL;
        return brook_builder_add_processor(b, name, &def, &parent, 1, NULL, 0);
}

/* Fails the builder if @p m names its store with an empty string. */
static bool materialized_bad(brook_builder_t *b, const brook_materialized_t *m,
                             const char *func)
{
        if (m && m->name && !*m->name) {
                brook__builder_fail(b, NULL, 0,
                                    "%s: the materialized store name is empty",
                                    func);
                return true;
        }
        return false;
}

/* ------------------------------------------------------------ the source */

brook_table_t *brook_table(brook_builder_t *b, const char *topic,
                           const brook_consumed_t *consumed,
                           const brook_materialized_t *m)
{
        table_op_t op = {.kind = TABLE_SOURCE};
        const brook_serde_t *ks, *vs;
        brook_table_t *t = NULL;
        brook_stream_t *s;
        char *gen_store = NULL, *name = NULL;
        const char *store;
        size_t len;

        if (!b)
                return NULL;
        if (!topic || !*topic) {
                brook__builder_fail(b, NULL, 0, "brook_table: topic is NULL");
                return NULL;
        }
        if (materialized_bad(b, m, "brook_table"))
                return NULL;
        /* Kafka Streams names the store first, then the source and the
         * table source nodes. */
        if (m && m->name) {
                store = m->name;
        } else {
                /* Kafka Streams' name: "<topic>-STATE-STORE-<n>". */
                char *prefix =
                        brook__xmalloc(strlen(topic) + sizeof "-STATE-STORE");
                sprintf(prefix, "%s-STATE-STORE", topic);
                store = gen_store = brook__builder_new_name(b, prefix);
                free(prefix);
        }
        s = brook_stream(b, topic, consumed);
        if (!s)
                goto done;
        if (consumed && consumed->name) {
                len = strlen(consumed->name);
                name = brook__xmalloc(len + sizeof "-table-source");
                memcpy(name, consumed->name, len);
                memcpy(name + len, "-table-source", sizeof "-table-source");
        } else {
                name = brook__builder_new_name(b, "KTABLE-SOURCE");
        }
        ks = m && m->key_serde ? m->key_serde : s->key_serde;
        vs = m && m->value_serde ? m->value_serde : s->value_serde;
        if (table_node_add(b, name, s->node, &op, store) ||
            brook__dsl_store_add(b, m, store, ks, vs, name))
                goto done;
        t = brook__table_new(b, name, ks, vs, store);
done:
        free(gen_store);
        free(name);
        return t;
}

/* ---------------------------------------------------- filter, map_values */

/* Adds "<prefix>-<n>" running @p op under @p t, materialized if @p m is
 * non-NULL in a store named m->name or "<prefix>-STATE-STORE-<n>". */
static brook_table_t *table_op_add(brook_table_t *t, const char *prefix,
                                   const table_op_t *op,
                                   const brook_serde_t *value_serde,
                                   const brook_materialized_t *m,
                                   const char *func)
{
        brook_table_t *out = NULL;
        char *gen_store = NULL, *name, *store_prefix;
        const char *store = NULL;
        size_t len;

        if (materialized_bad(t->b, m, func))
                return NULL;
        if (m && m->value_serde)
                value_serde = m->value_serde;
        /* As in Kafka Streams, the store's name is taken before the node's.
         */
        if (m && m->name) {
                store = m->name;
        } else if (m) {
                len = strlen(prefix);
                store_prefix = brook__xmalloc(len + sizeof "-STATE-STORE");
                memcpy(store_prefix, prefix, len);
                memcpy(store_prefix + len, "-STATE-STORE",
                       sizeof "-STATE-STORE");
                store = gen_store = brook__builder_new_name(t->b, store_prefix);
                free(store_prefix);
        }
        name = brook__builder_new_name(t->b, prefix);
        if (table_node_add(t->b, name, t->node, op, store))
                goto done;
        if (store && brook__dsl_store_add(t->b, m, store, t->key_serde,
                                          value_serde, name))
                goto done;
        out = brook__table_new(t->b, name,
                               m && m->key_serde ? m->key_serde : t->key_serde,
                               value_serde, store);
done:
        free(gen_store);
        free(name);
        return out;
}

static brook_table_t *table_filter(brook_table_t *t, brook_predicate_fn pred,
                                   void *opaque, const brook_materialized_t *m,
                                   bool negate, const char *func)
{
        table_op_t op = {.kind = TABLE_FILTER,
                         .pred = pred,
                         .opaque = opaque,
                         .negate = negate};

        if (!t)
                return NULL;
        if (!pred) {
                brook__builder_fail(t->b, NULL, 0, "%s: predicate is NULL",
                                    func);
                return NULL;
        }
        /* Kafka Streams names filterNot nodes KTABLE-FILTER as well. */
        return table_op_add(t, "KTABLE-FILTER", &op, t->value_serde, m, func);
}

brook_table_t *brook_table_filter(brook_table_t *t, brook_predicate_fn pred,
                                  void *opaque, const brook_materialized_t *m)
{
        return table_filter(t, pred, opaque, m, false, "brook_table_filter");
}

brook_table_t *brook_table_filter_not(brook_table_t *t, brook_predicate_fn pred,
                                      void *opaque,
                                      const brook_materialized_t *m)
{
        return table_filter(t, pred, opaque, m, true, "brook_table_filter_not");
}

brook_table_t *brook_table_map_values(brook_table_t *t,
                                      brook_value_mapper_fn fn, void *opaque,
                                      const brook_materialized_t *m)
{
        table_op_t op = {
                .kind = TABLE_MAP_VALUES, .mapper = fn, .opaque = opaque};

        if (!t)
                return NULL;
        if (!fn) {
                brook__builder_fail(t->b, NULL, 0,
                                    "brook_table_map_values: mapper is NULL");
                return NULL;
        }
        /* The new values' type is the mapper's: unknown unless m says. */
        return table_op_add(t, "KTABLE-MAPVALUES", &op, NULL, m,
                            "brook_table_map_values");
}

/* ------------------------------------------------------------- to stream */

static brook_err_t to_stream_process(brook_ctx_t *ctx, brook_record_t *rec,
                                     void *state, char *errstr,
                                     size_t errstr_size)
{
        (void)state;
        return brook_ctx_forward(ctx, rec, errstr, errstr_size);
}

brook_stream_t *brook_table_to_stream(brook_table_t *t)
{
        brook_processor_def_t def = {.process = to_stream_process};
        brook_stream_t *s = NULL;
        const char *parent;
        char *name;

        if (!t)
                return NULL;
        parent = t->node;
        name = brook__builder_new_name(t->b, "KTABLE-TOSTREAM");
        if (brook_builder_add_processor(t->b, name, &def, &parent, 1, NULL,
                                        0) == BROOK_OK)
                s = brook__stream_new(t->b, name, t->key_serde, t->value_serde,
                                      false);
        free(name);
        return s;
}

const char *brook_table_store_name(const brook_table_t *t)
{
        return t ? t->store : NULL;
}
