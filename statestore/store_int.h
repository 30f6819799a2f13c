/*
 * brook — state store internals shared by statestore/, engine/ and
 * operators/.
 *
 * A task's instance of a store (struct brook_kvstore_s) is the metered
 * layer; below it sit the thread's cache (cache.c), the changelog logging
 * (kvstore.c) and the inner bytes store (rocksdb.c, memory.c or a user's).
 */
#ifndef BROOK_STORE_INT_H
#define BROOK_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "brook/store.h"
#include "brook/window_store.h"
#include "brook_int.h"

/* --------------------------------------------------------- definitions */

/** What a store holds: its typed façade and its bytes keys. */
typedef enum {
        BROOK__STORE_KV,      /**< brook_kvstore_t: keys. */
        BROOK__STORE_WINDOW,  /**< brook_windowstore_t: key, window start. */
        BROOK__STORE_SESSION, /**< brook_sessionstore_t: key, session. */
        /** brook_versionedstore_t: keys, each with its values over time
         *  (versioned.c). */
        BROOK__STORE_VERSIONED,
} brook__storekind_t;

/** A store as the topology declares it (brook_builder_add_store()). */
typedef struct brook__storedef {
        char *name;
        brook__storekind_t kind;
        /** Window and session stores: stream time data is kept for, and
         *  the length of a segment (both ms); window stores: the window
         *  size, and whether every put is kept (stream-stream joins) rather
         *  than the last per key and window. Versioned stores: the history
         *  retention and the segment interval. */
        int64_t retention_ms, segment_ms, window_ms;
        bool retain_duplicates;
        /** Values carry the timestamp of their last update: stored as
         *  8 bytes big-endian, then the value's bytes (Kafka Streams'
         *  timestamped stores, ValueAndTimestampSerializer). The DSL's
         *  windowed aggregations use it. */
        bool timestamped;
        const brook_serde_t *key_serde, *value_serde; /**< Referenced. */
        /** Keys are windowed keys (a suppression buffer over a windowed
         *  table): when no key serde is given, the topology wraps
         *  default.key.serde for the windows' size (ms), or for session
         *  windows (-1). 0: plain keys. */
        int64_t windowed_key_ms;
        brook_kvstore_supplier_t supplier;
        bool logging, caching;
        /** Processors (node idx) connected to it. */
        int *procs;
        size_t proc_cnt;
        int subtopology; /**< Set by brook__topology_build(); -1 before. */
        /** The store of a source table Kafka Streams would not
         *  materialize (brook keeps one anyway): describe leaves it out,
         *  as Kafka Streams' describe has no such store. */
        bool unmaterialized;
        /** A stream-stream join's buffer: with a changelog, its recent
         *  entries may live in memory only (wmirror.c's holding mode). */
        bool join_buffer;
} brook__storedef_t;

void brook__storedef_free(brook__storedef_t *def);
/** Whether @p m (may be NULL) declares a versioned store: `versioned`
 *  set in a struct of version 3 or later. */
bool brook__materialized_versioned(const brook_materialized_t *m);
/** Kafka Streams' default segment interval of a versioned store of
 *  history retention @p history_ms. */
int64_t brook__versioned_segment_ms(int64_t history_ms);
/** The store named @p name of builder @p b, or NULL. */
brook__storedef_t *brook__builder_store(const brook_builder_t *b,
                                        const char *name);

/* ----------------------------------------------------------- state db */

/**
 * One RocksDB per application (state.dir/<application.id>/rocksdb) with a
 * column family per task and store ("<task_id>/<store>"), and a column
 * family "brook-offsets" mapping each of those names to the 8-byte
 * big-endian changelog offset its data corresponds to. All column families
 * share one block cache and one db_write_buffer_size; total memory stays
 * within rocksdb.memory.bytes however many tasks there are.
 *
 * Thread-safe, except a batch, which belongs to one thread.
 */
typedef struct brook__statedb brook__statedb_t;
/** The uncommitted writes of one thread (a RocksDB
 *  WriteBatchWithIndex): reads through it see them, query reads do not. */
typedef struct brook__statebatch brook__statebatch_t;

/** The column family name of @p store in task @p task_id, "<task>/<store>",
 *  written into @p buf. */
void brook__statedb_cf_name(char *buf, size_t size, const char *task_id,
                            const char *store);

/** Writes changelog offset @p offset as the "brook-offsets" column family
 *  stores it: 8 bytes, big-endian. */
void brook__statedb_offset_encode(unsigned char be[8], int64_t offset);
/** Reads a stored changelog offset into *@p offsetp. Returns false (and
 *  leaves *@p offsetp alone) when @p size is not 8: the value is not one
 *  brook wrote. */
bool brook__statedb_offset_decode(const void *data, size_t size,
                                  int64_t *offsetp);

/** Stages @p offset under @p name in "brook-offsets" (written with the
 *  batch, atomically with its data): offsets other than a store's own
 *  (the global thread's, one per partition of a global topic). */
void brook__statebatch_put_offset(brook__statebatch_t *batch, const char *name,
                                  int64_t offset);
/** The offset stored under @p name, or -1 (none, or not readable). */
int64_t brook__statedb_get_offset(brook__statedb_t *db, const char *name);

/** Opens (creating if needed) the state db in directory @p dir, with every
 *  column family it has. @p memory_bytes bounds block cache plus write
 *  buffers. Fails with a clear message if another process holds it. */
brook_err_t brook__statedb_open(const char *dir, int64_t memory_bytes,
                                brook__statedb_t **dbp, char *errstr,
                                size_t errstr_size);
/** Opens read-only, for brook inspect (works while an app has it open). */
brook_err_t brook__statedb_open_readonly(const char *dir,
                                         brook__statedb_t **dbp, char *errstr,
                                         size_t errstr_size);
/** Drops the opener's reference: the db closes once no store of it is
 *  open either (a query iterator may hold one past its app's destroy).
 *  Thread-safe. NULL is a no-op. */
void brook__statedb_close(brook__statedb_t *db);
/** References held on @p db: 1 (the opener's) plus its open stores. */
int brook__statedb_refs(brook__statedb_t *db);
/** Names of the column families other than "default" and "brook-offsets",
 *  sorted; free with brook__statedb_names_free(). */
char **brook__statedb_names(brook__statedb_t *db, size_t *cntp);
void brook__statedb_names_free(char **names, size_t cnt);

/** Bytes RocksDB holds now in its block cache and memtables (active,
 *  immutable and pinned), the memory rocksdb.memory.bytes bounds. */
int64_t brook__statedb_memory(brook__statedb_t *db);
/** Its block cache's usage and capacity, in bytes. */
void brook__statedb_cache(brook__statedb_t *db, uint64_t *usage,
                          uint64_t *capacity);
