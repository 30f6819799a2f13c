/*
 * Integration: record-level failures on the real broker. A record too
 * large for the producer (message.max.bytes, refused at once) or for the
 * topic (max.message.bytes, refused by the broker in the delivery report)
 * goes to the production handler: log_and_continue drops and counts it and
 * the app goes on; fail stops the app naming the topic and the cause. A
 * dead-letter record too large for the producer is cut to fit, with
 * headers saying what was cut and the original sizes. A topic chooser
 * that names each record's topic in one reused buffer sends each where
 * it says.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "brook_int.h"
#include "kafka_util.h"

#define WAIT_MS 60000

static brook_conf_t *conf_for(const char *app_id, const char *name, ...)
{
        brook_conf_t *conf = brook_conf_new();
        char errstr[512];
        va_list ap;
        if (brook_conf_set(conf, "application.id", app_id, errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "bootstrap.servers", kt_bootstrap(), errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "commit.interval.ms", "200", errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "default.key.serde", "string", errstr,
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

static void produce_one(const char *topic, const char *key, const void *value,
                        size_t value_size)
{
        rd_kafka_t *rk = kt_producer();
        kt_produce(rk, topic, 0, key, value, value_size, NULL);
        kt_producer_close(rk);
}

static char *filled(size_t n, char c)
{
        char *s = malloc(n + 1);
        memset(s, c, n);
        s[n] = '\0';
        return s;
}

/* @p n bytes the broker cannot take in fewer (kt_incompressible()). */
static char *noise(size_t n)
{
        char *s = malloc(n + 1);
        kt_incompressible(s, n);
        s[n] = '\0';
        return s;
}

/* Values of @p topic, in order, as "v1,v2,..." (values assumed short). */
struct collect {
        char buf[4096];
        int cnt;
};

static void collect_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        struct collect *c = opaque;
        snprintf(c->buf + strlen(c->buf), sizeof c->buf - strlen(c->buf),
                 "%s%.*s", c->cnt++ ? "," : "", (int)rkm->len,
                 (const char *)rkm->payload);
}

static void expect_values(const char *topic, const char *want)
{
        struct collect c = {.buf = "", .cnt = 0};
        kt_consume_all(topic, collect_cb, &c);
        assert_string_equal(c.buf, want);
}

struct drops_wait {
        brook_app_t *app;
        brook_drop_reason_t reason;
        int64_t want;
};

static bool drops_reached(void *opaque)
{
        struct drops_wait *w = opaque;
        return brook_app_records_dropped(w->app, w->reason) >= w->want;
}

static void wait_drops(brook_app_t *app, brook_drop_reason_t reason,
                       int64_t want)
{
        struct drops_wait w = {app, reason, want};
        if (!kt_wait_until(drops_reached, &w, 20, WAIT_MS))
                fail_msg("%s drops: %" PRId64 ", expected %" PRId64,
                         brook_drop_reason_name(reason),
                         brook_app_records_dropped(app, reason), want);
        assert_int_equal(brook_app_records_dropped(app, reason), want);
}

static void expect_only_drops(brook_app_t *app, brook_drop_reason_t reason,
                              int64_t want)
{
        brook_app_stats_t st;
        int r;
        for (r = 0; brook_drop_reason_name((brook_drop_reason_t)r); r++)
                assert_int_equal(
                        brook_app_records_dropped(app, (brook_drop_reason_t)r),
                        r == (int)reason ? want : 0);
        brook_app_stats(app, &st);
        assert_int_equal(st.records_dropped, want);
}

static brook_app_t *start_pipe(const char *app_id, const char *in,
                               const char *out, brook_conf_t *conf)
{
        brook_builder_t *b = brook_builder_new();
        brook_app_t *app;
        char errstr[1024] = "";
        brook_stream_to(brook_stream(b, in, NULL), out, NULL);
        app = brook_app_new(b, conf, errstr, sizeof errstr);
        if (!app)
                fail_msg("brook_app_new: %s", errstr);
        if (brook_app_start(app, errstr, sizeof errstr))
                fail_msg("brook_app_start: %s", errstr);
        (void)app_id;
        return app;
}

static void wait_error(brook_app_t *app, char *errstr, size_t errstr_size)
{
        assert_int_equal(brook_app_wait(app, WAIT_MS), BROOK_APP_ERROR);
        assert_int_equal(brook_app_state(app, errstr, errstr_size),
                         BROOK_APP_ERROR);
}

