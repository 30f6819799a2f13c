/*
 * Fuzz target: the HTTP server's request parsing (engine/http.c): the
 * method, the raw path and the query string of a request, as
 * libmicrohttpd hands them over (it unescapes nothing here).
 *
 * Input: "<method> <path>[?<query>]"; the query is split at '&' and '='
 * and each part unescaped as the server does. Checked:
 *   - the answer is 0 or 400, 404 or 405, with a reason;
 *   - a parsed store request has a store name of 1 to 255 bytes without
 *     NUL and a non-empty key no longer than the path;
 *   - escaping every byte of that store name and key and parsing again
 *     gives the same name and key (nothing is lost or split by the
 *     path's '/').
 */
#include "fuzz_input.h"
#include "http_int.h"

static void escape_all(char *out, const char *s, size_t n)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t i;
        for (i = 0; i < n; i++) {
                *out++ = '%';
                *out++ = hex[(unsigned char)s[i] >> 4];
                *out++ = hex[(unsigned char)s[i] & 15];
        }
        *out = '\0';
}

static void check_roundtrip(const brook__http_req_t *req)
{
        size_t sn = strlen(req->store);
        char *path = malloc(3 * (sn + req->key_len) + 16), *p;
        char err[512];
        brook__http_req_t again;
        int st;

        memcpy(path, "/stores/", 8);
        escape_all(path + 8, req->store, sn);
        p = path + strlen(path);
        *p++ = '/';
        escape_all(p, req->key, req->key_len);
        st = brook__http_parse("GET", path, &again, err, sizeof err);
        CHECK(st == 0);
        CHECK(again.route == BROOK__HTTP_STORE_KEY);
        CHECK(!strcmp(again.store, req->store));
        CHECK(again.key_len == req->key_len);
        CHECK(!memcmp(again.key, req->key, req->key_len));
        brook__http_req_free(&again);
        free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1), *sp, *q, *part, *save = NULL;
        char err[512] = "";
        brook__http_req_t req;
        int st;

        memcpy(s, data, size);
        s[size] = '\0';
        /* libmicrohttpd's strings hold no NUL. */
        if (strlen(s) != size || !(sp = strchr(s, ' '))) {
                free(s);
                return 0;
        }
        *sp = '\0';
        if ((q = strchr(sp + 1, '?')))
                *q++ = '\0';
        st = brook__http_parse(s, sp + 1, &req, err, sizeof err);
        CHECK(st == 0 || st == 400 || st == 404 || st == 405);
        CHECK(st == 0 || *err);
        if (!st && req.route == BROOK__HTTP_STORE_KEY) {
                size_t sn = strlen(req.store);
                CHECK(sn >= 1 && sn <= 255);
                CHECK(req.key && req.key_len >= 1 &&
                      req.key_len <= strlen(sp + 1));
                check_roundtrip(&req);
        }
        for (part = q ? strtok_r(q, "&", &save) : NULL; !st && part;
             part = strtok_r(NULL, "&", &save)) {
                char *eq = strchr(part, '='), *k, *v = NULL;
                size_t kn, vn;
                if (eq)
                        *eq = '\0';
                k = brook__http_unescape(part, strlen(part), true, &kn);
                if (eq)
                        v = brook__http_unescape(eq + 1, strlen(eq + 1), true,
                                                 &vn);
                if (k && (!eq || v)) {
                        st = brook__http_parse_arg(&req, k, v ? v : "", err,
                                                   sizeof err);
                        CHECK(st == 0 || st == 400);
                        CHECK(st == 0 || *err);
                }
                free(k);
                free(v);
        }
        brook__http_req_free(&req);
        free(s);
        return 0;
}
