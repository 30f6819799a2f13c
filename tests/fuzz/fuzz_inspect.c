/*
 * Fuzz target: what `brook inspect` (tools/inspect.c) decodes from a state
 * directory: the column family names "<task>/<store>" of the state db, the
 * changelog offsets stored in its "brook-offsets" column family, and keys
 * and values printed with each serde.
 *
 * Input: one byte choosing what to fuzz, then
 *   0: a store name, then column family names (NUL-terminated strings);
 *   1: a stored offset value;
 *   2-7: a key or value, printed with no serde (bytes), string, int32,
 *        int64, double or json.
 * Checked:
 *   - the tasks listed are exactly those of the names that hold the store,
 *     "<n>_<n>" ones first, in numeric order;
 *   - an offset decodes only from 8 bytes, and encodes back to them;
 *   - a printed key or value is one field of a line: no tab, newline or
 *     other control byte (they would break "KEY<TAB>VALUE" lines or drive
 *     the terminal), and it reads back as what was stored: escaped bytes
 *     unescape to the data, numbers parse to the decoded number, JSON
 *     parses to an equal value.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>

#include "fuzz_input.h"
#include "inspect.h"
#include "store_int.h"

#define MAX_NAMES 64

static brook_arena_t *arena;
static brook_buf_t *buf;

/* Whether @p s is "<digits>_<digits>" with both numbers in an int; their
 * values go to *@p sp and *@p pp. */
static bool task_numbers(const char *s, long *sp, long *pp)
{
        char *end;
        if (*s < '0' || *s > '9')
                return false;
        errno = 0;
        *sp = strtol(s, &end, 10);
        if (errno || *sp > INT32_MAX || *end != '_' || end[1] < '0' ||
            end[1] > '9')
                return false;
        *pp = strtol(end + 1, &end, 10);
        return !errno && *pp <= INT32_MAX && !*end;
}

static void fuzz_tasks(fuzz_input_t *in)
{
        char *store = fuzz_str(in), *names[MAX_NAMES];
        brook__ptrvec_t tasks = {0};
        size_t cnt = 0, want = 0, i, j;

        while (in->n && cnt < MAX_NAMES)
                names[cnt++] = fuzz_str(in);
        for (i = 0; i < cnt; i++) {
                const char *s = strchr(names[i], '/');
                want += s && !strcmp(s + 1, store);
        }
        brook__inspect_tasks(names, cnt, store, &tasks);
        CHECK(tasks.cnt == want);
        for (i = 0; i < tasks.cnt; i++) {
                const char *t = tasks.v[i];
                size_t found = 0;
                long s1, p1, s2, p2;
                /* "<task>/<store>" is one of the names, and the task part
                 * holds no '/': the first '/' starts the store. */
                CHECK(!strchr(t, '/'));
                for (j = 0; j < cnt; j++)
                        found += !strncmp(names[j], t, strlen(t)) &&
                                 names[j][strlen(t)] == '/' &&
                                 !strcmp(names[j] + strlen(t) + 1, store);
                CHECK(found);
                if (i + 1 == tasks.cnt)
                        continue;
                if (task_numbers(tasks.v[i + 1], &s2, &p2))
                        CHECK(task_numbers(t, &s1, &p1) &&
                              (s1 < s2 || (s1 == s2 && p1 <= p2)));
        }
        for (i = 0; i < tasks.cnt; i++)
                free(tasks.v[i]);
        brook__ptrvec_free(&tasks);
        for (i = 0; i < cnt; i++)
                free(names[i]);
        free(store);
}

static void fuzz_offset(fuzz_input_t *in)
{
        int64_t off = -12345;
        unsigned char be[8];

        if (!brook__statedb_offset_decode(in->p, in->n, &off)) {
                CHECK(in->n != 8 && off == -12345);
                return;
        }
        CHECK(in->n == 8);
        brook__statedb_offset_encode(be, off);
        CHECK(!memcmp(be, in->p, 8));
}

static int hex(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* Undoes inspect's escaping (\xNN, lower-case hex) of @p text into @p out;
 * returns the length, or (size_t)-1 if @p text is not escaped output. */
static size_t unescape(const char *text, size_t len, unsigned char *out)
{
        size_t i, n = 0;
        for (i = 0; i < len; i++) {
                if (text[i] != '\\') {
                        out[n++] = (unsigned char)text[i];
                        continue;
                }
                if (i + 3 >= len || text[i + 1] != 'x' ||
                    hex(text[i + 2]) < 0 || hex(text[i + 3]) < 0)
                        return (size_t)-1;
                out[n++] = (unsigned char)(hex(text[i + 2]) << 4 |
                                           hex(text[i + 3]));
                i += 3;
        }
        return n;
}

static void fuzz_print(const brook_serde_t *serde, fuzz_input_t *in)
{
        const void *data = in->n ? (const void *)in->p : "";
        char *text = NULL;
        size_t len = 0, i;
        FILE *out = open_memstream(&text, &len);
        unsigned char *raw;
        bool decoded;

        CHECK(out);
        decoded =
                brook__inspect_print_datum(out, serde, data, in->n, arena, buf);
        CHECK(!fclose(out));
        for (i = 0; i < len; i++)
                CHECK((unsigned char)text[i] >= 0x20 && text[i] != 0x7f);

        if (!decoded || !serde || serde == brook_serde_bytes() ||
            serde == brook_serde_string()) {
                raw = brook__xmalloc(len + 1);
                CHECK(unescape(text, len, raw) == in->n);
                CHECK(!in->n || !memcmp(raw, in->p, in->n));
                free(raw);
        }
        if (decoded &&
            (serde == brook_serde_int32() || serde == brook_serde_int64())) {
                char *end;
                int64_t want = (int64_t)fuzz_uint(in, (int)in->n);
                if (serde == brook_serde_int32())
                        want = (int32_t)(uint32_t)want;
                errno = 0;
                CHECK(strtoll(text, &end, 10) == want && !errno && !*end);
        }
        if (decoded && serde == brook_serde_json()) {
                /* The printed JSON is the stored value. */
                json_t *want = json_loadb(data, in->n, JSON_DECODE_ANY, NULL);
                json_t *got = json_loadb(text, len, JSON_DECODE_ANY, NULL);
                CHECK(want && got && json_equal(want, got));
                json_decref(want);
                json_decref(got);
        }
        if (decoded && serde == brook_serde_double()) {
                uint64_t bits = fuzz_uint(in, 8);
                double want, got;
                memcpy(&want, &bits, 8);
                got = strtod(text, NULL);
                CHECK(got == want || (isnan(got) && isnan(want)));
        }
        free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const brook_serde_t *(*const serdes[])(void) = {
                NULL,
                brook_serde_string,
                brook_serde_int32,
                brook_serde_int64,
                brook_serde_double,
                brook_serde_json,
        };
        fuzz_input_t in = {data, size};
        uint8_t what = fuzz_u8(&in) % 8;

        if (!arena) {
                arena = brook_arena_new();
                buf = brook_buf_new();
        }
        if (what == 0)
                fuzz_tasks(&in);
        else if (what == 1)
                fuzz_offset(&in);
        else
                fuzz_print(serdes[what - 2] ? serdes[what - 2]() : NULL, &in);
        brook_arena_reset(arena);
        return 0;
}
