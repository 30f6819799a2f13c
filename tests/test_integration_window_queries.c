/*
 * Integration: interactive queries of window and session stores (issue 10).
 *
 *   window_and_session_queries   a tumbling-window count, a session count
 *                                and a key-value count of one known input,
 *                                on a real broker: every window and
 *                                session query answers exactly (forward
 *                                and backward, inclusive time bounds,
 *                                session find bounds, across the two
 *                                local tasks), queries of the wrong kind,
 *                                unknown stores, NULL keys and a stopped
 *                                app fail with the documented errors, and
 *                                iterators open when the tasks leave fail
 *                                naming the task, even after the app is
 *                                destroyed; the changelog topics have
 *                                the cleanup policy and retention.ms
 *                                Kafka Streams gives them.
 *
 * Input: keys "k0" .. "k5"; key i has, for w in 0..3 but not the w with
 * (i + w) % 4 == 3, c = 1 + (i + w) % 3 records at base + w * 10 s +
 * j * 1 s (j < c). So each such (key, w) is one 10 s tumbling window with
 * count c and timestamp base + w * 10 s + (c - 1) s, and one session (gap
 * 5 s) [base + w * 10 s, base + w * 10 s + (c - 1) s] with count c.
 * Retention is an hour (segments of 30 min) and base a multiple of 30 min,
 * so every result lies in one segment: results come by key, then time.
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "brook_int.h"
#include "kafka_util.h"

#define NKEYS   6
#define NWIN    4
#define PARTS   2
#define SIZE_MS 10000
#define GAP_MS  5000
#define HOUR_MS 3600000
#define WSTORE  "wcounts"
#define SSTORE  "scounts"
#define KSTORE  "kcounts"

static int64_t base;
static int32_t partition_of[NKEYS];
static brook_app_t *app;
static char *dir;
static brook_arena_t *arena;
static brook_windowiter_t *held[3];

/* Records of key @p i in window @p w (0: none). */
static int count_of(int i, int w)
{
        return (i + w) % 4 == 3 ? 0 : 1 + (i + w) % 3;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
        return remove(path);
}

static int teardown(void **state)
{
        int i;
        for (i = 0; i < 3; i++) {
                brook_windowiter_destroy(held[i]);
                held[i] = NULL;
        }
        brook_app_destroy(app);
        app = NULL;
        brook_arena_destroy(arena);
        arena = NULL;
        if (dir) {
                nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
                free(dir);
                dir = NULL;
        }
        return 0;
}

/* ------------------------------------------------------------- topology */

static brook_builder_t *topology(const char *in)
{
        brook_builder_t *b = brook_builder_new();
        const brook_serde_t *str = brook_serde_string();
        brook_stream_t *s = brook_stream(
                b, in,
                &(brook_consumed_t){.key_serde = str,
                                    .value_serde = brook_serde_bytes()});
        brook_windows_t tw = brook_windows_tumbling(SIZE_MS, 10 * 60000);
        brook_windows_t sw = brook_windows_session(GAP_MS, 10 * 60000);

        assert_non_null(brook_windowed_count(
                brook_grouped_windowed_by(brook_stream_group_by_key(s, NULL),
                                          &tw),
                &(brook_materialized_t){.name = WSTORE,
                                        .key_serde = str,
                                        .retention_ms = HOUR_MS,
                                        .version =
                                                BROOK_MATERIALIZED_VERSION}));
        assert_non_null(brook_windowed_count(
                brook_grouped_windowed_by(brook_stream_group_by_key(s, NULL),
                                          &sw),
                &(brook_materialized_t){.name = SSTORE,
                                        .key_serde = str,
                                        .retention_ms = HOUR_MS,
                                        .version =
                                                BROOK_MATERIALIZED_VERSION}));
        assert_non_null(brook_grouped_count(
                brook_stream_group_by_key(s, NULL),
                &(brook_materialized_t){.name = KSTORE,
                                        .key_serde = str,
                                        .value_serde = brook_serde_int64()}));
        assert_null(brook_builder_error(b));
        return b;
}

