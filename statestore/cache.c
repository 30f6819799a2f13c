/*
 * brook — a stream thread's record cache (Kafka Streams' ThreadCache and
 * NamedCache).
 *
 * Entries are keyed by (store, key bytes) in one hash table and kept in one
 * LRU list across all of the thread's caching stores; eviction takes the
 * least recently used entry whatever its store. Each store also has a
 * record (found through a second, small hash table) that lists its entries
 * by state:
 *
 *   clean      nothing to do: read from below, or already flushed
 *   written    written down by write_pending(), not yet forwarded
 *   unwritten  neither written down nor forwarded
 *
 * The written and unwritten lists are in the order entries last became
 * dirty (a write moves its entry to the end, as NamedCache's dirtyKeys
 * does), so a flush visits only that store's dirty entries, oldest write
 * first.
 *
 * write_down and emit may call back into the cache: emitting forwards a
 * record downstream, where another processor may read or write another
 * store of this cache and so evict entries (even the one being flushed).
 * Hence the rules below: an entry is unlinked, or its state changed,
 * before any call out; a call out gets a copy of the entry's bytes (or an
 * evicted entry's own, which nothing else can reach); no list pointer or
 * store record is held across a call out; and a flush takes only entries
 * that were dirty when it started, so a processor writing the store being
 * flushed cannot make it run forever.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* What an entry costs the budget beyond its key and value: roughly its
 * bookkeeping (links, sizes, flags), as Kafka Streams' LRUCacheEntry adds a
 * fixed overhead. A constant keeps budgets predictable in tests. */
#define CACHE_ENTRY_OVERHEAD 64

typedef enum {
        CACHE_CLEAN,
        CACHE_WRITTEN,
        CACHE_UNWRITTEN,
        CACHE_STATE_CNT,
} cache_state_t;

typedef struct cache_entry cache_entry_t;
typedef struct cache_store cache_store_t;

typedef struct cache_list {
        cache_entry_t *head, *tail;
} cache_list_t;

struct cache_entry {
        cache_entry_t *hnext;               /* Hash chain. */
        cache_entry_t *lru_prev, *lru_next; /* Head: least recently used. */
        cache_entry_t *st_prev, *st_next;   /* In cs->lists[state]. */
        cache_store_t *cs;
        uint64_t hash;
        /* When the entry last became dirty (the cache's counter). */
        uint64_t seq;
        int64_t ts;
        unsigned char *value; /* NULL: a tombstone. Never NULL otherwise,
                               * even for an empty value. */
        size_t value_size;
        size_t key_size;
        /* Room for a value right after the key, in the entry's own
         * allocation: the value the entry was made with goes there, so a
         * read that misses allocates once, not twice. value points there
         * while value_inline is set; a later value that does not fit goes
         * to its own allocation. */
        size_t inline_cap;
        bool value_inline;
        cache_state_t state;
        unsigned char key[];
};

struct cache_store {
        cache_store_t *hnext;
        brook__store_t *st; /* Opaque here: only passed on. */
        cache_list_t lists[CACHE_STATE_CNT];
        size_t cnt;
};

struct brook__cache {
        size_t max_bytes, bytes;
        uint64_t evictions;
        uint64_t seq;
        cache_list_t lru;
        cache_entry_t **buckets; /* Power of two. */
        size_t bucket_cnt, cnt;
        cache_store_t **sbuckets; /* Power of two. */
        size_t sbucket_cnt, scnt;
};

/* ----------------------------------------------------------- hashing */

static uint64_t cache_mix(uint64_t x)
{
        /* splitmix64's finalizer: every input bit reaches the low bits the
         * bucket mask keeps. */
        x ^= x >> 30;
        x *= 0xbf58476d1ce4e5b9ULL;
        x ^= x >> 27;
        x *= 0x94d049bb133111ebULL;
        x ^= x >> 31;
        return x;
}

static uint64_t cache_hash(const brook__store_t *st, const void *key,
                           size_t key_size)
{
        const unsigned char *p = key;
        uint64_t h = 0xcbf29ce484222325ULL ^ cache_mix((uintptr_t)st);

        /* FNV-1a over the key, seeded with the store. */
        for (size_t i = 0; i < key_size; i++) {
                h ^= p[i];
                h *= 0x100000001b3ULL;
        }
        return cache_mix(h);
}

static size_t cache_entry_size(const cache_entry_t *e)
{
        return e->key_size + e->value_size + CACHE_ENTRY_OVERHEAD;
}

