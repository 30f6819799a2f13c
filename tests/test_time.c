/*
 * Event time (docs/time.md): the JSON / ISO-8601 timestamp parsers, the
 * JSON field extractor and its fallback, extraction when a record becomes
 * its queue's head (so a task takes records across its partitions in
 * extracted-timestamp order, and a user extractor sees the partition time
 * of what was processed), the invalid-timestamp policies, and
 * max.task.idle.ms with enforced processing, in the test driver.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "brook_int.h"

/* ----------------------------------------------------------- helpers */

static brook_conf_t *conf_with(const char *name, ...)
{
        brook_conf_t *conf = brook_conf_new();
        char errstr[512];
        va_list ap;
        if (brook_conf_set(conf, "default.key.serde", "string", errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "default.value.serde", "string", errstr,
                           sizeof errstr))
                fail_msg("%s", errstr);
        va_start(ap, name);
        while (name) {
                const char *value = va_arg(ap, const char *);
                if (brook_conf_set(conf, name, value, errstr, sizeof errstr))
                        fail_msg("%s=%s: %s", name, value, errstr);
                name = va_arg(ap, const char *);
        }
        va_end(ap);
        return conf;
}

static brook_test_driver_t *td_new(brook_builder_t *b, brook_conf_t *conf)
{
        char errstr[512] = "";
        brook_test_driver_t *td =
                brook_test_driver_new(b, conf, 0, errstr, sizeof errstr);
        if (!td)
                fail_msg("brook_test_driver_new: %s", errstr);
        return td;
}

static brook_err_t pipe_ts(brook_test_driver_t *td, const char *topic,
                           const char *value, int64_t ts, char *errstr,
                           size_t errstr_size)
{
        return brook_test_driver_pipe(td, topic, "k", 1, value,
                                      value ? strlen(value) : 0, ts, NULL, 0,
                                      errstr, errstr_size);
}

static void pipe_ok(brook_test_driver_t *td, const char *topic,
                    const char *value, int64_t ts)
{
        char errstr[512] = "";
        if (pipe_ts(td, topic, value, ts, errstr, sizeof errstr))
                fail_msg("pipe %s: %s", value ? value : "(null)", errstr);
}

/* Everything unread on "out" as "value/timestamp,...". */
static char *drain_out(brook_test_driver_t *td)
{
        static char buf[2048];
        brook_test_record_t rec;
        size_t len = 0;
        buf[0] = '\0';
        while (brook_test_driver_read(td, "out", &rec))
                len += snprintf(buf + len, sizeof buf - len, "%s%.*s/%" PRId64,
                                len ? "," : "", (int)rec.value_size,
                                (const char *)rec.value, rec.timestamp);
        return buf;
}

/* Forwards "<topic>:<value>@<stream time>" with the record's timestamp. */
static brook_err_t tag_process(brook_ctx_t *ctx, brook_record_t *rec,
                               void *state, char *errstr, size_t errstr_size)
{
        char *v = brook_record_alloc(rec, 256);
        const char *value = brook_record_value(rec);
        (void)state;
        snprintf(v, 256, "%s:%s@%" PRId64, brook_record_topic(rec),
                 value ? value : "(null)", brook_ctx_stream_time(ctx));
        return brook_ctx_forward(
                ctx,
                brook_ctx_record_new(ctx, rec, brook_record_key(rec), v,
                                     brook_record_timestamp(rec)),
                errstr, errstr_size);
}

/* Sources "a" (consumed @p ca) and, if @p cb, "b" (@p cb) into one
 * processor, so one task reads both; it writes "out". */
