/*
 * The chaos test's input and what its outputs must hold (tests/test_chaos.c,
 * tests/apps/chaos_app.c): the records, computed again from their sequence
 * numbers, the reference they imply, and a tally of the outputs read
 * against it.
 *
 * Input record i (0 <= i < events): key "e-<entity>", value
 * "i,e-<entity>,<group>,<event time>", a random entity and its group
 * (entity % CHAOS_GROUPS), event time rising with i over `windows`
 * windows; records events + p (p < CHAOS_PARTS) are one per partition,
 * far ahead in event time, and close every window. Each group's records go
 * to the partition its key's repartition partition is (chaos_ref_init()
 * picks the group keys so): see tests/test_chaos.c, "Input order".
 */
#ifndef BROOK_TESTS_CHAOS_REFERENCE_H
#define BROOK_TESTS_CHAOS_REFERENCE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>

#define CHAOS_PARTS    4
#define CHAOS_GROUPS   64
#define CHAOS_ENTITIES 1000
/** chaos_app's windows (tumbling, no grace). */
#define CHAOS_WINDOW_MS 10000
/** Closing records are this far past the last window's end. */
#define CHAOS_CLOSE_AHEAD_MS (10 * 60 * 1000)

typedef struct chaos_ref {
        int64_t events; /**< Regular input records. */
        int64_t n;      /**< With the CHAOS_PARTS closing records. */
        int64_t base;   /**< Event time of record 0, window-aligned. */
        int windows;    /**< Windows the regular records span. */
        char group_name[CHAOS_GROUPS][24];
        int32_t group_part[CHAOS_GROUPS];
        uint8_t *group;   /**< Per record. */
        uint16_t *entity; /**< Per record. */
        uint32_t *rank;   /**< Per record. */
        int32_t *count;   /**< Per group and window: [g * windows + w]. */
        int64_t pairs;    /**< (group, window)s with records. */
} chaos_ref_t;

/** The input of @p events records (and the closing ones) over @p windows
 *  windows of event time ending about now, and the reference; fails the
 *  test if memory runs out. Free with chaos_ref_free(). */
void chaos_ref_init(chaos_ref_t *r, int64_t events, int windows);
void chaos_ref_free(chaos_ref_t *r);
/** The event time of record @p seq. */
int64_t chaos_event_ts(const chaos_ref_t *r, int64_t seq);
/** Record @p seq's key and value (NUL-terminated), into @p key and
 *  @p value of @p key_size and @p value_size bytes. */
void chaos_ref_record(const chaos_ref_t *r, int64_t seq, char *key,
                      size_t key_size, char *value, size_t value_size);
/** xorshift64: the next number of the sequence @p s. */
uint64_t chaos_rng_next(uint64_t *s);

/* What the outputs hold, against the reference. */
typedef struct chaos_tally {
        const chaos_ref_t *ref;
        const char *out, *win_out;
        uint8_t *seen;  /**< Outputs per record (saturating). */
        uint8_t *wseen; /**< Finals per (group, window) (saturating). */
        int64_t records, missing, duplicated, wrong, below, strays;
        int64_t wrecords, wmissing, wduplicated, wwrong, wbelow, wstrays;
        /** How far below the reference the finals below it are, summed. */
        int64_t wdeficit;
} chaos_tally_t;

/** An empty tally of the outputs @p out (ranks) and @p win_out (window
 *  finals) against @p r. Free with chaos_tally_free(). */
void chaos_tally_init(chaos_tally_t *t, const chaos_ref_t *r, const char *out,
                      const char *win_out);
/** Tallies one output record; a kt_reader_poll() callback (@p opaque is
 *  the tally). */
void chaos_tally_cb(const rd_kafka_message_t *rkm, void *opaque);
void chaos_tally_free(chaos_tally_t *t);
/** Prints the first @p max (group, window)s whose final is missing: the
 *  group, its partition, the window and its start, the expected count
 *  (what a failed run must say to be looked into). */
void chaos_tally_print_missing(const chaos_tally_t *t, FILE *out, int max);

#endif
