/*
 * The brook side of the parity test (docs/parity.md), and its input
 * generator.
 *
 *   brook_parity gen SEED_FIRST SEED_COUNT SCENARIO...
 *       writes, for each scenario, cache setting (0, then 1, where the
 *       scenario allows it) and seed, one case of generated inputs to
 *       stdout;
 *   brook_parity run
 *       reads cases from stdin and writes each case's outputs through
 *       brook's test driver to stdout, in the format of
 *       tests/parity/src/main/java/brook/parity/Parity.java (Kafka Streams'
 *       side, which reads the same cases);
 *   brook_parity list
 *       prints the scenario names.
 *
 * A case is
 *
 *   case <scenario> <cache> <seed>
 *   <topic> <key> <value> <timestamp>     one line per record
 *   end
 *
 * and its output the same with the topology's describe(), one
 * "describe <line>" each, then the output records, each input's followed
 * by "after <n>" (the input's number, from 1). "~" is a null key or value.
 *
 * A scenario is one entry of scenarios[]: its input and output value types,
 * whether the cache-on run is compared, and the function that builds its
 * topology (which mirrors the Java side's).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brook/brook.h"

#define IN   "in"
#define OUT  "out"
#define TBL  "tbl"
#define GLB  "glb"
#define GLB2 "glb2"

/* The topics a scenario reads besides "in" (scenario_t.inputs). */
enum {
        IN_TBL = 1,    /**< "tbl": a table, or the other stream of a join */
        IN_GLB = 2,    /**< "glb": a global table keyed as "in" */
        IN_GLB_VK = 4, /**< "glb" keyed k0..k9: joined by a key that the
                        *   stream's values name ("c7": "k7") */
        IN_GLB2 = 8,   /**< "glb2", keyed k0..k9 (as IN_GLB_VK) */
        IN_GLOBALS = IN_GLB | IN_GLB_VK | IN_GLB2,
};

/* ------------------------------------------------------- user functions */

static void *sum(const brook_record_t *rec, void *agg, void *opaque)
{
        (void)opaque;
        return brook_int64_new(brook_record_arena(rec),
                               *(int64_t *)agg +
                                       *(int64_t *)brook_record_value(rec));
}

static void *empty_string(const brook_record_t *rec, void *opaque)
{
        (void)rec;
        (void)opaque;
        return "";
}

static void *concat(const brook_record_t *rec, void *agg, void *opaque)
{
        const char *a = agg, *v = brook_record_value(rec);
        size_t al = strlen(a), vl = strlen(v);
        char *s = brook_record_alloc(rec, al + vl + 1);

        (void)opaque;
        memcpy(s, a, al);
        memcpy(s + al, v, vl + 1);
        return s;
}

/* The value's first character (NULL for a null value). */
static void *first_char(const brook_record_t *rec, void *opaque)
{
        const char *v = brook_record_value(rec);
        char *k;

        (void)opaque;
        if (!v)
                return NULL;
        k = brook_record_alloc(rec, 2);
        k[0] = v[0];
        k[1] = 0;
        return k;
}

/* Java's remainder (sign of the dividend), as the Java side's v % n. */
static int64_t rem(const brook_record_t *rec, int64_t n)
{
        return *(int64_t *)brook_record_value(rec) % n;
}

static bool odd(const brook_record_t *rec, void *opaque)
{
        (void)opaque;
        return rem(rec, 2) == 1;
}

static bool div3(const brook_record_t *rec, void *opaque)
{
        (void)opaque;
        return rem(rec, 3) == 0;
}

static bool div4(const brook_record_t *rec, void *opaque)
{
        (void)opaque;
        return rem(rec, 4) == 0;
}

static bool len_div4(const brook_record_t *rec, void *opaque)
{
        (void)opaque;
        return strlen(brook_record_value(rec)) % 4 == 0;
}

/* A joined value starting with a, b or c (not "null+"). */
static bool first_abc(const brook_record_t *rec, void *opaque)
{
        const char *v = brook_record_value(rec);
        (void)opaque;
        return v[0] >= 'a' && v[0] <= 'c';
}

/* "left+right" ("null" for no table row), as the Java side's joiners. */
static void *plus_joiner(const brook_record_t *rec, void *left, void *right,
                         void *opaque)
{
        const char *l = left ? left : "null", *r = right ? right : "null";
        size_t n = strlen(l) + strlen(r) + 2;
        char *s = brook_record_alloc(rec, n);

        (void)opaque;
        snprintf(s, n, "%s+%s", l, r);
        return s;
}

/* "k" and the value's number ("c7": "k7"), a key of the generated key
 * space; NULL for a null value, and for number 0 (a null key with a value,
 * which a left join still joins). */
static void *digit_key(const brook_record_t *rec, void *opaque)
{
        const char *v = brook_record_value(rec);
        size_t n;
        char *k;

        (void)opaque;
        if (!v || !strcmp(v + 1, "0"))
                return NULL;
        n = strlen(v);
        k = brook_record_alloc(rec, n + 1);
        k[0] = 'k';
        memcpy(k + 1, v + 1, n);
        return k;
}

/* The record's own key: a global table joined by the stream's key. */
static void *record_key(const brook_record_t *rec, void *opaque)
{
        (void)opaque;
        return brook_record_key(rec);
}

/* A new stream key: the value's letter, NULL for a null value and for
 * letter e. */
static void *letter_key(const brook_record_t *rec, void *opaque)
{
        const char *v = brook_record_value(rec);

        if (v && v[0] == 'e')
                return NULL;
        return first_char(rec, opaque);
}

/* "k" and the value's last digit ("c7+b3": "k3"), NULL for 0: a key that
 * a joined value names. */
static void *last_digit_key(const brook_record_t *rec, void *opaque)
{
        const char *v = brook_record_value(rec);
        size_t n = strlen(v);
        char *k;

        (void)opaque;
        if (v[n - 1] == '0')
                return NULL;
        k = brook_record_alloc(rec, 3);
        k[0] = 'k';
        k[1] = v[n - 1];
        k[2] = '\0';
        return k;
}

static void *plus1(const brook_record_t *rec, void *opaque)
{
        (void)opaque;
        return brook_int64_new(brook_record_arena(rec),
                               *(int64_t *)brook_record_value(rec) + 1);
}

static bool even(const brook_record_t *rec, void *opaque)
{
        (void)opaque;
        return rem(rec, 2) == 0;
}

static bool not_div3(const brook_record_t *rec, void *opaque)
{
        (void)opaque;
        return rem(rec, 3) != 0;
}

static bool div20(const brook_record_t *rec, void *opaque)
{
        (void)opaque;
        return rem(rec, 20) == 0;
}

static void *times(const brook_record_t *rec, void *opaque)
{
        return brook_int64_new(brook_record_arena(rec),
                               *(int64_t *)brook_record_value(rec) *
                                       (int64_t)(intptr_t)opaque);
}

/* Windowed: a sum that skips null values (Java: v == null ? a : a + v). */
static void *sum_nullable(const brook_record_t *rec, void *agg, void *opaque)
{
        const int64_t *v = brook_record_value(rec);
        (void)opaque;
        if (!v)
                return agg;
        return brook_int64_new(brook_record_arena(rec), *(int64_t *)agg + *v);
}

/* Windowed aggregations see null values: "_" for them (Java: agg + (v ==
 * null ? "_" : v)). */
static void *concat_nullable(const brook_record_t *rec, void *agg, void *opaque)
{
        const char *a = agg, *v = brook_record_value(rec);
        size_t al = strlen(a), vl;
        char *s;

        (void)opaque;
        if (!v)
                v = "_";
        vl = strlen(v);
        s = brook_record_alloc(rec, al + vl + 1);
        memcpy(s, a, al);
        memcpy(s + al, v, vl + 1);
        return s;
}

/* Java: (k, a, b) -> a + "|" + b. */
static void *merge_bar(const brook_record_t *rec, void *a, void *b,
                       void *opaque)
{
        size_t al = strlen(a), bl = strlen(b);
        char *s = brook_record_alloc(rec, al + bl + 2);
        (void)opaque;
        memcpy(s, a, al);
        s[al] = '|';
        memcpy(s + al + 1, b, bl + 1);
        return s;
}

/* ------------------------------------------------------------ scenarios */

/* Each builder makes its nodes in the order of the Java side's: describe()
 * is compared, and its generated names are numbered in that order. C does
 * not say in which order a call's arguments are evaluated (gcc goes right
 * to left), so the nodes a call joins are made beforehand, one statement
 * each. */

