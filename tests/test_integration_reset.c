/*
 * Integration: `brook reset` (tools/reset.c), Kafka Streams' application
 * reset tool, on the real broker, around an in-process count app (store
 * "counts", changelog "<app>-counts-changelog", int64 big-endian counts
 * per string key written to the output).
 *
 *   to_earliest     after a run, reset (default: to earliest) with
 *                   --state-dir: every input partition's committed offset
 *                   is 0, the changelog and the local state are gone, and
 *                   a second run gives exactly the first run's counts
 *   to_datetime     records an hour old, then records of now; reset
 *                   --to-datetime between them (no zone: UTC): the next
 *                   run counts only the new records
 *   dry_run         --dry-run prints the plan and changes nothing; bad
 *                   --internal-topics, a state db another process holds
 *                   and bad command lines are refused, changing nothing
 *   refuses_active  with the app running (a group member), reset refuses
 *                   and changes nothing
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "apps/count_topology.h"
#include "kafka_util.h"

#define NKEYS 50
#define PARTS 2

static brook_app_t *running;
static char *dirs[2];

static char *new_dir(void)
{
        char *dir = strdup("/tmp/brook-reset-test-XXXXXX");
        int i;
        assert_non_null(mkdtemp(dir));
        for (i = 0; i < 2 && dirs[i]; i++)
                ;
        assert_true(i < 2);
        dirs[i] = dir;
        return dir;
}

static brook_app_t *start_app(const char *app_id, const char *in,
                              const char *out, const char *dir)
{
        brook_builder_t *b = brook_builder_new();
        brook_conf_t *conf = brook_conf_new();
        char errstr[1024];
        brook_app_t *app;
        count_topology_add(b, in, out, "counts", NULL);
        assert_null(brook_builder_error(b));
        if (brook_conf_set(conf, "application.id", app_id, errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "bootstrap.servers", kt_bootstrap(), errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "commit.interval.ms", "100", errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "state.dir", dir, errstr, sizeof errstr))
                fail_msg("%s", errstr);
        if (!(app = brook_app_new(b, conf, errstr, sizeof errstr)))
                fail_msg("brook_app_new: %s", errstr);
        if (brook_app_start(app, errstr, sizeof errstr))
                fail_msg("brook_app_start: %s", errstr);
        running = app;
        return app;
}

static void stop_app(brook_app_t *app)
{
        assert_int_equal(brook_app_close(app, 30000), BROOK_OK);
        brook_app_destroy(app);
        running = NULL;
}

/* Runs the app until it has committed @p records of @p in, then stops
 * it and waits for its group to be empty. */
static void run_once(const char *app_id, const char *in, const char *out,
                     const char *dir, int64_t records)
{
        brook_app_t *app = start_app(app_id, in, out, dir);
        assert_int_equal(kt_wait_committed(app_id, in, PARTS, records, 120000),
                         records);
        stop_app(app);
        kt_wait_group_empty(app_id, 60000);
}

/* The last count per key "k-NNNNN" of an output topic. */
typedef struct {
        int64_t count[NKEYS];
        int keys;
} counts_t;

static int64_t get_be64(const void *data)
{
        const unsigned char *p = data;
        int64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = (v << 8) | p[i];
        return v;
}

static void count_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        counts_t *c = opaque;
        char key[16];
        int k;
        assert_true(rkm->key_len > 2 && rkm->key_len < sizeof key);
        assert_int_equal(rkm->len, 8);
        memcpy(key, rkm->key, rkm->key_len);
        key[rkm->key_len] = '\0';
        k = atoi(key + 2);
        assert_true(k >= 0 && k < NKEYS);
        if (!c->count[k])
                c->keys++;
        c->count[k] = get_be64(rkm->payload);
}

/* The run committed its input, so its output is all there. */
static void output_counts(const char *out, counts_t *c)
{
        memset(c, 0, sizeof *c);
        assert_true(kt_count(out) > 0);
        kt_consume_all(out, count_cb, c);
}

/* @p n records, key k-(i % @p keys), at @p ts (0: now). */
static void produce(const char *in, int n, int keys, int64_t ts)
{
        rd_kafka_t *rk = kt_producer();
        char key[16];
        for (int i = 0; i < n; i++) {
                snprintf(key, sizeof key, "k-%05d", i % keys);
                kt_produce_at(rk, in, -1, key, "x", 1, ts, NULL);
        }
        kt_producer_close(rk);
}

