/*
 * brook — window and session stores (Kafka Streams' WindowStore and
 * SessionStore, with Stores.persistentWindowStore() /
 * persistentSessionStore() and their in-memory twins).
 *
 * A window store keeps values per key and window start; a session store
 * per key and session (start and end, both inclusive). Both sit on the
 * same layers as key-value stores (metered, caching, changelogging; see
 * store.h) over any bytes store supplier (RocksDB by default, or
 * brook_kvstore_in_memory()), which brook splits into time segments:
 *
 *   - data older than the store's retention, measured on the store's
 *     stream time (the largest window start, or session end, written to
 *     it), is dropped a segment at a time, and writes into an expired
 *     segment are ignored (counted);
 *   - the changelog topic "<application.id>-<name>-changelog" has
 *     cleanup.policy=compact,delete and retention.ms = retention +
 *     windowstore.changelog.additional.retention.ms (1 day by default);
 *   - its keys are Kafka Streams' bytes: the key's serialized bytes, then
 *     for window stores the window start (8 bytes, big-endian) and a
 *     sequence number (4 bytes), for session stores the end and the start
 *     (8 bytes each).
 *
 * Results come in segment order (time ranges of the segment interval),
 * and within a segment in key order and then time: for one key, in window
 * start order (session end order), as Kafka Streams returns them.
 * Backward variants return the reverse.
 *
 * The calls are made on the task's thread only, as brook_kvstore_*();
 * decoded keys and values live in the record's (or punctuation's) arena.
 */
#ifndef BROOK_WINDOW_STORE_H
#define BROOK_WINDOW_STORE_H

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

typedef struct brook_windowstore_s brook_windowstore_t;
typedef struct brook_sessionstore_s brook_sessionstore_t;
/** An iterator over window or session store entries. */
typedef struct brook_windowiter_s brook_windowiter_t;

/** A window: [start, end) for time windows (end = start + size), [start,
 *  end] for sessions, in milliseconds. */
typedef struct brook_window_s {
        int64_t start;
        int64_t end;
} brook_window_t;

/** A key with its window: what windowed aggregations key their results
 *  by (Kafka Streams' Windowed<K>). */
typedef struct brook_windowed_key_s {
        void *key;
        brook_window_t window;
} brook_windowed_key_t;

/**
 * The serde of time-windowed keys (brook_windowed_key_t *), byte for byte
 * Kafka Streams' TimeWindowedSerializer / TimeWindowedDeserializer: the
 * key's bytes by @p inner, then the window start (8 bytes, big-endian).
 * Decoding sets end = start + @p window_size_ms (INT64_MAX if that
 * overflows). Takes a reference to @p inner; free the result with
 * brook_serde_destroy(). NULL if @p inner is NULL or the size is not
 * positive, with the reason in @p errstr.
 */
brook_serde_t *brook_serde_time_windowed(const brook_serde_t *inner,
                                         int64_t window_size_ms, char *errstr,
                                         size_t errstr_size);
/** The serde of session-windowed keys, as Kafka Streams'
 *  SessionWindowedSerializer: the key's bytes, the session end, then its
 *  start (8 bytes each, big-endian). */
brook_serde_t *brook_serde_session_windowed(const brook_serde_t *inner,
                                            char *errstr, size_t errstr_size);

/* ------------------------------------------------- declaring a store */

/** A window or session store's time settings. */
typedef struct brook_window_store_opts_s {
        /** How long (ms of the store's stream time) data is kept; at least
         *  window_size_ms for window stores. Required (> 0). */
        int64_t retention_ms;
        /** Window stores: the size of the windows (ms, > 0); ignored for
         *  session stores. */
        int64_t window_size_ms;
        /** Window stores: keep every put (stream-stream join buffers)
         *  instead of the last per key and window. */
        bool retain_duplicates;
        /** The segment length (ms); 0: Kafka Streams' default,
         *  max(retention_ms / 2, 60000). */
        int64_t segment_ms;
        /** 0 or BROOK_WINDOW_STORE_OPTS_VERSION. See "Structs that grow"
         *  in brook.h. */
        int version;
} brook_window_store_opts_t;
#define BROOK_WINDOW_STORE_OPTS_VERSION 1

/**
 * Adds window store @p m->name (as brook_builder_add_store() adds a
 * key-value store: the supplier gives the bytes store, caching and
 * logging as set) with the times in @p w, connected to @p processors.
 * @returns BROOK_OK, or BROOK_ERR_INVALID_ARG naming what is wrong
 *          (retention shorter than the window, a non-positive size).
 */
brook_err_t brook_builder_add_window_store(brook_builder_t *b,
                                           const brook_materialized_t *m,
                                           const brook_window_store_opts_t *w,
                                           const char *const *processors,
                                           size_t processor_cnt, char *errstr,
                                           size_t errstr_size);
/** A session store; @p w->window_size_ms and retain_duplicates are
 *  ignored. */
