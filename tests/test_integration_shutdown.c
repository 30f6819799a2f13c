/*
 * Integration: every way an app stops is bounded in time, even with the
 * broker gone (tools/kafka/broker kill), and the exit status says how it
 * ended: a broker killed under a running app, a SIGTERM during start-up, a
 * fatal error while the broker is down, a close while the thread waits for
 * records (at once, not after poll.ms), and a source topic deleted while
 * the app runs (Kafka Streams' MissingSourceTopicException: the app stops
 * in ERROR naming the topic).
 *
 * The broker is shared with the other integration tests: a test that kills
 * it restarts it (same address, same data) in its teardown, which cmocka
 * runs when the test fails too.
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

#include "apps/count_topology.h"
#include "brook_int.h"
#include "kafka_util.h"

/* Slack on top of a bound: scheduling on a loaded 2-core machine, ASan. */
#define SLACK_MS 1500

static bool broker_killed;

static void kill_broker(void)
{
        broker_killed = true;
        kt_broker("kill");
}

/* Teardown of every test: the next test (and file) needs the broker. */
static int restore_broker(void **state)
{
        (void)state;
        if (broker_killed) {
                kt_broker("restart");
                broker_killed = false;
        }
        return 0;
}

static brook_conf_t *conf_for(const char *app_id, const char *state_dir,
                              const char *shutdown_ms)
{
        brook_conf_t *conf = brook_conf_new();
        char errstr[512];
        if (brook_conf_set(conf, "application.id", app_id, errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "bootstrap.servers", kt_bootstrap(), errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "state.dir", state_dir, errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "commit.interval.ms", "200", errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "shutdown.timeout.ms", shutdown_ms, errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "default.key.serde", "string", errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "default.value.serde", "string", errstr,
                           sizeof errstr))
                fail_msg("%s", errstr);
        return conf;
}

static char *state_dir(void)
{
        char *dir = strdup("/tmp/brook-shutdown-test-XXXXXX");
        assert_non_null(mkdtemp(dir));
        return dir;
}

