/*
 * Window and session stores through the whole stack — metered façade,
 * caching, changelog, segmented inner store over RocksDB and in-memory
 * stores — as processors use them, and the segmented store's durability
 * (its changelog offset, observed stream time and dropped segments across
 * a reopen) on RocksDB directly.
 *
 * A processor reads commands from its input values and forwards what each
 * returned as one string ("k@start-end=v,..."), so answers are exact.
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

#include <cmocka.h>

#include "store_int.h"

#define OUT_MAX 2048

static char *drain(const brook_record_t *rec, brook_windowiter_t *it)
{
        char *out = brook_record_alloc(rec, OUT_MAX);
        brook_window_t w;
        void *k, *v;
        char why[256];
        size_t n = 0;
        brook_err_t err;

        out[0] = '\0';
        while (!(err = brook_windowiter_next(it, &k, &w, &v, why, sizeof why)))
                n += (size_t)snprintf(out + n, OUT_MAX - n,
                                      "%s@%" PRId64 "-%" PRId64 "=%s,",
                                      (char *)k, w.start, w.end, (char *)v);
        if (err != BROOK_ERR_END)
                fail_msg("iterator: %s", why);
        brook_windowiter_destroy(it);
        return out;
}

/* "a:b:c" -> fields; returns how many. */
static int fields(char *s, char **f, int max)
{
        int n = 0;
        while (n < max) {
                f[n++] = s;
                s = strchr(s, ':');
                if (!s)
                        break;
                *s++ = '\0';
        }
        return n;
}

static int64_t num(const char *s)
{
        return *s ? strtoll(s, NULL, 10) : INT64_MAX;
}

