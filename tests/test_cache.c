/*
 * Unit tests of the thread record cache: collapsing of updates, LRU
 * eviction across stores, tombstones, write_pending, per-store flush and
 * drop, and callbacks that re-enter the cache while it flushes or evicts.
 *
 * The stores are bare brook__store_t with no changelog, so writing
 * down is just a put on the inner store: an in-memory store behind an ops
 * table that counts the puts. Emitted entries are recorded in order.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_int.h"

/* cache.c's fixed cost of an entry beyond its key and value. */
#define OVERHEAD 64

/* -------------------------------------------------- a counting store */

typedef struct tstore {
        brook__store_t st; /* First: &tstore->st is the store. */
        void *mem;
        const brook_kvstore_ops_t *mem_ops;
        int puts;
} tstore_t;

static brook_err_t count_get(void *self, const void *key, size_t key_size,
                             brook_buf_t *out, char *errstr, size_t errstr_size)
{
        tstore_t *ts = self;
        return ts->mem_ops->get(ts->mem, key, key_size, out, errstr,
                                errstr_size);
}

static brook_err_t count_put(void *self, const void *key, size_t key_size,
                             const void *value, size_t value_size, char *errstr,
                             size_t errstr_size)
{
        tstore_t *ts = self;
        ts->puts++;
        return ts->mem_ops->put(ts->mem, key, key_size, value, value_size,
                                errstr, errstr_size);
}

static const brook_kvstore_ops_t count_ops = {
        .kind = "counting",
        .get = count_get,
        .put = count_put,
};

/* ------------------------------------------------------- emit records */

typedef struct rec {
        brook__store_t *st;
        char key[16];
        char value[256];
        bool tombstone;
        int64_t ts;
} rec_t;

typedef struct recorder {
        rec_t recs[64];
        int cnt;
        /* Called after recording, to re-enter the cache. */
        void (*then)(struct recorder *r, brook__store_t *st, const char *key);
        brook__cache_t *cache;
        tstore_t *other;
} recorder_t;

static brook_err_t record_emit(brook__store_t *st, const void *key,
                               size_t key_size, const void *value,
                               size_t value_size, int64_t ts, void *opaque,
                               char *errstr, size_t errstr_size)
{
        recorder_t *r = opaque;
        rec_t *rec;

        assert_true(r->cnt < 64);
        rec = &r->recs[r->cnt++];
        assert_true(key_size < sizeof rec->key);
        assert_true(value_size < sizeof rec->value);
        rec->st = st;
        memcpy(rec->key, key, key_size);
        rec->key[key_size] = '\0';
        rec->tombstone = !value;
        if (value)
                memcpy(rec->value, value, value_size);
        rec->value[value_size] = '\0';
        rec->ts = ts;
        if (r->then)
                r->then(r, st, rec->key);
        return BROOK_OK;
}

/* What the cache's callers read of a store's definition. */
static brook__storedef_t kv_def = {.name = "s", .kind = BROOK__STORE_KV};

static tstore_t *tstore_new(brook__cache_t *c, recorder_t *r)
{
        const brook_kvstore_supplier_t *sup = brook_kvstore_in_memory();
        brook_kvstore_open_t info = {.store = "s", .task_id = "0_0"};
        tstore_t *ts = calloc(1, sizeof *ts);
        char errstr[128];

        assert_non_null(ts);
        assert_int_equal(sup->open(&info, sup->opaque, &ts->mem, &ts->mem_ops,
                                   errstr, sizeof errstr),
                         BROOK_OK);
        ts->st.def = &kv_def;
        ts->st.inner = ts;
        ts->st.ops = &count_ops;
        ts->st.cache = c;
        ts->st.changelog = NULL;
        ts->st.emit = record_emit;
        ts->st.emit_opaque = r;
        return ts;
}

static void tstore_destroy(tstore_t *ts)
{
        ts->mem_ops->close(ts->mem);
        free(ts);
}

/* -------------------------------------------------------------- helpers */

static void put(brook__cache_t *c, tstore_t *ts, const char *key,
                const char *value, int64_t t)
{
        assert_int_equal(brook__cache_put(c, &ts->st, key, strlen(key), value,
                                          value ? strlen(value) : 0, t, true),
                         BROOK_OK);
}

static void put_clean(brook__cache_t *c, tstore_t *ts, const char *key,
                      const char *value)
{
        assert_int_equal(brook__cache_put(c, &ts->st, key, strlen(key), value,
                                          value ? strlen(value) : 0, 0, false),
                         BROOK_OK);
}

/* Checks the cache holds @p value for @p key (NULL: a tombstone). */
static void check_cached(brook__cache_t *c, tstore_t *ts, const char *key,
                         const char *value)
{
        const void *v = (void *)1;
        size_t vs = 99;

        assert_true(brook__cache_get(c, &ts->st, key, strlen(key), &v, &vs));
        if (!value) {
                assert_null(v);
                assert_int_equal(vs, 0);
        } else {
                assert_non_null(v);
                assert_int_equal(vs, strlen(value));
                assert_memory_equal(v, value, vs);
        }
}

static void check_not_cached(brook__cache_t *c, tstore_t *ts, const char *key)
{
        const void *v;
        size_t vs;
        assert_false(brook__cache_get(c, &ts->st, key, strlen(key), &v, &vs));
}

/* Checks the inner store holds @p value for @p key (NULL: absent). */
static void check_inner(tstore_t *ts, const char *key, const char *value)
{
        brook_buf_t *out = brook_buf_new();
        brook_err_t err =
                ts->mem_ops->get(ts->mem, key, strlen(key), out, NULL, 0);

        if (!value) {
                assert_int_equal(err, BROOK_ERR_NOT_FOUND);
        } else {
                assert_int_equal(err, BROOK_OK);
                assert_int_equal(brook_buf_len(out), strlen(value));
                assert_memory_equal(brook_buf_data(out), value, strlen(value));
        }
        brook_buf_destroy(out);
}

/* Checks record @p i of @p r. */
static void check_rec(const recorder_t *r, int i, tstore_t *ts, const char *key,
                      const char *value, int64_t t)
{
        assert_true(i < r->cnt);
        assert_ptr_equal(r->recs[i].st, &ts->st);
        assert_string_equal(r->recs[i].key, key);
        if (!value) {
                assert_true(r->recs[i].tombstone);
        } else {
                assert_false(r->recs[i].tombstone);
                assert_string_equal(r->recs[i].value, value);
        }
        assert_int_equal(r->recs[i].ts, t);
}

/* ---------------------------------------------------------------- tests */

