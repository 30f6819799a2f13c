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
 *
 * Window and session stores' entries are also grouped by record key (the
 * bytes key without its time suffix; the suffix starts with the time the
 * store segments by: a window's start, a session's end). A group knows
 * from which time on it is complete: every entry of that record key at
 * that time or later that exists below or is dirty is cached. A fetch of
 * one key (a session lookup, a window read) is then answered from the
 * cache alone, without reading the layer below and without writing the
 * pending entries down first; an entry it put there knows it has nothing
 * below, so a tombstone over it simply removes it. Completeness is set
 * after the store read everything of the key from that time on into the
 * cache (brook__cache_group_fill()), and narrowed when an entry with a
 * value leaves the cache (an eviction: the group is then complete only
 * after that entry's time). A tombstone leaving does not narrow it: what
 * is below is then deleted too. A group without entries is kept while
 * it knows something, and is the first thing freed when room is needed.
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
typedef struct cache_group cache_group_t;

typedef struct cache_list {
        cache_entry_t *head, *tail;
} cache_list_t;

/* A node of one of the cache's hash tables (entries, stores, groups):
 * the first member of each. */
typedef struct cache_hnode {
        struct cache_hnode *next;
        /* What points to it: unlinked without walking its chain (an
         * evicted entry is cold, its chain colder). */
        struct cache_hnode **prevp;
        uint64_t hash;
} cache_hnode_t;

typedef struct cache_htab {
        cache_hnode_t **b; /* Power of two. */
        size_t size, cnt;
} cache_htab_t;

struct cache_entry {
        cache_hnode_t h;                    /* First. */
        cache_entry_t *lru_prev, *lru_next; /* Head: least recently used. */
        cache_entry_t *st_prev, *st_next;   /* In cs->lists[state]. */
        cache_store_t *cs;
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
        /* The key may exist in the store below (read from there, written
         * down, or not known otherwise). False only for an entry put
         * while its group was complete at its time, never written
         * down. */
        bool below;
        /* The key is below with a value, for certain: this cache wrote a
         * value of it down, or read one from there, and has not written
         * a tombstone since. Only a segment's expiry removes it then
         * (brook__store_key_live()). */
        bool present;
        /* The last record this cache forwarded for the key had a value:
         * downstream holds one, and a delete must follow it even if
         * write_pending has already deleted the key below. */
        bool fwd;
        cache_state_t state;
        /* Grouped stores: the entry's group, and its links there. */
        cache_group_t *g;
        cache_entry_t *g_prev, *g_next;
        unsigned char key[];
};

struct cache_store {
        cache_hnode_t h;    /* First; hashed by st. */
        brook__store_t *st; /* Opaque here: only passed on. */
        cache_list_t lists[CACHE_STATE_CNT];
        size_t cnt;
        /* Bytes of time suffix after the record key (0: not grouped), and
         * the groups of the store. */
        size_t suffix;
        size_t gcnt;
};

/* The cached entries of one record key of a grouped store. */
struct cache_group {
        cache_hnode_t h;                      /* First. */
        cache_group_t *idle_prev, *idle_next; /* While on c->idle. */
        cache_store_t *cs;
        cache_entry_t *head; /* Its entries, in no order. */
        size_t cnt;
        /* Every entry at this time or later is cached (INT64_MAX: none
         * known to be). */
        int64_t complete_from;
        /* Entries that left the group (see brook__cache_group_fill()). */
        uint64_t gen;
        /* Held by a fill in progress: not freed even if empty. */
        int pins;
        bool idle;
        size_t key_size;
        unsigned char key[];
};

typedef struct cache_glist {
        cache_group_t *head, *tail;
} cache_glist_t;

struct brook__cache {
        size_t max_bytes, bytes;
        uint64_t evictions;
        uint64_t hits, misses; /**< brook__cache_get()'s answers. */
        uint64_t seq;
        cache_list_t lru;
        /* An entry a hit made the most recently used, not yet moved to
         * the end of lru (see cache_lru_touch()). */
        cache_entry_t *touched;
        cache_htab_t entries, stores, groups;
        /* Groups without entries, oldest first. */
        cache_glist_t idle;
};

/* ----------------------------------------------------------- hashing */

static uint64_t cache_hash(const brook__store_t *st, const void *key,
                           size_t key_size)
{
        return brook__hash_bytes((uintptr_t)st, key, key_size);
}

static size_t cache_entry_size(const cache_entry_t *e)
{
        return e->key_size + e->value_size + CACHE_ENTRY_OVERHEAD;
}

/* ------------------------------------------------------- hash tables */

static void htab_push(cache_hnode_t **head, cache_hnode_t *n)
{
        n->next = *head;
        if (n->next)
                n->next->prevp = &n->next;
        *head = n;
        n->prevp = head;
}

/* The bucket @p hash falls in (the table has buckets). */
static cache_hnode_t **htab_bucket(const cache_htab_t *t, uint64_t hash)
{
        return &t->b[hash & (t->size - 1)];
}

static void htab_add(cache_htab_t *t, cache_hnode_t *n)
{
        if (t->cnt >= t->size) {
                size_t size = t->size ? t->size * 2 : 64;
                cache_hnode_t **b = brook__xcalloc(size, sizeof *b);
                for (size_t i = 0; i < t->size; i++)
                        while (t->b[i]) {
                                cache_hnode_t *m = t->b[i];
                                t->b[i] = m->next;
                                htab_push(&b[m->hash & (size - 1)], m);
                        }
                free(t->b);
                t->b = b;
                t->size = size;
        }
        htab_push(htab_bucket(t, n->hash), n);
        t->cnt++;
}

static void htab_del(cache_htab_t *t, cache_hnode_t *n)
{
        *n->prevp = n->next;
        if (n->next)
                n->next->prevp = n->prevp;
        n->next = NULL;
        n->prevp = NULL;
        t->cnt--;
}

/* The chain @p hash falls in. */
static cache_hnode_t *htab_chain(const cache_htab_t *t, uint64_t hash)
{
        return t->size ? *htab_bucket(t, hash) : NULL;
}

/* Frees the table and, with @p nodes, every node in it. */
static void htab_free(cache_htab_t *t, bool nodes)
{
        for (size_t i = 0; nodes && i < t->size; i++)
                while (t->b[i]) {
                        cache_hnode_t *m = t->b[i];
                        t->b[i] = m->next;
                        free(m);
                }
        free(t->b);
}

/* ------------------------------------------------------------- lists */

static void lru_unlink(brook__cache_t *c, cache_entry_t *e)
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

static void lru_append(brook__cache_t *c, cache_entry_t *e)
{
        e->lru_next = NULL;
        e->lru_prev = c->lru.tail;
        if (c->lru.tail)
                c->lru.tail->lru_next = e;
        else
                c->lru.head = e;
        c->lru.tail = e;
}

/* Moves the entry a hit touched to the end of the LRU list. Everything
 * that changes the list or reads its order settles first, so the order is
 * always the one moving at the hit would have made. */
static void cache_lru_settle(brook__cache_t *c)
{
        cache_entry_t *e = c->touched;

        if (!e)
                return;
        c->touched = NULL;
        lru_unlink(c, e);
        lru_append(c, e);
}

static void cache_lru_unlink(brook__cache_t *c, cache_entry_t *e)
{
        cache_lru_settle(c);
        lru_unlink(c, e);
}

static void cache_lru_append(brook__cache_t *c, cache_entry_t *e)
{
        cache_lru_settle(c);
        lru_append(c, e);
}

/*
 * Makes @p e, just hit, the most recently used. The move itself waits
 * for the next change to the list: it writes to the entry's neighbours,
 * which are cold in a big cache, and such writes hold up the caller's
 * next reads of what it has just written (the value it copies out, say)
 * until they reach memory. Fetched now, the neighbours are at hand when
 * the move is made.
 */
static void cache_lru_touch(brook__cache_t *c, cache_entry_t *e)
{
        cache_lru_settle(c);
        if (c->lru.tail == e)
                return;
        c->touched = e;
        if (e->lru_prev)
                __builtin_prefetch(e->lru_prev, 1);
        __builtin_prefetch(e->lru_next, 1);
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

static cache_store_t *cache_store_find(brook__cache_t *c,
                                       const brook__store_t *st)
{
        uint64_t hash = brook__hash_mix((uintptr_t)st);
        cache_hnode_t *n;

        for (n = htab_chain(&c->stores, hash); n; n = n->next)
                if (((cache_store_t *)n)->st == st)
                        return (cache_store_t *)n;
        return NULL;
}

static cache_store_t *cache_store_get(brook__cache_t *c, brook__store_t *st)
{
        cache_store_t *cs = cache_store_find(c, st);

        if (cs)
                return cs;
        cs = brook__xcalloc(1, sizeof *cs);
        cs->h.hash = brook__hash_mix((uintptr_t)st);
        cs->st = st;
        cs->suffix = brook__store_cache_suffix(st);
        htab_add(&c->stores, &cs->h);
        return cs;
}

/* A store's record goes with its last entry and group, so records of
 * closed stores do not pile up even if nobody drops them. */
static void cache_store_release(brook__cache_t *c, cache_store_t *cs)
{
        if (cs->cnt || cs->gcnt)
                return;
        htab_del(&c->stores, &cs->h);
        free(cs);
}

/* ------------------------------------------------------------ groups */

static bool cache_grouped(const cache_store_t *cs, size_t key_size)
{
        return cs->suffix && key_size >= cs->suffix;
}

/* The time of a grouped store's key: its suffix's first 8 bytes. */
static int64_t cache_key_time(const cache_store_t *cs, const void *key,
                              size_t key_size)
{
        const unsigned char *p =
                (const unsigned char *)key + key_size - cs->suffix;
        uint64_t v = 0;
        int i;
        for (i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return (int64_t)v;
}

static size_t cache_group_size(const cache_group_t *g)
{
        return sizeof *g + g->key_size;
}

static cache_group_t *cache_group_find(brook__cache_t *c,
                                       const cache_store_t *cs,
                                       const void *gkey, size_t gkey_size)
{
        uint64_t hash = cache_hash(cs->st, gkey, gkey_size);
        cache_hnode_t *n;

        for (n = htab_chain(&c->groups, hash); n; n = n->next) {
                cache_group_t *g = (cache_group_t *)n;
                if (n->hash == hash && g->cs == cs &&
                    g->key_size == gkey_size &&
                    (!gkey_size || !memcmp(g->key, gkey, gkey_size)))
                        return g;
        }
        return NULL;
}

/* The group of record key @p gkey, made if there is none. */
static cache_group_t *cache_group_get(brook__cache_t *c, cache_store_t *cs,
                                      const void *gkey, size_t gkey_size)
{
        cache_group_t *g = cache_group_find(c, cs, gkey, gkey_size);

        if (g)
                return g;
        g = brook__xcalloc(1, sizeof *g + gkey_size);
        g->h.hash = cache_hash(cs->st, gkey, gkey_size);
        g->cs = cs;
        g->complete_from = INT64_MAX;
        g->key_size = gkey_size;
        if (gkey_size)
                memcpy(g->key, gkey, gkey_size);
        htab_add(&c->groups, &g->h);
        cs->gcnt++;
        c->bytes += cache_group_size(g);
        return g;
}

static void cache_idle_unlink(brook__cache_t *c, cache_group_t *g)
{
        if (!g->idle)
                return;
        if (g->idle_prev)
                g->idle_prev->idle_next = g->idle_next;
        else
                c->idle.head = g->idle_next;
        if (g->idle_next)
                g->idle_next->idle_prev = g->idle_prev;
        else
                c->idle.tail = g->idle_prev;
        g->idle_prev = g->idle_next = NULL;
        g->idle = false;
}

static void cache_group_free(brook__cache_t *c, cache_group_t *g)
{
        cache_store_t *cs = g->cs;

        cache_idle_unlink(c, g);
        htab_del(&c->groups, &g->h);
        c->bytes -= cache_group_size(g);
        cs->gcnt--;
        free(g);
        cache_store_release(c, cs);
}

/* A group without entries is kept while it knows something (on the idle
 * list, freed first when room is needed), else freed. */
static void cache_group_settle(brook__cache_t *c, cache_group_t *g)
{
        if (g->cnt || g->pins || g->idle)
                return;
        if (g->complete_from == INT64_MAX) {
                cache_group_free(c, g);
                return;
        }
        g->idle = true;
        g->idle_next = NULL;
        g->idle_prev = c->idle.tail;
        if (c->idle.tail)
                c->idle.tail->idle_next = g;
        else
                c->idle.head = g;
        c->idle.tail = g;
}

static void cache_group_add(brook__cache_t *c, cache_group_t *g,
                            cache_entry_t *e)
{
        cache_idle_unlink(c, g);
        e->g = g;
        e->g_prev = NULL;
        e->g_next = g->head;
        if (g->head)
                g->head->g_prev = e;
        g->head = e;
        g->cnt++;
}

static void cache_group_remove(brook__cache_t *c, cache_entry_t *e)
{
        cache_group_t *g = e->g;

        if (!g)
                return;
        if (e->g_prev)
                e->g_prev->g_next = e->g_next;
        else
                g->head = e->g_next;
        if (e->g_next)
                e->g_next->g_prev = e->g_prev;
        e->g = NULL;
        e->g_prev = e->g_next = NULL;
        g->cnt--;
        g->gen++;
        cache_group_settle(c, g);
}

/* Entry @p e, with a value, leaves the cache: its group is complete only
 * after its time from now on. */
static void cache_group_narrow(cache_entry_t *e)
{
        cache_group_t *g = e->g;
        int64_t t;

        if (!g || !e->value)
                return;
        t = cache_key_time(g->cs, e->key, e->key_size);
        if (t >= g->complete_from)
                g->complete_from = t == INT64_MAX ? INT64_MAX : t + 1;
}

/* ----------------------------------------------------------- entries */

static cache_entry_t *cache_find(brook__cache_t *c, const brook__store_t *st,
                                 const void *key, size_t key_size,
                                 uint64_t hash)
{
        cache_hnode_t *n;

        for (n = htab_chain(&c->entries, hash); n; n = n->next) {
                cache_entry_t *e = (cache_entry_t *)n;
                if (n->hash == hash && e->cs->st == st &&
                    e->key_size == key_size &&
                    (!key_size || !memcmp(e->key, key, key_size)))
                        return e;
        }
        return NULL;
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
        cache_store_t *cs = e->cs;

        htab_del(&c->entries, &e->h);
        cache_lru_unlink(c, e);
        cache_st_unlink(e);
        cache_group_remove(c, e);
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

/* Whether dirty tombstone @p e has nothing below to delete (and so
 * nothing to write down or forward). */
static bool cache_tombstone_absent(cache_entry_t *e)
{
        if (e->value)
                return false;
        /* What the read below would say (for a window or session store,
         * whose segments are brook's own), or what must follow downstream
         * whatever it says (Kafka Streams reads the value its last flush
         * wrote; brook's write_pending may have deleted it since). */
        if ((e->fwd || (e->present && e->g)) &&
            brook__store_key_live(e->cs->st, e->key, e->key_size))
                return false;
        if (e->below &&
            !brook__store_tombstone_absent(e->cs->st, e->key, e->key_size))
                return false;
        e->below = false;
        e->present = false;
        return true;
}

/* A tombstone of a grouped store, flushed: it leaves the cache. A group's
 * fetch walks every entry of its key (a session key dies with each merge,
 * so under frequent commits the group would fill with them). A later read
 * of the key is answered as well without it: by the group, which still
 * knows what it knew (the key is now absent below too), or from below. */
static void cache_drop_flushed_tombstone(brook__cache_t *c, cache_entry_t *e)
{
        if (e->value || !e->g || e->state != CACHE_CLEAN)
                return;
        cache_detach(c, e);
        cache_entry_free(e);
}

/* Evicts the least recently used entry, writing it down and forwarding it
 * first if it is dirty. A failure's reason is in the evicted entry's store;
 * it is copied to @p caller, the store whose put made room, which reports
 * it. */
static brook_err_t cache_evict_one(brook__cache_t *c, brook__store_t *caller)
{
        cache_entry_t *e;
        brook__store_t *st;
        cache_state_t state;
        const void *value;
        brook_err_t err = BROOK_OK;

        cache_lru_settle(c);
        e = c->lru.head;
        st = e->cs->st;
        state = e->state;
        value = e->value;
        if (state == CACHE_UNWRITTEN && cache_tombstone_absent(e))
                state = CACHE_CLEAN; /* Nothing to delete or forward. */
        /* Detached, the entry is ours alone: its bytes stay valid through
         * the calls out whatever they do to the cache. */
        cache_group_narrow(e);
        cache_detach(c, e);
        c->evictions++;
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
        while (c->bytes > c->max_bytes) {
                brook_err_t err;
                if (c->idle.head) {
                        /* Only knowledge goes: no data, no call out. */
                        cache_group_free(c, c->idle.head);
                        continue;
                }
                if (!c->lru.head)
                        break;
                if ((err = cache_evict_one(c, caller)))
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
        htab_free(&c->entries, false); /* Freed above. */
        htab_free(&c->groups, true);
        htab_free(&c->stores, true);
        free(c);
}

brook__cache_lookup_t brook__cache_get(brook__cache_t *c, brook__store_t *st,
                                       const void *key, size_t key_size,
                                       const void **value, size_t *value_size)
{
        cache_entry_t *e =
                cache_find(c, st, key, key_size, cache_hash(st, key, key_size));
        cache_store_t *cs;
        cache_group_t *g;

        if (!e) {
                cs = cache_store_find(c, st);
                if (!cs || !cache_grouped(cs, key_size)) {
                        c->misses++;
                        return BROOK__CACHE_MISS;
                }
                g = cache_group_find(c, cs, key, key_size - cs->suffix);
                if (g &&
                    g->complete_from <= cache_key_time(cs, key, key_size)) {
                        c->hits++;
                        return BROOK__CACHE_ABSENT;
                }
                c->misses++;
                return BROOK__CACHE_MISS;
        }
        c->hits++;
        cache_lru_touch(c, e);
        /* A join read it (brook__kvstore_get_exposed()): downstream holds
         * a result of this value now, as if it had been forwarded, and a
         * delete must follow it (Kafka Streams' caching store drops a
         * delete of a key absent below, leaving such a result joined). */
        if (st->read_exposes && e->value)
                e->fwd = true;
        *value = e->value;
        *value_size = e->value_size;
        return BROOK__CACHE_HIT;
}

/*
 * A lookup of the key comes soon: a stream-table join's, for a record
 * still queued. A hit costs two dependent misses, its bucket and then its
 * entry; issued a record or two ahead, both are in cache by then. The far
 * stage fetches the bucket; the near one, a record later, reads it (in
 * cache by then) and fetches the first entry of its chain, which is the
 * key's most of the time. Nothing is changed, and nothing is read that is
 * not in the cache's own memory: an entry freed since is only prefetched.
 */
void brook__cache_prefetch(const brook__cache_t *c, const brook__store_t *st,
                           const void *key, size_t key_size, bool near)
{
        cache_hnode_t **b;
        const char *e;

        if (!c->entries.size)
                return;
        b = htab_bucket(&c->entries, cache_hash(st, key, key_size));
        if (!near) {
                __builtin_prefetch(b);
                return;
        }
        if (!(e = (const char *)*b))
                return;
        /* The entry's header, its key and a value inline after it: four
         * lines at most (a long key is compared from its start). */
        for (size_t off = 0;
             off < sizeof(cache_entry_t) + key_size + 32 && off < 4 * 64;
             off += 64)
                __builtin_prefetch(e + off);
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
        cache_store_t *cs;
        cache_group_t *g = NULL;
        bool nothing_below = false;
        size_t inline_cap;

        if (e) {
                cache_lru_unlink(c, e);
                cache_lru_append(c, e);
                if (!dirty) {
                        e->below = true; /* Just read from there. */
                        /* Over a dirty entry the read may be older than
                         * the entry's own write down. */
                        if (e->state != CACHE_CLEAN)
                                return BROOK_OK;
                        e->present = value != NULL;
                }
                if (dirty && !value && !e->below) {
                        /* Never below and never forwarded: the delete
                         * leaves nothing to do. */
                        cache_detach(c, e);
                        cache_entry_free(e);
                        return BROOK_OK;
                }
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

        /* One allocation for the entry, its key and its first value (at
         * least a byte of it: an empty value is not a tombstone). */
        inline_cap = value ? (value_size ? value_size : 1) : 0;
        if (key_size > SIZE_MAX - sizeof *e - inline_cap)
                return BROOK_ERR_INVALID_ARG;
        cs = cache_store_get(c, st);
        if (cache_grouped(cs, key_size)) {
                size_t gsz = key_size - cs->suffix;
                g = cache_group_find(c, cs, key, gsz);
                /* Complete at its time: the key is not below. */
                nothing_below =
                        dirty && g &&
                        g->complete_from <= cache_key_time(cs, key, key_size);
                if (nothing_below && !value)
                        return BROOK_OK; /* Deleting what is nowhere. */
                if (!g)
                        g = cache_group_get(c, cs, key, gsz);
        }
        e = brook__xmalloc(sizeof *e + key_size + inline_cap);
        memset(e, 0, sizeof *e);
        e->h.hash = hash;
        e->key_size = key_size;
        e->inline_cap = inline_cap;
        if (key_size)
                memcpy(e->key, key, key_size);
        cache_set_value(e, value, value_size);
        e->ts = ts;
        htab_add(&c->entries, &e->h);
        cache_lru_append(c, e);
        e->cs = cs;
        cs->cnt++;
        e->below = !nothing_below;
        e->present = !dirty && value;
        if (g)
                cache_group_add(c, g, e);
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
                if (cache_tombstone_absent(e)) {
                        /* Nothing to delete below, so nothing to forward
                         * at the flush either. */
                        cache_set_state(e, CACHE_CLEAN);
                        cache_drop_flushed_tombstone(c, e);
                        continue;
                }
                cache_set_state(e, CACHE_WRITTEN);
                e->below = true;
                e->present = e->value != NULL;
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
                /* The entry stays, clean: its write down needs no index
                 * in the thread's batch (nor its tombstone check, of a
                 * key this flush has not written). */
                brook__store_set_flushing(st, true);
                if (state == CACHE_UNWRITTEN && cache_tombstone_absent(e)) {
                        brook__store_set_flushing(st, false);
                        cache_drop_flushed_tombstone(c, e);
                        continue; /* Nothing to delete or forward. */
                }
                e->below = true;
                e->present = e->value != NULL;
                e->fwd = e->value != NULL; /* As emitted below. */
                cache_snap_take(&sn, e);
                /* Before any call out: the snapshot has its bytes. */
                cache_drop_flushed_tombstone(c, e);
                if (state == CACHE_UNWRITTEN)
                        err = cache_snap_write_down(&sn);
                brook__store_set_flushing(st, false);
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
        cache_group_t *g;

        if (!cs)
                return;
        /* No calls out here, so plain iteration is safe. The record is
         * held until its idle groups are gone too. */
        cs->gcnt++;
        for (int s = 0; s < CACHE_STATE_CNT; s++)
                while (cs->lists[s].head) {
                        cache_entry_t *e = cs->lists[s].head;
                        cache_detach(c, e);
                        cache_entry_free(e);
                }
        /* Without entries, every group left is idle. */
        g = c->idle.head;
        while (g) {
                cache_group_t *next = g->idle_next;
                if (g->cs == cs)
                        cache_group_free(c, g);
                g = next;
        }
        cs->gcnt--;
        cache_store_release(c, cs);
}

/* ------------------------------------------------------ grouped reads */

bool brook__cache_group_complete(brook__cache_t *c, brook__store_t *st,
                                 const void *gkey, size_t gkey_size,
                                 int64_t from)
{
        cache_store_t *cs = cache_store_find(c, st);
        cache_group_t *g;

        if (!cs || !cs->suffix)
                return false;
        g = cache_group_find(c, cs, gkey, gkey_size);
        return g && g->complete_from <= from;
}

brook_err_t brook__cache_group_fill(brook__cache_t *c, brook__store_t *st,
                                    const void *gkey, size_t gkey_size,
                                    int64_t from, brook__kvsnap_t *read,
                                    int64_t ts)
{
        size_t cnt = brook__kvsnap_cnt(read);
        cache_store_t *cs = cache_store_get(c, st);
        cache_group_t *g;
        brook_err_t err = BROOK_OK;
        uint64_t gen;
        size_t i;

        if (!cs->suffix) {
                cache_store_release(c, cs);
                return BROOK_OK;
        }
        g = cache_group_get(c, cs, gkey, gkey_size);
        /* Pinned, the group outlives the puts' evictions even if it is
         * left without entries. */
        cache_idle_unlink(c, g);
        g->pins++;
        gen = g->gen;
        /* Once an entry of the key left the cache (an eviction the puts
         * made, or a call out from one), what was read is stale for it: a
         * dirty entry evicted is written down, and the value read before
         * would come back over it. So the puts stop there, and nothing
         * more is known. The entries put until then went in before
         * anything left. */
        for (i = 0; i < cnt && !err && g->gen == gen; i++) {
                const void *k, *v;
                size_t ksz, vsz;
                brook__kvsnap_get(read, i, &k, &ksz, &v, &vsz);
                err = brook__cache_put(c, st, k, ksz, v, vsz, ts, false);
        }
        g->pins--;
        if (!err && g->gen == gen && from < g->complete_from)
                g->complete_from = from;
        cache_group_settle(c, g);
        return err;
}

brook_kvbytes_iter_t *brook__cache_group_iter(
        brook__cache_t *c, brook__store_t *st, const void *gkey,
        size_t gkey_size, bool reverse,
        bool (*want)(const void *key, size_t key_size, void *opaque),
        void *opaque)
{
        cache_store_t *cs = cache_store_find(c, st);
        cache_group_t *g = cs && cs->suffix
                                   ? cache_group_find(c, cs, gkey, gkey_size)
                                   : NULL;
        brook__kvsnap_t *snap = brook__kvsnap_new();
        cache_entry_t *e;

        for (e = g ? g->head : NULL; e; e = e->g_next)
                if (e->value && want(e->key, e->key_size, opaque))
                        brook__kvsnap_add(snap, e->key, e->key_size, e->value,
                                          e->value_size);
        brook__kvsnap_sort(snap);
        return brook__kvsnap_iter(snap, reverse);
}

size_t brook__cache_bytes(const brook__cache_t *c)
{
        return c->bytes;
}

uint64_t brook__cache_evictions(const brook__cache_t *c)
{
        return c->evictions;
}

void brook__cache_lookups(const brook__cache_t *c, uint64_t *hits,
                          uint64_t *misses)
{
        *hits = c->hits;
        *misses = c->misses;
}
