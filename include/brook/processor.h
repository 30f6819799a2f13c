/*
 * brook — the Processor API and the topology builder.
 *
 * A topology is a graph of named nodes: sources (read topics), processors
 * (user code with init / process / close) and sinks (write topics). Nodes
 * joined without a Kafka topic in between form a sub-topology; each runs as
 * one task per input partition. The DSL (dsl.h) builds on these calls only.
 *
 * Builder calls that fail return an error (or NULL) with the reason in
 * their errstr and also record the first error in the builder, so
 * brook_app_new() and brook_test_driver_new() refuse a builder that had
 * any failed call. The codes: BROOK_ERR_INVALID_ARG for a missing or empty
 * argument, BROOK_ERR_NOT_FOUND for a named node or store that does not
 * exist, BROOK_ERR_TOPOLOGY for a graph that cannot be (a name taken, a
 * topic read twice, a bad pattern, stores across sub-topologies).
 *
 * Threads: a builder is built on one thread. Once an app or test driver
 * has taken it, the topology is read-only and shared by every stream
 * thread: each task gets its own processor instance (init()'s state), but
 * a definition's @p opaque, and a DSL function's opaque, is shared by all
 * tasks on all threads at once, so it must be immutable or thread-safe.
 *
 * Strings and structs passed to builder calls are copied (or, for serdes,
 * referenced) before the call returns.
 */
#ifndef BROOK_PROCESSOR_H
#define BROOK_PROCESSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "record.h"
#include "serde.h"
#include "store.h"
#include "timestamp.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

/**
 * Why a record was dropped: skipped without the output it would have made
 * (Kafka Streams' dropped-records metric, with its reason). Each drop is
 * counted once, under one reason, and logged as a warning (rate-limited:
 * the first of a reason, then at most one line per reason every 10 s per
 * stream thread, saying how many were not logged). More reasons may be
 * added: brook_drop_reason_name() returns NULL past the last one.
 */
typedef enum brook_drop_reason_e {
        /** The timestamp extractor gave a negative timestamp and the
         *  source's policy is LogAndSkipOnInvalidTimestamp (timestamp.h). */
        BROOK_DROP_INVALID_TIMESTAMP = 0,
        /** The key or value did not deserialize and
         *  default.deserialization.exception.handler is log_and_continue. */
        BROOK_DROP_DESERIALIZATION_ERROR,
        /** A processor failed and default.processing.exception.handler is
         *  log_and_continue. */
        BROOK_DROP_PROCESSING_ERROR,
        /** A sink's record could not be serialized or produced (refused by
         *  the producer, e.g. larger than message.max.bytes, or not
         *  delivered) and default.production.exception.handler is
         *  log_and_continue. Counts the output record, not the input. */
        BROOK_DROP_PRODUCTION_ERROR,
        /** A null key where one is needed: an aggregation, a table source,
         *  a repartition. */
        BROOK_DROP_NULL_KEY,
        /** A null value where one is needed: an aggregation. */
        BROOK_DROP_NULL_VALUE,
        /** A windowed aggregation's record for a window already closed
         *  (its end + grace at or before the stream time). */
        BROOK_DROP_LATE,
        /** A write to a window or session store older than the store's
         *  retention (Kafka Streams' expired-window-record-drop), or a put
         *  to a versioned store older than its history retention allows. */
        BROOK_DROP_EXPIRED,
        /** A foreign-key join's response for a row that has changed since
         *  it subscribed: a newer response follows (Kafka Streams counts
         *  it in dropped-records too). */
        BROOK_DROP_STALE,
        /** An update of a versioned table older than its key's latest
         *  value, which a table-table or foreign-key join skips (KIP-914:
         *  a join's result follows the latest values only). */
        BROOK_DROP_OUT_OF_ORDER,
} brook_drop_reason_t;

/** A short lowercase name of @p reason ("null_key", ...), static; NULL for
 *  a value that is not a reason. Thread-safe. */
const char *brook_drop_reason_name(brook_drop_reason_t reason);

typedef struct brook_builder_s brook_builder_t;
/** A processor's view of its task: forward records, read metadata,
 *  schedule punctuators. One per processor node per task. */
typedef struct brook_ctx_s brook_ctx_t;

/** A new, empty topology builder; never NULL. Free it with
 *  brook_builder_destroy() unless brook_app_new() or brook_test_driver_new()
 *  took it. */
