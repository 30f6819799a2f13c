/*
 * brook — Avro serdes in the Confluent wire format (include/brook/avro.h,
 * docs/avro.md): schemas with what avro-c drops, a scan that makes
 * untrusted bytes safe to hand to avro-c, schema resolution with reader
 * defaults, Avro's JSON encoding, and the two serdes.
 *
 * avro-c 1.11 parses a schema's types but keeps neither a field's
 * "default", nor "aliases", nor an enum's "default", nor "logicalType";
 * its resolving reader therefore cannot fill a field the writer lacks.
 * brook keeps the schema's JSON beside avro-c's schema and resolves
 * values itself (brook__avro_resolve()), as the specification's "Schema
 * Resolution" section says. Logical types need nothing at run time:
 * their values are their underlying types' (decimal is bytes or fixed,
 * date an int, timestamps longs, uuid a string), and the text that is
 * registered is the text given, annotations included.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "avro_int.h"

/* How deep a datum of a recursive schema may nest. */
#define BROOK__AVRO_MAX_DEPTH 128

/* ------------------------------------------------------------- schemas */

static avro_schema_t brook__avro_unlink(avro_schema_t s)
{
        while (s && is_avro_link(s))
                s = avro_schema_link_target(s);
        return s;
}

static bool brook__avro_is_named(avro_schema_t s)
{
        return is_avro_record(s) || is_avro_enum(s) || is_avro_fixed(s);
}

/*
 * Lookups by name without avro-c's own: those set avro-c's error message
 * on a miss, and the Debian build keeps it in buffers that every thread
 * shares. Stream threads miss on every record (a reader-only field).
 */
static int brook__avro_field_index(avro_schema_t record, const char *name)
{
        size_t i, n = avro_schema_record_size(record);
        for (i = 0; i < n; i++)
                if (!strcmp(avro_schema_record_field_name(record, (int)i),
                            name))
                        return (int)i;
        return -1;
}

/* The symbol at @p idx, or NULL: avro-c's own returns garbage when it is
 * out of range. */
static const char *brook__avro_symbol(avro_schema_t e, int idx)
{
        if (idx < 0 || idx >= avro_schema_enum_number_of_symbols(e))
                return NULL;
        return avro_schema_enum_get(e, idx);
}

static int brook__avro_symbol_index(avro_schema_t e, const char *symbol)
{
        int i, n = avro_schema_enum_number_of_symbols(e);
        for (i = 0; i < n; i++)
                if (!strcmp(avro_schema_enum_get(e, i), symbol))
                        return i;
        return -1;
}

/* The full name of named type @p s in @p buf. */
static const char *brook__avro_fullname(avro_schema_t s, char *buf, size_t size)
{
        const char *ns = avro_schema_namespace(s);
        if (ns && *ns)
                snprintf(buf, size, "%s.%s", ns, avro_schema_name(s));
        else
                snprintf(buf, size, "%s", avro_schema_name(s));
        return buf;
}

/* The name a union branch of schema @p s has in Avro's JSON encoding. */
static const char *brook__avro_branch_name(avro_schema_t s, char *buf,
                                           size_t size)
{
        s = brook__avro_unlink(s);
        if (brook__avro_is_named(s))
                return brook__avro_fullname(s, buf, size);
        switch (avro_typeof(s)) {
        case AVRO_NULL:
                return "null";
        case AVRO_BOOLEAN:
                return "boolean";
        case AVRO_INT32:
                return "int";
        case AVRO_INT64:
                return "long";
        case AVRO_FLOAT:
                return "float";
        case AVRO_DOUBLE:
                return "double";
        case AVRO_BYTES:
                return "bytes";
        case AVRO_STRING:
                return "string";
        case AVRO_ARRAY:
                return "array";
        case AVRO_MAP:
                return "map";
        default:
                return "?";
        }
}

/* Records each named type of schema JSON @p t under its full name (and
 * its bare name, when no other type has it) in @p named. */
static void brook__avro_named_walk(json_t *named, json_t *t, const char *ns,
                                   int depth)
{
        const char *type, *name, *dot;
        char full[512], space[512];
        json_t *v;
        size_t i;

        if (depth > 256)
                return;
        if (json_is_array(t)) {
                json_array_foreach(t, i, v)
                        brook__avro_named_walk(named, v, ns, depth + 1);
                return;
        }
        if (!json_is_object(t))
                return;
        if (!(type = json_string_value(json_object_get(t, "type")))) {
                brook__avro_named_walk(named, json_object_get(t, "type"), ns,
                                       depth + 1);
                return;
        }
        if (!strcmp(type, "array")) {
                brook__avro_named_walk(named, json_object_get(t, "items"), ns,
                                       depth + 1);
                return;
        }
        if (!strcmp(type, "map")) {
                brook__avro_named_walk(named, json_object_get(t, "values"), ns,
                                       depth + 1);
                return;
        }
        if (strcmp(type, "record") && strcmp(type, "error") &&
            strcmp(type, "enum") && strcmp(type, "fixed"))
                return;
        if (!(name = json_string_value(json_object_get(t, "name"))))
                return;
        if ((dot = strrchr(name, '.'))) {
                snprintf(full, sizeof full, "%s", name);
                snprintf(space, sizeof space, "%.*s", (int)(dot - name), name);
                name = dot + 1;
        } else {
                if ((v = json_object_get(t, "namespace")) && json_is_string(v))
                        ns = json_string_value(v);
                snprintf(space, sizeof space, "%s", ns ? ns : "");
                /* A name too long for the buffer is cut; only lookups
                 * of defaults use it. */
                if ((size_t)snprintf(full, sizeof full, "%s%s%s", space,
                                     *space ? "." : "", name) >= sizeof full)
                        full[sizeof full - 1] = '\0';
        }
        json_object_set(named, full, t);
        if (!json_object_get(named, name))
                json_object_set(named, name, t);
        if (strcmp(type, "record") && strcmp(type, "error"))
                return;
        json_array_foreach(json_object_get(t, "fields"), i, v)
                brook__avro_named_walk(named, json_object_get(v, "type"), space,
                                       depth + 1);
}

brook__avro_schema_t *brook__avro_schema_parse(const char *text, char *errstr,
                                               size_t errstr_size)
{
        brook__avro_schema_t *s = brook__xcalloc(1, sizeof *s);
        json_error_t jerr;

        s->id = -1;
        if (!(s->json = json_loads(text, JSON_DECODE_ANY, &jerr))) {
                brook__seterr(errstr, errstr_size,
                              "Avro schema is not JSON: %s (line %d)",
                              jerr.text, jerr.line);
                goto fail;
        }
        if (avro_schema_from_json_length(text, strlen(text), &s->schema)) {
                brook__seterr(errstr, errstr_size,
                              "Avro schema is not valid: %s", avro_strerror());
                s->schema = NULL;
                goto fail;
        }
        if (!(s->iface = avro_generic_class_from_schema(s->schema))) {
                brook__seterr(errstr, errstr_size,
                              "Avro schema cannot be used: %s",
                              avro_strerror());
                goto fail;
        }
        s->text = brook__xstrdup(text);
        s->named = json_object();
        brook__avro_named_walk(s->named, s->json, NULL, 0);
        return s;
fail:
        brook__avro_schema_free(s);
        return NULL;
}

void brook__avro_schema_free(brook__avro_schema_t *s)
{
        if (!s)
                return;
        if (s->iface)
                avro_value_iface_decref(s->iface);
        if (s->schema)
                avro_schema_decref(s->schema);
        json_decref(s->json);
        json_decref(s->named);
        free(s->text);
        free(s);
}

/* The JSON of named type @p s in @p sch, or NULL. */
static json_t *brook__avro_named_json(const brook__avro_schema_t *sch,
                                      avro_schema_t s)
{
        char full[512];
        json_t *j;
        if (!sch)
                return NULL;
        if ((j = json_object_get(sch->named,
                                 brook__avro_fullname(s, full, sizeof full))))
                return j;
        return json_object_get(sch->named, avro_schema_name(s));
}

