/*
 * brook — stream-table joins, inner and left (Kafka Streams'
 * KStreamKTableJoin): each stream record looks up its key in the table's
 * store when it is processed (a versioned table's: as of the record's
 * timestamp), and table updates make no output. The stream-global join
 * (KStreamGlobalKTableJoin) is the same with a key the record selects,
 * read from the global store the app's global thread keeps.
 *
 * The join node is connected to the table's store, which puts it in the
 * table's sub-topology (nodes sharing a store share a task): the stream's
 * and the table's topics must be co-partitioned, which the app checks at
 * start-up. A stream whose key may have changed is read back through a
 * repartition topic first, as Kafka Streams does.
 */
#include <stdlib.h>
#include <string.h>

#include "dsl_int.h"
#include "store_int.h"

/* A stream-table join node's definition: its opaque, shared by its tasks. */
typedef struct stjoin_op {
        brook_value_joiner_fn fn;
        void *opaque;
        bool left;
        char store[]; /* The table's store. */
} stjoin_op_t;

/* Per task: the table's store. */
typedef struct stjoin {
        const stjoin_op_t *op;
        brook__tstore_t table;
} stjoin_t;

static brook_err_t stjoin_init(brook_ctx_t *ctx, void *opaque, void **statep,
                               char *errstr, size_t errstr_size)
{
        const stjoin_op_t *op = opaque;
        stjoin_t *j = brook__xcalloc(1, sizeof *j);
        brook_err_t err;

        j->op = op;
        if ((err = brook__tstore_init(&j->table, ctx, op->store, errstr,
                                      errstr_size))) {
                free(j);
                return err;
        }
        *statep = j;
        return BROOK_OK;
}

static void stjoin_close(brook_ctx_t *ctx, void *state)
{
        (void)ctx;
        free(state);
}

static brook_err_t stjoin_process(brook_ctx_t *ctx, brook_record_t *rec,
                                  void *state, char *errstr, size_t errstr_size)
{
        const stjoin_t *j = state;
        void *key = brook_record_key(rec);
        void *value = brook_record_value(rec);
        void *right = NULL, *out;
        int64_t ts;
        brook_err_t err;

        /* Kafka Streams: a null value has nothing to join (a null in the
         * joiner means "no table row"); a null key has no row to look up,
         * but a left join still joins it with none. */
        if (!value || (!key && !j->op->left)) {
                brook__ctx_drop(ctx, rec,
                                value ? BROOK_DROP_NULL_KEY
                                      : BROOK_DROP_NULL_VALUE,
                                "null join key or value");
                return BROOK_OK;
        }
        /* A versioned table answers as of the stream record's time
         * (Kafka Streams' KStreamKTableJoinProcessor with a versioned
         * getter): a late record joins the row valid when it happened. */
        /* Not exposed: a stream's join results are events, which a later
         * delete of the row does not take back. */
        if (key && (err = brook__tstore_get(&j->table, key,
                                            brook_record_timestamp(rec), false,
                                            &right, &ts, errstr, errstr_size)))
                return err;
        if (!right && !j->op->left)
                return BROOK_OK;
        out = j->op->fn(rec, value, right, j->op->opaque);
        return brook_ctx_forward(
                ctx,
                brook_ctx_record_new(ctx, rec, key, out,
                                     brook_record_timestamp(rec)),
                errstr, errstr_size);
}

/* A record with raw key @p key comes soon: the table's lookup is
 * fetched ahead when the table's encoded key is the same bytes (the key
 * serdes agree; otherwise this fetches the wrong memory, harmlessly). A
 * versioned table's store is not a cache. */
static void stjoin_prefetch(void *state, const void *key, size_t key_size,
                            bool near)
{
        const stjoin_t *j = state;

        if (j->table.kv)
                brook__kvstore_prefetch(j->table.kv, key, key_size, near);
}

