/*
 * brook — sliding windows (Kafka Streams' KStreamSlidingWindowAggregate,
 * KIP-450), step for step.
 *
 * A window [start, start + d] (d the time difference, both ends inclusive)
 * exists for every distinct set of a key's records within d of each other:
 * each record has a left window ending at its timestamp, and a right window
 * starting 1 ms after it when a later record falls within d. Records
 * earlier than d share the combined window [0, d]. Each record updates
 * the windows it falls in and creates its own.
 *
 * Kafka Streams updates the store while iterating it; brook reads the
 * key's windows first (RocksDB iterators over the thread's uncommitted
 * batch must not see writes meanwhile) and then walks that list with the
 * same steps, so the results are the same.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "window_int.h"

/* A stored aggregate with its timestamp (Kafka Streams' ValueAndTimestamp;
 * "absent" is its null). */
typedef struct vat {
        bool present;
        void *value;
        int64_t ts;
} vat_t;

typedef struct swin {
        int64_t start;
        vat_t agg;
} swin_t;

/* Kafka Streams' ValueAndTimestamp.make(): null for a null value. */
static vat_t vat_make(void *value, int64_t ts)
{
        vat_t v = {.present = value != NULL, .value = value, .ts = ts};
        return v;
}

typedef struct slide {
        win_state_t *ws;
        brook_record_t *rec;
        void *key;
        int64_t ts, d, close_time;
        /* Window starts met in the store. */
        int64_t *starts;
        size_t start_cnt;
} slide_t;

static bool slide_has_start(const slide_t *sl, int64_t start)
{
        size_t i;
        for (i = 0; i < sl->start_cnt; i++)
                if (sl->starts[i] == start)
                        return true;
        return false;
}

/* Kafka Streams' updateWindowAndForward(). */
static brook_err_t slide_update(slide_t *sl, int64_t start, vat_t agg,
                                char *errstr, size_t errstr_size)
{
        win_state_t *ws = sl->ws;
        int64_t end = start + sl->d, new_ts;
        void *old, *next;
        brook_err_t err;

        if (end < sl->close_time) {
                char why[160];
                snprintf(why, sizeof why,
                         "expired window [%" PRId64 ",%" PRId64
                         "]: timestamp %" PRId64 ", expiration %" PRId64
                         ", stream time %" PRId64,
                         start, end, sl->ts, sl->close_time, ws->observed);
                brook__ctx_drop(ws->ctx, sl->rec, BROOK_DROP_LATE, why);
                return BROOK_OK;
        }
        old = agg.present ? agg.value : NULL;
        next = brook__win_apply(ws->op, sl->rec, old);
        new_ts = !old ? sl->ts : (sl->ts > agg.ts ? sl->ts : agg.ts);
        if ((err = brook__windowstore_put_ts((brook_windowstore_t *)ws->st,
                                             sl->key, next, start, new_ts,
                                             errstr, errstr_size)))
                return err;
        return brook__win_forward(ws, sl->rec, sl->key, start, end, next,
                                  new_ts, errstr, errstr_size);
}

/* Kafka Streams' createCurrentRecordRightWindow(): a copy of the right
 * aggregate, as it is. */
static brook_err_t slide_current_right(slide_t *sl, vat_t right, char *errstr,
                                       size_t errstr_size)
{
        win_state_t *ws = sl->ws;
        int64_t start = sl->ts + 1;
        brook_err_t err;
        if ((err = brook__windowstore_put_ts((brook_windowstore_t *)ws->st,
                                             sl->key, right.value, start,
                                             right.ts, errstr, errstr_size)))
                return err;
        return brook__win_forward(ws, sl->rec, sl->key, start, start + sl->d,
                                  right.value, right.ts, errstr, errstr_size);
}

/* Kafka Streams' createPreviousRecordRightWindow(). */
static brook_err_t slide_previous_right(slide_t *sl, int64_t start,
                                        char *errstr, size_t errstr_size)
{
        vat_t init = vat_make(brook__win_initial(sl->ws->op, sl->rec), sl->ts);
        return slide_update(sl, start, init, errstr, errstr_size);
}

