/*
 * brook — the generic layers of a task's store, whatever its kind (Kafka
 * Streams' CachingKeyValueStore / CachingWindowStore, ChangeLogging*Store
 * and the store lifecycle): bytes keys and values through the thread's
 * cache, the changelog and the inner bytes store. The typed façades
 * (kvstore.c, windowstore.c, sessionstore.c) sit on top; they only encode
 * keys and values.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* A non-NULL pointer for values that encode to no bytes: NULL below the
 * metered layer means a tombstone, an empty string is not one. */
static const char brook__empty[1];

const void *brook__store_bytes(const brook_buf_t *buf)
{
        return brook_buf_len(buf) ? brook_buf_data(buf) : brook__empty;
}

brook_err_t brook__store_fail(brook__store_t *st, brook_err_t err,
                              const char *what, const char *why)
{
        brook__seterr(st->errbuf, sizeof st->errbuf, "store \"%s\": %s: %s",
                      st->def->name, what, *why ? why : "no reason given");
        return err;
}

brook_err_t brook__store_ret(brook__store_t *st, brook_err_t err, char *errstr,
                             size_t errstr_size)
{
        if (err && err != BROOK_ERR_NOT_FOUND)
                brook__seterr(errstr, errstr_size, "%s", st->errbuf);
        return err;
}

brook_arena_t *brook__store_arena(brook__store_t *st)
{
        return st->task->rt->arena;
}

/* ---------------------------------------------------------- open / close */

brook_err_t brook__store_open(brook__storedef_t *def, brook__task_t *task,
                              brook__stateenv_t *env, brook__cache_t *cache,
                              const char *state_dir, brook__store_t **stp,
                              char *errstr, size_t errstr_size)
{
        brook__runtime_t *rt = task->rt;
        /* Every façade is the generic store and nothing more. */
        _Static_assert(sizeof(struct brook_kvstore_s) ==
                                       sizeof(brook__store_t) &&
                               sizeof(struct brook_windowstore_s) ==
                                       sizeof(brook__store_t) &&
                               sizeof(struct brook_sessionstore_s) ==
                                       sizeof(brook__store_t) &&
                               sizeof(struct brook_versionedstore_s) ==
                                       sizeof(brook__store_t),
                       "a façade is the generic store");
        brook__store_t *st = brook__xcalloc(1, sizeof *st);
        const brook_kvstore_ops_t *base_ops;
        brook_kvstore_open_t info = {
                .store = def->name,
                .task_id = task->id,
                .partition = task->partition,
                .app_id = rt->topo->app_id,
                .state_dir = state_dir,
                .internal = env,
        };
        char why[512];
        why[0] = '\0';

        st->def = def;
        st->task = task;
        if (def->supplier.open(&info, def->supplier.opaque, &st->inner,
                               &st->ops, why, sizeof why)) {
                brook__seterr(errstr, errstr_size,
                              "task %s: store \"%s\" failed to open: %s",
                              task->id, def->name,
                              *why ? why : "no reason given");
                free(st);
                return BROOK_ERR_STATE;
        }
        if (!brook__version_ok(st->ops->version, BROOK_KVSTORE_OPS_VERSION,
                               "brook_kvstore_ops_t", why, sizeof why)) {
                brook__seterr(errstr, errstr_size,
                              "task %s: store \"%s\" (%s): %s", task->id,
                              def->name, st->ops->kind ? st->ops->kind : "?",
                              why);
                /* close is a version-1 member: the instance can be closed
                 * whatever version its store was built for. */
                st->ops->close(st->inner);
                free(st);
                return BROOK_ERR_STATE;
        }
        st->base = st->inner;
        base_ops = st->ops;
        if ((def->kind == BROOK__STORE_WINDOW ||
             def->kind == BROOK__STORE_SESSION) &&
            brook__segmented_wrap(def, &st->inner, &st->ops, why, sizeof why)) {
                brook__seterr(errstr, errstr_size, "task %s: store \"%s\": %s",
                              task->id, def->name, why);
                st->ops->close(st->inner);
                free(st);
                return BROOK_ERR_STATE;
        }
        if (def->kind == BROOK__STORE_VERSIONED &&
            brook__versioned_wrap(def, &st->inner, &st->ops, why, sizeof why)) {
                brook__seterr(errstr, errstr_size, "task %s: store \"%s\": %s",
                              task->id, def->name, why);
                st->ops->close(st->inner);
                free(st);
                return BROOK_ERR_STATE;
        }
        /* A stream-stream join's buffer, in RocksDB: its lookups read a
         * mirror in memory (wmirror.c). With a changelog to restore them
         * from, the mirror holds recent puts in memory only. */
        if (def->kind == BROOK__STORE_WINDOW && def->retain_duplicates && env &&
            env->wmbudget && env->batch && brook__rocksdb_ops_is(base_ops))
                brook__segmented_mirror(st->inner, env->wmbudget, env->batch,
                                        def->join_buffer && def->logging);
        /* Versioned stores never cache (the topology sees to it). */
        st->cache = def->caching && def->kind != BROOK__STORE_VERSIONED ? cache
                                                                        : NULL;
        if (st->cache && def->kind != BROOK__STORE_KV)
                brook__segmented_set_cached(st->inner);
        st->serde_topic = brook__changelog_topic(rt->topo->app_id, def->name);
        if (def->logging) {
                st->changelog = brook__xstrdup(st->serde_topic);
                st->changelog_end = rt->collector->changelog_slot(
                        rt->collector, st->changelog, task->partition);
        }
        atomic_init(&st->state, BROOK__STORE_RESTORING);
        st->iq = brook__xcalloc(1, sizeof *st->iq);
        atomic_init(&st->iq->refs, 1);
        atomic_init(&st->iq->left, false);
        st->iq->store = brook__xstrdup(def->name);
        st->iq->task_id = brook__xstrdup(task->id);
        st->iq->partition = task->partition;
        st->iq->inner = st->inner;
        st->iq->ops = st->ops;
        st->kbuf = brook_buf_new();
        st->vbuf = brook_buf_new();
        st->tmp = brook_buf_new();
        *stp = st;
        return BROOK_OK;
}

