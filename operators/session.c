/*
 * brook — session windows (Kafka Streams' KStreamSessionWindowAggregate),
 * step for step.
 *
 * A record at t joins every session of its key that ends at or after
 * t - gap and starts at or before t + gap: they merge (their aggregates
 * through the merger, starting from the initializer's) into one session
 * spanning them all and t. The sessions merged away are removed, and a
 * tombstone goes downstream for each; the merged session's new aggregate
 * follows. Results are stamped with their session's end.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "window_int.h"

typedef struct sess {
        int64_t start, end;
        void *agg;
} sess_t;

/* The merger of the aggregation: count adds, reduce reduces (Kafka
 * Streams' mergerForAggregator(aggregatorForReducer())), aggregate calls
 * the user's. */
static void *sess_merge(win_state_t *ws, const brook_record_t *rec, void *a,
                        void *b)
{
        const win_op_t *op = ws->op;
        brook_record_t *tmp;
        switch (op->kind) {
        case WIN_COUNT:
                return brook_int64_new(brook_record_arena(rec),
                                       (a ? *(int64_t *)a : 0) +
                                               (b ? *(int64_t *)b : 0));
        case WIN_REDUCE:
                if (!a)
                        return b;
                /* reducer(aggOne, aggTwo): the reducer reads the second
                 * from a record's value. */
                tmp = brook_ctx_record_new(ws->ctx, rec, brook_record_key(rec),
                                           b, brook_record_timestamp(rec));
                return op->reducer(tmp, a, op->opaque);
        case WIN_AGGREGATE:
                return op->merger(rec, a, b, op->opaque);
        }
        return NULL;
}

brook_err_t brook__session_process(win_state_t *ws, brook_record_t *rec,
                                   char *errstr, size_t errstr_size)
{
        const win_op_t *op = ws->op;
        brook_sessionstore_t *store = (brook_sessionstore_t *)ws->st;
        void *key = brook_record_key(rec);
        int64_t ts = brook_record_timestamp(rec), gap = op->w.size_ms;
        int64_t close_time, start = ts, end = ts;
        brook_windowiter_t *it = NULL;
        sess_t *merged = NULL;
        size_t cnt = 0, cap = 0, i;
        brook_window_t w;
        void *agg, *k, *v;
        brook_err_t err;

        if (ts > ws->observed)
                ws->observed = ts;
        close_time = ws->observed - op->w.grace_ms - gap;
        agg = brook__win_initial(op, rec);
        /* Read first, then write: see sliding.c. */
        if ((err = brook_sessionstore_find_sessions(store, key, ts - gap,
                                                    ts + gap, false, &it,
                                                    errstr, errstr_size)))
                return err;
        while (!(err = brook_windowiter_next(it, &k, &w, &v, errstr,
                                             errstr_size))) {
                if (cnt == cap) {
                        cap = cap ? 2 * cap : 4;
                        merged = brook__xrealloc(merged, cap * sizeof *merged);
                }
                merged[cnt].start = w.start;
                merged[cnt].end = w.end;
                merged[cnt].agg = v;
                cnt++;
                agg = sess_merge(ws, rec, agg, v);
                if (w.start < start)
                        start = w.start;
                if (w.end > end)
                        end = w.end;
        }
        brook_windowiter_destroy(it);
        if (err != BROOK_ERR_END)
                goto out;
        err = BROOK_OK;
        if (end < close_time) {
                char why[160];
                snprintf(why, sizeof why,
                         "expired window [%" PRId64 ",%" PRId64
                         "]: timestamp %" PRId64 ", expiration %" PRId64
                         ", stream time %" PRId64,
                         start, end, ts, close_time, ws->observed);
                brook__ctx_drop(ws->ctx, rec, BROOK_DROP_LATE, why);
        } else {
                if (start != ts || end != ts) {
                        for (i = 0; i < cnt && !err; i++) {
                                err = brook_sessionstore_put(
                                        store, key, merged[i].start,
                                        merged[i].end, NULL, errstr,
                                        errstr_size);
                                if (!err)
                                        err = brook__win_forward(
                                                ws, rec, key, merged[i].start,
                                                merged[i].end, NULL,
                                                merged[i].end, errstr,
                                                errstr_size);
                        }
                        if (err)
                                goto out;
                }
                agg = brook__win_apply(op, rec, agg);
                if ((err = brook__sessionstore_put_ts(store, key, start, end,
                                                      agg, end, errstr,
                                                      errstr_size)) ||
                    (err = brook__win_forward(ws, rec, key, start, end, agg,
                                              end, errstr, errstr_size)))
                        goto out;
        }
        err = brook__win_maybe_emit_final(ws, rec, close_time, errstr,
                                          errstr_size);
out:
        free(merged);
        return err;
}
