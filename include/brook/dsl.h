/*
 * brook — the streams DSL (Kafka Streams' KStream, KGroupedStream, KTable).
 *
 * Every operator adds processor nodes through the Processor API
 * (processor.h) and returns a new stream handle. Handles (streams, splits,
 * grouped streams, tables) belong to the builder and are freed with it (or
 * with the app or test driver that took it); never free them yourself. They
 * are used on the builder's thread while the topology is built.
 *
 * Errors: a call on a NULL handle returns NULL; the call that first failed
 * returned NULL and recorded its reason in the builder. So a chain of calls
 * is checked once, at the end, with brook_builder_error() (the one place to
 * look), and brook_app_new() / brook_test_driver_new() refuse the builder
 * with that reason.
 *
 * Threads: the functions passed to operators (predicates, mappers,
 * aggregators...) run on the stream threads, for every task at once, with
 * the same @p opaque: it must be immutable or thread-safe. They cannot
 * fail; a function that can fails belongs in a processor
 * (brook_stream_process()).
 *
 * Node names are generated as Kafka Streams does (KSTREAM-FILTER-0000000001,
 * numbered in the order operators are added, so they are stable for the
 * same program); brook_stream_as() names the node that made a stream.
 *
 * User functions receive the record being processed; objects they return
 * must live at least as long as that record: allocate them with
 * brook_record_alloc(), or hand them to brook_arena_defer(), or return
 * static data or parts of the input.
 */
#ifndef BROOK_DSL_H
#define BROOK_DSL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "processor.h"
#include "store.h"
#include "window_store.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

typedef struct brook_stream_s brook_stream_t;
typedef struct brook_split_s brook_split_t;
typedef struct brook_emitter_s brook_emitter_t;

/* ---------------------------------------------------------------- sources */

/** A stream of @p topic. @p consumed may be NULL. */
brook_stream_t *brook_stream(brook_builder_t *b, const char *topic,
                             const brook_consumed_t *consumed);
/** A stream of several topics (one source node). */
brook_stream_t *brook_stream_topics(brook_builder_t *b,
                                    const char *const *topics, size_t topic_cnt,
                                    const brook_consumed_t *consumed);
/** A stream of every topic whose whole name matches the POSIX extended
 *  regular expression @p pattern, including topics created later.
 *  A topic is read by one source: a pattern that matches a topic another
 *  source names (a global table's included), or a topic named after a
 *  pattern that matches it, fails the builder with both sources named, as
 *  Kafka Streams' TopologyException does. (Kafka Streams lets a pattern
 *  match a global table's topic that was added first, and leaves that
 *  topic out of the pattern's; brook refuses both orders.) */
brook_stream_t *brook_stream_pattern(brook_builder_t *b, const char *pattern,
                                     const brook_consumed_t *consumed);

/** Names the node that made @p s (before anything is attached to it).
 *  Returns @p s, or NULL if the name is taken or @p s already has
 *  children. */
brook_stream_t *brook_stream_as(brook_stream_t *s, const char *name);

/* ------------------------------------------------------------- functions */

typedef bool (*brook_predicate_fn)(const brook_record_t *rec, void *opaque);
/** Returns the new value. */
typedef void *(*brook_value_mapper_fn)(const brook_record_t *rec, void *opaque);
/** Returns the new key. */
typedef void *(*brook_key_selector_fn)(const brook_record_t *rec, void *opaque);
/** Sets the new key and value; *keyp and *valuep start as the record's. */
typedef void (*brook_kv_mapper_fn)(const brook_record_t *rec, void **keyp,
                                   void **valuep, void *opaque);
/** Emits zero or more records with brook_emit(). */
typedef void (*brook_flat_mapper_fn)(const brook_record_t *rec,
                                     brook_emitter_t *out, void *opaque);
typedef void (*brook_action_fn)(const brook_record_t *rec, void *opaque);

/** Emits one record from a flat mapper. In flat_map_values @p key is
 *  ignored and the input's key kept. */
void brook_emit(brook_emitter_t *out, void *key, void *value);

/* -------------------------------------------------------------- operators */

/** Records for which @p pred is true (KStream.filter). */
brook_stream_t *brook_stream_filter(brook_stream_t *s, brook_predicate_fn pred,
                                    void *opaque);
/** Records for which @p pred is false (KStream.filterNot). */
brook_stream_t *brook_stream_filter_not(brook_stream_t *s,
                                        brook_predicate_fn pred, void *opaque);
/** New key and value per record. The key changes, so a later stateful
 *  operation repartitions. The result's serdes are the defaults unless set
 *  at the sink. */
brook_stream_t *brook_stream_map(brook_stream_t *s, brook_kv_mapper_fn fn,
                                 void *opaque);
/** New value per record; key and key serde kept. */
brook_stream_t *brook_stream_map_values(brook_stream_t *s,
                                        brook_value_mapper_fn fn, void *opaque);