static brook_app_t *new_app(const char *app_id, const char *in)
{
        const char *props[][2] = {
                {"application.id", app_id},
                {"bootstrap.servers", kt_bootstrap()},
                {"state.dir", dir},
                {"commit.interval.ms", "200"},
        };
        brook_conf_t *conf = brook_conf_new();
        char errstr[1024];
        brook_app_t *a;
        size_t i;

        for (i = 0; i < sizeof props / sizeof *props; i++)
                if (brook_conf_set(conf, props[i][0], props[i][1], errstr,
                                   sizeof errstr))
                        fail_msg("%s", errstr);
        a = brook_app_new(topology(in), conf, errstr, sizeof errstr);
        if (!a)
                fail_msg("brook_app_new: %s", errstr);
        return a;
}

static void produce_at(rd_kafka_t *rk, const char *topic, const char *key,
                       int64_t ts)
{
        rd_kafka_resp_err_t err;
        for (;;) {
                err = rd_kafka_producev(
                        rk, RD_KAFKA_V_TOPIC(topic),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_KEY(key, strlen(key)),
                        RD_KAFKA_V_VALUE("x", 1), RD_KAFKA_V_TIMESTAMP(ts),
                        RD_KAFKA_V_END);
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        break;
                rd_kafka_poll(rk, 50);
        }
        if (err)
                fail_msg("produce to %s: %s", topic, rd_kafka_err2str(err));
        rd_kafka_poll(rk, 0);
}

/* ------------------------------------------------- results as strings
 *
 * A window entry reads "k1@10000=2/t12000" (window start and timestamp
 * relative to base; the end must be start + size), a session entry
 * "k1@[10000,12000]=2"; entries are joined by spaces. */

typedef struct out {
        char s[8192];
        size_t len;
} out_t;

static void out_reset(out_t *o)
{
        o->len = 0;
        o->s[0] = '\0';
}

static void out_add(out_t *o, const char *fmt, ...)
{
        va_list ap;
        int n;
        if (o->len)
                o->s[o->len++] = ' ';
        va_start(ap, fmt);
        n = vsnprintf(o->s + o->len, sizeof o->s - o->len, fmt, ap);
        va_end(ap);
        assert_true(n > 0 && (size_t)n < sizeof o->s - o->len);
        o->len += (size_t)n;
}

static void expect_window(out_t *o, int i, int w)
{
        int c = count_of(i, w);
        if (c)
                out_add(o, "k%d@%d=%d/t%d", i, w * SIZE_MS, c,
                        w * SIZE_MS + (c - 1) * 1000);
}

static void expect_session(out_t *o, int i, int w)
{
        int c = count_of(i, w);
        if (c)
                out_add(o, "k%d@[%d,%d]=%d", i, w * SIZE_MS,
                        w * SIZE_MS + (c - 1) * 1000, c);
}

/* Reads @p it to its end (destroying it) into @p o; the error that ended
 * it otherwise, with the reason in @p why. */
static brook_err_t drain(brook_windowiter_t *it, bool session, out_t *o,
                         char *why, size_t why_size)
{
        brook_window_t win;
        void *k, *v;
        brook_err_t err;

        out_reset(o);
        while (!(
                err = brook_windowiter_next(it, &k, &win, &v, why, why_size))) {
                int64_t ts = brook_windowiter_timestamp(it);
                if (session) {
                        assert_int_equal(ts, -1);
                        out_add(o, "%s@[%" PRId64 ",%" PRId64 "]=%" PRId64,
                                (char *)k, win.start - base, win.end - base,
                                *(int64_t *)v);
                } else {
                        assert_int_equal(win.end, win.start + SIZE_MS);
                        out_add(o, "%s@%" PRId64 "=%" PRId64 "/t%" PRId64,
                                (char *)k, win.start - base, *(int64_t *)v,
                                ts - base);
                }
        }
        brook_windowiter_destroy(it);
        return err == BROOK_ERR_END ? BROOK_OK : err;
}

/* Reverses the space-separated entries of @p o in place. */
static void reverse(out_t *o)
{
        char tmp[sizeof o->s];
        size_t len = 0, end = o->len;
        while (end > 0) {
                size_t start = end;
                while (start > 0 && o->s[start - 1] != ' ')
                        start--;
                if (len)
                        tmp[len++] = ' ';
                memcpy(tmp + len, o->s + start, end - start);
                len += end - start;
                end = start ? start - 1 : 0;
        }
        memcpy(o->s, tmp, len);
        o->s[len] = '\0';
        o->len = len;
}

