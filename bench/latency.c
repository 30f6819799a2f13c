/*
 * brook-bench-latency — the consuming end of the latency benchmark, and the
 * value check of the pipe benchmarks' output.
 *
 *   brook-bench-latency --bootstrap B --topic OUTPUT --seconds S [--skip S0]
 *                       [--records N]
 *       Reads OUTPUT from its start as records arrive, for at most S
 *       seconds or until N records are read, and measures each record's
 *       end-to-end latency: the wall clock when the consumer got it minus
 *       its timestamp. Both engines keep the input record's timestamp on
 *       pipe outputs, and brook-bench-load --rate stamps each input record
 *       with the wall clock at send, so this is the time from the loader
 *       handing the record to its producer to the record being readable
 *       from the output topic and fetched. Records stamped less than S0
 *       seconds after the earliest timestamp seen are the warm-up (group
 *       join, the first fetches) and are left out. Prints to stdout
 *         LATENCY count=<n> p50_ms=<x> p99_ms=<x> p999_ms=<x> max_ms=<x>
 *                 skipped=<n> mean_ms=<x>
 *       with exact percentiles (nearest rank over the sorted latencies).
 *       Exits 1 if nothing was measured.
 *
 *   brook-bench-latency --bootstrap B --topic OUTPUT --check WORKLOAD
 *                       [--sample 10000] [--value-size 100] [--keys 10000]
 *       Reads OUTPUT from its start to its end (every partition, committed
 *       records only: under exactly_once_v2 the offsets also hold
 *       transaction markers, so the watermarks overcount) and checks the
 *       first --sample records read (0: all) against records.h: the
 *       value's sequence number, the key "k<seq % keys>", and the value
 *       itself — for passthrough the loader's binary value of that
 *       sequence number, for filter-map an even sequence number and the
 *       upper-cased value. Prints
 *         CHECK records=<n> checked=<n> bad=<n>
 *       (records: all records read) and the first bad records to stderr;
 *       exits 1 if any is bad or none was read.
 *
 * The consumer only assigns partitions (no group join, nothing committed)
 * and uses the client settings of clients.c.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "clients.h"
#include "records.h"

static const char *prog = "brook-bench-latency";

/* One measured record: its timestamp and its latency. */
typedef struct sample_s {
        int64_t timestamp_ms;
        double latency_ms;
} sample_t;

static void usage(FILE *out)
{
        fprintf(out,
                "usage: %s --bootstrap B --topic OUTPUT --seconds S"
                " [--skip S0] [--records N]\n"
                "       %s --bootstrap B --topic OUTPUT --check "
                "passthrough|filter-map\n"
                "          [--sample 10000] [--value-size 100]"
                " [--keys 10000]\n",
                prog, prog);
}

static double wall_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

static rd_kafka_t *consumer_new(const char *bootstrap)
{
        char errstr[512], group[64];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();

        snprintf(group, sizeof group, "brook-bench-latency-%ld",
                 (long)getpid());
        if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr,
                              sizeof errstr) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "client.id", prog, errstr, sizeof errstr) !=
                    RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof errstr) !=
                    RD_KAFKA_CONF_OK ||
            bench_client_conf_apply(conf, BENCH_CLIENT_CONSUMER, errstr,
                                    sizeof errstr) ||
            /* A fetch returns as soon as one record is there; the wait
             * only bounds an empty one. */
            rd_kafka_conf_set(conf, "fetch.wait.max.ms", "100", errstr,
                              sizeof errstr) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr,
                              sizeof errstr) != RD_KAFKA_CONF_OK ||
            /* librdkafka's default, stated: exactly_once_v2 output is only
             * output once committed. */
            rd_kafka_conf_set(conf, "isolation.level", "read_committed", errstr,
                              sizeof errstr) != RD_KAFKA_CONF_OK) {
                fprintf(stderr, "%s: %s\n", prog, errstr);
                rd_kafka_conf_destroy(conf);
                return NULL;
        }

        rd_kafka_t *rk =
                rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
        if (!rk) {
                fprintf(stderr, "%s: cannot create a Kafka consumer: %s\n",
                        prog, errstr);
                rd_kafka_conf_destroy(conf);
        }
        return rk;
}