/* Runs `brook reset ARGS... NULL`; returns its exit code, its stdout and
 * stderr in @p out and @p err (malloc'd). */
static int reset(char **out, char **err, ...)
{
        char *argv[32] = {BROOK_CLI_PATH, "reset"}, prefix[256], path[300];
        int argc = 2, rc;
        va_list ap;
        va_start(ap, err);
        while ((argv[argc] = va_arg(ap, char *)))
                assert_true(++argc < 31);
        va_end(ap);
        snprintf(prefix, sizeof prefix, "/tmp/brook-reset-%d", (int)getpid());
        rc = kt_wait(kt_spawn(argv, prefix), 120000);
        snprintf(path, sizeof path, "%s.out", prefix);
        *out = kt_slurp(path);
        unlink(path);
        snprintf(path, sizeof path, "%s.err", prefix);
        *err = kt_slurp(path);
        unlink(path);
        assert_non_null(*out);
        assert_non_null(*err);
        return rc;
}

static bool topic_gone(void *opaque)
{
        return kt_partition_count(opaque) == 0;
}

static bool exists(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0;
}

static char *join(const char *a, const char *b)
{
        char *s;
        assert_true(asprintf(&s, "%s/%s", a, b) > 0);
        return s;
}

static char *changelog_of(const char *app_id)
{
        char *s;
        assert_true(asprintf(&s, "%s-counts-changelog", app_id) > 0);
        return s;
}

#define EXPECT_IN(text, needle)                                                \
        do {                                                                   \
                if (!strstr((text), (needle)))                                 \
                        fail_msg("expected \"%s\" in:\n%s", (needle), (text)); \
        } while (0)

/* ------------------------------------------------------------------ tests */

static void test_reset_to_earliest(void **state)
{
        char *app_id = kt_unique("rs-earliest");
        char *in = kt_unique("rs-earliest-in");
        char *out1 = kt_unique("rs-earliest-out1");
        char *out2 = kt_unique("rs-earliest-out2");
        char *dir = new_dir(), *local = join(dir, app_id);
        char *changelog = changelog_of(app_id), *o, *e, want[512];
        counts_t c1, c2;
        int p;

        kt_create_topic(in, PARTS);
        kt_create_topic(out1, PARTS);
        kt_create_topic(out2, PARTS);
        produce(in, NKEYS * 10, NKEYS, 0);
        run_once(app_id, in, out1, dir, NKEYS * 10);
        output_counts(out1, &c1);
        assert_int_equal(c1.keys, NKEYS);
        for (int k = 0; k < NKEYS; k++)
                assert_int_equal(c1.count[k], 10);
        assert_int_equal(kt_partition_count(changelog), PARTS);
        assert_true(exists(local));

        assert_int_equal(reset(&o, &e, "--bootstrap-server", kt_bootstrap(),
                               "--application-id", app_id, "--input-topics", in,
                               "--state-dir", dir, NULL),
                         0);
        printf("%s%s", o, e);
        snprintf(want, sizeof want, "Deleting inferred internal topics [%s]",
                 changelog);
        EXPECT_IN(o, want);
        for (p = 0; p < PARTS; p++) {
                snprintf(want, sizeof want, "Topic: %s Partition: %d Offset: 0",
                         in, p);
                EXPECT_IN(o, want);
                assert_int_equal(kt_committed(app_id, in, p), 0);
        }
        assert_true(kt_wait_until(topic_gone, changelog, 100, 60000));
        assert_false(exists(local));
        free(o);
        free(e);

        /* Reprocessed from scratch: the same counts, not twice them. */
        run_once(app_id, in, out2, dir, NKEYS * 10);
        output_counts(out2, &c2);
        assert_memory_equal(&c1, &c2, sizeof c1);
        free(app_id);
        free(in);
        free(out1);
        free(out2);
        free(local);
        free(changelog);
}

