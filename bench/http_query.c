/*
 * brook-bench-http-query — the query-latency half of bench/run-http: key
 * lookups against brook's HTTP server at a fixed rate, and their latency.
 *
 *   brook-bench-http-query --url URL --keys K [--key-format key-%05d]
 *                          [--rate 1000] [--seconds 30] [--skip 5]
 *                          [--connections 4] [--token T]
 *
 * Sends GET URL<key> for keys drawn at random from the K keys of
 * --key-format, --rate requests a second in all over --connections
 * keep-alive connections (a thread each, paced on a shared schedule:
 * request i is due at start + i / rate), for --seconds. Latency is from
 * when a request was due to when its answer was read, so a server that
 * falls behind shows as latency, not as a lower rate (no coordinated
 * omission). The first --skip seconds are left out. 200 and 404 (a key
 * not counted yet) are answers; anything else, or no answer, is an error.
 * An answer with the header X-Brook-Served-By was forwarded to the
 * instance that hosts the key; the others were answered locally.
 *
 * Prints
 *   RESULT requests=<n> errors=<n> p50_ms=<x> p99_ms=<x> p999_ms=<x>
 *          max_ms=<x> rate=<achieved requests/s>
 *   LOCAL requests=<n> p50_ms=<x> p99_ms=<x> p999_ms=<x> max_ms=<x>
 *   FORWARDED requests=<n> p50_ms=<x> p99_ms=<x> p999_ms=<x> max_ms=<x>
 * and exits 1 if any request failed.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *url = NULL, *key_format = "key-%05d", *token = NULL;
static int keys = 0, rate = 1000, seconds = 30, skip = 5, connections = 4;
static int64_t t_start;
static atomic_llong next_req;
static atomic_llong errors;
static int64_t total_reqs;

/* Latencies (ns) of the counted requests, per thread, merged at the end. */
typedef struct lats {
        int64_t *v;
        size_t n, cap;
} lats_t;

typedef struct worker {
        pthread_t tid;
        unsigned seed;
        lats_t all, local, fwd;
        bool forwarded; /**< The current answer's. */
        char first_error[256];
} worker_t;

static void lats_add(lats_t *l, int64_t v)
{
        if (l->n == l->cap) {
                l->cap = l->cap ? 2 * l->cap : 4096;
                l->v = realloc(l->v, l->cap * sizeof *l->v);
        }
        l->v[l->n++] = v;
}

static size_t on_header(char *p, size_t sz, size_t n, void *opaque)
{
        worker_t *w = opaque;
        if (sz * n >= 18 && !strncasecmp(p, "X-Brook-Served-By:", 18))
                w->forwarded = true;
        return sz * n;
}

static int64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static size_t discard(char *p, size_t sz, size_t n, void *opaque)
{
        (void)p;
        (void)opaque;
        return sz * n;
}

static void *worker_main(void *arg)
{
        worker_t *w = arg;
        CURL *c = curl_easy_init();
        struct curl_slist *hdrs = NULL;
        char full[1024], key[128], auth[512];

        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, w);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
        if (token) {
                snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
                hdrs = curl_slist_append(hdrs, auth);
                curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        }
        for (;;) {
                int64_t i = atomic_fetch_add(&next_req, 1), due, now, done;
                long status = 0;
                CURLcode rc;
                if (i >= total_reqs)
                        break;
                due = t_start + i * (1000000000 / rate);
                while ((now = now_ns()) < due) {
                        int64_t left = due - now;
                        struct timespec ts = {0, left > 200000 ? left - 100000
                                                               : 0};
                        if (ts.tv_nsec)
                                nanosleep(&ts, NULL);
                }
                snprintf(key, sizeof key, key_format,
                         (int)(rand_r(&w->seed) % (unsigned)keys));
                snprintf(full, sizeof full, "%s%s", url, key);
                curl_easy_setopt(c, CURLOPT_URL, full);
                w->forwarded = false;
                rc = curl_easy_perform(c);
                done = now_ns();
                if (rc == CURLE_OK)
                        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
                if (rc != CURLE_OK || (status != 200 && status != 404)) {
                        atomic_fetch_add(&errors, 1);
                        if (!w->first_error[0])
                                snprintf(w->first_error, sizeof w->first_error,
                                         "%.160s: %s %ld", full,
                                         curl_easy_strerror(rc), status);
                        continue;
                }
                if (due - t_start < (int64_t)skip * 1000000000)
                        continue;
                lats_add(&w->all, done - due);
                lats_add(w->forwarded ? &w->fwd : &w->local, done - due);
        }
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(c);
        return NULL;
}

