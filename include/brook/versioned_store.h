/*
 * brook — versioned key-value stores (Kafka Streams' VersionedKeyValueStore
 * and Stores.persistentVersionedKeyValueStore(), KIP-889).
 *
 * A versioned store keeps, for each key, the values it had over time:
 * every put carries a timestamp and adds a version valid from it until the
 * next version's timestamp (a NULL value is a version too: a tombstone,
 * "no value from here on"). Reads ask for the latest value, or for the
 * value as of a time. Declare one with a brook_materialized_t whose
 * `versioned` is set (version BROOK_MATERIALIZED_VERSION, 3 or later):
 *
 *   brook_materialized_t m = {.name = "wards",
 *                             .versioned = true,
 *                             .history_retention_ms = 24 * BROOK_HOURS,
 *                             .version = BROOK_MATERIALIZED_VERSION};
 *   brook_builder_add_store(b, &m, procs, 1, errstr, sizeof errstr);
 *
 * or, in the DSL, give such an `m` to brook_table(): the table is then a
 * versioned table (docs/joins.md, "Versioned tables").
 *
 * The rules are Kafka Streams' (RocksDBVersionedStore):
 *
 *   - The store's stream time is the largest timestamp put so far. A put
 *     older than stream time - history retention is not made: it returns
 *     BROOK_VERSIONED_NOT_PUT and counts as a dropped record
 *     (BROOK_DROP_EXPIRED). Such a put is not logged either.
 *   - A put returns the new version's validTo: BROOK_VERSIONED_LATEST (-1)
 *     when it is now the latest version of its key, else the timestamp of
 *     the next version (an out-of-order put lands in the key's history).
 *     A put with the timestamp of an existing version replaces it.
 *   - get() returns the latest version; get_as_of(t) the version with the
 *     largest timestamp at or before t, unless a tombstone is newer. When
 *     t is older than stream time - history retention, only the latest
 *     version can answer (if its timestamp is at or before t): history
 *     that old is no longer kept, so nothing else is returned even if it
 *     is still on disk. The latest version of a key never expires.
 *   - Old versions live in segments (of segment_interval_ms, by the time
 *     their validity ends), which are dropped whole once they are older
 *     than stream time - history retention: the store stays bounded.
 *
 * The store has no cache (versioned stores never cache, as in Kafka
 * Streams) and logs each put made to "<application.id>-<name>-changelog"
 * (key, value or tombstone, with the version's timestamp as the record's
 * timestamp, as Kafka Streams does), compacted with min.compaction.lag.ms
 * = history retention + 1 day. A restart or a move rebuilds the same
 * versions and the same stream time from the local state and the
 * changelog's tail. The bytes store below is RocksDB by default or any
 * supplier (brook_kvstore_in_memory()).
 *
 * The calls are made on the task's thread only, as brook_kvstore_*();
 * decoded values live in the record's (or punctuation's) arena. Queries
 * from other threads: brook_app_versioned_get() (app.h).
 */
#ifndef BROOK_VERSIONED_STORE_H
#define BROOK_VERSIONED_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "processor.h"
#include "serde.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

typedef struct brook_versionedstore_s brook_versionedstore_t;

/** A put's validTo when the version put is now its key's latest (Kafka
 *  Streams' PUT_RETURN_CODE_VALID_TO_UNDEFINED). */
#define BROOK_VERSIONED_LATEST ((int64_t)-1)
/** A put's return code when it was older than stream time - history
 *  retention and was not made (PUT_RETURN_CODE_NOT_PUT). */
#define BROOK_VERSIONED_NOT_PUT INT64_MIN

/** One version of a key's value (Kafka Streams' VersionedRecord). */
typedef struct brook_versioned_record_s {
        /** The value, decoded into the arena; never NULL when returned
         *  (a tombstone is "not found"). */
        void *value;
        /** When the version became valid (the put's timestamp). */
        int64_t timestamp;
        /** When it stopped being valid (the next version's timestamp), or
         *  BROOK_VERSIONED_LATEST (-1) for the latest version. */
        int64_t valid_to;
} brook_versioned_record_t;

/** The versioned store @p name connected to this processor (see
 *  brook_ctx_kvstore()); BROOK_ERR_INVALID_ARG if it is another kind. */
brook_err_t brook_ctx_versionedstore(brook_ctx_t *ctx, const char *name,
                                     brook_versionedstore_t **stp, char *errstr,
                                     size_t errstr_size);

/**
 * Adds a version of @p key: @p value (NULL: a tombstone) valid from
 * @p timestamp (>= 0). *@p valid_top (may be NULL) gets the version's
 * validTo: BROOK_VERSIONED_LATEST, the next version's timestamp, or
 * BROOK_VERSIONED_NOT_PUT when @p timestamp is older than the store's
 * stream time - history retention (then nothing changed: not an error).
 * @returns BROOK_OK; BROOK_ERR_INVALID_ARG for a NULL key or a negative
 *          timestamp; another error as brook_kvstore_put().
 */
brook_err_t brook_versionedstore_put(brook_versionedstore_t *st,
                                     const void *key, const void *value,
                                     int64_t timestamp, int64_t *valid_top,
                                     char *errstr, size_t errstr_size);
/**
 * Deletes @p key as of @p timestamp: a tombstone put there (Kafka Streams'
 * delete(key, timestamp)). *@p oldp (may be NULL) gets the version that
 * was valid at @p timestamp; BROOK_ERR_NOT_FOUND if there was none, or if
 * @p timestamp is older than stream time - history retention (then nothing
 * is deleted).
 */
brook_err_t brook_versionedstore_delete(brook_versionedstore_t *st,
                                        const void *key, int64_t timestamp,
                                        brook_versioned_record_t *oldp,
                                        char *errstr, size_t errstr_size);
/** The latest version of @p key into *@p recp.
 *  @returns BROOK_OK, BROOK_ERR_NOT_FOUND (none, or the latest is a
 *           tombstone), or an error. */
brook_err_t brook_versionedstore_get(brook_versionedstore_t *st,
                                     const void *key,
                                     brook_versioned_record_t *recp,
                                     char *errstr, size_t errstr_size);
/** The version of @p key valid at @p as_of (the rules above) into
 *  *@p recp. INT64_MAX asks for the latest. */
brook_err_t brook_versionedstore_get_as_of(brook_versionedstore_t *st,
                                           const void *key, int64_t as_of,
                                           brook_versioned_record_t *recp,
                                           char *errstr, size_t errstr_size);
/** The store's stream time: the largest timestamp put, or -1. */
int64_t brook_versionedstore_stream_time(const brook_versionedstore_t *st);
/** The store's history retention (ms). */
int64_t
brook_versionedstore_history_retention(const brook_versionedstore_t *st);
/** The store's name. */
const char *brook_versionedstore_name(const brook_versionedstore_t *st);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
