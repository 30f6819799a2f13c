/*
 * brook — the embedded HTTP server (libmicrohttpd): /health, /ready,
 * /state, /metrics and interactive queries, for operators and their tools
 * (docs/operations.md).
 *
 * Off unless application.server is set; it then listens on
 * http.listen.address (127.0.0.1 by default) at application.server's port.
 * A connection gets a thread of its own (a query may read RocksDB), at most
 * http.max.connections of them; a connection idle for
 * http.request.timeout.ms is closed, so a slow client holds one thread for
 * that long at most; a request larger than http.max.request.bytes is
 * refused (414 for its line, 431 for its headers, 413 for a body). Every
 * error is a JSON object {"error": "...", "status": N}.
 *
 * libmicrohttpd does not unescape anything here (an identity unescape
 * callback): brook__http_parse() splits the raw path first, so that a key
 * may hold an escaped '/', then decodes each piece. The parser is pure (no
 * server, no app), for its fuzz target (tests/fuzz/fuzz_http_request.c).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "app_int.h"
#include "dynlib.h"
#include "http_int.h"

/* ------------------------------------------------------------- parsing */

static int hexval(int c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

char *brook__http_unescape(const char *s, size_t n, bool plus_space,
                           size_t *lenp)
{
        char *out = brook__xmalloc(n + 1);
        size_t i, o = 0;

        for (i = 0; i < n; i++) {
                if (s[i] == '%') {
                        int hi, lo;
                        if (i + 2 >= n) {
                                free(out);
                                return NULL;
                        }
                        hi = hexval((unsigned char)s[i + 1]);
                        lo = hexval((unsigned char)s[i + 2]);
                        if (hi < 0 || lo < 0) {
                                free(out);
                                return NULL;
                        }
                        out[o++] = (char)(hi * 16 + lo);
                        i += 2;
                } else if (plus_space && s[i] == '+')
                        out[o++] = ' ';
                else
                        out[o++] = s[i];
        }
        out[o] = '\0';
        *lenp = o;
        return out;
}

void brook__http_req_free(brook__http_req_t *req)
{
        free(req->key);
        free(req->from.s);
        free(req->to.s);
        free(req->prefix.s);
        free(req->cursor_key);
        req->key = req->from.s = req->to.s = req->prefix.s = NULL;
        req->cursor_key = NULL;
}

#define ENDPOINTS                                                              \
        "/health, /ready, /state, /metrics, /stores/{store} and "              \
        "/stores/{store}/{key}"

int brook__http_parse(const char *method, const char *path,
                      brook__http_req_t *req, char *errstr, size_t errstr_size)
{
        const char *seg[4], *p;
        size_t seglen[4], nseg = 0, len;
        char *store;

        memset(req, 0, sizeof *req);
        req->limit = BROOK__HTTP_LIMIT_DEF;
        req->cursor_partition = -1;
        req->partition = -1;
        req->time_to = INT64_MAX;
        if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
                brook__seterr(errstr, errstr_size,
                              "method %.32s is not allowed: the server "
                              "answers GET and HEAD",
                              method);
                return 405;
        }
        if (path[0] != '/') {
                brook__seterr(errstr, errstr_size,
                              "the path must start with '/'");
                return 400;
        }
        /* Split the raw path at '/' (an escaped one, %2F, stays in its
         * piece). A trailing '/' makes an empty last piece. */
        p = path + 1;
        for (;;) {
                const char *slash = strchr(p, '/');
                len = slash ? (size_t)(slash - p) : strlen(p);
                if (nseg == sizeof seg / sizeof *seg) {
                        brook__seterr(errstr, errstr_size,
                                      "no such endpoint (too many path "
                                      "segments); endpoints: " ENDPOINTS);
                        return 404;
                }
                seg[nseg] = p;
                seglen[nseg++] = len;
                if (!slash)
                        break;
                p = slash + 1;
        }
#define SEG_IS(i, lit)                                                         \
        (seglen[i] == sizeof(lit) - 1 && !memcmp(seg[i], lit, seglen[i]))
        if (nseg == 1) {
                if (SEG_IS(0, "health"))
                        req->route = BROOK__HTTP_HEALTH;
                else if (SEG_IS(0, "ready"))
                        req->route = BROOK__HTTP_READY;
                else if (SEG_IS(0, "state"))
                        req->route = BROOK__HTTP_STATE;
                else if (SEG_IS(0, "metrics"))
                        req->route = BROOK__HTTP_METRICS;
                else
                        goto unknown;
                return 0;
        }
        if (!SEG_IS(0, "stores") || nseg < 2 || nseg > 3)
                goto unknown;
#undef SEG_IS
        if (!seglen[1]) {
                brook__seterr(errstr, errstr_size, "the store name is empty");
                return 400;
        }
        if (!(store = brook__http_unescape(seg[1], seglen[1], false, &len)) ||
            len != strlen(store) || len >= sizeof req->store) {
                free(store);
                brook__seterr(errstr, errstr_size,
                              "the store name is not a valid escaped name "
                              "of at most %zu bytes without NUL",
                              sizeof req->store - 1);
                return 400;
        }
        memcpy(req->store, store, len + 1);
        free(store);
        if (nseg == 2) {
                req->route = BROOK__HTTP_STORE_SCAN;
                return 0;
        }
        if (!seglen[2]) {
                brook__seterr(errstr, errstr_size,
                              "the key is empty: GET /stores/%s/{key}",
                              req->store);
                return 400;
        }
        if (!(req->key = brook__http_unescape(seg[2], seglen[2], false,
                                              &req->key_len))) {
                brook__seterr(errstr, errstr_size,
                              "the key has a bad escape: '%%' must be "
                              "followed by two hex digits");
                return 400;
        }
        req->route = BROOK__HTTP_STORE_KEY;
        return 0;

unknown:
        brook__seterr(errstr, errstr_size, "no such endpoint; endpoints: %s",
                      ENDPOINTS);
        return 404;
}

