/*
 * rx_join_app: the brook application of the joins acceptance test
 * (tests/test_integration_join_scale.c), run as separate processes that
 * the test SIGKILLs and restarts.
 *
 * Inputs (string keys and values):
 *   INPUT        prescription events, key the patient id "p<n>", value
 *                "rx<id>|ph<pharmacy>|<quantity>"
 *   rx.patients  the patients table, key "p<n>", value the patient's row
 *                (a NULL value deletes it); co-partitioned with INPUT
 *   rx.pharmacies  the pharmacies, read into a global table: key
 *                "ph<n>", value the pharmacy's row
 *   rx.byid      prescriptions by id, a table: key "rx<id>", value
 *                "p<n>|rx<id>" (the patient id first)
 *
 * The topology:
 *
 *   INPUT --left join patients (stream-table, by key)
 *         --left join pharmacies (global, by the "ph<n>" in the value)
 *         --> OUTPUT, value "<event>@<patient or null>@<pharmacy or null>"
 *   rx.byid table --inner foreign-key join patients (by the "p<n>" in the
 *         value) --to_stream--> rx.fk.output, value "<row>#<patient>"
 *
 * Both joins read one patients table (one store, in the tasks that read
 * INPUT and the patients' partitions).
 *
 *   rx_join_app NAME BOOTSTRAP APP_ID INPUT OUTPUT STATE_DIR \
 *       rx.patients=T rx.pharmacies=T rx.byid=T rx.fk.output=T \
 *       rx.status=PATH [rx.patients.caching=on|off] [property=value ...]
 *
 * rx.patients.caching=off turns the patients store's cache off (default
 * on, brook's default): see tests/test_integration_join_scale.c for why
 * the test does. Other properties are brook's. The app publishes its status to
 * PATH as chaos_app does (tests/apps/chaos_status.h), so the test can tell
 * where a kill landed. Runs until SIGTERM; on exit prints "NAME processed=N
 * restored=N produced=N enforced=N" and returns brook_app_run()'s code.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <brook/brook.h>

#include "app_args.h"
#include "chaos_status.h"

struct own_args {
        const char *patients, *pharmacies, *byid, *fk_output, *status;
        bool patients_uncached;
};

static bool own_arg(const char *name, const char *value, void *opaque)
{
        struct own_args *a = opaque;
        if (!strcmp(name, "rx.patients"))
                a->patients = value;
        else if (!strcmp(name, "rx.pharmacies"))
                a->pharmacies = value;
        else if (!strcmp(name, "rx.byid"))
                a->byid = value;
        else if (!strcmp(name, "rx.fk.output"))
                a->fk_output = value;
        else if (!strcmp(name, "rx.status"))
                a->status = value;
        else if (!strcmp(name, "rx.patients.caching"))
                a->patients_uncached = !strcmp(value, "off");
        else
                return false;
        return true;
}

/* A copy of @p len bytes at @p s, NUL-terminated, in the record's arena. */
static char *arena_str(const brook_record_t *rec, const char *s, size_t len)
{
        char *out = brook_record_alloc(rec, len + 1);
        memcpy(out, s, len);
        out[len] = '\0';
        return out;
}

/* "rx7|ph3|2@..." -> "ph3": the event's second field. */
static void *pharmacy_of(const brook_record_t *rec, void *opaque)
{
        const char *v = strchr(brook_record_value(rec), '|');
        (void)opaque;
        if (!v)
                return NULL;
        v++;
        return arena_str(rec, v, strcspn(v, "|@"));
}

/* "p17|rx7" -> "p17": the row's first field. */
static void *patient_of(const brook_record_t *rec, void *opaque)
{
        const char *v = brook_record_value(rec);
        (void)opaque;
        return arena_str(rec, v, strcspn(v, "|"));
}

/* "<left><sep><right or null>"; @p opaque is the separator. */
static void *joiner(const brook_record_t *rec, void *left, void *right,
                    void *opaque)
{
        const char *r = right ? right : "null";
        size_t n = strlen(left) + strlen(r) + 2;
        char *out = brook_record_alloc(rec, n);
        snprintf(out, n, "%s%s%s", (char *)left, (char *)opaque, r);
        return out;
}

static void build(brook_builder_t *b, const char *rx, const char *enriched,
                  const struct own_args *a)
{
        brook_materialized_t m = {.caching_disabled = a->patients_uncached,
                                  .version = BROOK_MATERIALIZED_VERSION};
        brook_table_t *patients = brook_table(b, a->patients, NULL, &m);
        brook_global_table_t *pharmacies =
                brook_global_table(b, a->pharmacies, NULL, NULL);

        brook_stream_to(
                brook_stream_left_join_global(
                        brook_stream_left_join_table(brook_stream(b, rx, NULL),
                                                     patients, joiner, "@",
                                                     NULL),
                        pharmacies, pharmacy_of, NULL, joiner, "@", NULL),
                enriched, NULL);
        brook_stream_to(brook_table_to_stream(brook_table_fk_join(
                                brook_table(b, a->byid, NULL, NULL), patients,
                                patient_of, NULL, joiner, "#", NULL, NULL)),
                        a->fk_output, NULL);
}

