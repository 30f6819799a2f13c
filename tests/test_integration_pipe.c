/*
 * Integration: the stateless pipe (filter -> map_values -> to) on the real
 * broker, run as separate app processes (tests/apps/json_pipe.c).
 *
 * Input record i: key "p<i % 500>", value
 *   {"id": i, "key": "p<i % 500>", "seq": i / 500, "amount": i % 1000}
 * The pipe keeps amount % 3 != 0 and adds "doubled" and "by".
 */
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "kafka_util.h"

#define KEYS  500
#define PARTS 4

static bool kept(int64_t id)
{
        return (id % 1000) % 3 != 0;
}

static void produce_range(rd_kafka_t *rk, const char *topic, int64_t from,
                          int64_t to)
{
        char key[32], value[256];
        int64_t i;
        for (i = from; i < to; i++) {
                int n;
                snprintf(key, sizeof key, "p%" PRId64, i % KEYS);
                n = snprintf(value, sizeof value,
                             "{\"id\":%" PRId64
                             ",\"key\":\"%s\",\"seq\":%" PRId64
                             ",\"amount\":%" PRId64 "}",
                             i, key, i / KEYS, i % 1000);
                kt_produce(rk, topic, -1, key, value, (size_t)n, NULL);
        }
}

static int64_t expected_between(int64_t from, int64_t to)
{
        int64_t i, n = 0;
        for (i = from; i < to; i++)
                n += kept(i);
        return n;
}

/* The partition of the input and output topics (PARTS partitions each)
 * that the default partitioner (Java's murmur2, as the tests' producer and
 * brook use) picks for @p key. */
static int32_t key_partition(const char *key)
{
        return rd_kafka_msg_partitioner_murmur2(NULL, key, strlen(key), PARTS,
                                                NULL, NULL);
}

/* What the output holds, checked record by record. */
typedef struct check {
        int64_t records;
        uint8_t *seen; /* Times each id was seen. */
        int64_t max_id;
        int64_t last_seq[KEYS];
        int64_t order_violations;
        int64_t bad_values;
        int64_t by_a, by_b;
        /* The instance that must have processed a record: owner[0][p] for
         * ids below split, owner[1][p] from split on, where p is the
         * record's partition (the same in input and output). NULL: not
         * checked. */
        int64_t split;
        const char *owner[2][PARTS];
        int64_t wrong_instance;
} check_t;

static void check_record(const rd_kafka_message_t *rkm, void *opaque)
{
        check_t *c = opaque;
        json_error_t jerr;
        json_t *v = json_loadb(rkm->payload, rkm->len, 0, &jerr);
        int64_t id, seq, amount, k;
        const char *key, *by, *owner;
        char want_key[32];

        c->records++;
        if (!v) {
                c->bad_values++;
                return;
        }
        id = json_integer_value(json_object_get(v, "id"));
        seq = json_integer_value(json_object_get(v, "seq"));
        amount = json_integer_value(json_object_get(v, "amount"));
        key = json_string_value(json_object_get(v, "key"));
        by = json_string_value(json_object_get(v, "by"));
        k = id % KEYS;
        snprintf(want_key, sizeof want_key, "p%" PRId64, k);
        if (id < 0 || id > c->max_id || !key || strcmp(key, want_key) ||
            rkm->key_len != strlen(want_key) ||
            memcmp(rkm->key, want_key, rkm->key_len) ||
            rkm->partition != key_partition(want_key) || !kept(id) ||
            amount != id % 1000 ||
            json_integer_value(json_object_get(v, "doubled")) != 2 * amount ||
            !by) {
                c->bad_values++;
                json_decref(v);
                return;
        }
        c->seen[id]++;
        /* A key's records share an output partition, read in offset order:
         * their sequence numbers must rise. */
        if (seq <= c->last_seq[k])
                c->order_violations++;
        c->last_seq[k] = seq;
        owner = c->owner[id >= c->split][rkm->partition];
        if (owner && strcmp(by, owner))
                c->wrong_instance++;
        if (!strcmp(by, "a"))
                c->by_a++;
        else if (!strcmp(by, "b"))
                c->by_b++;
        json_decref(v);
}

/* Reads @p topic into @p c; set c->split and c->owner before (zero them
 * for no owner check). */
static void check_output(const char *topic, int64_t n_ids, check_t *c)
{
        int64_t i;
        c->records = c->order_violations = c->bad_values = 0;
        c->by_a = c->by_b = c->wrong_instance = 0;
        c->max_id = n_ids - 1;
        c->seen = calloc((size_t)n_ids, 1);
        for (i = 0; i < KEYS; i++)
                c->last_seq[i] = -1;
        kt_consume_all(topic, check_record, c);
}

