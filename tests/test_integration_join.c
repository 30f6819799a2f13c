/*
 * Integration: the stream-table join on the real broker (operators/join.c).
 *
 *  - A patients table and a prescriptions stream, 4 partitions each, the
 *    table's records older than the stream's: every prescription is joined
 *    with its patient's ward as it is when the prescription is processed
 *    (left join: a prescription of an unknown patient joins with null);
 *    exact output, one record per prescription.
 *  - A prescriptions stream re-keyed by patient goes through a repartition
 *    topic that takes the table's partition count, not its writer's.
 *  - Topics of different partition counts cannot be joined: the app does
 *    not start, and says which topics.
 *  - A foreign-key left join across tables of 4 and 2 partitions, both
 *    updated while it runs: every row's last result is its final join.
 *  - A stream-stream left join whose stores are restored from their
 *    changelogs after the local state is deleted: records waiting for a
 *    partner are joined or, once their window closes, emitted with null,
 *    each exactly once.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "brook_int.h"
#include "kafka_util.h"

#define WAIT_MS  60000
#define PATIENTS 20
#define RX       60

static brook_conf_t *conf_for(const char *app_id)
{
        brook_conf_t *conf = brook_conf_new();
        char errstr[512];
        if (brook_conf_set(conf, "application.id", app_id, errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "bootstrap.servers", kt_bootstrap(), errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "commit.interval.ms", "200", errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "default.key.serde", "string", errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "default.value.serde", "string", errstr,
                           sizeof errstr))
                fail_msg("%s", errstr);
        return conf;
}

/* "rx-7" joined with "ward-3": "rx-7@ward-3". */
static void *rx_joiner(const brook_record_t *rec, void *left, void *right,
                       void *opaque)
{
        size_t n = strlen(left) + (right ? strlen(right) : 4) + 2;
        char *out = brook_record_alloc(rec, n);
        (void)opaque;
        snprintf(out, n, "%s@%s", (char *)left, right ? (char *)right : "null");
        return out;
}

/* "p3|rx-7" keyed by anything: re-keyed by the patient before the part
 * after '|'. */
static void rekey(const brook_record_t *rec, void **keyp, void **valuep,
                  void *opaque)
{
        const char *v = brook_record_value(rec);
        const char *bar = strchr(v, '|');
        size_t klen = bar ? (size_t)(bar - v) : strlen(v);
        char *k = brook_record_alloc(rec, klen + 1);
        (void)opaque;
        memcpy(k, v, klen);
        k[klen] = '\0';
        *keyp = k;
        *valuep = (void *)(bar ? bar + 1 : v);
}

static brook_app_t *start(brook_builder_t *b, const char *app_id)
{
        char errstr[1024] = "";
        brook_app_t *app =
                brook_app_new(b, conf_for(app_id), errstr, sizeof errstr);
        if (!app)
                fail_msg("brook_app_new: %s", errstr);
        if (brook_app_start(app, errstr, sizeof errstr))
                fail_msg("brook_app_start: %s", errstr);
        return app;
}

/* Patients p0..p19 in wards "ward-<i % 5>", at timestamps 1000 + i, by
 * key over @p partitions. */
static void produce_patients(const char *topic, int partitions)
{
        rd_kafka_t *rk = kt_producer();
        int i;
        for (i = 0; i < PATIENTS; i++) {
                char k[16], v[16];
                snprintf(k, sizeof k, "p%d", i);
                int n = snprintf(v, sizeof v, "ward-%d", i % 5);
                kt_produce_at(rk, topic, kt_partition_of(k, partitions), k, v,
                              (size_t)n, 1000 + i, NULL);
        }
        kt_producer_close(rk);
}

/* What the output must hold: one "key rx-i@ward" per prescription i, of
 * patient p<i % 30> (p20..p29 are unknown: null). Sorted lines. */
static char *expected_lines(void)
{
        char *out = calloc(RX, 32);
        int i;
        for (i = 0; i < RX; i++) {
                int p = i % 30;
                char line[32];
                if (p < PATIENTS)
                        snprintf(line, sizeof line, "p%d rx-%d@ward-%d\n", p, i,
                                 p % 5);
                else
                        snprintf(line, sizeof line, "p%d rx-%d@null\n", p, i);
                strcat(out, line);
        }
        return out;
}

struct lines {
        char **v;
        int cnt;
};

static void collect_line(const rd_kafka_message_t *rkm, void *opaque)
{
        struct lines *l = opaque;
        char *line = malloc(rkm->key_len + rkm->len + 3);
        sprintf(line, "%.*s %.*s\n", (int)rkm->key_len, (const char *)rkm->key,
                (int)rkm->len, (const char *)rkm->payload);
        l->v = realloc(l->v, (size_t)(l->cnt + 1) * sizeof *l->v);
        l->v[l->cnt++] = line;
}

static int line_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* @p topic's records as sorted "key value" lines, against @p want (sorted
 * the same way). */
static void expect_lines(const char *topic, const char *want_unsorted)
{
        struct lines got = {0}, want = {0};
        char *copy = strdup(want_unsorted), *save = NULL, *tok;
        int i;

        kt_consume_all(topic, collect_line, &got);
        for (tok = strtok_r(copy, "\n", &save); tok;
             tok = strtok_r(NULL, "\n", &save)) {
                want.v = realloc(want.v,
                                 (size_t)(want.cnt + 1) * sizeof *want.v);
                want.v[want.cnt] = malloc(strlen(tok) + 2);
                sprintf(want.v[want.cnt++], "%s\n", tok);
        }
        qsort(got.v, (size_t)got.cnt, sizeof *got.v, line_cmp);
        qsort(want.v, (size_t)want.cnt, sizeof *want.v, line_cmp);
        assert_int_equal(got.cnt, want.cnt);
        for (i = 0; i < got.cnt; i++)
                assert_string_equal(got.v[i], want.v[i]);
        for (i = 0; i < got.cnt; i++)
                free(got.v[i]);
        for (i = 0; i < want.cnt; i++)
                free(want.v[i]);
        free(got.v);
        free(want.v);
        free(copy);
}

static void test_join_copartitioned(void **state)
{
        char *app_id = kt_unique("join"), *rx = kt_unique("join-rx"),
             *patients = kt_unique("join-patients"),
             *out = kt_unique("join-out"), *want;
        brook_builder_t *b = brook_builder_new();
        rd_kafka_t *rk;
        brook_app_t *app;
        int i;
        (void)state;

        kt_create_topic(rx, 4);
        kt_create_topic(patients, 4);
        kt_create_topic(out, 2);
        produce_patients(patients, 4);
        rk = kt_producer();
        for (i = 0; i < RX; i++) {
                char k[16], v[16];
                snprintf(k, sizeof k, "p%d", i % 30);
                int n = snprintf(v, sizeof v, "rx-%d", i);
                kt_produce_at(rk, rx, kt_partition_of(k, 4), k, v, (size_t)n,
                              5000 + i, NULL);
        }
        kt_producer_close(rk);
        brook_stream_to(brook_stream_left_join_table(
                                brook_stream(b, rx, NULL),
                                brook_table(b, patients, NULL, NULL), rx_joiner,
                                NULL, NULL),
                        out, NULL);
        app = start(b, app_id);
        assert_int_equal(kt_wait_count(out, RX, WAIT_MS), RX);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
        want = expected_lines();
        expect_lines(out, want);
        free(want);
        free(app_id);
        free(rx);
        free(patients);
        free(out);
}

