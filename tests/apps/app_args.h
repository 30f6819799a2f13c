/*
 * The command line the integration tests' apps share:
 *
 *   APP NAME BOOTSTRAP APP_ID INPUT OUTPUT STATE_DIR [property=value ...]
 *
 * and their exit line "NAME processed=N restored=N produced=N".
 */
#ifndef BROOK_TEST_APP_ARGS_H
#define BROOK_TEST_APP_ARGS_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <brook/brook.h>

/**
 * Fills @p conf from argv (commit.interval.ms 500 unless a property says
 * otherwise). A property @p own(name, value, opaque) takes (returns true
 * for) is the app's own; the others are brook properties. Returns 0, or
 * the exit code after printing why: 2 for a bad command line, 1 for a
 * property brook refuses.
 */
static inline int app_args(int argc, char **argv, brook_conf_t *conf,
                           bool (*own)(const char *name, const char *value,
                                       void *opaque),
                           void *opaque)
{
        char errstr[512];
        int i;

        if (argc < 7) {
                fprintf(stderr,
                        "usage: %s NAME BOOTSTRAP APP_ID INPUT OUTPUT "
                        "STATE_DIR [property=value ...]\n",
                        argv[0]);
                return 2;
        }
        if (brook_conf_set(conf, "bootstrap.servers", argv[2], errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "application.id", argv[3], errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "state.dir", argv[6], errstr, sizeof errstr) ||
            brook_conf_set(conf, "commit.interval.ms", "500", errstr,
                           sizeof errstr)) {
                fprintf(stderr, "%s\n", errstr);
                return 1;
        }
        for (i = 7; i < argc; i++) {
                char *eq = strchr(argv[i], '=');
                if (!eq)
                        return 2;
                *eq = '\0';
                if (own && own(argv[i], eq + 1, opaque))
                        continue;
                if (brook_conf_set(conf, argv[i], eq + 1, errstr,
                                   sizeof errstr)) {
                        fprintf(stderr, "%s\n", errstr);
                        return 1;
                }
        }
        return 0;
}

/** Sets string keys and values as the defaults; 0, or 1 after printing
 *  why. */
static inline int app_string_serdes(brook_conf_t *conf)
{
        char errstr[512];

        if (brook_conf_set(conf, "default.key.serde", "string", errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "default.value.serde", "string", errstr,
                           sizeof errstr)) {
                fprintf(stderr, "%s\n", errstr);
                return 1;
        }
        return 0;
}

/** Runs @p app to its end and prints the exit line; returns
 *  brook_app_run()'s code. Destroys @p app. */
static inline int app_run(brook_app_t *app, const char *name)
{
        brook_app_stats_t st;
        int rc = brook_app_run(app);
        brook_app_stats(app, &st);
        printf("%s processed=%lld restored=%lld produced=%lld\n", name,
               (long long)st.records_processed, (long long)st.records_restored,
               (long long)st.records_produced);
        fflush(stdout);
        brook_app_destroy(app);
        return rc;
}

#endif
