/*
 * brook — the typed façades of window and session stores (Kafka Streams'
 * MeteredWindowStore / MeteredSessionStore): serdes, and the bytes keys of
 * the two key schemas (segmented.c). Everything below them — the cache,
 * the changelog, the segmented inner store, restoration, flushes — is the
 * generic store stack (store.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define WS(ws) (&(ws)->s)

/* ------------------------------------------------------------ iterators */

struct brook_windowiter_s {
        brook__bitchain_t ch;
        bool timestamped;
        brook__storekind_t kind;
        int64_t window_ms;
        const brook_serde_t *key_serde, *value_serde;
        brook_arena_t *arena;
        int64_t ts; /**< The last entry's timestamp, or -1. */
};

brook_windowiter_t *brook__windowiter_new(brook__storedef_t *def,
                                          brook_kvbytes_iter_t *bit,
                                          brook__iqstore_t *iq,
                                          brook_arena_t *arena)
{
        /* Not calloc: a join makes one per lookup, and glibc's calloc
         * (before 2.41) bypasses the thread's cache and takes an arena
         * lock. */
        brook_windowiter_t *it = brook__xmalloc(sizeof *it);
        brook__bitchain_init(&it->ch);
        it->kind = def->kind;
        it->timestamped = def->timestamped;
        it->window_ms = def->window_ms;
        it->key_serde = def->key_serde;
        it->value_serde = def->value_serde;
        it->arena = arena;
        it->ts = -1;
        if (bit)
                brook__windowiter_add_iq(it, bit, iq);
        return it;
}

void brook__windowiter_add_iq(brook_windowiter_t *it, brook_kvbytes_iter_t *bit,
                              brook__iqstore_t *h)
{
        brook__bitchain_add(&it->ch, bit, h);
}

bool brook__ts_value_split(const void *value, size_t size, int64_t *tsp,
                           const void **restp, size_t *rest_sizep)
{
        const unsigned char *p = value;
        uint64_t v = 0;
        int i;
        if (size < 8)
                return false;
        for (i = 0; i < 8; i++)
                v = v << 8 | p[i];
        *tsp = (int64_t)v;
        *restp = p + 8;
        *rest_sizep = size - 8;
        return true;
}

brook_err_t brook_windowiter_next(brook_windowiter_t *it, void **keyp,
                                  brook_window_t *window, void **valuep,
                                  char *errstr, size_t errstr_size)
{
        int64_t ts;
        return brook__windowiter_next_ts(it, keyp, window, valuep, &ts, errstr,
                                         errstr_size);
}

brook_err_t brook__windowiter_next_ts(brook_windowiter_t *it, void **keyp,
                                      brook_window_t *window, void **valuep,
                                      int64_t *tsp, char *errstr,
                                      size_t errstr_size)
{
        brook__bitchain_t *ch = &it->ch;
        const void *k, *v;
        size_t ksz, vsz, n;
        int64_t start, end;

        *keyp = *valuep = NULL;
        *tsp = it->ts = -1;
        while (!brook__bitchain_next(ch, &k, &ksz, &v, &vsz)) {
                if (!brook__segkey_decode(it->kind, k, ksz, &n, &start, &end)) {
                        brook__bitchain_fail(ch, BROOK_ERR_STATE,
                                             "an entry's key has %zu bytes, "
                                             "too few for its window",
                                             ksz);
                        break;
                }
                if (it->timestamped &&
                    !brook__ts_value_split(v, vsz, tsp, &v, &vsz)) {
                        brook__bitchain_fail(ch, BROOK_ERR_STATE,
                                             "an entry's value has %zu bytes, "
                                             "too few for its timestamp",
                                             vsz);
                        break;
                }
                if (window) {
                        window->start = start;
                        window->end = it->kind == BROOK__STORE_SESSION
                                              ? end
                                              : start + it->window_ms;
                }
                /* The bytes live until the next call on the iterator; the
                 * entry must live as long as the arena. */
                k = brook__serde_stable(it->key_serde, k, n, it->arena);
                v = brook__serde_stable(it->value_serde, v, vsz, it->arena);
                if ((ch->err = brook_serde_deserialize(
                             it->key_serde, k, n, it->arena, keyp, ch->errstr,
                             sizeof ch->errstr)) ||
                    (ch->err = brook_serde_deserialize(
                             it->value_serde, v, vsz, it->arena, valuep,
                             ch->errstr, sizeof ch->errstr)))
                        break;
                it->ts = *tsp;
                return BROOK_OK;
        }
        *keyp = *valuep = NULL;
        *tsp = -1;
        return brook__bitchain_ret(ch, errstr, errstr_size);
}

