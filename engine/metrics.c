/*
 * brook — metrics in the Prometheus text format (version 0.0.4), with
 * Kafka Streams' metric names and groups, and the /state document.
 *
 * The stream threads count and time their work in plain atomics (their
 * brook_app_stats() counters and brook__tmetrics_t) and publish their
 * tasks about once a second (brook__tsnap_t); nothing here runs on a
 * stream thread. Kafka Streams' -rate, -avg and -max metrics are
 * computed at each rendering over metrics.sample.window.ms, from samples
 * of the counters that earlier renderings kept (a ring): a rate is the
 * counter's growth since the oldest sample in the window divided by the
 * time between, an average the growth of a time sum over the growth of its
 * count, a maximum the largest of the samples' maxima (each thread's
 * maxima are taken and zeroed by the sample that reads them).
 *
 * Names: brook_<Kafka Streams' group>_<metric>, dashes as underscores
 * (stream-thread-metrics' process-rate is brook_stream_thread_process_rate);
 * latencies in milliseconds, as Kafka Streams reports them. The list is in
 * docs/operations.md.
 */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_int.h"
#include "metrics_int.h"

/* ------------------------------------------------------------- samples */

/** One thread's counters at one moment. */
typedef struct msample_thr {
        int64_t processed, proc_ns, proc_max;
        int64_t polls, poll_ns, poll_max, poll_records;
        int64_t commits, commit_rounds, commit_ns, commit_max;
        int64_t puncts, punct_passes, punct_ns, punct_max;
        int64_t dropped, enforced, restored;
        int64_t start_ms; /**< The thread's start: another is a new one. */
        int64_t cache_hits, cache_misses;
} msample_thr_t;

typedef struct msample {
        int64_t at; /**< Monotonic ms. */
        msample_thr_t *thr;
} msample_t;

#define MSAMPLES 64

struct brook__metrics {
        pthread_mutex_t lock; /**< Renderings, one at a time. */
        int64_t started;      /**< Monotonic ms: the zero sample's time. */
        int thread_cnt;
        char *topology; /**< The topology described, for /state. */
        msample_t ring[MSAMPLES];
        size_t head, cnt; /**< Oldest at head. */
};

brook__metrics_t *brook__metrics_new(brook_app_t *app)
{
        brook__metrics_t *m = brook__xcalloc(1, sizeof *m);
        pthread_mutex_init(&m->lock, NULL);
        m->started = brook__now_mono_ms();
        m->thread_cnt = app->thread_cnt;
        m->topology = brook_topology_describe(app->b, BROOK_DESCRIBE_TEXT);
        return m;
}

void brook__metrics_destroy(brook__metrics_t *m)
{
        size_t i;
        if (!m)
                return;
        for (i = 0; i < MSAMPLES; i++)
                free(m->ring[i].thr);
        brook_free(m->topology);
        pthread_mutex_destroy(&m->lock);
        free(m);
}

static int64_t xchg0(atomic_llong *a)
{
        return atomic_exchange_explicit(a, 0, memory_order_relaxed);
}

static void sample_thread(msample_thr_t *s, brook__thread_t *thr)
{
        s->processed = atomic_load(&thr->stat_processed);
        s->proc_ns = atomic_load(&thr->m.proc_ns);
        s->proc_max = xchg0(&thr->m.proc_max_ns);
        s->polls = atomic_load(&thr->m.poll_cnt);
        s->poll_ns = atomic_load(&thr->m.poll_ns);
        s->poll_max = xchg0(&thr->m.poll_max_ns);
        s->poll_records = atomic_load(&thr->m.poll_records);
        s->commits = atomic_load(&thr->stat_commits);
        s->commit_rounds = atomic_load(&thr->m.commit_rounds);
        s->commit_ns = atomic_load(&thr->m.commit_ns);
        s->commit_max = xchg0(&thr->m.commit_max_ns);
        s->puncts = atomic_load(&thr->m.punct_cnt);
        s->punct_passes = atomic_load(&thr->m.punct_passes);
        s->punct_ns = atomic_load(&thr->m.punct_ns);
        s->punct_max = xchg0(&thr->m.punct_max_ns);
        s->dropped = brook__drops_sum(thr->stat_drops);
        s->enforced = atomic_load(&thr->stat_enforced);
        s->restored = atomic_load(&thr->stat_restored);
        s->cache_hits = atomic_load(&thr->m.cache_hits);
        s->cache_misses = atomic_load(&thr->m.cache_misses);
        s->start_ms = thr->m.start_ms;
}

/** The window's figures of one thread: the sample now, the base it is
 *  compared with (zeros at the start when the ring has none in the
 *  window), the seconds between, and the maxima over the window. */
typedef struct mwin {
        msample_thr_t now, base, max;
        double secs;
} mwin_t;

/** What a rendering reads of a thread, copied under the locks so that it
 *  formats with none held (a stream thread never waits for /metrics). */
typedef struct mthr {
        char tid[300];
        int64_t tasks_created, tasks_closed, start_ms, produced, dlq,
                rebalances, aborts, restore_remaining, restoring_tasks,
                cache_bytes, buffered;
        int64_t drops[BROOK__DROP_CNT];
        /** librdkafka's statistics (stats_seen: any arrived). */
        int64_t prod_records, prod_bytes, prod_queued, prod_rtt_us,
                cons_records, cons_bytes, cons_rtt_us;
        bool stats_seen;
        brook__tsnap_t *snap; /**< A deep copy. */
        size_t snap_cnt;
} mthr_t;