/* Partition count of @p topic (waiting up to 30 s for it), -1 on error. */
static int topic_partitions(rd_kafka_t *rk, const char *topic)
{
        for (int i = 0; i < 300; i++) {
                rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
                const struct rd_kafka_metadata *md;
                int cnt = 0;

                if (!rkt)
                        return -1;
                rd_kafka_resp_err_t err =
                        rd_kafka_metadata(rk, 0, rkt, &md, 10000);
                rd_kafka_topic_destroy(rkt);
                if (err) {
                        fprintf(stderr, "%s: metadata of '%s': %s\n", prog,
                                topic, rd_kafka_err2str(err));
                        return -1;
                }
                if (md->topic_cnt == 1 && !md->topics[0].err)
                        cnt = md->topics[0].partition_cnt;
                rd_kafka_metadata_destroy(md);
                if (cnt > 0)
                        return cnt;
                usleep(100 * 1000);
        }
        fprintf(stderr, "%s: topic '%s' does not exist\n", prog, topic);
        return -1;
}

/* Assigns every partition of @p topic from its start; the count or -1. */
static int assign_all(rd_kafka_t *rk, const char *topic)
{
        int partitions = topic_partitions(rk, topic);

        if (partitions <= 0)
                return -1;
        rd_kafka_topic_partition_list_t *parts =
                rd_kafka_topic_partition_list_new(partitions);
        for (int32_t p = 0; p < partitions; p++)
                rd_kafka_topic_partition_list_add(parts, topic, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_resp_err_t err = rd_kafka_assign(rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        if (err) {
                fprintf(stderr, "%s: cannot assign %s: %s\n", prog, topic,
                        rd_kafka_err2str(err));
                return -1;
        }
        return partitions;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

/* The nearest-rank percentile @p q (0..1] of the sorted @p v. */
static double percentile(const double *v, size_t n, double q)
{
        size_t rank = (size_t)(q * (double)n + 0.999999);

        if (rank < 1)
                rank = 1;
        if (rank > n)
                rank = n;
        return v[rank - 1];
}

static int measure(rd_kafka_t *rk, const char *topic, double seconds,
                   double skip, uint64_t records)
{
        size_t cap = 1 << 20, n = 0;
        sample_t *s = malloc(cap * sizeof *s);
        uint64_t no_timestamp = 0;
        int ret = -1;

        if (!s) {
                fprintf(stderr, "%s: out of memory\n", prog);
                return -1;
        }
        if (assign_all(rk, topic) < 0)
                goto out;

        double end = bench_now() + seconds;
        while (bench_now() < end && (!records || n < records)) {
                rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
                if (!msg)
                        continue;
                double now = wall_ms();
                if (msg->err) {
                        if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                fprintf(stderr, "%s: %s\n", prog,
                                        rd_kafka_message_errstr(msg));
                        rd_kafka_message_destroy(msg);
                        continue;
                }
                rd_kafka_timestamp_type_t type;
                int64_t ts = rd_kafka_message_timestamp(msg, &type);
                rd_kafka_message_destroy(msg);
                if (ts < 0) {
                        no_timestamp++;
                        continue;
                }
                if (n == cap) {
                        sample_t *grown = realloc(s, 2 * cap * sizeof *s);
                        if (!grown) {
                                fprintf(stderr, "%s: out of memory\n", prog);
                                goto out;
                        }
                        s = grown;
                        cap *= 2;
                }
                s[n].timestamp_ms = ts;
                s[n].latency_ms = now - (double)ts;
                n++;
        }
        if (records && n < records)
                fprintf(stderr,
                        "%s: %s: %zu of %" PRIu64 " records within %.0f s\n",
                        prog, topic, n, records, seconds);
        if (no_timestamp)
                fprintf(stderr, "%s: %" PRIu64 " records had no timestamp\n",
                        prog, no_timestamp);

        /* The warm-up is measured from the earliest timestamp: records of
         * different partitions arrive out of order. */
        int64_t first = INT64_MAX;
        for (size_t i = 0; i < n; i++)
                if (s[i].timestamp_ms < first)
                        first = s[i].timestamp_ms;
        double *lat = malloc((n ? n : 1) * sizeof *lat);
        size_t m = 0;
        double sum = 0;
        if (!lat) {
                fprintf(stderr, "%s: out of memory\n", prog);
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                if ((double)(s[i].timestamp_ms - first) < skip * 1000)
                        continue;
                lat[m++] = s[i].latency_ms;
                sum += s[i].latency_ms;
        }
        if (!m) {
                fprintf(stderr,
                        "%s: %s: no record after the %.0f s warm-up (%zu "
                        "read)\n",
                        prog, topic, skip, n);
                free(lat);
                goto out;
        }
        qsort(lat, m, sizeof *lat, cmp_double);
        printf("LATENCY count=%zu p50_ms=%.1f p99_ms=%.1f p999_ms=%.1f "
               "max_ms=%.1f skipped=%zu mean_ms=%.1f\n",
               m, percentile(lat, m, 0.50), percentile(lat, m, 0.99),
               percentile(lat, m, 0.999), lat[m - 1], n - m, sum / (double)m);
        free(lat);
        ret = 0;
out:
        free(s);
        return ret;
}

static int check(rd_kafka_t *rk, const char *topic, bench_workload_t workload,
                 uint64_t sample, size_t value_size, uint64_t keys)
{
        char *want = malloc(value_size), *mapped = malloc(value_size);
        char key[32];
        uint64_t read = 0, checked = 0, bad = 0;
        int partitions, ret = -1;

        if (!want || !mapped) {
                fprintf(stderr, "%s: out of memory\n", prog);
                goto out;
        }
        if ((partitions = assign_all(rk, topic)) < 0)
                goto out;

        int at_end = 0;
        double last_read = bench_now();
        while (at_end < partitions) {
                rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 500);
                if (!msg) {
                        if (bench_now() - last_read > 30) {
                                fprintf(stderr,
                                        "%s: %s: nothing read for 30 s\n", prog,
                                        topic);
                                goto out;
                        }
                        continue;
                }
                last_read = bench_now();
                if (msg->err) {
                        /* EOF comes again after more records; the engine
                         * is done, so none come after the first. */
                        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                at_end++;
                        else
                                fprintf(stderr, "%s: %s\n", prog,
                                        rd_kafka_message_errstr(msg));
                        rd_kafka_message_destroy(msg);
                        continue;
                }

                read++;
                if (sample && checked >= sample) {
                        rd_kafka_message_destroy(msg);
                        continue;
                }
                const char *why = NULL;
                uint64_t seq = 0;
                if (bench_value_seq(msg->payload, msg->len, &seq))
                        why = "no sequence number in the value";
                else if (msg->len != value_size)
                        why = "wrong value size";
                else {
                        size_t key_len = bench_key(seq, keys, key, sizeof key);
                        bench_value(BENCH_FORMAT_BINARY, seq, keys, want,
                                    value_size);
                        const char *expect = want;
                        if (workload == BENCH_WORKLOAD_FILTER_MAP) {
                                bench_map_value(want, mapped, value_size);
                                expect = mapped;
                        }
                        if (msg->key_len != key_len ||
                            memcmp(msg->key, key, key_len))
                                why = "wrong key";
                        else if (workload == BENCH_WORKLOAD_FILTER_MAP &&
                                 !bench_filter_keep(seq))
                                why = "a record the filter drops";
                        else if (memcmp(msg->payload, expect, value_size))
                                why = "wrong value";
                }
                checked++;
                if (why && bad++ < 5)
                        fprintf(stderr,
                                "%s: %s [%" PRId32 "] offset %" PRId64
                                ": %s (%.*s)\n",
                                prog, topic, msg->partition, msg->offset, why,
                                (int)(msg->len < 40 ? msg->len : 40),
                                (const char *)msg->payload);
                rd_kafka_message_destroy(msg);
        }
        printf("CHECK records=%" PRIu64 " checked=%" PRIu64 " bad=%" PRIu64
               "\n",
               read, checked, bad);
        ret = checked && !bad ? 0 : -1;
out:
        free(want);
        free(mapped);
        return ret;
}

int main(int argc, char **argv)
{
        enum {
                OPT_BOOTSTRAP = 1,
                OPT_TOPIC,
                OPT_SECONDS,
                OPT_SKIP,
                OPT_RECORDS,
                OPT_CHECK,
                OPT_SAMPLE,
                OPT_VALUE_SIZE,
                OPT_KEYS,
                OPT_HELP
        };
        static const struct option longopts[] = {
                {"bootstrap", required_argument, NULL, OPT_BOOTSTRAP},
                {"topic", required_argument, NULL, OPT_TOPIC},
                {"seconds", required_argument, NULL, OPT_SECONDS},
                {"skip", required_argument, NULL, OPT_SKIP},
                {"records", required_argument, NULL, OPT_RECORDS},
                {"check", required_argument, NULL, OPT_CHECK},
                {"sample", required_argument, NULL, OPT_SAMPLE},
                {"value-size", required_argument, NULL, OPT_VALUE_SIZE},
                {"keys", required_argument, NULL, OPT_KEYS},
                {"help", no_argument, NULL, OPT_HELP},
                {NULL, 0, NULL, 0},
        };
        const char *bootstrap = NULL, *topic = NULL, *check_workload = NULL;
        uint64_t seconds = 0, skip = 0, records = 0, sample = 10000,
                 value_size = 100, keys = 10000;
        int opt;

        while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (opt) {
                case OPT_BOOTSTRAP:
                        bootstrap = optarg;
                        break;
                case OPT_TOPIC:
                        topic = optarg;
                        break;
                case OPT_SECONDS:
                        if (bench_parse_u64(prog, "--seconds", optarg,
                                            &seconds))
                                return 2;
                        break;
                case OPT_SKIP:
                        if (bench_parse_u64(prog, "--skip", optarg, &skip))
                                return 2;
                        break;
                case OPT_RECORDS:
                        if (bench_parse_u64(prog, "--records", optarg,
                                            &records))
                                return 2;
                        break;
                case OPT_CHECK:
                        check_workload = optarg;
                        break;
                case OPT_SAMPLE:
                        if (bench_parse_u64(prog, "--sample", optarg, &sample))
                                return 2;
                        break;
                case OPT_VALUE_SIZE:
                        if (bench_parse_u64(prog, "--value-size", optarg,
                                            &value_size))
                                return 2;
                        break;
                case OPT_KEYS:
                        if (bench_parse_u64(prog, "--keys", optarg, &keys))
                                return 2;
                        break;
                case OPT_HELP:
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc || !bootstrap || !topic ||
            (!check_workload && !seconds)) {
                usage(stderr);
                return 2;
        }
        bench_workload_t workload = BENCH_WORKLOAD_PASSTHROUGH;
        if (check_workload) {
                if (bench_workload_parse(check_workload, &workload)) {
                        fprintf(stderr,
                                "%s: --check is passthrough or filter-map, "
                                "not '%s'\n",
                                prog, check_workload);
                        return 2;
                }
                if (!keys || value_size < BENCH_BINARY_HEADER_SIZE) {
                        fprintf(stderr,
                                "%s: --keys must be at least 1, "
                                "--value-size at least %d\n",
                                prog, BENCH_BINARY_HEADER_SIZE);
                        return 2;
                }
        }

        rd_kafka_t *rk = consumer_new(bootstrap);
        if (!rk)
                return 1;
        int ret = check_workload ? check(rk, topic, workload, sample,
                                         (size_t)value_size, keys)
                                 : measure(rk, topic, (double)seconds,
                                           (double)skip, records);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return ret ? 1 : 0;
}