/** Calls @p fn for every column family but RocksDB's "default" with
 *  RocksDB's figures of it (Kafka Streams' RocksDB property metrics):
 *  memtable bytes (rocksdb.size-all-mem-tables), estimated keys
 *  (rocksdb.estimate-num-keys) and live data on disk
 *  (rocksdb.estimate-live-data-size). */
void brook__statedb_each_cf(brook__statedb_t *db,
                            void (*fn)(void *opaque, const char *name,
                                       uint64_t memtables, uint64_t keys,
                                       uint64_t live_bytes),
                            void *opaque);

brook__statebatch_t *brook__statebatch_new(brook__statedb_t *db);
void brook__statebatch_destroy(brook__statebatch_t *batch);
/** Writes the batch atomically (WAL on) and empties it. A transactional
 *  batch (exactly-once) is handed to its writer thread, which applies it
 *  while the caller goes on; every read or write of the batch after it,
 *  and every query, stored-offset read and clear on the db, waits for it
 *  to land, and fails if it failed. */
brook_err_t brook__statebatch_write(brook__statebatch_t *batch, char *errstr,
                                    size_t errstr_size);
/** brook__statebatch_write(), handing the write to the writer thread
 *  whether transactional or not: for a commit whose every store has a
 *  changelog, which restoration replays if the write does not land. */
brook_err_t brook__statebatch_write_behind(brook__statebatch_t *batch,
                                           char *errstr, size_t errstr_size);
/** Writes only what was written in bulk mode (restoration), leaving the
 *  uncommitted writes of active stores in the batch. */
brook_err_t brook__statebatch_write_bulk(brook__statebatch_t *batch,
                                         char *errstr, size_t errstr_size);
/** Drops every write the batch holds (tasks closed without a commit). */
void brook__statebatch_discard(brook__statebatch_t *batch);
/** Bulk mode, for restoration: writes skip the batch's index (so reads
 *  through it do not see them until brook__statebatch_write()). */
void brook__statebatch_set_bulk(brook__statebatch_t *batch, bool bulk);
/** Whether the batch is in bulk mode. */
bool brook__statebatch_bulk(const brook__statebatch_t *batch);
/** Bytes the batch holds. */
size_t brook__statebatch_size(brook__statebatch_t *batch);
/** While on, RocksDB stores' writes skip the batch's index, and their
 *  reads do not look for such writes: on only around writes of keys that
 *  nothing reads through the batch meanwhile, and reads of keys not
 *  written so since the last brook__statebatch_index() (a cache flush
 *  writes each entry once: brook__store_set_flushing(); a commit that
 *  flushes the caches again indexes first). Once off, a read or an
 *  indexed write of any store of the batch indexes those writes first, so
 *  nothing reads stale (an entry evicted after its flush, a range read)
 *  and the latest write of a key stays the one that lands. */
void brook__statebatch_set_unindexed(brook__statebatch_t *batch, bool on);
/** Whether unindexed is on. */
bool brook__statebatch_unindexed(const brook__statebatch_t *batch);
/** Indexes the writes made while unindexed was on, in their order. */
void brook__statebatch_index(brook__statebatch_t *batch);
/** exactly_once_v2: every store's uncommitted writes wait for the batch's
 *  write (after the transaction commits), in-memory stores' too. */
void brook__statebatch_set_transactional(brook__statebatch_t *batch, bool on);
bool brook__statebatch_transactional(const brook__statebatch_t *batch);
/** A store outside RocksDB that keeps its uncommitted writes aside joins
 *  the batch: @p apply runs once the batch is written, @p discard when it
 *  is discarded. It leaves before it closes. */
void brook__statebatch_join(brook__statebatch_t *batch,
                            void (*apply)(void *self),
                            void (*discard)(void *self),
                            void (*detach)(void *self), void *self);
void brook__statebatch_leave(brook__statebatch_t *batch, void *self);
/** The owner closes @p self (brook__store_close(), on the batch's thread):
 *  it leaves the batch now, through its @p detach, so that its last
 *  reference, which a query's thread may drop later, has nothing to do
 *  with the batch. No-op if @p self is no member. */
void brook__statebatch_detach(brook__statebatch_t *batch, void *self);
/** Makes the next brook__statebatch_write() fail, keeping the batch as a
 *  failed write does (tests of the commit sequence). */
void brook__statebatch_fail_next(brook__statebatch_t *batch);
/** Whether the batch's writes so far landed: BROOK_OK, or the failure of
 *  one its writer thread applied (BROOK_ERR_STATE, the reason in
 *  @p errstr). With @p wait, waits for the write in flight first;
 *  without, answers at once (OK while it is in flight). */
brook_err_t brook__statebatch_check(brook__statebatch_t *batch, bool wait,
                                    char *errstr, size_t errstr_size);
/** Makes the next write of a transactional batch, which its writer thread
 *  applies after brook__statebatch_write() returned, fail there: the calls
 *  on the batch after it report the failure (tests). */
void brook__statebatch_fail_next_apply(brook__statebatch_t *batch);

/** What brook_kvstore_open_t.internal points to for brook's own suppliers:
 *  the thread's (or test driver's) state. */
typedef struct brook__stateenv {
        brook__statedb_t *db;
        brook__statebatch_t *batch;
        /** The thread's budget for its join stores' window mirrors
         *  (join.memory.bytes), or NULL: none. */
        struct brook__wmbudget *wmbudget;
} brook__stateenv_t;

/**
 * Opens the RocksDB inner store of column family @p cf_name of @p db for
 * reading only (brook inspect): ops->get, ops->range, ops->stored_offset
 * and approximate_count work; writes fail with BROOK_ERR_STATE.
 */
brook_err_t brook__rocksdb_open_readonly(brook__statedb_t *db,
                                         const char *cf_name, void **selfp,
                                         const brook_kvstore_ops_t **opsp,
                                         char *errstr, size_t errstr_size);

/* -------------------------------------------------------------- cache */

/** A task's instance of a store, whatever its kind: the generic layers
 *  (caching, logging, the inner bytes store) under a kind's typed façade,
 *  which embeds it first (see "a task's store" below). */
typedef struct brook__store brook__store_t;

/**
 * A thread's record cache (Kafka Streams' ThreadCache): up to max_bytes of
 * entries across the thread's caching stores, in one LRU order. An entry is
 * a store, a key, a value (or a tombstone), the timestamp of its last
 * write, and two flags: not yet written down, not yet forwarded.
 *
 * Evicting a dirty entry writes it down (brook__store_write_down()) and
 * forwards it (brook__store_emit()) first, in that order. Not
 * thread-safe: one per stream thread.
 */
typedef struct brook__cache brook__cache_t;

