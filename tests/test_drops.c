/*
 * Tests of record-level failures and drops through the test driver: which
 * handler each failure goes to (production errors to the production
 * handler, whatever the processing handler says), every drop counted under
 * its reason with a warning (rate-limited), and dead-letter records cut to
 * fit message.max.bytes with headers saying so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "brook/brook.h"
#include "brook_int.h"

/* ---------------------------------------------------------------- helpers */

/* A conf with string default serdes and the given properties (name, value
 * pairs, NULL-terminated). */
static brook_conf_t *conf_with(const char *name, ...)
{
        brook_conf_t *conf = brook_conf_new();
        char err[512];
        va_list ap;

        assert_int_equal(brook_conf_set(conf, "default.key.serde", "string",
                                        err, sizeof err),
                         BROOK_OK);
        assert_int_equal(brook_conf_set(conf, "default.value.serde", "string",
                                        err, sizeof err),
                         BROOK_OK);
        va_start(ap, name);
        while (name) {
                const char *value = va_arg(ap, const char *);
                if (brook_conf_set(conf, name, value, err, sizeof err))
                        fail_msg("%s=%s: %s", name, value, err);
                name = va_arg(ap, const char *);
        }
        va_end(ap);
        return conf;
}

static brook_test_driver_t *td_new(brook_builder_t *b, brook_conf_t *conf)
{
        char err[512] = "";
        brook_test_driver_t *td =
                brook_test_driver_new(b, conf, 1000, err, sizeof err);
        if (!td)
                fail_msg("brook_test_driver_new: %s", err);
        return td;
}

static brook_err_t pipe_kv(brook_test_driver_t *td, const char *topic,
                           const char *key, size_t key_size, const char *value,
                           size_t value_size, int64_t ts, char *err,
                           size_t err_size)
{
        return brook_test_driver_pipe(td, topic, key, key_size, value,
                                      value_size, ts, NULL, 0, err, err_size);
}

static void pipe_ok(brook_test_driver_t *td, const char *key, const char *value,
                    int64_t ts)
{
        char err[512] = "";
        if (pipe_kv(td, "in", key, key ? strlen(key) : 0, value,
                    value ? strlen(value) : 0, ts, err, sizeof err))
                fail_msg("pipe failed: %s", err);
}

/* Every reason's count, as "name=n,..." for the nonzero ones, and checks
 * that they sum to nothing unexpected. */
static void expect_drops(brook_test_driver_t *td, const char *want)
{
        char got[512] = "";
        int r;
        for (r = 0; brook_drop_reason_name((brook_drop_reason_t)r); r++) {
                int64_t n = brook_test_driver_records_dropped(
                        td, (brook_drop_reason_t)r);
                if (n)
                        snprintf(got + strlen(got), sizeof got - strlen(got),
                                 "%s%s=%lld", *got ? "," : "",
                                 brook_drop_reason_name((brook_drop_reason_t)r),
                                 (long long)n);
        }
        assert_string_equal(got, want);
}

/* stderr goes to a temporary file between capture_start() and
 * capture_end(), which returns what was written (free it). */
static int saved_stderr = -1;
static FILE *capture_file;

static void capture_start(void)
{
        fflush(stderr);
        capture_file = tmpfile();
        assert_non_null(capture_file);
        saved_stderr = dup(STDERR_FILENO);
        dup2(fileno(capture_file), STDERR_FILENO);
}

static char *capture_end(void)
{
        long size;
        char *out;
        fflush(stderr);
        dup2(saved_stderr, STDERR_FILENO);
        close(saved_stderr);
        size = ftell(capture_file);
        out = calloc(1, (size_t)size + 1);
        rewind(capture_file);
        assert_int_equal(fread(out, 1, (size_t)size, capture_file),
                         (size_t)size);
        fclose(capture_file);
        return out;
}

static int count_lines(const char *s, const char *needle)
{
        int n = 0;
        const char *p = s;
        while ((p = strstr(p, needle))) {
                n++;
                p += strlen(needle);
        }
        return n;
}

