/*
 * brook — configuration.
 *
 * Properties brook owns are described by one static table (name, type,
 * accepted values, default); everything about them — validation, error
 * messages, defaults — follows from that table. Other properties are
 * librdkafka's: they are validated by librdkafka itself when set (see
 * conf_rdkafka.c), kept in the order they were set, and applied to the real
 * clients by brook__conf_apply_rdkafka().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_int.h"

/* ---------------------------------------------------------- owned table */

typedef enum {
        BROOK__CONF_STRING,
        BROOK__CONF_INT,
        BROOK__CONF_ENUM,
        BROOK__CONF_SERDE,
} brook__conf_type_t;

/* String properties: the empty string is not accepted. */
#define BROOK__CONF_F_NONEMPTY 0x1
/* String properties: the value becomes (part of) a Kafka topic name, so it
 * must use the characters Kafka allows there. */
#define BROOK__CONF_F_TOPIC 0x2
/* Integer properties: 0 is not accepted although it lies in [min, max]
 * (replication.factor: -1 means the broker's default, 0 means nothing). */
#define BROOK__CONF_F_NOT_ZERO 0x4
/* String properties: "host:port" (a bracketed IPv6 address as host), port
 * 1 to 65535 (brook__hostport_parse()). */
#define BROOK__CONF_F_HOSTPORT 0x8

/* Kafka's limit on topic names. */
#define BROOK__TOPIC_MAX 249

/* One accepted (or deliberately refused) spelling of an enum property. */
typedef struct brook__conf_enum {
        const char *name;  /**< What the user writes. */
        const char *value; /**< Canonical value stored; NULL: refused. */
        const char *hint;  /**< Why a refused spelling is refused. */
} brook__conf_enum_t;

typedef struct brook__conf_prop {
        const char *name;
        brook__conf_type_t type;
        int flags;
        int64_t min, max;                /**< Integers. */
        const brook__conf_enum_t *enums; /**< Enums; ends with a NULL name. */
        const char *expect;              /**< What strings must look like. */
        const char *def;                 /**< Default, or NULL. */
        /** Default computed from application.id (printf format with one
         *  %s), used when def is NULL. */
        const char *def_from_app_id;
        /** Default under processing.guarantee=exactly_once_v2. */
        const char *def_eos;
        const char *doc;
} brook__conf_prop_t;

typedef enum {
        BROOK__P_APPLICATION_ID,
        BROOK__P_BOOTSTRAP_SERVERS,
        BROOK__P_NUM_STREAM_THREADS,
        BROOK__P_COMMIT_INTERVAL_MS,
        BROOK__P_PROCESSING_GUARANTEE,
        BROOK__P_STATE_DIR,
        BROOK__P_CLIENT_ID,
        BROOK__P_REPLICATION_FACTOR,
        BROOK__P_DEFAULT_KEY_SERDE,
        BROOK__P_DEFAULT_VALUE_SERDE,
        BROOK__P_DESER_HANDLER,
        BROOK__P_PROC_HANDLER,
        BROOK__P_PROD_HANDLER,
        BROOK__P_DLQ_TOPIC_NAME,
        BROOK__P_DLQ_TOPIC_PARTITIONS,
        BROOK__P_POLL_MS,
        BROOK__P_SHUTDOWN_TIMEOUT_MS,
        BROOK__P_TASK_TIMEOUT_MS,
        BROOK__P_CACHE_MAX_BYTES,
        BROOK__P_ROCKSDB_MEMORY_BYTES,
        BROOK__P_JOIN_MEMORY_BYTES,
        BROOK__P_WINDOW_CHANGELOG_RETENTION,
        BROOK__P_TS_EXTRACTOR,
        BROOK__P_MAX_TASK_IDLE_MS,
        BROOK__P_BUFFERED_RECORDS,
        BROOK__P_REPARTITION_PURGE_INTERVAL_MS,
        BROOK__P_EMIT_INTERVAL_OUTER_JOIN,
        BROOK__P_EMIT_INTERVAL_WINDOWED,
        BROOK__P_APPLICATION_SERVER,
        BROOK__P_METRICS_LEVEL,
        BROOK__P_METRICS_WINDOW_MS,
        BROOK__P_HTTP_LISTEN,
        BROOK__P_HTTP_TOKEN,
        BROOK__P_HTTP_TLS_CERT,
        BROOK__P_HTTP_TLS_KEY,
        BROOK__P_HTTP_MAX_CONNECTIONS,
        BROOK__P_HTTP_MAX_CONNECTIONS_PER_IP,
        BROOK__P_HTTP_TIMEOUT_MS,
        BROOK__P_HTTP_MAX_REQUEST_BYTES,
        BROOK__P_SR_URL,
        BROOK__P_SR_BASIC_SOURCE,
        BROOK__P_SR_BASIC_USER_INFO,
        BROOK__P_SR_BEARER_SOURCE,
        BROOK__P_SR_BEARER_TOKEN,
        BROOK__P_SR_SSL_CA,
        BROOK__P_SR_SSL_CERT,
        BROOK__P_SR_SSL_KEY,
        BROOK__P_SR_SSL_KEY_PASSWORD,
        BROOK__P_SR_TIMEOUT_MS,
        BROOK__P_SR_AUTO_REGISTER,
        BROOK__P_SR_USE_LATEST,
        BROOK__P_SR_LATEST_TTL,
        BROOK__P_SR_KEY_STRATEGY,
        BROOK__P_SR_VALUE_STRATEGY,
        BROOK__P_CNT
} brook__conf_idx_t;

#define BROOK__INT32_MAX 2147483647

static const brook__conf_enum_t brook__conf_guarantees[] = {
        {"at_least_once", "at_least_once", NULL},
        {"exactly_once_v2", "exactly_once_v2", NULL},
        {"exactly_once", NULL,
         "exactly_once (EOS v1) is not supported, as in Kafka Streams 4.0; "
         "use exactly_once_v2"},
        {"exactly_once_beta", NULL,
         "exactly_once_beta is the deprecated name of exactly_once_v2; use "
         "exactly_once_v2"},
        {NULL, NULL, NULL},
};

#define BROOK__KS_ERRORS "org.apache.kafka.streams.errors."

static const brook__conf_enum_t brook__conf_handlers[] = {
        {"fail", "fail", NULL},
        {"log_and_continue", "log_and_continue", NULL},
        {"dead_letter", "dead_letter", NULL},
        {BROOK__KS_ERRORS "LogAndFailExceptionHandler", "fail", NULL},
        {BROOK__KS_ERRORS "LogAndContinueExceptionHandler", "log_and_continue",
         NULL},
        {NULL, NULL, NULL},
};

