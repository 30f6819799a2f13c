/*
 * Integration: the runtime through faults, on the real broker. A count per
 * key (store "counts", int64 big-endian values, string keys "k-NNNNN").
 *
 *   restore_with_join      a restoration several times max.poll.interval.ms
 *                          long (a slow store) while a second instance
 *                          joins: nobody is evicted, and the changelog is
 *                          read once in all (the restoration resumes where
 *                          the rebalance interrupted it)
 *   sigterm_restoring      SIGTERM while a count_app restores: exit 0, and
 *                          the next start resumes the restoration rather
 *                          than starting over
 *   broker_outage          the broker killed for 60 s mid-run and brought
 *                          back (RT_OUTAGE_SECONDS; the sanitizer build
 *                          takes 20): the app never stops, reports the stall,
 *                          and ends with every count at least the truth,
 *                          the excess at most what it processed after its
 *                          last commit before the outage
 *   restorer_closed_when_done  the restore consumer lives while stores
 *                          restore, and goes once they are restored
 *   lost_records_dropped   at least once: what a thread sent for tasks it
 *                          then lost (broker away, session timed out) is
 *                          dropped, not delivered when the broker is back:
 *                          every key out exactly once, counted 1
 *   drop_shows_at_once     a record dropped shows in
 *                          brook_app_records_dropped() while the thread is
 *                          still in the round that dropped it
 *   frozen_thread_writes_nothing  a stream thread held past
 *                          max.poll.interval.ms, the group gone, writes
 *                          nothing more when it runs again: its cache is
 *                          not flushed, and the record it held is counted
 *                          once
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "apps/count_topology.h"
#include "apps/slow_store.h"
#include "brook_int.h"
#include "kafka_util.h"
#include "store_int.h"

#define NKEYS 1000

/* Properties of an app whose thread is evicted after 6 s without a poll,
 * and whose session times out after 6 s without a heartbeat (the broker's
 * least). */
#define SHORT_POLL_PROPS                                                       \
        "consumer.max.poll.interval.ms", "6000",                               \
                "consumer.session.timeout.ms", "6000",                         \
                "consumer.heartbeat.interval.ms", "500"

static brook_app_t *apps[4];
static char *dirs[4];
static pid_t pids[4];
static bool broker_down;

/* ------------------------------------------------------------- helpers */

static char *new_dir(void)
{
        char *dir = strdup("/tmp/brook-runtime-test-XXXXXX");
        int i;
        assert_non_null(mkdtemp(dir));
        for (i = 0; i < 4 && dirs[i]; i++)
                ;
        assert_true(i < 4);
        dirs[i] = dir;
        return dir;
}

static void key_of(char *buf, size_t size, int k)
{
        snprintf(buf, size, "k-%05d", k);
}

static void put_be64(unsigned char *p, int64_t v)
{
        for (int i = 7; i >= 0; i--, v >>= 8)
                p[i] = (unsigned char)(v & 0xff);
}

static int64_t get_be64(const void *data)
{
        const unsigned char *p = data;
        int64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = (v << 8) | p[i];
        return v;
}

/* Writes @p n records straight into a store's changelog (partition 0),
 * as if an earlier run had counted them: key k-(i % NKEYS), count
 * i / NKEYS + 1. Returns the changelog's end offset. */
static int64_t fill_changelog(const char *changelog, int64_t n)
{
        rd_kafka_t *rk = kt_producer();
        unsigned char v[8];
        char key[32];
        int64_t i, lo, hi;
        for (i = 0; i < n; i++) {
                key_of(key, sizeof key, (int)(i % NKEYS));
                put_be64(v, i / NKEYS + 1);
                kt_produce(rk, changelog, 0, key, v, sizeof v, NULL);
        }
        kt_producer_close(rk);
        kt_watermarks(changelog, 0, &lo, &hi);
        assert_int_equal(hi, n);
        return hi;
}

static brook_builder_t *count_topology(const char *in, const char *out,
                                       const brook_kvstore_supplier_t *sup)
{
        brook_builder_t *b = brook_builder_new();
        count_topology_add(b, in, out, "counts", sup);
        assert_null(brook_builder_error(b));
        return b;
}

/* Starts an in-process count app; @p props is NULL-terminated
 * name, value pairs. */
