/*
 * Unit tests of the configuration: every owned property's validation and
 * default, librdkafka pass-through (validated by librdkafka, applied to the
 * right clients), the first-error memory and copies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "brook_int.h"

#define KS_ERRORS "org.apache.kafka.streams.errors."

static char errstr[1024];

static brook_err_t set(brook_conf_t *conf, const char *name, const char *value)
{
        errstr[0] = '\0';
        return brook_conf_set(conf, name, value, errstr, sizeof errstr);
}

static void assert_contains(const char *haystack, const char *needle)
{
        if (!haystack || !strstr(haystack, needle))
                fail_msg("\"%s\" lacks \"%s\"", haystack ? haystack : "(null)",
                         needle);
}

/* Sets @p name to @p value and expects it stored as @p stored. */
static void set_ok(brook_conf_t *conf, const char *name, const char *value,
                   const char *stored)
{
        brook_err_t err = set(conf, name, value);
        if (err)
                fail_msg("%s=%s: %s", name, value, errstr);
        assert_string_equal(brook_conf_get(conf, name), stored);
}

/* Sets @p name to @p value, expects @p expect, and checks the message
 * names the property and the value and that the old value stayed. */
static void set_bad(brook_conf_t *conf, const char *name, const char *value,
                    brook_err_t expect)
{
        const char *before = brook_conf_get(conf, name);
        char *saved = before ? strdup(before) : NULL;
        char quoted[512];

        assert_int_equal(set(conf, name, value), expect);
        snprintf(quoted, sizeof quoted, "\"%s\"", name);
        assert_contains(errstr, quoted);
        if (expect == BROOK_ERR_CONF_INVALID) {
                snprintf(quoted, sizeof quoted, "\"%s\"", value);
                assert_contains(errstr, quoted);
        }
        if (saved)
                assert_string_equal(brook_conf_get(conf, name), saved);
        else
                assert_null(brook_conf_get(conf, name));
        free(saved);
}

/* ---------------------------------------------------------------- owned */

static void test_defaults(void **state)
{
        brook_conf_t *conf = brook_conf_new();

        assert_null(brook_conf_get(conf, "application.id"));
        assert_null(brook_conf_get(conf, "bootstrap.servers"));
        assert_string_equal(brook_conf_get(conf, "num.stream.threads"), "1");
        assert_string_equal(brook_conf_get(conf, "commit.interval.ms"),
                            "30000");
        assert_string_equal(brook_conf_get(conf, "processing.guarantee"),
                            "at_least_once");
        assert_string_equal(brook_conf_get(conf, "state.dir"), "/tmp/brook");
        assert_null(brook_conf_get(conf, "client.id"));
        assert_string_equal(brook_conf_get(conf, "replication.factor"), "-1");
        assert_null(brook_conf_get(conf, "default.key.serde"));
        assert_null(brook_conf_get(conf, "default.value.serde"));
        assert_string_equal(
                brook_conf_get(conf,
                               "default.deserialization.exception.handler"),
                "fail");
        assert_string_equal(
                brook_conf_get(conf, "default.processing.exception.handler"),
                "fail");
        assert_string_equal(
                brook_conf_get(conf, "default.production.exception.handler"),
                "fail");
        assert_null(brook_conf_get(conf, "errors.deadletterqueue.topic.name"));
        assert_string_equal(
                brook_conf_get(conf, "errors.deadletterqueue.topic.partitions"),
                "1");
        assert_string_equal(brook_conf_get(conf, "poll.ms"), "100");
        assert_string_equal(
                brook_conf_get(conf, "buffered.records.per.partition"), "1000");
        assert_string_equal(brook_conf_get(conf, "shutdown.timeout.ms"),
                            "30000");

        assert_int_equal(brook__conf_int(conf, "num.stream.threads"), 1);
        assert_int_equal(brook__conf_int(conf, "commit.interval.ms"), 30000);
        assert_int_equal(brook__conf_int(conf, "replication.factor"), -1);
        assert_int_equal(
                brook__conf_int(conf,
                                "errors.deadletterqueue.topic.partitions"),
                1);
        assert_int_equal(brook__conf_int(conf, "poll.ms"), 100);
        assert_int_equal(brook__conf_int(conf, "shutdown.timeout.ms"), 30000);
        assert_int_equal(brook__conf_guarantee(conf),
                         BROOK__GUARANTEE_AT_LEAST_ONCE);
        assert_int_equal(
                brook__conf_handler(
                        conf, "default.deserialization.exception.handler"),
                BROOK__HANDLER_FAIL);
        assert_null(brook__conf_serde(conf, "default.key.serde"));
        assert_null(brook__conf_serde(conf, "default.value.serde"));
        assert_null(brook__conf_error(conf));

        /* Unknown and unset pass-through names have no value. */
        assert_null(brook_conf_get(conf, "foo.bar"));
        assert_null(brook_conf_get(conf, "linger.ms"));
        assert_null(brook_conf_get(conf, NULL));
        assert_null(brook_conf_get(NULL, "poll.ms"));
        brook_conf_destroy(conf);
}

