/*
 * brook reset — Kafka Streams' application reset tool for brook apps.
 *
 *   brook reset --application-id ID [--bootstrap-server HOST:PORT]
 *               [--input-topics T1,T2] [--internal-topics T1,T2]
 *               [--to-earliest | --to-latest | --to-offset N |
 *                --to-datetime YYYY-MM-DDTHH:mm:SS.sss[ZONE] |
 *                --by-duration PnDTnHnMnS | --shift-by N]
 *               [--state-dir DIR] [--dry-run] [-X name=value]...
 *
 * What it does, as StreamsResetter does, in this order:
 *   1. checks, before changing anything: the consumer group (the
 *      application id) has no members; --internal-topics names only
 *      internal topics; no process holds the local state db;
 *   2. sets the group's committed offsets of every partition of the input
 *      topics (to the earliest offset unless told otherwise; input topics
 *      that do not exist are listed and skipped);
 *   3. deletes the application's internal topics: those named
 *      "<application.id>-..." ending in -changelog, -repartition or one of
 *      the foreign-key join topics' suffixes (or the --internal-topics
 *      given, which must be among them); the broker drops the group's
 *      offsets of a deleted topic with it;
 *   4. with --state-dir, deletes the local state, DIR/<application.id>
 *      (Kafka Streams' tool leaves that to KafkaStreams#cleanUp()).
 * --dry-run prints the same plan and changes nothing. Output topics are
 * never touched. Exit codes: 0 done, 1 refused or failed (why on stderr),
 * 2 a bad command line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include <brook/timestamp.h>

#include "brook_int.h"
#include "reset.h"

#define TIMEOUT_MS 30000

typedef enum reset_to_e {
        TO_EARLIEST,
        TO_LATEST,
        TO_OFFSET,
        TO_DATETIME,
        BY_DURATION,
        SHIFT_BY,
} reset_to_t;

/* Names (char *, owned). */
typedef brook__ptrvec_t list_t;

typedef struct opts_s {
        const char *bootstrap, *app_id, *state_dir;
        list_t inputs, internals, props;
        reset_to_t to;
        int tos;       /**< How many of the --to-... options were given. */
        int64_t value; /**< The offset, time (ms) or shift. */
        bool dry_run;
} opts_t;

static const char usage_text[] =
        "usage: brook reset --application-id ID [--bootstrap-server "
        "HOST:PORT]\n"
        "                   [--input-topics T1,T2] [--internal-topics "
        "T1,T2]\n"
        "                   [--to-earliest | --to-latest | --to-offset N |\n"
        "                    --to-datetime YYYY-MM-DDTHH:mm:SS.sss[ZONE] |\n"
        "                    --by-duration PnDTnHnMnS | --shift-by N]\n"
        "                   [--state-dir DIR] [--dry-run] [-X "
        "name=value]...\n"
        "  Resets an application so that its next run reprocesses its "
        "input, as\n"
        "  Kafka Streams' application reset tool does: sets its committed "
        "input\n"
        "  offsets (earliest by default), deletes its internal topics "
        "(repartition,\n"
        "  changelog, foreign-key join topics) and, with --state-dir, its "
        "local\n"
        "  state DIR/<application.id>. Refuses while the application's "
        "group has\n"
        "  members. --dry-run prints what it would do and changes nothing.\n"
        "  --to-datetime without a zone is UTC; ZONE is Z, +HH:mm or "
        "+HHmm.\n"
        "  -X passes a librdkafka property (security settings, say) to its "
        "clients.\n"
        "  Default bootstrap server: localhost:9092.\n";

static int bad_usage(const char *fmt, const char *arg)
{
        fputs("brook reset: ", stderr);
        fprintf(stderr, fmt, arg);
        fputc('\n', stderr);
        fputs(usage_text, stderr);
        return 2;
}

/* Appends a copy of @p len bytes at @p s, unless the list has them. */
static void list_add(list_t *l, const char *s, size_t len)
{
        char *copy;
        for (size_t i = 0; i < l->cnt; i++)
                if (strlen(l->v[i]) == len && !memcmp(l->v[i], s, len))
                        return;
        copy = brook__xmalloc(len + 1);
        memcpy(copy, s, len);
        copy[len] = '\0';
        brook__ptrvec_push(l, copy);
}

