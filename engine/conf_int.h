/*
 * brook — what conf.c and conf_rdkafka.c share: how brook reasons about
 * librdkafka's properties.
 */
#ifndef BROOK_CONF_INT_H
#define BROOK_CONF_INT_H

#include "brook_int.h"

/** The client a pass-through property is meant for. */
typedef enum {
        BROOK__CLIENT_ALL, /**< Unprefixed: every client it applies to. */
        BROOK__CLIENT_CONSUMER,
        BROOK__CLIENT_PRODUCER,
        BROOK__CLIENT_ADMIN,
} brook__client_t;

/**
 * Checks that librdkafka property @p rkname may be set to @p value: it is
 * not one brook sets itself, librdkafka knows it and accepts the value.
 * @p name is the property as the user wrote it (with its client prefix),
 * for messages.
 *
 * @returns BROOK_OK, BROOK_ERR_CONF_UNKNOWN or BROOK_ERR_CONF_INVALID.
 */
brook_err_t brook__rkprop_check(const char *name, const char *rkname,
                                const char *value, char *errstr,
                                size_t errstr_size);

/** Whether an unprefixed librdkafka property @p rkname goes to @p client.
 *  Thread-safe. */
bool brook__rkprop_applies(const char *rkname, brook__client_t client);

#endif
