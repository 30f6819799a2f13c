/*
 * brook — the window mirror: the recent entries of a window store that
 * keeps every put (a stream-stream join's buffer), in memory, so that the
 * join's lookups read memory instead of RocksDB.
 *
 * Why: a stream-stream join looks the other side up for every record, a
 * read of one key over the join window. Over RocksDB each one is a new
 * iterator over the thread's write batch and the db (memtables and every
 * L0 file of the segment), segment by segment: in a profile of bench/run's
 * ss-join that was over half the stream thread's time, and the store's
 * puts had to be indexed in the batch for those reads to see them.
 *
 * RocksDB stays the store of record: every put goes there and to the
 * changelog as before. The mirror is a copy of the recent part, read and
 * written by the store's own thread only; interactive queries read
 * RocksDB.
 *
 * What it holds: every entry of the store whose window start is at or
 * after its floor, in a hash table by record key, each key's entries
 * newest first (by start, then sequence number). A fetch of one key from a
 * time at or after the floor is answered from it; one reaching further
 * back (a record later than the mirror reaches) reads RocksDB. The floor
 * rises with the store's stream time (older entries are past retention,
 * which no read returns) and when the thread's budget (join.memory.bytes)
 * is full: then the oldest entries go first (first put, first dropped),
 * from the mirror that puts if it holds at least its share, else from the
 * largest.
 *
 * A mirror starts cold and is loaded from the store below at its first
 * fetch (after restoration, after a restart). It goes cold again when its
 * thread's batch is discarded (the store below loses what the batch held)
 * and when the store is cleared.
 *
 * Memory: entries go back to back into chunks, in put order; a chunk is
 * freed once every entry in it has been dropped from the head. The budget
 * counts the chunks and the hash tables.
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* A window store's bytes key: the key, its window start (8 bytes BE) and
 * sequence number (4 bytes BE). */
#define WM_SFX       12
#define WM_CHUNK_MAX (64 * 1024)
#define WM_CHUNK_MIN 1024

typedef struct wm_entry {
        /** The key's next older and next newer entries. */
        struct wm_entry *older, *newer;
        int64_t start;
        /** The key's hash (wm_hash()). */
        uint32_t hash;
        uint32_t seq;
        uint32_t key_size, value_size;
        /** Holding mode: the epoch it was put in, if only in memory;
         *  WM_DURABLE if the store below has it. */
        uint32_t epoch;
        /** Out of the table (deleted or replaced), still in its chunk. */
        bool dead;
        /* 48 bytes to the data: with small records (a join buffer's
         * often are) the header is a good part of the mirror. */
        alignas(8) unsigned char data[]; /**< The key's bytes, the value's. */
} wm_entry_t;
_Static_assert(sizeof(wm_entry_t) == 48, "wm_entry_t grew");

#define WM_DURABLE UINT32_MAX
/* How long (wall clock) a record may stay held in memory only. */
#define WM_HOLD_MAX_MS (10 * 60 * 1000)
/* The shortest epoch (see brook__wmirror_flushed()). */
#define WM_EPOCH_MIN_MS 1000

typedef struct wm_chunk {
        struct wm_chunk *next; /**< The next newer chunk. */
        size_t size, used;
        alignas(8) unsigned char data[];
} wm_chunk_t;

/* Fetches mirrors answered and left to the store below, added up as
 * mirrors are freed (tests). */
static _Atomic uint64_t wm_total_served, wm_total_fallbacks;
/* Puts held in memory only, and entries spilled to the store below. */
static _Atomic uint64_t wm_total_held, wm_total_spilled;

struct brook__wmbudget {
        int64_t max, used;
        brook__wmirror_t **mirrors;
        size_t cnt, cap;
};