/* ------------------------------------------------------------- lists */

static void cache_lru_unlink(brook__cache_t *c, cache_entry_t *e)
{
        if (e->lru_prev)
                e->lru_prev->lru_next = e->lru_next;
        else
                c->lru.head = e->lru_next;
        if (e->lru_next)
                e->lru_next->lru_prev = e->lru_prev;
        else
                c->lru.tail = e->lru_prev;
        e->lru_prev = e->lru_next = NULL;
}

static void cache_lru_append(brook__cache_t *c, cache_entry_t *e)
{
        e->lru_next = NULL;
        e->lru_prev = c->lru.tail;
        if (c->lru.tail)
                c->lru.tail->lru_next = e;
        else
                c->lru.head = e;
        c->lru.tail = e;
}

static void cache_st_unlink(cache_entry_t *e)
{
        cache_list_t *l = &e->cs->lists[e->state];

        if (e->st_prev)
                e->st_prev->st_next = e->st_next;
        else
                l->head = e->st_next;
        if (e->st_next)
                e->st_next->st_prev = e->st_prev;
        else
                l->tail = e->st_prev;
        e->st_prev = e->st_next = NULL;
}

static void cache_st_append(cache_entry_t *e, cache_state_t state)
{
        cache_list_t *l = &e->cs->lists[state];

        e->state = state;
        e->st_next = NULL;
        e->st_prev = l->tail;
        if (l->tail)
                l->tail->st_next = e;
        else
                l->head = e;
        l->tail = e;
}

/* Moves @p e to the end of its store's list for @p state. */
static void cache_set_state(cache_entry_t *e, cache_state_t state)
{
        cache_st_unlink(e);
        cache_st_append(e, state);
}

/* ------------------------------------------------------ store records */

static cache_store_t **cache_store_slot(brook__cache_t *c,
                                        const brook__store_t *st)
{
        cache_store_t **pp;

        if (!c->sbucket_cnt)
                return NULL;
        pp = &c->sbuckets[cache_mix((uintptr_t)st) & (c->sbucket_cnt - 1)];
        while (*pp && (*pp)->st != st)
                pp = &(*pp)->hnext;
        return pp;
}

static cache_store_t *cache_store_find(brook__cache_t *c,
                                       const brook__store_t *st)
{
        cache_store_t **pp = cache_store_slot(c, st);
        return pp ? *pp : NULL;
}

static void cache_store_grow(brook__cache_t *c)
{
        size_t cnt = c->sbucket_cnt ? c->sbucket_cnt * 2 : 16;
        cache_store_t **b = brook__xcalloc(cnt, sizeof *b);

        for (size_t i = 0; i < c->sbucket_cnt; i++) {
                cache_store_t *cs = c->sbuckets[i];
                while (cs) {
                        cache_store_t *next = cs->hnext;
                        size_t j = cache_mix((uintptr_t)cs->st) & (cnt - 1);
                        cs->hnext = b[j];
                        b[j] = cs;
                        cs = next;
                }
        }
        free(c->sbuckets);
        c->sbuckets = b;
        c->sbucket_cnt = cnt;
}

static cache_store_t *cache_store_get(brook__cache_t *c, brook__store_t *st)
{
        cache_store_t *cs = cache_store_find(c, st);
        size_t i;

        if (cs)
                return cs;
        if (c->scnt >= c->sbucket_cnt)
                cache_store_grow(c);
        cs = brook__xcalloc(1, sizeof *cs);
        cs->st = st;
        i = cache_mix((uintptr_t)st) & (c->sbucket_cnt - 1);
        cs->hnext = c->sbuckets[i];
        c->sbuckets[i] = cs;
        c->scnt++;
        return cs;
}

/* A store's record goes with its last entry, so records of closed stores
 * do not pile up even if nobody drops them. */
static void cache_store_release(brook__cache_t *c, cache_store_t *cs)
{
        cache_store_t **pp;

        if (cs->cnt)
                return;
        pp = cache_store_slot(c, cs->st);
        *pp = cs->hnext;
        c->scnt--;
        free(cs);
}

/* ----------------------------------------------------------- entries */

static cache_entry_t **cache_slot(brook__cache_t *c, const brook__store_t *st,
                                  const void *key, size_t key_size,
                                  uint64_t hash)
{
        cache_entry_t **pp;

        if (!c->bucket_cnt)
                return NULL;
        pp = &c->buckets[hash & (c->bucket_cnt - 1)];
        for (; *pp; pp = &(*pp)->hnext) {
                cache_entry_t *e = *pp;
                if (e->hash == hash && e->cs->st == st &&
                    e->key_size == key_size &&
                    (!key_size || !memcmp(e->key, key, key_size)))
                        break;
        }
        return pp;
}

