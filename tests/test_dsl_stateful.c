/*
 * Tests of the stateful DSL (operators/aggregate.c, table.c) through the
 * test driver: exact outputs of count, reduce and aggregate with and
 * without the cache, repartitioning for group_by, tables and their
 * tombstones, table filter / map_values, store and changelog contents,
 * generated names, and set-ups that must fail.
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
#include "dsl_int.h"
#include "store_int.h"

/* ---------------------------------------------------------------- helpers */

static brook_conf_t *conf_new(const char *app_id, bool value_serde)
{
        brook_conf_t *conf = brook_conf_new();
        char err[512];

        assert_int_equal(brook_conf_set(conf, "default.key.serde", "string",
                                        err, sizeof err),
                         BROOK_OK);
        if (value_serde)
                assert_int_equal(brook_conf_set(conf, "default.value.serde",
                                                "string", err, sizeof err),
                                 BROOK_OK);
        if (app_id)
                assert_int_equal(brook_conf_set(conf, "application.id", app_id,
                                                err, sizeof err),
                                 BROOK_OK);
        return conf;
}

/* A driver over @p b with string default serdes (or @p conf). */
static brook_test_driver_t *td_new(brook_builder_t *b, brook_conf_t *conf)
{
        char err[512] = "";
        brook_test_driver_t *td;

        if (!conf)
                conf = conf_new(NULL, true);
        td = brook_test_driver_new(b, conf, 1000, err, sizeof err);
        if (!td)
                fail_msg("brook_test_driver_new: %s", err);
        return td;
}

static void pipe_ok(brook_test_driver_t *td, const char *topic, const char *key,
                    const char *value, int64_t ts)
{
        char err[512] = "";

        if (brook_test_driver_pipe(td, topic, key, key ? strlen(key) : 0, value,
                                   value ? strlen(value) : 0, ts, NULL, 0, err,
                                   sizeof err))
                fail_msg("pipe to %s failed: %s", topic, err);
}

static void commit_ok(brook_test_driver_t *td)
{
        char err[512] = "";

        if (brook_test_driver_commit(td, err, sizeof err))
                fail_msg("commit failed: %s", err);
}

/* Reads the next record of @p topic, decoded with a string key serde and
 * @p value_serde, and checks its topic, partition and key. The output is
 * made for this one read; the driver frees it. */
static void read_next(brook_test_driver_t *td, const char *topic,
                      const brook_serde_t *value_serde, const char *key,
                      const char *what, brook_test_typed_record_t *r)
{
        brook_test_output_t *out = brook_test_driver_output(
                td, topic, brook_serde_string(), value_serde);
        char err[512] = "";
        brook_err_t e;

        assert_non_null(out);
        e = brook_test_output_read(out, r, err, sizeof err);
        if (e == BROOK_ERR_NOT_FOUND)
                fail_msg("no record on %s (expected %s=%s)", topic,
                         key ? key : "null", what);
        if (e)
                fail_msg("reading %s (expected %s=%s): %s", topic,
                         key ? key : "null", what, err);
        assert_string_equal(r->topic, topic);
        assert_int_equal(r->partition, 0);
        if (key) {
                assert_non_null(r->key);
                assert_string_equal(r->key, key);
        } else {
                assert_null(r->key);
        }
}

/* Reads the next record of @p topic: string key and value. */
static void expect_rec(brook_test_driver_t *td, const char *topic,
                       const char *key, const char *value, int64_t ts)
{
        brook_test_typed_record_t r;

        read_next(td, topic, brook_serde_string(), key, value ? value : "null",
                  &r);
        if (value) {
                assert_non_null(r.value);
                assert_string_equal(r.value, value);
        } else {
                assert_null(r.value);
        }
        assert_int_equal(r.timestamp, ts);
}

/* Reads the next record of @p topic: string key, int64 value (the int64
 * serde holds it to Java's 8 bytes, big-endian). */
static void expect_i64(brook_test_driver_t *td, const char *topic,
                       const char *key, int64_t value, int64_t ts)
{
        brook_test_typed_record_t r;
        char what[32];

        snprintf(what, sizeof what, "%lld", (long long)value);
        read_next(td, topic, brook_serde_int64(), key, what, &r);
        assert_non_null(r.value);
        assert_int_equal(*(int64_t *)r.value, value);
        assert_int_equal(r.timestamp, ts);
}

/* A tombstone: string key, NULL value. */
static void expect_tomb(brook_test_driver_t *td, const char *topic,
                        const char *key, int64_t ts)
{
        expect_rec(td, topic, key, NULL, ts);
}

static void expect_none(brook_test_driver_t *td, const char *topic)
{
        assert_int_equal(brook_test_driver_unread(td, topic), 0);
}

/* Every entry of store @p name, in key order, as "k=v,k=v" (string keys;
 * int64 or string values). */
static void expect_store(brook_test_driver_t *td, const char *name, bool i64,
                         const char *want)
{
        brook_kvstore_t *st = brook_test_driver_kvstore(td, name);
        brook_kviter_t *it = NULL;
        char buf[1024] = "", err[256] = "";
        size_t len = 0;
        void *k, *v;

        if (!st)
                fail_msg("the driver has no store \"%s\"", name);
        brook_err_t e;

        assert_int_equal(brook_kvstore_all(st, &it, err, sizeof err), BROOK_OK);
        while (!(e = brook_kviter_next(it, &k, &v, err, sizeof err))) {
                assert_non_null(k);
                assert_non_null(v);
                if (i64)
                        len += (size_t)snprintf(buf + len, sizeof buf - len,
                                                "%s%s=%lld", len ? "," : "",
                                                (const char *)k,
                                                (long long)*(int64_t *)v);
                else
                        len += (size_t)snprintf(buf + len, sizeof buf - len,
                                                "%s%s=%s", len ? "," : "",
                                                (const char *)k,
                                                (const char *)v);
                assert_true(len < sizeof buf);
        }
        assert_int_equal(e, BROOK_ERR_END);
        assert_string_equal(err, "");
        /* The end stays the end. */
        assert_int_equal(brook_kviter_next(it, &k, &v, NULL, 0), BROOK_ERR_END);
        brook_kviter_destroy(it);
        assert_string_equal(buf, want);
}

static void expect_get_i64(brook_test_driver_t *td, const char *store,
                           const char *key, int64_t want)
{
        brook_kvstore_t *st = brook_test_driver_kvstore(td, store);
        void *v = NULL;

        assert_non_null(st);
        assert_int_equal(brook_kvstore_get(st, key, &v, NULL, 0), BROOK_OK);
        assert_non_null(v);
        assert_int_equal(*(int64_t *)v, want);
}

static void expect_get_missing(brook_test_driver_t *td, const char *store,
                               const char *key)
{
        brook_kvstore_t *st = brook_test_driver_kvstore(td, store);
        void *v = (void *)1;

        assert_non_null(st);
        char err[256] = "";

        assert_int_equal(brook_kvstore_get(st, key, &v, err, sizeof err),
                         BROOK_ERR_NOT_FOUND);
        assert_string_equal(err, ""); /* not a failure: nothing written */
        assert_null(v);
}

