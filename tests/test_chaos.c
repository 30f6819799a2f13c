/*
 * Integration: the chaos test of exactly-once (issue 11) on the real broker.
 *
 * chaos_app (tests/apps/chaos_app.c) runs as INSTANCES separate processes,
 * static members "chaos-<i>" of one group. Its topology re-keys the input
 * by group through a repartition topic, then keeps per group a rank
 * ("COUNT,SEQ", caching off: one output per input record) and a tumbling
 * 10 s window count suppressed until the window closes (one final per
 * group and window). While a producer thread writes the input, paced, a
 * killer thread SIGKILLs a random instance every 1.5-3 s and restarts it
 * at once, recording the phase the instance published (restore, commit,
 * processing, idle: tests/apps/chaos_status.h); the main thread kills and
 * restarts the broker, and stops one instance (SIGSTOP) until the others
 * own its partitions, then lets it go on (SIGCONT): a zombie. Then it waits
 * until every expected output is there, stops the instances, reads both
 * outputs read_committed from the beginning and compares them with the
 * reference:
 *
 *   ranks    one record per input record (group, "RANK,SEQ"), RANK the
 *            record's 1-based place in its group's records by sequence
 *   windows  one final per (group, window) with records, the exact count
 *
 *   exactly_once_v2  nothing missing, nothing duplicated, no wrong value;
 *   at_least_once    nothing missing, no value below the reference;
 *                    duplicates and values above it (records processed
 *                    again) are counted and printed: what that mode allows.
 *                    So are values below it once the zombie processed or
 *                    sent anything: nothing fences it, and the stale state
 *                    it wrote to the changelog is what a later restore of
 *                    its task takes.
 *
 * Both also check: at least `kills` kills, at least half of them while the
 * instance was processing; each restarted instance found the stores of the
 * tasks its last run ran at most two commit intervals' worth of changelog
 * records behind what that run had written (see restore_judge()); no
 * store restored from scratch; no instance exited on its own.
 *
 * Input order. Windows have no grace, so a record whose window closed in
 * its task's stream time is dropped as late, and no exact reference could
 * exist if a group's records came from several input partitions (one
 * upstream task may lag another by seconds after a kill). So every group's
 * records go to the input partition its key's repartition partition is
 * (the producer picks the partition): each repartition partition is fed by
 * one upstream task, in offset order, and event time rises with the
 * sequence number.
 *
 * One summary line per run: "chaos <guarantee>: ...". tests/chaos/run runs
 * a long version through the environment:
 *   CHAOS_GUARANTEE        at_least_once or exactly_once_v2: only that run
 *   CHAOS_EVENTS           input records [500000]
 *   CHAOS_SECONDS          how long producing them takes [90]
 *   CHAOS_KILLS            at least this many kills [20]
 *   CHAOS_BROKER_RESTARTS  broker kills and restarts [1]
 *   CHAOS_FENCINGS         zombie episodes [1]
 *   CHAOS_COMMIT_MS        commit.interval.ms of both runs [100]
 *   CHAOS_DRAIN_SECONDS    how long the outputs may take to complete after
 *                          the input is in [300]
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "apps/chaos_status.h"
#include "chaos/reference.h"
#include "kafka_util.h"

/* What brook logs when a commit's offsets are refused (engine/thread.c). */
#define COMMIT_FAILED ": commit failed: "

#define INSTANCES 3
/* Changelog records one input record makes, at most: one in "ranks" (no
 * cache), one in "windows" (fewer: its cache keeps the latest per window
 * until a commit), one in the suppression buffer "finals" (one per window
 * update that reaches it). The buffer's deletes at eviction add one per
 * closed window; updates_per_record() counts those too. */
#define UPDATES_PER_RECORD 3

typedef struct params {
        int64_t events;
        int produce_s;
        int kills;
        int broker_restarts;
        int fencings;
        int commit_ms;
        int session_ms;
        int drain_s;
} params_t;

/* ------------------------------------------------------------- state */

#define STORES CHAOS_STATUS_STORES
#define TASKS  CHAOS_STATUS_TASKS

/* A process of an instance that ended (killed, or stopped at the end). */
typedef struct run_rec {
        int inst, run;
        int phase;     /**< Where a kill landed; -1 for the final stop. */
        int64_t at_ms; /**< When it ended, since production began. */
        int64_t processed, rebalances;
        /** Records it dropped as late (chaos_status_t late_dropped). */
        int64_t late_dropped;
        /** Records processed since the last commit, and between the
         *  last two commits, when it ended. */
        int64_t uncommitted, last_interval;
        /** Its last status: the tasks it had restored and ran, and the
         *  first restoration of each store (chaos_status_t). */
        uint32_t running;
        int64_t first_start[STORES][TASKS], first_end[STORES][TASKS];
        int64_t first_records[STORES][TASKS];
        int32_t first_local[STORES][TASKS];
        /** Killed: the changelogs' last stable offsets right after the
         *  kill (changelog_ends()); -1 where unknown, or not killed. */
        int64_t ends[STORES][TASKS];
        /** Its consumer's group session had timed out since its last
         *  assignment (session_lost()): the tasks it ran may have been
         *  another instance's by the kill. */
        bool lost;
        /* restore_judge()'s verdict on its start. */
        int ref;          /**< The run whose state it started from (its index in
                           *  c->runs), or -1: a fresh state dir. */
        uint32_t bounded; /**< The tasks it restored that ref ran. */
        /** How far behind ref's changelog ends (in offsets) its first
         *  restorations of those tasks started, and the most allowed (-1:
         *  none bounded). */
        int64_t lag, allowed;
        /** Records its first restorations applied: of the bounded tasks,
         *  of the others (new to it, or moved since), and how many stores
         *  of the bounded tasks had no local state. */
        int64_t bounded_records, other_records;
        int unstored;
} run_rec_t;

typedef struct inst {
        pid_t pid;    /**< The running process, 0 if none. */
        int run;      /**< Its number: 0 the first start, then restarts. */
        bool stopped; /**< SIGSTOPped. */
        char dir[512], status[512];
        chaos_status_t *st;
} inst_t;

typedef struct chaos {
        params_t p;
        const char *guarantee;
        char *app_id, *in, *out, *win_out, *dir;
        /** The stores' changelogs (chaos_status_stores' order), and a
         *  client that reads their ends. */
        char *changelog[STORES];
        rd_kafka_t *ends_rk;
        chaos_ref_t ref;
        chaos_tally_t tally;
        kt_reader_t *reader;
        inst_t inst[INSTANCES];

        pthread_mutex_t mu; /**< Guards the instances and what follows. */
        bool paused;        /**< No kills: an episode runs. */
        run_rec_t *runs;
        size_t run_cnt, run_cap;
        int kills;
        char unexpected[1024]; /**< An instance that exited on its own. */

        atomic_bool stop;     /**< The threads stop. */
        atomic_bool produced; /**< The producer wrote (and flushed) all. */
        atomic_bool killed_enough;
        char producer_err[512];
        pthread_t producer, killer;
        bool producer_started, killer_started;

        bool broker_down;
        int broker_restarts, fencings;
        /** Records zombies had processed since their last commit when
         *  stopped, and processed and sent after SIGCONT, before they were
         *  assigned partitions again. */
        int64_t zombie_open, zombie_processed, zombie_produced;
        /** Zombies whose commit failed after they went on: each flushed
         *  its open work to the changelogs first. */
        int zombie_flushed;
        int64_t started_ms;
        uint64_t rng;
} chaos_t;

