/*
 * Windowed aggregations (operators/window.c, sliding.c, session.c) through
 * the test driver, with the exact outputs of Kafka Streams' documented
 * window behaviour: hopping membership and epoch alignment, sliding windows
 * (left and right windows, the combined window of early records,
 * out-of-order records within grace), session merges with their
 * tombstones, the grace boundary of each kind to the millisecond, output
 * timestamps, emit on window close, and the windowed key serdes' bytes.
 *
 * Outputs are read as "key@start/end=value@timestamp" strings, all of a
 * topic at once, and compared with the whole expected list.
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

#include "brook/brook.h"

typedef struct wtd {
        brook_test_driver_t *td;
        brook_serde_t *wserde; /* the output's key serde */
        bool session;
} wtd_t;

static void *concat_reducer(const brook_record_t *rec, void *agg, void *opaque)
{
        const char *v = brook_record_value(rec);
        size_t n = strlen(agg) + (v ? strlen(v) : 1) + 2;
        char *out = brook_record_alloc(rec, n);
        (void)opaque;
        snprintf(out, n, "%s+%s", (char *)agg, v ? v : "_");
        return out;
}

static void *empty_init(const brook_record_t *rec, void *opaque)
{
        (void)opaque;
        return brook_arena_strdup(brook_record_arena(rec), "");
}

static void *append_aggregator(const brook_record_t *rec, void *agg,
                               void *opaque)
{
        const char *v = brook_record_value(rec);
        size_t n = strlen(agg) + (v ? strlen(v) : 1) + 1;
        char *out = brook_record_alloc(rec, n);
        (void)opaque;
        snprintf(out, n, "%s%s", (char *)agg, v ? v : "_");
        return out;
}

static void *concat_merger(const brook_record_t *rec, void *a, void *b,
                           void *opaque)
{
        size_t n = strlen(a) + strlen(b) + 2;
        char *out = brook_record_alloc(rec, n);
        (void)opaque;
        snprintf(out, n, "%s|%s", (char *)a, (char *)b);
        return out;
}

typedef enum { AGG_COUNT, AGG_REDUCE, AGG_AGGREGATE } agg_t;

/* The store's retention_ms for the next wtd_new() (0: the default). */
static int64_t next_retention;
/* Kafka Streams' internal emit interval of emit on window close, if set
 * (NULL: the driver's 0). */
static const char *next_emit_interval;
/* A suppression after the aggregation, for the next wtd_new(). */
static const brook_suppressed_t *next_suppress;
/* The store supplier for the next wtd_new() (NULL: RocksDB). */
static const brook_kvstore_supplier_t *next_supplier;
/* The next wtd_new()'s input has no serdes of its own: the defaults
 * (default.key.serde, default.value.serde: string) apply. */
static bool next_default_serdes;

/* in (string keys and values) -> group_by_key -> windowed_by(w) -> agg ->
 * to_stream -> out, with the cache on or off. */
static wtd_t wtd_new(brook_windows_t w, agg_t agg, bool caching,
                     brook_emit_strategy_t emit)
{
        const brook_serde_t *str = brook_serde_string();
        brook_builder_t *b = brook_builder_new();
        brook_conf_t *conf = brook_conf_new();
        brook_materialized_t m = {.name = "win",
                                  .caching_disabled = !caching,
                                  .version = BROOK_MATERIALIZED_VERSION,
                                  .retention_ms = next_retention,
                                  .supplier = next_supplier};
        brook_stream_t *s = brook_stream(
                b, "in",
                next_default_serdes ? NULL
                                    : &(brook_consumed_t){.key_serde = str,
                                                          .value_serde = str});
        brook_windowed_stream_t *ws = brook_windowed_emit_strategy(
                brook_grouped_windowed_by(brook_stream_group_by_key(s, NULL),
                                          &w),
                emit);
        brook_table_t *t = NULL;
        char err[512] = "";
        wtd_t x = {.session = w.kind == BROOK_WINDOWS_SESSION};

        switch (agg) {
        case AGG_COUNT:
                t = brook_windowed_count(ws, &m);
                break;
        case AGG_REDUCE:
                t = brook_windowed_reduce(ws, concat_reducer, NULL, &m);
                break;
        case AGG_AGGREGATE:
                m.value_serde = str;
                t = brook_windowed_aggregate(ws, empty_init, append_aggregator,
                                             concat_merger, NULL, &m);
                break;
        }
        if (t && next_suppress)
                t = brook_table_suppress(t, next_suppress);
        if (!t)
                fail_msg("topology: %s", brook_builder_error(b));
        x.wserde = x.session
                           ? brook_serde_session_windowed(str, err, sizeof err)
                           : brook_serde_time_windowed(str, w.size_ms, err,
                                                       sizeof err);
        assert_non_null(x.wserde);
        brook_stream_to(
                brook_table_to_stream(t), "out",
                &(brook_produced_t){.key_serde = x.wserde,
                                    .value_serde = agg == AGG_COUNT
                                                           ? brook_serde_int64()
                                                           : str});
        assert_null(brook_builder_error(b));
        assert_int_equal(
                brook_conf_set(conf, "application.id", "w", err, sizeof err),
                BROOK_OK);
        if (next_emit_interval)
                assert_int_equal(brook_conf_set(conf,
                                                "__emit.interval.ms.kstreams."
                                                "windowed.aggregation__",
                                                next_emit_interval, err,
                                                sizeof err),
                                 BROOK_OK);
        if (next_default_serdes)
                assert_true(!brook_conf_set(conf, "default.key.serde", "string",
                                            err, sizeof err) &&
                            !brook_conf_set(conf, "default.value.serde",
                                            "string", err, sizeof err));
        x.td = brook_test_driver_new(b, conf, 0, err, sizeof err);
        if (!x.td)
                fail_msg("driver: %s", err);
        if (caching)
                brook_test_driver_set_auto_commit(x.td, false);
        return x;
}

