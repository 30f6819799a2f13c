/*
 * Integration: an app run in this process against the real broker —
 * start-up checks (missing topics, co-partitioning, internal topics),
 * repartitioning through a topic brook creates (and the deletion of its
 * committed records), pattern subscriptions and several stream threads
 * (which load neither libcurl nor libmicrohttpd). Run under ASan, it also
 * shows that nothing leaks when an app that processed records is closed
 * and destroyed.
 */
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "brook_int.h"
#include "kafka_util.h"

static brook_conf_t *conf_for(const char *app_id, const char *threads)
{
        brook_conf_t *conf = brook_conf_new();
        char errstr[512];
        if (brook_conf_set(conf, "application.id", app_id, errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "bootstrap.servers", kt_bootstrap(), errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "num.stream.threads", threads, errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "commit.interval.ms", "200", errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "default.key.serde", "string", errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "default.value.serde", "string", errstr,
                           sizeof errstr))
                fail_msg("%s", errstr);
        return conf;
}

/* Expects brook_app_start to fail with a message containing @p want. */
static void expect_start_fails(brook_builder_t *b, const char *app_id,
                               const char *want)
{
        char errstr[1024] = "";
        brook_app_t *app =
                brook_app_new(b, conf_for(app_id, "1"), errstr, sizeof errstr);
        assert_non_null(app);
        assert_int_not_equal(brook_app_start(app, errstr, sizeof errstr),
                             BROOK_OK);
        if (!strstr(errstr, want))
                fail_msg("\"%s\" lacks \"%s\"", errstr, want);
        assert_int_equal(brook_app_state(app, NULL, 0), BROOK_APP_ERROR);
        brook_app_destroy(app);
}

static void test_missing_source_topic(void **state)
{
        char *app_id = kt_unique("missing-app");
        char *topic = kt_unique("no-such-topic");
        char want[512];
        brook_builder_t *b = brook_builder_new();
        brook_stream_to(brook_stream(b, topic, NULL), "out", NULL);
        snprintf(want, sizeof want,
                 "source topic \"%s\" (source "
                 "\"KSTREAM-SOURCE-0000000000\") does not exist",
                 topic);
        expect_start_fails(b, app_id, want);
        free(app_id);
        free(topic);
}

static void test_copartition_mismatch(void **state)
{
        char *app_id = kt_unique("copart-app");
        char *t2 = kt_unique("copart-2"), *t4 = kt_unique("copart-4");
        const char *topics[2] = {t2, t4};
        char want[512];
        brook_builder_t *b = brook_builder_new();
        kt_create_topic(t2, 2);
        kt_create_topic(t4, 4);
        brook_stream_to(brook_stream_topics(b, topics, 2, NULL), "out", NULL);
        snprintf(want, sizeof want,
                 "topics \"%s\" (2 partitions) and \"%s\" (4 partitions) are "
                 "read by sub-topology 0 and must be co-partitioned",
                 t2, t4);
        expect_start_fails(b, app_id, want);
        free(app_id);
        free(t2);
        free(t4);
}

static void *first_char_key(const brook_record_t *rec, void *opaque)
{
        const char *v = brook_record_value(rec);
        char *k = brook_record_alloc(rec, 2);
        k[0] = v[0];
        k[1] = '\0';
        return k;
}

static void test_internal_topic_wrong_partitions(void **state)
{
        char *app_id = kt_unique("wrongpart-app");
        char *in = kt_unique("wrongpart-in");
        char internal[512], want[1024];
        brook_builder_t *b = brook_builder_new();
        kt_create_topic(in, 3);
        /* A leftover repartition topic with 1 partition, where 3 are
         * needed. */
        snprintf(internal, sizeof internal, "%s-rekey-repartition", app_id);
        kt_create_topic(internal, 1);
        brook_stream_to(
                brook_stream_repartition(
                        brook_stream_select_key(brook_stream(b, in, NULL),
                                                first_char_key, NULL),
                        &(brook_repartitioned_t){.name = "rekey"}),
                "out", NULL);
        snprintf(want, sizeof want,
                 "internal topic \"%s\" exists with 1 partitions, but 3 are "
                 "needed",
                 internal);
        expect_start_fails(b, app_id, want);
        free(app_id);
        free(in);
}

/* Runs @p app until @p out holds @p want records, then closes it; the
 * app's sinks sent @p produced records in all. */
static void run_until(brook_app_t *app, const char *out, int64_t want,
                      int64_t produced)
{
        char errstr[1024];
        brook_app_stats_t st;
        assert_int_equal(brook_app_start(app, errstr, sizeof errstr), BROOK_OK);
        assert_int_equal(kt_wait_count(out, want, 120000), want);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        assert_int_equal(brook_app_state(app, errstr, sizeof errstr),
                         BROOK_APP_NOT_RUNNING);
        brook_app_stats(app, &st);
        assert_int_equal(st.records_produced, produced);
}

/* Output check: each key must sit in exactly one partition. */
typedef struct keyparts {
        int32_t part_of[128];
        int64_t records, split_keys, bad;
} keyparts_t;

static void check_keypart(const rd_kafka_message_t *rkm, void *opaque)
{
        keyparts_t *kp = opaque;
        unsigned char k;
        kp->records++;
        if (rkm->key_len != 1) {
                kp->bad++;
                return;
        }
        k = *(const unsigned char *)rkm->key;
        if (k >= 128 || rkm->len < 1 || ((const char *)rkm->payload)[0] != k) {
                kp->bad++;
                return;
        }
        if (kp->part_of[k] < 0)
                kp->part_of[k] = rkm->partition;
        else if (kp->part_of[k] != rkm->partition)
                kp->split_keys++;
}

/* @p n records over the @p in_parts partitions of a new topic @p in,
 * values "<letter>-<i>", and into @p b a topology that keys each by its
 * letter, repartitions through "<app>-rekey-repartition" (@p rekey_parts
 * partitions) and writes to a new topic @p out (2 partitions). */
