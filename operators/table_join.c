/*
 * brook — table-table joins, inner, left and outer (Kafka Streams'
 * KTableImpl.doJoin(), KTableKTableInnerJoin, KTableKTableLeftJoin,
 * KTableKTableRightJoin, KTableKTableOuterJoin and KTableKTableJoinMerger).
 *
 * Each table's updates go to a join node of its own, which looks the key
 * up in the other table's store and forwards the joined update (and, when
 * a node below asks for them, the joined old value); a merge node passes
 * both sides' updates on, through its own store if the result is
 * materialized. The nodes read both tables' stores, so they run in one
 * task: the tables must be co-partitioned.
 *
 * An update's timestamp is the later of the record's and the other
 * table's value's (both tables keep their values' timestamps).
 */
#include <stdlib.h>
#include <string.h>

#include "dsl_int.h"
#include "store_int.h"

typedef enum {
        TJ_INNER, /* KTableKTableInnerJoin, either side */
        TJ_LEFT,  /* KTableKTableLeftJoin: the left table's side */
        TJ_RIGHT, /* KTableKTableRightJoin: the right table's, of a left join */
        TJ_OUTER, /* KTableKTableOuterJoin, either side */
} tj_kind_t;

/* A join node's definition (its opaque). */
typedef struct tj_op {
        brook__tnode_t hdr; /* First: its send_old is the node's. */
        tj_kind_t kind;
        brook_value_joiner_fn fn;
        void *opaque;
        /** The other table's side: the joiner's arguments swap. */
        bool swap;
        /** This side's table: whether it sends old values (its updates
         *  are then changes), and whether it is versioned (Kafka Streams'
         *  useVersionedSemantics). */
        const brook__tnode_t *parent;
        char *other_store; /* In the same allocation. */
} tj_op_t;

typedef struct tj {
        const tj_op_t *op;
        brook__tstore_t other;
} tj_t;

static brook_err_t tj_init(brook_ctx_t *ctx, void *opaque, void **statep,
                           char *errstr, size_t errstr_size)
{
        const tj_op_t *op = opaque;
        tj_t *j = brook__xcalloc(1, sizeof *j);
        brook_err_t err;

        j->op = op;
        if ((err = brook__tstore_init(&j->other, ctx, op->other_store, errstr,
                                      errstr_size))) {
                free(j);
                return err;
        }
        *statep = j;
        return BROOK_OK;
}

static void tj_close(brook_ctx_t *ctx, void *state)
{
        (void)ctx;
        free(state);
}

/* The joiner on this side's value @p mine and the other table's
 * @p theirs, in left, right order. */
static void *tj_apply(const tj_op_t *op, const brook_record_t *rec, void *mine,
                      void *theirs)
{
        return op->swap ? op->fn(rec, theirs, mine, op->opaque)
                        : op->fn(rec, mine, theirs, op->opaque);
}

static brook_err_t tj_process(brook_ctx_t *ctx, brook_record_t *rec,
                              void *state, char *errstr, size_t errstr_size)
{
        const tj_t *j = state;
        const tj_op_t *op = j->op;
        void *key = rec->key, *new = rec->value;
        void *old = op->parent->send_old ? brook__change_old(rec) : NULL;
        void *theirs = NULL, *out_new = NULL, *out_old = NULL;
        int64_t their_ts = -1, ts;
        brook_record_t *out;
        brook_err_t err;

        if (!key) {
                brook__ctx_drop(ctx, rec, BROOK_DROP_NULL_KEY, "null key");
                return BROOK_OK;
        }
        /* Kafka Streams (KIP-914): a versioned table's out-of-order update
         * changes no join result, which follows the latest values. */
        if (op->parent->versioned && !brook__change_latest(rec)) {
                brook__ctx_drop(ctx, rec, BROOK_DROP_OUT_OF_ORDER,
                                "out-of-order record from versioned table "
                                "while performing table-table join");
                return BROOK_OK;
        }
        /* The other table's latest value (Kafka Streams' getter.get(key)),
         * with its timestamp. */
        /* Exposed: the result holds the other row, so its delete must
         * reach the other side's join node even if the row never left
         * the cache. */
        if ((err = brook__tstore_get(&j->other, key, INT64_MAX, true, &theirs,
                                     &their_ts, errstr, errstr_size)))
                return err;
        switch (op->kind) {
        case TJ_INNER:
                if (!theirs)
                        return BROOK_OK;
                if (new)
                        out_new = tj_apply(op, rec, new, theirs);
                if (op->hdr.send_old && old)
                        out_old = tj_apply(op, rec, old, theirs);
                break;
        case TJ_LEFT:
                if (!theirs && !new && !old)
                        return BROOK_OK;
                if (new)
                        out_new = tj_apply(op, rec, new, theirs);
                if (op->hdr.send_old && old)
                        out_old = tj_apply(op, rec, old, theirs);
                break;
        case TJ_RIGHT:
                /* The left table's row is the result's: none, no result.
                 * Else the result is the left row joined with this one,
                 * or with none. */
                if (!theirs)
                        return BROOK_OK;
                out_new = tj_apply(op, rec, new, theirs);
                if (op->hdr.send_old)
                        out_old = tj_apply(op, rec, old, theirs);
                break;
        case TJ_OUTER:
                if (!theirs && !new && !old)
                        return BROOK_OK;
                if (theirs || new)
                        out_new = tj_apply(op, rec, new, theirs);
                if (op->hdr.send_old && (theirs || old))
                        out_old = tj_apply(op, rec, old, theirs);
                break;
        }
        ts = rec->timestamp > their_ts ? rec->timestamp : their_ts;
        out = brook__table_update(ctx, &op->hdr, rec, key, out_new, out_old,
                                  ts);
        return brook_ctx_forward(ctx, out, errstr, errstr_size);
}