/* Counts ids of kept records seen zero times and more than once. */
static void count_missing_dups(const check_t *c, int64_t n_ids,
                               int64_t *missing, int64_t *dups)
{
        int64_t i;
        *missing = *dups = 0;
        for (i = 0; i < n_ids; i++) {
                if (!kept(i))
                        continue;
                if (c->seen[i] == 0)
                        (*missing)++;
                else if (c->seen[i] > 1)
                        *dups += c->seen[i] - 1;
        }
}

/* Instances a test started: a failed assertion leaves the test at once,
 * and the teardown kills what it left running. */
static pid_t live_pids[4];

/* Starts json_pipe @p name with client.id "<app_id>-<name>", so the
 * group's description says which instance has which partitions. */
static pid_t start_instance(const char *name, const char *app_id,
                            const char *in, const char *out, const char *extra1,
                            const char *extra2)
{
        char log[512], client_id[512];
        char *argv[10] = {JSON_PIPE_PATH,
                          (char *)name,
                          (char *)kt_bootstrap(),
                          (char *)app_id,
                          (char *)in,
                          (char *)out,
                          client_id,
                          (char *)extra1,
                          (char *)extra2,
                          NULL};
        snprintf(client_id, sizeof client_id, "client.id=%s-%s", app_id, name);
        pid_t pid;
        int i;
        snprintf(log, sizeof log, "%s/%s-%s", LOG_DIR, app_id, name);
        pid = kt_spawn(argv, log);
        for (i = 0; i < 4 && live_pids[i]; i++)
                ;
        assert_true(i < 4);
        live_pids[i] = pid;
        return pid;
}

/* kt_wait() for an instance start_instance() started. */
static int reap(pid_t pid, int timeout_ms)
{
        int i, rc = kt_wait(pid, timeout_ms);
        for (i = 0; i < 4; i++)
                if (live_pids[i] == pid)
                        live_pids[i] = 0;
        return rc;
}

static int teardown(void **state)
{
        int i;
        for (i = 0; i < 4; i++) {
                /* kt_wait() kills it if it is still running. */
                if (live_pids[i])
                        kt_wait(live_pids[i], 0);
                live_pids[i] = 0;
        }
        return 0;
}

/* Waits until the group @p app_id is stable with @p members instances
 * that own every partition of @p in between them, and sets owner[p] to
 * the name ("a" or "b") of the instance that has partition p. */
static void wait_owners(const char *app_id, const char *in, int members,
                        const char *owner[PARTS])
{
        static const char *names[] = {"a", "b"};
        kt_group_t g;
        int p, i;
        kt_wait_group_stable(app_id, in, PARTS, members, &g, 120000);
        for (p = 0; p < PARTS; p++) {
                owner[p] = NULL;
                for (i = 0; i < 2; i++) {
                        char prefix[512];
                        snprintf(prefix, sizeof prefix, "%s-%s-", app_id,
                                 names[i]);
                        if (!strncmp(g.owner[p], prefix, strlen(prefix)))
                                owner[p] = names[i];
                }
                if (!owner[p])
                        fail_msg("partition %d of %s is owned by \"%s\", "
                                 "not by instance a or b",
                                 p, in, g.owner[p]);
        }
}

/* How many of the input records [@p from, @p to) (@p kept_only: that the
 * pipe keeps) sit in partitions that @p owner says are @p name's. */
static int64_t records_of(const char *const owner[PARTS], const char *name,
                          int64_t from, int64_t to, bool kept_only)
{
        char key[32];
        int64_t i, n = 0;
        for (i = from; i < to; i++) {
                snprintf(key, sizeof key, "p%" PRId64, i % KEYS);
                n += (!kept_only || kept(i)) &&
                     !strcmp(owner[key_partition(key)], name);
        }
        return n;
}

static int64_t instance_processed(const char *app_id, const char *name)
{
        char path[512];
        char *text, *p;
        int64_t n = -1;
        snprintf(path, sizeof path, "%s/%s-%s.out", LOG_DIR, app_id, name);
        text = kt_slurp(path);
        if (text && (p = strstr(text, "processed=")))
                n = strtoll(p + strlen("processed="), NULL, 10);
        free(text);
        return n;
}

static char *instance_stderr(const char *app_id, const char *name)
{
        char path[512];
        snprintf(path, sizeof path, "%s/%s-%s.err", LOG_DIR, app_id, name);
        return kt_slurp(path);
}

/* Two instances share 200,000 records; the output is exactly the expected
 * records, once each, in per-key order, each processed by the instance
 * that owns its partition. The input is produced only once both
 * instances have their partitions: records already there when the first
 * instance joins could all be processed before the second one does. */