static char *arena_printf(const brook_record_t *rec, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static char *arena_printf(const brook_record_t *rec, const char *fmt, ...)
{
        va_list ap;
        int n;
        char *s;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        s = brook_record_alloc(rec, (size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
        return s;
}

/* Pipes a@10, b@20, a@30, c@40, a@50 into "in". */
static void pipe_abaca(brook_test_driver_t *td)
{
        pipe_ok(td, "in", "a", "1", 10);
        pipe_ok(td, "in", "b", "2", 20);
        pipe_ok(td, "in", "a", "3", 30);
        pipe_ok(td, "in", "c", "4", 40);
        pipe_ok(td, "in", "a", "5", 50);
}

/* in → group_by_key → count(@p m) → to_stream → "out" (string keys, int64
 * values, said explicitly). Returns the count table. */
static brook_table_t *count_topology(brook_builder_t *b,
                                     const brook_materialized_t *m)
{
        brook_table_t *t = brook_grouped_count(
                brook_stream_group_by_key(brook_stream(b, "in", NULL), NULL),
                m);

        brook_stream_to(
                brook_table_to_stream(t), "out",
                &(brook_produced_t){.key_serde = brook_serde_string(),
                                    .value_serde = brook_serde_int64()});
        return t;
}

/* ------------------------------------------------------- user functions */

/* Concatenates values: "x", then "x+y", ... */
static void *concat_reducer(const brook_record_t *rec, void *agg, void *opaque)
{
        int *calls = opaque;

        if (calls)
                (*calls)++;
        return arena_printf(rec, "%s+%s", (const char *)agg,
                            (const char *)brook_record_value(rec));
}

static void *zero_init(const brook_record_t *rec, void *opaque)
{
        (void)opaque;
        return brook_int64_new(brook_record_arena(rec), 0);
}

/* Adds the value (a decimal string) to the int64 aggregate. */
static void *sum_aggregator(const brook_record_t *rec, void *agg, void *opaque)
{
        (void)opaque;
        return brook_int64_new(brook_record_arena(rec),
                               *(int64_t *)agg +
                                       atoll(brook_record_value(rec)));
}

/* The string aggregate "<key>:" followed by every value. */
static void *key_init(const brook_record_t *rec, void *opaque)
{
        (void)opaque;
        return arena_printf(rec, "%s:", (const char *)brook_record_key(rec));
}

static void *append_aggregator(const brook_record_t *rec, void *agg,
                               void *opaque)
{
        (void)opaque;
        return arena_printf(rec, "%s%s", (const char *)agg,
                            (const char *)brook_record_value(rec));
}

static void *null_aggregator(const brook_record_t *rec, void *agg, void *opaque)
{
        (void)rec;
        (void)agg;
        (void)opaque;
        return NULL;
}

/* The value's first character as the key; NULL for "-...". */
static void *first_char_key(const brook_record_t *rec, void *opaque)
{
        const char *v = brook_record_value(rec);

        (void)opaque;
        if (!v || !*v || *v == '-')
                return NULL;
        return arena_printf(rec, "%c", *v);
}

/* Swaps key and value. */
static void swap_kv(const brook_record_t *rec, void **keyp, void **valuep,
                    void *opaque)
{
        void *k = *keyp;

        (void)rec;
        (void)opaque;
        *keyp = *valuep;
        *valuep = k;
}

/* Counts its calls in *opaque (an int), if given. */
static bool starts_with_a(const brook_record_t *rec, void *opaque)
{
        const char *v = brook_record_value(rec);
        int *calls = opaque;

        if (calls)
                (*calls)++;
        assert_non_null(v); /* Never called for a tombstone. */
        return v[0] == 'a';
}

static bool at_least_2(const brook_record_t *rec, void *opaque)
{
        (void)opaque;
        return *(int64_t *)brook_record_value(rec) >= 2;
}

static void *upper_len(const brook_record_t *rec, void *opaque)
{
        const char *v = brook_record_value(rec);
        int *calls = opaque;
        char *s;
        size_t i;

        (*calls)++;
        assert_non_null(v); /* Never called for a tombstone. */
        s = arena_printf(rec, "%s:%zu", v, strlen(v));
        for (i = 0; s[i]; i++)
                if (s[i] >= 'a' && s[i] <= 'z')
                        s[i] = (char)(s[i] - 'a' + 'A');
        return s;
}

/* ------------------------------------------------------------------ count */

static void test_count_cache_off(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        brook_table_t *t;
        (void)state;

        t = count_topology(b,
                           &(brook_materialized_t){.name = "counts",
                                                   .caching_disabled = true});
        assert_non_null(t);
        assert_string_equal(brook_table_store_name(t), "counts");
        td = td_new(b, NULL);
        brook_test_driver_set_auto_commit(td, false);

        pipe_abaca(td);
        expect_i64(td, "out", "a", 1, 10);
        expect_i64(td, "out", "b", 1, 20);
        expect_i64(td, "out", "a", 2, 30);
        expect_i64(td, "out", "c", 1, 40);
        expect_i64(td, "out", "a", 3, 50);
        expect_none(td, "out");
        commit_ok(td);
        expect_none(td, "out");

        expect_get_i64(td, "counts", "a", 3);
        expect_get_i64(td, "counts", "b", 1);
        expect_get_i64(td, "counts", "c", 1);
        expect_get_missing(td, "counts", "d");
        expect_store(td, "counts", true, "a=3,b=1,c=1");
        assert_null(brook_test_driver_kvstore(td, "no-such-store"));
        brook_test_driver_destroy(td);
}

static void test_count_cache_on_commit(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        (void)state;

        count_topology(b, &(brook_materialized_t){.name = "counts"});
        td = td_new(b, NULL);
        brook_test_driver_set_auto_commit(td, false);

        pipe_abaca(td);
        expect_none(td, "out");
        /* The store answers from the cache before anything is written
         * down. */
        expect_get_i64(td, "counts", "a", 3);
        commit_ok(td);
        /* One update per key with its final count and the timestamp of its
         * last record, in the cache's dirty order: as Kafka Streams'
         * NamedCache, a key moves to the end of the order with each write,
         * so the key written last comes last. */
        expect_i64(td, "out", "b", 1, 20);
        expect_i64(td, "out", "c", 1, 40);
        expect_i64(td, "out", "a", 3, 50);
        expect_none(td, "out");

        /* Only keys changed since the last commit go out. */
        pipe_ok(td, "in", "b", "6", 60);
        pipe_ok(td, "in", "d", "7", 70);
        pipe_ok(td, "in", "b", "8", 65);
        expect_none(td, "out");
        commit_ok(td);
        expect_i64(td, "out", "d", 1, 70);
        expect_i64(td, "out", "b", 3, 65);
        expect_none(td, "out");
        commit_ok(td);
        expect_none(td, "out");
        expect_store(td, "counts", true, "a=3,b=3,c=1,d=1");
        brook_test_driver_destroy(td);
}

/* A full cache evicts its least recently used entry: written down and
 * forwarded at once, while another record is processed. */
static void test_count_cache_eviction(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_conf_t *conf = conf_new(NULL, true);
        brook_test_driver_t *td;
        char err[512];
        (void)state;

        /* An entry costs its key, its value (with the aggregate's 8-byte
         * timestamp) and 64 bytes: two counts of one-letter keys (81
         * bytes each) fit, three do not. */
        assert_int_equal(brook_conf_set(conf, "statestore.cache.max.bytes",
                                        "170", err, sizeof err),
                         BROOK_OK);
        count_topology(b, &(brook_materialized_t){.name = "counts"});
        td = td_new(b, conf);
        brook_test_driver_set_auto_commit(td, false);
        pipe_ok(td, "in", "a", "1", 10);
        pipe_ok(td, "in", "b", "2", 20);
        expect_none(td, "out");
        pipe_ok(td, "in", "c", "3", 30);
        expect_i64(td, "out", "a", 1, 10);
        expect_none(td, "out");
        pipe_ok(td, "in", "d", "4", 40);
        expect_i64(td, "out", "b", 1, 20);
        expect_none(td, "out");
        commit_ok(td);
        expect_i64(td, "out", "c", 1, 30);
        expect_i64(td, "out", "d", 1, 40);
        expect_none(td, "out");
        expect_store(td, "counts", true, "a=1,b=1,c=1,d=1");
        brook_test_driver_destroy(td);
}

static void test_count_cache_on_auto_commit(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        (void)state;

        /* Generated store name; the sink's serdes follow the table (string
         * key from the defaults, int64 count). */
        brook_stream_to(brook_table_to_stream(brook_grouped_count(
                                brook_stream_group_by_key(
                                        brook_stream(b, "in", NULL), NULL),
                                NULL)),
                        "out", NULL);
        td = td_new(b, NULL);
        pipe_abaca(td);
        expect_i64(td, "out", "a", 1, 10);
        expect_i64(td, "out", "b", 1, 20);
        expect_i64(td, "out", "a", 2, 30);
        expect_i64(td, "out", "c", 1, 40);
        expect_i64(td, "out", "a", 3, 50);
        expect_none(td, "out");
        expect_store(td, "KSTREAM-AGGREGATE-STATE-STORE-0000000001", true,
                     "a=3,b=1,c=1");
        brook_test_driver_destroy(td);
}

static void test_count_drops_null_key_value(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        (void)state;

        count_topology(b, &(brook_materialized_t){.name = "counts",
                                                  .caching_disabled = true});
        td = td_new(b, NULL);
        pipe_ok(td, "in", "a", "1", 1);
        pipe_ok(td, "in", NULL, "2", 2);
        pipe_ok(td, "in", "a", NULL, 3);
        pipe_ok(td, "in", "a", "", 4); /* Empty is not null. */
        pipe_ok(td, "in", "b", "5", 5);
        pipe_ok(td, "in", NULL, NULL, 6);
        expect_i64(td, "out", "a", 1, 1);
        expect_i64(td, "out", "a", 2, 4);
        expect_i64(td, "out", "b", 1, 5);
        expect_none(td, "out");
        expect_store(td, "counts", true, "a=2,b=1");
        brook_test_driver_destroy(td);
}

/* Count as a table: an aggregation sends old values (Kafka Streams'
 * KTableFilter asks for them), so the filter forwards only updates whose
 * old or new count passes; without the cache a new key's old count is the
 * initializer's 0. */
static void test_count_table_filter(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        brook_table_t *t;
        (void)state;

        t = brook_grouped_count(
                brook_stream_group_by_key(brook_stream(b, "in", NULL), NULL),
                &(brook_materialized_t){.name = "counts",
                                        .caching_disabled = true});
        t = brook_table_filter(t, at_least_2, NULL, NULL);
        assert_null(brook_table_store_name(t));
        brook_stream_to(brook_table_to_stream(t), "out", NULL);
        td = td_new(b, NULL);
        pipe_abaca(td);
        expect_i64(td, "out", "a", 2, 30);
        expect_i64(td, "out", "a", 3, 50);
        expect_none(td, "out");
        brook_test_driver_destroy(td);
}

static bool is_even(const brook_record_t *rec, void *opaque)
{
        (void)opaque;
        return *(int64_t *)brook_record_value(rec) % 2 == 0;
}

/* Kafka Streams' KStreamAggregate sends a new key's old value as the
 * initializer's (count: 0), which an even-count filter passes: the first
 * count of a key goes out as a tombstone. Through the cache the old value
 * is the store's as the cache writes the entry down: none, so nothing
 * goes out. */
static void count_filter_even_run(bool caching)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        brook_table_t *t;

        t = brook_grouped_count(
                brook_stream_group_by_key(brook_stream(b, "in", NULL), NULL),
                &(brook_materialized_t){.name = "counts",
                                        .caching_disabled = !caching});
        t = brook_table_filter(t, is_even, NULL, NULL);
        brook_stream_to(brook_table_to_stream(t), "out", NULL);
        td = td_new(b, NULL);
        pipe_abaca(td);
        if (!caching) {
                expect_tomb(td, "out", "a", 10);
                expect_tomb(td, "out", "b", 20);
        }
        expect_i64(td, "out", "a", 2, 30);
        if (!caching)
                expect_tomb(td, "out", "c", 40);
        expect_tomb(td, "out", "a", 50);
        expect_none(td, "out");
        brook_test_driver_destroy(td);
}

static void test_count_filter_initializer_old_cache_off(void **state)
{
        (void)state;
        count_filter_even_run(false);
}

static void test_count_filter_initializer_old_cache_on(void **state)
{
        (void)state;
        count_filter_even_run(true);
}

/* Kafka Streams stamps an aggregate with the later of its record's
 * timestamp and the previous aggregate's: a record out of order does not
 * take a key's aggregate back in time. */
static void aggregate_timestamps_run(bool caching)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;

        count_topology(b,
                       &(brook_materialized_t){.name = "counts",
                                               .caching_disabled = !caching});
        td = td_new(b, NULL);
        brook_test_driver_set_auto_commit(td, false);
        pipe_ok(td, "in", "a", "1", 10);
        pipe_ok(td, "in", "a", "2", 5); /* Out of order. */
        pipe_ok(td, "in", "b", "3", 3); /* A new key: its own. */
        if (caching)
                commit_ok(td);
        pipe_ok(td, "in", "a", "4", 7);
        pipe_ok(td, "in", "a", "5", 20);
        pipe_ok(td, "in", "a", "6", 15);
        if (caching) {
                commit_ok(td);
                expect_i64(td, "out", "a", 2, 10);
                expect_i64(td, "out", "b", 1, 3);
                expect_i64(td, "out", "a", 5, 20);
        } else {
                expect_i64(td, "out", "a", 1, 10);
                expect_i64(td, "out", "a", 2, 10);
                expect_i64(td, "out", "b", 1, 3);
                expect_i64(td, "out", "a", 3, 10);
                expect_i64(td, "out", "a", 4, 20);
                expect_i64(td, "out", "a", 5, 20);
        }
        expect_none(td, "out");
        brook_test_driver_destroy(td);
}

static void test_aggregate_timestamps_cache_off(void **state)
{
        (void)state;
        aggregate_timestamps_run(false);
}

static void test_aggregate_timestamps_cache_on(void **state)
{
        (void)state;
        aggregate_timestamps_run(true);
}

/* The same for reduce (Kafka Streams' KStreamReduce). */
static void test_reduce_timestamps(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        brook_table_t *t;
        int calls = 0;
        (void)state;

        t = brook_grouped_reduce(
                brook_stream_group_by_key(brook_stream(b, "in", NULL), NULL),
                concat_reducer, &calls,
                &(brook_materialized_t){.name = "joined",
                                        .caching_disabled = true});
        brook_stream_to(brook_table_to_stream(t), "out", NULL);
        td = td_new(b, NULL);
        pipe_ok(td, "in", "k", "x", 100);
        pipe_ok(td, "in", "k", "y", 40);
        pipe_ok(td, "in", "k", "z", 140);
        expect_rec(td, "out", "k", "x", 100);
        expect_rec(td, "out", "k", "x+y", 100);
        expect_rec(td, "out", "k", "x+y+z", 140);
        expect_none(td, "out");
        brook_test_driver_destroy(td);
}

/* ------------------------------------------------------- reduce, aggregate */

static void reduce_run(bool caching)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        brook_table_t *t;
        int calls = 0;

        t = brook_grouped_reduce(
                brook_stream_group_by_key(brook_stream(b, "in", NULL), NULL),
                concat_reducer, &calls,
                &(brook_materialized_t){.name = "joined",
                                        .caching_disabled = !caching});
        brook_stream_to(brook_table_to_stream(t), "out", NULL);
        td = td_new(b, NULL);
        brook_test_driver_set_auto_commit(td, false);
        pipe_ok(td, "in", "k1", "x", 1);
        pipe_ok(td, "in", "k2", "y", 2);
        pipe_ok(td, "in", "k1", "z", 3);
        pipe_ok(td, "in", "k1", NULL, 4); /* Dropped. */
        pipe_ok(td, "in", "k1", "w", 5);
        /* The first value of a key is taken as is. */
        assert_int_equal(calls, 2);
        if (caching) {
                expect_none(td, "out");
                commit_ok(td);
                expect_rec(td, "out", "k2", "y", 2);
                expect_rec(td, "out", "k1", "x+z+w", 5);
        } else {
                expect_rec(td, "out", "k1", "x", 1);
                expect_rec(td, "out", "k2", "y", 2);
                expect_rec(td, "out", "k1", "x+z", 3);
                expect_rec(td, "out", "k1", "x+z+w", 5);
        }
        expect_none(td, "out");
        expect_store(td, "joined", false, "k1=x+z+w,k2=y");
        brook_test_driver_destroy(td);
}

