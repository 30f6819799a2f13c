/*
 * brook — the application and its stream threads (internal).
 */
#ifndef BROOK_APP_INT_H
#define BROOK_APP_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "brook_int.h"
#include "metrics_int.h"
#include "store_int.h"

typedef struct brook__thread brook__thread_t;

/** One input partition of a task, as its stream thread last published it
 *  (for /metrics and /state, engine/metrics.c). */
typedef struct brook__psnap {
        char topic[256];
        int32_t partition;
        int64_t next_offset; /**< Last processed + 1; -1: none yet. */
        int64_t committed;   /**< Last committed next_offset; -1: none. */
        /** Records after the last processed one that the broker has
         *  (fetched or not); -1 while unknown. */
        int64_t lag;
} brook__psnap_t;

/** One task of a stream thread, as last published. */
typedef struct brook__tsnap {
        char id[32];
        bool restoring;
        brook__psnap_t *parts;
        size_t part_cnt;
        /** metrics.recording.level DEBUG: records each node of the task's
         *  sub-topology took (names borrowed from the topology). */
        struct brook__nsnap {
                const char *name;
                int64_t processed;
        } * nodes;
        size_t node_cnt;
} brook__tsnap_t;

/** A stream thread's timings and counts for metrics, beyond its
 *  brook_app_stats() counters: written by the thread, read by
 *  engine/metrics.c, which takes (and zeroes) the maxima. */
typedef struct brook__tmetrics {
        atomic_llong poll_cnt, poll_ns, poll_max_ns, poll_records;
        /** Time spent processing records; the max is of the per-record
         *  average of one pass over the tasks (Kafka Streams'). */
        atomic_llong proc_ns, proc_max_ns;
        /** Commit rounds timed (the loop's: with nothing to commit,
         *  stalled or aborted too) and their time. */
        atomic_llong commit_rounds, commit_ns, commit_max_ns;
        /** Punctuator calls (both types); the loop's wall-clock
         *  punctuation passes that called any, and their time. */
        atomic_llong punct_cnt, punct_passes, punct_ns, punct_max_ns;
        atomic_llong tasks_created, tasks_closed;
        atomic_llong cache_hits, cache_misses, cache_bytes;
        /** Input records taken from the consumer, not processed yet. */
        atomic_llong buffered;
        int64_t start_ms; /**< Wall clock. */
        /** From librdkafka's statistics (HTTP server on): the producer's
         *  records and bytes sent, records queued, and the largest of its
         *  brokers' average round trip (us); the consumer's records and
         *  bytes fetched and round trip. Set once any arrived. */
        atomic_llong prod_records, prod_bytes, prod_queued, prod_rtt_us;
        atomic_llong cons_records, cons_bytes, cons_rtt_us;
        atomic_int stats_seen;
} brook__tmetrics_t;

struct brook_app_s {
        brook_builder_t *b;
        brook_conf_t *conf;
        brook__topology_t topo;
        char *app_id;
        char *client_id;
        /** Names this instance in transactional.id under exactly_once_v2:
         *  group.instance.id if set, else a process id kept in the state
         *  directory (random when the app has no state). */
        char instance_id[256];

        pthread_mutex_t lock; /**< Guards state, error, threads_running. */
        pthread_cond_t cond;  /**< Signalled when state changes. */
        brook_app_state_t state;
        char error[1024]; /**< The first fatal error. */
        int threads_running;
        bool started, closed;
        /** The thread in brook_app_start() while starting (its state
         *  listener's brook_app_close() cannot wait for the start-up it
         *  is part of). */
        pthread_t start_thread;