static brook_stream_t *stjoin_add(brook_stream_t *s, brook_table_t *t,
                                  brook_value_joiner_fn fn, void *opaque,
                                  const brook_joined_t *joined, bool left,
                                  const char *func)
{
        brook_joined_t jd = {0};
        brook_builder_t *b;
        brook_processor_def_t def = {.init = stjoin_init,
                                     .process = stjoin_process,
                                     .close = stjoin_close,
                                     .opaque_destroy = free};
        stjoin_op_t *op;
        brook_stream_t *out = NULL;
        char *name = NULL, why[256];
        const char *parent;
        size_t slen;

        if (!s || !t)
                return NULL;
        b = s->b;
        if (t->b != b) {
                brook__builder_fail(b, NULL, 0,
                                    "%s: the table is of another builder",
                                    func);
                return NULL;
        }
        if (!fn) {
                brook__builder_fail(b, NULL, 0, "%s: joiner is NULL", func);
                return NULL;
        }
        if (joined && !brook__version_ok(joined->version, BROOK_JOINED_VERSION,
                                         "brook_joined_t", why, sizeof why)) {
                brook__builder_fail(b, NULL, 0, "%s: %s", func, why);
                return NULL;
        }
        if (joined)
                jd = *joined;
        if (jd.name && !*jd.name) {
                brook__builder_fail(b, NULL, 0, "%s: the join's name is empty",
                                    func);
                return NULL;
        }
        if (!brook__table_getter(t, func))
                return NULL;
        if (t->windowed) {
                brook__builder_fail(b, NULL, 0,
                                    "%s: table \"%s\" is windowed: a stream "
                                    "joins a table of plain keys",
                                    func, t->node);
                return NULL;
        }
        /* Kafka Streams' order: the repartition first, then the join's
         * name. */
        if (s->key_changed) {
                /* A left join joins a null key with null: the filter before
                 * the topic lets null keys through (the join is marked
                 * relaxed below). */
                s = brook__stream_repartition_for_join(s, jd.name, jd.key_serde,
                                                       jd.value_serde);
                if (!s)
                        return NULL;
        }
        /* A given name takes a number too, as in Kafka Streams. */
        name = brook__builder_new_name(b, left ? "KSTREAM-LEFTJOIN"
                                               : "KSTREAM-JOIN");
        if (jd.name) {
                free(name);
                name = brook__xstrdup(jd.name);
        }
        slen = strlen(t->store) + 1;
        op = brook__xmalloc(sizeof *op + slen);
        op->fn = fn;
        op->opaque = opaque;
        op->left = left;
        memcpy(op->store, t->store, slen);
        def.opaque = op;
        parent = s->node;
        if (brook_builder_add_processor(b, name, &def, &parent, 1, NULL, 0) ||
            brook_builder_connect_store(b, name, t->store, NULL, 0))
                goto done;
        brook__builder_node(b, name)->copartition = true;
        brook__builder_node(b, name)->relaxed_join = left;
        brook__builder_node(b, name)->prefetch = stjoin_prefetch;
        /* The key stays; the value is the joiner's, of no known serde. */
        out = brook__stream_new(b, name,
                                jd.key_serde ? jd.key_serde : s->key_serde,
                                NULL, false);
done:
        free(name);
        return out;
}

brook_stream_t *brook_stream_join_table(brook_stream_t *s, brook_table_t *t,
                                        brook_value_joiner_fn fn, void *opaque,
                                        const brook_joined_t *joined)
{
        return stjoin_add(s, t, fn, opaque, joined, false,
                          "brook_stream_join_table");
}

brook_stream_t *brook_stream_left_join_table(brook_stream_t *s,
                                             brook_table_t *t,
                                             brook_value_joiner_fn fn,
                                             void *opaque,
                                             const brook_joined_t *joined)
{
        return stjoin_add(s, t, fn, opaque, joined, true,
                          "brook_stream_left_join_table");
}

/* ------------------------------------------------ stream-global joins */

typedef struct gjoin_op {
        brook_key_selector_fn selector;
        void *selector_opaque;
        brook_value_joiner_fn fn;
        void *opaque;
        bool left;
        char store[]; /* The global table's store. */
} gjoin_op_t;

/* Per task: scratch for the lookups. */
typedef struct gjoin {
        const gjoin_op_t *op;
        struct brook__store *st; /* The global store, once found. */
        brook_buf_t *kbuf, *vbuf;
} gjoin_t;

static brook_err_t gjoin_init(brook_ctx_t *ctx, void *opaque, void **statep,
                              char *errstr, size_t errstr_size)
{
        gjoin_t *j = brook__xcalloc(1, sizeof *j);

        (void)ctx;
        (void)errstr;
        (void)errstr_size;
        j->op = opaque;
        j->kbuf = brook_buf_new();
        j->vbuf = brook_buf_new();
        *statep = j;
        return BROOK_OK;
}

static void gjoin_close(brook_ctx_t *ctx, void *state)
{
        gjoin_t *j = state;

        (void)ctx;
        brook_buf_destroy(j->kbuf);
        brook_buf_destroy(j->vbuf);
        free(j);
}

