/*
 * Integration: the joins' acceptance test (issue 12) on the real broker.
 *
 * rx_join_app (tests/apps/rx_join_app.c) runs as two processes, static
 * members "rxj-0" and "rxj-1" of one group, under exactly_once_v2 with
 * commit.interval.ms=100, each with its own state.dir. Its topology:
 *
 *   prescriptions (4 partitions, key "p<patient>", value
 *     "rx<i>|ph<pharmacy>|<quantity>")
 *     --left join patients (table, 4 partitions, key "p<patient>")
 *     --left join pharmacies (global table, 3 partitions, key "ph<j>", by
 *       the pharmacy id in the value)
 *     --> enriched: "<event>@<patient row or null>@<pharmacy row or null>"
 *   prescriptions by id (table, 4 partitions, key "rx<i>", value
 *     "p<patient>|rx<i>") --inner foreign-key join patients--to_stream-->
 *     rx-patient: "<row>#<patient row>" (a tombstone once the patient or
 *     the row is gone)
 *
 * The data, all produced before the instances start, every timestamp
 * explicit and distinct within each input topic:
 *   - patients: one row per patient at times before every event;
 *   - pharmacies: rows, then updates and deletes of some (the global
 *     table holds the final rows before any event is processed, and they
 *     do not change during the run);
 *   - events at even times T0 + 2i, each of a random patient (1% of them
 *     patients that never exist) and pharmacy (5% unknown), and patient
 *     updates and deletes at odd times between them (evenly spread, random
 *     patients): "updated and partly deleted during the run" in event
 *     time;
 *   - one prescription by id per tenth event (its patient), then 10% of
 *     them moved to another patient, 5% deleted.
 *
 * The reference. A task takes its partitions' records in timestamp order
 * (max.task.idle.ms=0 waits for a partition whose records are on the
 * broker but not fetched yet, docs/time.md), so each event joins the
 * patient row with the largest timestamp below its own: the test
 * replays the timeline in memory. Global rows are the final ones. The
 * foreign-key join converges (KIP-213): each row's last output is the
 * join of its final row with its final patient, or none / a tombstone.
 *
 * The patients store caches, as brook's stores do by default. That is
 * what once kept deleted patients joined for good: a subscription that
 * arrived while the patient's row was in the cache and not yet in the
 * store below was answered with it; when the delete came before the next
 * flush, the flush found nothing below to delete and forwarded nothing
 * (Kafka Streams' CachingKeyValueStore does the same), so the foreign side
 * never answered the subscription again. A join's read of a cached row now
 * makes its delete go downstream (brook__kvstore_get_exposed()). An early
 * kill shows it best: RXJ_KILL_FRACTION=0.02 RXJ_EVENTS=200000
 * RXJ_PATIENTS=20000 left 10-30 rows of deleted patients joined in most
 * runs before the fix.
 *
 * The run: once KILL_FRACTION of the enriched outputs is visible
 * (read_committed), one instance is SIGKILLed while it has records
 * processed since its last commit (an open transaction; the phase it
 * published says where the kill landed), and started again at once with
 * its state dir and group.instance.id, so it gets its partitions back
 * without a rebalance. Then the test waits (with a deadline) until every
 * output is there, stops both instances cleanly, reads both outputs to
 * their ends and checks: every event's enriched record exactly once,
 * equal to the reference (nothing missing, duplicated, wrong or stray);
 * every prescription's last foreign-key output equal to the reference.
 * And the restarted instance kept its local state (the state of the last
 * commit is on disk, docs/exactly-once.md): it restored no more than the
 * kill's last transactions can explain (restore_bound()).
 *
 * Scale, from the environment (the sanitizer build runs a tenth):
 *   RXJ_EVENTS       prescription events [1000000]
 *   RXJ_PATIENTS     patients [100000]
 *   RXJ_DEADLINE_S   how long the outputs may take to complete after the
 *                    instances start [300]
 * and for looking into failures:
 *   RXJ_KILL_FRACTION    of the enriched outputs visible at the kill [0.3]
 *   RXJ_PATIENTS_CACHING off: the patients store does not cache [on]
 * Patient updates are events / 50, deletes events / 200, pharmacies 2000.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "apps/chaos_status.h"
#include "kafka_util.h"

#define INSTANCES  2
#define PARTITIONS 4
#define PHARMACIES 2000
/* Of the enriched outputs, how many are visible when the kill comes. */
#define KILL_FRACTION 0.3
/* Event i is at T0 + 2i; patient changes at odd times between. */
#define T0 1000000000LL

typedef struct inst {
        pid_t pid;
        int run;
        char dir[512], status[512];
        chaos_status_t *st;
} inst_t;