static void test_unknown(void **state)
{
        brook_conf_t *conf = brook_conf_new();

        assert_int_equal(set(conf, "foo.bar", "1"), BROOK_ERR_CONF_UNKNOWN);
        assert_contains(errstr, "Unknown configuration property \"foo.bar\"");
        assert_contains(errstr, "\"consumer.\"");
        assert_contains(errstr, "\"producer.\"");
        assert_null(brook_conf_get(conf, "foo.bar"));

        /* A near miss of a brook property suggests it. */
        assert_int_equal(set(conf, "num.stream.thread", "2"),
                         BROOK_ERR_CONF_UNKNOWN);
        assert_contains(errstr, "Unknown configuration property "
                                "\"num.stream.thread\" (did you mean "
                                "\"num.stream.threads\"?)");

        /* Prefixed: librdkafka's name is checked. */
        assert_int_equal(set(conf, "consumer.foo.bar", "1"),
                         BROOK_ERR_CONF_UNKNOWN);
        assert_contains(errstr, "\"consumer.foo.bar\"");
        assert_contains(errstr, "\"foo.bar\"");
        assert_int_equal(set(conf, "producer.", "1"), BROOK_ERR_CONF_UNKNOWN);
        assert_contains(errstr, "\"producer.\"");
        /* Brook's own properties do not take a client prefix. */
        assert_int_equal(set(conf, "consumer.num.stream.threads", "2"),
                         BROOK_ERR_CONF_UNKNOWN);
        assert_int_equal(brook__conf_int(conf, "num.stream.threads"), 1);
        brook_conf_destroy(conf);
}

static void test_refused(void **state)
{
        brook_conf_t *conf = brook_conf_new();
        brook_app_t *app;
        brook_builder_t *b = brook_builder_new();
        char app_err[1024] = "";
        const char *want =
                "Configuration property \"num.standby.replicas\" is not "
                "supported: brook keeps no standby replicas: a task's state "
                "moves to its new owner through its changelog "
                "(docs/state.md)";

        /* A Kafka Streams property brook does not implement is refused,
         * not accepted and ignored, and the conf remembers it. */
        assert_int_equal(set(conf, "num.standby.replicas", "1"),
                         BROOK_ERR_CONF_UNKNOWN);
        assert_string_equal(errstr, want);
        assert_null(brook_conf_get(conf, "num.standby.replicas"));
        assert_int_equal(set(conf, "application.id", "x"), BROOK_OK);
        assert_int_equal(set(conf, "bootstrap.servers", "127.0.0.1:9092"),
                         BROOK_OK);
        brook_stream_to(brook_stream(b, "in", NULL), "out",
                        &(brook_produced_t){0});
        app = brook_app_new(b, conf, app_err, sizeof app_err);
        assert_null(app);
        assert_string_equal(app_err, want);
        brook_builder_destroy(b);
        brook_conf_destroy(conf);
}

static void test_num_stream_threads(void **state)
{
        brook_conf_t *conf = brook_conf_new();
        static const char *bad[] = {
                "abc", "0",  "257",  "-1", "",  "1.5",
                " 4",  "4 ", "0x10", "4k", "+", "99999999999999999999"};
        size_t i;

        assert_int_equal(set(conf, "num.stream.threads", "abc"),
                         BROOK_ERR_CONF_INVALID);
        assert_string_equal(errstr,
                            "Invalid value \"abc\" for configuration "
                            "property \"num.stream.threads\": expected an "
                            "integer from 1 to 256");
        for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
                set_bad(conf, "num.stream.threads", bad[i],
                        BROOK_ERR_CONF_INVALID);
        set_ok(conf, "num.stream.threads", "1", "1");
        set_ok(conf, "num.stream.threads", "256", "256");
        set_ok(conf, "num.stream.threads", "+4", "4");
        set_ok(conf, "num.stream.threads", "08", "8");
        assert_int_equal(brook__conf_int(conf, "num.stream.threads"), 8);
        set_bad(conf, "num.stream.threads", "0", BROOK_ERR_CONF_INVALID);
        assert_int_equal(brook__conf_int(conf, "num.stream.threads"), 8);
        brook_conf_destroy(conf);
}