static brook_app_t *start_app(const char *app_id, const char *in,
                              const char *out,
                              const brook_kvstore_supplier_t *sup,
                              const char *const *props)
{
        brook_conf_t *conf = brook_conf_new();
        char errstr[1024];
        brook_app_t *app;
        int i;
        if (brook_conf_set(conf, "application.id", app_id, errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "bootstrap.servers", kt_bootstrap(), errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "commit.interval.ms", "200", errstr,
                           sizeof errstr))
                fail_msg("%s", errstr);
        for (i = 0; props && props[i]; i += 2)
                if (brook_conf_set(conf, props[i], props[i + 1], errstr,
                                   sizeof errstr))
                        fail_msg("%s", errstr);
        app = brook_app_new(count_topology(in, out, sup), conf, errstr,
                            sizeof errstr);
        if (!app)
                fail_msg("brook_app_new: %s", errstr);
        for (i = 0; i < 4 && apps[i]; i++)
                ;
        assert_true(i < 4);
        apps[i] = app;
        if (brook_app_start(app, errstr, sizeof errstr))
                fail_msg("brook_app_start: %s", errstr);
        return app;
}

static void stop_app(brook_app_t *app)
{
        int i;
        assert_int_equal(brook_app_close(app, 30000), BROOK_OK);
        for (i = 0; i < 4; i++)
                if (apps[i] == app)
                        apps[i] = NULL;
        brook_app_destroy(app);
}

static brook_app_stats_t stats_of(brook_app_t *app)
{
        brook_app_stats_t st;
        brook_app_stats(app, &st);
        return st;
}

/* Fails the test if @p app stopped on an error. */
static void assert_alive(brook_app_t *app)
{
        char errstr[1024];
        brook_app_state_t st = brook_app_state(app, errstr, sizeof errstr);
        if (st == BROOK_APP_ERROR || st == BROOK_APP_PENDING_ERROR ||
            st == BROOK_APP_NOT_RUNNING)
                fail_msg("the app stopped (state %d): %s", (int)st, errstr);
}

typedef struct {
        brook_app_t *app[2];
} pair_t;

static bool both_running(void *opaque)
{
        pair_t *p = opaque;
        for (int i = 0; i < 2; i++) {
                if (!p->app[i])
                        continue;
                assert_alive(p->app[i]);
                if (brook_app_state(p->app[i], NULL, 0) != BROOK_APP_RUNNING)
                        return false;
        }
        return true;
}

static bool restoring_started(void *opaque)
{
        brook_app_t *app = opaque;
        assert_alive(app);
        return stats_of(app).records_restored > 0;
}

/* The last count of each key in @p topic, and how often it came. */
typedef struct {
        int64_t count[NKEYS], seen[NKEYS];
        int64_t records;
} latest_t;

static void latest_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        latest_t *l = opaque;
        int k;
        l->records++;
        if (rkm->key_len != 7 || memcmp(rkm->key, "k-", 2) || rkm->len != 8)
                fail_msg("unexpected output record");
        k = atoi((const char *)rkm->key + 2);
        assert_true(k >= 0 && k < NKEYS);
        l->count[k] = get_be64(rkm->payload);
        l->seen[k]++;
}

/* Fails the test unless @p topic holds exactly one record for each of
 * the keys k-00000 .. k-(@p n - 1), each counted 1, and nothing else. */
static void assert_each_once(const char *topic, int n)
{
        latest_t *t = calloc(1, sizeof *t);
        assert_non_null(t);
        kt_consume_all(topic, latest_cb, t);
        for (int i = 0; i < n; i++)
                if (t->seen[i] != 1 || t->count[i] != 1)
                        fail_msg("k-%05d came out %" PRId64
                                 " times, last counted %" PRId64,
                                 i, t->seen[i], t->count[i]);
        assert_int_equal(t->records, n);
        free(t);
}

/* ------------------------------------------------------- restore + join */

/* Enough changelog records that, at 500 us a put, restoring them takes
 * about 15 s: more than twice max.poll.interval.ms (6 s) below. */
#define RESTORE_RECORDS 30000

