/*
 * brook — small helpers: allocation that aborts on exhaustion, error
 * strings, clocks, logging, pointer vectors.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "brook_int.h"

static void brook__oom(size_t size)
{
        /* A stream processor that cannot allocate cannot make progress or
         * keep its guarantees; stopping loudly is the only safe answer. */
        fprintf(stderr, "brook: out of memory allocating %zu bytes\n", size);
        abort();
}

void *brook__xmalloc(size_t size)
{
        void *p = malloc(size ? size : 1);
        if (!p)
                brook__oom(size);
        return p;
}

void *brook__xcalloc(size_t n, size_t size)
{
        void *p = calloc(n ? n : 1, size ? size : 1);
        if (!p)
                brook__oom(n * size);
        return p;
}

void *brook__xrealloc(void *ptr, size_t size)
{
        void *p = realloc(ptr, size ? size : 1);
        if (!p)
                brook__oom(size);
        return p;
}

char *brook__changelog_topic(const char *app_id, const char *store)
{
        size_t n = strlen(app_id) + strlen(store) + sizeof "--changelog";
        char *topic = brook__xmalloc(n);
        snprintf(topic, n, "%s-%s-changelog", app_id, store);
        return topic;
}

char *brook__xstrdup(const char *s)
{
        size_t n = strlen(s) + 1;
        return memcpy(brook__xmalloc(n), s, n);
}

void brook__seterr(char *errstr, size_t errstr_size, const char *fmt, ...)
{
        va_list ap;
        if (!errstr || !errstr_size)
                return;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
}

void brook__deadline(struct timespec *ts, clockid_t clk, int64_t ms)
{
        clock_gettime(clk, ts);
        ts->tv_sec += (time_t)(ms / 1000);
        ts->tv_nsec += (long)(ms % 1000) * 1000000;
        if (ts->tv_nsec >= 1000000000) {
                ts->tv_sec++;
                ts->tv_nsec -= 1000000000;
        }
}

int64_t brook__now_mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t brook__now_mono_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t brook__now_wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void brook__log(const char *level, const char *fmt, ...)
{
        char line[2048];
        va_list ap;
        struct timespec ts;
        struct tm tm;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        va_start(ap, fmt);
        vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
        /* One fprintf per line so lines of concurrent threads do not mix. */
        fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ brook %s %s\n",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level, line);
}

void brook__ptrvec_push(brook__ptrvec_t *pv, void *p)
{
        if (pv->cnt == pv->cap) {
                pv->cap = pv->cap ? pv->cap * 2 : 8;
                pv->v = brook__xrealloc(pv->v, pv->cap * sizeof *pv->v);
        }
        pv->v[pv->cnt++] = p;
}

void brook__ptrvec_free(brook__ptrvec_t *pv)
{
        free(pv->v);
        pv->v = NULL;
        pv->cnt = pv->cap = 0;
}

void brook_free(void *ptr)
{
        free(ptr);
}

bool brook__version_ok(int version, int current, const char *strct,
                       char *errstr, size_t errstr_size)
{
        if (version >= 0 && version <= current)
                return true;
        brook__seterr(errstr, errstr_size,
                      "%s.version is %d, but this brook (%s) reads versions 1 "
                      "to %d of it (0 means 1): build against the headers of "
                      "the brook you run with",
                      strct, version, BROOK_VERSION_STR, current);
        return false;
}

int brook_version(void)
{
        return BROOK_VERSION;
}

const char *brook_version_str(void)
{
        return BROOK_VERSION_STR;
}

bool brook__hostport_parse(const char *s, char *host, size_t host_size,
                           int *portp)
{
        const char *colon, *h = s, *he;
        long port = 0;
        const char *p;

        if (!s)
                return false;
        if (*s == '[') {
                h = s + 1;
                if (!(he = strchr(h, ']')) || he[1] != ':')
                        return false;
                colon = he + 1;
        } else {
                if (!(colon = strrchr(s, ':')) ||
                    memchr(s, ':', (size_t)(colon - s)))
                        return false;
                he = colon;
        }
        if (he == h)
                return false;
        for (p = h; p < he; p++)
                if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '-' ||
                      *p == '_' || (*s == '[' && *p == ':')))
                        return false;
        if (!colon[1])
                return false;
        for (p = colon + 1; *p; p++) {
                if (!isdigit((unsigned char)*p) || port > 65535)
                        return false;
                port = port * 10 + (*p - '0');
        }
        if (port < 1 || port > 65535)
                return false;
        if (host) {
                size_t n = (size_t)(he - h);
                if (n >= host_size)
                        return false;
                memcpy(host, h, n);
                host[n] = '\0';
        }
        if (portp)
                *portp = (int)port;
        return true;
}
