/*
 * Fuzz target: the DSL's own values on internal topics, which a broker
 * hands back as any bytes: a regrouped table's update (Kafka Streams'
 * Change format, engine/serde_change.c) and a foreign-key join's
 * subscription and response (operators/fk_join.c).
 *
 * Input: one byte choosing the format (mod 3), then the value's bytes.
 * The inner serde is bytes. Checked: decoding either succeeds or fails
 * with BROOK_ERR_SERDE and a message, never reads out of bounds (ASan);
 * what decodes encodes again, and that encoding decodes to the same
 * encoding (a fixed point).
 */
#include "fuzz_input.h"

static brook_arena_t *arena;
static brook_buf_t *a, *b;
static brook_serde_t *serdes[3];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char errstr[256] = "";
        const brook_serde_t *serde;
        void *obj = NULL, *again = NULL;
        brook_err_t err;

        if (!arena) {
                arena = brook_arena_new();
                a = brook_buf_new();
                b = brook_buf_new();
                serdes[0] = brook__serde_change(brook_serde_bytes());
                serdes[1] = brook__serde_fk_subscription(brook_serde_bytes());
                serdes[2] = brook__serde_fk_response(brook_serde_bytes());
        }
        if (size < 1)
                return 0;
        serde = serdes[data[0] % 3];
        data++;
        size--;
        err = brook_serde_deserialize(serde, size ? data : (const void *)"",
                                      size, arena, &obj, errstr, sizeof errstr);
        if (err) {
                CHECK(err == BROOK_ERR_SERDE && errstr[0]);
                brook_arena_reset(arena);
                return 0;
        }
        CHECK(obj);
        brook_buf_clear(a);
        err = brook_serde_serialize(serde, obj, a, errstr, sizeof errstr);
        /* A change decoded from bytes always has a value to encode. */
        CHECK(err == BROOK_OK);
        CHECK(brook_serde_deserialize(serde,
                                      brook_buf_len(a) ? brook_buf_data(a)
                                                       : (const void *)"",
                                      brook_buf_len(a), arena, &again, errstr,
                                      sizeof errstr) == BROOK_OK);
        brook_buf_clear(b);
        CHECK(brook_serde_serialize(serde, again, b, errstr, sizeof errstr) ==
              BROOK_OK);
        CHECK(brook_buf_len(a) == brook_buf_len(b));
        CHECK(!brook_buf_len(a) ||
              !memcmp(brook_buf_data(a), brook_buf_data(b), brook_buf_len(a)));
        brook_arena_reset(arena);
        return 0;
}
