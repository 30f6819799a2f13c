/*
 * brook — the commit sequence, one for the stream threads and the test
 * driver (Kafka Streams' TaskManager.commit()): the same steps in the same
 * order whoever commits. What differs is behind brook__commit_io_t: how
 * records are delivered and how input offsets are committed.
 *
 *   1. flush the caches of the tasks that run (not those restoring: their
 *      stores must not record an offset before they are restored): dirty
 *      entries go to the changelogs and the write batch, and DSL tables
 *      forward them downstream;
 *   2. deliver everything sent so far (a stream thread flushes its
 *      producer; the test driver processes the records the flushes sent to
 *      topics the topology reads, and the caches flush again);
 *   3. flush the stores: each stages, with its data, the changelog offset
 *      that data matches;
 *   4. at least once: apply the write batch (WAL on), then commit the
 *      input offsets;
 *   5. exactly once: commit the transaction (the input offsets go in it
 *      with everything sent since the last commit), then apply the write
 *      batch. What RocksDB holds is then always what a committed
 *      transaction wrote, with the changelog offset it ends at: a crash
 *      between the two leaves the store behind its changelog, and
 *      restoration replays the committed tail. An aborted transaction's
 *      writes never reach RocksDB. The batch's writer thread applies it
 *      while the thread goes on (statestore/rocksdb.c); the next commit
 *      first checks that it landed, and fails if not.
 *
 * Under at-least-once the batch is applied before the offsets commit, so
 * that a committed record's state is written even in a store without a
 * changelog. When that write fails, the offsets are committed only if
 * every store has a changelog: the changelog then holds those updates and
 * restoration replays them, while not committing would count the records
 * twice after a restart.
 */
#include "brook_int.h"
#include "store_int.h"

/* Whether every store of @p tasks has a changelog. */
static bool commit_all_logged(brook__ptrvec_t *tasks)
{
        size_t i, j;
        for (i = 0; i < tasks->cnt; i++) {
                brook__task_t *task = tasks->v[i];
                for (j = 0; j < task->stores.cnt; j++) {
                        brook__store_t *st = task->stores.v[j];
                        if (!st->changelog)
                                return false;
                }
        }
        return true;
}

brook__commit_t brook__commit(brook__ptrvec_t *tasks,
                              brook__statebatch_t *batch,
                              const brook__commit_io_t *io, brook_err_t *errp,
                              char *errstr, size_t errstr_size)
{
        brook__commit_t r;
        bool again, state_failed = false, all_logged;
        brook_err_t err = BROOK_OK;
        size_t i;

        *errp = BROOK_OK;
        do {
                for (i = 0; i < tasks->cnt; i++) {
                        brook__task_t *task = tasks->v[i];
                        if (!task->restoring &&
                            (*errp = brook__task_flush_caches(task, errstr,
                                                              errstr_size)))
                                return BROOK__COMMIT_FAILED;
                }
                again = false;
                if ((r = io->deliver(io->opaque, &again, errstr,
                                     errstr_size)) != BROOK__COMMIT_DONE)
                        return r;
                /* A flush writes each entry once and leaves those writes
                 * unindexed (brook__statebatch_set_unindexed()); the next
                 * round may flush the same key again, and its tombstone
                 * check must see the first write. */
                if (again && batch)
                        brook__statebatch_index(batch);
        } while (again);
        for (i = 0; i < tasks->cnt && !err; i++)
                if (!((brook__task_t *)tasks->v[i])->restoring)
                        err = brook__task_flush_stores(tasks->v[i], errstr,
                                                       errstr_size);
        if (io->transactional) {
                /* The last commit's state landed (its writer applies it
                 * behind the thread); if it did not, this transaction must
                 * not commit: its records were processed over stores that
                 * lack it. */
                if (!err && batch)
                        err = brook__statebatch_check(batch, true, errstr,
                                                      errstr_size);
                if (err) {
                        *errp = err;
                        return BROOK__COMMIT_FAILED;
                }
                if ((r = io->commit_offsets(io->opaque, errstr, errstr_size)) !=
                    BROOK__COMMIT_DONE)
                        return r;
                /* Kafka has it all now: a failed write leaves the stores
                 * behind their changelogs, which restoration catches up. */
                if (batch && (*errp = brook__statebatch_write(batch, errstr,
                                                              errstr_size)))
                        return BROOK__COMMIT_FAILED;
                return BROOK__COMMIT_DONE;
        }
        /* With a changelog behind every store, a write that has not
         * landed when the offsets are committed is caught up by
         * restoration, as under exactly-once: the writer thread applies
         * it while this thread goes on (a failure fails the next record,
         * brook__statebatch_check()). A store without one must be
         * written before the offsets say its records are done. */
        all_logged = commit_all_logged(tasks);
        if (!err && batch)
                err = all_logged ? brook__statebatch_write_behind(batch, errstr,
                                                                  errstr_size)
                                 : brook__statebatch_write(batch, errstr,
                                                           errstr_size);
        if (err) {
                *errp = err;
                if (!all_logged)
                        return BROOK__COMMIT_FAILED;
                state_failed = true;
        }
        /* The state's failure is the one to report; the offsets' is
         * reported by the io. */
        r = io->commit_offsets(io->opaque, errstr, errstr_size);
        return state_failed ? BROOK__COMMIT_FAILED : r;
}
