/*
 * brook — running a topology: the application, and describing topologies.
 *
 * Threads: brook_app_new(), brook_app_start(), brook_app_run() and
 * brook_app_destroy() are called from one thread, the app's owner, and never
 * from a stream thread (a processor or a punctuator). The other calls here
 * are thread-safe, as each says.
 */
#ifndef BROOK_APP_H
#define BROOK_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "error.h"
#include "processor.h"
#include "store.h"
#include "version.h"
#include "versioned_store.h"
#include "window_store.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

typedef struct brook_app_s brook_app_t;

/** Kafka Streams' KafkaStreams.State. */
typedef enum brook_app_state_e {
        BROOK_APP_CREATED,
        BROOK_APP_REBALANCING,
        BROOK_APP_RUNNING,
        BROOK_APP_PENDING_SHUTDOWN,
        BROOK_APP_NOT_RUNNING,
        BROOK_APP_PENDING_ERROR,
        BROOK_APP_ERROR,
} brook_app_state_t;

/**
 * An application running the topology of @p b with @p conf.
 *
 * Validates the configuration (application.id and bootstrap.servers are
 * required; any property that failed brook_conf_set() fails here too) and
 * the topology (every sink and source has serdes, names are unique).
 * Nothing talks to Kafka yet.
 *
 * On success the app takes @p b and @p conf (do not use or free them); on
 * failure they stay the caller's and @p errstr says why.
 */
brook_app_t *brook_app_new(brook_builder_t *b, brook_conf_t *conf, char *errstr,
                           size_t errstr_size);

/**
 * Starts the app: checks source topics and their partition counts,
 * creates internal topics (repartition, dead-letter) with the Admin API,
 * and starts num.stream.threads threads. Returns once threads run.
 *
 * Fails with BROOK_ERR_TOPOLOGY when a source topic is missing or topics
 * that must be co-partitioned differ in partition count, with
 * BROOK_ERR_KAFKA when the cluster cannot be reached (after trying for
 * 30 s), with BROOK_ERR_STATE when the app was started before, and with
 * BROOK_ERR_FATAL when application.server is set and its HTTP server
 * cannot start (the port taken, libmicrohttpd or libcurl not installed:
 * brook loads them only then); @p errstr says which. After a failure the
 * app is in BROOK_APP_ERROR: destroy it.
 *
 * A stop asked for while it sets up (brook_app_close() from another
 * thread, or SIGINT/SIGTERM under brook_app_run()) ends start-up within
 * about a second, wherever it waits: it then returns BROOK_OK with the app
 * NOT_RUNNING and no thread started (a clean stop).
 */
brook_err_t brook_app_start(brook_app_t *app, char *errstr, size_t errstr_size);

/**
 * Starts the app and runs it until SIGINT or SIGTERM or a fatal error, then
 * closes it: brook_app_run_with(app, NULL).
 *
 * Signals: while it runs, brook_app_run() installs process-wide handlers
 * for SIGINT and SIGTERM (sigaction) in place of the program's, and puts
 * the program's back before it returns. The first signal stops the app
 * cleanly; a second one exits the process at once (the state stays
 * consistent). A program that handles signals itself, or runs brook inside
 * a larger process, uses brook_app_run_with() and .no_signal_handlers.
 *
 * A signal during start-up stops it too (see brook_app_start()), and
 * counts as a clean stop. After the stop, it waits for the stream threads
 * to end, which takes at most shutdown.timeout.ms plus about a second (see
 * brook_app_close()).
 *
 * Returns a process exit status for main(): 0 after a clean stop, 1 when
 * the app ended in an error, however it stopped (a fatal error, whose
 * final commit may not have finished either; a source topic deleted while
 * it ran): the cause is logged to stderr and brook_app_state() gives it.
 * Call it from one thread; not on an app that was started.
 */
int brook_app_run(brook_app_t *app);

/** Options of brook_app_run_with(). NULL or all zero: brook_app_run(). */
typedef struct brook_app_run_options_s {
        /** Do not touch signal handlers: the app runs until a fatal error
         *  or until another thread calls brook_app_close(). */
        bool no_signal_handlers;
        /** 0 or BROOK_APP_RUN_OPTIONS_VERSION. See "Structs that grow" in
         *  brook.h. */
        int version;
} brook_app_run_options_t;
#define BROOK_APP_RUN_OPTIONS_VERSION 1

