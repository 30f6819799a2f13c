/*
 * brook — records in flight and their headers.
 *
 * Headers stay librdkafka's until something reads or changes them. A
 * stream thread has librdkafka parse an input record's headers when it
 * takes the record (while the message is in the cache; the sink reads
 * them for every record it sends on); other inputs have them parsed only
 * when first asked for (brook__headers_raw()). brook's own array of them
 * is built only when a processor reads them, and a record that no
 * processor changes has them copied to the output as they are.
 */
#include <string.h>

#include "brook_int.h"

void *brook_record_key(const brook_record_t *rec)
{
        return rec->key;
}

void *brook_record_value(const brook_record_t *rec)
{
        return rec->value;
}

int64_t brook_record_timestamp(const brook_record_t *rec)
{
        return rec->timestamp;
}

const char *brook_record_topic(const brook_record_t *rec)
{
        return rec->meta->topic;
}

int32_t brook_record_partition(const brook_record_t *rec)
{
        return rec->meta->partition;
}

int64_t brook_record_offset(const brook_record_t *rec)
{
        return rec->meta->offset;
}

brook_arena_t *brook_record_arena(const brook_record_t *rec)
{
        return rec->arena;
}

void *brook_record_alloc(const brook_record_t *rec, size_t size)
{
        return brook_arena_alloc(rec->arena, size);
}

static void brook__headers_grow(brook__headers_t *h, brook_arena_t *arena)
{
        size_t cap = h->cap ? h->cap * 2 : 8;
        brook__header_t *n = brook_arena_alloc(arena, cap * sizeof *n);
        if (h->cnt)
                memcpy(n, h->hdrs, h->cnt * sizeof *n);
        h->hdrs = n;
        h->cap = cap;
}

rd_kafka_headers_t *brook__headers_raw(brook__headers_t *h)
{
        if (h->msg) {
                /* librdkafka parses the message's header bytes here, not
                 * when the message is consumed. */
                if (rd_kafka_message_headers(h->msg, &h->raw))
                        h->raw = NULL;
                h->msg = NULL;
        }
        return h->raw;
}

/* Parses the Kafka headers into the arena array on first use. */
static brook__headers_t *brook__headers_get(const brook_record_t *rec)
{
        brook__headers_t *h = &rec->meta->headers;
        rd_kafka_headers_t *raw;
        size_t i;
        const char *name;
        const void *value;
        size_t size;

        if (h->parsed)
                return h;
        h->parsed = true;
        if (!(raw = brook__headers_raw(h)))
                return h;
        for (i = 0; !rd_kafka_header_get_all(raw, i, &name, &value, &size);
             i++) {
                if (h->cnt == h->cap)
                        brook__headers_grow(h, rec->arena);
                /* Pointers into the input message, which outlives the
                 * record. */
                h->hdrs[h->cnt].name = name;
                h->hdrs[h->cnt].value = value;
                h->hdrs[h->cnt].size = size;
                h->cnt++;
        }
        return h;
}

size_t brook_record_header_count(const brook_record_t *rec)
{
        return brook__headers_get(rec)->cnt;
}

bool brook_record_header_at(const brook_record_t *rec, size_t idx,
                            const char **namep, const void **valuep,
                            size_t *sizep)
{
        brook__headers_t *h = brook__headers_get(rec);
        if (idx >= h->cnt)
                return false;
        if (namep)
                *namep = h->hdrs[idx].name;
        if (valuep)
                *valuep = h->hdrs[idx].value;
        if (sizep)
                *sizep = h->hdrs[idx].size;
        return true;
}

bool brook_record_header_last(const brook_record_t *rec, const char *name,
                              const void **valuep, size_t *sizep)
{
        brook__headers_t *h = brook__headers_get(rec);
        size_t i;
        for (i = h->cnt; i-- > 0;) {
                if (!strcmp(h->hdrs[i].name, name)) {
                        if (valuep)
                                *valuep = h->hdrs[i].value;
                        if (sizep)
                                *sizep = h->hdrs[i].size;
                        return true;
                }
        }
        return false;
}

void brook_record_header_add(brook_record_t *rec, const char *name,
                             const void *value, size_t size)
{
        brook__headers_t *h = brook__headers_get(rec);
        if (h->cnt == h->cap)
                brook__headers_grow(h, rec->arena);
        h->hdrs[h->cnt].name = brook_arena_strdup(rec->arena, name);
        h->hdrs[h->cnt].value =
                value ? brook_arena_memdup(rec->arena, value, size) : NULL;
        h->hdrs[h->cnt].size = value ? size : 0;
        h->cnt++;
        h->changed = true;
}

size_t brook_record_header_remove(brook_record_t *rec, const char *name)
{
        brook__headers_t *h = brook__headers_get(rec);
        size_t i, j = 0, removed;
        for (i = 0; i < h->cnt; i++)
                if (strcmp(h->hdrs[i].name, name))
                        h->hdrs[j++] = h->hdrs[i];
        removed = h->cnt - j;
        h->cnt = j;
        if (removed)
                h->changed = true;
        return removed;
}

rd_kafka_headers_t *brook__headers_to_kafka(brook__recmeta_t *meta)
{
        brook__headers_t *h = &meta->headers;
        rd_kafka_headers_t *raw, *out;
        size_t i;

        if (!h->changed) {
                raw = brook__headers_raw(h);
                return raw && rd_kafka_header_cnt(raw)
                               ? rd_kafka_headers_copy(raw)
                               : NULL;
        }
        if (!h->cnt)
                return NULL;
        out = rd_kafka_headers_new(h->cnt);
        for (i = 0; i < h->cnt; i++)
                rd_kafka_header_add(out, h->hdrs[i].name, -1, h->hdrs[i].value,
                                    h->hdrs[i].value ? (ssize_t)h->hdrs[i].size
                                                     : 0);
        return out;
}
