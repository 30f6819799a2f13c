/*
 * brook — DSL internals: what a stream handle knows.
 */
#ifndef BROOK_DSL_INT_H
#define BROOK_DSL_INT_H

#include "brook_int.h"

/** A stream handle: the node whose output it is, and the serdes known for
 *  its keys and values (NULL: unknown, the sink falls back to defaults).
 *  Freed with the builder (brook__builder_keep()). */
struct brook_stream_s {
        brook_builder_t *b;
        char *node; /**< Name of the node whose forwards are this stream. */
        const brook_serde_t *key_serde, *value_serde;
        /** The key may differ from the source's: a later stateful operation
         *  must repartition (Kafka Streams' repartitionRequired). */
        bool key_changed;
        /** The last repartition a join made of this stream (Kafka Streams'
         *  KStreamImpl.repartitionNode), or NULL. */
        brook_stream_t *join_rp;
};

/** brook_stream_repartition(), without the name check. Its filter drops
 *  null keys unless a left or outer join below takes them (decided when
 *  the topology is built). */
brook_stream_t *brook__stream_repartition(brook_stream_t *s,
                                          const brook_repartitioned_t *r);
/** Whether tables @p t and @p other can be joined (same builder, names not
 *  empty, plain keys); else the builder's error names @p func. */
bool brook__tables_joinable(brook_table_t *t, brook_table_t *other,
                            const char *name, const brook_materialized_t *m,
                            const char *func);

/** Kafka Streams' NamedInternal.suffixWithOrElseGet(): @p name with
 *  @p suffix, or a name generated from @p prefix; a number is taken either
 *  way, so later generated names are Kafka Streams'. Free the result. */
char *brook__dsl_name(brook_builder_t *b, const char *name, const char *suffix,
                      const char *prefix);

/** The repartition of @p s before a join: "<name>-repartition" (@p name
 *  NULL: the stream's node name), with the serdes given (NULL: the
 *  stream's). An unnamed join reuses the stream's last one, as Kafka
 *  Streams' repartitionForJoin() does. */
brook_stream_t *
brook__stream_repartition_for_join(brook_stream_t *s, const char *name,
                                   const brook_serde_t *key_serde,
                                   const brook_serde_t *value_serde);

/** process() of nodes that pass records on unchanged (merges). */
brook_err_t brook__passthrough_process(brook_ctx_t *ctx, brook_record_t *rec,
                                       void *state, char *errstr,
                                       size_t errstr_size);

/** A new stream handle for the output of @p node, kept by (and freed with)
 *  @p b. */
brook_stream_t *brook__stream_new(brook_builder_t *b, const char *node,
                                  const brook_serde_t *key_serde,
                                  const brook_serde_t *value_serde,
                                  bool key_changed);

/* ------------------------------------------------------------ stateful */

/** A grouped stream: what the aggregation needs to build its input. The
 *  repartition, if any, is added by the aggregation, because its topic is
 *  named after the aggregation's store (as in Kafka Streams). Freed with
 *  the builder. */
struct brook_grouped_s {
        brook_builder_t *b;
        /** The stream to aggregate: after group_by's key selector. */
        brook_stream_t *s;
        /** Whether the aggregation reads @p s through a repartition topic. */
        bool repartition;
        /** The caller's grouping, with name copied (into this allocation). */
        brook_grouping_t grouping;
};

/** What the definition opaque of every table-making node starts with. */
typedef struct brook__tnode {
        char *store; /**< The store materializing its output, or NULL. */
        /** Kafka Streams' sendOldValues: the node's updates carry the
         *  key's previous value (brook__change_old()), and a filter drops
         *  an update whose old and new values both fail. Set while the
         *  topology is built (brook__table_send_old()), read by the tasks. */
        bool send_old;
        /** An aggregation: stamps each aggregate with the later of its
         *  record's timestamp and the previous aggregate's, which its
         *  store keeps (a timestamped store). */
        bool agg;
        /** Kafka Streams' isOutputVersioned(), or a versioned upstream: the
         *  node's updates come from a versioned table, may be older than
         *  their key's latest value, and say whether they are its latest
         *  (brook__change_latest()). Set when the node is made: a versioned
         *  table, and the filters and map_values below it that keep no
         *  store of their own. */
        bool versioned;
} brook__tnode_t;