/* Kafka Streams 3.9 (KIP-1033) has processing-specific class names. */
static const brook__conf_enum_t brook__conf_proc_handlers[] = {
        {"fail", "fail", NULL},
        {"log_and_continue", "log_and_continue", NULL},
        {"dead_letter", "dead_letter", NULL},
        {BROOK__KS_ERRORS "LogAndFailExceptionHandler", "fail", NULL},
        {BROOK__KS_ERRORS "LogAndContinueExceptionHandler", "log_and_continue",
         NULL},
        {BROOK__KS_ERRORS "LogAndFailProcessingExceptionHandler", "fail", NULL},
        {BROOK__KS_ERRORS "LogAndContinueProcessingExceptionHandler",
         "log_and_continue", NULL},
        {NULL, NULL, NULL},
};

/* A record that could not be produced has no dead-letter topic to go to:
 * producing there can fail for the same reason. */
static const brook__conf_enum_t brook__conf_prod_handlers[] = {
        {"fail", "fail", NULL},
        {"log_and_continue", "log_and_continue", NULL},
        {BROOK__KS_ERRORS "DefaultProductionExceptionHandler", "fail", NULL},
        {BROOK__KS_ERRORS "LogAndFailExceptionHandler", "fail", NULL},
        {BROOK__KS_ERRORS "LogAndContinueExceptionHandler", "log_and_continue",
         NULL},
        {"dead_letter", "dead_letter", NULL},
        {NULL, NULL, NULL},
};

/* Kafka Streams' recording levels; TRACE adds RocksDB statistics there,
 * which brook does not collect, so it records what DEBUG does. */
static const brook__conf_enum_t brook__conf_levels[] = {
        {"INFO", "INFO", NULL},
        {"DEBUG", "DEBUG", NULL},
        {"TRACE", "DEBUG", NULL},
        {NULL, NULL, NULL},
};

static const brook__conf_enum_t brook__conf_bools[] = {
        {"true", "true", NULL},
        {"false", "false", NULL},
        {NULL, NULL, NULL},
};

#define BROOK__SR_STRATEGY "io.confluent.kafka.serializers.subject."

static const brook__conf_enum_t brook__conf_strategies[] = {
        {"TopicNameStrategy", "TopicNameStrategy", NULL},
        {"RecordNameStrategy", "RecordNameStrategy", NULL},
        {"TopicRecordNameStrategy", "TopicRecordNameStrategy", NULL},
        {BROOK__SR_STRATEGY "TopicNameStrategy", "TopicNameStrategy", NULL},
        {BROOK__SR_STRATEGY "RecordNameStrategy", "RecordNameStrategy", NULL},
        {BROOK__SR_STRATEGY "TopicRecordNameStrategy",
         "TopicRecordNameStrategy", NULL},
        {NULL, NULL, NULL},
};

static const brook__conf_enum_t brook__conf_basic_sources[] = {
        {"USER_INFO", "USER_INFO", NULL},
        {"URL", "URL", NULL},
        {"SASL_INHERIT", NULL,
         "brook does not take Schema Registry credentials from SASL; use "
         "USER_INFO with basic.auth.user.info"},
        {NULL, NULL, NULL},
};

static const brook__conf_enum_t brook__conf_bearer_sources[] = {
        {"STATIC_TOKEN", "STATIC_TOKEN", NULL},
        {"OAUTHBEARER", NULL,
         "brook does not fetch OAuth tokens for the Schema Registry; use "
         "STATIC_TOKEN with bearer.auth.token"},
        {NULL, NULL, NULL},
};

#define BROOK__KS_PROCESSOR "org.apache.kafka.streams.processor."
#define BROOK__WALLCLOCK_HINT                                                  \
        "brook has no wall-clock extractor: give the source a timestamp "      \
        "extractor function (brook_consumed_t) that returns the time it "      \
        "wants"

/* Kafka Streams' built-in extractors of the record timestamp, which
 * differ in what they do with an invalid (negative) one. */
static const brook__conf_enum_t brook__conf_ts_extractors[] = {
        {"FailOnInvalidTimestamp", "FailOnInvalidTimestamp", NULL},
        {"LogAndSkipOnInvalidTimestamp", "LogAndSkipOnInvalidTimestamp", NULL},
        {"UsePartitionTimeOnInvalidTimestamp",
         "UsePartitionTimeOnInvalidTimestamp", NULL},
        {BROOK__KS_PROCESSOR "FailOnInvalidTimestamp", "FailOnInvalidTimestamp",
         NULL},
        {BROOK__KS_PROCESSOR "LogAndSkipOnInvalidTimestamp",
         "LogAndSkipOnInvalidTimestamp", NULL},
        {BROOK__KS_PROCESSOR "UsePartitionTimeOnInvalidTimestamp",
         "UsePartitionTimeOnInvalidTimestamp", NULL},
        {"WallclockTimestampExtractor", NULL, BROOK__WALLCLOCK_HINT},
        {BROOK__KS_PROCESSOR "WallclockTimestampExtractor", NULL,
         BROOK__WALLCLOCK_HINT},
        {NULL, NULL, NULL},
};

#define BROOK__TOPIC_EXPECT                                                    \
        "a name of 1 to 249 characters from a-z, A-Z, 0-9, '.', '_' and '-' "  \
        "(it is used in Kafka topic names)"