/* A deep copy of @p thr's task snapshots (under its snap_lock). */
static brook__tsnap_t *snap_copy(brook__thread_t *thr, size_t *cntp)
{
        brook__tsnap_t *c = NULL;
        size_t i;
        pthread_mutex_lock(&thr->snap_lock);
        *cntp = thr->snap_cnt;
        if (thr->snap_cnt) {
                c = brook__xmalloc(thr->snap_cnt * sizeof *c);
                memcpy(c, thr->snap, thr->snap_cnt * sizeof *c);
                for (i = 0; i < thr->snap_cnt; i++) {
                        c[i].parts =
                                c[i].part_cnt
                                        ? brook__xmalloc(c[i].part_cnt *
                                                         sizeof *c[i].parts)
                                        : NULL;
                        if (c[i].part_cnt)
                                memcpy(c[i].parts, thr->snap[i].parts,
                                       c[i].part_cnt * sizeof *c[i].parts);
                        c[i].nodes =
                                c[i].node_cnt
                                        ? brook__xmalloc(c[i].node_cnt *
                                                         sizeof *c[i].nodes)
                                        : NULL;
                        if (c[i].node_cnt)
                                memcpy(c[i].nodes, thr->snap[i].nodes,
                                       c[i].node_cnt * sizeof *c[i].nodes);
                }
        }
        pthread_mutex_unlock(&thr->snap_lock);
        return c;
}

static void thread_id(brook_app_t *app, int idx, char *buf, size_t size);

/* Copies what the rendering needs of thread @p t (app->lock held). */
static void mthr_copy(mthr_t *c, brook_app_t *app, int t)
{
        brook__thread_t *thr = app->threads[t];
        int r;
        thread_id(app, t, c->tid, sizeof c->tid);
        c->tasks_created = atomic_load(&thr->m.tasks_created);
        c->tasks_closed = atomic_load(&thr->m.tasks_closed);
        c->start_ms = thr->m.start_ms;
        c->produced = atomic_load(&thr->stat_produced);
        c->dlq = atomic_load(&thr->stat_dlq);
        c->rebalances = atomic_load(&thr->stat_rebalances);
        c->aborts = atomic_load(&thr->stat_aborts);
        c->restore_remaining = atomic_load(&thr->stat_restore_remaining);
        c->restoring_tasks = atomic_load(&thr->tasks_restoring);
        c->cache_bytes = atomic_load(&thr->m.cache_bytes);
        c->buffered = atomic_load(&thr->m.buffered);
        for (r = 0; r < BROOK__DROP_CNT; r++)
                c->drops[r] = atomic_load(&thr->stat_drops[r]);
        c->stats_seen = atomic_load(&thr->m.stats_seen);
        c->prod_records = atomic_load(&thr->m.prod_records);
        c->prod_bytes = atomic_load(&thr->m.prod_bytes);
        c->prod_queued = atomic_load(&thr->m.prod_queued);
        c->prod_rtt_us = atomic_load(&thr->m.prod_rtt_us);
        c->cons_records = atomic_load(&thr->m.cons_records);
        c->cons_bytes = atomic_load(&thr->m.cons_bytes);
        c->cons_rtt_us = atomic_load(&thr->m.cons_rtt_us);
        c->snap = snap_copy(thr, &c->snap_cnt);
}

/* Takes a sample of every thread (m->lock held; app->lock held, so the
 * threads stay), keeps it in the ring if the last kept one is a second
 * old or more (else folds its maxima into that one), and fills @p win. */
