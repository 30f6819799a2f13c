/*
 * chaos_app: the brook application of the chaos test (tests/test_chaos.c),
 * run as separate processes that the driver SIGKILLs and restarts.
 *
 * Input records: key the entity id, value "SEQ,ENTITY,GROUP,TS" (the
 * event's sequence number, entity id, group id and event time in epoch
 * ms; the event time is the record's timestamp, read from the value).
 * The topology:
 *
 *   input --select_key(group)--> repartition "by-group"
 *     +--> group_by_key --aggregate "ranks" (no cache)--> OUTPUT
 *     |      value "COUNT,SEQ": the group's count so far and the sequence
 *     |      number of the record that made it, one update per record
 *     +--> group_by_key --tumbling 10 s windows, grace 0, count "windows"
 *            --suppress until the window closes "finals"--> WINDOW_OUTPUT
 *            Kafka Streams' time-windowed key (group, window start) and an
 *            int64 count
 *
 *   chaos_app NAME BOOTSTRAP APP_ID INPUT OUTPUT STATE_DIR \
 *             chaos.window.output=TOPIC chaos.status=PATH [property=value ...]
 *
 * Other properties are brook's (processing.guarantee, commit.interval.ms,
 * group.instance.id, consumer.session.timeout.ms, ...). The app writes its
 * status to PATH every CHAOS_STATUS_POLL_MS (tests/apps/chaos_status.h),
 * with what its restore listener heard of each store's first restoration;
 * the listener also logs each restoration to stderr. Runs until SIGTERM; on
 * exit prints "NAME processed=N restored=N produced=N" and returns
 * brook_app_run()'s code.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <brook/brook.h>

#include "app_args.h"
#include "chaos_status.h"

#define WINDOW_MS 10000

struct own_args {
        const char *window_output;
        const char *status;
};

static bool own_arg(const char *name, const char *value, void *opaque)
{
        struct own_args *a = opaque;
        if (!strcmp(name, "chaos.window.output"))
                a->window_output = value;
        else if (!strcmp(name, "chaos.status"))
                a->status = value;
        else
                return false;
        return true;
}

/* Field @p idx (0-based) of a "SEQ,ENTITY,GROUP,TS" value and its length,
 * or NULL if the value has fewer fields. */
static const char *field(const char *v, int idx, size_t *len)
{
        int i;
        for (i = 0; v && i < idx; i++)
                if ((v = strchr(v, ',')))
                        v++;
        if (!v)
                return NULL;
        *len = strcspn(v, ",");
        return v;
}

/* The event time, from the value; -1 (invalid: the app fails, as it
 * should on input the test did not write) if it has none. */
static int64_t value_ts(const brook_record_t *rec, int64_t partition_time,
                        void *opaque)
{
        size_t len;
        const char *ts = field(brook_record_value(rec), 3, &len);
        (void)partition_time;
        (void)opaque;
        return ts ? strtoll(ts, NULL, 10) : -1;
}

/* The group id, the new key. */
static void *group_key(const brook_record_t *rec, void *opaque)
{
        size_t len;
        const char *g = field(brook_record_value(rec), 2, &len);
        char *key;
        (void)opaque;
        if (!g)
                return NULL;
        key = brook_record_alloc(rec, len + 1);
        memcpy(key, g, len);
        key[len] = '\0';
        return key;
}

static void *rank_init(const brook_record_t *rec, void *opaque)
{
        (void)rec;
        (void)opaque;
        return "0,-1";
}

/* "COUNT,SEQ": the count so far and this record's sequence number. */
static void *rank_add(const brook_record_t *rec, void *agg, void *opaque)
{
        size_t len;
        const char *seq = field(brook_record_value(rec), 0, &len);
        long long count = strtoll(agg, NULL, 10) + 1;
        char *out = brook_record_alloc(rec, 48);
        (void)opaque;
        snprintf(out, 48, "%lld,%.*s", count, (int)(seq ? len : 2),
                 seq ? seq : "-1");
        return out;
}

/* ------------------------------------------------------------ status */

