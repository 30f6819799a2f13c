/*
 * brook benchmarks — the keys and counts of the state benchmarks
 * (bench/run-state), shared by the loader and the app.
 *
 * Keys. Record i has key number i % keys, written with a key pattern: a
 * prefix, one integer conversion and a suffix, e.g. "key-%05d" makes
 * "key-00042". Only %d, %u, %<width>d and %0<width>d are accepted, so a
 * pattern can be checked and applied without handing it to printf. Without
 * a pattern the loader uses records.h's keys ("k<n>").
 *
 * Counts. A count (brook_grouped_count with the int64 serde) is 8 bytes,
 * big-endian. The loader's "count" value format writes, for record i, the
 * count key i % keys has after it: i / keys + 1. So a changelog loaded with
 * it holds what a count store's changelog would hold after counting those
 * records without a cache, and the last value of key k is
 * bench_key_count(records, keys, k), the same as the count app's output for
 * records loaded over the same keys.
 */
#ifndef BROOK_BENCH_STATE_H
#define BROOK_BENCH_STATE_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* A count's encoded size. */
#define BENCH_COUNT_SIZE 8

typedef struct bench_keyfmt_s {
        char prefix[64];
        char suffix[64];
        int width; /**< Minimum digits, 0 for none. */
        bool zero; /**< Pad with zeros rather than spaces. */
} bench_keyfmt_t;

/* Copies @p n bytes of @p s into @p out, turning "%%" into '%'; -1 if a
 * lone '%' is left or the result does not fit. */
static inline int bench_keyfmt_literal(const char *s, size_t n, char *out,
                                       size_t out_size)
{
        size_t o = 0;

        for (size_t i = 0; i < n; i++) {
                if (s[i] == '%') {
                        if (i + 1 >= n || s[i + 1] != '%')
                                return -1;
                        i++;
                }
                if (o + 1 >= out_size)
                        return -1;
                out[o++] = s[i];
        }
        out[o] = '\0';
        return 0;
}

/*
 * Parses the key pattern @p pattern into @p kf. On error returns -1 with
 * the reason in @p errstr.
 */
static inline int bench_keyfmt_parse(const char *pattern, bench_keyfmt_t *kf,
                                     char *errstr, size_t errstr_size)
{
        const char *conv = NULL;

        memset(kf, 0, sizeof *kf);
        for (const char *p = pattern; *p; p++) {
                if (*p != '%')
                        continue;
                if (p[1] == '%') {
                        p++;
                        continue;
                }
                if (conv) {
                        snprintf(errstr, errstr_size,
                                 "key pattern '%s' has more than one "
                                 "conversion",
                                 pattern);
                        return -1;
                }
                conv = p;
        }
        if (!conv) {
                snprintf(errstr, errstr_size,
                         "key pattern '%s' has no %%d conversion", pattern);
                return -1;
        }

        const char *p = conv + 1;
        if (*p == '0') {
                kf->zero = true;
                p++;
        }
        while (*p >= '0' && *p <= '9' && kf->width <= 20)
                kf->width = kf->width * 10 + (*p++ - '0');
        if ((*p != 'd' && *p != 'u') || kf->width > 20) {
                snprintf(errstr, errstr_size,
                         "key pattern '%s': the conversion must be %%d, "
                         "%%<width>d or %%0<width>d (width up to 20)",
                         pattern);
                return -1;
        }
        if (bench_keyfmt_literal(pattern, (size_t)(conv - pattern), kf->prefix,
                                 sizeof kf->prefix) ||
            bench_keyfmt_literal(p + 1, strlen(p + 1), kf->suffix,
                                 sizeof kf->suffix)) {
                snprintf(errstr, errstr_size,
                         "key pattern '%s': text around the conversion is "
                         "over %zu bytes",
                         pattern, sizeof kf->prefix - 1);
                return -1;
        }
        return 0;
}

/* The key of key number @p n into @p buf; returns its length (no NUL). */
static inline size_t bench_keyfmt_key(const bench_keyfmt_t *kf, uint64_t n,
                                      char *buf, size_t buf_size)
{
        int len = kf->zero ? snprintf(buf, buf_size, "%s%0*" PRIu64 "%s",
                                      kf->prefix, kf->width, n, kf->suffix)
                           : snprintf(buf, buf_size, "%s%*" PRIu64 "%s",
                                      kf->prefix, kf->width, n, kf->suffix);
        return len < 0 ? 0 : (size_t)len;
}

/*
 * The key number of @p key (@p size bytes) as @p kf writes it. Returns -1
 * when @p key is not one of @p kf's keys.
 */
static inline int bench_keyfmt_number(const bench_keyfmt_t *kf, const void *key,
                                      size_t size, uint64_t *np)
{
        const char *k = key;
        size_t pre = strlen(kf->prefix), suf = strlen(kf->suffix);
        uint64_t n = 0;
        size_t i;

        if (!key || size < pre + suf + 1 || memcmp(k, kf->prefix, pre) ||
            memcmp(k + size - suf, kf->suffix, suf))
                return -1;
        i = pre;
        while (!kf->zero && i < size - suf - 1 && k[i] == ' ')
                i++;
        for (; i < size - suf; i++) {
                if (k[i] < '0' || k[i] > '9' || n > UINT64_MAX / 10)
                        return -1;
                n = n * 10 + (uint64_t)(k[i] - '0');
        }
        *np = n;
        return 0;
}

static inline void bench_count_encode(int64_t count,
                                      unsigned char out[BENCH_COUNT_SIZE])
{
        for (int i = 0; i < BENCH_COUNT_SIZE; i++)
                out[i] = (unsigned char)((uint64_t)count >>
                                         (8 * (BENCH_COUNT_SIZE - 1 - i)));
}

static inline int64_t
bench_count_decode(const unsigned char in[BENCH_COUNT_SIZE])
{
        uint64_t v = 0;

        for (int i = 0; i < BENCH_COUNT_SIZE; i++)
                v = (v << 8) | in[i];
        return (int64_t)v;
}

/* The count of key number @p k after @p records records over @p keys keys
 * (record i has key number i % keys). */
static inline int64_t bench_key_count(uint64_t records, uint64_t keys,
                                      uint64_t k)
{
        return (int64_t)(records / keys + (k < records % keys));
}

#endif
