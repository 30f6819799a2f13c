/*
 * brook — internal declarations shared by engine/, operators/ and tests.
 *
 * Internal non-static symbols carry the `brook__` prefix. Nothing here is
 * public API.
 */
#ifndef BROOK_INT_H
#define BROOK_INT_H

#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "brook/brook.h"

/* ------------------------------------------------------------------ util */

void *brook__xmalloc(size_t size);
void *brook__xcalloc(size_t n, size_t size);
void *brook__xrealloc(void *ptr, size_t size);
char *brook__xstrdup(const char *s);
/** A store's changelog topic, "<app_id>-<store>-changelog" (malloc'd): the
 *  topic its serdes are told also when logging is off. */
char *brook__changelog_topic(const char *app_id, const char *store);
/** snprintf into errstr, tolerating a NULL or zero-sized buffer. */
void brook__seterr(char *errstr, size_t errstr_size, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/**
 * Whether @p version, the version member of a program's @p strct (e.g.
 * "brook_consumed_t"), is one this brook reads: 0 (meaning 1) up to
 * @p current (see "Structs that grow" in brook.h). If not, writes to
 * @p errstr why, naming the struct.
 */
bool brook__version_ok(int version, int current, const char *strct,
                       char *errstr, size_t errstr_size);
/** Milliseconds of the monotonic clock / the wall clock. */
int64_t brook__now_mono_ms(void);
/** Nanoseconds of the monotonic clock. */
int64_t brook__now_mono_ns(void);
/** Sets *@p ts to @p ms milliseconds from now on clock @p clk (for a
 *  timed wait). */
void brook__deadline(struct timespec *ts, clockid_t clk, int64_t ms);
int64_t brook__now_wall_ms(void);

/* libcurl and libmicrohttpd are loaded when first used (dynlib.h). Whether
 * one is loaded: "curl" or "microhttpd" (tests). */
int brook__dynlib_loaded(const char *lib);
/* Tests: the file dlopen() is given for "curl" or "microhttpd" from now
 * on (NULL: the usual names again). Takes effect for a library not
 * loaded. */
void brook__dynlib_set_file(const char *lib, const char *file);

/** The topic serdes are called for on this thread (brook_serde_topic()). */
extern _Thread_local const char *brook__serde_topic_tl;

/** brook_serde_serialize() / brook_serde_deserialize() with serdes told
 *  @p topic (brook_serde_topic()), as Kafka's serializers are: the one
 *  way the engine gives serdes their topic. */
brook_err_t brook__serde_serialize_to(const char *topic,
                                      const brook_serde_t *serde,
                                      const void *obj, brook_buf_t *out,
                                      char *errstr, size_t errstr_size);
brook_err_t brook__serde_deserialize_from(const char *topic,
                                          const brook_serde_t *serde,
                                          const void *data, size_t size,
                                          brook_arena_t *arena, void **objp,
                                          char *errstr, size_t errstr_size);
/** Logs one line to stderr with a level and the app id. */
void brook__log(const char *level, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* A growable array of pointers. */
typedef struct brook__ptrvec {
        void **v;
        size_t cnt, cap;
} brook__ptrvec_t;
void brook__ptrvec_push(brook__ptrvec_t *pv, void *p);
void brook__ptrvec_free(brook__ptrvec_t *pv);

/* ------------------------------------------------------------------ conf */

typedef enum {
        BROOK__GUARANTEE_AT_LEAST_ONCE,
        BROOK__GUARANTEE_EXACTLY_ONCE_V2,
} brook__guarantee_t;

typedef enum {
        BROOK__HANDLER_FAIL,
        BROOK__HANDLER_LOG_AND_CONTINUE,
        BROOK__HANDLER_DEAD_LETTER,
} brook__handler_t;

/** The first error brook_conf_set() returned on @p conf, or NULL. */
const char *brook__conf_error(const brook_conf_t *conf);
/** Integer value of an owned numeric property (validated at set time). */
int64_t brook__conf_int(const brook_conf_t *conf, const char *name);
/** Whether brook's own property @p name was set (not defaulted). */
bool brook__conf_is_set(const brook_conf_t *conf, const char *name);
/** Whether @p s is a legal Kafka topic name (and so an application.id
 *  that can prefix one): 1 to 249 of [a-zA-Z0-9._-], not "." or "..". */
bool brook__topic_name_ok(const char *s);
/** Whether @p s is "host:port" (host: a name or an IPv4 address, or an
 *  IPv6 address in brackets; port: 1 to 65535, decimal). Sets @p host
 *  (without brackets; may be NULL) and *@p portp (may be NULL). */
bool brook__hostport_parse(const char *s, char *host, size_t host_size,
                           int *portp);
/** default.key.serde (@p key) or default.value.serde of the app (or
 *  driver) @p ctx runs in; NULL if unset. */
const brook_serde_t *brook__ctx_default_serde(brook_ctx_t *ctx, bool key);
/** The integer property @p name of the app (or driver) @p ctx runs in. */
int64_t brook__ctx_conf_int(brook_ctx_t *ctx, const char *name);

/** Kafka Streams' internal emit intervals (ms of wall clock), which its
 *  TopologyTestDriver sets to 0. */
#define BROOK__EMIT_INTERVAL_OUTER_JOIN                                        \
        "__emit.interval.ms.kstreams.outer.join.spurious.results.fix__"
#define BROOK__EMIT_INTERVAL_WINDOWED                                          \
        "__emit.interval.ms.kstreams.windowed.aggregation__"
brook__guarantee_t brook__conf_guarantee(const brook_conf_t *conf);
/** @p name is one of the three default.*.exception.handler properties. */
brook__handler_t brook__conf_handler(const brook_conf_t *conf,
                                     const char *name);
/**
 * A partition time as offset commit metadata, in Kafka Streams' form
 * (TopicPartitionMetadata version 1: base64 of a version byte and the
 * time, 8 bytes big-endian), so either reads the other's commits: 12
 * characters and a NUL into @p out; returns 12. Thread-safe.
 */
size_t brook__ptime_encode(int64_t partition_time, char out[13]);
/** The partition time in commit metadata @p metadata (@p size bytes:
 *  Kafka Streams' version 1 or 2), or -1 if there is none or it is not
 *  one. Thread-safe. */
int64_t brook__ptime_decode(const void *metadata, size_t size);
/** default.timestamp.extractor's policy (never _DEFAULT). */
brook_invalid_timestamp_t brook__conf_ts_policy(const brook_conf_t *conf);
/** Serde of default.key.serde / default.value.serde, or NULL if unset. */
const brook_serde_t *brook__conf_serde(const brook_conf_t *conf,
                                       const char *name);
/**
 * Applies to @p rkconf every pass-through property for client @p client
 * ("consumer", "producer" or "admin"): unprefixed librdkafka properties
 * first, then "<client>."-prefixed ones (prefix removed), so a prefixed
 * property wins. bootstrap.servers is applied too.
 */
brook_err_t brook__conf_apply_rdkafka(const brook_conf_t *conf,
                                      const char *client,
                                      rd_kafka_conf_t *rkconf, char *errstr,
                                      size_t errstr_size);

/* ----------------------------------------------------------------- serde */

struct brook_serde_s {
        const char *name;
        brook_serialize_fn serialize;
        brook_deserialize_fn deserialize;
        void *opaque;
        void (*opaque_destroy)(void *);
        int refcnt; /**< 0 for built-ins: never freed. */
};

const brook_serde_t *brook__serde_ref(const brook_serde_t *serde);

/** Writes the low @p n bytes of @p v at @p p, big-endian. */
static inline void brook__be_put(unsigned char *p, uint64_t v, int n)
{
        for (int i = n - 1; i >= 0; i--, v >>= 8)
                p[i] = (unsigned char)v;
}

/** Reads @p n big-endian bytes at @p p. */
static inline uint64_t brook__be_get(const unsigned char *p, int n)
{
        uint64_t v = 0;
        for (int i = 0; i < n; i++)
                v = v << 8 | p[i];
        return v;
}

/** splitmix64's finalizer: every input bit reaches the low bits a
 *  table's mask keeps. */
static inline uint64_t brook__hash_mix(uint64_t x)
{
        x ^= x >> 30;
        x *= 0xbf58476d1ce4e5b9ULL;
        x ^= x >> 27;
        x *= 0x94d049bb133111ebULL;
        x ^= x >> 31;
        return x;
}

/** A hash of @p size bytes at @p p for in-memory tables, eight bytes at a
 *  time (bytewise FNV showed in profiles), seeded with @p seed and the
 *  length. Not stable across builds: never stored. */
static inline uint64_t brook__hash_bytes(uint64_t seed, const void *p,
                                         size_t size)
{
        const unsigned char *b = p;
        uint64_t h = brook__hash_mix(seed) ^ size, w;

        for (; size >= 8; b += 8, size -= 8) {
                memcpy(&w, b, 8);
                h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
                h ^= h >> 32;
        }
        if (size) {
                w = 0;
                memcpy(&w, b, size);
                h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        }
        return brook__hash_mix(h);
}

/** A table update through a repartition topic (a table's group_by): the
 *  new and the old value, either NULL (not both). */
typedef struct brook__changed {
        void *new_value;
        void *old_value;
} brook__changed_t;
/** The serde of brook__changed_t values over @p inner (referenced), as
 *  Kafka Streams' ChangedSerializer (engine/serde_change.c). */
brook_serde_t *brook__serde_change(const brook_serde_t *inner);
/** A foreign-key join's subscription (Kafka Streams' SubscriptionWrapper,
 *  version 1) over the primary key's serde, and its response
 *  (SubscriptionResponseWrapper, version 0) over the foreign value's
 *  (operators/fk_join.c). Decoded objects are internal to the join. */
brook_serde_t *brook__serde_fk_subscription(const brook_serde_t *pk_serde);
brook_serde_t *brook__serde_fk_response(const brook_serde_t *value_serde);
void brook__serde_unref(const brook_serde_t *serde);
/**
 * Whether objects @p serde decodes may point into the bytes they were
 * decoded from (the bytes serde does; a user's serde may), so bytes that do
 * not outlive the arena must be copied into it first. The other built-ins
 * always copy. @p data is what to decode: returned as is, or as a copy in
 * @p arena.
 */
const void *brook__serde_stable(const brook_serde_t *serde, const void *data,
                                size_t size, brook_arena_t *arena);

/* ------------------------------------------------------------------- buf */

struct brook_buf_s {
        unsigned char *data;
        size_t len, cap;
};

/* --------------------------------------------------------------- headers */

typedef struct brook__header {
        const char *name;
        const void *value;
        size_t size;
} brook__header_t;

/** Headers of an input record: parsed from Kafka's on first use. */
typedef struct brook__headers {
        /** The input message whose headers librdkafka has not parsed yet
         *  (brook__headers_raw() does, once); NULL once parsed or for a
         *  record that did not come from Kafka. */
        const rd_kafka_message_t *msg;
        rd_kafka_headers_t *raw; /**< The input's, owned elsewhere; or NULL. */
        bool parsed;             /**< hdrs holds the truth once set. */
        bool changed;            /**< hdrs differs from raw. */
        brook__header_t *hdrs;   /**< In the arena. */
        size_t cnt, cap;
} brook__headers_t;

/* ---------------------------------------------------------------- record */

/** Metadata shared by every record derived from one input record. */
typedef struct brook__recmeta {
        const char *topic;
        int32_t partition;
        int64_t offset;
        brook__headers_t headers;
        /** The input's raw key and value (for dead-lettering). */
        const void *raw_key, *raw_value;
        size_t raw_key_size, raw_value_size;
} brook__recmeta_t;

struct brook_record_s {
        void *key;
        void *value;
        int64_t timestamp;
        brook__recmeta_t *meta;
        brook_arena_t *arena;
};

/** The input's headers in Kafka's form (owned by the input message), or
 *  NULL when it has none; parses them the first time. */
rd_kafka_headers_t *brook__headers_raw(brook__headers_t *h);
/** The headers to produce with a record derived from @p meta, as a new
 *  rd_kafka_headers_t (the caller owns it), or NULL when there are none.
 *  Unread and unchanged headers are the input's, copied untouched. */
rd_kafka_headers_t *brook__headers_to_kafka(brook__recmeta_t *meta);

/* -------------------------------------------------------------- topology */

typedef enum {
        BROOK__NODE_SOURCE,
        BROOK__NODE_PROCESSOR,
        BROOK__NODE_SINK,
} brook__node_kind_t;

typedef struct brook__node {
        char *name;
        brook__node_kind_t kind;
        int idx;         /**< Position in the builder's node list. */
        int subtopology; /**< Set by brook__topology_build(). */
        int *parents, *children;
        size_t parent_cnt, child_cnt;

        /* Source. */
        char **topics;
        size_t topic_cnt;
        char *pattern; /**< As given; NULL for a topic list. */
        regex_t regex; /**< "^(pattern)$" compiled. */
        bool internal; /**< Reads a repartition topic (name without the
                        *   application.id prefix in topics[0]). */
        /** Reads a global table's topic (brook_global_table()): its
         *  sub-topology makes no tasks; the app's global thread feeds it. */
        bool global;
        brook_timestamp_extractor_fn ts_extractor;
        void *ts_extractor_opaque;
        char *ts_field; /**< The JSON extractor's field, or NULL. */
        brook_timestamp_fallback_t ts_fallback;
        brook_invalid_timestamp_t ts_invalid; /**< 0: the runtime's. */

        /* Source and sink. */
        const brook_serde_t *key_serde, *value_serde;
        /** Values are the DSL's own objects (a table update, a foreign-key
         *  join's subscription or response): the topology wraps the value
         *  serde given, or the default (default.key.serde if
         *  value_wrap_key, else default.value.serde), in value_wrap()
         *  (once: value_wrapped). */
        brook_serde_t *(*value_wrap)(const brook_serde_t *inner);
        bool value_wrap_key, value_wrapped;

        /* Processor. */
        brook_processor_def_t def;
        /** An internal operator's hint that a record with raw key bytes
         *  @p key reaches it soon (@p near: the next record, else the one
         *  after), so its store lookup can be fetched into the CPU cache
         *  ahead (brook__kvstore_prefetch()). Called with the node's state
         *  only once its init has run; must change nothing. */
        void (*prefetch)(void *state, const void *key, size_t key_size,
                         bool near);
        /** Sources: the nodes below with a prefetch hook, set when the
         *  topology is built; the task calls them for queued records. */
        int *prefetch_nodes;
        size_t prefetch_cnt;
        /** A join: the sub-topology's topics are one co-partition group
         *  (its repartition topics take the group's partition count). */
        bool copartition;
        /** A left or outer join (Kafka Streams' NULL_KEY_RELAXED_JOIN):
         *  a repartition anywhere upstream lets null keys through. */
        bool relaxed_join;
        /** A repartition's filter, and (set when the topology is built,
         *  as Kafka Streams' rewriteRepartitionNodes()) whether it lets
         *  null keys through: some node below it, across repartition
         *  topics too, is a relaxed join. */
        bool null_key_filter, keep_null_keys;

        /* Sink. */
        char *topic;        /**< Fixed topic (repartition: the suffix). */
        bool sink_internal; /**< Writes a repartition topic. */
        int32_t repartition_num_partitions; /**< 0: inherit. */
        brook_topic_chooser_fn chooser;
        void *chooser_opaque;
        brook_partitioner_fn partitioner;
        void *partitioner_opaque;
} brook__node_t;

struct brook_builder_s {
        brook__ptrvec_t nodes;   /**< brook__node_t *, in creation order. */
        brook__ptrvec_t stores;  /**< brook__storedef_t *, in creation
                                  *   order (statestore/store_int.h). */
        brook__ptrvec_t handles; /**< DSL handles freed with the builder. */
        brook__ptrvec_t serdes;  /**< Serdes the DSL made (a reference
                                  *   each), dropped with the builder. */
        int next_index;          /**< For generated names. */
        char *error;             /**< First error, or NULL. */
};

/** Records @p b's first error (later ones are dropped) and writes it to
 *  @p errstr as well. */
void brook__builder_fail(brook_builder_t *b, char *errstr, size_t errstr_size,
                         const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/** The next generated name: "<prefix>-%010d". Allocated; caller frees. */
char *brook__builder_new_name(brook_builder_t *b, const char *prefix);
brook__node_t *brook__builder_node(const brook_builder_t *b, const char *name);
/** Registers a DSL handle to be freed (free()) with @p b. */
void brook__builder_keep(brook_builder_t *b, void *handle);
/** Hands @p b the caller's reference to @p serde (one the DSL made):
 *  dropped with the builder. Returns @p serde. */
const brook_serde_t *brook__builder_keep_serde(brook_builder_t *b,
                                               brook_serde_t *serde);

/** A built topology: sub-topologies over the builder's nodes, resolved
 *  with a configuration. */
typedef struct brook__subtopo {
        int id;
        brook__ptrvec_t nodes;   /**< brook__node_t *, in creation order. */
        brook__ptrvec_t sources; /**< Source nodes. */
        int32_t partitions;      /**< Resolved at start-up; 1 in the driver. */
        /** A global table's source and store (Kafka Streams' "for global
         *  store" sub-topology): no stream thread makes tasks of it. */
        bool global;
} brook__subtopo_t;

/**
 * The order in which Kafka Streams' describe lists sub-topology @p sub's
 * nodes (into @p nodes_out, builder indexes) and, for the node at each
 * position i, its successors and predecessors (into @p succ_out[i] and
 * @p pred_out[i], sized for the node's children and parents; their counts
 * into @p succ_cnt[i] and @p pred_cnt[i]). See describe_order.c.
 */
/** Java's String.hashCode() of UTF-8 @p s (over its UTF-16 code units),
 *  for orders Kafka Streams' describe takes from HashMaps. */
int32_t brook__java_string_hash(const char *s);

void brook__describe_order(const brook_builder_t *b,
                           const brook__subtopo_t *sub, int *nodes_out,
                           int **succ_out, size_t *succ_cnt, int **pred_out,
                           size_t *pred_cnt);

typedef struct brook__topology {
        brook_builder_t *b;
        brook__subtopo_t *subs;
        size_t sub_cnt;
        char *app_id;
        /** Default serdes from the conf (may be NULL). */
        const brook_serde_t *default_key_serde, *default_value_serde;
} brook__topology_t;

/**
 * Splits @p b into sub-topologies, checks it (serdes present, every
 * processor reachable from a source, sinks have a topic), and fills in the
 * default serdes. Full repartition topic names are "<app_id>-<suffix>".
 * With a NULL @p conf only the structure is built and checked (describe).
 */
brook_err_t brook__topology_build(brook__topology_t *topo, brook_builder_t *b,
                                  const brook_conf_t *conf, char *errstr,
                                  size_t errstr_size);
void brook__topology_free(brook__topology_t *topo);
/** The source node that reads @p topic (full name), or NULL. */
brook__node_t *brook__topology_source_for(const brook__topology_t *topo,
                                          const char *topic);
/** Full topic name of an internal (repartition) topic suffix, allocated. */
char *brook__topology_internal_topic(const brook__topology_t *topo,
                                     const char *suffix);

/* ------------------------------------------------------------------ task */

/**
 * Where sinks send records: the Kafka producer in an app, in-memory topics
 * in the test driver.
 */
typedef struct brook__collector {
        /** Takes @p hdrs (may be NULL) in all cases. @p partition is -1 for
         *  the default partitioner. */
        brook_err_t (*send)(struct brook__collector *col, const char *topic,
                            int32_t partition, const void *key, size_t key_size,
                            const void *value, size_t value_size,
                            int64_t timestamp, rd_kafka_headers_t *hdrs,
                            char *errstr, size_t errstr_size);
        /** Partition count of @p topic, or -1 if unknown. */
        int32_t (*partition_cnt)(struct brook__collector *col,
                                 const char *topic);
        /** Sends a changelog record (@p value NULL: a tombstone) to
         *  @p topic / @p partition; once it is delivered, *@p endp becomes
         *  its offset + 1 (if larger). @p endp must outlive the delivery. */
        brook_err_t (*send_changelog)(struct brook__collector *col,
                                      const char *topic, int32_t partition,
                                      const void *key, size_t key_size,
                                      const void *value, size_t value_size,
                                      int64_t timestamp, int64_t *endp,
                                      char *errstr, size_t errstr_size);
        /** A slot for the changelog end of @p topic / @p partition that
         *  lives as long as the collector; starts at -1. */
        int64_t *(*changelog_slot)(struct brook__collector *col,
                                   const char *topic, int32_t partition);
} brook__collector_t;

/** One input record waiting in a task's queue. */
typedef struct brook__inrec {
        const char *topic;
        int32_t partition;
        int64_t offset;
        int64_t timestamp;
        const void *key, *value;
        size_t key_size, value_size;
        rd_kafka_headers_t *headers; /**< Owned by @p owner; may be NULL. */
        /** If set, the headers are this message's, parsed only when
         *  something asks for them (@p headers is then NULL): most records
         *  pass through without anyone looking. */
        const rd_kafka_message_t *msg;
        void *owner; /**< rd_kafka_message_t *, or driver's. */
} brook__inrec_t;

/**
 * The headers of the dead-letter copy of input record @p in: the input's
 * own, then KIP-1034's __streams.errors.* headers saying what failed
 * (@p exception, @p msg) and where (topic, partition, offset, task
 * @p task_id). The caller owns the result. Thread-safe.
 */
rd_kafka_headers_t *brook__dead_letter_headers(const brook__inrec_t *in,
                                               const char *task_id,
                                               const char *exception,
                                               const char *msg);

/* Headers of a dead-letter record cut to fit: what was cut ("value",
 * "key" or "key,value") and the original sizes of the key and value
 * (decimal; absent for a null one). */
#define BROOK__DLQ_TRUNCATED  "__streams.errors.truncated"
#define BROOK__DLQ_KEY_SIZE   "__streams.errors.original.key.size"
#define BROOK__DLQ_VALUE_SIZE "__streams.errors.original.value.size"

/**
 * Fits a dead-letter record (key @p key of *@p key_size bytes, value
 * @p value, headers @p hdrs) within @p limit bytes as
 * brook__record_wire_size() counts them (0: no limit). If it is larger,
 * the value is cut first, then the key, to exactly what fits, and @p hdrs
 * gets the BROOK__DLQ_* headers (a record cut before keeps its original
 * sizes); the sizes are updated. Returns false when even an empty key and
 * value would not fit (@p hdrs may then hold some of the headers).
 */
bool brook__dead_letter_fit(rd_kafka_headers_t *hdrs, int64_t limit,
                            const void *key, size_t *key_size,
                            const void *value, size_t *value_size);

/** What a queue's head record is waiting for (brook__pqueue_t). Its
 *  timestamp is extracted when it becomes the head (Kafka Streams'
 *  RecordQueue.updateHead()); records behind it wait raw. */
typedef enum {
        BROOK__HEAD_NONE,  /**< Not extracted (or the queue is empty). */
        BROOK__HEAD_READY, /**< head_ts is its timestamp. */
        /** Its key or value did not decode (for a user extractor): the
         *  deserialization handler has it next, whatever its time. */
        BROOK__HEAD_DESER,
        /** Its timestamp head_ts is invalid and the policy fails: the task
         *  fails on it next. */
        BROOK__HEAD_INVALID,
        /** (Extraction result only) dropped under LogAndSkip. */
        BROOK__HEAD_SKIP,
} brook__head_t;

/** A FIFO of input records of one topic-partition (Kafka Streams'
 *  RecordQueue). */
typedef struct brook__pqueue {
        char *topic;
        int32_t partition;
        brook__node_t *source;
        brook__inrec_t *ring;
        size_t head, cnt, cap;
        int64_t next_offset; /**< Offset to commit: last processed + 1;
                              *   -1 if nothing processed. */
        int64_t committed;   /**< Last committed next_offset. */
        /** Repartition topics: the offset records were last deleted up
         *  to (-1: never). */
        int64_t purged;
        /** Partition time: the largest timestamp of the records taken
         *  from this queue to be processed; -1 before the first. */
        int64_t partition_time;
        brook__head_t head_state;
        int64_t head_ts; /**< READY: the head's timestamp. */
        /** Stream threads, for the fetched lag: the offset after the last
         *  message consumed, and where the consumer last reported the end
         *  of the partition (-1: not yet). */
        int64_t fetch_pos, eof_pos;
        /** Stream threads: the fetched lag as last worked out, in the
         *  thread's round lag_round (0: not since fetch_pos or eof_pos
         *  moved). Kafka Streams reads the lag its last poll reported;
         *  a task asks before each record, and the consumer's answer
         *  takes a lock and a look-up by topic name. */
        uint64_t lag_round;
        int64_t lag;
        /** max.task.idle.ms: when waiting for this (empty) partition ends,
         *  on the wall clock; -1 while not waiting. */
        int64_t idle_deadline;
} brook__pqueue_t;

typedef struct brook__punctuator {
        int id;
        int node_idx;
        brook_punctuation_type_t type;
        int64_t interval;
        int64_t next; /**< Due time; -1 until the first stream time. */
        brook_punctuate_fn fn;
        void *opaque;
        bool cancelled;
} brook__punctuator_t;

typedef struct brook__task brook__task_t;

struct brook_ctx_s {
        brook__task_t *task;
        brook__node_t *node;
        void *state;
        bool inited;
        char *sink_topic; /**< Sinks: the resolved fixed topic. */
        /** Records the node took (metrics.recording.level DEBUG only). */
        int64_t processed;
};

struct brook__stateenv;
struct brook__cache;

/** How many drop reasons there are (brook_drop_reason_t). */
#define BROOK__DROP_CNT ((int)BROOK_DROP_OUT_OF_ORDER + 1)

/** What the runtime (app thread or driver) lends a task. */
typedef struct brook__runtime {
        brook__collector_t *collector;
        const brook__topology_t *topo;
        const brook_conf_t *conf;
        brook__handler_t deser_handler, proc_handler, prod_handler;
        char *dlq_topic;
        /** Wall clock for punctuation: real or mocked. */
        int64_t (*wall_clock)(struct brook__runtime *rt);
        brook_buf_t *keybuf, *valbuf; /**< Scratch for sinks. */
        brook_arena_t *arena;         /**< Per input record; reset after. */
        /** State: the db and this thread's batch, its record cache (NULL:
         *  statestore.cache.max.bytes is 0), state.dir/<application.id>. */
        struct brook__stateenv *env;
        struct brook__cache *cache;
        char *state_dir;
        /* Counters (only the owning thread writes them). Count drops with
         * brook__drop() only. */
        int64_t processed, produced, dead_lettered;
        int64_t drops[BROOK__DROP_CNT];
        /** Where drops[] is published as each drop happens (a stream or
         *  global thread's counters; NULL in the test driver): a process
         *  killed right after a drop has still shown it, and the total
         *  (brook__drops_sum()) and the reasons agree at any time. */
        _Atomic long long *drops_pub;
        int64_t punctuations; /**< Punctuators called (both types). */
        /** metrics.recording.level is DEBUG: nodes count their records. */
        bool metrics_debug;
        /** Drop warnings' rate limit, per reason: when the next may be
         *  logged (wall_clock ms) and how many went unlogged since. */
        int64_t drop_warn_next[BROOK__DROP_CNT];
        int64_t drop_unlogged[BROOK__DROP_CNT];
        /** The largest record the producer takes, as librdkafka measures
         *  it (message.max.bytes); 0 for no limit. */
        int64_t max_record_bytes;
        /** Event time: default.timestamp.extractor's policy,
         *  max.task.idle.ms, and the scratch arena user extractors' records
         *  are decoded into (made on first use, reset after each call). */
        brook_invalid_timestamp_t ts_policy;
        int64_t max_task_idle_ms;
        brook_arena_t *ts_arena;
        /** The fetched lag of @p q's partition: how many records the
         *  broker is known to have past what was consumed, 0, or -1 when
         *  unknown (Kafka Streams' consumer.currentLag()). */
        int64_t (*fetched_lag)(struct brook__runtime *rt, brook__pqueue_t *q);
        /** Times a task processed while max.task.idle.ms gave up waiting
         *  for an empty partition (Kafka Streams' enforced-processing). */
        int64_t enforced;
        /** The instance of global store @p name (brook_global_table()),
         *  or NULL; and whether other threads write it (an app's global
         *  thread: read it with query_get) or this one does (the test
         *  driver). */
        struct brook__store *(*global_store)(struct brook__runtime *rt,
                                             const char *name);
        bool global_shared;
} brook__runtime_t;

/**
 * Sets up @p rt (zeroed) for @p collector, @p topo and @p conf: the
 * exception handlers, the dead-letter topic, the timestamp policy,
 * max.task.idle.ms, and the scratch buffers and arena; @p wall_clock and
 * @p fetched_lag are the owner's (a stream thread, the global thread, the
 * test driver), which sets the rest.
 */
void brook__runtime_init(brook__runtime_t *rt, brook__collector_t *collector,
                         const brook__topology_t *topo,
                         const brook_conf_t *conf,
                         int64_t (*wall_clock)(brook__runtime_t *rt),
                         int64_t (*fetched_lag)(brook__runtime_t *rt,
                                                brook__pqueue_t *q));
/** Frees what brook__runtime_init() made (not the cache or env). */
void brook__runtime_free(brook__runtime_t *rt);

/**
 * Counts a record dropped for @p reason in @p rt and logs why as a WARN
 * (the message from @p fmt), rate-limited per reason: the first, then at
 * most one every 10 s, saying how many drops went unlogged in between.
 * Owning thread only.
 */
void brook__drop(brook__runtime_t *rt, brook_drop_reason_t reason,
                 const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** The drops in all of @p pub, a runtime's published drops[]
 *  (brook__runtime_t.drops_pub). Any thread. */
int64_t brook__drops_sum(const _Atomic long long *pub);

/** The context's record dropped for @p reason at node @p ctx: counted and
 *  logged with its topic, partition and offset (Kafka Streams' "Skipping
 *  record due to ..." warning). */
void brook__ctx_drop(brook_ctx_t *ctx, const brook_record_t *rec,
                     brook_drop_reason_t reason, const char *why);
/** Fails the task of @p ctx past any exception handler (Kafka Streams'
 *  StreamsException): the record, flush or punctuation that led here ends
 *  the task with "in node \"<node>\": <message>". The caller then returns
 *  an error from process(). */
void brook__ctx_fatal(brook_ctx_t *ctx, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/**
 * Wire size limit arithmetic for a record of librdkafka (its
 * rd_kafka_msg_max_wire_size(), with header sizes counted at their
 * largest): what a record of key @p key_size, value @p value_size and
 * headers @p hdrs (may be NULL) counts against message.max.bytes, or more.
 */
size_t brook__record_wire_size(size_t key_size, size_t value_size,
                               const rd_kafka_headers_t *hdrs);

struct brook__task {
        char id[32];
        int sub_id;
        int32_t partition;
        brook__subtopo_t *sub;
        brook__runtime_t *rt;
        brook_ctx_t *ctxs; /**< Indexed by node idx (builder-wide);
                            *   only this sub-topology's are set. */
        size_t ctx_cnt;
        brook__ptrvec_t queues; /**< brook__pqueue_t * */
        int64_t stream_time;
        brook__punctuator_t *puncs;
        size_t punc_cnt, punc_cap;
        int next_punc_id;
        size_t queued; /**< Records across queues. */
        /** Store instances (brook__store_t *), in the builder's order. */
        brook__ptrvec_t stores;
        /** Its stores are restoring (stream threads only): its processors
         *  are not initialised yet and it processes nothing. */
        bool restoring;
        /** Timestamp of the record (or punctuation) being processed: what
         *  a cache entry written now remembers. */
        int64_t cur_ts;
        /** The reason of the last node that failed below a forward (already
         *  naming that node) and its code, while fwd_failed: a processor
         *  that returns it unchanged passes that failure on rather than
         *  failing itself. Cleared by every node that succeeds. */
        char fwd_errbuf[512];
        brook_err_t fwd_err;
        bool fwd_failed;
        /** Set when a sink's record could not be produced and the
         *  production handler is fail: the error (prod_errbuf, naming the
         *  topic and the cause) stops the task whatever the processing
         *  handler says. */
        bool prod_failed;
        char prod_errbuf[512];
        /** Set by brook__ctx_fatal(): a processor's failure that stops the
         *  task whatever the processing handler says (a full suppression
         *  buffer that shuts down when full); fatal_errbuf names the node
         *  and the cause. */
        bool fatal_failed;
        char fatal_errbuf[512];
};

brook__task_t *brook__task_new(brook__runtime_t *rt, brook__subtopo_t *sub,
                               int32_t partition);
/** Opens the task's instance of every store of its sub-topology (they
 *  start RESTORING; the runtime restores them, then calls init). */
brook_err_t brook__task_open_stores(brook__task_t *task, char *errstr,
                                    size_t errstr_size);
/** Commit, step 1: caching stores write down and forward dirty entries. */
brook_err_t brook__task_flush_caches(brook__task_t *task, char *errstr,
                                     size_t errstr_size);
/** Commit, step 2 (after the producer flushed): each store stages its
 *  changelog offset with its data. */
brook_err_t brook__task_flush_stores(brook__task_t *task, char *errstr,
                                     size_t errstr_size);
/** Runs init() of every processor; on failure returns the error. */
brook_err_t brook__task_init(brook__task_t *task, char *errstr,
                             size_t errstr_size);

/* ------------------------------------------------------------- commits */

typedef enum {
        BROOK__COMMIT_DONE,    /**< Output delivered, state written,
                                *   offsets committed (or nothing to). */
        BROOK__COMMIT_STALLED, /**< Records could not be delivered in time:
                                *   nothing written or committed; retry. */
        BROOK__COMMIT_FAILED,  /**< Fatal; the reason is in errstr. */
        BROOK__COMMIT_ABORTED, /**< exactly_once_v2: the transaction was
                                *   aborted; nothing of it is written or
                                *   committed, and the tasks must go back
                                *   to their committed offsets. */
} brook__commit_t;

/** What a commit needs of whoever commits (a stream thread, the test
 *  driver): see engine/commit.c. */
typedef struct brook__commit_io {
        /** Delivers everything sent so far: DONE, STALLED (nothing is
         *  written or committed; the commit is tried again later) or
         *  FAILED with the reason. Sets *@p again when the caches must be
         *  flushed again (delivering made them dirty). */
        brook__commit_t (*deliver)(void *opaque, bool *again, char *errstr,
                                   size_t errstr_size);
        /** Commits the input offsets of what was processed: at least
         *  once, after the state is written (or its write failed while
         *  every store has a changelog), and a failure it only logs is
         *  DONE; transactional, before the state is written, with
         *  everything sent since the last commit, in one transaction. */
        brook__commit_t (*commit_offsets)(void *opaque, char *errstr,
                                          size_t errstr_size);
        void *opaque;
        /** exactly_once_v2: the state is written only once the
         *  transaction committed (what is written then matches what Kafka
         *  holds). */
        bool transactional;
} brook__commit_io_t;

struct brook__statebatch;
/**
 * Commits @p tasks (brook__task_t *; restoring ones are left alone): the
 * caches flush, @p io delivers, the stores stage their changelog offsets
 * into @p batch (NULL: no RocksDB), the batch is written, then @p io
 * commits the offsets (transactional: the other way round). On FAILED the
 * reason is in @p errstr, and the error of the flush or the write that
 * failed in *@p errp (BROOK_OK when it was @p io's). On ABORTED the batch
 * still holds the aborted writes: the caller discards them.
 */
brook__commit_t brook__commit(brook__ptrvec_t *tasks,
                              struct brook__statebatch *batch,
                              const brook__commit_io_t *io, brook_err_t *errp,
                              char *errstr, size_t errstr_size);
/** Failures the test driver injects into its next commit, for tests of
 *  the commit sequence (brook__td_fail_next()). */
typedef enum {
        BROOK__TD_FAIL_NONE,
        /** A record is not delivered: under exactly_once_v2 the
         *  transaction aborts; at least once the commit fails. */
        BROOK__TD_FAIL_DELIVER,
        /** Committing the transaction requires an abort. */
        BROOK__TD_FAIL_COMMIT_ABORT,
        /** Committing the transaction fails once, retriably. */
        BROOK__TD_FAIL_COMMIT_RETRY,
        /** Writing the state batch fails. */
        BROOK__TD_FAIL_STATE_WRITE,
        /** exactly_once_v2: applying the committed state batch fails on
         *  its writer thread, after the commit returned. */
        BROOK__TD_FAIL_STATE_APPLY,
} brook__td_fail_t;

struct brook_test_driver_s;
/** Makes the next commit of @p td fail as @p fail says. */
void brook__td_fail_next(struct brook_test_driver_s *td, brook__td_fail_t fail);
/** Transactions @p td aborted so far. */
int64_t brook__td_aborts(const struct brook_test_driver_s *td);

/** Runs close() of every processor and frees the task. Queued records
 *  are released with @p release. */
void brook__task_destroy(brook__task_t *task,
                         void (*release)(brook__inrec_t *));
/** The queue of (topic, partition), created if needed. */
brook__pqueue_t *brook__task_queue(brook__task_t *task, const char *topic,
                                   brook__node_t *source);
/**
 * Queues input record @p in in @p q of @p task. If it is the queue's head,
 * its timestamp is extracted now (the source's extractor, with the
 * invalid-timestamp policy; a record skipped under LogAndSkip is counted,
 * done, and released with @p release, and the next one is taken).
 */
void brook__task_enqueue(brook__task_t *task, brook__pqueue_t *q,
                         const brook__inrec_t *in,
                         void (*release)(brook__inrec_t *));
/**
 * Whether @p task may process its next record at wall-clock time @p now
 * (Kafka Streams' PartitionGroup.readyToProcess()): it has records and,
 * unless max.task.idle.ms is -1, every empty partition is known to have
 * nothing more on the broker (fetched lag 0) and has been waited for
 * max.task.idle.ms. Processing with an empty partition counts in
 * rt->enforced. A head that fails or goes to the deserialization handler
 * needs no wait.
 */
bool brook__task_ready(brook__task_t *task, int64_t now);

/**
 * Processes the queued record with the lowest timestamp, then releases it
 * with @p release; the caller checked brook__task_ready(). Returns
 * BROOK_OK (also when the record was dropped or dead-lettered by a
 * handler), or BROOK_ERR_FATAL with @p errstr naming topic, partition,
 * offset and the cause; on fatal error the record is not counted as
 * processed (its offset is not committed).
 */
brook_err_t brook__task_process_one(brook__task_t *task,
                                    void (*release)(brook__inrec_t *),
                                    char *errstr, size_t errstr_size);
/** Fires due wall-clock punctuators. */
brook_err_t brook__task_punctuate_wall(brook__task_t *task, int64_t now,
                                       char *errstr, size_t errstr_size);

#endif
