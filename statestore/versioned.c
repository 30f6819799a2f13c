/*
 * brook — the versioned store under versioned key-value stores (Kafka
 * Streams' RocksDBVersionedStore with its LogicalKeyValueSegments and
 * RocksDBVersionedStoreSegmentValueFormatter, KIP-889).
 *
 * It wraps any inner bytes store (RocksDB's, the in-memory one, a user's)
 * and is itself an inner bytes store, so the generic layers (logging,
 * restoration, flush, queries) treat it as they treat the others. Below,
 * each key has up to three kinds of entries:
 *
 *   'L' key                      its latest version, if a value:
 *                                [timestamp, 8 bytes BE][value]
 *   'S' [segment, 8 bytes BE] key  a segment row: its older versions whose
 *                                validity ends (validTo) in that segment
 *   'M' "observed"               the store's stream time at the last flush
 *
 * A segment row is Kafka Streams' segment value: the validTo of its latest
 * version and the validFrom of its earliest (8 bytes BE each), then each
 * version's validFrom and value size (8 and 4 bytes BE, newest first; a
 * size of -1 is a tombstone), then the values, oldest first. A tombstone
 * that deletes nothing leaves a "degenerate" row whose two timestamps are
 * its own.
 *
 * The algorithm is Kafka Streams', step for step (put: the latest value
 * first, then the segments newest first, then where the search ended;
 * get: the latest value, then the segments from the newest down to the
 * one of the time asked for), so answers are the same, including where
 * they depend on history already dropped. Stream time is the largest
 * timestamp put. A put older than stream time - history retention is
 * refused; segments older than that are dropped whole (one delete_range)
 * as stream time passes them. Unlike Kafka Streams' store, this one keeps
 * its stream time with its data (flushed with the changelog offset), so a
 * restart answers as before it.
 *
 * Restoration replays each changelog record as the put it logged. A
 * restore batch's writes to the bytes store are not visible to its reads
 * until the batch is written (RocksDB's bulk mode), and a put reads what
 * the puts before it wrote: the batch's writes stay in an overlay here
 * (Kafka Streams' RocksDBVersionedStoreRestoreWriteBuffer) until flush().
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define K_LATEST  'L'
#define K_SEGMENT 'S'
#define SEG_KEY   9 /* 'S' and the segment id */
/* Kafka Streams' SENTINEL_TIMESTAMP: no version found yet. */
#define SENTINEL INT64_MIN

static const unsigned char meta_key[] = {'M', 'o', 'b', 's', 'e',
                                         'r', 'v', 'e', 'd'};

/* One version in a decoded segment row. */
typedef struct vver {
        int64_t ts;   /* validFrom */
        int32_t size; /* -1: a tombstone */
        size_t off;   /* of the value's bytes in the row's vals */
} vver_t;

/* A segment row, decoded: versions newest first. */
typedef struct vrow {
        int64_t next, min;
        vver_t *v;
        size_t cnt, cap;
        brook_buf_t *vals;
} vrow_t;

/* What Kafka Streams' SegmentValue.find() returns. */
typedef struct vfound {
        size_t idx;
        int64_t valid_from, valid_to;
        const void *value; /* NULL: a tombstone */
        size_t size;
} vfound_t;

/* The overlay of a restore batch: key -> value, or deleted. */
typedef struct ovent {
        struct ovent *next;
        uint64_t hash;
        unsigned char *value; /* NULL: deleted */
        size_t value_size, key_size;
        unsigned char key[];
} ovent_t;

typedef struct vstore {
        void *base;
        const brook_kvstore_ops_t *ops;
        int64_t retention, interval;
        /** Largest timestamp put, or -1. Written by the owner, read by
         *  queries. */
        _Atomic int64_t observed;
        /** Segments below this one were dropped (owner only). */
        int64_t dropped_below;
        /** The segments that hold data, ascending; the owner adds and
         *  drops them, queries copy them, under the lock. */
        pthread_mutex_t lock;
        int64_t *segs;
        size_t seg_cnt, seg_cap;
        /** The owner's scratch. */
        brook_buf_t *kbuf, *k2buf, *lbuf, *rbuf;
        vrow_t row, row2;
        /** Restoring: writes go to the overlay until flush(). */
        bool restoring;
        ovent_t **ov;
        size_t ov_cap, ov_cnt;
} vstore_t;

/* ------------------------------------------------------------- helpers */

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

static void be32_put(unsigned char *p, uint32_t v)
{
        p[0] = (unsigned char)(v >> 24);
        p[1] = (unsigned char)(v >> 16);
        p[2] = (unsigned char)(v >> 8);
        p[3] = (unsigned char)v;
}

static uint32_t be32_get(const unsigned char *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
               (uint32_t)p[2] << 8 | p[3];
}

/* Kafka Streams' segmentId(): Java's division, which truncates. */
static int64_t seg_id(const vstore_t *s, int64_t ts)
{
        return ts / s->interval;
}

/* The first segment live at stream time @p observed. observed >= -1 and
 * retention >= 0, so the difference cannot overflow. */
static int64_t seg_min_live(const vstore_t *s, int64_t observed)
{
        return seg_id(s, observed - s->retention);
}

static void latest_key(brook_buf_t *out, const void *key, size_t key_size)
{
        unsigned char p = K_LATEST;
        brook_buf_clear(out);
        brook_buf_append(out, &p, 1);
        if (key_size)
                brook_buf_append(out, key, key_size);
}

static void seg_key(brook_buf_t *out, int64_t seg, const void *key,
                    size_t key_size)
{
        unsigned char p[SEG_KEY];
        p[0] = K_SEGMENT;
        be64_put(p + 1, (uint64_t)seg);
        brook_buf_clear(out);
        brook_buf_append(out, p, sizeof p);
        if (key_size)
                brook_buf_append(out, key, key_size);
}

