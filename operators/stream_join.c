/*
 * brook — stream-stream joins, inner, left and outer (Kafka Streams'
 * KStreamImplJoin, KStreamJoinWindow and KStreamKStreamJoin with the
 * spurious-result fix of KIP-633 / Kafka Streams 3.1+).
 *
 * The topology is Kafka Streams': each stream goes through a "windowed"
 * node that forwards the record and then keeps it in its side's window
 * store (every record, retain_duplicates, for window size + grace); each
 * side's join node looks the record's key up in the other side's store
 * within the join window and emits one result per partner; a merge node
 * passes both sides' results on. The four nodes share the stores, so they
 * run in one task, and both streams must be co-partitioned.
 *
 * Left and outer joins keep a record that found no partner in the "outer"
 * store, a key-value store shared by both sides and keyed as Kafka
 * Streams' TimestampedKeyAndJoinSide:
 *
 *   [timestamp, 8 bytes BE][1: left side, 0: right][the key's bytes]
 *
 * whose value is the list Kafka Streams' ListValueStore keeps (so its
 * changelog holds the same bytes):
 *
 *   [1 (variable-size entries)][count, 4 bytes BE]
 *   then per entry [length, 4 bytes BE][1: left, 0: right][the value's bytes]
 *
 * A partner found later deletes the entry; once the join window and grace
 * have passed on the join's stream time (the largest timestamp either side
 * has seen), the entry is emitted joined with null and deleted. That check
 * runs at most once per second of wall clock, as Kafka Streams' (its
 * internal __emit.interval.ms.kstreams.outer.join.spurious.results.fix__,
 * 0 in the test drivers).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dsl_int.h"
#include "store_int.h"

/* The outer store's key: timestamp and side before the key's bytes. */
#define SSJ_KEY_HDR 9

/* ------------------------------------------------------------ the windows */

brook_join_windows_t brook_join_windows(int64_t time_difference_ms,
                                        int64_t grace_ms)
{
        return (brook_join_windows_t){.before_ms = time_difference_ms,
                                      .after_ms = time_difference_ms,
                                      .grace_ms = grace_ms};
}

/* ---------------------------------------------------------- windowed node */

/* KStreamJoinWindow: forwards the record, then keeps it for the other
 * side's lookups (a null key is never joined; a null value is not kept by
 * a store that retains duplicates). */
static brook_err_t ssj_window_init(brook_ctx_t *ctx, void *opaque,
                                   void **statep, char *errstr,
                                   size_t errstr_size)
{
        brook_windowstore_t *st;
        brook_err_t err;

        if ((err = brook_ctx_windowstore(ctx, opaque, &st, errstr,
                                         errstr_size)))
                return err;
        *statep = st;
        return BROOK_OK;
}

static brook_err_t ssj_window_process(brook_ctx_t *ctx, brook_record_t *rec,
                                      void *state, char *errstr,
                                      size_t errstr_size)
{
        brook_err_t err;

        if ((err = brook_ctx_forward(ctx, rec, errstr, errstr_size)))
                return err;
        if (!rec->key || !rec->value)
                return BROOK_OK;
        return brook_windowstore_put(state, rec->key, rec->value,
                                     rec->timestamp, errstr, errstr_size);
}

/* -------------------------------------------------------------- join node */

/* One side's join node's definition (its opaque). */
typedef struct ssj_op {
        brook_value_joiner_fn fn;
        void *opaque;
        /** The right (other) stream's node: the joiner's arguments swap. */
        bool right;
        /** This side's records that find no partner are emitted with null
         *  (the left side of a left join, both sides of an outer join). */
        bool outer;
        /** The windows' before and after, and how far this side looks back
         *  and ahead (the right side's are swapped), and the grace. */
        int64_t before_ms, after_ms, look_back_ms, look_ahead_ms, grace_ms;
        /** The other side's join node, which shares the time tracker. */
        int peer_idx;
        /** This side's window store (its serdes are this side's), the
         *  other side's (searched), and the outer store (NULL: an inner
         *  join, none). In the same allocation. */
        char *this_store, *other_store, *outer_store;
} ssj_op_t;

/* Kafka Streams' TimeTracker: what both sides of one join in one task
 * share. */
typedef struct ssj_tracker {
        int refs;
        int64_t stream_time; /* the largest timestamp either side saw */
        int64_t min_time;    /* a lower bound of the outer store's */
        int64_t next_emit;   /* wall clock of the next outer check */
        int64_t emit_interval_ms;
} ssj_tracker_t;

