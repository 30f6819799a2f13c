/*
 * brook — arenas (per-record memory) and byte buffers.
 *
 * An arena is a list of blocks; allocation bumps a pointer in the current
 * block. Reset keeps the first block and frees the others. When a record
 * needed more than the first block, reset replaces the first block by one
 * big enough for all of it (up to BROOK__ARENA_KEEP_MAX), so a stream of
 * records over 8 KiB also runs without a malloc per record.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brook_int.h"

#define BROOK__ARENA_BLOCK 8192
/* The largest first block reset keeps: one huge record must not pin its
 * memory for the thread's life. Kafka's default message.max.bytes is about
 * 1 MiB; a decoded record rarely needs more than a few times that. */
#define BROOK__ARENA_KEEP_MAX (4u << 20)

typedef struct brook__block {
        struct brook__block *next;
        size_t size, used;
        max_align_t data[]; /* Aligned for any object. */
} brook__block_t;

typedef struct brook__deferred {
        void (*fn)(void *);
        void *ptr;
} brook__deferred_t;

struct brook_arena_s {
        brook__block_t *head; /**< Current block; its next are older. */
        brook__block_t *first;
        brook__deferred_t *deferred;
        size_t deferred_cnt, deferred_cap;
};

/* A size that cannot be represented is a caller's bug (a length read from
 * untrusted input, say), not memory exhaustion; wrapping around would hand
 * out a block smaller than asked for, so stop loudly instead. */
static void brook__size_overflow(const char *what, size_t size)
{
        fprintf(stderr, "brook: %s of %zu bytes overflows size_t\n", what,
                size);
        abort();
}

static brook__block_t *brook__block_new(size_t min)
{
        size_t size = min > BROOK__ARENA_BLOCK ? min : BROOK__ARENA_BLOCK;
        brook__block_t *blk;
        if (size > SIZE_MAX - sizeof *blk)
                brook__size_overflow("arena block", size);
        blk = brook__xmalloc(sizeof *blk + size);
        blk->next = NULL;
        blk->size = size;
        blk->used = 0;
        return blk;
}

brook_arena_t *brook_arena_new(void)
{
        brook_arena_t *arena = brook__xcalloc(1, sizeof *arena);
        arena->first = arena->head = brook__block_new(0);
        return arena;
}

static void brook__arena_run_deferred(brook_arena_t *arena)
{
        /* Last registered first, as objects made later may refer to
         * earlier ones. */
        while (arena->deferred_cnt > 0) {
                brook__deferred_t *d = &arena->deferred[--arena->deferred_cnt];
                d->fn(d->ptr);
        }
}

void brook_arena_reset(brook_arena_t *arena)
{
        brook__block_t *blk, *next;
        size_t total = 0;
        if (!arena)
                return;
        brook__arena_run_deferred(arena);
        if (arena->head == arena->first) {
                arena->first->used = 0;
                return;
        }
        /* This generation overflowed the first block: free the extra
         * blocks and, unless it was too big to keep, make the first block
         * big enough for the whole generation, so that the next record
         * like it needs no malloc. */
        for (blk = arena->head; blk; blk = next) {
                next = blk->next;
                total += blk->used;
                if (blk != arena->first)
                        free(blk);
        }
        if (total > arena->first->size && total <= BROOK__ARENA_KEEP_MAX) {
                size_t size = arena->first->size;
                while (size < total)
                        size *= 2;
                if (size > BROOK__ARENA_KEEP_MAX)
                        size = BROOK__ARENA_KEEP_MAX;
                free(arena->first);
                arena->first = brook__block_new(size);
        }
        arena->head = arena->first;
        arena->first->used = 0;
}

void brook_arena_destroy(brook_arena_t *arena)
{
        if (!arena)
                return;
        brook_arena_reset(arena);
        free(arena->first);
        free(arena->deferred);
        free(arena);
}

void *brook_arena_alloc(brook_arena_t *arena, size_t size)
{
        brook__block_t *blk = arena->head;
        size_t aligned;
        void *p;

        if (size > SIZE_MAX - 15)
                brook__size_overflow("arena allocation", size);
        aligned = (size + 15) & ~(size_t)15;

        if (blk->size - blk->used < aligned) {
                brook__block_t *nb = brook__block_new(aligned);
                nb->next = blk;
                arena->head = blk = nb;
        }
        p = (char *)blk->data + blk->used;
        blk->used += aligned;
        return p;
}

void *brook_arena_memdup(brook_arena_t *arena, const void *data, size_t size)
{
        void *p = brook_arena_alloc(arena, size);
        if (size)
                memcpy(p, data, size);
        return p;
}

char *brook_arena_strdup(brook_arena_t *arena, const char *str)
{
        return brook_arena_memdup(arena, str, strlen(str) + 1);
}

void brook_arena_defer(brook_arena_t *arena, void (*destructor)(void *),
                       void *ptr)
{
        if (arena->deferred_cnt == arena->deferred_cap) {
                if (arena->deferred_cap >
                    SIZE_MAX / 2 / sizeof *arena->deferred)
                        brook__size_overflow("arena destructor list",
                                             arena->deferred_cap);
                arena->deferred_cap =
                        arena->deferred_cap ? arena->deferred_cap * 2 : 16;
                arena->deferred = brook__xrealloc(
                        arena->deferred,
                        arena->deferred_cap * sizeof *arena->deferred);
        }
        arena->deferred[arena->deferred_cnt].fn = destructor;
        arena->deferred[arena->deferred_cnt].ptr = ptr;
        arena->deferred_cnt++;
}

/* ------------------------------------------------------------------- buf */

brook_buf_t *brook_buf_new(void)
{
        return brook__xcalloc(1, sizeof(brook_buf_t));
}

void brook_buf_destroy(brook_buf_t *buf)
{
        if (!buf)
                return;
        free(buf->data);
        free(buf);
}

void *brook_buf_reserve(brook_buf_t *buf, size_t size)
{
        if (buf->cap - buf->len < size) {
                size_t cap = buf->cap ? buf->cap : 256;
                if (size > SIZE_MAX - buf->len)
                        brook__size_overflow("buffer", size);
                /* Doubling, but never past what size_t holds: then
                 * exactly what is needed. */
                while (cap - buf->len < size)
                        cap = cap > SIZE_MAX / 2 ? buf->len + size : cap * 2;
                buf->data = brook__xrealloc(buf->data, cap);
                buf->cap = cap;
        }
        return buf->data + buf->len;
}

void brook_buf_advance(brook_buf_t *buf, size_t size)
{
        buf->len += size;
}

void brook_buf_append(brook_buf_t *buf, const void *data, size_t size)
{
        if (!size)
                return;
        memcpy(brook_buf_reserve(buf, size), data, size);
        buf->len += size;
}

void brook_buf_clear(brook_buf_t *buf)
{
        buf->len = 0;
}

const void *brook_buf_data(const brook_buf_t *buf)
{
        /* Never NULL: callers tell an empty encoding from Kafka's null by
         * the pointer, and an empty buffer may not have memory yet. */
        return buf->data ? buf->data : (const void *)"";
}

size_t brook_buf_len(const brook_buf_t *buf)
{
        return buf->len;
}
