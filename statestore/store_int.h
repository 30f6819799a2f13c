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
#include "brook_int.h"

/* --------------------------------------------------------- definitions */

/** A store as the topology declares it (brook_builder_add_store()). */
typedef struct brook__storedef {
        char *name;
        const brook_serde_t *key_serde, *value_serde; /**< Referenced. */
        brook_kvstore_supplier_t supplier;
        bool logging, caching;
        /** Processors (node idx) connected to it. */
        int *procs;
        size_t proc_cnt;
        int subtopology; /**< Set by brook__topology_build(); -1 before. */
} brook__storedef_t;

void brook__storedef_free(brook__storedef_t *def);
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

brook__statebatch_t *brook__statebatch_new(brook__statedb_t *db);
void brook__statebatch_destroy(brook__statebatch_t *batch);
/** Writes the batch atomically (WAL on) and empties it. */
brook_err_t brook__statebatch_write(brook__statebatch_t *batch, char *errstr,
                                    size_t errstr_size);
/** Writes only what was written in bulk mode (restoration), leaving the
 *  uncommitted writes of active stores in the batch. */
brook_err_t brook__statebatch_write_bulk(brook__statebatch_t *batch,
                                         char *errstr, size_t errstr_size);
/** Drops every write the batch holds (tasks closed without a commit). */
void brook__statebatch_discard(brook__statebatch_t *batch);
/** Bulk mode, for restoration: writes skip the batch's index (so reads
 *  through it do not see them until brook__statebatch_write()). */
void brook__statebatch_set_bulk(brook__statebatch_t *batch, bool bulk);
/** Bytes the batch holds. */
size_t brook__statebatch_size(brook__statebatch_t *batch);

/** What brook_kvstore_open_t.internal points to for brook's own suppliers:
 *  the thread's (or test driver's) state. */
typedef struct brook__stateenv {
        brook__statedb_t *db;
        brook__statebatch_t *batch;
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

/**
 * A thread's record cache (Kafka Streams' ThreadCache): up to max_bytes of
 * entries across the thread's caching stores, in one LRU order. An entry is
 * a store, a key, a value (or a tombstone), the timestamp of its last
 * write, and two flags: not yet written down, not yet forwarded.
 *
 * Evicting a dirty entry writes it down (brook__kvstore_write_down()) and
 * forwards it (brook__kvstore_emit()) first, in that order. Not
 * thread-safe: one per stream thread.
 */
typedef struct brook__cache brook__cache_t;

brook__cache_t *brook__cache_new(size_t max_bytes);
/** Frees @p c; entries are dropped (not written). NULL is a no-op. */
void brook__cache_destroy(brook__cache_t *c);
/**
 * Looks @p key of @p st up. Returns true if cached: *@p value / *@p
 * value_size are set (NULL for a cached tombstone), valid until the next
 * call on @p c. Marks the entry most recently used.
 */
bool brook__cache_get(brook__cache_t *c, brook_kvstore_t *st, const void *key,
                      size_t key_size, const void **value, size_t *value_size);
/**
 * Caches @p value (NULL: a tombstone) for @p key of @p st with timestamp
 * @p ts. @p dirty is true for a write (to be written down and forwarded
 * later), false for a value just read from below. May evict other entries
 * (of any store) to stay within max_bytes; an eviction's failure is
 * returned.
 */
brook_err_t brook__cache_put(brook__cache_t *c, brook_kvstore_t *st,
                             const void *key, size_t key_size,
                             const void *value, size_t value_size, int64_t ts,
                             bool dirty);
/**
 * Writes down every not-yet-written entry of @p st, without forwarding
 * (before a range scan reads the layer below). They are forwarded at the
 * next flush.
 */
brook_err_t brook__cache_write_pending(brook__cache_t *c, brook_kvstore_t *st);
/** Writes down and forwards every dirty entry of @p st, oldest first; they
 *  stay cached, clean. */
brook_err_t brook__cache_flush(brook__cache_t *c, brook_kvstore_t *st);
/** Forgets every entry of @p st (after a flush, when the task closes). */
void brook__cache_drop(brook__cache_t *c, brook_kvstore_t *st);
/** Bytes cached now, and entries evicted so far (for stats and tests). */
size_t brook__cache_bytes(const brook__cache_t *c);
uint64_t brook__cache_evictions(const brook__cache_t *c);

/* ------------------------------------------------------ a task's store */

typedef enum {
        BROOK__STORE_RESTORING,
        BROOK__STORE_ACTIVE,
} brook__store_state_t;

/** Called with each entry a caching store writes down on flush or
 *  eviction (DSL stores forward it downstream). @p value NULL: tombstone.
 *  A failure's reason goes to @p errstr. */
typedef brook_err_t (*brook__kvstore_emit_fn)(brook_kvstore_t *st,
                                              const void *key, size_t key_size,
                                              const void *value,
                                              size_t value_size, int64_t ts,
                                              void *opaque, char *errstr,
                                              size_t errstr_size);

/**
 * What an interactive query needs of a task's store instance, refcounted
 * so that queries never hold a lock the stream thread needs: a query takes
 * a reference under the app's registry mutex, releases the mutex, then
 * reads through @c ops; an iterator keeps its references until destroyed.
 *
 * The instance's owner (brook_kvstore_t) holds one reference, the app's
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

struct brook_kvstore_s {
        brook__storedef_t *def;
        brook__task_t *task;
        void *inner;
        const brook_kvstore_ops_t *ops;
        brook__cache_t *cache; /**< The thread's, or NULL: not caching. */
        /** Full changelog topic name, or NULL: logging off. */
        char *changelog;
        /** Offset after the last changelog record delivered (or restored);
         *  owned by the runtime, stable for the thread's life, -1 unknown. */
        int64_t *changelog_end;
        brook__kvstore_emit_fn emit;
        void *emit_opaque;
        atomic_int state; /**< brook__store_state_t; read by queries. */
        /** The query handle of this instance (one reference is ours). */
        brook__iqstore_t *iq;
        brook_buf_t *kbuf, *vbuf, *tmp;
        /** Operation counters (metered layer). */
        uint64_t gets, puts, deletes, scans;
        /** The reason of the last failed call, "store \"<name>\": ...",
         *  copied to the caller's errstr by the public calls. */
        char errbuf[512];
};

