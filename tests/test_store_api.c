/*
 * The store API as processors use it (brook_ctx_kvstore and the
 * brook_kvstore_* calls), through the whole stack — metered, caching,
 * logging, inner — for both suppliers, with the cache on and off.
 *
 * A processor reads commands from its input values ("put:v", "pia:v",
 * "del", "get", "range:a:c", "prefix:ab", "all", "count") and forwards what
 * each returned as one string, so every answer is checked exactly.
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

/* Appends "k=v," for every entry of @p it, then destroys it. */
static char *drain(const brook_record_t *rec, brook_kviter_t *it)
{
        char *out = brook_record_alloc(rec, 1024);
        void *k, *v;
        char why[256];
        size_t n = 0;

        brook_err_t err;

        out[0] = '\0';
        while (!(err = brook_kviter_next(it, &k, &v, why, sizeof why)))
                n += (size_t)snprintf(out + n, 1024 - n, "%s=%s,", (char *)k,
                                      (char *)v);
        assert_int_equal(err, BROOK_ERR_END);
        brook_kviter_destroy(it);
        return out;
}

static brook_err_t ops_process(brook_ctx_t *ctx, brook_record_t *rec,
                               void *state, char *errstr, size_t errstr_size)
{
        brook_kvstore_t *st = NULL, *other = (brook_kvstore_t *)1;
        const char *cmd = brook_record_value(rec);
        void *key = brook_record_key(rec), *old = NULL, *val = NULL;
        brook_kviter_t *it = NULL;
        char *out = brook_record_alloc(rec, 256);
        char why[256] = "";
        brook_err_t err = BROOK_OK;

        (void)state;
        assert_int_equal(brook_ctx_kvstore(ctx, "kv", &st, NULL, 0), BROOK_OK);
        assert_non_null(st);
        assert_int_equal(
                brook_ctx_kvstore(ctx, "elsewhere", &other, why, sizeof why),
                BROOK_ERR_NOT_FOUND);
        assert_null(other);
        assert_string_equal(why, "processor \"ops\" has no access to store "
                                 "\"elsewhere\": it is not connected to the "
                                 "processor (connect it with "
                                 "brook_builder_add_store() or "
                                 "brook_builder_connect_store())");
        why[0] = '\0';
        assert_string_equal(brook_kvstore_name(st), "kv");
        if (!strncmp(cmd, "put:", 4)) {
                err = brook_kvstore_put(st, key, cmd + 4, errstr, errstr_size);
                snprintf(out, 64, "put %s", brook_err2str(err));
        } else if (!strncmp(cmd, "pia:", 4)) {
                err = brook_kvstore_put_if_absent(st, key, cmd + 4, &old,
                                                  errstr, errstr_size);
                snprintf(out, 64, "pia %s old=%s", brook_err2str(err),
                         old ? (char *)old : "(null)");
        } else if (!strcmp(cmd, "del")) {
                err = brook_kvstore_delete(st, key, &old, errstr, errstr_size);
                snprintf(out, 64, "del %s old=%s", brook_err2str(err),
                         old ? (char *)old : "(null)");
        } else if (!strcmp(cmd, "get")) {
                brook_err_t e =
                        brook_kvstore_get(st, key, &val, errstr, errstr_size);
                snprintf(out, 64, "get %s %s", brook_err2str(e),
                         val ? (char *)val : "(null)");
        } else if (!strncmp(cmd, "range:", 6)) {
                char *from =
                        brook_arena_strdup(brook_record_arena(rec), cmd + 6);
                char *to = strchr(from, ':');
                *to++ = '\0';
                err = brook_kvstore_range(st, *from ? from : NULL,
                                          *to ? to : NULL, &it, errstr,
                                          errstr_size);
                out = err ? "range failed" : drain(rec, it);
        } else if (!strncmp(cmd, "prefix:", 7)) {
                err = brook_kvstore_prefix_scan(st, cmd + 7, NULL, &it, errstr,
                                                errstr_size);
                out = err ? "prefix failed" : drain(rec, it);
        } else if (!strcmp(cmd, "all")) {
                err = brook_kvstore_all(st, &it, errstr, errstr_size);
                out = err ? "all failed" : drain(rec, it);
        } else if (!strcmp(cmd, "badput")) {
                /* Failures come back with the store's reason. */
                snprintf(out, 256, "put %s: ",
                         brook_err2str(brook_kvstore_put(st, NULL, "v", why,
                                                         sizeof why)));
                strcat(out, why);
                strcat(out, "; prefix ");
                strcat(out, brook_err2str(brook_kvstore_prefix_scan(
                                    st, NULL, NULL, &it, why, sizeof why)));
                strcat(out, ": ");
                strcat(out, why);
                assert_null(it);
        } else if (!strcmp(cmd, "count")) {
                snprintf(out, 64, "count %llu",
                         (unsigned long long)brook_kvstore_approximate_count(
                                 st));
        }
        if (err)
                return err;
        return brook_ctx_forward(
                ctx,
                brook_ctx_record_new(ctx, rec, key, out,
                                     brook_record_timestamp(rec)),
                errstr, errstr_size);
}

