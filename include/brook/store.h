/*
 * brook — state stores (Kafka Streams' KeyValueStore and StoreBuilder).
 *
 * A store belongs to a task: every task of the sub-topology whose
 * processors use a store has its own instance, holding the keys of that
 * task's partition. Processors reach their task's instance with
 * brook_ctx_kvstore(); the DSL's aggregations and tables make and use
 * stores the same way.
 *
 * Each instance is a stack of layers, as Kafka Streams builds it:
 *
 *   metered     serdes (keys and values are objects above, bytes below),
 *               operation counters
 *   caching     statestore.cache.max.bytes per app, shared by a thread's
 *               stores: updates to a key collapse until the next commit or
 *               until the entry is evicted, and only then go down (and, for
 *               DSL stores, downstream)
 *   logging     every write below the cache becomes a record of the
 *               changelog topic "<application.id>-<store>-changelog"
 *               (compacted, one partition per task)
 *   inner       bytes: RocksDB (the default), in memory, or a user's store
 *               through brook_kvstore_ops_t
 *
 * Keys order bytewise on their serialized form (as RocksDB and Kafka
 * Streams do): ranges are over encoded keys.
 *
 * A persistent inner store keeps, atomically with its data, the changelog
 * offset the data corresponds to; on task start only the changelog after
 * that offset is replayed. A non-persistent store is rebuilt from the
 * whole changelog.
 *
 * Thread-safety: a brook_kvstore_t belongs to its task's thread; use it
 * only from that task's processors and punctuators. Interactive queries
 * from other threads go through brook_app_store_*() (app.h).
 */
#ifndef BROOK_STORE_H
#define BROOK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "serde.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

typedef struct brook_kvstore_s brook_kvstore_t;
typedef struct brook_kviter_s brook_kviter_t;

/* ------------------------------------------------- the bytes store API */

/**
 * An iterator over a bytes store, in key order, as an inner store makes it.
 *
 * next() sets the next entry and returns BROOK_OK, returns BROOK_ERR_END
 * after the last one, or returns another error with its reason in @p errstr
 * (after which brook calls only destroy()). The key and value it sets are
 * valid until the next call on the iterator. destroy() frees it.
 */
typedef struct brook_kvbytes_iter_s {
        brook_err_t (*next)(struct brook_kvbytes_iter_s *it, const void **key,
                            size_t *key_size, const void **value,
                            size_t *value_size, char *errstr,
                            size_t errstr_size);
        void (*destroy)(struct brook_kvbytes_iter_s *it);
        /** 0 or BROOK_KVBYTES_ITER_VERSION. See "Structs that grow" in brook.h.
         */
        int version;
} brook_kvbytes_iter_t;
#define BROOK_KVBYTES_ITER_VERSION 1

/**
 * What an inner store implements (RocksDB's and the in-memory one do; a
 * user's store does the same). @p self is what the supplier's open()
 * returned. Keys and values are borrowed for the call.
 *
 * Writes and owner reads (get, range) come from the task's thread only.
 * query_get and query_range may be called from any thread, concurrently
 * with the owner's writes; a store that cannot serve that leaves them NULL
 * and interactive queries on it fail with BROOK_ERR_STATE. An iterator
 * query_range returned may outlive the task's use of the instance: brook
 * stops reading it once the task left, but destroys it later, and only
 * then closes the instance (see close).
 *
 * Errors: every call that returns a brook_err_t writes its reason to
 * @p errstr when it fails, as snprintf(errstr, errstr_size, ...) would
 * (errstr_size may be 0 and errstr NULL); brook adds the store's name and
 * task and reports it to the caller above.
 */