/**
 * brook_app_run() with options (@p opts may be NULL). With
 * .no_signal_handlers the process's signal dispositions are left as they
 * are. Returns 0 after a clean stop, 1 after an error, including options of
 * a version this brook does not know (the cause is logged to stderr).
 */
int brook_app_run_with(brook_app_t *app, const brook_app_run_options_t *opts);

/**
 * Stops the threads: each finishes the records it has taken from the
 * consumer, flushes the producer, commits processed offsets, closes its
 * tasks and leaves the group. Waits up to @p timeout_ms (-1:
 * shutdown.timeout.ms), and returns by then whatever the threads do.
 * @returns BROOK_OK once every thread stopped; BROOK_ERR_TIMED_OUT if they
 *          had not stopped by then (call again, or destroy).
 *
 * The stop itself is bounded: from the moment it is first asked for (this
 * call, a signal under brook_app_run(), or a fatal error), each thread
 * gives its stop shutdown.timeout.ms: waiting for room in the producer's
 * queue, the final flush and commit, leaving the group, the last flush and
 * tearing down its Kafka clients all end by then (with the broker down
 * they would wait for minutes). What did not finish is given up: if the
 * output could not be flushed, the offsets are not committed (and the app
 * ends in ERROR), so at-least-once holds; a group not left notices when
 * the session times out; clients still shutting down finish in the
 * background. So the threads end within shutdown.timeout.ms plus about a
 * second after the stop began, provided the processor or punctuator call
 * in progress returns.
 *
 * Safe to call from any thread, and more than once; on an app never
 * started it is a no-op. During brook_app_start() on another thread, it
 * makes start-up give up and waits for that. On one of the app's own
 * threads, or inside brook_app_start() on the same thread (both only
 * from a state listener, brook_state_listener_fn), it only asks for the
 * stop and returns BROOK_ERR_TIMED_OUT at once, whatever @p timeout_ms: a
 * thread cannot wait for itself. The app's owner still closes and
 * destroys it (never from a listener).
 */
brook_err_t brook_app_close(brook_app_t *app, int64_t timeout_ms);

/** Closes (if needed) and frees @p app, with the builder and conf it took.
 *  It waits for the stream threads to end, which is bounded (see
 *  brook_app_close()): it returns within shutdown.timeout.ms plus about a
 *  second after the stop began (the first brook_app_close(), signal or
 *  fatal error; or this call), provided processors and punctuators return.
 *  NULL is a no-op. Every query iterator of the app must be destroyed
 *  first, and no query of it may be running. (An iterator still open is
 *  not freed under it: brook logs a warning, its brook_kviter_next() (or
 *  brook_windowiter_next()) fails
 *  with BROOK_ERR_STATE, and its stores and the state db, with the lock on
 *  its state.dir, stay open until it is destroyed; its store's serdes must
 *  still be alive then.) */
void brook_app_destroy(brook_app_t *app);

/**
 * The app's state. In BROOK_APP_ERROR, the cause is written to @p errstr
 * (may be NULL); otherwise @p errstr is untouched. Besides processing and
 * commit failures, a source topic read by name that is deleted while the
 * app runs ends it in ERROR, naming the topic (Kafka Streams'
 * MissingSourceTopicException; see docs/shutdown.md).
 * Thread-safe.
 */
brook_app_state_t brook_app_state(brook_app_t *app, char *errstr,
                                  size_t errstr_size);