static void test_int_properties(void **state)
{
        static const struct {
                const char *name;
                const char *min, *max, *below, *above;
        } props[] = {
                {"commit.interval.ms", "0", "2147483647", "-1", "2147483648"},
                {"errors.deadletterqueue.topic.partitions", "1", "2147483647",
                 "0", "2147483648"},
                /* 0 would spin an idle thread / fail every commit. */
                {"poll.ms", "1", "2147483647", "0", "2147483648"},
                {"shutdown.timeout.ms", "1", "2147483647", "0", "2147483648"},
                {"replication.factor", "-1", "32767", "-2", "32768"},
        };
        brook_conf_t *conf = brook_conf_new();
        char expect[256];
        size_t i;

        for (i = 0; i < sizeof props / sizeof props[0]; i++) {
                set_ok(conf, props[i].name, props[i].min, props[i].min);
                assert_int_equal(brook__conf_int(conf, props[i].name),
                                 atoll(props[i].min));
                set_ok(conf, props[i].name, props[i].max, props[i].max);
                assert_int_equal(brook__conf_int(conf, props[i].name),
                                 atoll(props[i].max));
                set_bad(conf, props[i].name, props[i].below,
                        BROOK_ERR_CONF_INVALID);
                set_bad(conf, props[i].name, props[i].above,
                        BROOK_ERR_CONF_INVALID);
                set_bad(conf, props[i].name, "x", BROOK_ERR_CONF_INVALID);
                if (strcmp(props[i].name, "replication.factor")) {
                        snprintf(expect, sizeof expect,
                                 "expected an integer from %s to %s",
                                 props[i].min, props[i].max);
                        assert_contains(errstr, expect);
                }
        }

        /* -1 is the broker's default, 0 means nothing. */
        set_bad(conf, "replication.factor", "0", BROOK_ERR_CONF_INVALID);
        assert_contains(errstr, "expected -1 (the broker's default) or an "
                                "integer from 1 to 32767");
        set_ok(conf, "replication.factor", "3", "3");
        brook_conf_destroy(conf);
}

static void test_string_properties(void **state)
{
        brook_conf_t *conf = brook_conf_new();
        char longname[300];

        set_ok(conf, "application.id", "vitals-alerts_v1.2",
               "vitals-alerts_v1.2");
        set_bad(conf, "application.id", "", BROOK_ERR_CONF_INVALID);
        set_bad(conf, "application.id", "my app", BROOK_ERR_CONF_INVALID);
        assert_contains(errstr, "a-z, A-Z, 0-9");
        set_bad(conf, "application.id", "a/b", BROOK_ERR_CONF_INVALID);
        set_bad(conf, "application.id", "..", BROOK_ERR_CONF_INVALID);
        memset(longname, 'a', 250);
        longname[250] = '\0';
        set_bad(conf, "application.id", longname, BROOK_ERR_CONF_INVALID);
        longname[249] = '\0';
        set_ok(conf, "application.id", longname, longname);

        set_ok(conf, "bootstrap.servers", "127.0.0.1:9092,b2:9093",
               "127.0.0.1:9092,b2:9093");
        set_bad(conf, "bootstrap.servers", "", BROOK_ERR_CONF_INVALID);
        assert_contains(errstr, "host:port");

        set_ok(conf, "state.dir", "/var/lib/brook", "/var/lib/brook");
        set_bad(conf, "state.dir", "", BROOK_ERR_CONF_INVALID);

        set_ok(conf, "client.id", "my client", "my client");

        set_ok(conf, "errors.deadletterqueue.topic.name", "bad-records",
               "bad-records");
        set_bad(conf, "errors.deadletterqueue.topic.name", "bad records",
                BROOK_ERR_CONF_INVALID);
        set_bad(conf, "errors.deadletterqueue.topic.name", "",
                BROOK_ERR_CONF_INVALID);
        brook_conf_destroy(conf);
}

