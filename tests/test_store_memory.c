/*
 * Unit tests of the in-memory inner store, through its ops table as the
 * layers above use it: point reads and writes, bytewise key order, ranges,
 * snapshots that survive the owner's writes, and queries from other threads
 * while the owner writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "store_int.h"

/* A key or value of explicit length (keys below contain NUL bytes). */
typedef struct bytes {
        const char *p;
        size_t n;
} bytes_t;

#define B(s)                                                                   \
        {                                                                      \
                s, sizeof(s) - 1                                               \
        }

typedef struct mem {
        void *self;
        const brook_kvstore_ops_t *ops;
} mem_t;

static mem_t mem_open(void)
{
        const brook_kvstore_supplier_t *sup = brook_kvstore_in_memory();
        brook_kvstore_open_t info = {.store = "s", .task_id = "0_0"};
        char errstr[256];
        mem_t m;

        assert_int_equal(sup->open(&info, sup->opaque, &m.self, &m.ops, errstr,
                                   sizeof errstr),
                         BROOK_OK);
        return m;
}

static void put(mem_t *m, bytes_t k, const char *v)
{
        assert_int_equal(
                m->ops->put(m->self, k.p, k.n, v, v ? strlen(v) : 0, NULL, 0),
                BROOK_OK);
}

/* Checks @p k holds exactly @p v (NULL: absent). */
static void check_get(mem_t *m, bytes_t k, const char *v)
{
        brook_buf_t *out = brook_buf_new();
        brook_err_t err;

        brook_buf_append(out, "junk", 4);
        err = m->ops->get(m->self, k.p, k.n, out, NULL, 0);
        if (!v) {
                assert_int_equal(err, BROOK_ERR_NOT_FOUND);
        } else {
                assert_int_equal(err, BROOK_OK);
                assert_int_equal(brook_buf_len(out), strlen(v));
                assert_memory_equal(brook_buf_data(out), v, strlen(v));
        }
        brook_buf_destroy(out);
}

/* Checks range [from, to] (NULL: open) yields exactly @p keys (@p cnt of
 * them), in that order, each with a value. */
static void check_range(mem_t *m, const bytes_t *from, const bytes_t *to,
                        const bytes_t *keys, size_t cnt)
{
        brook_err_t ierr;
        brook_kvbytes_iter_t *it = NULL;
        const void *k, *v;
        size_t ks, vs, i = 0;
        char errstr[64] = "x";

        assert_int_equal(m->ops->range(m->self, from ? from->p : NULL,
                                       from ? from->n : 0, to ? to->p : NULL,
                                       to ? to->n : 0, &it, NULL, 0),
                         BROOK_OK);
        while (!(
                ierr = it->next(it, &k, &ks, &v, &vs, errstr, sizeof errstr))) {
                assert_true(i < cnt);
                assert_int_equal(ks, keys[i].n);
                if (ks)
                        assert_memory_equal(k, keys[i].p, ks);
                assert_non_null(v);
                i++;
        }
        assert_int_equal(i, cnt);
        assert_int_equal(ierr, BROOK_ERR_END);
        it->destroy(it);
}

static void test_get_put_delete(void **state)
{
        mem_t m = mem_open();
        bytes_t a = B("a"), b = B("b"), empty = B("");
        brook_kvbytes_iter_t *it;
        const void *k, *v;
        size_t ks, vs;

        assert_string_equal(m.ops->kind, "in-memory");
        assert_false(m.ops->persistent);
        assert_null(m.ops->stored_offset);
        assert_non_null(m.ops->query_get);
        assert_non_null(m.ops->query_range);

        check_get(&m, a, NULL);
        put(&m, a, "1");
        check_get(&m, a, "1");
        put(&m, a, "longer value");
        check_get(&m, a, "longer value");
        put(&m, a, "2");
        check_get(&m, a, "2");
        check_get(&m, b, NULL);
        assert_int_equal(m.ops->approximate_count(m.self), 1);

        /* NULL deletes; deleting an absent key is fine. */
        put(&m, a, NULL);
        check_get(&m, a, NULL);
        put(&m, b, NULL);
        assert_int_equal(m.ops->approximate_count(m.self), 0);

        /* A zero-length value is a value, not a delete. */
        assert_int_equal(m.ops->put(m.self, a.p, a.n, "", 0, NULL, 0),
                         BROOK_OK);
        check_get(&m, a, "");
        assert_int_equal(m.ops->approximate_count(m.self), 1);
        assert_int_equal(m.ops->range(m.self, NULL, 0, NULL, 0, &it, NULL, 0),
                         BROOK_OK);
        assert_int_equal(it->next(it, &k, &ks, &v, &vs, NULL, 0), BROOK_OK);
        assert_int_equal(ks, 1);
        assert_non_null(v);
        assert_int_equal(vs, 0);
        assert_int_equal(it->next(it, &k, &ks, &v, &vs, NULL, 0),
                         BROOK_ERR_END);
        it->destroy(it);

        /* So is the empty key. */
        put(&m, empty, "e");
        check_get(&m, empty, "e");
        assert_int_equal(m.ops->approximate_count(m.self), 2);
        put(&m, empty, NULL);
        check_get(&m, empty, NULL);

        assert_int_equal(m.ops->flush(m.self, 42, NULL, 0), BROOK_OK);
        check_get(&m, a, "");
        m.ops->close(m.self);
}

