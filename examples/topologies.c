/*
 * Example topologies a newcomer copies from.
 */
#include <string.h>

#include <jansson.h>

#include "topologies.h"

/* ---------------------------------------------------------- vitals-alerts */

/* A heart rate above 120 beats per minute is tachycardia. */
static bool is_tachycardic(const brook_record_t *rec, void *opaque)
{
        json_t *v = brook_record_value(rec);
        json_t *hr = v ? json_object_get(v, "heart_rate") : NULL;
        return json_is_number(hr) && json_number_value(hr) > 120;
}

/* The alert: the reading plus what was found, as a new object (the input
 * stays as it was for any other branch that sees it). */
static void *to_alert(const brook_record_t *rec, void *opaque)
{
        json_t *v = brook_record_value(rec);
        json_t *alert = json_pack(
                "{s:s, s:O?, s:O?, s:I}", "alert", "tachycardia", "patient_id",
                json_object_get(v, "patient_id"), "heart_rate",
                json_object_get(v, "heart_rate"), "reading_ts",
                (json_int_t)brook_record_timestamp(rec));
        return brook_json_own(brook_record_arena(rec), alert);
}

/* vitals (JSON, keyed by patient) -> tachycardia alerts. */
static void build_vitals_alerts(brook_builder_t *b)
{
        brook_stream_t *vitals = brook_stream(
                b, "vitals",
                &(brook_consumed_t){.key_serde = brook_serde_string(),
                                    .value_serde = brook_serde_json()});
        brook_stream_t *fast =
                brook_stream_filter(vitals, is_tachycardic, NULL);
        brook_stream_t *alerts = brook_stream_map_values(fast, to_alert, NULL);
        brook_stream_to(alerts, "vitals-alerts",
                        &(brook_produced_t){.key_serde = brook_serde_string(),
                                            .value_serde = brook_serde_json()});
}

/* --------------------------------------------------------- claims-router */

static bool is_denied(const brook_record_t *rec, void *opaque)
{
        json_t *st = json_object_get(brook_record_value(rec), "status");
        return json_is_string(st) && !strcmp(json_string_value(st), "denied");
}

static bool is_paid(const brook_record_t *rec, void *opaque)
{
        json_t *st = json_object_get(brook_record_value(rec), "status");
        return json_is_string(st) && !strcmp(json_string_value(st), "paid");
}

/* Re-keys claim milestones by member id so a member's claims share a
 * partition downstream. */
static void *member_key(const brook_record_t *rec, void *opaque)
{
        json_t *m = json_object_get(brook_record_value(rec), "member_id");
        return json_is_string(m) ? brook_arena_strdup(brook_record_arena(rec),
                                                      json_string_value(m))
                                 : NULL;
}

/* claims -> split by status; denied claims re-keyed by member through a
 * repartition topic. */
static void build_claims_router(brook_builder_t *b)
{
        const brook_produced_t json_out = {.key_serde = brook_serde_string(),
                                           .value_serde = brook_serde_json()};
        brook_stream_t *claims = brook_stream(
                b, "claims",
                &(brook_consumed_t){.key_serde = brook_serde_string(),
                                    .value_serde = brook_serde_json()});
        brook_split_t *sp = brook_stream_split(claims, "claims-");
        brook_stream_t *denied =
                brook_split_branch(sp, is_denied, NULL, "denied");
        brook_stream_t *paid = brook_split_branch(sp, is_paid, NULL, "paid");
        brook_stream_t *other = brook_split_default(sp, "other");
        brook_stream_t *by_member = brook_stream_repartition(
                brook_stream_select_key(denied, member_key, NULL),
                &(brook_repartitioned_t){.name = "denied-by-member",
                                         .key_serde = brook_serde_string(),
                                         .value_serde = brook_serde_json()});
        brook_stream_to(by_member, "claims-denied", &json_out);
        brook_stream_to(paid, "claims-paid", &json_out);
        brook_stream_to(other, "claims-other", &json_out);
}

static bool at_least_three(const brook_record_t *rec, void *opaque)
{
        const int64_t *n = brook_record_value(rec);
        return *n >= 3;
}

/* claims -> denied ones counted per member (group_by repartitions by
 * member id) -> members with 3 or more denials. The count is a queryable
 * store, "denials-per-member"; a member whose count is corrected below 3
 * would leave the output as a tombstone. */
static void build_denials_per_member(brook_builder_t *b)
{
        brook_stream_t *claims = brook_stream(
                b, "claims",
                &(brook_consumed_t){.key_serde = brook_serde_string(),
                                    .value_serde = brook_serde_json()});
        brook_table_t *counts = brook_grouped_count(
                brook_stream_group_by(
                        brook_stream_filter(claims, is_denied, NULL),
                        member_key, NULL,
                        &(brook_grouping_t){.key_serde = brook_serde_string(),
                                            .value_serde = brook_serde_json()}),
                &(brook_materialized_t){.name = "denials-per-member",
                                        .key_serde = brook_serde_string()});
        brook_stream_to(
                brook_table_to_stream(
                        brook_table_filter(counts, at_least_three, NULL, NULL)),
                "members-flagged",
                &(brook_produced_t){.key_serde = brook_serde_string(),
                                    .value_serde = brook_serde_int64()});
}

const brook_example_t brook_examples[] = {
        {"vitals-alerts",
         "vitals (JSON by patient) -> filter heart_rate > 120 -> alert -> "
         "vitals-alerts",
         build_vitals_alerts},
        {"claims-router",
         "claims (JSON) -> split by status; denied re-keyed by member "
         "through a repartition topic",
         build_claims_router},
        {"denials-per-member",
         "claims (JSON) -> denied ones counted per member (repartitioned) "
         "-> members with 3 or more denials",
         build_denials_per_member},
        {0},
};

const brook_example_t *brook_example_find(const char *name)
{
        const brook_example_t *ex;
        for (ex = brook_examples; ex->name; ex++)
                if (!strcmp(ex->name, name))
                        return ex;
        return NULL;
}