static void rekey_setup(brook_builder_t *b, const char *in, int in_parts,
                        const char *out, int n, int32_t rekey_parts)
{
        rd_kafka_t *rk;
        int i;

        kt_create_topic(in, in_parts);
        kt_create_topic(out, 2);
        rk = kt_producer();
        for (i = 0; i < n; i++) {
                char v[32];
                /* Values start with one of 26 letters: the new key. */
                int len = snprintf(v, sizeof v, "%c-%d", 'a' + i % 26, i);
                kt_produce(rk, in, i % in_parts, NULL, v, (size_t)len, NULL);
        }
        kt_producer_close(rk);
        brook_stream_to(
                brook_stream_repartition(
                        brook_stream_select_key(brook_stream(b, in, NULL),
                                                first_char_key, NULL),
                        &(brook_repartitioned_t){.name = "rekey",
                                                 .num_partitions =
                                                         rekey_parts}),
                out, NULL);
}

static void test_repartition_two_threads(void **state)
{
        const int N = 10000;
        char *app_id = kt_unique("repart-app");
        char *in = kt_unique("repart-in"), *out = kt_unique("repart-out");
        char internal[512];
        brook_builder_t *b = brook_builder_new();
        brook_conf_t *conf;
        char errstr[512];
        brook_app_t *app;
        keyparts_t kp;
        int i;

        rekey_setup(b, in, 3, out, N, 5);
        conf = conf_for(app_id, "2");
        /* The repartition topic is read back below: nothing deleted. */
        assert_int_equal(brook_conf_set(conf, "repartition.purge.interval.ms",
                                        "2147483647", errstr, sizeof errstr),
                         BROOK_OK);
        app = brook_app_new(b, conf, errstr, sizeof errstr);
        assert_non_null(app);
        /* Each record is produced twice: to the repartition topic, then
         * to the output. */
        run_until(app, out, N, 2 * N);
        brook_app_destroy(app);
        /* Without application.server or a Schema Registry client, the
         * app never loaded libcurl or libmicrohttpd (engine/dynlib.h). */
        assert_false(brook__dynlib_loaded("curl"));
        assert_false(brook__dynlib_loaded("microhttpd"));

        /* brook created the repartition topic with the partitions asked
         * for, and every record went through it. */
        snprintf(internal, sizeof internal, "%s-rekey-repartition", app_id);
        assert_int_equal(kt_count(internal), N);
        memset(&kp, 0, sizeof kp);
        for (i = 0; i < 128; i++)
                kp.part_of[i] = -1;
        kt_consume_all(internal, check_keypart, &kp);
        assert_int_equal(kp.records, N);
        assert_int_equal(kp.bad, 0);
        assert_int_equal(kp.split_keys, 0);
        for (i = 0; i < 26; i++)
                assert_in_range(kp.part_of['a' + i], 0, 4);
        memset(&kp, 0, sizeof kp);
        for (i = 0; i < 128; i++)
                kp.part_of[i] = -1;
        kt_consume_all(out, check_keypart, &kp);
        assert_int_equal(kp.records, N);
        assert_int_equal(kp.bad, 0);
        assert_int_equal(kp.split_keys, 0);
        free(app_id);
        free(in);
        free(out);
}

/* Every partition of a repartition topic holds nothing any more, and
 * all of the input went through it. */
typedef struct purged {
        const char *topic;
        int partitions;
        int64_t total;
} purged_t;

static bool all_purged(void *opaque)
{
        const purged_t *w = opaque;
        int64_t lo, hi, sum = 0;
        int p;
        for (p = 0; p < w->partitions; p++) {
                kt_watermarks(w->topic, p, &lo, &hi);
                if (lo != hi)
                        return false;
                sum += hi;
        }
        return sum == w->total;
}

/* Records of a repartition topic that the app committed are deleted
 * (repartition.purge.interval.ms 0: after every commit), up to the
 * committed offsets. */
static void test_repartition_purge(void **state)
{
        const int N = 3000, P = 3;
        char *app_id = kt_unique("purge-app");
        char *in = kt_unique("purge-in"), *out = kt_unique("purge-out");
        char internal[512], errstr[512];
        brook_builder_t *b = brook_builder_new();
        brook_conf_t *conf = conf_for(app_id, "1");
        purged_t w = {internal, P, N};
        brook_app_t *app;
        int64_t lo, hi;
        int i;
        (void)state;

        rekey_setup(b, in, 2, out, N, P);
        assert_int_equal(brook_conf_set(conf, "repartition.purge.interval.ms",
                                        "0", errstr, sizeof errstr),
                         BROOK_OK);
        app = brook_app_new(b, conf, errstr, sizeof errstr);
        assert_non_null(app);
        assert_int_equal(brook_app_start(app, errstr, sizeof errstr), BROOK_OK);
        assert_int_equal(kt_wait_count(out, N, 120000), N);
        snprintf(internal, sizeof internal, "%s-rekey-repartition", app_id);
        assert_true(kt_wait_until(all_purged, &w, 100, 60000));
        /* Deleted up to what the app committed: everything, as it
         * processed everything. */
        for (i = 0; i < P; i++) {
                kt_watermarks(internal, i, &lo, &hi);
                assert_int_equal(kt_committed(app_id, internal, i), hi);
        }
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
        assert_int_equal(kt_count(out), N);
        free(app_id);
        free(in);
        free(out);
}

static void ignore_record(const brook_record_t *rec, void *opaque)
{
        (void)rec;
        (void)opaque;
}

/* An instance of @p app_id reading @p in as static member @p instance
 * (its consumer's client.id too, to tell the owners apart). */
static brook_app_t *static_app(const char *app_id, const char *in,
                               const char *instance)
{
        brook_builder_t *b = brook_builder_new();
        brook_conf_t *conf = conf_for(app_id, "1");
        char errstr[512];
        brook_app_t *app;

        brook_stream_foreach(brook_stream(b, in, NULL), ignore_record, NULL);
        if (brook_conf_set(conf, "group.instance.id", instance, errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "client.id", instance, errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "consumer.session.timeout.ms", "60000", errstr,
                           sizeof errstr))
                fail_msg("%s", errstr);
        app = brook_app_new(b, conf, errstr, sizeof errstr);
        assert_non_null(app);
        assert_int_equal(brook_app_start(app, errstr, sizeof errstr), BROOK_OK);
        return app;
}