static void test_derived_defaults(void **state)
{
        brook_conf_t *conf = brook_conf_new();
        const char *cid, *dlq;

        set_ok(conf, "application.id", "vitals", "vitals");
        cid = brook_conf_get(conf, "client.id");
        dlq = brook_conf_get(conf, "errors.deadletterqueue.topic.name");
        assert_string_equal(cid, "vitals");
        assert_string_equal(dlq, "vitals-dlq");
        /* Stable: the same pointer on every get. */
        assert_ptr_equal(brook_conf_get(conf, "client.id"), cid);

        /* A new application.id changes the defaults, but strings handed
         * out before stay valid (client.id itself was not set again). */
        set_ok(conf, "application.id", "other", "other");
        assert_string_equal(brook_conf_get(conf, "client.id"), "other");
        assert_string_equal(
                brook_conf_get(conf, "errors.deadletterqueue.topic.name"),
                "other-dlq");
        assert_string_equal(cid, "vitals");
        assert_string_equal(dlq, "vitals-dlq");

        /* Explicit values win. */
        set_ok(conf, "client.id", "mine", "mine");
        set_ok(conf, "errors.deadletterqueue.topic.name", "dead", "dead");
        set_ok(conf, "application.id", "third", "third");
        assert_string_equal(brook_conf_get(conf, "client.id"), "mine");
        assert_string_equal(
                brook_conf_get(conf, "errors.deadletterqueue.topic.name"),
                "dead");
        brook_conf_destroy(conf);
}

static void test_guarantee(void **state)
{
        brook_conf_t *conf = brook_conf_new();

        set_ok(conf, "processing.guarantee", "exactly_once_v2",
               "exactly_once_v2");
        assert_int_equal(brook__conf_guarantee(conf),
                         BROOK__GUARANTEE_EXACTLY_ONCE_V2);
        /* Kafka Streams' default under EOS, unless set. */
        assert_string_equal(brook_conf_get(conf, "commit.interval.ms"), "100");
        assert_int_equal(brook__conf_int(conf, "commit.interval.ms"), 100);

        set_bad(conf, "processing.guarantee", "exactly_once",
                BROOK_ERR_CONF_INVALID);
        assert_contains(errstr, "use exactly_once_v2");
        set_bad(conf, "processing.guarantee", "exactly_once_beta",
                BROOK_ERR_CONF_INVALID);
        assert_contains(errstr, "use exactly_once_v2");
        set_bad(conf, "processing.guarantee", "EXACTLY_ONCE_V2",
                BROOK_ERR_CONF_INVALID);
        assert_string_equal(errstr,
                            "Invalid value \"EXACTLY_ONCE_V2\" for "
                            "configuration property \"processing.guarantee\": "
                            "expected at_least_once or exactly_once_v2");
        assert_int_equal(brook__conf_guarantee(conf),
                         BROOK__GUARANTEE_EXACTLY_ONCE_V2);

        set_ok(conf, "processing.guarantee", "at_least_once", "at_least_once");
        assert_int_equal(brook__conf_int(conf, "commit.interval.ms"), 30000);

        /* An explicit interval holds under either guarantee. */
        set_ok(conf, "commit.interval.ms", "30000", "30000");
        set_ok(conf, "processing.guarantee", "exactly_once_v2",
               "exactly_once_v2");
        assert_int_equal(brook__conf_int(conf, "commit.interval.ms"), 30000);
        set_ok(conf, "commit.interval.ms", "250", "250");
        assert_int_equal(brook__conf_int(conf, "commit.interval.ms"), 250);
        brook_conf_destroy(conf);
}

