/*
 * Integration: a full state disk (issue 9). count_app (tests/apps/
 * count_app.c) counts records per key into a RocksDB store whose state.dir
 * fills up while it runs:
 *
 *   full_disk_stops_cleanly  the app exits with status 1 (no signal, no
 *                            RocksDB abort) within a bound, its stderr
 *                            naming the state directory and the error; the
 *                            consumer offsets it committed cover exactly
 *                            what it processed (each store has a
 *                            changelog, which holds those updates); an
 *                            open on the still full disk fails the same
 *                            way; once space is freed, a restart on the
 *                            same state files ends at the exact counts,
 *                            processing each record after the committed
 *                            offsets once.
 *
 * How the disk fills: state.dir is a 4 MiB tmpfs mounted for the test
 * (needs CAP_SYS_ADMIN); freeing space remounts it at 64 MiB, keeping its
 * files. Where mount(2) is refused, the app runs under RLIMIT_FSIZE (1 MiB,
 * SIGXFSZ ignored), so its write-ahead log fails with EFBIG on the same
 * path a full disk takes; the open on a full disk is then not exercised.
 * BROOK_TEST_DISK_MODE=rlimit picks that mode where mount works. The test
 * prints which mode ran.
 *
 * 16,000 keys of 400 bytes, key k counted 1 + k % 3 times: the store's
 * write-ahead log needs more than 6 MB, more than either limit allows.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "kafka_util.h"

#define KEYS     16000
#define KEY_SIZE 400
#define PARTS    2

#define SMALL_FS "size=4m"
#define BIG_FS   "size=64m"
#define FSIZE    (1024 * 1024)

/* ------------------------------------------------------------ test data */

/* Key @p k: "disk-NNNNN-" then letters that depend on k, KEY_SIZE bytes
 * and a NUL (kt_produce() takes a string). */
static void key_make(char *buf, int k)
{
        uint64_t x = (uint64_t)k * 0x9e3779b97f4a7c15ULL + 1;
        int i = snprintf(buf, KEY_SIZE + 1, "disk-%05d-", k);
        for (; i < KEY_SIZE; i++) {
                x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                buf[i] = (char)('a' + (x >> 33) % 26);
        }
        buf[KEY_SIZE] = '\0';
}

/* The index of a key this test made, or -1. */
static int key_index(const void *key, size_t len)
{
        char want[KEY_SIZE + 1];
        const char *s = key;
        int k = 0, i;
        if (!key || len != KEY_SIZE || memcmp(s, "disk-", 5))
                return -1;
        for (i = 5; i < 10; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                k = k * 10 + (s[i] - '0');
        }
        if (k >= KEYS)
                return -1;
        key_make(want, k);
        return memcmp(want, key, KEY_SIZE) ? -1 : k;
}

static int64_t key_count(int k)
{
        return 1 + k % 3;
}

/* Produces every key key_count() times, in rounds (so the counts of a
 * key grow over the run), and returns the number of records. */
static int64_t produce_input(const char *topic)
{
        char key[KEY_SIZE + 1];
        rd_kafka_t *rk = kt_producer();
        int64_t n = 0;
        int round, k;
        for (round = 0; round < 3; round++)
                for (k = 0; k < KEYS; k++) {
                        if (key_count(k) <= round)
                                continue;
                        key_make(key, k);
                        kt_produce(rk, topic, -1, key, "x", 1, NULL);
                        n++;
                }
        kt_producer_close(rk);
        return n;
}

/* ------------------------------------------- last value per key of a topic */

typedef struct latest {
        int64_t value[KEYS]; /**< -1: not seen. */
        int64_t records;
        int64_t bad; /**< Not our key, or not 8 bytes. */
} latest_t;

static void latest_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        latest_t *l = opaque;
        int k = key_index(rkm->key, rkm->key_len);
        const unsigned char *b = rkm->payload;
        uint64_t v = 0;
        int i;
        l->records++;
        if (k < 0 || !b || rkm->len != 8) {
                l->bad++;
                return;
        }
        for (i = 0; i < 8; i++)
                v = v << 8 | b[i];
        l->value[k] = (int64_t)v;
}

/* Every key's last value in @p topic is its count. */
static void assert_exact(const char *topic)
{
        latest_t *l = calloc(1, sizeof *l);
        int k, wrong = 0, first = -1;
        for (k = 0; k < KEYS; k++)
                l->value[k] = -1;
        kt_consume_all(topic, latest_cb, l);
        assert_int_equal(l->bad, 0);
        for (k = 0; k < KEYS; k++)
                if (l->value[k] != key_count(k) && !wrong++)
                        first = k;
        if (wrong)
                fail_msg("%s: %d of %d keys have the wrong count; the first, "
                         "disk-%05d, has %" PRId64 " instead of %" PRId64,
                         topic, wrong, KEYS, first, l->value[first],
                         key_count(first));
        free(l);
}

/* ------------------------------------------------ the disk and the app */

/* What a failed assertion leaves behind, undone by the teardown. */
static pid_t live_pid;
static char *live_mount;
static char *live_dir;