int64_t brook_windowiter_timestamp(const brook_windowiter_t *it)
{
        return it ? it->ts : -1;
}

void brook_windowiter_destroy(brook_windowiter_t *it)
{
        if (!it)
                return;
        brook__bitchain_free(&it->ch);
        free(it);
}

/* ------------------------------------------------------------- shared */

/* Writes @p value (NULL: a delete) under the bytes key in st->kbuf; a
 * timestamped store keeps @p ts before it. */
static brook_err_t ws_write(brook__store_t *st, const void *value, int64_t ts)
{
        /* Through a cache, the store's stream time moves now, as it would
         * without one (a put then reaches the segmented store at once);
         * so does a put into an expired segment's dropping. The key was
         * just encoded with its window. */
        if (st->cache &&
            !brook__segmented_observe(
                    st->inner, brook__segkey_time(st->def->kind,
                                                  brook__store_bytes(st->kbuf),
                                                  brook_buf_len(st->kbuf)))) {
                brook__drop(st->task->rt, BROOK_DROP_EXPIRED,
                            "task %s: store \"%s\": skipping a write for a "
                            "window older than the retention (%" PRId64 " ms)",
                            st->task->id, st->def->name, st->def->retention_ms);
                return BROOK_OK;
        }
        return brook__store_put_value(st, value, ts);
}

/* One read of a key's live entries answers every later read of them from
 * the cache, until the cache evicts one. */
brook_err_t brook__ws_cache_group(brook__store_t *st, const void *gkey,
                                  size_t gkey_size, int64_t from,
                                  bool *completep)
{
        brook__segfetch_t f = {
                .kfrom_size = gkey_size,
                .kto_size = gkey_size,
                .tfrom = from,
                .tto = INT64_MAX,
        };
        brook_kvbytes_iter_t *bit = NULL;
        brook__kvsnap_t *snap = NULL;
        const void *k, *v;
        size_t ksz, vsz;
        char why[512];
        brook_err_t err;
        why[0] = '\0';

        *completep = false;
        if (!st->cache)
                return BROOK_OK;
        if (brook__cache_group_complete(st->cache, st, gkey, gkey_size, from)) {
                *completep = true;
                return BROOK_OK;
        }
        f.kfrom = f.kto = gkey;
        if ((err = brook__segmented_fetch(st->inner, &f, &bit, why,
                                          sizeof why)))
                return brook__store_fail(st, err, "read", why);
        /* Read it all before caching any: a put may evict, and writing
         * down under an open iterator is not allowed. */
        snap = brook__kvsnap_new();
        while (!(err = bit->next(bit, &k, &ksz, &v, &vsz, why, sizeof why)))
                brook__kvsnap_add(snap, k, ksz, v, vsz);
        bit->destroy(bit);
        if (err != BROOK_ERR_END)
                err = brook__store_fail(st, err, "read", why);
        /* An eviction's reason is in st already. */
        else if (!(err = brook__cache_group_fill(st->cache, st, gkey, gkey_size,
                                                 from, snap, st->task->cur_ts)))
                *completep = brook__cache_group_complete(st->cache, st, gkey,
                                                         gkey_size, from);
        brook__kvsnap_free(snap);
        return err;
}

/* The earliest time the owner reads: nothing older than retention is
 * (Kafka Streams' getActualFrom()). */
static int64_t ws_live_from(brook__store_t *st, int64_t from)
{
        int64_t observed = brook__segmented_observed(st->inner);
        if (observed >= 0 && from < observed - st->def->retention_ms + 1)
                return observed - st->def->retention_ms + 1;
        return from;
}

