/*
 * Fuzz target: the built-in fixed-width and byte serdes (engine/serde.c),
 * decoding what a Kafka topic or a store may hold.
 *
 * Input: one byte choosing the serde (bytes, string, int32, int64,
 * double), then the payload. Checked:
 *   - decoding fails exactly when the size is wrong for the type (int32: 4
 *     bytes, int64 and double: 8), with a message; bytes and string never
 *     fail;
 *   - decode then encode gives back the same bytes (for string, up to the
 *     first NUL byte: a C string ends there);
 *   - encode then decode of a value made from the payload gives the same
 *     value, bit for bit.
 */
#include <math.h>

#include "fuzz_input.h"

static brook_arena_t *arena;
static brook_buf_t *buf;

static void roundtrip(const brook_serde_t *serde, const uint8_t *data,
                      size_t size)
{
        char errstr[256];
        void *obj;
        brook_err_t err;
        size_t want = size;

        errstr[0] = '\0';
        err = brook_serde_deserialize(serde, data, size, arena, &obj, errstr,
                                      sizeof errstr);
        if (serde == brook_serde_int32())
                CHECK(!err == (size == 4));
        else if (serde == brook_serde_int64() || serde == brook_serde_double())
                CHECK(!err == (size == 8));
        else
                CHECK(!err);
        if (err) {
                CHECK(err == BROOK_ERR_SERDE);
                CHECK(!obj);
                CHECK(errstr[0] && memchr(errstr, '\0', sizeof errstr));
                return;
        }
        CHECK(obj);
        if (serde == brook_serde_string()) {
                const uint8_t *nul = memchr(data, '\0', size);
                if (nul)
                        want = (size_t)(nul - data);
                CHECK(strlen(obj) == want);
        }
        brook_buf_clear(buf);
        CHECK(brook_serde_serialize(serde, obj, buf, errstr, sizeof errstr) ==
              BROOK_OK);
        CHECK(brook_buf_len(buf) == want);
        CHECK(!want || !memcmp(brook_buf_data(buf), data, want));
}

/* A value taken from the payload's bytes, encoded, decodes to itself. */
static void reverse(const brook_serde_t *serde, const uint8_t *data,
                    size_t size)
{
        char errstr[256];
        unsigned char raw[8] = {0};
        void *obj;

        if (serde != brook_serde_int32() && serde != brook_serde_int64() &&
            serde != brook_serde_double())
                return;
        memcpy(raw, data, size < 8 ? size : 8);
        brook_buf_clear(buf);
        CHECK(brook_serde_serialize(serde, raw, buf, errstr, sizeof errstr) ==
              BROOK_OK);
        CHECK(brook_serde_deserialize(serde, brook_buf_data(buf),
                                      brook_buf_len(buf), arena, &obj, errstr,
                                      sizeof errstr) == BROOK_OK);
        /* Bits, not values: a NaN's payload must survive too. */
        CHECK(!memcmp(obj, raw, serde == brook_serde_int32() ? 4 : 8));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const brook_serde_t *(*const serdes[])(void) = {
                brook_serde_bytes, brook_serde_string, brook_serde_int32,
                brook_serde_int64, brook_serde_double,
        };
        fuzz_input_t in = {data, size};
        const brook_serde_t *serde = serdes[fuzz_u8(&in) % 5]();

        if (!arena) {
                /* Kept across runs, as a thread keeps its own: reset
                 * between records is what the runtime does. */
                arena = brook_arena_new();
                buf = brook_buf_new();
        }
        /* Kafka's null has no data pointer; an empty payload has one. */
        roundtrip(serde, in.n ? in.p : (const uint8_t *)"", in.n);
        reverse(serde, in.p, in.n);
        brook_arena_reset(arena);
        return 0;
}
