/*
 * brook — timestamps from record values: the top-level JSON field scanner
 * and the ISO-8601 parser behind the built-in JSON timestamp extractor.
 *
 * Both read outside input on every record of a source that uses them, so
 * they allocate nothing and scan only as far as they must: the object up
 * to the field, skipping other fields' values by their quotes and
 * brackets. tests/fuzz/fuzz_timestamp.c holds them against jansson.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "brook_int.h"

/* ---------------------------------------------------------------- ISO 8601 */

/* Days from 1970-01-01 to @p y-@p m-@p d (proleptic Gregorian), as in
 * Howard Hinnant's days_from_civil. */
static int64_t brook__days_from_civil(int64_t y, int m, int d)
{
        int64_t era, yoe, doy, doe;
        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = y - era * 400;
        doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

static int brook__days_in_month(int y, int m)
{
        static const int days[] = {31, 28, 31, 30, 31, 30,
                                   31, 31, 30, 31, 30, 31};
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        return m == 2 && leap ? 29 : days[m - 1];
}

/* Reads exactly @p n digits at *@p pos into *@p out. */
static bool brook__iso_digits(const char *s, size_t len, size_t *pos, int n,
                              int *out)
{
        int v = 0, i;
        if (len - *pos < (size_t)n)
                return false;
        for (i = 0; i < n; i++) {
                char c = s[*pos + i];
                if (c < '0' || c > '9')
                        return false;
                v = v * 10 + (c - '0');
        }
        *pos += n;
        *out = v;
        return true;
}

static bool brook__iso_char(const char *s, size_t len, size_t *pos, char c)
{
        if (*pos >= len || s[*pos] != c)
                return false;
        (*pos)++;
        return true;
}

/* Parses into *@p tsp; on failure returns the reason (static). */
static const char *brook__iso_parse(const char *s, size_t len, int64_t *tsp)
{
        size_t pos = 0;
        int y, mo, d, h, mi, sec = 0, ms = 0, oh = 0, om = 0, sign = 0;
        char c;

        if (!brook__iso_digits(s, len, &pos, 4, &y) ||
            !brook__iso_char(s, len, &pos, '-') ||
            !brook__iso_digits(s, len, &pos, 2, &mo) ||
            !brook__iso_char(s, len, &pos, '-') ||
            !brook__iso_digits(s, len, &pos, 2, &d))
                return "expected a date YYYY-MM-DD";
        if (mo < 1 || mo > 12)
                return "month out of range";
        if (d < 1 || d > brook__days_in_month(y, mo))
                return "day out of range for its month";
        if (pos >= len || (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' '))
                return "expected 'T' and a time after the date";
        pos++;
        if (!brook__iso_digits(s, len, &pos, 2, &h) ||
            !brook__iso_char(s, len, &pos, ':') ||
            !brook__iso_digits(s, len, &pos, 2, &mi))
                return "expected a time HH:MM";
        if (brook__iso_char(s, len, &pos, ':')) {
                if (!brook__iso_digits(s, len, &pos, 2, &sec))
                        return "expected two digits of seconds";
                if (pos < len && (s[pos] == '.' || s[pos] == ',')) {
                        int n = 0;
                        pos++;
                        while (pos < len && s[pos] >= '0' && s[pos] <= '9') {
                                if (n++ < 3)
                                        ms = ms * 10 + (s[pos] - '0');
                                pos++;
                        }
                        if (!n)
                                return "expected digits after the decimal "
                                       "point";
                        /* Nanoseconds at most, as java.time reads them. */
                        if (n > 9)
                                return "more than nine digits of fraction";
                        for (; n < 3; n++)
                                ms *= 10;
                }
        }
        if (h > 23 || mi > 59 || sec > 59)
                return "time out of range";
        if (pos >= len)
                return "no zone: expected 'Z' or an offset such as +01:00";
        c = s[pos++];
        if (c == 'Z' || c == 'z') {
                sign = 0;
        } else if (c == '+' || c == '-') {
                sign = c == '+' ? 1 : -1;
                if (!brook__iso_digits(s, len, &pos, 2, &oh))
                        return "expected the offset's hours HH";
                if (pos < len) {
                        brook__iso_char(s, len, &pos, ':');
                        if (!brook__iso_digits(s, len, &pos, 2, &om))
                                return "expected the offset's minutes MM";
                }
                if (oh > 23 || om > 59)
                        return "offset out of range";
        } else {
                return "expected 'Z' or an offset such as +01:00";
        }
        if (pos != len)
                return "unexpected characters after the zone";
        *tsp = (((brook__days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 +
                sec) * 1000 +
               ms - (int64_t)sign * (oh * 60 + om) * 60000;
        return NULL;
}

brook_err_t brook_timestamp_parse_iso8601(const char *s, size_t len,
                                          int64_t *tsp, char *errstr,
                                          size_t errstr_size)
{
        const char *why;
        if (!s || !tsp) {
                brook__seterr(errstr, errstr_size,
                              "brook_timestamp_parse_iso8601: %s is NULL",
                              !s ? "the string" : "tsp");
                return BROOK_ERR_INVALID_ARG;
        }
        if (!(why = brook__iso_parse(s, len, tsp)))
                return BROOK_OK;
        brook__seterr(errstr, errstr_size,
                      "\"%.*s%s\" is not an ISO-8601 date-time with a zone "
                      "(e.g. 2026-12-02T14:06:17.123Z): %s",
                      (int)(len > 64 ? 64 : len), s, len > 64 ? "..." : "",
                      why);
        return BROOK_ERR_SERDE;
}

/* -------------------------------------------------------------------- JSON */

typedef struct brook__js {
        const unsigned char *p, *end;
} brook__js_t;

static void brook__js_ws(brook__js_t *js)
{
        while (js->p < js->end && (*js->p == ' ' || *js->p == '\t' ||
                                   *js->p == '\n' || *js->p == '\r'))
                js->p++;
}

static int brook__js_hex4(brook__js_t *js)
{
        int v = 0, i;
        if (js->end - js->p < 4)
                return -1;
        for (i = 0; i < 4; i++) {
                unsigned char c = js->p[i];
                v <<= 4;
                if (c >= '0' && c <= '9')
                        v |= c - '0';
                else if (c >= 'a' && c <= 'f')
                        v |= c - 'a' + 10;
                else if (c >= 'A' && c <= 'F')
                        v |= c - 'A' + 10;
                else
                        return -1;
        }
        js->p += 4;
        return v;
}

/* Decodes one character of a string's contents at js->p (not its closing
 * quote) into @p out (1 to 4 bytes of UTF-8, or the raw byte); returns
 * how many bytes, or 0 for a malformed escape or a control character. */
static size_t brook__js_char(brook__js_t *js, unsigned char out[4])
{
        unsigned char c = *js->p++;
        long cp;
        if (c < 0x20)
                return 0;
        if (c != '\\') {
                out[0] = c;
                return 1;
        }
        if (js->p >= js->end)
                return 0;
        c = *js->p++;
        switch (c) {
        case '"':
        case '\\':
        case '/':
                out[0] = c;
                return 1;
        case 'b':
                out[0] = '\b';
                return 1;
        case 'f':
                out[0] = '\f';
                return 1;
        case 'n':
                out[0] = '\n';
                return 1;
        case 'r':
                out[0] = '\r';
                return 1;
        case 't':
                out[0] = '\t';
                return 1;
        case 'u':
                break;
        default:
                return 0;
        }
        if ((cp = brook__js_hex4(js)) < 0)
                return 0;
        if (cp >= 0xdc00 && cp <= 0xdfff)
                return 0;
        if (cp >= 0xd800 && cp <= 0xdbff) {
                long lo;
                if (js->end - js->p < 6 || js->p[0] != '\\' || js->p[1] != 'u')
                        return 0;
                js->p += 2;
                if ((lo = brook__js_hex4(js)) < 0xdc00 || lo > 0xdfff)
                        return 0;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (cp < 0x80) {
                out[0] = (unsigned char)cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (unsigned char)(0xc0 | (cp >> 6));
                out[1] = (unsigned char)(0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (unsigned char)(0xe0 | (cp >> 12));
                out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                out[2] = (unsigned char)(0x80 | (cp & 0x3f));
                return 3;
        }
        out[0] = (unsigned char)(0xf0 | (cp >> 18));
        out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        out[3] = (unsigned char)(0x80 | (cp & 0x3f));
        return 4;
}

/*
 * Reads the string at js->p (its opening quote), unescaped, comparing it
 * with @p cmp (@p cmp_len bytes; NULL: no compare) or copying it into
 * @p buf (@p buf_size bytes; NULL: no copy; *@p lenp gets its length).
 * Returns -1 if malformed, else whether it equals @p cmp (copy: whether it
 * fit). js->p ends past the closing quote.
 */
static int brook__js_string(brook__js_t *js, const char *cmp, size_t cmp_len,
                            char *buf, size_t buf_size, size_t *lenp)
{
        size_t n = 0, k, i;
        bool same = true;
        unsigned char ch[4];
        js->p++;
        for (;;) {
                if (js->p >= js->end)
                        return -1;
                if (*js->p == '"') {
                        js->p++;
                        break;
                }
                if (!(k = brook__js_char(js, ch)))
                        return -1;
                for (i = 0; i < k; i++, n++) {
                        if (cmp &&
                            (n >= cmp_len || (unsigned char)cmp[n] != ch[i]))
                                same = false;
                        if (buf) {
                                if (n < buf_size)
                                        buf[n] = (char)ch[i];
                                else
                                        same = false;
                        }
                }
        }
        if (lenp)
                *lenp = n;
        if (cmp && n != cmp_len)
                same = false;
        return same;
}

/* Skips the value at js->p: a string, a scalar up to its delimiter, or an
 * array or object by its brackets (strings in it skipped whole, so their
 * brackets do not count). Returns false if it is cut short. */
static bool brook__js_skip(brook__js_t *js)
{
        size_t depth = 0;
        if (js->p >= js->end)
                return false;
        if (*js->p == '"')
                return brook__js_string(js, NULL, 0, NULL, 0, NULL) >= 0;
        if (*js->p != '{' && *js->p != '[') {
                const unsigned char *start = js->p;
                while (js->p < js->end && !strchr(",}] \t\r\n", *js->p))
                        js->p++;
                /* strchr matches the terminating NUL too: a NUL byte is not
                 * a delimiter but the end of a scalar that is not JSON. */
                if (js->p < js->end && !*js->p)
                        return false;
                return js->p > start;
        }
        do {
                if (js->p >= js->end)
                        return false;
                switch (*js->p) {
                case '"':
                        if (brook__js_string(js, NULL, 0, NULL, 0, NULL) < 0)
                                return false;
                        continue;
                case '{':
                case '[':
                        depth++;
                        break;
                case '}':
                case ']':
                        depth--;
                        break;
                }
                js->p++;
        } while (depth);
        return true;
}

/* Reads the integer at js->p as milliseconds. */
static const char *brook__js_int(brook__js_t *js, int64_t *tsp)
{
        bool neg = false;
        uint64_t v = 0, lim;
        const unsigned char *start;
        if (*js->p == '-') {
                neg = true;
                js->p++;
        }
        start = js->p;
        lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        while (js->p < js->end && *js->p >= '0' && *js->p <= '9') {
                unsigned d = *js->p++ - '0';
                if (v > (lim - d) / 10)
                        return "the number does not fit 64 bits";
                v = v * 10 + d;
        }
        if (js->p == start)
                return "not a number or an ISO-8601 string";
        if (*start == '0' && js->p - start > 1)
                return "a number with a leading zero is not JSON";
        if (js->p < js->end &&
            (*js->p == '.' || *js->p == 'e' || *js->p == 'E'))
                return "not an integer number of milliseconds";
        if (js->p < js->end && !strchr(",} \t\r\n", *js->p))
                return "not a number or an ISO-8601 string";
        if (js->p < js->end && !*js->p)
                return "not a number or an ISO-8601 string";
        *tsp = neg ? (int64_t)(0 - v) : (int64_t)v;
        return NULL;
}

brook_err_t brook_timestamp_from_json(const void *json, size_t size,
                                      const char *field, int64_t *tsp,
                                      char *errstr, size_t errstr_size)
{
        brook__js_t js;
        size_t flen;
        const char *why;

        if (!field || !tsp) {
                brook__seterr(errstr, errstr_size,
                              "brook_timestamp_from_json: %s is NULL",
                              !field ? "field" : "tsp");
                return BROOK_ERR_INVALID_ARG;
        }
        if (!json) {
                brook__seterr(errstr, errstr_size,
                              "field \"%s\": the value is null", field);
                return BROOK_ERR_NOT_FOUND;
        }
        js.p = json;
        js.end = js.p + size;
        flen = strlen(field);
        brook__js_ws(&js);
        if (js.p >= js.end || *js.p != '{') {
                brook__seterr(errstr, errstr_size,
                              "field \"%s\": the value is not a JSON object",
                              field);
                return BROOK_ERR_NOT_FOUND;
        }
        js.p++;
        brook__js_ws(&js);
        if (js.p < js.end && *js.p == '}')
                goto missing;
        for (;;) {
                int match;
                brook__js_ws(&js);
                if (js.p >= js.end || *js.p != '"' ||
                    (match = brook__js_string(&js, field, flen, NULL, 0,
                                              NULL)) < 0) {
                        why = "malformed JSON: expected a field name";
                        goto bad;
                }
                brook__js_ws(&js);
                if (js.p >= js.end || *js.p != ':') {
                        why = "malformed JSON: expected ':'";
                        goto bad;
                }
                js.p++;
                brook__js_ws(&js);
                if (js.p >= js.end) {
                        why = "malformed JSON: the value is cut short";
                        goto bad;
                }
                if (match)
                        break;
                if (!brook__js_skip(&js)) {
                        why = "malformed JSON: a value is cut short";
                        goto bad;
                }
                brook__js_ws(&js);
                if (js.p < js.end && *js.p == '}')
                        goto missing;
                if (js.p >= js.end || *js.p != ',') {
                        why = "malformed JSON: expected ',' or '}'";
                        goto bad;
                }
                js.p++;
        }
        if (*js.p == '"') {
                char buf[64];
                size_t len;
                int r = brook__js_string(&js, NULL, 0, buf, sizeof buf, &len);
                if (r < 0) {
                        why = "malformed JSON string";
                        goto bad;
                }
                if (!r) {
                        why = "the string is too long for an ISO-8601 "
                              "date-time";
                        goto bad;
                }
                if (!(why = brook__iso_parse(buf, len, tsp)))
                        return BROOK_OK;
                brook__seterr(errstr, errstr_size,
                              "field \"%s\": \"%.*s\" is not an ISO-8601 "
                              "date-time with a zone: %s",
                              field, (int)len, buf, why);
                return BROOK_ERR_SERDE;
        }
        if (*js.p == '-' || (*js.p >= '0' && *js.p <= '9')) {
                if (!(why = brook__js_int(&js, tsp)))
                        return BROOK_OK;
                goto bad;
        }
        if (js.end - js.p >= 4 && !memcmp(js.p, "null", 4)) {
                brook__seterr(errstr, errstr_size, "field \"%s\" is null",
                              field);
                return BROOK_ERR_NOT_FOUND;
        }
        why = "not a number or an ISO-8601 string";
bad:
        brook__seterr(errstr, errstr_size, "field \"%s\": %s", field, why);
        return BROOK_ERR_SERDE;
missing:
        brook__seterr(errstr, errstr_size, "no field \"%s\" in the JSON object",
                      field);
        return BROOK_ERR_NOT_FOUND;
}

/* ------------------------------------------- committed partition time */

static const char brook__b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t brook__ptime_encode(int64_t partition_time, char out[13])
{
        unsigned char raw[9];
        uint64_t v = (uint64_t)partition_time;
        size_t i, n = 0;
        raw[0] = 1;
        for (i = 0; i < 8; i++)
                raw[1 + i] = (unsigned char)(v >> (56 - 8 * i));
        /* 9 bytes are three groups of 3: 12 characters, no padding. */
        for (i = 0; i < 9; i += 3) {
                uint32_t g = (uint32_t)raw[i] << 16 |
                             (uint32_t)raw[i + 1] << 8 | raw[i + 2];
                out[n++] = brook__b64[g >> 18];
                out[n++] = brook__b64[(g >> 12) & 63];
                out[n++] = brook__b64[(g >> 6) & 63];
                out[n++] = brook__b64[g & 63];
        }
        out[n] = '\0';
        return n;
}

static int brook__b64_val(unsigned char c)
{
        const char *p;
        if (!c || !(p = strchr(brook__b64, c)))
                return -1;
        return (int)(p - brook__b64);
}

int64_t brook__ptime_decode(const void *metadata, size_t size)
{
        const unsigned char *s = metadata;
        unsigned char raw[9];
        size_t n = 0, i;
        uint64_t v = 0;
        /* Only the first 12 characters matter: version and time. */
        if (!s || size < 12)
                return -1;
        for (i = 0; i < 12; i += 4) {
                int a = brook__b64_val(s[i]), b = brook__b64_val(s[i + 1]),
                    c = brook__b64_val(s[i + 2]), d = brook__b64_val(s[i + 3]);
                uint32_t g;
                if (a < 0 || b < 0 || c < 0 || d < 0)
                        return -1;
                g = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 |
                    (uint32_t)d;
                raw[n++] = (unsigned char)(g >> 16);
                raw[n++] = (unsigned char)(g >> 8);
                raw[n++] = (unsigned char)g;
        }
        if (raw[0] != 1 && raw[0] != 2)
                return -1;
        for (i = 0; i < 8; i++)
                v = v << 8 | raw[1 + i];
        return (int64_t)v < 0 ? -1 : (int64_t)v;
}