/* The run in progress, for the teardown to clean up after a failure. */
static chaos_t *current;

static int env_int(const char *name, int def)
{
        const char *v = getenv(name);
        return v && *v ? atoi(v) : def;
}

static void params_init(params_t *p)
{
        const char *ev = getenv("CHAOS_EVENTS");
        p->events = ev && *ev ? strtoll(ev, NULL, 10) : 500000;
        p->produce_s = env_int("CHAOS_SECONDS", 90);
        p->kills = env_int("CHAOS_KILLS", 20);
        p->broker_restarts = env_int("CHAOS_BROKER_RESTARTS", 1);
        p->fencings = env_int("CHAOS_FENCINGS", 1);
        /* One commit interval for both guarantees (at_least_once's default
         * is 30 s): the runs then differ only in the guarantee, and the
         * restore bound is the same small number for both. */
        p->commit_ms = env_int("CHAOS_COMMIT_MS", 100);
        /* The broker's smallest (group.min.session.timeout.ms): a SIGSTOP
         * longer than it makes a zombie; a restart is back well within
         * it, so a killed static member keeps its partitions. */
        p->session_ms = 6000;
        p->drain_s = env_int("CHAOS_DRAIN_SECONDS", 300);
        assert_true(p->events > 0 && p->produce_s > 0);
}

/* ---------------------------------------------------------- instances */

static void restore_explain(const chaos_t *c, const run_rec_t *rr);
static bool session_lost(const chaos_t *c, int i, int run);

static void inst_spawn(chaos_t *c, int i)
{
        inst_t *in = &c->inst[i];
        char name[32], log[1024], out_arg[600], status_arg[600];
        char guarantee[64], commit[64], member[64], session[64], hb[64];
        char *argv[] = {CHAOS_APP_PATH,
                        name,
                        (char *)kt_bootstrap(),
                        c->app_id,
                        c->in,
                        c->out,
                        in->dir,
                        out_arg,
                        status_arg,
                        guarantee,
                        commit,
                        member,
                        session,
                        hb,
                        "num.stream.threads=1",
                        NULL};

        snprintf(name, sizeof name, "i%d-r%d", i, in->run);
        snprintf(out_arg, sizeof out_arg, "chaos.window.output=%s", c->win_out);
        snprintf(status_arg, sizeof status_arg, "chaos.status=%s", in->status);
        snprintf(guarantee, sizeof guarantee, "processing.guarantee=%s",
                 c->guarantee);
        snprintf(commit, sizeof commit, "commit.interval.ms=%d",
                 c->p.commit_ms);
        snprintf(member, sizeof member, "group.instance.id=chaos-%d", i);
        snprintf(session, sizeof session, "consumer.session.timeout.ms=%d",
                 c->p.session_ms);
        snprintf(hb, sizeof hb, "consumer.heartbeat.interval.ms=%d",
                 c->p.session_ms / 6);
        snprintf(log, sizeof log, "%s/%s-%s", LOG_DIR, c->app_id, name);
        in->pid = kt_spawn(argv, log);
}

/* snprintf() for messages, where cutting a long one short is fine. */
static void msg_printf(char *buf, size_t size, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void msg_printf(char *buf, size_t size, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, size, fmt, ap);
        va_end(ap);
}

/* ------------------------------------------------------ restore bound */

/* Changelog records one input record makes, at most (see
 * UPDATES_PER_RECORD), with the suppression buffer's deletes: one per
 * closed window. */
static double updates_per_record(const chaos_t *c)
{
        return UPDATES_PER_RECORD +
               (double)c->ref.pairs / (double)c->ref.events;
}

/*
 * Two commit intervals' worth of changelog updates at the input's rate:
 * 2 x commit.interval.ms x (events / produce_s, the producer's pace) x
 * updates_per_record(). It counts every partition, though an instance
 * has only some.
 */
static int64_t rate_bound(const chaos_t *c)
{
        double per_s = (double)c->ref.events / c->p.produce_s;
        return (int64_t)(2.0 * c->p.commit_ms / 1000.0 * per_s *
                         updates_per_record(c));
}

/* The changelogs' last stable offsets now (their ends, as far as
 * committed records go), per store and partition, into @p ends; -1 where
 * unknown (a topic not created yet, the broker away). One request; never
 * fails the test (it runs on the killer thread). */
static void changelog_ends(chaos_t *c, int64_t ends[STORES][TASKS])
{
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(STORES * CHAOS_PARTS);
        int i, p;

        for (i = 0; i < STORES; i++)
                for (p = 0; p < TASKS; p++)
                        ends[i][p] = -1;
        for (i = 0; i < STORES; i++)
                for (p = 0; p < CHAOS_PARTS; p++)
                        /* ListOffsets' "latest" (-1), as the consumer
                         * reads it (read_committed: the LSO). */
                        rd_kafka_topic_partition_list_add(l, c->changelog[i], p)
                                ->offset = RD_KAFKA_OFFSET_END;
        if (!rd_kafka_offsets_for_times(c->ends_rk, l, 5000))
                for (i = 0; i < l->cnt; i++) {
                        rd_kafka_topic_partition_t *tp = &l->elems[i];
                        int s = i / CHAOS_PARTS;
                        if (!tp->err && tp->offset >= 0)
                                ends[s][tp->partition] = tp->offset;
                }
        rd_kafka_topic_partition_list_destroy(l);
}

/*
 * The restore bound, exact. A process keeps its stores on disk with the
 * changelog offset each matches, written at each commit (under
 * exactly-once once the transaction committed). So when it dies, each
 * store of a task it ran is behind its changelog by what the process
 * wrote since its last commit reached the disk: the records it processed
 * since its last commit, plus, if it died between a commit and that
 * commit's write to disk, those of the interval before. The next process
 * of the instance starts from that state: its first restoration of such a
 * store starts at the stored offset, and every changelog offset from
 * there to the changelog's end at the kill (changelog_ends(), read right
 * after it) is a record the disk did not have. What the changelog got
 * after the kill is another instance's work (the task moved, maybe to come
 * back) and does not count. So the bound needs no guess about rebalances:
 * it applies to exactly the tasks the dead process ran (chaos_status_t
 * running), however the next process got them; and a store whose offset
 * was lost or went back (restored from scratch, or from an older offset)
 * shows as a lag of everything lost.
 *
 * The allowance: two commit intervals' worth at the input's pace
 * (rate_bound()), or, when an interval held more (after a restart, a
 * broker restart or a rebalance an instance catches up faster than the
 * input comes), what the dead process's last two intervals held (its
 * status: records since its last commit and in the one before) times
 * updates_per_record(). Offsets also count transaction markers, a few per
 * interval, which that covers.
 *
 * The state it started from is that of the last earlier run of the
 * instance that was assigned anything (one killed before that wrote
 * nothing); none (a fresh state dir): nothing is bounded. Tasks that run
 * did not run when it died are counted apart, not bounded: new to the
 * instance, taken from it by a rebalance, or still restoring (then what
 * its disk had is somewhere in that restoration, and that restoration's
 * own start was judged when it began). So are all of them when its
 * group session had timed out since it was last assigned (session_lost():
 * a thread blocked while the broker was away, say in a new producer's
 * init_transactions(), learns of the loss only at its next poll, and its
 * status still says "running" while another instance runs its tasks and
 * writes their changelogs).
 */
