/*
 * Versioned key-value stores (Kafka Streams' RocksDBVersionedStore rules,
 * KIP-889) through the whole stack — metered façade, changelog, the
 * versioned store over RocksDB, in-memory and version-1 user stores — as
 * processors use them; their restoration (from the changelog after an
 * aborted transaction, and a changelog replayed in restore batches into a
 * fresh store); their durability across a reopen; and, on random inputs,
 * the answers of a plain model of the rules (every version kept, history
 * cut at stream time - history retention).
 *
 * A processor reads commands from its input values and forwards what each
 * returned as one string, so answers are exact:
 *
 *   put:TS[:VALUE]  "latest", "not_put" or the next version's timestamp
 *   get             "VALUE@FROM..TO" ("latest" for TO) or "none"
 *   asof:T          the version valid at T, likewise
 *   del:T           the version deleted, likewise
 *   time            the store's stream time
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <inttypes.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_int.h"

#define OUT_MAX 1024

/* History retention 1000 ms, segments of 100 ms. */
#define RETENTION 1000
#define INTERVAL  100

static void fmt_rec(char *out, size_t size, brook_err_t err,
                    const brook_versioned_record_t *r)
{
        if (err == BROOK_ERR_NOT_FOUND) {
                snprintf(out, size, "none");
                return;
        }
        if (r->valid_to == BROOK_VERSIONED_LATEST)
                snprintf(out, size, "%s@%" PRId64 "..latest",
                         (const char *)r->value, r->timestamp);
        else
                snprintf(out, size, "%s@%" PRId64 "..%" PRId64,
                         (const char *)r->value, r->timestamp, r->valid_to);
}

static brook_err_t ops_process(brook_ctx_t *ctx, brook_record_t *rec,
                               void *state, char *errstr, size_t errstr_size)
{
        brook_versionedstore_t *vs = NULL;
        brook_kvstore_t *kv = (brook_kvstore_t *)1;
        const char *value = brook_record_value(rec);
        char *cmd = brook_record_alloc(rec, strlen(value) + 1);
        char *key = brook_record_key(rec);
        char *out = brook_record_alloc(rec, OUT_MAX);
        char why[256] = "", *arg, *val;
        brook_versioned_record_t r;
        brook_err_t err = BROOK_OK;

        (void)state;
        strcpy(cmd, value);
        arg = strchr(cmd, ':');
        if (arg)
                *arg++ = '\0';
        val = arg ? strchr(arg, ':') : NULL;
        if (val)
                *val++ = '\0';
        assert_int_equal(brook_ctx_versionedstore(ctx, "vs", &vs, NULL, 0),
                         BROOK_OK);
        /* The wrong kind is refused with the reason. */
        assert_int_equal(brook_ctx_kvstore(ctx, "vs", &kv, why, sizeof why),
                         BROOK_ERR_INVALID_ARG);
        assert_null(kv);
        assert_string_equal(why, "processor \"ops\": store \"vs\" is a "
                                 "versioned store, not a key-value store");
        if (!strcmp(cmd, "put")) {
                int64_t code;
                err = brook_versionedstore_put(vs, key, val,
                                               strtoll(arg, NULL, 10), &code,
                                               why, sizeof why);
                if (code == BROOK_VERSIONED_LATEST)
                        snprintf(out, OUT_MAX, "latest");
                else if (code == BROOK_VERSIONED_NOT_PUT)
                        snprintf(out, OUT_MAX, "not_put");
                else
                        snprintf(out, OUT_MAX, "%" PRId64, code);
        } else if (!strcmp(cmd, "get")) {
                err = brook_versionedstore_get(vs, key, &r, why, sizeof why);
                fmt_rec(out, OUT_MAX, err, &r);
        } else if (!strcmp(cmd, "asof")) {
                err = brook_versionedstore_get_as_of(
                        vs, key, strtoll(arg, NULL, 10), &r, why, sizeof why);
                fmt_rec(out, OUT_MAX, err, &r);
        } else if (!strcmp(cmd, "del")) {
                err = brook_versionedstore_delete(
                        vs, key, strtoll(arg, NULL, 10), &r, why, sizeof why);
                fmt_rec(out, OUT_MAX, err, &r);
        } else if (!strcmp(cmd, "time")) {
                snprintf(out, OUT_MAX, "%" PRId64,
                         brook_versionedstore_stream_time(vs));
        } else {
                fail_msg("unknown command %s", cmd);
        }
        if (err && err != BROOK_ERR_NOT_FOUND)
                snprintf(out, OUT_MAX, "%s: %s", brook_err2str(err), why);
        return brook_ctx_forward(
                ctx,
                brook_ctx_record_new(ctx, rec, key, out,
                                     brook_record_timestamp(rec)),
                errstr, errstr_size);
}

typedef struct params {
        bool in_memory;
        /** A user's store of version 1: no delete_range, so expired
         *  segments go row by row. */
        bool v1;
        bool eos;
} params_t;

static brook_kvstore_ops_t v1_ops;

static brook_err_t v1_open(const brook_kvstore_open_t *info, void *opaque,
                           void **selfp, const brook_kvstore_ops_t **opsp,
                           char *errstr, size_t errstr_size)
{
        const brook_kvstore_ops_t *mem;
        brook_err_t err = brook_kvstore_in_memory()->open(
                info, NULL, selfp, &mem, errstr, errstr_size);
        (void)opaque;
        if (err)
                return err;
        v1_ops = *mem;
        v1_ops.version = 1;
        v1_ops.range_reverse = NULL;
        v1_ops.query_range_reverse = NULL;
        v1_ops.delete_range = NULL;
        *opsp = &v1_ops;
        return BROOK_OK;
}

