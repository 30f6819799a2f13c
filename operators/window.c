/*
 * brook — windowed aggregations (Kafka Streams' TimeWindowedKStreamImpl,
 * KStreamWindowAggregate and AbstractKStreamTimeWindowAggregateProcessor,
 * KStreamSlidingWindowAggregate, KStreamSessionWindowAggregate).
 *
 * windowed_by only remembers the windows; each aggregation adds, in Kafka
 * Streams' order, its store name, its processor name and (after a key
 * change) the repartition, as aggregate.c does for plain aggregations. The
 * processor keeps one timestamped aggregate per key and window in a window
 * store (a session store for sessions) and forwards each new result keyed
 * by a brook_windowed_key_t: at once, through the store's cache as it
 * writes down, or (emit on window close) when stream time closes the
 * window.
 *
 * Stream time here is the processor's own observed time, the largest
 * timestamp it has seen, as in Kafka Streams.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "window_int.h"

/* ----------------------------------------------------------------- windows */

brook_windows_t brook_windows_tumbling(int64_t size_ms, int64_t grace_ms)
{
        return (brook_windows_t){.kind = BROOK_WINDOWS_TIME,
                                 .size_ms = size_ms,
                                 .advance_ms = size_ms,
                                 .grace_ms = grace_ms};
}

brook_windows_t brook_windows_hopping(int64_t size_ms, int64_t advance_ms,
                                      int64_t grace_ms)
{
        return (brook_windows_t){.kind = BROOK_WINDOWS_TIME,
                                 .size_ms = size_ms,
                                 .advance_ms = advance_ms,
                                 .grace_ms = grace_ms};
}

brook_windows_t brook_windows_sliding(int64_t time_difference_ms,
                                      int64_t grace_ms)
{
        return (brook_windows_t){.kind = BROOK_WINDOWS_SLIDING,
                                 .size_ms = time_difference_ms,
                                 .grace_ms = grace_ms};
}

brook_windows_t brook_windows_session(int64_t inactivity_gap_ms,
                                      int64_t grace_ms)
{
        return (brook_windows_t){.kind = BROOK_WINDOWS_SESSION,
                                 .size_ms = inactivity_gap_ms,
                                 .grace_ms = grace_ms};
}

struct brook_windowed_stream_s {
        brook_grouped_t *g;
        brook_windows_t w;
        brook_emit_strategy_t emit;
};

/* Kafka Streams' checks, in its words where it has them. */
static bool windows_bad(brook_builder_t *b, const brook_windows_t *w)
{
        char why[256];
        if (!brook__version_ok(w->version, BROOK_WINDOWS_VERSION,
                               "brook_windows_t", why, sizeof why)) {
                brook__builder_fail(b, NULL, 0, "brook_grouped_windowed_by: %s",
                                    why);
                return true;
        }
        if (w->kind != BROOK_WINDOWS_TIME && w->kind != BROOK_WINDOWS_SLIDING &&
            w->kind != BROOK_WINDOWS_SESSION) {
                brook__builder_fail(b, NULL, 0,
                                    "brook_grouped_windowed_by: unknown "
                                    "windows kind %d",
                                    (int)w->kind);
                return true;
        }
        if (w->size_ms <= 0) {
                brook__builder_fail(
                        b, NULL, 0,
                        "brook_grouped_windowed_by: %s must be larger than "
                        "zero, got %" PRId64,
                        w->kind == BROOK_WINDOWS_TIME      ? "window size"
                        : w->kind == BROOK_WINDOWS_SLIDING ? "time difference"
                                                           : "inactivity gap",
                        w->size_ms);
                return true;
        }
        if (w->grace_ms < 0) {
                brook__builder_fail(b, NULL, 0,
                                    "brook_grouped_windowed_by: grace period "
                                    "must not be negative, got %" PRId64,
                                    w->grace_ms);
                return true;
        }
        if (w->kind == BROOK_WINDOWS_TIME &&
            (w->advance_ms <= 0 || w->advance_ms > w->size_ms)) {
                brook__builder_fail(b, NULL, 0,
                                    "brook_grouped_windowed_by: window "
                                    "advance interval should be more than "
                                    "zero and less than or equal to window "
                                    "duration, got advance %" PRId64
                                    " and size %" PRId64,
                                    w->advance_ms, w->size_ms);
                return true;
        }
        return false;
}