struct brook__wmirror {
        brook__wmbudget_t *budget;
        bool loaded;
        int64_t floor;
        /** Open addressing, linear probing: each key's newest entry, and
         *  its key's hash beside it (tags[i] is slots[i]'s), so that a
         *  probe reads entries (a cache miss each, the table's entries
         *  being spread over the whole mirror) only on a hash match.
         *  One allocation: slot_cnt pointers, then slot_cnt tags. */
        wm_entry_t **slots;
        uint32_t *tags;
        size_t slot_cnt, key_cnt;
        /** Chunks oldest first; the head entry is head->data + head_off. */
        wm_chunk_t *head, *tail;
        size_t head_off, chunk_size;
        int64_t bytes;
        /** Entries the mirror holds, and dropped to stay in budget. */
        uint64_t entries, evicted;
        /** Fetches it answered, and left to the store below. */
        uint64_t served, fallbacks;
        /** Holding mode (NULL spill: off). Epochs run from one flush to
         *  the next: ecnt[i] entries put in epoch ebase + i are held only
         *  in memory, and ebefore[i] is the offset flushed before it. The
         *  current epoch is ebase + elen - 1; elen is 0 until primed (the
         *  first flush after loading). */
        brook__wmspill_fn spill;
        void *spill_ctx;
        uint32_t ebase;
        uint32_t *ecnt;
        int64_t *ebefore, *ebegan; /* ebegan: monotonic ms */
        size_t elen, ecap;
        uint64_t held, spilled;
        /** A sync ended holding for good (brook__wmirror_sync()). */
        bool held_off;
        brook_buf_t *kbuf;
        /** Loading: the entries read, and their order. */
        brook__kvsnap_t *load;
        struct wm_load {
                int64_t start;
                uint32_t seq;
                size_t idx;
        } * order;
        size_t order_cnt, order_cap;
};

/* ------------------------------------------------------------- budget */

brook__wmbudget_t *brook__wmbudget_new(int64_t max_bytes)
{
        brook__wmbudget_t *b = brook__xcalloc(1, sizeof *b);
        b->max = max_bytes;
        return b;
}

void brook__wmbudget_destroy(brook__wmbudget_t *b)
{
        if (!b)
                return;
        free(b->mirrors);
        free(b);
}

int64_t brook__wmbudget_bytes(const brook__wmbudget_t *b)
{
        return b ? b->used : 0;
}

static void wm_account(brook__wmirror_t *m, int64_t delta)
{
        m->bytes += delta;
        m->budget->used += delta;
}

/* ------------------------------------------------------------- entries */

static size_t wm_entry_size(size_t key_size, size_t value_size)
{
        size_t n = sizeof(wm_entry_t) + key_size + value_size;
        return (n + 7) & ~(size_t)7;
}

/* (start, seq) order: the bytes keys' order within one key. */
static int wm_cmp(const wm_entry_t *e, int64_t start, uint32_t seq)
{
        if (e->start != start)
                return e->start < start ? -1 : 1;
        if (e->seq != seq)
                return e->seq < seq ? -1 : 1;
        return 0;
}

/* A key's hash in the table: 32 bits, enough for 2^32 slots. */
static uint32_t wm_hash(const void *key, size_t key_size)
{
        return (uint32_t)brook__hash_bytes(0, key, key_size);
}

static bool wm_same_key(const wm_entry_t *e, const void *key, size_t key_size)
{
        return e->key_size == key_size && !memcmp(e->data, key, key_size);
}

/* The slot of @p key, or the empty one where it would go. */
static size_t wm_probe(const brook__wmirror_t *m, uint32_t hash,
                       const void *key, size_t key_size)
{
        size_t mask = m->slot_cnt - 1, i = hash & mask;

        while (m->slots[i] &&
               (m->tags[i] != hash || !wm_same_key(m->slots[i], key, key_size)))
                i = (i + 1) & mask;
        return i;
}

/* Puts @p e, a key new to the table, in the empty slot @p i. */
static void wm_slot_fill(brook__wmirror_t *m, size_t i, wm_entry_t *e)
{
        m->slots[i] = e;
        m->tags[i] = e->hash;
}

/* The table's bytes for @p cnt slots. */
static size_t wm_table_size(size_t cnt)
{
        return cnt * (sizeof(wm_entry_t *) + sizeof(uint32_t));
}

/* The slot of @p e, its key's newest entry. */
static size_t wm_slot_of(const brook__wmirror_t *m, const wm_entry_t *e)
{
        size_t mask = m->slot_cnt - 1, i = e->hash & mask;

        while (m->slots[i] != e)
                i = (i + 1) & mask;
        return i;
}

