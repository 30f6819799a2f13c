/*
 * Tests of the test driver's typed topics (brook_test_driver_input /
 * brook_test_driver_output): records piped and read as objects through
 * serdes, with exact keys, values, timestamps, offsets and headers; the
 * input's auto-advancing clock; the latest-per-key map; and the errors of
 * serdes that cannot encode or decode, with their messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "brook/brook.h"

/* ---------------------------------------------------------------- helpers */

/* A driver over @p b with string default serdes, its wall clock at 1000. */
static brook_test_driver_t *td_new(brook_builder_t *b)
{
        brook_conf_t *conf = brook_conf_new();
        brook_test_driver_t *td;
        char err[512] = "";

        assert_int_equal(brook_conf_set(conf, "default.key.serde", "string",
                                        err, sizeof err),
                         BROOK_OK);
        assert_int_equal(brook_conf_set(conf, "default.value.serde", "string",
                                        err, sizeof err),
                         BROOK_OK);
        td = brook_test_driver_new(b, conf, 1000, err, sizeof err);
        if (!td)
                fail_msg("brook_test_driver_new: %s", err);
        return td;
}

/* "in" → "out" unchanged: bytes serdes on both sides, so whatever a test
 * pipes comes out byte for byte, headers included. */
static brook_test_driver_t *passthrough(void)
{
        brook_builder_t *b = brook_builder_new();
        const brook_serde_t *bytes = brook_serde_bytes();

        brook_stream_to(brook_stream(b, "in",
                                     &(brook_consumed_t){.key_serde = bytes,
                                                         .value_serde = bytes}),
                        "out", NULL);
        return td_new(b);
}

static brook_test_input_t *input_ok(brook_test_driver_t *td, const char *topic,
                                    const brook_serde_t *ks,
                                    const brook_serde_t *vs,
                                    const brook_test_input_opts_t *opts)
{
        char err[512] = "";
        brook_test_input_t *in = brook_test_driver_input(td, topic, ks, vs,
                                                         opts, err, sizeof err);
        if (!in)
                fail_msg("brook_test_driver_input(%s): %s", topic, err);
        return in;
}

static brook_test_output_t *output_ok(brook_test_driver_t *td,
                                      const char *topic,
                                      const brook_serde_t *ks,
                                      const brook_serde_t *vs)
{
        brook_test_output_t *out = brook_test_driver_output(td, topic, ks, vs);
        assert_non_null(out);
        return out;
}

static void pipe_ok(brook_test_input_t *in, const void *key, const void *value)
{
        char err[512] = "";
        if (brook_test_input_pipe(in, key, value, err, sizeof err))
                fail_msg("pipe failed: %s", err);
}

static void pipe_at_ok(brook_test_input_t *in, const void *key,
                       const void *value, int64_t ts)
{
        char err[512] = "";
        if (brook_test_input_pipe_at(in, key, value, ts, err, sizeof err))
                fail_msg("pipe failed: %s", err);
}

/* Reads the next record of @p out and checks topic, partition, offset and
 * timestamp; the caller checks key and value. */
static brook_test_typed_record_t
read_ok(brook_test_output_t *out, const char *topic, int64_t offset, int64_t ts)
{
        brook_test_typed_record_t r;
        char err[512] = "";

        memset(&r, 0, sizeof r);
        if (brook_test_output_read(out, &r, err, sizeof err))
                fail_msg("read of %s failed: %s", topic, err);
        assert_string_equal(r.topic, topic);
        assert_int_equal(r.partition, 0);
        assert_int_equal(r.offset, offset);
        assert_int_equal(r.timestamp, ts);
        return r;
}

/* The next record: string key (or null) and string value (or null). */
static void expect_str(brook_test_output_t *out, const char *topic,
                       int64_t offset, const char *key, const char *value,
                       int64_t ts)
{
        brook_test_typed_record_t r = read_ok(out, topic, offset, ts);

        if (key)
                assert_string_equal(r.key, key);
        else
                assert_null(r.key);
        if (value)
                assert_string_equal(r.value, value);
        else
                assert_null(r.value);
        assert_int_equal(r.header_cnt, 0);
}