static void test_reset_to_datetime(void **state)
{
        char *app_id = kt_unique("rs-datetime");
        char *in = kt_unique("rs-datetime-in");
        char *out1 = kt_unique("rs-datetime-out1");
        char *out2 = kt_unique("rs-datetime-out2");
        char *dir = new_dir(), *o, *e, when[64];
        char *changelog = changelog_of(app_id);
        struct timespec now;
        time_t secs;
        struct tm tm;
        int64_t now_ms, old_ms;
        counts_t c;

        kt_create_topic(in, PARTS);
        kt_create_topic(out1, PARTS);
        kt_create_topic(out2, PARTS);
        clock_gettime(CLOCK_REALTIME, &now);
        now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        old_ms = now_ms - 3600 * 1000;
        /* An hour ago: 10 each of all keys; now: 3 each of the first 20. */
        produce(in, NKEYS * 10, NKEYS, old_ms);
        produce(in, 20 * 3, 20, now_ms);
        run_once(app_id, in, out1, dir, NKEYS * 10 + 60);

        /* Half an hour ago, in UTC without a zone, as Kafka Streams reads
         * it. */
        secs = (time_t)((old_ms + 1800 * 1000) / 1000);
        gmtime_r(&secs, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S.000", &tm);
        /* A zone 5.5 hours off UTC for the tool: reading the time as
         * local would miss the half hour. */
        setenv("TZ", "Asia/Kolkata", 1);
        assert_int_equal(reset(&o, &e, "--bootstrap-server", kt_bootstrap(),
                               "--application-id", app_id, "--input-topics", in,
                               "--to-datetime", when, "--state-dir", dir, NULL),
                         0);
        unsetenv("TZ");
        printf("%s%s", o, e);
        /* Each partition restarts at its first new record. */
        assert_int_equal(kt_committed_sum(app_id, in, PARTS), NKEYS * 10);
        assert_true(kt_wait_until(topic_gone, changelog, 100, 60000));
        free(o);
        free(e);

        run_once(app_id, in, out2, dir, NKEYS * 10 + 60);
        output_counts(out2, &c);
        assert_int_equal(c.keys, 20);
        for (int k = 0; k < NKEYS; k++)
                assert_int_equal(c.count[k], k < 20 ? 3 : 0);
        free(app_id);
        free(in);
        free(out1);
        free(out2);
        free(changelog);
}

static void test_reset_dry_run(void **state)
{
        char *app_id = kt_unique("rs-dry");
        char *in = kt_unique("rs-dry-in"), *out = kt_unique("rs-dry-out");
        char *dir = new_dir(), *local = join(dir, app_id);
        char *changelog = changelog_of(app_id), *o, *e, want[512], lock[600];
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        int fd;

        kt_create_topic(in, PARTS);
        kt_create_topic(out, PARTS);
        produce(in, 100, NKEYS, 0);
        run_once(app_id, in, out, dir, 100);

        assert_int_equal(reset(&o, &e, "--bootstrap-server", kt_bootstrap(),
                               "--application-id", app_id, "--input-topics", in,
                               "--state-dir", dir, "--dry-run", NULL),
                         0);
        printf("%s%s", o, e);
        EXPECT_IN(o, "----Dry run displays the actions");
        snprintf(want, sizeof want, "Topic: %s Partition: 0 Offset: 0", in);
        EXPECT_IN(o, want);
        snprintf(want, sizeof want, "Deleting inferred internal topics [%s]",
                 changelog);
        EXPECT_IN(o, want);
        snprintf(want, sizeof want, "Deleting local state %s", local);
        EXPECT_IN(o, want);
        free(o);
        free(e);

        /* An input topic that does not exist: listed, skipped, exit 1 (as
         * Kafka Streams' tool). */
        assert_int_equal(reset(&o, &e, "--bootstrap-server", kt_bootstrap(),
                               "--application-id", app_id, "--input-topics",
                               "rs-no-such-topic", "--dry-run", NULL),
                         1);
        EXPECT_IN(o, "Following input topics are not found, skipping them\n"
                     "Topic: rs-no-such-topic\n");
        free(o);
        free(e);

        /* --internal-topics naming a topic that is not internal. */
        assert_int_equal(reset(&o, &e, "--bootstrap-server", kt_bootstrap(),
                               "--application-id", app_id, "--input-topics", in,
                               "--internal-topics", out, NULL),
                         1);
        snprintf(want, sizeof want,
                 "Invalid topic specified in the --internal-topics option: "
                 "\"%s\"",
                 out);
        EXPECT_IN(e, want);
        free(o);
        free(e);

        /* The state db held by another process (this one): RocksDB's
         * LOCK file carries a POSIX lock while a db is open. */
        snprintf(lock, sizeof lock, "%s/rocksdb/LOCK", local);
        assert_true((fd = open(lock, O_RDWR)) >= 0);
        assert_int_equal(fcntl(fd, F_SETLK, &fl), 0);
        assert_int_equal(reset(&o, &e, "--bootstrap-server", kt_bootstrap(),
                               "--application-id", app_id, "--input-topics", in,
                               "--state-dir", dir, NULL),
                         1);
        close(fd);
        snprintf(want, sizeof want, "is open in process %d", (int)getpid());
        EXPECT_IN(e, want);
        free(o);
        free(e);

        /* Bad command lines: exit 2, nothing asked of the broker. */
        assert_int_equal(reset(&o, &e, "--input-topics", in, NULL), 2);
        EXPECT_IN(e, "--application-id is required");
        free(o);
        free(e);
        assert_int_equal(reset(&o, &e, "--application-id", app_id,
                               "--to-datetime", "2026-13-01T00:00:00.000",
                               NULL),
                         2);
        EXPECT_IN(e, "--to-datetime \"2026-13-01T00:00:00.000\"");
        free(o);
        free(e);
        assert_int_equal(reset(&o, &e, "--application-id", app_id,
                               "--to-earliest", "--to-latest", NULL),
                         2);
        EXPECT_IN(e, "give at most one of");
        free(o);
        free(e);
        /* An id that would reach outside the state directory. */
        assert_int_equal(reset(&o, &e, "--application-id", "..", "--state-dir",
                               dir, NULL),
                         2);
        EXPECT_IN(e, "--application-id \"..\": not an application id");
        free(o);
        free(e);

        /* Nothing changed. */
        assert_int_equal(kt_committed_sum(app_id, in, PARTS), 100);
        assert_int_equal(kt_partition_count(changelog), PARTS);
        assert_true(exists(local));
        free(app_id);
        free(in);
        free(out);
        free(local);
        free(changelog);
}

static void test_reset_refuses_active(void **state)
{
        char *app_id = kt_unique("rs-active");
        char *in = kt_unique("rs-active-in"), *out = kt_unique("rs-active-out");
        char *dir = new_dir(), *changelog = changelog_of(app_id), *o, *e;
        char *local = join(dir, app_id);
        kt_group_t g;

        kt_create_topic(in, PARTS);
        kt_create_topic(out, PARTS);
        produce(in, 100, NKEYS, 0);
        start_app(app_id, in, out, dir);
        assert_int_equal(kt_wait_committed(app_id, in, PARTS, 100, 120000),
                         100);
        kt_wait_group_stable(app_id, in, PARTS, 1, &g, 60000);

        assert_int_equal(reset(&o, &e, "--bootstrap-server", kt_bootstrap(),
                               "--application-id", app_id, "--input-topics", in,
                               "--state-dir", dir, NULL),
                         1);
        printf("%s%s", o, e);
        EXPECT_IN(e, "is still active and has 1 member");
        free(o);
        free(e);
        assert_int_equal(kt_committed_sum(app_id, in, PARTS), 100);
        assert_int_equal(kt_partition_count(changelog), PARTS);
        assert_true(exists(local));
        stop_app(running);
        free(local);
        free(app_id);
        free(in);
        free(out);
        free(changelog);
}

/* ------------------------------------------------------------ teardown */

static int teardown(void **state)
{
        if (running)
                stop_app(running);
        for (int i = 0; i < 2; i++)
                if (dirs[i]) {
                        kt_rmtree(dirs[i]);
                        free(dirs[i]);
                        dirs[i] = NULL;
                }
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_reset_to_earliest, teardown),
                cmocka_unit_test_teardown(test_reset_to_datetime, teardown),
                cmocka_unit_test_teardown(test_reset_dry_run, teardown),
                cmocka_unit_test_teardown(test_reset_refuses_active, teardown),
        };
        kt_test_filter();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