static void test_restore_with_join(void **state)
{
        char *app_id = kt_unique("rt-join");
        char *in = kt_unique("rt-join-in"), *out = kt_unique("rt-join-out");
        char changelog[256], cid_a[128], cid_b[128];
        brook_kvstore_supplier_t slow;
        brook_app_stats_t sa, sb;
        rd_kafka_t *rk;
        latest_t *l = calloc(1, sizeof *l);
        pair_t pair = {{NULL, NULL}};
        int64_t began, took;

        snprintf(changelog, sizeof changelog, "%s-counts-changelog", app_id);
        kt_create_topic(in, 1);
        kt_create_topic(out, 1);
        kt_create_topic(changelog, 1);
        fill_changelog(changelog, RESTORE_RECORDS);
        slow_store_supplier(&slow, 500);

        /* Range assignment gives partition 0 to the member whose id sorts
         * first, and member ids start with the client.id: instance "a"
         * keeps the task when "b" joins, so the restoration is resumed,
         * not moved. */
        snprintf(cid_a, sizeof cid_a, "a-%s", app_id);
        snprintf(cid_b, sizeof cid_b, "b-%s", app_id);
        /* Small poll and session bounds: a thread that did not poll for
         * 6 s would be evicted. No cache: each record is an update
         * downstream. */
        const char *props_a[] = {"client.id",
                                 cid_a,
                                 "statestore.cache.max.bytes",
                                 "0",
                                 SHORT_POLL_PROPS,
                                 "state.dir",
                                 new_dir(),
                                 NULL};
        const char *props_b[sizeof props_a / sizeof *props_a];
        memcpy(props_b, props_a, sizeof props_a);
        props_b[1] = cid_b;
        props_b[11] = new_dir();
        pair.app[0] = start_app(app_id, in, out, &slow, props_a);
        assert_true(kt_wait_until(restoring_started, pair.app[0], 50, 60000));
        assert_int_equal(brook_app_state(pair.app[0], NULL, 0),
                         BROOK_APP_REBALANCING);

        /* The second instance joins mid-restore. */
        began = kt_now_ms();
        pair.app[1] = start_app(app_id, in, out, &slow, props_b);
        if (!kt_wait_until(both_running, &pair, 100, 120000))
                fail_msg("the instances were not both RUNNING within 120 s");
        took = kt_now_ms() - began;
        sa = stats_of(pair.app[0]);
        sb = stats_of(pair.app[1]);
        printf("restore_with_join: restored %" PRId64 " + %" PRId64
               " of %d records; RUNNING %" PRId64 " ms after the join\n",
               sa.records_restored, sb.records_restored, RESTORE_RECORDS, took);
        /* Restoring took more than twice max.poll.interval.ms after the
         * join, so a thread that did not poll meanwhile would have been
         * evicted. */
        assert_true(took > 12000);
        /* Exactly two assignments for "a" (its first, and the one after
         * "b" joined) and one for "b": nobody was evicted and rejoined. */
        assert_int_equal(sa.rebalances, 2);
        assert_int_equal(sb.rebalances, 1);
        /* The changelog was read once in all. */
        assert_int_equal(sa.records_restored, RESTORE_RECORDS);
        assert_int_equal(sb.records_restored, 0);

        /* The restored counts are the ones processing continues from:
         * k-00000 was at RESTORE_RECORDS / NKEYS. (No cache: each record
         * is an update downstream.) */
        rk = kt_producer();
        for (int i = 0; i < 5; i++)
                kt_produce(rk, in, 0, "k-00000", "x", 1, NULL);
        kt_producer_close(rk);
        assert_int_equal(kt_wait_count(out, 5, 60000), 5);
        kt_consume_all(out, latest_cb, l);
        assert_int_equal(l->records, 5);
        assert_int_equal(l->count[0], RESTORE_RECORDS / NKEYS + 5);

        stop_app(pair.app[1]);
        stop_app(pair.app[0]);
        free(l);
        free(app_id);
        free(in);
        free(out);
}

/* --------------------------------------------------- SIGTERM restoring */

/* The changelog offset the store of task 0_0 recorded in @p state_dir's
 * state db (read-only: the app may hold it), or -1. */
static int64_t stored_offset(const char *state_dir, const char *app_id)
{
        char path[1024];
        brook__statedb_t *db;
        const brook_kvstore_ops_t *ops;
        void *self;
        int64_t off = -1;
        snprintf(path, sizeof path, "%s/%s/rocksdb", state_dir, app_id);
        if (access(path, F_OK) ||
            brook__statedb_open_readonly(path, &db, NULL, 0))
                return -1;
        if (!brook__rocksdb_open_readonly(db, "0_0/counts", &self, &ops, NULL,
                                          0)) {
                off = ops->stored_offset(self);
                ops->close(self);
        }
        brook__statedb_close(db);
        return off;
}

