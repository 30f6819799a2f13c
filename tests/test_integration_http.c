/*
 * Integration: the embedded HTTP server and its metrics (issue 13).
 *
 *   metrics_and_endpoints  an app counts 1,000 records of 50 keys, drops
 *                          7 with a null key and dead-letters 5 whose
 *                          value does not decode; then /metrics passes
 *                          `promtool check metrics`, says exactly that
 *                          (processed, dropped by reason, dead-lettered,
 *                          lag 0 on both partitions, records the consumer
 *                          fetched by librdkafka's count), has every metric
 *                          the Grafana dashboard (docs/grafana-dashboard.json)
 *                          uses; /health, /ready and /state say RUNNING,
 *                          and GET /stores/counts/{key} answers each key's
 *                          count.
 *   bad_requests           with a bearer token (and DEBUG metrics: each
 *                          node's records): no token or a wrong one
 *                          401 (not /health), unknown paths 404, unknown
 *                          store 404, bad escapes 400, a key that is not
 *                          of the store's serde 400, POST 405, a body over
 *                          http.max.request.bytes 413, a 64 KiB key 414,
 *                          unknown query parameters 400; a client that
 *                          sends half a request is cut off after
 *                          http.request.timeout.ms while others are
 *                          served; the app runs on and counts new records.
 *   window_fetch           GET /stores/{store}/{key} of a window store
 *                          gives the key's windows (time_from, time_to,
 *                          backward as Kafka Streams' fetch), of a
 *                          session store its sessions; their parameters
 *                          on a key-value store, bad values, and a scan of
 *                          a window store get 400.
 *   tls                    with a certificate and key the server speaks
 *                          HTTPS (a client trusting the certificate gets
 *                          /health and a count), never plain HTTP.
 *   remote_queries         three count_app processes with
 *                          application.server: for 10,000 keys, GET
 *                          /stores/counts/{key} on every instance answers
 *                          the key's count (forwarded to the owner where
 *                          not local), and so does every remaining one
 *                          after one instance stops and the rebalance
 *                          settles; GET /stores/counts pages (all keys,
 *                          a range, a prefix) return each key exactly
 *                          once, with its count, on every instance.
 *   bad_config             application.server that is not host:port, a
 *                          listen address that is not an address, a port
 *                          already taken, TLS with a certificate only:
 *                          each refused with a message naming it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "apps/count_topology.h"
#include "brook_int.h"
#include "kafka_util.h"

#define KEYS      50
#define GOOD      1000
#define NULL_KEYS 7
#define BAD       5
#define TOKEN     "s3cret-token"

/* ------------------------------------------------------------- helpers */

typedef struct resp {
        long status;
        char *body;
        size_t len;
} resp_t;

static size_t on_body(char *p, size_t sz, size_t n, void *opaque)
{
        resp_t *r = opaque;
        r->body = realloc(r->body, r->len + sz * n + 1);
        memcpy(r->body + r->len, p, sz * n);
        r->len += sz * n;
        r->body[r->len] = '\0';
        return sz * n;
}

/* A request to 127.0.0.1:@p port; @p method NULL: GET; @p body NULL:
 * none. Status 0 when there is no answer (no server yet, say). */
