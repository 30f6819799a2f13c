/*
 * brook — libcurl and libmicrohttpd, loaded the first time they are used
 * (dynlib.h says why).
 */
#include "dynlib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "brook_int.h"

/* A function of a library: its symbol and its member in the table. */
typedef struct dynsym {
        const char *name;
        size_t off;
} dynsym_t;

/* One library: the files tried in turn and the package that has it, the
 * file to open instead (tests), its handle once loaded, and its functions'
 * table. */
typedef struct dynlib {
        const char *name;
        const char *const *sonames;
        const char *package;
        const char *file;
        void *handle;
        void *fns;
        size_t fns_size;
        const dynsym_t *syms;
        size_t sym_cnt;
} dynlib_t;

#define CURL_FN(m) offsetof(brook__curl_fns_t, m)
static const dynsym_t curl_syms[] = {
        {"curl_global_init", CURL_FN(global_init)},
        {"curl_easy_init", CURL_FN(easy_init)},
        {"curl_easy_setopt", CURL_FN(easy_setopt)},
        {"curl_easy_perform", CURL_FN(easy_perform)},
        {"curl_easy_getinfo", CURL_FN(easy_getinfo)},
        {"curl_easy_reset", CURL_FN(easy_reset)},
        {"curl_easy_cleanup", CURL_FN(easy_cleanup)},
        {"curl_easy_strerror", CURL_FN(easy_strerror)},
        {"curl_easy_escape", CURL_FN(easy_escape)},
        {"curl_free", CURL_FN(free)},
        {"curl_slist_append", CURL_FN(slist_append)},
        {"curl_slist_free_all", CURL_FN(slist_free_all)},
};
_Static_assert(sizeof curl_syms / sizeof *curl_syms ==
                       sizeof(brook__curl_fns_t) / sizeof(void (*)(void)),
               "curl_syms does not list every member of brook__curl_fns_t");

#define MHD_FN(m) offsetof(brook__mhd_fns_t, m)
static const dynsym_t mhd_syms[] = {
        {"MHD_start_daemon", MHD_FN(start_daemon)},
        {"MHD_stop_daemon", MHD_FN(stop_daemon)},
        {"MHD_is_feature_supported", MHD_FN(is_feature_supported)},
        {"MHD_create_response_from_buffer",
         MHD_FN(create_response_from_buffer)},
        {"MHD_add_response_header", MHD_FN(add_response_header)},
        {"MHD_queue_response", MHD_FN(queue_response)},
        {"MHD_destroy_response", MHD_FN(destroy_response)},
        {"MHD_lookup_connection_value", MHD_FN(lookup_connection_value)},
        {"MHD_get_connection_values", MHD_FN(get_connection_values)},
};
_Static_assert(sizeof mhd_syms / sizeof *mhd_syms ==
                       sizeof(brook__mhd_fns_t) / sizeof(void (*)(void)),
               "mhd_syms does not list every member of brook__mhd_fns_t");

brook__curl_fns_t brook__libcurl;
brook__mhd_fns_t brook__libmhd;

/* libcurl's ABI under the names Debian gives its builds: OpenSSL's
 * (libcurl4), GnuTLS's (libcurl3-gnutls), NSS's (libcurl3-nss). */
static const char *const curl_sonames[] = {
        "libcurl.so.4", "libcurl-gnutls.so.4", "libcurl-nss.so.4", NULL};
static const char *const mhd_sonames[] = {"libmicrohttpd.so.12", NULL};

static dynlib_t libs[] = {
        {"curl", curl_sonames, "libcurl4", NULL, NULL, &brook__libcurl,
         sizeof brook__libcurl, curl_syms,
         sizeof curl_syms / sizeof *curl_syms},
        {"microhttpd", mhd_sonames, "libmicrohttpd12", NULL, NULL,
         &brook__libmhd, sizeof brook__libmhd, mhd_syms,
         sizeof mhd_syms / sizeof *mhd_syms},
};

/* Guards libs[]: loading is rare (once per library and process). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static dynlib_t *dynlib_find(const char *name)
{
        size_t i;

        for (i = 0; i < sizeof libs / sizeof *libs; i++)
                if (!strcmp(libs[i].name, name))
                        return &libs[i];
        return NULL;
}

/* Loads @p l and fills its table; false with the reason in @p errstr.
 * Called with the lock held. */
static bool dynlib_load(dynlib_t *l, const char *what, char *errstr,
                        size_t errstr_size)
{
        const char *one[2] = {l->file, NULL};
        const char *const *names = l->file ? one : l->sonames;
        const char *file = NULL;
        char why[512] = "";
        void *h = NULL;
        size_t i;

        if (l->handle)
                return true;
        for (i = 0; names[i] && !h; i++) {
                file = names[i];
                /* The first name's error is the one told. */
                if (!(h = dlopen(file, RTLD_NOW | RTLD_LOCAL)) && i == 0)
                        snprintf(why, sizeof why, "%s", dlerror());
        }
        if (!h) {
                brook__seterr(errstr, errstr_size,
                              "%s needs lib%s, which could not be loaded "
                              "(Debian's package %s has it): %s",
                              what, l->name, l->package, why);
                return false;
        }
        for (i = 0; i < l->sym_cnt; i++) {
                void *sym = dlsym(h, l->syms[i].name);
                if (!sym) {
                        brook__seterr(errstr, errstr_size,
                                      "%s needs lib%s, but %s has no %s: "
                                      "it is too old",
                                      what, l->name, file, l->syms[i].name);
                        memset(l->fns, 0, l->fns_size);
                        dlclose(h);
                        return false;
                }
                /* dlsym() returns a function's address as void *, which
                 * POSIX guarantees converts back. */
                memcpy((char *)l->fns + l->syms[i].off, &sym, sizeof sym);
        }
        l->handle = h;
        return true;
}

bool brook__libcurl_load(const char *what, char *errstr, size_t errstr_size)
{
        dynlib_t *l = &libs[0];
        bool ok;

        pthread_mutex_lock(&lock);
        ok = l->handle != NULL;
        if (!ok && dynlib_load(l, what, errstr, errstr_size)) {
                /* Not thread-safe in libcurl, hence under the lock; before
                 * any other libcurl call. */
                CURLcode cc = brook__libcurl.global_init(CURL_GLOBAL_DEFAULT);
                if (cc == CURLE_OK) {
                        ok = true;
                } else {
                        brook__seterr(errstr, errstr_size,
                                      "%s needs libcurl, which failed to "
                                      "initialize: %s",
                                      what, brook__libcurl.easy_strerror(cc));
                        dlclose(l->handle);
                        l->handle = NULL;
                        memset(&brook__libcurl, 0, sizeof brook__libcurl);
                }
        }
        pthread_mutex_unlock(&lock);
        return ok;
}

bool brook__libmhd_load(const char *what, char *errstr, size_t errstr_size)
{
        bool ok;

        pthread_mutex_lock(&lock);
        ok = dynlib_load(&libs[1], what, errstr, errstr_size);
        pthread_mutex_unlock(&lock);
        return ok;
}

int brook__dynlib_loaded(const char *name)
{
        dynlib_t *l = dynlib_find(name);
        int loaded;

        pthread_mutex_lock(&lock);
        loaded = l && l->handle;
        pthread_mutex_unlock(&lock);
        return loaded;
}

void brook__dynlib_set_file(const char *name, const char *file)
{
        dynlib_t *l = dynlib_find(name);

        pthread_mutex_lock(&lock);
        if (l)
                l->file = file;
        pthread_mutex_unlock(&lock);
}