typedef struct {
        const char *dir, *app_id;
        int64_t at_least;
        pid_t pid;
} progress_t;

static bool restored_some(void *opaque)
{
        progress_t *p = opaque;
        int status;
        if (p->pid && waitpid(p->pid, &status, WNOHANG) == p->pid)
                fail_msg("count_app exited early (status %d)", status);
        return stored_offset(p->dir, p->app_id) >= p->at_least;
}

static pid_t spawn_count_app(const char *name, const char *app_id,
                             const char *in, const char *out, const char *dir,
                             const char *store)
{
        char log[512];
        char *argv[] = {COUNT_APP_PATH,
                        (char *)name,
                        (char *)kt_bootstrap(),
                        (char *)app_id,
                        (char *)in,
                        (char *)out,
                        (char *)dir,
                        (char *)store,
                        "consumer.session.timeout.ms=6000",
                        NULL};
        pid_t pid;
        int i;
        snprintf(log, sizeof log, "%s/%s-%s", LOG_DIR, app_id, name);
        pid = kt_spawn(argv, log);
        for (i = 0; i < 4 && pids[i]; i++)
                ;
        assert_true(i < 4);
        pids[i] = pid;
        return pid;
}

/* Waits for count_app @p pid to exit; returns its status. */
static int reap(pid_t pid, int timeout_ms)
{
        int rc = kt_wait(pid, timeout_ms), i;
        for (i = 0; i < 4; i++)
                if (pids[i] == pid)
                        pids[i] = 0;
        return rc;
}

/* The number after " restored=" in count_app @p name's exit line. */
static int64_t restored_of(const char *app_id, const char *name)
{
        char path[512];
        char *text, *p;
        int64_t n = -1;
        snprintf(path, sizeof path, "%s/%s-%s.out", LOG_DIR, app_id, name);
        text = kt_slurp(path);
        if (text && (p = strstr(text, " restored=")))
                n = strtoll(p + 10, NULL, 10);
        free(text);
        return n;
}

static void test_sigterm_restoring(void **state)
{
        char *app_id = kt_unique("rt-term");
        char *in = kt_unique("rt-term-in"), *out = kt_unique("rt-term-out");
        char changelog[256];
        char *dir = new_dir();
        progress_t p = {dir, app_id, 1, 0};
        int64_t r1, r2, t0, stopped_in;
        pid_t pid;

        snprintf(changelog, sizeof changelog, "%s-counts-changelog", app_id);
        kt_create_topic(in, 1);
        kt_create_topic(out, 1);
        kt_create_topic(changelog, 1);
        fill_changelog(changelog, RESTORE_RECORDS);

        /* A slow store: the restoration takes about 15 s. SIGTERM once
         * it has written some progress. */
        pid = p.pid = spawn_count_app("first", app_id, in, out, dir,
                                      "store=slow:500");
        assert_true(kt_wait_until(restored_some, &p, 50, 60000));
        t0 = kt_now_ms();
        assert_int_equal(kill(pid, SIGTERM), 0);
        assert_int_equal(reap(pid, 20000), 0);
        stopped_in = kt_now_ms() - t0;
        r1 = restored_of(app_id, "first");
        printf("sigterm_restoring: stopped %" PRId64 " ms after SIGTERM, "
               "having restored %" PRId64 " of %d\n",
               stopped_in, r1, RESTORE_RECORDS);
        assert_true(stopped_in < 10000);
        assert_true(r1 > 0 && r1 < RESTORE_RECORDS);
        /* Everything it restored is recorded as restored. */
        assert_int_equal(stored_offset(dir, app_id), r1);

        /* The next start reads only the rest. */
        pid = p.pid = spawn_count_app("second", app_id, in, out, dir,
                                      "store=rocksdb");
        p.at_least = RESTORE_RECORDS;
        assert_true(kt_wait_until(restored_some, &p, 50, 120000));
        assert_int_equal(kill(pid, SIGTERM), 0);
        assert_int_equal(reap(pid, 30000), 0);
        r2 = restored_of(app_id, "second");
        assert_int_equal(r1 + r2, RESTORE_RECORDS);
        free(app_id);
        free(in);
        free(out);
}

/* -------------------------------------------------------- broker outage */

#define OUTAGE_RECORDS 60000

typedef struct {
        brook_app_t *app;
        int64_t min;
} processed_t;