brook__cache_t *brook__cache_new(size_t max_bytes);
/** Frees @p c; entries are dropped (not written). NULL is a no-op. */
void brook__cache_destroy(brook__cache_t *c);
/** What the cache knows of a key. */
typedef enum {
        BROOK__CACHE_MISS,   /**< Nothing: read the layer below. */
        BROOK__CACHE_HIT,    /**< Cached (a value or a tombstone). */
        BROOK__CACHE_ABSENT, /**< Not cached, and not below either: its
                              *   group is complete at its time. */
} brook__cache_lookup_t;

/**
 * Looks @p key of @p st up. On BROOK__CACHE_HIT *@p value / *@p
 * value_size are set (NULL for a cached tombstone), valid until the next
 * call on @p c, and the entry is marked most recently used.
 */
brook__cache_lookup_t brook__cache_get(brook__cache_t *c, brook__store_t *st,
                                       const void *key, size_t key_size,
                                       const void **value, size_t *value_size);
/**
 * Fetches into the CPU cache what looking @p key of @p st up will touch,
 * for a lookup a record or two ahead (brook__kvstore_prefetch()): @p near
 * false for the far stage (the bucket), true a record later (the entry).
 * Only a hint: changes nothing.
 */
void brook__cache_prefetch(const brook__cache_t *c, const brook__store_t *st,
                           const void *key, size_t key_size, bool near);
/**
 * Caches @p value (NULL: a tombstone) for @p key of @p st with timestamp
 * @p ts. @p dirty is true for a write (to be written down and forwarded
 * later), false for a value just read from below. May evict other entries
 * (of any store) to stay within max_bytes; an eviction's failure is
 * returned.
 */
brook_err_t brook__cache_put(brook__cache_t *c, brook__store_t *st,
                             const void *key, size_t key_size,
                             const void *value, size_t value_size, int64_t ts,
                             bool dirty);
/**
 * Writes down every not-yet-written entry of @p st, without forwarding
 * (before a range scan reads the layer below). They are forwarded at the
 * next flush.
 */
brook_err_t brook__cache_write_pending(brook__cache_t *c, brook__store_t *st);
/** Writes down and forwards every dirty entry of @p st, oldest first; they
 *  stay cached, clean. */
brook_err_t brook__cache_flush(brook__cache_t *c, brook__store_t *st);
/** Forgets every entry of @p st (after a flush, when the task closes). */
void brook__cache_drop(brook__cache_t *c, brook__store_t *st);

/*
 * Groups (window and session stores: brook__store_cache_suffix() is not
 * 0). Entries are grouped by record key, @p gkey: the bytes key without
 * its time suffix. A group is complete from a time on when every entry of
 * its key at that time or later that the store holds (below or dirty) is
 * cached; see cache.c.
 */

/** Whether the group of @p gkey in @p st is complete from @p from on. */
bool brook__cache_group_complete(brook__cache_t *c, brook__store_t *st,
                                 const void *gkey, size_t gkey_size,
                                 int64_t from);

typedef struct brook__kvsnap brook__kvsnap_t;

/**
 * Caches (clean) the entries in @p read of record key @p gkey with times from
 * @p from on that the store below holds, read just now, and marks the
 * group complete from @p from. Entries cached already keep their (newer)
 * values. If an entry of the key leaves the cache meanwhile (the puts
 * evict), the rest is not cached and nothing is marked. May evict; an
 * eviction's failure is returned.
 */
brook_err_t brook__cache_group_fill(brook__cache_t *c, brook__store_t *st,
                                    const void *gkey, size_t gkey_size,
                                    int64_t from, brook__kvsnap_t *read,
                                    int64_t ts);

/**
 * A bytes iterator over a copy of the cached values (no tombstones) of the
 * group of @p gkey that @p want accepts, in key order (reversed with
 * @p reverse). It reads nothing of the cache after this call.
 */
brook_kvbytes_iter_t *brook__cache_group_iter(
        brook__cache_t *c, brook__store_t *st, const void *gkey,
        size_t gkey_size, bool reverse,
        bool (*want)(const void *key, size_t key_size, void *opaque),
        void *opaque);
/** Bytes cached now, and entries evicted so far (for stats and tests). */
size_t brook__cache_bytes(const brook__cache_t *c);
uint64_t brook__cache_evictions(const brook__cache_t *c);
/** How many brook__cache_get() calls the cache answered (a value, a
 *  tombstone or a complete group's absence) and how many it did not. */
void brook__cache_lookups(const brook__cache_t *c, uint64_t *hits,
                          uint64_t *misses);

/* ------------------------------------------------------ a task's store */

typedef enum {
        BROOK__STORE_RESTORING,
        BROOK__STORE_ACTIVE,
} brook__store_state_t;

/** Called with each entry a caching store writes down on flush or
 *  eviction (DSL stores forward it downstream). @p key is the bytes key
 *  of the store's kind (a window store's carries the window), @p value
 *  NULL: tombstone. A failure's reason goes to @p errstr. */
typedef brook_err_t (*brook__store_emit_fn)(brook__store_t *st, const void *key,
                                            size_t key_size, const void *value,
                                            size_t value_size, int64_t ts,
                                            void *opaque, char *errstr,
                                            size_t errstr_size);

/**
 * What an interactive query needs of a task's store instance, refcounted
 * so that queries never hold a lock the stream thread needs: a query takes
 * a reference under the app's registry mutex, releases the mutex, then
 * reads through @c ops; an iterator keeps its references until destroyed.
 *
 * The instance's owner (brook__store_t) holds one reference, the app's
 * registry another while registered. The inner store is closed when the
 * last reference goes, possibly on a query thread (a user's query_range
 * iterator may still use the instance after its task closed). @c left is
 * set when the task leaves this instance (unregister or close); iterators
 * over it then fail. Nothing here points into the app or the task, so a
 * handle outlives both.
 */
typedef struct brook__iqstore {
        atomic_int refs;
        atomic_bool left;
        char *store;   /**< The store's name (a copy). */
        char *task_id; /**< The task's id (a copy). */
        int32_t partition;
        void *inner;
        const brook_kvstore_ops_t *ops;
} brook__iqstore_t;

/** Takes a reference. */
void brook__iqstore_ref(brook__iqstore_t *h);
/** Drops a reference; the last one closes the inner store and frees
 *  @p h. NULL is a no-op. */
void brook__iqstore_release(brook__iqstore_t *h);