        atomic_bool stopping; /**< Threads leave their loop when set. */
        /** Monotonic ms when the stop was first asked for (0: not yet):
         *  every wait of the stop is bounded by shutdown.timeout.ms from
         *  then (see brook__app_stop_deadline()). */
        atomic_llong stop_at;
        /** brook_app_run() handles signals: start-up stops on one. */
        bool watch_signals;
        /** brook_app_start() is setting up (guarded by lock): close waits
         *  for it to give up before it looks at the threads. */
        bool starting;
        brook__thread_t **threads;
        int thread_cnt;
        /** Each stream thread's consumer queue, where it waits up to
         *  poll.ms when it has nothing to do (NULL while it has none): a
         *  stop wakes it there (brook__app_request_stop()), so that a
         *  close does not wait out the poll. Slots by thread index,
         *  guarded by wake_lock, which is taken last and held only to
         *  read or set them. */
        rd_kafka_queue_t **wakers;
        int waker_cnt;
        pthread_mutex_t wake_lock;
        /** Counters of threads already destroyed by close. */
        brook_app_stats_t closed_stats;
        int64_t closed_drops[BROOK__DROP_CNT]; /**< Likewise, by reason. */
        int64_t closed_enforced;               /**< Likewise. */

        /** Topics each thread subscribes to (concrete names and
         *  "^(pattern)$" regexes). */
        rd_kafka_topic_partition_list_t *subscription;

        /** State: state.dir/<application.id>, and its RocksDB (NULL when
         *  the topology has no stores). */
        char *state_dir;
        brook__statedb_t *statedb;
        /** Store instances open on this instance (brook__store_t *), for
         *  interactive queries. Writers: threads opening and closing
         *  tasks; readers: queries. iq_lock is held only to look an
         *  instance up and take a reference to its query handle (st->iq),
         *  never across a store call, so a stream thread waits at most for
         *  a short scan of this list. An instance in the list is alive:
         *  its thread unregisters it before closing it. */
        pthread_mutex_t iq_lock;
        brook__ptrvec_t iq_stores;
        /** Global tables (engine/global.c), or NULL. */
        struct brook__global *global;
        /** Metrics (engine/metrics.c), made once the threads are; and the
         *  HTTP server (engine/http.c), or NULL when application.server is
         *  not set. Both live until brook_app_destroy(). */
        struct brook__metrics *metrics;
        struct brook__http *http;
        /** Which instance hosts which task (engine/instances.c), or NULL
         *  when application.server is not set. */
        struct brook__instances *instances;

        /** brook_app_set_restore_listener()'s, set before the start: the
         *  threads read it without a lock. */
        brook_restore_listener_t restore_listener;

        /** brook_app_set_uncaught_exception_handler()'s, set before the
         *  start. */
        brook_uncaught_handler_fn uncaught;
        void *uncaught_opaque;
        /** Stream threads being replaced (brook__app_replace_thread()):
         *  close waits for them (under lock). */
        int replacing;

        /** brook_app_set_state_listener()'s, set before the start. */
        brook_state_listener_fn state_listener;
        void *state_opaque;
        /** Transitions not yet told to the listener, a ring, oldest first
         *  (under lock); the thread holding listen_lock tells them, in
         *  order (brook__app_state_tell()). */
        struct brook__transition {
                brook_app_state_t from, to;
        } * trans;
        size_t trans_head, trans_cnt, trans_cap;
        pthread_mutex_t listen_lock;
};

/** One stream thread: a consumer and a producer, owning the tasks of the
 *  partitions the group gave its consumer. */
