/*
 * brook — errors.
 *
 * Every call that can fail returns a brook_err_t. Calls that fail for reasons a
 * user must read also take `char *errstr, size_t errstr_size` and write a
 * NUL-terminated sentence there naming what is wrong.
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
} brook_err_t;

/** A static, human-readable name for @p err; never NULL. */
const char *brook_err2str(brook_err_t err);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
