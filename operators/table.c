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
                                const char *store, brook__table_kind_t kind,
                                bool materialized, brook__tnode_t *op,
                                brook_table_t *parent)
{
        size_t nlen = strlen(node) + 1, slen = store ? strlen(store) + 1 : 0;
        brook_table_t *t = brook__xmalloc(sizeof *t + nlen + slen);

        t->b = b;
        t->node = memcpy((char *)(t + 1), node, nlen);
        t->store = store ? memcpy(t->node + nlen, store, slen) : NULL;
        t->key_serde = key_serde;
        t->value_serde = value_serde;
        t->kind = kind;
        t->materialized = materialized;
        t->op = op;
        t->parent = parent;
        t->windowed = false;
        t->grace_ms = 0;
        t->window_ms = 0;
        t->cache_off = false;
        t->other = NULL;
        t->join_ops[0] = t->join_ops[1] = NULL;
        brook__builder_keep(b, t);
        return t;
}

/* Kafka Streams' KTableSource.materialize(): a source table whose store the
 * caller did not name gets one as if named (caching as configured). */
static void table_materialize(brook_table_t *t)
{
        if (t->kind != BROOK__TABLE_SOURCE || t->materialized || !t->store)
                return;
        brook__builder_store(t->b, t->store)->caching = !t->cache_off;
        brook__builder_store(t->b, t->store)->unmaterialized = false;
        t->materialized = true;
}

bool brook__table_getter(brook_table_t *t, const char *func)
{
        table_materialize(t);
        if (t->store)
                return true;
        brook__builder_fail(t->b, NULL, 0,
                            "%s: table \"%s\" has no store to look its values "
                            "up in: materialize it (a brook_materialized_t "
                            "with a store name; a suppressed table cannot be)",
                            func, t->node);
        return false;
}

/* Kafka Streams' KTableImpl.enableSendingOldValues(force). */
static bool table_send_old(brook_table_t *t, bool force)
{
        if (t->kind == BROOK__TABLE_NO_OLD)
                return false;
        if (t->op->send_old)
                return true;
        switch (t->kind) {
        case BROOK__TABLE_NO_OLD:
                return false;
        case BROOK__TABLE_SOURCE:
                if (force)
                        table_materialize(t);
                if (!t->materialized)
                        return false;
                break;
        case BROOK__TABLE_AGGREGATE:
                break;
        case BROOK__TABLE_DERIVED:
                /* Materialized, it reads its old values from its store. */
                if (!t->materialized && !table_send_old(t->parent, force))
                        return false;
                break;
        case BROOK__TABLE_JOIN:
                /* KTableKTableJoinMerger: both sides' join nodes compute
                 * old results, from both tables' old values. */
                table_send_old(t->parent, true);
                table_send_old(t->other, true);
                t->join_ops[0]->send_old = true;
                t->join_ops[1]->send_old = true;
                break;
        }
        t->op->send_old = true;
        return true;
}

bool brook__table_send_old(brook_table_t *t)
{
        return table_send_old(t, false);
}

bool brook__table_send_old_force(brook_table_t *t)
{
        return table_send_old(t, true);
}

/* ------------------------------------------------------------ old values */

/* An update that carries the key's previous value (Kafka Streams' Change):
 * a record with room for it after, made only by nodes that send old values
 * and read only by their children, which know that from the topology. */
typedef struct change {
        brook_record_t rec; /* First: the record forwarded. */
        void *old;
        /** A versioned table's update older than its key's latest value
         *  (Kafka Streams' Change.isLatest, negated). */
        bool not_latest;
} change_t;

void *brook__change_old(const brook_record_t *rec)
{
        return ((const change_t *)rec)->old;
}

bool brook__change_latest(const brook_record_t *rec)
{
        return !((const change_t *)rec)->not_latest;
}

brook_record_t *brook__table_update_latest(brook_ctx_t *ctx,
                                           const brook__tnode_t *op,
                                           const brook_record_t *parent,
                                           void *key, void *value, void *old,
                                           int64_t ts, bool latest)
{
        brook_record_t *rec = brook_ctx_record_new(ctx, parent, key, value, ts);
        change_t *c;

        if (!op->send_old && !op->versioned)
                return rec;
        c = brook_arena_alloc(brook_record_arena(rec), sizeof *c);
        c->rec = *rec;
        c->old = op->send_old ? old : NULL;
        c->not_latest = !latest;
        return &c->rec;
}