static brook_builder_t *tagged(const brook_consumed_t *ca,
                               const brook_consumed_t *cb)
{
        brook_builder_t *b = brook_builder_new();
        brook_processor_def_t def = {.process = tag_process};
        char errstr[512] = "";
        if (brook_builder_add_source(b, "src-a", (const char *[]){"a"}, 1, NULL,
                                     ca, errstr, sizeof errstr) ||
            (cb &&
             brook_builder_add_source(b, "src-b", (const char *[]){"b"}, 1,
                                      NULL, cb, errstr, sizeof errstr)) ||
            brook_builder_add_processor(b, "tag", &def,
                                        (const char *[]){"src-a", "src-b"},
                                        cb ? 2 : 1, errstr, sizeof errstr) ||
            brook_builder_add_sink(b, "sink", "out", NULL, NULL, NULL,
                                   (const char *[]){"tag"}, 1, errstr,
                                   sizeof errstr))
                fail_msg("%s", errstr);
        return b;
}

#define JSON_TS(field)                                                         \
        (&(brook_consumed_t){.timestamp_field = (field),                       \
                             .version = BROOK_CONSUMED_VERSION})

/* ------------------------------------------------------------- parsers */

static int64_t iso(const char *s)
{
        int64_t ts = 0;
        char errstr[256] = "";
        if (brook_timestamp_parse_iso8601(s, strlen(s), &ts, errstr,
                                          sizeof errstr))
                fail_msg("\"%s\": %s", s, errstr);
        return ts;
}

static void iso_bad(const char *s, const char *want)
{
        int64_t ts = 42;
        char errstr[256] = "";
        assert_int_equal(brook_timestamp_parse_iso8601(s, strlen(s), &ts,
                                                       errstr, sizeof errstr),
                         BROOK_ERR_SERDE);
        assert_int_equal(ts, 42);
        assert_string_equal(errstr, want);
}

static void test_iso8601(void **state)
{
        (void)state;
        assert_int_equal(iso("2026-12-02T14:06:17.123Z"), 1796220377123LL);
        assert_int_equal(iso("2026-12-02T15:06:17.123+01:00"), 1796220377123LL);
        assert_int_equal(iso("2026-12-02T15:06:17.123+0100"), 1796220377123LL);
        assert_int_equal(iso("2026-12-02T15:06:17.123+01"), 1796220377123LL);
        assert_int_equal(iso("2026-12-02T08:36:17.123-05:30"), 1796220377123LL);
        assert_int_equal(iso("2026-12-02t14:06:17.123z"), 1796220377123LL);
        assert_int_equal(iso("2026-12-02 14:06:17.123Z"), 1796220377123LL);
        /* Past milliseconds the digits are truncated; fewer are padded. */
        assert_int_equal(iso("2026-12-02T14:06:17.123999Z"), 1796220377123LL);
        assert_int_equal(iso("2026-12-02T14:06:17,1Z"), 1796220377100LL);
        assert_int_equal(iso("2026-12-02T14:06:17Z"), 1796220377000LL);
        assert_int_equal(iso("2026-12-02T14:06Z"), 1796220360000LL);
        assert_int_equal(iso("1970-01-01T00:00:00Z"), 0);
        assert_int_equal(iso("1969-12-31T23:59:59.500Z"), -500);
        assert_int_equal(iso("2024-02-29T00:00:00Z"), 1709164800000LL);
        assert_int_equal(iso("2000-03-01T00:00:00+00:00"), 951868800000LL);
        assert_int_equal(iso("9999-12-31T23:59:59.999Z"), 253402300799999LL);

        iso_bad("2026-12-02T14:06:17",
                "\"2026-12-02T14:06:17\" is not an ISO-8601 date-time with a "
                "zone (e.g. 2026-12-02T14:06:17.123Z): no zone: expected 'Z' "
                "or an offset such as +01:00");
        iso_bad("2025-02-29T00:00:00Z",
                "\"2025-02-29T00:00:00Z\" is not an ISO-8601 date-time with a "
                "zone (e.g. 2026-12-02T14:06:17.123Z): day out of range for "
                "its month");
        iso_bad("2026-13-02T14:06:17Z",
                "\"2026-13-02T14:06:17Z\" is not an ISO-8601 date-time with a "
                "zone (e.g. 2026-12-02T14:06:17.123Z): month out of range");
        iso_bad("2026-12-02T24:00:00Z",
                "\"2026-12-02T24:00:00Z\" is not an ISO-8601 date-time with a "
                "zone (e.g. 2026-12-02T14:06:17.123Z): time out of range");
        iso_bad("2026-12-02T14:06:17.Z",
                "\"2026-12-02T14:06:17.Z\" is not an ISO-8601 date-time with a "
                "zone (e.g. 2026-12-02T14:06:17.123Z): expected digits after "
                "the decimal point");
        iso_bad("2026-12-02T14:06:17Zx",
                "\"2026-12-02T14:06:17Zx\" is not an ISO-8601 date-time with a "
                "zone (e.g. 2026-12-02T14:06:17.123Z): unexpected characters "
                "after the zone");
        iso_bad("2026-12-02T14:06:17+24:00",
                "\"2026-12-02T14:06:17+24:00\" is not an ISO-8601 date-time "
                "with a zone (e.g. 2026-12-02T14:06:17.123Z): offset out of "
                "range");
        iso_bad("1796220377123",
                "\"1796220377123\" is not an ISO-8601 date-time with a zone "
                "(e.g. 2026-12-02T14:06:17.123Z): expected a date YYYY-MM-DD");
        iso_bad("", "\"\" is not an ISO-8601 date-time with a zone (e.g. "
                    "2026-12-02T14:06:17.123Z): expected a date YYYY-MM-DD");
}

