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
 * An iterator over a bytes store, in key order. next() returns false at the
 * end; the key and value it sets are valid until the next call on the
 * iterator. error() (may be NULL) reports why an iteration ended early.
 */
typedef struct brook_kvbytes_iter_s {
        bool (*next)(struct brook_kvbytes_iter_s *it, const void **key,
                     size_t *key_size, const void **value, size_t *value_size);
        brook_err_t (*error)(struct brook_kvbytes_iter_s *it, char *errstr,
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
 * and interactive queries on it fail with BROOK_ERR_STATE.
 */
typedef struct brook_kvstore_ops_s {
        /** "rocksdb", "in-memory", or the user's. */
        const char *kind;
        /** Keeps data and its changelog offset across restarts. */
        bool persistent;

        /** Copies the value of @p key into @p out (cleared first).
         *  @returns BROOK_OK, BROOK_ERR_NOT_FOUND, or another error. */
        brook_err_t (*get)(void *self, const void *key, size_t key_size,
                           brook_buf_t *out);
        /** Sets @p key; a NULL @p value deletes it. */
        brook_err_t (*put)(void *self, const void *key, size_t key_size,
                           const void *value, size_t value_size);
        /** Keys in [from, to], both inclusive; a NULL bound is open. */
        brook_err_t (*range)(void *self, const void *from, size_t from_size,
                             const void *to, size_t to_size,
                             brook_kvbytes_iter_t **itp);
        /** An estimate of the number of keys. */
        uint64_t (*approximate_count)(void *self);
        /**
         * Makes every write so far durable together with
         * @p changelog_offset, the offset of the next changelog record
         * (-1: no changelog). Persistent stores must make both durable
         * atomically. Called at each commit and after each restore batch.
         */
        brook_err_t (*flush)(void *self, int64_t changelog_offset);
        /** The offset the last flush() stored, or -1 (restore from the
         *  changelog's start). Persistent stores only; may be NULL. */
        int64_t (*stored_offset)(void *self);
        /** Removes every key (the stored offset too). Used when the stored
         *  offset no longer fits the changelog. */
        brook_err_t (*clear)(void *self);
        /** Thread-safe reads for interactive queries (see above). */
        brook_err_t (*query_get)(void *self, const void *key, size_t key_size,
                                 brook_buf_t *out);
        brook_err_t (*query_range)(void *self, const void *from,
                                   size_t from_size, const void *to,
                                   size_t to_size, brook_kvbytes_iter_t **itp);
        /** Closes the instance (its data stays, if persistent). */
        void (*close)(void *self);
        /** 0 or BROOK_KVSTORE_OPS_VERSION. See "Structs that grow" in brook.h.
         */
        int version;
} brook_kvstore_ops_t;
#define BROOK_KVSTORE_OPS_VERSION 1

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
} brook_materialized_t;
#define BROOK_MATERIALIZED_VERSION 1

/* --------------------------------------------------- using a store */

/**
 * Copies into *@p valuep the value of @p key, decoded into the arena of the
 * record being processed (or of the punctuation).
 * @returns BROOK_OK; BROOK_ERR_NOT_FOUND (and *@p valuep = NULL) if absent;
 *          BROOK_ERR_SERDE or BROOK_ERR_STATE on failure.
 */
brook_err_t brook_kvstore_get(brook_kvstore_t *st, const void *key,
                              void **valuep);
/** Sets @p key to @p value; a NULL @p value deletes @p key. */
brook_err_t brook_kvstore_put(brook_kvstore_t *st, const void *key,
                              const void *value);
/** Sets @p key only if absent. *@p oldp (may be NULL) gets the existing
 *  value, or NULL if it was absent and @p value was put. */
brook_err_t brook_kvstore_put_if_absent(brook_kvstore_t *st, const void *key,
                                        const void *value, void **oldp);
/** Deletes @p key; *@p oldp (may be NULL) gets the value it had. */
brook_err_t brook_kvstore_delete(brook_kvstore_t *st, const void *key,
                                 void **oldp);
/** Entries with keys in [@p from, @p to] (encoded order, both inclusive;
 *  a NULL bound is open). Destroy the iterator before process() returns. */
brook_err_t brook_kvstore_range(brook_kvstore_t *st, const void *from,
                                const void *to, brook_kviter_t **itp);
/** Entries whose encoded key starts with @p prefix encoded by
 *  @p prefix_serde (NULL: the store's key serde). */
brook_err_t brook_kvstore_prefix_scan(brook_kvstore_t *st, const void *prefix,
                                      const brook_serde_t *prefix_serde,
                                      brook_kviter_t **itp);
/** Every entry, in key order. */
brook_err_t brook_kvstore_all(brook_kvstore_t *st, brook_kviter_t **itp);
/** An estimate of the number of keys. */
uint64_t brook_kvstore_approximate_count(brook_kvstore_t *st);
/** The store's name. */
const char *brook_kvstore_name(const brook_kvstore_t *st);

/**
 * The next entry: *@p keyp and *@p valuep are decoded into the iterator's
 * arena (the record's, for processors; the caller's, for queries).
 * @returns false at the end or on an error (see brook_kviter_error()).
 */
bool brook_kviter_next(brook_kviter_t *it, void **keyp, void **valuep);
/** Why the iteration stopped early (BROOK_OK if it just ended). */
brook_err_t brook_kviter_error(const brook_kviter_t *it, char *errstr,
                               size_t errstr_size);
/** NULL is a no-op. */
void brook_kviter_destroy(brook_kviter_t *it);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
