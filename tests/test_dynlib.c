/*
 * Unit tests of engine/dynlib.c: libcurl and libmicrohttpd are loaded only
 * when an app serves HTTP or makes a Schema Registry client, and a library
 * that cannot be loaded fails that with a message naming it and what needs
 * it. This binary is not linked with either library (tests/CMakeLists.txt),
 * and the tests run in order: first nothing is loaded, then each library
 * fails to load under a wrong name, then loads (the Schema Registry
 * client's in a child process, so that the HTTP server's load of libcurl
 * is seen in this one).
 */
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "brook/avro.h"
#include "brook_int.h"
#include "metrics_int.h"

/* Whether /proc/self/maps maps a file whose name contains @p name. */
static bool mapped(const char *name)
{
        char line[1024];
        bool found = false;
        FILE *f = fopen("/proc/self/maps", "r");

        assert_non_null(f);
        while (fgets(line, sizeof line, f))
                if (strstr(line, name))
                        found = true;
        fclose(f);
        return found;
}

/* A TCP port on 127.0.0.1 that nothing listens on just now. */
static int free_port(void)
{
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof sa;
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        close(fd);
        return ntohs(sa.sin_port);
}

/* An app (not started) with application.server @p server, or none. */
static brook_app_t *app_new(const char *server)
{
        brook_conf_t *conf = brook_conf_new();
        brook_builder_t *b = brook_builder_new();
        brook_consumed_t c = {.key_serde = brook_serde_string(),
                              .value_serde = brook_serde_string()};
        char errstr[512] = "";
        brook_app_t *app;

        assert_int_equal(brook_conf_set(conf, "application.id", "dynlib",
                                        errstr, sizeof errstr),
                         BROOK_OK);
        assert_int_equal(brook_conf_set(conf, "bootstrap.servers",
                                        "127.0.0.1:9", errstr, sizeof errstr),
                         BROOK_OK);
        if (server)
                assert_int_equal(brook_conf_set(conf, "application.server",
                                                server, errstr, sizeof errstr),
                                 BROOK_OK);
        brook_stream_to(brook_stream(b, "in", &c), "out", NULL);
        app = brook_app_new(b, conf, errstr, sizeof errstr);
        if (!app)
                fail_msg("brook_app_new: %s", errstr);
        return app;
}

static brook_conf_t *registry_conf(void)
{
        brook_conf_t *conf = brook_conf_new();
        assert_int_equal(brook_conf_set(conf, "schema.registry.url",
                                        "http://127.0.0.1:9", NULL, 0),
                         BROOK_OK);
        return conf;
}

/* An app without application.server, its HTTP start included, loads
 * neither library. */
static void test_plain_app_loads_neither(void **state)
{
        brook_app_t *app = app_new(NULL);
        brook__http_t *h = NULL;
        char errstr[256] = "";

        assert_int_equal(brook__http_start(app, &h, errstr, sizeof errstr),
                         BROOK_OK);
        assert_null(h);
        assert_false(brook__dynlib_loaded("curl"));
        assert_false(brook__dynlib_loaded("microhttpd"));
        brook_app_destroy(app);
}

/* Expects a Schema Registry client to fail, with libcurl's file named
 * @p file, with exactly @p want, and libcurl not to be loaded. */
static void expect_registry_fails(const char *file, const char *want)
{
        brook_conf_t *conf = registry_conf();
        char errstr[512] = "";

        brook__dynlib_set_file("curl", file);
        assert_null(brook_schema_registry_new(conf, errstr, sizeof errstr));
        assert_string_equal(errstr, want);
        assert_false(brook__dynlib_loaded("curl"));
        brook_conf_destroy(conf);
}

static void test_libcurl_missing(void **state)
{
        expect_registry_fails("libbrook-test-no-such-curl.so.4",
                              "the Schema Registry client needs libcurl, "
                              "which could not be loaded (Debian's package "
                              "libcurl4 has it): "
                              "libbrook-test-no-such-curl.so.4: cannot open "
                              "shared object file: No such file or "
                              "directory");
}

/* A library of that name without libcurl's functions. */
static void test_libcurl_too_old(void **state)
{
        expect_registry_fails("libm.so.6",
                              "the Schema Registry client needs libcurl, but "
                              "libm.so.6 has no curl_global_init: it is too "
                              "old");
}