typedef struct brook_kvstore_ops_s {
        /** "rocksdb", "in-memory", or the user's. */
        const char *kind;
        /** Keeps data and its changelog offset across restarts. */
        bool persistent;

        /** Copies the value of @p key into @p out (cleared first).
         *  @returns BROOK_OK, BROOK_ERR_NOT_FOUND (errstr untouched), or
         *  another error. */
        brook_err_t (*get)(void *self, const void *key, size_t key_size,
                           brook_buf_t *out, char *errstr, size_t errstr_size);
        /** Sets @p key; a NULL @p value deletes it. */
        brook_err_t (*put)(void *self, const void *key, size_t key_size,
                           const void *value, size_t value_size, char *errstr,
                           size_t errstr_size);
        /** Keys in [from, to], both inclusive; a NULL bound is open. */
        brook_err_t (*range)(void *self, const void *from, size_t from_size,
                             const void *to, size_t to_size,
                             brook_kvbytes_iter_t **itp, char *errstr,
                             size_t errstr_size);
        /** An estimate of the number of keys. */
        uint64_t (*approximate_count)(void *self);
        /**
         * Makes every write so far durable together with
         * @p changelog_offset, the offset of the next changelog record
         * (-1: no changelog). Persistent stores must make both durable
         * atomically. Called at each commit and after each restore batch.
         */
        brook_err_t (*flush)(void *self, int64_t changelog_offset, char *errstr,
                             size_t errstr_size);
        /** The offset the last flush() stored, or -1 (restore from the
         *  changelog's start). Persistent stores only; may be NULL. */
        int64_t (*stored_offset)(void *self);
        /** Removes every key (the stored offset too). Used when the stored
         *  offset no longer fits the changelog. */
        brook_err_t (*clear)(void *self, char *errstr, size_t errstr_size);
        /** Thread-safe reads for interactive queries (see above). */
        brook_err_t (*query_get)(void *self, const void *key, size_t key_size,
                                 brook_buf_t *out, char *errstr,
                                 size_t errstr_size);
        brook_err_t (*query_range)(void *self, const void *from,
                                   size_t from_size, const void *to,
                                   size_t to_size, brook_kvbytes_iter_t **itp,
                                   char *errstr, size_t errstr_size);
        /**
         * Closes the instance (its data stays, if persistent). Called once
         * the task closed the instance and no interactive query uses it:
         * usually on the task's thread when the task closes, but if a
         * query read or a query_range iterator of the instance is still
         * going then, on the thread that finishes that read or destroys
         * the last such iterator (possibly after brook_app_destroy()).
         * The task may meanwhile have opened a new instance for the same
         * task and store (the task came back), so a store must not rely on
         * an exclusive resource (a file lock, say) being free by then.
         */
        void (*close)(void *self);
        /** 0 or BROOK_KVSTORE_OPS_VERSION. See "Structs that grow" in brook.h.
         */
        int version;

        /* Version 2. Optional (NULL): window and session stores, which
         * brook builds over any bytes store, use them where present. */

        /** Keys in [from, to] (a NULL bound is open) in descending order:
         *  backward window fetches. Without it, brook reads forward and
         *  reverses in memory. */
        brook_err_t (*range_reverse)(void *self, const void *from,
                                     size_t from_size, const void *to,
                                     size_t to_size, brook_kvbytes_iter_t **itp,
                                     char *errstr, size_t errstr_size);
        /** range_reverse for interactive queries (thread-safe, as
         *  query_range). */
        brook_err_t (*query_range_reverse)(void *self, const void *from,
                                           size_t from_size, const void *to,
                                           size_t to_size,
                                           brook_kvbytes_iter_t **itp,
                                           char *errstr, size_t errstr_size);
        /**
         * Deletes every key in [from, to) (both bounds set, from < to) as
         * one write where the store can (RocksDB's is a range tombstone),
         * durable with the next flush like put. Window and session stores
         * drop an expired segment with it; without it, brook deletes the
         * segment's keys one by one.
         */
        brook_err_t (*delete_range)(void *self, const void *from,
                                    size_t from_size, const void *to,
                                    size_t to_size, char *errstr,
                                    size_t errstr_size);
        /** An estimate of the bytes the store holds (RocksDB's: its live
         *  data and memtables). Thread-safe. Without it, brook reports 0. */
        uint64_t (*approximate_bytes)(void *self);
} brook_kvstore_ops_t;
#define BROOK_KVSTORE_OPS_VERSION 2