/* A non-negative decimal of at most 9 digits, or -1. */
static int32_t small_decimal(const char *s)
{
        int32_t v = 0;
        size_t i;
        if (!*s || strlen(s) > 9)
                return -1;
        for (i = 0; s[i]; i++) {
                if (!isdigit((unsigned char)s[i]))
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        return v;
}

int brook__http_parse_arg(brook__http_req_t *req, const char *name,
                          const char *value, char *errstr, size_t errstr_size)
{
        brook__http_text_t *t = NULL;
        size_t len = strlen(value);

        if (req->route == BROOK__HTTP_STORE_KEY) {
                /* A window or session store's fetch. */
                if (!strcmp(name, "time_from") || !strcmp(name, "time_to")) {
                        char *end;
                        long long v;
                        errno = 0;
                        v = isdigit((unsigned char)*value)
                                    ? strtoll(value, &end, 10)
                                    : -1;
                        if (v < 0 || *end || errno) {
                                brook__seterr(errstr, errstr_size,
                                              "%s must be a time in ms "
                                              "since the epoch (a whole "
                                              "number, 0 or more)",
                                              name);
                                return 400;
                        }
                        *(name[5] == 'f' ? &req->time_from : &req->time_to) = v;
                        req->has_window_args = true;
                        return 0;
                }
                if (!strcmp(name, "backward")) {
                        if (strcmp(value, "true") && strcmp(value, "false")) {
                                brook__seterr(errstr, errstr_size,
                                              "backward must be true or "
                                              "false");
                                return 400;
                        }
                        req->backward = !strcmp(value, "true");
                        req->has_window_args = true;
                        return 0;
                }
                brook__seterr(errstr, errstr_size,
                              "unknown query parameter \"%.64s\": GET "
                              "/stores/{store}/{key} takes time_from, "
                              "time_to and backward (window and session "
                              "stores)",
                              name);
                return 400;
        }
        if (req->route != BROOK__HTTP_STORE_SCAN) {
                brook__seterr(errstr, errstr_size,
                              "unknown query parameter \"%.64s\": only "
                              "GET /stores/{store} and "
                              "/stores/{store}/{key} take parameters",
                              name);
                return 400;
        }
        if (!strcmp(name, "from"))
                t = &req->from;
        else if (!strcmp(name, "to"))
                t = &req->to;
        else if (!strcmp(name, "prefix"))
                t = &req->prefix;
        if (t) {
                if (t->s) {
                        brook__seterr(errstr, errstr_size,
                                      "query parameter \"%s\" is given "
                                      "twice",
                                      name);
                        return 400;
                }
                t->s = brook__xmalloc(len + 1);
                memcpy(t->s, value, len + 1);
                t->len = len;
                return 0;
        }
        if (!strcmp(name, "limit")) {
                int32_t v = small_decimal(value);
                if (v < 1 || v > BROOK__HTTP_LIMIT_MAX) {
                        brook__seterr(errstr, errstr_size,
                                      "limit must be a whole number from 1 "
                                      "to %d",
                                      BROOK__HTTP_LIMIT_MAX);
                        return 400;
                }
                req->limit = (int)v;
                return 0;
        }
        if (!strcmp(name, "partition")) {
                if ((req->partition = small_decimal(value)) < 0) {
                        brook__seterr(errstr, errstr_size,
                                      "partition must be a whole number");
                        return 400;
                }
                return 0;
        }
        if (!strcmp(name, "cursor")) {
                /* As a page's "next" gives it: "<partition>" (from its
                 * start) or "<partition>.<hex of the last key>" (after
                 * that key; an empty key is "<partition>."). */
                const char *dot = strchr(value, '.');
                size_t plen = dot ? (size_t)(dot - value) : strlen(value);
                char part[16];
                size_t hex, i;
                if (plen >= sizeof part)
                        goto bad_cursor;
                memcpy(part, value, plen);
                part[plen] = '\0';
                hex = dot ? strlen(dot + 1) : 0;
                if ((req->cursor_partition = small_decimal(part)) < 0 ||
                    hex % 2)
                        goto bad_cursor;
                free(req->cursor_key);
                req->cursor_key = NULL;
                req->cursor_key_len = hex / 2;
                if (dot) {
                        req->cursor_key = brook__xmalloc(hex / 2 + 1);
                        for (i = 0; i < hex / 2; i++) {
                                int hi = hexval((unsigned char)dot[1 + 2 * i]),
                                    lo = hexval((unsigned char)dot[2 + 2 * i]);
                                if (hi < 0 || lo < 0)
                                        goto bad_cursor;
                                req->cursor_key[i] =
                                        (unsigned char)(hi * 16 + lo);
                        }
                }
                return 0;
        bad_cursor:
                req->cursor_partition = -1;
                free(req->cursor_key);
                req->cursor_key = NULL;
                brook__seterr(errstr, errstr_size,
                              "the cursor is not one this server gave (a "
                              "page's \"next\")");
                return 400;
        }
        brook__seterr(errstr, errstr_size,
                      "unknown query parameter \"%.64s\": GET "
                      "/stores/{store} takes from, to, prefix, limit and "
                      "cursor",
                      name);
        return 400;
}

/* ---------------------------------------------------------- key, value */

static const char b64chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static json_t *b64_json(const unsigned char *d, size_t n)
{
        char *out = brook__xmalloc(4 * ((n + 2) / 3) + 1);
        size_t i, o = 0;
        json_t *j;
        for (i = 0; i + 2 < n; i += 3) {
                out[o++] = b64chars[d[i] >> 2];
                out[o++] = b64chars[((d[i] & 3) << 4) | (d[i + 1] >> 4)];
                out[o++] = b64chars[((d[i + 1] & 15) << 2) | (d[i + 2] >> 6)];
                out[o++] = b64chars[d[i + 2] & 63];
        }
        if (i < n) {
                out[o++] = b64chars[d[i] >> 2];
                if (i + 1 < n) {
                        out[o++] =
                                b64chars[((d[i] & 3) << 4) | (d[i + 1] >> 4)];
                        out[o++] = b64chars[(d[i + 1] & 15) << 2];
                } else {
                        out[o++] = b64chars[(d[i] & 3) << 4];
                        out[o++] = '=';
                }
                out[o++] = '=';
        }
        out[o] = '\0';
        j = json_string(out);
        free(out);
        return j;
}

/* The typed key of @p serde from its text form @p s (@p n bytes), in
 * @p arena; NULL with @p errstr set when it is not one. */
static void *key_from_text(const brook_serde_t *serde, const char *s, size_t n,
                           brook_arena_t *arena, char *errstr,
                           size_t errstr_size)
{
        char *end;
        if (serde == brook_serde_string()) {
                if (strlen(s) != n) {
                        brook__seterr(errstr, errstr_size,
                                      "the key holds a NUL byte, which a "
                                      "string key cannot");
                        return NULL;
                }
                return brook_arena_strdup(arena, s);
        }
        if (serde == brook_serde_bytes()) {
                brook_bytes_t *b = brook_arena_alloc(arena, sizeof *b);
                b->data = brook_arena_memdup(arena, s, n ? n : 1);
                b->size = n;
                return b;
        }
        if (serde == brook_serde_int32() || serde == brook_serde_int64()) {
                long long v;
                errno = 0;
                v = n && strlen(s) == n && !isspace((unsigned char)*s)
                            ? strtoll(s, &end, 10)
                            : 0;
                if (!n || strlen(s) != n || isspace((unsigned char)*s) ||
                    *end || errno ||
                    (serde == brook_serde_int32() &&
                     (v < INT32_MIN || v > INT32_MAX))) {
                        brook__seterr(errstr, errstr_size,
                                      "the key is not a decimal %s",
                                      serde == brook_serde_int32() ? "int32"
                                                                   : "int64");
                        return NULL;
                }
                return serde == brook_serde_int32()
                               ? (void *)brook_int32_new(arena, (int32_t)v)
                               : (void *)brook_int64_new(arena, v);
        }
        if (serde == brook_serde_double()) {
                double v = 0;
                errno = 0;
                if (n && strlen(s) == n && !isspace((unsigned char)*s))
                        v = strtod(s, &end);
                if (!n || strlen(s) != n || isspace((unsigned char)*s) ||
                    *end || errno || !isfinite(v)) {
                        brook__seterr(errstr, errstr_size,
                                      "the key is not a finite decimal "
                                      "number (double)");
                        return NULL;
                }
                return brook_double_new(arena, v);
        }
        if (serde == brook_serde_json()) {
                json_error_t jerr;
                json_t *j = json_loadb(s, n, JSON_DECODE_ANY, &jerr);
                if (!j) {
                        brook__seterr(errstr, errstr_size,
                                      "the key is not JSON: %s", jerr.text);
                        return NULL;
                }
                return brook_json_own(arena, j);
        }
        brook__seterr(errstr, errstr_size,
                      "the store's keys use serde \"%s\", which has no text "
                      "form here: query it with brook_app_store_get()",
                      brook_serde_name(serde));
        return NULL;
}

/* The JSON form of @p value of @p serde (new reference). */
static json_t *value_json(const brook_serde_t *serde, const void *value)
{
        brook_buf_t *buf;
        json_t *j;
        if (!value)
                return json_null();
        if (serde == brook_serde_string()) {
                /* Not UTF-8: its bytes, in base64. */
                j = json_string(value);
                return j ? j : b64_json(value, strlen(value));
        }
        if (serde == brook_serde_int32())
                return json_integer(*(const int32_t *)value);
        if (serde == brook_serde_int64())
                return json_integer(*(const int64_t *)value);
        if (serde == brook_serde_double())
                return json_real(*(const double *)value);
        if (serde == brook_serde_json())
                return json_incref((json_t *)value);
        if (serde == brook_serde_bytes()) {
                const brook_bytes_t *b = value;
                return b64_json(b->data, b->size);
        }
        /* Any other serde: its encoding, in base64. */
        buf = brook_buf_new();
        j = brook_serde_serialize(serde, value, buf, NULL, 0)
                    ? json_null()
                    : b64_json(brook_buf_data(buf), brook_buf_len(buf));
        brook_buf_destroy(buf);
        return j;
}

/* -------------------------------------------------------------- server */

#define FORWARD_POOL 16

struct brook__http {
        brook_app_t *app;
        struct MHD_Daemon *d;
        char *token; /**< http.auth.token, or NULL. */
        size_t max_request;
        char *cert, *key; /**< PEM, while TLS is on. */
        const char *cert_file;
        long timeout_ms;
        /** libcurl handles for forwarded requests, kept for their
         *  connections (keep-alive), at most FORWARD_POOL. */
        pthread_mutex_t pool_lock;
        CURL *pool[FORWARD_POOL];
        int pool_cnt;
};

/* The header a forwarded request carries: its receiver answers from its
 * own tasks or 421, never forwards again (no loops). */
#define FORWARDED_HDR "X-Brook-Forwarded"

/** Per request: the body bytes seen (a GET has none). */
struct http_conn {
        size_t body;
        bool refused;
};

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status,
                               const char *type, char *body, size_t len,
                               const char *hdr, const char *hdr_value)
{
        struct MHD_Response *r = brook__libmhd.create_response_from_buffer(
                len, body, MHD_RESPMEM_MUST_FREE);
        enum MHD_Result ret;
        if (!r) {
                free(body);
                return MHD_NO;
        }
        brook__libmhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                          type);
        brook__libmhd.add_response_header(r, "Cache-Control", "no-store");
        if (hdr)
                brook__libmhd.add_response_header(r, hdr, hdr_value);
        ret = brook__libmhd.queue_response(c, status, r);
        brook__libmhd.destroy_response(r);
        return ret;
}

static enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status,
                                    json_t *doc, const char *hdr,
                                    const char *hdr_value)
{
        char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(doc);
        if (!s)
                return MHD_NO;
        return respond(c, status, "application/json", s, strlen(s), hdr,
                       hdr_value);
}

static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status,
                                     const char *msg, const char *hdr,
                                     const char *hdr_value)
{
        json_t *doc = json_object();
        json_t *m = json_string(msg);
        json_object_set_new(doc, "error", m ? m : json_string("(not UTF-8)"));
        json_object_set_new(doc, "status", json_integer(status));
        return respond_json(c, status, doc, hdr, hdr_value);
}

static bool token_ok(const brook__http_t *h, struct MHD_Connection *c)
{
        const char *auth = brook__libmhd.lookup_connection_value(
                c, MHD_HEADER_KIND, "Authorization");
        size_t n, i;
        unsigned diff = 0;
        if (!auth || strncmp(auth, "Bearer ", 7))
                return false;
        auth += 7;
        n = strlen(h->token);
        if (strlen(auth) != n)
                return false;
        for (i = 0; i < n; i++)
                diff |= (unsigned char)(auth[i] ^ h->token[i]);
        return diff == 0;
}

struct fwd_body {
        char *p;
        size_t n, max;
};

static size_t fwd_write(char *p, size_t sz, size_t n, void *opaque)
{
        struct fwd_body *b = opaque;
        size_t len = sz * n;
        if (b->n + len > b->max)
                return 0; /* Too large: the transfer fails. */
        b->p = brook__xrealloc(b->p, b->n + len + 1);
        memcpy(b->p + b->n, p, len);
        b->n += len;
        b->p[b->n] = '\0';
        return len;
}

/* GETs @p path (raw, with its query) of the instance at @p server, marked
 * forwarded: its status and body (*@p bodyp, NUL-terminated, to free) and
 * content type (*@p typep, to free), or false with the reason in @p why. */
static bool fwd_get(brook__http_t *h, const char *server, const char *path,
                    long *statusp, char **bodyp, size_t *lenp, char **typep,
                    char *why, size_t why_size)
{
        struct fwd_body body = {NULL, 0, 64u << 20};
        struct curl_slist *hdrs = NULL;
        char *url, auth[1024], *type = NULL;
        CURLcode rc;
        CURL *cu = NULL;

        *bodyp = NULL;
        *typep = NULL;
        pthread_mutex_lock(&h->pool_lock);
        if (h->pool_cnt)
                cu = h->pool[--h->pool_cnt];
        pthread_mutex_unlock(&h->pool_lock);
        if (!cu && !(cu = brook__libcurl.easy_init())) {
                brook__seterr(why, why_size, "no libcurl handle");
                return false;
        }
        brook__libcurl.easy_reset(cu);
        url = brook__xmalloc(strlen(server) + strlen(path) + 16);
        sprintf(url, "%s://%s%s", h->cert ? "https" : "http", server, path);
        brook__libcurl.easy_setopt(cu, CURLOPT_URL, url);
        free(url); /* libcurl keeps a copy. */
        /* Only to a peer, over HTTP(S): the directory names it. A libcurl
         * older than 7.85 has no such option, and would follow any. */
        if (brook__libcurl.easy_setopt(cu, CURLOPT_PROTOCOLS_STR,
                                       "http,https") != CURLE_OK) {
                brook__seterr(why, why_size,
                              "this libcurl cannot be limited to http and "
                              "https (it needs libcurl 7.85 or later)");
                brook__libcurl.easy_cleanup(cu);
                return false;
        }
        brook__libcurl.easy_setopt(cu, CURLOPT_WRITEFUNCTION, fwd_write);
        brook__libcurl.easy_setopt(cu, CURLOPT_WRITEDATA, &body);
        brook__libcurl.easy_setopt(cu, CURLOPT_TIMEOUT_MS, h->timeout_ms);
        brook__libcurl.easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
        brook__libcurl.easy_setopt(cu, CURLOPT_PATH_AS_IS, 1L);
        if (h->cert_file)
                brook__libcurl.easy_setopt(cu, CURLOPT_CAINFO, h->cert_file);
        hdrs = brook__libcurl.slist_append(hdrs, FORWARDED_HDR ": 1");
        if (h->token) {
                snprintf(auth, sizeof auth, "Authorization: Bearer %s",
                         h->token);
                hdrs = brook__libcurl.slist_append(hdrs, auth);
        }
        brook__libcurl.easy_setopt(cu, CURLOPT_HTTPHEADER, hdrs);
        rc = brook__libcurl.easy_perform(cu);
        brook__libcurl.slist_free_all(hdrs);
        if (rc != CURLE_OK) {
                brook__seterr(why, why_size, "%s",
                              brook__libcurl.easy_strerror(rc));
                free(body.p);
                brook__libcurl.easy_cleanup(cu);
                return false;
        }
        brook__libcurl.easy_getinfo(cu, CURLINFO_RESPONSE_CODE, statusp);
        brook__libcurl.easy_getinfo(cu, CURLINFO_CONTENT_TYPE, &type);
        *typep = brook__xstrdup(type ? type : "application/json");
        pthread_mutex_lock(&h->pool_lock);
        if (h->pool_cnt < FORWARD_POOL)
                h->pool[h->pool_cnt++] = cu, cu = NULL;
        pthread_mutex_unlock(&h->pool_lock);
        if (cu)
                brook__libcurl.easy_cleanup(cu);
        *bodyp = body.p ? body.p : brook__xstrdup("");
        *lenp = body.n;
        return true;
}