static void test_reduce_cache_off(void **state)
{
        (void)state;
        reduce_run(false);
}

static void test_reduce_cache_on(void **state)
{
        (void)state;
        reduce_run(true);
}

static void aggregate_run(bool caching)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in = brook_stream(b, "in", NULL);
        brook_grouped_t *g = brook_stream_group_by_key(in, NULL);
        brook_test_driver_t *td;
        brook_table_t *sum, *all;

        sum = brook_grouped_aggregate(
                g, zero_init, sum_aggregator, NULL,
                &(brook_materialized_t){.name = "sums",
                                        .value_serde = brook_serde_int64(),
                                        .caching_disabled = !caching});
        /* No value serde: default.value.serde (string) fits the strings. */
        all = brook_grouped_aggregate(
                g, key_init, append_aggregator, NULL,
                &(brook_materialized_t){.name = "all",
                                        .caching_disabled = !caching});
        brook_stream_to(brook_table_to_stream(sum), "sums-out", NULL);
        brook_stream_to(brook_table_to_stream(all), "all-out", NULL);
        td = td_new(b, NULL);
        brook_test_driver_set_auto_commit(td, false);
        pipe_ok(td, "in", "k1", "5", 1);
        pipe_ok(td, "in", "k2", "7", 2);
        pipe_ok(td, "in", "k1", "-2", 3);
        pipe_ok(td, "in", NULL, "100", 4); /* Dropped. */
        pipe_ok(td, "in", "k1", "10", 5);
        if (caching) {
                expect_none(td, "sums-out");
                expect_none(td, "all-out");
                commit_ok(td);
                expect_i64(td, "sums-out", "k2", 7, 2);
                expect_i64(td, "sums-out", "k1", 13, 5);
                expect_rec(td, "all-out", "k2", "k2:7", 2);
                expect_rec(td, "all-out", "k1", "k1:5-210", 5);
        } else {
                expect_i64(td, "sums-out", "k1", 5, 1);
                expect_i64(td, "sums-out", "k2", 7, 2);
                expect_i64(td, "sums-out", "k1", 3, 3);
                expect_i64(td, "sums-out", "k1", 13, 5);
                expect_rec(td, "all-out", "k1", "k1:5", 1);
                expect_rec(td, "all-out", "k2", "k2:7", 2);
                expect_rec(td, "all-out", "k1", "k1:5-2", 3);
                expect_rec(td, "all-out", "k1", "k1:5-210", 5);
        }
        expect_none(td, "sums-out");
        expect_none(td, "all-out");
        expect_store(td, "sums", true, "k1=13,k2=7");
        expect_store(td, "all", false, "k1=k1:5-210,k2=k2:7");
        brook_test_driver_destroy(td);
}

static void test_aggregate_cache_off(void **state)
{
        (void)state;
        aggregate_run(false);
}

static void test_aggregate_cache_on(void **state)
{
        (void)state;
        aggregate_run(true);
}

static void test_aggregate_null_result(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        char err[512] = "";
        (void)state;

        brook_grouped_aggregate(
                brook_stream_group_by_key(brook_stream(b, "in", NULL), NULL),
                key_init, null_aggregator, NULL,
                &(brook_materialized_t){.name = "nulls"});
        td = td_new(b, NULL);
        assert_int_not_equal(brook_test_driver_pipe(td, "in", "k", 1, "v", 1, 1,
                                                    NULL, 0, err, sizeof err),
                             BROOK_OK);
        if (!strstr(err, "in node \"KSTREAM-AGGREGATE-0000000001\"") ||
            !strstr(err, "the aggregator returned NULL for store \"nulls\""))
                fail_msg("unexpected error: %s", err);
        brook_test_driver_destroy(td);
}