static bool processed_at_least(void *opaque)
{
        processed_t *p = opaque;
        assert_alive(p->app);
        return stats_of(p->app).records_processed >= p->min;
}

static bool stalled(void *opaque)
{
        brook_app_t *app = opaque;
        assert_alive(app);
        return brook_app_stalled_ms(app, NULL, 0) > 0;
}

/* The group's committed offsets of the topic's partitions 0 ..
 * partitions - 1 add up to @p want at least. */
typedef struct {
        brook_app_t *app;
        const char *group, *topic;
        int partitions;
        int64_t want;
} committed_t;

static bool committed_all(void *opaque)
{
        committed_t *c = opaque;
        assert_alive(c->app);
        return kt_committed_sum(c->group, c->topic, c->partitions) >= c->want;
}

/* An app that outlives a broker's absence as the outage tests want it:
 * no cache (each record an update downstream), a session that times out
 * after 6 s (the broker's least), its own state directory. */
static brook_app_t *start_outage_app(const char *app_id, const char *in,
                                     const char *out,
                                     const brook_kvstore_supplier_t *sup)
{
        const char *props[] = {"statestore.cache.max.bytes",
                               "0",
                               "consumer.session.timeout.ms",
                               "6000",
                               "consumer.heartbeat.interval.ms",
                               "500",
                               "state.dir",
                               new_dir(),
                               NULL};
        return start_app(app_id, in, out, sup, props);
}

static void test_broker_outage(void **state)
{
        char *app_id = kt_unique("rt-outage");
        char *in = kt_unique("rt-outage-in"), *out = kt_unique("rt-outage-out");
        int64_t truth[NKEYS] = {0};
        brook_kvstore_supplier_t slow;
        latest_t *l = calloc(1, sizeof *l);
        char key[32], cause[512];
        rd_kafka_t *rk;
        brook_app_t *app;
        processed_t pr;
        committed_t cm;
        int64_t committed_before, processed_stalled, total, sum = 0, t_kill;
        const char *env = getenv("RT_OUTAGE_SECONDS");
        int64_t outage_ms = (env && *env ? atoi(env) : 60) * INT64_C(1000);
        int i;

        kt_create_topic(in, 2);
        kt_create_topic(out, 2);
        rk = kt_producer();
        for (i = 0; i < OUTAGE_RECORDS; i++) {
                int k = (int)(((uint64_t)i * 2654435761u) % NKEYS);
                key_of(key, sizeof key, k);
                kt_produce(rk, in, -1, key, "x", 1, NULL);
                truth[k]++;
        }
        kt_producer_close(rk);

        /* Slow puts and no cache: processing takes a good 10 s, so the
         * broker dies mid-run, with records processed but not committed. */
        slow_store_supplier(&slow, 150);
        app = start_outage_app(app_id, in, out, &slow);
        pr.app = app;
        pr.min = OUTAGE_RECORDS / 5;
        assert_true(kt_wait_until(processed_at_least, &pr, 20, 120000));

        /* The group's committed offsets just before the kill: any later
         * commit only raises them. */
        committed_before = kt_committed_sum(app_id, in, 2);
        broker_down = true;
        kt_broker("kill");
        t_kill = kt_now_ms();
        assert_true(kt_wait_until(stalled, app, 50, 30000));
        processed_stalled = stats_of(app).records_processed;
        brook_app_stalled_ms(app, cause, sizeof cause);
        printf("broker_outage: committed %" PRId64 ", processed %" PRId64
               " when the commit stalled: %s\n",
               committed_before, processed_stalled, cause);
        assert_true(strstr(cause, "could not deliver") != NULL);

        /* 60 s without a broker: the app must ride it out, processing
         * nothing while its commit is stalled (counters are published at
         * the end of a round, so allow the round that stalled to land). */
        assert_true(outage_ms > 10000);
        while (kt_now_ms() - t_kill < outage_ms) {
                int64_t now_processed;
                assert_alive(app);
                now_processed = stats_of(app).records_processed;
                if (kt_now_ms() - t_kill > 5000)
                        assert_int_equal(now_processed, processed_stalled);
                processed_stalled = now_processed;
                kt_sleep_ms(250);
        }
        kt_broker("restart");
        broker_down = false;

        cm.app = app;
        cm.group = app_id;
        cm.topic = in;
        cm.partitions = 2;
        cm.want = OUTAGE_RECORDS;
        assert_true(kt_wait_until(committed_all, &cm, 200, 300000));
        assert_int_equal(brook_app_stalled_ms(app, NULL, 0), 0);
        total = stats_of(app).records_processed;
        stop_app(app);

        kt_consume_all(out, latest_cb, l);
        for (i = 0; i < NKEYS; i++) {
                if (l->count[i] < truth[i])
                        fail_msg("k-%05d counted %" PRId64 " < %" PRId64, i,
                                 l->count[i], truth[i]);
                sum += l->count[i];
        }
        printf("broker_outage: counts sum %" PRId64 " for %d records "
               "(excess %" PRId64 ", bound %" PRId64 "), %" PRId64
               " processed\n",
               sum, OUTAGE_RECORDS, sum - OUTAGE_RECORDS,
               processed_stalled - committed_before, total);
        /* Only records processed after the last commit before the
         * outage may count twice (their input is processed again, and
         * their changelog records may be restored too). */
        assert_true(total - OUTAGE_RECORDS <=
                    processed_stalled - committed_before);
        assert_true(sum - OUTAGE_RECORDS <=
                    processed_stalled - committed_before);
        free(l);
        free(app_id);
        free(in);
        free(out);
}