static bool has_assignment(void *opaque)
{
        brook_app_stats_t st;
        brook_app_stats(opaque, &st);
        return st.rebalances >= 1;
}

/*
 * Static membership: with group.instance.id, an instance that stops and
 * comes back within session.timeout.ms gets its partitions back without a
 * rebalance: the other instance keeps its partitions throughout and is
 * never called to give up or take any. Each thread is a static member of
 * its own ("<id>-<thread number>", as Kafka Streams names them).
 */
static void test_static_membership(void **state)
{
        char *app_id = kt_unique("static-app"), *in = kt_unique("static-in");
        char *ida = kt_unique("static-a"), *idb = kt_unique("static-b");
        char before[4][256];
        brook_app_stats_t st;
        brook_app_t *a, *b;
        int64_t b_rebalances;
        kt_group_t g;
        int p;
        (void)state;

        kt_create_topic(in, 4);
        a = static_app(app_id, in, ida);
        b = static_app(app_id, in, idb);
        kt_wait_group_stable(app_id, in, 4, 2, &g, 60000);
        for (p = 0; p < 4; p++) {
                assert_true(strstr(g.owner[p], ida) || strstr(g.owner[p], idb));
                snprintf(before[p], sizeof before[p], "%s", g.owner[p]);
        }
        assert_true(kt_wait_until(has_assignment, b, 50, 60000));
        brook_app_stats(b, &st);
        b_rebalances = st.rebalances;

        /* a stops and comes back as the same static member. */
        assert_int_equal(brook_app_close(a, -1), BROOK_OK);
        brook_app_destroy(a);
        a = static_app(app_id, in, ida);
        assert_true(kt_wait_until(has_assignment, a, 50, 60000));
        kt_wait_group_stable(app_id, in, 4, 2, &g, 60000);
        for (p = 0; p < 4; p++)
                assert_string_equal(g.owner[p], before[p]);
        brook_app_stats(b, &st);
        assert_int_equal(st.rebalances, b_rebalances);

        assert_int_equal(brook_app_close(a, -1), BROOK_OK);
        assert_int_equal(brook_app_close(b, -1), BROOK_OK);
        brook_app_destroy(a);
        brook_app_destroy(b);
        free(app_id);
        free(in);
        free(ida);
        free(idb);
}

typedef struct value_count {
        int64_t a, b, other;
} value_count_t;

static void count_values(const rd_kafka_message_t *rkm, void *opaque)
{
        value_count_t *vc = opaque;
        if (rkm->len == 1 && *(const char *)rkm->payload == 'a')
                vc->a++;
        else if (rkm->len == 1 && *(const char *)rkm->payload == 'b')
                vc->b++;
        else
                vc->other++;
}

static void test_pattern_subscription(void **state)
{
        char *app_id = kt_unique("pattern-app");
        char *base = kt_unique("pattern");
        char a[256], bt[256], other[256], pattern[300];
        char *out = kt_unique("pattern-out");
        brook_builder_t *b = brook_builder_new();
        value_count_t vc = {0};
        char errstr[512];
        brook_app_t *app;
        rd_kafka_t *rk;
        int i;

        snprintf(a, sizeof a, "%s-events-a", base);
        snprintf(bt, sizeof bt, "%s-events-b", base);
        snprintf(other, sizeof other, "%s-other", base);
        snprintf(pattern, sizeof pattern, "%s-events-.*", base);
        kt_create_topic(a, 2);
        kt_create_topic(bt, 2);
        kt_create_topic(other, 2);
        kt_create_topic(out, 1);
        rk = kt_producer();
        for (i = 0; i < 100; i++) {
                kt_produce(rk, a, i % 2, "k", "a", 1, NULL);
                kt_produce(rk, bt, i % 2, "k", "b", 1, NULL);
                kt_produce(rk, other, i % 2, "k", "x", 1, NULL);
        }
        kt_producer_close(rk);

        brook_stream_to(brook_stream_pattern(b, pattern, NULL), out, NULL);
        app = brook_app_new(b, conf_for(app_id, "1"), errstr, sizeof errstr);
        assert_non_null(app);
        run_until(app, out, 200, 200);
        brook_app_destroy(app);
        /* Every record of the matching topics came through, and nothing
         * of the topic that does not match: no offset of it was committed
         * either, so the app never read it. */
        kt_consume_all(out, count_values, &vc);
        assert_int_equal(vc.a, 100);
        assert_int_equal(vc.b, 100);
        assert_int_equal(vc.other, 0);
        assert_int_equal(kt_committed_sum(app_id, a, 2), 100);
        assert_int_equal(kt_committed_sum(app_id, bt, 2), 100);
        assert_int_equal(kt_committed(app_id, other, 0), -1);
        assert_int_equal(kt_committed(app_id, other, 1), -1);
        free(app_id);
        free(base);
        free(out);
}

/* Sends every record to the last partition; records the count it saw. */
static int32_t last_partition(const char *topic, const void *key,
                              size_t key_size, const brook_record_t *rec,
                              int32_t partition_cnt, void *opaque)
{
        *(int32_t *)opaque = partition_cnt;
        return partition_cnt - 1;
}

typedef struct part_count {
        int64_t per_partition[4];
} part_count_t;

static void count_partition(const rd_kafka_message_t *rkm, void *opaque)
{
        part_count_t *pc = opaque;
        if (rkm->partition >= 0 && rkm->partition < 4)
                pc->per_partition[rkm->partition]++;
}

/* A custom partitioner learns the output topic's partition count from the
 * broker and its choice is where the records land. */