typedef struct rxj {
        int64_t events;
        int32_t patients, unknown_patients, pharmacies, unknown_pharmacies;
        int deadline_s;
        double kill_fraction;
        bool patients_caching;
        char *app_id, *rx, *pat_topic, *ph_topic, *byid, *enriched, *fk_out;
        char *dir;

        /* Per event: patient, pharmacy, and the patient version it must
         * join (-1: no row). */
        int32_t *pat, *ph, *ver;
        /* Per patient: its version at the end (-1: deleted). */
        int32_t *final_ver;
        /* Patient changes: event slot (the change is at T0 + 2 slot - 1),
         * patient, new version (-1: delete). */
        int64_t changes;
        int64_t *cslot;
        int32_t *cpat, *cver;
        /* Prescriptions by id: rows (row r is event 10 r), each one's
         * final patient (-1: the row is deleted). */
        int64_t rows;
        int32_t *row_pat;
        /* Events that join an updated patient row, a deleted one, a
         * patient that never was. */
        int64_t ref_updated, ref_deleted, ref_unknown;

        /* The tally. */
        /* Per event: how often its enriched record was seen. */
        uint8_t *seen;
        int64_t distinct, dups, wrong, strays;
        /* Per prescription by id: FK_* bits. */
        uint8_t *fk_state;
        int64_t fk_ok, fk_records, fk_strays;
        char first_wrong[512], first_stray[512];

        kt_reader_t *reader;
        inst_t inst[INSTANCES];
        /* Where the kill landed: the victim's last published phase, its
         * records processed, and of those the ones since its last
         * commit. */
        int kill_phase;
        int64_t kill_processed, kill_open, kill_last_interval;
} rxj_t;

#define FK_SEEN      1 /* some output seen */
#define FK_MATCH     2 /* the last output is the reference's value */
#define FK_TOMBSTONE 4 /* the last output is a tombstone */

static rxj_t *current;

/* splitmix64: the data is a function of the indexes. */
static uint64_t mix(uint64_t x)
{
        x += 0x9e3779b97f4a7c15ULL;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        return x ^ (x >> 31);
}

static int64_t env_int(const char *name, int64_t def)
{
        const char *v = getenv(name);
        return v && *v ? strtoll(v, NULL, 10) : def;
}

static void msg_printf(char *buf, size_t size, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void msg_printf(char *buf, size_t size, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, size, fmt, ap);
        va_end(ap);
}

static void *xcalloc(size_t n, size_t size)
{
        void *p = calloc(n, size);
        assert_non_null(p);
        return p;
}

/* ------------------------------------------------------------- values */

static int patient_value(int32_t p, int32_t ver, char *buf, size_t size)
{
        return snprintf(buf, size, "pat%" PRId32 "-v%" PRId32, p, ver);
}

/* The pharmacy's final row, or NULL: rows j % 7 == 3 were updated, rows
 * j % 13 == 5 deleted (after an update, if both). */
static const char *pharmacy_final(const rxj_t *x, int32_t j, char *buf,
                                  size_t size)
{
        if (j >= x->pharmacies || j % 13 == 5)
                return NULL;
        snprintf(buf, size, "pharm%" PRId32 "%s", j, j % 7 == 3 ? "-b" : "");
        return buf;
}

static int event_value(const rxj_t *x, int64_t i, char *buf, size_t size)
{
        return snprintf(buf, size, "rx%" PRId64 "|ph%" PRId32 "|%d", i,
                        x->ph[i], (int)(i % 97));
}

/* The enriched record of event @p i: "event@patient@pharmacy". */
static void enriched_value(const rxj_t *x, int64_t i, char *buf, size_t size)
{
        char pv[48], phv[48];
        const char *phs = pharmacy_final(x, x->ph[i], phv, sizeof phv);
        int n = event_value(x, i, buf, size);
        if (x->ver[i] >= 0)
                patient_value(x->pat[i], x->ver[i], pv, sizeof pv);
        else
                strcpy(pv, "null");
        snprintf(buf + n, size - (size_t)n, "@%s@%s", pv, phs ? phs : "null");
}

/* Row @p r's last foreign-key output, or false if there must be none (or
 * a tombstone). */
static bool fk_value(const rxj_t *x, int64_t r, char *buf, size_t size)
{
        int32_t p = x->row_pat[r], v;
        char pv[48];
        if (p < 0 || p >= x->patients || (v = x->final_ver[p]) < 0)
                return false;
        patient_value(p, v, pv, sizeof pv);
        snprintf(buf, size, "p%" PRId32 "|rx%" PRId64 "#%s", p, 10 * r, pv);
        return true;
}

/* ---------------------------------------------------------- reference */