/* ------------------------------------------------------------ overlay */

static uint64_t ov_hash(const void *key, size_t size)
{
        const unsigned char *p = key;
        uint64_t h = 14695981039346656037ull; /* FNV-1a */
        size_t i;
        for (i = 0; i < size; i++)
                h = (h ^ p[i]) * 1099511628211ull;
        return h;
}

static ovent_t *ov_find(vstore_t *s, const void *key, size_t size)
{
        uint64_t h;
        ovent_t *e;
        if (!s->ov_cap)
                return NULL;
        h = ov_hash(key, size);
        for (e = s->ov[h & (s->ov_cap - 1)]; e; e = e->next)
                if (e->hash == h && e->key_size == size &&
                    !memcmp(e->key, key, size))
                        return e;
        return NULL;
}

static void ov_grow(vstore_t *s)
{
        size_t cap = s->ov_cap ? 2 * s->ov_cap : 256, i;
        ovent_t **slots = brook__xcalloc(cap, sizeof *slots);
        for (i = 0; i < s->ov_cap; i++) {
                ovent_t *e = s->ov[i], *next;
                for (; e; e = next) {
                        next = e->next;
                        e->next = slots[e->hash & (cap - 1)];
                        slots[e->hash & (cap - 1)] = e;
                }
        }
        free(s->ov);
        s->ov = slots;
        s->ov_cap = cap;
}

static void ov_set(vstore_t *s, const void *key, size_t size, const void *value,
                   size_t value_size)
{
        ovent_t *e = ov_find(s, key, size);
        if (!e) {
                if (s->ov_cnt >= s->ov_cap / 2)
                        ov_grow(s);
                e = brook__xcalloc(1, sizeof *e + size);
                e->hash = ov_hash(key, size);
                e->key_size = size;
                memcpy(e->key, key, size);
                e->next = s->ov[e->hash & (s->ov_cap - 1)];
                s->ov[e->hash & (s->ov_cap - 1)] = e;
                s->ov_cnt++;
        }
        free(e->value);
        e->value = NULL;
        e->value_size = 0;
        if (value) {
                e->value = brook__xmalloc(value_size ? value_size : 1);
                memcpy(e->value, value, value_size);
                e->value_size = value_size;
        }
}

static void ov_clear(vstore_t *s)
{
        size_t i;
        for (i = 0; i < s->ov_cap; i++) {
                ovent_t *e = s->ov[i], *next;
                for (; e; e = next) {
                        next = e->next;
                        free(e->value);
                        free(e);
                }
        }
        free(s->ov);
        s->ov = NULL;
        s->ov_cap = s->ov_cnt = 0;
}

/* Writes the overlay below, but for rows of segments dropped meanwhile,
 * and empties it. */
static brook_err_t ov_write(vstore_t *s, char *errstr, size_t errstr_size)
{
        brook_err_t err = BROOK_OK;
        size_t i;
        for (i = 0; !err && i < s->ov_cap; i++) {
                ovent_t *e;
                for (e = s->ov[i]; !err && e; e = e->next) {
                        if (e->key[0] == K_SEGMENT && e->key_size >= SEG_KEY &&
                            (int64_t)be64_get(e->key + 1) < s->dropped_below)
                                continue;
                        err = s->ops->put(s->base, e->key, e->key_size,
                                          e->value, e->value_size, errstr,
                                          errstr_size);
                }
        }
        ov_clear(s);
        return err;
}

/* --------------------------------------------------- owner reads, writes */

/* Reads @p key (a full key below) into @p out: the overlay first while
 * restoring. */
static brook_err_t vs_read(vstore_t *s, const brook_buf_t *key,
                           brook_buf_t *out, char *errstr, size_t errstr_size)
{
        if (s->restoring) {
                ovent_t *e =
                        ov_find(s, brook_buf_data(key), brook_buf_len(key));
                if (e) {
                        if (!e->value)
                                return BROOK_ERR_NOT_FOUND;
                        brook_buf_clear(out);
                        brook_buf_append(out, e->value, e->value_size);
                        return BROOK_OK;
                }
        }
        return s->ops->get(s->base, brook_buf_data(key), brook_buf_len(key),
                           out, errstr, errstr_size);
}

static brook_err_t vs_write(vstore_t *s, const brook_buf_t *key,
                            const void *value, size_t value_size, char *errstr,
                            size_t errstr_size)
{
        /* An empty value is not a delete below: a non-NULL pointer. */
        static const unsigned char none[1];
        if (value && !value_size)
                value = none;
        if (s->restoring) {
                ov_set(s, brook_buf_data(key), brook_buf_len(key), value,
                       value_size);
                return BROOK_OK;
        }
        return s->ops->put(s->base, brook_buf_data(key), brook_buf_len(key),
                           value, value_size, errstr, errstr_size);
}

/* ------------------------------------------------------------ segments */

static void seg_add(vstore_t *s, int64_t seg)
{
        brook__segs_add(&s->segs, &s->seg_cnt, &s->seg_cap, &s->lock, seg);
}

/* Kafka Streams' cleanupExpiredSegments(): drops the segments below the
 * first one live at @p observed, as one range (which also covers rows
 * written to them and not yet committed). */
static brook_err_t seg_cleanup(vstore_t *s, int64_t observed, char *errstr,
                               size_t errstr_size)
{
        int64_t min_live = seg_min_live(s, observed);
        unsigned char from[SEG_KEY], to[SEG_KEY];
        brook_err_t err;

        if (min_live <= s->dropped_below)
                return BROOK_OK;
        from[0] = to[0] = K_SEGMENT;
        be64_put(from + 1, (uint64_t)s->dropped_below);
        be64_put(to + 1, (uint64_t)min_live);
        if ((err = brook__bytes_delete_below(s->base, s->ops, from, sizeof from,
                                             to, sizeof to, errstr,
                                             errstr_size)))
                return err;
        s->dropped_below = min_live;
        brook__segs_drop_below(s->segs, &s->seg_cnt, &s->lock, min_live);
        return BROOK_OK;
}