typedef struct ssj {
        const ssj_op_t *op;
        brook_windowstore_t *other;
        brook_kvstore_t *outer;
        ssj_tracker_t *tt;
        const brook_serde_t *key_serde, *left_serde, *right_serde;
        brook_buf_t *buf;
} ssj_t;

/* Java's long addition, which wraps (the tracker's min_time starts at
 * Long.MAX_VALUE, and Kafka Streams adds to it). */
static int64_t wrap_add(int64_t a, int64_t b, int64_t c)
{
        return (int64_t)((uint64_t)a + (uint64_t)b + (uint64_t)c);
}

static brook_err_t ssj_serdes(ssj_t *j, brook_ctx_t *ctx, char *errstr,
                              size_t errstr_size)
{
        const brook__storedef_t *mine, *theirs;

        mine = brook__ctx_storedef(ctx, j->op->this_store);
        theirs = brook__ctx_storedef(ctx, j->op->other_store);
        if (!mine || !theirs) {
                brook__seterr(errstr, errstr_size,
                              "the join's window stores \"%s\" and \"%s\" are "
                              "not both in this task",
                              j->op->this_store, j->op->other_store);
                return BROOK_ERR_TOPOLOGY;
        }
        j->key_serde = mine->key_serde;
        j->left_serde = j->op->right ? theirs->value_serde : mine->value_serde;
        j->right_serde = j->op->right ? mine->value_serde : theirs->value_serde;
        return BROOK_OK;
}

static void ssj_close(brook_ctx_t *ctx, void *state)
{
        ssj_t *j = state;

        (void)ctx;
        if (j->tt && --j->tt->refs == 0)
                free(j->tt);
        brook_buf_destroy(j->buf);
        free(j);
}

static brook_err_t ssj_init(brook_ctx_t *ctx, void *opaque, void **statep,
                            char *errstr, size_t errstr_size)
{
        const ssj_op_t *op = opaque;
        ssj_t *j = brook__xcalloc(1, sizeof *j);
        const ssj_t *peer;
        brook_err_t err;

        j->op = op;
        j->buf = brook_buf_new();
        if ((err = brook_ctx_windowstore(ctx, op->other_store, &j->other,
                                         errstr, errstr_size)) ||
            (op->outer_store &&
             (err = brook_ctx_kvstore(ctx, op->outer_store, &j->outer, errstr,
                                      errstr_size))) ||
            (op->outer_store &&
             (err = ssj_serdes(j, ctx, errstr, errstr_size))))
                goto fail;
        /* The tracker is the peer's if it started first. */
        peer = brook__ctx_peer_state(ctx, op->peer_idx);
        if (peer) {
                j->tt = peer->tt;
        } else {
                j->tt = brook__xcalloc(1, sizeof *j->tt);
                j->tt->stream_time = -1;
                j->tt->min_time = INT64_MAX;
                j->tt->emit_interval_ms = brook__ctx_conf_int(
                        ctx, BROOK__EMIT_INTERVAL_OUTER_JOIN);
        }
        j->tt->refs++;
        *statep = j;
        return BROOK_OK;
fail:
        ssj_close(ctx, j);
        return err;
}

/* The joiner, with this side's and the other side's values put in left
 * and right order. */
static void *ssj_apply(const ssj_op_t *op, const brook_record_t *rec,
                       void *mine, void *theirs)
{
        return op->right ? op->fn(rec, theirs, mine, op->opaque)
                         : op->fn(rec, mine, theirs, op->opaque);
}

/* The outer store's key of (key, ts, side) into j->buf. */
static brook_err_t ssj_outer_key(ssj_t *j, const void *key, int64_t ts,
                                 bool left, brook_bytes_t *out, char *errstr,
                                 size_t errstr_size)
{
        unsigned char hdr[SSJ_KEY_HDR];
        brook_err_t err;

        brook__be_put(hdr, (uint64_t)ts, 8);
        hdr[8] = left;
        brook_buf_clear(j->buf);
        brook_buf_append(j->buf, hdr, sizeof hdr);
        /* Serdes are told the outer store's changelog topic. */
        if ((err = brook__store_ser(&j->outer->s, j->key_serde, key, j->buf,
                                    errstr, errstr_size)))
                return err;
        out->data = brook_buf_data(j->buf);
        out->size = brook_buf_len(j->buf);
        return BROOK_OK;
}