static void wtd_free(wtd_t *x)
{
        brook_test_driver_destroy(x->td);
        brook_serde_destroy(x->wserde);
}

static void in(wtd_t *x, const char *key, const char *value, int64_t ts)
{
        char err[512] = "";
        if (brook_test_driver_pipe(x->td, "in", key, key ? strlen(key) : 0,
                                   value, value ? strlen(value) : 0, ts, NULL,
                                   0, err, sizeof err))
                fail_msg("pipe: %s", err);
}

/* Every unread record of "out", as "k@start/end=v@ts;" each. */
static void expect_out(wtd_t *x, bool count, const char *want)
{
        brook_test_output_t *out = brook_test_driver_output(
                x->td, "out", x->wserde,
                count ? brook_serde_int64() : brook_serde_string());
        brook_test_typed_record_t r;
        char got[4096] = "", err[512] = "";
        size_t n = 0;
        brook_err_t e;

        while (!(e = brook_test_output_read(out, &r, err, sizeof err))) {
                const brook_windowed_key_t *wk = r.key;
                char v[64];
                if (!r.value)
                        snprintf(v, sizeof v, "null");
                else if (count)
                        snprintf(v, sizeof v, "%" PRId64, *(int64_t *)r.value);
                else
                        snprintf(v, sizeof v, "%s", (char *)r.value);
                n += (size_t)snprintf(got + n, sizeof got - n,
                                      "%s@%" PRId64 "/%" PRId64 "=%s@%" PRId64
                                      ";",
                                      (char *)wk->key, wk->window.start,
                                      wk->window.end, v, r.timestamp);
        }
        if (e != BROOK_ERR_NOT_FOUND)
                fail_msg("read: %s", err);
        if (strcmp(got, want))
                fail_msg("output\n got: %s\nwant: %s", got, want);
}

static uint64_t late(wtd_t *x)
{
        return brook_test_driver_records_dropped(x->td, BROOK_DROP_LATE);
}

/* ------------------------------------------------------------ time windows */

/* Hopping windows of 10 ms every 5 ms start at multiples of 5 from the
 * epoch: a record at t belongs to the windows starting in (t - 10, t]. */
static void test_hopping_membership(void **state)
{
        wtd_t x = wtd_new(brook_windows_hopping(10, 5, 100), AGG_COUNT, false,
                          BROOK_EMIT_ON_WINDOW_UPDATE);
        (void)state;
        in(&x, "a", "1", 3);  /* [0,10) only: no window starts below 0 */
        in(&x, "a", "2", 12); /* [5,15) and [10,20) */
        in(&x, "a", "3", 10); /* [5,15) and [10,20); 10 is not in [0,10) */
        in(&x, "b", "4", 9);  /* [0,10) and [5,15) */
        expect_out(&x, true,
                   "a@0/10=1@3;"
                   "a@5/15=1@12;a@10/20=1@12;"
                   "a@5/15=2@12;a@10/20=2@12;"
                   "b@0/10=1@9;b@5/15=1@9;");
        wtd_free(&x);
}

/* A window [start, end) takes records until stream time reaches end +
 * grace: with size 10 and grace 5, [0,10) accepts a record at stream time
 * 14 and drops one at 15. Results carry the largest timestamp so far. */
static void test_tumbling_grace_boundary(void **state)
{
        wtd_t x = wtd_new(brook_windows_tumbling(10, 5), AGG_COUNT, false,
                          BROOK_EMIT_ON_WINDOW_UPDATE);
        (void)state;
        in(&x, "k", "a", 7);
        in(&x, "k", "b", 3);  /* out of order: the result keeps 7 */
        in(&x, "k", "c", 14); /* stream time 14 */
        in(&x, "k", "d", 5);  /* [0,10): 10 > 14 - 5, accepted */
        in(&x, "j", "e", 15); /* stream time 15 */
        in(&x, "k", "f", 9);  /* [0,10): 10 <= 15 - 5, dropped */
        in(&x, "k", "g", 10); /* [10,20) */
        expect_out(&x, true,
                   "k@0/10=1@7;k@0/10=2@7;k@10/20=1@14;k@0/10=3@7;"
                   "j@10/20=1@15;k@10/20=2@14;");
        assert_int_equal(late(&x), 1);
        wtd_free(&x);
}

