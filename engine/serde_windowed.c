/*
 * brook — windowed key serdes, byte-compatible with Kafka Streams'
 * TimeWindowedSerializer/Deserializer (key, start) and
 * SessionWindowedSerializer/Deserializer (key, end, start), so that a Java
 * consumer reads brook's windowed output and the other way round.
 */
#include <stdlib.h>
#include <string.h>

#include "brook_int.h"
#include "brook/window_store.h"

typedef struct windowed_serde {
        const brook_serde_t *inner; /**< A reference. */
        int64_t size_ms;            /**< Time windows; 0 for sessions. */
        bool session;
} windowed_serde_t;

static void be64_put(unsigned char *p, uint64_t v)
{
        int i;
        for (i = 0; i < 8; i++)
                p[i] = (unsigned char)(v >> (56 - 8 * i));
}

static int64_t be64_get(const unsigned char *p)
{
        uint64_t v = 0;
        int i;
        for (i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return (int64_t)v;
}

static brook_err_t windowed_serialize(const void *obj, brook_buf_t *out,
                                      void *opaque, char *errstr,
                                      size_t errstr_size)
{
        const windowed_serde_t *ws = opaque;
        const brook_windowed_key_t *wk = obj;
        unsigned char t[16];
        brook_err_t err;

        /* A windowed key with a null key is not one Kafka Streams makes. */
        if (!wk->key) {
                brook__seterr(errstr, errstr_size,
                              "a windowed key's key is NULL");
                return BROOK_ERR_SERDE;
        }
        if ((err = brook_serde_serialize(ws->inner, wk->key, out, errstr,
                                         errstr_size)))
                return err;
        if (ws->session) {
                be64_put(t, (uint64_t)wk->window.end);
                be64_put(t + 8, (uint64_t)wk->window.start);
                brook_buf_append(out, t, 16);
        } else {
                be64_put(t, (uint64_t)wk->window.start);
                brook_buf_append(out, t, 8);
        }
        return BROOK_OK;
}

static brook_err_t windowed_deserialize(const void *data, size_t size,
                                        brook_arena_t *arena, void **objp,
                                        void *opaque, char *errstr,
                                        size_t errstr_size)
{
        const windowed_serde_t *ws = opaque;
        size_t sfx = ws->session ? 16 : 8;
        const unsigned char *p = data;
        brook_windowed_key_t *wk;
        brook_err_t err;

        if (!data) {
                *objp = NULL;
                return BROOK_OK;
        }
        if (size < sfx) {
                brook__seterr(errstr, errstr_size,
                              "a %s-windowed key has at least %zu bytes; this "
                              "one has %zu",
                              ws->session ? "session" : "time", sfx, size);
                return BROOK_ERR_SERDE;
        }
        wk = brook_arena_alloc(arena, sizeof *wk);
        if ((err = brook_serde_deserialize(ws->inner, data, size - sfx, arena,
                                           &wk->key, errstr, errstr_size)))
                return err;
        if (ws->session) {
                wk->window.end = be64_get(p + size - 16);
                wk->window.start = be64_get(p + size - 8);
        } else {
                wk->window.start = be64_get(p + size - 8);
                /* Kafka Streams' timeWindowForSize(): truncated to
                 * Long.MAX on overflow. */
                wk->window.end = wk->window.start > INT64_MAX - ws->size_ms
                                         ? INT64_MAX
                                         : wk->window.start + ws->size_ms;
        }
        *objp = wk;
        return BROOK_OK;
}

static void windowed_destroy(void *opaque)
{
        windowed_serde_t *ws = opaque;
        brook__serde_unref(ws->inner);
        free(ws);
}

static brook_serde_t *windowed_new(const char *name, const brook_serde_t *inner,
                                   int64_t size_ms, bool session, char *errstr,
                                   size_t errstr_size)
{
        windowed_serde_t *ws;
        brook_serde_t *serde;

        if (!inner) {
                brook__seterr(errstr, errstr_size, "%s: the key serde is NULL",
                              name);
                return NULL;
        }
        if (!session && size_ms <= 0) {
                brook__seterr(errstr, errstr_size,
                              "%s: the window size must be positive", name);
                return NULL;
        }
        ws = brook__xcalloc(1, sizeof *ws);
        ws->inner = brook__serde_ref(inner);
        ws->size_ms = size_ms;
        ws->session = session;
        serde = brook_serde_new(name, windowed_serialize, windowed_deserialize,
                                ws, windowed_destroy, errstr, errstr_size);
        if (!serde)
                windowed_destroy(ws);
        return serde;
}

brook_serde_t *brook_serde_time_windowed(const brook_serde_t *inner,
                                         int64_t window_size_ms, char *errstr,
                                         size_t errstr_size)
{
        return windowed_new("time-windowed", inner, window_size_ms, false,
                            errstr, errstr_size);
}

brook_serde_t *brook_serde_session_windowed(const brook_serde_t *inner,
                                            char *errstr, size_t errstr_size)
{
        return windowed_new("session-windowed", inner, 0, true, errstr,
                            errstr_size);
}
