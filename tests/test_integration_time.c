/*
 * Integration: event time on the real broker (docs/time.md). One task
 * reads two co-partitioned topics, each with a JSON timestamp field, and
 * writes what it processes, in order, to an output topic.
 *
 *  - max.task.idle.ms 0 (KIP-695): records already on the broker for both
 *    topics are processed in timestamp order across them, however the
 *    fetches come; when one topic runs out, the other goes on at once,
 *    counted as enforced processing.
 *  - max.task.idle.ms 5000: one topic's records arrive only after the app
 *    has started; the task waits for them and processes both in timestamp
 *    order, then gives up waiting for the topic that ran dry and counts
 *    it.
 *  - An invalid (negative) timestamp stops the app under the default
 *    FailOnInvalidTimestamp, naming the record.
 *  - The partition time is committed with the offsets and a restarted app
 *    starts from it.
 *  - buffered.records.per.partition bounds what a waiting task holds.
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

static brook_err_t pass(brook_ctx_t *ctx, brook_record_t *rec, void *state,
                        char *errstr, size_t errstr_size)
{
        (void)state;
        return brook_ctx_forward(ctx, rec, errstr, errstr_size);
}

/* Topics @p a and @p b, timestamps in their values' "ts", through one
 * processor (one task) to @p out. */
static brook_app_t *start_merge(const char *a, const char *b, const char *out,
                                brook_conf_t *conf)
{
        brook_builder_t *bld = brook_builder_new();
        brook_processor_def_t def = {.process = pass};
        brook_consumed_t consumed = {.timestamp_field = "ts",
                                     .version = BROOK_CONSUMED_VERSION};
        brook_app_t *app;
        char errstr[1024] = "";
        if (brook_builder_add_source(bld, "src-a", &a, 1, NULL, &consumed,
                                     errstr, sizeof errstr) ||
            brook_builder_add_source(bld, "src-b", &b, 1, NULL, &consumed,
                                     errstr, sizeof errstr) ||
            brook_builder_add_processor(bld, "merge", &def,
                                        (const char *[]){"src-a", "src-b"}, 2,
                                        errstr, sizeof errstr) ||
            brook_builder_add_sink(bld, "sink", out, NULL, NULL, NULL,
                                   (const char *[]){"merge"}, 1, errstr,
                                   sizeof errstr))
                fail_msg("%s", errstr);
        if (!(app = brook_app_new(bld, conf, errstr, sizeof errstr)))
                fail_msg("brook_app_new: %s", errstr);
        if (brook_app_start(app, errstr, sizeof errstr))
                fail_msg("brook_app_start: %s", errstr);
        return app;
}

/* Produces {"ts":<ts>,"v":"<v>"} for each (v, ts) pair, to partition 0. */
static void produce_ts(const char *topic, ...)
{
        rd_kafka_t *rk = kt_producer();
        const char *v;
        va_list ap;
        va_start(ap, topic);
        while ((v = va_arg(ap, const char *))) {
                long long ts = va_arg(ap, long long);
                char value[128];
                int n = snprintf(value, sizeof value,
                                 "{\"ts\":%lld,\"v\":\"%s\"}", ts, v);
                kt_produce(rk, topic, 0, "k", value, (size_t)n, NULL);
        }
        va_end(ap);
        kt_producer_close(rk);
}

struct collect {
        char buf[4096];
        int cnt;
};

/* Collects the "v" of each output value. */
static void collect_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        struct collect *c = opaque;
        char value[256];
        const char *v, *end;
        snprintf(value, sizeof value, "%.*s", (int)rkm->len,
                 (const char *)rkm->payload);
        if (!(v = strstr(value, "\"v\":\"")) || !(end = strchr(v + 5, '"')))
                fail_msg("unexpected output %s", value);
        snprintf(c->buf + strlen(c->buf), sizeof c->buf - strlen(c->buf),
                 "%s%.*s", c->cnt++ ? "," : "", (int)(end - (v + 5)), v + 5);
}

/* Likewise, "v@timestamp". */
static void collect_ts_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        struct collect *c = opaque;
        collect_cb(rkm, opaque);
        snprintf(c->buf + strlen(c->buf), sizeof c->buf - strlen(c->buf),
                 "@%" PRId64, rd_kafka_message_timestamp(rkm, NULL));
}