static void test_tumbling_reduce_aggregate(void **state)
{
        wtd_t r = wtd_new(brook_windows_tumbling(10, 0), AGG_REDUCE, false,
                          BROOK_EMIT_ON_WINDOW_UPDATE);
        wtd_t a = wtd_new(brook_windows_tumbling(10, 0), AGG_AGGREGATE, false,
                          BROOK_EMIT_ON_WINDOW_UPDATE);
        (void)state;
        in(&r, "k", "x", 1);
        in(&r, "k", "y", 2);
        in(&r, NULL, "n", 3); /* null key: dropped */
        in(&r, "k", "z", 12);
        expect_out(&r, false, "k@0/10=x@1;k@0/10=x+y@2;k@10/20=z@12;");
        in(&a, "k", "x", 1);
        in(&a, "k", NULL, 2); /* null values are aggregated, as in KS */
        in(&a, "k", "z", 12);
        expect_out(&a, false, "k@0/10=x@1;k@0/10=x_@2;k@10/20=z@12;");
        assert_int_equal(
                brook_test_driver_records_dropped(r.td, BROOK_DROP_NULL_KEY),
                1);
        wtd_free(&r);
        wtd_free(&a);
}

/* With the cache, updates of a window collapse until the commit; the
 * result goes out with its own timestamp. */
static void test_tumbling_cache(void **state)
{
        wtd_t x = wtd_new(brook_windows_tumbling(10, 0), AGG_COUNT, true,
                          BROOK_EMIT_ON_WINDOW_UPDATE);
        char err[512];
        (void)state;
        in(&x, "k", "a", 7);
        in(&x, "k", "b", 3);
        in(&x, "k", "c", 11);
        expect_out(&x, true, "");
        assert_int_equal(brook_test_driver_commit(x.td, err, sizeof err),
                         BROOK_OK);
        expect_out(&x, true, "k@0/10=2@7;k@10/20=1@11;");
        wtd_free(&x);
}

/* Emit on window close: one final result per window and key once stream
 * time passes end + grace, at most once per second of wall clock (Kafka
 * Streams' emit interval). */
static void test_tumbling_emit_on_close(void **state)
{
        wtd_t x;
        char err[512];
        (void)state;

        /* The app's default: closed windows are looked for at most once
         * per second of wall clock. */
        next_emit_interval = "1000";
        x = wtd_new(brook_windows_tumbling(10, 2), AGG_COUNT, false,
                    BROOK_EMIT_ON_WINDOW_CLOSE);
        next_emit_interval = NULL;
        in(&x, "k", "a", 1);
        in(&x, "j", "b", 5);
        in(&x, "k", "c", 8);
        in(&x, "k", "d", 11);
        assert_int_equal(brook_test_driver_advance_wall_clock(x.td, 1000, err,
                                                              sizeof err),
                         BROOK_OK);
        in(&x, "k", "e", 11); /* stream time 11: [0,10) open until 12 */
        expect_out(&x, true, "");
        assert_int_equal(brook_test_driver_advance_wall_clock(x.td, 1000, err,
                                                              sizeof err),
                         BROOK_OK);
        in(&x, "k", "f", 12); /* closes [0,10): j before k at start 0 */
        expect_out(&x, true, "j@0/10=1@5;k@0/10=2@8;");
        in(&x, "k", "g", 25); /* within the same wall-clock second */
        expect_out(&x, true, "");
        assert_int_equal(brook_test_driver_advance_wall_clock(x.td, 1000, err,
                                                              sizeof err),
                         BROOK_OK);
        in(&x, "k", "h", 25);
        expect_out(&x, true, "k@10/20=3@12;");
        wtd_free(&x);

        /* The driver's default, as Kafka Streams' TopologyTestDriver's: a
         * window goes out with the first record that closes it. */
        x = wtd_new(brook_windows_tumbling(10, 2), AGG_COUNT, false,
                    BROOK_EMIT_ON_WINDOW_CLOSE);
        in(&x, "k", "a", 1);
        in(&x, "k", "e", 11);
        expect_out(&x, true, "");
        in(&x, "k", "f", 12);
        expect_out(&x, true, "k@0/10=1@1;");
        in(&x, "k", "g", 25);
        expect_out(&x, true, "k@10/20=2@12;");
        wtd_free(&x);
}

/* --------------------------------------------------------- sliding windows */

/* Time difference 10: each record makes its left window [t-10, t]; a
 * record within 10 ms of a later one gets a right window [t+1, t+11]. */
static void test_sliding_left_right(void **state)
{
        wtd_t x = wtd_new(brook_windows_sliding(10, 100), AGG_COUNT, false,
                          BROOK_EMIT_ON_WINDOW_UPDATE);
        (void)state;
        in(&x, "k", "a", 20); /* left [10,20] */
        in(&x, "k", "b", 25); /* a's right [21,31]; left [15,25] */
        /* Left [30,40] only: b's right window [26,36] would not hold c. */
        in(&x, "k", "c", 40);
        expect_out(&x, true,
                   "k@10/20=1@20;"
                   "k@21/31=1@25;k@15/25=2@25;"
                   "k@30/40=1@40;");
        wtd_free(&x);
}

