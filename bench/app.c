/*
 * brook-bench-app — brook's side of the pipe and state benchmarks: a
 * topology built with the public API, run until it has done what the
 * workload must do.
 *
 *   brook-bench-app --bootstrap B --input T --output O --records N
 *                   --workload passthrough|filter-map|count|hopping-count|
 *                              session-count [--threads 1]
 *                   [--app-id ID] [--timeout 600] [--brook-defaults]
 *                   [-X <brook property>=<value>]...
 *   brook-bench-app --bootstrap B --input T --other T2 --output O
 *                   --records N --expect-output M --workload st-join|ss-join
 *                   [--threads 1] [--app-id ID] [--timeout 600]
 *                   [--brook-defaults] [-X <brook property>=<value>]...
 *   brook-bench-app --bootstrap B --input T --output O --records N
 *                   --workload avro-passthrough|avro-count
 *                   -X schema.registry.url=URL [--avro-schema FILE]
 *                   [--threads 1] [--app-id ID] [--timeout 600]
 *                   [--brook-defaults] [-X <brook property>=<value>]...
 *   brook-bench-app --bootstrap B --input T --output O --app-id ID
 *                   --workload restore --expect-restored N [--keys K]
 *                   [--key-format F] [--threads 1] [--timeout 600]
 *                   [--brook-defaults] [-X <brook property>=<value>]...
 *
 * With --stop-file PATH any workload but restore runs until PATH exists
 * instead of until N records are processed, and reports what it processed
 * (one of several instances sharing the input, as in bench/run-http).
 *
 * Workloads (records.h, state.h):
 *   passthrough  source (bytes, bytes) → sink (bytes, bytes)
 *   filter-map   source → filter (sequence number even) → map_values
 *                (upper-cased copy in the record's arena) → sink
 *   count        source (string, bytes) → group_by_key → count into the
 *                store "counts" (string, int64; RocksDB with caching, the
 *                defaults) → to_stream → sink (string, int64). Done when N
 *                input records are processed; close then flushes the
 *                cache, so the output holds every key's final count
 *                (brook-bench-load --verify-counts checks it).
 *   hopping-count, session-count
 *                source (string, bytes) → group_by_key → windowed_by
 *                (hopping: 1 s windows every 500 ms, grace 1 s; session:
 *                gap 5 s, grace 1 s; state.h) → count into the window
 *                (session) store "counts" (RocksDB, cached) → to_stream →
 *                sink (Kafka Streams' time- or session-windowed string key,
 *                int64). Done, as count, when N input records are
 *                processed; the output holds every window's (session's)
 *                final count (brook-bench-load --verify-windows checks
 *                it).
 *   st-join      source T (string, string) → join (brook_stream_join_table)
 *                with the table of T2 (string, string; its store RocksDB,
 *                cached as Kafka Streams caches a joined source table) →
 *                sink (string, string); the joiner's value is the stream's
 *                value, '|', the table's (join.h).
 *   ss-join      source T → join (brook_stream_join) with source T2 within
 *                brook_join_windows(10 s, 60 s grace) (join.h), the join
 *                stores RocksDB → sink; value left '|' right.
 *                For both joins N is every input record (st-join: the
 *                events and the table rows; ss-join: both streams) and M
 *                the join's output count. Done when N input records are
 *                processed (the table's rows are older than every event,
 *                so they come first); the close then flushes the
 *                producer. The app checks that it produced exactly M
 *                records and dropped none; brook-bench-load --verify-join
 *                checks the output itself.
 *   avro-passthrough
 *                source (bytes, Avro) → sink (bytes, Avro): every value
 *                decoded by brook_serde_avro_new() (an avro_value_t, the
 *                writer's schema resolved to FILE's, default
 *                bench/record.avsc) and encoded again for the output topic
 *                (its schema registered under "<O>-value" on first use).
 *                Done as passthrough; brook-bench-load --verify-avro
 *                checks every output record.
 *   avro-count   count's topology with Avro input values: source (string,
 *                Avro) → group_by_key → count → sink (string, int64), every
 *                value decoded at the source. Done and checked as count.
 *                Both read the Schema Registry at schema.registry.url, the
 *                app's property.
 *   restore      the count topology, started on an empty state dir with
 *                the changelog "<ID>-counts-changelog" already holding N
 *                records (brook-bench-load --format count --compact).
 *                Done when N changelog records are restored and no store
 *                is restoring. It then reads ten keys and one absent key
 *                back through brook_app_store_get(): key number k of
 *                --key-format F (default "k%u", records.h's keys) must
 *                hold state.h's count for N records over K keys (default
 *                K = N, every count 1).
 *
 * Without --brook-defaults, the client settings of clients.c that brook does
 * not own are passed as `consumer.` / `producer.` properties, forcing the
 * raw loop's settings on brook; --brook-defaults (what run-pipe uses)
 * leaves them out, to measure brook as it ships. The two are the same
 * today (clients.c mirrors brook's defaults).
 *
 * Prints to stdout, for passthrough, filter-map and avro-passthrough,
 *   RESULT records=<n> seconds=<s> processed=<n> produced_seconds=<s>
 *          close_seconds=<s>
 * where records is the output count, seconds runs from the first record
 * processed until brook_app_close() returned (it flushes the producer, so
 * every record is delivered by then; it also commits and leaves the group,
 * which the raw loop's figure does not include), produced_seconds until the
 * sinks had sent the last record, and close_seconds is the close alone;
 * for count, avro-count, hopping-count, session-count, st-join and ss-join,
 *   RESULT records=<n> seconds=<s> processed=<n> produced=<n>
 *          processed_seconds=<s> close_seconds=<s>
 * where records is the input count, seconds runs from the first record
 * processed until the close returned (the close flushes the cache, so the
 * output is complete by then), processed_seconds until the last record was
 * processed, and produced is the output count (the cache makes it depend
 * on timing); for restore,
 *   RESULT records=<n> seconds=<s> restored=<n> restore_seconds=<s>
 *          startup_seconds=<s> close_seconds=<s>
 * where seconds runs from brook_app_start() until the stats showed N
 * records restored and no store restoring (checked every 2 ms), and
 * restore_seconds from the first record restored until then: seconds less
 * the start-up (topic checks, group join, opening RocksDB), which is
 * startup_seconds.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <brook/avro.h>
#include <brook/brook.h>

#include "clients.h"
#include "join.h"
#include "records.h"
#include "state.h"

static const char *prog = "brook-bench-app";

/* The store of count and restore; it names the changelog. */
#define COUNT_STORE "counts"