/** What a supplier is told when a task opens its instance of a store. */
typedef struct brook_kvstore_open_s {
        const char *store;     /**< The store's name. */
        const char *task_id;   /**< "<sub-topology>_<partition>" */
        int32_t partition;     /**< The task's partition. */
        const char *app_id;    /**< application.id */
        const char *state_dir; /**< state.dir/<application.id> */
        /** brook's own state (its RocksDB and the thread's write batch),
         *  which brook's RocksDB supplier uses; user suppliers ignore it. */
        void *internal;
} brook_kvstore_open_t;

/** Makes inner store instances (Kafka Streams' KeyValueBytesStoreSupplier).
 */
typedef struct brook_kvstore_supplier_s {
        /** Opens @p info's instance: sets *@p selfp and *@p opsp. */
        brook_err_t (*open)(const brook_kvstore_open_t *info, void *opaque,
                            void **selfp, const brook_kvstore_ops_t **opsp,
                            char *errstr, size_t errstr_size);
        void *opaque;
        /** 0 or BROOK_KVSTORE_SUPPLIER_VERSION. See "Structs that grow" in
         * brook.h. */
        int version;
} brook_kvstore_supplier_t;
#define BROOK_KVSTORE_SUPPLIER_VERSION 1

/** RocksDB (the default): persistent, in one RocksDB per app with a column
 *  family per task and store, memory bounded by rocksdb.memory.bytes. */
const brook_kvstore_supplier_t *brook_kvstore_rocksdb(void);
/** An ordered in-memory map; rebuilt from the changelog on task start. */
const brook_kvstore_supplier_t *brook_kvstore_in_memory(void);

/* ------------------------------------------------- declaring a store */

/**
 * A store's definition (Kafka Streams' Materialized / StoreBuilder). NULL
 * members take the defaults.
 */
typedef struct brook_materialized_s {
        /** Unique in the topology; names the changelog topic
         *  "<application.id>-<name>-changelog". The DSL generates one when
         *  NULL ("KSTREAM-AGGREGATE-STATE-STORE-<n>"); the Processor API
         *  requires it. */
        const char *name;
        /** Serdes of keys and values in the store and its changelog; NULL:
         *  what the DSL knows of the stream, else default.key.serde /
         *  default.value.serde. */
        const brook_serde_t *key_serde;
        const brook_serde_t *value_serde;
        /** NULL: brook_kvstore_rocksdb(). */
        const brook_kvstore_supplier_t *supplier;
        /** No changelog: the store starts empty after a move or a crash. */
        bool logging_disabled;
        /** Writes go straight down (and, for DSL stores, downstream). */
        bool caching_disabled;
        /** 0 or BROOK_MATERIALIZED_VERSION. See "Structs that grow" in brook.h.
         */
        int version;
        /** Version 2. Window and session stores of windowed aggregations:
         *  how long (ms of stream time) windows are kept; 0: the windows'
         *  size + grace. */
        int64_t retention_ms;
        /** Version 3. A versioned key-value store (versioned_store.h;
         *  Kafka Streams' Stores.persistentVersionedKeyValueStore(),
         *  KIP-889) over the supplier's bytes store: it keeps each key's
         *  old values for history_retention_ms (>= 0) of its stream time,
         *  in segments of segment_interval_ms (0: Kafka Streams' default,
         *  from a third of the retention up to a 24th, at least 2 s). It
         *  never caches (caching_disabled is implied). brook_table() and
         *  the Processor API take it; other DSL operators refuse it. */
        bool versioned;
        int64_t history_retention_ms;
        int64_t segment_interval_ms;
} brook_materialized_t;
#define BROOK_MATERIALIZED_VERSION 3

/* --------------------------------------------------- using a store */

