/*
 * brook — the HTTP server's request parser (engine/http.c), pure so that
 * its fuzz target (tests/fuzz/fuzz_http_request.c) can drive it alone.
 */
#ifndef BROOK_HTTP_INT_H
#define BROOK_HTTP_INT_H

#include "brook_int.h"

typedef enum {
        BROOK__HTTP_HEALTH,
        BROOK__HTTP_READY,
        BROOK__HTTP_STATE,
        BROOK__HTTP_METRICS,
        BROOK__HTTP_STORE_KEY, /**< GET /stores/{store}/{key} */
} brook__http_route_t;

/** A parsed request. */
typedef struct brook__http_req {
        brook__http_route_t route;
        char store[256]; /**< Decoded. */
        char *key;       /**< Decoded, NUL-terminated (may hold NULs). */
        size_t key_len;
} brook__http_req_t;

/**
 * Parses @p method and the raw (still escaped) @p path into *@p req.
 * Returns 0, or the HTTP status to answer (400, 404, 405) with the reason
 * in @p errstr. Free *@p req with brook__http_req_free() either way.
 */
int brook__http_parse(const char *method, const char *path,
                      brook__http_req_t *req, char *errstr, size_t errstr_size);
/** Takes query parameter @p name = @p value (both decoded). Returns 0 or
 *  the HTTP status to answer, as brook__http_parse(). */
int brook__http_parse_arg(brook__http_req_t *req, const char *name,
                          const char *value, char *errstr, size_t errstr_size);
void brook__http_req_free(brook__http_req_t *req);

/** Decodes %XX escapes (and '+' as a space when @p plus_space) of the @p n
 *  bytes at @p s into a new NUL-terminated string of *@p lenp bytes, or
 *  NULL for a bad escape. */
char *brook__http_unescape(const char *s, size_t n, bool plus_space,
                           size_t *lenp);

#endif