struct brook__thread {
        brook__collector_t collector; /* First: the collector is the thread. */
        brook_app_t *app;
        int idx;
        /** The loop's round, for the fetched lags' reuse
         *  (brook__pqueue_t's lag_round); from 1. */
        uint64_t lag_round;
        pthread_t tid;
        bool tid_valid;
        rd_kafka_t *consumer, *producer;
        brook__runtime_t rt;
        brook__ptrvec_t tasks; /**< brook__task_t * */
        /** (rkt, partition) -> queue, for routing consumed messages
         *  without string compares. */
        struct brook__route {
                rd_kafka_topic_t *rkt;
                int32_t partition;
                brook__task_t *task;
                brook__pqueue_t *q;
                /** The partition's own librdkafka queue, not forwarded to
                 *  the consumer's: the thread takes from it while the
                 *  task holds fewer than buffered.records.per.partition of
                 *  its records, and librdkafka stops fetching it at its
                 *  per-partition bounds. */
                rd_kafka_queue_t *rkq;
        } * routes;
        size_t route_cnt, route_cap;
        /** Producer topic handles, found by name: first the last one
         *  found, then through ptopic_slots, an open-addressing hash table
         *  of indexes + 1 into ptopics (0: empty), a power of two in size,
         *  at most half full. */
        struct brook__ptopic {
                char *name;
                size_t len;
                uint64_t hash;
                rd_kafka_topic_t *rkt;
                int32_t partition_cnt;
        } * ptopics;
        size_t ptopic_cnt, ptopic_cap;
        size_t *ptopic_slots;
        size_t ptopic_slot_cnt;
        /** The last topics asked for, by the caller's pointer (a store's
         *  changelog name, a sink's topic: the same string each time),
         *  with the index + 1 found (0: none). A hit is checked with
         *  strcmp(), since a pointer may be reused for another name. */
        struct brook__ptopic_recent {
                const char *ptr;
                size_t idx;
        } ptopic_recent[4];
        unsigned ptopic_next; /**< The recent slot the next miss takes. */
        int64_t last_commit;
        /** When the thread last showed it was running (monotonic ms; the
         *  loop's rounds, every 1024 records), the consumer's
         *  session.timeout.ms (0: not read yet), a mark of the thread's CPU
         *  time (ns) and when it was taken (at most once a second), and
         *  the revocations its rebalance callback took
         *  (brook__thr_after_freeze()). */
        int64_t awake_ms, session_ms, cpu_mark_ns, cpu_mark_ms;
        unsigned revokes;
        atomic_bool assigned; /**< Has an assignment (possibly empty). */
        bool failed;
        char delivery_error[512]; /**< First failed delivery, or "". */
        /** Dead-letter records the broker refused as too large, cut
         *  smaller, to produce again (struct brook__redeliver *). */
        brook__ptrvec_t redeliver;

        /* State: this thread's write batch over the app's RocksDB, its
         * record cache, a consumer that reads changelogs to restore (while
         * stores restore: brook__thr_restorer_open()), and
         * the changelog ends of the stores it has had (never freed before
         * the thread, as deliveries write them). */
        brook__stateenv_t env;
        rd_kafka_t *restorer;
        rd_kafka_queue_t *restore_q;
        /** Logged stores of tasks still restoring (restore.c). */
        struct brook__rstore *rstores;
        size_t rstore_cnt, rstore_cap;
        bool restorer_dirty; /**< Its assignment must be redone. */
        /** Restoration in progress: when it started, last progress and
         *  progress line (monotonic ms; started 0: none), records. */
        int64_t restore_started, restore_progress, restore_print;
        int64_t restore_total, restore_done;
        char restore_why[512]; /**< Why the last plan must be retried. */
        /** The store the next step's planning starts at (a rotation:
         *  brook__thread_restore_step()). */
        size_t plan_next;
        /** Input partitions paused while their task restores. */
        rd_kafka_topic_partition_list_t *paused;
        atomic_int tasks_restoring;