void brook__store_close(brook__store_t *st)
{
        if (!st)
                return;
        if (st->cache)
                brook__cache_drop(st->cache, st);
        if (st->task && st->task->rt->env && st->task->rt->env->batch)
                brook__statebatch_detach(st->task->rt->env->batch, st->base);
        if (st->def->kind == BROOK__STORE_WINDOW &&
            brook__segmented_ops(st->ops))
                brook__segmented_unmirror(st->inner);
        /* A query may still read the inner store through the handle: the
         * last reference closes it. */
        atomic_store(&st->iq->left, true);
        brook__iqstore_release(st->iq);
        free(st->changelog);
        free(st->serde_topic);
        brook_buf_destroy(st->kbuf);
        brook_buf_destroy(st->vbuf);
        brook_buf_destroy(st->tmp);
        free(st);
}

void brook__iqstore_ref(brook__iqstore_t *h)
{
        atomic_fetch_add(&h->refs, 1);
}

void brook__iqstore_release(brook__iqstore_t *h)
{
        if (!h || atomic_fetch_sub(&h->refs, 1) != 1)
                return;
        h->ops->close(h->inner);
        free(h->store);
        free(h->task_id);
        free(h);
}

void brook__store_set_emit(brook__store_t *st, brook__store_emit_fn fn,
                           void *opaque)
{
        st->emit = fn;
        st->emit_opaque = opaque;
}

bool brook__store_caching(const brook__store_t *st)
{
        return st->cache != NULL;
}

size_t brook__store_cache_suffix(const brook__store_t *st)
{
        return st->def->kind == BROOK__STORE_KV ||
                               st->def->kind == BROOK__STORE_VERSIONED
                       ? 0
                       : brook__segkey_suffix(st->def->kind);
}