/* ListValueStore.putIfAbsent(otherKey, null): a partner found for the
 * other side's record at @p ts deletes its entry, if it has one. */
static brook_err_t ssj_outer_matched(ssj_t *j, const void *key, int64_t ts,
                                     char *errstr, size_t errstr_size)
{
        brook_bytes_t k;
        void *old;
        brook_err_t err;

        if ((err = ssj_outer_key(j, key, ts, j->op->right, &k, errstr,
                                 errstr_size)))
                return err;
        err = brook_kvstore_get(j->outer, &k, &old, errstr, errstr_size);
        if (err == BROOK_ERR_NOT_FOUND)
                return BROOK_OK;
        if (err)
                return err;
        return brook_kvstore_put(j->outer, &k, NULL, errstr, errstr_size);
}

/* ListValueStore.put(): appends this side's record to its key's list. */
static brook_err_t ssj_outer_put(ssj_t *j, const brook_record_t *rec,
                                 char *errstr, size_t errstr_size)
{
        bool left = !j->op->right;
        brook_bytes_t k, v, *old = NULL;
        brook_buf_t *val = NULL;
        unsigned char hdr[5], side = left;
        size_t ksize;
        uint32_t cnt = 0;
        void *kcopy;
        brook_err_t err;

        if ((err = ssj_outer_key(j, rec->key, rec->timestamp, left, &k, errstr,
                                 errstr_size)))
                return err;
        /* The key outlives the buffer's next use. */
        ksize = k.size;
        kcopy = brook_record_alloc(rec, ksize);
        memcpy(kcopy, k.data, ksize);
        k.data = kcopy;
        err = brook_kvstore_get(j->outer, &k, (void **)&old, errstr,
                                errstr_size);
        if (err && err != BROOK_ERR_NOT_FOUND)
                return err;
        if (old &&
            (old->size < 5 || ((const unsigned char *)old->data)[0] != 1)) {
                brook__seterr(errstr, errstr_size,
                              "store \"%s\": a value is not a list of "
                              "variable-size entries",
                              brook_kvstore_name(j->outer));
                return BROOK_ERR_SERDE;
        }
        if (old)
                cnt = (uint32_t)brook__be_get(
                        (const unsigned char *)old->data + 1, 4);
        val = brook_buf_new();
        hdr[0] = 1;
        brook__be_put(hdr + 1, cnt + 1, 4);
        brook_buf_append(val, hdr, 5);
        if (old)
                brook_buf_append(val, (const unsigned char *)old->data + 5,
                                 old->size - 5);
        /* The entry: its length, its side, its value's bytes. */
        brook_buf_clear(j->buf);
        if ((err = brook__store_ser(&j->outer->s,
                                    left ? j->left_serde : j->right_serde,
                                    rec->value, j->buf, errstr, errstr_size)))
                goto done;
        brook__be_put(hdr, brook_buf_len(j->buf) + 1, 4);
        brook_buf_append(val, hdr, 4);
        brook_buf_append(val, &side, 1);
        brook_buf_append(val, brook_buf_data(j->buf), brook_buf_len(j->buf));
        v.data = brook_buf_data(val);
        v.size = brook_buf_len(val);
        err = brook_kvstore_put(j->outer, &k, &v, errstr, errstr_size);
done:
        brook_buf_destroy(val);
        return err;
}

/* A record of the outer store whose window has closed. */
typedef struct ssj_late {
        const unsigned char *key; /* the store's key, in the arena */
        size_t key_size;
        int64_t ts;
        bool left;
        const unsigned char *value; /* the entry's value bytes */
        size_t value_size;
} ssj_late_t;

/* Kafka Streams' isOuterJoinWindowOpen(): a left record waits for right
 * records up to after_ms later, a right record for left ones up to
 * before_ms later, then the grace. */
static bool ssj_window_open(const ssj_t *j, bool left)
{
        const ssj_op_t *op = j->op;
        return wrap_add(j->tt->min_time, left ? op->after_ms : op->before_ms,
                        op->grace_ms) >= j->tt->stream_time;
}

/* Walks the outer store in (timestamp, side, key) order, as Kafka Streams'
 * emitNonJoinedOuterRecords(), collecting the records whose window has
 * closed into *@p latep, and leaving the tracker's min_time where Kafka
 * Streams' walk leaves it. */