#define S brook_serde_string()
#define L brook_serde_int64()

/* Consumed and produced with String keys and String or Long values. */
#define C_SS (&(brook_consumed_t){.key_serde = S, .value_serde = S})
#define C_SL (&(brook_consumed_t){.key_serde = S, .value_serde = L})
#define P_SL (&(brook_produced_t){.key_serde = S, .value_serde = L})
#define P_SS (&(brook_produced_t){.key_serde = S, .value_serde = S})

static brook_materialized_t as(const char *name, const brook_serde_t *vs)
{
        brook_materialized_t m = {
                .name = name, .key_serde = S, .value_serde = vs};
        return m;
}

static void build_count(brook_builder_t *b)
{
        brook_stream_to(brook_table_to_stream(brook_grouped_count(
                                brook_stream_group_by_key(
                                        brook_stream(b, IN, C_SS), NULL),
                                NULL)),
                        OUT, P_SL);
}

static void build_reduce_sum(brook_builder_t *b)
{
        brook_stream_to(brook_table_to_stream(brook_grouped_reduce(
                                brook_stream_group_by_key(
                                        brook_stream(b, IN, C_SL), NULL),
                                sum, NULL, NULL)),
                        OUT, P_SL);
}

static void build_aggregate_concat(brook_builder_t *b)
{
        brook_materialized_t m = as(NULL, S);

        brook_stream_to(brook_table_to_stream(brook_grouped_aggregate(
                                brook_stream_group_by_key(
                                        brook_stream(b, IN, C_SS), NULL),
                                empty_string, concat, NULL, &m)),
                        OUT, P_SS);
}

static void build_groupby_count(brook_builder_t *b)
{
        brook_grouping_t g = {.key_serde = S, .value_serde = S};

        brook_stream_to(brook_table_to_stream(brook_grouped_count(
                                brook_stream_group_by(brook_stream(b, IN, C_SS),
                                                      first_char, NULL, &g),
                                NULL)),
                        OUT, P_SL);
}

static void build_count_filter(brook_builder_t *b)
{
        brook_stream_to(
                brook_table_to_stream(brook_table_filter(
                        brook_grouped_count(
                                brook_stream_group_by_key(
                                        brook_stream(b, IN, C_SS), NULL),
                                NULL),
                        odd, NULL, NULL)),
                OUT, P_SL);
}

static brook_grouped_t *grouped(brook_builder_t *b,
                                const brook_consumed_t *consumed)
{
        return brook_stream_group_by_key(brook_stream(b, IN, consumed), NULL);
}

static void build_count_filter_even(brook_builder_t *b)
{
        brook_stream_to(brook_table_to_stream(brook_table_filter(
                                brook_grouped_count(grouped(b, C_SS), NULL),
                                even, NULL, NULL)),
                        OUT, P_SL);
}

static void build_reduce_filter(brook_builder_t *b)
{
        brook_materialized_t m = as("sum", L);

        brook_stream_to(
                brook_table_to_stream(brook_table_filter_not(
                        brook_grouped_reduce(grouped(b, C_SL), sum, NULL, &m),
                        div3, NULL, NULL)),
                OUT, P_SL);
}

static void build_aggregate_filter(brook_builder_t *b)
{
        brook_materialized_t m = as(NULL, S);

        brook_stream_to(
                brook_table_to_stream(brook_table_filter(
                        brook_grouped_aggregate(grouped(b, C_SS), empty_string,
                                                concat, NULL, &m),
                        len_div4, NULL, NULL)),
                OUT, P_SS);
}

static void build_table_filter_mat_filter(brook_builder_t *b)
{
        brook_materialized_t f1 = as("f1", L);
        brook_table_t *t = brook_table(b, IN, C_SL, NULL);

        t = brook_table_filter(t, even, NULL, &f1);
        brook_stream_to(
                brook_table_to_stream(brook_table_filter(t, div4, NULL, NULL)),
                OUT, P_SL);
}

static void build_table_mapvalues_mat(brook_builder_t *b)
{
        brook_materialized_t src = as("src", L), mv = as("mv", L);
        brook_table_t *t = brook_table(b, IN, C_SL, &src);

        t = brook_table_map_values(t, plus1, NULL, &mv);
        brook_stream_to(
                brook_table_to_stream(brook_table_filter(t, even, NULL, NULL)),
                OUT, P_SL);
}

static void build_table_filter(brook_builder_t *b)
{
        brook_stream_to(
                brook_table_to_stream(brook_table_filter(
                        brook_table(b, IN, C_SL, NULL), even, NULL, NULL)),
                OUT, P_SL);
}

static void build_table_filter_mat(brook_builder_t *b)
{
        brook_materialized_t src = as("src", L);

        brook_stream_to(
                brook_table_to_stream(brook_table_filter(
                        brook_table(b, IN, C_SL, &src), even, NULL, NULL)),
                OUT, P_SL);
}

static void build_table_map_filter(brook_builder_t *b)
{
        brook_table_t *t = brook_table(b, IN, C_SL, NULL);

        t = brook_table_map_values(t, times, (void *)(intptr_t)3, NULL);
        brook_stream_to(brook_table_to_stream(
                                brook_table_filter_not(t, even, NULL, NULL)),
                        OUT, P_SL);
}

static void build_table_chain_mat(brook_builder_t *b)
{
        brook_materialized_t src = as("src", L), flt = as("flt", L);
        brook_table_t *t = brook_table(b, IN, C_SL, &src);

        t = brook_table_filter(t, not_div3, NULL, &flt);
        t = brook_table_map_values(t, times, (void *)(intptr_t)10, NULL);
        brook_stream_to(brook_table_to_stream(
                                brook_table_filter_not(t, div20, NULL, NULL)),
                        OUT, P_SL);
}

/* ------------------------------------------------- windowed scenarios */

/* The windows of each windowed scenario (the Java side has the same):
 * small, so that the generated timestamps hit every boundary. */
#define W_SIZE  10
#define W_ADV   3
#define W_GRACE 5
#define W_GAP   5

static brook_windowed_stream_t *
wstream(brook_builder_t *b, const brook_consumed_t *c, brook_windows_t w)
{
        return brook_grouped_windowed_by(
                brook_stream_group_by_key(brook_stream(b, IN, c), NULL), &w);
}

/* The windowed key serde of the case being run, destroyed with it. */
static brook_serde_t *case_wserde;

/* The output: windowed keys as Kafka Streams' bytes. */
static void wto(brook_builder_t *b, brook_table_t *t, bool session,
                int64_t size, const brook_serde_t *vs)
{
        const brook_serde_t *ks = case_wserde =
                session ? brook_serde_session_windowed(S, NULL, 0)
                        : brook_serde_time_windowed(S, size, NULL, 0);
        brook_stream_to(
                brook_table_to_stream(t), OUT,
                &(brook_produced_t){.key_serde = ks, .value_serde = vs});
}

static void build_w_tumbling_count(brook_builder_t *b)
{
        brook_windows_t w = brook_windows_tumbling(W_SIZE, W_GRACE);
        wto(b, brook_windowed_count(wstream(b, C_SS, w), NULL), false, W_SIZE,
            L);
}

static void build_w_hopping_count(brook_builder_t *b)
{
        brook_windows_t w = brook_windows_hopping(W_SIZE, W_ADV, W_GRACE);
        wto(b, brook_windowed_count(wstream(b, C_SS, w), NULL), false, W_SIZE,
            L);
}

static void build_w_hopping_reduce(brook_builder_t *b)
{
        brook_windows_t w = brook_windows_hopping(W_SIZE, W_ADV, W_GRACE);
        wto(b,
            brook_windowed_reduce(wstream(b, C_SL, w), sum_nullable, NULL,
                                  NULL),
            false, W_SIZE, L);
}

static void build_w_tumbling_aggregate(brook_builder_t *b)
{
        brook_windows_t w = brook_windows_tumbling(W_SIZE, W_GRACE);
        brook_materialized_t m = {.value_serde = S};
        wto(b,
            brook_windowed_aggregate(wstream(b, C_SS, w), empty_string,
                                     concat_nullable, NULL, NULL, &m),
            false, W_SIZE, S);
}

static void build_w_sliding_count(brook_builder_t *b)
{
        brook_windows_t w = brook_windows_sliding(W_SIZE, W_GRACE);
        wto(b, brook_windowed_count(wstream(b, C_SS, w), NULL), false, W_SIZE,
            L);
}

