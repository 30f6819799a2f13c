/*
 * brook benchmarks — the avro-* workloads' values: records.h's JSON value
 * as the Avro record of bench/record.avsc, in the Confluent wire format.
 *
 * Record i's value is
 *   0x00, the schema id (4 bytes, big-endian), then the Avro binary
 *   encoding of {id: i, key: "k<i % keys>", amount: i % 1000,
 *   pad: "xxx..."}
 * with the pad grown so that the whole value is value_size bytes. (Where
 * the pad's length would need one byte more of varint just at that size,
 * the value is one byte longer: a string of 63 bytes has a 1-byte length,
 * one of 64 a 2-byte one.) The keys are records.h's (bench_key()) or
 * --key-format's, as for the other workloads; the "key" field is always
 * records.h's "k<i % keys>", as in its JSON values.
 *
 * brook-bench-load encodes the values with avro-c and checks every one
 * against bench_avro_body(); brook-bench-load --verify-avro checks an
 * avro-passthrough output against it. An engine in another language reads
 * and writes them through its Avro serdes: only the schema matters.
 */
#ifndef BROOK_BENCH_AVRO_RECORDS_H
#define BROOK_BENCH_AVRO_RECORDS_H

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Magic byte 0 and the 4-byte schema id. */
#define BENCH_AVRO_HEADER_SIZE 5

/* The bytes of @p v as an Avro long: zig-zag, then a base-128 varint. */
static inline size_t bench_avro_long_size(int64_t v)
{
        uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
        size_t n = 1;

        while (z >= 0x80) {
                z >>= 7;
                n++;
        }
        return n;
}

static inline size_t bench_avro_put_long(unsigned char *p, int64_t v)
{
        uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
        size_t n = 0;

        while (z >= 0x80) {
                p[n++] = (unsigned char)(z | 0x80);
                z >>= 7;
        }
        p[n++] = (unsigned char)z;
        return n;
}

/* Reads an Avro long at @p p; the bytes it took, 0 if it is not one. */
static inline size_t bench_avro_get_long(const unsigned char *p, size_t size,
                                         int64_t *vp)
{
        uint64_t z = 0;

        for (size_t i = 0; i < size && i < 10; i++) {
                z |= (uint64_t)(p[i] & 0x7f) << (7 * i);
                if (!(p[i] & 0x80)) {
                        *vp = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
                        return i + 1;
                }
        }
        return 0;
}

/* The "key" field of record @p seq into @p buf; its length. */
static inline size_t bench_avro_key_field(uint64_t seq, uint64_t keys,
                                          char *buf, size_t buf_size)
{
        int n = snprintf(buf, buf_size, "k%" PRIu64, seq % keys);
        return n < 0 ? 0 : (size_t)n;
}

/* The bytes of record @p seq's framed value but the pad's characters and
 * its length. */
static inline size_t bench_avro_fixed_size(uint64_t seq, uint64_t keys)
{
        char key[32];
        size_t key_len = bench_avro_key_field(seq, keys, key, sizeof key);

        return BENCH_AVRO_HEADER_SIZE + bench_avro_long_size((int64_t)seq) +
               bench_avro_long_size((int64_t)key_len) + key_len +
               bench_avro_long_size((int64_t)(seq % 1000));
}

/* The pad's length for record @p seq's value to be @p value_size bytes
 * (one more where that is impossible, above): the shortest pad whose value
 * is that long or longer. SIZE_MAX when even an empty pad is too long. */
static inline size_t bench_avro_pad_len(uint64_t seq, uint64_t keys,
                                        size_t value_size)
{
        size_t fixed = bench_avro_fixed_size(seq, keys);
        size_t pad;

        if (value_size < fixed + 1)
                return SIZE_MAX;
        /* A length takes at most 5 bytes here; the value grows by at least
         * one byte a pad byte, so this takes a few steps. */
        pad = value_size - fixed > 5 ? value_size - fixed - 5 : 0;
        while (fixed + bench_avro_long_size((int64_t)pad) + pad < value_size)
                pad++;
        return pad;
}

/* The smallest --value-size record @p seq can have. */
static inline size_t bench_avro_min_size(uint64_t seq, uint64_t keys)
{
        return bench_avro_fixed_size(seq, keys) + 1;
}

/*
 * Writes the Avro binary body of record @p seq (no header) into @p buf of
 * @p cap bytes. Returns its length, 0 if @p value_size is too small or
 * @p cap too short.
 */
static inline size_t bench_avro_body(uint64_t seq, uint64_t keys,
                                     size_t value_size, unsigned char *buf,
                                     size_t cap)
{
        char key[32];
        size_t key_len = bench_avro_key_field(seq, keys, key, sizeof key);
        size_t pad = bench_avro_pad_len(seq, keys, value_size);
        size_t n = 0;

        if (pad == SIZE_MAX || cap < value_size + 1 - BENCH_AVRO_HEADER_SIZE)
                return 0;
        n += bench_avro_put_long(buf + n, (int64_t)seq);
        n += bench_avro_put_long(buf + n, (int64_t)key_len);
        memcpy(buf + n, key, key_len);
        n += key_len;
        n += bench_avro_put_long(buf + n, (int64_t)(seq % 1000));
        n += bench_avro_put_long(buf + n, (int64_t)pad);
        memset(buf + n, 'x', pad);
        return n + pad;
}

/* The header: magic byte 0 and @p id big-endian. */
static inline void bench_avro_header(unsigned char *p, int32_t id)
{
        uint32_t u = (uint32_t)id;

        p[0] = 0;
        p[1] = (unsigned char)(u >> 24);
        p[2] = (unsigned char)(u >> 16);
        p[3] = (unsigned char)(u >> 8);
        p[4] = (unsigned char)u;
}

/*
 * Reads a framed value's schema id and sequence number (its first field).
 * Returns -1 when it is not the wire format or the id is not a long.
 */
static inline int bench_avro_value_seq(const void *data, size_t size,
                                       int32_t *idp, uint64_t *seqp)
{
        const unsigned char *p = data;
        int64_t seq;

        if (size < BENCH_AVRO_HEADER_SIZE + 1 || p[0] != 0)
                return -1;
        *idp = (int32_t)((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
                         (uint32_t)p[3] << 8 | (uint32_t)p[4]);
        if (!bench_avro_get_long(p + BENCH_AVRO_HEADER_SIZE,
                                 size - BENCH_AVRO_HEADER_SIZE, &seq) ||
            seq < 0)
                return -1;
        *seqp = (uint64_t)seq;
        return 0;
}

#endif
