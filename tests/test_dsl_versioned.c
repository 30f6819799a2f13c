/*
 * Versioned tables (KIP-914) through the test driver: a table read into a
 * versioned store forwards every update it stores, out-of-order ones too
 * (not as the latest), and none it refuses; a stream joined with it finds
 * the row valid at each record's time; table-table joins and group_by skip
 * its out-of-order updates; a filter below it forwards as Kafka Streams'
 * with versioned semantics; operators that Kafka Streams does not version
 * in brook refuse a versioned store.
 *
 * The expected outputs are Kafka Streams 4.3.1's: each case was run
 * through its TopologyTestDriver by the parity test's Java side
 * (tests/parity, scenarios vst_left_join, vtt_join, vgt_count and
 * vtable_filter, with these inputs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "brook/brook.h"

#define S brook_serde_string()

static const brook_consumed_t c_ss = {.key_serde = NULL, .value_serde = NULL};

static brook_materialized_t vas(const char *name, int64_t retention,
                                int64_t segment)
{
        brook_materialized_t m = {.name = name,
                                  .versioned = true,
                                  .history_retention_ms = retention,
                                  .segment_interval_ms = segment,
                                  .version = BROOK_MATERIALIZED_VERSION};
        return m;
}

static void *plus_joiner(const brook_record_t *rec, void *left, void *right,
                         void *opaque)
{
        const char *l = left ? left : "null", *r = right ? right : "null";
        size_t n = strlen(l) + strlen(r) + 2;
        char *s = brook_record_alloc(rec, n);
        (void)opaque;
        snprintf(s, n, "%s+%s", l, r);
        return s;
}

static bool first_abc(const brook_record_t *rec, void *opaque)
{
        const char *v = brook_record_value(rec);
        (void)opaque;
        return v[0] >= 'a' && v[0] <= 'c';
}

static void by_letter(const brook_record_t *rec, void **keyp, void **valuep,
                      void *opaque)
{
        const char *v = brook_record_value(rec);
        char *k = brook_record_alloc(rec, 2);
        (void)opaque;
        k[0] = v[0];
        k[1] = '\0';
        *keyp = k;
        *valuep = (void *)v;
}

static brook_test_driver_t *td_new(brook_builder_t *b)
{
        brook_conf_t *conf = brook_conf_new();
        char err[512] = "";
        brook_test_driver_t *td;

        if (brook_builder_error(b))
                fail_msg("topology: %s", brook_builder_error(b));
        assert_int_equal(
                brook_conf_set(conf, "application.id", "ver", err, sizeof err),
                BROOK_OK);
        assert_int_equal(brook_conf_set(conf, "default.key.serde", "string",
                                        err, sizeof err),
                         BROOK_OK);
        assert_int_equal(brook_conf_set(conf, "default.value.serde", "string",
                                        err, sizeof err),
                         BROOK_OK);
        td = brook_test_driver_new(b, conf, 0, err, sizeof err);
        if (!td)
                fail_msg("brook_test_driver_new: %s", err);
        return td;
}

/* Pipes "topic key value ts" (~ for null) and checks what "out" got, as
 * "key=value@ts;" ("null" for null). */
static void step(brook_test_driver_t *td, const char *topic, const char *key,
                 const char *value, int64_t ts, const char *want)
{
        brook_test_record_t r;
        char got[1024] = "", err[512] = "";
        size_t n = 0;

        if (brook_test_driver_pipe(td, topic, key, strlen(key), value,
                                   value ? strlen(value) : 0, ts, NULL, 0, err,
                                   sizeof err))
                fail_msg("pipe: %s", err);
        while (brook_test_driver_read(td, "out", &r)) {
                int vlen = (int)r.value_size;
                const char *v = r.value;
                char num[24];
                /* Counts are int64 big-endian. */
                if (v && r.value_size == 8 && (v[0] == 0 || v[0] == -1)) {
                        uint64_t u = 0;
                        for (int i = 0; i < 8; i++)
                                u = u << 8 | (unsigned char)v[i];
                        vlen = snprintf(num, sizeof num, "%lld",
                                        (long long)(int64_t)u);
                        v = num;
                }
                n += (size_t)snprintf(got + n, sizeof got - n,
                                      "%.*s=%.*s@%lld;", (int)r.key_size,
                                      (const char *)r.key, v ? vlen : 4,
                                      v ? v : "null", (long long)r.timestamp);
        }
        if (strcmp(got, want))
                fail_msg("%s %s %s@%lld\n got: %s\nwant: %s", topic, key,
                         value ? value : "null", (long long)ts, got, want);
}

/* A stream left-joined with a versioned table (history 500 ms, segments
 * of 100 ms): each record finds the row valid at its own time. */
