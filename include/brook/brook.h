/*
 * brook — a stream processing engine for Apache Kafka, in C.
 *
 * Include this header for the whole public API.
 *
 * Conventions every header follows:
 *
 * - Errors have one channel (error.h says it in full): a call that can fail
 *   returns a brook_err_t (BROOK_OK is 0) and writes its reason to the
 *   caller's `char *errstr, size_t errstr_size` (may be NULL); constructors
 *   return NULL with the reason in errstr; chained DSL calls return NULL and
 *   keep the first reason in the builder (brook_builder_error()).
 * - Ownership: brook_x_new() is paired with brook_x_destroy(), and
 *   destroy(NULL) is a no-op. A call that "takes" an object owns it only
 *   when it succeeds (one exception, said where it is declared:
 *   brook_builder_add_processor() frees a definition's opaque even when it
 *   fails, so that DSL calls never leak one). Bytes and strings passed in
 *   are borrowed for the call (copied if kept). Every returned pointer says
 *   how long it lives.
 * - Threads: each function says which thread may call it; "thread-safe"
 *   means any thread, concurrently.
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
#include "timestamp.h"
#include "version.h"
#include "versioned_store.h"
#include "window_store.h"

/*
 * Structs that grow.
 *
 * Structs that a program fills in and hands to brook (the options structs
 * brook_consumed_t, brook_produced_t, brook_materialized_t,
 * brook_grouping_t, brook_repartitioned_t, brook_app_run_options_t, the
 * restore listener brook_restore_listener_t, and the vtables
 * brook_processor_def_t, brook_kvstore_supplier_t,
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
 *    for store vtables, from brook_app_run_with() for its options, and
 *    from brook_app_set_restore_listener() for the listener.
 */

#define BROOK_SECONDS 1000LL
#define BROOK_MINUTES (60LL * BROOK_SECONDS)
#define BROOK_HOURS   (60LL * BROOK_MINUTES)

#endif