static void test_two_instances_clean_run(void **state)
{
        const int64_t N = 200000;
        char *in = kt_unique("pipe-in"), *out = kt_unique("pipe-out");
        char *app_id = kt_unique("pipe-app");
        int64_t want = expected_between(0, N), missing, dups;
        rd_kafka_t *rk;
        pid_t a, b;
        check_t c = {.split = N};
        int p, parts_a = 0;

        kt_create_topic(in, PARTS);
        kt_create_topic(out, PARTS);
        a = start_instance("a", app_id, in, out, NULL, NULL);
        b = start_instance("b", app_id, in, out, NULL, NULL);
        wait_owners(app_id, in, 2, c.owner[0]);
        /* The range assignor splits 4 partitions 2 and 2. */
        for (p = 0; p < PARTS; p++)
                parts_a += !strcmp(c.owner[0][p], "a");
        assert_int_equal(parts_a, 2);

        rk = kt_producer();
        produce_range(rk, in, 0, N);
        kt_producer_close(rk);
        assert_int_equal(kt_count(in), N);
        assert_int_equal(kt_wait_count(out, want, 180000), want);
        kill(a, SIGTERM);
        kill(b, SIGTERM);
        assert_int_equal(reap(a, 60000), 0);
        assert_int_equal(reap(b, 60000), 0);

        check_output(out, N, &c);
        count_missing_dups(&c, N, &missing, &dups);
        assert_int_equal(c.bad_values, 0);
        assert_int_equal(missing, 0);
        assert_int_equal(dups, 0);
        assert_int_equal(c.records, want);
        assert_int_equal(c.order_violations, 0);
        /* Each instance processed exactly its partitions' records. */
        assert_int_equal(c.wrong_instance, 0);
        assert_int_equal(c.by_a, records_of(c.owner[0], "a", 0, N, true));
        assert_int_equal(c.by_b, records_of(c.owner[0], "b", 0, N, true));
        assert_int_equal(c.by_a + c.by_b, want);
        assert_int_equal(instance_processed(app_id, "a"),
                         records_of(c.owner[0], "a", 0, N, false));
        assert_int_equal(instance_processed(app_id, "b"),
                         records_of(c.owner[0], "b", 0, N, false));
        assert_int_equal(kt_committed_sum(app_id, in, PARTS), N);
        free(c.seen);
        free(in);
        free(out);
        free(app_id);
}

/* One instance stops between two halves of the input; the other takes
 * over its partitions and the output is complete. */
static void test_failover(void **state)
{
        const int64_t N = 200000, HALF = 100000;
        char *in = kt_unique("fo-in"), *out = kt_unique("fo-out");
        char *app_id = kt_unique("fo-app");
        int64_t want = expected_between(0, N), missing, dups;
        rd_kafka_t *rk;
        pid_t a, b;
        check_t c = {.split = HALF, .owner[1] = {"b", "b", "b", "b"}};

        kt_create_topic(in, PARTS);
        kt_create_topic(out, PARTS);
        a = start_instance("a", app_id, in, out, NULL, NULL);
        b = start_instance("b", app_id, in, out, NULL, NULL);
        /* Both instances have their partitions before the first half is
         * there, so each processes its own share of it. */
        wait_owners(app_id, in, 2, c.owner[0]);
        rk = kt_producer();
        produce_range(rk, in, 0, HALF);
        kt_producer_close(rk);
        assert_int_equal(kt_wait_count(out, expected_between(0, HALF), 180000),
                         expected_between(0, HALF));
        kill(a, SIGTERM);
        assert_int_equal(reap(a, 60000), 0);

        rk = kt_producer();
        produce_range(rk, in, HALF, N);
        kt_producer_close(rk);
        assert_int_equal(kt_wait_count(out, want, 180000), want);
        kill(b, SIGTERM);
        assert_int_equal(reap(b, 60000), 0);

        check_output(out, N, &c);
        count_missing_dups(&c, N, &missing, &dups);
        assert_int_equal(c.bad_values, 0);
        assert_int_equal(missing, 0);
        /* a committed before leaving, so b started where a stopped. */
        assert_int_equal(dups, 0);
        assert_int_equal(c.order_violations, 0);
        /* The first half went to the partitions' first owners; the second
         * half was all b's, a's former partitions included. */
        assert_int_equal(c.wrong_instance, 0);
        assert_int_equal(c.by_a, records_of(c.owner[0], "a", 0, HALF, true));
        assert_int_equal(c.by_b, records_of(c.owner[0], "b", 0, HALF, true) +
                                         expected_between(HALF, N));
        assert_int_equal(instance_processed(app_id, "a"),
                         records_of(c.owner[0], "a", 0, HALF, false));
        assert_int_equal(instance_processed(app_id, "b"),
                         records_of(c.owner[0], "b", 0, HALF, false) + N -
                                 HALF);
        assert_int_equal(kt_committed_sum(app_id, in, PARTS), N);
        free(c.seen);
        free(in);
        free(out);
        free(app_id);
}