/* Reads the bytes key in st->kbuf, segmented by time @p ts, and decodes
 * its value. */
static brook_err_t ws_read(brook__store_t *st, int64_t ts, void **valuep,
                           int64_t *tsp)
{
        *valuep = NULL;
        *tsp = -1;
        /* Older than retention is gone, whether or not the cache still
         * has it (Kafka Streams' caching store would still return it). */
        if (ws_live_from(st, ts) != ts) {
                st->gets++;
                return BROOK_ERR_NOT_FOUND;
        }
        return brook__store_get_value(st, valuep, tsp);
}

/* What a fetch of one key from the cache keeps: the fetch's times. */
typedef struct ws_want_arg {
        brook__storekind_t kind;
        int64_t tfrom, tto;
} ws_want_arg_t;

static bool ws_want(const void *key, size_t key_size, void *opaque)
{
        const ws_want_arg_t *a = opaque;
        size_t n;
        int64_t start, end;
        return brook__segkey_decode(a->kind, key, key_size, &n, &start, &end) &&
               brook__segkey_in_time(a->kind, start, end, a->tfrom, a->tto);
}

/* A fetch by the owner. Of one key, with caching: from the cache, once it
 * holds all of the key's entries in the time range. Otherwise what the
 * cache holds goes down first, so the segmented store has everything.
 * @p kfrom / @p kto are encoded already (in st->kbuf / st->tmp) or NULL. */
static brook_err_t ws_fetch(brook__store_t *st, const brook_buf_t *kfrom,
                            const brook_buf_t *kto, int64_t tfrom, int64_t tto,
                            bool backward, brook_windowiter_t **itp)
{
        brook__segfetch_t f = {
                .kfrom = kfrom ? brook__store_bytes(kfrom) : NULL,
                .kfrom_size = kfrom ? brook_buf_len(kfrom) : 0,
                .kto = kto ? brook__store_bytes(kto) : NULL,
                .kto_size = kto ? brook_buf_len(kto) : 0,
                .tfrom = tfrom,
                .tto = tto,
                .reverse = backward,
        };
        brook_kvbytes_iter_t *bit = NULL;
        unsigned char *copy = NULL;
        char why[512];
        brook_err_t err;
        why[0] = '\0';

        *itp = NULL;
        if (st->cache && kfrom && kto && brook_buf_len(kfrom) == f.kto_size &&
            !memcmp(f.kfrom, f.kto, f.kto_size)) {
                ws_want_arg_t want = {st->def->kind, ws_live_from(st, tfrom),
                                      tto};
                bool complete;
                /* The key is in this store's buffers, which a processor
                 * called from the cache's evictions may use: the rest
                 * reads a copy. */
                copy = brook__xmalloc(f.kfrom_size ? f.kfrom_size : 1);
                memcpy(copy, f.kfrom, f.kfrom_size);
                f.kfrom = f.kto = copy;
                if ((err = brook__ws_cache_group(st, f.kfrom, f.kfrom_size,
                                                 want.tfrom, &complete)))
                        goto out;
                if (complete) {
                        st->scans++;
                        bit = brook__cache_group_iter(st->cache, st, f.kfrom,
                                                      f.kfrom_size, backward,
                                                      ws_want, &want);
                        *itp = brook__windowiter_new(st->def, bit, NULL,
                                                     brook__store_arena(st));
                        goto out;
                }
        }
        if ((err = brook__store_write_pending(st)))
                goto out;
        st->scans++;
        /* The segmented fetch copies its bounds. */
        if ((err = brook__segmented_fetch(st->inner, &f, &bit, why,
                                          sizeof why))) {
                err = brook__store_fail(st, err, "fetch", why);
                goto out;
        }
        *itp = brook__windowiter_new(st->def, bit, NULL,
                                     brook__store_arena(st));
out:
        free(copy);
        return err;
}

/* ------------------------------------------------------- window stores */

brook_err_t brook_ctx_windowstore(brook_ctx_t *ctx, const char *name,
                                  brook_windowstore_t **stp, char *errstr,
                                  size_t errstr_size)
{
        brook__store_t *st;
        brook_err_t err = brook__ctx_store(ctx, name, BROOK__STORE_WINDOW, &st,
                                           errstr, errstr_size);
        *stp = err ? NULL : (brook_windowstore_t *)st;
        return err;
}