static brook_err_t ops_process(brook_ctx_t *ctx, brook_record_t *rec,
                               void *state, char *errstr, size_t errstr_size)
{
        brook_windowstore_t *ws = NULL;
        brook_sessionstore_t *ss = NULL;
        brook_kvstore_t *kv = (brook_kvstore_t *)1;
        const char *value = brook_record_value(rec);
        char *cmd = brook_record_alloc(rec, strlen(value) + 1);
        char *key = brook_record_key(rec);
        char *out = brook_record_alloc(rec, OUT_MAX);
        brook_windowiter_t *it = NULL;
        char why[256] = "";
        char *f[6];
        void *val = NULL;
        brook_err_t err = BROOK_OK;
        int n;

        (void)state;
        strcpy(cmd, value);
        n = fields(cmd, f, 6);
        assert_int_equal(brook_ctx_windowstore(ctx, "ws", &ws, NULL, 0),
                         BROOK_OK);
        assert_int_equal(brook_ctx_sessionstore(ctx, "ss", &ss, NULL, 0),
                         BROOK_OK);
        /* The wrong kind is refused with the reason. */
        assert_int_equal(brook_ctx_kvstore(ctx, "ws", &kv, why, sizeof why),
                         BROOK_ERR_INVALID_ARG);
        assert_null(kv);
        assert_string_equal(why, "processor \"ops\": store \"ws\" is a window "
                                 "store, not a key-value store");
        out[0] = '\0';
        if (!strcmp(f[0], "put")) { /* put:start:value */
                err = brook_windowstore_put(ws, key, n > 2 ? f[2] : NULL,
                                            num(f[1]), why, sizeof why);
                snprintf(out, OUT_MAX, "%s", brook_err2str(err));
        } else if (!strcmp(f[0], "get")) { /* get:start */
                err = brook_windowstore_fetch(ws, key, num(f[1]), &val, why,
                                              sizeof why);
                snprintf(out, OUT_MAX, "%s %s", brook_err2str(err),
                         val ? (char *)val : "(null)");
        } else if (!strcmp(f[0], "range")) { /* range:from:to[:b] */
                err = brook_windowstore_fetch_range(ws, key, num(f[1]),
                                                    num(f[2]), n > 3, &it, why,
                                                    sizeof why);
                if (!err)
                        out = drain(rec, it);
        } else if (!strcmp(f[0], "keys")) { /* keys:kfrom:kto:from:to[:b] */
                err = brook_windowstore_fetch_keys(
                        ws, *f[1] ? f[1] : NULL, *f[2] ? f[2] : NULL, num(f[3]),
                        num(f[4]), n > 5, &it, why, sizeof why);
                if (!err)
                        out = drain(rec, it);
        } else if (!strcmp(f[0], "all")) { /* all:from:to[:b] */
                err = brook_windowstore_fetch_all(ws, num(f[1]), num(f[2]),
                                                  n > 3, &it, why, sizeof why);
                if (!err)
                        out = drain(rec, it);
        } else if (!strcmp(f[0], "expired")) {
                snprintf(out, OUT_MAX, "%" PRIu64,
                         brook_windowstore_expired(ws));
        } else if (!strcmp(f[0], "sput")) { /* sput:start:end[:value] */
                err = brook_sessionstore_put(ss, key, num(f[1]), num(f[2]),
                                             n > 3 ? f[3] : NULL, why,
                                             sizeof why);
                snprintf(out, OUT_MAX, "%s", brook_err2str(err));
        } else if (!strcmp(f[0], "sget")) { /* sget:start:end */
                err = brook_sessionstore_fetch_session(
                        ss, key, num(f[1]), num(f[2]), &val, why, sizeof why);
                snprintf(out, OUT_MAX, "%s %s", brook_err2str(err),
                         val ? (char *)val : "(null)");
        } else if (!strcmp(f[0], "find") || !strcmp(f[0], "findall")) {
                /* find:earliest_end:latest_start[:b] */
                err = brook_sessionstore_find_sessions(
                        ss, f[0][4] ? NULL : key, num(f[1]), num(f[2]), n > 3,
                        &it, why, sizeof why);
                if (!err)
                        out = drain(rec, it);
        } else {
                fail_msg("unknown command %s", f[0]);
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
        bool caching;
        /** A user's store of version 1: no range_reverse, no delete_range,
         *  so backward fetches and segment drops take brook's fallbacks. */
        bool v1;
        /** The in-memory store, its reads and writes counted. */
        bool counting;
} params_t;

/* ------------------------------------------ an inner store that counts */

static brook_kvstore_ops_t counting_ops;
static const brook_kvstore_ops_t *counted;
static int inner_gets, inner_ranges, inner_puts;

static brook_err_t counting_get(void *self, const void *key, size_t key_size,
                                brook_buf_t *out, char *errstr,
                                size_t errstr_size)
{
        inner_gets++;
        return counted->get(self, key, key_size, out, errstr, errstr_size);
}

static brook_err_t counting_range(void *self, const void *from,
                                  size_t from_size, const void *to,
                                  size_t to_size, brook_kvbytes_iter_t **itp,
                                  char *errstr, size_t errstr_size)
{
        inner_ranges++;
        return counted->range(self, from, from_size, to, to_size, itp, errstr,
                              errstr_size);
}

static brook_err_t counting_put(void *self, const void *key, size_t key_size,
                                const void *value, size_t value_size,
                                char *errstr, size_t errstr_size)
{
        inner_puts++;
        return counted->put(self, key, key_size, value, value_size, errstr,
                            errstr_size);
}

static brook_err_t counting_open(const brook_kvstore_open_t *info, void *opaque,
                                 void **selfp, const brook_kvstore_ops_t **opsp,
                                 char *errstr, size_t errstr_size)
{
        brook_err_t err = brook_kvstore_in_memory()->open(
                info, NULL, selfp, &counted, errstr, errstr_size);
        (void)opaque;
        if (err)
                return err;
        counting_ops = *counted;
        counting_ops.get = counting_get;
        counting_ops.range = counting_range;
        counting_ops.put = counting_put;
        *opsp = &counting_ops;
        return BROOK_OK;
}

static const brook_kvstore_supplier_t counting_supplier = {
        .open = counting_open};

static void counts_reset(void)
{
        inner_gets = inner_ranges = inner_puts = 0;
}

#define assert_counts(gets, ranges, puts)                                      \
        do {                                                                   \
                assert_int_equal(inner_gets, gets);                            \
                assert_int_equal(inner_ranges, ranges);                        \
                assert_int_equal(inner_puts, puts);                            \
        } while (0)

static brook_kvstore_ops_t v1_ops;

static brook_err_t v1_open(const brook_kvstore_open_t *info, void *opaque,
                           void **selfp, const brook_kvstore_ops_t **opsp,
                           char *errstr, size_t errstr_size)
{
        const brook_kvstore_ops_t *mem;
        brook_err_t err = brook_kvstore_in_memory()->open(
                info, NULL, selfp, &mem, errstr, errstr_size);
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
                .key_serde = str,
                .value_serde = str,
                .supplier = p->v1          ? &v1_supplier
                            : p->counting  ? &counting_supplier
                            : p->in_memory ? brook_kvstore_in_memory()
                                           : NULL,
                .caching_disabled = !p->caching,
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
        /* Windows of 100 ms kept 10 s, in 1 s segments. */
        m.name = "ws";
        assert_int_equal(
                brook_builder_add_window_store(
                        b, &m,
                        &(brook_window_store_opts_t){.retention_ms = 10000,
                                                     .window_size_ms = 100,
                                                     .segment_ms = 1000},
                        (const char *[]){"ops"}, 1, errstr, sizeof errstr),
                BROOK_OK);
        m.name = "ss";
        assert_int_equal(
                brook_builder_add_session_store(
                        b, &m,
                        &(brook_window_store_opts_t){.retention_ms = 10000,
                                                     .segment_ms = 1000},
                        (const char *[]){"ops"}, 1, errstr, sizeof errstr),
                BROOK_OK);
        assert_int_equal(
                brook_builder_add_sink(b, "sink", "out", NULL, NULL,
                                       &(brook_produced_t){.key_serde = str,
                                                           .value_serde = str},
                                       (const char *[]){"ops"}, 1, errstr,
                                       sizeof errstr),
                BROOK_OK);
        assert_int_equal(brook_conf_set(conf, "application.id", "win", errstr,
                                        sizeof errstr),
                         BROOK_OK);
        td = brook_test_driver_new(b, conf, 0, errstr, sizeof errstr);
        if (!td)
                fail_msg("%s", errstr);
        brook_test_driver_set_auto_commit(td, false);
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

static void test_window_fetches(void **state)
{
        const params_t *p = *state;
        brook_test_driver_t *td = ops_driver(p);

        run(td, "b", "get:0", "Not found (null)");
        run(td, "b", "put:0:b0", "Success");
        run(td, "b", "put:100:b1", "Success");
        run(td, "a", "put:100:a1", "Success");
        run(td, "a", "put:1500:a15", "Success"); /* the next segment */
        run(td, "ab", "put:100:ab1", "Success");
        run(td, "c", "put:200:c2", "Success");
        run(td, "b", "get:100", "Success b1");
        run(td, "b", "get:50", "Not found (null)");
        /* Cached or not, fetches see every write. */
        run(td, "b", "range:0:100", "b@0-100=b0,b@100-200=b1,");
        run(td, "b", "range:0:100:b", "b@100-200=b1,b@0-100=b0,");
        run(td, "b", "range:1:100", "b@100-200=b1,");
        run(td, "a", "range:0:", "a@100-200=a1,a@1500-1600=a15,");
        run(td, "a", "range:0::b", "a@1500-1600=a15,a@100-200=a1,");
        /* A key that is a prefix of another is not mixed up with it. */
        run(td, "a", "range:0:999", "a@100-200=a1,");
        run(td, "x", "keys:a:b:0:999",
            "a@100-200=a1,ab@100-200=ab1,b@0-100=b0,b@100-200=b1,");
        commit(td);
        run(td, "x", "all:0:",
            "a@100-200=a1,ab@100-200=ab1,b@0-100=b0,b@100-200=b1,"
            "c@200-300=c2,a@1500-1600=a15,");
        run(td, "x", "all:0::b",
            "a@1500-1600=a15,c@200-300=c2,b@100-200=b1,b@0-100=b0,"
            "ab@100-200=ab1,a@100-200=a1,");
        run(td, "x", "all:100:100",
            "a@100-200=a1,ab@100-200=ab1,b@100-200=b1,");
        /* Deletes. */
        run(td, "b", "put:100", "Success");
        run(td, "b", "get:100", "Not found (null)");
        run(td, "b", "range:0:", "b@0-100=b0,");
        commit(td);
        run(td, "b", "range:0:", "b@0-100=b0,");
        brook_test_driver_destroy(td);
}

static void test_window_keys_range_bounds(void **state)
{
        const params_t *p = *state;
        brook_test_driver_t *td = ops_driver(p);

        run(td, "ab", "put:100:ab1", "Success");
        run(td, "b", "put:100:b1", "Success");
        run(td, "c", "put:200:c2", "Success");
        /* keys [ab, +inf) at time 100 only: c's window starts at 200. */
        run(td, "x", "keys:ab::100:100", "ab@100-200=ab1,b@100-200=b1,");
        run(td, "x", "keys::b:0:", "ab@100-200=ab1,b@100-200=b1,");
        run(td, "x", "keys:b:b:0::b", "b@100-200=b1,");
        brook_test_driver_destroy(td);
}

/* Retention 10 s, segments of 1 s: once the store's stream time reaches
 * 12000, segments 0 and 1 (windows starting before 2000) are gone, a put
 * into them is ignored and counted, and reads stop at stream time -
 * retention + 1 even inside a live segment. */
static void test_window_retention(void **state)
{
        const params_t *p = *state;
        brook_test_driver_t *td = ops_driver(p);

        run(td, "k", "put:0:w0", "Success");
        run(td, "k", "put:1500:w15", "Success");
        run(td, "k", "put:2000:w20", "Success");
        run(td, "k", "put:2500:w25", "Success");
        commit(td);
        run(td, "k", "put:12000:w120", "Success");
        commit(td);
        run(td, "k", "get:0", "Not found (null)");
        run(td, "k", "get:1500", "Not found (null)");
        /* Segment 2 lives, but 2000 < 12000 - 10000 + 1. */
        run(td, "k", "get:2000", "Not found (null)");
        run(td, "k", "get:2500", "Success w25");
        run(td, "k", "range:0:", "k@2500-2600=w25,k@12000-12100=w120,");
        run(td, "x", "all:0:", "k@2500-2600=w25,k@12000-12100=w120,");
        run(td, "x", "expired", "0");
        run(td, "k", "put:500:late", "Success");
        commit(td);
        run(td, "x", "expired", "1");
        assert_int_equal(
                brook_test_driver_records_dropped(td, BROOK_DROP_EXPIRED), 1);
        run(td, "k", "range:0:", "k@2500-2600=w25,k@12000-12100=w120,");
        /* A window just inside the first live segment is still taken. */
        run(td, "k", "put:2100:w21", "Success");
        commit(td);
        run(td, "x", "expired", "1");
        assert_int_equal(
                brook_test_driver_records_dropped(td, BROOK_DROP_EXPIRED), 1);
        run(td, "k", "get:2100", "Success w21");
        brook_test_driver_destroy(td);
}

/* Writes into a segment that expires before the commit are dropped with
 * it, not resurrected by the commit (RocksDB writes its range delete after
 * the batch). */
static void test_window_expiry_within_commit(void **state)
{
        const params_t *p = *state;
        brook_test_driver_t *td = ops_driver(p);

        run(td, "k", "put:500:w5", "Success");
        run(td, "k", "put:20000:w200", "Success");
        commit(td);
        run(td, "x", "all:0:", "k@20000-20100=w200,");
        run(td, "k", "put:25000:w250", "Success");
        commit(td);
        run(td, "x", "all:0:", "k@20000-20100=w200,k@25000-25100=w250,");
        brook_test_driver_destroy(td);
}

static void test_window_changelog(void **state)
{
        const params_t *p = *state;
        brook_test_driver_t *td = ops_driver(p);
        brook_test_record_t r;
        static const unsigned char want_key[] = {'k',  0,    0, 0, 0, 0, 0,
                                                 0x01, 0x2c, 0, 0, 0, 0};
        static const unsigned char want_skey[] = {
                'k', 0, 0, 0, 0, 0, 0, 0x01, 0x90, /* end 400 */
                0,   0, 0, 0, 0, 0, 0, 0x64};      /* start 100 */

        run(td, "k", "put:300:v", "Success");
        run(td, "k", "sput:100:400:s", "Success");
        commit(td);
        /* Kafka Streams' bytes: key, start (8 BE), seqnum (4 BE). */
        assert_true(brook_test_driver_read(td, "win-ws-changelog", &r));
        assert_int_equal(r.key_size, sizeof want_key);
        assert_memory_equal(r.key, want_key, sizeof want_key);
        assert_int_equal(r.value_size, 1);
        assert_memory_equal(r.value, "v", 1);
        assert_false(brook_test_driver_read(td, "win-ws-changelog", &r));
        /* Sessions: key, end, start. */
        assert_true(brook_test_driver_read(td, "win-ss-changelog", &r));
        assert_int_equal(r.key_size, sizeof want_skey);
        assert_memory_equal(r.key, want_skey, sizeof want_skey);
        assert_false(brook_test_driver_read(td, "win-ss-changelog", &r));
        brook_test_driver_destroy(td);
}

static void test_sessions(void **state)
{
        const params_t *p = *state;
        brook_test_driver_t *td = ops_driver(p);

        run(td, "k", "sput:0:100:s1", "Success");
        run(td, "k", "sput:200:300:s2", "Success");
        run(td, "k", "sput:1500:1700:s3", "Success"); /* next segment */
        run(td, "j", "sput:50:250:j1", "Success");
        run(td, "kk", "sput:0:0:kk", "Success");
        run(td, "k", "sget:200:300", "Success s2");
        run(td, "k", "sget:200:301", "Not found (null)");
        run(td, "k", "sput:5:1:bad",
            "Invalid argument: store \"ss\": session: a session needs 0 <= "
            "start <= end");
        /* Sessions ending at or after 100 that started by 200. */
        run(td, "k", "find:100:200", "k@0-100=s1,k@200-300=s2,");
        run(td, "k", "find:101:200", "k@200-300=s2,");
        run(td, "k", "find:101:199", "");
        run(td, "k", "find:0:", "k@0-100=s1,k@200-300=s2,k@1500-1700=s3,");
        run(td, "k", "find:0::b", "k@1500-1700=s3,k@200-300=s2,k@0-100=s1,");
        /* A session ending in a later segment that started in time. */
        run(td, "k", "find:1600:1500", "k@1500-1700=s3,");
        run(td, "x", "findall:100:200", "j@50-250=j1,k@0-100=s1,k@200-300=s2,");
        commit(td);
        run(td, "k", "sput:0:100", "Success"); /* remove */
        run(td, "k", "find:0:", "k@200-300=s2,k@1500-1700=s3,");
        run(td, "kk", "find:0:", "kk@0-0=kk,");
        brook_test_driver_destroy(td);
}

/* --------------------------------------- the segmented store on RocksDB */

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
        return remove(path);
}

static int setup(void **state)
{
        fixture_t *f = calloc(1, sizeof *f);
        strcpy(f->tmp, "/tmp/brook-win-XXXXXX");
        if (!mkdtemp(f->tmp))
                return -1;
        snprintf(f->dir, sizeof f->dir, "%s/app/rocksdb", f->tmp);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture_t *f = *state;
        nftw(f->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(f);
        return 0;
}

typedef struct segs {
        void *self;
        const brook_kvstore_ops_t *ops;
        /** The RocksDB store under the segmented one. */
        void *base;
        const brook_kvstore_ops_t *base_ops;
} segs_t;

static segs_t segs_open(fixture_t *f)
{
        brook__storedef_t def = {.kind = BROOK__STORE_WINDOW,
                                 .retention_ms = 10000,
                                 .segment_ms = 1000,
                                 .window_ms = 100};
        brook_kvstore_open_t info = {.store = "ws",
                                     .task_id = "0_0",
                                     .app_id = "app",
                                     .state_dir = f->tmp,
                                     .internal = &f->env};
        char errstr[512] = "";
        segs_t s;

        if (brook__statedb_open(f->dir, 16 << 20, &f->db, errstr,
                                sizeof errstr))
                fail_msg("open: %s", errstr);
        f->batch = brook__statebatch_new(f->db);
        f->env.db = f->db;
        f->env.batch = f->batch;
        if (brook_kvstore_rocksdb()->open(&info, NULL, &s.self, &s.ops, errstr,
                                          sizeof errstr))
                fail_msg("store: %s", errstr);
        s.base = s.self;
        s.base_ops = s.ops;
        if (brook__segmented_wrap(&def, &s.self, &s.ops, errstr, sizeof errstr))
                fail_msg("store: %s", errstr);
        return s;
}

/* The segments RocksDB holds keys of (what reads filter aside), as
 * "seg,seg,". */
static void expect_raw_segments(segs_t s, const char *want)
{
        brook_kvbytes_iter_t *it;
        const void *k, *v;
        size_t ksz, vsz, len = 0;
        int64_t last = -1;
        char got[256] = "";
        brook_err_t err;

        assert_int_equal(
                s.base_ops->range(s.base, NULL, 0, NULL, 0, &it, NULL, 0),
                BROOK_OK);
        while (!(err = it->next(it, &k, &ksz, &v, &vsz, NULL, 0))) {
                int64_t seg;
                /* Not the observed time's key (0xff...). */
                if (ksz < 8 || ((const unsigned char *)k)[0] >= 0x80)
                        continue;
                seg = (int64_t)brook__be_get(k, 8);
                if (seg != last)
                        len += (size_t)snprintf(got + len, sizeof got - len,
                                                "%" PRId64 ",", seg);
                last = seg;
        }
        assert_int_equal(err, BROOK_ERR_END);
        it->destroy(it);
        assert_string_equal(got, want);
}

static void segs_close(fixture_t *f, segs_t s)
{
        s.ops->close(s.self);
        brook__statebatch_destroy(f->batch);
        brook__statedb_close(f->db);
}

static void wput(segs_t s, const char *k, int64_t start, const char *v)
{
        brook_buf_t *b = brook_buf_new();
        brook__wkey_encode(b, k, strlen(k), start, 0);
        assert_int_equal(s.ops->put(s.self, brook_buf_data(b), brook_buf_len(b),
                                    v, v ? strlen(v) : 0, NULL, 0),
                         BROOK_OK);
        brook_buf_destroy(b);
}

/* Every entry of @p s as "k@start=v,". */
static void expect_all(segs_t s, const char *want)
{
        brook__segfetch_t fe = {.tfrom = 0, .tto = INT64_MAX};
        brook_kvbytes_iter_t *it;
        const void *k, *v;
        size_t ksz, vsz, n, len = 0;
        int64_t start, end;
        char got[1024] = "";
        brook_err_t err;

        assert_int_equal(brook__segmented_fetch(s.self, &fe, &it, NULL, 0),
                         BROOK_OK);
        while (!(err = it->next(it, &k, &ksz, &v, &vsz, NULL, 0))) {
                assert_true(brook__segkey_decode(BROOK__STORE_WINDOW, k, ksz,
                                                 &n, &start, &end));
                len += (size_t)snprintf(got + len, sizeof got - len,
                                        "%.*s@%" PRId64 "=%.*s,", (int)n,
                                        (const char *)k, start, (int)vsz,
                                        (const char *)v);
        }
        assert_int_equal(err, BROOK_ERR_END);
        it->destroy(it);
        assert_string_equal(got, want);
}

static void test_segmented_reopen(void **state)
{
        fixture_t *f = *state;
        char errstr[512];
        segs_t s = segs_open(f);

        assert_int_equal(s.ops->stored_offset(s.self), -1);
        wput(s, "a", 100, "1");
        wput(s, "b", 1100, "2");
        wput(s, "a", 5000, "3");
        assert_int_equal(s.ops->flush(s.self, 77, NULL, 0), BROOK_OK);
        assert_int_equal(
                brook__statebatch_write(f->batch, errstr, sizeof errstr),
                BROOK_OK);
        /* Uncommitted at the crash: lost, the offset stays 77. */
        wput(s, "c", 5100, "lost");
        segs_close(f, s);

        s = segs_open(f);
        assert_int_equal(s.ops->stored_offset(s.self), 77);
        assert_int_equal(brook__segmented_observed(s.self), 5000);
        expect_all(s, "a@100=1,b@1100=2,a@5000=3,");
        /* Stream time 11500: segment 0 (a@100) goes; segment 1 stays, but
         * reads stop at 11500 - 10000 + 1 (b@1100 is past retention). */
        wput(s, "z", 11500, "4");
        assert_int_equal(s.ops->flush(s.self, 80, NULL, 0), BROOK_OK);
        assert_int_equal(
                brook__statebatch_write(f->batch, errstr, sizeof errstr),
                BROOK_OK);
        expect_all(s, "a@5000=3,z@11500=4,");
        segs_close(f, s);

        /* The drop and the observed time were durable with the offset:
         * segment 0's keys are gone from RocksDB, not just from reads. */
        s = segs_open(f);
        expect_raw_segments(s, "1,5,11,");
        assert_int_equal(s.ops->stored_offset(s.self), 80);
        assert_int_equal(brook__segmented_observed(s.self), 11500);
        expect_all(s, "a@5000=3,z@11500=4,");
        wput(s, "y", 200, "expired");
        assert_int_equal(brook__segmented_expired(s.self), 1);
        /* Segment 1 is still live: a put there is kept, though reads do
         * not return it (it is past retention), as in Kafka Streams. */
        wput(s, "y", 1400, "kept");
        assert_int_equal(brook__segmented_expired(s.self), 1);
        expect_all(s, "a@5000=3,z@11500=4,");
        segs_close(f, s);
}

/* ---------------------------------------------- a query's chained iterator
 *
 * brook__windowiter_add_iq(): bytes iterators of several task instances
 * read one after another, each with its query handle; a handle left fails
 * the iterator only if its entries were not read to the end. */

typedef struct fake_bit {
        brook_kvbytes_iter_t it;
        brook_buf_t *ents[4][2];
        int n, pos;
        int *destroyed;
} fake_bit_t;

static brook_err_t fake_next(brook_kvbytes_iter_t *base, const void **key,
                             size_t *key_size, const void **value,
                             size_t *value_size, char *errstr,
                             size_t errstr_size)
{
        fake_bit_t *f = (fake_bit_t *)base;
        (void)errstr;
        (void)errstr_size;
        if (f->pos == f->n)
                return BROOK_ERR_END;
        *key = brook_buf_data(f->ents[f->pos][0]);
        *key_size = brook_buf_len(f->ents[f->pos][0]);
        *value = brook_buf_data(f->ents[f->pos][1]);
        *value_size = brook_buf_len(f->ents[f->pos][1]);
        f->pos++;
        return BROOK_OK;
}

static void fake_destroy(brook_kvbytes_iter_t *base)
{
        fake_bit_t *f = (fake_bit_t *)base;
        int i;
        for (i = 0; i < f->n; i++) {
                brook_buf_destroy(f->ents[i][0]);
                brook_buf_destroy(f->ents[i][1]);
        }
        (*f->destroyed)++;
        free(f);
}

/* A bytes iterator over windows of "key" starting at @p starts (ms), each
 * valued "v<start>" with timestamp start + 1. */
static brook_kvbytes_iter_t *fake_bit(const char *key, const int64_t *starts,
                                      int n, int *destroyed)
{
        fake_bit_t *f = calloc(1, sizeof *f);
        int i, b;
        f->it.next = fake_next;
        f->it.destroy = fake_destroy;
        f->destroyed = destroyed;
        for (i = 0; i < n; i++) {
                unsigned char ts[8];
                char v[32];
                uint64_t t = (uint64_t)starts[i] + 1;
                f->ents[i][0] = brook_buf_new();
                f->ents[i][1] = brook_buf_new();
                brook__wkey_encode(f->ents[i][0], key, strlen(key), starts[i],
                                   0);
                for (b = 0; b < 8; b++)
                        ts[b] = (unsigned char)(t >> (56 - 8 * b));
                brook_buf_append(f->ents[i][1], ts, sizeof ts);
                snprintf(v, sizeof v, "v%" PRId64, starts[i]);
                brook_buf_append(f->ents[i][1], v, strlen(v));
        }
        f->n = n;
        return &f->it;
}

static int fake_closed;

static void fake_close(void *self)
{
        (void)self;
        fake_closed++;
}

static brook__iqstore_t *fake_handle(const char *task_id)
{
        static const brook_kvstore_ops_t ops = {.kind = "fake",
                                                .close = fake_close};
        brook__iqstore_t *h = calloc(1, sizeof *h);
        atomic_init(&h->refs, 1);
        atomic_init(&h->left, false);
        h->store = strdup("w");
        h->task_id = strdup(task_id);
        h->ops = &ops;
        return h;
}

/* The next entries of @p it, as "k@start-end=v/tts,". */
static void expect_next(brook_windowiter_t *it, int n, const char *want)
{
        char got[256] = "", why[256];
        size_t len = 0;
        brook_window_t w;
        void *k, *v;
        int i;
        for (i = 0; i < n; i++) {
                assert_int_equal(
                        brook_windowiter_next(it, &k, &w, &v, why, sizeof why),
                        BROOK_OK);
                len += (size_t)snprintf(got + len, sizeof got - len,
                                        "%s@%" PRId64 "-%" PRId64
                                        "=%s/t%" PRId64 ",",
                                        (char *)k, w.start, w.end, (char *)v,
                                        brook_windowiter_timestamp(it));
        }
        assert_string_equal(got, want);
}

static void expect_left(brook_windowiter_t *it, const char *task_id)
{
        char why[256] = "", want[256];
        void *k, *v;
        int i;
        snprintf(want, sizeof want,
                 "store \"w\": task %s left this instance (rebalance or "
                 "shutdown) while the iterator was open",
                 task_id);
        for (i = 0; i < 2; i++) {
                assert_int_equal(brook_windowiter_next(it, &k, NULL, &v, why,
                                                       sizeof why),
                                 BROOK_ERR_STATE);
                assert_null(k);
                assert_null(v);
                assert_int_equal(brook_windowiter_timestamp(it), -1);
                assert_string_equal(why, want);
        }
}

static void test_windowiter_chain(void **state)
{
        brook__storedef_t def = {.name = "w",
                                 .kind = BROOK__STORE_WINDOW,
                                 .window_ms = 10,
                                 .timestamped = true,
                                 .key_serde = brook_serde_string(),
                                 .value_serde = brook_serde_string()};
        const int64_t s1[] = {0, 10}, s2[] = {20}, s3[] = {30, 40};
        brook_arena_t *arena = brook_arena_new();
        brook__iqstore_t *h1, *h2;
        brook_windowiter_t *it;
        int destroyed = 0;
        char why[256];
        void *k, *v;

        (void)state;
        fake_closed = 0;

        /* Nothing chained: the end at once. */
        it = brook__windowiter_new(&def, NULL, NULL, arena);
        assert_int_equal(
                brook_windowiter_next(it, &k, NULL, &v, why, sizeof why),
                BROOK_ERR_END);
        assert_int_equal(brook_windowiter_timestamp(it), -1);
        brook_windowiter_destroy(it);

        /* Three instances read in order; the first left after it was read
         * to the end does not matter, the second left before does. */
        h1 = fake_handle("0_0");
        h2 = fake_handle("0_1");
        it = brook__windowiter_new(&def, NULL, NULL, arena);
        brook__windowiter_add_iq(it, fake_bit("a", s1, 2, &destroyed), h1);
        brook__windowiter_add_iq(it, fake_bit("b", s2, 1, &destroyed), h2);
        brook__windowiter_add_iq(it, fake_bit("c", s3, 2, &destroyed), NULL);
        expect_next(it, 3, "a@0-10=v0/t1,a@10-20=v10/t11,b@20-30=v20/t21,");
        atomic_store(&h1->left, true);
        expect_next(it, 1, "c@30-40=v30/t31,");
        brook_windowiter_destroy(it);
        assert_int_equal(destroyed, 3);
        assert_int_equal(fake_closed, 2);

        h1 = fake_handle("0_0");
        h2 = fake_handle("0_1");
        it = brook__windowiter_new(&def, NULL, NULL, arena);
        brook__windowiter_add_iq(it, fake_bit("a", s1, 2, &destroyed), h1);
        brook__windowiter_add_iq(it, fake_bit("b", s2, 1, &destroyed), h2);
        expect_next(it, 1, "a@0-10=v0/t1,");
        atomic_store(&h2->left, true);
        expect_left(it, "0_1");
        brook_windowiter_destroy(it);
        assert_int_equal(destroyed, 5);
        assert_int_equal(fake_closed, 4);

        /* An owner's iterator (no handle) reads to the end. */
        it = brook__windowiter_new(&def, fake_bit("z", s2, 1, &destroyed), NULL,
                                   arena);
        expect_next(it, 1, "z@20-30=v20/t21,");
        assert_int_equal(
                brook_windowiter_next(it, &k, NULL, &v, why, sizeof why),
                BROOK_ERR_END);
        brook_windowiter_destroy(it);
        assert_int_equal(destroyed, 6);
        brook_arena_destroy(arena);
}

/*
 * Through the cache, a key's windows are read from below once: from then
 * on reads and fetches of that key are answered by the cache alone, also
 * for windows that are nowhere, and a window put and deleted between
 * commits is never written down.
 */
static void test_cached_key_reads(void **state)
{
        const params_t *p = *state;
        brook_test_driver_t *td = ops_driver(p);

        run(td, "k", "put:100:a", "Success");
        commit(td);
        counts_reset();
        /* The first read of k from window 200 on reads below once. */
        run(td, "k", "get:200", "Not found (null)");
        assert_counts(0, 1, 0);
        run(td, "k", "get:300", "Not found (null)");
        run(td, "k", "range:200:900", "");
        assert_counts(0, 1, 0);
        /* From an earlier time, once more; then never again. */
        run(td, "k", "range:0:900", "k@100-200=a,");
        assert_counts(0, 2, 0);
        run(td, "k", "range:0:900:b", "k@100-200=a,");
        run(td, "k", "get:100", "Success a");
        run(td, "k", "get:50", "Not found (null)");
        assert_counts(0, 2, 0);
        /* Writes are read back from the cache, not below. */
        run(td, "k", "put:400:d", "Success");
        run(td, "k", "put:200:b", "Success");
        run(td, "k", "range:0:900", "k@100-200=a,k@200-300=b,k@400-500=d,");
        run(td, "k", "range:150:900:b", "k@400-500=d,k@200-300=b,");
        run(td, "k", "put:400", "Success");
        run(td, "k", "get:400", "Not found (null)");
        assert_counts(0, 2, 0);
        /* Window 400 came and went between commits: only 200 goes down. */
        commit(td);
        assert_counts(0, 2, 1);
        run(td, "k", "range:0:900", "k@100-200=a,k@200-300=b,");
        /* Another key is its own. */
        run(td, "j", "get:100", "Not found (null)");
        assert_counts(0, 3, 1);

        /* Sessions alike. */
        run(td, "k", "sput:0:10:s1", "Success");
        commit(td);
        counts_reset();
        run(td, "k", "find:5:20", "k@0-10=s1,");
        assert_counts(0, 1, 0);
        run(td, "k", "find:5:20", "k@0-10=s1,");
        run(td, "k", "sget:0:10", "Success s1");
        run(td, "k", "sput:30:40:s2", "Success");
        run(td, "k", "find:35:50", "k@30-40=s2,");
        run(td, "k", "find:0:50:b", "k@30-40=s2,k@0-10=s1,");
        assert_counts(0, 2, 0);
        /* Merged away before a commit: s2 is never written down. */
        run(td, "k", "sput:30:40", "Success");
        run(td, "k", "sput:0:10", "Success");
        run(td, "k", "sput:0:45:m", "Success");
        commit(td);
        /* The delete of s1 and the merged session. */
        assert_counts(0, 2, 2);
        run(td, "k", "find:0:50", "k@0-45=m,");
        assert_counts(0, 2, 2);
        brook_test_driver_destroy(td);
}

/*
 * The store's stream time moves as a cached write is put, as it would
 * without a cache: older windows expire at once, a write into an expired
 * segment is dropped and counted at once, and a window past retention
 * that the cache writes down later is not written below (nothing could
 * read it), while its changelog record still goes out.
 */
static void test_cached_stream_time(void **state)
{
        const params_t *p = *state;
        brook_test_driver_t *td = ops_driver(p);
        brook_test_record_t r;

        run(td, "k", "put:2500:a", "Success");
        run(td, "k", "get:2500", "Success a");
        counts_reset();
        run(td, "k", "put:12600:z", "Success");
        /* 2500 < 12600 - 10000 + 1, before anything was written down. */
        run(td, "k", "get:2500", "Not found (null)");
        run(td, "k", "range:0:", "k@12600-12700=z,");
        run(td, "x", "expired", "0");
        run(td, "k", "put:500:late", "Success");
        run(td, "x", "expired", "1");
        assert_int_equal(
                brook_test_driver_records_dropped(td, BROOK_DROP_EXPIRED), 1);
        commit(td);
        /* Only window 12600 went into the store below... */
        assert_counts(0, 0, 1);
        run(td, "x", "expired", "1");
        /* ...both into the changelog. */
        assert_true(brook_test_driver_read(td, "win-ws-changelog", &r));
        assert_int_equal(r.value_size, 1);
        assert_memory_equal(r.value, "a", 1);
        assert_true(brook_test_driver_read(td, "win-ws-changelog", &r));
        assert_memory_equal(r.value, "z", 1);
        assert_false(brook_test_driver_read(td, "win-ws-changelog", &r));
        run(td, "k", "range:0:", "k@12600-12700=z,");

        /* A cached window whose segment expires before it is written
         * down was live when put: not counted (as without a cache). */
        run(td, "k", "put:13500:y", "Success");
        run(td, "k", "put:25000:w", "Success");
        run(td, "x", "expired", "1");
        commit(td);
        run(td, "x", "expired", "1");
        assert_int_equal(
                brook_test_driver_records_dropped(td, BROOK_DROP_EXPIRED), 1);
        run(td, "k", "range:0:", "k@25000-25100=w,");
        brook_test_driver_destroy(td);
}

int main(void)
{
        static params_t rdb = {false, false, false, false},
                        rdb_cache = {false, true, false, false},
                        mem = {true, false, false, false},
                        mem_cache = {true, true, false, false},
                        v1 = {true, false, true, false},
                        counting_cache = {true, true, false, true};
#define ALL4(fn)                                                               \
        cmocka_unit_test_prestate(fn, &rdb),                                   \
                cmocka_unit_test_prestate(fn, &rdb_cache),                     \
                cmocka_unit_test_prestate(fn, &mem),                           \
                cmocka_unit_test_prestate(fn, &mem_cache),                     \
                cmocka_unit_test_prestate(fn, &v1)
        const struct CMUnitTest tests[] = {
                ALL4(test_window_fetches),
                ALL4(test_window_keys_range_bounds),
                ALL4(test_window_retention),
                ALL4(test_window_expiry_within_commit),
                ALL4(test_window_changelog),
                ALL4(test_sessions),
                cmocka_unit_test_setup_teardown(test_segmented_reopen, setup,
                                                teardown),
                cmocka_unit_test(test_windowiter_chain),
                cmocka_unit_test_prestate(test_cached_key_reads,
                                          &counting_cache),
                cmocka_unit_test_prestate(test_cached_stream_time,
                                          &counting_cache),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
