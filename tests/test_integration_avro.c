/*
 * Integration: Avro through a real Schema Registry (Apicurio Registry's
 * Confluent-compatible API, tools/registry/registry) and the real broker,
 * against Java's Avro serializers (tests/avro-java, the reference).
 *
 *   - every Avro type: what Java writes, brook reads; what brook writes
 *     for the schema Java registered is byte for byte what Java wrote;
 *     what brook writes, Java reads;
 *   - evolution: an old writer and a new reader give the same values in
 *     Java's resolution and brook's, in both directions;
 *   - the registry's refusal of an incompatible schema, and its answers
 *     for unknown ids and subjects;
 *   - a topology reading a Java producer's Avro, aggregating into an Avro
 *     store and writing Avro that a Java consumer decodes, with exact
 *     results, and malformed records dead-lettered with the reason.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "avro_int.h"
#include "fuzz/avro_schemas.h"
#include "kafka_util.h"

#define WAIT_MS 60000

static char registry_url[512];
static char tmpdir[256];

/* ------------------------------------------------------------ helpers */

static void write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

/* Runs the Java tool with @p args (a shell word list), @p input on its
 * stdin; returns its stdout (malloc'd). Fails the test if it fails. */
static char *java(const char *args, const char *input)
{
        char in[512], out[512], cmd[8192];
        int st;

        snprintf(in, sizeof in, "%s/java.in", tmpdir);
        snprintf(out, sizeof out, "%s/java.out", tmpdir);
        write_file(in, input ? input : "");
        snprintf(cmd, sizeof cmd, "'%s' %s < '%s' > '%s'", AVRO_JAVA_PATH, args,
                 in, out);
        st = system(cmd);
        if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st))
                fail_msg("java tool failed (%d): %s", st, cmd);
        return kt_slurp(out);
}

static char *schema_file(const char *name, const char *schema)
{
        static char path[8][512];
        static int next;
        char *p = path[next++ % 8];
        snprintf(p, 512, "%s/%s.avsc", tmpdir, name);
        write_file(p, schema);
        return p;
}

static brook_schema_registry_t *new_sr(void)
{
        brook_conf_t *conf = brook_conf_new();
        brook_schema_registry_t *sr;
        char err[512];
        assert_int_equal(brook_conf_set(conf, "schema.registry.url",
                                        registry_url, err, sizeof err),
                         BROOK_OK);
        sr = brook_schema_registry_new(conf, err, sizeof err);
        if (!sr)
                fail_msg("%s", err);
        brook_conf_destroy(conf);
        return sr;
}

static json_t *parse(const char *text)
{
        json_error_t jerr;
        json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (!j)
                fail_msg("not JSON (%s): %s", jerr.text, text);
        return j;
}

static void assert_json_equal(json_t *got, json_t *want, const char *what)
{
        char *g, *w;
        if (json_equal(got, want))
                return;
        g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
        w = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
        fail_msg("%s:\n got  %s\n want %s", what, g, w);
}

/* Splits @p text into its lines (in place); returns the count. */
static size_t lines(char *text, char **out, size_t max)
{
        size_t n = 0;
        char *save, *l;
        for (l = strtok_r(text, "\n", &save); l && n < max;
             l = strtok_r(NULL, "\n", &save))
                if (*l)
                        out[n++] = l;
        return n;
}

static size_t unhex(const char *hex, unsigned char *out, size_t max)
{
        size_t n = 0;
        unsigned v;
        while (hex[0] && hex[1] && n < max && sscanf(hex, "%2x", &v) == 1) {
                out[n++] = (unsigned char)v;
                hex += 2;
        }
        return n;
}

static void hexify(const void *data, size_t size, char *out)
{
        const unsigned char *p = data;
        size_t i;
        for (i = 0; i < size; i++)
                sprintf(out + 2 * i, "%02x", p[i]);
        out[2 * size] = '\0';
}

/* Serializes @p json with @p serde as for @p topic; hex in @p out. */
static void brook_encode(const brook_serde_t *serde, const char *topic,
                         json_t *json, char *out)
{
        brook_buf_t *buf = brook_buf_new();
        char err[1024];
        if (brook__serde_serialize_to(topic, serde, json, buf, err, sizeof err))
                fail_msg("serialize: %s", err);
        hexify(brook_buf_data(buf), brook_buf_len(buf), out);
        brook_buf_destroy(buf);
}

static json_t *brook_decode(const brook_serde_t *serde, const char *hex)
{
        unsigned char bytes[4096];
        brook_arena_t *arena = brook_arena_new();
        size_t n = unhex(hex, bytes, sizeof bytes);
        char err[1024];
        void *obj;
        json_t *j;
        if (brook_serde_deserialize(serde, bytes, n, arena, &obj, err,
                                    sizeof err))
                fail_msg("deserialize %s: %s", hex, err);
        j = json_incref(obj);
        brook_arena_destroy(arena);
        return j;
}

/* ------------------------------------------------------- every type */

/* Values of AVRO_ALL_TYPES in Avro's JSON encoding. Floats and doubles
 * are exact in binary, so JSON compares them exactly. */
#define ALL_BASE                                                               \
        "\"n\":null,\"b\":true,\"i\":-5,\"l\":1099511627776,\"f\":2.5,"        \
        "\"d\":-0.125,\"by\":\"\\u0000\\u00ff\",\"s\":\"h\\u00e9 \\u2603\","   \
        "\"e\":\"GREEN\",\"fx\":\"ab\\u00ffd\",\"a\":[7,-7],"                  \
        "\"m\":{\"k\":\"v\"},"                                                 \
        "\"dec\":\"\\u0001\\u0000\",\"date\":19000,\"tsm\":1700000000000,"     \
        "\"tsu\":1700000000000000,"                                            \
        "\"uuid\":\"123e4567-e89b-12d3-a456-426614174000\""

static const char *const all_values[] = {
        "{" ALL_BASE ",\"u\":{\"brook.test.Color\":\"BLUE\"},"
        "\"next\":{\"brook.test.All\":{" ALL_BASE ",\"u\":null,"
        "\"next\":null}}}",
        "{\"n\":null,\"b\":false,\"i\":2147483647,\"l\":-9223372036854775808,"
        "\"f\":-1.0e10,\"d\":1.5e300,\"by\":\"\",\"s\":\"\",\"e\":\"RED\","
        "\"fx\":\"\\u0000\\u0000\\u0000\\u0000\",\"a\":[],\"m\":{},"
        "\"u\":{\"string\":\"x\"},\"dec\":\"\\u00ff\",\"date\":-1,\"tsm\":0,"
        "\"tsu\":-1,\"uuid\":\"\",\"next\":null}",
};
#define ALL_CNT (sizeof all_values / sizeof *all_values)

