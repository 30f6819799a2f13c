/*
 * Regrouped tables (operators/table_group.c) through the test driver:
 * patients per ward stay right as patients move ward and leave, exactly as
 * Kafka Streams 4.3's TopologyTestDriver counts them; the repartition
 * topic and nodes named as Kafka Streams names them (its describe(), to
 * the character); Kafka Streams' Change bytes on the repartition topic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "brook/brook.h"
#include "brook_int.h"

/* (ward, patient): a patient row regrouped by its ward. */
static void by_ward(const brook_record_t *rec, void **keyp, void **valuep,
                    void *opaque)
{
        (void)opaque;
        *keyp = brook_record_value(rec);
        *valuep = brook_record_key(rec);
}

static brook_builder_t *per_ward(void)
{
        brook_builder_t *b = brook_builder_new();
        brook_produced_t p = {.value_serde = brook_serde_int64()};

        brook_stream_to(brook_table_to_stream(brook_grouped_table_count(
                                brook_table_group_by(
                                        brook_table(b, "patients", NULL, NULL),
                                        by_ward, NULL, NULL),
                                NULL)),
                        "per-ward", &p);
        return b;
}

static brook_test_driver_t *td_new(brook_builder_t *b, bool cache)
{
        brook_conf_t *conf = brook_conf_new();
        brook_test_driver_t *td;
        char err[512] = "";

        if (brook_conf_set(conf, "application.id", "gt", err, sizeof err) ||
            brook_conf_set(conf, "default.key.serde", "string", err,
                           sizeof err) ||
            brook_conf_set(conf, "default.value.serde", "string", err,
                           sizeof err) ||
            brook_conf_set(conf, "statestore.cache.max.bytes",
                           cache ? "10485760" : "0", err, sizeof err))
                fail_msg("conf: %s", err);
        td = brook_test_driver_new(b, conf, 0, err, sizeof err);
        if (!td)
                fail_msg("brook_test_driver_new: %s", err);
        return td;
}

static void pipe_ok(brook_test_driver_t *td, const char *key, const char *value,
                    int64_t ts)
{
        char err[512] = "";

        if (brook_test_driver_pipe(td, "patients", key, strlen(key), value,
                                   value ? strlen(value) : 0, ts, NULL, 0, err,
                                   sizeof err))
                fail_msg("pipe failed: %s", err);
}

/* Every unread count of "per-ward" as "ward=n@ts;". */
static void expect_counts(brook_test_driver_t *td, const char *want)
{
        brook_test_record_t r;
        char got[1024] = "";
        size_t n = 0;

        while (brook_test_driver_read(td, "per-ward", &r)) {
                const unsigned char *v = r.value;
                uint64_t c = 0;
                assert_int_equal(r.value_size, 8);
                for (int i = 0; i < 8; i++)
                        c = c << 8 | v[i];
                n += (size_t)snprintf(got + n, sizeof got - n,
                                      "%.*s=%lld@%lld;", (int)r.key_size,
                                      (const char *)r.key, (long long)c,
                                      (long long)r.timestamp);
        }
        if (strcmp(got, want))
                fail_msg("per-ward\n got: %s\nwant: %s", got, want);
}

/* p1 moves from ward-a to ward-b (ward-a goes down, ward-b up), an
 * update within a ward changes nothing but sends the count again, p2
 * leaves (ward-a down to 0, kept at 0). Kafka Streams' output with the
 * cache off; with the cache on the same here (the driver commits after
 * every record). */
static void test_patients_per_ward(void **state)
{
        (void)state;
        for (int cache = 0; cache <= 1; cache++) {
                brook_test_driver_t *td = td_new(per_ward(), cache);
                pipe_ok(td, "p1", "ward-a", 1);
                pipe_ok(td, "p2", "ward-a", 2);
                pipe_ok(td, "p3", "ward-b", 3);
                pipe_ok(td, "p1", "ward-b", 4);
                pipe_ok(td, "p1", "ward-b", 5);
                pipe_ok(td, "p2", NULL, 6);
                pipe_ok(td, "p4", "ward-a", 7);
                expect_counts(td, "ward-a=1@1;ward-a=2@2;ward-b=1@3;"
                                  "ward-a=1@4;ward-b=2@4;ward-b=2@5;"
                                  "ward-a=0@6;ward-a=1@7;");
                brook_test_driver_destroy(td);
        }
}

