/*
 * Tests of the stateless DSL (operators/stream.c, stateless.c, split.c)
 * through the test driver: exact outputs (keys, values, timestamps,
 * headers, order), generated names, describe, error handlers and
 * punctuation.
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
#include "dsl_int.h"

/* ---------------------------------------------------------------- helpers */

static brook_conf_t *conf_new(const char *proc_handler)
{
        brook_conf_t *conf = brook_conf_new();
        char err[512];

        assert_int_equal(brook_conf_set(conf, "default.key.serde", "string",
                                        err, sizeof err),
                         BROOK_OK);
        assert_int_equal(brook_conf_set(conf, "default.value.serde", "string",
                                        err, sizeof err),
                         BROOK_OK);
        if (proc_handler)
                assert_int_equal(
                        brook_conf_set(conf,
                                       "default.processing.exception.handler",
                                       proc_handler, err, sizeof err),
                        BROOK_OK);
        return conf;
}

/* A driver over @p b with string default serdes (or @p conf). */
static brook_test_driver_t *td_new(brook_builder_t *b, brook_conf_t *conf)
{
        char err[512] = "";
        brook_test_driver_t *td;

        if (!conf)
                conf = conf_new(NULL);
        td = brook_test_driver_new(b, conf, 1000, err, sizeof err);
        if (!td)
                fail_msg("brook_test_driver_new: %s", err);
        return td;
}

static brook_err_t pipe_h(brook_test_driver_t *td, const char *topic,
                          const char *key, const char *value, int64_t ts,
                          const brook_header_t *hdrs, size_t hdr_cnt, char *err,
                          size_t err_size)
{
        return brook_test_driver_pipe(td, topic, key, key ? strlen(key) : 0,
                                      value, value ? strlen(value) : 0, ts,
                                      hdrs, hdr_cnt, err, err_size);
}

static void pipe_ok(brook_test_driver_t *td, const char *topic, const char *key,
                    const char *value, int64_t ts)
{
        char err[512] = "";

        if (pipe_h(td, topic, key, value, ts, NULL, 0, err, sizeof err))
                fail_msg("pipe to %s failed: %s", topic, err);
}

static void expect_bytes(const void *p, size_t size, const char *s)
{
        if (!s) {
                assert_null(p);
                assert_int_equal(size, 0);
                return;
        }
        assert_non_null(p);
        assert_int_equal(size, strlen(s));
        assert_memory_equal(p, s, size);
}

/* Reads the next record of @p topic and checks all of it but headers. */
static void expect_rec_r(brook_test_driver_t *td, const char *topic,
                         const char *key, const char *value, int64_t ts,
                         brook_test_record_t *out)
{
        brook_test_record_t r;

        if (!brook_test_driver_read(td, topic, &r))
                fail_msg("no record on %s (expected %s=%s)", topic,
                         key ? key : "null", value ? value : "null");
        assert_string_equal(r.topic, topic);
        assert_int_equal(r.partition, 0);
        expect_bytes(r.key, r.key_size, key);
        expect_bytes(r.value, r.value_size, value);
        assert_int_equal(r.timestamp, ts);
        if (out)
                *out = r;
}

static void expect_rec(brook_test_driver_t *td, const char *topic,
                       const char *key, const char *value, int64_t ts)
{
        expect_rec_r(td, topic, key, value, ts, NULL);
}

static void expect_none(brook_test_driver_t *td, const char *topic)
{
        assert_int_equal(brook_test_driver_unread(td, topic), 0);
}