/* ---------------------------------------------------------------- merge */

/* KTableKTableJoinMerger: both sides' updates, through the result's store
 * if it is materialized. */
static brook_err_t tj_merge_process(brook_ctx_t *ctx, brook_record_t *rec,
                                    void *state, char *errstr,
                                    size_t errstr_size)
{
        brook__tfwd_t *fwd = state;
        const brook__tnode_t *op = fwd->op;
        /* The join nodes send old values exactly when this node does. */
        void *old = op->send_old ? brook__change_old(rec) : NULL;
        void *stored = NULL;
        brook_err_t err;

        if (fwd->st && fwd->pending) {
                err = brook_kvstore_get(fwd->st, rec->key, &stored, errstr,
                                        errstr_size);
                if (err == BROOK_ERR_NOT_FOUND)
                        stored = NULL;
                else if (err)
                        return err;
        }
        return brook__tfwd_put(fwd, rec, rec->key, rec->value, old, stored,
                               rec->timestamp, errstr, errstr_size);
}

/* ------------------------------------------------------------------ DSL */

static tj_op_t *tj_op_new(tj_kind_t kind, brook_value_joiner_fn fn,
                          void *opaque, bool swap, const brook__tnode_t *parent,
                          const char *other_store)
{
        size_t len = strlen(other_store) + 1;
        tj_op_t *op = brook__xcalloc(1, sizeof *op + len);

        op->kind = kind;
        op->fn = fn;
        op->opaque = opaque;
        op->swap = swap;
        op->parent = parent;
        op->other_store = memcpy((char *)(op + 1), other_store, len);
        return op;
}

bool brook__tables_joinable(brook_table_t *t, brook_table_t *other,
                            const char *name, const brook_materialized_t *m,
                            const char *func)
{
        brook_builder_t *b = t->b;

        if (other->b != b) {
                brook__builder_fail(b, NULL, 0,
                                    "%s: the other table is of another "
                                    "builder",
                                    func);
                return false;
        }
        if ((name && !*name) || (m && m->name && !*m->name)) {
                brook__builder_fail(b, NULL, 0, "%s: the %s is empty", func,
                                    name && !*name ? "join's name"
                                                   : "materialized store name");
                return false;
        }
        if (t->windowed || other->windowed) {
                brook__builder_fail(b, NULL, 0,
                                    "%s: table \"%s\" is windowed: tables of "
                                    "plain keys join",
                                    func, t->windowed ? t->node : other->node);
                return false;
        }
        return true;
}