/* Answers @p c with what instance @p server answers to the same request
 * (@p path: the raw path), or 503 when it cannot be asked or no longer
 * has the task (421). */
static enum MHD_Result forward(brook__http_t *h, struct MHD_Connection *c,
                               const char *server, const char *path,
                               const char *task_id)
{
        char *body, *type, why[512], msg[1024];
        long status = 0;
        size_t len;
        enum MHD_Result ret;

        if (!fwd_get(h, server, path, &status, &body, &len, &type, why,
                     sizeof why) ||
            status == 421 || status < 200) {
                if (!body)
                        snprintf(msg, sizeof msg,
                                 "task %s is on the instance at %s, which "
                                 "did not answer: %s",
                                 task_id, server, why);
                else
                        snprintf(msg, sizeof msg,
                                 "task %s is moving (the instance at %s no "
                                 "longer has it): ask again",
                                 task_id, server);
                free(body);
                free(type);
                return respond_error(c, 503, msg, "Retry-After", "1");
        }
        /* Says who answered: operators and clients can tell. */
        ret = respond(c, (unsigned)status, type, body, len, "X-Brook-Served-By",
                      server);
        free(type);
        return ret;
}

/* A window store's windows of @p key that start in [time_from, time_to]
 * (Kafka Streams' fetch(key, from, to)), or a session store's sessions of
 * it (fetch(key), or findSessions(key, time_from, time_to) when either is
 * given), into *@p docp. */
static brook_err_t fetch_windows(brook_app_t *app, const brook__storedef_t *def,
                                 const brook__http_req_t *req, const void *key,
                                 brook_arena_t *arena, json_t **docp,
                                 char *errstr, size_t errstr_size)
{
        brook_windowiter_t *it = NULL;
        brook_window_t w;
        json_t *ws;
        void *k, *v;
        brook_err_t err;

        if (def->kind == BROOK__STORE_WINDOW)
                err = brook_app_window_fetch(
                        app, req->store, key, req->time_from, req->time_to,
                        req->backward, arena, &it, errstr, errstr_size);
        else if (req->time_from || req->time_to != INT64_MAX)
                err = brook_app_session_find(
                        app, req->store, key, req->time_from, req->time_to,
                        req->backward, arena, &it, errstr, errstr_size);
        else
                err = brook_app_session_fetch(app, req->store, key,
                                              req->backward, arena, &it, errstr,
                                              errstr_size);
        if (err)
                return err;
        ws = json_array();
        while (!(err = brook_windowiter_next(it, &k, &w, &v, errstr,
                                             errstr_size))) {
                json_t *e = json_object();
                json_object_set_new(e, "start", json_integer(w.start));
                json_object_set_new(e, "end", json_integer(w.end));
                json_object_set_new(e, "value",
                                    value_json(def->value_serde, v));
                json_array_append_new(ws, e);
        }
        brook_windowiter_destroy(it);
        if (err != BROOK_ERR_END) {
                json_decref(ws);
                return err;
        }
        *docp = json_object();
        json_object_set_new(*docp, "store", json_string(req->store));
        json_object_set_new(*docp, "key", value_json(def->key_serde, key));
        json_object_set_new(
                *docp,
                def->kind == BROOK__STORE_WINDOW ? "windows" : "sessions", ws);
        return BROOK_OK;
}