/* In bytewise order: a key sorts after its prefixes, and bytes >= 0x80
 * after ASCII. */
static const bytes_t sorted[] = {
        B(""),      B("a"), B("a\x00"), B("ab"),   B("abc"),
        B("a\xff"), B("b"), B("\x7f"),  B("\x80"), B("\xff"),
};
#define SORTED_CNT (sizeof sorted / sizeof sorted[0])

static void test_range_order(void **state)
{
        brook_err_t ierr;
        char errstr[256];
        static const int order[] = {6, 9, 2, 0, 8, 4, 1, 7, 5, 3};
        mem_t m = mem_open();
        bytes_t from, to;

        for (size_t i = 0; i < SORTED_CNT; i++)
                put(&m, sorted[order[i]], "v");
        assert_int_equal(m.ops->approximate_count(m.self), SORTED_CNT);

        check_range(&m, NULL, NULL, sorted, SORTED_CNT);

        /* Closed bounds that are keys: both ends included. */
        from = sorted[1], to = sorted[4];
        check_range(&m, &from, &to, &sorted[1], 4);
        /* Open below, open above. */
        check_range(&m, NULL, &to, &sorted[0], 5);
        from = sorted[5];
        check_range(&m, &from, NULL, &sorted[5], 5);
        /* Bounds that are not keys. */
        from = (bytes_t)B("aa"), to = (bytes_t)B("b\x00");
        check_range(&m, &from, &to, &sorted[3], 4);
        from = (bytes_t)B("\x80\x00"), to = (bytes_t)B("\xfe");
        check_range(&m, &from, &to, NULL, 0);
        /* A single key, present or not. */
        from = to = sorted[7];
        check_range(&m, &from, &to, &sorted[7], 1);
        from = to = (bytes_t)B("abb");
        check_range(&m, &from, &to, NULL, 0);
        /* from > to is empty. */
        from = sorted[6], to = sorted[2];
        check_range(&m, &from, &to, NULL, 0);
        /* Past the last key, before the first. */
        from = (bytes_t)B("\xff\x00");
        check_range(&m, &from, NULL, NULL, 0);
        to = (bytes_t)B("");
        check_range(&m, NULL, &to, &sorted[0], 1);

        /* query_range sees the same. */
        {
                brook_kvbytes_iter_t *it;
                const void *k, *v;
                size_t ks, vs, i = 0;
                assert_int_equal(m.ops->query_range(m.self, NULL, 0, NULL, 0,
                                                    &it, NULL, 0),
                                 BROOK_OK);
                while (!(ierr = it->next(it, &k, &ks, &v, &vs, errstr,
                                         sizeof errstr))) {
                        assert_int_equal(ks, sorted[i].n);
                        if (ks)
                                assert_memory_equal(k, sorted[i].p, ks);
                        i++;
                }
                assert_int_equal(i, SORTED_CNT);
                it->destroy(it);
        }
        m.ops->close(m.self);
}