/* The next record: string key and int64 value. */
static void expect_i64(brook_test_output_t *out, const char *topic,
                       int64_t offset, const char *key, int64_t value,
                       int64_t ts)
{
        brook_test_typed_record_t r = read_ok(out, topic, offset, ts);

        assert_string_equal(r.key, key);
        assert_non_null(r.value);
        assert_int_equal(*(int64_t *)r.value, value);
}

static void expect_empty(brook_test_output_t *out)
{
        brook_test_typed_record_t r = {.offset = 12345};
        char err[512] = "";

        assert_true(brook_test_output_is_empty(out));
        assert_int_equal(brook_test_output_unread(out), 0);
        assert_int_equal(brook_test_output_read(out, &r, err, sizeof err),
                         BROOK_ERR_NOT_FOUND);
        /* The record is left as it was. */
        assert_int_equal(r.offset, 12345);
}

/* ------------------------------------------------------------------- tests */

/* The count of a key read as int64s: no big-endian bytes in sight. */
static void test_count_int64(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        brook_test_input_t *in;
        brook_test_output_t *out;
        char err[512] = "";
        (void)state;

        brook_stream_to(
                brook_table_to_stream(brook_grouped_count(
                        brook_stream_group_by_key(brook_stream(b, "in", NULL),
                                                  NULL),
                        &(brook_materialized_t){.name = "counts"})),
                "out",
                &(brook_produced_t){.key_serde = brook_serde_string(),
                                    .value_serde = brook_serde_int64()});
        td = td_new(b);
        in = input_ok(td, "in", brook_serde_string(), brook_serde_string(),
                      &(brook_test_input_opts_t){.start_timestamp = 100,
                                                 .auto_advance_ms = 10});
        out = output_ok(td, "out", brook_serde_string(), brook_serde_int64());
        expect_empty(out);

        pipe_ok(in, "a", "x");
        pipe_ok(in, "b", "x");
        pipe_ok(in, "a", "x");
        pipe_ok(in, "c", "x");
        pipe_ok(in, "a", "x");
        assert_false(brook_test_output_is_empty(out));
        assert_int_equal(brook_test_output_unread(out), 5);
        expect_i64(out, "out", 0, "a", 1, 100);
        expect_i64(out, "out", 1, "b", 1, 110);
        expect_i64(out, "out", 2, "a", 2, 120);
        assert_int_equal(brook_test_output_unread(out), 2);
        expect_i64(out, "out", 3, "c", 1, 130);
        expect_i64(out, "out", 4, "a", 3, 140);
        expect_empty(out);
        assert_int_equal(brook_test_output_read(out,
                                                &(brook_test_typed_record_t){0},
                                                err, sizeof err),
                         BROOK_ERR_NOT_FOUND);
        assert_string_equal(err, "topic \"out\" has no unread record");
        brook_test_driver_destroy(td);
}

/* Strings, empty strings, null keys (pipe_value) and tombstones, and a
 * raw read and a typed read sharing one queue. */