struct sampler {
        brook_app_t *app;
        chaos_status_t *st;
        atomic_bool stop;
        /** Per task: the app's rebalance count when its stores last started
         *  restoring (-1: never), and how many of them are restoring. */
        _Atomic int64_t gen[CHAOS_STATUS_TASKS];
        atomic_int restoring[CHAOS_STATUS_TASKS];
        /** Per store and task: its first restoration started, and it has
         *  not ended yet. */
        bool first_seen[CHAOS_STATUS_STORES][CHAOS_STATUS_TASKS];
        bool first_open[CHAOS_STATUS_STORES][CHAOS_STATUS_TASKS];
        pthread_mutex_t mu; /**< Guards first_seen and first_open. */
};

/* ---------------------------------------------------- restore listener */

/* The index of @p ri's store in chaos_status_stores, or -1 (also for a
 * partition beyond CHAOS_STATUS_TASKS). */
static int store_idx(const brook_restore_info_t *ri)
{
        int i;
        if (ri->partition < 0 || ri->partition >= CHAOS_STATUS_TASKS)
                return -1;
        for (i = 0; i < CHAOS_STATUS_STORES; i++)
                if (!strcmp(ri->store, chaos_status_stores[i]))
                        return i;
        return -1;
}

static void on_restore_start(const brook_restore_info_t *ri, void *opaque)
{
        struct sampler *s = opaque;
        chaos_status_t *st = s->st;
        int i = store_idx(ri), p = ri->partition;
        brook_app_stats_t as;

        fprintf(stderr,
                "chaos_app: restoring task %s store %s from offset %lld "
                "(%s) to %lld\n",
                ri->task_id, ri->store, (long long)ri->start_offset,
                ri->local_state ? "local state" : "no local state",
                (long long)ri->end_offset);
        if (i < 0)
                return;
        brook_app_stats(s->app, &as);
        atomic_store(&s->gen[p], as.rebalances);
        atomic_fetch_add(&s->restoring[p], 1);
        pthread_mutex_lock(&s->mu);
        if (!s->first_seen[i][p]) {
                s->first_seen[i][p] = s->first_open[i][p] = true;
                atomic_store(&st->first_records[i][p], 0);
                atomic_store(&st->first_local[i][p], ri->local_state);
                atomic_store(&st->first_end[i][p], ri->end_offset);
                atomic_store(&st->first_start[i][p], ri->start_offset);
        }
        pthread_mutex_unlock(&s->mu);
}

static void on_restore_batch(const brook_restore_info_t *ri, int64_t last,
                             int64_t records, void *opaque)
{
        struct sampler *s = opaque;
        int i = store_idx(ri), p = ri->partition;
        (void)last;
        if (i < 0)
                return;
        pthread_mutex_lock(&s->mu);
        if (s->first_open[i][p])
                atomic_fetch_add(&s->st->first_records[i][p], records);
        pthread_mutex_unlock(&s->mu);
}

static void restore_over(const brook_restore_info_t *ri, int64_t records,
                         struct sampler *s, const char *how)
{
        int i = store_idx(ri);
        if (records)
                fprintf(stderr,
                        "chaos_app: task %s store %s %s after %lld "
                        "records\n",
                        ri->task_id, ri->store, how, (long long)records);
        if (i < 0)
                return;
        atomic_fetch_sub(&s->restoring[ri->partition], 1);
        pthread_mutex_lock(&s->mu);
        s->first_open[i][ri->partition] = false;
        pthread_mutex_unlock(&s->mu);
}

static void on_restore_end(const brook_restore_info_t *ri, int64_t records,
                           void *opaque)
{
        restore_over(ri, records, opaque, "restored");
}

static void on_restore_suspend(const brook_restore_info_t *ri, int64_t records,
                               void *opaque)
{
        restore_over(ri, records, opaque, "suspended");
}