struct brook__store {
        brook__storedef_t *def;
        brook__task_t *task;
        /** The inner bytes store (for window and session stores, the
         *  segmented store over the supplier's). */
        void *inner;
        /** The supplier's store (inner, or what the segmented store
         *  wraps): what may have joined the thread's batch. */
        void *base;
        const brook_kvstore_ops_t *ops;
        brook__cache_t *cache; /**< The thread's, or NULL: not caching. */
        /** Full changelog topic name, or NULL: logging off. */
        char *changelog;
        /** The changelog topic's name even with logging off: the topic
         *  serdes are given (brook_serde_topic()), as Kafka Streams'. */
        char *serde_topic;
        /** Offset after the last changelog record delivered (or restored);
         *  owned by the runtime, stable for the thread's life, -1 unknown. */
        int64_t *changelog_end;
        brook__store_emit_fn emit;
        void *emit_opaque;
        atomic_int state; /**< brook__store_state_t; read by queries. */
        /** The query handle of this instance (one reference is ours). */
        brook__iqstore_t *iq;
        brook_buf_t *kbuf, *vbuf, *tmp;
        /** Operation counters (metered layer). */
        uint64_t gets, puts, deletes, scans;
        /** Set around a table join's read of this (another node's) table
         *  store: a value it finds only in the cache is one a join result
         *  downstream now depends on, so a later delete of the key must go
         *  downstream even though nothing of it was written below
         *  (brook__cache_get() marks the entry). */
        bool read_exposes;
        /** Window stores that retain duplicates: the last sequence
         *  number. */
        uint32_t seqnum;
        /** The reason of the last failed call, "store \"<name>\": ...",
         *  copied to the caller's errstr by the public calls. */
        char errbuf[512];
};

/* The typed façades: the generic store and nothing else, so that a
 * brook__store_t of the right kind is one of them. */
struct brook_kvstore_s {
        brook__store_t s;
};
struct brook_windowstore_s {
        brook__store_t s;
};
struct brook_sessionstore_s {
        brook__store_t s;
};
struct brook_versionedstore_s {
        brook__store_t s;
};

/**
 * Opens @p def's instance for @p task: the inner store from the supplier
 * (with @p env as brook_kvstore_open_t.internal; wrapped in a segmented
 * store for window and session stores), caching with @p cache if the
 * store caches and @p cache is non-NULL, logging to
 * "<app_id>-<name>-changelog" if the store logs. The state starts
 * RESTORING. @p state_dir is state.dir/<application.id>.
 */
brook_err_t brook__store_open(brook__storedef_t *def, brook__task_t *task,
                              brook__stateenv_t *env, brook__cache_t *cache,
                              const char *state_dir, brook__store_t **stp,
                              char *errstr, size_t errstr_size);
/** Frees @p st (flush first) and marks its query handle left; the inner
 *  store closes now, or when the last query reading it lets go of its
 *  handle. NULL: no-op. */
void brook__store_close(brook__store_t *st);

/** Sets the function caching stores call for each entry written down on
 *  flush or eviction. */
void brook__store_set_emit(brook__store_t *st, brook__store_emit_fn fn,
                           void *opaque);
/** Whether writes are cached (forwarding then happens through emit). */
bool brook__store_caching(const brook__store_t *st);
/** Bytes of time suffix after the record key in @p st's bytes keys, by
 *  which the cache groups them: 0 for key-value stores (not grouped). */
size_t brook__store_cache_suffix(const brook__store_t *st);

/** Records a failure's reason in @p st ("store \"<name>\": @p what: @p why")
 *  and returns @p err. */
brook_err_t brook__store_fail(brook__store_t *st, brook_err_t err,
                              const char *what, const char *why);
/** A public call's exit: a failure's reason (not NOT_FOUND's) goes to
 *  @p errstr. */
brook_err_t brook__store_ret(brook__store_t *st, brook_err_t err, char *errstr,
                             size_t errstr_size);
/** The arena decoded values go to (the record's or punctuation's). */
brook_arena_t *brook__store_arena(brook__store_t *st);
/** A non-NULL pointer to the bytes of @p buf (an empty value is not a
 *  tombstone below the metered layer). */
const void *brook__store_bytes(const brook_buf_t *buf);

/** Reads bytes key @p key: the cache first, then the inner store (caching
 *  what it finds). On BROOK_OK *@p valp / *@p sizep hold the value, valid
 *  until the next call on @p st; BROOK_ERR_NOT_FOUND if absent. */
brook_err_t brook__store_read(brook__store_t *st, const void *key,
                              size_t key_size, const void **valp,
                              size_t *sizep);
/** Writes bytes key @p key (@p value NULL: delete) with timestamp @p ts:
 *  into the cache if caching, else down. */
brook_err_t brook__store_write(brook__store_t *st, const void *key,
                               size_t key_size, const void *value,
                               size_t value_size, int64_t ts);
/** Encodes @p key with the store's key serde into @p buf (cleared first);
 *  a NULL key is BROOK_ERR_INVALID_ARG. A failure's reason goes to the
 *  store. */
brook_err_t brook__store_enc_key(brook__store_t *st, const void *key,
                                 brook_buf_t *buf);
/** The metered layer's read of the bytes key in st->kbuf: its value
 *  decoded into the store's arena, and (timestamped stores) its timestamp
 *  into *@p tsp (-1 otherwise). BROOK_ERR_NOT_FOUND if absent. */
brook_err_t brook__store_get_value(brook__store_t *st, void **valuep,
                                   int64_t *tsp);
/** The metered layer's write of @p value (NULL: a delete) under the bytes
 *  key in st->kbuf, encoded with the store's value serde, after @p ts for
 *  timestamped stores, with @p ts as its timestamp. */
brook_err_t brook__store_put_value(brook__store_t *st, const void *value,
                                   int64_t ts);
/** Before a range read of the inner store: the cache writes its pending
 *  entries down, so the inner store holds everything. */
brook_err_t brook__store_write_pending(brook__store_t *st);

/** Below the cache: sends the changelog record (if logging) and writes the
 *  inner store. @p value NULL deletes. */
brook_err_t brook__store_write_down(brook__store_t *st, const void *key,
                                    size_t key_size, const void *value,
                                    size_t value_size, int64_t ts);
/** Around writes nothing reads through the thread's batch before it is
 *  written: a cache flush's handling of one entry (its tombstone check
 *  and write down, not its forwarding; the cache keeps the entry and
 *  answers reads of its key) and a store's flush of its offset. The
 *  store's RocksDB writes then skip the batch's index
 *  (brook__statebatch_set_unindexed()). */
void brook__store_set_flushing(brook__store_t *st, bool on);
/**
 * Whether a dirty tombstone for @p key can be dropped: the store forwards
 * through an emit function and the key is not in the inner store, so
 * there is nothing to delete, log or forward (Kafka Streams' caching
 * store skips such entries too).
 */
bool brook__store_tombstone_absent(brook__store_t *st, const void *key,
                                   size_t key_size);
/**
 * Whether @p key is within the store's retention: for a window or session
 * store, its segment is live and (windows) it is within retention, so a
 * value of it written down and not deleted since is still there
 * (brook__segmented_kept()); always for a key-value store. The cache asks
 * it before it takes a tombstone's key for present below without reading
 * it back (brook__store_tombstone_absent()).
 */
bool brook__store_key_live(brook__store_t *st, const void *key,
                           size_t key_size);