brook_builder_t *brook_builder_new(void);
/** Frees @p b and every stream handle made from it. NULL is a no-op. */
void brook_builder_destroy(brook_builder_t *b);
/** The reason of the builder's first failed call, or NULL: the one place to
 *  look after a chain of DSL calls. Valid until @p b is destroyed. */
const char *brook_builder_error(const brook_builder_t *b);

/* --------------------------------------------------------------- sources */

/**
 * Picks a record's timestamp (Kafka Streams' TimestampExtractor).
 *
 * It runs when the record reaches the head of its partition's queue in
 * its task (Kafka Streams' RecordQueue), before the record is processed:
 * the task processes next the record with the smallest extracted
 * timestamp across its partitions. @p partition_time is the record's
 * partition time: the largest timestamp of the records processed so far
 * from its partition (-1 before the first); see docs/time.md.
 *
 * @p rec is decoded for the call only: its key and value are decoded into
 * a scratch arena that is reset when the extractor returns (so keep no
 * pointer into them), and decoded again when the record is processed. A
 * source without a user extractor decodes nothing ahead of processing. If
 * the key or value fails to decode, the extractor is not called: the
 * record is handed to default.deserialization.exception.handler next, as
 * it would be when processed. rec's timestamp is the Kafka record
 * timestamp; its topic, partition, offset and headers can be read.
 *
 * A negative result is an invalid timestamp: the source's
 * brook_invalid_timestamp_t policy decides (default:
 * default.timestamp.extractor, which defaults to failing the app, as
 * Kafka Streams' FailOnInvalidTimestamp does).
 *
 * It runs on the task's stream thread, with @p opaque shared by every
 * task (see "Threads" above).
 */
typedef int64_t (*brook_timestamp_extractor_fn)(const brook_record_t *rec,
                                                int64_t partition_time,
                                                void *opaque);

/** How a source reads its topics. NULL members take the defaults
 *  (default.key.serde / default.value.serde, the Kafka record timestamp). */
typedef struct brook_consumed_s {
        const brook_serde_t *key_serde;
        const brook_serde_t *value_serde;
        /** A user extractor (NULL: none). At most one of it and
         *  timestamp_field may be set. */
        brook_timestamp_extractor_fn timestamp_extractor;
        void *timestamp_extractor_opaque;
        /** The source node's name: brook_builder_add_source() uses it when
         *  its name argument is NULL (and fails if both are set and
         *  differ); the DSL generates one when it is NULL. */
        const char *name;
        /** 0, 1, or BROOK_CONSUMED_VERSION (2) to set the members below.
         *  See "Structs that grow" in brook.h. */
        int version;

        /* Version 2. */

        /** The built-in JSON extractor: the timestamp is the top-level
         *  field of this name in the record's raw value, read as
         *  brook_timestamp_from_json() reads it (epoch milliseconds or an
         *  ISO-8601 string), with no decoding of the value. NULL: not used.
         *  Copied. */
        const char *timestamp_field;
        /** When timestamp_field is missing, null or unreadable: the Kafka
         *  record timestamp (BROOK_TIMESTAMP_FALLBACK_RECORD, the default)
         *  or an invalid timestamp. */
        brook_timestamp_fallback_t timestamp_fallback;
        /** What a negative timestamp from this source does;
         *  BROOK_INVALID_TIMESTAMP_DEFAULT (0) takes the property
         *  default.timestamp.extractor's policy. */
        brook_invalid_timestamp_t invalid_timestamp;
} brook_consumed_t;
#define BROOK_CONSUMED_VERSION 2

/**
 * Adds a source node reading @p topics (@p topic_cnt of them), or, if
 * @p pattern is non-NULL (and @p topic_cnt is 0), every topic whose whole
 * name matches the POSIX extended regular expression @p pattern. A topic
 * another source reads already (by name or pattern) is refused, and so is
 * a pattern that matches a topic another source names.
 * @returns BROOK_OK, or an error (see above) with the reason in @p errstr.
 */
brook_err_t brook_builder_add_source(brook_builder_t *b, const char *name,
                                     const char *const *topics,
                                     size_t topic_cnt, const char *pattern,
                                     const brook_consumed_t *consumed,
                                     char *errstr, size_t errstr_size);

/* ------------------------------------------------------------ processors */

