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
#include "brook_int.h"

/* "[left, right]", as the guide writes a join's result ("null" for
 * none). */
static void *bracket_joiner(const brook_record_t *rec, void *left, void *right,
                            void *opaque)
{
        size_t n = (left ? strlen(left) : 4) + (right ? strlen(right) : 4) + 5;
        char *out = brook_record_alloc(rec, n);
        (void)opaque;
        snprintf(out, n, "[%s, %s]", left ? (char *)left : "null",
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

static brook_test_driver_t *td_new_conf(brook_builder_t *b, brook_conf_t *conf)
{
        char err[512] = "";
        brook_test_driver_t *td;

        if (brook_builder_error(b))
                fail_msg("topology: %s", brook_builder_error(b));
        td = brook_test_driver_new(b, conf, 0, err, sizeof err);
        if (!td)
                fail_msg("brook_test_driver_new: %s", err);
        return td;
}

static brook_test_driver_t *td_new(brook_builder_t *b)
{
        return td_new_conf(b, conf_new());
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

/* With max.task.idle.ms the stream's records wait for the table's
 * partition, and go in one burst once the wait is over: the task then
 * hands the join the keys of the records queued behind each one
 * (prefetching their lookups), and the results are as one by one. */
static void test_stream_table_queued_burst(void **state)
{
        brook_builder_t *b = stjoin_builder(false, NULL);
        brook_conf_t *conf = conf_new();
        char err[512] = "";
        brook_test_driver_t *td;
        (void)state;

        assert_int_equal(brook_conf_set(conf, "max.task.idle.ms", "1000", err,
                                        sizeof err),
                         BROOK_OK);
        td = td_new_conf(b, conf);
        pipe_ok(td, "right", "a", "A1", 1);
        pipe_ok(td, "right", "b", "B1", 1);
        pipe_ok(td, "right", "c", "C1", 1);
        pipe_ok(td, "left", "a", "x1", 5);
        pipe_ok(td, "left", "b", "x2", 6);
        pipe_ok(td, "left", "d", "x3", 7);
        pipe_ok(td, "left", "c", "x4", 8);
        pipe_ok(td, "left", "a", "x5", 9);
        /* The table's rows went; the stream's records wait for more. */
        expect_out(td, "out", "");
        assert_int_equal(
                brook_test_driver_advance_wall_clock(td, 1000, err, sizeof err),
                BROOK_OK);
        expect_out(td, "out",
                   "a=[x1, A1]@5;b=[x2, B1]@6;c=[x4, C1]@8;a=[x5, A1]@9;");
        assert_int_equal(brook_test_driver_enforced_processing(td), 5);
        brook_test_driver_destroy(td);
}

/* Set-ups that cannot work fail when the topology is built, naming what
 * is wrong. */
static bool keep_all(const brook_record_t *rec, void *opaque)
{
        (void)rec;
        (void)opaque;
        return true;
}

/* The source of @p topic in @p b. */
static brook__node_t *source_of(brook_builder_t *b, const char *topic)
{
        for (size_t i = 0; i < b->nodes.cnt; i++) {
                brook__node_t *n = b->nodes.v[i];
                if (n->kind == BROOK__NODE_SOURCE && n->topic_cnt == 1 &&
                    !strcmp(n->topics[0], topic))
                        return n;
        }
        fail_msg("no source of %s", topic);
        return NULL;
}

/* The stream's source tells the join, below a filter, the keys of the
 * records queued next, so that the table lookup is fetched ahead; the
 * table's source has no such node. Built twice, the list is the same. */
static void test_stream_table_prefetch_nodes(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *s = brook_stream_filter(brook_stream(b, "left", NULL),
                                                keep_all, NULL);
        brook_table_t *t = brook_table(b, "right", NULL, NULL);
        brook__topology_t topo;
        brook__node_t *left, *join;
        char errstr[512];
        (void)state;

        brook_stream_to(
                brook_stream_join_table(s, t, bracket_joiner, NULL, NULL),
                "out", NULL);
        for (int round = 0; round < 2; round++) {
                assert_int_equal(brook__topology_build(&topo, b, NULL, errstr,
                                                       sizeof errstr),
                                 BROOK_OK);
                left = source_of(b, "left");
                assert_int_equal(left->prefetch_cnt, 1);
                join = b->nodes.v[left->prefetch_nodes[0]];
                assert_string_equal(join->name, "KSTREAM-JOIN-0000000005");
                assert_non_null(join->prefetch);
                assert_int_equal(source_of(b, "right")->prefetch_cnt, 0);
                brook__topology_free(&topo);
        }
        brook_builder_destroy(b);
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

/* ------------------------------------------------- stream-stream joins */

typedef enum { SS_INNER, SS_LEFT, SS_OUTER } ss_kind_t;

static brook_stream_t *ss_join(brook_stream_t *l, brook_stream_t *r,
                               ss_kind_t kind, const brook_join_windows_t *w,
                               const brook_stream_joined_t *sj)
{
        switch (kind) {
        case SS_INNER:
                return brook_stream_join(l, r, bracket_joiner, NULL, w, sj);
        case SS_LEFT:
                return brook_stream_left_join(l, r, bracket_joiner, NULL, w,
                                              sj);
        default:
                return brook_stream_outer_join(l, r, bracket_joiner, NULL, w,
                                               sj);
        }
}

/* "left" joined with "right" within @p w into "out". */
static brook_builder_t *ssjoin_builder(ss_kind_t kind,
                                       const brook_join_windows_t *w)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *l = brook_stream(b, "left", NULL);
        brook_stream_t *r = brook_stream(b, "right", NULL);

        brook_stream_to(ss_join(l, r, kind, w, NULL), "out", NULL);
        return b;
}

/* The guide's rows through a stream-stream join, the wall clock 1 s on
 * before each record (a left or outer join looks for closed windows at
 * most once a second of it), then a record far ahead that closes every
 * window. Expected outputs are what Kafka Streams 4.3's
 * TopologyTestDriver gives for the same topology and inputs. */
static void ss_docs_run(ss_kind_t kind, const brook_join_windows_t *w,
                        const char *want)
{
        brook_test_driver_t *td = td_new(ssjoin_builder(kind, w));
        char err[512];
        size_t i;

        for (i = 0; i < sizeof docs_rows / sizeof docs_rows[0]; i++) {
                assert_int_equal(brook_test_driver_advance_wall_clock(
                                         td, 1000, err, sizeof err),
                                 BROOK_OK);
                pipe_ok(td, docs_rows[i].topic, "k", docs_rows[i].value,
                        docs_rows[i].ts);
        }
        assert_int_equal(
                brook_test_driver_advance_wall_clock(td, 1000, err, sizeof err),
                BROOK_OK);
        pipe_ok(td, "left", "z", "Z", 100);
        expect_out(td, "out", want);
        /* The seven null values are dropped and counted. */
        assert_int_equal(
                brook_test_driver_records_dropped(td, BROOK_DROP_NULL_VALUE),
                7);
        brook_test_driver_destroy(td);
}

/* ------------------------------------------------ stream-global joins */

/* The record's key: the join is by the stream's key. */
static void *record_key(const brook_record_t *rec, void *opaque)
{
        (void)opaque;
        return brook_record_key(rec);
}

/* The guide's table for KStream-GlobalKTable joins is its KStream-KTable
 * table: the same rows, with "right" a global table. */
static void gdocs_run(bool left, const char *want)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *s = brook_stream(b, "left", NULL);
        brook_global_table_t *g = brook_global_table(b, "right", NULL, NULL);
        brook_test_driver_t *td;
        size_t i;

        brook_stream_to(
                left ? brook_stream_left_join_global(s, g, record_key, NULL,
                                                     bracket_joiner, NULL, NULL)
                     : brook_stream_join_global(s, g, record_key, NULL,
                                                bracket_joiner, NULL, NULL),
                "out", NULL);
        td = td_new(b);
        for (i = 0; i < sizeof docs_rows / sizeof docs_rows[0]; i++)
                pipe_ok(td, docs_rows[i].topic, "k", docs_rows[i].value,
                        docs_rows[i].ts);
        expect_out(td, "out", want);
        assert_int_equal(
                brook_test_driver_records_dropped(td, BROOK_DROP_NULL_VALUE),
                3);
        brook_test_driver_destroy(td);
}

static void test_stream_global_inner_docs(void **state)
{
        (void)state;
        gdocs_run(false, "k=[B, a]@5;k=[D, d]@15;");
}

static void test_stream_global_left_docs(void **state)
{
        (void)state;
        gdocs_run(true, "k=[A, null]@3;k=[B, a]@5;k=[C, null]@9;k=[D, d]@15;");
}

/* The key comes from the record (here its value): no repartition, a null
 * stream key joins, a null selected key is dropped by the inner join
 * (counted as a null key) and joined with null by the left join. The
 * global table's null keys are dropped, its tombstones delete. */
static void test_stream_global_selector(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *s = brook_stream(b, "rx", NULL);
        brook_global_table_t *g = brook_global_table(b, "pharm", NULL, NULL);
        brook_test_driver_t *td;
        (void)state;

        s = brook_stream_select_key(s, value_as_key, NULL);
        brook_stream_to(brook_stream_join_global(s, g, value_as_key, NULL,
                                                 key_joiner, NULL, NULL),
                        "inner", NULL);
        brook_stream_to(brook_stream_left_join_global(s, g, value_as_key, NULL,
                                                      key_joiner, NULL, NULL),
                        "left-out", NULL);
        td = td_new(b);
        pipe_ok(td, "pharm", "p1", "Main St", 1);
        pipe_ok(td, "pharm", NULL, "lost", 2);
        pipe_ok(td, "rx", NULL, "p1", 3);
        pipe_ok(td, "rx", "r2", "none", 4);
        pipe_ok(td, "rx", "r3", "p2", 5);
        pipe_ok(td, "pharm", "p1", "High St", 6);
        pipe_ok(td, "rx", "r4", "p1", 7);
        pipe_ok(td, "pharm", "p1", NULL, 8);
        pipe_ok(td, "rx", "r5", "p1", 9);
        expect_out(td, "inner", "p1=p1:p1+Main St@3;p1=p1:p1+High St@7;");
        expect_out(td, "left-out",
                   "p1=p1:p1+Main St@3;null=null:none+null@4;"
                   "p2=p2:p2+null@5;p1=p1:p1+High St@7;p1=p1:p1+null@9;");
        /* The global table's null key, and the inner join's null selected
         * key. */
        assert_int_equal(
                brook_test_driver_records_dropped(td, BROOK_DROP_NULL_KEY), 2);
        /* No repartition topic: the re-keyed stream joins as it is. */
        assert_int_equal(brook_test_driver_read(td,
                                                "join-KSTREAM-KEY-SELECT-"
                                                "0000000003-repartition",
                                                NULL),
                         false);
        brook_test_driver_destroy(td);
}

/* describe() equals Kafka Streams 4.3.1's for the same topology (its
 * output, verbatim): a global table's sub-topology "for global store",
 * numbered with the others; the join node named LEFTJOIN for inner joins
 * too, with no store; a global table named by Materialized. */
static void test_stream_global_describe(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_global_table_t *g = brook_global_table(b, "pharm", NULL, NULL);
        brook_stream_t *s = brook_stream(b, "rx", NULL);
        brook_materialized_t named = {.name = "named",
                                      .version = BROOK_MATERIALIZED_VERSION};
        brook_global_table_t *g2;
        brook_table_t *t;
        char *desc;
        static const char want[] =
                "Topologies:\n"
                "   Sub-topology: 0 for global store (will not generate "
                "tasks)\n"
                "    Source: KSTREAM-SOURCE-0000000001 (topics: [pharm])\n"
                "      --> KTABLE-SOURCE-0000000002\n"
                "    Processor: KTABLE-SOURCE-0000000002 (stores: "
                "[pharm-STATE-STORE-0000000000])\n"
                "      --> none\n"
                "      <-- KSTREAM-SOURCE-0000000001\n"
                "  Sub-topology: 1\n"
                "    Source: KSTREAM-SOURCE-0000000003 (topics: [rx])\n"
                "      --> KSTREAM-JOIN-0000000013, "
                "KSTREAM-LEFTJOIN-0000000004, KSTREAM-LEFTJOIN-0000000006\n"
                "    Processor: KSTREAM-JOIN-0000000013 (stores: "
                "[tab-STATE-STORE-0000000010])\n"
                "      --> KSTREAM-LEFTJOIN-0000000014\n"
                "      <-- KSTREAM-SOURCE-0000000003\n"
                "    Processor: KSTREAM-LEFTJOIN-0000000004 (stores: [])\n"
                "      --> KSTREAM-SINK-0000000005\n"
                "      <-- KSTREAM-SOURCE-0000000003\n"
                "    Processor: KSTREAM-LEFTJOIN-0000000006 (stores: [])\n"
                "      --> KSTREAM-SINK-0000000007\n"
                "      <-- KSTREAM-SOURCE-0000000003\n"
                "    Processor: KSTREAM-LEFTJOIN-0000000014 (stores: [])\n"
                "      --> KSTREAM-SINK-0000000015\n"
                "      <-- KSTREAM-JOIN-0000000013\n"
                "    Source: KSTREAM-SOURCE-0000000011 (topics: [tab])\n"
                "      --> KTABLE-SOURCE-0000000012\n"
                "    Sink: KSTREAM-SINK-0000000005 (topic: out)\n"
                "      <-- KSTREAM-LEFTJOIN-0000000004\n"
                "    Sink: KSTREAM-SINK-0000000007 (topic: out2)\n"
                "      <-- KSTREAM-LEFTJOIN-0000000006\n"
                "    Sink: KSTREAM-SINK-0000000015 (topic: out3)\n"
                "      <-- KSTREAM-LEFTJOIN-0000000014\n"
                "    Processor: KTABLE-SOURCE-0000000012 (stores: "
                "[tab-STATE-STORE-0000000010])\n"
                "      --> none\n"
                "      <-- KSTREAM-SOURCE-0000000011\n"
                "\n"
                "  Sub-topology: 2 for global store (will not generate "
                "tasks)\n"
                "    Source: KSTREAM-SOURCE-0000000008 (topics: [pharm2])\n"
                "      --> KTABLE-SOURCE-0000000009\n"
                "    Processor: KTABLE-SOURCE-0000000009 (stores: [named])\n"
                "      --> none\n"
                "      <-- KSTREAM-SOURCE-0000000008\n";
        (void)state;

        brook_stream_to(brook_stream_join_global(s, g, value_as_key, NULL,
                                                 key_joiner, NULL, NULL),
                        "out", NULL);
        brook_stream_to(brook_stream_left_join_global(s, g, value_as_key, NULL,
                                                      key_joiner, NULL, NULL),
                        "out2", NULL);
        g2 = brook_global_table(b, "pharm2", NULL, &named);
        t = brook_table(b, "tab", NULL, NULL);
        brook_stream_to(
                brook_stream_join_global(
                        brook_stream_join_table(s, t, key_joiner, NULL, NULL),
                        g2, record_key, NULL, key_joiner, NULL, NULL),
                "out3", NULL);
        desc = brook_topology_describe(b, BROOK_DESCRIBE_TEXT);
        assert_non_null(desc);
        if (strcmp(desc, want))
                fail_msg("describe:\n%s\nwant:\n%s", desc, want);
        free(desc);
        brook_builder_destroy(b);
}

/* A named stream-global join still takes a number, as every named
 * operator does in Kafka Streams (NamedInternal.orElseGenerateWithPrefix()):
 * the names generated after it, the count's store (and so its changelog
 * topic) among them, are Kafka Streams'. Kafka Streams 4.3.1's output,
 * verbatim, for the same topology. */
static void test_stream_global_named_describe(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *s = brook_stream(b, "rx", NULL);
        brook_global_table_t *g = brook_global_table(b, "pharm", NULL, NULL);
        char *desc;
        static const char want[] =
                "Topologies:\n"
                "   Sub-topology: 0\n"
                "    Source: KSTREAM-SOURCE-0000000000 (topics: [rx])\n"
                "      --> gj\n"
                "    Processor: gj (stores: [])\n"
                "      --> KSTREAM-AGGREGATE-0000000006\n"
                "      <-- KSTREAM-SOURCE-0000000000\n"
                "    Processor: KSTREAM-AGGREGATE-0000000006 (stores: "
                "[KSTREAM-AGGREGATE-STATE-STORE-0000000005])\n"
                "      --> KTABLE-TOSTREAM-0000000007\n"
                "      <-- gj\n"
                "    Processor: KTABLE-TOSTREAM-0000000007 (stores: [])\n"
                "      --> KSTREAM-SINK-0000000008\n"
                "      <-- KSTREAM-AGGREGATE-0000000006\n"
                "    Sink: KSTREAM-SINK-0000000008 (topic: out)\n"
                "      <-- KTABLE-TOSTREAM-0000000007\n"
                "\n"
                "  Sub-topology: 1 for global store (will not generate "
                "tasks)\n"
                "    Source: KSTREAM-SOURCE-0000000002 (topics: [pharm])\n"
                "      --> KTABLE-SOURCE-0000000003\n"
                "    Processor: KTABLE-SOURCE-0000000003 (stores: "
                "[pharm-STATE-STORE-0000000001])\n"
                "      --> none\n"
                "      <-- KSTREAM-SOURCE-0000000002\n";
        (void)state;

        s = brook_stream_join_global(s, g, value_as_key, NULL, key_joiner, NULL,
                                     "gj");
        brook_stream_to(brook_table_to_stream(brook_grouped_count(
                                brook_stream_group_by_key(s, NULL), NULL)),
                        "out", NULL);
        desc = brook_topology_describe(b, BROOK_DESCRIBE_TEXT);
        assert_non_null(desc);
        if (strcmp(desc, want))
                fail_msg("describe:\n%s\nwant:\n%s", desc, want);
        free(desc);
        brook_builder_destroy(b);
}

/* A global table cannot be versioned (Kafka Streams' TopologyException),
 * nor read as a stream too. */
static void test_stream_global_bad_setups(void **state)
{
        brook_materialized_t v = {.name = "v",
                                  .versioned = true,
                                  .history_retention_ms = 1000,
                                  .version = BROOK_MATERIALIZED_VERSION};
        brook_builder_t *b = brook_builder_new();
        (void)state;

        assert_null(brook_global_table(b, "pharm", NULL, &v));
        assert_non_null(strstr(brook_builder_error(b),
                               "global tables cannot be versioned"));
        brook_builder_destroy(b);

        b = brook_builder_new();
        assert_non_null(brook_global_table(b, "pharm", NULL, NULL));
        assert_null(brook_stream(b, "pharm", NULL));
        assert_non_null(strstr(brook_builder_error(b), "pharm"));
        brook_builder_destroy(b);
}

/* KStream-KStream join columns of the guide, with every record in one
 * window (JoinWindows.ofTimeDifferenceWithNoGrace(15 ms)). The guide's
 * left and outer columns also show "[A, null]" at 3 and "[null, a]"-style
 * rows: Kafka Streams before 3.1 emitted those at once, spuriously, since
 * each of these records finds a partner later in the window. Kafka Streams
 * 3.1+ and brook emit a record with null only once its window has closed
 * without a partner, so here the three columns are the same. */
#define SS_DOCS_ONE_WINDOW                                                     \
        "k=[A, a]@4;k=[B, a]@5;k=[A, b]@6;k=[B, b]@6;k=[C, a]@9;"              \
        "k=[C, b]@9;k=[A, c]@10;k=[B, c]@10;k=[C, c]@10;k=[A, d]@14;"          \
        "k=[B, d]@14;k=[C, d]@14;k=[D, a]@15;k=[D, b]@15;k=[D, c]@15;"         \
        "k=[D, d]@15;"

static void test_stream_stream_inner_docs(void **state)
{
        brook_join_windows_t w = brook_join_windows(15, 0);
        (void)state;
        ss_docs_run(SS_INNER, &w, SS_DOCS_ONE_WINDOW);
}

static void test_stream_stream_left_docs(void **state)
{
        brook_join_windows_t w = brook_join_windows(15, 0);
        (void)state;
        ss_docs_run(SS_LEFT, &w, SS_DOCS_ONE_WINDOW);
}

static void test_stream_stream_outer_docs(void **state)
{
        brook_join_windows_t w = brook_join_windows(15, 0);
        (void)state;
        ss_docs_run(SS_OUTER, &w, SS_DOCS_ONE_WINDOW);
}

/* The same rows through a narrow, one-sided window (a left record at t
 * joins right records in [t, t + 1]; JoinWindows
 * .ofTimeDifferenceWithNoGrace(1 ms).before(0)): A, B and C find a, b and
 * c; D (15) and d (14) find nothing. A left join emits [D, null] once the
 * window of D has closed (stream time 100 > 15 + 1), with D's timestamp;
 * an outer join [null, d] too, before it (the outer store is in timestamp
 * order). */
static void test_stream_stream_narrow_window(void **state)
{
        brook_join_windows_t w = brook_join_windows(1, 0);
        (void)state;

        w.before_ms = 0;
        ss_docs_run(SS_INNER, &w, "k=[A, a]@4;k=[B, b]@6;k=[C, c]@10;");
        ss_docs_run(SS_LEFT, &w,
                    "k=[A, a]@4;k=[B, b]@6;k=[C, c]@10;k=[D, null]@15;");
        ss_docs_run(SS_OUTER, &w,
                    "k=[A, a]@4;k=[B, b]@6;k=[C, c]@10;k=[null, d]@14;"
                    "k=[D, null]@15;");
}

/* A record without a partner waits in the outer store until its window
 * and grace have passed on the join's stream time, which either side
 * moves; it is emitted once, and a partner arriving in time takes it out.
 * Run with the driver's default (no wall-clock throttle, as Kafka Streams'
 * TopologyTestDriver) and with the app's (a look at most once per second
 * of wall clock); the expected outputs are Kafka Streams' for both. */
static void outer_timing_run(const char *interval, const char *const want[5])
{
        brook_join_windows_t w = brook_join_windows(10, 5);
        brook_builder_t *b = ssjoin_builder(SS_OUTER, &w);
        brook_conf_t *conf = conf_new();
        brook_test_driver_t *td;
        char err[512] = "";

        if (interval)
                assert_int_equal(brook_conf_set(conf,
                                                "__emit.interval.ms.kstreams."
                                                "outer.join.spurious.results."
                                                "fix__",
                                                interval, err, sizeof err),
                                 BROOK_OK);
        td = td_new_conf(b, conf);
        pipe_ok(td, "left", "k1", "L1", 100);
        pipe_ok(td, "right", "k2", "R2", 105);
        /* k1's window closes at 100 + 10 + 5: not yet at 115. */
        pipe_ok(td, "right", "k3", "R3", 115);
        expect_out(td, "out", want[0]);
        /* At 116 it has. */
        pipe_ok(td, "right", "k3", "R3b", 116);
        expect_out(td, "out", want[1]);
        assert_int_equal(
                brook_test_driver_advance_wall_clock(td, 1000, err, sizeof err),
                BROOK_OK);
        /* An out-of-order record does not look (it is not at stream time);
         * it joins k3's two records, which leave the outer store. */
        pipe_ok(td, "left", "k3", "L3", 112);
        expect_out(td, "out", want[2]);
        pipe_ok(td, "left", "k4", "L4", 117);
        expect_out(td, "out", want[3]);
        assert_int_equal(
                brook_test_driver_advance_wall_clock(td, 1000, err, sizeof err),
                BROOK_OK);
        pipe_ok(td, "left", "k2", "L2", 121);
        expect_out(td, "out", want[4]);
        brook_test_driver_destroy(td);
}

static void test_stream_stream_outer_timing(void **state)
{
        /* The driver looks at every record at stream time: k1 goes out at
         * 116. The walk leaves the join's lower bound of the store's times
         * at the last record it looked at (115, R3), so R2 (105) waits
         * until stream time passes 115 + 10 + 5, as in Kafka Streams. */
        static const char *const no_throttle[5] = {
                "", "k1=[L1, null]@100;", "k3=[L3, R3]@115;k3=[L3, R3b]@116;",
                "", ""};
        /* Once a second: the look at the first record (100) was the last
         * until the wall clock moved, so k1 goes out at 117, and R2 at 121
         * (its window closed at 120). */
        static const char *const throttled[5] = {
                "", "", "k3=[L3, R3]@115;k3=[L3, R3b]@116;",
                "k1=[L1, null]@100;", "k2=[null, R2]@105;"};
        (void)state;

        outer_timing_run(NULL, no_throttle);
        outer_timing_run("1000", throttled);
}

/* Null keys: a left join emits a left record with a null key at once,
 * joined with null, and an outer join the right side's too; an inner join
 * drops them (counted). */
static void test_stream_stream_null_keys(void **state)
{
        brook_join_windows_t w = brook_join_windows(10, 0);
        brook_test_driver_t *td;
        (void)state;

        for (int kind = SS_INNER; kind <= SS_OUTER; kind++) {
                td = td_new(ssjoin_builder((ss_kind_t)kind, &w));
                pipe_ok(td, "left", NULL, "L", 1);
                pipe_ok(td, "right", NULL, "R", 2);
                expect_out(td, "out",
                           kind == SS_INNER  ? ""
                           : kind == SS_LEFT ? "null=[L, null]@1;"
                                             : "null=[L, null]@1;"
                                               "null=[null, R]@2;");
                assert_int_equal(brook_test_driver_records_dropped(
                                         td, BROOK_DROP_NULL_KEY),
                                 kind == SS_INNER  ? 2
                                 : kind == SS_LEFT ? 1
                                                   : 0);
                brook_test_driver_destroy(td);
        }
}

/* Kafka Streams' describe() of the same topologies, to the character:
 * the windowed nodes, the join nodes with the other side's store (and
 * the shared outer store), the merge; and a named join of a re-keyed
 * stream, with its repartition. */
static void test_stream_stream_describe(void **state)
{
        brook_join_windows_t w = brook_join_windows(10, 5);
        brook_stream_joined_t sj = {.name = "visits",
                                    .store_name = "ss",
                                    .version = BROOK_STREAM_JOINED_VERSION};
        brook_builder_t *b = ssjoin_builder(SS_LEFT, &w);
        char *desc = brook_topology_describe(b, BROOK_DESCRIBE_TEXT);
        brook_stream_t *l, *r;
        (void)state;

        assert_string_equal(
                desc,
                "Topologies:\n"
                "   Sub-topology: 0\n"
                "    Source: KSTREAM-SOURCE-0000000000 (topics: [left])\n"
                "      --> KSTREAM-WINDOWED-0000000002\n"
                "    Source: KSTREAM-SOURCE-0000000001 (topics: [right])\n"
                "      --> KSTREAM-WINDOWED-0000000003\n"
                "    Processor: KSTREAM-WINDOWED-0000000002 (stores: "
                "[KSTREAM-JOINTHIS-0000000004-store])\n"
                "      --> KSTREAM-JOINTHIS-0000000004\n"
                "      <-- KSTREAM-SOURCE-0000000000\n"
                "    Processor: KSTREAM-WINDOWED-0000000003 (stores: "
                "[KSTREAM-OUTEROTHER-0000000005-store])\n"
                "      --> KSTREAM-OUTEROTHER-0000000005\n"
                "      <-- KSTREAM-SOURCE-0000000001\n"
                "    Processor: KSTREAM-JOINTHIS-0000000004 (stores: "
                "[KSTREAM-OUTEROTHER-0000000005-store, "
                "KSTREAM-OUTERSHARED-0000000004-store])\n"
                "      --> KSTREAM-MERGE-0000000006\n"
                "      <-- KSTREAM-WINDOWED-0000000002\n"
                "    Processor: KSTREAM-OUTEROTHER-0000000005 (stores: "
                "[KSTREAM-JOINTHIS-0000000004-store, "
                "KSTREAM-OUTERSHARED-0000000004-store])\n"
                "      --> KSTREAM-MERGE-0000000006\n"
                "      <-- KSTREAM-WINDOWED-0000000003\n"
                "    Processor: KSTREAM-MERGE-0000000006 (stores: [])\n"
                "      --> KSTREAM-SINK-0000000007\n"
                "      <-- KSTREAM-JOINTHIS-0000000004, "
                "KSTREAM-OUTEROTHER-0000000005\n"
                "    Sink: KSTREAM-SINK-0000000007 (topic: out)\n"
                "      <-- KSTREAM-MERGE-0000000006\n"
                "\n");
        free(desc);
        brook_builder_destroy(b);

        b = brook_builder_new();
        l = brook_stream(b, "left", NULL);
        r = brook_stream_select_key(brook_stream(b, "right", NULL),
                                    value_as_key, NULL);
        brook_stream_to(ss_join(l, r, SS_OUTER, &w, &sj), "out", NULL);
        desc = brook_topology_describe(b, BROOK_DESCRIBE_TEXT);
        assert_string_equal(
                desc,
                "Topologies:\n"
                "   Sub-topology: 0\n"
                "    Source: KSTREAM-SOURCE-0000000000 (topics: [left])\n"
                "      --> visits-this-windowed\n"
                "    Source: visits-right-repartition-source (topics: "
                "[visits-right-repartition])\n"
                "      --> visits-other-windowed\n"
                "    Processor: visits-other-windowed (stores: "
                "[ss-outer-other-join-store])\n"
                "      --> visits-outer-other-join\n"
                "      <-- visits-right-repartition-source\n"
                "    Processor: visits-this-windowed (stores: "
                "[ss-outer-this-join-store])\n"
                "      --> visits-outer-this-join\n"
                "      <-- KSTREAM-SOURCE-0000000000\n"
                "    Processor: visits-outer-other-join (stores: "
                "[ss-outer-this-join-store, ss-outer-shared-join-store])\n"
                "      --> visits-merge\n"
                "      <-- visits-other-windowed\n"
                "    Processor: visits-outer-this-join (stores: "
                "[ss-outer-other-join-store, ss-outer-shared-join-store])\n"
                "      --> visits-merge\n"
                "      <-- visits-this-windowed\n"
                "    Processor: visits-merge (stores: [])\n"
                "      --> KSTREAM-SINK-0000000011\n"
                "      <-- visits-outer-this-join, visits-outer-other-join\n"
                "    Sink: KSTREAM-SINK-0000000011 (topic: out)\n"
                "      <-- visits-merge\n"
                "\n"
                "  Sub-topology: 1\n"
                "    Source: KSTREAM-SOURCE-0000000001 (topics: [right])\n"
                "      --> KSTREAM-KEY-SELECT-0000000002\n"
                "    Processor: KSTREAM-KEY-SELECT-0000000002 (stores: [])\n"
                "      --> visits-right-repartition-filter\n"
                "      <-- KSTREAM-SOURCE-0000000001\n"
                "    Processor: visits-right-repartition-filter (stores: [])\n"
                "      --> visits-right-repartition-sink\n"
                "      <-- KSTREAM-KEY-SELECT-0000000002\n"
                "    Sink: visits-right-repartition-sink (topic: "
                "visits-right-repartition)\n"
                "      <-- visits-right-repartition-filter\n"
                "\n");
        free(desc);
        brook_builder_destroy(b);
}

/* Join windows that make no sense fail when the topology is built, as
 * Kafka Streams' JoinWindows refuses them (a negative size or grace); so
 * do a NULL window, a stream of another builder and an empty name. */
static void ss_bad(const brook_join_windows_t *w,
                   const brook_stream_joined_t *sj, const char *want)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *l = brook_stream(b, "left", NULL);
        brook_stream_t *r = brook_stream(b, "right", NULL);

        assert_null(brook_stream_left_join(l, r, bracket_joiner, NULL, w, sj));
        if (!strstr(brook_builder_error(b), want))
                fail_msg("error \"%s\" does not say \"%s\"",
                         brook_builder_error(b), want);
        brook_builder_destroy(b);
}

static void test_stream_stream_bad_setups(void **state)
{
        brook_join_windows_t w = brook_join_windows(10, 0);
        brook_stream_joined_t sj = {.name = "",
                                    .version = BROOK_STREAM_JOINED_VERSION};
        brook_builder_t *b, *b2;
        (void)state;

        w.before_ms = -11;
        ss_bad(&w, NULL,
               "brook_stream_left_join: the join window (before -11 ms, "
               "after 10 ms, grace 0 ms) is negative: before + after must "
               "be >= 0");
        w = brook_join_windows(10, -1);
        ss_bad(&w, NULL, "has a negative grace");
        ss_bad(NULL, NULL, "brook_stream_left_join: the join windows is NULL");
        w = brook_join_windows(10, 0);
        ss_bad(&w, &sj, "the join's name is empty");
        w.version = 99;
        ss_bad(&w, NULL, "brook_join_windows_t");

        b = brook_builder_new();
        b2 = brook_builder_new();
        w = brook_join_windows(10, 0);
        assert_null(brook_stream_join(brook_stream(b, "left", NULL),
                                      brook_stream(b2, "right", NULL),
                                      bracket_joiner, NULL, &w, NULL));
        assert_non_null(strstr(brook_builder_error(b), "another builder"));
        brook_builder_destroy(b);
        brook_builder_destroy(b2);
}

/* A window of 0 with no grace keeps nothing: an inner join never joins,
 * a left join emits every left record with null once stream time moves
 * past it; as Kafka Streams (its stores' retention is 0 too). */
static void test_stream_stream_zero_window(void **state)
{
        brook_join_windows_t w = brook_join_windows(0, 0);
        (void)state;

        for (int kind = SS_INNER; kind <= SS_LEFT; kind++) {
                brook_test_driver_t *td =
                        td_new(ssjoin_builder((ss_kind_t)kind, &w));
                pipe_ok(td, "left", "k", "A", 5);
                pipe_ok(td, "right", "k", "a", 5);
                pipe_ok(td, "left", "k", "B", 6);
                pipe_ok(td, "right", "k", "b", 7);
                expect_out(td, "out",
                           kind == SS_INNER ? ""
                                            : "k=[A, null]@5;k=[B, null]@6;");
                brook_test_driver_destroy(td);
        }
}

/* A time difference of 0 with grace joins records of equal timestamps
 * only (window stores of size 0). */
static void test_stream_stream_zero_difference(void **state)
{
        brook_join_windows_t w = brook_join_windows(0, 5);
        brook_test_driver_t *td = td_new(ssjoin_builder(SS_INNER, &w));
        (void)state;

        pipe_ok(td, "left", "k", "A", 10);
        pipe_ok(td, "right", "k", "a", 11);
        pipe_ok(td, "right", "k", "b", 10);
        pipe_ok(td, "left", "k", "B", 11);
        expect_out(td, "out", "k=[A, b]@10;k=[B, a]@11;");
        brook_test_driver_destroy(td);
}

/* --------------------------------------------------- table-table joins */

/* The guide's rows through a table-table join of the tables of "left" and
 * "right" into "out" (to_stream). */
static void tt_docs_run(int kind, const char *want)
{
        brook_builder_t *b = brook_builder_new();
        brook_table_t *l = brook_table(b, "left", NULL, NULL);
        brook_table_t *r = brook_table(b, "right", NULL, NULL);
        brook_table_t *t =
                kind == 0   ? brook_table_join(l, r, bracket_joiner, NULL, NULL,
                                               NULL)
                : kind == 1 ? brook_table_left_join(l, r, bracket_joiner, NULL,
                                                    NULL, NULL)
                            : brook_table_outer_join(l, r, bracket_joiner, NULL,
                                                     NULL, NULL);
        brook_test_driver_t *td;
        size_t i;

        brook_stream_to(brook_table_to_stream(t), "out", NULL);
        td = td_new(b);
        for (i = 0; i < sizeof docs_rows / sizeof docs_rows[0]; i++)
                pipe_ok(td, docs_rows[i].topic, "k", docs_rows[i].value,
                        docs_rows[i].ts);
        expect_out(td, "out", want);
        brook_test_driver_destroy(td);
}

/* KTable-KTable join columns of the guide, as Kafka Streams 4.3's
 * TopologyTestDriver gives them (the cache on or off alike): a result
 * when both tables have a row, a tombstone when one of them loses it; a
 * result's timestamp is the later of its two rows'. */
/* A row a join read while it was only in its table's cache, then deleted
 * before the cache went down: the delete still reaches the join, which
 * takes the result back. (A caching store drops a delete of a key that is
 * not below, as Kafka Streams' does; the join's read is what makes this
 * one count.) Commits by hand, so that both writes of "right" share one
 * cache window; "left" does not cache, so its update joins at once. */
static void test_table_table_cached_delete(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_materialized_t lm = {.name = "left-store",
                                   .caching_disabled = true,
                                   .version = BROOK_MATERIALIZED_VERSION};
        brook_materialized_t rm = {.name = "right-store",
                                   .version = BROOK_MATERIALIZED_VERSION};
        brook_table_t *l = brook_table(b, "left", NULL, &lm);
        brook_table_t *r = brook_table(b, "right", NULL, &rm);
        brook_test_driver_t *td;
        char err[512] = "";
        (void)state;

        brook_stream_to(brook_table_to_stream(brook_table_join(
                                l, r, bracket_joiner, NULL, NULL, NULL)),
                        "out", NULL);
        td = td_new(b);
        brook_test_driver_set_auto_commit(td, false);
        pipe_ok(td, "right", "k", "b", 1);
        pipe_ok(td, "left", "k", "a", 2);
        pipe_ok(td, "right", "k", NULL, 3);
        if (brook_test_driver_commit(td, err, sizeof err))
                fail_msg("commit: %s", err);
        expect_out(td, "out", "k=[a, b]@2;k=null@3;");
        brook_test_driver_destroy(td);
}

static void test_table_table_inner_docs(void **state)
{
        (void)state;
        tt_docs_run(0, "k=[A, a]@4;k=[B, a]@5;k=[B, b]@6;k=null@7;"
                       "k=[C, c]@10;k=null@11;k=[D, d]@15;");
}

static void test_table_table_left_docs(void **state)
{
        (void)state;
        tt_docs_run(1, "k=[A, null]@3;k=[A, a]@4;k=[B, a]@5;k=[B, b]@6;"
                       "k=null@7;k=[C, null]@9;k=[C, c]@10;k=[C, null]@11;"
                       "k=null@12;k=[D, d]@15;");
}

static void test_table_table_outer_docs(void **state)
{
        (void)state;
        tt_docs_run(2, "k=[A, null]@3;k=[A, a]@4;k=[B, a]@5;k=[B, b]@6;"
                       "k=[null, b]@7;k=null@8;k=[C, null]@9;k=[C, c]@10;"
                       "k=[C, null]@11;k=null@12;k=[null, d]@14;"
                       "k=[D, d]@15;");
}

/* Kafka Streams' describe() of the outer join, to the character: the
 * join nodes read the other table's store, both tables are materialized. */
static void test_table_table_describe(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_table_t *l = brook_table(b, "left", NULL, NULL);
        brook_table_t *r = brook_table(b, "right", NULL, NULL);
        char *desc;
        (void)state;

        brook_stream_to(brook_table_to_stream(brook_table_outer_join(
                                l, r, bracket_joiner, NULL, NULL, NULL)),
                        "out", NULL);
        desc = brook_topology_describe(b, BROOK_DESCRIBE_TEXT);
        assert_string_equal(
                desc,
                "Topologies:\n"
                "   Sub-topology: 0\n"
                "    Source: KSTREAM-SOURCE-0000000001 (topics: [left])\n"
                "      --> KTABLE-SOURCE-0000000002\n"
                "    Source: KSTREAM-SOURCE-0000000004 (topics: [right])\n"
                "      --> KTABLE-SOURCE-0000000005\n"
                "    Processor: KTABLE-SOURCE-0000000002 (stores: "
                "[left-STATE-STORE-0000000000])\n"
                "      --> KTABLE-JOINTHIS-0000000007\n"
                "      <-- KSTREAM-SOURCE-0000000001\n"
                "    Processor: KTABLE-SOURCE-0000000005 (stores: "
                "[right-STATE-STORE-0000000003])\n"
                "      --> KTABLE-JOINOTHER-0000000008\n"
                "      <-- KSTREAM-SOURCE-0000000004\n"
                "    Processor: KTABLE-JOINOTHER-0000000008 (stores: "
                "[left-STATE-STORE-0000000000])\n"
                "      --> KTABLE-MERGE-0000000006\n"
                "      <-- KTABLE-SOURCE-0000000005\n"
                "    Processor: KTABLE-JOINTHIS-0000000007 (stores: "
                "[right-STATE-STORE-0000000003])\n"
                "      --> KTABLE-MERGE-0000000006\n"
                "      <-- KTABLE-SOURCE-0000000002\n"
                "    Processor: KTABLE-MERGE-0000000006 (stores: [])\n"
                "      --> KTABLE-TOSTREAM-0000000009\n"
                "      <-- KTABLE-JOINTHIS-0000000007, "
                "KTABLE-JOINOTHER-0000000008\n"
                "    Processor: KTABLE-TOSTREAM-0000000009 (stores: [])\n"
                "      --> KSTREAM-SINK-0000000010\n"
                "      <-- KTABLE-MERGE-0000000006\n"
                "    Sink: KSTREAM-SINK-0000000010 (topic: out)\n"
                "      <-- KTABLE-TOSTREAM-0000000009\n"
                "\n");
        free(desc);
        brook_builder_destroy(b);
}

/* A materialized result is queryable in its store, with the later
 * timestamp of its rows; set-ups that cannot work fail when built. */
static void test_table_table_materialized_and_bad(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_table_t *l = brook_table(b, "left", NULL, NULL);
        brook_table_t *r = brook_table(b, "right", NULL, NULL);
        brook_materialized_t m = {.name = "joined",
                                  .version = BROOK_MATERIALIZED_VERSION};
        brook_test_driver_t *td;
        brook_kvstore_t *st;
        char err[512];
        void *v;
        (void)state;

        brook_stream_to(brook_table_to_stream(brook_table_join(
                                l, r, bracket_joiner, NULL, "j", &m)),
                        "out", NULL);
        td = td_new(b);
        pipe_ok(td, "left", "k", "A", 3);
        pipe_ok(td, "right", "k", "a", 4);
        expect_out(td, "out", "k=[A, a]@4;");
        st = brook_test_driver_kvstore(td, "joined");
        assert_non_null(st);
        assert_int_equal(brook_kvstore_get(st, "k", &v, err, sizeof err),
                         BROOK_OK);
        assert_string_equal(v, "[A, a]");
        brook_test_driver_destroy(td);

        b = brook_builder_new();
        l = brook_table(b, "left", NULL, NULL);
        r = brook_table_filter(brook_table(b, "right", NULL, NULL), keep_all,
                               NULL, NULL);
        assert_null(
                brook_table_left_join(l, r, bracket_joiner, NULL, NULL, NULL));
        assert_non_null(strstr(brook_builder_error(b),
                               "brook_table_left_join: table "
                               "\"KTABLE-FILTER-0000000006\" has no store"));
        brook_builder_destroy(b);

        b = brook_builder_new();
        l = brook_table(b, "left", NULL, NULL);
        assert_null(brook_table_join(l, l, NULL, NULL, NULL, NULL));
        assert_string_equal(brook_builder_error(b),
                            "brook_table_join: joiner is NULL");
        brook_builder_destroy(b);
}

/* -------------------------------------------------- foreign-key joins */

/* "p1|aspirin": "p1" */
static void *patient_of(const brook_record_t *rec, void *opaque)
{
        const char *v = brook_record_value(rec), *bar = strchr(v, '|');
        size_t n = bar ? (size_t)(bar - v) : strlen(v);
        char *k = brook_record_alloc(rec, n + 1);
        (void)opaque;
        memcpy(k, v, n);
        k[n] = '\0';
        return k;
}

/* "rx@patient" ("null" for none) */
static void *at_joiner(const brook_record_t *rec, void *left, void *right,
                       void *opaque)
{
        const char *r = right ? right : "null";
        size_t n = strlen(left) + strlen(r) + 2;
        char *out = brook_record_alloc(rec, n);
        (void)opaque;
        snprintf(out, n, "%s@%s", (char *)left, r);
        return out;
}

static brook_builder_t *fk_builder(void)
{
        brook_builder_t *b = brook_builder_new();
        brook_table_t *rx = brook_table(b, "prescriptions", NULL, NULL);
        brook_table_t *patients = brook_table(b, "patients", NULL, NULL);

        brook_stream_to(brook_table_to_stream(brook_table_fk_left_join(
                                rx, patients, patient_of, NULL, at_joiner, NULL,
                                NULL, NULL)),
                        "out", NULL);
        return b;
}

/* Prescriptions (keyed by prescription) joined with their patient's row:
 * a patient's update reaches every prescription naming it, a prescription
 * that changes patient leaves the old one, deletes on either side; as
 * Kafka Streams 4.3's TopologyTestDriver gives it. */
static void test_fk_left_join(void **state)
{
        brook_test_driver_t *td = td_new(fk_builder());
        (void)state;

        pipe_ok(td, "patients", "p1", "ward-a", 1);
        pipe_ok(td, "prescriptions", "rx1", "p1|aspirin", 2);
        pipe_ok(td, "prescriptions", "rx2", "p2|insulin", 3);
        pipe_ok(td, "patients", "p2", "ward-b", 4);
        pipe_ok(td, "patients", "p1", "ward-c", 5);
        pipe_ok(td, "prescriptions", "rx1", "p2|aspirin", 6);
        pipe_ok(td, "patients", "p2", NULL, 7);
        pipe_ok(td, "prescriptions", "rx2", NULL, 8);
        expect_out(td, "out",
                   "rx1=p1|aspirin@ward-a@2;rx2=p2|insulin@null@3;"
                   "rx2=p2|insulin@ward-b@4;rx1=p1|aspirin@ward-c@5;"
                   "rx1=p2|aspirin@ward-b@6;rx1=p2|aspirin@null@7;"
                   "rx2=p2|insulin@null@7;rx2=null@8;");
        brook_test_driver_destroy(td);
}

/* Kafka Streams' describe() of the same topology, to the character. */
static void test_fk_describe(void **state)
{
        brook_builder_t *b = fk_builder();
        char *desc = brook_topology_describe(b, BROOK_DESCRIBE_TEXT);
        (void)state;

        assert_string_equal(
                desc,
                "Topologies:\n"
                "   Sub-topology: 0\n"
                "    Source: KTABLE-SOURCE-0000000016 (topics: "
                "[KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000014-topic])\n"
                "      --> KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-"
                "PROCESSOR-0000000017\n"
                "    Source: KSTREAM-SOURCE-0000000001 (topics: "
                "[prescriptions])\n"
                "      --> KTABLE-SOURCE-0000000002\n"
                "    Processor: KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-"
                "PROCESSOR-0000000017 (stores: "
                "[prescriptions-STATE-STORE-0000000000])\n"
                "      --> KTABLE-FK-JOIN-OUTPUT-0000000018\n"
                "      <-- KTABLE-SOURCE-0000000016\n"
                "    Processor: KTABLE-FK-JOIN-OUTPUT-0000000018 (stores: "
                "[])\n"
                "      --> KTABLE-TOSTREAM-0000000020\n"
                "      <-- KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-"
                "PROCESSOR-0000000017\n"
                "    Processor: KTABLE-SOURCE-0000000002 (stores: "
                "[prescriptions-STATE-STORE-0000000000])\n"
                "      --> KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-"
                "0000000007\n"
                "      <-- KSTREAM-SOURCE-0000000001\n"
                "    Processor: KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-"
                "0000000007 (stores: [])\n"
                "      --> KTABLE-SINK-0000000008\n"
                "      <-- KTABLE-SOURCE-0000000002\n"
                "    Processor: KTABLE-TOSTREAM-0000000020 (stores: [])\n"
                "      --> KSTREAM-SINK-0000000021\n"
                "      <-- KTABLE-FK-JOIN-OUTPUT-0000000018\n"
                "    Sink: KSTREAM-SINK-0000000021 (topic: out)\n"
                "      <-- KTABLE-TOSTREAM-0000000020\n"
                "    Sink: KTABLE-SINK-0000000008 (topic: "
                "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000006-topic)\n"
                "      <-- KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-"
                "0000000007\n"
                "\n"
                "  Sub-topology: 1\n"
                "    Source: KSTREAM-SOURCE-0000000004 (topics: [patients])\n"
                "      --> KTABLE-SOURCE-0000000005\n"
                "    Source: KTABLE-SOURCE-0000000009 (topics: "
                "[KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000006-topic])\n"
                "      --> KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000011\n"
                "    Processor: KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-"
                "0000000011 (stores: "
                "[KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-0000000010])\n"
                "      --> KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000012\n"
                "      <-- KTABLE-SOURCE-0000000009\n"
                "    Processor: KTABLE-SOURCE-0000000005 (stores: "
                "[patients-STATE-STORE-0000000003])\n"
                "      --> KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000013\n"
                "      <-- KSTREAM-SOURCE-0000000004\n"
                "    Processor: KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-"
                "0000000012 (stores: [patients-STATE-STORE-0000000003])\n"
                "      --> KTABLE-SINK-0000000015\n"
                "      <-- KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000011\n"
                "    Processor: KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-"
                "0000000013 (stores: "
                "[KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-0000000010])\n"
                "      --> KTABLE-SINK-0000000015\n"
                "      <-- KTABLE-SOURCE-0000000005\n"
                "    Sink: KTABLE-SINK-0000000015 (topic: "
                "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000014-topic)\n"
                "      <-- KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000012, "
                "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000013\n"
                "\n");
        free(desc);
        brook_builder_destroy(b);
}

/* Kafka Streams decides when the topology is built whether a
 * repartition's filter lets null keys through: if a left or outer join is
 * anywhere below it. So a null key through an explicit repartition
 * reaches a left join below (as Kafka Streams 4.3 gives it). */
static void test_repartition_relaxed_below(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *l =
                brook_stream_repartition(brook_stream(b, "left", NULL), NULL);
        brook_stream_t *r = brook_stream(b, "right", NULL);
        brook_join_windows_t w = brook_join_windows(10, 0);
        brook_test_driver_t *td;
        (void)state;

        brook_stream_to(
                brook_stream_left_join(l, r, bracket_joiner, NULL, &w, NULL),
                "out", NULL);
        td = td_new(b);
        pipe_ok(td, "left", NULL, "L", 1);
        expect_out(td, "out", "null=[L, null]@1;");
        brook_test_driver_destroy(td);
}

/* One re-keyed stream joined twice with a table, unnamed: one repartition
 * topic for both, as Kafka Streams' repartitionForJoin() reuses it (its
 * describe(), to the character). */
static void test_repartition_reused(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *s = brook_stream_select_key(
                brook_stream(b, "left", NULL), value_as_key, NULL);
        brook_table_t *t = brook_table(b, "right", NULL, NULL);
        brook_test_driver_t *td;
        char *desc;
        (void)state;

        brook_stream_to(
                brook_stream_join_table(s, t, bracket_joiner, NULL, NULL),
                "out1", NULL);
        brook_stream_to(
                brook_stream_left_join_table(s, t, bracket_joiner, NULL, NULL),
                "out2", NULL);
        desc = brook_topology_describe(b, BROOK_DESCRIBE_TEXT);
        assert_string_equal(
                desc,
                "Topologies:\n"
                "   Sub-topology: 0\n"
                "    Source: KSTREAM-SOURCE-0000000000 (topics: [left])\n"
                "      --> KSTREAM-KEY-SELECT-0000000001\n"
                "    Processor: KSTREAM-KEY-SELECT-0000000001 (stores: [])\n"
                "      --> KSTREAM-FILTER-0000000006\n"
                "      <-- KSTREAM-SOURCE-0000000000\n"
                "    Processor: KSTREAM-FILTER-0000000006 (stores: [])\n"
                "      --> KSTREAM-SINK-0000000005\n"
                "      <-- KSTREAM-KEY-SELECT-0000000001\n"
                "    Sink: KSTREAM-SINK-0000000005 (topic: "
                "KSTREAM-KEY-SELECT-0000000001-repartition)\n"
                "      <-- KSTREAM-FILTER-0000000006\n"
                "\n"
                "  Sub-topology: 1\n"
                "    Source: KSTREAM-SOURCE-0000000007 (topics: "
                "[KSTREAM-KEY-SELECT-0000000001-repartition])\n"
                "      --> KSTREAM-LEFTJOIN-0000000013, "
                "KSTREAM-JOIN-0000000008\n"
                "    Processor: KSTREAM-JOIN-0000000008 (stores: "
                "[right-STATE-STORE-0000000002])\n"
                "      --> KSTREAM-SINK-0000000009\n"
                "      <-- KSTREAM-SOURCE-0000000007\n"
                "    Processor: KSTREAM-LEFTJOIN-0000000013 (stores: "
                "[right-STATE-STORE-0000000002])\n"
                "      --> KSTREAM-SINK-0000000014\n"
                "      <-- KSTREAM-SOURCE-0000000007\n"
                "    Source: KSTREAM-SOURCE-0000000003 (topics: [right])\n"
                "      --> KTABLE-SOURCE-0000000004\n"
                "    Sink: KSTREAM-SINK-0000000009 (topic: out1)\n"
                "      <-- KSTREAM-JOIN-0000000008\n"
                "    Sink: KSTREAM-SINK-0000000014 (topic: out2)\n"
                "      <-- KSTREAM-LEFTJOIN-0000000013\n"
                "    Processor: KTABLE-SOURCE-0000000004 (stores: "
                "[right-STATE-STORE-0000000002])\n"
                "      --> none\n"
                "      <-- KSTREAM-SOURCE-0000000003\n"
                "\n");
        free(desc);
        td = td_new(b);
        pipe_ok(td, "right", "w", "ward", 1);
        pipe_ok(td, "left", "p", "w", 2);
        expect_out(td, "out1", "w=[w, ward]@2;");
        expect_out(td, "out2", "w=[w, ward]@2;");
        brook_test_driver_destroy(td);
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
                cmocka_unit_test(test_stream_table_prefetch_nodes),
                cmocka_unit_test(test_stream_table_queued_burst),
                cmocka_unit_test(test_stream_table_bad_setups),
                cmocka_unit_test(test_stream_global_inner_docs),
                cmocka_unit_test(test_stream_global_left_docs),
                cmocka_unit_test(test_stream_global_selector),
                cmocka_unit_test(test_stream_global_describe),
                cmocka_unit_test(test_stream_global_named_describe),
                cmocka_unit_test(test_stream_global_bad_setups),
                cmocka_unit_test(test_stream_stream_inner_docs),
                cmocka_unit_test(test_stream_stream_left_docs),
                cmocka_unit_test(test_stream_stream_outer_docs),
                cmocka_unit_test(test_stream_stream_narrow_window),
                cmocka_unit_test(test_stream_stream_outer_timing),
                cmocka_unit_test(test_stream_stream_null_keys),
                cmocka_unit_test(test_stream_stream_describe),
                cmocka_unit_test(test_stream_stream_bad_setups),
                cmocka_unit_test(test_stream_stream_zero_difference),
                cmocka_unit_test(test_stream_stream_zero_window),
                cmocka_unit_test(test_table_table_cached_delete),
                cmocka_unit_test(test_table_table_inner_docs),
                cmocka_unit_test(test_table_table_left_docs),
                cmocka_unit_test(test_table_table_outer_docs),
                cmocka_unit_test(test_table_table_describe),
                cmocka_unit_test(test_table_table_materialized_and_bad),
                cmocka_unit_test(test_fk_left_join),
                cmocka_unit_test(test_fk_describe),
                cmocka_unit_test(test_repartition_relaxed_below),
                cmocka_unit_test(test_repartition_reused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