static enum MHD_Result serve_store_key(brook__http_t *h,
                                       struct MHD_Connection *c,
                                       const brook__http_req_t *req,
                                       const char *path)
{
        brook_app_t *app = h->app;
        brook__storedef_t *def = brook__builder_store(app->b, req->store);
        brook_arena_t *arena;
        brook_key_metadata_t md;
        void *key, *value = NULL;
        char errstr[1024], msg[1400];
        enum MHD_Result ret;
        json_t *doc;
        brook_err_t err;

        if (!def) {
                snprintf(msg, sizeof msg, "no store named \"%s\"", req->store);
                return respond_error(c, 404, msg, NULL, NULL);
        }
        arena = brook_arena_new();
        if (!(key = key_from_text(def->key_serde, req->key, req->key_len, arena,
                                  errstr, sizeof errstr))) {
                snprintf(msg, sizeof msg, "store \"%s\": %s", req->store,
                         errstr);
                brook_arena_destroy(arena);
                return respond_error(c, 400, msg, NULL, NULL);
        }
        doc = NULL;
        if (def->kind == BROOK__STORE_WINDOW ||
            def->kind == BROOK__STORE_SESSION) {
                err = fetch_windows(app, def, req, key, arena, &doc, errstr,
                                    sizeof errstr);
        } else if (req->has_window_args) {
                snprintf(errstr, sizeof errstr,
                         "store \"%s\" is not a window or session store: "
                         "time_from, time_to and backward are theirs",
                         req->store);
                err = BROOK_ERR_INVALID_ARG;
        } else if (!(err = brook_app_store_get(app, req->store, key, arena,
                                               &value, errstr,
                                               sizeof errstr))) {
                doc = json_object();
                json_object_set_new(doc, "store", json_string(req->store));
                json_object_set_new(doc, "key",
                                    value_json(def->key_serde, key));
                json_object_set_new(doc, "value",
                                    value_json(def->value_serde, value));
        }
        switch (err) {
        case BROOK_OK:
                ret = respond_json(c, 200, doc, NULL, NULL);
                break;
        case BROOK_ERR_NOT_FOUND:
                ret = respond_error(c, 404, errstr, NULL, NULL);
                break;
        case BROOK_ERR_INVALID_ARG:
        case BROOK_ERR_SERDE:
                ret = respond_error(c, 400, errstr, NULL, NULL);
                break;
        case BROOK_ERR_STATE:
                /* Not here, restoring, or the app not running. A request
                 * from a client goes to the owner, if one is known; one
                 * forwarded here (by an instance whose directory is
                 * behind) is refused with 421, never forwarded again. */
                if (brook_app_store_key_metadata(app, req->store, key, &md,
                                                 NULL, 0) ||
                    md.local || md.partition < 0) {
                        ret = respond_error(c, 503, errstr, "Retry-After", "1");
                } else if (brook__libmhd.lookup_connection_value(
                                   c, MHD_HEADER_KIND, FORWARDED_HDR)) {
                        doc = json_object();
                        json_object_set_new(doc, "error", json_string(errstr));
                        json_object_set_new(doc, "status", json_integer(421));
                        json_object_set_new(doc, "partition",
                                            json_integer(md.partition));
                        json_object_set_new(doc, "task_id",
                                            json_string(md.task_id));
                        json_object_set_new(doc, "server",
                                            json_string(md.server));
                        ret = respond_json(c, 421, doc, NULL, NULL);
                } else if (md.server[0] &&
                           strcmp(md.server,
                                  brook_conf_get(app->conf,
                                                 "application.server"))) {
                        /* The path as it came, and the query as parsed. */
                        char *full = brook__xmalloc(strlen(path) + 96);
                        if (req->has_window_args)
                                sprintf(full,
                                        "%s?time_from=%" PRId64
                                        "&time_to=%" PRId64 "&backward=%s",
                                        path, req->time_from, req->time_to,
                                        req->backward ? "true" : "false");
                        else
                                strcpy(full, path);
                        ret = forward(h, c, md.server, full, md.task_id);
                        free(full);
                } else {
                        snprintf(msg, sizeof msg,
                                 "store \"%s\": no instance is known to host "
                                 "task %s yet (a rebalance is under way): "
                                 "ask again",
                                 req->store, md.task_id);
                        ret = respond_error(c, 503, msg, "Retry-After", "1");
                }
                break;
        default:
                ret = respond_error(c, 500, errstr, NULL, NULL);
                break;
        }
        brook_arena_destroy(arena);
        return ret;
}

/* ---------------------------------------------------------------- scans */

struct scan_ctx {
        json_t *entries;
        brook_arena_t *arena;
        unsigned char *last; /**< The last key's encoding. */
        size_t last_len;
        char why[512];
};

static brook_err_t scan_entry(void *opaque, const brook__storedef_t *def,
                              const void *k, size_t ksz, const void *v,
                              size_t vsz)
{
        struct scan_ctx *sc = opaque;
        void *key = NULL, *value = NULL;
        brook_err_t err;
        json_t *e;

        if ((err = brook_serde_deserialize(
                     def->key_serde,
                     ksz ? brook_arena_memdup(sc->arena, k, ksz) : "", ksz,
                     sc->arena, &key, sc->why, sizeof sc->why)) ||
            (err = brook_serde_deserialize(
                     def->value_serde,
                     vsz ? brook_arena_memdup(sc->arena, v, vsz) : "", vsz,
                     sc->arena, &value, sc->why, sizeof sc->why)))
                return err;
        e = json_object();
        json_object_set_new(e, "key", value_json(def->key_serde, key));
        json_object_set_new(e, "value", value_json(def->value_serde, value));
        json_array_append_new(sc->entries, e);
        brook_arena_reset(sc->arena);
        sc->last = brook__xrealloc(sc->last, ksz ? ksz : 1);
        memcpy(sc->last, k, ksz);
        sc->last_len = ksz;
        return BROOK_OK;
}

static char *hex_of(const unsigned char *p, size_t n)
{
        static const char digits[] = "0123456789abcdef";
        char *s = brook__xmalloc(2 * n + 1);
        size_t i;
        for (i = 0; i < n; i++) {
                s[2 * i] = digits[p[i] >> 4];
                s[2 * i + 1] = digits[p[i] & 15];
        }
        s[2 * n] = '\0';
        return s;
}

/* Encodes a bound given as text into @p buf; false (with @p why) when it
 * is not a key of the store's serde. */
static bool bound_encode(const brook_app_t *app, const brook__storedef_t *def,
                         const brook__http_text_t *t, brook_buf_t *buf,
                         char *why, size_t why_size)
{
        brook_arena_t *arena;
        char *topic;
        void *key;
        bool ok;
        if (!t->s)
                return true;
        arena = brook_arena_new();
        topic = brook__changelog_topic(app->app_id, def->name);
        ok = (key = key_from_text(def->key_serde, t->s, t->len, arena, why,
                                  why_size)) &&
             !brook__serde_serialize_to(topic, def->key_serde, key, buf, why,
                                        why_size);
        free(topic);
        brook_arena_destroy(arena);
        return ok;
}

static void buf_puts(brook_buf_t *b, const char *s)
{
        brook_buf_append(b, s, strlen(s));
}

/* Appends "&name=<escaped text>" to @p q when the bound is given. */
static void query_add(brook_buf_t *q, const char *name,
                      const brook__http_text_t *t)
{
        char *e;
        if (!t->s)
                return;
        /* libcurl fails this only out of memory: as brook__xmalloc(). */
        if (!(e = brook__libcurl.easy_escape(NULL, t->s, (int)t->len)))
                abort();
        buf_puts(q, "&");
        buf_puts(q, name);
        buf_puts(q, "=");
        buf_puts(q, e);
        brook__libcurl.free(e);
}

/*
 * GET /stores/{store}?from=&to=&prefix=&limit=&cursor=: a page of the
 * store's entries, every instance's: partition by partition, in key order
 * within each, this instance's partitions read here and the others asked
 * of their hosts (GET ...&partition=p, which answers that partition only).
 * "next" is where the next page starts; each key comes exactly once over
 * the pages (as long as the keys do not change meanwhile).
 */