/* ------------------------------------------------------- below the cache */

brook_err_t brook__store_write_down(brook__store_t *st, const void *key,
                                    size_t key_size, const void *value,
                                    size_t value_size, int64_t ts)
{
        char why[512];
        brook_err_t err;
        why[0] = '\0';
        if (st->changelog) {
                brook__collector_t *col = st->task->rt->collector;
                const void *cv = value;
                size_t cv_size = value_size;
                /* As Kafka Streams' timestamped changelogs: the plain
                 * value, stamped with its timestamp (restoration puts it
                 * back in front). */
                if (value && st->def->timestamped &&
                    !brook__ts_value_split(value, value_size, &ts, &cv,
                                           &cv_size))
                        return brook__store_fail(st, BROOK_ERR_STATE,
                                                 "changelog",
                                                 "a value without its "
                                                 "timestamp");
                if (cv == value)
                        ;
                else if (!cv_size)
                        cv = brook__store_bytes(st->tmp) /* non-NULL */;
                if ((err = col->send_changelog(
                             col, st->changelog, st->task->partition, key,
                             key_size, cv, cv_size, ts, st->changelog_end, why,
                             sizeof why)))
                        return brook__store_fail(st, err, "changelog", why);
        }
        if (st->def->kind == BROOK__STORE_KV || st->cache) {
                /* A caching window store counted its expired writes as
                 * they were cached (ws_write). */
                if ((err = st->ops->put(st->inner, key, key_size, value,
                                        value_size, why, sizeof why)))
                        return brook__store_fail(st, err, "write", why);
                return BROOK_OK;
        } else {
                /* The segmented store ignores windows past retention:
                 * counted as dropped, as Kafka Streams' expired-window
                 * records. */
                uint64_t expired = brook__segmented_expired(st->inner);
                if ((err = st->ops->put(st->inner, key, key_size, value,
                                        value_size, why, sizeof why)))
                        return brook__store_fail(st, err, "write", why);
                if (brook__segmented_expired(st->inner) != expired)
                        brook__drop(st->task->rt, BROOK_DROP_EXPIRED,
                                    "task %s: store \"%s\": skipping a "
                                    "write for a window older than the "
                                    "retention (%" PRId64 " ms)",
                                    st->task->id, st->def->name,
                                    st->def->retention_ms);
                return BROOK_OK;
        }
}

void brook__store_set_flushing(brook__store_t *st, bool on)
{
        if (st->task && st->task->rt->env && st->task->rt->env->batch)
                brook__statebatch_set_unindexed(st->task->rt->env->batch, on);
}

bool brook__store_tombstone_absent(brook__store_t *st, const void *key,
                                   size_t key_size)
{
        brook_buf_t *probe;
        char why[512];
        bool absent;
        why[0] = '\0';
        if (!st->emit)
                return false;
        /* A window or session past retention is "gone" to a get, yet it
         * went downstream when it was cached: its tombstone must follow
         * (stream time moves as writes are cached, so it can pass a
         * session between its merge and the flush; Kafka Streams' store
         * time moves only as its cache flushes, in dirty order). */
        if (st->def->kind != BROOK__STORE_KV && brook__segmented_ops(st->ops))
                return !brook__segmented_present(st->inner, key, key_size);
        /* Its own buffer: this may run in the middle of a read that holds
         * the store's buffers. Tombstones are rare enough to afford it. */
        probe = brook_buf_new();
        absent = st->ops->get(st->inner, key, key_size, probe, why,
                              sizeof why) == BROOK_ERR_NOT_FOUND;
        brook_buf_destroy(probe);
        return absent;
}

bool brook__store_key_live(brook__store_t *st, const void *key, size_t key_size)
{
        if (st->def->kind == BROOK__STORE_KV)
                return true;
        return brook__segmented_ops(st->ops) &&
               brook__segmented_kept(st->inner, key, key_size);
}