/* The value of header @p name of @p rec as a string (static), or NULL. */
static const char *header(const brook_test_record_t *rec, const char *name)
{
        static char buf[256];
        size_t i;
        for (i = 0; i < rec->header_cnt; i++)
                if (!strcmp(rec->headers[i].name, name)) {
                        snprintf(buf, sizeof buf, "%.*s",
                                 (int)rec->headers[i].size,
                                 (const char *)rec->headers[i].value);
                        return buf;
                }
        return NULL;
}

/* What librdkafka counts for a record against message.max.bytes, with
 * header length varints at their largest: brook cuts dead-letter records
 * to exactly this. */
static size_t wire_size(const brook_test_record_t *rec)
{
        size_t size = 36 + (rec->key ? rec->key_size : 0) +
                      (rec->value ? rec->value_size : 0),
               i;
        for (i = 0; i < rec->header_cnt; i++)
                size += 10 + strlen(rec->headers[i].name) +
                        rec->headers[i].size;
        return size;
}

static char *filled(size_t n, char c)
{
        char *s = malloc(n + 1);
        memset(s, c, n);
        s[n] = '\0';
        return s;
}

/* in -> count by key -> out (string key, int64 count). */
static void count_topology(brook_builder_t *b)
{
        brook_table_t *t = brook_grouped_count(
                brook_stream_group_by_key(brook_stream(b, "in", NULL), NULL),
                &(brook_materialized_t){.name = "counts",
                                        .caching_disabled = true});
        brook_stream_to(
                brook_table_to_stream(t), "out",
                &(brook_produced_t){.key_serde = brook_serde_string(),
                                    .value_serde = brook_serde_int64()});
}

/* ------------------------------------------------------------------ names */

static void test_reason_names(void **state)
{
        (void)state;
        assert_string_equal(
                brook_drop_reason_name(BROOK_DROP_INVALID_TIMESTAMP),
                "invalid_timestamp");
        assert_string_equal(
                brook_drop_reason_name(BROOK_DROP_DESERIALIZATION_ERROR),
                "deserialization_error");
        assert_string_equal(brook_drop_reason_name(BROOK_DROP_PROCESSING_ERROR),
                            "processing_error");
        assert_string_equal(brook_drop_reason_name(BROOK_DROP_PRODUCTION_ERROR),
                            "production_error");
        assert_string_equal(brook_drop_reason_name(BROOK_DROP_NULL_KEY),
                            "null_key");
        assert_string_equal(brook_drop_reason_name(BROOK_DROP_NULL_VALUE),
                            "null_value");
        assert_string_equal(brook_drop_reason_name(BROOK_DROP_LATE), "late");
        assert_string_equal(brook_drop_reason_name(BROOK_DROP_EXPIRED),
                            "expired");
        assert_string_equal(brook_drop_reason_name(BROOK_DROP_STALE), "stale");
        assert_string_equal(brook_drop_reason_name(BROOK_DROP_OUT_OF_ORDER),
                            "out_of_order");
        assert_null(brook_drop_reason_name((brook_drop_reason_t)10));
        assert_null(brook_drop_reason_name((brook_drop_reason_t)-1));
}

/* ----------------------------------------------------------- aggregations */