static const brook_kvstore_supplier_t v1_supplier = {.open = v1_open};

static brook_test_driver_t *ops_driver(const params_t *p)
{
        char errstr[512];
        brook_builder_t *b = brook_builder_new();
        brook_conf_t *conf = brook_conf_new();
        const brook_serde_t *str = brook_serde_string();
        brook_processor_def_t def = {.process = ops_process};
        brook_materialized_t m = {
                .name = "vs",
                .key_serde = str,
                .value_serde = str,
                .supplier = p->v1          ? &v1_supplier
                            : p->in_memory ? brook_kvstore_in_memory()
                                           : NULL,
                .versioned = true,
                .history_retention_ms = RETENTION,
                .segment_interval_ms = INTERVAL,
                .version = BROOK_MATERIALIZED_VERSION,
        };
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
        assert_int_equal(brook_builder_add_store(b, &m, (const char *[]){"ops"},
                                                 1, errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(
                brook_builder_add_sink(b, "sink", "out", NULL, NULL,
                                       &(brook_produced_t){.key_serde = str,
                                                           .value_serde = str},
                                       (const char *[]){"ops"}, 1, errstr,
                                       sizeof errstr),
                BROOK_OK);
        assert_int_equal(brook_conf_set(conf, "application.id", "ver", errstr,
                                        sizeof errstr),
                         BROOK_OK);
        if (p->eos)
                assert_int_equal(brook_conf_set(conf, "processing.guarantee",
                                                "exactly_once_v2", errstr,
                                                sizeof errstr),
                                 BROOK_OK);
        td = brook_test_driver_new(b, conf, 0, errstr, sizeof errstr);
        if (!td)
                fail_msg("%s", errstr);
        /* Under exactly-once, outputs show once committed. */
        brook_test_driver_set_auto_commit(td, p->eos);
        return td;
}

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
        if (r.value_size != strlen(want) || memcmp(r.value, want, r.value_size))
                fail_msg("%s %s: got \"%.*s\", want \"%s\"", key, cmd,
                         (int)r.value_size, (const char *)r.value, want);
        assert_false(brook_test_driver_read(td, "out", &r));
}

static void commit(brook_test_driver_t *td)
{
        char errstr[512];
        assert_int_equal(brook_test_driver_commit(td, errstr, sizeof errstr),
                         BROOK_OK);
}

/* ------------------------------------------------------- through the stack */

/* Versions in and out of order, replaced, and read back at every time. */
static void test_versions(void **state)
{
        brook_test_driver_t *td = ops_driver(*state);

        run(td, "k", "put:100:a", "latest");
        run(td, "k", "put:200:b", "latest");
        run(td, "k", "get", "b@200..latest");
        run(td, "k", "asof:150", "a@100..200");
        run(td, "k", "asof:99", "none");
        run(td, "k", "asof:200", "b@200..latest");
        /* Out of order: history, valid until the next version. It moves
         * a@100 (now valid until 150) from segment 2 to segment 1. */
        run(td, "k", "put:150:c", "200");
        run(td, "k", "asof:150", "c@150..200");
        run(td, "k", "asof:149", "a@100..150");
        /* The same timestamp replaces the version. */
        run(td, "k", "put:150:d", "200");
        run(td, "k", "asof:199", "d@150..200");
        /* Older than every version. */
        run(td, "k", "put:50:e", "100");
        run(td, "k", "asof:50", "e@50..100");
        run(td, "k", "asof:100", "a@100..150");
        /* The latest replaced. */
        run(td, "k", "put:200:f", "latest");
        run(td, "k", "get", "f@200..latest");
        run(td, "k", "asof:180", "d@150..200");
        run(td, "j", "get", "none");
        run(td, "j", "asof:200", "none");
        run(td, "k", "time", "200");
        brook_test_driver_destroy(td);
}

/* Tombstones are versions: "no value from here on". */
static void test_tombstones(void **state)
{
        brook_test_driver_t *td = ops_driver(*state);

        run(td, "k", "put:100:a", "latest");
        run(td, "k", "put:200", "latest");
        run(td, "k", "get", "none");
        run(td, "k", "asof:150", "a@100..200");
        run(td, "k", "asof:250", "none");
        run(td, "k", "put:300:b", "latest");
        run(td, "k", "asof:250", "none");
        run(td, "k", "asof:300", "b@300..latest");
        /* An out-of-order tombstone. */
        run(td, "k", "put:250", "300");
        run(td, "k", "asof:260", "none");
        run(td, "k", "asof:199", "a@100..200");
        /* Between two tombstones: the gap after the first stays empty. */
        run(td, "k", "put:220:c", "250");
        run(td, "k", "asof:230", "c@220..250");
        run(td, "k", "asof:210", "none");
        run(td, "k", "asof:250", "none");
        run(td, "k", "asof:300", "b@300..latest");
        /* A tombstone that deletes nothing is kept: an older version put
         * later ends there. */
        run(td, "j", "put:100", "latest");
        run(td, "j", "get", "none");
        run(td, "j", "put:50:x", "100");
        run(td, "j", "asof:60", "x@50..100");
        run(td, "j", "asof:100", "none");
        run(td, "j", "asof:150", "none");
        run(td, "j", "get", "none");
        brook_test_driver_destroy(td);
}

/* History retention: puts older than stream time - retention are not
 * made (and counted), reads that old see only the latest version, which
 * never expires; delete. */
static void test_retention(void **state)
{
        brook_test_driver_t *td = ops_driver(*state);

        run(td, "k", "put:1000:a", "latest");
        run(td, "k", "put:2000:b", "latest");
        run(td, "k", "put:999:x", "not_put");
        assert_int_equal(
                brook_test_driver_records_dropped(td, BROOK_DROP_EXPIRED), 1);
        /* At the bound itself: made (it replaces a@1000). */
        run(td, "k", "put:1000:y", "2000");
        run(td, "k", "asof:1500", "y@1000..2000");
        run(td, "k", "asof:1000", "y@1000..2000");
        run(td, "k", "asof:999", "none");
        /* Stream time 3500: segments below 25 go (y@1000..2000 with
         * them). */
        run(td, "k", "put:3500:c", "latest");
        run(td, "k", "asof:2500", "b@2000..3500");
        run(td, "k", "asof:2499", "none");
        run(td, "k", "asof:1500", "none");
        run(td, "j", "put:2600:z", "latest");
        run(td, "k", "put:10000:d", "latest");
        run(td, "k", "time", "10000");
        /* The latest version never expires. */
        run(td, "j", "asof:2600", "z@2600..latest");
        run(td, "j", "asof:2599", "none");
        run(td, "j", "get", "z@2600..latest");
        run(td, "k", "asof:5000", "none");
        /* History is kept by its end (validTo), however old its start. */
        run(td, "k", "asof:9000", "c@3500..10000");
        run(td, "k", "asof:8999", "none");
        /* Delete: the version valid then, ended there. */
        run(td, "k", "del:9500", "c@3500..10000");
        run(td, "k", "asof:9600", "none");
        run(td, "k", "asof:9400", "c@3500..9500");
        run(td, "k", "get", "d@10000..latest");
        run(td, "k", "del:8000", "none");
        assert_int_equal(
                brook_test_driver_records_dropped(td, BROOK_DROP_EXPIRED), 2);
        run(td, "k", "asof:9400", "c@3500..9500");
        run(td, "k", "del:10000", "d@10000..latest");
        run(td, "k", "get", "none");
        run(td, "k", "asof:9999", "none");
        brook_test_driver_destroy(td);
}

/* The store stays bounded: rows of expired segments go, whatever the
 * bytes store (with or without delete_range). */
static void test_bounded(void **state)
{
        const params_t *p = *state;
        brook_test_driver_t *td = ops_driver(p);
        brook__store_t *st;
        char cmd[64];
        int64_t ts;

        for (ts = 0; ts <= 20000; ts += 50) {
                snprintf(cmd, sizeof cmd, "put:%" PRId64 ":v%" PRId64, ts, ts);
                run(td, "k", cmd, "latest");
                snprintf(cmd, sizeof cmd, "put:%" PRId64 ":w", ts + 10);
                run(td, "j", cmd, "latest");
        }
        commit(td);
        st = (brook__store_t *)brook_test_driver_versionedstore(td, "vs");
        assert_non_null(st);
        /* 2 latest values, and the rows of segments 190 to 200 of two
         * keys; RocksDB's count is an estimate. */
        if (p->in_memory || p->v1)
                assert_int_equal(st->ops->approximate_count(st->inner), 24);
        run(td, "k", "asof:19010", "v19000@19000..19050");
        run(td, "k", "asof:19009", "none");
        run(td, "j", "asof:19500", "w@19460..19510");
        brook_test_driver_destroy(td);
}

/* The changelog: each put made, with the version's timestamp; a tombstone
 * as a null value; a put not made is not logged. */
static void test_changelog(void **state)
{
        brook_test_driver_t *td = ops_driver(*state);
        static const struct {
                const char *value;
                int64_t ts;
        } want[] = {{"a", 100}, {"o", 50}, {NULL, 200}, {"b", 2000}};
        brook_test_record_t r;
        size_t i;

        run(td, "k", "put:100:a", "latest");
        run(td, "k", "put:50:o", "100");
        run(td, "k", "put:200", "latest");
        run(td, "k", "put:2000:b", "latest");
        run(td, "k", "put:500:late", "not_put");
        commit(td);
        for (i = 0; i < sizeof want / sizeof *want; i++) {
                assert_true(brook_test_driver_read(td, "ver-vs-changelog", &r));
                assert_int_equal(r.key_size, 1);
                assert_memory_equal(r.key, "k", 1);
                assert_int_equal(r.timestamp, want[i].ts);
                if (!want[i].value) {
                        assert_null(r.value);
                } else {
                        assert_int_equal(r.value_size, strlen(want[i].value));
                        assert_memory_equal(r.value, want[i].value,
                                            r.value_size);
                }
        }
        assert_false(brook_test_driver_read(td, "ver-vs-changelog", &r));
        brook_test_driver_destroy(td);
}

/* The answers of test_tombstones' store, and its stream time. */
static void expect_tombstones_state(brook_test_driver_t *td)
{
        run(td, "k", "time", "300");
        run(td, "k", "asof:199", "a@100..200");
        run(td, "k", "asof:210", "none");
        run(td, "k", "asof:230", "c@220..250");
        run(td, "k", "asof:260", "none");
        run(td, "k", "get", "b@300..latest");
        run(td, "j", "asof:60", "x@50..100");
        run(td, "j", "asof:100", "none");
}

/*
 * Exactly-once: an aborted transaction revives the task, whose store is
 * restored from the committed changelog (in memory: all of it; RocksDB:
 * from its stored offset, here none, with the stream time it kept). The
 * same answers and stream time after as before.
 */
static void test_restore_after_abort(void **state)
{
        brook_test_driver_t *td = ops_driver(*state);

        run(td, "k", "put:100:a", "latest");
        run(td, "k", "put:200", "latest");
        run(td, "k", "put:300:b", "latest");
        run(td, "k", "put:250", "300");
        run(td, "k", "put:220:c", "250");
        run(td, "j", "put:100", "latest");
        run(td, "j", "put:50:x", "100");
        expect_tombstones_state(td);
        brook__td_fail_next(td, BROOK__TD_FAIL_COMMIT_ABORT);
        /* Aborted once, then processed again over the restored store. */
        run(td, "k", "put:400:d", "latest");
        assert_int_equal(brook__td_aborts(td), 1);
        run(td, "k", "asof:350", "b@300..400");
        run(td, "k", "put:300:b2", "400");
        brook__td_fail_next(td, BROOK__TD_FAIL_COMMIT_ABORT);
        run(td, "k", "time", "400");
        assert_int_equal(brook__td_aborts(td), 2);
        run(td, "k", "asof:350", "b2@300..400");
        run(td, "k", "get", "d@400..latest");
        run(td, "k", "asof:199", "a@100..200");
        run(td, "k", "asof:210", "none");
        run(td, "k", "asof:230", "c@220..250");
        run(td, "j", "asof:60", "x@50..100");
        /* A put older than the restored stream time allows is refused. */
        run(td, "k", "put:1500:e", "latest");
        brook__td_fail_next(td, BROOK__TD_FAIL_COMMIT_ABORT);
        run(td, "k", "put:499:late", "not_put");
        assert_int_equal(brook__td_aborts(td), 3);
        run(td, "k", "time", "1500");
        brook_test_driver_destroy(td);
}

/* Declarations that make no sense are refused; versioned stores never
 * cache. */
static void test_declare(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_processor_def_t def = {.process = ops_process};
        brook_materialized_t m = {.name = "vs",
                                  .versioned = true,
                                  .history_retention_ms = -1,
                                  .version = BROOK_MATERIALIZED_VERSION};
        char errstr[512];

        (void)state;
        assert_int_equal(
                brook_builder_add_source(b, "src", (const char *[]){"in"}, 1,
                                         NULL, NULL, errstr, sizeof errstr),
                BROOK_OK);
        assert_int_equal(brook_builder_add_processor(b, "ops", &def,
                                                     (const char *[]){"src"}, 1,
                                                     errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_builder_add_store(b, &m, (const char *[]){"ops"},
                                                 1, errstr, sizeof errstr),
                         BROOK_ERR_INVALID_ARG);
        assert_string_equal(errstr, "store \"vs\": history_retention_ms is -1: "
                                    "it must be 0 or more");
        brook_builder_destroy(b);

        b = brook_builder_new();
        m.history_retention_ms = 60000;
        assert_int_equal(
                brook_builder_add_source(b, "src", (const char *[]){"in"}, 1,
                                         NULL, NULL, errstr, sizeof errstr),
                BROOK_OK);
        assert_int_equal(brook_builder_add_processor(b, "ops", &def,
                                                     (const char *[]){"src"}, 1,
                                                     errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_builder_add_store(b, &m, (const char *[]){"ops"},
                                                 1, errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook__builder_store(b, "vs")->kind,
                         BROOK__STORE_VERSIONED);
        assert_false(brook__builder_store(b, "vs")->caching);
        assert_int_equal(brook__builder_store(b, "vs")->retention_ms, 60000);
        /* Kafka Streams' default segment interval: retention / 3, at
         * least 2 s. */
        assert_int_equal(brook__builder_store(b, "vs")->segment_ms, 20000);
        brook_builder_destroy(b);
        assert_int_equal(brook__versioned_segment_ms(0), 2000);
        assert_int_equal(brook__versioned_segment_ms(300000), 60000);
        assert_int_equal(brook__versioned_segment_ms(3600000), 300000);
        assert_int_equal(brook__versioned_segment_ms(86400000), 3600000);

        /* A struct of version 2 has no versioned members: a key-value
         * store. */
        b = brook_builder_new();
        m.version = 2;
        assert_int_equal(
                brook_builder_add_source(b, "src", (const char *[]){"in"}, 1,
                                         NULL, NULL, errstr, sizeof errstr),
                BROOK_OK);
        assert_int_equal(brook_builder_add_processor(b, "ops", &def,
                                                     (const char *[]){"src"}, 1,
                                                     errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_builder_add_store(b, &m, (const char *[]){"ops"},
                                                 1, errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook__builder_store(b, "vs")->kind, BROOK__STORE_KV);
        brook_builder_destroy(b);

        /* A window store cannot be versioned: refused, not ignored. */
        b = brook_builder_new();
        m.version = BROOK_MATERIALIZED_VERSION;
        assert_int_equal(
                brook_builder_add_source(b, "src", (const char *[]){"in"}, 1,
                                         NULL, NULL, errstr, sizeof errstr),
                BROOK_OK);
        assert_int_equal(brook_builder_add_processor(b, "ops", &def,
                                                     (const char *[]){"src"}, 1,
                                                     errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(
                brook_builder_add_window_store(
                        b, &m,
                        &(brook_window_store_opts_t){.retention_ms = 1000,
                                                     .window_size_ms = 10},
                        (const char *[]){"ops"}, 1, errstr, sizeof errstr),
                BROOK_ERR_INVALID_ARG);
        assert_string_equal(errstr, "store \"vs\": a window store cannot be "
                                    "versioned (brook_materialized_t."
                                    "versioned)");
        brook_builder_destroy(b);
}

/* Interactive queries: a versioned store is read with
 * brook_app_versioned_get() only, and only while the app runs. */
static void test_query_kinds(void **state)
{
        brook_conf_t *conf = brook_conf_new();
        brook_builder_t *b = brook_builder_new();
        brook_materialized_t vm = {.name = "tbl-v",
                                   .versioned = true,
                                   .history_retention_ms = 1000,
                                   .version = BROOK_MATERIALIZED_VERSION};
        brook_materialized_t km = {.name = "kv"};
        brook_versioned_record_t r;
        brook_arena_t *arena = brook_arena_new();
        char errstr[512] = "", dir[64];
        void *v = (void *)1;
        brook_app_t *app;

        (void)state;
        strcpy(dir, "/tmp/brook-vq-XXXXXX");
        assert_non_null(mkdtemp(dir));
        assert_int_equal(brook_conf_set(conf, "application.id", "vq", errstr,
                                        sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_conf_set(conf, "bootstrap.servers",
                                        "127.0.0.1:9092", errstr,
                                        sizeof errstr),
                         BROOK_OK);
        assert_int_equal(
                brook_conf_set(conf, "state.dir", dir, errstr, sizeof errstr),
                BROOK_OK);
        assert_int_equal(brook_conf_set(conf, "default.key.serde", "string",
                                        errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_conf_set(conf, "default.value.serde", "string",
                                        errstr, sizeof errstr),
                         BROOK_OK);
        brook_stream_to(brook_table_to_stream(brook_table(b, "a", NULL, &vm)),
                        "out-a", NULL);
        brook_stream_to(brook_table_to_stream(brook_table(b, "b", NULL, &km)),
                        "out-b", NULL);
        app = brook_app_new(b, conf, errstr, sizeof errstr);
        if (!app)
                fail_msg("brook_app_new: %s", errstr);
        assert_int_equal(brook_app_versioned_get(app, "kv", "k", 5, arena, &r,
                                                 errstr, sizeof errstr),
                         BROOK_ERR_INVALID_ARG);
        assert_string_equal(errstr, "store \"kv\" is a key-value store, not a "
                                    "versioned store: query it with "
                                    "brook_app_store_get(), _range(), "
                                    "_prefix() or _all()");
        assert_int_equal(brook_app_store_get(app, "tbl-v", "k", arena, &v,
                                             errstr, sizeof errstr),
                         BROOK_ERR_INVALID_ARG);
        assert_null(v);
        assert_string_equal(errstr, "store \"tbl-v\" is a versioned store, "
                                    "not a key-value store: query it with "
                                    "brook_app_versioned_get()");
        assert_int_equal(brook_app_versioned_get(app, "nope", "k", 5, arena, &r,
                                                 errstr, sizeof errstr),
                         BROOK_ERR_NOT_FOUND);
        assert_int_equal(brook_app_versioned_get(app, "tbl-v", "k", 5, arena,
                                                 &r, errstr, sizeof errstr),
                         BROOK_ERR_STATE);
        assert_string_equal(errstr, "the app is not running: queries need a "
                                    "started app");
        assert_null(r.value);
        assert_int_equal(r.timestamp, -1);
        brook_app_destroy(app);
        brook_arena_destroy(arena);
        rmdir(dir);
}

/* ------------------------------------------------ the store, directly */

typedef struct fixture {
        char tmp[64];
        char dir[128];
        brook__statedb_t *db;
        brook__statebatch_t *batch;
        brook__stateenv_t env;
} fixture_t;

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
        (void)sb;
        (void)flag;
        (void)ftw;
        return remove(path);
}

static int setup(void **state)
{
        fixture_t *f = calloc(1, sizeof *f);
        strcpy(f->tmp, "/tmp/brook-ver-XXXXXX");
        if (!mkdtemp(f->tmp))
                return -1;
        snprintf(f->dir, sizeof f->dir, "%s/app/rocksdb", f->tmp);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture_t *f = *state;
        if (f->batch)
                brook__statebatch_destroy(f->batch);
        if (f->db)
                brook__statedb_close(f->db);
        nftw(f->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(f);
        return 0;
}

typedef struct vst {
        void *self;
        const brook_kvstore_ops_t *ops;
} vst_t;

static void db_open(fixture_t *f)
{
        char errstr[512] = "";
        if (brook__statedb_open(f->dir, 16 << 20, &f->db, errstr,
                                sizeof errstr))
                fail_msg("open: %s", errstr);
        f->batch = brook__statebatch_new(f->db);
        f->env.db = f->db;
        f->env.batch = f->batch;
}

static void db_close(fixture_t *f)
{
        brook__statebatch_destroy(f->batch);
        brook__statedb_close(f->db);
        f->batch = NULL;
        f->db = NULL;
}

/* Store @p name over RocksDB (@p f non-NULL, its db open) or in memory. */
static vst_t vst_open(fixture_t *f, const char *name, int64_t retention,
                      int64_t interval)
{
        brook__storedef_t def = {.kind = BROOK__STORE_VERSIONED,
                                 .retention_ms = retention,
                                 .segment_ms = interval};
        brook_kvstore_open_t info = {.store = name,
                                     .task_id = "0_0",
                                     .app_id = "app",
                                     .state_dir = f ? f->tmp : "/nonexistent",
                                     .internal = f ? &f->env : NULL};
        const brook_kvstore_supplier_t *sup =
                f ? brook_kvstore_rocksdb() : brook_kvstore_in_memory();
        char errstr[512] = "";
        vst_t s;

        if (sup->open(&info, sup->opaque, &s.self, &s.ops, errstr,
                      sizeof errstr) ||
            brook__versioned_wrap(&def, &s.self, &s.ops, errstr, sizeof errstr))
                fail_msg("store: %s", errstr);
        return s;
}

static int64_t vput(vst_t s, const char *k, int64_t ts, const char *v)
{
        char errstr[256] = "";
        int64_t code;
        if (brook__versioned_put(s.self, k, strlen(k), v, v ? strlen(v) : 0, ts,
                                 &code, errstr, sizeof errstr))
                fail_msg("put: %s", errstr);
        return code;
}

/* The answer for @p k as of @p as_of, as fmt_rec() writes it. */
static void vget(vst_t s, bool query, const char *k, int64_t as_of, char *out,
                 size_t size)
{
        brook_buf_t *b = brook_buf_new();
        char errstr[256] = "";
        int64_t ts, to;
        brook_err_t err =
                brook__versioned_get(s.self, query, k, strlen(k), as_of, b, &ts,
                                     &to, errstr, sizeof errstr);
        if (err == BROOK_ERR_NOT_FOUND)
                snprintf(out, size, "none");
        else if (err)
                fail_msg("get: %s", errstr);
        else if (to == BROOK_VERSIONED_LATEST)
                snprintf(out, size, "%.*s@%" PRId64 "..latest",
                         (int)brook_buf_len(b), (const char *)brook_buf_data(b),
                         ts);
        else
                snprintf(out, size, "%.*s@%" PRId64 "..%" PRId64,
                         (int)brook_buf_len(b), (const char *)brook_buf_data(b),
                         ts, to);
        brook_buf_destroy(b);
}

static void expect(vst_t s, bool query, const char *k, int64_t as_of,
                   const char *want)
{
        char got[256];
        vget(s, query, k, as_of, got, sizeof got);
        if (strcmp(got, want))
                fail_msg("%s as of %" PRId64 "%s: got \"%s\", want \"%s\"", k,
                         as_of, query ? " (query)" : "", got, want);
}

static void flush_write(fixture_t *f, vst_t s, int64_t offset)
{
        char errstr[512] = "";
        assert_int_equal(s.ops->flush(s.self, offset, errstr, sizeof errstr),
                         BROOK_OK);
        if (brook__statebatch_write(f->batch, errstr, sizeof errstr))
                fail_msg("batch write: %s", errstr);
}

/* RocksDB: data, stream time and changelog offset are durable together;
 * what was not committed is gone; queries see what is committed. */
static void test_reopen(void **state)
{
        fixture_t *f = *state;
        vst_t s;

        db_open(f);
        s = vst_open(f, "vs", RETENTION, INTERVAL);
        assert_int_equal(s.ops->stored_offset(s.self), -1);
        assert_int_equal(vput(s, "k", 100, "a"), BROOK_VERSIONED_LATEST);
        assert_int_equal(vput(s, "k", 300, "b"), BROOK_VERSIONED_LATEST);
        assert_int_equal(vput(s, "k", 200, "c"), 300);
        /* Not committed: the owner sees it, a query does not. */
        expect(s, false, "k", 250, "c@200..300");
        expect(s, true, "k", 250, "none");
        expect(s, true, "k", INT64_MAX, "none");
        flush_write(f, s, 7);
        expect(s, true, "k", 250, "c@200..300");
        expect(s, true, "k", INT64_MAX, "b@300..latest");
        assert_int_equal(vput(s, "k", 5000, "lost"), BROOK_VERSIONED_LATEST);
        assert_int_equal(brook__versioned_observed(s.self), 5000);
        s.ops->close(s.self);
        db_close(f);

        db_open(f);
        s = vst_open(f, "vs", RETENTION, INTERVAL);
        assert_int_equal(s.ops->stored_offset(s.self), 7);
        assert_int_equal(brook__versioned_observed(s.self), 300);
        expect(s, false, "k", INT64_MAX, "b@300..latest");
        expect(s, false, "k", 150, "a@100..200");
        expect(s, false, "k", 299, "c@200..300");
        /* Stream time 2250: segments below 12 go, with a@100..200 and
         * c@200..300; b moves to segment 22. */
        assert_int_equal(vput(s, "k", 2250, "d"), BROOK_VERSIONED_LATEST);
        flush_write(f, s, 9);
        s.ops->close(s.self);
        db_close(f);

        db_open(f);
        s = vst_open(f, "vs", RETENTION, INTERVAL);
        assert_int_equal(brook__versioned_observed(s.self), 2250);
        assert_int_equal(vput(s, "k", 1249, "old"), BROOK_VERSIONED_NOT_PUT);
        expect(s, false, "k", 1250, "b@300..2250");
        expect(s, false, "k", 1249, "none");
        expect(s, true, "k", 2000, "b@300..2250");
        s.ops->close(s.self);
        db_close(f);
}

/* A random workload's puts, and the answers of a grid of reads. */
typedef struct logrec {
        char key[8];
        char value[16];
        bool tombstone;
        int64_t ts;
} logrec_t;

static uint64_t rnd(uint64_t *s)
{
        uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

/* The next random put: time mostly forward by up to 60 ms, 30% back by
 * up to 1.5 s, 10% repeating; 4 keys; 15% tombstones. */
static void gen_put(uint64_t *seed, int64_t *now, logrec_t *r)
{
        uint64_t x = rnd(seed) % 100;
        if (x < 30) {
                r->ts = *now - (int64_t)(rnd(seed) % 1500);
                if (r->ts < 0)
                        r->ts = 0;
        } else if (x < 40) {
                r->ts = *now;
        } else {
                r->ts = *now += (int64_t)(rnd(seed) % 60);
        }
        snprintf(r->key, sizeof r->key, "k%d", (int)(rnd(seed) % 4));
        r->tombstone = rnd(seed) % 100 < 15;
        snprintf(r->value, sizeof r->value, "v%d", (int)(rnd(seed) % 1000));
}

/* ----------------------------------------------------------- the model
 *
 * Every version ever put, per key; the rules on top: a put older than
 * stream time - retention is not made; a read older than that sees only
 * the latest version; else the version with the largest timestamp at or
 * before the read's time, none if it is a tombstone. */

#define MODEL_MAX 4096

typedef struct model {
        logrec_t v[MODEL_MAX];
        size_t n;
        int64_t observed, retention;
} model_t;

/* The version of @p key with the largest timestamp below @p below
 * (INT64_MAX: the latest), or NULL. */
static logrec_t *model_before(model_t *m, const char *key, int64_t below)
{
        logrec_t *best = NULL;
        size_t i;
        for (i = 0; i < m->n; i++)
                if (!strcmp(m->v[i].key, key) && m->v[i].ts < below &&
                    (!best || m->v[i].ts > best->ts))
                        best = &m->v[i];
        return best;
}

static int64_t model_put(model_t *m, const logrec_t *r)
{
        int64_t next = BROOK_VERSIONED_LATEST;
        logrec_t *latest;
        size_t i;
        if (r->ts < m->observed - m->retention)
                return BROOK_VERSIONED_NOT_PUT;
        if (r->ts > m->observed)
                m->observed = r->ts;
        /* Kafka Streams: a tombstone at the latest value's own timestamp
         * deletes the latest value and records nothing (a tombstone is
         * never a latest value); the version before keeps the end it had:
         * the value's timestamp if it was a value (moved to history when
         * the value came), none if it was a tombstone or there was none.
         * So only in the first case is the value replaced by a tombstone;
         * in the others it is gone, as if never put. */
        latest = model_before(m, r->key, INT64_MAX);
        if (r->tombstone && latest && latest->ts == r->ts &&
            !latest->tombstone) {
                logrec_t *prev = model_before(m, r->key, r->ts);
                if (!prev || prev->tombstone) {
                        *latest = m->v[--m->n];
                        return next;
                }
        }
        for (i = 0; i < m->n; i++) {
                if (strcmp(m->v[i].key, r->key))
                        continue;
                if (m->v[i].ts == r->ts) {
                        m->v[i] = *r;
                        r = NULL;
                        break;
                }
        }
        if (r) {
                assert_true(m->n < MODEL_MAX);
                m->v[m->n++] = *r;
        }
        return next; /* The caller computes validTo (model_next()). */
}

/* The timestamp of the first version of @p key after @p ts, or -1. */
static int64_t model_next(const model_t *m, const char *key, int64_t ts)
{
        int64_t next = -1;
        size_t i;
        for (i = 0; i < m->n; i++)
                if (!strcmp(m->v[i].key, key) && m->v[i].ts > ts &&
                    (next < 0 || m->v[i].ts < next))
                        next = m->v[i].ts;
        return next;
}

static void model_get(const model_t *m, const char *key, int64_t as_of,
                      char *out, size_t size)
{
        const logrec_t *best = NULL, *latest = NULL;
        size_t i;
        for (i = 0; i < m->n; i++) {
                const logrec_t *v = &m->v[i];
                if (strcmp(v->key, key))
                        continue;
                if (!latest || v->ts > latest->ts)
                        latest = v;
                if (v->ts <= as_of && (!best || v->ts > best->ts))
                        best = v;
        }
        if (as_of < m->observed - m->retention)
                best = latest && latest->ts <= as_of ? latest : NULL;
        if (!best || best->tombstone) {
                snprintf(out, size, "none");
                return;
        }
        if (best == latest)
                snprintf(out, size, "%s@%" PRId64 "..latest", best->value,
                         best->ts);
        else
                snprintf(out, size, "%s@%" PRId64 "..%" PRId64, best->value,
                         best->ts, model_next(m, key, best->ts));
}

/* Every key's answers at every 7th ms around the history kept, and the
 * latest, compared with @p other's (NULL: with the model's). */
static void compare(vst_t s, vst_t *other, const model_t *m, int64_t observed,
                    const char *what, size_t step)
{
        char got[256], want[256], key[8];
        int64_t t;
        int k;

        assert_int_equal(brook__versioned_observed(s.self), observed);
        for (k = 0; k < 4; k++) {
                snprintf(key, sizeof key, "k%d", k);
                for (t = observed - 2 * RETENTION; t <= observed + 10; t += 7) {
                        int64_t as_of = t < 0 ? 0 : t;
                        vget(s, false, key, as_of, got, sizeof got);
                        if (other)
                                vget(*other, false, key, as_of, want,
                                     sizeof want);
                        else
                                model_get(m, key, as_of, want, sizeof want);
                        if (strcmp(got, want))
                                fail_msg("%s, step %zu: %s as of %" PRId64
                                         ": got \"%s\", want \"%s\"",
                                         what, step, key, as_of, got, want);
                }
                vget(s, false, key, INT64_MAX, got, sizeof got);
                if (other)
                        vget(*other, false, key, INT64_MAX, want, sizeof want);
                else
                        model_get(m, key, INT64_MAX, want, sizeof want);
                if (strcmp(got, want))
                        fail_msg("%s, step %zu: %s latest: got \"%s\", want "
                                 "\"%s\"",
                                 what, step, key, got, want);
        }
}

/* Random workloads against the model: puts' validTo and every answer. */
static void model_run(fixture_t *f, uint64_t seed, int64_t interval)
{
        static model_t m;
        vst_t s;
        int64_t now = 0;
        size_t i;
        char what[64], name[32];

        memset(&m, 0, sizeof m);
        m.observed = -1;
        m.retention = RETENTION;
        snprintf(what, sizeof what, "seed %" PRIu64 ", interval %" PRId64, seed,
                 interval);
        snprintf(name, sizeof name, "m%" PRIu64 "_%" PRId64, seed, interval);
        s = vst_open(f, name, RETENTION, interval);
        for (i = 0; i < 600; i++) {
                logrec_t r;
                int64_t got, want;
                gen_put(&seed, &now, &r);
                want = model_put(&m, &r);
                if (want != BROOK_VERSIONED_NOT_PUT)
                        want = model_next(&m, r.key, r.ts);
                got = vput(s, r.key, r.ts, r.tombstone ? NULL : r.value);
                if (got != want)
                        fail_msg("%s, put %zu (%s@%" PRId64
                                 "): validTo %" PRId64 ", want %" PRId64,
                                 what, i, r.key, r.ts, got, want);
                if (i % 20 == 19)
                        compare(s, NULL, &m, m.observed, what, i);
                if (f && i % 50 == 49)
                        flush_write(f, s, (int64_t)i);
        }
        s.ops->close(s.self);
}

static void test_model_memory(void **state)
{
        (void)state;
        for (uint64_t seed = 1; seed <= 6; seed++) {
                model_run(NULL, seed, INTERVAL);
                model_run(NULL, seed, 7);
                model_run(NULL, seed, 2000);
        }
}

static void test_model_rocksdb(void **state)
{
        fixture_t *f = *state;
        db_open(f);
        model_run(f, 11, INTERVAL);
        model_run(f, 12, 33);
        db_close(f);
}

/*
 * A changelog replayed into a fresh store, in restore batches (RocksDB's
 * bulk mode: a batch's writes are not read back before it is written),
 * gives the store the writer had: the same answers, the same stream time.
 */
static void replay_run(fixture_t *f, uint64_t seed, size_t batch)
{
        static logrec_t log[800];
        vst_t w, r;
        int64_t now = 0;
        size_t i, n = 0, j;
        char errstr[512] = "", name[32];

        snprintf(name, sizeof name, "w%" PRIu64, seed);
        w = vst_open(f, name, RETENTION, INTERVAL);
        for (i = 0; i < 800; i++) {
                logrec_t rec;
                gen_put(&seed, &now, &rec);
                /* What the façade logs: the puts made. */
                if (vput(w, rec.key, rec.ts,
                         rec.tombstone ? NULL : rec.value) !=
                    BROOK_VERSIONED_NOT_PUT)
                        log[n++] = rec;
        }
        if (f)
                flush_write(f, w, (int64_t)n);
        snprintf(name, sizeof name, "r%" PRIu64, seed);
        r = vst_open(f, name, RETENTION, INTERVAL);
        for (i = 0; i < n; i += batch) {
                if (f)
                        brook__statebatch_set_bulk(f->batch, true);
                for (j = i; j < n && j < i + batch; j++)
                        assert_int_equal(
                                brook__versioned_restore(
                                        r.self, log[j].key, strlen(log[j].key),
                                        log[j].tombstone ? NULL : log[j].value,
                                        strlen(log[j].value), log[j].ts, errstr,
                                        sizeof errstr),
                                BROOK_OK);
                assert_int_equal(
                        r.ops->flush(r.self, (int64_t)j, errstr, sizeof errstr),
                        BROOK_OK);
                if (f) {
                        assert_int_equal(
                                brook__statebatch_write_bulk(f->batch, errstr,
                                                             sizeof errstr),
                                BROOK_OK);
                        brook__statebatch_set_bulk(f->batch, false);
                }
        }
        compare(r, &w, NULL, brook__versioned_observed(w.self), "replay", n);
        r.ops->close(r.self);
        w.ops->close(w.self);
}

static void test_replay_memory(void **state)
{
        (void)state;
        replay_run(NULL, 21, 1);
        replay_run(NULL, 22, 13);
        replay_run(NULL, 23, 1000);
}

static void test_replay_rocksdb(void **state)
{
        fixture_t *f = *state;
        db_open(f);
        replay_run(f, 31, 1);
        replay_run(f, 32, 13);
        replay_run(f, 33, 1000);
        db_close(f);
}

int main(void)
{
        static const params_t rdb = {0}, mem = {.in_memory = true},
                              v1 = {.v1 = true}, eos_rdb = {.eos = true},
                              eos_mem = {.eos = true, .in_memory = true};
#define ALL3(fn)                                                               \
        cmocka_unit_test_prestate(fn, (void *)&rdb),                           \
                cmocka_unit_test_prestate(fn, (void *)&mem),                   \
                cmocka_unit_test_prestate(fn, (void *)&v1)
        const struct CMUnitTest tests[] = {
                ALL3(test_versions),
                ALL3(test_tombstones),
                ALL3(test_retention),
                ALL3(test_bounded),
                ALL3(test_changelog),
                cmocka_unit_test_prestate(test_restore_after_abort,
                                          (void *)&eos_rdb),
                cmocka_unit_test_prestate(test_restore_after_abort,
                                          (void *)&eos_mem),
                cmocka_unit_test(test_declare),
                cmocka_unit_test(test_query_kinds),
                cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
                cmocka_unit_test(test_model_memory),
                cmocka_unit_test_setup_teardown(test_model_rocksdb, setup,
                                                teardown),
                cmocka_unit_test(test_replay_memory),
                cmocka_unit_test_setup_teardown(test_replay_rocksdb, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