brook_err_t brook__store_emit(brook__store_t *st, const void *key,
                              size_t key_size, const void *value,
                              size_t value_size, int64_t ts)
{
        char why[512];
        brook_err_t err;
        why[0] = '\0';
        if (!st->emit)
                return BROOK_OK;
        if ((err = st->emit(st, key, key_size, value, value_size, ts,
                            st->emit_opaque, why, sizeof why))) {
                /* A node downstream failed. Its code must not read as "not
                 * found" or "the end" to the store call that evicted the
                 * entry (a get would take the key for absent). */
                if (err == BROOK_ERR_NOT_FOUND || err == BROOK_ERR_END)
                        err = BROOK_ERR_PROCESSING;
                return brook__store_fail(st, err, "forwarding",
                                         *why ? why : brook_err2str(err));
        }
        return BROOK_OK;
}

brook_err_t brook__store_flush_cache(brook__store_t *st, char *errstr,
                                     size_t errstr_size)
{
        brook_err_t err;
        if (!st->cache)
                return BROOK_OK;
        st->errbuf[0] = '\0';
        if ((err = brook__cache_flush(st->cache, st)))
                brook__seterr(errstr, errstr_size,
                              "task %s: flushing store \"%s\" failed: %s",
                              st->task->id, st->def->name,
                              st->errbuf[0] ? st->errbuf : brook_err2str(err));
        return err;
}

brook_err_t brook__store_flush_inner(brook__store_t *st, char *errstr,
                                     size_t errstr_size)
{
        int64_t end = st->changelog_end ? *st->changelog_end : -1;
        char why[512];
        brook_err_t err;
        why[0] = '\0';
        /* What a flush writes (the offset, a window store's stream time)
         * is read only when a store opens. */
        brook__store_set_flushing(st, true);
        err = st->ops->flush(st->inner, end, why, sizeof why);
        brook__store_set_flushing(st, false);
        if (err)
                brook__seterr(errstr, errstr_size,
                              "task %s: store \"%s\" failed to record its "
                              "changelog offset %" PRId64 ": %s",
                              st->task->id, st->def->name, end,
                              *why ? why : "no reason given");
        return err;
}

brook_err_t brook__store_restore_put(brook__store_t *st, const void *key,
                                     size_t key_size, const void *value,
                                     size_t value_size, int64_t ts)
{
        char why[512];
        brook_err_t err;
        why[0] = '\0';
        if (st->def->kind == BROOK__STORE_VERSIONED) {
                /* Each record is a put, replayed as it was made. */
                if ((err = brook__versioned_restore(st->inner, key, key_size,
                                                    value, value_size, ts, why,
                                                    sizeof why)))
                        return brook__store_fail(st, err, "restore", why);
                return BROOK_OK;
        }
        if (value && st->def->timestamped) {
                /* The changelog has the plain value and its timestamp as
                 * the record's (see write_down). */
                unsigned char t[8];
                int i;
                for (i = 0; i < 8; i++)
                        t[i] = (unsigned char)((uint64_t)ts >> (56 - 8 * i));
                brook_buf_clear(st->vbuf);
                brook_buf_append(st->vbuf, t, sizeof t);
                brook_buf_append(st->vbuf, value, value_size);
                value = brook_buf_data(st->vbuf);
                value_size = brook_buf_len(st->vbuf);
        }
        err = st->ops->put(st->inner, key, key_size, value, value_size, why,
                           sizeof why);
        if (err)
                return brook__store_fail(st, err, "restore", why);
        return BROOK_OK;
}

/* ---------------------------------------------------------- reads, writes */

