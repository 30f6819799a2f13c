/*
 * Unit tests of the built-in serdes, user serdes and the serialize /
 * deserialize calls. Exact bytes are Java's Serdes' encodings, so these
 * tests also pin wire compatibility with Kafka Streams.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "brook_int.h"

/* Serializes @p obj with @p serde and checks the output is exactly
 * @p expect (@p size bytes). */
static void check_ser(const brook_serde_t *serde, const void *obj,
                      const void *expect, size_t size)
{
        char errstr[256];
        brook_buf_t *buf = brook_buf_new();

        assert_int_equal(
                brook_serde_serialize(serde, obj, buf, errstr, sizeof errstr),
                BROOK_OK);
        assert_int_equal(brook_buf_len(buf), size);
        if (size)
                assert_memory_equal(brook_buf_data(buf), expect, size);
        brook_buf_destroy(buf);
}

/* Deserializes and checks the call succeeded; the object lives in
 * @p arena. */
static void *check_deser(const brook_serde_t *serde, const void *data,
                         size_t size, brook_arena_t *arena)
{
        char errstr[256] = "";
        void *obj = (void *)1;

        assert_int_equal(brook_serde_deserialize(serde, data, size, arena, &obj,
                                                 errstr, sizeof errstr),
                         BROOK_OK);
        return obj;
}

/* Deserializes, expecting failure with a message containing @p substr. */
static void check_deser_fails(const brook_serde_t *serde, const void *data,
                              size_t size, const char *substr)
{
        char errstr[512] = "";
        void *obj = (void *)1;
        brook_arena_t *arena = brook_arena_new();

        assert_int_equal(brook_serde_deserialize(serde, data, size, arena, &obj,
                                                 errstr, sizeof errstr),
                         BROOK_ERR_SERDE);
        assert_null(obj);
        if (!strstr(errstr, substr))
                fail_msg("error \"%s\" lacks \"%s\"", errstr, substr);
        brook_arena_destroy(arena);
}

static void test_int32(void **state)
{
        static const unsigned char b258[] = {0x00, 0x00, 0x01, 0x02};
        static const unsigned char bneg[] = {0xff, 0xff, 0xff, 0xfe};
        static const unsigned char bmin[] = {0x80, 0x00, 0x00, 0x00};
        int32_t v258 = 258, vneg = -2, vmin = INT32_MIN;
        brook_arena_t *arena = brook_arena_new();

        check_ser(brook_serde_int32(), &v258, b258, 4);
        check_ser(brook_serde_int32(), &vneg, bneg, 4);
        check_ser(brook_serde_int32(), &vmin, bmin, 4);
        assert_int_equal(
                *(int32_t *)check_deser(brook_serde_int32(), b258, 4, arena),
                258);
        assert_int_equal(
                *(int32_t *)check_deser(brook_serde_int32(), bneg, 4, arena),
                -2);
        assert_int_equal(
                *(int32_t *)check_deser(brook_serde_int32(), bmin, 4, arena),
                INT32_MIN);
        check_deser_fails(brook_serde_int32(), b258, 3,
                          "int32 deserializer: expected 4 bytes, got 3");
        check_deser_fails(brook_serde_int32(), "12345", 5,
                          "int32 deserializer: expected 4 bytes, got 5");
        check_deser_fails(brook_serde_int32(), "", 0,
                          "int32 deserializer: expected 4 bytes, got 0");
        brook_arena_destroy(arena);
}

static void test_int64(void **state)
{
        static const unsigned char bm1[] = {0xff, 0xff, 0xff, 0xff,
                                            0xff, 0xff, 0xff, 0xff};
        static const unsigned char bbig[] = {0x01, 0x02, 0x03, 0x04,
                                             0x05, 0x06, 0x07, 0x08};
        int64_t vm1 = -1, vbig = 0x0102030405060708LL;
        brook_arena_t *arena = brook_arena_new();

        check_ser(brook_serde_int64(), &vm1, bm1, 8);
        check_ser(brook_serde_int64(), &vbig, bbig, 8);
        assert_int_equal(
                *(int64_t *)check_deser(brook_serde_int64(), bm1, 8, arena),
                -1);
        assert_int_equal(
                *(int64_t *)check_deser(brook_serde_int64(), bbig, 8, arena),
                0x0102030405060708LL);
        check_deser_fails(brook_serde_int64(), bbig, 4,
                          "int64 deserializer: expected 8 bytes, got 4");
        brook_arena_destroy(arena);
}

