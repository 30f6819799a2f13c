/*
 * The commit sequence (engine/commit.c) through the test driver, with
 * failures injected at each step (brook__td_fail_next()).
 *
 * Under exactly_once_v2 a commit is a transaction: its output is visible
 * only once it commits, and an aborted one leaves nothing behind (output,
 * write batch, cache), the tasks revive from the last commit and the
 * records since are processed again. So whatever fails, and however often,
 * the output and the stores end exactly as in a run where nothing failed.
 *
 * The topology has every kind of state a commit must get right: a
 * repartition (records fed back), a cached key-value count, and a
 * suppressed windowed count whose buffer holds records across commits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "brook/brook.h"
#include "brook_int.h"
#include "store_int.h"

/* ---------------------------------------------------------------- helpers */

/* win-out's key serde: made once for every driver (group setup). */
static brook_serde_t *wserde;

static void *value_as_key(const brook_record_t *rec, void *opaque)
{
        (void)opaque;
        return brook_record_value(rec);
}

/*
 * in (key: patient, value: ward) -> group by ward (repartition) -> count
 * "ward-counts" (cached) -> ward-out; and in -> group by key -> 10 ms
 * tumbling windows -> count -> suppress until the window closes -> win-out.
 */
/* The next topology()'s ward-counts store has no changelog. */
static bool ward_counts_unlogged;

static brook_builder_t *topology(const brook_kvstore_supplier_t *sup)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream(b, "in", NULL);
        brook_materialized_t m = {.name = "ward-counts",
                                  .supplier = sup,
                                  .logging_disabled = ward_counts_unlogged};
        brook_materialized_t wm = {.name = "patient-windows"};
        brook_suppressed_t sup_final = {
                .kind = BROOK_SUPPRESS_UNTIL_WINDOW_CLOSES,
                .name = "final",
        };
        brook_windows_t w = brook_windows_tumbling(10, 0);
        brook_table_t *t;

        brook_stream_to(
                brook_table_to_stream(brook_grouped_count(
                        brook_stream_group_by(in, value_as_key, NULL, NULL),
                        &m)),
                "ward-out", NULL);
        t = brook_windowed_count(
                brook_grouped_windowed_by(brook_stream_group_by_key(in, NULL),
                                          &w),
                &wm);
        brook_stream_to(
                brook_table_to_stream(brook_table_suppress(t, &sup_final)),
                "win-out",
                &(brook_produced_t){.key_serde = wserde,
                                    .value_serde = brook_serde_int64()});
        return b;
}

static brook_test_driver_t *driver(const brook_kvstore_supplier_t *sup,
                                   bool eos)
{
        brook_conf_t *conf = brook_conf_new();
        brook_test_driver_t *td;
        char err[512] = "";

        assert_int_equal(brook_conf_set(conf, "default.key.serde", "string",
                                        err, sizeof err),
                         BROOK_OK);
        assert_int_equal(brook_conf_set(conf, "default.value.serde", "string",
                                        err, sizeof err),
                         BROOK_OK);
        if (eos)
                assert_int_equal(brook_conf_set(conf, "processing.guarantee",
                                                "exactly_once_v2", err,
                                                sizeof err),
                                 BROOK_OK);
        td = brook_test_driver_new(topology(sup), conf, 0, err, sizeof err);
        if (!td)
                fail_msg("brook_test_driver_new: %s", err);
        brook_test_driver_set_auto_commit(td, false);
        return td;
}

/* The i-th input record: 7 patients over 3 wards, time moving by 3 ms. */
static void input(int i, char *key, char *value, int64_t *ts)
{
        sprintf(key, "p%d", (i * 5) % 7);
        sprintf(value, "ward-%d", (i * 3) % 4 == 3 ? 0 : (i * 3) % 4);
        *ts = (int64_t)i * 3;
}

static void pipe_input(brook_test_driver_t *td, int i)
{
        char key[16], value[16], err[512] = "";
        int64_t ts;

        input(i, key, value, &ts);
        if (brook_test_driver_pipe(td, "in", key, strlen(key), value,
                                   strlen(value), ts, NULL, 0, err, sizeof err))
                fail_msg("pipe %d: %s", i, err);
}