static void test_stream_table_as_of(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_materialized_t m = vas("tbl-v", 500, 100);
        brook_test_driver_t *td;

        (void)state;
        brook_stream_to(
                brook_stream_left_join_table(brook_stream(b, "in", &c_ss),
                                             brook_table(b, "tbl", &c_ss, &m),
                                             plus_joiner, NULL, NULL),
                "out", NULL);
        td = td_new(b);
        step(td, "tbl", "k1", "a", 1000, "");
        step(td, "tbl", "k1", "b", 2000, "");
        step(td, "in", "k1", "x", 1500, "k1=x+a@1500;");
        step(td, "in", "k1", "y", 2500, "k1=y+b@2500;");
        /* Out of order, within the history retention: kept. */
        step(td, "tbl", "k1", "c", 1800, "");
        step(td, "in", "k1", "z", 1900, "k1=z+c@1900;");
        step(td, "in", "k1", "w", 1700, "k1=w+a@1700;");
        step(td, "tbl", "k1", NULL, 2200, "");
        step(td, "in", "k1", "v", 2300, "k1=v+null@2300;");
        step(td, "in", "k1", "u", 2100, "k1=u+b@2100;");
        /* Older than stream time (2200) - 500: not stored. */
        step(td, "tbl", "k1", "d", 1400, "");
        assert_int_equal(
                brook_test_driver_records_dropped(td, BROOK_DROP_EXPIRED), 1);
        /* As of 1450 and 1600, both older than 1700: only the latest
         * version could answer, and it is a tombstone. */
        step(td, "in", "k1", "t", 1450, "k1=t+null@1450;");
        step(td, "in", "k1", "s", 1600, "k1=s+null@1600;");
        step(td, "in", "k2", "r", 1600, "k2=r+null@1600;");
        brook_test_driver_destroy(td);
}

/* A versioned table joined with a plain one: its out-of-order updates
 * are dropped (counted); the plain table's are not. */
static void test_table_table_drops(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_materialized_t m = vas("in-v", 300, 100);
        brook_test_driver_t *td;

        (void)state;
        brook_stream_to(brook_table_to_stream(brook_table_join(
                                brook_table(b, "in", &c_ss, &m),
                                brook_table(b, "tbl", &c_ss, NULL), plus_joiner,
                                NULL, NULL, NULL)),
                        "out", NULL);
        td = td_new(b);
        step(td, "in", "k1", "a", 1000, "");
        step(td, "tbl", "k1", "x", 1000, "k1=a+x@1000;");
        step(td, "in", "k1", "b", 900, "");
        assert_int_equal(
                brook_test_driver_records_dropped(td, BROOK_DROP_OUT_OF_ORDER),
                1);
        step(td, "in", "k1", "c", 1100, "k1=c+x@1100;");
        step(td, "tbl", "k1", "y", 950, "k1=c+y@1100;");
        step(td, "in", "k1", NULL, 1050, "");
        step(td, "in", "k1", NULL, 1200, "k1=null@1200;");
        assert_int_equal(
                brook_test_driver_records_dropped(td, BROOK_DROP_OUT_OF_ORDER),
                2);
        brook_test_driver_destroy(td);
}

/* A versioned table regrouped: out-of-order updates change no group (and
 * are not counted as dropped, as in Kafka Streams). */
static void test_group_by_latest_only(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_materialized_t m = vas("in-v", 300, 100);
        brook_grouping_t g = {.key_serde = S,
                              .value_serde = S,
                              .version = BROOK_GROUPING_VERSION};
        brook_test_driver_t *td;

        (void)state;
        brook_stream_to(
                brook_table_to_stream(brook_grouped_table_count(
                        brook_table_group_by(brook_table(b, "in", &c_ss, &m),
                                             by_letter, NULL, &g),
                        NULL)),
                "out", &(brook_produced_t){.value_serde = brook_serde_int64()});
        td = td_new(b);
        step(td, "in", "k1", "a1", 1000, "a=1@1000;");
        step(td, "in", "k1", "b1", 900, "");
        step(td, "in", "k1", "b2", 1100, "a=0@1100;b=1@1100;");
        step(td, "in", "k2", "a3", 500, "");
        step(td, "in", "k2", "a4", 850, "a=1@1100;");
        step(td, "in", "k1", NULL, 1000, "");
        /* A tombstone at the latest value's time replaces it. */
        step(td, "in", "k1", NULL, 1100, "b=0@1100;");
        assert_int_equal(
                brook_test_driver_records_dropped(td, BROOK_DROP_OUT_OF_ORDER),
                0);
        assert_int_equal(
                brook_test_driver_records_dropped(td, BROOK_DROP_EXPIRED), 1);
        brook_test_driver_destroy(td);
}

