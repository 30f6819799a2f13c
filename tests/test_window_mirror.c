/*
 * The window mirror (statestore/wmirror.c): the in-memory copy of a
 * stream-stream join's window stores that the join's lookups read instead
 * of RocksDB.
 *
 * First the mirror on its own: order, replacement, deletes, the floor as
 * retention and the budget raise it, eviction across mirrors, loading.
 * Then joins through the test driver, whose outputs must not depend on
 * the mirror: the same generated inputs (out of order, late, repeated
 * keys) through inner, left and outer joins with the mirror off, with a
 * budget so small that it evicts all the time (lookups then read RocksDB),
 * and with the default; under exactly-once with aborted transactions too
 * (the batch is discarded, the stores reopen and the mirror reloads from
 * what was committed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_int.h"

/* ------------------------------------------------------------ helpers */

/* A window bytes key: key, start, sequence number. */
static size_t wkey(unsigned char *buf, const char *key, int64_t start,
                   uint32_t seq)
{
        size_t n = strlen(key);

        memcpy(buf, key, n);
        brook__be_put(buf + n, (uint64_t)start, 8);
        brook__be_put(buf + n + 8, seq, 4);
        return n + 12;
}

static void put(brook__wmirror_t *m, const char *key, int64_t start,
                uint32_t seq, const char *value)
{
        unsigned char k[64];
        size_t n = wkey(k, key, start, seq);

        brook__wmirror_put(m, k, n, value, value ? strlen(value) : 0);
}

/* What a fetch returns, as "start/seq=value,...". */
static void fetch(brook__wmirror_t *m, const char *key, int64_t from,
                  int64_t to, bool reverse, char *out, size_t size)
{
        brook_kvbytes_iter_t *it =
                brook__wmirror_fetch(m, key, strlen(key), from, to, reverse);
        const void *k, *v;
        size_t ksz, vsz, n = 0;
        char why[128];

        out[0] = '\0';
        while (!it->next(it, &k, &ksz, &v, &vsz, why, sizeof why)) {
                const unsigned char *sfx = (const unsigned char *)k + ksz - 12;
                assert_true(n + vsz + 40 < size);
                assert_int_equal(ksz - 12, strlen(key));
                assert_memory_equal(k, key, ksz - 12);
                n += (size_t)snprintf(out + n, size - n, "%" PRId64 "/%u=%.*s,",
                                      (int64_t)brook__be_get(sfx, 8),
                                      (unsigned)brook__be_get(sfx + 8, 4),
                                      (int)vsz, (const char *)v);
        }
        it->destroy(it);
}

/* ------------------------------------------------------- the mirror */

/* Entries of a key come back by start then sequence number, whatever the
 * order of the puts; a put of the same start and sequence number replaces
 * the entry; a NULL value deletes that exact entry. */
static void test_order_replace_delete(void **state)
{
        brook__wmbudget_t *b = brook__wmbudget_new(1 << 20);
        brook__wmirror_t *m = brook__wmirror_new(b);
        char out[512];

        (void)state;
        /* Cold: puts are not kept until it is loaded. */
        put(m, "a", 10, 1, "x");
        assert_false(brook__wmirror_loaded(m));
        assert_int_equal(brook__wmirror_entries(m), 0);
        brook__wmirror_load_begin(m, 0);
        brook__wmirror_load_done(m);
        assert_true(brook__wmirror_loaded(m));

        put(m, "a", 20, 2, "a20");
        put(m, "a", 10, 1, "a10");
        put(m, "a", 30, 3, "a30");
        put(m, "a", 20, 4, "a20b");
        put(m, "b", 20, 5, "b20");
        put(m, "aa", 20, 6, "aa20");
        assert_int_equal(brook__wmirror_entries(m), 6);
        fetch(m, "a", 0, 100, false, out, sizeof out);
        assert_string_equal(out, "10/1=a10,20/2=a20,20/4=a20b,30/3=a30,");
        fetch(m, "a", 0, 100, true, out, sizeof out);
        assert_string_equal(out, "30/3=a30,20/4=a20b,20/2=a20,10/1=a10,");
        /* Both bounds are inclusive. */
        fetch(m, "a", 20, 20, false, out, sizeof out);
        assert_string_equal(out, "20/2=a20,20/4=a20b,");
        fetch(m, "a", 21, 29, false, out, sizeof out);
        assert_string_equal(out, "");
        fetch(m, "c", 0, 100, false, out, sizeof out);
        assert_string_equal(out, "");

        /* Replace the newest, a middle one and the oldest. */
        put(m, "a", 30, 3, "A30");
        put(m, "a", 20, 2, "A20");
        put(m, "a", 10, 1, "A10");
        assert_int_equal(brook__wmirror_entries(m), 6);
        fetch(m, "a", 0, 100, false, out, sizeof out);
        assert_string_equal(out, "10/1=A10,20/2=A20,20/4=a20b,30/3=A30,");

        /* Deletes: exact entries only. */
        put(m, "a", 20, 3, NULL);
        assert_int_equal(brook__wmirror_entries(m), 6);
        put(m, "a", 20, 2, NULL);
        put(m, "a", 30, 3, NULL);
        put(m, "b", 20, 5, NULL);
        assert_int_equal(brook__wmirror_entries(m), 3);
        fetch(m, "a", 0, 100, false, out, sizeof out);
        assert_string_equal(out, "10/1=A10,20/4=a20b,");
        fetch(m, "b", 0, 100, false, out, sizeof out);
        assert_string_equal(out, "");
        fetch(m, "aa", 0, 100, false, out, sizeof out);
        assert_string_equal(out, "20/6=aa20,");

        brook__wmirror_free(m);
        assert_int_equal(brook__wmbudget_bytes(b), 0);
        brook__wmbudget_destroy(b);
}