static const brook__conf_prop_t brook__conf_props[BROOK__P_CNT] = {
        [BROOK__P_APPLICATION_ID] =
                {"application.id", BROOK__CONF_STRING,
                 BROOK__CONF_F_NONEMPTY | BROOK__CONF_F_TOPIC, 0, 0, NULL,
                 BROOK__TOPIC_EXPECT, NULL, NULL, NULL,
                 "The consumer group id and the prefix of every internal "
                 "topic. Required."},
        [BROOK__P_BOOTSTRAP_SERVERS] =
                {"bootstrap.servers", BROOK__CONF_STRING,
                 BROOK__CONF_F_NONEMPTY, 0, 0, NULL,
                 "a non-empty list of host:port pairs separated by commas",
                 NULL, NULL, NULL,
                 "The Kafka brokers to connect to. Required."},
        [BROOK__P_NUM_STREAM_THREADS] =
                {"num.stream.threads", BROOK__CONF_INT, 0, 1, 256, NULL, NULL,
                 "1", NULL, NULL,
                 "Stream threads, each with its own consumer and producer."},
        [BROOK__P_COMMIT_INTERVAL_MS] =
                {"commit.interval.ms", BROOK__CONF_INT, 0, 0, BROOK__INT32_MAX,
                 NULL, NULL, "30000", NULL, "100",
                 "How often progress is committed; 100 under "
                 "exactly_once_v2 unless set, as in Kafka Streams."},
        [BROOK__P_PROCESSING_GUARANTEE] =
                {"processing.guarantee", BROOK__CONF_ENUM, 0, 0, 0,
                 brook__conf_guarantees, NULL, "at_least_once", NULL, NULL,
                 "at_least_once or exactly_once_v2 (transactions)."},
        [BROOK__P_STATE_DIR] = {"state.dir", BROOK__CONF_STRING,
                                BROOK__CONF_F_NONEMPTY, 0, 0, NULL,
                                "a non-empty directory path", "/tmp/brook",
                                NULL, NULL,
                                "Where state stores keep their data."},
        [BROOK__P_CLIENT_ID] = {"client.id", BROOK__CONF_STRING, 0, 0, 0, NULL,
                                NULL, NULL, "%s", NULL,
                                "Prefix of the client.id of every Kafka "
                                "client; defaults to application.id."},
        [BROOK__P_REPLICATION_FACTOR] =
                {"replication.factor", BROOK__CONF_INT, BROOK__CONF_F_NOT_ZERO,
                 -1, 32767, NULL, NULL, "-1", NULL, NULL,
                 "Replication factor of internal topics; -1 for the "
                 "broker's default."},
        [BROOK__P_DEFAULT_KEY_SERDE] = {"default.key.serde", BROOK__CONF_SERDE,
                                        0, 0, 0, NULL, NULL, NULL, NULL, NULL,
                                        "Key serde where none is given."},
        [BROOK__P_DEFAULT_VALUE_SERDE] = {"default.value.serde",
                                          BROOK__CONF_SERDE, 0, 0, 0, NULL,
                                          NULL, NULL, NULL, NULL,
                                          "Value serde where none is given."},
        [BROOK__P_DESER_HANDLER] =
                {"default.deserialization.exception.handler", BROOK__CONF_ENUM,
                 0, 0, 0, brook__conf_handlers, NULL, "fail", NULL, NULL,
                 "What happens to a record that fails to deserialize."},
        [BROOK__P_PROC_HANDLER] = {"default.processing.exception.handler",
                                   BROOK__CONF_ENUM, 0, 0, 0,
                                   brook__conf_proc_handlers, NULL, "fail",
                                   NULL, NULL,
                                   "What happens to a record that a "
                                   "processor fails on."},
        [BROOK__P_PROD_HANDLER] = {"default.production.exception.handler",
                                   BROOK__CONF_ENUM, 0, 0, 0,
                                   brook__conf_prod_handlers, NULL, "fail",
                                   NULL, NULL,
                                   "What happens to a record that cannot "
                                   "be produced."},
        [BROOK__P_DLQ_TOPIC_NAME] = {"errors.deadletterqueue.topic.name",
                                     BROOK__CONF_STRING,
                                     BROOK__CONF_F_NONEMPTY |
                                             BROOK__CONF_F_TOPIC,
                                     0, 0, NULL, BROOK__TOPIC_EXPECT, NULL,
                                     "%s-dlq", NULL, "The dead-letter topic."},
        [BROOK__P_DLQ_TOPIC_PARTITIONS] =
                {"errors.deadletterqueue.topic.partitions", BROOK__CONF_INT, 0,
                 1, BROOK__INT32_MAX, NULL, NULL, "1", NULL, NULL,
                 "Partitions of the dead-letter topic when brook creates "
                 "it."},
        /* At least 1: 0 would make an idle thread spin a core. */
        [BROOK__P_POLL_MS] = {"poll.ms", BROOK__CONF_INT, 0, 1,
                              BROOK__INT32_MAX, NULL, NULL, "100", NULL, NULL,
                              "How long a thread blocks waiting for "
                              "records."},
        [BROOK__P_SHUTDOWN_TIMEOUT_MS] =
                /* At least 1: it bounds the commit's producer flush, which
                 * 0 would make fail every time. */
        {"shutdown.timeout.ms", BROOK__CONF_INT, 0, 1, BROOK__INT32_MAX, NULL,
         NULL, "30000", NULL, NULL,
         "How long a stop may take: the final flush and commit, leaving the "
         "group and client teardown all end by then (docs/shutdown.md)."},
        [BROOK__P_TASK_TIMEOUT_MS] =
                {"task.timeout.ms", BROOK__CONF_INT, 0, 0, BROOK__INT32_MAX,
                 NULL, NULL, "300000", NULL, NULL,
                 "How long a commit (or restoration) may fail to make "
                 "progress, the broker unreachable, before the app stops "
                 "with the cause, as in Kafka Streams."},
        [BROOK__P_CACHE_MAX_BYTES] =
                {"statestore.cache.max.bytes", BROOK__CONF_INT, 0, 0,
                 (int64_t)1 << 40, NULL, NULL, "10485760", NULL, NULL,
                 "Bytes of record cache for all stores, split evenly "
                 "between threads; 0 turns caching off."},
        [BROOK__P_ROCKSDB_MEMORY_BYTES] =
                {"rocksdb.memory.bytes", BROOK__CONF_INT, 0, 4 << 20,
                 (int64_t)1 << 40, NULL, NULL, "67108864", NULL, NULL,
                 "Bound on RocksDB's memory for the whole app: block cache "
                 "(3/4) plus write buffers (1/4), whatever the number of "
                 "tasks and stores."},
        [BROOK__P_JOIN_MEMORY_BYTES] =
                {"join.memory.bytes", BROOK__CONF_INT, 0, 0, (int64_t)1 << 40,
                 NULL, NULL, "33554432", NULL, NULL,
                 "Bytes of memory for the recent entries of stream-stream "
                 "joins' window stores, which the joins' lookups read "
                 "instead of RocksDB and which reach RocksDB only if they "
                 "leave memory before they expire (the changelog restores "
                 "them; docs/joins.md), split evenly between threads; when "
                 "full the oldest entries go first. 0 turns this off."},
        [BROOK__P_WINDOW_CHANGELOG_RETENTION] =
                {"windowstore.changelog.additional.retention.ms",
                 BROOK__CONF_INT, 0, 0, INT64_MAX / 4, NULL, NULL, "86400000",
                 NULL, NULL,
                 "Added to a window or session store's retention for its "
                 "changelog's retention.ms, as in Kafka Streams: clock "
                 "drift between brokers and the app must not delete data "
                 "the store still keeps."},
        [BROOK__P_TS_EXTRACTOR] =
                {"default.timestamp.extractor", BROOK__CONF_ENUM, 0, 0, 0,
                 brook__conf_ts_extractors, NULL, "FailOnInvalidTimestamp",
                 NULL, NULL,
                 "What a source does with a record whose timestamp is "
                 "negative: fail, skip it (counted) or give it the "
                 "partition time (docs/time.md)."},
        [BROOK__P_MAX_TASK_IDLE_MS] =
                {"max.task.idle.ms", BROOK__CONF_INT, 0, -1, INT64_MAX, NULL,
                 NULL, "0", NULL, NULL,
                 "How long a task with several input partitions waits for "
                 "data on an empty one before processing the others out of "
                 "timestamp order; 0 waits only for data the broker is known "
                 "to have, -1 never waits (docs/time.md)."},
        [BROOK__P_BUFFERED_RECORDS] =
                {"buffered.records.per.partition", BROOK__CONF_INT, 0, 1,
                 BROOK__INT32_MAX, NULL, NULL, "1000", NULL, NULL,
                 "Records of an input partition a stream thread holds "
                 "before it takes no more of the partition from the "
                 "consumer until it has processed some (docs/time.md)."},
        [BROOK__P_REPARTITION_PURGE_INTERVAL_MS] =
                {"repartition.purge.interval.ms", BROOK__CONF_INT, 0, 0,
                 BROOK__INT32_MAX, NULL, NULL, "30000", NULL, NULL,
                 "How often records of repartition topics that every task "
                 "has committed are deleted (after a commit, at least this "
                 "long after the last deletion), as in Kafka Streams; also "
                 "under exactly_once_v2."},
        /* Kafka Streams' internal settings of the same names, which its
         * TopologyTestDriver sets to 0 (so does brook's). */
        [BROOK__P_EMIT_INTERVAL_OUTER_JOIN] =
                {"__emit.interval.ms.kstreams.outer.join.spurious.results."
                 "fix__",
                 BROOK__CONF_INT, 0, 0, BROOK__INT32_MAX, NULL, NULL, "1000",
                 NULL, NULL,
                 "Internal: how often (wall clock) a left or outer "
                 "stream-stream join looks for records whose window closed "
                 "without a partner. The test driver's default is 0."},
        [BROOK__P_EMIT_INTERVAL_WINDOWED] =
                {"__emit.interval.ms.kstreams.windowed.aggregation__",
                 BROOK__CONF_INT, 0, 0, BROOK__INT32_MAX, NULL, NULL, "1000",
                 NULL, NULL,
                 "Internal: how often (wall clock) a windowed aggregation "
                 "that emits on window close looks for closed windows. The "
                 "test driver's default is 0."},
        [BROOK__P_APPLICATION_SERVER] =
                {"application.server",
                 BROOK__CONF_STRING, BROOK__CONF_F_HOSTPORT, 0, 0, NULL,
                 "host:port (the address other instances and clients reach "
                 "this one at), e.g. app-1.example.com:7070",
                 NULL, NULL, NULL,
                 "The host:port this instance advertises, as in Kafka "
                 "Streams; setting it turns on the embedded HTTP server "
                 "(docs/operations.md), which listens on its port."},
        [BROOK__P_METRICS_LEVEL] =
                {"metrics.recording.level", BROOK__CONF_ENUM, 0, 0, 0,
                 brook__conf_levels, NULL, "INFO", NULL, NULL,
                 "INFO or DEBUG, as in Kafka Streams: DEBUG adds the "
                 "processor-node, state-store and record-cache metrics, "
                 "which cost a little on every record."},
        [BROOK__P_METRICS_WINDOW_MS] =
                {"metrics.sample.window.ms", BROOK__CONF_INT, 0, 1000,
                 BROOK__INT32_MAX, NULL, NULL, "30000", NULL, NULL,
                 "The window that rates, averages and maxima (the -rate, "
                 "-avg and -max metrics) are computed over."},
        [BROOK__P_HTTP_LISTEN] =
                {"http.listen.address", BROOK__CONF_STRING,
                 BROOK__CONF_F_NONEMPTY, 0, 0, NULL,
                 "an IPv4 or IPv6 address such as 0.0.0.0", "127.0.0.1", NULL,
                 NULL,
                 "The address the HTTP server binds, at the port of "
                 "application.server."},
        [BROOK__P_HTTP_TOKEN] =
                {"http.auth.token", BROOK__CONF_STRING, 0, 0, 0, NULL, NULL,
                 NULL, NULL, NULL,
                 "When set, every request but /health must carry "
                 "\"Authorization: Bearer <token>\" (401 otherwise)."},
        [BROOK__P_HTTP_TLS_CERT] =
                {"http.tls.cert.file", BROOK__CONF_STRING,
                 BROOK__CONF_F_NONEMPTY, 0, 0, NULL, "a PEM file path", NULL,
                 NULL, NULL,
                 "The server's certificate chain (PEM); with "
                 "http.tls.key.file the server speaks HTTPS only."},
        [BROOK__P_HTTP_TLS_KEY] = {"http.tls.key.file", BROOK__CONF_STRING,
                                   BROOK__CONF_F_NONEMPTY, 0, 0, NULL,
                                   "a PEM file path", NULL, NULL, NULL,
                                   "The certificate's private key (PEM)."},
        [BROOK__P_HTTP_MAX_CONNECTIONS] =
                {"http.max.connections", BROOK__CONF_INT, 0, 1, 10000, NULL,
                 NULL, "64", NULL, NULL,
                 "Connections served at once; more are refused."},
        [BROOK__P_HTTP_MAX_CONNECTIONS_PER_IP] =
                {"http.max.connections.per.ip", BROOK__CONF_INT, 0, 0, 10000,
                 NULL, NULL, "0", NULL, NULL,
                 "Connections served at once from one client address; 0: "
                 "no limit but http.max.connections."},
        [BROOK__P_HTTP_TIMEOUT_MS] =
                {"http.request.timeout.ms", BROOK__CONF_INT, 0,
                 100, 3600000, NULL, NULL, "10000", NULL, NULL,
                 "A connection that sends nothing for this long (a slow "
                 "client) is closed."},
        [BROOK__P_HTTP_MAX_REQUEST_BYTES] =
                {"http.max.request.bytes", BROOK__CONF_INT, 0, 1024, 1 << 24,
                 NULL, NULL, "16384", NULL, NULL,
                 "The largest request (line, headers and body) served; a "
                 "larger one gets 413 or 414."},
        /* The Schema Registry (engine/schema_registry.c), under the names
         * of Confluent's serializers. */
        [BROOK__P_SR_URL] =
                {"schema.registry.url", BROOK__CONF_STRING, 0, 0,
                 0, NULL, NULL, NULL, NULL, NULL,
                 "The Schema Registry the Avro serdes use: http(s) URLs, "
                 "comma-separated, tried in order (docs/avro.md)."},
        [BROOK__P_SR_BASIC_SOURCE] =
                {"basic.auth.credentials.source", BROOK__CONF_ENUM, 0, 0, 0,
                 brook__conf_basic_sources, NULL, "URL", NULL, NULL,
                 "USER_INFO: basic.auth.user.info holds user:password; URL: "
                 "the credentials, if any, are in schema.registry.url."},
        [BROOK__P_SR_BASIC_USER_INFO] =
                {"basic.auth.user.info", BROOK__CONF_STRING, 0, 0, 0, NULL,
                 NULL, NULL, NULL, NULL,
                 "user:password for the Schema Registry's basic "
                 "authentication."},
        [BROOK__P_SR_BEARER_SOURCE] =
                {"bearer.auth.credentials.source", BROOK__CONF_ENUM, 0, 0, 0,
                 brook__conf_bearer_sources, NULL, "STATIC_TOKEN", NULL, NULL,
                 "STATIC_TOKEN: bearer.auth.token is sent as a bearer "
                 "token."},
        [BROOK__P_SR_BEARER_TOKEN] =
                {"bearer.auth.token", BROOK__CONF_STRING, 0, 0, 0, NULL, NULL,
                 NULL, NULL, NULL, "A bearer token for the Schema Registry."},
        [BROOK__P_SR_SSL_CA] =
                {"schema.registry.ssl.ca.location", BROOK__CONF_STRING,
                 BROOK__CONF_F_NONEMPTY, 0, 0, NULL, "a PEM file path", NULL,
                 NULL, NULL,
                 "CA certificates (PEM) to verify the Schema Registry "
                 "with."},
        [BROOK__P_SR_SSL_CERT] =
                {"schema.registry.ssl.certificate.location", BROOK__CONF_STRING,
                 BROOK__CONF_F_NONEMPTY, 0, 0, NULL, "a PEM file path", NULL,
                 NULL, NULL,
                 "A client certificate (PEM) for the Schema Registry."},
        [BROOK__P_SR_SSL_KEY] = {"schema.registry.ssl.key.location",
                                 BROOK__CONF_STRING, BROOK__CONF_F_NONEMPTY, 0,
                                 0, NULL, "a PEM file path", NULL, NULL, NULL,
                                 "The client certificate's private key (PEM)."},
        [BROOK__P_SR_SSL_KEY_PASSWORD] = {"schema.registry.ssl.key.password",
                                          BROOK__CONF_STRING, 0, 0, 0, NULL,
                                          NULL, NULL, NULL, NULL,
                                          "The private key's password."},
        [BROOK__P_SR_TIMEOUT_MS] =
                {"schema.registry.request.timeout.ms", BROOK__CONF_INT, 0, 100,
                 600000, NULL, NULL, "30000", NULL, NULL,
                 "How long one Schema Registry request may take."},
        [BROOK__P_SR_AUTO_REGISTER] =
                {"auto.register.schemas", BROOK__CONF_ENUM, 0, 0, 0,
                 brook__conf_bools, NULL, "true", NULL, NULL,
                 "Whether the Avro serializers register a value's schema "
                 "(true) or only look up its id (false)."},
        [BROOK__P_SR_USE_LATEST] =
                {"use.latest.version", BROOK__CONF_ENUM, 0, 0,
                 0, brook__conf_bools, NULL, "false", NULL, NULL,
                 "With auto.register.schemas=false (as Confluent's), "
                 "whether the Avro serializers write the subject's latest "
                 "schema, resolving each value to it."},
        [BROOK__P_SR_LATEST_TTL] =
                {"latest.cache.ttl.sec", BROOK__CONF_INT, 0, -1,
                 BROOK__INT32_MAX, NULL, NULL, "300", NULL, NULL,
                 "How long a subject's latest version is cached; -1: "
                 "forever (Confluent's default)."},
        [BROOK__P_SR_KEY_STRATEGY] =
                {"key.subject.name.strategy", BROOK__CONF_ENUM, 0, 0, 0,
                 brook__conf_strategies, NULL, "TopicNameStrategy", NULL, NULL,
                 "The subject key schemas go under: TopicNameStrategy "
                 "(<topic>-key), RecordNameStrategy (the record's full "
                 "name) or TopicRecordNameStrategy (<topic>-<name>)."},
        [BROOK__P_SR_VALUE_STRATEGY] =
                {"value.subject.name.strategy", BROOK__CONF_ENUM, 0, 0, 0,
                 brook__conf_strategies, NULL, "TopicNameStrategy", NULL, NULL,
                 "The subject value schemas go under, as "
                 "key.subject.name.strategy (<topic>-value)."},
};

