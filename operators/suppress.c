/*
 * brook — suppress (Kafka Streams' KTableSuppressProcessorSupplier over an
 * InMemoryTimeOrderedKeyValueChangeBuffer).
 *
 * The buffer is a key-value store of the generic stack (RocksDB, logged,
 * not cached), so it is restored like any store: after a restart only the
 * changelog's tail past the offset it stored with its data (Kafka Streams
 * keeps it in memory and replays its whole changelog at every start). Its
 * keys are the table's serialized keys; each value is
 *
 *   [buffer time, 8 bytes BE][record timestamp, 8 bytes BE][1 if a value]
 *   [the value's serialized bytes]
 *
 * The buffer time is the window end (until window closes) or the time of
 * the key's first update since it was last emitted (until time limit); an
 * update of a buffered key keeps it, as Kafka Streams' buffer does. An
 * index in memory orders the entries by (buffer time, key bytes) and is
 * rebuilt from the store when the task starts. Entries whose buffer time
 * is at or before stream time - the suppression's duration go downstream,
 * oldest first, and leave the buffer.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsl_int.h"
#include "store_int.h"

#define SUP_HDR 17 /* buffer time, timestamp, flag */

typedef struct sup_op {
        int64_t duration_ms;  /* grace, or the time limit */
        bool window_end_time; /* buffer time: the window's end */
        bool drop_tombstones;
        int64_t max_records, max_bytes;
        brook_buffer_full_t when_full;
        char *store; /* In the same allocation. */
} sup_op_t;

typedef struct sup_ent {
        int64_t time;
        unsigned char *key;
        size_t key_size;
        size_t bytes; /* what it counts against max_bytes */
} sup_ent_t;

typedef struct sup_state {
        const sup_op_t *op;
        brook_ctx_t *ctx;
        brook__store_t *st;
        int64_t observed;
        sup_ent_t *ents; /* by (time, key bytes) */
        size_t cnt, cap;
        int64_t bytes;
        brook_buf_t *kbuf, *vbuf;
} sup_state_t;

static void be64_put(unsigned char *p, uint64_t v)
{
        int i;
        for (i = 0; i < 8; i++)
                p[i] = (unsigned char)(v >> (56 - 8 * i));
}