/* ----------------------------------------- partitions lost, records unsent */

#define LOST_BATCH 100

static bool gate_held(void *opaque)
{
        (void)opaque;
        return atomic_load(&slow_gate_waiting) > 0;
}

static bool rebalancing(void *opaque)
{
        brook_app_t *app = opaque;
        assert_alive(app);
        return brook_app_state(app, NULL, 0) == BROOK_APP_REBALANCING;
}

static void produce_keys(const char *topic, int from, int to)
{
        rd_kafka_t *rk = kt_producer();
        char key[32];
        for (int i = from; i < to; i++) {
                key_of(key, sizeof key, i);
                kt_produce(rk, topic, -1, key, "x", 1, NULL);
        }
        kt_producer_close(rk);
}

/*
 * At-least-once: records that a thread sent for tasks it then lost (the
 * broker went away, the group session timed out) must not reach the
 * broker when it comes back, after their input was processed again. The
 * first batch is processed and committed. The thread is then held (a
 * gated store) at the first record of a second batch, the broker is
 * killed, and the thread let go: what it sends for the second batch waits
 * in its producer. Once its partitions are lost the broker restarts, and
 * the app processes the second batch again from the committed offsets.
 * Every key must come out exactly once, counted 1: an output or changelog
 * record from before the loss delivered late would show twice, or count
 * 2.
 */
static void test_lost_records_dropped(void **state)
{
        char *app_id = kt_unique("rt-lost");
        char *in = kt_unique("rt-lost-in"), *out = kt_unique("rt-lost-out");
        brook_kvstore_supplier_t gated;
        brook_app_t *app;
        committed_t cm;

        kt_create_topic(in, 2);
        kt_create_topic(out, 2);
        slow_store_supplier(&gated, 0);
        app = start_outage_app(app_id, in, out, &gated);

        produce_keys(in, 0, LOST_BATCH);
        cm.app = app;
        cm.group = app_id;
        cm.topic = in;
        cm.partitions = 2;
        cm.want = LOST_BATCH;
        assert_true(kt_wait_until(committed_all, &cm, 50, 60000));
        assert_int_equal(kt_wait_count(out, LOST_BATCH, 30000), LOST_BATCH);

        atomic_store(&slow_gate_closed, 1);
        produce_keys(in, LOST_BATCH, 2 * LOST_BATCH);
        assert_true(kt_wait_until(gate_held, NULL, 10, 60000));
        broker_down = true;
        kt_broker("kill");
        atomic_store(&slow_gate_closed, 0);
        assert_true(kt_wait_until(rebalancing, app, 50, 60000));
        printf("lost_records_dropped: %" PRId64
               " records processed when the partitions were lost\n",
               stats_of(app).records_processed);
        assert_true(stats_of(app).records_processed > LOST_BATCH);
        kt_broker("restart");
        broker_down = false;

        cm.want = 2 * LOST_BATCH;
        assert_true(kt_wait_until(committed_all, &cm, 200, 300000));
        stop_app(app);

        assert_each_once(out, 2 * LOST_BATCH);
        free(app_id);
        free(in);
        free(out);
}

/* ---------------------------------------------------- the restore consumer */