brook_windowed_stream_t *brook_grouped_windowed_by(brook_grouped_t *g,
                                                   const brook_windows_t *w)
{
        brook_windowed_stream_t *ws;
        if (!g)
                return NULL;
        if (!w) {
                brook__builder_fail(g->b, NULL, 0,
                                    "brook_grouped_windowed_by: windows are "
                                    "NULL");
                return NULL;
        }
        if (windows_bad(g->b, w))
                return NULL;
        ws = brook__xcalloc(1, sizeof *ws);
        ws->g = g;
        ws->w = *w;
        ws->emit = BROOK_EMIT_ON_WINDOW_UPDATE;
        brook__builder_keep(g->b, ws);
        return ws;
}

brook_windowed_stream_t *
brook_windowed_emit_strategy(brook_windowed_stream_t *ws,
                             brook_emit_strategy_t strategy)
{
        if (!ws)
                return NULL;
        if (strategy != BROOK_EMIT_ON_WINDOW_UPDATE &&
            strategy != BROOK_EMIT_ON_WINDOW_CLOSE) {
                brook__builder_fail(ws->g->b, NULL, 0,
                                    "brook_windowed_emit_strategy: unknown "
                                    "strategy %d",
                                    (int)strategy);
                return NULL;
        }
        ws->emit = strategy;
        return ws;
}

/* ------------------------------------------------------------ aggregation */

/* A windowed key in the arena of @p rec. */
brook_windowed_key_t *brook__wkey_new(brook_arena_t *arena, void *key,
                                      int64_t start, int64_t end)
{
        brook_windowed_key_t *wk = brook_arena_alloc(arena, sizeof *wk);
        wk->key = key;
        wk->window.start = start;
        wk->window.end = end;
        return wk;
}

/* The cache writes a result down: it goes downstream, stamped with the
 * result's timestamp (Kafka Streams' TimestampedCacheFlushListener). */
static brook_err_t win_cache_emit(brook__store_t *st, const void *key,
                                  size_t key_size, const void *value,
                                  size_t value_size, int64_t ts, void *opaque,
                                  char *errstr, size_t errstr_size)
{
        win_state_t *ws = opaque;
        const brook__storedef_t *def = st->def;
        brook_record_t *rec =
                brook_ctx_record_new(ws->ctx, NULL, NULL, NULL, ts);
        brook_arena_t *arena = brook_record_arena(rec);
        void *k = NULL, *v = NULL;
        size_t n;
        int64_t start, end;
        brook_err_t err;

        if (!brook__segkey_decode(def->kind, key, key_size, &n, &start, &end)) {
                brook__seterr(errstr, errstr_size,
                              "store \"%s\": a cached key of %zu bytes has "
                              "no window",
                              def->name, key_size);
                return BROOK_ERR_STATE;
        }
        if (def->kind == BROOK__STORE_SESSION)
                ts = end; /* Kafka Streams' SessionCacheFlushListener */
        else if (value && !brook__ts_value_split(value, value_size, &ts, &value,
                                                 &value_size)) {
                brook__seterr(errstr, errstr_size,
                              "store \"%s\": a cached value of %zu bytes has "
                              "no timestamp",
                              def->name, value_size);
                return BROOK_ERR_STATE;
        }
        key = brook__serde_stable(def->key_serde, key, n, arena);
        if ((err = brook_serde_deserialize(def->key_serde, key, n, arena, &k,
                                           errstr, errstr_size)))
                return err;
        if (value) {
                value = brook__serde_stable(def->value_serde, value, value_size,
                                            arena);
                if ((err = brook_serde_deserialize(def->value_serde, value,
                                                   value_size, arena, &v,
                                                   errstr, errstr_size)))
                        return err;
        }
        rec->key = brook__wkey_new(arena, k, start,
                                   def->kind == BROOK__STORE_SESSION
                                           ? end
                                           : start + def->window_ms);
        rec->value = v;
        rec->timestamp = ts;
        return brook_ctx_forward(ws->ctx, rec, errstr, errstr_size);
}

