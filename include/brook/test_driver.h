/*
 * brook — the test driver (Kafka Streams' TopologyTestDriver).
 *
 * Runs a topology in-process, with no broker: every topic has one
 * partition (0) and every sub-topology one task (<n>_0). Records piped into
 * a topic are processed at once, depth-first; records a sink writes to a
 * topic the topology also reads (a repartition topic, say) are processed
 * next, in order. Everything sinks write (and the dead-letter topic) is kept
 * per topic for the test to read. Wall-clock time is mocked: it starts where
 * the test says and moves only with brook_test_driver_advance_wall_clock().
 *
 * Not thread-safe.
 */
#ifndef BROOK_TEST_DRIVER_H
#define BROOK_TEST_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "processor.h"
#include "record.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

typedef struct brook_test_driver_s brook_test_driver_t;

/**
 * A driver for the topology of @p b. @p conf may be NULL (application.id
 * "test-driver"); bootstrap.servers is not needed. On success the driver
 * takes @p b and @p conf; on failure they stay the caller's.
 */
brook_test_driver_t *brook_test_driver_new(brook_builder_t *b,
                                           brook_conf_t *conf,
                                           int64_t wall_clock_ms, char *errstr,
                                           size_t errstr_size);
/** Closes every task (running close()) and frees the driver. */
void brook_test_driver_destroy(brook_test_driver_t *td);

/** A record going in (pipe) or out (read). NULL key/value is Kafka's null. */
typedef struct brook_test_record_s {
        const char *topic;
        int32_t partition;
        int64_t offset;
        const void *key;
        size_t key_size;
        const void *value;
        size_t value_size;
        int64_t timestamp;
        const brook_header_t *headers;
        size_t header_cnt;
} brook_test_record_t;

/**
 * Pipes one record into @p topic and processes it, and everything it leads
 * to, before returning. The topic must be one the topology reads.
 * @returns BROOK_OK; BROOK_ERR_NOT_FOUND if no source reads @p topic; or the
 *          error a `fail` exception handler stopped on, with the message
 *          naming topic, partition and offset (after which the driver
 *          refuses further input with BROOK_ERR_FATAL).
 */
brook_err_t brook_test_driver_pipe(brook_test_driver_t *td, const char *topic,
                                   const void *key, size_t key_size,
                                   const void *value, size_t value_size,
                                   int64_t timestamp,
                                   const brook_header_t *headers,
                                   size_t header_cnt, char *errstr,
                                   size_t errstr_size);

/**
 * Commits, as an app does every commit.interval.ms: caching stores write
 * down their dirty entries (and DSL tables forward them downstream), the
 * changelog records go out, and the stores record their changelog offsets.
 * @returns BROOK_OK, or the error that stopped it.
 */
brook_err_t brook_test_driver_commit(brook_test_driver_t *td, char *errstr,
                                     size_t errstr_size);
/** Whether every brook_test_driver_pipe() ends with a commit. On by
 *  default, as Kafka Streams' TopologyTestDriver; turn it off to see a
 *  cache collapse updates between explicit commits. */
void brook_test_driver_set_auto_commit(brook_test_driver_t *td, bool on);
/** The driver's instance of store @p name (its one task), or NULL. Values
 *  read through it are valid until the next call on the driver. */
brook_kvstore_t *brook_test_driver_kvstore(brook_test_driver_t *td,
                                           const char *name);

/** Moves the mocked wall clock forward and fires due wall-clock
 *  punctuators. */
void brook_test_driver_advance_wall_clock(brook_test_driver_t *td,
                                          int64_t advance_ms);

/**
 * Takes the oldest unread record written to @p topic into @p out. Returns
 * false if there is none. Pointers in @p out are valid until the driver is
 * destroyed.
 */
bool brook_test_driver_read(brook_test_driver_t *td, const char *topic,
                            brook_test_record_t *out);

/** How many written records of @p topic are unread. */
size_t brook_test_driver_unread(brook_test_driver_t *td, const char *topic);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