static void test_aggregate_null_key_value(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        char *log;
        (void)state;

        count_topology(b);
        td = td_new(b, conf_with(NULL));
        capture_start();
        pipe_ok(td, "a", "1", 1);
        pipe_ok(td, NULL, "2", 2); /* offset 1 */
        pipe_ok(td, "a", NULL, 3); /* offset 2 */
        pipe_ok(td, NULL, "4", 4);
        pipe_ok(td, NULL, NULL, 5); /* A null key first. */
        pipe_ok(td, "b", NULL, 6);
        pipe_ok(td, "b", "7", 7);
        log = capture_end();
        expect_drops(td, "null_key=3,null_value=2");
        assert_int_equal(
                brook_test_driver_records_dropped(td, (brook_drop_reason_t)99),
                0);
        /* One warning per reason: the rest within 10 s are counted only. */
        assert_non_null(strstr(
                log, "WARN task 0_0: node \"KSTREAM-AGGREGATE-0000000001\": "
                     "skipping record due to null key. topic=[in] "
                     "partition=[0] offset=[1] (dropped: null_key)\n"));
        assert_non_null(strstr(
                log, "WARN task 0_0: node \"KSTREAM-AGGREGATE-0000000001\": "
                     "skipping record due to null value. topic=[in] "
                     "partition=[0] offset=[2] (dropped: null_value)\n"));
        assert_int_equal(count_lines(log, "skipping record"), 2);
        free(log);
        assert_int_equal(brook_test_driver_unread(td, "out"), 2);

        /* 10 s later the next warning says how many went unlogged. */
        capture_start();
        assert_int_equal(
                brook_test_driver_advance_wall_clock(td, 9999, NULL, 0),
                BROOK_OK);
        pipe_ok(td, NULL, "8", 8);
        assert_int_equal(brook_test_driver_advance_wall_clock(td, 1, NULL, 0),
                         BROOK_OK);
        pipe_ok(td, NULL, "9", 9);
        pipe_ok(td, NULL, "10", 10);
        log = capture_end();
        assert_non_null(strstr(
                log, "skipping record due to null key. topic=[in] "
                     "partition=[0] offset=[8] (dropped: null_key; 3 more "
                     "dropped for this reason since the last warning)\n"));
        assert_int_equal(count_lines(log, "skipping record"), 1);
        free(log);
        expect_drops(td, "null_key=6,null_value=2");
        brook_test_driver_destroy(td);
}

static void *null_key_for_x(const brook_record_t *rec, void *opaque)
{
        const char *v = brook_record_value(rec);
        (void)opaque;
        return !strcmp(v, "x") ? NULL : (void *)v;
}

/* group_by's repartition drops null keys before the topic: counted too. */
static void test_repartition_null_key(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        brook_table_t *t;
        char *log;
        (void)state;

        t = brook_grouped_count(
                brook_stream_group_by(brook_stream(b, "in", NULL),
                                      null_key_for_x, NULL,
                                      &(brook_grouping_t){.name = "g"}),
                NULL);
        brook_stream_to(
                brook_table_to_stream(t), "out",
                &(brook_produced_t){.value_serde = brook_serde_int64()});
        td = td_new(b, conf_with(NULL));
        capture_start();
        pipe_ok(td, "k", "x", 1);
        pipe_ok(td, "k", "y", 2);
        pipe_ok(td, "k", "x", 3);
        log = capture_end();
        expect_drops(td, "null_key=2");
        assert_non_null(strstr(log, "skipping record due to null key before "
                                    "a repartition topic. topic=[in] "
                                    "partition=[0] offset=[0]"));
        free(log);
        assert_int_equal(brook_test_driver_unread(td, "out"), 1);
        brook_test_driver_destroy(td);
}

static void test_table_source_null_key(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        char *log;
        (void)state;

        brook_stream_to(brook_table_to_stream(brook_table(b, "in", NULL, NULL)),
                        "out", NULL);
        td = td_new(b, conf_with(NULL));
        capture_start();
        pipe_ok(td, NULL, "v", 1);
        pipe_ok(td, "k", NULL, 2); /* A tombstone is not a drop. */
        pipe_ok(td, "k", "v", 3);
        log = capture_end();
        expect_drops(td, "null_key=1");
        assert_non_null(strstr(log, "skipping record due to null key. "
                                    "topic=[in] partition=[0] offset=[0]"));
        free(log);
        brook_test_driver_destroy(td);
}

/* ------------------------------------------------------------- handlers */

static brook_err_t boom_process(brook_ctx_t *ctx, brook_record_t *rec,
                                void *state, char *errstr, size_t errstr_size)
{
        (void)state;
        if (!strcmp(brook_record_value(rec), "boom")) {
                brook__seterr(errstr, errstr_size, "boom");
                return BROOK_ERR_PROCESSING;
        }
        return brook_ctx_forward(ctx, rec, errstr, errstr_size);
}