static brook_err_t ssj_collect_late(ssj_t *j, ssj_late_t **latep, size_t *cntp,
                                    char *errstr, size_t errstr_size)
{
        brook_kviter_t *it = NULL;
        brook_bytes_t *k, *v;
        bool left_open = false, right_open = false;
        size_t cap = 0;
        brook_err_t err;

        *latep = NULL;
        *cntp = 0;
        if ((err = brook_kvstore_all(j->outer, &it, errstr, errstr_size)))
                return err;
        while (!(err = brook_kviter_next(it, (void **)&k, (void **)&v, errstr,
                                         errstr_size))) {
                const unsigned char *p = v->data, *end = p + v->size;
                uint32_t n;
                int64_t ts;
                bool left;

                if (k->size < SSJ_KEY_HDR || v->size < 5 || p[0] != 1)
                        goto corrupt;
                ts = (int64_t)brook__be_get(k->data, 8);
                left = ((const unsigned char *)k->data)[8] != 0;
                n = (uint32_t)brook__be_get(p + 1, 4);
                p += 5;
                for (uint32_t i = 0; i < n; i++) {
                        size_t len;
                        if (end - p < 4)
                                goto corrupt;
                        len = (size_t)brook__be_get(p, 4);
                        p += 4;
                        if ((size_t)(end - p) < len || len < 1)
                                goto corrupt;
                        j->tt->min_time = ts;
                        if (left_open && right_open) {
                                err = BROOK_OK;
                                goto done;
                        }
                        if (ssj_window_open(j, left)) {
                                if (left)
                                        left_open = true;
                                else
                                        right_open = true;
                                p += len;
                                continue;
                        }
                        if (*cntp == cap) {
                                cap = cap ? 2 * cap : 16;
                                *latep = brook__xrealloc(*latep,
                                                         cap * sizeof **latep);
                        }
                        (*latep)[(*cntp)++] = (ssj_late_t){
                                .key = k->data,
                                .key_size = k->size,
                                .ts = ts,
                                .left = p[0] != 0,
                                .value = p + 1,
                                .value_size = len - 1,
                        };
                        p += len;
                }
        }
done:
        if (err == BROOK_ERR_END)
                err = BROOK_OK;
        brook_kviter_destroy(it);
        if (err) {
                free(*latep);
                *latep = NULL;
                *cntp = 0;
        }
        return err;
corrupt:
        brook_kviter_destroy(it);
        free(*latep);
        *latep = NULL;
        *cntp = 0;
        brook__seterr(errstr, errstr_size,
                      "store \"%s\": an entry is not a key with its time and "
                      "side and a list of values",
                      brook_kvstore_name(j->outer));
        return BROOK_ERR_SERDE;
}

/* Emits the outer store's records whose join window and grace have passed
 * on the join's stream time, each joined with null, keyed and timed as it
 * was, with @p rec's headers; then deletes them. */
static brook_err_t ssj_emit_late(ssj_t *j, brook_ctx_t *ctx,
                                 const brook_record_t *rec, char *errstr,
                                 size_t errstr_size)
{
        ssj_tracker_t *tt = j->tt;
        const ssj_op_t *op = j->op;
        brook_arena_t *arena = brook_record_arena(rec);
        ssj_late_t *late;
        size_t cnt, i;
        int64_t now;
        brook_err_t err;

        /* Nothing can have closed yet. */
        if (wrap_add(tt->min_time, op->look_ahead_ms, op->grace_ms) >=
            tt->stream_time)
                return BROOK_OK;
        now = brook_ctx_wall_clock(ctx);
        if (now < tt->next_emit)
                return BROOK_OK;
        tt->next_emit = now + tt->emit_interval_ms;
        tt->min_time = INT64_MAX;
        if ((err = ssj_collect_late(j, &late, &cnt, errstr, errstr_size)))
                return err;
        for (i = 0; i < cnt && !err; i++) {
                ssj_late_t *e = &late[i];
                void *key = NULL, *value = NULL, *out;
                brook_record_t *o;

                if ((err = brook_serde_deserialize(
                             j->key_serde, e->key + SSJ_KEY_HDR,
                             e->key_size - SSJ_KEY_HDR, arena, &key, errstr,
                             errstr_size)) ||
                    (err = brook_serde_deserialize(
                             e->left ? j->left_serde : j->right_serde, e->value,
                             e->value_size, arena, &value, errstr,
                             errstr_size)))
                        break;
                o = brook_ctx_record_new(ctx, rec, key, NULL, e->ts);
                out = e->left ? op->fn(o, value, NULL, op->opaque)
                              : op->fn(o, NULL, value, op->opaque);
                o->value = out;
                err = brook_ctx_forward(ctx, o, errstr, errstr_size);
        }
        /* Then each emitted key leaves the store (its whole list). */
        for (i = 0; i < cnt && !err; i++) {
                brook_bytes_t k = {late[i].key, late[i].key_size};
                if (i && late[i].key == late[i - 1].key)
                        continue;
                err = brook_kvstore_put(j->outer, &k, NULL, errstr,
                                        errstr_size);
        }
        free(late);
        return err;
}