static void wm_grow(brook__wmirror_t *m)
{
        size_t cnt = m->slot_cnt ? m->slot_cnt * 2 : 64, i, j;
        wm_entry_t **old = m->slots;
        uint32_t *old_tags = m->tags;

        m->slots = brook__xcalloc(1, wm_table_size(cnt));
        m->tags = (uint32_t *)(m->slots + cnt);
        for (i = 0; i < m->slot_cnt; i++) {
                if (!old[i])
                        continue;
                for (j = old_tags[i] & (cnt - 1); m->slots[j];
                     j = (j + 1) & (cnt - 1))
                        ;
                m->slots[j] = old[i];
                m->tags[j] = old_tags[i];
        }
        free(old);
        wm_account(m,
                   (int64_t)(wm_table_size(cnt) - wm_table_size(m->slot_cnt)));
        m->slot_cnt = cnt;
}

/* Empties slot @p i, moving the entries after it back so that every key
 * stays reachable from its home slot (linear probing's deletion). */
static void wm_slot_remove(brook__wmirror_t *m, size_t i)
{
        size_t mask = m->slot_cnt - 1, j = i, k;

        m->slots[i] = NULL;
        m->key_cnt--;
        for (;;) {
                j = (j + 1) & mask;
                if (!m->slots[j])
                        return;
                k = m->tags[j] & mask;
                /* Leave it if its home lies cyclically in (i, j]. */
                if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
                        continue;
                m->slots[i] = m->slots[j];
                m->tags[i] = m->tags[j];
                m->slots[j] = NULL;
                i = j;
        }
}

/* Takes @p e out of its key's list (and the key out of the table if it
 * was its last entry), without looking the key up. */
static void wm_unlink(brook__wmirror_t *m, wm_entry_t *e)
{
        e->dead = true;
        m->entries--;
        if (e->epoch != WM_DURABLE)
                m->ecnt[e->epoch - m->ebase]--;
        if (e->older)
                e->older->newer = e->newer;
        if (e->newer) {
                e->newer->older = e->older;
                return;
        }
        /* The key's newest: its slot goes to the next older, if any. */
        if (e->older)
                m->slots[wm_slot_of(m, e)] = e->older;
        else
                wm_slot_remove(m, wm_slot_of(m, e));
}

/* Puts @p e in its key's list, in order; an entry of the same start and
 * sequence number is replaced. */
static void wm_link(brook__wmirror_t *m, wm_entry_t *e)
{
        wm_entry_t *p;
        size_t i;

        /* At most 3/4 full: linear probing over the tags stays short
         * there, with a third fewer slots than at 1/2. */
        if ((m->key_cnt + 1) * 4 > m->slot_cnt * 3)
                wm_grow(m);
        i = wm_probe(m, e->hash, e->data, e->key_size);
        m->entries++;
        p = m->slots[i];
        e->newer = e->older = NULL;
        if (!p) {
                wm_slot_fill(m, i, e);
                m->key_cnt++;
                return;
        }
        /* p: the oldest entry newer than e, or NULL. */
        if (wm_cmp(p, e->start, e->seq) <= 0) {
                p = NULL;
        } else {
                while (p->older && wm_cmp(p->older, e->start, e->seq) > 0)
                        p = p->older;
        }
        e->older = p ? p->older : m->slots[i];
        e->newer = p;
        if (p)
                p->older = e;
        else
                m->slots[i] = e;
        if (e->older)
                e->older->newer = e;
        /* The same start and sequence number: e replaces it. */
        if (e->older && wm_cmp(e->older, e->start, e->seq) == 0)
                wm_unlink(m, e->older);
}

/* ------------------------------------------------------------- chunks */

static wm_entry_t *wm_alloc(brook__wmirror_t *m, size_t size)
{
        wm_chunk_t *c = m->tail;
        wm_entry_t *e;

        if (!c || c->size - c->used < size) {
                size_t n = size > m->chunk_size ? size : m->chunk_size;
                c = brook__xmalloc(sizeof *c + n);
                c->next = NULL;
                c->size = n;
                c->used = 0;
                wm_account(m, (int64_t)(sizeof *c + n));
                if (m->tail)
                        m->tail->next = c;
                else
                        m->head = c;
                m->tail = c;
        }
        e = (wm_entry_t *)(c->data + c->used);
        c->used += size;
        return e;
}

