/*
 * brook — foreign-key table-table joins (Kafka Streams' KIP-213:
 * KTableImpl.doJoinOnForeignKey() and the foreignkeyjoin package).
 *
 * A row of the primary table (key pk) names a row of the foreign table by
 * the foreign key its extractor finds in it (fk). The join runs in both
 * tables' tasks, over two internal topics:
 *
 *   primary update --(subscription, keyed by fk)--> foreign table's task:
 *     kept in a subscription store under [fk length][fk][pk], and
 *     answered with the foreign row;
 *   foreign update --(prefix scan of its fk)--> one response per
 *     subscribed pk;
 *   responses --(keyed by pk, to the primary row's partition)--> primary
 *     table's task: joined with the primary row, unless the primary row
 *     has changed since it subscribed (its value's hash no longer matches:
 *     the response is stale, and a newer one follows).
 *
 * Subscriptions, responses, the combined keys and the hash (murmur3, 128
 * bits, seed 104729, of the primary value's bytes) are Kafka Streams'
 * bytes, so the internal topics and the subscription store's changelog
 * hold what Kafka Streams' would.
 */
#include <stdlib.h>
#include <string.h>

#include "dsl_int.h"
#include "store_int.h"

/* Kafka Streams' SubscriptionWrapper.Instruction. */
enum {
        FK_DELETE_KEY_NO_PROPAGATE = 0,
        FK_DELETE_KEY_AND_PROPAGATE = 1,
        FK_PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE = 2,
        FK_PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE = 3,
};

/* A subscription (SubscriptionWrapper, version 1). */
typedef struct fk_sub {
        bool has_hash;
        uint64_t hash[2];
        unsigned char instruction;
        void *pk;
        int32_t partition; /* the primary row's */
} fk_sub_t;

/* A response (SubscriptionResponseWrapper, version 0). */
typedef struct fk_resp {
        bool has_hash;
        uint64_t hash[2];
        void *value;       /* the foreign row's, or NULL */
        int32_t partition; /* the primary row's (not written) */
} fk_resp_t;

/* A subscription's key on its way to the join with the foreign row. */
typedef struct fk_combined {
        void *fk, *pk;
} fk_combined_t;

/* ------------------------------------------------------------- murmur3 */

static uint64_t rotl64(uint64_t x, int r)
{
        return (x << r) | (x >> (64 - r));
}

static uint64_t fmix64(uint64_t h)
{
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 33;
        return h;
}