static brook_err_t json(const char *doc, const char *field, int64_t *tsp,
                        char *errstr, size_t errstr_size)
{
        errstr[0] = '\0';
        return brook_timestamp_from_json(doc, strlen(doc), field, tsp, errstr,
                                         errstr_size);
}

static int64_t json_ok(const char *doc, const char *field)
{
        int64_t ts = 0;
        char errstr[256];
        if (json(doc, field, &ts, errstr, sizeof errstr))
                fail_msg("%s: %s", doc, errstr);
        return ts;
}

static void json_bad(const char *doc, const char *field, brook_err_t want,
                     const char *why)
{
        int64_t ts = 42;
        char errstr[256];
        assert_int_equal(json(doc, field, &ts, errstr, sizeof errstr), want);
        assert_int_equal(ts, 42);
        assert_string_equal(errstr, why);
}

static void test_json_field(void **state)
{
        char errstr[64] = "";
        int64_t ts;
        (void)state;
        assert_int_equal(json_ok("{\"ts\":1796220377123}", "ts"),
                         1796220377123LL);
        assert_int_equal(json_ok(" { \"a\" : [1, {\"ts\": \"]}\"}], \"b\": "
                                 "{\"ts\": 1}, \"ts\" : -5 , \"c\": x}",
                                 "ts"),
                         -5);
        assert_int_equal(
                json_ok("{\"at\":\"2026-12-02T15:06:17.123+01:00\"}", "at"),
                1796220377123LL);
        /* Escapes in names and in the string are read. */
        assert_int_equal(
                json_ok("{\"t\\u0073\":\"2026-12-02T14:06:17.123\\u005a"
                        "\"}",
                        "ts"),
                1796220377123LL);
        assert_int_equal(
                json_ok("{\"\\u00e9t\\u00e9\":7}", "\xc3\xa9t\xc3\xa9"), 7);
        assert_int_equal(json_ok("{\"ts\":7,\"ts\":8}", "ts"), 7);
        assert_int_equal(json_ok("{\"ts\":0}", "ts"), 0);
        assert_int_equal(json_ok("{\"ts\":-9223372036854775808}", "ts"),
                         INT64_MIN);

        json_bad("{\"a\":1}", "ts", BROOK_ERR_NOT_FOUND,
                 "no field \"ts\" in the JSON object");
        json_bad("{}", "ts", BROOK_ERR_NOT_FOUND,
                 "no field \"ts\" in the JSON object");
        json_bad("{\"ts\":null}", "ts", BROOK_ERR_NOT_FOUND,
                 "field \"ts\" is null");
        json_bad("[{\"ts\":1}]", "ts", BROOK_ERR_NOT_FOUND,
                 "field \"ts\": the value is not a JSON object");
        json_bad("{\"ts\":1.5}", "ts", BROOK_ERR_SERDE,
                 "field \"ts\": not an integer number of milliseconds");
        json_bad("{\"ts\":1e3}", "ts", BROOK_ERR_SERDE,
                 "field \"ts\": not an integer number of milliseconds");
        json_bad("{\"ts\":012}", "ts", BROOK_ERR_SERDE,
                 "field \"ts\": a number with a leading zero is not JSON");
        json_bad("{\"ts\":9223372036854775808}", "ts", BROOK_ERR_SERDE,
                 "field \"ts\": the number does not fit 64 bits");
        json_bad("{\"ts\":true}", "ts", BROOK_ERR_SERDE,
                 "field \"ts\": not a number or an ISO-8601 string");
        json_bad("{\"ts\":\"yesterday\"}", "ts", BROOK_ERR_SERDE,
                 "field \"ts\": \"yesterday\" is not an ISO-8601 date-time "
                 "with a zone: expected a date YYYY-MM-DD");
        json_bad("{\"a\":\"x}", "ts", BROOK_ERR_SERDE,
                 "field \"ts\": malformed JSON: a value is cut short");
        json_bad("{\"a\" 1}", "ts", BROOK_ERR_SERDE,
                 "field \"ts\": malformed JSON: expected ':'");
        json_bad("{\"a\":1 \"ts\":2}", "ts", BROOK_ERR_SERDE,
                 "field \"ts\": malformed JSON: expected ',' or '}'");
        /* Nothing to read: a null value, NULL arguments. */
        assert_int_equal(brook_timestamp_from_json(NULL, 0, "ts", &ts, errstr,
                                                   sizeof errstr),
                         BROOK_ERR_NOT_FOUND);
        assert_int_equal(brook_timestamp_from_json("{}", 2, NULL, &ts, errstr,
                                                   sizeof errstr),
                         BROOK_ERR_INVALID_ARG);
        assert_string_equal(errstr, "brook_timestamp_from_json: field is NULL");
}