static void rxj_reference(rxj_t *x)
{
        int64_t i, c = 0, r;
        int32_t *cur;
        int64_t updates = x->events / 50, deletes = x->events / 200;

        x->pat = xcalloc((size_t)x->events, sizeof *x->pat);
        x->ph = xcalloc((size_t)x->events, sizeof *x->ph);
        x->ver = xcalloc((size_t)x->events, sizeof *x->ver);
        x->seen = xcalloc((size_t)x->events, 1);
        x->final_ver = cur = xcalloc((size_t)x->patients, sizeof *cur);
        for (i = 0; i < x->events; i++) {
                x->pat[i] = (int32_t)(mix((uint64_t)i * 3 + 1) %
                                      (uint64_t)(x->patients +
                                                 x->unknown_patients));
                x->ph[i] = (int32_t)(mix((uint64_t)i * 3 + 2) %
                                     (uint64_t)(x->pharmacies +
                                                x->unknown_pharmacies));
        }

        /* Change c is at slot c * events / changes: between events slot -
         * 1 and slot, at T0 + 2 slot - 1. */
        x->changes = updates + deletes;
        x->cslot = xcalloc((size_t)x->changes, sizeof *x->cslot);
        x->cpat = xcalloc((size_t)x->changes, sizeof *x->cpat);
        x->cver = xcalloc((size_t)x->changes, sizeof *x->cver);
        for (c = 0; c < x->changes; c++) {
                x->cslot[c] = c * x->events / x->changes;
                x->cpat[c] = (int32_t)(mix((uint64_t)c * 5 + 4) %
                                       (uint64_t)x->patients);
                x->cver[c] = mix((uint64_t)c * 5 + 3) % (uint64_t)x->changes <
                                             (uint64_t)deletes
                                     ? -1
                                     : (int32_t)(c + 1);
        }

        /* The timeline: each event joins the latest change before it. */
        for (c = 0, i = 0; i < x->events; i++) {
                for (; c < x->changes && x->cslot[c] <= i; c++)
                        cur[x->cpat[c]] = x->cver[c];
                x->ver[i] = x->pat[i] < x->patients ? cur[x->pat[i]] : -1;
        }
        for (; c < x->changes; c++)
                cur[x->cpat[c]] = x->cver[c];
        for (i = 0; i < x->events; i++) {
                if (x->pat[i] >= x->patients)
                        x->ref_unknown++;
                else if (x->ver[i] < 0)
                        x->ref_deleted++;
                else if (x->ver[i] > 0)
                        x->ref_updated++;
        }

        /* Prescriptions by id: event 10 r's patient; r % 10 == 0 moved to
         * another, r % 20 == 5 deleted. */
        x->rows = (x->events + 9) / 10;
        x->row_pat = xcalloc((size_t)x->rows, sizeof *x->row_pat);
        x->fk_state = xcalloc((size_t)x->rows, 1);
        for (r = 0; r < x->rows; r++) {
                uint64_t all = (uint64_t)(x->patients + x->unknown_patients);
                uint64_t step = 1 + mix((uint64_t)r * 7 + 6) %
                                            (uint64_t)(x->patients - 1);
                x->row_pat[r] = x->pat[10 * r];
                if (r % 10 == 0) /* another patient: step < all */
                        x->row_pat[r] =
                                (int32_t)(((uint64_t)x->row_pat[r] + step) %
                                          all);
                else if (r % 20 == 5)
                        x->row_pat[r] = -1;
        }
        /* Rows that must end without output count as right until one
         * shows. */
        for (r = 0; r < x->rows; r++) {
                char buf[128];
                if (!fk_value(x, r, buf, sizeof buf))
                        x->fk_ok++;
        }
}

/* ---------------------------------------------------------- producing */

static void produce(rd_kafka_t *rk, const char *topic, const char *key,
                    const char *value, int n, int64_t ts)
{
        kt_produce_at(rk, topic, -1, key, value, value ? (size_t)n : 0, ts,
                      NULL);
}