brook_err_t brook__store_read(brook__store_t *st, const void *key,
                              size_t key_size, const void **valp, size_t *sizep)
{
        unsigned char small[128], *copy = NULL;
        char why[512];
        brook_err_t err;
        why[0] = '\0';

        if (st->cache) {
                size_t sfx = brook__store_cache_suffix(st);
                brook__cache_lookup_t l = brook__cache_get(
                        st->cache, st, key, key_size, valp, sizep);
                bool complete = false;
                if (l == BROOK__CACHE_MISS && sfx && key_size >= sfx) {
                        /* A window or session store: the key's entries
                         * from this one's time on come into the cache, so
                         * that reads of its later windows need nothing
                         * from below. Filling the cache may evict, and a
                         * processor called from there may use this
                         * store's buffers, the key's among them: the rest
                         * reads a copy. */
                        copy = key_size <= sizeof small
                                       ? small
                                       : brook__xmalloc(key_size);
                        memcpy(copy, key, key_size);
                        key = copy;
                        if ((err = brook__ws_cache_group(
                                     st, key, key_size - sfx,
                                     brook__segkey_time(st->def->kind, key,
                                                        key_size),
                                     &complete)))
                                goto out;
                        if (complete)
                                l = brook__cache_get(st->cache, st, key,
                                                     key_size, valp, sizep);
                }
                err = l == BROOK__CACHE_MISS     ? BROOK_OK
                      : l == BROOK__CACHE_ABSENT ? BROOK_ERR_NOT_FOUND
                      : *valp                    ? BROOK_OK
                                                 : BROOK_ERR_NOT_FOUND;
                if (l != BROOK__CACHE_MISS)
                        goto out;
        }
        err = st->ops->get(st->inner, key, key_size, st->vbuf, why, sizeof why);
        if (err == BROOK_ERR_NOT_FOUND)
                goto out;
        if (err) {
                err = brook__store_fail(st, err, "read", why);
                goto out;
        }
        *valp = brook__store_bytes(st->vbuf);
        *sizep = brook_buf_len(st->vbuf);
        if (st->cache)
                err = brook__cache_put(st->cache, st, key, key_size, *valp,
                                       *sizep, st->task->cur_ts, false);
out:
        if (copy != small)
                free(copy);
        return err;
}

brook_err_t brook__store_write(brook__store_t *st, const void *key,
                               size_t key_size, const void *value,
                               size_t value_size, int64_t ts)
{
        if (st->cache)
                return brook__cache_put(st->cache, st, key, key_size, value,
                                        value_size, ts, true);
        return brook__store_write_down(st, key, key_size, value, value_size,
                                       ts);
}

brook_err_t brook__store_write_pending(brook__store_t *st)
{
        return st->cache ? brook__cache_write_pending(st->cache, st) : BROOK_OK;
}

/* ------------------------------------------- the metered layer's values */

brook_err_t brook__store_enc_key(brook__store_t *st, const void *key,
                                 brook_buf_t *buf)
{
        char why[512];
        brook_err_t err;
        why[0] = '\0';
        brook_buf_clear(buf);
        if (!key)
                return brook__store_fail(st, BROOK_ERR_INVALID_ARG, "key",
                                         "the key is NULL");
        if ((err = brook__store_ser(st, st->def->key_serde, key, buf, why,
                                    sizeof why)))
                return brook__store_fail(st, err, "key", why);
        return BROOK_OK;
}

brook_err_t brook__store_get_value(brook__store_t *st, void **valuep,
                                   int64_t *tsp)
{
        const void *val;
        size_t size;
        char why[512];
        brook_err_t err;
        why[0] = '\0';

        *valuep = NULL;
        *tsp = -1;
        st->gets++;
        if ((err = brook__store_read(st, brook__store_bytes(st->kbuf),
                                     brook_buf_len(st->kbuf), &val, &size)))
                return err;
        if (st->def->timestamped &&
            !brook__ts_value_split(val, size, tsp, &val, &size))
                return brook__store_fail(st, BROOK_ERR_STATE, "value",
                                         "too short for its timestamp");
        /* The bytes are the cache's or the store's, valid until the next
         * call: what the value may point into must live as long as the
         * record's arena. */
        val = brook__serde_stable(st->def->value_serde, val, size,
                                  brook__store_arena(st));
        if ((err = brook__store_deser(st, st->def->value_serde, val, size,
                                      brook__store_arena(st), valuep, why,
                                      sizeof why)))
                return brook__store_fail(st, err, "value", why);
        return BROOK_OK;
}