static void test_collapse(void **state)
{
        brook__cache_t *c = brook__cache_new(10000);
        recorder_t r = {0};
        tstore_t *ts = tstore_new(c, &r);

        put(c, ts, "k", "v1", 1);
        put(c, ts, "k", "v22", 2);
        put(c, ts, "k", "v3", 3);
        assert_int_equal(r.cnt, 0);
        assert_int_equal(ts->puts, 0);
        check_cached(c, ts, "k", "v3");
        check_inner(ts, "k", NULL);
        assert_int_equal(brook__cache_bytes(c), 1 + 2 + OVERHEAD);

        assert_int_equal(brook__cache_flush(c, &ts->st), BROOK_OK);
        assert_int_equal(r.cnt, 1);
        check_rec(&r, 0, ts, "k", "v3", 3);
        assert_int_equal(ts->puts, 1);
        check_inner(ts, "k", "v3");

        /* Clean now: a second flush does nothing, the entry stays. */
        assert_int_equal(brook__cache_flush(c, &ts->st), BROOK_OK);
        assert_int_equal(r.cnt, 1);
        assert_int_equal(ts->puts, 1);
        check_cached(c, ts, "k", "v3");
        assert_int_equal(brook__cache_evictions(c), 0);

        brook__cache_destroy(c);
        tstore_destroy(ts);
}

static void test_get_and_clean_put(void **state)
{
        brook__cache_t *c = brook__cache_new(10000);
        recorder_t r = {0};
        tstore_t *ts = tstore_new(c, &r);

        check_not_cached(c, ts, "k");

        /* A value read from below is cached clean: nothing to flush. */
        put_clean(c, ts, "k", "below");
        check_cached(c, ts, "k", "below");
        assert_int_equal(brook__cache_flush(c, &ts->st), BROOK_OK);
        assert_int_equal(r.cnt, 0);
        assert_int_equal(ts->puts, 0);

        /* A clean put replaces a clean entry... */
        put_clean(c, ts, "k", "below2");
        check_cached(c, ts, "k", "below2");
        /* ...but not a dirty one: the write is newer than what is below. */
        put(c, ts, "k", "mine", 7);
        put_clean(c, ts, "k", "stale");
        check_cached(c, ts, "k", "mine");
        assert_int_equal(brook__cache_flush(c, &ts->st), BROOK_OK);
        assert_int_equal(r.cnt, 1);
        check_rec(&r, 0, ts, "k", "mine", 7);

        /* An empty value is a value, not a tombstone. */
        put(c, ts, "e", "", 8);
        check_cached(c, ts, "e", "");
        assert_int_equal(brook__cache_flush(c, &ts->st), BROOK_OK);
        assert_int_equal(r.cnt, 2);
        check_rec(&r, 1, ts, "e", "", 8);
        check_inner(ts, "e", "");

        assert_int_equal(brook__cache_bytes(c),
                         (1 + 4 + OVERHEAD) + (1 + 0 + OVERHEAD));
        brook__cache_destroy(c);
        tstore_destroy(ts);
}

static void test_eviction_order(void **state)
{
        /* Room for three entries of a 1-byte key and a 1-byte value. */
        const size_t esz = 1 + 1 + OVERHEAD;
        brook__cache_t *c = brook__cache_new(3 * esz);
        recorder_t r = {0};
        tstore_t *ts = tstore_new(c, &r);

        put(c, ts, "a", "1", 10);
        put(c, ts, "b", "2", 20);
        put(c, ts, "c", "3", 30);
        assert_int_equal(r.cnt, 0);
        assert_int_equal(brook__cache_bytes(c), 3 * esz);

        /* A get makes "a" the most recently used: "b" goes first. */
        check_cached(c, ts, "a", "1");
        put(c, ts, "d", "4", 40);
        assert_int_equal(r.cnt, 1);
        check_rec(&r, 0, ts, "b", "2", 20);
        assert_int_equal(ts->puts, 1);
        check_inner(ts, "b", "2");
        check_not_cached(c, ts, "b");

        put(c, ts, "e", "5", 50);
        put(c, ts, "f", "6", 60);
        assert_int_equal(r.cnt, 3);
        check_rec(&r, 1, ts, "c", "3", 30);
        check_rec(&r, 2, ts, "a", "1", 10);
        assert_int_equal(ts->puts, 3);
        assert_int_equal(brook__cache_evictions(c), 3);

        /* Evicting a clean entry neither writes nor forwards. */
        put_clean(c, ts, "x", "9"); /* evicts d */
        put(c, ts, "y", "7", 70);   /* evicts e */
        put(c, ts, "z", "8", 80);   /* evicts f */
        put(c, ts, "w", "0", 90);   /* evicts x: silently */
        assert_int_equal(r.cnt, 6);
        check_rec(&r, 3, ts, "d", "4", 40);
        check_rec(&r, 4, ts, "e", "5", 50);
        check_rec(&r, 5, ts, "f", "6", 60);
        assert_int_equal(ts->puts, 6);
        check_inner(ts, "x", NULL);
        assert_int_equal(brook__cache_evictions(c), 7);
        assert_int_equal(brook__cache_bytes(c), 3 * esz);

        /* An entry too big for the budget on its own evicts everything,
         * then goes down and out itself. */
        {
                char big[3 * 66];
                memset(big, 'B', sizeof big - 1);
                big[sizeof big - 1] = '\0';
                put(c, ts, "g", big, 100);
        }
        assert_int_equal(r.cnt, 10);
        check_rec(&r, 6, ts, "y", "7", 70);
        check_rec(&r, 7, ts, "z", "8", 80);
        check_rec(&r, 8, ts, "w", "0", 90);
        assert_string_equal(r.recs[9].key, "g");
        assert_int_equal(strlen(r.recs[9].value), 3 * 66 - 1);
        assert_int_equal(ts->puts, 10);
        assert_int_equal(brook__cache_bytes(c), 0);
        assert_int_equal(brook__cache_evictions(c), 11);
        check_not_cached(c, ts, "g");

        brook__cache_destroy(c);
        tstore_destroy(ts);
}

static void test_zero_budget(void **state)
{
        brook__cache_t *c = brook__cache_new(0);
        recorder_t r = {0};
        tstore_t *ts = tstore_new(c, &r);

        put(c, ts, "a", "1", 1);
        assert_int_equal(r.cnt, 1);
        check_rec(&r, 0, ts, "a", "1", 1);
        check_inner(ts, "a", "1");
        put(c, ts, "a", NULL, 2);
        assert_int_equal(r.cnt, 2);
        check_rec(&r, 1, ts, "a", NULL, 2);
        check_inner(ts, "a", NULL);
        assert_int_equal(ts->puts, 2);
        assert_int_equal(brook__cache_bytes(c), 0);
        check_not_cached(c, ts, "a");

        brook__cache_destroy(c);
        tstore_destroy(ts);
}