static void metrics_sample(brook__metrics_t *m, brook_app_t *app,
                           int64_t window_ms, mwin_t *win)
{
        int64_t now = brook__now_mono_ms();
        int n = app->thread_cnt < m->thread_cnt ? app->thread_cnt
                                                : m->thread_cnt;
        msample_t *last =
                m->cnt ? &m->ring[(m->head + m->cnt - 1) % MSAMPLES] : NULL;
        msample_t *keep;
        size_t i, j;
        int t;

        for (t = 0; t < n; t++) {
                memset(&win[t], 0, sizeof win[t]);
                sample_thread(&win[t].now, app->threads[t]);
        }
        /* The base: the oldest kept sample inside the window (or the one
         * before it, if that one is under a second old: a rate over a few
         * milliseconds says nothing), else the newest kept one, else zeros
         * when the metrics started. */
        win[0].secs = (double)(now - m->started) / 1000.0;
        for (i = 0; i < m->cnt; i++) {
                msample_t *s = &m->ring[(m->head + i) % MSAMPLES];
                if (now - s->at > window_ms && i + 1 < m->cnt)
                        continue;
                if (now - s->at < 1000 && i > 0) {
                        i--;
                        s = &m->ring[(m->head + i) % MSAMPLES];
                }
                for (t = 0; t < n; t++)
                        win[t].base = s->thr[t];
                win[0].secs = (double)(now - s->at) / 1000.0;
                /* Maxima: of the samples after the base, and now's. */
                for (j = i + 1; j < m->cnt; j++) {
                        msample_t *x = &m->ring[(m->head + j) % MSAMPLES];
                        for (t = 0; t < n; t++) {
#define MAXOF(f)                                                               \
        if (x->thr[t].f > win[t].max.f)                                        \
        win[t].max.f = x->thr[t].f
                                MAXOF(proc_max);
                                MAXOF(poll_max);
                                MAXOF(commit_max);
                                MAXOF(punct_max);
                        }
                }
                break;
        }
        for (t = 0; t < n; t++) {
                win[t].secs = win[0].secs;
                /* A thread replaced since the base (its counters start at
                 * 0): its figures are since it started. */
                if (win[t].base.start_ms != win[t].now.start_ms) {
                        int64_t start = win[t].now.start_ms;
                        memset(&win[t].base, 0, sizeof win[t].base);
                        memset(&win[t].max, 0, sizeof win[t].max);
                        win[t].secs =
                                (double)(brook__now_wall_ms() - start) / 1000.0;
                }
#define MAXNOW(f)                                                              \
        if (win[t].now.f > win[t].max.f)                                       \
        win[t].max.f = win[t].now.f
                MAXNOW(proc_max);
                MAXNOW(poll_max);
                MAXNOW(commit_max);
                MAXNOW(punct_max);
        }

        if (last && now - last->at < 1000) {
                /* Too soon for a sample of its own: keep the maxima. */
                for (t = 0; t < n; t++) {
#define FOLD(f)                                                                \
        if (win[t].now.f > last->thr[t].f)                                     \
        last->thr[t].f = win[t].now.f
                        FOLD(proc_max);
                        FOLD(poll_max);
                        FOLD(commit_max);
                        FOLD(punct_max);
                }
                return;
        }
        if (m->cnt == MSAMPLES) {
                m->head = (m->head + 1) % MSAMPLES;
                m->cnt--;
        }
        keep = &m->ring[(m->head + m->cnt) % MSAMPLES];
        m->cnt++;
        free(keep->thr);
        keep->at = now;
        keep->thr = brook__xcalloc((size_t)(n ? n : 1), sizeof *keep->thr);
        for (t = 0; t < n; t++)
                keep->thr[t] = win[t].now;
}

/* -------------------------------------------------------------- writer */

/** Appends printf output to @p b. */
static void bprintf(brook_buf_t *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void bprintf(brook_buf_t *b, const char *fmt, ...)
{
        va_list ap;
        char small[512];
        int n;

        va_start(ap, fmt);
        n = vsnprintf(small, sizeof small, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t)n < sizeof small) {
                brook_buf_append(b, small, (size_t)n);
                return;
        }
        {
                char *big = brook__xmalloc((size_t)n + 1);
                va_start(ap, fmt);
                vsnprintf(big, (size_t)n + 1, fmt, ap);
                va_end(ap);
                brook_buf_append(b, big, (size_t)n);
                free(big);
        }
}

/** Labels being built: "k1=\"v1\",k2=\"v2\"", escaped. */
typedef struct mlabels {
        char s[1024];
        size_t len;
} mlabels_t;

static void lbl_reset(mlabels_t *l)
{
        l->len = 0;
        l->s[0] = '\0';
}

static void lbl_add(mlabels_t *l, const char *k, const char *v)
{
        size_t room;
        const char *p;

        if (l->len && l->len + 1 < sizeof l->s)
                l->s[l->len++] = ',';
        l->s[l->len] = '\0';
        room = sizeof l->s - l->len;
        if (strlen(k) + 3 >= room)
                return;
        l->len += (size_t)snprintf(l->s + l->len, room, "%s=\"", k);
        for (p = v; *p && l->len + 4 < sizeof l->s; p++) {
                if (*p == '\\' || *p == '"') {
                        l->s[l->len++] = '\\';
                        l->s[l->len++] = *p;
                } else if (*p == '\n') {
                        l->s[l->len++] = '\\';
                        l->s[l->len++] = 'n';
                } else
                        l->s[l->len++] = *p;
        }
        if (l->len + 1 < sizeof l->s)
                l->s[l->len++] = '"';
        l->s[l->len] = '\0';
}

static void lbl_addi(mlabels_t *l, const char *k, int64_t v)
{
        char buf[32];
        snprintf(buf, sizeof buf, "%" PRId64, v);
        lbl_add(l, k, buf);
}

static void m_head(brook_buf_t *b, const char *name, const char *type,
                   const char *help)
{
        bprintf(b, "# HELP brook_%s %s\n# TYPE brook_%s %s\n", name, help, name,
                type);
}

static void m_val(brook_buf_t *b, const char *name, const mlabels_t *l,
                  double v)
{
        char num[64];
        if (isnan(v))
                snprintf(num, sizeof num, "NaN");
        else if (isinf(v))
                snprintf(num, sizeof num, v > 0 ? "+Inf" : "-Inf");
        else if (fabs(v) < 9e15 && v == (double)(int64_t)v)
                snprintf(num, sizeof num, "%" PRId64, (int64_t)v);
        else
                snprintf(num, sizeof num, "%.6g", v);
        if (l && l->len)
                bprintf(b, "brook_%s{%s} %s\n", name, l->s, num);
        else
                bprintf(b, "brook_%s %s\n", name, num);
}

/* ------------------------------------------------------------- render */

