/*
 * Fuzz target: the headers of input records (engine/record.c): brook's
 * lazy parsing of Kafka's headers, the accessors processors call, and the
 * conversion back to Kafka's form when a record is produced.
 *
 * Input: the headers of the input record (see fuzz_headers() in
 * fuzz_input.h), then operations, one byte each (plus their arguments):
 * add a header, remove a name, look a name up, read one by index. A plain
 * model (an array of name, value) follows every operation, and brook's
 * view must match it after each; the headers produced at the end must
 * match it too, and must be the input's own when nothing changed.
 */
#include "fuzz_input.h"

typedef struct model_hdr {
        char *name; /* As brook sees it: up to the first NUL byte. */
        const void *value;
        size_t size;
} model_hdr_t;

typedef struct model {
        model_hdr_t v[128];
        size_t cnt;
} model_t;

static void check_view(const brook_record_t *rec, const model_t *m)
{
        size_t i;

        CHECK(brook_record_header_count(rec) == m->cnt);
        for (i = 0; i < m->cnt; i++) {
                const char *name;
                const void *value;
                size_t size;
                CHECK(brook_record_header_at(rec, i, &name, &value, &size));
                CHECK(!strcmp(name, m->v[i].name));
                CHECK(!value == !m->v[i].value);
                CHECK(size == m->v[i].size);
                CHECK(!size || !memcmp(value, m->v[i].value, size));
        }
        CHECK(!brook_record_header_at(rec, m->cnt, NULL, NULL, NULL));
}

/* The model's last header named @p name, or NULL. */
static const model_hdr_t *model_last(const model_t *m, const char *name)
{
        size_t i;
        for (i = m->cnt; i-- > 0;)
                if (!strcmp(m->v[i].name, name))
                        return &m->v[i];
        return NULL;
}

/* Headers produced for the record equal @p m (names as C strings). */
static void check_produced(brook__recmeta_t *meta, const model_t *m)
{
        rd_kafka_headers_t *out = brook__headers_to_kafka(meta);
        size_t i;

        if (!m->cnt) {
                CHECK(!out);
                return;
        }
        CHECK(out);
        CHECK(rd_kafka_header_cnt(out) == m->cnt);
        for (i = 0; i < m->cnt; i++) {
                const char *name;
                const void *value;
                size_t size;
                CHECK(!rd_kafka_header_get_all(out, i, &name, &value, &size));
                CHECK(!strcmp(name, m->v[i].name));
                CHECK(!value == !m->v[i].value);
                CHECK(size == m->v[i].size);
                CHECK(!size || !memcmp(value, m->v[i].value, size));
        }
        rd_kafka_headers_destroy(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        fuzz_input_t in = {data, size};
        bool has_raw = fuzz_u8(&in) & 1;
        rd_kafka_headers_t *raw = has_raw ? fuzz_headers(&in) : NULL;
        brook_arena_t *arena = brook_arena_new();
        brook__recmeta_t meta = {.topic = "in", .headers = {.raw = raw}};
        brook_record_t rec = {.meta = &meta, .arena = arena};
        model_t *m = brook__xcalloc(1, sizeof *m);
        bool changed = false;
        size_t i, ops = 0;

        for (i = 0; raw && i < rd_kafka_header_cnt(raw); i++) {
                const char *name;
                CHECK(!rd_kafka_header_get_all(raw, i, &name, &m->v[i].value,
                                               &m->v[i].size));
                m->v[i].name = brook__xstrdup(name);
                m->cnt++;
        }

        while (in.n && ops++ < 64) {
                uint8_t op = fuzz_u8(&in);
                char *name = fuzz_str(&in);
                const model_hdr_t *last;
                const void *value;
                size_t vsize, j, k;

                switch (op % 4) {
                case 0: /* add; value length byte, 255 for null */
                        if (m->cnt == sizeof m->v / sizeof m->v[0])
                                break;
                        vsize = fuzz_u8(&in);
                        value = vsize == 255 ? NULL
                                             : fuzz_bytes(&in, vsize, &vsize);
                        brook_record_header_add(&rec, name, value, vsize);
                        /* brook copies the value: the model points at the
                         * copy it will compare against later. */
                        CHECK(brook_record_header_at(
                                &rec, m->cnt, NULL, &m->v[m->cnt].value, NULL));
                        CHECK(!value || !vsize ||
                              !memcmp(m->v[m->cnt].value, value, vsize));
                        m->v[m->cnt].name = brook__xstrdup(name);
                        m->v[m->cnt].size = value ? vsize : 0;
                        m->cnt++;
                        changed = true;
                        break;
                case 1: /* remove */
                        for (j = k = 0; j < m->cnt; j++) {
                                if (strcmp(m->v[j].name, name))
                                        m->v[k++] = m->v[j];
                                else
                                        free(m->v[j].name);
                        }
                        CHECK(brook_record_header_remove(&rec, name) ==
                              m->cnt - k);
                        changed |= k != m->cnt;
                        m->cnt = k;
                        break;
                case 2: /* lookup */
                        last = model_last(m, name);
                        CHECK(brook_record_header_last(&rec, name, &value,
                                                       &vsize) == !!last);
                        if (last)
                                CHECK(value == last->value &&
                                      vsize == last->size);
                        break;
                case 3: /* read by index, without output pointers */
                        j = name[0];
                        CHECK(brook_record_header_at(&rec, j, NULL, NULL,
                                                     NULL) == (j < m->cnt));
                        break;
                }
                free(name);
                check_view(&rec, m);
        }
        check_view(&rec, m);

        if (!changed && raw && rd_kafka_header_cnt(raw)) {
                /* Untouched headers go out as the input had them, byte for
                 * byte, names with NUL bytes included. */
                rd_kafka_headers_t *out = brook__headers_to_kafka(&meta);
                const char *n1, *n2;
                const void *v1, *v2;
                size_t s1, s2;
                CHECK(out &&
                      rd_kafka_header_cnt(out) == rd_kafka_header_cnt(raw));
                for (i = 0; i < rd_kafka_header_cnt(raw); i++) {
                        CHECK(!rd_kafka_header_get_all(raw, i, &n1, &v1, &s1));
                        CHECK(!rd_kafka_header_get_all(out, i, &n2, &v2, &s2));
                        CHECK(!strcmp(n1, n2) && s1 == s2 && !v1 == !v2);
                        CHECK(!s1 || !memcmp(v1, v2, s1));
                }
                rd_kafka_headers_destroy(out);
        } else {
                check_produced(&meta, m);
        }

        for (i = 0; i < m->cnt; i++)
                free(m->v[i].name);
        free(m);
        brook_arena_destroy(arena);
        if (raw)
                rd_kafka_headers_destroy(raw);
        return 0;
}