/* An out-of-order record updates the windows it falls in and creates its
 * own left window and, when a later record is within 10 ms, its right. */
static void test_sliding_out_of_order(void **state)
{
        wtd_t x = wtd_new(brook_windows_sliding(10, 100), AGG_COUNT, false,
                          BROOK_EMIT_ON_WINDOW_UPDATE);
        (void)state;
        in(&x, "k", "a", 20);
        in(&x, "k", "b", 30);
        in(&x, "k", "c", 25);
        expect_out(&x, true,
                   "k@10/20=1@20;"
                   "k@21/31=1@30;k@20/30=2@30;"
                   "k@21/31=2@30;k@20/30=3@30;k@15/25=2@25;k@26/36=1@30;");
        wtd_free(&x);
}

/* Records before the time difference share the combined window [0, 10]. */
static void test_sliding_early(void **state)
{
        wtd_t x = wtd_new(brook_windows_sliding(10, 100), AGG_COUNT, false,
                          BROOK_EMIT_ON_WINDOW_UPDATE);
        (void)state;
        in(&x, "k", "a", 3);
        in(&x, "k", "b", 6);
        expect_out(&x, true, "k@0/10=1@3;k@4/14=1@6;k@0/10=2@6;");
        wtd_free(&x);
}

/* The grace boundary: with grace 5 at stream time 40 (close time 35), a
 * left window [t-10, t] is accepted for t = 35 and dropped for t = 34;
 * a record whose right window also ends before 35 is dropped at once. */
static void test_sliding_grace_boundary(void **state)
{
        wtd_t x = wtd_new(brook_windows_sliding(10, 5), AGG_COUNT, false,
                          BROOK_EMIT_ON_WINDOW_UPDATE);
        (void)state;
        in(&x, "k", "a", 40);
        in(&x, "j", "b", 35); /* [25,35]: 35 >= 35, accepted */
        in(&x, "i", "c", 34); /* [24,34]: 34 < 35, dropped */
        in(&x, "i", "d", 25); /* 25 + 10 >= 35, but [15,25] is closed */
        in(&x, "i", "e", 24); /* 24 + 10 < 35: dropped before any window */
        expect_out(&x, true, "k@30/40=1@40;j@25/35=1@35;");
        assert_int_equal(late(&x), 3);
        wtd_free(&x);
}

/* -------------------------------------------------------- session windows */

static void test_session_merges(void **state)
{
        wtd_t x = wtd_new(brook_windows_session(5, 100), AGG_COUNT, false,
                          BROOK_EMIT_ON_WINDOW_UPDATE);
        (void)state;
        in(&x, "k", "a", 0);
        in(&x, "k", "b", 3);  /* merges [0,0] */
        in(&x, "k", "c", 10); /* 10 - 3 > 5: a new session */
        in(&x, "k", "d", 6);  /* bridges [0,3] and [10,10] */
        in(&x, "j", "e", 6);
        expect_out(&x, true,
                   "k@0/0=1@0;"
                   "k@0/0=null@0;k@0/3=2@3;"
                   "k@10/10=1@10;"
                   "k@0/3=null@3;k@10/10=null@10;k@0/10=4@10;"
                   "j@6/6=1@6;");
        wtd_free(&x);
}

static void test_session_aggregate_merger(void **state)
{
        wtd_t x = wtd_new(brook_windows_session(5, 100), AGG_AGGREGATE, false,
                          BROOK_EMIT_ON_WINDOW_UPDATE);
        (void)state;
        in(&x, "k", "a", 0);
        in(&x, "k", "b", 10);
        in(&x, "k", "c", 5); /* within 5 of both */
        /* The merger folds the initializer's "" with each session found,
         * oldest first, then the aggregator adds c. */
        expect_out(&x, false,
                   "k@0/0=a@0;k@10/10=b@10;"
                   "k@0/0=null@0;k@10/10=null@10;k@0/10=|a|bc@10;");
        wtd_free(&x);
}

/* A session closes at end + gap + grace: with gap 5 and grace 3, a record
 * whose (merged) session ends before stream time - 8 is dropped. The store
 * keeps sessions for gap + grace by default, and, as Kafka Streams' does,
 * no longer returns those ending before stream time - retention + 1: at
 * stream time 20, [12,12] is still open but no longer found, so a record
 * at 11 makes [11,11], which is closed. With a longer retention it merges.
 */