static bool right_not_empty(const vat_t *right, int64_t ts)
{
        return right->present && right->ts > ts;
}

/* Kafka Streams' createWindows(). */
static brook_err_t slide_create(slide_t *sl, vat_t right, vat_t left,
                                bool left_created, bool right_created,
                                bool have_prev, int64_t prev, char *errstr,
                                size_t errstr_size)
{
        brook_err_t err;
        if (have_prev) {
                int64_t prev_right = prev + 1;
                if (!slide_has_start(sl, prev_right) &&
                    prev_right + sl->d >= sl->ts &&
                    (err = slide_previous_right(sl, prev_right, errstr,
                                                errstr_size)))
                        return err;
        }
        if (!left_created) {
                vat_t v;
                if (have_prev && sl->ts - sl->d <= prev)
                        v = vat_make(left.present ? left.value : NULL, sl->ts);
                else
                        v = vat_make(brook__win_initial(sl->ws->op, sl->rec),
                                     sl->ts);
                if ((err = slide_update(sl, sl->ts - sl->d, v, errstr,
                                        errstr_size)))
                        return err;
        }
        if (!right_created && right_not_empty(&right, sl->ts))
                return slide_current_right(sl, right, errstr, errstr_size);
        return BROOK_OK;
}

/* The key's windows starting in [from, to], newest first (@p backward) or
 * oldest first, read to the end. */
static brook_err_t slide_read(slide_t *sl, int64_t from, int64_t to,
                              bool backward, swin_t **winsp, size_t *cntp,
                              char *errstr, size_t errstr_size)
{
        brook_windowiter_t *it = NULL;
        swin_t *wins = NULL;
        size_t cnt = 0, cap = 0;
        brook_window_t w;
        void *k, *v;
        int64_t ts;
        brook_err_t err;

        if ((err = brook_windowstore_fetch_range(
                     (brook_windowstore_t *)sl->ws->st, sl->key, from, to,
                     backward, &it, errstr, errstr_size)))
                return err;
        while (!(err = brook__windowiter_next_ts(it, &k, &w, &v, &ts, errstr,
                                                 errstr_size))) {
                if (cnt == cap) {
                        cap = cap ? 2 * cap : 8;
                        wins = brook__xrealloc(wins, cap * sizeof *wins);
                }
                wins[cnt].start = w.start;
                wins[cnt].agg = vat_make(v, ts);
                cnt++;
        }
        brook_windowiter_destroy(it);
        if (err != BROOK_ERR_END) {
                free(wins);
                return err;
        }
        sl->starts = brook__xrealloc(sl->starts,
                                     (cnt ? cnt : 1) * sizeof *sl->starts);
        *winsp = wins;
        *cntp = cnt;
        return BROOK_OK;
}

/* Kafka Streams' processReverse(). */
static brook_err_t slide_reverse(slide_t *sl, char *errstr, size_t errstr_size)
{
        vat_t left = {0}, right = {0};
        bool left_created = false, right_created = false, have_prev = false;
        int64_t prev = 0, lo = sl->ts - 2 * sl->d;
        swin_t *wins = NULL;
        size_t cnt = 0, i;
        brook_err_t err;

        if ((err = slide_read(sl, lo > 0 ? lo : 0, sl->ts + 1, true, &wins,
                              &cnt, errstr, errstr_size)))
                return err;
        for (i = 0; i < cnt; i++) {
                int64_t start = wins[i].start, end = start + sl->d;
                int64_t max_ts = wins[i].agg.ts;
                sl->starts[sl->start_cnt++] = start;
                if (start == sl->ts + 1) {
                        right_created = true;
                } else if (end > sl->ts) {
                        if (!right.present)
                                right = wins[i].agg;
                        if ((err = slide_update(sl, start, wins[i].agg, errstr,
                                                errstr_size)))
                                goto out;
                } else if (end == sl->ts) {
                        left_created = true;
                        if ((err = slide_update(sl, start, wins[i].agg, errstr,
                                                errstr_size)))
                                goto out;
                        if (max_ts < sl->ts) {
                                have_prev = true;
                                prev = max_ts;
                        } else {
                                goto out; /* Kafka Streams returns here. */
                        }
                } else {
                        left = wins[i].agg;
                        have_prev = true;
                        prev = max_ts;
                        break;
                }
        }
        err = slide_create(sl, right, left, left_created, right_created,
                           have_prev, prev, errstr, errstr_size);
out:
        free(wins);
        return err;
}