static void wm_chunk_free(brook__wmirror_t *m, wm_chunk_t *c)
{
        wm_account(m, -(int64_t)(sizeof *c + c->size));
        free(c);
}

/* Drops the oldest entry: out of the table, and its chunk freed once
 * passed. Returns it (valid until the next call), or NULL if there is
 * none. */
/* Frees the chunks the head has passed; the last one, passed, is reused
 * from its start. */
static void wm_pop_passed(brook__wmirror_t *m)
{
        while (m->head && m->head_off >= m->head->used) {
                wm_chunk_t *c = m->head;
                if (c == m->tail) {
                        c->used = 0;
                        m->head_off = 0;
                        return;
                }
                m->head = c->next;
                m->head_off = 0;
                wm_chunk_free(m, c);
        }
}

static wm_entry_t *wm_pop(brook__wmirror_t *m, bool *livep)
{
        wm_entry_t *e;

        wm_pop_passed(m);
        if (!m->head || m->head_off >= m->head->used)
                return NULL;
        e = (wm_entry_t *)(m->head->data + m->head_off);
        m->head_off += wm_entry_size(e->key_size, e->value_size);
        *livep = !e->dead;
        if (!e->dead)
                wm_unlink(m, e);
        return e;
}

/* Frees every chunk and the table: the mirror holds nothing. */
static void wm_free_all(brook__wmirror_t *m)
{
        while (m->head) {
                wm_chunk_t *c = m->head;
                m->head = c->next;
                wm_chunk_free(m, c);
        }
        m->tail = NULL;
        m->head_off = 0;
        if (m->slots) {
                wm_account(m, -(int64_t)wm_table_size(m->slot_cnt));
                free(m->slots);
        }
        m->slots = NULL;
        m->tags = NULL;
        m->slot_cnt = m->key_cnt = 0;
        m->entries = 0;
}

/* Writes @p e, held only in memory, to the store below (its count went
 * with its unlink, or goes with the caller). */
static void wm_spill(brook__wmirror_t *m, const wm_entry_t *e)
{
        m->spill(m->spill_ctx, e->data, e->key_size, e->start, e->seq,
                 e->data + e->key_size, e->value_size);
        m->spilled++;
}

/* Frees memory of @p m for the budget: drops its oldest entry (the floor
 * rises past it), or, once it has none, its chunk and table. False if it
 * had nothing to free. */
static bool wm_shed(brook__wmirror_t *m)
{
        bool live;
        wm_entry_t *e = wm_pop(m, &live);

        if (e) {
                if (live) {
                        if (e->start >= m->floor)
                                m->floor = e->start + 1;
                        m->evicted++;
                        /* Held only here: the store below takes it. */
                        if (e->epoch != WM_DURABLE)
                                wm_spill(m, e);
                }
                return true;
        }
        if (!m->bytes)
                return false;
        wm_free_all(m);
        return true;
}

/* Back within the budget: a mirror holding at least its share (the
 * budget's bytes over its mirrors) sheds its own oldest entries, else the
 * largest one does, so that mirrors that keep putting end up with even
 * shares. */
static void wm_enforce(brook__wmirror_t *m)
{
        brook__wmbudget_t *b = m->budget;

        while (b->used > b->max) {
                brook__wmirror_t *v = m;
                size_t i;

                if (m->bytes * (int64_t)b->cnt < b->used)
                        for (i = 0; i < b->cnt; i++)
                                if (b->mirrors[i]->bytes > v->bytes)
                                        v = b->mirrors[i];
                if (!wm_shed(v) && (v == m || !wm_shed(m)))
                        return;
        }
}

/* ------------------------------------------------------------- mirror */