static void commit_ok(brook_test_driver_t *td)
{
        char err[512] = "";
        if (brook_test_driver_commit(td, err, sizeof err))
                fail_msg("commit: %s", err);
}

/* Every unread record of @p topic, one line each ("key value@ts", the
 * bytes in hex), appended to @p out. */
static void drain(brook_test_driver_t *td, const char *topic, char *out,
                  size_t size)
{
        brook_test_record_t r;
        size_t len = strlen(out), i;

        while (brook_test_driver_read(td, topic, &r)) {
                len += (size_t)snprintf(out + len, size - len, "%s ", topic);
                for (i = 0; i < r.key_size; i++)
                        len += (size_t)snprintf(
                                out + len, size - len, "%02x",
                                ((const unsigned char *)r.key)[i]);
                len += (size_t)snprintf(out + len, size - len, " ");
                for (i = 0; i < r.value_size; i++)
                        len += (size_t)snprintf(
                                out + len, size - len, "%02x",
                                ((const unsigned char *)r.value)[i]);
                len += (size_t)snprintf(out + len, size - len, "@%lld\n",
                                        (long long)r.timestamp);
                assert_true(len < size);
        }
}

/* The ward counts the store holds, "ward=count,...". */
static void store_counts(brook_test_driver_t *td, char *out, size_t size)
{
        brook_kvstore_t *st = brook_test_driver_kvstore(td, "ward-counts");
        brook_kviter_t *it = NULL;
        size_t len = 0;
        void *k, *v;

        assert_non_null(st);
        out[0] = '\0';
        assert_int_equal(brook_kvstore_all(st, &it, NULL, 0), BROOK_OK);
        while (!brook_kviter_next(it, &k, &v, NULL, 0))
                len += (size_t)snprintf(out + len, size - len, "%s%s=%lld",
                                        len ? "," : "", (const char *)k,
                                        (long long)*(int64_t *)v);
        brook_kviter_destroy(it);
}

#define INPUTS   60
#define PER_TXN  4
#define OUT_SIZE 65536

/*
 * Pipes INPUTS records, committing every PER_TXN, with @p fail injected
 * into every @p every-th commit (0: none); returns the output and the
 * store's counts, and the number of aborts.
 */
static int64_t run(const brook_kvstore_supplier_t *sup, brook__td_fail_t fail,
                   int every, char *out, char *counts)
{
        brook_test_driver_t *td = driver(sup, true);
        int i, commits = 0;
        int64_t aborts;

        out[0] = '\0';
        for (i = 0; i < INPUTS; i++) {
                pipe_input(td, i);
                if ((i + 1) % PER_TXN)
                        continue;
                if (every && ++commits % every == 0)
                        brook__td_fail_next(td, fail);
                commit_ok(td);
                drain(td, "ward-out", out, OUT_SIZE);
                drain(td, "win-out", out, OUT_SIZE);
        }
        store_counts(td, counts, 256);
        aborts = brook__td_aborts(td);
        brook_test_driver_destroy(td);
        return aborts;
}

/* ------------------------------------------------------------------ tests */

/* Output of an open transaction is not visible; the commit makes it so. */
static void test_output_visible_after_commit(void **state)
{
        brook_test_driver_t *td = driver(NULL, true);
        char out[4096] = "";
        (void)state;

        pipe_input(td, 0);
        pipe_input(td, 1);
        assert_int_equal(brook_test_driver_unread(td, "ward-out"), 0);
        commit_ok(td);
        /* p0 -> ward-0, p5 -> ward-3 is ward-0 again: one cached update. */
        drain(td, "ward-out", out, sizeof out);
        assert_string_equal(out, "ward-out 776172642d30 "
                                 "0000000000000002@3\n");
        brook_test_driver_destroy(td);
}

/*
 * An aborted transaction leaves nothing: its output is discarded, the
 * write batch and the cache with it (the store reads the last commit),
 * and the records are processed again, once.
 */