static int64_t negative_ts(const brook_record_t *rec, int64_t pt, void *o)
{
        (void)pt;
        (void)o;
        return strcmp(brook_record_value(rec), "early") ? 5 : -1;
}

/* Deserialization, processing and timestamp drops, each under its reason;
 * stats of the handlers that drop nothing stay 0. */
static void test_handler_drops(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        brook_processor_def_t def = {.process = boom_process};
        brook_stream_t *s;
        char err[512];
        int64_t eight = 0;
        (void)state;

        s = brook_stream(
                b, "in",
                &(brook_consumed_t){.value_serde = brook_serde_string(),
                                    .timestamp_extractor = negative_ts});
        brook_stream_to(brook_stream_process(s, &def, "boom"), "out", NULL);
        brook_stream_to(
                brook_stream(b, "nums",
                             &(brook_consumed_t){.value_serde =
                                                         brook_serde_int64()}),
                "nums-out",
                &(brook_produced_t){.value_serde = brook_serde_int64()});
        td = td_new(b,
                    conf_with("default.deserialization.exception.handler",
                              "log_and_continue",
                              "default.processing.exception.handler",
                              "log_and_continue", "default.timestamp.extractor",
                              "LogAndSkipOnInvalidTimestamp", NULL));
        capture_start();
        pipe_ok(td, "k", "ok", 1);
        pipe_ok(td, "k", "boom", 2);
        pipe_ok(td, "k", "early", 3);
        pipe_ok(td, "k", "boom", 4);
        assert_int_equal(
                pipe_kv(td, "nums", "k", 1, "short", 5, 5, err, sizeof err),
                BROOK_OK);
        assert_int_equal(pipe_kv(td, "nums", "k", 1, (const char *)&eight, 8, 6,
                                 err, sizeof err),
                         BROOK_OK);
        free(capture_end());
        expect_drops(td, "invalid_timestamp=1,deserialization_error=1,"
                         "processing_error=2");
        assert_int_equal(brook_test_driver_unread(td, "out"), 1);
        assert_int_equal(brook_test_driver_unread(td, "nums-out"), 1);
        brook_test_driver_destroy(td);
}

/* ------------------------------------------------------------- production */

/* in -> out, with message.max.bytes 1000 on the driver's "producer". */
static brook_test_driver_t *small_producer_driver(const char *prod_handler,
                                                  const char *proc_handler)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_to(brook_stream(b, "in", NULL), "out", NULL);
        return td_new(b, conf_with("producer.message.max.bytes", "1000",
                                   "default.production.exception.handler",
                                   prod_handler,
                                   "default.processing.exception.handler",
                                   proc_handler, NULL));
}

static void test_too_large_output_continue(void **state)
{
        brook_test_driver_t *td =
                small_producer_driver("log_and_continue", "fail");
        brook_test_record_t rec;
        char *big = filled(2000, 'v'), *log;
        (void)state;

        capture_start();
        pipe_ok(td, "k", "first", 1);
        pipe_ok(td, "k", big, 2);
        pipe_ok(td, "k", "third", 3);
        log = capture_end();
        expect_drops(td, "production_error=1");
        assert_non_null(strstr(log, "skipping a record to topic \"out\" (input "
                                    "topic=[in] partition=[0] offset=[1]) "
                                    "after a production error: producing to "
                                    "topic \"out\" failed: Broker: Message "
                                    "size too large (dropped: "
                                    "production_error)"));
        free(log);
        assert_true(brook_test_driver_read(td, "out", &rec));
        assert_memory_equal(rec.value, "first", 5);
        assert_true(brook_test_driver_read(td, "out", &rec));
        assert_memory_equal(rec.value, "third", 5);
        assert_false(brook_test_driver_read(td, "out", &rec));
        free(big);
        brook_test_driver_destroy(td);
}

/* fail stops the driver with the topic and the cause, even when the
 * processing handler would have skipped the record. */