/* ------------------------------------------------- chosen topics */

/* One buffer for every record's topic: the sink sees the same pointer
 * with another name, record after record. */
struct chooser {
        char topic[128];
        const char *even, *odd;
};

static const char *choose_by_value(const brook_record_t *rec, void *opaque)
{
        struct chooser *c = opaque;
        const char *v = brook_record_value(rec);
        snprintf(c->topic, sizeof c->topic, "%s",
                 (v[strlen(v) - 1] - '0') % 2 ? c->odd : c->even);
        return c->topic;
}

/* Each record goes to the topic its chooser names, though the name comes
 * in one buffer whose contents change (the producer's topic handles are
 * looked up by the name, whatever its pointer). */
static void test_chooser_reused_buffer(void **state)
{
        char *app_id = kt_unique("chooser-app"), *in = kt_unique("chooser-in");
        char *even = kt_unique("chooser-even"), *odd = kt_unique("chooser-odd");
        struct chooser c = {.even = even, .odd = odd};
        brook_builder_t *b = brook_builder_new();
        rd_kafka_t *rk;
        brook_app_t *app;
        char errstr[1024] = "", v[16];
        (void)state;

        kt_create_topic(in, 1);
        kt_create_topic(even, 1);
        kt_create_topic(odd, 1);
        rk = kt_producer();
        for (int i = 0; i < 10; i++) {
                snprintf(v, sizeof v, "v%d", i);
                kt_produce(rk, in, 0, "k", v, strlen(v), NULL);
        }
        kt_producer_close(rk);
        brook_stream_to_chooser(brook_stream(b, in, NULL), choose_by_value, &c,
                                NULL);
        app = brook_app_new(b, conf_for(app_id, NULL), errstr, sizeof errstr);
        if (!app)
                fail_msg("brook_app_new: %s", errstr);
        if (brook_app_start(app, errstr, sizeof errstr))
                fail_msg("brook_app_start: %s", errstr);
        assert_int_equal(kt_wait_count(even, 5, WAIT_MS), 5);
        assert_int_equal(kt_wait_count(odd, 5, WAIT_MS), 5);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
        expect_values(even, "v0,v2,v4,v6,v8");
        expect_values(odd, "v1,v3,v5,v7,v9");
        free(app_id);
        free(in);
        free(even);
        free(odd);
}

/* ------------------------------------------- refused by the producer */

static void test_producer_too_large_continue(void **state)
{
        char *app_id = kt_unique("rec-cont"), *in = kt_unique("rec-cont-in"),
             *out = kt_unique("rec-cont-out");
        char *big = filled(20000, 'v');
        brook_app_t *app;
        rd_kafka_t *rk;
        (void)state;

        kt_create_topic(in, 1);
        kt_create_topic(out, 1);
        rk = kt_producer();
        kt_produce(rk, in, 0, "k", "first", 5, NULL);
        kt_produce(rk, in, 0, "k", big, 20000, NULL);
        kt_produce(rk, in, 0, "k", "third", 5, NULL);
        kt_producer_close(rk);
        app = start_pipe(app_id, in, out,
                         conf_for(app_id, "producer.message.max.bytes", "10000",
                                  "default.production.exception.handler",
                                  "log_and_continue", NULL));
        assert_int_equal(kt_wait_count(out, 2, WAIT_MS), 2);
        wait_drops(app, BROOK_DROP_PRODUCTION_ERROR, 1);
        expect_values(out, "first,third");
        /* The app goes on: the next records come out, and the dropped
         * record's offset commits with the rest. */
        produce_one(in, "k", "fourth", 6);
        assert_int_equal(kt_wait_count(out, 3, WAIT_MS), 3);
        assert_int_equal(kt_wait_committed(app_id, in, 1, 4, WAIT_MS), 4);
        assert_int_equal(brook_app_state(app, NULL, 0), BROOK_APP_RUNNING);
        expect_only_drops(app, BROOK_DROP_PRODUCTION_ERROR, 1);
        expect_values(out, "first,third,fourth");
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        expect_only_drops(app, BROOK_DROP_PRODUCTION_ERROR, 1);
        brook_app_destroy(app);
        free(big);
        free(app_id);
        free(in);
        free(out);
}