/* A partner found in the other side's store. */
typedef struct ssj_match {
        void *value;
        int64_t ts;
} ssj_match_t;

/* Kafka Streams' KStreamKStreamJoinProcessor.process(). */
static brook_err_t ssj_process(brook_ctx_t *ctx, brook_record_t *rec,
                               void *state, char *errstr, size_t errstr_size)
{
        ssj_t *j = state;
        const ssj_op_t *op = j->op;
        ssj_tracker_t *tt = j->tt;
        int64_t ts = rec->timestamp, from, to;
        brook_windowiter_t *it = NULL;
        ssj_match_t *m = NULL;
        size_t cnt = 0, cap = 0, i;
        void *k, *v;
        brook_window_t w;
        brook_err_t err;

        if (ts > tt->stream_time)
                tt->stream_time = ts;
        /* A null key has no partner: an outer side emits it at once. */
        if (op->outer && !rec->key && rec->value)
                return brook_ctx_forward(
                        ctx,
                        brook_ctx_record_new(
                                ctx, rec, NULL,
                                ssj_apply(op, rec, rec->value, NULL), ts),
                        errstr, errstr_size);
        if (!rec->key || !rec->value) {
                brook__ctx_drop(ctx, rec,
                                rec->key ? BROOK_DROP_NULL_VALUE
                                         : BROOK_DROP_NULL_KEY,
                                "null key or value");
                return BROOK_OK;
        }
        if (j->outer && ts == tt->stream_time &&
            (err = ssj_emit_late(j, ctx, rec, errstr, errstr_size)))
                return err;
        from = wrap_add(ts, -op->look_back_ms, 0);
        to = wrap_add(ts, op->look_ahead_ms, 0);
        if (from < 0)
                from = 0;
        if (to < 0)
                to = 0;
        if ((err = brook_windowstore_fetch_range(j->other, rec->key, from, to,
                                                 false, &it, errstr,
                                                 errstr_size)))
                return err;
        while (!(err = brook_windowiter_next(it, &k, &w, &v, errstr,
                                             errstr_size))) {
                if (cnt == cap) {
                        cap = cap ? 2 * cap : 8;
                        m = brook__xrealloc(m, cap * sizeof *m);
                }
                m[cnt++] = (ssj_match_t){v, w.start};
        }
        brook_windowiter_destroy(it);
        if (err != BROOK_ERR_END)
                goto out;
        err = BROOK_OK;
        for (i = 0; i < cnt && !err; i++) {
                if (j->outer && (err = ssj_outer_matched(j, rec->key, m[i].ts,
                                                         errstr, errstr_size)))
                        break;
                err = brook_ctx_forward(
                        ctx,
                        brook_ctx_record_new(
                                ctx, rec, rec->key,
                                ssj_apply(op, rec, rec->value, m[i].value),
                                ts > m[i].ts ? ts : m[i].ts),
                        errstr, errstr_size);
        }
        if (err || cnt || !op->outer)
                goto out;
        /* No partner yet. With the outer store, the record waits there for
         * one until its window closes, unless that is already the case. */
        if (!j->outer || to < tt->stream_time) {
                err = brook_ctx_forward(
                        ctx,
                        brook_ctx_record_new(
                                ctx, rec, rec->key,
                                ssj_apply(op, rec, rec->value, NULL), ts),
                        errstr, errstr_size);
        } else {
                if (ts < tt->min_time)
                        tt->min_time = ts;
                err = ssj_outer_put(j, rec, errstr, errstr_size);
        }
out:
        free(m);
        return err;
}