static void test_strings_null_keys_tombstones(void **state)
{
        brook_test_driver_t *td = passthrough();
        const brook_serde_t *str = brook_serde_string();
        brook_test_input_t *in;
        brook_test_output_t *out;
        brook_test_record_t raw;
        char err[512] = "";
        (void)state;

        in = input_ok(td, "in", str, str, NULL);
        out = output_ok(td, "out", str, str);
        pipe_ok(in, "k", "v");
        assert_int_equal(
                brook_test_input_pipe_value(in, "only", err, sizeof err),
                BROOK_OK);
        pipe_ok(in, "k", NULL);
        pipe_ok(in, "", "");
        pipe_ok(in, NULL, NULL);
        pipe_at_ok(in, "k", "late", 7);

        /* Without options the input's clock is the driver's wall clock
         * (1000) and does not advance. */
        expect_str(out, "out", 0, "k", "v", 1000);
        expect_str(out, "out", 1, NULL, "only", 1000);
        expect_str(out, "out", 2, "k", NULL, 1000);
        /* Empty is not null: the raw record has a pointer and no bytes. */
        assert_true(brook_test_driver_read(td, "out", &raw));
        assert_int_equal(raw.offset, 3);
        assert_non_null(raw.key);
        assert_int_equal(raw.key_size, 0);
        assert_non_null(raw.value);
        assert_int_equal(raw.value_size, 0);
        assert_int_equal(brook_test_output_unread(out), 2);
        expect_str(out, "out", 4, NULL, NULL, 1000);
        expect_str(out, "out", 5, "k", "late", 7);
        expect_empty(out);
        assert_false(brook_test_driver_read(td, "out", &raw));
        brook_test_driver_destroy(td);
}

/* Numbers go out in Java's encodings: checked once here on the raw bytes,
 * and read back typed. */
static void test_numbers(void **state)
{
        brook_test_driver_t *td = passthrough();
        brook_test_input_t *in;
        brook_test_output_t *out;
        brook_test_typed_record_t r;
        brook_test_record_t raw;
        static const unsigned char minus_two[8] = {0xff, 0xff, 0xff, 0xff,
                                                   0xff, 0xff, 0xff, 0xfe};
        static const unsigned char one_half[8] = {0x3f, 0xe0, 0, 0, 0, 0, 0, 0};
        (void)state;

        in = input_ok(td, "in", brook_serde_int64(), brook_serde_double(),
                      NULL);
        out = output_ok(td, "out", brook_serde_int64(), brook_serde_double());
        pipe_ok(in, &(int64_t){-2}, &(double){0.5});
        pipe_ok(in, &(int64_t){INT64_MAX}, &(double){-1e300});
        assert_true(brook_test_driver_read(td, "out", &raw));
        assert_int_equal(raw.key_size, 8);
        assert_memory_equal(raw.key, minus_two, 8);
        assert_int_equal(raw.value_size, 8);
        assert_memory_equal(raw.value, one_half, 8);
        r = read_ok(out, "out", 1, 1000);
        assert_int_equal(*(int64_t *)r.key, INT64_MAX);
        assert_true(*(double *)r.value == -1e300);
        expect_empty(out);

        /* int32 keys, read through a second output of the same topic. */
        in = input_ok(td, "in", brook_serde_int32(), brook_serde_string(),
                      NULL);
        pipe_ok(in, &(int32_t){-7}, "seven");
        out = output_ok(td, "out", brook_serde_int32(), brook_serde_string());
        r = read_ok(out, "out", 2, 1000);
        assert_int_equal(*(int32_t *)r.key, -7);
        assert_string_equal(r.value, "seven");
        brook_test_driver_destroy(td);
}

