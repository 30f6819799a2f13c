/*
 * brook — the test driver (Kafka Streams' TopologyTestDriver).
 *
 * Runs a topology in-process, with no broker: every topic has one
 * partition (0) and every sub-topology one task (<n>_0). Records piped into
 * a topic are processed at once, depth-first (unless max.task.idle.ms > 0
 * holds them: see brook_test_driver_enforced_processing()); records a sink
 * writes to a
 * topic the topology also reads (a repartition topic, say) are processed
 * next, in order. Everything sinks write (and the dead-letter topic) is kept
 * per topic for the test to read. Wall-clock time is mocked: it starts where
 * the test says and moves only with brook_test_driver_advance_wall_clock().
 * As in Kafka Streams' driver, what waits for a closed window (emit on
 * window close, a left or outer stream-stream join's records without a
 * partner) goes out with the first record that closes it, not at most once
 * per second of wall clock (the driver sets Kafka Streams' internal
 * __emit.interval.ms.* properties to 0 unless the configuration sets them).
 * Records go in and come out as bytes (brook_test_driver_pipe() and
 * brook_test_driver_read()) or as objects through serdes (typed inputs and
 * outputs, brook_test_driver_input() and brook_test_driver_output()).
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
#include "versioned_store.h"

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
 * to, before returning; with max.task.idle.ms > 0, a task that reads
 * another topic with nothing queued keeps it (and what is queued behind
 * it) until that topic gets a record or the wall clock passes the wait
 * (docs/time.md). The topic must be one the topology reads.
 * @returns BROOK_OK; BROOK_ERR_NOT_FOUND if no source reads @p topic; or the
 *          error a `fail` exception handler or FailOnInvalidTimestamp
 *          stopped on, with the message naming topic, partition and offset
 *          (after which the driver refuses further input with
 *          BROOK_ERR_FATAL).
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
/** brook_app_store_approximate_bytes() for the driver's store @p name (any
 *  kind); 0 if there is none. */
uint64_t brook_test_driver_store_approximate_bytes(brook_test_driver_t *td,
                                                   const char *name);
/** The driver's instance of store @p name (its one task), or NULL. Values
 *  read through it are valid until the next call on the driver. */
brook_kvstore_t *brook_test_driver_kvstore(brook_test_driver_t *td,
                                           const char *name);
/** The driver's instance of versioned store @p name, or NULL; as
 *  brook_test_driver_kvstore(). */
brook_versionedstore_t *
brook_test_driver_versionedstore(brook_test_driver_t *td, const char *name);

/**
 * Moves the mocked wall clock forward by @p advance_ms (>= 0) and fires due
 * wall-clock punctuators; records that waited for an empty partition past
 * max.task.idle.ms are processed, and so are records they and the
 * punctuators write to topics the topology reads, before it returns; with
 * auto-commit on it commits.
 * @returns BROOK_OK; BROOK_ERR_INVALID_ARG for a negative advance; or the
 *          error a punctuator (under the `fail` processing handler) or
 *          what it led to stopped on, after which the driver refuses
 *          further input with BROOK_ERR_FATAL.
 */
brook_err_t brook_test_driver_advance_wall_clock(brook_test_driver_t *td,
                                                 int64_t advance_ms,
                                                 char *errstr,
                                                 size_t errstr_size);

/**
 * Takes the oldest unread record written to @p topic into @p out. Returns
 * false if there is none. Pointers in @p out are valid until the driver is
 * destroyed.
 */
bool brook_test_driver_read(brook_test_driver_t *td, const char *topic,
                            brook_test_record_t *out);

/** How many written records of @p topic are unread. */
size_t brook_test_driver_unread(brook_test_driver_t *td, const char *topic);

/** Records the driver dropped for @p reason so far (see
 *  brook_drop_reason_t); 0 for a NULL @p td or a value that is not a
 *  reason. The driver takes producer.message.max.bytes (or
 *  message.max.bytes) from its conf, if set, and refuses larger records as
 *  the producer would, so tests can see production errors. */
int64_t brook_test_driver_records_dropped(brook_test_driver_t *td,
                                          brook_drop_reason_t reason);

