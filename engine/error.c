/*
 * brook — names of error codes.
 */
#include "brook_int.h"

const char *brook_err2str(brook_err_t err)
{
        /* A switch rather than a table indexed by the code, so that a code
         * added to error.h without a name here is caught by -Wswitch and an
         * out-of-range value cannot read past the end. */
        switch (err) {
        case BROOK_OK:
                return "Success";
        case BROOK_ERR_INVALID_ARG:
                return "Invalid argument";
        case BROOK_ERR_CONF_UNKNOWN:
                return "Unknown configuration property";
        case BROOK_ERR_CONF_INVALID:
                return "Invalid configuration value";
        case BROOK_ERR_TOPOLOGY:
                return "Invalid topology";
        case BROOK_ERR_SERDE:
                return "Serialization error";
        case BROOK_ERR_KAFKA:
                return "Kafka error";
        case BROOK_ERR_STATE:
                return "Not allowed in the current state";
        case BROOK_ERR_PROCESSING:
                return "Processing error";
        case BROOK_ERR_NOT_FOUND:
                return "Not found";
        case BROOK_ERR_TIMED_OUT:
                return "Timed out";
        case BROOK_ERR_FATAL:
                return "Fatal error";
        case BROOK_ERR_END:
                return "No more entries";
        }
        return "Unknown error";
}
