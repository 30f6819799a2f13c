/*
 * brook — the state db and the RocksDB inner store.
 *
 * Layout: ONE RocksDB per application, in state.dir/<application.id>/rocksdb,
 * with a column family per task and store named "<task_id>/<store>", plus a
 * column family "brook-offsets" whose keys are those names and whose values
 * are the 8-byte big-endian changelog offset the store's data corresponds
 * to.
 *
 * Why not Kafka Streams' layout (one RocksDB per store and task)? RocksDB
 * 7.8.3's C API has no WriteBufferManager, so separate DBs cannot share a
 * memtable budget: memory would grow with the number of tasks. One DB bounds
 * every memtable with db_write_buffer_size, shares one LRU block cache, and
 * lets one write batch commit every store of a thread together with their
 * offsets, atomically (the WAL makes a batch atomic across column families).
 *
 * A thread's uncommitted writes live in its brook__statebatch_t, a
 * WriteBatchWithIndex: the owner's reads (get, range) merge it over the DB,
 * interactive queries (query_get, query_range) read only the DB, i.e. what
 * was committed. flush(offset) only stages the offset in that batch; the
 * runtime writes the batch right after flushing every store of the thread.
 * What a cache's flush writes down skips the index (the cache keeps it and
 * answers its reads; see brook__statebatch_set_unindexed()), and the batch
 * goes to RocksDB sorted by key, each key's last write only (rep_sort()):
 * at a commit every 100 ms, indexing each write and inserting it into the
 * memtable from the top had been two thirds of the commit. Under
 * exactly-once the write itself happens on the batch's writer thread,
 * after the transaction committed, while the stream thread goes on (see
 * batch_writer()).
 *
 * Column family handles live as long as the db (a store's close() leaves
 * its handle there), so a handle never dangles under a concurrent query.
 *
 * Costs to know: each column family has a fixed footprint in RocksDB (about
 * 80 KiB: table cache, stats, memtable) and creating one rewrites the
 * OPTIONS file, which lists every column family, so creating N of them is
 * O(N^2): measured 1 s for the first 100, 18 s for the first 400. That is
 * paid once, when a task first runs on an instance; reopening 400 takes
 * 2 s.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "store_int.h"

#define OFFSETS_CF "brook-offsets"
#define DEFAULT_CF "default"

#define KIB ((int64_t)1024)
#define MIB (1024 * KIB)

/* Free space brook asks for before it opens the db (SPACE_OPEN, plus
 * SPACE_PER_CF per column family) or creates a column family (SPACE_CF).
 * Both write header lines to RocksDB's LOG, about 11 KiB per column
 * family, and a LOG write that fails aborts RocksDB 7.8 built with
 * assertions (see make_options()). SPACE_CF is small because the WAL
 * preallocates (up to 1.1 x write_buffer_size), which statvfs counts as
 * used. */
#define SPACE_OPEN   (1 * MIB)
#define SPACE_PER_CF (16 * KIB)
#define SPACE_CF     (128 * KIB)

/* ---------------------------------------------------------------- db */

typedef struct cfent {
        char *name;
        rocksdb_column_family_handle_t *h;
} cfent_t;

struct brook__statedb {
        /** The opener's reference and one per open store: a query's
         *  iterator keeps its store (and so the db) open past
         *  brook__statedb_close(). */
        atomic_int refs;
        rocksdb_t *rdb;
        char *dir;
        bool readonly;
        rocksdb_options_t *opts; /* DB options; also every CF's. */
        rocksdb_cache_t *cache;
        rocksdb_readoptions_t *ropts;
        rocksdb_writeoptions_t *wopts;
        rocksdb_column_family_handle_t *offsets_cf;
        /* Every column family, sorted by name; grows only. */
        pthread_mutex_t lock;
        cfent_t *cfs;
        size_t cf_cnt, cf_cap;
        /* Committed batches being applied by their threads' writers (see
         * batch_writer()), and the signal that one is done. */
        pthread_mutex_t alock;
        pthread_cond_t acond;
        int inflight;
};

struct brook__statebatch {
        brook__statedb_t *db;
        rocksdb_writebatch_wi_t *wb;
        /** Bulk mode (restoration): writes go to this plain batch, which
         *  costs no index, and reads do not see them until written. */
        rocksdb_writebatch_t *plain;
        /** Range deletions waiting for the commit (see rdb_delete_range). */
        struct pending_range {
                rocksdb_column_family_handle_t *cf;
                char *from, *to;
                size_t from_size, to_size;
        } * ranges;
        size_t range_cnt;
        bool bulk;
        /** exactly_once_v2: stores outside RocksDB (in-memory ones) keep
         *  their uncommitted writes aside too, and join the batch to apply
         *  or drop them with it. */
        bool transactional;
        bool fail_next; /**< brook__statebatch_fail_next() */
        /** Writes made while unindexed is on (a cache's flush, see
         *  brook__statebatch_set_unindexed()) and the stores' changelog
         *  offsets, and the column families they went to. All of them are
         *  newer than every write of wb: an indexed write or a read below
         *  first moves them into wb (unidx_index()). */
        rocksdb_writebatch_t *unidx;
        struct unidx_cf {
                rocksdb_column_family_handle_t *h;
                uint32_t id;
        } * unidx_cfs;
        size_t unidx_cf_cnt, unidx_cf_cap;
        bool unindexed;
        /** brook__statebatch_write()'s scratch, kept for the next commit:
         *  the batch's records in key order (see rep_sort()). */
        struct rep_rec *recs;
        size_t rec_cap;
        char *sorted;
        size_t sorted_cap;
        struct batch_member {
                void (*apply)(void *self);
                void (*discard)(void *self);
                void (*detach)(void *self);
                void *self;
        } * members;
        size_t member_cnt, member_cap;
        /** exactly_once_v2: the committed batch is applied by a writer
         *  thread of this batch while the stream thread goes on (see
         *  batch_writer()). job and its ranges are the writer's; busy is
         *  set until it is done with them; failed once a write failed
         *  (its message in async_err, db->alock). */
        pthread_t writer;
        bool writer_started, writer_quit;
        rocksdb_writebatch_t *job;
        struct pending_range *job_ranges;
        size_t job_range_cnt;
        bool job_fail; /**< brook__statebatch_fail_next_apply() */
        bool fail_next_apply;
        atomic_bool busy, failed;
        char *async_err;
};

void brook__statedb_cf_name(char *buf, size_t size, const char *task_id,
                            const char *store)
{
        snprintf(buf, size, "%s/%s", task_id, store);
}

static char *cf_name_new(const char *task_id, const char *store)
{
        size_t n = strlen(task_id) + strlen(store) + 2;
        char *name = brook__xmalloc(n);
        brook__statedb_cf_name(name, n, task_id, store);
        return name;
}

/* Index of @p name in db->cfs, or where it would go (*foundp false).
 * Requires db->lock. */
static size_t cf_find(brook__statedb_t *db, const char *name, bool *foundp)
{
        size_t lo = 0, hi = db->cf_cnt;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(db->cfs[mid].name, name);
                if (!c) {
                        *foundp = true;
                        return mid;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *foundp = false;
        return lo;
}

/* Requires db->lock. */
static void cf_insert(brook__statedb_t *db, size_t at, const char *name,
                      rocksdb_column_family_handle_t *h)
{
        if (db->cf_cnt == db->cf_cap) {
                db->cf_cap = db->cf_cap ? db->cf_cap * 2 : 16;
                db->cfs =
                        brook__xrealloc(db->cfs, db->cf_cap * sizeof *db->cfs);
        }
        memmove(db->cfs + at + 1, db->cfs + at,
                (db->cf_cnt - at) * sizeof *db->cfs);
        db->cfs[at].name = brook__xstrdup(name);
        db->cfs[at].h = h;
        db->cf_cnt++;
}

/* Fails, saying why, if the filesystem of @p dir has less than @p need
 * bytes free for its user (@p what says what needs them). A filesystem
 * that cannot say passes: RocksDB's own status still reports a full disk
 * when it writes. */
static brook_err_t space_check(const char *dir, uint64_t need, const char *what,
                               char *errstr, size_t errstr_size)
{
        struct statvfs sv;
        uint64_t avail;

        if (statvfs(dir, &sv))
                return BROOK_OK;
        avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
        if (avail >= need)
                return BROOK_OK;
        brook__seterr(errstr, errstr_size,
                      "state directory \"%s\": %s needs %llu bytes free, its "
                      "filesystem has %llu: no space left on device",
                      dir, what, (unsigned long long)need,
                      (unsigned long long)avail);
        return BROOK_ERR_STATE;
}

/* The handle of column family @p name, created if @p create (and the db is
 * writable), else NULL with BROOK_ERR_NOT_FOUND. */
static brook_err_t cf_get(brook__statedb_t *db, const char *name, bool create,
                          rocksdb_column_family_handle_t **hp, char *errstr,
                          size_t errstr_size)
{
        brook_err_t err = BROOK_OK;
        char *rerr = NULL, what[512];
        bool found;
        size_t at;

        pthread_mutex_lock(&db->lock);
        at = cf_find(db, name, &found);
        if (found) {
                *hp = db->cfs[at].h;
        } else if (!create || db->readonly) {
                brook__seterr(errstr, errstr_size,
                              "no column family \"%s\" in state db \"%s\"",
                              name, db->dir);
                err = BROOK_ERR_NOT_FOUND;
        } else {
                rocksdb_column_family_handle_t *h = NULL;
                snprintf(what, sizeof what, "creating column family \"%s\"",
                         name);
                err = space_check(db->dir, SPACE_CF, what, errstr, errstr_size);
                if (!err)
                        h = rocksdb_create_column_family(db->rdb, db->opts,
                                                         name, &rerr);
                if (rerr) {
                        brook__seterr(errstr, errstr_size,
                                      "creating column family \"%s\" in "
                                      "state db \"%s\": %s",
                                      name, db->dir, rerr);
                        rocksdb_free(rerr);
                        err = BROOK_ERR_STATE;
                } else if (!err) {
                        cf_insert(db, at, name, h);
                        *hp = h;
                }
        }
        pthread_mutex_unlock(&db->lock);
        return err;
}

/* mkdir -p */
static int mkdirs(const char *dir)
{
        char *p, *path = brook__xstrdup(dir);
        int r = 0;

        for (p = path + 1; *p && !r; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(path, 0755) && errno != EEXIST)
                        r = -1;
                *p = '/';
        }
        if (!r && mkdir(path, 0755) && errno != EEXIST)
                r = -1;
        free(path);
        return r;
}