brook_record_t *brook__table_update(brook_ctx_t *ctx, const brook__tnode_t *op,
                                    const brook_record_t *parent, void *key,
                                    void *value, void *old, int64_t ts)
{
        return brook__table_update_latest(ctx, op, parent, key, value, old, ts,
                                          true);
}

/* --------------------------------------------------------- table stores */

brook_err_t brook__tstore_init(brook__tstore_t *ts, brook_ctx_t *ctx,
                               const char *name, char *errstr,
                               size_t errstr_size)
{
        const brook__storedef_t *def = brook__ctx_storedef(ctx, name);

        ts->kv = NULL;
        ts->vs = NULL;
        if (def && def->kind == BROOK__STORE_VERSIONED)
                return brook_ctx_versionedstore(ctx, name, &ts->vs, errstr,
                                                errstr_size);
        return brook_ctx_kvstore(ctx, name, &ts->kv, errstr, errstr_size);
}

brook_err_t brook__tstore_get(const brook__tstore_t *ts, const void *key,
                              int64_t as_of, bool exposes, void **valuep,
                              int64_t *tsp, char *errstr, size_t errstr_size)
{
        brook_err_t err;

        if (ts->vs) {
                brook_versioned_record_t r;
                err = brook_versionedstore_get_as_of(ts->vs, key, as_of, &r,
                                                     errstr, errstr_size);
                *valuep = r.value;
                *tsp = r.timestamp;
        } else {
                err = (exposes ? brook__kvstore_get_exposed
                               : brook__kvstore_get_ts)(
                        ts->kv, key, valuep, tsp, errstr, errstr_size);
        }
        if (err == BROOK_ERR_NOT_FOUND) {
                *valuep = NULL;
                *tsp = -1;
                return BROOK_OK;
        }
        return err;
}

/* ------------------------------------------------------- pending updates */

/* What a caching table remembers of each key written since its entry last
 * went downstream: the key's value when it was first written (the old
 * value of the update the cache will write down, as Kafka Streams' caching
 * store reads it from below just before) and the timestamp of the last
 * write (an aggregation's may be later than the record's). Keys are the
 * store's encoded bytes. A chained hash table, grown as needed. */
typedef struct pend {
        struct pend *next;
        uint64_t hash;
        int64_t ts;
        unsigned char *old; /* The encoded old value; NULL: none. */
        size_t old_size;
        size_t key_size;
        unsigned char key[];
} pend_t;

struct brook__pending {
        pend_t **slots;
        size_t cap, cnt;
        brook_buf_t *kbuf, *vbuf;
};

static uint64_t pend_hash(const void *key, size_t size)
{
        const unsigned char *p = key;
        uint64_t h = 14695981039346656037ull; /* FNV-1a */

        for (size_t i = 0; i < size; i++)
                h = (h ^ p[i]) * 1099511628211ull;
        return h;
}

static pend_t **pend_find(struct brook__pending *pd, const void *key,
                          size_t size, uint64_t h)
{
        pend_t **pp = &pd->slots[h & (pd->cap - 1)];

        while (*pp && ((*pp)->hash != h || (*pp)->key_size != size ||
                       memcmp((*pp)->key, key, size)))
                pp = &(*pp)->next;
        return pp;
}

static void pend_grow(struct brook__pending *pd)
{
        size_t cap = pd->cap ? pd->cap * 2 : 64;
        pend_t **slots = brook__xcalloc(cap, sizeof *slots);

        for (size_t i = 0; i < pd->cap; i++) {
                pend_t *e = pd->slots[i], *next;
                for (; e; e = next) {
                        next = e->next;
                        e->next = slots[e->hash & (cap - 1)];
                        slots[e->hash & (cap - 1)] = e;
                }
        }
        free(pd->slots);
        pd->slots = slots;
        pd->cap = cap;
}

static void pend_free(struct brook__pending *pd)
{
        if (!pd)
                return;
        for (size_t i = 0; i < pd->cap; i++) {
                pend_t *e = pd->slots[i], *next;
                for (; e; e = next) {
                        next = e->next;
                        free(e->old);
                        free(e);
                }
        }
        free(pd->slots);
        brook_buf_destroy(pd->kbuf);
        brook_buf_destroy(pd->vbuf);
        free(pd);
}