/** What made a table: how it answers brook__table_send_old(). */
typedef enum {
        BROOK__TABLE_SOURCE,    /**< brook_table(). */
        BROOK__TABLE_AGGREGATE, /**< count, reduce, aggregate. */
        BROOK__TABLE_DERIVED,   /**< filter, filter_not, map_values. */
        /** Windowed aggregations and suppress: they send no old values
         *  (yet; Kafka Streams' do), and their op is NULL. */
        BROOK__TABLE_NO_OLD,
        /** A table-table join (operators/table_join.c): op is its merge
         *  node's; parent and other the tables joined. */
        BROOK__TABLE_JOIN,
} brook__table_kind_t;
/** What an aggregation over a grouped stream attaches to
 *  (brook__grouped_prepare()). */
typedef struct brook__grouped_prep {
        const char *store; /**< m->name, or gen_store. */
        char *gen_store;   /**< A generated store name, or NULL. */
        char *name;        /**< The processor's generated name. */
        brook_stream_t *s; /**< The stream to read: after the repartition. */
        const brook_serde_t *key_serde; /**< The store's key serde. */
} brook__grouped_prep_t;

/**
 * The first steps of every aggregation of @p g, in Kafka Streams' order:
 * the store's name (m->name or generated), the processor's name, and the
 * repartition when the key may have changed. Generated names are Kafka
 * Streams': "KSTREAM-REDUCE-..." for a reduce (@p reduce), else
 * "KSTREAM-AGGREGATE-..." (count and aggregate). BROOK_OK, or an error the
 * builder keeps (naming @p func). Free with brook__grouped_prep_free().
 */
brook_err_t brook__grouped_prepare(brook_grouped_t *g,
                                   const brook_materialized_t *m, bool reduce,
                                   const char *func, brook__grouped_prep_t *p);
void brook__grouped_prep_free(brook__grouped_prep_t *p);

/** A table handle: the node whose forwards are the table's updates, the
 *  serdes known for its keys and values (NULL: unknown), and the store that
 *  materializes it (NULL: none). Freed with the builder. */
struct brook_table_s {
        brook_builder_t *b;
        char *node;
        const brook_serde_t *key_serde, *value_serde;
        char *store;
        brook__table_kind_t kind;
        /** Materialized as Kafka Streams counts it (queryableStoreName):
         *  an aggregation, or a store the caller named. A source table
         *  always has a store in brook, but without a name it is not
         *  materialized in this sense, and its store does not cache. */
        bool materialized;
        brook__tnode_t *op;    /**< The node's definition (its opaque). */
        brook_table_t *parent; /**< BROOK__TABLE_DERIVED: the table below. */
        /** Made by a windowed aggregation (keys are brook_windowed_key_t):
         *  its windows' grace, which suppress(until_window_closes) waits
         *  for. */
        bool windowed;
        int64_t grace_ms;
        /** Windowed: the windows' size (ms), -1 for session windows. */
        int64_t window_ms;
        /** A source table whose store the caller did not name: whether
         *  the caller turned its cache off, for when a join materializes
         *  it (brook__table_getter()). */
        bool cache_off;
        /** BROOK__TABLE_JOIN: the other table joined, and the two join
         *  nodes' definitions (this side's, the other's). */
        brook_table_t *other;
        brook__tnode_t *join_ops[2];
};

/** A global table (brook_global_table()): its store's name and serdes
 *  (the serdes may be NULL: the defaults, filled in at build). */
struct brook_global_table_s {
        brook_builder_t *b;
        const brook_serde_t *key_serde, *value_serde;
        char store[];
};

/** A new table handle, kept by (and freed with) @p b; @p store may be
 *  NULL. */