static uint64_t le64(const unsigned char *p, size_t n)
{
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

/* Kafka Streams' Murmur3.hash128(data) (seed 104729). */
static void murmur3_128(const void *data, size_t len, uint64_t out[2])
{
        const uint64_t c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
        const unsigned char *p = data;
        uint64_t h1 = 104729, h2 = 104729, k1, k2;
        size_t nblocks = len / 16, i, tail;

        for (i = 0; i < nblocks; i++) {
                k1 = le64(p + 16 * i, 8);
                k2 = le64(p + 16 * i + 8, 8);
                k1 *= c1;
                k1 = rotl64(k1, 31);
                k1 *= c2;
                h1 ^= k1;
                h1 = rotl64(h1, 27);
                h1 += h2;
                h1 = h1 * 5 + 0x52dce729;
                k2 *= c2;
                k2 = rotl64(k2, 33);
                k2 *= c1;
                h2 ^= k2;
                h2 = rotl64(h2, 31);
                h2 += h1;
                h2 = h2 * 5 + 0x38495ab5;
        }
        tail = len - 16 * nblocks;
        p += 16 * nblocks;
        if (tail > 8) {
                k2 = le64(p + 8, tail - 8);
                k2 *= c2;
                k2 = rotl64(k2, 33);
                k2 *= c1;
                h2 ^= k2;
        }
        if (tail > 0) {
                k1 = le64(p, tail > 8 ? 8 : tail);
                k1 *= c1;
                k1 = rotl64(k1, 31);
                k1 *= c2;
                h1 ^= k1;
        }
        h1 ^= (uint64_t)len;
        h2 ^= (uint64_t)len;
        h1 += h2;
        h2 += h1;
        h1 = fmix64(h1);
        h2 = fmix64(h2);
        h1 += h2;
        h2 += h1;
        out[0] = h1;
        out[1] = h2;
}

/* --------------------------------------------------------------- serdes */

/* {version 1 | 0x80 if no hash}{instruction}{hash?}{pk}{partition} */
static brook_err_t sub_serialize(const void *obj, brook_buf_t *out,
                                 void *opaque, char *errstr, size_t errstr_size)
{
        const fk_sub_t *s = obj;
        unsigned char hdr[18];
        size_t n = 2;
        brook_err_t err;

        hdr[0] = (unsigned char)(1 | (s->has_hash ? 0 : 0x80));
        hdr[1] = s->instruction;
        if (s->has_hash) {
                brook__be_put(hdr + 2, s->hash[0], 8);
                brook__be_put(hdr + 10, s->hash[1], 8);
                n = 18;
        }
        brook_buf_append(out, hdr, n);
        if ((err = brook_serde_serialize(opaque, s->pk, out, errstr,
                                         errstr_size)))
                return err;
        brook__be_put(hdr, (uint32_t)s->partition, 4);
        brook_buf_append(out, hdr, 4);
        return BROOK_OK;
}

static brook_err_t sub_deserialize(const void *data, size_t size,
                                   brook_arena_t *arena, void **objp,
                                   void *opaque, char *errstr,
                                   size_t errstr_size)
{
        const unsigned char *p = data;
        fk_sub_t *s;
        size_t at;

        *objp = NULL;
        if (!data)
                return BROOK_OK;
        if (size < 2 || (p[0] & 0x7f) != 1 || p[1] > 3 ||
            size < (p[0] & 0x80 ? 2u : 18u) + 4) {
                brook__seterr(errstr, errstr_size,
                              "a foreign-key join subscription of %zu bytes "
                              "is not one of version 1",
                              size);
                return BROOK_ERR_SERDE;
        }
        s = brook_arena_alloc(arena, sizeof *s);
        s->has_hash = !(p[0] & 0x80);
        s->instruction = p[1];
        at = 2;
        s->hash[0] = s->hash[1] = 0;
        if (s->has_hash) {
                s->hash[0] = brook__be_get(p + 2, 8);
                s->hash[1] = brook__be_get(p + 10, 8);
                at = 18;
        }
        s->partition = (int32_t)brook__be_get(p + size - 4, 4);
        *objp = s;
        return brook_serde_deserialize(opaque, p + at, size - at - 4, arena,
                                       &s->pk, errstr, errstr_size);
}

/* {version 0 | 0x80 if no hash}{hash?}{value, if any} */
static brook_err_t resp_serialize(const void *obj, brook_buf_t *out,
                                  void *opaque, char *errstr,
                                  size_t errstr_size)
{
        const fk_resp_t *r = obj;
        unsigned char hdr[17];
        size_t n = 1;

        hdr[0] = r->has_hash ? 0 : 0x80;
        if (r->has_hash) {
                brook__be_put(hdr + 1, r->hash[0], 8);
                brook__be_put(hdr + 9, r->hash[1], 8);
                n = 17;
        }
        brook_buf_append(out, hdr, n);
        return brook_serde_serialize(opaque, r->value, out, errstr,
                                     errstr_size);
}

static brook_err_t resp_deserialize(const void *data, size_t size,
                                    brook_arena_t *arena, void **objp,
                                    void *opaque, char *errstr,
                                    size_t errstr_size)
{
        const unsigned char *p = data;
        fk_resp_t *r;
        size_t at;

        *objp = NULL;
        if (!data)
                return BROOK_OK;
        if (size < 1 || (p[0] & 0x7f) != 0 || size < (p[0] & 0x80 ? 1u : 17u)) {
                brook__seterr(errstr, errstr_size,
                              "a foreign-key join response of %zu bytes is "
                              "not one of version 0",
                              size);
                return BROOK_ERR_SERDE;
        }
        r = brook_arena_alloc(arena, sizeof *r);
        r->has_hash = !(p[0] & 0x80);
        r->hash[0] = r->hash[1] = 0;
        at = 1;
        if (r->has_hash) {
                r->hash[0] = brook__be_get(p + 1, 8);
                r->hash[1] = brook__be_get(p + 9, 8);
                at = 17;
        }
        r->partition = -1;
        r->value = NULL;
        *objp = r;
        /* As Kafka Streams': no bytes left, no foreign value. */
        if (size == at)
                return BROOK_OK;
        return brook_serde_deserialize(opaque, p + at, size - at, arena,
                                       &r->value, errstr, errstr_size);
}

static void serde_opaque_destroy(void *opaque)
{
        brook__serde_unref(opaque);
}

static brook_serde_t *wrap_new(const char *name, const brook_serde_t *inner,
                               brook_serialize_fn ser, brook_deserialize_fn de)
{
        brook_serde_t *serde;

        brook__serde_ref(inner);
        serde = brook_serde_new(name, ser, de, (void *)inner,
                                serde_opaque_destroy, NULL, 0);
        if (!serde)
                brook__serde_unref(inner);
        return serde;
}

brook_serde_t *brook__serde_fk_subscription(const brook_serde_t *pk_serde)
{
        return wrap_new("fk-subscription", pk_serde, sub_serialize,
                        sub_deserialize);
}

brook_serde_t *brook__serde_fk_response(const brook_serde_t *value_serde)
{
        return wrap_new("fk-response", value_serde, resp_serialize,
                        resp_deserialize);
}

/* ---------------------------------------------------------- definitions */

/* What every node of one join knows (one copy per node). */
typedef struct fk_op {
        brook__tnode_t hdr; /* unused but send_old, for the node's parent */
        brook_key_selector_fn extract;
        void *extract_opaque;
        brook_value_joiner_fn fn;
        void *opaque;
        bool left;
        /* The primary table's node definition (does it send old values?)
         * and the foreign table's; the stores. */
        const brook__tnode_t *primary_op, *foreign_op;
        /* Serdes as the DSL knows them (NULL: the defaults). */
        const brook_serde_t *pk_serde, *fk_serde, *pv_serde;
        char *sub_store, *primary_store, *foreign_store; /* same alloc */
} fk_op_t;

/* A node's state: the serdes resolved, its stores, scratch. */
typedef struct fk {
        const fk_op_t *op;
        const brook_serde_t *pk_serde, *fk_serde, *pv_serde;
        brook_serde_t *sub_serde; /* ours */
        brook_kvstore_t *subs;
        brook__tstore_t primary, foreign;
        brook_buf_t *a, *b;
} fk_t;

static void fk_close(brook_ctx_t *ctx, void *state)
{
        fk_t *f = state;

        (void)ctx;
        brook_serde_destroy(f->sub_serde);
        brook_buf_destroy(f->a);
        brook_buf_destroy(f->b);
        free(f);
}

static brook_err_t fk_init(brook_ctx_t *ctx, void *opaque, void **statep,
                           char *errstr, size_t errstr_size)
{
        const fk_op_t *op = opaque;
        fk_t *f = brook__xcalloc(1, sizeof *f);
        brook_err_t err = BROOK_OK;

        f->op = op;
        f->pk_serde = op->pk_serde ? op->pk_serde
                                   : brook__ctx_default_serde(ctx, true);
        f->fk_serde = op->fk_serde ? op->fk_serde
                                   : brook__ctx_default_serde(ctx, true);
        f->pv_serde = op->pv_serde ? op->pv_serde
                                   : brook__ctx_default_serde(ctx, false);
        f->a = brook_buf_new();
        f->b = brook_buf_new();
        *statep = f;
        if (!f->pk_serde || !f->fk_serde || !f->pv_serde) {
                brook__seterr(errstr, errstr_size,
                              "the foreign-key join needs both tables' key "
                              "serdes and the primary table's value serde: "
                              "set them or default.key.serde and "
                              "default.value.serde");
                err = BROOK_ERR_TOPOLOGY;
        } else {
                f->sub_serde = brook__serde_fk_subscription(f->pk_serde);
        }
        /* Each node reads the stores it is connected to. */
        if (!err && op->sub_store)
                err = brook_ctx_kvstore(ctx, op->sub_store, &f->subs, errstr,
                                        errstr_size);
        if (!err && op->primary_store)
                err = brook__tstore_init(&f->primary, ctx, op->primary_store,
                                         errstr, errstr_size);
        if (!err && op->foreign_store)
                err = brook__tstore_init(&f->foreign, ctx, op->foreign_store,
                                         errstr, errstr_size);
        if (err) {
                fk_close(ctx, f);
                *statep = NULL;
        }
        return err;
}

/* The combined key [fk length, 4 bytes BE][fk bytes][pk bytes] into
 * f->a (pk NULL: the prefix only). */
static brook_err_t fk_combined_key(fk_t *f, const void *fk, const void *pk,
                                   char *errstr, size_t errstr_size)
{
        unsigned char len[4];
        brook_err_t err;

        brook_buf_clear(f->b);
        if ((err = brook_serde_serialize(f->fk_serde, fk, f->b, errstr,
                                         errstr_size)))
                return err;
        brook_buf_clear(f->a);
        brook__be_put(len, brook_buf_len(f->b), 4);
        brook_buf_append(f->a, len, 4);
        brook_buf_append(f->a, brook_buf_data(f->b), brook_buf_len(f->b));
        if (pk)
                return brook_serde_serialize(f->pk_serde, pk, f->a, errstr,
                                             errstr_size);
        return BROOK_OK;
}

/* The hash of @p value's bytes; false for a NULL value (no hash). */
static brook_err_t fk_hash(fk_t *f, const void *value, bool *has,
                           uint64_t hash[2], char *errstr, size_t errstr_size)
{
        brook_err_t err;

        *has = value != NULL;
        hash[0] = hash[1] = 0;
        if (!value)
                return BROOK_OK;
        brook_buf_clear(f->b);
        if ((err = brook_serde_serialize(f->pv_serde, value, f->b, errstr,
                                         errstr_size)))
                return err;
        murmur3_128(brook_buf_data(f->b), brook_buf_len(f->b), hash);
        return BROOK_OK;
}

/* --------------------------------------- primary side: subscriptions out */

static brook_err_t send_sub(brook_ctx_t *ctx, const brook_record_t *rec,
                            void *fk, unsigned char instruction, bool has_hash,
                            const uint64_t hash[2], char *errstr,
                            size_t errstr_size)
{
        fk_sub_t *s = brook_record_alloc(rec, sizeof *s);

        s->has_hash = has_hash;
        s->hash[0] = hash[0];
        s->hash[1] = hash[1];
        s->instruction = instruction;
        s->pk = rec->key;
        s->partition = brook_ctx_partition(ctx);
        return brook_ctx_forward(
                ctx, brook_ctx_record_new(ctx, rec, fk, s, rec->timestamp),
                errstr, errstr_size);
}

static void *fk_extract(brook_ctx_t *ctx, const fk_op_t *op,
                        const brook_record_t *rec, void *value)
{
        brook_record_t *r;

        if (!value)
                return NULL;
        r = brook_ctx_record_new(ctx, rec, rec->key, value, rec->timestamp);
        return op->extract(r, op->extract_opaque);
}

/* Whether two foreign keys' bytes differ. */
static brook_err_t fk_changed(fk_t *f, const void *a, const void *b,
                              bool *changed, char *errstr, size_t errstr_size)
{
        brook_err_t err;

        brook_buf_clear(f->a);
        brook_buf_clear(f->b);
        if ((a && (err = brook_serde_serialize(f->fk_serde, a, f->a, errstr,
                                               errstr_size))) ||
            (b && (err = brook_serde_serialize(f->fk_serde, b, f->b, errstr,
                                               errstr_size))))
                return err;
        *changed = !a != !b || brook_buf_len(f->a) != brook_buf_len(f->b) ||
                   memcmp(brook_buf_data(f->a), brook_buf_data(f->b),
                          brook_buf_len(f->a));
        return BROOK_OK;
}

/* SubscriptionSendProcessorSupplier. */
static brook_err_t send_process(brook_ctx_t *ctx, brook_record_t *rec,
                                void *state, char *errstr, size_t errstr_size)
{
        fk_t *f = state;
        const fk_op_t *op = f->op;
        void *new = rec->value;
        void *old = op->primary_op->send_old ? brook__change_old(rec) : NULL;
        void *ofk, *nfk;
        uint64_t hash[2];
        bool has_hash, changed;
        brook_err_t err;

        /* Kafka Streams (KIP-914): a versioned primary table's
         * out-of-order update changes no result. */
        if (op->primary_op->versioned && !brook__change_latest(rec)) {
                brook__ctx_drop(ctx, rec, BROOK_DROP_OUT_OF_ORDER,
                                "out-of-order record from versioned table "
                                "while performing table-table join");
                return BROOK_OK;
        }
        ofk = fk_extract(ctx, op, rec, old);

        if ((err = fk_hash(f, new, &has_hash, hash, errstr, errstr_size)))
                return err;
        if (op->left) {
                if (!old && !new)
                        return BROOK_OK;
                nfk = fk_extract(ctx, op, rec, new);
                if (ofk) {
                        if ((err = fk_changed(f, nfk, ofk, &changed, errstr,
                                              errstr_size)))
                                return err;
                        if (changed &&
                            (err = send_sub(
                                     ctx, rec, ofk, FK_DELETE_KEY_NO_PROPAGATE,
                                     has_hash, hash, errstr, errstr_size)))
                                return err;
                }
                return send_sub(ctx, rec, nfk,
                                FK_PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE,
                                has_hash, hash, errstr, errstr_size);
        }
        if (!new) {
                if (ofk)
                        return send_sub(ctx, rec, ofk,
                                        FK_DELETE_KEY_AND_PROPAGATE, has_hash,
                                        hash, errstr, errstr_size);
                return BROOK_OK;
        }
        nfk = fk_extract(ctx, op, rec, new);
        if (!nfk) {
                brook__ctx_drop(ctx, rec, BROOK_DROP_NULL_KEY,
                                "null foreign key");
                if (ofk)
                        return send_sub(ctx, rec, ofk,
                                        FK_DELETE_KEY_AND_PROPAGATE, has_hash,
                                        hash, errstr, errstr_size);
                return BROOK_OK;
        }
        if (!ofk)
                return send_sub(ctx, rec, nfk,
                                FK_PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE, has_hash,
                                hash, errstr, errstr_size);
        if ((err = fk_changed(f, nfk, ofk, &changed, errstr, errstr_size)))
                return err;
        if (!changed)
                return send_sub(ctx, rec, nfk,
                                FK_PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE, has_hash,
                                hash, errstr, errstr_size);
        if ((err = send_sub(ctx, rec, ofk, FK_DELETE_KEY_NO_PROPAGATE, has_hash,
                            hash, errstr, errstr_size)))
                return err;
        return send_sub(ctx, rec, nfk, FK_PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE,
                        has_hash, hash, errstr, errstr_size);
}

/* ------------------------------------- foreign side: subscriptions in */

/* SubscriptionReceiveProcessorSupplier: keeps the subscription (or
 * deletes it) and passes it on keyed by (fk, pk). */
static brook_err_t receive_process(brook_ctx_t *ctx, brook_record_t *rec,
                                   void *state, char *errstr,
                                   size_t errstr_size)
{
        fk_t *f = state;
        const fk_sub_t *s = rec->value;
        fk_combined_t *ck;
        brook_bytes_t k, v;
        brook_err_t err;

        if (!s) {
                brook__ctx_drop(ctx, rec, BROOK_DROP_NULL_VALUE,
                                "null subscription");
                return BROOK_OK;
        }
        if (!rec->key &&
            s->instruction != FK_PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE) {
                brook__ctx_drop(ctx, rec, BROOK_DROP_NULL_KEY,
                                "null foreign key");
                return BROOK_OK;
        }
        if (rec->key) {
                if ((err = fk_combined_key(f, rec->key, s->pk, errstr,
                                           errstr_size)))
                        return err;
                k.data = brook_record_alloc(rec, brook_buf_len(f->a) + 1);
                memcpy((void *)k.data, brook_buf_data(f->a),
                       brook_buf_len(f->a));
                k.size = brook_buf_len(f->a);
                if (s->instruction == FK_DELETE_KEY_AND_PROPAGATE ||
                    s->instruction == FK_DELETE_KEY_NO_PROPAGATE) {
                        err = brook_kvstore_put(f->subs, &k, NULL, errstr,
                                                errstr_size);
                } else {
                        brook_buf_clear(f->b);
                        if ((err = brook_serde_serialize(f->sub_serde, s, f->b,
                                                         errstr, errstr_size)))
                                return err;
                        v.data = brook_buf_data(f->b);
                        v.size = brook_buf_len(f->b);
                        err = brook__kvstore_put_ts(f->subs, &k, &v,
                                                    rec->timestamp, errstr,
                                                    errstr_size);
                }
                if (err)
                        return err;
        }
        ck = brook_record_alloc(rec, sizeof *ck);
        ck->fk = rec->key;
        ck->pk = s->pk;
        return brook_ctx_forward(
                ctx,
                brook_ctx_record_new(ctx, rec, ck, rec->value, rec->timestamp),
                errstr, errstr_size);
}

static brook_err_t send_resp(brook_ctx_t *ctx, const brook_record_t *rec,
                             void *pk, const fk_sub_t *s, void *value,
                             int64_t ts, char *errstr, size_t errstr_size)
{
        fk_resp_t *r = brook_record_alloc(rec, sizeof *r);

        r->has_hash = s->has_hash;
        r->hash[0] = s->hash[0];
        r->hash[1] = s->hash[1];
        r->value = value;
        r->partition = s->partition;
        return brook_ctx_forward(ctx, brook_ctx_record_new(ctx, rec, pk, r, ts),
                                 errstr, errstr_size);
}

/* SubscriptionJoinProcessorSupplier: answers a subscription with the
 * foreign row. */
static brook_err_t sjoin_process(brook_ctx_t *ctx, brook_record_t *rec,
                                 void *state, char *errstr, size_t errstr_size)
{
        fk_t *f = state;
        const fk_combined_t *ck = rec->key;
        const fk_sub_t *s = rec->value;
        void *fv = NULL;
        int64_t fts = -1, ts = rec->timestamp;
        brook_err_t err;

        /* Exposed: the response carries the row, so its delete must
         * reach the foreign side's processor even if the row never left
         * the cache. */
        if (ck->fk &&
            (err = brook__tstore_get(&f->foreign, ck->fk, INT64_MAX, true, &fv,
                                     &fts, errstr, errstr_size)))
                return err;
        if (fv && fts > ts)
                ts = fts;
        switch (s->instruction) {
        case FK_DELETE_KEY_AND_PROPAGATE:
                return send_resp(ctx, rec, ck->pk, s, NULL, ts, errstr,
                                 errstr_size);
        case FK_PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE:
                return send_resp(ctx, rec, ck->pk, s, fv, ts, errstr,
                                 errstr_size);
        case FK_PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE:
                if (fv)
                        return send_resp(ctx, rec, ck->pk, s, fv, ts, errstr,
                                         errstr_size);
                return BROOK_OK;
        default:
                return BROOK_OK;
        }
}

/* A subscription found by a foreign row's update. */
typedef struct fk_found {
        void *pk;
        fk_sub_t *s;
} fk_found_t;

/* ForeignTableJoinProcessorSupplier: a foreign row's update goes to every
 * primary row subscribed to it. */
static brook_err_t fjoin_process(brook_ctx_t *ctx, brook_record_t *rec,
                                 void *state, char *errstr, size_t errstr_size)
{
        fk_t *f = state;
        brook_arena_t *arena = brook_record_arena(rec);
        brook_kviter_t *it = NULL;
        brook_bytes_t prefix, *k, *v;
        fk_found_t *found = NULL;
        size_t cnt = 0, cap = 0, i;
        brook_err_t err;

        if (!rec->key) {
                brook__ctx_drop(ctx, rec, BROOK_DROP_NULL_KEY, "null key");
                return BROOK_OK;
        }
        /* Nor does a versioned foreign table's. */
        if (f->op->foreign_op->versioned && !brook__change_latest(rec)) {
                brook__ctx_drop(ctx, rec, BROOK_DROP_OUT_OF_ORDER,
                                "out-of-order record from versioned table "
                                "while performing table-table join");
                return BROOK_OK;
        }
        if ((err = fk_combined_key(f, rec->key, NULL, errstr, errstr_size)))
                return err;
        prefix.size = brook_buf_len(f->a);
        prefix.data = brook_record_alloc(rec, prefix.size);
        memcpy((void *)prefix.data, brook_buf_data(f->a), prefix.size);
        if ((err = brook_kvstore_prefix_scan(f->subs, &prefix,
                                             brook_serde_bytes(), &it, errstr,
                                             errstr_size)))
                return err;
        while (!(err = brook_kviter_next(it, (void **)&k, (void **)&v, errstr,
                                         errstr_size))) {
                fk_found_t e;
                if (k->size < prefix.size)
                        continue;
                if ((err = brook_serde_deserialize(
                             f->pk_serde, (const char *)k->data + prefix.size,
                             k->size - prefix.size, arena, &e.pk, errstr,
                             errstr_size)) ||
                    (err = brook_serde_deserialize(
                             f->sub_serde, v->data, v->size, arena,
                             (void **)&e.s, errstr, errstr_size)))
                        break;
                if (cnt == cap) {
                        cap = cap ? 2 * cap : 8;
                        found = brook__xrealloc(found, cap * sizeof *found);
                }
                found[cnt++] = e;
        }
        brook_kviter_destroy(it);
        if (err == BROOK_ERR_END)
                err = BROOK_OK;
        for (i = 0; i < cnt && !err; i++)
                err = send_resp(ctx, rec, found[i].pk, found[i].s, rec->value,
                                rec->timestamp, errstr, errstr_size);
        free(found);
        return err;
}

/* The response topic's partitioner: the primary row's partition. */
static int32_t resp_partition(const char *topic, const void *key,
                              size_t key_size, const brook_record_t *rec,
                              int32_t partition_cnt, void *opaque)
{
        const fk_resp_t *r = brook_record_value(rec);

        (void)topic;
        (void)key;
        (void)key_size;
        (void)opaque;
        return r && r->partition >= 0 && r->partition < partition_cnt
                       ? r->partition
                       : -1;
}

/* ------------------------------------------ primary side: responses in */

/* ResponseJoinProcessorSupplier. */
static brook_err_t resolve_process(brook_ctx_t *ctx, brook_record_t *rec,
                                   void *state, char *errstr,
                                   size_t errstr_size)
{
        fk_t *f = state;
        const fk_op_t *op = f->op;
        const fk_resp_t *r = rec->value;
        void *cur = NULL, *out;
        int64_t cur_ts;
        uint64_t hash[2];
        bool has;
        brook_err_t err;

        if (!r) {
                brook__ctx_drop(ctx, rec, BROOK_DROP_NULL_VALUE,
                                "null response");
                return BROOK_OK;
        }
        /* Not exposed: a row still only in the cache has not subscribed
         * yet, so a response that hashes like it answers an older row
         * already forwarded (whose delete goes downstream anyway). */
        if ((err = brook__tstore_get(&f->primary, rec->key, INT64_MAX, false,
                                     &cur, &cur_ts, errstr, errstr_size)))
                return err;
        if ((err = fk_hash(f, cur, &has, hash, errstr, errstr_size)))
                return err;
        if (has != r->has_hash ||
            (has && (hash[0] != r->hash[0] || hash[1] != r->hash[1]))) {
                brook__ctx_drop(ctx, rec, BROOK_DROP_STALE,
                                "a foreign-key join response for a row that "
                                "has changed since");
                return BROOK_OK;
        }
        if (!r->value && (!op->left || !cur))
                out = NULL;
        else
                out = op->fn(rec, cur, r->value, op->opaque);
        return brook_ctx_forward(
                ctx,
                brook_ctx_record_new(ctx, rec, rec->key, out, rec->timestamp),
                errstr, errstr_size);
}

/* ------------------------------------------------------------------ DSL */

static char *with_suffix(const char *s, const char *suffix)
{
        char *out = brook__xmalloc(strlen(s) + strlen(suffix) + 1);

        strcpy(out, s);
        strcat(out, suffix);
        return out;
}

/* A copy of @p tmpl naming the stores the node reads (NULL: none). */
static fk_op_t *fk_op_copy(const fk_op_t *tmpl, const char *sub_store,
                           const char *primary_store, const char *foreign_store)
{
        size_t l1 = sub_store ? strlen(sub_store) + 1 : 0;
        size_t l2 = primary_store ? strlen(primary_store) + 1 : 0;
        size_t l3 = foreign_store ? strlen(foreign_store) + 1 : 0;
        fk_op_t *op = brook__xmalloc(sizeof *op + l1 + l2 + l3);
        char *p = (char *)(op + 1);

        *op = *tmpl;
        op->sub_store = sub_store ? memcpy(p, sub_store, l1) : NULL;
        op->primary_store =
                primary_store ? memcpy(p + l1, primary_store, l2) : NULL;
        op->foreign_store =
                foreign_store ? memcpy(p + l1 + l2, foreign_store, l3) : NULL;
        return op;
}

static brook_err_t
fk_node(brook_builder_t *b, const char *name, const char *parent,
        brook_err_t (*process)(brook_ctx_t *, brook_record_t *, void *, char *,
                               size_t),
        fk_op_t *op)
{
        brook_processor_def_t def = {.init = fk_init,
                                     .process = process,
                                     .close = fk_close,
                                     .opaque = op,
                                     .opaque_destroy = free};

        return brook_builder_add_processor(b, name, &def, &parent, 1, NULL, 0);
}

static brook_table_t *fk_add(brook_table_t *t, brook_table_t *other,
                             brook_key_selector_fn extract,
                             void *extract_opaque, brook_value_joiner_fn fn,
                             void *opaque, const char *name,
                             const brook_materialized_t *m, bool left,
                             const char *func)
{
        brook_builder_t *b;
        fk_op_t tmpl = {0};
        char *sub_topic = NULL, *send = NULL, *sink = NULL, *source = NULL;
        char *store = NULL, *receive = NULL, *sjoin = NULL, *fjoin = NULL;
        char *resp_topic = NULL, *rsink = NULL, *rsource = NULL;
        char *resolve = NULL, *result = NULL, *out_store = NULL, *t1 = NULL;
        char *t2 = NULL;
        brook_produced_t produced = {0};
        brook_consumed_t consumed = {.version = BROOK_CONSUMED_VERSION,
                                     .invalid_timestamp =
                                             BROOK_INVALID_TIMESTAMP_FAIL};
        brook_materialized_t sm = {.key_serde = brook_serde_bytes(),
                                   .value_serde = brook_serde_bytes(),
                                   .caching_disabled = true,
                                   .version = BROOK_MATERIALIZED_VERSION};
        const char *procs[2];
        brook__node_t *node;
        brook_table_t *out = NULL;

        if (!t || !other)
                return NULL;
        b = t->b;
        if (!extract || !fn) {
                brook__builder_fail(b, NULL, 0, "%s: %s is NULL", func,
                                    !extract ? "the foreign key extractor"
                                             : "joiner");
                return NULL;
        }
        if (!brook__tables_joinable(t, other, name, m, func))
                return NULL;
        if (brook__dsl_versioned_refused(b, m, func))
                return NULL;
        /* Kafka Streams' order: old values from both tables, then the
         * names, the value getters as they are needed. */
        brook__table_send_old_force(other);
        if (!brook__table_send_old_force(t)) {
                brook__builder_fail(b, NULL, 0,
                                    "%s: table \"%s\" cannot tell its old "
                                    "values",
                                    func, t->node);
                return NULL;
        }
        tmpl.extract = extract;
        tmpl.extract_opaque = extract_opaque;
        tmpl.fn = fn;
        tmpl.opaque = opaque;
        tmpl.left = left;
        tmpl.primary_op = t->op;
        tmpl.foreign_op = other->op;
        tmpl.pk_serde = t->key_serde;
        tmpl.fk_serde = other->key_serde;
        tmpl.pv_serde = t->value_serde;

        t1 = brook__dsl_name(b, name, "-subscription-registration",
                             "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION");
        sub_topic = with_suffix(t1, "-topic");
        send = brook__dsl_name(b, name, "-subscription-registration-processor",
                               "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION");
        if (fk_node(b, send, t->node, send_process,
                    fk_op_copy(&tmpl, NULL, NULL, NULL)))
                goto done;
        sink = brook__dsl_name(b, name, "-subscription-registration-sink",
                               "KTABLE-SINK");
        produced.key_serde = other->key_serde;
        produced.value_serde = t->key_serde;
        if (brook_builder_add_sink(b, sink, sub_topic, NULL, NULL, &produced,
                                   (const char *const *)&send, 1, NULL, 0))
                goto done;
        node = brook__builder_node(b, sink);
        node->sink_internal = true;
        node->value_wrap = brook__serde_fk_subscription;
        node->value_wrap_key = true;
        source = brook__dsl_name(b, name, "-subscription-registration-source",
                                 "KTABLE-SOURCE");
        consumed.key_serde = other->key_serde;
        consumed.value_serde = t->key_serde;
        if (brook_builder_add_source(b, source, (const char *const *)&sub_topic,
                                     1, NULL, &consumed, NULL, 0))
                goto done;
        node = brook__builder_node(b, source);
        node->internal = true;
        node->value_wrap = brook__serde_fk_subscription;
        node->value_wrap_key = true;
        store = brook__dsl_name(b, name, "-subscription-store",
                                "KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE");
        receive = brook__dsl_name(b, name, "-subscription-receive",
                                  "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR");
        if (fk_node(b, receive, source, receive_process,
                    fk_op_copy(&tmpl, store, NULL, NULL)))
                goto done;
        sm.name = store;
        if (!brook__table_getter(other, func))
                goto done;
        sjoin = brook__dsl_name(b, name, "-subscription-join-foreign",
                                "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR");
        if (fk_node(b, sjoin, receive, sjoin_process,
                    fk_op_copy(&tmpl, NULL, NULL, other->store)) ||
            brook_builder_connect_store(b, sjoin, other->store, NULL, 0))
                goto done;
        brook__builder_node(b, sjoin)->copartition = true;
        fjoin = brook__dsl_name(b, name, "-foreign-join-subscription",
                                "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR");
        if (fk_node(b, fjoin, other->node, fjoin_process,
                    fk_op_copy(&tmpl, store, NULL, NULL)))
                goto done;
        procs[0] = receive;
        procs[1] = fjoin;
        if (brook_builder_add_store(b, &sm, procs, 2, NULL, 0))
                goto done;
        brook__builder_store(b, store)->timestamped = true;

        t2 = brook__dsl_name(b, name, "-subscription-response",
                             "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE");
        resp_topic = with_suffix(t2, "-topic");
        rsink = brook__dsl_name(b, name, "-subscription-response-sink",
                                "KTABLE-SINK");
        produced.key_serde = t->key_serde;
        produced.value_serde = other->value_serde;
        produced.partitioner = resp_partition;
        procs[0] = sjoin;
        procs[1] = fjoin;
        if (brook_builder_add_sink(b, rsink, resp_topic, NULL, NULL, &produced,
                                   procs, 2, NULL, 0))
                goto done;
        node = brook__builder_node(b, rsink);
        node->sink_internal = true;
        node->value_wrap = brook__serde_fk_response;
        rsource = brook__dsl_name(b, name, "-subscription-response-source",
                                  "KTABLE-SOURCE");
        consumed.key_serde = t->key_serde;
        consumed.value_serde = other->value_serde;
        if (brook_builder_add_source(b, rsource,
                                     (const char *const *)&resp_topic, 1, NULL,
                                     &consumed, NULL, 0))
                goto done;
        node = brook__builder_node(b, rsource);
        node->internal = true;
        node->value_wrap = brook__serde_fk_response;
        if (!brook__table_getter(t, func))
                goto done;
        resolve =
                brook__dsl_name(b, name, "-subscription-response-resolver",
                                "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-"
                                "PROCESSOR");
        if (fk_node(b, resolve, rsource, resolve_process,
                    fk_op_copy(&tmpl, NULL, t->store, NULL)) ||
            brook_builder_connect_store(b, resolve, t->store, NULL, 0))
                goto done;
        brook__builder_node(b, resolve)->copartition = true;
        result = brook__dsl_name(b, name, "-result", "KTABLE-FK-JOIN-OUTPUT");
        /* The result's store, if named: Kafka Streams generates a name
         * otherwise (a number taken) but keeps no store. */
        out_store = m && m->name ? brook__xstrdup(m->name)
                                 : brook__builder_new_name(
                                           b, "KTABLE-FK-JOIN-OUTPUT-STATE-"
                                              "STORE");
        out = brook__table_source_node(b, result, resolve,
                                       m && m->name ? out_store : NULL, m,
                                       m && m->name, t->key_serde, NULL);
done:
        free(t1);
        free(t2);
        free(sub_topic);
        free(send);
        free(sink);
        free(source);
        free(store);
        free(receive);
        free(sjoin);
        free(fjoin);
        free(resp_topic);
        free(rsink);
        free(rsource);
        free(resolve);
        free(result);
        free(out_store);
        return out;
}

brook_table_t *brook_table_fk_join(brook_table_t *t, brook_table_t *other,
                                   brook_key_selector_fn extract,
                                   void *extract_opaque,
                                   brook_value_joiner_fn fn, void *opaque,
                                   const char *name,
                                   const brook_materialized_t *m)
{
        return fk_add(t, other, extract, extract_opaque, fn, opaque, name, m,
                      false, "brook_table_fk_join");
}

brook_table_t *brook_table_fk_left_join(brook_table_t *t, brook_table_t *other,
                                        brook_key_selector_fn extract,
                                        void *extract_opaque,
                                        brook_value_joiner_fn fn, void *opaque,
                                        const char *name,
                                        const brook_materialized_t *m)
{
        return fk_add(t, other, extract, extract_opaque, fn, opaque, name, m,
                      true, "brook_table_fk_left_join");
}
