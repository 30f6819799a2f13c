/*
 * Reading a fuzz input as a sequence of fields, shared by the targets.
 * Every read takes what is there: a field cut short by the end of the input
 * is shorter (or zero), never an error, so each input means something and
 * libFuzzer's mutations stay useful.
 */
#ifndef BROOK_FUZZ_INPUT_H
#define BROOK_FUZZ_INPUT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brook_int.h"

#define CHECK(cond)                                                            \
        do {                                                                   \
                if (!(cond)) {                                                 \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
                                __LINE__, #cond);                              \
                        abort();                                               \
                }                                                              \
        } while (0)

typedef struct fuzz_input {
        const uint8_t *p;
        size_t n;
} fuzz_input_t;

static inline uint8_t fuzz_u8(fuzz_input_t *in)
{
        uint8_t v = 0;
        if (in->n) {
                v = *in->p++;
                in->n--;
        }
        return v;
}

/* Big-endian, as Kafka's numbers are. */
static inline uint64_t fuzz_uint(fuzz_input_t *in, int bytes)
{
        uint64_t v = 0;
        int i;
        for (i = 0; i < bytes; i++)
                v = v << 8 | fuzz_u8(in);
        return v;
}

/* Up to @p len bytes; *@p lenp says how many there were. */
static inline const uint8_t *fuzz_bytes(fuzz_input_t *in, size_t len,
                                        size_t *lenp)
{
        const uint8_t *p = in->p;
        if (len > in->n)
                len = in->n;
        in->p += len;
        in->n -= len;
        *lenp = len;
        return p;
}

/* A NUL-terminated string up to the next NUL byte (or the end), allocated;
 * free() it. */
static inline char *fuzz_str(fuzz_input_t *in)
{
        const uint8_t *nul = memchr(in->p, '\0', in->n);
        size_t len = nul ? (size_t)(nul - in->p) : in->n;
        char *s = brook__xmalloc(len + 1);

        memcpy(s, in->p, len);
        s[len] = '\0';
        in->p += nul ? len + 1 : len;
        in->n -= nul ? len + 1 : len;
        return s;
}

/*
 * Kafka headers as a record carries them: a count (one byte, up to 31),
 * then per header a name (one length byte, then that many bytes; it may
 * hold NUL bytes, as a Kafka header name may) and a value (one length byte,
 * 255 meaning a null value, then the bytes).
 */
static inline rd_kafka_headers_t *fuzz_headers(fuzz_input_t *in)
{
        size_t cnt = fuzz_u8(in) & 31, i;
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(cnt ? cnt : 1);

        for (i = 0; i < cnt; i++) {
                size_t nlen, vlen;
                const uint8_t *name = fuzz_bytes(in, fuzz_u8(in), &nlen);
                uint8_t vtag = fuzz_u8(in);
                const uint8_t *value =
                        vtag == 255 ? NULL : fuzz_bytes(in, vtag, &vlen);
                rd_kafka_header_add(hdrs, (const char *)name, (ssize_t)nlen,
                                    value, value ? (ssize_t)vlen : 0);
        }
        return hdrs;
}

#endif