static void restore_judge(chaos_t *c, run_rec_t *rr)
{
        const run_rec_t *ref = NULL;
        int64_t worth;
        size_t j;
        int i, p;

        rr->ref = -1;
        rr->allowed = -1;
        for (j = (size_t)(rr - c->runs); j-- > 0;)
                if (c->runs[j].inst == rr->inst && c->runs[j].rebalances > 0) {
                        ref = &c->runs[j];
                        rr->ref = (int)j;
                        break;
                }
        for (i = 0; i < STORES; i++)
                for (p = 0; p < TASKS; p++) {
                        int64_t start = rr->first_start[i][p], end;
                        if (start < 0)
                                continue; /* not restored */
                        if (!ref || !((ref->running >> p) & 1) || ref->lost ||
                            ref->ends[i][p] < 0) {
                                rr->other_records += rr->first_records[i][p];
                                continue;
                        }
                        rr->bounded |= 1u << p;
                        rr->bounded_records += rr->first_records[i][p];
                        end = ref->ends[i][p] < rr->first_end[i][p]
                                      ? ref->ends[i][p]
                                      : rr->first_end[i][p];
                        if (end > start)
                                rr->lag += end - start;
                        if (!rr->first_local[i][p])
                                rr->unstored++;
                }
        if (!rr->bounded)
                return;
        worth = (int64_t)((double)(ref->uncommitted + ref->last_interval) *
                          updates_per_record(c));
        rr->allowed = worth > rate_bound(c) ? worth : rate_bound(c);
}

/* ---------------------------------------------------------- instances */

/* Records how process @p pid of instance @p i ended: killed (@p phase
 * says where: the last it published) or stopped (@p phase -1). Under
 * c->mu. */
static void run_record(chaos_t *c, int i, pid_t pid, int phase)
{
        inst_t *in = &c->inst[i];
        chaos_status_t *st = in->st;
        char bounded[200] = "", others[80] = "";
        run_rec_t *rr;
        int k, p;
        if (c->run_cnt == c->run_cap) {
                c->run_cap = c->run_cap ? 2 * c->run_cap : 64;
                c->runs = realloc(c->runs, c->run_cap * sizeof *c->runs);
                assert_non_null(c->runs);
        }
        rr = &c->runs[c->run_cnt++];
        memset(rr, 0, sizeof *rr);
        rr->inst = i;
        rr->run = in->run;
        rr->at_ms = kt_now_ms() - c->started_ms;
        rr->phase = phase;
        for (k = 0; k < STORES; k++)
                for (p = 0; p < TASKS; p++) {
                        rr->first_start[k][p] = rr->ends[k][p] = -1;
                        rr->first_end[k][p] = rr->first_records[k][p] = -1;
                }
        if (atomic_load(&st->pid) == pid) {
                rr->processed = atomic_load(&st->processed);
                rr->late_dropped = atomic_load(&st->late_dropped);
                rr->rebalances = atomic_load(&st->rebalances);
                rr->uncommitted = atomic_load(&st->uncommitted);
                rr->last_interval = atomic_load(&st->last_interval);
                rr->running = atomic_load(&st->running);
                for (k = 0; k < STORES; k++)
                        for (p = 0; p < TASKS; p++) {
                                rr->first_start[k][p] =
                                        atomic_load(&st->first_start[k][p]);
                                rr->first_end[k][p] =
                                        atomic_load(&st->first_end[k][p]);
                                rr->first_records[k][p] =
                                        atomic_load(&st->first_records[k][p]);
                                rr->first_local[k][p] =
                                        atomic_load(&st->first_local[k][p]);
                        }
        } else if (phase >= 0) {
                /* Killed before it published anything. */
                rr->phase = CHAOS_PHASE_STARTING;
        }
        /* The process is gone: what its changelogs hold past its stores'
         * offsets is all it could not write to disk. */
        if (phase >= 0 && rr->rebalances > 0) {
                changelog_ends(c, rr->ends);
                rr->lost = session_lost(c, i, in->run);
        }
        restore_judge(c, rr);
        if (rr->bounded)
                msg_printf(bounded, sizeof bounded,
                           ": %" PRId64 " for the %d tasks its last run ran, "
                           "whose stores were %" PRId64 " changelog offsets "
                           "behind (allowed %" PRId64 "; %d of them had no "
                           "local state)",
                           rr->bounded_records, __builtin_popcount(rr->bounded),
                           rr->lag, rr->allowed, rr->unstored);
        if (rr->other_records > 0)
                msg_printf(others, sizeof others,
                           "%s%" PRId64 " for tasks new to it",
                           rr->bounded ? ", " : ": ", rr->other_records);
        print_message("chaos %s: %s %d at %.1f s: instance %d run %d, %s, "
                      "%" PRId64 " processed (%" PRId64 " uncommitted, %" PRId64
                      " in the last commit), %" PRId64 " rebalances%s; "
                      "restored %" PRId64 " records (each store's first "
                      "restoration)%s%s\n",
                      c->guarantee, phase >= 0 ? "kill" : "stop",
                      phase >= 0 ? c->kills + 1 : i + 1,
                      (double)rr->at_ms / 1000.0, i, in->run,
                      phase >= 0 ? chaos_phase_name(rr->phase) : "clean stop",
                      rr->processed, rr->uncommitted, rr->last_interval,
                      rr->rebalances,
                      rr->lost ? ", its group session timed out since its "
                                 "last assignment"
                               : "",
                      rr->bounded_records + rr->other_records, bounded, others);
        if (rr->bounded && rr->lag >= rr->allowed)
                restore_explain(c, rr);
}

/* The path of the stderr log of run @p run of instance @p i, into
 * @p path. */
static void run_log_path(const chaos_t *c, int i, int run, char *path,
                         size_t size)
{
        snprintf(path, size, "%s/%s-i%d-r%d.err", LOG_DIR, c->app_id, i, run);
}

/* The path of instance @p i's current stderr log, into @p path. */
static void log_path(const chaos_t *c, int i, char *path, size_t size)
{
        run_log_path(c, i, c->inst[i].run, path, size);
}

/* The offset in @p s just past the last occurrence of @p what, or 0. */
static size_t last_of(const char *s, const char *what)
{
        const char *p, *last = NULL;
        for (p = s; (p = strstr(p, what)); p++)
                last = p;
        return last ? (size_t)(last - s) + strlen(what) : 0;
}

/*
 * Whether run @p run of instance @p i lost its group membership after it
 * was last assigned partitions: librdkafka says so the moment it happens,
 * from its own thread, whatever the stream thread is doing (SESSTMOUT: no
 * heartbeat answered within session.timeout.ms, the broker away or the
 * process stopped; MAXPOLL: the application did not poll in time), while
 * brook's own lines ("assigned", "partitions lost") wait for the stream
 * thread's next poll.
 */
