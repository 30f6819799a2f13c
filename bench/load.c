/*
 * brook-bench-load — writes the benchmark's input topic, and the small topic
 * chores the harness needs (create, count, delete, expected counts).
 *
 *   brook-bench-load --bootstrap B --topic T --partitions P --records N
 *                    --value-size V [--keys K] [--key-format F]
 *                    [--format binary|json|count] [--compact]
 *       Creates T (fails if it exists: every run uses fresh topic names, so
 *       an existing topic means a mistake, not something to overwrite) and
 *       writes N records as described in records.h. N = 0 only creates T.
 *       --key-format writes keys with a pattern such as "key-%05d" instead
 *       of records.h's "k<n>", and --format count writes 8-byte big-endian
 *       counts instead of records.h's values (no --value-size); state.h
 *       describes both. --compact creates T with cleanup.policy=compact, as
 *       brook creates changelogs, so that a changelog can be loaded before
 *       the app that restores from it starts. --event-time windowed
 *       --t0 MS stamps record i with state.h's bench_event_time(MS, i)
 *       (the windowed benchmarks' input) instead of now - N + i ms.
 *       --compression CODEC (any mode that writes) sends the batches
 *       compressed (librdkafka's compression.codec): none unless given,
 *       lz4 to load a changelog as brook writes it.
 *   brook-bench-load --bootstrap B --topic T --partitions P --rate R
 *                    --duration S --value-size V [--keys K] [--key-format F]
 *       The latency benchmark's input: R x S records of records.h, paced at
 *       R records/s for S seconds (a tight loop that checks the clock and,
 *       once on schedule, sleeps to the next millisecond, so records go out
 *       in per-millisecond batches), each with its timestamp (CreateTime)
 *       set to the wall clock when it was handed to the producer. T may
 *       already exist with P partitions (the engine under test subscribes
 *       before the load starts); otherwise it is created. Prints how far
 *       behind the schedule the loop fell at most.
 *   brook-bench-load --bootstrap B --count T
 *       Prints how many records T holds (sum over partitions of high - low
 *       watermark).
 *   brook-bench-load --bootstrap B --delete T
 *       Deletes T.
 *   brook-bench-load --expect passthrough|filter-map --records N
 *       Prints how many records the workload writes for N input records.
 *   brook-bench-load --bootstrap B --verify-counts T --records N --keys K
 *                    [--key-format F]
 *       Reads T (the count app's output: string keys, 8-byte counts) up to
 *       its end and checks that the last count of every key is what N
 *       records over K keys give (state.h); prints the number of records
 *       read and ten sample keys to stderr. Exits 1 on any difference.
 *   brook-bench-load --bootstrap B --verify-windows T
 *                    --windows hopping|session --records N --keys K
 *                    --t0 MS [--key-format F]
 *       Reads T (a windowed count's output: Kafka Streams' time-windowed
 *       or session-windowed string keys, 8-byte counts or NULL) up to its
 *       end, keeps the last value of every (key, window), a NULL removing
 *       it, and checks what is left against the final counts that N
 *       records loaded with --event-time windowed --t0 MS over K keys give
 *       (state.h): every hopping window's count (sessions: every session,
 *       start, end and count), none missing, none extra. Prints the number
 *       of records read; five expected windows and the totals to stderr.
 *       Exits 1 on any difference.
 *   brook-bench-load --bootstrap B --topic T --partitions P --records N
 *                    --value-size V --join st-table|st-events|ss-left|
 *                    ss-right --t0 MS [--table-rows R]
 *       Creates T and writes the join benchmarks' records of join.h: the
 *       stream-table join's table (N rows; --value-size is not used) or
 *       events (over a table of R rows, default 100,000), or the
 *       stream-stream join's left or right stream, stamped from t0 MS.
 *   brook-bench-load --bootstrap B --verify-join T
 *                    --workload st-join|ss-join --records N --value-size V
 *                    [--table-rows R]
 *       Reads T (a join's output over N events, or N records a side) up
 *       to its end and checks it against join.h: every index 0..N-1 once,
 *       each with its key and its whole joined value; nothing else.
 *       Prints the number of records read; the totals and up to ten
 *       faults to stderr. Exits 1 on any difference.
 *   brook-bench-load --bootstrap B --delete-prefix P
 *       Deletes every topic whose name starts with P (an app's internal
 *       topics, whatever the engine named them).
 *   brook-bench-load ... --format avro --registry URL [--avro-schema FILE]
 *       Loading as above, but the values are avro_records.h's: the record
 *       of FILE (default bench/record.avsc) in the Confluent wire format.
 *       The schema is registered once, under "<T>-value" (what a
 *       serializer with TopicNameStrategy would register), at the Schema
 *       Registry at URL (its Confluent-compatible base); each value is
 *       encoded with avro-c and checked against avro_records.h's bytes.
 *   brook-bench-load --bootstrap B --verify-avro T --records N
 *                    --value-size V --registry URL [--keys K]
 *                    [--key-format F] [--avro-schema FILE]
 *       Reads T (an avro-passthrough output) up to its end and checks every
 *       record: its key, its Avro body byte for byte against
 *       avro_records.h (so it decodes to its input record, whoever wrote
 *       it), and that the registry holds FILE's schema under its writer
 *       schema id; every input record once, nothing else. Prints the
 *       number of records read; the totals and up to ten faults to stderr.
 *       Exits 1 on any difference.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <avro.h>
#include <librdkafka/rdkafka.h>

#include <brook/avro.h>

#include "avro_records.h"
#include "clients.h"
#include "join.h"
#include "records.h"
#include "state.h"

#define ADMIN_TIMEOUT_MS   30000
#define METADATA_TIMEOUT_S 30

static const char *prog = "brook-bench-load";

/* What --join loads: which topic of join.h, over how many table rows. */
typedef struct join_load_s {
        bench_join_topic_t topic;
        uint64_t rows;
} join_load_t;

typedef struct load_stats_s {
        uint64_t delivered;
        uint64_t failed;
        rd_kafka_resp_err_t first_err;
} load_stats_t;

static void usage(FILE *out)
{
        fprintf(out,
                "usage: %s --bootstrap B --topic T --partitions P --records N"
                " --value-size V\n"
                "          [--keys K] [--key-format F]"
                " [--format binary|json|count] [--compact]\n"
                "          [--event-time windowed --t0 MS]"
                " [--compression none|lz4|zstd|...]\n"
                "          [--format avro --registry URL"
                " [--avro-schema FILE]]\n"
                "       %s --bootstrap B --topic T --partitions P --rate R"
                " --duration S\n"
                "          --value-size V [--keys K] [--key-format F]\n"
                "       %s --bootstrap B --count T\n"
                "       %s --bootstrap B --delete T\n"
                "       %s --expect passthrough|filter-map --records N\n"
                "       %s --bootstrap B --verify-counts T --records N"
                " --keys K [--key-format F]\n"
                "       %s --bootstrap B --verify-windows T"
                " --windows hopping|session --records N\n"
                "          --keys K --t0 MS [--key-format F]\n"
                "       %s --bootstrap B --topic T --partitions P --records N"
                " --value-size V\n"
                "          --join st-table|st-events|ss-left|ss-right"
                " --t0 MS [--table-rows R]\n"
                "       %s --bootstrap B --verify-join T"
                " --workload st-join|ss-join --records N\n"
                "          --value-size V [--table-rows R]\n"
                "       %s --bootstrap B --delete-prefix P\n"
                "       %s --bootstrap B --verify-avro T --records N"
                " --value-size V --registry URL\n"
                "          [--keys K] [--key-format F]"
                " [--avro-schema FILE]\n",
                prog, prog, prog, prog, prog, prog, prog, prog, prog, prog,
                prog);
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg,
                      void *opaque)
{
        load_stats_t *stats = opaque;

        (void)rk;
        if (msg->err) {
                if (!stats->failed++) {
                        stats->first_err = msg->err;
                        fprintf(stderr, "%s: delivery failed: %s\n", prog,
                                rd_kafka_err2str(msg->err));
                }
        } else {
                stats->delivered++;
        }
}

/* --compression: the inputs are loaded uncompressed unless told. */
static const char *compression = "none";

static rd_kafka_t *client_new(const char *bootstrap, load_stats_t *stats)
{
        char errstr[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();

        if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr,
                              sizeof errstr) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "client.id", "brook-bench-load", errstr,
                              sizeof errstr) != RD_KAFKA_CONF_OK ||
            bench_client_conf_apply(conf, BENCH_CLIENT_PRODUCER, errstr,
                                    sizeof errstr) ||
            /* Not bench/clients.c's lz4, which is brook's: the inputs are
             * loaded as they always were unless --compression says. */
            rd_kafka_conf_set(conf, "compression.codec", compression, errstr,
                              sizeof errstr) != RD_KAFKA_CONF_OK) {
                fprintf(stderr, "%s: %s\n", prog, errstr);
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        rd_kafka_conf_set_opaque(conf, stats);
        rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);

        rd_kafka_t *rk =
                rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
        if (!rk) {
                fprintf(stderr, "%s: cannot create a Kafka client: %s\n", prog,
                        errstr);
                rd_kafka_conf_destroy(conf);
        }
        return rk;
}

/* Waits for one admin result event on @p queue; NULL after printing why. */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *queue, const char *what)
{
        rd_kafka_event_t *ev =
                rd_kafka_queue_poll(queue, ADMIN_TIMEOUT_MS + 5000);

        if (!ev) {
                fprintf(stderr,
                        "%s: %s: no answer from the broker within %d s\n", prog,
                        what, ADMIN_TIMEOUT_MS / 1000 + 5);
                return NULL;
        }
        if (rd_kafka_event_error(ev)) {
                fprintf(stderr, "%s: %s: %s\n", prog, what,
                        rd_kafka_event_error_string(ev));
                rd_kafka_event_destroy(ev);
                return NULL;
        }
        return ev;
}