static int cmp64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return x < y ? -1 : x > y;
}

static double pct(const int64_t *v, size_t n, double p)
{
        size_t i;
        if (!n)
                return 0;
        i = (size_t)(p * (double)(n - 1) + 0.5);
        return (double)v[i] / 1e6;
}

/* Prints the percentiles of one class of answers (0: all, 1: local, 2:
 * forwarded) of every worker. */
static void report(const char *what, worker_t *ws, int cnt, int which,
                   int64_t t_end)
{
        int64_t *all;
        size_t n = 0, i;
        int k;
        for (k = 0; k < cnt; k++)
                n += (which == 0   ? ws[k].all
                      : which == 1 ? ws[k].local
                                   : ws[k].fwd)
                             .n;
        all = malloc((n ? n : 1) * sizeof *all);
        for (k = 0, n = 0; k < cnt; k++) {
                const lats_t *l = which == 0   ? &ws[k].all
                                  : which == 1 ? &ws[k].local
                                               : &ws[k].fwd;
                for (i = 0; i < l->n; i++)
                        all[n++] = l->v[i];
        }
        qsort(all, n, sizeof *all, cmp64);
        printf("%s requests=%zu", what, n);
        if (which == 0)
                printf(" errors=%lld", (long long)atomic_load(&errors));
        printf(" p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f",
               pct(all, n, 0.50), pct(all, n, 0.99), pct(all, n, 0.999),
               n ? (double)all[n - 1] / 1e6 : 0.0);
        if (which == 0)
                printf(" rate=%.0f",
                       (double)total_reqs / ((double)(t_end - t_start) / 1e9));
        printf("\n");
        free(all);
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
                {"url", required_argument, NULL, 'u'},
                {"keys", required_argument, NULL, 'k'},
                {"key-format", required_argument, NULL, 'f'},
                {"rate", required_argument, NULL, 'r'},
                {"seconds", required_argument, NULL, 's'},
                {"skip", required_argument, NULL, 'S'},
                {"connections", required_argument, NULL, 'c'},
                {"token", required_argument, NULL, 't'},
                {NULL, 0, NULL, 0},
        };
        worker_t *ws;
        int64_t t_end;
        int opt, k;

        while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (opt) {
                case 'u':
                        url = optarg;
                        break;
                case 'k':
                        keys = atoi(optarg);
                        break;
                case 'f':
                        key_format = optarg;
                        break;
                case 'r':
                        rate = atoi(optarg);
                        break;
                case 's':
                        seconds = atoi(optarg);
                        break;
                case 'S':
                        skip = atoi(optarg);
                        break;
                case 'c':
                        connections = atoi(optarg);
                        break;
                case 't':
                        token = optarg;
                        break;
                default:
                        fprintf(stderr, "see the comment atop "
                                        "bench/http_query.c for usage\n");
                        return 2;
                }
        }
        if (!url || keys < 1 || rate < 1 || rate > 1000000 || seconds < 1 ||
            skip < 0 || skip >= seconds || connections < 1 ||
            connections > 256) {
                fprintf(stderr, "brook-bench-http-query: --url and --keys "
                                "are required; --rate 1..1000000, --seconds "
                                "> --skip >= 0, --connections 1..256\n");
                return 2;
        }
        curl_global_init(CURL_GLOBAL_DEFAULT);
        total_reqs = (int64_t)rate * seconds;
        ws = calloc((size_t)connections, sizeof *ws);
        t_start = now_ns() + 100000000;
        for (k = 0; k < connections; k++) {
                ws[k].seed = (unsigned)(k * 7919 + 17);
                pthread_create(&ws[k].tid, NULL, worker_main, &ws[k]);
        }
        for (k = 0; k < connections; k++)
                pthread_join(ws[k].tid, NULL);
        t_end = now_ns();
        for (k = 0; k < connections; k++)
                if (ws[k].first_error[0])
                        fprintf(stderr, "first error: %s\n", ws[k].first_error);
        report("RESULT", ws, connections, 0, t_end);
        report("LOCAL", ws, connections, 1, t_end);
        report("FORWARDED", ws, connections, 2, t_end);
        for (k = 0; k < connections; k++) {
                free(ws[k].all.v);
                free(ws[k].local.v);
                free(ws[k].fwd.v);
        }
        free(ws);
        curl_global_cleanup();
        return atomic_load(&errors) ? 1 : 0;
}