static int64_t be64_get(const unsigned char *p)
{
        uint64_t v = 0;
        int i;
        for (i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return (int64_t)v;
}

static int ent_cmp(int64_t time, const void *key, size_t key_size,
                   const sup_ent_t *e)
{
        size_t n = key_size < e->key_size ? key_size : e->key_size;
        int c;
        if (time != e->time)
                return time < e->time ? -1 : 1;
        c = n ? memcmp(key, e->key, n) : 0;
        if (c)
                return c;
        return key_size < e->key_size ? -1 : key_size > e->key_size;
}

/* The index of (time, key), or where it would go. */
static size_t ent_find(const sup_state_t *ss, int64_t time, const void *key,
                       size_t key_size, bool *foundp)
{
        size_t lo = 0, hi = ss->cnt;
        *foundp = false;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = ent_cmp(time, key, key_size, &ss->ents[mid]);
                if (c == 0) {
                        *foundp = true;
                        return mid;
                }
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return lo;
}

static void ent_insert(sup_state_t *ss, int64_t time, const void *key,
                       size_t key_size, size_t bytes)
{
        bool found;
        size_t at = ent_find(ss, time, key, key_size, &found);
        sup_ent_t *e;
        if (found) {
                ss->bytes += (int64_t)bytes - (int64_t)ss->ents[at].bytes;
                ss->ents[at].bytes = bytes;
                return;
        }
        if (ss->cnt == ss->cap) {
                ss->cap = ss->cap ? 2 * ss->cap : 64;
                ss->ents =
                        brook__xrealloc(ss->ents, ss->cap * sizeof *ss->ents);
        }
        memmove(ss->ents + at + 1, ss->ents + at,
                (ss->cnt - at) * sizeof *ss->ents);
        e = &ss->ents[at];
        e->time = time;
        e->key = brook__xmalloc(key_size ? key_size : 1);
        memcpy(e->key, key, key_size);
        e->key_size = key_size;
        e->bytes = bytes;
        ss->cnt++;
        ss->bytes += (int64_t)bytes;
}

static void ent_remove(sup_state_t *ss, size_t at)
{
        ss->bytes -= (int64_t)ss->ents[at].bytes;
        free(ss->ents[at].key);
        memmove(ss->ents + at, ss->ents + at + 1,
                (ss->cnt - at - 1) * sizeof *ss->ents);
        ss->cnt--;
}

static bool sup_over(const sup_state_t *ss)
{
        const sup_op_t *op = ss->op;
        return (op->max_records > 0 && (int64_t)ss->cnt > op->max_records) ||
               (op->max_bytes > 0 && ss->bytes > op->max_bytes);
}

/* Takes the oldest entry out of the buffer and forwards it (unless it is a
 * tombstone that may be dropped), with its own timestamp. */
static brook_err_t sup_evict(sup_state_t *ss, char *errstr, size_t errstr_size)
{
        brook__store_t *st = ss->st;
        const brook__storedef_t *def = st->def;
        sup_ent_t e = ss->ents[0];
        const unsigned char *v;
        size_t vsz;
        const void *val;
        brook_record_t *out;
        brook_arena_t *arena;
        void *key = NULL, *value = NULL;
        int64_t ts;
        bool has_value;
        brook_err_t err;

        if ((err = brook__store_read(st, e.key, e.key_size, &val, &vsz))) {
                brook__seterr(errstr, errstr_size,
                              "suppression buffer \"%s\": an indexed key is "
                              "missing from the store: %s",
                              def->name,
                              err == BROOK_ERR_NOT_FOUND ? "not found"
                                                         : st->errbuf);
                return BROOK_ERR_STATE;
        }
        v = val;
        if (vsz < SUP_HDR) {
                brook__seterr(errstr, errstr_size,
                              "suppression buffer \"%s\": an entry of %zu "
                              "bytes is too short",
                              def->name, vsz);
                return BROOK_ERR_STATE;
        }
        out = brook_ctx_record_new(ss->ctx, NULL, NULL, NULL, 0);
        arena = brook_record_arena(out);
        ts = be64_get(v + 8);
        has_value = v[16] != 0;
        /* Copies: the store's bytes go with the delete below. */
        if (has_value &&
            (err = brook_serde_deserialize(
                     def->value_serde,
                     brook_arena_memdup(arena, v + SUP_HDR, vsz - SUP_HDR),
                     vsz - SUP_HDR, arena, &value, errstr, errstr_size)))
                return err;
        if ((err = brook_serde_deserialize(
                     def->key_serde,
                     brook_arena_memdup(arena, e.key, e.key_size), e.key_size,
                     arena, &key, errstr, errstr_size)))
                return err;
        /* The result goes first, then the delete: the producer queues the
         * result before the buffer's changelog tombstone. Under
         * at-least-once a tombstone that reached the changelog while a
         * crash lost the result would lose the result for good (the
         * restarted buffer no longer holds it, and the records that
         * closed it are not processed again). The producer still sends
         * each partition on its own, so this narrows that gap without
         * closing it; exactly-once closes it. */
        if (has_value || !ss->op->drop_tombstones) {
                out->key = key;
                out->value = value;
                out->timestamp = ts;
                if ((err = brook_ctx_forward(ss->ctx, out, errstr,
                                             errstr_size)))
                        return err;
        }
        if ((err = brook__store_write(st, e.key, e.key_size, NULL, 0, ts))) {
                brook__seterr(errstr, errstr_size, "%s", st->errbuf);
                return err;
        }
        ent_remove(ss, 0);
        return BROOK_OK;
}

/* Kafka Streams' enforceConstraints(). */
static brook_err_t sup_enforce(sup_state_t *ss, char *errstr,
                               size_t errstr_size)
{
        const sup_op_t *op = ss->op;
        int64_t expiry = ss->observed - op->duration_ms;
        brook_err_t err;

        while (ss->cnt && ss->ents[0].time <= expiry)
                if ((err = sup_evict(ss, errstr, errstr_size)))
                        return err;
        if (!sup_over(ss))
                return BROOK_OK;
        if (op->when_full == BROOK_BUFFER_EMIT_EARLY_WHEN_FULL) {
                while (sup_over(ss))
                        if ((err = sup_evict(ss, errstr, errstr_size)))
                                return err;
                return BROOK_OK;
        }
        /* Kafka Streams' words. */
        brook__ctx_fatal(ss->ctx,
                         "suppression buffer \"%s\" exceeded its max capacity. "
                         "Currently [%zu/%" PRId64 "] records and [%" PRId64
                         "/%" PRId64 "] bytes",
                         ss->st->def->name, ss->cnt, op->max_records, ss->bytes,
                         op->max_bytes);
        brook__seterr(errstr, errstr_size, "suppression buffer \"%s\" is full",
                      ss->st->def->name);
        return BROOK_ERR_PROCESSING;
}

static brook_err_t sup_process(brook_ctx_t *ctx, brook_record_t *rec,
                               void *state, char *errstr, size_t errstr_size)
{
        sup_state_t *ss = state;
        const sup_op_t *op = ss->op;
        brook__store_t *st = ss->st;
        void *key = brook_record_key(rec), *value = brook_record_value(rec);
        int64_t ts = brook_record_timestamp(rec), time;
        unsigned char hdr[SUP_HDR];
        const void *old;
        size_t old_size;
        char why[512];
        brook_err_t err;
        why[0] = '\0';
        (void)ctx;

        if (ts > ss->observed)
                ss->observed = ts;
        if (!key) {
                brook__ctx_drop(ss->ctx, rec, BROOK_DROP_NULL_KEY, "null key");
                return BROOK_OK;
        }
        time = op->window_end_time
                       ? ((const brook_windowed_key_t *)key)->window.end
                       : ts;
        brook_buf_clear(ss->kbuf);
        if ((err = brook__store_ser(st, st->def->key_serde, key, ss->kbuf, why,
                                    sizeof why))) {
                brook__seterr(errstr, errstr_size,
                              "suppression buffer \"%s\": key: %s",
                              st->def->name, why);
                return err;
        }
        /* A buffered key keeps its buffer time. */
        err = brook__store_read(st, brook__store_bytes(ss->kbuf),
                                brook_buf_len(ss->kbuf), &old, &old_size);
        if (!err && old_size >= SUP_HDR)
                time = be64_get(old);
        else if (err && err != BROOK_ERR_NOT_FOUND) {
                brook__seterr(errstr, errstr_size, "%s", st->errbuf);
                return err;
        }
        brook_buf_clear(ss->vbuf);
        be64_put(hdr, (uint64_t)time);
        be64_put(hdr + 8, (uint64_t)ts);
        hdr[16] = value != NULL;
        brook_buf_append(ss->vbuf, hdr, sizeof hdr);
        if (value && (err = brook__store_ser(st, st->def->value_serde, value,
                                             ss->vbuf, why, sizeof why))) {
                brook__seterr(errstr, errstr_size,
                              "suppression buffer \"%s\": value: %s",
                              st->def->name, why);
                return err;
        }
        if ((err = brook__store_write(
                     st, brook__store_bytes(ss->kbuf), brook_buf_len(ss->kbuf),
                     brook_buf_data(ss->vbuf), brook_buf_len(ss->vbuf), ts))) {
                brook__seterr(errstr, errstr_size, "%s", st->errbuf);
                return err;
        }
        ent_insert(ss, time, brook__store_bytes(ss->kbuf),
                   brook_buf_len(ss->kbuf),
                   brook_buf_len(ss->kbuf) + brook_buf_len(ss->vbuf));
        return sup_enforce(ss, errstr, errstr_size);
}

/* Rebuilds the index from what the store holds (after restoration). */
static brook_err_t sup_load(sup_state_t *ss, char *errstr, size_t errstr_size)
{
        brook__store_t *st = ss->st;
        brook_kvbytes_iter_t *it = NULL;
        const void *k, *v;
        size_t ksz, vsz;
        brook_err_t err;

        if ((err = st->ops->range(st->inner, NULL, 0, NULL, 0, &it, errstr,
                                  errstr_size)))
                return err;
        while (!(err = it->next(it, &k, &ksz, &v, &vsz, errstr, errstr_size))) {
                if (vsz < SUP_HDR)
                        continue;
                ent_insert(ss, be64_get(v), k, ksz, ksz + vsz);
                if (be64_get((const unsigned char *)v + 8) > ss->observed)
                        ss->observed = be64_get((const unsigned char *)v + 8);
        }
        it->destroy(it);
        return err == BROOK_ERR_END ? BROOK_OK : err;
}

static brook_err_t sup_init(brook_ctx_t *ctx, void *opaque, void **statep,
                            char *errstr, size_t errstr_size)
{
        const sup_op_t *op = opaque;
        sup_state_t *ss = brook__xcalloc(1, sizeof *ss);
        char why[512];
        brook_err_t err;
        why[0] = '\0';

        ss->op = op;
        ss->ctx = ctx;
        ss->observed = -1;
        if ((err = brook__ctx_store(ctx, op->store, BROOK__STORE_KV, &ss->st,
                                    errstr, errstr_size))) {
                free(ss);
                return BROOK_ERR_STATE;
        }
        ss->kbuf = brook_buf_new();
        ss->vbuf = brook_buf_new();
        if ((err = sup_load(ss, why, sizeof why))) {
                brook__seterr(errstr, errstr_size,
                              "suppression buffer \"%s\": reading it: %s",
                              op->store, why);
                brook_buf_destroy(ss->kbuf);
                brook_buf_destroy(ss->vbuf);
                free(ss);
                return err;
        }
        *statep = ss;
        return BROOK_OK;
}

static void sup_close(brook_ctx_t *ctx, void *state)
{
        sup_state_t *ss = state;
        size_t i;
        (void)ctx;
        for (i = 0; i < ss->cnt; i++)
                free(ss->ents[i].key);
        free(ss->ents);
        brook_buf_destroy(ss->kbuf);
        brook_buf_destroy(ss->vbuf);
        free(ss);
}

brook_table_t *brook_table_suppress(brook_table_t *t,
                                    const brook_suppressed_t *s)
{
        brook_builder_t *b;
        brook_processor_def_t def = {.init = sup_init,
                                     .process = sup_process,
                                     .close = sup_close,
                                     .opaque_destroy = free};
        brook_materialized_t mat = {0};
        char *gen_name = NULL, *gen_store = NULL, *store;
        const char *name, *parent;
        brook_table_t *out = NULL;
        sup_op_t *op;
        char why[256];
        size_t slen;

        if (!t)
                return NULL;
        b = t->b;
        if (!s) {
                brook__builder_fail(b, NULL, 0,
                                    "brook_table_suppress: suppressed is NULL");
                return NULL;
        }
        if (!brook__version_ok(s->version, BROOK_SUPPRESSED_VERSION,
                               "brook_suppressed_t", why, sizeof why)) {
                brook__builder_fail(b, NULL, 0, "brook_table_suppress: %s",
                                    why);
                return NULL;
        }
        if (t->op && t->op->versioned) {
                /* Kafka Streams: "suppress() is only supported for
                 * non-versioned KTables". */
                brook__builder_fail(b, NULL, 0,
                                    "brook_table_suppress: table \"%s\" is "
                                    "versioned (or below a versioned table "
                                    "without a store of its own): suppress "
                                    "takes non-versioned tables only",
                                    t->node);
                return NULL;
        }
        if (s->kind == BROOK_SUPPRESS_UNTIL_WINDOW_CLOSES && !t->windowed) {
                brook__builder_fail(b, NULL, 0,
                                    "brook_table_suppress: until window "
                                    "closes needs a windowed table (the "
                                    "result of a windowed aggregation)");
                return NULL;
        }
        if (s->kind == BROOK_SUPPRESS_UNTIL_WINDOW_CLOSES &&
            s->when_full == BROOK_BUFFER_EMIT_EARLY_WHEN_FULL) {
                /* Kafka Streams takes only a StrictBufferConfig there:
                 * early results are not final. */
                brook__builder_fail(b, NULL, 0,
                                    "brook_table_suppress: until window "
                                    "closes cannot emit early when full; use "
                                    "BROOK_BUFFER_SHUT_DOWN_WHEN_FULL");
                return NULL;
        }
        if ((s->kind != BROOK_SUPPRESS_UNTIL_WINDOW_CLOSES &&
             s->kind != BROOK_SUPPRESS_UNTIL_TIME_LIMIT) ||
            (s->when_full != BROOK_BUFFER_SHUT_DOWN_WHEN_FULL &&
             s->when_full != BROOK_BUFFER_EMIT_EARLY_WHEN_FULL)) {
                brook__builder_fail(b, NULL, 0,
                                    "brook_table_suppress: unknown kind %d or "
                                    "buffer strategy %d",
                                    (int)s->kind, (int)s->when_full);
                return NULL;
        }
        if (s->time_limit_ms < 0 || s->max_records < 0 || s->max_bytes < 0) {
                brook__builder_fail(b, NULL, 0,
                                    "brook_table_suppress: %s must not be "
                                    "negative",
                                    s->time_limit_ms < 0 ? "time_limit_ms"
                                    : s->max_records < 0 ? "max_records"
                                                         : "max_bytes");
                return NULL;
        }
        if (s->name && !*s->name) {
                brook__builder_fail(b, NULL, 0,
                                    "brook_table_suppress: the name is empty");
                return NULL;
        }
        /* Kafka Streams' names: "KTABLE-SUPPRESS-<n>" and its store
         * "KTABLE-SUPPRESS-STATE-STORE-<n>", or the given name and
         * "<name>-store". */
        if (s->name) {
                name = s->name;
                slen = strlen(s->name) + 7;
                store = gen_store = brook__xmalloc(slen);
                snprintf(gen_store, slen, "%s-store", s->name);
        } else {
                name = gen_name = brook__builder_new_name(b, "KTABLE-SUPPRESS");
                store = gen_store = brook__builder_new_name(
                        b, "KTABLE-SUPPRESS-STATE-STORE");
        }
        slen = strlen(store) + 1;
        op = brook__xcalloc(1, sizeof *op + slen);
        op->window_end_time = s->kind == BROOK_SUPPRESS_UNTIL_WINDOW_CLOSES;
        op->drop_tombstones = op->window_end_time;
        op->duration_ms = op->window_end_time ? t->grace_ms : s->time_limit_ms;
        op->max_records = s->max_records;
        op->max_bytes = s->max_bytes;
        op->when_full = s->when_full;
        op->store = memcpy((char *)(op + 1), store, slen);
        def.opaque = op;
        parent = t->node;
        if (brook_builder_add_processor(b, name, &def, &parent, 1, NULL, 0))
                goto done;
        /* The buffer: persistent (a restart restores only the changelog's
         * tail), logged, never cached (its own order is the point). The
         * serdes are the table's, defaults if unknown. */
        mat.name = store;
        mat.key_serde = t->key_serde;
        mat.value_serde = t->value_serde;
        mat.supplier = brook_kvstore_rocksdb();
        mat.caching_disabled = true;
        if (brook_builder_add_store(b, &mat, &name, 1, NULL, 0))
                goto done;
        /* Windowed keys of an unknown serde: the topology wraps the
         * default one, as the window store does. */
        if (t->windowed)
                brook__builder_store(b, store)->windowed_key_ms = t->window_ms;
        out = brook__table_new(b, name, t->key_serde, t->value_serde, NULL,
                               BROOK__TABLE_NO_OLD, false, NULL, NULL);
        out->windowed = t->windowed;
        out->grace_ms = t->grace_ms;
        out->window_ms = t->window_ms;
done:
        free(gen_name);
        free(gen_store);
        return out;
}