static void build_w_sliding_aggregate(brook_builder_t *b)
{
        brook_windows_t w = brook_windows_sliding(W_SIZE, W_GRACE);
        brook_materialized_t m = {.value_serde = S};
        wto(b,
            brook_windowed_aggregate(wstream(b, C_SS, w), empty_string,
                                     concat_nullable, NULL, NULL, &m),
            false, W_SIZE, S);
}

static void build_w_session_count(brook_builder_t *b)
{
        brook_windows_t w = brook_windows_session(W_GAP, W_GRACE);
        wto(b, brook_windowed_count(wstream(b, C_SS, w), NULL), true, 0, L);
}

static void build_w_session_aggregate(brook_builder_t *b)
{
        brook_windows_t w = brook_windows_session(W_GAP, W_GRACE);
        brook_materialized_t m = {.value_serde = S};
        wto(b,
            brook_windowed_aggregate(wstream(b, C_SS, w), empty_string,
                                     concat_nullable, merge_bar, NULL, &m),
            true, 0, S);
}

static void build_w_tumbling_suppress(brook_builder_t *b)
{
        brook_windows_t w = brook_windows_tumbling(W_SIZE, W_GRACE);
        brook_suppressed_t sup = {.kind = BROOK_SUPPRESS_UNTIL_WINDOW_CLOSES};
        wto(b,
            brook_table_suppress(
                    brook_windowed_count(wstream(b, C_SS, w), NULL), &sup),
            false, W_SIZE, L);
}

static void build_w_session_suppress(brook_builder_t *b)
{
        brook_windows_t w = brook_windows_session(W_GAP, W_GRACE);
        brook_suppressed_t sup = {.kind = BROOK_SUPPRESS_UNTIL_WINDOW_CLOSES};
        wto(b,
            brook_table_suppress(
                    brook_windowed_count(wstream(b, C_SS, w), NULL), &sup),
            true, 0, L);
}

static void build_w_hopping_close(brook_builder_t *b)
{
        brook_windows_t w = brook_windows_hopping(W_SIZE, W_ADV, W_GRACE);
        wto(b,
            brook_windowed_count(
                    brook_windowed_emit_strategy(wstream(b, C_SS, w),
                                                 BROOK_EMIT_ON_WINDOW_CLOSE),
                    NULL),
            false, W_SIZE, L);
}

static void build_w_tumbling_close(brook_builder_t *b)
{
        brook_windows_t w = brook_windows_tumbling(W_SIZE, W_GRACE);
        wto(b,
            brook_windowed_count(
                    brook_windowed_emit_strategy(wstream(b, C_SS, w),
                                                 BROOK_EMIT_ON_WINDOW_CLOSE),
                    NULL),
            false, W_SIZE, L);
}

static void build_w_sliding_close(brook_builder_t *b)
{
        brook_windows_t w = brook_windows_sliding(W_SIZE, W_GRACE);
        wto(b,
            brook_windowed_count(
                    brook_windowed_emit_strategy(wstream(b, C_SS, w),
                                                 BROOK_EMIT_ON_WINDOW_CLOSE),
                    NULL),
            false, W_SIZE, L);
}

static void build_w_session_close(brook_builder_t *b)
{
        brook_windows_t w = brook_windows_session(W_GAP, W_GRACE);
        wto(b,
            brook_windowed_count(
                    brook_windowed_emit_strategy(wstream(b, C_SS, w),
                                                 BROOK_EMIT_ON_WINDOW_CLOSE),
                    NULL),
            true, 0, L);
}

/* Stream-table joins: "in" (the stream) with the table of "tbl". */
static void build_st_join(brook_builder_t *b)
{
        brook_stream_t *s = brook_stream(b, IN, C_SS);
        brook_table_t *t = brook_table(b, TBL, C_SS, NULL);

        brook_stream_to(brook_stream_join_table(s, t, plus_joiner, NULL, NULL),
                        OUT, P_SS);
}

static void build_st_left_join(brook_builder_t *b)
{
        brook_stream_t *s = brook_stream(b, IN, C_SS);
        brook_table_t *t = brook_table(b, TBL, C_SS, NULL);

        brook_stream_to(
                brook_stream_left_join_table(s, t, plus_joiner, NULL, NULL),
                OUT, P_SS);
}

/* The table's store named: it caches when the cache is on. */
static void build_st_left_join_mat(brook_builder_t *b)
{
        brook_materialized_t m = as("tbl-store", S);
        brook_stream_t *s = brook_stream(b, IN, C_SS);
        brook_table_t *t = brook_table(b, TBL, C_SS, &m);

        brook_stream_to(
                brook_stream_left_join_table(s, t, plus_joiner, NULL, NULL),
                OUT, P_SS);
}

/* Re-keyed first: the join reads the stream through a repartition topic,
 * with the serdes the join gives it. */
static void build_st_join_rekey(brook_builder_t *b)
{
        brook_joined_t j = {.key_serde = S,
                            .value_serde = S,
                            .version = BROOK_JOINED_VERSION};
        brook_stream_t *s = brook_stream_select_key(brook_stream(b, IN, C_SS),
                                                    digit_key, NULL);
        brook_table_t *t = brook_table(b, TBL, C_SS, NULL);

        brook_stream_to(
                brook_stream_left_join_table(s, t, plus_joiner, NULL, &j), OUT,
                P_SS);
}

/* Stream-global joins: "in" with the global table of "glb" (and
 * "glb2"), whose records both drivers apply as they are piped. */
static void build_sg_join(brook_builder_t *b)
{
        brook_stream_t *s = brook_stream(b, IN, C_SS);
        brook_global_table_t *g = brook_global_table(b, GLB, C_SS, NULL);

        brook_stream_to(brook_stream_join_global(s, g, record_key, NULL,
                                                 plus_joiner, NULL, NULL),
                        OUT, P_SS);
}

/* By the stream's key, which may be null: the left join still joins. */
static void build_sg_left_join(brook_builder_t *b)
{
        brook_stream_t *s = brook_stream(b, IN, C_SS);
        brook_global_table_t *g = brook_global_table(b, GLB, C_SS, NULL);

        brook_stream_to(brook_stream_left_join_global(s, g, record_key, NULL,
                                                      plus_joiner, NULL, NULL),
                        OUT, P_SS);
}

/* Re-keyed by the value's letter (null keys too), then joined by the key
 * the value names (none for 0): no repartition. */
static void build_sg_left_join_rekey(brook_builder_t *b)
{
        brook_stream_t *s = brook_stream_select_key(brook_stream(b, IN, C_SS),
                                                    letter_key, NULL);
        brook_global_table_t *g = brook_global_table(b, GLB, C_SS, NULL);

        brook_stream_to(brook_stream_left_join_global(s, g, digit_key, NULL,
                                                      plus_joiner, NULL, NULL),
                        OUT, P_SS);
}

/* The same, inner, and the join named. */
static void build_sg_join_rekey_named(brook_builder_t *b)
{
        brook_stream_t *s = brook_stream_select_key(brook_stream(b, IN, C_SS),
                                                    letter_key, NULL);
        brook_global_table_t *g = brook_global_table(b, GLB, C_SS, NULL);

        brook_stream_to(brook_stream_join_global(s, g, digit_key, NULL,
                                                 plus_joiner, NULL, "gj"),
                        OUT, P_SS);
}

/* A table's lookup and two global tables' in one sub-topology; the global
 * tables made before and after the others (describe() numbers them among
 * them), the second one's store named. */
static void build_sg_table_global2(brook_builder_t *b)
{
        brook_materialized_t m = as("glb2-store", S);
        brook_global_table_t *g1 = brook_global_table(b, GLB, C_SS, NULL);
        brook_stream_t *s = brook_stream(b, IN, C_SS);
        brook_table_t *t = brook_table(b, TBL, C_SS, NULL);
        brook_global_table_t *g2 = brook_global_table(b, GLB2, C_SS, &m);

        s = brook_stream_join_table(s, t, plus_joiner, NULL, NULL);
        s = brook_stream_join_global(s, g1, record_key, NULL, plus_joiner, NULL,
                                     NULL);
        s = brook_stream_left_join_global(s, g2, last_digit_key, NULL,
                                          plus_joiner, NULL, "g2-join");
        brook_stream_to(s, OUT, P_SS);
}

/* Re-keyed, joined, then counted: the key change goes through the join,
 * so the count reads a repartition topic. */
