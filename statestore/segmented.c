/*
 * brook — the segmented store under window and session stores (Kafka
 * Streams' AbstractRocksDBSegmentedBytesStore with its WindowKeySchema and
 * SessionKeySchema).
 *
 * It wraps any inner bytes store (RocksDB's, the in-memory one, a user's)
 * and is itself an inner bytes store, so the generic layers above
 * (caching, logging, restoration, flush, queries) treat window and session
 * stores as they treat key-value stores. Keys are the kind's bytes keys:
 *
 *   window   [key][window start, 8 bytes BE][sequence number, 4 bytes BE]
 *   session  [key][session end, 8 bytes BE][session start, 8 bytes BE]
 *
 * as Kafka Streams writes them to changelogs. Below, each key is stored
 * behind its segment's id (8 bytes BE): the segment of a window key is
 * its start / segment interval, of a session key its end / interval. So
 * a segment is one contiguous key range of the inner store, and an expired
 * segment is dropped with one delete_range (a RocksDB range tombstone), not
 * key by key.
 *
 * Stream time here is the largest timestamp put (observed), as in Kafka
 * Streams: a put into a segment older than observed - retention is
 * refused (counted, as "expired"), and the segments before it are dropped.
 * A caching store advances it as it caches (brook__segmented_observe()),
 * so it is what it would be without the cache. A window older than
 * observed - retention is not written even into a live segment: no read
 * would return it.
 * The observed time is kept with the data (a key after every segment), so
 * a restart with local state expires as before the crash.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define SEG_PREFIX 8
/* After every segment id (segment ids are non-negative, so their first
 * byte is below 0x80): where the observed stream time is kept. */
static const unsigned char seg_meta_key[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                             0xff, 0xff, 'o',  'b',  's',  'e',
                                             'r',  'v',  'e',  'd'};

typedef struct segstore {
        void *base;
        const brook_kvstore_ops_t *ops;
        brook__storekind_t kind;
        int64_t retention, interval;
        /** Largest timestamp put, or -1. Written by the owner, read by
         *  queries. */
        _Atomic int64_t observed;
        /** Segments below this one were dropped (owner only). */
        int64_t dropped_below;
        /** The segments that hold data, ascending. The owner adds and
         *  drops them; queries copy them under the lock. */
        pthread_mutex_t lock;
        int64_t *segs;
        size_t seg_cnt, seg_cap;
        brook_buf_t *kbuf; /**< The owner's scratch key. */
        brook_buf_t *qbuf; /**< A reader's scratch (query_get, locked). */
        pthread_mutex_t qlock;
        /** Puts refused because their segment had expired (owner). */
        uint64_t expired;
        /** Puts come from a cache, which counted them as they were
         *  cached (brook__segmented_observe()). */
        bool cached;
        /** A join's window store: the mirror its owner's fetches of one
         *  key read (wmirror.c), NULL: none; and the batch its puts go
         *  to without the index, which only fetches the mirror cannot
         *  answer need (they index first). */
        brook__wmirror_t *mirror;
        brook__statebatch_t *batch;
        /** The mirror holds puts in memory only (wmirror.c's holding
         *  mode): the store has a changelog to restore them from. A
         *  spill that failed fails the next put and flush. */
        atomic_bool holding;
        brook_buf_t *sbuf; /**< seg_spill()'s scratch key. */
        brook_err_t spill_err;
        char spill_why[256];
} segstore_t;

/* ------------------------------------------------------------ key schemas */

static void be64_put(unsigned char *p, uint64_t v)
{
        int i;
        for (i = 0; i < 8; i++)
                p[i] = (unsigned char)(v >> (56 - 8 * i));
}

