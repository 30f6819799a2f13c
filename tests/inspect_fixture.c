/*
 * Writes a known state db for tests/cli_inspect.sh:
 *
 *   inspect_fixture STATE_DIR
 *
 * creates STATE_DIR/inspect-app/rocksdb with store "counts" (string keys,
 * int64 values) in tasks 0_0 and 0_1, each with a stored changelog offset,
 * and store "other" (raw bytes, no offset) in tasks 1_10 and 1_2.
 */
#include <stdio.h>
#include <string.h>

#include "store_int.h"

typedef struct entry {
        const char *task, *store, *key;
        int64_t count;
} entry_t;

static int put_entry(brook__stateenv_t *env, const char *task,
                     const char *store, const void *key, size_t key_size,
                     const void *value, size_t value_size, int64_t offset)
{
        const brook_kvstore_supplier_t *sup = brook_kvstore_rocksdb();
        brook_kvstore_open_t info = {.store = store,
                                     .task_id = task,
                                     .app_id = "inspect-app",
                                     .internal = env};
        const brook_kvstore_ops_t *ops;
        char errstr[512];
        void *self;

        if (sup->open(&info, sup->opaque, &self, &ops, errstr, sizeof errstr)) {
                fprintf(stderr, "inspect_fixture: %s\n", errstr);
                return 1;
        }
        ops->put(self, key, key_size, value, value_size, NULL, 0);
        if (offset >= 0)
                ops->flush(self, offset, NULL, 0);
        ops->close(self);
        return 0;
}

int main(int argc, char **argv)
{
        static const entry_t counts[] = {
                {"0_0", "counts", "apple", 3},
                {"0_0", "counts", "banana", 12},
                {"0_0", "counts", "cherry", -1},
                {"0_1", "counts", "date", 9000000000},
                {"0_1", "counts", "elderberry", 0},
        };
        brook__statedb_t *db;
        brook__stateenv_t env;
        char dir[4096], errstr[512];
        brook_buf_t *k, *v;
        size_t i;
        int rc = 0;

        if (argc != 2) {
                fprintf(stderr, "usage: inspect_fixture STATE_DIR\n");
                return 2;
        }
        snprintf(dir, sizeof dir, "%s/inspect-app/rocksdb", argv[1]);
        if (brook__statedb_open(dir, 16 << 20, &db, errstr, sizeof errstr)) {
                fprintf(stderr, "inspect_fixture: %s\n", errstr);
                return 1;
        }
        env.db = db;
        env.batch = brook__statebatch_new(db);
        k = brook_buf_new();
        v = brook_buf_new();
        for (i = 0; i < sizeof counts / sizeof *counts && !rc; i++) {
                brook_buf_clear(k);
                brook_buf_clear(v);
                brook_serde_serialize(brook_serde_string(), counts[i].key, k,
                                      NULL, 0);
                brook_serde_serialize(brook_serde_int64(), &counts[i].count, v,
                                      NULL, 0);
                rc = put_entry(&env, counts[i].task, counts[i].store,
                               brook_buf_data(k), brook_buf_len(k),
                               brook_buf_data(v), brook_buf_len(v),
                               !strcmp(counts[i].task, "0_0") ? 12345 : 678);
        }
        if (!rc)
                rc = put_entry(&env, "1_10", "other", "k\x01", 2,
                               "tab\there\\\xff", 10, -1);
        if (!rc)
                rc = put_entry(&env, "1_2", "other", "k2", 2, "", 0, -1);
        if (!rc && brook__statebatch_write(env.batch, errstr, sizeof errstr)) {
                fprintf(stderr, "inspect_fixture: %s\n", errstr);
                rc = 1;
        }
        brook_buf_destroy(k);
        brook_buf_destroy(v);
        brook__statebatch_destroy(env.batch);
        brook__statedb_close(db);
        return rc;
}