/* Appends the comma-separated names of @p s (empty ones skipped). */
static void list_split(list_t *l, const char *s)
{
        while (*s) {
                size_t n = strcspn(s, ",");
                if (n)
                        list_add(l, s, n);
                s += n;
                if (*s)
                        s++;
        }
}

static bool list_has(const list_t *l, const char *s)
{
        for (size_t i = 0; i < l->cnt; i++)
                if (!strcmp(l->v[i], s))
                        return true;
        return false;
}

static void list_free(list_t *l)
{
        for (size_t i = 0; i < l->cnt; i++)
                free(l->v[i]);
        brook__ptrvec_free(l);
}

/* "[a, b]", as Kafka Streams' tool prints lists. */
static void list_print(FILE *fp, const list_t *l)
{
        fputc('[', fp);
        for (size_t i = 0; i < l->cnt; i++)
                fprintf(fp, "%s%s", i ? ", " : "", (const char *)l->v[i]);
        fputc(']', fp);
}

/* ------------------------------------------------------------ parsing */

bool brook__reset_parse_datetime(const char *s, int64_t *ms)
{
        const char *t = strchr(s, 'T');
        char buf[128];
        /* As Kafka Streams' Utils.getDateTime(): without a zone after the
         * 'T', the time is UTC. */
        if (!t)
                return false;
        if (!strpbrk(t, "+-Z")) {
                if (strlen(s) + 2 > sizeof buf)
                        return false;
                snprintf(buf, sizeof buf, "%sZ", s);
                s = buf;
        }
        return brook_timestamp_parse_iso8601(s, strlen(s), ms, NULL, 0) ==
               BROOK_OK;
}

/* [+-]digits at *@p pp, then @p unit (either case); false, with *@p pp
 * unmoved, if that is not what follows. Overflow sets *@p over. */
static bool dur_part(const char **pp, char unit, int64_t *v, bool *over)
{
        const char *p = *pp;
        int sign = 1;
        int64_t n = 0;
        if (*p == '+' || *p == '-')
                sign = *p++ == '-' ? -1 : 1;
        if (*p < '0' || *p > '9')
                return false;
        while (*p >= '0' && *p <= '9') {
                if (n > (INT64_MAX - 9) / 10)
                        *over = true;
                else
                        n = n * 10 + (*p - '0');
                p++;
        }
        if ((*p | 0x20) != unit)
                return false;
        *v = sign * n;
        *pp = p + 1;
        return true;
}

/* @p a * @p m + @p b into @p r; false on overflow. */
static bool mul_add(int64_t a, int64_t m, int64_t b, int64_t *r)
{
        return !__builtin_mul_overflow(a, m, r) &&
               !__builtin_add_overflow(*r, b, r);
}

bool brook__reset_parse_duration(const char *s, int64_t *ms)
{
        const char *p = s;
        int64_t days = 0, hours = 0, mins = 0, secs = 0, frac_ms = 0, t;
        int sign = 1, fsign, nfrac = 0;
        bool over = false, any = false;

        if (*p == '+' || *p == '-')
                sign = *p++ == '-' ? -1 : 1;
        if ((*p | 0x20) != 'p')
                return false;
        p++;
        if (dur_part(&p, 'd', &days, &over))
                any = true;
        if ((*p | 0x20) == 't') {
                bool in_t = false;
                const char *q;
                p++;
                if (dur_part(&p, 'h', &hours, &over))
                        in_t = true;
                if (dur_part(&p, 'm', &mins, &over))
                        in_t = true;
                /* Seconds: [+-]digits[.digits]S */
                q = p;
                fsign = *q == '-' ? -1 : 1;
                if (*q == '+' || *q == '-')
                        q++;
                if (*q >= '0' && *q <= '9') {
                        while (*q >= '0' && *q <= '9') {
                                if (secs > (INT64_MAX - 9) / 10)
                                        over = true;
                                else
                                        secs = secs * 10 + (*q - '0');
                                q++;
                        }
                        if (*q == '.' || *q == ',') {
                                q++;
                                while (*q >= '0' && *q <= '9') {
                                        if (++nfrac > 9)
                                                return false;
                                        if (nfrac <= 3)
                                                frac_ms = frac_ms * 10 +
                                                          (*q - '0');
                                        q++;
                                }
                                while (nfrac < 3)
                                        frac_ms *= 10, nfrac++;
                        }
                        if ((*q | 0x20) != 's')
                                return false;
                        secs *= fsign;
                        frac_ms *= fsign;
                        p = q + 1;
                        in_t = true;
                }
                if (!in_t)
                        return false;
                any = true;
        }
        if (!any || *p || over)
                return false;
        /* Seconds in all, then milliseconds. */
        if (!mul_add(days, 24, hours, &t) || !mul_add(t, 60, mins, &t) ||
            !mul_add(t, 60, secs, &t) || !mul_add(t, 1000, frac_ms, &t))
                return false;
        if (sign < 0 && t == INT64_MIN)
                return false;
        *ms = sign * t;
        return true;
}

