/*
 * Unit tests of brook_app_new: a bad set-up fails before anything talks to
 * Kafka, with a message naming what is wrong, and leaves the builder and
 * conf to the caller; and the client settings a good one gives its
 * producers.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "app_int.h"
#include "brook_int.h"

static void pipe_topology(brook_builder_t *b, bool serdes)
{
        brook_consumed_t c = {.key_serde = brook_serde_string(),
                              .value_serde = brook_serde_json()};
        brook_stream_to(brook_stream(b, "in", serdes ? &c : NULL), "out", NULL);
}

/* Builds an app from @p props ("name", "value", ..., NULL); expects
 * brook_app_new to fail with a message containing @p want. */
static void expect_app_new_fails(const char *want, bool serdes, ...)
{
        brook_conf_t *conf = brook_conf_new();
        brook_builder_t *b = brook_builder_new();
        char errstr[512] = "";
        const char *name, *value;
        va_list ap;

        va_start(ap, serdes);
        while ((name = va_arg(ap, const char *))) {
                value = va_arg(ap, const char *);
                /* Return codes ignored on purpose: a bad property must still
                 * stop brook_app_new. */
                (void)brook_conf_set(conf, name, value, NULL, 0);
        }
        va_end(ap);
        pipe_topology(b, serdes);

        assert_null(brook_app_new(b, conf, errstr, sizeof errstr));
        if (!strstr(errstr, want))
                fail_msg("\"%s\" lacks \"%s\"", errstr, want);
        /* Failure leaves both to the caller. */
        brook_builder_destroy(b);
        brook_conf_destroy(conf);
}

static void test_missing_application_id(void **state)
{
        expect_app_new_fails("Missing required configuration property "
                             "\"application.id\"",
                             true, "bootstrap.servers", "127.0.0.1:9092", NULL);
}

static void test_missing_bootstrap_servers(void **state)
{
        expect_app_new_fails("Missing required configuration property "
                             "\"bootstrap.servers\"",
                             true, "application.id", "x", NULL);
}

static void test_unknown_property(void **state)
{
        expect_app_new_fails("Unknown configuration property "
                             "\"num.stream.thread\"",
                             true, "application.id", "x", "bootstrap.servers",
                             "127.0.0.1:9092", "num.stream.thread", "2", NULL);
}

static void test_number_not_a_number(void **state)
{
        expect_app_new_fails("\"commit.interval.ms\"", true, "application.id",
                             "x", "bootstrap.servers", "127.0.0.1:9092",
                             "commit.interval.ms", "soon", NULL);
        expect_app_new_fails("\"soon\"", true, "application.id", "x",
                             "bootstrap.servers", "127.0.0.1:9092",
                             "commit.interval.ms", "soon", NULL);
}

static void test_bad_client_property(void **state)
{
        expect_app_new_fails("\"consumer.fetch.wait.max.ms\"", true,
                             "application.id", "x", "bootstrap.servers",
                             "127.0.0.1:9092", "consumer.fetch.wait.max.ms",
                             "forever", NULL);
}

static void test_missing_serde(void **state)
{
        expect_app_new_fails("source \"KSTREAM-SOURCE-0000000000\" has no key "
                             "serde",
                             false, "application.id", "x", "bootstrap.servers",
                             "127.0.0.1:9092", NULL);
}

static void test_builder_error_reported(void **state)
{
        brook_conf_t *conf = brook_conf_new();
        brook_builder_t *b = brook_builder_new();
        char errstr[512] = "";
        brook_conf_set(conf, "application.id", "x", NULL, 0);
        brook_conf_set(conf, "bootstrap.servers", "127.0.0.1:9092", NULL, 0);
        pipe_topology(b, true);
        /* The same topic read twice is a topology error. */
        assert_null(brook_stream(b, "in", NULL));
        assert_null(brook_app_new(b, conf, errstr, sizeof errstr));
        assert_non_null(strstr(errstr, "topic \"in\" is already read by "
                                       "source \"KSTREAM-SOURCE-0000000000\""));
        brook_builder_destroy(b);
        brook_conf_destroy(conf);
}

/* An app of pipe_topology() from @p conf (taken), with an application.id
 * and bootstrap.servers; never started. */