static void test_custom_partitioner(void **state)
{
        char *app_id = kt_unique("partitioner-app");
        char *in = kt_unique("partitioner-in"),
             *out = kt_unique("partitioner-out");
        brook_builder_t *b = brook_builder_new();
        int32_t seen_cnt = -1;
        part_count_t pc = {{0}};
        char errstr[512];
        brook_app_t *app;
        rd_kafka_t *rk;
        int i;

        kt_create_topic(in, 2);
        kt_create_topic(out, 3);
        rk = kt_producer();
        for (i = 0; i < 500; i++) {
                char key[16];
                snprintf(key, sizeof key, "k%d", i);
                kt_produce(rk, in, -1, key, "v", 1, NULL);
        }
        kt_producer_close(rk);

        brook_stream_to(brook_stream(b, in, NULL), out,
                        &(brook_produced_t){.partitioner = last_partition,
                                            .partitioner_opaque = &seen_cnt});
        app = brook_app_new(b, conf_for(app_id, "1"), errstr, sizeof errstr);
        assert_non_null(app);
        run_until(app, out, 500, 500);
        brook_app_destroy(app);
        assert_int_equal(seen_cnt, 3);
        kt_consume_all(out, count_partition, &pc);
        assert_int_equal(pc.per_partition[0], 0);
        assert_int_equal(pc.per_partition[1], 0);
        assert_int_equal(pc.per_partition[2], 500);
        free(app_id);
        free(in);
        free(out);
}

/* ------------------------------------------------------ run and signals */

static volatile sig_atomic_t test_sigterms;

static void test_on_sigterm(int sig)
{
        (void)sig;
        test_sigterms++;
}

/* Which SIGTERM handler the process had while a record was processed:
 * 1 the test's, 2 another (brook's). */
static atomic_int seen_handler;

static brook_err_t observe_process(brook_ctx_t *ctx, brook_record_t *rec,
                                   void *state, char *errstr,
                                   size_t errstr_size)
{
        struct sigaction cur;

        (void)state;
        sigaction(SIGTERM, NULL, &cur);
        atomic_store(&seen_handler, cur.sa_handler == test_on_sigterm ? 1 : 2);
        return brook_ctx_forward(ctx, rec, errstr, errstr_size);
}

typedef struct run_arg {
        brook_app_t *app;
        const brook_app_run_options_t *opts;
        int rc;
} run_arg_t;

static void *run_thread(void *p)
{
        run_arg_t *a = p;
        a->rc = a->opts ? brook_app_run_with(a->app, a->opts)
                        : brook_app_run(a->app);
        return NULL;
}

/*
 * Runs a one-record pipe with brook_app_run (@p opts NULL) or
 * brook_app_run_with(@p opts) on a thread, while the test has its own
 * SIGTERM handler. With brook's handlers, the run is stopped by a SIGTERM;
 * without, by brook_app_close() from this thread.
 */
static void run_with_signals(const brook_app_run_options_t *opts)
{
        bool handlers = !(opts && opts->no_signal_handlers);
        char *app_id = kt_unique("signals-app");
        char *in = kt_unique("signals-in");
        char *out = kt_unique("signals-out");
        brook_builder_t *b = brook_builder_new();
        struct sigaction sa, old, cur;
        char errstr[512];
        run_arg_t arg = {.opts = opts, .rc = -1};
        pthread_t th;
        rd_kafka_t *rk;

        memset(&sa, 0, sizeof sa);
        sa.sa_handler = test_on_sigterm;
        sigemptyset(&sa.sa_mask);
        assert_int_equal(sigaction(SIGTERM, &sa, &old), 0);
        test_sigterms = 0;
        atomic_store(&seen_handler, 0);

        kt_create_topic(in, 1);
        kt_create_topic(out, 1);
        rk = kt_producer();
        kt_produce(rk, in, 0, "k", "v", 1, NULL);
        kt_producer_close(rk);
        brook_stream_to(
                brook_stream_process(
                        brook_stream(b, in, NULL),
                        &(brook_processor_def_t){.process = observe_process},
                        NULL),
                out, NULL);
        arg.app =
                brook_app_new(b, conf_for(app_id, "1"), errstr, sizeof errstr);
        assert_non_null(arg.app);
        assert_int_equal(pthread_create(&th, NULL, run_thread, &arg), 0);
        assert_int_equal(kt_wait_count(out, 1, 120000), 1);
        /* While the app ran, SIGTERM went to brook only if it was asked to
         * handle signals. */
        assert_int_equal(atomic_load(&seen_handler), handlers ? 2 : 1);
        if (handlers)
                assert_int_equal(kill(getpid(), SIGTERM), 0);
        else
                assert_int_equal(brook_app_close(arg.app, -1), BROOK_OK);
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_int_equal(arg.rc, 0);
        assert_int_equal(brook_app_state(arg.app, NULL, 0),
                         BROOK_APP_NOT_RUNNING);
        /* The signal, if any, was brook's, and the test's handler is back
         * in place after the run. */
        assert_int_equal(test_sigterms, 0);
        assert_int_equal(sigaction(SIGTERM, NULL, &cur), 0);
        assert_true(cur.sa_handler == test_on_sigterm);
        brook_app_destroy(arg.app);
        assert_int_equal(sigaction(SIGTERM, &old, NULL), 0);
        free(app_id);
        free(in);
        free(out);
}

static void test_run_handles_signals(void **state)
{
        (void)state;
        run_with_signals(NULL);
}

static void test_run_without_signal_handlers(void **state)
{
        (void)state;
        run_with_signals(
                &(brook_app_run_options_t){.no_signal_handlers = true});
}

/* ------------------------------------------------- a failing restore */

/* The in-memory store, except that putting key "k3" fails: restoring a
 * changelog through it fails in the middle of a batch. */
static brook_kvstore_ops_t failing_ops;
static const brook_kvstore_ops_t *failing_inner;