/* ---------------------------------------------------------- repartitioning */

static void test_group_by_repartition(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        brook_table_t *t;
        const char *topic = "test-driver-by-first-repartition";
        (void)state;

        t = brook_grouped_count(
                brook_stream_group_by(brook_stream(b, "in", NULL),
                                      first_char_key, NULL,
                                      &(brook_grouping_t){.name = "by-first"}),
                &(brook_materialized_t){.name = "firsts",
                                        .caching_disabled = true});
        brook_stream_to(brook_table_to_stream(t), "out", NULL);
        assert_non_null(brook__builder_node(b, "by-first-repartition-sink"));
        assert_non_null(brook__builder_node(b, "by-first-repartition-source"));
        td = td_new(b, NULL);
        pipe_ok(td, "in", "k1", "apple", 1);
        pipe_ok(td, "in", "k2", "avocado", 2);
        pipe_ok(td, "in", "k3", "banana", 3);
        pipe_ok(td, "in", "k4", "-none", 4); /* Null key: filtered out. */
        pipe_ok(td, "in", "k5", "blue", 5);
        pipe_ok(td, "in", "k6", "apricot", 6);

        expect_rec(td, topic, "a", "apple", 1);
        expect_rec(td, topic, "a", "avocado", 2);
        expect_rec(td, topic, "b", "banana", 3);
        expect_rec(td, topic, "b", "blue", 5);
        expect_rec(td, topic, "a", "apricot", 6);
        expect_none(td, topic);
        expect_i64(td, "out", "a", 1, 1);
        expect_i64(td, "out", "a", 2, 2);
        expect_i64(td, "out", "b", 1, 3);
        expect_i64(td, "out", "b", 2, 5);
        expect_i64(td, "out", "a", 3, 6);
        expect_none(td, "out");
        expect_store(td, "firsts", true, "a=3,b=2");
        brook_test_driver_destroy(td);
}

/* Without a grouping name the topic is named after the store, and with
 * generated names throughout the topology reads as Kafka Streams'. */
static void test_group_by_generated_names(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        brook_table_t *t;
        char *text;
        const char *topic = "test-driver-KSTREAM-AGGREGATE-STATE-STORE-"
                            "0000000002-repartition";
        (void)state;

        t = brook_grouped_count(
                brook_stream_group_by(brook_stream(b, "in", NULL),
                                      first_char_key, NULL, NULL),
                NULL);
        assert_string_equal(brook_table_store_name(t),
                            "KSTREAM-AGGREGATE-STATE-STORE-0000000002");
        assert_string_equal(t->node, "KSTREAM-AGGREGATE-0000000003");
        brook_stream_to(brook_table_to_stream(t), "out", NULL);
        text = brook_topology_describe(b, BROOK_DESCRIBE_TEXT);
        assert_non_null(text);
        assert_string_equal(
                text,
                "Topologies:\n"
                "   Sub-topology: 0\n"
                "    Source: KSTREAM-SOURCE-0000000000 (topics: [in])\n"
                "      --> KSTREAM-KEY-SELECT-0000000001\n"
                "    Processor: KSTREAM-KEY-SELECT-0000000001 (stores: [])\n"
                "      --> KSTREAM-FILTER-0000000005\n"
                "      <-- KSTREAM-SOURCE-0000000000\n"
                "    Processor: KSTREAM-FILTER-0000000005 (stores: [])\n"
                "      --> KSTREAM-SINK-0000000004\n"
                "      <-- KSTREAM-KEY-SELECT-0000000001\n"
                "    Sink: KSTREAM-SINK-0000000004 (topic: "
                "KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition)\n"
                "      <-- KSTREAM-FILTER-0000000005\n"
                "\n"
                "  Sub-topology: 1\n"
                "    Source: KSTREAM-SOURCE-0000000006 (topics: "
                "[KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition])\n"
                "      --> KSTREAM-AGGREGATE-0000000003\n"
                "    Processor: KSTREAM-AGGREGATE-0000000003 (stores: "
                "[KSTREAM-AGGREGATE-STATE-STORE-0000000002])\n"
                "      --> KTABLE-TOSTREAM-0000000007\n"
                "      <-- KSTREAM-SOURCE-0000000006\n"
                "    Processor: KTABLE-TOSTREAM-0000000007 (stores: [])\n"
                "      --> KSTREAM-SINK-0000000008\n"
                "      <-- KSTREAM-AGGREGATE-0000000003\n"
                "    Sink: KSTREAM-SINK-0000000008 (topic: out)\n"
                "      <-- KTABLE-TOSTREAM-0000000007\n"
                "\n");
        brook_free(text);
        td = td_new(b, NULL);
        pipe_ok(td, "in", "k1", "xy", 7);
        pipe_ok(td, "in", "k2", "xz", 8);
        expect_rec(td, topic, "x", "xy", 7);
        expect_rec(td, topic, "x", "xz", 8);
        expect_none(td, topic);
        expect_i64(td, "out", "x", 1, 7);
        expect_i64(td, "out", "x", 2, 8);
        expect_none(td, "out");
        brook_test_driver_destroy(td);
}

static void test_group_by_key_after_map(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        brook_table_t *t;
        const char *topic = "test-driver-by-value-repartition";
        (void)state;

        t = brook_grouped_count(
                brook_stream_group_by_key(
                        brook_stream_map(brook_stream(b, "in", NULL), swap_kv,
                                         NULL),
                        NULL),
                &(brook_materialized_t){.name = "by-value",
                                        .caching_disabled = true});
        brook_stream_to(brook_table_to_stream(t), "out", NULL);
        td = td_new(b, NULL);
        pipe_ok(td, "in", "x", "a", 1);
        pipe_ok(td, "in", "y", "b", 2);
        pipe_ok(td, "in", "z", "a", 3);
        pipe_ok(td, "in", "w", NULL, 4); /* Null key after the swap. */
        expect_rec(td, topic, "a", "x", 1);
        expect_rec(td, topic, "b", "y", 2);
        expect_rec(td, topic, "a", "z", 3);
        expect_none(td, topic);
        expect_i64(td, "out", "a", 1, 1);
        expect_i64(td, "out", "b", 1, 2);
        expect_i64(td, "out", "a", 2, 3);
        expect_none(td, "out");
        brook_test_driver_destroy(td);
}

static void test_group_by_key_no_repartition(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        char *text;
        (void)state;

        count_topology(b, &(brook_materialized_t){.name = "counts"});
        text = brook_topology_describe(b, BROOK_DESCRIBE_TEXT);
        assert_non_null(text);
        assert_string_equal(
                text, "Topologies:\n"
                      "   Sub-topology: 0\n"
                      "    Source: KSTREAM-SOURCE-0000000000 (topics: [in])\n"
                      "      --> KSTREAM-AGGREGATE-0000000001\n"
                      "    Processor: KSTREAM-AGGREGATE-0000000001 (stores: "
                      "[counts])\n"
                      "      --> KTABLE-TOSTREAM-0000000002\n"
                      "      <-- KSTREAM-SOURCE-0000000000\n"
                      "    Processor: KTABLE-TOSTREAM-0000000002 (stores: [])\n"
                      "      --> KSTREAM-SINK-0000000003\n"
                      "      <-- KSTREAM-AGGREGATE-0000000001\n"
                      "    Sink: KSTREAM-SINK-0000000003 (topic: out)\n"
                      "      <-- KTABLE-TOSTREAM-0000000002\n"
                      "\n");
        brook_free(text);
        td = td_new(b, NULL);
        pipe_abaca(td);
        expect_none(td, "test-driver-counts-repartition");
        expect_i64(td, "out", "a", 1, 10);
        expect_i64(td, "out", "b", 1, 20);
        expect_i64(td, "out", "a", 2, 30);
        expect_i64(td, "out", "c", 1, 40);
        expect_i64(td, "out", "a", 3, 50);
        expect_none(td, "out");
        brook_test_driver_destroy(td);
}

/* ------------------------------------------------------------------ tables */

static void table_tombstones_run(bool caching)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        brook_table_t *t;

        t = brook_table(b, "tin", NULL,
                        &(brook_materialized_t){.name = "tstore",
                                                .caching_disabled = !caching});
        assert_string_equal(brook_table_store_name(t), "tstore");
        brook_stream_to(brook_table_to_stream(t), "out", NULL);
        td = td_new(b, NULL);
        pipe_ok(td, "tin", "k1", "v1", 1);
        pipe_ok(td, "tin", "k2", "v2", 2);
        pipe_ok(td, "tin", "k1", NULL, 3);
        pipe_ok(td, "tin", NULL, "v4", 4); /* Dropped: no row for null. */
        expect_rec(td, "out", "k1", "v1", 1);
        expect_rec(td, "out", "k2", "v2", 2);
        expect_tomb(td, "out", "k1", 3);
        expect_none(td, "out");
        expect_get_missing(td, "tstore", "k1");
        expect_store(td, "tstore", false, "k2=v2");
        brook_test_driver_destroy(td);
}