/* Partition count of @p topic, 0 if it does not exist, -1 on error. */
static int topic_partitions(rd_kafka_t *rk, const char *topic)
{
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        const struct rd_kafka_metadata *md;
        int cnt = -1;

        if (!rkt) {
                fprintf(stderr, "%s: topic '%s': %s\n", prog, topic,
                        rd_kafka_err2str(rd_kafka_last_error()));
                return -1;
        }
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
        if (err) {
                fprintf(stderr, "%s: cannot read metadata of '%s': %s\n", prog,
                        topic, rd_kafka_err2str(err));
        } else if (md->topic_cnt != 1) {
                fprintf(stderr, "%s: metadata of '%s' has %d topics\n", prog,
                        topic, md->topic_cnt);
        } else if (md->topics[0].err ==
                           RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                   md->topics[0].err ==
                           RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) {
                cnt = 0;
        } else if (md->topics[0].err) {
                fprintf(stderr, "%s: metadata of '%s': %s\n", prog, topic,
                        rd_kafka_err2str(md->topics[0].err));
        } else {
                cnt = md->topics[0].partition_cnt;
                /* A partition without a leader cannot be written yet. */
                for (int i = 0; i < md->topics[0].partition_cnt; i++)
                        if (md->topics[0].partitions[i].leader < 0)
                                cnt = 0;
        }
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        return cnt;
}

static int create_topic(rd_kafka_t *rk, const char *topic, int partitions,
                        bool compact)
{
        char errstr[512];
        rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *opts =
                rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1,
                                                        errstr, sizeof errstr);
        int ret = -1;

        if (!nt) {
                fprintf(stderr, "%s: topic '%s': %s\n", prog, topic, errstr);
                goto out;
        }
        if (compact &&
            rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact")) {
                fprintf(stderr, "%s: topic '%s': cannot set cleanup.policy\n",
                        prog, topic);
                goto out;
        }
        if (rd_kafka_AdminOptions_set_operation_timeout(
                    opts, ADMIN_TIMEOUT_MS, errstr, sizeof errstr)) {
                fprintf(stderr, "%s: %s\n", prog, errstr);
                goto out;
        }
        rd_kafka_CreateTopics(rk, &nt, 1, opts, queue);

        rd_kafka_event_t *ev = admin_wait(queue, "creating the topic");
        if (!ev)
                goto out;
        size_t cnt;
        const rd_kafka_topic_result_t **res =
                rd_kafka_CreateTopics_result_topics(
                        rd_kafka_event_CreateTopics_result(ev), &cnt);
        if (cnt != 1) {
                fprintf(stderr, "%s: creating '%s': %zu results, expected 1\n",
                        prog, topic, cnt);
        } else if (rd_kafka_topic_result_error(res[0]) ==
                   RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                fprintf(stderr,
                        "%s: topic '%s' already exists; each run must use a "
                        "new topic name (or delete it with --delete)\n",
                        prog, topic);
        } else if (rd_kafka_topic_result_error(res[0])) {
                const char *msg = rd_kafka_topic_result_error_string(res[0]);
                fprintf(stderr, "%s: cannot create '%s': %s\n", prog, topic,
                        msg ? msg
                            : rd_kafka_err2str(
                                      rd_kafka_topic_result_error(res[0])));
        } else {
                ret = 0;
        }
        rd_kafka_event_destroy(ev);
        if (ret)
                goto out;

        /* Creation returns before every partition has a leader; producers
         * and consumers started right away would see an unknown topic. */
        ret = -1;
        for (int i = 0; i < METADATA_TIMEOUT_S * 10; i++) {
                int n = topic_partitions(rk, topic);
                if (n < 0)
                        goto out;
                if (n == partitions) {
                        ret = 0;
                        goto out;
                }
                usleep(100 * 1000);
        }
        fprintf(stderr,
                "%s: topic '%s' was created but its %d partitions "
                "had no leader after %d s\n",
                prog, topic, partitions, METADATA_TIMEOUT_S);
out:
        rd_kafka_NewTopic_destroy(nt);
        rd_kafka_AdminOptions_destroy(opts);
        rd_kafka_queue_destroy(queue);
        return ret;
}

static int delete_topic(rd_kafka_t *rk, const char *topic)
{
        char errstr[512];
        rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *opts =
                rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
        rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
        int ret = -1;

        if (rd_kafka_AdminOptions_set_operation_timeout(
                    opts, ADMIN_TIMEOUT_MS, errstr, sizeof errstr)) {
                fprintf(stderr, "%s: %s\n", prog, errstr);
                goto out;
        }
        rd_kafka_DeleteTopics(rk, &dt, 1, opts, queue);

        rd_kafka_event_t *ev = admin_wait(queue, "deleting the topic");
        if (!ev)
                goto out;
        size_t cnt;
        const rd_kafka_topic_result_t **res =
                rd_kafka_DeleteTopics_result_topics(
                        rd_kafka_event_DeleteTopics_result(ev), &cnt);
        if (cnt != 1) {
                fprintf(stderr, "%s: deleting '%s': %zu results, expected 1\n",
                        prog, topic, cnt);
        } else if (rd_kafka_topic_result_error(res[0])) {
                const char *msg = rd_kafka_topic_result_error_string(res[0]);
                fprintf(stderr, "%s: cannot delete '%s': %s\n", prog, topic,
                        msg ? msg
                            : rd_kafka_err2str(
                                      rd_kafka_topic_result_error(res[0])));
        } else {
                ret = 0;
        }
        rd_kafka_event_destroy(ev);
out:
        rd_kafka_DeleteTopic_destroy(dt);
        rd_kafka_AdminOptions_destroy(opts);
        rd_kafka_queue_destroy(queue);
        return ret;
}

/* --delete-prefix: deletes every topic whose name starts with @p prefix
 * (none is not an error). */
static int delete_prefix(rd_kafka_t *rk, const char *prefix)
{
        const struct rd_kafka_metadata *md;
        size_t len = strlen(prefix);
        int ret = 0;

        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
        if (err) {
                fprintf(stderr, "%s: cannot list the topics: %s\n", prog,
                        rd_kafka_err2str(err));
                return -1;
        }
        for (int i = 0; i < md->topic_cnt; i++)
                if (len && !strncmp(md->topics[i].topic, prefix, len) &&
                    delete_topic(rk, md->topics[i].topic))
                        ret = -1;
        rd_kafka_metadata_destroy(md);
        return ret;
}

static int count_topic(rd_kafka_t *rk, const char *topic)
{
        int partitions = topic_partitions(rk, topic);
        int64_t total = 0;

        if (partitions < 0)
                return -1;
        if (partitions == 0) {
                fprintf(stderr, "%s: topic '%s' does not exist\n", prog, topic);
                return -1;
        }
        for (int32_t p = 0; p < partitions; p++) {
                int64_t low, high;
                rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
                        rk, topic, p, &low, &high, 10000);
                if (err) {
                        fprintf(stderr,
                                "%s: cannot read the offsets of %s [%" PRId32
                                "]: %s\n",
                                prog, topic, p, rd_kafka_err2str(err));
                        return -1;
                }
                total += high - low;
        }
        printf("%" PRId64 "\n", total);
        return 0;
}

/* A consumer for --verify-counts. It only ever assigns partitions, so the
 * group id is never joined and nothing is committed. */
static rd_kafka_t *consumer_new(const char *bootstrap)
{
        char errstr[512], group[64];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();

        snprintf(group, sizeof group, "brook-bench-load-verify-%ld",
                 (long)getpid());
        if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr,
                              sizeof errstr) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "client.id", "brook-bench-load", errstr,
                              sizeof errstr) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof errstr) !=
                    RD_KAFKA_CONF_OK ||
            bench_client_conf_apply(conf, BENCH_CLIENT_CONSUMER, errstr,
                                    sizeof errstr) ||
            rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr,
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

/* Called for each record read_to_end() reads, in offset order within a
 * partition; @p seq numbers the records in the order read. */
typedef void (*read_cb_t)(const rd_kafka_message_t *msg, uint64_t seq,
                          void *opaque);

/*
 * Reads @p topic from its start to the end it had when the read began and
 * hands every record to @p cb; *@p readp is the number read. -1 after
 * printing why.
 */