static void test_json(void **state)
{
        brook_test_driver_t *td = passthrough();
        brook_test_input_t *in;
        brook_test_output_t *out;
        brook_test_typed_record_t r1, r2;
        brook_test_record_t raw;
        json_t *v1 = json_pack("{s:i, s:[s, b]}", "hr", 130, "tags", "icu", 1);
        json_t *v2 = json_pack("{s:n}", "hr");
        char err[512] = "";
        (void)state;

        in = input_ok(td, "in", brook_serde_string(), brook_serde_json(), NULL);
        out = output_ok(td, "out", brook_serde_string(), brook_serde_json());
        pipe_ok(in, "p1", v1);
        pipe_ok(in, "p2", v2);
        pipe_ok(in, "p3", v1);
        assert_int_equal(brook_test_input_pipe(in, "p4", NULL, err, sizeof err),
                         BROOK_OK);

        /* Encoded compact, as the serde promises. */
        assert_true(brook_test_driver_read(td, "out", &raw));
        assert_int_equal(raw.value_size, strlen("{\"hr\":130,\"tags\":[\"icu\","
                                                "true]}"));
        assert_memory_equal(raw.value, "{\"hr\":130,\"tags\":[\"icu\",true]}",
                            raw.value_size);
        r1 = read_ok(out, "out", 1, 1000);
        r2 = read_ok(out, "out", 2, 1000);
        /* Both decoded objects are still alive after the second read. */
        assert_string_equal(r1.key, "p2");
        assert_true(json_equal(r1.value, v2));
        assert_string_equal(r2.key, "p3");
        assert_true(json_equal(r2.value, v1));
        assert_int_equal(json_integer_value(json_object_get(r2.value, "hr")),
                         130);
        r1 = read_ok(out, "out", 3, 1000);
        assert_string_equal(r1.key, "p4");
        assert_null(r1.value);
        expect_empty(out);
        json_decref(v1);
        json_decref(v2);
        brook_test_driver_destroy(td);
}

static void test_headers(void **state)
{
        brook_test_driver_t *td = passthrough();
        const brook_serde_t *str = brook_serde_string();
        brook_test_input_t *in;
        brook_test_output_t *out;
        brook_test_typed_record_t r;
        const brook_header_t hdrs[] = {
                {.name = "trace", .value = "t-1", .size = 3},
                {.name = "empty", .value = NULL, .size = 0},
                {.name = "trace", .value = "t-2", .size = 3},
        };
        char err[512] = "";
        (void)state;

        in = input_ok(td, "in", str, str,
                      &(brook_test_input_opts_t){.start_timestamp = 50,
                                                 .auto_advance_ms = 5});
        out = output_ok(td, "out", str, str);
        assert_int_equal(brook_test_input_pipe_headers(
                                 in, "k", "v", BROOK_TEST_TIMESTAMP_AUTO, hdrs,
                                 3, err, sizeof err),
                         BROOK_OK);
        assert_int_equal(brook_test_input_pipe_headers(in, "k2", "v2", 9, hdrs,
                                                       1, err, sizeof err),
                         BROOK_OK);
        pipe_ok(in, "k3", "v3");

        r = read_ok(out, "out", 0, 50);
        assert_string_equal(r.key, "k");
        assert_string_equal(r.value, "v");
        assert_int_equal(r.header_cnt, 3);
        assert_string_equal(r.headers[0].name, "trace");
        assert_int_equal(r.headers[0].size, 3);
        assert_memory_equal(r.headers[0].value, "t-1", 3);
        assert_string_equal(r.headers[1].name, "empty");
        assert_null(r.headers[1].value);
        assert_int_equal(r.headers[1].size, 0);
        assert_string_equal(r.headers[2].name, "trace");
        assert_int_equal(r.headers[2].size, 3);
        assert_memory_equal(r.headers[2].value, "t-2", 3);
        /* An explicit timestamp leaves the clock at 55. */
        r = read_ok(out, "out", 1, 9);
        assert_string_equal(r.key, "k2");
        assert_int_equal(r.header_cnt, 1);
        assert_string_equal(r.headers[0].name, "trace");
        assert_memory_equal(r.headers[0].value, "t-1", 3);
        expect_str(out, "out", 2, "k3", "v3", 55);
        expect_empty(out);
        brook_test_driver_destroy(td);
}

/* The input's clock: a start, a step after each record piped without a
 * timestamp, explicit timestamps that leave it, and advance_time. */