/* Many keys: the table grows, and keys removed (their last entry
 * expired) leave every other key reachable. */
static void test_many_keys_expire(void **state)
{
        brook__wmbudget_t *b = brook__wmbudget_new(64 << 20);
        brook__wmirror_t *m = brook__wmirror_new(b);
        char key[16], want[64], out[512];
        int i;

        (void)state;
        brook__wmirror_load_begin(m, 0);
        brook__wmirror_load_done(m);
        for (i = 0; i < 5000; i++) {
                snprintf(key, sizeof key, "k%d", i % 1000);
                snprintf(want, sizeof want, "v%d", i);
                put(m, key, i, (uint32_t)i, want);
        }
        assert_int_equal(brook__wmirror_entries(m), 5000);
        /* Expire everything before 4500: keys k0..k499 keep one entry,
         * the others one too (4500..4999 covers every key once). */
        brook__wmirror_expire(m, 4500);
        assert_int_equal(brook__wmirror_floor(m), 4500);
        assert_int_equal(brook__wmirror_entries(m), 500);
        /* Keys k500..k999 keep their entry at 4000 + i; k0..k499 had
         * theirs at 4000..4499, expired. */
        for (i = 0; i < 1000; i++) {
                snprintf(key, sizeof key, "k%d", i);
                fetch(m, key, 4500, 10000, false, out, sizeof out);
                if (i < 500) {
                        assert_string_equal(out, "");
                        continue;
                }
                snprintf(want, sizeof want, "%d/%d=v%d,", 4000 + i, 4000 + i,
                         4000 + i);
                assert_string_equal(out, want);
        }
        brook__wmirror_free(m);
        brook__wmbudget_destroy(b);
}

/* The table under churn: keys put and deleted in a scrambled order, the
 * table growing to 3/4 full and keys leaving from anywhere in their probe
 * runs (wrap-around included), keep every present key reachable and every
 * absent one absent: each slot's hash tag moves with it. Its bytes go
 * back to the budget when the mirror is freed. */
static void test_table_churn(void **state)
{
        enum { KEYS = 6000, STEPS = 60000 };
        brook__wmbudget_t *b = brook__wmbudget_new(64 << 20);
        brook__wmirror_t *m = brook__wmirror_new(b);
        static bool present[KEYS];
        char key[16], want[64], out[128];
        uint32_t x = 12345;
        uint64_t cnt = 0;
        int i, k;

        (void)state;
        brook__wmirror_load_begin(m, 0);
        brook__wmirror_load_done(m);
        for (i = 0; i < STEPS; i++) {
                x = x * 1103515245u + 12345u;
                k = (int)((x >> 8) % KEYS);
                snprintf(key, sizeof key, "key-%d", k);
                put(m, key, 100, (uint32_t)k, present[k] ? NULL : "v");
                present[k] = !present[k];
                cnt += present[k] ? 1 : (uint64_t)-1;
        }
        assert_true(cnt > KEYS / 4);
        assert_int_equal(brook__wmirror_entries(m), cnt);
        for (k = 0; k < KEYS; k++) {
                snprintf(key, sizeof key, "key-%d", k);
                fetch(m, key, 0, 1000, false, out, sizeof out);
                if (present[k])
                        snprintf(want, sizeof want, "100/%d=v,", k);
                else
                        want[0] = '\0';
                assert_string_equal(out, want);
        }
        brook__wmirror_free(m);
        assert_int_equal(brook__wmbudget_bytes(b), 0);
        brook__wmbudget_destroy(b);
}