static bool use_mount;

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
        return remove(path);
}

/* A new empty state.dir: a small tmpfs if mount(2) is allowed. */
static char *state_dir_new(void)
{
        char *dir = strdup("/tmp/brook-disk-test-XXXXXX");
        const char *mode = getenv("BROOK_TEST_DISK_MODE");
        assert_non_null(mkdtemp(dir));
        live_dir = dir;
        use_mount = false;
        if (mode && !strcmp(mode, "rlimit")) {
                printf("integration_disk: mode rlimit (RLIMIT_FSIZE %d "
                       "bytes; BROOK_TEST_DISK_MODE=rlimit)\n",
                       FSIZE);
        } else if (mount("tmpfs", dir, "tmpfs", 0, SMALL_FS) == 0) {
                use_mount = true;
                live_mount = dir;
                printf("integration_disk: mode tmpfs (%s mounted at %s)\n",
                       SMALL_FS, dir);
        } else {
                printf("integration_disk: mode rlimit (RLIMIT_FSIZE %d "
                       "bytes; mount refused: %s)\n",
                       FSIZE, strerror(errno));
        }
        fflush(stdout);
        return dir;
}

/* Frees space: the tmpfs grows, keeping its files. */
static void state_dir_grow(const char *dir)
{
        if (use_mount)
                assert_int_equal(
                        mount("tmpfs", dir, "tmpfs", MS_REMOUNT, BIG_FS), 0);
}

