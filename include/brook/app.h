/*
 * brook — running a topology: the application, and describing topologies.
 */
#ifndef BROOK_APP_H
#define BROOK_APP_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "error.h"
#include "processor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct brook_app_s brook_app_t;

/** Kafka Streams' KafkaStreams.State. */
typedef enum brook_app_state_e {
        BROOK_APP_CREATED,
        BROOK_APP_REBALANCING,
        BROOK_APP_RUNNING,
        BROOK_APP_PENDING_SHUTDOWN,
        BROOK_APP_NOT_RUNNING,
        BROOK_APP_PENDING_ERROR,
        BROOK_APP_ERROR,
} brook_app_state_t;

/**
 * An application running the topology of @p b with @p conf.
 *
 * Validates the configuration (application.id and bootstrap.servers are
 * required; any property that failed brook_conf_set() fails here too) and
 * the topology (every sink and source has serdes, names are unique).
 * Nothing talks to Kafka yet.
 *
 * On success the app takes @p b and @p conf (do not use or free them); on
 * failure they stay the caller's and @p errstr says why.
 */
brook_app_t *brook_app_new(brook_builder_t *b, brook_conf_t *conf, char *errstr,
                           size_t errstr_size);

/**
 * Starts the app: checks source topics and their partition counts,
 * creates internal topics (repartition, dead-letter) with the Admin API,
 * and starts num.stream.threads threads. Returns once threads run.
 *
 * Fails with BROOK_ERR_TOPOLOGY when a source topic is missing or topics
 * that must be co-partitioned differ in partition count, and with
 * BROOK_ERR_KAFKA when the cluster cannot be reached.
 */
brook_err_t brook_app_start(brook_app_t *app, char *errstr, size_t errstr_size);

/**
 * Starts the app and runs it until SIGINT or SIGTERM (which it handles
 * while it runs) or a fatal error, then closes it. A second signal exits the
 * process at once. Returns 0 after a clean stop, 1 after an error (the
 * cause is logged to stderr).
 */
int brook_app_run(brook_app_t *app);

/**
 * Stops the threads: each finishes the record it is on, flushes the
 * producer, commits processed offsets, closes its tasks and leaves the
 * group. Waits up to @p timeout_ms (-1: shutdown.timeout.ms).
 * Safe to call from any thread except a stream thread, and more than once.
 */
brook_err_t brook_app_close(brook_app_t *app, int64_t timeout_ms);

/** Closes (if needed) and frees @p app. NULL is a no-op. */
void brook_app_destroy(brook_app_t *app);

/**
 * The app's state. In BROOK_APP_ERROR, the cause is written to @p errstr
 * (may be NULL).
 * Thread-safe.
 */
brook_app_state_t brook_app_state(brook_app_t *app, char *errstr,
                                  size_t errstr_size);

/** Blocks until the app is NOT_RUNNING or ERROR, or @p timeout_ms passed
 *  (-1: forever). Returns the state. Thread-safe. */
brook_app_state_t brook_app_wait(brook_app_t *app, int64_t timeout_ms);

/** Counters of an app, summed over its threads. Thread-safe. */
typedef struct brook_app_stats_s {
        int64_t records_processed; /**< Input records fully processed. */
        int64_t records_produced;  /**< Records sent by sinks. */
        int64_t records_dropped;   /**< Skipped: handler or bad timestamp. */
        int64_t records_dead_lettered;
        int64_t commits;
        int64_t rebalances;
} brook_app_stats_t;

void brook_app_stats(brook_app_t *app, brook_app_stats_t *stats);

/* --------------------------------------------------------------- describe */

typedef enum brook_describe_format_e {
        BROOK_DESCRIBE_TEXT, /**< Kafka Streams' TopologyDescription text. */
        BROOK_DESCRIBE_DOT,  /**< Graphviz DOT. */
} brook_describe_format_t;

/**
 * The topology of @p b, described. Returns a string to free with
 * brook_free(), or NULL if the builder had an error (see
 * brook_builder_error()).
 */
char *brook_topology_describe(const brook_builder_t *b,
                              brook_describe_format_t format);

/** Frees memory brook returned to the caller. */
void brook_free(void *ptr);

/** The library version, e.g. "0.1.0". */
const char *brook_version(void);

#ifdef __cplusplus
}
#endif
#endif