/* Every local result of a key-less query: partition by partition, key by
 * key (same-length keys, so byte order is "k0" < "k1" ...), window by
 * window in [@p w_lo, @p w_hi]. */
static void expect_all(out_t *o, bool session, int w_lo, int w_hi)
{
        int p, i, w;
        out_reset(o);
        for (p = 0; p < PARTS; p++)
                for (i = 0; i < NKEYS; i++) {
                        if (partition_of[i] != p)
                                continue;
                        for (w = w_lo; w <= w_hi; w++)
                                session ? expect_session(o, i, w)
                                        : expect_window(o, i, w);
                }
}

typedef struct query {
        enum { Q_WINDOW, Q_WINDOW_ALL, Q_SESSION, Q_SESSION_FIND } q;
        const char *key;
        int64_t from, to; /**< Relative to base (find: earliest end,
                           *  latest start). */
        bool backward;
} query_t;

/* Runs @p q into @p o. */
static brook_err_t run(const query_t *q, out_t *o, char *why, size_t why_size)
{
        brook_windowiter_t *it = NULL;
        brook_err_t err;

        switch (q->q) {
        case Q_WINDOW:
                err = brook_app_window_fetch(
                        app, WSTORE, q->key, base + q->from, base + q->to,
                        q->backward, arena, &it, why, why_size);
                break;
        case Q_WINDOW_ALL:
                err = brook_app_window_fetch_all(app, WSTORE, base + q->from,
                                                 base + q->to, q->backward,
                                                 arena, &it, why, why_size);
                break;
        case Q_SESSION:
                err = brook_app_session_fetch(app, SSTORE, q->key, q->backward,
                                              arena, &it, why, why_size);
                break;
        default:
                err = brook_app_session_find(
                        app, SSTORE, q->key, base + q->from, base + q->to,
                        q->backward, arena, &it, why, why_size);
                break;
        }
        if (err) {
                assert_null(it);
                return err;
        }
        return drain(it, q->q >= Q_SESSION, o, why, why_size);
}

/* Runs @p q and asserts it gives exactly @p want. */
static void assert_query(const query_t *q, const out_t *want)
{
        char why[512] = "";
        out_t got;
        brook_err_t err = run(q, &got, why, sizeof why);
        if (err)
                fail_msg("query %d key %s [%" PRId64 ", %" PRId64 "]%s: %s: %s",
                         q->q, q->key ? q->key : "(all)", q->from, q->to,
                         q->backward ? " backward" : "", brook_err2str(err),
                         why);
        if (strcmp(got.s, want->s))
                fail_msg("query %d key %s [%" PRId64 ", %" PRId64 "]%s:\n"
                         "  got  \"%s\"\n  want \"%s\"",
                         q->q, q->key ? q->key : "(all)", q->from, q->to,
                         q->backward ? " backward" : "", got.s, want->s);
        brook_arena_reset(arena);
}

/* Forward: @p want; backward: @p want reversed. */
static void assert_both_ways(query_t q, out_t want)
{
        q.backward = false;
        assert_query(&q, &want);
        reverse(&want);
        q.backward = true;
        assert_query(&q, &want);
}

/* Whether every window and session of the input is in the stores (what
 * the tasks committed: RocksDB queries see the last commit). */
static bool all_there(void *opaque)
{
        query_t wq = {Q_WINDOW_ALL, NULL, 0, HOUR_MS, false};
        query_t sq = {Q_SESSION_FIND, NULL, 0, HOUR_MS, false};
        out_t want, got;
        char why[512];

        (void)opaque;
        if (brook_app_state(app, NULL, 0) == BROOK_APP_ERROR)
                fail_msg("the app failed");
        expect_all(&want, false, 0, NWIN - 1);
        if (run(&wq, &got, why, sizeof why) || strcmp(got.s, want.s))
                return false;
        expect_all(&want, true, 0, NWIN - 1);
        if (run(&sq, &got, why, sizeof why) || strcmp(got.s, want.s))
                return false;
        brook_arena_reset(arena);
        return true;
}