static void rxj_produce(rxj_t *x)
{
        rd_kafka_t *rk = kt_producer();
        char k[32], v[128];
        int64_t i, c, r;
        int32_t p, j;
        int n;

        /* Patients, before every event. */
        for (p = 0; p < x->patients; p++) {
                snprintf(k, sizeof k, "p%" PRId32, p);
                n = patient_value(p, 0, v, sizeof v);
                produce(rk, x->pat_topic, k, v, n, T0 - x->patients - 1 + p);
        }
        /* Pharmacies: rows, updates, deletes. */
        for (j = 0; j < x->pharmacies; j++) {
                snprintf(k, sizeof k, "ph%" PRId32, j);
                n = snprintf(v, sizeof v, "pharm%" PRId32, j);
                produce(rk, x->ph_topic, k, v, n, T0 - 3 * PHARMACIES + j);
        }
        for (j = 0; j < x->pharmacies; j++) {
                snprintf(k, sizeof k, "ph%" PRId32, j);
                if (j % 7 == 3) {
                        n = snprintf(v, sizeof v, "pharm%" PRId32 "-b", j);
                        produce(rk, x->ph_topic, k, v, n,
                                T0 - 2 * PHARMACIES + j);
                }
                if (j % 13 == 5)
                        produce(rk, x->ph_topic, k, NULL, 0,
                                T0 - PHARMACIES + j);
        }
        /* Events and patient changes, in timestamp order. */
        for (c = 0, i = 0; i < x->events; i++) {
                for (; c < x->changes && x->cslot[c] <= i; c++) {
                        p = x->cpat[c];
                        snprintf(k, sizeof k, "p%" PRId32, p);
                        n = x->cver[c] >= 0
                                    ? patient_value(p, x->cver[c], v, sizeof v)
                                    : 0;
                        produce(rk, x->pat_topic, k, x->cver[c] >= 0 ? v : NULL,
                                n, T0 + 2 * x->cslot[c] - 1);
                }
                snprintf(k, sizeof k, "p%" PRId32, x->pat[i]);
                n = event_value(x, i, v, sizeof v);
                produce(rk, x->rx, k, v, n, T0 + 2 * i);
        }
        /* Prescriptions by id, then their moves and deletes. */
        for (r = 0; r < x->rows; r++) {
                snprintf(k, sizeof k, "rx%" PRId64, 10 * r);
                n = snprintf(v, sizeof v, "p%" PRId32 "|rx%" PRId64,
                             x->pat[10 * r], 10 * r);
                produce(rk, x->byid, k, v, n, T0 + 20 * r);
        }
        for (r = 0; r < x->rows; r++) {
                snprintf(k, sizeof k, "rx%" PRId64, 10 * r);
                if (r % 10 == 0) {
                        n = snprintf(v, sizeof v, "p%" PRId32 "|rx%" PRId64,
                                     x->row_pat[r], 10 * r);
                        produce(rk, x->byid, k, v, n,
                                T0 + 2 * x->events + 10 * r);
                } else if (r % 20 == 5) {
                        produce(rk, x->byid, k, NULL, 0,
                                T0 + 2 * x->events + 10 * r);
                }
        }
        kt_producer_close(rk);
}

/* -------------------------------------------------------------- tally */

static void note_stray(rxj_t *x, const rd_kafka_message_t *rkm, const char *why)
{
        if (x->first_stray[0])
                return;
        msg_printf(x->first_stray, sizeof x->first_stray,
                   "%s [%d] offset %" PRId64 ": %s: key \"%.*s\" value "
                   "\"%.*s\"",
                   rd_kafka_topic_name(rkm->rkt), (int)rkm->partition,
                   rkm->offset, why, rkm->key ? (int)rkm->key_len : 4,
                   rkm->key ? (const char *)rkm->key : "null",
                   rkm->payload ? (int)rkm->len : 4,
                   rkm->payload ? (const char *)rkm->payload : "null");
}

static void tally_enriched(rxj_t *x, const rd_kafka_message_t *rkm)
{
        char want[256], key[32], head[32];
        const char *v = rkm->payload;
        int64_t i;

        /* The payload is not NUL-terminated: parse a copy of its start. */
        snprintf(head, sizeof head, "%.*s", v ? (int)rkm->len : 0, v ? v : "");
        if (!v || sscanf(head, "rx%" SCNd64, &i) != 1 || i < 0 ||
            i >= x->events) {
                x->strays++;
                note_stray(x, rkm, "no such event");
                return;
        }
        if (x->seen[i] < 255)
                x->seen[i]++;
        if (x->seen[i] == 1)
                x->distinct++;
        else
                x->dups++;
        enriched_value(x, i, want, sizeof want);
        snprintf(key, sizeof key, "p%" PRId32, x->pat[i]);
        if (rkm->len != strlen(want) || memcmp(v, want, rkm->len) ||
            !rkm->key || rkm->key_len != strlen(key) ||
            memcmp(rkm->key, key, rkm->key_len)) {
                if (!x->wrong++)
                        msg_printf(x->first_wrong, sizeof x->first_wrong,
                                   "event %" PRId64 ": got \"%.*s\" \"%.*s\", "
                                   "want \"%s\" \"%s\"",
                                   i, rkm->key ? (int)rkm->key_len : 4,
                                   rkm->key ? (const char *)rkm->key : "null",
                                   (int)rkm->len, v, key, want);
        }
}