static brook_err_t win_init(brook_ctx_t *ctx, void *opaque, void **statep,
                            char *errstr, size_t errstr_size)
{
        const win_op_t *op = opaque;
        win_state_t *ws = brook__xcalloc(1, sizeof *ws);
        brook_err_t err;

        ws->op = op;
        ws->ctx = ctx;
        ws->observed = -1;
        ws->last_close = -1;
        ws->next_emit = 0;
        /* Kafka Streams' EMIT_INTERVAL_MS_KSTREAMS_WINDOWED_AGGREGATION. */
        ws->emit_interval_ms =
                brook__ctx_conf_int(ctx, BROOK__EMIT_INTERVAL_WINDOWED);
        err = brook__ctx_store(ctx, op->store,
                               op->w.kind == BROOK_WINDOWS_SESSION
                                       ? BROOK__STORE_SESSION
                                       : BROOK__STORE_WINDOW,
                               &ws->st, errstr, errstr_size);
        if (err) {
                free(ws);
                return BROOK_ERR_STATE;
        }
        /* On window close, results go out only as windows close, whatever
         * the cache does (Kafka Streams gives that forwarder no cache
         * listener). */
        ws->caching = brook__store_caching(ws->st) &&
                      op->emit == BROOK_EMIT_ON_WINDOW_UPDATE;
        if (ws->caching)
                brook__store_set_emit(ws->st, win_cache_emit, ws);
        *statep = ws;
        return BROOK_OK;
}

static void win_close(brook_ctx_t *ctx, void *state)
{
        win_state_t *ws = state;
        (void)ctx;
        if (ws->caching)
                brook__store_set_emit(ws->st, NULL, NULL);
        free(ws);
}

/* Forwards one result now (unless the cache will). */
brook_err_t brook__win_forward(win_state_t *ws, const brook_record_t *parent,
                               void *key, int64_t start, int64_t end,
                               void *value, int64_t ts, char *errstr,
                               size_t errstr_size)
{
        brook_record_t *out;
        if (ws->caching || ws->op->emit != BROOK_EMIT_ON_WINDOW_UPDATE)
                return BROOK_OK;
        out = brook_ctx_record_new(ws->ctx, parent, NULL, value, ts);
        out->key = brook__wkey_new(brook_record_arena(out), key, start, end);
        return brook_ctx_forward(ws->ctx, out, errstr, errstr_size);
}

/* The new aggregate of @p old (NULL: none yet) with @p rec. */
void *brook__win_apply(const win_op_t *op, const brook_record_t *rec, void *old)
{
        const int64_t *cnt;
        switch (op->kind) {
        case WIN_COUNT:
                cnt = old;
                return brook_int64_new(brook_record_arena(rec),
                                       (cnt ? *cnt : 0) + 1);
        case WIN_REDUCE:
                /* Kafka Streams' aggregatorForReducer(): the first value
                 * as it is (even null), then the reducer. */
                return old ? op->reducer(rec, old, op->opaque)
                           : brook_record_value(rec);
        case WIN_AGGREGATE:
                return op->aggregator(rec, old, op->opaque);
        }
        return NULL;
}

/* The initial aggregate of a new window. */
void *brook__win_initial(const win_op_t *op, const brook_record_t *rec)
{
        if (op->kind == WIN_AGGREGATE)
                return op->init(rec, op->opaque);
        return NULL;
}

/* Kafka Streams' TimeWindows.windowsFor(): the first window start. */
static int64_t time_first_start(const brook_windows_t *w, int64_t ts)
{
        int64_t s = ts - w->size_ms + w->advance_ms;
        if (s < 0)
                s = 0;
        return s / w->advance_ms * w->advance_ms;
}

/* ------------------------------------------------------- window close */

typedef struct final_ent {
        unsigned char *key; /* the store's bytes key */
        size_t key_size;
        unsigned char *value;
        size_t value_size;
        int64_t start, end;
        int64_t time; /* what orders it: the start, or a session's end */
        size_t n;     /* bytes of the key's key */
} final_ent_t;

static int final_cmp(const void *a, const void *b)
{
        const final_ent_t *x = a, *y = b;
        size_t n = x->n < y->n ? x->n : y->n;
        int c;
        /* Kafka Streams' time-ordered stores: window start, then key bytes;
         * sessions by end, then start, then key bytes. */
        if (x->time != y->time)
                return x->time < y->time ? -1 : 1;
        if (x->start != y->start)
                return x->start < y->start ? -1 : 1;
        c = memcmp(x->key, y->key, n);
        if (c)
                return c;
        if (x->n != y->n)
                return x->n < y->n ? -1 : 1;
        return 0;
}