static enum MHD_Result serve_store_scan(brook__http_t *h,
                                        struct MHD_Connection *c,
                                        const brook__http_req_t *req)
{
        brook_app_t *app = h->app;
        brook__storedef_t *def = brook__builder_store(app->b, req->store);
        brook_buf_t *fb, *tb, *pb;
        brook__iq_bounds_t bounds;
        struct scan_ctx sc;
        char why[1024], msg[2600], *next = NULL;
        enum MHD_Result ret;
        int32_t nparts, p;
        int remaining = req->limit;
        bool more = false, ok;
        json_t *doc;
        brook_err_t err;

        if (!def) {
                snprintf(msg, sizeof msg, "no store named \"%s\"", req->store);
                return respond_error(c, 404, msg, NULL, NULL);
        }
        if (def->kind != BROOK__STORE_KV) {
                snprintf(msg, sizeof msg,
                         "store \"%s\" is not a key-value store: only "
                         "key-value stores are scanned over HTTP",
                         req->store);
                return respond_error(c, 400, msg, NULL, NULL);
        }
        nparts = app->topo.subs[def->subtopology].global
                         ? 1
                         : app->topo.subs[def->subtopology].partitions;
        if (nparts < 1)
                return respond_error(c, 503,
                                     "the store's partition count is not "
                                     "known yet",
                                     "Retry-After", "1");
        if (req->cursor_partition >= nparts ||
            (req->partition >= 0 && req->partition >= nparts)) {
                snprintf(msg, sizeof msg,
                         "store \"%s\" has %" PRId32 " partitions: the %s "
                         "names another",
                         req->store, nparts,
                         req->partition >= 0 ? "partition" : "cursor");
                return respond_error(c, 400, msg, NULL, NULL);
        }
        fb = brook_buf_new();
        tb = brook_buf_new();
        pb = brook_buf_new();
        memset(&sc, 0, sizeof sc);
        ok = bound_encode(app, def, &req->from, fb, why, sizeof why) &&
             bound_encode(app, def, &req->to, tb, why, sizeof why) &&
             bound_encode(app, def, &req->prefix, pb, why, sizeof why);
        if (!ok) {
                snprintf(msg, sizeof msg, "store \"%s\": a bound: %s",
                         req->store, why);
                ret = respond_error(c, 400, msg, NULL, NULL);
                goto out;
        }
        memset(&bounds, 0, sizeof bounds);
        if (req->from.s) {
                bounds.from = brook_buf_data(fb);
                bounds.from_len = brook_buf_len(fb);
        }
        if (req->to.s) {
                bounds.to = brook_buf_data(tb);
                bounds.to_len = brook_buf_len(tb);
        }
        if (req->prefix.s) {
                bounds.prefix = brook_buf_data(pb);
                bounds.prefix_len = brook_buf_len(pb);
        }
        sc.entries = json_array();
        sc.arena = brook_arena_new();

        if (req->partition >= 0) {
                /* One partition, of this instance (an instance asks). */
                if (req->cursor_partition == req->partition &&
                    req->cursor_key) {
                        bounds.after = req->cursor_key;
                        bounds.after_len = req->cursor_key_len;
                }
                err = brook__iq_scan_partition(app, req->store, req->partition,
                                               &bounds, (size_t)req->limit,
                                               scan_entry, &sc, &more, why,
                                               sizeof why);
                if (err) {
                        /* Not here: 421; restoring or moving: 503 (ask
                         * again); anything else (a value that does not
                         * decode, a read that failed) will not get better:
                         * 500. */
                        unsigned st = err == BROOK_ERR_NOT_FOUND ? 421
                                      : err == BROOK_ERR_STATE   ? 503
                                                                 : 500;
                        ret = respond_error(c, st, *sc.why ? sc.why : why,
                                            st == 503 ? "Retry-After" : NULL,
                                            "1");
                        goto out;
                }
                doc = json_object();
                json_object_set_new(doc, "entries", sc.entries);
                sc.entries = NULL;
                json_object_set_new(doc, "more", json_boolean(more));
                next = hex_of(sc.last ? sc.last : (unsigned char *)"",
                              sc.last_len);
                json_object_set_new(doc, "last", json_string(next));
                ret = respond_json(c, 200, doc, NULL, NULL);
                goto out;
        }

        for (p = req->cursor_partition >= 0 ? req->cursor_partition : 0;
             p < nparts; p++) {
                size_t before = json_array_size(sc.entries);
                bounds.after = NULL;
                bounds.after_len = 0;
                if (p == req->cursor_partition && req->cursor_key) {
                        bounds.after = req->cursor_key;
                        bounds.after_len = req->cursor_key_len;
                }
                free(sc.last);
                sc.last = NULL;
                sc.last_len = 0;
                more = false;
                err = brook__iq_scan_partition(app, req->store, p, &bounds,
                                               (size_t)remaining, scan_entry,
                                               &sc, &more, why, sizeof why);
                if (err == BROOK_ERR_NOT_FOUND) {
                        /* Another instance's: ask it. */
                        char task[32], server[256], num[64], *body, *type,
                                *store_e, *hex;
                        brook_buf_t *q;
                        long status = 0;
                        size_t len;
                        json_t *got, *es;
                        snprintf(task, sizeof task, "%d_%" PRId32,
                                 def->subtopology, p);
                        if (!brook__instances_owner(app->instances, task,
                                                    server, sizeof server,
                                                    NULL) ||
                            !strcmp(server,
                                    brook_conf_get(app->conf,
                                                   "application.server"))) {
                                snprintf(msg, sizeof msg,
                                         "store \"%s\": no instance is known "
                                         "to host task %s yet (a rebalance "
                                         "is under way): ask again",
                                         req->store, task);
                                ret = respond_error(c, 503, msg, "Retry-After",
                                                    "1");
                                goto out;
                        }
                        if (!(store_e = brook__libcurl.easy_escape(
                                      NULL, req->store, 0)))
                                abort(); /* Out of memory. */
                        q = brook_buf_new();
                        buf_puts(q, "/stores/");
                        buf_puts(q, store_e);
                        brook__libcurl.free(store_e);
                        snprintf(num, sizeof num,
                                 "?partition=%" PRId32 "&limit=%d", p,
                                 remaining);
                        buf_puts(q, num);
                        query_add(q, "from", &req->from);
                        query_add(q, "to", &req->to);
                        query_add(q, "prefix", &req->prefix);
                        /* "p.<hex>": after that key (an empty one too). */
                        if (bounds.after) {
                                hex = hex_of(bounds.after, bounds.after_len);
                                snprintf(num, sizeof num,
                                         "&cursor=%" PRId32 ".", p);
                                buf_puts(q, num);
                                buf_puts(q, hex);
                                free(hex);
                        }
                        brook_buf_append(q, "", 1);
                        ok = fwd_get(h, server, brook_buf_data(q), &status,
                                     &body, &len, &type, why, sizeof why);
                        brook_buf_destroy(q);
                        free(type);
                        got = ok && status == 200
                                      ? json_loadb(body, len, 0, NULL)
                                      : NULL;
                        es = json_object_get(got, "entries");
                        if (!json_is_array(es) ||
                            !json_is_string(json_object_get(got, "last"))) {
                                snprintf(msg, sizeof msg,
                                         "store \"%s\": task %s is on the "
                                         "instance at %s, which did not "
                                         "answer (%s): ask again",
                                         req->store, task, server,
                                         !ok ? why
                                         : status == 421
                                                 ? "it no longer has the task"
                                                 : "no page");
                                free(body);
                                json_decref(got);
                                ret = respond_error(c, 503, msg, "Retry-After",
                                                    "1");
                                goto out;
                        }
                        json_array_extend(sc.entries, es);
                        more = json_is_true(json_object_get(got, "more"));
                        {
                                const char *l = json_string_value(
                                        json_object_get(got, "last"));
                                size_t i, n = strlen(l) / 2;
                                free(sc.last);
                                sc.last = brook__xmalloc(n ? n : 1);
                                sc.last_len = n;
                                for (i = 0; i < n; i++)
                                        sc.last[i] =
                                                (unsigned char)(hexval(l[2 *
                                                                         i]) *
                                                                        16 +
                                                                hexval(l[2 * i +
                                                                         1]));
                        }
                        free(body);
                        json_decref(got);
                } else if (err) {
                        unsigned st = err == BROOK_ERR_STATE ? 503 : 500;
                        ret = respond_error(c, st, *sc.why ? sc.why : why,
                                            st == 503 ? "Retry-After" : NULL,
                                            "1");
                        goto out;
                }
                remaining -= (int)(json_array_size(sc.entries) - before);
                if (more) {
                        char *hex = hex_of(sc.last, sc.last_len);
                        next = brook__xmalloc(strlen(hex) + 16);
                        sprintf(next, "%" PRId32 ".%s", p, hex);
                        free(hex);
                        break;
                }
                if (remaining <= 0) {
                        if (p + 1 < nparts) {
                                /* "p": from partition p's start. */
                                next = brook__xmalloc(16);
                                sprintf(next, "%" PRId32, p + 1);
                        }
                        break;
                }
        }
        doc = json_object();
        json_object_set_new(doc, "store", json_string(req->store));
        json_object_set_new(doc, "entries", sc.entries);
        sc.entries = NULL;
        json_object_set_new(doc, "next",
                            next ? json_string(next) : json_null());
        ret = respond_json(c, 200, doc, NULL, NULL);
out:
        free(next);
        free(sc.last);
        json_decref(sc.entries);
        if (sc.arena)
                brook_arena_destroy(sc.arena);
        brook_buf_destroy(fb);
        brook_buf_destroy(tb);
        brook_buf_destroy(pb);
        return ret;
}

