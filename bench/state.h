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

/*
 * The windowed benchmarks (bench/run's hopping-count and session-count).
 *
 * Windows, the same in brook (bench/app.c) and Kafka Streams
 * (KStreamsBench.java):
 *   hopping-count  TimeWindows.ofSizeAndGrace(1 s, 1 s).advanceBy(500 ms)
 *   session-count  SessionWindows.ofInactivityGapAndGrace(5 s, 1 s)
 *
 * Event time. The loader's "windowed" timestamps put record i at
 *
 *   t0 + i * 25 / 1000 + (i / 195000) * 6000   (ms; integer division)
 *
 * so the input runs at 40 records per millisecond of event time, in bursts
 * of 195,000 records (4,875 ms), each followed by 6 s without records.
 * Record i has key number i % keys (as above), so with 10,000 keys a key
 * has a record every 250 ms within a burst: 4 per 1 s window (each record
 * falls in 2 hopping windows), and its records of one burst merge into one
 * session (250 ms < the 5 s gap), while the pause splits them from the
 * next burst's (over 6 s > 5 s). 195,000 is not a multiple of 10,000, so
 * keys get 19 or 20 records per burst, and which ones varies from burst to
 * burst. 2,000,000 records span 110 s of event time in 11 bursts:
 * 1,165,000 (key, window) counts and 110,000 sessions (t0 is on a whole
 * second, so these do not depend on it). Timestamps grow
 * with i, so within a partition they are in order: no record is late, and
 * every window's last count is exactly what the generator gives
 * (brook-bench-load --verify-windows computes it).
 */
#define BENCH_WIN_STEP_US      25
#define BENCH_WIN_BURST        195000
#define BENCH_WIN_PAUSE_MS     6000
#define BENCH_HOP_SIZE_MS      1000
#define BENCH_HOP_ADVANCE_MS   500
#define BENCH_HOP_GRACE_MS     1000
#define BENCH_SESSION_GAP_MS   5000
#define BENCH_SESSION_GRACE_MS 1000

/* The event time (ms) of record @p i of the windowed input. */
static inline int64_t bench_event_time(int64_t t0, uint64_t i)
{
        return t0 + (int64_t)(i * BENCH_WIN_STEP_US / 1000) +
               (int64_t)(i / BENCH_WIN_BURST) * BENCH_WIN_PAUSE_MS;
}

/* Kafka Streams' TimeWindows.windowsFor(): the first hopping window start
 * that holds @p ts (ts >= 0). */
static inline int64_t bench_hop_first_start(int64_t ts)
{
        int64_t s = ts - BENCH_HOP_SIZE_MS + BENCH_HOP_ADVANCE_MS;
        if (s < 0)
                s = 0;
        return s / BENCH_HOP_ADVANCE_MS * BENCH_HOP_ADVANCE_MS;
}

#endif