static void expect_values_ts(const char *topic, const char *want)
{
        struct collect c = {.buf = "", .cnt = 0};
        kt_consume_all(topic, collect_ts_cb, &c);
        assert_string_equal(c.buf, want);
}

static void expect_values(const char *topic, const char *want)
{
        struct collect c = {.buf = "", .cnt = 0};
        kt_consume_all(topic, collect_cb, &c);
        assert_string_equal(c.buf, want);
}

static bool assigned(void *opaque)
{
        brook_app_stats_t st;
        brook_app_stats(opaque, &st);
        return st.rebalances >= 1;
}

static bool enforced_once(void *opaque)
{
        return brook_app_enforced_processing(opaque) >= 1;
}

static void free_all(char *a, char *b, char *c, char *d)
{
        free(a);
        free(b);
        free(c);
        free(d);
}

/* The output records of these tests carry their event times (a record at
 * "ts":1000 is from 1970): under a time retention, the broker's retention
 * check deletes them whenever it runs during a test, and the output comes
 * up short (a count stuck at 1 of 4: offsets 0-2 deleted). The test
 * broker (tools/kafka/broker) has no time retention; a broker that has
 * one fails here, not at random below. */
static void test_broker_keeps_old_records(void **state)
{
        char *topic = kt_unique("time-retention"), *v;
        (void)state;

        kt_create_topic(topic, 1);
        v = kt_topic_config(topic, "retention.ms");
        assert_non_null(v);
        if (strcmp(v, "-1"))
                fail_msg("topic %s has retention.ms=%s: records with event "
                         "times near 0 would be deleted mid-test; start the "
                         "broker with log.retention.ms=-1 "
                         "(tools/kafka/broker does)",
                         topic, v);
        free(v);
        free(topic);
}

static void test_idle_zero_orders_fetched_data(void **state)
{
        char *app_id = kt_unique("time-zero"), *a = kt_unique("time-zero-a"),
             *b = kt_unique("time-zero-b"), *out = kt_unique("time-zero-out");
        brook_app_t *app;
        (void)state;

        kt_create_topic(a, 1);
        kt_create_topic(b, 1);
        kt_create_topic(out, 1);
        produce_ts(a, "a1000", 1000LL, "a3000", 3000LL, (char *)NULL);
        produce_ts(b, "b2000", 2000LL, "b4000", 4000LL, (char *)NULL);
        app = start_merge(a, b, out, conf_for(app_id, NULL));
        assert_int_equal(kt_wait_count(out, 4, WAIT_MS), 4);
        expect_values(out, "a1000,b2000,a3000,b4000");
        /* b4000 went once "a" was known to have nothing more. */
        assert_true(kt_wait_until(enforced_once, app, 20, WAIT_MS));
        assert_int_equal(brook_app_enforced_processing(app), 1);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        assert_int_equal(brook_app_enforced_processing(app), 1);
        brook_app_destroy(app);
        free_all(app_id, a, b, out);
}

static void test_idle_waits_for_late_partition(void **state)
{
        char *app_id = kt_unique("time-idle"), *a = kt_unique("time-idle-a"),
             *b = kt_unique("time-idle-b"), *out = kt_unique("time-idle-out");
        brook_app_t *app;
        (void)state;

        kt_create_topic(a, 1);
        kt_create_topic(b, 1);
        kt_create_topic(out, 1);
        produce_ts(a, "a1000", 1000LL, "a3000", 3000LL, (char *)NULL);
        app = start_merge(a, b, out,
                          conf_for(app_id, "max.task.idle.ms", "5000", NULL));
        /* "b" is empty on the broker when the task gets its partitions:
         * its records come late. */
        assert_true(kt_wait_until(assigned, app, 20, WAIT_MS));
        assert_int_equal(brook_app_enforced_processing(app), 0);
        produce_ts(b, "b2000", 2000LL, "b4000", 4000LL, (char *)NULL);
        /* a1000, b2000, a3000 in timestamp order; then "a" is empty:
         * b4000 waits max.task.idle.ms for it, and goes, counted, when the
         * wait is over. Without the wait a3000 would come before b2000. */
        assert_int_equal(kt_wait_count(out, 4, WAIT_MS), 4);
        expect_values(out, "a1000,b2000,a3000,b4000");
        assert_true(kt_wait_until(enforced_once, app, 20, WAIT_MS));
        assert_int_equal(brook_app_enforced_processing(app), 1);
        assert_int_equal(brook_app_state(app, NULL, 0), BROOK_APP_RUNNING);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
        free_all(app_id, a, b, out);
}