static enum MHD_Result serve(brook__http_t *h, struct MHD_Connection *c,
                             const brook__http_req_t *req, const char *path)
{
        brook_app_t *app = h->app;
        brook_app_stats_t stats;
        brook_app_state_t st;
        json_t *doc;
        char *s;
        size_t n;

        switch (req->route) {
        case BROOK__HTTP_HEALTH:
        case BROOK__HTTP_READY:
                st = brook_app_state(app, NULL, 0);
                brook_app_stats(app, &stats);
                doc = json_object();
                json_object_set_new(doc, "state",
                                    json_string(brook__app_state_name(st)));
                if (req->route == BROOK__HTTP_HEALTH) {
                        /* Alive: not stopped or failed. */
                        bool up = st != BROOK_APP_ERROR &&
                                  st != BROOK_APP_PENDING_ERROR &&
                                  st != BROOK_APP_NOT_RUNNING;
                        json_object_set_new(doc, "status",
                                            json_string(up ? "UP" : "DOWN"));
                        return respond_json(c, up ? 200 : 503, doc, NULL, NULL);
                }
                /* Ready: RUNNING and nothing restoring. */
                json_object_set_new(doc, "stores_restoring",
                                    json_integer(stats.stores_restoring));
                json_object_set_new(doc, "restore_remaining",
                                    json_integer(stats.restore_remaining));
                {
                        bool ready = st == BROOK_APP_RUNNING &&
                                     !stats.stores_restoring;
                        json_object_set_new(
                                doc, "status",
                                json_string(ready ? "READY" : "NOT_READY"));
                        return respond_json(c, ready ? 200 : 503, doc, NULL,
                                            NULL);
                }
        case BROOK__HTTP_STATE:
                s = brook_app_state_json(app);
                return respond(c, 200, "application/json", s, strlen(s), NULL,
                               NULL);
        case BROOK__HTTP_METRICS:
                s = brook_app_metrics(app, &n);
                return respond(c, 200, "text/plain; version=0.0.4", s, n, NULL,
                               NULL);
        case BROOK__HTTP_STORE_KEY:
                return serve_store_key(h, c, req, path);
        case BROOK__HTTP_STORE_SCAN:
                return serve_store_scan(h, c, req);
        }
        return respond_error(c, 500, "unknown route", NULL, NULL);
}

struct arg_ctx {
        brook__http_req_t *req;
        int status;
        char errstr[512];
};