static void test_all_types_both_ways(void **state)
{
        brook_schema_registry_t *sr = new_sr();
        char *tj = kt_unique("avro-all-j"), *tb = kt_unique("avro-all-b");
        char args[2048], input[8192] = "", *out, *hex[16], mine[4096];
        const char *registered;
        unsigned char head[5];
        brook_serde_t *reader, *writer, *ours;
        size_t i, n;
        int32_t id;
        char err[512];
        (void)state;

        for (i = 0; i < ALL_CNT; i++)
                snprintf(input + strlen(input), sizeof input - strlen(input),
                         "%s\n", all_values[i]);

        /* Java writes; brook reads (as written) each value back. */
        snprintf(args, sizeof args,
                 "encode --registry '%s' --topic '%s' "
                 "--schema '%s'",
                 registry_url, tj, schema_file("all", AVRO_ALL_TYPES));
        out = java(args, input);
        n = lines(out, hex, 16);
        assert_int_equal(n, ALL_CNT);
        reader = brook_serde_avro_json_new(sr, NULL, false, err, sizeof err);
        assert_non_null(reader);
        for (i = 0; i < n; i++) {
                json_t *got = brook_decode(reader, hex[i]),
                       *want = parse(all_values[i]);
                assert_json_equal(got, want, "brook reading Java's record");
                json_decref(got);
                json_decref(want);
        }

        /* brook writes with the schema Java registered: the same id, the
         * same bytes. */
        unhex(hex[0], head, 5);
        id = (int32_t)brook__be_get(head + 1, 4);
        assert_int_equal(brook_schema_registry_schema(sr, id, &registered, err,
                                                      sizeof err),
                         BROOK_OK);
        writer = brook_serde_avro_json_new(sr, registered, false, err,
                                           sizeof err);
        assert_non_null(writer);
        for (i = 0; i < n; i++) {
                json_t *v = parse(all_values[i]);
                brook_encode(writer, tj, v, mine);
                assert_string_equal(mine, hex[i]);
                json_decref(v);
        }

        /* brook writes with its own text (registered under another
         * subject); Java reads it. */
        ours = brook_serde_avro_json_new(sr, AVRO_ALL_TYPES, false, err,
                                         sizeof err);
        assert_non_null(ours);
        input[0] = '\0';
        for (i = 0; i < ALL_CNT; i++) {
                json_t *v = parse(all_values[i]);
                brook_encode(ours, tb, v, mine);
                snprintf(input + strlen(input), sizeof input - strlen(input),
                         "%s\n", mine);
                json_decref(v);
        }
        free(out);
        snprintf(args, sizeof args, "decode --registry '%s' --topic '%s'",
                 registry_url, tb);
        out = java(args, input);
        n = lines(out, hex, 16);
        assert_int_equal(n, ALL_CNT);
        for (i = 0; i < n; i++) {
                json_t *got = parse(hex[i]), *want = parse(all_values[i]);
                assert_json_equal(got, want, "Java reading brook's record");
                json_decref(got);
                json_decref(want);
        }
        /* brook registered under <topic>-value. */
        {
                int32_t latest;
                char subject[512];
                snprintf(subject, sizeof subject, "%s-value", tb);
                assert_int_equal(brook_schema_registry_version(
                                         sr, subject, -1, &latest, NULL, NULL,
                                         err, sizeof err),
                                 BROOK_OK);
                unhex(input, head, 5);
                assert_int_equal(latest, (int32_t)brook__be_get(head + 1, 4));
        }
        free(out);
        brook_serde_destroy(reader);
        brook_serde_destroy(writer);
        brook_serde_destroy(ours);
        brook_schema_registry_destroy(sr);
        free(tj);
        free(tb);
}

/* ------------------------------------------------------------ evolution */

static const char *const v1_values[] = {
        "{\"id\":1,\"drug\":\"amoxicillin\",\"dose\":2.5,\"gone\":\"x\","
        "\"state\":\"NEW\",\"tags\":[1,2],\"note\":\"ok!\"}",
        "{\"id\":-7,\"drug\":\"\",\"dose\":0.0,\"gone\":\"\","
        "\"state\":\"RECALLED\",\"tags\":[],\"note\":\"\"}",
        "{\"id\":2147483647,\"drug\":\"insulin\",\"dose\":-0.75,"
        "\"gone\":\"y\",\"state\":\"FILLED\",\"tags\":[2147483647],"
        "\"note\":\"ok\"}",
};
#define V1_CNT (sizeof v1_values / sizeof *v1_values)

static void test_evolution_matches_java(void **state)
{
        brook_schema_registry_t *sr = new_sr();
        char *tj = kt_unique("avro-evo-j"), *tb = kt_unique("avro-evo-b");
        char args[2048], input[8192] = "", *out, *jout, *hex[16], *jl[16];
        char mine[4096], hexes[8192] = "";
        brook_serde_t *v2, *v1;
        size_t i, n;
        char err[512];
        (void)state;

        for (i = 0; i < V1_CNT; i++)
                snprintf(input + strlen(input), sizeof input - strlen(input),
                         "%s\n", v1_values[i]);
        v2 = brook_serde_avro_json_new(sr, AVRO_V2, false, err, sizeof err);
        v1 = brook_serde_avro_json_new(sr, AVRO_V1, false, err, sizeof err);
        assert_non_null(v2);
        assert_non_null(v1);

        /* Java writes v1; Java and brook read it as v2. */
        snprintf(args, sizeof args,
                 "encode --registry '%s' --topic '%s' "
                 "--schema '%s'",
                 registry_url, tj, schema_file("v1", AVRO_V1));
        out = java(args, input);
        n = lines(out, hex, 16);
        assert_int_equal(n, V1_CNT);
        for (i = 0; i < n; i++)
                snprintf(hexes + strlen(hexes), sizeof hexes - strlen(hexes),
                         "%s\n", hex[i]);
        snprintf(args, sizeof args,
                 "decode --registry '%s' --topic '%s' "
                 "--reader-schema '%s'",
                 registry_url, tj, schema_file("v2", AVRO_V2));
        jout = java(args, hexes);
        assert_int_equal(lines(jout, jl, 16), V1_CNT);
        for (i = 0; i < n; i++) {
                json_t *got = brook_decode(v2, hex[i]), *want = parse(jl[i]);
                assert_json_equal(got, want, "v1 read as v2: brook vs Java");
                json_decref(got);
                json_decref(want);
        }
        /* One in full, so the reference itself is pinned. */
        {
                json_t *want = parse(
                        "{\"id\":-7,\"medication\":\"\",\"dose\":0.0,"
                        "\"state\":\"NEW\",\"tags\":[],\"note\":\"\","
                        "\"pharmacy\":\"none\",\"refills\":3,\"ward\":null,"
                        "\"code\":\"\\u00ff\\u0001\",\"extra\":{\"a\":1},"
                        "\"who\":{\"n\":\"?\"}}");
                json_t *got = brook_decode(v2, hex[1]);
                assert_json_equal(got, want, "v1 read as v2");
                json_decref(got);
                json_decref(want);
        }
        free(out);
        free(jout);

        /* brook writes v1; Java reads it as v2, as brook does. */
        hexes[0] = '\0';
        for (i = 0; i < V1_CNT; i++) {
                json_t *v = parse(v1_values[i]);
                brook_encode(v1, tb, v, mine);
                snprintf(hexes + strlen(hexes), sizeof hexes - strlen(hexes),
                         "%s\n", mine);
                json_decref(v);
        }
        snprintf(args, sizeof args,
                 "decode --registry '%s' --topic '%s' "
                 "--reader-schema '%s'",
                 registry_url, tb, schema_file("v2", AVRO_V2));
        jout = java(args, hexes);
        assert_int_equal(lines(jout, jl, 16), V1_CNT);
        n = lines(hexes, hex, 16);
        for (i = 0; i < n; i++) {
                json_t *got = brook_decode(v2, hex[i]), *want = parse(jl[i]);
                assert_json_equal(got, want, "brook's v1 read as v2");
                json_decref(got);
                json_decref(want);
        }
        free(jout);
        brook_serde_destroy(v1);
        brook_serde_destroy(v2);
        brook_schema_registry_destroy(sr);
        free(tj);
        free(tb);
}