/* Prescriptions of 8 partitions, keyed by prescription, re-keyed by
 * patient: the repartition topic gets the table's 4 partitions. */
static void test_join_repartitioned(void **state)
{
        char *app_id = kt_unique("join-rk"), *rx = kt_unique("join-rk-rx"),
             *patients = kt_unique("join-rk-patients"),
             *out = kt_unique("join-rk-out"), *want, topic[256];
        brook_builder_t *b = brook_builder_new();
        rd_kafka_t *rk;
        brook_app_t *app;
        int i;
        (void)state;

        kt_create_topic(rx, 8);
        kt_create_topic(patients, 4);
        kt_create_topic(out, 1);
        produce_patients(patients, 4);
        rk = kt_producer();
        for (i = 0; i < RX; i++) {
                char k[16], v[32];
                snprintf(k, sizeof k, "rx%d", i);
                int n = snprintf(v, sizeof v, "p%d|rx-%d", i % 30, i);
                kt_produce_at(rk, rx, -1, k, v, (size_t)n, 5000 + i, NULL);
        }
        kt_producer_close(rk);
        brook_stream_to(
                brook_stream_left_join_table(
                        brook_stream_map(brook_stream(b, rx, NULL), rekey,
                                         NULL),
                        brook_table(b, patients, NULL, NULL), rx_joiner, NULL,
                        &(brook_joined_t){.name = "by-patient",
                                          .version = BROOK_JOINED_VERSION}),
                out, NULL);
        app = start(b, app_id);
        assert_int_equal(kt_wait_count(out, RX, WAIT_MS), RX);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
        snprintf(topic, sizeof topic, "%s-by-patient-repartition", app_id);
        assert_int_equal(kt_wait_partition_count(topic, 4, 30000), 4);
        assert_int_equal(kt_count(topic), RX);
        want = expected_lines();
        expect_lines(out, want);
        free(want);
        free(app_id);
        free(rx);
        free(patients);
        free(out);
}

/* "rx-7" joined with a count: "rx-7@3". */
static void *rx_joiner_count(const brook_record_t *rec, void *left, void *right,
                             void *opaque)
{
        char *out = brook_record_alloc(rec, strlen(left) + 24);
        (void)opaque;
        if (right)
                sprintf(out, "%s@%" PRId64, (char *)left, *(int64_t *)right);
        else
                sprintf(out, "%s@null", (char *)left);
        return out;
}

/* The key of "p3|rx-7" ("p3"), for a group_by. */
static void *patient_of(const brook_record_t *rec, void *opaque)
{
        void *k, *v;
        rekey(rec, &k, &v, opaque);
        return k;
}

/* Only a join's topics are a co-partition group. A merge of a topic of 4
 * partitions with a repartition topic written from 8 keeps the writer's 8
 * (as Kafka Streams); a fixed 8 is accepted. A join whose topics are all
 * repartition topics takes the one fixed count (4, against 8 inherited by
 * the other), and two fixed counts that differ are refused. */
static void test_copartition_groups(void **state)
{
        char *app_id = kt_unique("join-cp"), *a = kt_unique("join-cp-a"),
             *rx = kt_unique("join-cp-rx"), topic[256];
        char errstr[1024] = "";
        brook_builder_t *b = brook_builder_new();
        brook_repartitioned_t fixed = {.name = "fixed",
                                       .num_partitions = 8,
                                       .version = BROOK_REPARTITIONED_VERSION};
        brook_stream_t *s;
        brook_app_t *app;
        (void)state;

        kt_create_topic(a, 4);
        kt_create_topic(rx, 8);
        brook_stream_to(
                brook_stream_merge(
                        brook_stream(b, a, NULL),
                        brook_stream_repartition(
                                brook_stream_map(brook_stream(b, rx, NULL),
                                                 rekey, NULL),
                                &fixed)),
                "unused-merge", NULL);
        app = start(b, app_id);
        snprintf(topic, sizeof topic, "%s-fixed-repartition", app_id);
        assert_int_equal(kt_wait_partition_count(topic, 8, 30000), 8);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
        free(app_id);

        /* A join of two repartition topics: one fixed at 4, the other
         * (group_by's) would inherit 8. */
        app_id = kt_unique("join-cp2");
        b = brook_builder_new();
        s = brook_stream(b, rx, NULL);
        fixed.name = "rx4";
        fixed.num_partitions = 4;
        brook_stream_to(
                brook_stream_left_join_table(
                        brook_stream_repartition(
                                brook_stream_map(s, rekey, NULL), &fixed),
                        brook_grouped_count(
                                brook_stream_group_by(s, patient_of, NULL,
                                                      NULL),
                                &(brook_materialized_t){
                                        .name = "per-patient",
                                        .value_serde = brook_serde_int64(),
                                        .version = BROOK_MATERIALIZED_VERSION}),
                        rx_joiner_count, NULL, NULL),
                "unused-join", NULL);
        app = start(b, app_id);
        snprintf(topic, sizeof topic, "%s-rx4-repartition", app_id);
        assert_int_equal(kt_wait_partition_count(topic, 4, 30000), 4);
        snprintf(topic, sizeof topic, "%s-per-patient-repartition", app_id);
        assert_int_equal(kt_wait_partition_count(topic, 4, 30000), 4);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
        free(app_id);

        /* Two fixed counts that differ: the stream's 4, the table's 6
         * (a count of a stream repartitioned to 6). */
        app_id = kt_unique("join-cp3");
        b = brook_builder_new();
        s = brook_stream_map(brook_stream(b, rx, NULL), rekey, NULL);
        brook_stream_to(
                brook_stream_left_join_table(
                        brook_stream_repartition(s, &fixed),
                        brook_grouped_count(
                                brook_stream_group_by_key(
                                        brook_stream_repartition(
                                                s,
                                                &(brook_repartitioned_t){
                                                        .name = "rx6",
                                                        .num_partitions = 6,
                                                        .version =
                                                                BROOK_REPARTITIONED_VERSION}),
                                        NULL),
                                &(brook_materialized_t){
                                        .name = "per-patient6",
                                        .value_serde = brook_serde_int64(),
                                        .version = BROOK_MATERIALIZED_VERSION}),
                        rx_joiner_count, NULL, NULL),
                "unused-join", NULL);
        app = brook_app_new(b, conf_for(app_id), errstr, sizeof errstr);
        assert_non_null(app);
        assert_int_equal(brook_app_start(app, errstr, sizeof errstr),
                         BROOK_ERR_TOPOLOGY);
        if (!strstr(errstr, "-rx4-repartition\" (4 partitions)") ||
            !strstr(errstr, "-rx6-repartition\" (6 partitions)") ||
            !strstr(errstr, "are joined by sub-topology") ||
            !strstr(errstr, "give them the same num_partitions"))
                fail_msg("got: %s", errstr);
        brook_app_destroy(app);
        free(app_id);
        free(a);
        free(rx);
}

