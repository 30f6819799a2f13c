/*
 * json_pipe: the brook application the integration tests run as separate
 * processes. Reads JSON records, keeps those whose "amount" is not a
 * multiple of 3, adds "doubled" (2 * amount) and "by" (this instance's
 * name), and writes them on.
 *
 *   json_pipe NAME BOOTSTRAP APP_ID INPUT OUTPUT [property=value ...]
 *
 * Runs until SIGTERM; on exit prints "NAME processed=N produced=N
 * dead_lettered=N" to stdout and returns brook_app_run()'s code.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include <brook/brook.h>

static bool keep(const brook_record_t *rec, void *opaque)
{
        json_t *amount = json_object_get(brook_record_value(rec), "amount");
        return json_is_integer(amount) && json_integer_value(amount) % 3 != 0;
}

static void *enrich(const brook_record_t *rec, void *opaque)
{
        json_t *in = brook_record_value(rec);
        json_t *out = json_deep_copy(in);
        json_object_set_new(out, "doubled",
                            json_integer(2 * json_integer_value(json_object_get(
                                                     in, "amount"))));
        json_object_set_new(out, "by", json_string(opaque));
        return brook_json_own(brook_record_arena(rec), out);
}

int main(int argc, char **argv)
{
        char errstr[512];
        brook_conf_t *conf = brook_conf_new();
        brook_builder_t *b = brook_builder_new();
        brook_app_t *app;
        brook_app_stats_t st;
        int i, rc;

        if (argc < 6) {
                fprintf(stderr,
                        "usage: %s NAME BOOTSTRAP APP_ID INPUT OUTPUT "
                        "[property=value ...]\n",
                        argv[0]);
                return 2;
        }
        if (brook_conf_set(conf, "bootstrap.servers", argv[2], errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "application.id", argv[3], errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "commit.interval.ms", "500", errstr,
                           sizeof errstr)) {
                fprintf(stderr, "%s\n", errstr);
                return 1;
        }
        for (i = 6; i < argc; i++) {
                char *eq = strchr(argv[i], '=');
                if (!eq)
                        return 2;
                *eq = '\0';
                if (brook_conf_set(conf, argv[i], eq + 1, errstr,
                                   sizeof errstr)) {
                        fprintf(stderr, "%s\n", errstr);
                        return 1;
                }
        }

        brook_stream_to(
                brook_stream_map_values(
                        brook_stream_filter(
                                brook_stream(
                                        b, argv[4],
                                        &(brook_consumed_t){
                                                .key_serde =
                                                        brook_serde_string(),
                                                .value_serde =
                                                        brook_serde_json()}),
                                keep, NULL),
                        enrich, argv[1]),
                argv[5],
                &(brook_produced_t){.key_serde = brook_serde_string(),
                                    .value_serde = brook_serde_json()});

        if (!(app = brook_app_new(b, conf, errstr, sizeof errstr))) {
                fprintf(stderr, "%s\n", errstr);
                return 1;
        }
        rc = brook_app_run(app);
        brook_app_stats(app, &st);
        printf("%s processed=%lld produced=%lld dead_lettered=%lld\n", argv[1],
               (long long)st.records_processed, (long long)st.records_produced,
               (long long)st.records_dead_lettered);
        fflush(stdout);
        brook_app_destroy(app);
        return rc;
}