static void test_handlers(void **state)
{
        static const char *names[] = {
                "default.deserialization.exception.handler",
                "default.processing.exception.handler",
                "default.production.exception.handler",
        };
        brook_conf_t *conf = brook_conf_new();
        size_t i;

        for (i = 0; i < 3; i++) {
                const char *n = names[i];
                set_ok(conf, n, "log_and_continue", "log_and_continue");
                assert_int_equal(brook__conf_handler(conf, n),
                                 BROOK__HANDLER_LOG_AND_CONTINUE);
                set_ok(conf, n, "fail", "fail");
                assert_int_equal(brook__conf_handler(conf, n),
                                 BROOK__HANDLER_FAIL);
                /* Java class names map to brook's names. */
                set_ok(conf, n, KS_ERRORS "LogAndContinueExceptionHandler",
                       "log_and_continue");
                set_ok(conf, n, KS_ERRORS "LogAndFailExceptionHandler", "fail");
                set_bad(conf, n, "ignore", BROOK_ERR_CONF_INVALID);
                assert_contains(errstr, "expected fail");
                set_bad(conf, n, "LogAndContinueExceptionHandler",
                        BROOK_ERR_CONF_INVALID);
        }

        set_ok(conf, names[0], "dead_letter", "dead_letter");
        assert_int_equal(brook__conf_handler(conf, names[0]),
                         BROOK__HANDLER_DEAD_LETTER);
        set_ok(conf, names[1], "dead_letter", "dead_letter");
        assert_int_equal(brook__conf_handler(conf, names[1]),
                         BROOK__HANDLER_DEAD_LETTER);
        set_bad(conf, names[0], "x", BROOK_ERR_CONF_INVALID);
        assert_contains(errstr,
                        "expected fail, log_and_continue or "
                        "dead_letter, or one of Kafka Streams' class "
                        "names " KS_ERRORS "LogAndFailExceptionHandler");

        set_ok(conf, names[2], "dead_letter", "dead_letter");
        assert_int_equal(brook__conf_handler(conf, names[2]),
                         BROOK__HANDLER_DEAD_LETTER);
        set_bad(conf, names[2], "x", BROOK_ERR_CONF_INVALID);
        assert_contains(errstr, "expected fail, log_and_continue or "
                                "dead_letter, or one of Kafka Streams' class "
                                "names");
        set_ok(conf, names[2], "log_and_continue", "log_and_continue");
        set_ok(conf, names[2], KS_ERRORS "DefaultProductionExceptionHandler",
               "fail");
        assert_int_equal(brook__conf_handler(conf, names[2]),
                         BROOK__HANDLER_FAIL);
        set_bad(conf, names[0], KS_ERRORS "DefaultProductionExceptionHandler",
                BROOK_ERR_CONF_INVALID);
        brook_conf_destroy(conf);
}

static void test_serdes(void **state)
{
        brook_conf_t *conf = brook_conf_new();

        set_ok(conf, "default.key.serde", "string", "string");
        assert_ptr_equal(brook__conf_serde(conf, "default.key.serde"),
                         brook_serde_string());
        set_ok(conf, "default.value.serde", "json", "json");
        assert_ptr_equal(brook__conf_serde(conf, "default.value.serde"),
                         brook_serde_json());
        set_ok(conf, "default.value.serde",
               "org.apache.kafka.common.serialization.Serdes$LongSerde",
               "int64");
        assert_ptr_equal(brook__conf_serde(conf, "default.value.serde"),
                         brook_serde_int64());
        set_ok(conf, "default.key.serde",
               "org.apache.kafka.common.serialization.Serdes$ByteArraySerde",
               "bytes");
        set_bad(conf, "default.key.serde", "avro", BROOK_ERR_CONF_INVALID);
        assert_contains(errstr, "bytes, string, int32, int64, double or json");
        assert_ptr_equal(brook__conf_serde(conf, "default.key.serde"),
                         brook_serde_bytes());
        assert_null(brook__conf_serde(conf, "poll.ms"));
        brook_conf_destroy(conf);
}

/* ----------------------------------------------------------- librdkafka */

static void test_passthrough(void **state)
{
        brook_conf_t *conf = brook_conf_new();

        set_ok(conf, "consumer.fetch.min.bytes", "1", "1");
        set_bad(conf, "consumer.fetch.min.bytes", "abc",
                BROOK_ERR_CONF_INVALID);
        /* librdkafka's own message, and the range it accepts. */
        assert_contains(errstr, "Invalid value for configuration property "
                                "\"fetch.min.bytes\"");
        assert_contains(errstr, "1 .. 100000000");
        assert_string_equal(brook_conf_get(conf, "consumer.fetch.min.bytes"),
                            "1");

        set_ok(conf, "producer.linger.ms", "20", "20");
        set_ok(conf, "admin.socket.timeout.ms", "5000", "5000");
        set_ok(conf, "security.protocol", "plaintext", "plaintext");
        set_bad(conf, "security.protocol", "bogus", BROOK_ERR_CONF_INVALID);
        set_bad(conf, "producer.acks", "lots", BROOK_ERR_CONF_INVALID);
        /* Topic-level properties are librdkafka's too. */
        set_ok(conf, "auto.offset.reset", "earliest", "earliest");
        set_ok(conf, "producer.acks", "all", "all");
        set_ok(conf, "acks", "-1", "-1");
        /* Fewer acknowledgements lose changelog offsets and output. */
        set_bad(conf, "producer.acks", "1", BROOK_ERR_CONF_INVALID);
        assert_string_equal(errstr,
                            "Invalid value \"1\" for configuration property "
                            "\"producer.acks\": brook's producer needs "
                            "acks=all (or -1): with fewer acknowledgements a "
                            "changelog offset or an output record can be "
                            "lost");
        set_bad(conf, "acks", "0", BROOK_ERR_CONF_INVALID);
        set_bad(conf, "request.required.acks", "1", BROOK_ERR_CONF_INVALID);
        set_bad(conf, "producer.request.required.acks", "0",
                BROOK_ERR_CONF_INVALID);
        /* The consumer has no acks; librdkafka ignores it there. */
        assert_string_equal(brook_conf_get(conf, "producer.acks"), "all");
        /* Per-client bootstrap servers are the user's business. */
        set_ok(conf, "consumer.bootstrap.servers", "b:9092", "b:9092");
        brook_conf_destroy(conf);
}

