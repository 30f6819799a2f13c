/*
 * ssj_app: a stream-stream inner join, run as a process that a test
 * SIGKILLs and starts again (tests/test_integration_join.c):
 *
 *   ssj_app NAME BOOTSTRAP APP_ID INPUT OUTPUT STATE_DIR ssj.other=TOPIC \
 *       [property=value ...]
 *
 * INPUT joined with TOPIC (string keys and values) within 100 ms before or
 * after, no grace; the output value is "<left>+<right>". Runs until
 * SIGTERM; on exit prints "NAME processed=N restored=N produced=N" and
 * returns brook_app_run()'s code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <brook/brook.h>

#include "app_args.h"

static bool own_arg(const char *name, const char *value, void *opaque)
{
        if (strcmp(name, "ssj.other"))
                return false;
        *(const char **)opaque = value;
        return true;
}

static void *plus(const brook_record_t *rec, void *left, void *right,
                  void *opaque)
{
        size_t n = strlen(left) + strlen(right) + 2;
        char *out = brook_record_alloc(rec, n);
        (void)opaque;
        snprintf(out, n, "%s+%s", (char *)left, (char *)right);
        return out;
}

int main(int argc, char **argv)
{
        brook_conf_t *conf = brook_conf_new();
        brook_builder_t *b = brook_builder_new();
        brook_join_windows_t w = brook_join_windows(100, 0);
        const char *other = NULL;
        brook_app_t *app;
        char errstr[512];
        int rc;

        if ((rc = app_args(argc, argv, conf, own_arg, &other)))
                return rc;
        if (!other) {
                fprintf(stderr, "%s: ssj.other is required\n", argv[0]);
                return 2;
        }
        if ((rc = app_string_serdes(conf)))
                return rc;
        brook_stream_to(brook_stream_join(brook_stream(b, argv[4], NULL),
                                          brook_stream(b, other, NULL), plus,
                                          NULL, &w, NULL),
                        argv[5], NULL);
        if (!(app = brook_app_new(b, conf, errstr, sizeof errstr))) {
                fprintf(stderr, "%s\n", errstr);
                return 1;
        }
        return app_run(app, argv[1]);
}