static bool parse_int64(const char *s, int64_t *v)
{
        char *end;
        long long n;
        errno = 0;
        n = strtoll(s, &end, 10);
        if (errno || end == s || *end)
                return false;
        *v = n;
        return true;
}

/* Returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, opts_t *o)
{
        int i;
        o->bootstrap = "localhost:9092";
        o->to = TO_EARLIEST;
        for (i = 1; i < argc; i++) {
                const char *a = argv[i];
                const char *v = i + 1 < argc ? argv[i + 1] : NULL;
                bool takes = true;
                if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
                        fputs(usage_text, stdout);
                        return 0;
                }
                if (!strcmp(a, "--dry-run")) {
                        o->dry_run = true;
                        takes = false;
                } else if (!strcmp(a, "--to-earliest")) {
                        o->to = TO_EARLIEST, o->tos++, takes = false;
                } else if (!strcmp(a, "--to-latest")) {
                        o->to = TO_LATEST, o->tos++, takes = false;
                } else if (strcmp(a, "--application-id") &&
                           strcmp(a, "--bootstrap-server") &&
                           strcmp(a, "--bootstrap-servers") &&
                           strcmp(a, "--input-topics") &&
                           strcmp(a, "--internal-topics") &&
                           strcmp(a, "--to-offset") &&
                           strcmp(a, "--to-datetime") &&
                           strcmp(a, "--by-duration") &&
                           strcmp(a, "--shift-by") &&
                           strcmp(a, "--state-dir") && strcmp(a, "-X")) {
                        if (a[0] == '-')
                                return bad_usage("unknown option \"%s\"", a);
                        return bad_usage("unexpected argument \"%s\"", a);
                }
                if (!takes)
                        continue;
                if (!v)
                        return bad_usage("%s needs a value", a);
                i++;
                if (!strcmp(a, "--application-id")) {
                        if (!*v)
                                return bad_usage("%s",
                                                 "--application-id is empty");
                        o->app_id = v;
                } else if (!strncmp(a, "--bootstrap-server", 18)) {
                        o->bootstrap = v;
                } else if (!strcmp(a, "--input-topics")) {
                        list_split(&o->inputs, v);
                } else if (!strcmp(a, "--internal-topics")) {
                        list_split(&o->internals, v);
                } else if (!strcmp(a, "--state-dir")) {
                        o->state_dir = v;
                } else if (!strcmp(a, "-X")) {
                        if (!strchr(v, '=') || *v == '=')
                                return bad_usage("-X \"%s\": expected "
                                                 "name=value",
                                                 v);
                        list_add(&o->props, v, strlen(v));
                } else if (!strcmp(a, "--to-offset")) {
                        o->to = TO_OFFSET, o->tos++;
                        if (!parse_int64(v, &o->value) || o->value < 0)
                                return bad_usage("--to-offset \"%s\": not an "
                                                 "offset (an integer >= 0)",
                                                 v);
                } else if (!strcmp(a, "--shift-by")) {
                        o->to = SHIFT_BY, o->tos++;
                        if (!parse_int64(v, &o->value))
                                return bad_usage("--shift-by \"%s\": not an "
                                                 "integer",
                                                 v);
                } else if (!strcmp(a, "--to-datetime")) {
                        o->to = TO_DATETIME, o->tos++;
                        if (!brook__reset_parse_datetime(v, &o->value))
                                return bad_usage(
                                        "--to-datetime \"%s\": expected "
                                        "YYYY-MM-DDTHH:mm:SS.sss, optionally "
                                        "with a zone (Z, +HH:mm, +HHmm; "
                                        "none: UTC)",
                                        v);
                } else if (!strcmp(a, "--by-duration")) {
                        int64_t d;
                        o->to = BY_DURATION, o->tos++;
                        if (!brook__reset_parse_duration(v, &d))
                                return bad_usage("--by-duration \"%s\": "
                                                 "expected an ISO-8601 "
                                                 "duration, PnDTnHnMnS",
                                                 v);
                        o->value = d;
                }
        }
        if (!o->app_id)
                return bad_usage("%s", "--application-id is required");
        /* It names topics and a directory the tool deletes: "." or ".."
         * or a slash would reach outside the application's own. */
        if (!brook__topic_name_ok(o->app_id))
                return bad_usage("--application-id \"%s\": not an "
                                 "application id (1 to 249 of a-z, A-Z, "
                                 "0-9, '.', '_' and '-'; not \".\" or "
                                 "\"..\")",
                                 o->app_id);
        if (o->tos > 1)
                return bad_usage("%s", "give at most one of --to-earliest, "
                                       "--to-latest, --to-offset, "
                                       "--to-datetime, --by-duration and "
                                       "--shift-by");
        return -1;
}