static void test_join_not_copartitioned(void **state)
{
        char *app_id = kt_unique("join-bad"), *rx = kt_unique("join-bad-rx"),
             *patients = kt_unique("join-bad-patients");
        brook_builder_t *b = brook_builder_new();
        char errstr[1024] = "", want[1024];
        brook_app_t *app;
        (void)state;

        kt_create_topic(rx, 4);
        kt_create_topic(patients, 2);
        brook_stream_to(
                brook_stream_join_table(brook_stream(b, rx, NULL),
                                        brook_table(b, patients, NULL, NULL),
                                        rx_joiner, NULL, NULL),
                "unused", NULL);
        app = brook_app_new(b, conf_for(app_id), errstr, sizeof errstr);
        assert_non_null(app);
        assert_int_equal(brook_app_start(app, errstr, sizeof errstr),
                         BROOK_ERR_TOPOLOGY);
        /* Either topic may come first. */
        snprintf(want, sizeof want, "\"%s\" (4 partitions)", rx);
        if (!strstr(errstr, want))
                fail_msg("got: %s\nwant: %s", errstr, want);
        snprintf(want, sizeof want, "\"%s\" (2 partitions)", patients);
        if (!strstr(errstr, want))
                fail_msg("got: %s\nwant: %s", errstr, want);
        if (!strstr(errstr, "are read by sub-topology 0 and must be "
                            "co-partitioned: give them the same partition "
                            "count"))
                fail_msg("got: %s", errstr);
        brook_app_destroy(app);
        free(app_id);
        free(rx);
        free(patients);
}

/* ------------------------------------------------- stream-stream joins */

#define ADMITTED 40
#define SS_T0    1700000000000LL

/* "adm-3" joined with "vit-3" (or nothing): "adm-3+vit-3" ("+null"). */
static void *plus_joiner(const brook_record_t *rec, void *left, void *right,
                         void *opaque)
{
        const char *l = left ? left : "null", *r = right ? right : "null";
        size_t n = strlen(l) + strlen(r) + 2;
        char *out = brook_record_alloc(rec, n);
        (void)opaque;
        snprintf(out, n, "%s+%s", l, r);
        return out;
}

static brook_builder_t *admissions_join(const char *adm, const char *vit,
                                        const char *out)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *l = brook_stream(b, adm, NULL);
        brook_stream_t *r = brook_stream(b, vit, NULL);
        brook_join_windows_t w = brook_join_windows(100, 0);

        brook_stream_to(
                brook_stream_left_join(l, r, plus_joiner, NULL, &w, NULL), out,
                NULL);
        return b;
}

struct closer {
        const char *vit, *out;
        int64_t want;
        rd_kafka_t *rk;
};

/* Moves every task's stream time far ahead with a record per partition
 * that joins nothing, until @p opaque's output has all its records:
 * unmatched admissions go out only at a record that finds their window
 * closed, and at most once a second of wall clock. */
static bool close_windows(void *opaque)
{
        struct closer *c = opaque;
        for (int p = 0; p < 4; p++) {
                char k[32];
                for (int i = 0;; i++) {
                        snprintf(k, sizeof k, "closer-%d", i);
                        if (kt_partition_of(k, 4) == p)
                                break;
                }
                kt_produce_at(c->rk, c->vit, p, k, "x", 1, SS_T0 + 100000,
                              NULL);
        }
        rd_kafka_flush(c->rk, 5000);
        return kt_count(c->out) >= c->want;
}

/* Admissions p0..p39 in the same 40 ms, processed; the app stops and its
 * local state is deleted; vital signs come for the even patients 50 ms
 * after their admission; the app starts again, restores its join stores
 * from their changelogs, joins every even patient's admission with its
 * vital sign, and, once stream time has passed each odd admission's
 * window, emits it once with null. */
static void test_stream_stream_restored(void **state)
{
        char *app_id = kt_unique("ssj"), *adm = kt_unique("ssj-adm"),
             *vit = kt_unique("ssj-vit"), *out = kt_unique("ssj-out");
        char dir[] = "/tmp/brook-ssj-XXXXXX", errstr[1024] = "", want[4096];
        char cmd[512], topic[512];
        brook_conf_t *conf;
        brook_app_t *app;
        struct closer c;
        rd_kafka_t *rk;
        size_t n = 0;
        int i;
        (void)state;

        assert_non_null(mkdtemp(dir));
        kt_create_topic(adm, 4);
        kt_create_topic(vit, 4);
        kt_create_topic(out, 1);
        rk = kt_producer();
        for (i = 0; i < ADMITTED; i++) {
                char k[16], v[16];
                snprintf(k, sizeof k, "p%d", i);
                int len = snprintf(v, sizeof v, "adm-%d", i);
                kt_produce_at(rk, adm, kt_partition_of(k, 4), k, v, (size_t)len,
                              SS_T0 + i, NULL);
        }
        rd_kafka_flush(rk, 5000);

        conf = conf_for(app_id);
        assert_int_equal(
                brook_conf_set(conf, "state.dir", dir, errstr, sizeof errstr),
                BROOK_OK);
        app = brook_app_new(admissions_join(adm, vit, out), conf, errstr,
                            sizeof errstr);
        assert_non_null(app);
        assert_int_equal(brook_app_start(app, errstr, sizeof errstr), BROOK_OK);
        assert_int_equal(kt_wait_committed(app_id, adm, 4, ADMITTED, WAIT_MS),
                         ADMITTED);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
        /* Nothing had closed yet. */
        assert_int_equal(kt_count(out), 0);
        /* The records waiting for a partner are in the outer store's
         * changelog, under Kafka Streams' name. */
        snprintf(topic, sizeof topic,
                 "%s-KSTREAM-OUTERSHARED-0000000004-store-changelog", app_id);
        assert_int_equal(kt_count(topic), ADMITTED);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);

        for (i = 0; i < ADMITTED; i += 2) {
                char k[16], v[16];
                snprintf(k, sizeof k, "p%d", i);
                int len = snprintf(v, sizeof v, "vit-%d", i);
                kt_produce_at(rk, vit, kt_partition_of(k, 4), k, v, (size_t)len,
                              SS_T0 + 50 + i, NULL);
        }
        rd_kafka_flush(rk, 5000);
        conf = conf_for(app_id);
        assert_int_equal(
                brook_conf_set(conf, "state.dir", dir, errstr, sizeof errstr),
                BROOK_OK);
        app = brook_app_new(admissions_join(adm, vit, out), conf, errstr,
                            sizeof errstr);
        assert_non_null(app);
        assert_int_equal(brook_app_start(app, errstr, sizeof errstr), BROOK_OK);
        c = (struct closer){.vit = vit, .out = out, .want = ADMITTED, .rk = rk};
        assert_true(kt_wait_until(close_windows, &c, 300, WAIT_MS));
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
        kt_producer_close(rk);

        for (i = 0; i < ADMITTED; i++)
                n += (size_t)snprintf(want + n, sizeof want - n,
                                      i % 2 ? "p%d adm-%d+null\n"
                                            : "p%d adm-%d+vit-%d\n",
                                      i, i, i);
        expect_lines(out, want);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
        free(app_id);
        free(adm);
        free(vit);
        free(out);
}

static brook_builder_t *admissions_inner_join(const char *adm, const char *vit,
                                              const char *out)
{
        brook_builder_t *b = brook_builder_new();
        brook_stream_t *l = brook_stream(b, adm, NULL);
        brook_stream_t *r = brook_stream(b, vit, NULL);
        brook_join_windows_t w = brook_join_windows(100, 0);

        brook_stream_to(brook_stream_join(l, r, plus_joiner, NULL, &w, NULL),
                        out, NULL);
        return b;
}

/* Records "<what>-<i>", key "p<i % keys>", at t0 + (i - first), for i
 * from @p first, @p cnt of them. */
static void produce_range(rd_kafka_t *rk, const char *topic, const char *what,
                          int first, int cnt, int keys, int64_t t0)
{
        for (int i = first; i < first + cnt; i++) {
                char k[16], v[16];
                snprintf(k, sizeof k, "p%d", i % keys);
                int len = snprintf(v, sizeof v, "%s-%d", what, i);
                kt_produce_at(rk, topic, kt_partition_of(k, 4), k, v,
                              (size_t)len, t0 + (i - first), NULL);
        }
        rd_kafka_flush(rk, 5000);
}