static brook_app_t *good_app(brook_conf_t *conf)
{
        brook_builder_t *b = brook_builder_new();
        char errstr[512] = "";
        brook_app_t *app;
        assert_int_equal(brook_conf_set(conf, "application.id", "x", errstr,
                                        sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_conf_set(conf, "bootstrap.servers",
                                        "127.0.0.1:9092", errstr,
                                        sizeof errstr),
                         BROOK_OK);
        pipe_topology(b, true);
        app = brook_app_new(b, conf, errstr, sizeof errstr);
        if (!app)
                fail_msg("brook_app_new: %s", errstr);
        return app;
}

static void test_good_config_then_destroy(void **state)
{
        brook_app_t *app = good_app(brook_conf_new());
        assert_int_equal(brook_app_state(app, NULL, 0), BROOK_APP_CREATED);
        /* Destroying an app that never started takes the builder and conf
         * with it (ASan checks nothing leaks). */
        brook_app_destroy(app);
}

/* Librdkafka property @p name, into @p out, of the configuration brook
 * gives the @p client ("consumer", "producer") @p suffix of an app with
 * @p props ("name", "value", ..., NULL). */
static void client_prop(const char *client, const char *suffix,
                        const char *name, char *out, size_t size, ...)
{
        brook_conf_t *conf = brook_conf_new();
        char errstr[512] = "";
        const char *prop;
        brook_app_t *app;
        rd_kafka_conf_t *c;
        va_list ap;

        va_start(ap, size);
        while ((prop = va_arg(ap, const char *)))
                assert_int_equal(brook_conf_set(conf, prop,
                                                va_arg(ap, const char *),
                                                errstr, sizeof errstr),
                                 BROOK_OK);
        va_end(ap);
        app = good_app(conf);
        c = brook__client_conf(app, client, suffix, 0, errstr, sizeof errstr);
        assert_non_null(c);
        assert_int_equal(rd_kafka_conf_get(c, name, out, &size),
                         RD_KAFKA_CONF_OK);
        rd_kafka_conf_destroy(c);
        brook_app_destroy(app);
}

/* brook's producers compress with lz4 unless the user says otherwise, by
 * either of librdkafka's names, for all clients or the producer. */
static void test_producer_compression(void **state)
{
        static const struct {
                const char *name, *value, *want;
        } cases[] = {
                {NULL, NULL, "lz4"},
                {"compression.type", "none", "none"},
                {"producer.compression.type", "gzip", "gzip"},
                {"compression.codec", "snappy", "snappy"},
                {"producer.compression.codec", "none", "none"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                char codec[32] = "";
                client_prop("producer", "producer", "compression.codec", codec,
                            sizeof codec, cases[i].name, cases[i].value, NULL);
                if (strcmp(codec, cases[i].want))
                        fail_msg("%s=%s: the producer's codec is %s, not %s",
                                 cases[i].name ? cases[i].name : "(unset)",
                                 cases[i].value ? cases[i].value : "", codec,
                                 cases[i].want);
        }
}

/* brook's fetch bounds (8 MiB for a stream thread, 4 MiB for the others)
 * give way to a larger message.max.bytes, which librdkafka would refuse
 * them below, but not to the user's own fetch.max.bytes. */
static void test_consumer_fetch_max(void **state)
{
        char got[32];

        client_prop("consumer", "consumer", "fetch.max.bytes", got, sizeof got,
                    NULL);
        assert_string_equal(got, "8388608");
        client_prop("consumer", "restore-consumer", "fetch.max.bytes", got,
                    sizeof got, NULL);
        assert_string_equal(got, "4194304");
        /* A partition's share: 64 KiB for a stream thread, 256 KiB for the
         * consumers that read many partitions into one queue. */
        client_prop("consumer", "consumer", "max.partition.fetch.bytes", got,
                    sizeof got, NULL);
        assert_string_equal(got, "65536");
        client_prop("consumer", "global-consumer", "max.partition.fetch.bytes",
                    got, sizeof got, NULL);
        assert_string_equal(got, "262144");
        client_prop("consumer", "restore-consumer", "fetch.max.bytes", got,
                    sizeof got, "message.max.bytes", "5000000", NULL);
        assert_string_equal(got, "5000000");
        client_prop("consumer", "consumer", "fetch.max.bytes", got, sizeof got,
                    "consumer.message.max.bytes", "9000000", NULL);
        assert_string_equal(got, "9000000");
        client_prop("consumer", "restore-consumer", "fetch.max.bytes", got,
                    sizeof got, "message.max.bytes", "5000000",
                    "consumer.fetch.max.bytes", "2000000", NULL);
        assert_string_equal(got, "2000000");
}

static void on_signal_noop(int sig)
{
        (void)sig;
}

static void test_run_options_version_unknown(void **state)
{
        brook_conf_t *conf = brook_conf_new();
        brook_builder_t *b = brook_builder_new();
        char errstr[512] = "";
        struct sigaction sa, old, cur;
        brook_app_t *app;

        brook_conf_set(conf, "application.id", "x", NULL, 0);
        brook_conf_set(conf, "bootstrap.servers", "127.0.0.1:9092", NULL, 0);
        pipe_topology(b, true);
        app = brook_app_new(b, conf, errstr, sizeof errstr);
        assert_non_null(app);
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal_noop;
        sigemptyset(&sa.sa_mask);
        assert_int_equal(sigaction(SIGINT, &sa, &old), 0);
        /* Options from a later brook are refused before anything starts
         * or any handler changes. */
        assert_int_equal(brook_app_run_with(
                                 app, &(brook_app_run_options_t){.version = 2}),
                         1);
        assert_int_equal(brook_app_state(app, NULL, 0), BROOK_APP_CREATED);
        assert_int_equal(sigaction(SIGINT, &old, &cur), 0);
        assert_true(cur.sa_handler == on_signal_noop);
        brook_app_destroy(app);
}

static void test_version(void **state)
{
        char want[32];

        /* The library runs at the version its headers say, and the integer
         * and the string encode the same three numbers. */
        assert_int_equal(brook_version(), BROOK_VERSION);
        assert_int_equal(BROOK_VERSION, (BROOK_VERSION_MAJOR << 16) |
                                                (BROOK_VERSION_MINOR << 8) |
                                                BROOK_VERSION_PATCH);
        snprintf(want, sizeof want, "%d.%d.%d", BROOK_VERSION_MAJOR,
                 BROOK_VERSION_MINOR, BROOK_VERSION_PATCH);
        assert_string_equal(BROOK_VERSION_STR, want);
        assert_string_equal(brook_version_str(), want);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_missing_application_id),
                cmocka_unit_test(test_missing_bootstrap_servers),
                cmocka_unit_test(test_unknown_property),
                cmocka_unit_test(test_number_not_a_number),
                cmocka_unit_test(test_bad_client_property),
                cmocka_unit_test(test_missing_serde),
                cmocka_unit_test(test_builder_error_reported),
                cmocka_unit_test(test_good_config_then_destroy),
                cmocka_unit_test(test_producer_compression),
                cmocka_unit_test(test_consumer_fetch_max),
                cmocka_unit_test(test_version),
                cmocka_unit_test(test_run_options_version_unknown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