static void sleep_ms(int ms)
{
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

/*
 * Samples the app's counters every CHAOS_STATUS_POLL_MS and publishes
 * them with the phase they suggest. What the phase means, honestly:
 *   restore     no assignment yet (or a rebalance under way), or a store
 *               is restoring: exact, from the counters.
 *   commit      the commit counter moved since the previous sample (a
 *               commit completed less than a sample ago), or commits are
 *               stalled (the broker is away): a kill "during commit" lands
 *               at most one sample after a commit ended, or while one
 *               cannot complete. A commit in progress that has not ended
 *               yet shows as processing (its records are uncommitted).
 *   processing  records were processed since the last commit: the kill
 *               throws away uncommitted work (an open transaction under
 *               exactly-once).
 *   idle        nothing processed since the last commit.
 */
static void *sample(void *arg)
{
        struct sampler *s = arg;
        chaos_status_t *st = s->st;
        int64_t prev_commits = 0, processed_at_commit = 0, last_interval = 0;
        sigset_t all;

        /* brook_app_run()'s handlers take SIGTERM on the main thread. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, NULL);
        while (!atomic_load(&s->stop)) {
                brook_app_stats_t as;
                brook_app_state_t state = brook_app_state(s->app, NULL, 0);
                int64_t stalled = brook_app_stalled_ms(s->app, NULL, 0);
                uint32_t running = 0;
                int phase, p;

                brook_app_stats(s->app, &as);
                /* The tasks that started restoring since the last
                 * assignment and are done with it. Between a revocation
                 * and the next assignment (no store restoring, yet
                 * rebalancing) the tasks are closed. The state is read
                 * again after the counters: a revocation that came after
                 * the first read shows. */
                if (!((state == BROOK_APP_REBALANCING ||
                       brook_app_state(s->app, NULL, 0) ==
                               BROOK_APP_REBALANCING) &&
                      as.stores_restoring == 0))
                        for (p = 0; p < CHAOS_STATUS_TASKS; p++)
                                if (atomic_load(&s->gen[p]) == as.rebalances &&
                                    !atomic_load(&s->restoring[p]))
                                        running |= 1u << p;
                if (as.rebalances == 0 || as.stores_restoring > 0 ||
                    state == BROOK_APP_REBALANCING)
                        phase = CHAOS_PHASE_RESTORE;
                else if (as.commits != prev_commits || stalled > 0)
                        phase = CHAOS_PHASE_COMMIT;
                else if (as.records_processed != processed_at_commit)
                        phase = CHAOS_PHASE_PROCESSING;
                else
                        phase = CHAOS_PHASE_IDLE;
                if (as.commits != prev_commits) {
                        last_interval =
                                as.records_processed - processed_at_commit;
                        processed_at_commit = as.records_processed;
                }
                prev_commits = as.commits;

                atomic_store(&st->processed, as.records_processed);
                atomic_store(&st->produced, as.records_produced);
                atomic_store(&st->commits, as.commits);
                atomic_store(&st->rebalances, as.rebalances);
                atomic_store(&st->restored, as.records_restored);
                atomic_store(&st->stores_restoring, as.stores_restoring);
                atomic_store(&st->restore_remaining, as.restore_remaining);
                atomic_store(&st->stalled_ms, stalled);
                atomic_store(&st->uncommitted,
                             as.records_processed - processed_at_commit);
                atomic_store(&st->last_interval, last_interval);
                atomic_store(&st->app_state, (int32_t)state);
                atomic_store(&st->running, running);
                atomic_store(
                        &st->late_dropped,
                        brook_app_records_dropped(s->app, BROOK_DROP_LATE) +
                                brook_app_records_dropped(s->app,
                                                          BROOK_DROP_EXPIRED));
                atomic_store(&st->phase, phase);
                atomic_fetch_add(&st->samples, 1);
                sleep_ms(CHAOS_STATUS_POLL_MS);
        }
        return NULL;
}

/* ---------------------------------------------------------------- main */

static void build(brook_builder_t *b, const char *in, const char *out,
                  const char *win_out, brook_serde_t *wserde)
{
        const brook_serde_t *str = brook_serde_string();
        brook_windows_t w = brook_windows_tumbling(WINDOW_MS, 0);
        brook_suppressed_t sup = {.kind = BROOK_SUPPRESS_UNTIL_WINDOW_CLOSES,
                                  .name = "finals"};
        brook_stream_t *by_group = brook_stream_repartition(
                brook_stream_select_key(
                        brook_stream(b, in,
                                     &(brook_consumed_t){.key_serde = str,
                                                         .value_serde = str,
                                                         .timestamp_extractor =
                                                                 value_ts}),
                        group_key, NULL),
                &(brook_repartitioned_t){.name = "by-group",
                                         .key_serde = str,
                                         .value_serde = str});

        /* Caching off: every record makes exactly one update, so the
         * output has exactly one record per input record. */
        brook_stream_to(
                brook_table_to_stream(brook_grouped_aggregate(
                        brook_stream_group_by_key(by_group, NULL), rank_init,
                        rank_add, NULL,
                        &(brook_materialized_t){.name = "ranks",
                                                .key_serde = str,
                                                .value_serde = str,
                                                .caching_disabled = true})),
                out, &(brook_produced_t){.key_serde = str, .value_serde = str});

        brook_stream_to(
                brook_table_to_stream(brook_table_suppress(
                        brook_windowed_count(
                                brook_grouped_windowed_by(
                                        brook_stream_group_by_key(by_group,
                                                                  NULL),
                                        &w),
                                /* An hour: longer than the changelog can
                                 * run ahead of the committed offsets under
                                 * at-least-once (docs/windows.md), so a
                                 * reprocessed record is never dropped as
                                 * expired and no final is below the true
                                 * count. */
                                &(brook_materialized_t){
                                        .name = "windows",
                                        .key_serde = str,
                                        .retention_ms = 3600000,
                                        .version = BROOK_MATERIALIZED_VERSION}),
                        &sup)),
                win_out,
                &(brook_produced_t){.key_serde = wserde,
                                    .value_serde = brook_serde_int64()});
}

