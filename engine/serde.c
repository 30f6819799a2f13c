/*
 * brook — serdes: the built-in fixed-width and byte serdes, user serdes,
 * and the calls every operator goes through to (de)serialize.
 *
 * The numeric encodings are Java's (Kafka's Serdes.Integer(), Long(),
 * Double()): big-endian two's complement and IEEE 754 bits, so that brook
 * and Kafka Streams applications can read each other's topics and stores.
 * The JSON serde lives in serde_json.c.
 */
#include <stdlib.h>
#include <string.h>

#include "brook_int.h"

/* Every serde function has the full callback signature; the built-ins
 * ignore the parts (opaque, errstr) they have no use for. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

/* -------------------------------------------------------------- encoding */

/* Big-endian fields: brook__be_put() and brook__be_get() (brook_int.h). */

/* Java's deserializers reject data of the wrong size rather than read a
 * prefix of it: a wrong size means the topic holds something else, and
 * silently decoding garbage would hide that. */
static brook_err_t brook__check_width(const char *what, size_t width,
                                      size_t size, char *errstr,
                                      size_t errstr_size)
{
        if (size == width)
                return BROOK_OK;
        brook__seterr(errstr, errstr_size,
                      "%s deserializer: expected %zu bytes, got %zu", what,
                      width, size);
        return BROOK_ERR_SERDE;
}

/* ----------------------------------------------------------------- bytes */

static brook_err_t brook__bytes_ser(const void *obj, brook_buf_t *out,
                                    void *opaque, char *errstr,
                                    size_t errstr_size)
{
        const brook_bytes_t *bytes = obj;
        brook_buf_append(out, bytes->data, bytes->size);
        return BROOK_OK;
}

static brook_err_t brook__bytes_deser(const void *data, size_t size,
                                      brook_arena_t *arena, void **objp,
                                      void *opaque, char *errstr,
                                      size_t errstr_size)
{
        /* No copy: the input record outlives the arena's generation. */
        brook_bytes_t *bytes = brook_arena_alloc(arena, sizeof *bytes);
        bytes->data = data;
        bytes->size = size;
        *objp = bytes;
        return BROOK_OK;
}

/* ---------------------------------------------------------------- string */

static brook_err_t brook__string_ser(const void *obj, brook_buf_t *out,
                                     void *opaque, char *errstr,
                                     size_t errstr_size)
{
        brook_buf_append(out, obj, strlen(obj));
        return BROOK_OK;
}

static brook_err_t brook__string_deser(const void *data, size_t size,
                                       brook_arena_t *arena, void **objp,
                                       void *opaque, char *errstr,
                                       size_t errstr_size)
{
        /* Copied, because a string object must be NUL-terminated and the
         * Kafka payload is not. UTF-8 is not validated: Java's
         * StringDeserializer replaces bad sequences instead of failing,
         * and passing the bytes through loses less. */
        char *str = brook_arena_alloc(arena, size + 1);
        memcpy(str, data, size);
        str[size] = '\0';
        *objp = str;
        return BROOK_OK;
}

/* ----------------------------------------------------------------- int32 */

static brook_err_t brook__int32_ser(const void *obj, brook_buf_t *out,
                                    void *opaque, char *errstr,
                                    size_t errstr_size)
{
        unsigned char *p = brook_buf_reserve(out, 4);
        brook__be_put(p, (uint32_t) * (const int32_t *)obj, 4);
        brook_buf_advance(out, 4);
        return BROOK_OK;
}

static brook_err_t brook__int32_deser(const void *data, size_t size,
                                      brook_arena_t *arena, void **objp,
                                      void *opaque, char *errstr,
                                      size_t errstr_size)
{
        brook_err_t err =
                brook__check_width("int32", 4, size, errstr, errstr_size);
        if (err)
                return err;
        *objp = brook_int32_new(arena,
                                (int32_t)(uint32_t)brook__be_get(data, 4));
        return BROOK_OK;
}

/* ----------------------------------------------------------------- int64 */