static void test_count_clear(void **state)
{
        mem_t m = mem_open();
        char key[16];

        for (int i = 0; i < 1000; i++) {
                snprintf(key, sizeof key, "k%04d", i);
                put(&m, (bytes_t){key, strlen(key)}, key);
        }
        assert_int_equal(m.ops->approximate_count(m.self), 1000);
        /* Overwrites do not count; deletes do. */
        for (int i = 0; i < 1000; i += 2) {
                snprintf(key, sizeof key, "k%04d", i);
                put(&m, (bytes_t){key, strlen(key)}, "x");
        }
        assert_int_equal(m.ops->approximate_count(m.self), 1000);
        for (int i = 0; i < 1000; i += 4) {
                snprintf(key, sizeof key, "k%04d", i);
                put(&m, (bytes_t){key, strlen(key)}, NULL);
        }
        assert_int_equal(m.ops->approximate_count(m.self), 750);

        assert_int_equal(m.ops->clear(m.self, NULL, 0), BROOK_OK);
        assert_int_equal(m.ops->approximate_count(m.self), 0);
        check_range(&m, NULL, NULL, NULL, 0);
        check_get(&m, (bytes_t)B("k0001"), NULL);

        /* Usable again after clear. */
        put(&m, (bytes_t)B("k0001"), "again");
        check_get(&m, (bytes_t)B("k0001"), "again");
        assert_int_equal(m.ops->approximate_count(m.self), 1);
        m.ops->close(m.self);
}

/* The owner deletes and overwrites keys while iterating them, as a
 * punctuator purging expired entries does: the iterator still yields what
 * the store held when it was made. */
static void test_iterator_snapshot(void **state)
{
        brook_err_t ierr;
        char errstr[256];
        mem_t m = mem_open();
        brook_kvbytes_iter_t *it;
        const void *k, *v;
        size_t ks, vs;
        char key[16], val[16];
        int i = 0;

        for (int j = 0; j < 100; j++) {
                snprintf(key, sizeof key, "k%03d", j);
                snprintf(val, sizeof val, "v%03d", j);
                put(&m, (bytes_t){key, strlen(key)}, val);
        }
        assert_int_equal(m.ops->range(m.self, NULL, 0, NULL, 0, &it, NULL, 0),
                         BROOK_OK);
        while (!(
                ierr = it->next(it, &k, &ks, &v, &vs, errstr, sizeof errstr))) {
                snprintf(key, sizeof key, "k%03d", i);
                snprintf(val, sizeof val, "v%03d", i);
                assert_int_equal(ks, strlen(key));
                assert_memory_equal(k, key, ks);
                assert_int_equal(vs, strlen(val));
                assert_memory_equal(v, val, vs);
                /* Delete this key, overwrite the next, add one after it. */
                put(&m, (bytes_t){key, strlen(key)}, NULL);
                snprintf(key, sizeof key, "k%03d", i + 1);
                put(&m, (bytes_t){key, strlen(key)}, "overwritten");
                snprintf(key, sizeof key, "k%03d+", i);
                put(&m, (bytes_t){key, strlen(key)}, "new");
                i++;
        }
        assert_int_equal(i, 100);
        it->destroy(it);

        /* What the owner did is all there: k100 and the 100 "+" keys. */
        assert_int_equal(m.ops->approximate_count(m.self), 101);
        check_get(&m, (bytes_t)B("k100"), "overwritten");
        check_get(&m, (bytes_t)B("k050+"), "new");
        check_get(&m, (bytes_t)B("k050"), NULL);
        m.ops->close(m.self);
}

/* ------------------------------------------------ queries from threads */

#define CONC_KEYS 100000

typedef struct conc {
        mem_t m;
        pthread_barrier_t started; /* The two readers and the writer. */
        atomic_bool stop;
        atomic_long errors;
        atomic_long gets, ranges;
        unsigned seed;
} conc_t;

static void enc_key(unsigned char *k, uint64_t i)
{
        for (int b = 7; b >= 0; b--, i >>= 8)
                k[b] = (unsigned char)i;
}

/* A value starts with its key, so a reader can tell a torn or misplaced
 * value; its length varies to exercise reallocation. */
static size_t enc_value(unsigned char *v, uint64_t i, unsigned char version)
{
        size_t n = 9 + i % 5;
        enc_key(v, i);
        memset(v + 8, version, n - 8);
        return n;
}

static bool value_ok(const void *k, const void *v, size_t vs)
{
        const unsigned char *p = v;
        if (vs < 9 || memcmp(k, v, 8))
                return false;
        for (size_t j = 9; j < vs; j++)
                if (p[j] != p[8])
                        return false;
        return p[8] == 1 || p[8] == 2;
}

