/*
 * brook — the in-memory inner store (Kafka Streams' InMemoryKeyValueStore):
 * an ordered map in bytewise key order, rebuilt from the changelog when a
 * task starts.
 *
 * The map is a skip list: ordered iteration and O(log n) updates with far
 * less code than a balanced tree, which matters more here than the last
 * bit of speed.
 *
 * Interactive queries read the map from other threads while the task's
 * thread writes it, so a read-write lock guards it: the owner's writes take
 * it exclusively and every read, the owner's included, shares it. The
 * owner's reads could go unlocked (only the owner writes), but one rule is
 * easier to keep right than two, and an uncontended read lock is cheap.
 *
 * Iterators copy the entries they cover when they are made, as Kafka
 * Streams' in-memory store copies its key set: the owner may then delete
 * or overwrite while iterating, and a query's iterator holds no lock
 * between next() calls.
 *
 * Under exactly_once_v2 the store keeps its uncommitted writes aside, as
 * the RocksDB store keeps them in the thread's write batch: a second list,
 * "pending", of values and tombstones. The owner's reads see pending over
 * the committed list; queries see only the committed one. The store joins
 * the thread's batch, which applies pending once the transaction committed
 * and drops it when the transaction aborts. Restoration (bulk mode) writes
 * committed data and goes straight to the committed list.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* 4^24 entries is far beyond what fits in memory, so the list never needs
 * more levels. */
#define MEM_MAX_LEVEL 24

typedef struct mem_node {
        /* Never NULL: an empty value still has an allocation, so the
         * pointer tells it from a deletion wherever it is handed out. */
        unsigned char *value;
        size_t value_size;
        size_t key_size;
        int level;
        bool tomb; /* Pending list only: a deletion (value unused). */
        /* level forward pointers, then the key's bytes. */
        struct mem_node *next[];
} mem_node_t;

/* A skip list. */
typedef struct mem_list {
        mem_node_t *head; /* MEM_MAX_LEVEL pointers, no key. */
        int level;        /* Levels in use, >= 1. */
        uint64_t count;
        uint64_t bytes; /* keys and values */
        uint64_t rng;   /* xorshift state; changed under the write lock. */
} mem_list_t;

typedef struct mem_store {
        pthread_rwlock_t lock;
        mem_list_t base;    /* Committed. */
        mem_list_t pending; /* Uncommitted (exactly_once_v2 only). */
        /* The batch it joined (exactly_once_v2), or NULL. */
        brook__statebatch_t *batch;
} mem_store_t;

static unsigned char *mem_node_key(const mem_node_t *n)
{
        return (unsigned char *)(n->next + n->level);
}

/* RocksDB's bytewise comparator: memcmp, and a key sorts after its
 * prefixes. */
static int mem_cmp(const void *a, size_t a_size, const void *b, size_t b_size)
{
        size_t n = a_size < b_size ? a_size : b_size;
        /* memcmp's arguments must not be NULL even for 0 bytes, and an
         * empty key may come as NULL. */
        int r = n ? memcmp(a, b, n) : 0;

        if (r)
                return r;
        return a_size < b_size ? -1 : a_size > b_size;
}

static int mem_node_cmp(const mem_node_t *n, const void *key, size_t key_size)
{
        return mem_cmp(mem_node_key(n), n->key_size, key, key_size);
}

/* The first node whose key is >= @p key (NULL: none). With @p update, also
 * the last node before it on every level, for linking and unlinking. */
static mem_node_t *mem_seek(mem_list_t *s, const void *key, size_t key_size,
                            mem_node_t **update)
{
        mem_node_t *x = s->head;

        for (int lvl = s->level - 1; lvl >= 0; lvl--) {
                while (x->next[lvl] &&
                       mem_node_cmp(x->next[lvl], key, key_size) < 0)
                        x = x->next[lvl];
                if (update)
                        update[lvl] = x;
        }
        return x->next[0];
}

static int mem_random_level(mem_list_t *s)
{
        int lvl = 1;

        s->rng ^= s->rng << 13;
        s->rng ^= s->rng >> 7;
        s->rng ^= s->rng << 17;
        /* Two bits per level: each level holds a quarter of the one
         * below. */
        for (uint64_t r = s->rng; (r & 3) == 0 && lvl < MEM_MAX_LEVEL; r >>= 2)
                lvl++;
        return lvl;
}

