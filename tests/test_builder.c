/*
 * The Processor API's builder calls and the options structs they take:
 * node names given in the options (brook_consumed_t.name,
 * brook_produced_t.name) name the node, and every struct a program fills
 * in is refused, with a message naming it, when its version is one this
 * brook does not know (see "Structs that grow" in brook.h). And
 * punctuators at the ends of int64 time: due times saturate rather than
 * overflow (the UBSan build fails on an overflow).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "brook/brook.h"

static brook_err_t pass(brook_ctx_t *ctx, brook_record_t *rec, void *state,
                        char *errstr, size_t errstr_size)
{
        (void)state;
        return brook_ctx_forward(ctx, rec, errstr, errstr_size);
}

static int destroyed;

static void count_destroy(void *opaque)
{
        (void)opaque;
        destroyed++;
}

static bool always(const brook_record_t *rec, void *opaque)
{
        (void)rec;
        (void)opaque;
        return true;
}

/* The builder's error must be exactly @p want. */
static void assert_builder_error(const brook_builder_t *b, const char *want)
{
        assert_non_null(brook_builder_error(b));
        assert_string_equal(brook_builder_error(b), want);
}

/* --------------------------------------------------------- option names */

static void test_names_from_options(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_processor_def_t def = {.process = pass};
        char errstr[512] = "";
        char *text;
        (void)state;

        /* A NULL name argument takes the name in the options struct. */
        assert_int_equal(brook_builder_add_source(
                                 b, NULL, (const char *[]){"in"}, 1, NULL,
                                 &(brook_consumed_t){.name = "reader"}, errstr,
                                 sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_builder_add_processor(b, "p", &def,
                                                     (const char *[]){"reader"},
                                                     1, errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(
                brook_builder_add_sink(b, NULL, "out", NULL, NULL,
                                       &(brook_produced_t){.name = "writer"},
                                       (const char *[]){"p"}, 1, errstr,
                                       sizeof errstr),
                BROOK_OK);
        /* The same name in both places is not ambiguous. */
        assert_int_equal(
                brook_builder_add_sink(b, "copy", "out2", NULL, NULL,
                                       &(brook_produced_t){.name = "copy"},
                                       (const char *[]){"p"}, 1, errstr,
                                       sizeof errstr),
                BROOK_OK);
        assert_null(brook_builder_error(b));
        /* Kafka Streams' order (checked with its describe()): a node's
         * successors, and nodes of one size, by name. */
        text = brook_topology_describe(b, BROOK_DESCRIBE_TEXT);
        assert_string_equal(text, "Topologies:\n"
                                  "   Sub-topology: 0\n"
                                  "    Source: reader (topics: [in])\n"
                                  "      --> p\n"
                                  "    Processor: p (stores: [])\n"
                                  "      --> copy, writer\n"
                                  "      <-- reader\n"
                                  "    Sink: copy (topic: out2)\n"
                                  "      <-- p\n"
                                  "    Sink: writer (topic: out)\n"
                                  "      <-- p\n"
                                  "\n");
        brook_free(text);
        brook_builder_destroy(b);
}

static void test_names_conflict(void **state)
{
        brook_builder_t *b = brook_builder_new();
        char errstr[512] = "";
        (void)state;

        assert_int_equal(brook_builder_add_source(
                                 b, "src", (const char *[]){"in"}, 1, NULL,
                                 &(brook_consumed_t){.name = "other"}, errstr,
                                 sizeof errstr),
                         BROOK_ERR_INVALID_ARG);
        assert_string_equal(errstr, "source \"src\": brook_consumed_t.name is "
                                    "\"other\"; give the node name once, or "
                                    "the same name twice");
        assert_builder_error(b, errstr);
        brook_builder_destroy(b);

        b = brook_builder_new();
        assert_int_equal(
                brook_builder_add_source(b, "src", (const char *[]){"in"}, 1,
                                         NULL, NULL, errstr, sizeof errstr),
                BROOK_OK);
        assert_int_equal(
                brook_builder_add_sink(b, "snk", "out", NULL, NULL,
                                       &(brook_produced_t){.name = "other"},
                                       (const char *[]){"src"}, 1, errstr,
                                       sizeof errstr),
                BROOK_ERR_INVALID_ARG);
        assert_string_equal(errstr, "sink \"snk\": brook_produced_t.name is "
                                    "\"other\"; give the node name once, or "
                                    "the same name twice");
        brook_builder_destroy(b);

        /* No name anywhere is still an error. */
        b = brook_builder_new();
        assert_int_equal(brook_builder_add_source(
                                 b, NULL, (const char *[]){"in"}, 1, NULL,
                                 &(brook_consumed_t){0}, errstr, sizeof errstr),
                         BROOK_ERR_TOPOLOGY);
        assert_string_equal(errstr, "source: a node name is required");
        brook_builder_destroy(b);
}

/* ------------------------------------------------------------- versions */

/* The message for version @p v of @p strct, whose newest is @p current. */
static const char *unknown_version_of(const char *strct, int v, int current)
{
        static char msg[512];
        snprintf(msg, sizeof msg,
                 "%s.version is %d, but this brook (%s) reads versions 1 to "
                 "%d of it (0 means 1): build against the headers of the "
                 "brook you run with",
                 strct, v, BROOK_VERSION_STR, current);
        return msg;
}

static const char *unknown_version(const char *strct, int v)
{
        int current = 1;
        if (!strcmp(strct, "brook_materialized_t"))
                current = BROOK_MATERIALIZED_VERSION;
        else if (!strcmp(strct, "brook_consumed_t"))
                current = BROOK_CONSUMED_VERSION;
        return unknown_version_of(strct, v, current);
}

static void test_version_zero_and_current(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_processor_def_t def = {.process = pass,
                                     .version = BROOK_PROCESSOR_DEF_VERSION};
        char errstr[512] = "";
        (void)state;

        /* Version 0 (zero-initialized) and the current version are both
         * version 1. */
        assert_int_equal(brook_builder_add_source(
                                 b, "src", (const char *[]){"in"}, 1, NULL,
                                 &(brook_consumed_t){.version = 0}, errstr,
                                 sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_builder_add_processor(b, "p", &def,
                                                     (const char *[]){"src"}, 1,
                                                     errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_builder_add_store(
                                 b,
                                 &(brook_materialized_t){
                                         .name = "st",
                                         .supplier = brook_kvstore_in_memory(),
                                         .version = BROOK_MATERIALIZED_VERSION},
                                 (const char *[]){"p"}, 1, errstr,
                                 sizeof errstr),
                         BROOK_OK);
        assert_int_equal(
                brook_builder_add_sink(
                        b, "snk", "out", NULL, NULL,
                        &(brook_produced_t){.version = BROOK_PRODUCED_VERSION},
                        (const char *[]){"p"}, 1, errstr, sizeof errstr),
                BROOK_OK);
        assert_null(brook_builder_error(b));
        brook_builder_destroy(b);
}

static void test_version_unknown_processor_api(void **state)
{
        brook_builder_t *b;
        brook_processor_def_t def = {.process = pass,
                                     .opaque_destroy = count_destroy,
                                     .version =
                                             BROOK_PROCESSOR_DEF_VERSION + 1};
        brook_kvstore_supplier_t sup = *brook_kvstore_in_memory();
        char errstr[512] = "", want[600];
        (void)state;

        b = brook_builder_new();
        assert_int_equal(brook_builder_add_source(
                                 b, "src", (const char *[]){"in"}, 1, NULL,
                                 &(brook_consumed_t){.version = 3}, errstr,
                                 sizeof errstr),
                         BROOK_ERR_INVALID_ARG);
        snprintf(want, sizeof want, "source \"src\": %s",
                 unknown_version("brook_consumed_t", 3));
        assert_string_equal(errstr, want);
        assert_builder_error(b, want);
        brook_builder_destroy(b);

        b = brook_builder_new();
        assert_int_equal(
                brook_builder_add_source(b, "src", (const char *[]){"in"}, 1,
                                         NULL, NULL, errstr, sizeof errstr),
                BROOK_OK);
        /* The opaque is the builder's even when the def is refused. */
        destroyed = 0;
        assert_int_equal(brook_builder_add_processor(b, "p", &def,
                                                     (const char *[]){"src"}, 1,
                                                     errstr, sizeof errstr),
                         BROOK_ERR_INVALID_ARG);
        assert_int_equal(destroyed, 1);
        snprintf(want, sizeof want, "processor \"p\": %s",
                 unknown_version("brook_processor_def_t", 2));
        assert_string_equal(errstr, want);

        assert_int_equal(
                brook_builder_add_sink(b, "snk", "out", NULL, NULL,
                                       &(brook_produced_t){.version = -1},
                                       (const char *[]){"src"}, 1, errstr,
                                       sizeof errstr),
                BROOK_ERR_INVALID_ARG);
        snprintf(want, sizeof want, "sink \"snk\": %s",
                 unknown_version("brook_produced_t", -1));
        assert_string_equal(errstr, want);

        assert_int_equal(
                brook_builder_add_store(
                        b, &(brook_materialized_t){.name = "st", .version = 7},
                        NULL, 0, errstr, sizeof errstr),
                BROOK_ERR_INVALID_ARG);
        snprintf(want, sizeof want, "store \"st\": %s",
                 unknown_version("brook_materialized_t", 7));
        assert_string_equal(errstr, want);

        sup.version = BROOK_KVSTORE_SUPPLIER_VERSION + 1;
        assert_int_equal(
                brook_builder_add_store(
                        b,
                        &(brook_materialized_t){.name = "st", .supplier = &sup},
                        NULL, 0, errstr, sizeof errstr),
                BROOK_ERR_INVALID_ARG);
        snprintf(want, sizeof want, "store \"st\": %s",
                 unknown_version("brook_kvstore_supplier_t", 2));
        assert_string_equal(errstr, want);
        brook_builder_destroy(b);
}

static void test_version_unknown_dsl(void **state)
{
        brook_builder_t *b;
        brook_stream_t *s;
        char want[600];
        (void)state;

        /* The DSL reports through the builder's error. */
        b = brook_builder_new();
        assert_null(brook_stream(b, "in", &(brook_consumed_t){.version = 3}));
        snprintf(want, sizeof want, "source \"KSTREAM-SOURCE-0000000000\": %s",
                 unknown_version("brook_consumed_t", 3));
        assert_builder_error(b, want);
        brook_builder_destroy(b);

        b = brook_builder_new();
        s = brook_stream(b, "in", NULL);
        brook_stream_to(s, "out", &(brook_produced_t){.version = 2});
        snprintf(want, sizeof want, "sink \"KSTREAM-SINK-0000000001\": %s",
                 unknown_version("brook_produced_t", 2));
        assert_builder_error(b, want);
        brook_builder_destroy(b);

        b = brook_builder_new();
        s = brook_stream(b, "in", NULL);
        assert_null(brook_stream_group_by_key(
                s, &(brook_grouping_t){.version = 2}));
        snprintf(want, sizeof want, "brook_stream_group_by_key: %s",
                 unknown_version("brook_grouping_t", 2));
        assert_builder_error(b, want);
        brook_builder_destroy(b);

        b = brook_builder_new();
        s = brook_stream(b, "in", NULL);
        assert_null(brook_stream_repartition(
                s, &(brook_repartitioned_t){.version = 2}));
        snprintf(want, sizeof want, "brook_stream_repartition: %s",
                 unknown_version("brook_repartitioned_t", 2));
        assert_builder_error(b, want);
        brook_builder_destroy(b);

        b = brook_builder_new();
        s = brook_stream(b, "in", NULL);
        assert_null(brook_grouped_count(
                brook_stream_group_by_key(s, NULL),
                &(brook_materialized_t){.name = "counts",
                                        .version = BROOK_MATERIALIZED_VERSION +
                                                   1}));
        snprintf(want, sizeof want, "store \"counts\": %s",
                 unknown_version("brook_materialized_t",
                                 BROOK_MATERIALIZED_VERSION + 1));
        assert_builder_error(b, want);
        brook_builder_destroy(b);

        b = brook_builder_new();
        s = brook_stream_filter(brook_stream(b, "in", NULL), always, NULL);
        assert_null(brook_stream_process(
                s, &(brook_processor_def_t){.process = pass, .version = 2},
                "p"));
        snprintf(want, sizeof want, "processor \"p\": %s",
                 unknown_version("brook_processor_def_t", 2));
        assert_builder_error(b, want);
        brook_builder_destroy(b);
}

/* ------------------------------------------ punctuators at INT64_MAX */

static char punc_log[512];

static brook_err_t punc_log_fn(brook_ctx_t *ctx, int64_t ts, void *opaque,
                               char *errstr, size_t errstr_size)
{
        size_t n = strlen(punc_log);
        (void)ctx;
        /* Times near the end read as "MAX-<distance>". */
        if (ts > INT64_MAX - 1000)
                snprintf(punc_log + n, sizeof punc_log - n, "%s@MAX-%d;",
                         (const char *)opaque, (int)(INT64_MAX - ts));
        else
                snprintf(punc_log + n, sizeof punc_log - n, "%s@%lld;",
                         (const char *)opaque, (long long)ts);
        return BROOK_OK;
}

static brook_err_t punc_init(brook_ctx_t *ctx, void *opaque, void **statep,
                             char *errstr, size_t errstr_size)
{
        (void)opaque;
        (void)statep;
        (void)errstr;
        (void)errstr_size;
        assert_int_equal(
                brook_ctx_schedule(ctx, INT64_MAX, BROOK_PUNCTUATE_STREAM_TIME,
                                   punc_log_fn, "s-max", NULL, NULL, 0),
                BROOK_OK);
        assert_int_equal(brook_ctx_schedule(ctx, 10,
                                            BROOK_PUNCTUATE_STREAM_TIME,
                                            punc_log_fn, "s-10", NULL, NULL, 0),
                         BROOK_OK);
        assert_int_equal(
                brook_ctx_schedule(ctx, INT64_MAX, BROOK_PUNCTUATE_WALL_CLOCK,
                                   punc_log_fn, "w-max", NULL, NULL, 0),
                BROOK_OK);
        assert_int_equal(brook_ctx_schedule(ctx, 10, BROOK_PUNCTUATE_WALL_CLOCK,
                                            punc_log_fn, "w-10", NULL, NULL, 0),
                         BROOK_OK);
        return BROOK_OK;
}

static void pipe_at(brook_test_driver_t *td, int64_t ts)
{
        char errstr[512];
        assert_int_equal(brook_test_driver_pipe(td, "in", "k", 1, "v", 1, ts,
                                                NULL, 0, errstr, sizeof errstr),
                         BROOK_OK);
}

static void test_punctuate_at_int64_max(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_processor_def_t def = {.init = punc_init, .process = pass};
        char errstr[512] = "";
        brook_test_driver_t *td;
        (void)state;

        assert_int_equal(brook_builder_add_source(
                                 b, "src", (const char *[]){"in"}, 1, NULL,
                                 &(brook_consumed_t){
                                         .key_serde = brook_serde_string(),
                                         .value_serde = brook_serde_string()},
                                 errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_builder_add_processor(b, "p", &def,
                                                     (const char *[]){"src"}, 1,
                                                     errstr, sizeof errstr),
                         BROOK_OK);
        /* The wall clock starts 100 ms before the end of time: "w-max" is
         * due at INT64_MAX (saturated), "w-10" at INT64_MAX - 90. */
        td = brook_test_driver_new(b, NULL, INT64_MAX - 100, errstr,
                                   sizeof errstr);
        if (!td)
                fail_msg("%s", errstr);

        punc_log[0] = '\0';
        /* Stream time is aligned to 0: both fire on the first record. */
        pipe_at(td, 0);
        assert_string_equal(punc_log, "s-max@0;s-10@0;");
        /* "s-10" is due again at 10; after INT64_MAX - 5 its next multiple
         * of 10 is past INT64_MAX, so it never fires again. "s-max" is due
         * at INT64_MAX exactly. */
        punc_log[0] = '\0';
        pipe_at(td, INT64_MAX - 5);
        assert_string_equal(punc_log, "s-10@MAX-5;");
        punc_log[0] = '\0';
        pipe_at(td, INT64_MAX);
        assert_string_equal(punc_log, "s-max@MAX-0;");
        punc_log[0] = '\0';
        pipe_at(td, INT64_MAX);
        assert_string_equal(punc_log, "");

        /* "w-10" fires at INT64_MAX - 50 and is due again at - 40. */
        punc_log[0] = '\0';
        assert_int_equal(brook_test_driver_advance_wall_clock(td, 50, errstr,
                                                              sizeof errstr),
                         BROOK_OK);
        assert_string_equal(punc_log, "w-10@MAX-50;");
        /* Both are due by INT64_MAX; neither has a next due time after. */
        punc_log[0] = '\0';
        assert_int_equal(brook_test_driver_advance_wall_clock(td, 50, errstr,
                                                              sizeof errstr),
                         BROOK_OK);
        assert_string_equal(punc_log, "w-max@MAX-0;w-10@MAX-0;");
        punc_log[0] = '\0';
        /* The mocked clock saturates too, and nothing fires twice. */
        assert_int_equal(brook_test_driver_advance_wall_clock(
                                 td, INT64_MAX, errstr, sizeof errstr),
                         BROOK_OK);
        assert_string_equal(punc_log, "");
        brook_test_driver_destroy(td);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names_from_options),
                cmocka_unit_test(test_names_conflict),
                cmocka_unit_test(test_version_zero_and_current),
                cmocka_unit_test(test_version_unknown_processor_api),
                cmocka_unit_test(test_version_unknown_dsl),
                cmocka_unit_test(test_punctuate_at_int64_max),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
