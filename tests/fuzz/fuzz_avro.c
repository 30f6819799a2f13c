/*
 * Fuzz target: the Avro deserializer (engine/avro.c) on a record's bytes,
 * the Confluent wire format: magic byte, schema id, Avro binary, decoded
 * with the writer's schema or resolved to a reader's.
 *
 * Input: one byte choosing the writer schema and the reader (none, or the
 * evolved one), then the payload. The payload's id is replaced by the
 * chosen schema's when it is long enough (ids the registry does not know
 * would each cost a request; that path has its own tests), so the magic
 * byte and the data are what is fuzzed. Checked:
 *   - decoding fails with a message, or gives a value;
 *   - a value converts to Avro's JSON encoding (or fails with a message:
 *     strings need not be UTF-8), and back, to an equal value;
 *   - a value written again and decoded again is equal to it.
 */
#include "avro_int.h"
#include "fuzz_input.h"

#include "avro_schemas.h"

#define LIST                                                                   \
        "{\"type\":\"record\",\"name\":\"Node\",\"fields\":["                  \
        "{\"name\":\"v\",\"type\":\"int\"},"                                   \
        "{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}"

static brook_schema_registry_t *sr;
static brook__avro_schema_t *reader;

static void setup(void)
{
        brook_conf_t *conf = brook_conf_new();
        char err[512];
        CHECK(!brook_conf_set(conf, "schema.registry.url", "http://127.0.0.1:1",
                              err, sizeof err));
        sr = brook_schema_registry_new(conf, err, sizeof err);
        CHECK(sr);
        brook_conf_destroy(conf);
        CHECK(!brook__sr_preload(sr, 1, AVRO_ALL_TYPES, err, sizeof err));
        CHECK(!brook__sr_preload(sr, 2, AVRO_V1, err, sizeof err));
        CHECK(!brook__sr_preload(sr, 3, LIST, err, sizeof err));
        /* Items that take no bytes, nested: avro-c allocates each. */
        CHECK(!brook__sr_preload(sr, 4,
                                 "{\"type\":\"array\",\"items\":{\"type\":"
                                 "\"array\",\"items\":\"null\"}}",
                                 err, sizeof err));
        CHECK(!brook__sr_preload(sr, 5,
                                 "{\"type\":\"map\",\"values\":{\"type\":"
                                 "\"array\",\"items\":{\"type\":\"record\","
                                 "\"name\":\"Empty\",\"fields\":[]}}}",
                                 err, sizeof err));
        reader = brook__avro_schema_parse(AVRO_V2, err, sizeof err);
        CHECK(reader);
}

/* @p v in Avro binary (malloc'd). */
static char *encode(avro_value_t *v, size_t *sizep)
{
        avro_writer_t wr;
        char *buf;
        CHECK(!avro_value_sizeof(v, sizep));
        buf = malloc(*sizep + 1);
        wr = avro_writer_memory(buf, (int64_t)*sizep);
        CHECK(!avro_value_write(wr, v));
        avro_writer_free(wr);
        return buf;
}

/* Values are compared by their encodings and JSON: avro_value_equal()
 * finds NaN unequal to itself. */
static void check_value(avro_value_t *v)
{
        avro_value_iface_t *iface =
                avro_generic_class_from_schema(avro_value_get_schema(v));
        char err[512], *buf, *buf2;
        json_t *j = brook_avro_to_json(v, err, sizeof err), *j2;
        avro_value_t again;
        avro_reader_t rd;
        size_t size, size2;

        if (j) {
                avro_generic_value_new(iface, &again);
                CHECK(!brook_avro_from_json(&again, j, err, sizeof err));
                j2 = brook_avro_to_json(&again, err, sizeof err);
                CHECK(j2 && json_equal(j, j2));
                json_decref(j2);
                avro_value_decref(&again);
                json_decref(j);
        } else {
                CHECK(err[0]);
        }

        buf = encode(v, &size);
        avro_generic_value_new(iface, &again);
        rd = avro_reader_memory(buf, (int64_t)size);
        CHECK(!avro_value_read(rd, &again));
        avro_reader_free(rd);
        buf2 = encode(&again, &size2);
        CHECK(size == size2 && !memcmp(buf, buf2, size));
        avro_value_decref(&again);
        avro_value_iface_decref(iface);
        free(buf);
        free(buf2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        fuzz_input_t in = {data, size};
        uint8_t sel = fuzz_u8(&in);
        int32_t id = 1 + sel % 5;
        bool resolve = id == 2 && (sel & 0x10);
        uint8_t *p;
        avro_value_t v;
        char err[512];

        if (!sr)
                setup();
        p = malloc(in.n ? in.n : 1);
        memcpy(p, in.p, in.n);
        if (in.n >= 5)
                brook__be_put(p + 1, (uint32_t)id, 4);
        err[0] = '\0';
        if (!brook__avro_decode(sr, resolve ? reader : NULL, p, in.n, &v, err,
                                sizeof err)) {
                check_value(&v);
                avro_value_decref(&v);
        } else {
                CHECK(err[0]);
        }
        free(p);
        return 0;
}
