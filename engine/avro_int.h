/*
 * brook — what the Avro serdes (avro.c) and the Schema Registry client
 * (schema_registry.c) share.
 */
#ifndef BROOK_AVRO_INT_H
#define BROOK_AVRO_INT_H

#include <stdatomic.h>

#include "brook/avro.h"
#include "brook_int.h"

/** The Confluent wire format's header: magic byte 0, 4-byte id. */
#define BROOK__AVRO_HEADER 5

/**
 * A parsed schema with what avro-c does not keep: the text as registered
 * (avro-c's own rendering drops logicalType and default), and the JSON of
 * each named type, for field defaults, aliases and enum defaults.
 * Immutable once made, so threads share it.
 */
typedef struct brook__avro_schema {
        char *text;
        avro_schema_t schema;
        avro_value_iface_t *iface; /**< Generic values of the schema. */
        json_t *json;              /**< text, parsed. */
        json_t *named; /**< Full name (and bare name) -> the type's JSON. */
        int32_t id;    /**< The registry's id, or -1. */
        /** The last writer schema found equal to this one as a reader: a
         *  hint that spares avro_schema_equal() per record. */
        _Atomic(const struct brook__avro_schema *) same_as;
} brook__avro_schema_t;

brook__avro_schema_t *brook__avro_schema_parse(const char *text, char *errstr,
                                               size_t errstr_size);
void brook__avro_schema_free(brook__avro_schema_t *s);

/** Checks that @p data holds a whole datum of @p schema with no length,
 *  count or index that avro-c would trust beyond the data. Sets *@p usedp
 *  to the bytes it takes. */
brook_err_t brook__avro_scan(avro_schema_t schema, const void *data,
                             size_t size, size_t *usedp, char *errstr,
                             size_t errstr_size);

/** Sets @p r (a value of @p reader) from @p w (a value of any schema) by
 *  the specification's resolution rules, with reader defaults. */
brook_err_t brook__avro_resolve(const brook__avro_schema_t *reader,
                                const avro_value_t *w, avro_value_t *r,
                                char *errstr, size_t errstr_size);

/** The writer schema of @p id, parsed and cached for the client's life. */
brook_err_t brook__sr_schema_by_id(brook_schema_registry_t *sr, int32_t id,
                                   const brook__avro_schema_t **sp,
                                   char *errstr, size_t errstr_size);

/** The latest version of @p subject, parsed (cached with the TTL). */
brook_err_t brook__sr_latest(brook_schema_registry_t *sr, const char *subject,
                             const brook__avro_schema_t **sp, char *errstr,
                             size_t errstr_size);

/** The cached schema whose avro_schema_t is @p schema, or NULL. */
const brook__avro_schema_t *brook__sr_known(brook_schema_registry_t *sr,
                                            avro_schema_t schema);

/** Puts @p text in the id cache as @p id, as if fetched (tests, fuzzing). */
brook_err_t brook__sr_preload(brook_schema_registry_t *sr, int32_t id,
                              const char *text, char *errstr,
                              size_t errstr_size);

/** The registry settings a serde follows. */
typedef enum {
        BROOK__SUBJECT_TOPIC,
        BROOK__SUBJECT_RECORD,
        BROOK__SUBJECT_TOPIC_RECORD,
} brook__subject_strategy_t;

brook__subject_strategy_t brook__sr_strategy(const brook_schema_registry_t *sr,
                                             bool is_key);
bool brook__sr_auto_register(const brook_schema_registry_t *sr);
bool brook__sr_use_latest(const brook_schema_registry_t *sr);
brook_schema_registry_t *brook__sr_ref(brook_schema_registry_t *sr);

/** Decodes a Confluent-framed payload to a value of its writer schema, or
 *  of @p reader if given. The value is in *@p valp (avro_value_decref()).
 *  The whole decoder a record goes through: the fuzz target's entry. */
brook_err_t brook__avro_decode(brook_schema_registry_t *sr,
                               const brook__avro_schema_t *reader,
                               const void *data, size_t size,
                               avro_value_t *valp, char *errstr,
                               size_t errstr_size);

#endif