int main(int argc, char **argv)
{
        char errstr[512];
        brook_conf_t *conf = brook_conf_new();
        brook_builder_t *b = brook_builder_new();
        struct own_args own = {0};
        struct sampler s = {0};
        brook_serde_t *wserde;
        brook_app_stats_t as;
        pthread_t sampler;
        int rc, i;

        if ((rc = app_args(argc, argv, conf, own_arg, &own)))
                return rc;
        if (!own.window_output || !own.status) {
                fprintf(stderr,
                        "%s: chaos.window.output=TOPIC and "
                        "chaos.status=PATH are required\n",
                        argv[0]);
                return 2;
        }
        if (!(s.st = chaos_status_map(own.status))) {
                perror(own.status);
                return 1;
        }
        memset(s.st, 0, sizeof *s.st);
        pthread_mutex_init(&s.mu, NULL);
        for (i = 0; i < CHAOS_STATUS_TASKS; i++) {
                int j;
                atomic_init(&s.gen[i], -1);
                atomic_init(&s.restoring[i], 0);
                for (j = 0; j < CHAOS_STATUS_STORES; j++) {
                        atomic_store(&s.st->first_start[j][i], -1);
                        atomic_store(&s.st->first_end[j][i], -1);
                        atomic_store(&s.st->first_local[j][i], -1);
                        atomic_store(&s.st->first_records[j][i], -1);
                }
        }
        atomic_store(&s.st->pid, (int32_t)getpid());
        atomic_store(&s.st->magic, CHAOS_STATUS_MAGIC);

        if (!(wserde =
                      brook_serde_time_windowed(brook_serde_string(), WINDOW_MS,
                                                errstr, sizeof errstr))) {
                fprintf(stderr, "%s\n", errstr);
                return 1;
        }
        build(b, argv[4], argv[5], own.window_output, wserde);
        if (brook_builder_error(b)) {
                fprintf(stderr, "%s\n", brook_builder_error(b));
                return 1;
        }
        if (!(s.app = brook_app_new(b, conf, errstr, sizeof errstr))) {
                fprintf(stderr, "%s\n", errstr);
                return 1;
        }
        if (brook_app_set_restore_listener(
                    s.app,
                    &(brook_restore_listener_t){.on_start = on_restore_start,
                                                .on_batch = on_restore_batch,
                                                .on_end = on_restore_end,
                                                .on_suspend =
                                                        on_restore_suspend,
                                                .opaque = &s},
                    errstr, sizeof errstr)) {
                fprintf(stderr, "%s\n", errstr);
                return 1;
        }
        if (pthread_create(&sampler, NULL, sample, &s)) {
                fprintf(stderr, "%s: cannot start the sampler thread\n",
                        argv[0]);
                return 1;
        }
        rc = brook_app_run(s.app);
        atomic_store(&s.stop, true);
        pthread_join(sampler, NULL);
        brook_app_stats(s.app, &as);
        printf("%s processed=%lld restored=%lld produced=%lld\n", argv[1],
               (long long)as.records_processed, (long long)as.records_restored,
               (long long)as.records_produced);
        fflush(stdout);
        brook_app_destroy(s.app);
        brook_serde_destroy(wserde);
        munmap(s.st, sizeof *s.st);
        pthread_mutex_destroy(&s.mu);
        return rc;
}