/* ------------------------------------------------------------- the DSL */

static char *cat(const char *a, const char *b, const char *c)
{
        size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
        char *s = brook__xmalloc(la + lb + lc + 1);

        memcpy(s, a, la);
        memcpy(s + la, b, lb);
        memcpy(s + la + lb, c, lc + 1);
        return s;
}

static ssj_op_t *ssj_op_new(const char *this_store, const char *other_store,
                            const char *outer_store)
{
        size_t l1 = strlen(this_store) + 1, l2 = strlen(other_store) + 1;
        size_t l3 = outer_store ? strlen(outer_store) + 1 : 0;
        ssj_op_t *op = brook__xcalloc(1, sizeof *op + l1 + l2 + l3);

        op->this_store = memcpy((char *)(op + 1), this_store, l1);
        op->other_store = memcpy(op->this_store + l1, other_store, l2);
        if (outer_store)
                op->outer_store = memcpy(op->other_store + l2, outer_store, l3);
        return op;
}

/* A side's window store, kept as long as the join looks back. */
static brook_err_t ssj_window_store(brook_builder_t *b,
                                    const brook_stream_joined_t *sj,
                                    const char *name, const brook_serde_t *ks,
                                    const brook_serde_t *vs, int64_t size_ms,
                                    int64_t grace_ms, const char *windowed,
                                    const char *join)
{
        brook_materialized_t m = {.name = name,
                                  .key_serde = ks,
                                  .value_serde = vs,
                                  .supplier = sj->supplier,
                                  .logging_disabled = sj->logging_disabled,
                                  .caching_disabled = true,
                                  .version = BROOK_MATERIALIZED_VERSION};
        brook_window_store_opts_t o = {.retention_ms = size_ms + grace_ms,
                                       .window_size_ms = size_ms,
                                       .retain_duplicates = true,
                                       .version =
                                               BROOK_WINDOW_STORE_OPTS_VERSION};
        const char *procs[2] = {windowed, join};
        brook__storedef_t *def;
        brook_err_t err;

        if ((err = brook_builder_add_window_store(b, &m, &o, procs, 2, NULL,
                                                  0)))
                return err;
        /* A user's supplier keeps its own store: only brook's RocksDB
         * one gets the mirror (store.c). */
        if ((def = brook__builder_store(b, name)))
                def->join_buffer = true;
        return BROOK_OK;
}

