/*
 * Integration: interactive queries never block the runtime (issue 9).
 *
 *   queries_across_rebalance   four threads hammer brook_app_store_get and
 *                              brook_app_store_all on an instance, and two
 *                              of its iterators stay open, while a second
 *                              instance joins: the rebalance completes
 *                              within a bound shorter than the time a
 *                              blocked stream thread would take to be
 *                              evicted, nothing fails, the queries keep
 *                              answering exactly, the held iterators fail
 *                              with BROOK_ERR_STATE naming the task that
 *                              left, and the two instances' stores add up
 *                              to the exact counts.
 *
 * The stream threads poll with max.poll.interval.ms 10 s: a thread stuck
 * in the revoke callback behind a query (what the old reader-preferring
 * registry lock did) misses the rebalance and the group moves on without
 * it, so the 30 s bound below fails rather than waiting.
 *
 * Keys are "key-000" .. "key-199"; key k is counted 1 + k % 7 times.
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "apps/count_topology.h"
#include "brook_int.h"
#include "kafka_util.h"

#define KEYS    200
#define PARTS   2
#define HAMMERS 4
#define STORE   "counts"
/* What the test allows the rebalance: well below the time the group
 * gives a member stuck in its rebalance callback (max.poll.interval.ms,
 * 10 s) plus the new member's restore, so a blocked stream thread fails
 * it. */
#define REBALANCE_BOUND_MS 30000

static int64_t truth[KEYS];
static int32_t partition_of[KEYS];

static void key_name(char *buf, size_t size, int k)
{
        snprintf(buf, size, "key-%03d", k);
}

/* The index of a key "key-NNN", or -1. */
static int key_index(const char *s)
{
        int k;
        if (!s || strlen(s) != 7 || memcmp(s, "key-", 4) ||
            sscanf(s + 4, "%d", &k) != 1 || k < 0 || k >= KEYS)
                return -1;
        return k;
}

/* ------------------------------------------------------------ instances */

static brook_builder_t *count_topology(const char *in, const char *out)
{
        brook_builder_t *b = brook_builder_new();
        count_topology_add(b, in, out, STORE, NULL);
        assert_null(brook_builder_error(b));
        return b;
}

static brook_app_t *start_instance(const char *app_id, const char *client_id,
                                   const char *in, const char *out,
                                   const char *dir)
{
        const char *props[][2] = {
                {"application.id", app_id},
                {"client.id", client_id},
                {"bootstrap.servers", kt_bootstrap()},
                {"state.dir", dir},
                {"commit.interval.ms", "200"},
                /* A member stuck in its rebalance callback longer than
                 * this is dropped from the group. */
                {"consumer.max.poll.interval.ms", "10000"},
                {"consumer.session.timeout.ms", "6000"},
                {"consumer.heartbeat.interval.ms", "1000"},
        };
        brook_conf_t *conf = brook_conf_new();
        char errstr[1024];
        brook_app_t *app;
        size_t i;

        for (i = 0; i < sizeof props / sizeof *props; i++)
                if (brook_conf_set(conf, props[i][0], props[i][1], errstr,
                                   sizeof errstr))
                        fail_msg("%s", errstr);
        app = brook_app_new(count_topology(in, out), conf, errstr,
                            sizeof errstr);
        if (!app)
                fail_msg("brook_app_new: %s", errstr);
        if (brook_app_start(app, errstr, sizeof errstr))
                fail_msg("brook_app_start: %s", errstr);
        return app;
}

/* ------------------------------------------------------- what teardown undoes
 *
 * A failed assertion leaves the test at once; teardown then stops the
 * query threads, destroys the held iterators (before the apps: on the old
 * code they held the lock the stream thread waits for), the apps, and the
 * state dirs. */

typedef struct hammer {
        pthread_t tid;
        bool started;
        int idx;
        atomic_llong gets_ok, scans_ok, not_here, phase2_ok, phase2_fail, wrong;
        char why[512]; /**< The first unexpected answer. */
} hammer_t;

static hammer_t hammers[HAMMERS];
static atomic_bool hammer_stop;
/* 1: query instance A only, where a failure with BROOK_ERR_STATE (not
 * here, restoring, task left) is expected during the rebalance; 2: the
 * instances settled, query each key on its owner: every query must
 * succeed. */