static void test_reserved(void **state)
{
        static const char *reserved[] = {
                "group.id",
                "enable.auto.commit",
                "enable.auto.offset.store",
                "transactional.id",
                "isolation.level",
                "partition.assignment.strategy",
        };
        static const char *prefixes[] = {"", "consumer.", "producer.",
                                         "admin."};
        brook_conf_t *conf = brook_conf_new();
        size_t i, j;

        for (i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
                for (j = 0; j < 4; j++) {
                        char name[128], itself[128];
                        snprintf(name, sizeof name, "%s%s", prefixes[j],
                                 reserved[i]);
                        snprintf(itself, sizeof itself, "brook sets %s itself",
                                 reserved[i]);
                        assert_int_equal(set(conf, name, "x"),
                                         BROOK_ERR_CONF_INVALID);
                        assert_contains(errstr, name);
                        assert_contains(errstr, itself);
                        assert_null(brook_conf_get(conf, name));
                }
        }
        assert_int_equal(set(conf, "group.id", "g"), BROOK_ERR_CONF_INVALID);
        assert_contains(errstr, "application.id");
        brook_conf_destroy(conf);
}

/* ---------------------------------------------------- errors and copies */

static void test_first_error(void **state)
{
        brook_conf_t *conf = brook_conf_new();
        char first[1024];

        set_ok(conf, "num.stream.threads", "4", "4");
        assert_int_equal(set(conf, "num.stream.threads", "abc"),
                         BROOK_ERR_CONF_INVALID);
        strcpy(first, errstr);
        assert_string_equal(brook__conf_error(conf), first);
        /* Later errors are reported but not remembered; successes do not
         * clear the memory. */
        assert_int_equal(set(conf, "foo.bar", "1"), BROOK_ERR_CONF_UNKNOWN);
        assert_contains(errstr, "foo.bar");
        set_ok(conf, "num.stream.threads", "2", "2");
        assert_string_equal(brook__conf_error(conf), first);
        brook_conf_destroy(conf);

        /* Remembered even when the caller passes no buffer. */
        conf = brook_conf_new();
        assert_int_equal(brook_conf_set(conf, "poll.ms", "-5", NULL, 0),
                         BROOK_ERR_CONF_INVALID);
        assert_contains(brook__conf_error(conf), "\"poll.ms\"");
        brook_conf_destroy(conf);

        /* A small buffer gets a truncated, terminated message. */
        conf = brook_conf_new();
        {
                char small[8];
                memset(small, 'x', sizeof small);
                assert_int_equal(brook_conf_set(conf, "poll.ms", "-5", small,
                                                sizeof small),
                                 BROOK_ERR_CONF_INVALID);
                assert_string_equal(small, "Invalid");
        }
        assert_contains(brook__conf_error(conf), "\"poll.ms\"");
        brook_conf_destroy(conf);
}

static void test_bad_args(void **state)
{
        brook_conf_t *conf = brook_conf_new();

        assert_int_equal(set(NULL, "poll.ms", "1"), BROOK_ERR_INVALID_ARG);
        assert_int_equal(set(conf, NULL, "1"), BROOK_ERR_INVALID_ARG);
        assert_int_equal(set(conf, "poll.ms", NULL), BROOK_ERR_CONF_INVALID);
        assert_contains(errstr, "\"poll.ms\"");
        assert_string_equal(brook_conf_get(conf, "poll.ms"), "100");
        assert_null(brook_conf_dup(NULL));
        brook_conf_destroy(NULL);
        brook_conf_destroy(conf);
}