/* produce_range() with a key per record. */
static void adm_produce(rd_kafka_t *rk, const char *topic, const char *what,
                        int first, int cnt, int64_t t0)
{
        produce_range(rk, topic, what, first, cnt, INT_MAX, t0);
}

/* A vital sign per partition that joins nothing: its lookup loads the
 * admissions' mirror, which holds what comes after. */
static void warm_vitals(rd_kafka_t *rk, const char *vit)
{
        for (int p = 0; p < 4; p++) {
                char k[32];
                for (int i = 0;; i++) {
                        snprintf(k, sizeof k, "warm-%d", i);
                        if (kt_partition_of(k, 4) == p)
                                break;
                }
                kt_produce_at(rk, vit, p, k, "x", 1, SS_T0 - 10, NULL);
        }
        rd_kafka_flush(rk, 5000);
}

static brook_app_t *held_app(const char *app_id, const char *dir,
                             const char *adm, const char *vit, const char *out)
{
        brook_conf_t *conf = conf_for(app_id);
        char errstr[1024] = "";
        brook_app_t *app;

        assert_int_equal(
                brook_conf_set(conf, "state.dir", dir, errstr, sizeof errstr),
                BROOK_OK);
        app = brook_app_new(admissions_inner_join(adm, vit, out), conf, errstr,
                            sizeof errstr);
        if (!app || brook_app_start(app, errstr, sizeof errstr))
                fail_msg("%s", errstr);
        return app;
}

/* A join buffer holds its recent entries in memory only, with the
 * changelog as their store of record (wmirror.c): admissions processed
 * and committed while held, then a clean stop that keeps the local state,
 * then vital signs for all of them. The restarted app reads the buffer's
 * changelog again from before the held entries (the offset its flush
 * recorded), not from the end, so every admission finds its vital sign. */
static void test_stream_stream_held_replayed(void **state)
{
        char *app_id = kt_unique("ssh"), *adm = kt_unique("ssh-adm"),
             *vit = kt_unique("ssh-vit"), *out = kt_unique("ssh-out");
        char dir[] = "/tmp/brook-ssh-XXXXXX", want[4096];
        brook_app_t *app;
        rd_kafka_t *rk;
        size_t n = 0;
        int i;
        (void)state;

        assert_non_null(mkdtemp(dir));
        kt_create_topic(adm, 4);
        kt_create_topic(vit, 4);
        kt_create_topic(out, 1);
        rk = kt_producer();
        app = held_app(app_id, dir, adm, vit, out);
        warm_vitals(rk, vit);
        assert_int_equal(kt_wait_committed(app_id, vit, 4, 4, WAIT_MS), 4);
        adm_produce(rk, adm, "adm", 0, ADMITTED, SS_T0);
        assert_int_equal(kt_wait_committed(app_id, adm, 4, ADMITTED, WAIT_MS),
                         ADMITTED);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
        assert_int_equal(kt_count(out), 0);

        adm_produce(rk, vit, "vit", 0, ADMITTED, SS_T0 + 50);
        app = held_app(app_id, dir, adm, vit, out);
        assert_int_equal(kt_wait_count(out, ADMITTED, WAIT_MS), ADMITTED);
        assert_int_equal(
                kt_wait_committed(app_id, vit, 4, 4 + ADMITTED, WAIT_MS),
                4 + ADMITTED);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
        kt_producer_close(rk);

        for (i = 0; i < ADMITTED; i++)
                n += (size_t)snprintf(want + n, sizeof want - n,
                                      "p%d adm-%d+vit-%d\n", i, i, i);
        expect_lines(out, want);
        kt_rmtree(dir);
        free(app_id);
        free(adm);
        free(vit);
        free(out);
}

/* A join store whose changelog lost the records it held in memory (past
 * the changelog's retention, here deleted outright) restores from the
 * changelog's start and keeps what its RocksDB holds: admissions written
 * to RocksDB before the store held anything still join; those held in
 * memory at the stop are gone, and the app says so. (A store that
 * recorded an offset outside its changelog is otherwise cleared.) */
static void test_stream_stream_changelog_gone(void **state)
{
        char *app_id = kt_unique("ssg"), *adm = kt_unique("ssg-adm"),
             *vit = kt_unique("ssg-vit"), *out = kt_unique("ssg-out");
        char dir[] = "/tmp/brook-ssg-XXXXXX", want[4096], changelog[512];
        brook_app_t *app;
        rd_kafka_t *rk;
        size_t n = 0;
        int i;
        (void)state;

        assert_non_null(mkdtemp(dir));
        kt_create_topic(adm, 4);
        kt_create_topic(vit, 4);
        kt_create_topic(out, 1);
        rk = kt_producer();
        /* p100..p119 before any vital sign: no lookup has loaded the
         * admissions' mirror yet, so they go to RocksDB. */
        adm_produce(rk, adm, "adm", 100, 20, SS_T0);
        app = held_app(app_id, dir, adm, vit, out);
        assert_int_equal(kt_wait_committed(app_id, adm, 4, 20, WAIT_MS), 20);
        warm_vitals(rk, vit);
        assert_int_equal(kt_wait_committed(app_id, vit, 4, 4, WAIT_MS), 4);
        /* p0..p39, held in memory only. */
        adm_produce(rk, adm, "adm", 0, ADMITTED, SS_T0 + 20);
        assert_int_equal(
                kt_wait_committed(app_id, adm, 4, 20 + ADMITTED, WAIT_MS),
                20 + ADMITTED);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);

        snprintf(changelog, sizeof changelog,
                 "%s-KSTREAM-JOINTHIS-0000000004-store-changelog", app_id);
        assert_int_equal(kt_count(changelog), 20 + ADMITTED);
        kt_delete_records(changelog, 4);
        adm_produce(rk, vit, "vit", 100, 20, SS_T0 + 50);
        adm_produce(rk, vit, "vit", 0, ADMITTED, SS_T0 + 70);
        app = held_app(app_id, dir, adm, vit, out);
        assert_int_equal(
                kt_wait_committed(app_id, vit, 4, 4 + 20 + ADMITTED, WAIT_MS),
                4 + 20 + ADMITTED);
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
        kt_producer_close(rk);

        for (i = 100; i < 120; i++)
                n += (size_t)snprintf(want + n, sizeof want - n,
                                      "p%d adm-%d+vit-%d\n", i, i, i);
        expect_lines(out, want);
        kt_rmtree(dir);
        free(app_id);
        free(adm);
        free(vit);
        free(out);
}

#define KILL_PAIRS 4000
#define KILL_HELD  50
#define KILL_KEYS  200

static pid_t ssj_spawn(const char *app_id, const char *dir, const char *adm,
                       const char *vit, const char *out, int run)
{
        char name[32], other[300], log[600];
        char *argv[] = {SSJ_APP_PATH, name, (char *)kt_bootstrap(),
                        (char *)app_id, (char *)adm, (char *)out, (char *)dir,
                        other, "processing.guarantee=exactly_once_v2",
                        "commit.interval.ms=100",
                        /* A static member: started again, it gets its
                         * partitions back at once, without waiting for
                         * the killed one's session to time out. */
                        "group.instance.id=ssk-0", NULL};

        snprintf(name, sizeof name, "ssj-run%d", run);
        snprintf(other, sizeof other, "ssj.other=%s", vit);
        snprintf(log, sizeof log, "%s/%s-%s", LOG_DIR, app_id, name);
        return kt_spawn(argv, log);
}