static void test_table_tombstones_cache_off(void **state)
{
        (void)state;
        table_tombstones_run(false);
}

/* Caching with auto-commit: an update per record, as without it. */
static void test_table_tombstones_cache_on(void **state)
{
        (void)state;
        table_tombstones_run(true);
}

/* Caching without auto-commit: a commit sends one update per key changed
 * since the last, a deletion as a tombstone. */
static void test_table_cache_collapses(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        brook_table_t *t;
        const char *log = "test-driver-tstore-changelog";
        (void)state;

        t = brook_table(b, "tin", NULL,
                        &(brook_materialized_t){.name = "tstore"});
        assert_string_equal(t->node, "KTABLE-SOURCE-0000000001");
        brook_stream_to(brook_table_to_stream(t), "out", NULL);
        td = td_new(b, NULL);
        brook_test_driver_set_auto_commit(td, false);
        pipe_ok(td, "tin", "k1", "v1", 1);
        pipe_ok(td, "tin", "k2", "v2", 2);
        expect_none(td, "out");
        commit_ok(td);
        expect_rec(td, "out", "k1", "v1", 1);
        expect_rec(td, "out", "k2", "v2", 2);
        expect_none(td, "out");
        pipe_ok(td, "tin", "k1", "x", 3);
        pipe_ok(td, "tin", "k1", NULL, 4);
        pipe_ok(td, "tin", "k2", "w", 5);
        pipe_ok(td, "tin", "k3", "v3", 6);
        expect_none(td, "out");
        commit_ok(td);
        expect_tomb(td, "out", "k1", 4);
        expect_rec(td, "out", "k2", "w", 5);
        expect_rec(td, "out", "k3", "v3", 6);
        expect_none(td, "out");
        expect_store(td, "tstore", false, "k2=w,k3=v3");
        expect_rec(td, log, "k1", "v1", 1);
        expect_rec(td, log, "k2", "v2", 2);
        expect_tomb(td, log, "k1", 4);
        expect_rec(td, log, "k2", "w", 5);
        expect_rec(td, log, "k3", "v3", 6);
        expect_none(td, log);
        brook_test_driver_destroy(td);
}

/* A source table whose store has no name is not materialized in Kafka
 * Streams: no store, no cache, every record goes downstream at once
 * (a tombstone of a key never seen too). brook keeps a store (under a
 * generated name), without a cache. */
static void test_table_unnamed_does_not_cache(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        brook_table_t *t;
        (void)state;

        t = brook_table(b, "tin", NULL, NULL);
        assert_string_equal(brook_table_store_name(t),
                            "tin-STATE-STORE-0000000000");
        assert_string_equal(t->node, "KTABLE-SOURCE-0000000002");
        brook_stream_to(brook_table_to_stream(t), "out", NULL);
        td = td_new(b, NULL);
        brook_test_driver_set_auto_commit(td, false);
        pipe_ok(td, "tin", "k1", "v1", 1);
        pipe_ok(td, "tin", "k1", "x", 2);
        pipe_ok(td, "tin", "k2", NULL, 3);
        expect_rec(td, "out", "k1", "v1", 1);
        expect_rec(td, "out", "k1", "x", 2);
        expect_tomb(td, "out", "k2", 3);
        expect_none(td, "out");
        expect_store(td, "tin-STATE-STORE-0000000000", false, "k1=x");
        brook_test_driver_destroy(td);
}

/* As Kafka Streams' CachingKeyValueStore ("if this key did not exist in
 * underlying store and also not in the cache, we can skip flushing to
 * downstream as well as writing to underlying store"): a cached tombstone
 * of a key the store below does not have goes neither down, nor to the
 * changelog, nor downstream. */
static void test_cache_skips_absent_tombstones(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        const char *log = "test-driver-tstore-changelog";
        (void)state;

        brook_stream_to(brook_table_to_stream(brook_table(
                                b, "tin", NULL,
                                &(brook_materialized_t){.name = "tstore"})),
                        "out", NULL);
        td = td_new(b, NULL);
        brook_test_driver_set_auto_commit(td, false);
        pipe_ok(td, "tin", "k1", "v1", 1);
        pipe_ok(td, "tin", "k1", NULL, 2);
        pipe_ok(td, "tin", "k2", "v2", 3);
        pipe_ok(td, "tin", "k3", NULL, 4);
        commit_ok(td);
        expect_rec(td, "out", "k2", "v2", 3);
        expect_none(td, "out");
        expect_rec(td, log, "k2", "v2", 3);
        expect_none(td, log);
        expect_store(td, "tstore", false, "k2=v2");
        brook_test_driver_destroy(td);
}

/* Pipes the filter tests' updates into "tin". */
static void pipe_fruit(brook_test_driver_t *td)
{
        pipe_ok(td, "tin", "k1", "apple", 1);
        pipe_ok(td, "tin", "k2", "banana", 2);
        pipe_ok(td, "tin", "k1", "avocado", 3);
        pipe_ok(td, "tin", "k1", "berry", 4); /* No longer passes. */
        pipe_ok(td, "tin", "k3", NULL, 5);    /* Tombstone of a new key. */
        pipe_ok(td, "tin", "k4", "apricot", 6);
        pipe_ok(td, "tin", "k2", NULL, 7);
}

/* A filter of a source table that is not materialized (no store name)
 * gets no old values: as Kafka Streams' KTableFilter, it forwards every
 * update that does not pass (and every tombstone) as a tombstone. */
static void test_table_filter(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        brook_table_t *t, *yes, *no;
        int calls = 0;
        (void)state;

        t = brook_table(b, "tin", NULL, NULL);
        yes = brook_table_filter(t, starts_with_a, &calls, NULL);
        no = brook_table_filter_not(t, starts_with_a, NULL, NULL);
        assert_null(brook_table_store_name(yes));
        assert_string_equal(yes->node, "KTABLE-FILTER-0000000003");
        assert_string_equal(no->node, "KTABLE-FILTER-0000000004");
        brook_stream_to(brook_table_to_stream(yes), "yes", NULL);
        brook_stream_to(brook_table_to_stream(no), "no", NULL);
        td = td_new(b, NULL);
        pipe_fruit(td);
        /* The predicate sees values only, never tombstones. */
        assert_int_equal(calls, 5);

        expect_rec(td, "yes", "k1", "apple", 1);
        expect_tomb(td, "yes", "k2", 2);
        expect_rec(td, "yes", "k1", "avocado", 3);
        expect_tomb(td, "yes", "k1", 4);
        expect_tomb(td, "yes", "k3", 5);
        expect_rec(td, "yes", "k4", "apricot", 6);
        expect_tomb(td, "yes", "k2", 7);
        expect_none(td, "yes");

        expect_tomb(td, "no", "k1", 1);
        expect_rec(td, "no", "k2", "banana", 2);
        expect_tomb(td, "no", "k1", 3);
        expect_rec(td, "no", "k1", "berry", 4);
        expect_tomb(td, "no", "k3", 5);
        expect_tomb(td, "no", "k4", 6);
        expect_tomb(td, "no", "k2", 7);
        expect_none(td, "no");
        expect_store(td, "tin-STATE-STORE-0000000000", false,
                     "k1=berry,k4=apricot");
        brook_test_driver_destroy(td);
}

/* A filter of a materialized source table (a named store) gets the old
 * value with each update (Kafka Streams' KTableFilter enables
 * sendOldValues on a materialized parent) and forwards nothing when
 * neither the old nor the new value passes. The predicate sees old values
 * too. */
static void test_table_filter_old_values(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        brook_table_t *t, *yes, *no;
        int calls = 0;
        (void)state;

        t = brook_table(b, "tin", NULL,
                        &(brook_materialized_t){.name = "fruit",
                                                .caching_disabled = true});
        yes = brook_table_filter(t, starts_with_a, &calls, NULL);
        no = brook_table_filter_not(t, starts_with_a, NULL, NULL);
        assert_null(brook_table_store_name(yes));
        assert_string_equal(yes->node, "KTABLE-FILTER-0000000002");
        assert_string_equal(no->node, "KTABLE-FILTER-0000000003");
        brook_stream_to(brook_table_to_stream(yes), "yes", NULL);
        brook_stream_to(brook_table_to_stream(no), "no", NULL);
        td = td_new(b, NULL);
        pipe_fruit(td);
        /* apple; banana; avocado, apple; berry, avocado; (k3: none);
         * apricot; banana (old, of the tombstone). */
        assert_int_equal(calls, 8);

        expect_rec(td, "yes", "k1", "apple", 1);
        expect_rec(td, "yes", "k1", "avocado", 3);
        expect_tomb(td, "yes", "k1", 4);
        expect_rec(td, "yes", "k4", "apricot", 6);
        expect_none(td, "yes");

        expect_rec(td, "no", "k2", "banana", 2);
        expect_rec(td, "no", "k1", "berry", 4);
        expect_tomb(td, "no", "k2", 7);
        expect_none(td, "no");
        expect_store(td, "fruit", false, "k1=berry,k4=apricot");
        brook_test_driver_destroy(td);
}

