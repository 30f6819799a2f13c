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

/*
 * Structs that grow.
 *
 * Structs that a program fills in and hands to brook (the options structs
 * brook_consumed_t, brook_produced_t, brook_materialized_t,
 * brook_grouping_t, brook_repartitioned_t, brook_app_run_options_t, and
 * the vtables brook_processor_def_t, brook_kvstore_supplier_t,
 * brook_kvstore_ops_t, brook_kvbytes_iter_t) have an `int version`
 * member, so that a later release can add members without breaking
 * programs built against this one:
 *
 *  - 0 means version 1, so a zero-initialized struct (a compound literal
 *    with designated initializers, as every example uses) is valid as is;
 *  - a release that adds members to a struct bumps its
 *    BROOK_<STRUCT>_VERSION macro, and a program that sets the new members
 *    sets .version to that macro; brook reads only the members of the
 *    version the program set, so an older program keeps working;
 *  - brook refuses a version it does not know (negative, or above its own
 *    BROOK_<STRUCT>_VERSION) with an error that names the struct: in the
 *    builder's error for topology structs, from the store's open or scan
 *    for store vtables, and from brook_app_run_with() for its options.
 */

#define BROOK_SECONDS 1000LL
#define BROOK_MINUTES (60LL * BROOK_SECONDS)
#define BROOK_HOURS   (60LL * BROOK_MINUTES)

#endif
