/*
 * brook — windowed aggregation internals shared by window.c (time
 * windows and the DSL calls), sliding.c and session.c.
 */
#ifndef BROOK_WINDOW_INT_H
#define BROOK_WINDOW_INT_H

#include "dsl_int.h"
#include "store_int.h"

typedef enum {
        WIN_COUNT,
        WIN_REDUCE,
        WIN_AGGREGATE,
} win_kind_t;

/* The node's definition opaque, shared by its tasks. */
typedef struct win_op {
        win_kind_t kind;
        brook_windows_t w;
        brook_emit_strategy_t emit;
        brook_initializer_fn init;
        brook_reducer_fn reducer;
        brook_aggregator_fn aggregator;
        brook_merger_fn merger;
        void *opaque;
        char *store; /* In the same allocation. */
} win_op_t;

/* A task's instance. */
typedef struct win_state {
        const win_op_t *op;
        brook_ctx_t *ctx;
        brook__store_t *st;
        bool caching;     /* Results go downstream as the cache writes down. */
        int64_t observed; /* Largest timestamp seen, or -1. */
        int64_t last_close;       /* Last window close time emitted, or -1. */
        int64_t next_emit;        /* Wall clock of the next final emit. */
        int64_t emit_interval_ms; /* Between final emits (wall clock). */
} win_state_t;

/** A windowed key in @p arena. */
brook_windowed_key_t *brook__wkey_new(brook_arena_t *arena, void *key,
                                      int64_t start, int64_t end);
/** Forwards one result now, keyed by @p key and [start, end], with @p
 *  parent's metadata and headers and timestamp @p ts; nothing when the
 *  store's cache forwards (on write-down) or results wait for window
 *  close. */
brook_err_t brook__win_forward(win_state_t *ws, const brook_record_t *parent,
                               void *key, int64_t start, int64_t end,
                               void *value, int64_t ts, char *errstr,
                               size_t errstr_size);
/** The new aggregate of @p old (NULL: none) with @p rec: count, the
 *  reducer (the value itself first), or the aggregator. */
void *brook__win_apply(const win_op_t *op, const brook_record_t *rec,
                       void *old);
/** A new window's initial aggregate (the initializer's, or NULL). */
void *brook__win_initial(const win_op_t *op, const brook_record_t *rec);
/** Forwards the windows of the store starting in [lower, upper], by start
 *  then key, each with its timestamp and @p rec's headers (emit on window
 *  close). */
brook_err_t brook__win_emit_range(win_state_t *ws, const brook_record_t *rec,
                                  int64_t lower, int64_t upper, char *errstr,
                                  size_t errstr_size);

/** Kafka Streams' maybeForwardFinalResult(): under emit on window close,
 *  forwards the windows closed since the last time (at most once per
 *  second of wall clock). */
brook_err_t brook__win_maybe_emit_final(win_state_t *ws,
                                        const brook_record_t *rec,
                                        int64_t close_time, char *errstr,
                                        size_t errstr_size);

/** process() of sliding windows (sliding.c) and sessions (session.c); the
 *  record has a key. */
brook_err_t brook__sliding_process(win_state_t *ws, brook_record_t *rec,
                                   char *errstr, size_t errstr_size);
brook_err_t brook__session_process(win_state_t *ws, brook_record_t *rec,
                                   char *errstr, size_t errstr_size);

#endif