static void test_session_grace_boundary(void **state)
{
        wtd_t x = wtd_new(brook_windows_session(5, 3), AGG_COUNT, false,
                          BROOK_EMIT_ON_WINDOW_UPDATE);
        wtd_t y;
        (void)state;
        in(&x, "k", "a", 20);
        in(&x, "j", "b", 12); /* 12 >= 20 - 8: accepted */
        in(&x, "j", "c", 11); /* [12,12] past retention: [11,11], dropped */
        in(&x, "i", "d", 11); /* 11 < 12: dropped */
        expect_out(&x, true, "k@20/20=1@20;j@12/12=1@12;");
        assert_int_equal(late(&x), 2);
        wtd_free(&x);

        next_retention = 100;
        y = wtd_new(brook_windows_session(5, 3), AGG_COUNT, false,
                    BROOK_EMIT_ON_WINDOW_UPDATE);
        next_retention = 0;
        in(&y, "k", "a", 20);
        in(&y, "j", "b", 12);
        in(&y, "j", "c", 11); /* merges with [12,12]: ends 12, accepted */
        in(&y, "i", "d", 11);
        expect_out(&y, true,
                   "k@20/20=1@20;j@12/12=1@12;j@12/12=null@12;j@11/12=2@12;");
        assert_int_equal(late(&y), 1);
        wtd_free(&y);
}

/* ------------------------------------------------------------ memory bound */

#if defined(__SANITIZE_ADDRESS__)
#define BOUND_SPAN_MIN 40 /* ASan is several times slower */
#else
#define BOUND_SPAN_MIN 120
#endif

/* 10,000 keys of 1 s windows hopping by 500 ms, a record every 10 ms (each
 * key every 100 s) over BOUND_SPAN_MIN minutes of event time, with a
 * 10-minute retention: once retention is reached, the store's size stays
 * flat, sampled every 10 minutes (at segment boundaries, 5-minute
 * segments). Without the segment drops it would grow by its 10-minute
 * size at every sample. */
static void bound_run(bool in_memory, int span_min, double tolerance)
{
        const brook_serde_t *str = brook_serde_string();
        brook_builder_t *b = brook_builder_new();
        brook_conf_t *conf = brook_conf_new();
        brook_windows_t w = brook_windows_hopping(1000, 500, 0);
        brook_test_driver_t *td;
        char err[512] = "", key[16];
        uint64_t first = 0, bytes;
        int64_t i, n = (int64_t)span_min * 60000 / 10;
        int sample = 0;

        assert_non_null(brook_windowed_count(
                brook_grouped_windowed_by(
                        brook_stream_group_by_key(
                                brook_stream(b, "in",
                                             &(brook_consumed_t){
                                                     .key_serde = str,
                                                     .value_serde = str}),
                                NULL),
                        &w),
                &(brook_materialized_t){
                        .name = "hops",
                        .supplier =
                                in_memory ? brook_kvstore_in_memory() : NULL,
                        .retention_ms = 600000,
                        .version = BROOK_MATERIALIZED_VERSION}));
        assert_int_equal(brook_conf_set(conf, "application.id", "bound", err,
                                        sizeof err),
                         BROOK_OK);
        td = brook_test_driver_new(b, conf, 0, err, sizeof err);
        assert_non_null(td);
        brook_test_driver_set_auto_commit(td, false);
        for (i = 1; i <= n; i++) {
                int64_t ts = i * 10;
                int klen = snprintf(key, sizeof key, "p%05d", (int)(i % 10000));
                if (brook_test_driver_pipe(td, "in", key, (size_t)klen, "v", 1,
                                           ts, NULL, 0, err, sizeof err))
                        fail_msg("pipe: %s", err);
                if (ts % 60000)
                        continue;
                assert_int_equal(brook_test_driver_commit(td, err, sizeof err),
                                 BROOK_OK);
                if (ts % 600000 || ts < 1200000)
                        continue;
                bytes = brook_test_driver_store_approximate_bytes(td, "hops");
                print_message("%s at %" PRId64 " min: %" PRIu64 " bytes\n",
                              in_memory ? "in-memory" : "rocksdb", ts / 60000,
                              bytes);
                if (!sample++) {
                        first = bytes;
                        assert_true(first > 0);
                } else if (bytes > first * (1 + tolerance) ||
                           bytes < first * (1 - tolerance)) {
                        fail_msg("store size %" PRIu64 " at %" PRId64
                                 " min, %" PRIu64 " at 20 min",
                                 bytes, ts / 60000, first);
                }
        }
        assert_true(sample >= 3);
        brook_test_driver_destroy(td);
}

/* In memory, where the size is exact: the same number of windows at each
 * boundary. (RocksDB's estimate compresses this data so well that it
 * hardly grows without the drops either; test_window_store checks its
 * drops directly.) */
static void test_memory_bound_in_memory(void **state)
{
        (void)state;
        bound_run(true, BOUND_SPAN_MIN, 0.02);
}

/* A session that went downstream at a commit and then merged into a
 * bigger one gets its tombstone, even when stream time passes its
 * retention before the next commit flushes the merge (the cache once
 * took it for gone below and dropped the tombstone, leaving the old
 * session downstream for good). */
static void test_session_merge_past_retention_cached(void **state)
{
        wtd_t x = wtd_new(brook_windows_session(50, 10), AGG_COUNT, true,
                          BROOK_EMIT_ON_WINDOW_UPDATE);
        char err[512] = "";
        (void)state;
        in(&x, "k", "a", 0);
        in(&x, "k", "b", 20);
        assert_int_equal(brook_test_driver_commit(x.td, err, sizeof err),
                         BROOK_OK);
        expect_out(&x, true, "k@0/20=2@20;");
        in(&x, "k", "c", 40);  /* merges [0,20] away */
        in(&x, "j", "d", 200); /* retention 60: [0,20] is past it now */
        assert_int_equal(brook_test_driver_commit(x.td, err, sizeof err),
                         BROOK_OK);
        expect_out(&x, true, "k@0/20=null@20;k@0/40=3@40;j@200/200=1@200;");
        wtd_free(&x);
}