        /* A commit that could not complete (the producer cannot deliver:
         * the broker is away) is retried until task.timeout.ms. While it
         * is, processing stops and the assigned partitions are paused. */
        int64_t stall_since; /**< Monotonic ms; 0: not stalled. */
        bool stall_paused;
        /** The revoke callback's commit waits this long for the producer;
         *  with close_dirty it does not commit (the final commit on the way
         *  out could not complete). */
        int revoke_flush_ms;
        bool close_dirty;
        /** Since when, for brook_app_stalled_ms() (0: not stalled), and
         *  why; guarded by app->lock. */
        int64_t stall_since_pub;
        char stall_cause[512];
        /** The producer's last error (its error callback). */
        char last_kafka_error[512];
        struct brook__clslot {
                char *topic;
                int32_t partition;
                int64_t end;
        } * *slots;
        size_t slot_cnt, slot_cap;
        /** Uncommitted batch bytes that trigger an early commit. */
        size_t batch_limit;
        /** buffered.records.per.partition (see struct brook__route). */
        size_t buffer_per_partition;
        /** The consumer's queue, which the main loop waits on: a
         *  partition queue that gets records wakes it. */
        rd_kafka_queue_t *wake_q;
        /** Deleting committed records of repartition topics: when the
         *  last request went (monotonic ms), the queue its answer comes
         *  to, and whether one is under way. */
        int64_t last_purge;
        rd_kafka_queue_t *purge_q;
        bool purging;
        /** A commit's purge waited for the one in flight: sent when its
         *  answer comes, so what the last commit covered is deleted even
         *  if no commit follows. */
        bool purge_again;

        /* Counters published for brook_app_stats(). */
        atomic_llong stat_processed, stat_produced, stat_dlq, stat_commits,
                stat_rebalances, stat_restored, stat_restore_remaining,
                stat_stores_restoring;
        /** rt.drops[], each stored by brook__drop() as it counts (the
         *  thread's drops in all: brook__drops_sum()). */
        atomic_llong stat_drops[BROOK__DROP_CNT];
        atomic_llong stat_enforced; /**< rt.enforced */
        /** Under exactly_once_v2 its consumer reads committed records. */
        bool read_committed;

        /* exactly_once_v2 (see engine/txn.c): the producer is
         * transactional; one transaction per commit. */
        bool eos;
        bool txn_open; /**< A transaction was begun and not ended. */
        /** The offsets a commit's transaction sends and the group metadata
         *  they go with, kept so that a retry sends the same (NULL: the
         *  commit has not started), and whether they were sent. */
        rd_kafka_topic_partition_list_t *txn_offsets;
        rd_kafka_consumer_group_metadata_t *txn_cgmd;
        bool txn_offsets_sent;
        /** commit_transaction() was called for the open transaction: it
         *  can only be committed now (resumed), not aborted. */
        bool txn_committing;
        /** Why the open transaction must abort (a record that could not
         *  be produced or delivered), or "". */
        char txn_abort_why[512];
        /** txn_abort_why is librdkafka's "Erroneous state" of a produce
         *  into a transaction that had failed already: a record's
         *  delivery error, which says why it failed, replaces it. */
        bool txn_abort_why_weak;
        /** After an abort the tasks go back to their committed offsets
         *  (brook__thr_reset_tasks()); set until they have. */
        bool reset_pending;
        /** Transactions aborted since the last commit. */
        int abort_streak;
        /** Why the first transaction of the streak aborted. */
        char abort_first_why[512];
        /** Its uncaught-exception handler said REPLACE_THREAD: it leaves
         *  its loop, closes as a failed thread does, and a new thread
         *  takes its place (brook__app_replace_thread()). */
        bool replace;
        /** The consumer failed fatally (a static member fenced after its
         *  session timed out, say): a new one must join the group. */
        bool consumer_fatal;
        /** The consumer's configuration, to make it again. */
        rd_kafka_conf_t *consumer_conf;
        /** Consumers made again within a minute of each other, and when
         *  the last was (monotonic ms). */
        int consumer_renewals;
        int64_t consumer_renewed;
        /** The producer's configuration, to make it again after a fatal
         *  error, or to drop closed tasks' records (at_least_once). */
        rd_kafka_conf_t *producer_conf;
        /** Records are being purged on purpose: their reports' errors are
         *  expected (brook__thr_producer_discard()). */
        bool discarding;
        atomic_llong stat_aborts;