static uint64_t be64_get(const unsigned char *p)
{
        uint64_t v = 0;
        int i;
        for (i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return v;
}

size_t brook__segkey_suffix(brook__storekind_t kind)
{
        return kind == BROOK__STORE_SESSION ? 16 : 12;
}

/* A window key's suffix: its start and sequence number, big-endian. */
static void wkey_suffix(unsigned char sfx[12], int64_t start, uint32_t seq)
{
        be64_put(sfx, (uint64_t)start);
        sfx[8] = (unsigned char)(seq >> 24);
        sfx[9] = (unsigned char)(seq >> 16);
        sfx[10] = (unsigned char)(seq >> 8);
        sfx[11] = (unsigned char)seq;
}

void brook__wkey_encode(brook_buf_t *out, const void *key, size_t key_size,
                        int64_t start, uint32_t seq)
{
        unsigned char sfx[12];
        wkey_suffix(sfx, start, seq);
        brook_buf_clear(out);
        brook_buf_append(out, key, key_size);
        brook_buf_append(out, sfx, sizeof sfx);
}

void brook__skey_encode(brook_buf_t *out, const void *key, size_t key_size,
                        int64_t start, int64_t end)
{
        unsigned char sfx[16];
        be64_put(sfx, (uint64_t)end);
        be64_put(sfx + 8, (uint64_t)start);
        brook_buf_clear(out);
        brook_buf_append(out, key, key_size);
        brook_buf_append(out, sfx, sizeof sfx);
}

bool brook__segkey_decode(brook__storekind_t kind, const void *bkey,
                          size_t bkey_size, size_t *key_sizep, int64_t *startp,
                          int64_t *endp)
{
        const unsigned char *p = bkey;
        size_t sfx = brook__segkey_suffix(kind);
        if (bkey_size < sfx)
                return false;
        *key_sizep = bkey_size - sfx;
        p += bkey_size - sfx;
        if (kind == BROOK__STORE_SESSION) {
                *endp = (int64_t)be64_get(p);
                *startp = (int64_t)be64_get(p + 8);
        } else {
                *startp = (int64_t)be64_get(p);
                *endp = -1; /* The window store knows its size. */
        }
        return true;
}

bool brook__segkey_in_time(brook__storekind_t kind, int64_t start, int64_t end,
                           int64_t tfrom, int64_t tto)
{
        if (kind == BROOK__STORE_SESSION)
                return end >= tfrom && start <= tto;
        return start >= tfrom && start <= tto;
}

int64_t brook__segkey_time(brook__storekind_t kind, const void *bkey,
                           size_t bkey_size)
{
        return (int64_t)be64_get((const unsigned char *)bkey + bkey_size -
                                 brook__segkey_suffix(kind));
}

/* The time a key is segmented by: a window's start, a session's end. */
static bool seg_key_time(const segstore_t *s, const void *key, size_t key_size,
                         int64_t *tsp)
{
        if (key_size < brook__segkey_suffix(s->kind))
                return false;
        *tsp = brook__segkey_time(s->kind, key, key_size);
        return *tsp >= 0;
}

static int64_t seg_id(const segstore_t *s, int64_t ts)
{
        return ts < 0 ? 0 : ts / s->interval;
}

/* The first segment still live at stream time @p observed (Kafka Streams'
 * getOrCreateSegmentIfLive: segmentId(streamTime - retention)). */
static int64_t seg_min_live(const segstore_t *s, int64_t observed)
{
        if (observed < 0)
                return 0;
        return seg_id(s, observed - s->retention);
}

static void seg_prefixed(brook_buf_t *out, int64_t seg, const void *key,
                         size_t key_size)
{
        unsigned char p[SEG_PREFIX];
        be64_put(p, (uint64_t)seg);
        brook_buf_clear(out);
        brook_buf_append(out, p, sizeof p);
        if (key_size)
                brook_buf_append(out, key, key_size);
}

static brook_err_t seg_bad_key(char *errstr, size_t errstr_size,
                               const segstore_t *s, size_t key_size)
{
        brook__seterr(errstr, errstr_size,
                      "a %s store key has at least %zu bytes (key, then "
                      "window); this one has %zu",
                      s->kind == BROOK__STORE_SESSION ? "session" : "window",
                      brook__segkey_suffix(s->kind), key_size);
        return BROOK_ERR_STATE;
}

/* ------------------------------------------------------------ segments */

/* Adds @p seg to the list (owner only; under the lock for readers). */
static void seg_add(segstore_t *s, int64_t seg)
{
        brook__segs_add(&s->segs, &s->seg_cnt, &s->seg_cap, &s->lock, seg);
}

/* Deletes every key below segment @p min_live, as one range, when it has
 * not been done yet. Also covers keys written to those segments but not
 * yet committed (RocksDB applies the range after them). */
static brook_err_t seg_drop_below(segstore_t *s, int64_t min_live, char *errstr,
                                  size_t errstr_size)
{
        unsigned char from[SEG_PREFIX], to[SEG_PREFIX];
        brook_err_t err;

        if (min_live <= s->dropped_below)
                return BROOK_OK;
        be64_put(from, (uint64_t)s->dropped_below);
        be64_put(to, (uint64_t)min_live);
        if ((err = brook__bytes_delete_below(s->base, s->ops, from, sizeof from,
                                             to, sizeof to, errstr,
                                             errstr_size)))
                return err;
        s->dropped_below = min_live;
        brook__segs_drop_below(s->segs, &s->seg_cnt, &s->lock, min_live);
        return BROOK_OK;
}

/* The first key at or after @p seg's start, through a range over the
 * inner store: sets *@p nextp to its segment, or -1 if none. */
static brook_err_t seg_probe(segstore_t *s, int64_t seg, int64_t *nextp,
                             char *errstr, size_t errstr_size)
{
        unsigned char from[SEG_PREFIX];
        brook_kvbytes_iter_t *it = NULL;
        const void *k, *v;
        size_t ksz, vsz;
        brook_err_t err;

        *nextp = -1;
        be64_put(from, (uint64_t)seg);
        if ((err = s->ops->range(s->base, from, sizeof from, NULL, 0, &it,
                                 errstr, errstr_size)))
                return err;
        err = it->next(it, &k, &ksz, &v, &vsz, errstr, errstr_size);
        if (!err && ksz >= SEG_PREFIX && ((const unsigned char *)k)[0] < 0x80)
                *nextp = (int64_t)be64_get(k);
        it->destroy(it);
        return err == BROOK_ERR_END ? BROOK_OK : err;
}

/* ------------------------------------------------------------ mirror */

/* Loads the mirror with every entry of the store below still within
 * retention at stream time @p observed (through the batch: what is not
 * committed yet too). */
static brook_err_t seg_mirror_load(segstore_t *s, int64_t observed,
                                   char *errstr, size_t errstr_size)
{
        brook_kvbytes_iter_t *it = NULL;
        unsigned char from[SEG_PREFIX];
        int64_t floor = observed >= 0 ? observed - s->retention + 1 : 0;
        const void *k, *v;
        size_t ksz, vsz;
        brook_err_t err;

        brook__wmirror_load_begin(s->mirror, floor);
        /* From the floor's segment: those before hold nothing it takes
         * (a crash may have kept them past their drop). */
        be64_put(from, (uint64_t)seg_id(s, floor));
        if ((err = s->ops->range(s->base, from, sizeof from, NULL, 0, &it,
                                 errstr, errstr_size)))
                goto fail;
        while (!(err = it->next(it, &k, &ksz, &v, &vsz, errstr, errstr_size)))
                /* Not the observed time's key, after every segment. */
                if (ksz > SEG_PREFIX && ((const unsigned char *)k)[0] < 0x80)
                        brook__wmirror_load_add(s->mirror,
                                                (const unsigned char *)k +
                                                        SEG_PREFIX,
                                                ksz - SEG_PREFIX, v, vsz);
        it->destroy(it);
        if (err != BROOK_ERR_END)
                goto fail;
        brook__wmirror_load_done(s->mirror);
        /* Puts may stay in memory from here: the changelog holds them
         * past the offset the store recorded last, which a restart reads
         * from until a flush records a later one. */
        if (atomic_load(&s->holding)) {
                int64_t recorded = -1;
                if (s->ops->stored_offset)
                        recorded = s->ops->stored_offset(s->base);
                brook__wmirror_prime(s->mirror, recorded, brook__now_mono_ms());
        }
        return BROOK_OK;
fail:
        brook__wmirror_reset(s->mirror);
        return err;
}

static bool seg_window_past(const segstore_t *s, int64_t ts, int64_t observed);

/* The mirror drops (or syncs) an entry it held only in memory: it goes
 * to the store below, unless it expired meanwhile (its segment may be
 * dropped already). A failure is kept for the next put or flush, which
 * fails the commit: the entry is still in the changelog past the offset
 * the store last recorded. */
static void seg_spill(void *ctx, const void *key, size_t key_size,
                      int64_t start, uint32_t seq, const void *value,
                      size_t value_size)
{
        segstore_t *s = ctx;
        int64_t observed = atomic_load(&s->observed), seg = seg_id(s, start);
        unsigned char sfx[12];
        bool unindexed;
        brook_err_t err;

        if (s->spill_err || seg < seg_min_live(s, observed) ||
            seg_window_past(s, start, observed))
                return;
        seg_add(s, seg);
        /* The window key behind its segment's id, as seg_put() writes. */
        seg_prefixed(s->sbuf, seg, key, key_size);
        wkey_suffix(sfx, start, seq);
        brook_buf_append(s->sbuf, sfx, sizeof sfx);
        unindexed = brook__statebatch_unindexed(s->batch);
        brook__statebatch_set_unindexed(s->batch, true);
        err = s->ops->put(s->base, brook_buf_data(s->sbuf),
                          brook_buf_len(s->sbuf), value, value_size,
                          s->spill_why, sizeof s->spill_why);
        brook__statebatch_set_unindexed(s->batch, unindexed);
        if (err)
                s->spill_err = err;
}

static brook_err_t seg_spill_failed(segstore_t *s, char *errstr,
                                    size_t errstr_size)
{
        if (!s->spill_err)
                return BROOK_OK;
        brook__seterr(errstr, errstr_size,
                      "writing a join buffer's entry to the store below: %s",
                      s->spill_why);
        return s->spill_err;
}

/* A query (another thread) of a store whose recent entries may be held in
 * its owner's memory: refused, since the store below lacks them. */
static brook_err_t seg_query_held(segstore_t *s, char *errstr,
                                  size_t errstr_size)
{
        if (!atomic_load(&s->holding))
                return BROOK_OK;
        brook__seterr(errstr, errstr_size,
                      "a stream-stream join's buffer keeps its recent "
                      "entries in its stream thread's memory, so it cannot "
                      "be queried while the app runs");
        return BROOK_ERR_STATE;
}

/* Before a read of the store below by its owner: what the mirror holds
 * only in memory goes there first. */
static void seg_unhold(segstore_t *s)
{
        if (atomic_load(&s->holding) && s->mirror)
                brook__wmirror_sync(s->mirror);
}

/* seg_unhold(), and whether a spill failed. */
static brook_err_t seg_sync(segstore_t *s, char *errstr, size_t errstr_size)
{
        seg_unhold(s);
        return seg_spill_failed(s, errstr, errstr_size);
}

static void seg_mirror_apply(void *self)
{
        (void)self;
}

/* The batch's writes are gone: the store below is what was committed. */
static void seg_mirror_discard(void *self)
{
        segstore_t *s = self;
        brook__wmirror_reset(s->mirror);
}

static void seg_mirror_detach(void *self)
{
        segstore_t *s = self;
        atomic_store(&s->holding, false);
        s->batch = NULL;
        brook__wmirror_free(s->mirror);
        s->mirror = NULL;
}

void brook__segmented_mirror(void *self, brook__wmbudget_t *budget,
                             brook__statebatch_t *batch, bool holding)
{
        segstore_t *s = self;

        if (s->mirror || s->kind != BROOK__STORE_WINDOW)
                return;
        s->mirror = brook__wmirror_new(budget);
        s->batch = batch;
        atomic_store(&s->holding, holding);
        if (holding)
                brook__wmirror_set_spill(s->mirror, seg_spill, s);
        brook__statebatch_join(batch, seg_mirror_apply, seg_mirror_discard,
                               seg_mirror_detach, s);
}

void brook__segmented_unmirror(void *self)
{
        segstore_t *s = self;

        if (s->mirror)
                brook__statebatch_detach(s->batch, s);
}

/* ------------------------------------------------------------ iterator */

typedef struct segiter {
        brook_kvbytes_iter_t it; /* First: the handle is this struct. */
        segstore_t *s;
        brook__segfetch_t f;
        unsigned char *kfrom, *kto; /* Copies of the bounds. */
        int64_t *segs;              /* To visit, in visiting order. */
        size_t seg_cnt, seg_i;
        int64_t seg; /* The one being read. */
        brook_kvbytes_iter_t *cur;
        brook_buf_t *lo, *hi;
} segiter_t;

/* A forward iterator read to the end, handed out last first: backward
 * reads of a store without range_reverse. */
static brook_err_t rev_drain(brook_kvbytes_iter_t *fwd,
                             brook_kvbytes_iter_t **itp, char *errstr,
                             size_t errstr_size)
{
        brook__kvsnap_t *snap = brook__kvsnap_new();
        const void *k, *v;
        size_t ksz, vsz;
        brook_err_t err;

        while (!(err = fwd->next(fwd, &k, &ksz, &v, &vsz, errstr, errstr_size)))
                brook__kvsnap_add(snap, k, ksz, v, vsz);
        fwd->destroy(fwd);
        if (err != BROOK_ERR_END) {
                brook__kvsnap_free(snap);
                return err;
        }
        *itp = brook__kvsnap_iter(snap, true);
        return BROOK_OK;
}

/* Opens the inner range over segment @p seg for the fetch. */
static brook_err_t segiter_open(segiter_t *si, int64_t seg, char *errstr,
                                size_t errstr_size)
{
        segstore_t *s = si->s;
        const brook__segfetch_t *f = &si->f;
        size_t sfx = brook__segkey_suffix(s->kind);
        unsigned char b[16];
        bool single = f->kfrom && f->kto && f->kfrom_size == f->kto_size &&
                      !memcmp(f->kfrom, f->kto, f->kfrom_size);
        brook_kvbytes_iter_t *it = NULL;
        brook_err_t err;

        /* Lower bound: the key (and, for one key, the earliest time). */
        seg_prefixed(si->lo, seg, f->kfrom, f->kfrom ? f->kfrom_size : 0);
        if (single) {
                memset(b, 0, sizeof b);
                be64_put(b, (uint64_t)(f->tfrom < 0 ? 0 : f->tfrom));
                brook_buf_append(si->lo, b, sfx);
        }
        /* Upper bound (inclusive): for one key its latest time; else the
         * next segment's id, which no key of this one reaches (keys are
         * longer than the id). A key range is filtered below. */
        if (single) {
                seg_prefixed(si->hi, seg, f->kto, f->kto_size);
                memset(b, 0xff, sizeof b);
                if (s->kind == BROOK__STORE_WINDOW)
                        be64_put(b, (uint64_t)f->tto);
                brook_buf_append(si->hi, b, sfx);
        } else {
                seg_prefixed(si->hi, seg + 1, NULL, 0);
        }
        if (f->reverse) {
                brook_err_t (*rr)(void *, const void *, size_t, const void *,
                                  size_t, brook_kvbytes_iter_t **, char *,
                                  size_t) = NULL;
                if (s->ops->version >= 2)
                        rr = f->query ? s->ops->query_range_reverse
                                      : s->ops->range_reverse;
                if (rr) {
                        err = rr(s->base, brook_buf_data(si->lo),
                                 brook_buf_len(si->lo), brook_buf_data(si->hi),
                                 brook_buf_len(si->hi), &it, errstr,
                                 errstr_size);
                        goto out;
                }
        }
        if (f->query && !s->ops->query_range) {
                brook__seterr(errstr, errstr_size,
                              "its store (%s) cannot be queried while the "
                              "app runs (it has no query_range)",
                              s->ops->kind ? s->ops->kind : "?");
                return BROOK_ERR_STATE;
        }
        err = (f->query ? s->ops->query_range : s->ops->range)(
                s->base, brook_buf_data(si->lo), brook_buf_len(si->lo),
                brook_buf_data(si->hi), brook_buf_len(si->hi), &it, errstr,
                errstr_size);
        if (!err && f->reverse)
                err = rev_drain(it, &it, errstr, errstr_size);
out:
        if (err)
                return err;
        si->cur = it;
        si->seg = seg;
        return BROOK_OK;
}

/* Whether entry @p k (the kind's key, no prefix) is one the fetch wants. */
static bool segiter_match(const segiter_t *si, const unsigned char *k,
                          size_t ksz)
{
        const brook__segfetch_t *f = &si->f;
        size_t n;
        int64_t start, end;
        int c;

        if (!brook__segkey_decode(si->s->kind, k, ksz, &n, &start, &end))
                return false;
        if (si->kfrom) {
                c = memcmp(k, si->kfrom, n < f->kfrom_size ? n : f->kfrom_size);
                if (c < 0 || (c == 0 && n < f->kfrom_size))
                        return false;
        }
        if (si->kto) {
                c = memcmp(k, si->kto, n < f->kto_size ? n : f->kto_size);
                if (c > 0 || (c == 0 && n > f->kto_size))
                        return false;
        }
        return brook__segkey_in_time(si->s->kind, start, end, f->tfrom, f->tto);
}

static brook_err_t segiter_next(brook_kvbytes_iter_t *base, const void **key,
                                size_t *key_size, const void **value,
                                size_t *value_size, char *errstr,
                                size_t errstr_size)
{
        segiter_t *si = (segiter_t *)base;
        const void *k, *v;
        size_t ksz, vsz;
        brook_err_t err;

        for (;;) {
                if (!si->cur) {
                        if (si->seg_i == si->seg_cnt)
                                return BROOK_ERR_END;
                        if ((err = segiter_open(si, si->segs[si->seg_i++],
                                                errstr, errstr_size)))
                                return err;
                }
                err = si->cur->next(si->cur, &k, &ksz, &v, &vsz, errstr,
                                    errstr_size);
                if (err == BROOK_ERR_END) {
                        si->cur->destroy(si->cur);
                        si->cur = NULL;
                        continue;
                }
                if (err)
                        return err;
                if (ksz < SEG_PREFIX ||
                    (int64_t)be64_get(k) != si->seg) /* the upper bound */
                        continue;
                if (!segiter_match(si, (const unsigned char *)k + SEG_PREFIX,
                                   ksz - SEG_PREFIX))
                        continue;
                *key = (const unsigned char *)k + SEG_PREFIX;
                *key_size = ksz - SEG_PREFIX;
                *value = v;
                *value_size = vsz;
                return BROOK_OK;
        }
}

static void segiter_destroy(brook_kvbytes_iter_t *base)
{
        segiter_t *si = (segiter_t *)base;
        if (!si)
                return;
        if (si->cur)
                si->cur->destroy(si->cur);
        free(si->kfrom);
        free(si->kto);
        free(si->segs);
        brook_buf_destroy(si->lo);
        brook_buf_destroy(si->hi);
        free(si);
}

static unsigned char *seg_dup(const void *p, size_t n)
{
        unsigned char *c;
        if (!p)
                return NULL;
        c = brook__xmalloc(n ? n : 1);
        memcpy(c, p, n);
        return c;
}

brook_err_t brook__segmented_fetch(void *self, const brook__segfetch_t *f,
                                   brook_kvbytes_iter_t **itp, char *errstr,
                                   size_t errstr_size)
{
        segstore_t *s = self;
        segiter_t *si;
        int64_t observed = atomic_load(&s->observed);
        int64_t tfrom = f->tfrom, lo_seg, hi_seg;
        brook_err_t err;
        size_t i;

        /* Kafka Streams' getActualFrom(): nothing older than retention;
         * its time-ordered window stores keep one millisecond more, and
         * its time-ordered session stores' findSessions by end times reads
         * whatever the live segments hold. */
        if (observed >= 0 &&
            !(f->time_ordered && s->kind == BROOK__STORE_SESSION)) {
                int64_t min =
                        observed - s->retention + (f->time_ordered ? 0 : 1);
                if (tfrom < min)
                        tfrom = min;
        }
        if (f->query && (err = seg_query_held(s, errstr, errstr_size)))
                return err;
        /* Not s->mirror first: a query's thread must not read it. */
        if (!f->query && s->mirror && f->kfrom && f->kto &&
            f->kfrom_size == f->kto_size &&
            !memcmp(f->kfrom, f->kto, f->kfrom_size)) {
                err = BROOK_OK;
                if (!brook__wmirror_loaded(s->mirror))
                        err = seg_mirror_load(s, observed, errstr, errstr_size);
                if (err)
                        return err;
                if (tfrom >= brook__wmirror_floor(s->mirror)) {
                        *itp = brook__wmirror_fetch(s->mirror, f->kfrom,
                                                    f->kfrom_size, tfrom,
                                                    f->tto, f->reverse);
                        return BROOK_OK;
                }
                brook__wmirror_fallback(s->mirror);
        }
        if (!f->query && (err = seg_sync(s, errstr, errstr_size)))
                return err;
        si = brook__xcalloc(1, sizeof *si);
        lo_seg = seg_id(s, tfrom);
        /* A session ending in a later segment may still have started by
         * tto: sessions search every segment from the first. */
        hi_seg =
                s->kind == BROOK__STORE_SESSION ? INT64_MAX : seg_id(s, f->tto);
        si->it.next = segiter_next;
        si->it.destroy = segiter_destroy;
        si->s = s;
        si->f = *f;
        si->f.tfrom = tfrom;
        si->kfrom = seg_dup(f->kfrom, f->kfrom_size);
        si->kto = seg_dup(f->kto, f->kto_size);
        si->f.kfrom = si->kfrom;
        si->f.kto = si->kto;
        si->lo = brook_buf_new();
        si->hi = brook_buf_new();
        /* An empty time range reads nothing (for sessions, an end before
         * the latest start is a range like any other). */
        if (f->tto >= 0 &&
            (s->kind == BROOK__STORE_SESSION || f->tto >= f->tfrom)) {
                pthread_mutex_lock(&s->lock);
                si->segs = brook__xmalloc((s->seg_cnt ? s->seg_cnt : 1) *
                                          sizeof *si->segs);
                for (i = 0; i < s->seg_cnt; i++)
                        if (s->segs[i] >= lo_seg && s->segs[i] <= hi_seg)
                                si->segs[si->seg_cnt++] = s->segs[i];
                pthread_mutex_unlock(&s->lock);
        }
        if (f->reverse)
                for (i = 0; i < si->seg_cnt / 2; i++) {
                        int64_t t = si->segs[i];
                        si->segs[i] = si->segs[si->seg_cnt - 1 - i];
                        si->segs[si->seg_cnt - 1 - i] = t;
                }
        *itp = &si->it;
        return BROOK_OK;
}

/* ------------------------------------------------------------ bytes ops */

static brook_err_t seg_get_with(segstore_t *s, bool query, brook_buf_t *kbuf,
                                const void *key, size_t key_size,
                                brook_buf_t *out, char *errstr,
                                size_t errstr_size)
{
        int64_t ts, observed = atomic_load(&s->observed);
        brook_err_t err;
        if (!seg_key_time(s, key, key_size, &ts))
                return seg_bad_key(errstr, errstr_size, s, key_size);
        /* Kafka Streams' get(): a record older than retention is gone,
         * even while its segment lives on. */
        if (observed >= 0 && ts < observed - s->retention + 1)
                return BROOK_ERR_NOT_FOUND;
        if (query && !s->ops->query_get) {
                brook__seterr(errstr, errstr_size,
                              "its store (%s) cannot be queried while the "
                              "app runs (it has no query_get)",
                              s->ops->kind ? s->ops->kind : "?");
                return BROOK_ERR_STATE;
        }
        err = query ? seg_query_held(s, errstr, errstr_size)
                    : seg_sync(s, errstr, errstr_size);
        if (err)
                return err;
        seg_prefixed(kbuf, seg_id(s, ts), key, key_size);
        return (query ? s->ops->query_get : s->ops->get)(
                s->base, brook_buf_data(kbuf), brook_buf_len(kbuf), out, errstr,
                errstr_size);
}

static brook_err_t seg_get(void *self, const void *key, size_t key_size,
                           brook_buf_t *out, char *errstr, size_t errstr_size)
{
        segstore_t *s = self;
        return seg_get_with(s, false, s->kbuf, key, key_size, out, errstr,
                            errstr_size);
}

static brook_err_t seg_query_get(void *self, const void *key, size_t key_size,
                                 brook_buf_t *out, char *errstr,
                                 size_t errstr_size)
{
        segstore_t *s = self;
        brook_err_t err;
        pthread_mutex_lock(&s->qlock);
        err = seg_get_with(s, true, s->qbuf, key, key_size, out, errstr,
                           errstr_size);
        pthread_mutex_unlock(&s->qlock);
        return err;
}

/* A window older than @p observed - retention in a segment still live:
 * seg_put() does not write it (every read stops at that bound). */
static bool seg_window_past(const segstore_t *s, int64_t ts, int64_t observed)
{
        return s->kind == BROOK__STORE_WINDOW && observed >= 0 &&
               ts < observed - s->retention;
}

static brook_err_t seg_put(void *self, const void *key, size_t key_size,
                           const void *value, size_t value_size, char *errstr,
                           size_t errstr_size)
{
        segstore_t *s = self;
        int64_t ts, seg, min_live, observed = atomic_load(&s->observed);
        brook_err_t err;

        if (!seg_key_time(s, key, key_size, &ts))
                return seg_bad_key(errstr, errstr_size, s, key_size);
        if (ts > observed)
                atomic_store(&s->observed, observed = ts);
        seg = seg_id(s, ts);
        min_live = seg_min_live(s, observed);
        if (seg < min_live) {
                /* Kafka Streams: "Skipping record for expired segment".
                 * A cached write was live when cached: not counted. */
                if (!s->cached)
                        s->expired++;
        } else if (seg_window_past(s, ts, observed)) {
                /* Past retention, in a segment still live (a cache
                 * writing a window down after it closed): every read
                 * stops at observed - retention, so nothing would ever
                 * return it. Not written (Kafka Streams writes it); its
                 * changelog record went out all the same. */
        } else if (value && s->mirror &&
                   brook__wmirror_holds(s->mirror, key, key_size)) {
                /* Held in memory; its changelog record went out. */
                brook__wmirror_put_held(s->mirror, key, key_size, value,
                                        value_size);
        } else {
                bool unindexed = false;
                if (value)
                        seg_add(s, seg);
                seg_prefixed(s->kbuf, seg, key, key_size);
                if (s->mirror) {
                        unindexed = brook__statebatch_unindexed(s->batch);
                        brook__statebatch_set_unindexed(s->batch, true);
                }
                err = s->ops->put(s->base, brook_buf_data(s->kbuf),
                                  brook_buf_len(s->kbuf), value, value_size,
                                  errstr, errstr_size);
                if (s->mirror)
                        brook__statebatch_set_unindexed(s->batch, unindexed);
                if (err)
                        return err;
                if (s->mirror)
                        brook__wmirror_put(s->mirror, key, key_size, value,
                                           value_size);
        }
        /* What no read returns any more (seg_get()'s bound). */
        if (s->mirror)
                brook__wmirror_expire(s->mirror, observed - s->retention + 1);
        if ((err = seg_spill_failed(s, errstr, errstr_size)))
                return err;
        return seg_drop_below(s, min_live, errstr, errstr_size);
}

static brook_err_t seg_range_with(segstore_t *s, bool query, const void *from,
                                  size_t from_size, const void *to,
                                  size_t to_size, brook_kvbytes_iter_t **itp,
                                  char *errstr, size_t errstr_size)
{
        /* Every live entry whose key part lies in [from, to] (keys with
         * their window), segment by segment. */
        brook__segfetch_t f = {
                .tfrom = 0,
                .tto = INT64_MAX,
                .query = query,
        };
        size_t n;
        int64_t a, b;
        if (from &&
            brook__segkey_decode(s->kind, from, from_size, &n, &a, &b)) {
                f.kfrom = from;
                f.kfrom_size = n;
        }
        if (to && brook__segkey_decode(s->kind, to, to_size, &n, &a, &b)) {
                f.kto = to;
                f.kto_size = n;
        }
        return brook__segmented_fetch(s, &f, itp, errstr, errstr_size);
}

static brook_err_t seg_range(void *self, const void *from, size_t from_size,
                             const void *to, size_t to_size,
                             brook_kvbytes_iter_t **itp, char *errstr,
                             size_t errstr_size)
{
        return seg_range_with(self, false, from, from_size, to, to_size, itp,
                              errstr, errstr_size);
}

static brook_err_t seg_query_range(void *self, const void *from,
                                   size_t from_size, const void *to,
                                   size_t to_size, brook_kvbytes_iter_t **itp,
                                   char *errstr, size_t errstr_size)
{
        return seg_range_with(self, true, from, from_size, to, to_size, itp,
                              errstr, errstr_size);
}

static uint64_t seg_approximate_count(void *self)
{
        segstore_t *s = self;
        return s->ops->approximate_count(s->base);
}

static uint64_t seg_approximate_bytes(void *self)
{
        segstore_t *s = self;
        if (s->ops->version < 2 || !s->ops->approximate_bytes)
                return 0;
        return s->ops->approximate_bytes(s->base);
}

static brook_err_t seg_flush(void *self, int64_t changelog_offset, char *errstr,
                             size_t errstr_size)
{
        segstore_t *s = self;
        int64_t observed = atomic_load(&s->observed);
        brook_err_t err;

        if ((err = seg_spill_failed(s, errstr, errstr_size)))
                return err;
        /* Held entries replay from the changelog: the offset before the
         * oldest of them. */
        if (s->mirror && atomic_load(&s->holding))
                changelog_offset = brook__wmirror_flushed(
                        s->mirror, changelog_offset, brook__now_mono_ms());
        if (s->ops->persistent && observed >= 0) {
                unsigned char v[8];
                be64_put(v, (uint64_t)observed);
                if ((err = s->ops->put(s->base, seg_meta_key,
                                       sizeof seg_meta_key, v, sizeof v, errstr,
                                       errstr_size)))
                        return err;
        }
        return s->ops->flush(s->base, changelog_offset, errstr, errstr_size);
}

static int64_t seg_stored_offset(void *self)
{
        segstore_t *s = self;
        return s->ops->stored_offset ? s->ops->stored_offset(s->base) : -1;
}

static brook_err_t seg_clear(void *self, char *errstr, size_t errstr_size)
{
        segstore_t *s = self;
        brook_err_t err;
        if (s->ops->clear &&
            (err = s->ops->clear(s->base, errstr, errstr_size)))
                return err;
        pthread_mutex_lock(&s->lock);
        s->seg_cnt = 0;
        pthread_mutex_unlock(&s->lock);
        atomic_store(&s->observed, -1);
        s->dropped_below = 0;
        if (s->mirror)
                brook__wmirror_reset(s->mirror);
        return BROOK_OK;
}

static void seg_close(void *self)
{
        segstore_t *s = self;
        if (!s)
                return;
        /* Opened outside the runtime's store stack (a test), and never
         * unmirrored: the closer is the owner. */
        brook__segmented_unmirror(s);
        s->ops->close(s->base);
        pthread_mutex_destroy(&s->lock);
        pthread_mutex_destroy(&s->qlock);
        brook_buf_destroy(s->kbuf);
        brook_buf_destroy(s->qbuf);
        brook_buf_destroy(s->sbuf);
        free(s->segs);
        free(s);
}

#define SEG_OPS(persist)                                                       \
        {                                                                      \
                .kind = "segmented", .persistent = persist, .get = seg_get,    \
                .put = seg_put, .range = seg_range,                            \
                .approximate_count = seg_approximate_count,                    \
                .flush = seg_flush, .stored_offset = seg_stored_offset,        \
                .clear = seg_clear, .query_get = seg_query_get,                \
                .query_range = seg_query_range, .close = seg_close,            \
                .version = BROOK_KVSTORE_OPS_VERSION,                          \
                .approximate_bytes = seg_approximate_bytes,                    \
        }
static const brook_kvstore_ops_t seg_ops_persistent = SEG_OPS(true);
static const brook_kvstore_ops_t seg_ops_volatile = SEG_OPS(false);

/* What the store holds when it opens: its segments and, for a persistent
 * one, the observed stream time its last flush kept. */
static brook_err_t seg_load(segstore_t *s, char *errstr, size_t errstr_size)
{
        brook_buf_t *v = brook_buf_new();
        int64_t seg = 0, next;
        brook_err_t err;

        err = s->ops->get(s->base, seg_meta_key, sizeof seg_meta_key, v, errstr,
                          errstr_size);
        if (!err && brook_buf_len(v) == 8)
                atomic_store(&s->observed,
                             (int64_t)be64_get(brook_buf_data(v)));
        brook_buf_destroy(v);
        if (err && err != BROOK_ERR_NOT_FOUND)
                return err;
        for (;;) {
                if ((err = seg_probe(s, seg, &next, errstr, errstr_size)))
                        return err;
                if (next < 0)
                        break;
                seg_add(s, next);
                seg = next + 1;
        }
        /* Segments a crash kept past their expiry go with the next drop. */
        s->dropped_below = s->seg_cnt ? s->segs[0] : 0;
        return BROOK_OK;
}

brook_err_t brook__segmented_wrap(brook__storedef_t *def, void **innerp,
                                  const brook_kvstore_ops_t **opsp,
                                  char *errstr, size_t errstr_size)
{
        segstore_t *s = brook__xcalloc(1, sizeof *s);
        brook_err_t err;

        s->base = *innerp;
        s->ops = *opsp;
        s->kind = def->kind;
        s->retention = def->retention_ms;
        s->interval = def->segment_ms > 0 ? def->segment_ms : 1;
        atomic_init(&s->observed, -1);
        atomic_init(&s->holding, false);
        pthread_mutex_init(&s->lock, NULL);
        pthread_mutex_init(&s->qlock, NULL);
        s->kbuf = brook_buf_new();
        s->qbuf = brook_buf_new();
        s->sbuf = brook_buf_new();
        if ((err = seg_load(s, errstr, errstr_size))) {
                /* The caller closes the inner store. */
                pthread_mutex_destroy(&s->lock);
                pthread_mutex_destroy(&s->qlock);
                brook_buf_destroy(s->kbuf);
                brook_buf_destroy(s->qbuf);
                brook_buf_destroy(s->sbuf);
                free(s->segs);
                free(s);
                return err;
        }
        *innerp = s;
        *opsp = s->ops->persistent ? &seg_ops_persistent : &seg_ops_volatile;
        return BROOK_OK;
}

uint64_t brook__segmented_expired(void *self)
{
        return ((segstore_t *)self)->expired;
}

int64_t brook__segmented_observed(void *self)
{
        return atomic_load(&((segstore_t *)self)->observed);
}

void brook__segmented_set_cached(void *self)
{
        ((segstore_t *)self)->cached = true;
}

bool brook__segmented_ops(const brook_kvstore_ops_t *ops)
{
        return ops->get == seg_get;
}

bool brook__segmented_present(void *self, const void *key, size_t key_size)
{
        segstore_t *s = self;
        brook_buf_t *probe;
        char why[256];
        int64_t ts;
        bool present;

        if (!seg_key_time(s, key, key_size, &ts))
                return false;
        /* The owner's read: what is held in memory goes below first. */
        seg_unhold(s);
        /* Its own buffers: this may run in the middle of a read that
         * holds the store's. */
        probe = brook_buf_new();
        seg_prefixed(probe, seg_id(s, ts), key, key_size);
        present = s->ops->get(s->base, brook_buf_data(probe),
                              brook_buf_len(probe), probe, why,
                              sizeof why) == BROOK_OK;
        brook_buf_destroy(probe);
        return present;
}

bool brook__segmented_kept(void *self, const void *key, size_t key_size)
{
        segstore_t *s = self;
        int64_t ts, observed = atomic_load(&s->observed);

        if (!seg_key_time(s, key, key_size, &ts))
                return false;
        /* The conditions seg_put() writes under; a segment is dropped
         * only once it is below the first live one. */
        return seg_id(s, ts) >= seg_min_live(s, observed) &&
               !seg_window_past(s, ts, observed);
}

bool brook__segmented_observe(void *self, int64_t ts)
{
        segstore_t *s = self;
        int64_t observed = atomic_load(&s->observed);
        if (ts > observed)
                atomic_store(&s->observed, observed = ts);
        if (seg_id(s, ts) >= seg_min_live(s, observed))
                return true;
        s->expired++;
        return false;
}
