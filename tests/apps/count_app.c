/*
 * count_app: the stateful brook application the integration tests run as
 * separate processes (so they can SIGKILL it). Counts records per key of
 * INPUT into the store "counts" and writes every update of the count table
 * to OUTPUT (string key, int64 value).
 *
 *   count_app NAME BOOTSTRAP APP_ID INPUT OUTPUT STATE_DIR [property=value ...]
 *
 * The property "store=in-memory" picks the in-memory store instead of
 * RocksDB; "store=slow:N" a RocksDB store whose puts take N microseconds
 * each (tests/apps/slow_store.h), for slow restorations. Runs until SIGTERM; on
 * exit prints "NAME processed=N restored=N produced=N" to stdout and returns
 * brook_app_run()'s code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <brook/brook.h>

#include "count_topology.h"
#include "slow_store.h"

int main(int argc, char **argv)
{
        char errstr[512];
        brook_conf_t *conf = brook_conf_new();
        brook_builder_t *b = brook_builder_new();
        const brook_kvstore_supplier_t *sup = NULL;
        brook_app_t *app;
        brook_app_stats_t st;
        brook_kvstore_supplier_t slow;
        int i, rc;

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
                if (!strcmp(argv[i], "store")) {
                        if (!strcmp(eq + 1, "in-memory"))
                                sup = brook_kvstore_in_memory();
                        else if (!strncmp(eq + 1, "slow:", 5))
                                sup = slow_store_supplier(
                                        &slow, (unsigned)atoi(eq + 6));
                        continue;
                }
                if (brook_conf_set(conf, argv[i], eq + 1, errstr,
                                   sizeof errstr)) {
                        fprintf(stderr, "%s\n", errstr);
                        return 1;
                }
        }

        count_topology_add(b, argv[4], argv[5], "counts", sup);

        if (!(app = brook_app_new(b, conf, errstr, sizeof errstr))) {
                fprintf(stderr, "%s\n", errstr);
                return 1;
        }
        rc = brook_app_run(app);
        brook_app_stats(app, &st);
        printf("%s processed=%lld restored=%lld produced=%lld\n", argv[1],
               (long long)st.records_processed, (long long)st.records_restored,
               (long long)st.records_produced);
        fflush(stdout);
        brook_app_destroy(app);
        return rc;
}