static void mem_set_value(mem_node_t *n, const void *value, size_t value_size)
{
        if (!n->value || n->value_size != value_size)
                n->value = brook__xrealloc(n->value, value_size);
        if (value_size)
                memcpy(n->value, value, value_size);
        n->value_size = value_size;
}

static void mem_free_nodes(mem_list_t *s)
{
        mem_node_t *n = s->head->next[0];

        while (n) {
                mem_node_t *next = n->next[0];
                free(n->value);
                free(n);
                n = next;
        }
        for (int i = 0; i < MEM_MAX_LEVEL; i++)
                s->head->next[i] = NULL;
        s->level = 1;
        s->count = 0;
        s->bytes = 0;
}

/* Reads @p key from the committed list only (@p own false: a query) or
 * through the pending one (the owner). */
static brook_err_t mem_read(mem_store_t *s, bool own, const void *key,
                            size_t key_size, brook_buf_t *out)
{
        brook_err_t err = BROOK_ERR_NOT_FOUND;
        mem_node_t *n = NULL;

        pthread_rwlock_rdlock(&s->lock);
        if (own && s->pending.count)
                n = mem_seek(&s->pending, key, key_size, NULL);
        if (!n || mem_node_cmp(n, key, key_size) != 0)
                n = mem_seek(&s->base, key, key_size, NULL);
        if (n && mem_node_cmp(n, key, key_size) == 0 && !n->tomb) {
                brook_buf_clear(out);
                brook_buf_append(out, n->value, n->value_size);
                err = BROOK_OK;
        }
        pthread_rwlock_unlock(&s->lock);
        return err;
}

static brook_err_t mem_get(void *self, const void *key, size_t key_size,
                           brook_buf_t *out, char *errstr, size_t errstr_size)
{
        return mem_read(self, true, key, key_size, out);
}

static brook_err_t mem_query_get(void *self, const void *key, size_t key_size,
                                 brook_buf_t *out, char *errstr,
                                 size_t errstr_size)
{
        return mem_read(self, false, key, key_size, out);
}

static void mem_delete_locked(mem_list_t *s, mem_node_t *n, mem_node_t **update)
{
        for (int i = 0; i < n->level; i++)
                update[i]->next[i] = n->next[i];
        while (s->level > 1 && !s->head->next[s->level - 1])
                s->level--;
        s->count--;
        s->bytes -= n->key_size + n->value_size;
        free(n->value);
        free(n);
}

static mem_node_t *mem_insert_locked(mem_list_t *s, const void *key,
                                     size_t key_size, const void *value,
                                     size_t value_size, mem_node_t **update)
{
        int lvl = mem_random_level(s);
        mem_node_t *n =
                brook__xmalloc(sizeof *n + lvl * sizeof n->next[0] + key_size);

        n->value = NULL;
        n->key_size = key_size;
        n->level = lvl;
        n->tomb = false;
        if (key_size)
                memcpy(mem_node_key(n), key, key_size);
        mem_set_value(n, value, value_size);
        for (int i = s->level; i < lvl; i++)
                update[i] = s->head;
        if (lvl > s->level)
                s->level = lvl;
        for (int i = 0; i < lvl; i++) {
                n->next[i] = update[i]->next[i];
                update[i]->next[i] = n;
        }
        s->count++;
        s->bytes += key_size + value_size;
        return n;
}

/* Writes @p value (NULL: deletes) for @p key into list @p l; in the
 * pending list a deletion is a tombstone. Requires the write lock. */
static void mem_write_locked(mem_list_t *l, bool pending, const void *key,
                             size_t key_size, const void *value,
                             size_t value_size)
{
        mem_node_t *update[MEM_MAX_LEVEL];
        mem_node_t *n = mem_seek(l, key, key_size, update);

        if (n && mem_node_cmp(n, key, key_size) == 0) {
                if (value) {
                        l->bytes += value_size;
                        l->bytes -= n->tomb ? 0 : n->value_size;
                        mem_set_value(n, value, value_size);
                        n->tomb = false;
                } else if (pending) {
                        l->bytes -= n->tomb ? 0 : n->value_size;
                        n->tomb = true;
                } else {
                        mem_delete_locked(l, n, update);
                }
        } else if (value) {
                mem_insert_locked(l, key, key_size, value, value_size, update);
        } else if (pending) {
                n = mem_insert_locked(l, key, key_size, "", 0, update);
                n->tomb = true;
        }
}