/**
 * How many records were processed although an input partition of their
 * task was empty, max.task.idle.ms having passed (Kafka Streams'
 * enforced-processing; see brook_app_enforced_processing()). In the
 * driver an empty partition has nothing more to come, so with
 * max.task.idle.ms 0 (the default) a task of several partitions processes
 * at once and counts each record taken while one is empty; with more, its
 * records wait until the other partitions have data or the wall clock
 * (brook_test_driver_advance_wall_clock()) passes the wait; with -1 it
 * never waits or counts. 0 for a NULL @p td.
 */
int64_t brook_test_driver_enforced_processing(brook_test_driver_t *td);

/* ------------------------------------------------------- typed topics */

/*
 * Typed input and output topics (Kafka Streams' TestInputTopic and
 * TestOutputTopic): records go in and come out as objects, encoded and
 * decoded with the serdes given (serde.h lists each built-in serde's object
 * type), so a test of an int64 count reads int64s rather than 8 big-endian
 * bytes. They are views of the driver's topics: records piped through an
 * input are the same as brook_test_driver_pipe()'s, and an output reads the
 * same unread records as brook_test_driver_read() (a record read by either
 * is read for both).
 *
 * Inputs and outputs belong to the driver: there is no destroy call, and
 * brook_test_driver_destroy() frees every one made on it. Each call makes a
 * new one. Like the driver, they are not thread-safe: use them on the
 * driver's thread.
 */
typedef struct brook_test_input_s brook_test_input_t;
typedef struct brook_test_output_s brook_test_output_t;

/** Options of an input topic; NULL takes the defaults noted. */
typedef struct brook_test_input_opts_s {
        /** The timestamp of the first record piped without one. Without
         *  options: the driver's wall clock when the input is made (Kafka
         *  Streams takes the system's clock; the driver's is mocked, which
         *  keeps tests repeatable). */
        int64_t start_timestamp;
        /** Added to the input's clock after each record piped without a
         *  timestamp; 0 (the default) gives them all the same one. Must not
         *  be negative. */
        int64_t auto_advance_ms;
} brook_test_input_opts_t;

/**
 * An input topic of @p td: what is piped through it is encoded with
 * @p key_serde and @p value_serde. The input holds a reference to each
 * serde, so the caller may destroy its own right after.
 * @returns the input, owned by @p td (valid until the driver is destroyed),
 *          or NULL with a message in @p errstr if an argument other than
 *          @p opts is NULL, auto_advance_ms is negative, or no source of the
 *          topology reads @p topic (checked here, where the test names the
 *          topic, rather than at the first pipe).
 */
brook_test_input_t *brook_test_driver_input(brook_test_driver_t *td,
                                            const char *topic,
                                            const brook_serde_t *key_serde,
                                            const brook_serde_t *value_serde,
                                            const brook_test_input_opts_t *opts,
                                            char *errstr, size_t errstr_size);

/** Passed as a timestamp: take the input's clock and advance it. */
#define BROOK_TEST_TIMESTAMP_AUTO INT64_MIN

/**
 * Pipes a record with key @p key and value @p value (objects of the input's
 * serdes, borrowed for the call; NULL is Kafka's null) and processes it,
 * and everything it leads to, before returning, as brook_test_driver_pipe().
 * Its timestamp is the input's clock, which then moves on by the input's
 * auto_advance_ms.
 * @returns BROOK_OK; BROOK_ERR_INVALID_ARG if @p in is NULL;
 *          BROOK_ERR_SERDE if a serde could not encode the key or value
 *          (with a message naming the topic and the serde; nothing is piped
 *          and the clock stays); or an error of brook_test_driver_pipe().
 */
brook_err_t brook_test_input_pipe(brook_test_input_t *in, const void *key,
                                  const void *value, char *errstr,
                                  size_t errstr_size);
/** brook_test_input_pipe() with a null key (Kafka Streams'
 *  pipeInput(value)). */
brook_err_t brook_test_input_pipe_value(brook_test_input_t *in,
                                        const void *value, char *errstr,
                                        size_t errstr_size);
/** brook_test_input_pipe() at @p timestamp; the input's clock does not
 *  move (unless @p timestamp is BROOK_TEST_TIMESTAMP_AUTO, which is
 *  brook_test_input_pipe()). */
brook_err_t brook_test_input_pipe_at(brook_test_input_t *in, const void *key,
                                     const void *value, int64_t timestamp,
                                     char *errstr, size_t errstr_size);