static brook_err_t failing_put(void *self, const void *key, size_t key_size,
                               const void *value, size_t value_size,
                               char *errstr, size_t errstr_size)
{
        if (key_size == 2 && !memcmp(key, "k3", 2)) {
                snprintf(errstr, errstr_size, "disk says no to k3");
                return BROOK_ERR_STATE;
        }
        return failing_inner->put(self, key, key_size, value, value_size,
                                  errstr, errstr_size);
}

static brook_err_t failing_open(const brook_kvstore_open_t *info, void *opaque,
                                void **selfp, const brook_kvstore_ops_t **opsp,
                                char *errstr, size_t errstr_size)
{
        const brook_kvstore_supplier_t *mem = brook_kvstore_in_memory();
        brook_err_t err;

        (void)opaque;
        if ((err = mem->open(info, mem->opaque, selfp, &failing_inner, errstr,
                             errstr_size)))
                return err;
        failing_ops = *failing_inner;
        failing_ops.put = failing_put;
        *opsp = &failing_ops;
        return BROOK_OK;
}

/*
 * A restore that fails at the fourth of ten changelog records stops the app
 * with the cause; the six records after it in the batch are destroyed (the
 * ASan build fails on the leak, and librdkafka would otherwise hold their
 * references while the restore consumer is destroyed).
 */