/* The in-memory store with its gets counted. */
static const brook_kvstore_ops_t *counted_ops;
static brook_kvstore_ops_t counting_ops;
static int inner_gets;

static brook_err_t counting_get(void *self, const void *key, size_t key_size,
                                brook_buf_t *out, char *errstr,
                                size_t errstr_size)
{
        inner_gets++;
        return counted_ops->get(self, key, key_size, out, errstr, errstr_size);
}

static brook_err_t counting_open(const brook_kvstore_open_t *info, void *opaque,
                                 void **selfp, const brook_kvstore_ops_t **opsp,
                                 char *errstr, size_t errstr_size)
{
        brook_err_t err = brook_kvstore_in_memory()->open(
                info, NULL, selfp, &counted_ops, errstr, errstr_size);
        (void)opaque;
        if (err)
                return err;
        counting_ops = *counted_ops;
        counting_ops.get = counting_get;
        *opsp = &counting_ops;
        return BROOK_OK;
}

static const brook_kvstore_supplier_t counting_supplier = {
        .open = counting_open};

/* A session the cache wrote down is below for certain while its segment
 * lives: the tombstone of its merge goes down and out without reading it
 * back. Once stream time has moved its segment out of the live ones, the
 * flush reads below as before (the segment is dropped only at the next
 * write), and the tombstone still follows the session downstream. */
static void test_session_tombstone_known_below(void **state)
{
        wtd_t x;
        char err[512] = "";
        (void)state;
        /* Retention 240 s: segments of 120 s. */
        next_retention = 240000;
        next_supplier = &counting_supplier;
        x = wtd_new(brook_windows_session(50, 10), AGG_COUNT, true,
                    BROOK_EMIT_ON_WINDOW_UPDATE);
        next_retention = 0;
        next_supplier = NULL;
        in(&x, "k", "a", 0);
        assert_int_equal(brook_test_driver_commit(x.td, err, sizeof err),
                         BROOK_OK);
        expect_out(&x, true, "k@0/0=1@0;");
        inner_gets = 0;
        in(&x, "k", "b", 20); /* merges [0,0] away */
        assert_int_equal(brook_test_driver_commit(x.td, err, sizeof err),
                         BROOK_OK);
        expect_out(&x, true, "k@0/0=null@0;k@0/20=2@20;");
        assert_int_equal(inner_gets, 0);

        in(&x, "k", "c", 40);     /* merges [0,20] away */
        in(&x, "j", "d", 500000); /* segment 0 is no longer live */
        assert_int_equal(brook_test_driver_commit(x.td, err, sizeof err),
                         BROOK_OK);
        expect_out(&x, true,
                   "k@0/20=null@20;k@0/40=3@40;j@500000/500000=1@500000;");
        assert_int_equal(inner_gets, 1);
        wtd_free(&x);
}

/* --------------------------------------------------------------- suppress */

static wtd_t wtd_suppressed(brook_windows_t w, const brook_suppressed_t *sup)
{
        wtd_t x;
        next_suppress = sup;
        x = wtd_new(w, AGG_COUNT, false, BROOK_EMIT_ON_WINDOW_UPDATE);
        next_suppress = NULL;
        return x;
}

/* Exactly one result per window and key, the final one, once stream time
 * passes the window's end + grace; nothing for windows still open when the
 * input ends; late records change nothing. */
static void test_suppress_until_window_closes(void **state)
{
        brook_suppressed_t sup = {.kind = BROOK_SUPPRESS_UNTIL_WINDOW_CLOSES};
        wtd_t x = wtd_suppressed(brook_windows_tumbling(10, 5), &sup);
        (void)state;
        in(&x, "k", "a", 1);
        in(&x, "j", "b", 2);
        in(&x, "k", "c", 8);
        in(&x, "k", "d", 3); /* out of order */
        in(&x, "k", "e", 12);
        in(&x, "j", "f", 14); /* [0,10) open until 15 */
        expect_out(&x, true, "");
        in(&x, "k", "g", 15); /* closes [0,10): by window end, then key */
        expect_out(&x, true, "j@0/10=1@2;k@0/10=3@8;");
        in(&x, "k", "h", 9); /* late: dropped by the aggregation */
        in(&x, "k", "i", 30);
        expect_out(&x, true, "j@10/20=1@14;k@10/20=2@15;");
        assert_int_equal(late(&x), 1);
        wtd_free(&x);
}

/* The same when the input's serdes are the defaults: the buffer's keys
 * are windowed keys over default.key.serde (it once took them for plain
 * strings, and emitted garbage keys and too few results). */