const char *brook_windowstore_name(const brook_windowstore_t *ws)
{
        return ws->s.def->name;
}

uint64_t brook_windowstore_expired(const brook_windowstore_t *ws)
{
        return brook__segmented_expired(ws->s.inner);
}

brook_err_t brook_windowstore_put(brook_windowstore_t *ws, const void *key,
                                  const void *value, int64_t window_start,
                                  char *errstr, size_t errstr_size)
{
        return brook__windowstore_put_ts(ws, key, value, window_start,
                                         ws->s.task->cur_ts, errstr,
                                         errstr_size);
}

brook_err_t brook__windowstore_put_ts(brook_windowstore_t *ws, const void *key,
                                      const void *value, int64_t window_start,
                                      int64_t ts, char *errstr,
                                      size_t errstr_size)
{
        brook__store_t *st = WS(ws);
        brook__storedef_t *def = st->def;
        uint32_t seq = 0;
        brook_err_t err;

        if (def->retain_duplicates) {
                /* Kafka Streams: a null is not a value to keep, and each
                 * put of a duplicate gets the next sequence number. */
                if (!value)
                        return BROOK_OK;
                st->seqnum = (st->seqnum + 1) & 0x7fffffff;
                seq = st->seqnum;
        }
        if (window_start < 0) {
                err = brook__store_fail(st, BROOK_ERR_INVALID_ARG, "put",
                                        "the window start is negative");
                return brook__store_ret(st, err, errstr, errstr_size);
        }
        if (!(err = brook__store_enc_key(st, key, st->vbuf))) {
                brook__wkey_encode(st->kbuf, brook__store_bytes(st->vbuf),
                                   brook_buf_len(st->vbuf), window_start, seq);
                err = ws_write(st, value, ts);
        }
        return brook__store_ret(st, err, errstr, errstr_size);
}

brook_err_t brook_windowstore_fetch(brook_windowstore_t *ws, const void *key,
                                    int64_t window_start, void **valuep,
                                    char *errstr, size_t errstr_size)
{
        int64_t ts;
        return brook__windowstore_fetch_ts(ws, key, window_start, valuep, &ts,
                                           errstr, errstr_size);
}

brook_err_t brook__windowstore_fetch_ts(brook_windowstore_t *ws,
                                        const void *key, int64_t window_start,
                                        void **valuep, int64_t *tsp,
                                        char *errstr, size_t errstr_size)
{
        brook__store_t *st = WS(ws);
        brook_err_t err;

        *valuep = NULL;
        if (!(err = brook__store_enc_key(st, key, st->vbuf))) {
                brook__wkey_encode(st->kbuf, brook__store_bytes(st->vbuf),
                                   brook_buf_len(st->vbuf), window_start, 0);
                err = ws_read(st, window_start, valuep, tsp);
        }
        return brook__store_ret(st, err, errstr, errstr_size);
}

brook_err_t brook_windowstore_fetch_keys(brook_windowstore_t *ws,
                                         const void *key_from,
                                         const void *key_to, int64_t time_from,
                                         int64_t time_to, bool backward,
                                         brook_windowiter_t **itp, char *errstr,
                                         size_t errstr_size)
{
        brook__store_t *st = WS(ws);
        brook_err_t err = BROOK_OK;

        *itp = NULL;
        /* kbuf: the lower key, tmp: the upper (the fetch copies both). */
        if (key_from)
                err = brook__store_enc_key(st, key_from, st->kbuf);
        if (!err && key_to)
                err = brook__store_enc_key(st, key_to, st->tmp);
        if (!err)
                err = ws_fetch(st, key_from ? st->kbuf : NULL,
                               key_to ? st->tmp : NULL, time_from, time_to,
                               backward, itp);
        return brook__store_ret(st, err, errstr, errstr_size);
}