brook__wmirror_t *brook__wmirror_new(brook__wmbudget_t *b)
{
        brook__wmirror_t *m = brook__xcalloc(1, sizeof *m);
        int64_t chunk = b->max / 16;

        m->budget = b;
        m->chunk_size = chunk > WM_CHUNK_MAX   ? WM_CHUNK_MAX
                        : chunk < WM_CHUNK_MIN ? WM_CHUNK_MIN
                                               : (size_t)chunk;
        m->kbuf = brook_buf_new();
        if (b->cnt == b->cap) {
                b->cap = b->cap ? b->cap * 2 : 8;
                b->mirrors = brook__xrealloc(b->mirrors,
                                             b->cap * sizeof *b->mirrors);
        }
        b->mirrors[b->cnt++] = m;
        return m;
}

static void wm_load_clear(brook__wmirror_t *m)
{
        brook__kvsnap_free(m->load);
        m->load = NULL;
        free(m->order);
        m->order = NULL;
        m->order_cnt = m->order_cap = 0;
}

void brook__wmirror_free(brook__wmirror_t *m)
{
        brook__wmbudget_t *b;
        size_t i;

        if (!m)
                return;
        b = m->budget;
        atomic_fetch_add(&wm_total_served, m->served);
        atomic_fetch_add(&wm_total_fallbacks, m->fallbacks);
        atomic_fetch_add(&wm_total_held, m->held);
        atomic_fetch_add(&wm_total_spilled, m->spilled);
        wm_free_all(m);
        wm_load_clear(m);
        free(m->ecnt);
        free(m->ebefore);
        free(m->ebegan);
        for (i = 0; i < b->cnt; i++)
                if (b->mirrors[i] == m) {
                        b->mirrors[i] = b->mirrors[--b->cnt];
                        break;
                }
        brook_buf_destroy(m->kbuf);
        free(m);
}

void brook__wmirror_reset(brook__wmirror_t *m)
{
        wm_free_all(m);
        wm_load_clear(m);
        m->loaded = false;
        m->floor = 0;
        /* Primed again at the first flush after the next load. */
        m->elen = 0;
}

bool brook__wmirror_loaded(const brook__wmirror_t *m)
{
        return m->loaded;
}

int64_t brook__wmirror_floor(const brook__wmirror_t *m)
{
        return m->floor;
}

uint64_t brook__wmirror_entries(const brook__wmirror_t *m)
{
        return m->entries;
}

uint64_t brook__wmirror_evicted(const brook__wmirror_t *m)
{
        return m->evicted;
}

void brook__wmirror_fallback(brook__wmirror_t *m)
{
        m->fallbacks++;
}

void brook__wmirror_totals(uint64_t *servedp, uint64_t *fallbacksp)
{
        *servedp = atomic_load(&wm_total_served);
        *fallbacksp = atomic_load(&wm_total_fallbacks);
}

/* Splits a window bytes key. */
static bool wm_split(const void *bkey, size_t bkey_size, size_t *key_sizep,
                     int64_t *startp, uint32_t *seqp)
{
        const unsigned char *p = bkey;

        if (bkey_size < WM_SFX)
                return false;
        *key_sizep = bkey_size - WM_SFX;
        p += *key_sizep;
        *startp = (int64_t)brook__be_get(p, 8);
        *seqp = (uint32_t)brook__be_get(p + 8, 4);
        return true;
}

static void wm_add(brook__wmirror_t *m, const unsigned char *key,
                   size_t key_size, int64_t start, uint32_t seq,
                   const void *value, size_t value_size, bool held)
{
        wm_entry_t *e = wm_alloc(m, wm_entry_size(key_size, value_size));

        e->hash = wm_hash(key, key_size);
        e->start = start;
        e->seq = seq;
        e->key_size = (uint32_t)key_size;
        e->value_size = (uint32_t)value_size;
        e->dead = false;
        e->epoch = WM_DURABLE;
        if (held) {
                e->epoch = m->ebase + (uint32_t)(m->elen - 1);
                m->ecnt[m->elen - 1]++;
        }
        memcpy(e->data, key, key_size);
        if (value_size)
                memcpy(e->data + key_size, value, value_size);
        wm_link(m, e);
        wm_enforce(m);
}