static void test_suppress_until_window_closes_default_serdes(void **state)
{
        brook_suppressed_t sup = {.kind = BROOK_SUPPRESS_UNTIL_WINDOW_CLOSES};
        wtd_t x;
        (void)state;
        next_default_serdes = true;
        x = wtd_suppressed(brook_windows_tumbling(10, 5), &sup);
        next_default_serdes = false;
        in(&x, "k", "a", 1);
        in(&x, "j", "b", 2);
        in(&x, "k", "c", 8);
        in(&x, "k", "e", 12);
        in(&x, "k", "g", 15);
        expect_out(&x, true, "j@0/10=1@2;k@0/10=2@8;");
        in(&x, "k", "i", 30);
        expect_out(&x, true, "k@10/20=2@15;");
        wtd_free(&x);
}

/* A buffer that shuts down when full stops the task, naming itself. */
static void test_suppress_shut_down_when_full(void **state)
{
        brook_suppressed_t sup = {.kind = BROOK_SUPPRESS_UNTIL_WINDOW_CLOSES,
                                  .max_records = 2,
                                  .name = "final"};
        wtd_t x = wtd_suppressed(brook_windows_tumbling(10, 0), &sup);
        char err[512] = "";
        (void)state;
        in(&x, "a", "1", 1);
        in(&x, "b", "2", 2);
        assert_int_equal(brook_test_driver_pipe(x.td, "in", "c", 1, "3", 1, 3,
                                                NULL, 0, err, sizeof err),
                         BROOK_ERR_FATAL);
        if (!strstr(err, "in node \"final\": suppression buffer "
                         "\"final-store\" exceeded its max capacity. "
                         "Currently [3/2] records and ["))
                fail_msg("error: %s", err);
        wtd_free(&x);
}

/* until_time_limit over a table: at most one update per key per 100 ms of
 * stream time, the latest, stamped with its own time; a full buffer that
 * emits early lets the oldest out. */
static void test_suppress_until_time_limit(void **state)
{
        const brook_serde_t *str = brook_serde_string();
        brook_builder_t *b = brook_builder_new();
        brook_conf_t *conf = brook_conf_new();
        brook_suppressed_t sup = {.kind = BROOK_SUPPRESS_UNTIL_TIME_LIMIT,
                                  .time_limit_ms = 100,
                                  .max_records = 3,
                                  .when_full =
                                          BROOK_BUFFER_EMIT_EARLY_WHEN_FULL};
        brook_table_t *t = brook_table_suppress(
                brook_table(b, "in",
                            &(brook_consumed_t){.key_serde = str,
                                                .value_serde = str},
                            NULL),
                &sup);
        char err[512] = "";
        wtd_t x = {0};
        brook_test_output_t *out;
        brook_test_typed_record_t r;
        char got[1024] = "";
        size_t n = 0;
        (void)state;

        assert_non_null(t);
        brook_stream_to(
                brook_table_to_stream(t), "out",
                &(brook_produced_t){.key_serde = str, .value_serde = str});
        assert_int_equal(
                brook_conf_set(conf, "application.id", "s", err, sizeof err),
                BROOK_OK);
        x.td = brook_test_driver_new(b, conf, 0, err, sizeof err);
        assert_non_null(x.td);
        in(&x, "a", "a1", 1);
        in(&x, "b", "b1", 2);
        in(&x, "b", "b2", 50); /* b keeps its buffer time 2 */
        in(&x, "c", "c1", 60);
        in(&x, "a", "a2", 70);
        in(&x, "d", "d1", 80);  /* 4 > 3 records: a (oldest) out early */
        in(&x, "c", NULL, 90);  /* a tombstone is buffered too */
        in(&x, "e", "e1", 102); /* expiry 2: b out */
        in(&x, "f", "f1", 300); /* expiry 200: c, d, e out */
        out = brook_test_driver_output(x.td, "out", str, str);
        while (!brook_test_output_read(out, &r, err, sizeof err))
                n += (size_t)snprintf(got + n, sizeof got - n,
                                      "%s=%s@%" PRId64 ";", (char *)r.key,
                                      r.value ? (char *)r.value : "null",
                                      r.timestamp);
        assert_string_equal(got, "a=a2@70;b=b2@50;c=null@90;d=d1@80;e=e1@102;");
        brook_test_driver_destroy(x.td);
}

static void test_suppress_invalid(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_suppressed_t sup = {.kind = BROOK_SUPPRESS_UNTIL_WINDOW_CLOSES};
        brook_table_t *t = brook_table(b, "in", NULL, NULL);
        (void)state;
        assert_null(brook_table_suppress(t, &sup));
        assert_string_equal(brook_builder_error(b),
                            "brook_table_suppress: until window closes needs "
                            "a windowed table (the result of a windowed "
                            "aggregation)");
        brook_builder_destroy(b);
}

/* ------------------------------------------------------------------ serdes */