static void rm_rf(const char *dir)
{
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

/* count_app's topology: per-key counts of @p in, every update to @p out. */
static void count_topology(brook_builder_t *b, const char *in, const char *out)
{
        count_topology_add(b, in, out, "counts", NULL);
}

static void produce_many(const char *topic, int n)
{
        rd_kafka_t *rk = kt_producer();
        char key[32];
        int i;
        for (i = 0; i < n; i++) {
                snprintf(key, sizeof key, "k%d", i % 1000);
                kt_produce(rk, topic, -1, key, "v", 1, NULL);
        }
        kt_producer_close(rk);
}

static void delete_topic(const char *topic)
{
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_t *rk;
        rd_kafka_queue_t *q;
        rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
        rd_kafka_event_t *ev;
        const rd_kafka_topic_result_t **res;
        size_t cnt;
        char err[512];

        rd_kafka_conf_set(c, "bootstrap.servers", kt_bootstrap(), NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
        assert_non_null(rk);
        q = rd_kafka_queue_new(rk);
        rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
        ev = rd_kafka_queue_poll(q, 30000);
        assert_non_null(ev);
        assert_int_equal(rd_kafka_event_error(ev), 0);
        res = rd_kafka_DeleteTopics_result_topics(
                rd_kafka_event_DeleteTopics_result(ev), &cnt);
        assert_int_equal(cnt, 1);
        if (rd_kafka_topic_result_error(res[0]))
                fail_msg("delete topic %s: %s", topic,
                         rd_kafka_topic_result_error_string(res[0]));
        rd_kafka_event_destroy(ev);
        rd_kafka_DeleteTopic_destroy(dt);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
}

/* ------------------------------------------------ (a) the broker killed */

typedef struct killed_app {
        bool stateful;
        const char *shutdown_ms;
        char *app_id, *in, *out, *dir;
        brook_app_t *app;
        brook_err_t close_err;
        int64_t t_close, t_destroy;
} killed_app_t;

/* Starts an app (stateful: count; else a plain pipe) over a backlog. */
static void killed_app_start(killed_app_t *k)
{
        brook_builder_t *b = brook_builder_new();
        brook_conf_t *conf;
        char errstr[1024];
        k->app_id = kt_unique(k->stateful ? "killed-count" : "killed-pipe");
        k->in = kt_unique("killed-in");
        k->out = kt_unique("killed-out");
        k->dir = state_dir();
        kt_create_topic(k->in, 2);
        kt_create_topic(k->out, 2);
        produce_many(k->in, 200000);
        if (k->stateful)
                count_topology(b, k->in, k->out);
        else
                brook_stream_to(brook_stream(b, k->in, NULL), k->out, NULL);
        conf = conf_for(k->app_id, k->dir, k->shutdown_ms);
        /* Every update goes out at once: the producer's queue is full when
         * the broker dies. */
        if (k->stateful && brook_conf_set(conf, "statestore.cache.max.bytes",
                                          "0", errstr, sizeof errstr))
                fail_msg("%s", errstr);
        k->app = brook_app_new(b, conf, errstr, sizeof errstr);
        assert_non_null(k->app);
        assert_int_equal(brook_app_start(k->app, errstr, sizeof errstr),
                         BROOK_OK);
}

/* Stops the app: brook_app_close(5000), then brook_app_destroy(); on its
 * own thread, so that every app's stop starts right after the kill. */
static void *killed_app_stop(void *p)
{
        killed_app_t *k = p;
        int64_t t0 = kt_now_ms();
        k->close_err = brook_app_close(k->app, 5000);
        k->t_close = kt_now_ms() - t0;
        brook_app_destroy(k->app);
        k->t_destroy = kt_now_ms() - t0;
        return NULL;
}

/* brook_app_close(5000) returned within 5 s, and brook_app_destroy()
 * within what app.h promises: shutdown.timeout.ms after the stop began,
 * plus about a second. */
static void killed_app_check(killed_app_t *k)
{
        int64_t bound = atoll(k->shutdown_ms) + 1000;
        print_message("broker killed (%s, shutdown.timeout.ms=%s): close "
                      "%s after %" PRId64 " ms, destroy done after %" PRId64
                      " ms\n",
                      k->stateful ? "count" : "pipe", k->shutdown_ms,
                      brook_err2str(k->close_err), k->t_close, k->t_destroy);
        assert_true(k->close_err == BROOK_OK ||
                    k->close_err == BROOK_ERR_TIMED_OUT);
        if (k->t_close > 5000 + SLACK_MS)
                fail_msg("close(5000) took %" PRId64 " ms", k->t_close);
        if (k->t_destroy > bound + SLACK_MS)
                fail_msg("destroy returned %" PRId64 " ms after the stop, "
                         "more than shutdown.timeout.ms + 1 s = %" PRId64,
                         k->t_destroy, bound);
        rm_rf(k->dir);
        free(k->dir);
        free(k->app_id);
        free(k->in);
        free(k->out);
}

/* ------------------------------------------- (b) SIGTERM during start-up */

static const char *err_path;

static bool stderr_says_connect(void *opaque)
{
        char *s = kt_slurp(err_path);
        bool ok = s && strstr(s, "Connect to");
        (void)opaque;
        free(s);
        return ok;
}

/* count_app started against a port nobody listens on keeps retrying its
 * first metadata request; a SIGTERM then ends it at once, cleanly. */
static void test_sigterm_during_startup(void **state)
{
        char *app_id = kt_unique("startup-term");
        char *dir = state_dir();
        char log[512], errp[600];
        char *argv[] = {COUNT_APP_PATH, "startup",     "127.0.0.1:1", app_id,
                        "startup-in",   "startup-out", dir,           NULL};
        pid_t pid;
        int64_t t0, took;
        int rc;

        (void)state;
        snprintf(log, sizeof log, "%s/shutdown-startup", LOG_DIR);
        snprintf(errp, sizeof errp, "%s.err", log);
        err_path = errp;
        /* Not an earlier run's log: the child truncates it only later. */
        unlink(errp);
        pid = kt_spawn(argv, log);
        /* Start-up is under way once it failed to connect at least once. */
        if (!kt_wait_until(stderr_says_connect, NULL, 50, 30000))
                fail_msg("count_app never tried to connect (%s)", errp);
        t0 = kt_now_ms();
        assert_int_equal(kill(pid, SIGTERM), 0);
        rc = kt_wait(pid, 10000);
        took = kt_now_ms() - t0;
        print_message("SIGTERM during start-up: exit %d after %" PRId64 " ms\n",
                      rc, took);
        assert_int_equal(rc, 0);
        if (took > 1500 + SLACK_MS)
                fail_msg("count_app took %" PRId64 " ms to stop", took);
        rm_rf(dir);
        free(dir);
        free(app_id);
}

/* ------------------------------------------- (c) a fatal error: exit 1 */

static atomic_int boom_reached, boom_release;

/* Fails on the record "boom" (after forwarding it): with the default
 * processing handler (fail), a fatal error. Before failing it waits for
 * boom_release, so the test can kill the broker first. */
static brook_err_t boom_process(brook_ctx_t *ctx, brook_record_t *rec,
                                void *state, char *errstr, size_t errstr_size)
{
        const char *v = brook_record_value(rec);
        brook_err_t err;
        (void)state;
        if (!v || strcmp(v, "boom"))
                return brook_ctx_forward(ctx, rec, errstr, errstr_size);
        atomic_store(&boom_reached, 1);
        while (!atomic_load(&boom_release))
                usleep(10 * 1000);
        if ((err = brook_ctx_forward(ctx, rec, errstr, errstr_size)))
                return err;
        snprintf(errstr, errstr_size, "boom");
        return BROOK_ERR_PROCESSING;
}

typedef struct run_arg {
        brook_app_t *app;
        atomic_int done;
        int rc;
} run_arg_t;

static void *run_thread(void *p)
{
        run_arg_t *a = p;
        a->rc = brook_app_run_with(
                a->app, &(brook_app_run_options_t){.no_signal_handlers = true});
        atomic_store(&a->done, 1);
        return NULL;
}

static bool is_true(void *p)
{
        return atomic_load((atomic_int *)p) != 0;
}

/* An app that fails on its record "boom", run by brook_app_run_with() on a
 * thread. */
typedef struct boom_app {
        char *app_id, *in, *out, *dir;
        run_arg_t arg;
        pthread_t th;
} boom_app_t;

static void boom_start(boom_app_t *a, bool hold)
{
        brook_builder_t *b = brook_builder_new();
        char errstr[1024];
        rd_kafka_t *rk;

        atomic_store(&boom_reached, 0);
        atomic_store(&boom_release, hold ? 0 : 1);
        a->app_id = kt_unique("fatal-run");
        a->in = kt_unique("fatal-in");
        a->out = kt_unique("fatal-out");
        a->dir = state_dir();
        a->arg.rc = -1;
        atomic_init(&a->arg.done, 0);
        kt_create_topic(a->in, 1);
        kt_create_topic(a->out, 1);
        rk = kt_producer();
        kt_produce(rk, a->in, 0, "k", "a", 1, NULL);
        kt_produce(rk, a->in, 0, "k", "boom", 4, NULL);
        kt_producer_close(rk);
        brook_stream_to(brook_stream_process(brook_stream(b, a->in, NULL),
                                             &(brook_processor_def_t){
                                                     .process = boom_process},
                                             NULL),
                        a->out, NULL);
        a->arg.app = brook_app_new(b, conf_for(a->app_id, a->dir, "3000"),
                                   errstr, sizeof errstr);
        assert_non_null(a->arg.app);
        assert_int_equal(pthread_create(&a->th, NULL, run_thread, &a->arg), 0);
        if (!kt_wait_until(is_true, &boom_reached, 20, 120000))
                fail_msg("the app never reached the record \"boom\"");
}

/* Lets the record "boom" fail; brook_app_run returns 1 within the stop's
 * bound (shutdown.timeout.ms = 3 s, plus a second) and the app is in ERROR
 * with the processor's message. */
static void boom_check(boom_app_t *a, const char *what)
{
        char errstr[1024];
        int64_t t0 = kt_now_ms(), took;
        atomic_store(&boom_release, 1);
        if (!kt_wait_until(is_true, &a->arg.done, 20, 3000 + 1000 + SLACK_MS))
                fail_msg("brook_app_run did not return in time");
        took = kt_now_ms() - t0;
        assert_int_equal(pthread_join(a->th, NULL), 0);
        print_message("fatal error (%s): brook_app_run returned %d after "
                      "%" PRId64 " ms\n",
                      what, a->arg.rc, took);
        assert_int_equal(a->arg.rc, 1);
        assert_int_equal(brook_app_state(a->arg.app, errstr, sizeof errstr),
                         BROOK_APP_ERROR);
        if (!strstr(errstr, "boom"))
                fail_msg("the error \"%s\" lacks the cause", errstr);
        t0 = kt_now_ms();
        brook_app_destroy(a->arg.app);
        assert_true(kt_now_ms() - t0 < 1000 + SLACK_MS);
        rm_rf(a->dir);
        free(a->dir);
        free(a->app_id);
        free(a->in);
        free(a->out);
}

static void test_fatal_error_run_fails(void **state)
{
        boom_app_t a = {0};
        (void)state;
        boom_start(&a, false);
        boom_check(&a, "broker up");
}

/* ------------------------------------------------ (a) the broker killed */

/*
 * A count, a pipe and the failing app all run when the broker is killed
 * (one kill for all: restarting a crashed broker is slow). The count's
 * close(5000) times out and its threads end later, in destroy; the pipe's
 * threads give up before its close does. The failing app's final flush
 * cannot finish, its thread outlives run's first close; run used to
 * return 0 from PENDING_ERROR then.
 */
/* A line in the child's log (stderr: unbuffered, so it is there even if
 * the parent kills the child) as each step begins: a hang can be placed. */
static void body_step(const char *what)
{
        static int64_t t0;
        if (!t0)
                t0 = kt_now_ms();
        fprintf(stderr, "broker-killed: +%" PRId64 " ms: %s\n",
                kt_now_ms() - t0, what);
}

static void broker_killed_body(void **state)
{
        killed_app_t count = {.stateful = true, .shutdown_ms = "8000"};
        killed_app_t pipe = {.stateful = false, .shutdown_ms = "3000"};
        boom_app_t boom = {0};
        pthread_t t1, t2;

        (void)state;
        body_step("starting the pipe");
        killed_app_start(&pipe);
        body_step("starting the failing app");
        boom_start(&boom, true);
        body_step("waiting for the pipe's output");
        if (kt_wait_count(pipe.out, 2000, 120000) < 2000)
                fail_msg("the pipe produced nothing");
        /* The count last, and the kill as soon as it produces: it is
         * processing, with most of its backlog left. */
        body_step("starting the count");
        killed_app_start(&count);
        body_step("waiting for the count's output");
        if (kt_wait_count(count.out, 2000, 120000) < 2000)
                fail_msg("the count produced nothing");
        body_step("killing the broker");
        kill_broker();
        body_step("stopping the apps");
        assert_int_equal(pthread_create(&t1, NULL, killed_app_stop, &count), 0);
        assert_int_equal(pthread_create(&t2, NULL, killed_app_stop, &pipe), 0);
        boom_check(&boom, "broker down");
        body_step("waiting for the count's and the pipe's stops");
        assert_int_equal(pthread_join(t1, NULL), 0);
        assert_int_equal(pthread_join(t2, NULL), 0);
        killed_app_check(&count);
        killed_app_check(&pipe);
        body_step("done");
}

static const char *self_path;

/* The last @p max bytes of @p s ("" for NULL). */
static const char *log_tail(const char *s, size_t max)
{
        size_t len = s ? strlen(s) : 0;
        return !s ? "" : len > max ? s + len - max : s;
}

/* The body runs in a child process (this program, with
 * --broker-killed): the Kafka clients a stop abandons to background
 * teardown with the broker down keep librdkafka 2.0.2's main thread busy
 * until the process exits (docs/shutdown.md), which would slow the
 * broker's restart and every test after. */
static void test_broker_killed(void **state)
{
        char log[512];
        char *argv[] = {(char *)self_path, "--broker-killed", NULL};
        pid_t pid;
        int rc;
        (void)state;
        snprintf(log, sizeof log, "%s/shutdown-broker-killed", LOG_DIR);
        /* The child kills the broker; the teardown brings it back. */
        broker_killed = true;
        pid = kt_spawn(argv, log);
        rc = kt_wait(pid, 600000);
        if (rc != 0) {
                char path[600], *out, *err, msg[16384];
                snprintf(path, sizeof path, "%s.out", log);
                out = kt_slurp(path);
                snprintf(path, sizeof path, "%s.err", log);
                err = kt_slurp(path);
                /* Their ends (where a hang shows), freed before fail_msg(),
                 * which does not return. */
                snprintf(msg, sizeof msg, "%s\n%s", log_tail(out, 8000),
                         log_tail(err, 8000));
                free(out);
                free(err);
                fail_msg("the broker-killed test failed (exit %d):\n%s", rc,
                         msg);
        }
}

/* ------------------------------------ (d) a source topic deleted mid-run */

/* How long after the deletion the app must have stopped in ERROR. */
#define GONE_BOUND_MS 30000

static void test_source_topic_deleted(void **state)
{
        char *app_id = kt_unique("deleted-app");
        char *in = kt_unique("deleted-in"), *out = kt_unique("deleted-out");
        char *dir = state_dir();
        brook_builder_t *b = brook_builder_new();
        char errstr[1024];
        brook_app_t *app;
        brook_app_state_t st;
        int64_t t0, took;

        (void)state;
        kt_create_topic(in, 2);
        kt_create_topic(out, 2);
        produce_many(in, 100);
        count_topology(b, in, out);
        app = brook_app_new(b, conf_for(app_id, dir, "5000"), errstr,
                            sizeof errstr);
        assert_non_null(app);
        assert_int_equal(brook_app_start(app, errstr, sizeof errstr), BROOK_OK);
        if (kt_wait_count(out, 1, 120000) < 1)
                fail_msg("the app produced nothing");
        delete_topic(in);
        t0 = kt_now_ms();
        st = brook_app_wait(app, GONE_BOUND_MS);
        took = kt_now_ms() - t0;
        print_message("source topic deleted: state %d after %" PRId64 " ms\n",
                      (int)st, took);
        assert_int_equal(st, BROOK_APP_ERROR);
        assert_int_equal(brook_app_state(app, errstr, sizeof errstr),
                         BROOK_APP_ERROR);
        if (!strstr(errstr, in) || !strstr(errstr, "missing"))
                fail_msg("the error \"%s\" does not name topic %s", errstr, in);
        t0 = kt_now_ms();
        brook_app_destroy(app);
        assert_true(kt_now_ms() - t0 < 5000 + 1000 + SLACK_MS);
        rm_rf(dir);
        free(dir);
        free(app_id);
        free(in);
        free(out);
}

/* An idle thread waits for records in its consumer's poll, for up to
 * poll.ms; a close wakes it there. Here poll.ms is 10 s: a close that
 * waited the poll out would take up to that long. It still commits what
 * was processed. */
static void test_close_wakes_idle_thread(void **state)
{
        char *app_id = kt_unique("idle-close-app");
        char *in = kt_unique("idle-close-in"),
             *out = kt_unique("idle-close-out");
        char *dir = state_dir();
        brook_builder_t *b = brook_builder_new();
        brook_conf_t *conf = conf_for(app_id, dir, "5000");
        char errstr[1024];
        brook_app_t *app;
        int64_t t0, took;

        (void)state;
        kt_create_topic(in, 2);
        kt_create_topic(out, 2);
        produce_many(in, 10);
        brook_stream_to(brook_stream(b, in, NULL), out, NULL);
        if (brook_conf_set(conf, "poll.ms", "10000", errstr, sizeof errstr))
                fail_msg("%s", errstr);
        app = brook_app_new(b, conf, errstr, sizeof errstr);
        assert_non_null(app);
        assert_int_equal(brook_app_start(app, errstr, sizeof errstr), BROOK_OK);
        assert_int_equal(kt_wait_count(out, 10, 120000), 10);
        t0 = kt_now_ms();
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        took = kt_now_ms() - t0;
        print_message("idle thread (poll.ms=10000): close took %" PRId64
                      " ms\n",
                      took);
        if (took >= 5000)
                fail_msg("close took %" PRId64 " ms: it waited for the "
                         "thread's poll (poll.ms=10000)",
                         took);
        assert_int_equal(kt_committed_sum(app_id, in, 2), 10);
        assert_int_equal(kt_count(out), 10);
        brook_app_destroy(app);
        rm_rf(dir);
        free(dir);
        free(app_id);
        free(in);
        free(out);
}

static const char *out_topic;

static bool output_seen(void *opaque)
{
        (void)opaque;
        return kt_count(out_topic) > 0;
}

/* The same for a count_app process: it exits, non-zero, naming the topic. */
static void test_source_topic_deleted_process(void **state)
{
        char *app_id = kt_unique("deleted-proc");
        char *in = kt_unique("deleted-pin"), *out = kt_unique("deleted-pout");
        char *dir = state_dir();
        char log[512], errp[600];
        char *argv[] = {COUNT_APP_PATH,
                        "deleted",
                        (char *)kt_bootstrap(),
                        app_id,
                        in,
                        out,
                        dir,
                        "shutdown.timeout.ms=5000",
                        NULL};
        pid_t pid;
        int64_t t0, took;
        int rc;
        char *err;

        (void)state;
        kt_create_topic(in, 1);
        kt_create_topic(out, 1);
        produce_many(in, 10);
        snprintf(log, sizeof log, "%s/shutdown-deleted", LOG_DIR);
        snprintf(errp, sizeof errp, "%s.err", log);
        pid = kt_spawn(argv, log);
        out_topic = out;
        if (!kt_wait_until(output_seen, NULL, 100, 120000)) {
                kill(pid, SIGKILL);
                kt_wait(pid, 5000);
                fail_msg("count_app produced nothing");
        }
        delete_topic(in);
        t0 = kt_now_ms();
        rc = kt_wait(pid, GONE_BOUND_MS + 5000 + 1000);
        took = kt_now_ms() - t0;
        print_message("source topic deleted: count_app exited %d after "
                      "%" PRId64 " ms\n",
                      rc, took);
        assert_int_equal(rc, 1);
        err = kt_slurp(errp);
        assert_non_null(err);
        if (!strstr(err, in))
                fail_msg("count_app's stderr does not name %s", in);
        free(err);
        rm_rf(dir);
        free(dir);
        free(app_id);
        free(in);
        free(out);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest child[] = {
                cmocka_unit_test(broker_killed_body),
        };
        self_path = argv[0];
        if (argc > 1 && !strcmp(argv[1], "--broker-killed"))
                return cmocka_run_group_tests(child, NULL, NULL);
        /* The test that kills the broker goes last: a restarted broker
         * can take minutes on a loaded machine. */
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sigterm_during_startup),
                cmocka_unit_test(test_fatal_error_run_fails),
                cmocka_unit_test(test_close_wakes_idle_thread),
                cmocka_unit_test(test_source_topic_deleted),
                cmocka_unit_test(test_source_topic_deleted_process),
                cmocka_unit_test_teardown(test_broker_killed, restore_broker),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