static enum MHD_Result each_arg(void *cls, enum MHD_ValueKind kind,
                                const char *key, const char *value)
{
        struct arg_ctx *a = cls;
        char *k, *v = NULL;
        size_t kn, vn;
        (void)kind;
        if (a->status)
                return MHD_NO;
        if (!(k = brook__http_unescape(key, strlen(key), true, &kn)) ||
            (value &&
             !(v = brook__http_unescape(value, strlen(value), true, &vn)))) {
                free(k);
                a->status = 400;
                brook__seterr(a->errstr, sizeof a->errstr,
                              "a query parameter has a bad escape");
                return MHD_NO;
        }
        a->status = brook__http_parse_arg(a->req, k, v ? v : "", a->errstr,
                                          sizeof a->errstr);
        free(k);
        free(v);
        return a->status ? MHD_NO : MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
                               const char *url, const char *method,
                               const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
        brook__http_t *h = cls;
        struct http_conn *hc = *con_cls;
        brook__http_req_t req;
        struct arg_ctx args;
        char errstr[1024];
        enum MHD_Result ret;
        int status;
        (void)upload_data;
        (void)version;

        if (!hc) {
                /* First call, headers only: what is refused before any
                 * body is read is refused now (libmicrohttpd then closes
                 * the connection rather than read the body). */
                const char *cl = brook__libmhd.lookup_connection_value(
                        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
                hc = *con_cls = brook__xcalloc(1, sizeof *hc);
                if (cl && strtoull(cl, NULL, 10) > h->max_request) {
                        hc->refused = true;
                        return respond_error(c, 413,
                                             "the request body is larger than "
                                             "http.max.request.bytes",
                                             NULL, NULL);
                }
                return MHD_YES;
        }
        if (*upload_data_size) {
                /* A body: none is needed; one larger than the limit (sent
                 * without a length) closes the connection. */
                hc->body += *upload_data_size;
                *upload_data_size = 0;
                return hc->body > h->max_request ? MHD_NO : MHD_YES;
        }
        if (hc->refused)
                return MHD_YES;
        status = brook__http_parse(method, url, &req, errstr, sizeof errstr);
        if (status == 405)
                return respond_error(c, 405, errstr, MHD_HTTP_HEADER_ALLOW,
                                     "GET, HEAD");
        if (!status) {
                memset(&args, 0, sizeof args);
                args.req = &req;
                brook__libmhd.get_connection_values(c, MHD_GET_ARGUMENT_KIND,
                                                    each_arg, &args);
                if (args.status) {
                        status = args.status;
                        snprintf(errstr, sizeof errstr, "%s", args.errstr);
                }
        }
        /* /health answers without the token: load balancers probe it. */
        if (h->token && !(status == 0 && req.route == BROOK__HTTP_HEALTH) &&
            !token_ok(h, c)) {
                brook__http_req_free(&req);
                return respond_error(c, 401,
                                     "a valid \"Authorization: Bearer "
                                     "<token>\" header is required",
                                     MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                     "Bearer");
        }
        if (status)
                ret = respond_error(c, (unsigned)status, errstr, NULL, NULL);
        else
                ret = serve(h, c, &req, url);
        brook__http_req_free(&req);
        return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
        (void)cls;
        (void)c;
        (void)toe;
        free(*con_cls);
        *con_cls = NULL;
}

/* Nothing is unescaped before brook__http_parse() splits the path. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
        (void)cls;
        (void)c;
        return strlen(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
        char msg[512];
        size_t n;
        (void)cls;
        vsnprintf(msg, sizeof msg, fmt, ap);
        n = strlen(msg);
        while (n && msg[n - 1] == '\n')
                msg[--n] = '\0';
        brook__log("WARN", "http: %s", msg);
}

static char *read_file(const char *path, char *errstr, size_t errstr_size)
{
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        size_t n = 0, cap = 0, got;
        if (!f) {
                brook__seterr(errstr, errstr_size, "cannot open \"%s\": %s",
                              path, strerror(errno));
                return NULL;
        }
        do {
                if (n + 4096 + 1 > cap) {
                        cap = cap ? cap * 2 : 8192;
                        buf = brook__xrealloc(buf, cap);
                }
                got = fread(buf + n, 1, cap - n - 1, f);
                n += got;
        } while (got);
        fclose(f);
        buf[n] = '\0';
        return buf;
}

brook_err_t brook__http_start(brook_app_t *app, brook__http_t **httpp,
                              char *errstr, size_t errstr_size)
{
        const char *server = brook_conf_get(app->conf, "application.server");
        const char *listen = brook_conf_get(app->conf, "http.listen.address");
        const char *token = brook_conf_get(app->conf, "http.auth.token");
        const char *cert = brook_conf_get(app->conf, "http.tls.cert.file");
        const char *key = brook_conf_get(app->conf, "http.tls.key.file");
        struct sockaddr_storage sa;
        socklen_t sa_len;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
        brook__http_t *h;
        char host[256];
        int port;
        struct MHD_OptionItem opts[16];
        int o = 0;

        *httpp = NULL;
        if (!server)
                return BROOK_OK;
        if (!brook__hostport_parse(server, host, sizeof host, &port)) {
                brook__seterr(errstr, errstr_size,
                              "application.server \"%s\" is not host:port",
                              server);
                return BROOK_ERR_CONF_INVALID;
        }
        memset(&sa, 0, sizeof sa);
        if (inet_pton(AF_INET, listen,
                      &((struct sockaddr_in *)&sa)->sin_addr) == 1) {
                struct sockaddr_in *in = (struct sockaddr_in *)&sa;
                in->sin_family = AF_INET;
                in->sin_port = htons((uint16_t)port);
                sa_len = sizeof *in;
        } else if (inet_pton(AF_INET6, listen,
                             &((struct sockaddr_in6 *)&sa)->sin6_addr) == 1) {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&sa;
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t)port);
                sa_len = sizeof *in6;
                /* "::" is every interface, IPv4 ones too. */
                flags |= IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)
                                 ? MHD_USE_DUAL_STACK
                                 : MHD_USE_IPv6;
        } else {
                brook__seterr(errstr, errstr_size,
                              "http.listen.address \"%s\" is not an IPv4 or "
                              "IPv6 address",
                              listen);
                return BROOK_ERR_CONF_INVALID;
        }
        (void)sa_len;
        if (!cert != !key) {
                brook__seterr(errstr, errstr_size,
                              "TLS needs both http.tls.cert.file and "
                              "http.tls.key.file; only %s is set",
                              cert ? "http.tls.cert.file"
                                   : "http.tls.key.file");
                return BROOK_ERR_CONF_INVALID;
        }
        /* The server, and the client that forwards a query to the instance
         * that has its key. */
        if (!brook__libmhd_load("application.server (the HTTP server)", errstr,
                                errstr_size) ||
            !brook__libcurl_load("application.server (forwarding queries)",
                                 errstr, errstr_size))
                return BROOK_ERR_FATAL;
        h = brook__xcalloc(1, sizeof *h);
        h->app = app;
        pthread_mutex_init(&h->pool_lock, NULL);
        h->cert_file = cert;
        h->timeout_ms =
                (long)brook__conf_int(app->conf, "http.request.timeout.ms");
        h->token = token && *token ? brook__xstrdup(token) : NULL;
        h->max_request =
                (size_t)brook__conf_int(app->conf, "http.max.request.bytes");
        if (cert) {
                if (brook__libmhd.is_feature_supported(MHD_FEATURE_TLS) !=
                    MHD_YES) {
                        brook__seterr(errstr, errstr_size,
                                      "this libmicrohttpd has no TLS: unset "
                                      "http.tls.cert.file and "
                                      "http.tls.key.file");
                        goto fail;
                }
                if (!(h->cert = read_file(cert, errstr, errstr_size)) ||
                    !(h->key = read_file(key, errstr, errstr_size)))
                        goto fail;
                flags |= MHD_USE_TLS;
                opts[o++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT,
                                                    0, h->cert};
                opts[o++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
                                                    h->key};
        }
        opts[o++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &sa};
        opts[o++] = (struct MHD_OptionItem){
                MHD_OPTION_CONNECTION_LIMIT,
                (intptr_t)brook__conf_int(app->conf, "http.max.connections"),
                NULL};
        if (brook__conf_int(app->conf, "http.max.connections.per.ip"))
                opts[o++] = (struct MHD_OptionItem){
                        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                        (intptr_t)brook__conf_int(
                                app->conf, "http.max.connections.per.ip"),
                        NULL};
        opts[o++] = (struct MHD_OptionItem){
                MHD_OPTION_CONNECTION_TIMEOUT,
                (intptr_t)((brook__conf_int(app->conf,
                                            "http.request.timeout.ms") +
                            999) /
                           1000),
                NULL};
        /* The request line and headers must fit in the connection's
         * memory, which also holds the response's headers. */
        opts[o++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                            (intptr_t)(h->max_request + 4096),
                                            NULL};
        opts[o++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED,
                                            (intptr_t)completed, NULL};
        opts[o++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK,
                                            (intptr_t)no_unescape, NULL};
        opts[o++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

        /* The logger first, so that every message of the start goes to
         * it. */
        h->d = brook__libmhd.start_daemon(
                flags, (uint16_t)port, NULL, NULL, handler, h,
                MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_ARRAY,
                opts, MHD_OPTION_END);
        if (!h->d) {
                brook__seterr(errstr, errstr_size,
                              "the HTTP server cannot listen on %s port %d "
                              "(application.server \"%s\", "
                              "http.listen.address): is the port taken?%s",
                              listen, port, server,
                              cert ? " Or is http.tls.cert.file or "
                                     "http.tls.key.file not a PEM "
                                     "certificate and its key?"
                                   : "");
                goto fail;
        }
        brook__log("INFO", "%s: HTTP server on %s%s%s:%d%s", app->app_id,
                   strchr(listen, ':') ? "[" : "", listen,
                   strchr(listen, ':') ? "]" : "", port, cert ? " (TLS)" : "");
        *httpp = h;
        return BROOK_OK;
fail:
        free(h->token);
        free(h->cert);
        free(h->key);
        pthread_mutex_destroy(&h->pool_lock);
        free(h);
        return BROOK_ERR_FATAL;
}

void brook__http_stop(brook__http_t *h)
{
        if (!h)
                return;
        brook__libmhd.stop_daemon(h->d);
        while (h->pool_cnt)
                brook__libcurl.easy_cleanup(h->pool[--h->pool_cnt]);
        pthread_mutex_destroy(&h->pool_lock);
        free(h->token);
        free(h->cert);
        free(h->key);
        free(h);
}