/* After failures, the right name loads it: a Schema Registry client, in a
 * child process (exit status 0: every check held). */
static void test_libcurl_loads_for_registry(void **state)
{
        int status = -1;
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                brook_conf_t *conf = registry_conf();
                brook_schema_registry_t *sr, *sr2;

                brook__dynlib_set_file("curl", NULL);
                sr = brook_schema_registry_new(conf, NULL, 0);
                if (!sr || !brook__dynlib_loaded("curl") ||
                    !mapped("libcurl.so.4") ||
                    brook__dynlib_loaded("microhttpd"))
                        _exit(1);
                /* Loaded once: a second client finds it loaded. */
                if (!(sr2 = brook_schema_registry_new(conf, NULL, 0)))
                        _exit(2);
                brook_schema_registry_destroy(sr2);
                brook_schema_registry_destroy(sr);
                brook_conf_destroy(conf);
                _exit(0);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_false(brook__dynlib_loaded("curl"));
}

/* Expects an HTTP server's start to fail, with the libraries' files
 * named @p mhd_file and @p curl_file, with exactly @p want; libcurl is
 * not loaded after, libmicrohttpd only if @p mhd_loaded. */
static void expect_server_fails(const char *mhd_file, const char *curl_file,
                                const char *want, bool mhd_loaded)
{
        char server[64], errstr[512] = "";
        brook_app_t *app;
        brook__http_t *h = NULL;

        snprintf(server, sizeof server, "127.0.0.1:%d", free_port());
        app = app_new(server);
        brook__dynlib_set_file("microhttpd", mhd_file);
        brook__dynlib_set_file("curl", curl_file);
        assert_int_equal(brook__http_start(app, &h, errstr, sizeof errstr),
                         BROOK_ERR_FATAL);
        assert_null(h);
        assert_string_equal(errstr, want);
        assert_int_equal(brook__dynlib_loaded("microhttpd"), mhd_loaded);
        assert_false(brook__dynlib_loaded("curl"));
        brook_app_destroy(app);
}

static void test_libmicrohttpd_missing(void **state)
{
        expect_server_fails("libbrook-test-no-such-mhd.so", NULL,
                            "application.server (the HTTP server) needs "
                            "libmicrohttpd, which could not be loaded "
                            "(Debian's package libmicrohttpd12 has it): "
                            "libbrook-test-no-such-mhd.so: cannot open "
                            "shared object file: No such file or directory",
                            false);
}

/* The server's other library: libcurl, which forwards queries. */
static void test_libcurl_missing_for_server(void **state)
{
        expect_server_fails(NULL, "libbrook-test-no-such-curl.so.4",
                            "application.server (forwarding queries) needs "
                            "libcurl, which could not be loaded (Debian's "
                            "package libcurl4 has it): "
                            "libbrook-test-no-such-curl.so.4: cannot open "
                            "shared object file: No such file or directory",
                            true);
}

/* application.server loads libmicrohttpd (and libcurl, to forward
 * queries), and the server it starts takes connections. */
static void test_libmicrohttpd_loads_for_server(void **state)
{
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        char server[64], errstr[512] = "";
        int port = free_port(), fd;
        brook_app_t *app;
        brook__http_t *h = NULL;

        snprintf(server, sizeof server, "127.0.0.1:%d", port);
        app = app_new(server);
        brook__dynlib_set_file("curl", NULL);
        if (brook__http_start(app, &h, errstr, sizeof errstr))
                fail_msg("brook__http_start: %s", errstr);
        assert_non_null(h);
        assert_true(brook__dynlib_loaded("microhttpd"));
        assert_true(brook__dynlib_loaded("curl"));
        assert_true(mapped("libmicrohttpd.so.12"));
        assert_true(mapped("libcurl.so.4"));
        sa.sin_port = htons((uint16_t)port);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        close(fd);
        brook__http_stop(h);
        brook_app_destroy(app);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plain_app_loads_neither),
                cmocka_unit_test(test_libcurl_missing),
                cmocka_unit_test(test_libcurl_too_old),
                cmocka_unit_test(test_libcurl_loads_for_registry),
                cmocka_unit_test(test_libmicrohttpd_missing),
                cmocka_unit_test(test_libcurl_missing_for_server),
                cmocka_unit_test(test_libmicrohttpd_loads_for_server),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