/* Kafka Streams' getOrCreateSegmentIfLive(): whether segment @p seg is
 * live at @p observed (then it exists from now on, and the expired ones
 * go). */
static brook_err_t seg_live(vstore_t *s, int64_t seg, int64_t observed,
                            bool *livep, char *errstr, size_t errstr_size)
{
        *livep = seg >= seg_min_live(s, observed);
        if (!*livep)
                return BROOK_OK;
        seg_add(s, seg);
        return seg_cleanup(s, observed, errstr, errstr_size);
}

/* The segments from @p from_seg on, newest first, into *@p idsp (free
 * it); their number. */
static size_t seg_list_desc(vstore_t *s, int64_t from_seg, int64_t **idsp)
{
        int64_t *ids;
        size_t n = 0, i;
        pthread_mutex_lock(&s->lock);
        ids = brook__xmalloc((s->seg_cnt ? s->seg_cnt : 1) * sizeof *ids);
        for (i = s->seg_cnt; i-- > 0;)
                if (s->segs[i] >= from_seg)
                        ids[n++] = s->segs[i];
        pthread_mutex_unlock(&s->lock);
        *idsp = ids;
        return n;
}

/* ------------------------------------------------------- segment rows */

static void row_init_empty(vrow_t *r)
{
        memset(r, 0, sizeof *r);
        r->vals = brook_buf_new();
}

static void row_free(vrow_t *r)
{
        free(r->v);
        brook_buf_destroy(r->vals);
}

static bool row_degenerate(const vrow_t *r)
{
        return r->next == r->min;
}

/* Appends @p value (NULL: a tombstone) to the row's values; its size and
 * offset into @p ver. */
static void row_value(vrow_t *r, vver_t *ver, const void *value, size_t size)
{
        ver->off = brook_buf_len(r->vals);
        ver->size = value ? (int32_t)size : -1;
        if (value && size)
                brook_buf_append(r->vals, value, size);
}

static bool row_decode(vrow_t *r, const void *data, size_t n)
{
        const unsigned char *p = data;
        size_t pos = 16, cum = 0;

        r->cnt = 0;
        brook_buf_clear(r->vals);
        if (n < 16)
                return false;
        r->next = (int64_t)be64_get(p);
        r->min = (int64_t)be64_get(p + 8);
        for (;;) {
                vver_t *ver;
                int32_t size;
                size_t sz;
                if (n - pos < 12)
                        return false;
                if (r->cnt == r->cap) {
                        r->cap = r->cap ? 2 * r->cap : 8;
                        r->v = brook__xrealloc(r->v, r->cap * sizeof *r->v);
                }
                ver = &r->v[r->cnt++];
                ver->ts = (int64_t)be64_get(p + pos);
                size = (int32_t)be32_get(p + pos + 8);
                pos += 12;
                sz = size > 0 ? (size_t)size : 0;
                if (sz > n - pos || cum > n - pos - sz)
                        return false;
                cum += sz;
                /* Values are oldest first at the end: this one, newer
                 * than those after it in the list, ends cum before. */
                ver->off = brook_buf_len(r->vals);
                ver->size = size < 0 ? -1 : size;
                if (sz)
                        brook_buf_append(r->vals, p + n - cum, sz);
                if (ver->ts == r->min)
                        break;
                if (r->cnt > n / 12)
                        return false;
        }
        return pos + cum == n;
}

static void row_encode(const vrow_t *r, brook_buf_t *out)
{
        const unsigned char *vals = brook_buf_data(r->vals);
        unsigned char b[12];
        size_t i;

        brook_buf_clear(out);
        be64_put(b, (uint64_t)r->next);
        brook_buf_append(out, b, 8);
        be64_put(b, (uint64_t)r->min);
        brook_buf_append(out, b, 8);
        for (i = 0; i < r->cnt; i++) {
                be64_put(b, (uint64_t)r->v[i].ts);
                be32_put(b + 8, (uint32_t)r->v[i].size);
                brook_buf_append(out, b, 12);
        }
        for (i = r->cnt; i-- > 0;)
                if (r->v[i].size > 0)
                        brook_buf_append(out, vals + r->v[i].off,
                                         (size_t)r->v[i].size);
}

/* initializeWithRecord(): a row of one version. */
static void row_init(vrow_t *r, const void *value, size_t size,
                     int64_t valid_from, int64_t valid_to)
{
        r->cnt = 0;
        brook_buf_clear(r->vals);
        if (!r->cap) {
                r->cap = 8;
                r->v = brook__xmalloc(r->cap * sizeof *r->v);
        }
        r->v[0].ts = valid_from;
        row_value(r, &r->v[0], value, size);
        r->cnt = 1;
        r->next = valid_to;
        r->min = valid_from;
}

/* doInsert(): a version at @p idx (0: newest). */
static void row_insert(vrow_t *r, size_t idx, int64_t ts, const void *value,
                       size_t size)
{
        if (r->cnt == r->cap) {
                r->cap = r->cap ? 2 * r->cap : 8;
                r->v = brook__xrealloc(r->v, r->cap * sizeof *r->v);
        }
        memmove(r->v + idx + 1, r->v + idx, (r->cnt - idx) * sizeof *r->v);
        r->v[idx].ts = ts;
        row_value(r, &r->v[idx], value, size);
        r->cnt++;
        r->min = r->v[r->cnt - 1].ts;
}