static void test_too_large_output_fail(void **state)
{
        const char *proc[] = {"fail", "log_and_continue", "dead_letter"};
        size_t i;
        (void)state;

        for (i = 0; i < 3; i++) {
                brook_test_driver_t *td =
                        small_producer_driver("fail", proc[i]);
                char *big = filled(2000, 'v'), err[1024] = "";

                assert_int_equal(pipe_kv(td, "in", "k", 1, big, 2000, 2, err,
                                         sizeof err),
                                 BROOK_ERR_FATAL);
                assert_string_equal(
                        err, "production error at topic \"in\" partition 0 "
                             "offset 0 (task 0_0): in node "
                             "\"KSTREAM-SINK-0000000001\": producing to topic "
                             "\"out\" failed: Broker: Message size too large");
                expect_drops(td, "");
                assert_int_equal(brook_test_driver_unread(td, "out"), 0);
                assert_int_equal(
                        brook_test_driver_unread(td, "test-driver-dlq"), 0);
                free(big);
                brook_test_driver_destroy(td);
        }
}

/* dead_letter: the refused output record goes to the dead-letter topic,
 * cut to what the producer takes, with headers naming the input record;
 * the others go on. */
static void test_too_large_output_dead_letter(void **state)
{
        brook_test_driver_t *td = small_producer_driver("dead_letter", "fail");
        brook_test_record_t rec;
        char *big = filled(2000, 'v');
        (void)state;

        pipe_ok(td, "k", "first", 1);
        pipe_ok(td, "k", big, 2);
        pipe_ok(td, "k", "third", 3);
        expect_drops(td, "");
        assert_true(brook_test_driver_read(td, "out", &rec));
        assert_memory_equal(rec.value, "first", 5);
        assert_true(brook_test_driver_read(td, "out", &rec));
        assert_memory_equal(rec.value, "third", 5);
        assert_false(brook_test_driver_read(td, "out", &rec));
        assert_true(brook_test_driver_read(td, "test-driver-dlq", &rec));
        assert_string_equal(header(&rec, "__streams.errors.exception"),
                            "brook.ProductionException");
        assert_string_equal(header(&rec, "__streams.errors.message"),
                            "producing to topic \"out\" failed: Broker: "
                            "Message size too large");
        assert_string_equal(header(&rec, "__streams.errors.topic"), "in");
        assert_string_equal(header(&rec, "__streams.errors.offset"), "1");
        assert_string_equal(header(&rec, "__streams.errors.truncated"),
                            "value");
        assert_string_equal(
                header(&rec, "__streams.errors.original.value.size"), "2000");
        assert_int_equal(rec.key_size, 1);
        assert_memory_equal(rec.key, "k", 1);
        assert_int_equal(wire_size(&rec), 1000);
        assert_memory_equal(rec.value, big, rec.value_size);
        assert_false(brook_test_driver_read(td, "test-driver-dlq", &rec));
        free(big);
        brook_test_driver_destroy(td);
}

static brook_err_t failing_serialize(const void *obj, brook_buf_t *out,
                                     void *opaque, char *errstr,
                                     size_t errstr_size)
{
        (void)out;
        (void)opaque;
        if (!strcmp(obj, "unencodable")) {
                brook__seterr(errstr, errstr_size, "cannot encode this");
                return BROOK_ERR_SERDE;
        }
        brook_buf_append(out, obj, strlen(obj));
        return BROOK_OK;
}

