/*
 * The count topology that count_app runs and the integration tests run in
 * process: per-key counts of the input (string keys, any values) into the
 * store @p store (string keys, int64 counts), every update of the count
 * table to the output.
 */
#ifndef BROOK_TESTS_COUNT_TOPOLOGY_H
#define BROOK_TESTS_COUNT_TOPOLOGY_H

#include <brook/brook.h>

/* Adds the topology to @p b; @p sup NULL: RocksDB. */
static inline void count_topology_add(brook_builder_t *b, const char *in,
                                      const char *out, const char *store,
                                      const brook_kvstore_supplier_t *sup)
{
        brook_stream_to(
                brook_table_to_stream(brook_grouped_count(
                        brook_stream_group_by_key(
                                brook_stream(
                                        b, in,
                                        &(brook_consumed_t){
                                                .key_serde =
                                                        brook_serde_string(),
                                                .value_serde =
                                                        brook_serde_bytes()}),
                                NULL),
                        &(brook_materialized_t){
                                .name = store,
                                .key_serde = brook_serde_string(),
                                .value_serde = brook_serde_int64(),
                                .supplier = sup})),
                out,
                &(brook_produced_t){.key_serde = brook_serde_string(),
                                    .value_serde = brook_serde_int64()});
}

#endif
