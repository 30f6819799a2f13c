/*
 * brook — configuration.
 *
 * Configuration is a set of string properties with Kafka Streams' names
 * (StreamsConfig). Properties brook owns are validated when set; properties
 * prefixed `consumer.`, `producer.` or `admin.` pass through to the matching
 * librdkafka client with the prefix removed, and are validated by librdkafka
 * when set. An unprefixed property that brook does not own but librdkafka
 * knows (e.g. `security.protocol`) goes to every client. The producer's
 * `acks` (alias `request.required.acks`) must stay `all` (or -1): fewer
 * acknowledgements are refused, since they lose changelog offsets and
 * output.
 *
 * Properties brook owns (default in brackets):
 *   application.id                       (required) consumer group id and the
 *                                        prefix of every internal topic.
 *   bootstrap.servers                    (required) host:port[,host:port...]
 *   num.stream.threads                   [1] 1..256
 *   commit.interval.ms                   [30000; 100 under exactly_once_v2]
 *   processing.guarantee                 [at_least_once] at_least_once|
 *                                        exactly_once_v2 (a Kafka
 *                                        transaction per commit; see
 *                                        docs/exactly-once.md)
 *   state.dir                            [/tmp/brook]
 *   client.id                            [<application.id>]
 *   replication.factor                   [-1: the broker's default] for
 *                                        internal topics
 *   default.key.serde, default.value.serde
 *                                        [none] bytes|string|int32|int64|
 *                                        double|json
 *   default.deserialization.exception.handler
 *                                        [fail] fail|log_and_continue|
 *                                        dead_letter
 *   default.processing.exception.handler [fail] same values
 *   default.production.exception.handler [fail] same values
 *   errors.deadletterqueue.topic.name    [<application.id>-dlq]
 *   errors.deadletterqueue.topic.partitions
 *                                        [1] partitions of the dead-letter
 *                                        topic when brook creates it
 *   poll.ms                              [100] 1.. how long a thread
 *                                        blocks waiting for records
 *   shutdown.timeout.ms                  [30000] 1.. how long close waits
 *                                        for in-flight records
 *   task.timeout.ms                      [300000] 0.. how long commits or
 *                                        restoration may make no progress
 *                                        (broker unreachable) before the
 *                                        app stops with the cause
 *   statestore.cache.max.bytes           [10485760] record cache for all
 *                                        stores, split between threads; 0
 *                                        turns caching off
 *   rocksdb.memory.bytes                 [67108864] RocksDB memory for the
 *                                        whole app (block cache 3/4, write
 *                                        buffers 1/4), at least 4 MiB
 *   join.memory.bytes                    [33554432] memory for the recent
 *                                        entries of stream-stream joins'
 *                                        window stores: their lookups read
 *                                        it, and an entry reaches RocksDB
 *                                        only if it leaves memory before it
 *                                        expires (the changelog restores
 *                                        it); split between threads; 0: none
 *                                        (docs/joins.md)
 *   buffered.records.per.partition       [1000] 1.. records of a
 *                                        partition a thread takes from the
 *                                        consumer ahead of processing
 *                                        (below twice this; docs/time.md)
 *
 * Kafka Streams' num.standby.replicas is refused (BROOK_ERR_CONF_UNKNOWN,
 * with a message saying why) rather than accepted and ignored: brook keeps
 * no standby replicas.
 *
 * Kafka Streams' Java class names for handlers and serdes are accepted too
 * (e.g. org.apache.kafka.streams.errors.LogAndContinueExceptionHandler).
 *
 * Thread-safety: a conf is not thread-safe; set it up on one thread.
 */
#ifndef BROOK_CONF_H
#define BROOK_CONF_H

#include <stddef.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

typedef struct brook_conf_s brook_conf_t;

/** A new configuration with every property at its default; never NULL.
 *  Free it with brook_conf_destroy() unless brook_app_new() or
 *  brook_test_driver_new() took it. */
brook_conf_t *brook_conf_new(void);

/** A deep copy of @p conf (its remembered error too); never NULL. The caller
 *  owns it. */
brook_conf_t *brook_conf_dup(const brook_conf_t *conf);

/** Frees @p conf. NULL is a no-op. */
void brook_conf_destroy(brook_conf_t *conf);

/**
 * Sets property @p name to @p value.
 *
 * @returns BROOK_OK; BROOK_ERR_CONF_UNKNOWN when no such property exists;
 *          BROOK_ERR_CONF_INVALID when @p value is not accepted. On error
 *          @p errstr names the property and what it accepts, the conf keeps
 *          its previous value, and the conf remembers the error so that
 *          brook_app_new() on it fails with the same message (a set-up that
 *          ignores return codes still cannot start with a bad config).
 */
brook_err_t brook_conf_set(brook_conf_t *conf, const char *name,
                           const char *value, char *errstr, size_t errstr_size);

/**
 * The value of property @p name, or NULL if it is unset and has no default
 * (or is no property at all: brook_conf_set() is where names are checked).
 * The string is owned by @p conf and valid until the property is set again
 * or the conf is destroyed.
 */
const char *brook_conf_get(const brook_conf_t *conf, const char *name);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