/** Calls the emit function, if any. */
brook_err_t brook__store_emit(brook__store_t *st, const void *key,
                              size_t key_size, const void *value,
                              size_t value_size, int64_t ts);

/** Commit, step 1: writes down and forwards the cache's dirty entries. */
brook_err_t brook__store_flush_cache(brook__store_t *st, char *errstr,
                                     size_t errstr_size);
/** Commit, step 2 (after the producer flushed): has the inner store record
 *  *changelog_end with its data (stage it, for RocksDB stores: the runtime
 *  then writes the thread's batch). */
brook_err_t brook__store_flush_inner(brook__store_t *st, char *errstr,
                                     size_t errstr_size);

/** Restoration: applies one changelog record (NULL value deletes) whose
 *  timestamp is @p ts. */
brook_err_t brook__store_restore_put(brook__store_t *st, const void *key,
                                     size_t key_size, const void *value,
                                     size_t value_size, int64_t ts);

/** The store @p name of the task of @p ctx, if connected to its processor
 *  and of @p kind; else an error saying why. */
brook_err_t brook__ctx_store(brook_ctx_t *ctx, const char *name,
                             brook__storekind_t kind, brook__store_t **stp,
                             char *errstr, size_t errstr_size);

/**
 * Decodes into *@p valuep (the record's arena; NULL if absent) the value
 * global store @p name holds for @p key (brook_global_table()): through
 * query_get in an app, whose global thread writes the store. *@p stp
 * caches the store where it stays put (an app's); NULL at first. @p kbuf
 * and @p vbuf are the caller's scratch.
 */
brook_err_t brook__ctx_global_get(brook_ctx_t *ctx, const char *name,
                                  brook__store_t **stp, const void *key,
                                  brook_buf_t *kbuf, brook_buf_t *vbuf,
                                  void **valuep, char *errstr,
                                  size_t errstr_size);
/** Whether @p ops are brook's RocksDB store's. */
bool brook__rocksdb_ops_is(const brook_kvstore_ops_t *ops);
/** A RocksDB store's committed value of @p key, from any thread, without
 *  waiting for other stores' batches in flight (query_get waits). */
brook_err_t brook__rocksdb_get_committed(void *self, const void *key,
                                         size_t key_size, brook_buf_t *out,
                                         char *errstr, size_t errstr_size);

/** The definition of store @p name of the task of @p ctx, connected to
 *  its processor or not (a join reads the serdes of its other side's
 *  store), or NULL if the task has no such store. */
const brook__storedef_t *brook__ctx_storedef(brook_ctx_t *ctx,
                                             const char *name);

/** The state of processor node @p node_idx of the task of @p ctx, or NULL
 *  until its init() has succeeded: how two processors of one operator
 *  (a stream-stream join's sides) share what they both keep. */
void *brook__ctx_peer_state(brook_ctx_t *ctx, int node_idx);

/* ------------------------------------------- what segmented stores share */

/** Adds segment @p seg to the ascending list (@p segs, @p cnt, @p cap),
 *  unless it is there: the owner calls it, and changes the list under
 *  @p lock, which readers copying it take (segments.c). */
void brook__segs_add(int64_t **segs, size_t *cnt, size_t *cap,
                     pthread_mutex_t *lock, int64_t seg);
/** Drops the segments below @p min_live from the list, under @p lock. */
void brook__segs_drop_below(int64_t *segs, size_t *cnt, pthread_mutex_t *lock,
                            int64_t min_live);
/** Deletes the keys in [@p from, @p to) of bytes store @p base: one range
 *  delete if @p ops has it, else key by key. */
brook_err_t brook__bytes_delete_below(void *base,
                                      const brook_kvstore_ops_t *ops,
                                      const void *from, size_t from_size,
                                      const void *to, size_t to_size,
                                      char *errstr, size_t errstr_size);

/* ------------------------------------------------------ segmented store */

/**
 * Wraps the inner store *@p innerp / *@p opsp of window or session store
 * @p def in a segmented store (segmented.c), which then owns it: the
 * wrapper's ops replace *@p opsp.
 */
brook_err_t brook__segmented_wrap(brook__storedef_t *def, void **innerp,
                                  const brook_kvstore_ops_t **opsp,
                                  char *errstr, size_t errstr_size);

/**
 * Mirrors window store @p self (a segmented store over brook's RocksDB
 * store that keeps every put: a stream-stream join's) in memory within
 * @p budget (wmirror.c): its owner's fetches of one key read the mirror,
 * and its puts skip @p batch's index. The mirror leaves @p batch and is
 * freed by brook__segmented_unmirror(), on the owner's thread.
 */
void brook__segmented_mirror(void *self, struct brook__wmbudget *budget,
                             brook__statebatch_t *batch, bool holding);
void brook__segmented_unmirror(void *self);

/** What a window or session fetch reads (segmented.c). */
typedef struct brook__segfetch {
        /** Serialized keys, both inclusive; NULL: open. A single key is
         *  both bounds. */
        const void *kfrom, *kto;
        size_t kfrom_size, kto_size;
        /** Window stores: window starts in [tfrom, tto]. Session stores:
         *  sessions ending at or after tfrom that started by tto. */
        int64_t tfrom, tto;
        bool reverse; /**< Latest segment and largest key first. */
        bool query;   /**< From an interactive query (any thread). */
        /** Kafka Streams' time-ordered stores' bounds (which emit on window
         *  close reads): windows from the newest start - retention (the
         *  others stop at newest - retention + 1); sessions whatever the
         *  live segments hold. */
        bool time_ordered;
} brook__segfetch_t;

/**
 * The entries of segmented store @p self (an inner store a window or
 * session store opened) that @p f wants, into *@p itp: keys are the kind's
 * bytes keys (key and window), segment by segment, in key order within a
 * segment (reversed if f->reverse). Nothing older than retention.
 */
brook_err_t brook__segmented_fetch(void *self, const brook__segfetch_t *f,
                                   brook_kvbytes_iter_t **itp, char *errstr,
                                   size_t errstr_size);
/** Puts the segmented store refused because their segment had expired. */
uint64_t brook__segmented_expired(void *self);
/** The largest timestamp put into it (its stream time), or -1. */
int64_t brook__segmented_observed(void *self);
/** A caching store's put of a key with time @p ts (a window's start, a
 *  session's end), before it is cached: advances the stream time as the
 *  put would. False if @p ts's segment has expired: the put is to be
 *  dropped (and is counted as expired). */
bool brook__segmented_observe(void *self, int64_t ts);
/** Whether bytes key @p key is in the segmented store @p self at all,
 *  past retention included (a get says "gone" for those): whether a
 *  cached tombstone of it has something to delete and to forward. */
