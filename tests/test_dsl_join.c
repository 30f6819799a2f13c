/*
 * Joins (operators/join.c) through the test driver, against Kafka
 * Streams' documented semantics: the stream-table join table of its DSL
 * guide ("KStream-KTable Join", inner and left), row by row; null keys and
 * values; table updates making no output; the repartition of a stream
 * whose key changed; the join sharing the table's sub-topology and store;
 * and set-ups that must fail.
 *
 * Outputs are read as "key=value@timestamp;" strings, all of a topic at
 * once, and compared with the whole expected list.
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

/* "[left, right]", as the guide writes a join's result. */
static void *bracket_joiner(const brook_record_t *rec, void *left, void *right,
                            void *opaque)
{
        size_t n = strlen(left) + (right ? strlen(right) : 4) + 5;
        char *out = brook_record_alloc(rec, n);
        (void)opaque;
        snprintf(out, n, "[%s, %s]", (char *)left,
                 right ? (char *)right : "null");
        return out;
}

/* The key as the joiner sees it, then the values: "key:left+right". */
static void *key_joiner(const brook_record_t *rec, void *left, void *right,
                        void *opaque)
{
        const char *k = brook_record_key(rec);
        size_t n = (k ? strlen(k) : 4) + strlen(left) +
                   (right ? strlen(right) : 4) + 3;
        char *out = brook_record_alloc(rec, n);
        (void)opaque;
        snprintf(out, n, "%s:%s+%s", k ? k : "null", (char *)left,
                 right ? (char *)right : "null");
        return out;
}

static brook_conf_t *conf_new(void)
{
        brook_conf_t *conf = brook_conf_new();
        char err[512];

        assert_int_equal(
                brook_conf_set(conf, "application.id", "join", err, sizeof err),
                BROOK_OK);
        assert_int_equal(brook_conf_set(conf, "default.key.serde", "string",
                                        err, sizeof err),
                         BROOK_OK);
        assert_int_equal(brook_conf_set(conf, "default.value.serde", "string",
                                        err, sizeof err),
                         BROOK_OK);
        return conf;
}

static brook_test_driver_t *td_new(brook_builder_t *b)
{
        char err[512] = "";
        brook_test_driver_t *td;

        if (brook_builder_error(b))
                fail_msg("topology: %s", brook_builder_error(b));
        td = brook_test_driver_new(b, conf_new(), 0, err, sizeof err);
        if (!td)
                fail_msg("brook_test_driver_new: %s", err);
        return td;
}

static void pipe_ok(brook_test_driver_t *td, const char *topic, const char *key,
                    const char *value, int64_t ts)
{
        char err[512] = "";

        if (brook_test_driver_pipe(td, topic, key, key ? strlen(key) : 0, value,
                                   value ? strlen(value) : 0, ts, NULL, 0, err,
                                   sizeof err))
                fail_msg("pipe to %s failed: %s", topic, err);
}

/* Every unread record of @p topic as "key=value@ts;". */
static void expect_out(brook_test_driver_t *td, const char *topic,
                       const char *want)
{
        brook_test_record_t r;
        char got[2048] = "";
        size_t n = 0;

        while (brook_test_driver_read(td, topic, &r))
                n += (size_t)snprintf(got + n, sizeof got - n,
                                      "%.*s=%.*s@%lld;",
                                      r.key ? (int)r.key_size : 4,
                                      r.key ? (const char *)r.key : "null",
                                      r.value ? (int)r.value_size : 4,
                                      r.value ? (const char *)r.value : "null",
                                      (long long)r.timestamp);
        if (strcmp(got, want))
                fail_msg("%s\n got: %s\nwant: %s", topic, got, want);
}

/* left (a stream) joined with right (a table) into "out". */
static brook_builder_t *stjoin_builder(bool left,
                                       const brook_materialized_t *table_m)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *s = brook_stream(b, "left", NULL);
        brook_table_t *t = brook_table(b, "right", NULL, table_m);

        brook_stream_to(left ? brook_stream_left_join_table(
                                       s, t, bracket_joiner, NULL, NULL)
                             : brook_stream_join_table(s, t, bracket_joiner,
                                                       NULL, NULL),
                        "out", NULL);
        return b;
}