/* ----------------------------------------------------------------- conf */

static const char *const brook__client_names[] = {
        [BROOK__CLIENT_ALL] = NULL,
        [BROOK__CLIENT_CONSUMER] = "consumer",
        [BROOK__CLIENT_PRODUCER] = "producer",
        [BROOK__CLIENT_ADMIN] = "admin",
};

/** A pass-through (librdkafka) property. */
typedef struct brook__conf_kv {
        char *name; /**< As set, prefix included. */
        char *value;
        brook__client_t client;
        size_t rkname_off; /**< Where librdkafka's name starts in name. */
} brook__conf_kv_t;

struct brook_conf_s {
        char *vals[BROOK__P_CNT]; /**< Owned properties as set; NULL: unset. */
        /** Defaults computed from application.id. */
        char *derived[BROOK__P_CNT];
        /** Derived strings replaced by a later application.id: callers may
         *  still hold them, since the property they got them for was not
         *  set again. Freed with the conf. */
        brook__ptrvec_t retired;
        brook__conf_kv_t *kvs; /**< Pass-through, in the order last set. */
        size_t kv_cnt, kv_cap;
        char *error; /**< First error of brook_conf_set(), or NULL. */
};

/* Kafka Streams properties that brook does not implement. Setting one
 * fails, rather than being accepted and ignored, so that a configuration
 * ported from Kafka Streams does not silently lose what it asked for. */