/* updateRecord(). */
static void row_update(vrow_t *r, size_t idx, int64_t ts, const void *value,
                       size_t size)
{
        r->v[idx].ts = ts;
        row_value(r, &r->v[idx], value, size);
        r->min = r->v[r->cnt - 1].ts;
}

/* find(): the version valid at @p ts, which must be in [min, next) of a
 * row that is not degenerate. False if it is not. */
static bool row_find(const vrow_t *r, int64_t ts, vfound_t *f)
{
        int64_t next = r->next;
        size_t i;
        if (ts < r->min || ts >= r->next)
                return false;
        for (i = 0; i < r->cnt; i++) {
                if (r->v[i].ts <= ts) {
                        f->idx = i;
                        f->valid_from = r->v[i].ts;
                        f->valid_to = next;
                        f->value =
                                r->v[i].size < 0
                                        ? NULL
                                        : (const unsigned char *)brook_buf_data(
                                                  r->vals) +
                                                  r->v[i].off;
                        f->size = r->v[i].size < 0 ? 0 : (size_t)r->v[i].size;
                        return true;
                }
                next = r->v[i].ts;
        }
        return false;
}

/* truncateRecordsToTimestamp(): Kafka Streams' repair of a row a failed
 * two-row write left overlapping the next one. brook's writes land whole
 * (one batch), so this only keeps rows written by a store that did not. */
static void row_truncate(vrow_t *r, int64_t ts)
{
        vfound_t f;
        size_t n;
        if (ts <= r->min) {
                row_init(r, NULL, 0, ts, ts);
                return;
        }
        if (!row_find(r, ts, &f)) {
                r->next = ts;
                return;
        }
        n = f.idx + (f.valid_from == ts ? 1 : 0);
        memmove(r->v, r->v + n, (r->cnt - n) * sizeof *r->v);
        r->cnt -= n;
        r->next = ts;
}

/* insertAsLatest(). */
static void row_insert_latest(vrow_t *r, int64_t valid_from, int64_t valid_to,
                              const void *value, size_t size)
{
        if (valid_from < r->next)
                row_truncate(r, valid_from);
        if (r->next == valid_from) {
                if (row_degenerate(r))
                        row_init(r, value, size, valid_from, valid_to);
                else
                        row_insert(r, 0, valid_from, value, size);
        } else {
                /* A gap: nothing was valid from next to valid_from. */
                if (row_degenerate(r))
                        row_init(r, NULL, 0, r->next, valid_from);
                else
                        row_insert(r, 0, r->next, NULL, 0);
                row_insert(r, 0, valid_from, value, size);
        }
        r->next = valid_to;
}

/* insertAsEarliest(). */
static void row_insert_earliest(vrow_t *r, int64_t ts, const void *value,
                                size_t size)
{
        if (row_degenerate(r))
                row_init(r, value, size, ts, r->next);
        else
                row_insert(r, r->cnt, ts, value, size);
}

static brook_err_t row_bad(char *errstr, size_t errstr_size, int64_t seg)
{
        brook__seterr(errstr, errstr_size,
                      "a versioned store's row of segment %" PRId64
                      " is malformed",
                      seg);
        return BROOK_ERR_STATE;
}

/* Reads the row of @p key in segment @p seg into @p r: BROOK_OK,
 * BROOK_ERR_NOT_FOUND, or an error. Leaves its full key in @p kbuf. */
static brook_err_t row_read(vstore_t *s, int64_t seg, const void *key,
                            size_t key_size, brook_buf_t *kbuf, vrow_t *r,
                            char *errstr, size_t errstr_size)
{
        brook_err_t err;
        seg_key(kbuf, seg, key, key_size);
        if ((err = vs_read(s, kbuf, s->rbuf, errstr, errstr_size)))
                return err;
        if (!row_decode(r, brook_buf_data(s->rbuf), brook_buf_len(s->rbuf)))
                return row_bad(errstr, errstr_size, seg);
        return BROOK_OK;
}

static brook_err_t row_write(vstore_t *s, const brook_buf_t *kbuf,
                             const vrow_t *r, char *errstr, size_t errstr_size)
{
        row_encode(r, s->rbuf);
        return vs_write(s, kbuf, brook_buf_data(s->rbuf),
                        brook_buf_len(s->rbuf), errstr, errstr_size);
}

/* Adds version (@p value, valid_from, valid_to) to @p key's row of segment
 * @p seg: a new row, or as its latest. */
static brook_err_t row_add_latest(vstore_t *s, int64_t seg, const void *key,
                                  size_t key_size, const void *value,
                                  size_t size, int64_t valid_from,
                                  int64_t valid_to, char *errstr,
                                  size_t errstr_size)
{
        vrow_t *r = &s->row2;
        brook_err_t err = row_read(s, seg, key, key_size, s->k2buf, r, errstr,
                                   errstr_size);
        if (err == BROOK_ERR_NOT_FOUND)
                row_init(r, value, size, valid_from, valid_to);
        else if (err)
                return err;
        else
                row_insert_latest(r, valid_from, valid_to, value, size);
        return row_write(s, s->k2buf, r, errstr, errstr_size);
}

/* ---------------------------------------------------------------- put */

/* maybePutToLatestValueStore(): *@p donep when the put is complete;
 * *@p foundp the smallest timestamp seen above @p ts, or SENTINEL. */