static bool session_lost(const chaos_t *c, int i, int run)
{
        char path[1024];
        char *s;
        size_t assigned, lost;
        run_log_path(c, i, run, path, sizeof path);
        if (!(s = kt_slurp(path)))
                return false;
        /* The instances run one stream thread (inst_spawn()). */
        assigned = last_of(s, "brook INFO thread 0: assigned ");
        lost = last_of(s, "|SESSTMOUT|");
        if (last_of(s, "|MAXPOLL|") > lost)
                lost = last_of(s, "|MAXPOLL|");
        free(s);
        return lost > assigned;
}

/*
 * Prints what a restart found past its bound needs to be explained: each
 * store behind, where its restoration started against the changelog's end
 * at the kill of the run before and at the restoration, and the lines of
 * both runs' logs that say what their tasks went through (assignments,
 * restorations, warnings).
 */
static void restore_explain(const chaos_t *c, const run_rec_t *rr)
{
        const run_rec_t *ref = &c->runs[rr->ref];
        const run_rec_t *runs[2] = {ref, rr};
        int i, p, k;

        for (i = 0; i < STORES; i++)
                for (p = 0; p < TASKS; p++)
                        if ((rr->bounded >> p) & 1 &&
                            rr->first_start[i][p] >= 0)
                                print_message(
                                        "chaos %s:   store %s task %d: "
                                        "restored from %" PRId64
                                        " (local state: %d); its changelog "
                                        "ended at %" PRId64 " at run %d's "
                                        "kill, at %" PRId64 " when restored\n",
                                        c->guarantee, chaos_status_stores[i], p,
                                        rr->first_start[i][p],
                                        rr->first_local[i][p], ref->ends[i][p],
                                        ref->run, rr->first_end[i][p]);
        for (k = 0; k < 2; k++) {
                char path[1024];
                char *s, *line, *save = NULL;
                const char *lines[64]; /* the last 64, a ring */
                int n = 0, from, j;
                run_log_path(c, runs[k]->inst, runs[k]->run, path, sizeof path);
                if (!(s = kt_slurp(path)))
                        continue;
                /* The end of the killed run, the start of the next. */
                for (line = strtok_r(s, "\n", &save);
                     line && !(k == 1 && n == 30);
                     line = strtok_r(NULL, "\n", &save))
                        if (strstr(line, " WARN ") || strstr(line, " ERROR ") ||
                            strstr(line, "|SESSTMOUT|") ||
                            strstr(line, "|MAXPOLL|") ||
                            strstr(line, " assigned ") ||
                            strstr(line, " partitions ") ||
                            strstr(line, "restoring task"))
                                lines[n++ % 64] = line;
                from = n > 30 ? n - 30 : 0;
                for (j = from; j < n; j++)
                        print_message("chaos %s:   %s: %.300s\n", c->guarantee,
                                      path, lines[j % 64]);
                free(s);
        }
}

/* The last lines of instance @p i's current stderr log, into @p buf. */
static void log_tail(chaos_t *c, int i, char *buf, size_t size)
{
        char path[1024];
        char *s, *from;
        size_t len;
        int lines = 0;
        log_path(c, i, path, sizeof path);
        if (!(s = kt_slurp(path))) {
                msg_printf(buf, size, "(no log %s)", path);
                return;
        }
        len = strlen(s);
        from = s + len;
        while (from > s && lines < 6)
                if (*--from == '\n' && from + 1 < s + len)
                        lines++;
        msg_printf(buf, size, "%s: %s", path, from);
        free(s);
}

/* How many times instance @p i's current stderr log says @p what. */
static int log_count(chaos_t *c, int i, const char *what)
{
        char path[1024];
        char *s, *p;
        int n = 0;
        log_path(c, i, path, sizeof path);
        if (!(s = kt_slurp(path)))
                return 0;
        for (p = s; (p = strstr(p, what)); p += strlen(what))
                n++;
        free(s);
        return n;
}

/* Notes an instance that exited although nobody stopped it. Under c->mu. */
static void inst_exited(chaos_t *c, int i, int status)
{
        char tail[700];
        if (c->unexpected[0])
                return;
        log_tail(c, i, tail, sizeof tail);
        msg_printf(c->unexpected, sizeof c->unexpected,
                   "instance %d (run %d) exited on its own (%s %d): %s", i,
                   c->inst[i].run, WIFSIGNALED(status) ? "signal" : "status",
                   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
                   tail);
}

/* SIGKILLs instance @p i and starts it again at once. Under c->mu. */
static void inst_kill_restart(chaos_t *c, int i)
{
        inst_t *in = &c->inst[i];
        int status;
        pid_t pid = in->pid;
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        in->pid = 0;
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
                inst_exited(c, i, status);
                return;
        }
        run_record(c, i, pid, atomic_load(&in->st->phase));
        c->kills++;
        in->run++;
        inst_spawn(c, i);
}

/* Fails the test if an instance exited on its own or the producer
 * failed. */
static void check_health(chaos_t *c)
{
        int i, status;
        pthread_mutex_lock(&c->mu);
        for (i = 0; i < INSTANCES; i++)
                if (c->inst[i].pid > 0 && waitpid(c->inst[i].pid, &status,
                                                  WNOHANG) == c->inst[i].pid) {
                        c->inst[i].pid = 0;
                        inst_exited(c, i, status);
                }
        pthread_mutex_unlock(&c->mu);
        if (c->unexpected[0])
                fail_msg("%s", c->unexpected);
        if (c->producer_err[0])
                fail_msg("producer: %s", c->producer_err);
}

/* --------------------------------------------------------- producer */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
        chaos_t *c = opaque;
        (void)rk;
        if (rkm->err && !c->producer_err[0])
                snprintf(c->producer_err, sizeof c->producer_err,
                         "delivery failed: %s", rd_kafka_err2str(rkm->err));
}

/* Writes the input, paced over produce_s seconds, then the closing
 * records. Reports failures in c->producer_err (cmocka asserts belong to
 * the main thread). */
static void *producer_main(void *arg)
{
        chaos_t *c = arg;
        const chaos_ref_t *r = &c->ref;
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char err[512], key[16], val[96];
        int64_t start, i, deadline;
        rd_kafka_t *rk;

        rd_kafka_conf_set(conf, "bootstrap.servers", kt_bootstrap(), NULL, 0);
        /* In order and once per partition, across the broker restart. */
        rd_kafka_conf_set(conf, "enable.idempotence", "true", NULL, 0);
        rd_kafka_conf_set(conf, "linger.ms", "5", NULL, 0);
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
        rd_kafka_conf_set_opaque(conf, c);
        if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err))) {
                snprintf(c->producer_err, sizeof c->producer_err, "%s", err);
                return NULL;
        }
        start = kt_now_ms();
        for (i = 0; i < r->n && !atomic_load(&c->stop); i++) {
                int g = r->group[i];
                rd_kafka_resp_err_t e;
                if (i < r->events) {
                        int64_t due =
                                start + i * c->p.produce_s * 1000 / r->events;
                        while (kt_now_ms() < due && !atomic_load(&c->stop)) {
                                rd_kafka_poll(rk, 0);
                                kt_sleep_ms(5);
                        }
                }
                chaos_ref_record(r, i, key, sizeof key, val, sizeof val);
                while ((e = rd_kafka_producev(
                                rk, RD_KAFKA_V_TOPIC(c->in),
                                RD_KAFKA_V_PARTITION(r->group_part[g]),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_KEY(key, strlen(key)),
                                RD_KAFKA_V_VALUE(val, strlen(val)),
                                RD_KAFKA_V_TIMESTAMP(chaos_event_ts(r, i)),
                                RD_KAFKA_V_END)) ==
                       RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        rd_kafka_poll(rk, 50);
                if (e) {
                        snprintf(c->producer_err, sizeof c->producer_err,
                                 "produce: %s", rd_kafka_err2str(e));
                        break;
                }
        }
        /* The broker may be restarting: wait for the deliveries, up to the
         * producer's own message timeout. */
        deadline = kt_now_ms() + 330000;
        while (rd_kafka_outq_len(rk) > 0 && kt_now_ms() < deadline &&
               !atomic_load(&c->stop))
                rd_kafka_flush(rk, 500);
        if (rd_kafka_outq_len(rk) > 0 && !c->producer_err[0] &&
            !atomic_load(&c->stop))
                snprintf(c->producer_err, sizeof c->producer_err,
                         "%d records not delivered after 330 s",
                         rd_kafka_outq_len(rk));
        rd_kafka_destroy(rk);
        if (i == r->n && !c->producer_err[0])
                atomic_store(&c->produced, true);
        return NULL;
}