static bool db_exists(const char *dir)
{
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/CURRENT", dir);
        return access(path, F_OK) == 0;
}

/*
 * The options every column family and the DB share. Memory: a block cache
 * of 3/4 of @p memory_bytes (data, index and filter blocks all charge it)
 * and memtables within the remaining quarter (db_write_buffer_size, which
 * flushes the largest memtable when the total goes over).
 */
static rocksdb_options_t *make_options(brook__statedb_t *db,
                                       int64_t memory_bytes, int compression)
{
        rocksdb_options_t *opts = rocksdb_options_create();
        rocksdb_block_based_table_options_t *bbto =
                rocksdb_block_based_options_create();
        int64_t cache_bytes, db_wbs, wbs, arena;

        /* Below this RocksDB thrashes; it is also the test driver's size. */
        if (memory_bytes < 8 * MIB)
                memory_bytes = 8 * MIB;
        cache_bytes = (memory_bytes * 3 / 4 + MIB - 1) / MIB * MIB;
        db_wbs = memory_bytes / 4;
        wbs = db_wbs / 2;
        if (wbs > 16 * MIB)
                wbs = 16 * MIB;
        if (wbs < 256 * KIB)
                wbs = 256 * KIB;
        /* A memtable reserves its arena a block at a time and
         * db_write_buffer_size counts reserved blocks: with RocksDB's
         * default block (wbs / 8), 100 barely used memtables would count
         * as 50 MB against an 8 MiB budget and be flushed early, as many
         * tiny files. 1/64 keeps an idle memtable's reservation small. */
        arena = wbs / 64;
        if (arena < 16 * KIB)
                arena = 16 * KIB;
        if (arena > MIB)
                arena = MIB;

        db->cache = rocksdb_cache_create_lru((size_t)cache_bytes);
        rocksdb_block_based_options_set_block_cache(bbto, db->cache);
        rocksdb_block_based_options_set_cache_index_and_filter_blocks(bbto, 1);
        rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(
                bbto, 0);
        /* The table options take the policy. */
        rocksdb_block_based_options_set_filter_policy(
                bbto, rocksdb_filterpolicy_create_bloom_full(10));
        rocksdb_options_set_block_based_table_factory(opts, bbto);
        rocksdb_block_based_options_destroy(bbto);

        rocksdb_options_set_db_write_buffer_size(opts, (size_t)db_wbs);
        rocksdb_options_set_write_buffer_size(opts, (size_t)wbs);
        rocksdb_options_set_max_write_buffer_number(opts, 2);
        rocksdb_options_set_arena_block_size(opts, (size_t)arena);
        /* Column families that are written rarely would otherwise pin old
         * WAL files forever; past this size RocksDB flushes them. */
        rocksdb_options_set_max_total_wal_size(opts, (uint64_t)db_wbs * 2);
        rocksdb_options_set_compression(opts, compression);
        rocksdb_options_set_create_if_missing(opts, 1);
        rocksdb_options_set_create_missing_column_families(opts, 1);
        rocksdb_options_set_max_open_files(opts, -1);
        rocksdb_options_set_max_background_jobs(opts, 2);
        /* RocksDB's LOG, in the state directory, gets header lines only:
         * the options, at open and when a column family is created. Once
         * a write to it has failed (a full disk), RocksDB 7.8 built with
         * assertions (Debian's package is) aborts the process on the next
         * line it logs (in WritableFileWriter::
         * AssertFalseAndGetStatusForPrevError), and a failed write logs
         * its error. Errors reach brook through each call's status. */
        rocksdb_options_set_info_log_level(opts, 5 /* HEADER_LEVEL */);
        rocksdb_options_set_keep_log_file_num(opts, 5);
        rocksdb_options_set_max_log_file_size(opts, 8 * MIB);
        return opts;
}

static void db_free(brook__statedb_t *db)
{
        size_t i;

        for (i = 0; i < db->cf_cnt; i++) {
                if (db->cfs[i].h)
                        rocksdb_column_family_handle_destroy(db->cfs[i].h);
                free(db->cfs[i].name);
        }
        free(db->cfs);
        if (db->rdb)
                rocksdb_close(db->rdb);
        if (db->opts)
                rocksdb_options_destroy(db->opts);
        if (db->cache)
                rocksdb_cache_destroy(db->cache);
        if (db->ropts)
                rocksdb_readoptions_destroy(db->ropts);
        if (db->wopts)
                rocksdb_writeoptions_destroy(db->wopts);
        pthread_mutex_destroy(&db->lock);
        pthread_mutex_destroy(&db->alock);
        pthread_cond_destroy(&db->acond);
        free(db->dir);
        free(db);
}

/* Opens db->dir with every column family it has (plus OFFSETS_CF). On
 * failure returns RocksDB's message (free with rocksdb_free()). */
static char *db_open_cfs(brook__statedb_t *db)
{
        const rocksdb_options_t **cfopts;
        rocksdb_column_family_handle_t **hs;
        char **names, *rerr = NULL;
        const char **all;
        size_t n = 0, i, cnt;
        bool have_offsets = false;

        if (db_exists(db->dir)) {
                names = rocksdb_list_column_families(db->opts, db->dir, &n,
                                                     &rerr);
                if (rerr)
                        return rerr;
        } else {
                names = NULL;
        }

        all = brook__xcalloc(n + 2, sizeof *all);
        cnt = 0;
        for (i = 0; i < n; i++) {
                all[cnt++] = names[i];
                if (!strcmp(names[i], OFFSETS_CF))
                        have_offsets = true;
        }
        if (!n)
                all[cnt++] = DEFAULT_CF;
        if (!have_offsets && !db->readonly)
                all[cnt++] = OFFSETS_CF;

        cfopts = brook__xcalloc(cnt, sizeof *cfopts);
        hs = brook__xcalloc(cnt, sizeof *hs);
        for (i = 0; i < cnt; i++)
                cfopts[i] = db->opts;
        if (db->readonly)
                db->rdb = rocksdb_open_for_read_only_column_families(
                        db->opts, db->dir, (int)cnt, all, cfopts, hs, 0, &rerr);
        else
                db->rdb = rocksdb_open_column_families(
                        db->opts, db->dir, (int)cnt, all, cfopts, hs, &rerr);
        if (!rerr) {
                for (i = 0; i < cnt; i++) {
                        bool found;
                        size_t at = cf_find(db, all[i], &found);
                        cf_insert(db, at, all[i], hs[i]);
                        if (!strcmp(all[i], OFFSETS_CF))
                                db->offsets_cf = hs[i];
                }
        }
        free(hs);
        free(cfopts);
        free(all);
        if (names)
                rocksdb_list_column_families_destroy(names, n);
        return rerr;
}

/* Refuses to open the db for writing where its LOG's header (the options of
 * every column family) might not fit. */
static brook_err_t db_open_space_check(brook__statedb_t *db, char *errstr,
                                       size_t errstr_size)
{
        size_t n = 0;
        char *rerr = NULL, **names;

        if (db_exists(db->dir)) {
                names = rocksdb_list_column_families(db->opts, db->dir, &n,
                                                     &rerr);
                if (rerr) {
                        /* Opening reports it. */
                        rocksdb_free(rerr);
                        n = 0;
                } else if (names) {
                        rocksdb_list_column_families_destroy(names, n);
                }
        }
        return space_check(
                db->dir,
                (uint64_t)(SPACE_OPEN + (int64_t)(n + 2) * SPACE_PER_CF),
                "opening its RocksDB", errstr, errstr_size);
}

