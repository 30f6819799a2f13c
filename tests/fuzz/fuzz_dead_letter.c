/*
 * Fuzz target: the headers of a dead-lettered record
 * (brook__dead_letter_headers() in engine/task.c), written from the input
 * record's own headers, topic, partition and offset, the task id and the
 * error's message, which may quote anything the input held.
 *
 * Input: topic, task id, exception and message (NUL-terminated strings),
 * partition (4 bytes) and offset (8 bytes), big-endian, then the input's
 * headers (see fuzz_headers() in fuzz_input.h), or none if the input ends
 * first. Checked: the input's headers come first, unchanged; then exactly
 * the six __streams.errors.* headers, whose values read back as what was
 * given (numbers in decimal, as Kafka Streams writes them).
 */
#include <errno.h>

#include "fuzz_input.h"

static const char *const names[] = {
        "__streams.errors.exception", "__streams.errors.message",
        "__streams.errors.topic",     "__streams.errors.partition",
        "__streams.errors.offset",    "__streams.errors.task",
};

/* The header at @p idx is a decimal number that reads back as @p want. */
static void check_number(rd_kafka_headers_t *hdrs, size_t idx, int64_t want)
{
        const char *name;
        const void *value;
        size_t size;
        char text[32], *end;

        CHECK(!rd_kafka_header_get_all(hdrs, idx, &name, &value, &size));
        CHECK(value && size > 0 && size < sizeof text);
        memcpy(text, value, size);
        text[size] = '\0';
        errno = 0;
        CHECK(strtoll(text, &end, 10) == want && !errno && !*end);
}

/* The header at @p idx has the value @p want. */
static void check_value(rd_kafka_headers_t *hdrs, size_t idx, const char *want)
{
        const char *name;
        const void *value;
        size_t size;

        CHECK(!rd_kafka_header_get_all(hdrs, idx, &name, &value, &size));
        CHECK(value && size == strlen(want) && !memcmp(value, want, size));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        fuzz_input_t in = {data, size};
        char *topic = fuzz_str(&in), *task = fuzz_str(&in);
        char *exception = fuzz_str(&in), *msg = fuzz_str(&in);
        brook__inrec_t rec = {.topic = topic};
        rd_kafka_headers_t *out;
        size_t base, i;

        rec.partition = (int32_t)(uint32_t)fuzz_uint(&in, 4);
        rec.offset = (int64_t)fuzz_uint(&in, 8);
        rec.headers = in.n ? fuzz_headers(&in) : NULL;

        out = brook__dead_letter_headers(&rec, task, exception, msg);
        base = rec.headers ? rd_kafka_header_cnt(rec.headers) : 0;
        CHECK(rd_kafka_header_cnt(out) == base + 6);
        for (i = 0; i < base; i++) {
                const char *n1, *n2;
                const void *v1, *v2;
                size_t s1, s2;
                CHECK(!rd_kafka_header_get_all(rec.headers, i, &n1, &v1, &s1));
                CHECK(!rd_kafka_header_get_all(out, i, &n2, &v2, &s2));
                CHECK(!strcmp(n1, n2) && s1 == s2 && !v1 == !v2);
                CHECK(!s1 || !memcmp(v1, v2, s1));
        }
        for (i = 0; i < 6; i++) {
                const char *name;
                const void *value;
                size_t vsize;
                CHECK(!rd_kafka_header_get_all(out, base + i, &name, &value,
                                               &vsize));
                CHECK(!strcmp(name, names[i]));
        }
        check_value(out, base + 0, exception);
        check_value(out, base + 1, msg);
        check_value(out, base + 2, topic);
        check_number(out, base + 3, rec.partition);
        check_number(out, base + 4, rec.offset);
        check_value(out, base + 5, task);

        rd_kafka_headers_destroy(out);
        if (rec.headers)
                rd_kafka_headers_destroy(rec.headers);
        free(topic);
        free(task);
        free(exception);
        free(msg);
        return 0;
}