/* The committed partition time is Kafka Streams' offset metadata. */
static void test_partition_time_metadata(void **state)
{
        char buf[13];
        (void)state;
        assert_int_equal(brook__ptime_encode(1796220377123LL, buf), 12);
        assert_string_equal(buf, "AQAAAaI3E9gj");
        assert_int_equal(brook__ptime_decode(buf, 12), 1796220377123LL);
        assert_int_equal(brook__ptime_encode(0, buf), 12);
        assert_int_equal(brook__ptime_decode(buf, 12), 0);
        /* Version 2, with (empty) processor metadata after the time. */
        assert_int_equal(brook__ptime_decode("AgAAAAAAABOIAAAAAA==", 20), 5000);
        /* Not ours: another version, too short, not base64, none. */
        assert_int_equal(brook__ptime_decode("AwAAAAAAABOI", 12), -1);
        assert_int_equal(brook__ptime_decode("AQAAAaI3E9g", 11), -1);
        assert_int_equal(brook__ptime_decode("AQAAAaI3E9g!", 12), -1);
        assert_int_equal(brook__ptime_decode(NULL, 0), -1);
}

/* ------------------------------------------------- extraction and order */

/* Queued records are taken across a task's partitions by their extracted
 * timestamp, not the Kafka timestamp: "a" reads a JSON field (its Kafka
 * timestamps, 100, would put it last), "b" the Kafka timestamp. Stream
 * time is the largest timestamp processed. */