static brook_err_t db_open(const char *dir, int64_t memory_bytes, bool readonly,
                           brook__statedb_t **dbp, char *errstr,
                           size_t errstr_size)
{
        brook__statedb_t *db;
        char *rerr;

        *dbp = NULL;
        if (readonly && !db_exists(dir)) {
                brook__seterr(errstr, errstr_size,
                              "no state db in \"%s\" (no CURRENT file)", dir);
                return BROOK_ERR_NOT_FOUND;
        }
        if (!readonly && mkdirs(dir)) {
                brook__seterr(errstr, errstr_size,
                              "cannot create state directory \"%s\": %s", dir,
                              strerror(errno));
                return BROOK_ERR_STATE;
        }

        db = brook__xcalloc(1, sizeof *db);
        atomic_init(&db->refs, 1);
        pthread_mutex_init(&db->lock, NULL);
        pthread_mutex_init(&db->alock, NULL);
        pthread_cond_init(&db->acond, NULL);
        db->dir = brook__xstrdup(dir);
        db->readonly = readonly;
        db->ropts = rocksdb_readoptions_create();
        db->wopts = rocksdb_writeoptions_create();
        /* WAL on, no fsync per batch: a process crash loses nothing
         * written; a machine crash may lose the last batches, but always
         * data and offset together, so restoration replays the rest. */
        rocksdb_writeoptions_set_sync(db->wopts, 0);
        rocksdb_writeoptions_disable_WAL(db->wopts, 0);

        db->opts = make_options(db, memory_bytes, rocksdb_lz4_compression);
        if (!readonly) {
                brook_err_t err = db_open_space_check(db, errstr, errstr_size);
                if (err) {
                        db_free(db);
                        return err;
                }
        }
        rerr = db_open_cfs(db);
        if (rerr && strstr(rerr, "not linked with the binary")) {
                /* A RocksDB built without LZ4: store uncompressed. */
                rocksdb_free(rerr);
                rocksdb_options_destroy(db->opts);
                rocksdb_cache_destroy(db->cache);
                db->opts =
                        make_options(db, memory_bytes, rocksdb_no_compression);
                rerr = db_open_cfs(db);
        }
        if (rerr) {
                brook_err_t err = BROOK_ERR_STATE;
                if (strstr(rerr, "/LOCK:") &&
                    strstr(rerr, "by current process"))
                        brook__seterr(errstr, errstr_size,
                                      "state directory \"%s\" is already "
                                      "open in this process (RocksDB lock "
                                      "held); give each instance its own "
                                      "state.dir: %s",
                                      dir, rerr);
                else if (strstr(rerr, "/LOCK:"))
                        brook__seterr(errstr, errstr_size,
                                      "state directory \"%s\" is in use by "
                                      "another process (RocksDB lock held); "
                                      "give each instance its own "
                                      "state.dir: %s",
                                      dir, rerr);
                else
                        brook__seterr(errstr, errstr_size,
                                      "cannot open state db \"%s\": %s", dir,
                                      rerr);
                rocksdb_free(rerr);
                db_free(db);
                return err;
        }
        *dbp = db;
        return BROOK_OK;
}

brook_err_t brook__statedb_open(const char *dir, int64_t memory_bytes,
                                brook__statedb_t **dbp, char *errstr,
                                size_t errstr_size)
{
        return db_open(dir, memory_bytes, false, dbp, errstr, errstr_size);
}

brook_err_t brook__statedb_open_readonly(const char *dir,
                                         brook__statedb_t **dbp, char *errstr,
                                         size_t errstr_size)
{
        /* Reading needs little memory: a small cache; the WAL replay of a
         * read-only open fills memtables of at most the writer's size. */
        return db_open(dir, 32 * MIB, true, dbp, errstr, errstr_size);
}

void brook__statedb_close(brook__statedb_t *db)
{
        if (db && atomic_fetch_sub(&db->refs, 1) == 1)
                db_free(db);
}

int brook__statedb_refs(brook__statedb_t *db)
{
        return db ? atomic_load(&db->refs) : 0;
}

char **brook__statedb_names(brook__statedb_t *db, size_t *cntp)
{
        char **names;
        size_t i, cnt = 0;

        pthread_mutex_lock(&db->lock);
        names = brook__xcalloc(db->cf_cnt + 1, sizeof *names);
        for (i = 0; i < db->cf_cnt; i++) {
                const char *n = db->cfs[i].name;
                if (strcmp(n, DEFAULT_CF) && strcmp(n, OFFSETS_CF))
                        names[cnt++] = brook__xstrdup(n);
        }
        pthread_mutex_unlock(&db->lock);
        *cntp = cnt;
        return names;
}

void brook__statedb_names_free(char **names, size_t cnt)
{
        size_t i;
        if (!names)
                return;
        for (i = 0; i < cnt; i++)
                free(names[i]);
        free(names);
}

/* ------------------------------------------------------------- batch */

int64_t brook__statedb_memory(brook__statedb_t *db)
{
        uint64_t total = rocksdb_cache_get_usage(db->cache), v;
        size_t i;

        pthread_mutex_lock(&db->lock);
        for (i = 0; i < db->cf_cnt; i++)
                if (!rocksdb_property_int_cf(db->rdb, db->cfs[i].h,
                                             "rocksdb.size-all-mem-tables", &v))
                        total += v;
        pthread_mutex_unlock(&db->lock);
        return (int64_t)total;
}

void brook__statedb_cache(brook__statedb_t *db, uint64_t *usage,
                          uint64_t *capacity)
{
        *usage = rocksdb_cache_get_usage(db->cache);
        *capacity = rocksdb_cache_get_capacity(db->cache);
}

void brook__statedb_each_cf(brook__statedb_t *db,
                            void (*fn)(void *opaque, const char *name,
                                       uint64_t memtables, uint64_t keys,
                                       uint64_t live_bytes),
                            void *opaque)
{
        size_t i;
        pthread_mutex_lock(&db->lock);
        for (i = 0; i < db->cf_cnt; i++) {
                uint64_t mem = 0, keys = 0, live = 0;
                if (!strcmp(db->cfs[i].name, "default"))
                        continue;
                rocksdb_property_int_cf(db->rdb, db->cfs[i].h,
                                        "rocksdb.size-all-mem-tables", &mem);
                rocksdb_property_int_cf(db->rdb, db->cfs[i].h,
                                        "rocksdb.estimate-num-keys", &keys);
                rocksdb_property_int_cf(db->rdb, db->cfs[i].h,
                                        "rocksdb.estimate-live-data-size",
                                        &live);
                fn(opaque, db->cfs[i].name, mem, keys, live);
        }
        pthread_mutex_unlock(&db->lock);
}

static int keycmp(const void *a, size_t an, const void *b, size_t bn)
{
        int c = memcmp(a, b, an < bn ? an : bn);
        if (c)
                return c;
        return an < bn ? -1 : an > bn;
}

static void ranges_free(struct pending_range *ranges, size_t cnt)
{
        size_t i;
        for (i = 0; i < cnt; i++) {
                free(ranges[i].from);
                free(ranges[i].to);
        }
        free(ranges);
}

static void ranges_clear(brook__statebatch_t *batch)
{
        ranges_free(batch->ranges, batch->range_cnt);
        batch->ranges = NULL;
        batch->range_cnt = 0;
}

brook__statebatch_t *brook__statebatch_new(brook__statedb_t *db)
{
        brook__statebatch_t *batch = brook__xcalloc(1, sizeof *batch);
        batch->db = db;
        /* overwrite_key: a key written twice holds one entry, so reads
         * through the batch and its size track the latest value only. */
        batch->wb = rocksdb_writebatch_wi_create(0, 1);
        batch->plain = rocksdb_writebatch_create();
        batch->unidx = rocksdb_writebatch_create();
        batch->ranges = NULL;
        batch->range_cnt = 0;
        batch->bulk = false;
        return batch;
}

void brook__statebatch_set_bulk(brook__statebatch_t *batch, bool bulk)
{
        batch->bulk = bulk;
}

bool brook__statebatch_bulk(const brook__statebatch_t *batch)
{
        return batch->bulk;
}

void brook__statebatch_set_transactional(brook__statebatch_t *batch, bool on)
{
        batch->transactional = on;
}

bool brook__statebatch_transactional(const brook__statebatch_t *batch)
{
        return batch->transactional;
}

void brook__statebatch_join(brook__statebatch_t *batch,
                            void (*apply)(void *self),
                            void (*discard)(void *self),
                            void (*detach)(void *self), void *self)
{
        if (batch->member_cnt == batch->member_cap) {
                batch->member_cap =
                        batch->member_cap ? batch->member_cap * 2 : 8;
                batch->members = brook__xrealloc(
                        batch->members,
                        batch->member_cap * sizeof *batch->members);
        }
        batch->members[batch->member_cnt].apply = apply;
        batch->members[batch->member_cnt].discard = discard;
        batch->members[batch->member_cnt].detach = detach;
        batch->members[batch->member_cnt].self = self;
        batch->member_cnt++;
}

void brook__statebatch_leave(brook__statebatch_t *batch, void *self)
{
        size_t i;
        for (i = 0; i < batch->member_cnt; i++)
                if (batch->members[i].self == self) {
                        batch->members[i] = batch->members[--batch->member_cnt];
                        return;
                }
}

void brook__statebatch_fail_next(brook__statebatch_t *batch)
{
        batch->fail_next = true;
}

void brook__statebatch_fail_next_apply(brook__statebatch_t *batch)
{
        batch->fail_next_apply = true;
}

void brook__statebatch_detach(brook__statebatch_t *batch, void *self)
{
        size_t i;
        for (i = 0; i < batch->member_cnt; i++)
                if (batch->members[i].self == self) {
                        void (*detach)(void *) = batch->members[i].detach;
                        batch->members[i] = batch->members[--batch->member_cnt];
                        detach(self);
                        return;
                }
}

/* The batch was written: the members apply their writes too. */
static void batch_members_apply(brook__statebatch_t *batch)
{
        size_t i;
        for (i = 0; i < batch->member_cnt; i++)
                batch->members[i].apply(batch->members[i].self);
}