/* dead_letter: 1,000 malformed records go to the DLQ with headers naming
 * where they came from; every good record is processed. */
typedef struct dlq_check {
        int64_t (*where)[2]; /* Partition and offset of bad record j. */
        int64_t records, matched, header_errors;
        const char *in_topic;
} dlq_check_t;

static bool header_is(rd_kafka_headers_t *h, const char *name, const char *want)
{
        const void *v;
        size_t size;
        return !rd_kafka_header_get_last(h, name, &v, &size) &&
               size == strlen(want) && !memcmp(v, want, size);
}

static void check_dlq_record(const rd_kafka_message_t *rkm, void *opaque)
{
        dlq_check_t *c = opaque;
        rd_kafka_headers_t *h = NULL;
        char buf[64];
        int j;

        c->records++;
        /* Bad values are "not json <j>". */
        if (rkm->len < 10 || memcmp(rkm->payload, "not json ", 9)) {
                c->header_errors++;
                return;
        }
        snprintf(buf, sizeof buf, "%.*s", (int)rkm->len - 9,
                 (const char *)rkm->payload + 9);
        j = atoi(buf);
        if (rd_kafka_message_headers((rd_kafka_message_t *)rkm, &h) ||
            !header_is(h, "__streams.errors.topic", c->in_topic) ||
            !header_is(h, "__streams.errors.exception",
                       "brook.SerializationException")) {
                c->header_errors++;
                return;
        }
        snprintf(buf, sizeof buf, "%" PRId64, c->where[j][0]);
        if (!header_is(h, "__streams.errors.partition", buf)) {
                c->header_errors++;
                return;
        }
        snprintf(buf, sizeof buf, "%" PRId64, c->where[j][1]);
        if (!header_is(h, "__streams.errors.offset", buf)) {
                c->header_errors++;
                return;
        }
        /* The original key travels with it. */
        snprintf(buf, sizeof buf, "bad%d", j);
        if (rkm->key_len != strlen(buf) || memcmp(rkm->key, buf, rkm->key_len))
                c->header_errors++;
        else
                c->matched++;
}

static void test_dead_letter(void **state)
{
        const int64_t GOOD = 20000, BAD = 1000;
        char *in = kt_unique("dlq-in"), *out = kt_unique("dlq-out");
        char *dlq = kt_unique("dlq-dlq"), *app_id = kt_unique("dlq-app");
        char dlq_prop[256];
        int64_t(*where)[2] = calloc((size_t)BAD, sizeof *where);
        int64_t want = expected_between(0, GOOD), missing, dups, g = 0, j;
        rd_kafka_t *rk;
        dlq_check_t dc = {0};
        check_t c = {.split = GOOD, .owner[0] = {"a", "a", "a", "a"}};
        pid_t a;

        kt_create_topic(in, 4);
        kt_create_topic(out, 4);
        rk = kt_producer();
        /* A bad record after every 20 good ones. */
        for (j = 0; j < BAD; j++) {
                char key[32], value[64];
                int n;
                produce_range(rk, in, g, g + GOOD / BAD);
                g += GOOD / BAD;
                snprintf(key, sizeof key, "bad%" PRId64, j);
                n = snprintf(value, sizeof value, "not json %" PRId64, j);
                kt_produce(rk, in, -1, key, value, (size_t)n, where[j]);
        }
        kt_producer_close(rk);
        assert_int_equal(kt_count(in), GOOD + BAD);

        snprintf(dlq_prop, sizeof dlq_prop,
                 "errors.deadletterqueue.topic.name=%s", dlq);
        a = start_instance("a", app_id, in, out,
                           "default.deserialization.exception.handler="
                           "dead_letter",
                           dlq_prop);
        assert_int_equal(kt_wait_count(out, want, 180000), want);
        assert_int_equal(kt_wait_count(dlq, BAD, 60000), BAD);
        kill(a, SIGTERM);
        assert_int_equal(reap(a, 60000), 0);

        check_output(out, GOOD, &c);
        count_missing_dups(&c, GOOD, &missing, &dups);
        assert_int_equal(missing, 0);
        assert_int_equal(dups, 0);
        assert_int_equal(c.bad_values, 0);
        free(c.seen);

        dc.where = where;
        dc.in_topic = in;
        kt_consume_all(dlq, check_dlq_record, &dc);
        assert_int_equal(dc.records, BAD);
        assert_int_equal(dc.header_errors, 0);
        assert_int_equal(dc.matched, BAD);
        /* Every input record, good or bad, is committed. */
        assert_int_equal(kt_committed_sum(app_id, in, PARTS), GOOD + BAD);
        free(where);
        free(in);
        free(out);
        free(dlq);
        free(app_id);
}