static void build_sg_rekey_left_join_count(brook_builder_t *b)
{
        brook_grouping_t g = {.key_serde = S, .value_serde = S};
        brook_stream_t *s = brook_stream_select_key(brook_stream(b, IN, C_SS),
                                                    letter_key, NULL);
        brook_global_table_t *gt = brook_global_table(b, GLB, C_SS, NULL);

        s = brook_stream_left_join_global(s, gt, digit_key, NULL, plus_joiner,
                                          NULL, NULL);
        brook_stream_to(brook_table_to_stream(brook_grouped_count(
                                brook_stream_group_by_key(s, &g), NULL)),
                        OUT, P_SL);
}

/* Stream-stream joins: "in" with the stream of "tbl", records at most
 * W_SIZE apart, W_GRACE of grace (Kafka Streams' JoinWindows
 * .ofTimeDifferenceAndGrace(10 ms, 5 ms)). */
static brook_stream_t *ss_join(brook_builder_t *b, int kind,
                               const brook_join_windows_t *w,
                               const brook_stream_joined_t *sj)
{
        brook_stream_t *l = brook_stream(b, IN, C_SS);
        brook_stream_t *r = brook_stream(b, TBL, C_SS);

        return kind == 0 ? brook_stream_join(l, r, plus_joiner, NULL, w, sj)
               : kind == 1
                       ? brook_stream_left_join(l, r, plus_joiner, NULL, w, sj)
                       : brook_stream_outer_join(l, r, plus_joiner, NULL, w,
                                                 sj);
}

static void build_ss_join(brook_builder_t *b)
{
        brook_join_windows_t w = brook_join_windows(W_SIZE, W_GRACE);
        brook_stream_to(ss_join(b, 0, &w, NULL), OUT, P_SS);
}

static void build_ss_left_join(brook_builder_t *b)
{
        brook_join_windows_t w = brook_join_windows(W_SIZE, W_GRACE);
        brook_stream_to(ss_join(b, 1, &w, NULL), OUT, P_SS);
}

static void build_ss_outer_join(brook_builder_t *b)
{
        brook_join_windows_t w = brook_join_windows(W_SIZE, W_GRACE);
        brook_stream_to(ss_join(b, 2, &w, NULL), OUT, P_SS);
}

/* Asymmetric (before 3, after 12), no grace, named stores in memory. */
static void build_ss_outer_asym(brook_builder_t *b)
{
        brook_join_windows_t w = brook_join_windows(W_SIZE, 0);
        brook_stream_joined_t sj = {.name = "ssj",
                                    .store_name = "ssj-store",
                                    .supplier = brook_kvstore_in_memory(),
                                    .version = BROOK_STREAM_JOINED_VERSION};
        w.before_ms = 3;
        w.after_ms = 12;
        brook_stream_to(ss_join(b, 2, &w, &sj), OUT, P_SS);
}

/* Both sides re-keyed (null keys for number 0): read back through
 * repartition topics. */
static void build_ss_left_join_rekey(brook_builder_t *b)
{
        brook_join_windows_t w = brook_join_windows(W_SIZE, W_GRACE);
        brook_stream_joined_t sj = {.key_serde = S,
                                    .value_serde = S,
                                    .other_value_serde = S,
                                    .version = BROOK_STREAM_JOINED_VERSION};
        brook_stream_t *l = brook_stream_select_key(brook_stream(b, IN, C_SS),
                                                    digit_key, NULL);
        brook_stream_t *r = brook_stream_select_key(brook_stream(b, TBL, C_SS),
                                                    digit_key, NULL);

        brook_stream_to(
                brook_stream_left_join(l, r, plus_joiner, NULL, &w, &sj), OUT,
                P_SS);
}

/* A stream joined with itself. */
static void build_ss_self_join(brook_builder_t *b)
{
        brook_join_windows_t w = brook_join_windows(W_SIZE, W_GRACE);
        brook_stream_t *s = brook_stream(b, IN, C_SS);

        brook_stream_to(brook_stream_join(s, s, plus_joiner, NULL, &w, NULL),
                        OUT, P_SS);
}

/* Table-table joins: the table of "in" with the table of "tbl". */
static brook_table_t *tt_join(brook_builder_t *b, int kind, const char *name,
                              const brook_materialized_t *m)
{
        brook_table_t *l = brook_table(b, IN, C_SS, NULL);
        brook_table_t *r = brook_table(b, TBL, C_SS, NULL);

        return kind == 0 ? brook_table_join(l, r, plus_joiner, NULL, name, m)
               : kind == 1
                       ? brook_table_left_join(l, r, plus_joiner, NULL, name, m)
                       : brook_table_outer_join(l, r, plus_joiner, NULL, name,
                                                m);
}

static void build_tt_join(brook_builder_t *b)
{
        brook_stream_to(brook_table_to_stream(tt_join(b, 0, NULL, NULL)), OUT,
                        P_SS);
}

static void build_tt_left_join(brook_builder_t *b)
{
        brook_stream_to(brook_table_to_stream(tt_join(b, 1, NULL, NULL)), OUT,
                        P_SS);
}

static void build_tt_outer_join(brook_builder_t *b)
{
        brook_stream_to(brook_table_to_stream(tt_join(b, 2, NULL, NULL)), OUT,
                        P_SS);
}

/* Materialized as "tj", then a filter: old values from the result's
 * store. */
static void build_tt_join_mat_filter(brook_builder_t *b)
{
        brook_materialized_t m = as("tj", S);

        brook_stream_to(
                brook_table_to_stream(brook_table_filter(
                        tt_join(b, 0, NULL, &m), first_abc, NULL, NULL)),
                OUT, P_SS);
}

/* Not materialized, then a filter: old values through the join from both
 * tables. */
static void build_tt_left_join_filter(brook_builder_t *b)
{
        brook_stream_to(
                brook_table_to_stream(brook_table_filter(
                        tt_join(b, 1, NULL, NULL), first_abc, NULL, NULL)),
                OUT, P_SS);
}

/* Named, materialized without a store name, then a filter. */
static void build_tt_outer_join_named(brook_builder_t *b)
{
        brook_materialized_t m = {.value_serde = S,
                                  .version = BROOK_MATERIALIZED_VERSION};

        brook_stream_to(
                brook_table_to_stream(brook_table_filter(
                        tt_join(b, 2, "tj", &m), first_abc, NULL, NULL)),
                OUT, P_SS);
}

/* Regrouped tables: rows move between groups as their values change. */

/* (the value's first letter, the value) */
static void by_letter(const brook_record_t *rec, void **keyp, void **valuep,
                      void *opaque)
{
        const char *v = brook_record_value(rec);
        char *k = brook_record_alloc(rec, 2);
        (void)opaque;
        k[0] = v[0];
        k[1] = '\0';
        *keyp = k;
        *valuep = (void *)v;
}

/* (the value's first letter, the row's key) */
static void letter_to_key(const brook_record_t *rec, void **keyp, void **valuep,
                          void *opaque)
{
        by_letter(rec, keyp, valuep, opaque);
        *valuep = brook_record_key(rec);
}

/* ("g" and the number mod 3, the number) */
static void by_mod3(const brook_record_t *rec, void **keyp, void **valuep,
                    void *opaque)
{
        int64_t v = *(const int64_t *)brook_record_value(rec);
        char *k = brook_record_alloc(rec, 4);
        (void)opaque;
        snprintf(k, 4, "g%d", (int)(((v % 3) + 3) % 3));
        *keyp = k;
        *valuep = brook_record_value(rec);
}

static void *sum_long(const brook_record_t *rec, void *agg, void *opaque)
{
        (void)opaque;
        return brook_int64_new(brook_record_arena(rec),
                               *(int64_t *)agg +
                                       *(int64_t *)brook_record_value(rec));
}

static void *minus_long(const brook_record_t *rec, void *agg, void *opaque)
{
        (void)opaque;
        return brook_int64_new(brook_record_arena(rec),
                               *(int64_t *)agg -
                                       *(int64_t *)brook_record_value(rec));
}

static void *log_op(const brook_record_t *rec, void *agg, const char *op)
{
        const char *a = agg, *v = brook_record_value(rec);
        size_t n = strlen(a) + strlen(v) + 2;
        char *s = brook_record_alloc(rec, n);
        snprintf(s, n, "%s%s%s", a, op, v);
        return s;
}

static void *log_add(const brook_record_t *rec, void *agg, void *opaque)
{
        (void)opaque;
        return log_op(rec, agg, "+");
}

static void *log_sub(const brook_record_t *rec, void *agg, void *opaque)
{
        (void)opaque;
        return log_op(rec, agg, "-");
}