/** Zero or more records per record, new keys allowed. */
brook_stream_t *brook_stream_flat_map(brook_stream_t *s,
                                      brook_flat_mapper_fn fn, void *opaque);
/** Zero or more values per record, key kept. */
brook_stream_t *brook_stream_flat_map_values(brook_stream_t *s,
                                             brook_flat_mapper_fn fn,
                                             void *opaque);
/** New key per record, value kept. */
brook_stream_t *brook_stream_select_key(brook_stream_t *s,
                                        brook_key_selector_fn fn, void *opaque);
/** Calls @p fn for each record and passes the record on unchanged. */
brook_stream_t *brook_stream_peek(brook_stream_t *s, brook_action_fn fn,
                                  void *opaque);
/** Calls @p fn for each record; a terminal operation. */
void brook_stream_foreach(brook_stream_t *s, brook_action_fn fn, void *opaque);

/**
 * Splits @p s into branches (KStream.split): each record goes to the first
 * branch whose predicate holds, else to the default branch, else nowhere.
 * As in Kafka Streams, the split node is named @p prefix (or
 * "KSTREAM-BRANCH-<n>"), and each branch node that name followed by the
 * branch name (or its 1-based number; "0" for an unnamed default branch).
 */
brook_split_t *brook_stream_split(brook_stream_t *s, const char *prefix);
/** Adds a branch; returns its stream. */
brook_stream_t *brook_split_branch(brook_split_t *sp, brook_predicate_fn pred,
                                   void *opaque, const char *name);
/** The branch of records no predicate took; call last, at most once. */
brook_stream_t *brook_split_default(brook_split_t *sp, const char *name);

/** Records of both streams (KStream.merge). */
brook_stream_t *brook_stream_merge(brook_stream_t *a, brook_stream_t *b);

/** Runs a custom processor (KStream.process); its forwards form the
 *  result. @p name may be NULL. */
brook_stream_t *brook_stream_process(brook_stream_t *s,
                                     const brook_processor_def_t *def,
                                     const char *name);

/* ------------------------------------------------------------------ sinks */

/** Writes @p s to @p topic (KStream.to). @p produced may be NULL. */
void brook_stream_to(brook_stream_t *s, const char *topic,
                     const brook_produced_t *produced);
/** Writes each record to the topic @p chooser picks. */
void brook_stream_to_chooser(brook_stream_t *s, brook_topic_chooser_fn chooser,
                             void *opaque, const brook_produced_t *produced);

/** How brook_stream_repartition() writes its topic. */
typedef struct brook_repartitioned_s {
        /** Topic is "<application.id>-<name>-repartition"; NULL generates
         *  a name from the node number. */
        const char *name;
        const brook_serde_t *key_serde;
        const brook_serde_t *value_serde;
        /** 0: as many partitions as the upstream sub-topology's input. */
        int32_t num_partitions;
        brook_partitioner_fn partitioner;
        void *partitioner_opaque;
        /** 0 or BROOK_REPARTITIONED_VERSION. See "Structs that grow" in
         * brook.h. */
        int version;
} brook_repartitioned_t;
#define BROOK_REPARTITIONED_VERSION 1

/**
 * Writes @p s through an internal repartition topic that brook creates at
 * start-up, and reads it back as a new sub-topology (KStream.repartition).
 * @p repartitioned may be NULL.
 */
brook_stream_t *
brook_stream_repartition(brook_stream_t *s,
                         const brook_repartitioned_t *repartitioned);

/* ============================================================ stateful */

/** A stream grouped by key, ready to aggregate (KGroupedStream). */
typedef struct brook_grouped_s brook_grouped_t;
/** A changelog stream: the latest value per key (KTable). Its records
 *  carry a NULL value for a deleted key (a tombstone). */
typedef struct brook_table_s brook_table_t;

/** How to group (Kafka Streams' Grouped). NULL members take defaults. */
typedef struct brook_grouping_s {
        /** Names the repartition topic, when one is needed:
         *  "<application.id>-<name>-repartition". NULL: the store's name. */
        const char *name;
        /** Serdes of the repartition topic; NULL: what the stream knows,
         *  else the defaults. */
        const brook_serde_t *key_serde;
        const brook_serde_t *value_serde;
        /** 0 or BROOK_GROUPING_VERSION. See "Structs that grow" in brook.h. */
        int version;
} brook_grouping_t;
#define BROOK_GROUPING_VERSION 1

/**
 * Groups by the current key (KStream.groupByKey). If an operator before
 * may have changed the key (map, select_key, flat_map), the aggregation
 * reads the stream back through a repartition topic, so that each key is
 * aggregated by exactly one task. @p grouping may be NULL.
 */
brook_grouped_t *brook_stream_group_by_key(brook_stream_t *s,
                                           const brook_grouping_t *grouping);
/** Groups by the key @p fn selects (KStream.groupBy); always repartitions.
 */
