/**
 * @file avro.h
 * @brief Avro serdes in the Confluent wire format, and a Schema Registry
 *        client (docs/avro.md).
 *
 * A record's key or value in the Confluent wire format is one magic byte
 * 0, the writer schema's registry id as 4 bytes big-endian, then the Avro
 * binary encoding of the datum. That is what Confluent's
 * KafkaAvroSerializer writes and KafkaAvroDeserializer reads, so brook and
 * Java services share topics.
 *
 * Two serdes read and write it:
 * - brook_serde_avro_new(): objects are `avro_value_t *` (avro-c generic
 *   values), for C topologies;
 * - brook_serde_avro_json_new(): objects are `json_t *` (jansson) in
 *   Avro's JSON encoding, for the packaged apps and for topologies that
 *   would rather handle JSON.
 *
 * Both take their registry settings from a brook_conf_t, under Confluent's
 * property names (schema.registry.url, auto.register.schemas,
 * use.latest.version, value.subject.name.strategy, ...; brook_conf_new()
 * lists them) through a brook_schema_registry_t that any number of serdes
 * share.
 *
 * Deserializing resolves the writer's schema to the serde's (the reader's)
 * schema as the Avro specification says: fields matched by name or alias,
 * fields the writer lacks take the reader's default, fields the reader
 * lacks are skipped, int, long and float widen, string and bytes convert,
 * enum symbols the reader lacks take its default, unions pick their
 * branch. A record that cannot be read (not the wire format, an unknown
 * schema id, truncated or corrupt data, an unresolvable schema) fails with
 * BROOK_ERR_SERDE and a message naming why, so it goes to the
 * deserialization exception handler (the dead-letter topic), never a
 * crash.
 *
 * Include this header (it is not part of brook.h) and link avro-c.
 */
#ifndef BROOK_AVRO_H
#define BROOK_AVRO_H

#include <stdbool.h>
#include <stdint.h>

#include <avro.h>
#include <jansson.h>

#include "conf.h"
#include "error.h"
#include "serde.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

/* ---------------------------------------------------------- the registry */

/** A Schema Registry client: its settings, connections and caches. */
typedef struct brook_schema_registry_s brook_schema_registry_t;

/**
 * Creates a Schema Registry client from @p conf's schema registry
 * properties (schema.registry.url, basic.auth.*, bearer.auth.*,
 * schema.registry.ssl.*, auto.register.schemas, use.latest.version,
 * key.subject.name.strategy, value.subject.name.strategy,
 * latest.cache.ttl.sec, schema.registry.request.timeout.ms). No request is
 * made here.
 *
 * Schemas by id are cached for the life of the client (an id never
 * changes); a subject's latest version for latest.cache.ttl.sec.
 * Thread-safe: stream threads share it.
 *
 * The first client loads libcurl (libcurl.so.4), which brook does not
 * load at start-up.
 *
 * @returns the client, or NULL with @p errstr set when
 *          schema.registry.url is unset or not an http(s) URL, or libcurl
 *          cannot be loaded.
 */
brook_schema_registry_t *brook_schema_registry_new(const brook_conf_t *conf,
                                                   char *errstr,
                                                   size_t errstr_size);

/** Drops the caller's reference: serdes made from @p sr keep it alive. */
void brook_schema_registry_destroy(brook_schema_registry_t *sr);

/**
 * Registers @p schema (Avro schema JSON) under @p subject, or finds it if
 * it is there: POST /subjects/{subject}/versions. *@p idp is its id.
 *
 * Every call of the client returns BROOK_ERR_INVALID_ARG for a NULL
 * argument it needs; messages never show credentials of the URL.
 *
 * @returns BROOK_OK; BROOK_ERR_SERDE with the registry's own message when
 *          it refuses (an incompatible schema: HTTP 409; an invalid one:
 *          422), or when it cannot be reached.
 */
brook_err_t brook_schema_registry_register(brook_schema_registry_t *sr,
                                           const char *subject,
                                           const char *schema, int32_t *idp,
                                           char *errstr, size_t errstr_size);

/**
 * Finds @p schema under @p subject without registering it: POST
 * /subjects/{subject}. *@p idp and *@p versionp (either may be NULL) are
 * its id and version.
 *
 * @returns BROOK_OK; BROOK_ERR_NOT_FOUND when the subject does not hold
 *          it (errstr set); BROOK_ERR_SERDE on other failures.
 */
brook_err_t brook_schema_registry_lookup(brook_schema_registry_t *sr,
                                         const char *subject,
                                         const char *schema, int32_t *idp,
                                         int32_t *versionp, char *errstr,
                                         size_t errstr_size);

/**
 * The schema (JSON text) registered under @p id: GET /schemas/ids/{id},
 * cached. *@p schemap is the client's, valid for its life.
 *
 * @returns BROOK_OK; BROOK_ERR_NOT_FOUND for an unknown id;
 *          BROOK_ERR_SERDE on other failures.
 */