/* Unions: a branch promoted inside a union, a plain value into a union,
 * an enum symbol the reader lacks inside a union. */
#define U_WRITER                                                               \
        "{\"type\":\"record\",\"name\":\"U\",\"fields\":["                     \
        "{\"name\":\"u\",\"type\":[\"null\",\"int\",\"string\"]},"             \
        "{\"name\":\"x\",\"type\":\"int\"},"                                   \
        "{\"name\":\"e\",\"type\":[\"null\",{\"type\":\"enum\",\"name\":"      \
        "\"E\",\"symbols\":[\"A\",\"B\",\"C\"]}]}]}"
#define U_READER                                                               \
        "{\"type\":\"record\",\"name\":\"U\",\"fields\":["                     \
        "{\"name\":\"u\",\"type\":[\"null\",\"string\",\"long\"]},"            \
        "{\"name\":\"x\",\"type\":[\"null\",\"double\"]},"                     \
        "{\"name\":\"e\",\"type\":[\"null\",{\"type\":\"enum\",\"name\":"      \
        "\"E\",\"symbols\":[\"A\",\"B\"],\"default\":\"A\"}]}]}"

static void test_union_evolution_matches_java(void **state)
{
        static const char *const values =
                "{\"u\":null,\"x\":1,\"e\":null}\n"
                "{\"u\":{\"int\":5},\"x\":-2,\"e\":{\"E\":\"C\"}}\n"
                "{\"u\":{\"string\":\"s\"},\"x\":0,\"e\":{\"E\":\"B\"}}\n";
        static const char *const want[] = {
                "{\"u\":null,\"x\":{\"double\":1.0},\"e\":null}",
                "{\"u\":{\"long\":5},\"x\":{\"double\":-2.0},"
                "\"e\":{\"E\":\"A\"}}",
                "{\"u\":{\"string\":\"s\"},\"x\":{\"double\":0.0},"
                "\"e\":{\"E\":\"B\"}}",
        };
        brook_schema_registry_t *sr = new_sr();
        char *topic = kt_unique("avro-union"), args[2048], hexes[4096] = "";
        char *out, *jout, *hex[8], *jl[8], err[512];
        brook_serde_t *r;
        size_t i;
        (void)state;

        snprintf(args, sizeof args,
                 "encode --registry '%s' --topic '%s' --schema '%s'",
                 registry_url, topic, schema_file("uw", U_WRITER));
        out = java(args, values);
        assert_int_equal(lines(out, hex, 8), 3);
        for (i = 0; i < 3; i++)
                snprintf(hexes + strlen(hexes), sizeof hexes - strlen(hexes),
                         "%s\n", hex[i]);
        snprintf(args, sizeof args,
                 "decode --registry '%s' --topic '%s' --reader-schema '%s'",
                 registry_url, topic, schema_file("ur", U_READER));
        jout = java(args, hexes);
        assert_int_equal(lines(jout, jl, 8), 3);
        r = brook_serde_avro_json_new(sr, U_READER, false, err, sizeof err);
        assert_non_null(r);
        for (i = 0; i < 3; i++) {
                json_t *got = brook_decode(r, hex[i]), *java_j = parse(jl[i]),
                       *w = parse(want[i]);
                assert_json_equal(java_j, w, "Java's resolution");
                assert_json_equal(got, w, "brook's resolution");
                json_decref(got);
                json_decref(java_j);
                json_decref(w);
        }
        brook_serde_destroy(r);
        brook_schema_registry_destroy(sr);
        free(out);
        free(jout);
        free(topic);
}

/* ------------------------------------------------------------- registry */

#define BASE_SCHEMA                                                            \
        "{\"type\":\"record\",\"name\":\"Vital\",\"fields\":["                 \
        "{\"name\":\"patient\",\"type\":\"string\"},"                          \
        "{\"name\":\"bpm\",\"type\":\"int\"}]}"
#define COMPATIBLE_SCHEMA                                                      \
        "{\"type\":\"record\",\"name\":\"Vital\",\"fields\":["                 \
        "{\"name\":\"patient\",\"type\":\"string\"},"                          \
        "{\"name\":\"bpm\",\"type\":\"int\"},"                                 \
        "{\"name\":\"unit\",\"type\":\"string\",\"default\":\"bpm\"}]}"
#define INCOMPATIBLE_SCHEMA                                                    \
        "{\"type\":\"record\",\"name\":\"Vital\",\"fields\":["                 \
        "{\"name\":\"patient\",\"type\":\"string\"},"                          \
        "{\"name\":\"bpm\",\"type\":\"int\"},"                                 \
        "{\"name\":\"ward\",\"type\":\"string\"}]}"