static const char *const brook__state_names[] = {
        [BROOK_APP_CREATED] = "CREATED",
        [BROOK_APP_REBALANCING] = "REBALANCING",
        [BROOK_APP_RUNNING] = "RUNNING",
        [BROOK_APP_PENDING_SHUTDOWN] = "PENDING_SHUTDOWN",
        [BROOK_APP_NOT_RUNNING] = "NOT_RUNNING",
        [BROOK_APP_PENDING_ERROR] = "PENDING_ERROR",
        [BROOK_APP_ERROR] = "ERROR",
};

const char *brook__app_state_name(brook_app_state_t st)
{
        if ((int)st < 0 || (size_t)st >= sizeof brook__state_names /
                                                 sizeof *brook__state_names)
                return "UNKNOWN";
        return brook__state_names[st];
}

static void thread_id(brook_app_t *app, int idx, char *buf, size_t size)
{
        snprintf(buf, size, "%s-StreamThread-%d", app->client_id, idx + 1);
}

/** A per-thread family: @p get gives the value of thread @p t. */
typedef double (*thr_get_fn)(const mwin_t *w, const mthr_t *thr);

static void m_threads(brook_buf_t *b, const mthr_t *thrs, const mwin_t *win,
                      int n, const char *name, const char *type,
                      const char *help, thr_get_fn get, bool rk)
{
        mlabels_t l;
        int t, seen = 0;
        /* librdkafka's figures: only once its statistics came. */
        for (t = 0; rk && t < n; t++)
                seen += thrs[t].stats_seen;
        if (rk && !seen)
                return;
        m_head(b, name, type, help);
        for (t = 0; t < n; t++) {
                if (rk && !thrs[t].stats_seen)
                        continue;
                lbl_reset(&l);
                lbl_add(&l, "thread_id", thrs[t].tid);
                m_val(b, name, &l, get(&win[t], &thrs[t]));
        }
}

static double rate(int64_t now, int64_t base, double secs)
{
        return secs > 0 ? (double)(now - base) / secs : 0;
}

/* An average in ms of a ns sum over a count, over the window; NaN when
 * nothing was counted (as Kafka Streams' avg without samples). */
static double avg_ms(int64_t ns_now, int64_t ns_base, int64_t n_now,
                     int64_t n_base)
{
        return n_now > n_base ? (double)(ns_now - ns_base) / 1e6 /
                                        (double)(n_now - n_base)
                              : NAN;
}

#define W (*w)
#define GETTER(fn, expr)                                                       \
        static double fn(const mwin_t *w, const mthr_t *thr)                   \
        {                                                                      \
                (void)w;                                                       \
                (void)thr;                                                     \
                return (expr);                                                 \
        }

GETTER(g_process_total, (double)W.now.processed)
GETTER(g_process_rate, rate(W.now.processed, W.base.processed, W.secs))
GETTER(g_process_lat_avg,
       avg_ms(W.now.proc_ns, W.base.proc_ns, W.now.processed, W.base.processed))
GETTER(g_process_lat_max, (double)W.max.proc_max / 1e6)
GETTER(g_poll_total, (double)W.now.polls)
GETTER(g_poll_rate, rate(W.now.polls, W.base.polls, W.secs))
GETTER(g_poll_lat_avg,
       avg_ms(W.now.poll_ns, W.base.poll_ns, W.now.polls, W.base.polls))
GETTER(g_poll_lat_max, (double)W.max.poll_max / 1e6)
GETTER(g_poll_records_avg,
       W.now.polls > W.base.polls
               ? (double)(W.now.poll_records - W.base.poll_records) /
                         (double)(W.now.polls - W.base.polls)
               : NAN)
GETTER(g_commit_total, (double)W.now.commits)
GETTER(g_commit_rate, rate(W.now.commits, W.base.commits, W.secs))
GETTER(g_commit_lat_avg, avg_ms(W.now.commit_ns, W.base.commit_ns,
                                W.now.commit_rounds, W.base.commit_rounds))
GETTER(g_commit_lat_max, (double)W.max.commit_max / 1e6)
GETTER(g_punct_total, (double)W.now.puncts)
GETTER(g_punct_rate, rate(W.now.puncts, W.base.puncts, W.secs))
GETTER(g_punct_lat_avg, avg_ms(W.now.punct_ns, W.base.punct_ns,
                               W.now.punct_passes, W.base.punct_passes))
GETTER(g_punct_lat_max, (double)W.max.punct_max / 1e6)
GETTER(g_task_created, (double)thr->tasks_created)
GETTER(g_task_closed, (double)thr->tasks_closed)
GETTER(g_start_time, (double)thr->start_ms)
GETTER(g_produced, (double)thr->produced)
GETTER(g_dropped_rate, rate(W.now.dropped, W.base.dropped, W.secs))
GETTER(g_dlq, (double)thr->dlq)
GETTER(g_enforced_total, (double)W.now.enforced)
GETTER(g_enforced_rate, rate(W.now.enforced, W.base.enforced, W.secs))
GETTER(g_rebalances, (double)thr->rebalances)
GETTER(g_aborts, (double)thr->aborts)
GETTER(g_restore_total, (double)W.now.restored)
GETTER(g_restore_rate, rate(W.now.restored, W.base.restored, W.secs))
GETTER(g_restore_remaining, (double)thr->restore_remaining)
GETTER(g_restoring_tasks, (double)thr->restoring_tasks)
GETTER(g_cache_hits, (double)W.now.cache_hits)
GETTER(g_cache_misses, (double)W.now.cache_misses)
GETTER(g_cache_bytes, (double)thr->cache_bytes)
GETTER(g_buffered, (double)thr->buffered)
GETTER(g_cache_ratio,
       W.now.cache_hits + W.now.cache_misses >
                       W.base.cache_hits + W.base.cache_misses
               ? (double)(W.now.cache_hits - W.base.cache_hits) /
                         (double)(W.now.cache_hits + W.now.cache_misses -
                                  W.base.cache_hits - W.base.cache_misses)
               : NAN)