/*
 * These calls are made from the processors and punctuators of the task that
 * owns @p st, on its stream thread, and never from another thread (queries
 * from other threads use brook_app_store_*()). Keys and values passed in are
 * borrowed for the call. Decoded values and iterator entries live in the
 * arena of the record being processed (or of the punctuation): they are
 * valid until it has been fully processed.
 *
 * Errors: BROOK_ERR_SERDE when a key or value fails to encode or decode,
 * BROOK_ERR_INVALID_ARG for a NULL key, BROOK_ERR_STATE or BROOK_ERR_KAFKA
 * when the store below or its changelog fails; and, when a caching store's
 * call evicts an entry that goes downstream (DSL tables), the code of the
 * node there that failed (never BROOK_ERR_NOT_FOUND or BROOK_ERR_END, which
 * keep their meaning). @p errstr (may be NULL) then names the store and
 * what failed. A processor returns the error from process() with that
 * reason, and the processing exception handler takes it.
 */

/**
 * Decodes into *@p valuep the value of @p key.
 * @returns BROOK_OK; BROOK_ERR_NOT_FOUND (and *@p valuep = NULL) if absent;
 *          another error as above.
 */
brook_err_t brook_kvstore_get(brook_kvstore_t *st, const void *key,
                              void **valuep, char *errstr, size_t errstr_size);
/** Sets @p key to @p value; a NULL @p value deletes @p key. */
brook_err_t brook_kvstore_put(brook_kvstore_t *st, const void *key,
                              const void *value, char *errstr,
                              size_t errstr_size);
/** Sets @p key only if absent. *@p oldp (may be NULL) gets the existing
 *  value, or NULL if it was absent and @p value was put. */
brook_err_t brook_kvstore_put_if_absent(brook_kvstore_t *st, const void *key,
                                        const void *value, void **oldp,
                                        char *errstr, size_t errstr_size);
/** Deletes @p key; *@p oldp (may be NULL) gets the value it had. Deleting
 *  an absent key is BROOK_OK. */
brook_err_t brook_kvstore_delete(brook_kvstore_t *st, const void *key,
                                 void **oldp, char *errstr, size_t errstr_size);
/** Entries with keys in [@p from, @p to] (encoded order, both inclusive;
 *  a NULL bound is open) into *@p itp (NULL on failure). Destroy the
 *  iterator before process() (or the punctuator) returns. */
brook_err_t brook_kvstore_range(brook_kvstore_t *st, const void *from,
                                const void *to, brook_kviter_t **itp,
                                char *errstr, size_t errstr_size);
/** Entries whose encoded key starts with @p prefix encoded by
 *  @p prefix_serde (NULL: the store's key serde). */
brook_err_t brook_kvstore_prefix_scan(brook_kvstore_t *st, const void *prefix,
                                      const brook_serde_t *prefix_serde,
                                      brook_kviter_t **itp, char *errstr,
                                      size_t errstr_size);
/** Every entry, in key order. */
brook_err_t brook_kvstore_all(brook_kvstore_t *st, brook_kviter_t **itp,
                              char *errstr, size_t errstr_size);
/** An estimate of the number of keys; never fails. */
uint64_t brook_kvstore_approximate_count(brook_kvstore_t *st);
/** The store's name; valid as long as the store. */
const char *brook_kvstore_name(const brook_kvstore_t *st);

/**
 * The next entry: *@p keyp and *@p valuep are decoded into the iterator's
 * arena (the record's, for processors; the caller's, for queries).
 * @returns BROOK_OK with an entry; BROOK_ERR_END after the last one (errstr
 *          untouched); or the error that ended the iteration early (the
 *          store below failed, or an entry failed to decode), with its
 *          reason in @p errstr (may be NULL). After anything but BROOK_OK,
 *          next() returns the same code again.
 *
 * Typical use:
 *   while (!(err = brook_kviter_next(it, &k, &v, errstr, sizeof errstr)))
 *           ...;
 *   if (err != BROOK_ERR_END) ...failed...;
 */
brook_err_t brook_kviter_next(brook_kviter_t *it, void **keyp, void **valuep,
                              char *errstr, size_t errstr_size);
/** Frees @p it. NULL is a no-op. */
void brook_kviter_destroy(brook_kviter_t *it);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