static brook_err_t put_latest(vstore_t *s, int64_t observed, const void *key,
                              size_t key_size, const void *value, size_t size,
                              int64_t ts, bool *donep, int64_t *foundp,
                              char *errstr, size_t errstr_size)
{
        int64_t lts;
        bool live;
        brook_err_t err;

        *donep = false;
        *foundp = SENTINEL;
        latest_key(s->kbuf, key, key_size);
        err = vs_read(s, s->kbuf, s->lbuf, errstr, errstr_size);
        if (err == BROOK_ERR_NOT_FOUND)
                return BROOK_OK;
        if (err)
                return err;
        if (brook_buf_len(s->lbuf) < 8) {
                brook__seterr(errstr, errstr_size,
                              "a versioned store's latest value has no "
                              "timestamp");
                return BROOK_ERR_STATE;
        }
        lts = (int64_t)be64_get(brook_buf_data(s->lbuf));
        if (ts < lts) {
                *foundp = lts;
                return BROOK_OK;
        }
        if (ts > lts) {
                /* The latest value becomes history, valid until ts: into
                 * ts's segment, unless that has expired already. */
                int64_t seg = seg_id(s, ts);
                if ((err = seg_live(s, seg, observed, &live, errstr,
                                    errstr_size)))
                        return err;
                if (live &&
                    (err = row_add_latest(
                             s, seg, key, key_size,
                             (const unsigned char *)brook_buf_data(s->lbuf) + 8,
                             brook_buf_len(s->lbuf) - 8, lts, ts, errstr,
                             errstr_size)))
                        return err;
        }
        *donep = true;
        latest_key(s->kbuf, key, key_size);
        if (!value)
                return vs_write(s, s->kbuf, NULL, 0, errstr, errstr_size);
        brook_buf_clear(s->lbuf);
        {
                unsigned char t[8];
                be64_put(t, (uint64_t)ts);
                brook_buf_append(s->lbuf, t, 8);
        }
        if (size)
                brook_buf_append(s->lbuf, value, size);
        return vs_write(s, s->kbuf, brook_buf_data(s->lbuf),
                        brook_buf_len(s->lbuf), errstr, errstr_size);
}

/* putToSegment(): @p key's row of segment @p seg, in s->row (its full key
 * in s->kbuf), holds the version valid at @p ts. */
static brook_err_t put_to_segment(vstore_t *s, int64_t observed, int64_t seg,
                                  const void *key, size_t key_size,
                                  const void *value, size_t size, int64_t ts,
                                  int64_t *foundp, char *errstr,
                                  size_t errstr_size)
{
        vrow_t *r = &s->row;
        int64_t ts_seg = seg_id(s, ts);
        vfound_t f;
        bool live;
        brook_err_t err;

        if (!row_find(r, ts, &f))
                return row_bad(errstr, errstr_size, seg);
        *foundp = f.valid_to;
        if (f.valid_from == ts) {
                /* Replaces a version: no validTo changes. */
                row_update(r, f.idx, ts, value, size);
                return row_write(s, s->kbuf, r, errstr, errstr_size);
        }
        if (ts_seg != seg) {
                /* The version found now ends at ts, in an older segment:
                 * it moves there first (a failure then leaves it in both,
                 * which Kafka Streams' reads tolerate), and the new version
                 * takes its place. */
                if ((err = seg_live(s, ts_seg, observed, &live, errstr,
                                    errstr_size)))
                        return err;
                if (live && (err = row_add_latest(s, ts_seg, key, key_size,
                                                  f.value, f.size, f.valid_from,
                                                  ts, errstr, errstr_size)))
                        return err;
                row_update(r, f.idx, ts, value, size);
                return row_write(s, s->kbuf, r, errstr, errstr_size);
        }
        row_insert(r, f.idx, ts, value, size);
        return row_write(s, s->kbuf, r, errstr, errstr_size);
}

/* maybePutToSegments(). */
static brook_err_t put_segments(vstore_t *s, int64_t observed, const void *key,
                                size_t key_size, const void *value, size_t size,
                                int64_t ts, bool *donep, int64_t *foundp,
                                char *errstr, size_t errstr_size)
{
        int64_t *ids;
        size_t n = seg_list_desc(s, seg_id(s, ts), &ids), i;
        brook_err_t err = BROOK_OK;

        *donep = false;
        for (i = 0; i < n; i++) {
                vrow_t *r = &s->row;
                err = row_read(s, ids[i], key, key_size, s->kbuf, r, errstr,
                               errstr_size);
                if (err == BROOK_ERR_NOT_FOUND) {
                        err = BROOK_OK;
                        continue;
                }
                if (err)
                        break;
                /* This segment and the older ones hold nothing the put
                 * changes. */
                if (r->next <= ts)
                        break;
                if (r->min <= ts) {
                        *donep = true;
                        err = put_to_segment(s, observed, ids[i], key, key_size,
                                             value, size, ts, foundp, errstr,
                                             errstr_size);
                        break;
                }
                if (r->min < observed - s->retention) {
                        /* Only possible while restoring, in Kafka Streams:
                         * the put changes no history kept. */
                        *donep = true;
                        *foundp = BROOK_VERSIONED_NOT_PUT;
                        break;
                }
                *foundp = r->min;
        }
        free(ids);
        return err;
}

