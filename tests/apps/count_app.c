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

#include "app_args.h"
#include "count_topology.h"
#include "slow_store.h"

/* The app's own property: "store=in-memory" or "store=slow:N". */
struct store_choice {
        const brook_kvstore_supplier_t *sup;
        brook_kvstore_supplier_t slow;
};

static bool store_arg(const char *name, const char *value, void *opaque)
{
        struct store_choice *c = opaque;
        if (strcmp(name, "store"))
                return false;
        if (!strcmp(value, "in-memory"))
                c->sup = brook_kvstore_in_memory();
        else if (!strncmp(value, "slow:", 5))
                c->sup = slow_store_supplier(&c->slow,
                                             (unsigned)atoi(value + 5));
        return true;
}

int main(int argc, char **argv)
{
        char errstr[512];
        brook_conf_t *conf = brook_conf_new();
        brook_builder_t *b = brook_builder_new();
        struct store_choice store = {0};
        brook_app_t *app;
        int rc;

        if ((rc = app_args(argc, argv, conf, store_arg, &store)))
                return rc;
        count_topology_add(b, argv[4], argv[5], "counts", store.sup);

        if (!(app = brook_app_new(b, conf, errstr, sizeof errstr))) {
                fprintf(stderr, "%s\n", errstr);
                return 1;
        }
        return app_run(app, argv[1]);
}