static void test_auto_advance(void **state)
{
        brook_test_driver_t *td = passthrough();
        const brook_serde_t *str = brook_serde_string();
        brook_test_input_t *in, *other;
        brook_test_output_t *out;
        char err[512] = "";
        (void)state;

        in = input_ok(td, "in", str, str,
                      &(brook_test_input_opts_t){.start_timestamp = 0,
                                                 .auto_advance_ms = 5});
        /* Each input has its own clock; this one starts at the wall
         * clock's 1000 and does not advance. */
        other = input_ok(td, "in", str, str, NULL);
        out = output_ok(td, "out", str, str);
        pipe_ok(in, "a", "1");
        pipe_ok(in, "b", "2");
        pipe_ok(other, "o", "x");
        assert_int_equal(brook_test_input_advance_time(in, 100), BROOK_OK);
        pipe_ok(in, "c", "3");
        pipe_at_ok(in, "d", "4", 7);
        pipe_ok(in, "e", "5");
        assert_int_equal(brook_test_input_advance_time(in, -1),
                         BROOK_ERR_INVALID_ARG);
        assert_int_equal(brook_test_input_pipe_value(in, "6", err, sizeof err),
                         BROOK_OK);
        assert_int_equal(brook_test_input_advance_time(in, 0), BROOK_OK);
        pipe_ok(in, "g", "7");
        pipe_ok(other, "o", "y");
        /* The driver's wall clock is not the inputs'. */
        assert_int_equal(
                brook_test_driver_advance_wall_clock(td, 500, err, sizeof err),
                BROOK_OK);
        pipe_ok(other, "o", "z");

        expect_str(out, "out", 0, "a", "1", 0);
        expect_str(out, "out", 1, "b", "2", 5);
        expect_str(out, "out", 2, "o", "x", 1000);
        expect_str(out, "out", 3, "c", "3", 110);
        expect_str(out, "out", 4, "d", "4", 7);
        expect_str(out, "out", 5, "e", "5", 115);
        expect_str(out, "out", 6, NULL, "6", 120);
        expect_str(out, "out", 7, "g", "7", 125);
        expect_str(out, "out", 8, "o", "y", 1000);
        expect_str(out, "out", 9, "o", "z", 1000);
        expect_empty(out);

        /* A negative step is refused. */
        assert_null(brook_test_driver_input(
                td, "in", str, str,
                &(brook_test_input_opts_t){.auto_advance_ms = -5}, err,
                sizeof err));
        assert_string_equal(err,
                            "input topic \"in\": auto_advance_ms is negative "
                            "(-5)");
        brook_test_driver_destroy(td);
}

/* The latest value of each key (readKeyValuesToMap). */
static void test_read_map(void **state)
{
        brook_test_driver_t *td = passthrough();
        const brook_serde_t *str = brook_serde_string();
        brook_test_input_t *in;
        brook_test_output_t *out;
        brook_test_kv_t *kvs = (brook_test_kv_t *)1;
        size_t cnt = 99;
        char err[512] = "";
        (void)state;

        in = input_ok(td, "in", str, str, NULL);
        out = output_ok(td, "out", str, str);
        assert_int_equal(
                brook_test_output_read_map(out, &kvs, &cnt, err, sizeof err),
                BROOK_OK);
        assert_null(kvs);
        assert_int_equal(cnt, 0);

        pipe_ok(in, "a", "1");
        pipe_ok(in, "b", "2");
        pipe_ok(in, NULL, "3");
        pipe_ok(in, "a", "4");
        pipe_ok(in, "b", NULL);
        pipe_ok(in, "", "6");
        pipe_ok(in, NULL, "7");
        assert_int_equal(
                brook_test_output_read_map(out, &kvs, &cnt, err, sizeof err),
                BROOK_OK);
        assert_int_equal(cnt, 4);
        assert_string_equal(kvs[0].key, "a");
        assert_string_equal(kvs[0].value, "4");
        assert_string_equal(kvs[1].key, "b");
        assert_null(kvs[1].value);
        assert_null(kvs[2].key);
        assert_string_equal(kvs[2].value, "7");
        /* The empty key is not the null key. */
        assert_string_equal(kvs[3].key, "");
        assert_string_equal(kvs[3].value, "6");
        expect_empty(out);

        /* Later records make a new map; the old one stays valid. */
        pipe_ok(in, "c", "8");
        {
                brook_test_kv_t *kvs2;
                size_t cnt2;
                assert_int_equal(brook_test_output_read_map(out, &kvs2, &cnt2,
                                                            err, sizeof err),
                                 BROOK_OK);
                assert_int_equal(cnt2, 1);
                assert_string_equal(kvs2[0].key, "c");
                assert_string_equal(kvs2[0].value, "8");
                assert_string_equal(kvs[0].value, "4");
        }
        brook_test_driver_destroy(td);
}