/* finishPut(): the version goes where the search ended. */
static brook_err_t put_finish(vstore_t *s, int64_t observed, const void *key,
                              size_t key_size, const void *value, size_t size,
                              int64_t ts, int64_t *foundp, char *errstr,
                              size_t errstr_size)
{
        int64_t found = *foundp, seg;
        vrow_t *r = &s->row;
        bool live;
        brook_err_t err;

        if (found == SENTINEL && value) {
                unsigned char t[8];
                latest_key(s->kbuf, key, key_size);
                be64_put(t, (uint64_t)ts);
                brook_buf_clear(s->lbuf);
                brook_buf_append(s->lbuf, t, 8);
                if (size)
                        brook_buf_append(s->lbuf, value, size);
                return vs_write(s, s->kbuf, brook_buf_data(s->lbuf),
                                brook_buf_len(s->lbuf), errstr, errstr_size);
        }
        /* A tombstone is never a latest value: it goes to its own time's
         * segment. Other versions go to the segment of their validTo. */
        seg = seg_id(s, found == SENTINEL ? ts : found);
        if ((err = seg_live(s, seg, observed, &live, errstr, errstr_size)))
                return err;
        if (!live) {
                *foundp = BROOK_VERSIONED_NOT_PUT;
                return BROOK_OK;
        }
        err = row_read(s, seg, key, key_size, s->kbuf, r, errstr, errstr_size);
        if (err && err != BROOK_ERR_NOT_FOUND)
                return err;
        if (found == SENTINEL) {
                if (err == BROOK_ERR_NOT_FOUND) {
                        /* Degenerate: a tombstone deleting nothing kept. */
                        row_init(r, NULL, 0, ts, ts);
                } else {
                        if (r->next == ts)
                                return BROOK_OK; /* Deleted at ts already. */
                        row_insert_latest(r, r->next, ts, NULL, 0);
                }
        } else if (err == BROOK_ERR_NOT_FOUND) {
                row_init(r, value, size, ts, found);
        } else if (r->next <= ts) {
                /* After a degenerate row's gap. */
                row_insert_latest(r, ts, found, value, size);
        } else {
                row_insert_earliest(r, ts, value, size);
        }
        return row_write(s, s->kbuf, r, errstr, errstr_size);
}

/* doPut(): with stream time @p observed already moved to @p ts. */
static brook_err_t do_put(vstore_t *s, int64_t observed, const void *key,
                          size_t key_size, const void *value, size_t size,
                          int64_t ts, int64_t *codep, char *errstr,
                          size_t errstr_size)
{
        int64_t found;
        bool done;
        brook_err_t err;

        if ((err = seg_cleanup(s, observed, errstr, errstr_size)))
                return err;
        if ((err = put_latest(s, observed, key, key_size, value, size, ts,
                              &done, &found, errstr, errstr_size)))
                return err;
        if (!done &&
            (err = put_segments(s, observed, key, key_size, value, size, ts,
                                &done, &found, errstr, errstr_size)))
                return err;
        if (!done && (err = put_finish(s, observed, key, key_size, value, size,
                                       ts, &found, errstr, errstr_size)))
                return err;
        *codep = found == SENTINEL ? BROOK_VERSIONED_LATEST : found;
        return BROOK_OK;
}

static brook_err_t vs_put_ts(vstore_t *s, const void *key, size_t key_size,
                             const void *value, size_t value_size, int64_t ts,
                             int64_t *codep, char *errstr, size_t errstr_size)
{
        int64_t observed = atomic_load(&s->observed);

        *codep = BROOK_VERSIONED_NOT_PUT;
        if (ts < 0) {
                brook__seterr(errstr, errstr_size,
                              "a version's timestamp is negative (%" PRId64 ")",
                              ts);
                return BROOK_ERR_INVALID_ARG;
        }
        /* Kafka Streams: "Skipping record for expired put" (its history
         * retention is its grace period). */
        if (ts < observed - s->retention)
                return BROOK_OK;
        if (ts > observed)
                atomic_store(&s->observed, observed = ts);
        return do_put(s, observed, key, key_size, value, value_size, ts, codep,
                      errstr, errstr_size);
}

brook_err_t brook__versioned_put(void *self, const void *key, size_t key_size,
                                 const void *value, size_t value_size,
                                 int64_t ts, int64_t *codep, char *errstr,
                                 size_t errstr_size)
{
        return vs_put_ts(self, key, key_size, value, value_size, ts, codep,
                         errstr, errstr_size);
}

brook_err_t brook__versioned_restore(void *self, const void *key,
                                     size_t key_size, const void *value,
                                     size_t value_size, int64_t ts,
                                     char *errstr, size_t errstr_size)
{
        vstore_t *s = self;
        int64_t code;
        s->restoring = true;
        /* A record older than the grace period was never written (brook
         * does not log those; Kafka Streams does, and skips them here). */
        if (ts < 0)
                return BROOK_OK;
        return vs_put_ts(s, key, key_size, value, value_size, ts, &code, errstr,
                         errstr_size);
}

/* ---------------------------------------------------------------- get */

/* The latest version's bytes of @p key into @p out ([ts][value]). */
static brook_err_t get_latest_raw(vstore_t *s, bool query, brook_buf_t *kbuf,
                                  const void *key, size_t key_size,
                                  brook_buf_t *out, char *errstr,
                                  size_t errstr_size)
{
        brook_err_t err;
        latest_key(kbuf, key, key_size);
        if (!query)
                err = vs_read(s, kbuf, out, errstr, errstr_size);
        else
                err = s->ops->query_get(s->base, brook_buf_data(kbuf),
                                        brook_buf_len(kbuf), out, errstr,
                                        errstr_size);
        if (!err && brook_buf_len(out) < 8) {
                brook__seterr(errstr, errstr_size,
                              "a versioned store's latest value has no "
                              "timestamp");
                return BROOK_ERR_STATE;
        }
        return err;
}