/* Past the budget the oldest entries go first and the floor rises past
 * them; a mirror below its share takes from the largest. */
static void test_budget(void **state)
{
        brook__wmbudget_t *b = brook__wmbudget_new(16 * 1024);
        brook__wmirror_t *m = brook__wmirror_new(b), *o = brook__wmirror_new(b);
        char val[200], *out = malloc(1 << 16);
        uint64_t evicted;
        int i;

        (void)state;
        memset(val, 'v', sizeof val - 1);
        val[sizeof val - 1] = '\0';
        brook__wmirror_load_begin(m, 0);
        brook__wmirror_load_done(m);
        brook__wmirror_load_begin(o, 0);
        brook__wmirror_load_done(o);
        for (i = 0; i < 400; i++)
                put(m, "k", i, (uint32_t)i, val);
        assert_true(brook__wmbudget_bytes(b) <= 16 * 1024);
        assert_true(brook__wmirror_evicted(m) > 0);
        /* Every entry at or after the floor is there, none before. */
        assert_int_equal(brook__wmirror_floor(m),
                         400 - (int64_t)brook__wmirror_entries(m));
        fetch(m, "k", 0, 1000, false, out, 1 << 16);
        {
                size_t commas = 0;
                for (char *p = out; *p; p++)
                        commas += *p == ',';
                assert_int_equal(commas, brook__wmirror_entries(m));
        }
        assert_non_null(strstr(out, "399/399="));
        /* The other mirror, below its half, takes from the largest: m. */
        evicted = brook__wmirror_evicted(m);
        for (i = 0; i < 20; i++)
                put(o, "j", i, (uint32_t)i, val);
        assert_true(brook__wmbudget_bytes(b) <= 16 * 1024);
        assert_int_equal(brook__wmirror_entries(o), 20);
        assert_int_equal(brook__wmirror_evicted(o), 0);
        assert_int_equal(brook__wmirror_floor(o), 0);
        assert_true(brook__wmirror_evicted(m) >= evicted + 15);
        /* Both putting: even shares, within a chunk or two. */
        for (i = 0; i < 200; i++) {
                put(o, "j", 20 + i, (uint32_t)(20 + i), val);
                put(m, "k", 400 + i, (uint32_t)(400 + i), val);
        }
        assert_true(brook__wmirror_entries(o) + 8 >= brook__wmirror_entries(m));
        assert_true(brook__wmirror_entries(m) + 8 >= brook__wmirror_entries(o));
        assert_true(brook__wmirror_entries(o) >= 20);
        /* An entry larger than the whole budget is not kept. */
        {
                char *big = malloc(20000);
                memset(big, 'b', 19999);
                big[19999] = '\0';
                put(o, "j", 100, 100, big);
                free(big);
        }
        assert_true(brook__wmbudget_bytes(b) <= 16 * 1024);
        assert_true(brook__wmirror_floor(o) > 100);
        brook__wmirror_free(m);
        brook__wmirror_free(o);
        free(out);
        assert_int_equal(brook__wmbudget_bytes(b), 0);
        brook__wmbudget_destroy(b);
}

/* Loading takes entries at or after the floor, in any order, and puts
 * them in time order: the budget then keeps the newest. */