static void test_producer_too_large_fail(void **state)
{
        char *app_id = kt_unique("rec-fail"), *in = kt_unique("rec-fail-in"),
             *out = kt_unique("rec-fail-out");
        char *big = filled(20000, 'v'), errstr[1024] = "", want[512];
        brook_app_t *app;
        rd_kafka_t *rk;
        (void)state;

        kt_create_topic(in, 1);
        kt_create_topic(out, 1);
        rk = kt_producer();
        kt_produce(rk, in, 0, "k", "first", 5, NULL);
        kt_produce(rk, in, 0, "k", big, 20000, NULL);
        kt_produce(rk, in, 0, "k", "third", 5, NULL);
        kt_producer_close(rk);
        /* The processing handler would skip it: production errors are not
         * its to handle. */
        app = start_pipe(app_id, in, out,
                         conf_for(app_id, "producer.message.max.bytes", "10000",
                                  "default.processing.exception.handler",
                                  "log_and_continue", NULL));
        wait_error(app, errstr, sizeof errstr);
        snprintf(want, sizeof want,
                 "production error at topic \"%s\" partition 0 offset 1 "
                 "(task 0_0): in node \"KSTREAM-SINK-0000000001\": "
                 "producing to topic \"%s\" failed: Broker: Message size "
                 "too large",
                 in, out);
        assert_string_equal(errstr, want);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        expect_only_drops(app, BROOK_DROP_PRODUCTION_ERROR, 0);
        brook_app_destroy(app);
        /* Nothing past the failed record: its offset is not committed. */
        expect_values(out, "first");
        assert_int_equal(kt_committed(app_id, in, 0), 1);
        free(big);
        free(app_id);
        free(in);
        free(out);
}

/* ------------------------------------------- refused by the broker */

static void test_broker_too_large_continue(void **state)
{
        char *app_id = kt_unique("rec-bcont"), *in = kt_unique("rec-bcont-in"),
             *out = kt_unique("rec-bcont-out");
        char *big = noise(20000);
        brook_app_t *app;
        (void)state;

        kt_create_topic(in, 1);
        kt_create_topic_with(out, 1, "max.message.bytes", "5000");
        app = start_pipe(app_id, in, out,
                         conf_for(app_id,
                                  "default.production.exception.handler",
                                  "log_and_continue", NULL));
        /* One at a time: the broker refuses a whole batch, so the small
         * records must not share the big one's. */
        produce_one(in, "k", "first", 5);
        assert_int_equal(kt_wait_count(out, 1, WAIT_MS), 1);
        produce_one(in, "k", big, 20000);
        wait_drops(app, BROOK_DROP_PRODUCTION_ERROR, 1);
        produce_one(in, "k", "third", 5);
        assert_int_equal(kt_wait_count(out, 2, WAIT_MS), 2);
        assert_int_equal(kt_wait_committed(app_id, in, 1, 3, WAIT_MS), 3);
        assert_int_equal(brook_app_state(app, NULL, 0), BROOK_APP_RUNNING);
        expect_only_drops(app, BROOK_DROP_PRODUCTION_ERROR, 1);
        expect_values(out, "first,third");
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
        free(big);
        free(app_id);
        free(in);
        free(out);
}

static void test_broker_too_large_fail(void **state)
{
        char *app_id = kt_unique("rec-bfail"), *in = kt_unique("rec-bfail-in"),
             *out = kt_unique("rec-bfail-out");
        char *big = noise(20000), errstr[1024] = "", want[512];
        brook_app_t *app;
        (void)state;

        kt_create_topic(in, 1);
        kt_create_topic_with(out, 1, "max.message.bytes", "5000");
        app = start_pipe(app_id, in, out, conf_for(app_id, NULL));
        produce_one(in, "k", "first", 5);
        assert_int_equal(kt_wait_count(out, 1, WAIT_MS), 1);
        assert_int_equal(kt_wait_committed(app_id, in, 1, 1, WAIT_MS), 1);
        produce_one(in, "k", big, 20000);
        wait_error(app, errstr, sizeof errstr);
        snprintf(want, sizeof want,
                 "production error: a record to topic \"%s\" partition 0 "
                 "was not delivered: Broker: Message size too large",
                 out);
        assert_string_equal(errstr, want);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
        /* The record whose output was lost is not committed. */
        assert_int_equal(kt_committed(app_id, in, 0), 1);
        expect_values(out, "first");
        free(big);
        free(app_id);
        free(in);
        free(out);
}