/* ------------------------------------------------------------ killer */

/* Every 1.5-3 s, unless an episode runs: SIGKILL an instance (one that
 * is processing, when one is) and start it again. Ends once the input is
 * in and enough kills were made. */
static void *killer_main(void *arg)
{
        chaos_t *c = arg;
        uint64_t rng = 0x853c49e6748fea9bULL ^ (uint64_t)getpid();
        int first;
        while (!atomic_load(&c->stop)) {
                int64_t until =
                        kt_now_ms() + 1500 + (int)(chaos_rng_next(&rng) % 1501);
                bool done;
                while (kt_now_ms() < until && !atomic_load(&c->stop))
                        kt_sleep_ms(20);
                if (atomic_load(&c->stop))
                        break;
                /* The victim: one that is processing, if one is within
                 * 2 s (a slow build spends longer restoring after each
                 * kill; the kills are meant to land mid-processing),
                 * else any. */
                until = kt_now_ms() + 2000;
                first = (int)(chaos_rng_next(&rng) % INSTANCES);
                for (;;) {
                        int victim = -1, j;
                        bool go;
                        pthread_mutex_lock(&c->mu);
                        done = atomic_load(&c->produced) &&
                               c->kills >= c->p.kills;
                        go = !done && !c->paused && !c->unexpected[0];
                        for (j = 0; go && victim < 0 && j < INSTANCES; j++) {
                                int i = (first + j) % INSTANCES;
                                if (c->inst[i].pid > 0 &&
                                    atomic_load(&c->inst[i].st->phase) ==
                                            CHAOS_PHASE_PROCESSING)
                                        victim = i;
                        }
                        if (go && (victim >= 0 || kt_now_ms() >= until))
                                inst_kill_restart(c,
                                                  victim >= 0 ? victim : first);
                        pthread_mutex_unlock(&c->mu);
                        if (!go || victim >= 0 || kt_now_ms() >= until ||
                            atomic_load(&c->stop))
                                break;
                        kt_sleep_ms(20);
                }
                if (done)
                        break;
        }
        atomic_store(&c->killed_enough, true);
        return NULL;
}

/* Pauses the kills for an episode (@p paused), or resumes them. */
static void kills_pause(chaos_t *c, bool paused)
{
        pthread_mutex_lock(&c->mu);
        c->paused = paused;
        pthread_mutex_unlock(&c->mu);
}

/* ---------------------------------------------------------- episodes */

typedef struct group_want {
        chaos_t *c;
        int members;
} group_want_t;

static bool group_reached(void *opaque)
{
        group_want_t *w = opaque;
        kt_group_t g;
        int p;
        check_health(w->c);
        kt_describe_group(w->c->app_id, w->c->in, &g);
        if (g.state != RD_KAFKA_CONSUMER_GROUP_STATE_STABLE ||
            g.members != w->members)
                return false;
        for (p = 0; p < CHAOS_PARTS; p++)
                if (!g.owner[p][0])
                        return false;
        return true;
}

/* Waits until the group is stable with @p members members owning every
 * input partition; fails early if an instance exits. */
static void wait_group(chaos_t *c, int members, int timeout_ms, const char *why)
{
        group_want_t w = {c, members};
        if (!kt_wait_until(group_reached, &w, 200, timeout_ms))
                fail_msg("%s: the group did not become stable with %d "
                         "members owning the %d input partitions in %d ms",
                         why, members, CHAOS_PARTS, timeout_ms);
}

/* The broker SIGKILLed and started again on the same data; the instances
 * ride through (they stall, then go on). */
static void episode_broker(chaos_t *c)
{
        int64_t t0 = kt_now_ms();
        kills_pause(c, true);
        kt_broker("kill");
        c->broker_down = true;
        kt_broker("restart");
        c->broker_down = false;
        wait_group(c, INSTANCES, 180000, "after the broker restart");
        c->broker_restarts++;
        print_message("chaos %s: broker killed and restarted at %.1f s, "
                      "group stable again after %.1f s\n",
                      c->guarantee, (double)(t0 - c->started_ms) / 1000.0,
                      (double)(kt_now_ms() - t0) / 1000.0);
        kills_pause(c, false);
}

typedef struct takeover {
        chaos_t *c;
        int zombie;
        int64_t rebalances[INSTANCES];
} takeover_t;

/* The instances other than the zombie were assigned again since it
 * stopped, and restored what they got. */
static bool others_took_over(void *opaque)
{
        takeover_t *t = opaque;
        int i;
        check_health(t->c);
        for (i = 0; i < INSTANCES; i++) {
                chaos_status_t *st = t->c->inst[i].st;
                if (i == t->zombie)
                        continue;
                if (atomic_load(&st->rebalances) <= t->rebalances[i] ||
                    atomic_load(&st->phase) == CHAOS_PHASE_RESTORE)
                        return false;
        }
        return true;
}

/*
 * A zombie: one instance stopped (SIGSTOP) for longer than the session
 * timeout, until the group dropped it and the others own and restored its
 * partitions; then it goes on (SIGCONT) as if nothing happened, with its
 * open work, until it learns it was fenced. Whatever it wrote meanwhile
 * must not reach the outputs under exactly-once (the final check: no
 * duplicate, no wrong value).
 */