/**
 * Kafka Streams' KafkaStreams.StateListener: told each change of the
 * app's state, @p new_state and the @p old_state it left.
 *
 * The changes follow Kafka Streams' transitions:
 *  - CREATED to REBALANCING at brook_app_start();
 *  - REBALANCING and RUNNING, back and forth, as partitions move and
 *    stores restore;
 *  - PENDING_SHUTDOWN then NOT_RUNNING on a stop;
 *  - PENDING_ERROR then ERROR on a fatal error.
 * A stop or failure during start-up goes through PENDING_SHUTDOWN or
 * PENDING_ERROR too. Unlike Kafka Streams, a state is never reported as
 * changing to itself.
 *
 * Called without brook's locks held, one call at a time, in the order of
 * the changes: on the thread that made the change (the caller's in
 * brook_app_start() and brook_app_close(), a stream thread otherwise), or
 * on another of those that is telling changes at the same moment (a
 * thread never waits for another's call: it leaves its changes to it). So the
 * listener may call brook_app_state() and the query functions, and stop the app
 * with brook_app_close(), which on a stream thread only asks for the stop; the
 * changes it causes are told after it returns. Keep it short: the thread that
 * calls it waits for it.
 */
typedef void (*brook_state_listener_fn)(brook_app_t *app,
                                        brook_app_state_t new_state,
                                        brook_app_state_t old_state,
                                        void *opaque);

/**
 * Sets the state listener of @p app, or removes it (@p fn NULL). Only
 * before brook_app_start() (or brook_app_run()), as in Kafka Streams:
 * BROOK_ERR_STATE after, and the app keeps the listener it had. Call it
 * from the app's owner thread.
 */
brook_err_t brook_app_set_state_listener(brook_app_t *app,
                                         brook_state_listener_fn fn,
                                         void *opaque, char *errstr,
                                         size_t errstr_size);

/** Blocks until the app is NOT_RUNNING or ERROR, or @p timeout_ms passed
 *  (-1: forever). Returns the state. Thread-safe. */
brook_app_state_t brook_app_wait(brook_app_t *app, int64_t timeout_ms);

/** What the uncaught-exception handler asks for (Kafka Streams'
 *  StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse). */
typedef enum brook_uncaught_response_e {
        /** A new stream thread takes the failed one's place; the failed
         *  one closes its tasks as a failure does (under exactly_once_v2
         *  its transaction aborts; under at_least_once what it processed
         *  before the failure commits), so the new owner of its tasks
         *  processes the rest again and nothing is lost. */
        BROOK_UNCAUGHT_REPLACE_THREAD,
        /** This instance stops with the error (ERROR): the default, and
         *  what happens without a handler. */
        BROOK_UNCAUGHT_SHUTDOWN_CLIENT,
        /** Every instance of the application stops with the error: this
         *  one signals the others through the instances topic
         *  (docs/operations.md) and each that has an uncaught-exception
         *  handler or application.server set goes to ERROR within about a
         *  second. */
        BROOK_UNCAUGHT_SHUTDOWN_APPLICATION,
} brook_uncaught_response_t;

/**
 * Called on the failing stream thread with the error that would stop it
 * (a record that cannot be processed under the fail handler, a fatal
 * Kafka error, a failed commit, ...). No brook lock is held; the handler
 * must not close the app. A response brook does not know counts as
 * BROOK_UNCAUGHT_SHUTDOWN_CLIENT.
 */
typedef brook_uncaught_response_t (*brook_uncaught_handler_fn)(
        brook_app_t *app, const char *error, void *opaque);

/**
 * Kafka Streams' KafkaStreams#setUncaughtExceptionHandler(): set before
 * the start (BROOK_ERR_STATE after). NULL restores the default
 * (BROOK_UNCAUGHT_SHUTDOWN_CLIENT). Errors of the global thread and of the
 * start itself always shut the client down.
 */
brook_err_t brook_app_set_uncaught_exception_handler(
        brook_app_t *app, brook_uncaught_handler_fn fn, void *opaque,
        char *errstr, size_t errstr_size);

/** Counters of an app, summed over its threads. Thread-safe. */
typedef struct brook_app_stats_s {
        int64_t records_processed; /**< Input records fully processed. */
        int64_t records_produced;  /**< Records sent by sinks. */
        /** Dropped, for any reason: the sum of
         *  brook_app_records_dropped() over every reason. */
        int64_t records_dropped;
        int64_t records_dead_lettered;
        int64_t commits;
        int64_t rebalances;
        /** Changelog records applied to stores while restoring. */
        int64_t records_restored;
        /** Changelog records still to restore (0 when none is restoring). */
        int64_t restore_remaining;
        /** Store instances restoring now. */
        int64_t stores_restoring;
        /** Bytes RocksDB holds now in its block cache and memtables: what
         *  rocksdb.memory.bytes bounds (0 without RocksDB stores). */
        int64_t rocksdb_memory_bytes;
} brook_app_stats_t;

