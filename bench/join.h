/*
 * brook benchmarks — the join workloads of bench/run (st-join, ss-join):
 * the records the loader writes (brook-bench-load --join), what both
 * engines' joins make of them, and what brook-bench-load --verify-join
 * checks. Kafka Streams' side (KStreamsBench.java) only needs the window
 * below; it joins the values as brook does, with a '|' between them.
 *
 * Every record is a function of its index i (0-based, in load order), so
 * each output record can be checked exactly: its value names i, and the
 * key and the whole value must be what i gives.
 *
 * st-join: stream(events) join table(table) → out, string keys and values.
 *   table   row i < rows (default 100,000): key "p%06d" of i, value
 *           "ward-%03d" of i % 250, timestamp t0 - 3,600,000 + i: older
 *           than every event, so both engines (which take a task's
 *           records in timestamp order) have the whole table before the
 *           first event.
 *   events  record i: key "p%06d" of (i * 7919) % rows (7919 is prime, so
 *           with rows = 100,000 each key gets every 100,000th event),
 *           value "rx-%08d" of i, a '.', then filler up to the value size,
 *           timestamp t0 + i.
 *   output  one record per event: its key, value event + "|" + ward.
 *
 * ss-join: stream(left) join stream(right) within
 *   JoinWindows.ofTimeDifferenceAndGrace(10 s, 60 s) → out.
 *   left    record i: key "k%06d" of i % 100,000, value "L%08d" of i, '.',
 *           filler; timestamp t0 + i.
 *   right   record i: the same key, value "R%08d" of i, '.', filler;
 *           timestamp t0 + i + 2,000.
 *   output  left i and right i, 2 s apart, join; the next record of the
 *           same key on either side is 100 s away, outside the 10 s
 *           window: one record per i, value left + "|" + right. The grace
 *           makes the join stores keep 80 s (before + after + grace) of
 *           stream time, so a side that runs over a minute of event time
 *           ahead of the other (processing order across the two topics is
 *           only by timestamp while both have records buffered) still
 *           finds its partners.
 *
 * Both topics of a join are loaded with the same partition count and
 * Java's default partitioner (clients.c: murmur2), so they are
 * co-partitioned. The index takes 8 digits: at most 100,000,000 records.
 */
#ifndef BROOK_BENCH_JOIN_H
#define BROOK_BENCH_JOIN_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define BENCH_JOIN_TABLE_ROWS   100000
#define BENCH_JOIN_WARDS        250
#define BENCH_JOIN_STRIDE       7919
#define BENCH_JOIN_TABLE_AGE_MS 3600000
#define BENCH_SS_KEYS           100000
#define BENCH_SS_LAG_MS         2000
#define BENCH_SS_WINDOW_MS      10000
#define BENCH_SS_GRACE_MS       60000
#define BENCH_JOIN_DIGITS       8
#define BENCH_JOIN_MAX_RECORDS  100000000
/* Between the two values of a joined record. */
#define BENCH_JOIN_SEP '|'

typedef enum bench_join_topic_e {
        BENCH_JOIN_ST_TABLE,
        BENCH_JOIN_ST_EVENTS,
        BENCH_JOIN_SS_LEFT,
        BENCH_JOIN_SS_RIGHT,
} bench_join_topic_t;

static inline int bench_join_topic_parse(const char *name,
                                         bench_join_topic_t *tp)
{
        if (!strcmp(name, "st-table"))
                *tp = BENCH_JOIN_ST_TABLE;
        else if (!strcmp(name, "st-events"))
                *tp = BENCH_JOIN_ST_EVENTS;
        else if (!strcmp(name, "ss-left"))
                *tp = BENCH_JOIN_SS_LEFT;
        else if (!strcmp(name, "ss-right"))
                *tp = BENCH_JOIN_SS_RIGHT;
        else
                return -1;
        return 0;
}

/* The prefix before a padded value's index. */
static inline const char *bench_join_prefix(bench_join_topic_t t)
{
        return t == BENCH_JOIN_ST_EVENTS ? "rx-"
               : t == BENCH_JOIN_SS_LEFT ? "L"
                                         : "R";
}