static void test_double(void **state)
{
        static const unsigned char b15[] = {0x3f, 0xf8, 0x00, 0x00,
                                            0x00, 0x00, 0x00, 0x00};
        static const unsigned char bm2[] = {0xc0, 0x00, 0x00, 0x00,
                                            0x00, 0x00, 0x00, 0x00};
        double v15 = 1.5, vm2 = -2.0;
        brook_arena_t *arena = brook_arena_new();
        double *d;

        check_ser(brook_serde_double(), &v15, b15, 8);
        check_ser(brook_serde_double(), &vm2, bm2, 8);
        d = check_deser(brook_serde_double(), b15, 8, arena);
        assert_true(*d == 1.5);
        d = check_deser(brook_serde_double(), bm2, 8, arena);
        assert_true(*d == -2.0);
        check_deser_fails(brook_serde_double(), b15, 7,
                          "double deserializer: expected 8 bytes, got 7");
        brook_arena_destroy(arena);
}

static void test_string(void **state)
{
        static const char bytes[] = {'h', 'i', '\xc3', '\xa9'};
        brook_arena_t *arena = brook_arena_new();
        char *s;

        check_ser(brook_serde_string(), "hi\xc3\xa9", bytes, 4);
        check_ser(brook_serde_string(), "", "", 0);

        /* The payload is not NUL-terminated; the object must be. */
        s = check_deser(brook_serde_string(), bytes, 4, arena);
        assert_string_equal(s, "hi\xc3\xa9");
        assert_ptr_not_equal(s, bytes);
        s = check_deser(brook_serde_string(), "", 0, arena);
        assert_string_equal(s, "");
        /* Invalid UTF-8 passes through unchanged. */
        s = check_deser(brook_serde_string(), "\xff\xfe", 2, arena);
        assert_memory_equal(s, "\xff\xfe", 3);
        brook_arena_destroy(arena);
}

static void test_bytes(void **state)
{
        static const unsigned char data[] = {0x00, 0x01, 0xff};
        brook_bytes_t in = {data, sizeof data}, empty = {NULL, 0};
        brook_arena_t *arena = brook_arena_new();
        brook_bytes_t *out;

        check_ser(brook_serde_bytes(), &in, data, 3);
        check_ser(brook_serde_bytes(), &empty, "", 0);
        out = check_deser(brook_serde_bytes(), data, 3, arena);
        /* No copy: the object points into the input. */
        assert_ptr_equal(out->data, data);
        assert_int_equal(out->size, 3);
        out = check_deser(brook_serde_bytes(), data, 0, arena);
        assert_ptr_equal(out->data, data);
        assert_int_equal(out->size, 0);
        brook_arena_destroy(arena);
}

/* Decoded objects belong to the arena: their reference is dropped when it
 * is reset, which the test sees through a reference of its own. */
static void test_json(void **state)
{
        brook_arena_t *arena = brook_arena_new();
        json_t *obj = json_pack("{s:i}", "a", 1), *arr, *got;

        check_ser(brook_serde_json(), obj, "{\"a\":1}", 7);
        /* ENCODE_ANY: scalars are values too. */
        got = json_integer(42);
        check_ser(brook_serde_json(), got, "42", 2);
        json_decref(got);
        got = json_string("x");
        check_ser(brook_serde_json(), got, "\"x\"", 3);
        json_decref(got);
        arr = json_pack("[i,s,n,b]", 1, "two", 1);
        check_ser(brook_serde_json(), arr, "[1,\"two\",null,true]", 19);
        json_decref(arr);

        got = check_deser(brook_serde_json(), "{\"a\": 1, \"b\": [true]}", 21,
                          arena);
        assert_true(json_is_object(got));
        assert_int_equal(json_integer_value(json_object_get(got, "a")), 1);
        /* The arena holds the only reference; keep one to see it go. */
        json_incref(got);
        assert_int_equal(got->refcount, 2);
        brook_arena_reset(arena);
        assert_int_equal(got->refcount, 1);
        json_decref(got);

        /* DECODE_ANY: a bare scalar decodes. */
        got = check_deser(brook_serde_json(), "3.25", 4, arena);
        assert_true(json_is_real(got));
        assert_true(json_real_value(got) == 3.25);
        got = check_deser(brook_serde_json(), "null", 4, arena);
        assert_true(json_is_null(got));

        /* Input is not NUL-terminated: only size bytes count. */
        got = check_deser(brook_serde_json(), "[1]garbage", 3, arena);
        assert_int_equal(json_array_size(got), 1);

        check_deser_fails(brook_serde_json(), "{\"a\":", 5,
                          "json deserializer");
        check_deser_fails(brook_serde_json(), "{\"a\" 1}", 7, "line 1, column");
        check_deser_fails(brook_serde_json(), "", 0, "json deserializer");
        check_deser_fails(brook_serde_json(), "{}\n{}", 5,
                          "end of file expected");
        check_deser_fails(brook_serde_json(), "\n\n  x", 5, "line 3");

        json_decref(obj);
        brook_arena_destroy(arena);
}