/* The guide's table, one row per timestamp, all of one key: the stream's
 * records (left) and the table's (right), NULL for a null value. */
static const struct {
        int64_t ts;
        const char *topic, *value;
} docs_rows[] = {
        {1, "left", NULL},   {2, "right", NULL},  {3, "left", "A"},
        {4, "right", "a"},   {5, "left", "B"},    {6, "right", "b"},
        {7, "left", NULL},   {8, "right", NULL},  {9, "left", "C"},
        {10, "right", "c"},  {11, "right", NULL}, {12, "left", NULL},
        {13, "right", NULL}, {14, "right", "d"},  {15, "left", "D"},
};

static void docs_run(bool left, const brook_materialized_t *table_m,
                     const char *want)
{
        brook_test_driver_t *td = td_new(stjoin_builder(left, table_m));
        size_t i;

        for (i = 0; i < sizeof docs_rows / sizeof docs_rows[0]; i++)
                pipe_ok(td, docs_rows[i].topic, "k", docs_rows[i].value,
                        docs_rows[i].ts);
        expect_out(td, "out", want);
        /* The stream's null values (timestamps 1, 7 and 12) are dropped
         * and counted. */
        assert_int_equal(
                brook_test_driver_records_dropped(td, BROOK_DROP_NULL_VALUE),
                3);
        brook_test_driver_destroy(td);
}

/* KStream-KTable (INNER) JOIN column: only B and D find a row. */
static void test_stream_table_inner_docs(void **state)
{
        (void)state;
        docs_run(false, NULL, "k=[B, a]@5;k=[D, d]@15;");
}

/* LEFT JOIN column: every non-null stream record, with null when the
 * table has no row. */
static void test_stream_table_left_docs(void **state)
{
        (void)state;
        docs_run(true, NULL,
                 "k=[A, null]@3;k=[B, a]@5;k=[C, null]@9;k=[D, d]@15;");
}

/* The same through a materialized table, whose store caches: the join
 * reads the cache's latest value, not what went down at the last commit. */
static void test_stream_table_cached_table(void **state)
{
        brook_materialized_t m = {.name = "right-store",
                                  .version = BROOK_MATERIALIZED_VERSION};
        (void)state;
        docs_run(true, &m,
                 "k=[A, null]@3;k=[B, a]@5;k=[C, null]@9;k=[D, d]@15;");
}

/* A null key: no row to look up. An inner join drops the record (counted
 * as a null key), a left join joins it with null (Kafka Streams 3.7+). Keys
 * are the joiner's to read. */
static void test_stream_table_null_key(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *s = brook_stream(b, "left", NULL);
        brook_table_t *t = brook_table(b, "right", NULL, NULL);
        brook_test_driver_t *td;
        (void)state;

        brook_stream_to(brook_stream_join_table(s, t, key_joiner, NULL, NULL),
                        "inner", NULL);
        brook_stream_to(
                brook_stream_left_join_table(s, t, key_joiner, NULL, NULL),
                "left-out", NULL);
        td = td_new(b);
        pipe_ok(td, "right", "k", "x", 1);
        pipe_ok(td, "left", NULL, "n", 2);
        pipe_ok(td, "left", "k", "v", 3);
        pipe_ok(td, "left", "j", "w", 4);
        expect_out(td, "inner", "k=k:v+x@3;");
        expect_out(td, "left-out",
                   "null=null:n+null@2;k=k:v+x@3;j=j:w+null@4;");
        assert_int_equal(
                brook_test_driver_records_dropped(td, BROOK_DROP_NULL_KEY), 1);
        brook_test_driver_destroy(td);
}

/* A stream whose key changed goes through a repartition topic named after
 * the node that changed it (or the join's name), then joins by its new
 * key. */
static void *value_as_key(const brook_record_t *rec, void *opaque)
{
        const char *v = brook_record_value(rec);
        (void)opaque;
        /* "none": a null key for a record with a value. */
        return strcmp(v, "none") ? (void *)v : NULL;
}