/* Kafka Streams' describe() of the same topology, to the character. */
static void test_describe(void **state)
{
        brook_builder_t *b = per_ward();
        char *desc = brook_topology_describe(b, BROOK_DESCRIBE_TEXT);
        (void)state;

        assert_string_equal(
                desc,
                "Topologies:\n"
                "   Sub-topology: 0\n"
                "    Source: KSTREAM-SOURCE-0000000001 (topics: [patients])\n"
                "      --> KTABLE-SOURCE-0000000002\n"
                "    Processor: KTABLE-SOURCE-0000000002 (stores: "
                "[patients-STATE-STORE-0000000000])\n"
                "      --> KTABLE-SELECT-0000000003\n"
                "      <-- KSTREAM-SOURCE-0000000001\n"
                "    Processor: KTABLE-SELECT-0000000003 (stores: [])\n"
                "      --> KSTREAM-SINK-0000000005\n"
                "      <-- KTABLE-SOURCE-0000000002\n"
                "    Sink: KSTREAM-SINK-0000000005 (topic: "
                "KTABLE-AGGREGATE-STATE-STORE-0000000004-repartition)\n"
                "      <-- KTABLE-SELECT-0000000003\n"
                "\n"
                "  Sub-topology: 1\n"
                "    Source: KSTREAM-SOURCE-0000000006 (topics: "
                "[KTABLE-AGGREGATE-STATE-STORE-0000000004-repartition])\n"
                "      --> KTABLE-AGGREGATE-0000000007\n"
                "    Processor: KTABLE-AGGREGATE-0000000007 (stores: "
                "[KTABLE-AGGREGATE-STATE-STORE-0000000004])\n"
                "      --> KTABLE-TOSTREAM-0000000008\n"
                "      <-- KSTREAM-SOURCE-0000000006\n"
                "    Processor: KTABLE-TOSTREAM-0000000008 (stores: [])\n"
                "      --> KSTREAM-SINK-0000000009\n"
                "      <-- KTABLE-AGGREGATE-0000000007\n"
                "    Sink: KSTREAM-SINK-0000000009 (topic: per-ward)\n"
                "      <-- KTABLE-TOSTREAM-0000000008\n"
                "\n");
        free(desc);
        brook_builder_destroy(b);
}

/* Kafka Streams' ChangedSerializer bytes: old only [old][0], new only
 * [new][1], both [zig-zag varint of new's length][new][old][2]; and back.
 * Bad bytes are refused with a reason. */
static void test_change_bytes(void **state)
{
        brook_serde_t *cs = brook__serde_change(brook_serde_string());
        brook_arena_t *arena = brook_arena_new();
        brook_buf_t *buf = brook_buf_new();
        brook__changed_t c = {.new_value = "ab", .old_value = "xyz"}, *back;
        char err[256];
        (void)state;

        assert_int_equal(brook_serde_serialize(cs, &c, buf, err, sizeof err),
                         BROOK_OK);
        /* length 2, zig-zag 4 */
        assert_int_equal(brook_buf_len(buf), 7);
        assert_memory_equal(brook_buf_data(buf),
                            "\x04"
                            "abxyz\x02",
                            7);
        assert_int_equal(brook_serde_deserialize(cs, brook_buf_data(buf), 7,
                                                 arena, (void **)&back, err,
                                                 sizeof err),
                         BROOK_OK);
        assert_string_equal(back->new_value, "ab");
        assert_string_equal(back->old_value, "xyz");
        brook_buf_clear(buf);
        c.new_value = NULL;
        assert_int_equal(brook_serde_serialize(cs, &c, buf, err, sizeof err),
                         BROOK_OK);
        assert_memory_equal(brook_buf_data(buf), "xyz\x00", 4);
        assert_int_equal(brook_serde_deserialize(cs, "xyz\x00", 4, arena,
                                                 (void **)&back, err,
                                                 sizeof err),
                         BROOK_OK);
        assert_null(back->new_value);
        assert_string_equal(back->old_value, "xyz");
        assert_int_equal(brook_serde_deserialize(cs, "ab\x01", 3, arena,
                                                 (void **)&back, err,
                                                 sizeof err),
                         BROOK_OK);
        assert_string_equal(back->new_value, "ab");
        assert_null(back->old_value);
        assert_int_equal(brook_serde_deserialize(cs, "ab\x07", 3, arena,
                                                 (void **)&back, err,
                                                 sizeof err),
                         BROOK_ERR_SERDE);
        assert_non_null(strstr(err, "does not end in 0, 1 or 2"));
        assert_int_equal(brook_serde_deserialize(cs,
                                                 "\x7f"
                                                 "ab\x02",
                                                 4, arena, (void **)&back, err,
                                                 sizeof err),
                         BROOK_ERR_SERDE);
        assert_non_null(strstr(err, "longer than the update"));
        c.old_value = NULL;
        assert_int_equal(brook_serde_serialize(cs, &c, buf, err, sizeof err),
                         BROOK_ERR_SERDE);
        brook_buf_destroy(buf);
        brook_arena_destroy(arena);
        brook_serde_destroy(cs);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_patients_per_ward),
                cmocka_unit_test(test_describe),
                cmocka_unit_test(test_change_bytes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