/* A sink's serialization error is a production error (KIP-399). */
static void test_sink_serialization_error(void **state)
{
        const char *handlers[] = {"log_and_continue", "fail", "dead_letter"};
        size_t i;
        (void)state;

        for (i = 0; i < 3; i++) {
                brook_builder_t *b = brook_builder_new();
                brook_test_driver_t *td;
                brook_serde_t *serde;
                char err[1024] = "";

                serde = brook_serde_new("picky", failing_serialize, NULL, NULL,
                                        NULL, err, sizeof err);
                assert_non_null(serde);
                brook_stream_to(brook_stream(b, "in", NULL), "out",
                                &(brook_produced_t){.value_serde = serde});
                brook_serde_destroy(serde);
                td = td_new(b, conf_with("default.production.exception.handler",
                                         handlers[i],
                                         "default.processing.exception.handler",
                                         "log_and_continue", NULL));
                capture_start();
                pipe_ok(td, "k", "fine", 1);
                if (i == 0) {
                        pipe_ok(td, "k", "unencodable", 2);
                        free(capture_end());
                        expect_drops(td, "production_error=1");
                } else if (i == 2) {
                        /* The input record, as it came. */
                        brook_test_record_t rec;
                        pipe_ok(td, "k", "unencodable", 2);
                        free(capture_end());
                        expect_drops(td, "");
                        assert_true(brook_test_driver_read(
                                td, "test-driver-dlq", &rec));
                        assert_int_equal(rec.value_size, 11);
                        assert_memory_equal(rec.value, "unencodable", 11);
                        assert_string_equal(
                                header(&rec, "__streams.errors.message"),
                                "a record for topic \"out\" could not be "
                                "serialized: cannot encode this");
                        assert_string_equal(
                                header(&rec, "__streams.errors.exception"),
                                "brook.ProductionException");
                } else {
                        assert_int_equal(pipe_kv(td, "in", "k", 1,
                                                 "unencodable", 11, 2, err,
                                                 sizeof err),
                                         BROOK_ERR_FATAL);
                        free(capture_end());
                        assert_string_equal(
                                err,
                                "production error at topic \"in\" partition 0 "
                                "offset 1 (task 0_0): in node "
                                "\"KSTREAM-SINK-0000000001\": a record for "
                                "topic \"out\" could not be serialized: "
                                "cannot encode this");
                        expect_drops(td, "");
                }
                assert_int_equal(brook_test_driver_unread(td, "out"), 1);
                brook_test_driver_destroy(td);
        }
}

/* ------------------------------------------------------------ dead letter */

/* "nums" (int64 values) -> out; what does not decode is dead-lettered, by a
 * producer whose message.max.bytes is 1000. */
static brook_test_driver_t *dlq_driver(const char *prod_handler)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_to(
                brook_stream(b, "nums",
                             &(brook_consumed_t){.value_serde =
                                                         brook_serde_int64()}),
                "out", &(brook_produced_t){.value_serde = brook_serde_int64()});
        return td_new(b, conf_with("producer.message.max.bytes", "1000",
                                   "default.deserialization.exception.handler",
                                   "dead_letter",
                                   "default.production.exception.handler",
                                   prod_handler, NULL));
}

static void test_dead_letter_small_untouched(void **state)
{
        brook_test_driver_t *td = dlq_driver("fail");
        brook_test_record_t rec;
        char err[512];
        (void)state;

        assert_int_equal(
                pipe_kv(td, "nums", "k", 1, "abc", 3, 1, err, sizeof err),
                BROOK_OK);
        assert_true(brook_test_driver_read(td, "test-driver-dlq", &rec));
        assert_int_equal(rec.value_size, 3);
        assert_null(header(&rec, "__streams.errors.truncated"));
        assert_null(header(&rec, "__streams.errors.original.value.size"));
        expect_drops(td, "");
        brook_test_driver_destroy(td);
}