/* Whether writes go to the pending list now. */
static bool mem_pending_mode(const mem_store_t *s)
{
        return s->batch && !brook__statebatch_bulk(s->batch);
}

static brook_err_t mem_put(void *self, const void *key, size_t key_size,
                           const void *value, size_t value_size, char *errstr,
                           size_t errstr_size)
{
        mem_store_t *s = self;
        bool pending = mem_pending_mode(s);

        pthread_rwlock_wrlock(&s->lock);
        mem_write_locked(pending ? &s->pending : &s->base, pending, key,
                         key_size, value, value_size);
        pthread_rwlock_unlock(&s->lock);
        return BROOK_OK;
}

/* The transaction committed: pending goes into the committed list. */
static void mem_apply(void *self)
{
        mem_store_t *s = self;
        mem_node_t *n;

        if (!s->pending.count)
                return;
        pthread_rwlock_wrlock(&s->lock);
        for (n = s->pending.head->next[0]; n; n = n->next[0])
                mem_write_locked(&s->base, false, mem_node_key(n), n->key_size,
                                 n->tomb ? NULL : n->value, n->value_size);
        mem_free_nodes(&s->pending);
        pthread_rwlock_unlock(&s->lock);
}

/* The owner closed the store: it leaves the batch, dropping what is
 * pending (the transaction is over for this task). The last reference,
 * maybe a query's, then closes it without touching the batch. */
static void mem_detach(void *self)
{
        mem_store_t *s = self;

        pthread_rwlock_wrlock(&s->lock);
        mem_free_nodes(&s->pending);
        s->batch = NULL;
        pthread_rwlock_unlock(&s->lock);
}

/* The transaction aborted: pending is dropped. */
static void mem_discard(void *self)
{
        mem_store_t *s = self;

        if (!s->pending.count)
                return;
        pthread_rwlock_wrlock(&s->lock);
        mem_free_nodes(&s->pending);
        pthread_rwlock_unlock(&s->lock);
}

/* ------------------------------------------------------------ iterator */

/* The first node of @p l in [from, ...) (from NULL: the first). */
static mem_node_t *mem_first(mem_list_t *l, const void *from, size_t from_size)
{
        return from ? mem_seek(l, from, from_size, NULL) : l->head->next[0];
}

static bool mem_past(const mem_node_t *n, const void *to, size_t to_size)
{
        return !n || (to && mem_node_cmp(n, to, to_size) > 0);
}

static brook_err_t mem_scan(mem_store_t *s, bool own, const void *from,
                            size_t from_size, const void *to, size_t to_size,
                            bool reverse, brook_kvbytes_iter_t **itp)
{
        brook__kvsnap_t *snap = brook__kvsnap_new();
        mem_node_t *b, *p;

        /* from > to is an empty range, as in Kafka Streams (which also logs
         * a warning; the caller knows better whether that is a mistake). */
        if (from && to && mem_cmp(from, from_size, to, to_size) > 0) {
                *itp = brook__kvsnap_iter(snap, reverse);
                return BROOK_OK;
        }

        /* A snapshot, in key order either way: the lock is not held while
         * the caller reads. The owner's merges pending over committed. */
        pthread_rwlock_rdlock(&s->lock);
        b = mem_first(&s->base, from, from_size);
        p = own && s->pending.count ? mem_first(&s->pending, from, from_size)
                                    : NULL;
        for (;;) {
                bool b_end = mem_past(b, to, to_size);
                bool p_end = mem_past(p, to, to_size);
                mem_node_t *n;
                int c;
                if (b_end && p_end)
                        break;
                c = b_end   ? 1
                    : p_end ? -1
                            : mem_cmp(mem_node_key(b), b->key_size,
                                      mem_node_key(p), p->key_size);
                if (c < 0) {
                        n = b;
                        b = b->next[0];
                } else {
                        /* The pending write wins over a committed one. */
                        if (c == 0)
                                b = b->next[0];
                        n = p;
                        p = p->next[0];
                }
                if (!n->tomb)
                        brook__kvsnap_add(snap, mem_node_key(n), n->key_size,
                                          n->value, n->value_size);
        }
        pthread_rwlock_unlock(&s->lock);
        *itp = brook__kvsnap_iter(snap, reverse);
        return BROOK_OK;
}