/* Asserts @p err is @p want_err and the message is exactly @p want. */
static void assert_fails(brook_err_t err, const char *errstr,
                         brook_err_t want_err, const char *want)
{
        if (err != want_err)
                fail_msg("got %s (%s), want %s (%s)", brook_err2str(err),
                         errstr, brook_err2str(want_err), want);
        assert_string_equal(errstr, want);
}

/* The next entry of held iterator @p it is the failure naming task
 * @p task_id, and it stays failed. */
static void assert_left(brook_windowiter_t *it, const char *store,
                        const char *task_id)
{
        char errstr[512] = "", want[256];
        brook_window_t w;
        void *k, *v;
        int i;
        snprintf(want, sizeof want,
                 "store \"%s\": task %s left this instance (rebalance or "
                 "shutdown) while the iterator was open",
                 store, task_id);
        for (i = 0; i < 2; i++) {
                assert_int_equal(brook_windowiter_next(it, &k, &w, &v, errstr,
                                                       sizeof errstr),
                                 BROOK_ERR_STATE);
                assert_null(k);
                assert_null(v);
                assert_int_equal(brook_windowiter_timestamp(it), -1);
                assert_string_equal(errstr, want);
        }
}

/* ------------------------------------------------------------------ test */

static void test_window_and_session_queries(void **state)
{
        char *in = kt_unique("wq-in"), *app_id = kt_unique("wq-app");
        char errstr[512], key[8], want_msg[512];
        char task_of[PARTS][32], task_k0[32];
        int n_part0_windows = 0, i, w, j;
        brook_windowiter_t *it = NULL;
        brook_key_metadata_t md;
        brook_window_t win;
        out_t want;
        void *k, *v;
        rd_kafka_t *rk;
        brook_err_t err;

        (void)state;
        base = kt_now_ms() / (HOUR_MS / 2) * (HOUR_MS / 2);
        for (i = 0; i < NKEYS; i++) {
                snprintf(key, sizeof key, "k%d", i);
                partition_of[i] = rd_kafka_msg_partitioner_murmur2(
                        NULL, key, strlen(key), PARTS, NULL, NULL);
                for (w = 0; w < NWIN; w++)
                        if (partition_of[i] == 0 && count_of(i, w))
                                n_part0_windows++;
        }
        /* Key-less results span both tasks. */
        for (i = 0; i < NKEYS && partition_of[i] == partition_of[0]; i++)
                ;
        assert_true(i < NKEYS);
        assert_true(n_part0_windows > 0);

        dir = strdup("/tmp/brook-wq-test-XXXXXX");
        assert_non_null(mkdtemp(dir));
        arena = brook_arena_new();
        kt_create_topic(in, PARTS);
        rk = kt_producer();
        for (w = 0; w < NWIN; w++)
                for (j = 0; j < 3; j++)
                        for (i = 0; i < NKEYS; i++)
                                if (j < count_of(i, w)) {
                                        snprintf(key, sizeof key, "k%d", i);
                                        produce_at(rk, in, key,
                                                   base + w * SIZE_MS +
                                                           j * 1000);
                                }
        kt_producer_close(rk);

        /* Not started: no query answers. */
        app = new_app(app_id, in);
        err = brook_app_window_fetch(app, WSTORE, "k0", 0, INT64_MAX, false,
                                     arena, &it, errstr, sizeof errstr);
        assert_fails(err, errstr, BROOK_ERR_STATE,
                     "the app is not running: queries need a started app");
        assert_null(it);
        err = brook_app_session_find(app, SSTORE, NULL, 0, INT64_MAX, false,
                                     arena, &it, errstr, sizeof errstr);
        assert_fails(err, errstr, BROOK_ERR_STATE,
                     "the app is not running: queries need a started app");

        if (brook_app_start(app, errstr, sizeof errstr))
                fail_msg("brook_app_start: %s", errstr);
        assert_true(kt_wait_until(all_there, NULL, 100, 120000));

        /* The changelogs brook created: window and session stores'
         * compacted and deleted after retention plus a day
         * (windowstore.changelog.additional.retention.ms), a key-value
         * store's compacted. */
        {
                static const struct {
                        const char *store, *policy, *retention;
                } want[] = {
                        {WSTORE, "compact,delete", "90000000"},
                        {SSTORE, "compact,delete", "90000000"},
                        {KSTORE, "compact", NULL},
                };
                for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
                        char topic[256], *v;
                        snprintf(topic, sizeof topic, "%s-%s-changelog", app_id,
                                 want[i].store);
                        v = kt_topic_config(topic, "cleanup.policy");
                        assert_non_null(v);
                        assert_string_equal(v, want[i].policy);
                        free(v);
                        if (!want[i].retention)
                                continue;
                        v = kt_topic_config(topic, "retention.ms");
                        assert_non_null(v);
                        assert_string_equal(v, want[i].retention);
                        free(v);
                }
        }

        /* Window fetch by key: bounds are window starts, inclusive. */
        {
                query_t q = {Q_WINDOW, "k0", 0, HOUR_MS, false};
                out_reset(&want);
                for (w = 0; w < NWIN; w++)
                        expect_window(&want, 0, w);
                assert_string_equal(want.s, "k0@0=1/t0 k0@10000=2/t11000 "
                                            "k0@20000=3/t22000");
                assert_both_ways(q, want);
        }
        for (i = 0; i < NKEYS; i++) {
                query_t q = {Q_WINDOW, NULL, 10000, 20000, false};
                snprintf(key, sizeof key, "k%d", i);
                q.key = key;
                out_reset(&want);
                expect_window(&want, i, 1);
                expect_window(&want, i, 2);
                assert_both_ways(q, want);
        }
        {
                query_t q = {Q_WINDOW, "k0", 10001, 20000, false};
                out_reset(&want);
                expect_window(&want, 0, 2);
                assert_both_ways(q, want);
                q.from = 10000;
                q.to = 19999;
                out_reset(&want);
                expect_window(&want, 0, 1);
                assert_both_ways(q, want);
                /* An empty range, and one before any data. */
                q.from = 20000;
                q.to = 10000;
                out_reset(&want);
                assert_both_ways(q, want);
                q.from = -HOUR_MS;
                q.to = -1;
                assert_both_ways(q, want);
                /* A key with no windows. */
                q.key = "zz";
                q.from = 0;
                q.to = HOUR_MS;
                assert_both_ways(q, want);
        }

        /* Every key's windows, across both local tasks. */
        {
                query_t q = {Q_WINDOW_ALL, NULL, 10000, 20000, false};
                expect_all(&want, false, 1, 2);
                assert_both_ways(q, want);
                q.from = 0;
                q.to = HOUR_MS;
                expect_all(&want, false, 0, NWIN - 1);
                assert_both_ways(q, want);
                q.from = 30000;
                q.to = 30000;
                expect_all(&want, false, 3, 3);
                assert_both_ways(q, want);
        }

        /* Sessions: fetch(key) is all of the key's, by end. */
        for (i = 0; i < NKEYS; i++) {
                query_t q = {Q_SESSION, NULL, 0, 0, false};
                snprintf(key, sizeof key, "k%d", i);
                q.key = key;
                out_reset(&want);
                for (w = 0; w < NWIN; w++)
                        expect_session(&want, i, w);
                assert_both_ways(q, want);
        }
        {
                query_t q = {Q_SESSION, "k0", 0, 0, false};
                out_reset(&want);
                for (w = 0; w < NWIN; w++)
                        expect_session(&want, 0, w);
                assert_string_equal(want.s, "k0@[0,0]=1 k0@[10000,11000]=2 "
                                            "k0@[20000,22000]=3");
                assert_both_ways(q, want);
        }
        /* find(key, earliest end, latest start): k0's sessions end at 0,
         * 11000, 22000 and start at 0, 10000, 20000; both bounds are
         * inclusive. */
        {
                query_t q = {Q_SESSION_FIND, "k0", 11000, 20000, false};
                out_reset(&want);
                expect_session(&want, 0, 1);
                expect_session(&want, 0, 2);
                assert_both_ways(q, want);
                q.from = 11001;
                out_reset(&want);
                expect_session(&want, 0, 2);
                assert_both_ways(q, want);
                q.from = 11000;
                q.to = 19999;
                out_reset(&want);
                expect_session(&want, 0, 1);
                assert_both_ways(q, want);
                q.from = 0;
                q.to = 0;
                out_reset(&want);
                expect_session(&want, 0, 0);
                assert_both_ways(q, want);
                q.from = 22001;
                q.to = HOUR_MS;
                out_reset(&want);
                assert_both_ways(q, want);
        }
        /* A NULL key: every key's sessions, across both tasks. */
        {
                query_t q = {Q_SESSION_FIND, NULL, 0, HOUR_MS, false};
                expect_all(&want, true, 0, NWIN - 1);
                assert_both_ways(q, want);
        }

        /* The key-value store next to them answers as before. */
        for (i = 0; i < NKEYS; i++) {
                int64_t total = 0;
                void *value = NULL;
                for (w = 0; w < NWIN; w++)
                        total += count_of(i, w);
                snprintf(key, sizeof key, "k%d", i);
                if (brook_app_store_get(app, KSTORE, key, arena, &value, errstr,
                                        sizeof errstr))
                        fail_msg("brook_app_store_get: %s", errstr);
                assert_int_equal(*(int64_t *)value, total);
        }
        /* Key metadata works on every kind. */
        assert_int_equal(brook_app_store_key_metadata(app, WSTORE, "k1", &md,
                                                      errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(md.partition, partition_of[1]);
        assert_true(md.local);

        /* Queries of the wrong kind, unknown stores, NULL keys. */
        {
                void *value = (void *)1;
                brook_kviter_t *kit = (brook_kviter_t *)1;
                err = brook_app_store_get(app, WSTORE, "k0", arena, &value,
                                          errstr, sizeof errstr);
                assert_fails(err, errstr, BROOK_ERR_INVALID_ARG,
                             "store \"" WSTORE "\" is a window store, not a "
                             "key-value store: query it with "
                             "brook_app_window_fetch() or "
                             "brook_app_window_fetch_all()");
                assert_null(value);
                err = brook_app_store_all(app, SSTORE, arena, &kit, errstr,
                                          sizeof errstr);
                assert_fails(err, errstr, BROOK_ERR_INVALID_ARG,
                             "store \"" SSTORE "\" is a session store, not a "
                             "key-value store: query it with "
                             "brook_app_session_fetch() or "
                             "brook_app_session_find()");
                assert_null(kit);
                kit = (brook_kviter_t *)1;
                err = brook_app_store_range(app, WSTORE, NULL, NULL, arena,
                                            &kit, errstr, sizeof errstr);
                assert_int_equal(err, BROOK_ERR_INVALID_ARG);
                assert_null(kit);
                kit = (brook_kviter_t *)1;
                err = brook_app_store_prefix(app, WSTORE, "k", NULL, arena,
                                             &kit, errstr, sizeof errstr);
                assert_int_equal(err, BROOK_ERR_INVALID_ARG);
                assert_null(kit);
        }
        snprintf(want_msg, sizeof want_msg,
                 "store \"%s\" is a key-value store, not a window store: "
                 "query it with brook_app_store_get(), _range(), _prefix() "
                 "or _all()",
                 KSTORE);
        it = (brook_windowiter_t *)1;
        err = brook_app_window_fetch(app, KSTORE, "k0", 0, HOUR_MS, false,
                                     arena, &it, errstr, sizeof errstr);
        assert_fails(err, errstr, BROOK_ERR_INVALID_ARG, want_msg);
        assert_null(it);
        err = brook_app_window_fetch_all(app, KSTORE, 0, HOUR_MS, false, arena,
                                         &it, errstr, sizeof errstr);
        assert_fails(err, errstr, BROOK_ERR_INVALID_ARG, want_msg);
        err = brook_app_window_fetch_all(app, SSTORE, 0, HOUR_MS, true, arena,
                                         &it, errstr, sizeof errstr);
        assert_fails(err, errstr, BROOK_ERR_INVALID_ARG,
                     "store \"" SSTORE "\" is a session store, not a window "
                     "store: query it with brook_app_session_fetch() or "
                     "brook_app_session_find()");
        err = brook_app_session_find(app, WSTORE, "k0", 0, HOUR_MS, false,
                                     arena, &it, errstr, sizeof errstr);
        assert_fails(err, errstr, BROOK_ERR_INVALID_ARG,
                     "store \"" WSTORE "\" is a window store, not a session "
                     "store: query it with brook_app_window_fetch() or "
                     "brook_app_window_fetch_all()");
        err = brook_app_session_fetch(app, KSTORE, "k0", false, arena, &it,
                                      errstr, sizeof errstr);
        assert_fails(err, errstr, BROOK_ERR_INVALID_ARG,
                     "store \"" KSTORE "\" is a key-value store, not a "
                     "session store: query it with brook_app_store_get(), "
                     "_range(), _prefix() or _all()");
        err = brook_app_window_fetch(app, "nope", "k0", 0, HOUR_MS, false,
                                     arena, &it, errstr, sizeof errstr);
        assert_fails(err, errstr, BROOK_ERR_NOT_FOUND,
                     "no store named \"nope\" in the topology");
        err = brook_app_session_fetch(app, "nope", "k0", false, arena, &it,
                                      errstr, sizeof errstr);
        assert_fails(err, errstr, BROOK_ERR_NOT_FOUND,
                     "no store named \"nope\" in the topology");
        err = brook_app_window_fetch(app, WSTORE, NULL, 0, HOUR_MS, false,
                                     arena, &it, errstr, sizeof errstr);
        assert_fails(err, errstr, BROOK_ERR_INVALID_ARG, "the key is NULL");
        err = brook_app_session_fetch(app, SSTORE, NULL, false, arena, &it,
                                      errstr, sizeof errstr);
        assert_fails(err, errstr, BROOK_ERR_INVALID_ARG, "the key is NULL");
        assert_null(it);

        /* Iterators open when the tasks leave: one not advanced, one read
         * past partition 0's windows into partition 1's, one by key. */
        for (i = 0; i < 2; i++)
                if (brook_app_window_fetch_all(app, WSTORE, base,
                                               base + HOUR_MS, false, arena,
                                               &held[i], errstr, sizeof errstr))
                        fail_msg("brook_app_window_fetch_all: %s", errstr);
        for (i = 0; i < n_part0_windows + 1; i++) {
                assert_int_equal(brook_windowiter_next(held[1], &k, &win, &v,
                                                       errstr, sizeof errstr),
                                 BROOK_OK);
                assert_int_equal(partition_of[((char *)k)[1] - '0'],
                                 i < n_part0_windows ? 0 : 1);
                assert_true(brook_windowiter_timestamp(held[1]) >= win.start);
        }
        if (brook_app_session_fetch(app, SSTORE, "k0", true, arena, &held[2],
                                    errstr, sizeof errstr))
                fail_msg("brook_app_session_fetch: %s", errstr);
        assert_int_equal(
                brook_app_store_key_metadata(app, SSTORE, "k0", &md, NULL, 0),
                BROOK_OK);
        snprintf(task_k0, sizeof task_k0, "%s", md.task_id);
        for (i = 0; i < NKEYS; i++) {
                snprintf(key, sizeof key, "k%d", i);
                assert_int_equal(brook_app_store_key_metadata(app, WSTORE, key,
                                                              &md, NULL, 0),
                                 BROOK_OK);
                snprintf(task_of[partition_of[i]], sizeof task_of[0], "%s",
                         md.task_id);
        }
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        assert_left(held[0], WSTORE, task_of[0]);
        assert_left(held[1], WSTORE, task_of[1]);
        assert_left(held[2], SSTORE, task_k0);

        /* Stopped: no query answers. */
        err = brook_app_window_fetch_all(app, WSTORE, 0, HOUR_MS, false, arena,
                                         &it, errstr, sizeof errstr);
        assert_fails(err, errstr, BROOK_ERR_STATE,
                     "the app is not running: queries need a started app");

        /* The iterators outlive their app: they still fail, and destroying
         * them after brook_app_destroy() is safe. */
        brook_app_destroy(app);
        app = NULL;
        assert_left(held[0], WSTORE, task_of[0]);
        for (i = 0; i < 3; i++) {
                brook_windowiter_destroy(held[i]);
                held[i] = NULL;
        }
        free(in);
        free(app_id);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_window_and_session_queries,
                                          teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
