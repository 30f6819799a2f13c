/*
 * brook — a stream processing engine for Apache Kafka, in C.
 *
 * Include this header for the whole public API.
 */
#ifndef BROOK_BROOK_H
#define BROOK_BROOK_H

#include "app.h"
#include "conf.h"
#include "dsl.h"
#include "error.h"
#include "processor.h"
#include "record.h"
#include "serde.h"
#include "store.h"
#include "test_driver.h"
#include "version.h"

#define BROOK_SECONDS 1000LL
#define BROOK_MINUTES (60LL * BROOK_SECONDS)
#define BROOK_HOURS   (60LL * BROOK_MINUTES)

#endif