/* Forwards the windows starting (sessions: ending) in [lower, upper], in
 * that time's order then key order, each with its timestamp (a session's
 * end) and @p rec's headers. */
brook_err_t brook__win_emit_range(win_state_t *ws, const brook_record_t *rec,
                                  int64_t lower, int64_t upper, char *errstr,
                                  size_t errstr_size)
{
        brook__store_t *st = ws->st;
        const brook__storedef_t *def = st->def;
        bool session = def->kind == BROOK__STORE_SESSION;
        /* Sessions ending at or after lower (that started at any time);
         * those ending past upper are left out below. */
        brook__segfetch_t f = {.tfrom = lower,
                               .tto = session ? INT64_MAX : upper,
                               .time_ordered = true};
        brook_kvbytes_iter_t *it = NULL;
        final_ent_t *ents = NULL;
        size_t cnt = 0, cap = 0, i;
        const void *k, *v;
        size_t ksz, vsz;
        char why[512];
        brook_err_t err;
        why[0] = '\0';

        if ((err = brook__store_write_pending(st))) {
                brook__seterr(errstr, errstr_size, "%s", st->errbuf);
                return err;
        }
        if ((err = brook__segmented_fetch(st->inner, &f, &it, why,
                                          sizeof why))) {
                brook__seterr(errstr, errstr_size, "store \"%s\": fetch: %s",
                              def->name, why);
                return err;
        }
        while (!(err = it->next(it, &k, &ksz, &v, &vsz, why, sizeof why))) {
                final_ent_t *e, tmp;
                brook__segkey_decode(def->kind, k, ksz, &tmp.n, &tmp.start,
                                     &tmp.end);
                if (session && tmp.end > upper)
                        continue;
                if (cnt == cap) {
                        cap = cap ? 2 * cap : 64;
                        ents = brook__xrealloc(ents, cap * sizeof *ents);
                }
                e = &ents[cnt++];
                *e = tmp;
                e->time = session ? tmp.end : tmp.start;
                e->key = brook__xmalloc(ksz);
                memcpy(e->key, k, ksz);
                e->key_size = ksz;
                e->value = brook__xmalloc(vsz ? vsz : 1);
                memcpy(e->value, v, vsz);
                e->value_size = vsz;
        }
        it->destroy(it);
        if (err != BROOK_ERR_END) {
                brook__seterr(errstr, errstr_size, "store \"%s\": fetch: %s",
                              def->name, why);
                goto out;
        }
        err = BROOK_OK;
        qsort(ents, cnt, sizeof *ents, final_cmp);
        for (i = 0; i < cnt && !err; i++) {
                final_ent_t *e = &ents[i];
                brook_record_t *out =
                        brook_ctx_record_new(ws->ctx, rec, NULL, NULL, 0);
                brook_arena_t *arena = brook_record_arena(out);
                const void *val;
                size_t val_size;
                int64_t ts;
                void *key = NULL, *value = NULL;
                if (!def->timestamped) {
                        ts = e->end;
                        val = e->value;
                        val_size = e->value_size;
                } else if (!brook__ts_value_split(e->value, e->value_size, &ts,
                                                  &val, &val_size)) {
                        brook__seterr(errstr, errstr_size,
                                      "store \"%s\": a value has no timestamp",
                                      def->name);
                        err = BROOK_ERR_STATE;
                        break;
                }
                if ((err = brook_serde_deserialize(
                             def->key_serde,
                             brook_arena_memdup(arena, e->key, e->n), e->n,
                             arena, &key, errstr, errstr_size)) ||
                    (err = brook_serde_deserialize(
                             def->value_serde,
                             brook_arena_memdup(arena, val, val_size), val_size,
                             arena, &value, errstr, errstr_size)))
                        break;
                out->key = brook__wkey_new(arena, key, e->start,
                                           session ? e->end
                                                   : e->start + def->window_ms);
                out->value = value;
                out->timestamp = ts;
                err = brook_ctx_forward(ws->ctx, out, errstr, errstr_size);
        }
out:
        for (i = 0; i < cnt; i++) {
                free(ents[i].key);
                free(ents[i].value);
        }
        free(ents);
        return err;
}