/* A filter below a versioned table forwards its out-of-order updates too
 * (their old value is the latest), and, with versioned semantics, an
 * update that neither was nor is in the result. */
static void test_filter_below(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_materialized_t m = vas("in-v", 300, 100);
        brook_test_driver_t *td;

        (void)state;
        brook_stream_to(brook_table_to_stream(brook_table_filter(
                                brook_table(b, "in", &c_ss, &m), first_abc,
                                NULL, NULL)),
                        "out", NULL);
        td = td_new(b);
        step(td, "in", "k1", "d1", 1000, "k1=null@1000;");
        step(td, "in", "k1", "a1", 1100, "k1=a1@1100;");
        step(td, "in", "k1", "e2", 1050, "k1=null@1050;");
        step(td, "in", "k1", "b3", 700, "");
        step(td, "in", "k1", "c4", 1200, "k1=c4@1200;");
        step(td, "in", "k1", NULL, 1150, "k1=null@1150;");
        brook_test_driver_destroy(td);
}

/* Versioned stores materialize tables of topics and their filters and
 * map_values; elsewhere they are refused, and so is suppress. */
static void test_refused(void **state)
{
        brook_materialized_t m = vas("v", 1000, 0);
        brook_builder_t *b = brook_builder_new();
        brook_table_t *t;
        brook_suppressed_t sup = {.kind = BROOK_SUPPRESS_UNTIL_TIME_LIMIT,
                                  .time_limit_ms = 10,
                                  .version = BROOK_SUPPRESSED_VERSION};

        (void)state;
        assert_null(brook_grouped_count(
                brook_stream_group_by_key(brook_stream(b, "in", NULL), NULL),
                &m));
        assert_string_equal(brook_builder_error(b),
                            "brook_grouped_count: a versioned store "
                            "materializes a table of a topic (brook_table()) "
                            "or its filter or map_values, not this "
                            "operator's result");
        brook_builder_destroy(b);

        b = brook_builder_new();
        m.name = "t-v";
        t = brook_table(b, "in", NULL, &m);
        assert_non_null(t);
        m.name = "j";
        assert_null(brook_table_join(t, brook_table(b, "tbl", NULL, NULL),
                                     plus_joiner, NULL, NULL, &m));
        assert_non_null(strstr(brook_builder_error(b), "brook_table_join: a "
                                                       "versioned store"));
        brook_builder_destroy(b);

        b = brook_builder_new();
        m.name = "t-v";
        t = brook_table_filter(brook_table(b, "in", NULL, &m), first_abc, NULL,
                               NULL);
        assert_null(brook_table_suppress(t, &sup));
        assert_non_null(strstr(brook_builder_error(b),
                               "suppress takes non-versioned tables only"));
        brook_builder_destroy(b);
}

/* The versioned table's store is the test driver's versioned store: the
 * history is there to read. */
static void test_store_behind(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_materialized_t m = vas("tbl-v", 500, 0);
        brook_versionedstore_t *vs;
        brook_versioned_record_t r;
        brook_test_driver_t *td;

        (void)state;
        brook_stream_to(brook_table_to_stream(brook_table(b, "tbl", &c_ss, &m)),
                        "out", NULL);
        td = td_new(b);
        /* Every update stored goes downstream, out-of-order ones too. */
        step(td, "tbl", "k1", "a", 1000, "k1=a@1000;");
        step(td, "tbl", "k1", "b", 2000, "k1=b@2000;");
        step(td, "tbl", "k1", "c", 1600, "k1=c@1600;");
        step(td, "tbl", "k1", "late", 1400, "");
        assert_null(brook_test_driver_kvstore(td, "tbl-v"));
        vs = brook_test_driver_versionedstore(td, "tbl-v");
        assert_non_null(vs);
        assert_int_equal(brook_versionedstore_stream_time(vs), 2000);
        assert_int_equal(brook_versionedstore_history_retention(vs), 500);
        assert_string_equal(brook_versionedstore_name(vs), "tbl-v");
        assert_int_equal(
                brook_versionedstore_get_as_of(vs, "k1", 1700, &r, NULL, 0),
                BROOK_OK);
        assert_string_equal(r.value, "c");
        assert_int_equal(r.timestamp, 1600);
        assert_int_equal(r.valid_to, 2000);
        brook_test_driver_destroy(td);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_stream_table_as_of),
                cmocka_unit_test(test_table_table_drops),
                cmocka_unit_test(test_group_by_latest_only),
                cmocka_unit_test(test_filter_below),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_store_behind),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
