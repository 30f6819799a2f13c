/*
 * Fuzz target: the time arguments of `brook reset` (tools/reset.c):
 * --by-duration (Java's Duration.parse() form) and --to-datetime.
 *
 * Input: a string, read as both. Checked:
 *   - a duration that parses, printed back as PT<seconds>.<millis>S,
 *     parses to the same milliseconds (tests/test_reset_args.c checks
 *     the values themselves against Java's);
 *   - a date-time that parses gives what brook_timestamp_parse_iso8601()
 *     gives for it, with "Z" added when the part after 'T' has no zone.
 */
#include <inttypes.h>

#include <brook/timestamp.h>

#include "fuzz_input.h"
#include "reset.h"

static void check_duration(const char *s)
{
        int64_t ms, again, secs, frac;
        char back[64];
        if (!brook__reset_parse_duration(s, &ms))
                return;
        if (ms == INT64_MIN)
                return;
        secs = (ms < 0 ? -ms : ms) / 1000;
        frac = (ms < 0 ? -ms : ms) % 1000;
        snprintf(back, sizeof back, "%sPT%" PRId64 ".%03" PRId64 "S",
                 ms < 0 ? "-" : "", secs, frac);
        CHECK(brook__reset_parse_duration(back, &again));
        CHECK(again == ms);
}

static void check_datetime(const char *s)
{
        int64_t ms, want;
        const char *t = strchr(s, 'T');
        char buf[160];
        if (!brook__reset_parse_datetime(s, &ms))
                return;
        CHECK(t);
        if (!strpbrk(t, "+-Z")) {
                CHECK(strlen(s) + 2 <= 128);
                snprintf(buf, sizeof buf, "%sZ", s);
                s = buf;
        }
        CHECK(brook_timestamp_parse_iso8601(s, strlen(s), &want, NULL, 0) ==
              BROOK_OK);
        CHECK(want == ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);
        memcpy(s, data, size);
        s[size] = '\0';
        check_duration(s);
        check_datetime(s);
        free(s);
        return 0;
}
