/*
 * brook — metrics and the embedded HTTP server (internal).
 */
#ifndef BROOK_METRICS_INT_H
#define BROOK_METRICS_INT_H

#include "brook_int.h"

/** The app's metrics: samples of its threads' counters, for rates and
 *  averages over metrics.sample.window.ms (engine/metrics.c). */
typedef struct brook__metrics brook__metrics_t;

/** Made by brook_app_start() once the threads exist. */
brook__metrics_t *brook__metrics_new(brook_app_t *app);
void brook__metrics_destroy(brook__metrics_t *m);
/** Appends the Prometheus text of @p app's metrics to @p out. Thread-safe. */
void brook__metrics_render(brook_app_t *app, brook_buf_t *out);
/** "RUNNING", ... */
const char *brook__app_state_name(brook_app_state_t st);

/** The embedded HTTP server (engine/http.c). */
typedef struct brook__http brook__http_t;

/** Starts the server when application.server is set (else *@p httpp is
 *  NULL and BROOK_OK). */
brook_err_t brook__http_start(brook_app_t *app, brook__http_t **httpp,
                              char *errstr, size_t errstr_size);
/** Stops it: waits for requests being served. NULL-safe. */
void brook__http_stop(brook__http_t *http);

#endif