/* ------------------------------------------------------------ dead letter */

struct dlq_check {
        const char *big;
        int cnt;
};

static const char *hdr(rd_kafka_headers_t *h, const char *name, char *buf,
                       size_t size)
{
        const void *v;
        size_t n;
        if (!h || rd_kafka_header_get_last(h, name, &v, &n))
                return NULL;
        snprintf(buf, size, "%.*s", (int)n, (const char *)v);
        return buf;
}

static void dlq_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        struct dlq_check *c = opaque;
        rd_kafka_headers_t *h = NULL;
        char buf[256];
        size_t wire = 36 + rkm->key_len + rkm->len, i;
        const char *name;
        const void *v;
        size_t n;

        c->cnt++;
        assert_int_equal(rd_kafka_message_headers(rkm, &h), 0);
        assert_string_equal(
                hdr(h, "__streams.errors.truncated", buf, sizeof buf), "value");
        assert_string_equal(
                hdr(h, "__streams.errors.original.key.size", buf, sizeof buf),
                "5");
        assert_string_equal(
                hdr(h, "__streams.errors.original.value.size", buf, sizeof buf),
                "20000");
        assert_string_equal(hdr(h, "__streams.errors.offset", buf, sizeof buf),
                            "0");
        assert_int_equal(rkm->key_len, 5);
        assert_memory_equal(rkm->key, "key-1", 5);
        assert_memory_equal(rkm->payload, c->big, rkm->len);
        /* Cut to exactly what message.max.bytes (10000) takes, as brook
         * counts header sizes (their length varints at their largest). */
        for (i = 0; !rd_kafka_header_get_all(h, i, &name, &v, &n); i++)
                wire += 10 + strlen(name) + n;
        assert_int_equal(wire, 10000);
        assert_true(rkm->len > 9000 && rkm->len < 10000);
}

static void test_dead_letter_truncated(void **state)
{
        char *app_id = kt_unique("rec-dlq"), *in = kt_unique("rec-dlq-in"),
             *out = kt_unique("rec-dlq-out"), dlq[512];
        char *big = filled(20000, 'v');
        brook_builder_t *b = brook_builder_new();
        brook_app_t *app;
        brook_app_stats_t st;
        struct dlq_check c = {big, 0};
        char errstr[1024] = "";
        unsigned char eight[8] = {0, 0, 0, 0, 0, 0, 0, 42};
        rd_kafka_t *rk;
        (void)state;

        kt_create_topic(in, 1);
        kt_create_topic(out, 1);
        snprintf(dlq, sizeof dlq, "%s-dlq", app_id);
        rk = kt_producer();
        kt_produce(rk, in, 0, "key-1", big, 20000, NULL);
        kt_produce(rk, in, 0, "key-2", eight, 8, NULL);
        kt_producer_close(rk);
        brook_stream_to(
                brook_stream(b, in,
                             &(brook_consumed_t){.value_serde =
                                                         brook_serde_int64()}),
                out, &(brook_produced_t){.value_serde = brook_serde_int64()});
        app = brook_app_new(
                b,
                conf_for(app_id, "producer.message.max.bytes", "10000",
                         "default.deserialization.exception.handler",
                         "dead_letter", NULL),
                errstr, sizeof errstr);
        assert_non_null(app);
        if (brook_app_start(app, errstr, sizeof errstr))
                fail_msg("start: %s", errstr);
        assert_int_equal(kt_wait_count(dlq, 1, WAIT_MS), 1);
        assert_int_equal(kt_wait_count(out, 1, WAIT_MS), 1);
        assert_int_equal(kt_wait_committed(app_id, in, 1, 2, WAIT_MS), 2);
        assert_int_equal(brook_app_state(app, NULL, 0), BROOK_APP_RUNNING);
        brook_app_stats(app, &st);
        assert_int_equal(st.records_dead_lettered, 1);
        expect_only_drops(app, BROOK_DROP_PRODUCTION_ERROR, 0);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
        kt_consume_all(dlq, dlq_cb, &c);
        assert_int_equal(c.cnt, 1);
        free(big);
        free(app_id);
        free(in);
        free(out);
}