/* Admission i and vital sign i (key "p<i % 200>", 5 ms apart); record i of
 * a side is at T0 + i, so a key's next record is 200 ms away, outside the
 * 100 ms window: each admission joins exactly its own vital sign. */
static void ssj_produce(rd_kafka_t *rk, const char *topic, bool adm, int from,
                        int to)
{
        produce_range(rk, topic, adm ? "adm" : "vit", from, to - from,
                      KILL_KEYS, SS_T0 + from + (adm ? 0 : 5));
}

/* The held records of a join buffer survive a SIGKILL, under exactly-once:
 * admissions and vital signs processed and committed, but the vital signs
 * of the last KILL_HELD admissions withheld, so those admissions are held
 * in the join's memory (and its changelog) only; the process is killed,
 * started again with its local state, and gets the rest. Every admission
 * joins its vital sign exactly once. */
static void test_stream_stream_killed(void **state)
{
        char *app_id = kt_unique("ssk"), *adm = kt_unique("ssk-adm"),
             *vit = kt_unique("ssk-vit"), *out = kt_unique("ssk-out");
        char dir[] = "/tmp/brook-ssk-XXXXXX";
        char *want = malloc(KILL_PAIRS * 40);
        const int part1 = KILL_PAIRS / 2;
        rd_kafka_t *rk;
        size_t n = 0;
        pid_t pid;
        (void)state;

        assert_non_null(mkdtemp(dir));
        kt_create_topic(adm, 4);
        kt_create_topic(vit, 4);
        kt_create_topic(out, 1);
        rk = kt_producer();
        ssj_produce(rk, adm, true, 0, part1);
        ssj_produce(rk, vit, false, 0, part1 - KILL_HELD);
        pid = ssj_spawn(app_id, dir, adm, vit, out, 1);
        assert_int_equal(kt_wait_committed(app_id, adm, 4, part1, WAIT_MS),
                         part1);
        assert_int_equal(
                kt_wait_committed(app_id, vit, 4, part1 - KILL_HELD, WAIT_MS),
                part1 - KILL_HELD);
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(kt_wait(pid, 30000), 128 + SIGKILL);

        ssj_produce(rk, vit, false, part1 - KILL_HELD, part1);
        ssj_produce(rk, adm, true, part1, KILL_PAIRS);
        ssj_produce(rk, vit, false, part1, KILL_PAIRS);
        pid = ssj_spawn(app_id, dir, adm, vit, out, 2);
        assert_int_equal(kt_wait_committed(app_id, vit, 4, KILL_PAIRS, WAIT_MS),
                         KILL_PAIRS);
        assert_int_equal(kill(pid, SIGTERM), 0);
        assert_int_equal(kt_wait(pid, 30000), 0);
        kt_producer_close(rk);

        for (int i = 0; i < KILL_PAIRS; i++)
                n += (size_t)snprintf(want + n, KILL_PAIRS * 40 - n,
                                      "p%d adm-%d+vit-%d\n", i % KILL_KEYS, i,
                                      i);
        expect_lines(out, want);
        kt_rmtree(dir);
        free(want);
        free(app_id);
        free(adm);
        free(vit);
        free(out);
}

/* Streams of 4 and 2 partitions cannot be joined: the app does not
 * start, and names both topics. */
static void test_stream_stream_not_copartitioned(void **state)
{
        char *app_id = kt_unique("ssj-bad"), *adm = kt_unique("ssj-bad-adm"),
             *vit = kt_unique("ssj-bad-vit");
        char errstr[1024] = "", want[1024];
        brook_app_t *app;
        (void)state;

        kt_create_topic(adm, 4);
        kt_create_topic(vit, 2);
        app = brook_app_new(admissions_join(adm, vit, "unused"),
                            conf_for(app_id), errstr, sizeof errstr);
        assert_non_null(app);
        assert_int_equal(brook_app_start(app, errstr, sizeof errstr),
                         BROOK_ERR_TOPOLOGY);
        snprintf(want, sizeof want, "\"%s\" (4 partitions)", adm);
        if (!strstr(errstr, want))
                fail_msg("got: %s\nwant: %s", errstr, want);
        snprintf(want, sizeof want, "\"%s\" (2 partitions)", vit);
        if (!strstr(errstr, want))
                fail_msg("got: %s\nwant: %s", errstr, want);
        brook_app_destroy(app);
        free(app_id);
        free(adm);
        free(vit);
}

/* ------------------------------------------------- foreign-key join */

#define FK_PATIENTS 200
#define FK_RX       1000

/* "p17|rx-5": "p17" */
static void *patient_of_rx(const brook_record_t *rec, void *opaque)
{
        const char *v = brook_record_value(rec), *bar = strchr(v, '|');
        size_t n = bar ? (size_t)(bar - v) : strlen(v);
        char *k = brook_record_alloc(rec, n + 1);
        (void)opaque;
        memcpy(k, v, n);
        k[n] = '\0';
        return k;
}

/* The final state the test expects, and what the output shows so far. */
struct fk_state {
        const char *out;
        char *want[FK_RX]; /* NULL: deleted (a tombstone last) */
        char *got[FK_RX];
        bool seen[FK_RX];
};

static void fk_collect(const rd_kafka_message_t *rkm, void *opaque)
{
        struct fk_state *st = opaque;
        char key[32];
        int i;

        snprintf(key, sizeof key, "%.*s", (int)rkm->key_len,
                 (const char *)rkm->key);
        if (sscanf(key, "rx%d", &i) != 1 || i < 0 || i >= FK_RX)
                fail_msg("unexpected key %s", key);
        free(st->got[i]);
        st->got[i] = rkm->payload ? strndup(rkm->payload, rkm->len) : NULL;
        st->seen[i] = true;
}

/* Reads the output again: each prescription's last record. */
static void fk_read(struct fk_state *st)
{
        for (int i = 0; i < FK_RX; i++) {
                free(st->got[i]);
                st->got[i] = NULL;
                st->seen[i] = false;
        }
        kt_consume_all(st->out, fk_collect, st);
}

/* Whether every prescription's last output is its expected join. */
static bool fk_settled(void *opaque)
{
        struct fk_state *st = opaque;

        fk_read(st);
        for (int i = 0; i < FK_RX; i++) {
                if (!st->seen[i] && st->want[i])
                        return false;
                if (st->seen[i] &&
                    (!st->want[i] != !st->got[i] ||
                     (st->want[i] && strcmp(st->want[i], st->got[i]))))
                        return false;
        }
        return true;
}

/* Prescriptions (4 partitions, keyed by prescription) left-joined with
 * their patient (2 partitions) by the patient id in the value, then
 * patients move ward or leave and prescriptions change patient or are
 * deleted: every prescription's last output is its join with its
 * patient's final row. The subscription topic takes the patients' 2
 * partitions, the response topic the prescriptions' 4, and responses
 * find their way back to the prescription's partition. */