/* How long restore's check waits for a store to answer queries. */
#define QUERY_WAIT_S 10

typedef enum app_workload_e {
        APP_PIPE,       /* passthrough, filter-map: records.h */
        APP_COUNT,      /* count by key */
        APP_RESTORE,    /* count's store, restored from its changelog */
        APP_HOPPING,    /* count by key in hopping windows (state.h) */
        APP_SESSION,    /* count by key in session windows (state.h) */
        APP_ST_JOIN,    /* stream-table join (join.h) */
        APP_SS_JOIN,    /* stream-stream join (join.h) */
        APP_AVRO_PIPE,  /* avro-passthrough: decode and encode (Avro) */
        APP_AVRO_COUNT, /* avro-count: count by key, Avro values */
} app_workload_t;

static bool is_avro(app_workload_t w)
{
        return w == APP_AVRO_PIPE || w == APP_AVRO_COUNT;
}

/* The pipes: done once their expected output is sent. */
static bool is_pipe(app_workload_t w)
{
        return w == APP_PIPE || w == APP_AVRO_PIPE;
}

static bool is_join(app_workload_t w)
{
        return w == APP_ST_JOIN || w == APP_SS_JOIN;
}

/* Counts every input record: the workloads that stop once N are. */
static bool counts_input(app_workload_t w)
{
        return w == APP_COUNT || w == APP_AVRO_COUNT || w == APP_HOPPING ||
               w == APP_SESSION || is_join(w);
}

/* Values the filter could not read: the input is not the loader's. */
static atomic_uint_fast64_t unreadable;

static void usage(FILE *out)
{
        fprintf(out,
                "usage: %s --bootstrap B --input T --output O --records N\n"
                "          --workload passthrough|filter-map|count|"
                "hopping-count|session-count\n"
                "          [--threads 1]\n"
                "          [--app-id ID] [--timeout 600] [--brook-defaults]\n"
                "          [-X <brook property>=<value>]...\n"
                "       %s --bootstrap B --input T --other T2 --output O"
                " --records N\n"
                "          --expect-output M --workload st-join|ss-join"
                " [--threads 1]\n"
                "          [--app-id ID] [--timeout 600] [--brook-defaults]\n"
                "          [-X <brook property>=<value>]...\n"
                "       %s --bootstrap B --input T --output O --records N\n"
                "          --workload avro-passthrough|avro-count"
                " -X schema.registry.url=URL\n"
                "          [--avro-schema FILE] [--threads 1] [--app-id ID]"
                " [--timeout 600]\n"
                "          [--brook-defaults]"
                " [-X <brook property>=<value>]...\n"
                "       %s --bootstrap B --input T --output O --app-id ID\n"
                "          --workload restore --expect-restored N [--keys K]"
                " [--key-format F]\n"
                "          [--threads 1] [--timeout 600] [--brook-defaults]\n"
                "          [-X <brook property>=<value>]...\n",
                prog, prog, prog, prog);
}

static void sleep_ms(long ms)
{
        struct timespec ts = {.tv_sec = ms / 1000,
                              .tv_nsec = (ms % 1000) * 1000000L};

        while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
                ;
}

