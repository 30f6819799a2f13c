/*
 * brook — a task's key-value store: the metered layer (serdes, counters)
 * over the thread's cache, the changelog logging and the inner bytes store
 * (Kafka Streams' MeteredKeyValueStore, CachingKeyValueStore and
 * ChangeLoggingKeyValueBytesStore, stacked as KeyValueStoreBuilder
 * stacks them).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* The generic store below the façade. */
#define S(st) (&(st)->s)

const char *brook_kvstore_name(const brook_kvstore_t *st)
{
        return st->s.def->name;
}

brook_err_t brook__kvstore_decode(brook__store_t *st, const void *key,
                                  size_t key_size, const void *value,
                                  size_t value_size, brook_arena_t *arena,
                                  void **keyp, void **valuep, int64_t *tsp,
                                  char *errstr, size_t errstr_size)
{
        brook_err_t err;
        int64_t ts = -1;
        *keyp = *valuep = NULL;
        if (value && st->def->timestamped &&
            !brook__ts_value_split(value, value_size, &ts, &value,
                                   &value_size)) {
                brook__seterr(errstr, errstr_size,
                              "store \"%s\": a value of %zu bytes has no "
                              "timestamp",
                              st->def->name, value_size);
                return BROOK_ERR_STATE;
        }
        if (tsp)
                *tsp = ts;
        if ((err = brook__store_deser(st, st->def->key_serde, key, key_size,
                                      arena, keyp, errstr, errstr_size)))
                return err;
        return brook__store_deser(st, st->def->value_serde, value, value_size,
                                  arena, valuep, errstr, errstr_size);
}

/* --------------------------------------------------------- metered layer */

/* Reads @p key into *@p valuep and (timestamped stores) its timestamp
 * into *@p tsp (-1 otherwise). Leaves the encoded key in st->kbuf. */
static brook_err_t brook__kvstore_get(brook__store_t *st, const void *key,
                                      void **valuep, int64_t *tsp)
{
        brook_err_t err;

        *valuep = NULL;
        *tsp = -1;
        if ((err = brook__store_enc_key(st, key, st->kbuf)))
                return err;
        return brook__store_get_value(st, valuep, tsp);
}

brook_err_t brook_kvstore_get(brook_kvstore_t *kv, const void *key,
                              void **valuep, char *errstr, size_t errstr_size)
{
        brook__store_t *st = S(kv);
        int64_t ts;
        return brook__store_ret(st, brook__kvstore_get(st, key, valuep, &ts),
                                errstr, errstr_size);
}

brook_err_t brook__kvstore_get_exposed(brook_kvstore_t *kv, const void *key,
                                       void **valuep, int64_t *tsp,
                                       char *errstr, size_t errstr_size)
{
        brook__store_t *st = S(kv);
        brook_err_t err;
        st->read_exposes = true;
        err = brook__kvstore_get(st, key, valuep, tsp);
        st->read_exposes = false;
        return brook__store_ret(st, err, errstr, errstr_size);
}

brook_err_t brook__kvstore_get_ts(brook_kvstore_t *kv, const void *key,
                                  void **valuep, int64_t *tsp, char *errstr,
                                  size_t errstr_size)
{
        brook__store_t *st = S(kv);
        return brook__store_ret(st, brook__kvstore_get(st, key, valuep, tsp),
                                errstr, errstr_size);
}

void brook__kvstore_prefetch(brook_kvstore_t *kv, const void *key,
                             size_t key_size, bool near)
{
        brook__store_t *st = S(kv);
        if (st->cache)
                brook__cache_prefetch(st->cache, st, key, key_size, near);
}

/* Writes the encoded key in st->kbuf with @p value (NULL: delete) and
 * timestamp @p ts, which a timestamped store keeps before the value. */
static brook_err_t brook__kvstore_write(brook__store_t *st, const void *value,
                                        int64_t ts)
{
        return brook__store_put_value(st, value, ts);
}

brook_err_t brook__kvstore_put_ts(brook_kvstore_t *kv, const void *key,
                                  const void *value, int64_t ts, char *errstr,
                                  size_t errstr_size)
{
        brook__store_t *st = S(kv);
        brook_err_t err = brook__store_enc_key(st, key, st->kbuf);
        if (!err)
                err = brook__kvstore_write(st, value, ts);
        return brook__store_ret(st, err, errstr, errstr_size);
}

brook_err_t brook_kvstore_put(brook_kvstore_t *kv, const void *key,
                              const void *value, char *errstr,
                              size_t errstr_size)
{
        brook__store_t *st = S(kv);
        brook_err_t err = brook__store_enc_key(st, key, st->kbuf);
        if (!err)
                err = brook__kvstore_write(st, value, st->task->cur_ts);
        return brook__store_ret(st, err, errstr, errstr_size);
}