static void test_order_across_partitions(void **state)
{
        brook_test_driver_t *td =
                td_new(tagged(JSON_TS("ts"), &(brook_consumed_t){0}),
                       conf_with("max.task.idle.ms", "1000", NULL));
        (void)state;
        pipe_ok(td, "a", "{\"ts\":5}", 100);
        pipe_ok(td, "a", "{\"ts\":20}", 100);
        /* Both wait for "b", which has nothing yet. */
        assert_string_equal(drain_out(td), "");
        pipe_ok(td, "b", "b10", 10);
        /* a(5), b(10); a(20) waits again for "b". */
        assert_string_equal(drain_out(td), "a:{\"ts\":5}@5/5,b:b10@10/10");
        assert_int_equal(brook_test_driver_enforced_processing(td), 0);
        pipe_ok(td, "b", "b30", 30);
        pipe_ok(td, "a", "{\"ts\":25}", 100);
        assert_string_equal(drain_out(td),
                            "a:{\"ts\":20}@20/20,a:{\"ts\":25}@25/25");
        /* b(30) waits for "a" up to 1 s of wall clock, then goes. */
        assert_int_equal(brook_test_driver_advance_wall_clock(td, 999, NULL, 0),
                         BROOK_OK);
        assert_string_equal(drain_out(td), "");
        assert_int_equal(brook_test_driver_enforced_processing(td), 0);
        assert_int_equal(brook_test_driver_advance_wall_clock(td, 1, NULL, 0),
                         BROOK_OK);
        assert_string_equal(drain_out(td), "b:b30@30/30");
        assert_int_equal(brook_test_driver_enforced_processing(td), 1);
        brook_test_driver_destroy(td);
}

static int64_t seen[16];
static int seen_cnt;

/* The value as a number; records the partition time it was given. */
static int64_t value_ts(const brook_record_t *rec, int64_t partition_time,
                        void *opaque)
{
        (void)opaque;
        if (seen_cnt < 16)
                seen[seen_cnt++] = partition_time;
        return strtoll(brook_record_value(rec), NULL, 10);
}

/* A user extractor runs when its record becomes the head of its queue,
 * with the partition time of the records taken from it so far (Kafka
 * Streams' RecordQueue): not -1 for all, though all three were queued
 * before any was processed. */
static void test_user_extractor_partition_time(void **state)
{
        brook_test_driver_t *td = td_new(
                tagged(&(brook_consumed_t){.timestamp_extractor = value_ts},
                       &(brook_consumed_t){0}),
                conf_with("max.task.idle.ms", "1000", NULL));
        (void)state;
        seen_cnt = 0;
        pipe_ok(td, "a", "7", 100);
        pipe_ok(td, "a", "3", 100);
        pipe_ok(td, "a", "9", 100);
        assert_int_equal(seen_cnt, 1);
        assert_int_equal(seen[0], -1);
        pipe_ok(td, "b", "b50", 50);
        assert_string_equal(drain_out(td), "a:7@7/7,a:3@7/3,a:9@9/9");
        assert_int_equal(seen_cnt, 3);
        assert_int_equal(seen[1], 7);
        assert_int_equal(seen[2], 7);
        brook_test_driver_destroy(td);
}

/* max.task.idle.ms 0 (the default) processes at once when the other
 * partition is known empty, and counts it; -1 never waits or counts. */
static void test_idle_zero_and_disabled(void **state)
{
        brook_test_driver_t *td =
                td_new(tagged(NULL, &(brook_consumed_t){0}), conf_with(NULL));
        (void)state;
        pipe_ok(td, "a", "x", 5);
        pipe_ok(td, "a", "y", 6);
        assert_string_equal(drain_out(td), "a:x@5/5,a:y@6/6");
        assert_int_equal(brook_test_driver_enforced_processing(td), 2);
        pipe_ok(td, "b", "z", 7);
        assert_string_equal(drain_out(td), "b:z@7/7");
        assert_int_equal(brook_test_driver_enforced_processing(td), 3);
        brook_test_driver_destroy(td);

        td = td_new(tagged(NULL, &(brook_consumed_t){0}),
                    conf_with("max.task.idle.ms", "-1", NULL));
        pipe_ok(td, "a", "x", 5);
        pipe_ok(td, "b", "z", 3);
        assert_string_equal(drain_out(td), "a:x@5/5,b:z@5/3");
        assert_int_equal(brook_test_driver_enforced_processing(td), 0);
        brook_test_driver_destroy(td);
}

/* --------------------------------------------------- JSON extractor */

