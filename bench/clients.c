/*
 * brook benchmarks — the librdkafka client settings of every C engine.
 *
 * These are brook's own client defaults (engine/thread.c,
 * brook__client_conf), written out for the raw loop; keep the two in step.
 * run-pipe runs brook as it ships (--brook-defaults), so a drift shows up as
 * a difference between the engines rather than being hidden. One
 * difference is deliberate: brook's stream thread reads each partition
 * from its own queue, with bounds per partition (2,000 records, 1 MiB,
 * 64 KiB fetches, fetch.wait.max.ms 5: docs/time.md); the raw loop reads
 * the consumer's one queue, as brook's other consumers do, and has their
 * bounds for the whole queue (below).
 */
#include "clients.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

const bench_client_setting_t bench_client_settings[] = {
        /*
         * The consumer's prefetch queue. librdkafka stops fetching when the
         * whole queue (all partitions of the high-level consumer together)
         * holds queued.min.messages records or queued.max.messages.kbytes
         * of payload, whichever comes first. 50,000 records is ~5 MiB of
         * 100-byte records (plus ~250 bytes of librdkafka bookkeeping
         * each), 16 MiB caps large records; librdkafka's defaults (100,000
         * and 64 MiB) alone would blow brook's 64 MiB RSS target.
         */
        {BENCH_CLIENT_CONSUMER, "queued.max.messages.kbytes", "16384", false},
        {BENCH_CLIENT_CONSUMER, "queued.min.messages", "50000", false},
        /*
         * librdkafka before 2.2 (Debian 12 ships 2.0.2) backs a fetcher off
         * for a fixed second once the queue is over those limits, and
         * nothing the application does (consuming, polling) wakes it
         * sooner: a consumer faster than its processing then idles for up
         * to a second per queue-full, and a pipe that can do 1.2 M records/s
         * does 0.4-0.7 M. Any request through the broker's thread wakes it,
         * so a metadata refresh every 20 ms bounds the stall to 20 ms (it
         * only wakes the broker that serves the metadata request: a
         * single-broker workaround). With librdkafka >= 2.2, drop this and
         * set fetch.queue.backoff.ms=20 instead.
         */
        {BENCH_CLIENT_CONSUMER, "topic.metadata.refresh.interval.ms", "20",
         false},
        /* Kafka Streams' default: a new group starts from the beginning. */
        {BENCH_CLIENT_CONSUMER, "auto.offset.reset", "earliest", true},
        /* Offsets are committed by the engine after the producer flush
         * (at-least-once), never in the background. */
        {BENCH_CLIENT_CONSUMER, "enable.auto.commit", "false", true},
        /* Offsets are passed to commit explicitly, so storing each one as it
         * is handed out would only cost time. */
        {BENCH_CLIENT_CONSUMER, "enable.auto.offset.store", "false", true},
        /* Co-partitioning needs partition n of every source topic in one
         * task; librdkafka's range assignor gives that (DESIGN.md). */
        {BENCH_CLIENT_CONSUMER, "partition.assignment.strategy", "range", true},

        /* librdkafka's default, stated because the comparison depends on it:
         * batches fill for 5 ms before they are sent. */
        {BENCH_CLIENT_PRODUCER, "linger.ms", "5", false},
        /* brook compresses its batches with lz4 (docs/operations.md); the
         * raw loop pays the same for it, so that brook / raw stays a
         * measure of the engine. */
        {BENCH_CLIENT_PRODUCER, "compression.codec", "lz4", false},
        /* The producer queue's defaults are 100,000 records and 1 GiB.
         * 20,000 records is still four times what 5 ms of linger collects at
         * 1 M records/s, and measured as fast as 100,000 while saving
         * ~10 MiB of RSS; 16 MiB caps large records. */
        {BENCH_CLIENT_PRODUCER, "queue.buffering.max.messages", "20000", false},
        {BENCH_CLIENT_PRODUCER, "queue.buffering.max.kbytes", "16384", false},
        /* Java's default partitioner, so that brook, Kafka Streams and the
         * raw loop put every key in the same partition. */
        {BENCH_CLIENT_PRODUCER, "partitioner", "murmur2_random", false},
        /* No reordering or duplicates from retries: output keeps the input
         * order per key. Implies acks=all and at most 5 requests in flight
         * per connection, as Java's producer default since Kafka 3.0. */
        {BENCH_CLIENT_PRODUCER, "enable.idempotence", "true", false},
        {BENCH_CLIENT_PRODUCER, "acks", "all", false},

        {BENCH_CLIENT_CONSUMER, NULL, NULL, false},
};

int bench_client_conf_apply(rd_kafka_conf_t *conf, bench_client_t client,
                            char *errstr, size_t errstr_size)
{
        char rderr[512];

        for (const bench_client_setting_t *s = bench_client_settings; s->name;
             s++) {
                if (s->client != client)
                        continue;
                if (rd_kafka_conf_set(conf, s->name, s->value, rderr,
                                      sizeof rderr) != RD_KAFKA_CONF_OK) {
                        snprintf(errstr, errstr_size,
                                 "cannot set %s=%s on the %s: %s", s->name,
                                 s->value,
                                 client == BENCH_CLIENT_CONSUMER ? "consumer"
                                                                 : "producer",
                                 rderr);
                        return -1;
                }
        }
        return 0;
}

double bench_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int bench_parse_u64(const char *prog, const char *opt, const char *s,
                    uint64_t *vp)
{
        char *end;

        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-') {
                fprintf(stderr,
                        "%s: %s wants a non-negative integer, not '%s'\n", prog,
                        opt, s);
                return -1;
        }
        *vp = v;
        return 0;
}