brook_err_t brook_builder_add_session_store(brook_builder_t *b,
                                            const brook_materialized_t *m,
                                            const brook_window_store_opts_t *w,
                                            const char *const *processors,
                                            size_t processor_cnt, char *errstr,
                                            size_t errstr_size);

/** The window store @p name connected to this processor (see
 *  brook_ctx_kvstore()); BROOK_ERR_INVALID_ARG if it is another kind. */
brook_err_t brook_ctx_windowstore(brook_ctx_t *ctx, const char *name,
                                  brook_windowstore_t **stp, char *errstr,
                                  size_t errstr_size);
/** The session store @p name connected to this processor. */
brook_err_t brook_ctx_sessionstore(brook_ctx_t *ctx, const char *name,
                                   brook_sessionstore_t **stp, char *errstr,
                                   size_t errstr_size);

/* ---------------------------------------------------- window stores */

/** Sets @p key's value in the window starting at @p window_start; NULL
 *  @p value deletes it (with retain_duplicates, NULL is ignored, as in
 *  Kafka Streams). A window older than retention is ignored. */
brook_err_t brook_windowstore_put(brook_windowstore_t *st, const void *key,
                                  const void *value, int64_t window_start,
                                  char *errstr, size_t errstr_size);
/** The value of @p key in the window starting at @p window_start.
 *  @returns BROOK_OK, BROOK_ERR_NOT_FOUND (*@p valuep NULL), or an error. */
brook_err_t brook_windowstore_fetch(brook_windowstore_t *st, const void *key,
                                    int64_t window_start, void **valuep,
                                    char *errstr, size_t errstr_size);
/** @p key's windows starting in [@p time_from, @p time_to], oldest first
 *  (@p backward: newest first). */
brook_err_t brook_windowstore_fetch_range(brook_windowstore_t *st,
                                          const void *key, int64_t time_from,
                                          int64_t time_to, bool backward,
                                          brook_windowiter_t **itp,
                                          char *errstr, size_t errstr_size);
/** Windows of the keys in [@p key_from, @p key_to] (encoded order; NULL:
 *  open) starting in [@p time_from, @p time_to]. */
brook_err_t brook_windowstore_fetch_keys(brook_windowstore_t *st,
                                         const void *key_from,
                                         const void *key_to, int64_t time_from,
                                         int64_t time_to, bool backward,
                                         brook_windowiter_t **itp, char *errstr,
                                         size_t errstr_size);
/** Every window starting in [@p time_from, @p time_to]. */
brook_err_t brook_windowstore_fetch_all(brook_windowstore_t *st,
                                        int64_t time_from, int64_t time_to,
                                        bool backward, brook_windowiter_t **itp,
                                        char *errstr, size_t errstr_size);
/** The store's name. */
const char *brook_windowstore_name(const brook_windowstore_t *st);
/** Puts ignored so far because their window was older than retention. */
uint64_t brook_windowstore_expired(const brook_windowstore_t *st);

/* --------------------------------------------------- session stores */

/** Sets @p key's session [@p start, @p end] to @p value (NULL removes
 *  it). */
brook_err_t brook_sessionstore_put(brook_sessionstore_t *st, const void *key,
                                   int64_t start, int64_t end,
                                   const void *value, char *errstr,
                                   size_t errstr_size);
/** The value of @p key's session [@p start, @p end]. */
brook_err_t brook_sessionstore_fetch_session(brook_sessionstore_t *st,
                                             const void *key, int64_t start,
                                             int64_t end, void **valuep,
                                             char *errstr, size_t errstr_size);
/**
 * @p key's sessions that end at or after @p earliest_end and start at or
 * before @p latest_start (Kafka Streams' findSessions), by end time
 * (@p backward: latest first). A NULL @p key: every key's.
 */
brook_err_t
brook_sessionstore_find_sessions(brook_sessionstore_t *st, const void *key,
                                 int64_t earliest_end, int64_t latest_start,
                                 bool backward, brook_windowiter_t **itp,
                                 char *errstr, size_t errstr_size);
/** The store's name. */
const char *brook_sessionstore_name(const brook_sessionstore_t *st);

/* --------------------------------------------------------- iterators */

/**
 * The next entry: *@p keyp and *@p valuep decoded into the iterator's
 * arena, *@p window its window (@p window may be NULL).
 * @returns BROOK_OK, BROOK_ERR_END after the last one, or the error that
 *          ended it (see brook_kviter_next()).
 */
brook_err_t brook_windowiter_next(brook_windowiter_t *it, void **keyp,
                                  brook_window_t *window, void **valuep,
                                  char *errstr, size_t errstr_size);
/**
 * The timestamp of the entry the last brook_windowiter_next() returned:
 * the largest timestamp of the records aggregated into it, for the DSL's
 * time and sliding window aggregations (their stores are timestamped);
 * -1 for other stores (a session's timestamp is its end), or when the last
 * call returned no entry.
 */
int64_t brook_windowiter_timestamp(const brook_windowiter_t *it);
/** Frees @p it. NULL is a no-op. */
void brook_windowiter_destroy(brook_windowiter_t *it);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