/* Through a caching parent, the old value is the one last sent downstream
 * (Kafka Streams' caching store reads it from below as it writes the
 * entry down), not the one before the last write: a key that passed, then
 * was set twice to values that do not pass before a commit, goes out as a
 * tombstone. */
static void test_table_filter_old_values_cached(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        brook_table_t *t;
        (void)state;

        t = brook_table(b, "tin", NULL,
                        &(brook_materialized_t){.name = "fruit"});
        t = brook_table_filter(t, starts_with_a, NULL, NULL);
        brook_stream_to(brook_table_to_stream(t), "yes", NULL);
        td = td_new(b, NULL);
        brook_test_driver_set_auto_commit(td, false);
        pipe_ok(td, "tin", "k1", "apple", 1);
        pipe_ok(td, "tin", "k2", "banana", 2);
        commit_ok(td);
        expect_rec(td, "yes", "k1", "apple", 1);
        expect_none(td, "yes");
        pipe_ok(td, "tin", "k1", "berry", 3);
        pipe_ok(td, "tin", "k1", "cherry", 4);
        pipe_ok(td, "tin", "k2", "blueberry", 5);
        pipe_ok(td, "tin", "k3", "avocado", 6);
        pipe_ok(td, "tin", "k3", "date", 7);
        commit_ok(td);
        /* k1: apple before, cherry now; k2: neither passes; k3: nothing
         * before, date now. */
        expect_tomb(td, "yes", "k1", 4);
        expect_none(td, "yes");
        /* k5 is set, deleted and set again, then set and deleted: the
         * update of each commit has no old value (nothing went down for
         * k5 before). */
        pipe_ok(td, "tin", "k5", "apricot", 8);
        pipe_ok(td, "tin", "k5", NULL, 9);
        pipe_ok(td, "tin", "k5", "banana", 10);
        commit_ok(td);
        expect_none(td, "yes");
        pipe_ok(td, "tin", "k5", "acerola", 11);
        pipe_ok(td, "tin", "k5", NULL, 12);
        commit_ok(td);
        expect_none(td, "yes");
        pipe_ok(td, "tin", "k5", "avocado", 13);
        commit_ok(td);
        expect_rec(td, "yes", "k5", "avocado", 13);
        expect_none(td, "yes");
        brook_test_driver_destroy(td);
}

static void table_filter_materialized_run(bool caching)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        brook_table_t *t, *yes, *no;

        t = brook_table(b, "tin", NULL,
                        &(brook_materialized_t){.name = "fruit",
                                                .caching_disabled = true});
        yes = brook_table_filter(
                t, starts_with_a, NULL,
                &(brook_materialized_t){.name = "a-fruit",
                                        .caching_disabled = !caching});
        /* Materialized under a generated name (taken before the node's). */
        no = brook_table_filter_not(
                t, starts_with_a, NULL,
                &(brook_materialized_t){.caching_disabled = !caching});
        assert_string_equal(brook_table_store_name(yes), "a-fruit");
        assert_string_equal(yes->node, "KTABLE-FILTER-0000000002");
        assert_string_equal(brook_table_store_name(no),
                            "KTABLE-FILTER-STATE-STORE-0000000003");
        assert_string_equal(no->node, "KTABLE-FILTER-0000000004");
        brook_stream_to(brook_table_to_stream(yes), "yes", NULL);
        brook_stream_to(brook_table_to_stream(no), "no", NULL);
        td = td_new(b, NULL);
        pipe_fruit(td);

        /* The parent sends old values (it is materialized); each filter
         * takes its own from its store. Auto-commit flushes after each
         * record, so the cache changes nothing. */
        expect_rec(td, "yes", "k1", "apple", 1);
        expect_rec(td, "yes", "k1", "avocado", 3);
        expect_tomb(td, "yes", "k1", 4);
        expect_rec(td, "yes", "k4", "apricot", 6);
        expect_none(td, "yes");
        expect_rec(td, "no", "k2", "banana", 2);
        expect_rec(td, "no", "k1", "berry", 4);
        expect_tomb(td, "no", "k2", 7);
        expect_none(td, "no");

        /* Each store holds only the keys that pass. */
        expect_store(td, "a-fruit", false, "k4=apricot");
        expect_store(td, "KTABLE-FILTER-STATE-STORE-0000000003", false,
                     "k1=berry");
        brook_test_driver_destroy(td);
}

static void test_table_filter_materialized_cache_off(void **state)
{
        (void)state;
        table_filter_materialized_run(false);
}

static void test_table_filter_materialized_cache_on(void **state)
{
        (void)state;
        table_filter_materialized_run(true);
}

static void test_table_map_values(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        brook_table_t *t, *plain, *mat;
        int calls = 0, mat_calls = 0;
        (void)state;

        t = brook_table(b, "tin", NULL,
                        &(brook_materialized_t){.name = "words",
                                                .caching_disabled = true});
        plain = brook_table_map_values(t, upper_len, &calls, NULL);
        mat = brook_table_map_values(
                t, upper_len, &mat_calls,
                &(brook_materialized_t){.name = "upper",
                                        .value_serde = brook_serde_string(),
                                        .caching_disabled = true});
        assert_null(brook_table_store_name(plain));
        assert_string_equal(plain->node, "KTABLE-MAPVALUES-0000000002");
        assert_null(plain->value_serde);
        assert_ptr_equal(mat->value_serde, brook_serde_string());
        brook_stream_to(brook_table_to_stream(plain), "plain", NULL);
        brook_stream_to(brook_table_to_stream(mat), "mat", NULL);
        td = td_new(b, NULL);
        pipe_ok(td, "tin", "k1", "ab", 1);
        pipe_ok(td, "tin", "k2", "xyz", 2);
        pipe_ok(td, "tin", "k1", NULL, 3);
        pipe_ok(td, "tin", "k3", NULL, 4);
        pipe_ok(td, "tin", "k2", "q", 5);
        /* The mapper is not called for tombstones. */
        assert_int_equal(calls, 3);
        assert_int_equal(mat_calls, 3);
        expect_rec(td, "plain", "k1", "AB:2", 1);
        expect_rec(td, "plain", "k2", "XYZ:3", 2);
        expect_tomb(td, "plain", "k1", 3);
        expect_tomb(td, "plain", "k3", 4);
        expect_rec(td, "plain", "k2", "Q:1", 5);
        expect_none(td, "plain");
        expect_rec(td, "mat", "k1", "AB:2", 1);
        expect_rec(td, "mat", "k2", "XYZ:3", 2);
        expect_tomb(td, "mat", "k1", 3);
        expect_tomb(td, "mat", "k3", 4);
        expect_rec(td, "mat", "k2", "Q:1", 5);
        expect_none(td, "mat");
        expect_store(td, "upper", false, "k2=Q:1");
        brook_test_driver_destroy(td);
}

/* --------------------------------------------------------------- changelog */

static void test_changelog_cache_off(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        const char *log = "test-driver-counts-changelog";
        (void)state;

        count_topology(b, &(brook_materialized_t){.name = "counts",
                                                  .caching_disabled = true});
        td = td_new(b, NULL);
        brook_test_driver_set_auto_commit(td, false);
        pipe_ok(td, "in", "a", "1", 10);
        pipe_ok(td, "in", "b", "2", 20);
        pipe_ok(td, "in", "a", "3", 30);
        commit_ok(td);
        expect_i64(td, log, "a", 1, 10);
        expect_i64(td, log, "b", 1, 20);
        expect_i64(td, log, "a", 2, 30);
        expect_none(td, log);
        brook_test_driver_destroy(td);
}

static void test_changelog_cache_on(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        const char *log = "my-app-counts-changelog";
        (void)state;

        count_topology(b, &(brook_materialized_t){.name = "counts"});
        td = td_new(b, conf_new("my-app", true));
        brook_test_driver_set_auto_commit(td, false);
        pipe_ok(td, "in", "a", "1", 10);
        pipe_ok(td, "in", "b", "2", 20);
        pipe_ok(td, "in", "a", "3", 30);
        expect_none(td, log);
        commit_ok(td);
        expect_i64(td, log, "b", 1, 20);
        expect_i64(td, log, "a", 2, 30);
        expect_none(td, log);
        pipe_ok(td, "in", "a", "4", 40);
        commit_ok(td);
        expect_i64(td, log, "a", 3, 40);
        expect_none(td, log);
        expect_none(td, "test-driver-counts-changelog");
        brook_test_driver_destroy(td);
}

/* A table of a topic logs its deletions as tombstones. */
static void test_changelog_table_tombstone(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        const char *log = "test-driver-tstore-changelog";
        (void)state;

        brook_table(b, "tin", NULL,
                    &(brook_materialized_t){.name = "tstore",
                                            .caching_disabled = true});
        td = td_new(b, NULL);
        pipe_ok(td, "tin", "k1", "v1", 1);
        pipe_ok(td, "tin", "k1", NULL, 2);
        expect_rec(td, log, "k1", "v1", 1);
        expect_tomb(td, log, "k1", 2);
        expect_none(td, log);
        brook_test_driver_destroy(td);
}