static void test_tombstones(void **state)
{
        const size_t esz = 1 + 1 + OVERHEAD;
        brook__cache_t *c = brook__cache_new(2 * esz);
        recorder_t r = {0};
        tstore_t *ts = tstore_new(c, &r);

        put(c, ts, "k", "v", 1);
        assert_int_equal(brook__cache_flush(c, &ts->st), BROOK_OK);
        check_inner(ts, "k", "v");

        put(c, ts, "k", NULL, 2);
        check_cached(c, ts, "k", NULL);
        assert_int_equal(brook__cache_bytes(c), 1 + OVERHEAD);
        check_inner(ts, "k", "v");
        assert_int_equal(brook__cache_flush(c, &ts->st), BROOK_OK);
        assert_int_equal(r.cnt, 2);
        check_rec(&r, 1, ts, "k", NULL, 2);
        check_inner(ts, "k", NULL);
        /* The flushed tombstone stays cached: reads need not go below. */
        check_cached(c, ts, "k", NULL);

        /* An evicted tombstone goes down and out too. */
        put(c, ts, "a", "1", 3);
        assert_int_equal(brook__cache_flush(c, &ts->st), BROOK_OK);
        put(c, ts, "a", NULL, 4);
        put(c, ts, "b", "2", 5); /* evicts clean "k" */
        put(c, ts, "c", "3", 6); /* evicts "a" */
        assert_int_equal(r.cnt, 4);
        check_rec(&r, 3, ts, "a", NULL, 4);
        check_inner(ts, "a", NULL);

        brook__cache_destroy(c);
        tstore_destroy(ts);
}

static void test_write_pending(void **state)
{
        brook__cache_t *c = brook__cache_new(10000);
        recorder_t r = {0};
        tstore_t *ts = tstore_new(c, &r);

        put(c, ts, "a", "1", 1);
        put(c, ts, "b", "2", 2);
        assert_int_equal(brook__cache_write_pending(c, &ts->st), BROOK_OK);
        assert_int_equal(ts->puts, 2);
        assert_int_equal(r.cnt, 0);
        check_inner(ts, "a", "1");
        check_inner(ts, "b", "2");
        /* Nothing left to write. */
        assert_int_equal(brook__cache_write_pending(c, &ts->st), BROOK_OK);
        assert_int_equal(ts->puts, 2);

        put(c, ts, "c", "3", 3);
        assert_int_equal(brook__cache_flush(c, &ts->st), BROOK_OK);
        assert_int_equal(r.cnt, 3);
        check_rec(&r, 0, ts, "a", "1", 1);
        check_rec(&r, 1, ts, "b", "2", 2);
        check_rec(&r, 2, ts, "c", "3", 3);
        /* Only "c" was written at the flush. */
        assert_int_equal(ts->puts, 3);

        /* Flush order is the order of the last writes: rewriting "a" after
         * write_pending makes it the newest, and unwritten again. */
        put(c, ts, "a", "4", 4);
        put(c, ts, "b", "5", 5);
        assert_int_equal(brook__cache_write_pending(c, &ts->st), BROOK_OK);
        assert_int_equal(ts->puts, 5);
        put(c, ts, "a", "6", 6);
        put(c, ts, "c", "7", 7);
        assert_int_equal(brook__cache_flush(c, &ts->st), BROOK_OK);
        assert_int_equal(r.cnt, 6);
        check_rec(&r, 3, ts, "b", "5", 5);
        check_rec(&r, 4, ts, "a", "6", 6);
        check_rec(&r, 5, ts, "c", "7", 7);
        assert_int_equal(ts->puts, 7);
        check_inner(ts, "a", "6");
        check_inner(ts, "b", "5");
        check_inner(ts, "c", "7");

        /* An entry written by write_pending and then evicted is forwarded,
         * not written again. */
        {
                brook__cache_t *c2 = brook__cache_new(2 * (1 + 1 + OVERHEAD));
                tstore_t *t2 = tstore_new(c2, &r);
                put(c2, t2, "p", "1", 8);
                assert_int_equal(brook__cache_write_pending(c2, &t2->st),
                                 BROOK_OK);
                put(c2, t2, "q", "2", 9);
                put(c2, t2, "s", "3", 10); /* evicts "p" */
                assert_int_equal(r.cnt, 7);
                check_rec(&r, 6, t2, "p", "1", 8);
                assert_int_equal(t2->puts, 1);
                brook__cache_destroy(c2);
                tstore_destroy(t2);
        }

        brook__cache_destroy(c);
        tstore_destroy(ts);
}

/* A hit's move to the end of the LRU list is made at the next change to
 * the list (cache_lru_touch()): hits in a row, a hit on the last used
 * entry, and a hit on an entry that then leaves the cache keep the order
 * moving at once would have made. */
static void test_hits_keep_lru_order(void **state)
{
        const size_t esz = 1 + 1 + OVERHEAD;
        brook__cache_t *c = brook__cache_new(3 * esz);
        recorder_t r = {0};
        tstore_t *ts = tstore_new(c, &r), *other = tstore_new(c, &r);

        put(c, ts, "a", "1", 10);
        put(c, ts, "b", "2", 20);
        put(c, ts, "c", "3", 30);
        check_cached(c, ts, "a", "1"); /* b c a */
        check_cached(c, ts, "b", "2"); /* c a b */
        check_cached(c, ts, "b", "2"); /* the last used: unchanged */
        check_cached(c, ts, "a", "1"); /* c b a */
        put(c, ts, "d", "4", 40);      /* evicts c */
        put(c, ts, "e", "5", 50);      /* evicts b */
        assert_int_equal(r.cnt, 2);
        check_rec(&r, 0, ts, "c", "3", 30);
        check_rec(&r, 1, ts, "b", "2", 20);
        check_cached(c, ts, "a", "1"); /* d e a */
        put(c, ts, "f", "6", 60);      /* evicts d */
        assert_int_equal(r.cnt, 3);
        check_rec(&r, 2, ts, "d", "4", 40);

        /* The entry just hit leaves with its store: the list does not
         * keep it. */
        put(c, other, "x", "7", 70);   /* evicts e: a f x */
        check_cached(c, ts, "f", "6"); /* a x f */
        brook__cache_drop(c, &ts->st);
        assert_int_equal(brook__cache_bytes(c), esz);
        put(c, other, "y", "8", 80);
        put(c, other, "z", "9", 90);
        put(c, other, "w", "0", 100); /* evicts x */
        assert_int_equal(r.cnt, 5);
        check_rec(&r, 3, ts, "e", "5", 50);
        check_rec(&r, 4, other, "x", "7", 70);

        brook__cache_destroy(c);
        tstore_destroy(ts);
        tstore_destroy(other);
}

/* A prefetch (of a key cached or not, either stage, before the table
 * exists too) is only a hint: no lookup counted, the LRU order as it was,
 * nothing evicted or forwarded. */
static void test_prefetch_changes_nothing(void **state)
{
        const size_t esz = 1 + 1 + OVERHEAD;
        brook__cache_t *c = brook__cache_new(3 * esz);
        recorder_t r = {0};
        tstore_t *ts = tstore_new(c, &r);
        const char *keys[] = {"a", "b", "c", "q", ""};
        uint64_t hits, misses;

        (void)state;
        brook__cache_prefetch(c, &ts->st, "a", 1, false);
        brook__cache_prefetch(c, &ts->st, "a", 1, true);
        put(c, ts, "a", "1", 10);
        put(c, ts, "b", "2", 20);
        put(c, ts, "c", "3", 30);
        check_cached(c, ts, "a", "1"); /* b c a */
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
                brook__cache_prefetch(c, &ts->st, keys[i], strlen(keys[i]),
                                      false);
                brook__cache_prefetch(c, &ts->st, keys[i], strlen(keys[i]),
                                      true);
        }
        brook__cache_lookups(c, &hits, &misses);
        assert_int_equal(hits, 1);
        assert_int_equal(misses, 0);
        assert_int_equal(r.cnt, 0);
        assert_int_equal(brook__cache_bytes(c), 3 * esz);
        put(c, ts, "d", "4", 40); /* evicts b, whatever was prefetched */
        assert_int_equal(r.cnt, 1);
        check_rec(&r, 0, ts, "b", "2", 20);

        brook__cache_destroy(c);
        tstore_destroy(ts);
}