#define G_SS                                                                   \
        (&(brook_grouping_t){.key_serde = S,                                   \
                             .value_serde = S,                                 \
                             .version = BROOK_GROUPING_VERSION})
#define G_SL                                                                   \
        (&(brook_grouping_t){.key_serde = S,                                   \
                             .value_serde = L,                                 \
                             .version = BROOK_GROUPING_VERSION})

static void build_gt_count(brook_builder_t *b)
{
        brook_stream_to(
                brook_table_to_stream(brook_grouped_table_count(
                        brook_table_group_by(brook_table(b, IN, C_SS, NULL),
                                             by_letter, NULL, G_SS),
                        NULL)),
                OUT, P_SL);
}

static void build_gt_reduce(brook_builder_t *b)
{
        brook_stream_to(
                brook_table_to_stream(brook_grouped_table_reduce(
                        brook_table_group_by(brook_table(b, IN, C_SL, NULL),
                                             by_mod3, NULL, G_SL),
                        sum_long, minus_long, NULL, NULL)),
                OUT, P_SL);
}

static void build_gt_aggregate(brook_builder_t *b)
{
        brook_materialized_t m = {.value_serde = S,
                                  .version = BROOK_MATERIALIZED_VERSION};

        brook_stream_to(
                brook_table_to_stream(brook_grouped_table_aggregate(
                        brook_table_group_by(brook_table(b, IN, C_SS, NULL),
                                             letter_to_key, NULL, G_SS),
                        empty_string, log_add, log_sub, NULL, &m)),
                OUT, P_SS);
}

/* A named grouping, a named store, then a filter: old values from the
 * aggregation. */
static void build_gt_count_named_filter(brook_builder_t *b)
{
        brook_grouping_t g = *G_SS;
        brook_materialized_t m = as("cnt", L);

        g.name = "grp";
        brook_stream_to(brook_table_to_stream(brook_table_filter(
                                brook_grouped_table_count(
                                        brook_table_group_by(
                                                brook_table(b, IN, C_SS, NULL),
                                                by_letter, NULL, &g),
                                        &m),
                                even, NULL, NULL)),
                        OUT, P_SL);
}

/* Foreign-key joins: each row of the table of "in" names a row of the
 * table of "tbl" by its value's number ("c7": "k7"; none for 0). */
static void build_fk_join(brook_builder_t *b)
{
        brook_table_t *l = brook_table(b, IN, C_SS, NULL);
        brook_table_t *r = brook_table(b, TBL, C_SS, NULL);

        brook_stream_to(
                brook_table_to_stream(brook_table_fk_join(
                        l, r, digit_key, NULL, plus_joiner, NULL, NULL, NULL)),
                OUT, P_SS);
}

static void build_fk_left_join(brook_builder_t *b)
{
        brook_table_t *l = brook_table(b, IN, C_SS, NULL);
        brook_table_t *r = brook_table(b, TBL, C_SS, NULL);

        brook_stream_to(
                brook_table_to_stream(brook_table_fk_left_join(
                        l, r, digit_key, NULL, plus_joiner, NULL, NULL, NULL)),
                OUT, P_SS);
}

/* Named, the result in store "fk-store", then a filter: old values from
 * it. */
static void build_fk_left_join_named_filter(brook_builder_t *b)
{
        brook_materialized_t m = as("fk-store", S);
        brook_table_t *l = brook_table(b, IN, C_SS, NULL);
        brook_table_t *r = brook_table(b, TBL, C_SS, NULL);

        brook_stream_to(
                brook_table_to_stream(brook_table_filter(
                        brook_table_fk_left_join(l, r, digit_key, NULL,
                                                 plus_joiner, NULL, "fkj", &m),
                        first_abc, NULL, NULL)),
                OUT, P_SS);
}

/* Versioned tables (KIP-914): stores that keep each key's history for a
 * retention (ms) short enough that the generator's out-of-order records
 * (up to a second back) land inside it, past it, and in older segments
 * (segment 0: Kafka Streams' default, 2 s for these retentions). */
static brook_materialized_t vas(const char *name, int64_t retention,
                                int64_t segment,
                                const brook_kvstore_supplier_t *sup)
{
        brook_materialized_t m = {.name = name,
                                  .key_serde = S,
                                  .value_serde = S,
                                  .supplier = sup,
                                  .versioned = true,
                                  .history_retention_ms = retention,
                                  .segment_interval_ms = segment,
                                  .version = BROOK_MATERIALIZED_VERSION};
        return m;
}

/* A stream joined with a versioned table: each record finds the row as
 * of its own timestamp. */
static void build_vst_join(brook_builder_t *b)
{
        brook_materialized_t m = vas("tbl-v", 300, 0, NULL);
        brook_stream_t *s = brook_stream(b, IN, C_SS);
        brook_table_t *t = brook_table(b, TBL, C_SS, &m);

        brook_stream_to(brook_stream_join_table(s, t, plus_joiner, NULL, NULL),
                        OUT, P_SS);
}

static void build_vst_left_join(brook_builder_t *b)
{
        brook_materialized_t m = vas("tbl-v", 500, 100, NULL);
        brook_stream_t *s = brook_stream(b, IN, C_SS);
        brook_table_t *t = brook_table(b, TBL, C_SS, &m);

        brook_stream_to(
                brook_stream_left_join_table(s, t, plus_joiner, NULL, NULL),
                OUT, P_SS);
}

/* The same over brook's in-memory bytes store (Kafka Streams has only
 * RocksDB's versioned store). */
static void build_vst_left_join_mem(brook_builder_t *b)
{
        brook_materialized_t m =
                vas("tbl-v", 200, 50, brook_kvstore_in_memory());
        brook_stream_t *s = brook_stream(b, IN, C_SS);
        brook_table_t *t = brook_table(b, TBL, C_SS, &m);

        brook_stream_to(
                brook_stream_left_join_table(s, t, plus_joiner, NULL, NULL),
                OUT, P_SS);
}

/* Table-table joins over versioned tables: out-of-order updates of a
 * versioned side are dropped. */
static void build_vtt_join(brook_builder_t *b)
{
        brook_materialized_t m = vas("in-v", 300, 100, NULL);
        brook_table_t *l = brook_table(b, IN, C_SS, &m);
        brook_table_t *r = brook_table(b, TBL, C_SS, NULL);

        brook_stream_to(brook_table_to_stream(brook_table_join(
                                l, r, plus_joiner, NULL, NULL, NULL)),
                        OUT, P_SS);
}

static void build_vtt_outer_join(brook_builder_t *b)
{
        brook_materialized_t l = vas("in-v", 300, 100, NULL);
        brook_materialized_t r = vas("tbl-v", 500, 0, NULL);
        brook_table_t *lt = brook_table(b, IN, C_SS, &l);
        brook_table_t *rt = brook_table(b, TBL, C_SS, &r);

        brook_stream_to(brook_table_to_stream(brook_table_outer_join(
                                lt, rt, plus_joiner, NULL, NULL, NULL)),
                        OUT, P_SS);
}

/* A left join's old values (a filter below) from a versioned table. */
static void build_vtt_left_join_filter(brook_builder_t *b)
{
        brook_materialized_t m = vas("in-v", 300, 100, NULL);
        brook_table_t *l = brook_table(b, IN, C_SS, &m);
        brook_table_t *r = brook_table(b, TBL, C_SS, NULL);

        brook_stream_to(brook_table_to_stream(brook_table_filter(
                                brook_table_left_join(l, r, plus_joiner, NULL,
                                                      NULL, NULL),
                                first_abc, NULL, NULL)),
                        OUT, P_SS);
}

/* A versioned table regrouped: out-of-order updates change no group. */
static void build_vgt_count(brook_builder_t *b)
{
        brook_materialized_t m = vas("in-v", 300, 100, NULL);

        brook_stream_to(
                brook_table_to_stream(brook_grouped_table_count(
                        brook_table_group_by(brook_table(b, IN, C_SS, &m),
                                             by_letter, NULL, G_SS),
                        NULL)),
                OUT, P_SL);
}

static void build_vgt_aggregate(brook_builder_t *b)
{
        brook_materialized_t m = vas("in-v", 500, 0, NULL);
        brook_materialized_t a = {.value_serde = S,
                                  .version = BROOK_MATERIALIZED_VERSION};

        brook_stream_to(
                brook_table_to_stream(brook_grouped_table_aggregate(
                        brook_table_group_by(brook_table(b, IN, C_SS, &m),
                                             letter_to_key, NULL, G_SS),
                        empty_string, log_add, log_sub, NULL, &a)),
                OUT, P_SS);
}

