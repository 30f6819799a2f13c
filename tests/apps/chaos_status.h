/*
 * The status chaos_app publishes for the chaos driver (tests/test_chaos.c):
 * a small struct in a file both processes map (MAP_SHARED), rewritten by
 * the app every CHAOS_STATUS_POLL_MS. Every field is a lock-free atomic, so
 * the driver reads it while the app writes it, and after a SIGKILL the
 * file still holds the last status the app wrote: where the kill landed,
 * at most one poll interval before it.
 *
 * The phase is an approximation from brook_app_stats() counters (see
 * chaos_status_phase()): the app cannot see inside a commit or a poll, only
 * the counters they move.
 */
#ifndef BROOK_TESTS_CHAOS_STATUS_H
#define BROOK_TESTS_CHAOS_STATUS_H

#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/** How often the app samples its counters. */
#define CHAOS_STATUS_POLL_MS 2
#define CHAOS_STATUS_MAGIC   0x63686173 /* "chas" */

/** The tasks with stores are "1_<partition>", partitions below this. */
#define CHAOS_STATUS_TASKS 8
/** The logged stores of each such task, in this order (the suppression
 *  buffer of "finals" is the store "finals-store"). */
#define CHAOS_STATUS_STORES 3
static const char *const chaos_status_stores[CHAOS_STATUS_STORES] = {
        "ranks", "windows", "finals-store"};

typedef enum chaos_phase_e {
        /** The app has not published anything yet (before brook_app_new). */
        CHAOS_PHASE_STARTING,
        /** No partitions assigned yet, or some store still restoring. */
        CHAOS_PHASE_RESTORE,
        /** A commit just completed (the commit counter moved since the
         *  previous sample), or one is stalled (brook_app_stalled_ms()). */
        CHAOS_PHASE_COMMIT,
        /** Records processed since the last commit: uncommitted work. */
        CHAOS_PHASE_PROCESSING,
        /** Assigned and restored, but nothing processed since the last
         *  commit. */
        CHAOS_PHASE_IDLE,
        CHAOS_PHASE_CNT
} chaos_phase_t;

static inline const char *chaos_phase_name(int phase)
{
        static const char *const names[] = {"starting", "restore", "commit",
                                            "processing", "idle"};
        return phase >= 0 && phase < CHAOS_PHASE_CNT ? names[phase] : "?";
}

typedef struct chaos_status {
        _Atomic uint32_t magic;
        _Atomic int32_t pid;
        _Atomic int32_t phase;     /**< chaos_phase_t */
        _Atomic int32_t app_state; /**< brook_app_state_t */
        _Atomic int64_t processed;
        _Atomic int64_t produced;
        _Atomic int64_t commits;
        _Atomic int64_t rebalances;
        /** Changelog records restored since the process started. */
        _Atomic int64_t restored;
        /** Records restored before a second rebalance: what the first
         *  assignment took (the join acceptance test's bound). */
        _Atomic int64_t restored_first;
        _Atomic int64_t stores_restoring;
        _Atomic int64_t restore_remaining;
        _Atomic int64_t stalled_ms;
        /** Records processed since the last commit (as far as the
         *  samples tell: the commit counter moves when a commit ends). */
        _Atomic int64_t uncommitted;
        /** Records processed between the last two commits. */
        _Atomic int64_t last_interval;
        /** Samples taken; the driver sees it move while the app lives. */
        _Atomic int64_t samples;
        /** Records the windowed count dropped as late (their window closed
         *  before they came: grace 0, and the repartition topic's writers
         *  run at different paces around kills and the broker restart):
         *  brook_app_records_dropped() for BROOK_DROP_LATE and
         *  BROOK_DROP_EXPIRED. */
        _Atomic int64_t late_dropped;
        /** Bit p: task 1_p is open in the current assignment and restored
         *  (its stores started restoring since the last rebalance and all
         *  ended; no rebalance under way): it processes, and no other
         *  instance writes its changelogs. */
        _Atomic uint32_t running;
        /*
         * The first restoration of each store [s][p] in this process (its
         * restore listener's; all -1 until it starts): the changelog
         * offsets it read from (the offset stored with the local state, or
         * the changelog's start) and up to, whether there was local state,
         * and the records it applied until it ended or its task closed.
         */
        _Atomic int64_t first_start[CHAOS_STATUS_STORES][CHAOS_STATUS_TASKS];
        _Atomic int64_t first_end[CHAOS_STATUS_STORES][CHAOS_STATUS_TASKS];
        _Atomic int32_t first_local[CHAOS_STATUS_STORES][CHAOS_STATUS_TASKS];
        _Atomic int64_t first_records[CHAOS_STATUS_STORES][CHAOS_STATUS_TASKS];
} chaos_status_t;

/** Maps the status file @p path (created if missing), or returns NULL.
 *  Unmap with munmap(st, sizeof *st). */
static inline chaos_status_t *chaos_status_map(const char *path)
{
        chaos_status_t *st;
        int fd = open(path, O_RDWR | O_CREAT, 0644);
        if (fd < 0)
                return NULL;
        if (ftruncate(fd, sizeof *st)) {
                close(fd);
                return NULL;
        }
        st = mmap(NULL, sizeof *st, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        return st == MAP_FAILED ? NULL : st;
}

#endif
