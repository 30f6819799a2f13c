/*
 * window_app: the windowed brook application the integration tests run as
 * separate processes (so they can SIGKILL it). Counts records per key of
 * INPUT in tumbling windows of 60 s with 10 s of grace (store "windows",
 * kept an hour),
 * suppresses all but the final count of each window (until the window
 * closes), and writes the finals to OUTPUT: Kafka Streams' time-windowed
 * key bytes (the key, then the window start, 8 bytes big-endian) and an
 * int64 count (8 bytes big-endian).
 *
 *   window_app NAME BOOTSTRAP APP_ID INPUT OUTPUT STATE_DIR [property=value
 * ...]
 *
 * Runs until SIGTERM; on exit prints "NAME processed=N restored=N
 * produced=N" to stdout and returns brook_app_run()'s code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <brook/brook.h>

#include "app_args.h"

int main(int argc, char **argv)
{
        const brook_serde_t *str = brook_serde_string();
        brook_suppressed_t sup = {.kind = BROOK_SUPPRESS_UNTIL_WINDOW_CLOSES,
                                  .name = "finals"};
        brook_windows_t w = brook_windows_tumbling(60000, 10000);
        char errstr[512];
        brook_conf_t *conf = brook_conf_new();
        brook_builder_t *b = brook_builder_new();
        brook_serde_t *wserde;
        brook_table_t *t;
        brook_app_t *app;
        int rc;

        if ((rc = app_args(argc, argv, conf, NULL, NULL)))
                return rc;
        wserde = brook_serde_time_windowed(str, w.size_ms, errstr,
                                           sizeof errstr);
        t = brook_table_suppress(
                brook_windowed_count(
                        brook_grouped_windowed_by(
                                brook_stream_group_by_key(
                                        brook_stream(
                                                b, argv[4],
                                                &(brook_consumed_t){
                                                        .key_serde = str,
                                                        .value_serde = str}),
                                        NULL),
                                &w),
                        /* An hour: longer than the changelog can run ahead
                         * of the committed offsets (docs/windows.md,
                         * "At-least-once"), so a restart loses no count. */
                        &(brook_materialized_t){
                                .name = "windows",
                                .retention_ms = 3600000,
                                .version = BROOK_MATERIALIZED_VERSION}),
                &sup);
        brook_stream_to(
                brook_table_to_stream(t), argv[5],
                &(brook_produced_t){.key_serde = wserde,
                                    .value_serde = brook_serde_int64()});
        if (brook_builder_error(b)) {
                fprintf(stderr, "%s\n", brook_builder_error(b));
                return 1;
        }
        if (!(app = brook_app_new(b, conf, errstr, sizeof errstr))) {
                fprintf(stderr, "%s\n", errstr);
                return 1;
        }
        rc = app_run(app, argv[1]);
        brook_serde_destroy(wserde);
        return rc;
}