static const struct {
        const char *name;
        const char *why;
} brook__conf_refused[] = {
        {"num.standby.replicas",
         "brook keeps no standby replicas: a task's state moves to its new "
         "owner through its changelog (docs/state.md)"},
};

static int brook__conf_find(const char *name)
{
        int i;
        for (i = 0; i < BROOK__P_CNT; i++)
                if (!strcmp(brook__conf_props[i].name, name))
                        return i;
        return -1;
}

brook_conf_t *brook_conf_new(void)
{
        return brook__xcalloc(1, sizeof(brook_conf_t));
}

static char *brook__strdup_null(const char *s)
{
        return s ? brook__xstrdup(s) : NULL;
}

brook_conf_t *brook_conf_dup(const brook_conf_t *conf)
{
        brook_conf_t *dup;
        size_t i;

        if (!conf)
                return NULL;
        dup = brook_conf_new();
        for (i = 0; i < BROOK__P_CNT; i++) {
                dup->vals[i] = brook__strdup_null(conf->vals[i]);
                dup->derived[i] = brook__strdup_null(conf->derived[i]);
        }
        if (conf->kv_cnt) {
                dup->kvs = brook__xmalloc(conf->kv_cnt * sizeof *dup->kvs);
                dup->kv_cap = dup->kv_cnt = conf->kv_cnt;
                for (i = 0; i < conf->kv_cnt; i++) {
                        dup->kvs[i] = conf->kvs[i];
                        dup->kvs[i].name = brook__xstrdup(conf->kvs[i].name);
                        dup->kvs[i].value = brook__xstrdup(conf->kvs[i].value);
                }
        }
        dup->error = brook__strdup_null(conf->error);
        return dup;
}

void brook_conf_destroy(brook_conf_t *conf)
{
        size_t i;

        if (!conf)
                return;
        for (i = 0; i < BROOK__P_CNT; i++) {
                free(conf->vals[i]);
                free(conf->derived[i]);
        }
        for (i = 0; i < conf->retired.cnt; i++)
                free(conf->retired.v[i]);
        brook__ptrvec_free(&conf->retired);
        for (i = 0; i < conf->kv_cnt; i++) {
                free(conf->kvs[i].name);
                free(conf->kvs[i].value);
        }
        free(conf->kvs);
        free(conf->error);
        free(conf);
}

/* ------------------------------------------------------------ validation */

