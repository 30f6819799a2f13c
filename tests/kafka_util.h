/*
 * Helpers for integration tests against the real broker that ctest's
 * kafka fixture starts (tools/kafka/broker): topics, producing, reading a
 * topic whole, committed offsets, and running app processes.
 */
#ifndef BROOK_TESTS_KAFKA_UTIL_H
#define BROOK_TESTS_KAFKA_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <librdkafka/rdkafka.h>

/** The broker's bootstrap address (from $BROOK_KAFKA_DIR/bootstrap);
 *  fails the test if the broker is not running. */
const char *kt_bootstrap(void);
/** A name unique to this process and call: "<prefix>-<pid>-<n>". */
char *kt_unique(const char *prefix);
/** Creates @p topic; fails the test on error. */
void kt_create_topic(const char *topic, int partitions);
/** kt_create_topic() with one topic config set (@p config NULL: none). */
void kt_create_topic_with(const char *topic, int partitions, const char *config,
                          const char *value);
/** An idempotent producer (acks=all); deliveries are counted. */
/** Deletes every record of @p topic's @p partitions partitions (the
 *  Admin API's DeleteRecords up to each partition's end): its start
 *  offsets move to its ends, as retention would move them. */
void kt_delete_records(const char *topic, int partitions);
rd_kafka_t *kt_producer(void);
/** Flushes and destroys; fails the test if any delivery failed. */
void kt_producer_close(rd_kafka_t *rk);
/** Produces one record (partition -1: by key). If @p where is non-NULL,
 *  the delivery writes the record's partition and offset there (valid
 *  after kt_producer_close()). */
void kt_produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                const char *key, const void *value, size_t value_size,
                int64_t where[2]);
/** kt_produce() with the record timestamp @p timestamp (0: the
 *  producer's clock). */
void kt_produce_at(rd_kafka_t *rk, const char *topic, int32_t partition,
                   const char *key, const void *value, size_t value_size,
                   int64_t timestamp, int64_t where[2]);
/** How many partitions @p topic has (0: it does not exist). */
int kt_partition_count(const char *topic);
/** Waits up to @p timeout_ms until @p topic has @p want partitions (a
 *  topic just created may take a moment to show in the broker's
 *  metadata); returns the last count. */
int kt_wait_partition_count(const char *topic, int want, int timeout_ms);
/** Sum of the high watermarks of @p topic's partitions. */
int64_t kt_count(const char *topic);
/** Calls @p cb for every record of @p topic (read_committed), partition by
 *  partition, in offset order. */
void kt_consume_all(const char *topic,
                    void (*cb)(const rd_kafka_message_t *rkm, void *opaque),
                    void *opaque);
/** The group's committed offset of (topic, partition), or -1. */
int64_t kt_committed(const char *group, const char *topic, int32_t partition);
/** Waits until kt_count(@p topic) >= @p want or @p timeout_ms passes;
 *  returns the last count. */
int64_t kt_wait_count(const char *topic, int64_t want, int timeout_ms);
/** The low and high watermarks of (@p topic, @p partition). */
void kt_watermarks(const char *topic, int32_t partition, int64_t *lo,
                   int64_t *hi);
/** Sum of the group's committed offsets of @p topic's partitions 0 ..
 *  @p partitions - 1 (a partition without one counts 0). */
int64_t kt_committed_sum(const char *group, const char *topic, int partitions);
/** Waits until kt_committed_sum() >= @p want or @p timeout_ms passes;
 *  returns the last sum. */
int64_t kt_wait_committed(const char *group, const char *topic, int partitions,
                          int64_t want, int timeout_ms);

/** Milliseconds on the monotonic clock, for deadlines. */
int64_t kt_now_ms(void);
/** Sleeps @p ms milliseconds. Only for pacing and for polling a condition
 *  (see kt_wait_until()), never before asserting something. */
void kt_sleep_ms(int ms);
/** Checks @p cond every @p interval_ms until it returns true or
 *  @p timeout_ms have passed on the monotonic clock; returns whether it
 *  did. @p cond may fail the test itself (to give up early). */
bool kt_wait_until(bool (*cond)(void *opaque), void *opaque, int interval_ms,
                   int timeout_ms);

/** The most partitions kt_describe_group() reports owners for. */
#define KT_MAX_PARTITIONS 16

/** A consumer group as its coordinator describes it. */
typedef struct kt_group {
        rd_kafka_consumer_group_state_t state;
        int members;
        /** Members with at least one partition assigned. */
        int members_assigned;
        /** For partition p of the topic asked about: the client.id of the
         *  member that has it, "" if none. */
        char owner[KT_MAX_PARTITIONS][256];
} kt_group_t;
/** The value of config @p name of @p topic on the broker
 *  (DescribeConfigs), malloc'd; NULL if the topic has no such config.
 *  Fails the test on an error. */