/* filter-map's predicate: the record's sequence number is even. */
static bool keep_record(const brook_record_t *rec, void *opaque)
{
        const brook_bytes_t *value = brook_record_value(rec);
        uint64_t seq;

        (void)opaque;
        if (!value || bench_value_seq(value->data, value->size, &seq)) {
                atomic_fetch_add_explicit(&unreadable, 1, memory_order_relaxed);
                return false;
        }
        return bench_filter_keep(seq);
}

/* filter-map's mapper: an upper-cased copy, living as long as the record. */
static void *map_value(const brook_record_t *rec, void *opaque)
{
        const brook_bytes_t *value = brook_record_value(rec);

        (void)opaque;
        if (!value)
                return NULL;
        /* One allocation for the header and the bytes; the arena aligns to
         * 16 bytes and the header is 16 bytes, so the data stays aligned. */
        brook_bytes_t *out = brook_record_alloc(rec, sizeof *out + value->size);
        unsigned char *data = (unsigned char *)(out + 1);
        bench_map_value(value->data, data, value->size);
        out->data = data;
        out->size = value->size;
        return out;
}

/* The joins' joiner: left, '|', right (strings), in the record's arena. */
static void *join_values(const brook_record_t *rec, void *left, void *right,
                         void *opaque)
{
        size_t l = strlen(left), r = strlen(right);
        char *out = brook_record_alloc(rec, l + 1 + r + 1);

        (void)opaque;
        memcpy(out, left, l);
        out[l] = BENCH_JOIN_SEP;
        memcpy(out + l + 1, right, r + 1);
        return out;
}

static brook_builder_t *topology(const char *input, const char *other,
                                 const char *output,
                                 app_workload_t app_workload,
                                 bench_workload_t workload,
                                 const brook_serde_t *avro)
{
        brook_builder_t *b = brook_builder_new();
        if (!b)
                return NULL;

        if (app_workload == APP_AVRO_PIPE) {
                /* Decoded at the source, encoded again at the sink. */
                brook_stream_t *s = brook_stream(
                        b, input,
                        &(brook_consumed_t){.key_serde = brook_serde_bytes(),
                                            .value_serde = avro});
                brook_stream_to(
                        s, output,
                        &(brook_produced_t){.key_serde = brook_serde_bytes(),
                                            .value_serde = avro});
        } else if (is_join(app_workload)) {
                /* Kafka Streams' topologies of KStreamsBench.java, with
                 * every store and cache setting left to the defaults. */
                const brook_consumed_t strings = {
                        .key_serde = brook_serde_string(),
                        .value_serde = brook_serde_string()};
                brook_stream_t *s = brook_stream(b, input, &strings), *j;
                if (app_workload == APP_ST_JOIN) {
                        brook_table_t *t =
                                brook_table(b, other, &strings, NULL);
                        j = brook_stream_join_table(s, t, join_values, NULL,
                                                    NULL);
                } else {
                        brook_join_windows_t w = brook_join_windows(
                                BENCH_SS_WINDOW_MS, BENCH_SS_GRACE_MS);
                        j = brook_stream_join(s,
                                              brook_stream(b, other, &strings),
                                              join_values, NULL, &w, NULL);
                }
                brook_stream_to(j, output,
                                &(brook_produced_t){
                                        .key_serde = brook_serde_string(),
                                        .value_serde = brook_serde_string()});
        } else if (app_workload == APP_PIPE) {
                brook_stream_t *s = brook_stream(
                        b, input,
                        &(brook_consumed_t){.key_serde = brook_serde_bytes(),
                                            .value_serde =
                                                    brook_serde_bytes()});
                if (workload == BENCH_WORKLOAD_FILTER_MAP) {
                        s = brook_stream_filter(s, keep_record, NULL);
                        s = brook_stream_map_values(s, map_value, NULL);
                }
                brook_stream_to(s, output,
                                &(brook_produced_t){
                                        .key_serde = brook_serde_bytes(),
                                        .value_serde = brook_serde_bytes()});
        } else if (app_workload == APP_HOPPING || app_workload == APP_SESSION) {
                /* Kafka Streams' topology of KStreamsBench.java; the store
                 * is a window (session) store, RocksDB and cached, as
                 * count's, with the default retention (size + grace). */
                bool session = app_workload == APP_SESSION;
                brook_windows_t w =
                        session ? brook_windows_session(BENCH_SESSION_GAP_MS,
                                                        BENCH_SESSION_GRACE_MS)
                                : brook_windows_hopping(BENCH_HOP_SIZE_MS,
                                                        BENCH_HOP_ADVANCE_MS,
                                                        BENCH_HOP_GRACE_MS);
                char errstr[512];
                brook_stream_t *s = brook_stream(
                        b, input,
                        &(brook_consumed_t){.key_serde = brook_serde_string(),
                                            .value_serde =
                                                    brook_serde_bytes()});
                brook_table_t *counts = brook_windowed_count(
                        brook_grouped_windowed_by(
                                brook_stream_group_by_key(s, NULL), &w),
                        &(brook_materialized_t){
                                .name = COUNT_STORE,
                                .key_serde = brook_serde_string(),
                                .value_serde = brook_serde_int64()});
                /* Kafka Streams' windowed key bytes, so that one check
                 * reads both engines' output. */
                brook_serde_t *wserde =
                        session ? brook_serde_session_windowed(
                                          brook_serde_string(), errstr,
                                          sizeof errstr)
                                : brook_serde_time_windowed(
                                          brook_serde_string(),
                                          BENCH_HOP_SIZE_MS, errstr,
                                          sizeof errstr);
                if (!wserde) {
                        fprintf(stderr, "%s: the windowed serde: %s\n", prog,
                                errstr);
                        brook_builder_destroy(b);
                        return NULL;
                }
                brook_stream_to(brook_table_to_stream(counts), output,
                                &(brook_produced_t){
                                        .key_serde = wserde,
                                        .value_serde = brook_serde_int64()});
                brook_serde_destroy(wserde);
        } else {
                /* The store's supplier and caching are left to the
                 * defaults (RocksDB, cached): the benchmark measures them.
                 * avro-count decodes every value at the source. */
                brook_stream_t *s = brook_stream(
                        b, input,
                        &(brook_consumed_t){
                                .key_serde = brook_serde_string(),
                                .value_serde =
                                        avro ? avro : brook_serde_bytes()});
                brook_table_t *counts = brook_grouped_count(
                        brook_stream_group_by_key(s, NULL),
                        &(brook_materialized_t){
                                .name = COUNT_STORE,
                                .key_serde = brook_serde_string(),
                                .value_serde = brook_serde_int64()});
                brook_stream_to(brook_table_to_stream(counts), output,
                                &(brook_produced_t){
                                        .key_serde = brook_serde_string(),
                                        .value_serde = brook_serde_int64()});
        }

        /* A failed call anywhere in the chain is recorded in the builder. */
        const char *err = brook_builder_error(b);
        if (err) {
                fprintf(stderr, "%s: building the topology failed: %s\n", prog,
                        err);
                brook_builder_destroy(b);
                return NULL;
        }
        return b;
}