static int read_to_end(rd_kafka_t *rk, const char *bootstrap, const char *topic,
                       read_cb_t cb, void *opaque, uint64_t *readp)
{
        int partitions = topic_partitions(rk, topic);
        int64_t *high = NULL;
        rd_kafka_t *consumer = NULL;
        rd_kafka_topic_partition_list_t *parts = NULL;
        uint64_t read = 0;
        int pending = 0, ret = -1;

        if (partitions <= 0) {
                if (partitions == 0)
                        fprintf(stderr, "%s: topic '%s' does not exist\n", prog,
                                topic);
                return -1;
        }
        high = calloc((size_t)partitions, sizeof *high);
        parts = rd_kafka_topic_partition_list_new(partitions);
        if (!high) {
                fprintf(stderr, "%s: out of memory\n", prog);
                goto out;
        }
        for (int32_t p = 0; p < partitions; p++) {
                int64_t low;
                rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
                        rk, topic, p, &low, &high[p], 10000);
                if (err) {
                        fprintf(stderr,
                                "%s: cannot read the offsets of %s [%" PRId32
                                "]: %s\n",
                                prog, topic, p, rd_kafka_err2str(err));
                        goto out;
                }
                if (high[p] > low) {
                        rd_kafka_topic_partition_list_add(parts, topic, p)
                                ->offset = low;
                        pending++;
                }
        }
        if (pending) {
                if (!(consumer = consumer_new(bootstrap)))
                        goto out;
                rd_kafka_resp_err_t err = rd_kafka_assign(consumer, parts);
                if (err) {
                        fprintf(stderr, "%s: cannot assign %s: %s\n", prog,
                                topic, rd_kafka_err2str(err));
                        goto out;
                }
        }

        double last_read = bench_now();
        while (pending) {
                rd_kafka_message_t *msg = rd_kafka_consumer_poll(consumer, 500);
                if (!msg) {
                        if (bench_now() - last_read > 30) {
                                fprintf(stderr,
                                        "%s: %s: nothing read for 30 s, "
                                        "%d partitions short of their end\n",
                                        prog, topic, pending);
                                goto out;
                        }
                        continue;
                }
                last_read = bench_now();
                int32_t p = msg->partition;
                if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        /* Compaction may have removed the last offsets. */
                        if (p >= 0 && p < partitions && high[p] >= 0) {
                                high[p] = -1;
                                pending--;
                        }
                        rd_kafka_message_destroy(msg);
                        continue;
                }
                if (msg->err) {
                        fprintf(stderr, "%s: reading %s: %s\n", prog, topic,
                                rd_kafka_message_errstr(msg));
                        rd_kafka_message_destroy(msg);
                        goto out;
                }
                if (p < 0 || p >= partitions || high[p] < 0 ||
                    msg->offset >= high[p]) {
                        rd_kafka_message_destroy(msg);
                        continue;
                }
                cb(msg, read++, opaque);
                if (msg->offset + 1 >= high[p]) {
                        high[p] = -1;
                        pending--;
                }
                rd_kafka_message_destroy(msg);
        }
        ret = 0;
out:
        if (consumer) {
                rd_kafka_consumer_close(consumer);
                rd_kafka_destroy(consumer);
        }
        rd_kafka_topic_partition_list_destroy(parts);
        free(high);
        *readp = read;
        return ret;
}

typedef struct counts_read_s {
        const char *topic;
        const bench_keyfmt_t *kf;
        uint64_t keys;
        int64_t *last;
        uint64_t foreign;
} counts_read_t;

static void counts_cb(const rd_kafka_message_t *msg, uint64_t seq, void *opaque)
{
        counts_read_t *c = opaque;
        uint64_t k;

        (void)seq;
        if (bench_keyfmt_number(c->kf, msg->key, msg->key_len, &k) ||
            k >= c->keys || msg->len != BENCH_COUNT_SIZE) {
                if (!c->foreign++)
                        fprintf(stderr,
                                "%s: %s [%" PRId32 "] offset %" PRId64
                                ": a key of %zu bytes and a value of "
                                "%zu bytes are not a count of one of "
                                "the %" PRIu64 " keys\n",
                                prog, c->topic, msg->partition, msg->offset,
                                msg->key_len, msg->len, c->keys);
        } else {
                c->last[k] = bench_count_decode(msg->payload);
        }
}

/*
 * --verify-counts: reads @p topic from its start to the end it had when
 * the check began, keeps the last count of every key and compares each
 * with state.h's expectation for @p records records over @p keys keys.
 */
static int verify_counts(rd_kafka_t *rk, const char *bootstrap,
                         const char *topic, uint64_t records, uint64_t keys,
                         const bench_keyfmt_t *kf)
{
        counts_read_t c = {.topic = topic, .kf = kf, .keys = keys};
        uint64_t read = 0, missing = 0, wrong = 0;
        char key[sizeof kf->prefix + sizeof kf->suffix + 24];

        c.last = calloc(keys, sizeof *c.last);
        if (!c.last) {
                fprintf(stderr, "%s: out of memory\n", prog);
                return -1;
        }
        if (read_to_end(rk, bootstrap, topic, counts_cb, &c, &read)) {
                free(c.last);
                return -1;
        }

        for (uint64_t k = 0; k < keys; k++) {
                int64_t want = bench_key_count(records, keys, k);
                if (c.last[k] == want)
                        continue;
                if (!c.last[k])
                        missing++;
                else
                        wrong++;
                if (missing + wrong <= 5) {
                        bench_keyfmt_key(kf, k, key, sizeof key);
                        fprintf(stderr,
                                "%s: %s: key %s: last count %" PRId64
                                ", expected %" PRId64 "\n",
                                prog, topic, key, c.last[k], want);
                }
        }
        fprintf(stderr, "%s: %s: sample:", prog, topic);
        for (uint64_t i = 0; i < 10; i++) {
                uint64_t k = (i * keys / 10 + i) % keys;
                bench_keyfmt_key(kf, k, key, sizeof key);
                fprintf(stderr, " %s=%" PRId64 "/%" PRId64, key, c.last[k],
                        bench_key_count(records, keys, k));
        }
        fprintf(stderr, " (last count / expected)\n");
        fprintf(stderr,
                "%s: %s: %" PRIu64 " records read; of %" PRIu64 " keys %" PRIu64
                " missing, %" PRIu64 " wrong; %" PRIu64
                " records of no such key\n",
                prog, topic, read, keys, missing, wrong, c.foreign);
        printf("%" PRIu64 "\n", read);
        free(c.last);
        return missing || wrong || c.foreign ? -1 : 0;
}

/* ------------------------------------------------------ windowed checks */

/* One (key, window) and its count: an output record as read, or an
 * expected final result. */
typedef struct win_entry_s {
        uint64_t key;
        int64_t start;
        int64_t end;   /**< Time windows: start + size. */
        int64_t count; /**< WIN_TOMBSTONE for a NULL value. */
        uint64_t seq;  /**< Order read. */
} win_entry_t;

#define WIN_TOMBSTONE INT64_MIN

typedef struct win_vec_s {
        win_entry_t *v;
        size_t cnt, cap;
        bool oom;
} win_vec_t;

static win_entry_t *win_push(win_vec_t *w)
{
        if (w->cnt == w->cap) {
                size_t cap = w->cap ? w->cap * 2 : 65536;
                win_entry_t *v = realloc(w->v, cap * sizeof *v);
                if (!v) {
                        w->oom = true;
                        return NULL;
                }
                w->v = v;
                w->cap = cap;
        }
        return &w->v[w->cnt++];
}

static int win_cmp(const void *a, const void *b)
{
        const win_entry_t *x = a, *y = b;

        if (x->key != y->key)
                return x->key < y->key ? -1 : 1;
        if (x->start != y->start)
                return x->start < y->start ? -1 : 1;
        if (x->end != y->end)
                return x->end < y->end ? -1 : 1;
        if (x->seq != y->seq)
                return x->seq < y->seq ? -1 : 1;
        return 0;
}

static int64_t be64(const unsigned char *p)
{
        return bench_count_decode(p);
}

/*
 * The final counts the generator gives (state.h): every hopping window,
 * or every session, of every key, sorted by key, start and end.
 */
static int window_ref(bool session, uint64_t records, uint64_t keys, int64_t t0,
                      win_vec_t *ref)
{
        for (uint64_t k = 0; k < keys && k < records; k++) {
                size_t key_first = ref->cnt;
                win_entry_t cur = {.key = k};
                bool open = false;
                for (uint64_t i = k; i < records; i += keys) {
                        int64_t ts = bench_event_time(t0, i);
                        if (session) {
                                if (open &&
                                    ts - cur.end <= BENCH_SESSION_GAP_MS) {
                                        cur.end = ts;
                                        cur.count++;
                                        continue;
                                }
                                if (open) {
                                        win_entry_t *e = win_push(ref);
                                        if (!e)
                                                return -1;
                                        *e = cur;
                                }
                                cur = (win_entry_t){.key = k,
                                                    .start = ts,
                                                    .end = ts,
                                                    .count = 1};
                                open = true;
                                continue;
                        }
                        for (int64_t s = bench_hop_first_start(ts); s <= ts;
                             s += BENCH_HOP_ADVANCE_MS) {
                                /* Starts grow with ts: a window of this
                                 * key, if it has one, is among the last
                                 * few. */
                                win_entry_t *e = NULL;
                                for (size_t j = ref->cnt;
                                     j > key_first && j + 4 > ref->cnt; j--)
                                        if (ref->v[j - 1].start == s) {
                                                e = &ref->v[j - 1];
                                                break;
                                        }
                                if (e) {
                                        e->count++;
                                        continue;
                                }
                                if (!(e = win_push(ref)))
                                        return -1;
                                *e = (win_entry_t){.key = k,
                                                   .start = s,
                                                   .end = s + BENCH_HOP_SIZE_MS,
                                                   .count = 1};
                        }
                }
                if (session && open) {
                        win_entry_t *e = win_push(ref);
                        if (!e)
                                return -1;
                        *e = cur;
                }
        }
        return 0;
}

typedef struct windows_read_s {
        const char *topic;
        const bench_keyfmt_t *kf;
        uint64_t keys;
        bool session;
        win_vec_t out;
        uint64_t foreign;
        uint64_t tombstones;
} windows_read_t;

/* Kafka Streams' windowed keys: the key, then the window start (time
 * windows), or the session end and start (8 bytes each, big-endian). */