static void test_dup(void **state)
{
        brook_conf_t *conf = brook_conf_new(), *dup;

        set_ok(conf, "application.id", "app", "app");
        set_ok(conf, "num.stream.threads", "3", "3");
        set_ok(conf, "processing.guarantee", "exactly_once_v2",
               "exactly_once_v2");
        set_ok(conf, "linger.ms", "7", "7");
        set_ok(conf, "consumer.fetch.min.bytes", "9", "9");
        assert_int_equal(set(conf, "poll.ms", "x"), BROOK_ERR_CONF_INVALID);

        dup = brook_conf_dup(conf);
        assert_string_equal(brook_conf_get(dup, "application.id"), "app");
        assert_string_equal(brook_conf_get(dup, "client.id"), "app");
        assert_string_equal(
                brook_conf_get(dup, "errors.deadletterqueue.topic.name"),
                "app-dlq");
        assert_string_equal(brook_conf_get(dup, "num.stream.threads"), "3");
        assert_int_equal(brook__conf_int(dup, "commit.interval.ms"), 100);
        assert_string_equal(brook_conf_get(dup, "linger.ms"), "7");
        assert_string_equal(brook_conf_get(dup, "consumer.fetch.min.bytes"),
                            "9");
        assert_string_equal(brook__conf_error(dup), brook__conf_error(conf));
        assert_ptr_not_equal(brook__conf_error(dup), brook__conf_error(conf));

        /* Deep: changing one does not change the other. */
        set_ok(dup, "num.stream.threads", "5", "5");
        set_ok(dup, "linger.ms", "8", "8");
        assert_string_equal(brook_conf_get(conf, "num.stream.threads"), "3");
        assert_string_equal(brook_conf_get(conf, "linger.ms"), "7");
        brook_conf_destroy(conf);
        assert_string_equal(brook_conf_get(dup, "application.id"), "app");
        brook_conf_destroy(dup);
}

/* ---------------------------------------------------------------- apply */

/* librdkafka's value of @p name in @p rkconf (a static buffer), or NULL
 * when it has none: librdkafka reports unset strings and topic properties
 * of a conf without topic settings as unknown. */
static const char *rkget(rd_kafka_conf_t *rkconf, const char *name)
{
        static char buf[512];
        size_t size = sizeof buf;

        if (rd_kafka_conf_get(rkconf, name, buf, &size) != RD_KAFKA_CONF_OK)
                return NULL;
        return buf;
}

/* Whether @p name is unchanged from librdkafka's default @p def. */
static void assert_default(rd_kafka_conf_t *rkconf, const char *name,
                           const char *def)
{
        const char *v = rkget(rkconf, name);
        if (v && strcmp(v, def))
                fail_msg("%s is \"%s\", not the default \"%s\"", name, v, def);
}

static rd_kafka_conf_t *applied(const brook_conf_t *conf, const char *client)
{
        rd_kafka_conf_t *rkconf = rd_kafka_conf_new();
        char err[512] = "";

        if (brook__conf_apply_rdkafka(conf, client, rkconf, err, sizeof err))
                fail_msg("apply to %s: %s", client, err);
        return rkconf;
}