/* Whether windowsFor(a) and windowsFor(b) are the same windows. */
static bool time_same_windows(const brook_windows_t *w, int64_t a, int64_t b)
{
        int64_t sa = time_first_start(w, a), sb = time_first_start(w, b);
        int64_t ea = a < 0 ? -1 : a, eb = b < 0 ? -1 : b;
        /* The starts run from the first up to the timestamp, by advance. */
        if (ea < sa && eb < sb)
                return true;
        if (ea < sa || eb < sb)
                return false;
        return sa == sb &&
               (ea - sa) / w->advance_ms == (eb - sb) / w->advance_ms;
}

brook_err_t brook__win_maybe_emit_final(win_state_t *ws,
                                        const brook_record_t *rec,
                                        int64_t close_time, char *errstr,
                                        size_t errstr_size)
{
        const brook_windows_t *w = &ws->op->w;
        int64_t now, upper, lower, last = ws->last_close;
        brook_err_t err;

        if (ws->op->emit != BROOK_EMIT_ON_WINDOW_CLOSE)
                return BROOK_OK;
        /* Kafka Streams' shouldEmitFinal(): at most once per emit interval
         * of the wall clock, and only when the close time moved. */
        now = brook_ctx_wall_clock(ws->ctx);
        if (now < ws->next_emit)
                return BROOK_OK;
        ws->next_emit = now + ws->emit_interval_ms;
        if (last != -1 && last >= close_time)
                return BROOK_OK;
        /* emitRangeUpperBound / LowerBound / shouldRangeFetch of each. */
        switch (w->kind) {
        case BROOK_WINDOWS_TIME:
                upper = close_time - w->size_ms;
                if (upper < 0)
                        return BROOK_OK;
                lower = last == -1 ? 0
                                   : (last - w->size_ms > 0 ? last - w->size_ms
                                                            : 0) +
                                             1;
                if (last != -1 && time_same_windows(w, upper, lower - 1))
                        return BROOK_OK;
                break;
        case BROOK_WINDOWS_SLIDING:
                upper = close_time - w->size_ms - 1;
                if (upper < 0)
                        return BROOK_OK;
                lower = last == -1 ? 0
                                   : (last - w->size_ms > 0 ? last - w->size_ms
                                                            : 0);
                break;
        default: /* sessions: by end time */
                upper = close_time - 1;
                if (upper < 0)
                        return BROOK_OK;
                lower = last > 0 ? last : 0;
                if (upper < lower)
                        return BROOK_OK;
                break;
        }
        if ((err = brook__win_emit_range(ws, rec, lower, upper, errstr,
                                         errstr_size)))
                return err;
        ws->last_close = close_time;
        return BROOK_OK;
}

/* ---------------------------------------------------------- time windows */

static brook_err_t time_process(win_state_t *ws, brook_record_t *rec,
                                char *errstr, size_t errstr_size)
{
        const win_op_t *op = ws->op;
        const brook_windows_t *w = &op->w;
        brook_windowstore_t *store = (brook_windowstore_t *)ws->st;
        void *key = brook_record_key(rec);
        int64_t ts = brook_record_timestamp(rec), start, close_time;
        brook_err_t err;

        if (ts > ws->observed)
                ws->observed = ts;
        close_time = ws->observed - w->grace_ms;
        for (start = time_first_start(w, ts); start <= ts;
             start += w->advance_ms) {
                int64_t end = start + w->size_ms, old_ts, new_ts;
                void *old = NULL, *agg;
                if (end <= close_time) {
                        char why[160];
                        snprintf(why, sizeof why,
                                 "expired window [%" PRId64 ",%" PRId64
                                 "): timestamp %" PRId64 ", expiration %" PRId64
                                 ", stream time %" PRId64,
                                 start, end, ts, close_time, ws->observed);
                        brook__ctx_drop(ws->ctx, rec, BROOK_DROP_LATE, why);
                        continue;
                }
                err = brook__windowstore_fetch_ts(store, key, start, &old,
                                                  &old_ts, errstr, errstr_size);
                if (err && err != BROOK_ERR_NOT_FOUND)
                        return err;
                if (!old) {
                        old = brook__win_initial(op, rec);
                        new_ts = ts;
                } else {
                        new_ts = ts > old_ts ? ts : old_ts;
                }
                agg = brook__win_apply(op, rec, old);
                if ((err = brook__windowstore_put_ts(store, key, agg, start,
                                                     new_ts, errstr,
                                                     errstr_size)) ||
                    (err = brook__win_forward(ws, rec, key, start, end, agg,
                                              new_ts, errstr, errstr_size)))
                        return err;
        }
        return brook__win_maybe_emit_final(ws, rec, close_time, errstr,
                                           errstr_size);
}