char *kt_topic_config(const char *topic, const char *name);
/** Describes @p group (DescribeConsumerGroups); the owners of the
 *  partitions of @p topic (may be NULL) go to @p g->owner. Retries while
 *  the group's coordinator is moving or loading (up to 60 s); fails the
 *  test on any other error. A group that does not exist is DEAD with no
 *  members. */
void kt_describe_group(const char *group, const char *topic, kt_group_t *g);
/** Waits up to @p timeout_ms until @p group is STABLE with @p members
 *  members and every partition 0 .. @p partitions - 1 of @p topic has an
 *  owner (transient coordinator errors count as "not yet"); fills @p g with
 * that description. Fails the test otherwise. */
void kt_wait_group_stable(const char *group, const char *topic, int partitions,
                          int members, kt_group_t *g, int timeout_ms);
/** Waits up to @p timeout_ms until @p group has no member left (EMPTY or
 *  DEAD): from then on no member can commit offsets for it. Fails the
 *  test otherwise. */
void kt_wait_group_empty(const char *group, int timeout_ms);

/** The partition Java's default partitioner (murmur2, as brook's
 *  producers use) picks for @p key among @p partitions. */
int32_t kt_partition_of(const char *key, int32_t partitions);

/** A read_committed reader of whole topics, read a little at a time
 *  (kt_reader_poll()) while a test runs, then to their ends
 *  (kt_reader_drain()). Not thread-safe: one thread uses it. */
typedef struct kt_reader kt_reader_t;
/** Reads partitions 0 .. @p partitions - 1 of each of @p topics
 *  (@p topic_cnt, at most 4) from their beginnings. */
kt_reader_t *kt_reader_new(const char *const *topics, int topic_cnt,
                           int partitions);
/** Hands @p cb every record that arrives within about @p timeout_ms and
 *  returns how many. Errors that only mean "the broker is away" (while a
 *  test restarts it) are ignored; any other fails the test. */
int64_t kt_reader_poll(kt_reader_t *r, int timeout_ms,
                       void (*cb)(const rd_kafka_message_t *rkm, void *opaque),
                       void *opaque);
/** Reads on until every partition is read up to its high watermark as of
 *  this call (transaction markers included), handing @p cb each record;
 *  fails the test if that takes more than @p timeout_ms. */
void kt_reader_drain(kt_reader_t *r, int timeout_ms,
                     void (*cb)(const rd_kafka_message_t *rkm, void *opaque),
                     void *opaque);
/** Closes the reader. NULL is a no-op. */
void kt_reader_destroy(kt_reader_t *r);

/** Starts @p argv[0] with stdout and stderr to files named after
 *  @p log_prefix (".out", ".err"). */
pid_t kt_spawn(char *const argv[], const char *log_prefix);
/** Waits up to @p timeout_ms for @p pid; returns its exit code, 128+signal,
 *  or -1 on timeout (the process is then killed). */
int kt_wait(pid_t pid, int timeout_ms);
/** Runs tools/kafka/broker @p cmd ("kill", "restart", ...) on the test's
 *  broker ($BROOK_KAFKA_DIR, as ctest's kafka fixture sets it) and waits
 *  for it; fails the test if it fails. "kill" SIGKILLs the broker and
 *  returns once it is gone; "restart" starts it again on the same address
 *  with the same data and returns once a topic can be created on it. A test
 * that kills the broker must restart it before it ends, even when failing: the
 * other integration tests share it. */
void kt_broker(const char *cmd);
/** Removes directory @p dir and everything below it (ignoring what is
 *  already gone). */
void kt_rmtree(const char *dir);
/** The contents of a file (malloc'd, NUL-terminated), or NULL. */
char *kt_slurp(const char *path);
/** Writes a self-signed certificate for localhost and 127.0.0.1 (valid a
 *  day) to @p cert and its key to @p key, with openssl; fails the test if
 *  openssl does. */
void kt_self_signed_cert(const char *cert, const char *key);

/** Fills @p buf with @p n letters, digits, '-' and '_' in a fixed
 *  pseudo-random order, which lz4 cannot shorten (gzip and zstd could, to
 *  about 6/8): a topic's max.message.bytes applies to the batch as sent,
 *  and brook's producer compresses (docs/operations.md), so a record meant
 *  to be too large for the broker must not compress. Text, so it fits in a
 *  JSON string. */
void kt_incompressible(char *buf, size_t n);

/** A TCP port of 127.0.0.1 nobody listens on now. */
int kt_free_port(void);

/** Runs only the tests whose names match the environment's
 *  BROOK_TEST_FILTER (a cmocka pattern, e.g. "test_sigkill*"), if set: for
 *  running one test of a file by hand. */
void kt_test_filter(void);

#endif