/* Takes the entry of @p key at (@p start, @p seq) out, if there is one. */
static void wm_remove(brook__wmirror_t *m, const void *key, size_t key_size,
                      int64_t start, uint32_t seq)
{
        wm_entry_t *e;

        if (!m->slot_cnt)
                return;
        e = m->slots[wm_probe(m, wm_hash(key, key_size), key, key_size)];
        for (; e; e = e->older)
                if (wm_cmp(e, start, seq) == 0) {
                        wm_unlink(m, e);
                        return;
                }
}

void brook__wmirror_put(brook__wmirror_t *m, const void *bkey, size_t bkey_size,
                        const void *value, size_t value_size)
{
        size_t key_size;
        int64_t start;
        uint32_t seq;

        if (!m->loaded || !wm_split(bkey, bkey_size, &key_size, &start, &seq))
                return;
        if (start < m->floor) {
                /* The store below has the newer write; a copy held here
                 * (put late, behind the floor the budget raised) must not
                 * be spilled over it. */
                if (m->spill)
                        wm_remove(m, bkey, key_size, start, seq);
                return;
        }
        if (value)
                wm_add(m, bkey, key_size, start, seq, value, value_size, false);
        else
                wm_remove(m, bkey, key_size, start, seq);
}

void brook__wmirror_expire(brook__wmirror_t *m, int64_t floor)
{
        wm_entry_t *e;
        bool live;

        if (!m->loaded)
                return;
        if (floor > m->floor)
                m->floor = floor;
        /* Entries put late may sit behind newer ones: they go when they
         * reach the head (no fetch returns them meanwhile). */
        for (;;) {
                wm_pop_passed(m);
                if (!m->head || m->head_off >= m->head->used)
                        break;
                e = (wm_entry_t *)(m->head->data + m->head_off);
                if (!e->dead && e->start >= m->floor) {
                        /* e goes next, most likely at the store's next
                         * put: its key's slot and tag, far apart in
                         * memory, are fetched into the cache meanwhile
                         * (wm_slot_of(), wm_slot_remove()). */
                        size_t i = e->hash & (m->slot_cnt - 1);
                        __builtin_prefetch(&m->slots[i], 1);
                        __builtin_prefetch(&m->tags[i], 1);
                        break;
                }
                wm_pop(m, &live);
                /* Below a floor the budget raised, not past retention:
                 * held only here, it goes to the store below. */
                if (live && e->epoch != WM_DURABLE && e->start >= floor)
                        wm_spill(m, e);
        }
}

brook_kvbytes_iter_t *brook__wmirror_fetch(brook__wmirror_t *m, const void *key,
                                           size_t key_size, int64_t tfrom,
                                           int64_t tto, bool reverse)
{
        brook__kvsnap_t *snap = brook__kvsnap_new();
        wm_entry_t *hit[16], **hits = hit, *e;
        size_t cnt = 0, cap = 16, i;
        uint32_t hash;

        m->served++;
        if (m->slot_cnt && tto >= tfrom) {
                hash = wm_hash(key, key_size);
                i = wm_probe(m, hash, key, key_size);
                /* Newest first: skip what is after tto, stop before
                 * tfrom. */
                for (e = m->slots[i]; e && e->start >= tfrom; e = e->older) {
                        if (e->start > tto)
                                continue;
                        if (cnt == cap) {
                                cap *= 2;
                                if (hits == hit) {
                                        hits = brook__xmalloc(cap *
                                                              sizeof *hits);
                                        memcpy(hits, hit, sizeof hit);
                                } else {
                                        hits = brook__xrealloc(
                                                hits, cap * sizeof *hits);
                                }
                        }
                        hits[cnt++] = e;
                }
        }
        for (i = cnt; i > 0; i--) {
                e = hits[i - 1];
                brook__wkey_encode(m->kbuf, e->data, e->key_size, e->start,
                                   e->seq);
                brook__kvsnap_add(snap, brook_buf_data(m->kbuf),
                                  brook_buf_len(m->kbuf), e->data + e->key_size,
                                  e->value_size);
        }
        if (hits != hit)
                free(hits);
        return brook__kvsnap_iter(snap, reverse);
}

/* ------------------------------------------------------------- loading */