/* Kafka Streams' processEarly(): records before d share [0, d]. */
static brook_err_t slide_early(slide_t *sl, char *errstr, size_t errstr_size)
{
        vat_t right = {0}, combined = {0};
        bool have_combined = false, right_created = false, have_prev = false;
        int64_t prev = 0;
        swin_t *wins = NULL;
        size_t cnt = 0, i;
        brook_err_t err;

        if ((err = slide_read(sl, 0, sl->ts + 1, false, &wins, &cnt, errstr,
                              errstr_size)))
                return err;
        for (i = 0; i < cnt; i++) {
                int64_t start = wins[i].start;
                sl->starts[sl->start_cnt++] = start;
                if (start == 0) {
                        combined = wins[i].agg;
                        have_combined = true;
                        if (combined.ts < sl->ts) {
                                have_prev = true;
                                prev = combined.ts;
                        }
                } else if (start <= sl->ts) {
                        right = wins[i].agg;
                        if ((err = slide_update(sl, start, wins[i].agg, errstr,
                                                errstr_size)))
                                goto out;
                } else if (start == sl->ts + 1) {
                        right_created = true;
                }
        }
        if (!right.present && have_combined && combined.present &&
            combined.ts > sl->ts)
                right = combined;
        if (!right_created && right_not_empty(&right, sl->ts) &&
            (err = slide_current_right(sl, right, errstr, errstr_size)))
                goto out;
        if (have_prev && !slide_has_start(sl, prev + 1) &&
            (err = slide_previous_right(sl, prev + 1, errstr, errstr_size)))
                goto out;
        if (!have_combined)
                err = slide_update(
                        sl, 0,
                        vat_make(brook__win_initial(sl->ws->op, sl->rec),
                                 sl->ts),
                        errstr, errstr_size);
        else
                err = slide_update(sl, 0, combined, errstr, errstr_size);
out:
        free(wins);
        return err;
}

brook_err_t brook__sliding_process(win_state_t *ws, brook_record_t *rec,
                                   char *errstr, size_t errstr_size)
{
        slide_t sl = {
                .ws = ws,
                .rec = rec,
                .key = brook_record_key(rec),
                .ts = brook_record_timestamp(rec),
                .d = ws->op->w.size_ms,
        };
        brook_err_t err;

        /* Kafka Streams' sliding windows skip null values too. */
        if (!brook_record_value(rec)) {
                brook__ctx_drop(ws->ctx, rec, BROOK_DROP_NULL_VALUE,
                                "null value");
                return BROOK_OK;
        }
        if (sl.ts > ws->observed)
                ws->observed = sl.ts;
        sl.close_time = ws->observed - ws->op->w.grace_ms;
        if (sl.ts + sl.d < sl.close_time) {
                char why[160];
                snprintf(why, sizeof why,
                         "expired window [%" PRId64 ",%" PRId64
                         "]: timestamp %" PRId64 ", expiration %" PRId64
                         ", stream time %" PRId64,
                         sl.ts, sl.ts + sl.d, sl.ts, sl.close_time,
                         ws->observed);
                brook__ctx_drop(ws->ctx, rec, BROOK_DROP_LATE, why);
                return BROOK_OK;
        }
        if (sl.ts < sl.d) {
                /* Kafka Streams returns after processEarly(): no final
                 * results are emitted for early records. */
                err = slide_early(&sl, errstr, errstr_size);
                free(sl.starts);
                return err;
        }
        err = slide_reverse(&sl, errstr, errstr_size);
        free(sl.starts);
        if (err)
                return err;
        return brook__win_maybe_emit_final(ws, rec, sl.close_time, errstr,
                                           errstr_size);
}