/**
 * brook_test_input_pipe() with @p header_cnt headers (copied; a header's
 * NULL value is Kafka's null) at @p timestamp, or, if @p timestamp is
 * BROOK_TEST_TIMESTAMP_AUTO, at the input's clock, which then advances.
 */
brook_err_t brook_test_input_pipe_headers(brook_test_input_t *in,
                                          const void *key, const void *value,
                                          int64_t timestamp,
                                          const brook_header_t *headers,
                                          size_t header_cnt, char *errstr,
                                          size_t errstr_size);
/**
 * Moves the input's clock (the timestamp of the next record piped without
 * one) forward by @p advance_ms. The driver's wall clock does not move.
 * @returns BROOK_OK, or BROOK_ERR_INVALID_ARG if @p in is NULL or
 *          @p advance_ms is negative (the clock stays).
 */
brook_err_t brook_test_input_advance_time(brook_test_input_t *in,
                                          int64_t advance_ms);

/**
 * An output topic of @p td whose records are decoded with @p key_serde and
 * @p value_serde (the output holds a reference to each). Any topic name is
 * accepted: a topic nothing writes to reads as empty, as in Kafka Streams.
 * @returns the output, owned by @p td (valid until the driver is
 *          destroyed), or NULL if an argument is NULL.
 */
brook_test_output_t *brook_test_driver_output(brook_test_driver_t *td,
                                              const char *topic,
                                              const brook_serde_t *key_serde,
                                              const brook_serde_t *value_serde);

/** A record read from an output topic, decoded. */
typedef struct brook_test_typed_record_s {
        const char *topic;
        int32_t partition; /**< Always 0 in the driver. */
        int64_t offset;
        void *key;   /**< The key serde's object; NULL for a null key. */
        void *value; /**< The value serde's object; NULL for a tombstone. */
        int64_t timestamp;
        const brook_header_t *headers;
        size_t header_cnt;
} brook_test_typed_record_t;

/**
 * Takes the oldest unread record of the output's topic and decodes it into
 * @p rec. Every pointer in @p rec (decoded objects included: they live in
 * the output's arena) stays valid until the driver is destroyed, so records
 * read earlier can still be compared.
 * @returns BROOK_OK; BROOK_ERR_INVALID_ARG if @p out or @p rec is NULL;
 *          BROOK_ERR_NOT_FOUND if there is no unread record (as
 *          Kafka Streams' NoSuchElementException; @p rec is untouched); or
 *          BROOK_ERR_SERDE if the key or value does not decode, with a
 *          message naming the topic, the offset and the serde. The record
 *          counts as read even so, as in Kafka Streams, so the next call
 *          reads the one after.
 */
brook_err_t brook_test_output_read(brook_test_output_t *out,
                                   brook_test_typed_record_t *rec, char *errstr,
                                   size_t errstr_size);

/** How many records of the output's topic are unread (Kafka Streams'
 *  getQueueSize()); 0 for a NULL @p out. */
size_t brook_test_output_unread(const brook_test_output_t *out);
/** Whether no record of the output's topic is unread; true for a NULL
 *  @p out. */
bool brook_test_output_is_empty(const brook_test_output_t *out);

/** A key and its latest value (brook_test_output_read_map()). */
typedef struct brook_test_kv_s {
        void *key;   /**< NULL for the null key. */
        void *value; /**< NULL if the key's latest record is a tombstone. */
} brook_test_kv_t;

/**
 * Reads every unread record and keeps the latest value of each key (Kafka
 * Streams' readKeyValuesToMap()): *@p kvsp is set to *@p cntp entries, one
 * per distinct key (keys compare by their encoded bytes), in the order each
 * key first appeared. A key whose latest record is a tombstone keeps an
 * entry with a NULL value, as a Java map holds a null. The array and the
 * objects in it live in the output's arena, valid until the driver is
 * destroyed; with no unread record *@p kvsp is NULL and *@p cntp 0.
 * @returns BROOK_OK; BROOK_ERR_INVALID_ARG if a pointer argument is NULL;
 *          or BROOK_ERR_SERDE as brook_test_output_read() (the
 *          records up to the failing one, inclusive, count as read; *@p kvsp
 *          and *@p cntp are then NULL and 0).
 */
brook_err_t brook_test_output_read_map(brook_test_output_t *out,
                                       brook_test_kv_t **kvsp, size_t *cntp,
                                       char *errstr, size_t errstr_size);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