static brook_err_t win_process(brook_ctx_t *ctx, brook_record_t *rec,
                               void *state, char *errstr, size_t errstr_size)
{
        win_state_t *ws = state;
        (void)ctx;
        /* Kafka Streams: "Skipping record due to null key", counted in
         * dropped-records. Null values are aggregated. */
        if (!brook_record_key(rec)) {
                brook__ctx_drop(ws->ctx, rec, BROOK_DROP_NULL_KEY, "null key");
                return BROOK_OK;
        }
        switch (ws->op->w.kind) {
        case BROOK_WINDOWS_TIME:
                return time_process(ws, rec, errstr, errstr_size);
        case BROOK_WINDOWS_SLIDING:
                return brook__sliding_process(ws, rec, errstr, errstr_size);
        case BROOK_WINDOWS_SESSION:
                return brook__session_process(ws, rec, errstr, errstr_size);
        }
        return BROOK_OK;
}

/* ------------------------------------------------------------ the DSL */

/* Adds the windowed aggregation @p op over @p ws: store (window or session,
 * timestamped, with retention), processor, repartition if needed. */
static brook_table_t *win_add(brook_windowed_stream_t *ws, const win_op_t *op,
                              const brook_serde_t *value_serde,
                              const brook_materialized_t *m, const char *func)
{
        brook_builder_t *b = ws->g->b;
        const brook_windows_t *w = &ws->w;
        brook_processor_def_t def = {.init = win_init,
                                     .process = win_process,
                                     .close = win_close,
                                     .opaque_destroy = free};
        brook__grouped_prep_t p;
        brook_materialized_t mat = {0};
        brook_window_store_opts_t opts = {0};
        const brook_serde_t *wkey_serde = NULL;
        brook_table_t *t = NULL;
        win_op_t *copy;
        const char *parent;
        char why[256];
        size_t slen;
        /* Kafka Streams' minimum retentions; sliding windows need the
         * windows up to 2 * d back to create right windows. */
        int64_t min_retention =
                (w->kind == BROOK_WINDOWS_SLIDING ? 2 * w->size_ms
                                                  : w->size_ms) +
                w->grace_ms;

        if (m && !brook__version_ok(m->version, BROOK_MATERIALIZED_VERSION,
                                    "brook_materialized_t", why, sizeof why)) {
                brook__builder_fail(b, NULL, 0, "%s: %s", func, why);
                return NULL;
        }
        if (brook__dsl_versioned_refused(b, m, func))
                return NULL;
        if (m) {
                mat = *m;
                if (m->version < 2)
                        mat.retention_ms = 0;
        }
        opts.retention_ms = mat.retention_ms ? mat.retention_ms : min_retention;
        if (opts.retention_ms < min_retention) {
                /* Kafka Streams' WindowStoreMaterializer message. */
                brook__builder_fail(
                        b, NULL, 0,
                        "%s: the retention period of the %s store %s must be "
                        "no smaller than %s plus the grace period. Got "
                        "size=[%" PRId64 "], grace=[%" PRId64
                        "], retention=[%" PRId64 "]",
                        func,
                        w->kind == BROOK_WINDOWS_SESSION ? "session" : "window",
                        mat.name ? mat.name : "(generated)",
                        w->kind == BROOK_WINDOWS_TIME ? "its window size"
                        : w->kind == BROOK_WINDOWS_SLIDING
                                ? "2 * time difference"
                                : "the session inactivity gap",
                        w->size_ms, w->grace_ms, opts.retention_ms);
                return NULL;
        }
        if (brook__grouped_prepare(ws->g, m, op->kind == WIN_REDUCE, func, &p))
                return NULL;
        if (mat.value_serde)
                value_serde = mat.value_serde;
        slen = strlen(p.store) + 1;
        copy = brook__xcalloc(1, sizeof *copy + slen);
        *copy = *op;
        copy->w = *w;
        copy->emit = ws->emit;
        copy->store = memcpy((char *)(copy + 1), p.store, slen);
        def.opaque = copy;
        parent = p.s->node;
        if (brook_builder_add_processor(b, p.name, &def, &parent, 1, NULL, 0))
                goto done;
        mat.name = p.store;
        mat.key_serde = p.key_serde;
        mat.value_serde = value_serde;
        mat.version = BROOK_MATERIALIZED_VERSION;
        opts.window_size_ms = w->size_ms;
        parent = p.name;
        if (w->kind == BROOK_WINDOWS_SESSION
                    ? brook_builder_add_session_store(b, &mat, &opts, &parent,
                                                      1, NULL, 0)
                    : brook_builder_add_window_store(b, &mat, &opts, &parent, 1,
                                                     NULL, 0))
                goto done;
        /* Window results carry their timestamp; a session's is its end
         * (Kafka Streams' session stores are not timestamped). */
        brook__builder_store(b, p.store)->timestamped =
                w->kind != BROOK_WINDOWS_SESSION;
        if (p.key_serde)
                wkey_serde = brook__builder_keep_serde(
                        b, w->kind == BROOK_WINDOWS_SESSION
                                   ? brook_serde_session_windowed(p.key_serde,
                                                                  NULL, 0)
                                   : brook_serde_time_windowed(
                                             p.key_serde, w->size_ms, NULL, 0));
        t = brook__table_new(b, p.name, wkey_serde, value_serde, p.store,
                             BROOK__TABLE_NO_OLD, true, NULL, NULL);
        t->windowed = true;
        t->window_ms = w->kind == BROOK_WINDOWS_SESSION ? -1 : w->size_ms;
        /* What suppress(until_window_closes) waits past a window's end:
         * the grace, and for sessions the gap too (Kafka Streams'
         * GraphGraceSearchUtil), since a session can still grow until
         * then. */
        t->grace_ms = w->grace_ms +
                      (w->kind == BROOK_WINDOWS_SESSION ? w->size_ms : 0);
done:
        brook__grouped_prep_free(&p);
        return t;
}