static void test_abort_discards_everything(void **state)
{
        brook_test_driver_t *td = driver(NULL, true);
        char out[4096] = "", counts[256];
        (void)state;

        pipe_input(td, 0); /* p0 ward-0 */
        pipe_input(td, 1); /* p5 ward-0 */
        commit_ok(td);
        drain(td, "ward-out", out, sizeof out);
        pipe_input(td, 2); /* p3 ward-2 */
        pipe_input(td, 3); /* p1 ward-1 */
        brook__td_fail_next(td, BROOK__TD_FAIL_COMMIT_ABORT);
        commit_ok(td);
        assert_int_equal(brook__td_aborts(td), 1);
        drain(td, "ward-out", out, sizeof out);
        /* Each update once: ward-0=2 from the first commit, then ward-2=1
         * and ward-1=1 from the second (retried) one, in the cache's
         * order. */
        assert_string_equal(out, "ward-out 776172642d30 0000000000000002@3\n"
                                 "ward-out 776172642d32 0000000000000001@6\n"
                                 "ward-out 776172642d31 0000000000000001@9\n");
        store_counts(td, counts, sizeof counts);
        assert_string_equal(counts, "ward-0=2,ward-1=1,ward-2=1");
        brook_test_driver_destroy(td);
}

/* A failure at each step of the commit, at every second commit: output
 * and store end exactly as without failures. */
static void check_step(const brook_kvstore_supplier_t *sup,
                       brook__td_fail_t fail, int64_t want_aborts)
{
        char *want = malloc(OUT_SIZE), *got = malloc(OUT_SIZE);
        char want_counts[256], got_counts[256];

        assert_int_equal(run(sup, BROOK__TD_FAIL_NONE, 0, want, want_counts),
                         0);
        assert_int_equal(run(sup, fail, 2, got, got_counts), want_aborts);
        /* Not trivially equal: the reference has every kind of output. */
        assert_non_null(strstr(want, "ward-out"));
        assert_non_null(strstr(want, "win-out"));
        assert_string_equal(got, want);
        assert_string_equal(got_counts, want_counts);
        assert_string_equal(want_counts, "ward-0=30,ward-1=15,ward-2=15");
        free(want);
        free(got);
}

static void test_fail_deliver(void **state)
{
        (void)state;
        check_step(NULL, BROOK__TD_FAIL_DELIVER, INPUTS / PER_TXN / 2);
}

static void test_fail_commit_abort(void **state)
{
        (void)state;
        check_step(NULL, BROOK__TD_FAIL_COMMIT_ABORT, INPUTS / PER_TXN / 2);
}

/* Retriable: the same commit again, nothing aborted. */
static void test_fail_commit_retry(void **state)
{
        (void)state;
        check_step(NULL, BROOK__TD_FAIL_COMMIT_RETRY, 0);
}

/* In-memory stores keep the transaction's writes aside too: an abort
 * drops them, the task's revival restores the store from its changelog. */
static void test_fail_commit_abort_in_memory(void **state)
{
        (void)state;
        check_step(brook_kvstore_in_memory(), BROOK__TD_FAIL_COMMIT_ABORT,
                   INPUTS / PER_TXN / 2);
}

/* Records 0 and 1 committed (their output drained into @p out), record 2
 * processed: the state the failure tests start from. */
static void first_commit_then_pipe(brook_test_driver_t *td, char *out,
                                   size_t size)
{
        pipe_input(td, 0);
        pipe_input(td, 1);
        commit_ok(td);
        drain(td, "ward-out", out, size);
        pipe_input(td, 2);
}

/*
 * The state is written after the transaction commits: when that write
 * fails, Kafka has the output and the changelog (a restart restores the
 * store from it), while the store still holds the last commit's state.
 * The driver stops, as an app does.
 */
static void test_fail_state_write(void **state)
{
        brook_test_driver_t *td = driver(NULL, true);
        char out[4096] = "", err[512] = "";
        (void)state;

        first_commit_then_pipe(td, out, sizeof out);
        brook__td_fail_next(td, BROOK__TD_FAIL_STATE_WRITE);
        assert_int_equal(brook_test_driver_commit(td, err, sizeof err),
                         BROOK_ERR_STATE);
        assert_non_null(strstr(err, "injected failure"));
        /* The transaction committed: its output is visible. */
        drain(td, "ward-out", out, sizeof out);
        assert_string_equal(out, "ward-out 776172642d30 0000000000000002@3\n"
                                 "ward-out 776172642d32 0000000000000001@6\n");
        assert_int_equal(brook_test_driver_pipe(td, "in", "x", 1, "y", 1, 9,
                                                NULL, 0, err, sizeof err),
                         BROOK_ERR_FATAL);
        brook_test_driver_destroy(td);
}