brook_grouped_t *brook_stream_group_by(brook_stream_t *s,
                                       brook_key_selector_fn fn, void *opaque,
                                       const brook_grouping_t *grouping);

/*
 * Aggregations (count, reduce, aggregate) stamp each aggregate, as Kafka
 * Streams does, with the later of its record's timestamp and the previous
 * aggregate's of the key: a record out of order does not take an aggregate
 * back in time. (brook keeps those timestamps in memory for the task's
 * lifetime: after the task moves or restarts, a key's next aggregate has
 * its record's timestamp; see docs/parity.md.)
 */

/** The aggregate's first value for a key, allocated in @p rec's arena. */
typedef void *(*brook_initializer_fn)(const brook_record_t *rec, void *opaque);
/** The new aggregate from @p agg and the record (its key and value). */
typedef void *(*brook_aggregator_fn)(const brook_record_t *rec, void *agg,
                                     void *opaque);
/** The new aggregate from @p agg and the record's value (KS Reducer); the
 *  first value of a key is taken as is. */
typedef void *(*brook_reducer_fn)(const brook_record_t *rec, void *agg,
                                  void *opaque);

/**
 * Counts records per key (KGroupedStream.count) into an int64 store (value
 * serde int64 unless @p m says otherwise). Records with a NULL key or value
 * are dropped, as in Kafka Streams. The table's updates go downstream as
 * they happen, or, if the store caches, once per key per commit (and on
 * eviction). @p m may be NULL.
 */
brook_table_t *brook_grouped_count(brook_grouped_t *g,
                                   const brook_materialized_t *m);
/** Combines values per key (KGroupedStream.reduce). */
brook_table_t *brook_grouped_reduce(brook_grouped_t *g, brook_reducer_fn fn,
                                    void *opaque,
                                    const brook_materialized_t *m);
/** Folds values per key, from @p init (KGroupedStream.aggregate). The
 *  aggregate's serde comes from @p m or default.value.serde. */
brook_table_t *brook_grouped_aggregate(brook_grouped_t *g,
                                       brook_initializer_fn init,
                                       brook_aggregator_fn fn, void *opaque,
                                       const brook_materialized_t *m);

/**
 * A table of @p topic (StreamsBuilder.table): each record sets its key's
 * value; a NULL value deletes the key; records with a NULL key are dropped.
 * brook always keeps a store (the one @p m names, or a generated one), but
 * as in Kafka Streams the table counts as materialized only if @p m names
 * its store: then the store caches (unless m->caching_disabled) and the
 * table's updates carry old values to its filters (brook_table_filter()).
 * Without a name the store does not cache, and every record goes
 * downstream at once.
 */
brook_table_t *brook_table(brook_builder_t *b, const char *topic,
                           const brook_consumed_t *consumed,
                           const brook_materialized_t *m);

/**
 * Keys whose value passes @p pred (KTable.filter). An update that does not
 * pass (and a tombstone) goes downstream as a tombstone, so a key that no
 * longer passes is deleted downstream. As in Kafka Streams, if @p t sends
 * old values (it is an aggregation, a source table with a named store, or
 * a filter or map_values that is materialized or whose parent sends them),
 * @p pred is called for the old value too, and an update goes nowhere when
 * neither its old nor its new value passes. With @p m the result is
 * materialized (and queryable) too.
 */
brook_table_t *brook_table_filter(brook_table_t *t, brook_predicate_fn pred,
                                  void *opaque, const brook_materialized_t *m);
/** Keys whose value does not pass @p pred (KTable.filterNot). */
brook_table_t *brook_table_filter_not(brook_table_t *t, brook_predicate_fn pred,
                                      void *opaque,
                                      const brook_materialized_t *m);
/** A new value per key (KTable.mapValues); tombstones stay tombstones and
 *  @p fn is not called for them. If a filter below needs old values, @p fn
 *  maps the old value too (unless the result is materialized: its store
 *  has it). */
brook_table_t *brook_table_map_values(brook_table_t *t,
                                      brook_value_mapper_fn fn, void *opaque,
                                      const brook_materialized_t *m);
/** The table's updates as a stream (KTable.toStream); tombstones are
 *  records with a NULL value. */
brook_stream_t *brook_table_to_stream(brook_table_t *t);
/** The name of the store that materializes @p t, or NULL if it is not
 *  materialized. Valid as long as the builder. */
const char *brook_table_store_name(const brook_table_t *t);

/* ------------------------------------------------- regrouped tables */

/** A table regrouped by a new key, ready to aggregate (KGroupedTable). */
typedef struct brook_grouped_table_s brook_grouped_table_t;

/**
 * Regroups @p t by the key and value @p fn makes of each row
 * (KTable.groupBy): @p fn sets *keyp and *valuep from the record's key
 * and value (a NULL key or value leaves the row out of every group). The
 * aggregations below keep each group's aggregate right as rows change:
 * an update takes the row's old value out of its old group (the
 * subtractor) and adds its new value to its new group (the adder), so a
 * row that moves goes from one group to the other. The rows go through a
 * repartition topic "<application.id>-<name or store>-repartition"
 * (values in Kafka Streams' Change format); @p grouping may be NULL. @p t
 * is made to send old values (a source table keeps a store as if named).
 */