static void test_restore_fails_mid_batch(void **state)
{
        static const brook_kvstore_supplier_t failing = {.open = failing_open};
        char *app_id = kt_unique("restorefail-app");
        char *in = kt_unique("restorefail-in");
        char changelog[512], key[8], errstr[1024] = "";
        brook_builder_t *b = brook_builder_new();
        brook_processor_def_t def = {.process = observe_process};
        brook_app_t *app;
        rd_kafka_t *rk;
        int i;
        (void)state;

        snprintf(changelog, sizeof changelog, "%s-kv-changelog", app_id);
        kt_create_topic(in, 1);
        kt_create_topic(changelog, 1);
        rk = kt_producer();
        for (i = 0; i < 10; i++) {
                snprintf(key, sizeof key, "k%d", i);
                kt_produce(rk, changelog, 0, key, "v", 1, NULL);
        }
        kt_producer_close(rk);

        assert_int_equal(brook_builder_add_source(b, "src",
                                                  (const char *[]){in}, 1, NULL,
                                                  NULL, errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_builder_add_processor(b, "p", &def,
                                                     (const char *[]){"src"}, 1,
                                                     errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_builder_add_store(
                                 b,
                                 &(brook_materialized_t){.name = "kv",
                                                         .supplier = &failing},
                                 (const char *[]){"p"}, 1, errstr,
                                 sizeof errstr),
                         BROOK_OK);
        app = brook_app_new(b, conf_for(app_id, "1"), errstr, sizeof errstr);
        assert_non_null(app);
        assert_int_equal(brook_app_start(app, errstr, sizeof errstr), BROOK_OK);
        assert_int_equal(brook_app_wait(app, 120000), BROOK_APP_ERROR);
        assert_int_equal(brook_app_state(app, errstr, sizeof errstr),
                         BROOK_APP_ERROR);
        if (!strstr(errstr, "restoring store \"kv\" failed at changelog "
                            "offset 3: store \"kv\": restore: disk says no "
                            "to k3"))
                fail_msg("unexpected error: %s", errstr);
        brook_app_close(app, -1);
        brook_app_destroy(app);
        free(app_id);
        free(in);
}

/* ------------------------------------------------------ state listener */

#define MAX_TRANS 64

/* What a state listener heard: (new, old) pairs in order, and whether two
 * calls ever overlapped. */
typedef struct {
        pthread_mutex_t mu;
        brook_app_state_t to[MAX_TRANS], from[MAX_TRANS];
        int n;
        atomic_int inside;
        bool overlapped;
        /* Set: on the first RUNNING and on NOT_RUNNING the listener
         * closes the app, from a stream thread; what those calls
         * returned (asserted on the test's thread). */
        bool close_on_running;
        /* Set: on REBALANCING from CREATED, told in brook_app_start() on
         * the test's thread, the listener closes the app. */
        bool close_on_start;
        brook_err_t rc_start;
        brook_err_t rc_running, rc_not_running;
        int64_t running_close_ms;
        int closes;
} heard_t;

static void listen_cb(brook_app_t *app, brook_app_state_t new_state,
                      brook_app_state_t old_state, void *opaque)
{
        heard_t *h = opaque;
        if (atomic_fetch_add(&h->inside, 1))
                h->overlapped = true;
        pthread_mutex_lock(&h->mu);
        if (h->n < MAX_TRANS) {
                h->to[h->n] = new_state;
                h->from[h->n] = old_state;
                h->n++;
        }
        pthread_mutex_unlock(&h->mu);
        if (h->close_on_start && old_state == BROOK_APP_CREATED) {
                int64_t t0 = kt_now_ms();
                h->rc_start = brook_app_close(app, 30000);
                h->running_close_ms = kt_now_ms() - t0;
        }
        if (h->close_on_running && new_state == BROOK_APP_RUNNING &&
            !h->closes) {
                int64_t t0 = kt_now_ms();
                h->closes++;
                h->rc_running = brook_app_close(app, 30000);
                h->running_close_ms = kt_now_ms() - t0;
        } else if (h->close_on_running && new_state == BROOK_APP_NOT_RUNNING) {
                h->closes++;
                h->rc_not_running = brook_app_close(app, 30000);
        }
        atomic_fetch_sub(&h->inside, 1);
}

/* Kafka Streams' KafkaStreams.State transitions. */
static bool ks_valid(brook_app_state_t from, brook_app_state_t to)
{
        switch (from) {
        case BROOK_APP_CREATED:
                return to == BROOK_APP_REBALANCING ||
                       to == BROOK_APP_PENDING_SHUTDOWN;
        case BROOK_APP_REBALANCING:
                return to == BROOK_APP_RUNNING ||
                       to == BROOK_APP_PENDING_SHUTDOWN ||
                       to == BROOK_APP_PENDING_ERROR;
        case BROOK_APP_RUNNING:
                return to == BROOK_APP_REBALANCING ||
                       to == BROOK_APP_PENDING_SHUTDOWN ||
                       to == BROOK_APP_PENDING_ERROR;
        case BROOK_APP_PENDING_SHUTDOWN:
                return to == BROOK_APP_NOT_RUNNING;
        case BROOK_APP_PENDING_ERROR:
                return to == BROOK_APP_ERROR;
        default:
                return false;
        }
}

/* Every transition heard is Kafka Streams', each starts where the last
 * ended, the first leaves CREATED, the last ends in @p last. */
static void expect_chain(heard_t *h, brook_app_state_t last)
{
        assert_false(h->overlapped);
        assert_true(h->n >= 2 && h->n < MAX_TRANS);
        assert_int_equal(h->from[0], BROOK_APP_CREATED);
        for (int i = 0; i < h->n; i++) {
                if (!ks_valid(h->from[i], h->to[i]))
                        fail_msg("transition %d: %d -> %d is not Kafka "
                                 "Streams'",
                                 i, (int)h->from[i], (int)h->to[i]);
                if (i)
                        assert_int_equal(h->from[i], h->to[i - 1]);
        }
        assert_int_equal(h->to[h->n - 1], last);
}

static brook_app_t *listened_app(const char *app_id, const char *in, heard_t *h)
{
        brook_builder_t *b = brook_builder_new();
        char errstr[1024];
        brook_app_t *app;
        brook_stream_foreach(brook_stream(b, in, NULL), ignore_record, NULL);
        app = brook_app_new(b, conf_for(app_id, "1"), errstr, sizeof errstr);
        assert_non_null(app);
        pthread_mutex_init(&h->mu, NULL);
        atomic_init(&h->inside, 0);
        assert_int_equal(brook_app_set_state_listener(app, listen_cb, h, errstr,
                                                      sizeof errstr),
                         BROOK_OK);
        return app;
}

static bool heard_running(void *opaque)
{
        heard_t *h = opaque;
        bool yes;
        pthread_mutex_lock(&h->mu);
        yes = h->n && h->to[h->n - 1] == BROOK_APP_RUNNING;
        pthread_mutex_unlock(&h->mu);
        return yes;
}

static void test_state_listener(void **state)
{
        char *app_id = kt_unique("listen-app"), *in = kt_unique("listen-in");
        heard_t h = {0};
        char errstr[1024];
        brook_app_t *app;

        kt_create_topic(in, 2);
        app = listened_app(app_id, in, &h);
        assert_int_equal(brook_app_start(app, errstr, sizeof errstr), BROOK_OK);
        /* Only before the start, as in Kafka Streams. */
        assert_int_equal(brook_app_set_state_listener(app, NULL, NULL, errstr,
                                                      sizeof errstr),
                         BROOK_ERR_STATE);
        assert_non_null(strstr(errstr, "before the app starts"));
        assert_true(kt_wait_until(heard_running, &h, 20, 60000));
        assert_int_equal(brook_app_close(app, 30000), BROOK_OK);
        /* CREATED -> REBALANCING -> RUNNING (a rebalance may come and go)
         * -> PENDING_SHUTDOWN -> NOT_RUNNING. */
        expect_chain(&h, BROOK_APP_NOT_RUNNING);
        assert_int_equal(h.to[0], BROOK_APP_REBALANCING);
        assert_int_equal(h.to[h.n - 2], BROOK_APP_PENDING_SHUTDOWN);
        assert_true(h.from[h.n - 2] == BROOK_APP_RUNNING ||
                    h.from[h.n - 2] == BROOK_APP_REBALANCING);
        brook_app_destroy(app);
        pthread_mutex_destroy(&h.mu);
        free(app_id);
        free(in);
}

/* A listener that closes the app, from a stream thread (two of them): on
 * RUNNING, and again on NOT_RUNNING. On a stream thread the call only
 * asks for the stop and returns at once; the owner closes. */
static void test_state_listener_closes(void **state)
{
        char *app_id = kt_unique("listen-close"), *in = kt_unique("listen-in");
        heard_t h = {.close_on_running = true};
        brook_builder_t *b = brook_builder_new();
        char errstr[1024];
        brook_app_t *app;
        bool running = false;

        kt_create_topic(in, 2);
        brook_stream_foreach(brook_stream(b, in, NULL), ignore_record, NULL);
        app = brook_app_new(b, conf_for(app_id, "2"), errstr, sizeof errstr);
        assert_non_null(app);
        pthread_mutex_init(&h.mu, NULL);
        atomic_init(&h.inside, 0);
        assert_int_equal(brook_app_set_state_listener(app, listen_cb, &h,
                                                      errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_app_start(app, errstr, sizeof errstr), BROOK_OK);
        assert_int_equal(brook_app_wait(app, 60000), BROOK_APP_NOT_RUNNING);
        assert_int_equal(brook_app_close(app, 30000), BROOK_OK);
        assert_int_equal(h.closes, 2);
        /* At once, not after the 30 s it was given: a stream thread does
         * not wait for the threads. */
        assert_int_equal(h.rc_running, BROOK_ERR_TIMED_OUT);
        assert_true(h.running_close_ms < 20000);
        /* NOT_RUNNING is told on the last stream thread out, or on this
         * thread's close if that looks first: then the listener's close
         * is an ordinary one, which finds the app closed. */
        assert_true(h.rc_not_running == BROOK_ERR_TIMED_OUT ||
                    h.rc_not_running == BROOK_OK);
        expect_chain(&h, BROOK_APP_NOT_RUNNING);
        for (int i = 0; i < h.n; i++)
                running |= h.to[i] == BROOK_APP_RUNNING;
        assert_true(running);
        assert_int_equal(h.to[h.n - 2], BROOK_APP_PENDING_SHUTDOWN);
        brook_app_destroy(app);
        pthread_mutex_destroy(&h.mu);
        free(app_id);
        free(in);
}

/* A listener that closes the app as it starts (REBALANCING, told on the
 * thread in brook_app_start()): the close asks for the stop at once, and
 * start-up gives up cleanly. */
static void test_state_listener_closes_in_start(void **state)
{
        char *app_id = kt_unique("listen-start"), *in = kt_unique("listen-in");
        heard_t h = {.close_on_start = true};
        char errstr[1024];
        brook_app_t *app;

        kt_create_topic(in, 1);
        app = listened_app(app_id, in, &h);
        assert_int_equal(brook_app_start(app, errstr, sizeof errstr), BROOK_OK);
        assert_int_equal(h.rc_start, BROOK_ERR_TIMED_OUT);
        assert_true(h.running_close_ms < 20000);
        assert_int_equal(brook_app_wait(app, 30000), BROOK_APP_NOT_RUNNING);
        assert_int_equal(brook_app_close(app, 30000), BROOK_OK);
        /* CREATED -> REBALANCING -> PENDING_SHUTDOWN -> NOT_RUNNING. */
        expect_chain(&h, BROOK_APP_NOT_RUNNING);
        assert_int_equal(h.n, 3);
        assert_int_equal(h.to[1], BROOK_APP_PENDING_SHUTDOWN);
        brook_app_destroy(app);
        pthread_mutex_destroy(&h.mu);
        free(app_id);
        free(in);
}

static void test_state_listener_errors(void **state)
{
        char *app_id = kt_unique("listen-err");
        char *missing = kt_unique("listen-missing");
        heard_t h = {0};
        char errstr[1024];
        brook_app_t *app = listened_app(app_id, missing, &h);

        /* A failed start: CREATED -> REBALANCING -> PENDING_ERROR ->
         * ERROR. */
        assert_int_not_equal(brook_app_start(app, errstr, sizeof errstr),
                             BROOK_OK);
        assert_int_equal(brook_app_state(app, NULL, 0), BROOK_APP_ERROR);
        expect_chain(&h, BROOK_APP_ERROR);
        assert_int_equal(h.n, 3);
        assert_int_equal(h.to[1], BROOK_APP_PENDING_ERROR);
        brook_app_destroy(app);
        pthread_mutex_destroy(&h.mu);
        /* Closing an app never started: CREATED -> PENDING_SHUTDOWN ->
         * NOT_RUNNING. */
        memset(&h, 0, sizeof h);
        app = listened_app(app_id, missing, &h);
        assert_int_equal(brook_app_close(app, 1000), BROOK_OK);
        expect_chain(&h, BROOK_APP_NOT_RUNNING);
        assert_int_equal(h.n, 2);
        brook_app_destroy(app);
        pthread_mutex_destroy(&h.mu);
        free(app_id);
        free(missing);
}

/* ----------------------------------------------- uncaught exceptions */

/* A processor that fails on the value "boom" the first time it sees it,
 * and forwards everything. */
static atomic_int boom_failures;
static atomic_bool boom_always; /**< Fails on every "boom". */

static brook_err_t flaky_process(brook_ctx_t *ctx, brook_record_t *rec,
                                 void *state, char *errstr, size_t errstr_size)
{
        (void)state;
        if (rec->value && !strcmp(rec->value, "boom") &&
            (atomic_fetch_add(&boom_failures, 1) == 0 ||
             atomic_load(&boom_always))) {
                snprintf(errstr, errstr_size, "boom, once");
                return BROOK_ERR_FATAL;
        }
        return brook_ctx_forward(ctx, rec, errstr, errstr_size);
}

typedef struct uncaught {
        atomic_int calls;
        brook_uncaught_response_t response;
        char error[512];
} uncaught_t;

static brook_uncaught_response_t on_uncaught(brook_app_t *app,
                                             const char *error, void *opaque)
{
        uncaught_t *u = opaque;
        (void)app;
        if (atomic_fetch_add(&u->calls, 1) == 0)
                snprintf(u->error, sizeof u->error, "%s", error);
        return u->response;
}

static brook_app_t *flaky_app(const char *app_id, const char *in,
                              const char *out, const char *guarantee,
                              uncaught_t *u)
{
        brook_builder_t *b = brook_builder_new();
        brook_conf_t *conf = conf_for(app_id, "1");
        brook_processor_def_t def = {.process = flaky_process};
        char errstr[1024];
        brook_app_t *app;

        assert_int_equal(brook_conf_set(conf, "processing.guarantee", guarantee,
                                        errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_builder_add_source(b, "src",
                                                  (const char *[]){in}, 1, NULL,
                                                  NULL, errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_builder_add_processor(b, "flaky", &def,
                                                     (const char *[]){"src"}, 1,
                                                     errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_builder_add_sink(b, "out", out, NULL, NULL, NULL,
                                                (const char *[]){"flaky"}, 1,
                                                errstr, sizeof errstr),
                         BROOK_OK);
        app = brook_app_new(b, conf, errstr, sizeof errstr);
        assert_non_null(app);
        assert_int_equal(brook_app_set_uncaught_exception_handler(
                                 app, on_uncaught, u, errstr, sizeof errstr),
                         BROOK_OK);
        return app;
}

/* Values "v0" .. "v<n-1>" and "boom" in the middle, on one partition. */
static void produce_flaky_input(const char *in, int n)
{
        rd_kafka_t *p = kt_producer();
        char v[32];
        int i;
        for (i = 0; i < n; i++) {
                if (i == n / 2)
                        kt_produce(p, in, 0, "k", "boom", 4, NULL);
                snprintf(v, sizeof v, "v%d", i);
                kt_produce(p, in, 0, "k", v, strlen(v), NULL);
        }
        kt_producer_close(p);
}

typedef struct seen_values {
        int n, boom, dup;
        unsigned char v[1000];
} seen_values_t;

static void count_value(const rd_kafka_message_t *m, void *opaque)
{
        seen_values_t *s = opaque;
        char buf[32];
        int i;
        snprintf(buf, sizeof buf, "%.*s", (int)m->len,
                 (const char *)m->payload);
        s->n++;
        if (!strcmp(buf, "boom"))
                s->boom++;
        else if (sscanf(buf, "v%d", &i) == 1 && i >= 0 && i < 1000 && s->v[i]++)
                s->dup++;
}

/*
 * REPLACE_THREAD: the processor fails once on "boom"; the handler is told
 * once, a new thread takes over, the app stays up (REBALANCING, then
 * RUNNING again), and under exactly_once_v2 the output holds every input
 * record exactly once ("boom" included: the new thread processes it
 * again, and it passes).
 */
static void test_uncaught_replace_thread(void **state)
{
        char *app_id = kt_unique("uncaught-replace");
        char *in = kt_unique("uncaught-in"), *out = kt_unique("uncaught-out");
        uncaught_t u = {.response = BROOK_UNCAUGHT_REPLACE_THREAD};
        seen_values_t seen;
        const char *topics[] = {out};
        kt_reader_t *r;
        brook_app_t *app;
        char errstr[1024];
        int64_t t0;
        int i;
        (void)state;

        atomic_store(&boom_failures, 0);
        atomic_store(&boom_always, false);
        kt_create_topic(in, 1);
        kt_create_topic(out, 1);
        produce_flaky_input(in, 400);
        app = flaky_app(app_id, in, out, "exactly_once_v2", &u);
        assert_int_equal(brook_app_start(app, errstr, sizeof errstr), BROOK_OK);

        memset(&seen, 0, sizeof seen);
        r = kt_reader_new(topics, 1, 1);
        t0 = kt_now_ms();
        while (seen.n < 401 && kt_now_ms() - t0 < 120000)
                kt_reader_poll(r, 500, count_value, &seen);
        assert_int_equal(seen.n, 401);
        assert_int_equal(seen.boom, 1);
        assert_int_equal(seen.dup, 0);
        for (i = 0; i < 400; i++)
                assert_int_equal(seen.v[i], 1);
        assert_int_equal(atomic_load(&u.calls), 1);
        assert_non_null(strstr(u.error, "boom, once"));
        assert_int_equal(atomic_load(&boom_failures), 2);
        /* Up again, with the new thread; nothing more arrives. */
        t0 = kt_now_ms();
        while (brook_app_state(app, NULL, 0) != BROOK_APP_RUNNING &&
               kt_now_ms() - t0 < 60000)
                kt_sleep_ms(50);
        assert_int_equal(brook_app_state(app, NULL, 0), BROOK_APP_RUNNING);
        kt_reader_drain(r, 30000, count_value, &seen);
        assert_int_equal(seen.n, 401);
        kt_reader_destroy(r);

        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        assert_int_equal(brook_app_state(app, NULL, 0), BROOK_APP_NOT_RUNNING);
        brook_app_destroy(app);
        free(app_id);
        free(in);
        free(out);
}

/*
 * SHUTDOWN_APPLICATION: two instances of one application; the one that
 * gets "boom" fails, its handler shuts the application down, and the
 * other, which saw no failure (its handler is never called), stops with
 * an error that says so.
 */
static void test_uncaught_shutdown_application(void **state)
{
        char *app_id = kt_unique("uncaught-shutdown");
        char *in = kt_unique("uncaught-sd-in"),
             *out = kt_unique("uncaught-sd-out");
        uncaught_t u[2] = {{.response = BROOK_UNCAUGHT_SHUTDOWN_APPLICATION},
                           {.response = BROOK_UNCAUGHT_SHUTDOWN_APPLICATION}};
        brook_app_t *apps[2];
        char errstr[1024];
        int k, failed = -1;
        (void)state;

        atomic_store(&boom_always, true);
        kt_create_topic(in, 2);
        kt_create_topic(out, 2);
        for (k = 0; k < 2; k++) {
                apps[k] = flaky_app(app_id, in, out, "at_least_once", &u[k]);
                assert_int_equal(
                        brook_app_start(apps[k], errstr, sizeof errstr),
                        BROOK_OK);
        }
        /* Both have a partition before "boom" comes. */
        {
                kt_group_t g;
                kt_wait_group_stable(app_id, in, 2, 2, &g, 60000);
        }
        produce_flaky_input(in, 10);
        for (k = 0; k < 2; k++)
                assert_int_equal(brook_app_wait(apps[k], 60000),
                                 BROOK_APP_ERROR);
        for (k = 0; k < 2; k++)
                if (atomic_load(&u[k].calls))
                        failed = k;
        assert_true(failed >= 0);
        assert_int_equal(atomic_load(&u[failed].calls), 1);
        assert_int_equal(atomic_load(&u[1 - failed].calls), 0);
        brook_app_state(apps[failed], errstr, sizeof errstr);
        assert_non_null(strstr(errstr, "boom"));
        brook_app_state(apps[1 - failed], errstr, sizeof errstr);
        if (!strstr(errstr, "the application was shut down by instance") ||
            !strstr(errstr, "boom"))
                fail_msg("the other instance's error: %s", errstr);
        for (k = 0; k < 2; k++)
                brook_app_destroy(apps[k]);
        atomic_store(&boom_always, false);
        free(app_id);
        free(in);
        free(out);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_missing_source_topic),
                cmocka_unit_test(test_copartition_mismatch),
                cmocka_unit_test(test_internal_topic_wrong_partitions),
                cmocka_unit_test(test_repartition_two_threads),
                cmocka_unit_test(test_repartition_purge),
                cmocka_unit_test(test_static_membership),
                cmocka_unit_test(test_pattern_subscription),
                cmocka_unit_test(test_custom_partitioner),
                cmocka_unit_test(test_run_handles_signals),
                cmocka_unit_test(test_run_without_signal_handlers),
                cmocka_unit_test(test_restore_fails_mid_batch),
                cmocka_unit_test(test_state_listener),
                cmocka_unit_test(test_state_listener_closes),
                cmocka_unit_test(test_state_listener_closes_in_start),
                cmocka_unit_test(test_state_listener_errors),
                cmocka_unit_test(test_uncaught_replace_thread),
                cmocka_unit_test(test_uncaught_shutdown_application),
        };
        kt_test_filter();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
