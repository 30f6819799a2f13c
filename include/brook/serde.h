/*
 * brook — memory arenas, byte buffers and serdes.
 *
 * Keys and values travel between the operators of a sub-topology as decoded
 * objects (`void *`); they are encoded only where they leave it (sinks,
 * repartition topics, stores). A serde turns bytes into an object and back.
 *
 * Decoded object types of the built-in serdes:
 *   bytes   brook_bytes_t *       (data points into the record; no copy)
 *   string  char *                (NUL-terminated, UTF-8; encoded without NUL)
 *   int32   int32_t *             (4 bytes, big-endian, as Java's)
 *   int64   int64_t *             (8 bytes, big-endian)
 *   double  double *              (8 bytes, IEEE 754 big-endian)
 *   json    json_t * (jansson)    (encoded compact)
 * A NULL object is Kafka's null (e.g. a tombstone value): serdes never see
 * it; it is encoded as a null key or value and decoded back to NULL.
 */
#ifndef BROOK_SERDE_H
#define BROOK_SERDE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

/* ------------------------------------------------------------------ arena */

/**
 * A region that objects are allocated from and freed with all at once.
 * Every record in flight has one (brook_record_arena()); the runtime resets
 * it when the input record has been fully processed, so user functions never
 * free per-record memory. Not thread-safe: an arena is used by one thread
 * at a time. None of these calls fails (brook aborts when memory is
 * exhausted).
 */
typedef struct brook_arena_s brook_arena_t;

/** A new, empty arena; free it with brook_arena_destroy(). Arenas of
 *  records are the runtime's: never destroy or reset those. */
brook_arena_t *brook_arena_new(void);
/** Frees everything in @p arena, runs its deferred destructors, frees it.
 *  NULL is a no-op. */
void brook_arena_destroy(brook_arena_t *arena);
/** Runs deferred destructors (last registered first) and forgets every
 *  allocation, keeping the memory for reuse. */
void brook_arena_reset(brook_arena_t *arena);
/** @p size bytes, 16-byte aligned, valid until the arena is reset. Never
 *  returns NULL: brook aborts when memory is exhausted, as SQLite's
 *  default does not but most stream processors effectively do. */
void *brook_arena_alloc(brook_arena_t *arena, size_t size);
/** A copy of @p size bytes of @p data in @p arena. */
void *brook_arena_memdup(brook_arena_t *arena, const void *data, size_t size);
/** A NUL-terminated copy of @p str in @p arena. */
char *brook_arena_strdup(brook_arena_t *arena, const char *str);
/** Runs @p destructor(@p ptr) when @p arena is reset or destroyed, e.g.
 *  json_decref for a jansson object made while processing a record. */
void brook_arena_defer(brook_arena_t *arena, void (*destructor)(void *),
                       void *ptr);

/* ------------------------------------------------------------------- buf */

/** A growable byte buffer that serializers write into. Not thread-safe;
 *  none of its calls fails (brook aborts when memory is exhausted). */
typedef struct brook_buf_s brook_buf_t;

/** A new, empty buffer; free it with brook_buf_destroy(). */
brook_buf_t *brook_buf_new(void);
/** Frees @p buf. NULL is a no-op. Buffers brook passes to a serializer are
 *  brook's: never destroy those. */
void brook_buf_destroy(brook_buf_t *buf);
/** Appends @p size bytes of @p data (copied). */
void brook_buf_append(brook_buf_t *buf, const void *data, size_t size);
/** Room for @p size more bytes at the end; write there, then call
 *  brook_buf_advance() with how many were written. The pointer is valid
 *  until the next call on @p buf. */
void *brook_buf_reserve(brook_buf_t *buf, size_t size);
void brook_buf_advance(brook_buf_t *buf, size_t size);
/** Empties @p buf, keeping its memory. */
void brook_buf_clear(brook_buf_t *buf);
/** The contents; valid until the next call that changes @p buf. */
const void *brook_buf_data(const brook_buf_t *buf);
size_t brook_buf_len(const brook_buf_t *buf);

/* ------------------------------------------------------------------ serde */

/** The decoded form of the bytes serde. */
typedef struct brook_bytes_s {
        const void *data;
        size_t size;
} brook_bytes_t;

/**
 * Appends the encoding of @p obj (never NULL) to @p out.
 * @returns BROOK_OK, or BROOK_ERR_SERDE with a message in @p errstr.
 */