static struct brook__pending *pend_new(void)
{
        struct brook__pending *pd = brook__xcalloc(1, sizeof *pd);

        pd->kbuf = brook_buf_new();
        pd->vbuf = brook_buf_new();
        return pd;
}

/* Encodes @p key into pd->kbuf and finds its entry: *@p ppp is where it is
 * or goes (NULL while the table is empty). */
static brook_err_t pend_lookup(struct brook__pending *pd,
                               const brook__store_t *st,
                               const brook_serde_t *ks, const void *key,
                               pend_t ***ppp, uint64_t *hp, char *errstr,
                               size_t errstr_size)
{
        brook_err_t err;

        brook_buf_clear(pd->kbuf);
        /* The store's encoding, as the serde gives it for the store's
         * changelog topic: the bytes the store's entries carry. */
        if ((err = brook__store_ser(st, ks, key, pd->kbuf, errstr,
                                    errstr_size)))
                return err;
        *hp = pend_hash(brook_buf_data(pd->kbuf), brook_buf_len(pd->kbuf));
        *ppp = pd->cap ? pend_find(pd, brook_buf_data(pd->kbuf),
                                   brook_buf_len(pd->kbuf), *hp)
                       : NULL;
        return BROOK_OK;
}

/* Adds an entry for the key in pd->kbuf (not in the table) with hash @p h;
 * returns it. */
static pend_t *pend_add(struct brook__pending *pd, uint64_t h)
{
        size_t ksz = brook_buf_len(pd->kbuf);
        pend_t *e = brook__xcalloc(1, sizeof *e + ksz);

        e->hash = h;
        e->key_size = ksz;
        memcpy(e->key, brook_buf_data(pd->kbuf), ksz);
        if (pd->cnt >= pd->cap / 2)
                pend_grow(pd);
        e->next = pd->slots[h & (pd->cap - 1)];
        pd->slots[h & (pd->cap - 1)] = e;
        pd->cnt++;
        return e;
}

/* Notes a write of @p value (NULL: a tombstone) for @p key: its
 * timestamp @p ts and, if it is the first since the key last went
 * downstream, @p old (encoded, if sent). */
static brook_err_t pend_note(brook__tfwd_t *fwd, const void *key,
                             const void *value, const void *old, int64_t ts,
                             char *errstr, size_t errstr_size)
{
        struct brook__pending *pd = fwd->pending;
        const brook_serde_t *vs = fwd->st->s.def->value_serde;
        bool agg = ((const brook__tnode_t *)fwd->op)->agg;
        pend_t **pp, *e;
        uint64_t h;
        brook_err_t err;

        if ((err = pend_lookup(pd, &fwd->st->s, fwd->st->s.def->key_serde, key,
                               &pp, &h, errstr, errstr_size)))
                return err;
        /* A tombstone whose update would carry no old value needs no note:
         * without one the update has no old value and the entry's
         * timestamp, this write's. A note left would stay for good if the
         * cache drops the tombstone (nothing below to delete). */
        if (!value && !agg && (pp && *pp ? !(*pp)->old : !old)) {
                if (pp && *pp) {
                        e = *pp;
                        *pp = e->next;
                        pd->cnt--;
                        free(e);
                }
                return BROOK_OK;
        }
        if (pp && *pp) {
                (*pp)->ts = ts;
                return BROOK_OK;
        }
        if (old && ((const brook__tnode_t *)fwd->op)->send_old) {
                brook_buf_clear(pd->vbuf);
                if ((err = brook__store_ser(&fwd->st->s, vs, old, pd->vbuf,
                                            errstr, errstr_size)))
                        return err;
        }
        e = pend_add(pd, h);
        e->ts = ts;
        if (old && ((const brook__tnode_t *)fwd->op)->send_old) {
                e->old_size = brook_buf_len(pd->vbuf);
                e->old = brook__xmalloc(e->old_size ? e->old_size : 1);
                memcpy(e->old, brook_buf_data(pd->vbuf), e->old_size);
        }
        return BROOK_OK;
}

/* Takes the entry of @p key out of the table (NULL: none); the caller
 * frees it. */
static pend_t *pend_take(struct brook__pending *pd, const void *key,
                         size_t size)
{
        pend_t **pp, *e;

        if (!pd || !pd->cap)
                return NULL;
        pp = pend_find(pd, key, size, pend_hash(key, size));
        if (!(e = *pp))
                return NULL;
        *pp = e->next;
        pd->cnt--;
        return e;
}