static void state_dir_remove(char *dir)
{
        if (live_mount) {
                assert_int_equal(umount(live_mount), 0);
                live_mount = NULL;
        }
        assert_int_equal(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
        live_dir = NULL;
        free(dir);
}

/* Fills the filesystem of @p dir to the last byte with @p dir/filler. */
static void fill_up(const char *dir)
{
        static char block[65536];
        char path[512];
        size_t size = sizeof block;
        int fd;
        snprintf(path, sizeof path, "%s/filler", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(fd >= 0);
        while (size) {
                ssize_t n = write(fd, block, size);
                if (n < 0) {
                        assert_int_equal(errno, ENOSPC);
                        size /= 2;
                }
        }
        close(fd);
}

static void unfill(const char *dir)
{
        char path[512];
        snprintf(path, sizeof path, "%s/filler", dir);
        assert_int_equal(unlink(path), 0);
}

/* Starts count_app @p name with state.dir @p dir; under @p fsize (> 0)
 * its files cannot grow past that many bytes. */
static pid_t start_count_app(const char *name, const char *app_id,
                             const char *in, const char *out, const char *dir,
                             rlim_t fsize)
{
        char log[512];
        char *argv[] = {COUNT_APP_PATH, (char *)name, (char *)kt_bootstrap(),
                        (char *)app_id, (char *)in, (char *)out, (char *)dir,
                        "consumer.session.timeout.ms=6000",
                        "consumer.heartbeat.interval.ms=1000",
                        /* Commits every 1 MiB of state (an eighth of
                         * this), and a small cache writes down often:
                         * the disk fills after some commits succeeded. */
                        "rocksdb.memory.bytes=8388608",
                        "statestore.cache.max.bytes=262144", NULL};
        struct rlimit old, lim;
        pid_t pid;
        snprintf(log, sizeof log, "%s/%s-%s", LOG_DIR, app_id, name);
        if (fsize) {
                /* Inherited through fork and exec: a write past the limit
                 * fails with EFBIG instead of killing the process. */
                signal(SIGXFSZ, SIG_IGN);
                assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
                lim = old;
                lim.rlim_cur = fsize;
                assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        }
        pid = kt_spawn(argv, log);
        if (fsize) {
                assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
                signal(SIGXFSZ, SIG_DFL);
        }
        live_pid = pid;
        return pid;
}

/* Waits up to @p timeout_ms for @p pid to exit by itself and returns its
 * wait status; fails the test if it does not. */
static int wait_exit(pid_t pid, int timeout_ms)
{
        int64_t deadline = kt_now_ms() + timeout_ms;
        int status;
        while (waitpid(pid, &status, WNOHANG) != pid) {
                if (kt_now_ms() >= deadline)
                        fail_msg("count_app did not stop within %d s",
                                 timeout_ms / 1000);
                kt_sleep_ms(50);
        }
        live_pid = 0;
        return status;
}

/* The stderr of count_app @p name (malloc'd). */
static char *app_stderr(const char *app_id, const char *name)
{
        char path[512];
        char *text;
        snprintf(path, sizeof path, "%s/%s-%s.err", LOG_DIR, app_id, name);
        text = kt_slurp(path);
        assert_non_null(text);
        return text;
}

/* The number after " @p field=" in count_app @p name's exit line, or -1. */
static int64_t app_field(const char *app_id, const char *name,
                         const char *field)
{
        char path[512], pat[64];
        char *text, *p;
        int64_t n = -1;
        snprintf(path, sizeof path, "%s/%s-%s.out", LOG_DIR, app_id, name);
        snprintf(pat, sizeof pat, " %s=", field);
        text = kt_slurp(path);
        if (text && (p = strstr(text, pat)))
                n = strtoll(p + strlen(pat), NULL, 10);
        free(text);
        return n;
}

/* count_app @p name exited with status 1, by itself, and its stderr says
 * @p why about the state directory @p state_db. */
static void assert_failed_on(const char *app_id, const char *name, int status,
                             const char *state_db, const char *why)
{
        char *err = app_stderr(app_id, name);
        if (!WIFEXITED(status))
                fail_msg("count_app %s was killed by signal %d: %s", name,
                         WTERMSIG(status), err);
        if (WEXITSTATUS(status) != 1)
                fail_msg("count_app %s exited with %d: %s", name,
                         WEXITSTATUS(status), err);
        if (!strstr(err, state_db) || !strstr(err, why))
                fail_msg("count_app %s: stderr does not name \"%s\" and "
                         "\"%s\": %s",
                         name, state_db, why, err);
        free(err);
}

/* ------------------------------------------------------------ the test */

static void test_full_disk_stops_cleanly(void **state)
{
        char *in = kt_unique("disk-in"), *out = kt_unique("disk-out");
        char *app_id = kt_unique("disk");
        char *changelog = malloc(strlen(app_id) + 32);
        char *dir = state_dir_new();
        char state_db[512], line[640];
        char *err;
        const char *why =
                use_mount ? "No space left on device" : "File too large";
        int64_t total, processed, committed;
        int status;
        pid_t pid;

        sprintf(changelog, "%s-counts-changelog", app_id);
        snprintf(state_db, sizeof state_db, "%s/%s/rocksdb", dir, app_id);
        kt_create_topic(in, PARTS);
        kt_create_topic(out, PARTS);
        total = produce_input(in);
        assert_int_equal(kt_count(in), total);

        /* The disk fills while the app runs. */
        pid = start_count_app("a", app_id, in, out, dir, use_mount ? 0 : FSIZE);
        status = wait_exit(pid, 180000);
        assert_failed_on(app_id, "a", status, state_db, why);
        /* brook_app_run() says so when the app ended in BROOK_APP_ERROR. */
        err = app_stderr(app_id, "a");
        snprintf(line, sizeof line,
                 "brook: stopped on an error: writing to state db \"%s\"",
                 state_db);
        if (!strstr(err, line))
                fail_msg("count_app a: no \"%s\" in its stderr: %s", line, err);
        free(err);
        processed = app_field(app_id, "a", "processed");
        committed = kt_committed_sum(app_id, in, PARTS);
        printf("integration_disk: the first run processed %" PRId64
               " of %" PRId64 " records, committed %" PRId64 "\n",
               processed, total, committed);
        assert_true(processed > 0);
        assert_true(processed < total);
        /* Every update it made is in the changelog: the offsets of what it
         * processed are committed, and no further. */
        assert_int_equal(committed, processed);

        /* Opening on the full disk fails the same way. */
        if (use_mount) {
                fill_up(dir);
                pid = start_count_app("b", app_id, in, out, dir, 0);
                status = wait_exit(pid, 120000);
                assert_failed_on(app_id, "b", status, state_db,
                                 "no space left on device");
                assert_int_equal(app_field(app_id, "b", "processed"), 0);
                assert_int_equal(kt_committed_sum(app_id, in, PARTS),
                                 committed);
                unfill(dir);
        } else {
                printf("integration_disk: opening on a full disk is not "
                       "exercised in this mode\n");
        }
        fflush(stdout);

        /* Space is freed: a restart on the same state files finishes. */
        state_dir_grow(dir);
        pid = start_count_app("c", app_id, in, out, dir, 0);
        if (kt_wait_committed(app_id, in, PARTS, total, 300000) != total)
                fail_msg("after space was freed, the group committed "
                         "%" PRId64 " of %" PRId64 " offsets: %s",
                         kt_committed_sum(app_id, in, PARTS), total,
                         app_stderr(app_id, "c"));
        assert_int_equal(kill(pid, SIGTERM), 0);
        assert_int_equal(kt_wait(pid, 120000), 0);
        live_pid = 0;
        /* Each record after the committed offsets once; the updates of
         * the failed commit came back from the changelog. */
        assert_int_equal(app_field(app_id, "c", "processed"),
                         total - committed);
        assert_true(app_field(app_id, "c", "restored") > 0);
        assert_exact(out);
        assert_exact(changelog);

        state_dir_remove(dir);
        free(changelog);
        free(app_id);
        free(in);
        free(out);
}

static int teardown(void **state)
{
        if (live_pid) {
                kill(live_pid, SIGKILL);
                waitpid(live_pid, NULL, 0);
                live_pid = 0;
        }
        if (live_mount) {
                umount2(live_mount, MNT_DETACH);
                live_mount = NULL;
        }
        if (live_dir) {
                nftw(live_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
                free(live_dir);
                live_dir = NULL;
        }
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_full_disk_stops_cleanly,
                                          teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
