/*
 * brook — libcurl and libmicrohttpd, loaded the first time they are used.
 *
 * Most applications neither serve HTTP (application.server) nor talk to a
 * Schema Registry. Linked, the two libraries are loaded into every process
 * all the same, with what Debian builds them against (GnuTLS, p11-kit,
 * Kerberos, LDAP, libssh2 and more: 26 libraries), and their relocations
 * and constructors take 4 MiB of resident memory before a record is read.
 * So brook opens them with dlopen() when an HTTP server starts or a Schema
 * Registry client is made, and calls the few functions it needs through
 * the tables below (docs/operations.md, "The HTTP server").
 *
 * The types and constants still come from the headers brook is built with;
 * the sonames are the libraries' ABIs (libcurl.so.4, libmicrohttpd.so.12).
 * Once loaded, a library stays loaded until the process exits.
 */
#ifndef BROOK_DYNLIB_H
#define BROOK_DYNLIB_H

#include <curl/curl.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

/* The libcurl functions brook calls, each of its own type. */
typedef struct brook__curl_fns {
        __typeof__(curl_global_init) *global_init;
        __typeof__(curl_easy_init) *easy_init;
        __typeof__(curl_easy_setopt) *easy_setopt;
        __typeof__(curl_easy_perform) *easy_perform;
        __typeof__(curl_easy_getinfo) *easy_getinfo;
        __typeof__(curl_easy_reset) *easy_reset;
        __typeof__(curl_easy_cleanup) *easy_cleanup;
        __typeof__(curl_easy_strerror) *easy_strerror;
        __typeof__(curl_easy_escape) *easy_escape;
        __typeof__(curl_free) *free;
        __typeof__(curl_slist_append) *slist_append;
        __typeof__(curl_slist_free_all) *slist_free_all;
} brook__curl_fns_t;

/* The libmicrohttpd functions brook calls. */
typedef struct brook__mhd_fns {
        __typeof__(MHD_start_daemon) *start_daemon;
        __typeof__(MHD_stop_daemon) *stop_daemon;
        __typeof__(MHD_is_feature_supported) *is_feature_supported;
        __typeof__(MHD_create_response_from_buffer)
                *create_response_from_buffer;
        __typeof__(MHD_add_response_header) *add_response_header;
        __typeof__(MHD_queue_response) *queue_response;
        __typeof__(MHD_destroy_response) *destroy_response;
        __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
        __typeof__(MHD_get_connection_values) *get_connection_values;
} brook__mhd_fns_t;

/* The functions, filled in by the loaders below: call them only after
 * one has returned true (in this thread, or before the thread that calls
 * them was started or handed the object that needs them). */
extern brook__curl_fns_t brook__libcurl;
extern brook__mhd_fns_t brook__libmhd;

/*
 * Loads libcurl and calls curl_global_init() on the first call. False, with
 * the reason in @p errstr (naming @p what, the feature that needs it), if
 * it cannot; a later call tries again. Thread-safe.
 */
bool brook__libcurl_load(const char *what, char *errstr, size_t errstr_size);

/* Loads libmicrohttpd, as brook__libcurl_load(). */
bool brook__libmhd_load(const char *what, char *errstr, size_t errstr_size);

#endif /* BROOK_DYNLIB_H */