/* A foreign-key join of two versioned tables. */
static void build_vfk_left_join(brook_builder_t *b)
{
        brook_materialized_t l = vas("in-v", 300, 100, NULL);
        brook_materialized_t r = vas("tbl-v", 500, 0, NULL);
        brook_table_t *lt = brook_table(b, IN, C_SS, &l);
        brook_table_t *rt = brook_table(b, TBL, C_SS, &r);

        brook_stream_to(brook_table_to_stream(brook_table_fk_left_join(
                                lt, rt, digit_key, NULL, plus_joiner, NULL,
                                NULL, NULL)),
                        OUT, P_SS);
}

/* A versioned table's updates, out-of-order ones too, through a filter
 * (with Kafka Streams' versioned semantics: an update that neither was
 * nor is in the result still goes downstream). */
static void build_vtable_filter(brook_builder_t *b)
{
        brook_materialized_t m = vas("in-v", 300, 100, NULL);

        brook_stream_to(
                brook_table_to_stream(brook_table_filter(
                        brook_table(b, IN, C_SS, &m), first_abc, NULL, NULL)),
                OUT, P_SS);
}

/* A filter materialized in a versioned store of its own, over a plain
 * table, joined as of each stream record's time. */
static void build_vst_left_join_filtered(brook_builder_t *b)
{
        brook_materialized_t m = vas("f-v", 300, 100, NULL);
        brook_stream_t *s = brook_stream(b, IN, C_SS);
        brook_table_t *t = brook_table_filter(brook_table(b, TBL, C_SS, NULL),
                                              first_abc, NULL, &m);

        brook_stream_to(
                brook_stream_left_join_table(s, t, plus_joiner, NULL, NULL),
                OUT, P_SS);
}

/* A versioned table's map_values, materialized in a versioned store too,
 * then filtered. */
static void build_vtable_map_vmat_filter(brook_builder_t *b)
{
        brook_materialized_t m = vas("in-v", 300, 100, NULL);
        brook_materialized_t mv = vas("mv-v", 200, 0, NULL);

        brook_stream_to(
                brook_table_to_stream(brook_table_filter(
                        brook_table_map_values(brook_table(b, IN, C_SS, &m),
                                               first_char, NULL, &mv),
                        first_abc, NULL, NULL)),
                OUT, P_SS);
}

/* A versioned table's filter materialized in a plain store (which takes
 * every update as the latest, out-of-order ones too), then joined with a
 * table: nothing below it is versioned. */
static void build_vtable_filter_mat_join(brook_builder_t *b)
{
        brook_materialized_t m = vas("in-v", 300, 100, NULL);
        brook_materialized_t f = as("f1", S);
        brook_table_t *l = brook_table_filter(brook_table(b, IN, C_SS, &m),
                                              first_abc, NULL, &f);
        brook_table_t *r = brook_table(b, TBL, C_SS, NULL);

        brook_stream_to(brook_table_to_stream(brook_table_join(
                                l, r, plus_joiner, NULL, NULL, NULL)),
                        OUT, P_SS);
}

typedef enum { V_STRING, V_LONG } vtype_t;

/* Output keys: plain, time-windowed (key, start), session-windowed (key,
 * end, start). */
typedef enum { K_PLAIN, K_TIME, K_SESSION } ktype_t;

typedef struct scenario {
        const char *name;
        vtype_t in, out;
        /** Whether the cache-on run is compared too (Kafka Streams' output
         *  is deterministic with the cache on: its TopologyTestDriver
         *  commits, and so flushes the caches, after every record). */
        bool cache_on;
        void (*build)(brook_builder_t *b);
        /** Windowed scenarios: the output keys, and whether the wall clock
         *  moves 1 s before each record (emit on window close checks at
         *  most once per second of it). */
        ktype_t keys;
        bool tick;
        /** The topics besides "in" (IN_TBL, ...). IN_TBL alone: about
         *  40% of the records go to the table's (or other stream's)
         *  topic "tbl", the others to the stream's "in". With global
         *  tables: see gen_topic(). */
        unsigned inputs;
        /** A stream-stream join: timestamps move as for windows, and the
         *  stores are Kafka Streams' RocksDB ones. */
        bool join_windows;
} scenario_t;