brook_err_t brook_kvstore_put_if_absent(brook_kvstore_t *kv, const void *key,
                                        const void *value, void **oldp,
                                        char *errstr, size_t errstr_size)
{
        brook__store_t *st = S(kv);
        void *old = NULL;
        int64_t ts;
        brook_err_t err = brook__kvstore_get(st, key, &old, &ts);
        if (oldp)
                *oldp = old;
        if (err == BROOK_ERR_NOT_FOUND) /* get left the key in kbuf */
                err = brook__kvstore_write(st, value, st->task->cur_ts);
        return brook__store_ret(st, err, errstr, errstr_size);
}

brook_err_t brook_kvstore_delete(brook_kvstore_t *kv, const void *key,
                                 void **oldp, char *errstr, size_t errstr_size)
{
        brook__store_t *st = S(kv);
        void *old = NULL;
        int64_t ts;
        brook_err_t err = brook__kvstore_get(st, key, &old, &ts);
        if (oldp)
                *oldp = old;
        if (err == BROOK_ERR_NOT_FOUND)
                return BROOK_OK;
        if (!err)
                err = brook__kvstore_write(st, NULL, st->task->cur_ts);
        return brook__store_ret(st, err, errstr, errstr_size);
}

uint64_t brook_kvstore_approximate_count(brook_kvstore_t *kv)
{
        brook__store_t *st = S(kv);
        return st->ops->approximate_count(st->inner);
}

/* ------------------------------------------------------------- iterators */

struct brook_kviter_s {
        brook__bitchain_t ch;
        const brook_serde_t *key_serde, *value_serde;
        /* Values start with an 8-byte timestamp, skipped. */
        bool timestamped;
        brook_arena_t *arena;
        /** Only keys starting with these bytes (prefix scans). */
        unsigned char *prefix;
        size_t prefix_size;
        void (*on_destroy)(void *opaque);
        void *opaque;
};

brook_kviter_t *brook__kviter_new(const brook_serde_t *key_serde,
                                  const brook_serde_t *value_serde,
                                  bool timestamped, brook_arena_t *arena,
                                  const void *prefix, size_t prefix_size,
                                  void (*on_destroy)(void *opaque),
                                  void *opaque)
{
        brook_kviter_t *it = brook__xcalloc(1, sizeof *it);
        it->key_serde = key_serde;
        it->value_serde = value_serde;
        it->timestamped = timestamped;
        it->arena = arena;
        if (prefix) {
                it->prefix = brook__xmalloc(prefix_size ? prefix_size : 1);
                memcpy(it->prefix, prefix, prefix_size);
                it->prefix_size = prefix_size;
        }
        it->on_destroy = on_destroy;
        it->opaque = opaque;
        return it;
}

void brook__kviter_add(brook_kviter_t *it, brook_kvbytes_iter_t *bit)
{
        brook__bitchain_add(&it->ch, bit, NULL);
}

void brook__kviter_add_iq(brook_kviter_t *it, brook_kvbytes_iter_t *bit,
                          brook__iqstore_t *h)
{
        brook__bitchain_add(&it->ch, bit, h);
}

brook_err_t brook_kviter_next(brook_kviter_t *it, void **keyp, void **valuep,
                              char *errstr, size_t errstr_size)
{
        brook__bitchain_t *ch = &it->ch;
        const void *k, *v;
        size_t ksz, vsz;

        *keyp = *valuep = NULL;
        while (!brook__bitchain_next(ch, &k, &ksz, &v, &vsz)) {
                if (it->prefix) {
                        /* Keys are ordered: the first one past the prefix
                         * ends this iterator's share. */
                        if (ksz < it->prefix_size ||
                            memcmp(k, it->prefix, it->prefix_size)) {
                                brook__bitchain_skip(ch);
                                continue;
                        }
                }
                if (it->timestamped) {
                        int64_t ts;
                        if (!brook__ts_value_split(v, vsz, &ts, &v, &vsz)) {
                                brook__bitchain_fail(
                                        ch, BROOK_ERR_STATE,
                                        "an entry's value of %zu bytes has "
                                        "no timestamp",
                                        vsz);
                                break;
                        }
                }
                /* The bytes live until the next call on the iterator; the
                 * entry must live as long as the arena. */
                k = brook__serde_stable(it->key_serde, k, ksz, it->arena);
                v = brook__serde_stable(it->value_serde, v, vsz, it->arena);
                if ((ch->err = brook_serde_deserialize(
                             it->key_serde, k, ksz, it->arena, keyp, ch->errstr,
                             sizeof ch->errstr)) ||
                    (ch->err = brook_serde_deserialize(
                             it->value_serde, v, vsz, it->arena, valuep,
                             ch->errstr, sizeof ch->errstr))) {
                        *keyp = *valuep = NULL;
                        break;
                }
                return BROOK_OK;
        }
        return brook__bitchain_ret(ch, errstr, errstr_size);
}

