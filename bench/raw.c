/*
 * brook-bench-raw — the limit of the pipe: a plain librdkafka
 * consume → produce loop on one thread, with the same client settings
 * (clients.c) and the same at-least-once commit discipline as brook, and
 * nothing else. brook's figures are read against this one.
 *
 *   brook-bench-raw --bootstrap B --input T --output O --records N
 *                   [--group G] [--batch 1000] [--timeout 600]
 *                   [-X consumer.<name>=<value>] [-X producer.<name>=<value>]
 *
 * Stops once N records have been consumed, produced and acknowledged by the
 * broker, then flushes, commits and leaves the group. Prints to stdout
 *   RESULT records=<n> seconds=<s>
 * where seconds runs from the first record consumed to the last delivery
 * report: start-up and the group join are not in it, the harness measures
 * those separately as the process's wall time.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "clients.h"

static const char *prog = "brook-bench-raw";

typedef struct raw_s {
        uint64_t records;   /* stop after this many */
        uint64_t delivered; /* delivery reports without error */
        uint64_t failed;    /* delivery reports with an error */
        double last_delivery;
        /* Next offset to commit per input partition (-1: none consumed). */
        int64_t *next_offset;
        int32_t partition_cnt;
} raw_t;

static void usage(FILE *out)
{
        fprintf(out,
                "usage: %s --bootstrap B --input T --output O --records N\n"
                "          [--group G] [--batch 1000] [--timeout 600]\n"
                "          [-X consumer.<name>=<value>] [-X "
                "producer.<name>=<value>]\n",
                prog);
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg,
                      void *opaque)
{
        raw_t *raw = opaque;

        (void)rk;
        if (msg->err) {
                /* Idempotence makes every error here fatal for the run:
                 * librdkafka has already retried what can be retried. */
                if (!raw->failed++)
                        fprintf(stderr, "%s: delivery failed: %s\n", prog,
                                rd_kafka_err2str(msg->err));
                return;
        }
        if (++raw->delivered == raw->records)
                raw->last_delivery = bench_now();
}

/* Errors the client reports outside any call (broker down, fatal
 * idempotence errors); a fatal one ends the run. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
        (void)opaque;
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
                char fatal[512];
                rd_kafka_resp_err_t ferr =
                        rd_kafka_fatal_error(rk, fatal, sizeof fatal);
                fprintf(stderr, "%s: %s: fatal error: %s: %s\n", prog,
                        rd_kafka_name(rk), rd_kafka_err2name(ferr), fatal);
                exit(1);
        }
        fprintf(stderr, "%s: %s: %s: %s\n", prog, rd_kafka_name(rk),
                rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* -X overrides, "consumer.<name>=<value>" or "producer.<name>=<value>",
 * applied after the shared settings: for tuning experiments only, since a
 * result measured with them is no longer comparable to brook's. */
#define MAX_OVERRIDES 64
static const char *overrides[MAX_OVERRIDES];
static int override_cnt;

static int apply_overrides(rd_kafka_conf_t *conf, const char *prefix,
                           char *errstr, size_t errstr_size)
{
        size_t plen = strlen(prefix);

        for (int i = 0; i < override_cnt; i++) {
                const char *o = overrides[i];
                const char *eq = strchr(o, '=');
                char name[256];
                if (strncmp(o, prefix, plen) || !eq ||
                    (size_t)(eq - o) - plen >= sizeof name)
                        continue;
                memcpy(name, o + plen, (size_t)(eq - o) - plen);
                name[(size_t)(eq - o) - plen] = '\0';
                if (rd_kafka_conf_set(conf, name, eq + 1, errstr,
                                      errstr_size) != RD_KAFKA_CONF_OK)
                        return -1;
        }
        return 0;
}