brook_err_t brook_schema_registry_schema(brook_schema_registry_t *sr,
                                         int32_t id, const char **schemap,
                                         char *errstr, size_t errstr_size);

/**
 * Version @p version of @p subject, -1 for the latest: GET
 * /subjects/{subject}/versions/{version}. Any of @p idp, @p versionp and
 * @p schemap may be NULL; *@p schemap is the client's, valid for its life.
 * The latest version is cached for latest.cache.ttl.sec.
 *
 * @returns BROOK_OK; BROOK_ERR_NOT_FOUND for an unknown subject or
 *          version; BROOK_ERR_SERDE on other failures.
 */
brook_err_t brook_schema_registry_version(brook_schema_registry_t *sr,
                                          const char *subject, int32_t version,
                                          int32_t *idp, int32_t *versionp,
                                          const char **schemap, char *errstr,
                                          size_t errstr_size);

/**
 * Whether @p schema is compatible with the latest version of @p subject
 * under the subject's compatibility level: POST
 * /compatibility/subjects/{subject}/versions/latest. When it is not and
 * the registry says why, the reasons are in @p errstr.
 *
 * @returns BROOK_OK; BROOK_ERR_NOT_FOUND when the registry does not know
 *          the subject (Confluent's answers 404; Apicurio's says
 *          compatible); BROOK_ERR_SERDE on other failures.
 */
brook_err_t brook_schema_registry_test_compatibility(
        brook_schema_registry_t *sr, const char *subject, const char *schema,
        bool *compatiblep, char *errstr, size_t errstr_size);

/**
 * Sets the compatibility level (BACKWARD, FORWARD, FULL, NONE, and their
 * _TRANSITIVE forms) of @p subject, or the registry's default when
 * @p subject is NULL: PUT /config[/{subject}].
 */
brook_err_t brook_schema_registry_set_compatibility(brook_schema_registry_t *sr,
                                                    const char *subject,
                                                    const char *level,
                                                    char *errstr,
                                                    size_t errstr_size);

/* ---------------------------------------------------------------- serdes */

/**
 * An Avro serde whose objects are `avro_value_t *`.
 *
 * @param sr      the registry; the serde holds a reference.
 * @param schema  the schema as JSON text, or NULL. Deserializing resolves
 *                every writer schema to it (NULL: values come in their
 *                writer's schema, or with use.latest.version in the
 *                subject's latest). Serializing registers it (with
 *                auto.register.schemas) or looks it up, under the subject
 *                the strategy names, when a value has this schema;
 *                a value of another schema is registered with its own.
 * @param is_key  whether it (de)serializes keys: the subject of
 *                TopicNameStrategy is "<topic>-key" rather than
 *                "<topic>-value", and the strategy is
 *                key.subject.name.strategy.
 *
 * Deserialized values live until the record's arena is reset (the end of
 * its processing); a processor that keeps one copies it (avro_value_copy).
 * Serializing with use.latest.version and auto.register.schemas=false
 * writes the subject's latest schema, resolving the value to it.
 *
 * TopicNameStrategy needs the topic: brook passes it to serdes at sources,
 * sinks, repartition topics, stores (their changelog topic, in reads,
 * writes, table caches, suppression buffers, stream-stream join buffers
 * and queries) and the test driver (brook_serde_topic()); not yet where a
 * table's group_by compares keys or inside foreign-key joins, where
 * RecordNameStrategy serves.
 *
 * @returns the serde (free with brook_serde_destroy()), or NULL with
 *          @p errstr naming what is wrong with @p schema.
 */
brook_serde_t *brook_serde_avro_new(brook_schema_registry_t *sr,
                                    const char *schema, bool is_key,
                                    char *errstr, size_t errstr_size);

/**
 * An Avro serde whose objects are `json_t *` in Avro's JSON encoding: a
 * union is null or {"<branch type name>": value}, bytes and fixed are
 * strings of code points 0 to 255, enums are symbol strings. NaN and
 * infinite floats and doubles are the strings "NaN", "Infinity" and
 * "-Infinity", as Jackson writes them. Serializing needs @p schema.
 * Otherwise as brook_serde_avro_new().
 */
brook_serde_t *brook_serde_avro_json_new(brook_schema_registry_t *sr,
                                         const char *schema, bool is_key,
                                         char *errstr, size_t errstr_size);

/* ----------------------------------------------------------- conversions */

/**
 * @p value in Avro's JSON encoding (as brook_serde_avro_json_new()).
 * @returns a new reference, or NULL with @p errstr set.
 */
json_t *brook_avro_to_json(const avro_value_t *value, char *errstr,
                           size_t errstr_size);

/**
 * Sets @p value (a value of its schema, e.g. from avro_generic_value_new())
 * from @p json in Avro's JSON encoding.
 * @returns BROOK_OK, or BROOK_ERR_SERDE with @p errstr naming the path of
 *          what does not fit the schema.
 */
brook_err_t brook_avro_from_json(avro_value_t *value, const json_t *json,
                                 char *errstr, size_t errstr_size);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