static brook_err_t mem_range(void *self, const void *from, size_t from_size,
                             const void *to, size_t to_size,
                             brook_kvbytes_iter_t **itp, char *errstr,
                             size_t errstr_size)
{
        return mem_scan(self, true, from, from_size, to, to_size, false, itp);
}

/* The snapshot is taken in key order either way; only handing it out
 * differs. */
static brook_err_t mem_range_reverse(void *self, const void *from,
                                     size_t from_size, const void *to,
                                     size_t to_size, brook_kvbytes_iter_t **itp,
                                     char *errstr, size_t errstr_size)
{
        return mem_scan(self, true, from, from_size, to, to_size, true, itp);
}

static brook_err_t mem_query_range(void *self, const void *from,
                                   size_t from_size, const void *to,
                                   size_t to_size, brook_kvbytes_iter_t **itp,
                                   char *errstr, size_t errstr_size)
{
        return mem_scan(self, false, from, from_size, to, to_size, false, itp);
}

static brook_err_t mem_query_range_reverse(void *self, const void *from,
                                           size_t from_size, const void *to,
                                           size_t to_size,
                                           brook_kvbytes_iter_t **itp,
                                           char *errstr, size_t errstr_size)
{
        return mem_scan(self, false, from, from_size, to, to_size, true, itp);
}

/* Unlinks the run of nodes in [from, to) on every level at once, then
 * frees them: the run is found with two searches, not one per key. */
static brook_err_t mem_delete_range(void *self, const void *from,
                                    size_t from_size, const void *to,
                                    size_t to_size, char *errstr,
                                    size_t errstr_size)
{
        mem_store_t *ms = self;
        mem_list_t *s = &ms->base;
        mem_node_t *before[MEM_MAX_LEVEL], *after[MEM_MAX_LEVEL];
        mem_node_t *n, *end;
        int i;

        pthread_rwlock_wrlock(&ms->lock);
        if (mem_pending_mode(ms)) {
                /* Uncommitted: a tombstone for every key in the range,
                 * committed or pending. */
                for (n = mem_seek(s, from, from_size, NULL);
                     n && mem_node_cmp(n, to, to_size) < 0; n = n->next[0])
                        mem_write_locked(&ms->pending, true, mem_node_key(n),
                                         n->key_size, NULL, 0);
                for (n = mem_seek(&ms->pending, from, from_size, NULL);
                     n && mem_node_cmp(n, to, to_size) < 0; n = n->next[0])
                        if (!n->tomb) {
                                ms->pending.bytes -= n->value_size;
                                n->tomb = true;
                        }
                pthread_rwlock_unlock(&ms->lock);
                return BROOK_OK;
        }
        n = mem_seek(s, from, from_size, before);
        end = mem_seek(s, to, to_size, after);
        for (i = 0; i < s->level; i++)
                /* after[i] is the last node < to on level i: its
                 * successor is the first one to keep. */
                before[i]->next[i] = after[i]->next[i];
        while (s->level > 1 && !s->head->next[s->level - 1])
                s->level--;
        while (n != end) {
                mem_node_t *next = n->next[0];
                s->bytes -= n->key_size + n->value_size;
                free(n->value);
                free(n);
                s->count--;
                n = next;
        }
        pthread_rwlock_unlock(&ms->lock);
        return BROOK_OK;
}

/* --------------------------------------------------------------- store */

static uint64_t mem_approximate_count(void *self)
{
        mem_store_t *s = self;
        uint64_t cnt;

        pthread_rwlock_rdlock(&s->lock);
        cnt = s->base.count;
        pthread_rwlock_unlock(&s->lock);
        return cnt;
}