void brook__wmirror_load_begin(brook__wmirror_t *m, int64_t floor)
{
        brook__wmirror_reset(m);
        m->floor = floor;
        m->load = brook__kvsnap_new();
}

void brook__wmirror_load_add(brook__wmirror_t *m, const void *bkey,
                             size_t bkey_size, const void *value,
                             size_t value_size)
{
        size_t key_size;
        int64_t start;
        uint32_t seq;

        if (!wm_split(bkey, bkey_size, &key_size, &start, &seq) ||
            start < m->floor)
                return;
        if (m->order_cnt == m->order_cap) {
                m->order_cap = m->order_cap ? m->order_cap * 2 : 256;
                m->order = brook__xrealloc(m->order,
                                           m->order_cap * sizeof *m->order);
        }
        m->order[m->order_cnt++] =
                (struct wm_load){start, seq, brook__kvsnap_cnt(m->load)};
        brook__kvsnap_add(m->load, bkey, bkey_size, value, value_size);
}

static int wm_load_cmp(const void *a, const void *b)
{
        const struct wm_load *x = a, *y = b;

        if (x->start != y->start)
                return x->start < y->start ? -1 : 1;
        if (x->seq != y->seq)
                return x->seq < y->seq ? -1 : 1;
        return x->idx < y->idx ? -1 : x->idx > y->idx;
}

void brook__wmirror_load_done(brook__wmirror_t *m)
{
        size_t i;

        /* Oldest first, as if put in time order: what the budget drops
         * first is what a fetch needs least. */
        if (m->order_cnt)
                qsort(m->order, m->order_cnt, sizeof *m->order, wm_load_cmp);
        m->loaded = true;
        for (i = 0; i < m->order_cnt; i++) {
                const void *k, *v;
                size_t ksz, vsz;
                brook__kvsnap_get(m->load, m->order[i].idx, &k, &ksz, &v, &vsz);
                brook__wmirror_put(m, k, ksz, v, vsz);
        }
        wm_load_clear(m);
}

/* ------------------------------------------------------------- holding */

void brook__wmirror_set_spill(brook__wmirror_t *m, brook__wmspill_fn spill,
                              void *ctx)
{
        m->spill = spill;
        m->spill_ctx = ctx;
}

bool brook__wmirror_holds(const brook__wmirror_t *m, const void *bkey,
                          size_t bkey_size)
{
        size_t key_size;
        int64_t start;
        uint32_t seq;

        return m->spill && !m->held_off && m->loaded && m->elen &&
               wm_split(bkey, bkey_size, &key_size, &start, &seq) &&
               start >= m->floor;
}

void brook__wmirror_put_held(brook__wmirror_t *m, const void *bkey,
                             size_t bkey_size, const void *value,
                             size_t value_size)
{
        size_t key_size;
        int64_t start;
        uint32_t seq;

        if (!wm_split(bkey, bkey_size, &key_size, &start, &seq))
                return;
        wm_add(m, bkey, key_size, start, seq, value, value_size, true);
        m->held++;
}

/* A new epoch, begun at @p now_ms, whose entries replay from @p offset. */
static void wm_epoch_push(brook__wmirror_t *m, int64_t offset, int64_t now_ms)
{
        if (m->elen == m->ecap) {
                m->ecap = m->ecap ? m->ecap * 2 : 16;
                m->ecnt = brook__xrealloc(m->ecnt, m->ecap * sizeof *m->ecnt);
                m->ebefore = brook__xrealloc(m->ebefore,
                                             m->ecap * sizeof *m->ebefore);
                m->ebegan =
                        brook__xrealloc(m->ebegan, m->ecap * sizeof *m->ebegan);
        }
        if (!m->elen)
                m->ebase = 0;
        m->ecnt[m->elen] = 0;
        m->ebefore[m->elen] = offset;
        m->ebegan[m->elen] = now_ms;
        m->elen++;
}

void brook__wmirror_prime(brook__wmirror_t *m, int64_t offset, int64_t now_ms)
{
        if (m->spill && m->loaded && !m->elen)
                wm_epoch_push(m, offset, now_ms);
}