static cache_entry_t *cache_find(brook__cache_t *c, const brook__store_t *st,
                                 const void *key, size_t key_size,
                                 uint64_t hash)
{
        cache_entry_t **pp = cache_slot(c, st, key, key_size, hash);
        return pp ? *pp : NULL;
}

static void cache_grow(brook__cache_t *c)
{
        size_t cnt = c->bucket_cnt ? c->bucket_cnt * 2 : 64;
        cache_entry_t **b = brook__xcalloc(cnt, sizeof *b);

        for (size_t i = 0; i < c->bucket_cnt; i++) {
                cache_entry_t *e = c->buckets[i];
                while (e) {
                        cache_entry_t *next = e->hnext;
                        size_t j = e->hash & (cnt - 1);
                        e->hnext = b[j];
                        b[j] = e;
                        e = next;
                }
        }
        free(c->buckets);
        c->buckets = b;
        c->bucket_cnt = cnt;
}

/* Frees the value if it has its own allocation. */
static void cache_free_value(cache_entry_t *e)
{
        if (!e->value_inline)
                free(e->value);
        e->value = NULL;
        e->value_inline = false;
}

static void cache_set_value(cache_entry_t *e, const void *value,
                            size_t value_size)
{
        if (!value) {
                cache_free_value(e);
                e->value_size = 0;
                return;
        }
        if (e->inline_cap && value_size <= e->inline_cap) {
                /* The room after the key fits it (again). */
                cache_free_value(e);
                e->value = e->key + e->key_size;
                e->value_inline = true;
                if (value_size)
                        memcpy(e->value, value, value_size);
                e->value_size = value_size;
                return;
        }
        if (e->value_inline) {
                /* Outgrew the room after the key. */
                e->value = NULL;
                e->value_inline = false;
        }
        /* At least a byte: an empty value is not a tombstone (NULL). */
        if (!e->value || e->value_size != value_size)
                e->value =
                        brook__xrealloc(e->value, value_size ? value_size : 1);
        if (value_size)
                memcpy(e->value, value, value_size);
        e->value_size = value_size;
}

/* Unlinks @p e from everything; the caller owns it afterwards. */
static void cache_detach(brook__cache_t *c, cache_entry_t *e)
{
        cache_entry_t **pp =
                cache_slot(c, e->cs->st, e->key, e->key_size, e->hash);
        cache_store_t *cs = e->cs;

        *pp = e->hnext;
        c->cnt--;
        cache_lru_unlink(c, e);
        cache_st_unlink(e);
        cs->cnt--;
        cache_store_release(c, cs);
        e->cs = NULL;
        c->bytes -= cache_entry_size(e);
}

static void cache_entry_free(cache_entry_t *e)
{
        cache_free_value(e);
        free(e);
}

/* ------------------------------------------------------- calling out */

/* The bytes of an entry as they were when it was taken for writing down or
 * forwarding: a copy, since the call out may change or evict the entry. */
typedef struct cache_snap {
        brook__store_t *st;
        unsigned char small[256];
        unsigned char *buf;
        size_t key_size, value_size;
        bool tombstone;
        int64_t ts;
} cache_snap_t;

static void cache_snap_take(cache_snap_t *sn, const cache_entry_t *e)
{
        size_t need = e->key_size + e->value_size;

        sn->st = e->cs->st;
        sn->buf = need <= sizeof sn->small ? sn->small : brook__xmalloc(need);
        if (e->key_size)
                memcpy(sn->buf, e->key, e->key_size);
        if (e->value_size)
                memcpy(sn->buf + e->key_size, e->value, e->value_size);
        sn->key_size = e->key_size;
        sn->value_size = e->value_size;
        sn->tombstone = !e->value;
        sn->ts = e->ts;
}

static void cache_snap_release(cache_snap_t *sn)
{
        if (sn->buf != sn->small)
                free(sn->buf);
}

static brook_err_t cache_snap_write_down(const cache_snap_t *sn)
{
        return brook__store_write_down(sn->st, sn->buf, sn->key_size,
                                       sn->tombstone ? NULL
                                                     : sn->buf + sn->key_size,
                                       sn->value_size, sn->ts);
}

