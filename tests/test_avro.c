/*
 * Unit tests of the Avro serdes without a registry (engine/avro.c): the
 * Confluent framing, every Avro type, Avro's JSON encoding, schema
 * resolution with reader defaults, and the errors a bad record gets.
 * Writer schemas are put in the client's id cache as if fetched; the
 * registry itself, and byte-for-byte agreement with Java's serializers,
 * are tested against a real registry in test_integration_avro.c.
 *
 * The datums below are the Avro binary encoding written out by hand from
 * the specification.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "avro_int.h"
#include "fuzz/avro_schemas.h"

static const unsigned char V1_DATUM[] = {0x02, 0x06, 0x61, 0x62, 0x63, 0x00,
                                         0x00, 0x80, 0x3f, 0x02, 0x78, 0x04,
                                         0x04, 0x02, 0x04, 0x00, 0x02, 0x7a};

static const unsigned char ALL_ONE[] = {
        0x01, 0x09, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 0x00, 0x00, 0x20, 0x40,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xbf, 0x04, 0x00, 0xff, 0x06,
        0x68, 0xc3, 0xa9, 0x02, 0x61, 0x62, 0x63, 0x64, 0x04, 0x0e, 0x0d, 0x00,
        0x02, 0x02, 0x6b, 0x02, 0x76, 0x00, 0x04, 0x04, 0x04, 0x01, 0x00, 0xf0,
        0xa8, 0x02, 0x80, 0xa0, 0xab, 0xfe, 0xf9, 0x62, 0x80, 0x80, 0xf2, 0x81,
        0x83, 0x89, 0x85, 0x06, 0x48, 0x31, 0x32, 0x33, 0x65, 0x34, 0x35, 0x36,
        0x37, 0x2d, 0x65, 0x38, 0x39, 0x62, 0x2d, 0x31, 0x32, 0x64, 0x33, 0x2d,
        0x61, 0x34, 0x35, 0x36, 0x2d, 0x34, 0x32, 0x36, 0x36, 0x31, 0x34, 0x31,
        0x37, 0x34, 0x30, 0x30, 0x30};

/* ALL_ONE's fields in JSON, without "next". */
#define ALL_JSON_FIELDS                                                        \
        "\"n\":null,\"b\":true,\"i\":-5,\"l\":1099511627776,\"f\":2.5,"        \
        "\"d\":-0.125,\"by\":\"\\u0000\\u00ff\",\"s\":\"h\\u00e9\","           \
        "\"e\":\"GREEN\",\"fx\":\"abcd\",\"a\":[7,-7],\"m\":{\"k\":\"v\"},"    \
        "\"u\":{\"brook.test.Color\":\"BLUE\"},\"dec\":\"\\u0001\\u0000\","    \
        "\"date\":19000,\"tsm\":1700000000000,\"tsu\":1700000000000000,"       \
        "\"uuid\":\"123e4567-e89b-12d3-a456-426614174000\""

static brook_schema_registry_t *new_sr(void)
{
        brook_conf_t *conf = brook_conf_new();
        brook_schema_registry_t *sr;
        char err[512];
        /* Nothing listens on port 1: a request fails at once. */
        assert_int_equal(brook_conf_set(conf, "schema.registry.url",
                                        "http://127.0.0.1:1", err, sizeof err),
                         BROOK_OK);
        assert_int_equal(brook_conf_set(conf,
                                        "schema.registry.request.timeout.ms",
                                        "1000", err, sizeof err),
                         BROOK_OK);
        sr = brook_schema_registry_new(conf, err, sizeof err);
        assert_non_null(sr);
        brook_conf_destroy(conf);
        assert_int_equal(
                brook__sr_preload(sr, 1, AVRO_ALL_TYPES, err, sizeof err),
                BROOK_OK);
        assert_int_equal(brook__sr_preload(sr, 2, AVRO_V1, err, sizeof err),
                         BROOK_OK);
        return sr;
}