/* librdkafka clients alive in this process: each has one main thread. */
static int rdkafka_clients(void)
{
        DIR *d = opendir("/proc/self/task");
        struct dirent *e;
        int n = 0;
        assert_non_null(d);
        while ((e = readdir(d))) {
                char path[300], comm[64] = "";
                FILE *f;
                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof path, "/proc/self/task/%s/comm",
                         e->d_name);
                if (!(f = fopen(path, "r")))
                        continue;
                if (fgets(comm, sizeof comm, f) && !strcmp(comm, "rdk:main\n"))
                        n++;
                fclose(f);
        }
        closedir(d);
        return n;
}

static bool no_clients(void *opaque)
{
        (void)opaque;
        return rdkafka_clients() == 0;
}

typedef struct {
        brook_app_t *app;
        int clients;
} clients_t;

static bool restoring_now(void *opaque)
{
        clients_t *c = opaque;
        brook_app_stats_t st = stats_of(c->app);
        assert_alive(c->app);
        if (st.stores_restoring == 0 || st.records_restored == 0)
                return false;
        c->clients = rdkafka_clients();
        return true;
}

static bool restored_and_fewer(void *opaque)
{
        clients_t *c = opaque;
        assert_alive(c->app);
        return brook_app_state(c->app, NULL, 0) == BROOK_APP_RUNNING &&
               rdkafka_clients() == c->clients - 1;
}

/*
 * The restore consumer lives while stores restore: an idle one would
 * refresh its metadata every 20 ms (librdkafka < 2.2) for nothing. A
 * restoration slow enough to look at (3,000 changelog records at 500 us a
 * put): while it runs the app has one librdkafka client more than once
 * it is done. It restores exactly what the changelog holds.
 */
static void test_restorer_closed_when_done(void **state)
{
        char *app_id = kt_unique("rt-restorer");
        char *in = kt_unique("rt-restorer-in");
        char *out = kt_unique("rt-restorer-out");
        char changelog[256];
        brook_kvstore_supplier_t slow;
        brook_app_t *app;
        clients_t c = {0};

        /* The earlier tests' clients are destroyed in the background:
         * count from none. */
        assert_true(kt_wait_until(no_clients, NULL, 20, 60000));
        snprintf(changelog, sizeof changelog, "%s-counts-changelog", app_id);
        kt_create_topic(in, 1);
        kt_create_topic(out, 1);
        kt_create_topic(changelog, 1);
        fill_changelog(changelog, 3000);
        slow_store_supplier(&slow, 500);
        const char *props[] = {"state.dir", new_dir(), NULL};
        app = start_app(app_id, in, out, &slow, props);
        c.app = app;
        assert_true(kt_wait_until(restoring_now, &c, 5, 60000));
        assert_true(kt_wait_until(restored_and_fewer, &c, 20, 60000));
        assert_int_equal(stats_of(app).records_restored, 3000);
        printf("restorer_closed_when_done: %d librdkafka clients while "
               "restoring, %d after\n",
               c.clients, rdkafka_clients());
        stop_app(app);
        free(app_id);
        free(in);
        free(out);
}

/* ------------------------------------------------- a drop shows at once */

static bool processed_two(void *opaque)
{
        assert_alive(opaque);
        return stats_of(opaque).records_processed >= 2;
}

/*
 * A record dropped shows in brook_app_records_dropped() when it is
 * dropped, not when the thread's round ends: a process killed in that
 * round has shown it (the chaos test weighs a window's final against the
 * records dropped as late). Two records in one partition, in the log
 * before the app starts, so that one fetch brings both and one round
 * processes both: a NULL key, which the count drops, then k-00000, whose
 * store read waits at the gate. While the thread waits there, in the
 * round that dropped the first record, the drop must show.
 */