static void test_changelog_disabled(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        (void)state;

        count_topology(b, &(brook_materialized_t){.name = "counts",
                                                  .logging_disabled = true});
        td = td_new(b, NULL);
        pipe_abaca(td);
        commit_ok(td);
        expect_none(td, "test-driver-counts-changelog");
        expect_i64(td, "out", "a", 1, 10);
        expect_i64(td, "out", "b", 1, 20);
        expect_i64(td, "out", "a", 2, 30);
        expect_i64(td, "out", "c", 1, 40);
        expect_i64(td, "out", "a", 3, 50);
        expect_none(td, "out");
        expect_store(td, "counts", true, "a=3,b=1,c=1");
        brook_test_driver_destroy(td);
}

/* ------------------------------------------------------------------ serdes */

static void expect_storedef(brook_builder_t *b, const char *name,
                            const brook_serde_t *key_serde,
                            const brook_serde_t *value_serde)
{
        brook__storedef_t *def = brook__builder_store(b, name);

        if (!def)
                fail_msg("no store \"%s\"", name);
        assert_ptr_equal(def->key_serde, key_serde);
        assert_ptr_equal(def->value_serde, value_serde);
}

static void test_serdes(void **state)
{
        brook_builder_t *b = brook_builder_new();
        const brook_serde_t *str = brook_serde_string(),
                            *i32 = brook_serde_int32(),
                            *i64 = brook_serde_int64(),
                            *dbl = brook_serde_double(),
                            *bytes = brook_serde_bytes(),
                            *json = brook_serde_json();
        brook_stream_t *in;
        brook_grouped_t *g;
        brook_table_t *t, *u;
        brook__node_t *node;
        (void)state;

        in = brook_stream(
                b, "in",
                &(brook_consumed_t){.key_serde = str, .value_serde = bytes});

        /* group_by: the grouping's serdes on the repartition topic and the
         * store; count's values are int64. */
        t = brook_grouped_count(
                brook_stream_group_by(in, first_char_key, NULL,
                                      &(brook_grouping_t){.name = "g",
                                                          .key_serde = i32,
                                                          .value_serde = dbl}),
                &(brook_materialized_t){.name = "c1"});
        node = brook__builder_node(b, "g-repartition-sink");
        assert_non_null(node);
        assert_ptr_equal(node->key_serde, i32);
        assert_ptr_equal(node->value_serde, dbl);
        node = brook__builder_node(b, "g-repartition-source");
        assert_non_null(node);
        assert_ptr_equal(node->key_serde, i32);
        assert_ptr_equal(node->value_serde, dbl);
        expect_storedef(b, "c1", i32, i64);
        assert_ptr_equal(t->key_serde, i32);
        assert_ptr_equal(t->value_serde, i64);

        /* group_by without serdes: the selected key's is unknown. */
        t = brook_grouped_reduce(
                brook_stream_group_by(in, first_char_key, NULL, NULL),
                concat_reducer, NULL, &(brook_materialized_t){.name = "r0"});
        node = brook__builder_node(b, "r0-repartition-sink");
        assert_non_null(node);
        assert_null(node->key_serde);
        assert_ptr_equal(node->value_serde, bytes);
        expect_storedef(b, "r0", NULL, bytes);

        /* group_by_key: the stream's serdes; reduce keeps the values'. */
        g = brook_stream_group_by_key(in, NULL);
        t = brook_grouped_reduce(g, concat_reducer, NULL,
                                 &(brook_materialized_t){.name = "r1"});
        expect_storedef(b, "r1", str, bytes);
        assert_ptr_equal(t->key_serde, str);
        assert_ptr_equal(t->value_serde, bytes);
        /* aggregate: the aggregate's serde is unknown unless m says. */
        t = brook_grouped_aggregate(g, zero_init, sum_aggregator, NULL,
                                    &(brook_materialized_t){.name = "a1"});
        expect_storedef(b, "a1", str, NULL);
        assert_null(t->value_serde);
        t = brook_grouped_aggregate(
                g, zero_init, sum_aggregator, NULL,
                &(brook_materialized_t){
                        .name = "a2", .key_serde = i32, .value_serde = json});
        expect_storedef(b, "a2", i32, json);
        assert_ptr_equal(t->key_serde, i32);
        assert_ptr_equal(t->value_serde, json);
        /* A grouping's serdes count without a repartition too. */
        t = brook_grouped_count(
                brook_stream_group_by_key(
                        in, &(brook_grouping_t){.key_serde = i32}),
                &(brook_materialized_t){.name = "c2"});
        expect_storedef(b, "c2", i32, i64);

        /* Tables: the consumed serdes, map_values forgets the values'. */
        t = brook_table(
                b, "tin",
                &(brook_consumed_t){.key_serde = str, .value_serde = bytes},
                &(brook_materialized_t){.name = "t1"});
        expect_storedef(b, "t1", str, bytes);
        assert_ptr_equal(t->key_serde, str);
        assert_ptr_equal(t->value_serde, bytes);
        u = brook_table_filter(t, starts_with_a, NULL,
                               &(brook_materialized_t){.name = "t2"});
        expect_storedef(b, "t2", str, bytes);
        assert_ptr_equal(u->value_serde, bytes);
        u = brook_table_map_values(t, upper_len, NULL,
                                   &(brook_materialized_t){.name = "t3"});
        expect_storedef(b, "t3", str, NULL);
        assert_ptr_equal(u->key_serde, str);
        assert_null(u->value_serde);
        in = brook_table_to_stream(u);
        assert_ptr_equal(in->key_serde, str);
        assert_null(in->value_serde);
        assert_false(in->key_changed);
        assert_null(brook_builder_error(b));
        brook_builder_destroy(b);
}

/* ------------------------------------------------------------- bad set-ups */

/* Both the driver and the app refuse @p b with a message containing
 * @p want and @p want2 (may be NULL); @p b is destroyed. */
static void expect_refused(brook_builder_t *b, bool value_serde,
                           const char *want, const char *want2)
{
        brook_conf_t *conf = conf_new("bad-setup", value_serde);
        brook_app_t *app;
        char err[512] = "";

        assert_null(brook_test_driver_new(b, conf, 0, err, sizeof err));
        if (!strstr(err, want) || (want2 && !strstr(err, want2)))
                fail_msg("driver: unexpected error: %s", err);
        assert_int_equal(brook_conf_set(conf, "bootstrap.servers",
                                        "127.0.0.1:1", err, sizeof err),
                         BROOK_OK);
        err[0] = '\0';
        app = brook_app_new(b, conf, err, sizeof err);
        if (app) {
                brook_app_destroy(app);
                fail_msg("brook_app_new accepted the topology");
        }
        if (!strstr(err, want) || (want2 && !strstr(err, want2)))
                fail_msg("app: unexpected error: %s", err);
        brook_conf_destroy(conf);
        brook_builder_destroy(b);
}

static void test_duplicate_store_name(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_grouped_t *g;
        (void)state;

        g = brook_stream_group_by_key(brook_stream(b, "in", NULL), NULL);
        assert_non_null(brook_grouped_count(
                g, &(brook_materialized_t){.name = "twice"}));
        assert_null(
                brook_grouped_reduce(g, concat_reducer, NULL,
                                     &(brook_materialized_t){.name = "twice"}));
        expect_refused(b, true, "twice", NULL);
}

static void test_aggregate_without_value_serde(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *in;
        (void)state;

        /* The source says its serdes; the aggregate's has none, and the
         * conf has no default.value.serde. */
        in = brook_stream(
                b, "in",
                &(brook_consumed_t){.key_serde = brook_serde_string(),
                                    .value_serde = brook_serde_string()});
        assert_non_null(brook_grouped_aggregate(
                brook_stream_group_by_key(in, NULL), zero_init, sum_aggregator,
                NULL, &(brook_materialized_t){.name = "sums"}));
        expect_refused(b, false, "sums", "serde");
}