brook_grouped_table_t *brook_table_group_by(brook_table_t *t,
                                            brook_kv_mapper_fn fn, void *opaque,
                                            const brook_grouping_t *grouping);
/** Rows per group (KGroupedTable.count), an int64 that goes down when a
 *  row leaves; a group whose rows all left stays at 0. */
brook_table_t *brook_grouped_table_count(brook_grouped_table_t *g,
                                         const brook_materialized_t *m);
/** KGroupedTable.reduce: @p adder adds a row's value (the record's) to the
 *  aggregate, @p subtractor takes it out; a group's first value is taken
 *  as is. A NULL result deletes the group. */
brook_table_t *brook_grouped_table_reduce(brook_grouped_table_t *g,
                                          brook_reducer_fn adder,
                                          brook_reducer_fn subtractor,
                                          void *opaque,
                                          const brook_materialized_t *m);
/** KGroupedTable.aggregate: from @p init, @p adder adds a row's value,
 *  @p subtractor takes it out. The aggregate's serde comes from @p m or
 *  default.value.serde. */
brook_table_t *brook_grouped_table_aggregate(brook_grouped_table_t *g,
                                             brook_initializer_fn init,
                                             brook_aggregator_fn adder,
                                             brook_aggregator_fn subtractor,
                                             void *opaque,
                                             const brook_materialized_t *m);

/* =============================================================== joins */

/**
 * Combines the two values of a join (Kafka Streams' ValueJoinerWithKey):
 * in a stream-table join, @p left is the record's value (the key is
 * brook_record_key(@p rec)), @p right the table's (NULL in a left join
 * when the table has no row for the key); in a stream-stream join, @p left
 * is the first stream's value and @p right the other's, either NULL for a
 * record that found no partner in a left or outer join. Returns the joined
 * value, allocated from the record's arena (brook_record_alloc()).
 */
typedef void *(*brook_value_joiner_fn)(const brook_record_t *rec, void *left,
                                       void *right, void *opaque);

/** How a join is set up (Kafka Streams' Joined). NULL members take
 *  defaults. */
typedef struct brook_joined_s {
        /** The join node's name, and the repartition topic's when the
         *  stream's key may have changed: "<application.id>-<name>-
         *  repartition". NULL: generated ("KSTREAM-JOIN-<n>", and the
         *  stream's node name for the topic). */
        const char *name;
        /** Serdes of the repartition topic (the stream's key and value);
         *  NULL: what the stream knows, else the defaults. */
        const brook_serde_t *key_serde;
        const brook_serde_t *value_serde;
        /** 0 or BROOK_JOINED_VERSION. See "Structs that grow" in brook.h. */
        int version;
} brook_joined_t;
#define BROOK_JOINED_VERSION 1

/**
 * Joins each record of @p s with the value @p t holds for its key when the
 * record is processed (KStream.join(KTable)): the output record has the
 * stream record's key and timestamp and @p fn's value. A record whose key
 * has no row in the table makes no output; one with a NULL key or value is
 * dropped (counted, BROOK_DROP_NULL_KEY or BROOK_DROP_NULL_VALUE, and
 * logged). Updates of the table make no output. The table must have a
 * store (a source table always has; a filter or map_values needs a named
 * one) and its topic must have as many partitions as the stream's (checked
 * at start-up); if the stream's key may have changed, brook repartitions
 * it first. @p joined may be NULL. The result's value serde is unknown.
 */
brook_stream_t *brook_stream_join_table(brook_stream_t *s, brook_table_t *t,
                                        brook_value_joiner_fn fn, void *opaque,
                                        const brook_joined_t *joined);
/**
 * As brook_stream_join_table(), and a record whose key has no row joins
 * with NULL (KStream.leftJoin(KTable)); a record with a NULL key too (it
 * has no row to look up), but one with a NULL value is still dropped.
 */
brook_stream_t *brook_stream_left_join_table(brook_stream_t *s,
                                             brook_table_t *t,
                                             brook_value_joiner_fn fn,
                                             void *opaque,
                                             const brook_joined_t *joined);

/* ------------------------------------------------------ global tables */

/** A table every instance holds whole (Kafka Streams' GlobalKTable). */
typedef struct brook_global_table_s brook_global_table_t;