static void *conc_reader(void *arg)
{
        brook_err_t ierr;
        char errstr[256];
        conc_t *cc = arg;
        unsigned seed = (unsigned)(uintptr_t)&seed;
        brook_buf_t *out = brook_buf_new();

        pthread_barrier_wait(&cc->started);
        while (!atomic_load(&cc->stop)) {
                unsigned char from[8], to[8], prev[8];
                uint64_t i = (uint64_t)rand_r(&seed) % CONC_KEYS;
                brook_kvbytes_iter_t *it;
                const void *k, *v;
                size_t ks, vs;
                bool first = true;
                brook_err_t err;

                enc_key(from, i);
                err = cc->m.ops->query_get(cc->m.self, from, 8, out, NULL, 0);
                if ((err != BROOK_OK && err != BROOK_ERR_NOT_FOUND) ||
                    (err == BROOK_OK &&
                     !value_ok(from, brook_buf_data(out), brook_buf_len(out))))
                        atomic_fetch_add(&cc->errors, 1);
                atomic_fetch_add(&cc->gets, 1);

                enc_key(to, i + 50);
                if (cc->m.ops->query_range(cc->m.self, from, 8, to, 8, &it,
                                           NULL, 0)) {
                        atomic_fetch_add(&cc->errors, 1);
                        continue;
                }
                while (!(ierr = it->next(it, &k, &ks, &v, &vs, errstr,
                                         sizeof errstr))) {
                        if (ks != 8 || memcmp(k, from, 8) < 0 ||
                            memcmp(k, to, 8) > 0 ||
                            (!first && memcmp(prev, k, 8) >= 0) ||
                            !value_ok(k, v, vs))
                                atomic_fetch_add(&cc->errors, 1);
                        memcpy(prev, k, 8);
                        first = false;
                }
                it->destroy(it);
                atomic_fetch_add(&cc->ranges, 1);
        }
        brook_buf_destroy(out);
        return NULL;
}

/* Waits (up to 30 s) until the readers have completed two more gets and
 * two more ranges than when called. */
static void wait_for_readers(conc_t *cc)
{
        long gets = atomic_load(&cc->gets), ranges = atomic_load(&cc->ranges);
        struct timespec t0, now, pause = {0, 100000};
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (atomic_load(&cc->gets) < gets + 2 ||
               atomic_load(&cc->ranges) < ranges + 2) {
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (now.tv_sec - t0.tv_sec > 30)
                        fail_msg("the readers made no progress in 30 s");
                nanosleep(&pause, NULL);
        }
}

static void test_concurrent_queries(void **state)
{
        brook_err_t ierr;
        char errstr[256];
        conc_t cc = {.m = mem_open()};
        pthread_t readers[2];
        unsigned char k[8], v[16];
        brook_kvbytes_iter_t *it;
        const void *kp, *vp;
        size_t ks, vs;
        uint64_t expect = 0, seen = 0;

        assert_int_equal(pthread_barrier_init(&cc.started, NULL, 3), 0);
        for (int t = 0; t < 2; t++)
                assert_int_equal(
                        pthread_create(&readers[t], NULL, conc_reader, &cc), 0);
        /* Both readers run before the first write. */
        pthread_barrier_wait(&cc.started);

        /* Keys go in out of order (a stride coprime with the count), then
         * a third are deleted and a fifth of the rest overwritten. Every
         * 10,000 puts the writer waits until the readers have completed
         * two more gets and ranges, so reads provably overlap the writes
         * however the threads are scheduled. */
        for (uint64_t n = 0; n < CONC_KEYS; n++) {
                uint64_t i = (n * 7919) % CONC_KEYS;
                enc_key(k, i);
                assert_int_equal(cc.m.ops->put(cc.m.self, k, 8, v,
                                               enc_value(v, i, 1), NULL, 0),
                                 BROOK_OK);
                if (n % 10000 == 9999)
                        wait_for_readers(&cc);
        }
        for (uint64_t i = 0; i < CONC_KEYS; i += 3) {
                enc_key(k, i);
                assert_int_equal(
                        cc.m.ops->put(cc.m.self, k, 8, NULL, 0, NULL, 0),
                        BROOK_OK);
        }
        wait_for_readers(&cc);
        for (uint64_t i = 0; i < CONC_KEYS; i += 5) {
                if (i % 3 == 0)
                        continue;
                enc_key(k, i);
                assert_int_equal(cc.m.ops->put(cc.m.self, k, 8, v,
                                               enc_value(v, i, 2), NULL, 0),
                                 BROOK_OK);
        }
        wait_for_readers(&cc);

        atomic_store(&cc.stop, true);
        for (int t = 0; t < 2; t++)
                pthread_join(readers[t], NULL);
        assert_int_equal(pthread_barrier_destroy(&cc.started), 0);
        assert_int_equal(atomic_load(&cc.errors), 0);

        /* Exactly the keys not divisible by 3, in order, with version 2
         * where divisible by 5. */
        assert_int_equal(cc.m.ops->approximate_count(cc.m.self),
                         CONC_KEYS - (CONC_KEYS + 2) / 3);
        assert_int_equal(
                cc.m.ops->range(cc.m.self, NULL, 0, NULL, 0, &it, NULL, 0),
                BROOK_OK);
        while (!(ierr = it->next(it, &kp, &ks, &vp, &vs, errstr,
                                 sizeof errstr))) {
                if (expect % 3 == 0)
                        expect++;
                assert_true(expect < CONC_KEYS);
                enc_key(k, expect);
                assert_int_equal(ks, 8);
                assert_memory_equal(kp, k, 8);
                assert_int_equal(vs,
                                 enc_value(v, expect, expect % 5 == 0 ? 2 : 1));
                assert_memory_equal(vp, v, vs);
                expect++;
                seen++;
        }
        it->destroy(it);
        assert_int_equal(seen, CONC_KEYS - (CONC_KEYS + 2) / 3);
        cc.m.ops->close(cc.m.self);
}