brook_err_t brook__versioned_get(void *self, bool query, const void *key,
                                 size_t key_size, int64_t as_of,
                                 brook_buf_t *out, int64_t *tsp,
                                 int64_t *valid_top, char *errstr,
                                 size_t errstr_size)
{
        vstore_t *s = self;
        int64_t observed = atomic_load(&s->observed), lts = -1, *ids = NULL;
        brook_buf_t *kbuf, *lbuf, *rbuf;
        vrow_t row, *r;
        size_t n, i;
        bool have_latest;
        brook_err_t err;

        *tsp = -1;
        *valid_top = BROOK_VERSIONED_LATEST;
        if (query && !s->ops->query_get) {
                brook__seterr(errstr, errstr_size,
                              "its store (%s) cannot be queried while the "
                              "app runs (it has no query_get)",
                              s->ops->kind ? s->ops->kind : "?");
                return BROOK_ERR_STATE;
        }
        /* A query has buffers of its own; the owner uses the store's. */
        if (query) {
                kbuf = brook_buf_new();
                lbuf = brook_buf_new();
                rbuf = brook_buf_new();
                row_init_empty(&row);
                r = &row;
        } else {
                kbuf = s->kbuf;
                lbuf = s->lbuf;
                rbuf = s->rbuf;
                r = &s->row;
        }
        err = get_latest_raw(s, query, kbuf, key, key_size, lbuf, errstr,
                             errstr_size);
        if (err && err != BROOK_ERR_NOT_FOUND)
                goto out;
        have_latest = !err;
        if (have_latest)
                lts = (int64_t)be64_get(brook_buf_data(lbuf));
        err = BROOK_ERR_NOT_FOUND;
        /* The latest version answers if it is old enough; it never
         * expires. Past history retention, nothing else answers ("null
         * for predictability, even if data is still present"). */
        if (have_latest && lts <= as_of) {
                brook_buf_clear(out);
                brook_buf_append(
                        out, (const unsigned char *)brook_buf_data(lbuf) + 8,
                        brook_buf_len(lbuf) - 8);
                *tsp = lts;
                err = BROOK_OK;
                goto out;
        }
        if (as_of == INT64_MAX || as_of < observed - s->retention)
                goto out;
        n = seg_list_desc(s, seg_id(s, as_of), &ids);
        for (i = 0; i < n; i++) {
                vfound_t f;
                seg_key(kbuf, ids[i], key, key_size);
                if (query)
                        err = s->ops->query_get(s->base, brook_buf_data(kbuf),
                                                brook_buf_len(kbuf), rbuf,
                                                errstr, errstr_size);
                else
                        err = vs_read(s, kbuf, rbuf, errstr, errstr_size);
                if (err == BROOK_ERR_NOT_FOUND)
                        continue;
                if (err)
                        break;
                err = BROOK_ERR_NOT_FOUND;
                if (!row_decode(r, brook_buf_data(rbuf), brook_buf_len(rbuf))) {
                        err = row_bad(errstr, errstr_size, ids[i]);
                        break;
                }
                /* Nothing here is valid at as_of, nor in older segments. */
                if (r->next <= as_of)
                        break;
                if (r->min > as_of)
                        continue;
                if (!row_find(r, as_of, &f)) {
                        err = row_bad(errstr, errstr_size, ids[i]);
                        break;
                }
                if (f.value) {
                        brook_buf_clear(out);
                        if (f.size)
                                brook_buf_append(out, f.value, f.size);
                        *tsp = f.valid_from;
                        *valid_top = f.valid_to;
                        err = BROOK_OK;
                }
                break;
        }
out:
        free(ids);
        if (query) {
                brook_buf_destroy(kbuf);
                brook_buf_destroy(lbuf);
                brook_buf_destroy(rbuf);
                row_free(&row);
        }
        return err;
}

int64_t brook__versioned_observed(void *self)
{
        return atomic_load(&((vstore_t *)self)->observed);
}

/* ------------------------------------------------------------ bytes ops */

/* get / query_get: the latest version, as [timestamp][value]. */
static brook_err_t v_get(void *self, const void *key, size_t key_size,
                         brook_buf_t *out, char *errstr, size_t errstr_size)
{
        vstore_t *s = self;
        return get_latest_raw(s, false, s->k2buf, key, key_size, out, errstr,
                              errstr_size);
}

static brook_err_t v_query_get(void *self, const void *key, size_t key_size,
                               brook_buf_t *out, char *errstr,
                               size_t errstr_size)
{
        vstore_t *s = self;
        brook_buf_t *kbuf = brook_buf_new();
        brook_err_t err;
        if (!s->ops->query_get) {
                brook__seterr(errstr, errstr_size,
                              "its store (%s) cannot be queried while the "
                              "app runs (it has no query_get)",
                              s->ops->kind ? s->ops->kind : "?");
                brook_buf_destroy(kbuf);
                return BROOK_ERR_STATE;
        }
        err = get_latest_raw(s, true, kbuf, key, key_size, out, errstr,
                             errstr_size);
        brook_buf_destroy(kbuf);
        return err;
}

static brook_err_t v_put(void *self, const void *key, size_t key_size,
                         const void *value, size_t value_size, char *errstr,
                         size_t errstr_size)
{
        (void)self;
        (void)key;
        (void)key_size;
        (void)value;
        (void)value_size;
        brook__seterr(errstr, errstr_size,
                      "a versioned store is written with a timestamp "
                      "(brook_versionedstore_put())");
        return BROOK_ERR_STATE;
}

static brook_err_t v_range(void *self, const void *from, size_t from_size,
                           const void *to, size_t to_size,
                           brook_kvbytes_iter_t **itp, char *errstr,
                           size_t errstr_size)
{
        (void)self;
        (void)from;
        (void)from_size;
        (void)to;
        (void)to_size;
        *itp = NULL;
        brook__seterr(errstr, errstr_size,
                      "a versioned store is read by key (and time), not "
                      "by range");
        return BROOK_ERR_STATE;
}

static uint64_t v_approximate_count(void *self)
{
        vstore_t *s = self;
        return s->ops->approximate_count(s->base);
}

static uint64_t v_approximate_bytes(void *self)
{
        vstore_t *s = self;
        if (s->ops->version < 2 || !s->ops->approximate_bytes)
                return 0;
        return s->ops->approximate_bytes(s->base);
}