static rd_kafka_t *client_new(rd_kafka_type_t type, const char *bootstrap,
                              const char *group, raw_t *raw)
{
        char errstr[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        bool consumer = type == RD_KAFKA_CONSUMER;

        if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr,
                              sizeof errstr) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "client.id", "brook-bench-raw", errstr,
                              sizeof errstr) != RD_KAFKA_CONF_OK ||
            (consumer &&
             rd_kafka_conf_set(conf, "group.id", group, errstr,
                               sizeof errstr) != RD_KAFKA_CONF_OK) ||
            bench_client_conf_apply(conf,
                                    consumer ? BENCH_CLIENT_CONSUMER
                                             : BENCH_CLIENT_PRODUCER,
                                    errstr, sizeof errstr) ||
            apply_overrides(conf, consumer ? "consumer." : "producer.", errstr,
                            sizeof errstr)) {
                fprintf(stderr, "%s: %s\n", prog, errstr);
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        rd_kafka_conf_set_opaque(conf, raw);
        rd_kafka_conf_set_error_cb(conf, error_cb);
        if (!consumer)
                rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);

        rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
        if (!rk) {
                fprintf(stderr, "%s: cannot create the %s: %s\n", prog,
                        consumer ? "consumer" : "producer", errstr);
                rd_kafka_conf_destroy(conf);
        }
        return rk;
}

/* Remembers that @p msg was consumed, so a commit covers it. */
static int track_offset(raw_t *raw, const rd_kafka_message_t *msg)
{
        if (msg->partition >= raw->partition_cnt) {
                int32_t cnt = msg->partition + 1;
                int64_t *next =
                        realloc(raw->next_offset, (size_t)cnt * sizeof *next);
                if (!next) {
                        fprintf(stderr, "%s: out of memory\n", prog);
                        return -1;
                }
                for (int32_t p = raw->partition_cnt; p < cnt; p++)
                        next[p] = -1;
                raw->next_offset = next;
                raw->partition_cnt = cnt;
        }
        raw->next_offset[msg->partition] = msg->offset + 1;
        return 0;
}

/*
 * At-least-once, as Kafka Streams does it: everything consumed so far has
 * been handed to the producer, so once the producer is flushed the consumed
 * offsets can be committed without losing a record.
 */
static int commit(raw_t *raw, rd_kafka_t *consumer, rd_kafka_t *producer,
                  const char *input)
{
        rd_kafka_resp_err_t err;

        while ((err = rd_kafka_flush(producer, 10000)) ==
               RD_KAFKA_RESP_ERR__TIMED_OUT)
                fprintf(stderr, "%s: still flushing the producer (%d queued)\n",
                        prog, rd_kafka_outq_len(producer));
        if (err) {
                fprintf(stderr, "%s: flushing the producer failed: %s\n", prog,
                        rd_kafka_err2str(err));
                return -1;
        }
        if (raw->failed)
                return -1;

        rd_kafka_topic_partition_list_t *offsets =
                rd_kafka_topic_partition_list_new(raw->partition_cnt);
        for (int32_t p = 0; p < raw->partition_cnt; p++)
                if (raw->next_offset[p] >= 0)
                        rd_kafka_topic_partition_list_add(offsets, input, p)
                                ->offset = raw->next_offset[p];
        int ret = 0;
        if (offsets->cnt > 0) {
                err = rd_kafka_commit(consumer, offsets, 0);
                if (err) {
                        fprintf(stderr, "%s: committing offsets failed: %s\n",
                                prog, rd_kafka_err2str(err));
                        ret = -1;
                }
                for (int i = 0; !err && i < offsets->cnt; i++) {
                        if (offsets->elems[i].err) {
                                fprintf(stderr,
                                        "%s: committing %s [%" PRId32
                                        "] failed: %s\n",
                                        prog, input,
                                        offsets->elems[i].partition,
                                        rd_kafka_err2str(
                                                offsets->elems[i].err));
                                ret = -1;
                        }
                }
        }
        rd_kafka_topic_partition_list_destroy(offsets);
        return ret;
}