bool brook__segmented_present(void *self, const void *key, size_t key_size);
/** Whether a put of @p key with a value, whenever it was made, was written
 *  and is still there unless deleted: its segment is live and its time is
 *  within retention at the stream time observed now (both only tighten as
 *  that time grows). Reads nothing below. */
bool brook__segmented_kept(void *self, const void *key, size_t key_size);
/** Whether @p ops are the segmented store's. */
bool brook__segmented_ops(const brook_kvstore_ops_t *ops);
/** The store's puts come through a cache (brook__segmented_observe()
 *  counts the expired ones): a put into an expired segment is not
 *  counted again. */
void brook__segmented_set_cached(void *self);

/** Whether a window starting at @p start (a session [@p start, @p end])
 *  is one a fetch of times [@p tfrom, @p tto] returns: windows starting in
 *  it; sessions ending at or after @p tfrom that started by @p tto. */
bool brook__segkey_in_time(brook__storekind_t kind, int64_t start, int64_t end,
                           int64_t tfrom, int64_t tto);
/** The time a segmented store orders bytes key @p bkey by: a window's
 *  start, a session's end (the suffix's first 8 bytes). @p bkey has at
 *  least brook__segkey_suffix() bytes. */
int64_t brook__segkey_time(brook__storekind_t kind, const void *bkey,
                           size_t bkey_size);
/**
 * A caching window or session store: has the cache hold every entry of
 * record key @p gkey (bytes, which must stay as they are through calls
 * out from the cache's evictions: not the store's buffers) from time
 * @p from on, reading them from below unless it does already. *@p completep
 * tells whether it does now (an eviction during the read can leave it short:
 * the caller then reads below). A failure's reason is in @p st.
 */
brook_err_t brook__ws_cache_group(brook__store_t *st, const void *gkey,
                                  size_t gkey_size, int64_t from,
                                  bool *completep);
/** Bytes after the key in a window (12: start, sequence number) or session
 *  (16: end, start) bytes key. */
size_t brook__segkey_suffix(brook__storekind_t kind);
/** A window store's bytes key, as Kafka Streams' WindowKeySchema writes
 *  it: key, start (8 bytes BE), sequence number (4 bytes BE). */
void brook__wkey_encode(brook_buf_t *out, const void *key, size_t key_size,
                        int64_t start, uint32_t seq);
/** A session store's bytes key, as Kafka Streams' SessionKeySchema: key,
 *  end (8 bytes BE), start (8 bytes BE). */
void brook__skey_encode(brook_buf_t *out, const void *key, size_t key_size,
                        int64_t start, int64_t end);
/** Splits a bytes key of @p kind: the key is its first *@p key_sizep
 *  bytes; sets the start, and for sessions the end (else -1). False if
 *  it is too short to be one. */
bool brook__segkey_decode(brook__storekind_t kind, const void *bkey,
                          size_t bkey_size, size_t *key_sizep, int64_t *startp,
                          int64_t *endp);

/** A window iterator over @p bit (which it owns; NULL: none yet, see
 *  brook__windowiter_add_iq()) of a store of @p def, decoding into
 *  @p arena; with @p iq (a reference it owns), it fails once the task left
 *  that instance. */
brook_windowiter_t *brook__windowiter_new(brook__storedef_t *def,
                                          brook_kvbytes_iter_t *bit,
                                          brook__iqstore_t *iq,
                                          brook_arena_t *arena);
/** Appends @p bit, read after those before it, which the iterator now
 *  owns; with @p h (NULL: none), an iterator of the query handle @p h's
 *  inner store, with a reference to @p h the iterator now owns: once
 *  @p h is left, brook_windowiter_next() fails with BROOK_ERR_STATE
 *  before reading @p bit further (as brook__kviter_add_iq()). */
void brook__windowiter_add_iq(brook_windowiter_t *it, brook_kvbytes_iter_t *bit,
                              brook__iqstore_t *h);

/** brook_windowstore_put() with the value's timestamp @p ts (timestamped
 *  stores; others ignore it). */
brook_err_t brook__windowstore_put_ts(brook_windowstore_t *ws, const void *key,
                                      const void *value, int64_t window_start,
                                      int64_t ts, char *errstr,
                                      size_t errstr_size);
/** brook_windowstore_fetch(), with the value's timestamp into *@p tsp (-1
 *  for stores that are not timestamped). */
brook_err_t brook__windowstore_fetch_ts(brook_windowstore_t *ws,
                                        const void *key, int64_t window_start,
                                        void **valuep, int64_t *tsp,
                                        char *errstr, size_t errstr_size);
/** brook_sessionstore_put() with timestamp @p ts. */
brook_err_t brook__sessionstore_put_ts(brook_sessionstore_t *ss,
                                       const void *key, int64_t start,
                                       int64_t end, const void *value,
                                       int64_t ts, char *errstr,
                                       size_t errstr_size);
/** brook_windowiter_next(), with the value's timestamp into *@p tsp. */
brook_err_t brook__windowiter_next_ts(brook_windowiter_t *it, void **keyp,
                                      brook_window_t *window, void **valuep,
                                      int64_t *tsp, char *errstr,
                                      size_t errstr_size);
/** Splits a timestamped store's value bytes: the timestamp, and the
 *  value's bytes after it. False if there are fewer than 8 bytes. */
bool brook__ts_value_split(const void *value, size_t size, int64_t *tsp,
                           const void **restp, size_t *rest_sizep);

/** Decodes an emitted key-value store entry with the store's serdes into
 *  @p arena. */
brook_err_t brook__kvstore_decode(brook__store_t *st, const void *key,
                                  size_t key_size, const void *value,
                                  size_t value_size, brook_arena_t *arena,
                                  void **keyp, void **valuep, int64_t *tsp,
                                  char *errstr, size_t errstr_size);
/** brook_kvstore_get() with the value's timestamp into *@p tsp
 *  (timestamped stores; -1 for others). */
brook_err_t brook__kvstore_get_exposed(brook_kvstore_t *kv, const void *key,
                                       void **valuep, int64_t *tsp,
                                       char *errstr, size_t errstr_size);
brook_err_t brook__kvstore_get_ts(brook_kvstore_t *kv, const void *key,
                                  void **valuep, int64_t *tsp, char *errstr,
                                  size_t errstr_size);
/** A lookup of encoded key @p key comes soon: brook__cache_prefetch() if
 *  @p kv caches, else nothing. */
void brook__kvstore_prefetch(brook_kvstore_t *kv, const void *key,
                             size_t key_size, bool near);
/** brook_kvstore_put() with the value's timestamp @p ts (kept by
 *  timestamped stores, and the changelog record's timestamp). */
brook_err_t brook__kvstore_put_ts(brook_kvstore_t *kv, const void *key,
                                  const void *value, int64_t ts, char *errstr,
                                  size_t errstr_size);

/* ------------------------------------------------------ versioned store */