static char *arena_printf(const brook_record_t *rec, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static char *arena_printf(const brook_record_t *rec, const char *fmt, ...)
{
        va_list ap;
        int n;
        char *s;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        s = brook_record_alloc(rec, (size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
        return s;
}

static const char *str_or(const void *p, const char *dflt)
{
        return p ? (const char *)p : dflt;
}

/* ------------------------------------------------------- user functions */

static bool value_starts_with_a(const brook_record_t *rec, void *opaque)
{
        const char *v = brook_record_value(rec);
        (void)opaque;
        return v && v[0] == 'a';
}

static bool value_starts_with(const brook_record_t *rec, void *opaque)
{
        const char *v = brook_record_value(rec);
        return v && v[0] == *(const char *)opaque;
}

static void swap_upper(const brook_record_t *rec, void **keyp, void **valuep,
                       void *opaque)
{
        const char *k = *keyp;
        char *nv;
        size_t i;
        (void)opaque;

        *keyp = *valuep;
        if (!k) {
                *valuep = NULL;
                return;
        }
        nv = arena_printf(rec, "%s", k);
        for (i = 0; nv[i]; i++)
                if (nv[i] >= 'a' && nv[i] <= 'z')
                        nv[i] = (char)(nv[i] - 'a' + 'A');
        *valuep = nv;
}

static void *value_len(const brook_record_t *rec, void *opaque)
{
        const char *v = brook_record_value(rec);
        (void)opaque;
        if (!v)
                return NULL;
        return arena_printf(rec, "%s:%zu", v, strlen(v));
}

/* Emits as many records as the value's number says. */
static void emit_n(const brook_record_t *rec, brook_emitter_t *out,
                   void *opaque)
{
        int n = atoi(brook_record_value(rec)), i;
        (void)opaque;

        for (i = 0; i < n; i++)
                brook_emit(out,
                           arena_printf(rec, "%s-%d",
                                        str_or(brook_record_key(rec), "null"),
                                        i),
                           arena_printf(rec, "v%d", i));
}

static void *first_char_key(const brook_record_t *rec, void *opaque)
{
        const char *v = brook_record_value(rec);
        (void)opaque;
        if (!v || !*v || *v == '-')
                return NULL;
        return arena_printf(rec, "%c", *v);
}

typedef struct seen {
        int cnt;
        char log[512];
} seen_t;

static void record_seen(const brook_record_t *rec, void *opaque)
{
        seen_t *seen = opaque;
        size_t len = strlen(seen->log);

        seen->cnt++;
        snprintf(seen->log + len, sizeof seen->log - len, "%s%s=%s@%lld",
                 len ? "," : "", str_or(brook_record_key(rec), "null"),
                 str_or(brook_record_value(rec), "null"),
                 (long long)brook_record_timestamp(rec));
}

/* -------------------------------------------------------------- filter */

static void test_filter(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream(b, "in", NULL);
        brook_test_driver_t *td;
        (void)state;

        brook_stream_to(brook_stream_filter(in, value_starts_with_a, NULL),
                        "yes", NULL);
        brook_stream_to(brook_stream_filter_not(in, value_starts_with_a, NULL),
                        "no", NULL);
        td = td_new(b, NULL);

        pipe_ok(td, "in", "k1", "apple", 10);
        pipe_ok(td, "in", "k2", "banana", 20);
        pipe_ok(td, "in", NULL, "avocado", 5);
        pipe_ok(td, "in", "k4", NULL, 30);
        pipe_ok(td, "in", "k5", "almond", 40);

        expect_rec(td, "yes", "k1", "apple", 10);
        expect_rec(td, "yes", NULL, "avocado", 5);
        expect_rec(td, "yes", "k5", "almond", 40);
        expect_none(td, "yes");
        expect_rec(td, "no", "k2", "banana", 20);
        expect_rec(td, "no", "k4", NULL, 30);
        expect_none(td, "no");
        brook_test_driver_destroy(td);
}

/* ----------------------------------------------------------------- map */

static void test_map(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream(b, "in", NULL);
        brook_test_driver_t *td;
        (void)state;

        brook_stream_to(brook_stream_map(in, swap_upper, NULL), "out", NULL);
        /* A sibling of the map sees the input unchanged. */
        brook_stream_to(in, "copy", NULL);
        td = td_new(b, NULL);

        pipe_ok(td, "in", "key1", "value1", 100);
        pipe_ok(td, "in", NULL, "v", 200);
        pipe_ok(td, "in", "k", NULL, 300);

        expect_rec(td, "out", "value1", "KEY1", 100);
        expect_rec(td, "out", "v", NULL, 200);
        expect_rec(td, "out", NULL, "K", 300);
        expect_none(td, "out");
        expect_rec(td, "copy", "key1", "value1", 100);
        expect_rec(td, "copy", NULL, "v", 200);
        expect_rec(td, "copy", "k", NULL, 300);
        brook_test_driver_destroy(td);
}

static void test_map_values(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream(b, "in", NULL);
        brook_test_driver_t *td;
        (void)state;

        brook_stream_to(brook_stream_map_values(in, value_len, NULL), "out",
                        NULL);
        td = td_new(b, NULL);

        pipe_ok(td, "in", "a", "hello", 7);
        pipe_ok(td, "in", NULL, "xy", 8);
        pipe_ok(td, "in", "c", NULL, 9);
        expect_rec(td, "out", "a", "hello:5", 7);
        expect_rec(td, "out", NULL, "xy:2", 8);
        expect_rec(td, "out", "c", NULL, 9);
        expect_none(td, "out");
        brook_test_driver_destroy(td);
}

/* ------------------------------------------------------------- headers */

static void expect_headers(const brook_test_record_t *r,
                           const brook_header_t *want, size_t cnt)
{
        size_t i;

        assert_int_equal(r->header_cnt, cnt);
        for (i = 0; i < cnt; i++) {
                assert_string_equal(r->headers[i].name, want[i].name);
                if (!want[i].value) {
                        assert_null(r->headers[i].value);
                        continue;
                }
                assert_int_equal(r->headers[i].size, want[i].size);
                assert_memory_equal(r->headers[i].value, want[i].value,
                                    want[i].size);
        }
}

static void test_headers_pass_through(void **state)
{
        static const brook_header_t hdrs[] = {
                {"trace", "t-1", 3},
                {"empty", NULL, 0},
                {"trace", "t-2", 3},
        };
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream(b, "in", NULL);
        brook_stream_t *s;
        brook_test_driver_t *td;
        brook_test_record_t r;
        char err[512] = "";
        (void)state;

        s = brook_stream_filter(in, value_starts_with_a, NULL);
        s = brook_stream_map_values(s, value_len, NULL);
        brook_stream_to(s, "mapped", NULL);
        brook_stream_to(brook_stream_flat_map(in, emit_n, NULL), "flat", NULL);
        brook_stream_to(brook_stream_map(in, swap_upper, NULL), "swapped",
                        NULL);
        td = td_new(b, NULL);

        /* "2" fails the filter; "a..." fails atoi (0 records). */
        assert_int_equal(
                pipe_h(td, "in", "k", "abc", 50, hdrs, 3, err, sizeof err),
                BROOK_OK);
        assert_int_equal(
                pipe_h(td, "in", "k", "2", 60, hdrs, 3, err, sizeof err),
                BROOK_OK);

        expect_rec_r(td, "mapped", "k", "abc:3", 50, &r);
        expect_headers(&r, hdrs, 3);
        expect_none(td, "mapped");
        expect_rec_r(td, "flat", "k-0", "v0", 60, &r);
        expect_headers(&r, hdrs, 3);
        expect_rec_r(td, "flat", "k-1", "v1", 60, &r);
        expect_headers(&r, hdrs, 3);
        expect_none(td, "flat");
        expect_rec_r(td, "swapped", "abc", "K", 50, &r);
        expect_headers(&r, hdrs, 3);
        expect_rec_r(td, "swapped", "2", "K", 60, &r);
        expect_headers(&r, hdrs, 3);
        /* A record without headers comes out without any. */
        pipe_ok(td, "in", "k", "2", 70);
        expect_rec_r(td, "flat", "k-0", "v0", 70, &r);
        assert_int_equal(r.header_cnt, 0);
        brook_test_driver_destroy(td);
}

/* ------------------------------------------------------------ flat map */

static void test_flat_map(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream(b, "in", NULL);
        brook_test_driver_t *td;
        (void)state;

        brook_stream_to(brook_stream_flat_map(in, emit_n, NULL), "out", NULL);
        td = td_new(b, NULL);

        pipe_ok(td, "in", "z", "0", 1);
        expect_none(td, "out");
        pipe_ok(td, "in", "one", "1", 2);
        expect_rec(td, "out", "one-0", "v0", 2);
        expect_none(td, "out");
        pipe_ok(td, "in", "three", "3", 3);
        pipe_ok(td, "in", NULL, "1", 4);
        expect_rec(td, "out", "three-0", "v0", 3);
        expect_rec(td, "out", "three-1", "v1", 3);
        expect_rec(td, "out", "three-2", "v2", 3);
        expect_rec(td, "out", "null-0", "v0", 4);
        expect_none(td, "out");
        brook_test_driver_destroy(td);
}

static void test_flat_map_values(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream(b, "in", NULL);
        brook_test_driver_t *td;
        (void)state;

        /* emit_n gives keys, which flat_map_values ignores. */
        brook_stream_to(brook_stream_flat_map_values(in, emit_n, NULL), "out",
                        NULL);
        td = td_new(b, NULL);

        pipe_ok(td, "in", "k", "0", 1);
        pipe_ok(td, "in", "k", "3", 2);
        pipe_ok(td, "in", NULL, "1", 3);
        expect_rec(td, "out", "k", "v0", 2);
        expect_rec(td, "out", "k", "v1", 2);
        expect_rec(td, "out", "k", "v2", 2);
        expect_rec(td, "out", NULL, "v0", 3);
        expect_none(td, "out");
        brook_test_driver_destroy(td);
}

/* ---------------------------------------------------------- peek, foreach */

static void test_peek_foreach(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream(b, "in", NULL);
        seen_t peeked = {0}, each = {0};
        brook_test_driver_t *td;
        (void)state;

        brook_stream_to(brook_stream_peek(in, record_seen, &peeked), "out",
                        NULL);
        brook_stream_foreach(brook_stream_map_values(in, value_len, NULL),
                             record_seen, &each);
        td = td_new(b, NULL);

        pipe_ok(td, "in", "a", "x", 1);
        pipe_ok(td, "in", NULL, NULL, 2);
        expect_rec(td, "out", "a", "x", 1);
        expect_rec(td, "out", NULL, NULL, 2);
        expect_none(td, "out");
        assert_int_equal(peeked.cnt, 2);
        assert_string_equal(peeked.log, "a=x@1,null=null@2");
        assert_int_equal(each.cnt, 2);
        assert_string_equal(each.log, "a=x:1@1,null=null@2");
        brook_test_driver_destroy(td);
}

/* ------------------------------------------------- select key, repartition */

static void test_select_key_repartition(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream(b, "in", NULL);
        brook_stream_t *s;
        brook_test_driver_t *td;
        seen_t seen = {0};
        (void)state;

        s = brook_stream_select_key(in, first_char_key, NULL);
        assert_true(s->key_changed);
        s = brook_stream_repartition(s,
                                     &(brook_repartitioned_t){.name = "by-c"});
        assert_non_null(s);
        assert_false(s->key_changed);
        assert_string_equal(s->node, "by-c-repartition-source");
        assert_non_null(brook__builder_node(b, "by-c-repartition-filter"));
        assert_non_null(brook__builder_node(b, "by-c-repartition-sink"));
        s = brook_stream_peek(s, record_seen, &seen);
        brook_stream_to(s, "out", NULL);
        td = td_new(b, NULL);

        pipe_ok(td, "in", "k1", "apple", 10);
        pipe_ok(td, "in", "k2", "-dropped", 11);
        pipe_ok(td, "in", NULL, "banana", 12);
        pipe_ok(td, "in", "k4", NULL, 13);

        /* The internal topic holds the re-keyed records, null keys gone. */
        expect_rec(td, "test-driver-by-c-repartition", "a", "apple", 10);
        expect_rec(td, "test-driver-by-c-repartition", "b", "banana", 12);
        expect_none(td, "test-driver-by-c-repartition");
        expect_rec(td, "out", "a", "apple", 10);
        expect_rec(td, "out", "b", "banana", 12);
        expect_none(td, "out");
        /* What came out went through the second sub-topology. */
        assert_string_equal(seen.log, "a=apple@10,b=banana@12");
        brook_test_driver_destroy(td);
}

static int32_t part_calls;
static int32_t part_cnt_seen;
static char part_topic_seen[128];
static char part_key_seen[64];

static int32_t count_partitioner(const char *topic, const void *key,
                                 size_t key_size, const brook_record_t *rec,
                                 int32_t partition_cnt, void *opaque)
{
        (void)rec;
        part_calls++;
        part_cnt_seen = partition_cnt;
        snprintf(part_topic_seen, sizeof part_topic_seen, "%s", topic);
        snprintf(part_key_seen, sizeof part_key_seen, "%.*s", (int)key_size,
                 key ? (const char *)key : "");
        return *(int32_t *)opaque;
}

static void test_repartition_generated_names(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream(b, "in", NULL);
        brook_stream_t *s;
        brook_test_driver_t *td;
        int32_t part = 0;
        brook__node_t *node;
        (void)state;

        part_calls = 0;
        s = brook_stream_repartition(
                in, &(brook_repartitioned_t){.num_partitions = 4,
                                             .partitioner = count_partitioner,
                                             .partitioner_opaque = &part});
        /* As Kafka Streams: the name takes 1, the hidden sink, filter and
         * source names 2, 3, 4 and are used as generated. */
        assert_string_equal(s->node, "KSTREAM-SOURCE-0000000004");
        node = brook__builder_node(b, "KSTREAM-SINK-0000000002");
        assert_non_null(node);
        assert_true(node->sink_internal);
        assert_int_equal(node->repartition_num_partitions, 4);
        assert_string_equal(node->topic,
                            "KSTREAM-REPARTITION-0000000001-repartition");
        assert_non_null(brook__builder_node(b, "KSTREAM-FILTER-0000000003"));
        node = brook__builder_node(b, "KSTREAM-SOURCE-0000000004");
        assert_true(node->internal);
        brook_stream_to(brook_stream_filter(s, value_starts_with_a, NULL),
                        "out", NULL);
        assert_non_null(brook__builder_node(b, "KSTREAM-FILTER-0000000005"));
        assert_non_null(brook__builder_node(b, "KSTREAM-SINK-0000000006"));
        td = td_new(b, NULL);

        pipe_ok(td, "in", "key", "abc", 3);
        expect_rec(td, "test-driver-KSTREAM-REPARTITION-0000000001-repartition",
                   "key", "abc", 3);
        expect_rec(td, "out", "key", "abc", 3);
        assert_int_equal(part_calls, 1);
        /* The driver's topics have one partition. */
        assert_int_equal(part_cnt_seen, 1);
        assert_string_equal(
                part_topic_seen,
                "test-driver-KSTREAM-REPARTITION-0000000001-repartition");
        assert_string_equal(part_key_seen, "key");
        brook_test_driver_destroy(td);
}

static void test_sink_partitioner(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream(b, "in", NULL);
        brook_test_driver_t *td;
        int32_t part = 0;
        char err[512] = "";
        (void)state;

        part_calls = 0;
        brook_stream_to(in, "out",
                        &(brook_produced_t){.partitioner = count_partitioner,
                                            .partitioner_opaque = &part});
        td = td_new(b, conf_new(NULL));
        pipe_ok(td, "in", "pk", "v", 1);
        expect_rec(td, "out", "pk", "v", 1);
        assert_int_equal(part_calls, 1);
        assert_int_equal(part_cnt_seen, 1);
        assert_string_equal(part_topic_seen, "out");
        assert_string_equal(part_key_seen, "pk");
        /* A partition past the count fails the record. */
        part = 1;
        assert_int_not_equal(
                pipe_h(td, "in", "pk", "w", 2, NULL, 0, err, sizeof err),
                BROOK_OK);
        assert_non_null(strstr(err, "partitioner chose partition 1"));
        brook_test_driver_destroy(td);
}

/* --------------------------------------------------------------- split */

static void test_split(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream(b, "in", NULL);
        brook_split_t *sp;
        brook_stream_t *ba, *bb, *bc, *dflt;
        brook_test_driver_t *td;
        (void)state;

        sp = brook_stream_split(in, "sp-");
        ba = brook_split_branch(sp, value_starts_with, "a", "a");
        bb = brook_split_branch(sp, value_starts_with, "b", NULL);
        /* Overlaps "a": the first matching branch wins. */
        bc = brook_split_branch(sp, value_starts_with, "a", "c");
        dflt = brook_split_default(sp, NULL);
        assert_string_equal(ba->node, "sp-a");
        assert_string_equal(bb->node, "sp-2");
        assert_string_equal(bc->node, "sp-c");
        assert_string_equal(dflt->node, "sp-0");
        brook_stream_to(ba, "A", NULL);
        brook_stream_to(bb, "B", NULL);
        brook_stream_to(bc, "C", NULL);
        brook_stream_to(dflt, "D", NULL);
        td = td_new(b, NULL);

        pipe_ok(td, "in", "1", "apple", 1);
        pipe_ok(td, "in", "2", "berry", 2);
        pipe_ok(td, "in", "3", "cherry", 3);
        pipe_ok(td, "in", NULL, NULL, 4);
        pipe_ok(td, "in", "5", "banana", 5);

        expect_rec(td, "A", "1", "apple", 1);
        expect_none(td, "A");
        expect_rec(td, "B", "2", "berry", 2);
        expect_rec(td, "B", "5", "banana", 5);
        expect_none(td, "B");
        expect_none(td, "C");
        expect_rec(td, "D", "3", "cherry", 3);
        expect_rec(td, "D", NULL, NULL, 4);
        expect_none(td, "D");
        brook_test_driver_destroy(td);
}

static void test_split_generated_names(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream(b, "in", NULL);
        brook_split_t *sp;
        brook_stream_t *b1, *b2, *b0, *named;
        brook_test_driver_t *td;
        (void)state;

        sp = brook_stream_split(in, NULL);
        b1 = brook_split_branch(sp, value_starts_with, "a", NULL);
        b2 = brook_split_branch(sp, value_starts_with, "b", NULL);
        b0 = brook_split_default(sp, NULL);
        /* As BranchedKStreamImpl: the split's name directly followed by
         * the number, and each branch draws a number of its own. */
        assert_non_null(brook__builder_node(b, "KSTREAM-BRANCH-0000000001"));
        assert_string_equal(b1->node, "KSTREAM-BRANCH-00000000011");
        assert_string_equal(b2->node, "KSTREAM-BRANCH-00000000012");
        assert_string_equal(b0->node, "KSTREAM-BRANCH-00000000010");
        /* A branch renamed later still receives its records. */
        named = brook_stream_as(b2, "bees");
        assert_ptr_equal(named, b2);
        brook_stream_to(b1, "A", NULL);
        brook_stream_to(named, "B", NULL);
        brook_stream_to(b0, "D", NULL);
        assert_non_null(brook__builder_node(b, "KSTREAM-SINK-0000000005"));
        /* No default branch twice, no branch after the default. */
        assert_null(brook_split_default(sp, NULL));
        assert_string_equal(brook_builder_error(b),
                            "brook_split_default: split "
                            "\"KSTREAM-BRANCH-0000000001\" already has a "
                            "default branch");
        brook_builder_destroy(b);

        b = brook_builder_new();
        sp = brook_stream_split(brook_stream(b, "in", NULL), NULL);
        assert_non_null(brook_split_default(sp, "rest"));
        assert_null(brook_split_branch(sp, value_starts_with, "a", NULL));
        assert_string_equal(brook_builder_error(b),
                            "brook_split_branch: split "
                            "\"KSTREAM-BRANCH-0000000001\" already has its "
                            "default branch, which comes last");
        brook_builder_destroy(b);

        b = brook_builder_new();
        in = brook_stream(b, "in", NULL);
        sp = brook_stream_split(in, NULL);
        b1 = brook_split_branch(sp, value_starts_with, "a", NULL);
        b2 = brook_split_branch(sp, value_starts_with, "b", NULL);
        brook_stream_to(b1, "A", NULL);
        brook_stream_to(brook_stream_as(b2, "bees"), "B", NULL);
        td = td_new(b, NULL);
        pipe_ok(td, "in", "k", "bumble", 1);
        pipe_ok(td, "in", "k", "ant", 2);
        pipe_ok(td, "in", "k", "cat", 3);
        expect_rec(td, "B", "k", "bumble", 1);
        expect_none(td, "B");
        expect_rec(td, "A", "k", "ant", 2);
        expect_none(td, "A");
        brook_test_driver_destroy(td);
}

/* --------------------------------------------------------------- merge */

static void test_merge(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_consumed_t strings = {.key_serde = brook_serde_string(),
                                    .value_serde = brook_serde_string()};
        brook_stream_t *x = brook_stream(b, "x", &strings);
        brook_stream_t *y = brook_stream(b, "y", &strings);
        brook_stream_t *z = brook_stream(
                b, "z",
                &(brook_consumed_t){.key_serde = brook_serde_string(),
                                    .value_serde = brook_serde_bytes()});
        brook_stream_t *m, *m2;
        brook_test_driver_t *td;
        (void)state;

        m = brook_stream_merge(x, y);
        assert_string_equal(m->node, "KSTREAM-MERGE-0000000003");
        assert_ptr_equal(m->key_serde, brook_serde_string());
        assert_ptr_equal(m->value_serde, brook_serde_string());
        assert_false(m->key_changed);
        m2 = brook_stream_merge(
                brook_stream_select_key(z, first_char_key, NULL), x);
        assert_null(m2->key_serde);
        assert_null(m2->value_serde);
        assert_true(m2->key_changed);
        brook_stream_to(m, "out", NULL);
        td = td_new(b, NULL);

        pipe_ok(td, "x", "kx1", "from-x", 5);
        pipe_ok(td, "y", "ky1", "from-y", 3);
        pipe_ok(td, "x", NULL, "again-x", 7);
        expect_rec(td, "out", "kx1", "from-x", 5);
        expect_rec(td, "out", "ky1", "from-y", 3);
        expect_rec(td, "out", NULL, "again-x", 7);
        expect_none(td, "out");
        brook_test_driver_destroy(td);
}

/* ------------------------------------------------------------- chooser */

static const char *topic_by_key(const brook_record_t *rec, void *opaque)
{
        const char *k = brook_record_key(rec);
        (void)opaque;
        if (!k)
                return NULL;
        return k[0] == 'e' ? "eu-out" : "us-out";
}

static void test_to_chooser(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream(b, "in", NULL);
        brook_test_driver_t *td;
        char err[512] = "";
        (void)state;

        brook_stream_to_chooser(in, topic_by_key, NULL, NULL);
        td = td_new(b, NULL);

        pipe_ok(td, "in", "eu-1", "a", 1);
        pipe_ok(td, "in", "us-1", "b", 2);
        pipe_ok(td, "in", "eu-2", "c", 3);
        expect_rec(td, "eu-out", "eu-1", "a", 1);
        expect_rec(td, "eu-out", "eu-2", "c", 3);
        expect_none(td, "eu-out");
        expect_rec(td, "us-out", "us-1", "b", 2);
        expect_none(td, "us-out");
        /* No topic chosen: a processing error (fail handler). */
        assert_int_equal(
                pipe_h(td, "in", NULL, "d", 4, NULL, 0, err, sizeof err),
                BROOK_ERR_FATAL);
        assert_non_null(strstr(err, "the topic chooser returned no topic"));
        brook_test_driver_destroy(td);
}

/* ------------------------------------------------------------- pattern */

static void test_pattern(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream_pattern(b, "orders-[a-z]+", NULL);
        brook_test_driver_t *td;
        char err[512] = "";
        (void)state;

        brook_stream_to(in, "out", NULL);
        td = td_new(b, NULL);

        pipe_ok(td, "orders-eu", "1", "x", 1);
        pipe_ok(td, "orders-us", "2", "y", 2);
        assert_int_equal(
                pipe_h(td, "orders-42", "3", "z", 3, NULL, 0, err, sizeof err),
                BROOK_ERR_NOT_FOUND);
        assert_int_equal(
                pipe_h(td, "xorders-eu", "3", "z", 3, NULL, 0, err, sizeof err),
                BROOK_ERR_NOT_FOUND);

        expect_rec(td, "out", "1", "x", 1);
        expect_rec(td, "out", "2", "y", 2);
        expect_none(td, "out");
        brook_test_driver_destroy(td);
}

static void test_stream_topics(void **state)
{
        static const char *const topics[] = {"t1", "t2"};
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream_topics(b, topics, 2, NULL);
        brook_test_driver_t *td;
        char err[512] = "";
        (void)state;

        brook_stream_to(in, "out", NULL);
        td = td_new(b, NULL);
        pipe_ok(td, "t2", "a", "1", 1);
        pipe_ok(td, "t1", "b", "2", 2);
        assert_int_equal(
                pipe_h(td, "t3", "c", "3", 3, NULL, 0, err, sizeof err),
                BROOK_ERR_NOT_FOUND);
        expect_rec(td, "out", "a", "1", 1);
        expect_rec(td, "out", "b", "2", 2);
        expect_none(td, "out");
        brook_test_driver_destroy(td);
}

/* ----------------------------------------------------------- process() */

static brook_err_t router_process(brook_ctx_t *ctx, brook_record_t *rec,
                                  void *state, char *errstr, size_t errstr_size)
{
        const char *v = brook_record_value(rec);
        brook_record_t *out;
        (void)state;

        /* A missing child is an error the processor sees and may ignore. */
        if (v && !strcmp(v, "nowhere"))
                return brook_ctx_forward_to(ctx, rec, "no-such-child", errstr,
                                            errstr_size) == BROOK_ERR_NOT_FOUND
                               ? BROOK_OK
                               : BROOK_ERR_PROCESSING;
        out = brook_ctx_record_new(ctx, rec, brook_record_key(rec),
                                   arena_printf(rec, "%s via %s",
                                                str_or(v, "null"),
                                                brook_ctx_node_name(ctx)),
                                   brook_record_timestamp(rec) + 1);
        return brook_ctx_forward_to(
                ctx, out, v && strlen(v) % 2 ? "odd-sink" : "even-sink", errstr,
                errstr_size);
}

static int router_destroyed;

static void router_opaque_destroy(void *opaque)
{
        (void)opaque;
        router_destroyed++;
}

static void test_process_forward_to(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream(b, "in", NULL);
        brook_processor_def_t def = {.process = router_process,
                                     .opaque_destroy = router_opaque_destroy};
        brook_stream_t *r;
        brook_test_driver_t *td;
        (void)state;

        router_destroyed = 0;
        r = brook_stream_process(in, &def, "router");
        assert_string_equal(r->node, "router");
        assert_null(r->key_serde);
        assert_true(r->key_changed);
        brook_stream_to(r, "even", &(brook_produced_t){.name = "even-sink"});
        brook_stream_to(r, "odd", &(brook_produced_t){.name = "odd-sink"});
        td = td_new(b, NULL);

        pipe_ok(td, "in", "k1", "ab", 10);
        pipe_ok(td, "in", "k2", "abc", 20);
        pipe_ok(td, "in", "k3", "nowhere", 30);
        pipe_ok(td, "in", NULL, NULL, 40);
        expect_rec(td, "even", "k1", "ab via router", 11);
        expect_rec(td, "even", NULL, "null via router", 41);
        expect_none(td, "even");
        expect_rec(td, "odd", "k2", "abc via router", 21);
        expect_none(td, "odd");
        brook_test_driver_destroy(td);
        assert_int_equal(router_destroyed, 1);

        /* Unnamed, and the opaque is freed when the stream is NULL. */
        b = brook_builder_new();
        in = brook_stream(b, "in", NULL);
        r = brook_stream_process(in, &def, NULL);
        assert_string_equal(r->node, "KSTREAM-PROCESSOR-0000000001");
        assert_null(brook_stream_process(NULL, &def, NULL));
        assert_int_equal(router_destroyed, 2);
        brook_builder_destroy(b);
        assert_int_equal(router_destroyed, 3);
}

/* ------------------------------------------------------------- naming */

static void test_stream_as(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in, *f, *g;
        brook_test_driver_t *td;
        (void)state;

        in = brook_stream_as(brook_stream(b, "in", NULL), "orders");
        assert_non_null(in);
        assert_string_equal(in->node, "orders");
        f = brook_stream_filter(in, value_starts_with_a, NULL);
        assert_ptr_equal(brook_stream_as(f, "only-a"), f);
        /* Same name again: a no-op. */
        assert_ptr_equal(brook_stream_as(f, "only-a"), f);
        assert_non_null(brook__builder_node(b, "only-a"));
        assert_null(brook__builder_node(b, "KSTREAM-FILTER-0000000001"));
        brook_stream_to(f, "out", NULL);
        td = td_new(b, NULL);
        pipe_ok(td, "in", "k", "abc", 1);
        pipe_ok(td, "in", "k", "bcd", 2);
        expect_rec(td, "out", "k", "abc", 1);
        expect_none(td, "out");
        brook_test_driver_destroy(td);

        /* A name in use. */
        b = brook_builder_new();
        in = brook_stream(b, "in", NULL);
        f = brook_stream_as(brook_stream_filter(in, value_starts_with_a, NULL),
                            "x");
        g = brook_stream_filter(in, value_starts_with_a, NULL);
        assert_null(brook_stream_as(g, "x"));
        assert_string_equal(brook_builder_error(b),
                            "brook_stream_as: node name \"x\" is already used");
        (void)f;
        brook_builder_destroy(b);

        /* A node with children. */
        b = brook_builder_new();
        in = brook_stream(b, "in", NULL);
        brook_stream_to(in, "out", NULL);
        assert_null(brook_stream_as(in, "late"));
        assert_string_equal(brook_builder_error(b),
                            "brook_stream_as: node "
                            "\"KSTREAM-SOURCE-0000000000\" already has "
                            "children; name it before attaching operators");
        brook_builder_destroy(b);
}

/* ------------------------------------------------------- bad arguments */

#define EXPECT_FAIL(call, msg)                                                 \
        do {                                                                   \
                brook_builder_t *b_ = brook_builder_new();                     \
                brook_stream_t *in_ = brook_stream(b_, "in", NULL);            \
                (void)in_;                                                     \
                call;                                                          \
                assert_string_equal(brook_builder_error(b_), msg);             \
                brook_builder_destroy(b_);                                     \
        } while (0)

static void test_null_arguments(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream(b, "in", NULL);
        char err[512] = "";
        (void)state;

        assert_null(brook_stream_filter(in, NULL, NULL));
        assert_string_equal(brook_builder_error(b),
                            "brook_stream_filter: predicate is NULL");
        /* The first error stays. */
        assert_null(brook_stream_map(in, NULL, NULL));
        assert_string_equal(brook_builder_error(b),
                            "brook_stream_filter: predicate is NULL");
        /* NULL streams go through every call. */
        assert_null(brook_stream_filter(NULL, value_starts_with_a, NULL));
        assert_null(brook_stream_filter_not(NULL, value_starts_with_a, NULL));
        assert_null(brook_stream_map(NULL, swap_upper, NULL));
        assert_null(brook_stream_map_values(NULL, value_len, NULL));
        assert_null(brook_stream_flat_map(NULL, emit_n, NULL));
        assert_null(brook_stream_flat_map_values(NULL, emit_n, NULL));
        assert_null(brook_stream_select_key(NULL, first_char_key, NULL));
        assert_null(brook_stream_peek(NULL, record_seen, NULL));
        brook_stream_foreach(NULL, record_seen, NULL);
        assert_null(brook_stream_split(NULL, NULL));
        assert_null(brook_split_branch(NULL, value_starts_with_a, NULL, NULL));
        assert_null(brook_split_default(NULL, NULL));
        assert_null(brook_stream_merge(NULL, in));
        assert_null(brook_stream_merge(in, NULL));
        assert_null(brook_stream_repartition(NULL, NULL));
        assert_null(brook_stream_as(NULL, "x"));
        brook_stream_to(NULL, "out", NULL);
        brook_stream_to_chooser(NULL, topic_by_key, NULL, NULL);
        assert_null(brook_stream(NULL, "in", NULL));
        assert_null(brook_stream_pattern(NULL, "in", NULL));
        assert_null(brook_stream_topics(NULL, NULL, 0, NULL));
        /* A failed builder does not run. */
        assert_null(brook_test_driver_new(b, NULL, 0, err, sizeof err));
        assert_non_null(strstr(err, "brook_stream_filter: predicate is NULL"));
        assert_null(brook_topology_describe(b, BROOK_DESCRIBE_TEXT));
        brook_builder_destroy(b);

        EXPECT_FAIL(brook_stream_filter_not(in_, NULL, NULL),
                    "brook_stream_filter_not: predicate is NULL");
        EXPECT_FAIL(brook_stream_map(in_, NULL, NULL),
                    "brook_stream_map: mapper is NULL");
        EXPECT_FAIL(brook_stream_map_values(in_, NULL, NULL),
                    "brook_stream_map_values: mapper is NULL");
        EXPECT_FAIL(brook_stream_flat_map(in_, NULL, NULL),
                    "brook_stream_flat_map: mapper is NULL");
        EXPECT_FAIL(brook_stream_flat_map_values(in_, NULL, NULL),
                    "brook_stream_flat_map_values: mapper is NULL");
        EXPECT_FAIL(brook_stream_select_key(in_, NULL, NULL),
                    "brook_stream_select_key: key selector is NULL");
        EXPECT_FAIL(brook_stream_peek(in_, NULL, NULL),
                    "brook_stream_peek: action is NULL");
        EXPECT_FAIL(brook_stream_foreach(in_, NULL, NULL),
                    "brook_stream_foreach: action is NULL");
        EXPECT_FAIL(brook_split_branch(brook_stream_split(in_, NULL), NULL,
                                       NULL, NULL),
                    "brook_split_branch: predicate is NULL");
        EXPECT_FAIL(brook_stream_to(in_, NULL, NULL),
                    "brook_stream_to: topic is NULL");
        EXPECT_FAIL(brook_stream_to_chooser(in_, NULL, NULL, NULL),
                    "brook_stream_to_chooser: chooser is NULL");
        EXPECT_FAIL(
                brook_stream_repartition(
                        in_, &(brook_repartitioned_t){.num_partitions = -2}),
                "brook_stream_repartition: num_partitions is -2, must be "
                ">= 0 (0: inherit)");
        EXPECT_FAIL(brook_stream(b_, NULL, NULL),
                    "brook_stream: topic is NULL");
        /* The regex library's words follow; they vary by C library. */
        b = brook_builder_new();
        assert_null(brook_stream_pattern(b, "(", NULL));
        assert_non_null(brook_builder_error(b));
        assert_non_null(strstr(brook_builder_error(b),
                               "source \"KSTREAM-SOURCE-0000000000\": bad "
                               "topic pattern \"(\": "));
        brook_builder_destroy(b);
        EXPECT_FAIL(brook_stream_process(in_, NULL, NULL),
                    "brook_stream_process: def is NULL");
        EXPECT_FAIL(brook_stream_split(in_, "KSTREAM-SOURCE-0000000000"),
                    "processor: node name \"KSTREAM-SOURCE-0000000000\" is "
                    "already used");
}

/* A topic is read by one source, whether named or matched (Kafka Streams'
 * InternalTopologyBuilder refuses the same). */
static void test_pattern_overlap(void **state)
{
        brook_builder_t *b;
        (void)state;

        /* A named topic that an earlier pattern matches. */
        b = brook_builder_new();
        assert_non_null(brook_stream_pattern(b, "orders-[a-z]+", NULL));
        assert_null(brook_stream(b, "orders-eu", NULL));
        assert_string_equal(brook_builder_error(b),
                            "source \"KSTREAM-SOURCE-0000000001\": topic "
                            "\"orders-eu\" matches the pattern "
                            "\"orders-[a-z]+\" of source "
                            "\"KSTREAM-SOURCE-0000000000\", which reads it "
                            "already");
        brook_builder_destroy(b);

        /* A pattern that matches a named topic, a global table's too. */
        b = brook_builder_new();
        assert_non_null(brook_global_table(b, "orders-eu", NULL, NULL));
        assert_null(brook_stream_pattern(b, "orders-[a-z]+", NULL));
        assert_string_equal(brook_builder_error(b),
                            "source \"KSTREAM-SOURCE-0000000003\": pattern "
                            "\"orders-[a-z]+\" matches topic \"orders-eu\", "
                            "which source \"KSTREAM-SOURCE-0000000001\" "
                            "reads already");
        brook_builder_destroy(b);

        /* A global table whose topic an earlier pattern matches. */
        b = brook_builder_new();
        assert_non_null(brook_stream_pattern(b, "orders-.*", NULL));
        assert_null(brook_global_table(b, "orders-eu", NULL, NULL));
        assert_non_null(strstr(brook_builder_error(b),
                               "topic \"orders-eu\" matches the pattern "
                               "\"orders-.*\" of source "
                               "\"KSTREAM-SOURCE-0000000000\""));
        brook_builder_destroy(b);

        /* Whole names only: "orders-eu-2" is not "orders-[a-z]+". */
        b = brook_builder_new();
        assert_non_null(brook_stream(b, "orders-eu-2", NULL));
        assert_non_null(brook_stream_pattern(b, "orders-[a-z]+", NULL));
        assert_null(brook_builder_error(b));
        brook_builder_destroy(b);
}

/* ----------------------------------------------------------------- serdes */

static bool always(const brook_record_t *rec, void *opaque)
{
        (void)rec;
        (void)opaque;
        return true;
}

static void *long_to_string(const brook_record_t *rec, void *opaque)
{
        const int64_t *v = brook_record_value(rec);
        (void)opaque;
        return v ? arena_printf(rec, "n=%lld", (long long)*v) : NULL;
}

static void test_serdes_follow_the_stream(void **state)
{
        brook_builder_t *b = brook_builder_new();
        const brook_serde_t *str = brook_serde_string();
        const brook_serde_t *i64 = brook_serde_int64();
        brook_stream_t *in = brook_stream(
                b, "in",
                &(brook_consumed_t){.key_serde = str, .value_serde = i64});
        brook_stream_t *f, *mv, *sk, *m, *fm, *fmv, *pk, *r, *r2;
        brook_split_t *sp;
        brook__node_t *node;
        brook_test_driver_t *td;
        brook_test_typed_record_t rec;
        char err[512] = "";
        (void)state;

        assert_ptr_equal(in->key_serde, str);
        assert_ptr_equal(in->value_serde, i64);
        assert_false(in->key_changed);
        f = brook_stream_filter(in, always, NULL);
        assert_ptr_equal(f->key_serde, str);
        assert_ptr_equal(f->value_serde, i64);
        pk = brook_stream_peek(f, record_seen, &(seen_t){0});
        assert_ptr_equal(pk->key_serde, str);
        assert_ptr_equal(pk->value_serde, i64);
        sp = brook_stream_split(pk, NULL);
        r = brook_split_default(sp, NULL);
        assert_ptr_equal(r->key_serde, str);
        assert_ptr_equal(r->value_serde, i64);
        mv = brook_stream_map_values(in, long_to_string, NULL);
        assert_ptr_equal(mv->key_serde, str);
        assert_null(mv->value_serde);
        assert_false(mv->key_changed);
        fmv = brook_stream_flat_map_values(in, emit_n, NULL);
        assert_ptr_equal(fmv->key_serde, str);
        assert_null(fmv->value_serde);
        assert_false(fmv->key_changed);
        sk = brook_stream_select_key(in, first_char_key, NULL);
        assert_null(sk->key_serde);
        assert_ptr_equal(sk->value_serde, i64);
        assert_true(sk->key_changed);
        m = brook_stream_map(in, swap_upper, NULL);
        assert_null(m->key_serde);
        assert_null(m->value_serde);
        assert_true(m->key_changed);
        fm = brook_stream_flat_map(in, emit_n, NULL);
        assert_null(fm->key_serde);
        assert_null(fm->value_serde);
        assert_true(fm->key_changed);
        /* Changed keys stay changed downstream of stateless operators. */
        assert_true(brook_stream_filter(sk, always, NULL)->key_changed);
        assert_true(
                brook_stream_map_values(sk, long_to_string, NULL)->key_changed);

        r = brook_stream_repartition(
                sk, &(brook_repartitioned_t){.name = "r", .key_serde = str});
        assert_ptr_equal(r->key_serde, str);
        assert_ptr_equal(r->value_serde, i64);
        assert_false(r->key_changed);
        node = brook__builder_node(b, "r-repartition-sink");
        assert_ptr_equal(node->key_serde, str);
        assert_ptr_equal(node->value_serde, i64);
        node = brook__builder_node(b, "r-repartition-source");
        assert_ptr_equal(node->key_serde, str);
        assert_ptr_equal(node->value_serde, i64);
        r2 = brook_stream_repartition(
                f, &(brook_repartitioned_t){.name = "r2", .value_serde = str});
        assert_ptr_equal(r2->key_serde, str);
        assert_ptr_equal(r2->value_serde, str);

        /* to(): the stream's serdes unless the produced ones say else. */
        brook_stream_to(f, "out", &(brook_produced_t){.name = "f-sink"});
        node = brook__builder_node(b, "f-sink");
        assert_ptr_equal(node->key_serde, str);
        assert_ptr_equal(node->value_serde, i64);
        brook_stream_to(
                mv, "mv-out",
                &(brook_produced_t){.name = "mv-sink", .value_serde = str});
        node = brook__builder_node(b, "mv-sink");
        assert_ptr_equal(node->key_serde, str);
        assert_ptr_equal(node->value_serde, str);

        /* No default serdes: everything must come from the streams. The
         * repartition sources are fed only by their sinks, left unused. */
        td = td_new(b, brook_conf_new());
        assert_int_equal(brook_test_input_pipe_at(
                                 brook_test_driver_input(td, "in", str, i64,
                                                         NULL, err, sizeof err),
                                 "k", &(int64_t){42}, 77, err, sizeof err),
                         BROOK_OK);
        assert_int_equal(brook_test_output_read(
                                 brook_test_driver_output(td, "out", str, i64),
                                 &rec, err, sizeof err),
                         BROOK_OK);
        assert_string_equal(rec.key, "k");
        assert_non_null(rec.value);
        assert_int_equal(*(int64_t *)rec.value, 42);
        assert_int_equal(rec.timestamp, 77);
        expect_rec(td, "mv-out", "k", "n=42", 77);
        brook_test_driver_destroy(td);

        /* A stream whose value serde is unknown cannot be written without
         * one. */
        b = brook_builder_new();
        in = brook_stream(
                b, "in",
                &(brook_consumed_t){.key_serde = str, .value_serde = i64});
        brook_stream_to(brook_stream_map_values(in, long_to_string, NULL),
                        "out", NULL);
        {
                brook_conf_t *conf = brook_conf_new();
                assert_null(brook_test_driver_new(b, conf, 0, err, sizeof err));
                assert_string_equal(
                        err, "sink \"KSTREAM-SINK-0000000002\" has no value "
                             "serde: set it in the brook_produced_t options "
                             "or set default.value.serde");
                brook_conf_destroy(conf);
        }
        brook_builder_destroy(b);
}

/* --------------------------------------------------------------- describe */

static void test_describe(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream(b, "in", NULL);
        char *text;
        (void)state;

        brook_stream_to(
                brook_stream_map_values(brook_stream_filter(in, always, NULL),
                                        value_len, NULL),
                "out", NULL);
        text = brook_topology_describe(b, BROOK_DESCRIBE_TEXT);
        assert_string_equal(
                text,
                "Topologies:\n"
                "   Sub-topology: 0\n"
                "    Source: KSTREAM-SOURCE-0000000000 (topics: [in])\n"
                "      --> KSTREAM-FILTER-0000000001\n"
                "    Processor: KSTREAM-FILTER-0000000001 (stores: [])\n"
                "      --> KSTREAM-MAPVALUES-0000000002\n"
                "      <-- KSTREAM-SOURCE-0000000000\n"
                "    Processor: KSTREAM-MAPVALUES-0000000002 (stores: [])\n"
                "      --> KSTREAM-SINK-0000000003\n"
                "      <-- KSTREAM-FILTER-0000000001\n"
                "    Sink: KSTREAM-SINK-0000000003 (topic: out)\n"
                "      <-- KSTREAM-MAPVALUES-0000000002\n"
                "\n");
        brook_free(text);
        brook_builder_destroy(b);
}

/* A named table source, as Kafka Streams describes it (checked with its
 * describe()): the source "<name>-source", the table node "<name>", both
 * taking a number; the store of a table nothing materializes is not
 * listed, as Kafka Streams has none. */
static void test_describe_named_table(void **state)
{
        brook_builder_t *b = brook_builder_new();
        char *text;
        (void)state;

        brook_stream_to(brook_table_to_stream(brook_table(
                                b, "patients",
                                &(brook_consumed_t){.name = "pt"}, NULL)),
                        "out", NULL);
        text = brook_topology_describe(b, BROOK_DESCRIBE_TEXT);
        assert_string_equal(text,
                            "Topologies:\n"
                            "   Sub-topology: 0\n"
                            "    Source: pt-source (topics: [patients])\n"
                            "      --> pt\n"
                            "    Processor: pt (stores: [])\n"
                            "      --> KTABLE-TOSTREAM-0000000003\n"
                            "      <-- pt-source\n"
                            "    Processor: KTABLE-TOSTREAM-0000000003 "
                            "(stores: [])\n"
                            "      --> KSTREAM-SINK-0000000004\n"
                            "      <-- pt\n"
                            "    Sink: KSTREAM-SINK-0000000004 (topic: out)\n"
                            "      <-- KTABLE-TOSTREAM-0000000003\n"
                            "\n");
        brook_free(text);
        brook_builder_destroy(b);
}

/* As Kafka Streams describes the same topology (checked with its
 * describe()): named operations still take a number, and nodes of one size
 * and successors are listed by name. */
static void test_describe_repartition_split(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream(b, "in", NULL);
        brook_stream_t *s, *a, *rest;
        brook_split_t *sp;
        char *text;
        (void)state;

        s = brook_stream_select_key(in, first_char_key, NULL);
        s = brook_stream_repartition(s, &(brook_repartitioned_t){.name = "rk"});
        sp = brook_stream_split(s, "sp-");
        a = brook_split_branch(sp, value_starts_with_a, NULL, "a");
        rest = brook_split_default(sp, NULL);
        brook_stream_to(brook_stream_merge(a, rest), "out", NULL);
        text = brook_topology_describe(b, BROOK_DESCRIBE_TEXT);
        assert_string_equal(
                text,
                "Topologies:\n"
                "   Sub-topology: 0\n"
                "    Source: KSTREAM-SOURCE-0000000000 (topics: [in])\n"
                "      --> KSTREAM-KEY-SELECT-0000000001\n"
                "    Processor: KSTREAM-KEY-SELECT-0000000001 (stores: [])\n"
                "      --> rk-repartition-filter\n"
                "      <-- KSTREAM-SOURCE-0000000000\n"
                "    Processor: rk-repartition-filter (stores: [])\n"
                "      --> rk-repartition-sink\n"
                "      <-- KSTREAM-KEY-SELECT-0000000001\n"
                "    Sink: rk-repartition-sink (topic: rk-repartition)\n"
                "      <-- rk-repartition-filter\n"
                "\n"
                "  Sub-topology: 1\n"
                "    Source: rk-repartition-source (topics: "
                "[rk-repartition])\n"
                "      --> sp-\n"
                "    Processor: sp- (stores: [])\n"
                "      --> sp-0, sp-a\n"
                "      <-- rk-repartition-source\n"
                "    Processor: sp-0 (stores: [])\n"
                "      --> KSTREAM-MERGE-0000000008\n"
                "      <-- sp-\n"
                "    Processor: sp-a (stores: [])\n"
                "      --> KSTREAM-MERGE-0000000008\n"
                "      <-- sp-\n"
                "    Processor: KSTREAM-MERGE-0000000008 (stores: [])\n"
                "      --> KSTREAM-SINK-0000000009\n"
                "      <-- sp-a, sp-0\n"
                "    Sink: KSTREAM-SINK-0000000009 (topic: out)\n"
                "      <-- KSTREAM-MERGE-0000000008\n"
                "\n");
        brook_free(text);
        brook_builder_destroy(b);
}

/* ------------------------------------------------------ processing errors */

static brook_err_t boom_process(brook_ctx_t *ctx, brook_record_t *rec,
                                void *state, char *errstr, size_t errstr_size)
{
        const char *v = brook_record_value(rec);
        (void)state;

        if (v && (!strcmp(v, "bad") || !strcmp(v, "v1"))) {
                snprintf(errstr, errstr_size, "cannot handle value \"%s\"", v);
                return BROOK_ERR_PROCESSING;
        }
        return brook_ctx_forward(ctx, rec, errstr, errstr_size);
}

static brook_test_driver_t *boom_driver(const char *handler, bool flat)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *s = brook_stream(b, "in", NULL);

        if (flat)
                s = brook_stream_flat_map_values(s, emit_n, NULL);
        s = brook_stream_process(
                s, &(brook_processor_def_t){.process = boom_process}, "boom");
        brook_stream_to(s, "out", NULL);
        return td_new(b, conf_new(handler));
}

static void test_error_fail(void **state)
{
        brook_test_driver_t *td = boom_driver(NULL, false);
        char err[512] = "";
        (void)state;

        pipe_ok(td, "in", "k", "good", 1);
        assert_int_equal(
                pipe_h(td, "in", "k", "bad", 2, NULL, 0, err, sizeof err),
                BROOK_ERR_FATAL);
        assert_string_equal(err, "processing error at topic \"in\" partition "
                                 "0 offset 1 (task 0_0): in node \"boom\": "
                                 "cannot handle value \"bad\"");
        /* The driver stops there. */
        assert_int_equal(
                pipe_h(td, "in", "k", "good", 3, NULL, 0, err, sizeof err),
                BROOK_ERR_FATAL);
        expect_rec(td, "out", "k", "good", 1);
        expect_none(td, "out");
        brook_test_driver_destroy(td);

        /* An error downstream of a flat map stops its emitting and is what
         * the flat map returns. */
        td = boom_driver("fail", true);
        assert_int_equal(
                pipe_h(td, "in", "k", "3", 5, NULL, 0, err, sizeof err),
                BROOK_ERR_FATAL);
        assert_string_equal(err, "processing error at topic \"in\" partition "
                                 "0 offset 0 (task 0_0): in node \"boom\": "
                                 "cannot handle value \"v1\"");
        expect_rec(td, "out", "k", "v0", 5);
        expect_none(td, "out");
        brook_test_driver_destroy(td);
}

/* Ignores a failed forward_to, then fails without a message of its own. */
static brook_err_t shrug_then_fail(brook_ctx_t *ctx, brook_record_t *rec,
                                   void *state, char *errstr,
                                   size_t errstr_size)
{
        (void)state;
        char why[512] = "";
        assert_int_equal(
                brook_ctx_forward_to(ctx, rec, "nope", why, sizeof why),
                BROOK_ERR_NOT_FOUND);
        assert_string_equal(why, "no child named \"nope\"");
        return BROOK_ERR_PROCESSING;
}

static void test_error_message_not_stale(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        char err[512] = "";
        (void)state;

        brook_stream_to(
                brook_stream_process(
                        brook_stream(b, "in", NULL),
                        &(brook_processor_def_t){.process = shrug_then_fail},
                        "shrug"),
                "out", NULL);
        td = td_new(b, conf_new(NULL));
        assert_int_equal(
                pipe_h(td, "in", "k", "v", 1, NULL, 0, err, sizeof err),
                BROOK_ERR_FATAL);
        /* The failure is reported as the processor's own, not as the
         * "no child" message of the error it had already dealt with. */
        assert_string_equal(err, "processing error at topic \"in\" partition "
                                 "0 offset 0 (task 0_0): in node \"shrug\": "
                                 "Processing error (no reason given)");
        brook_test_driver_destroy(td);
}

static void test_error_log_and_continue(void **state)
{
        brook_test_driver_t *td = boom_driver("log_and_continue", false);
        (void)state;

        pipe_ok(td, "in", "k", "bad", 1);
        expect_none(td, "out");
        pipe_ok(td, "in", "k", "good", 2);
        expect_rec(td, "out", "k", "good", 2);
        expect_none(td, "out");
        expect_none(td, "test-driver-dlq");
        brook_test_driver_destroy(td);
}

static void test_error_dead_letter(void **state)
{
        static const brook_header_t in_hdrs[] = {{"origin", "sensor-7", 8}};
        brook_test_driver_t *td = boom_driver("dead_letter", false);
        brook_test_record_t r;
#define HDR(name, value)                                                       \
        {                                                                      \
                name, value, sizeof(value) - 1                                 \
        }
        static const brook_header_t want[] = {
                HDR("origin", "sensor-7"),
                HDR("__streams.errors.exception", "brook.ProcessingException"),
                HDR("__streams.errors.message",
                    "in node \"boom\": cannot handle value \"bad\""),
                HDR("__streams.errors.topic", "in"),
                HDR("__streams.errors.partition", "0"),
                HDR("__streams.errors.offset", "1"),
                HDR("__streams.errors.task", "0_0"),
        };
#undef HDR
        char err[512] = "";
        (void)state;

        pipe_ok(td, "in", "k", "good", 1);
        assert_int_equal(pipe_h(td, "in", "key-9", "bad", 2, in_hdrs, 1, err,
                                sizeof err),
                         BROOK_OK);
        pipe_ok(td, "in", "k", "fine", 3);
        expect_rec(td, "out", "k", "good", 1);
        expect_rec(td, "out", "k", "fine", 3);
        expect_none(td, "out");
        /* The input as it came, with headers saying what went wrong. */
        expect_rec_r(td, "test-driver-dlq", "key-9", "bad", 2, &r);
        expect_headers(&r, want, sizeof want / sizeof want[0]);
        expect_none(td, "test-driver-dlq");
        brook_test_driver_destroy(td);
}

/* ------------------------------------------------------------ punctuation */

static brook_err_t punctuate(brook_ctx_t *ctx, int64_t ts, void *opaque,
                             char *errstr, size_t errstr_size)
{
        const char *kind = opaque;
        brook_record_t *tmp = brook_ctx_record_new(ctx, NULL, NULL, NULL, ts);
        char *v = arena_printf(tmp, "%s@%lld stream-time=%lld", kind,
                               (long long)ts,
                               (long long)brook_ctx_stream_time(ctx));

        return brook_ctx_forward(
                ctx, brook_ctx_record_new(ctx, NULL, (void *)kind, v, ts),
                errstr, errstr_size);
}

static brook_err_t punc_init(brook_ctx_t *ctx, void *opaque, void **statep,
                             char *errstr, size_t errstr_size)
{
        char why[512] = "";
        int id = 7;
        (void)opaque;
        (void)statep;
        (void)errstr;
        (void)errstr_size;
        assert_int_equal(brook_ctx_schedule(ctx, 0, BROOK_PUNCTUATE_WALL_CLOCK,
                                            punctuate, "x", &id, why,
                                            sizeof why),
                         BROOK_ERR_INVALID_ARG);
        assert_int_equal(id, -1);
        assert_string_equal(why, "node \"ticker\": cannot schedule a "
                                 "punctuator with an interval below 1 ms");
        assert_int_equal(brook_ctx_schedule(ctx, 5, BROOK_PUNCTUATE_WALL_CLOCK,
                                            NULL, "x", &id, why, sizeof why),
                         BROOK_ERR_INVALID_ARG);
        assert_string_equal(why, "node \"ticker\": cannot schedule a "
                                 "punctuator without a function");
        assert_int_equal(brook_ctx_schedule(ctx, 10,
                                            BROOK_PUNCTUATE_STREAM_TIME,
                                            punctuate, "stream", &id, NULL, 0),
                         BROOK_OK);
        assert_true(id >= 0);
        assert_int_equal(brook_ctx_schedule(ctx, 100,
                                            BROOK_PUNCTUATE_WALL_CLOCK,
                                            punctuate, "wall", NULL, NULL, 0),
                         BROOK_OK);
        return BROOK_OK;
}

static brook_err_t punc_process(brook_ctx_t *ctx, brook_record_t *rec,
                                void *state, char *errstr, size_t errstr_size)
{
        (void)state;
        return brook_ctx_forward(ctx, rec, errstr, errstr_size);
}

static void advance_ok(brook_test_driver_t *td, int64_t ms)
{
        char err[512] = "";
        if (brook_test_driver_advance_wall_clock(td, ms, err, sizeof err))
                fail_msg("advance_wall_clock(%lld): %s", (long long)ms, err);
}

static void test_punctuators(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *s = brook_stream(b, "in", NULL);
        brook_test_driver_t *td;
        brook_test_record_t r;
        (void)state;

        s = brook_stream_process(
                s,
                &(brook_processor_def_t){.init = punc_init,
                                         .process = punc_process},
                "ticker");
        brook_stream_to(s, "out", NULL);
        td = td_new(b, NULL); /* Wall clock at 1000. */

        /* Stream time: due from 0, then every 10 ms crossed, once. */
        pipe_ok(td, "in", "r", "1", 5);
        expect_rec(td, "out", "r", "1", 5);
        expect_rec_r(td, "out", "stream", "stream@5 stream-time=5", 5, &r);
        assert_int_equal(r.header_cnt, 0);
        pipe_ok(td, "in", "r", "2", 8);
        expect_rec(td, "out", "r", "2", 8);
        expect_none(td, "out");
        pipe_ok(td, "in", "r", "3", 12);
        expect_rec(td, "out", "r", "3", 12);
        expect_rec(td, "out", "stream", "stream@12 stream-time=12", 12);
        /* An older record does not move stream time. */
        pipe_ok(td, "in", "r", "4", 3);
        expect_rec(td, "out", "r", "4", 3);
        expect_none(td, "out");
        pipe_ok(td, "in", "r", "5", 35);
        expect_rec(td, "out", "r", "5", 35);
        expect_rec(td, "out", "stream", "stream@35 stream-time=35", 35);
        pipe_ok(td, "in", "r", "6", 39);
        expect_rec(td, "out", "r", "6", 39);
        expect_none(td, "out");

        /* Wall clock: one interval after scheduling, then once per
         * interval however far the clock jumps. */
        advance_ok(td, 50);
        expect_none(td, "out");
        advance_ok(td, 50);
        expect_rec(td, "out", "wall", "wall@1100 stream-time=39", 1100);
        expect_none(td, "out");
        advance_ok(td, 250);
        expect_rec(td, "out", "wall", "wall@1350 stream-time=39", 1350);
        expect_none(td, "out");
        advance_ok(td, 40);
        expect_none(td, "out");
        advance_ok(td, 10);
        expect_rec(td, "out", "wall", "wall@1400 stream-time=39", 1400);
        expect_none(td, "out");
        brook_test_driver_destroy(td);
}

/* A punctuator that fails every time it fires. */
static brook_err_t failing_punctuate(brook_ctx_t *ctx, int64_t ts, void *opaque,
                                     char *errstr, size_t errstr_size)
{
        (void)ctx;
        (void)opaque;
        snprintf(errstr, errstr_size, "no downstream for tick %lld",
                 (long long)ts);
        return BROOK_ERR_PROCESSING;
}

static brook_err_t failing_punc_init(brook_ctx_t *ctx, void *opaque,
                                     void **statep, char *errstr,
                                     size_t errstr_size)
{
        (void)opaque;
        (void)statep;
        return brook_ctx_schedule(ctx, 10, BROOK_PUNCTUATE_WALL_CLOCK,
                                  failing_punctuate, NULL, NULL, errstr,
                                  errstr_size);
}

static brook_test_driver_t *failing_punc_driver(const char *handler)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_to(brook_stream_process(brook_stream(b, "in", NULL),
                                             &(brook_processor_def_t){
                                                     .init = failing_punc_init,
                                                     .process = punc_process},
                                             "ticker"),
                        "out", NULL);
        return td_new(b, conf_new(handler));
}

static void test_punctuator_failure(void **state)
{
        brook_test_driver_t *td = failing_punc_driver(NULL);
        char err[512] = "";
        (void)state;

        /* `fail`: the driver stops, naming the task, node, time and why. */
        assert_int_equal(
                brook_test_driver_advance_wall_clock(td, 10, err, sizeof err),
                BROOK_ERR_PROCESSING);
        assert_string_equal(err, "task 0_0: punctuator of node \"ticker\" at "
                                 "wall-clock time 1010 failed: no downstream "
                                 "for tick 1010");
        assert_int_equal(
                brook_test_driver_advance_wall_clock(td, 10, err, sizeof err),
                BROOK_ERR_FATAL);
        assert_int_equal(
                brook_test_driver_advance_wall_clock(td, -1, err, sizeof err),
                BROOK_ERR_FATAL);
        brook_test_driver_destroy(td);

        /* log_and_continue: logged, and records still flow. */
        td = failing_punc_driver("log_and_continue");
        advance_ok(td, 10);
        advance_ok(td, 10);
        pipe_ok(td, "in", "k", "v", 1);
        expect_rec(td, "out", "k", "v", 1);
        expect_none(td, "out");
        assert_int_equal(
                brook_test_driver_advance_wall_clock(td, -1, err, sizeof err),
                BROOK_ERR_INVALID_ARG);
        assert_string_equal(err, "the wall clock cannot go back (advance -1 "
                                 "ms)");
        brook_test_driver_destroy(td);
}

/* ---------------------------------------------------- empty is not null */

static void test_empty_values(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        (void)state;

        brook_stream_to(brook_stream(b, "in", NULL), "out", NULL);
        td = td_new(b, NULL);
        pipe_ok(td, "in", "", "", 1);
        pipe_ok(td, "in", NULL, NULL, 2);
        pipe_ok(td, "in", "k", "", 3);
        expect_rec(td, "out", "", "", 1);
        expect_rec(td, "out", NULL, NULL, 2);
        expect_rec(td, "out", "k", "", 3);
        brook_test_driver_destroy(td);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_filter),
                cmocka_unit_test(test_map),
                cmocka_unit_test(test_map_values),
                cmocka_unit_test(test_headers_pass_through),
                cmocka_unit_test(test_flat_map),
                cmocka_unit_test(test_flat_map_values),
                cmocka_unit_test(test_peek_foreach),
                cmocka_unit_test(test_select_key_repartition),
                cmocka_unit_test(test_repartition_generated_names),
                cmocka_unit_test(test_sink_partitioner),
                cmocka_unit_test(test_split),
                cmocka_unit_test(test_split_generated_names),
                cmocka_unit_test(test_merge),
                cmocka_unit_test(test_to_chooser),
                cmocka_unit_test(test_pattern),
                cmocka_unit_test(test_pattern_overlap),
                cmocka_unit_test(test_stream_topics),
                cmocka_unit_test(test_process_forward_to),
                cmocka_unit_test(test_stream_as),
                cmocka_unit_test(test_null_arguments),
                cmocka_unit_test(test_serdes_follow_the_stream),
                cmocka_unit_test(test_describe),
                cmocka_unit_test(test_describe_repartition_split),
                cmocka_unit_test(test_describe_named_table),
                cmocka_unit_test(test_error_fail),
                cmocka_unit_test(test_error_message_not_stale),
                cmocka_unit_test(test_error_log_and_continue),
                cmocka_unit_test(test_error_dead_letter),
                cmocka_unit_test(test_punctuators),
                cmocka_unit_test(test_punctuator_failure),
                cmocka_unit_test(test_empty_values),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
