/*
 * The chaos test's input, reference and tally (see reference.h).
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "chaos/reference.h"
#include "kafka_util.h"

/* --------------------------------------------------------- reference */

uint64_t chaos_rng_next(uint64_t *s)
{
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

int64_t chaos_event_ts(const chaos_ref_t *r, int64_t seq)
{
        if (seq >= r->events)
                return r->base + (int64_t)r->windows * CHAOS_WINDOW_MS +
                       CHAOS_CLOSE_AHEAD_MS;
        return r->base +
               seq * ((int64_t)r->windows * CHAOS_WINDOW_MS) / r->events;
}

/* Group g's key is "g-<g>-<salt>", the salt picked so that the key's
 * partition is g % CHAOS_PARTS: every partition has CHAOS_GROUPS / CHAOS_PARTS
 * groups, and group p (p < CHAOS_PARTS) is on partition p. */
static void ref_groups(chaos_ref_t *r)
{
        int g, salt;
        for (g = 0; g < CHAOS_GROUPS; g++) {
                for (salt = 0;; salt++) {
                        snprintf(r->group_name[g], sizeof r->group_name[g],
                                 "g-%d-%d", g, salt);
                        if (kt_partition_of(r->group_name[g], CHAOS_PARTS) ==
                            g % CHAOS_PARTS)
                                break;
                }
                r->group_part[g] = g % CHAOS_PARTS;
        }
}

/* The input (the same for the same parameters) and what the outputs must
 * hold. Record i < events: a random entity, its group (entity % CHAOS_GROUPS),
 * event time rising with i over `windows` windows. Records events + p
 * close every window: one per partition p (group p), far ahead. */
void chaos_ref_init(chaos_ref_t *r, int64_t events, int windows)
{
        uint64_t s = 0x9e3779b97f4a7c15ULL;
        uint32_t next_rank[CHAOS_GROUPS] = {0};
        struct timespec now;
        int64_t i;

        memset(r, 0, sizeof *r);
        r->events = events;
        r->n = events + CHAOS_PARTS;
        r->windows = windows;
        /* Event times end about now: the broker keeps what it is given
         * (the test broker has no time retention, the window changelogs
         * a day more than an hour). */
        clock_gettime(CLOCK_REALTIME, &now);
        r->base = ((int64_t)now.tv_sec * 1000 -
                   (int64_t)r->windows * CHAOS_WINDOW_MS) /
                  CHAOS_WINDOW_MS * CHAOS_WINDOW_MS;
        ref_groups(r);
        r->group = malloc((size_t)r->n);
        r->entity = malloc((size_t)r->n * sizeof *r->entity);
        r->rank = malloc((size_t)r->n * sizeof *r->rank);
        r->count = calloc((size_t)CHAOS_GROUPS * (size_t)r->windows,
                          sizeof *r->count);
        assert_true(r->group && r->entity && r->rank && r->count);
        for (i = 0; i < r->n; i++) {
                int e, g;
                if (i < r->events) {
                        e = (int)(chaos_rng_next(&s) % CHAOS_ENTITIES);
                        g = e % CHAOS_GROUPS;
                } else {
                        g = (int)(i - r->events);
                        e = g;
                }
                r->entity[i] = (uint16_t)e;
                r->group[i] = (uint8_t)g;
                r->rank[i] = ++next_rank[g];
                if (i < r->events) {
                        int w = (int)((chaos_event_ts(r, i) - r->base) /
                                      CHAOS_WINDOW_MS);
                        if (!r->count[g * r->windows + w]++)
                                r->pairs++;
                }
        }
}

void chaos_ref_free(chaos_ref_t *r)
{
        free(r->group);
        free(r->entity);
        free(r->rank);
        free(r->count);
}

/* ------------------------------------------------------------- tally */

void chaos_tally_init(chaos_tally_t *t, const chaos_ref_t *r, const char *out,
                      const char *win_out)
{
        memset(t, 0, sizeof *t);
        t->ref = r;
        t->out = out;
        t->win_out = win_out;
        t->seen = calloc((size_t)r->n, 1);
        t->wseen = calloc((size_t)CHAOS_GROUPS * (size_t)r->windows, 1);
        assert_true(t->seen && t->wseen);
        t->missing = r->n;
        t->wmissing = r->pairs;
}

/* The group of key "g-<g>-<salt>" (@p len bytes), or -1. */
static int group_of(const chaos_ref_t *r, const char *key, size_t len)
{
        char buf[24];
        int g;
        if (len == 0 || len >= sizeof buf)
                return -1;
        memcpy(buf, key, len);
        buf[len] = '\0';
        if (sscanf(buf, "g-%d-", &g) != 1 || g < 0 || g >= CHAOS_GROUPS ||
            strcmp(buf, r->group_name[g]))
                return -1;
        return g;
}

static void tally_rank(chaos_tally_t *t, const rd_kafka_message_t *rkm)
{
        const chaos_ref_t *r = t->ref;
        char val[48], *end;
        long long rank, seq;
        int g = group_of(r, rkm->key, rkm->key_len);

        t->records++;
        if (g < 0 || !rkm->payload || rkm->len == 0 || rkm->len >= sizeof val) {
                t->strays++;
                return;
        }
        memcpy(val, rkm->payload, rkm->len);
        val[rkm->len] = '\0';
        rank = strtoll(val, &end, 10);
        if (*end != ',' || (seq = strtoll(end + 1, &end, 10), *end) ||
            seq < 0 || seq >= r->n || r->group[seq] != g) {
                t->strays++;
                return;
        }
        if (t->seen[seq] == 0)
                t->missing--;
        else
                t->duplicated++;
        if (t->seen[seq] < UINT8_MAX)
                t->seen[seq]++;
        if (rank != r->rank[seq])
                t->wrong++;
        if (rank < r->rank[seq])
                t->below++;
}

static void tally_final(chaos_tally_t *t, const rd_kafka_message_t *rkm)
{
        const chaos_ref_t *r = t->ref;
        const unsigned char *k = rkm->key, *v = rkm->payload;
        int64_t start = 0, count = 0;
        int g, w, i;

        t->wrecords++;
        if (rkm->key_len <= 8 || rkm->len != 8 ||
            (g = group_of(r, rkm->key, rkm->key_len - 8)) < 0) {
                t->wstrays++;
                return;
        }
        for (i = 0; i < 8; i++) {
                start = start << 8 | k[rkm->key_len - 8 + i];
                count = count << 8 | v[i];
        }
        w = (int)((start - r->base) / CHAOS_WINDOW_MS);
        if (start < r->base || (start - r->base) % CHAOS_WINDOW_MS ||
            w >= r->windows || !r->count[g * r->windows + w]) {
                t->wstrays++;
                return;
        }
        i = g * r->windows + w;
        if (t->wseen[i] == 0)
                t->wmissing--;
        else
                t->wduplicated++;
        if (t->wseen[i] < UINT8_MAX)
                t->wseen[i]++;
        if (count != r->count[i])
                t->wwrong++;
        if (count < r->count[i]) {
                t->wbelow++;
                t->wdeficit += r->count[i] - count;
        }
}

void chaos_tally_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        chaos_tally_t *t = opaque;
        if (!strcmp(rd_kafka_topic_name(rkm->rkt), t->out))
                tally_rank(t, rkm);
        else
                tally_final(t, rkm);
}