static resp_t http_try(int port, const char *method, const char *path,
                       const char *token, const char *body)
{
        CURL *c = curl_easy_init();
        struct curl_slist *hdrs = NULL;
        char url[70000], auth[256];
        resp_t r = {0, NULL, 0};
        CURLcode rc;

        snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
        curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
        if (token) {
                snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
                hdrs = curl_slist_append(hdrs, auth);
        }
        if (method)
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (body) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        rc = curl_easy_perform(c);
        if (rc == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        else
                fprintf(stderr, "%s %s: %s\n", method ? method : "GET", path,
                        curl_easy_strerror(rc));
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(c);
        if (!r.body)
                r.body = calloc(1, 1);
        return r;
}

/* http_try(), failing the test when there is no answer. */
static resp_t http(int port, const char *method, const char *path,
                   const char *token, const char *body)
{
        resp_t r = http_try(port, method, path, token, body);
        if (!r.status)
                fail_msg("%s %s: no answer", method ? method : "GET", path);
        return r;
}

/* The sum of the samples of @p name (the whole name, before '{' or ' ')
 * whose labels contain @p match (NULL: any); -1 if there is none. */
static double metric_sum(const char *text, const char *name, const char *match)
{
        size_t n = strlen(name);
        const char *p = text;
        double sum = 0;
        bool any = false;
        while (p && *p) {
                const char *eol = strchr(p, '\n');
                if (!strncmp(p, name, n) && (p[n] == '{' || p[n] == ' ')) {
                        const char *sp = strchr(p + n, ' ');
                        char *labels = strndup(p, (size_t)(sp - p));
                        /* A space inside labels is not ours. */
                        if (p[n] == '{')
                                sp = strstr(p + n, "} ") + 1;
                        if (!match || strstr(labels, match)) {
                                sum += strtod(sp + 1, NULL);
                                any = true;
                        }
                        free(labels);
                }
                p = eol ? eol + 1 : NULL;
        }
        return any ? sum : -1;
}

/* Samples of @p name. */
static int metric_count(const char *text, const char *name)
{
        size_t n = strlen(name);
        const char *p = text;
        int cnt = 0;
        while (p && *p) {
                if (!strncmp(p, name, n) && (p[n] == '{' || p[n] == ' '))
                        cnt++;
                p = strchr(p, '\n');
                p = p ? p + 1 : NULL;
        }
        return cnt;
}

static brook_builder_t *count_int64_topology(const char *in, const char *out)
{
        brook_builder_t *b = brook_builder_new();
        /* Values must be 8-byte int64s: others are dead-lettered. */
        count_topology_add_values(b, in, out, "counts", NULL,
                                  brook_serde_int64());
        assert_null(brook_builder_error(b));
        return b;
}

/* @p extra: more name, value pairs, NULL-terminated (may be NULL). */
static brook_app_t *start_app_with(brook_builder_t *b, const char *app_id,
                                   const char *dir, int port, const char *token,
                                   const char *const *extra)
{
        char server[64];
        const char *props[][2] = {
                {"application.id", app_id},
                {"bootstrap.servers", kt_bootstrap()},
                {"state.dir", dir},
                {"commit.interval.ms", "200"},
                {"default.deserialization.exception.handler", "dead_letter"},
                {"application.server", server},
                {"http.request.timeout.ms", "2000"},
                {"http.max.request.bytes", "4096"},
                {"metrics.sample.window.ms", "5000"},
                {"http.auth.token", token},
                /* The app with a token also records DEBUG metrics. */
                {"metrics.recording.level", token ? "DEBUG" : NULL},
        };
        brook_conf_t *conf = brook_conf_new();
        char errstr[1024];
        brook_app_t *app;
        size_t i;

        snprintf(server, sizeof server, "localhost:%d", port);
        for (i = 0; i < sizeof props / sizeof *props; i++) {
                if (!props[i][1])
                        continue;
                if (brook_conf_set(conf, props[i][0], props[i][1], errstr,
                                   sizeof errstr))
                        fail_msg("%s", errstr);
        }
        for (; extra && extra[0]; extra += 2)
                if (brook_conf_set(conf, extra[0], extra[1], errstr,
                                   sizeof errstr))
                        fail_msg("%s", errstr);
        app = brook_app_new(b, conf, errstr, sizeof errstr);
        if (!app)
                fail_msg("brook_app_new: %s", errstr);
        if (brook_app_start(app, errstr, sizeof errstr))
                fail_msg("brook_app_start: %s", errstr);
        return app;
}

static brook_app_t *start_app(const char *app_id, const char *in,
                              const char *out, const char *dir, int port,
                              const char *token)
{
        return start_app_with(count_int64_topology(in, out), app_id, dir, port,
                              token, NULL);
}

static void produce_input(const char *in, int first, int good)
{
        rd_kafka_t *p = kt_producer();
        char key[32];
        int i;
        for (i = first; i < first + good; i++) {
                uint64_t be = 0;
                unsigned char v[8];
                int j;
                be = (uint64_t)i;
                for (j = 0; j < 8; j++)
                        v[j] = (unsigned char)(be >> (56 - 8 * j));
                snprintf(key, sizeof key, "k%d", i % KEYS);
                kt_produce(p, in, -1, key, v, 8, NULL);
        }
        kt_producer_close(p);
}

struct wait_metrics {
        int port;
        const char *token;
        int64_t processed;
        int partitions; /**< Input partitions (0: 2). */
        char *last;
};

/* Until the app has processed what was produced and its lag is 0. */
static bool metrics_settled(void *opaque)
{
        struct wait_metrics *w = opaque;
        resp_t r = http(w->port, NULL, "/metrics", w->token, NULL);
        bool ok =
                r.status == 200 &&
                metric_sum(r.body, "brook_stream_thread_process_total", NULL) ==
                        (double)w->processed &&
                metric_count(r.body, "brook_consumer_records_lag") ==
                        (w->partitions ? w->partitions : 2) &&
                metric_sum(r.body, "brook_consumer_records_lag", NULL) == 0 &&
                metric_sum(r.body, "brook_stream_task_committed_offset",
                           NULL) == (double)w->processed &&
                /* librdkafka's statistics (every 5 s here) agree. */
                metric_sum(r.body, "brook_consumer_records_consumed_total",
                           NULL) == (double)w->processed &&
                metric_sum(r.body, "brook_producer_record_send_total", NULL) >
                        0 &&
                metric_sum(r.body, "brook_producer_queued_records", NULL) == 0;
        free(w->last);
        w->last = r.body;
        return ok;
}

struct wait_idle {
        int port;
        char *last;
};

/* Until the window (5 s) holds no processing: the rate is 0 and the
 * average latency has no records to average (NaN). */
static bool rates_idle(void *opaque)
{
        struct wait_idle *w = opaque;
        resp_t r = http(w->port, NULL, "/metrics", NULL, NULL);
        bool ok = metric_sum(r.body, "brook_stream_thread_process_rate",
                             NULL) == 0 &&
                  strstr(r.body, "brook_stream_thread_process_latency_avg{") &&
                  strstr(strstr(r.body,
                                "brook_stream_thread_process_latency_avg{"),
                         "} NaN\n");
        free(w->last);
        w->last = r.body;
        return ok;
}

static char *slurp_or_fail(const char *path)
{
        char *s = kt_slurp(path);
        if (!s)
                fail_msg("cannot read %s", path);
        return s;
}

/* ----------------------------------------------------------- the tests */

static void test_metrics_and_endpoints(void **state)
{
        char *app_id = kt_unique("http-metrics");
        char *in = kt_unique("http-in"), *out = kt_unique("http-out");
        char dir[] = "/tmp/brook-http-XXXXXX", path[256], cmd[512];
        struct wait_metrics w = {0};
        rd_kafka_t *p;
        brook_app_t *app;
        char *dash, *s;
        resp_t r;
        json_t *doc;
        int port = kt_free_port(), i, missing = 0;
        FILE *f;
        (void)state;

        assert_non_null(mkdtemp(dir));
        kt_create_topic(in, 2);
        kt_create_topic(out, 2);
        produce_input(in, 0, GOOD);
        /* Null keys (dropped by the count) and values that are not
         * 8-byte int64s (dead-lettered). */
        p = kt_producer();
        for (i = 0; i < NULL_KEYS; i++)
                kt_produce(p, in, i % 2, NULL, "\0\0\0\0\0\0\0\1", 8, NULL);
        for (i = 0; i < BAD; i++)
                kt_produce(p, in, i % 2, "k1", "bad", 3, NULL);
        kt_producer_close(p);

        app = start_app(app_id, in, out, dir, port, NULL);
        w.port = port;
        w.processed = GOOD + NULL_KEYS + BAD;
        if (!kt_wait_until(metrics_settled, &w, 200, 120000))
                fail_msg("metrics did not settle; last:\n%s", w.last);

        /* promtool's own check of the exposition (format and lint). */
        snprintf(path, sizeof path, "%s/metrics.txt", dir);
        f = fopen(path, "w");
        fputs(w.last, f);
        fclose(f);
        snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
        {
                FILE *pc = popen(cmd, "r");
                char line[512], all[8192] = "";
                int st;
                while (fgets(line, sizeof line, pc))
                        strncat(all, line, sizeof all - strlen(all) - 1);
                st = pclose(pc);
                if (!WIFEXITED(st) || WEXITSTATUS(st))
                        fail_msg("promtool check metrics failed:\n%s", all);
        }
        /* The values are what was produced. */
        assert_true(metric_sum(w.last, "brook_stream_thread_process_total",
                               NULL) == GOOD + NULL_KEYS + BAD);
        assert_true(metric_sum(w.last,
                               "brook_stream_thread_dropped_records_total",
                               "reason=\"null_key\"") == NULL_KEYS);
        assert_true(metric_sum(w.last,
                               "brook_stream_thread_dropped_records_total",
                               NULL) == NULL_KEYS);
        assert_true(
                metric_sum(w.last,
                           "brook_stream_thread_dead_lettered_records_total",
                           NULL) == BAD);
        assert_true(metric_sum(w.last, "brook_stream_client_state",
                               "state=\"RUNNING\"") == 1);
        assert_true(metric_sum(w.last, "brook_stream_client_state", NULL) == 1);
        assert_true(metric_sum(w.last,
                               "brook_stream_client_alive_stream_threads",
                               NULL) == 1);
        assert_true(metric_sum(w.last, "brook_stream_thread_task_created_total",
                               NULL) >= 2);
        assert_true(metric_sum(w.last, "brook_stream_task_restoring", NULL) ==
                    0);
        assert_true(metric_count(w.last, "brook_stream_task_restoring") == 2);
        assert_true(metric_sum(w.last, "brook_stream_thread_commit_total",
                               NULL) >= 1);
        /* One store, in two tasks' column families. */
        assert_int_equal(
                metric_count(w.last, "brook_stream_state_estimate_num_keys"),
                2);
        assert_true(metric_sum(w.last, "brook_stream_state_estimate_num_keys",
                               "task_id=\"0_1\",store=\"counts\"") >= 0);

        /* The window: once it has passed without records, the rate is 0
         * and the average latency NaN. */
        {
                struct wait_idle wi = {port, NULL};
                double polls = metric_sum(
                        w.last, "brook_stream_thread_poll_total", NULL);
                assert_true(polls > 0);
                if (!kt_wait_until(rates_idle, &wi, 500, 30000))
                        fail_msg("rates never went idle:\n%s", wi.last);
                free(wi.last);
        }

        /* Every metric the dashboard draws is served. */
        dash = slurp_or_fail(GRAFANA_DASHBOARD_PATH);
        for (s = dash; (s = strstr(s, "brook_"));) {
                char name[128];
                size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_");
                snprintf(name, sizeof name, "%.*s", (int)n, s);
                s += n;
                if (metric_count(w.last, name) == 0) {
                        fprintf(stderr, "dashboard metric %s not served\n",
                                name);
                        missing++;
                }
        }
        free(dash);
        assert_int_equal(missing, 0);

        r = http(port, NULL, "/health", NULL, NULL);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body,
                            "{\"state\":\"RUNNING\",\"status\":\"UP\"}");
        free(r.body);
        r = http(port, NULL, "/ready", NULL, NULL);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.body, "\"status\":\"READY\""));
        free(r.body);
        r = http(port, NULL, "/state", NULL, NULL);
        assert_int_equal(r.status, 200);
        doc = json_loads(r.body, 0, NULL);
        assert_non_null(doc);
        assert_string_equal(json_string_value(json_object_get(doc, "state")),
                            "RUNNING");
        assert_string_equal(
                json_string_value(json_object_get(doc, "application_id")),
                app_id);
        {
                json_t *tasks = json_object_get(
                        json_array_get(json_object_get(doc, "threads"), 0),
                        "tasks");
                int64_t committed = 0;
                size_t t;
                assert_int_equal(json_array_size(tasks), 2);
                for (t = 0; t < 2; t++) {
                        json_t *part = json_array_get(
                                json_object_get(json_array_get(tasks, t),
                                                "partitions"),
                                0);
                        assert_string_equal(json_string_value(json_object_get(
                                                    part, "topic")),
                                            in);
                        assert_int_equal(json_integer_value(
                                                 json_object_get(part, "lag")),
                                         0);
                        committed += json_integer_value(
                                json_object_get(part, "committed_offset"));
                }
                assert_int_equal(committed, GOOD + NULL_KEYS + BAD);
                assert_non_null(strstr(
                        json_string_value(json_object_get(doc, "topology")),
                        "Sub-topology: 0"));
        }
        json_decref(doc);
        free(r.body);

        /* Every key's count: k has GOOD / KEYS, and k1 no more (its bad
         * records were dead-lettered). */
        for (i = 0; i < KEYS; i++) {
                char want[128];
                snprintf(path, sizeof path, "/stores/counts/k%d", i);
                r = http(port, NULL, path, NULL, NULL);
                snprintf(want, sizeof want,
                         "{\"store\":\"counts\",\"key\":\"k%d\",\"value\":%d}",
                         i, GOOD / KEYS);
                assert_int_equal(r.status, 200);
                assert_string_equal(r.body, want);
                free(r.body);
        }
        r = http(port, NULL, "/stores/counts/k50", NULL, NULL);
        assert_int_equal(r.status, 404);
        assert_string_equal(r.body, "{\"error\":\"store \\\"counts\\\" has no "
                                    "such key\",\"status\":404}");
        free(r.body);

        brook_app_destroy(app);
        kt_rmtree(dir);
        free(w.last);
        free(app_id);
        free(in);
        free(out);
}