/**
 * A processor, as Kafka Streams' processor.api.Processor. For each task
 * that runs the node, init() makes the instance's state, process() is
 * called for each record, close() frees the state when the task closes.
 * init and close may be NULL; without init the state is @p opaque itself.
 * All three run on the task's stream thread (one task at a time per
 * instance, so an instance's state needs no lock).
 *
 * process() forwards records with brook_ctx_forward(). It returns BROOK_OK,
 * or an error with its reason written to @p errstr (brook prefixes the node's
 * name); the processing exception handler then fails the app, skips the
 * record, or dead-letters it. Records forwarded downstream are processed
 * depth-first before forward returns; a downstream failure is returned by
 * forward with its reason (naming the node that failed) in the errstr
 * passed to it, so process() passes its own @p errstr to forward and
 * returns the error unchanged.
 */
typedef struct brook_processor_def_s {
        brook_err_t (*init)(brook_ctx_t *ctx, void *opaque, void **statep,
                            char *errstr, size_t errstr_size);
        brook_err_t (*process)(brook_ctx_t *ctx, brook_record_t *rec,
                               void *state, char *errstr, size_t errstr_size);
        void (*close)(brook_ctx_t *ctx, void *state);
        void *opaque;
        /** Frees @p opaque when the builder (and everything built from it)
         *  is gone; may be NULL. */
        void (*opaque_destroy)(void *opaque);
        /** 0 or BROOK_PROCESSOR_DEF_VERSION. See "Structs that grow" in
         * brook.h. */
        int version;
} brook_processor_def_t;
#define BROOK_PROCESSOR_DEF_VERSION 1

/** Adds processor @p name (a copy of @p def is kept) as a child of
 *  @p parents. @returns BROOK_OK, or an error (see above) with the reason in
 *  @p errstr. On
 *  failure @p def->opaque_destroy is called, so the caller never frees the
 *  opaque itself. */
brook_err_t brook_builder_add_processor(brook_builder_t *b, const char *name,
                                        const brook_processor_def_t *def,
                                        const char *const *parents,
                                        size_t parent_cnt, char *errstr,
                                        size_t errstr_size);

/* ----------------------------------------------------------------- sinks */

/** Picks a partition from the encoded key (Kafka's StreamPartitioner).
 *  Return -1 for the producer's default (murmur2 of the key, as Java). */
typedef int32_t (*brook_partitioner_fn)(const char *topic, const void *key,
                                        size_t key_size,
                                        const brook_record_t *rec,
                                        int32_t partition_cnt, void *opaque);

/** Picks a record's output topic (Kafka's TopicNameExtractor). The string
 *  must live as long as the record (e.g. in its arena, or static). NULL
 *  fails the record as a processing error. */
typedef const char *(*brook_topic_chooser_fn)(const brook_record_t *rec,
                                              void *opaque);

/** How a sink writes. NULL members take the defaults. */
typedef struct brook_produced_s {
        const brook_serde_t *key_serde;
        const brook_serde_t *value_serde;
        brook_partitioner_fn partitioner;
        void *partitioner_opaque;
        /** The sink node's name: brook_builder_add_sink() uses it when its
         *  name argument is NULL (and fails if both are set and differ);
         *  the DSL generates one when it is NULL. */
        const char *name;
        /** 0 or BROOK_PRODUCED_VERSION. See "Structs that grow" in brook.h. */
        int version;
} brook_produced_t;
#define BROOK_PRODUCED_VERSION 1

/** Adds a sink writing to @p topic, or, if @p chooser is non-NULL, to the
 *  topic it picks per record (called on stream threads, concurrently).
 *  @returns BROOK_OK, or an error (see above) with the reason in
 *  @p errstr. */
brook_err_t
brook_builder_add_sink(brook_builder_t *b, const char *name, const char *topic,
                       brook_topic_chooser_fn chooser, void *chooser_opaque,
                       const brook_produced_t *produced,
                       const char *const *parents, size_t parent_cnt,
                       char *errstr, size_t errstr_size);

/* ---------------------------------------------------------------- stores */

/**
 * Adds the store @p m describes (m->name is required and must be unique)
 * and connects it to the processors named in @p processors, which must
 * exist and belong to one sub-topology; each task of it gets its own
 * instance (Topology.addStateStore). Serdes left NULL take
 * default.key.serde / default.value.serde when the app starts.
 * @returns BROOK_OK, or an error (see above) with the reason in @p errstr.
 */
brook_err_t brook_builder_add_store(brook_builder_t *b,
                                    const brook_materialized_t *m,
                                    const char *const *processors,
                                    size_t processor_cnt, char *errstr,
                                    size_t errstr_size);
/** Connects an existing store to one more processor. @returns BROOK_OK, or
 *  an error (see above) with the reason in @p errstr. */