/* A missing or unreadable field falls back to the Kafka timestamp, or is
 * invalid (here skipped) with BROOK_TIMESTAMP_FALLBACK_INVALID. */
static void test_json_fallback(void **state)
{
        brook_test_driver_t *td =
                td_new(tagged(JSON_TS("at"), NULL), conf_with(NULL));
        (void)state;
        pipe_ok(td, "a", "{\"at\":\"2026-12-02T14:06:17.123Z\"}", 1);
        pipe_ok(td, "a", "{\"at\":1000}", 2);
        pipe_ok(td, "a", "{\"other\":1000}", 3);
        pipe_ok(td, "a", "not json", 4);
        pipe_ok(td, "a", NULL, 5);
        assert_string_equal(
                drain_out(td),
                "a:{\"at\":\"2026-12-02T14:06:17.123Z\"}@1796220377123/"
                "1796220377123,"
                "a:{\"at\":1000}@1796220377123/1000,"
                "a:{\"other\":1000}@1796220377123/3,"
                "a:not json@1796220377123/4,a:(null)@1796220377123/5");
        brook_test_driver_destroy(td);

        td = td_new(
                tagged(
                        &(brook_consumed_t){
                                .timestamp_field = "at",
                                .timestamp_fallback =
                                        BROOK_TIMESTAMP_FALLBACK_INVALID,
                                .invalid_timestamp =
                                        BROOK_INVALID_TIMESTAMP_LOG_AND_SKIP,
                                .version = BROOK_CONSUMED_VERSION},
                        NULL),
                conf_with(NULL));
        pipe_ok(td, "a", "{\"at\":1000}", 1);
        pipe_ok(td, "a", "{\"at\":\"2026-12-02\"}", 2);
        pipe_ok(td, "a", "{\"other\":1}", 3);
        pipe_ok(td, "a", "{\"at\":2000}", 4);
        assert_string_equal(drain_out(td), "a:{\"at\":1000}@1000/1000,"
                                           "a:{\"at\":2000}@2000/2000");
        assert_int_equal(brook_test_driver_records_dropped(
                                 td, BROOK_DROP_INVALID_TIMESTAMP),
                         2);
        brook_test_driver_destroy(td);
}

/* ----------------------------------------------------- invalid policies */

/* FailOnInvalidTimestamp is the default: the driver stops on the record,
 * naming it; nothing after it is processed. */
static void test_invalid_fail_default(void **state)
{
        brook_test_driver_t *td = td_new(tagged(NULL, NULL), conf_with(NULL));
        char errstr[512] = "";
        (void)state;
        pipe_ok(td, "a", "ok", 1);
        assert_int_equal(pipe_ts(td, "a", "bad", -7, errstr, sizeof errstr),
                         BROOK_ERR_FATAL);
        assert_string_equal(
                errstr,
                "task 0_0: record at topic \"a\" partition 0 offset 1 has an "
                "invalid (negative) timestamp -7 (FailOnInvalidTimestamp; set "
                "default.timestamp.extractor to LogAndSkipOnInvalidTimestamp "
                "or UsePartitionTimeOnInvalidTimestamp, or the source's "
                "invalid_timestamp, to go on)");
        assert_int_equal(pipe_ts(td, "a", "next", 2, errstr, sizeof errstr),
                         BROOK_ERR_FATAL);
        assert_string_equal(drain_out(td), "a:ok@1/1");
        assert_int_equal(brook_test_driver_records_dropped(
                                 td, BROOK_DROP_INVALID_TIMESTAMP),
                         0);
        brook_test_driver_destroy(td);

        /* A user extractor's negative result too. */
        td = td_new(tagged(&(brook_consumed_t){.timestamp_extractor = value_ts},
                           NULL),
                    conf_with(NULL));
        assert_int_equal(pipe_ts(td, "a", "-3", 10, errstr, sizeof errstr),
                         BROOK_ERR_FATAL);
        assert_string_equal(
                errstr,
                "task 0_0: record at topic \"a\" partition 0 offset 0 has an "
                "invalid (negative) timestamp -3 (FailOnInvalidTimestamp; set "
                "default.timestamp.extractor to LogAndSkipOnInvalidTimestamp "
                "or UsePartitionTimeOnInvalidTimestamp, or the source's "
                "invalid_timestamp, to go on)");
        brook_test_driver_destroy(td);
}