static void test_null_arguments(void **state)
{
        brook_builder_t *b;
        brook_stream_t *in;
        brook_grouped_t *g;
        brook_table_t *t;
        (void)state;

        assert_null(brook_stream_group_by_key(NULL, NULL));
        assert_null(brook_stream_group_by(NULL, first_char_key, NULL, NULL));
        assert_null(brook_grouped_count(NULL, NULL));
        assert_null(brook_grouped_reduce(NULL, concat_reducer, NULL, NULL));
        assert_null(brook_grouped_aggregate(NULL, zero_init, sum_aggregator,
                                            NULL, NULL));
        assert_null(brook_table(NULL, "t", NULL, NULL));
        assert_null(brook_table_filter(NULL, starts_with_a, NULL, NULL));
        assert_null(brook_table_filter_not(NULL, starts_with_a, NULL, NULL));
        assert_null(brook_table_map_values(NULL, upper_len, NULL, NULL));
        assert_null(brook_table_to_stream(NULL));
        assert_null(brook_table_store_name(NULL));

        b = brook_builder_new();
        in = brook_stream(b, "in", NULL);
        assert_null(brook_stream_group_by(in, NULL, NULL, NULL));
        assert_string_equal(brook_builder_error(b),
                            "brook_stream_group_by: key selector is NULL");
        brook_builder_destroy(b);

        b = brook_builder_new();
        g = brook_stream_group_by_key(brook_stream(b, "in", NULL), NULL);
        assert_null(brook_grouped_reduce(g, NULL, NULL, NULL));
        assert_string_equal(brook_builder_error(b),
                            "brook_grouped_reduce: reducer is NULL");
        brook_builder_destroy(b);

        b = brook_builder_new();
        g = brook_stream_group_by_key(brook_stream(b, "in", NULL), NULL);
        assert_null(
                brook_grouped_aggregate(g, NULL, sum_aggregator, NULL, NULL));
        assert_string_equal(brook_builder_error(b),
                            "brook_grouped_aggregate: initializer is NULL");
        brook_builder_destroy(b);

        b = brook_builder_new();
        assert_null(brook_table(b, NULL, NULL, NULL));
        assert_string_equal(brook_builder_error(b),
                            "brook_table: topic is NULL");
        brook_builder_destroy(b);

        b = brook_builder_new();
        t = brook_table(b, "tin", NULL, NULL);
        assert_null(brook_table_filter(t, NULL, NULL, NULL));
        assert_string_equal(brook_builder_error(b),
                            "brook_table_filter: predicate is NULL");
        brook_builder_destroy(b);

        b = brook_builder_new();
        t = brook_table(b, "tin", NULL, NULL);
        assert_null(brook_table_map_values(t, NULL, NULL, NULL));
        assert_string_equal(brook_builder_error(b),
                            "brook_table_map_values: mapper is NULL");
        brook_builder_destroy(b);

        b = brook_builder_new();
        g = brook_stream_group_by_key(brook_stream(b, "in", NULL), NULL);
        assert_null(
                brook_grouped_count(g, &(brook_materialized_t){.name = ""}));
        assert_string_equal(brook_builder_error(b),
                            "brook_grouped_count: the materialized store name "
                            "is empty");
        brook_builder_destroy(b);
}

/* ------------------------------------------- failures below and downstream */

static int lookup_fails;

/* Fails with BROOK_ERR_NOT_FOUND while lookup_fails is set. */
static brook_err_t lookup_process(brook_ctx_t *ctx, brook_record_t *rec,
                                  void *state, char *errstr, size_t errstr_size)
{
        (void)state;
        if (lookup_fails) {
                snprintf(errstr, errstr_size, "lookup missed");
                return BROOK_ERR_NOT_FOUND;
        }
        return brook_ctx_forward(ctx, rec, errstr, errstr_size);
}

/* A count's read that evicts a cached entry whose forward fails with
 * BROOK_ERR_NOT_FOUND must fail the record, not read as "key absent" (which
 * would restart the count). */
static void test_eviction_failure_is_not_absence(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_conf_t *conf = conf_new(NULL, true);
        brook_test_driver_t *td;
        char err[1024] = "";
        void *v = NULL;
        (void)state;

        assert_int_equal(brook_conf_set(conf, "statestore.cache.max.bytes",
                                        "100", err, sizeof err),
                         BROOK_OK);
        brook_stream_to(
                brook_stream_process(
                        brook_table_to_stream(brook_grouped_count(
                                brook_stream_group_by_key(
                                        brook_stream(b, "in", NULL), NULL),
                                &(brook_materialized_t){
                                        .name = "counts",
                                        .supplier = brook_kvstore_in_memory(),
                                        .logging_disabled = true})),
                        &(brook_processor_def_t){.process = lookup_process},
                        "lookup"),
                "out", NULL);
        td = td_new(b, conf);
        brook_test_driver_set_auto_commit(td, false);
        pipe_ok(td, "in", "a", "v", 10);
        assert_int_equal(brook_test_driver_commit(td, err, sizeof err),
                         BROOK_OK);
        pipe_ok(td, "in", "b", "v", 10);
        lookup_fails = 1;
        assert_int_equal(brook_test_driver_pipe(td, "in", "a", 1, "v", 1, 10,
                                                NULL, 0, err, sizeof err),
                         BROOK_ERR_FATAL);
        lookup_fails = 0;
        assert_string_equal(
                err, "processing error at topic \"in\" partition 0 offset 2 "
                     "(task 0_0): in node \"KSTREAM-AGGREGATE-0000000001\": "
                     "store \"counts\": forwarding: in node \"lookup\": "
                     "lookup missed");
        /* The count of "a" was not restarted from nothing. */
        assert_int_equal(
                brook_kvstore_get(brook_test_driver_kvstore(td, "counts"), "a",
                                  &v, NULL, 0),
                BROOK_OK);
        assert_int_equal(*(int64_t *)v, 1);
        brook_test_driver_destroy(td);
}

/* A user's inner store that fails without a reason. */
static brook_err_t mute_get(void *self, const void *key, size_t key_size,
                            brook_buf_t *out, char *errstr, size_t errstr_size)
{
        (void)self;
        (void)key;
        (void)key_size;
        (void)out;
        (void)errstr;
        (void)errstr_size;
        return BROOK_ERR_STATE;
}

static uint64_t mute_count(void *self)
{
        (void)self;
        return 0;
}

static void mute_close(void *self)
{
        (void)self;
}

static const brook_kvstore_ops_t mute_ops = {.kind = "mute",
                                             .get = mute_get,
                                             .approximate_count = mute_count,
                                             .close = mute_close};

static brook_err_t mute_open(const brook_kvstore_open_t *info, void *opaque,
                             void **selfp, const brook_kvstore_ops_t **opsp,
                             char *errstr, size_t errstr_size)
{
        (void)info;
        (void)opaque;
        (void)errstr;
        (void)errstr_size;
        *selfp = NULL;
        *opsp = &mute_ops;
        return BROOK_OK;
}

static const brook_kvstore_supplier_t mute_supplier = {.open = mute_open};

static void test_inner_store_without_reason(void **state)
{
        brook_builder_t *b = brook_builder_new();
        brook_test_driver_t *td;
        char err[1024] = "";
        (void)state;

        brook_grouped_count(
                brook_stream_group_by_key(brook_stream(b, "in", NULL), NULL),
                &(brook_materialized_t){.name = "mute",
                                        .supplier = &mute_supplier,
                                        .logging_disabled = true,
                                        .caching_disabled = true});
        td = td_new(b, NULL);
        assert_int_equal(brook_test_driver_pipe(td, "in", "x", 1, "v", 1, 10,
                                                NULL, 0, err, sizeof err),
                         BROOK_ERR_FATAL);
        assert_string_equal(
                err, "processing error at topic \"in\" partition 0 offset 0 "
                     "(task 0_0): in node \"KSTREAM-AGGREGATE-0000000001\": "
                     "store \"mute\": read: no reason given");
        brook_test_driver_destroy(td);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_count_cache_off),
                cmocka_unit_test(test_count_cache_on_commit),
                cmocka_unit_test(test_count_cache_eviction),
                cmocka_unit_test(test_count_cache_on_auto_commit),
                cmocka_unit_test(test_count_drops_null_key_value),
                cmocka_unit_test(test_count_table_filter),
                cmocka_unit_test(test_count_filter_initializer_old_cache_off),
                cmocka_unit_test(test_count_filter_initializer_old_cache_on),
                cmocka_unit_test(test_aggregate_timestamps_cache_off),
                cmocka_unit_test(test_aggregate_timestamps_cache_on),
                cmocka_unit_test(test_reduce_timestamps),
                cmocka_unit_test(test_reduce_cache_off),
                cmocka_unit_test(test_reduce_cache_on),
                cmocka_unit_test(test_aggregate_cache_off),
                cmocka_unit_test(test_aggregate_cache_on),
                cmocka_unit_test(test_aggregate_null_result),
                cmocka_unit_test(test_eviction_failure_is_not_absence),
                cmocka_unit_test(test_inner_store_without_reason),
                cmocka_unit_test(test_group_by_repartition),
                cmocka_unit_test(test_group_by_generated_names),
                cmocka_unit_test(test_group_by_key_after_map),
                cmocka_unit_test(test_group_by_key_no_repartition),
                cmocka_unit_test(test_table_tombstones_cache_off),
                cmocka_unit_test(test_table_tombstones_cache_on),
                cmocka_unit_test(test_table_cache_collapses),
                cmocka_unit_test(test_table_unnamed_does_not_cache),
                cmocka_unit_test(test_cache_skips_absent_tombstones),
                cmocka_unit_test(test_table_filter),
                cmocka_unit_test(test_table_filter_old_values),
                cmocka_unit_test(test_table_filter_old_values_cached),
                cmocka_unit_test(test_table_filter_materialized_cache_off),
                cmocka_unit_test(test_table_filter_materialized_cache_on),
                cmocka_unit_test(test_table_map_values),
                cmocka_unit_test(test_changelog_cache_off),
                cmocka_unit_test(test_changelog_cache_on),
                cmocka_unit_test(test_changelog_table_tombstone),
                cmocka_unit_test(test_changelog_disabled),
                cmocka_unit_test(test_serdes),
                cmocka_unit_test(test_duplicate_store_name),
                cmocka_unit_test(test_aggregate_without_value_serde),
                cmocka_unit_test(test_null_arguments),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