static void test_two_stores(void **state)
{
        brook__cache_t *c = brook__cache_new(10000);
        recorder_t r = {0};
        tstore_t *s1 = tstore_new(c, &r), *s2 = tstore_new(c, &r);

        /* The same key in two stores is two entries. */
        put(c, s1, "k", "one", 1);
        put(c, s2, "k", "two", 2);
        put(c, s2, "m", "2m", 3);
        check_cached(c, s1, "k", "one");
        check_cached(c, s2, "k", "two");
        check_not_cached(c, s1, "m");

        assert_int_equal(brook__cache_flush(c, &s1->st), BROOK_OK);
        assert_int_equal(r.cnt, 1);
        check_rec(&r, 0, s1, "k", "one", 1);
        assert_int_equal(s1->puts, 1);
        assert_int_equal(s2->puts, 0);
        check_inner(s2, "k", NULL);

        assert_int_equal(brook__cache_write_pending(c, &s1->st), BROOK_OK);
        assert_int_equal(s2->puts, 0);

        assert_int_equal(brook__cache_flush(c, &s2->st), BROOK_OK);
        assert_int_equal(r.cnt, 3);
        check_rec(&r, 1, s2, "k", "two", 2);
        check_rec(&r, 2, s2, "m", "2m", 3);
        assert_int_equal(s1->puts, 1);
        assert_int_equal(s2->puts, 2);

        brook__cache_destroy(c);
        tstore_destroy(s1);
        tstore_destroy(s2);
}

static void test_drop(void **state)
{
        brook__cache_t *c = brook__cache_new(10000);
        recorder_t r = {0};
        tstore_t *s1 = tstore_new(c, &r), *s2 = tstore_new(c, &r);

        put(c, s1, "a", "1", 1);
        put_clean(c, s1, "b", "2");
        put(c, s1, "c", "3", 3);
        assert_int_equal(brook__cache_write_pending(c, &s1->st), BROOK_OK);
        put(c, s1, "d", "4", 4);
        put(c, s2, "a", "5", 5);
        assert_int_equal(s1->puts, 2);

        /* Dropping forgets clean, written and unwritten entries alike,
         * without writing or forwarding. */
        brook__cache_drop(c, &s1->st);
        assert_int_equal(r.cnt, 0);
        assert_int_equal(s1->puts, 2);
        check_not_cached(c, s1, "a");
        check_not_cached(c, s1, "b");
        check_not_cached(c, s1, "d");
        assert_int_equal(brook__cache_bytes(c), 1 + 1 + OVERHEAD);
        assert_int_equal(brook__cache_flush(c, &s1->st), BROOK_OK);
        assert_int_equal(r.cnt, 0);
        /* Dropping a store with nothing cached is fine. */
        brook__cache_drop(c, &s1->st);

        check_cached(c, s2, "a", "5");
        assert_int_equal(brook__cache_flush(c, &s2->st), BROOK_OK);
        assert_int_equal(r.cnt, 1);
        check_rec(&r, 0, s2, "a", "5", 5);

        /* The store can cache again after a drop. */
        put(c, s1, "a", "6", 6);
        assert_int_equal(brook__cache_flush(c, &s1->st), BROOK_OK);
        assert_int_equal(r.cnt, 2);
        check_rec(&r, 1, s1, "a", "6", 6);

        brook__cache_drop(c, &s1->st);
        brook__cache_drop(c, &s2->st);
        assert_int_equal(brook__cache_bytes(c), 0);
        brook__cache_destroy(c);
        tstore_destroy(s1);
        tstore_destroy(s2);
}

/* Forwarding an entry of the first store writes two entries into the other
 * store of the same cache ("a" -> "A", "B"; "b" -> "C", "D"; ...), as a
 * downstream aggregation would. */
static void put_two_into_other(recorder_t *r, brook__store_t *st,
                               const char *key)
{
        char k[2] = {0};

        if (st == &r->other->st)
                return;
        k[0] = (char)('A' + 2 * (key[0] - 'a'));
        put(r->cache, r->other, k, "x", 100 + k[0]);
        k[0]++;
        put(r->cache, r->other, k, "x", 100 + k[0]);
}

static void test_reentrant_flush(void **state)
{
        /* Room for three entries: every write from a callback evicts. */
        brook__cache_t *c = brook__cache_new(3 * (1 + 1 + OVERHEAD));
        recorder_t r = {0};
        tstore_t *s1 = tstore_new(c, &r), *s2 = tstore_new(c, &r);

        r.cache = c;
        r.other = s2;
        put(c, s1, "a", "1", 1);
        put(c, s1, "b", "2", 2);
        put(c, s1, "c", "3", 3);
        r.then = put_two_into_other;

        /*
         * Flushing "a" puts "A" (evicting clean "a") and "B", which evicts
         * dirty "b" mid-flush: "b" goes down and out, and its callback puts
         * "C", evicting "c" (down and out; its "E" and "F" evict "A" and
         * "B"), then "D", evicting "C". The flush then finds nothing left
         * of the first store.
         */
        assert_int_equal(brook__cache_flush(c, &s1->st), BROOK_OK);
        assert_int_equal(r.cnt, 6);
        check_rec(&r, 0, s1, "a", "1", 1);
        check_rec(&r, 1, s1, "b", "2", 2);
        check_rec(&r, 2, s1, "c", "3", 3);
        check_rec(&r, 3, s2, "A", "x", 100 + 'A');
        check_rec(&r, 4, s2, "B", "x", 100 + 'B');
        check_rec(&r, 5, s2, "C", "x", 100 + 'C');
        assert_int_equal(s1->puts, 3);
        check_inner(s1, "a", "1");
        check_inner(s1, "b", "2");
        check_inner(s1, "c", "3");
        assert_int_equal(brook__cache_evictions(c), 6);
        assert_int_equal(brook__cache_bytes(c), 3 * (1 + 1 + OVERHEAD));

        /* What is left is the other store's, in the order written. */
        assert_int_equal(brook__cache_flush(c, &s1->st), BROOK_OK);
        assert_int_equal(r.cnt, 6);
        assert_int_equal(brook__cache_flush(c, &s2->st), BROOK_OK);
        assert_int_equal(r.cnt, 9);
        check_rec(&r, 6, s2, "E", "x", 100 + 'E');
        check_rec(&r, 7, s2, "F", "x", 100 + 'F');
        check_rec(&r, 8, s2, "D", "x", 100 + 'D');
        assert_int_equal(s2->puts, 6);

        brook__cache_destroy(c);
        tstore_destroy(s1);
        tstore_destroy(s2);
}

