/*
 * brook inspect — the entries of one store, task by task, straight from the
 * state db (statestore/rocksdb.c), opened read-only.
 *
 *   brook inspect --state-dir DIR --store NAME [--application-id ID]
 *                 [--key-serde S] [--value-serde S] [--limit N]
 *
 * Output, for each task that has the store (by sub-topology, then
 * partition):
 *
 *   task 0_1  changelog offset 12345  entries 2500
 *   KEY<TAB>VALUE
 *   ...
 *   total entries N in M tasks
 *
 * Keys and values are decoded with the serdes if given, else shown as bytes:
 * printable ASCII as is, other bytes (and backslash) as \xNN escapes.
 * Strings are shown the same way except that bytes from 0x80 up (UTF-8)
 * pass as they are.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "inspect.h"
#include "store_int.h"

/* Prints the usage to @p fp; returns 2, the exit code of a bad command
 * line. */
static int usage(FILE *fp)
{
        fprintf(fp, "usage: brook inspect --state-dir DIR --store NAME "
                    "[--application-id ID]\n"
                    "                     [--key-serde S] [--value-serde S] "
                    "[--limit N]\n"
                    "  DIR is the application's state.dir; its state db is "
                    "DIR/<application.id>/rocksdb.\n"
                    "  Serdes: bytes (default), string, int32, int64, double, "
                    "json.\n");
        return 2;
}

static bool is_dir(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int strp_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The application ids under @p state_dir with a state db, sorted. */
static brook__ptrvec_t find_apps(const char *state_dir, char *errstr,
                                 size_t errstr_size, bool *okp)
{
        brook__ptrvec_t apps = {0};
        struct dirent *de;
        char path[4096];
        DIR *d;

        *okp = false;
        if (!(d = opendir(state_dir))) {
                brook__seterr(errstr, errstr_size,
                              "cannot read state directory \"%s\": %s",
                              state_dir, strerror(errno));
                return apps;
        }
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof path, "%s/%s/rocksdb", state_dir,
                         de->d_name);
                if (is_dir(path))
                        brook__ptrvec_push(&apps, brook__xstrdup(de->d_name));
        }
        closedir(d);
        if (apps.cnt)
                qsort(apps.v, apps.cnt, sizeof *apps.v, strp_cmp);
        *okp = true;
        return apps;
}

static void free_strs(brook__ptrvec_t *pv)
{
        size_t i;
        for (i = 0; i < pv->cnt; i++)
                free(pv->v[i]);
        brook__ptrvec_free(pv);
}

/* Whether @p s is a task id, "<n>_<n>" with decimal numbers that fit an
 * int, and nothing else; the numbers go to *@p subp and *@p partp. Not
 * sscanf: its "%d" skips spaces, takes signs, ignores what follows and
 * has undefined behaviour when the number does not fit. */
static bool task_numbers(const char *s, int *subp, int *partp)
{
        long v[2];
        int i;

        for (i = 0; i < 2; i++) {
                char *end;
                if (*s < '0' || *s > '9')
                        return false;
                errno = 0;
                v[i] = strtol(s, &end, 10);
                if (errno || v[i] > INT_MAX || *end != (i ? '\0' : '_'))
                        return false;
                s = end + 1;
        }
        *subp = (int)v[0];
        *partp = (int)v[1];
        return true;
}

/* Tasks order by sub-topology, then partition, numerically; names that are
 * not "<n>_<n>" after those, bytewise. */
static int task_cmp(const void *a, const void *b)
{
        const char *x = *(char *const *)a, *y = *(char *const *)b;
        int xs = 0, xp = 0, ys = 0, yp = 0;
        bool xn = task_numbers(x, &xs, &xp);
        bool yn = task_numbers(y, &ys, &yp);

        if (xn && yn && (xs != ys || xp != yp))
                return xs != ys ? (xs < ys ? -1 : 1) : (xp < yp ? -1 : 1);
        if (xn != yn)
                return xn ? -1 : 1;
        return strcmp(x, y);
}

/* Printable ASCII as is, every other byte (and backslash) as \xNN; with
 * @p utf8, bytes from 0x80 up pass as is too, so that text in any script
 * stays readable. Control bytes are always escaped: a tab or newline in a
 * key would break the KEY<TAB>VALUE lines, and others drive terminals. */