/* A serializer that refuses values starting with '!'. */
static brook_err_t picky_ser(const void *obj, brook_buf_t *buf, void *opaque,
                             char *errstr, size_t errstr_size)
{
        const char *s = obj;
        (void)opaque;
        if (s[0] == '!') {
                snprintf(errstr, errstr_size, "refusing \"%s\"", s);
                return BROOK_ERR_SERDE;
        }
        brook_buf_append(buf, s, strlen(s));
        return BROOK_OK;
}

static brook_err_t picky_deser(const void *data, size_t size,
                               brook_arena_t *arena, void **objp, void *opaque,
                               char *errstr, size_t errstr_size)
{
        char *s;
        (void)opaque;
        if (size && ((const char *)data)[0] == '!') {
                snprintf(errstr, errstr_size, "refusing %zu bytes", size);
                return BROOK_ERR_SERDE;
        }
        s = brook_arena_alloc(arena, size + 1);
        memcpy(s, data, size);
        s[size] = '\0';
        *objp = s;
        return BROOK_OK;
}

static void test_serde_errors(void **state)
{
        brook_test_driver_t *td = passthrough();
        const brook_serde_t *str = brook_serde_string();
        brook_serde_t *picky = brook_serde_new("picky", picky_ser, picky_deser,
                                               NULL, NULL, NULL, 0);
        brook_test_input_t *in, *raw_in;
        brook_test_output_t *out, *i64;
        brook_test_typed_record_t r = {.offset = 12345};
        brook_test_kv_t *kvs = (brook_test_kv_t *)1;
        size_t cnt = 99;
        char err[512] = "";
        (void)state;

        /* The input and output hold their own references to the serde. */
        in = input_ok(td, "in", str, picky,
                      &(brook_test_input_opts_t){.start_timestamp = 10,
                                                 .auto_advance_ms = 1});
        raw_in = input_ok(td, "in", str, str, NULL);
        out = output_ok(td, "out", picky, picky);
        i64 = output_ok(td, "out", str, brook_serde_int64());
        brook_serde_destroy(picky);

        /* Encoding: nothing is piped and the clock stays. */
        assert_int_equal(brook_test_input_pipe(in, "k", "!no", err, sizeof err),
                         BROOK_ERR_SERDE);
        assert_string_equal(err, "input topic \"in\": the value serde "
                                 "\"picky\" could not encode the value: "
                                 "refusing \"!no\"");
        expect_empty(out);
        pipe_ok(in, "k", "yes");

        /* Decoding: the message names topic, offset and serde, and the
         * record counts as read. */
        pipe_ok(raw_in, "k", "!bad");
        pipe_ok(raw_in, "!key", "v");
        pipe_ok(raw_in, "k", "fine");
        expect_str(out, "out", 0, "k", "yes", 10);
        assert_int_equal(brook_test_output_read(out, &r, err, sizeof err),
                         BROOK_ERR_SERDE);
        assert_string_equal(err, "topic \"out\" offset 1: the value serde "
                                 "\"picky\" could not decode the value: "
                                 "refusing 4 bytes");
        assert_int_equal(r.offset, 12345);
        assert_int_equal(brook_test_output_read(out, &r, err, sizeof err),
                         BROOK_ERR_SERDE);
        assert_string_equal(err, "topic \"out\" offset 2: the key serde "
                                 "\"picky\" could not decode the key: "
                                 "refusing 4 bytes");
        expect_str(out, "out", 3, "k", "fine", 1000);

        /* A built-in serde on bytes of the wrong size; read_map stops at
         * the failing record, which counts as read, as those before it. */
        pipe_ok(raw_in, "a", "12345678");
        pipe_ok(raw_in, "b", "123");
        pipe_ok(raw_in, "c", "87654321");
        assert_int_equal(
                brook_test_output_read_map(i64, &kvs, &cnt, err, sizeof err),
                BROOK_ERR_SERDE);
        assert_string_equal(err, "topic \"out\" offset 5: the value serde "
                                 "\"int64\" could not decode the value: "
                                 "int64 deserializer: expected 8 bytes, got 3");
        assert_null(kvs);
        assert_int_equal(cnt, 0);
        assert_int_equal(brook_test_output_unread(i64), 1);
        expect_i64(i64, "out", 6, "c", 0x3837363534333231, 1000);
        expect_empty(i64);
        brook_test_driver_destroy(td);
}