/* The smallest value size of a padded value (the table's are fixed). */
static inline size_t bench_join_value_min(bench_join_topic_t t)
{
        return strlen(bench_join_prefix(t)) + BENCH_JOIN_DIGITS + 1;
}

/* The table row an event's key names. */
static inline uint64_t bench_join_event_row(uint64_t i, uint64_t rows)
{
        return i * BENCH_JOIN_STRIDE % rows;
}

/* The key of record @p i of topic @p t into @p buf; returns its length
 * (no NUL). @p rows is the table's size (st-join). */
static inline size_t bench_join_key(bench_join_topic_t t, uint64_t i,
                                    uint64_t rows, char *buf, size_t size)
{
        int n;

        switch (t) {
        case BENCH_JOIN_ST_TABLE:
                n = snprintf(buf, size, "p%06" PRIu64, i);
                break;
        case BENCH_JOIN_ST_EVENTS:
                n = snprintf(buf, size, "p%06" PRIu64,
                             bench_join_event_row(i, rows));
                break;
        default:
                n = snprintf(buf, size, "k%06" PRIu64, i % BENCH_SS_KEYS);
                break;
        }
        return n < 0 ? 0 : (size_t)n;
}

/* The timestamp (ms) of record @p i of topic @p t. */
static inline int64_t bench_join_ts(bench_join_topic_t t, int64_t t0,
                                    uint64_t i)
{
        switch (t) {
        case BENCH_JOIN_ST_TABLE:
                return t0 - BENCH_JOIN_TABLE_AGE_MS + (int64_t)i;
        case BENCH_JOIN_SS_RIGHT:
                return t0 + (int64_t)i + BENCH_SS_LAG_MS;
        default:
                return t0 + (int64_t)i;
        }
}

/*
 * The value of record @p i of topic @p t into @p buf (no NUL): a table
 * row's ward, or exactly @p size bytes of prefix, index, '.' and filler.
 * Returns its length, 0 when @p size is below bench_join_value_min() or
 * @p buf too small.
 */
static inline size_t bench_join_value(bench_join_topic_t t, uint64_t i,
                                      char *buf, size_t buf_size, size_t size)
{
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "abcdefghijklmnopqrstuvwxyz"
                                       "0123456789";
        int n;

        if (t == BENCH_JOIN_ST_TABLE) {
                n = snprintf(buf, buf_size, "ward-%03" PRIu64,
                             i % BENCH_JOIN_WARDS);
                return n < 0 || (size_t)n >= buf_size ? 0 : (size_t)n;
        }
        if (size < bench_join_value_min(t) || size > buf_size)
                return 0;
        /* snprintf writes a NUL that may not fit @p size; the filler
         * overwrites it. */
        char head[32];
        n = snprintf(head, sizeof head, "%s%0*" PRIu64 ".",
                     bench_join_prefix(t), BENCH_JOIN_DIGITS, i);
        if (n < 0 || (size_t)n > size)
                return 0;
        memcpy(buf, head, (size_t)n);
        for (size_t j = (size_t)n; j < size; j++)
                buf[j] = alphabet[(i + j) % (sizeof alphabet - 1)];
        return size;
}

/*
 * The index a padded value of topic @p t starts with, or -1 when @p data
 * (@p len bytes) does not start with its prefix, 8 digits and a '.'.
 */
static inline int bench_join_index(bench_join_topic_t t, const void *data,
                                   size_t len, uint64_t *ip)
{
        const char *p = data, *prefix = bench_join_prefix(t);
        size_t pre = strlen(prefix);
        uint64_t i = 0;

        if (!data || len < bench_join_value_min(t) || memcmp(p, prefix, pre) ||
            p[pre + BENCH_JOIN_DIGITS] != '.')
                return -1;
        for (size_t k = pre; k < pre + BENCH_JOIN_DIGITS; k++) {
                if (p[k] < '0' || p[k] > '9')
                        return -1;
                i = i * 10 + (uint64_t)(p[k] - '0');
        }
        *ip = i;
        return 0;
}

#endif