/* Magic byte, id @p id, then @p datum: into @p out; returns the size. */
static size_t frame(unsigned char *out, int32_t id, const void *datum,
                    size_t size)
{
        out[0] = 0;
        brook__be_put(out + 1, (uint32_t)id, 4);
        memcpy(out + 5, datum, size);
        return size + 5;
}

static void assert_json(json_t *got, const char *want)
{
        json_error_t jerr;
        json_t *w = json_loads(want, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        char *g;
        assert_non_null(w);
        if (!json_equal(got, w)) {
                g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
                fail_msg("got  %s\nwant %s", g, want);
        }
        json_decref(w);
}

/* Every type, logical types and a recursive union: decoded, as JSON,
 * from JSON, and written again byte for byte. */
static void test_all_types(void **state)
{
        brook_schema_registry_t *sr = new_sr();
        const brook__avro_schema_t *s;
        unsigned char buf[512];
        char err[512];
        avro_value_t v, back;
        size_t n, size;
        json_t *j;
        (void)state;

        /* ALL_ONE with next = another ALL_ONE with next = null. */
        memcpy(buf + 5, ALL_ONE, sizeof ALL_ONE);
        buf[5 + sizeof ALL_ONE] = 0x02;
        memcpy(buf + 6 + sizeof ALL_ONE, ALL_ONE, sizeof ALL_ONE);
        buf[6 + 2 * sizeof ALL_ONE] = 0x00;
        n = 7 + 2 * sizeof ALL_ONE;
        buf[0] = 0;
        brook__be_put(buf + 1, 1, 4);

        assert_int_equal(
                brook__avro_decode(sr, NULL, buf, n, &v, err, sizeof err),
                BROOK_OK);
        j = brook_avro_to_json(&v, err, sizeof err);
        assert_non_null(j);
        assert_json(j, "{" ALL_JSON_FIELDS
                       ",\"next\":{\"brook.test.All\":{" ALL_JSON_FIELDS
                       ",\"next\":null}}}");

        /* JSON back to a value, and that value written: the same bytes. */
        assert_int_equal(brook__sr_schema_by_id(sr, 1, &s, err, sizeof err),
                         BROOK_OK);
        avro_generic_value_new(s->iface, &back);
        assert_int_equal(brook_avro_from_json(&back, j, err, sizeof err),
                         BROOK_OK);
        assert_true(avro_value_equal(&v, &back));
        assert_int_equal(avro_value_sizeof(&back, &size), 0);
        assert_int_equal(size, n - 5);
        {
                char out[512];
                avro_writer_t wr = avro_writer_memory(out, (int64_t)size);
                assert_int_equal(avro_value_write(wr, &back), 0);
                avro_writer_free(wr);
                assert_memory_equal(out, buf + 5, size);
        }
        json_decref(j);
        avro_value_decref(&back);
        avro_value_decref(&v);
        brook_schema_registry_destroy(sr);
}

/* An old writer, a new reader: promotions, an alias, a removed field, an
 * enum symbol the reader lacks, and defaults of every kind. */
static void test_resolution(void **state)
{
        brook_schema_registry_t *sr = new_sr();
        brook__avro_schema_t *v2;
        unsigned char buf[64];
        char err[512];
        avro_value_t v;
        size_t n;
        json_t *j;
        (void)state;

        v2 = brook__avro_schema_parse(AVRO_V2, err, sizeof err);
        assert_non_null(v2);
        n = frame(buf, 2, V1_DATUM, sizeof V1_DATUM);
        assert_int_equal(
                brook__avro_decode(sr, v2, buf, n, &v, err, sizeof err),
                BROOK_OK);
        j = brook_avro_to_json(&v, err, sizeof err);
        assert_json(j, "{\"id\":1,\"medication\":\"abc\",\"dose\":1.0,"
                       "\"state\":\"NEW\",\"tags\":[1.0,2.0],\"note\":\"z\","
                       "\"pharmacy\":\"none\",\"refills\":3,\"ward\":null,"
                       "\"code\":\"\\u00ff\\u0001\",\"extra\":{\"a\":1},"
                       "\"who\":{\"n\":\"?\"}}");
        json_decref(j);
        avro_value_decref(&v);

        /* The same writer without resolution: as written. */
        assert_int_equal(
                brook__avro_decode(sr, NULL, buf, n, &v, err, sizeof err),
                BROOK_OK);
        j = brook_avro_to_json(&v, err, sizeof err);
        assert_json(j, "{\"id\":1,\"drug\":\"abc\",\"dose\":1.0,"
                       "\"gone\":\"x\",\"state\":\"RECALLED\",\"tags\":[1,2],"
                       "\"note\":\"z\"}");
        json_decref(j);
        avro_value_decref(&v);
        brook__avro_schema_free(v2);
        brook_schema_registry_destroy(sr);
}

/* Readers that cannot read the writer: each error names the field. */
static void test_resolution_errors(void **state)
{
        brook_schema_registry_t *sr = new_sr();
        static const struct {
                const char *reader, *why;
        } cases[] = {
                {"{\"type\":\"record\",\"name\":\"Rx\",\"fields\":["
                 "{\"name\":\"id\",\"type\":\"int\"},"
                 "{\"name\":\"x\",\"type\":\"string\"}]}",
                 "Avro deserializer: writer schema id 2: Avro schemas do not "
                 "resolve: the writer has no field $.x and the reader's has "
                 "no default"},
                {"{\"type\":\"record\",\"name\":\"Rx\",\"fields\":["
                 "{\"name\":\"state\",\"type\":{\"type\":\"enum\",\"name\":"
                 "\"State\",\"symbols\":[\"NEW\"]}}]}",
                 "Avro deserializer: writer schema id 2: Avro schemas do not "
                 "resolve at $.state: the reader's enum \"State\" has no "
                 "symbol \"RECALLED\" and no default"},
                {"{\"type\":\"record\",\"name\":\"Rx\",\"fields\":["
                 "{\"name\":\"dose\",\"type\":\"int\"}]}",
                 "Avro deserializer: writer schema id 2: Avro schemas do not "
                 "resolve at $.dose: the writer's float cannot be read as the "
                 "reader's int"},
                {"{\"type\":\"record\",\"name\":\"Rx\",\"fields\":["
                 "{\"name\":\"y\",\"type\":\"int\",\"default\":\"no\"}]}",
                 "Avro deserializer: writer schema id 2: the reader's default "
                 "for $.y does not fit its type: JSON at $.y: expected a "
                 "32-bit integer, got a string"},
        };
        unsigned char buf[64];
        char err[512];
        avro_value_t v;
        size_t i, n = frame(buf, 2, V1_DATUM, sizeof V1_DATUM);
        (void)state;

        for (i = 0; i < sizeof cases / sizeof *cases; i++) {
                brook__avro_schema_t *r = brook__avro_schema_parse(
                        cases[i].reader, err, sizeof err);
                assert_non_null(r);
                assert_int_equal(
                        brook__avro_decode(sr, r, buf, n, &v, err, sizeof err),
                        BROOK_ERR_SERDE);
                assert_string_equal(err, cases[i].why);
                brook__avro_schema_free(r);
        }
        brook_schema_registry_destroy(sr);
}

/* What a bad record gets: each message says why. */
static void test_bad_records(void **state)
{
        brook_schema_registry_t *sr = new_sr();
        unsigned char buf[64];
        char err[512];
        avro_value_t v;
        size_t n;
        (void)state;

        assert_int_equal(
                brook__avro_decode(sr, NULL, "\0\0\0", 3, &v, err, sizeof err),
                BROOK_ERR_SERDE);
        assert_string_equal(err, "Avro deserializer: 3 bytes is too short for "
                                 "the Confluent wire format (magic byte 0 and "
                                 "a 4-byte schema id)");
        assert_int_equal(brook__avro_decode(sr, NULL, "{\"a\":1}", 7, &v, err,
                                            sizeof err),
                         BROOK_ERR_SERDE);
        assert_string_equal(err, "Avro deserializer: unknown magic byte 0x7b "
                                 "(the Confluent wire format starts with "
                                 "0x00)");
        /* Cut inside "abc". */
        n = frame(buf, 2, V1_DATUM, 3);
        assert_int_equal(
                brook__avro_decode(sr, NULL, buf, n, &v, err, sizeof err),
                BROOK_ERR_SERDE);
        assert_string_equal(err, "Avro data is truncated or corrupt: a string "
                                 "of 3 bytes with 1 left");
        /* An array claiming more items than there are bytes. */
        {
                unsigned char bad[] = {0x02, 0x02, 0x61, 0x00, 0x00,
                                       0x80, 0x3f, 0x02, 0x78, 0x00,
                                       0xfe, 0xff, 0xff, 0xff, 0x0f};
                n = frame(buf, 2, bad, sizeof bad);
                assert_int_equal(brook__avro_decode(sr, NULL, buf, n, &v, err,
                                                    sizeof err),
                                 BROOK_ERR_SERDE);
                assert_string_equal(err, "Avro data is truncated or corrupt: "
                                         "more items than the data holds");
        }
        /* An enum index past its symbols. */
        {
                unsigned char bad[] = {0x02, 0x02, 0x61, 0x00, 0x00, 0x80,
                                       0x3f, 0x02, 0x78, 0x06, 0x00, 0x00};
                n = frame(buf, 2, bad, sizeof bad);
                assert_int_equal(brook__avro_decode(sr, NULL, buf, n, &v, err,
                                                    sizeof err),
                                 BROOK_ERR_SERDE);
                assert_string_equal(err, "Avro data is truncated or corrupt: "
                                         "an enum index out of range");
        }
        /* Items that take no bytes: a count that would overflow a running
         * total, and nested arrays multiplying a per-array cap. */
        {
                static const unsigned char huge[] = {0x02, 0xfe, 0xff, 0xff,
                                                     0xff, 0xff, 0xff, 0xff,
                                                     0xff, 0xff, 0x01, 0x00};
                unsigned char nested[64];
                size_t k = 0, j;
                assert_int_equal(brook__sr_preload(sr, 4,
                                                   "{\"type\":\"array\","
                                                   "\"items\":\"null\"}",
                                                   err, sizeof err),
                                 BROOK_OK);
                assert_int_equal(
                        brook__sr_preload(sr, 5,
                                          "{\"type\":\"array\",\"items\":"
                                          "{\"type\":\"array\",\"items\":"
                                          "\"null\"}}",
                                          err, sizeof err),
                        BROOK_OK);
                n = frame(buf, 4, huge, sizeof huge);
                assert_int_equal(brook__avro_decode(sr, NULL, buf, n, &v, err,
                                                    sizeof err),
                                 BROOK_ERR_SERDE);
                assert_string_equal(err, "Avro data is truncated or corrupt: "
                                         "more items than the data holds");
                /* 3 arrays of 40,000 nulls: 8 bytes of data. */
                nested[k++] = 0x06;
                for (j = 0; j < 3; j++) {
                        nested[k++] = 0x80; /* 40000, zig-zag varint */
                        nested[k++] = 0xf1;
                        nested[k++] = 0x04;
                        nested[k++] = 0x00;
                }
                nested[k++] = 0x00;
                n = frame(buf, 5, nested, k);
                assert_int_equal(brook__avro_decode(sr, NULL, buf, n, &v, err,
                                                    sizeof err),
                                 BROOK_ERR_SERDE);
                assert_string_equal(err, "Avro data is truncated or corrupt: "
                                         "more items than the data holds");
                /* One array of 40,000 is fine. */
                nested[0] = 0x02;
                nested[5] = 0x00;
                n = frame(buf, 5, nested, 6);
                assert_int_equal(brook__avro_decode(sr, NULL, buf, n, &v, err,
                                                    sizeof err),
                                 BROOK_OK);
                avro_value_decref(&v);
        }
        /* An id not in the cache, and a registry that cannot be reached. */
        n = frame(buf, 99, V1_DATUM, sizeof V1_DATUM);
        assert_int_equal(
                brook__avro_decode(sr, NULL, buf, n, &v, err, sizeof err),
                BROOK_ERR_SERDE);
        assert_non_null(strstr(err, "Schema Registry http://127.0.0.1:1 "
                                    "cannot be reached: "));
        brook_schema_registry_destroy(sr);
}

/* The JSON serde decodes to Avro's JSON encoding, owned by the arena;
 * the value serde to avro_value_t. */
static void test_serdes(void **state)
{
        brook_schema_registry_t *sr = new_sr();
        brook_arena_t *arena = brook_arena_new();
        brook_serde_t *js, *vs;
        unsigned char buf[64];
        char err[512];
        void *obj;
        size_t n = frame(buf, 2, V1_DATUM, sizeof V1_DATUM);
        int32_t id;
        (void)state;

        js = brook_serde_avro_json_new(sr, AVRO_V2, false, err, sizeof err);
        vs = brook_serde_avro_new(sr, NULL, false, err, sizeof err);
        assert_non_null(js);
        assert_non_null(vs);
        assert_string_equal(brook_serde_name(js), "avro-json");
        assert_int_equal(brook_serde_deserialize(js, buf, n, arena, &obj, err,
                                                 sizeof err),
                         BROOK_OK);
        assert_json(obj, "{\"id\":1,\"medication\":\"abc\",\"dose\":1.0,"
                         "\"state\":\"NEW\",\"tags\":[1.0,2.0],\"note\":\"z\","
                         "\"pharmacy\":\"none\",\"refills\":3,\"ward\":null,"
                         "\"code\":\"\\u00ff\\u0001\",\"extra\":{\"a\":1},"
                         "\"who\":{\"n\":\"?\"}}");
        assert_int_equal(brook_serde_deserialize(vs, buf, n, arena, &obj, err,
                                                 sizeof err),
                         BROOK_OK);
        {
                avro_value_t f;
                assert_int_equal(avro_value_get_by_name((avro_value_t *)obj,
                                                        "id", &f, NULL),
                                 0);
                avro_value_get_int(&f, &id);
                assert_int_equal(id, 1);
        }
        /* No topic here: TopicNameStrategy cannot name a subject. */
        {
                brook_buf_t *out = brook_buf_new();
                assert_int_equal(
                        brook_serde_serialize(vs, obj, out, err, sizeof err),
                        BROOK_ERR_SERDE);
                assert_non_null(strstr(err, "the subject name strategy needs "
                                            "a topic"));
                brook_buf_destroy(out);
        }
        brook_arena_destroy(arena);
        brook_serde_destroy(js);
        brook_serde_destroy(vs);
        /* The serdes held references: the caller's is the last. */
        brook_schema_registry_destroy(sr);
}

static void test_bad_schemas_and_conf(void **state)
{
        brook_conf_t *conf = brook_conf_new();
        brook_schema_registry_t *sr;
        char err[512];
        (void)state;

        sr = brook_schema_registry_new(conf, err, sizeof err);
        assert_null(sr);
        assert_string_equal(err, "Configuration property "
                                 "\"schema.registry.url\" is not set: the "
                                 "Avro serdes need a Schema Registry, e.g. "
                                 "http://localhost:8081");
        assert_int_equal(brook_conf_set(conf, "schema.registry.url",
                                        "localhost:8081", err, sizeof err),
                         BROOK_OK);
        assert_null(brook_schema_registry_new(conf, err, sizeof err));
        assert_string_equal(err, "Invalid value \"localhost:8081\" for "
                                 "configuration property "
                                 "\"schema.registry.url\": expected http:// "
                                 "or https:// URLs, comma-separated");
        assert_int_equal(brook_conf_set(conf, "value.subject.name.strategy",
                                        "Nope", err, sizeof err),
                         BROOK_ERR_CONF_INVALID);
        assert_int_equal(brook_conf_set(conf, "bearer.auth.credentials.source",
                                        "OAUTHBEARER", err, sizeof err),
                         BROOK_ERR_CONF_INVALID);
        assert_non_null(strstr(err, "STATIC_TOKEN"));
        assert_int_equal(
                brook_conf_set(conf, "value.subject.name.strategy",
                               "io.confluent.kafka.serializers.subject."
                               "RecordNameStrategy",
                               err, sizeof err),
                BROOK_OK);
        assert_string_equal(brook_conf_get(conf, "value.subject.name.strategy"),
                            "RecordNameStrategy");
        brook_conf_destroy(conf);

        sr = new_sr();
        assert_null(brook_serde_avro_new(sr, "{\"type\":\"record\"", false, err,
                                         sizeof err));
        assert_non_null(strstr(err, "Avro schema is not JSON"));
        assert_null(brook_serde_avro_new(sr, "{\"type\":\"recrod\"}", false,
                                         err, sizeof err));
        assert_non_null(strstr(err, "Avro schema is not valid"));
        brook_schema_registry_destroy(sr);
}

/* JSON that does not fit the schema: the path and the reason. */
static void test_from_json_errors(void **state)
{
        brook__avro_schema_t *s;
        char err[512];
        avro_value_t v;
        static const struct {
                const char *json, *why;
        } cases[] = {
                {"{\"id\":\"1\"}", "JSON at $.id: expected a 32-bit integer, "
                                   "got a string"},
                {"{\"id\":1}", "JSON at $.drug: the field is missing"},
                {"{\"id\":1,\"drug\":\"a\",\"dose\":1,\"gone\":\"\","
                 "\"state\":\"OLD\",\"tags\":[],\"note\":\"\"}",
                 "JSON at $.state: \"OLD\" is not a symbol of enum \"State\""},
                {"{\"id\":1,\"drug\":\"a\",\"dose\":1,\"gone\":\"\","
                 "\"state\":\"NEW\",\"tags\":[1,2.5],\"note\":\"\"}",
                 "JSON at $.tags[1]: expected a 32-bit integer, got a number"},
                {"{\"id\":1,\"drug\":\"a\",\"dose\":1,\"gone\":\"\","
                 "\"state\":\"NEW\",\"tags\":[],\"note\":\"\\u0100\"}",
                 "JSON at $.note: expected a string of code points 0 to 255, "
                 "got a string"},
        };
        size_t i;
        (void)state;

        s = brook__avro_schema_parse(AVRO_V1, err, sizeof err);
        assert_non_null(s);
        for (i = 0; i < sizeof cases / sizeof *cases; i++) {
                json_t *j = json_loads(cases[i].json, 0, NULL);
                assert_non_null(j);
                avro_generic_value_new(s->iface, &v);
                assert_int_equal(brook_avro_from_json(&v, j, err, sizeof err),
                                 BROOK_ERR_SERDE);
                assert_string_equal(err, cases[i].why);
                avro_value_decref(&v);
                json_decref(j);
        }
        brook__avro_schema_free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_all_types),
                cmocka_unit_test(test_resolution),
                cmocka_unit_test(test_resolution_errors),
                cmocka_unit_test(test_bad_records),
                cmocka_unit_test(test_serdes),
                cmocka_unit_test(test_bad_schemas_and_conf),
                cmocka_unit_test(test_from_json_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