static void test_invalid_timestamp_fails(void **state)
{
        char *app_id = kt_unique("time-bad"), *a = kt_unique("time-bad-a"),
             *b = kt_unique("time-bad-b"), *out = kt_unique("time-bad-out");
        char errstr[1024] = "", want[1024];
        brook_app_t *app;
        (void)state;

        kt_create_topic(a, 1);
        kt_create_topic(b, 1);
        kt_create_topic(out, 1);
        produce_ts(a, "a1000", 1000LL, "bad", -5LL, "a3000", 3000LL,
                   (char *)NULL);
        app = start_merge(a, b, out,
                          conf_for(app_id, "max.task.idle.ms", "-1", NULL));
        assert_int_equal(brook_app_wait(app, WAIT_MS), BROOK_APP_ERROR);
        assert_int_equal(brook_app_state(app, errstr, sizeof errstr),
                         BROOK_APP_ERROR);
        snprintf(want, sizeof want,
                 "task 0_0: record at topic \"%s\" partition 0 offset 1 has "
                 "an invalid (negative) timestamp -5 (FailOnInvalidTimestamp; "
                 "set default.timestamp.extractor to "
                 "LogAndSkipOnInvalidTimestamp or "
                 "UsePartitionTimeOnInvalidTimestamp, or the source's "
                 "invalid_timestamp, to go on)",
                 a);
        assert_string_equal(errstr, want);
        /* What came before it is done and committed; it is not. */
        expect_values(out, "a1000");
        assert_int_equal(kt_committed(app_id, a, 0), 1);
        brook_app_close(app, -1);
        brook_app_destroy(app);
        free_all(app_id, a, b, out);
}

/* The partition time is committed with the offset and a new instance
 * starts from it, as in Kafka Streams: a record with an invalid timestamp
 * right after a restart gets the committed partition time under
 * UsePartitionTimeOnInvalidTimestamp, where an unknown partition time
 * would stop the app. */
static void test_partition_time_committed(void **state)
{
        char *app_id = kt_unique("time-pt"), *a = kt_unique("time-pt-a"),
             *b = kt_unique("time-pt-b"), *out = kt_unique("time-pt-out");
        brook_app_t *app;
        (void)state;

        kt_create_topic(a, 1);
        kt_create_topic(b, 1);
        kt_create_topic(out, 1);
        produce_ts(a, "a5000", 5000LL, "a4000", 4000LL, (char *)NULL);
        app = start_merge(a, b, out,
                          conf_for(app_id, "max.task.idle.ms", "-1",
                                   "default.timestamp.extractor",
                                   "UsePartitionTimeOnInvalidTimestamp", NULL));
        assert_int_equal(kt_wait_committed(app_id, a, 1, 2, WAIT_MS), 2);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);

        produce_ts(a, "bad", -1LL, (char *)NULL);
        app = start_merge(a, b, out,
                          conf_for(app_id, "max.task.idle.ms", "-1",
                                   "default.timestamp.extractor",
                                   "UsePartitionTimeOnInvalidTimestamp", NULL));
        assert_int_equal(kt_wait_count(out, 3, WAIT_MS), 3);
        expect_values_ts(out, "a5000@5000,a4000@4000,bad@5000");
        assert_int_equal(brook_app_state(app, NULL, 0), BROOK_APP_RUNNING);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
        free_all(app_id, a, b, out);
}

/* The sum of @p name's samples in the app's metrics, or -1 if none. */
static double metric(brook_app_t *app, const char *name)
{
        char *text = brook_app_metrics(app, NULL), *p = text;
        size_t n = strlen(name);
        double sum = -1;
        while (p && *p) {
                char *eol = strchr(p, '\n'), *sp;
                if (!strncmp(p, name, n) && (p[n] == '{' || p[n] == ' ') &&
                    (sp = p[n] == '{' ? strstr(p + n, "} ") + 1 : p + n)) {
                        sum = (sum < 0 ? 0 : sum) + strtod(sp + 1, NULL);
                }
                p = eol ? eol + 1 : NULL;
        }
        brook_free(text);
        return sum;
}