/* ------------------------------------------------------------ the work */

/* Kafka Streams' StreamsResetter.matchesInternalTopicFormat(), for topics
 * named "<application.id>-...". */
bool brook__reset_internal_format(const char *t)
{
        static const char *const suffixes[] = {
                "-changelog", "-repartition",
                "-subscription-registration-topic",
                "-subscription-response-topic"};
        static const char *const fk[] = {
                "-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-",
                "-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-"};
        size_t n = strlen(t), i;
        for (i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
                size_t m = strlen(suffixes[i]);
                if (n > m && !strcmp(t + n - m, suffixes[i]))
                        return true;
        }
        /* .+-KTABLE-FK-JOIN-SUBSCRIPTION-(REGISTRATION|RESPONSE)-\d+-topic:
         * the topics of foreign-key joins without a name. */
        if (n < 7 || strcmp(t + n - 6, "-topic"))
                return false;
        for (i = 0; i < sizeof fk / sizeof *fk; i++) {
                const char *end = t + n - 6, *d;
                const char *at = strstr(t + 1, fk[i]);
                if (!at)
                        continue;
                d = at + strlen(fk[i]);
                if (d == end)
                        continue;
                while (d < end && *d >= '0' && *d <= '9')
                        d++;
                if (d == end)
                        return true;
        }
        return false;
}

static rd_kafka_t *make_client(const opts_t *o)
{
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        char err[512];
        rd_kafka_t *rk;
        /* -X first: the group and its commits are the tool's. */
        for (size_t i = 0; i < o->props.cnt; i++) {
                char *eq = strchr(o->props.v[i], '=');
                *eq = '\0';
                if (rd_kafka_conf_set(c, o->props.v[i], eq + 1, err,
                                      sizeof err)) {
                        *eq = '=';
                        goto bad;
                }
                *eq = '=';
        }
        if (rd_kafka_conf_set(c, "bootstrap.servers", o->bootstrap, err,
                              sizeof err) ||
            rd_kafka_conf_set(c, "group.id", o->app_id, err, sizeof err) ||
            rd_kafka_conf_set(c, "enable.auto.commit", "false", err,
                              sizeof err) ||
            rd_kafka_conf_set(c, "client.id", "brook-reset", err, sizeof err))
                goto bad;
        /* rd_kafka_new() takes the conf only when it succeeds. */
        if ((rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err)))
                return rk;
        fprintf(stderr, "brook reset: cannot make a Kafka client: %s\n", err);
        rd_kafka_conf_destroy(c);
        return NULL;
bad:
        fprintf(stderr, "brook reset: %s\n", err);
        rd_kafka_conf_destroy(c);
        return NULL;
}