/** Fills *@p stats (overwriting it). Thread-safe; never fails. */
void brook_app_stats(brook_app_t *app, brook_app_stats_t *stats);

/**
 * The app's metrics in the Prometheus text format (version 0.0.4): what
 * the HTTP server's /metrics serves (docs/operations.md lists them). Kafka
 * Streams' names, as brook_<group>_<metric> (process-rate of the stream
 * thread is brook_stream_thread_process_rate); rates, averages and maxima
 * are over metrics.sample.window.ms. Returns a NUL-terminated string to
 * free with brook_free(), its length in *@p lenp (may be NULL).
 * Thread-safe, from any time after brook_app_new().
 */
char *brook_app_metrics(brook_app_t *app, size_t *lenp);

/**
 * What /state serves: a JSON document of the app's state, its threads,
 * their tasks and input partitions (committed and processed offsets, lag),
 * restoration and the topology description. Free with brook_free().
 * Thread-safe.
 */
char *brook_app_state_json(brook_app_t *app);

/**
 * How long this instance's commits have been stalled, in milliseconds (0:
 * they are not). A stream thread whose commit cannot complete (its
 * producer cannot deliver: the broker is unreachable, say) stops
 * processing, pauses its partitions and retries the commit, for up to
 * task.timeout.ms; then the app stops in BROOK_APP_ERROR with the cause.
 * The state stays RUNNING meanwhile. When stalled, @p cause (may be NULL)
 * gets why, e.g. the producer's last error; else "". Thread-safe.
 */
int64_t brook_app_stalled_ms(brook_app_t *app, char *cause, size_t cause_size);

/**
 * Records dropped for @p reason, summed over the app's threads (those
 * already stopped included). 0 for a NULL @p app or a value that is not a
 * reason. A drop counts here as soon as the record is dropped (the
 * records processed, produced and dead-lettered of brook_app_stats() are
 * published once per round of a thread's loop), and brook_app_stats()'s
 * records_dropped is the sum over the reasons at any time. Thread-safe;
 * never fails.
 */
int64_t brook_app_records_dropped(brook_app_t *app, brook_drop_reason_t reason);

/**
 * How many times a task processed a record although one of its input
 * partitions had no data buffered, because max.task.idle.ms had passed
 * waiting for it (Kafka Streams' enforced-processing metric): each such
 * record may be out of timestamp order across the task's partitions.
 * Counted per record; never under max.task.idle.ms -1. Summed over the
 * app's threads (those already stopped included); 0 for a NULL @p app.
 * See docs/time.md. Thread-safe; never fails.
 */
int64_t brook_app_enforced_processing(brook_app_t *app);

/* ------------------------------------------------------------ restoration */

/** A store's restoration, as a restore listener is told of it. The strings
 *  live for the call. */
typedef struct brook_restore_info_s {
        const char *task_id;   /**< "<sub-topology>_<partition>" */
        const char *store;     /**< The store's name. */
        const char *changelog; /**< Its changelog topic. */
        int32_t partition;     /**< The changelog's partition: the task's. */
        /** The first changelog offset restoration reads: the offset the
         *  store recorded with its data (local_state), or else the
         *  changelog's first (the store starts empty). */
        int64_t start_offset;
        /** The changelog's end offset when restoration began, where it
         *  stops (exclusive). Equal to start_offset: nothing to restore. */
        int64_t end_offset;
        /** The store had state on this instance, recorded with the changelog
         *  offset it matches: restoration reads only what came after it.
         *  False for a store new here, or whose offset the changelog no
         *  longer has (restored from scratch). */
        bool local_state;
} brook_restore_info_t;