static int conf_set(brook_conf_t *conf, const char *name, const char *value)
{
        char errstr[512];

        if (brook_conf_set(conf, name, value, errstr, sizeof errstr) !=
            BROOK_OK) {
                fprintf(stderr, "%s: %s\n", prog, errstr);
                return -1;
        }
        return 0;
}

/* The clients.c settings brook does not own, as brook properties. */
static int conf_set_clients(brook_conf_t *conf)
{
        for (const bench_client_setting_t *s = bench_client_settings; s->name;
             s++) {
                char name[256];
                if (s->brook_owns)
                        continue;
                snprintf(name, sizeof name, "%s.%s",
                         s->client == BENCH_CLIENT_CONSUMER ? "consumer"
                                                            : "producer",
                         s->name);
                if (conf_set(conf, name, s->value))
                        return -1;
        }
        return 0;
}

/*
 * The avro-* workloads' value serde: bench/record.avsc (or @p path) as the
 * reader's schema, the registry at @p conf's schema.registry.url. The
 * serde keeps the registry client.
 */
static brook_serde_t *avro_serde_new(const brook_conf_t *conf, const char *path)
{
        char errstr[512], *text = NULL;
        brook_schema_registry_t *sr = NULL;
        brook_serde_t *serde = NULL;
        FILE *f = fopen(path, "rb");
        long size = -1;

        if (!f || fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 ||
            fseek(f, 0, SEEK_SET) || !(text = malloc((size_t)size + 1)) ||
            fread(text, 1, (size_t)size, f) != (size_t)size) {
                fprintf(stderr, "%s: cannot read %s: %s\n", prog, path,
                        strerror(errno ? errno : EIO));
                goto out;
        }
        text[size] = '\0';
        if (!(sr = brook_schema_registry_new(conf, errstr, sizeof errstr)))
                fprintf(stderr, "%s: the Schema Registry: %s\n", prog, errstr);
        else if (!(serde = brook_serde_avro_new(sr, text, false, errstr,
                                                sizeof errstr)))
                fprintf(stderr, "%s: %s: %s\n", prog, path, errstr);
out:
        brook_schema_registry_destroy(sr);
        free(text);
        if (f)
                fclose(f);
        return serde;
}

/*
 * restore's check: ten keys spread over the key numbers must hold their
 * counts, and one key past them must be absent. Queries fail with
 * BROOK_ERR_STATE until the tasks are running, so that is retried.
 */