/* Refuses (false) while the group has members, as Kafka Streams' tool
 * (DescribeConsumerGroups). */
static bool group_inactive(rd_kafka_t *rk, const opts_t *o)
{
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(
                rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
        const rd_kafka_ConsumerGroupDescription_t **descs, *d;
        const rd_kafka_error_t *gerr;
        const char *group = o->app_id;
        rd_kafka_event_t *ev;
        size_t cnt, n, m;
        bool ok = false;

        rd_kafka_AdminOptions_set_request_timeout(ao, TIMEOUT_MS, NULL, 0);
        rd_kafka_DescribeConsumerGroups(rk, &group, 1, ao, q);
        ev = rd_kafka_queue_poll(q, TIMEOUT_MS + 5000);
        if (!ev || rd_kafka_event_error(ev)) {
                fprintf(stderr,
                        "brook reset: cannot describe consumer group "
                        "\"%s\": %s\n",
                        group,
                        ev ? rd_kafka_event_error_string(ev) : "timed out");
                goto out;
        }
        descs = rd_kafka_DescribeConsumerGroups_result_groups(
                rd_kafka_event_DescribeConsumerGroups_result(ev), &cnt);
        if (cnt != 1) {
                fprintf(stderr,
                        "brook reset: cannot describe consumer group "
                        "\"%s\": %zu descriptions\n",
                        group, cnt);
                goto out;
        }
        d = descs[0];
        gerr = rd_kafka_ConsumerGroupDescription_error(d);
        if (gerr &&
            rd_kafka_error_code(gerr) != RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
                fprintf(stderr,
                        "brook reset: cannot describe consumer group "
                        "\"%s\": %s\n",
                        group, rd_kafka_error_string(gerr));
                goto out;
        }
        n = gerr ? 0 : rd_kafka_ConsumerGroupDescription_member_count(d);
        if (n) {
                fprintf(stderr,
                        "brook reset: consumer group \"%s\" is still active "
                        "and has %zu member%s:",
                        group, n, n == 1 ? "" : "s");
                for (m = 0; m < n; m++) {
                        const rd_kafka_MemberDescription_t *md =
                                rd_kafka_ConsumerGroupDescription_member(d, m);
                        fprintf(stderr, "%s %s (%s at %s)", m ? "," : "",
                                rd_kafka_MemberDescription_consumer_id(md),
                                rd_kafka_MemberDescription_client_id(md),
                                rd_kafka_MemberDescription_host(md));
                }
                fprintf(stderr, ". Stop every instance of the application "
                                "first; a stopped instance leaves the group "
                                "when its session times out.\n");
                goto out;
        }
        ok = true;
out:
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(ao);
        rd_kafka_queue_destroy(q);
        return ok;
}

/* Refuses (false) while a process holds @p path's state db (RocksDB's
 * LOCK file carries a POSIX lock while a db is open). */
static bool state_unlocked(const char *path)
{
        char lock[PATH_MAX];
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        int fd;
        snprintf(lock, sizeof lock, "%s/rocksdb/LOCK", path);
        if ((fd = open(lock, O_RDONLY)) < 0) {
                if (errno == ENOENT)
                        return true;
                fprintf(stderr, "brook reset: cannot read \"%s\": %s\n", lock,
                        strerror(errno));
                return false;
        }
        if (!fcntl(fd, F_GETLK, &fl) && fl.l_type != F_UNLCK) {
                fprintf(stderr,
                        "brook reset: the local state \"%s\" is open in "
                        "process %ld on this machine; stop it first\n",
                        path, (long)fl.l_pid);
                close(fd);
                return false;
        }
        close(fd);
        return true;
}

static int rm_entry(const char *p, const struct stat *st, int flag,
                    struct FTW *ftw)
{
        (void)st, (void)flag, (void)ftw;
        if (remove(p)) {
                fprintf(stderr, "brook reset: cannot remove \"%s\": %s\n", p,
                        strerror(errno));
                return -1;
        }
        return 0;
}

/* The new offset of every partition of @p parts (their .offset), printed.
 * Returns false on an error (printed). */
static bool plan_offsets(rd_kafka_t *rk, const opts_t *o,
                         rd_kafka_topic_partition_list_t *parts)
{
        rd_kafka_topic_partition_list_t *times = NULL, *committed = NULL;
        rd_kafka_resp_err_t e;
        int i;

        if (o->to == TO_DATETIME || o->to == BY_DURATION) {
                int64_t ts = o->value;
                if (o->to == BY_DURATION) {
                        struct timespec now;
                        clock_gettime(CLOCK_REALTIME, &now);
                        if (__builtin_sub_overflow((int64_t)now.tv_sec * 1000 +
                                                           now.tv_nsec /
                                                                   1000000,
                                                   o->value, &ts))
                                ts = -1;
                }
                /* The broker reads -1, -2, -3 as latest, earliest and
                 * max timestamp: no time before 1970 gets there. */
                if (ts < 0) {
                        fprintf(stderr,
                                "brook reset: the time to reset to is "
                                "before 1970 (%" PRId64 " ms)\n",
                                ts);
                        return false;
                }
                times = rd_kafka_topic_partition_list_copy(parts);
                for (i = 0; i < times->cnt; i++)
                        times->elems[i].offset = ts;
                if ((e = rd_kafka_offsets_for_times(rk, times, TIMEOUT_MS))) {
                        fprintf(stderr,
                                "brook reset: looking up offsets by time: "
                                "%s\n",
                                rd_kafka_err2str(e));
                        rd_kafka_topic_partition_list_destroy(times);
                        return false;
                }
        } else if (o->to == SHIFT_BY) {
                committed = rd_kafka_topic_partition_list_copy(parts);
                e = rd_kafka_committed(rk, committed, TIMEOUT_MS);
                for (i = 0; !e && i < committed->cnt; i++)
                        e = committed->elems[i].err;
                if (e) {
                        fprintf(stderr,
                                "brook reset: reading the committed offsets "
                                "of group \"%s\": %s\n",
                                o->app_id, rd_kafka_err2str(e));
                        rd_kafka_topic_partition_list_destroy(committed);
                        return false;
                }
        }
        for (i = 0; i < parts->cnt; i++) {
                rd_kafka_topic_partition_t *p = &parts->elems[i];
                int64_t lo, hi, want = 0;
                e = rd_kafka_query_watermark_offsets(rk, p->topic, p->partition,
                                                     &lo, &hi, TIMEOUT_MS);
                if (e) {
                        fprintf(stderr,
                                "brook reset: reading the offsets of %s [%d]: "
                                "%s\n",
                                p->topic, (int)p->partition,
                                rd_kafka_err2str(e));
                        break;
                }
                switch (o->to) {
                case TO_EARLIEST:
                        want = lo;
                        break;
                case TO_LATEST:
                        want = hi;
                        break;
                case TO_OFFSET:
                        want = o->value;
                        break;
                case SHIFT_BY: {
                        int64_t c = committed->elems[i].offset;
                        /* Nothing committed: Kafka Streams' tool starts
                         * from its consumer's position, the end. */
                        if (c < 0)
                                c = hi;
                        if (__builtin_add_overflow(c, o->value, &want))
                                want = o->value < 0 ? lo : hi;
                        break;
                }
                case TO_DATETIME:
                case BY_DURATION:
                        want = times->elems[i].offset;
                        if (times->elems[i].err) {
                                fprintf(stderr,
                                        "brook reset: looking up the offset "
                                        "of %s [%d] by time: %s\n",
                                        p->topic, (int)p->partition,
                                        rd_kafka_err2str(times->elems[i].err));
                                goto done;
                        }
                        if (want < 0) {
                                printf("Partition %d from topic %s is empty, "
                                       "without a committed record. Falling "
                                       "back to latest known offset.\n",
                                       (int)p->partition, p->topic);
                                want = hi;
                        }
                        break;
                }
                if (want < lo) {
                        printf("New offset (%" PRId64 ") is lower than "
                               "earliest offset. Value will be set to "
                               "%" PRId64 "\n",
                               want, lo);
                        want = lo;
                } else if (want > hi) {
                        printf("New offset (%" PRId64 ") is higher than "
                               "latest offset. Value will be set to "
                               "%" PRId64 "\n",
                               want, hi);
                        want = hi;
                }
                p->offset = want;
        }
done:
        if (times)
                rd_kafka_topic_partition_list_destroy(times);
        if (committed)
                rd_kafka_topic_partition_list_destroy(committed);
        return i == parts->cnt;
}

static bool commit_offsets(rd_kafka_t *rk, const opts_t *o,
                           rd_kafka_topic_partition_list_t *parts)
{
        /* A failed partition fails the call (librdkafka commits a copy of
         * the list). */
        rd_kafka_resp_err_t e = rd_kafka_commit(rk, parts, 0);
        if (e)
                fprintf(stderr,
                        "brook reset: committing the new offsets for group "
                        "\"%s\": %s\n",
                        o->app_id, rd_kafka_err2str(e));
        return !e;
}

static bool delete_topics(rd_kafka_t *rk, const list_t *topics)
{
        rd_kafka_DeleteTopic_t **dt = calloc(topics->cnt, sizeof *dt);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *ao =
                rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
        const rd_kafka_DeleteTopics_result_t *res;
        const rd_kafka_topic_result_t **tr;
        rd_kafka_event_t *ev;
        size_t i, n;
        bool ok = true;

        rd_kafka_AdminOptions_set_operation_timeout(ao, TIMEOUT_MS, NULL, 0);
        rd_kafka_AdminOptions_set_request_timeout(ao, TIMEOUT_MS, NULL, 0);
        for (i = 0; i < topics->cnt; i++)
                dt[i] = rd_kafka_DeleteTopic_new(topics->v[i]);
        rd_kafka_DeleteTopics(rk, dt, topics->cnt, ao, q);
        ev = rd_kafka_queue_poll(q, TIMEOUT_MS + 5000);
        if (!ev || rd_kafka_event_error(ev)) {
                fprintf(stderr,
                        "brook reset: deleting the internal topics: %s\n",
                        ev ? rd_kafka_event_error_string(ev) : "timed out");
                ok = false;
        } else {
                res = rd_kafka_event_DeleteTopics_result(ev);
                tr = rd_kafka_DeleteTopics_result_topics(res, &n);
                for (i = 0; i < n; i++)
                        if (rd_kafka_topic_result_error(tr[i])) {
                                fprintf(stderr,
                                        "brook reset: ERROR: deleting topic "
                                        "%s: %s\n",
                                        rd_kafka_topic_result_name(tr[i]),
                                        rd_kafka_topic_result_error_string(
                                                tr[i]));
                                ok = false;
                        }
        }
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_DeleteTopic_destroy_array(dt, topics->cnt);
        free(dt);
        rd_kafka_AdminOptions_destroy(ao);
        rd_kafka_queue_destroy(q);
        return ok;
}

static int run(const opts_t *o, rd_kafka_t *rk)
{
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_partition_list_t *parts =
                rd_kafka_topic_partition_list_new(16);
        list_t found = {0}, missing = {0}, inferred = {0};
        const list_t *doomed;
        char state[PATH_MAX] = "";
        struct stat st;
        bool have_state = false;
        rd_kafka_resp_err_t e;
        int rc = 1, i, j;

        if (o->dry_run)
                printf("----Dry run displays the actions which will be "
                       "performed when running Streams Reset Tool----\n");
        /* 1. Checks, before any change. */
        if (!group_inactive(rk, o))
                goto out;
        if ((e = rd_kafka_metadata(rk, 1, NULL, &md, TIMEOUT_MS))) {
                fprintf(stderr, "brook reset: reading the topics: %s\n",
                        rd_kafka_err2str(e));
                goto out;
        }
        for (size_t k = 0; k < o->inputs.cnt; k++) {
                bool there = false;
                for (i = 0; i < md->topic_cnt && !there; i++) {
                        const rd_kafka_metadata_topic_t *t = &md->topics[i];
                        if (strcmp(t->topic, o->inputs.v[k]))
                                continue;
                        if (t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                                break;
                        if (t->err) {
                                fprintf(stderr,
                                        "brook reset: input topic \"%s\": "
                                        "%s\n",
                                        t->topic, rd_kafka_err2str(t->err));
                                goto out;
                        }
                        there = true;
                        for (j = 0; j < t->partition_cnt; j++)
                                rd_kafka_topic_partition_list_add(
                                        parts, t->topic, t->partitions[j].id);
                }
                list_add(there ? &found : &missing, o->inputs.v[k],
                         strlen(o->inputs.v[k]));
        }
        for (i = 0; i < md->topic_cnt; i++) {
                const char *t = md->topics[i].topic;
                size_t n = strlen(o->app_id);
                if (!strncmp(t, o->app_id, n) && t[n] == '-' &&
                    brook__reset_internal_format(t) && !list_has(&o->inputs, t))
                        list_add(&inferred, t, strlen(t));
        }
        for (size_t k = 0; k < o->internals.cnt; k++)
                if (!list_has(&inferred, o->internals.v[k])) {
                        fprintf(stderr,
                                "brook reset: Invalid topic specified in the "
                                "--internal-topics option: \"%s\" is not an "
                                "internal topic of application \"%s\". Do a "
                                "dry run without --internal-topics to see "
                                "the internal topics that can be deleted.\n",
                                (const char *)o->internals.v[k], o->app_id);
                        goto out;
                }
        if (o->state_dir) {
                if ((size_t)snprintf(state, sizeof state, "%s/%s", o->state_dir,
                                     o->app_id) >= sizeof state) {
                        fprintf(stderr, "brook reset: --state-dir is too "
                                        "long\n");
                        goto out;
                }
                have_state = !stat(state, &st) && S_ISDIR(st.st_mode);
                if (have_state && !state_unlocked(state))
                        goto out;
        }

        /* 2. The input offsets. */
        if (missing.cnt) {
                /* As Kafka Streams' tool: the rest goes on, the exit code
                 * says it. */
                printf("Following input topics are not found, skipping "
                       "them\n");
                for (size_t k = 0; k < missing.cnt; k++)
                        printf("Topic: %s\n", (const char *)missing.v[k]);
        }
        if (!found.cnt) {
                printf("No input or intermediate topics specified. Skipping "
                       "seek.\n");
        } else {
                printf("Reset-offsets for input topics ");
                list_print(stdout, &found);
                printf("\nFollowing input topics offsets will be reset to "
                       "(for consumer group %s)\n",
                       o->app_id);
                if (!plan_offsets(rk, o, parts))
                        goto out;
                for (i = 0; i < parts->cnt; i++)
                        printf("Topic: %s Partition: %d Offset: %" PRId64 "\n",
                               parts->elems[i].topic,
                               (int)parts->elems[i].partition,
                               parts->elems[i].offset);
                if (!o->dry_run && !commit_offsets(rk, o, parts))
                        goto out;
        }
        printf("Done.\n");

        /* 3. The internal topics. */
        doomed = o->internals.cnt ? &o->internals : &inferred;
        printf("Deleting %s internal topics ",
               o->internals.cnt ? "specified" : "inferred");
        list_print(stdout, doomed);
        putchar('\n');
        if (!o->dry_run && doomed->cnt && !delete_topics(rk, doomed))
                goto out;
        printf("Done.\n");

        /* 4. The local state. */
        if (o->state_dir) {
                if (!have_state) {
                        printf("No local state in %s\n", state);
                } else {
                        printf("Deleting local state %s\n", state);
                        if (!o->dry_run &&
                            nftw(state, rm_entry, 16, FTW_DEPTH | FTW_PHYS))
                                goto out;
                }
                printf("Done.\n");
        }
        rc = missing.cnt ? 1 : 0;
out:
        fflush(stdout);
        if (md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_partition_list_destroy(parts);
        list_free(&found);
        list_free(&missing);
        list_free(&inferred);
        return rc;
}

int brook_cli_reset(int argc, char **argv)
{
        opts_t o = {0};
        rd_kafka_t *rk;
        int rc = parse_args(argc, argv, &o);
        if (rc < 0) {
                rc = 1;
                if ((rk = make_client(&o))) {
                        rc = run(&o, rk);
                        rd_kafka_destroy(rk);
                }
        }
        list_free(&o.inputs);
        list_free(&o.internals);
        list_free(&o.props);
        return rc;
}