static void test_invalid_log_and_skip(void **state)
{
        brook_test_driver_t *td =
                td_new(tagged(NULL, NULL),
                       conf_with("default.timestamp.extractor",
                                 "org.apache.kafka.streams.processor."
                                 "LogAndSkipOnInvalidTimestamp",
                                 NULL));
        (void)state;
        pipe_ok(td, "a", "one", 1);
        pipe_ok(td, "a", "bad", -1);
        pipe_ok(td, "a", "two", 2);
        assert_string_equal(drain_out(td), "a:one@1/1,a:two@2/2");
        assert_int_equal(brook_test_driver_records_dropped(
                                 td, BROOK_DROP_INVALID_TIMESTAMP),
                         1);
        brook_test_driver_destroy(td);

        /* Per source: "a" skips, "b" takes the default (fail). */
        td = td_new(
                tagged(
                        &(brook_consumed_t){
                                .invalid_timestamp =
                                        BROOK_INVALID_TIMESTAMP_LOG_AND_SKIP,
                                .version = BROOK_CONSUMED_VERSION},
                        &(brook_consumed_t){0}),
                conf_with("max.task.idle.ms", "-1", NULL));
        pipe_ok(td, "a", "bad", -1);
        assert_int_equal(pipe_ts(td, "b", "bad", -1, NULL, 0), BROOK_ERR_FATAL);
        assert_int_equal(brook_test_driver_records_dropped(
                                 td, BROOK_DROP_INVALID_TIMESTAMP),
                         1);
        brook_test_driver_destroy(td);
}

static void test_invalid_use_partition_time(void **state)
{
        brook_test_driver_t *td =
                td_new(tagged(NULL, NULL),
                       conf_with("default.timestamp.extractor",
                                 "UsePartitionTimeOnInvalidTimestamp", NULL));
        char errstr[512] = "";
        (void)state;
        pipe_ok(td, "a", "one", 50);
        pipe_ok(td, "a", "two", 40);
        pipe_ok(td, "a", "bad", -1);
        assert_string_equal(drain_out(td),
                            "a:one@50/50,a:two@50/40,a:bad@50/50");
        brook_test_driver_destroy(td);

        /* No partition time yet: it fails, as Kafka Streams does. */
        td = td_new(tagged(NULL, NULL),
                    conf_with("default.timestamp.extractor",
                              "UsePartitionTimeOnInvalidTimestamp", NULL));
        assert_int_equal(pipe_ts(td, "a", "bad", -1, errstr, sizeof errstr),
                         BROOK_ERR_FATAL);
        assert_string_equal(
                errstr,
                "task 0_0: record at topic \"a\" partition 0 offset 0 has an "
                "invalid (negative) timestamp -1 and its partition time is "
                "unknown (nothing processed from the partition yet), so "
                "UsePartitionTimeOnInvalidTimestamp cannot replace it");
        brook_test_driver_destroy(td);
}

static int extractor_calls;

static int64_t counting_ts(const brook_record_t *rec, int64_t partition_time,
                           void *opaque)
{
        (void)partition_time;
        (void)opaque;
        extractor_calls++;
        return brook_record_timestamp(rec);
}

/* A record that does not decode for a user extractor is not given to it:
 * the deserialization handler has it, as when it is processed. */