/**
 * Opens @p def's instance for @p task: the inner store from the supplier
 * (with @p env as brook_kvstore_open_t.internal), caching with @p cache if
 * the store caches and @p cache is non-NULL, logging to
 * "<app_id>-<name>-changelog" if the store logs. The state starts
 * RESTORING. @p state_dir is state.dir/<application.id>.
 */
brook_err_t brook__kvstore_open(brook__storedef_t *def, brook__task_t *task,
                                brook__stateenv_t *env, brook__cache_t *cache,
                                const char *state_dir, brook_kvstore_t **stp,
                                char *errstr, size_t errstr_size);
/** Frees @p st (flush first) and marks its query handle left; the inner
 *  store closes now, or when the last query reading it lets go of its
 *  handle. NULL: no-op. */
void brook__kvstore_close(brook_kvstore_t *st);

/** Sets the function caching stores call for each entry written down on
 *  flush or eviction. */
void brook__kvstore_set_emit(brook_kvstore_t *st, brook__kvstore_emit_fn fn,
                             void *opaque);
/** Whether writes are cached (forwarding then happens through emit). */
bool brook__kvstore_caching(const brook_kvstore_t *st);
/** Decodes an emitted entry with the store's serdes into @p arena. */
brook_err_t brook__kvstore_decode(brook_kvstore_t *st, const void *key,
                                  size_t key_size, const void *value,
                                  size_t value_size, brook_arena_t *arena,
                                  void **keyp, void **valuep, char *errstr,
                                  size_t errstr_size);

/** Below the cache: sends the changelog record (if logging) and writes the
 *  inner store. @p value NULL deletes. */
brook_err_t brook__kvstore_write_down(brook_kvstore_t *st, const void *key,
                                      size_t key_size, const void *value,
                                      size_t value_size, int64_t ts);
/**
 * Whether a dirty tombstone for @p key can be dropped: the store forwards
 * through an emit function and the key is not in the inner store, so
 * there is nothing to delete, log or forward (Kafka Streams' caching
 * store skips such entries too).
 */
bool brook__kvstore_tombstone_absent(brook_kvstore_t *st, const void *key,
                                     size_t key_size);
/** Calls the emit function, if any. */
brook_err_t brook__kvstore_emit(brook_kvstore_t *st, const void *key,
                                size_t key_size, const void *value,
                                size_t value_size, int64_t ts);

/** Commit, step 1: writes down and forwards the cache's dirty entries. */
brook_err_t brook__kvstore_flush_cache(brook_kvstore_t *st, char *errstr,
                                       size_t errstr_size);
/** Commit, step 2 (after the producer flushed): has the inner store record
 *  *changelog_end with its data (stage it, for RocksDB stores: the runtime
 *  then writes the thread's batch). */
brook_err_t brook__kvstore_flush_inner(brook_kvstore_t *st, char *errstr,
                                       size_t errstr_size);

/** Restoration: applies one changelog record (NULL value deletes). */
brook_err_t brook__kvstore_restore_put(brook_kvstore_t *st, const void *key,
                                       size_t key_size, const void *value,
                                       size_t value_size);

/* ------------------------------------------------------------ iterators */

/** A typed iterator over bytes iterators added with brook__kviter_add(),
 *  read one after another, decoding into @p arena; with a @p prefix, only
 *  keys starting with it. @p on_destroy(@p opaque) runs at destroy. */
brook_kviter_t *brook__kviter_new(const brook_serde_t *key_serde,
                                  const brook_serde_t *value_serde,
                                  brook_arena_t *arena, const void *prefix,
                                  size_t prefix_size,
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

#endif