/* A query's iterator over a task's instance (kvstore.c's query handle):
 * it keeps the instance open after the task let go of it, and fails once
 * the task left, naming the store and the task; the last reference, the
 * iterator's, closes the instance (ASan sees a use after free or a leak
 * if either is wrong). */
static void test_query_handle(void **state)
{
        mem_t m = mem_open();
        brook__iqstore_t *h = calloc(1, sizeof *h);
        brook_arena_t *arena = brook_arena_new();
        brook_kvbytes_iter_t *bit = NULL;
        brook_kviter_t *it;
        bytes_t a = B("a"), b = B("b"), c = B("c");
        char errstr[256] = "";
        void *k, *v;

        put(&m, a, "1");
        put(&m, b, "2");
        put(&m, c, "3");
        atomic_init(&h->refs, 1); /* The task's. */
        atomic_init(&h->left, false);
        h->store = strdup("counts");
        h->task_id = strdup("0_1");
        h->partition = 1;
        h->inner = m.self;
        h->ops = m.ops;

        assert_int_equal(
                m.ops->query_range(m.self, NULL, 0, NULL, 0, &bit, NULL, 0),
                BROOK_OK);
        it = brook__kviter_new(brook_serde_string(), brook_serde_string(),
                               false, arena, NULL, 0, NULL, NULL);
        brook__iqstore_ref(h);
        brook__kviter_add_iq(it, bit, h);
        assert_int_equal(brook_kviter_next(it, &k, &v, errstr, sizeof errstr),
                         BROOK_OK);
        assert_string_equal(k, "a");
        assert_string_equal(v, "1");

        /* The task leaves: its reference goes, the instance stays open for
         * the iterator, which now fails, and keeps failing. */
        atomic_store(&h->left, true);
        brook__iqstore_release(h);
        assert_int_equal(atomic_load(&h->refs), 1);
        assert_int_equal(brook_kviter_next(it, &k, &v, errstr, sizeof errstr),
                         BROOK_ERR_STATE);
        assert_null(k);
        assert_null(v);
        assert_string_equal(errstr,
                            "store \"counts\": task 0_1 left this instance "
                            "(rebalance or shutdown) while the iterator was "
                            "open");
        assert_int_equal(brook_kviter_next(it, &k, &v, NULL, 0),
                         BROOK_ERR_STATE);
        /* The last reference closes the instance. */
        brook_kviter_destroy(it);
        brook_arena_destroy(arena);
}

/* Checks what a query reads of @p k: exactly @p v (NULL: absent). */
static void check_query_get(mem_t *m, bytes_t k, const char *v)
{
        brook_buf_t *out = brook_buf_new();
        brook_err_t err = m->ops->query_get(m->self, k.p, k.n, out, NULL, 0);
        if (!v) {
                assert_int_equal(err, BROOK_ERR_NOT_FOUND);
        } else {
                assert_int_equal(err, BROOK_OK);
                assert_int_equal(brook_buf_len(out), strlen(v));
                assert_memory_equal(brook_buf_data(out), v, strlen(v));
        }
        brook_buf_destroy(out);
}