static const scenario_t scenarios[] = {
        {"count", V_STRING, V_LONG, true, build_count, K_PLAIN, false, 0,
         false},
        {"reduce_sum", V_LONG, V_LONG, true, build_reduce_sum, K_PLAIN, false,
         0, false},
        {"aggregate_concat", V_STRING, V_STRING, true, build_aggregate_concat,
         K_PLAIN, false, 0, false},
        {"groupby_count", V_STRING, V_LONG, true, build_groupby_count, K_PLAIN,
         false, 0, false},
        {"count_filter", V_STRING, V_LONG, true, build_count_filter, K_PLAIN,
         false, 0, false},
        {"count_filter_even", V_STRING, V_LONG, true, build_count_filter_even,
         K_PLAIN, false, 0, false},
        {"reduce_filter", V_LONG, V_LONG, true, build_reduce_filter, K_PLAIN,
         false, 0, false},
        {"aggregate_filter", V_STRING, V_STRING, true, build_aggregate_filter,
         K_PLAIN, false, 0, false},
        {"table_filter", V_LONG, V_LONG, true, build_table_filter, K_PLAIN,
         false, 0, false},
        {"table_filter_mat", V_LONG, V_LONG, true, build_table_filter_mat,
         K_PLAIN, false, 0, false},
        {"table_map_filter", V_LONG, V_LONG, true, build_table_map_filter,
         K_PLAIN, false, 0, false},
        {"table_filter_mat_filter", V_LONG, V_LONG, true,
         build_table_filter_mat_filter, K_PLAIN, false, 0, false},
        {"table_mapvalues_mat", V_LONG, V_LONG, true, build_table_mapvalues_mat,
         K_PLAIN, false, 0, false},
        {"table_chain_mat", V_LONG, V_LONG, true, build_table_chain_mat,
         K_PLAIN, false, 0, false},
        {"w_tumbling_count", V_STRING, V_LONG, true, build_w_tumbling_count,
         K_TIME, false, 0, false},
        {"w_hopping_count", V_STRING, V_LONG, true, build_w_hopping_count,
         K_TIME, false, 0, false},
        {"w_hopping_reduce", V_LONG, V_LONG, true, build_w_hopping_reduce,
         K_TIME, false, 0, false},
        {"w_tumbling_aggregate", V_STRING, V_STRING, true,
         build_w_tumbling_aggregate, K_TIME, false, 0, false},
        {"w_sliding_count", V_STRING, V_LONG, false, build_w_sliding_count,
         K_TIME, false, 0, false},
        {"w_sliding_aggregate", V_STRING, V_STRING, false,
         build_w_sliding_aggregate, K_TIME, false, 0, false},
        {"w_session_count", V_STRING, V_LONG, false, build_w_session_count,
         K_SESSION, false, 0, false},
        {"w_session_aggregate", V_STRING, V_STRING, false,
         build_w_session_aggregate, K_SESSION, false, 0, false},
        {"w_tumbling_suppress", V_STRING, V_LONG, true,
         build_w_tumbling_suppress, K_TIME, false, 0, false},
        {"w_session_suppress", V_STRING, V_LONG, false,
         build_w_session_suppress, K_SESSION, false, 0, false},
        {"w_hopping_close", V_STRING, V_LONG, false, build_w_hopping_close,
         K_TIME, true, 0, false},
        {"w_tumbling_close", V_STRING, V_LONG, false, build_w_tumbling_close,
         K_TIME, true, 0, false},
        {"w_sliding_close", V_STRING, V_LONG, false, build_w_sliding_close,
         K_TIME, true, 0, false},
        {"w_session_close", V_STRING, V_LONG, false, build_w_session_close,
         K_SESSION, true, 0, false},
        {"st_join", V_STRING, V_STRING, true, build_st_join, K_PLAIN, false,
         IN_TBL, false},
        {"st_left_join", V_STRING, V_STRING, true, build_st_left_join, K_PLAIN,
         false, IN_TBL, false},
        {"st_left_join_mat", V_STRING, V_STRING, true, build_st_left_join_mat,
         K_PLAIN, false, IN_TBL, false},
        {"st_join_rekey", V_STRING, V_STRING, true, build_st_join_rekey,
         K_PLAIN, false, IN_TBL, false},
        {"sg_join", V_STRING, V_STRING, true, build_sg_join, K_PLAIN, false,
         IN_GLB, false},
        {"sg_left_join", V_STRING, V_STRING, true, build_sg_left_join, K_PLAIN,
         false, IN_GLB, false},
        {"sg_left_join_rekey", V_STRING, V_STRING, true,
         build_sg_left_join_rekey, K_PLAIN, false, IN_GLB_VK, false},
        {"sg_join_rekey_named", V_STRING, V_STRING, true,
         build_sg_join_rekey_named, K_PLAIN, false, IN_GLB_VK, false},
        {"sg_table_global2", V_STRING, V_STRING, true, build_sg_table_global2,
         K_PLAIN, false, IN_TBL | IN_GLB | IN_GLB2, false},
        {"sg_rekey_left_join_count", V_STRING, V_LONG, true,
         build_sg_rekey_left_join_count, K_PLAIN, false, IN_GLB_VK, false},
        {"ss_join", V_STRING, V_STRING, true, build_ss_join, K_PLAIN, false,
         IN_TBL, true},
        {"ss_left_join", V_STRING, V_STRING, true, build_ss_left_join, K_PLAIN,
         false, IN_TBL, true},
        {"ss_outer_join", V_STRING, V_STRING, true, build_ss_outer_join,
         K_PLAIN, false, IN_TBL, true},
        {"ss_outer_asym", V_STRING, V_STRING, true, build_ss_outer_asym,
         K_PLAIN, false, IN_TBL, true},
        {"ss_left_join_rekey", V_STRING, V_STRING, true,
         build_ss_left_join_rekey, K_PLAIN, false, IN_TBL, true},
        {"tt_join", V_STRING, V_STRING, true, build_tt_join, K_PLAIN, false,
         IN_TBL, false},
        {"tt_left_join", V_STRING, V_STRING, true, build_tt_left_join, K_PLAIN,
         false, IN_TBL, false},
        {"tt_outer_join", V_STRING, V_STRING, true, build_tt_outer_join,
         K_PLAIN, false, IN_TBL, false},
        {"tt_join_mat_filter", V_STRING, V_STRING, true,
         build_tt_join_mat_filter, K_PLAIN, false, IN_TBL, false},
        {"tt_left_join_filter", V_STRING, V_STRING, true,
         build_tt_left_join_filter, K_PLAIN, false, IN_TBL, false},
        {"tt_outer_join_named", V_STRING, V_STRING, true,
         build_tt_outer_join_named, K_PLAIN, false, IN_TBL, false},
        {"gt_count", V_STRING, V_LONG, true, build_gt_count, K_PLAIN, false, 0,
         false},
        {"gt_reduce", V_LONG, V_LONG, true, build_gt_reduce, K_PLAIN, false, 0,
         false},
        {"gt_aggregate", V_STRING, V_STRING, true, build_gt_aggregate, K_PLAIN,
         false, 0, false},
        {"gt_count_named_filter", V_STRING, V_LONG, true,
         build_gt_count_named_filter, K_PLAIN, false, 0, false},
        {"fk_join", V_STRING, V_STRING, true, build_fk_join, K_PLAIN, false,
         IN_TBL, false},
        {"fk_left_join", V_STRING, V_STRING, true, build_fk_left_join, K_PLAIN,
         false, IN_TBL, false},
        {"fk_left_join_named_filter", V_STRING, V_STRING, true,
         build_fk_left_join_named_filter, K_PLAIN, false, IN_TBL, false},
        {"ss_self_join", V_STRING, V_STRING, true, build_ss_self_join, K_PLAIN,
         false, 0, true},
        {"vst_join", V_STRING, V_STRING, true, build_vst_join, K_PLAIN, false,
         IN_TBL, false},
        {"vst_left_join", V_STRING, V_STRING, true, build_vst_left_join,
         K_PLAIN, false, IN_TBL, false},
        {"vst_left_join_mem", V_STRING, V_STRING, true, build_vst_left_join_mem,
         K_PLAIN, false, IN_TBL, false},
        {"vtt_join", V_STRING, V_STRING, true, build_vtt_join, K_PLAIN, false,
         IN_TBL, false},
        {"vtt_outer_join", V_STRING, V_STRING, true, build_vtt_outer_join,
         K_PLAIN, false, IN_TBL, false},
        {"vtt_left_join_filter", V_STRING, V_STRING, true,
         build_vtt_left_join_filter, K_PLAIN, false, IN_TBL, false},
        {"vgt_count", V_STRING, V_LONG, true, build_vgt_count, K_PLAIN, false,
         0, false},
        {"vgt_aggregate", V_STRING, V_STRING, true, build_vgt_aggregate,
         K_PLAIN, false, 0, false},
        {"vfk_left_join", V_STRING, V_STRING, true, build_vfk_left_join,
         K_PLAIN, false, IN_TBL, false},
        {"vtable_filter", V_STRING, V_STRING, true, build_vtable_filter,
         K_PLAIN, false, 0, false},
        {"vst_left_join_filtered", V_STRING, V_STRING, true,
         build_vst_left_join_filtered, K_PLAIN, false, IN_TBL, false},
        {"vtable_map_vmat_filter", V_STRING, V_STRING, true,
         build_vtable_map_vmat_filter, K_PLAIN, false, 0, false},
        {"vtable_filter_mat_join", V_STRING, V_STRING, true,
         build_vtable_filter_mat_join, K_PLAIN, false, IN_TBL, false},
};

static const scenario_t *scenario_find(const char *name)
{
        for (size_t i = 0; i < sizeof scenarios / sizeof *scenarios; i++)
                if (!strcmp(scenarios[i].name, name))
                        return &scenarios[i];
        return NULL;
}

/* ------------------------------------------------------------ generator */

/* splitmix64: small, and the same sequence everywhere. */
static uint64_t rnd(uint64_t *s)
{
        uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
        return rnd(s) % n;
}

/*
 * The topic of a record of a scenario with global tables: about 35% of the
 * records go to the global tables' topics (split evenly when there are
 * two), 25% to "tbl" if the scenario reads it, the others to "in".
 */
static const char *gen_topic(uint64_t *s, const scenario_t *sc)
{
        uint64_t r = below(s, 100);

        if (r < 35) {
                if (!(sc->inputs & (IN_GLB | IN_GLB_VK)))
                        return GLB2;
                if (!(sc->inputs & IN_GLB2))
                        return GLB;
                return below(s, 2) ? GLB2 : GLB;
        }
        return sc->inputs & IN_TBL && r < 60 ? TBL : IN;
}

/*
 * One case's inputs: 20 to 200 records over a key space of 1 to 200 keys,
 * some null keys and null values, timestamps that mostly move forward
 * with records out of order (up to a second back) and repeated timestamps.
 *
 * A global table's records come in time among the others (both drivers
 * apply them as they are piped, whatever their timestamps), with more
 * null keys (10%, dropped) and tombstones (15%).
 */
static void gen_case(FILE *out, const scenario_t *sc, int cache, uint64_t seed)
{
        static const uint64_t key_spaces[] = {1, 3, 10, 50, 200};
        uint64_t s = seed * 0x2545f4914f6cdd1dull + 1;
        uint64_t n = 20 + below(&s, 181);
        uint64_t keys = key_spaces[below(&s, 5)];
        int64_t ts = (int64_t)below(&s, 1000), t;

        /* Windowed scenarios: time moves a few ms per record (windows of
         * 10 ms, grace 5, gap 5), often back by up to 25 ms, so records
         * land exactly at and just past window end + grace, sessions merge
         * and split, and some records come too late. */
        bool windowed = sc->keys != K_PLAIN || sc->join_windows;

        fprintf(out, "case %s %d %" PRIu64 "\n", sc->name, cache, seed);
        for (uint64_t i = 0; i < n; i++) {
                /* Scenarios without global tables draw their topic last,
                 * as they always have: their cases stay the same. */
                const char *topic =
                        sc->inputs & IN_GLOBALS ? gen_topic(&s, sc) : NULL;
                bool global =
                        topic && (!strcmp(topic, GLB) || !strcmp(topic, GLB2));
                uint64_t r = below(&s, 100);
                char key[32], value[32];

                if (r < (global ? 10 : 5))
                        strcpy(key, "~");
                else
                        snprintf(key, sizeof key, "k%" PRIu64,
                                 below(&s, global && (!strcmp(topic, GLB2) ||
                                                      sc->inputs & IN_GLB_VK)
                                                   ? 10
                                                   : keys));
                r = below(&s, 100);
                if (r < (global ? 15 : 8))
                        strcpy(value, "~");
                else if (sc->in == V_LONG)
                        snprintf(value, sizeof value, "%" PRId64,
                                 (int64_t)below(&s, 100) - 10);
                else
                        snprintf(value, sizeof value, "%c%" PRIu64,
                                 (char)('a' + below(&s, 5)), below(&s, 10));
                r = below(&s, 100);
                if (windowed) {
                        if (r < 25) {
                                t = ts - (int64_t)below(&s, 26);
                                if (t < 0)
                                        t = 0;
                        } else if (r < 35) {
                                t = ts;
                        } else {
                                t = ts += (int64_t)below(&s, 7);
                        }
                } else if (r < 20) { /* out of order */
                        t = ts - (int64_t)below(&s, 1000);
                        if (t < 0)
                                t = 0;
                } else if (r < 30) { /* same as the last */
                        t = ts;
                } else {
                        t = ts += (int64_t)below(&s, 50);
                }
                if (!topic)
                        topic = sc->inputs & IN_TBL && below(&s, 100) < 40 ? TBL
                                                                           : IN;
                fprintf(out, "%s %s %s %" PRId64 "\n", topic, key, value, t);
        }
        fprintf(out, "end\n");
}