/* ------------------------------------------------------------------ scan */

typedef struct brook__avro_scan {
        const unsigned char *p, *end;
        /** Items of types that take no bytes, in the whole datum: capped,
         *  since avro-c allocates each and nesting would multiply a cap
         *  per array. */
        int64_t zero_items;
        char *errstr;
        size_t errstr_size;
} brook__avro_scan_t;

static brook_err_t brook__scan_fail(brook__avro_scan_t *sc, const char *what)
{
        brook__seterr(sc->errstr, sc->errstr_size,
                      "Avro data is truncated or corrupt: %s", what);
        return BROOK_ERR_SERDE;
}

/* A zig-zag varint of at most @p max bytes (5: int, 10: long). */
static brook_err_t brook__scan_varint(brook__avro_scan_t *sc, int max,
                                      int64_t *vp)
{
        uint64_t u = 0;
        int shift = 0, i;

        for (i = 0; i < max; i++, shift += 7) {
                if (sc->p >= sc->end)
                        return brook__scan_fail(sc, "it ends inside a number");
                u |= (uint64_t)(*sc->p & 0x7f) << shift;
                if (!(*sc->p++ & 0x80)) {
                        *vp = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
                        if (max == 5 && (*vp > INT32_MAX || *vp < INT32_MIN))
                                return brook__scan_fail(sc,
                                                        "an int out of range");
                        return BROOK_OK;
                }
        }
        return brook__scan_fail(sc, "a number longer than its type allows");
}

static brook_err_t brook__scan_skip(brook__avro_scan_t *sc, int64_t n,
                                    const char *what)
{
        char msg[128];
        if (n < 0 || n > sc->end - sc->p) {
                snprintf(msg, sizeof msg, "%s of %lld bytes with %lld left",
                         what, (long long)n, (long long)(sc->end - sc->p));
                return brook__scan_fail(sc, msg);
        }
        sc->p += n;
        return BROOK_OK;
}

/* Whether a datum of @p s can take no bytes at all. */
static bool brook__avro_zero_width(avro_schema_t s, int depth)
{
        size_t i, n;
        s = brook__avro_unlink(s);
        if (depth > 16)
                return false;
        switch (avro_typeof(s)) {
        case AVRO_NULL:
                return true;
        case AVRO_FIXED:
                return avro_schema_fixed_size(s) == 0;
        case AVRO_RECORD:
                n = avro_schema_record_size(s);
                for (i = 0; i < n; i++)
                        if (!brook__avro_zero_width(
                                    avro_schema_record_field_get_by_index(s, i),
                                    depth + 1))
                                return false;
                return true;
        default:
                return false;
        }
}

static brook_err_t brook__scan(brook__avro_scan_t *sc, avro_schema_t s,
                               int depth)
{
        int64_t v, count;
        size_t i, n;
        brook_err_t err;

        s = brook__avro_unlink(s);
        if (depth > BROOK__AVRO_MAX_DEPTH)
                return brook__scan_fail(sc, "it nests too deep");
        switch (avro_typeof(s)) {
        case AVRO_NULL:
                return BROOK_OK;
        case AVRO_BOOLEAN:
                return brook__scan_skip(sc, 1, "a boolean");
        case AVRO_INT32:
                return brook__scan_varint(sc, 5, &v);
        case AVRO_INT64:
                return brook__scan_varint(sc, 10, &v);
        case AVRO_FLOAT:
                return brook__scan_skip(sc, 4, "a float");
        case AVRO_DOUBLE:
                return brook__scan_skip(sc, 8, "a double");
        case AVRO_STRING:
        case AVRO_BYTES:
                if ((err = brook__scan_varint(sc, 10, &v)))
                        return err;
                return brook__scan_skip(
                        sc, v, is_avro_string(s) ? "a string" : "bytes");
        case AVRO_FIXED:
                return brook__scan_skip(sc, avro_schema_fixed_size(s),
                                        "a fixed");
        case AVRO_ENUM:
                if ((err = brook__scan_varint(sc, 5, &v)))
                        return err;
                if (v < 0 || v >= avro_schema_enum_number_of_symbols(s))
                        return brook__scan_fail(sc, "an enum index out of "
                                                    "range");
                return BROOK_OK;
        case AVRO_UNION:
                if ((err = brook__scan_varint(sc, 10, &v)))
                        return err;
                if (v < 0 || (size_t)v >= avro_schema_union_size(s))
                        return brook__scan_fail(sc, "a union branch out of "
                                                    "range");
                return brook__scan(sc, avro_schema_union_branch(s, (int)v),
                                   depth + 1);
        case AVRO_RECORD:
                n = avro_schema_record_size(s);
                for (i = 0; i < n; i++)
                        if ((err = brook__scan(
                                     sc,
                                     avro_schema_record_field_get_by_index(s,
                                                                           i),
                                     depth + 1)))
                                return err;
                return BROOK_OK;
        case AVRO_ARRAY:
        case AVRO_MAP: {
                avro_schema_t item = is_avro_array(s)
                                             ? avro_schema_array_items(s)
                                             : avro_schema_map_values(s);
                bool zero = is_avro_array(s) && brook__avro_zero_width(item, 0);
                for (;;) {
                        if ((err = brook__scan_varint(sc, 10, &count)))
                                return err;
                        if (!count)
                                return BROOK_OK;
                        if (count < 0) {
                                if (count == INT64_MIN)
                                        return brook__scan_fail(
                                                sc, "a block count out of "
                                                    "range");
                                count = -count;
                                if ((err = brook__scan_varint(sc, 10, &v)) ||
                                    (err = brook__scan_skip(sc, 0, "")))
                                        return err;
                                if (v < 0 || v > sc->end - sc->p)
                                        return brook__scan_fail(
                                                sc, "a block size beyond the "
                                                    "data");
                        }
                        /* Every item takes a byte but those of a type
                         * that takes none; their count is capped, since
                         * avro-c allocates each. */
                        if (zero ? count > 65536 - sc->zero_items
                                 : count > sc->end - sc->p)
                                return brook__scan_fail(
                                        sc, "more items than the data holds");
                        if (zero)
                                sc->zero_items += count;
                        for (; count > 0; count--) {
                                if (is_avro_map(s) &&
                                    ((err = brook__scan_varint(sc, 10, &v)) ||
                                     (err = brook__scan_skip(sc, v,
                                                             "a map key"))))
                                        return err;
                                if ((err = brook__scan(sc, item, depth + 1)))
                                        return err;
                        }
                }
        }
        default:
                return brook__scan_fail(sc, "the schema has a type avro-c "
                                            "does not know");
        }
}

brook_err_t brook__avro_scan(avro_schema_t schema, const void *data,
                             size_t size, size_t *usedp, char *errstr,
                             size_t errstr_size)
{
        brook__avro_scan_t sc = {data, (const unsigned char *)data + size, 0,
                                 errstr, errstr_size};
        brook_err_t err = brook__scan(&sc, schema, 0);
        if (!err && usedp)
                *usedp = (size_t)(sc.p - (const unsigned char *)data);
        return err;
}

/* ------------------------------------------------------------------ JSON */

/* Paths name what failed: "$.patient.visits[3]". */
typedef struct brook__avro_path {
        char buf[512];
        size_t len;
} brook__avro_path_t;

static size_t brook__path_push(brook__avro_path_t *path, const char *fmt,
                               const char *name, size_t idx)
{
        size_t old = path->len;
        int n;
        if (path->len >= sizeof path->buf - 1)
                return old;
        n = name ? snprintf(path->buf + path->len, sizeof path->buf - path->len,
                            fmt, name)
                 : snprintf(path->buf + path->len, sizeof path->buf - path->len,
                            fmt, idx);
        path->len += n > 0 ? (size_t)n : 0;
        if (path->len >= sizeof path->buf)
                path->len = sizeof path->buf - 1;
        return old;
}