/* How many entries a query's range over everything sees. */
static size_t query_count(mem_t *m)
{
        brook_kvbytes_iter_t *it = NULL;
        const void *k, *v;
        size_t ks, vs, n = 0;
        assert_int_equal(
                m->ops->query_range(m->self, NULL, 0, NULL, 0, &it, NULL, 0),
                BROOK_OK);
        while (!it->next(it, &k, &ks, &v, &vs, NULL, 0))
                n++;
        it->destroy(it);
        return n;
}

/*
 * Under exactly_once_v2 (a transactional batch) writes wait aside: the
 * owner reads them over the committed entries, queries read only what is
 * committed, a discarded batch drops them and a written one applies them.
 * Restoration (bulk mode) writes committed data directly.
 */
static void test_transactional_pending(void **state)
{
        char dir[] = "/tmp/brook-memtxn-XXXXXX", errstr[512];
        brook__statedb_t *db;
        brook__stateenv_t env;
        const brook_kvstore_supplier_t *sup = brook_kvstore_in_memory();
        brook_kvstore_open_t info = {.store = "s", .task_id = "0_0"};
        const bytes_t a = B("a"), b = B("b"), c = B("c"), d = B("d");
        const bytes_t ab[] = {a, b}, acd[] = {a, c, d}, ad[] = {a, d};
        mem_t m;
        char cmd[64];

        assert_non_null(mkdtemp(dir));
        assert_int_equal(
                brook__statedb_open(dir, 64 << 20, &db, errstr, sizeof errstr),
                BROOK_OK);
        env.db = db;
        env.batch = brook__statebatch_new(db);
        brook__statebatch_set_transactional(env.batch, true);
        info.internal = &env;
        assert_int_equal(sup->open(&info, sup->opaque, &m.self, &m.ops, errstr,
                                   sizeof errstr),
                         BROOK_OK);

        /* Restored (bulk) writes are committed at once. */
        brook__statebatch_set_bulk(env.batch, true);
        put(&m, a, "1");
        put(&m, b, "2");
        brook__statebatch_set_bulk(env.batch, false);
        check_query_get(&m, a, "1");
        assert_int_equal(m.ops->approximate_count(m.self), 2);

        /* An open transaction: overwrite a, delete b, add c and d. */
        put(&m, a, "10");
        put(&m, b, NULL);
        put(&m, c, "3");
        put(&m, d, "4");
        check_get(&m, a, "10");
        check_get(&m, b, NULL);
        check_get(&m, c, "3");
        check_range(&m, NULL, NULL, acd, 3);
        check_query_get(&m, a, "1");
        check_query_get(&m, b, "2");
        check_query_get(&m, c, NULL);
        assert_int_equal(query_count(&m), 2);

        /* Aborted: the owner reads the committed entries again. */
        brook__statebatch_discard(env.batch);
        check_get(&m, a, "1");
        check_get(&m, b, "2");
        check_get(&m, c, NULL);
        check_range(&m, NULL, NULL, ab, 2);

        /* Committed: the same writes, plus a range deletion of [b, d). */
        put(&m, a, "10");
        put(&m, c, "3");
        put(&m, d, "4");
        assert_int_equal(m.ops->delete_range(m.self, "b", 1, "d", 1, NULL, 0),
                         BROOK_OK);
        check_range(&m, NULL, NULL, ad, 2);
        check_query_get(&m, b, "2");
        assert_int_equal(
                brook__statebatch_write(env.batch, errstr, sizeof errstr),
                BROOK_OK);
        check_query_get(&m, a, "10");
        check_query_get(&m, b, NULL);
        check_query_get(&m, c, NULL);
        check_query_get(&m, d, "4");
        assert_int_equal(query_count(&m), 2);
        check_range(&m, NULL, NULL, ad, 2);
        /* Nothing is pending any more: a discard changes nothing. */
        brook__statebatch_discard(env.batch);
        check_get(&m, a, "10");
        assert_int_equal(m.ops->approximate_count(m.self), 2);

        m.ops->close(m.self);
        brook__statebatch_destroy(env.batch);
        brook__statedb_close(db);
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_get_put_delete),
                cmocka_unit_test(test_range_order),
                cmocka_unit_test(test_count_clear),
                cmocka_unit_test(test_iterator_snapshot),
                cmocka_unit_test(test_concurrent_queries),
                cmocka_unit_test(test_query_handle),
                cmocka_unit_test(test_transactional_pending),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