/**
 * Wraps the inner store *@p innerp / *@p opsp of versioned store @p def in
 * the versioned store (versioned.c), which then owns it: the wrapper's
 * ops replace *@p opsp. Its get and query_get answer a key's latest
 * version, as 8 bytes of timestamp (BE) and the value's bytes; it writes
 * only through brook__versioned_put() and brook__versioned_restore().
 */
brook_err_t brook__versioned_wrap(brook__storedef_t *def, void **innerp,
                                  const brook_kvstore_ops_t **opsp,
                                  char *errstr, size_t errstr_size);
/** Whether @p ops are the versioned store's. */
bool brook__versioned_ops(const brook_kvstore_ops_t *ops);
/**
 * Kafka Streams' RocksDBVersionedStore.put() of bytes key @p key: @p value
 * (NULL: a tombstone) valid from @p ts (>= 0). *@p codep gets the validTo
 * (BROOK_VERSIONED_LATEST, a timestamp, or BROOK_VERSIONED_NOT_PUT when
 * @p ts is older than stream time - history retention: nothing written).
 * Owner only.
 */
brook_err_t brook__versioned_put(void *self, const void *key, size_t key_size,
                                 const void *value, size_t value_size,
                                 int64_t ts, int64_t *codep, char *errstr,
                                 size_t errstr_size);
/**
 * A version of bytes key @p key: the latest (@p as_of INT64_MAX) or the
 * one valid at @p as_of, by Kafka Streams' rules. On BROOK_OK @p out holds
 * the value's bytes, *@p tsp its timestamp, *@p valid_top its validTo
 * (BROOK_VERSIONED_LATEST for the latest); BROOK_ERR_NOT_FOUND when none
 * (or a tombstone). With @p query, from any thread (interactive queries,
 * through the bytes store's query_get); else the owner's read.
 */
brook_err_t brook__versioned_get(void *self, bool query, const void *key,
                                 size_t key_size, int64_t as_of,
                                 brook_buf_t *out, int64_t *tsp,
                                 int64_t *valid_top, char *errstr,
                                 size_t errstr_size);
/**
 * Restoration: applies changelog record (@p key, @p value or NULL) of
 * timestamp @p ts as the put that logged it did (a put older than stream
 * time - history retention is skipped again). The writes are kept in the
 * store until its next flush() writes them below: a restore batch's
 * writes are not visible to reads of the bytes store until written.
 */
brook_err_t brook__versioned_restore(void *self, const void *key,
                                     size_t key_size, const void *value,
                                     size_t value_size, int64_t ts,
                                     char *errstr, size_t errstr_size);
/** The store's stream time (the largest timestamp put), or -1. Any
 *  thread. */
int64_t brook__versioned_observed(void *self);

/* ------------------------------------------------------- window mirror */

/**
 * The recent entries of a window store that keeps every put, in memory
 * (wmirror.c): entries whose window start is at or after the mirror's
 * floor. Owner thread only. Bytes keys are window keys (key, start,
 * sequence number), without a segment.
 */
typedef struct brook__wmirror brook__wmirror_t;
/** A thread's memory for its mirrors: past @p max_bytes they drop their
 *  oldest entries. */
typedef struct brook__wmbudget brook__wmbudget_t;

brook__wmbudget_t *brook__wmbudget_new(int64_t max_bytes);
/** After every mirror of it is freed. NULL is a no-op. */
void brook__wmbudget_destroy(brook__wmbudget_t *b);
/** Bytes the mirrors hold now. */
int64_t brook__wmbudget_bytes(const brook__wmbudget_t *b);

/** A cold mirror: it holds nothing until loaded. */
brook__wmirror_t *brook__wmirror_new(brook__wmbudget_t *b);
void brook__wmirror_free(brook__wmirror_t *m);
/** Cold again: forgets everything (the store below changed under it). */
void brook__wmirror_reset(brook__wmirror_t *m);
bool brook__wmirror_loaded(const brook__wmirror_t *m);
/** Every entry of the store with a start at or after it is in the
 *  mirror. */
int64_t brook__wmirror_floor(const brook__wmirror_t *m);
uint64_t brook__wmirror_entries(const brook__wmirror_t *m);
/** Entries dropped to stay within the budget, so far. */
uint64_t brook__wmirror_evicted(const brook__wmirror_t *m);
/** A fetch it could not answer (it reached before the floor). */
void brook__wmirror_fallback(brook__wmirror_t *m);
/** Fetches answered by mirrors and left to the stores below, over every
 *  mirror freed so far in the process (tests). */
void brook__wmirror_totals(uint64_t *servedp, uint64_t *fallbacksp);
/** Loading: reset with floor @p floor, then every entry of the store
 *  below (any order; those before the floor are skipped), then done. */
void brook__wmirror_load_begin(brook__wmirror_t *m, int64_t floor);
void brook__wmirror_load_add(brook__wmirror_t *m, const void *bkey,
                             size_t bkey_size, const void *value,
                             size_t value_size);
void brook__wmirror_load_done(brook__wmirror_t *m);
/** A put the store below took (NULL value: a delete of that exact key).
 *  No-op while cold. */
void brook__wmirror_put(brook__wmirror_t *m, const void *bkey, size_t bkey_size,
                        const void *value, size_t value_size);
/** Raises the floor to @p floor (entries before it are past retention). */
void brook__wmirror_expire(brook__wmirror_t *m, int64_t floor);

/*
 * Holding mode (a stream-stream join's buffer with a changelog): puts the
 * mirror can hold stay in memory only, and the changelog is their store of
 * record until they reach the store below: @p spill writes an entry there
 * when the budget drops it, or when brook__wmirror_sync() asks. The store
 * records, at each flush, the changelog offset brook__wmirror_flushed()
 * returns: from there its restoration reads again everything the mirror
 * held only in memory.
 */
typedef void (*brook__wmspill_fn)(void *ctx, const void *key, size_t key_size,
                                  int64_t start, uint32_t seq,
                                  const void *value, size_t value_size);
void brook__wmirror_set_spill(brook__wmirror_t *m, brook__wmspill_fn spill,
                              void *ctx);
/** Whether the put of @p bkey may stay in memory only: holding mode, loaded
 *  and primed (brook__wmirror_prime(), or a flush since), at or after the
 *  floor. */
bool brook__wmirror_holds(const brook__wmirror_t *m, const void *bkey,
                          size_t bkey_size);
/** A put held in memory only (brook__wmirror_holds() said so). */
void brook__wmirror_put_held(brook__wmirror_t *m, const void *bkey,
                             size_t bkey_size, const void *value,
                             size_t value_size);
/** Loaded, the mirror may hold puts from now on: those replay from
 *  @p offset, the one the store recorded last (or -1: the start). Without
 *  it, holding starts at the first flush. */