static void test_stream_table_repartition(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *s = brook_stream(b, "left", NULL);
        brook_table_t *t = brook_table(b, "right", NULL, NULL);
        brook_joined_t named = {.name = "by-ward",
                                .version = BROOK_JOINED_VERSION};
        brook_test_driver_t *td;
        char *desc;
        (void)state;

        s = brook_stream_select_key(s, value_as_key, NULL);
        brook_stream_to(brook_stream_join_table(s, t, key_joiner, NULL, NULL),
                        "out", NULL);
        brook_stream_to(
                brook_stream_left_join_table(s, t, key_joiner, NULL, &named),
                "out2", NULL);
        desc = brook_topology_describe(b, BROOK_DESCRIBE_TEXT);
        assert_non_null(strstr(desc, "KSTREAM-KEY-SELECT-0000000004-"
                                     "repartition"));
        assert_non_null(strstr(desc, "by-ward-repartition"));
        assert_non_null(strstr(desc, "Processor: by-ward (stores: ["));
        free(desc);
        td = td_new(b);
        pipe_ok(td, "right", "w1", "ward one", 1);
        pipe_ok(td, "left", "p1", "w1", 2);
        pipe_ok(td, "left", "p2", "w2", 3);
        /* A null key: the inner join's repartition drops it, the left
         * join's lets it through and joins it with null (Kafka Streams
         * relaxes the filter before a left join). */
        pipe_ok(td, "left", "p3", "none", 4);
        expect_out(td, "out", "w1=w1:w1+ward one@2;");
        expect_out(td, "out2",
                   "w1=w1:w1+ward one@2;w2=w2:w2+null@3;"
                   "null=null:none+null@4;");
        assert_int_equal(
                brook_test_driver_records_dropped(td, BROOK_DROP_NULL_KEY), 1);
        brook_test_driver_destroy(td);
}

/* The join node reads the table's store, so it runs in the table's
 * sub-topology, named as Kafka Streams names it, with the store listed. */
static void test_stream_table_describe(void **state)
{
        brook_builder_t *b = stjoin_builder(false, NULL);
        char *desc = brook_topology_describe(b, BROOK_DESCRIBE_TEXT);
        (void)state;

        assert_non_null(desc);
        assert_null(strstr(desc, "Sub-topology: 1"));
        assert_non_null(strstr(desc, "Processor: KSTREAM-JOIN-0000000004 "
                                     "(stores: [right-STATE-STORE-"
                                     "0000000001])"));
        free(desc);
        brook_builder_destroy(b);
}

/* Set-ups that cannot work fail when the topology is built, naming what
 * is wrong. */
static bool keep_all(const brook_record_t *rec, void *opaque)
{
        (void)rec;
        (void)opaque;
        return true;
}

static void test_stream_table_bad_setups(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *s = brook_stream(b, "left", NULL);
        brook_table_t *t = brook_table(b, "right", NULL, NULL);
        brook_table_t *f = brook_table_filter(t, keep_all, NULL, NULL);
        (void)state;

        assert_null(brook_stream_join_table(s, f, bracket_joiner, NULL, NULL));
        assert_non_null(strstr(brook_builder_error(b), "has no store"));
        brook_builder_destroy(b);

        b = brook_builder_new();
        s = brook_stream(b, "left", NULL);
        t = brook_table(b, "right", NULL, NULL);
        assert_null(brook_stream_join_table(s, t, NULL, NULL, NULL));
        assert_string_equal(brook_builder_error(b),
                            "brook_stream_join_table: joiner is NULL");
        brook_builder_destroy(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_stream_table_inner_docs),
                cmocka_unit_test(test_stream_table_left_docs),
                cmocka_unit_test(test_stream_table_cached_table),
                cmocka_unit_test(test_stream_table_null_key),
                cmocka_unit_test(test_stream_table_repartition),
                cmocka_unit_test(test_stream_table_describe),
                cmocka_unit_test(test_stream_table_bad_setups),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