static void test_registry_answers(void **state)
{
        brook_schema_registry_t *sr = new_sr();
        char *subject = kt_unique("avro-reg"), err[1024];
        const char *text;
        int32_t id, id2, again, version;
        bool ok;
        (void)state;

        assert_int_equal(brook_schema_registry_lookup(sr, subject, BASE_SCHEMA,
                                                      &id, NULL, err,
                                                      sizeof err),
                         BROOK_ERR_NOT_FOUND);
        assert_int_equal(brook_schema_registry_register(sr, subject,
                                                        BASE_SCHEMA, &id, err,
                                                        sizeof err),
                         BROOK_OK);
        /* Registering it again finds it. */
        assert_int_equal(brook_schema_registry_register(sr, subject,
                                                        BASE_SCHEMA, &again,
                                                        err, sizeof err),
                         BROOK_OK);
        assert_int_equal(again, id);
        assert_int_equal(brook_schema_registry_lookup(sr, subject, BASE_SCHEMA,
                                                      &again, &version, err,
                                                      sizeof err),
                         BROOK_OK);
        assert_int_equal(again, id);
        assert_int_equal(version, 1);
        assert_int_equal(brook_schema_registry_set_compatibility(
                                 sr, subject, "BACKWARD", err, sizeof err),
                         BROOK_OK);

        assert_int_equal(
                brook_schema_registry_test_compatibility(
                        sr, subject, COMPATIBLE_SCHEMA, &ok, err, sizeof err),
                BROOK_OK);
        assert_true(ok);
        assert_int_equal(
                brook_schema_registry_test_compatibility(
                        sr, subject, INCOMPATIBLE_SCHEMA, &ok, err, sizeof err),
                BROOK_OK);
        assert_false(ok);
        assert_int_equal(brook_schema_registry_register(sr, subject,
                                                        INCOMPATIBLE_SCHEMA,
                                                        &id2, err, sizeof err),
                         BROOK_ERR_SERDE);
        /* The registry's own words, with its status. */
        assert_non_null(strstr(err, ": HTTP 409: "));
        assert_non_null(strstr(err, "Incompatible artifact: "));
        assert_non_null(strstr(err, "[ward at /fields/2]"));

        assert_int_equal(brook_schema_registry_register(sr, subject,
                                                        COMPATIBLE_SCHEMA, &id2,
                                                        err, sizeof err),
                         BROOK_OK);
        assert_true(id2 != id);
        assert_int_equal(brook_schema_registry_version(sr, subject, -1, &again,
                                                       &version, &text, err,
                                                       sizeof err),
                         BROOK_OK);
        assert_int_equal(again, id2);
        assert_int_equal(version, 2);
        assert_int_equal(brook_schema_registry_version(sr, subject, 1, &again,
                                                       &version, &text, err,
                                                       sizeof err),
                         BROOK_OK);
        assert_int_equal(again, id);
        assert_int_equal(brook_schema_registry_schema(sr, 987654, &text, err,
                                                      sizeof err),
                         BROOK_ERR_NOT_FOUND);
        assert_non_null(strstr(err, "schema id 987654 is not known to the "
                                    "Schema Registry"));
        brook_schema_registry_destroy(sr);
        free(subject);
}

/* ------------------------------------------------- serializer settings */

static brook_schema_registry_t *sr_with(const char *name, const char *value,
                                        const char *name2, const char *value2)
{
        brook_conf_t *conf = brook_conf_new();
        brook_schema_registry_t *sr;
        char err[512];
        if (brook_conf_set(conf, "schema.registry.url", registry_url, err,
                           sizeof err) ||
            brook_conf_set(conf, name, value, err, sizeof err) ||
            (name2 && brook_conf_set(conf, name2, value2, err, sizeof err)))
                fail_msg("%s", err);
        sr = brook_schema_registry_new(conf, err, sizeof err);
        if (!sr)
                fail_msg("%s", err);
        brook_conf_destroy(conf);
        return sr;
}

/* The id of hex record @p hex. */
static int32_t id_of(const char *hex)
{
        unsigned char head[5];
        unhex(hex, head, 5);
        return (int32_t)brook__be_get(head + 1, 4);
}

static int32_t latest_id(brook_schema_registry_t *sr, const char *subject)
{
        char err[1024];
        int32_t id;
        if (brook_schema_registry_version(sr, subject, -1, &id, NULL, NULL, err,
                                          sizeof err))
                fail_msg("%s: %s", subject, err);
        return id;
}

#define V1_PLUS                                                                \
        "{\"type\":\"record\",\"name\":\"Rx\",\"namespace\":\"brook.test\","   \
        "\"fields\":["                                                         \
        "{\"name\":\"id\",\"type\":\"int\"},"                                  \
        "{\"name\":\"drug\",\"type\":\"string\"},"                             \
        "{\"name\":\"dose\",\"type\":\"float\"},"                              \
        "{\"name\":\"gone\",\"type\":\"string\"},"                             \
        "{\"name\":\"state\",\"type\":{\"type\":\"enum\",\"name\":\"State\","  \
        "\"symbols\":[\"NEW\",\"FILLED\",\"RECALLED\"]}},"                     \
        "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"int\"}}," \
        "{\"name\":\"note\",\"type\":\"bytes\"},"                              \
        "{\"name\":\"site\",\"type\":\"string\",\"default\":\"main\"}]}"

/* Subject name strategies, auto.register.schemas=false and
 * use.latest.version, each against the registry. */
static void test_serializer_settings(void **state)
{
        char *topic = kt_unique("avro-set"), subject[512], hex[1024],
             v1hex[1024];
        char err[1024];
        json_t *v = parse(v1_values[0]);
        brook_schema_registry_t *sr;
        brook_serde_t *s;
        brook_buf_t *buf = brook_buf_new();
        int32_t id;
        (void)state;

        /* RecordNameStrategy: the record's full name. */
        sr = sr_with("value.subject.name.strategy", "RecordNameStrategy", NULL,
                     NULL);
        s = brook_serde_avro_json_new(sr, AVRO_V1, false, err, sizeof err);
        brook_encode(s, topic, v, hex);
        assert_int_equal(id_of(hex), latest_id(sr, "brook.test.Rx"));
        brook_serde_destroy(s);
        brook_schema_registry_destroy(sr);

        /* TopicRecordNameStrategy, for keys: <topic>-<full name>. */
        sr = sr_with("key.subject.name.strategy",
                     "io.confluent.kafka.serializers.subject."
                     "TopicRecordNameStrategy",
                     NULL, NULL);
        s = brook_serde_avro_json_new(sr, AVRO_V1, true, err, sizeof err);
        brook_encode(s, topic, v, hex);
        snprintf(subject, sizeof subject, "%s-brook.test.Rx", topic);
        assert_int_equal(id_of(hex), latest_id(sr, subject));
        brook_serde_destroy(s);
        brook_schema_registry_destroy(sr);

        /* auto.register.schemas=false: a schema the subject lacks is an
         * error; once registered, its id is used. */
        sr = sr_with("auto.register.schemas", "false", NULL, NULL);
        s = brook_serde_avro_json_new(sr, AVRO_V1, false, err, sizeof err);
        brook__serde_topic_tl = topic;
        assert_int_equal(brook_serde_serialize(s, v, buf, err, sizeof err),
                         BROOK_ERR_SERDE);
        brook__serde_topic_tl = NULL;
        snprintf(subject, sizeof subject, "%s-value", topic);
        assert_non_null(strstr(err, "HTTP 404"));
        assert_non_null(strstr(err, subject));
        assert_int_equal(brook_schema_registry_register(sr, subject, AVRO_V1,
                                                        &id, err, sizeof err),
                         BROOK_OK);
        brook_encode(s, topic, v, hex);
        assert_int_equal(id_of(hex), id);
        snprintf(v1hex, sizeof v1hex, "%s", hex);
        brook_serde_destroy(s);
        brook_schema_registry_destroy(sr);

        /* use.latest.version: a v1 value is written as the subject's
         * latest schema, its new field taking the default. */
        sr = sr_with("use.latest.version", "true", "auto.register.schemas",
                     "false");
        assert_int_equal(brook_schema_registry_register(sr, subject, V1_PLUS,
                                                        &id, err, sizeof err),
                         BROOK_OK);
        s = brook_serde_avro_json_new(sr, AVRO_V1, false, err, sizeof err);
        brook_encode(s, topic, v, hex);
        assert_int_equal(id_of(hex), id);
        {
                /* And read: a record written with v1 comes as the
                 * latest schema, with the default. */
                brook_serde_t *r = brook_serde_avro_json_new(sr, NULL, false,
                                                             err, sizeof err);
                json_t *got, *want = parse(v1_values[0]);
                json_object_set_new(want, "site", json_string("main"));
                brook__serde_topic_tl = topic;
                got = brook_decode(r, hex);
                assert_json_equal(got, want, "written as the latest schema");
                json_decref(got);
                assert_true(id_of(v1hex) != id);
                got = brook_decode(r, v1hex);
                brook__serde_topic_tl = NULL;
                assert_json_equal(got, want, "v1 read as the latest schema");
                json_decref(got);
                json_decref(want);
                brook_serde_destroy(r);
        }
        brook_serde_destroy(s);
        brook_schema_registry_destroy(sr);
        brook_buf_destroy(buf);
        json_decref(v);
        free(topic);
}