static void windows_cb(const rd_kafka_message_t *msg, uint64_t seq,
                       void *opaque)
{
        windows_read_t *c = opaque;
        size_t tail = c->session ? 16 : 8;
        const unsigned char *kb = msg->key;
        uint64_t k;

        if (!kb || msg->key_len <= tail ||
            bench_keyfmt_number(c->kf, kb, msg->key_len - tail, &k) ||
            k >= c->keys || (msg->len != 0 && msg->len != BENCH_COUNT_SIZE)) {
                if (!c->foreign++)
                        fprintf(stderr,
                                "%s: %s [%" PRId32 "] offset %" PRId64
                                ": a key of %zu bytes and a value of %zu "
                                "bytes are not a %s count of one of the "
                                "%" PRIu64 " keys\n",
                                prog, c->topic, msg->partition, msg->offset,
                                msg->key_len, msg->len,
                                c->session ? "session" : "time-windowed",
                                c->keys);
                return;
        }
        win_entry_t *e = win_push(&c->out);
        if (!e)
                return;
        const unsigned char *t = kb + msg->key_len - tail;
        e->key = k;
        e->seq = seq;
        if (c->session) {
                e->end = be64(t);
                e->start = be64(t + 8);
        } else {
                e->start = be64(t);
                e->end = e->start + BENCH_HOP_SIZE_MS;
        }
        if (msg->len == 0) {
                e->count = WIN_TOMBSTONE;
                c->tombstones++;
        } else {
                e->count = bench_count_decode(msg->payload);
        }
}

static void win_print(const bench_keyfmt_t *kf, const win_entry_t *e,
                      bool session, char *buf, size_t size)
{
        char key[sizeof kf->prefix + sizeof kf->suffix + 24];

        bench_keyfmt_key(kf, e->key, key, sizeof key);
        snprintf(buf, size, "%s@[%" PRId64 ",%" PRId64 "%s", key, e->start,
                 e->end, session ? "]" : ")");
}

/*
 * --verify-windows: reads @p topic (a windowed count's output) to its end,
 * keeps the last value of every (key, window) (a NULL value removes it)
 * and compares what is left with window_ref(): every window's count, no
 * window missing, none extra.
 */
static int verify_windows(rd_kafka_t *rk, const char *bootstrap,
                          const char *topic, bool session, uint64_t records,
                          uint64_t keys, int64_t t0, const bench_keyfmt_t *kf)
{
        windows_read_t c = {
                .topic = topic, .kf = kf, .keys = keys, .session = session};
        win_vec_t ref = {0};
        uint64_t read = 0, missing = 0, wrong = 0, extra = 0, shown = 0;
        size_t live = 0;
        char a[256];
        int ret = -1;

        if (window_ref(session, records, keys, t0, &ref)) {
                fprintf(stderr, "%s: out of memory\n", prog);
                goto out;
        }
        if (read_to_end(rk, bootstrap, topic, windows_cb, &c, &read))
                goto out;
        if (c.out.oom) {
                fprintf(stderr, "%s: out of memory\n", prog);
                goto out;
        }

        /* The last value of each (key, window), in the order read: a key's
         * records are in one partition, so that is offset order. */
        if (c.out.cnt)
                qsort(c.out.v, c.out.cnt, sizeof *c.out.v, win_cmp);
        for (size_t i = 0; i < c.out.cnt; i++) {
                if (i + 1 < c.out.cnt && c.out.v[i + 1].key == c.out.v[i].key &&
                    c.out.v[i + 1].start == c.out.v[i].start &&
                    c.out.v[i + 1].end == c.out.v[i].end)
                        continue;
                if (c.out.v[i].count != WIN_TOMBSTONE)
                        c.out.v[live++] = c.out.v[i];
        }

        size_t i = 0, j = 0;
        while (i < ref.cnt || j < live) {
                const win_entry_t *r = i < ref.cnt ? &ref.v[i] : NULL;
                const win_entry_t *o = j < live ? &c.out.v[j] : NULL;
                int cmp = !r   ? 1
                          : !o ? -1
                               : win_cmp(r, &(win_entry_t){.key = o->key,
                                                           .start = o->start,
                                                           .end = o->end,
                                                           .seq = r->seq});
                if (cmp == 0) {
                        if (o->count != r->count && wrong++ < 5 &&
                            shown++ < 10) {
                                win_print(kf, r, session, a, sizeof a);
                                fprintf(stderr,
                                        "%s: %s: %s: last count %" PRId64
                                        ", expected %" PRId64 "\n",
                                        prog, topic, a, o->count, r->count);
                        }
                        i++;
                        j++;
                } else if (cmp < 0) {
                        if (missing++ < 5 && shown++ < 10) {
                                win_print(kf, r, session, a, sizeof a);
                                fprintf(stderr,
                                        "%s: %s: %s: missing, expected "
                                        "%" PRId64 "\n",
                                        prog, topic, a, r->count);
                        }
                        i++;
                } else {
                        if (extra++ < 5 && shown++ < 10) {
                                win_print(kf, o, session, a, sizeof a);
                                fprintf(stderr,
                                        "%s: %s: %s: count %" PRId64
                                        ", but no such %s\n",
                                        prog, topic, a, o->count,
                                        session ? "session" : "window");
                        }
                        j++;
                }
        }

        fprintf(stderr, "%s: %s: sample:", prog, topic);
        for (uint64_t s = 0; s < 5 && ref.cnt; s++) {
                const win_entry_t *r = &ref.v[(s * ref.cnt / 5 + s) % ref.cnt];
                win_print(kf, r, session, a, sizeof a);
                fprintf(stderr, " %s=%" PRId64, a, r->count);
        }
        fprintf(stderr, " (expected)\n");
        fprintf(stderr,
                "%s: %s: %" PRIu64 " records read (%" PRIu64
                " tombstones); of %zu expected %s %" PRIu64 " missing, %" PRIu64
                " wrong; %" PRIu64 " extra; %" PRIu64
                " records not a windowed count of the keys\n",
                prog, topic, read, c.tombstones, ref.cnt,
                session ? "sessions" : "windows", missing, wrong, extra,
                c.foreign);
        printf("%" PRIu64 "\n", read);
        ret = missing || wrong || extra || c.foreign || !ref.cnt ? -1 : 0;
out:
        free(ref.v);
        free(c.out.v);
        return ret;
}

/* --------------------------------------------------------- join checks */

typedef struct join_read_s {
        const char *topic;
        bool ss;
        uint64_t records;
        uint64_t rows;
        size_t value_size;
        uint8_t *seen; /**< Per index: records read of it, up to 255. */
        char *want;    /**< The expected value, built per record. */
        size_t want_size;
        uint64_t foreign;
        uint64_t wrong;
        uint64_t dups;
        unsigned shown;
} join_read_t;

static void join_fault(join_read_t *c, const rd_kafka_message_t *msg,
                       const char *what)
{
        if (c->shown++ >= 10)
                return;
        fprintf(stderr,
                "%s: %s [%" PRId32 "] offset %" PRId64
                ": %s (key of %zu bytes '%.*s', value of %zu bytes "
                "'%.*s')\n",
                prog, c->topic, msg->partition, msg->offset, what, msg->key_len,
                (int)(msg->key_len < 40 ? msg->key_len : 40),
                msg->key ? (const char *)msg->key : "", msg->len,
                (int)(msg->len < 60 ? msg->len : 60),
                msg->payload ? (const char *)msg->payload : "");
}

/* The expected key and value of output index @p i into @p key and
 * c->want; returns the value's length. */
static size_t join_expected(const join_read_t *c, uint64_t i, char *key,
                            size_t key_size, size_t *key_len)
{
        bench_join_topic_t first =
                c->ss ? BENCH_JOIN_SS_LEFT : BENCH_JOIN_ST_EVENTS;
        size_t n;

        *key_len = bench_join_key(first, i, c->rows, key, key_size);
        n = bench_join_value(first, i, c->want, c->want_size, c->value_size);
        c->want[n++] = BENCH_JOIN_SEP;
        if (c->ss)
                n += bench_join_value(BENCH_JOIN_SS_RIGHT, i, c->want + n,
                                      c->want_size - n, c->value_size);
        else
                n += bench_join_value(BENCH_JOIN_ST_TABLE,
                                      bench_join_event_row(i, c->rows),
                                      c->want + n, c->want_size - n, 0);
        return n;
}

static void join_cb(const rd_kafka_message_t *msg, uint64_t seq, void *opaque)
{
        join_read_t *c = opaque;
        char key[64];
        size_t key_len, n;
        uint64_t i;

        (void)seq;
        if (bench_join_index(c->ss ? BENCH_JOIN_SS_LEFT : BENCH_JOIN_ST_EVENTS,
                             msg->payload, msg->len, &i) ||
            i >= c->records) {
                c->foreign++;
                join_fault(c, msg, "not the join of an input record");
                return;
        }
        n = join_expected(c, i, key, sizeof key, &key_len);
        if (msg->key_len != key_len || memcmp(msg->key, key, key_len) ||
            msg->len != n || memcmp(msg->payload, c->want, n)) {
                c->wrong++;
                join_fault(c, msg, "the wrong key or value for its index");
        }
        if (c->seen[i] < UINT8_MAX)
                c->seen[i]++;
        if (c->seen[i] > 1) {
                c->dups++;
                if (c->seen[i] == 2)
                        join_fault(c, msg, "an index read twice");
        }
}

/*
 * --verify-join: reads @p topic (st-join's or ss-join's output over
 * @p records events, or records a side) to its end and checks it against
 * join.h: every index once, with its key and joined value, nothing else.
 */