/* Spills up to @p n entries held from the epochs before the @p young-th
 * (counting from ebase), oldest first: entries are in put order and epochs
 * rise with it, so the scan stops at the first entry held from a later
 * one. */
static void wm_spill_held(brook__wmirror_t *m, uint32_t young, size_t n)
{
        wm_chunk_t *c;
        size_t off;

        for (c = m->head, off = m->head_off; c && n; c = c->next, off = 0)
                while (off < c->used && n) {
                        wm_entry_t *e = (wm_entry_t *)(c->data + off);
                        off += wm_entry_size(e->key_size, e->value_size);
                        if (e->dead || e->epoch == WM_DURABLE)
                                continue;
                        if (e->epoch - m->ebase >= young)
                                return;
                        wm_spill(m, e);
                        m->ecnt[e->epoch - m->ebase]--;
                        e->epoch = WM_DURABLE;
                        n--;
                }
}

/* Spills what epochs begun before @p cutoff_ms still hold. */
static void wm_spill_before(brook__wmirror_t *m, int64_t cutoff_ms)
{
        size_t n = 0, i;

        for (i = 0; i < m->elen && m->ebegan[i] < cutoff_ms; i++)
                n += m->ecnt[i];
        if (!n)
                return;
        wm_spill_held(m, (uint32_t)i, n);
}

int64_t brook__wmirror_flushed(brook__wmirror_t *m, int64_t offset,
                               int64_t now_ms)
{
        size_t i, k;

        if (!m->spill || !m->loaded)
                return offset;
        /* The changelog keeps a join store's records for its retention + 1
         * day (of their timestamps), and a store whose puts stopped may
         * never expire what it holds: held past WM_HOLD_MAX_MS of wall
         * clock, records go to the store below, so that a restart never
         * needs changelog records older than that. */
        if (m->elen)
                wm_spill_before(m, now_ms - WM_HOLD_MAX_MS);
        /* A new epoch begins; its entries replay from @p offset. One
         * that holds nothing yet starts over from here instead, and one
         * younger than WM_EPOCH_MIN_MS goes on (its entries replay from
         * its older offset, which covers them): a store keeps at most
         * WM_HOLD_MAX_MS / WM_EPOCH_MIN_MS epochs, whatever its commit
         * interval. */
        k = m->elen - 1;
        if (m->elen && !m->ecnt[k]) {
                m->ebefore[k] = offset;
                m->ebegan[k] = now_ms;
        } else if (!m->elen || now_ms - m->ebegan[k] >= WM_EPOCH_MIN_MS) {
                wm_epoch_push(m, offset, now_ms);
        }
        /* Epochs with nothing held any more go (the current one stays). */
        for (k = 0; k + 1 < m->elen && !m->ecnt[k]; k++)
                ;
        if (k) {
                memmove(m->ecnt, m->ecnt + k, (m->elen - k) * sizeof *m->ecnt);
                memmove(m->ebefore, m->ebefore + k,
                        (m->elen - k) * sizeof *m->ebefore);
                memmove(m->ebegan, m->ebegan + k,
                        (m->elen - k) * sizeof *m->ebegan);
                m->elen -= k;
                m->ebase += (uint32_t)k;
        }
        for (i = 0; i < m->elen; i++)
                if (m->ecnt[i])
                        return m->ebefore[i];
        return offset;
}

void brook__wmirror_sync(brook__wmirror_t *m)
{
        if (!m->spill || !m->elen || m->held_off)
                return;
        /* A read below comes from a lookup that reached past what the
         * budget kept (or a rarer read): the budget does not cover the
         * join's window, so what is held would leave before it expires
         * anyway. Puts go to the store below from now on, and this scan
         * of the whole mirror happens once. */
        m->held_off = true;
        wm_spill_held(m, (uint32_t)m->elen, SIZE_MAX);
}

uint64_t brook__wmirror_spilled(const brook__wmirror_t *m)
{
        return m->spilled;
}

void brook__wmirror_held_totals(uint64_t *heldp, uint64_t *spilledp)
{
        *heldp = atomic_load(&wm_total_held);
        *spilledp = atomic_load(&wm_total_spilled);
}