/* ----------------------------------------------------- Avro keys, cached */

#define KEY_SCHEMA                                                             \
        "{\"type\":\"record\",\"name\":\"PatientKey\",\"namespace\":"          \
        "\"brook.test\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"}]}"

/* Avro keys through a cached count in the test driver: the cache, the
 * store and its queries encode keys for the store's changelog topic (the
 * subject <app>-counts-changelog-key), as Kafka Streams' serdes are. */
static void test_avro_keys_in_a_cached_store(void **state)
{
        brook_schema_registry_t *sr = new_sr();
        char *app_id = kt_unique("avro-td"), subject[512], err[1024];
        brook_builder_t *b = brook_builder_new();
        brook_conf_t *conf = brook_conf_new();
        brook_serde_t *ks = brook_serde_avro_json_new(sr, KEY_SCHEMA, true, err,
                                                      sizeof err);
        brook_test_driver_t *td;
        brook_test_input_t *in;
        brook_test_output_t *out;
        brook_test_kv_t *kvs;
        size_t cnt, i;
        int64_t *count;
        json_t *k;
        (void)state;

        assert_non_null(ks);
        brook_stream_to(
                brook_table_to_stream(brook_grouped_count(
                        brook_stream_group_by_key(
                                brook_stream(
                                        b, "visits",
                                        &(brook_consumed_t){
                                                .key_serde = ks,
                                                .value_serde =
                                                        brook_serde_string()}),
                                NULL),
                        &(brook_materialized_t){.name = "counts",
                                                .key_serde = ks})),
                "visit-counts",
                &(brook_produced_t){.key_serde = ks,
                                    .value_serde = brook_serde_int64()});
        assert_int_equal(
                brook_conf_set(conf, "application.id", app_id, err, sizeof err),
                BROOK_OK);
        td = brook_test_driver_new(b, conf, 0, err, sizeof err);
        if (!td)
                fail_msg("%s", err);
        brook_test_driver_set_auto_commit(td, false);
        in = brook_test_driver_input(td, "visits", ks, brook_serde_string(),
                                     NULL, err, sizeof err);
        out = brook_test_driver_output(td, "visit-counts", ks,
                                       brook_serde_int64());
        for (i = 0; i < 7; i++) {
                json_t *key = json_pack("{s:s}", "id",
                                        i % 3 == 0   ? "a"
                                        : i % 3 == 1 ? "b"
                                                     : "c");
                if (brook_test_input_pipe(in, key, "v", err, sizeof err))
                        fail_msg("pipe: %s", err);
                json_decref(key);
        }
        /* Cached: nothing until the commit, then one update per key. */
        assert_true(brook_test_output_is_empty(out));
        assert_int_equal(brook_test_driver_commit(td, err, sizeof err),
                         BROOK_OK);
        assert_int_equal(brook_test_output_unread(out), 3);
        assert_int_equal(
                brook_test_output_read_map(out, &kvs, &cnt, err, sizeof err),
                BROOK_OK);
        assert_int_equal(cnt, 3);
        for (i = 0; i < cnt; i++) {
                const char *id =
                        json_string_value(json_object_get(kvs[i].key, "id"));
                assert_non_null(id);
                assert_int_equal(*(int64_t *)kvs[i].value,
                                 !strcmp(id, "a") ? 3 : 2);
        }
        /* The store is queried with an Avro key. */
        k = json_pack("{s:s}", "id", "a");
        {
                void *v = NULL;
                assert_int_equal(brook_kvstore_get(brook_test_driver_kvstore(
                                                           td, "counts"),
                                                   k, &v, err, sizeof err),
                                 BROOK_OK);
                count = v;
                assert_int_equal(*count, 3);
        }
        json_decref(k);
        snprintf(subject, sizeof subject, "%s-counts-changelog-key", app_id);
        {
                int32_t id;
                assert_int_equal(brook_schema_registry_version(sr, subject, -1,
                                                               &id, NULL, NULL,
                                                               err, sizeof err),
                                 BROOK_OK);
        }
        brook_test_driver_destroy(td);
        brook_serde_destroy(ks);
        brook_schema_registry_destroy(sr);
        free(app_id);
}

/* Avro keys through a windowed count and a suppression buffer (a window
 * store and a key-value buffer of windowed keys): one final count per
 * window, read back through the windowed serde. */
