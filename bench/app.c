/*
 * brook-bench-app — brook's side of the pipe benchmark: a topology built with
 * the public API, run until it has written what the workload must write.
 *
 *   brook-bench-app --bootstrap B --input T --output O --records N
 *                   --workload passthrough|filter-map [--threads 1]
 *                   [--app-id ID] [--timeout 600] [--brook-defaults]
 *                   [-X <brook property>=<value>]...
 *
 * Workloads (records.h):
 *   passthrough  source (bytes, bytes) → sink (bytes, bytes)
 *   filter-map   source → filter (sequence number even) → map_values
 *                (upper-cased copy in the record's arena) → sink
 *
 * Without --brook-defaults, the client settings of clients.c that brook does
 * not own are passed as `consumer.` / `producer.` properties, forcing the
 * raw loop's settings on brook; --brook-defaults (what run-pipe uses)
 * leaves them out, to measure brook as it ships. The two are the same
 * today (clients.c mirrors brook's defaults).
 *
 * Prints to stdout
 *   RESULT records=<n> seconds=<s> processed=<n> produced_seconds=<s>
 *          close_seconds=<s>
 * where seconds runs from the first record processed until brook_app_close()
 * returned (it flushes the producer, so every record is delivered by then;
 * it also commits and leaves the group, which the raw loop's figure does
 * not include), produced_seconds until the sinks had sent the last record,
 * and close_seconds is the close alone.
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

#include <brook/brook.h>

#include "clients.h"
#include "records.h"

static const char *prog = "brook-bench-app";

/* Values the filter could not read: the input is not the loader's. */
static atomic_uint_fast64_t unreadable;