brook_err_t brook__ctx_global_get(brook_ctx_t *ctx, const char *name,
                                  brook__store_t **stp, const void *key,
                                  brook_buf_t *kbuf, brook_buf_t *vbuf,
                                  void **valuep, char *errstr,
                                  size_t errstr_size)
{
        brook__runtime_t *rt = ctx->task->rt;
        brook__store_t *st = *stp;
        const void *val;
        size_t size;
        int64_t ts;
        char why[512];
        brook_err_t err;

        *valuep = NULL;
        why[0] = '\0';
        /* An app's global store lives as long as its stream threads; the
         * test driver's opens again with its task. */
        if (!st && rt->global_store && (st = rt->global_store(rt, name)) &&
            rt->global_shared)
                *stp = st;
        if (!st) {
                brook__seterr(errstr, errstr_size,
                              "processor \"%s\": global store \"%s\" is not "
                              "open on this instance",
                              ctx->node->name, name);
                return BROOK_ERR_STATE;
        }
        brook_buf_clear(kbuf);
        if ((err = brook__store_ser(st, st->def->key_serde, key, kbuf, why,
                                    sizeof why))) {
                brook__seterr(errstr, errstr_size,
                              "global store \"%s\": key: %s", name, why);
                return err;
        }
        /* In an app the global thread writes it while stream threads
         * read: a thread-safe read, which sees what the thread wrote
         * down. */
        if (!rt->global_shared)
                err = st->ops->get(st->inner, brook__store_bytes(kbuf),
                                   brook_buf_len(kbuf), vbuf, why, sizeof why);
        else if (brook__rocksdb_ops_is(st->ops))
                err = brook__rocksdb_get_committed(
                        st->inner, brook__store_bytes(kbuf),
                        brook_buf_len(kbuf), vbuf, why, sizeof why);
        else
                err = st->ops->query_get(st->inner, brook__store_bytes(kbuf),
                                         brook_buf_len(kbuf), vbuf, why,
                                         sizeof why);
        if (err == BROOK_ERR_NOT_FOUND)
                return BROOK_OK;
        if (err) {
                brook__seterr(errstr, errstr_size, "global store \"%s\": %s",
                              name, why);
                return err;
        }
        val = brook_buf_data(vbuf);
        size = brook_buf_len(vbuf);
        if (st->def->timestamped &&
            !brook__ts_value_split(val, size, &ts, &val, &size)) {
                brook__seterr(errstr, errstr_size,
                              "global store \"%s\": value too short for its "
                              "timestamp",
                              name);
                return BROOK_ERR_STATE;
        }
        val = brook__serde_stable(st->def->value_serde, val, size, rt->arena);
        if ((err = brook__store_deser(st, st->def->value_serde, val, size,
                                      rt->arena, valuep, why, sizeof why))) {
                brook__seterr(errstr, errstr_size,
                              "global store \"%s\": value: %s", name, why);
                return err;
        }
        return BROOK_OK;
}

brook_err_t brook__store_put_value(brook__store_t *st, const void *value,
                                   int64_t ts)
{
        const void *vbytes = NULL;
        size_t vsize = 0;
        char why[512];
        brook_err_t err;
        why[0] = '\0';

        if (value) {
                brook_buf_clear(st->tmp);
                if (st->def->timestamped) {
                        unsigned char t[8];
                        int i;
                        for (i = 0; i < 8; i++)
                                t[i] = (unsigned char)((uint64_t)ts >>
                                                       (56 - 8 * i));
                        brook_buf_append(st->tmp, t, sizeof t);
                }
                if ((err = brook__store_ser(st, st->def->value_serde, value,
                                            st->tmp, why, sizeof why)))
                        return brook__store_fail(st, err, "value", why);
                vbytes = brook__store_bytes(st->tmp);
                vsize = brook_buf_len(st->tmp);
                st->puts++;
        } else {
                st->deletes++;
        }
        return brook__store_write(st, brook__store_bytes(st->kbuf),
                                  brook_buf_len(st->kbuf), vbytes, vsize, ts);
}