static void test_avro_keys_windowed_suppressed(void **state)
{
        brook_schema_registry_t *sr = new_sr();
        char *app_id = kt_unique("avro-win"), err[1024];
        brook_builder_t *b = brook_builder_new();
        brook_conf_t *conf = brook_conf_new();
        brook_serde_t *ks = brook_serde_avro_json_new(sr, KEY_SCHEMA, true, err,
                                                      sizeof err);
        brook_serde_t *wks =
                brook_serde_time_windowed(ks, 10000, err, sizeof err);
        brook_windows_t w = brook_windows_tumbling(10000, 0);
        brook_test_driver_t *td;
        brook_test_input_t *in;
        brook_test_output_t *out;
        brook_test_typed_record_t r;
        static const struct {
                const char *id;
                int64_t ts;
        } events[] = {{"a", 1000},
                      {"b", 2000},
                      {"a", 9000},
                      {"a", 12000},
                      {"b", 25000}};
        static const struct {
                const char *id;
                int64_t start, count;
        } finals[] = {{"a", 0, 2}, {"b", 0, 1}, {"a", 10000, 1}};
        size_t i;
        (void)state;

        assert_non_null(wks);
        brook_stream_to(
                brook_table_to_stream(brook_table_suppress(
                        brook_windowed_count(
                                brook_grouped_windowed_by(
                                        brook_stream_group_by_key(
                                                brook_stream(
                                                        b, "w-in",
                                                        &(brook_consumed_t){
                                                                .key_serde = ks,
                                                                .value_serde =
                                                                        brook_serde_string()}),
                                                NULL),
                                        &w),
                                &(brook_materialized_t){.name = "wcounts",
                                                        .key_serde = ks}),
                        &(brook_suppressed_t){
                                .kind = BROOK_SUPPRESS_UNTIL_WINDOW_CLOSES})),
                "w-out",
                &(brook_produced_t){.key_serde = wks,
                                    .value_serde = brook_serde_int64()});
        assert_int_equal(
                brook_conf_set(conf, "application.id", app_id, err, sizeof err),
                BROOK_OK);
        td = brook_test_driver_new(b, conf, 0, err, sizeof err);
        if (!td)
                fail_msg("%s", err);
        in = brook_test_driver_input(td, "w-in", ks, brook_serde_string(), NULL,
                                     err, sizeof err);
        out = brook_test_driver_output(td, "w-out", wks, brook_serde_int64());
        for (i = 0; i < sizeof events / sizeof *events; i++) {
                json_t *key = json_pack("{s:s}", "id", events[i].id);
                if (brook_test_input_pipe_at(in, key, "v", events[i].ts, err,
                                             sizeof err))
                        fail_msg("pipe: %s", err);
                json_decref(key);
        }
        /* Stream time 25000 closes [0, 10000) and [10000, 20000). */
        assert_int_equal(brook_test_output_unread(out), 3);
        for (i = 0; i < 3; i++) {
                const brook_windowed_key_t *wk;
                assert_int_equal(
                        brook_test_output_read(out, &r, err, sizeof err),
                        BROOK_OK);
                wk = r.key;
                assert_string_equal(
                        json_string_value(json_object_get(wk->key, "id")),
                        finals[i].id);
                assert_int_equal(wk->window.start, finals[i].start);
                assert_int_equal(*(int64_t *)r.value, finals[i].count);
        }
        brook_test_driver_destroy(td);
        brook_serde_destroy(wks);
        brook_serde_destroy(ks);
        brook_schema_registry_destroy(sr);
        free(app_id);
}

/* ---------------------------------------------------------- auth, TLS */

/* Starts tests/peers/registry_auth_peer.py expecting @p auth (TLS with
 * @p cert and @p key if given); its port in *@p portp. */
static pid_t start_peer(const char *auth, const char *cert, const char *key,
                        int *portp)
{
        int fds[2];
        char line[32];
        ssize_t n;
        size_t len = 0;
        pid_t pid;

        assert_int_equal(pipe(fds), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (!pid) {
                dup2(fds[1], 1);
                close(fds[0]);
                close(fds[1]);
                if (cert)
                        execlp("python3", "python3", AUTH_PEER_PATH, auth, cert,
                               key, (char *)NULL);
                else
                        execlp("python3", "python3", AUTH_PEER_PATH, auth,
                               (char *)NULL);
                _exit(127);
        }
        close(fds[1]);
        while (len < sizeof line - 1 &&
               (n = read(fds[0], line + len, 1)) == 1 && line[len] != '\n')
                len++;
        line[len] = '\0';
        close(fds[0]);
        *portp = atoi(line);
        if (*portp <= 0)
                fail_msg("the auth peer did not start (printed \"%s\")", line);
        return pid;
}

static void stop_peer(pid_t pid)
{
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
}

/* A client for @p url with property pairs (NULL-terminated) asks for
 * schema id 1; returns the result, the message in @p err. */
static brook_err_t ask(const char *url, char *err, size_t err_size, ...)
{
        brook_conf_t *conf = brook_conf_new();
        brook_schema_registry_t *sr;
        const char *name, *text;
        brook_err_t e;
        va_list ap;

        assert_int_equal(
                brook_conf_set(conf, "schema.registry.url", url, err, err_size),
                BROOK_OK);
        va_start(ap, err_size);
        while ((name = va_arg(ap, const char *))) {
                const char *value = va_arg(ap, const char *);
                if (brook_conf_set(conf, name, value, err, err_size))
                        fail_msg("%s: %s", name, err);
        }
        va_end(ap);
        sr = brook_schema_registry_new(conf, err, err_size);
        assert_non_null(sr);
        brook_conf_destroy(conf);
        e = brook_schema_registry_schema(sr, 1, &text, err, err_size);
        if (!e)
                assert_string_equal(text, "\"string\"");
        brook_schema_registry_destroy(sr);
        return e;
}

static void test_auth_and_tls(void **state)
{
        char url[256], cert[512], key[512], err[1024];
        int port;
        pid_t pid;
        (void)state;

        /* Basic auth, from basic.auth.user.info or from the URL. */
        pid = start_peer("Basic dXNlcjpwYXNz", NULL, NULL, &port);
        snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
        assert_int_equal(ask(url, err, sizeof err,
                             "basic.auth.credentials.source", "USER_INFO",
                             "basic.auth.user.info", "user:pass", NULL),
                         BROOK_OK);
        assert_int_equal(ask(url, err, sizeof err, NULL), BROOK_ERR_SERDE);
        assert_non_null(strstr(err, "GET /schemas/ids/1: HTTP 401: "
                                    "Unauthorized: got Authorization None "
                                    "(error code 40101)"));
        /* Confluent's default source is URL: user info alone is not
         * sent. */
        assert_int_equal(ask(url, err, sizeof err, "basic.auth.user.info",
                             "user:pass", NULL),
                         BROOK_ERR_SERDE);
        snprintf(url, sizeof url, "http://user:pass@127.0.0.1:%d", port);
        assert_int_equal(ask(url, err, sizeof err, NULL), BROOK_OK);
        stop_peer(pid);

        /* A bearer token, over TLS verified with the peer's certificate. */
        snprintf(cert, sizeof cert, "%s/cert.pem", tmpdir);
        snprintf(key, sizeof key, "%s/key.pem", tmpdir);
        kt_self_signed_cert(cert, key);
        pid = start_peer("Bearer tok-123", cert, key, &port);
        snprintf(url, sizeof url, "https://localhost:%d", port);
        assert_int_equal(ask(url, err, sizeof err,
                             "schema.registry.ssl.ca.location", cert,
                             "bearer.auth.token", "tok-123", NULL),
                         BROOK_OK);
        assert_int_equal(ask(url, err, sizeof err,
                             "schema.registry.ssl.ca.location", cert,
                             "bearer.auth.token", "wrong", NULL),
                         BROOK_ERR_SERDE);
        assert_non_null(strstr(err, "HTTP 401"));
        /* Not trusted without the CA: refused, saying so. */
        assert_int_equal(
                ask(url, err, sizeof err, "bearer.auth.token", "tok-123", NULL),
                BROOK_ERR_SERDE);
        assert_non_null(strstr(err, "cannot be reached: "));
        assert_non_null(strstr(err, "certificate"));
        stop_peer(pid);
}

/* ------------------------------------------------------------- topology */

#define TOTALS_SCHEMA                                                          \
        "{\"type\":\"record\",\"name\":\"Totals\",\"namespace\":"              \
        "\"brook.test\",\"fields\":["                                          \
        "{\"name\":\"count\",\"type\":\"long\"},"                              \
        "{\"name\":\"dose\",\"type\":\"double\"},"                             \
        "{\"name\":\"last\",\"type\":\"string\"},"                             \
        "{\"name\":\"pharmacy\",\"type\":\"string\"}]}"

#define PATIENTS 20
#define EVENTS   1000

static avro_value_iface_t *totals_iface;

static void value_free(void *p)
{
        avro_value_decref(p);
}

static void set_field(avro_value_t *rec, const char *name, int kind, int64_t l,
                      double d, const char *s)
{
        avro_value_t f;
        assert_int_equal(avro_value_get_by_name(rec, name, &f, NULL), 0);
        if (kind == 'l')
                avro_value_set_long(&f, l);
        else if (kind == 'd')
                avro_value_set_double(&f, d);
        else
                avro_value_set_string(&f, s);
}

static void *totals_init(const brook_record_t *rec, void *opaque)
{
        avro_value_t *v = brook_arena_alloc(rec->arena, sizeof *v);
        (void)opaque;
        avro_generic_value_new(totals_iface, v);
        brook_arena_defer(rec->arena, value_free, v);
        set_field(v, "count", 'l', 0, 0, NULL);
        set_field(v, "dose", 'd', 0, 0, NULL);
        set_field(v, "last", 's', 0, 0, "");
        set_field(v, "pharmacy", 's', 0, 0, "");
        return v;
}

/* Adds an Rx (read as AVRO_V2) to the patient's totals. */
static void *totals_add(const brook_record_t *rec, void *agg, void *opaque)
{
        avro_value_t *in = rec->value, *t = agg, f;
        const char *s;
        size_t n;
        int64_t count;
        double dose, d;
        (void)opaque;
        avro_value_get_by_name(t, "count", &f, NULL);
        avro_value_get_long(&f, &count);
        avro_value_get_by_name(t, "dose", &f, NULL);
        avro_value_get_double(&f, &dose);
        avro_value_get_by_name(in, "dose", &f, NULL);
        avro_value_get_double(&f, &d);
        set_field(t, "count", 'l', count + 1, 0, NULL);
        set_field(t, "dose", 'd', 0, dose + d, NULL);
        avro_value_get_by_name(in, "medication", &f, NULL);
        avro_value_get_string(&f, &s, &n);
        set_field(t, "last", 's', 0, 0, s);
        avro_value_get_by_name(in, "pharmacy", &f, NULL);
        avro_value_get_string(&f, &s, &n);
        set_field(t, "pharmacy", 's', 0, 0, s);
        return t;
}

static bool starts_with(const char *s, const char *prefix)
{
        return !strncmp(s, prefix, strlen(prefix));
}

struct dlq_seen {
        char why[3][512];
        int cnt;
};

static void dlq_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        struct dlq_seen *d = opaque;
        rd_kafka_headers_t *h = NULL;
        const void *v;
        size_t n;
        assert_true(d->cnt < 3);
        assert_int_equal(rd_kafka_message_headers(rkm, &h), 0);
        assert_int_equal(
                rd_kafka_header_get_last(h, "__streams.errors.message", &v, &n),
                0);
        snprintf(d->why[d->cnt++], 512, "%.*s", (int)n, (const char *)v);
}

