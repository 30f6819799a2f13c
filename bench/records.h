/*
 * brook benchmarks — the records every engine reads, and what each workload
 * makes of them.
 *
 * The loader writes these records once per run and every engine (raw
 * librdkafka, brook, and later Kafka Streams) processes the same topic, so
 * the format, the filter predicate and the map live here, in one place. An
 * engine in another language must mirror this file exactly; the harness
 * checks every engine's output count against bench_expected_count().
 *
 * Record i (0-based, in load order) has:
 *   key        "k<i % keys>" (no NUL)
 *   timestamp  t0 + i milliseconds, with t0 = load start - N ms, so that
 *              timestamps increase and all lie in the past
 *   value      exactly value_size bytes, one of two formats:
 *     binary   16 lowercase hex digits of i, '|', then printable bytes from
 *              the alphabet [A-Za-z0-9_-] drawn from splitmix64 seeded by i
 *     json     {"id":i,"key":"k..","amount":i%1000,"pad":"xxx..."} with the
 *              pad grown so that the object is exactly value_size bytes
 *
 * Workloads (Kafka Streams' SimpleBenchmark names in brackets):
 *   passthrough  every record, unchanged                      [processStream]
 *   filter-map   records whose sequence number is even, with the value
 *                upper-cased                       [filter+map, our variant]
 */
#ifndef BROOK_BENCH_RECORDS_H
#define BROOK_BENCH_RECORDS_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The binary header: 16 hex digits of the sequence number and a '|'. */
#define BENCH_BINARY_HEADER_SIZE 17

typedef enum bench_format_e {
        BENCH_FORMAT_BINARY,
        BENCH_FORMAT_JSON,
} bench_format_t;

typedef enum bench_workload_e {
        BENCH_WORKLOAD_PASSTHROUGH,
        BENCH_WORKLOAD_FILTER_MAP,
} bench_workload_t;

static inline int bench_workload_parse(const char *name,
                                       bench_workload_t *workloadp)
{
        if (!strcmp(name, "passthrough"))
                *workloadp = BENCH_WORKLOAD_PASSTHROUGH;
        else if (!strcmp(name, "filter-map"))
                *workloadp = BENCH_WORKLOAD_FILTER_MAP;
        else
                return -1;
        return 0;
}

static inline uint64_t bench_splitmix64(uint64_t *state)
{
        uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

/* The key of record @p seq into @p buf; returns its length (no NUL). */
static inline size_t bench_key(uint64_t seq, uint64_t keys, char *buf,
                               size_t buf_size)
{
        int n = snprintf(buf, buf_size, "k%" PRIu64, seq % keys);
        return n < 0 ? 0 : (size_t)n;
}

/* The smallest value a format can hold for @p seq (JSON grows with it). */
static inline size_t bench_value_min_size(bench_format_t format, uint64_t seq,
                                          uint64_t keys)
{
        if (format == BENCH_FORMAT_BINARY)
                return BENCH_BINARY_HEADER_SIZE;
        return (size_t)snprintf(NULL, 0,
                                "{\"id\":%" PRIu64 ",\"key\":\"k%" PRIu64
                                "\",\"amount\":%" PRIu64 ",\"pad\":\"\"}",
                                seq, seq % keys, seq % 1000);
}

/*
 * Writes the value of record @p seq, exactly @p size bytes, into @p buf.
 * Returns -1 when @p size is below bench_value_min_size().
 */
static inline int bench_value(bench_format_t format, uint64_t seq,
                              uint64_t keys, char *buf, size_t size)
{
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "abcdefghijklmnopqrstuvwxyz"
                                       "0123456789_-";
        static const char hex[] = "0123456789abcdef";
        size_t min = bench_value_min_size(format, seq, keys);

        if (size < min)
                return -1;

        if (format == BENCH_FORMAT_JSON) {
                /* The pad is written last so that the object closes exactly
                 * at @p size without a second formatting pass. */
                int head = snprintf(buf, size,
                                    "{\"id\":%" PRIu64 ",\"key\":\"k%" PRIu64
                                    "\",\"amount\":%" PRIu64 ",\"pad\":\"",
                                    seq, seq % keys, seq % 1000);
                memset(buf + head, 'x', size - min);
                memcpy(buf + size - 2, "\"}", 2);
                return 0;
        }

        for (int i = 15; i >= 0; i--)
                buf[15 - i] = hex[(seq >> (i * 4)) & 0xf];
        buf[16] = '|';

        uint64_t state = seq, r = 0;
        for (size_t i = BENCH_BINARY_HEADER_SIZE, k = 0; i < size; i++, k++) {
                if (k % 8 == 0)
                        r = bench_splitmix64(&state);
                buf[i] = alphabet[r & 63];
                r >>= 8;
        }
        return 0;
}

/*
 * The sequence number of a value of either format, as a consumer that only
 * has the bytes would read it; a binary value's hex header may be
 * upper-cased (filter-map's output). Returns -1 when the value is neither.
 */
static inline int bench_value_seq(const void *data, size_t size, uint64_t *seqp)
{
        const unsigned char *p = data;
        uint64_t seq = 0;

        if (size > 6 && !memcmp(p, "{\"id\":", 6)) {
                size_t i = 6;
                if (i >= size || p[i] < '0' || p[i] > '9')
                        return -1;
                for (; i < size && p[i] >= '0' && p[i] <= '9'; i++)
                        seq = seq * 10 + (uint64_t)(p[i] - '0');
                *seqp = seq;
                return 0;
        }

        if (size < BENCH_BINARY_HEADER_SIZE || p[16] != '|')
                return -1;
        for (int i = 0; i < 16; i++) {
                unsigned char c = p[i];
                int d;
                if (c >= '0' && c <= '9')
                        d = c - '0';
                else if (c >= 'a' && c <= 'f')
                        d = c - 'a' + 10;
                else if (c >= 'A' && c <= 'F')
                        d = c - 'A' + 10; /* filter-map upper-cases it. */
                else
                        return -1;
                seq = (seq << 4) | (uint64_t)d;
        }
        *seqp = seq;
        return 0;
}

/* filter-map keeps a record when this holds: about half of them. */
static inline bool bench_filter_keep(uint64_t seq)
{
        return seq % 2 == 0;
}

/* filter-map's new value: @p size bytes of @p in, upper-cased, to @p out. */
static inline void bench_map_value(const void *in, void *out, size_t size)
{
        const unsigned char *src = in;
        unsigned char *dst = out;

        for (size_t i = 0; i < size; i++) {
                unsigned char c = src[i];
                dst[i] = (c >= 'a' && c <= 'z') ? (unsigned char)(c - 32) : c;
        }
}

/*
 * How many records @p workload writes for the first @p records records.
 * Counted with the predicate itself rather than a closed form, so that a
 * changed predicate cannot leave the expectation behind.
 */
static inline uint64_t bench_expected_count(bench_workload_t workload,
                                            uint64_t records)
{
        uint64_t n = 0;

        if (workload == BENCH_WORKLOAD_PASSTHROUGH)
                return records;
        for (uint64_t seq = 0; seq < records; seq++)
                n += bench_filter_keep(seq);
        return n;
}

#endif