static void test_apply(void **state)
{
        brook_conf_t *conf = brook_conf_new();
        rd_kafka_conf_t *defaults = rd_kafka_conf_new(), *cons, *prod, *adm;
        rd_kafka_topic_conf_t *tdefaults = rd_kafka_topic_conf_new();
        char def_linger[64], def_fetch[64], def_reset[64];
        size_t size = sizeof def_reset;

        strcpy(def_linger, rkget(defaults, "linger.ms"));
        strcpy(def_fetch, rkget(defaults, "fetch.min.bytes"));
        assert_int_equal(rd_kafka_topic_conf_get(tdefaults, "auto.offset.reset",
                                                 def_reset, &size),
                         RD_KAFKA_CONF_OK);
        rd_kafka_topic_conf_destroy(tdefaults);
        assert_string_not_equal(def_linger, "20");
        assert_string_not_equal(def_fetch, "5");
        assert_string_not_equal(def_reset, "smallest");

        set_ok(conf, "bootstrap.servers", "h1:9092,h2:9092", "h1:9092,h2:9092");
        /* The client's own setting wins whatever the order of sets. */
        set_ok(conf, "producer.socket.timeout.ms", "2000", "2000");
        set_ok(conf, "socket.timeout.ms", "1234", "1234");
        set_ok(conf, "consumer.fetch.min.bytes", "5", "5");
        set_ok(conf, "linger.ms", "20", "20");
        set_ok(conf, "auto.offset.reset", "earliest", "earliest");
        set_ok(conf, "admin.socket.keepalive.enable", "true", "true");

        cons = applied(conf, "consumer");
        assert_string_equal(rkget(cons, "bootstrap.servers"),
                            "h1:9092,h2:9092");
        assert_string_equal(rkget(cons, "socket.timeout.ms"), "1234");
        assert_string_equal(rkget(cons, "fetch.min.bytes"), "5");
        assert_string_equal(rkget(cons, "auto.offset.reset"), "smallest");
        /* A producer property is not given to the consumer. */
        assert_default(cons, "linger.ms", def_linger);
        assert_default(cons, "socket.keepalive.enable", "false");

        prod = applied(conf, "producer");
        assert_string_equal(rkget(prod, "bootstrap.servers"),
                            "h1:9092,h2:9092");
        assert_string_equal(rkget(prod, "socket.timeout.ms"), "2000");
        assert_string_equal(rkget(prod, "linger.ms"), "20");
        assert_default(prod, "fetch.min.bytes", def_fetch);
        assert_default(prod, "auto.offset.reset", def_reset);

        adm = applied(conf, "admin");
        assert_string_equal(rkget(adm, "socket.timeout.ms"), "1234");
        assert_string_equal(rkget(adm, "socket.keepalive.enable"), "true");
        assert_default(adm, "linger.ms", def_linger);
        assert_default(adm, "fetch.min.bytes", def_fetch);
        assert_default(adm, "auto.offset.reset", def_reset);

        rd_kafka_conf_destroy(cons);
        rd_kafka_conf_destroy(prod);
        rd_kafka_conf_destroy(adm);
        rd_kafka_conf_destroy(defaults);
        brook_conf_destroy(conf);
}

static void test_apply_order(void **state)
{
        brook_conf_t *conf = brook_conf_new();
        rd_kafka_conf_t *prod;

        /* Aliases: the one set last wins, as on an rd_kafka_conf_t, even
         * when the other was set first and set again in between. */
        set_ok(conf, "queue.buffering.max.ms", "10", "10");
        set_ok(conf, "linger.ms", "20", "20");
        set_ok(conf, "queue.buffering.max.ms", "30", "30");
        prod = applied(conf, "producer");
        assert_string_equal(rkget(prod, "linger.ms"), "30");
        rd_kafka_conf_destroy(prod);

        set_ok(conf, "linger.ms", "40", "40");
        prod = applied(conf, "producer");
        assert_string_equal(rkget(prod, "queue.buffering.max.ms"), "40");
        rd_kafka_conf_destroy(prod);
        brook_conf_destroy(conf);
}

static void test_apply_bad_args(void **state)
{
        brook_conf_t *conf = brook_conf_new();
        rd_kafka_conf_t *rkconf = rd_kafka_conf_new();
        char err[256] = "";

        assert_int_equal(brook__conf_apply_rdkafka(conf, "streams", rkconf, err,
                                                   sizeof err),
                         BROOK_ERR_INVALID_ARG);
        assert_contains(err, "\"streams\"");
        assert_int_equal(brook__conf_apply_rdkafka(conf, "consumer", NULL, err,
                                                   sizeof err),
                         BROOK_ERR_INVALID_ARG);
        /* Without bootstrap.servers nothing is set and nothing fails. */
        assert_int_equal(brook__conf_apply_rdkafka(conf, "consumer", rkconf,
                                                   err, sizeof err),
                         BROOK_OK);
        assert_null(rkget(rkconf, "bootstrap.servers"));
        rd_kafka_conf_destroy(rkconf);
        brook_conf_destroy(conf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_unknown),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_num_stream_threads),
                cmocka_unit_test(test_int_properties),
                cmocka_unit_test(test_string_properties),
                cmocka_unit_test(test_derived_defaults),
                cmocka_unit_test(test_guarantee),
                cmocka_unit_test(test_handlers),
                cmocka_unit_test(test_serdes),
                cmocka_unit_test(test_passthrough),
                cmocka_unit_test(test_reserved),
                cmocka_unit_test(test_first_error),
                cmocka_unit_test(test_bad_args),
                cmocka_unit_test(test_dup),
                cmocka_unit_test(test_apply),
                cmocka_unit_test(test_apply_order),
                cmocka_unit_test(test_apply_bad_args),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