/* Forwarding an entry writes a new key into the same store, once. */
static void put_into_same(recorder_t *r, brook__store_t *st, const char *key)
{
        if (strcmp(key, "a") == 0)
                put(r->cache, (tstore_t *)st, "z", "new", 9);
}

static void test_reentrant_same_store(void **state)
{
        brook__cache_t *c = brook__cache_new(10000);
        recorder_t r = {0};
        tstore_t *ts = tstore_new(c, &r);

        r.cache = c;
        put(c, ts, "a", "1", 1);
        put(c, ts, "b", "2", 2);
        r.then = put_into_same;

        /* A flush takes only what was dirty when it started; "b", written
         * earlier, is still flushed, and a rewrite of "b" from the callback
         * would wait too. */
        assert_int_equal(brook__cache_flush(c, &ts->st), BROOK_OK);
        assert_int_equal(r.cnt, 2);
        check_rec(&r, 0, ts, "a", "1", 1);
        check_rec(&r, 1, ts, "b", "2", 2);
        check_cached(c, ts, "z", "new");
        check_inner(ts, "z", NULL);

        assert_int_equal(brook__cache_flush(c, &ts->st), BROOK_OK);
        assert_int_equal(r.cnt, 3);
        check_rec(&r, 2, ts, "z", "new", 9);
        check_inner(ts, "z", "new");

        brook__cache_destroy(c);
        tstore_destroy(ts);
}

/* Many keys across stores: the tables grow, and the bytes add up. */
static void test_many(void **state)
{
        brook__cache_t *c = brook__cache_new(1 << 20);
        recorder_t r = {0};
        tstore_t *s[3];
        char key[16];
        size_t expect = 0;

        for (int i = 0; i < 3; i++)
                s[i] = tstore_new(c, &r);
        for (int i = 0; i < 3000; i++) {
                snprintf(key, sizeof key, "key%d", i);
                put_clean(c, s[i % 3], key, key);
                expect += 2 * strlen(key) + OVERHEAD;
        }
        assert_int_equal(brook__cache_bytes(c), expect);
        for (int i = 0; i < 3000; i++) {
                snprintf(key, sizeof key, "key%d", i);
                check_cached(c, s[i % 3], key, key);
                check_not_cached(c, s[(i + 1) % 3], key);
        }
        brook__cache_drop(c, &s[1]->st);
        assert_int_equal(brook__cache_evictions(c), 0);
        assert_int_equal(r.cnt, 0);
        brook__cache_destroy(c);
        brook__cache_destroy(NULL);
        for (int i = 0; i < 3; i++)
                tstore_destroy(s[i]);
}

/* An entry keeps the value it was made with in its own allocation, right
 * after the key, and moves a later value out (and back in) as sizes
 * change: every value reads back exactly, the budget counts key and value
 * whatever their place, and a flush forwards the last value. */
static void test_value_sizes_change(void **state)
{
        brook__cache_t *c = brook__cache_new(1 << 20);
        recorder_t r = {0};
        tstore_t *s = tstore_new(c, &r);
        static const char *const seq[] = {
                "mid-sized",
                "a value longer than the first one",
                "short",
                NULL,
                "",
                "mid-sized",
                "a value longer than the first one, again",
                "x",
                NULL,
                "back",
        };

        (void)state;
        /* A read that missed: cached clean, in the entry's allocation. */
        put_clean(c, s, "k", "from below");
        check_cached(c, s, "k", "from below");
        assert_int_equal(brook__cache_bytes(c), 1 + 10 + OVERHEAD);
        for (size_t i = 0; i < sizeof seq / sizeof *seq; i++) {
                put(c, s, "k", seq[i], (int64_t)i);
                check_cached(c, s, "k", seq[i]);
                assert_int_equal(brook__cache_bytes(c),
                                 1 + (seq[i] ? strlen(seq[i]) : 0) + OVERHEAD);
        }
        /* A tombstone first, then values of every size. */
        put(c, s, "t", NULL, 1);
        check_cached(c, s, "t", NULL);
        put(c, s, "t", "", 2);
        check_cached(c, s, "t", "");
        put(c, s, "t", "grown", 3);
        check_cached(c, s, "t", "grown");
        /* An empty first value is a value, not a tombstone. */
        put(c, s, "e", "", 4);
        check_cached(c, s, "e", "");
        put(c, s, "e", "now longer", 5);
        check_cached(c, s, "e", "now longer");

        assert_int_equal(brook__cache_flush(c, &s->st), BROOK_OK);
        assert_int_equal(r.cnt, 3);
        check_inner(s, "k", "back");
        check_inner(s, "t", "grown");
        check_inner(s, "e", "now longer");
        assert_string_equal(r.recs[0].key, "k");
        assert_string_equal(r.recs[0].value, "back");
        assert_int_equal(r.recs[0].ts, 9);
        brook__cache_destroy(c);
        tstore_destroy(s);
}

/* ------------------------------------------------------------ groups */

/* A window store's entries: the cache groups them by record key. */
static brook__storedef_t win_def = {.name = "w", .kind = BROOK__STORE_WINDOW};

/* Bytes entry size of a group test's key ("k" + 12 bytes of window)
 * with a one-byte value. */
#define GENTRY (1 + 12 + 1 + OVERHEAD)

typedef struct gkey {
        unsigned char b[32];
        size_t n;
} gkey_t;

/* Record key @p k's window key at start @p t. */
static gkey_t wk(const char *k, int64_t t)
{
        gkey_t g = {.n = strlen(k) + 12};
        memcpy(g.b, k, strlen(k));
        for (int i = 0; i < 8; i++)
                g.b[strlen(k) + i] =
                        (unsigned char)((uint64_t)t >> (56 - 8 * i));
        return g;
}

static tstore_t *wstore_new(brook__cache_t *c, recorder_t *r)
{
        tstore_t *ts = tstore_new(c, r);
        ts->st.def = &win_def;
        return ts;
}

static void gput(brook__cache_t *c, tstore_t *ts, const char *k, int64_t t,
                 const char *value)
{
        gkey_t g = wk(k, t);
        assert_int_equal(brook__cache_put(c, &ts->st, g.b, g.n, value,
                                          value ? strlen(value) : 0, t, true),
                         BROOK_OK);
}

/* What the cache says of @p k's window @p t: "miss", "absent", "(null)"
 * for a cached tombstone, or the cached value. */
static const char *gget(brook__cache_t *c, tstore_t *ts, const char *k,
                        int64_t t)
{
        static char out[64];
        gkey_t g = wk(k, t);
        const void *v = NULL;
        size_t vs = 0;
        switch (brook__cache_get(c, &ts->st, g.b, g.n, &v, &vs)) {
        case BROOK__CACHE_MISS:
                return "miss";
        case BROOK__CACHE_ABSENT:
                return "absent";
        case BROOK__CACHE_HIT:
                break;
        }
        if (!v)
                return "(null)";
        snprintf(out, sizeof out, "%.*s", (int)vs, (const char *)v);
        return out;
}

/* Fills @p k's group from @p from with windows "t=value", read from
 * below (written there first). */