static void test_load(void **state)
{
        brook__wmbudget_t *b = brook__wmbudget_new(1 << 20);
        brook__wmirror_t *m = brook__wmirror_new(b);
        unsigned char k[64];
        char out[512];
        size_t n;

        (void)state;
        brook__wmirror_load_begin(m, 100);
        n = wkey(k, "a", 300, 2);
        brook__wmirror_load_add(m, k, n, "a300", 4);
        n = wkey(k, "a", 99, 1);
        brook__wmirror_load_add(m, k, n, "a99", 3);
        n = wkey(k, "a", 100, 3);
        brook__wmirror_load_add(m, k, n, "a100", 4);
        n = wkey(k, "b", 200, 4);
        brook__wmirror_load_add(m, k, n, "b200", 4);
        /* Too short to be a window key: skipped. */
        brook__wmirror_load_add(m, "x", 1, "?", 1);
        assert_false(brook__wmirror_loaded(m));
        brook__wmirror_load_done(m);
        assert_true(brook__wmirror_loaded(m));
        assert_int_equal(brook__wmirror_floor(m), 100);
        assert_int_equal(brook__wmirror_entries(m), 3);
        fetch(m, "a", 100, 1000, false, out, sizeof out);
        assert_string_equal(out, "100/3=a100,300/2=a300,");
        /* Reset: cold and empty. */
        brook__wmirror_reset(m);
        assert_false(brook__wmirror_loaded(m));
        assert_int_equal(brook__wmirror_entries(m), 0);
        assert_int_equal(brook__wmbudget_bytes(b), 0);
        brook__wmirror_free(m);
        brook__wmbudget_destroy(b);
}

/* ------------------------------------------------------- holding */

/* What a holding mirror spilled, as "key@start/seq=value,...". */
struct spills {
        char log[4096];
        size_t n;
        int cnt;
};

static void spill_cb(void *ctx, const void *key, size_t key_size, int64_t start,
                     uint32_t seq, const void *value, size_t value_size)
{
        struct spills *sp = ctx;
        /* Filler ("x") is counted only. */
        if (!(key_size == 1 && *(const char *)key == 'x')) {
                int w = snprintf(sp->log + sp->n, sizeof sp->log - sp->n,
                                 "%.*s@%" PRId64 "/%u=%.*s,", (int)key_size,
                                 (const char *)key, start, (unsigned)seq,
                                 (int)value_size, (const char *)value);
                assert_true(w > 0 && (size_t)w < sizeof sp->log - sp->n);
                sp->n += (size_t)w;
        }
        sp->cnt++;
}

static void put_held(brook__wmirror_t *m, const char *key, int64_t start,
                     uint32_t seq, const char *value)
{
        unsigned char k[64];
        size_t n = wkey(k, key, start, seq);

        assert_true(brook__wmirror_holds(m, k, n));
        brook__wmirror_put_held(m, k, n, value, strlen(value));
}

#define HOLD_MAX_MS (10 * 60 * 1000)

/* Each flush records the offset before the oldest epoch that still holds
 * an entry; entries held past ten minutes of wall clock go below at a
 * flush; a lookup that reads below ends holding. */
static void test_holding_offsets(void **state)
{
        brook__wmbudget_t *b = brook__wmbudget_new(1 << 20);
        brook__wmirror_t *m = brook__wmirror_new(b);
        struct spills sp = {0};
        unsigned char k[64];
        char out[512];
        size_t n;

        (void)state;
        brook__wmirror_set_spill(m, spill_cb, &sp);
        n = wkey(k, "a", 10, 0);
        /* Cold, then loaded but not primed: nothing is held. */
        assert_false(brook__wmirror_holds(m, k, n));
        brook__wmirror_load_begin(m, 0);
        brook__wmirror_load_done(m);
        assert_false(brook__wmirror_holds(m, k, n));
        assert_int_equal(brook__wmirror_flushed(m, 90, 0), 90);
        brook__wmirror_reset(m);
        brook__wmirror_load_begin(m, 0);
        brook__wmirror_load_done(m);
        brook__wmirror_prime(m, 100, 0);
        put_held(m, "a", 10, 0, "A");
        put_held(m, "b", 11, 0, "B");
        /* Epoch 0 (from 100) holds a and b. */
        assert_int_equal(brook__wmirror_flushed(m, 200, 1000), 100);
        put_held(m, "c", 12, 0, "C");
        assert_int_equal(brook__wmirror_flushed(m, 300, 2000), 100);
        /* b expires: epoch 0 still holds a. */
        put(m, "a", 10, 0, "A2");
        assert_int_equal(brook__wmirror_flushed(m, 350, 2500), 100);
        /* a's replacement went below (a durable put): epochs 0 and 1 hold
         * nothing... b still. Drop b by expiring past it. */
        brook__wmirror_expire(m, 12);
        assert_int_equal(sp.cnt, 0);
        /* Epoch 1 (from 200) holds c. */
        assert_int_equal(brook__wmirror_flushed(m, 400, 3000), 200);
        put_held(m, "d", 20, 0, "D");
        /* Ten minutes after epoch 1 began: c goes below, d (epoch 4,
         * begun at 3000) stays. */
        assert_int_equal(brook__wmirror_flushed(m, 500, 1000 + HOLD_MAX_MS + 1),
                         400);
        assert_string_equal(sp.log, "c@12/0=C,");
        fetch(m, "c", 0, 100, false, out, sizeof out);
        assert_string_equal(out, "12/0=C,");
        /* A lookup that must read below spills d and ends holding. */
        brook__wmirror_sync(m);
        assert_string_equal(sp.log, "c@12/0=C,d@20/0=D,");
        assert_int_equal(brook__wmirror_flushed(m, 600, 4000), 600);
        n = wkey(k, "e", 30, 0);
        assert_false(brook__wmirror_holds(m, k, n));
        brook__wmirror_sync(m);
        assert_int_equal(sp.cnt, 2);
        brook__wmirror_free(m);
        brook__wmbudget_destroy(b);
}