GETTER(g_prod_records, (double)thr->prod_records)
GETTER(g_prod_bytes, (double)thr->prod_bytes)
GETTER(g_prod_queued, (double)thr->prod_queued)
GETTER(g_prod_rtt, thr->prod_rtt_us < 0 ? NAN : (double)thr->prod_rtt_us / 1e3)
GETTER(g_cons_records, (double)thr->cons_records)
GETTER(g_cons_bytes, (double)thr->cons_bytes)
GETTER(g_cons_rtt, thr->cons_rtt_us < 0 ? NAN : (double)thr->cons_rtt_us / 1e3)
#undef W

static const struct thr_metric {
        const char *name, *type, *help;
        thr_get_fn get;
        bool rk; /**< From librdkafka's statistics. */
} thr_metrics[] = {
        {"stream_thread_process_total", "counter",
         "Records processed by the thread.", g_process_total, false},
        {"stream_thread_process_rate", "gauge",
         "Records processed per second over the window.", g_process_rate,
         false},
        {"stream_thread_process_latency_avg", "gauge",
         "Average time to process a record, in ms, over the window.",
         g_process_lat_avg, false},
        {"stream_thread_process_latency_max", "gauge",
         "Largest average time to process a record in one pass over the "
         "tasks, in ms, over the window.",
         g_process_lat_max, false},
        {"stream_thread_poll_total", "counter",
         "Polls of the consumer (each waits up to poll.ms).", g_poll_total,
         false},
        {"stream_thread_poll_rate", "gauge",
         "Polls per second over the window.", g_poll_rate, false},
        {"stream_thread_poll_latency_avg", "gauge",
         "Average time of a poll, in ms, over the window.", g_poll_lat_avg,
         false},
        {"stream_thread_poll_latency_max", "gauge",
         "Longest poll, in ms, over the window.", g_poll_lat_max, false},
        {"stream_thread_poll_records_avg", "gauge",
         "Average records a poll returned, over the window.",
         g_poll_records_avg, false},
        {"stream_thread_commit_total", "counter", "Commits completed.",
         g_commit_total, false},
        {"stream_thread_commit_rate", "gauge",
         "Commits per second over the window.", g_commit_rate, false},
        {"stream_thread_commit_latency_avg", "gauge",
         "Average time of a commit round of the loop (flush, state, "
         "offsets or transaction), in ms, over the window.",
         g_commit_lat_avg, false},
        {"stream_thread_commit_latency_max", "gauge",
         "Longest commit, in ms, over the window.", g_commit_lat_max, false},
        {"stream_thread_punctuate_total", "counter", "Punctuator calls.",
         g_punct_total, false},
        {"stream_thread_punctuate_rate", "gauge",
         "Punctuator calls per second over the window.", g_punct_rate, false},
        {"stream_thread_punctuate_latency_avg", "gauge",
         "Average time of the wall-clock punctuations of one pass, in ms, "
         "over the window.",
         g_punct_lat_avg, false},
        {"stream_thread_punctuate_latency_max", "gauge",
         "Longest wall-clock punctuation pass, in ms, over the window.",
         g_punct_lat_max, false},
        {"stream_thread_task_created_total", "counter",
         "Tasks the thread created.", g_task_created, false},
        {"stream_thread_task_closed_total", "counter",
         "Tasks the thread closed.", g_task_closed, false},
        {"stream_thread_thread_start_time", "gauge",
         "When the thread started, ms since the epoch.", g_start_time, false},
        {"stream_thread_records_produced_total", "counter",
         "Records sent by the thread's sinks.", g_produced, false},
        {"stream_thread_dropped_records_rate", "gauge",
         "Records dropped per second over the window, for any reason.",
         g_dropped_rate, false},
        {"stream_thread_dead_lettered_records_total", "counter",
         "Records sent to the dead-letter topic.", g_dlq, false},
        {"stream_thread_enforced_processing_total", "counter",
         "Records processed while a partition of their task was empty "
         "past max.task.idle.ms.",
         g_enforced_total, false},
        {"stream_thread_enforced_processing_rate", "gauge",
         "Enforced processings per second over the window.", g_enforced_rate,
         false},
        {"stream_thread_rebalances_total", "counter",
         "Assignments the thread's consumer received.", g_rebalances, false},
        {"stream_thread_transaction_aborts_total", "counter",
         "exactly_once_v2 transactions aborted.", g_aborts, false},
        {"stream_thread_restore_total", "counter",
         "Changelog records restored into stores.", g_restore_total, false},
        {"stream_thread_restore_rate", "gauge",
         "Changelog records restored per second over the window.",
         g_restore_rate, false},
        {"stream_thread_restore_remaining_records", "gauge",
         "Changelog records still to restore (Kafka Streams' "
         "restore-remaining-records-total).",
         g_restore_remaining, false},
        {"stream_thread_active_restoring_tasks", "gauge",
         "Tasks of the thread whose stores are restoring.", g_restoring_tasks,
         false},
        {"stream_record_cache_hits_total", "counter",
         "Record cache lookups it answered.", g_cache_hits, false},
        {"stream_record_cache_misses_total", "counter",
         "Record cache lookups that went to the store below.", g_cache_misses,
         false},
        {"stream_record_cache_hit_ratio", "gauge",
         "Share of record cache lookups answered, over the window.",
         g_cache_ratio, false},
        {"stream_record_cache_bytes", "gauge",
         "Bytes the thread's record cache holds.", g_cache_bytes, false},
        {"stream_buffered_records", "gauge",
         "Input records the thread took from the consumer and has not "
         "processed yet (at most buffered.records.per.partition per "
         "input partition).",
         g_buffered, false},
        {"producer_record_send_total", "counter",
         "Records the thread's producer sent (librdkafka's txmsgs; since "
         "the producer was made).",
         g_prod_records, true},
        {"producer_byte_total", "counter",
         "Bytes of records the thread's producer sent (txmsg_bytes).",
         g_prod_bytes, true},
        {"producer_queued_records", "gauge",
         "Records waiting in the producer's queue (msg_cnt).", g_prod_queued,
         true},
        {"producer_request_latency_avg", "gauge",
         "The largest of the producer's brokers' average round trip, in ms.",
         g_prod_rtt, true},
        {"consumer_records_consumed_total", "counter",
         "Records the thread's consumer fetched (librdkafka's rxmsgs; since "
         "the consumer was made).",
         g_cons_records, true},
        {"consumer_bytes_consumed_total", "counter",
         "Bytes of records the thread's consumer fetched (rxmsg_bytes).",
         g_cons_bytes, true},
        {"consumer_request_latency_avg", "gauge",
         "The largest of the consumer's brokers' average round trip, in ms.",
         g_cons_rtt, true},
};

