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
};

/** A new stream handle for the output of @p node, kept by (and freed with)
 *  @p b. */
brook_stream_t *brook__stream_new(brook_builder_t *b, const char *node,
                                  const brook_serde_t *key_serde,
                                  const brook_serde_t *value_serde,
                                  bool key_changed);

#endif