brook_err_t brook_windowstore_fetch_range(brook_windowstore_t *ws,
                                          const void *key, int64_t time_from,
                                          int64_t time_to, bool backward,
                                          brook_windowiter_t **itp,
                                          char *errstr, size_t errstr_size)
{
        brook__store_t *st = WS(ws);
        brook_err_t err;

        *itp = NULL;
        if (!(err = brook__store_enc_key(st, key, st->kbuf)))
                err = ws_fetch(st, st->kbuf, st->kbuf, time_from, time_to,
                               backward, itp);
        return brook__store_ret(st, err, errstr, errstr_size);
}

brook_err_t brook_windowstore_fetch_all(brook_windowstore_t *ws,
                                        int64_t time_from, int64_t time_to,
                                        bool backward, brook_windowiter_t **itp,
                                        char *errstr, size_t errstr_size)
{
        brook__store_t *st = WS(ws);
        return brook__store_ret(
                st, ws_fetch(st, NULL, NULL, time_from, time_to, backward, itp),
                errstr, errstr_size);
}

/* ------------------------------------------------------ session stores */

brook_err_t brook_ctx_sessionstore(brook_ctx_t *ctx, const char *name,
                                   brook_sessionstore_t **stp, char *errstr,
                                   size_t errstr_size)
{
        brook__store_t *st;
        brook_err_t err = brook__ctx_store(ctx, name, BROOK__STORE_SESSION, &st,
                                           errstr, errstr_size);
        *stp = err ? NULL : (brook_sessionstore_t *)st;
        return err;
}

const char *brook_sessionstore_name(const brook_sessionstore_t *ss)
{
        return ss->s.def->name;
}

static brook_err_t ss_key(brook__store_t *st, const void *key, int64_t start,
                          int64_t end)
{
        brook_err_t err;
        if (start < 0 || end < start)
                return brook__store_fail(st, BROOK_ERR_INVALID_ARG, "session",
                                         "a session needs 0 <= start <= end");
        if ((err = brook__store_enc_key(st, key, st->vbuf)))
                return err;
        brook__skey_encode(st->kbuf, brook__store_bytes(st->vbuf),
                           brook_buf_len(st->vbuf), start, end);
        return BROOK_OK;
}

brook_err_t brook_sessionstore_put(brook_sessionstore_t *ss, const void *key,
                                   int64_t start, int64_t end,
                                   const void *value, char *errstr,
                                   size_t errstr_size)
{
        return brook__sessionstore_put_ts(ss, key, start, end, value,
                                          ss->s.task->cur_ts, errstr,
                                          errstr_size);
}

brook_err_t brook__sessionstore_put_ts(brook_sessionstore_t *ss,
                                       const void *key, int64_t start,
                                       int64_t end, const void *value,
                                       int64_t ts, char *errstr,
                                       size_t errstr_size)
{
        brook__store_t *st = &ss->s;
        brook_err_t err = ss_key(st, key, start, end);
        if (!err)
                err = ws_write(st, value, ts);
        return brook__store_ret(st, err, errstr, errstr_size);
}

brook_err_t brook_sessionstore_fetch_session(brook_sessionstore_t *ss,
                                             const void *key, int64_t start,
                                             int64_t end, void **valuep,
                                             char *errstr, size_t errstr_size)
{
        brook__store_t *st = &ss->s;
        brook_err_t err = ss_key(st, key, start, end);
        int64_t ts;
        *valuep = NULL;
        if (!err)
                err = ws_read(st, end, valuep, &ts);
        return brook__store_ret(st, err, errstr, errstr_size);
}

brook_err_t
brook_sessionstore_find_sessions(brook_sessionstore_t *ss, const void *key,
                                 int64_t earliest_end, int64_t latest_start,
                                 bool backward, brook_windowiter_t **itp,
                                 char *errstr, size_t errstr_size)
{
        brook__store_t *st = &ss->s;
        brook_err_t err = BROOK_OK;

        *itp = NULL;
        if (key)
                err = brook__store_enc_key(st, key, st->kbuf);
        if (!err)
                err = ws_fetch(st, key ? st->kbuf : NULL, key ? st->kbuf : NULL,
                               earliest_end, latest_start, backward, itp);
        return brook__store_ret(st, err, errstr, errstr_size);
}