/* ------------------------------------------------------------ status */

struct sampler {
        brook_app_t *app;
        chaos_status_t *st;
        atomic_bool stop;
};

static void sleep_ms(int ms)
{
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

/* Publishes the app's counters and the phase they suggest, every
 * CHAOS_STATUS_POLL_MS, with chaos_app's meaning of the phases. */
static void *sample(void *arg)
{
        struct sampler *s = arg;
        chaos_status_t *st = s->st;
        int64_t prev_commits = 0, processed_at_commit = 0, last_interval = 0;
        sigset_t all;

        /* brook_app_run()'s handlers take SIGTERM on the main thread. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, NULL);
        while (!atomic_load(&s->stop)) {
                brook_app_stats_t as;
                brook_app_state_t state = brook_app_state(s->app, NULL, 0);
                int64_t stalled = brook_app_stalled_ms(s->app, NULL, 0);
                int phase;

                brook_app_stats(s->app, &as);
                if (as.rebalances == 0 || as.stores_restoring > 0 ||
                    state == BROOK_APP_REBALANCING)
                        phase = CHAOS_PHASE_RESTORE;
                else if (as.commits != prev_commits || stalled > 0)
                        phase = CHAOS_PHASE_COMMIT;
                else if (as.records_processed != processed_at_commit)
                        phase = CHAOS_PHASE_PROCESSING;
                else
                        phase = CHAOS_PHASE_IDLE;
                if (as.commits != prev_commits) {
                        last_interval =
                                as.records_processed - processed_at_commit;
                        processed_at_commit = as.records_processed;
                }
                prev_commits = as.commits;

                atomic_store(&st->processed, as.records_processed);
                atomic_store(&st->produced, as.records_produced);
                atomic_store(&st->commits, as.commits);
                atomic_store(&st->rebalances, as.rebalances);
                atomic_store(&st->restored, as.records_restored);
                if (as.rebalances <= 1)
                        atomic_store(&st->restored_first, as.records_restored);
                atomic_store(&st->stores_restoring, as.stores_restoring);
                atomic_store(&st->restore_remaining, as.restore_remaining);
                atomic_store(&st->stalled_ms, stalled);
                atomic_store(&st->uncommitted,
                             as.records_processed - processed_at_commit);
                atomic_store(&st->last_interval, last_interval);
                atomic_store(&st->app_state, (int32_t)state);
                atomic_store(&st->phase, phase);
                atomic_fetch_add(&st->samples, 1);
                sleep_ms(CHAOS_STATUS_POLL_MS);
        }
        return NULL;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
        char errstr[512];
        brook_conf_t *conf = brook_conf_new();
        brook_builder_t *b = brook_builder_new();
        struct own_args own = {0};
        struct sampler s = {0};
        brook_app_stats_t as;
        pthread_t sampler;
        int rc;

        if ((rc = app_args(argc, argv, conf, own_arg, &own)))
                return rc;
        if (!own.patients || !own.pharmacies || !own.byid || !own.fk_output ||
            !own.status) {
                fprintf(stderr,
                        "%s: rx.patients, rx.pharmacies, rx.byid, "
                        "rx.fk.output and rx.status are required\n",
                        argv[0]);
                return 2;
        }
        if (app_string_serdes(conf))
                return 1;
        if (!(s.st = chaos_status_map(own.status))) {
                perror(own.status);
                return 1;
        }
        memset(s.st, 0, sizeof *s.st);
        atomic_store(&s.st->pid, (int32_t)getpid());
        atomic_store(&s.st->magic, CHAOS_STATUS_MAGIC);

        build(b, argv[4], argv[5], &own);
        if (brook_builder_error(b)) {
                fprintf(stderr, "%s\n", brook_builder_error(b));
                return 1;
        }
        if (!(s.app = brook_app_new(b, conf, errstr, sizeof errstr))) {
                fprintf(stderr, "%s\n", errstr);
                return 1;
        }
        if (pthread_create(&sampler, NULL, sample, &s)) {
                fprintf(stderr, "%s: cannot start the sampler thread\n",
                        argv[0]);
                return 1;
        }
        rc = brook_app_run(s.app);
        atomic_store(&s.stop, true);
        pthread_join(sampler, NULL);
        brook_app_stats(s.app, &as);
        printf("%s processed=%lld restored=%lld produced=%lld enforced=%lld\n",
               argv[1], (long long)as.records_processed,
               (long long)as.records_restored, (long long)as.records_produced,
               (long long)brook_app_enforced_processing(s.app));
        fflush(stdout);
        brook_app_destroy(s.app);
        munmap(s.st, sizeof *s.st);
        return rc;
}
