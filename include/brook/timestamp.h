/*
 * brook — event time: what a source's timestamp extractor may be, what
 * happens to a record whose timestamp is invalid (negative), and the
 * parsers behind the built-in JSON extractor, for user extractors to use
 * too. docs/time.md tells the whole story (stream time, partition time,
 * max.task.idle.ms).
 */
#ifndef BROOK_TIMESTAMP_H
#define BROOK_TIMESTAMP_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

/**
 * What happens to a record whose extracted timestamp is negative (Kafka
 * Streams' extractors of the same names; the app-wide default is the
 * property default.timestamp.extractor). It applies to whatever extractor
 * a source has: the Kafka record timestamp, the JSON field, or a user
 * function.
 */
typedef enum brook_invalid_timestamp_e {
        /** Take default.timestamp.extractor's policy (a source's
         *  brook_consumed_t only). */
        BROOK_INVALID_TIMESTAMP_DEFAULT = 0,
        /** FailOnInvalidTimestamp: the app (or test driver) fails with an
         *  error naming the topic, partition, offset and timestamp. The
         *  record is not processed and its offset is not committed. */
        BROOK_INVALID_TIMESTAMP_FAIL,
        /** LogAndSkipOnInvalidTimestamp: the record is dropped, counted
         *  under BROOK_DROP_INVALID_TIMESTAMP and logged (rate-limited). */
        BROOK_INVALID_TIMESTAMP_LOG_AND_SKIP,
        /** UsePartitionTimeOnInvalidTimestamp: the record takes its
         *  partition's partition time; if that is unknown (-1: nothing
         *  processed from the partition yet), the app fails as with
         *  BROOK_INVALID_TIMESTAMP_FAIL. */
        BROOK_INVALID_TIMESTAMP_USE_PARTITION_TIME,
} brook_invalid_timestamp_t;

/** What the JSON field extractor does when the field is missing, null, or
 *  not a timestamp it can read (see brook_timestamp_from_json()). */
typedef enum brook_timestamp_fallback_e {
        /** The Kafka record timestamp is the record's timestamp. */
        BROOK_TIMESTAMP_FALLBACK_RECORD = 0,
        /** The timestamp is invalid (-1): the source's invalid-timestamp
         *  policy decides (brook_invalid_timestamp_t). */
        BROOK_TIMESTAMP_FALLBACK_INVALID,
} brook_timestamp_fallback_t;

/**
 * Reads the timestamp in the top-level field @p field of the JSON object
 * in @p json (@p size bytes, not NUL-terminated; e.g. a record's raw
 * value), into *@p tsp, as milliseconds since the epoch. The field's
 * value may be
 *  - an integer number, taken as epoch milliseconds (a fraction or an
 *    exponent is not accepted);
 *  - a string in ISO-8601 / RFC 3339 form, read by
 *    brook_timestamp_parse_iso8601().
 * The first occurrence of the field counts. The object is scanned, not
 * validated: the values of fields before it are skipped by their quotes
 * and brackets, and nothing after it is read. Field names are compared
 * after JSON unescaping, byte for byte. A nested field cannot be named.
 *
 * @returns BROOK_OK; BROOK_ERR_NOT_FOUND when @p json is not a JSON object
 *   (or is NULL) or has no such field, or the field is null;
 *   BROOK_ERR_SERDE when the field's value is not a timestamp as above or
 *   the JSON before it is malformed; BROOK_ERR_INVALID_ARG for a NULL
 *   @p field or @p tsp. The reason goes to @p errstr (may be NULL) on
 *   failure. *@p tsp is written only on success; the result may be negative
 *   (a time before 1970).
 *
 * Thread-safe, allocates nothing: it is what a source with
 * brook_consumed_t's timestamp_field runs on every record.
 */
brook_err_t brook_timestamp_from_json(const void *json, size_t size,
                                      const char *field, int64_t *tsp,
                                      char *errstr, size_t errstr_size);

/**
 * Parses the ISO-8601 date-time @p s (@p len bytes, not NUL-terminated)
 * into milliseconds since the epoch, in *@p tsp. The form is RFC 3339's:
 * `YYYY-MM-DDTHH:MM[:SS[.fraction]]` followed by `Z` or an offset
 * `+HH:MM`, `-HH:MM`, `+HHMM` or `+HH` (the separator `T` may be `t` or a
 * space, `Z` may be `z`). The fraction has one to nine digits; those past
 * milliseconds are dropped (truncated). A date-time without a zone is refused:
 * its instant is unknown. E.g. "2026-12-02T14:06:17.123Z" and
 * "2026-12-02T15:06:17.123+01:00" are both 1796220377123.
 *
 * @returns BROOK_OK, or BROOK_ERR_SERDE (with the reason in @p errstr, may
 *   be NULL) for anything else, including a day that does not exist in
 *   its month; BROOK_ERR_INVALID_ARG for a NULL @p s or @p tsp.
 *   Thread-safe, allocates nothing.
 */
brook_err_t brook_timestamp_parse_iso8601(const char *s, size_t len,
                                          int64_t *tsp, char *errstr,
                                          size_t errstr_size);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