/* headers: the pipe's processors never read headers, so each output
 * record carries its input's headers exactly: names, order, duplicates,
 * binary bytes, a null value apart from an empty one; and a record without
 * headers gets none. */
#define HDR_IDS 2000

/* The headers of input record @p id (none for multiples of 4). */
static rd_kafka_headers_t *input_headers(int64_t id)
{
        rd_kafka_headers_t *h;
        char trace[32];
        unsigned char bin[5] = {0x00, 0xff, (unsigned char)(id & 0xff),
                                (unsigned char)(id >> 8), 0x00};
        if (id % 4 == 0)
                return NULL;
        h = rd_kafka_headers_new(5);
        snprintf(trace, sizeof trace, "t-%" PRId64, id);
        rd_kafka_header_add(h, "trace", -1, trace, -1);
        rd_kafka_header_add(h, "bin", -1, bin, sizeof bin);
        rd_kafka_header_add(h, "null", -1, NULL, 0);
        rd_kafka_header_add(h, "empty", -1, "", 0);
        rd_kafka_header_add(h, "trace", -1, "again", -1);
        return h;
}

typedef struct hdr_check {
        int64_t records, with, without, mismatches;
        uint8_t seen[HDR_IDS];
} hdr_check_t;

static void check_hdr_record(const rd_kafka_message_t *rkm, void *opaque)
{
        hdr_check_t *c = opaque;
        json_t *v = json_loadb(rkm->payload, rkm->len, 0, NULL);
        int64_t id = v ? json_integer_value(json_object_get(v, "id")) : -1;
        rd_kafka_headers_t *got = NULL, *want;
        size_t i;

        json_decref(v);
        c->records++;
        if (id < 0 || id >= HDR_IDS || !kept(id)) {
                c->mismatches++;
                return;
        }
        c->seen[id]++;
        want = input_headers(id);
        if (rd_kafka_message_headers(rkm, &got))
                got = NULL;
        if (!want) {
                if (got && rd_kafka_header_cnt(got))
                        c->mismatches++;
                else
                        c->without++;
                return;
        }
        if (!got || rd_kafka_header_cnt(got) != rd_kafka_header_cnt(want)) {
                c->mismatches++;
                rd_kafka_headers_destroy(want);
                return;
        }
        for (i = 0; i < rd_kafka_header_cnt(want); i++) {
                const char *wn, *gn;
                const void *wv, *gv;
                size_t ws, gs;
                if (rd_kafka_header_get_all(want, i, &wn, &wv, &ws) ||
                    rd_kafka_header_get_all(got, i, &gn, &gv, &gs) ||
                    strcmp(wn, gn) || !wv != !gv || ws != gs ||
                    (ws && memcmp(wv, gv, ws))) {
                        c->mismatches++;
                        rd_kafka_headers_destroy(want);
                        return;
                }
        }
        c->with++;
        rd_kafka_headers_destroy(want);
}