static brook_err_t gfill(brook__cache_t *c, tstore_t *ts, const char *k,
                         int64_t from, int cnt, const int64_t *t,
                         const char *const *value)
{
        brook__kvsnap_t *read = brook__kvsnap_new();
        brook_err_t err;
        for (int i = 0; i < cnt; i++) {
                gkey_t g = wk(k, t[i]);
                brook__kvsnap_add(read, g.b, g.n, value[i], strlen(value[i]));
                assert_int_equal(ts->mem_ops->put(ts->mem, g.b, g.n, value[i],
                                                  strlen(value[i]), NULL, 0),
                                 BROOK_OK);
        }
        err = brook__cache_group_fill(c, &ts->st, k, strlen(k), from, read, 0);
        brook__kvsnap_free(read);
        return err;
}

static bool gcomplete(brook__cache_t *c, tstore_t *ts, const char *k,
                      int64_t from)
{
        return brook__cache_group_complete(c, &ts->st, k, strlen(k), from);
}

/* The bytes a group record costs, measured on a cache of its own. */
static size_t group_bytes(void)
{
        brook__cache_t *c = brook__cache_new(1 << 20);
        recorder_t r = {0};
        tstore_t *ts = wstore_new(c, &r);
        size_t n;
        assert_int_equal(gfill(c, ts, "k", 0, 0, NULL, NULL), BROOK_OK);
        n = brook__cache_bytes(c);
        brook__cache_destroy(c);
        tstore_destroy(ts);
        assert_true(n > 1);
        return n;
}

/* Once a key's windows from a time on are read into the cache, the cache
 * answers for the key there: absent windows without a read below, and
 * windows put since know nothing is below them, so deleting one leaves
 * nothing to write or forward. */
static void test_group_complete(void **state)
{
        brook__cache_t *c = brook__cache_new(1 << 20);
        recorder_t r = {0};
        tstore_t *ts = wstore_new(c, &r);
        (void)state;

        assert_false(gcomplete(c, ts, "k", 0));
        assert_string_equal(gget(c, ts, "k", 100), "miss");
        assert_int_equal(gfill(c, ts, "k", 100, 2, (int64_t[]){100, 300},
                               (const char *[]){"a", "c"}),
                         BROOK_OK);
        assert_true(gcomplete(c, ts, "k", 100));
        assert_true(gcomplete(c, ts, "k", 5000));
        assert_false(gcomplete(c, ts, "k", 99));
        assert_false(gcomplete(c, ts, "kk", 100));
        assert_string_equal(gget(c, ts, "k", 100), "a");
        assert_string_equal(gget(c, ts, "k", 300), "c");
        assert_string_equal(gget(c, ts, "k", 200), "absent");
        assert_string_equal(gget(c, ts, "k", 99), "miss");
        assert_string_equal(gget(c, ts, "j", 200), "miss");
        /* What was read is clean. */
        assert_int_equal(brook__cache_flush(c, &ts->st), BROOK_OK);
        assert_int_equal(r.cnt, 0);
        assert_int_equal(ts->puts, 0);

        /* Put and deleted before a flush: nothing at all. */
        gput(c, ts, "k", 400, "d");
        assert_string_equal(gget(c, ts, "k", 400), "d");
        gput(c, ts, "k", 400, NULL);
        assert_string_equal(gget(c, ts, "k", 400), "absent");
        assert_int_equal(brook__cache_bytes(c), group_bytes() + 2 * GENTRY);
        /* A delete of what is nowhere makes no entry either. */
        gput(c, ts, "k", 500, NULL);
        assert_int_equal(brook__cache_bytes(c), group_bytes() + 2 * GENTRY);
        assert_int_equal(brook__cache_flush(c, &ts->st), BROOK_OK);
        assert_int_equal(r.cnt, 0);
        assert_int_equal(ts->puts, 0);

        /* Written down, a window is below: its delete goes down and out. */
        gput(c, ts, "k", 200, "b");
        assert_int_equal(brook__cache_flush(c, &ts->st), BROOK_OK);
        assert_int_equal(r.cnt, 1);
        assert_int_equal(ts->puts, 1);
        gput(c, ts, "k", 200, NULL);
        assert_string_equal(gget(c, ts, "k", 200), "(null)");
        /* So does a delete over what was read from below. */
        gput(c, ts, "k", 100, NULL);
        assert_int_equal(brook__cache_flush(c, &ts->st), BROOK_OK);
        assert_int_equal(r.cnt, 3);
        assert_true(r.recs[1].tombstone);
        assert_int_equal(r.recs[1].ts, 200);
        assert_true(r.recs[2].tombstone);
        assert_int_equal(r.recs[2].ts, 100);
        assert_int_equal(ts->puts, 3);
        /* Flushed, the deletes leave the cache (a fetch of the group walks
         * every entry); the group still knows both windows are absent.
         * Left: window 300. */
        assert_int_equal(brook__cache_bytes(c), group_bytes() + GENTRY);
        assert_string_equal(gget(c, ts, "k", 200), "absent");
        assert_string_equal(gget(c, ts, "k", 100), "absent");
        assert_string_equal(gget(c, ts, "k", 300), "c");

        /* A key not known complete keeps its deletes until a flush checks
         * below (nothing there: nothing forwarded). */
        gput(c, ts, "j", 100, "x");
        gput(c, ts, "j", 100, NULL);
        assert_string_equal(gget(c, ts, "j", 100), "(null)");
        assert_int_equal(brook__cache_flush(c, &ts->st), BROOK_OK);
        assert_int_equal(r.cnt, 3);
        assert_int_equal(ts->puts, 3);

        brook__cache_drop(c, &ts->st);
        assert_false(gcomplete(c, ts, "k", 100));
        assert_int_equal(brook__cache_bytes(c), 0);
        brook__cache_destroy(c);
        tstore_destroy(ts);
}

static bool want_from_150(const void *key, size_t key_size, void *opaque)
{
        const unsigned char *p = (const unsigned char *)key + key_size - 12;
        int64_t t = 0;
        (void)opaque;
        for (int i = 0; i < 8; i++)
                t = t << 8 | p[i];
        return t >= 150;
}

static bool want_all(const void *key, size_t key_size, void *opaque)
{
        (void)key;
        (void)key_size;
        (void)opaque;
        return true;
}

/* "t=value,..." of a group iterator (destroyed). */
static const char *drain_group(brook_kvbytes_iter_t *it)
{
        static char out[256];
        const void *k, *v;
        size_t ks, vs, n = 0;
        out[0] = '\0';
        while (!it->next(it, &k, &ks, &v, &vs, NULL, 0)) {
                const unsigned char *p = (const unsigned char *)k + ks - 12;
                int64_t t = 0;
                for (int i = 0; i < 8; i++)
                        t = t << 8 | p[i];
                n += (size_t)snprintf(out + n, sizeof out - n,
                                      "%.*s@%" PRId64 "=%.*s,", (int)(ks - 12),
                                      (const char *)k, t, (int)vs,
                                      (const char *)v);
        }
        it->destroy(it);
        return out;
}