/* Commits less than a second apart share an epoch: what is put after the
 * second replays from the first's offset. */
static void test_holding_short_epochs(void **state)
{
        brook__wmbudget_t *b = brook__wmbudget_new(1 << 20);
        brook__wmirror_t *m = brook__wmirror_new(b);
        struct spills sp = {0};

        (void)state;
        brook__wmirror_set_spill(m, spill_cb, &sp);
        brook__wmirror_load_begin(m, 0);
        brook__wmirror_load_done(m);
        brook__wmirror_prime(m, 0, 0);
        put_held(m, "x", 100, 0, "X");
        assert_int_equal(brook__wmirror_flushed(m, 10, 100), 0);
        put_held(m, "y", 101, 0, "Y");
        assert_int_equal(brook__wmirror_flushed(m, 20, 600), 0);
        /* A second on: y is in the first epoch too. */
        assert_int_equal(brook__wmirror_flushed(m, 30, 1200), 0);
        brook__wmirror_expire(m, 101);
        assert_int_equal(brook__wmirror_flushed(m, 40, 1300), 0);
        brook__wmirror_expire(m, 102);
        assert_int_equal(brook__wmirror_flushed(m, 50, 1400), 50);
        /* An empty epoch starts over at each commit. */
        put_held(m, "z", 200, 0, "Z");
        assert_int_equal(brook__wmirror_flushed(m, 60, 1500), 50);
        assert_int_equal(sp.cnt, 0);
        brook__wmirror_free(m);
        brook__wmbudget_destroy(b);
}

/* A held entry put late sits behind the floor the budget raised; a newer
 * write of the same window goes below, and the held copy must not be
 * spilled over it when it reaches the head. */
static void test_holding_below_floor(void **state)
{
        brook__wmbudget_t *b = brook__wmbudget_new(8 * 1024);
        brook__wmirror_t *m = brook__wmirror_new(b);
        struct spills sp = {0};
        char val[100];
        int i;

        (void)state;
        memset(val, 'v', sizeof val - 1);
        val[sizeof val - 1] = '\0';
        brook__wmirror_set_spill(m, spill_cb, &sp);
        brook__wmirror_load_begin(m, 0);
        brook__wmirror_load_done(m);
        brook__wmirror_prime(m, 0, 0);
        /* Entries go a chunk (1 KiB, about 5 of them) at a time: late's
         * is the third. */
        put_held(m, "k", 1000, 0, "new");
        for (i = 0; i < 12; i++)
                put_held(m, "x", 2000 + i, (uint32_t)i, val);
        put_held(m, "late", 5, 0, "old");
        /* Fill the budget: the floor rises past 1000 as k's chunk goes. */
        for (; brook__wmirror_floor(m) <= 1000; i++)
                put_held(m, "x", 2000 + i, (uint32_t)i, val);
        assert_string_equal(sp.log, "k@1000/0=new,");
        assert_true(brook__wmirror_floor(m) < 2012);
        /* late@5 is still held, behind the floor: its window is written
         * again below (a durable put, as seg_put makes under the floor). */
        put(m, "late", 5, 0, "newer");
        /* The budget drops the entries before it, then it: nothing is
         * spilled over "newer". */
        brook__wmirror_expire(m, 6);
        for (i = 0; i < 200; i++)
                put_held(m, "x", 3000 + i, (uint32_t)(1000 + i), val);
        assert_true(sp.cnt > 100);
        assert_string_equal(sp.log, "k@1000/0=new,");
        brook__wmirror_free(m);
        brook__wmbudget_destroy(b);
}