static brook_err_t brook__int64_ser(const void *obj, brook_buf_t *out,
                                    void *opaque, char *errstr,
                                    size_t errstr_size)
{
        unsigned char *p = brook_buf_reserve(out, 8);
        brook__be_put(p, (uint64_t) * (const int64_t *)obj, 8);
        brook_buf_advance(out, 8);
        return BROOK_OK;
}

static brook_err_t brook__int64_deser(const void *data, size_t size,
                                      brook_arena_t *arena, void **objp,
                                      void *opaque, char *errstr,
                                      size_t errstr_size)
{
        brook_err_t err =
                brook__check_width("int64", 8, size, errstr, errstr_size);
        if (err)
                return err;
        *objp = brook_int64_new(arena, (int64_t)brook__be_get(data, 8));
        return BROOK_OK;
}

/* ---------------------------------------------------------------- double */

static brook_err_t brook__double_ser(const void *obj, brook_buf_t *out,
                                     void *opaque, char *errstr,
                                     size_t errstr_size)
{
        unsigned char *p = brook_buf_reserve(out, 8);
        uint64_t bits;
        memcpy(&bits, obj, 8);
        brook__be_put(p, bits, 8);
        brook_buf_advance(out, 8);
        return BROOK_OK;
}

static brook_err_t brook__double_deser(const void *data, size_t size,
                                       brook_arena_t *arena, void **objp,
                                       void *opaque, char *errstr,
                                       size_t errstr_size)
{
        uint64_t bits;
        double v;
        brook_err_t err =
                brook__check_width("double", 8, size, errstr, errstr_size);
        if (err)
                return err;
        bits = brook__be_get(data, 8);
        memcpy(&v, &bits, 8);
        *objp = brook_double_new(arena, v);
        return BROOK_OK;
}

/* ------------------------------------------------------------- built-ins */

static const brook_serde_t brook__serde_bytes_s = {
        .name = "bytes",
        .serialize = brook__bytes_ser,
        .deserialize = brook__bytes_deser,
};
static const brook_serde_t brook__serde_string_s = {
        .name = "string",
        .serialize = brook__string_ser,
        .deserialize = brook__string_deser,
};
static const brook_serde_t brook__serde_int32_s = {
        .name = "int32",
        .serialize = brook__int32_ser,
        .deserialize = brook__int32_deser,
};
static const brook_serde_t brook__serde_int64_s = {
        .name = "int64",
        .serialize = brook__int64_ser,
        .deserialize = brook__int64_deser,
};
static const brook_serde_t brook__serde_double_s = {
        .name = "double",
        .serialize = brook__double_ser,
        .deserialize = brook__double_deser,
};

const brook_serde_t *brook_serde_bytes(void)
{
        return &brook__serde_bytes_s;
}

const brook_serde_t *brook_serde_string(void)
{
        return &brook__serde_string_s;
}

const brook_serde_t *brook_serde_int32(void)
{
        return &brook__serde_int32_s;
}

const brook_serde_t *brook_serde_int64(void)
{
        return &brook__serde_int64_s;
}

const brook_serde_t *brook_serde_double(void)
{
        return &brook__serde_double_s;
}

const brook_serde_t *brook_serde_by_name(const char *name, char *errstr,
                                         size_t errstr_size)
{
        /* Kafka's class names are accepted so that a Kafka Streams
         * properties file (default.key.serde=...) works unchanged. Bytes
         * and ByteBuffer serdes are byte-for-byte the same as ByteArray on
         * the wire. */
        static const struct {
                const char *name;
                const brook_serde_t *(*serde)(void);
        } names[] = {
                {"bytes", brook_serde_bytes},
                {"string", brook_serde_string},
                {"int32", brook_serde_int32},
                {"int64", brook_serde_int64},
                {"double", brook_serde_double},
                {"json", brook_serde_json},
                {"org.apache.kafka.common.serialization.Serdes$ByteArraySerde",
                 brook_serde_bytes},
                {"org.apache.kafka.common.serialization.Serdes$BytesSerde",
                 brook_serde_bytes},
                {"org.apache.kafka.common.serialization.Serdes$ByteBufferSerde",
                 brook_serde_bytes},
                {"org.apache.kafka.common.serialization.Serdes$StringSerde",
                 brook_serde_string},
                {"org.apache.kafka.common.serialization.Serdes$IntegerSerde",
                 brook_serde_int32},
                {"org.apache.kafka.common.serialization.Serdes$LongSerde",
                 brook_serde_int64},
                {"org.apache.kafka.common.serialization.Serdes$DoubleSerde",
                 brook_serde_double},
        };
        size_t i;

        for (i = 0; name && i < sizeof names / sizeof names[0]; i++)
                if (!strcmp(names[i].name, name))
                        return names[i].serde();
        brook__seterr(errstr, errstr_size,
                      "unknown serde \"%s\": expected bytes, string, int32, "
                      "int64, double, json, or a Kafka "
                      "org.apache.kafka.common.serialization.Serdes class "
                      "name",
                      name ? name : "(null)");
        return NULL;
}