static int verify_join_output(rd_kafka_t *rk, const char *bootstrap,
                              const char *topic, bool ss, uint64_t records,
                              uint64_t rows, size_t value_size)
{
        join_read_t c = {.topic = topic,
                         .ss = ss,
                         .records = records,
                         .rows = rows,
                         .value_size = value_size,
                         .want_size = 2 * value_size + 64};
        uint64_t read = 0, missing = 0;
        char key[64];
        size_t key_len, n;
        int ret = -1;

        c.seen = calloc(records ? records : 1, 1);
        c.want = malloc(c.want_size);
        if (!c.seen || !c.want) {
                fprintf(stderr, "%s: out of memory\n", prog);
                goto out;
        }
        if (read_to_end(rk, bootstrap, topic, join_cb, &c, &read))
                goto out;
        for (uint64_t i = 0; i < records; i++) {
                if (c.seen[i])
                        continue;
                if (missing++ < 5) {
                        n = join_expected(&c, i, key, sizeof key, &key_len);
                        fprintf(stderr,
                                "%s: %s: missing index %" PRIu64
                                ": key %.*s, value %.*s\n",
                                prog, topic, i, (int)key_len, key,
                                (int)(n < 60 ? n : 60), c.want);
                }
        }
        if (records) {
                n = join_expected(&c, records - 1, key, sizeof key, &key_len);
                fprintf(stderr,
                        "%s: %s: the last index, %" PRIu64
                        ": key %.*s, value of %zu bytes %.*s...%.*s\n",
                        prog, topic, records - 1, (int)key_len, key, n, 20,
                        c.want, 20, c.want + n - 20);
        }
        fprintf(stderr,
                "%s: %s: %" PRIu64 " records read; of %" PRIu64
                " expected (%s) %" PRIu64 " missing, %" PRIu64
                " read more than once (extra records), %" PRIu64
                " with the wrong key or value; %" PRIu64
                " records not the join of an input record\n",
                prog, topic, read, records,
                ss ? "ss-join: one per left record" : "st-join: one per event",
                missing, c.dups, c.wrong, c.foreign);
        printf("%" PRIu64 "\n", read);
        ret = missing || c.dups || c.wrong || c.foreign || read != records ? -1
                                                                           : 0;
out:
        free(c.seen);
        free(c.want);
        return ret;
}

/* ---------------------------------------------------------------- Avro */

/*
 * --format avro and --verify-avro: bench/record.avsc parsed by avro-c, a
 * record to encode with it, and the Schema Registry (brook's client).
 */
typedef struct avro_ctx_s {
        char *text; /**< The schema file's text, registered as it is. */
        avro_schema_t schema;
        avro_value_iface_t *iface;
        avro_value_t rec;
        bool have_rec;
        avro_value_t id_f, key_f, amount_f, pad_f;
        brook_schema_registry_t *sr;
        char *pad;           /**< 'x's, for the pad field. */
        size_t pad_cap;      /**< Its length (without the NUL). */
        unsigned char *want; /**< bench_avro_body()'s bytes. */
        size_t want_cap;
} avro_ctx_t;

static void avro_ctx_destroy(avro_ctx_t *a)
{
        if (a->have_rec)
                avro_value_decref(&a->rec);
        if (a->iface)
                avro_value_iface_decref(a->iface);
        if (a->schema)
                avro_schema_decref(a->schema);
        brook_schema_registry_destroy(a->sr);
        free(a->text);
        free(a->pad);
        free(a->want);
}

static char *read_file(const char *path)
{
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        long size;

        if (!f || fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 ||
            fseek(f, 0, SEEK_SET) || !(buf = malloc((size_t)size + 1)) ||
            fread(buf, 1, (size_t)size, f) != (size_t)size) {
                fprintf(stderr, "%s: cannot read %s: %s\n", prog, path,
                        strerror(errno ? errno : EIO));
                free(buf);
                buf = NULL;
        } else {
                buf[size] = '\0';
        }
        if (f)
                fclose(f);
        return buf;
}

/*
 * Parses @p schema_file, makes a record of it to encode into and a
 * registry client for @p registry (a Confluent-compatible base URL), with
 * room for values of @p value_size bytes.
 */
static int avro_ctx_init(avro_ctx_t *a, const char *registry,
                         const char *schema_file, size_t value_size)
{
        char errstr[512];
        brook_conf_t *conf = NULL;

        memset(a, 0, sizeof *a);
        if (!(a->text = read_file(schema_file)))
                return -1;
        if (avro_schema_from_json_length(a->text, strlen(a->text),
                                         &a->schema)) {
                fprintf(stderr, "%s: %s: %s\n", prog, schema_file,
                        avro_strerror());
                return -1;
        }
        if (!(a->iface = avro_generic_class_from_schema(a->schema)) ||
            avro_generic_value_new(a->iface, &a->rec)) {
                fprintf(stderr, "%s: %s: %s\n", prog, schema_file,
                        avro_strerror());
                return -1;
        }
        a->have_rec = true;
        if (avro_value_get_by_name(&a->rec, "id", &a->id_f, NULL) ||
            avro_value_get_by_name(&a->rec, "key", &a->key_f, NULL) ||
            avro_value_get_by_name(&a->rec, "amount", &a->amount_f, NULL) ||
            avro_value_get_by_name(&a->rec, "pad", &a->pad_f, NULL)) {
                fprintf(stderr,
                        "%s: %s: not the record of bench/avro_records.h "
                        "(fields id, key, amount, pad)\n",
                        prog, schema_file);
                return -1;
        }
        a->pad_cap = value_size;
        a->want_cap = value_size + 1;
        a->pad = malloc(a->pad_cap + 1);
        a->want = malloc(a->want_cap);
        if (!a->pad || !a->want) {
                fprintf(stderr, "%s: out of memory\n", prog);
                return -1;
        }
        memset(a->pad, 'x', a->pad_cap);
        a->pad[a->pad_cap] = '\0';

        if (!(conf = brook_conf_new()) ||
            brook_conf_set(conf, "schema.registry.url", registry, errstr,
                           sizeof errstr) != BROOK_OK ||
            !(a->sr = brook_schema_registry_new(conf, errstr, sizeof errstr))) {
                fprintf(stderr, "%s: the Schema Registry at %s: %s\n", prog,
                        registry, conf ? errstr : "out of memory");
                brook_conf_destroy(conf);
                return -1;
        }
        brook_conf_destroy(conf);
        return 0;
}

/*
 * Encodes record @p seq with avro-c into @p out (the framed value, with
 * schema id @p id) and checks it against bench_avro_body(); *@p lenp is its
 * length.
 */
static int avro_encode(avro_ctx_t *a, int32_t id, uint64_t seq, uint64_t keys,
                       size_t value_size, unsigned char *out, size_t cap,
                       size_t *lenp)
{
        char key[32];
        size_t key_len = bench_avro_key_field(seq, keys, key, sizeof key);
        size_t pad = bench_avro_pad_len(seq, keys, value_size);
        size_t size = 0, want;
        avro_writer_t wr;
        int err;

        if (pad == SIZE_MAX || pad > a->pad_cap) {
                fprintf(stderr,
                        "%s: --value-size %zu is too small for Avro record "
                        "%" PRIu64 "\n",
                        prog, value_size, seq);
                return -1;
        }
        /* avro-c's string lengths count the NUL. */
        a->pad[pad] = '\0';
        err = avro_value_set_long(&a->id_f, (int64_t)seq) ||
              avro_value_set_string_len(&a->key_f, key, key_len + 1) ||
              avro_value_set_long(&a->amount_f, (int64_t)(seq % 1000)) ||
              avro_value_set_string_len(&a->pad_f, a->pad, pad + 1) ||
              avro_value_sizeof(&a->rec, &size);
        a->pad[pad] = 'x';
        if (err || BENCH_AVRO_HEADER_SIZE + size > cap) {
                fprintf(stderr, "%s: encoding record %" PRIu64 ": %s\n", prog,
                        seq, err ? avro_strerror() : "too long");
                return -1;
        }
        bench_avro_header(out, id);
        wr = avro_writer_memory((char *)out + BENCH_AVRO_HEADER_SIZE,
                                (int64_t)size);
        err = avro_value_write(wr, &a->rec);
        avro_writer_free(wr);
        if (err) {
                fprintf(stderr, "%s: encoding record %" PRIu64 ": %s\n", prog,
                        seq, avro_strerror());
                return -1;
        }
        want = bench_avro_body(seq, keys, value_size, a->want, a->want_cap);
        if (want != size ||
            memcmp(out + BENCH_AVRO_HEADER_SIZE, a->want, size)) {
                fprintf(stderr,
                        "%s: record %" PRIu64 ": avro-c wrote %zu bytes that "
                        "are not bench/avro_records.h's %zu\n",
                        prog, seq, size, want);
                return -1;
        }
        *lenp = BENCH_AVRO_HEADER_SIZE + size;
        return 0;
}

/* Registers the schema under "<topic>-value", as a Confluent serializer
 * with TopicNameStrategy would, and returns its id in *@p idp. */
static int avro_register(avro_ctx_t *a, const char *topic, int32_t *idp)
{
        char subject[512], errstr[512];

        snprintf(subject, sizeof subject, "%s-value", topic);
        if (brook_schema_registry_register(a->sr, subject, a->text, idp, errstr,
                                           sizeof errstr) != BROOK_OK) {
                fprintf(stderr, "%s: registering %s: %s\n", prog, subject,
                        errstr);
                return -1;
        }
        fprintf(stderr, "%s: schema registered under %s: id %" PRId32 "\n",
                prog, subject, *idp);
        return 0;
}

#define AVRO_IDS 8