        /** Metrics (engine/metrics.c). */
        brook__tmetrics_t m;
        /** Its tasks as last published (brook__thr_snapshot(), about once
         *  a second), under snap_lock. */
        pthread_mutex_t snap_lock;
        brook__tsnap_t *snap;
        size_t snap_cnt;
        int64_t snap_at; /**< Monotonic ms; 0: publish at the next turn. */
};

/* ------------------------------------------------ instances (instances.c) */

typedef struct brook__instances brook__instances_t;

/** Whether @p app reads the instances topic: application.server or an
 *  uncaught-exception handler is set. */
bool brook__instances_wanted(const brook_app_t *app);
/** The instances topic's name is "<application.id>" and this. */
const char *brook__instances_topic_suffix(void);
/** Starts publishing this instance's tasks and reading the others' (when
 *  application.server is set; else *@p isp is NULL). */
brook_err_t brook__instances_start(brook_app_t *app, brook__instances_t **isp,
                                   char *errstr, size_t errstr_size);
/** Publishes a tombstone for this instance and frees. NULL-safe. */
void brook__instances_stop(brook__instances_t *is);
/** The application.server of the instance that last said it has task
 *  @p task_id active (and whether it was restoring); false if none did. */
bool brook__instances_owner(brook__instances_t *is, const char *task_id,
                            char *server, size_t server_size, bool *restoring);
/** Every known instance's application.server (this one's too), to free
 *  one by one and then the array. */
size_t brook__instances_servers(brook__instances_t *is, char ***serversp);

/** Frees @p cnt task snapshots @p snap. */
void brook__tsnap_free(brook__tsnap_t *snap, size_t cnt);
/** Adds @p ns to a sum and raises a max with it (metrics). */
static inline void brook__metric_time(atomic_llong *sum, atomic_llong *max,
                                      int64_t ns)
{
        atomic_fetch_add_explicit(sum, ns, memory_order_relaxed);
        if (ns > atomic_load_explicit(max, memory_order_relaxed))
                atomic_store_explicit(max, ns, memory_order_relaxed);
}

/* ------------------------------------------------- transactions (txn.c) */

/** What a transactional call's error asks for, as librdkafka classifies
 *  it. */
typedef enum {
        BROOK__TXN_OK,
        BROOK__TXN_RETRY, /**< Retriable: the same call again. */
        BROOK__TXN_ABORT, /**< The transaction must abort. */
        BROOK__TXN_FATAL, /**< Fatal or fenced: a new producer. */
} brook__txn_res_t;

/** Classifies (and destroys) @p error of call @p what (NULL: OK), saying
 *  why in @p errstr. */
brook__txn_res_t brook__txn_result(rd_kafka_error_t *error, const char *what,
                                   char *errstr, size_t errstr_size);
/**
 * rd_kafka_send_offsets_to_transaction(), guarded: it is waited for up to
 * @p timeout_ms plus a grace. A call that does not return by then is
 * abandoned with its producer (*@p abandonedp true, BROOK__TXN_FATAL):
 * the caller must drop its topic handles and forget @p producer, which is
 * destroyed when the call returns.
 */
brook__txn_res_t brook__txn_send_offsets(
        rd_kafka_t *producer, const rd_kafka_topic_partition_list_t *offsets,
        const rd_kafka_consumer_group_metadata_t *cgmd, int timeout_ms,
        bool *abandonedp, char *errstr, size_t errstr_size);

/** A librdkafka configuration for @p client ("consumer" or "producer")
 *  of stream thread @p idx (-1: the global thread), with brook's defaults
 *  and then the user's settings; client.id ends in @p suffix. */
rd_kafka_conf_t *brook__client_conf(brook_app_t *app, const char *client,
                                    const char *suffix, int idx, char *errstr,
                                    size_t errstr_size);

/**
 * A consumer outside the group, for assign() (restoration, global tables):
 * brook__client_conf() for @p suffix, a group.id never joined
 * ("<application.id>-<suffix>"), no static membership, no commits, EOF
 * events; then the @p extra name/value pairs (NULL-terminated; may be
 * NULL).
 */