static void test_topology_java_both_ends(void **state)
{
        char *app_id = kt_unique("avro-app"), *in = kt_unique("avro-in"),
             *out = kt_unique("avro-out"), dlq[512], args[2048];
        char *input = malloc(EVENTS * 256), *jout, **jl;
        brook__avro_schema_t *totals;
        brook_schema_registry_t *sr = new_sr();
        brook_serde_t *rx, *tot;
        brook_builder_t *b = brook_builder_new();
        brook_conf_t *conf = brook_conf_new();
        brook_app_t *app;
        struct dlq_seen seen = {.cnt = 0};
        int64_t want_count[PATIENTS] = {0};
        double want_dose[PATIENTS] = {0};
        char want_last[PATIENTS][32];
        char err[1024];
        size_t len = 0, i, n;
        unsigned char bad[32];
        rd_kafka_t *rk;
        (void)state;

        totals = brook__avro_schema_parse(TOTALS_SCHEMA, err, sizeof err);
        assert_non_null(totals);
        totals_iface = totals->iface;
        kt_create_topic(in, 2);
        kt_create_topic(out, 2);
        snprintf(dlq, sizeof dlq, "%s-dlq", app_id);

        /* Java produces the prescriptions (v1), keyed by patient. */
        for (i = 0; i < EVENTS; i++) {
                int p = (int)(i * 7 % PATIENTS);
                double dose = (double)(i % 8) * 0.25;
                len += (size_t)snprintf(
                        input + len, EVENTS * 256 - len,
                        "p%02d\t{\"id\":%zu,\"drug\":\"drug-%zu\",\"dose\":%g,"
                        "\"gone\":\"\",\"state\":\"NEW\",\"tags\":[],"
                        "\"note\":\"\"}\n",
                        p, i, i % 13, dose);
                want_count[p]++;
                want_dose[p] += dose;
                snprintf(want_last[p], sizeof want_last[p], "drug-%zu", i % 13);
        }
        snprintf(args, sizeof args,
                 "produce --bootstrap '%s' --registry '%s' "
                 "--topic '%s' --schema '%s' --key-string",
                 kt_bootstrap(), registry_url, in, schema_file("v1", AVRO_V1));
        free(java(args, input));

        /* And three records that are not Avro as the registry knows it. */
        rk = kt_producer();
        kt_produce(rk, in, 0, "p00", "{\"bpm\":1}", 9, NULL);
        bad[0] = 0;
        brook__be_put(bad + 1, 987654, 4);
        bad[5] = 2;
        kt_produce(rk, in, 0, "p00", bad, 6, NULL);
        kt_producer_close(rk);
        {
                /* A real id, its datum cut short. */
                char hexbuf[256], *h[2];
                snprintf(args, sizeof args,
                         "encode --registry '%s' --topic "
                         "'%s' --schema '%s'",
                         registry_url, in, schema_file("v1", AVRO_V1));
                jout = java(args, "{\"id\":1,\"drug\":\"abcdef\",\"dose\":1.0,"
                                  "\"gone\":\"\",\"state\":\"NEW\","
                                  "\"tags\":[],\"note\":\"\"}\n");
                assert_int_equal(lines(jout, h, 2), 1);
                snprintf(hexbuf, sizeof hexbuf, "%s", h[0]);
                n = unhex(hexbuf, bad, sizeof bad);
                assert_true(n > 9);
                rk = kt_producer();
                kt_produce(rk, in, 1, "p01", bad, 9, NULL);
                kt_producer_close(rk);
                free(jout);
        }

        rx = brook_serde_avro_new(sr, AVRO_V2, false, err, sizeof err);
        tot = brook_serde_avro_new(sr, TOTALS_SCHEMA, false, err, sizeof err);
        assert_non_null(rx);
        assert_non_null(tot);
        brook_stream_to(
                brook_table_to_stream(brook_grouped_aggregate(
                        brook_stream_group_by_key(
                                brook_stream(
                                        b, in,
                                        &(brook_consumed_t){
                                                .key_serde =
                                                        brook_serde_string(),
                                                .value_serde = rx}),
                                NULL),
                        totals_init, totals_add, NULL,
                        &(brook_materialized_t){.name = "totals",
                                                .key_serde =
                                                        brook_serde_string(),
                                                .value_serde = tot})),
                out,
                &(brook_produced_t){.key_serde = brook_serde_string(),
                                    .value_serde = tot});
        if (brook_conf_set(conf, "application.id", app_id, err, sizeof err) ||
            brook_conf_set(conf, "bootstrap.servers", kt_bootstrap(), err,
                           sizeof err) ||
            brook_conf_set(conf, "commit.interval.ms", "200", err,
                           sizeof err) ||
            brook_conf_set(conf, "statestore.cache.max.bytes", "0", err,
                           sizeof err) ||
            brook_conf_set(conf, "schema.registry.url", registry_url, err,
                           sizeof err) ||
            brook_conf_set(conf, "default.deserialization.exception.handler",
                           "dead_letter", err, sizeof err))
                fail_msg("%s", err);
        app = brook_app_new(b, conf, err, sizeof err);
        if (!app)
                fail_msg("brook_app_new: %s", err);
        if (brook_app_start(app, err, sizeof err))
                fail_msg("brook_app_start: %s", err);
        assert_int_equal(kt_wait_count(out, EVENTS, WAIT_MS), EVENTS);
        assert_int_equal(kt_wait_count(dlq, 3, WAIT_MS), 3);
        assert_int_equal(kt_wait_committed(app_id, in, 2, EVENTS + 3, WAIT_MS),
                         EVENTS + 3);
        assert_int_equal(brook_app_state(app, NULL, 0), BROOK_APP_RUNNING);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);

        /* The dead letters say why, in the order each partition had them
         * (partition 0's two first: the consumer reads 0 then 1). */
        kt_consume_all(dlq, dlq_cb, &seen);
        assert_int_equal(seen.cnt, 3);
        {
                bool magic = false, unknown = false, cut = false;
                for (i = 0; i < 3; i++) {
                        magic |= !strcmp(seen.why[i],
                                         "value: Avro deserializer: unknown "
                                         "magic byte 0x7b (the Confluent wire "
                                         "format starts with 0x00)");
                        unknown |= starts_with(seen.why[i],
                                               "value: Avro deserializer: "
                                               "schema id 987654 is not known "
                                               "to the Schema Registry (");
                        cut |= starts_with(seen.why[i],
                                           "value: Avro data is truncated or "
                                           "corrupt: ");
                }
                if (!magic || !unknown || !cut)
                        fail_msg("dead letters: [%s] [%s] [%s]", seen.why[0],
                                 seen.why[1], seen.why[2]);
        }

        /* A Java consumer decodes every update; each patient's last is
         * exact. */
        snprintf(args, sizeof args,
                 "consume --bootstrap '%s' --registry '%s' "
                 "--topic '%s' --count %d --key-string --timeout-ms 60000",
                 kt_bootstrap(), registry_url, out, EVENTS);
        jout = java(args, "");
        jl = calloc(EVENTS + 1, sizeof *jl);
        n = lines(jout, jl, EVENTS + 1);
        assert_int_equal(n, EVENTS);
        {
                json_t *last[PATIENTS] = {0};
                int p;
                for (i = 0; i < n; i++) {
                        char *tab = strchr(jl[i], '\t');
                        assert_non_null(tab);
                        *tab = '\0';
                        assert_int_equal(sscanf(jl[i], "p%d", &p), 1);
                        assert_true(p >= 0 && p < PATIENTS);
                        json_decref(last[p]);
                        last[p] = parse(tab + 1);
                }
                for (p = 0; p < PATIENTS; p++) {
                        /* dose a real even when whole, as Java writes
                         * doubles. */
                        json_t *w = json_pack("{s:I,s:f,s:s,s:s}", "count",
                                              (json_int_t)want_count[p], "dose",
                                              want_dose[p], "last",
                                              want_last[p], "pharmacy", "none");
                        assert_json_equal(last[p], w, "a patient's totals");
                        json_decref(w);
                        json_decref(last[p]);
                }
        }
        /* The store's values went to its changelog under its subject. */
        {
                char subject[512];
                int32_t id;
                snprintf(subject, sizeof subject, "%s-totals-changelog-value",
                         app_id);
                assert_int_equal(brook_schema_registry_version(sr, subject, -1,
                                                               &id, NULL, NULL,
                                                               err, sizeof err),
                                 BROOK_OK);
        }
        free(jl);
        free(jout);
        free(input);
        brook_serde_destroy(rx);
        brook_serde_destroy(tot);
        brook__avro_schema_free(totals);
        brook_schema_registry_destroy(sr);
        free(app_id);
        free(in);
        free(out);
}