void brook_kviter_destroy(brook_kviter_t *it)
{
        if (!it)
                return;
        brook__bitchain_free(&it->ch);
        free(it->prefix);
        if (it->on_destroy)
                it->on_destroy(it->opaque);
        free(it);
}

/* A range over the inner store, after the cache wrote its pending entries
 * down so that the inner store holds everything. */
static brook_err_t brook__kvstore_scan(brook__store_t *st, const void *from,
                                       size_t from_size, const void *to,
                                       size_t to_size, const void *prefix,
                                       size_t prefix_size, brook_kviter_t **itp)
{
        brook_kvbytes_iter_t *bit = NULL;
        char why[512];
        brook_err_t err;
        why[0] = '\0';

        *itp = NULL;
        if ((err = brook__store_write_pending(st)))
                return err;
        st->scans++;
        if ((err = st->ops->range(st->inner, from, from_size, to, to_size, &bit,
                                  why, sizeof why)))
                return brook__store_fail(st, err, "range", why);
        if (!brook__version_ok(bit->version, BROOK_KVBYTES_ITER_VERSION,
                               "brook_kvbytes_iter_t", why, sizeof why)) {
                bit->destroy(bit);
                return brook__store_fail(st, BROOK_ERR_STATE, "range", why);
        }
        *itp = brook__kviter_new(st->def->key_serde, st->def->value_serde,
                                 st->def->timestamped, brook__store_arena(st),
                                 prefix, prefix_size, NULL, NULL);
        brook__kviter_add(*itp, bit);
        return BROOK_OK;
}

static brook_err_t brook__kvstore_range(brook__store_t *st, const void *from,
                                        const void *to, brook_kviter_t **itp)
{
        brook_buf_t *fb = NULL;
        brook_err_t err;

        /* kbuf holds the lower bound, tmp the upper. */
        if (from) {
                if ((err = brook__store_enc_key(st, from, st->kbuf)))
                        return err;
                fb = st->kbuf;
        }
        if (to && (err = brook__store_enc_key(st, to, st->tmp)))
                return err;
        return brook__kvstore_scan(st, fb ? brook__store_bytes(fb) : NULL,
                                   fb ? brook_buf_len(fb) : 0,
                                   to ? brook__store_bytes(st->tmp) : NULL,
                                   to ? brook_buf_len(st->tmp) : 0, NULL, 0,
                                   itp);
}

brook_err_t brook_kvstore_range(brook_kvstore_t *kv, const void *from,
                                const void *to, brook_kviter_t **itp,
                                char *errstr, size_t errstr_size)
{
        brook__store_t *st = S(kv);
        *itp = NULL;
        return brook__store_ret(st, brook__kvstore_range(st, from, to, itp),
                                errstr, errstr_size);
}

static brook_err_t brook__kvstore_prefix_scan(brook__store_t *st,
                                              const void *prefix,
                                              const brook_serde_t *prefix_serde,
                                              brook_kviter_t **itp)
{
        char why[512];
        brook_err_t err;
        why[0] = '\0';

        brook_buf_clear(st->kbuf);
        if (!prefix)
                return brook__store_fail(st, BROOK_ERR_INVALID_ARG, "prefix",
                                         "the prefix is NULL");
        if ((err = brook__store_ser(
                     st, prefix_serde ? prefix_serde : st->def->key_serde,
                     prefix, st->kbuf, why, sizeof why)))
                return brook__store_fail(st, err, "prefix", why);
        /* Nothing below touches kbuf; the iterator copies the prefix. */
        return brook__kvstore_scan(
                st, brook__store_bytes(st->kbuf), brook_buf_len(st->kbuf), NULL,
                0, brook__store_bytes(st->kbuf), brook_buf_len(st->kbuf), itp);
}

brook_err_t brook_kvstore_prefix_scan(brook_kvstore_t *kv, const void *prefix,
                                      const brook_serde_t *prefix_serde,
                                      brook_kviter_t **itp, char *errstr,
                                      size_t errstr_size)
{
        brook__store_t *st = S(kv);
        *itp = NULL;
        return brook__store_ret(
                st, brook__kvstore_prefix_scan(st, prefix, prefix_serde, itp),
                errstr, errstr_size);
}

brook_err_t brook_kvstore_all(brook_kvstore_t *kv, brook_kviter_t **itp,
                              char *errstr, size_t errstr_size)
{
        brook__store_t *st = S(kv);
        return brook__store_ret(
                st, brook__kvstore_scan(st, NULL, 0, NULL, 0, NULL, 0, itp),
                errstr, errstr_size);
}