rd_kafka_t *brook__assign_consumer_new(brook_app_t *app, int idx,
                                       const char *suffix,
                                       const char *const *extra, char *errstr,
                                       size_t errstr_size);

/* --------------------------------------------------------- global tables */

/** The app's global tables (engine/global.c): their task, the thread that
 *  keeps their stores, and its clients. NULL without global tables. */
typedef struct brook__global brook__global_t;

/**
 * Opens the global stores and brings them up to date with their topics
 * (from the offsets stored with them, or from the start), then starts the
 * global thread that keeps them so. Blocks until restored, or the app
 * stops (BROOK_OK: the caller sees the stop). No-op without global tables.
 */
brook_err_t brook__global_start(brook_app_t *app, char *errstr,
                                size_t errstr_size);
/** Joins the global thread (it leaves once the app stops), writes its
 *  progress and frees everything. NULL-safe; after the stream threads. */
void brook__global_destroy(brook_app_t *app);
/** Adds the global thread's counters to @p stats (under app->lock). */
void brook__global_stats(brook_app_t *app, brook_app_stats_t *stats);
/** Its records dropped for @p reason (under app->lock). */
int64_t brook__global_drops(brook_app_t *app, int reason);
/** brook__runtime_t.global_store of the stream threads. */
struct brook__store *brook__global_store(brook__runtime_t *rt,
                                         const char *name);

brook__thread_t *brook__thread_new(brook_app_t *app, int idx, char *errstr,
                                   size_t errstr_size);
brook_err_t brook__thread_start(brook__thread_t *thr, char *errstr,
                                size_t errstr_size);
/** Joins the thread and frees its clients and tasks; the struct stays,
 *  for its counters, until the caller free()s it. */
void brook__thread_destroy(brook__thread_t *thr);

/** Queues the logged stores of @p task (just opened, RESTORING) for
 *  restoration and marks the task restoring; its other stores become
 *  ACTIVE. Returns false when it has no logged store (nothing to restore:
 *  every store is ACTIVE). Cheap: no I/O. */
bool brook__thread_restore_add(brook__thread_t *thr, brook__task_t *task);
/** Forgets a restoring @p task that is closing (its progress so far is
 *  written: the next owner resumes from it). */
void brook__thread_restore_drop(brook__thread_t *thr, brook__task_t *task);
/**
 * One step of restoration, from the poll loop: plans new stores (reads
 * their changelog's offsets), then applies changelog records for up to
 * about 100 ms (waiting up to @p wait_ms for the first), and writes them
 * with each store's next offset. Tasks whose stores are all restored
 * (stores ACTIVE) are appended to @p ready, no longer restoring. Fails for
 * what the app cannot continue from, or when restoration made no progress
 * for task.timeout.ms.
 */
brook_err_t brook__thread_restore_step(brook__thread_t *thr, int wait_ms,
                                       brook__ptrvec_t *ready, char *errstr,
                                       size_t errstr_size);

/**
 * The thread's restore consumer (thr->restorer, thr->restore_q) lives
 * while its stores restore: made by the first step that needs it (to be
 * assigned: restorer_dirty), closed by the step that finds nothing left
 * to restore (restorer_dirty cleared). An idle consumer still refreshes its
 * topics' metadata (every 20 ms on librdkafka < 2.2, brook__client_conf()): a
 * metadata request 50 times a second to the cluster, and librdkafka's main
 * thread spinning before each, for nothing.
 */
brook_err_t brook__thr_restorer_open(brook__thread_t *thr, char *errstr,
                                     size_t errstr_size);
void brook__thr_restorer_close(brook__thread_t *thr);

/** Bounds of a one-partition scan (encoded keys; NULL: none): keys in
 *  [from, to], starting with prefix, after @c after (exclusive). */
typedef struct brook__iq_bounds {
        const void *from, *to, *prefix, *after;
        size_t from_len, to_len, prefix_len, after_len;
} brook__iq_bounds_t;