static void brook__path_pop(brook__avro_path_t *path, size_t old)
{
        path->len = old;
        path->buf[old] = '\0';
}

/* Bytes as a JSON string of code points 0-255 (ISO-8859-1). */
static json_t *brook__latin1_json(const void *data, size_t size)
{
        const unsigned char *p = data;
        char *s = brook__xmalloc(size * 2 + 1);
        size_t n = 0, i;
        json_t *j;
        for (i = 0; i < size; i++) {
                if (p[i] < 0x80) {
                        s[n++] = (char)p[i];
                } else {
                        s[n++] = (char)(0xc0 | (p[i] >> 6));
                        s[n++] = (char)(0x80 | (p[i] & 0x3f));
                }
        }
        j = json_stringn(s, n);
        free(s);
        return j;
}

/* The inverse: false when a code point is above 255. *@p outp is
 * malloc'd. */
static bool brook__json_latin1(const json_t *j, unsigned char **outp,
                               size_t *sizep)
{
        const unsigned char *s = (const unsigned char *)json_string_value(j);
        size_t len = json_string_length(j), n = 0, i;
        unsigned char *out = brook__xmalloc(len + 1);
        for (i = 0; i < len; i++) {
                if (s[i] < 0x80) {
                        out[n++] = s[i];
                } else if ((s[i] & 0xfe) == 0xc2 && i + 1 < len &&
                           (s[i + 1] & 0xc0) == 0x80) {
                        out[n++] = (unsigned char)(((s[i] & 0x03) << 6) |
                                                   (s[i + 1] & 0x3f));
                        i++;
                } else {
                        free(out);
                        return false;
                }
        }
        *outp = out;
        *sizep = n;
        return true;
}

static json_t *brook__double_json(double d)
{
        if (isnan(d))
                return json_string("NaN");
        if (isinf(d))
                return json_string(d > 0 ? "Infinity" : "-Infinity");
        return json_real(d);
}

static json_t *brook__to_json(const avro_value_t *v, brook__avro_path_t *path,
                              char *errstr, size_t errstr_size, int depth)
{
        avro_schema_t s = brook__avro_unlink(avro_value_get_schema(v));
        json_t *j = NULL, *c;
        const char *str = NULL, *name = NULL;
        const void *buf = NULL;
        size_t size = 0, i, n = 0, old;
        int32_t i32 = 0;
        int64_t i64 = 0;
        float f = 0;
        double d = 0;
        int b = 0;
        avro_value_t child;
        char bname[512];

        if (depth > BROOK__AVRO_MAX_DEPTH) {
                brook__seterr(errstr, errstr_size,
                              "Avro value at %s nests too deep", path->buf);
                return NULL;
        }
        switch (avro_value_get_type(v)) {
        case AVRO_NULL:
                return json_null();
        case AVRO_BOOLEAN:
                avro_value_get_boolean(v, &b);
                return json_boolean(b);
        case AVRO_INT32:
                avro_value_get_int(v, &i32);
                return json_integer(i32);
        case AVRO_INT64:
                avro_value_get_long(v, &i64);
                return json_integer(i64);
        case AVRO_FLOAT:
                avro_value_get_float(v, &f);
                return brook__double_json(f);
        case AVRO_DOUBLE:
                avro_value_get_double(v, &d);
                return brook__double_json(d);
        case AVRO_STRING:
                avro_value_get_string(v, &str, &size);
                if (!(j = json_stringn(str ? str : "", size ? size - 1 : 0)))
                        brook__seterr(errstr, errstr_size,
                                      "Avro string at %s is not UTF-8",
                                      path->buf);
                return j;
        case AVRO_BYTES:
                avro_value_get_bytes(v, &buf, &size);
                return brook__latin1_json(buf, size);
        case AVRO_FIXED:
                avro_value_get_fixed(v, &buf, &size);
                return brook__latin1_json(buf, size);
        case AVRO_ENUM:
                avro_value_get_enum(v, &b);
                if (!(str = brook__avro_symbol(s, b))) {
                        brook__seterr(errstr, errstr_size,
                                      "Avro enum at %s has no symbol %d",
                                      path->buf, b);
                        return NULL;
                }
                return json_string(str);
        case AVRO_RECORD:
        case AVRO_MAP:
                j = json_object();
                avro_value_get_size(v, &n);
                for (i = 0; i < n; i++) {
                        avro_value_get_by_index(v, i, &child, &name);
                        old = brook__path_push(path, ".%s", name, 0);
                        c = brook__to_json(&child, path, errstr, errstr_size,
                                           depth + 1);
                        brook__path_pop(path, old);
                        if (!c) {
                                json_decref(j);
                                return NULL;
                        }
                        if (json_object_set_new(j, name, c)) {
                                brook__seterr(errstr, errstr_size,
                                              "Avro map key at %s is not "
                                              "UTF-8",
                                              path->buf);
                                json_decref(j);
                                return NULL;
                        }
                }
                return j;
        case AVRO_ARRAY:
                j = json_array();
                avro_value_get_size(v, &n);
                for (i = 0; i < n; i++) {
                        avro_value_get_by_index(v, i, &child, NULL);
                        old = brook__path_push(path, "[%zu]", NULL, i);
                        c = brook__to_json(&child, path, errstr, errstr_size,
                                           depth + 1);
                        brook__path_pop(path, old);
                        if (!c) {
                                json_decref(j);
                                return NULL;
                        }
                        json_array_append_new(j, c);
                }
                return j;
        case AVRO_UNION:
                if (avro_value_get_current_branch(v, &child)) {
                        brook__seterr(errstr, errstr_size,
                                      "Avro union at %s has no branch set",
                                      path->buf);
                        return NULL;
                }
                if (avro_value_get_type(&child) == AVRO_NULL)
                        return json_null();
                name = brook__avro_branch_name(avro_value_get_schema(&child),
                                               bname, sizeof bname);
                if (!(c = brook__to_json(&child, path, errstr, errstr_size,
                                         depth + 1)))
                        return NULL;
                j = json_object();
                json_object_set_new(j, name, c);
                return j;
        default:
                brook__seterr(errstr, errstr_size,
                              "Avro value at %s has an unknown type",
                              path->buf);
                return NULL;
        }
}

json_t *brook_avro_to_json(const avro_value_t *value, char *errstr,
                           size_t errstr_size)
{
        brook__avro_path_t path = {"$", 1};
        if (!value) {
                brook__seterr(errstr, errstr_size,
                              "brook_avro_to_json: value is NULL");
                return NULL;
        }
        return brook__to_json(value, &path, errstr, errstr_size, 0);
}