/* ------------------------------------------------------ iterator chains */

void brook__bitchain_init(brook__bitchain_t *ch)
{
        memset(ch, 0, offsetof(brook__bitchain_t, errstr));
        ch->errstr[0] = '\0';
}

void brook__bitchain_add(brook__bitchain_t *ch, brook_kvbytes_iter_t *bit,
                         brook__iqstore_t *h)
{
        if (h)
                while (ch->iqs.cnt < ch->its.cnt)
                        brook__ptrvec_push(&ch->iqs, NULL);
        brook__ptrvec_push(&ch->its, bit);
        if (h || ch->iqs.cnt)
                brook__ptrvec_push(&ch->iqs, h);
}

brook_err_t brook__bitchain_fail(brook__bitchain_t *ch, brook_err_t err,
                                 const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ch->errstr, sizeof ch->errstr, fmt, ap);
        va_end(ap);
        return ch->err = err;
}

/* Fails @p ch if a task whose entries it has not read to the end left
 * this instance: its inner store is no longer the task's, and what the
 * iterator would still return is incomplete or stale. */
static bool brook__bitchain_left(brook__bitchain_t *ch)
{
        size_t i;
        for (i = ch->cur; i < ch->iqs.cnt; i++) {
                brook__iqstore_t *h = ch->iqs.v[i];
                if (h && atomic_load(&h->left)) {
                        brook__bitchain_fail(ch, BROOK_ERR_STATE,
                                             "store \"%s\": task %s left this "
                                             "instance (rebalance or "
                                             "shutdown) while the iterator "
                                             "was open",
                                             h->store, h->task_id);
                        return true;
                }
        }
        return false;
}

brook_err_t brook__bitchain_next(brook__bitchain_t *ch, const void **k,
                                 size_t *ksz, const void **v, size_t *vsz)
{
        if (!ch->err && ch->iqs.cnt)
                brook__bitchain_left(ch);
        while (!ch->err && ch->cur < ch->its.cnt) {
                brook_kvbytes_iter_t *bit = ch->its.v[ch->cur];
                brook_err_t err = bit->next(bit, k, ksz, v, vsz, ch->errstr,
                                            sizeof ch->errstr);
                if (err == BROOK_ERR_END) {
                        ch->cur++;
                        continue;
                }
                if (err)
                        return ch->err = err;
                return BROOK_OK;
        }
        return ch->err ? ch->err : BROOK_ERR_END;
}

void brook__bitchain_skip(brook__bitchain_t *ch)
{
        if (ch->cur < ch->its.cnt)
                ch->cur++;
}

brook_err_t brook__bitchain_ret(const brook__bitchain_t *ch, char *errstr,
                                size_t errstr_size)
{
        if (!ch->err)
                return BROOK_ERR_END;
        brook__seterr(errstr, errstr_size, "%s",
                      *ch->errstr ? ch->errstr
                                  : "the store's iterator gave no reason");
        return ch->err;
}

void brook__bitchain_free(brook__bitchain_t *ch)
{
        size_t i;
        for (i = 0; i < ch->its.cnt; i++) {
                brook_kvbytes_iter_t *bit = ch->its.v[i];
                bit->destroy(bit);
        }
        brook__ptrvec_free(&ch->its);
        /* After the bytes iterators, which may use the inner stores. */
        for (i = 0; i < ch->iqs.cnt; i++)
                brook__iqstore_release(ch->iqs.v[i]);
        brook__ptrvec_free(&ch->iqs);
}