static void test_user_extractor_deser_error(void **state)
{
        brook_test_driver_t *td = td_new(
                tagged(&(brook_consumed_t){.value_serde = brook_serde_int64(),
                                           .timestamp_extractor = counting_ts},
                       NULL),
                conf_with("default.deserialization.exception.handler",
                          "log_and_continue", NULL));
        char errstr[512] = "";
        (void)state;
        extractor_calls = 0;
        assert_int_equal(pipe_ts(td, "a", "short", 1, errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(extractor_calls, 0);
        assert_int_equal(brook_test_driver_records_dropped(
                                 td, BROOK_DROP_DESERIALIZATION_ERROR),
                         1);
        assert_int_equal(brook_test_driver_unread(td, "out"), 0);
        brook_test_driver_destroy(td);

        td = td_new(
                tagged(&(brook_consumed_t){.value_serde = brook_serde_int64(),
                                           .timestamp_extractor = counting_ts},
                       NULL),
                conf_with(NULL));
        assert_int_equal(pipe_ts(td, "a", "short", 1, errstr, sizeof errstr),
                         BROOK_ERR_FATAL);
        assert_int_equal(extractor_calls, 0);
        assert_non_null(strstr(errstr, "deserialization error at topic \"a\" "
                                       "partition 0 offset 0 (task 0_0): "
                                       "value: "));
        brook_test_driver_destroy(td);
}

/* --------------------------------------------------- configuration */

static void test_conf(void **state)
{
        brook_conf_t *conf = brook_conf_new();
        char errstr[512] = "";
        (void)state;
        assert_string_equal(brook_conf_get(conf, "default.timestamp.extractor"),
                            "FailOnInvalidTimestamp");
        assert_string_equal(brook_conf_get(conf, "max.task.idle.ms"), "0");
        assert_int_equal(brook_conf_set(conf, "default.timestamp.extractor",
                                        "WallclockTimestampExtractor", errstr,
                                        sizeof errstr),
                         BROOK_ERR_CONF_INVALID);
        assert_non_null(strstr(errstr, "brook has no wall-clock extractor"));
        assert_int_equal(brook_conf_set(conf, "max.task.idle.ms", "-2", errstr,
                                        sizeof errstr),
                         BROOK_ERR_CONF_INVALID);
        assert_int_equal(brook_conf_set(conf, "consumer.enable.partition.eof",
                                        "false", errstr, sizeof errstr),
                         BROOK_ERR_CONF_INVALID);
        assert_int_equal(brook_conf_set(conf, "max.task.idle.ms", "-1", errstr,
                                        sizeof errstr),
                         BROOK_OK);
        brook_conf_destroy(conf);
}

static void test_consumed_checks(void **state)
{
        brook_builder_t *b = brook_builder_new();
        char errstr[512] = "";
        (void)state;
        assert_int_equal(
                brook_builder_add_source(
                        b, "s", (const char *[]){"a"}, 1, NULL,
                        &(brook_consumed_t){.timestamp_extractor = value_ts,
                                            .timestamp_field = "ts",
                                            .version = BROOK_CONSUMED_VERSION},
                        errstr, sizeof errstr),
                BROOK_ERR_INVALID_ARG);
        assert_string_equal(errstr,
                            "source \"s\": brook_consumed_t: "
                            "timestamp_extractor and timestamp_field are both "
                            "set; a source has one extractor");
        brook_builder_destroy(b);
        /* Version 1 structs do not have the members: not read. */
        b = brook_builder_new();
        assert_int_equal(
                brook_builder_add_source(b, "s", (const char *[]){"a"}, 1, NULL,
                                         &(brook_consumed_t){.version = 1},
                                         errstr, sizeof errstr),
                BROOK_OK);
        brook_builder_destroy(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_iso8601),
                cmocka_unit_test(test_json_field),
                cmocka_unit_test(test_partition_time_metadata),
                cmocka_unit_test(test_order_across_partitions),
                cmocka_unit_test(test_user_extractor_partition_time),
                cmocka_unit_test(test_idle_zero_and_disabled),
                cmocka_unit_test(test_json_fallback),
                cmocka_unit_test(test_invalid_fail_default),
                cmocka_unit_test(test_invalid_log_and_skip),
                cmocka_unit_test(test_invalid_use_partition_time),
                cmocka_unit_test(test_user_extractor_deser_error),
                cmocka_unit_test(test_conf),
                cmocka_unit_test(test_consumed_checks),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