static brook_err_t cache_snap_emit(const cache_snap_t *sn)
{
        return brook__store_emit(sn->st, sn->buf, sn->key_size,
                                 sn->tombstone ? NULL : sn->buf + sn->key_size,
                                 sn->value_size, sn->ts);
}

/* Evicts the least recently used entry, writing it down and forwarding it
 * first if it is dirty. A failure's reason is in the evicted entry's store;
 * it is copied to @p caller, the store whose put made room, which reports
 * it. */
static brook_err_t cache_evict_one(brook__cache_t *c, brook__store_t *caller)
{
        cache_entry_t *e = c->lru.head;
        brook__store_t *st = e->cs->st;
        cache_state_t state = e->state;
        const void *value = e->value;
        brook_err_t err = BROOK_OK;

        /* Detached, the entry is ours alone: its bytes stay valid through
         * the calls out whatever they do to the cache. */
        cache_detach(c, e);
        c->evictions++;
        if (state == CACHE_UNWRITTEN && !value &&
            brook__store_tombstone_absent(st, e->key, e->key_size))
                state = CACHE_CLEAN; /* Nothing to delete or forward. */
        if (state == CACHE_UNWRITTEN)
                err = brook__store_write_down(st, e->key, e->key_size, value,
                                              e->value_size, e->ts);
        if (!err && state != CACHE_CLEAN)
                err = brook__store_emit(st, e->key, e->key_size, value,
                                        e->value_size, e->ts);
        cache_entry_free(e);
        if (err && st != caller)
                brook__seterr(caller->errbuf, sizeof caller->errbuf,
                              "evicting from store \"%s\": %s", st->def->name,
                              st->errbuf);
        return err;
}

static brook_err_t cache_evict(brook__cache_t *c, brook__store_t *caller)
{
        /* The entry just put is the most recently used, so it goes last:
         * only when it alone is over the budget. A nested put (from a call
         * out) runs this loop itself, so the condition is read afresh. */
        while (c->bytes > c->max_bytes && c->lru.head) {
                brook_err_t err = cache_evict_one(c, caller);
                if (err)
                        return err;
        }
        return BROOK_OK;
}

/* ----------------------------------------------------------- the API */

brook__cache_t *brook__cache_new(size_t max_bytes)
{
        brook__cache_t *c = brook__xcalloc(1, sizeof *c);

        c->max_bytes = max_bytes;
        return c;
}

void brook__cache_destroy(brook__cache_t *c)
{
        cache_entry_t *e;

        if (!c)
                return;
        e = c->lru.head;
        while (e) {
                cache_entry_t *next = e->lru_next;
                cache_entry_free(e);
                e = next;
        }
        for (size_t i = 0; i < c->sbucket_cnt; i++) {
                cache_store_t *cs = c->sbuckets[i];
                while (cs) {
                        cache_store_t *next = cs->hnext;
                        free(cs);
                        cs = next;
                }
        }
        free(c->buckets);
        free(c->sbuckets);
        free(c);
}

bool brook__cache_get(brook__cache_t *c, brook__store_t *st, const void *key,
                      size_t key_size, const void **value, size_t *value_size)
{
        cache_entry_t *e =
                cache_find(c, st, key, key_size, cache_hash(st, key, key_size));

        if (!e)
                return false;
        cache_lru_unlink(c, e);
        cache_lru_append(c, e);
        *value = e->value;
        *value_size = e->value_size;
        return true;
}

/*
 * A clean put (a value read from below) over an entry that is dirty leaves
 * the entry's value alone: the cached write is newer than anything below.
 * It still counts as a use for the LRU order. (Kafka Streams' NamedCache
 * rejects that case outright; the caching layer never does it, but a
 * reader racing its own write-back is harmless here.)
 */