static atomic_int phase;
static brook_app_t *app_a, *app_b;
static atomic_int mask_a; /**< A's partitions, for phase 2. */
static brook_kviter_t *held[2];
static brook_arena_t *held_arena;
static char *dirs[2];

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
        return remove(path);
}

static void hammers_stop(void)
{
        int i;
        atomic_store(&hammer_stop, true);
        for (i = 0; i < HAMMERS; i++)
                if (hammers[i].started) {
                        pthread_join(hammers[i].tid, NULL);
                        hammers[i].started = false;
                }
}

static int teardown(void **state)
{
        int i;
        hammers_stop();
        for (i = 0; i < 2; i++) {
                brook_kviter_destroy(held[i]);
                held[i] = NULL;
        }
        brook_arena_destroy(held_arena);
        held_arena = NULL;
        brook_app_destroy(app_b);
        brook_app_destroy(app_a);
        app_a = app_b = NULL;
        for (i = 0; i < 2; i++) {
                if (dirs[i]) {
                        nftw(dirs[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
                        free(dirs[i]);
                        dirs[i] = NULL;
                }
        }
        return 0;
}

/* ---------------------------------------------------------- query threads */

static void hammer_wrong(hammer_t *h, const char *fmt, ...)
{
        va_list ap;
        if (atomic_fetch_add(&h->wrong, 1) == 0) {
                va_start(ap, fmt);
                vsnprintf(h->why, sizeof h->why, fmt, ap);
                va_end(ap);
        }
}

/* One get of key @p k from @p app; in phase 2 (@p must) it must answer. */
static void hammer_get(hammer_t *h, brook_app_t *app, int k, bool must,
                       brook_arena_t *arena)
{
        char key[16], errstr[512] = "";
        void *v = NULL;
        brook_err_t err;

        key_name(key, sizeof key, k);
        err = brook_app_store_get(app, STORE, key, arena, &v, errstr,
                                  sizeof errstr);
        if (!err && v && *(int64_t *)v == truth[k]) {
                atomic_fetch_add(must ? &h->phase2_ok : &h->gets_ok, 1);
        } else if (!err) {
                hammer_wrong(h, "get %s: %" PRId64 ", want %" PRId64, key,
                             v ? *(int64_t *)v : -1, truth[k]);
        } else if (err == BROOK_ERR_STATE && !must) {
                atomic_fetch_add(&h->not_here, 1);
        } else {
                if (must)
                        atomic_fetch_add(&h->phase2_fail, 1);
                hammer_wrong(h, "get %s (phase %d): %s: %s", key, must ? 2 : 1,
                             brook_err2str(err), errstr);
        }
}

/* Reads all of @p app's entries; each must be exact. In phase 2 (@p must)
 * the scan must end cleanly. */
static void hammer_scan(hammer_t *h, brook_app_t *app, bool must,
                        brook_arena_t *arena)
{
        brook_kviter_t *it = NULL;
        char errstr[512] = "";
        void *key, *value;
        brook_err_t err;

        err = brook_app_store_all(app, STORE, arena, &it, errstr,
                                  sizeof errstr);
        if (!err) {
                while (!(err = brook_kviter_next(it, &key, &value, errstr,
                                                 sizeof errstr))) {
                        int k = key_index(key);
                        if (k < 0 || !value || *(int64_t *)value != truth[k])
                                hammer_wrong(h, "scan: entry %s: %" PRId64,
                                             key ? (char *)key : "(null)",
                                             value ? *(int64_t *)value : -1);
                }
                brook_kviter_destroy(it);
                if (err == BROOK_ERR_END)
                        err = BROOK_OK;
        }
        if (!err) {
                atomic_fetch_add(must ? &h->phase2_ok : &h->scans_ok, 1);
        } else if (err == BROOK_ERR_STATE && !must) {
                atomic_fetch_add(&h->not_here, 1);
        } else {
                if (must)
                        atomic_fetch_add(&h->phase2_fail, 1);
                hammer_wrong(h, "scan (phase %d): %s: %s", must ? 2 : 1,
                             brook_err2str(err), errstr);
        }
}

static void *hammer_main(void *opaque)
{
        hammer_t *h = opaque;
        brook_arena_t *arena = brook_arena_new();
        uint64_t r = 0x9e3779b97f4a7c15ULL * (uint64_t)(h->idx + 1);
        int64_t n = 0;

        while (!atomic_load(&hammer_stop)) {
                int k;
                bool p2 = atomic_load(&phase) == 2;
                r = r * 6364136223846793005ULL + 1442695040888963407ULL;
                k = (int)((r >> 33) % KEYS);
                if (!p2) {
                        hammer_get(h, app_a, k, false, arena);
                        if (n % 16 == 0)
                                hammer_scan(h, app_a, false, arena);
                } else {
                        int m = atomic_load(&mask_a);
                        hammer_get(h,
                                   (m >> partition_of[k]) & 1 ? app_a : app_b,
                                   k, true, arena);
                        if (n % 16 == 0)
                                hammer_scan(h, n % 32 ? app_a : app_b, true,
                                            arena);
                }
                brook_arena_reset(arena);
                n++;
        }
        brook_arena_destroy(arena);
        return NULL;
}

static bool hammers_busy(void *opaque)
{
        int64_t want = *(int64_t *)opaque;
        int i;
        for (i = 0; i < HAMMERS; i++)
                if (atomic_load(&hammers[i].gets_ok) < want ||
                    atomic_load(&hammers[i].scans_ok) < 1)
                        return false;
        return true;
}

static bool hammers_busy_phase2(void *opaque)
{
        int64_t want = *(int64_t *)opaque;
        int i;
        for (i = 0; i < HAMMERS; i++)
                if (atomic_load(&hammers[i].phase2_ok) < want)
                        return false;
        return true;
}

/* ---------------------------------------------------------------- checks */

static const char *state_name(brook_app_state_t st)
{
        static const char *const names[] = {
                "CREATED",     "REBALANCING",   "RUNNING", "PENDING_SHUTDOWN",
                "NOT_RUNNING", "PENDING_ERROR", "ERROR",
        };
        return (unsigned)st < sizeof names / sizeof *names ? names[st] : "?";
}

static void assert_alive(brook_app_t *app, const char *name)
{
        char errstr[1024] = "";
        brook_app_state_t st = brook_app_state(app, errstr, sizeof errstr);
        if (st == BROOK_APP_ERROR || st == BROOK_APP_PENDING_ERROR)
                fail_msg("instance %s failed: %s", name, errstr);
}

/* Which partitions @p app has restored, as a mask, or -1 if one of them
 * is restoring or a query failed. */
static int local_partitions(brook_app_t *app, const int rep[PARTS])
{
        char key[16];
        int p, mask = 0;
        for (p = 0; p < PARTS; p++) {
                brook_key_metadata_t md;
                key_name(key, sizeof key, rep[p]);
                if (brook_app_store_key_metadata(app, STORE, key, &md, NULL,
                                                 0) ||
                    md.partition != p || md.restoring)
                        return -1;
                if (md.local)
                        mask |= 1 << p;
        }
        return mask;
}

typedef struct settle {
        const int *rep;
        int ma, mb;
} settle_t;

/* Both RUNNING, nothing restoring, each partition on exactly one. */
static bool settled(void *opaque)
{
        settle_t *s = opaque;
        brook_app_stats_t sa, sb;
        assert_alive(app_a, "A");
        assert_alive(app_b, "B");
        if (brook_app_state(app_a, NULL, 0) != BROOK_APP_RUNNING ||
            brook_app_state(app_b, NULL, 0) != BROOK_APP_RUNNING)
                return false;
        brook_app_stats(app_a, &sa);
        brook_app_stats(app_b, &sb);
        if (sa.stores_restoring || sb.stores_restoring)
                return false;
        s->ma = local_partitions(app_a, s->rep);
        s->mb = local_partitions(app_b, s->rep);
        return s->ma > 0 && s->mb > 0 && (s->ma & s->mb) == 0 &&
               (s->ma | s->mb) == (1 << PARTS) - 1;
}

/* Every entry of @p app's store: owner[k] gets @p who; returns entries. */
static int64_t collect_all(brook_app_t *app, int who, int *owner,
                           int64_t *values)
{
        brook_arena_t *arena = brook_arena_new();
        brook_kviter_t *it = NULL;
        char errstr[512];
        void *key, *value;
        int64_t n = 0;
        brook_err_t err;

        if (brook_app_store_all(app, STORE, arena, &it, errstr, sizeof errstr))
                fail_msg("brook_app_store_all: %s", errstr);
        while (!(err = brook_kviter_next(it, &key, &value, errstr,
                                         sizeof errstr))) {
                int k = key_index(key);
                assert_true(k >= 0);
                assert_non_null(value);
                assert_int_equal(owner[k], 0);
                owner[k] = who;
                values[k] = *(int64_t *)value;
                n++;
        }
        if (err != BROOK_ERR_END)
                fail_msg("iterating: %s", errstr);
        brook_kviter_destroy(it);
        brook_arena_destroy(arena);
        return n;
}

typedef struct counted {
        brook_app_t *app;
        int nkeys; /**< Keys 0 .. nkeys - 1, key k counted 1 + k % 7. */
} counted_t;

/* Whether @p opaque's app answers every key with its exact count (the
 * state RocksDB queries see is the last commit's). */
static bool all_counted(void *opaque)
{
        counted_t *c = opaque;
        brook_arena_t *arena = brook_arena_new();
        brook_kviter_t *it = NULL;
        void *key, *value;
        int n = 0;
        bool exact = true;

        assert_alive(c->app, "A");
        if (brook_app_store_all(c->app, STORE, arena, &it, NULL, 0)) {
                brook_arena_destroy(arena);
                return false;
        }
        while (!brook_kviter_next(it, &key, &value, NULL, 0)) {
                int k = key_index(key);
                n++;
                if (k < 0 || k >= c->nkeys || *(int64_t *)value != 1 + k % 7)
                        exact = false;
        }
        brook_kviter_destroy(it);
        brook_arena_destroy(arena);
        return exact && n == c->nkeys;
}

/* The next entry of held iterator @p it must be the failure that names
 * task @p task_id, and it must stay failed. */
static void assert_left(brook_kviter_t *it, const char *task_id)
{
        char errstr[512] = "", want[256];
        void *k, *v;
        int i;
        snprintf(want, sizeof want,
                 "store \"" STORE "\": task %s left this instance (rebalance "
                 "or shutdown) while the iterator was open",
                 task_id);
        for (i = 0; i < 2; i++) {
                assert_int_equal(
                        brook_kviter_next(it, &k, &v, errstr, sizeof errstr),
                        BROOK_ERR_STATE);
                assert_null(k);
                assert_null(v);
                assert_string_equal(errstr, want);
        }
}

/* ------------------------------------------------------------------ test */

static void test_queries_across_rebalance(void **state)
{
        char *in = kt_unique("iq-in"), *out = kt_unique("iq-out");
        char *app_id = kt_unique("iq-rebalance");
        int rep[PARTS] = {-1, -1};
        int64_t total = 0, n_part[PARTS] = {0}, t0, took, want, entries;
        int owner[KEYS] = {0};
        int64_t values[KEYS] = {0};
        brook_app_stats_t sa, sb;
        settle_t s = {rep, -1, -1};
        kt_group_t g;
        char key[16];
        void *k, *v;
        rd_kafka_t *rk;
        int i, j, p;

        for (i = 0; i < KEYS; i++) {
                key_name(key, sizeof key, i);
                truth[i] = 1 + i % 7;
                total += truth[i];
                partition_of[i] = rd_kafka_msg_partitioner_murmur2(
                        NULL, key, strlen(key), PARTS, NULL, NULL);
                n_part[partition_of[i]]++;
                if (rep[partition_of[i]] < 0)
                        rep[partition_of[i]] = i;
        }
        /* Held iterator 1 reads into partition 1's share and stops there. */
        assert_true(n_part[0] > 0 && n_part[1] > 1);

        for (i = 0; i < 2; i++) {
                dirs[i] = strdup("/tmp/brook-iq-test-XXXXXX");
                assert_non_null(mkdtemp(dirs[i]));
        }
        kt_create_topic(in, PARTS);
        kt_create_topic(out, PARTS);
        rk = kt_producer();
        for (i = 0; i < KEYS; i++)
                for (j = 0; j < truth[i]; j++) {
                        key_name(key, sizeof key, i);
                        kt_produce(rk, in, -1, key, "x", 1, NULL);
                }
        kt_producer_close(rk);

        /* A alone counts everything. */
        app_a = start_instance(app_id, "iq-a", in, out, dirs[0]);
        {
                counted_t c = {app_a, KEYS};
                assert_true(kt_wait_until(all_counted, &c, 100, 120000));
        }
        entries = collect_all(app_a, 1, owner, values);
        assert_int_equal(entries, KEYS);
        for (i = 0; i < KEYS; i++) {
                assert_int_equal(values[i], truth[i]);
                owner[i] = 0;
        }
        brook_app_stats(app_a, &sa);
        assert_int_equal(sa.rebalances, 1);

        /* Two iterators held open across the rebalance: one not advanced,
         * one read past partition 0's share into partition 1's. */
        held_arena = brook_arena_new();
        for (i = 0; i < 2; i++) {
                char errstr[512];
                if (brook_app_store_all(app_a, STORE, held_arena, &held[i],
                                        errstr, sizeof errstr))
                        fail_msg("brook_app_store_all: %s", errstr);
        }
        for (i = 0; i < n_part[0] + 1; i++) {
                assert_int_equal(brook_kviter_next(held[1], &k, &v, NULL, 0),
                                 BROOK_OK);
                assert_int_equal(partition_of[key_index(k)],
                                 i < n_part[0] ? 0 : 1);
        }

        /* The query threads run; all of them answer before B comes. */
        atomic_store(&phase, 1);
        atomic_store(&hammer_stop, false);
        for (i = 0; i < HAMMERS; i++) {
                hammers[i].idx = i;
                assert_int_equal(pthread_create(&hammers[i].tid, NULL,
                                                hammer_main, &hammers[i]),
                                 0);
                hammers[i].started = true;
        }
        want = 100;
        assert_true(kt_wait_until(hammers_busy, &want, 10, 30000));

        /* B joins. */
        t0 = kt_now_ms();
        app_b = start_instance(app_id, "iq-b", in, out, dirs[1]);
        if (!kt_wait_until(settled, &s, 50, REBALANCE_BOUND_MS))
                fail_msg("the rebalance did not complete in %d ms: A %s "
                         "(partitions %d), B %s (partitions %d)",
                         REBALANCE_BOUND_MS,
                         state_name(brook_app_state(app_a, NULL, 0)), s.ma,
                         state_name(brook_app_state(app_b, NULL, 0)), s.mb);
        took = kt_now_ms() - t0;
        kt_wait_group_stable(app_id, in, PARTS, 2, &g, 10000);
        assert_int_equal(g.members_assigned, 2);
        /* Each instance owns the partition its queries say it has. */
        for (p = 0; p < PARTS; p++)
                assert_non_null(strstr(g.owner[p],
                                       (s.ma >> p) & 1 ? "iq-a-" : "iq-b-"));
        print_message("queries_across_rebalance: settled in %" PRId64
                      " ms; A kept partition %d, B took partition %d; "
                      "%d query threads did %lld gets, %lld scans, "
                      "%lld not-here answers meanwhile\n",
                      took, s.ma == 1 ? 0 : 1, s.mb == 1 ? 0 : 1, HAMMERS,
                      (long long)(atomic_load(&hammers[0].gets_ok) +
                                  atomic_load(&hammers[1].gets_ok) +
                                  atomic_load(&hammers[2].gets_ok) +
                                  atomic_load(&hammers[3].gets_ok)),
                      (long long)(atomic_load(&hammers[0].scans_ok) +
                                  atomic_load(&hammers[1].scans_ok) +
                                  atomic_load(&hammers[2].scans_ok) +
                                  atomic_load(&hammers[3].scans_ok)),
                      (long long)(atomic_load(&hammers[0].not_here) +
                                  atomic_load(&hammers[1].not_here) +
                                  atomic_load(&hammers[2].not_here) +
                                  atomic_load(&hammers[3].not_here)));

        /* One rebalance each (the eager protocol revoked both of A's tasks
         * and gave one back): nobody was evicted and rejoined. */
        brook_app_stats(app_a, &sa);
        brook_app_stats(app_b, &sb);
        assert_int_equal(sa.rebalances, 2);
        assert_int_equal(sb.rebalances, 1);

        /* The held iterators: both of A's tasks were revoked while they
         * were open; each names the first task it had not finished. */
        assert_left(held[0], "0_0");
        assert_left(held[1], "0_1");
        for (i = 0; i < 2; i++) {
                brook_kviter_destroy(held[i]);
                held[i] = NULL;
        }

        /* The query threads go on, now each key on its owner, and every
         * query answers exactly. */
        atomic_store(&mask_a, s.ma);
        atomic_store(&phase, 2);
        want = 200;
        assert_true(kt_wait_until(hammers_busy_phase2, &want, 10, 30000));
        hammers_stop();
        for (i = 0; i < HAMMERS; i++) {
                if (atomic_load(&hammers[i].wrong))
                        fail_msg("query thread %d: %lld unexpected answers, "
                                 "the first: %s",
                                 i, (long long)atomic_load(&hammers[i].wrong),
                                 hammers[i].why);
                assert_int_equal(atomic_load(&hammers[i].phase2_fail), 0);
        }
        assert_alive(app_a, "A");
        assert_alive(app_b, "B");
        brook_app_stats(app_a, &sa);
        brook_app_stats(app_b, &sb);
        assert_int_equal(sa.rebalances, 2);
        assert_int_equal(sb.rebalances, 1);

        /* Exact counts: every key once, on its owner. */
        entries = collect_all(app_a, 1, owner, values) +
                  collect_all(app_b, 2, owner, values);
        assert_int_equal(entries, KEYS);
        {
                int64_t sum = 0;
                for (i = 0; i < KEYS; i++) {
                        assert_int_equal(owner[i],
                                         (s.ma >> partition_of[i]) & 1 ? 1 : 2);
                        assert_int_equal(values[i], truth[i]);
                        sum += values[i];
                }
                assert_int_equal(sum, total);
        }

        assert_int_equal(brook_app_close(app_b, -1), BROOK_OK);
        assert_int_equal(brook_app_close(app_a, -1), BROOK_OK);
        assert_int_equal(brook_app_state(app_a, NULL, 0),
                         BROOK_APP_NOT_RUNNING);
        assert_int_equal(brook_app_state(app_b, NULL, 0),
                         BROOK_APP_NOT_RUNNING);
        free(in);
        free(out);
        free(app_id);
}

/* An iterator open when its app closes fails cleanly, and destroying it
 * after brook_app_destroy() is safe: it kept the state db open. */
static void test_iterator_outlives_app(void **state)
{
        char *in = kt_unique("iq-in2"), *out = kt_unique("iq-out2");
        char *app_id = kt_unique("iq-outlive");
        brook_arena_t *arena = brook_arena_new();
        brook_kviter_t *it = NULL;
        char errstr[512] = "";
        void *k, *v;
        rd_kafka_t *rk;
        int i, j;

        dirs[0] = strdup("/tmp/brook-iq-test-XXXXXX");
        assert_non_null(mkdtemp(dirs[0]));
        kt_create_topic(in, PARTS);
        kt_create_topic(out, PARTS);
        rk = kt_producer();
        for (i = 0; i < 20; i++) {
                char key[16];
                key_name(key, sizeof key, i);
                for (j = 0; j < 1 + i % 7; j++)
                        kt_produce(rk, in, -1, key, "x", 1, NULL);
        }
        kt_producer_close(rk);
        app_a = start_instance(app_id, "iq-o", in, out, dirs[0]);
        {
                counted_t c = {app_a, 20};
                assert_true(kt_wait_until(all_counted, &c, 100, 120000));
        }
        assert_int_equal(brook_app_store_all(app_a, STORE, arena, &it, errstr,
                                             sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_kviter_next(it, &k, &v, NULL, 0), BROOK_OK);
        assert_int_equal(brook_app_close(app_a, -1), BROOK_OK);
        brook_app_destroy(app_a);
        app_a = NULL;
        assert_int_equal(brook_kviter_next(it, &k, &v, errstr, sizeof errstr),
                         BROOK_ERR_STATE);
        assert_non_null(strstr(errstr, "left this instance"));
        brook_kviter_destroy(it);
        brook_arena_destroy(arena);
        free(in);
        free(out);
        free(app_id);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_queries_across_rebalance,
                                          teardown),
                cmocka_unit_test_teardown(test_iterator_outlives_app, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