static bool fk_right(const rxj_t *x, int64_t r)
{
        char buf[128];
        uint8_t s = x->fk_state[r];
        if (fk_value(x, r, buf, sizeof buf))
                return (s & FK_MATCH) != 0;
        return !(s & FK_SEEN) || (s & FK_TOMBSTONE);
}

static void tally_fk(rxj_t *x, const rd_kafka_message_t *rkm)
{
        char key[32], want[128];
        int64_t id, r;
        bool before;
        uint8_t s = FK_SEEN;

        x->fk_records++;
        snprintf(key, sizeof key, "%.*s", rkm->key ? (int)rkm->key_len : 0,
                 rkm->key ? (const char *)rkm->key : "");
        if (sscanf(key, "rx%" SCNd64, &id) != 1 || id < 0 || id % 10 ||
            (r = id / 10) >= x->rows) {
                x->fk_strays++;
                note_stray(x, rkm, "no such prescription");
                return;
        }
        before = fk_right(x, r);
        if (!rkm->payload)
                s |= FK_TOMBSTONE;
        else if (fk_value(x, r, want, sizeof want) &&
                 rkm->len == strlen(want) &&
                 !memcmp(rkm->payload, want, rkm->len))
                s |= FK_MATCH;
        x->fk_state[r] = s;
        x->fk_ok += (int64_t)fk_right(x, r) - (int64_t)before;
}

static void tally_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        rxj_t *x = opaque;
        if (!strcmp(rd_kafka_topic_name(rkm->rkt), x->enriched))
                tally_enriched(x, rkm);
        else
                tally_fk(x, rkm);
}

static bool rxj_complete(const rxj_t *x)
{
        return x->distinct == x->events && x->fk_ok == x->rows;
}

/* ---------------------------------------------------------- instances */

static void inst_spawn(rxj_t *x, int k)
{
        inst_t *in = &x->inst[k];
        char name[32], log[1024], pat[600], ph[600], byid[600], fk[600];
        char status[600], member[64], caching[64];
        char *argv[] = {RX_JOIN_APP_PATH, name, (char *)kt_bootstrap(),
                        x->app_id, x->rx, x->enriched, in->dir, pat, ph, byid,
                        fk, status, member, caching,
                        "processing.guarantee=exactly_once_v2",
                        "commit.interval.ms=100", "num.stream.threads=1",
                        /* The broker's smallest: a restart is back well
                         * within it, so the killed static member keeps its
                         * partitions. */
                        "consumer.session.timeout.ms=6000",
                        "consumer.heartbeat.interval.ms=1000", NULL};

        snprintf(name, sizeof name, "i%d-r%d", k, in->run);
        snprintf(pat, sizeof pat, "rx.patients=%s", x->pat_topic);
        snprintf(ph, sizeof ph, "rx.pharmacies=%s", x->ph_topic);
        snprintf(byid, sizeof byid, "rx.byid=%s", x->byid);
        snprintf(fk, sizeof fk, "rx.fk.output=%s", x->fk_out);
        snprintf(status, sizeof status, "rx.status=%s", in->status);
        snprintf(member, sizeof member, "group.instance.id=rxj-%d", k);
        snprintf(caching, sizeof caching, "rx.patients.caching=%s",
                 x->patients_caching ? "on" : "off");
        snprintf(log, sizeof log, "%s/%s-%s", LOG_DIR, x->app_id, name);
        in->pid = kt_spawn(argv, log);
}

/* The last lines of instance @p k's current stderr log, into @p buf. */
static void log_tail(const rxj_t *x, int k, char *buf, size_t size)
{
        char path[1024];
        char *s, *from;
        size_t len;
        int lines = 0;
        snprintf(path, sizeof path, "%s/%s-i%d-r%d.err", LOG_DIR, x->app_id, k,
                 x->inst[k].run);
        if (!(s = kt_slurp(path))) {
                msg_printf(buf, size, "(no log %s)", path);
                return;
        }
        len = strlen(s);
        from = s + len;
        while (from > s && lines < 6)
                if (*--from == '\n' && from + 1 < s + len)
                        lines++;
        msg_printf(buf, size, "%s: %s", path, from);
        free(s);
}

/* Fails the test if an instance exited although nobody stopped it. */
static void check_health(rxj_t *x)
{
        int k, status;
        for (k = 0; k < INSTANCES; k++) {
                inst_t *in = &x->inst[k];
                char tail[700];
                if (in->pid <= 0 ||
                    waitpid(in->pid, &status, WNOHANG) != in->pid)
                        continue;
                in->pid = 0;
                log_tail(x, k, tail, sizeof tail);
                fail_msg("instance %d (run %d) exited on its own (%s %d): %s",
                         k, in->run, WIFSIGNALED(status) ? "signal" : "status",
                         WIFSIGNALED(status) ? WTERMSIG(status)
                                             : WEXITSTATUS(status),
                         tail);
        }
}