typedef struct avro_read_s {
        avro_ctx_t *a;
        const char *topic;
        const bench_keyfmt_t *kf;
        uint64_t records;
        uint64_t keys;
        size_t value_size;
        uint8_t *seen; /**< Per sequence number: records read, up to 255. */
        struct {
                int32_t id;
                bool ok;
        } ids[AVRO_IDS]; /**< The writer schemas seen, checked once each. */
        int id_cnt;
        uint64_t foreign, wrong, dups, bad_ids;
        unsigned shown;
} avro_read_t;

static void avro_fault(avro_read_t *c, const rd_kafka_message_t *msg,
                       const char *what)
{
        if (c->shown++ >= 10)
                return;
        fprintf(stderr,
                "%s: %s [%" PRId32 "] offset %" PRId64
                ": %s (key of %zu bytes '%.*s', value of %zu bytes)\n",
                prog, c->topic, msg->partition, msg->offset, what, msg->key_len,
                (int)(msg->key_len < 40 ? msg->key_len : 40),
                msg->key ? (const char *)msg->key : "", msg->len);
}

/* Whether the registry holds bench/record.avsc under @p id. */
static bool avro_id_ok(avro_read_t *c, int32_t id)
{
        const char *text;
        char errstr[512];
        avro_schema_t schema;
        bool ok = false;

        for (int i = 0; i < c->id_cnt; i++)
                if (c->ids[i].id == id)
                        return c->ids[i].ok;
        if (brook_schema_registry_schema(c->a->sr, id, &text, errstr,
                                         sizeof errstr) != BROOK_OK) {
                fprintf(stderr, "%s: %s: schema id %" PRId32 ": %s\n", prog,
                        c->topic, id, errstr);
        } else if (avro_schema_from_json_length(text, strlen(text), &schema)) {
                fprintf(stderr, "%s: %s: schema id %" PRId32 ": %s\n", prog,
                        c->topic, id, avro_strerror());
        } else {
                ok = avro_schema_equal(schema, c->a->schema);
                fprintf(stderr,
                        "%s: %s: writer schema id %" PRId32 ": %s "
                        "bench/record.avsc\n",
                        prog, c->topic, id, ok ? "is" : "is NOT");
                avro_schema_decref(schema);
        }
        if (c->id_cnt < AVRO_IDS) {
                c->ids[c->id_cnt].id = id;
                c->ids[c->id_cnt++].ok = ok;
        }
        return ok;
}

static void avro_cb(const rd_kafka_message_t *msg, uint64_t seq, void *opaque)
{
        avro_read_t *c = opaque;
        uint64_t i, k;
        int32_t id;
        size_t n;

        (void)seq;
        if (!msg->payload ||
            bench_avro_value_seq(msg->payload, msg->len, &id, &i) ||
            i >= c->records) {
                c->foreign++;
                avro_fault(c, msg, "not the value of an input record");
                return;
        }
        if (!avro_id_ok(c, id)) {
                if (!c->bad_ids++)
                        avro_fault(c, msg,
                                   "a writer schema id that is not "
                                   "bench/record.avsc's");
        }
        n = bench_avro_body(i, c->keys, c->value_size, c->a->want,
                            c->a->want_cap);
        if (bench_keyfmt_number(c->kf, msg->key, msg->key_len, &k) ||
            k != i % c->keys || !n || msg->len != BENCH_AVRO_HEADER_SIZE + n ||
            memcmp((const unsigned char *)msg->payload + BENCH_AVRO_HEADER_SIZE,
                   c->a->want, n)) {
                c->wrong++;
                avro_fault(c, msg, "the wrong key or value for its id");
        }
        if (c->seen[i] < UINT8_MAX)
                c->seen[i]++;
        if (c->seen[i] > 1) {
                c->dups++;
                if (c->seen[i] == 2)
                        avro_fault(c, msg, "an id read twice");
        }
}

/*
 * --verify-avro: reads @p topic (an avro-passthrough output over
 * @p records input records) to its end and checks every record: its key,
 * its Avro body byte for byte against bench_avro_body() (so it decodes to
 * the input record), and that the registry holds bench/record.avsc under
 * its schema id; every sequence number once, nothing else.
 */
static int verify_avro(rd_kafka_t *rk, const char *bootstrap, const char *topic,
                       avro_ctx_t *a, uint64_t records, uint64_t keys,
                       size_t value_size, const bench_keyfmt_t *kf)
{
        avro_read_t c = {.a = a,
                         .topic = topic,
                         .kf = kf,
                         .records = records,
                         .keys = keys,
                         .value_size = value_size};
        uint64_t read = 0, missing = 0;
        int ret = -1;

        if (!(c.seen = calloc(records ? records : 1, 1))) {
                fprintf(stderr, "%s: out of memory\n", prog);
                return -1;
        }
        if (read_to_end(rk, bootstrap, topic, avro_cb, &c, &read))
                goto out;
        for (uint64_t i = 0; i < records; i++)
                if (!c.seen[i] && missing++ < 5)
                        fprintf(stderr, "%s: %s: record %" PRIu64 " missing\n",
                                prog, topic, i);
        fprintf(stderr,
                "%s: %s: %" PRIu64 " records read; of %" PRIu64
                " expected %" PRIu64 " missing, %" PRIu64
                " read more than once, %" PRIu64
                " with the wrong key or value, %" PRIu64
                " with a foreign schema id; %" PRIu64
                " records not an input record's\n",
                prog, topic, read, records, missing, c.dups, c.wrong, c.bad_ids,
                c.foreign);
        printf("%" PRIu64 "\n", read);
        ret = missing || c.dups || c.wrong || c.bad_ids || c.foreign ||
                              read != records
                      ? -1
                      : 0;
out:
        free(c.seen);
        return ret;
}

static int64_t wall_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void progress(uint64_t done, uint64_t total, double began, bool final)
{
        double secs = bench_now() - began;

        fprintf(stderr,
                "\r%s: %" PRIu64 "/%" PRIu64
                " records (%3.0f%%), %.0f records/s%s",
                prog, done, total,
                total ? 100.0 * (double)done / (double)total : 100.0,
                secs > 0 ? (double)done / secs : 0.0, final ? "\n" : "  ");
}

/* Sleeps until @p deadline on bench_now()'s clock (monotonic seconds). */
static void sleep_until(double deadline)
{
        double left = deadline - bench_now();

        if (left <= 0)
                return;
        struct timespec ts = {
                .tv_sec = (time_t)left,
                .tv_nsec = (long)((left - (double)(time_t)left) * 1e9)};
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
                ;
}

/*
 * Writes @p records records to @p topic: keys from @p kf (NULL: records.h's
 * keys), values of @p format, or counts (state.h) if @p counts. With @p rate
 * > 0, record seq is sent no sooner than seq / rate seconds after the start
 * and stamped with the wall clock at send; otherwise as fast as the producer
 * takes them, stamped t0 + seq ms, or, with @p windowed, with state.h's
 * bench_event_time(@p event_t0, seq). With @p join, keys, values and
 * timestamps are join.h's instead, from @p event_t0. With @p avro, values
 * are avro_records.h's, framed with schema id @p avro_id.
 */
static int load(rd_kafka_t *rk, load_stats_t *stats, const char *topic,
                uint64_t records, size_t value_size, uint64_t keys,
                const bench_keyfmt_t *kf, bench_format_t format, bool counts,
                double rate, bool windowed, int64_t event_t0,
                const join_load_t *join, avro_ctx_t *avro, int32_t avro_id)
{
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        char key[sizeof kf->prefix + sizeof kf->suffix + 24];
        /* A table row's value is short, but formatted with its NUL. */
        size_t value_cap = value_size + 32;
        char *value = malloc(value_cap);
        bool tty = isatty(STDERR_FILENO);
        int64_t t0 = wall_ms() - (int64_t)records;
        double began = bench_now(), last_progress = began;
        /* Rate mode: records due by now, and the worst lag behind them. */
        uint64_t due = 0;
        double behind_max = 0;
        int ret = -1;

        if (!rkt || !value) {
                fprintf(stderr, "%s: out of memory or bad topic '%s'\n", prog,
                        topic);
                goto out;
        }

        for (uint64_t seq = 0; seq < records; seq++) {
                size_t key_len, value_len = value_size;
                if (join) {
                        key_len = bench_join_key(join->topic, seq, join->rows,
                                                 key, sizeof key);
                        value_len = bench_join_value(join->topic, seq, value,
                                                     value_cap, value_size);
                } else {
                        key_len = kf ? bench_keyfmt_key(kf, seq % keys, key,
                                                        sizeof key)
                                     : bench_key(seq, keys, key, sizeof key);
                        if (counts)
                                bench_count_encode((int64_t)(seq / keys + 1),
                                                   (unsigned char *)value);
                        else if (avro) {
                                if (avro_encode(avro, avro_id, seq, keys,
                                                value_size,
                                                (unsigned char *)value,
                                                value_cap, &value_len))
                                        goto out;
                        } else
                                bench_value(format, seq, keys, value,
                                            value_size);
                }

                if (rate > 0 && seq >= due) {
                        /* On schedule: serve delivery reports, then wait
                         * for the next millisecond's batch. */
                        rd_kafka_poll(rk, 0);
                        for (;;) {
                                double now = bench_now();
                                due = (uint64_t)((now - began) * rate) + 1;
                                if (due > seq)
                                        break;
                                /* The next millisecond since the start. */
                                double ms = (double)(uint64_t)((now - began) *
                                                               1000) +
                                            1;
                                sleep_until(began + ms / 1000);
                        }
                }
                if (rate > 0) {
                        double behind =
                                bench_now() - began - (double)seq / rate;
                        if (behind > behind_max)
                                behind_max = behind;
                }

                rd_kafka_resp_err_t err;
                while ((err = rd_kafka_producev(
                                rk, RD_KAFKA_V_RKT(rkt),
                                RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_KEY(key, key_len),
                                RD_KAFKA_V_VALUE(value, value_len),
                                RD_KAFKA_V_TIMESTAMP(
                                        rate > 0   ? wall_ms()
                                        : join     ? bench_join_ts(join->topic,
                                                                   event_t0, seq)
                                        : windowed ? bench_event_time(event_t0,
                                                                      seq)
                                                   : t0 + (int64_t)seq),
                                RD_KAFKA_V_END)) ==
                       RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        rd_kafka_poll(rk, 10);
                if (err) {
                        fprintf(stderr,
                                "%s: cannot produce record %" PRIu64 ": %s\n",
                                prog, seq, rd_kafka_err2str(err));
                        goto out;
                }
                if (stats->failed)
                        goto out;

                if (seq % 1024 == 0) {
                        rd_kafka_poll(rk, 0);
                        double now = bench_now();
                        if (tty && now - last_progress >= 0.5) {
                                progress(seq, records, began, false);
                                last_progress = now;
                        }
                }
        }

        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_flush(rk, 1000)) ==
               RD_KAFKA_RESP_ERR__TIMED_OUT) {
                if (stats->failed)
                        break;
                if (tty)
                        progress(stats->delivered, records, began, false);
        }
        if (stats->failed) {
                fprintf(stderr, "%s: %" PRIu64 " records failed (first: %s)\n",
                        prog, stats->failed,
                        rd_kafka_err2str(stats->first_err));
                goto out;
        }
        if (err) {
                fprintf(stderr, "%s: flush failed: %s\n", prog,
                        rd_kafka_err2str(err));
                goto out;
        }
        if (stats->delivered != records) {
                fprintf(stderr,
                        "%s: %" PRIu64 " of %" PRIu64 " records delivered\n",
                        prog, stats->delivered, records);
                goto out;
        }

        double secs = bench_now() - began;
        if (tty)
                progress(records, records, began, true);
        /* A join table's values are its wards ("ward-%03d"), not
         * --value-size. */
        fprintf(stderr,
                "%s: loaded %" PRIu64 " records of %zu bytes into %s in %.2f s:"
                " %.0f records/s\n",
                prog, records,
                join && join->topic == BENCH_JOIN_ST_TABLE ? (size_t)8
                                                           : value_size,
                topic, secs, secs > 0 ? (double)records / secs : 0.0);
        if (rate > 0)
                fprintf(stderr,
                        "%s: paced at %.0f records/s; at most %.1f ms behind "
                        "the schedule\n",
                        prog, rate, behind_max * 1000);
        ret = 0;