static void test_headers_pass_through(void **state)
{
        char *in = kt_unique("hdr-in"), *out = kt_unique("hdr-out");
        char *app_id = kt_unique("hdr-app");
        int64_t want = expected_between(0, HDR_IDS), want_without = 0, i;
        hdr_check_t *c = calloc(1, sizeof *c);
        rd_kafka_t *rk;
        pid_t a;

        kt_create_topic(in, 2);
        kt_create_topic(out, 2);
        rk = kt_producer();
        for (i = 0; i < HDR_IDS; i++) {
                char key[32], value[256];
                rd_kafka_headers_t *h = input_headers(i);
                rd_kafka_resp_err_t err;
                int n;
                snprintf(key, sizeof key, "p%" PRId64, i % KEYS);
                n = snprintf(value, sizeof value,
                             "{\"id\":%" PRId64
                             ",\"key\":\"%s\",\"seq\":%" PRId64
                             ",\"amount\":%" PRId64 "}",
                             i, key, i / KEYS, i % 1000);
                /* producev takes the headers only on success. */
                err = rd_kafka_producev(
                        rk, RD_KAFKA_V_TOPIC(in),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_KEY(key, strlen(key)),
                        RD_KAFKA_V_VALUE(value, (size_t)n),
                        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
                if (err && h)
                        rd_kafka_headers_destroy(h);
                assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
                if (kept(i) && i % 4 == 0)
                        want_without++;
        }
        kt_producer_close(rk);
        assert_int_equal(kt_count(in), HDR_IDS);

        a = start_instance("a", app_id, in, out, NULL, NULL);
        assert_int_equal(kt_wait_count(out, want, 180000), want);
        kill(a, SIGTERM);
        assert_int_equal(kt_wait(a, 60000), 0);

        kt_consume_all(out, check_hdr_record, c);
        assert_int_equal(c->records, want);
        assert_int_equal(c->mismatches, 0);
        assert_int_equal(c->without, want_without);
        assert_int_equal(c->with, want - want_without);
        for (i = 0; i < HDR_IDS; i++)
                assert_int_equal(c->seen[i], kept(i) ? 1 : 0);
        free(c);
        free(in);
        free(out);
        free(app_id);
}

/* fail (the default): the app stops naming topic, partition and offset,
 * and commits nothing past the bad record. */
typedef struct fail_check {
        int64_t p0_ids;   /* Output records from partition 0's input. */
        int64_t p0_after; /* ... of which from after the bad record. */
} fail_check_t;

static void check_fail_record(const rd_kafka_message_t *rkm, void *opaque)
{
        fail_check_t *c = opaque;
        json_t *v = json_loadb(rkm->payload, rkm->len, 0, NULL);
        int64_t id = json_integer_value(json_object_get(v, "id"));
        if (id < 1000) {
                c->p0_ids++;
                if (id > 100)
                        c->p0_after++;
        }
        json_decref(v);
}

static void test_fail_stops_at_bad_record(void **state)
{
        char *in = kt_unique("fail-in"), *out = kt_unique("fail-out");
        char *app_id = kt_unique("fail-app");
        char want_msg[512], *err;
        int64_t where[2] = {-1, -1}, i;
        fail_check_t fc = {0};
        rd_kafka_t *rk;
        pid_t a;

        kt_create_topic(in, 2);
        kt_create_topic(out, 2);
        rk = kt_producer();
        /* Partition 0: ids 0..99, a bad record at offset 100, ids 101..200.
         * Partition 1: ids 1000..1199. */
        for (i = 0; i <= 200; i++) {
                char value[128];
                int n;
                if (i == 100) {
                        kt_produce(rk, in, 0, "k", "{oops", 5, where);
                        continue;
                }
                n = snprintf(value, sizeof value,
                             "{\"id\":%" PRId64 ",\"amount\":%" PRId64 "}", i,
                             i);
                kt_produce(rk, in, 0, "k", value, (size_t)n, NULL);
        }
        for (i = 1000; i < 1200; i++) {
                char value[128];
                int n = snprintf(value, sizeof value,
                                 "{\"id\":%" PRId64 ",\"amount\":%" PRId64 "}",
                                 i, i);
                kt_produce(rk, in, 1, "k", value, (size_t)n, NULL);
        }
        kt_producer_close(rk);
        assert_int_equal(where[0], 0);
        assert_int_equal(where[1], 100);

        a = start_instance("a", app_id, in, out, NULL, NULL);
        /* The app stops by itself, with an error. */
        assert_int_equal(reap(a, 120000), 1);
        err = instance_stderr(app_id, "a");
        assert_non_null(err);
        snprintf(want_msg, sizeof want_msg,
                 "deserialization error at topic \"%s\" partition 0 offset "
                 "100",
                 in);
        if (!strstr(err, want_msg))
                fail_msg("stderr lacks \"%s\":\n%s", want_msg, err);
        free(err);

        /* Everything before the bad record is committed; nothing after. */
        assert_int_equal(kt_committed(app_id, in, 0), 100);
        kt_consume_all(out, check_fail_record, &fc);
        assert_int_equal(fc.p0_after, 0);
        assert_int_equal(fc.p0_ids, 66); /* ids 0..99 with id % 3 != 0 */
        free(in);
        free(out);
        free(app_id);
}

/* What a read_committed reader of the output finds, per input id: how
 * many times, for test_eos_refused_record(). */
typedef struct eos_check {
        int seen[1200];
        int64_t bad; /**< Records without an id in range. */
} eos_check_t;

static void check_eos_record(const rd_kafka_message_t *rkm, void *opaque)
{
        eos_check_t *c = opaque;
        json_t *v = json_loadb(rkm->payload, rkm->len, 0, NULL);
        int64_t id = json_integer_value(json_object_get(v, "id"));
        if (id >= 0 && id < 1200)
                c->seen[id]++;
        else
                c->bad++;
        json_decref(v);
}

/* Produces json_pipe records with ids [@p from, @p to) into partition
 * @p p of @p in; the id @p big gets a 150 KB "pad" that does not compress
 * (kt_incompressible()). */
static void produce_ids(rd_kafka_t *rk, const char *in, int32_t p, int64_t from,
                        int64_t to, int64_t big)
{
        static char value[160000];
        int64_t i;
        for (i = from; i < to; i++) {
                int n = snprintf(value, sizeof value,
                                 "{\"id\":%" PRId64 ",\"amount\":%" PRId64 "%s",
                                 i, i, i == big ? ",\"pad\":\"" : "}");
                if (i == big) {
                        kt_incompressible(value + n, 150000);
                        n += 150000;
                        n += snprintf(value + n, sizeof value - (size_t)n,
                                      "\"}");
                }
                kt_produce(rk, in, p, "k", value, (size_t)n, NULL);
        }
}

/*
 * at_least_once with a record the broker refuses (larger than the output
 * topic's max.message.bytes), under each production handler:
 *   fail              the app stops naming the cause; the refused record's
 *                     offset is not committed
 *   log_and_continue  every other record is delivered, all input is
 *                     committed, the record is counted dropped
 *   dead_letter       the same, and the refused output record is in the
 *                     dead-letter topic whole, with headers saying why
 */
typedef struct refused_check {
        int64_t records, with_50, bad;
        int64_t dlq_records, dlq_value_size;
        char exception[64], topic[256], message[512];
} refused_check_t;

static void check_refused_out(const rd_kafka_message_t *rkm, void *opaque)
{
        refused_check_t *c = opaque;
        json_t *v = json_loadb(rkm->payload, rkm->len, 0, NULL);
        int64_t id = v ? json_integer_value(json_object_get(v, "id")) : -1;
        c->records++;
        if (id == 50)
                c->with_50++;
        else if (id < 0 || id >= 100 || !kept(id))
                c->bad++;
        json_decref(v);
}

static void header_str(const rd_kafka_message_t *rkm, const char *name,
                       char *buf, size_t size)
{
        rd_kafka_headers_t *h = NULL;
        const void *val;
        size_t n;
        buf[0] = '\0';
        if (rd_kafka_message_headers(rkm, &h) ||
            rd_kafka_header_get_last(h, name, &val, &n))
                return;
        snprintf(buf, size, "%.*s", (int)n, (const char *)val);
}

static void check_refused_dlq(const rd_kafka_message_t *rkm, void *opaque)
{
        refused_check_t *c = opaque;
        json_t *v = json_loadb(rkm->payload, rkm->len, 0, NULL);
        c->dlq_records++;
        c->dlq_value_size = (int64_t)rkm->len;
        /* The output record: id 50, with what the pipe added. */
        if (!v || json_integer_value(json_object_get(v, "id")) != 50 ||
            !json_object_get(v, "doubled"))
                c->bad++;
        json_decref(v);
        header_str(rkm, "__streams.errors.exception", c->exception,
                   sizeof c->exception);
        header_str(rkm, "__streams.errors.topic", c->topic, sizeof c->topic);
        header_str(rkm, "__streams.errors.message", c->message,
                   sizeof c->message);
}

static void run_refused(const char *handler)
{
        char *in = kt_unique("refused-in"), *out = kt_unique("refused-out");
        char *dlq = kt_unique("refused-dlq"), *app_id = kt_unique("refused");
        char prop[256], dlq_prop[300], *err;
        refused_check_t c = {0};
        int64_t want = 0, i;
        rd_kafka_t *rk;
        pid_t a;

        for (i = 0; i < 100; i++)
                want += kept(i) && i != 50;
        kt_create_topic(in, 1);
        kt_create_topic_with(out, 1, "max.message.bytes", "100000");
        snprintf(prop, sizeof prop, "default.production.exception.handler=%s",
                 handler);
        snprintf(dlq_prop, sizeof dlq_prop,
                 "errors.deadletterqueue.topic.name=%s", dlq);
        a = start_instance("a", app_id, in, out, prop, dlq_prop);
        /* The broker refuses a whole batch, and librdkafka does not split
         * it: the large record goes alone, after the first 50 are
         * committed and before the rest are produced. */
        rk = kt_producer();
        produce_ids(rk, in, 0, 0, 50, -1);
        assert_int_equal(rd_kafka_flush(rk, 30000), 0);
        assert_int_equal(kt_wait_committed(app_id, in, 1, 50, 120000), 50);
        produce_ids(rk, in, 0, 50, 51, 50);
        assert_int_equal(rd_kafka_flush(rk, 30000), 0);
        if (strcmp(handler, "fail"))
                assert_int_equal(kt_wait_committed(app_id, in, 1, 51, 120000),
                                 51);
        produce_ids(rk, in, 0, 51, 100, -1);
        kt_producer_close(rk);
        if (!strcmp(handler, "fail")) {
                assert_int_equal(reap(a, 120000), 1);
                err = instance_stderr(app_id, "a");
                assert_non_null(err);
                if (!strstr(err, "was not delivered: Broker: Message size "
                                 "too large"))
                        fail_msg("stderr lacks the cause:\n%s", err);
                free(err);
                assert_int_equal(kt_committed(app_id, in, 0), 50);
        } else {
                assert_int_equal(kt_wait_committed(app_id, in, 1, 100, 120000),
                                 100);
                kill(a, SIGTERM);
                assert_int_equal(reap(a, 60000), 0);
                kt_consume_all(out, check_refused_out, &c);
                assert_int_equal(c.records, want);
                assert_int_equal(c.with_50, 0);
                if (!strcmp(handler, "dead_letter")) {
                        kt_consume_all(dlq, check_refused_dlq, &c);
                        assert_int_equal(c.dlq_records, 1);
                        assert_true(c.dlq_value_size > 150000);
                        assert_string_equal(c.exception,
                                            "brook.ProductionException");
                        assert_string_equal(c.topic, out);
                        if (!strstr(c.message, "Message size too large"))
                                fail_msg("message header: %s", c.message);
                } else {
                        assert_int_equal(kt_partition_count(dlq), 0);
                }
                assert_int_equal(c.bad, 0);
        }
        free(in);
        free(out);
        free(dlq);
        free(app_id);
}

static void test_production_handlers(void **state)
{
        run_refused("fail");
        run_refused("log_and_continue");
        run_refused("dead_letter");
}

/*
 * exactly_once_v2 with a record the broker always refuses (larger than
 * the output topic's max.message.bytes, which the producer cannot know):
 * every transaction holding it aborts, and after 10 in a row the app
 * stops naming the cause. A read_committed reader finds exactly the
 * records of the committed input offsets, once each: nothing of the
 * aborted transactions.
 */
static void test_eos_refused_record(void **state)
{
        char *in = kt_unique("eos-in"), *out = kt_unique("eos-out");
        char *app_id = kt_unique("eos-app");
        char *err, *stopped;
        eos_check_t *c = calloc(1, sizeof *c);
        int64_t committed0, committed1, i;
        rd_kafka_t *rk;
        pid_t a;

        kt_create_topic(in, 2);
        /* The limit is on a record batch: the small records' batches
         * stay far below it. */
        kt_create_topic_with(out, 2, "max.message.bytes", "100000");
        a = start_instance("a", app_id, in, out,
                           "processing.guarantee=exactly_once_v2", NULL);
        /* Partition 0: ids 0..99, committed before the rest comes; then
         * id 100 too large for the output, ids 101..199. Partition 1: ids
         * 1000..1099, then 1100..1199. */
        rk = kt_producer();
        produce_ids(rk, in, 0, 0, 100, -1);
        produce_ids(rk, in, 1, 1000, 1100, -1);
        assert_int_equal(rd_kafka_flush(rk, 30000), 0);
        assert_int_equal(kt_wait_committed(app_id, in, 2, 200, 120000), 200);
        produce_ids(rk, in, 0, 100, 200, 100);
        produce_ids(rk, in, 1, 1100, 1200, -1);
        kt_producer_close(rk);

        /* The app stops by itself, with the cause. */
        assert_int_equal(reap(a, 180000), 1);
        err = instance_stderr(app_id, "a");
        assert_non_null(err);
        /* The stop's message names the refused record's failure, as the
         * last abort's cause, or as the first's when the last one's is a
         * consequence (librdkafka's "Erroneous state"). */
        stopped = strstr(err, "brook: stopped on an error: ");
        if (!stopped ||
            !strstr(stopped, "10 transactions in a row aborted; the last "
                             "because ") ||
            !strstr(stopped, "a record to topic \"") ||
            !strstr(stopped, "Message size too large"))
                fail_msg("stderr lacks the cause:\n%s", err);
        free(err);

        /* Nothing past the refused record's offset is committed in its
         * partition; the output is exactly what the committed offsets
         * cover, once each. */
        committed0 = kt_committed(app_id, in, 0);
        committed1 = kt_committed(app_id, in, 1);
        assert_int_equal(committed0, 100);
        assert_in_range(committed1, 100, 200);
        kt_consume_all(out, check_eos_record, c);
        assert_int_equal(c->bad, 0);
        for (i = 0; i < 1200; i++) {
                int64_t offset = i < 1000 ? i : i - 1000;
                int64_t committed = i < 1000 ? committed0 : committed1;
                /* json_pipe keeps amounts not a multiple of 3. */
                int want = offset < committed && i % 3 != 0 ? 1 : 0;
                if (i >= 200 && i < 1000)
                        want = 0;
                if (c->seen[i] != want)
                        fail_msg("id %" PRId64 ": %d times in the output, "
                                 "want %d (committed %" PRId64 ")",
                                 i, c->seen[i], want, committed);
        }
        free(c);
        free(in);
        free(out);
        free(app_id);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_two_instances_clean_run,
                                          teardown),
                cmocka_unit_test_teardown(test_failover, teardown),
                cmocka_unit_test_teardown(test_dead_letter, teardown),
                cmocka_unit_test_teardown(test_headers_pass_through, teardown),
                cmocka_unit_test_teardown(test_fail_stops_at_bad_record,
                                          teardown),
                cmocka_unit_test_teardown(test_eos_refused_record, teardown),
                cmocka_unit_test_teardown(test_production_handlers, teardown),
        };
        kt_test_filter();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