static brook_stream_t *ssj_add(brook_stream_t *s, brook_stream_t *other,
                               brook_value_joiner_fn fn, void *opaque,
                               const brook_join_windows_t *w,
                               const brook_stream_joined_t *sj, bool left_outer,
                               bool right_outer, const char *func)
{
        brook_stream_joined_t d = {0};
        brook_builder_t *b;
        brook_processor_def_t win = {.init = ssj_window_init,
                                     .process = ssj_window_process,
                                     .opaque_destroy = free};
        brook_processor_def_t join = {.init = ssj_init,
                                      .process = ssj_process,
                                      .close = ssj_close,
                                      .opaque_destroy = free};
        brook_processor_def_t merge = {.process = brook__passthrough_process};
        const brook_serde_t *ks, *vs, *ovs;
        brook_stream_t *out = NULL;
        char *this_win = NULL, *other_win = NULL, *this_gen = NULL;
        char *other_gen = NULL, *this_join = NULL, *other_join = NULL;
        char *this_store = NULL, *other_store = NULL, *outer_store = NULL;
        char *merge_name = NULL, why[256];
        const char *this_sfx = right_outer ? "-outer-this-join" : "-this-join";
        const char *other_sfx =
                left_outer ? "-outer-other-join" : "-other-join";
        const char *parents[2];
        ssj_op_t *this_op, *other_op;
        int64_t size;

        if (!s || !other)
                return NULL;
        b = s->b;
        if (other->b != b) {
                brook__builder_fail(b, NULL, 0,
                                    "%s: the other stream is of another "
                                    "builder",
                                    func);
                return NULL;
        }
        if (!fn || !w) {
                brook__builder_fail(b, NULL, 0, "%s: %s is NULL", func,
                                    fn ? "the join windows" : "the joiner");
                return NULL;
        }
        if (!brook__version_ok(w->version, BROOK_JOIN_WINDOWS_VERSION,
                               "brook_join_windows_t", why, sizeof why) ||
            (sj &&
             !brook__version_ok(sj->version, BROOK_STREAM_JOINED_VERSION,
                                "brook_stream_joined_t", why, sizeof why))) {
                brook__builder_fail(b, NULL, 0, "%s: %s", func, why);
                return NULL;
        }
        /* Kafka Streams' JoinWindows checks, and a window that keeps
         * nothing (Kafka Streams takes it, and never joins). */
        if (w->before_ms < -INT64_MAX / 4 || w->before_ms > INT64_MAX / 4 ||
            w->after_ms < -INT64_MAX / 4 || w->after_ms > INT64_MAX / 4 ||
            w->grace_ms > INT64_MAX / 4) {
                brook__builder_fail(b, NULL, 0,
                                    "%s: the join window (before %" PRId64
                                    " ms, after %" PRId64 " ms, grace %" PRId64
                                    " ms) is too large",
                                    func, w->before_ms, w->after_ms,
                                    w->grace_ms);
                return NULL;
        }
        size = w->before_ms + w->after_ms;
        if (size < 0 || w->grace_ms < 0) {
                brook__builder_fail(
                        b, NULL, 0,
                        "%s: the join window (before %" PRId64
                        " ms, after %" PRId64 " ms, grace %" PRId64 " ms) %s",
                        func, w->before_ms, w->after_ms, w->grace_ms,
                        size < 0 ? "is negative: before + after must be >= 0"
                                 : "has a negative grace");
                return NULL;
        }
        if (sj)
                d = *sj;
        if ((d.name && !*d.name) || (d.store_name && !*d.store_name)) {
                brook__builder_fail(b, NULL, 0, "%s: the join's %s is empty",
                                    func,
                                    d.name && !*d.name ? "name" : "store name");
                return NULL;
        }
        /* Kafka Streams' order: the repartitions first, each named after
         * the join or (reused) after its stream's node. A self-join of a
         * re-keyed stream reads both sides from one topic, as Kafka
         * Streams' does. */
        if (s->key_changed) {
                char *rn = d.name ? cat(d.name, "-left", "") : NULL;
                s = brook__stream_repartition_for_join(s, rn, d.key_serde,
                                                       d.value_serde);
                free(rn);
                if (!s)
                        return NULL;
        }
        if (other->key_changed) {
                char *rn = d.name ? cat(d.name, "-right", "") : NULL;
                other = brook__stream_repartition_for_join(
                        other, rn, d.key_serde, d.other_value_serde);
                free(rn);
                if (!other)
                        return NULL;
        }
        this_win = brook__dsl_name(b, d.name, "-this-windowed",
                                   "KSTREAM-WINDOWED");
        other_win = brook__dsl_name(b, d.name, "-other-windowed",
                                    "KSTREAM-WINDOWED");
        this_gen = brook__builder_new_name(b, right_outer ? "KSTREAM-OUTERTHIS"
                                                          : "KSTREAM-JOINTHIS");
        other_gen = brook__builder_new_name(
                b, left_outer ? "KSTREAM-OUTEROTHER" : "KSTREAM-JOINOTHER");
        this_join =
                d.name ? cat(d.name, this_sfx, "") : brook__xstrdup(this_gen);
        other_join =
                d.name ? cat(d.name, other_sfx, "") : brook__xstrdup(other_gen);
        merge_name = brook__dsl_name(b, d.name, "-merge", "KSTREAM-MERGE");
        this_store = d.store_name ? cat(d.store_name, this_sfx, "-store")
                                  : cat(this_gen, "-store", "");
        other_store = d.store_name ? cat(d.store_name, other_sfx, "-store")
                                   : cat(other_gen, "-store", "");
        if (left_outer)
                outer_store =
                        d.store_name ? cat(d.store_name,
                                           right_outer ? "-outer-shared-join"
                                                       : "-left-shared-join",
                                           "-store")
                                     : cat("KSTREAM-OUTERSHARED-",
                                           strchr(this_gen + strlen("KSTREAM-"),
                                                  '-') +
                                                   1,
                                           "-store");

        ks = d.key_serde ? d.key_serde : s->key_serde;
        vs = d.value_serde ? d.value_serde : s->value_serde;
        ovs = d.other_value_serde ? d.other_value_serde : other->value_serde;

        win.opaque = brook__xstrdup(this_store);
        if (brook_builder_add_processor(b, this_win, &win,
                                        (const char **)&s->node, 1, NULL, 0))
                goto done;
        win.opaque = brook__xstrdup(other_store);
        if (brook_builder_add_processor(b, other_win, &win,
                                        (const char **)&other->node, 1, NULL,
                                        0))
                goto done;
        this_op = ssj_op_new(this_store, other_store, outer_store);
        other_op = ssj_op_new(other_store, this_store, outer_store);
        this_op->fn = other_op->fn = fn;
        this_op->opaque = other_op->opaque = opaque;
        this_op->before_ms = other_op->before_ms = w->before_ms;
        this_op->after_ms = other_op->after_ms = w->after_ms;
        this_op->grace_ms = other_op->grace_ms = w->grace_ms;
        this_op->outer = left_outer;
        this_op->look_back_ms = w->before_ms;
        this_op->look_ahead_ms = w->after_ms;
        other_op->right = true;
        other_op->outer = right_outer;
        other_op->look_back_ms = w->after_ms;
        other_op->look_ahead_ms = w->before_ms;
        join.opaque = this_op;
        if (brook_builder_add_processor(b, this_join, &join,
                                        (const char **)&this_win, 1, NULL, 0)) {
                free(other_op);
                goto done;
        }
        join.opaque = other_op;
        if (brook_builder_add_processor(b, other_join, &join,
                                        (const char **)&other_win, 1, NULL, 0))
                goto done;
        this_op->peer_idx = brook__builder_node(b, other_join)->idx;
        other_op->peer_idx = brook__builder_node(b, this_join)->idx;
        brook__builder_node(b, this_join)->copartition = true;
        brook__builder_node(b, other_join)->copartition = true;
        /* Kafka Streams labels the whole join NULL_KEY_RELAXED_JOIN. */
        if (left_outer) {
                brook__builder_node(b, this_win)->relaxed_join = true;
                brook__builder_node(b, other_win)->relaxed_join = true;
        }
        parents[0] = this_join;
        parents[1] = other_join;
        if (brook_builder_add_processor(b, merge_name, &merge, parents, 2, NULL,
                                        0) ||
            ssj_window_store(b, &d, this_store, ks, vs, size, w->grace_ms,
                             this_win, other_join) ||
            ssj_window_store(b, &d, other_store, ks, ovs, size, w->grace_ms,
                             other_win, this_join))
                goto done;
        if (outer_store) {
                /* Keys and values are bytes the join makes itself, with
                 * the window stores' serdes. */
                brook_materialized_t m = {
                        .name = outer_store,
                        .key_serde = brook_serde_bytes(),
                        .value_serde = brook_serde_bytes(),
                        .supplier = d.supplier,
                        .logging_disabled = d.logging_disabled,
                        .caching_disabled = true,
                        .version = BROOK_MATERIALIZED_VERSION};
                if (brook_builder_add_store(b, &m, (const char *const *)parents,
                                            2, NULL, 0))
                        goto done;
        }
        out = brook__stream_new(b, merge_name, d.key_serde, NULL, false);
done:
        free(this_win);
        free(other_win);
        free(this_gen);
        free(other_gen);
        free(this_join);
        free(other_join);
        free(merge_name);
        free(this_store);
        free(other_store);
        free(outer_store);
        return out;
}

brook_stream_t *brook_stream_join(brook_stream_t *s, brook_stream_t *other,
                                  brook_value_joiner_fn fn, void *opaque,
                                  const brook_join_windows_t *w,
                                  const brook_stream_joined_t *sj)
{
        return ssj_add(s, other, fn, opaque, w, sj, false, false,
                       "brook_stream_join");
}

brook_stream_t *brook_stream_left_join(brook_stream_t *s, brook_stream_t *other,
                                       brook_value_joiner_fn fn, void *opaque,
                                       const brook_join_windows_t *w,
                                       const brook_stream_joined_t *sj)
{
        return ssj_add(s, other, fn, opaque, w, sj, true, false,
                       "brook_stream_left_join");
}

brook_stream_t *brook_stream_outer_join(brook_stream_t *s,
                                        brook_stream_t *other,
                                        brook_value_joiner_fn fn, void *opaque,
                                        const brook_join_windows_t *w,
                                        const brook_stream_joined_t *sj)
{
        return ssj_add(s, other, fn, opaque, w, sj, true, true,
                       "brook_stream_outer_join");
}