const void *brook__serde_stable(const brook_serde_t *serde, const void *data,
                                size_t size, brook_arena_t *arena)
{
        if (!data || !serde ||
            (serde->refcnt == 0 && serde != &brook__serde_bytes_s))
                return data;
        return brook_arena_memdup(arena, data, size);
}

/* ------------------------------------------------------------ user serdes */

brook_serde_t *brook_serde_new(const char *name, brook_serialize_fn serialize,
                               brook_deserialize_fn deserialize, void *opaque,
                               void (*opaque_destroy)(void *), char *errstr,
                               size_t errstr_size)
{
        brook_serde_t *serde;
        if (!serialize && !deserialize) {
                brook__seterr(errstr, errstr_size,
                              "serde \"%s\" has neither a serializer nor a "
                              "deserializer",
                              name ? name : "custom");
                return NULL;
        }
        serde = brook__xcalloc(1, sizeof *serde);
        serde->name = brook__xstrdup(name ? name : "custom");
        serde->serialize = serialize;
        serde->deserialize = deserialize;
        serde->opaque = opaque;
        serde->opaque_destroy = opaque_destroy;
        serde->refcnt = 1;
        return serde;
}

const brook_serde_t *brook__serde_ref(const brook_serde_t *serde)
{
        /* Built-ins (refcnt 0) are static and shared by every thread, so
         * they are never written to. Atomic because apps on different
         * threads may hold the same user serde. */
        if (serde && __atomic_load_n(&serde->refcnt, __ATOMIC_RELAXED) > 0)
                __atomic_fetch_add(&((brook_serde_t *)serde)->refcnt, 1,
                                   __ATOMIC_RELAXED);
        return serde;
}

void brook__serde_unref(const brook_serde_t *serde)
{
        brook_serde_t *s = (brook_serde_t *)serde;

        if (!s || __atomic_load_n(&s->refcnt, __ATOMIC_RELAXED) <= 0)
                return;
        if (__atomic_sub_fetch(&s->refcnt, 1, __ATOMIC_ACQ_REL) != 0)
                return;
        if (s->opaque_destroy)
                s->opaque_destroy(s->opaque);
        free((char *)s->name);
        free(s);
}

void brook_serde_destroy(brook_serde_t *serde)
{
        brook__serde_unref(serde);
}

const char *brook_serde_name(const brook_serde_t *serde)
{
        return serde ? serde->name : NULL;
}

/* ------------------------------------------------------------------ calls */

brook_err_t brook_serde_serialize(const brook_serde_t *serde, const void *obj,
                                  brook_buf_t *out, char *errstr,
                                  size_t errstr_size)
{
        size_t len;
        brook_err_t err;
        char first = 0;

        /* Kafka's null has no bytes; the caller knows it is null. Checked
         * first, as serde.h promises OK for it whatever the serde. */
        if (!obj)
                return BROOK_OK;
        if (!serde || !out) {
                brook__seterr(errstr, errstr_size,
                              "brook_serde_serialize: %s is NULL",
                              !serde ? "serde" : "out");
                return BROOK_ERR_INVALID_ARG;
        }
        if (!serde->serialize) {
                brook__seterr(errstr, errstr_size,
                              "serde \"%s\" has no serializer", serde->name);
                return BROOK_ERR_SERDE;
        }

        len = out->len;
        /* Cleared to see whether a failing serializer gave a reason; put
         * back on success, since errstr is written only on failure. */
        if (errstr && errstr_size) {
                first = errstr[0];
                errstr[0] = '\0';
        }
        err = serde->serialize(obj, out, serde->opaque, errstr, errstr_size);
        if (!err && errstr && errstr_size)
                errstr[0] = first;
        if (err) {
                /* A failed serializer may have written part of its output;
                 * dropping it keeps the buffer's earlier contents usable. */
                out->len = len;
                if (errstr && errstr_size && !errstr[0])
                        brook__seterr(errstr, errstr_size,
                                      "serde \"%s\" failed to serialize: %s",
                                      serde->name, brook_err2str(err));
                return BROOK_ERR_SERDE;
        }
        return BROOK_OK;
}

