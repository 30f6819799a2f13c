/*
 * Fuzz target: the JSON serde (engine/serde_json.c), decoding what a Kafka
 * topic or a store may hold.
 *
 * Input: the payload. Checked:
 *   - a failed decode says why;
 *   - a decoded value encodes, and that encoding decodes to an equal value
 *     and encodes to the same bytes again (the compact form is a fixed
 *     point), so a value read and written by brook is stable.
 */
#include <jansson.h>

#include "fuzz_input.h"

static brook_arena_t *arena;
static brook_buf_t *buf, *buf2;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const brook_serde_t *serde = brook_serde_json();
        char errstr[512];
        void *obj, *obj2;
        brook_err_t err;

        if (!arena) {
                arena = brook_arena_new();
                buf = brook_buf_new();
                buf2 = brook_buf_new();
        }
        errstr[0] = '\0';
        /* An empty Kafka payload is not null (that has no data pointer);
         * point at something. */
        err = brook_serde_deserialize(serde, size ? data : (const void *)"",
                                      size, arena, &obj, errstr, sizeof errstr);
        if (err) {
                CHECK(err == BROOK_ERR_SERDE && !obj);
                CHECK(errstr[0] && memchr(errstr, '\0', sizeof errstr));
                brook_arena_reset(arena);
                return 0;
        }
        CHECK(obj);
        brook_buf_clear(buf);
        CHECK(brook_serde_serialize(serde, obj, buf, errstr, sizeof errstr) ==
              BROOK_OK);
        CHECK(brook_serde_deserialize(serde, brook_buf_data(buf),
                                      brook_buf_len(buf), arena, &obj2, errstr,
                                      sizeof errstr) == BROOK_OK);
        CHECK(json_equal(obj, obj2));
        brook_buf_clear(buf2);
        CHECK(brook_serde_serialize(serde, obj2, buf2, errstr, sizeof errstr) ==
              BROOK_OK);
        CHECK(brook_buf_len(buf) == brook_buf_len(buf2));
        CHECK(!memcmp(brook_buf_data(buf), brook_buf_data(buf2),
                      brook_buf_len(buf)));
        brook_arena_reset(arena);
        return 0;
}