/* A group's values in key order, without tombstones or other keys (even
 * one the key is a prefix of), forward and backward, as selected. */
static void test_group_iter(void **state)
{
        brook__cache_t *c = brook__cache_new(1 << 20);
        recorder_t r = {0};
        tstore_t *ts = wstore_new(c, &r);
        (void)state;

        assert_int_equal(gfill(c, ts, "k", 0, 2, (int64_t[]){300, 100},
                               (const char *[]){"c", "a"}),
                         BROOK_OK);
        gput(c, ts, "k", 200, "b");
        gput(c, ts, "k", 300, NULL);
        gput(c, ts, "kk", 150, "x");
        assert_string_equal(drain_group(brook__cache_group_iter(
                                    c, &ts->st, "k", 1, false, want_all, NULL)),
                            "k@100=a,k@200=b,");
        assert_string_equal(drain_group(brook__cache_group_iter(
                                    c, &ts->st, "k", 1, true, want_all, NULL)),
                            "k@200=b,k@100=a,");
        assert_string_equal(
                drain_group(brook__cache_group_iter(c, &ts->st, "k", 1, false,
                                                    want_from_150, NULL)),
                "k@200=b,");
        assert_string_equal(
                drain_group(brook__cache_group_iter(c, &ts->st, "kk", 2, false,
                                                    want_all, NULL)),
                "kk@150=x,");
        assert_string_equal(
                drain_group(brook__cache_group_iter(c, &ts->st, "none", 4,
                                                    false, want_all, NULL)),
                "");
        brook__cache_destroy(c);
        tstore_destroy(ts);
}

/* Evicting a window with a value narrows what its group knows to after
 * that window; evicting a delete does not (below is deleted too). */
static void test_group_eviction_narrows(void **state)
{
        size_t gb = group_bytes();
        /* Room for the group and three windows. */
        brook__cache_t *c = brook__cache_new(gb + 3 * GENTRY);
        recorder_t r = {0};
        tstore_t *ts = wstore_new(c, &r);
        (void)state;

        assert_int_equal(gfill(c, ts, "k", 0, 2, (int64_t[]){100, 200},
                               (const char *[]){"a", "b"}),
                         BROOK_OK);
        gput(c, ts, "k", 300, "c");
        assert_true(gcomplete(c, ts, "k", 0));
        /* The fourth window evicts the least recently used, window 100. */
        gput(c, ts, "k", 400, "d");
        assert_int_equal(brook__cache_evictions(c), 1);
        assert_false(gcomplete(c, ts, "k", 100));
        assert_true(gcomplete(c, ts, "k", 101));
        assert_string_equal(gget(c, ts, "k", 100), "miss");
        assert_string_equal(gget(c, ts, "k", 150), "absent");
        assert_string_equal(gget(c, ts, "k", 200), "b");

        /* Window 200 deleted (it is below), then the least recently used:
         * evicting it writes the delete down and keeps what is known. */
        gput(c, ts, "k", 200, NULL);
        assert_string_equal(gget(c, ts, "k", 300), "c");
        assert_string_equal(gget(c, ts, "k", 400), "d");
        gput(c, ts, "k", 500, "e");
        assert_int_equal(brook__cache_evictions(c), 2);
        assert_int_equal(r.cnt, 1);
        assert_true(r.recs[0].tombstone);
        assert_true(gcomplete(c, ts, "k", 101));
        assert_string_equal(gget(c, ts, "k", 200), "absent");
        brook__cache_destroy(c);
        tstore_destroy(ts);
}

/* A group left without entries keeps what it knows, and is the first
 * thing to go when room is needed: before any entry. */
static void test_group_idle(void **state)
{
        size_t gb = group_bytes();
        brook__cache_t *c = brook__cache_new(gb + GENTRY);
        recorder_t r = {0};
        tstore_t *ts = wstore_new(c, &r);
        (void)state;

        assert_int_equal(gfill(c, ts, "k", 0, 0, NULL, NULL), BROOK_OK);
        gput(c, ts, "k", 100, "a");
        gput(c, ts, "k", 100, NULL);
        assert_true(gcomplete(c, ts, "k", 0));
        assert_int_equal(brook__cache_bytes(c), gb);
        /* Another key's window needs room: the idle group goes, no entry
         * is evicted. */
        gput(c, ts, "j", 100, "x");
        assert_false(gcomplete(c, ts, "k", 0));
        assert_int_equal(brook__cache_evictions(c), 0);
        assert_string_equal(gget(c, ts, "j", 100), "x");
        assert_int_equal(brook__cache_bytes(c), gb + GENTRY);
        brook__cache_destroy(c);
        tstore_destroy(ts);
}

/* A fill whose puts evict one of the group's own windows knows nothing:
 * what it read is no longer all cached. */
static void test_group_fill_evicted(void **state)
{
        size_t gb = group_bytes();
        brook__cache_t *c = brook__cache_new(gb + GENTRY);
        recorder_t r = {0};
        tstore_t *ts = wstore_new(c, &r);
        (void)state;

        assert_int_equal(gfill(c, ts, "k", 0, 2, (int64_t[]){100, 200},
                               (const char *[]){"a", "b"}),
                         BROOK_OK);
        assert_int_equal(brook__cache_evictions(c), 1);
        assert_false(gcomplete(c, ts, "k", 0));
        assert_false(gcomplete(c, ts, "k", 101));
        assert_string_equal(gget(c, ts, "k", 150), "miss");
        assert_string_equal(gget(c, ts, "k", 200), "b");
        brook__cache_destroy(c);
        tstore_destroy(ts);
}

/* A fill's own puts evict a dirty window of the key (written down) before
 * the fill reaches it: the value the fill read before is stale for it, so
 * the fill stops there, caches nothing more and claims nothing; the
 * window's reads go below, to what was written. For a delete and for a
 * new value. */
static void fill_stale(const char *dirty)
{
        size_t gb = group_bytes();
        /* Room for two groups and two windows. */
        brook__cache_t *c = brook__cache_new(2 * gb + 2 * GENTRY);
        recorder_t r = {0};
        tstore_t *ts = wstore_new(c, &r);
        gkey_t k200 = wk("k", 200);
        brook_buf_t *out = brook_buf_new();

        assert_int_equal(
                ts->mem_ops->put(ts->mem, k200.b, k200.n, "o", 1, NULL, 0),
                BROOK_OK);
        gput(c, ts, "k", 200, dirty);
        gput(c, ts, "j", 100, "x");
        /* Read before the puts: k@100=a, k@200=o. Putting k@100 evicts the
         * least recently used, dirty k@200. */
        assert_int_equal(gfill(c, ts, "k", 100, 2, (int64_t[]){100, 200},
                               (const char *[]){"a", "o"}),
                         BROOK_OK);
        assert_int_equal(brook__cache_evictions(c), 1);
        assert_int_equal(r.cnt, 1);
        assert_false(gcomplete(c, ts, "k", 100));
        assert_string_equal(gget(c, ts, "k", 200), "miss");
        assert_string_equal(gget(c, ts, "k", 100), "a");
        if (dirty) {
                assert_int_equal(
                        ts->mem_ops->get(ts->mem, k200.b, k200.n, out, NULL, 0),
                        BROOK_OK);
                assert_int_equal(brook_buf_len(out), strlen(dirty));
                assert_memory_equal(brook_buf_data(out), dirty, strlen(dirty));
        } else {
                assert_int_equal(
                        ts->mem_ops->get(ts->mem, k200.b, k200.n, out, NULL, 0),
                        BROOK_ERR_NOT_FOUND);
        }
        brook_buf_destroy(out);
        brook__cache_destroy(c);
        tstore_destroy(ts);
}