/* ------------------------------------------------------- joins */

static void *joiner(const brook_record_t *rec, void *left, void *right,
                    void *opaque)
{
        size_t n = (left ? strlen(left) : 4) + (right ? strlen(right) : 4) + 4;
        char *out = brook_record_alloc(rec, n);

        (void)opaque;
        snprintf(out, n, "%s+%s", left ? (char *)left : "null",
                 right ? (char *)right : "null");
        return out;
}

typedef enum { J_INNER, J_LEFT, J_OUTER } jkind_t;

static brook_test_driver_t *join_driver(jkind_t kind, const char *budget,
                                        bool eos)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *l = brook_stream(b, "left", NULL);
        brook_stream_t *r = brook_stream(b, "right", NULL);
        brook_join_windows_t w = brook_join_windows(50, 100);
        brook_conf_t *conf = brook_conf_new();
        brook_test_driver_t *td;
        brook_stream_t *j;
        char err[512] = "";

        w.before_ms = 30;
        j = kind == J_INNER ? brook_stream_join(l, r, joiner, NULL, &w, NULL)
            : kind == J_LEFT
                    ? brook_stream_left_join(l, r, joiner, NULL, &w, NULL)
                    : brook_stream_outer_join(l, r, joiner, NULL, &w, NULL);
        brook_stream_to(j, "out", NULL);
        assert_null(brook_builder_error(b));
        assert_int_equal(brook_conf_set(conf, "default.key.serde", "string",
                                        err, sizeof err),
                         BROOK_OK);
        assert_int_equal(brook_conf_set(conf, "default.value.serde", "string",
                                        err, sizeof err),
                         BROOK_OK);
        assert_int_equal(brook_conf_set(conf, "join.memory.bytes", budget, err,
                                        sizeof err),
                         BROOK_OK);
        /* Left and outer joins look for closed windows on every record. */
        assert_int_equal(
                brook_conf_set(conf,
                               "__emit.interval.ms.kstreams.outer.join."
                               "spurious.results.fix__",
                               "0", err, sizeof err),
                BROOK_OK);
        if (eos)
                assert_int_equal(brook_conf_set(conf, "processing.guarantee",
                                                "exactly_once_v2", err,
                                                sizeof err),
                                 BROOK_OK);
        td = brook_test_driver_new(b, conf, 0, err, sizeof err);
        if (!td)
                fail_msg("brook_test_driver_new: %s", err);
        brook_test_driver_set_auto_commit(td, false);
        return td;
}