static brook_err_t v_flush(void *self, int64_t changelog_offset, char *errstr,
                           size_t errstr_size)
{
        vstore_t *s = self;
        int64_t observed = atomic_load(&s->observed);
        brook_err_t err;

        if (s->restoring) {
                s->restoring = false;
                if ((err = ov_write(s, errstr, errstr_size)))
                        return err;
        }
        if (s->ops->persistent && observed >= 0) {
                unsigned char v[8];
                be64_put(v, (uint64_t)observed);
                if ((err = s->ops->put(s->base, meta_key, sizeof meta_key, v,
                                       sizeof v, errstr, errstr_size)))
                        return err;
        }
        return s->ops->flush(s->base, changelog_offset, errstr, errstr_size);
}

static int64_t v_stored_offset(void *self)
{
        vstore_t *s = self;
        return s->ops->stored_offset ? s->ops->stored_offset(s->base) : -1;
}

static brook_err_t v_clear(void *self, char *errstr, size_t errstr_size)
{
        vstore_t *s = self;
        brook_err_t err;
        if (s->ops->clear &&
            (err = s->ops->clear(s->base, errstr, errstr_size)))
                return err;
        ov_clear(s);
        s->restoring = false;
        pthread_mutex_lock(&s->lock);
        s->seg_cnt = 0;
        pthread_mutex_unlock(&s->lock);
        atomic_store(&s->observed, -1);
        s->dropped_below = 0;
        return BROOK_OK;
}

static void v_free(vstore_t *s)
{
        ov_clear(s);
        pthread_mutex_destroy(&s->lock);
        brook_buf_destroy(s->kbuf);
        brook_buf_destroy(s->k2buf);
        brook_buf_destroy(s->lbuf);
        brook_buf_destroy(s->rbuf);
        row_free(&s->row);
        row_free(&s->row2);
        free(s->segs);
        free(s);
}

static void v_close(void *self)
{
        vstore_t *s = self;
        if (!s)
                return;
        s->ops->close(s->base);
        v_free(s);
}

#define V_OPS(persist)                                                         \
        {                                                                      \
                .kind = "versioned", .persistent = persist, .get = v_get,      \
                .put = v_put, .range = v_range,                                \
                .approximate_count = v_approximate_count, .flush = v_flush,    \
                .stored_offset = v_stored_offset, .clear = v_clear,            \
                .query_get = v_query_get, .query_range = v_range,              \
                .close = v_close, .version = BROOK_KVSTORE_OPS_VERSION,        \
                .approximate_bytes = v_approximate_bytes,                      \
        }
static const brook_kvstore_ops_t v_ops_persistent = V_OPS(true);
static const brook_kvstore_ops_t v_ops_volatile = V_OPS(false);

bool brook__versioned_ops(const brook_kvstore_ops_t *ops)
{
        return ops->get == v_get;
}

/* The first segment holding a row at or after @p seg, or -1. */
static brook_err_t seg_probe(vstore_t *s, int64_t seg, int64_t *nextp,
                             char *errstr, size_t errstr_size)
{
        unsigned char from[SEG_KEY];
        brook_kvbytes_iter_t *it = NULL;
        const void *k, *v;
        size_t ksz, vsz;
        brook_err_t err;

        *nextp = -1;
        from[0] = K_SEGMENT;
        be64_put(from + 1, (uint64_t)seg);
        if ((err = s->ops->range(s->base, from, sizeof from, NULL, 0, &it,
                                 errstr, errstr_size)))
                return err;
        err = it->next(it, &k, &ksz, &v, &vsz, errstr, errstr_size);
        if (!err && ksz >= SEG_KEY &&
            ((const unsigned char *)k)[0] == K_SEGMENT)
                *nextp = (int64_t)be64_get((const unsigned char *)k + 1);
        it->destroy(it);
        return err == BROOK_ERR_END ? BROOK_OK : err;
}

/* What the store holds when it opens: its segments and, for a persistent
 * one, the stream time its last flush kept. */
static brook_err_t v_load(vstore_t *s, char *errstr, size_t errstr_size)
{
        brook_buf_t *v = brook_buf_new();
        int64_t seg = 0, next;
        brook_err_t err;

        err = s->ops->get(s->base, meta_key, sizeof meta_key, v, errstr,
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
                if (next == INT64_MAX)
                        break;
                seg = next + 1;
        }
        /* Segments a crash kept past their expiry go with the next
         * cleanup. */
        s->dropped_below = s->seg_cnt ? s->segs[0] : 0;
        return BROOK_OK;
}

brook_err_t brook__versioned_wrap(brook__storedef_t *def, void **innerp,
                                  const brook_kvstore_ops_t **opsp,
                                  char *errstr, size_t errstr_size)
{
        vstore_t *s = brook__xcalloc(1, sizeof *s);
        brook_err_t err;

        s->base = *innerp;
        s->ops = *opsp;
        s->retention = def->retention_ms;
        s->interval = def->segment_ms > 0 ? def->segment_ms : 1;
        atomic_init(&s->observed, -1);
        pthread_mutex_init(&s->lock, NULL);
        s->kbuf = brook_buf_new();
        s->k2buf = brook_buf_new();
        s->lbuf = brook_buf_new();
        s->rbuf = brook_buf_new();
        row_init_empty(&s->row);
        row_init_empty(&s->row2);
        if (!s->ops->range || !s->ops->get || !s->ops->put) {
                brook__seterr(errstr, errstr_size,
                              "a versioned store needs a bytes store with get, "
                              "put and range");
                v_free(s);
                return BROOK_ERR_STATE;
        }
        if ((err = v_load(s, errstr, errstr_size))) {
                /* The caller closes the inner store. */
                v_free(s);
                return err;
        }
        *innerp = s;
        *opsp = s->ops->persistent ? &v_ops_persistent : &v_ops_volatile;
        return BROOK_OK;
}