void chaos_tally_print_missing(const chaos_tally_t *t, FILE *out, int max)
{
        const chaos_ref_t *r = t->ref;
        int g, w, shown = 0;
        for (g = 0; g < CHAOS_GROUPS && shown < max; g++)
                for (w = 0; w < r->windows && shown < max; w++) {
                        int i = g * r->windows + w;
                        if (!r->count[i] || t->wseen[i])
                                continue;
                        fprintf(out,
                                "missing final: group %s (partition %d) "
                                "window %d [%" PRId64 ", %" PRId64
                                ") count %d\n",
                                r->group_name[g], (int)r->group_part[g], w,
                                r->base + (int64_t)w * CHAOS_WINDOW_MS,
                                r->base + (int64_t)(w + 1) * CHAOS_WINDOW_MS,
                                (int)r->count[i]);
                        shown++;
                }
}

void chaos_tally_free(chaos_tally_t *t)
{
        free(t->seen);
        free(t->wseen);
}

void chaos_ref_record(const chaos_ref_t *r, int64_t seq, char *key,
                      size_t key_size, char *value, size_t value_size)
{
        snprintf(key, key_size, "e-%04d", r->entity[seq]);
        snprintf(value, value_size, "%" PRId64 ",%s,%s,%" PRId64, seq, key,
                 r->group_name[r->group[seq]], chaos_event_ts(r, seq));
}