/* ---------------------------------------------------------------- runner */

static void die(const char *fmt, const char *arg)
{
        fprintf(stderr, "brook_parity: ");
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n");
        exit(1);
}

static void print_value(FILE *out, vtype_t t, const void *v, size_t size)
{
        if (!v) {
                fputs("~", out);
        } else if (t == V_LONG) {
                const unsigned char *p = v;
                uint64_t u = 0;
                if (size != 8)
                        die("%s", "an int64 output value is not 8 bytes");
                for (int i = 0; i < 8; i++)
                        u = u << 8 | p[i];
                fprintf(out, "%" PRId64, (int64_t)u);
        } else {
                fwrite(v, 1, size, out);
        }
}

static void drain(brook_test_driver_t *td, const scenario_t *sc, FILE *out)
{
        brook_test_record_t r;

        while (brook_test_driver_read(td, OUT, &r)) {
                fputs(OUT " ", out);
                if (!r.key) {
                        fputs("~", out);
                } else if (sc->keys == K_PLAIN) {
                        fwrite(r.key, 1, r.key_size, out);
                } else {
                        /* key@start/end, as the Java side prints them. */
                        size_t sfx = sc->keys == K_SESSION ? 16 : 8;
                        const unsigned char *k = r.key;
                        int64_t a = 0, z = 0;
                        if (r.key_size < sfx)
                                die("%s", "a windowed key is too short");
                        for (size_t i = 0; i < 8; i++)
                                a = (int64_t)((uint64_t)a << 8 |
                                              k[r.key_size - sfx + i]);
                        if (sc->keys == K_SESSION)
                                for (size_t i = 8; i < 16; i++)
                                        z = (int64_t)((uint64_t)z << 8 |
                                                      k[r.key_size - 16 + i]);
                        fwrite(r.key, 1, r.key_size - sfx, out);
                        if (sc->keys == K_SESSION) /* end, then start */
                                fprintf(out, "@%" PRId64 "/%" PRId64, z, a);
                        else
                                fprintf(out, "@%" PRId64 "/%" PRId64, a,
                                        a + W_SIZE);
                }
                fputs(" ", out);
                print_value(out, sc->out, r.value, r.value_size);
                fprintf(out, " %" PRId64 "\n", r.timestamp);
        }
}

/* describe()'s text, each line (the last one empty) as "describe <line>",
 * as the Java side prints Kafka Streams' TopologyDescription. */
static void print_describe(FILE *out, const char *desc)
{
        const char *nl;

        for (; (nl = strchr(desc, '\n')); desc = nl + 1)
                fprintf(out, "describe %.*s\n", (int)(nl - desc), desc);
        fprintf(out, "describe %s\n", desc);
}

/* Runs one case whose header is @p head; reads its records from @p in. */
static void run_case(char *head, FILE *in, FILE *out)
{
        char name[64], line[1024], errstr[512], *desc;
        int cache;
        uint64_t seed;
        const scenario_t *sc;
        brook_builder_t *b;
        brook_conf_t *conf;
        brook_test_driver_t *td;

        if (sscanf(head, "case %63s %d %" SCNu64, name, &cache, &seed) != 3)
                die("bad case line: %s", head);
        if (!(sc = scenario_find(name)))
                die("unknown scenario \"%s\"", name);
        b = brook_builder_new();
        sc->build(b);
        conf = brook_conf_new();
        if (brook_conf_set(conf, "application.id", "parity", errstr,
                           sizeof errstr) ||
            (getenv("BROOK_PARITY_STATE_DIR") &&
             brook_conf_set(conf, "state.dir", getenv("BROOK_PARITY_STATE_DIR"),
                            errstr, sizeof errstr)) ||
            brook_conf_set(conf, "statestore.cache.max.bytes",
                           cache ? "10485760" : "0", errstr, sizeof errstr))
                die("conf: %s", errstr);
        if (!(desc = brook_topology_describe(b, BROOK_DESCRIBE_TEXT)))
                die("describe: %s", brook_builder_error(b));
        td = brook_test_driver_new(b, conf, 0, errstr, sizeof errstr);
        if (!td)
                die("brook_test_driver_new: %s", errstr);
        fprintf(out, "case %s %d %" PRIu64 "\n", name, cache, seed);
        print_describe(out, desc);
        brook_free(desc);
        for (int idx = 1; fgets(line, sizeof line, in); idx++) {
                char topic[64], key[256], value[256];
                long long ts;
                unsigned char vbuf[8];
                const void *v = value;
                size_t vsize;

                if (!strcmp(line, "end\n"))
                        break;
                if (sscanf(line, "%63s %255s %255s %lld", topic, key, value,
                           &ts) != 4)
                        die("bad input line: %s", line);
                vsize = strlen(value);
                if (!strcmp(value, "~")) {
                        v = NULL;
                        vsize = 0;
                } else if (sc->in == V_LONG) {
                        uint64_t u = (uint64_t)strtoll(value, NULL, 10);
                        for (int i = 7; i >= 0; i--, u >>= 8)
                                vbuf[i] = (unsigned char)u;
                        v = vbuf;
                        vsize = 8;
                }
                if (sc->tick && brook_test_driver_advance_wall_clock(
                                        td, 1000, errstr, sizeof errstr))
                        die("wall clock: %s", errstr);
                if (brook_test_driver_pipe(
                            td, topic, strcmp(key, "~") ? key : NULL,
                            strcmp(key, "~") ? strlen(key) : 0, v, vsize, ts,
                            NULL, 0, errstr, sizeof errstr))
                        die("pipe: %s", errstr);
                drain(td, sc, out);
                /* Which input the outputs above came with: their timing is
                 * compared too. */
                fprintf(out, "after %d\n", idx);
        }
        fprintf(out, "end\n");
        brook_test_driver_destroy(td);
        brook_serde_destroy(case_wserde);
        case_wserde = NULL;
}

int main(int argc, char **argv)
{
        char line[1024];

        if (argc >= 2 && !strcmp(argv[1], "list")) {
                for (size_t i = 0; i < sizeof scenarios / sizeof *scenarios;
                     i++)
                        printf("%s\n", scenarios[i].name);
                return 0;
        }
        if (argc >= 5 && !strcmp(argv[1], "gen")) {
                uint64_t first = strtoull(argv[2], NULL, 10);
                uint64_t cnt = strtoull(argv[3], NULL, 10);
                for (int a = 4; a < argc; a++) {
                        const scenario_t *sc = scenario_find(argv[a]);
                        if (!sc)
                                die("unknown scenario \"%s\"", argv[a]);
                        for (int cache = 0; cache <= (sc->cache_on ? 1 : 0);
                             cache++)
                                for (uint64_t i = 0; i < cnt; i++)
                                        gen_case(stdout, sc, cache, first + i);
                }
                return 0;
        }
        if (argc == 2 && !strcmp(argv[1], "run")) {
                while (fgets(line, sizeof line, stdin)) {
                        if (strncmp(line, "case ", 5))
                                die("expected a case line, got: %s", line);
                        run_case(line, stdin, stdout);
                }
                return 0;
        }
        fprintf(stderr, "usage: brook_parity gen SEED_FIRST SEED_COUNT "
                        "SCENARIO...\n"
                        "       brook_parity run   < cases\n"
                        "       brook_parity list\n");
        return 2;
}
