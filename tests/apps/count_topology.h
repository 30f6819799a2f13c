/*
 * The count topology that count_app runs and the integration tests run in
 * process: per-key counts of the input (string keys, any values) into the
 * store @p store (string keys, int64 counts), every update of the count
 * table to the output.
 */
#ifndef BROOK_TESTS_COUNT_TOPOLOGY_H
#define BROOK_TESTS_COUNT_TOPOLOGY_H

#include <brook/brook.h>

/* Adds the topology to @p b, reading the input's values with
 * @p value_serde (a value that does not decode is a deserialization
 * error); @p sup NULL: RocksDB. */
static inline void count_topology_add_values(
        brook_builder_t *b, const char *in, const char *out, const char *store,
        const brook_kvstore_supplier_t *sup, const brook_serde_t *value_serde)
{
        brook_stream_to(
                brook_table_to_stream(brook_grouped_count(
                        brook_stream_group_by_key(
                                brook_stream(
                                        b, in,
                                        &(brook_consumed_t){
                                                .key_serde =
                                                        brook_serde_string(),
                                                .value_serde = value_serde}),
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

/* Adds the topology to @p b (any values); @p sup NULL: RocksDB. */
static inline void count_topology_add(brook_builder_t *b, const char *in,
                                      const char *out, const char *store,
                                      const brook_kvstore_supplier_t *sup)
{
        count_topology_add_values(b, in, out, store, sup, brook_serde_bytes());
}

#endif