void brook__wmirror_prime(brook__wmirror_t *m, int64_t offset, int64_t now_ms);
/** The store flushes at changelog offset @p offset, at monotonic time
 *  @p now_ms: returns the offset to record instead, the one before the
 *  oldest entry held only in memory (@p offset itself when there is
 *  none). Entries held for 10 minutes are spilled first. */
int64_t brook__wmirror_flushed(brook__wmirror_t *m, int64_t offset,
                               int64_t now_ms);
/** Spills every entry held only in memory (before a read of the store
 *  below), and ends holding: such a read means the budget does not cover
 *  the join's window. */
void brook__wmirror_sync(brook__wmirror_t *m);
/** Entries spilled so far. */
uint64_t brook__wmirror_spilled(const brook__wmirror_t *m);
/** Puts held in memory only and entries spilled, over every mirror freed
 *  so far in the process (tests). */
void brook__wmirror_held_totals(uint64_t *heldp, uint64_t *spilledp);
/** A copy of the entries of @p key with starts in [@p tfrom, @p tto], in
 *  key order (reversed with @p reverse). The caller has checked that the
 *  mirror is loaded and @p tfrom is at or after its floor. */
brook_kvbytes_iter_t *brook__wmirror_fetch(brook__wmirror_t *m, const void *key,
                                           size_t key_size, int64_t tfrom,
                                           int64_t tto, bool reverse);

/* ------------------------------------------------------------ iterators */

/**
 * A copy of key-value pairs (kvsnap.c), handed out as a bytes iterator:
 * the in-memory store's range snapshots, a cache group's entries, a range
 * read below before the cache takes it, a range reversed in memory.
 */

brook__kvsnap_t *brook__kvsnap_new(void);
/** Copies a pair in (an empty value is a value: never NULL after). */
void brook__kvsnap_add(brook__kvsnap_t *s, const void *key, size_t key_size,
                       const void *value, size_t value_size);
size_t brook__kvsnap_cnt(const brook__kvsnap_t *s);
/** Pair @p i (in the order added, or sorted); once a pair is read, no more
 *  can be added. */
void brook__kvsnap_get(brook__kvsnap_t *s, size_t i, const void **key,
                       size_t *key_size, const void **value,
                       size_t *value_size);
/** Orders the pairs by key bytes (a prefix first). No more adds. */
void brook__kvsnap_sort(brook__kvsnap_t *s);
/** @p s as an iterator over its pairs in their order (last first with
 *  @p reverse); the iterator owns it. No more adds. */
brook_kvbytes_iter_t *brook__kvsnap_iter(brook__kvsnap_t *s, bool reverse);
/** Frees a snapshot that was not made an iterator. NULL is a no-op. */
void brook__kvsnap_free(brook__kvsnap_t *s);

/**
 * The bytes iterators a typed iterator reads one after another, each with
 * the query handle (or NULL) of the instance it reads; key-value and
 * window iterators are built on it. Once a task left an instance whose
 * entries are not read to the end, the chain fails with BROOK_ERR_STATE.
 * After any failure it keeps returning it (err, errstr).
 */
typedef struct brook__bitchain {
        brook__ptrvec_t its; /**< brook_kvbytes_iter_t *, read in order. */
        /** The query handle (brook__iqstore_t *, or NULL) of each of its,
         *  a reference each; empty while no iterator has one. */
        brook__ptrvec_t iqs;
        size_t cur;
        brook_err_t err;
        char errstr[512]; /**< Last: brook__bitchain_init() skips it. */
} brook__bitchain_t;

/** An empty chain. Not a memset of the whole: a join makes one per
 *  lookup, and the error text is written only on a failure. */
void brook__bitchain_init(brook__bitchain_t *ch);

/** Appends @p bit (the chain owns it) with @p h (NULL, or a reference the
 *  chain now owns). */
void brook__bitchain_add(brook__bitchain_t *ch, brook_kvbytes_iter_t *bit,
                         brook__iqstore_t *h);
/** The next entry of the chain: BROOK_OK with *@p k, *@p v (valid until
 *  the next call), BROOK_ERR_END after the last, or the chain's error. */
brook_err_t brook__bitchain_next(brook__bitchain_t *ch, const void **k,
                                 size_t *ksz, const void **v, size_t *vsz);
/** Skips what is left of the current bytes iterator. */
void brook__bitchain_skip(brook__bitchain_t *ch);
/** Fails the chain with @p err and a message; returns @p err. */
brook_err_t brook__bitchain_fail(brook__bitchain_t *ch, brook_err_t err,
                                 const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/** A typed next()'s exit for anything but an entry: BROOK_ERR_END, or the
 *  chain's error with its reason in @p errstr. */
brook_err_t brook__bitchain_ret(const brook__bitchain_t *ch, char *errstr,
                                size_t errstr_size);
/** Destroys the bytes iterators, then drops the handles. */
void brook__bitchain_free(brook__bitchain_t *ch);

/** A typed iterator over bytes iterators added with brook__kviter_add(),
 *  read one after another, decoding into @p arena; with a @p prefix, only
 *  keys starting with it. @p on_destroy(@p opaque) runs at destroy. */
brook_kviter_t *brook__kviter_new(const brook_serde_t *key_serde,
                                  const brook_serde_t *value_serde,
                                  bool timestamped, brook_arena_t *arena,
                                  const void *prefix, size_t prefix_size,
                                  void (*on_destroy)(void *opaque),
                                  void *opaque);
/** Appends @p bit, which the iterator now owns. */
void brook__kviter_add(brook_kviter_t *it, brook_kvbytes_iter_t *bit);
/** Appends @p bit, an iterator of the query handle @p h's inner store,
 *  with a reference to @p h the iterator now owns: once @p h is left,
 *  brook_kviter_next() fails with BROOK_ERR_STATE before reading @p bit
 *  further. */
void brook__kviter_add_iq(brook_kviter_t *it, brook_kvbytes_iter_t *bit,
                          brook__iqstore_t *h);

/* (De)serializes for store @p st: serdes are told its changelog topic
 * (brook_serde_topic()), as Kafka Streams gives its serdes. */
static inline brook_err_t brook__store_ser(const brook__store_t *st,
                                           const brook_serde_t *serde,
                                           const void *obj, brook_buf_t *out,
                                           char *errstr, size_t errstr_size)
{
        return brook__serde_serialize_to(st->serde_topic, serde, obj, out,
                                         errstr, errstr_size);
}

static inline brook_err_t brook__store_deser(const brook__store_t *st,
                                             const brook_serde_t *serde,
                                             const void *data, size_t size,
                                             brook_arena_t *arena, void **objp,
                                             char *errstr, size_t errstr_size)
{
        return brook__serde_deserialize_from(st->serde_topic, serde, data, size,
                                             arena, objp, errstr, errstr_size);
}

#endif