/**
 * Told how the stores of this instance's tasks are restored (Kafka
 * Streams' StateRestoreListener, set with
 * KafkaStreams#setGlobalStateRestoreListener()). Every changelogged store
 * of every task a stream thread opens (after a rebalance, or again after
 * an aborted transaction) is restored from its changelog before the task
 * processes: on_start once the start and end offsets are known, then
 * on_batch after each batch written to the store, then on_end; or
 * on_suspend if the task closes first (a rebalance took it, the app
 * stopped), after which what was applied stays and the next restoration
 * of the store resumes from it. A store with nothing to restore gets
 * on_start and on_end too (with start_offset == end_offset and 0
 * records), so a listener hears of every store the instance opens.
 * Global stores (brook_global_table()) are restored by brook_app_start()
 * from their topics, each partition told of as a store of task "global"
 * whose changelog is the topic (its partition, offsets and records).
 *
 * Each member may be NULL. The calls come from the stream thread that
 * restores the store, one at a time per thread (with num.stream.threads
 * above 1, from several threads at once): they must be quick (the thread
 * restores and polls nothing meanwhile) and may call the thread-safe
 * functions of this header, except brook_app_close() and
 * brook_app_destroy().
 */
typedef struct brook_restore_listener_s {
        void (*on_start)(const brook_restore_info_t *ri, void *opaque);
        /** @p records more changelog records are applied and written, the
         *  last of them at changelog offset @p batch_end_offset. */
        void (*on_batch)(const brook_restore_info_t *ri,
                         int64_t batch_end_offset, int64_t records,
                         void *opaque);
        /** The store is restored, with @p records records in all. */
        void (*on_end)(const brook_restore_info_t *ri, int64_t records,
                       void *opaque);
        /** Its task closed after @p records records, before the end. */
        void (*on_suspend)(const brook_restore_info_t *ri, int64_t records,
                           void *opaque);
        /** Passed to every call; the caller's to free, after the app. */
        void *opaque;
        /** 0 or BROOK_RESTORE_LISTENER_VERSION. See "Structs that grow" in
         *  brook.h. */
        int version;
} brook_restore_listener_t;
#define BROOK_RESTORE_LISTENER_VERSION 1

/**
 * Sets the restore listener of @p app (copied), or removes it (@p listener
 * NULL). Only before brook_app_start() (or brook_app_run()):
 * BROOK_ERR_STATE after, and BROOK_ERR_INVALID_ARG for a version this
 * brook does not know; either way the app keeps the listener it had.
 * Call it from the app's owner thread.
 */
brook_err_t
brook_app_set_restore_listener(brook_app_t *app,
                               const brook_restore_listener_t *listener,
                               char *errstr, size_t errstr_size);

/* ----------------------------------------------------- interactive queries */

/*
 * Reads of a store across this instance's tasks, from any thread while the
 * app runs (Kafka Streams' interactive queries on the local instance).
 * They see what the stores hold as of the tasks' last commit (RocksDB
 * stores) or now (in-memory stores); keys of partitions this instance does
 * not own are not here (see brook_app_store_key_metadata()).
 *
 * Errors: BROOK_ERR_NOT_FOUND for no such store (or key); BROOK_ERR_STATE
 * when the partition that holds the key is still restoring (so the answer
 * would be stale), is not on this instance, or the app is not running;
 * BROOK_ERR_SERDE when a key fails to encode or a value to decode;
 * BROOK_ERR_INVALID_ARG for a NULL key, or a store of another kind than
 * the call reads (key-value, window, session). @p errstr (may be NULL)
 * names the store and the cause.
 *
 * Keys passed in are borrowed for the call. Values and iterator entries
 * are decoded into the caller's @p arena: they live until the caller resets
 * or destroys it. An arena is not thread-safe: one per querying thread.
 */

/** Where @p key of @p store lives. */
typedef struct brook_key_metadata_s {
        /** The key's partition; -1 for a global store (every instance
         *  holds every key, brook_global_table()). */
        int32_t partition;
        bool local;       /**< This instance has the partition's task. */
        bool restoring;   /**< ... and it is still restoring. */
        char task_id[32]; /**< "<sub-topology>_<partition>", or "global" */
        /** The application.server of the instance that hosts the task:
         *  this one's when local, else the one that last said so in the
         *  instances topic (docs/operations.md, "Remote queries"); "" when
         *  application.server is not set or no instance has said so yet
         *  (a rebalance under way). For a global store, this instance's. */
        char server[256];
} brook_key_metadata_t;