static void batch_writer_stop(brook__statebatch_t *batch);

void brook__statebatch_destroy(brook__statebatch_t *batch)
{
        if (!batch)
                return;
        /* The batch in flight lands first: it is committed. */
        batch_writer_stop(batch);
        if (batch->async_err)
                brook__log("ERROR",
                           "state db \"%s\": the last committed write "
                           "failed (%s): its stores restore it from their "
                           "changelogs at the next start",
                           batch->db->dir, batch->async_err);
        free(batch->async_err);
        rocksdb_writebatch_wi_destroy(batch->wb);
        rocksdb_writebatch_destroy(batch->plain);
        rocksdb_writebatch_destroy(batch->unidx);
        free(batch->unidx_cfs);
        ranges_clear(batch);
        free(batch->recs);
        free(batch->sorted);
        free(batch->members);
        free(batch);
}

/* A failed write of @p batch: says why (naming the state db, so a full
 * disk names its directory) and frees RocksDB's @p rerr. The batch keeps
 * its writes: the caller decides. */
static brook_err_t batch_write_failed(brook__statebatch_t *batch, char *rerr,
                                      char *errstr, size_t errstr_size)
{
        brook__seterr(errstr, errstr_size, "writing to state db \"%s\": %s",
                      batch->db->dir, rerr);
        rocksdb_free(rerr);
        return BROOK_ERR_STATE;
}

static brook_err_t batch_wait(brook__statebatch_t *batch, char *errstr,
                              size_t errstr_size);

brook_err_t brook__statebatch_write_bulk(brook__statebatch_t *batch,
                                         char *errstr, size_t errstr_size)
{
        char *rerr = NULL;
        brook_err_t err;

        if (!rocksdb_writebatch_count(batch->plain))
                return BROOK_OK;
        if ((err = batch_wait(batch, errstr, errstr_size)))
                return err;
        rocksdb_write(batch->db->rdb, batch->db->wopts, batch->plain, &rerr);
        if (rerr)
                return batch_write_failed(batch, rerr, errstr, errstr_size);
        rocksdb_writebatch_clear(batch->plain);
        return BROOK_OK;
}

void brook__statebatch_discard(brook__statebatch_t *batch)
{
        if (!batch)
                return;
        size_t i;
        rocksdb_writebatch_clear(batch->plain);
        rocksdb_writebatch_clear(batch->unidx);
        batch->unidx_cf_cnt = 0;
        ranges_clear(batch);
        rocksdb_writebatch_wi_clear(batch->wb);
        for (i = 0; i < batch->member_cnt; i++)
                batch->members[i].discard(batch->members[i].self);
}

/* A record of a write batch's rep (RocksDB's WriteBatch format, the one
 * its WAL holds): its column family, its key, and its bytes. */
struct rep_rec {
        uint32_t cf;
        uint32_t key_size;
        const char *key;
        const char *rec; /* From the tag byte to the record's end. */
        size_t rec_size;
        size_t seq; /* Its place in the batch: the later write wins. */
};

/* WriteBatch's header (an 8-byte sequence and a 4-byte count) and the
 * record tags brook writes (db/dbformat.h's ValueType, fixed because the
 * WAL holds them). */
#define REP_HEADER    12
#define TAG_DELETE    0x0
#define TAG_PUT       0x1
#define TAG_CF_DELETE 0x4
#define TAG_CF_PUT    0x5
/* RocksDB's kTypeColumnFamilyRangeDeletion and kTypeRangeDeletion. */
#define TAG_CF_RANGE_DELETE 0xe
#define TAG_RANGE_DELETE    0xf

static bool rep_varint32(const char **p, const char *end, uint32_t *v)
{
        uint32_t r = 0;
        int shift;

        for (shift = 0; shift <= 28 && *p < end; shift += 7) {
                uint32_t b = (unsigned char)*(*p)++;
                r |= (b & 0x7f) << shift;
                if (!(b & 0x80)) {
                        *v = r;
                        return true;
                }
        }
        return false;
}

static bool rep_slice(const char **p, const char *end, const char **data,
                      uint32_t *size)
{
        if (!rep_varint32(p, end, size) || (size_t)(end - *p) < *size)
                return false;
        *data = *p;
        *p += *size;
        return true;
}

