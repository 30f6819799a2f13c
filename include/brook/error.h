/*
 * brook — errors: the one channel every call reports through.
 *
 * 1. A call that can fail returns a brook_err_t: BROOK_OK (0) on success,
 *    else a code below. brook_err2str() names a code.
 * 2. Its reason, a NUL-terminated sentence naming what is wrong (the
 *    property, store, topic, node, offset...), goes to the caller's buffer:
 *    such calls take `char *errstr, size_t errstr_size` as their last
 *    parameters. The buffer may be NULL (or the size 0) when the caller does
 *    not want the reason; it is written only when the call fails, and is
 *    truncated (still NUL-terminated) when it is too small. 512 bytes hold
 *    nearly every message; 1024 hold reasons that nest (a handler's message
 *    around a node's around a store's).
 * 3. Constructors that can fail (brook_app_new(), brook_serde_new(),
 *    brook_test_driver_new()) return NULL and write the reason to errstr.
 * 4. The DSL's chained calls (dsl.h) return NULL on failure and keep the
 *    first failure's reason in the builder: brook_builder_error() is the one
 *    place to look, and brook_app_new() / brook_test_driver_new() refuse a
 *    builder that has one, with that reason.
 * 5. Callbacks brook calls that can fail (a processor's init() and
 *    process(), a serde, a store supplier and an inner store) follow the same
 *    rule in reverse: they return a brook_err_t and write their reason to the
 *    errstr brook passes them; brook adds where it happened (task, node,
 *    store, topic, partition, offset) and hands it to the exception handler.
 *
 * Lookups that may legitimately find nothing say so with
 * BROOK_ERR_NOT_FOUND (a store get of an absent key), and iterators end with
 * BROOK_ERR_END; neither is a failure and neither writes errstr.
 */
#ifndef BROOK_ERROR_H
#define BROOK_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

typedef enum brook_err_e {
        BROOK_OK = 0,
        BROOK_ERR_INVALID_ARG,  /**< A NULL or out-of-range argument. */
        BROOK_ERR_CONF_UNKNOWN, /**< No such configuration property. */
        BROOK_ERR_CONF_INVALID, /**< A property's value is not accepted. */
        BROOK_ERR_TOPOLOGY,     /**< The topology is malformed. */
        BROOK_ERR_SERDE,        /**< A key or value failed to (de)serialize. */
        BROOK_ERR_KAFKA,        /**< Kafka (the broker or librdkafka) failed. */
        BROOK_ERR_STATE,        /**< The call is not allowed in this state. */
        BROOK_ERR_PROCESSING,   /**< A processor failed on a record. */
        BROOK_ERR_NOT_FOUND,    /**< A named thing does not exist. */
        BROOK_ERR_TIMED_OUT,    /**< An operation did not finish in time. */
        BROOK_ERR_FATAL,        /**< The application stopped on an error. */
        BROOK_ERR_END,          /**< An iterator has no more entries. */
} brook_err_t;

/** A static, human-readable name for @p err; never NULL (an unknown code
 *  gives "Unknown error"). Thread-safe. */
const char *brook_err2str(brook_err_t err);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
