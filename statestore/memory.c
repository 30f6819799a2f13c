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
        /* level forward pointers, then the key's bytes. */
        struct mem_node *next[];
} mem_node_t;

typedef struct mem_store {
        pthread_rwlock_t lock;
        mem_node_t *head; /* MEM_MAX_LEVEL pointers, no key. */
        int level;        /* Levels in use, >= 1. */
        uint64_t count;
        uint64_t bytes; /* keys and values */
        uint64_t rng;   /* xorshift state; changed under the write lock. */
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
static mem_node_t *mem_seek(mem_store_t *s, const void *key, size_t key_size,
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

static int mem_random_level(mem_store_t *s)
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

static void mem_free_nodes(mem_store_t *s)
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

static brook_err_t mem_get(void *self, const void *key, size_t key_size,
                           brook_buf_t *out, char *errstr, size_t errstr_size)
{
        mem_store_t *s = self;
        brook_err_t err = BROOK_ERR_NOT_FOUND;
        mem_node_t *n;

        pthread_rwlock_rdlock(&s->lock);
        n = mem_seek(s, key, key_size, NULL);
        if (n && mem_node_cmp(n, key, key_size) == 0) {
                brook_buf_clear(out);
                brook_buf_append(out, n->value, n->value_size);
                err = BROOK_OK;
        }
        pthread_rwlock_unlock(&s->lock);
        return err;
}

static void mem_delete_locked(mem_store_t *s, mem_node_t *n,
                              mem_node_t **update)
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

static void mem_insert_locked(mem_store_t *s, const void *key, size_t key_size,
                              const void *value, size_t value_size,
                              mem_node_t **update)
{
        int lvl = mem_random_level(s);
        mem_node_t *n =
                brook__xmalloc(sizeof *n + lvl * sizeof n->next[0] + key_size);

        n->value = NULL;
        n->key_size = key_size;
        n->level = lvl;
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
}

static brook_err_t mem_put(void *self, const void *key, size_t key_size,
                           const void *value, size_t value_size, char *errstr,
                           size_t errstr_size)
{
        mem_store_t *s = self;
        mem_node_t *update[MEM_MAX_LEVEL];
        mem_node_t *n;

        pthread_rwlock_wrlock(&s->lock);
        n = mem_seek(s, key, key_size, update);
        if (n && mem_node_cmp(n, key, key_size) == 0) {
                if (value) {
                        s->bytes += value_size;
                        s->bytes -= n->value_size;
                        mem_set_value(n, value, value_size);
                } else {
                        mem_delete_locked(s, n, update);
                }
        } else if (value) {
                mem_insert_locked(s, key, key_size, value, value_size, update);
        }
        pthread_rwlock_unlock(&s->lock);
        return BROOK_OK;
}

/* ------------------------------------------------------------ iterator */

static brook_err_t mem_scan(mem_store_t *s, const void *from, size_t from_size,
                            const void *to, size_t to_size, bool reverse,
                            brook_kvbytes_iter_t **itp)
{
        brook__kvsnap_t *snap = brook__kvsnap_new();
        mem_node_t *n;

        /* from > to is an empty range, as in Kafka Streams (which also logs
         * a warning; the caller knows better whether that is a mistake). */
        if (from && to && mem_cmp(from, from_size, to, to_size) > 0) {
                *itp = brook__kvsnap_iter(snap, reverse);
                return BROOK_OK;
        }

        /* A snapshot, in key order either way: the lock is not held while
         * the caller reads. */
        pthread_rwlock_rdlock(&s->lock);
        n = from ? mem_seek(s, from, from_size, NULL) : s->head->next[0];
        for (; n; n = n->next[0]) {
                if (to && mem_node_cmp(n, to, to_size) > 0)
                        break;
                brook__kvsnap_add(snap, mem_node_key(n), n->key_size, n->value,
                                  n->value_size);
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
        return mem_scan(self, from, from_size, to, to_size, false, itp);
}

/* The snapshot is taken in key order either way; only handing it out
 * differs. */
static brook_err_t mem_range_reverse(void *self, const void *from,
                                     size_t from_size, const void *to,
                                     size_t to_size, brook_kvbytes_iter_t **itp,
                                     char *errstr, size_t errstr_size)
{
        return mem_scan(self, from, from_size, to, to_size, true, itp);
}

/* Unlinks the run of nodes in [from, to) on every level at once, then
 * frees them: the run is found with two searches, not one per key. */
static brook_err_t mem_delete_range(void *self, const void *from,
                                    size_t from_size, const void *to,
                                    size_t to_size, char *errstr,
                                    size_t errstr_size)
{
        mem_store_t *s = self;
        mem_node_t *before[MEM_MAX_LEVEL], *after[MEM_MAX_LEVEL];
        mem_node_t *n, *end;
        int i;

        pthread_rwlock_wrlock(&s->lock);
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
        pthread_rwlock_unlock(&s->lock);
        return BROOK_OK;
}

/* --------------------------------------------------------------- store */

static uint64_t mem_approximate_count(void *self)
{
        mem_store_t *s = self;
        uint64_t cnt;

        pthread_rwlock_rdlock(&s->lock);
        cnt = s->count;
        pthread_rwlock_unlock(&s->lock);
        return cnt;
}

static uint64_t mem_approximate_bytes(void *self)
{
        mem_store_t *s = self;
        uint64_t bytes;

        pthread_rwlock_rdlock(&s->lock);
        bytes = s->bytes;
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
        mem_free_nodes(s);
        pthread_rwlock_unlock(&s->lock);
        return BROOK_OK;
}

static void mem_close(void *self)
{
        mem_store_t *s = self;

        if (!s)
                return;
        mem_free_nodes(s);
        pthread_rwlock_destroy(&s->lock);
        free(s->head);
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
        .query_get = mem_get,
        .query_range = mem_range,
        .close = mem_close,
        .version = BROOK_KVSTORE_OPS_VERSION,
        .range_reverse = mem_range_reverse,
        .query_range_reverse = mem_range_reverse,
        .delete_range = mem_delete_range,
        .approximate_bytes = mem_approximate_bytes,
};

static brook_err_t mem_open(const brook_kvstore_open_t *info, void *opaque,
                            void **selfp, const brook_kvstore_ops_t **opsp,
                            char *errstr, size_t errstr_size)
{
        mem_store_t *s = brook__xcalloc(1, sizeof *s);
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
        s->head = brook__xcalloc(
                1, sizeof *s->head + MEM_MAX_LEVEL * sizeof s->head->next[0]);
        s->head->level = MEM_MAX_LEVEL;
        s->level = 1;
        /* Any non-zero seed will do; a fixed one makes runs repeatable. */
        s->rng = 0x9e3779b97f4a7c15ULL;
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