static int rep_rec_cmp(const void *a, const void *b)
{
        const struct rep_rec *x = a, *y = b;
        int c;

        if (x->cf != y->cf)
                return x->cf < y->cf ? -1 : 1;
        c = keycmp(x->key, x->key_size, y->key, y->key_size);
        if (c)
                return c;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Appends the records of @p rep to batch->recs (from *@p np on), their
 * places in the batch continuing from there. Returns false if the rep
 * holds a record brook does not write (it never should). */
static bool rep_parse(brook__statebatch_t *batch, const char *rep, size_t size,
                      size_t *np)
{
        const char *p = rep + REP_HEADER, *end = rep + size;
        size_t n = *np;

        if (size < REP_HEADER)
                return false;
        while (p < end) {
                struct rep_rec *r;
                const char *value;
                uint32_t value_size;
                unsigned char tag = (unsigned char)*p;

                if (tag != TAG_PUT && tag != TAG_DELETE && tag != TAG_CF_PUT &&
                    tag != TAG_CF_DELETE)
                        return false;
                if (n == batch->rec_cap) {
                        batch->rec_cap =
                                batch->rec_cap ? batch->rec_cap * 2 : 1024;
                        batch->recs = brook__xrealloc(
                                batch->recs, batch->rec_cap * sizeof *r);
                }
                r = &batch->recs[n];
                r->rec = p++;
                r->cf = 0;
                r->seq = n;
                if ((tag == TAG_CF_PUT || tag == TAG_CF_DELETE) &&
                    !rep_varint32(&p, end, &r->cf))
                        return false;
                if (!rep_slice(&p, end, &r->key, &r->key_size))
                        return false;
                if ((tag == TAG_PUT || tag == TAG_CF_PUT) &&
                    !rep_slice(&p, end, &value, &value_size))
                        return false;
                r->rec_size = (size_t)(p - r->rec);
                n++;
        }
        *np = n;
        return true;
}

/* The batch's records (the index's, then the unindexed ones) sorted by
 * column family and key, the last write of each key only, as a rep in
 * batch->sorted (its size in *sizep). Why: RocksDB's memtable (a skip
 * list) inserts a key next to the one it inserted before in a few steps,
 * and a key anywhere else from the top; caches flush in the order their
 * entries became dirty, all over the key space (hopping-count under
 * exactly-once spent 21% of the stream thread in memtable inserts).
 * Returns false if a rep holds a record brook does not write. */
/* Appends @p v as a varint32 at @p p; returns the bytes written. */
static size_t rep_put_varint32(char *p, uint32_t v)
{
        size_t n = 0;

        while (v >= 0x80) {
                p[n++] = (char)(v | 0x80);
                v >>= 7;
        }
        p[n++] = (char)v;
        return n;
}

/* Appends a slice (varint32 length, bytes); returns the bytes written. */
static size_t rep_put_slice(char *p, const char *data, size_t size)
{
        size_t n = rep_put_varint32(p, (uint32_t)size);

        memcpy(p + n, data, size);
        return n + size;
}

static bool rep_sort(brook__statebatch_t *batch, size_t *sizep)
{
        size_t wsize = 0, usize = 0, rsize = 0, n = 0, i, out;
        const char *wrep = rocksdb_writebatch_wi_data(batch->wb, &wsize);
        const char *urep = rocksdb_writebatch_data(batch->unidx, &usize);
        uint32_t cnt = 0;

        if (!rep_parse(batch, wrep, wsize, &n) ||
            !rep_parse(batch, urep, usize, &n) ||
            n + batch->range_cnt > UINT32_MAX)
                return false;
        qsort(batch->recs, n, sizeof *batch->recs, rep_rec_cmp);

        /* The range deletions go in here too: appended to RocksDB's batch
         * they would double its buffer, a commit's size more memory. */
        for (i = 0; i < batch->range_cnt; i++) {
                const struct pending_range *r = &batch->ranges[i];
                if (r->from_size > UINT32_MAX || r->to_size > UINT32_MAX)
                        return false;
                rsize += 1 + 5 + 5 + r->from_size + 5 + r->to_size;
        }
        if (batch->sorted_cap < wsize + usize + rsize) {
                free(batch->sorted);
                batch->sorted_cap = wsize + usize + rsize;
                batch->sorted = brook__xmalloc(batch->sorted_cap);
        }
        memset(batch->sorted, 0, REP_HEADER);
        out = REP_HEADER;
        for (i = 0; i < n; i++) {
                const struct rep_rec *r = &batch->recs[i];
                if (i + 1 < n && r->cf == r[1].cf &&
                    !keycmp(r->key, r->key_size, r[1].key, r[1].key_size))
                        continue; /* Written again later in the batch. */
                memcpy(batch->sorted + out, r->rec, r->rec_size);
                out += r->rec_size;
                cnt++;
        }
        /* Then the range deletions, after every record (a put into an
         * expired segment in this batch is deleted with it). */
        for (i = 0; i < batch->range_cnt; i++) {
                const struct pending_range *r = &batch->ranges[i];
                uint32_t id = rocksdb_column_family_handle_get_id(r->cf);
                if (id) {
                        batch->sorted[out++] = TAG_CF_RANGE_DELETE;
                        out += rep_put_varint32(batch->sorted + out, id);
                } else {
                        batch->sorted[out++] = TAG_RANGE_DELETE;
                }
                out += rep_put_slice(batch->sorted + out, r->from,
                                     r->from_size);
                out += rep_put_slice(batch->sorted + out, r->to, r->to_size);
                cnt++;
        }
        /* The count, fixed32 little-endian. */
        for (i = 0; i < 4; i++)
                batch->sorted[8 + i] = (char)(cnt >> (8 * i) & 0xff);
        *sizep = out;
        return true;
}

/* Only a RocksDB bug: the unindexed writes are rdb_put()'s alone. Their
 * data cannot be placed, and dropping it would lose state: stop loudly,
 * as brook's allocations do. */
static void unidx_broken(brook__statebatch_t *batch, const char *what)
{
        fprintf(stderr,
                "brook: state db \"%s\": the unindexed writes hold "
                "%s\n",
                batch->db->dir, what);
        abort();
}

/* Moves the unindexed writes into the index, in their order: a read below
 * is about to happen (it must see them), or they cannot be sorted. */
static void unidx_index(brook__statebatch_t *batch)
{
        size_t usize = 0, n = 0, i, j;
        const char *urep;

        if (!rocksdb_writebatch_count(batch->unidx))
                return;
        urep = rocksdb_writebatch_data(batch->unidx, &usize);
        /* rdb_put() writes nothing else. */
        if (!rep_parse(batch, urep, usize, &n))
                unidx_broken(batch, "a record brook did not write");
        for (i = 0; i < n; i++) {
                const struct rep_rec *r = &batch->recs[i];
                unsigned char tag = (unsigned char)r->rec[0];
                const char *p = r->key + r->key_size, *value = NULL;
                uint32_t value_size = 0;
                rocksdb_column_family_handle_t *h = NULL;

                for (j = 0; j < batch->unidx_cf_cnt && !h; j++)
                        if (batch->unidx_cfs[j].id == r->cf)
                                h = batch->unidx_cfs[j].h;
                if (!h)
                        unidx_broken(batch, "an unknown column family");
                if (tag == TAG_PUT || tag == TAG_CF_PUT) {
                        /* rep_parse() checked the record's slices. */
                        if (!rep_slice(&p, r->rec + r->rec_size, &value,
                                       &value_size))
                                unidx_broken(batch, "a put without a value");
                        rocksdb_writebatch_wi_put_cf(batch->wb, h, r->key,
                                                     r->key_size, value,
                                                     value_size);
                } else
                        rocksdb_writebatch_wi_delete_cf(batch->wb, h, r->key,
                                                        r->key_size);
        }
        rocksdb_writebatch_clear(batch->unidx);
        batch->unidx_cf_cnt = 0;
}

void brook__statebatch_set_unindexed(brook__statebatch_t *batch, bool on)
{
        batch->unindexed = on;
}

bool brook__statebatch_unindexed(const brook__statebatch_t *batch)
{
        return batch->unindexed;
}

void brook__statebatch_index(brook__statebatch_t *batch)
{
        unidx_index(batch);
}

/* After a write: scratch grown past SCRATCH_KEEP by an unusually large
 * batch goes, so that a thread does not hold it for good. */
#define SCRATCH_KEEP (4 * 1024 * 1024)
static void scratch_trim(brook__statebatch_t *batch)
{
        if (batch->sorted_cap > SCRATCH_KEEP) {
                free(batch->sorted);
                batch->sorted = NULL;
                batch->sorted_cap = 0;
        }
        if (batch->rec_cap * sizeof *batch->recs > SCRATCH_KEEP) {
                free(batch->recs);
                batch->recs = NULL;
                batch->rec_cap = 0;
        }
}

/* An unindexed write to column family @p h: remembers its id, for
 * unidx_index(). */
static void unidx_note_cf(brook__statebatch_t *batch,
                          rocksdb_column_family_handle_t *h)
{
        size_t i;

        for (i = batch->unidx_cf_cnt; i > 0; i--)
                if (batch->unidx_cfs[i - 1].h == h)
                        return;
        if (batch->unidx_cf_cnt == batch->unidx_cf_cap) {
                batch->unidx_cf_cap =
                        batch->unidx_cf_cap ? batch->unidx_cf_cap * 2 : 8;
                batch->unidx_cfs = brook__xrealloc(
                        batch->unidx_cfs,
                        batch->unidx_cf_cap * sizeof *batch->unidx_cfs);
        }
        batch->unidx_cfs[batch->unidx_cf_cnt].h = h;
        batch->unidx_cfs[batch->unidx_cf_cnt].id =
                rocksdb_column_family_handle_get_id(h);
        batch->unidx_cf_cnt++;
}

/* Drops the ranges' files and asks compaction to reclaim the rest. A
 * failure only delays the reclaim. */
static void ranges_reclaim(brook__statedb_t *db, struct pending_range *ranges,
                           size_t cnt)
{
        char *rerr = NULL;
        size_t i;

        for (i = 0; i < cnt; i++) {
                struct pending_range *r = &ranges[i];
                rocksdb_delete_file_in_range_cf(db->rdb, r->cf, r->from,
                                                r->from_size, r->to, r->to_size,
                                                &rerr);
                if (rerr) {
                        brook__log("WARN",
                                   "state db \"%s\": dropping "
                                   "expired files: %s",
                                   db->dir, rerr);
                        rocksdb_free(rerr);
                        rerr = NULL;
                }
                rocksdb_suggest_compact_range_cf(db->rdb, r->cf, r->from,
                                                 r->from_size, r->to,
                                                 r->to_size, &rerr);
                if (rerr) {
                        rocksdb_free(rerr);
                        rerr = NULL;
                }
        }
}

/* ------------------------------------------------ the batch's writer */

/*
 * Under exactly-once a batch is written after its Kafka transaction
 * committed, and nothing in Kafka waits for it: the stream thread hands the
 * write (RocksDB's memtable inserts, 15-30% of a stateful workload's
 * thread) to the batch's writer thread and goes on with the next records.
 * What it reads meanwhile waits for the write to land (batch_wait()): a
 * read through the batch, a new write, restoration. A store's stored
 * offset, a clear and a query wait for every batch in flight on the db
 * (db_wait()): a task that moved from another thread reads its offset
 * after that thread's last write. Crash consistency is as before: a crash
 * before the write lands leaves the store behind its changelog.
 */
/* Writes @p all (and destroys it), then reclaims the space of the range
 * deletions it held. Returns RocksDB's error (rocksdb_free()) or NULL. */
static char *batch_apply(brook__statedb_t *db, rocksdb_writebatch_t *all,
                         struct pending_range *ranges, size_t range_cnt)
{
        char *rerr = NULL;

        rocksdb_write(db->rdb, db->wopts, all, &rerr);
        rocksdb_writebatch_destroy(all);
        /* The ranges are dead now: files wholly inside one go at once. */
        if (!rerr)
                ranges_reclaim(db, ranges, range_cnt);
        return rerr;
}

static void *batch_writer(void *arg)
{
        brook__statebatch_t *batch = arg;
        brook__statedb_t *db = batch->db;

        pthread_mutex_lock(&db->alock);
        for (;;) {
                rocksdb_writebatch_t *job;
                struct pending_range *ranges;
                size_t range_cnt;
                char *rerr = NULL;

                while (!batch->job && !batch->writer_quit)
                        pthread_cond_wait(&db->acond, &db->alock);
                if (!batch->job)
                        break;
                job = batch->job;
                ranges = batch->job_ranges;
                range_cnt = batch->job_range_cnt;
                pthread_mutex_unlock(&db->alock);

                if (batch->job_fail)
                        rocksdb_writebatch_destroy(job);
                else
                        rerr = batch_apply(db, job, ranges, range_cnt);
                ranges_free(ranges, range_cnt);

                pthread_mutex_lock(&db->alock);
                batch->job = NULL;
                batch->job_ranges = NULL;
                batch->job_range_cnt = 0;
                if ((rerr || batch->job_fail) && !batch->async_err)
                        batch->async_err = brook__xstrdup(
                                rerr ? rerr : "injected failure");
                if (rerr || batch->job_fail)
                        atomic_store(&batch->failed, true);
                rocksdb_free(rerr);
                atomic_store(&batch->busy, false);
                db->inflight--;
                pthread_cond_broadcast(&db->acond);
        }
        pthread_mutex_unlock(&db->alock);
        return NULL;
}

static void batch_writer_stop(brook__statebatch_t *batch)
{
        brook__statedb_t *db = batch->db;

        if (!batch->writer_started)
                return;
        pthread_mutex_lock(&db->alock);
        batch->writer_quit = true;
        pthread_cond_broadcast(&db->acond);
        pthread_mutex_unlock(&db->alock);
        pthread_join(batch->writer, NULL);
        batch->writer_started = false;
}

/* Waits for this batch's write in flight, if any. A write that failed
 * fails every call after it: the store is behind its changelog, and the
 * thread must rebuild it. */
static brook_err_t batch_wait(brook__statebatch_t *batch, char *errstr,
                              size_t errstr_size)
{
        brook__statedb_t *db = batch->db;

        if (!atomic_load(&batch->busy) && !atomic_load(&batch->failed))
                return BROOK_OK;
        pthread_mutex_lock(&db->alock);
        while (atomic_load(&batch->busy))
                pthread_cond_wait(&db->acond, &db->alock);
        if (batch->async_err)
                brook__seterr(errstr, errstr_size,
                              "writing to state db \"%s\": %s", db->dir,
                              batch->async_err);
        pthread_mutex_unlock(&db->alock);
        return atomic_load(&batch->failed) ? BROOK_ERR_STATE : BROOK_OK;
}

brook_err_t brook__statebatch_check(brook__statebatch_t *batch, bool wait,
                                    char *errstr, size_t errstr_size)
{
        if (wait)
                return batch_wait(batch, errstr, errstr_size);
        if (!atomic_load(&batch->failed))
                return BROOK_OK;
        return batch_wait(batch, errstr, errstr_size);
}

/* Waits for every batch in flight on @p db. */
static void db_wait(brook__statedb_t *db)
{
        pthread_mutex_lock(&db->alock);
        while (db->inflight)
                pthread_cond_wait(&db->acond, &db->alock);
        pthread_mutex_unlock(&db->alock);
}

/* Hands @p all and the batch's ranges to the writer (started the first
 * time). */
static void batch_write_async(brook__statebatch_t *batch,
                              rocksdb_writebatch_t *all)
{
        brook__statedb_t *db = batch->db;

        if (!batch->writer_started) {
                int e = pthread_create(&batch->writer, NULL, batch_writer,
                                       batch);
                if (e) {
                        fprintf(stderr,
                                "brook: cannot start the state writer "
                                "thread: %s\n",
                                strerror(e));
                        abort();
                }
                batch->writer_started = true;
        }
        pthread_mutex_lock(&db->alock);
        batch->job_fail = batch->fail_next_apply;
        batch->fail_next_apply = false;
        batch->job = all;
        batch->job_ranges = batch->ranges;
        batch->job_range_cnt = batch->range_cnt;
        batch->ranges = NULL;
        batch->range_cnt = 0;
        atomic_store(&batch->busy, true);
        db->inflight++;
        pthread_cond_broadcast(&db->acond);
        pthread_mutex_unlock(&db->alock);
}

static brook_err_t batch_write(brook__statebatch_t *batch, bool behind,
                               char *errstr, size_t errstr_size);

brook_err_t brook__statebatch_write(brook__statebatch_t *batch, char *errstr,
                                    size_t errstr_size)
{
        return batch_write(batch, batch->transactional, errstr, errstr_size);
}

brook_err_t brook__statebatch_write_behind(brook__statebatch_t *batch,
                                           char *errstr, size_t errstr_size)
{
        return batch_write(batch, true, errstr, errstr_size);
}

static brook_err_t batch_write(brook__statebatch_t *batch, bool behind,
                               char *errstr, size_t errstr_size)
{
        char *rerr = NULL;
        brook_err_t err;
        rocksdb_writebatch_t *all;
        const char *rep;
        size_t size, i;

        if (batch->fail_next) {
                batch->fail_next = false;
                brook__seterr(errstr, errstr_size,
                              "writing to state db \"%s\": injected failure",
                              batch->db->dir);
                return BROOK_ERR_STATE;
        }
        /* The write before lands first. */
        if ((err = batch_wait(batch, errstr, errstr_size)))
                return err;
        if ((err = brook__statebatch_write_bulk(batch, errstr, errstr_size)))
                return err;
        if (!rocksdb_writebatch_wi_count(batch->wb) &&
            !rocksdb_writebatch_count(batch->unidx) && !batch->range_cnt) {
                batch_members_apply(batch);
                return BROOK_OK;
        }
        /* One write: the batch's records in key order, then the range
         * deletions. */
        if (rep_sort(batch, &size)) {
                all = rocksdb_writebatch_create_from(batch->sorted, size);
        } else {
                unidx_index(batch);
                rep = rocksdb_writebatch_wi_data(batch->wb, &size);
                all = rocksdb_writebatch_create_from(rep, size);
                for (i = 0; i < batch->range_cnt; i++) {
                        struct pending_range *r = &batch->ranges[i];
                        rocksdb_writebatch_delete_range_cf(all, r->cf, r->from,
                                                           r->from_size, r->to,
                                                           r->to_size);
                }
        }
        if (behind) {
                batch_write_async(batch, all);
        } else {
                rerr = batch_apply(batch->db, all, batch->ranges,
                                   batch->range_cnt);
                if (rerr)
                        return batch_write_failed(batch, rerr, errstr,
                                                  errstr_size);
                ranges_clear(batch);
        }
        rocksdb_writebatch_wi_clear(batch->wb);
        rocksdb_writebatch_clear(batch->unidx);
        batch->unidx_cf_cnt = 0;
        scratch_trim(batch);
        batch_members_apply(batch);
        return BROOK_OK;
}

size_t brook__statebatch_size(brook__statebatch_t *batch)
{
        size_t size = 0, usize = 0;

        /* An empty batch still has RocksDB's 12-byte header: count 0. */
        if (rocksdb_writebatch_wi_count(batch->wb))
                rocksdb_writebatch_wi_data(batch->wb, &size);
        if (rocksdb_writebatch_count(batch->unidx))
                rocksdb_writebatch_data(batch->unidx, &usize);
        return size + usize;
}

/* ------------------------------------------------------------- store */

typedef struct rdbstore {
        brook__statedb_t *db;
        brook__statebatch_t *batch; /* NULL: read-only. */
        rocksdb_column_family_handle_t *cf;
        char *cf_name;
} rdbstore_t;

typedef struct rdbiter {
        brook_kvbytes_iter_t base;
        rocksdb_iterator_t *it;
        /* The bound iteration ends at (forward: to, backward: from);
         * NULL: open. */
        char *to;
        size_t to_size;
        bool reverse;
        bool started;
        bool done;
} rdbiter_t;

/* Writes to a store opened by brook__rocksdb_open_readonly(). */
static brook_err_t ro_fail(const rdbstore_t *s, char *errstr,
                           size_t errstr_size)
{
        brook__seterr(errstr, errstr_size,
                      "rocksdb column family \"%s\" is open read-only",
                      s->cf_name);
        return BROOK_ERR_STATE;
}

/* Copies a pinned value into @p out. */
static brook_err_t get_db(rdbstore_t *s, rocksdb_column_family_handle_t *cf,
                          const void *key, size_t key_size, brook_buf_t *out,
                          char *errstr, size_t errstr_size)
{
        rocksdb_pinnableslice_t *ps;
        char *rerr = NULL;
        const char *v;
        size_t vlen;

        brook_buf_clear(out);
        ps = rocksdb_get_pinned_cf(s->db->rdb, s->db->ropts, cf, key, key_size,
                                   &rerr);
        if (rerr) {
                brook__seterr(errstr, errstr_size, "rocksdb get in \"%s\": %s",
                              s->cf_name, rerr);
                rocksdb_free(rerr);
                return BROOK_ERR_STATE;
        }
        if (!ps)
                return BROOK_ERR_NOT_FOUND;
        v = rocksdb_pinnableslice_value(ps, &vlen);
        brook_buf_append(out, v, vlen);
        rocksdb_pinnableslice_destroy(ps);
        return BROOK_OK;
}

static brook_err_t rdb_get(void *self, const void *key, size_t key_size,
                           brook_buf_t *out, char *errstr, size_t errstr_size)
{
        rdbstore_t *s = self;
        char *rerr = NULL, *v;
        size_t vlen = 0;

        brook_err_t err;

        if (!s->batch)
                return get_db(s, s->cf, key, key_size, out, errstr,
                              errstr_size);
        brook_buf_clear(out);
        if ((err = batch_wait(s->batch, errstr, errstr_size)))
                return err;
        if (!s->batch->unindexed)
                unidx_index(s->batch);
        /* Allocates the value; glibc's malloc(0) is non-NULL, so an empty
         * value is told apart from an absent key. */
        v = rocksdb_writebatch_wi_get_from_batch_and_db_cf(
                s->batch->wb, s->db->rdb, s->db->ropts, s->cf, key, key_size,
                &vlen, &rerr);
        if (rerr) {
                brook__seterr(errstr, errstr_size, "rocksdb get in \"%s\": %s",
                              s->cf_name, rerr);
                rocksdb_free(rerr);
                return BROOK_ERR_STATE;
        }
        if (!v)
                return BROOK_ERR_NOT_FOUND;
        brook_buf_append(out, v, vlen);
        rocksdb_free(v);
        return BROOK_OK;
}

static brook_err_t rdb_put(void *self, const void *key, size_t key_size,
                           const void *value, size_t value_size, char *errstr,
                           size_t errstr_size)
{
        rdbstore_t *s = self;

        if (!s->batch)
                return ro_fail(s, errstr, errstr_size);
        if (s->batch->bulk) {
                if (value)
                        rocksdb_writebatch_put_cf(s->batch->plain, s->cf, key,
                                                  key_size, value, value_size);
                else
                        rocksdb_writebatch_delete_cf(s->batch->plain, s->cf,
                                                     key, key_size);
                return BROOK_OK;
        }
        if (s->batch->unindexed) {
                unidx_note_cf(s->batch, s->cf);
                if (value)
                        rocksdb_writebatch_put_cf(s->batch->unidx, s->cf, key,
                                                  key_size, value, value_size);
                else
                        rocksdb_writebatch_delete_cf(s->batch->unidx, s->cf,
                                                     key, key_size);
                return BROOK_OK;
        }
        /* The unindexed writes stay the batch's latest. */
        unidx_index(s->batch);
        if (value)
                rocksdb_writebatch_wi_put_cf(s->batch->wb, s->cf, key, key_size,
                                             value, value_size);
        else
                rocksdb_writebatch_wi_delete_cf(s->batch->wb, s->cf, key,
                                                key_size);
        return BROOK_OK;
}

static brook_err_t iter_next(brook_kvbytes_iter_t *base, const void **key,
                             size_t *key_size, const void **value,
                             size_t *value_size, char *errstr,
                             size_t errstr_size)
{
        rdbiter_t *it = (rdbiter_t *)base;
        const char *k;
        char *rerr = NULL;
        size_t klen;

        if (it->done)
                return BROOK_ERR_END;
        if (it->started) {
                if (it->reverse)
                        rocksdb_iter_prev(it->it);
                else
                        rocksdb_iter_next(it->it);
        }
        it->started = true;
        if (!rocksdb_iter_valid(it->it)) {
                it->done = true;
                /* Invalid means the end, or an I/O error: tell them apart. */
                rocksdb_iter_get_error(it->it, &rerr);
                if (!rerr)
                        return BROOK_ERR_END;
                brook__seterr(errstr, errstr_size, "rocksdb iterator: %s",
                              rerr);
                rocksdb_free(rerr);
                return BROOK_ERR_STATE;
        }
        k = rocksdb_iter_key(it->it, &klen);
        if (it->to &&
            (it->reverse ? keycmp(k, klen, it->to, it->to_size) < 0
                         : keycmp(k, klen, it->to, it->to_size) > 0)) {
                it->done = true;
                return BROOK_ERR_END;
        }
        *key = k;
        *key_size = klen;
        *value = rocksdb_iter_value(it->it, value_size);
        return BROOK_OK;
}

static void iter_destroy(brook_kvbytes_iter_t *base)
{
        rdbiter_t *it = (rdbiter_t *)base;
        if (!it)
                return;
        rocksdb_iter_destroy(it->it);
        free(it->to);
        free(it);
}

/* An iterator over [from, to] of the DB's column family, merged with the
 * batch if @p batch. */
static brook_err_t iter_new(rdbstore_t *s, bool batch, bool reverse,
                            const void *from, size_t from_size, const void *to,
                            size_t to_size, brook_kvbytes_iter_t **itp,
                            char *errstr, size_t errstr_size)
{
        rdbiter_t *it;
        const void *stop;
        size_t stop_size;
        rocksdb_iterator_t *ri;
        brook_err_t err;

        /* The owner reads after its own write in flight; a query after
         * every one (see batch_writer()). */
        if (batch && (err = batch_wait(s->batch, errstr, errstr_size)))
                return err;
        if (!batch)
                db_wait(s->db);
        it = brook__xcalloc(1, sizeof *it);
        ri = rocksdb_create_iterator_cf(s->db->rdb, s->db->ropts, s->cf);
        if (batch && !s->batch->unindexed)
                unidx_index(s->batch);
        if (batch)
                /* Takes the base iterator. */
                ri = rocksdb_writebatch_wi_create_iterator_with_base_cf(
                        s->batch->wb, ri, s->cf);
        it->base.next = iter_next;
        it->base.destroy = iter_destroy;
        it->it = ri;
        it->reverse = reverse;
        /* Iteration starts at one bound and stops past the other: forward
         * from @p from to @p to, backward from @p to down to @p from. */
        stop = reverse ? from : to;
        stop_size = reverse ? from_size : to_size;
        if (stop) {
                it->to = brook__xmalloc(stop_size ? stop_size : 1);
                memcpy(it->to, stop, stop_size);
                it->to_size = stop_size;
        }
        if (reverse) {
                if (to)
                        rocksdb_iter_seek_for_prev(ri, to, to_size);
                else
                        rocksdb_iter_seek_to_last(ri);
        } else if (from) {
                rocksdb_iter_seek(ri, from, from_size);
        } else {
                rocksdb_iter_seek_to_first(ri);
        }
        *itp = &it->base;
        return BROOK_OK;
}

/* Writing the batch while the iterator is open (a put of the current key
 * in particular) is not safe: RocksDB's WriteBatchWithIndex rule. */
static brook_err_t rdb_range(void *self, const void *from, size_t from_size,
                             const void *to, size_t to_size,
                             brook_kvbytes_iter_t **itp, char *errstr,
                             size_t errstr_size)
{
        rdbstore_t *s = self;
        return iter_new(s, s->batch != NULL, false, from, from_size, to,
                        to_size, itp, errstr, errstr_size);
}

static brook_err_t rdb_range_reverse(void *self, const void *from,
                                     size_t from_size, const void *to,
                                     size_t to_size, brook_kvbytes_iter_t **itp,
                                     char *errstr, size_t errstr_size)
{
        rdbstore_t *s = self;
        return iter_new(s, s->batch != NULL, true, from, from_size, to, to_size,
                        itp, errstr, errstr_size);
}

static brook_err_t rdb_query_range_reverse(void *self, const void *from,
                                           size_t from_size, const void *to,
                                           size_t to_size,
                                           brook_kvbytes_iter_t **itp,
                                           char *errstr, size_t errstr_size)
{
        return iter_new(self, false, true, from, from_size, to, to_size, itp,
                        errstr, errstr_size);
}

/* A range tombstone. RocksDB's WriteBatchWithIndex cannot hold one, so
 * outside restoration it waits in the thread's batch until the commit
 * writes the batch, and goes in the same atomic write, after the batch's
 * own writes (which it then covers too). */
static brook_err_t rdb_delete_range(void *self, const void *from,
                                    size_t from_size, const void *to,
                                    size_t to_size, char *errstr,
                                    size_t errstr_size)
{
        rdbstore_t *s = self;

        if (!s->batch)
                return ro_fail(s, errstr, errstr_size);
        if (s->batch->bulk)
                rocksdb_writebatch_delete_range_cf(s->batch->plain, s->cf, from,
                                                   from_size, to, to_size);
        else {
                brook__statebatch_t *b = s->batch;
                struct pending_range *r;
                b->ranges = brook__xrealloc(b->ranges,
                                            (b->range_cnt + 1) * sizeof *r);
                r = &b->ranges[b->range_cnt++];
                r->cf = s->cf;
                r->from = brook__xmalloc(from_size ? from_size : 1);
                memcpy(r->from, from, from_size);
                r->from_size = from_size;
                r->to = brook__xmalloc(to_size ? to_size : 1);
                memcpy(r->to, to, to_size);
                r->to_size = to_size;
        }
        return BROOK_OK;
}

static uint64_t rdb_approximate_count(void *self)
{
        rdbstore_t *s = self;
        char *v;
        uint64_t n = 0;

        db_wait(s->db);
        v = rocksdb_property_value_cf(s->db->rdb, s->cf,
                                      "rocksdb.estimate-num-keys");
        if (v) {
                n = strtoull(v, NULL, 10);
                rocksdb_free(v);
        }
        return n;
}

static uint64_t rdb_approximate_bytes(void *self)
{
        rdbstore_t *s = self;
        uint64_t live = 0, mem = 0;
        db_wait(s->db);
        /* Both are 0 when RocksDB has no figure yet. */
        rocksdb_property_int_cf(s->db->rdb, s->cf,
                                "rocksdb.estimate-live-data-size", &live);
        rocksdb_property_int_cf(s->db->rdb, s->cf,
                                "rocksdb.size-all-mem-tables", &mem);
        return live + mem;
}

void brook__statedb_offset_encode(unsigned char be[8], int64_t offset)
{
        int i;
        for (i = 0; i < 8; i++)
                be[i] = (unsigned char)((uint64_t)offset >> (56 - 8 * i));
}

bool brook__statedb_offset_decode(const void *data, size_t size,
                                  int64_t *offsetp)
{
        const unsigned char *p = data;
        uint64_t v = 0;
        int i;

        if (size != 8)
                return false;
        for (i = 0; i < 8; i++)
                v = v << 8 | p[i];
        *offsetp = (int64_t)v;
        return true;
}

static brook_err_t rdb_flush(void *self, int64_t changelog_offset, char *errstr,
                             size_t errstr_size)
{
        rdbstore_t *s = self;
        unsigned char be[8];

        if (!s->batch)
                return ro_fail(s, errstr, errstr_size);
        if (changelog_offset < 0)
                return BROOK_OK;
        brook__statedb_offset_encode(be, changelog_offset);
        /* Staged in the thread's batch with the data: the runtime writes
         * the batch after every store flushed, so both land at once. */
        if (s->batch->bulk)
                rocksdb_writebatch_put_cf(s->batch->plain, s->db->offsets_cf,
                                          s->cf_name, strlen(s->cf_name),
                                          (const char *)be, sizeof be);
        else {
                /* Unindexed (nothing reads it through the batch), so that
                 * it does not index the writes of the flush before it. */
                unidx_note_cf(s->batch, s->db->offsets_cf);
                rocksdb_writebatch_put_cf(s->batch->unidx, s->db->offsets_cf,
                                          s->cf_name, strlen(s->cf_name),
                                          (const char *)be, sizeof be);
        }
        return BROOK_OK;
}

void brook__statebatch_put_offset(brook__statebatch_t *batch, const char *name,
                                  int64_t offset)
{
        unsigned char be[8];

        brook__statedb_offset_encode(be, offset);
        /* As rdb_flush(): nothing reads it through the batch. */
        if (batch->bulk) {
                rocksdb_writebatch_put_cf(batch->plain, batch->db->offsets_cf,
                                          name, strlen(name), (const char *)be,
                                          sizeof be);
        } else {
                unidx_note_cf(batch, batch->db->offsets_cf);
                rocksdb_writebatch_put_cf(batch->unidx, batch->db->offsets_cf,
                                          name, strlen(name), (const char *)be,
                                          sizeof be);
        }
}

int64_t brook__statedb_get_offset(brook__statedb_t *db, const char *name)
{
        rocksdb_pinnableslice_t *ps;
        char *rerr = NULL;
        const char *v;
        size_t vlen;
        int64_t off = -1;

        if (!db->offsets_cf)
                return -1;
        db_wait(db);
        ps = rocksdb_get_pinned_cf(db->rdb, db->ropts, db->offsets_cf, name,
                                   strlen(name), &rerr);
        if (rerr) {
                brook__log("WARN", "reading stored offset \"%s\": %s", name,
                           rerr);
                rocksdb_free(rerr);
                return -1;
        }
        if (!ps)
                return -1;
        v = rocksdb_pinnableslice_value(ps, &vlen);
        if (!brook__statedb_offset_decode(v, vlen, &off))
                off = -1;
        rocksdb_pinnableslice_destroy(ps);
        return off;
}

static int64_t rdb_stored_offset(void *self)
{
        rdbstore_t *s = self;
        brook_buf_t *buf;
        char why[512];
        brook_err_t err;
        int64_t off = -1;

        if (!s->db->offsets_cf)
                return -1; /* A read-only db that never stored one. */
        /* The last thread that ran the task may still be writing. */
        db_wait(s->db);
        buf = brook_buf_new();
        err = get_db(s, s->db->offsets_cf, s->cf_name, strlen(s->cf_name), buf,
                     why, sizeof why);
        if (err && err != BROOK_ERR_NOT_FOUND)
                /* Restoring from the changelog's start is always correct. */
                brook__log("WARN", "%s: restoring \"%s\" from the start", why,
                           s->cf_name);
        if (!err) {
                if (!brook__statedb_offset_decode(brook_buf_data(buf),
                                                  brook_buf_len(buf), &off)) {
                        brook__log("WARN",
                                   "stored offset of \"%s\" has %zu bytes, "
                                   "not 8: ignored",
                                   s->cf_name, brook_buf_len(buf));
                }
        }
        brook_buf_destroy(buf);
        return off;
}

/*
 * Deletes every committed key and the stored offset in one write: a range
 * tombstone from "" (the smallest key) to just past the largest key (that
 * key plus a 0 byte, its bytewise successor), and the offset key. One
 * atomic write, so a crash never leaves half-cleared data behind an
 * offset-less store (a replay from the changelog's start could not remove
 * keys whose tombstones compaction dropped).
 *
 * The thread's batch is not touched: the runtime calls clear() only when it
 * holds nothing for this store (before restoration starts).
 */
static brook_err_t rdb_clear(void *self, char *errstr, size_t errstr_size)
{
        rdbstore_t *s = self;
        rocksdb_iterator_t *ri;
        rocksdb_writebatch_t *wb;
        char *rerr = NULL;

        if (!s->batch)
                return ro_fail(s, errstr, errstr_size);
        db_wait(s->db);
        wb = rocksdb_writebatch_create();
        ri = rocksdb_create_iterator_cf(s->db->rdb, s->db->ropts, s->cf);
        rocksdb_iter_seek_to_last(ri);
        if (rocksdb_iter_valid(ri)) {
                size_t klen;
                const char *k = rocksdb_iter_key(ri, &klen);
                char *end = brook__xmalloc(klen + 1);
                memcpy(end, k, klen);
                end[klen] = '\0';
                rocksdb_writebatch_delete_range_cf(wb, s->cf, "", 0, end,
                                                   klen + 1);
                free(end);
        }
        rocksdb_iter_get_error(ri, &rerr);
        rocksdb_iter_destroy(ri);
        if (!rerr) {
                rocksdb_writebatch_delete_cf(wb, s->db->offsets_cf, s->cf_name,
                                             strlen(s->cf_name));
                rocksdb_write(s->db->rdb, s->db->wopts, wb, &rerr);
        }
        rocksdb_writebatch_destroy(wb);
        if (rerr) {
                brook__seterr(errstr, errstr_size,
                              "clearing rocksdb column family \"%s\": %s",
                              s->cf_name, rerr);
                rocksdb_free(rerr);
                return BROOK_ERR_STATE;
        }
        return BROOK_OK;
}

static brook_err_t rdb_query_get(void *self, const void *key, size_t key_size,
                                 brook_buf_t *out, char *errstr,
                                 size_t errstr_size)
{
        rdbstore_t *s = self;
        db_wait(s->db);
        return get_db(s, s->cf, key, key_size, out, errstr, errstr_size);
}

static brook_err_t rdb_query_range(void *self, const void *from,
                                   size_t from_size, const void *to,
                                   size_t to_size, brook_kvbytes_iter_t **itp,
                                   char *errstr, size_t errstr_size)
{
        return iter_new(self, false, false, from, from_size, to, to_size, itp,
                        errstr, errstr_size);
}

static void rdb_close(void *self)
{
        rdbstore_t *s = self;
        if (!s)
                return;
        /* The column family handle stays with the db. */
        free(s->cf_name);
        brook__statedb_close(s->db);
        free(s);
}

static const brook_kvstore_ops_t rdb_ops = {
        .kind = "rocksdb",
        .persistent = true,
        .get = rdb_get,
        .put = rdb_put,
        .range = rdb_range,
        .approximate_count = rdb_approximate_count,
        .flush = rdb_flush,
        .stored_offset = rdb_stored_offset,
        .clear = rdb_clear,
        .query_get = rdb_query_get,
        .query_range = rdb_query_range,
        .close = rdb_close,
        .version = BROOK_KVSTORE_OPS_VERSION,
        .range_reverse = rdb_range_reverse,
        .query_range_reverse = rdb_query_range_reverse,
        .delete_range = rdb_delete_range,
        .approximate_bytes = rdb_approximate_bytes,
};

bool brook__rocksdb_ops_is(const brook_kvstore_ops_t *ops)
{
        return ops == &rdb_ops;
}

brook_err_t brook__rocksdb_get_committed(void *self, const void *key,
                                         size_t key_size, brook_buf_t *out,
                                         char *errstr, size_t errstr_size)
{
        /* No db_wait(): what it waits for is other stores' transactional
         * batches, never this store's writes. */
        return get_db(self, ((rdbstore_t *)self)->cf, key, key_size, out,
                      errstr, errstr_size);
}

static brook_err_t store_open(brook__statedb_t *db, brook__statebatch_t *batch,
                              const char *cf_name, bool create, void **selfp,
                              const brook_kvstore_ops_t **opsp, char *errstr,
                              size_t errstr_size)
{
        rocksdb_column_family_handle_t *cf;
        rdbstore_t *s;
        brook_err_t err;

        err = cf_get(db, cf_name, create, &cf, errstr, errstr_size);
        if (err)
                return err;
        /* What the store's last owner (another thread) wrote lands before
         * the new one reads anything (a window store reads its segments
         * at open, a store without a changelog is not restored). */
        if (batch)
                db_wait(db);
        s = brook__xcalloc(1, sizeof *s);
        atomic_fetch_add(&db->refs, 1);
        s->db = db;
        s->batch = batch;
        s->cf = cf;
        s->cf_name = brook__xstrdup(cf_name);
        *selfp = s;
        *opsp = &rdb_ops;
        return BROOK_OK;
}

static brook_err_t rdb_supplier_open(const brook_kvstore_open_t *info,
                                     void *opaque, void **selfp,
                                     const brook_kvstore_ops_t **opsp,
                                     char *errstr, size_t errstr_size)
{
        const brook__stateenv_t *env = info->internal;
        brook_err_t err;
        char *name;

        if (!env || !env->db || !env->batch) {
                brook__seterr(errstr, errstr_size,
                              "rocksdb store \"%s\" of task %s: no state db",
                              info->store, info->task_id);
                return BROOK_ERR_STATE;
        }
        if (env->db->readonly) {
                brook__seterr(errstr, errstr_size,
                              "rocksdb store \"%s\" of task %s: the state db "
                              "is open read-only",
                              info->store, info->task_id);
                return BROOK_ERR_STATE;
        }
        name = cf_name_new(info->task_id, info->store);
        err = store_open(env->db, env->batch, name, true, selfp, opsp, errstr,
                         errstr_size);
        free(name);
        return err;
}

const brook_kvstore_supplier_t *brook_kvstore_rocksdb(void)
{
        static const brook_kvstore_supplier_t supplier = {
                .open = rdb_supplier_open,
        };
        return &supplier;
}

brook_err_t brook__rocksdb_open_readonly(brook__statedb_t *db,
                                         const char *cf_name, void **selfp,
                                         const brook_kvstore_ops_t **opsp,
                                         char *errstr, size_t errstr_size)
{
        return store_open(db, NULL, cf_name, false, selfp, opsp, errstr,
                          errstr_size);
}