/**
 * A global table of @p topic (StreamsBuilder.globalTable): every instance
 * of the app reads every partition of @p topic into one store of its own,
 * on a thread of its own outside the consumer group. brook_app_start()
 * restores the store (from where this instance left it, for a RocksDB
 * store) before any stream thread starts, and the thread then keeps it
 * up to date while the app runs. Each record sets its key's value, a NULL
 * value deletes the key, a NULL key is dropped (BROOK_DROP_NULL_KEY), as
 * brook_table(); a record that does not decode goes to the
 * deserialization handler (dead-letter included).
 *
 * The store is named m->name, or "<topic>-STATE-STORE-<n>" (Kafka
 * Streams' names); it has no changelog (the topic is one) and no cache.
 * Its nodes form a sub-topology of their own that makes no tasks, which
 * describe() shows as Kafka Streams does ("for global store"). Nothing
 * downstream reads its updates: streams join it with
 * brook_stream_join_global(). @p consumed may name the nodes
 * ("<name>-source" and "<name>") and give serdes; @p m may be NULL, and
 * may not be versioned. See docs/joins.md.
 */
brook_global_table_t *brook_global_table(brook_builder_t *b, const char *topic,
                                         const brook_consumed_t *consumed,
                                         const brook_materialized_t *m);

/**
 * Joins each record of @p s with the row of global table @p g whose key
 * @p key_selector picks from the record (KStream.join(GlobalKTable,
 * KeyValueMapper, ValueJoinerWithKey, Named)): @p key_selector gets the
 * record and returns a key of @p g's key type (allocated from the record's
 * arena, or a pointer into the record), and the output record has the
 * stream record's key and timestamp and @p fn's value (@p left the
 * record's value, @p right the row's). No co-partitioning and no
 * repartitioning: every instance has every row. A record whose selected
 * key has no row makes no output; one with a NULL value, or whose
 * selector returns NULL, is dropped (BROOK_DROP_NULL_VALUE /
 * BROOK_DROP_NULL_KEY); the stream's own key may be NULL. The row read is
 * the one the global store holds when the record is processed. @p name
 * (NULL: generated) names the node; as in Kafka Streams, a generated name
 * is "KSTREAM-LEFTJOIN-<n>" for inner joins too. The result's value serde
 * is unknown.
 */
brook_stream_t *brook_stream_join_global(brook_stream_t *s,
                                         brook_global_table_t *g,
                                         brook_key_selector_fn key_selector,
                                         void *selector_opaque,
                                         brook_value_joiner_fn fn, void *opaque,
                                         const char *name);
/** As brook_stream_join_global(), and a record whose selected key has no
 *  row, or whose selector returns NULL, joins with NULL
 *  (KStream.leftJoin(GlobalKTable, ...)); one with a NULL value is still
 *  dropped. */
brook_stream_t *
brook_stream_left_join_global(brook_stream_t *s, brook_global_table_t *g,
                              brook_key_selector_fn key_selector,
                              void *selector_opaque, brook_value_joiner_fn fn,
                              void *opaque, const char *name);

/* -------------------------------------------------- table-table joins */

/**
 * Joins two tables by key into a table (KTable.join(KTable, ValueJoiner,
 * Named, Materialized)): each update of either table looks the key up in
 * the other and, if both have a row, updates the result to @p fn's value
 * (@p fn's @p left is @p t's value, @p right @p other's); a key deleted from
 * either table is deleted from the result (a NULL update). The update's
 * timestamp is the later of the record's and the other row's. Both tables
 * must have stores (a source table always has one, and a join makes it
 * keep one as if named, as Kafka Streams materializes it; a filter or
 * map_values needs a named one) and be co-partitioned (checked at
 * start-up). @p name (NULL: generated) names the nodes: "<name>" (the
 * merge), "<name>-join-this", "<name>-join-other". @p m (NULL: not
 * materialized) gives the result a store, named m->name or
 * "KTABLE-MERGE-STATE-STORE-<n>". See docs/joins.md.
 */
brook_table_t *brook_table_join(brook_table_t *t, brook_table_t *other,
                                brook_value_joiner_fn fn, void *opaque,
                                const char *name,
                                const brook_materialized_t *m);
/** As brook_table_join(), and a row of @p t without one in @p other joins
 *  with NULL (KTable.leftJoin(KTable)). */
brook_table_t *brook_table_left_join(brook_table_t *t, brook_table_t *other,
                                     brook_value_joiner_fn fn, void *opaque,
                                     const char *name,
                                     const brook_materialized_t *m);
/** As brook_table_left_join(), for the rows of both tables: @p fn's @p left
 *  is NULL for a row of @p other alone (KTable.outerJoin(KTable)). */
brook_table_t *brook_table_outer_join(brook_table_t *t, brook_table_t *other,
                                      brook_value_joiner_fn fn, void *opaque,
                                      const char *name,
                                      const brook_materialized_t *m);

/* --------------------------------------------- foreign-key table joins */