bool brook__dsl_versioned_refused(brook_builder_t *b,
                                  const brook_materialized_t *m,
                                  const char *func)
{
        if (!brook__materialized_versioned(m))
                return false;
        brook__builder_fail(b, NULL, 0,
                            "%s: a versioned store materializes a table of a "
                            "topic (brook_table()) or its filter or "
                            "map_values, not this operator's result",
                            func);
        return true;
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
 * as the table's update, with the timestamp of the entry's last write (or
 * the one the node gave it) and, if the node sends them, the old value as
 * of the key's first write since it last went downstream. */
static brook_err_t tfwd_emit(brook__store_t *st, const void *key,
                             size_t key_size, const void *value,
                             size_t value_size, int64_t ts, void *opaque,
                             char *errstr, size_t errstr_size)
{
        brook__tfwd_t *fwd = opaque;
        pend_t *pe = pend_take(fwd->pending, key, key_size);
        brook_record_t *rec;
        void *old = NULL;
        brook_err_t err;

        int64_t vts = -1;

        if (pe)
                ts = pe->ts;
        rec = brook__table_update(fwd->ctx, fwd->op, NULL, NULL, NULL, NULL,
                                  ts);
        err = brook__kvstore_decode(st, key, key_size, value, value_size,
                                    brook_record_arena(rec), &rec->key,
                                    &rec->value, &vts, errstr, errstr_size);
        /* A timestamped store's value knows its own timestamp. */
        if (vts >= 0)
                rec->timestamp = vts;
        if (!err && pe && pe->old) {
                void *bytes =
                        brook_arena_alloc(brook_record_arena(rec),
                                          pe->old_size ? pe->old_size : 1);
                memcpy(bytes, pe->old, pe->old_size);
                err = brook__store_deser(st, st->def->value_serde, bytes,
                                         pe->old_size, brook_record_arena(rec),
                                         &old, errstr, errstr_size);
        }
        if (pe) {
                free(pe->old);
                free(pe);
        }
        if (err)
                return err;
        if (((const brook__tnode_t *)fwd->op)->send_old)
                ((change_t *)rec)->old = old;
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
        const brook__storedef_t *def;

        fwd->ctx = ctx;
        fwd->st = NULL;
        fwd->vst = NULL;
        if (!store)
                return BROOK_OK;
        def = brook__ctx_storedef(ctx, store);
        if (def && def->kind == BROOK__STORE_VERSIONED)
                /* Never caching: updates go downstream as they come. */
                return brook_ctx_versionedstore(ctx, store, &fwd->vst, errstr,
                                                errstr_size)
                               ? BROOK_ERR_STATE
                               : BROOK_OK;
        if (brook_ctx_kvstore(ctx, store, &fwd->st, errstr, errstr_size))
                return BROOK_ERR_STATE;
        if (brook__store_caching(&fwd->st->s)) {
                const brook__tnode_t *node = fwd->op;
                brook__store_set_emit(&fwd->st->s, tfwd_emit, fwd);
                /* Only what the cache's entry does not know: an old value,
                 * or an aggregate's timestamp (which may be later than
                 * the entry's, its record's). */
                if (node->send_old || node->agg)
                        fwd->pending = pend_new();
        }
        return BROOK_OK;
}

void brook__tfwd_close(brook__tfwd_t *fwd)
{
        if (fwd->st && brook__store_caching(&fwd->st->s))
                brook__store_set_emit(&fwd->st->s, NULL, NULL);
        pend_free(fwd->pending);
        fwd->pending = NULL;
}

brook_err_t brook__tfwd_put(brook__tfwd_t *fwd, const brook_record_t *parent,
                            void *key, void *value, void *old, void *stored,
                            int64_t ts, char *errstr, size_t errstr_size)
{
        return brook__tfwd_put_latest(fwd, parent, key, value, old, stored, ts,
                                      true, errstr, errstr_size);
}

brook_err_t brook__tfwd_put_latest(brook__tfwd_t *fwd,
                                   const brook_record_t *parent, void *key,
                                   void *value, void *old, void *stored,
                                   int64_t ts, bool latest, char *errstr,
                                   size_t errstr_size)
{
        brook_err_t err;

        if (fwd->vst) {
                int64_t valid_to;
                /* Kafka Streams' KTableSource: a put the store did not
                 * make goes nowhere; one that is not the key's latest
                 * goes downstream as such. */
                if ((err = brook_versionedstore_put(fwd->vst, key, value, ts,
                                                    &valid_to, errstr,
                                                    errstr_size)))
                        return err;
                if (valid_to == BROOK_VERSIONED_NOT_PUT)
                        return BROOK_OK;
                return brook_ctx_forward(
                        fwd->ctx,
                        brook__table_update_latest(
                                fwd->ctx, fwd->op, parent, key, value, old, ts,
                                valid_to == BROOK_VERSIONED_LATEST),
                        errstr, errstr_size);
        }
        if (fwd->st) {
                /* A key-value store takes every update as the latest. */
                latest = true;
                /* Noted first: the write may evict this very key's entry
                 * and forward it. */
                if (fwd->pending && (err = pend_note(fwd, key, value, stored,
                                                     ts, errstr, errstr_size)))
                        return err;
                /* A write may evict and forward a dirty entry: the reason
                 * then names the node downstream that failed. */
                /* An aggregation's store keeps its timestamp. */
                err = brook__kvstore_put_ts(fwd->st, key, value, ts, errstr,
                                            errstr_size);
                if (err)
                        return err;
                if (brook__store_caching(&fwd->st->s))
                        return BROOK_OK;
        }
        return brook_ctx_forward(fwd->ctx,
                                 brook__table_update_latest(fwd->ctx, fwd->op,
                                                            parent, key, value,
                                                            old, ts, latest),
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
        /** The parent is versioned (Kafka Streams' useVersionedSemantics):
         *  its updates say whether they are the latest. */
        bool parent_versioned;
} table_op_t;

/* The key's value in the node's own store before this update (NULL:
 * none): a versioned store's latest. */
static brook_err_t own_old(brook__tfwd_t *fwd, void *key, void **oldp,
                           char *errstr, size_t errstr_size)
{
        brook_err_t err;

        if (fwd->vst) {
                brook_versioned_record_t r;
                err = brook_versionedstore_get(fwd->vst, key, &r, errstr,
                                               errstr_size);
                *oldp = r.value;
        } else {
                err = brook_kvstore_get(fwd->st, key, oldp, errstr,
                                        errstr_size);
        }
        if (err == BROOK_ERR_NOT_FOUND) {
                *oldp = NULL;
                return BROOK_OK;
        }
        return err;
}

/* Filter or map @p value of @p rec's key as node @p op does (NULL stays
 * NULL). A record is made for an old value, for the function to read. */
static void *table_compute(brook_ctx_t *ctx, const table_op_t *op,
                           brook_record_t *rec, void *value)
{
        brook_record_t *r = rec;

        if (!value)
                return NULL;
        if (value != brook_record_value(rec))
                r = brook_ctx_record_new(ctx, rec, brook_record_key(rec), value,
                                         brook_record_timestamp(rec));
        if (op->kind == TABLE_FILTER)
                return op->pred(r, op->opaque) != op->negate ? value : NULL;
        return op->mapper(r, op->opaque);
}

static brook_err_t table_process(brook_ctx_t *ctx, brook_record_t *rec,
                                 void *state, char *errstr, size_t errstr_size)
{
        brook__tfwd_t *fwd = state;
        const table_op_t *op = fwd->op;
        void *key = brook_record_key(rec);
        void *value = brook_record_value(rec);
        void *old = NULL;
        bool latest = true;
        brook_err_t err;

        switch (op->kind) {
        case TABLE_SOURCE:
                /* A table has no row for a null key (Kafka Streams skips
                 * the record, logs it and counts it as dropped). */
                if (!key) {
                        brook__ctx_drop(ctx, rec, BROOK_DROP_NULL_KEY,
                                        "null key");
                        return BROOK_OK;
                }
                if (op->hdr.send_old &&
                    (err = own_old(fwd, key, &old, errstr, errstr_size)))
                        return err;
                break;
        case TABLE_FILTER:
        case TABLE_MAP_VALUES:
                /* Kafka Streams' KTableFilter and KTableMapValues: the old
                 * value is the node's own (its store's), or the parent's
                 * old value filtered or mapped. */
                if (op->parent_versioned)
                        latest = brook__change_latest(rec);
                if (op->hdr.send_old) {
                        if (fwd->st || fwd->vst)
                                err = own_old(fwd, key, &old, errstr,
                                              errstr_size);
                        else
                                old = table_compute(ctx, op, rec,
                                                    brook__change_old(rec)),
                                err = BROOK_OK;
                        if (err)
                                return err;
                }
                value = table_compute(ctx, op, rec, value);
                /* Nothing to tell downstream: the key was not there and
                 * still is not. Not so below a versioned table, as Kafka
                 * Streams' KTableFilter with versioned semantics. */
                if (op->kind == TABLE_FILTER && op->hdr.send_old && !old &&
                    !value && !op->parent_versioned)
                        return BROOK_OK;
                break;
        }
        return brook__tfwd_put_latest(fwd, rec, key, value, old, old,
                                      brook_record_timestamp(rec), latest,
                                      errstr, errstr_size);
}

/* Adds table node @p name under @p parent, with a copy of @p op whose store
 * is @p store (set *@p copyp to it, which the processor owns). Returns
 * BROOK_OK or the builder's error. */
static brook_err_t table_node_add(brook_builder_t *b, const char *name,
                                  const char *parent, const table_op_t *op,
                                  const char *store, table_op_t **copyp)
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
        *copyp = copy;
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

/* A table of @p topic: brook_table(), or with @p global
 * brook_global_table() (its source marked global, its store without
 * changelog and cache). */
static brook_table_t *table_source(brook_builder_t *b, const char *topic,
                                   const brook_consumed_t *consumed,
                                   const brook_materialized_t *m, bool global,
                                   const char *func)
{
        table_op_t op = {.kind = TABLE_SOURCE}, *copy;
        brook_materialized_t unnamed = {0}, gm = {0};
        const brook_serde_t *ks, *vs;
        brook_table_t *t = NULL;
        brook_stream_t *s;
        char *gen_store = NULL, *name = NULL, *src_name = NULL;
        const char *store;
        bool consumed_cache_off = false, versioned;
        size_t len;

        if (!b)
                return NULL;
        if (!topic || !*topic) {
                brook__builder_fail(b, NULL, 0, "%s: topic is NULL", func);
                return NULL;
        }
        if (materialized_bad(b, m, func))
                return NULL;
        /* Kafka Streams' Materialized.as(versioned supplier): a versioned
         * table, materialized (its store has a name, generated or not). */
        versioned = brook__materialized_versioned(m);
        if (global && versioned) {
                /* Kafka Streams' TopologyException. */
                brook__builder_fail(b, NULL, 0,
                                    "%s: global tables cannot be versioned "
                                    "(topic \"%s\")",
                                    func, topic);
                return NULL;
        }
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
        /* Kafka Streams' InternalStreamsBuilder.table() and globalTable():
         * a given name names the table node, and its source
         * "<name>-source"; both take a number either way. */
        if (consumed && consumed->name) {
                brook_consumed_t c = *consumed;
                len = strlen(consumed->name);
                src_name = brook__xmalloc(len + sizeof "-source");
                memcpy(src_name, consumed->name, len);
                memcpy(src_name + len, "-source", sizeof "-source");
                c.name = src_name;
                s = brook_stream(b, topic, &c);
        } else {
                s = brook_stream(b, topic, consumed);
        }
        if (!s)
                goto done;
        if (global)
                brook__builder_node(b, s->node)->global = true;
        name = brook__builder_new_name(b, "KTABLE-SOURCE");
        if (consumed && consumed->name) {
                free(name);
                name = brook__xstrdup(consumed->name);
        }
        ks = m && m->key_serde ? m->key_serde : s->key_serde;
        vs = m && m->value_serde ? m->value_serde : s->value_serde;
        if (global) {
                /* The topic is the changelog; and the global thread writes
                 * straight down, where the stream threads read. */
                if (m)
                        gm = *m;
                gm.logging_disabled = true;
                gm.caching_disabled = true;
                m = &gm;
        } else if (!(m && m->name) && !versioned) {
                /* Kafka Streams materializes a source table only when its
                 * store is named (or an operator downstream needs it);
                 * otherwise each record goes straight downstream. brook
                 * keeps the store, but without a cache, so that updates go
                 * downstream as in Kafka Streams. */
                if (m)
                        unnamed = *m;
                consumed_cache_off = unnamed.caching_disabled;
                unnamed.caching_disabled = true;
                m = &unnamed;
        }
        if (table_node_add(b, name, s->node, &op, store, &copy) ||
            brook__dsl_store_add(b, m, store, ks, vs, name))
                goto done;
        /* As Kafka Streams' table stores, it keeps each value's timestamp:
         * a table-table join stamps its results with the later of both.
         * (A versioned store keeps each version's.) */
        if (!versioned)
                brook__builder_store(b, store)->timestamped = true;
        brook__builder_store(b, store)->unmaterialized = m == &unnamed;
        copy->hdr.versioned = versioned;
        t = brook__table_new(b, name, ks, vs, store, BROOK__TABLE_SOURCE,
                             m != &unnamed, &copy->hdr, NULL);
        /* What the caller asked of the store, for when a join makes Kafka
         * Streams materialize it (brook__table_getter()). */
        t->cache_off = m == &unnamed ? consumed_cache_off : false;
done:
        free(gen_store);
        free(name);
        free(src_name);
        return t;
}

brook_table_t *brook_table(brook_builder_t *b, const char *topic,
                           const brook_consumed_t *consumed,
                           const brook_materialized_t *m)
{
        return table_source(b, topic, consumed, m, false, "brook_table");
}

brook_global_table_t *brook_global_table(brook_builder_t *b, const char *topic,
                                         const brook_consumed_t *consumed,
                                         const brook_materialized_t *m)
{
        brook_table_t *t =
                table_source(b, topic, consumed, m, true, "brook_global_table");
        brook_global_table_t *g;
        size_t len;

        if (!t)
                return NULL;
        len = strlen(t->store) + 1;
        g = brook__xmalloc(sizeof *g + len);
        g->b = b;
        g->key_serde = t->key_serde;
        g->value_serde = t->value_serde;
        memcpy(g->store, t->store, len);
        brook__builder_keep(b, g);
        return g;
}

brook_table_t *brook__table_source_node(brook_builder_t *b, const char *name,
                                        const char *parent, const char *store,
                                        const brook_materialized_t *m,
                                        bool named,
                                        const brook_serde_t *key_serde,
                                        const brook_serde_t *value_serde)
{
        table_op_t op = {.kind = TABLE_SOURCE}, *copy;
        brook_materialized_t mat = {0};
        brook_table_t *t;

        if (brook__dsl_versioned_refused(b, m, name))
                return NULL;
        if (m)
                mat = *m;
        /* Queryable only when named: else every update goes downstream at
         * once, as from brook_table(). */
        if (!named)
                mat.caching_disabled = true;
        if (mat.value_serde)
                value_serde = mat.value_serde;
        if (mat.key_serde)
                key_serde = mat.key_serde;
        if (table_node_add(b, name, parent, &op, store, &copy) ||
            (store && brook__dsl_store_add(b, &mat, store, key_serde,
                                           value_serde, name)))
                return NULL;
        if (store)
                brook__builder_store(b, store)->timestamped = true;
        t = brook__table_new(b, name, key_serde, value_serde, store,
                             BROOK__TABLE_SOURCE, named, &copy->hdr, NULL);
        t->cache_off = m ? m->caching_disabled : false;
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
        table_op_t *copy;
        bool versioned;
        size_t len;

        if (materialized_bad(t->b, m, func))
                return NULL;
        versioned = brook__materialized_versioned(m);
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
        if (table_node_add(t->b, name, t->node, op, store, &copy))
                goto done;
        if (store && brook__dsl_store_add(t->b, m, store, t->key_serde,
                                          value_serde, name))
                goto done;
        if (store && !versioned)
                brook__builder_store(t->b, store)->timestamped = true;
        /* Versioned: in a versioned store of its own, or below a versioned
         * table without a store (Kafka Streams' isVersionedUpstream()). */
        copy->hdr.versioned = store ? versioned : t->op && t->op->versioned;
        copy->parent_versioned = t->op && t->op->versioned;
        out = brook__table_new(t->b, name,
                               m && m->key_serde ? m->key_serde : t->key_serde,
                               value_serde, store, BROOK__TABLE_DERIVED,
                               store != NULL, &copy->hdr, t);
        /* Kafka Streams' KTableFilter asks its parent for old values at
         * once, to drop updates that neither were nor are in the result;
         * KTableMapValues only when a node below asks it. */
        if (op->kind == TABLE_FILTER)
                copy->hdr.send_old = brook__table_send_old(t);
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