/* The edit distance between @p a and @p b, capped at 9 (only small ones
 * matter for suggestions). */
static int brook__distance(const char *a, const char *b)
{
        int row[64], i, j, la = (int)strlen(a), lb = (int)strlen(b);

        if (la >= 63 || lb >= 63)
                return 9;
        for (j = 0; j <= lb; j++)
                row[j] = j;
        for (i = 1; i <= la; i++) {
                int diag = row[0], tmp;
                row[0] = i;
                for (j = 1; j <= lb; j++) {
                        int best = diag + (a[i - 1] != b[j - 1]);
                        if (row[j] + 1 < best)
                                best = row[j] + 1;
                        if (row[j - 1] + 1 < best)
                                best = row[j - 1] + 1;
                        tmp = row[j];
                        row[j] = best;
                        diag = tmp;
                }
        }
        return row[lb] > 9 ? 9 : row[lb];
}

/* The owned property a misspelt @p name most likely meant, or NULL. */
static const char *brook__conf_suggest(const char *name)
{
        const char *best = NULL;
        int i, best_d = 3;

        for (i = 0; i < BROOK__P_CNT; i++) {
                int d = brook__distance(name, brook__conf_props[i].name);
                if (d < best_d) {
                        best_d = d;
                        best = brook__conf_props[i].name;
                }
        }
        return best;
}

/* Strict integer parsing: Java's Integer.parseInt syntax (optional sign,
 * decimal digits), nothing else. */
static bool brook__parse_int(const char *s, int64_t *vp)
{
        char *end;
        long long v;
        const char *d = s + (*s == '-' || *s == '+');

        if (*d < '0' || *d > '9')
                return false;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || *end)
                return false;
        *vp = v;
        return true;
}

bool brook__topic_name_ok(const char *s)
{
        size_t n = strlen(s), i;

        if (n == 0 || n > BROOK__TOPIC_MAX || !strcmp(s, ".") ||
            !strcmp(s, ".."))
                return false;
        for (i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                      c == '-'))
                        return false;
        }
        return true;
}

/* "a, b or c", then ", or one of Kafka Streams' class names x, y". */
static void brook__enum_expect(const brook__conf_enum_t *enums, char *buf,
                               size_t size)
{
        const brook__conf_enum_t *e;
        size_t len = 0, n = 0, cnt = 0, classes = 0;

        for (e = enums; e->name; e++) {
                if (!e->value)
                        continue;
                if (strchr(e->name, '.'))
                        classes++;
                else
                        cnt++;
        }
        buf[0] = '\0';
        for (e = enums; e->name && len < size; e++) {
                const char *sep = ", ";
                if (!e->value || strchr(e->name, '.'))
                        continue;
                if (++n == 1)
                        sep = "";
                else if (n == cnt)
                        sep = " or ";
                len += snprintf(buf + len, size - len, "%s%s", sep, e->name);
        }
        n = 0;
        for (e = enums; e->name && len < size; e++) {
                const char *sep = ", ";
                if (!e->value || !strchr(e->name, '.'))
                        continue;
                if (++n == 1)
                        sep = classes == 1 ? ", or Kafka Streams' class name "
                                           : ", or one of Kafka Streams' class "
                                             "names ";
                len += snprintf(buf + len, size - len, "%s%s", sep, e->name);
        }
}

/* Validates @p value for owned property @p prop; on success *@p storep is
 * the string to store (allocated). */
static brook_err_t brook__conf_validate(const brook__conf_prop_t *prop,
                                        const char *value, char **storep,
                                        char *errstr, size_t errstr_size)
{
        char expect[1024];
        const brook__conf_enum_t *e;
        const brook_serde_t *serde;
        int64_t v;

        switch (prop->type) {
        case BROOK__CONF_STRING:
                if (((prop->flags & BROOK__CONF_F_NONEMPTY) && !*value) ||
                    ((prop->flags & BROOK__CONF_F_TOPIC) &&
                     !brook__topic_name_ok(value)) ||
                    ((prop->flags & BROOK__CONF_F_HOSTPORT) &&
                     !brook__hostport_parse(value, NULL, 0, NULL)))
                        break;
                *storep = brook__xstrdup(value);
                return BROOK_OK;

        case BROOK__CONF_INT:
                if (brook__parse_int(value, &v) && v >= prop->min &&
                    v <= prop->max &&
                    !(v == 0 && (prop->flags & BROOK__CONF_F_NOT_ZERO))) {
                        snprintf(expect, sizeof expect, "%lld", (long long)v);
                        *storep = brook__xstrdup(expect);
                        return BROOK_OK;
                }
                break;

        case BROOK__CONF_ENUM:
                for (e = prop->enums; e->name; e++) {
                        if (strcmp(e->name, value))
                                continue;
                        if (!e->value) {
                                brook__seterr(errstr, errstr_size,
                                              "Invalid value \"%s\" for "
                                              "configuration property "
                                              "\"%s\": %s",
                                              value, prop->name, e->hint);
                                return BROOK_ERR_CONF_INVALID;
                        }
                        /* The canonical spelling is stored, so readers
                         * of the conf compare against one name. */
                        *storep = brook__xstrdup(e->value);
                        return BROOK_OK;
                }
                break;

        case BROOK__CONF_SERDE:
                if ((serde = brook_serde_by_name(value, NULL, 0))) {
                        *storep = brook__xstrdup(brook_serde_name(serde));
                        return BROOK_OK;
                }
                break;
        }

        switch (prop->type) {
        case BROOK__CONF_STRING:
                snprintf(expect, sizeof expect, "%s", prop->expect);
                break;
        case BROOK__CONF_INT:
                if (prop->flags & BROOK__CONF_F_NOT_ZERO)
                        snprintf(expect, sizeof expect,
                                 "-1 (the broker's default) or an integer "
                                 "from 1 to %lld",
                                 (long long)prop->max);
                else
                        snprintf(expect, sizeof expect,
                                 "an integer from %lld to %lld",
                                 (long long)prop->min, (long long)prop->max);
                break;
        case BROOK__CONF_ENUM:
                brook__enum_expect(prop->enums, expect, sizeof expect);
                break;
        case BROOK__CONF_SERDE:
                snprintf(expect, sizeof expect,
                         "bytes, string, int32, int64, double or json, or a "
                         "Kafka serde class name such as "
                         "org.apache.kafka.common.serialization."
                         "Serdes$StringSerde");
                break;
        }
        brook__seterr(errstr, errstr_size,
                      "Invalid value \"%s\" for configuration property "
                      "\"%s\": expected %s",
                      value, prop->name, expect);
        return BROOK_ERR_CONF_INVALID;
}

/* ------------------------------------------------------------------ set */