brook_err_t brook__cache_put(brook__cache_t *c, brook__store_t *st,
                             const void *key, size_t key_size,
                             const void *value, size_t value_size, int64_t ts,
                             bool dirty)
{
        uint64_t hash = cache_hash(st, key, key_size);
        cache_entry_t *e = cache_find(c, st, key, key_size, hash);
        size_t inline_cap;

        if (e) {
                cache_lru_unlink(c, e);
                cache_lru_append(c, e);
                if (!dirty && e->state != CACHE_CLEAN)
                        return BROOK_OK;
                c->bytes -= cache_entry_size(e);
                cache_set_value(e, value, value_size);
                e->ts = ts;
                c->bytes += cache_entry_size(e);
                if (dirty) {
                        e->seq = ++c->seq;
                        cache_set_state(e, CACHE_UNWRITTEN);
                }
                return cache_evict(c, st);
        }

        if (c->cnt >= c->bucket_cnt)
                cache_grow(c);
        /* One allocation for the entry, its key and its first value (at
         * least a byte of it: an empty value is not a tombstone). */
        inline_cap = value ? (value_size ? value_size : 1) : 0;
        if (key_size > SIZE_MAX - sizeof *e - inline_cap)
                return BROOK_ERR_INVALID_ARG;
        e = brook__xmalloc(sizeof *e + key_size + inline_cap);
        memset(e, 0, sizeof *e);
        e->hash = hash;
        e->key_size = key_size;
        e->inline_cap = inline_cap;
        if (key_size)
                memcpy(e->key, key, key_size);
        cache_set_value(e, value, value_size);
        e->ts = ts;
        e->hnext = c->buckets[hash & (c->bucket_cnt - 1)];
        c->buckets[hash & (c->bucket_cnt - 1)] = e;
        c->cnt++;
        cache_lru_append(c, e);
        e->cs = cache_store_get(c, st);
        e->cs->cnt++;
        if (dirty)
                e->seq = ++c->seq;
        cache_st_append(e, dirty ? CACHE_UNWRITTEN : CACHE_CLEAN);
        c->bytes += cache_entry_size(e);
        return cache_evict(c, st);
}

/*
 * On a failed write the entry stays marked written: the caller fails the
 * task, which drops the cache and rebuilds the store from its changelog.
 */
brook_err_t brook__cache_write_pending(brook__cache_t *c, brook__store_t *st)
{
        uint64_t limit = c->seq;

        for (;;) {
                cache_store_t *cs = cache_store_find(c, st);
                cache_entry_t *e = cs ? cs->lists[CACHE_UNWRITTEN].head : NULL;
                cache_snap_t sn;
                brook_err_t err;

                if (!e || e->seq > limit)
                        return BROOK_OK;
                if (!e->value &&
                    brook__store_tombstone_absent(st, e->key, e->key_size)) {
                        /* Nothing to delete below, so nothing to forward
                         * at the flush either. */
                        cache_set_state(e, CACHE_CLEAN);
                        continue;
                }
                cache_set_state(e, CACHE_WRITTEN);
                cache_snap_take(&sn, e);
                err = cache_snap_write_down(&sn);
                cache_snap_release(&sn);
                if (err)
                        return err;
        }
}

brook_err_t brook__cache_flush(brook__cache_t *c, brook__store_t *st)
{
        uint64_t limit = c->seq;

        for (;;) {
                cache_store_t *cs = cache_store_find(c, st);
                cache_entry_t *w, *u, *e;
                cache_state_t state;
                cache_snap_t sn;
                brook_err_t err = BROOK_OK;

                if (!cs)
                        return BROOK_OK;
                /* Both lists are in dirty order; taking the older head of
                 * the two keeps the whole flush in dirty order. */
                w = cs->lists[CACHE_WRITTEN].head;
                u = cs->lists[CACHE_UNWRITTEN].head;
                e = !w ? u : !u ? w : w->seq < u->seq ? w : u;
                if (!e || e->seq > limit)
                        return BROOK_OK;
                state = e->state;
                cache_set_state(e, CACHE_CLEAN);
                if (state == CACHE_UNWRITTEN && !e->value &&
                    brook__store_tombstone_absent(st, e->key, e->key_size))
                        continue; /* Nothing to delete or forward. */
                cache_snap_take(&sn, e);
                if (state == CACHE_UNWRITTEN)
                        err = cache_snap_write_down(&sn);
                if (!err)
                        err = cache_snap_emit(&sn);
                cache_snap_release(&sn);
                if (err)
                        return err;
        }
}

void brook__cache_drop(brook__cache_t *c, brook__store_t *st)
{
        cache_store_t *cs = cache_store_find(c, st);

        /* No calls out here, so plain iteration is safe; the record goes
         * with the last entry. */
        while (cs) {
                cache_entry_t *e = NULL;
                for (int s = 0; s < CACHE_STATE_CNT && !e; s++)
                        e = cs->lists[s].head;
                if (!e)
                        break;
                if (cs->cnt == 1)
                        cs = NULL;
                cache_detach(c, e);
                cache_entry_free(e);
        }
}

size_t brook__cache_bytes(const brook__cache_t *c)
{
        return c->bytes;
}

uint64_t brook__cache_evictions(const brook__cache_t *c)
{
        return c->evictions;
}