/**
 * Joins each row of @p t with the row of @p other whose key @p extract
 * finds in it (a foreign key; KTable.join(KTable, Function, ValueJoiner,
 * TableJoined, Materialized), KIP-213): the result, keyed as @p t, is
 * @p fn's value of the two rows (@p left @p t's, @p right @p other's) and
 * stays right as either table changes: a row of @p t that changes its
 * foreign key leaves its old partner, an update of @p other reaches every
 * row of @p t that names it, and a row without a partner (or deleted) is
 * deleted from the result. @p extract gets a record with the row's key and
 * value; a NULL foreign key is no partner (the row is dropped, counted
 * under BROOK_DROP_NULL_KEY). The tables need not be co-partitioned: the
 * join goes through two internal topics,
 * "<application.id>-<name>-subscription-registration-topic" (keyed by the
 * foreign key, partitioned as @p other) and
 * "...-subscription-response-topic" (back to the partition of @p t's row),
 * and keeps the subscriptions in a store "<name>-subscription-store"
 * (generated names are Kafka Streams': "KTABLE-FK-JOIN-SUBSCRIPTION-
 * REGISTRATION-<n>", ...). A response for a row that has changed since is
 * dropped (BROOK_DROP_STALE): a newer one follows. @p name and @p m may be
 * NULL; @p m names the result's store (then queryable). See docs/joins.md.
 */
brook_table_t *brook_table_fk_join(brook_table_t *t, brook_table_t *other,
                                   brook_key_selector_fn extract,
                                   void *extract_opaque,
                                   brook_value_joiner_fn fn, void *opaque,
                                   const char *name,
                                   const brook_materialized_t *m);
/** As brook_table_fk_join(), and a row of @p t without a partner (or with
 *  a NULL foreign key) joins with NULL (KTable.leftJoin(KTable,
 *  Function, ...)). */
brook_table_t *brook_table_fk_left_join(brook_table_t *t, brook_table_t *other,
                                        brook_key_selector_fn extract,
                                        void *extract_opaque,
                                        brook_value_joiner_fn fn, void *opaque,
                                        const char *name,
                                        const brook_materialized_t *m);

/* ------------------------------------------------ stream-stream joins */

/**
 * The join window of a stream-stream join (Kafka Streams' JoinWindows): a
 * record at time t joins the other stream's records of the same key with
 * timestamps in [t - before_ms, t + after_ms]; the other stream's records
 * look the other way ([t - after_ms, t + before_ms]). Each stream's
 * records are kept for before + after + grace of the newest timestamp of
 * that stream. Make one with brook_join_windows(), then change before_ms
 * or after_ms to make it asymmetric (JoinWindows.before() / after());
 * their sum must not be negative, nor the grace. A window of 0 with no
 * grace keeps nothing (as in Kafka Streams: nothing joins).
 */
typedef struct brook_join_windows_s {
        int64_t before_ms;
        int64_t after_ms;
        /** How long after a window's end a record is still joined, and a
         *  left or outer join waits before it emits a record that found no
         *  partner. */
        int64_t grace_ms;
        /** 0 or BROOK_JOIN_WINDOWS_VERSION. See "Structs that grow" in
         *  brook.h. */
        int version;
} brook_join_windows_t;
#define BROOK_JOIN_WINDOWS_VERSION 1

/** JoinWindows.ofTimeDifferenceAndGrace(time_difference, grace): records
 *  at most @p time_difference_ms apart join. */
brook_join_windows_t brook_join_windows(int64_t time_difference_ms,
                                        int64_t grace_ms);

/** How a stream-stream join is set up (Kafka Streams' StreamJoined). NULL
 *  members take defaults. */
typedef struct brook_stream_joined_s {
        /** Names the join's nodes ("<name>-this-windowed", "-other-windowed",
         *  "-this-join" or "-outer-this-join", "-other-join" or
         *  "-outer-other-join", "-merge") and repartition topics
         *  ("<application.id>-<name>-left-repartition", "-right-"). NULL:
         *  generated, as Kafka Streams generates them. */
        const char *name;
        /** Names the stores: "<store_name>-this-join-store",
         *  "-other-join-store" (with "-outer-" before "this" and "other"
         *  as the nodes have it) and, for left and outer joins,
         *  "-left-shared-join-store" or "-outer-shared-join-store", and
         *  their changelog topics. NULL: named after the join's nodes
         *  ("KSTREAM-JOINTHIS-<n>-store", ...). */
        const char *store_name;
        /** Serdes of the key, of this stream's values and of the other
         *  stream's, in the stores and repartition topics. NULL: what the
         *  stream knows, else the defaults. */
        const brook_serde_t *key_serde;
        const brook_serde_t *value_serde;
        const brook_serde_t *other_value_serde;
        /** The stores' supplier; NULL: brook_kvstore_rocksdb(). */
        const brook_kvstore_supplier_t *supplier;
        /** No changelogs: the stores start empty after a move or crash. */
        bool logging_disabled;
        /** 0 or BROOK_STREAM_JOINED_VERSION. See "Structs that grow" in
         *  brook.h. */
        int version;
} brook_stream_joined_t;
#define BROOK_STREAM_JOINED_VERSION 1