/* Fetched: the consumer has 1,000 records or more of "a", and the thread
 * took some. */
static bool fetched_and_taken(void *opaque)
{
        return metric(opaque, "brook_consumer_records_consumed_total") >=
                       1000 &&
               metric(opaque, "brook_stream_buffered_records") >= 100;
}

struct order {
        int cnt;
        char first_bad[320];
};

/* Checks that output record i is "a<i+1>" for the first 20,000, then
 * "b20001". */
static void order_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        struct order *o = opaque;
        char want[32], value[256];
        const char *v;
        if (o->cnt < 20000)
                snprintf(want, sizeof want, "\"v\":\"a%d\"", o->cnt + 1);
        else
                snprintf(want, sizeof want, "\"v\":\"b20001\"");
        snprintf(value, sizeof value, "%.*s", (int)rkm->len,
                 (const char *)rkm->payload);
        if (!(v = strstr(value, want)) && !o->first_bad[0])
                snprintf(o->first_bad, sizeof o->first_bad, "#%d: %s", o->cnt,
                         value);
        o->cnt++;
}

/* buffered.records.per.partition: a task that waits for an empty
 * partition (max.task.idle.ms) holds exactly the bound of the other
 * partition's records, however many the consumer has fetched; librdkafka
 * keeps the rest, within its own per-partition bounds. Before, the thread
 * took everything the consumer had (20,000 here). */
static void test_buffering_bounded(void **state)
{
        char *app_id = kt_unique("time-buf"), *a = kt_unique("time-buf-a"),
             *b = kt_unique("time-buf-b"), *out = kt_unique("time-buf-out");
        rd_kafka_t *rk;
        brook_app_t *app;
        struct order o = {0, ""};
        double buffered;
        char server[32];
        int i;
        (void)state;

        kt_create_topic(a, 1);
        kt_create_topic(b, 1);
        kt_create_topic(out, 1);
        rk = kt_producer();
        for (i = 1; i <= 20000; i++) {
                char value[64];
                int n = snprintf(value, sizeof value,
                                 "{\"ts\":%d,\"v\":\"a%d\"}", i, i);
                kt_produce(rk, a, 0, "k", value, (size_t)n, NULL);
        }
        kt_producer_close(rk);
        snprintf(server, sizeof server, "127.0.0.1:%d", kt_free_port());
        /* "b" is empty: the task waits for it (10 minutes) and takes
         * nothing of "a" past the bound meanwhile. The statistics give
         * what the consumer fetched. */
        app = start_merge(a, b, out,
                          conf_for(app_id, "max.task.idle.ms", "600000",
                                   "buffered.records.per.partition", "100",
                                   "consumer.queued.min.messages", "5000",
                                   "application.server", server,
                                   "consumer.statistics.interval.ms", "100",
                                   NULL));
        assert_true(kt_wait_until(fetched_and_taken, app, 20, WAIT_MS));
        buffered = metric(app, "brook_stream_buffered_records");
        assert_int_equal((int)buffered, 100);
        assert_int_equal(kt_count(out), 0);

        /* Data for "b": everything of "a" before it goes, in timestamp
         * order, and b20001. */
        produce_ts(b, "b20001", 20001LL, (char *)NULL);
        produce_ts(a, "a20002", 20002LL, (char *)NULL);
        assert_int_equal(kt_wait_count(out, 20001, WAIT_MS), 20001);
        kt_consume_all(out, order_cb, &o);
        assert_int_equal(o.cnt, 20001);
        assert_string_equal(o.first_bad, "");
        assert_int_equal(brook_app_state(app, NULL, 0), BROOK_APP_RUNNING);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
        free_all(app_id, a, b, out);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_broker_keeps_old_records),
                cmocka_unit_test(test_idle_zero_orders_fetched_data),
                cmocka_unit_test(test_idle_waits_for_late_partition),
                cmocka_unit_test(test_invalid_timestamp_fails),
                cmocka_unit_test(test_partition_time_committed),
                cmocka_unit_test(test_buffering_bounded),
        };
        kt_test_filter();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