static void test_dead_letter_truncated_value(void **state)
{
        brook_test_driver_t *td = dlq_driver("fail");
        brook_test_record_t rec;
        char *big = filled(5000, 'v'), err[512] = "";
        (void)state;

        assert_int_equal(
                pipe_kv(td, "nums", "key-1", 5, big, 5000, 1, err, sizeof err),
                BROOK_OK);
        assert_true(brook_test_driver_read(td, "test-driver-dlq", &rec));
        assert_string_equal(header(&rec, "__streams.errors.truncated"),
                            "value");
        assert_string_equal(header(&rec, "__streams.errors.original.key.size"),
                            "5");
        assert_string_equal(
                header(&rec, "__streams.errors.original.value.size"), "5000");
        assert_string_equal(header(&rec, "__streams.errors.topic"), "nums");
        assert_string_equal(header(&rec, "__streams.errors.offset"), "0");
        /* The key whole, the value's first bytes, exactly as many as fit. */
        assert_int_equal(rec.key_size, 5);
        assert_memory_equal(rec.key, "key-1", 5);
        assert_int_equal(wire_size(&rec), 1000);
        assert_true(rec.value_size > 0 && rec.value_size < 1000);
        assert_memory_equal(rec.value, big, rec.value_size);
        assert_false(brook_test_driver_read(td, "test-driver-dlq", &rec));
        assert_int_equal(brook_test_driver_unread(td, "out"), 0);
        expect_drops(td, "");
        free(big);
        brook_test_driver_destroy(td);
}

static void test_dead_letter_truncated_key(void **state)
{
        brook_test_driver_t *td = dlq_driver("fail");
        brook_test_record_t rec;
        char *key = filled(3000, 'k'), err[512] = "";
        (void)state;

        assert_int_equal(
                pipe_kv(td, "nums", key, 3000, "abc", 3, 1, err, sizeof err),
                BROOK_OK);
        assert_true(brook_test_driver_read(td, "test-driver-dlq", &rec));
        assert_string_equal(header(&rec, "__streams.errors.truncated"),
                            "key,value");
        assert_string_equal(header(&rec, "__streams.errors.original.key.size"),
                            "3000");
        assert_string_equal(
                header(&rec, "__streams.errors.original.value.size"), "3");
        assert_int_equal(rec.value_size, 0);
        assert_int_equal(wire_size(&rec), 1000);
        assert_memory_equal(rec.key, key, rec.key_size);
        free(key);
        brook_test_driver_destroy(td);
}

/* Headers alone over the limit: the production handler decides. */
static void test_dead_letter_cannot_fit(void **state)
{
        const char *handlers[] = {"log_and_continue", "fail"};
        size_t i;
        (void)state;

        for (i = 0; i < 2; i++) {
                brook_test_driver_t *td = dlq_driver(handlers[i]);
                char *hv = filled(1500, 'h'), err[1024] = "";
                brook_header_t h = {.name = "big", .value = hv, .size = 1500};
                brook_err_t e;

                capture_start();
                e = brook_test_driver_pipe(td, "nums", "k", 1, "abc", 3, 1, &h,
                                           1, err, sizeof err);
                free(capture_end());
                assert_int_equal(
                        brook_test_driver_unread(td, "test-driver-dlq"), 0);
                if (i == 0) {
                        assert_int_equal(e, BROOK_OK);
                        expect_drops(td, "production_error=1");
                } else {
                        assert_int_equal(e, BROOK_ERR_FATAL);
                        assert_non_null(strstr(
                                err, "deserialization error at topic \"nums\" "
                                     "partition 0 offset 0 could not be "
                                     "dead-lettered to \"test-driver-dlq\": "
                                     "its dead-letter record does not fit "
                                     "message.max.bytes (1000) even with the "
                                     "key and value cut"));
                        expect_drops(td, "");
                }
                free(hv);
                brook_test_driver_destroy(td);
        }
}

static const char *rk_header(rd_kafka_headers_t *h, const char *name)
{
        static char buf[64];
        const void *v;
        size_t n;
        if (rd_kafka_header_get_last(h, name, &v, &n))
                return NULL;
        snprintf(buf, sizeof buf, "%.*s", (int)n, (const char *)v);
        return buf;
}

static size_t rk_header_cnt(rd_kafka_headers_t *h, const char *name)
{
        const void *v;
        size_t n, i = 0;
        while (!rd_kafka_header_get(h, i, name, &v, &n))
                i++;
        return i;
}

/* Cutting again (the broker refused the cut record): the original sizes
 * stay, what was cut is said once, and a value cut to nothing before still
 * reads as cut when the key goes too. */