static void episode_fencing(chaos_t *c)
{
        takeover_t t = {.c = c};
        int64_t t0 = kt_now_ms(), before, sent, reb, open, deadline;
        chaos_status_t *zst;
        int i, status, failed;

        kills_pause(c, true);
        t.zombie = (int)(chaos_rng_next(&c->rng) % INSTANCES);
        zst = c->inst[t.zombie].st;
        for (i = 0; i < INSTANCES; i++)
                t.rebalances[i] = atomic_load(&c->inst[i].st->rebalances);
        /* Stopped with work since its last commit (an open transaction
         * under exactly-once), if it gets some within 2 s. */
        deadline = kt_now_ms() + 2000;
        while ((atomic_load(&zst->phase) != CHAOS_PHASE_PROCESSING ||
                atomic_load(&zst->uncommitted) == 0) &&
               kt_now_ms() < deadline)
                kt_sleep_ms(1);
        assert_int_equal(kill(c->inst[t.zombie].pid, SIGSTOP), 0);
        c->inst[t.zombie].stopped = true;
        /* Once it is stopped, its status is where it stopped. */
        assert_int_equal(waitpid(c->inst[t.zombie].pid, &status, WUNTRACED),
                         c->inst[t.zombie].pid);
        assert_true(WIFSTOPPED(status));
        open = atomic_load(&zst->uncommitted);
        c->zombie_open += open;
        wait_group(c, INSTANCES - 1, c->p.session_ms + 120000,
                   "with an instance stopped");
        if (!kt_wait_until(others_took_over, &t, 20, 120000))
                fail_msg("the instances other than %d did not restore its "
                         "partitions within 120 s",
                         t.zombie);
        before = atomic_load(&zst->processed);
        sent = atomic_load(&zst->produced);
        reb = atomic_load(&zst->rebalances);
        failed = log_count(c, t.zombie, COMMIT_FAILED);
        assert_int_equal(kill(c->inst[t.zombie].pid, SIGCONT), 0);
        c->inst[t.zombie].stopped = false;
        /* What it processes until its next assignment is a zombie's
         * work. */
        deadline = kt_now_ms() + 120000;
        while (atomic_load(&zst->rebalances) == reb && kt_now_ms() < deadline)
                kt_sleep_ms(2);
        before = atomic_load(&zst->processed) - before;
        sent = atomic_load(&zst->produced) - sent;
        c->zombie_processed += before;
        c->zombie_produced += sent;
        /* A commit flushes the stores (their changelog records go out)
         * before it commits the offsets, which a zombie's cannot. */
        if (log_count(c, t.zombie, COMMIT_FAILED) > failed)
                c->zombie_flushed++;
        wait_group(c, INSTANCES, 180000, "after the zombie went on");
        c->fencings++;
        print_message("chaos %s: instance %d stopped at %.1f s with %" PRId64
                      " records processed since its last commit, went on "
                      "%.1f s later, then processed %" PRId64
                      " records and sent %" PRId64 " as a zombie\n",
                      c->guarantee, t.zombie,
                      (double)(t0 - c->started_ms) / 1000.0, open,
                      (double)(kt_now_ms() - t0) / 1000.0, before, sent);
        kills_pause(c, false);
}

/* ------------------------------------------------------------- setup */

static char *dir_new(void)
{
        char *dir = strdup("/tmp/brook-chaos-test-XXXXXX");
        assert_non_null(mkdtemp(dir));
        return dir;
}

