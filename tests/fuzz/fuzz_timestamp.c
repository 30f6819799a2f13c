/*
 * Fuzz target: the timestamp parsers of the JSON extractor
 * (engine/timestamp.c), which read every record's value on a source with
 * brook_consumed_t's timestamp_field.
 *
 * Input: a payload, read both as a JSON document (field "ts") and as an
 * ISO-8601 string. Checked:
 *   - a failure says why, with the documented code;
 *   - against jansson: when it reads the payload (without NUL bytes) as
 *     an object without duplicate names, the field's absence or null gives
 * NOT_FOUND, an integer gives that integer, a string gives exactly what
 *     brook_timestamp_parse_iso8601() gives for it, anything else SERDE;
 *   - an ISO-8601 string that parses gives a time that, printed back in
 *     UTC (gmtime_r), parses to the same time;
 *   - read as committed partition time metadata (brook__ptime_decode()),
 *     it gives -1 or a time that encodes to metadata that decodes to it.
 */
#include <jansson.h>
#include <time.h>

#include "fuzz_input.h"

static void check_iso(const char *s, size_t len)
{
        char errstr[256] = "", back[64];
        int64_t ts = 0, again = 0, ms;
        time_t secs;
        struct tm tm;
        brook_err_t err = brook_timestamp_parse_iso8601(s, len, &ts, errstr,
                                                        sizeof errstr);
        if (err) {
                CHECK(err == BROOK_ERR_SERDE);
                CHECK(errstr[0] && memchr(errstr, '\0', sizeof errstr));
                return;
        }
        /* Years 0000 to 9999, offsets within a day. */
        CHECK(ts >= -62167219200000LL - 86400000LL &&
              ts <= 253402300799999LL + 86400000LL);
        ms = ((ts % 1000) + 1000) % 1000;
        secs = (time_t)((ts - ms) / 1000);
        CHECK(gmtime_r(&secs, &tm));
        snprintf(back, sizeof back, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (int)ms);
        /* An offset can move a year-0000 or year-9999 time out of the
         * four-digit years: those do not print back. */
        if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
                return;
        CHECK(brook_timestamp_parse_iso8601(back, strlen(back), &again, NULL,
                                            0) == BROOK_OK);
        CHECK(again == ts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *doc = size ? (const char *)data : "";
        char errstr[256] = "";
        int64_t ts = 0;
        brook_err_t err;
        json_error_t jerr;
        json_t *root, *v;

        err = brook_timestamp_from_json(doc, size, "ts", &ts, errstr,
                                        sizeof errstr);
        if (err) {
                CHECK(err == BROOK_ERR_NOT_FOUND || err == BROOK_ERR_SERDE);
                CHECK(errstr[0] && memchr(errstr, '\0', sizeof errstr));
        }
        /* jansson stops reading at a NUL byte outside a string, and takes
         * what came before it: no reference for such a payload. */
        root = memchr(doc, '\0', size)
                       ? NULL
                       : json_loadb(doc, size, JSON_REJECT_DUPLICATES, &jerr);
        if (root && json_is_object(root)) {
                v = json_object_get(root, "ts");
                if (!v || json_is_null(v)) {
                        CHECK(err == BROOK_ERR_NOT_FOUND);
                } else if (json_is_integer(v)) {
                        CHECK(err == BROOK_OK);
                        CHECK(ts == (int64_t)json_integer_value(v));
                } else if (json_is_string(v)) {
                        int64_t want = 0;
                        brook_err_t werr = brook_timestamp_parse_iso8601(
                                json_string_value(v), json_string_length(v),
                                &want, NULL, 0);
                        CHECK(err == werr);
                        CHECK(err || ts == want);
                } else {
                        CHECK(err == BROOK_ERR_SERDE);
                }
        }
        json_decref(root);
        check_iso(doc, size);
        /* As commit metadata: a time or -1, and a time encodes back to
         * what decodes to it. */
        ts = brook__ptime_decode(doc, size);
        CHECK(ts >= -1);
        if (ts >= 0) {
                char md[13];
                CHECK(brook__ptime_encode(ts, md) == 12);
                CHECK(brook__ptime_decode(md, 12) == ts);
        }
        return 0;
}
