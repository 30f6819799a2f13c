/*
 * brook — a Schema Registry client (include/brook/avro.h): Confluent's REST
 * API over libcurl, with the caches its serializers keep.
 *
 * An id names one schema forever, so schemas by id are cached for the
 * client's life, parsed, and never freed before it (serdes hand out
 * pointers to them). A subject's latest version is cached for
 * latest.cache.ttl.sec. An id the registry does not know is remembered
 * for a few seconds, so a topic full of records with a bad id does not
 * become a request per record.
 *
 * Requests are made without holding the cache lock; two threads missing
 * the same id both ask, and the second answer is dropped. A request that
 * cannot connect, or gets a 5xx, is retried twice with a backoff, then
 * each further URL of schema.registry.url is tried.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "avro_int.h"
#include "dynlib.h"

/* How long an unknown id is not asked about again. */
#define BROOK__SR_NEGATIVE_MS 5000
#define BROOK__SR_NEGATIVE    32
#define BROOK__SR_ATTEMPTS    3

typedef struct brook__sr_latest {
        char *subject;
        int32_t id, version;
        int64_t at; /**< When fetched (monotonic ms). */
} brook__sr_latest_t;

struct brook_schema_registry_s {
        atomic_int refcnt;
        char **urls;
        char **shown; /**< The URLs without user info, for messages. */
        size_t url_cnt;
        char *userpwd, *bearer;
        char *ca, *cert, *key, *key_password;
        long timeout_ms;
        brook__subject_strategy_t key_strategy, value_strategy;
        bool auto_register, use_latest;
        int64_t latest_ttl_ms; /**< < 0: forever. */

        pthread_mutex_t lock;
        brook__avro_schema_t **ids; /**< Every schema fetched, by id. */
        size_t id_cnt, id_cap;
        brook__sr_latest_t *latest;
        size_t latest_cnt, latest_cap;
        struct {
                int32_t id;
                int64_t until;
        } negative[BROOK__SR_NEGATIVE];
        size_t negative_next;
};

/* ---------------------------------------------------------------- config */

static brook__subject_strategy_t brook__sr_parse_strategy(const char *v)
{
        if (v && strstr(v, "TopicRecordNameStrategy"))
                return BROOK__SUBJECT_TOPIC_RECORD;
        if (v && strstr(v, "RecordNameStrategy"))
                return BROOK__SUBJECT_RECORD;
        return BROOK__SUBJECT_TOPIC;
}

/* @p url without "user:password@": messages reach logs and dead-letter
 * headers. */
static char *brook__sr_hide_userinfo(const char *url)
{
        const char *host = strstr(url, "://") + 3;
        const char *at = strchr(host, '@'), *slash = strchr(host, '/');
        char *out;
        if (!at || (slash && slash < at))
                return brook__xstrdup(url);
        out = brook__xmalloc(strlen(url) + 1);
        snprintf(out, strlen(url) + 1, "%.*s%s", (int)(host - url), url,
                 at + 1);
        return out;
}

static char *brook__sr_dup(const brook_conf_t *conf, const char *name)
{
        const char *v = brook_conf_get(conf, name);
        return v && *v ? brook__xstrdup(v) : NULL;
}