brook_table_t *brook_windowed_count(brook_windowed_stream_t *ws,
                                    const brook_materialized_t *m)
{
        win_op_t op = {.kind = WIN_COUNT};
        if (!ws)
                return NULL;
        return win_add(ws, &op, brook_serde_int64(), m, "brook_windowed_count");
}

brook_table_t *brook_windowed_reduce(brook_windowed_stream_t *ws,
                                     brook_reducer_fn fn, void *opaque,
                                     const brook_materialized_t *m)
{
        win_op_t op = {.kind = WIN_REDUCE, .reducer = fn, .opaque = opaque};
        brook_grouped_t *g;
        if (!ws)
                return NULL;
        g = ws->g;
        if (!fn) {
                brook__builder_fail(g->b, NULL, 0,
                                    "brook_windowed_reduce: reducer is NULL");
                return NULL;
        }
        return win_add(ws, &op,
                       g->grouping.value_serde ? g->grouping.value_serde
                                               : g->s->value_serde,
                       m, "brook_windowed_reduce");
}

brook_table_t *brook_windowed_aggregate(brook_windowed_stream_t *ws,
                                        brook_initializer_fn init,
                                        brook_aggregator_fn fn,
                                        brook_merger_fn merger, void *opaque,
                                        const brook_materialized_t *m)
{
        win_op_t op = {.kind = WIN_AGGREGATE,
                       .init = init,
                       .aggregator = fn,
                       .merger = merger,
                       .opaque = opaque};
        if (!ws)
                return NULL;
        if (!init || !fn || (ws->w.kind == BROOK_WINDOWS_SESSION && !merger)) {
                brook__builder_fail(ws->g->b, NULL, 0,
                                    "brook_windowed_aggregate: %s is NULL",
                                    !init ? "initializer"
                                    : !fn ? "aggregator"
                                          : "merger (session windows need "
                                            "one)");
                return NULL;
        }
        return win_add(ws, &op, NULL, m, "brook_windowed_aggregate");
}