static void print_escaped(FILE *out, const void *data, size_t size, bool utf8)
{
        const unsigned char *p = data;
        size_t i;

        for (i = 0; i < size; i++) {
                if ((p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') ||
                    (utf8 && p[i] >= 0x80))
                        fputc(p[i], out);
                else
                        fprintf(out, "\\x%02x", p[i]);
        }
}

/* Compact JSON as jansson wrote it, which escapes every control character
 * but DEL inside strings; DEL (only ever inside a string) is written as
 * \u007f, so the output is the same JSON value with no control byte. */
static void print_json(FILE *out, const char *json, size_t len)
{
        size_t i;
        for (i = 0; i < len; i++) {
                if (json[i] == 0x7f)
                        fputs("\\u007f", out);
                else
                        fputc(json[i], out);
        }
}

/* The shortest form of @p v that reads back exactly. */
static void print_double(FILE *out, double v)
{
        char buf[64];
        int prec;

        for (prec = 1; prec < 17; prec++) {
                snprintf(buf, sizeof buf, "%.*g", prec, v);
                if (strtod(buf, NULL) == v)
                        break;
        }
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        fputs(buf, out);
}

bool brook__inspect_print_datum(FILE *out, const brook_serde_t *serde,
                                const void *data, size_t size,
                                brook_arena_t *arena, brook_buf_t *buf)
{
        char errstr[256];
        void *obj;

        if (!serde || serde == brook_serde_bytes()) {
                print_escaped(out, data, size, false);
                return true;
        }
        if (brook_serde_deserialize(serde, data, size, arena, &obj, errstr,
                                    sizeof errstr) ||
            !obj) {
                print_escaped(out, data, size, false);
                return false;
        }
        if (serde == brook_serde_string()) {
                /* The bytes, not the decoded C string, which ends at the
                 * first NUL byte. */
                print_escaped(out, data, size, true);
        } else if (serde == brook_serde_int32()) {
                fprintf(out, "%" PRId32, *(int32_t *)obj);
        } else if (serde == brook_serde_int64()) {
                fprintf(out, "%" PRId64, *(int64_t *)obj);
        } else if (serde == brook_serde_double()) {
                print_double(out, *(double *)obj);
        } else {
                /* JSON: its compact encoding. */
                brook_buf_clear(buf);
                if (brook_serde_serialize(serde, obj, buf, errstr,
                                          sizeof errstr)) {
                        print_escaped(out, data, size, false);
                        return false;
                }
                print_json(out, brook_buf_data(buf), brook_buf_len(buf));
        }
        return true;
}

typedef struct inspect {
        brook__statedb_t *db;
        const brook_serde_t *key_serde, *value_serde;
        int64_t limit; /* -1: unlimited. */
        brook_arena_t *arena;
        brook_buf_t *buf;
        uint64_t undecodable;
} inspect_t;

/* Counts the entries of an open store exactly. */
static brook_err_t count_entries(void *self, const brook_kvstore_ops_t *ops,
                                 uint64_t *cntp, char *errstr,
                                 size_t errstr_size)
{
        brook_kvbytes_iter_t *it;
        const void *k, *v;
        size_t kn, vn;
        brook_err_t err;
        uint64_t n = 0;

        if ((err = ops->range(self, NULL, 0, NULL, 0, &it, errstr,
                              errstr_size)))
                return err;
        while (!(err = it->next(it, &k, &kn, &v, &vn, errstr, errstr_size)))
                n++;
        it->destroy(it);
        *cntp = n;
        return err == BROOK_ERR_END ? BROOK_OK : err;
}

/* Prints one task's header and entries; adds its count to *@p totalp. */
static int inspect_task(inspect_t *in, const char *cf_name, const char *task,
                        uint64_t *totalp)
{
        const brook_kvstore_ops_t *ops;
        brook_kvbytes_iter_t *it;
        const void *k, *v;
        size_t kn, vn;
        char errstr[512];
        brook_err_t err = BROOK_OK;
        uint64_t cnt;
        int64_t off, shown = 0;
        void *self;

        if (brook__rocksdb_open_readonly(in->db, cf_name, &self, &ops, errstr,
                                         sizeof errstr)) {
                fprintf(stderr, "brook: %s\n", errstr);
                return 1;
        }
        if (count_entries(self, ops, &cnt, errstr, sizeof errstr)) {
                fprintf(stderr, "brook: reading task %s: %s\n", task, errstr);
                ops->close(self);
                return 1;
        }
        off = ops->stored_offset(self);
        printf("task %s  changelog offset ", task);
        if (off < 0)
                printf("none");
        else
                printf("%" PRId64, off);
        printf("  entries %" PRIu64 "\n", cnt);
        *totalp += cnt;

        if (ops->range(self, NULL, 0, NULL, 0, &it, errstr, sizeof errstr)) {
                fprintf(stderr, "brook: reading task %s: %s\n", task, errstr);
                ops->close(self);
                return 1;
        }
        while ((in->limit < 0 || shown < in->limit) &&
               !(err = it->next(it, &k, &kn, &v, &vn, errstr, sizeof errstr))) {
                brook_arena_reset(in->arena);
                if (!brook__inspect_print_datum(stdout, in->key_serde, k, kn,
                                                in->arena, in->buf))
                        in->undecodable++;
                putchar('\t');
                if (!brook__inspect_print_datum(stdout, in->value_serde, v, vn,
                                                in->arena, in->buf))
                        in->undecodable++;
                putchar('\n');
                shown++;
        }
        if (err && err != BROOK_ERR_END) {
                fprintf(stderr, "brook: reading task %s: %s\n", task, errstr);
                it->destroy(it);
                ops->close(self);
                return 1;
        }
        it->destroy(it);
        ops->close(self);
        return 0;
}

/* Lists the distinct store names of @p names ("<task>/<store>"). */
static void print_stores(FILE *out, char **names, size_t cnt)
{
        brook__ptrvec_t stores = {0};
        size_t i, j;

        for (i = 0; i < cnt; i++) {
                const char *s = strchr(names[i], '/');
                bool seen = false;
                if (!s)
                        continue;
                for (j = 0; j < stores.cnt && !seen; j++)
                        seen = !strcmp(stores.v[j], s + 1);
                if (!seen)
                        brook__ptrvec_push(&stores, brook__xstrdup(s + 1));
        }
        if (stores.cnt)
                qsort(stores.v, stores.cnt, sizeof *stores.v, strp_cmp);
        for (i = 0; i < stores.cnt; i++)
                fprintf(out, "%s%s", i ? ", " : "", (char *)stores.v[i]);
        if (!stores.cnt)
                fputs("(none)", out);
        free_strs(&stores);
}

void brook__inspect_tasks(char **names, size_t cnt, const char *store,
                          brook__ptrvec_t *tasks)
{
        size_t i, slen = strlen(store);

        for (i = 0; i < cnt; i++) {
                const char *s = strchr(names[i], '/');
                if (s && !strcmp(s + 1, store))
                        brook__ptrvec_push(tasks, brook__xstrdup(names[i]));
        }
        /* Sort by task: compare the task parts ("/<store>" cut off). */
        for (i = 0; i < tasks->cnt; i++)
                ((char *)tasks->v[i])[strlen(tasks->v[i]) - slen - 1] = '\0';
        if (tasks->cnt)
                qsort(tasks->v, tasks->cnt, sizeof *tasks->v, task_cmp);
}

static int run(inspect_t *in, const char *dbdir, const char *store)
{
        brook__ptrvec_t tasks = {0};
        char **names, errstr[1024];
        size_t cnt, i, slen = strlen(store);
        uint64_t total = 0;
        int rc = 0;

        if (brook__statedb_open_readonly(dbdir, &in->db, errstr,
                                         sizeof errstr)) {
                fprintf(stderr, "brook: %s\n", errstr);
                return 1;
        }
        names = brook__statedb_names(in->db, &cnt);
        brook__inspect_tasks(names, cnt, store, &tasks);
        if (!tasks.cnt) {
                fprintf(stderr,
                        "brook: no store \"%s\" in \"%s\"; stores: ", store,
                        dbdir);
                print_stores(stderr, names, cnt);
                fputc('\n', stderr);
                rc = 1;
                goto done;
        }
        for (i = 0; i < tasks.cnt && !rc; i++) {
                char *task = tasks.v[i];
                char *cf = brook__xmalloc(strlen(task) + slen + 2);
                brook__statedb_cf_name(cf, strlen(task) + slen + 2, task,
                                       store);
                rc = inspect_task(in, cf, task, &total);
                free(cf);
        }
        if (!rc)
                printf("total entries %" PRIu64 " in %zu tasks\n", total,
                       tasks.cnt);
        if (!rc && in->undecodable)
                fprintf(stderr,
                        "brook: %" PRIu64 " keys or values did not decode "
                        "with the serde given; they are shown as bytes\n",
                        in->undecodable);
done:
        free_strs(&tasks);
        brook__statedb_names_free(names, cnt);
        brook__statedb_close(in->db);
        return rc;
}

static const brook_serde_t *serde_arg(const char *name, const char *what)
{
        const brook_serde_t *serde = brook_serde_by_name(name, NULL, 0);
        if (!serde)
                fprintf(stderr,
                        "brook: unknown %s serde \"%s\" (bytes, string, "
                        "int32, int64, double or json)\n",
                        what, name);
        return serde;
}

int brook_cli_inspect(int argc, char **argv)
{
        static const struct option longopts[] = {
                {"state-dir", required_argument, NULL, 'd'},
                {"store", required_argument, NULL, 's'},
                {"application-id", required_argument, NULL, 'a'},
                {"key-serde", required_argument, NULL, 'k'},
                {"value-serde", required_argument, NULL, 'v'},
                {"limit", required_argument, NULL, 'l'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        const char *state_dir = NULL, *store = NULL, *app_id = NULL;
        const char *key_serde = NULL, *value_serde = NULL;
        inspect_t in = {.limit = -1};
        char dbdir[4096], errstr[512];
        brook__ptrvec_t apps = {0};
        int c, rc;

        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
                char *end;
                switch (c) {
                case 'd':
                        state_dir = optarg;
                        break;
                case 's':
                        store = optarg;
                        break;
                case 'a':
                        app_id = optarg;
                        break;
                case 'k':
                        key_serde = optarg;
                        break;
                case 'v':
                        value_serde = optarg;
                        break;
                case 'l':
                        errno = 0;
                        in.limit = strtoll(optarg, &end, 10);
                        if (errno || end == optarg || *end || in.limit < 0) {
                                fprintf(stderr,
                                        "brook: --limit takes a number >= 0, "
                                        "not \"%s\"\n",
                                        optarg);
                                return usage(stderr);
                        }
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case ':':
                        fprintf(stderr, "brook: option \"%s\" needs a value\n",
                                argv[optind - 1]);
                        return usage(stderr);
                default:
                        fprintf(stderr, "brook: unknown option \"%s\"\n",
                                argv[optind - 1]);
                        return usage(stderr);
                }
        }
        if (optind < argc) {
                fprintf(stderr, "brook: unexpected argument \"%s\"\n",
                        argv[optind]);
                return usage(stderr);
        }
        if (!state_dir || !store) {
                fprintf(stderr, "brook: --state-dir and --store are "
                                "required\n");
                return usage(stderr);
        }
        if ((key_serde && !(in.key_serde = serde_arg(key_serde, "key"))) ||
            (value_serde &&
             !(in.value_serde = serde_arg(value_serde, "value"))))
                return 1;

        if (!app_id) {
                bool ok;
                apps = find_apps(state_dir, errstr, sizeof errstr, &ok);
                if (!ok) {
                        fprintf(stderr, "brook: %s\n", errstr);
                        return 1;
                }
                if (apps.cnt != 1) {
                        size_t i;
                        if (!apps.cnt)
                                fprintf(stderr,
                                        "brook: no application state in "
                                        "\"%s\" (no "
                                        "<application.id>/rocksdb in it)",
                                        state_dir);
                        else
                                fprintf(stderr,
                                        "brook: several applications in "
                                        "\"%s\"; choose one with "
                                        "--application-id: ",
                                        state_dir);
                        for (i = 0; i < apps.cnt; i++)
                                fprintf(stderr, "%s%s", i ? ", " : "",
                                        (char *)apps.v[i]);
                        fputc('\n', stderr);
                        free_strs(&apps);
                        return 1;
                }
                app_id = apps.v[0];
        }
        snprintf(dbdir, sizeof dbdir, "%s/%s/rocksdb", state_dir, app_id);

        in.arena = brook_arena_new();
        in.buf = brook_buf_new();
        rc = run(&in, dbdir, store);
        brook_buf_destroy(in.buf);
        brook_arena_destroy(in.arena);
        free_strs(&apps);
        if (fflush(stdout) && !rc) {
                fprintf(stderr, "brook: writing the output: %s\n",
                        strerror(errno));
                rc = 1;
        }
        return rc;
}