struct slow {
        int port;
};

static void test_bad_requests(void **state)
{
        char *app_id = kt_unique("http-bad");
        char *in = kt_unique("http-bad-in"), *out = kt_unique("http-bad-out");
        char dir[] = "/tmp/brook-http-XXXXXX";
        struct wait_metrics w = {0};
        brook_app_t *app;
        char *big;
        resp_t r;
        int port = kt_free_port(), fd;
        struct sockaddr_in sa = {.sin_family = AF_INET};
        int64_t t0;
        (void)state;

        assert_non_null(mkdtemp(dir));
        kt_create_topic(in, 2);
        kt_create_topic(out, 2);
        produce_input(in, 0, 100);
        app = start_app(app_id, in, out, dir, port, TOKEN);
        w.port = port;
        w.token = TOKEN;
        w.processed = 100;
        if (!kt_wait_until(metrics_settled, &w, 200, 120000))
                fail_msg("metrics did not settle; last:\n%s", w.last);

        /* A client that sends half a request and waits: it holds one
         * connection, no more (others are served meanwhile), and is cut
         * off once it has been idle for the timeout (2 s; libmicrohttpd
         * checks about once a second). */
        fd = socket(AF_INET, SOCK_STREAM, 0);
        sa.sin_port = htons((uint16_t)port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        assert_int_equal(write(fd, "GET /metr", 9), 9);
        t0 = kt_now_ms();
        r = http(port, NULL, "/health", NULL, NULL);
        assert_int_equal(r.status, 200);
        free(r.body);
        {
                struct pollfd pfd = {.fd = fd, .events = POLLIN};
                char buf[256];
                int64_t waited;
                assert_int_equal(poll(&pfd, 1, 10000), 1);
                waited = kt_now_ms() - t0;
                /* Closed without an answer. */
                assert_true(read(fd, buf, sizeof buf) <= 0);
                if (waited < 1500 || waited > 6000)
                        fail_msg("the slow client was cut off after %" PRId64
                                 " ms, not about 2 s",
                                 waited);
                close(fd);
        }

#define EXPECT(status_, method_, path_, token_, body_, contains_)              \
        do {                                                                   \
                r = http(port, method_, path_, token_, body_);                 \
                if (r.status != (status_) || !strstr(r.body, contains_))       \
                        fail_msg("%s %s: got %ld %s, want %d with \"%s\"",     \
                                 method_ ? method_ : "GET", path_, r.status,   \
                                 r.body, status_, contains_);                  \
                free(r.body);                                                  \
        } while (0)

        EXPECT(200, NULL, "/health", NULL, NULL, "\"UP\"");
        EXPECT(401, NULL, "/metrics", NULL, NULL, "Bearer");
        EXPECT(401, NULL, "/stores/counts/k1", "wrong", NULL, "Bearer");
        EXPECT(401, NULL, "/state", TOKEN "x", NULL, "Bearer");
        EXPECT(200, NULL, "/stores/counts/k1", TOKEN, NULL, "\"value\":2}");
        EXPECT(404, NULL, "/nope", TOKEN, NULL, "no such endpoint");
        EXPECT(404, NULL, "/stores/counts/k1/more", TOKEN, NULL,
               "no such endpoint");
        EXPECT(404, NULL, "/stores/nostore/k1", TOKEN, NULL,
               "no store named \\\"nostore\\\"");
        EXPECT(400, NULL, "/stores/counts/k%zz", TOKEN, NULL, "bad escape");
        EXPECT(400, NULL, "/stores/counts/k%0", TOKEN, NULL, "bad escape");
        EXPECT(400, NULL, "/stores/counts/", TOKEN, NULL, "the key is empty");
        EXPECT(400, NULL, "/stores/counts/k%001", TOKEN, NULL, "NUL byte");
        EXPECT(400, NULL, "/metrics?cursor=zz", TOKEN, NULL,
               "unknown query parameter \\\"cursor\\\"");
        EXPECT(400, NULL, "/stores/counts?cursor=zz", TOKEN, NULL,
               "not one this server gave");
        EXPECT(400, NULL, "/stores/counts?cursor=1.abc", TOKEN, NULL,
               "not one this server gave");
        EXPECT(400, NULL, "/stores/counts?cursor=99.", TOKEN, NULL,
               "has 2 partitions");
        EXPECT(400, NULL, "/stores/counts?limit=0", TOKEN, NULL,
               "limit must be");
        EXPECT(400, NULL, "/stores/counts?limit=10001", TOKEN, NULL,
               "limit must be");
        EXPECT(400, NULL, "/stores/counts?from=a&from=b", TOKEN, NULL,
               "given twice");
        EXPECT(400, NULL, "/stores/counts?bogus=1", TOKEN, NULL,
               "unknown query parameter \\\"bogus\\\"");
        EXPECT(404, NULL, "/stores/nostore?limit=5", TOKEN, NULL,
               "no store named");
        /* A first page of 5 of the 50 keys, and where the next starts. */
        EXPECT(200, NULL, "/stores/counts?limit=5", TOKEN, NULL, "\"next\":\"");
        EXPECT(405, "POST", "/metrics", TOKEN, "x", "GET and HEAD");
        EXPECT(405, "DELETE", "/stores/counts/k1", TOKEN, NULL, "GET and HEAD");
        /* A body over http.max.request.bytes (4096). */
        big = malloc(70000);
        memset(big, 'a', 69999);
        big[69999] = '\0';
        EXPECT(413, "GET", "/metrics", TOKEN, big, "http.max.request.bytes");
        /* A 64 KiB key. */
        memcpy(big, "/stores/counts/", 15);
        big[65536] = '\0';
        r = http(port, NULL, big, TOKEN, NULL);
        assert_true(r.status == 414 || r.status == 431);
        free(r.body);
        free(big);
        /* An escaped '/' is part of the key. */
        EXPECT(404, NULL, "/stores/counts/k1%2Fk2", TOKEN, NULL,
               "has no such key");

        /* The app went on: new records are counted. */
        produce_input(in, 100, 50);
        w.processed = 150;
        if (!kt_wait_until(metrics_settled, &w, 200, 60000))
                fail_msg("metrics did not settle; last:\n%s", w.last);
        EXPECT(200, NULL, "/stores/counts/k1", TOKEN, NULL, "\"value\":3}");
        assert_int_equal(brook_app_state(app, NULL, 0), BROOK_APP_RUNNING);
        /* DEBUG: every record went through the source and the count. */
        assert_true(
                metric_sum(w.last, "brook_stream_processor_node_process_total",
                           "processor_node_id=\"KSTREAM-SOURCE-0000000000\"") ==
                150);
        assert_true(
                metric_sum(
                        w.last, "brook_stream_processor_node_process_total",
                        "processor_node_id=\"KSTREAM-AGGREGATE-0000000001\"") ==
                150);
#undef EXPECT

        brook_app_destroy(app);
        kt_rmtree(dir);
        free(w.last);
        free(app_id);
        free(in);
        free(out);
}

/* -------------------------------------------------------- window fetches */

#define HOUR_MS (3600 * 1000LL)

static void test_window_fetch(void **state)
{
        char *app_id = kt_unique("http-windows");
        char *in = kt_unique("http-w-in");
        char dir[] = "/tmp/brook-http-XXXXXX", path[256], want[512];
        struct wait_metrics w = {0};
        brook_builder_t *b = brook_builder_new();
        const brook_serde_t *str = brook_serde_string();
        brook_windows_t tw = brook_windows_tumbling(10000, 600000);
        brook_windows_t sw = brook_windows_session(5000, 600000);
        brook_stream_t *s;
        brook_app_t *app;
        rd_kafka_t *p;
        int64_t base = (kt_now_ms() / 10000) * 10000 - 60000;
        int port = kt_free_port();
        resp_t r;
        (void)state;

        assert_non_null(mkdtemp(dir));
        kt_create_topic(in, 1);
        s = brook_stream(
                b, in,
                &(brook_consumed_t){.key_serde = str,
                                    .value_serde = brook_serde_bytes()});
        if (!brook_windowed_count(
                    brook_grouped_windowed_by(
                            brook_stream_group_by_key(s, NULL), &tw),
                    &(brook_materialized_t){
                            .name = "wcounts",
                            .key_serde = str,
                            .retention_ms = HOUR_MS,
                            .version = BROOK_MATERIALIZED_VERSION}))
                fail_msg("%s", brook_builder_error(b));
        assert_non_null(brook_windowed_count(
                brook_grouped_windowed_by(brook_stream_group_by_key(s, NULL),
                                          &sw),
                &(brook_materialized_t){.name = "scounts",
                                        .key_serde = str,
                                        .retention_ms = HOUR_MS,
                                        .version =
                                                BROOK_MATERIALIZED_VERSION}));
        assert_non_null(brook_grouped_count(
                brook_stream_group_by_key(s, NULL),
                &(brook_materialized_t){.name = "counts",
                                        .key_serde = str,
                                        .value_serde = brook_serde_int64()}));
        assert_null(brook_builder_error(b));
        p = kt_producer();
        kt_produce_at(p, in, 0, "a", "x", 1, base + 1000, NULL);
        kt_produce_at(p, in, 0, "a", "x", 1, base + 2000, NULL);
        kt_produce_at(p, in, 0, "a", "x", 1, base + 15000, NULL);
        kt_producer_close(p);
        app = start_app_with(b, app_id, dir, port, NULL, NULL);
        w.port = port;
        w.processed = 3;
        w.partitions = 1;
        if (!kt_wait_until(metrics_settled, &w, 200, 120000))
                fail_msg("metrics did not settle; last:\n%s", w.last);

#define GET_IS(path_, status_, want_)                                          \
        do {                                                                   \
                r = http(port, NULL, path_, NULL, NULL);                       \
                if (r.status != (status_) || strcmp(r.body, want_))            \
                        fail_msg("GET %s: %ld %s\nwant %d %s", path_,          \
                                 r.status, r.body, status_, want_);            \
                free(r.body);                                                  \
        } while (0)

        snprintf(want, sizeof want,
                 "{\"store\":\"wcounts\",\"key\":\"a\",\"windows\":["
                 "{\"start\":%" PRId64 ",\"end\":%" PRId64 ",\"value\":2},"
                 "{\"start\":%" PRId64 ",\"end\":%" PRId64 ",\"value\":1}]}",
                 base, base + 10000, base + 10000, base + 20000);
        GET_IS("/stores/wcounts/a", 200, want);
        snprintf(want, sizeof want,
                 "{\"store\":\"wcounts\",\"key\":\"a\",\"windows\":["
                 "{\"start\":%" PRId64 ",\"end\":%" PRId64 ",\"value\":1},"
                 "{\"start\":%" PRId64 ",\"end\":%" PRId64 ",\"value\":2}]}",
                 base + 10000, base + 20000, base, base + 10000);
        GET_IS("/stores/wcounts/a?backward=true", 200, want);
        snprintf(path, sizeof path, "/stores/wcounts/a?time_from=%" PRId64,
                 base + 5000);
        snprintf(want, sizeof want,
                 "{\"store\":\"wcounts\",\"key\":\"a\",\"windows\":["
                 "{\"start\":%" PRId64 ",\"end\":%" PRId64 ",\"value\":1}]}",
                 base + 10000, base + 20000);
        GET_IS(path, 200, want);
        GET_IS("/stores/wcounts/b", 200,
               "{\"store\":\"wcounts\",\"key\":\"b\",\"windows\":[]}");
        snprintf(want, sizeof want,
                 "{\"store\":\"scounts\",\"key\":\"a\",\"sessions\":["
                 "{\"start\":%" PRId64 ",\"end\":%" PRId64 ",\"value\":2},"
                 "{\"start\":%" PRId64 ",\"end\":%" PRId64 ",\"value\":1}]}",
                 base + 1000, base + 2000, base + 15000, base + 15000);
        GET_IS("/stores/scounts/a", 200, want);
        GET_IS("/stores/counts/a", 200,
               "{\"store\":\"counts\",\"key\":\"a\",\"value\":3}");
        r = http(port, NULL, "/stores/counts/a?time_from=1", NULL, NULL);
        assert_int_equal(r.status, 400);
        assert_non_null(strstr(r.body, "not a window or session store"));
        free(r.body);
        r = http(port, NULL, "/stores/wcounts/a?time_from=-1", NULL, NULL);
        assert_int_equal(r.status, 400);
        assert_non_null(strstr(r.body, "time_from must be"));
        free(r.body);
        r = http(port, NULL, "/stores/wcounts/a?backward=maybe", NULL, NULL);
        assert_int_equal(r.status, 400);
        free(r.body);
        r = http(port, NULL, "/stores/wcounts?limit=5", NULL, NULL);
        assert_int_equal(r.status, 400);
        assert_non_null(strstr(r.body, "not a key-value store"));
        free(r.body);
#undef GET_IS

        brook_app_destroy(app);
        kt_rmtree(dir);
        free(w.last);
        free(app_id);
        free(in);
}

/* ------------------------------------------------------------------ TLS */

/* With a certificate and key, the server speaks HTTPS only: a client that
 * trusts the certificate gets /health and a key's count; plain HTTP gets
 * no answer. */
static void test_tls(void **state)
{
        char *app_id = kt_unique("http-tls");
        char *in = kt_unique("http-tls-in"), *out = kt_unique("http-tls-out");
        char dir[] = "/tmp/brook-http-XXXXXX", cert[128], key[128], url[128];
        const char *extra[] = {"http.tls.cert.file", cert, "http.tls.key.file",
                               key, NULL};
        brook_app_t *app;
        resp_t r = {0, NULL, 0};
        CURL *c;
        int port = kt_free_port(), i;
        (void)state;

        assert_non_null(mkdtemp(dir));
        snprintf(cert, sizeof cert, "%s/cert.pem", dir);
        snprintf(key, sizeof key, "%s/key.pem", dir);
        kt_self_signed_cert(cert, key);
        kt_create_topic(in, 1);
        kt_create_topic(out, 1);
        produce_input(in, 0, KEYS);
        app = start_app_with(count_int64_topology(in, out), app_id, dir, port,
                             NULL, extra);

        c = curl_easy_init();
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(c, CURLOPT_CAINFO, cert);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
        /* Until the app has counted the 50 records: k1 is 1. */
        snprintf(url, sizeof url, "https://localhost:%d/stores/counts/k1",
                 port);
        curl_easy_setopt(c, CURLOPT_URL, url);
        for (i = 0; i < 600; i++) {
                free(r.body);
                r.body = NULL;
                r.len = 0;
                r.status = 0;
                if (curl_easy_perform(c) == CURLE_OK)
                        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
                if (r.status == 200)
                        break;
                kt_sleep_ms(100);
        }
        assert_int_equal(r.status, 200);
        assert_string_equal(
                r.body, "{\"store\":\"counts\",\"key\":\"k1\",\"value\":1}");
        snprintf(url, sizeof url, "https://localhost:%d/health", port);
        curl_easy_setopt(c, CURLOPT_URL, url);
        free(r.body);
        r.body = NULL;
        r.len = 0;
        assert_int_equal(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        assert_int_equal(r.status, 200);
        free(r.body);
        curl_easy_cleanup(c);
        /* Plain HTTP to it: no HTTP answer. */
        r = http_try(port, NULL, "/health", NULL, NULL);
        assert_true(r.status == 0 || r.status == 400);
        free(r.body);

        brook_app_destroy(app);
        kt_rmtree(dir);
        free(app_id);
        free(in);
        free(out);
}

/* ------------------------------------------------------ remote queries */

#define RQ_KEYS       10000
#define RQ_INSTANCES  3
#define RQ_PARTITIONS 6

static pid_t rq_pids[RQ_INSTANCES];
static int rq_ports[RQ_INSTANCES];

/* Key i is counted 1 + i % 3 times. */
static void rq_key(char *buf, size_t size, int i)
{
        snprintf(buf, size, "key-%05d", i);
}

struct sweep {
        pthread_t tid;
        int port;
        int ok, unavailable, wrong;
        char first_wrong[512];
};

/* GETs every key on one instance over one keep-alive connection. */
static void *sweep_main(void *arg)
{
        struct sweep *sw = arg;
        CURL *c = curl_easy_init();
        resp_t r = {0, NULL, 0};
        char url[128], key[32], want[128];
        int i;

        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
        for (i = 0; i < RQ_KEYS; i++) {
                rq_key(key, sizeof key, i);
                snprintf(url, sizeof url,
                         "http://127.0.0.1:%d/stores/counts/%s", sw->port, key);
                curl_easy_setopt(c, CURLOPT_URL, url);
                free(r.body);
                r.body = NULL;
                r.len = 0;
                r.status = 0;
                if (curl_easy_perform(c) == CURLE_OK)
                        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
                snprintf(want, sizeof want,
                         "{\"store\":\"counts\",\"key\":\"%s\",\"value\":%d}",
                         key, 1 + i % 3);
                if (r.status == 200 && r.body && !strcmp(r.body, want))
                        sw->ok++;
                else if (r.status == 503)
                        sw->unavailable++;
                else {
                        if (!sw->wrong++)
                                snprintf(sw->first_wrong,
                                         sizeof sw->first_wrong,
                                         "port %d %s: %ld %s", sw->port, key,
                                         r.status, r.body ? r.body : "");
                }
        }
        free(r.body);
        curl_easy_cleanup(c);
        return NULL;
}

/* Sweeps every key on the instances of @p ports at once; fails on a wrong
 * answer; true when every answer was right (no 503). */
static bool rq_sweep(const int *ports, int n)
{
        struct sweep sw[RQ_INSTANCES];
        bool all = true;
        int k;
        memset(sw, 0, sizeof sw);
        for (k = 0; k < n; k++) {
                sw[k].port = ports[k];
                pthread_create(&sw[k].tid, NULL, sweep_main, &sw[k]);
        }
        for (k = 0; k < n; k++)
                pthread_join(sw[k].tid, NULL);
        for (k = 0; k < n; k++) {
                if (sw[k].wrong)
                        fail_msg("%d wrong answers; first: %s", sw[k].wrong,
                                 sw[k].first_wrong);
                if (sw[k].ok != RQ_KEYS)
                        all = false;
        }
        return all;
}

/* Pages through GET /stores/counts?<query>&limit=<limit> on the instance
 * at @p port until "next" is null; every entry must be a key of the test
 * with its count, none twice. Returns the keys seen (a 503, while the
 * directory catches up, is asked again). */
static int rq_scan(int port, const char *query, int limit)
{
        static unsigned char seen[RQ_KEYS];
        char path[512], *cursor = NULL;
        int n = 0, pages = 0;
        int64_t t0 = kt_now_ms();

        memset(seen, 0, sizeof seen);
        for (;;) {
                resp_t r;
                json_t *doc, *es, *next;
                size_t i;
                snprintf(path, sizeof path, "/stores/counts?limit=%d%s%s%s%s",
                         limit, *query ? "&" : "", query,
                         cursor ? "&cursor=" : "", cursor ? cursor : "");
                r = http(port, NULL, path, NULL, NULL);
                if (r.status == 503 && kt_now_ms() - t0 < 30000) {
                        free(r.body);
                        kt_sleep_ms(200);
                        continue;
                }
                if (r.status != 200)
                        fail_msg("GET %s: %ld %s", path, r.status, r.body);
                doc = json_loads(r.body, 0, NULL);
                es = json_object_get(doc, "entries");
                assert_true(json_is_array(es));
                assert_true((int)json_array_size(es) <= limit);
                for (i = 0; i < json_array_size(es); i++) {
                        json_t *e = json_array_get(es, i);
                        const char *k =
                                json_string_value(json_object_get(e, "key"));
                        int idx =
                                k && !strncmp(k, "key-", 4) ? atoi(k + 4) : -1;
                        if (idx < 0 || idx >= RQ_KEYS)
                                fail_msg("GET %s: key %s", path,
                                         k ? k : "(none)");
                        if (seen[idx]++)
                                fail_msg("GET %s: key %s twice", path, k);
                        assert_int_equal(
                                json_integer_value(json_object_get(e, "value")),
                                1 + idx % 3);
                        n++;
                }
                next = json_object_get(doc, "next");
                free(cursor);
                cursor = json_is_string(next) ? strdup(json_string_value(next))
                                              : NULL;
                json_decref(doc);
                free(r.body);
                pages++;
                assert_true(pages < RQ_KEYS);
                if (!cursor)
                        break;
        }
        return n;
}

/* Range, prefix and all-keys scans on every instance of @p ports. */
static void rq_scans(const int *ports, int cnt)
{
        int k;
        for (k = 0; k < cnt; k++) {
                assert_int_equal(rq_scan(ports[k], "", 777), RQ_KEYS);
                assert_int_equal(rq_scan(ports[k], "", 10000), RQ_KEYS);
                assert_int_equal(
                        rq_scan(ports[k], "from=key-01000&to=key-01999", 333),
                        1000);
                assert_int_equal(rq_scan(ports[k], "prefix=key-0999", 3), 10);
        }
}

struct rq_wait {
        const int *ports;
        int n;
        int64_t processed;
};

/* Until the instances processed every record, have every task between
 * them, restored and ready. */
static bool rq_settled(void *opaque)
{
        struct rq_wait *w = opaque;
        double processed = 0, tasks = 0, lag = 0;
        int k;
        for (k = 0; k < w->n; k++) {
                resp_t r = http_try(w->ports[k], NULL, "/metrics", NULL, NULL);
                resp_t rd = http_try(w->ports[k], NULL, "/ready", NULL, NULL);
                bool ready = rd.status == 200;
                free(rd.body);
                if (r.status != 200 || !ready) {
                        free(r.body);
                        return false;
                }
                processed += metric_sum(
                        r.body, "brook_stream_task_committed_offset", NULL);
                tasks += metric_count(r.body, "brook_stream_task_restoring");
                lag += metric_sum(r.body, "brook_consumer_records_lag", NULL);
                free(r.body);
        }
        return tasks == RQ_PARTITIONS && lag == 0 &&
               (w->processed < 0 || processed == (double)w->processed);
}

static void test_remote_queries(void **state)
{
        char *app_id = kt_unique("http-remote");
        char *in = kt_unique("http-rq-in"), *out = kt_unique("http-rq-out");
        char dirs[RQ_INSTANCES][64], name[16], server[64], log[512];
        struct rq_wait w;
        rd_kafka_t *p;
        int64_t total = 0, t0;
        int i, k;
        (void)state;

        kt_create_topic(in, RQ_PARTITIONS);
        kt_create_topic(out, RQ_PARTITIONS);
        for (k = 0; k < RQ_INSTANCES; k++) {
                char *argv[16];
                int n = 0;
                snprintf(dirs[k], sizeof dirs[k], "/tmp/brook-rq-XXXXXX");
                assert_non_null(mkdtemp(dirs[k]));
                rq_ports[k] = kt_free_port();
                snprintf(name, sizeof name, "i%d", k);
                snprintf(server, sizeof server,
                         "application.server=127.0.0.1:%d", rq_ports[k]);
                argv[n++] = COUNT_APP_PATH;
                argv[n++] = name;
                argv[n++] = (char *)kt_bootstrap();
                argv[n++] = app_id;
                argv[n++] = in;
                argv[n++] = out;
                argv[n++] = dirs[k];
                argv[n++] = server;
                argv[n++] = "commit.interval.ms=200";
                argv[n++] = "consumer.session.timeout.ms=6000";
                argv[n++] = "consumer.heartbeat.interval.ms=1000";
                argv[n] = NULL;
                snprintf(log, sizeof log, "%s/%s-%s", LOG_DIR, app_id, name);
                rq_pids[k] = kt_spawn(argv, log);
        }
        /* The group settles before the input comes: no rebalance while it
         * is counted. */
        w.ports = rq_ports;
        w.n = RQ_INSTANCES;
        w.processed = -1;
        assert_true(kt_wait_until(rq_settled, &w, 250, 120000));
        p = kt_producer();
        for (i = 0; i < RQ_KEYS; i++) {
                char key[32];
                rq_key(key, sizeof key, i);
                for (k = 0; k <= i % 3; k++, total++)
                        kt_produce(p, in, -1, key, "v", 1, NULL);
        }
        kt_producer_close(p);
        w.processed = total;
        assert_true(kt_wait_until(rq_settled, &w, 250, 120000));

        /* The directory catches up within seconds; then every key is
         * right on every instance. */
        t0 = kt_now_ms();
        while (!rq_sweep(rq_ports, RQ_INSTANCES))
                if (kt_now_ms() - t0 > 60000)
                        fail_msg("queries still unavailable after 60 s");
        assert_true(rq_sweep(rq_ports, RQ_INSTANCES));
        rq_scans(rq_ports, RQ_INSTANCES);

        /* One instance leaves; the others take its tasks (restoring them
         * from the changelogs) and answer for every key again. */
        kill(rq_pids[2], SIGTERM);
        assert_int_equal(kt_wait(rq_pids[2], 60000), 0);
        rq_pids[2] = 0;
        /* (Tasks that moved have no commit of their own yet.) */
        w.n = RQ_INSTANCES - 1;
        w.processed = -1;
        assert_true(kt_wait_until(rq_settled, &w, 250, 120000));
        t0 = kt_now_ms();
        while (!rq_sweep(rq_ports, RQ_INSTANCES - 1))
                if (kt_now_ms() - t0 > 60000)
                        fail_msg("queries still unavailable after 60 s");
        assert_true(rq_sweep(rq_ports, RQ_INSTANCES - 1));
        rq_scans(rq_ports, RQ_INSTANCES - 1);

        for (k = 0; k < RQ_INSTANCES - 1; k++) {
                kill(rq_pids[k], SIGTERM);
                assert_int_equal(kt_wait(rq_pids[k], 60000), 0);
                rq_pids[k] = 0;
        }
        for (k = 0; k < RQ_INSTANCES; k++)
                kt_rmtree(dirs[k]);
        free(app_id);
        free(in);
        free(out);
}

static int rq_teardown(void **state)
{
        int k;
        (void)state;
        for (k = 0; k < RQ_INSTANCES; k++)
                if (rq_pids[k] > 0) {
                        kill(rq_pids[k], SIGKILL);
                        kt_wait(rq_pids[k], 10000);
                        rq_pids[k] = 0;
                }
        return 0;
}

static void test_bad_config(void **state)
{
        static const struct {
                const char *name, *value, *want;
        } sets[] = {
                {"application.server", "localhost", "expected host:port"},
                {"application.server", "localhost:0", "expected host:port"},
                {"application.server", "localhost:70000", "expected host:port"},
                {"application.server", "a b:80", "expected host:port"},
                {"metrics.recording.level", "LOUD", "INFO"},
                {"http.max.connections", "0", "from 1 to"},
        };
        brook_conf_t *conf;
        brook_app_t *app;
        char errstr[1024], server[64];
        int port = kt_free_port(), fd;
        struct sockaddr_in sa = {.sin_family = AF_INET};
        size_t i;
        (void)state;

        for (i = 0; i < sizeof sets / sizeof *sets; i++) {
                conf = brook_conf_new();
                assert_int_equal(brook_conf_set(conf, sets[i].name,
                                                sets[i].value, errstr,
                                                sizeof errstr),
                                 BROOK_ERR_CONF_INVALID);
                if (!strstr(errstr, sets[i].want) ||
                    !strstr(errstr, sets[i].name))
                        fail_msg("%s=%s: %s", sets[i].name, sets[i].value,
                                 errstr);
                brook_conf_destroy(conf);
        }

        /* A port taken: the start fails, naming it. */
        fd = socket(AF_INET, SOCK_STREAM, 0);
        sa.sin_port = htons((uint16_t)port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        assert_int_equal(listen(fd, 1), 0);
        snprintf(server, sizeof server, "localhost:%d", port);
        for (i = 0; i < 3; i++) {
                char *in = kt_unique("http-conf-in");
                char *app_id = kt_unique("http-conf");
                const char *want[] = {"is the port taken",
                                      "http.listen.address \"nowhere\"",
                                      "only http.tls.cert.file is set"};
                conf = brook_conf_new();
                assert_int_equal(brook_conf_set(conf, "application.id", app_id,
                                                errstr, sizeof errstr),
                                 0);
                brook_conf_set(conf, "bootstrap.servers", kt_bootstrap(),
                               errstr, sizeof errstr);
                brook_conf_set(conf, "state.dir", "/tmp/brook-http-conf",
                               errstr, sizeof errstr);
                brook_conf_set(conf, "application.server", server, errstr,
                               sizeof errstr);
                if (i == 1)
                        brook_conf_set(conf, "http.listen.address", "nowhere",
                                       errstr, sizeof errstr);
                if (i == 2) {
                        brook_conf_set(conf, "application.server",
                                       "localhost:1", errstr, sizeof errstr);
                        brook_conf_set(conf, "http.tls.cert.file",
                                       "/nonexistent.pem", errstr,
                                       sizeof errstr);
                }
                kt_create_topic(in, 1);
                app = brook_app_new(count_int64_topology(in, "unused-out"),
                                    conf, errstr, sizeof errstr);
                assert_non_null(app);
                assert_int_not_equal(
                        brook_app_start(app, errstr, sizeof errstr), 0);
                if (!strstr(errstr, want[i]))
                        fail_msg("case %zu: %s", i, errstr);
                assert_int_equal(brook_app_state(app, NULL, 0),
                                 BROOK_APP_ERROR);
                brook_app_destroy(app);
                free(in);
                free(app_id);
        }
        close(fd);
        kt_rmtree("/tmp/brook-http-conf");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_metrics_and_endpoints),
                cmocka_unit_test(test_bad_requests),
                cmocka_unit_test(test_window_fetch),
                cmocka_unit_test(test_tls),
                cmocka_unit_test_teardown(test_remote_queries, rq_teardown),
                cmocka_unit_test(test_bad_config),
        };
        curl_global_init(CURL_GLOBAL_DEFAULT);
        kt_test_filter();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
