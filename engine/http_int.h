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
        BROOK__HTTP_STORE_KEY,  /**< GET /stores/{store}/{key} */
        BROOK__HTTP_STORE_SCAN, /**< GET /stores/{store}?from=&to=&... */
} brook__http_route_t;

/** The largest page of a scan (limit=), and the default. */
#define BROOK__HTTP_LIMIT_MAX 10000
#define BROOK__HTTP_LIMIT_DEF 1000

/** A text query parameter, decoded (NULL: absent; may hold NULs). */
typedef struct brook__http_text {
        char *s;
        size_t len;
} brook__http_text_t;

/** A parsed request. */
typedef struct brook__http_req {
        brook__http_route_t route;
        char store[256]; /**< Decoded. */
        char *key;       /**< Decoded, NUL-terminated (may hold NULs). */
        size_t key_len;
        /* Scans: key bounds in the store's text form, the page size, and
         * where the last page ended (cursor "<partition>" or
         * "<partition>.<hex of the last key>": partition -1 when absent,
         * cursor_key NULL for a partition's start, non-NULL (maybe of
         * length 0) for "after this key"). partition >= 0 asks for that
         * partition only (what one instance asks another). */
        brook__http_text_t from, to, prefix;
        int limit;
        int32_t cursor_partition;
        unsigned char *cursor_key; /**< NULL: from the partition's start. */
        size_t cursor_key_len;
        int32_t partition;
        /* Window and session stores' key fetches: the window starts'
         * bounds (ms, inclusive; 0 and INT64_MAX unless given) and the
         * order; has_window_args when any was given. */
        int64_t time_from, time_to;
        bool backward, has_window_args;
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