/* Pipes input @p i and, if that went through, commits: what stopped. */
static brook_err_t pipe_then_commit(brook_test_driver_t *td, int i, char *err,
                                    size_t err_size)
{
        char key[16], value[16];
        int64_t ts;
        brook_err_t e;

        input(i, key, value, &ts);
        e = brook_test_driver_pipe(td, "in", key, strlen(key), value,
                                   strlen(value), ts, NULL, 0, err, err_size);
        return e ? e : brook_test_driver_commit(td, err, err_size);
}

/*
 * Under exactly-once the committed batch is applied behind the thread:
 * when that fails, the transaction that committed stands (its output is
 * visible, as above), and nothing processed after it may commit: the
 * record that meets the failure stops the driver, or the next commit does,
 * whichever comes first (the write lands on its own time). Either way its
 * output never appears.
 */
static void test_fail_state_apply(void **state)
{
        brook_test_driver_t *td = driver(NULL, true);
        char out[4096] = "", err[512] = "";
        brook_err_t e;
        (void)state;

        first_commit_then_pipe(td, out, sizeof out);
        brook__td_fail_next(td, BROOK__TD_FAIL_STATE_APPLY);
        commit_ok(td); /* handed to the writer */
        out[0] = '\0';
        drain(td, "ward-out", out, sizeof out);
        assert_string_equal(out, "ward-out 776172642d32 0000000000000001@6\n");
        e = pipe_then_commit(td, 3, err, sizeof err);
        assert_true(e == BROOK_ERR_FATAL || e == BROOK_ERR_STATE);
        assert_non_null(strstr(err, "injected failure"));
        out[0] = '\0';
        drain(td, "ward-out", out, sizeof out);
        assert_string_equal(out, "");
        assert_int_equal(brook_test_driver_pipe(td, "in", "x", 1, "y", 1, 10,
                                                NULL, 0, err, sizeof err),
                         BROOK_ERR_FATAL);
        brook_test_driver_destroy(td);
}

/*
 * Under at_least_once, with a changelog behind every store, the batch is
 * written behind the thread too (restoration replays what a crash kept
 * from landing): a failed write shows at the next record or commit, and
 * stops the driver as an app stops.
 */
static void test_alos_writes_behind(void **state)
{
        brook_test_driver_t *td = driver(NULL, false);
        char out[4096] = "", err[512] = "";
        brook_err_t e;
        (void)state;

        first_commit_then_pipe(td, out, sizeof out);
        brook__td_fail_next(td, BROOK__TD_FAIL_STATE_APPLY);
        commit_ok(td); /* handed to the writer */
        e = pipe_then_commit(td, 3, err, sizeof err);
        assert_true(e == BROOK_ERR_FATAL || e == BROOK_ERR_STATE);
        /* The write's failure itself, not a record's. */
        assert_int_equal(strncmp(err, "writing to state db \"", 21), 0);
        assert_non_null(strstr(err, "injected failure"));
        brook_test_driver_destroy(td);
}

/* A store without a changelog has nothing to restore from: its writes
 * land before the commit returns (the writer thread is not used, so a
 * failure injected there never happens). */
static void test_alos_unlogged_writes_first(void **state)
{
        brook_test_driver_t *td;
        char out[4096] = "", counts[256];
        (void)state;

        ward_counts_unlogged = true;
        td = driver(NULL, false);
        ward_counts_unlogged = false;
        first_commit_then_pipe(td, out, sizeof out);
        brook__td_fail_next(td, BROOK__TD_FAIL_STATE_APPLY);
        commit_ok(td);
        pipe_input(td, 3);
        commit_ok(td);
        store_counts(td, counts, sizeof counts);
        assert_string_equal(counts, "ward-0=2,ward-1=1,ward-2=1");
        brook_test_driver_destroy(td);
}