brook_err_t brook_builder_connect_store(brook_builder_t *b,
                                        const char *processor,
                                        const char *store, char *errstr,
                                        size_t errstr_size);

/* ------------------------------------------------------------ the context */

/*
 * A brook_ctx_t is valid from init() to close() of its processor instance and
 * is used only on its task's stream thread, from that processor's init(),
 * process(), punctuators and close().
 */

/** Forwards @p rec to every child of this node, depth-first. A child's
 *  failure stops the forward: its code is returned and its reason, naming
 *  the node that failed, is written to @p errstr (may be NULL). */
brook_err_t brook_ctx_forward(brook_ctx_t *ctx, brook_record_t *rec,
                              char *errstr, size_t errstr_size);
/** Forwards @p rec to the child named @p child only. BROOK_ERR_NOT_FOUND if
 *  this node has no such child. */
brook_err_t brook_ctx_forward_to(brook_ctx_t *ctx, brook_record_t *rec,
                                 const char *child, char *errstr,
                                 size_t errstr_size);

/**
 * A new record with @p key, @p value and @p timestamp that shares the
 * metadata and headers of @p parent. With a NULL @p parent (in a
 * punctuator) it has no source metadata and empty headers. Lives in the
 * arena of the record being processed (or of the punctuation). Never fails.
 */
brook_record_t *brook_ctx_record_new(brook_ctx_t *ctx,
                                     const brook_record_t *parent, void *key,
                                     void *value, int64_t timestamp);

/** Sets *@p stp to this task's instance of store @p name, valid from init()
 *  to close(). BROOK_ERR_NOT_FOUND (*@p stp = NULL, and @p errstr naming the
 *  store and this processor) when no such store is connected to this
 *  processor (brook_builder_add_store() / brook_builder_connect_store()). */
brook_err_t brook_ctx_kvstore(brook_ctx_t *ctx, const char *name,
                              brook_kvstore_t **stp, char *errstr,
                              size_t errstr_size);

/* The calls below never fail; strings they return live as long as the
 * task (the context). */

/** "<sub-topology>_<partition>", e.g. "0_3". */
const char *brook_ctx_task_id(const brook_ctx_t *ctx);
int32_t brook_ctx_partition(const brook_ctx_t *ctx);
const char *brook_ctx_application_id(const brook_ctx_t *ctx);
/** The name of this processor node. */
const char *brook_ctx_node_name(const brook_ctx_t *ctx);
/** The task's stream time: the largest timestamp it has processed, or -1. */
int64_t brook_ctx_stream_time(const brook_ctx_t *ctx);
/** Wall-clock milliseconds (the test driver's mocked clock under test). */
int64_t brook_ctx_wall_clock(const brook_ctx_t *ctx);

typedef enum brook_punctuation_type_e {
        BROOK_PUNCTUATE_STREAM_TIME, /**< Fires as stream time advances. */
        BROOK_PUNCTUATE_WALL_CLOCK,  /**< Fires as wall-clock time passes. */
} brook_punctuation_type_t;

/**
 * A punctuator: @p timestamp is the stream or wall-clock time it fires for.
 * Records it makes use brook_ctx_record_new(ctx, NULL, ...). It returns
 * BROOK_OK, or an error with its reason in @p errstr: as in Kafka Streams
 * (KIP-1033), the processing exception handler decides: `fail` stops the
 * app with the reason, the others log it and go on.
 */
typedef brook_err_t (*brook_punctuate_fn)(brook_ctx_t *ctx, int64_t timestamp,
                                          void *opaque, char *errstr,
                                          size_t errstr_size);

/**
 * Schedules @p fn every @p interval_ms (>= 1) of @p type time, as Kafka
 * Streams' ProcessorContext.schedule(). Stream-time punctuators fire once
 * per interval crossed (not once per missed interval), on the first record
 * whose timestamp reaches the next due time. Call from init() or process().
 * @returns BROOK_OK with the punctuator's id in *@p idp (for
 *          brook_ctx_cancel()), or BROOK_ERR_INVALID_ARG (an interval below
 *          1, a NULL @p fn, an unknown @p type) with the reason in @p errstr.
 */
brook_err_t brook_ctx_schedule(brook_ctx_t *ctx, int64_t interval_ms,
                               brook_punctuation_type_t type,
                               brook_punctuate_fn fn, void *opaque, int *idp,
                               char *errstr, size_t errstr_size);
/** Cancels punctuator @p id of this node; an unknown id is a no-op. */
void brook_ctx_cancel(brook_ctx_t *ctx, int id);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