/**
 * Joins records of @p s with records of @p other of the same key whose
 * timestamps are within the join window @p w (KStream.join(KStream,
 * ValueJoinerWithKey, JoinWindows, StreamJoined)): each record, when it
 * arrives, joins every record of the other stream it finds kept in the
 * window, one output per pair, with the key, the later of the two
 * timestamps, the arriving record's headers and @p fn's value (@p fn's
 * @p left is always @p s's value, @p right @p other's). Records with a
 * NULL key or value are dropped and counted. Records older than the join's
 * retention (before + after + grace) are not kept, but still join what
 * they find. Both streams must be co-partitioned (checked at start-up);
 * a stream whose key may have changed is repartitioned first. @p sj may be
 * NULL. The result's value serde is unknown, its key serde
 * @p sj->key_serde. See docs/joins.md.
 */
brook_stream_t *brook_stream_join(brook_stream_t *s, brook_stream_t *other,
                                  brook_value_joiner_fn fn, void *opaque,
                                  const brook_join_windows_t *w,
                                  const brook_stream_joined_t *sj);
/**
 * As brook_stream_join(), and a record of @p s that found no partner by the
 * time its window closed (its timestamp + after + grace, on the stream
 * time of the join: the newest timestamp either stream brought) is
 * emitted once, joined with NULL, with its own key and timestamp
 * (KStream.leftJoin(KStream) since Kafka Streams 3.1: no spurious early
 * results). Such records wait in a third store; the check for closed
 * windows runs at most once per second of wall clock (every record in the
 * test driver), as in Kafka Streams. A record that arrives after stream
 * time has passed its timestamp + after and finds no partner is emitted
 * with NULL at once, as in Kafka Streams, although a partner could still
 * come within the grace. A record of @p s with a NULL key (and a value)
 * is joined with NULL at once.
 */
brook_stream_t *brook_stream_left_join(brook_stream_t *s, brook_stream_t *other,
                                       brook_value_joiner_fn fn, void *opaque,
                                       const brook_join_windows_t *w,
                                       const brook_stream_joined_t *sj);
/** As brook_stream_left_join(), for the records of both streams: @p fn's
 *  @p left is NULL for a record of @p other that found no partner
 *  (KStream.outerJoin(KStream)). */
brook_stream_t *brook_stream_outer_join(brook_stream_t *s,
                                        brook_stream_t *other,
                                        brook_value_joiner_fn fn, void *opaque,
                                        const brook_join_windows_t *w,
                                        const brook_stream_joined_t *sj);

/* ============================================================= windows */

/*
 * Windowed aggregations (Kafka Streams' TimeWindowedKStream,
 * SlidingWindowedKStream and SessionWindowedKStream): a grouped stream cut
 * into windows by record timestamps, aggregated per key and window into a
 * table keyed by brook_windowed_key_t (a key with its window). Windows
 * close on stream time: a window [start, end) accepts records until the
 * task's stream time reaches end + grace; a record for a closed window is
 * dropped and counted (BROOK_DROP_LATE). Results carry the largest
 * timestamp of the records aggregated so far, as Kafka Streams'. See
 * docs/windows.md.
 */

typedef enum brook_windows_kind_e {
        /** Fixed-size windows, every advance_ms (Kafka Streams'
         *  TimeWindows): tumbling when advance = size, else hopping. */
        BROOK_WINDOWS_TIME,
        /** Windows of size_ms anchored at records (SlidingWindows,
         *  KIP-450). */
        BROOK_WINDOWS_SLIDING,
        /** Sessions: records closer than size_ms (the inactivity gap)
         *  share a window, which grows and merges (SessionWindows). */
        BROOK_WINDOWS_SESSION,
} brook_windows_kind_t;

/** How a windowed stream is cut; make one with the constructors below. */
typedef struct brook_windows_s {
        brook_windows_kind_t kind;
        /** Time: the window size; sliding: the time difference (window
         *  size); session: the inactivity gap. Milliseconds, > 0. */
        int64_t size_ms;
        /** Time windows: how far each window starts after the last (0 <
         *  advance <= size); ignored otherwise. */
        int64_t advance_ms;
        /** How long after a window's end records are still accepted (ms,
         *  >= 0). */
        int64_t grace_ms;
        /** 0 or BROOK_WINDOWS_VERSION. See "Structs that grow" in
         *  brook.h. */
        int version;
} brook_windows_t;
#define BROOK_WINDOWS_VERSION 1

/** Tumbling windows (TimeWindows.ofSizeAndGrace(size, grace)). */
brook_windows_t brook_windows_tumbling(int64_t size_ms, int64_t grace_ms);
/** Hopping windows (TimeWindows.ofSizeAndGrace(size, grace)
 *  .advanceBy(advance)). */
brook_windows_t brook_windows_hopping(int64_t size_ms, int64_t advance_ms,
                                      int64_t grace_ms);