static int fake_commits;

static brook__commit_t fake_deliver(void *opaque, bool *again, char *errstr,
                                    size_t errstr_size)
{
        (void)opaque;
        (void)again;
        (void)errstr;
        (void)errstr_size;
        return BROOK__COMMIT_DONE;
}

static brook__commit_t fake_commit_offsets(void *opaque, char *errstr,
                                           size_t errstr_size)
{
        (void)opaque;
        (void)errstr;
        (void)errstr_size;
        fake_commits++;
        return BROOK__COMMIT_DONE;
}

/* The coordinator itself: once the last committed batch failed to land,
 * the next transaction is not committed at all, whatever the records
 * processed since read (they may all have been cache hits). */
static void test_commit_after_failed_apply(void **state)
{
        char dir[] = "/tmp/brook-commit-XXXXXX", errstr[512] = "";
        brook__commit_io_t io = {fake_deliver, fake_commit_offsets, NULL, true};
        brook__ptrvec_t tasks = {0};
        brook__stateenv_t env;
        brook_kvstore_open_t info = {.store = "counts",
                                     .task_id = "0_0",
                                     .app_id = "app",
                                     .state_dir = dir,
                                     .internal = &env};
        const brook_kvstore_supplier_t *sup = brook_kvstore_rocksdb();
        const brook_kvstore_ops_t *ops;
        brook__statedb_t *db;
        brook__statebatch_t *batch;
        brook_err_t err;
        void *self;
        char cmd[64];
        (void)state;

        assert_non_null(mkdtemp(dir));
        assert_int_equal(
                brook__statedb_open(dir, 8 << 20, &db, errstr, sizeof errstr),
                BROOK_OK);
        batch = brook__statebatch_new(db);
        brook__statebatch_set_transactional(batch, true);
        env.db = db;
        env.batch = batch;
        fake_commits = 0;
        assert_int_equal(
                brook__commit(&tasks, batch, &io, &err, errstr, sizeof errstr),
                BROOK__COMMIT_DONE);
        assert_int_equal(fake_commits, 1);
        /* A write of a store, then a batch that fails late. */
        assert_int_equal(sup->open(&info, sup->opaque, &self, &ops, errstr,
                                   sizeof errstr),
                         BROOK_OK);
        assert_int_equal(ops->put(self, "k", 1, "v", 1, errstr, sizeof errstr),
                         BROOK_OK);
        brook__statebatch_fail_next_apply(batch);
        assert_int_equal(
                brook__commit(&tasks, batch, &io, &err, errstr, sizeof errstr),
                BROOK__COMMIT_DONE);
        assert_int_equal(fake_commits, 2);
        assert_int_equal(
                brook__commit(&tasks, batch, &io, &err, errstr, sizeof errstr),
                BROOK__COMMIT_FAILED);
        assert_int_equal(err, BROOK_ERR_STATE);
        assert_non_null(strstr(errstr, "injected failure"));
        assert_int_equal(fake_commits, 2);
        ops->close(self);
        brook__statebatch_destroy(batch);
        brook__statedb_close(db);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

/* At least once: a record not delivered fails the commit, and the driver
 * with it (as the app stops). */
static void test_at_least_once_deliver_fails(void **state)
{
        brook_test_driver_t *td = driver(NULL, false);
        char err[512] = "";
        (void)state;

        pipe_input(td, 0);
        brook__td_fail_next(td, BROOK__TD_FAIL_DELIVER);
        assert_int_equal(brook_test_driver_commit(td, err, sizeof err),
                         BROOK_ERR_FATAL);
        assert_string_equal(err, "a record was not delivered (injected)");
        assert_int_equal(brook__td_aborts(td), 0);
        brook_test_driver_destroy(td);
}

static int setup(void **state)
{
        char err[256];
        (void)state;
        wserde = brook_serde_time_windowed(brook_serde_string(), 10, err,
                                           sizeof err);
        return wserde ? 0 : -1;
}

static int teardown(void **state)
{
        (void)state;
        brook_serde_destroy(wserde);
        return 0;
}

static void *to_null(const brook_record_t *rec, void *opaque)
{
        (void)rec;
        (void)opaque;
        return NULL;
}

/* The records of @p topic since the last call, "key=value;" ("key=null;"
 * for a tombstone). */
static void got_kv(brook_test_driver_t *td, const char *topic, char *got,
                   size_t size)
{
        brook_test_record_t r;
        size_t n = 0;
        got[0] = '\0';
        while (brook_test_driver_read(td, topic, &r))
                n += (size_t)snprintf(got + n, size - n, "%.*s=%.*s;",
                                      (int)r.key_size, (const char *)r.key,
                                      r.value ? (int)r.value_size : 4,
                                      r.value ? (const char *)r.value : "null");
}

/* One commit flushes a cache twice when the first flush sends records to
 * a topic the topology reads (the driver processes them before going on):
 * a key the first flush wrote, deleted by what the second round brings,
 * must be deleted. The first flush's write skips the batch's index, and
 * the tombstone check of the second once missed it, so the delete was
 * dropped and the key came back. */
static void test_flush_twice_in_one_commit(void **state)
{
        const brook_serde_t *str = brook_serde_string();
        const brook_consumed_t strs = {.key_serde = str, .value_serde = str};
        const brook_produced_t out = {.key_serde = str, .value_serde = str};
        brook_builder_t *b = brook_builder_new();
        brook_conf_t *conf = brook_conf_new();
        brook_test_driver_t *td;
        char err[512] = "", got[256];
        int i;
        (void)state;

        brook_stream_to(brook_stream(b, "in1", &strs), "r", &out);
        brook_stream_to(brook_stream_map_values(
                                brook_table_to_stream(brook_table(
                                        b, "in2", &strs,
                                        &(brook_materialized_t){.name = "t2"})),
                                to_null, NULL),
                        "r", &out);
        brook_stream_to(
                brook_table_to_stream(brook_table(
                        b, "r", &strs, &(brook_materialized_t){.name = "sb"})),
                "out", &out);
        assert_int_equal(
                brook_conf_set(conf, "application.id", "x", err, sizeof err),
                BROOK_OK);
        td = brook_test_driver_new(b, conf, 0, err, sizeof err);
        if (!td)
                fail_msg("brook_test_driver_new: %s", err);
        brook_test_driver_set_auto_commit(td, false);
        for (i = 0; i < 2; i++) {
                const char *topic = i ? "in2" : "in1";
                const char *v = i ? "x" : "v1";
                if (brook_test_driver_pipe(td, topic, "K", 1, v, strlen(v),
                                           10 + i, NULL, 0, err, sizeof err))
                        fail_msg("pipe: %s", err);
        }
        commit_ok(td);
        got_kv(td, "out", got, sizeof got);
        assert_string_equal(got, "K=v1;K=null;");
        got_kv(td, "x-sb-changelog", got, sizeof got);
        assert_string_equal(got, "K=v1;K=null;");
        /* And the store, below its cache, holds nothing for K. */
        {
                brook_kvstore_t *sb = brook_test_driver_kvstore(td, "sb");
                void *v = NULL;
                assert_non_null(sb);
                assert_int_equal(
                        brook_kvstore_get(sb, "K", &v, err, sizeof err),
                        BROOK_ERR_NOT_FOUND);
        }
        brook_test_driver_destroy(td);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_output_visible_after_commit),
                cmocka_unit_test(test_abort_discards_everything),
                cmocka_unit_test(test_fail_deliver),
                cmocka_unit_test(test_fail_commit_abort),
                cmocka_unit_test(test_fail_commit_retry),
                cmocka_unit_test(test_fail_commit_abort_in_memory),
                cmocka_unit_test(test_fail_state_write),
                cmocka_unit_test(test_fail_state_apply),
                cmocka_unit_test(test_alos_writes_behind),
                cmocka_unit_test(test_alos_unlogged_writes_first),
                cmocka_unit_test(test_commit_after_failed_apply),
                cmocka_unit_test(test_at_least_once_deliver_fails),
                cmocka_unit_test(test_flush_twice_in_one_commit),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
