/*
 * Unit: the parsers of `brook reset` (tools/reset.c) against what Kafka
 * Streams' tool reads: --by-duration as java.time.Duration.parse(),
 * --to-datetime as Utils.getDateTime() (no zone: UTC), and the internal
 * topics it infers as StreamsResetter.matchesInternalTopicFormat().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "reset.h"

static void expect_duration(const char *s, int64_t want)
{
        int64_t ms = 0;
        if (!brook__reset_parse_duration(s, &ms))
                fail_msg("\"%s\" refused", s);
        if (ms != want)
                fail_msg("\"%s\": %lld ms, not %lld", s, (long long)ms,
                         (long long)want);
}

static void test_durations(void **state)
{
        int64_t ms;
        /* Values as Duration.parse(s).toMillis() gives them. */
        expect_duration("PT1H", 3600000);
        expect_duration("P1D", 86400000);
        expect_duration("pt1m", 60000);
        expect_duration("PT30M", 1800000);
        expect_duration("P1DT12H", 129600000);
        expect_duration("-P2DT3H4M5.678S", -183845678);
        expect_duration("PT-0.5S", -500);
        expect_duration("PT-1.5S", -1500);
        expect_duration("-PT-1H", 3600000);
        expect_duration("PT1H-30M", 1800000);
        expect_duration("PT1,5S", 1500);
        expect_duration("PT1.S", 1000);
        expect_duration("+PT0.000999999S", 0);
        expect_duration("PT0S", 0);
        /* Refused, as Duration.parse() refuses them. */
        static const char *const bad[] = {
                "",
                "P",
                "PT",
                "PTS",
                "PT.5S",
                "P-T1H",
                "P1DT",
                "1H",
                "PT1H1H",
                "PT1D",
                "P1H",
                "PT1.0000000001S",
                "PT1M1H",
                "P1DT1",
                "PT9223372036854775807S",
                "P106751991167301D",
        };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
                if (brook__reset_parse_duration(bad[i], &ms))
                        fail_msg("\"%s\" taken (%lld ms)", bad[i],
                                 (long long)ms);
}

static void test_datetimes(void **state)
{
        int64_t ms = 0;
        /* 2026-12-02T14:06:17.123Z is 1796220377123. */
        assert_true(
                brook__reset_parse_datetime("2026-12-02T14:06:17.123", &ms));
        assert_int_equal(ms, 1796220377123LL);
        assert_true(
                brook__reset_parse_datetime("2026-12-02T14:06:17.123Z", &ms));
        assert_int_equal(ms, 1796220377123LL);
        assert_true(brook__reset_parse_datetime("2026-12-02T15:06:17.123+01:00",
                                                &ms));
        assert_int_equal(ms, 1796220377123LL);
        assert_true(brook__reset_parse_datetime("2026-12-02T09:06:17.123-0500",
                                                &ms));
        assert_int_equal(ms, 1796220377123LL);
        assert_false(
                brook__reset_parse_datetime("2026-02-30T00:00:00.000", &ms));
        assert_false(
                brook__reset_parse_datetime("2026-12-02 14:06:17.123", &ms));
        assert_false(brook__reset_parse_datetime("yesterday", &ms));
}

static void test_internal_topics(void **state)
{
        assert_true(brook__reset_internal_format("app-counts-changelog"));
        assert_true(brook__reset_internal_format(
                "app-KSTREAM-KEY-SELECT-0000000002-repartition"));
        assert_true(brook__reset_internal_format(
                "app-fk-subscription-registration-topic"));
        assert_true(brook__reset_internal_format(
                "app-fk-subscription-response-topic"));
        assert_true(brook__reset_internal_format(
                "app-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000007-"
                "topic"));
        assert_true(brook__reset_internal_format(
                "app-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000012-topic"));
        assert_false(brook__reset_internal_format(
                "app-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE--topic"));
        assert_false(brook__reset_internal_format(
                "app-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-12x-topic"));
        assert_false(brook__reset_internal_format(
                "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-12-topic"));
        assert_false(brook__reset_internal_format("app-out"));
        assert_false(brook__reset_internal_format("-changelog"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_durations),
                cmocka_unit_test(test_datetimes),
                cmocka_unit_test(test_internal_topics),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