static brook_table_t *tj_add(brook_table_t *t, brook_table_t *other,
                             brook_value_joiner_fn fn, void *opaque,
                             const char *name, const brook_materialized_t *m,
                             bool left_outer, bool right_outer,
                             const char *func)
{
        brook_builder_t *b;
        brook_processor_def_t join = {.init = tj_init,
                                      .process = tj_process,
                                      .close = tj_close,
                                      .opaque_destroy = free};
        brook_processor_def_t merge = {.init = brook__tproc_init,
                                       .process = tj_merge_process,
                                       .close = brook__tproc_close,
                                       .opaque_destroy = free};
        brook__tnode_t *merge_op;
        tj_op_t *this_op, *other_op;
        char *gen_store = NULL, *merge_name = NULL, *this_name = NULL;
        char *other_name = NULL;
        const char *store = NULL, *parents[2];
        const brook_serde_t *ks;
        brook_table_t *out = NULL;

        if (!t || !other)
                return NULL;
        b = t->b;
        if (!fn) {
                brook__builder_fail(b, NULL, 0, "%s: joiner is NULL", func);
                return NULL;
        }
        if (!brook__tables_joinable(t, other, name, m, func))
                return NULL;
        if (brook__dsl_versioned_refused(b, m, func))
                return NULL;
        /* Kafka Streams' order: the result's store name (when materialized
         * without one), the merge's name, the old values the join needs,
         * the value getters, the join nodes' names. */
        if (m && m->name) {
                store = m->name;
        } else if (m) {
                store = gen_store =
                        brook__builder_new_name(b, "KTABLE-MERGE-STATE-STORE");
        }
        merge_name = brook__dsl_name(b, name, "", "KTABLE-MERGE");
        if (left_outer)
                brook__table_send_old_force(t);
        if (right_outer)
                brook__table_send_old_force(other);
        if (!brook__table_getter(t, func) || !brook__table_getter(other, func))
                goto done;
        this_name = brook__dsl_name(b, name, "-join-this", "KTABLE-JOINTHIS");
        other_name =
                brook__dsl_name(b, name, "-join-other", "KTABLE-JOINOTHER");

        this_op = tj_op_new(!left_outer    ? TJ_INNER
                            : !right_outer ? TJ_LEFT
                                           : TJ_OUTER,
                            fn, opaque, false, t->op, other->store);
        other_op = tj_op_new(!left_outer    ? TJ_INNER
                             : !right_outer ? TJ_RIGHT
                                            : TJ_OUTER,
                             fn, opaque, true, other->op, t->store);
        join.opaque = this_op;
        if (brook_builder_add_processor(b, this_name, &join,
                                        (const char **)&t->node, 1, NULL, 0)) {
                free(other_op);
                goto done;
        }
        join.opaque = other_op;
        if (brook_builder_add_processor(b, other_name, &join,
                                        (const char **)&other->node, 1, NULL,
                                        0))
                goto done;
        merge_op = brook__xcalloc(1, sizeof *merge_op +
                                             (store ? strlen(store) + 1 : 0));
        if (store)
                merge_op->store = strcpy((char *)(merge_op + 1), store);
        merge.opaque = merge_op;
        parents[0] = this_name;
        parents[1] = other_name;
        if (brook_builder_add_processor(b, merge_name, &merge, parents, 2, NULL,
                                        0) ||
            brook_builder_connect_store(b, this_name, other->store, NULL, 0) ||
            brook_builder_connect_store(b, other_name, t->store, NULL, 0))
                goto done;
        brook__builder_node(b, this_name)->copartition = true;
        brook__builder_node(b, other_name)->copartition = true;
        ks = m && m->key_serde ? m->key_serde : t->key_serde;
        if (store) {
                if (brook__dsl_store_add(b, m, store, ks, NULL, merge_name))
                        goto done;
                brook__builder_store(b, store)->timestamped = true;
        }
        out = brook__table_new(b, merge_name, ks, m ? m->value_serde : NULL,
                               store, BROOK__TABLE_JOIN, store != NULL,
                               merge_op, t);
        out->other = other;
        out->join_ops[0] = &this_op->hdr;
        out->join_ops[1] = &other_op->hdr;
done:
        free(gen_store);
        free(merge_name);
        free(this_name);
        free(other_name);
        return out;
}

brook_table_t *brook_table_join(brook_table_t *t, brook_table_t *other,
                                brook_value_joiner_fn fn, void *opaque,
                                const char *name, const brook_materialized_t *m)
{
        return tj_add(t, other, fn, opaque, name, m, false, false,
                      "brook_table_join");
}

brook_table_t *brook_table_left_join(brook_table_t *t, brook_table_t *other,
                                     brook_value_joiner_fn fn, void *opaque,
                                     const char *name,
                                     const brook_materialized_t *m)
{
        return tj_add(t, other, fn, opaque, name, m, true, false,
                      "brook_table_left_join");
}

brook_table_t *brook_table_outer_join(brook_table_t *t, brook_table_t *other,
                                      brook_value_joiner_fn fn, void *opaque,
                                      const char *name,
                                      const brook_materialized_t *m)
{
        return tj_add(t, other, fn, opaque, name, m, true, true,
                      "brook_table_outer_join");
}
