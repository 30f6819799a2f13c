/*
 * vitals-alerts: reads vital-sign readings (JSON, keyed by patient id) from
 * topic "vitals" and writes a tachycardia alert to "vitals-alerts" for
 * every reading above 120 beats per minute.
 *
 *   vitals_alerts BOOTSTRAP [property=value ...]
 *
 * Runs until SIGINT or SIGTERM.
 */
#include <stdio.h>
#include <string.h>

#include "topologies.h"

int main(int argc, char **argv)
{
        char errstr[512];
        brook_conf_t *conf;
        brook_builder_t *b;
        brook_app_t *app;
        int i;

        if (argc < 2) {
                fprintf(stderr, "usage: %s BOOTSTRAP [property=value ...]\n",
                        argv[0]);
                return 2;
        }
        conf = brook_conf_new();
        if (brook_conf_set(conf, "application.id", "vitals-alerts", errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "bootstrap.servers", argv[1], errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "commit.interval.ms", "1000", errstr,
                           sizeof errstr) ||
            /* One bad reading must not stop the alerts. */
            brook_conf_set(conf, "default.deserialization.exception.handler",
                           "dead_letter", errstr, sizeof errstr)) {
                fprintf(stderr, "%s\n", errstr);
                return 1;
        }
        for (i = 2; i < argc; i++) {
                char *eq = strchr(argv[i], '=');
                if (!eq) {
                        fprintf(stderr, "expected property=value, got \"%s\"\n",
                                argv[i]);
                        return 2;
                }
                *eq = '\0';
                if (brook_conf_set(conf, argv[i], eq + 1, errstr,
                                   sizeof errstr)) {
                        fprintf(stderr, "%s\n", errstr);
                        return 1;
                }
        }

        b = brook_builder_new();
        brook_example_find("vitals-alerts")->build(b);
        app = brook_app_new(b, conf, errstr, sizeof errstr);
        if (!app) {
                fprintf(stderr, "%s\n", errstr);
                brook_builder_destroy(b);
                brook_conf_destroy(conf);
                return 1;
        }
        fprintf(stderr, "vitals-alerts: reading \"vitals\", writing "
                        "\"vitals-alerts\"; Ctrl-C stops\n");
        i = brook_app_run(app);
        brook_app_destroy(app);
        return i;
}