static void usage(FILE *out)
{
        fprintf(out,
                "usage: %s --bootstrap B --input T --output O --records N\n"
                "          --workload passthrough|filter-map [--threads 1]\n"
                "          [--app-id ID] [--timeout 600] [--brook-defaults]\n"
                "          [-X <brook property>=<value>]...\n",
                prog);
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

static brook_builder_t *topology(const char *input, const char *output,
                                 bench_workload_t workload)
{
        brook_builder_t *b = brook_builder_new();
        if (!b)
                return NULL;

        brook_stream_t *s = brook_stream(
                b, input,
                &(brook_consumed_t){.key_serde = brook_serde_bytes(),
                                    .value_serde = brook_serde_bytes()});
        if (workload == BENCH_WORKLOAD_FILTER_MAP) {
                s = brook_stream_filter(s, keep_record, NULL);
                s = brook_stream_map_values(s, map_value, NULL);
        }
        brook_stream_to(
                s, output,
                &(brook_produced_t){.key_serde = brook_serde_bytes(),
                                    .value_serde = brook_serde_bytes()});

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

int main(int argc, char **argv)
{
        enum {
                OPT_BOOTSTRAP = 1,
                OPT_INPUT,
                OPT_OUTPUT,
                OPT_RECORDS,
                OPT_WORKLOAD,
                OPT_THREADS,
                OPT_APP_ID,
                OPT_TIMEOUT,
                OPT_BROOK_DEFAULTS,
                OPT_HELP
        };
        static const struct option longopts[] = {
                {"bootstrap", required_argument, NULL, OPT_BOOTSTRAP},
                {"input", required_argument, NULL, OPT_INPUT},
                {"output", required_argument, NULL, OPT_OUTPUT},
                {"records", required_argument, NULL, OPT_RECORDS},
                {"workload", required_argument, NULL, OPT_WORKLOAD},
                {"threads", required_argument, NULL, OPT_THREADS},
                {"app-id", required_argument, NULL, OPT_APP_ID},
                {"timeout", required_argument, NULL, OPT_TIMEOUT},
                {"brook-defaults", no_argument, NULL, OPT_BROOK_DEFAULTS},
                {"help", no_argument, NULL, OPT_HELP},
                {NULL, 0, NULL, 0},
        };
        const char *bootstrap = NULL, *input = NULL, *output = NULL,
                   *workload_name = NULL, *threads = "1";
        const char *props[64];
        int prop_cnt = 0;
        char app_id[128];
        uint64_t records = 0, timeout_s = 600, n;
        bool have_records = false, brook_defaults = false;
        bench_workload_t workload = BENCH_WORKLOAD_PASSTHROUGH;
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
                        if (bench_workload_parse(optarg, &workload)) {
                                fprintf(stderr,
                                        "%s: unknown workload '%s' "
                                        "(passthrough, filter-map)\n",
                                        prog, optarg);
                                return 2;
                        }
                        break;
                case OPT_THREADS:
                        if (bench_parse_u64(prog, "--threads", optarg, &n) ||
                            n < 1)
                                return 2;
                        threads = optarg;
                        break;
                case OPT_APP_ID:
                        snprintf(app_id, sizeof app_id, "%s", optarg);
                        break;
                case OPT_TIMEOUT:
                        if (bench_parse_u64(prog, "--timeout", optarg,
                                            &timeout_s))
                                return 2;
                        break;
                case OPT_BROOK_DEFAULTS:
                        brook_defaults = true;
                        break;
                case OPT_HELP:
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc || !bootstrap || !input || !output || !have_records ||
            !workload_name) {
                usage(stderr);
                return 2;
        }

        uint64_t expected = bench_expected_count(workload, records);
        char errstr[512];
        brook_conf_t *conf = brook_conf_new();
        brook_builder_t *b = NULL;
        brook_app_t *app = NULL;
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

        b = topology(input, output, workload);
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

        double began = bench_now(), first = 0, produced_at = 0;
        if (brook_app_start(app, errstr, sizeof errstr) != BROOK_OK) {
                fprintf(stderr, "%s: cannot start: %s\n", prog, errstr);
                goto out;
        }

        /* Done when every input record is processed and every output record
         * sent. Until the first record arrives the poll is every
         * millisecond, so the start of the measured interval is exact to a
         * millisecond; after that every 50 ms, which costs nothing. */
        brook_app_stats_t stats = {0};
        for (;;) {
                brook_app_stats(app, &stats);
                double now = bench_now();
                if (!first && stats.records_processed > 0)
                        first = now;
                if ((uint64_t)stats.records_produced >= expected &&
                    (uint64_t)stats.records_processed >= records) {
                        produced_at = now;
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
                                ", produced %" PRId64 " of %" PRIu64 "\n",
                                prog, timeout_s, stats.records_processed,
                                records, stats.records_produced, expected);
                        goto out;
                }
                sleep_ms(first ? 50 : 1);
        }

        brook_err_t err = brook_app_close(app, -1);
        double closed_at = bench_now();
        if (err != BROOK_OK) {
                fprintf(stderr, "%s: closing the app failed: %s\n", prog,
                        brook_err2str(err));
                goto out;
        }
        brook_app_stats(app, &stats);

        uint64_t bad = atomic_load(&unreadable);
        fprintf(stderr,
                "%s: %s: processed %" PRId64 " of %" PRIu64
                " records, produced %" PRId64 " (expected %" PRIu64 ")"
                ", dropped %" PRId64 ", unreadable values %" PRIu64
                "; %.3f s before the first record, close took %.3f s\n",
                prog, workload_name, stats.records_processed, records,
                stats.records_produced, expected, stats.records_dropped, bad,
                first ? first - began : 0.0, closed_at - produced_at);
        if ((uint64_t)stats.records_produced != expected || bad) {
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
        printf("RESULT records=%" PRId64 " seconds=%.6f processed=%" PRId64
               " produced_seconds=%.6f close_seconds=%.6f\n",
               stats.records_produced, seconds, stats.records_processed,
               first ? produced_at - first : 0.0, closed_at - produced_at);
        fflush(stdout);
        ret = 0;
out:
        brook_app_destroy(app);
        brook_builder_destroy(b);
        brook_conf_destroy(conf);
        return ret;
}