static void dir_remove(const char *dir)
{
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

static chaos_t *chaos_new(const char *guarantee)
{
        chaos_t *c = calloc(1, sizeof *c);
        int i;
        assert_non_null(c);
        params_init(&c->p);
        c->guarantee = guarantee;
        c->app_id =
                kt_unique(!strcmp(guarantee, "exactly_once_v2") ? "chaos-eos"
                                                                : "chaos-alos");
        c->in = kt_unique("chaos-in");
        c->out = kt_unique("chaos-ranks");
        c->win_out = kt_unique("chaos-finals");
        for (i = 0; i < STORES; i++) {
                size_t n =
                        strlen(c->app_id) + strlen(chaos_status_stores[i]) + 16;
                c->changelog[i] = malloc(n);
                assert_non_null(c->changelog[i]);
                snprintf(c->changelog[i], n, "%s-%s-changelog", c->app_id,
                         chaos_status_stores[i]);
        }
        {
                rd_kafka_conf_t *conf = rd_kafka_conf_new();
                char err[512];
                rd_kafka_conf_set(conf, "bootstrap.servers", kt_bootstrap(),
                                  NULL, 0);
                rd_kafka_conf_set(conf, "isolation.level", "read_committed",
                                  NULL, 0);
                c->ends_rk =
                        rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
                if (!c->ends_rk)
                        fail_msg("rd_kafka_new: %s", err);
        }
        c->dir = dir_new();
        c->rng = 0x2545f4914f6cdd1dULL;
        pthread_mutex_init(&c->mu, NULL);
        /* One window of event time per second of producing. */
        chaos_ref_init(&c->ref, c->p.events, c->p.produce_s);
        chaos_tally_init(&c->tally, &c->ref, c->out, c->win_out);
        for (i = 0; i < INSTANCES; i++) {
                inst_t *in = &c->inst[i];
                snprintf(in->dir, sizeof in->dir, "%s/state-%d", c->dir, i);
                snprintf(in->status, sizeof in->status, "%s/status-%d", c->dir,
                         i);
                in->st = chaos_status_map(in->status);
                assert_non_null(in->st);
        }
        current = c;
        return c;
}

/* Stops the threads and every process; restarts the broker if a failure
 * left it down. Safe after a failure anywhere. */
static void chaos_stop(chaos_t *c)
{
        int i;
        atomic_store(&c->stop, true);
        if (c->producer_started)
                pthread_join(c->producer, NULL);
        if (c->killer_started)
                pthread_join(c->killer, NULL);
        c->producer_started = c->killer_started = false;
        for (i = 0; i < INSTANCES; i++)
                if (c->inst[i].pid > 0) {
                        kill(c->inst[i].pid, SIGCONT);
                        kill(c->inst[i].pid, SIGKILL);
                        waitpid(c->inst[i].pid, NULL, 0);
                        c->inst[i].pid = 0;
                }
        if (c->broker_down) {
                c->broker_down = false;
                kt_broker("restart");
        }
}

static void chaos_free(chaos_t *c)
{
        int i;
        if (!c)
                return;
        chaos_stop(c);
        /* The instances' logs stay in LOG_DIR; their state goes, even
         * after a failure. */
        dir_remove(c->dir);
        kt_reader_destroy(c->reader);
        if (c->ends_rk)
                rd_kafka_destroy(c->ends_rk);
        for (i = 0; i < STORES; i++)
                free(c->changelog[i]);
        for (i = 0; i < INSTANCES; i++)
                if (c->inst[i].st)
                        munmap(c->inst[i].st, sizeof *c->inst[i].st);
        chaos_tally_free(&c->tally);
        chaos_ref_free(&c->ref);
        pthread_mutex_destroy(&c->mu);
        free(c->runs);
        free(c->app_id);
        free(c->in);
        free(c->out);
        free(c->win_out);
        free(c->dir);
        free(c);
        if (current == c)
                current = NULL;
}

static int teardown(void **state)
{
        (void)state;
        chaos_free(current);
        return 0;
}

/* ------------------------------------------------------------ checks */

/*
 * Judges every restart (restore_judge(), done as each run ended): returns
 * how many found the stores of the tasks their last run had further
 * behind than allowed; the restarts go to *@p restarts, those with such
 * tasks to *@p bounded, the largest lag of one to *@p maxp, the records
 * restored for tasks new to them to *@p others, the first excess to
 * @p first.
 */
static int restore_check(chaos_t *c, int64_t *maxp, int *restarts, int *bounded,
                         int64_t *others, char *first, size_t size)
{
        int bad = 0;
        size_t k;

        *maxp = *others = 0;
        *restarts = *bounded = 0;
        first[0] = '\0';
        for (k = 0; k < c->run_cnt; k++) {
                const run_rec_t *rr = &c->runs[k];
                if (rr->run == 0)
                        continue;
                (*restarts)++;
                *others += rr->other_records;
                if (!rr->bounded)
                        continue;
                (*bounded)++;
                if (rr->lag > *maxp)
                        *maxp = rr->lag;
                if (rr->lag >= rr->allowed && !bad++)
                        msg_printf(first, size,
                                   "instance %d run %d found the stores of "
                                   "the %d tasks run %d ran %" PRId64
                                   " changelog offsets behind their "
                                   "changelogs at its kill, allowed below "
                                   "%" PRId64 " (it restored %" PRId64
                                   " records; %d stores had no local state)",
                                   rr->inst, rr->run,
                                   __builtin_popcount(rr->bounded),
                                   c->runs[rr->ref].run, rr->lag, rr->allowed,
                                   rr->bounded_records, rr->unstored);
        }
        return bad;
}

/* Lines of this run's instance logs that say a store was restored from
 * scratch or wiped; the first goes to @p first. */
static int wipe_lines(const chaos_t *c, char *first, size_t size)
{
        DIR *d = opendir(LOG_DIR);
        struct dirent *de;
        size_t plen = strlen(c->app_id);
        int n = 0;
        first[0] = '\0';
        assert_non_null(d);
        while ((de = readdir(d))) {
                char path[1024], *s, *line, *save = NULL;
                size_t len = strlen(de->d_name);
                if (strncmp(de->d_name, c->app_id, plen) ||
                    de->d_name[plen] != '-' || len < 4 ||
                    strcmp(de->d_name + len - 4, ".err"))
                        continue;
                snprintf(path, sizeof path, "%s/%s", LOG_DIR, de->d_name);
                if (!(s = kt_slurp(path)))
                        continue;
                for (line = strtok_r(s, "\r\n", &save); line;
                     line = strtok_r(NULL, "\r\n", &save))
                        if (strstr(line, "from scratch") ||
                            strcasestr(line, "wipe") ||
                            strcasestr(line, "wiping")) {
                                if (!n++)
                                        msg_printf(first, size, "%s: %s",
                                                   de->d_name, line);
                        }
                free(s);
        }
        closedir(d);
        return n;
}

/* ---------------------------------------------------------------- run */

static void run_chaos(const char *guarantee)
{
        const char *only = getenv("CHAOS_GUARANTEE");
        const char *topics[2];
        chaos_t *c;
        chaos_tally_t *t;
        int64_t deadline, lag_max, others, t_produced = 0;
        int by_phase[CHAOS_PHASE_CNT] = {0}, restarts, bounded, restore_bad;
        int wipes;
        bool zombie_below, late_below;
        int64_t late = 0;
        int i, ep, episodes, next_ep = 0;
        size_t k;
        char wipe_first[600], restore_first[400];
        int64_t changelog_records = 0;

        if (only && *only && strcmp(only, guarantee))
                skip();
        c = chaos_new(guarantee);
        t = &c->tally;
        kt_create_topic(c->in, CHAOS_PARTS);
        kt_create_topic(c->out, CHAOS_PARTS);
        kt_create_topic(c->win_out, CHAOS_PARTS);
        topics[0] = c->out;
        topics[1] = c->win_out;
        c->reader = kt_reader_new(topics, 2, CHAOS_PARTS);

        c->started_ms = kt_now_ms();
        pthread_mutex_lock(&c->mu);
        for (i = 0; i < INSTANCES; i++)
                inst_spawn(c, i);
        pthread_mutex_unlock(&c->mu);
        wait_group(c, INSTANCES, 180000, "at start");
        print_message("chaos %s: %d instances stable after %.1f s; "
                      "producing %" PRId64 " records over %d s\n",
                      guarantee, INSTANCES,
                      (double)(kt_now_ms() - c->started_ms) / 1000.0,
                      c->p.events, c->p.produce_s);

        c->started_ms = kt_now_ms();
        assert_int_equal(pthread_create(&c->producer, NULL, producer_main, c),
                         0);
        c->producer_started = true;
        assert_int_equal(pthread_create(&c->killer, NULL, killer_main, c), 0);
        c->killer_started = true;

        /* Episodes spread over the production, the fencings in the
         * middle of the broker restarts. */
        episodes = c->p.broker_restarts + c->p.fencings;
        while (!atomic_load(&c->produced) || !atomic_load(&c->killed_enough)) {
                check_health(c);
                if (next_ep < episodes &&
                    kt_now_ms() - c->started_ms >=
                            (int64_t)c->p.produce_s * 1000 * (2 * next_ep + 1) /
                                    (2 * episodes)) {
                        /* Fencings take the middle slots. */
                        ep = next_ep - (c->p.broker_restarts + 1) / 2;
                        if (ep >= 0 && ep < c->p.fencings)
                                episode_fencing(c);
                        else
                                episode_broker(c);
                        next_ep++;
                }
                if (!t_produced && atomic_load(&c->produced))
                        t_produced = kt_now_ms();
                kt_reader_poll(c->reader, 200, chaos_tally_cb, t);
        }
        while (next_ep < episodes) {
                /* Production ended before every episode ran (a slow
                 * broker restart): run the rest now. */
                ep = next_ep - (c->p.broker_restarts + 1) / 2;
                if (ep >= 0 && ep < c->p.fencings)
                        episode_fencing(c);
                else
                        episode_broker(c);
                next_ep++;
        }
        if (!t_produced)
                t_produced = kt_now_ms();
        pthread_join(c->producer, NULL);
        pthread_join(c->killer, NULL);
        c->producer_started = c->killer_started = false;
        check_health(c);

        /* Every expected output there, within the deadline. */
        deadline = kt_now_ms() + (int64_t)c->p.drain_s * 1000;
        while ((t->missing > 0 || t->wmissing > 0) && kt_now_ms() < deadline) {
                check_health(c);
                kt_reader_poll(c->reader, 500, chaos_tally_cb, t);
        }

        /* A clean stop, then the outputs to their ends. */
        for (i = 0; i < INSTANCES; i++)
                assert_int_equal(kill(c->inst[i].pid, SIGTERM), 0);
        for (i = 0; i < INSTANCES; i++) {
                pid_t pid = c->inst[i].pid;
                int rc = kt_wait(pid, 90000);
                c->inst[i].pid = 0;
                if (rc != 0) {
                        char tail[700];
                        log_tail(c, i, tail, sizeof tail);
                        fail_msg("instance %d (run %d) stopped with %d: %s", i,
                                 c->inst[i].run, rc, tail);
                }
                pthread_mutex_lock(&c->mu);
                run_record(c, i, pid, -1);
                pthread_mutex_unlock(&c->mu);
        }
        kt_reader_drain(c->reader, 180000, chaos_tally_cb, t);

        for (k = 0; k < c->run_cnt; k++)
                if (c->runs[k].phase >= 0)
                        by_phase[c->runs[k].phase]++;
        restore_bad = restore_check(c, &lag_max, &restarts, &bounded, &others,
                                    restore_first, sizeof restore_first);
        wipes = wipe_lines(c, wipe_first, sizeof wipe_first);
        /* What restoring every store from scratch would read now. */
        for (i = 0; i < STORES; i++)
                changelog_records += kt_count(c->changelog[i]);
        print_message(
                "chaos %s: events=%" PRId64 " kills=%d (processing=%d "
                "commit=%d restore=%d idle=%d starting=%d) "
                "broker_restarts=%d fencings=%d zombie_open=%" PRId64
                " zombie_processed=%" PRId64 " zombie_sent=%" PRId64
                " restart_lag_max=%" PRId64 " (steady-state bound %" PRId64
                "; %d of %d restarts with"
                " their last run's tasks above their bound, %d without;"
                " %" PRId64 " records restored for tasks new to them;"
                " changelogs %" PRId64 " records) wipes=%d"
                " | ranks: missing=%" PRId64 " duplicated=%" PRId64
                " wrong=%" PRId64 " below=%" PRId64 " strays=%" PRId64
                " | finals of %" PRId64 " windows: missing=%" PRId64
                " duplicated=%" PRId64 " wrong=%" PRId64 " below=%" PRId64
                " strays=%" PRId64 " | %.0f s producing, %.0f s to complete\n",
                guarantee, c->ref.events, c->kills,
                by_phase[CHAOS_PHASE_PROCESSING], by_phase[CHAOS_PHASE_COMMIT],
                by_phase[CHAOS_PHASE_RESTORE], by_phase[CHAOS_PHASE_IDLE],
                by_phase[CHAOS_PHASE_STARTING], c->broker_restarts, c->fencings,
                c->zombie_open, c->zombie_processed, c->zombie_produced,
                lag_max, rate_bound(c), restore_bad, bounded,
                restarts - bounded, others, changelog_records, wipes,
                t->missing, t->duplicated, t->wrong, t->below, t->strays,
                c->ref.pairs, t->wmissing, t->wduplicated, t->wwrong, t->wbelow,
                t->wstrays, (double)(t_produced - c->started_ms) / 1000.0,
                (double)(kt_now_ms() - t_produced) / 1000.0);

        /* What both guarantees promise. */
        if (t->wmissing)
                chaos_tally_print_missing(t, stdout, 20);
        if (t->missing || t->wmissing)
                fail_msg("%" PRId64 " of %" PRId64 " ranks and %" PRId64
                         " of %" PRId64 " window finals are missing",
                         t->missing, c->ref.n, t->wmissing, c->ref.pairs);
        /* Under at-least-once a zombie that processed or sent anything
         * after the others took over, or tried to commit (which flushes
         * its open work to the changelogs before the offsets are refused),
         * may have written its stale state to the changelog (nothing
         * fences it): a later restore of that task takes it, and counts
         * fall below the truth from there. What that mode allows,
         * counted; without a zombie's work it is a bug. */
        zombie_below = strcmp(guarantee, "exactly_once_v2") &&
                       (c->zombie_processed || c->zombie_produced ||
                        c->zombie_flushed);
        if (zombie_below && (t->below || t->wbelow))
                print_message("chaos %s: %" PRId64 " ranks and %" PRId64
                              " finals below the reference, after a zombie "
                              "processed %" PRId64 " and sent %" PRId64
                              " records (%d zombies flushed their open work "
                              "in a commit that then failed): its stale "
                              "state, allowed under at-least-once\n",
                              guarantee, t->below, t->wbelow,
                              c->zombie_processed, c->zombie_produced,
                              c->zombie_flushed);
        /* A window's final counts what came before the window closed
         * (grace 0): a record the repartition topic brought after another
         * writer had moved the task's stream time past its window is
         * dropped as late (counted, BROOK_DROP_LATE / _EXPIRED), as Kafka
         * Streams drops it. Writers fall behind one another around kills
         * and the broker restart. Finals short of the reference by no
         * more than the records the instances dropped so are right; any
         * other shortfall is a bug. */
        for (k = 0; k < c->run_cnt; k++)
                late += c->runs[k].late_dropped;
        late_below = t->wbelow && t->wdeficit <= late;
        if (late_below)
                print_message("chaos %s: %" PRId64 " finals below the "
                              "reference by %" PRId64 " records in all, "
                              "within the %" PRId64
                              " records the instances dropped as late\n",
                              guarantee, t->wbelow, t->wdeficit, late);
        if (t->strays || t->wstrays || (!zombie_below && t->below) ||
            (!zombie_below && !late_below && t->wbelow))
                fail_msg("%" PRId64 " ranks and %" PRId64
                         " finals are for no input record or window; "
                         "%" PRId64 " ranks and %" PRId64
                         " finals are below the reference (finals by %" PRId64
                         " records; %" PRId64 " dropped as late)",
                         t->strays, t->wstrays, t->below, t->wbelow,
                         t->wdeficit, late);
        if (!strcmp(guarantee, "exactly_once_v2") &&
            (t->duplicated || t->wrong || t->wduplicated ||
             (t->wwrong && !(late_below && t->wwrong == t->wbelow))))
                fail_msg("exactly-once: %" PRId64 " ranks duplicated, %" PRId64
                         " wrong; %" PRId64 " finals duplicated, %" PRId64
                         " wrong (%" PRId64 " of them below, by %" PRId64
                         " records; %" PRId64 " dropped as late)",
                         t->duplicated, t->wrong, t->wduplicated, t->wwrong,
                         t->wbelow, t->wdeficit, late);
        /* The run itself was what it claims. */
        if (c->kills < c->p.kills)
                fail_msg("%d kills, fewer than %d", c->kills, c->p.kills);
        /* At least half the kills hit an instance at work: processing,
         * committing or restoring, the phases a crash can leave half
         * done. Only idle and starting kills test little. (Processing
         * alone fell short when a broker restart and the zombie pushed
         * the last kills past the input's 90 s.) */
        if (2 * (by_phase[CHAOS_PHASE_PROCESSING] +
                 by_phase[CHAOS_PHASE_COMMIT] + by_phase[CHAOS_PHASE_RESTORE]) <
            c->kills)
                fail_msg("only %d of %d kills landed while processing, "
                         "committing or restoring",
                         by_phase[CHAOS_PHASE_PROCESSING] +
                                 by_phase[CHAOS_PHASE_COMMIT] +
                                 by_phase[CHAOS_PHASE_RESTORE],
                         c->kills);
        assert_int_equal(c->broker_restarts, c->p.broker_restarts);
        assert_int_equal(c->fencings, c->p.fencings);
        if (wipes)
                fail_msg("%d log lines say a store was wiped or restored from "
                         "scratch; the first: %s",
                         wipes, wipe_first);
        if (restore_bad)
                fail_msg("%d of %d restarts found their stores more than two "
                         "commit intervals' worth of changelog records "
                         "behind; the first: %s (the changelogs hold "
                         "%" PRId64 " records, all partitions)",
                         restore_bad, bounded, restore_first,
                         changelog_records);

        chaos_free(c);
}

static void test_chaos_at_least_once(void **state)
{
        (void)state;
        run_chaos("at_least_once");
}

static void test_chaos_exactly_once(void **state)
{
        (void)state;
        run_chaos("exactly_once_v2");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_chaos_at_least_once, teardown),
                cmocka_unit_test_teardown(test_chaos_exactly_once, teardown),
        };
        /* Its output goes to ctest's log as it comes. */
        setvbuf(stdout, NULL, _IOLBF, 0);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
