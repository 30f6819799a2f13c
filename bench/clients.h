/*
 * brook benchmarks — the librdkafka client settings of every C engine.
 *
 * A comparison between the raw loop and brook means something only if both
 * run their consumer and producer with the same settings, so they live in
 * one table (clients.c). The raw loop applies all of them. brook applies the
 * tuning ones through its own defaults; brook-bench-app also passes them
 * explicitly (as `consumer.` / `producer.` properties) so that a drift in
 * brook's defaults cannot skew a run, unless it is asked to measure brook's
 * own defaults (--brook-defaults).
 */
#ifndef BROOK_BENCH_CLIENTS_H
#define BROOK_BENCH_CLIENTS_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

#include <librdkafka/rdkafka.h>

typedef enum bench_client_e {
        BENCH_CLIENT_CONSUMER,
        BENCH_CLIENT_PRODUCER,
} bench_client_t;

typedef struct bench_client_setting_s {
        bench_client_t client;
        const char *name;
        const char *value;
        /** brook sets this itself as part of how it works (group id,
         *  commits, assignment); the app must not pass it through. */
        bool brook_owns;
} bench_client_setting_t;

/** The settings, ended by an entry with a NULL name. */
extern const bench_client_setting_t bench_client_settings[];

/** How often the raw loop commits: Kafka Streams' commit.interval.ms under
 *  at_least_once, which is brook's default too. */
#define BENCH_COMMIT_INTERVAL_MS 30000

/**
 * Sets every setting of @p client on @p conf.
 * @returns 0, or -1 with the failing property named in @p errstr.
 */
int bench_client_conf_apply(rd_kafka_conf_t *conf, bench_client_t client,
                            char *errstr, size_t errstr_size);

/** Monotonic seconds, for rates. */
double bench_now(void);

/** Parses option @p opt's value @p s as a non-negative integer into *@p vp;
 *  on error prints why (as @p prog) and returns -1. */
int bench_parse_u64(const char *prog, const char *opt, const char *s,
                    uint64_t *vp);

#endif