out:
        free(value);
        if (rkt)
                rd_kafka_topic_destroy(rkt);
        return ret;
}

int main(int argc, char **argv)
{
        enum {
                OPT_BOOTSTRAP = 1,
                OPT_TOPIC,
                OPT_PARTITIONS,
                OPT_RECORDS,
                OPT_VALUE_SIZE,
                OPT_KEYS,
                OPT_KEY_FORMAT,
                OPT_FORMAT,
                OPT_COMPACT,
                OPT_COUNT,
                OPT_DELETE,
                OPT_EXPECT,
                OPT_VERIFY_COUNTS,
                OPT_RATE,
                OPT_DURATION,
                OPT_EVENT_TIME,
                OPT_T0,
                OPT_VERIFY_WINDOWS,
                OPT_WINDOWS,
                OPT_JOIN,
                OPT_TABLE_ROWS,
                OPT_VERIFY_JOIN,
                OPT_WORKLOAD,
                OPT_DELETE_PREFIX,
                OPT_REGISTRY,
                OPT_AVRO_SCHEMA,
                OPT_VERIFY_AVRO,
                OPT_COMPRESSION,
                OPT_HELP
        };
        static const struct option longopts[] = {
                {"bootstrap", required_argument, NULL, OPT_BOOTSTRAP},
                {"topic", required_argument, NULL, OPT_TOPIC},
                {"partitions", required_argument, NULL, OPT_PARTITIONS},
                {"records", required_argument, NULL, OPT_RECORDS},
                {"value-size", required_argument, NULL, OPT_VALUE_SIZE},
                {"keys", required_argument, NULL, OPT_KEYS},
                {"key-format", required_argument, NULL, OPT_KEY_FORMAT},
                {"format", required_argument, NULL, OPT_FORMAT},
                {"compact", no_argument, NULL, OPT_COMPACT},
                {"count", required_argument, NULL, OPT_COUNT},
                {"delete", required_argument, NULL, OPT_DELETE},
                {"expect", required_argument, NULL, OPT_EXPECT},
                {"verify-counts", required_argument, NULL, OPT_VERIFY_COUNTS},
                {"rate", required_argument, NULL, OPT_RATE},
                {"duration", required_argument, NULL, OPT_DURATION},
                {"event-time", required_argument, NULL, OPT_EVENT_TIME},
                {"t0", required_argument, NULL, OPT_T0},
                {"verify-windows", required_argument, NULL, OPT_VERIFY_WINDOWS},
                {"windows", required_argument, NULL, OPT_WINDOWS},
                {"join", required_argument, NULL, OPT_JOIN},
                {"table-rows", required_argument, NULL, OPT_TABLE_ROWS},
                {"verify-join", required_argument, NULL, OPT_VERIFY_JOIN},
                {"workload", required_argument, NULL, OPT_WORKLOAD},
                {"delete-prefix", required_argument, NULL, OPT_DELETE_PREFIX},
                {"registry", required_argument, NULL, OPT_REGISTRY},
                {"avro-schema", required_argument, NULL, OPT_AVRO_SCHEMA},
                {"verify-avro", required_argument, NULL, OPT_VERIFY_AVRO},
                {"compression", required_argument, NULL, OPT_COMPRESSION},
                {"help", no_argument, NULL, OPT_HELP},
                {NULL, 0, NULL, 0},
        };
        const char *bootstrap = NULL, *topic = NULL, *count = NULL, *del = NULL,
                   *expect = NULL, *verify = NULL, *key_format = NULL,
                   *verify_win = NULL, *windows = NULL, *verify_join = NULL,
                   *join_workload = NULL, *del_prefix = NULL, *registry = NULL,
                   *avro_schema = BENCH_AVRO_SCHEMA, *verify_avro_topic = NULL;
        uint64_t partitions = 0, records = 0, value_size = 0, keys = 10000,
                 rate = 0, duration = 0, table_rows = BENCH_JOIN_TABLE_ROWS;
        bench_join_topic_t join_topic = BENCH_JOIN_ST_TABLE;
        bool join = false;
        bool have_records = false, have_value_size = false, counts = false,
             compact = false, windowed = false, have_t0 = false, avro = false;
        int64_t t0 = 0;
        bench_format_t format = BENCH_FORMAT_BINARY;
        bench_keyfmt_t kf;
        char errstr[512];
        int opt;

        while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (opt) {
                case OPT_BOOTSTRAP:
                        bootstrap = optarg;
                        break;
                case OPT_TOPIC:
                        topic = optarg;
                        break;
                case OPT_PARTITIONS:
                        if (bench_parse_u64(prog, "--partitions", optarg,
                                            &partitions))
                                return 2;
                        break;
                case OPT_RECORDS:
                        if (bench_parse_u64(prog, "--records", optarg,
                                            &records))
                                return 2;
                        have_records = true;
                        break;
                case OPT_VALUE_SIZE:
                        if (bench_parse_u64(prog, "--value-size", optarg,
                                            &value_size))
                                return 2;
                        have_value_size = true;
                        break;
                case OPT_KEYS:
                        if (bench_parse_u64(prog, "--keys", optarg, &keys))
                                return 2;
                        break;
                case OPT_KEY_FORMAT:
                        key_format = optarg;
                        break;
                case OPT_FORMAT:
                        counts = false;
                        avro = false;
                        if (!strcmp(optarg, "binary"))
                                format = BENCH_FORMAT_BINARY;
                        else if (!strcmp(optarg, "json"))
                                format = BENCH_FORMAT_JSON;
                        else if (!strcmp(optarg, "count"))
                                counts = true;
                        else if (!strcmp(optarg, "avro"))
                                avro = true;
                        else {
                                fprintf(stderr,
                                        "%s: --format is binary, json, avro "
                                        "or count, not '%s'\n",
                                        prog, optarg);
                                return 2;
                        }
                        break;
                case OPT_COMPACT:
                        compact = true;
                        break;
                case OPT_COMPRESSION:
                        compression = optarg;
                        break;
                case OPT_COUNT:
                        count = optarg;
                        break;
                case OPT_DELETE:
                        del = optarg;
                        break;
                case OPT_EXPECT:
                        expect = optarg;
                        break;
                case OPT_VERIFY_COUNTS:
                        verify = optarg;
                        break;
                case OPT_RATE:
                        if (bench_parse_u64(prog, "--rate", optarg, &rate))
                                return 2;
                        break;
                case OPT_DURATION:
                        if (bench_parse_u64(prog, "--duration", optarg,
                                            &duration))
                                return 2;
                        break;
                case OPT_EVENT_TIME:
                        if (strcmp(optarg, "windowed")) {
                                fprintf(stderr,
                                        "%s: --event-time is windowed, not "
                                        "'%s'\n",
                                        prog, optarg);
                                return 2;
                        }
                        windowed = true;
                        break;
                case OPT_T0: {
                        uint64_t v;
                        if (bench_parse_u64(prog, "--t0", optarg, &v))
                                return 2;
                        if (v > (uint64_t)INT64_MAX / 2) {
                                fprintf(stderr, "%s: --t0 is too large\n",
                                        prog);
                                return 2;
                        }
                        t0 = (int64_t)v;
                        have_t0 = true;
                        break;
                }
                case OPT_VERIFY_WINDOWS:
                        verify_win = optarg;
                        break;
                case OPT_WINDOWS:
                        if (strcmp(optarg, "hopping") &&
                            strcmp(optarg, "session")) {
                                fprintf(stderr,
                                        "%s: --windows is hopping or "
                                        "session, not '%s'\n",
                                        prog, optarg);
                                return 2;
                        }
                        windows = optarg;
                        break;
                case OPT_JOIN:
                        if (bench_join_topic_parse(optarg, &join_topic)) {
                                fprintf(stderr,
                                        "%s: --join is st-table, st-events, "
                                        "ss-left or ss-right, not '%s'\n",
                                        prog, optarg);
                                return 2;
                        }
                        join = true;
                        break;
                case OPT_TABLE_ROWS:
                        if (bench_parse_u64(prog, "--table-rows", optarg,
                                            &table_rows))
                                return 2;
                        break;
                case OPT_VERIFY_JOIN:
                        verify_join = optarg;
                        break;
                case OPT_WORKLOAD:
                        if (strcmp(optarg, "st-join") &&
                            strcmp(optarg, "ss-join")) {
                                fprintf(stderr,
                                        "%s: --workload is st-join or "
                                        "ss-join, not '%s'\n",
                                        prog, optarg);
                                return 2;
                        }
                        join_workload = optarg;
                        break;
                case OPT_DELETE_PREFIX:
                        del_prefix = optarg;
                        break;
                case OPT_REGISTRY:
                        registry = optarg;
                        break;
                case OPT_AVRO_SCHEMA:
                        avro_schema = optarg;
                        break;
                case OPT_VERIFY_AVRO:
                        verify_avro_topic = optarg;
                        break;
                case OPT_HELP:
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "%s: unexpected argument '%s'\n", prog,
                        argv[optind]);
                usage(stderr);
                return 2;
        }

        /* records.h's keys are this pattern's keys, so that --verify-counts
         * reads either. */
        if (bench_keyfmt_parse(key_format ? key_format : "k%u", &kf, errstr,
                               sizeof errstr)) {
                fprintf(stderr, "%s: --key-format: %s\n", prog, errstr);
                return 2;
        }
        if (keys == 0) {
                fprintf(stderr, "%s: --keys must be at least 1\n", prog);
                return 2;
        }

        if (expect) {
                bench_workload_t workload;
                if (bench_workload_parse(expect, &workload)) {
                        fprintf(stderr,
                                "%s: unknown workload '%s' (passthrough, "
                                "filter-map)\n",
                                prog, expect);
                        return 2;
                }
                if (!have_records) {
                        fprintf(stderr, "%s: --expect needs --records\n", prog);
                        return 2;
                }
                printf("%" PRIu64 "\n",
                       bench_expected_count(workload, records));
                return 0;
        }

        if (!bootstrap) {
                fprintf(stderr, "%s: --bootstrap is required\n", prog);
                usage(stderr);
                return 2;
        }
        if (verify && !have_records) {
                fprintf(stderr, "%s: --verify-counts needs --records\n", prog);
                return 2;
        }
        if (verify_win && (!have_records || !windows || !have_t0)) {
                fprintf(stderr,
                        "%s: --verify-windows needs --records, --windows "
                        "and --t0\n",
                        prog);
                return 2;
        }
        if (verify_join && (!have_records || !join_workload || !value_size ||
                            records > BENCH_JOIN_MAX_RECORDS || !table_rows)) {
                fprintf(stderr,
                        "%s: --verify-join needs --workload, --records (at "
                        "most %d), --value-size and --table-rows above 0\n",
                        prog, BENCH_JOIN_MAX_RECORDS);
                return 2;
        }
        if (join &&
            (!have_t0 || rate || duration || windowed || counts || key_format ||
             records > BENCH_JOIN_MAX_RECORDS || !table_rows)) {
                fprintf(stderr,
                        "%s: --join needs --t0, --records at most %d and "
                        "--table-rows above 0, and goes without --rate, "
                        "--event-time, --format count and --key-format\n",
                        prog, BENCH_JOIN_MAX_RECORDS);
                return 2;
        }
        if (windowed && (!have_t0 || rate || duration)) {
                fprintf(stderr,
                        "%s: --event-time windowed needs --t0, and goes "
                        "without --rate\n",
                        prog);
                return 2;
        }
        if ((avro || verify_avro_topic) &&
            (!registry || join || rate || duration || counts)) {
                fprintf(stderr,
                        "%s: --format avro and --verify-avro need "
                        "--registry, and go without --join, --rate and "
                        "--format count\n",
                        prog);
                return 2;
        }
        if (verify_avro_topic && (!have_records || !value_size)) {
                fprintf(stderr,
                        "%s: --verify-avro needs --records and "
                        "--value-size\n",
                        prog);
                return 2;
        }
        if (counts) {
                if (have_value_size && value_size != BENCH_COUNT_SIZE) {
                        fprintf(stderr,
                                "%s: --format count writes %d-byte values; "
                                "leave --value-size out\n",
                                prog, BENCH_COUNT_SIZE);
                        return 2;
                }
                value_size = BENCH_COUNT_SIZE;
        }
        if (rate || duration) {
                if (!rate || !duration || have_records || counts || compact ||
                    count || del || verify || verify_win || expect) {
                        fprintf(stderr,
                                "%s: --rate and --duration go together, "
                                "without --records, --format count, "
                                "--compact or another mode\n",
                                prog);
                        return 2;
                }
                records = rate * duration;
                have_records = true;
        }
        if (!count && !del && !verify && !verify_win && !verify_join &&
            !del_prefix && !verify_avro_topic) {
                if (!topic || !partitions || !have_records ||
                    (records && !value_size)) {
                        fprintf(stderr,
                                "%s: loading needs --topic, --partitions, "
                                "--records and --value-size\n",
                                prog);
                        usage(stderr);
                        return 2;
                }
                if (partitions > INT32_MAX) {
                        fprintf(stderr, "%s: --partitions must fit an int32\n",
                                prog);
                        return 2;
                }
                /* JSON grows with the sequence number, so the last record
                 * is the largest minimum. */
                size_t min =
                        join   ? (join_topic == BENCH_JOIN_ST_TABLE
                                          ? 0
                                          : bench_join_value_min(join_topic))
                        : avro ? bench_avro_min_size(records ? records - 1 : 0,
                                                     keys)
                               : bench_value_min_size(format,
                                                      records ? records - 1 : 0,
                                                      keys);
                if (records && !counts && value_size < min) {
                        fprintf(stderr,
                                "%s: --value-size %" PRIu64
                                " is too small for the %s format"
                                " (at least %zu bytes)\n",
                                prog, value_size,
                                join                          ? "join"
                                : avro                        ? "avro"
                                : format == BENCH_FORMAT_JSON ? "json"
                                                              : "binary",
                                min);
                        return 2;
                }
        }

        avro_ctx_t actx;
        int32_t avro_id = 0;
        bool have_actx = false;
        if (avro || verify_avro_topic) {
                have_actx = true;
                if (avro_ctx_init(&actx, registry, avro_schema,
                                  (size_t)value_size)) {
                        avro_ctx_destroy(&actx);
                        return 1;
                }
        }

        load_stats_t stats = {0};
        rd_kafka_t *rk = client_new(bootstrap, &stats);
        if (!rk) {
                if (have_actx)
                        avro_ctx_destroy(&actx);
                return 1;
        }
        int ret;
        if (count)
                ret = count_topic(rk, count);
        else if (del)
                ret = delete_topic(rk, del);
        else if (del_prefix)
                ret = delete_prefix(rk, del_prefix);
        else if (verify_join)
                ret = verify_join_output(rk, bootstrap, verify_join,
                                         !strcmp(join_workload, "ss-join"),
                                         records, table_rows,
                                         (size_t)value_size);
        else if (verify)
                ret = verify_counts(rk, bootstrap, verify, records, keys, &kf);
        else if (verify_avro_topic)
                ret = verify_avro(rk, bootstrap, verify_avro_topic, &actx,
                                  records, keys, (size_t)value_size, &kf);
        else if (verify_win)
                ret = verify_windows(rk, bootstrap, verify_win,
                                     !strcmp(windows, "session"), records, keys,
                                     t0, &kf);
        else {
                /* Rate mode writes into the topic the engine already
                 * reads, if the harness created it. */
                int have = rate ? topic_partitions(rk, topic) : 0;
                if (have < 0)
                        ret = -1;
                else if (have && (uint64_t)have != partitions) {
                        fprintf(stderr,
                                "%s: topic '%s' exists with %d partitions, "
                                "not %" PRIu64 "\n",
                                prog, topic, have, partitions);
                        ret = -1;
                } else
                        ret = have ? 0
                                   : create_topic(rk, topic, (int)partitions,
                                                  compact);
                join_load_t jl = {.topic = join_topic, .rows = table_rows};
                if (!ret && records && avro)
                        ret = avro_register(&actx, topic, &avro_id);
                if (!ret && records)
                        ret = load(
                                rk, &stats, topic, records, (size_t)value_size,
                                keys, key_format ? &kf : NULL, format, counts,
                                (double)rate, windowed, t0, join ? &jl : NULL,
                                avro ? &actx : NULL, avro_id);
        }
        rd_kafka_destroy(rk);
        if (have_actx)
                avro_ctx_destroy(&actx);
        return ret ? 1 : 0;
}