static void test_fk_join_on_broker(void **state)
{
        char *app_id = kt_unique("fkj"), *rx = kt_unique("fkj-rx"),
             *patients = kt_unique("fkj-patients"), *out = kt_unique("fkj-out");
        char ward[FK_PATIENTS][16], topic[512];
        struct fk_state st = {.out = out};
        brook_builder_t *b = brook_builder_new();
        brook_app_t *app;
        rd_kafka_t *rk;
        int i;
        (void)state;

        kt_create_topic(rx, 4);
        kt_create_topic(patients, 2);
        kt_create_topic(out, 1);
        rk = kt_producer();
        for (i = 0; i < FK_PATIENTS; i++) {
                char k[16];
                snprintf(k, sizeof k, "p%d", i);
                snprintf(ward[i], sizeof ward[i], "ward-%d", i % 7);
                kt_produce_at(rk, patients, kt_partition_of(k, 2), k, ward[i],
                              strlen(ward[i]), 1000 + i, NULL);
        }
        for (i = 0; i < FK_RX; i++) {
                char k[16], v[32];
                snprintf(k, sizeof k, "rx%d", i);
                int n = snprintf(v, sizeof v, "p%d|rx-%d", i % 250, i);
                kt_produce_at(rk, rx, kt_partition_of(k, 4), k, v, (size_t)n,
                              2000 + i, NULL);
        }
        rd_kafka_flush(rk, 10000);
        brook_stream_to(
                brook_table_to_stream(brook_table_fk_left_join(
                        brook_table(b, rx, NULL, NULL),
                        brook_table(b, patients, NULL, NULL), patient_of_rx,
                        NULL, rx_joiner, NULL, NULL, NULL)),
                out, NULL);
        app = start(b, app_id);
        /* While it runs: 50 patients move ward, 30 leave; 100
         * prescriptions change patient, 40 are deleted. */
        for (i = 0; i < 50; i++) {
                char k[16];
                int p = (i * 3) % FK_PATIENTS;
                snprintf(k, sizeof k, "p%d", p);
                snprintf(ward[p], sizeof ward[p], "ward-x%d", i);
                kt_produce_at(rk, patients, kt_partition_of(k, 2), k, ward[p],
                              strlen(ward[p]), 100000 + i, NULL);
        }
        for (i = 0; i < 30; i++) {
                char k[16];
                int p = 100 + i;
                snprintf(k, sizeof k, "p%d", p);
                ward[p][0] = '\0';
                kt_produce_at(rk, patients, kt_partition_of(k, 2), k, NULL, 0,
                              100100 + i, NULL);
        }
        for (i = 0; i < FK_RX; i++) {
                char v[32];
                int p = i % 250;
                snprintf(v, sizeof v, "p%d|rx-%d", p, i);
                st.want[i] = NULL;
                if (i % 10 == 0) {
                        /* changes patient */
                        p = (i / 10) % FK_PATIENTS;
                        snprintf(v, sizeof v, "p%d|rx-%d", p, i);
                } else if (i % 25 == 1) {
                        continue; /* deleted */
                }
                st.want[i] = malloc(64);
                snprintf(st.want[i], 64, "%s@%s", v,
                         p < FK_PATIENTS && ward[p][0] ? ward[p] : "null");
        }
        for (i = 0; i < FK_RX; i++) {
                char k[16], v[32];
                snprintf(k, sizeof k, "rx%d", i);
                if (i % 10 == 0) {
                        int n = snprintf(v, sizeof v, "p%d|rx-%d",
                                         (i / 10) % FK_PATIENTS, i);
                        kt_produce_at(rk, rx, kt_partition_of(k, 4), k, v,
                                      (size_t)n, 100200 + i, NULL);
                } else if (i % 25 == 1) {
                        kt_produce_at(rk, rx, kt_partition_of(k, 4), k, NULL, 0,
                                      100200 + i, NULL);
                }
        }
        kt_producer_close(rk);
        assert_true(kt_wait_until(fk_settled, &st, 500, WAIT_MS));
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
        snprintf(topic, sizeof topic,
                 "%s-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000006-topic",
                 app_id);
        assert_int_equal(kt_wait_partition_count(topic, 2, 30000), 2);
        snprintf(topic, sizeof topic,
                 "%s-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000014-topic",
                 app_id);
        assert_int_equal(kt_wait_partition_count(topic, 4, 30000), 4);
        for (i = 0; i < FK_RX; i++) {
                free(st.want[i]);
                free(st.got[i]);
        }
        free(app_id);
        free(rx);
        free(patients);
        free(out);
}

/* ------------------------------------------------ stream-global joins */

#define G_PHARM 30
#define G_RX    54

/* The outputs, as fk_state's (a NULL want: any or none), and the probes'
 * topic and first index. */
struct g_state {
        struct fk_state l;
        const char *rx;
        int probe_from;
};

/* Whether every prescription with a wanted output has it as its last. */
static bool g_settled(void *opaque)
{
        struct g_state *st = opaque;
        bool ok = true;

        fk_read(&st->l);
        for (int i = 0; i < G_RX; i++)
                if (st->l.want[i] &&
                    (!st->l.got[i] || strcmp(st->l.want[i], st->l.got[i])))
                        ok = false;
        return ok;
}

/* The probes join with what the global thread applies while the app runs:
 * produced again until their last outputs show it. */
static bool g_probed(void *opaque)
{
        struct g_state *st = opaque;
        rd_kafka_t *rk;

        if (g_settled(st))
                return true;
        rk = kt_producer();
        for (int i = st->probe_from; i < st->probe_from + 2; i++) {
                char k[16], v[32];
                snprintf(k, sizeof k, "rx%d", i);
                int n = snprintf(v, sizeof v, "ph%d|rx-%d", i - st->probe_from,
                                 i);
                kt_produce_at(rk, st->rx, kt_partition_of(k, 2), k, v,
                              (size_t)n, 5000 + i, NULL);
        }
        kt_producer_close(rk);
        return false;
}

static void *pharmacy_of(const brook_record_t *rec, void *opaque)
{
        const char *v = brook_record_value(rec);
        const char *bar = strchr(v, '|');
        size_t n = bar ? (size_t)(bar - v) : strlen(v);
        char *k = brook_record_alloc(rec, n + 1);
        (void)opaque;
        memcpy(k, v, n);
        k[n] = '\0';
        return k;
}

static void g_want(struct g_state *st, int i, int ph, const char *name)
{
        free(st->l.want[i]);
        st->l.want[i] = malloc(64);
        snprintf(st->l.want[i], 64, "ph%d|rx-%d@%s", ph, i,
                 name ? name : "null");
}

static brook_app_t *g_start(const char *app_id, const char *rx,
                            const char *pharm, const char *out)
{
        brook_builder_t *b = brook_builder_new();
        brook_materialized_t m = {.name = "pharmacies",
                                  .version = BROOK_MATERIALIZED_VERSION};
        brook_stream_to(brook_stream_left_join_global(
                                brook_stream(b, rx, NULL),
                                brook_global_table(b, pharm, NULL, &m),
                                pharmacy_of, NULL, rx_joiner, NULL, NULL),
                        out, NULL);
        return start(b, app_id);
}