/** Takes one entry of a scan (encoded key, encoded value without a
 *  timestamped store's timestamp); an error stops the scan. */
typedef brook_err_t (*brook__iq_entry_fn)(void *opaque,
                                          const brook__storedef_t *def,
                                          const void *key, size_t key_size,
                                          const void *value, size_t value_size);

/**
 * The entries of key-value store @p store in its task for @p partition on
 * this instance, in key order, within @p bounds, at most @p limit of them,
 * each to @p fn; *@p more says whether more follow. BROOK_ERR_NOT_FOUND
 * when the partition is not on this instance (or no such store),
 * BROOK_ERR_STATE when it restores or left during the read (engine/
 * http.c's paged scans across instances).
 */
brook_err_t brook__iq_scan_partition(brook_app_t *app, const char *store,
                                     int32_t partition,
                                     const brook__iq_bounds_t *bounds,
                                     size_t limit, brook__iq_entry_fn fn,
                                     void *opaque, bool *more, char *errstr,
                                     size_t errstr_size);

/** Makes @p st visible to / hides it from interactive queries. */
void brook__app_register_store(brook_app_t *app, brook__store_t *st);
void brook__app_unregister_store(brook_app_t *app, brook__store_t *st);

/** Asks every thread to stop; the first call starts the stop's clock. */
void brook__app_request_stop(brook_app_t *app);
/** Whether a stop was asked for (by brook_app_close(), a fatal error, or a
 *  signal brook_app_run() caught). */
bool brook__app_should_stop(brook_app_t *app);
/** Monotonic ms by which the stop must be done: shutdown.timeout.ms after
 *  it was asked for; INT64_MAX while none was. */
int64_t brook__app_stop_deadline(brook_app_t *app);
/** Milliseconds left until brook__app_stop_deadline() (0 once passed), or
 *  @p otherwise while no stop was asked for. */
int64_t brook__app_stop_left(brook_app_t *app, int64_t otherwise);

/** Records the app's first fatal error and asks every thread to stop. */
void brook__app_fail(brook_app_t *app, const char *msg);
/** A stream thread that exits because its uncaught-exception handler said
 *  BROOK_UNCAUGHT_REPLACE_THREAD, as its last act: a new thread takes slot
 *  @p idx (on a thread of its own, which joins the old one first). */
void brook__app_replace_thread(brook_app_t *app, int idx);
/** Set on a stream thread that is being replaced: the monotonic ms by
 *  which its exit must be done (brook__app_stop_left() uses it while no
 *  stop was asked for); 0 otherwise. */
extern _Thread_local int64_t brook__own_stop_at;
/** Signals every instance to stop (BROOK_UNCAUGHT_SHUTDOWN_APPLICATION)
 *  through the instances topic; waits up to 5 s for the broker. */
void brook__instances_signal_shutdown(brook__instances_t *is, const char *why);
/** The app whose stream or global thread this is (NULL on any other
 *  thread): brook_app_close() on one (a state listener's call) only asks
 *  for the stop, since the thread cannot wait for itself. */
extern _Thread_local brook_app_t *brook__own_app;
/** Sets the state, app->lock held; the listener hears of it at the next
 *  brook__app_state_tell(), which the caller makes once it has let go of
 *  the lock. */
void brook__app_state_set(brook_app_t *app, brook_app_state_t to);
/** Tells the state listener the changes it has not heard of (app->lock
 *  not held). */
void brook__app_state_tell(brook_app_t *app);
/** Called by a thread as it exits its loop. */
void brook__app_thread_exited(brook_app_t *app);
/** Wakes waiters after a thread's assignment changed. */
void brook__app_notify(brook_app_t *app);
/** Sets where stream thread @p idx waits (@p q; NULL: nowhere, before
 *  the queue is destroyed), for a stop to wake it there. */
void brook__app_set_waker(brook_app_t *app, int idx, rd_kafka_queue_t *q);

#endif