static uint64_t mem_approximate_bytes(void *self)
{
        mem_store_t *s = self;
        uint64_t bytes;

        pthread_rwlock_rdlock(&s->lock);
        bytes = s->base.bytes + s->pending.bytes;
        pthread_rwlock_unlock(&s->lock);
        return bytes;
}

static brook_err_t mem_flush(void *self, int64_t changelog_offset, char *errstr,
                             size_t errstr_size)
{
        /* Nothing to make durable: the changelog is the only copy that
         * survives the process. */
        return BROOK_OK;
}

static brook_err_t mem_clear(void *self, char *errstr, size_t errstr_size)
{
        mem_store_t *s = self;

        pthread_rwlock_wrlock(&s->lock);
        mem_free_nodes(&s->base);
        mem_free_nodes(&s->pending);
        pthread_rwlock_unlock(&s->lock);
        return BROOK_OK;
}

static void mem_close(void *self)
{
        mem_store_t *s = self;

        if (!s)
                return;
        /* Opened outside the runtime's store stack (a test), and never
         * detached: the closer is the owner. */
        if (s->batch)
                brook__statebatch_leave(s->batch, s);
        mem_free_nodes(&s->base);
        mem_free_nodes(&s->pending);
        pthread_rwlock_destroy(&s->lock);
        free(s->base.head);
        free(s->pending.head);
        free(s);
}

static const brook_kvstore_ops_t mem_ops = {
        .kind = "in-memory",
        .persistent = false,
        .get = mem_get,
        .put = mem_put,
        .range = mem_range,
        .approximate_count = mem_approximate_count,
        .flush = mem_flush,
        .stored_offset = NULL,
        .clear = mem_clear,
        /* Every read takes the read lock, so the owner's reads are already
         * safe from any thread. */
        .query_get = mem_query_get,
        .query_range = mem_query_range,
        .close = mem_close,
        .version = BROOK_KVSTORE_OPS_VERSION,
        .range_reverse = mem_range_reverse,
        .query_range_reverse = mem_query_range_reverse,
        .delete_range = mem_delete_range,
        .approximate_bytes = mem_approximate_bytes,
};

static void mem_list_init(mem_list_t *l)
{
        l->head = brook__xcalloc(
                1, sizeof *l->head + MEM_MAX_LEVEL * sizeof l->head->next[0]);
        l->head->level = MEM_MAX_LEVEL;
        l->level = 1;
        /* Any non-zero seed will do; a fixed one makes runs repeatable. */
        l->rng = 0x9e3779b97f4a7c15ULL;
}

static brook_err_t mem_open(const brook_kvstore_open_t *info, void *opaque,
                            void **selfp, const brook_kvstore_ops_t **opsp,
                            char *errstr, size_t errstr_size)
{
        mem_store_t *s = brook__xcalloc(1, sizeof *s);
        const brook__stateenv_t *env;
        pthread_rwlockattr_t attr;
        int r;

        /* glibc's rwlocks prefer readers by default: queries hammering the
         * store could then keep the task's thread from ever writing. No
         * reader here takes the lock twice, so preferring writers cannot
         * deadlock. */
        pthread_rwlockattr_init(&attr);
        pthread_rwlockattr_setkind_np(
                &attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        r = pthread_rwlock_init(&s->lock, &attr);
        pthread_rwlockattr_destroy(&attr);
        if (r) {
                free(s);
                brook__seterr(errstr, errstr_size,
                              "in-memory store: cannot create its lock: %s",
                              strerror(r));
                return BROOK_ERR_STATE;
        }
        mem_list_init(&s->base);
        mem_list_init(&s->pending);
        /* brook's runtime under exactly_once_v2 (a user's store opened by
         * a user's supplier has no env). */
        env = info->internal;
        if (env && env->batch && brook__statebatch_transactional(env->batch)) {
                s->batch = env->batch;
                brook__statebatch_join(s->batch, mem_apply, mem_discard,
                                       mem_detach, s);
        }
        *selfp = s;
        *opsp = &mem_ops;
        return BROOK_OK;
}

const brook_kvstore_supplier_t *brook_kvstore_in_memory(void)
{
        static const brook_kvstore_supplier_t supplier = {
                .open = mem_open,
                .opaque = NULL,
        };
        return &supplier;
}