typedef brook_err_t (*brook_serialize_fn)(const void *obj, brook_buf_t *out,
                                          void *opaque, char *errstr,
                                          size_t errstr_size);

/**
 * Decodes @p size bytes at @p data (never NULL) into *@p objp, allocating
 * from @p arena (or registering a destructor with brook_arena_defer()).
 * @p data is valid only during the call unless the object may point into it
 * for as long as @p arena lives (brook guarantees the input record outlives
 * its arena's current generation).
 * @returns BROOK_OK, or BROOK_ERR_SERDE with a message in @p errstr.
 */
typedef brook_err_t (*brook_deserialize_fn)(const void *data, size_t size,
                                            brook_arena_t *arena, void **objp,
                                            void *opaque, char *errstr,
                                            size_t errstr_size);

typedef struct brook_serde_s brook_serde_t;

/**
 * A user-defined serde named @p name (NULL: "custom"; copied). Either
 * function may be NULL for a serde used in one direction only; using the
 * missing one fails with BROOK_ERR_SERDE. @p opaque is passed to both
 * functions; if @p opaque_destroy is non-NULL it runs when the last
 * reference goes.
 *
 * The serde is reference-counted: builders and apps that use it hold a
 * reference, so the caller may brook_serde_destroy() it right after use.
 * Its functions may be called from every stream thread at once.
 *
 * @returns the serde, or NULL with the reason in @p errstr when both
 *          functions are NULL; then @p opaque_destroy is not called and
 *          @p opaque stays the caller's.
 */
brook_serde_t *brook_serde_new(const char *name, brook_serialize_fn serialize,
                               brook_deserialize_fn deserialize, void *opaque,
                               void (*opaque_destroy)(void *), char *errstr,
                               size_t errstr_size);
/** Drops the caller's reference. NULL and built-in serdes are no-ops. */
void brook_serde_destroy(brook_serde_t *serde);

/** Built-in serdes: static, never destroyed, thread-safe. */
const brook_serde_t *brook_serde_bytes(void);
const brook_serde_t *brook_serde_string(void);
const brook_serde_t *brook_serde_int32(void);
const brook_serde_t *brook_serde_int64(void);
const brook_serde_t *brook_serde_double(void);
const brook_serde_t *brook_serde_json(void);

/** A built-in serde by name ("bytes", "string", "int32", "int64",
 *  "double", "json", or Kafka's org.apache.kafka.common.serialization
 *  class names), or NULL with @p errstr naming the accepted names. */
const brook_serde_t *brook_serde_by_name(const char *name, char *errstr,
                                         size_t errstr_size);

/** The serde's name; valid as long as the serde. */
const char *brook_serde_name(const brook_serde_t *serde);

/**
 * The topic the engine is serializing for or deserializing from on this
 * thread (a source, sink, repartition or changelog topic), or NULL where
 * there is none: what a Kafka serializer is given as its topic.
 */
const char *brook_serde_topic(void);

/** Appends the encoding of @p obj to @p out (a NULL @p obj encodes nothing
 *  and returns BROOK_OK). BROOK_ERR_SERDE (the serde failed or has no
 *  serializer) or BROOK_ERR_INVALID_ARG (a NULL @p serde or @p out), with
 *  the reason in @p errstr. */
brook_err_t brook_serde_serialize(const brook_serde_t *serde, const void *obj,
                                  brook_buf_t *out, char *errstr,
                                  size_t errstr_size);
/** Decodes @p size bytes at @p data into *@p objp, allocated in @p arena;
 *  a NULL @p data yields a NULL object. BROOK_ERR_SERDE (the serde failed
 *  or has no deserializer) or BROOK_ERR_INVALID_ARG (a NULL @p serde,
 *  @p arena or @p objp), with the reason in @p errstr (and *@p objp =
 *  NULL). */
brook_err_t brook_serde_deserialize(const brook_serde_t *serde,
                                    const void *data, size_t size,
                                    brook_arena_t *arena, void **objp,
                                    char *errstr, size_t errstr_size);

/** Helpers that make built-in typed objects in an arena (live until it is
 *  reset); they never fail. */
int32_t *brook_int32_new(brook_arena_t *arena, int32_t v);
int64_t *brook_int64_new(brook_arena_t *arena, int64_t v);
double *brook_double_new(brook_arena_t *arena, double v);
/** Registers json_decref for @p json with @p arena and returns @p json. */
void *brook_json_own(brook_arena_t *arena, void *json);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
