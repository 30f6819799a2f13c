/*
 * brook reset — Kafka Streams' application reset tool (kafka-streams-
 * application-reset, StreamsResetter) for brook applications: moves the
 * application's committed input offsets, deletes its internal topics and,
 * given --state-dir, its local state, so that the next run reprocesses its
 * input. Refuses while the application's consumer group has members.
 */
#ifndef BROOK_TOOLS_RESET_H
#define BROOK_TOOLS_RESET_H

#include <stdbool.h>
#include <stdint.h>

/**
 * Runs `brook reset`; @p argv[0] is "reset".
 * @returns the exit code: 0, 1 on an error (message on stderr), 2 on a
 *          usage error.
 */
int brook_cli_reset(int argc, char **argv);

/* The parsers of the command line's times, apart so that a fuzz target
 * (tests/fuzz/fuzz_reset_args.c) reaches them. */

/**
 * Parses a --to-datetime value into milliseconds since the epoch: Kafka
 * Streams' YYYY-MM-DDTHH:mm:SS.sss with an optional zone (Z, +HH:mm,
 * +HHmm, +HH; none: UTC, as Kafka Streams' Utils.getDateTime()), read by
 * brook_timestamp_parse_iso8601(), which also takes the seconds or the
 * fraction left out. Returns false for anything else, or a day that does
 * not exist.
 */
bool brook__reset_parse_datetime(const char *s, int64_t *ms);

/**
 * Parses an ISO-8601 duration as Java's Duration.parse() does (the
 * --by-duration format): [+-]PnDTnHnMn.nS, each part optional and itself
 * signed, at least one present, a 'T' only before hours, minutes or
 * seconds. Returns false if @p s is not of that form or its value does
 * not fit in int64 milliseconds.
 */
bool brook__reset_parse_duration(const char *s, int64_t *ms);

/**
 * Whether @p topic has the form of a Kafka Streams internal topic
 * (StreamsResetter.matchesInternalTopicFormat()): it ends in -changelog,
 * -repartition, -subscription-registration-topic or
 * -subscription-response-topic, or is an unnamed foreign-key join's
 * .+-KTABLE-FK-JOIN-SUBSCRIPTION-(REGISTRATION|RESPONSE)-<digits>-topic.
 * The tool deletes such topics named "<application.id>-...".
 */
bool brook__reset_internal_format(const char *topic);

#endif