static void test_drop_shows_at_once(void **state)
{
        char *app_id = kt_unique("rt-drop");
        char *in = kt_unique("rt-drop-in"), *out = kt_unique("rt-drop-out");
        brook_kvstore_supplier_t gated;
        int64_t null_keys, dropped, processed;
        brook_app_t *app;
        rd_kafka_t *rk;
        char key[32];

        kt_create_topic(in, 1);
        kt_create_topic(out, 1);
        rk = kt_producer();
        kt_produce(rk, in, 0, NULL, "x", 1, NULL);
        key_of(key, sizeof key, 0);
        kt_produce(rk, in, 0, key, "x", 1, NULL);
        kt_producer_close(rk);

        slow_store_supplier(&gated, 0);
        atomic_store(&slow_gate_closed, 1);
        const char *props[] = {"state.dir", new_dir(), NULL};
        app = start_app(app_id, in, out, &gated, props);
        assert_true(kt_wait_until(gate_held, NULL, 10, 60000));
        null_keys = brook_app_records_dropped(app, BROOK_DROP_NULL_KEY);
        dropped = stats_of(app).records_dropped;
        atomic_store(&slow_gate_closed, 0);
        assert_int_equal(null_keys, 1);
        assert_int_equal(dropped, 1);

        assert_int_equal(kt_wait_count(out, 1, 30000), 1);
        /* Published at the end of the round, which may come after the
         * output's commit. */
        assert_true(kt_wait_until(processed_two, app, 10, 30000));
        processed = stats_of(app).records_processed;
        stop_app(app);
        assert_int_equal(processed, 2);
        assert_each_once(out, 1);
        free(app_id);
        free(in);
        free(out);
}

/* ------------------------------------------------ a thread that froze */

/*
 * At least once, with the record cache on: a stream thread that did not
 * run for longer than session.timeout.ms must find out whether it still
 * has its tasks before it writes anything more. Its next commit would
 * otherwise flush its cache to the changelog and the output: a zombie's
 * state, which the restoration of the task would then take. The thread is
 * held (a gated store) at k-00001, past max.poll.interval.ms, until its
 * consumer has left the group, then let go. It must close its task
 * without a commit, rejoin, and count k-00001 again from the changelog
 * without it: k-00001 comes out once, counted 1. A thread that committed
 * first would have written k-00001 = 1 to the changelog and counted it
 * again to 2.
 */
static void test_frozen_thread_writes_nothing(void **state)
{
        char *app_id = kt_unique("rt-frozen");
        char *in = kt_unique("rt-frozen-in"), *out = kt_unique("rt-frozen-out");
        brook_kvstore_supplier_t gated;
        committed_t cm = {
                .group = app_id, .topic = in, .partitions = 1, .want = 1};
        brook_app_t *app;

        kt_create_topic(in, 1);
        kt_create_topic(out, 1);
        slow_store_supplier(&gated, 0);
        const char *props[] = {SHORT_POLL_PROPS, "state.dir", new_dir(), NULL};
        app = start_app(app_id, in, out, &gated, props);
        cm.app = app;
        produce_keys(in, 0, 1);
        assert_true(kt_wait_until(committed_all, &cm, 50, 60000));

        atomic_store(&slow_gate_closed, 1);
        produce_keys(in, 1, 2);
        assert_true(kt_wait_until(gate_held, NULL, 10, 60000));
        /* librdkafka leaves the group once max.poll.interval.ms passes
         * without a poll. */
        kt_wait_group_empty(app_id, 60000);
        atomic_store(&slow_gate_closed, 0);

        cm.want = 2;
        assert_true(kt_wait_until(committed_all, &cm, 50, 120000));
        stop_app(app);

        /* A frozen thread that wrote its cache: k-00001 twice, counted 2. */
        assert_each_once(out, 2);
        free(app_id);
        free(in);
        free(out);
}

/* ------------------------------------------------------------ teardown */

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
        return remove(path);
}

static int teardown(void **state)
{
        int i;
        atomic_store(&slow_gate_closed, 0);
        if (broker_down) {
                kt_broker("restart");
                broker_down = false;
        }
        for (i = 0; i < 4; i++) {
                if (pids[i]) {
                        kill(pids[i], SIGKILL);
                        kt_wait(pids[i], 30000);
                        pids[i] = 0;
                }
                if (apps[i]) {
                        brook_app_destroy(apps[i]);
                        apps[i] = NULL;
                }
                if (dirs[i]) {
                        nftw(dirs[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
                        free(dirs[i]);
                        dirs[i] = NULL;
                }
        }
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_restore_with_join, teardown),
                cmocka_unit_test_teardown(test_sigterm_restoring, teardown),
                cmocka_unit_test_teardown(test_broker_outage, teardown),
                cmocka_unit_test_teardown(test_lost_records_dropped, teardown),
                cmocka_unit_test_teardown(test_restorer_closed_when_done,
                                          teardown),
                cmocka_unit_test_teardown(test_drop_shows_at_once, teardown),
                cmocka_unit_test_teardown(test_frozen_thread_writes_nothing,
                                          teardown),
        };
        kt_test_filter();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
