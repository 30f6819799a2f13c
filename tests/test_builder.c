/*
 * The Processor API's builder calls and the options structs they take:
 * node names given in the options (brook_consumed_t.name,
 * brook_produced_t.name) name the node, and every struct a program fills
 * in is refused, with a message naming it, when its version is one this
 * brook does not know (see "Structs that grow" in brook.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "brook/brook.h"

static brook_err_t pass(brook_ctx_t *ctx, brook_record_t *rec, void *state)
{
        (void)state;
        return brook_ctx_forward(ctx, rec);
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
        text = brook_topology_describe(b, BROOK_DESCRIBE_TEXT);
        assert_string_equal(text, "Topologies:\n"
                                  "   Sub-topology: 0\n"
                                  "    Source: reader (topics: [in])\n"
                                  "      --> p\n"
                                  "    Processor: p (stores: [])\n"
                                  "      --> writer, copy\n"
                                  "      <-- reader\n"
                                  "    Sink: writer (topic: out)\n"
                                  "      <-- p\n"
                                  "    Sink: copy (topic: out2)\n"
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

/* The message brook gives for version @p v of @p strct. */
static const char *unknown_version(const char *strct, int v)
{
        static char msg[512];
        snprintf(msg, sizeof msg,
                 "%s.version is %d, but this brook (%s) reads versions 1 to "
                 "1 of it (0 means 1): build against the headers of the brook "
                 "you run with",
                 strct, v, BROOK_VERSION_STR);
        return msg;
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
                                 &(brook_consumed_t){.version = 2}, errstr,
                                 sizeof errstr),
                         BROOK_ERR_INVALID_ARG);
        snprintf(want, sizeof want, "source \"src\": %s",
                 unknown_version("brook_consumed_t", 2));
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
        assert_null(brook_stream(b, "in", &(brook_consumed_t){.version = 2}));
        snprintf(want, sizeof want, "source \"KSTREAM-SOURCE-0000000000\": %s",
                 unknown_version("brook_consumed_t", 2));
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
                &(brook_materialized_t){.name = "counts", .version = 2}));
        snprintf(want, sizeof want, "store \"counts\": %s",
                 unknown_version("brook_materialized_t", 2));
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

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names_from_options),
                cmocka_unit_test(test_names_conflict),
                cmocka_unit_test(test_version_zero_and_current),
                cmocka_unit_test(test_version_unknown_processor_api),
                cmocka_unit_test(test_version_unknown_dsl),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