static void test_windowed_serdes_bytes(void **state)
{
        const brook_serde_t *str = brook_serde_string();
        char err[256];
        brook_serde_t *tw =
                brook_serde_time_windowed(str, 100, err, sizeof err);
        brook_serde_t *sw = brook_serde_session_windowed(str, err, sizeof err);
        brook_windowed_key_t wk = {.key = "ab", .window = {300, 400}};
        static const unsigned char want_t[] = {'a', 'b', 0, 0, 0,
                                               0,   0,   0, 1, 0x2c};
        static const unsigned char want_s[] = {
                'a', 'b', 0, 0, 0, 0, 0, 0, 1, 0x90, 0, 0, 0, 0, 0, 0, 1, 0x2c};
        brook_buf_t *buf = brook_buf_new();
        brook_arena_t *arena = brook_arena_new();
        brook_windowed_key_t *back;
        (void)state;

        assert_int_equal(brook_serde_serialize(tw, &wk, buf, err, sizeof err),
                         BROOK_OK);
        assert_int_equal(brook_buf_len(buf), sizeof want_t);
        assert_memory_equal(brook_buf_data(buf), want_t, sizeof want_t);
        assert_int_equal(brook_serde_deserialize(tw, want_t, sizeof want_t,
                                                 arena, (void **)&back, err,
                                                 sizeof err),
                         BROOK_OK);
        assert_string_equal(back->key, "ab");
        assert_int_equal(back->window.start, 300);
        assert_int_equal(back->window.end, 400);
        brook_buf_clear(buf);
        assert_int_equal(brook_serde_serialize(sw, &wk, buf, err, sizeof err),
                         BROOK_OK);
        assert_int_equal(brook_buf_len(buf), sizeof want_s);
        assert_memory_equal(brook_buf_data(buf), want_s, sizeof want_s);
        assert_int_equal(brook_serde_deserialize(sw, want_s, sizeof want_s,
                                                 arena, (void **)&back, err,
                                                 sizeof err),
                         BROOK_OK);
        assert_int_equal(back->window.start, 300);
        assert_int_equal(back->window.end, 400);
        assert_int_equal(brook_serde_deserialize(sw, want_s, 15, arena,
                                                 (void **)&back, err,
                                                 sizeof err),
                         BROOK_ERR_SERDE);
        assert_string_equal(err, "a session-windowed key has at least 16 "
                                 "bytes; this one has 15");
        assert_null(brook_serde_time_windowed(str, 0, err, sizeof err));
        assert_string_equal(err, "time-windowed: the window size must be "
                                 "positive");
        brook_buf_destroy(buf);
        brook_arena_destroy(arena);
        brook_serde_destroy(tw);
        brook_serde_destroy(sw);
}

/* --------------------------------------------------------- set-up errors */

static void test_windows_invalid(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *s = brook_stream(b, "in", NULL);
        brook_windows_t w = brook_windows_hopping(10, 11, 0);
        brook_grouped_t *g = brook_stream_group_by_key(s, NULL);
        brook_windowed_stream_t *ws;
        (void)state;

        assert_null(brook_grouped_windowed_by(g, &w));
        assert_string_equal(brook_builder_error(b),
                            "brook_grouped_windowed_by: window advance "
                            "interval should be more than zero and less than "
                            "or equal to window duration, got advance 11 and "
                            "size 10");
        brook_builder_destroy(b);

        b = brook_builder_new();
        s = brook_stream(b, "in", NULL);
        g = brook_stream_group_by_key(s, NULL);
        w = brook_windows_tumbling(10, 5);
        ws = brook_grouped_windowed_by(g, &w);
        assert_non_null(ws);
        assert_null(brook_windowed_count(
                ws, &(brook_materialized_t){
                            .name = "c",
                            .retention_ms = 14,
                            .version = BROOK_MATERIALIZED_VERSION}));
        assert_string_equal(brook_builder_error(b),
                            "brook_windowed_count: the retention period of "
                            "the window store c must be no smaller than its "
                            "window size plus the grace period. Got "
                            "size=[10], grace=[5], retention=[14]");
        brook_builder_destroy(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hopping_membership),
                cmocka_unit_test(test_tumbling_grace_boundary),
                cmocka_unit_test(test_tumbling_reduce_aggregate),
                cmocka_unit_test(test_tumbling_cache),
                cmocka_unit_test(test_tumbling_emit_on_close),
                cmocka_unit_test(test_sliding_left_right),
                cmocka_unit_test(test_sliding_out_of_order),
                cmocka_unit_test(test_sliding_early),
                cmocka_unit_test(test_sliding_grace_boundary),
                cmocka_unit_test(test_session_merges),
                cmocka_unit_test(test_session_aggregate_merger),
                cmocka_unit_test(test_session_grace_boundary),
                cmocka_unit_test(test_memory_bound_in_memory),
                cmocka_unit_test(test_session_merge_past_retention_cached),
                cmocka_unit_test(test_session_tombstone_known_below),
                cmocka_unit_test(test_suppress_until_window_closes),
                cmocka_unit_test(
                        test_suppress_until_window_closes_default_serdes),
                cmocka_unit_test(test_suppress_shut_down_when_full),
                cmocka_unit_test(test_suppress_until_time_limit),
                cmocka_unit_test(test_suppress_invalid),
                cmocka_unit_test(test_windowed_serdes_bytes),
                cmocka_unit_test(test_windows_invalid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