brook_table_t *brook__table_new(brook_builder_t *b, const char *node,
                                const brook_serde_t *key_serde,
                                const brook_serde_t *value_serde,
                                const char *store, brook__table_kind_t kind,
                                bool materialized, brook__tnode_t *op,
                                brook_table_t *parent);

/**
 * Kafka Streams' KTableImpl.enableSendingOldValues(false): asks @p t to
 * send old values with its updates. A source table does if it is
 * materialized, an aggregation always, a filter or map_values if it is
 * materialized or its parent does. Returns whether @p t now sends them.
 */
bool brook__table_send_old(brook_table_t *t);
/** Kafka Streams' enableSendingOldValues(true): as brook__table_send_old(),
 *  materializing a source table on the way if it has to (a table-table
 *  join needs its tables' old values). */
bool brook__table_send_old_force(brook_table_t *t);

/**
 * A node @p name under @p parent that keeps the updates it gets in store
 * @p store (NULL: none) and passes them on, as a source table does (Kafka
 * Streams' KTableSource after a foreign-key join): materialized
 * (queryable, caching as @p m says) only if @p named. Returns the table,
 * or NULL with the builder's error.
 */
brook_table_t *brook__table_source_node(brook_builder_t *b, const char *name,
                                        const char *parent, const char *store,
                                        const brook_materialized_t *m,
                                        bool named,
                                        const brook_serde_t *key_serde,
                                        const brook_serde_t *value_serde);

/**
 * Kafka Streams' valueGetterSupplier(), for a join that looks @p t's values
 * up: a source table is materialized (its store then caches, unless the
 * caller turned the cache off); a table without a store fails the builder,
 * naming @p func. Returns whether @p t has a store to read.
 */
bool brook__table_getter(brook_table_t *t, const char *func);

/** A table update's previous value (NULL: none, or not sent): set on the
 *  records a node whose send_old is set forwards. */
void *brook__change_old(const brook_record_t *rec);
/** Whether a table update is its key's latest (Kafka Streams' Change
 *  .isLatest): read it only from the records of a node whose versioned
 *  is set; the others' are all latest. */
bool brook__change_latest(const brook_record_t *rec);

/** A record for an update from @p ctx's node, with @p parent's metadata:
 *  one that carries @p old (brook__change_old()) if @p op sends old
 *  values. */
brook_record_t *brook__table_update(brook_ctx_t *ctx, const brook__tnode_t *op,
                                    const brook_record_t *parent, void *key,
                                    void *value, void *old, int64_t ts);
/** brook__table_update() of an update that is its key's latest or not
 *  (@p latest, carried if @p op is versioned). */
brook_record_t *brook__table_update_latest(brook_ctx_t *ctx,
                                           const brook__tnode_t *op,
                                           const brook_record_t *parent,
                                           void *key, void *value, void *old,
                                           int64_t ts, bool latest);

/**
 * A table's store as the DSL reads it: a timestamped key-value store, or
 * a versioned one (a versioned table's, KIP-914). One per processor per
 * task, set by brook__tstore_init().
 */
typedef struct brook__tstore {
        brook_kvstore_t *kv;
        brook_versionedstore_t *vs;
} brook__tstore_t;

/** Looks up table store @p name for the processor of @p ctx, whatever its
 *  kind. */
brook_err_t brook__tstore_init(brook__tstore_t *ts, brook_ctx_t *ctx,
                               const char *name, char *errstr,
                               size_t errstr_size);
/** @p key's value (NULL and BROOK_OK when none) and its timestamp (-1
 *  when none) into *@p valuep / *@p tsp: the latest for a versioned store
 *  (Kafka Streams' KTableValueGetter.get(key)), or, with @p as_of other
 *  than INT64_MAX, the version valid then (get(key, asOfTimestamp); a
 *  key-value store ignores @p as_of, as Kafka Streams' getter does when
 *  the table is not versioned). */