/* Set-ups that are refused, and topics that read as empty. */
static void test_bad_arguments(void **state)
{
        brook_test_driver_t *td = passthrough();
        const brook_serde_t *str = brook_serde_string();
        brook_test_output_t *out;
        char err[512] = "";
        (void)state;

        assert_null(brook_test_driver_input(td, "out", str, str, NULL, err,
                                            sizeof err));
        assert_string_equal(err,
                            "no source of the topology reads topic \"out\"");
        assert_null(brook_test_driver_input(td, "in", NULL, str, NULL, err,
                                            sizeof err));
        assert_string_equal(err, "brook_test_driver_input: key_serde is NULL");
        assert_null(brook_test_driver_input(td, "in", str, NULL, NULL, err,
                                            sizeof err));
        assert_string_equal(err,
                            "brook_test_driver_input: value_serde is NULL");
        assert_null(brook_test_driver_input(NULL, "in", str, str, NULL, err,
                                            sizeof err));
        assert_string_equal(err, "brook_test_driver_input: td is NULL");
        assert_null(brook_test_driver_output(td, "out", NULL, str));
        assert_null(brook_test_driver_output(td, "out", str, NULL));
        assert_null(brook_test_driver_output(td, NULL, str, str));
        assert_null(brook_test_driver_output(NULL, "out", str, str));
        assert_int_equal(brook_test_input_advance_time(NULL, 1),
                         BROOK_ERR_INVALID_ARG);
        assert_int_equal(brook_test_input_pipe(NULL, "k", "v", err, sizeof err),
                         BROOK_ERR_INVALID_ARG);
        assert_int_equal(brook_test_output_read(NULL, NULL, err, sizeof err),
                         BROOK_ERR_INVALID_ARG);
        assert_string_equal(err, "brook_test_output_read: out is NULL");
        assert_int_equal(brook_test_output_unread(NULL), 0);
        assert_true(brook_test_output_is_empty(NULL));

        /* A topic nothing writes to is empty, not an error (as Kafka
         * Streams' TestOutputTopic). */
        out = output_ok(td, "never-written", str, str);
        expect_empty(out);
        /* The input topic itself holds no written records. */
        out = output_ok(td, "in", str, str);
        pipe_ok(input_ok(td, "in", str, str, NULL), "k", "v");
        expect_empty(out);
        brook_test_driver_destroy(td);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_count_int64),
                cmocka_unit_test(test_strings_null_keys_tombstones),
                cmocka_unit_test(test_numbers),
                cmocka_unit_test(test_json),
                cmocka_unit_test(test_headers),
                cmocka_unit_test(test_auto_advance),
                cmocka_unit_test(test_read_map),
                cmocka_unit_test(test_serde_errors),
                cmocka_unit_test(test_bad_arguments),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