brook_err_t brook_serde_deserialize(const brook_serde_t *serde,
                                    const void *data, size_t size,
                                    brook_arena_t *arena, void **objp,
                                    char *errstr, size_t errstr_size)
{
        brook_err_t err;
        char first = 0;

        if (!objp) {
                brook__seterr(errstr, errstr_size,
                              "brook_serde_deserialize: objp is NULL");
                return BROOK_ERR_INVALID_ARG;
        }
        *objp = NULL;
        /* Kafka's null decodes to NULL whatever the serde. */
        if (!data)
                return BROOK_OK;
        if (!serde || !arena) {
                brook__seterr(errstr, errstr_size,
                              "brook_serde_deserialize: %s is NULL",
                              !serde ? "serde" : "arena");
                return BROOK_ERR_INVALID_ARG;
        }
        if (!serde->deserialize) {
                brook__seterr(errstr, errstr_size,
                              "serde \"%s\" has no deserializer", serde->name);
                return BROOK_ERR_SERDE;
        }

        if (errstr && errstr_size) { /* as in brook_serde_serialize() */
                first = errstr[0];
                errstr[0] = '\0';
        }
        err = serde->deserialize(data, size, arena, objp, serde->opaque, errstr,
                                 errstr_size);
        if (!err && errstr && errstr_size)
                errstr[0] = first;
        if (err) {
                *objp = NULL;
                if (errstr && errstr_size && !errstr[0])
                        brook__seterr(errstr, errstr_size,
                                      "serde \"%s\" failed to deserialize: %s",
                                      serde->name, brook_err2str(err));
                return BROOK_ERR_SERDE;
        }
        return BROOK_OK;
}

/* ---------------------------------------------------------------- helpers */

int32_t *brook_int32_new(brook_arena_t *arena, int32_t v)
{
        int32_t *p = brook_arena_alloc(arena, sizeof *p);
        *p = v;
        return p;
}

int64_t *brook_int64_new(brook_arena_t *arena, int64_t v)
{
        int64_t *p = brook_arena_alloc(arena, sizeof *p);
        *p = v;
        return p;
}

double *brook_double_new(brook_arena_t *arena, double v)
{
        double *p = brook_arena_alloc(arena, sizeof *p);
        *p = v;
        return p;
}

/* ----------------------------------------------------------------- topic */

_Thread_local const char *brook__serde_topic_tl;

const char *brook_serde_topic(void)
{
        return brook__serde_topic_tl;
}

brook_err_t brook__serde_serialize_to(const char *topic,
                                      const brook_serde_t *serde,
                                      const void *obj, brook_buf_t *out,
                                      char *errstr, size_t errstr_size)
{
        brook_err_t err;
        brook__serde_topic_tl = topic;
        err = brook_serde_serialize(serde, obj, out, errstr, errstr_size);
        brook__serde_topic_tl = NULL;
        return err;
}

brook_err_t brook__serde_deserialize_from(const char *topic,
                                          const brook_serde_t *serde,
                                          const void *data, size_t size,
                                          brook_arena_t *arena, void **objp,
                                          char *errstr, size_t errstr_size)
{
        brook_err_t err;
        brook__serde_topic_tl = topic;
        err = brook_serde_deserialize(serde, data, size, arena, objp, errstr,
                                      errstr_size);
        brook__serde_topic_tl = NULL;
        return err;
}