static int check_restored(brook_app_t *app, uint64_t restored, uint64_t keys,
                          const bench_keyfmt_t *kf)
{
        brook_arena_t *arena = brook_arena_new();
        char key[sizeof kf->prefix + sizeof kf->suffix + 24], errstr[512];
        int bad = 0;

        fprintf(stderr, "%s: restore: sample:", prog);
        for (uint64_t i = 0; i <= 10; i++) {
                /* The eleventh is key number keys: one too many. */
                uint64_t k = i < 10 ? (i * keys / 10 + i) % keys : keys;
                int64_t want = i < 10 ? bench_key_count(restored, keys, k) : 0;
                void *value = NULL;
                brook_err_t err;
                double until = bench_now() + QUERY_WAIT_S;

                bench_keyfmt_key(kf, k, key, sizeof key);
                while ((err = brook_app_store_get(
                                app, COUNT_STORE, key, arena, &value, errstr,
                                sizeof errstr)) == BROOK_ERR_STATE &&
                       bench_now() < until)
                        sleep_ms(10);
                if (err == BROOK_OK && value) {
                        int64_t got = *(int64_t *)value;
                        fprintf(stderr, " %s=%" PRId64 "/%" PRId64, key, got,
                                want);
                        bad += i == 10 || got != want;
                } else if (err == BROOK_ERR_NOT_FOUND) {
                        fprintf(stderr, " %s=absent/%s", key,
                                i == 10 ? "absent" : "present");
                        bad += i < 10;
                } else {
                        fprintf(stderr, " %s=error\n", key);
                        fprintf(stderr, "%s: querying \"%s\" for %s: %s\n",
                                prog, COUNT_STORE, key, errstr);
                        bad++;
                        break;
                }
                brook_arena_reset(arena);
        }
        if (!bad)
                fprintf(stderr, " (restored / expected): all right\n");
        brook_arena_destroy(arena);
        if (bad)
                fprintf(stderr,
                        "\n%s: restore: %d of 11 keys read back wrong\n", prog,
                        bad);
        return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
        enum {
                OPT_BOOTSTRAP = 1,
                OPT_INPUT,
                OPT_OUTPUT,
                OPT_RECORDS,
                OPT_WORKLOAD,
                OPT_EXPECT_RESTORED,
                OPT_KEYS,
                OPT_KEY_FORMAT,
                OPT_THREADS,
                OPT_APP_ID,
                OPT_TIMEOUT,
                OPT_BROOK_DEFAULTS,
                OPT_OTHER,
                OPT_EXPECT_OUTPUT,
                OPT_STOP_FILE,
                OPT_AVRO_SCHEMA,
                OPT_HELP
        };
        static const struct option longopts[] = {
                {"bootstrap", required_argument, NULL, OPT_BOOTSTRAP},
                {"input", required_argument, NULL, OPT_INPUT},
                {"output", required_argument, NULL, OPT_OUTPUT},
                {"records", required_argument, NULL, OPT_RECORDS},
                {"workload", required_argument, NULL, OPT_WORKLOAD},
                {"expect-restored", required_argument, NULL,
                 OPT_EXPECT_RESTORED},
                {"keys", required_argument, NULL, OPT_KEYS},
                {"key-format", required_argument, NULL, OPT_KEY_FORMAT},
                {"threads", required_argument, NULL, OPT_THREADS},
                {"app-id", required_argument, NULL, OPT_APP_ID},
                {"timeout", required_argument, NULL, OPT_TIMEOUT},
                {"brook-defaults", no_argument, NULL, OPT_BROOK_DEFAULTS},
                {"other", required_argument, NULL, OPT_OTHER},
                {"expect-output", required_argument, NULL, OPT_EXPECT_OUTPUT},
                {"stop-file", required_argument, NULL, OPT_STOP_FILE},
                {"avro-schema", required_argument, NULL, OPT_AVRO_SCHEMA},
                {"help", no_argument, NULL, OPT_HELP},
                {NULL, 0, NULL, 0},
        };
        /* --stop-file: done once that file exists, whatever was processed
         * (one of several instances sharing the input: bench/run-http). */
        const char *stop_file = NULL;
        const char *bootstrap = NULL, *input = NULL, *output = NULL,
                   *workload_name = NULL, *threads = "1", *key_format = "k%u",
                   *other = NULL, *avro_schema = BENCH_AVRO_SCHEMA;
        const char *props[64];
        int prop_cnt = 0;
        char app_id[128];
        uint64_t records = 0, timeout_s = 600, n, expect_restored = 0, keys = 0;
        uint64_t expect_output = 0;
        bool have_records = false, have_app_id = false, brook_defaults = false,
             have_expect_output = false;
        bench_workload_t workload = BENCH_WORKLOAD_PASSTHROUGH;
        app_workload_t app_workload = APP_PIPE;
        bench_keyfmt_t kf;
        char errstr[512];
        int opt;

        snprintf(app_id, sizeof app_id, "brook-bench-app-%ld", (long)getpid());
        while ((opt = getopt_long(argc, argv, "X:", longopts, NULL)) != -1) {
                switch (opt) {
                case 'X':
                        if (prop_cnt == (int)(sizeof props / sizeof *props) ||
                            !strchr(optarg, '=')) {
                                fprintf(stderr,
                                        "%s: -X wants <property>=<value>\n",
                                        prog);
                                return 2;
                        }
                        props[prop_cnt++] = optarg;
                        break;
                case OPT_BOOTSTRAP:
                        bootstrap = optarg;
                        break;
                case OPT_INPUT:
                        input = optarg;
                        break;
                case OPT_OUTPUT:
                        output = optarg;
                        break;
                case OPT_RECORDS:
                        if (bench_parse_u64(prog, "--records", optarg,
                                            &records))
                                return 2;
                        have_records = true;
                        break;
                case OPT_WORKLOAD:
                        workload_name = optarg;
                        if (!strcmp(optarg, "count"))
                                app_workload = APP_COUNT;
                        else if (!strcmp(optarg, "hopping-count"))
                                app_workload = APP_HOPPING;
                        else if (!strcmp(optarg, "session-count"))
                                app_workload = APP_SESSION;
                        else if (!strcmp(optarg, "restore"))
                                app_workload = APP_RESTORE;
                        else if (!strcmp(optarg, "st-join"))
                                app_workload = APP_ST_JOIN;
                        else if (!strcmp(optarg, "ss-join"))
                                app_workload = APP_SS_JOIN;
                        else if (!strcmp(optarg, "avro-passthrough"))
                                app_workload = APP_AVRO_PIPE;
                        else if (!strcmp(optarg, "avro-count"))
                                app_workload = APP_AVRO_COUNT;
                        else if (!bench_workload_parse(optarg, &workload))
                                app_workload = APP_PIPE;
                        else {
                                fprintf(stderr,
                                        "%s: unknown workload '%s' "
                                        "(passthrough, filter-map, count, "
                                        "hopping-count, session-count, "
                                        "st-join, ss-join, avro-passthrough, "
                                        "avro-count, restore)\n",
                                        prog, optarg);
                                return 2;
                        }
                        break;
                case OPT_EXPECT_RESTORED:
                        if (bench_parse_u64(prog, "--expect-restored", optarg,
                                            &expect_restored))
                                return 2;
                        break;
                case OPT_KEYS:
                        if (bench_parse_u64(prog, "--keys", optarg, &keys))
                                return 2;
                        break;
                case OPT_KEY_FORMAT:
                        key_format = optarg;
                        break;
                case OPT_THREADS:
                        if (bench_parse_u64(prog, "--threads", optarg, &n) ||
                            n < 1)
                                return 2;
                        threads = optarg;
                        break;
                case OPT_APP_ID:
                        snprintf(app_id, sizeof app_id, "%s", optarg);
                        have_app_id = true;
                        break;
                case OPT_TIMEOUT:
                        if (bench_parse_u64(prog, "--timeout", optarg,
                                            &timeout_s))
                                return 2;
                        break;
                case OPT_BROOK_DEFAULTS:
                        brook_defaults = true;
                        break;
                case OPT_OTHER:
                        other = optarg;
                        break;
                case OPT_EXPECT_OUTPUT:
                        if (bench_parse_u64(prog, "--expect-output", optarg,
                                            &expect_output))
                                return 2;
                        have_expect_output = true;
                        break;
                case OPT_STOP_FILE:
                        stop_file = optarg;
                        break;
                case OPT_AVRO_SCHEMA:
                        avro_schema = optarg;
                        break;
                case OPT_HELP:
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc || !bootstrap || !input || !output ||
            !workload_name ||
            (app_workload == APP_RESTORE ? !expect_restored || !have_app_id
                                         : !have_records)) {
                if (app_workload == APP_RESTORE)
                        fprintf(stderr,
                                "%s: restore needs --expect-restored N "
                                "(at least 1) and the --app-id that names "
                                "the changelog\n",
                                prog);
                usage(stderr);
                return 2;
        }
        if (is_join(app_workload) != (other != NULL) ||
            is_join(app_workload) != have_expect_output) {
                fprintf(stderr,
                        "%s: --other and --expect-output go with st-join "
                        "and ss-join, and only with them\n",
                        prog);
                usage(stderr);
                return 2;
        }
        if (bench_keyfmt_parse(key_format, &kf, errstr, sizeof errstr)) {
                fprintf(stderr, "%s: --key-format: %s\n", prog, errstr);
                return 2;
        }
        if (!keys)
                keys = expect_restored ? expect_restored : 1;

        uint64_t expected = app_workload == APP_PIPE
                                    ? bench_expected_count(workload, records)
                            : app_workload == APP_AVRO_PIPE ? records
                            : is_join(app_workload)         ? expect_output
                                                            : 0;
        brook_conf_t *conf = brook_conf_new();
        brook_builder_t *b = NULL;
        brook_app_t *app = NULL;
        brook_serde_t *avro = NULL;
        int ret = 1;

        if (!conf) {
                fprintf(stderr, "%s: out of memory\n", prog);
                return 1;
        }
        if (conf_set(conf, "application.id", app_id) ||
            conf_set(conf, "bootstrap.servers", bootstrap) ||
            conf_set(conf, "num.stream.threads", threads) ||
            (!brook_defaults && conf_set_clients(conf)))
                goto out;
        for (int i = 0; i < prop_cnt; i++) {
                char name[256];
                const char *eq = strchr(props[i], '=');
                snprintf(name, sizeof name, "%.*s", (int)(eq - props[i]),
                         props[i]);
                if (conf_set(conf, name, eq + 1))
                        goto out;
        }

        if (is_avro(app_workload) &&
            !(avro = avro_serde_new(conf, avro_schema)))
                goto out;
        b = topology(input, other, output, app_workload, workload, avro);
        if (!b)
                goto out;
        app = brook_app_new(b, conf, errstr, sizeof errstr);
        if (!app) {
                fprintf(stderr, "%s: %s\n", prog, errstr);
                goto out;
        }
        /* The app owns them now. */
        b = NULL;
        conf = NULL;

        double began = bench_now(), first = 0, done_at = 0;
        if (brook_app_start(app, errstr, sizeof errstr) != BROOK_OK) {
                fprintf(stderr, "%s: cannot start: %s\n", prog, errstr);
                goto out;
        }

        /* Done when the workload's work is done: every input record
         * processed (and, for the pipes, every output record sent), or
         * every changelog record restored. Until the first record arrives
         * the poll is every millisecond, so the start of the measured
         * interval is exact to a millisecond; after that every 50 ms, which
         * costs nothing. Restoration takes a couple of seconds, so its end
         * is polled every 2 ms. */
        brook_app_stats_t stats = {0};
        /* RocksDB's block cache and memtables at their largest: what
         * rocksdb.memory.bytes bounds, as opposed to the process's RSS. */
        int64_t rdb_peak = 0;
        for (;;) {
                brook_app_stats(app, &stats);
                if (stats.rocksdb_memory_bytes > rdb_peak)
                        rdb_peak = stats.rocksdb_memory_bytes;
                double now = bench_now();
                int64_t progress = app_workload == APP_RESTORE
                                           ? stats.records_restored
                                           : stats.records_processed;
                if (!first && progress > 0)
                        first = now;
                bool done;
                if (is_pipe(app_workload))
                        done = (uint64_t)stats.records_produced >= expected &&
                               (uint64_t)stats.records_processed >= records;
                else if (counts_input(app_workload))
                        done = (uint64_t)stats.records_processed >= records;
                else
                        done = (uint64_t)stats.records_restored >=
                                       expect_restored &&
                               stats.stores_restoring == 0;
                if (stop_file)
                        done = access(stop_file, F_OK) == 0;
                if (done) {
                        done_at = now;
                        break;
                }

                brook_app_state_t state =
                        brook_app_state(app, errstr, sizeof errstr);
                if (state == BROOK_APP_ERROR ||
                    state == BROOK_APP_PENDING_ERROR ||
                    state == BROOK_APP_NOT_RUNNING) {
                        fprintf(stderr, "%s: the app stopped (state %d): %s\n",
                                prog, (int)state,
                                state == BROOK_APP_ERROR ? errstr
                                                         : "see its log above");
                        goto out;
                }
                if (now - began > (double)timeout_s) {
                        fprintf(stderr,
                                "%s: timed out after %" PRIu64
                                " s: processed %" PRId64 " of %" PRIu64
                                ", produced %" PRId64 " of %" PRIu64
                                ", restored %" PRId64 " of %" PRIu64
                                " (%" PRId64 " stores restoring)\n",
                                prog, timeout_s, stats.records_processed,
                                records, stats.records_produced, expected,
                                stats.records_restored, expect_restored,
                                stats.stores_restoring);
                        goto out;
                }
                sleep_ms(app_workload == APP_RESTORE ? 2 : first ? 50 : 1);
        }

        /* Outside the measured interval: read the store back. */
        int checked = app_workload == APP_RESTORE
                              ? check_restored(app, expect_restored, keys, &kf)
                              : 0;

        double closing = bench_now();
        brook_err_t err = brook_app_close(app, -1);
        double closed_at = bench_now();
        if (err != BROOK_OK) {
                fprintf(stderr, "%s: closing the app failed: %s\n", prog,
                        brook_err2str(err));
                goto out;
        }
        brook_app_stats(app, &stats);

        if (app_workload == APP_RESTORE) {
                double seconds = done_at - began;
                fprintf(stderr,
                        "%s: restore: restored %" PRId64 " of %" PRIu64
                        " records in %.3f s from brook_app_start() (%.0f "
                        "records/s), %.3f s from the first (%.0f records/s); "
                        "processed %" PRId64 "; close took %.3f s\n",
                        prog, stats.records_restored, expect_restored, seconds,
                        seconds > 0 ? (double)expect_restored / seconds : 0.0,
                        first ? done_at - first : 0.0,
                        first && done_at > first
                                ? (double)expect_restored / (done_at - first)
                                : 0.0,
                        stats.records_processed, closed_at - closing);
                if ((uint64_t)stats.records_restored != expect_restored ||
                    stats.records_processed || checked) {
                        fprintf(stderr,
                                "%s: wrong restoration: restored %" PRId64
                                " records (expected %" PRIu64
                                "), processed %" PRId64
                                " (expected 0), keys read back %s\n",
                                prog, stats.records_restored, expect_restored,
                                stats.records_processed,
                                checked ? "wrong" : "right");
                        goto out;
                }
                printf("RESULT records=%" PRId64
                       " seconds=%.6f restored=%" PRId64
                       " restore_seconds=%.6f startup_seconds=%.6f"
                       " close_seconds=%.6f rocksdb_peak_bytes=%" PRId64 "\n",
                       stats.records_restored, seconds, stats.records_restored,
                       first ? done_at - first : 0.0,
                       first ? first - began : 0.0, closed_at - closing,
                       rdb_peak);
                fflush(stdout);
                ret = 0;
                goto out;
        }

        uint64_t bad = atomic_load(&unreadable);
        char want[64] = "";
        /* The cache makes count's output depend on timing. */
        if (is_pipe(app_workload) || is_join(app_workload))
                snprintf(want, sizeof want, " (expected %" PRIu64 ")",
                         expected);
        fprintf(stderr,
                "%s: %s: processed %" PRId64 " of %" PRIu64
                " records, produced %" PRId64 "%s, dropped %" PRId64
                ", unreadable values %" PRIu64
                "; %.3f s before the first record, close took %.3f s\n",
                prog, workload_name, stats.records_processed, records,
                stats.records_produced, want, stats.records_dropped, bad,
                first ? first - began : 0.0, closed_at - closing);
        if (stop_file) {
                /* One of several instances: its share is not known. */
                records = (uint64_t)stats.records_processed;
        } else if (counts_input(app_workload)) {
                /* The output's counts are checked by the harness
                 * (brook-bench-load --verify-counts, --verify-windows,
                 * --verify-join); here only that every input record was
                 * counted (a late record would be dropped), and that a
                 * join made one output per pair. */
                if ((uint64_t)stats.records_processed != records ||
                    stats.records_dropped || !stats.records_produced ||
                    (is_join(app_workload) &&
                     (uint64_t)stats.records_produced != expected)) {
                        fprintf(stderr,
                                "%s: wrong count: processed %" PRId64
                                " of %" PRIu64 " records, dropped %" PRId64
                                ", produced %" PRId64 "\n",
                                prog, stats.records_processed, records,
                                stats.records_dropped, stats.records_produced);
                        goto out;
                }
        } else if ((uint64_t)stats.records_produced != expected || bad) {
                fprintf(stderr,
                        "%s: wrong output: produced %" PRId64
                        " records, expected %" PRIu64 "\n",
                        prog, stats.records_produced, expected);
                goto out;
        }

        double seconds = first ? closed_at - first : 0.0;
        fprintf(stderr, "%s: %" PRIu64 " records in %.3f s (%.0f records/s)\n",
                prog, records, seconds,
                seconds > 0 ? (double)records / seconds : 0.0);
        if (counts_input(app_workload))
                printf("RESULT records=%" PRId64
                       " seconds=%.6f processed=%" PRId64 " produced=%" PRId64
                       " processed_seconds=%.6f close_seconds=%.6f"
                       " rocksdb_peak_bytes=%" PRId64 "\n",
                       stats.records_processed, seconds,
                       stats.records_processed, stats.records_produced,
                       first ? done_at - first : 0.0, closed_at - closing,
                       rdb_peak);
        else
                printf("RESULT records=%" PRId64
                       " seconds=%.6f processed=%" PRId64
                       " produced_seconds=%.6f close_seconds=%.6f\n",
                       stats.records_produced, seconds, stats.records_processed,
                       first ? done_at - first : 0.0, closed_at - done_at);
        fflush(stdout);
        ret = 0;
out:
        brook_app_destroy(app);
        brook_builder_destroy(b);
        brook_serde_destroy(avro);
        brook_conf_destroy(conf);
        return ret;
}