brook_err_t brook__tstore_get(const brook__tstore_t *ts, const void *key,
                              int64_t as_of, bool exposes, void **valuep,
                              int64_t *tsp, char *errstr, size_t errstr_size);

/**
 * How a table processor reaches the store materializing its output, and
 * sends its updates on (Kafka Streams' TimestampedTupleForwarder): when
 * the store caches, updates go downstream as the cache writes them down
 * (on commit and eviction); otherwise at once. One per processor per task.
 */
typedef struct brook__tfwd {
        brook_ctx_t *ctx;
        brook_kvstore_t *st;         /**< NULL: the table is not materialized */
        brook_versionedstore_t *vst; /**< ... or it is, in this one. */
        const void *op;              /**< The node's definition (its opaque). */
        /** When the store caches: per key written since its entry last
         *  went downstream, what the update sent then carries (the old
         *  value as of the first write, the timestamp of the last). */
        struct brook__pending *pending;
} brook__tfwd_t;

/** init() and close() of table-making processors: the state is a
 *  brook__tfwd_t whose op is the opaque, which starts with a
 *  brook__tnode_t. */
brook_err_t brook__tproc_init(brook_ctx_t *ctx, void *opaque, void **statep,
                              char *errstr, size_t errstr_size);
void brook__tproc_close(brook_ctx_t *ctx, void *state);

/** Looks up store @p store (NULL: none) for the processor of @p ctx and,
 *  if it caches, has it forward through @p fwd, whose op must be set.
 *  @p fwd must stay put until the task closes. */
brook_err_t brook__tfwd_init(brook__tfwd_t *fwd, brook_ctx_t *ctx,
                             const char *store, char *errstr,
                             size_t errstr_size);
/** Stops forwarding through @p fwd (from the processor's close(), while the
 *  store is still open): entries the cache writes down later, as the task
 *  closes, no longer go downstream. */
void brook__tfwd_close(brook__tfwd_t *fwd);
/** Puts (@p key, @p value) into the store, if any (NULL @p value deletes),
 *  and forwards it now unless the store caches (then as the cache writes
 *  it down). The update goes out with @p parent's metadata, timestamp
 *  @p ts and, if the node sends old values, the old value: @p old if it
 *  goes now, else the store's value before the key's first write since it
 *  last went downstream (@p stored: the store's value before this write;
 *  @p old differs from it for a new key of an aggregation, which Kafka
 *  Streams sends with the initializer's value as old). A failure's reason
 *  goes to @p errstr. */
brook_err_t brook__tfwd_put(brook__tfwd_t *fwd, const brook_record_t *parent,
                            void *key, void *value, void *old, void *stored,
                            int64_t ts, char *errstr, size_t errstr_size);
/**
 * brook__tfwd_put() of an update that is its key's latest or not
 * (@p latest, from a versioned parent). Into a versioned store, the put
 * says which: a put older than the store's history retention is not made
 * and goes nowhere, an older version goes downstream as not the latest
 * (Kafka Streams' KTableSource). Into a key-value store an update is the
 * latest; without a store it stays as it came.
 */
brook_err_t brook__tfwd_put_latest(brook__tfwd_t *fwd,
                                   const brook_record_t *parent, void *key,
                                   void *value, void *old, void *stored,
                                   int64_t ts, bool latest, char *errstr,
                                   size_t errstr_size);

/**
 * Adds the store @p m describes (NULL: defaults) for processor @p proc,
 * named @p name, with the serdes given where @p m leaves them NULL. Returns
 * BROOK_OK or the builder's error.
 */
brook_err_t
brook__dsl_store_add(brook_builder_t *b, const brook_materialized_t *m,
                     const char *name, const brook_serde_t *key_serde,
                     const brook_serde_t *value_serde, const char *proc);
/** Fails the builder, naming @p func, if @p m declares a versioned store:
 *  only tables of a topic and their filters and map_values are versioned
 *  in brook. Returns whether it failed. */
bool brook__dsl_versioned_refused(brook_builder_t *b,
                                  const brook_materialized_t *m,
                                  const char *func);

#endif