static void brook__conf_derive(brook_conf_t *conf)
{
        const char *app_id = conf->vals[BROOK__P_APPLICATION_ID];
        int i;

        for (i = 0; i < BROOK__P_CNT; i++) {
                const char *fmt = brook__conf_props[i].def_from_app_id;
                char *s;
                int n;

                if (!fmt)
                        continue;
                if (conf->derived[i])
                        brook__ptrvec_push(&conf->retired, conf->derived[i]);
                conf->derived[i] = NULL;
                if (!app_id)
                        continue;
                n = snprintf(NULL, 0, fmt, app_id);
                s = brook__xmalloc((size_t)n + 1);
                snprintf(s, (size_t)n + 1, fmt, app_id);
                conf->derived[i] = s;
        }
}

static brook_err_t brook__conf_set_owned(brook_conf_t *conf, int idx,
                                         const char *value, char *errstr,
                                         size_t errstr_size)
{
        char *store = NULL;
        brook_err_t err = brook__conf_validate(&brook__conf_props[idx], value,
                                               &store, errstr, errstr_size);
        if (err)
                return err;
        free(conf->vals[idx]);
        conf->vals[idx] = store;
        /* Derived defaults are made here rather than in brook_conf_get(), so
         * that get never writes to the conf and threads may read it. */
        if (idx == BROOK__P_APPLICATION_ID)
                brook__conf_derive(conf);
        return BROOK_OK;
}

static brook_err_t brook__conf_set_passthrough(brook_conf_t *conf,
                                               const char *name,
                                               const char *value, char *errstr,
                                               size_t errstr_size)
{
        brook__client_t client = BROOK__CLIENT_ALL;
        const char *rkname = name;
        brook__conf_kv_t *kv;
        brook_err_t err;
        size_t i;
        int c;

        for (c = BROOK__CLIENT_CONSUMER; c <= BROOK__CLIENT_ADMIN; c++) {
                size_t plen = strlen(brook__client_names[c]);
                if (!strncmp(name, brook__client_names[c], plen) &&
                    name[plen] == '.') {
                        client = (brook__client_t)c;
                        rkname = name + plen + 1;
                        break;
                }
        }

        if (client != BROOK__CLIENT_ALL && !*rkname) {
                brook__seterr(errstr, errstr_size,
                              "Unknown configuration property \"%s\": a "
                              "librdkafka property name must follow the "
                              "\"%s.\" prefix",
                              name, brook__client_names[client]);
                return BROOK_ERR_CONF_UNKNOWN;
        }
        /* Changelog offsets come from delivery reports and output must
         * not be lost: brook's producer needs every write acknowledged by
         * all in-sync replicas (Kafka's producer default since 3.0). */
        if ((client == BROOK__CLIENT_ALL || client == BROOK__CLIENT_PRODUCER) &&
            (!strcmp(rkname, "acks") ||
             !strcmp(rkname, "request.required.acks")) &&
            strcmp(value, "all") && strcmp(value, "-1")) {
                brook__seterr(errstr, errstr_size,
                              "Invalid value \"%s\" for configuration "
                              "property \"%s\": brook's producer needs "
                              "acks=all (or -1): with fewer acknowledgements "
                              "a changelog offset or an output record can be "
                              "lost",
                              value, name);
                return BROOK_ERR_CONF_INVALID;
        }
        if ((err = brook__rkprop_check(name, rkname, value, errstr,
                                       errstr_size))) {
                const char *suggest;
                /* A near miss of a brook property is likelier than a new
                 * librdkafka one. */
                if (err == BROOK_ERR_CONF_UNKNOWN &&
                    client == BROOK__CLIENT_ALL &&
                    (suggest = brook__conf_suggest(name)))
                        brook__seterr(errstr, errstr_size,
                                      "Unknown configuration property "
                                      "\"%s\" (did you mean \"%s\"?)",
                                      name, suggest);
                return err;
        }

        /* Setting a property again moves it to the end: applying the list
         * then replays the sets in the order librdkafka would have seen
         * them, so that of two aliases (linger.ms, queue.buffering.max.ms)
         * the one set last wins, as it would on an rd_kafka_conf_t. */
        for (i = 0; i < conf->kv_cnt; i++) {
                brook__conf_kv_t moved;
                if (strcmp(conf->kvs[i].name, name))
                        continue;
                moved = conf->kvs[i];
                memmove(&conf->kvs[i], &conf->kvs[i + 1],
                        (conf->kv_cnt - i - 1) * sizeof *conf->kvs);
                free(moved.value);
                moved.value = brook__xstrdup(value);
                conf->kvs[conf->kv_cnt - 1] = moved;
                return BROOK_OK;
        }
        if (conf->kv_cnt == conf->kv_cap) {
                conf->kv_cap = conf->kv_cap ? conf->kv_cap * 2 : 8;
                conf->kvs = brook__xrealloc(conf->kvs,
                                            conf->kv_cap * sizeof *conf->kvs);
        }
        kv = &conf->kvs[conf->kv_cnt++];
        kv->name = brook__xstrdup(name);
        kv->value = brook__xstrdup(value);
        kv->client = client;
        kv->rkname_off = (size_t)(rkname - name);
        return BROOK_OK;
}

static brook_err_t brook__conf_set0(brook_conf_t *conf, const char *name,
                                    const char *value, char *errstr,
                                    size_t errstr_size)
{
        int idx;
        size_t i;

        if (!name) {
                brook__seterr(errstr, errstr_size,
                              "Configuration property name is NULL");
                return BROOK_ERR_INVALID_ARG;
        }
        if (!value) {
                brook__seterr(errstr, errstr_size,
                              "Invalid value NULL for configuration property "
                              "\"%s\"",
                              name);
                return BROOK_ERR_CONF_INVALID;
        }
        for (i = 0;
             i < sizeof brook__conf_refused / sizeof brook__conf_refused[0];
             i++) {
                if (!strcmp(name, brook__conf_refused[i].name)) {
                        brook__seterr(errstr, errstr_size,
                                      "Configuration property \"%s\" is not "
                                      "supported: %s",
                                      name, brook__conf_refused[i].why);
                        return BROOK_ERR_CONF_UNKNOWN;
                }
        }
        if ((idx = brook__conf_find(name)) >= 0)
                return brook__conf_set_owned(conf, idx, value, errstr,
                                             errstr_size);
        return brook__conf_set_passthrough(conf, name, value, errstr,
                                           errstr_size);
}

brook_err_t brook_conf_set(brook_conf_t *conf, const char *name,
                           const char *value, char *errstr, size_t errstr_size)
{
        /* Formatted locally so the conf can remember the error even when
         * the caller passes no buffer. */
        char err_buf[1024];
        brook_err_t err;

        if (!conf) {
                brook__seterr(errstr, errstr_size,
                              "brook_conf_set: conf is "
                              "NULL");
                return BROOK_ERR_INVALID_ARG;
        }
        err_buf[0] = '\0';
        err = brook__conf_set0(conf, name, value, err_buf, sizeof err_buf);
        if (err) {
                brook__seterr(errstr, errstr_size, "%s", err_buf);
                if (!conf->error)
                        conf->error = brook__xstrdup(err_buf);
        }
        return err;
}

/* ------------------------------------------------------------------ get */