static void m_client(brook_buf_t *b, brook_app_t *app)
{
        mlabels_t l;
        brook_app_state_t st;
        char cause[64];
        int64_t stalled;
        size_t s;
        int alive;

        pthread_mutex_lock(&app->lock);
        st = app->state;
        alive = app->threads_running;
        pthread_mutex_unlock(&app->lock);

        m_head(b, "stream_client_info", "gauge",
               "The app's identity: its version, application id and client "
               "id (always 1).");
        lbl_reset(&l);
        lbl_add(&l, "version", BROOK_VERSION_STR);
        lbl_add(&l, "application_id", app->app_id);
        lbl_add(&l, "client_id", app->client_id);
        m_val(b, "stream_client_info", &l, 1);

        m_head(b, "stream_client_state", "gauge",
               "1 for the app's state (Kafka Streams' states), 0 for the "
               "others.");
        for (s = 0; s < sizeof brook__state_names / sizeof *brook__state_names;
             s++) {
                lbl_reset(&l);
                lbl_add(&l, "state", brook__state_names[s]);
                m_val(b, "stream_client_state", &l, (size_t)st == s);
        }
        m_head(b, "stream_client_alive_stream_threads", "gauge",
               "Stream threads running.");
        m_val(b, "stream_client_alive_stream_threads", NULL, alive);
        stalled = brook_app_stalled_ms(app, cause, sizeof cause);
        m_head(b, "stream_client_commit_stalled_seconds", "gauge",
               "How long commits have been stalled (the broker cannot take "
               "the output), 0 when they are not.");
        m_val(b, "stream_client_commit_stalled_seconds", NULL,
              (double)stalled / 1000.0);
}

/* Drops by reason, per thread. */
static void m_drops(brook_buf_t *b, const mthr_t *thrs, int n)
{
        mlabels_t l;
        int t, r;
        m_head(b, "stream_thread_dropped_records_total", "counter",
               "Records dropped by the thread's tasks, by reason "
               "(docs/errors.md).");
        for (t = 0; t < n; t++) {
                for (r = 0; r < BROOK__DROP_CNT; r++) {
                        lbl_reset(&l);
                        lbl_add(&l, "thread_id", thrs[t].tid);
                        lbl_add(&l, "reason",
                                brook_drop_reason_name((brook_drop_reason_t)r));
                        m_val(b, "stream_thread_dropped_records_total", &l,
                              (double)thrs[t].drops[r]);
                }
        }
}