/* ------------------------------------------------------------- setup */

static rxj_t *rxj_new(void)
{
        rxj_t *x = xcalloc(1, sizeof *x);
        int k;

        x->events = env_int("RXJ_EVENTS", 1000000);
        x->patients = (int32_t)env_int("RXJ_PATIENTS", 100000);
        x->deadline_s = (int)env_int("RXJ_DEADLINE_S", 300);
        x->kill_fraction = getenv("RXJ_KILL_FRACTION")
                                   ? atof(getenv("RXJ_KILL_FRACTION"))
                                   : KILL_FRACTION;
        x->patients_caching = !getenv("RXJ_PATIENTS_CACHING") ||
                              strcmp(getenv("RXJ_PATIENTS_CACHING"), "off");
        assert_true(x->events >= 1000 && x->patients >= 100);
        x->unknown_patients = x->patients / 100;
        x->pharmacies = PHARMACIES;
        x->unknown_pharmacies = PHARMACIES / 20;
        x->app_id = kt_unique("rxj");
        x->rx = kt_unique("rxj-prescriptions");
        x->pat_topic = kt_unique("rxj-patients");
        x->ph_topic = kt_unique("rxj-pharmacies");
        x->byid = kt_unique("rxj-prescriptions-by-id");
        x->enriched = kt_unique("rxj-enriched");
        x->fk_out = kt_unique("rxj-rx-patient");
        x->dir = strdup("/tmp/brook-rxj-test-XXXXXX");
        assert_non_null(mkdtemp(x->dir));
        for (k = 0; k < INSTANCES; k++) {
                inst_t *in = &x->inst[k];
                snprintf(in->dir, sizeof in->dir, "%s/state-%d", x->dir, k);
                snprintf(in->status, sizeof in->status, "%s/status-%d", x->dir,
                         k);
                assert_non_null(in->st = chaos_status_map(in->status));
        }
        current = x;
        return x;
}

static void rxj_free(rxj_t *x)
{
        char cmd[600];
        int k;
        if (!x)
                return;
        for (k = 0; k < INSTANCES; k++) {
                if (x->inst[k].pid > 0) {
                        kill(x->inst[k].pid, SIGKILL);
                        waitpid(x->inst[k].pid, NULL, 0);
                }
                if (x->inst[k].st)
                        munmap(x->inst[k].st, sizeof *x->inst[k].st);
        }
        /* The instances' logs stay in LOG_DIR; their state goes. */
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", x->dir);
        if (system(cmd))
                print_message("rxj: could not remove %s\n", x->dir);
        kt_reader_destroy(x->reader);
        free(x->pat);
        free(x->ph);
        free(x->ver);
        free(x->final_ver);
        free(x->cslot);
        free(x->cpat);
        free(x->cver);
        free(x->row_pat);
        free(x->seen);
        free(x->fk_state);
        free(x->app_id);
        free(x->rx);
        free(x->pat_topic);
        free(x->ph_topic);
        free(x->byid);
        free(x->enriched);
        free(x->fk_out);
        free(x->dir);
        free(x);
        if (current == x)
                current = NULL;
}

static int teardown(void **state)
{
        (void)state;
        rxj_free(current);
        return 0;
}

/* Whether instance @p k's current process published that it has
 * records processed since its last commit. */
static bool inst_open(const rxj_t *x, int k)
{
        const chaos_status_t *st = x->inst[k].st;
        return x->inst[k].pid > 0 && atomic_load(&st->pid) == x->inst[k].pid &&
               atomic_load(&st->phase) == CHAOS_PHASE_PROCESSING &&
               atomic_load(&st->uncommitted) > 0;
}

/* SIGKILLs an instance and starts it again at once: the first that has
 * records processed since its last commit (an open transaction) within
 * 5 s, else instance 1. Notes where the kill landed; returns the
 * instance. */
static int rxj_kill_restart(rxj_t *x)
{
        int64_t until = kt_now_ms() + 5000;
        int victim = -1, k, status;
        chaos_status_t *st;
        pid_t pid;

        while (victim < 0 && kt_now_ms() < until) {
                for (k = INSTANCES - 1; k >= 0 && victim < 0; k--)
                        if (inst_open(x, k))
                                victim = k;
                if (victim < 0)
                        kt_sleep_ms(1);
        }
        if (victim < 0)
                victim = 1;
        st = x->inst[victim].st;
        pid = x->inst[victim].pid;
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        x->inst[victim].pid = 0;
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
                fail_msg("instance %d exited (status %d) before the kill",
                         victim, status);
        x->kill_phase = CHAOS_PHASE_STARTING;
        if (atomic_load(&st->pid) == pid) {
                /* Its last status: at most CHAOS_STATUS_POLL_MS old. */
                x->kill_phase = atomic_load(&st->phase);
                x->kill_open = atomic_load(&st->uncommitted);
                x->kill_processed = atomic_load(&st->processed);
                x->kill_last_interval = atomic_load(&st->last_interval);
        }
        x->inst[victim].run++;
        inst_spawn(x, victim);
        return victim;
}