brook__guarantee_t brook__conf_guarantee(const brook_conf_t *conf)
{
        const char *v = conf->vals[BROOK__P_PROCESSING_GUARANTEE];
        return v && !strcmp(v, "exactly_once_v2")
                       ? BROOK__GUARANTEE_EXACTLY_ONCE_V2
                       : BROOK__GUARANTEE_AT_LEAST_ONCE;
}

static const char *brook__conf_value(const brook_conf_t *conf, int idx)
{
        const brook__conf_prop_t *prop = &brook__conf_props[idx];

        if (conf->vals[idx])
                return conf->vals[idx];
        if (prop->def_from_app_id)
                return conf->derived[idx];
        if (prop->def_eos &&
            brook__conf_guarantee(conf) == BROOK__GUARANTEE_EXACTLY_ONCE_V2)
                return prop->def_eos;
        return prop->def;
}

const char *brook_conf_get(const brook_conf_t *conf, const char *name)
{
        int idx;
        size_t i;

        if (!conf || !name)
                return NULL;
        if ((idx = brook__conf_find(name)) >= 0)
                return brook__conf_value(conf, idx);
        for (i = 0; i < conf->kv_cnt; i++)
                if (!strcmp(conf->kvs[i].name, name))
                        return conf->kvs[i].value;
        return NULL;
}

bool brook__conf_is_set(const brook_conf_t *conf, const char *name)
{
        int idx = brook__conf_find(name);

        return conf && idx >= 0 && conf->vals[idx];
}

const char *brook__conf_error(const brook_conf_t *conf)
{
        return conf ? conf->error : NULL;
}

int64_t brook__conf_int(const brook_conf_t *conf, const char *name)
{
        int idx = brook__conf_find(name);
        const char *v;
        int64_t n;

        /* Asking for a property that is not an owned integer is a bug in
         * brook; -1 is as good an answer as any and aborting a running
         * app over it would be worse. */
        if (idx < 0 || brook__conf_props[idx].type != BROOK__CONF_INT) {
                brook__log("ERROR",
                           "brook__conf_int: \"%s\" is not an "
                           "integer property",
                           name);
                return -1;
        }
        v = brook__conf_value(conf, idx);
        return v && brook__parse_int(v, &n) ? n : -1;
}

brook__handler_t brook__conf_handler(const brook_conf_t *conf, const char *name)
{
        int idx = brook__conf_find(name);
        const char *v;

        if (idx < 0 || brook__conf_props[idx].type != BROOK__CONF_ENUM ||
            idx == BROOK__P_PROCESSING_GUARANTEE) {
                brook__log("ERROR",
                           "brook__conf_handler: \"%s\" is not a "
                           "handler property",
                           name);
                return BROOK__HANDLER_FAIL;
        }
        v = brook__conf_value(conf, idx);
        if (!strcmp(v, "log_and_continue"))
                return BROOK__HANDLER_LOG_AND_CONTINUE;
        if (!strcmp(v, "dead_letter"))
                return BROOK__HANDLER_DEAD_LETTER;
        return BROOK__HANDLER_FAIL;
}

brook_invalid_timestamp_t brook__conf_ts_policy(const brook_conf_t *conf)
{
        const char *v = brook__conf_value(conf, BROOK__P_TS_EXTRACTOR);
        if (!strcmp(v, "LogAndSkipOnInvalidTimestamp"))
                return BROOK_INVALID_TIMESTAMP_LOG_AND_SKIP;
        if (!strcmp(v, "UsePartitionTimeOnInvalidTimestamp"))
                return BROOK_INVALID_TIMESTAMP_USE_PARTITION_TIME;
        return BROOK_INVALID_TIMESTAMP_FAIL;
}

const brook_serde_t *brook__conf_serde(const brook_conf_t *conf,
                                       const char *name)
{
        int idx = brook__conf_find(name);

        if (idx < 0 || brook__conf_props[idx].type != BROOK__CONF_SERDE)
                return NULL;
        return brook_serde_by_name(brook__conf_value(conf, idx), NULL, 0);
}

/* ---------------------------------------------------------------- apply */

static brook_err_t brook__conf_apply1(rd_kafka_conf_t *rkconf,
                                      const char *client, const char *name,
                                      const char *rkname, const char *value,
                                      char *errstr, size_t errstr_size)
{
        char rkerr[512] = "";

        if (rd_kafka_conf_set(rkconf, rkname, value, rkerr, sizeof rkerr) ==
            RD_KAFKA_CONF_OK)
                return BROOK_OK;
        brook__seterr(errstr, errstr_size,
                      "Configuration property \"%s\" cannot be applied to the "
                      "%s: %s",
                      name, client, rkerr);
        return BROOK_ERR_CONF_INVALID;
}

brook_err_t brook__conf_apply_rdkafka(const brook_conf_t *conf,
                                      const char *client,
                                      rd_kafka_conf_t *rkconf, char *errstr,
                                      size_t errstr_size)
{
        brook__client_t c;
        const char *bootstrap;
        brook_err_t err;
        size_t i;

        if (!conf || !client || !rkconf) {
                brook__seterr(errstr, errstr_size,
                              "brook__conf_apply_rdkafka: NULL argument");
                return BROOK_ERR_INVALID_ARG;
        }
        if (!strcmp(client, "consumer"))
                c = BROOK__CLIENT_CONSUMER;
        else if (!strcmp(client, "producer"))
                c = BROOK__CLIENT_PRODUCER;
        else if (!strcmp(client, "admin"))
                c = BROOK__CLIENT_ADMIN;
        else {
                brook__seterr(errstr, errstr_size,
                              "brook__conf_apply_rdkafka: unknown client "
                              "\"%s\" (expected consumer, producer or admin)",
                              client);
                return BROOK_ERR_INVALID_ARG;
        }

        /* Unset is left to the caller: the test driver needs no brokers
         * and brook_app_new() reports the missing property by name. */
        if ((bootstrap = conf->vals[BROOK__P_BOOTSTRAP_SERVERS]) &&
            (err = brook__conf_apply1(rkconf, client, "bootstrap.servers",
                                      "bootstrap.servers", bootstrap, errstr,
                                      errstr_size)))
                return err;

        /* Two passes so that a client's own setting wins over a general
         * one, whatever order they were set in. */
        for (i = 0; i < conf->kv_cnt; i++) {
                const brook__conf_kv_t *kv = &conf->kvs[i];
                if (kv->client != BROOK__CLIENT_ALL ||
                    !brook__rkprop_applies(kv->name, c))
                        continue;
                if ((err = brook__conf_apply1(rkconf, client, kv->name,
                                              kv->name, kv->value, errstr,
                                              errstr_size)))
                        return err;
        }
        for (i = 0; i < conf->kv_cnt; i++) {
                const brook__conf_kv_t *kv = &conf->kvs[i];
                if (kv->client != c)
                        continue;
                if ((err = brook__conf_apply1(rkconf, client, kv->name,
                                              kv->name + kv->rkname_off,
                                              kv->value, errstr, errstr_size)))
                        return err;
        }
        return BROOK_OK;
}