/** Which partition @p key of @p store belongs to (the default
 *  partitioner's choice for the encoded key) and whether it is here, into
 *  *@p md. Thread-safe. */
brook_err_t brook_app_store_key_metadata(brook_app_t *app, const char *store,
                                         const void *key,
                                         brook_key_metadata_t *md, char *errstr,
                                         size_t errstr_size);
/** The value of @p key, decoded into @p arena. Thread-safe. These calls
 *  read global stores too (brook_global_table(): the store's name, every
 *  key on every instance). */
brook_err_t brook_app_store_get(brook_app_t *app, const char *store,
                                const void *key, brook_arena_t *arena,
                                void **valuep, char *errstr,
                                size_t errstr_size);
/**
 * Entries in [@p from, @p to] (NULL bounds are open) of every local task's
 * instance, task by task, each in key order; keys and values decode into
 * @p arena. Fails with BROOK_ERR_STATE if any local instance is
 * restoring. Thread-safe; the iterator *@p itp belongs to the calling thread
 * (read it with brook_kviter_next(), free it with brook_kviter_destroy()).
 *
 * Queries never block the stream threads, and an open iterator holds no
 * lock: tasks may leave this instance (a rebalance, or close) while it is
 * open. Once a task whose entries it has not read to the end has left,
 * brook_kviter_next() fails with BROOK_ERR_STATE ("store \"counts\": task
 * 0_1 left this instance (rebalance or shutdown) while the iterator was
 * open"), and keeps failing: destroy it and query again, on the instance
 * that now has the task.
 */
brook_err_t brook_app_store_range(brook_app_t *app, const char *store,
                                  const void *from, const void *to,
                                  brook_arena_t *arena, brook_kviter_t **itp,
                                  char *errstr, size_t errstr_size);
/** Entries whose encoded key starts with @p prefix encoded by
 *  @p prefix_serde (NULL: the store's key serde). As brook_app_store_range().
 */
brook_err_t brook_app_store_prefix(brook_app_t *app, const char *store,
                                   const void *prefix,
                                   const brook_serde_t *prefix_serde,
                                   brook_arena_t *arena, brook_kviter_t **itp,
                                   char *errstr, size_t errstr_size);
/**
 * An estimate of the bytes this instance's instances of @p store hold (for
 * RocksDB: their live data and memtables, as RocksDB estimates them; in
 * memory: keys and values), 0 for an unknown store or one whose inner
 * store cannot tell. Thread-safe; never blocks a stream thread.
 */
uint64_t brook_app_store_approximate_bytes(brook_app_t *app, const char *store);
/** Every entry of every local instance. As brook_app_store_range(). */
brook_err_t brook_app_store_all(brook_app_t *app, const char *store,
                                brook_arena_t *arena, brook_kviter_t **itp,
                                char *errstr, size_t errstr_size);

/*
 * Window and session stores (Kafka Streams' ReadOnlyWindowStore and
 * ReadOnlySessionStore on the local instance), as the calls above: from
 * any thread while the app runs, with the same errors, and iterators that
 * fail with BROOK_ERR_STATE once a task whose entries they have not read
 * to the end left this instance (see brook_app_store_range()). Entries
 * come as brook_windowiter_next() gives them: the key and the value
 * decoded into @p arena, and the window (a session's start and end); for
 * the DSL's time and sliding window aggregations,
 * brook_windowiter_timestamp() gives a result's timestamp. The iterator
 * *@p itp belongs to the calling thread; free it with
 * brook_windowiter_destroy(), before brook_app_destroy().
 *
 * A query with a key reads the one local instance that owns the key's
 * partition (BROOK_ERR_STATE if no local task has it, or it is still
 * restoring); one without reads every local instance, task by task in
 * partition order (the reverse when @p backward, so that a backward read
 * is the forward one reversed), and fails with BROOK_ERR_STATE if any of
 * them is restoring. Within an instance, results come in the store's
 * order (see window_store.h): segment by segment, by key, then by window
 * start (session end); @p backward reverses it. Time bounds are inclusive,
 * in milliseconds; nothing older than the store's retention is returned.
 *
 * A window query on a key-value or session store, a session query on a
 * window store, and brook_app_store_get/range/prefix/all() on a window or
 * session store fail with BROOK_ERR_INVALID_ARG naming the store and its
 * kind. brook_app_store_key_metadata() works on stores of every kind.
 */