brook_schema_registry_t *brook_schema_registry_new(const brook_conf_t *conf,
                                                   char *errstr,
                                                   size_t errstr_size)
{
        const char *urls, *v;
        brook_schema_registry_t *sr;
        char *copy, *tok, *save;

        if (!conf) {
                brook__seterr(errstr, errstr_size,
                              "brook_schema_registry_new: conf is NULL");
                return NULL;
        }
        urls = brook_conf_get(conf, "schema.registry.url");
        if (!urls || !*urls) {
                brook__seterr(errstr, errstr_size,
                              "Configuration property \"schema.registry.url\" "
                              "is not set: the Avro serdes need a Schema "
                              "Registry, e.g. http://localhost:8081");
                return NULL;
        }
        sr = brook__xcalloc(1, sizeof *sr);
        atomic_init(&sr->refcnt, 1);
        pthread_mutex_init(&sr->lock, NULL);
        copy = brook__xstrdup(urls);
        for (tok = strtok_r(copy, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
                size_t n;
                while (*tok == ' ')
                        tok++;
                n = strlen(tok);
                while (n && (tok[n - 1] == ' ' || tok[n - 1] == '/'))
                        tok[--n] = '\0';
                if (!n)
                        continue;
                if (strncmp(tok, "http://", 7) && strncmp(tok, "https://", 8)) {
                        brook__seterr(errstr, errstr_size,
                                      "Invalid value \"%s\" for configuration "
                                      "property \"schema.registry.url\": "
                                      "expected http:// or https:// URLs, "
                                      "comma-separated",
                                      urls);
                        free(copy);
                        brook_schema_registry_destroy(sr);
                        return NULL;
                }
                sr->urls = brook__xrealloc(sr->urls, (sr->url_cnt + 1) *
                                                             sizeof *sr->urls);
                sr->shown = brook__xrealloc(
                        sr->shown, (sr->url_cnt + 1) * sizeof *sr->shown);
                sr->urls[sr->url_cnt] = brook__xstrdup(tok);
                sr->shown[sr->url_cnt++] = brook__sr_hide_userinfo(tok);
        }
        free(copy);
        if (!sr->url_cnt) {
                brook__seterr(errstr, errstr_size,
                              "Configuration property \"schema.registry.url\" "
                              "holds no URL");
                brook_schema_registry_destroy(sr);
                return NULL;
        }
        if ((v = brook_conf_get(conf, "basic.auth.credentials.source")) &&
            !strcmp(v, "USER_INFO") &&
            !(sr->userpwd = brook__sr_dup(conf, "basic.auth.user.info"))) {
                brook__seterr(errstr, errstr_size,
                              "Configuration property "
                              "\"basic.auth.credentials.source\" is "
                              "USER_INFO but \"basic.auth.user.info\" (user:"
                              "password) is not set");
                brook_schema_registry_destroy(sr);
                return NULL;
        }
        if ((v = brook_conf_get(conf, "bearer.auth.credentials.source")) &&
            !strcmp(v, "STATIC_TOKEN"))
                sr->bearer = brook__sr_dup(conf, "bearer.auth.token");
        sr->ca = brook__sr_dup(conf, "schema.registry.ssl.ca.location");
        sr->cert =
                brook__sr_dup(conf, "schema.registry.ssl.certificate.location");
        sr->key = brook__sr_dup(conf, "schema.registry.ssl.key.location");
        sr->key_password =
                brook__sr_dup(conf, "schema.registry.ssl.key.password");
        sr->timeout_ms = atol(
                brook_conf_get(conf, "schema.registry.request.timeout.ms"));
        sr->key_strategy = brook__sr_parse_strategy(
                brook_conf_get(conf, "key.subject.name.strategy"));
        sr->value_strategy = brook__sr_parse_strategy(
                brook_conf_get(conf, "value.subject.name.strategy"));
        sr->auto_register =
                !strcmp(brook_conf_get(conf, "auto.register.schemas"), "true");
        sr->use_latest =
                !strcmp(brook_conf_get(conf, "use.latest.version"), "true");
        sr->latest_ttl_ms =
                atoll(brook_conf_get(conf, "latest.cache.ttl.sec")) * 1000;
        /* Last, so that a configuration error is told first. */
        if (!brook__libcurl_load("the Schema Registry client", errstr,
                                 errstr_size)) {
                brook_schema_registry_destroy(sr);
                return NULL;
        }
        return sr;
}

brook_schema_registry_t *brook__sr_ref(brook_schema_registry_t *sr)
{
        atomic_fetch_add(&sr->refcnt, 1);
        return sr;
}

void brook_schema_registry_destroy(brook_schema_registry_t *sr)
{
        size_t i;
        if (!sr || atomic_fetch_sub(&sr->refcnt, 1) != 1)
                return;
        for (i = 0; i < sr->url_cnt; i++) {
                free(sr->urls[i]);
                free(sr->shown[i]);
        }
        free(sr->urls);
        free(sr->shown);
        for (i = 0; i < sr->id_cnt; i++)
                brook__avro_schema_free(sr->ids[i]);
        free(sr->ids);
        for (i = 0; i < sr->latest_cnt; i++)
                free(sr->latest[i].subject);
        free(sr->latest);
        free(sr->userpwd);
        free(sr->bearer);
        free(sr->ca);
        free(sr->cert);
        free(sr->key);
        free(sr->key_password);
        pthread_mutex_destroy(&sr->lock);
        free(sr);
}

brook__subject_strategy_t brook__sr_strategy(const brook_schema_registry_t *sr,
                                             bool is_key)
{
        return is_key ? sr->key_strategy : sr->value_strategy;
}

bool brook__sr_auto_register(const brook_schema_registry_t *sr)
{
        return sr->auto_register;
}

bool brook__sr_use_latest(const brook_schema_registry_t *sr)
{
        return sr->use_latest;
}

/* ----------------------------------------------------------------- HTTP */

static size_t brook__sr_body_cb(char *ptr, size_t size, size_t nmemb,
                                void *opaque)
{
        brook_buf_append(opaque, ptr, size * nmemb);
        return size * nmemb;
}

/* One request; *@p respp is the JSON answer (any status), or NULL when
 * the body is not JSON. Returns BROOK_OK for 2xx, BROOK_ERR_NOT_FOUND for
 * 404, BROOK_ERR_SERDE otherwise, with errstr naming the registry's
 * message. */
static brook_err_t brook__sr_request(brook_schema_registry_t *sr,
                                     const char *method, const char *path,
                                     const char *body, json_t **respp,
                                     char *errstr, size_t errstr_size)
{
        char url[4096], curlerr[CURL_ERROR_SIZE], auth[1024];
        struct curl_slist *hdrs = NULL;
        brook_buf_t *buf = brook_buf_new();
        brook_err_t err = BROOK_ERR_SERDE;
        long status = 0;
        CURLcode cc = CURLE_OK;
        size_t u;
        int attempt;
        CURL *c;

        *respp = NULL;
        hdrs = brook__libcurl.slist_append(
                hdrs, "Accept: application/"
                      "vnd.schemaregistry.v1+json, "
                      "application/vnd.schemaregistry+json, "
                      "application/json");
        if (body)
                hdrs = brook__libcurl.slist_append(
                        hdrs, "Content-Type: application/"
                              "vnd.schemaregistry.v1+json");
        if (sr->bearer) {
                snprintf(auth, sizeof auth, "Authorization: Bearer %s",
                         sr->bearer);
                hdrs = brook__libcurl.slist_append(hdrs, auth);
        }
        for (u = 0; u < sr->url_cnt; u++) {
                snprintf(url, sizeof url, "%s%s", sr->urls[u], path);
                for (attempt = 0; attempt < BROOK__SR_ATTEMPTS; attempt++) {
                        if (attempt) {
                                struct timespec ts = {
                                        0, 100000000L << (2 * (attempt - 1))};
                                nanosleep(&ts, NULL);
                        }
                        brook_buf_clear(buf);
                        curlerr[0] = '\0';
                        c = brook__libcurl.easy_init();
                        brook__libcurl.easy_setopt(c, CURLOPT_URL, url);
                        brook__libcurl.easy_setopt(c, CURLOPT_CUSTOMREQUEST,
                                                   method);
                        brook__libcurl.easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
                        brook__libcurl.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
                        brook__libcurl.easy_setopt(c, CURLOPT_TIMEOUT_MS,
                                                   sr->timeout_ms);
                        brook__libcurl.easy_setopt(c, CURLOPT_ERRORBUFFER,
                                                   curlerr);
                        brook__libcurl.easy_setopt(c, CURLOPT_WRITEFUNCTION,
                                                   brook__sr_body_cb);
                        brook__libcurl.easy_setopt(c, CURLOPT_WRITEDATA, buf);
                        if (body)
                                brook__libcurl.easy_setopt(
                                        c, CURLOPT_POSTFIELDS, body);
                        if (sr->userpwd) {
                                brook__libcurl.easy_setopt(c, CURLOPT_HTTPAUTH,
                                                           CURLAUTH_BASIC);
                                brook__libcurl.easy_setopt(c, CURLOPT_USERPWD,
                                                           sr->userpwd);
                        }
                        if (sr->ca)
                                brook__libcurl.easy_setopt(c, CURLOPT_CAINFO,
                                                           sr->ca);
                        if (sr->cert)
                                brook__libcurl.easy_setopt(c, CURLOPT_SSLCERT,
                                                           sr->cert);
                        if (sr->key)
                                brook__libcurl.easy_setopt(c, CURLOPT_SSLKEY,
                                                           sr->key);
                        if (sr->key_password)
                                brook__libcurl.easy_setopt(c, CURLOPT_KEYPASSWD,
                                                           sr->key_password);
                        cc = brook__libcurl.easy_perform(c);
                        status = 0;
                        brook__libcurl.easy_getinfo(c, CURLINFO_RESPONSE_CODE,
                                                    &status);
                        brook__libcurl.easy_cleanup(c);
                        /* Retried: no answer, 5xx, 408 and 429. */
                        if (cc == CURLE_OK && status < 500 && status != 408 &&
                            status != 429)
                                goto answered;
                }
        }
        u = sr->url_cnt - 1;
        if (cc != CURLE_OK)
                brook__seterr(errstr, errstr_size,
                              "Schema Registry %s cannot be reached: %s",
                              sr->shown[u],
                              curlerr[0] ? curlerr
                                         : brook__libcurl.easy_strerror(cc));
        else
                brook__seterr(errstr, errstr_size,
                              "Schema Registry %s: %s %s: HTTP %ld: %.*s",
                              sr->shown[u], method, path, status,
                              (int)(brook_buf_len(buf) > 300
                                            ? 300
                                            : brook_buf_len(buf)),
                              (const char *)brook_buf_data(buf));
        goto out;

answered:
        *respp = json_loadb(brook_buf_data(buf), brook_buf_len(buf),
                            JSON_DECODE_ANY, NULL);
        if (status >= 200 && status < 300) {
                err = BROOK_OK;
                goto out;
        }
        {
                const char *msg =
                        json_string_value(json_object_get(*respp, "message"));
                json_int_t code = json_integer_value(
                        json_object_get(*respp, "error_code"));
                if (msg)
                        brook__seterr(errstr, errstr_size,
                                      "Schema Registry %s: %s %s: HTTP %ld: "
                                      "%s (error code %lld)",
                                      sr->shown[u], method, path, status, msg,
                                      (long long)code);
                else
                        brook__seterr(errstr, errstr_size,
                                      "Schema Registry %s: %s %s: HTTP %ld: "
                                      "%.*s",
                                      sr->shown[u], method, path, status,
                                      (int)(brook_buf_len(buf) > 300
                                                    ? 300
                                                    : brook_buf_len(buf)),
                                      (const char *)brook_buf_data(buf));
        }
        err = status == 404 ? BROOK_ERR_NOT_FOUND : BROOK_ERR_SERDE;
out:
        brook__libcurl.slist_free_all(hdrs);
        brook_buf_destroy(buf);
        return err;
}

/* "/subjects/<escaped subject><rest>" in @p buf. */
static const char *brook__sr_subject_path(const char *prefix,
                                          const char *subject, const char *rest,
                                          char *buf, size_t size)
{
        char *esc = brook__libcurl.easy_escape(NULL, subject, 0);
        snprintf(buf, size, "%s%s%s", prefix, esc ? esc : subject, rest);
        brook__libcurl.free(esc);
        return buf;
}

static char *brook__sr_schema_body(const char *schema)
{
        json_t *b = json_pack("{s:s}", "schema", schema);
        char *s = json_dumps(b, JSON_COMPACT);
        json_decref(b);
        return s;
}

static brook_err_t brook__sr_args(const brook_schema_registry_t *sr,
                                  const char *subject, const char *schema,
                                  const char *fn, char *errstr,
                                  size_t errstr_size)
{
        if (sr && subject && schema)
                return BROOK_OK;
        brook__seterr(errstr, errstr_size, "%s: %s is NULL", fn,
                      !sr        ? "sr"
                      : !subject ? "subject"
                                 : "schema");
        return BROOK_ERR_INVALID_ARG;
}

/* --------------------------------------------------------------- caches */

/* Adds @p text as @p id unless there; the cached schema in *@p sp. */
static brook_err_t brook__sr_cache_put(brook_schema_registry_t *sr, int32_t id,
                                       const char *text,
                                       const brook__avro_schema_t **sp,
                                       char *errstr, size_t errstr_size)
{
        brook__avro_schema_t *s;
        size_t i;

        if (!(s = brook__avro_schema_parse(text, errstr, errstr_size)))
                return BROOK_ERR_SERDE;
        s->id = id;
        pthread_mutex_lock(&sr->lock);
        for (i = 0; i < sr->id_cnt; i++)
                if (sr->ids[i]->id == id) {
                        *sp = sr->ids[i];
                        pthread_mutex_unlock(&sr->lock);
                        brook__avro_schema_free(s);
                        return BROOK_OK;
                }
        if (sr->id_cnt == sr->id_cap) {
                sr->id_cap = sr->id_cap ? sr->id_cap * 2 : 16;
                sr->ids =
                        brook__xrealloc(sr->ids, sr->id_cap * sizeof *sr->ids);
        }
        sr->ids[sr->id_cnt++] = s;
        *sp = s;
        pthread_mutex_unlock(&sr->lock);
        return BROOK_OK;
}

static const brook__avro_schema_t *brook__sr_cached(brook_schema_registry_t *sr,
                                                    int32_t id)
{
        const brook__avro_schema_t *s = NULL;
        size_t i;
        /* Newest first: the ids of a topic's current schema were most
         * likely fetched last. */
        for (i = sr->id_cnt; i-- > 0;)
                if (sr->ids[i]->id == id) {
                        s = sr->ids[i];
                        break;
                }
        return s;
}

brook_err_t brook__sr_preload(brook_schema_registry_t *sr, int32_t id,
                              const char *text, char *errstr,
                              size_t errstr_size)
{
        const brook__avro_schema_t *s;
        return brook__sr_cache_put(sr, id, text, &s, errstr, errstr_size);
}

const brook__avro_schema_t *brook__sr_known(brook_schema_registry_t *sr,
                                            avro_schema_t schema)
{
        const brook__avro_schema_t *s = NULL;
        size_t i;
        pthread_mutex_lock(&sr->lock);
        for (i = 0; i < sr->id_cnt; i++)
                if (sr->ids[i]->schema == schema) {
                        s = sr->ids[i];
                        break;
                }
        pthread_mutex_unlock(&sr->lock);
        return s;
}

brook_err_t brook__sr_schema_by_id(brook_schema_registry_t *sr, int32_t id,
                                   const brook__avro_schema_t **sp,
                                   char *errstr, size_t errstr_size)
{
        int64_t now = brook__now_mono_ms();
        const char *text;
        char path[64];
        json_t *resp;
        brook_err_t err;
        size_t i;

        pthread_mutex_lock(&sr->lock);
        if ((*sp = brook__sr_cached(sr, id))) {
                pthread_mutex_unlock(&sr->lock);
                return BROOK_OK;
        }
        for (i = 0; i < BROOK__SR_NEGATIVE; i++)
                if (sr->negative[i].id == id && sr->negative[i].until > now) {
                        pthread_mutex_unlock(&sr->lock);
                        brook__seterr(errstr, errstr_size,
                                      "Avro deserializer: schema id %d is "
                                      "not known to the Schema Registry",
                                      id);
                        return BROOK_ERR_NOT_FOUND;
                }
        pthread_mutex_unlock(&sr->lock);

        snprintf(path, sizeof path, "/schemas/ids/%d", id);
        err = brook__sr_request(sr, "GET", path, NULL, &resp, errstr,
                                errstr_size);
        if (err == BROOK_ERR_NOT_FOUND) {
                pthread_mutex_lock(&sr->lock);
                i = sr->negative_next++ % BROOK__SR_NEGATIVE;
                sr->negative[i].id = id;
                sr->negative[i].until = now + BROOK__SR_NEGATIVE_MS;
                pthread_mutex_unlock(&sr->lock);
                char why[512];
                snprintf(why, sizeof why, "%s", errstr ? errstr : "");
                brook__seterr(errstr, errstr_size,
                              "Avro deserializer: schema id %d is not known "
                              "to the Schema Registry (%s)",
                              id, why);
        }
        if (err) {
                json_decref(resp);
                return err;
        }
        if (!(text = json_string_value(json_object_get(resp, "schema")))) {
                brook__seterr(errstr, errstr_size,
                              "Schema Registry: GET %s: the answer has no "
                              "\"schema\"",
                              path);
                json_decref(resp);
                return BROOK_ERR_SERDE;
        }
        {
                /* Only Avro: another schemaType is not ours to read. */
                const char *type =
                        json_string_value(json_object_get(resp, "schemaType"));
                if (type && strcmp(type, "AVRO")) {
                        brook__seterr(errstr, errstr_size,
                                      "Avro deserializer: schema id %d is a "
                                      "%s schema, not Avro",
                                      id, type);
                        json_decref(resp);
                        return BROOK_ERR_SERDE;
                }
        }
        err = brook__sr_cache_put(sr, id, text, sp, errstr, errstr_size);
        json_decref(resp);
        return err;
}

brook_err_t brook_schema_registry_schema(brook_schema_registry_t *sr,
                                         int32_t id, const char **schemap,
                                         char *errstr, size_t errstr_size)
{
        const brook__avro_schema_t *s;
        brook_err_t err;
        if (!sr || !schemap) {
                brook__seterr(errstr, errstr_size,
                              "brook_schema_registry_schema: %s is NULL",
                              !sr ? "sr" : "schemap");
                return BROOK_ERR_INVALID_ARG;
        }
        if ((err = brook__sr_schema_by_id(sr, id, &s, errstr, errstr_size)))
                return err;
        *schemap = s->text;
        return BROOK_OK;
}

/* ------------------------------------------------------------- subjects */

/* POSTs {"schema": @p schema} to /subjects/<subject><rest>: the answer,
 * which carries an integer "id", in *@p respp (json_decref()). */
static brook_err_t brook__sr_post_schema(brook_schema_registry_t *sr,
                                         const char *fn, const char *subject,
                                         const char *rest, const char *schema,
                                         json_t **respp, char *errstr,
                                         size_t errstr_size)
{
        char path[2048], *body;
        brook_err_t err;

        *respp = NULL;
        if ((err = brook__sr_args(sr, subject, schema, fn, errstr,
                                  errstr_size)))
                return err;
        body = brook__sr_schema_body(schema);
        err = brook__sr_request(sr, "POST",
                                brook__sr_subject_path("/subjects/", subject,
                                                       rest, path, sizeof path),
                                body, respp, errstr, errstr_size);
        free(body);
        if (!err && !json_is_integer(json_object_get(*respp, "id"))) {
                brook__seterr(errstr, errstr_size,
                              "Schema Registry: POST %s: the answer has no "
                              "\"id\"",
                              path);
                err = BROOK_ERR_SERDE;
        }
        return err;
}

brook_err_t brook_schema_registry_register(brook_schema_registry_t *sr,
                                           const char *subject,
                                           const char *schema, int32_t *idp,
                                           char *errstr, size_t errstr_size)
{
        json_t *resp;
        brook_err_t err = brook__sr_post_schema(
                sr, "brook_schema_registry_register", subject, "/versions",
                schema, &resp, errstr, errstr_size);
        /* A 404 here is not "no such schema": the registry refused. */
        if (err == BROOK_ERR_NOT_FOUND)
                err = BROOK_ERR_SERDE;
        if (!err && idp)
                *idp = (int32_t)json_integer_value(json_object_get(resp, "id"));
        json_decref(resp);
        return err;
}

brook_err_t brook_schema_registry_lookup(brook_schema_registry_t *sr,
                                         const char *subject,
                                         const char *schema, int32_t *idp,
                                         int32_t *versionp, char *errstr,
                                         size_t errstr_size)
{
        json_t *resp;
        brook_err_t err = brook__sr_post_schema(
                sr, "brook_schema_registry_lookup", subject, "", schema, &resp,
                errstr, errstr_size);
        if (!err && idp)
                *idp = (int32_t)json_integer_value(json_object_get(resp, "id"));
        if (!err && versionp)
                *versionp = (int32_t)json_integer_value(
                        json_object_get(resp, "version"));
        json_decref(resp);
        return err;
}

/* GET /subjects/{subject}/versions/{version}, uncached. */
static brook_err_t brook__sr_get_version(brook_schema_registry_t *sr,
                                         const char *subject, int32_t version,
                                         int32_t *idp, int32_t *versionp,
                                         const brook__avro_schema_t **sp,
                                         char *errstr, size_t errstr_size)
{
        char path[2048], rest[64];
        json_t *resp, *id, *ver;
        const char *text;
        brook_err_t err;

        if (version < 0)
                snprintf(rest, sizeof rest, "/versions/latest");
        else
                snprintf(rest, sizeof rest, "/versions/%d", version);
        err = brook__sr_request(sr, "GET",
                                brook__sr_subject_path("/subjects/", subject,
                                                       rest, path, sizeof path),
                                NULL, &resp, errstr, errstr_size);
        if (err) {
                json_decref(resp);
                return err;
        }
        id = json_object_get(resp, "id");
        ver = json_object_get(resp, "version");
        text = json_string_value(json_object_get(resp, "schema"));
        if (!json_is_integer(id) || !json_is_integer(ver) || !text) {
                brook__seterr(errstr, errstr_size,
                              "Schema Registry: GET %s: the answer lacks id, "
                              "version or schema",
                              path);
                json_decref(resp);
                return BROOK_ERR_SERDE;
        }
        *idp = (int32_t)json_integer_value(id);
        *versionp = (int32_t)json_integer_value(ver);
        err = brook__sr_cache_put(sr, *idp, text, sp, errstr, errstr_size);
        json_decref(resp);
        return err;
}

brook_err_t brook__sr_latest(brook_schema_registry_t *sr, const char *subject,
                             const brook__avro_schema_t **sp, char *errstr,
                             size_t errstr_size)
{
        int64_t now = brook__now_mono_ms();
        int32_t id, version;
        brook_err_t err;
        size_t i;

        pthread_mutex_lock(&sr->lock);
        for (i = 0; i < sr->latest_cnt; i++) {
                brook__sr_latest_t *l = &sr->latest[i];
                if (strcmp(l->subject, subject))
                        continue;
                if (sr->latest_ttl_ms < 0 || now - l->at < sr->latest_ttl_ms) {
                        *sp = brook__sr_cached(sr, l->id);
                        pthread_mutex_unlock(&sr->lock);
                        return BROOK_OK;
                }
                break;
        }
        pthread_mutex_unlock(&sr->lock);

        if ((err = brook__sr_get_version(sr, subject, -1, &id, &version, sp,
                                         errstr, errstr_size)))
                return err;
        pthread_mutex_lock(&sr->lock);
        for (i = 0; i < sr->latest_cnt; i++)
                if (!strcmp(sr->latest[i].subject, subject))
                        break;
        if (i == sr->latest_cnt) {
                if (sr->latest_cnt == sr->latest_cap) {
                        sr->latest_cap =
                                sr->latest_cap ? sr->latest_cap * 2 : 8;
                        sr->latest = brook__xrealloc(
                                sr->latest,
                                sr->latest_cap * sizeof *sr->latest);
                }
                sr->latest[sr->latest_cnt++].subject = brook__xstrdup(subject);
        }
        sr->latest[i].id = id;
        sr->latest[i].version = version;
        sr->latest[i].at = now;
        pthread_mutex_unlock(&sr->lock);
        return BROOK_OK;
}

brook_err_t brook_schema_registry_version(brook_schema_registry_t *sr,
                                          const char *subject, int32_t version,
                                          int32_t *idp, int32_t *versionp,
                                          const char **schemap, char *errstr,
                                          size_t errstr_size)
{
        const brook__avro_schema_t *s;
        int32_t id, ver = version;
        brook_err_t err;
        size_t i;

        if ((err = brook__sr_args(sr, subject, "",
                                  "brook_schema_registry_"
                                  "version",
                                  errstr, errstr_size)))
                return err;
        if (version < 0) {
                if ((err = brook__sr_latest(sr, subject, &s, errstr,
                                            errstr_size)))
                        return err;
                id = s->id;
                pthread_mutex_lock(&sr->lock);
                for (i = 0; i < sr->latest_cnt; i++)
                        if (!strcmp(sr->latest[i].subject, subject))
                                ver = sr->latest[i].version;
                pthread_mutex_unlock(&sr->lock);
        } else if ((err = brook__sr_get_version(sr, subject, version, &id, &ver,
                                                &s, errstr, errstr_size))) {
                return err;
        }
        if (idp)
                *idp = id;
        if (versionp)
                *versionp = ver;
        if (schemap)
                *schemap = s->text;
        return BROOK_OK;
}

brook_err_t brook_schema_registry_test_compatibility(
        brook_schema_registry_t *sr, const char *subject, const char *schema,
        bool *compatiblep, char *errstr, size_t errstr_size)
{
        char path[2048], *body;
        json_t *resp, *ok, *msgs, *m;
        brook_err_t err;
        size_t i, len = 0;

        if ((err = brook__sr_args(sr, subject, schema,
                                  "brook_schema_registry_test_compatibility",
                                  errstr, errstr_size)))
                return err;
        body = brook__sr_schema_body(schema);
        err = brook__sr_request(
                sr, "POST",
                brook__sr_subject_path("/compatibility/subjects/", subject,
                                       "/versions/latest?verbose=true", path,
                                       sizeof path),
                body, &resp, errstr, errstr_size);
        free(body);
        if (!err &&
            !json_is_boolean(ok = json_object_get(resp, "is_compatible"))) {
                brook__seterr(errstr, errstr_size,
                              "Schema Registry: POST %s: the answer has no "
                              "\"is_compatible\"",
                              path);
                err = BROOK_ERR_SERDE;
        }
        if (!err) {
                *compatiblep = json_is_true(ok);
                msgs = json_object_get(resp, "messages");
                if (!*compatiblep && errstr && errstr_size) {
                        errstr[0] = '\0';
                        json_array_foreach(msgs, i, m)
                        {
                                if (!json_is_string(m) ||
                                    len >= errstr_size - 1)
                                        continue;
                                len += (size_t)snprintf(
                                        errstr + len, errstr_size - len, "%s%s",
                                        len ? "; " : "", json_string_value(m));
                        }
                }
        }
        json_decref(resp);
        return err;
}

brook_err_t brook_schema_registry_set_compatibility(brook_schema_registry_t *sr,
                                                    const char *subject,
                                                    const char *level,
                                                    char *errstr,
                                                    size_t errstr_size)
{
        char path[2048], *body;
        json_t *b, *resp;
        brook_err_t err;

        if (!sr || !level) {
                brook__seterr(errstr, errstr_size,
                              "brook_schema_registry_set_compatibility: %s is "
                              "NULL",
                              !sr ? "sr" : "level");
                return BROOK_ERR_INVALID_ARG;
        }
        b = json_pack("{s:s}", "compatibility", level);
        body = json_dumps(b, JSON_COMPACT);
        json_decref(b);
        if (subject)
                brook__sr_subject_path("/config/", subject, "", path,
                                       sizeof path);
        else
                snprintf(path, sizeof path, "/config");
        err = brook__sr_request(sr, "PUT", path, body, &resp, errstr,
                                errstr_size);
        free(body);
        json_decref(resp);
        return err;
}
