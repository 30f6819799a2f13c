/*
 * brook — the JSON serde, on jansson.
 *
 * Objects are json_t *. Decoded objects are owned by the record's arena
 * (json_decref runs when it is reset), so user functions that only read a
 * value never manage reference counts.
 */
#include <jansson.h>

#include "brook_int.h"

/* Every serde function has the full callback signature; the built-ins
 * ignore the parts (opaque, errstr) they have no use for. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

/* json_decref is an inline function taking json_t *; the arena calls
 * destructors through void (*)(void *). */
static void brook__json_decref(void *json)
{
        json_decref(json);
}

/* Compact, as Kafka Connect's JsonConverter and Jackson's default writer
 * produce; ENCODE_ANY so that a bare number or string is a valid value. */
#define BROOK__JSON_DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

/* jansson hands the encoding over in pieces; they go straight to the
 * end of the buffer. */
static int brook__json_append(const char *buffer, size_t size, void *data)
{
        brook_buf_append(data, buffer, size);
        return 0;
}

static brook_err_t brook__json_ser(const void *obj, brook_buf_t *out,
                                   void *opaque, char *errstr,
                                   size_t errstr_size)
{
        size_t start = out->len;

        /* One pass: json_dumpb() needs one pass to measure and a second to
         * write, so every value was encoded twice. */
        if (json_dump_callback(obj, brook__json_append, out,
                               BROOK__JSON_DUMP_FLAGS) ||
            out->len == start) {
                /* Nothing of a failed encoding stays in the buffer. */
                out->len = start;
                brook__seterr(errstr, errstr_size,
                              "json serializer: cannot encode the value "
                              "(jansson could not dump it)");
                return BROOK_ERR_SERDE;
        }
        return BROOK_OK;
}

static brook_err_t brook__json_deser(const void *data, size_t size,
                                     brook_arena_t *arena, void **objp,
                                     void *opaque, char *errstr,
                                     size_t errstr_size)
{
        json_error_t jerr;
        /* DECODE_ANY: a Kafka value may be a bare JSON scalar. */
        json_t *json = json_loadb(data, size, JSON_DECODE_ANY, &jerr);

        if (!json) {
                brook__seterr(errstr, errstr_size,
                              "json deserializer: %s at line %d, column %d "
                              "(byte %d of %zu)",
                              jerr.text, jerr.line, jerr.column, jerr.position,
                              size);
                return BROOK_ERR_SERDE;
        }
        brook_arena_defer(arena, brook__json_decref, json);
        *objp = json;
        return BROOK_OK;
}

static const brook_serde_t brook__serde_json_s = {
        .name = "json",
        .serialize = brook__json_ser,
        .deserialize = brook__json_deser,
};

const brook_serde_t *brook_serde_json(void)
{
        return &brook__serde_json_s;
}

void *brook_json_own(brook_arena_t *arena, void *json)
{
        if (json)
                brook_arena_defer(arena, brook__json_decref, json);
        return json;
}