/* xorshift: the same inputs for every run of one seed. */
static uint64_t rnd(uint64_t *s)
{
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

#define JOIN_INPUTS 2000
#define JOIN_OUT    (1 << 20)

/*
 * Pipes JOIN_INPUTS generated records (12 keys, time moving about 4 ms a
 * record with jitter, one in 25 late by up to 200 ms) through a join and
 * returns everything it wrote, one record a line; commits every 50
 * records, aborting every @p abort_every-th commit (0: never).
 */
static void join_run(jkind_t kind, const char *budget, bool eos,
                     int abort_every, uint64_t seed, char *out)
{
        brook_test_driver_t *td = join_driver(kind, budget, eos);
        brook_test_record_t rec;
        char key[16], value[32], err[512] = "";
        int64_t t = 1000;
        size_t n = 0;
        int i, commits = 0;

        out[0] = '\0';
        for (i = 0; i < JOIN_INPUTS; i++) {
                bool left = rnd(&seed) % 2;
                int64_t ts;

                t += (int64_t)(rnd(&seed) % 9);
                ts = t + (int64_t)(rnd(&seed) % 20);
                if (rnd(&seed) % 25 == 0)
                        ts -= (int64_t)(rnd(&seed) % 200);
                snprintf(key, sizeof key, "k%d", (int)(rnd(&seed) % 12));
                snprintf(value, sizeof value, "%c%d", left ? 'L' : 'R', i);
                if (brook_test_driver_pipe(td, left ? "left" : "right", key,
                                           strlen(key), value, strlen(value),
                                           ts, NULL, 0, err, sizeof err))
                        fail_msg("pipe: %s", err);
                if ((i + 1) % 50)
                        continue;
                if (abort_every && ++commits % abort_every == 0)
                        brook__td_fail_next(td, BROOK__TD_FAIL_COMMIT_ABORT);
                if (brook_test_driver_commit(td, err, sizeof err))
                        fail_msg("commit: %s", err);
                while (brook_test_driver_read(td, "out", &rec))
                        n += (size_t)snprintf(
                                out + n, JOIN_OUT - n,
                                "%.*s %.*s @%" PRId64 "\n", (int)rec.key_size,
                                (const char *)rec.key, (int)rec.value_size,
                                (const char *)rec.value, rec.timestamp);
        }
        if (abort_every)
                assert_true(brook__td_aborts(td) > 0);
        brook_test_driver_destroy(td);
        assert_true(n < JOIN_OUT - 1);
}

static void check_join(jkind_t kind, bool eos, int abort_every)
{
        char *want = malloc(JOIN_OUT), *got = malloc(JOIN_OUT);
        uint64_t served0, fallbacks0, served1, fallbacks1, served2, fallbacks2;
        uint64_t held0, spilled0, held1, spilled1, held2, spilled2;
        uint64_t seed;

        for (seed = 1; seed <= 2; seed++) {
                join_run(kind, "0", eos, abort_every, seed * 7919, want);
                assert_true(strlen(want) > 1000);
                brook__wmirror_totals(&served0, &fallbacks0);
                brook__wmirror_held_totals(&held0, &spilled0);
                /* The default: every lookup from the mirror, and nearly
                 * every record held in memory only (those before the
                 * first lookup of each store go to RocksDB), none
                 * written to RocksDB later: they expire in memory. */
                join_run(kind, "33554432", eos, abort_every, seed * 7919, got);
                assert_string_equal(got, want);
                brook__wmirror_totals(&served1, &fallbacks1);
                brook__wmirror_held_totals(&held1, &spilled1);
                assert_true(served1 - served0 >= JOIN_INPUTS / 2);
                assert_int_equal(fallbacks1 - fallbacks0, 0);
                assert_true(held1 - held0 > JOIN_INPUTS * 9 / 10);
                assert_int_equal(spilled1 - spilled0, 0);
                /* A budget far below the data: held entries go to RocksDB
                 * as they leave, and lookups that reach back past what it
                 * kept read RocksDB. */
                join_run(kind, "3000", eos, abort_every, seed * 7919, got);
                assert_string_equal(got, want);
                brook__wmirror_totals(&served2, &fallbacks2);
                brook__wmirror_held_totals(&held2, &spilled2);
                assert_true(fallbacks2 - fallbacks1 > 100);
                assert_true(served2 - served1 > 100);
                /* Held until the first lookup read RocksDB, then the
                 * puts went there: the budget cannot hold the window. */
                assert_true(held2 - held1 > 0);
                assert_true(spilled2 - spilled1 > 0);
                assert_true(held2 - held1 < JOIN_INPUTS / 4);
        }
        free(want);
        free(got);
}

static void test_inner_join(void **state)
{
        (void)state;
        check_join(J_INNER, false, 0);
}

static void test_left_join(void **state)
{
        (void)state;
        check_join(J_LEFT, false, 0);
}

static void test_outer_join(void **state)
{
        (void)state;
        check_join(J_OUTER, false, 0);
}

/* Aborted transactions discard the batch: the mirror must not answer
 * with what the stores below no longer hold. */
static void test_outer_join_aborts(void **state)
{
        (void)state;
        check_join(J_OUTER, true, 3);
}

static void test_inner_join_aborts(void **state)
{
        (void)state;
        check_join(J_INNER, true, 2);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_order_replace_delete),
                cmocka_unit_test(test_many_keys_expire),
                cmocka_unit_test(test_table_churn),
                cmocka_unit_test(test_budget),
                cmocka_unit_test(test_load),
                cmocka_unit_test(test_holding_offsets),
                cmocka_unit_test(test_holding_short_epochs),
                cmocka_unit_test(test_holding_below_floor),
                cmocka_unit_test(test_inner_join),
                cmocka_unit_test(test_left_join),
                cmocka_unit_test(test_outer_join),
                cmocka_unit_test(test_outer_join_aborts),
                cmocka_unit_test(test_inner_join_aborts),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