/* The dead-letter topic takes records of at most 3000 bytes, which the
 * producer (message.max.bytes 1 MB) does not know: the broker refuses the
 * copy, and brook sends it again, halving it until it fits. */
struct dlq_broker_check {
        const char *big;
        int cnt;
};

static void dlq_broker_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        struct dlq_broker_check *c = opaque;
        rd_kafka_headers_t *h = NULL;
        char buf[256];
        size_t wire = 36 + rkm->key_len + rkm->len, i, n;
        const char *name;
        const void *v;

        c->cnt++;
        assert_int_equal(rd_kafka_message_headers(rkm, &h), 0);
        assert_string_equal(
                hdr(h, "__streams.errors.truncated", buf, sizeof buf), "value");
        assert_string_equal(
                hdr(h, "__streams.errors.original.key.size", buf, sizeof buf),
                "5");
        assert_string_equal(
                hdr(h, "__streams.errors.original.value.size", buf, sizeof buf),
                "20000");
        /* Said once, however many times it was cut. */
        for (i = 0, n = 0;
             !rd_kafka_header_get(h, i, "__streams.errors.truncated", &v, &n);
             i++)
                ;
        assert_int_equal(i, 1);
        assert_int_equal(rkm->key_len, 5);
        assert_memory_equal(rkm->key, "key-1", 5);
        assert_memory_equal(rkm->payload, c->big, rkm->len);
        for (i = 0; !rd_kafka_header_get_all(h, i, &name, &v, &n); i++)
                wire += 10 + strlen(name) + n;
        /* Halved until the broker took it: under its limit, over half. */
        assert_true(wire <= 3000);
        assert_true(wire > 1500);
}

static void test_dead_letter_refused_by_broker(void **state)
{
        char *app_id = kt_unique("rec-bdlq"), *in = kt_unique("rec-bdlq-in"),
             *out = kt_unique("rec-bdlq-out"), dlq[512];
        char *big = noise(20000);
        brook_builder_t *b = brook_builder_new();
        brook_app_t *app;
        brook_app_stats_t st;
        struct dlq_broker_check c = {big, 0};
        char errstr[1024] = "";
        unsigned char eight[8] = {0, 0, 0, 0, 0, 0, 0, 42};
        rd_kafka_t *rk;
        (void)state;

        kt_create_topic(in, 1);
        kt_create_topic(out, 1);
        snprintf(dlq, sizeof dlq, "%s-dlq", app_id);
        kt_create_topic_with(dlq, 1, "max.message.bytes", "3000");
        rk = kt_producer();
        kt_produce(rk, in, 0, "key-1", big, 20000, NULL);
        kt_produce(rk, in, 0, "key-2", eight, 8, NULL);
        kt_producer_close(rk);
        brook_stream_to(
                brook_stream(b, in,
                             &(brook_consumed_t){.value_serde =
                                                         brook_serde_int64()}),
                out, &(brook_produced_t){.value_serde = brook_serde_int64()});
        app = brook_app_new(
                b,
                conf_for(app_id, "default.deserialization.exception.handler",
                         "dead_letter", NULL),
                errstr, sizeof errstr);
        assert_non_null(app);
        if (brook_app_start(app, errstr, sizeof errstr))
                fail_msg("start: %s", errstr);
        assert_int_equal(kt_wait_count(dlq, 1, WAIT_MS), 1);
        assert_int_equal(kt_wait_count(out, 1, WAIT_MS), 1);
        assert_int_equal(kt_wait_committed(app_id, in, 1, 2, WAIT_MS), 2);
        assert_int_equal(brook_app_state(app, NULL, 0), BROOK_APP_RUNNING);
        brook_app_stats(app, &st);
        assert_int_equal(st.records_dead_lettered, 1);
        expect_only_drops(app, BROOK_DROP_PRODUCTION_ERROR, 0);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
        kt_consume_all(dlq, dlq_broker_cb, &c);
        assert_int_equal(c.cnt, 1);
        free(big);
        free(app_id);
        free(in);
        free(out);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_producer_too_large_continue),
                cmocka_unit_test(test_producer_too_large_fail),
                cmocka_unit_test(test_broker_too_large_continue),
                cmocka_unit_test(test_broker_too_large_fail),
                cmocka_unit_test(test_dead_letter_truncated),
                cmocka_unit_test(test_dead_letter_refused_by_broker),
                cmocka_unit_test(test_chooser_reused_buffer),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