/*
 * What the restarted instance may restore: the changelog records of the
 * transaction the kill interrupted if it committed before the state was
 * written, and of the one before (at most one each per record processed
 * in them, twice over), or half the patients, whichever is more. A store
 * restored from scratch takes its share of every changelog: its patients,
 * prescriptions by id and their subscriptions, about 1.5 times the
 * patients.
 */
static int64_t restore_bound(const rxj_t *x)
{
        int64_t worth = 2 * (x->kill_open + x->kill_last_interval);
        return worth > x->patients / 2 ? worth : x->patients / 2;
}

/* ---------------------------------------------------------------- run */

static double secs(int64_t from_ms)
{
        return (double)(kt_now_ms() - from_ms) / 1000.0;
}

/* Reads outputs for about @p ms; prints the progress every 5 s. */
static void rxj_poll(rxj_t *x, int ms, int64_t t_run, int64_t *next_note)
{
        check_health(x);
        kt_reader_poll(x->reader, ms, tally_cb, x);
        if (kt_now_ms() < *next_note)
                return;
        *next_note += 5000;
        print_message("rxj: %.1f s: %" PRId64 " enriched records, %" PRId64
                      " rx-patient records (%" PRId64 " of %" PRId64
                      " rows right); processed %" PRId64 " + %" PRId64 "\n",
                      secs(t_run), x->distinct + x->dups, x->fk_records,
                      x->fk_ok, x->rows, atomic_load(&x->inst[0].st->processed),
                      atomic_load(&x->inst[1].st->processed));
}