static brook_err_t brook__json_bad(brook__avro_path_t *path, const char *want,
                                   const json_t *j, char *errstr,
                                   size_t errstr_size)
{
        static const char *const kinds[] = {
                [JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array",
                [JSON_STRING] = "a string",  [JSON_INTEGER] = "an integer",
                [JSON_REAL] = "a number",    [JSON_TRUE] = "true",
                [JSON_FALSE] = "false",      [JSON_NULL] = "null"};
        brook__seterr(errstr, errstr_size, "JSON at %s: expected %s, got %s",
                      path->buf, want, j ? kinds[json_typeof(j)] : "nothing");
        return BROOK_ERR_SERDE;
}

/* Sets @p v from @p j. @p wrapped: unions are {"type": value} (Avro's JSON
 * encoding); otherwise a union takes its first branch (a default). */
static brook_err_t brook__from_json(avro_value_t *v, const json_t *j,
                                    bool wrapped, brook__avro_path_t *path,
                                    char *errstr, size_t errstr_size, int depth)
{
        avro_schema_t s = brook__avro_unlink(avro_value_get_schema(v));
        avro_value_t child;
        const char *key = NULL, *str;
        json_t *c;
        size_t i, n = 0, old;
        unsigned char *bytes;
        brook_err_t err;
        char bname[512];
        int idx;
        double d;

        if (depth > BROOK__AVRO_MAX_DEPTH) {
                brook__seterr(errstr, errstr_size, "JSON at %s nests too deep",
                              path->buf);
                return BROOK_ERR_SERDE;
        }
        switch (avro_value_get_type(v)) {
        case AVRO_NULL:
                if (!json_is_null(j))
                        return brook__json_bad(path, "null", j, errstr,
                                               errstr_size);
                return avro_value_set_null(v) ? BROOK_ERR_SERDE : BROOK_OK;
        case AVRO_BOOLEAN:
                if (!json_is_boolean(j))
                        return brook__json_bad(path, "a boolean", j, errstr,
                                               errstr_size);
                avro_value_set_boolean(v, json_is_true(j));
                return BROOK_OK;
        case AVRO_INT32:
                if (!json_is_integer(j) ||
                    json_integer_value(j) != (int32_t)json_integer_value(j))
                        return brook__json_bad(path, "a 32-bit integer", j,
                                               errstr, errstr_size);
                avro_value_set_int(v, (int32_t)json_integer_value(j));
                return BROOK_OK;
        case AVRO_INT64:
                if (!json_is_integer(j))
                        return brook__json_bad(path, "an integer", j, errstr,
                                               errstr_size);
                avro_value_set_long(v, json_integer_value(j));
                return BROOK_OK;
        case AVRO_FLOAT:
        case AVRO_DOUBLE:
                if (json_is_number(j)) {
                        d = json_number_value(j);
                } else if ((str = json_string_value(j)) &&
                           (!strcmp(str, "NaN") || !strcmp(str, "Infinity") ||
                            !strcmp(str, "-Infinity"))) {
                        d = !strcmp(str, "NaN") ? NAN
                            : *str == '-'       ? -INFINITY
                                                : INFINITY;
                } else {
                        return brook__json_bad(path, "a number", j, errstr,
                                               errstr_size);
                }
                if (avro_value_get_type(v) == AVRO_FLOAT)
                        avro_value_set_float(v, (float)d);
                else
                        avro_value_set_double(v, d);
                return BROOK_OK;
        case AVRO_STRING:
                if (!json_is_string(j))
                        return brook__json_bad(path, "a string", j, errstr,
                                               errstr_size);
                /* avro-c's string sizes count the NUL. */
                avro_value_set_string_len(v, json_string_value(j),
                                          json_string_length(j) + 1);
                return BROOK_OK;
        case AVRO_BYTES:
        case AVRO_FIXED:
                if (!json_is_string(j))
                        return brook__json_bad(path, "a string", j, errstr,
                                               errstr_size);
                if (!brook__json_latin1(j, &bytes, &n))
                        return brook__json_bad(path,
                                               "a string of code points 0 to "
                                               "255",
                                               j, errstr, errstr_size);
                if (avro_value_get_type(v) == AVRO_BYTES) {
                        avro_value_set_bytes(v, bytes, n);
                } else if ((int64_t)n != avro_schema_fixed_size(s)) {
                        free(bytes);
                        brook__seterr(errstr, errstr_size,
                                      "JSON at %s: expected %lld bytes for "
                                      "fixed \"%s\", got %zu",
                                      path->buf,
                                      (long long)avro_schema_fixed_size(s),
                                      avro_schema_name(s), n);
                        return BROOK_ERR_SERDE;
                } else {
                        avro_value_set_fixed(v, bytes, n);
                }
                free(bytes);
                return BROOK_OK;
        case AVRO_ENUM:
                if (!json_is_string(j))
                        return brook__json_bad(path, "an enum symbol", j,
                                               errstr, errstr_size);
                if ((idx = brook__avro_symbol_index(s, json_string_value(j))) <
                    0) {
                        brook__seterr(errstr, errstr_size,
                                      "JSON at %s: \"%s\" is not a symbol of "
                                      "enum \"%s\"",
                                      path->buf, json_string_value(j),
                                      avro_schema_name(s));
                        return BROOK_ERR_SERDE;
                }
                avro_value_set_enum(v, idx);
                return BROOK_OK;
        case AVRO_RECORD:
                if (!json_is_object(j))
                        return brook__json_bad(path, "an object", j, errstr,
                                               errstr_size);
                avro_value_get_size(v, &n);
                for (i = 0; i < n; i++) {
                        avro_value_get_by_index(v, i, &child, &key);
                        old = brook__path_push(path, ".%s", key, 0);
                        c = json_object_get(j, key);
                        if (!c) {
                                brook__seterr(errstr, errstr_size,
                                              "JSON at %s: the field is "
                                              "missing",
                                              path->buf);
                                return BROOK_ERR_SERDE;
                        }
                        if ((err = brook__from_json(&child, c, wrapped, path,
                                                    errstr, errstr_size,
                                                    depth + 1)))
                                return err;
                        brook__path_pop(path, old);
                }
                return BROOK_OK;
        case AVRO_MAP:
                if (!json_is_object(j))
                        return brook__json_bad(path, "an object", j, errstr,
                                               errstr_size);
                json_object_foreach((json_t *)j, key, c)
                {
                        avro_value_add(v, key, &child, NULL, NULL);
                        old = brook__path_push(path, ".%s", key, 0);
                        if ((err = brook__from_json(&child, c, wrapped, path,
                                                    errstr, errstr_size,
                                                    depth + 1)))
                                return err;
                        brook__path_pop(path, old);
                }
                return BROOK_OK;
        case AVRO_ARRAY:
                if (!json_is_array(j))
                        return brook__json_bad(path, "an array", j, errstr,
                                               errstr_size);
                json_array_foreach(j, i, c)
                {
                        avro_value_append(v, &child, NULL);
                        old = brook__path_push(path, "[%zu]", NULL, i);
                        if ((err = brook__from_json(&child, c, wrapped, path,
                                                    errstr, errstr_size,
                                                    depth + 1)))
                                return err;
                        brook__path_pop(path, old);
                }
                return BROOK_OK;
        case AVRO_UNION:
                n = avro_schema_union_size(s);
                if (!wrapped) {
                        avro_value_set_branch(v, 0, &child);
                        return brook__from_json(&child, j, wrapped, path,
                                                errstr, errstr_size, depth + 1);
                }
                if (json_is_null(j)) {
                        for (i = 0; i < n; i++)
                                if (is_avro_null(
                                            avro_schema_union_branch(s, i))) {
                                        avro_value_set_branch(v, (int)i,
                                                              &child);
                                        return BROOK_OK;
                                }
                        return brook__json_bad(path,
                                               "a value (the union has no "
                                               "null)",
                                               j, errstr, errstr_size);
                }
                if (!json_is_object(j) || json_object_size(j) != 1)
                        return brook__json_bad(path,
                                               "null or {\"<type>\": value} "
                                               "for a union",
                                               j, errstr, errstr_size);
                json_object_foreach((json_t *)j, key, c)
                {
                        for (i = 0; i < n; i++) {
                                avro_schema_t b = brook__avro_unlink(
                                        avro_schema_union_branch(s, i));
                                if (!strcmp(key,
                                            brook__avro_branch_name(
                                                    b, bname, sizeof bname)) ||
                                    (brook__avro_is_named(b) &&
                                     !strcmp(key, avro_schema_name(b))))
                                        break;
                        }
                        if (i == n) {
                                brook__seterr(errstr, errstr_size,
                                              "JSON at %s: the union has no "
                                              "branch \"%s\"",
                                              path->buf, key);
                                return BROOK_ERR_SERDE;
                        }
                        avro_value_set_branch(v, (int)i, &child);
                        old = brook__path_push(path, ".%s", key, 0);
                        if ((err = brook__from_json(&child, c, wrapped, path,
                                                    errstr, errstr_size,
                                                    depth + 1)))
                                return err;
                        brook__path_pop(path, old);
                }
                return BROOK_OK;
        default:
                brook__seterr(errstr, errstr_size,
                              "Avro value at %s has an unknown type",
                              path->buf);
                return BROOK_ERR_SERDE;
        }
}

brook_err_t brook_avro_from_json(avro_value_t *value, const json_t *json,
                                 char *errstr, size_t errstr_size)
{
        brook__avro_path_t path = {"$", 1};
        if (!value || !json) {
                brook__seterr(errstr, errstr_size,
                              "brook_avro_from_json: %s is NULL",
                              !value ? "value" : "json");
                return BROOK_ERR_INVALID_ARG;
        }
        avro_value_reset(value);
        return brook__from_json(value, json, true, &path, errstr, errstr_size,
                                0);
}

/* ------------------------------------------------------------ resolution */

/* Whether a writer datum of schema @p w may be read as reader schema @p r
 * without promotion (@p promote false) or with it. */
static bool brook__avro_fits(avro_schema_t r, avro_schema_t w, bool promote)
{
        avro_type_t rt, wt;
        r = brook__avro_unlink(r);
        w = brook__avro_unlink(w);
        rt = avro_typeof(r);
        wt = avro_typeof(w);
        if (rt == wt)
                return !brook__avro_is_named(r) ||
                       !strcmp(avro_schema_name(r), avro_schema_name(w));
        if (!promote)
                return false;
        switch (rt) {
        case AVRO_INT64:
                return wt == AVRO_INT32;
        case AVRO_FLOAT:
                return wt == AVRO_INT32 || wt == AVRO_INT64;
        case AVRO_DOUBLE:
                return wt == AVRO_INT32 || wt == AVRO_INT64 || wt == AVRO_FLOAT;
        case AVRO_STRING:
                return wt == AVRO_BYTES;
        case AVRO_BYTES:
                return wt == AVRO_STRING;
        default:
                return false;
        }
}

static brook_err_t brook__resolve(const brook__avro_schema_t *reader,
                                  const avro_value_t *w, avro_value_t *r,
                                  brook__avro_path_t *path, char *errstr,
                                  size_t errstr_size, int depth);

/* Whether @p a and @p b are not named, or named alike in full. */
static bool brook__avro_same_fullname(avro_schema_t a, avro_schema_t b)
{
        char fa[512], fb[512];
        a = brook__avro_unlink(a);
        b = brook__avro_unlink(b);
        if (!brook__avro_is_named(a) || !brook__avro_is_named(b))
                return true;
        return !strcmp(brook__avro_fullname(a, fa, sizeof fa),
                       brook__avro_fullname(b, fb, sizeof fb));
}

static brook_err_t brook__resolve_mismatch(brook__avro_path_t *path,
                                           avro_schema_t r, avro_schema_t w,
                                           char *errstr, size_t errstr_size)
{
        char rn[512], wn[512];
        brook__seterr(errstr, errstr_size,
                      "Avro schemas do not resolve at %s: the writer's %s "
                      "cannot be read as the reader's %s",
                      path->buf, brook__avro_branch_name(w, wn, sizeof wn),
                      brook__avro_branch_name(r, rn, sizeof rn));
        return BROOK_ERR_SERDE;
}

/* The reader record field @p rname's JSON in @p rjson (a record's). */
static json_t *brook__field_json(json_t *rjson, const char *rname)
{
        json_t *f;
        size_t i;
        json_array_foreach(json_object_get(rjson, "fields"), i, f)
        {
                const char *n = json_string_value(json_object_get(f, "name"));
                if (n && !strcmp(n, rname))
                        return f;
        }
        return NULL;
}

static brook_err_t brook__resolve_record(const brook__avro_schema_t *reader,
                                         const avro_value_t *w, avro_value_t *r,
                                         avro_schema_t ws, avro_schema_t rs,
                                         brook__avro_path_t *path, char *errstr,
                                         size_t errstr_size, int depth)
{
        json_t *rjson = brook__avro_named_json(reader, rs), *fj, *alias, *def;
        avro_value_t wf, rf;
        const char *rname = NULL;
        size_t i, n = 0, k, old;
        int wi;
        brook_err_t err;

        avro_value_get_size(r, &n);
        for (i = 0; i < n; i++) {
                avro_value_get_by_index(r, i, &rf, &rname);
                fj = rjson ? brook__field_json(rjson, rname) : NULL;
                wi = brook__avro_field_index(ws, rname);
                json_array_foreach(json_object_get(fj, "aliases"), k, alias)
                {
                        if (wi >= 0)
                                break;
                        if (json_is_string(alias))
                                wi = brook__avro_field_index(
                                        ws, json_string_value(alias));
                }
                old = brook__path_push(path, ".%s", rname, 0);
                if (wi >= 0) {
                        avro_value_get_by_index(w, (size_t)wi, &wf, NULL);
                        err = brook__resolve(reader, &wf, &rf, path, errstr,
                                             errstr_size, depth + 1);
                } else if ((def = json_object_get(fj, "default"))) {
                        err = brook__from_json(&rf, def, false, path, errstr,
                                               errstr_size, depth + 1);
                        if (err) {
                                char why[256];
                                snprintf(why, sizeof why, "%s",
                                         errstr ? errstr : "");
                                brook__seterr(errstr, errstr_size,
                                              "the reader's default for %s "
                                              "does not fit its type: %s",
                                              path->buf, why);
                        }
                } else {
                        brook__seterr(errstr, errstr_size,
                                      "Avro schemas do not resolve: the "
                                      "writer has no field %s and the "
                                      "reader's has no default",
                                      path->buf);
                        err = BROOK_ERR_SERDE;
                }
                if (err)
                        return err;
                brook__path_pop(path, old);
        }
        return BROOK_OK;
}

static brook_err_t brook__resolve(const brook__avro_schema_t *reader,
                                  const avro_value_t *w, avro_value_t *r,
                                  brook__avro_path_t *path, char *errstr,
                                  size_t errstr_size, int depth)
{
        avro_schema_t ws = brook__avro_unlink(avro_value_get_schema(w));
        avro_schema_t rs = brook__avro_unlink(avro_value_get_schema(r));
        avro_type_t wt = avro_value_get_type(w), rt = avro_value_get_type(r);
        avro_value_t wc, rc;
        const char *str = NULL, *key = NULL;
        const void *buf = NULL;
        size_t size = 0, i, n = 0, old;
        int32_t i32 = 0;
        int64_t i64 = 0;
        float f = 0;
        double d = 0;
        int e = 0;
        brook_err_t err;

        if (depth > BROOK__AVRO_MAX_DEPTH) {
                brook__seterr(errstr, errstr_size,
                              "Avro value at %s nests too deep", path->buf);
                return BROOK_ERR_SERDE;
        }
        if (wt == AVRO_UNION && avro_value_get_current_branch(w, &wc)) {
                brook__seterr(errstr, errstr_size,
                              "Avro union at %s has no branch set", path->buf);
                return BROOK_ERR_SERDE;
        }
        if (wt == AVRO_UNION && rt != AVRO_UNION) {
                return brook__resolve(reader, &wc, r, path, errstr, errstr_size,
                                      depth + 1);
        }
        if (rt == AVRO_UNION) {
                avro_schema_t from = ws;
                const avro_value_t *src = w;
                if (wt == AVRO_UNION) {
                        src = &wc;
                        from = brook__avro_unlink(avro_value_get_schema(&wc));
                }
                n = avro_schema_union_size(rs);
                /* As Java: the branch of the same full name first. */
                for (i = 0; i < n; i++)
                        if (brook__avro_fits(avro_schema_union_branch(rs, i),
                                             from, false) &&
                            brook__avro_same_fullname(
                                    avro_schema_union_branch(rs, i), from))
                                break;
                if (i == n)
                        for (i = 0; i < n; i++)
                                if (brook__avro_fits(
                                            avro_schema_union_branch(rs, i),
                                            from, false))
                                        break;
                if (i == n)
                        for (i = 0; i < n; i++)
                                if (brook__avro_fits(
                                            avro_schema_union_branch(rs, i),
                                            from, true))
                                        break;
                if (i == n)
                        return brook__resolve_mismatch(path, rs, from, errstr,
                                                       errstr_size);
                avro_value_set_branch(r, (int)i, &rc);
                return brook__resolve(reader, src, &rc, path, errstr,
                                      errstr_size, depth + 1);
        }
        if (!brook__avro_fits(rs, ws, true) &&
            !(rt == AVRO_RECORD && wt == AVRO_RECORD))
                return brook__resolve_mismatch(path, rs, ws, errstr,
                                               errstr_size);

        switch (rt) {
        case AVRO_NULL:
                avro_value_set_null(r);
                return BROOK_OK;
        case AVRO_BOOLEAN:
                avro_value_get_boolean(w, &e);
                avro_value_set_boolean(r, e);
                return BROOK_OK;
        case AVRO_INT32:
                avro_value_get_int(w, &i32);
                avro_value_set_int(r, i32);
                return BROOK_OK;
        case AVRO_INT64:
                if (wt == AVRO_INT32) {
                        avro_value_get_int(w, &i32);
                        i64 = i32;
                } else {
                        avro_value_get_long(w, &i64);
                }
                avro_value_set_long(r, i64);
                return BROOK_OK;
        case AVRO_FLOAT:
        case AVRO_DOUBLE:
                if (wt == AVRO_INT32) {
                        avro_value_get_int(w, &i32);
                        d = i32;
                } else if (wt == AVRO_INT64) {
                        avro_value_get_long(w, &i64);
                        d = (double)i64;
                        /* Java widens long to float in one step. */
                        if (rt == AVRO_FLOAT)
                                d = (float)i64;
                } else if (wt == AVRO_FLOAT) {
                        avro_value_get_float(w, &f);
                        d = f;
                } else {
                        avro_value_get_double(w, &d);
                }
                if (rt == AVRO_FLOAT)
                        avro_value_set_float(r, (float)d);
                else
                        avro_value_set_double(r, d);
                return BROOK_OK;
        case AVRO_STRING:
        case AVRO_BYTES:
                if (wt == AVRO_STRING) {
                        avro_value_get_string(w, &str, &size);
                        buf = str;
                        size = size ? size - 1 : 0;
                } else {
                        avro_value_get_bytes(w, &buf, &size);
                }
                if (rt == AVRO_BYTES) {
                        avro_value_set_bytes(r, (void *)buf, size);
                } else {
                        char *copy = brook__xmalloc(size + 1);
                        memcpy(copy, buf, size);
                        copy[size] = '\0';
                        avro_value_set_string_len(r, copy, size + 1);
                        free(copy);
                }
                return BROOK_OK;
        case AVRO_FIXED:
                avro_value_get_fixed(w, &buf, &size);
                if ((int64_t)size != avro_schema_fixed_size(rs))
                        return brook__resolve_mismatch(path, rs, ws, errstr,
                                                       errstr_size);
                avro_value_set_fixed(r, (void *)buf, size);
                return BROOK_OK;
        case AVRO_ENUM: {
                json_t *def;
                avro_value_get_enum(w, &e);
                str = brook__avro_symbol(ws, e);
                if (str && (e = brook__avro_symbol_index(rs, str)) >= 0) {
                        avro_value_set_enum(r, e);
                        return BROOK_OK;
                }
                def = json_object_get(brook__avro_named_json(reader, rs),
                                      "default");
                if (json_is_string(def) &&
                    (e = brook__avro_symbol_index(
                             rs, json_string_value(def))) >= 0) {
                        avro_value_set_enum(r, e);
                        return BROOK_OK;
                }
                brook__seterr(errstr, errstr_size,
                              "Avro schemas do not resolve at %s: the "
                              "reader's enum \"%s\" has no symbol \"%s\" and "
                              "no default",
                              path->buf, avro_schema_name(rs), str ? str : "?");
                return BROOK_ERR_SERDE;
        }
        case AVRO_ARRAY:
                avro_value_get_size(w, &n);
                for (i = 0; i < n; i++) {
                        avro_value_get_by_index(w, i, &wc, NULL);
                        avro_value_append(r, &rc, NULL);
                        old = brook__path_push(path, "[%zu]", NULL, i);
                        if ((err = brook__resolve(reader, &wc, &rc, path,
                                                  errstr, errstr_size,
                                                  depth + 1)))
                                return err;
                        brook__path_pop(path, old);
                }
                return BROOK_OK;
        case AVRO_MAP:
                avro_value_get_size(w, &n);
                for (i = 0; i < n; i++) {
                        avro_value_get_by_index(w, i, &wc, &key);
                        avro_value_add(r, key, &rc, NULL, NULL);
                        old = brook__path_push(path, ".%s", key, 0);
                        if ((err = brook__resolve(reader, &wc, &rc, path,
                                                  errstr, errstr_size,
                                                  depth + 1)))
                                return err;
                        brook__path_pop(path, old);
                }
                return BROOK_OK;
        case AVRO_RECORD:
                return brook__resolve_record(reader, w, r, ws, rs, path, errstr,
                                             errstr_size, depth);
        default:
                return brook__resolve_mismatch(path, rs, ws, errstr,
                                               errstr_size);
        }
}

brook_err_t brook__avro_resolve(const brook__avro_schema_t *reader,
                                const avro_value_t *w, avro_value_t *r,
                                char *errstr, size_t errstr_size)
{
        brook__avro_path_t path = {"$", 1};
        avro_value_reset(r);
        return brook__resolve(reader, w, r, &path, errstr, errstr_size, 0);
}

/* ---------------------------------------------------------------- decode */

/* Whether values of @p w are values of @p reader: no resolution needed.
 * Remembered per reader for the last writer found equal (writers are the
 * registry client's, which outlives the serdes' readers). */
static bool brook__avro_same(const brook__avro_schema_t *reader,
                             const brook__avro_schema_t *w)
{
        brook__avro_schema_t *r = (brook__avro_schema_t *)reader;
        if (reader == w || reader->schema == w->schema ||
            atomic_load_explicit(&r->same_as, memory_order_relaxed) == w)
                return true;
        if (!avro_schema_equal(reader->schema, w->schema))
                return false;
        atomic_store_explicit(&r->same_as, w, memory_order_relaxed);
        return true;
}

brook_err_t brook__avro_decode(brook_schema_registry_t *sr,
                               const brook__avro_schema_t *reader,
                               const void *data, size_t size,
                               avro_value_t *valp, char *errstr,
                               size_t errstr_size)
{
        const unsigned char *p = data;
        const brook__avro_schema_t *w;
        avro_reader_t rd;
        avro_value_t wv;
        brook_err_t err;
        size_t used;
        int32_t id;
        bool same;

        if (size < BROOK__AVRO_HEADER) {
                brook__seterr(errstr, errstr_size,
                              "Avro deserializer: %zu bytes is too short for "
                              "the Confluent wire format (magic byte 0 and a "
                              "4-byte schema id)",
                              size);
                return BROOK_ERR_SERDE;
        }
        if (p[0] != 0) {
                brook__seterr(errstr, errstr_size,
                              "Avro deserializer: unknown magic byte 0x%02x "
                              "(the Confluent wire format starts with 0x00)",
                              p[0]);
                return BROOK_ERR_SERDE;
        }
        id = (int32_t)(uint32_t)brook__be_get(p + 1, 4);
        if ((err = brook__sr_schema_by_id(sr, id, &w, errstr, errstr_size)))
                return BROOK_ERR_SERDE;
        if ((err = brook__avro_scan(w->schema, p + BROOK__AVRO_HEADER,
                                    size - BROOK__AVRO_HEADER, &used, errstr,
                                    errstr_size)))
                return err;

        same = !reader || brook__avro_same(reader, w);
        avro_generic_value_new(
                same ? (reader ? reader->iface : w->iface) : w->iface, &wv);
        rd = avro_reader_memory((const char *)p + BROOK__AVRO_HEADER,
                                (int64_t)used);
        if (avro_value_read(rd, &wv)) {
                brook__seterr(errstr, errstr_size,
                              "Avro deserializer: schema id %d: %s", id,
                              avro_strerror());
                avro_reader_free(rd);
                avro_value_decref(&wv);
                return BROOK_ERR_SERDE;
        }
        avro_reader_free(rd);
        if (same) {
                *valp = wv;
                return BROOK_OK;
        }
        avro_generic_value_new(reader->iface, valp);
        err = brook__avro_resolve(reader, &wv, valp, errstr, errstr_size);
        avro_value_decref(&wv);
        if (err) {
                char why[512];
                snprintf(why, sizeof why, "%s", errstr ? errstr : "");
                brook__seterr(errstr, errstr_size,
                              "Avro deserializer: writer schema id %d: %s", id,
                              why);
                avro_value_decref(valp);
                return BROOK_ERR_SERDE;
        }
        return BROOK_OK;
}

/* ----------------------------------------------------------------- serde */

/* Ids a serializer found, by subject and schema: a lookup costs a mutex
 * and a compare, a miss a registry request. */
#define BROOK__AVRO_IDS 16

typedef struct brook__avro_id {
        char *subject;
        avro_schema_t schema; /**< Counted reference. */
        int32_t id;
} brook__avro_id_t;

typedef struct brook__avro_serde {
        uint64_t gen; /**< Unique per serde, for the per-thread cache. */
        brook_schema_registry_t *sr;
        brook__avro_schema_t *schema; /**< The serde's, or NULL. */
        bool is_key, json;
        pthread_mutex_t lock;
        brook__avro_id_t ids[BROOK__AVRO_IDS];
        size_t id_next;
} brook__avro_serde_t;

static atomic_uint_least64_t brook__avro_gen;

/* Each thread's last ids of a serde's own schema per topic: a serialize
 * then costs no lock, no subject formatting and no schema compare. */
#define BROOK__AVRO_FAST 4

static _Thread_local struct brook__avro_fast {
        uint64_t gen;
        int32_t id;
        char topic[256];
} brook__avro_fast[BROOK__AVRO_FAST];

static void brook__avro_serde_free(void *opaque)
{
        brook__avro_serde_t *as = opaque;
        size_t i;
        for (i = 0; i < BROOK__AVRO_IDS; i++) {
                free(as->ids[i].subject);
                if (as->ids[i].schema)
                        avro_schema_decref(as->ids[i].schema);
        }
        pthread_mutex_destroy(&as->lock);
        brook__avro_schema_free(as->schema);
        brook_schema_registry_destroy(as->sr);
        free(as);
}

/* The subject @p schema is registered under for this serde. */
static brook_err_t brook__avro_subject(brook__avro_serde_t *as,
                                       avro_schema_t schema, char *buf,
                                       size_t size, char *errstr,
                                       size_t errstr_size)
{
        const char *topic = brook_serde_topic();
        char name[512];
        brook__subject_strategy_t st = brook__sr_strategy(as->sr, as->is_key);

        schema = brook__avro_unlink(schema);
        if (brook__avro_is_named(schema)) {
                brook__avro_fullname(schema, name, sizeof name);
        } else if (st != BROOK__SUBJECT_TOPIC) {
                brook__seterr(errstr, errstr_size,
                              "Avro serializer: %s needs a named schema "
                              "(record, enum or fixed), not a %s",
                              st == BROOK__SUBJECT_RECORD
                                      ? "RecordNameStrategy"
                                      : "TopicRecordNameStrategy",
                              brook__avro_branch_name(schema, buf, size));
                return BROOK_ERR_SERDE;
        }
        if (st != BROOK__SUBJECT_RECORD && !topic) {
                brook__seterr(errstr, errstr_size,
                              "Avro serializer: the subject name strategy "
                              "needs a topic and none is known here (brook "
                              "gives serdes the topic at sources, sinks, "
                              "repartition topics, key-value stores and the "
                              "test driver, not yet where a table's group_by "
                              "compares keys or inside foreign-key joins); "
                              "use RecordNameStrategy");
                return BROOK_ERR_SERDE;
        }
        switch (st) {
        case BROOK__SUBJECT_TOPIC:
                snprintf(buf, size, "%s-%s", topic,
                         as->is_key ? "key" : "value");
                break;
        case BROOK__SUBJECT_RECORD:
                snprintf(buf, size, "%s", name);
                break;
        case BROOK__SUBJECT_TOPIC_RECORD:
                snprintf(buf, size, "%s-%s", topic, name);
                break;
        }
        return BROOK_OK;
}

/* The id values of @p schema are written with under @p subject. */
static brook_err_t brook__avro_id(brook__avro_serde_t *as, const char *subject,
                                  avro_schema_t schema, int32_t *idp,
                                  char *errstr, size_t errstr_size)
{
        const brook__avro_schema_t *known;
        const char *text;
        char *rendered = NULL;
        brook_err_t err;
        size_t i;

        pthread_mutex_lock(&as->lock);
        for (i = 0; i < BROOK__AVRO_IDS; i++)
                if (as->ids[i].schema == schema &&
                    !strcmp(as->ids[i].subject, subject)) {
                        *idp = as->ids[i].id;
                        pthread_mutex_unlock(&as->lock);
                        return BROOK_OK;
                }
        pthread_mutex_unlock(&as->lock);

        /* The text given, annotations included, where there is one. */
        if (as->schema && (as->schema->schema == schema ||
                           avro_schema_equal(as->schema->schema, schema)))
                text = as->schema->text;
        else if ((known = brook__sr_known(as->sr, schema)))
                text = known->text;
        else {
                avro_writer_t wr;
                size_t cap = 4096;
                for (;;) {
                        rendered = brook__xrealloc(rendered, cap);
                        wr = avro_writer_memory(rendered, (int64_t)cap - 1);
                        if (!avro_schema_to_json(schema, wr)) {
                                rendered[avro_writer_tell(wr)] = '\0';
                                avro_writer_free(wr);
                                break;
                        }
                        avro_writer_free(wr);
                        if ((cap *= 2) > (1 << 24)) {
                                free(rendered);
                                brook__seterr(errstr, errstr_size,
                                              "Avro serializer: the value's "
                                              "schema cannot be rendered as "
                                              "JSON");
                                return BROOK_ERR_SERDE;
                        }
                }
                text = rendered;
        }
        if (brook__sr_auto_register(as->sr))
                err = brook_schema_registry_register(as->sr, subject, text, idp,
                                                     errstr, errstr_size);
        else
                err = brook_schema_registry_lookup(as->sr, subject, text, idp,
                                                   NULL, errstr, errstr_size);
        free(rendered);
        if (err)
                return BROOK_ERR_SERDE;

        pthread_mutex_lock(&as->lock);
        i = as->id_next++ % BROOK__AVRO_IDS;
        free(as->ids[i].subject);
        if (as->ids[i].schema)
                avro_schema_decref(as->ids[i].schema);
        as->ids[i].subject = brook__xstrdup(subject);
        as->ids[i].schema = avro_schema_incref(schema);
        as->ids[i].id = *idp;
        pthread_mutex_unlock(&as->lock);
        return BROOK_OK;
}

static brook_err_t brook__avro_write(avro_value_t *v, int32_t id,
                                     brook_buf_t *out, char *errstr,
                                     size_t errstr_size)
{
        unsigned char *p;
        avro_writer_t wr;
        size_t size;

        if (avro_value_sizeof(v, &size)) {
                brook__seterr(errstr, errstr_size, "Avro serializer: %s",
                              avro_strerror());
                return BROOK_ERR_SERDE;
        }
        p = brook_buf_reserve(out, BROOK__AVRO_HEADER + size);
        p[0] = 0;
        brook__be_put(p + 1, (uint32_t)id, 4);
        wr = avro_writer_memory((char *)p + BROOK__AVRO_HEADER, (int64_t)size);
        if (avro_value_write(wr, v)) {
                avro_writer_free(wr);
                brook__seterr(errstr, errstr_size, "Avro serializer: %s",
                              avro_strerror());
                return BROOK_ERR_SERDE;
        }
        avro_writer_free(wr);
        brook_buf_advance(out, BROOK__AVRO_HEADER + size);
        return BROOK_OK;
}

static brook_err_t brook__avro_serialize_value(brook__avro_serde_t *as,
                                               avro_value_t *v,
                                               brook_buf_t *out, char *errstr,
                                               size_t errstr_size)
{
        avro_schema_t schema = avro_value_get_schema(v);
        const char *topic = brook_serde_topic() ? brook_serde_topic() : "";
        struct brook__avro_fast *fast =
                &brook__avro_fast[as->gen % BROOK__AVRO_FAST];
        bool own = as->schema && schema == as->schema->schema;
        const brook__avro_schema_t *latest;
        char subject[1024];
        avro_value_t lv;
        brook_err_t err;
        int32_t id;

        bool latest_wanted = brook__sr_use_latest(as->sr) &&
                             !brook__sr_auto_register(as->sr);

        if (own && fast->gen == as->gen && !strcmp(fast->topic, topic) &&
            !latest_wanted)
                return brook__avro_write(v, fast->id, out, errstr, errstr_size);
        if ((err = brook__avro_subject(as, schema, subject, sizeof subject,
                                       errstr, errstr_size)))
                return err;
        /* As Confluent's: auto.register.schemas first; use.latest.version
         * only without it. */
        if (!latest_wanted) {
                if ((err = brook__avro_id(as, subject, schema, &id, errstr,
                                          errstr_size)))
                        return err;
                if (own && strlen(topic) < sizeof fast->topic) {
                        fast->gen = as->gen;
                        fast->id = id;
                        strcpy(fast->topic, topic);
                }
                return brook__avro_write(v, id, out, errstr, errstr_size);
        }
        /* use.latest.version: the subject's latest schema is written. */
        if ((err = brook__sr_latest(as->sr, subject, &latest, errstr,
                                    errstr_size)))
                return BROOK_ERR_SERDE;
        if (latest->schema == schema ||
            avro_schema_equal(latest->schema, schema))
                return brook__avro_write(v, latest->id, out, errstr,
                                         errstr_size);
        avro_generic_value_new(latest->iface, &lv);
        if (!(err = brook__avro_resolve(latest, v, &lv, errstr, errstr_size)))
                err = brook__avro_write(&lv, latest->id, out, errstr,
                                        errstr_size);
        avro_value_decref(&lv);
        return err;
}

static brook_err_t brook__avro_ser(const void *obj, brook_buf_t *out,
                                   void *opaque, char *errstr,
                                   size_t errstr_size)
{
        brook__avro_serde_t *as = opaque;
        avro_value_t v;
        brook_err_t err;

        if (!as->json)
                return brook__avro_serialize_value(as, (avro_value_t *)obj, out,
                                                   errstr, errstr_size);
        if (!as->schema) {
                brook__seterr(errstr, errstr_size,
                              "Avro JSON serializer: no schema was given, so "
                              "it cannot serialize");
                return BROOK_ERR_SERDE;
        }
        avro_generic_value_new(as->schema->iface, &v);
        if (!(err = brook_avro_from_json(&v, obj, errstr, errstr_size)))
                err = brook__avro_serialize_value(as, &v, out, errstr,
                                                  errstr_size);
        avro_value_decref(&v);
        return err ? BROOK_ERR_SERDE : BROOK_OK;
}

/* The latest schema of the subject a record of @p data's writer schema
 * has for this serde. A record that is not the wire format is left to
 * brook__avro_decode() to refuse. */
static brook_err_t
brook__avro_latest_reader(brook__avro_serde_t *as, const void *data,
                          size_t size, const brook__avro_schema_t **readerp,
                          char *errstr, size_t errstr_size)
{
        const unsigned char *p = data;
        const brook__avro_schema_t *w;
        char subject[1024];
        brook_err_t err;

        if (size < BROOK__AVRO_HEADER || p[0] != 0)
                return BROOK_OK;
        if ((err = brook__sr_schema_by_id(
                     as->sr, (int32_t)(uint32_t)brook__be_get(p + 1, 4), &w,
                     errstr, errstr_size)))
                return BROOK_ERR_SERDE;
        if ((err = brook__avro_subject(as, w->schema, subject, sizeof subject,
                                       errstr, errstr_size)) ||
            (err = brook__sr_latest(as->sr, subject, readerp, errstr,
                                    errstr_size)))
                return BROOK_ERR_SERDE;
        return BROOK_OK;
}

static void brook__avro_value_free(void *p)
{
        avro_value_decref(p);
}

static brook_err_t brook__avro_deser(const void *data, size_t size,
                                     brook_arena_t *arena, void **objp,
                                     void *opaque, char *errstr,
                                     size_t errstr_size)
{
        brook__avro_serde_t *as = opaque;
        const brook__avro_schema_t *reader = as->schema;
        avro_value_t v, *vp;
        brook_err_t err;
        json_t *j;

        /* use.latest.version without a schema of the serde's own: the
         * subject's latest schema is the reader's, as Confluent's
         * deserializer has it. */
        if (!reader && brook__sr_use_latest(as->sr) &&
            (err = brook__avro_latest_reader(as, data, size, &reader, errstr,
                                             errstr_size)))
                return err;
        if ((err = brook__avro_decode(as->sr, reader, data, size, &v, errstr,
                                      errstr_size)))
                return err;
        if (as->json) {
                j = brook_avro_to_json(&v, errstr, errstr_size);
                avro_value_decref(&v);
                if (!j)
                        return BROOK_ERR_SERDE;
                *objp = brook_json_own(arena, j);
                return BROOK_OK;
        }
        vp = brook_arena_alloc(arena, sizeof *vp);
        *vp = v;
        brook_arena_defer(arena, brook__avro_value_free, vp);
        *objp = vp;
        return BROOK_OK;
}

static brook_serde_t *brook__avro_serde_new(brook_schema_registry_t *sr,
                                            const char *schema, bool is_key,
                                            bool json, char *errstr,
                                            size_t errstr_size)
{
        brook__avro_serde_t *as;
        brook__avro_schema_t *parsed = NULL;

        if (!sr) {
                brook__seterr(errstr, errstr_size,
                              "brook_serde_avro_new: sr is NULL");
                return NULL;
        }
        if (schema &&
            !(parsed = brook__avro_schema_parse(schema, errstr, errstr_size)))
                return NULL;
        as = brook__xcalloc(1, sizeof *as);
        as->gen = atomic_fetch_add(&brook__avro_gen, 1) + 1;
        as->sr = brook__sr_ref(sr);
        as->schema = parsed;
        as->is_key = is_key;
        as->json = json;
        pthread_mutex_init(&as->lock, NULL);
        return brook_serde_new(json ? "avro-json" : "avro", brook__avro_ser,
                               brook__avro_deser, as, brook__avro_serde_free,
                               errstr, errstr_size);
}

brook_serde_t *brook_serde_avro_new(brook_schema_registry_t *sr,
                                    const char *schema, bool is_key,
                                    char *errstr, size_t errstr_size)
{
        return brook__avro_serde_new(sr, schema, is_key, false, errstr,
                                     errstr_size);
}

brook_serde_t *brook_serde_avro_json_new(brook_schema_registry_t *sr,
                                         const char *schema, bool is_key,
                                         char *errstr, size_t errstr_size)
{
        return brook__avro_serde_new(sr, schema, is_key, true, errstr,
                                     errstr_size);
}
