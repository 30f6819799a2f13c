/*
 * Fuzz target: the windowed key serdes (engine/serde_windowed.c), decoding
 * keys a windowed output topic or a Java producer may hold.
 *
 * Input: one byte choosing the serde (even: time-windowed with a window
 * size from the next byte, odd: session-windowed), then the key bytes.
 * The inner serde is bytes, so every payload is a key. Checked:
 *   - decoding fails exactly when the payload is shorter than the window
 *     (8 bytes of start, or 16 of end and start), with a message;
 *   - the window read is the last bytes of the payload (a time window's end
 *     is start + size, or INT64_MAX past it);
 *   - decode then encode gives back the same bytes.
 */
#include "fuzz_input.h"

static brook_arena_t *arena;
static brook_buf_t *buf;

static int64_t be64(const uint8_t *p)
{
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return (int64_t)v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static brook_serde_t *serdes[2];
        char errstr[256] = "";
        brook_windowed_key_t *wk;
        const brook_serde_t *serde;
        bool session;
        int64_t win = 1;
        size_t sfx;
        brook_err_t err;

        if (!arena) {
                arena = brook_arena_new();
                buf = brook_buf_new();
        }
        if (size < 2)
                return 0;
        session = data[0] & 1;
        if (!session)
                win = 1 + data[1] * 1000003LL;
        data += 2;
        size -= 2;
        /* A time-windowed serde per size would leak; make it per input. */
        serde = session ? (serdes[1]
                                   ? serdes[1]
                                   : (serdes[1] = brook_serde_session_windowed(
                                              brook_serde_bytes(), NULL, 0)))
                        : brook_serde_time_windowed(brook_serde_bytes(), win,
                                                    errstr, sizeof errstr);
        CHECK(serde);
        sfx = session ? 16 : 8;
        err = brook_serde_deserialize(serde, data, size, arena, (void **)&wk,
                                      errstr, sizeof errstr);
        CHECK(!err == (size >= sfx));
        if (err) {
                CHECK(err == BROOK_ERR_SERDE && errstr[0]);
        } else {
                const brook_bytes_t *k = wk->key;
                CHECK(k->size == size - sfx);
                if (session) {
                        CHECK(wk->window.end == be64(data + size - 16));
                        CHECK(wk->window.start == be64(data + size - 8));
                } else {
                        CHECK(wk->window.start == be64(data + size - 8));
                        CHECK(wk->window.end ==
                              (wk->window.start > INT64_MAX - win
                                       ? INT64_MAX
                                       : wk->window.start + win));
                }
                brook_buf_clear(buf);
                CHECK(brook_serde_serialize(serde, wk, buf, errstr,
                                            sizeof errstr) == BROOK_OK);
                CHECK(brook_buf_len(buf) == size);
                CHECK(!size || !memcmp(brook_buf_data(buf), data, size));
        }
        if (!session)
                brook_serde_destroy((brook_serde_t *)serde);
        brook_arena_reset(arena);
        return 0;
}