/* The global store answers queries: every key is local. */
static void g_query(brook_app_t *app)
{
        brook_arena_t *arena = brook_arena_new();
        brook_key_metadata_t md;
        brook_kviter_t *it;
        void *v, *k;
        char err[512] = "";
        int n = 0;

        assert_int_equal(brook_app_store_key_metadata(app, "pharmacies", "ph2",
                                                      &md, err, sizeof err),
                         BROOK_OK);
        assert_int_equal(md.partition, -1);
        assert_true(md.local);
        assert_false(md.restoring);
        assert_string_equal(md.task_id, "global");
        if (brook_app_store_get(app, "pharmacies", "ph2", arena, &v, err,
                                sizeof err))
                fail_msg("get: %s", err);
        assert_string_equal(v, "late-2");
        assert_int_equal(brook_app_store_get(app, "pharmacies", "ph1", arena,
                                             &v, err, sizeof err),
                         BROOK_ERR_NOT_FOUND);
        if (brook_app_store_all(app, "pharmacies", arena, &it, err, sizeof err))
                fail_msg("all: %s", err);
        while (brook_kviter_next(it, &k, &v, err, sizeof err) == BROOK_OK)
                n++;
        brook_kviter_destroy(it);
        /* ph0..ph29 but ph1, deleted. */
        assert_int_equal(n, G_PHARM - 1);
        brook_arena_destroy(arena);
}

/* Prescriptions (2 partitions) left-joined with a global table of
 * pharmacies (3 partitions: not co-partitioned, and need not be) by the
 * pharmacy id in the value. The app starts only once the global store
 * holds every pharmacy (records restored: all of them, the null key
 * dropped); updates and deletes while it runs reach the joins; after a
 * restart only what came while it was down is read again, and is there
 * before the first record is processed. */
static void test_global_join_on_broker(void **state)
{
        char *app_id = kt_unique("gj"), *rx = kt_unique("gj-rx"),
             *pharm = kt_unique("gj-pharm"), *out = kt_unique("gj-out");
        struct g_state st = {.l.out = out, .rx = rx, .probe_from = 50};
        brook_app_stats_t stats;
        brook_app_t *app;
        rd_kafka_t *rk;
        int i;
        (void)state;

        kt_create_topic(rx, 2);
        kt_create_topic(pharm, 3);
        kt_create_topic(out, 1);
        rk = kt_producer();
        for (i = 0; i < G_PHARM; i++) {
                char k[16], v[16];
                snprintf(k, sizeof k, "ph%d", i);
                int n = snprintf(v, sizeof v, "name-%d", i);
                kt_produce_at(rk, pharm, kt_partition_of(k, 3), k, v, (size_t)n,
                              1000 + i, NULL);
        }
        kt_produce_at(rk, pharm, 0, NULL, "no-key", 6, 1100, NULL);
        for (i = 0; i < 50; i++) {
                char k[16], v[32];
                int ph = i % 40;
                snprintf(k, sizeof k, "rx%d", i);
                int n = snprintf(v, sizeof v, "ph%d|rx-%d", ph, i);
                kt_produce_at(rk, rx, kt_partition_of(k, 2), k, v, (size_t)n,
                              2000 + i, NULL);
                if (ph < G_PHARM) {
                        char name[16];
                        snprintf(name, sizeof name, "name-%d", ph);
                        g_want(&st, i, ph, name);
                } else {
                        g_want(&st, i, ph, NULL);
                }
        }
        kt_producer_close(rk);

        app = g_start(app_id, rx, pharm, out);
        brook_app_stats(app, &stats);
        assert_int_equal(stats.records_restored, G_PHARM + 1);
        assert_int_equal(brook_app_records_dropped(app, BROOK_DROP_NULL_KEY),
                         1);
        assert_true(kt_wait_until(g_settled, &st, 500, WAIT_MS));

        /* While it runs: ph0 moves, ph1 closes. */
        rk = kt_producer();
        kt_produce_at(rk, pharm, kt_partition_of("ph0", 3), "ph0", "moved-0", 7,
                      3000, NULL);
        kt_produce_at(rk, pharm, kt_partition_of("ph1", 3), "ph1", NULL, 0,
                      3001, NULL);
        kt_producer_close(rk);
        g_want(&st, 50, 0, "moved-0");
        g_want(&st, 51, 1, NULL);
        assert_true(kt_wait_until(g_probed, &st, 500, WAIT_MS));
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);

        /* While it is down: ph2 and ph3 change. */
        rk = kt_producer();
        kt_produce_at(rk, pharm, kt_partition_of("ph2", 3), "ph2", "late-2", 6,
                      4000, NULL);
        kt_produce_at(rk, pharm, kt_partition_of("ph3", 3), "ph3", "late-3", 6,
                      4001, NULL);
        kt_producer_close(rk);
        app = g_start(app_id, rx, pharm, out);
        brook_app_stats(app, &stats);
        assert_int_equal(stats.records_restored, 2);
        g_query(app);
        rk = kt_producer();
        for (i = 52; i < 54; i++) {
                char k[16], v[32];
                snprintf(k, sizeof k, "rx%d", i);
                int n = snprintf(v, sizeof v, "ph%d|rx-%d", i - 50, i);
                kt_produce_at(rk, rx, kt_partition_of(k, 2), k, v, (size_t)n,
                              6000 + i, NULL);
        }
        kt_producer_close(rk);
        g_want(&st, 52, 2, "late-2");
        g_want(&st, 53, 3, "late-3");
        assert_true(kt_wait_until(g_settled, &st, 500, WAIT_MS));
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
        for (i = 0; i < FK_RX; i++) {
                free(st.l.want[i]);
                free(st.l.got[i]);
        }
        free(app_id);
        free(rx);
        free(pharm);
        free(out);
}

/* A global table of @p topic alone (store "st"), joined by nothing: an
 * app of that, started; NULL and the error in @p err if it failed. */
static brook_app_t *g_only_with(const char *app_id, const char *topic,
                                const brook_serde_t *value_serde,
                                const brook_restore_listener_t *l, char *err,
                                size_t err_size)
{
        brook_builder_t *b = brook_builder_new();
        brook_materialized_t m = {.name = "st",
                                  .version = BROOK_MATERIALIZED_VERSION};
        brook_consumed_t c = {.value_serde = value_serde};
        brook_app_t *app;
        char *rx = kt_unique("g-rx");

        kt_create_topic(rx, 1);
        brook_stream_to(brook_stream_left_join_global(
                                brook_stream(b, rx, NULL),
                                brook_global_table(b, topic, &c, &m),
                                pharmacy_of, NULL, rx_joiner, NULL, NULL),
                        rx, NULL);
        free(rx);
        app = brook_app_new(b, conf_for(app_id), err, err_size);
        if (!app)
                fail_msg("brook_app_new: %s", err);
        if (l && brook_app_set_restore_listener(app, l, err, err_size))
                fail_msg("listener: %s", err);
        if (brook_app_start(app, err, err_size)) {
                brook_app_destroy(app);
                return NULL;
        }
        return app;
}

static brook_app_t *g_only(const char *app_id, const char *topic,
                           const brook_serde_t *value_serde, char *err,
                           size_t err_size)
{
        return g_only_with(app_id, topic, value_serde, NULL, err, err_size);
}

/* What a restore listener heard of a global store's partitions. */
struct g_heard {
        int starts, ends, local;
        int64_t records, first[3], last[3];
};

static void g_on_start(const brook_restore_info_t *ri, void *opaque)
{
        struct g_heard *h = opaque;
        assert_string_equal(ri->task_id, "global");
        assert_string_equal(ri->store, "st");
        assert_in_range(ri->partition, 0, 2);
        h->starts++;
        h->local += ri->local_state;
        h->first[ri->partition] = ri->start_offset;
        h->last[ri->partition] = ri->end_offset;
}

static void g_on_end(const brook_restore_info_t *ri, int64_t records,
                     void *opaque)
{
        struct g_heard *h = opaque;
        (void)ri;
        h->ends++;
        h->records += records;
}

static int64_t g_restored(brook_app_t *app)
{
        brook_app_stats_t stats;
        brook_app_stats(app, &stats);
        return stats.records_restored;
}