static void test_joins_at_scale(void **state)
{
        rxj_t *x = rxj_new();
        const char *topics[2];
        int64_t t_start = kt_now_ms(), t_run, t_kill = 0, t_done, deadline;
        int64_t kill_want, restored = 0;
        int64_t other_rebalances, other_rebalances_after, next_note;
        int64_t victim_rebalances = 0;
        bool static_back;
        int victim, k;
        (void)state;

        rxj_reference(x);
        kt_create_topic(x->rx, PARTITIONS);
        kt_create_topic(x->pat_topic, PARTITIONS);
        kt_create_topic(x->ph_topic, 3);
        kt_create_topic(x->byid, PARTITIONS);
        kt_create_topic(x->enriched, PARTITIONS);
        kt_create_topic(x->fk_out, PARTITIONS);
        rxj_produce(x);
        print_message("rxj: %" PRId64 " events (%" PRId64
                      " join an updated patient, %" PRId64 " a deleted one, "
                      "%" PRId64 " one that never was), %" PRId32
                      " patients (%" PRId64 " changes), %" PRId32
                      " pharmacies, %" PRId64 " prescriptions by id: "
                      "reference and input in %.1f s\n",
                      x->events, x->ref_updated, x->ref_deleted, x->ref_unknown,
                      x->patients, x->changes, x->pharmacies, x->rows,
                      secs(t_start));

        topics[0] = x->enriched;
        topics[1] = x->fk_out;
        x->reader = kt_reader_new(topics, 2, PARTITIONS);
        t_run = kt_now_ms();
        next_note = t_run + 5000;
        for (k = 0; k < INSTANCES; k++)
                inst_spawn(x, k);

        /* The kill, once enough outputs are visible. */
        kill_want = (int64_t)((double)x->events * x->kill_fraction);
        deadline = t_run + (int64_t)x->deadline_s * 1000;
        while (x->distinct < kill_want && kt_now_ms() < deadline)
                rxj_poll(x, 100, t_run, &next_note);
        if (x->distinct < kill_want)
                fail_msg("only %" PRId64 " of %" PRId64 " enriched records "
                         "after %d s",
                         x->distinct, x->events, x->deadline_s);
        victim = rxj_kill_restart(x);
        t_kill = kt_now_ms();
        other_rebalances = atomic_load(&x->inst[1 - victim].st->rebalances);
        print_message("rxj: instance %d killed %.1f s after the start, %s, "
                      "%" PRId64 " processed (%" PRId64
                      " since its last commit); %" PRId64 " of %" PRId64
                      " enriched records visible\n",
                      victim, (double)(t_kill - t_run) / 1000.0,
                      chaos_phase_name(x->kill_phase), x->kill_processed,
                      x->kill_open, x->distinct, x->events);

        /* Every output there, within the deadline. */
        while (!rxj_complete(x) && kt_now_ms() < deadline)
                rxj_poll(x, 200, t_run, &next_note);
        t_done = kt_now_ms();
        if (atomic_load(&x->inst[victim].st->pid) == x->inst[victim].pid) {
                restored = atomic_load(&x->inst[victim].st->restored_first);
                victim_rebalances =
                        atomic_load(&x->inst[victim].st->rebalances);
        }
        other_rebalances_after =
                atomic_load(&x->inst[1 - victim].st->rebalances);
        /* Its partitions back by static membership: the group did not
         * move any (a rebalance may give it others, with their whole
         * changelogs to restore). */
        static_back = victim_rebalances == 1 &&
                      other_rebalances_after == other_rebalances;

        /* A clean stop, then the outputs to their ends. */
        for (k = 0; k < INSTANCES; k++)
                if (x->inst[k].pid > 0)
                        assert_int_equal(kill(x->inst[k].pid, SIGTERM), 0);
        for (k = 0; k < INSTANCES; k++) {
                int rc;
                char tail[700];
                if (x->inst[k].pid <= 0)
                        continue;
                rc = kt_wait(x->inst[k].pid, 60000);
                x->inst[k].pid = 0;
                if (rc != 0) {
                        log_tail(x, k, tail, sizeof tail);
                        fail_msg("instance %d (run %d) stopped with %d: %s", k,
                                 x->inst[k].run, rc, tail);
                }
        }
        kt_reader_drain(x->reader, 120000, tally_cb, x);

        print_message(
                "rxj: kill=%s (instance %d, %" PRId64 " records uncommitted) "
                "restored=%" PRId64 " (bound %" PRId64 "%s) rebalances of "
                "the other instance %" PRId64 "->%" PRId64
                " | enriched: %" PRId64 " of %" PRId64 " missing=%" PRId64
                " duplicated=%" PRId64 " wrong=%" PRId64 " strays=%" PRId64
                " | rx-patient: %" PRId64 " records, %" PRId64 " of %" PRId64
                " rows right, strays=%" PRId64
                " | %.1f s to the kill, %.1f s to complete, %.1f s in all\n",
                chaos_phase_name(x->kill_phase), victim, x->kill_open, restored,
                restore_bound(x),
                static_back ? "" : ", not checked: out of a rebalance",
                other_rebalances, other_rebalances_after, x->distinct,
                x->events, x->events - x->distinct, x->dups, x->wrong,
                x->strays, x->fk_records, x->fk_ok, x->rows, x->fk_strays,
                (double)(t_kill - t_run) / 1000.0,
                (double)(t_done - t_run) / 1000.0, secs(t_start));

        if (x->strays || x->fk_strays)
                fail_msg("%" PRId64 " enriched and %" PRId64
                         " rx-patient records for no input; the first: %s",
                         x->strays, x->fk_strays, x->first_stray);
        if (x->wrong)
                fail_msg("%" PRId64 " enriched records wrong; the first: %s",
                         x->wrong, x->first_wrong);
        if (x->distinct != x->events || x->dups)
                fail_msg("exactly-once: %" PRId64 " enriched records missing, "
                         "%" PRId64 " duplicated",
                         x->events - x->distinct, x->dups);
        if (x->fk_ok != x->rows) {
                char rows[700] = "", want[128];
                size_t len = 0;
                int64_t r;
                int shown = 0;
                for (r = 0; r < x->rows && shown < 5; r++) {
                        if (fk_right(x, r))
                                continue;
                        shown++;
                        len += (size_t)snprintf(
                                rows + len, sizeof rows - len,
                                "%srx%" PRId64 " (patient p%" PRId32
                                ", last output %s) want %s",
                                len ? "; " : "", 10 * r, x->row_pat[r],
                                x->fk_state[r] & FK_TOMBSTONE ? "a tombstone"
                                : x->fk_state[r] & FK_SEEN    ? "another value"
                                                              : "none",
                                fk_value(x, r, want, sizeof want)
                                        ? want
                                        : "none or a tombstone");
                        if (len >= sizeof rows)
                                break;
                }
                fail_msg("%" PRId64 " of %" PRId64 " prescriptions' last "
                         "foreign-key outputs are wrong: %s",
                         x->rows - x->fk_ok, x->rows, rows);
        }
        if (static_back && restored >= restore_bound(x))
                fail_msg("the restarted instance restored %" PRId64
                         " changelog records, not below %" PRId64
                         ": its state was not kept",
                         restored, restore_bound(x));
        rxj_free(x);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_joins_at_scale, teardown),
        };
        /* Its output goes to ctest's log as it comes. */
        setvbuf(stdout, NULL, _IOLBF, 0);
        kt_test_filter();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