/** Sliding windows (SlidingWindows.ofTimeDifferenceAndGrace()). */
brook_windows_t brook_windows_sliding(int64_t time_difference_ms,
                                      int64_t grace_ms);
/** Session windows (SessionWindows.ofInactivityGapAndGrace()). */
brook_windows_t brook_windows_session(int64_t inactivity_gap_ms,
                                      int64_t grace_ms);

/** When a windowed aggregation emits (Kafka Streams' EmitStrategy,
 *  KIP-825). */
typedef enum brook_emit_strategy_e {
        /** Every update of a window's result (through the cache, if on). */
        BROOK_EMIT_ON_WINDOW_UPDATE,
        /** Once per window and key, when the window closes. */
        BROOK_EMIT_ON_WINDOW_CLOSE,
} brook_emit_strategy_t;

typedef struct brook_windowed_stream_s brook_windowed_stream_t;

/** Cuts @p g into windows @p w (copied). NULL (the builder keeps why) for
 *  windows that are not valid. */
brook_windowed_stream_t *brook_grouped_windowed_by(brook_grouped_t *g,
                                                   const brook_windows_t *w);
/** Sets the emit strategy (default: on window update). Returns @p ws. */
brook_windowed_stream_t *
brook_windowed_emit_strategy(brook_windowed_stream_t *ws,
                             brook_emit_strategy_t strategy);

/** Merges two session aggregates when a record joins their sessions. */
typedef void *(*brook_merger_fn)(const brook_record_t *rec, void *agg1,
                                 void *agg2, void *opaque);

/*
 * The aggregations. The store is a window store (session store for
 * sessions) named m->name or generated; its retention is m->retention_ms,
 * which must be at least size + grace (0: size + grace; for sliding
 * windows, time difference + grace; for sessions, gap + grace). The table's
 * key serde is brook_serde_time_windowed() (session_windowed()) over the
 * key serde, when that is known.
 */
brook_table_t *brook_windowed_count(brook_windowed_stream_t *ws,
                                    const brook_materialized_t *m);
brook_table_t *brook_windowed_reduce(brook_windowed_stream_t *ws,
                                     brook_reducer_fn fn, void *opaque,
                                     const brook_materialized_t *m);
/** @p merger: required for session windows, ignored otherwise. */
brook_table_t *brook_windowed_aggregate(brook_windowed_stream_t *ws,
                                        brook_initializer_fn init,
                                        brook_aggregator_fn fn,
                                        brook_merger_fn merger, void *opaque,
                                        const brook_materialized_t *m);

/* ============================================================ suppress */

/*
 * suppress (Kafka Streams' KTable.suppress()): holds a table's updates in a
 * buffer and lets out only the last one per key, later. The buffer is a
 * changelogged store ("<application.id>-<name>-changelog"), so what it
 * holds survives a restart. See docs/windows.md.
 */

typedef enum brook_suppress_kind_e {
        /** One final result per window and key, when stream time passes
         *  the window's end + grace (Suppressed.untilWindowCloses). Windowed
         *  tables only; tombstones are dropped. */
        BROOK_SUPPRESS_UNTIL_WINDOW_CLOSES,
        /** At most one update per key per time_limit_ms of stream time,
         *  the latest (Suppressed.untilTimeLimit). */
        BROOK_SUPPRESS_UNTIL_TIME_LIMIT,
} brook_suppress_kind_t;

/** What a full buffer does (BufferConfig's strategies). */
typedef enum brook_buffer_full_e {
        /** Stop the app with an error naming the buffer and its bounds
         *  (shutDownWhenFull). */
        BROOK_BUFFER_SHUT_DOWN_WHEN_FULL,
        /** Emit the oldest entries early until it fits again
         *  (emitEarlyWhenFull); not with until_window_closes, as in Kafka
         *  Streams. */
        BROOK_BUFFER_EMIT_EARLY_WHEN_FULL,
} brook_buffer_full_t;

typedef struct brook_suppressed_s {
        brook_suppress_kind_t kind;
        /** until_time_limit: how long updates wait (ms, >= 0). */
        int64_t time_limit_ms;
        /** The buffer's bounds; 0: unbounded. Bytes count each entry's
         *  serialized key and value plus 17 bytes of times and flags. */
        int64_t max_records;
        int64_t max_bytes;
        brook_buffer_full_t when_full;
        /** Names the node and its buffer store (and so the changelog);
         *  NULL: generated ("KTABLE-SUPPRESS-<n>", store
         *  "KTABLE-SUPPRESS-STATE-STORE-<n>"). */
        const char *name;
        /** 0 or BROOK_SUPPRESSED_VERSION. See "Structs that grow" in
         *  brook.h. */
        int version;
} brook_suppressed_t;
#define BROOK_SUPPRESSED_VERSION 1

/** Suppresses @p t's updates as @p s says. NULL (the builder keeps why)
 *  for settings that are not valid. */
brook_table_t *brook_table_suppress(brook_table_t *t,
                                    const brook_suppressed_t *s);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