/* The encoder writes into the buffer as it goes: after what is there
 * already, in as many pieces as jansson hands over, and leaving nothing
 * behind when it fails. */
static void test_json_encode_in_place(void **state)
{
        brook_buf_t *buf = brook_buf_new();
        char errstr[256] = "";
        size_t big = 100000;
        char *s = malloc(big + 1);
        json_t *obj, *arr, *loop;
        const char *out;

        /* Appends after existing bytes. */
        brook_buf_append(buf, "head:", 5);
        obj = json_pack("{s:[i,i]}", "k", 1, 2);
        assert_int_equal(brook_serde_serialize(brook_serde_json(), obj, buf,
                                               errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_buf_len(buf), 5 + 11);
        assert_memory_equal(brook_buf_data(buf), "head:{\"k\":[1,2]}", 16);
        json_decref(obj);

        /* A value far bigger than jansson's internal pieces, after a
         * buffer that already has room: exact, in order. */
        for (size_t i = 0; i < big; i++)
                s[i] = (char)('a' + i % 26);
        s[big] = '\0';
        arr = json_pack("[s,i]", s, 7);
        brook_buf_clear(buf);
        assert_int_equal(brook_serde_serialize(brook_serde_json(), arr, buf,
                                               errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_buf_len(buf), big + 6);
        out = brook_buf_data(buf);
        assert_memory_equal(out, "[\"", 2);
        assert_memory_equal(out + 2, s, big);
        assert_memory_equal(out + 2 + big, "\",7]", 4);
        json_decref(arr);

        /* A cycle cannot be encoded: an error, and the buffer keeps only
         * what it had. */
        arr = json_array();
        loop = json_object();
        json_array_append(arr, loop);
        json_object_set(loop, "back", arr);
        brook_buf_clear(buf);
        brook_buf_append(buf, "keep", 4);
        assert_int_equal(brook_serde_serialize(brook_serde_json(), arr, buf,
                                               errstr, sizeof errstr),
                         BROOK_ERR_SERDE);
        assert_non_null(strstr(errstr, "json serializer"));
        assert_int_equal(brook_buf_len(buf), 4);
        assert_memory_equal(brook_buf_data(buf), "keep", 4);
        /* Break the cycle so that both are freed. */
        json_object_clear(loop);
        json_decref(loop);
        json_decref(arr);

        free(s);
        brook_buf_destroy(buf);
}

static void test_json_own(void **state)
{
        brook_arena_t *arena = brook_arena_new();
        json_t *j = json_object();

        assert_ptr_equal(brook_json_own(arena, j), j);
        assert_null(brook_json_own(arena, NULL));
        json_incref(j);
        brook_arena_reset(arena);
        assert_int_equal(j->refcount, 1);
        json_decref(j);
        /* Destroy runs deferred decrefs too; ASan would see a leak. */
        brook_json_own(arena, json_array());
        brook_arena_destroy(arena);
}

static void test_null(void **state)
{
        const brook_serde_t *all[] = {
                brook_serde_bytes(), brook_serde_string(), brook_serde_int32(),
                brook_serde_int64(), brook_serde_double(), brook_serde_json()};
        brook_arena_t *arena = brook_arena_new();
        brook_buf_t *buf = brook_buf_new();
        char errstr[64];
        size_t i;

        brook_buf_append(buf, "x", 1);
        for (i = 0; i < sizeof all / sizeof all[0]; i++) {
                void *obj = (void *)1;
                /* Kafka's null has no bytes: nothing is appended. */
                assert_int_equal(brook_serde_serialize(all[i], NULL, buf,
                                                       errstr, sizeof errstr),
                                 BROOK_OK);
                assert_int_equal(brook_buf_len(buf), 1);
                assert_int_equal(brook_serde_deserialize(all[i], NULL, 0, arena,
                                                         &obj, errstr,
                                                         sizeof errstr),
                                 BROOK_OK);
                assert_null(obj);
                /* Even with a size: NULL data is null. */
                obj = (void *)1;
                assert_int_equal(brook_serde_deserialize(all[i], NULL, 4, arena,
                                                         &obj, errstr,
                                                         sizeof errstr),
                                 BROOK_OK);
                assert_null(obj);
        }
        /* Empty data is not null: a zero-length string is a value. */
        assert_string_equal(check_deser(brook_serde_string(), "", 0, arena),
                            "");
        brook_buf_destroy(buf);
        brook_arena_destroy(arena);
}

static void test_appends(void **state)
{
        static const unsigned char expect[] = {'k', 0x00, 0x00, 0x00, 0x07};
        brook_buf_t *buf = brook_buf_new();
        int32_t seven = 7;

        /* Serializers append; they never overwrite what is there. */
        assert_int_equal(
                brook_serde_serialize(brook_serde_string(), "k", buf, NULL, 0),
                BROOK_OK);
        assert_int_equal(brook_serde_serialize(brook_serde_int32(), &seven, buf,
                                               NULL, 0),
                         BROOK_OK);
        assert_int_equal(brook_buf_len(buf), 5);
        assert_memory_equal(brook_buf_data(buf), expect, 5);
        brook_buf_destroy(buf);
}

static void test_by_name(void **state)
{
        static const struct {
                const char *name;
                const char *canonical;
        } names[] = {
                {"bytes", "bytes"},
                {"string", "string"},
                {"int32", "int32"},
                {"int64", "int64"},
                {"double", "double"},
                {"json", "json"},
                {"org.apache.kafka.common.serialization.Serdes$StringSerde",
                 "string"},
                {"org.apache.kafka.common.serialization.Serdes$ByteArraySerde",
                 "bytes"},
                {"org.apache.kafka.common.serialization.Serdes$IntegerSerde",
                 "int32"},
                {"org.apache.kafka.common.serialization.Serdes$LongSerde",
                 "int64"},
                {"org.apache.kafka.common.serialization.Serdes$DoubleSerde",
                 "double"},
        };
        size_t i;

        char errstr[512] = "";

        for (i = 0; i < sizeof names / sizeof names[0]; i++) {
                const brook_serde_t *s =
                        brook_serde_by_name(names[i].name, NULL, 0);
                assert_non_null(s);
                assert_string_equal(brook_serde_name(s), names[i].canonical);
        }
        assert_ptr_equal(brook_serde_by_name("string", errstr, sizeof errstr),
                         brook_serde_string());
        assert_string_equal(errstr, ""); /* untouched on success */
        assert_ptr_equal(brook_serde_by_name("json", NULL, 0),
                         brook_serde_json());
        assert_null(brook_serde_by_name("String", NULL, 0));
        assert_null(brook_serde_by_name("", NULL, 0));
        assert_null(brook_serde_by_name(NULL, errstr, sizeof errstr));
        assert_string_equal(errstr, "unknown serde \"(null)\": expected "
                                    "bytes, string, int32, int64, double, "
                                    "json, or a Kafka "
                                    "org.apache.kafka.common.serialization."
                                    "Serdes class name");
        assert_null(brook_serde_by_name("avro", errstr, sizeof errstr));
        assert_string_equal(errstr, "unknown serde \"avro\": expected "
                                    "bytes, string, int32, int64, double, "
                                    "json, or a Kafka "
                                    "org.apache.kafka.common.serialization."
                                    "Serdes class name");
}

/* ------------------------------------------------------------ user serde */

typedef struct {
        int destroyed;
        int sers, desers;
} user_state_t;

static void user_destroy(void *opaque)
{
        ((user_state_t *)opaque)->destroyed++;
}

/* Encodes an int as one byte; fails on values over 255 after writing a
 * partial byte, to check the partial output is dropped. */
static brook_err_t user_ser(const void *obj, brook_buf_t *out, void *opaque,
                            char *errstr, size_t errstr_size)
{
        int v = *(const int *)obj;
        unsigned char b = (unsigned char)v;

        ((user_state_t *)opaque)->sers++;
        brook_buf_append(out, &b, 1);
        if (v > 255) {
                brook__seterr(errstr, errstr_size, "%d does not fit", v);
                return BROOK_ERR_SERDE;
        }
        return BROOK_OK;
}

static brook_err_t user_deser(const void *data, size_t size,
                              brook_arena_t *arena, void **objp, void *opaque,
                              char *errstr, size_t errstr_size)
{
        int *v;

        ((user_state_t *)opaque)->desers++;
        if (size != 1)
                /* No message: the caller must write one. */
                return BROOK_ERR_SERDE;
        v = brook_arena_alloc(arena, sizeof *v);
        *v = *(const unsigned char *)data;
        *objp = v;
        return BROOK_OK;
}

static void test_user_serde(void **state)
{
        user_state_t st = {0};
        brook_serde_t *serde = brook_serde_new("byte", user_ser, user_deser,
                                               &st, user_destroy, NULL, 0);
        brook_arena_t *arena = brook_arena_new();
        brook_buf_t *buf = brook_buf_new();
        char errstr[256] = "";
        int v = 200, big = 300;
        void *obj = NULL;

        assert_string_equal(brook_serde_name(serde), "byte");

        brook_buf_append(buf, "ab", 2);
        assert_int_equal(
                brook_serde_serialize(serde, &v, buf, errstr, sizeof errstr),
                BROOK_OK);
        assert_int_equal(brook_buf_len(buf), 3);
        assert_int_equal(((const unsigned char *)brook_buf_data(buf))[2], 200);

        assert_int_equal(
                brook_serde_serialize(serde, &big, buf, errstr, sizeof errstr),
                BROOK_ERR_SERDE);
        assert_string_equal(errstr, "300 does not fit");
        assert_int_equal(brook_buf_len(buf), 3);
        assert_int_equal(st.sers, 2);

        assert_int_equal(brook_serde_deserialize(serde, "\x07", 1, arena, &obj,
                                                 errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(*(int *)obj, 7);
        errstr[0] = '\0';
        assert_int_equal(brook_serde_deserialize(serde, "xy", 2, arena, &obj,
                                                 errstr, sizeof errstr),
                         BROOK_ERR_SERDE);
        assert_null(obj);
        assert_non_null(strstr(errstr, "\"byte\""));
        /* Null never reaches the user's functions. */
        assert_int_equal(brook_serde_deserialize(serde, NULL, 0, arena, &obj,
                                                 errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(st.desers, 2);

        /* Reference counting: the opaque goes with the last reference,
         * exactly once. */
        assert_ptr_equal(brook__serde_ref(serde), serde);
        assert_ptr_equal(brook__serde_ref(serde), serde);
        brook_serde_destroy(serde);
        brook__serde_unref(serde);
        assert_int_equal(st.destroyed, 0);
        brook__serde_unref(serde);
        assert_int_equal(st.destroyed, 1);

        brook_buf_destroy(buf);
        brook_arena_destroy(arena);
}

static void test_user_serde_needs_a_function(void **state)
{
        user_state_t st = {0};
        char errstr[512] = "";

        assert_null(brook_serde_new("neither", NULL, NULL, &st, user_destroy,
                                    errstr, sizeof errstr));
        assert_string_equal(errstr, "serde \"neither\" has neither a "
                                    "serializer nor a deserializer");
        /* The caller keeps its opaque: the destructor never ran. */
        assert_int_equal(st.destroyed, 0);
}

static void test_user_serde_partial(void **state)
{
        /* A serde without a serializer can still deserialize, and a NULL
         * opaque_destroy is fine. */
        user_state_t st = {0};
        brook_serde_t *serde =
                brook_serde_new(NULL, NULL, user_deser, &st, NULL, NULL, 0);
        brook_buf_t *buf = brook_buf_new();
        brook_arena_t *arena = brook_arena_new();
        char errstr[256];
        void *obj;
        int v = 1;

        assert_string_equal(brook_serde_name(serde), "custom");
        assert_int_equal(
                brook_serde_serialize(serde, &v, buf, errstr, sizeof errstr),
                BROOK_ERR_SERDE);
        assert_non_null(strstr(errstr, "no serializer"));
        assert_int_equal(brook_serde_deserialize(serde, "\x01", 1, arena, &obj,
                                                 errstr, sizeof errstr),
                         BROOK_OK);
        brook_serde_destroy(serde);
        brook_buf_destroy(buf);
        brook_arena_destroy(arena);
}

static void test_builtin_refs(void **state)
{
        /* Built-ins are static: references and destroys change nothing. */
        const brook_serde_t *s = brook_serde_string();

        assert_ptr_equal(brook__serde_ref(s), s);
        brook__serde_unref(s);
        brook__serde_unref(s);
        brook_serde_destroy((brook_serde_t *)s);
        brook_serde_destroy(NULL);
        brook__serde_unref(NULL);
        assert_null(brook__serde_ref(NULL));
        assert_int_equal(s->refcnt, 0);
        assert_string_equal(brook_serde_name(s), "string");
}

static void test_bad_args(void **state)
{
        brook_arena_t *arena = brook_arena_new();
        brook_buf_t *buf = brook_buf_new();
        char errstr[128];
        void *obj;
        int32_t v = 1;

        assert_int_equal(
                brook_serde_serialize(NULL, &v, buf, errstr, sizeof errstr),
                BROOK_ERR_INVALID_ARG);
        assert_int_equal(brook_serde_serialize(brook_serde_int32(), &v, NULL,
                                               errstr, sizeof errstr),
                         BROOK_ERR_INVALID_ARG);
        assert_int_equal(brook_serde_deserialize(brook_serde_int32(), "1234", 4,
                                                 NULL, &obj, errstr,
                                                 sizeof errstr),
                         BROOK_ERR_INVALID_ARG);
        /* Null is null whatever the serde. */
        assert_int_equal(
                brook_serde_serialize(NULL, NULL, buf, errstr, sizeof errstr),
                BROOK_OK);
        assert_int_equal(brook_buf_len(buf), 0);
        obj = (void *)1;
        assert_int_equal(brook_serde_deserialize(NULL, NULL, 0, arena, &obj,
                                                 errstr, sizeof errstr),
                         BROOK_OK);
        assert_null(obj);
        assert_int_equal(brook_serde_deserialize(NULL, "x", 1, arena, &obj,
                                                 errstr, sizeof errstr),
                         BROOK_ERR_INVALID_ARG);
        assert_int_equal(brook_serde_deserialize(brook_serde_int32(), "1234", 4,
                                                 arena, NULL, errstr,
                                                 sizeof errstr),
                         BROOK_ERR_INVALID_ARG);
        /* A NULL errstr is tolerated on failure. */
        assert_int_equal(brook_serde_deserialize(brook_serde_int32(), "1", 1,
                                                 arena, &obj, NULL, 0),
                         BROOK_ERR_SERDE);
        brook_buf_destroy(buf);
        brook_arena_destroy(arena);
}

static void test_helpers(void **state)
{
        brook_arena_t *arena = brook_arena_new();

        assert_int_equal(*brook_int32_new(arena, -5), -5);
        assert_int_equal(*brook_int64_new(arena, INT64_MAX), INT64_MAX);
        assert_true(*brook_double_new(arena, 0.25) == 0.25);
        brook_arena_destroy(arena);
}

static void test_err2str(void **state)
{
        brook_err_t e;

        assert_string_equal(brook_err2str(BROOK_OK), "Success");
        assert_string_equal(brook_err2str(BROOK_ERR_SERDE),
                            "Serialization error");
        for (e = BROOK_OK; e <= BROOK_ERR_FATAL; e++) {
                assert_non_null(brook_err2str(e));
                assert_string_not_equal(brook_err2str(e), "Unknown error");
        }
        assert_string_equal(brook_err2str((brook_err_t)999), "Unknown error");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_int32),
                cmocka_unit_test(test_int64),
                cmocka_unit_test(test_double),
                cmocka_unit_test(test_string),
                cmocka_unit_test(test_bytes),
                cmocka_unit_test(test_json),
                cmocka_unit_test(test_json_encode_in_place),
                cmocka_unit_test(test_json_own),
                cmocka_unit_test(test_null),
                cmocka_unit_test(test_appends),
                cmocka_unit_test(test_by_name),
                cmocka_unit_test(test_user_serde),
                cmocka_unit_test(test_user_serde_needs_a_function),
                cmocka_unit_test(test_user_serde_partial),
                cmocka_unit_test(test_builtin_refs),
                cmocka_unit_test(test_bad_args),
                cmocka_unit_test(test_helpers),
                cmocka_unit_test(test_err2str),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