static void test_dead_letter_fit_again(void **state)
{
        rd_kafka_headers_t *h = rd_kafka_headers_new(4);
        char *key = filled(400, 'k'), *value = filled(4000, 'v');
        size_t ks = 400, vs = 4000;
        (void)state;

        rd_kafka_header_add(h, "__streams.errors.topic", -1, "in", -1);
        /* Fits: untouched. */
        assert_true(brook__dead_letter_fit(h, 10000, key, &ks, value, &vs));
        assert_int_equal(ks, 400);
        assert_int_equal(vs, 4000);
        assert_null(rk_header(h, "__streams.errors.truncated"));
        /* 0 is no limit. */
        assert_true(brook__dead_letter_fit(h, 0, key, &ks, value, &vs));
        assert_int_equal(vs, 4000);

        assert_true(brook__dead_letter_fit(h, 2000, key, &ks, value, &vs));
        assert_string_equal(rk_header(h, "__streams.errors.truncated"),
                            "value");
        assert_int_equal(ks, 400);
        assert_int_equal(brook__record_wire_size(ks, vs, h), 2000);

        assert_true(brook__dead_letter_fit(h, 1000, key, &ks, value, &vs));
        assert_string_equal(rk_header(h, "__streams.errors.truncated"),
                            "value");
        assert_int_equal(ks, 400);
        assert_int_equal(brook__record_wire_size(ks, vs, h), 1000);

        assert_true(brook__dead_letter_fit(h, 300, key, &ks, value, &vs));
        assert_string_equal(rk_header(h, "__streams.errors.truncated"),
                            "key,value");
        assert_int_equal(vs, 0);
        assert_int_equal(brook__record_wire_size(ks, vs, h), 300);

        /* The value is empty now, but it was cut: still "key,value". */
        assert_true(brook__dead_letter_fit(h, 250, key, &ks, value, &vs));
        assert_string_equal(rk_header(h, "__streams.errors.truncated"),
                            "key,value");
        assert_int_equal(brook__record_wire_size(ks, vs, h), 250);
        assert_string_equal(rk_header(h, "__streams.errors.original.key.size"),
                            "400");
        assert_string_equal(
                rk_header(h, "__streams.errors.original.value.size"), "4000");
        assert_int_equal(rk_header_cnt(h, "__streams.errors.truncated"), 1);
        assert_int_equal(rk_header_cnt(h, "__streams.errors.original.key.size"),
                         1);
        assert_int_equal(
                rk_header_cnt(h, "__streams.errors.original.value.size"), 1);

        /* Not even the headers fit. */
        assert_false(brook__dead_letter_fit(h, 100, key, &ks, value, &vs));
        rd_kafka_headers_destroy(h);

        /* A null value: only the key can go. */
        h = rd_kafka_headers_new(4);
        ks = 400;
        vs = 0;
        assert_true(brook__dead_letter_fit(h, 300, key, &ks, NULL, &vs));
        assert_string_equal(rk_header(h, "__streams.errors.truncated"), "key");
        assert_null(rk_header(h, "__streams.errors.original.value.size"));
        assert_int_equal(brook__record_wire_size(ks, 0, h), 300);
        rd_kafka_headers_destroy(h);
        free(key);
        free(value);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reason_names),
                cmocka_unit_test(test_aggregate_null_key_value),
                cmocka_unit_test(test_repartition_null_key),
                cmocka_unit_test(test_table_source_null_key),
                cmocka_unit_test(test_handler_drops),
                cmocka_unit_test(test_too_large_output_continue),
                cmocka_unit_test(test_too_large_output_fail),
                cmocka_unit_test(test_too_large_output_dead_letter),
                cmocka_unit_test(test_sink_serialization_error),
                cmocka_unit_test(test_dead_letter_small_untouched),
                cmocka_unit_test(test_dead_letter_truncated_value),
                cmocka_unit_test(test_dead_letter_truncated_key),
                cmocka_unit_test(test_dead_letter_cannot_fit),
                cmocka_unit_test(test_dead_letter_fit_again),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