/* Tasks and partitions, from the threads' snapshots. */
static void m_tasks(brook_buf_t *b, const mthr_t *thrs, int n)
{
        static const char *const names[] = {
                "stream_task_restoring",
                "consumer_records_lag",
                "stream_task_committed_offset",
                "stream_task_processed_offset",
        };
        static const char *const helps[] = {
                "1 while the task's stores restore (it processes nothing), "
                "else 0.",
                "Records of the input partition after the last one processed "
                "(fetched or not); after the input stops and is processed, "
                "0.",
                "The input partition's last committed offset (the next "
                "record to process after a restart); -1 before the first "
                "commit.",
                "The offset after the last record of the partition "
                "processed; -1 before the first.",
        };
        mlabels_t l;
        size_t k, i, j;
        int t;

        for (k = 0; k < sizeof names / sizeof *names; k++) {
                m_head(b, names[k], "gauge", helps[k]);
                for (t = 0; t < n; t++) {
                        for (i = 0; i < thrs[t].snap_cnt; i++) {
                                const brook__tsnap_t *ts = &thrs[t].snap[i];
                                if (k == 0) {
                                        lbl_reset(&l);
                                        lbl_add(&l, "thread_id", thrs[t].tid);
                                        lbl_add(&l, "task_id", ts->id);
                                        m_val(b, names[k], &l, ts->restoring);
                                        continue;
                                }
                                for (j = 0; j < ts->part_cnt; j++) {
                                        const brook__psnap_t *p = &ts->parts[j];
                                        double v;
                                        if (k == 1)
                                                v = p->lag < 0 ? NAN
                                                               : (double)p->lag;
                                        else if (k == 2)
                                                v = (double)p->committed;
                                        else
                                                v = (double)p->next_offset;
                                        lbl_reset(&l);
                                        lbl_add(&l, "thread_id", thrs[t].tid);
                                        lbl_add(&l, "task_id", ts->id);
                                        lbl_add(&l, "topic", p->topic);
                                        lbl_addi(&l, "partition", p->partition);
                                        m_val(b, names[k], &l, v);
                                }
                        }
                }
        }
}

/* metrics.recording.level DEBUG: records per processor node (Kafka
 * Streams' processor-node-metrics process-total), per task. */
static void m_nodes(brook_buf_t *b, brook_app_t *app, const mthr_t *thrs, int n)
{
        mlabels_t l;
        size_t i, j;
        int t;

        if (strcmp(brook_conf_get(app->conf, "metrics.recording.level"),
                   "DEBUG"))
                return;
        m_head(b, "stream_processor_node_process_total", "counter",
               "Records the processor node took (DEBUG).");
        for (t = 0; t < n; t++) {
                for (i = 0; i < thrs[t].snap_cnt; i++) {
                        const brook__tsnap_t *ts = &thrs[t].snap[i];
                        for (j = 0; j < ts->node_cnt; j++) {
                                lbl_reset(&l);
                                lbl_add(&l, "thread_id", thrs[t].tid);
                                lbl_add(&l, "task_id", ts->id);
                                lbl_add(&l, "processor_node_id",
                                        ts->nodes[j].name);
                                m_val(b, "stream_processor_node_process_total",
                                      &l, (double)ts->nodes[j].processed);
                        }
                }
        }
}

struct cf_out {
        brook_buf_t *b;
        int which;
};

static void cf_line(void *opaque, const char *name, uint64_t mem, uint64_t keys,
                    uint64_t live)
{
        static const char *const names[] = {
                "stream_state_size_all_mem_tables",
                "stream_state_estimate_num_keys",
                "stream_state_estimate_live_data_size",
        };
        struct cf_out *o = opaque;
        mlabels_t l;
        uint64_t v = o->which == 0 ? mem : o->which == 1 ? keys : live;
        const char *slash = strchr(name, '/');
        char task[64];
        /* A task's store is the column family "<task_id>/<store>"; the
         * others are brook's own (the stores' offsets). */
        if (!slash || (size_t)(slash - name) >= sizeof task)
                return;
        snprintf(task, sizeof task, "%.*s", (int)(slash - name), name);
        lbl_reset(&l);
        lbl_add(&l, "task_id", task);
        lbl_add(&l, "store", slash + 1);
        m_val(o->b, names[o->which], &l, (double)v);
}

static void m_rocksdb(brook_buf_t *b, brook_app_t *app)
{
        static const char *const helps[] = {
                "Bytes of the RocksDB column family's memtables (active, "
                "immutable and pinned).",
                "RocksDB's estimate of the keys in the column family.",
                "RocksDB's estimate of the column family's live data on "
                "disk, in bytes.",
        };
        static const char *const names[] = {
                "stream_state_size_all_mem_tables",
                "stream_state_estimate_num_keys",
                "stream_state_estimate_live_data_size",
        };
        uint64_t usage, cap;
        struct cf_out o = {b, 0};

        if (!app->statedb)
                return;
        brook__statedb_cache(app->statedb, &usage, &cap);
        m_head(b, "stream_state_block_cache_usage", "gauge",
               "Bytes in RocksDB's block cache (shared by every store).");
        m_val(b, "stream_state_block_cache_usage", NULL, (double)usage);
        m_head(b, "stream_state_block_cache_capacity", "gauge",
               "Capacity of RocksDB's block cache, in bytes.");
        m_val(b, "stream_state_block_cache_capacity", NULL, (double)cap);
        m_head(b, "stream_state_rocksdb_memory_bytes", "gauge",
               "Bytes RocksDB holds in its block cache and memtables, which "
               "rocksdb.memory.bytes bounds.");
        m_val(b, "stream_state_rocksdb_memory_bytes", NULL,
              (double)brook__statedb_memory(app->statedb));
        for (o.which = 0; o.which < 3; o.which++) {
                m_head(b, names[o.which], "gauge", helps[o.which]);
                brook__statedb_each_cf(app->statedb, cf_line, &o);
        }
}

