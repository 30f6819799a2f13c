/*
 * brook — a copy of key-value pairs handed out as a bytes iterator: the
 * in-memory store's range snapshots, a cache group's entries, a range
 * read below before the cache takes it, a range reversed in memory.
 *
 * Keys and values go back to back into one growing buffer; the pairs
 * remember offsets while it grows, and pointers once it stops (sorting,
 * iterating).
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

typedef struct kvsnap_ent {
        size_t key_off, key_size, value_off, value_size;
        const unsigned char *key, *value; /* Once the buffer is final. */
} kvsnap_ent_t;

struct brook__kvsnap {
        brook_kvbytes_iter_t it; /* First: the handle is this struct. */
        /* Allocated even when empty, so that an empty value's pointer is
         * not NULL (NULL means a tombstone below the metered layer). */
        unsigned char *blob;
        size_t blob_len, blob_cap;
        kvsnap_ent_t *ents;
        size_t cnt, cap, pos;
        bool fixed;   /* Pointers set: nothing more is added. */
        bool reverse; /* Hand the pairs out last first. */
};

brook__kvsnap_t *brook__kvsnap_new(void)
{
        /* Not calloc, which glibc (before 2.41) serves without the
         * thread's cache: a join makes one per lookup. */
        brook__kvsnap_t *s = brook__xmalloc(sizeof *s);
        memset(s, 0, sizeof *s);
        s->blob_cap = 256;
        s->blob = brook__xmalloc(s->blob_cap);
        return s;
}

static size_t kvsnap_append(brook__kvsnap_t *s, const void *data, size_t size)
{
        size_t off = s->blob_len;
        if (s->blob_cap - s->blob_len < size) {
                while (s->blob_cap - s->blob_len < size)
                        s->blob_cap *= 2;
                s->blob = brook__xrealloc(s->blob, s->blob_cap);
        }
        if (size)
                memcpy(s->blob + s->blob_len, data, size);
        s->blob_len += size;
        return off;
}

void brook__kvsnap_add(brook__kvsnap_t *s, const void *key, size_t key_size,
                       const void *value, size_t value_size)
{
        kvsnap_ent_t *e;

        if (s->cnt == s->cap) {
                s->cap = s->cap ? 2 * s->cap : 16;
                s->ents = brook__xrealloc(s->ents, s->cap * sizeof *s->ents);
        }
        s->fixed = false; /* The buffer may move. */
        e = &s->ents[s->cnt++];
        e->key_size = key_size;
        e->value_size = value_size;
        e->key_off = kvsnap_append(s, key, key_size);
        e->value_off = kvsnap_append(s, value, value_size);
}

/* No more adds: the pairs point into the buffer. */
static void kvsnap_fix(brook__kvsnap_t *s)
{
        size_t i;
        if (s->fixed)
                return;
        for (i = 0; i < s->cnt; i++) {
                s->ents[i].key = s->blob + s->ents[i].key_off;
                s->ents[i].value = s->blob + s->ents[i].value_off;
        }
        s->fixed = true;
}

size_t brook__kvsnap_cnt(const brook__kvsnap_t *s)
{
        return s->cnt;
}

void brook__kvsnap_get(brook__kvsnap_t *s, size_t i, const void **key,
                       size_t *key_size, const void **value, size_t *value_size)
{
        kvsnap_fix(s);
        *key = s->ents[i].key;
        *key_size = s->ents[i].key_size;
        *value = s->ents[i].value;
        *value_size = s->ents[i].value_size;
}

static int kvsnap_cmp(const void *a, const void *b)
{
        const kvsnap_ent_t *x = a, *y = b;
        size_t n = x->key_size < y->key_size ? x->key_size : y->key_size;
        int r = n ? memcmp(x->key, y->key, n) : 0;
        if (r)
                return r;
        return x->key_size < y->key_size ? -1 : x->key_size > y->key_size;
}

void brook__kvsnap_sort(brook__kvsnap_t *s)
{
        kvsnap_fix(s);
        if (s->cnt > 1)
                qsort(s->ents, s->cnt, sizeof *s->ents, kvsnap_cmp);
}

/* A snapshot in memory cannot fail half way: it ends or gives a pair. */
static brook_err_t kvsnap_next(brook_kvbytes_iter_t *it, const void **key,
                               size_t *key_size, const void **value,
                               size_t *value_size, char *errstr,
                               size_t errstr_size)
{
        brook__kvsnap_t *s = (brook__kvsnap_t *)it;
        const kvsnap_ent_t *e;

        (void)errstr;
        (void)errstr_size;
        if (s->pos == s->cnt)
                return BROOK_ERR_END;
        e = &s->ents[s->reverse ? s->cnt - 1 - s->pos : s->pos];
        s->pos++;
        *key = e->key;
        *key_size = e->key_size;
        *value = e->value;
        *value_size = e->value_size;
        return BROOK_OK;
}

void brook__kvsnap_free(brook__kvsnap_t *s)
{
        if (!s)
                return;
        free(s->blob);
        free(s->ents);
        free(s);
}

static void kvsnap_destroy(brook_kvbytes_iter_t *it)
{
        brook__kvsnap_free((brook__kvsnap_t *)it);
}

brook_kvbytes_iter_t *brook__kvsnap_iter(brook__kvsnap_t *s, bool reverse)
{
        kvsnap_fix(s);
        s->it.next = kvsnap_next;
        s->it.destroy = kvsnap_destroy;
        s->reverse = reverse;
        s->pos = 0;
        return &s->it;
}