typedef struct params {
        bool in_memory;
        bool caching;
} params_t;

static brook_test_driver_t *ops_driver(const params_t *p)
{
        char errstr[512];
        brook_builder_t *b = brook_builder_new();
        brook_conf_t *conf = brook_conf_new();
        const brook_serde_t *str = brook_serde_string();
        brook_processor_def_t def = {.process = ops_process};
        brook_test_driver_t *td;

        assert_int_equal(brook_builder_add_source(
                                 b, "src", (const char *[]){"in"}, 1, NULL,
                                 &(brook_consumed_t){.key_serde = str,
                                                     .value_serde = str},
                                 errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_builder_add_processor(b, "ops", &def,
                                                     (const char *[]){"src"}, 1,
                                                     errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(
                brook_builder_add_store(
                        b,
                        &(brook_materialized_t){
                                .name = "kv",
                                .key_serde = str,
                                .value_serde = str,
                                .supplier = p->in_memory
                                                    ? brook_kvstore_in_memory()
                                                    : NULL,
                                .caching_disabled = !p->caching},
                        (const char *[]){"ops"}, 1, errstr, sizeof errstr),
                BROOK_OK);
        assert_int_equal(
                brook_builder_add_sink(b, "sink", "out", NULL, NULL,
                                       &(brook_produced_t){.key_serde = str,
                                                           .value_serde = str},
                                       (const char *[]){"ops"}, 1, errstr,
                                       sizeof errstr),
                BROOK_OK);
        assert_int_equal(brook_conf_set(conf, "application.id", "api", errstr,
                                        sizeof errstr),
                         BROOK_OK);
        td = brook_test_driver_new(b, conf, 0, errstr, sizeof errstr);
        if (!td)
                fail_msg("%s", errstr);
        /* Commits only when the test says: reads must see cached writes. */
        brook_test_driver_set_auto_commit(td, false);
        return td;
}

/* Pipes command @p cmd for @p key and checks the one answer. */
static void run(brook_test_driver_t *td, const char *key, const char *cmd,
                const char *want)
{
        char errstr[512];
        brook_test_record_t r;

        assert_int_equal(brook_test_driver_pipe(td, "in", key, strlen(key), cmd,
                                                strlen(cmd), 1, NULL, 0, errstr,
                                                sizeof errstr),
                         BROOK_OK);
        assert_true(brook_test_driver_read(td, "out", &r));
        assert_int_equal(r.value_size, strlen(want));
        assert_memory_equal(r.value, want, r.value_size);
        assert_false(brook_test_driver_read(td, "out", &r));
}

static void commit(brook_test_driver_t *td)
{
        char errstr[512];
        assert_int_equal(brook_test_driver_commit(td, errstr, sizeof errstr),
                         BROOK_OK);
}

static void test_ops(void **state)
{
        const params_t *p = *state;
        brook_test_driver_t *td = ops_driver(p);

        run(td, "b", "get", "get Not found (null)");
        run(td, "b", "put:2", "put Success");
        run(td, "a", "put:1", "put Success");
        run(td, "ab", "put:12", "put Success");
        run(td, "c", "put:3", "put Success");
        run(td, "b", "get", "get Success 2");
        run(td, "b", "pia:9", "pia Success old=2");
        run(td, "d", "pia:4", "pia Success old=(null)");
        run(td, "d", "get", "get Success 4");
        /* Before any commit: ranges see what the cache holds. */
        run(td, "x", "all", "a=1,ab=12,b=2,c=3,d=4,");
        run(td, "x", "range:ab:c", "ab=12,b=2,c=3,");
        run(td, "x", "range::ab", "a=1,ab=12,");
        run(td, "x", "range:c:", "c=3,d=4,");
        run(td, "x", "prefix:a", "a=1,ab=12,");
        commit(td);
        run(td, "c", "del", "del Success old=3");
        run(td, "c", "get", "get Not found (null)");
        run(td, "zz", "del", "del Success old=(null)");
        run(td, "a", "put:", "put Success");
        run(td, "a", "get", "get Success ");
        run(td, "x", "all", "a=,ab=12,b=2,d=4,");
        commit(td);
        run(td, "x", "all", "a=,ab=12,b=2,d=4,");
        run(td, "x", "prefix:", "a=,ab=12,b=2,d=4,");
        run(td, "x", "prefix:q", "");
        brook_test_driver_destroy(td);
}

/* The changelog holds each write that left the cache: with the cache, one
 * record per key per commit; without, one per write. */
static void test_changelog(void **state)
{
        const params_t *p = *state;
        brook_test_driver_t *td = ops_driver(p);
        const char *log = "api-kv-changelog";
        brook_test_record_t r;

        run(td, "k", "put:1", "put Success");
        run(td, "k", "put:2", "put Success");
        run(td, "j", "put:7", "put Success");
        run(td, "j", "del", "del Success old=7");
        commit(td);
        if (p->caching) {
                /* j was put and deleted within the commit: its tombstone
                 * is still written, as a store (unlike a DSL table) has
                 * no forwarding to skip. */
                assert_true(brook_test_driver_read(td, log, &r));
                assert_memory_equal(r.key, "k", 1);
                assert_memory_equal(r.value, "2", 1);
                assert_true(brook_test_driver_read(td, log, &r));
                assert_memory_equal(r.key, "j", 1);
                assert_null(r.value);
        } else {
                const char *want[][2] = {
                        {"k", "1"}, {"k", "2"}, {"j", "7"}, {"j", NULL}};
                size_t i;
                for (i = 0; i < 4; i++) {
                        assert_true(brook_test_driver_read(td, log, &r));
                        assert_memory_equal(r.key, want[i][0], 1);
                        if (want[i][1])
                                assert_memory_equal(r.value, want[i][1], 1);
                        else
                                assert_null(r.value);
                }
        }
        assert_false(brook_test_driver_read(td, log, &r));
        /* The in-memory store counts exactly; RocksDB's count is its
         * estimate-num-keys, which counts a put-then-delete of a key the
         * memtable never flushed differently with and without a cache. */
        if (p->in_memory)
                run(td, "x", "count", "count 1");
        run(td, "x", "badput",
            "put Invalid argument: store \"kv\": key: the key is NULL; "
            "prefix Invalid argument: store \"kv\": prefix: the prefix is "
            "NULL");
        brook_test_driver_destroy(td);
}

/* ------------------------------------------ store vtables that grow */

/* A user store from a later brook: the in-memory store, whose ops (or
 * whose range iterators) claim a version this brook does not know. */
typedef struct future {
        brook_kvstore_ops_t ops;
        const brook_kvstore_ops_t *inner_ops;
        int ops_version, iter_version;
} future_t;

static future_t future;

static brook_err_t future_range(void *self, const void *from, size_t from_size,
                                const void *to, size_t to_size,
                                brook_kvbytes_iter_t **itp, char *errstr,
                                size_t errstr_size)
{
        brook_err_t err = future.inner_ops->range(
                self, from, from_size, to, to_size, itp, errstr, errstr_size);
        if (!err)
                (*itp)->version = future.iter_version;
        return err;
}

static brook_err_t future_open(const brook_kvstore_open_t *info, void *opaque,
                               void **selfp, const brook_kvstore_ops_t **opsp,
                               char *errstr, size_t errstr_size)
{
        const brook_kvstore_supplier_t *mem = brook_kvstore_in_memory();
        brook_err_t err;

        (void)opaque;
        if ((err = mem->open(info, mem->opaque, selfp, &future.inner_ops,
                             errstr, errstr_size)))
                return err;
        future.ops = *future.inner_ops;
        future.ops.range = future_range;
        future.ops.version = future.ops_version;
        *opsp = &future.ops;
        return BROOK_OK;
}

/* A driver for ops_process over a store of future_open(); NULL (and the
 * reason in @p errstr) if the driver refuses it. */
static brook_test_driver_t *future_driver(char *errstr, size_t errstr_size)
{
        brook_builder_t *b = brook_builder_new();
        const brook_serde_t *str = brook_serde_string();
        brook_processor_def_t def = {.process = ops_process};
        static const brook_kvstore_supplier_t sup = {.open = future_open};
        brook_test_driver_t *td;

        assert_int_equal(brook_builder_add_source(
                                 b, "src", (const char *[]){"in"}, 1, NULL,
                                 &(brook_consumed_t){.key_serde = str,
                                                     .value_serde = str},
                                 errstr, errstr_size),
                         BROOK_OK);
        assert_int_equal(brook_builder_add_processor(b, "ops", &def,
                                                     (const char *[]){"src"}, 1,
                                                     errstr, errstr_size),
                         BROOK_OK);
        assert_int_equal(
                brook_builder_add_store(
                        b,
                        &(brook_materialized_t){.name = "kv",
                                                .key_serde = str,
                                                .value_serde = str,
                                                .supplier = &sup,
                                                .caching_disabled = true},
                        (const char *[]){"ops"}, 1, errstr, errstr_size),
                BROOK_OK);
        assert_int_equal(
                brook_builder_add_sink(b, "sink", "out", NULL, NULL,
                                       &(brook_produced_t){.key_serde = str,
                                                           .value_serde = str},
                                       (const char *[]){"ops"}, 1, errstr,
                                       errstr_size),
                BROOK_OK);
        td = brook_test_driver_new(b, NULL, 0, errstr, errstr_size);
        if (!td)
                brook_builder_destroy(b);
        return td;
}

static void test_ops_version_unknown(void **state)
{
        char errstr[512] = "", want[512];
        (void)state;

        future.ops_version = BROOK_KVSTORE_OPS_VERSION + 1;
        future.iter_version = 0;
        assert_null(future_driver(errstr, sizeof errstr));
        snprintf(want, sizeof want,
                 "brook_kvstore_ops_t.version is %d, but this brook (%s) "
                 "reads versions 1 to %d of it (0 means 1): build against the "
                 "headers of the brook you run with",
                 BROOK_KVSTORE_OPS_VERSION + 1, BROOK_VERSION_STR,
                 BROOK_KVSTORE_OPS_VERSION);
        /* The task's open names the task and the store, then the reason. */
        if (!strstr(errstr, "task 0_0: store \"kv\" (in-memory): ") ||
            !strstr(errstr, want))
                fail_msg("unexpected error: %s", errstr);
}

static void test_iter_version_unknown(void **state)
{
        char errstr[512] = "", want[512];
        brook_test_driver_t *td;
        (void)state;

        /* The ops are as this brook knows them; only their iterators are
         * from the future, so the store opens and writes work. */
        future.ops_version = BROOK_KVSTORE_OPS_VERSION;
        future.iter_version = BROOK_KVBYTES_ITER_VERSION + 1;
        td = future_driver(errstr, sizeof errstr);
        if (!td)
                fail_msg("%s", errstr);
        run(td, "a", "put:1", "put Success");
        assert_int_not_equal(brook_test_driver_pipe(td, "in", "x", 1, "all", 3,
                                                    2, NULL, 0, errstr,
                                                    sizeof errstr),
                             BROOK_OK);
        snprintf(want, sizeof want,
                 "store \"kv\": range: brook_kvbytes_iter_t.version is 2, but "
                 "this brook (%s) reads versions 1 to 1 of it",
                 BROOK_VERSION_STR);
        if (!strstr(errstr, want))
                fail_msg("unexpected error: %s", errstr);
        brook_test_driver_destroy(td);
}

/* ------------------------------------------------ bytes that must live */

/* Puts "a"->"AAAA" and "b"->"BBBB" into a bytes store, then reads "a", then
 * "b", then iterates: the first value must still read "AAAA" after the
 * later reads reused the store's and the iterator's buffers. */
static brook_err_t bytes_process(brook_ctx_t *ctx, brook_record_t *rec,
                                 void *state, char *errstr, size_t errstr_size)
{
        static const brook_bytes_t a = {"a", 1}, b = {"b", 1};
        static const brook_bytes_t va = {"AAAA", 4}, vb = {"BBBB", 4};
        brook_kvstore_t *st = NULL;
        brook_kviter_t *it = NULL;
        brook_bytes_t *got_a = NULL, *got_b = NULL, *k1, *v1, *k2, *v2, *k3,
                      *v3;
        brook_err_t err;
        (void)state;
        (void)rec;

        if ((err = brook_ctx_kvstore(ctx, "bytes", &st, errstr, errstr_size)) ||
            (err = brook_kvstore_put(st, &a, &va, errstr, errstr_size)) ||
            (err = brook_kvstore_put(st, &b, &vb, errstr, errstr_size)) ||
            (err = brook_kvstore_get(st, &a, (void **)&got_a, errstr,
                                     errstr_size)) ||
            (err = brook_kvstore_get(st, &b, (void **)&got_b, errstr,
                                     errstr_size)))
                return err;
        assert_int_equal(got_a->size, 4);
        assert_memory_equal(got_a->data, "AAAA", 4);
        assert_memory_equal(got_b->data, "BBBB", 4);
        assert_int_equal(brook_kvstore_all(st, &it, NULL, 0), BROOK_OK);
        assert_int_equal(
                brook_kviter_next(it, (void **)&k1, (void **)&v1, NULL, 0),
                BROOK_OK);
        assert_int_equal(
                brook_kviter_next(it, (void **)&k2, (void **)&v2, NULL, 0),
                BROOK_OK);
        assert_int_equal(
                brook_kviter_next(it, (void **)&k3, (void **)&v3, NULL, 0),
                BROOK_ERR_END);
        brook_kviter_destroy(it);
        /* Every decoded object still holds what it was read as. */
        assert_memory_equal(got_a->data, "AAAA", 4);
        assert_memory_equal(got_b->data, "BBBB", 4);
        assert_memory_equal(k1->data, "a", 1);
        assert_memory_equal(v1->data, "AAAA", 4);
        assert_memory_equal(k2->data, "b", 1);
        assert_memory_equal(v2->data, "BBBB", 4);
        return BROOK_OK;
}

static void test_bytes_values_live_with_the_record(void **state)
{
        const params_t *p = *state;
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        char errstr[512] = "";

        assert_int_equal(
                brook_builder_add_source(
                        b, "src", (const char *[]){"in"}, 1, NULL,
                        &(brook_consumed_t){.key_serde = brook_serde_bytes(),
                                            .value_serde = brook_serde_bytes()},
                        errstr, sizeof errstr),
                BROOK_OK);
        assert_int_equal(
                brook_builder_add_processor(
                        b, "p",
                        &(brook_processor_def_t){.process = bytes_process},
                        (const char *[]){"src"}, 1, errstr, sizeof errstr),
                BROOK_OK);
        assert_int_equal(
                brook_builder_add_store(
                        b,
                        &(brook_materialized_t){
                                .name = "bytes",
                                .key_serde = brook_serde_bytes(),
                                .value_serde = brook_serde_bytes(),
                                .supplier = p->in_memory
                                                    ? brook_kvstore_in_memory()
                                                    : NULL,
                                .caching_disabled = !p->caching},
                        (const char *[]){"p"}, 1, errstr, sizeof errstr),
                BROOK_OK);
        td = brook_test_driver_new(b, NULL, 0, errstr, sizeof errstr);
        if (!td)
                fail_msg("%s", errstr);
        assert_int_equal(brook_test_driver_pipe(td, "in", NULL, 0, NULL, 0, 1,
                                                NULL, 0, errstr, sizeof errstr),
                         BROOK_OK);
        brook_test_driver_destroy(td);
}

int main(void)
{
        static params_t rdb_cache = {false, true}, rdb_nocache = {false, false},
                        mem_cache = {true, true}, mem_nocache = {true, false};
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_prestate(test_ops, &rdb_cache),
                cmocka_unit_test_prestate(test_ops, &rdb_nocache),
                cmocka_unit_test_prestate(test_ops, &mem_cache),
                cmocka_unit_test_prestate(test_ops, &mem_nocache),
                cmocka_unit_test_prestate(test_changelog, &rdb_cache),
                cmocka_unit_test_prestate(test_changelog, &rdb_nocache),
                cmocka_unit_test_prestate(test_changelog, &mem_cache),
                cmocka_unit_test_prestate(test_changelog, &mem_nocache),
                cmocka_unit_test_prestate(
                        test_bytes_values_live_with_the_record, &rdb_cache),
                cmocka_unit_test_prestate(
                        test_bytes_values_live_with_the_record, &rdb_nocache),
                cmocka_unit_test_prestate(
                        test_bytes_values_live_with_the_record, &mem_nocache),
                cmocka_unit_test(test_ops_version_unknown),
                cmocka_unit_test(test_iter_version_unknown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