void brook__metrics_render(brook_app_t *app, brook_buf_t *b)
{
        int64_t window_ms =
                brook__conf_int(app->conf, "metrics.sample.window.ms");
        brook__metrics_t *m = app->metrics;
        mthr_t *thrs;
        mwin_t *win;
        size_t k;
        int n, t;

        m_client(b, app);
        if (!m)
                return;
        /* Under the locks only reads and copies; the text is written
         * after. */
        pthread_mutex_lock(&m->lock);
        pthread_mutex_lock(&app->lock);
        n = app->thread_cnt < m->thread_cnt ? app->thread_cnt : m->thread_cnt;
        win = brook__xcalloc((size_t)(n ? n : 1), sizeof *win);
        thrs = brook__xcalloc((size_t)(n ? n : 1), sizeof *thrs);
        metrics_sample(m, app, window_ms, win);
        for (t = 0; t < n; t++)
                mthr_copy(&thrs[t], app, t);
        pthread_mutex_unlock(&app->lock);
        pthread_mutex_unlock(&m->lock);

        for (k = 0; k < sizeof thr_metrics / sizeof *thr_metrics; k++)
                m_threads(b, thrs, win, n, thr_metrics[k].name,
                          thr_metrics[k].type, thr_metrics[k].help,
                          thr_metrics[k].get, thr_metrics[k].rk);
        m_drops(b, thrs, n);
        m_tasks(b, thrs, n);
        m_nodes(b, app, thrs, n);
        for (t = 0; t < n; t++)
                brook__tsnap_free(thrs[t].snap, thrs[t].snap_cnt);
        free(thrs);
        free(win);
        m_rocksdb(b, app);
}

char *brook_app_metrics(brook_app_t *app, size_t *lenp)
{
        brook_buf_t *b = brook_buf_new();
        char *s;
        size_t n;
        brook__metrics_render(app, b);
        n = brook_buf_len(b);
        s = brook__xmalloc(n + 1);
        memcpy(s, brook_buf_data(b), n);
        s[n] = '\0';
        brook_buf_destroy(b);
        if (lenp)
                *lenp = n;
        return s;
}

/* -------------------------------------------------------------- /state */

char *brook_app_state_json(brook_app_t *app)
{
        json_t *doc = json_object(), *threads = json_array(), *jt, *tasks,
               *task, *parts, *part;
        brook_app_stats_t stats;
        brook_app_state_t st;
        char error[sizeof app->error];
        const char *s;
        mthr_t *thrs;
        size_t i, j;
        int n, t;

        brook_app_stats(app, &stats);
        /* Copies under the lock; the document is built after. */
        pthread_mutex_lock(&app->lock);
        st = app->state;
        memcpy(error, app->error, sizeof error);
        n = app->thread_cnt;
        thrs = brook__xcalloc((size_t)(n ? n : 1), sizeof *thrs);
        for (t = 0; t < n; t++)
                mthr_copy(&thrs[t], app, t);
        pthread_mutex_unlock(&app->lock);

        json_object_set_new(doc, "application_id", json_string(app->app_id));
        json_object_set_new(doc, "client_id", json_string(app->client_id));
        s = brook_conf_get(app->conf, "application.server");
        json_object_set_new(doc, "application_server",
                            s ? json_string(s) : json_null());
        json_object_set_new(doc, "state",
                            json_string(brook__app_state_name(st)));
        if (error[0])
                json_object_set_new(doc, "error", json_string(error));
        for (t = 0; t < n; t++) {
                jt = json_object();
                json_object_set_new(jt, "thread_id", json_string(thrs[t].tid));
                tasks = json_array();
                for (i = 0; i < thrs[t].snap_cnt; i++) {
                        const brook__tsnap_t *ts = &thrs[t].snap[i];
                        task = json_object();
                        json_object_set_new(task, "task_id",
                                            json_string(ts->id));
                        json_object_set_new(task, "restoring",
                                            json_boolean(ts->restoring));
                        parts = json_array();
                        for (j = 0; j < ts->part_cnt; j++) {
                                const brook__psnap_t *p = &ts->parts[j];
                                part = json_object();
                                json_object_set_new(part, "topic",
                                                    json_string(p->topic));
                                json_object_set_new(part, "partition",
                                                    json_integer(p->partition));
                                json_object_set_new(part, "committed_offset",
                                                    json_integer(p->committed));
                                json_object_set_new(
                                        part, "processed_offset",
                                        json_integer(p->next_offset));
                                json_object_set_new(
                                        part, "lag",
                                        p->lag < 0 ? json_null()
                                                   : json_integer(p->lag));
                                json_array_append_new(parts, part);
                        }
                        json_object_set_new(task, "partitions", parts);
                        json_array_append_new(tasks, task);
                }
                json_object_set_new(jt, "tasks", tasks);
                json_object_set_new(jt, "restore_remaining",
                                    json_integer(thrs[t].restore_remaining));
                json_array_append_new(threads, jt);
                brook__tsnap_free(thrs[t].snap, thrs[t].snap_cnt);
        }
        free(thrs);
        json_object_set_new(doc, "threads", threads);
        json_object_set_new(doc, "records_processed",
                            json_integer(stats.records_processed));
        json_object_set_new(doc, "records_restored",
                            json_integer(stats.records_restored));
        json_object_set_new(doc, "restore_remaining",
                            json_integer(stats.restore_remaining));
        json_object_set_new(doc, "stores_restoring",
                            json_integer(stats.stores_restoring));
        json_object_set_new(doc, "topology",
                            app->metrics && app->metrics->topology
                                    ? json_string(app->metrics->topology)
                                    : json_null());
        {
                char *out =
                        json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                json_decref(doc);
                return out;
        }
}