/* Produces a copy of @p msg to @p rkt, waiting while the queue is full. */
static int produce(rd_kafka_t *producer, rd_kafka_topic_t *rkt,
                   const rd_kafka_message_t *msg)
{
        rd_kafka_resp_err_t err;

        for (;;) {
                err = rd_kafka_producev(
                        producer, RD_KAFKA_V_RKT(rkt),
                        RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_KEY(msg->key, msg->key_len),
                        RD_KAFKA_V_VALUE(msg->payload, msg->len),
                        RD_KAFKA_V_TIMESTAMP(
                                rd_kafka_message_timestamp(msg, NULL)),
                        RD_KAFKA_V_END);
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        break;
                /* Delivery reports free queue space only when served. */
                rd_kafka_poll(producer, 10);
        }
        if (err) {
                fprintf(stderr, "%s: producing to %s failed: %s\n", prog,
                        rd_kafka_topic_name(rkt), rd_kafka_err2str(err));
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
                OPT_GROUP,
                OPT_BATCH,
                OPT_TIMEOUT,
                OPT_HELP
        };
        static const struct option longopts[] = {
                {"bootstrap", required_argument, NULL, OPT_BOOTSTRAP},
                {"input", required_argument, NULL, OPT_INPUT},
                {"output", required_argument, NULL, OPT_OUTPUT},
                {"records", required_argument, NULL, OPT_RECORDS},
                {"group", required_argument, NULL, OPT_GROUP},
                {"batch", required_argument, NULL, OPT_BATCH},
                {"timeout", required_argument, NULL, OPT_TIMEOUT},
                {"help", no_argument, NULL, OPT_HELP},
                {NULL, 0, NULL, 0},
        };
        const char *bootstrap = NULL, *input = NULL, *output = NULL;
        char group[128];
        uint64_t records = 0, batch = 1000, timeout_s = 600;
        bool have_records = false;
        int opt;

        snprintf(group, sizeof group, "brook-bench-raw-%ld", (long)getpid());
        while ((opt = getopt_long(argc, argv, "X:", longopts, NULL)) != -1) {
                switch (opt) {
                case 'X':
                        if (override_cnt == MAX_OVERRIDES ||
                            (strncmp(optarg, "consumer.", 9) &&
                             strncmp(optarg, "producer.", 9)) ||
                            !strchr(optarg, '=')) {
                                fprintf(stderr,
                                        "%s: -X wants consumer.<name>=<value> "
                                        "or producer.<name>=<value>\n",
                                        prog);
                                return 2;
                        }
                        overrides[override_cnt++] = optarg;
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
                case OPT_GROUP:
                        snprintf(group, sizeof group, "%s", optarg);
                        break;
                case OPT_BATCH:
                        if (bench_parse_u64(prog, "--batch", optarg, &batch))
                                return 2;
                        break;
                case OPT_TIMEOUT:
                        if (bench_parse_u64(prog, "--timeout", optarg,
                                            &timeout_s))
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
        if (optind < argc || !bootstrap || !input || !output || !have_records ||
            batch < 1 || batch > 1000000) {
                usage(stderr);
                return 2;
        }

        raw_t raw = {.records = records};
        rd_kafka_t *consumer = NULL, *producer = NULL;
        rd_kafka_topic_t *rkt = NULL;
        rd_kafka_queue_t *queue = NULL;
        rd_kafka_message_t **msgs = calloc(batch, sizeof *msgs);
        rd_kafka_resp_err_t err;
        int ret = 1;

        if (!msgs) {
                fprintf(stderr, "%s: out of memory\n", prog);
                return 1;
        }
        consumer = client_new(RD_KAFKA_CONSUMER, bootstrap, group, &raw);
        producer = client_new(RD_KAFKA_PRODUCER, bootstrap, NULL, &raw);
        if (!consumer || !producer)
                goto out;
        rkt = rd_kafka_topic_new(producer, output, NULL);
        if (!rkt) {
                fprintf(stderr, "%s: output topic '%s': %s\n", prog, output,
                        rd_kafka_err2str(rd_kafka_last_error()));
                goto out;
        }

        /* Logs, errors and rebalances are then served by the same batch
         * call that returns records, as in a stream thread's poll. */
        err = rd_kafka_poll_set_consumer(consumer);
        if (err) {
                fprintf(stderr, "%s: %s\n", prog, rd_kafka_err2str(err));
                goto out;
        }
        rd_kafka_topic_partition_list_t *topics =
                rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(topics, input, RD_KAFKA_PARTITION_UA);
        err = rd_kafka_subscribe(consumer, topics);
        rd_kafka_topic_partition_list_destroy(topics);
        if (err) {
                fprintf(stderr, "%s: cannot subscribe to %s: %s\n", prog, input,
                        rd_kafka_err2str(err));
                goto out;
        }
        queue = rd_kafka_queue_get_consumer(consumer);

        uint64_t consumed = 0;
        double began = bench_now(), first = 0;
        double deadline = began + (double)timeout_s;
        double last_commit = began;
        bool failed = false;

        while (consumed < records && !failed) {
                /* Never take more than N: the topic might hold more. */
                uint64_t want =
                        records - consumed < batch ? records - consumed : batch;
                ssize_t n = rd_kafka_consume_batch_queue(queue, 100, msgs,
                                                         (size_t)want);
                if (n < 0) {
                        fprintf(stderr, "%s: consuming failed: %s\n", prog,
                                rd_kafka_err2str(rd_kafka_last_error()));
                        goto out;
                }
                for (ssize_t i = 0; i < n; i++) {
                        rd_kafka_message_t *msg = msgs[i];
                        if (failed) {
                                /* Stop producing but still free the rest. */
                        } else if (msg->err) {
                                if (msg->err !=
                                    RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                                        fprintf(stderr, "%s: consumer: %s\n",
                                                prog,
                                                rd_kafka_message_errstr(msg));
                                        failed = true;
                                }
                        } else {
                                if (consumed++ == 0)
                                        first = bench_now();
                                if (produce(producer, rkt, msg) ||
                                    track_offset(&raw, msg))
                                        failed = true;
                        }
                        rd_kafka_message_destroy(msg);
                }
                rd_kafka_poll(producer, 0);
                if (raw.failed)
                        failed = true;

                double now = bench_now();
                if (!failed &&
                    now - last_commit >= BENCH_COMMIT_INTERVAL_MS / 1000.0) {
                        if (commit(&raw, consumer, producer, input))
                                failed = true;
                        last_commit = bench_now();
                }
                if (now > deadline) {
                        fprintf(stderr,
                                "%s: timed out after %" PRIu64
                                " s with %" PRIu64 " of %" PRIu64
                                " records consumed\n",
                                prog, timeout_s, consumed, records);
                        failed = true;
                }
        }
        if (failed)
                goto out;

        /* The final flush serves the remaining delivery reports. */
        if (commit(&raw, consumer, producer, input))
                goto out;
        if (raw.delivered != records) {
                fprintf(stderr,
                        "%s: %" PRIu64 " of %" PRIu64 " records delivered\n",
                        prog, raw.delivered, records);
                goto out;
        }

        double seconds = records ? raw.last_delivery - first : 0.0;
        fprintf(stderr,
                "%s: %" PRIu64 " records in %.3f s (%.0f records/s), "
                "%.3f s before the first record\n",
                prog, records, seconds,
                seconds > 0 ? (double)records / seconds : 0.0,
                records ? first - began : 0.0);
        printf("RESULT records=%" PRIu64 " seconds=%.6f\n", records, seconds);
        fflush(stdout);
        ret = 0;
out:
        if (queue)
                rd_kafka_queue_destroy(queue);
        if (consumer) {
                err = rd_kafka_consumer_close(consumer);
                if (err) {
                        fprintf(stderr, "%s: closing the consumer: %s\n", prog,
                                rd_kafka_err2str(err));
                        ret = 1;
                }
                rd_kafka_destroy(consumer);
        }
        if (rkt)
                rd_kafka_topic_destroy(rkt);
        if (producer)
                rd_kafka_destroy(producer);
        free(raw.next_offset);
        free(msgs);
        return ret;
}