/* ---------------------------------------------------------------- main */

static int setup(void **state)
{
        char cmd[1024];
        FILE *p;
        (void)state;
        snprintf(cmd, sizeof cmd, "'%s' url", REGISTRY_PATH);
        p = popen(cmd, "r");
        if (!p || !fgets(registry_url, sizeof registry_url, p)) {
                fprintf(stderr, "no Schema Registry: %s\n", cmd);
                return -1;
        }
        pclose(p);
        registry_url[strcspn(registry_url, "\n")] = '\0';
        snprintf(tmpdir, sizeof tmpdir, "/tmp/brook-avro-test.XXXXXX");
        if (!mkdtemp(tmpdir))
                return -1;
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        kt_rmtree(tmpdir);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_all_types_both_ways),
                cmocka_unit_test(test_evolution_matches_java),
                cmocka_unit_test(test_union_evolution_matches_java),
                cmocka_unit_test(test_registry_answers),
                cmocka_unit_test(test_serializer_settings),
                cmocka_unit_test(test_auth_and_tls),
                cmocka_unit_test(test_avro_keys_in_a_cached_store),
                cmocka_unit_test(test_avro_keys_windowed_suppressed),
                cmocka_unit_test(test_topology_java_both_ends),
        };
        kt_test_filter();
        return cmocka_run_group_tests(tests, setup, teardown);
}
