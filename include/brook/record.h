/*
 * brook — records in flight.
 *
 * A brook_record_t is one record as it moves through a sub-topology: a
 * decoded key and value, a timestamp, headers, and the metadata of the input
 * record it derives from (topic, partition, offset). Records and everything
 * allocated from their arena live until the input record has been fully
 * processed; a processor that needs data beyond that copies it (or puts it in
 * a state store).
 *
 * Thread-safety: a record belongs to the stream thread processing it; these
 * calls are made there, from processors, punctuators and DSL functions.
 * None of them fails.
 */
#ifndef BROOK_RECORD_H
#define BROOK_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "serde.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

typedef struct brook_record_s brook_record_t;

/** A header as passed in by callers (test driver input). */
typedef struct brook_header_s {
        const char *name;
        const void *value; /**< NULL for a null header value. */
        size_t size;
} brook_header_t;

/** The decoded key / value (NULL is Kafka's null). */
void *brook_record_key(const brook_record_t *rec);
void *brook_record_value(const brook_record_t *rec);
/** Event time in milliseconds since the epoch. */
int64_t brook_record_timestamp(const brook_record_t *rec);

/** The topic, partition and offset of the input record this one derives
 *  from; NULL / -1 / -1 for records a punctuator made. The topic string is
 *  valid as long as the record. */
const char *brook_record_topic(const brook_record_t *rec);
int32_t brook_record_partition(const brook_record_t *rec);
int64_t brook_record_offset(const brook_record_t *rec);

/** The record's arena, and a shorthand for allocating from it: memory that
 *  lives until the input record has been fully processed. */
brook_arena_t *brook_record_arena(const brook_record_t *rec);
void *brook_record_alloc(const brook_record_t *rec, size_t size);

/**
 * Headers. A record made from another (by an operator, or with
 * brook_ctx_record_new()) shares its parent's headers, as Kafka Streams'
 * records share their headers object: changing them is seen by every record
 * derived from the same input record afterwards.
 */
size_t brook_record_header_count(const brook_record_t *rec);
/** Header @p idx in order; returns false past the end. Pointers are valid
 *  as long as the record. */
bool brook_record_header_at(const brook_record_t *rec, size_t idx,
                            const char **namep, const void **valuep,
                            size_t *sizep);
/** The last header named @p name (Kafka's Headers.lastHeader). */
bool brook_record_header_last(const brook_record_t *rec, const char *name,
                              const void **valuep, size_t *sizep);
/** Appends a header; name and value are copied into the record's arena
 *  (a NULL @p value is a null header value). */
void brook_record_header_add(brook_record_t *rec, const char *name,
                             const void *value, size_t size);
/** Removes every header named @p name; returns how many. */
size_t brook_record_header_remove(brook_record_t *rec, const char *name);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