static brook_err_t gjoin_process(brook_ctx_t *ctx, brook_record_t *rec,
                                 void *state, char *errstr, size_t errstr_size)
{
        gjoin_t *j = state;
        void *value = brook_record_value(rec);
        void *gkey = NULL, *right = NULL, *out;
        brook_err_t err;

        /* Kafka Streams' KStreamKTableJoinProcessor.maybeDropRecord(): a
         * null value has nothing to join; a null selected key has no row,
         * which only a left join joins (with null). The stream's own key
         * does not matter. */
        if (value)
                gkey = j->op->selector(rec, j->op->selector_opaque);
        if (!value || (!gkey && !j->op->left)) {
                brook__ctx_drop(ctx, rec,
                                value ? BROOK_DROP_NULL_KEY
                                      : BROOK_DROP_NULL_VALUE,
                                "null join key or value");
                return BROOK_OK;
        }
        if (gkey && (err = brook__ctx_global_get(ctx, j->op->store, &j->st,
                                                 gkey, j->kbuf, j->vbuf, &right,
                                                 errstr, errstr_size)))
                return err;
        if (!right && !j->op->left)
                return BROOK_OK;
        out = j->op->fn(rec, value, right, j->op->opaque);
        return brook_ctx_forward(
                ctx,
                brook_ctx_record_new(ctx, rec, brook_record_key(rec), out,
                                     brook_record_timestamp(rec)),
                errstr, errstr_size);
}

static brook_stream_t *gjoin_add(brook_stream_t *s, brook_global_table_t *g,
                                 brook_key_selector_fn selector,
                                 void *selector_opaque,
                                 brook_value_joiner_fn fn, void *opaque,
                                 const char *given, bool left, const char *func)
{
        brook_processor_def_t def = {.init = gjoin_init,
                                     .process = gjoin_process,
                                     .close = gjoin_close,
                                     .opaque_destroy = free};
        brook_builder_t *b;
        gjoin_op_t *op;
        brook_stream_t *out = NULL;
        const char *parent;
        char *name;
        size_t slen;

        if (!s || !g)
                return NULL;
        b = s->b;
        if (g->b != b) {
                brook__builder_fail(b, NULL, 0,
                                    "%s: the global table is of another "
                                    "builder",
                                    func);
                return NULL;
        }
        if (!selector || !fn) {
                brook__builder_fail(b, NULL, 0, "%s: %s is NULL", func,
                                    selector ? "joiner" : "key selector");
                return NULL;
        }
        if (given && !*given) {
                brook__builder_fail(b, NULL, 0, "%s: the join's name is empty",
                                    func);
                return NULL;
        }
        /* Kafka Streams' doGlobalTableJoin(): LEFTJOIN for both kinds,
         * and a given name takes a number too
         * (NamedInternal.orElseGenerateWithPrefix()), so that the names
         * generated after it are Kafka Streams' (a store's, and so its
         * changelog topic's, among them). */
        name = brook__builder_new_name(b, "KSTREAM-LEFTJOIN");
        if (given) {
                free(name);
                name = brook__xstrdup(given);
        }
        slen = strlen(g->store) + 1;
        op = brook__xmalloc(sizeof *op + slen);
        op->selector = selector;
        op->selector_opaque = selector_opaque;
        op->fn = fn;
        op->opaque = opaque;
        op->left = left;
        memcpy(op->store, g->store, slen);
        def.opaque = op;
        parent = s->node;
        /* Not connected to the store: the global store is every task's,
         * and the join stays in the stream's sub-topology, with no
         * co-partitioning and no repartition (a key changed upstream
         * stays changed, as in Kafka Streams). */
        if (brook_builder_add_processor(b, name, &def, &parent, 1, NULL, 0))
                goto done;
        /* Kafka Streams labels a left join NULL_KEY_RELAXED_JOIN. */
        brook__builder_node(b, name)->relaxed_join = left;
        out = brook__stream_new(b, name, s->key_serde, NULL, s->key_changed);
done:
        free(name);
        return out;
}

brook_stream_t *brook_stream_join_global(brook_stream_t *s,
                                         brook_global_table_t *g,
                                         brook_key_selector_fn key_selector,
                                         void *selector_opaque,
                                         brook_value_joiner_fn fn, void *opaque,
                                         const char *name)
{
        return gjoin_add(s, g, key_selector, selector_opaque, fn, opaque, name,
                         false, "brook_stream_join_global");
}

brook_stream_t *
brook_stream_left_join_global(brook_stream_t *s, brook_global_table_t *g,
                              brook_key_selector_fn key_selector,
                              void *selector_opaque, brook_value_joiner_fn fn,
                              void *opaque, const char *name)
{
        return gjoin_add(s, g, key_selector, selector_opaque, fn, opaque, name,
                         true, "brook_stream_left_join_global");
}