static void g_stop(brook_app_t *app)
{
        assert_int_equal(brook_app_close(app, -1), BROOK_OK);
        brook_app_destroy(app);
}

/* A partition with no records gets an offset too: a restart reads
 * nothing again (it used to make every start read the whole topic). */
static void test_global_empty_partition(void **state)
{
        char *app_id = kt_unique("ge"), *topic = kt_unique("ge-t");
        char err[1024] = "";
        struct g_heard h = {0};
        brook_restore_listener_t l = {.on_start = g_on_start,
                                      .on_end = g_on_end,
                                      .opaque = &h,
                                      .version =
                                              BROOK_RESTORE_LISTENER_VERSION};
        brook_app_t *app;
        rd_kafka_t *rk;
        (void)state;

        kt_create_topic(topic, 3);
        rk = kt_producer();
        kt_produce_at(rk, topic, 0, "a", "1", 1, 1000, NULL);
        kt_produce_at(rk, topic, 1, "b", "2", 1, 1001, NULL);
        kt_producer_close(rk);
        app = g_only_with(app_id, topic, NULL, &l, err, sizeof err);
        assert_non_null(app);
        assert_int_equal(g_restored(app), 2);
        /* Each partition told of: from its start to its end, no local
         * state yet. */
        assert_int_equal(h.starts, 3);
        assert_int_equal(h.ends, 3);
        assert_int_equal(h.local, 0);
        assert_int_equal(h.records, 2);
        assert_int_equal(h.last[0], 1);
        assert_int_equal(h.last[1], 1);
        assert_int_equal(h.last[2], 0);
        g_stop(app);
        memset(&h, 0, sizeof h);
        app = g_only_with(app_id, topic, NULL, &l, err, sizeof err);
        assert_non_null(app);
        assert_int_equal(g_restored(app), 0);
        /* Local state for all three, the empty one included, each read
         * from where it stopped: nothing. */
        assert_int_equal(h.starts, 3);
        assert_int_equal(h.local, 3);
        assert_int_equal(h.records, 0);
        assert_int_equal(h.first[0], 1);
        assert_int_equal(h.first[2], 0);
        g_stop(app);
        free(app_id);
        free(topic);
}

/* A record the global table cannot take (it does not decode; the handler
 * fails) stops the start, and the next start meets it again: its offset
 * is never stored. */
static void test_global_bad_record_kept(void **state)
{
        char *app_id = kt_unique("gb"), *topic = kt_unique("gb-t");
        char err[1024] = "";
        brook_app_t *app;
        rd_kafka_t *rk;
        (void)state;

        kt_create_topic(topic, 1);
        rk = kt_producer();
        kt_produce_at(rk, topic, 0, "a", "\"x\"", 3, 1000, NULL);
        kt_produce_at(rk, topic, 0, "b", "{bad", 4, 1001, NULL);
        kt_produce_at(rk, topic, 0, "c", "\"z\"", 3, 1002, NULL);
        kt_producer_close(rk);
        for (int i = 0; i < 2; i++) {
                err[0] = '\0';
                app = g_only(app_id, topic, brook_serde_json(), err,
                             sizeof err);
                assert_null(app);
                if (!strstr(err, "offset 1"))
                        fail_msg("start %d: %s", i, err);
        }
        free(app_id);
        free(topic);
}

/* The same store pointed at another topic reads that topic whole, and
 * holds nothing of the first. */
static void test_global_topic_changed(void **state)
{
        char *app_id = kt_unique("gt"), *a = kt_unique("gt-a"),
             *b = kt_unique("gt-b");
        char err[1024] = "";
        brook_arena_t *arena = brook_arena_new();
        brook_app_t *app;
        rd_kafka_t *rk;
        void *v;
        int i;
        (void)state;

        kt_create_topic(a, 1);
        kt_create_topic(b, 1);
        rk = kt_producer();
        for (i = 0; i < 5; i++)
                kt_produce_at(rk, a, 0, i ? "x" : "only-a", "A", 1, 1000 + i,
                              NULL);
        for (i = 0; i < 10; i++)
                kt_produce_at(rk, b, 0, "y", "B", 1, 2000 + i, NULL);
        kt_producer_close(rk);
        app = g_only(app_id, a, NULL, err, sizeof err);
        assert_non_null(app);
        assert_int_equal(g_restored(app), 5);
        g_stop(app);
        app = g_only(app_id, b, NULL, err, sizeof err);
        assert_non_null(app);
        assert_int_equal(g_restored(app), 10);
        assert_int_equal(brook_app_store_get(app, "st", "only-a", arena, &v,
                                             err, sizeof err),
                         BROOK_ERR_NOT_FOUND);
        assert_int_equal(
                brook_app_store_get(app, "st", "y", arena, &v, err, sizeof err),
                BROOK_OK);
        assert_string_equal(v, "B");
        g_stop(app);
        brook_arena_destroy(arena);
        free(app_id);
        free(a);
        free(b);
}

/* A topic written to all the time: the start reads up to where the topic
 * ended when it began, and returns (it used to wait for a moment with
 * nothing new on every partition). */
struct g_busy {
        const char *topic;
        atomic_bool stop;
        int64_t sent;
};

static void *g_busy_produce(void *arg)
{
        struct g_busy *gb = arg;
        rd_kafka_t *rk = kt_producer();
        while (!atomic_load(&gb->stop)) {
                char k[32];
                snprintf(k, sizeof k, "k%" PRId64, gb->sent % 1000);
                kt_produce_at(rk, gb->topic, (int32_t)(gb->sent % 2), k, "v", 1,
                              1000 + gb->sent, NULL);
                if (++gb->sent % 500 == 0)
                        rd_kafka_poll(rk, 0);
        }
        kt_producer_close(rk);
        return NULL;
}

static void test_global_busy_topic(void **state)
{
        char *app_id = kt_unique("gy"), *topic = kt_unique("gy-t");
        struct g_busy gb = {.topic = topic};
        char err[1024] = "";
        brook_app_t *app;
        pthread_t tid;
        (void)state;

        kt_create_topic(topic, 2);
        atomic_init(&gb.stop, false);
        assert_int_equal(pthread_create(&tid, NULL, g_busy_produce, &gb), 0);
        while (kt_count(topic) < 20000)
                kt_sleep_ms(100);
        app = g_only(app_id, topic, NULL, err, sizeof err);
        atomic_store(&gb.stop, true);
        pthread_join(tid, NULL);
        if (!app)
                fail_msg("start: %s", err);
        assert_true(g_restored(app) >= 20000);
        g_stop(app);
        free(app_id);
        free(topic);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_join_copartitioned),
                cmocka_unit_test(test_join_repartitioned),
                cmocka_unit_test(test_join_not_copartitioned),
                cmocka_unit_test(test_copartition_groups),
                cmocka_unit_test(test_stream_stream_restored),
                cmocka_unit_test(test_stream_stream_held_replayed),
                cmocka_unit_test(test_stream_stream_killed),
                cmocka_unit_test(test_stream_stream_changelog_gone),
                cmocka_unit_test(test_stream_stream_not_copartitioned),
                cmocka_unit_test(test_fk_join_on_broker),
                cmocka_unit_test(test_global_join_on_broker),
                cmocka_unit_test(test_global_empty_partition),
                cmocka_unit_test(test_global_bad_record_kept),
                cmocka_unit_test(test_global_topic_changed),
                cmocka_unit_test(test_global_busy_topic),
        };
        kt_test_filter();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