/** @p key's windows of window store @p store that start in
 *  [@p time_from, @p time_to], oldest first (@p backward: newest first)
 *  (Kafka Streams' fetch(key, timeFrom, timeTo) / backwardFetch()).
 *  Thread-safe. */
brook_err_t brook_app_window_fetch(brook_app_t *app, const char *store,
                                   const void *key, int64_t time_from,
                                   int64_t time_to, bool backward,
                                   brook_arena_t *arena,
                                   brook_windowiter_t **itp, char *errstr,
                                   size_t errstr_size);
/** Every key's windows of @p store that start in [@p time_from,
 *  @p time_to], on every local instance (Kafka Streams' fetchAll() /
 *  backwardFetchAll()). Thread-safe. */
brook_err_t brook_app_window_fetch_all(brook_app_t *app, const char *store,
                                       int64_t time_from, int64_t time_to,
                                       bool backward, brook_arena_t *arena,
                                       brook_windowiter_t **itp, char *errstr,
                                       size_t errstr_size);
/** Every session of @p key in session store @p store, by end time
 *  (@p backward: latest first) (Kafka Streams' fetch(key) /
 *  backwardFetch(key)). Thread-safe. */
brook_err_t brook_app_session_fetch(brook_app_t *app, const char *store,
                                    const void *key, bool backward,
                                    brook_arena_t *arena,
                                    brook_windowiter_t **itp, char *errstr,
                                    size_t errstr_size);
/** @p key's sessions in @p store that end at or after @p earliest_end and
 *  start at or before @p latest_start, by end time (@p backward: latest
 *  first) (Kafka Streams' findSessions() / backwardFindSessions()). A NULL
 *  @p key: every key's, on every local instance. Thread-safe. */
brook_err_t brook_app_session_find(brook_app_t *app, const char *store,
                                   const void *key, int64_t earliest_end,
                                   int64_t latest_start, bool backward,
                                   brook_arena_t *arena,
                                   brook_windowiter_t **itp, char *errstr,
                                   size_t errstr_size);

/**
 * Versioned stores (Kafka Streams' VersionedKeyQuery on the local
 * instance): the version of @p key in versioned store @p store valid at
 * @p as_of (INT64_MAX: the latest), by the rules of versioned_store.h,
 * into *@p recp, its value decoded into @p arena. From any thread, with the
 * errors above (BROOK_ERR_NOT_FOUND: no such store, or no version of the
 * key valid then); a RocksDB store answers as of its task's last commit,
 * with its stream time of now. A versioned store is read by key only:
 * brook_app_store_get/range/prefix/all() fail on it with
 * BROOK_ERR_INVALID_ARG, and this call on a store of another kind.
 * Thread-safe.
 */
brook_err_t brook_app_versioned_get(brook_app_t *app, const char *store,
                                    const void *key, int64_t as_of,
                                    brook_arena_t *arena,
                                    brook_versioned_record_t *recp,
                                    char *errstr, size_t errstr_size);

/* --------------------------------------------------------------- describe */

typedef enum brook_describe_format_e {
        BROOK_DESCRIBE_TEXT, /**< Kafka Streams' TopologyDescription text. */
        BROOK_DESCRIBE_DOT,  /**< Graphviz DOT. */
} brook_describe_format_t;

/**
 * The topology of @p b, described. Returns a string to free with
 * brook_free(), or NULL if the builder had an error (see
 * brook_builder_error(), the reason). @p b is only read: call it from the
 * builder's thread, before brook_app_new() takes @p b.
 */
char *brook_topology_describe(const brook_builder_t *b,
                              brook_describe_format_t format);

/** Frees memory brook returned to the caller ("free with brook_free()").
 *  NULL is a no-op. Thread-safe. */
void brook_free(void *ptr);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