static void test_group_fill_stale(void **state)
{
        (void)state;
        fill_stale(NULL);
        fill_stale("n");
}

/* ------------------------------------- what is below and what went out */

static brook__storedef_t segwin_def = {.name = "sw",
                                       .kind = BROOK__STORE_WINDOW,
                                       .retention_ms = 1000000,
                                       .segment_ms = 100000};

/* A processor downstream of an eviction reads another store's range: its
 * pending entries are written down. */
static void write_other_pending(recorder_t *r, brook__store_t *st,
                                const char *key)
{
        (void)st;
        (void)key;
        assert_int_equal(brook__cache_write_pending(r->cache, &r->other->st),
                         BROOK_OK);
}

/* A group fill puts what it read before it started. When a call out in
 * the middle writes a delete of one of those keys down, the stale value
 * read must not make the cache take the key for present below: a later
 * delete of it would then be forwarded although nothing was ever. (A
 * review found this in the first version of the "present" flag.) */
static void test_stale_fill_not_present(void **state)
{
        brook__cache_t *c = brook__cache_new(156 + group_bytes());
        recorder_t rs = {0}, rx = {0};
        tstore_t *s = tstore_new(c, &rs), *x = tstore_new(c, &rx);
        const brook_kvstore_supplier_t *sup = brook_kvstore_in_memory();
        brook_kvstore_open_t info = {.store = "sw", .task_id = "0_0"};
        const brook_kvstore_ops_t *ops;
        gkey_t k0 = wk("k", 100), k = wk("k", 200);
        brook__kvsnap_t *snap;
        brook_buf_t *b = brook_buf_new();
        char errstr[128];
        void *inner;
        (void)state;

        assert_int_equal(sup->open(&info, sup->opaque, &inner, &ops, errstr,
                                   sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook__segmented_wrap(&segwin_def, &inner, &ops,
                                               errstr, sizeof errstr),
                         BROOK_OK);
        brook__segmented_set_cached(inner);
        s->st.def = &segwin_def;
        s->st.inner = inner;
        s->st.ops = ops;
        rx.cache = c;
        rx.other = s;
        rx.then = write_other_pending;

        put(c, x, "x", "1", 1); /* the least recently used */
        gput(c, s, "k", 200, "V");
        assert_int_equal(brook__cache_write_pending(c, &s->st), BROOK_OK);
        gput(c, s, "k", 200, NULL); /* V is below, never forwarded */
        assert_int_equal(ops->put(inner, k0.b, k0.n, "a", 1, NULL, 0),
                         BROOK_OK);
        /* k's group as read below: k0=a, k=V. Putting k0 evicts x, whose
         * forward writes k's delete down; then k=V is put, stale. */
        snap = brook__kvsnap_new();
        brook__kvsnap_add(snap, k0.b, k0.n, "a", 1);
        brook__kvsnap_add(snap, k.b, k.n, "V", 1);
        assert_int_equal(brook__cache_group_fill(c, &s->st, "k", 1, 0, snap, 0),
                         BROOK_OK);
        brook__kvsnap_free(snap);
        assert_int_equal(rx.cnt, 1);
        assert_int_equal(ops->get(inner, k.b, k.n, b, NULL, 0),
                         BROOK_ERR_NOT_FOUND);
        gput(c, s, "k", 200, "W");
        gput(c, s, "k", 200, NULL);
        assert_int_equal(brook__cache_flush(c, &s->st), BROOK_OK);
        assert_int_equal(rs.cnt, 0);

        brook_buf_destroy(b);
        brook__cache_drop(c, &s->st);
        brook__cache_drop(c, &x->st);
        brook__cache_destroy(c);
        ops->close(inner);
        tstore_destroy(s);
        tstore_destroy(x);
}

/* A value that went downstream is followed by its delete, even when
 * write_pending wrote the delete below before the flush and the key was
 * written and deleted again since (the flush once read below, found
 * nothing and forwarded nothing: downstream kept V). Kafka Streams reads
 * the value its last flush wrote, V, and forwards the delete. */
static void test_forwarded_value_gets_tombstone(void **state)
{
        brook__cache_t *c = brook__cache_new(1 << 20);
        recorder_t r = {0};
        tstore_t *s = tstore_new(c, &r);
        (void)state;

        put(c, s, "k", "V", 1);
        assert_int_equal(brook__cache_flush(c, &s->st), BROOK_OK);
        assert_int_equal(r.cnt, 1);
        put(c, s, "k", NULL, 2);
        assert_int_equal(brook__cache_write_pending(c, &s->st), BROOK_OK);
        assert_int_equal(s->puts, 2);
        put(c, s, "k", "W", 3);
        put(c, s, "k", NULL, 4);
        assert_int_equal(brook__cache_flush(c, &s->st), BROOK_OK);
        assert_int_equal(r.cnt, 2);
        assert_string_equal(r.recs[1].key, "k");
        assert_true(r.recs[1].tombstone);
        assert_int_equal(r.recs[1].ts, 4);
        /* Once the delete went out, a put and delete between flushes
         * leave nothing to forward. */
        put(c, s, "k", "X", 5);
        put(c, s, "k", NULL, 6);
        assert_int_equal(brook__cache_flush(c, &s->st), BROOK_OK);
        assert_int_equal(r.cnt, 2);
        brook__cache_destroy(c);
        tstore_destroy(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_collapse),
                cmocka_unit_test(test_get_and_clean_put),
                cmocka_unit_test(test_eviction_order),
                cmocka_unit_test(test_hits_keep_lru_order),
                cmocka_unit_test(test_prefetch_changes_nothing),
                cmocka_unit_test(test_zero_budget),
                cmocka_unit_test(test_tombstones),
                cmocka_unit_test(test_write_pending),
                cmocka_unit_test(test_two_stores),
                cmocka_unit_test(test_drop),
                cmocka_unit_test(test_reentrant_flush),
                cmocka_unit_test(test_reentrant_same_store),
                cmocka_unit_test(test_many),
                cmocka_unit_test(test_value_sizes_change),
                cmocka_unit_test(test_group_complete),
                cmocka_unit_test(test_group_iter),
                cmocka_unit_test(test_group_eviction_narrows),
                cmocka_unit_test(test_group_idle),
                cmocka_unit_test(test_group_fill_evicted),
                cmocka_unit_test(test_group_fill_stale),
                cmocka_unit_test(test_stale_fill_not_present),
                cmocka_unit_test(test_forwarded_value_gets_tombstone),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
