/*
 * brook — the application (Kafka Streams' KafkaStreams): validation,
 * start-up checks and internal topics through the Admin API, threads,
 * state, signals and shutdown.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app_int.h"
#include "store_int.h"

static brook_err_t brook__app_open_state(brook_app_t *app, char *errstr,
                                         size_t errstr_size);

brook_app_t *brook_app_new(brook_builder_t *b, brook_conf_t *conf, char *errstr,
                           size_t errstr_size)
{
        brook_app_t *app;
        const char *v;

        if (!b || !conf) {
                brook__seterr(errstr, errstr_size,
                              "brook_app_new: a builder and a conf are "
                              "required");
                return NULL;
        }
        if ((v = brook__conf_error(conf))) {
                brook__seterr(errstr, errstr_size, "%s", v);
                return NULL;
        }
        if (!(v = brook_conf_get(conf, "application.id")) || !*v) {
                brook__seterr(errstr, errstr_size,
                              "Missing required configuration property "
                              "\"application.id\"");
                return NULL;
        }
        if (!(v = brook_conf_get(conf, "bootstrap.servers")) || !*v) {
                brook__seterr(errstr, errstr_size,
                              "Missing required configuration property "
                              "\"bootstrap.servers\"");
                return NULL;
        }

        app = brook__xcalloc(1, sizeof *app);
        if (brook__topology_build(&app->topo, b, conf, errstr, errstr_size)) {
                free(app);
                return NULL;
        }
        app->b = b;
        app->conf = conf;
        app->app_id = brook__xstrdup(brook_conf_get(conf, "application.id"));
        app->client_id = brook__xstrdup(brook_conf_get(conf, "client.id"));
        app->state = BROOK_APP_CREATED;
        pthread_mutex_init(&app->lock, NULL);
        pthread_mutex_init(&app->listen_lock, NULL);
        pthread_cond_init(&app->cond, NULL);
        pthread_mutex_init(&app->iq_lock, NULL);
        pthread_mutex_init(&app->wake_lock, NULL);
        atomic_init(&app->stopping, false);
        atomic_init(&app->stop_at, 0);
        return app;
}

/* ------------------------------------------------------------- stopping */

/* Signals received since brook_app_run() installed its handlers. The
 * handler increments it with one lock-free atomic read-modify-write, which
 * is async-signal-safe (C11 7.14.1.1), so two signals arriving together
 * (SIGINT and SIGTERM may interrupt each other's handler) still count two.
 */
static atomic_int brook__signals;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2,
               "the signal counter must be lock-free to be signal-safe");

void brook__app_request_stop(brook_app_t *app)
{
        long long zero = 0;
        /* The clock starts once; later calls keep the first deadline. */
        atomic_compare_exchange_strong(&app->stop_at, &zero,
                                       (long long)brook__now_mono_ms());
        atomic_store(&app->stopping, true);
        /* A thread waiting in its poll sees the stop now, not after up to
         * poll.ms. */
        pthread_mutex_lock(&app->wake_lock);
        for (int i = 0; i < app->waker_cnt; i++)
                if (app->wakers[i])
                        rd_kafka_queue_yield(app->wakers[i]);
        pthread_mutex_unlock(&app->wake_lock);
}

void brook__app_set_waker(brook_app_t *app, int idx, rd_kafka_queue_t *q)
{
        pthread_mutex_lock(&app->wake_lock);
        if (idx >= 0 && idx < app->waker_cnt)
                app->wakers[idx] = q;
        pthread_mutex_unlock(&app->wake_lock);
}

bool brook__app_should_stop(brook_app_t *app)
{
        return atomic_load(&app->stopping) ||
               (app->watch_signals && atomic_load(&brook__signals));
}

int64_t brook__app_stop_deadline(brook_app_t *app)
{
        int64_t at = (int64_t)atomic_load(&app->stop_at);
        if (!at)
                return INT64_MAX;
        return at + brook__conf_int(app->conf, "shutdown.timeout.ms");
}

_Thread_local int64_t brook__own_stop_at;

int64_t brook__app_stop_left(brook_app_t *app, int64_t otherwise)
{
        int64_t deadline = brook__app_stop_deadline(app), now;
        if (deadline == INT64_MAX && brook__own_stop_at)
                deadline = brook__own_stop_at;
        if (deadline == INT64_MAX)
                return otherwise;
        now = brook__now_mono_ms();
        return deadline > now ? deadline - now : 0;
}

/* Sleeps @p ms in short steps; returns false (early) if a stop is asked
 * for meanwhile. */
static bool brook__app_nap(brook_app_t *app, int ms)
{
        for (; ms > 0; ms -= 50) {
                if (brook__app_should_stop(app))
                        return false;
                usleep((useconds_t)(ms < 50 ? ms : 50) * 1000);
        }
        return !brook__app_should_stop(app);
}

/* ------------------------------------------------------------- start-up */

/* The partition count of @p topic in @p md, or -1 if it does not exist. */
static int32_t brook__md_partitions(const struct rd_kafka_metadata *md,
                                    const char *topic)
{
        int i;
        for (i = 0; i < md->topic_cnt; i++)
                if (!strcmp(md->topics[i].topic, topic))
                        return md->topics[i].err ? -1
                                                 : md->topics[i].partition_cnt;
        return -1;
}

/* Partition counts of sub-topologies fed by external topics; checks that
 * topics read together are co-partitioned (Kafka Streams'
 * CopartitionedTopicsEnforcer). */
static brook_err_t brook__resolve_external(brook_app_t *app,
                                           const struct rd_kafka_metadata *md,
                                           char *errstr, size_t errstr_size)
{
        size_t s, i, j;
        int t;
        for (s = 0; s < app->topo.sub_cnt; s++) {
                brook__subtopo_t *sub = &app->topo.subs[s];
                const char *first = NULL;
                sub->partitions = 0;
                for (i = 0; i < sub->sources.cnt; i++) {
                        brook__node_t *src = sub->sources.v[i];
                        if (src->internal)
                                continue;
                        for (j = 0; j < src->topic_cnt; j++) {
                                int32_t n = brook__md_partitions(
                                        md, src->topics[j]);
                                if (n < 0) {
                                        brook__seterr(
                                                errstr, errstr_size,
                                                "source topic \"%s\" (source "
                                                "\"%s\") does not exist",
                                                src->topics[j], src->name);
                                        /* Callers retry: a topic just
                                         * created may not be in metadata
                                         * yet. */
                                        return BROOK_ERR_NOT_FOUND;
                                }
                                if (sub->partitions && n != sub->partitions) {
                                        brook__seterr(
                                                errstr, errstr_size,
                                                "topics \"%s\" (%" PRId32
                                                " partitions) and \"%s\" "
                                                "(%" PRId32
                                                " partitions) are read by "
                                                "sub-topology %d and must be "
                                                "co-partitioned: give them "
                                                "the same partition count",
                                                first, sub->partitions,
                                                src->topics[j], n, sub->id);
                                        return BROOK_ERR_TOPOLOGY;
                                }
                                sub->partitions = n;
                                first = src->topics[j];
                        }
                        if (!src->pattern)
                                continue;
                        for (t = 0; t < md->topic_cnt; t++) {
                                int32_t n = md->topics[t].partition_cnt;
                                if (md->topics[t].err ||
                                    regexec(&src->regex, md->topics[t].topic, 0,
                                            NULL, 0))
                                        continue;
                                if (n > sub->partitions)
                                        sub->partitions = n;
                        }
                }
        }
        return BROOK_OK;
}

/* The sink that writes the repartition topic @p suffix. */
static brook__node_t *brook__internal_sink(brook_app_t *app, const char *suffix)
{
        size_t i;
        for (i = 0; i < app->b->nodes.cnt; i++) {
                brook__node_t *n = app->b->nodes.v[i];
                if (n->kind == BROOK__NODE_SINK && n->sink_internal &&
                    !strcmp(n->topic, suffix))
                        return n;
        }
        return NULL;
}

/* Whether sub-topology @p sub reads a topic brook does not create. */
static bool brook__sub_external(const brook__subtopo_t *sub)
{
        size_t i;
        for (i = 0; i < sub->sources.cnt; i++)
                if (!((brook__node_t *)sub->sources.v[i])->internal)
                        return true;
        return false;
}

/* Whether sub-topology @p sub joins (its topics are one co-partition
 * group). */
static bool brook__sub_joins(const brook__subtopo_t *sub)
{
        size_t i;
        for (i = 0; i < sub->nodes.cnt; i++)
                if (((brook__node_t *)sub->nodes.v[i])->copartition)
                        return true;
        return false;
}

/* A join's sub-topology that reads repartition topics only: as Kafka
 * Streams' CopartitionedTopicsEnforcer, a partition count fixed for one of
 * them (brook_repartitioned_t.num_partitions) is the group's; two fixed
 * counts that differ are an error. *@p fixedp: that count, or 0. */
static brook_err_t brook__sub_fixed(brook_app_t *app,
                                    const brook__subtopo_t *sub,
                                    int32_t *fixedp, char *errstr,
                                    size_t errstr_size)
{
        const char *first = NULL;
        size_t i;
        *fixedp = 0;
        for (i = 0; i < sub->sources.cnt; i++) {
                brook__node_t *src = sub->sources.v[i];
                brook__node_t *sink;
                int32_t n;
                if (!src->internal ||
                    !(sink = brook__internal_sink(app, src->topics[0])))
                        continue;
                n = sink->repartition_num_partitions;
                if (!n)
                        continue;
                if (*fixedp && n != *fixedp) {
                        brook__seterr(errstr, errstr_size,
                                      "repartition topics \"%s-%s\" (%" PRId32
                                      " partitions) and \"%s-%s\" (%" PRId32
                                      " partitions) are joined by "
                                      "sub-topology %d and must be "
                                      "co-partitioned: give them the same "
                                      "num_partitions",
                                      app->app_id, first, *fixedp, app->app_id,
                                      src->topics[0], n, sub->id);
                        return BROOK_ERR_TOPOLOGY;
                }
                *fixedp = n;
                first = src->topics[0];
        }
        return BROOK_OK;
}

/* Partition counts of sub-topologies fed by repartition topics: the
 * configured number, else the writer's (to a fixed point, for chains).
 * A join's sub-topology is one co-partition group (Kafka Streams'
 * CopartitionedTopicsEnforcer): if it also reads an external topic (a
 * stream repartitioned to join a table), its repartition topics take that
 * topic's count, and a configured number that differs is an error; if it
 * reads repartition topics only, a configured number is the group's. */
static brook_err_t brook__resolve_internal(brook_app_t *app, char *errstr,
                                           size_t errstr_size)
{
        bool changed = true;
        brook_err_t err;
        size_t s, i;
        for (s = 0; s < app->topo.sub_cnt; s++) {
                brook__subtopo_t *sub = &app->topo.subs[s];
                int32_t fixed;
                if (!brook__sub_joins(sub) || brook__sub_external(sub))
                        continue;
                if ((err = brook__sub_fixed(app, sub, &fixed, errstr,
                                            errstr_size)))
                        return err;
                if (fixed)
                        sub->partitions = fixed;
        }
        while (changed) {
                changed = false;
                for (s = 0; s < app->topo.sub_cnt; s++) {
                        brook__subtopo_t *sub = &app->topo.subs[s];
                        bool joins = brook__sub_joins(sub);
                        bool external = joins && brook__sub_external(sub);
                        int32_t fixed = 0;
                        for (i = 0; i < sub->sources.cnt; i++) {
                                brook__node_t *src = sub->sources.v[i];
                                brook__node_t *sink;
                                int32_t n;
                                if (!src->internal)
                                        continue;
                                sink = brook__internal_sink(app,
                                                            src->topics[0]);
                                if (!sink)
                                        continue;
                                if (external) {
                                        n = sink->repartition_num_partitions;
                                        if (n && n != sub->partitions) {
                                                brook__seterr(
                                                        errstr, errstr_size,
                                                        "repartition topic "
                                                        "\"%s-%s\" is set to "
                                                        "%" PRId32
                                                        " partitions, but "
                                                        "sub-topology %d "
                                                        "joins it with "
                                                        "topics of %" PRId32
                                                        ": they must be "
                                                        "co-partitioned",
                                                        app->app_id,
                                                        src->topics[0], n,
                                                        sub->id,
                                                        sub->partitions);
                                                return BROOK_ERR_TOPOLOGY;
                                        }
                                        continue;
                                }
                                /* A join's fixed count stays. */
                                if (joins &&
                                    brook__sub_fixed(app, sub, &fixed, errstr,
                                                     errstr_size) == BROOK_OK &&
                                    fixed)
                                        continue;
                                n = sink->repartition_num_partitions
                                            ? sink->repartition_num_partitions
                                            : app->topo.subs[sink->subtopology]
                                                      .partitions;
                                if (n > sub->partitions) {
                                        sub->partitions = n;
                                        changed = true;
                                }
                        }
                }
        }
        return BROOK_OK;
}

/* Topics brook creates, with their partition counts and configs. */
typedef struct brook__newtopic {
        char *name;
        int32_t partitions;
        const char *cleanup_policy;
        /** retention.ms, or -1: the broker's default. */
        int64_t retention_ms;
        /** min.compaction.lag.ms, or -1: the broker's default. */
        int64_t min_compaction_lag_ms;
        brook__storedef_t *store; /**< The changelog's store, or NULL. */
} brook__newtopic_t;

static brook_err_t brook__create_topics(brook_app_t *app, rd_kafka_t *rk,
                                        const struct rd_kafka_metadata *md,
                                        brook__newtopic_t *want, size_t cnt,
                                        int replication, char *errstr,
                                        size_t errstr_size)
{
        rd_kafka_NewTopic_t **nts = brook__xcalloc(cnt, sizeof *nts);
        rd_kafka_queue_t *rkqu = rd_kafka_queue_new(rk);
        rd_kafka_event_t *ev;
        const rd_kafka_CreateTopics_result_t *res;
        const rd_kafka_topic_result_t **tres;
        size_t i, n = 0, tcnt;
        brook_err_t err = BROOK_OK;
        rd_kafka_resp_err_t kerr;
        char why[512];
        int waited;

        for (i = 0; i < cnt; i++) {
                int32_t have = brook__md_partitions(md, want[i].name);
                if (have >= 0) {
                        if (have != want[i].partitions) {
                                brook__seterr(
                                        errstr, errstr_size,
                                        "internal topic \"%s\" exists "
                                        "with %" PRId32
                                        " partitions, but %" PRId32
                                        " are needed%s%s%s: delete it "
                                        "or fix the topology",
                                        want[i].name, have, want[i].partitions,
                                        want[i].store ? " (one per task of "
                                                        "store \""
                                                      : "",
                                        want[i].store ? want[i].store->name
                                                      : "",
                                        want[i].store ? "\")" : "");
                                err = BROOK_ERR_TOPOLOGY;
                                goto out;
                        }
                        continue;
                }
                nts[n] = rd_kafka_NewTopic_new(want[i].name, want[i].partitions,
                                               replication, why, sizeof why);
                if (!nts[n]) {
                        brook__seterr(errstr, errstr_size,
                                      "cannot create topic \"%s\": %s",
                                      want[i].name, why);
                        err = BROOK_ERR_KAFKA;
                        goto out;
                }
                if ((kerr = rd_kafka_NewTopic_set_config(
                             nts[n], "cleanup.policy",
                             want[i].cleanup_policy))) {
                        brook__seterr(errstr, errstr_size,
                                      "cannot create topic \"%s\": "
                                      "cleanup.policy=%s: %s",
                                      want[i].name, want[i].cleanup_policy,
                                      rd_kafka_err2str(kerr));
                        rd_kafka_NewTopic_destroy(nts[n]);
                        err = BROOK_ERR_KAFKA;
                        goto out;
                }
                if (want[i].min_compaction_lag_ms >= 0) {
                        char ms[24];
                        snprintf(ms, sizeof ms, "%" PRId64,
                                 want[i].min_compaction_lag_ms);
                        if ((kerr = rd_kafka_NewTopic_set_config(
                                     nts[n], "min.compaction.lag.ms", ms))) {
                                brook__seterr(errstr, errstr_size,
                                              "cannot create topic \"%s\": "
                                              "min.compaction.lag.ms=%s: %s",
                                              want[i].name, ms,
                                              rd_kafka_err2str(kerr));
                                rd_kafka_NewTopic_destroy(nts[n]);
                                err = BROOK_ERR_KAFKA;
                                goto out;
                        }
                }
                if (want[i].retention_ms >= 0) {
                        char ms[24];
                        snprintf(ms, sizeof ms, "%" PRId64,
                                 want[i].retention_ms);
                        if ((kerr = rd_kafka_NewTopic_set_config(
                                     nts[n], "retention.ms", ms))) {
                                brook__seterr(errstr, errstr_size,
                                              "cannot create topic \"%s\": "
                                              "retention.ms=%s: %s",
                                              want[i].name, ms,
                                              rd_kafka_err2str(kerr));
                                rd_kafka_NewTopic_destroy(nts[n]);
                                err = BROOK_ERR_KAFKA;
                                goto out;
                        }
                }
                n++;
        }
        if (!n)
                goto out;
        rd_kafka_CreateTopics(rk, nts, n, NULL, rkqu);
        /* In short steps, so that a stop asked for meanwhile (a signal
         * during start-up) is not kept waiting. */
        for (waited = 0, ev = NULL; !ev && waited < 60000; waited += 200) {
                if (brook__app_should_stop(app)) {
                        brook__seterr(errstr, errstr_size,
                                      "stopped during start-up");
                        err = BROOK_ERR_STATE;
                        goto out;
                }
                ev = rd_kafka_queue_poll(rkqu, 200);
        }
        if (!ev) {
                brook__seterr(errstr, errstr_size,
                              "creating internal topics timed out");
                err = BROOK_ERR_TIMED_OUT;
                goto out;
        }
        if (rd_kafka_event_error(ev)) {
                brook__seterr(errstr, errstr_size,
                              "creating internal topics failed: %s",
                              rd_kafka_event_error_string(ev));
                err = BROOK_ERR_KAFKA;
                rd_kafka_event_destroy(ev);
                goto out;
        }
        res = rd_kafka_event_CreateTopics_result(ev);
        tres = rd_kafka_CreateTopics_result_topics(res, &tcnt);
        for (i = 0; i < tcnt; i++) {
                rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tres[i]);
                /* Another instance may have created it first. */
                if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                        brook__seterr(
                                errstr, errstr_size,
                                "creating topic \"%s\" failed: %s",
                                rd_kafka_topic_result_name(tres[i]),
                                rd_kafka_topic_result_error_string(tres[i]));
                        err = BROOK_ERR_KAFKA;
                        break;
                }
        }
        rd_kafka_event_destroy(ev);
out:
        for (i = 0; i < n; i++)
                rd_kafka_NewTopic_destroy(nts[i]);
        free(nts);
        rd_kafka_queue_destroy(rkqu);
        return err;
}

static bool brook__uses_dead_letter(const brook_conf_t *conf)
{
        return brook__conf_handler(conf,
                                   "default.deserialization.exception."
                                   "handler") == BROOK__HANDLER_DEAD_LETTER ||
               brook__conf_handler(conf,
                                   "default.processing.exception."
                                   "handler") == BROOK__HANDLER_DEAD_LETTER ||
               brook__conf_handler(conf,
                                   "default.production.exception."
                                   "handler") == BROOK__HANDLER_DEAD_LETTER;
}

/* Checks sources, creates internal topics, builds the subscription. */
static brook_err_t brook__app_prepare(brook_app_t *app, char *errstr,
                                      size_t errstr_size)
{
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_t *rk;
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t kerr;
        brook__newtopic_t *want = NULL;
        size_t want_cnt = 0, i, j;
        brook_err_t err;
        char why[512];
        int attempt;

        if ((err = brook__conf_apply_rdkafka(app->conf, "admin", c, errstr,
                                             errstr_size))) {
                rd_kafka_conf_destroy(c);
                return err;
        }
        if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, why, sizeof why))) {
                rd_kafka_conf_destroy(c);
                brook__seterr(errstr, errstr_size, "admin client: %s", why);
                return BROOK_ERR_KAFKA;
        }
        /* A source topic missing from metadata is retried for a few
         * seconds: topics created just before start-up take a moment to
         * reach every broker's metadata cache. Every wait is a short step
         * that looks for a stop first (a signal during start-up). */
        for (attempt = 0;; attempt++) {
                int64_t began = brook__now_mono_ms();
                int step = 500;
                for (;;) {
                        if (brook__app_should_stop(app)) {
                                brook__seterr(errstr, errstr_size,
                                              "stopped during start-up");
                                rd_kafka_destroy(rk);
                                return BROOK_ERR_STATE;
                        }
                        kerr = rd_kafka_metadata(rk, 1, NULL, &md, step);
                        if (kerr != RD_KAFKA_RESP_ERR__TIMED_OUT &&
                            kerr != RD_KAFKA_RESP_ERR__TRANSPORT)
                                break;
                        if (brook__now_mono_ms() - began >= 30000)
                                break;
                        /* A refused connection fails at once: pace it. */
                        if (kerr == RD_KAFKA_RESP_ERR__TRANSPORT)
                                brook__app_nap(app, 200);
                        step = 1000;
                }
                if (kerr) {
                        brook__seterr(
                                errstr, errstr_size,
                                "cannot reach the Kafka cluster at "
                                "\"%s\": %s",
                                brook_conf_get(app->conf, "bootstrap.servers"),
                                rd_kafka_err2str(kerr));
                        rd_kafka_destroy(rk);
                        return BROOK_ERR_KAFKA;
                }
                err = brook__resolve_external(app, md, errstr, errstr_size);
                if (err != BROOK_ERR_NOT_FOUND || attempt == 10)
                        break;
                rd_kafka_metadata_destroy(md);
                md = NULL;
                if (!brook__app_nap(app, 500)) {
                        brook__seterr(errstr, errstr_size,
                                      "stopped during start-up");
                        err = BROOK_ERR_STATE;
                        goto out;
                }
        }
        if (err == BROOK_ERR_NOT_FOUND)
                err = BROOK_ERR_TOPOLOGY;
        if (err || (err = brook__resolve_internal(app, errstr, errstr_size)))
                goto out;

        want = brook__xcalloc(app->b->nodes.cnt + app->b->stores.cnt + 2,
                              sizeof *want);
        /* Changelogs: compacted, a partition per task of the store's
         * sub-topology. */
        for (i = 0; i < app->b->stores.cnt; i++) {
                brook__storedef_t *def = app->b->stores.v[i];
                if (!def->logging)
                        continue;
                want[want_cnt].name =
                        brook__changelog_topic(app->app_id, def->name);
                want[want_cnt].partitions = 0; /* Set below. */
                want[want_cnt].cleanup_policy = "compact";
                want[want_cnt].retention_ms = -1;
                want[want_cnt].min_compaction_lag_ms = -1;
                if (def->kind == BROOK__STORE_VERSIONED) {
                        /* Kafka Streams' VersionedChangelogTopicConfig:
                         * the history stays uncompacted for the history
                         * retention plus a day. */
                        const int64_t day = 24 * 60 * 60 * 1000LL;
                        want[want_cnt].min_compaction_lag_ms =
                                def->retention_ms > INT64_MAX - day
                                        ? INT64_MAX
                                        : def->retention_ms + day;
                } else if (def->kind != BROOK__STORE_KV) {
                        /* Kafka Streams' window changelogs: compacted, and
                         * deleted past the store's retention plus a
                         * margin. */
                        want[want_cnt].cleanup_policy = "compact,delete";
                        /* A store that keeps every put (a stream-stream
                         * join's) is never compacted, as in Kafka Streams'
                         * StreamJoinedStoreFactory. */
                        if (def->retain_duplicates)
                                want[want_cnt].cleanup_policy = "delete";
                        want[want_cnt].retention_ms =
                                def->retention_ms +
                                brook__conf_int(app->conf,
                                                "windowstore.changelog."
                                                "additional.retention.ms");
                }
                want[want_cnt].store = def;
                want_cnt++;
        }
        for (i = 0; i < app->b->nodes.cnt; i++) {
                brook__node_t *n = app->b->nodes.v[i];
                if (n->kind != BROOK__NODE_SOURCE || !n->internal)
                        continue;
                want[want_cnt].name = brook__topology_internal_topic(
                        &app->topo, n->topics[0]);
                want[want_cnt].partitions =
                        app->topo.subs[n->subtopology].partitions;
                want[want_cnt].cleanup_policy = "delete";
                want[want_cnt].retention_ms = -1;
                want[want_cnt].min_compaction_lag_ms = -1;
                if (want[want_cnt].partitions < 1) {
                        brook__seterr(errstr, errstr_size,
                                      "cannot tell how many partitions "
                                      "repartition topic \"%s\" needs: set "
                                      "brook_repartitioned_t.num_partitions",
                                      want[want_cnt].name);
                        free(want[want_cnt].name);
                        err = BROOK_ERR_TOPOLOGY;
                        goto out;
                }
                want_cnt++;
        }
        for (i = 0; i < want_cnt; i++)
                if (want[i].store)
                        want[i].partitions =
                                app->topo.subs[want[i].store->subtopology]
                                        .partitions;
        if (brook__uses_dead_letter(app->conf)) {
                const char *dlq = brook_conf_get(
                        app->conf, "errors.deadletterqueue.topic.name");
                int32_t have = brook__md_partitions(md, dlq);
                /* A user's existing DLQ topic is used as it is. */
                if (have < 0) {
                        want[want_cnt].name = brook__xstrdup(dlq);
                        want[want_cnt].partitions = (int32_t)brook__conf_int(
                                app->conf,
                                "errors.deadletterqueue.topic.partitions");
                        want[want_cnt].cleanup_policy = "delete";
                        want[want_cnt].retention_ms = -1;
                        want[want_cnt].min_compaction_lag_ms = -1;
                        want_cnt++;
                }
        }
        /* Remote queries' directory of instances and the shutdown signal
         * (engine/instances.c): one record per instance, compacted. */
        if (brook__instances_wanted(app)) {
                size_t len = strlen(app->app_id) +
                             strlen(brook__instances_topic_suffix()) + 1;
                want[want_cnt].name = brook__xmalloc(len);
                snprintf(want[want_cnt].name, len, "%s%s", app->app_id,
                         brook__instances_topic_suffix());
                want[want_cnt].partitions = 1;
                want[want_cnt].cleanup_policy = "compact";
                want[want_cnt].retention_ms = -1;
                want[want_cnt].min_compaction_lag_ms = -1;
                want_cnt++;
        }
        if ((err = brook__create_topics(
                     app, rk, md, want, want_cnt,
                     (int)brook__conf_int(app->conf, "replication.factor"),
                     errstr, errstr_size)))
                goto out;

        app->subscription = rd_kafka_topic_partition_list_new(8);
        for (i = 0; i < app->b->nodes.cnt; i++) {
                brook__node_t *n = app->b->nodes.v[i];
                /* The global thread reads global tables' topics. */
                if (n->kind != BROOK__NODE_SOURCE || n->global)
                        continue;
                if (n->pattern) {
                        char *re = brook__xmalloc(strlen(n->pattern) + 5);
                        sprintf(re, "^(%s)$", n->pattern);
                        rd_kafka_topic_partition_list_add(
                                app->subscription, re, RD_KAFKA_PARTITION_UA);
                        free(re);
                } else if (n->internal) {
                        char *t = brook__topology_internal_topic(&app->topo,
                                                                 n->topics[0]);
                        rd_kafka_topic_partition_list_add(
                                app->subscription, t, RD_KAFKA_PARTITION_UA);
                        free(t);
                } else {
                        for (j = 0; j < n->topic_cnt; j++)
                                rd_kafka_topic_partition_list_add(
                                        app->subscription, n->topics[j],
                                        RD_KAFKA_PARTITION_UA);
                }
        }
out:
        for (i = 0; i < want_cnt; i++)
                free(want[i].name);
        free(want);
        rd_kafka_metadata_destroy(md);
        rd_kafka_destroy(rk);
        return err;
}

brook_err_t brook_app_start(brook_app_t *app, char *errstr, size_t errstr_size)
{
        brook_err_t err;
        int i, n;

        pthread_mutex_lock(&app->lock);
        if (app->started) {
                pthread_mutex_unlock(&app->lock);
                brook__seterr(errstr, errstr_size,
                              "the app was already started");
                return BROOK_ERR_STATE;
        }
        app->started = true;
        app->starting = true;
        app->start_thread = pthread_self();
        /* As Kafka Streams' start(): REBALANCING from here on, global
         * tables' restoration included. */
        brook__app_state_set(app, BROOK_APP_REBALANCING);
        pthread_mutex_unlock(&app->lock);
        brook__app_state_tell(app);

        err = brook__app_prepare(app, errstr, errstr_size);
        if (!err && !brook__app_should_stop(app))
                err = brook__app_open_state(app, errstr, errstr_size);
        /* Global stores are up to date before any stream thread reads
         * them (Kafka Streams' GlobalStreamThread starts first). */
        if (!err && !brook__app_should_stop(app))
                err = brook__global_start(app, errstr, errstr_size);
        if (brook__app_should_stop(app)) {
                /* A stop asked for during start-up (brook_app_close() or a
                 * signal): a clean stop, whatever start-up was doing. */
                pthread_mutex_lock(&app->lock);
                app->starting = false;
                brook__app_state_set(app, BROOK_APP_NOT_RUNNING);
                pthread_cond_broadcast(&app->cond);
                pthread_mutex_unlock(&app->lock);
                brook__app_state_tell(app);
                brook__log("INFO", "%s: stopped during start-up", app->app_id);
                return BROOK_OK;
        }
        if (err) {
                brook__app_fail(app, errstr);
                pthread_mutex_lock(&app->lock);
                app->starting = false;
                brook__app_state_set(app, BROOK_APP_ERROR);
                pthread_cond_broadcast(&app->cond);
                pthread_mutex_unlock(&app->lock);
                brook__app_state_tell(app);
                return err;
        }
        n = (int)brook__conf_int(app->conf, "num.stream.threads");
        app->threads = brook__xcalloc((size_t)n, sizeof *app->threads);
        pthread_mutex_lock(&app->wake_lock);
        app->wakers = brook__xcalloc((size_t)n, sizeof *app->wakers);
        app->waker_cnt = n;
        pthread_mutex_unlock(&app->wake_lock);
        for (i = 0; i < n; i++) {
                if (!(app->threads[i] =
                              brook__thread_new(app, i, errstr, errstr_size)))
                        goto fail;
                app->thread_cnt++;
        }
        app->metrics = brook__metrics_new(app);
        /* Before the threads start: a port taken fails the start before
         * anything is consumed. */
        if (brook__http_start(app, &app->http, errstr, errstr_size) ||
            brook__instances_start(app, &app->instances, errstr, errstr_size))
                goto fail;
        for (i = 0; i < n; i++) {
                pthread_mutex_lock(&app->lock);
                app->threads_running++;
                pthread_mutex_unlock(&app->lock);
                if (brook__thread_start(app->threads[i], errstr, errstr_size)) {
                        pthread_mutex_lock(&app->lock);
                        app->threads_running--;
                        pthread_mutex_unlock(&app->lock);
                        goto fail;
                }
        }
        pthread_mutex_lock(&app->lock);
        app->starting = false;
        pthread_cond_broadcast(&app->cond);
        pthread_mutex_unlock(&app->lock);
        return BROOK_OK;
fail:
        brook__app_fail(app, errstr);
        pthread_mutex_lock(&app->lock);
        app->starting = false;
        pthread_cond_broadcast(&app->cond);
        pthread_mutex_unlock(&app->lock);
        brook_app_close(app, -1);
        return BROOK_ERR_FATAL;
}

/* ----------------------------------------------------------------- state */

_Thread_local brook_app_t *brook__own_app;

static void brook__app_trans_push(brook_app_t *app, brook_app_state_t from,
                                  brook_app_state_t to)
{
        if (app->trans_cnt == app->trans_cap) {
                size_t cap = app->trans_cap ? app->trans_cap * 2 : 8, i;
                struct brook__transition *v = brook__xmalloc(cap * sizeof *v);
                for (i = 0; i < app->trans_cnt; i++)
                        v[i] = app->trans[(app->trans_head + i) %
                                          app->trans_cap];
                free(app->trans);
                app->trans = v;
                app->trans_cap = cap;
                app->trans_head = 0;
        }
        app->trans[(app->trans_head + app->trans_cnt) % app->trans_cap] =
                (struct brook__transition){from, to};
        app->trans_cnt++;
}

/*
 * Sets the state (app->lock held). The listener, if any, is told later
 * (brook__app_state_tell(), without the lock), through Kafka Streams'
 * transitions: a stop or failure reached without its PENDING_ state goes
 * through it.
 */
void brook__app_state_set(brook_app_t *app, brook_app_state_t to)
{
        brook_app_state_t from = app->state;
        if (from == to)
                return;
        app->state = to;
        if (!app->state_listener)
                return;
        if (to == BROOK_APP_NOT_RUNNING && from != BROOK_APP_PENDING_SHUTDOWN) {
                brook__app_trans_push(app, from, BROOK_APP_PENDING_SHUTDOWN);
                from = BROOK_APP_PENDING_SHUTDOWN;
        } else if (to == BROOK_APP_ERROR && from != BROOK_APP_PENDING_ERROR) {
                brook__app_trans_push(app, from, BROOK_APP_PENDING_ERROR);
                from = BROOK_APP_PENDING_ERROR;
        }
        brook__app_trans_push(app, from, to);
}

/*
 * Tells the listener the changes not yet told (app->lock not held), in
 * order, one call at a time, and never waits for another thread's call:
 * while one thread tells, the others leave their changes to it (its loop
 * looks again after it lets go). So a listener may call brook_app_close(),
 * which waits for stream threads that are telling changes of their own.
 */
void brook__app_state_tell(brook_app_t *app)
{
        bool more;
        if (!app->state_listener)
                return;
        do {
                /* Held by another thread, or by this one (a listener's
                 * own call): that call's loop tells the rest. */
                if (pthread_mutex_trylock(&app->listen_lock))
                        return;
                for (;;) {
                        struct brook__transition t;
                        pthread_mutex_lock(&app->lock);
                        if (!app->trans_cnt) {
                                pthread_mutex_unlock(&app->lock);
                                break;
                        }
                        t = app->trans[app->trans_head];
                        app->trans_head =
                                (app->trans_head + 1) % app->trans_cap;
                        app->trans_cnt--;
                        pthread_mutex_unlock(&app->lock);
                        app->state_listener(app, t.to, t.from,
                                            app->state_opaque);
                }
                pthread_mutex_unlock(&app->listen_lock);
                /* A change queued after the loop's last look, by a thread
                 * whose trylock failed. */
                pthread_mutex_lock(&app->lock);
                more = app->trans_cnt > 0;
                pthread_mutex_unlock(&app->lock);
        } while (more);
}

/* BROOK_OK before the start; else BROOK_ERR_STATE saying that @p what can
 * only be set before it (the threads read it without a lock). */
static brook_err_t brook__app_before_start(brook_app_t *app, const char *what,
                                           char *errstr, size_t errstr_size)
{
        bool started;
        pthread_mutex_lock(&app->lock);
        started = app->started;
        pthread_mutex_unlock(&app->lock);
        if (!started)
                return BROOK_OK;
        brook__seterr(errstr, errstr_size,
                      "%s can only be set before the app starts", what);
        return BROOK_ERR_STATE;
}

brook_err_t brook_app_set_state_listener(brook_app_t *app,
                                         brook_state_listener_fn fn,
                                         void *opaque, char *errstr,
                                         size_t errstr_size)
{
        brook_err_t err = brook__app_before_start(app, "a state listener",
                                                  errstr, errstr_size);
        if (err)
                return err;
        app->state_listener = fn;
        app->state_opaque = fn ? opaque : NULL;
        return BROOK_OK;
}

brook_err_t brook_app_set_uncaught_exception_handler(
        brook_app_t *app, brook_uncaught_handler_fn fn, void *opaque,
        char *errstr, size_t errstr_size)
{
        brook_err_t err = brook__app_before_start(
                app, "an uncaught-exception handler", errstr, errstr_size);
        if (err)
                return err;
        app->uncaught = fn;
        app->uncaught_opaque = fn ? opaque : NULL;
        return BROOK_OK;
}

struct brook__replace {
        brook_app_t *app;
        int idx;
};

static void brook__stats_add(brook_app_stats_t *stats,
                             const brook__thread_t *thr);

/* Folds thread @p thr's counters into the app's closed ones (app->lock
 * held): it is about to be freed. */
static void brook__app_fold_thread(brook_app_t *app, brook__thread_t *thr)
{
        int r;
        brook__stats_add(&app->closed_stats, thr);
        for (r = 0; r < BROOK__DROP_CNT; r++)
                app->closed_drops[r] += atomic_load(&thr->stat_drops[r]);
        app->closed_enforced += atomic_load(&thr->stat_enforced);
}

/* The replacement of a failed stream thread: the old one is joined and its
 * clients freed, a new one made for its slot and started, unless the app
 * stops meanwhile (then close deals with the old one). */
static void *brook__app_replace_main(void *arg)
{
        struct brook__replace *rp = arg;
        brook_app_t *app = rp->app;
        brook__thread_t *old, *nw = NULL;
        char errstr[1024];
        bool go;

        /* The app's own thread: a state listener's brook_app_close() here
         * only asks for the stop (close waits for this thread). */
        brook__own_app = app;
        pthread_mutex_lock(&app->lock);
        old = app->threads[rp->idx];
        pthread_mutex_unlock(&app->lock);

        brook__thread_destroy(old);
        pthread_mutex_lock(&app->lock);
        go = !atomic_load(&app->stopping) && !app->closed;
        pthread_mutex_unlock(&app->lock);
        if (go &&
            !(nw = brook__thread_new(app, rp->idx, errstr, sizeof errstr))) {
                brook__app_fail(app, errstr);
                go = false;
        }
        pthread_mutex_lock(&app->lock);
        if (go && !atomic_load(&app->stopping) && !app->closed) {
                brook__app_fold_thread(app, old);
                app->threads[rp->idx] = nw;
                app->threads_running++;
                pthread_mutex_unlock(&app->lock);
                pthread_mutex_destroy(&old->snap_lock);
                free(old);
                brook__log("INFO",
                           "%s: stream thread %d replaced (the "
                           "uncaught-exception handler said "
                           "REPLACE_THREAD)",
                           app->app_id, rp->idx + 1);
                if (brook__thread_start(nw, errstr, sizeof errstr)) {
                        pthread_mutex_lock(&app->lock);
                        app->threads_running--;
                        pthread_mutex_unlock(&app->lock);
                        brook__app_fail(app, errstr);
                }
        } else {
                pthread_mutex_unlock(&app->lock);
                if (nw) {
                        brook__thread_destroy(nw);
                        pthread_mutex_destroy(&nw->snap_lock);
                        free(nw);
                }
        }
        pthread_mutex_lock(&app->lock);
        app->replacing--;
        pthread_cond_broadcast(&app->cond);
        pthread_mutex_unlock(&app->lock);
        free(rp);
        return NULL;
}

void brook__app_replace_thread(brook_app_t *app, int idx)
{
        struct brook__replace *rp = brook__xmalloc(sizeof *rp);
        pthread_attr_t attr;
        pthread_t tid;

        rp->app = app;
        rp->idx = idx;
        pthread_mutex_lock(&app->lock);
        app->replacing++;
        /* Kafka Streams rebalances while it replaces a thread. */
        if (app->state == BROOK_APP_RUNNING)
                brook__app_state_set(app, BROOK_APP_REBALANCING);
        pthread_mutex_unlock(&app->lock);
        brook__app_state_tell(app);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&tid, &attr, brook__app_replace_main, rp)) {
                free(rp);
                pthread_mutex_lock(&app->lock);
                app->replacing--;
                pthread_cond_broadcast(&app->cond);
                pthread_mutex_unlock(&app->lock);
                brook__app_fail(app, "cannot start a thread to replace a "
                                     "failed stream thread");
        }
        pthread_attr_destroy(&attr);
}

void brook__app_fail(brook_app_t *app, const char *msg)
{
        pthread_mutex_lock(&app->lock);
        if (!app->error[0]) {
                snprintf(app->error, sizeof app->error, "%s", msg);
                brook__log("ERROR", "%s: %s", app->app_id, msg);
        }
        if (app->state != BROOK_APP_ERROR)
                brook__app_state_set(app, BROOK_APP_PENDING_ERROR);
        brook__app_request_stop(app);
        pthread_cond_broadcast(&app->cond);
        pthread_mutex_unlock(&app->lock);
        brook__app_state_tell(app);
}

void brook__app_thread_exited(brook_app_t *app)
{
        pthread_mutex_lock(&app->lock);
        if (--app->threads_running == 0) {
                if (app->error[0])
                        brook__app_state_set(app, BROOK_APP_ERROR);
                else if (atomic_load(&app->stopping))
                        brook__app_state_set(app, BROOK_APP_NOT_RUNNING);
        }
        pthread_cond_broadcast(&app->cond);
        pthread_mutex_unlock(&app->lock);
        brook__app_state_tell(app);
}

void brook__app_notify(brook_app_t *app)
{
        int i;
        bool all = true;
        pthread_mutex_lock(&app->lock);
        /* RUNNING once every thread has its tasks and none is restoring,
         * as Kafka Streams stays REBALANCING while tasks restore. */
        for (i = 0; i < app->thread_cnt; i++)
                if (!atomic_load(&app->threads[i]->assigned) ||
                    atomic_load(&app->threads[i]->tasks_restoring))
                        all = false;
        if (app->state == BROOK_APP_REBALANCING ||
            app->state == BROOK_APP_RUNNING)
                brook__app_state_set(app, all ? BROOK_APP_RUNNING
                                              : BROOK_APP_REBALANCING);
        pthread_cond_broadcast(&app->cond);
        pthread_mutex_unlock(&app->lock);
        brook__app_state_tell(app);
}

brook_app_state_t brook_app_state(brook_app_t *app, char *errstr,
                                  size_t errstr_size)
{
        brook_app_state_t st;
        pthread_mutex_lock(&app->lock);
        st = app->state;
        if (app->error[0])
                brook__seterr(errstr, errstr_size, "%s", app->error);
        else
                brook__seterr(errstr, errstr_size, "%s", "");
        pthread_mutex_unlock(&app->lock);
        return st;
}

static bool brook__state_final(brook_app_state_t st)
{
        return st == BROOK_APP_NOT_RUNNING || st == BROOK_APP_ERROR;
}

brook_app_state_t brook_app_wait(brook_app_t *app, int64_t timeout_ms)
{
        struct timespec ts;
        brook_app_state_t st;
        brook__deadline(&ts, CLOCK_REALTIME, timeout_ms < 0 ? 0 : timeout_ms);
        pthread_mutex_lock(&app->lock);
        while (!brook__state_final(app->state) &&
               !(app->started && app->threads_running == 0 && app->error[0])) {
                if (timeout_ms < 0)
                        pthread_cond_wait(&app->cond, &app->lock);
                else if (pthread_cond_timedwait(&app->cond, &app->lock, &ts))
                        break;
        }
        st = app->state;
        pthread_mutex_unlock(&app->lock);
        return st;
}

static void brook__stats_add(brook_app_stats_t *stats,
                             const brook__thread_t *thr)
{
        stats->records_processed += atomic_load(&thr->stat_processed);
        stats->records_produced += atomic_load(&thr->stat_produced);
        stats->records_dropped += brook__drops_sum(thr->stat_drops);
        stats->records_dead_lettered += atomic_load(&thr->stat_dlq);
        stats->commits += atomic_load(&thr->stat_commits);
        stats->rebalances += atomic_load(&thr->stat_rebalances);
        stats->records_restored += atomic_load(&thr->stat_restored);
        stats->restore_remaining += atomic_load(&thr->stat_restore_remaining);
        stats->stores_restoring += atomic_load(&thr->stat_stores_restoring);
}

void brook__app_register_store(brook_app_t *app, brook__store_t *st)
{
        pthread_mutex_lock(&app->iq_lock);
        brook__ptrvec_push(&app->iq_stores, st);
        pthread_mutex_unlock(&app->iq_lock);
}

/* Never waits for queries: they hold references to st->iq, not the lock.
 * Marking the handle left makes their open iterators over it fail. */
void brook__app_unregister_store(brook_app_t *app, brook__store_t *st)
{
        size_t i;
        pthread_mutex_lock(&app->iq_lock);
        for (i = 0; i < app->iq_stores.cnt; i++) {
                if (app->iq_stores.v[i] == st) {
                        app->iq_stores.v[i] =
                                app->iq_stores.v[--app->iq_stores.cnt];
                        break;
                }
        }
        atomic_store(&st->iq->left, true);
        pthread_mutex_unlock(&app->iq_lock);
}

/* A random id in the form of a UUID (version 4). */
static void brook__app_random_id(char *buf, size_t size)
{
        unsigned char b[16];
        FILE *fp = fopen("/dev/urandom", "rb");
        size_t i;
        if (!fp || fread(b, 1, sizeof b, fp) != sizeof b) {
                /* Unique enough among an app's instances. */
                uint64_t x = (uint64_t)brook__now_wall_ms() ^
                             ((uint64_t)getpid() << 40);
                for (i = 0; i < sizeof b; i++) {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        b[i] = (unsigned char)x;
                }
        }
        if (fp)
                fclose(fp);
        b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
        b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
        snprintf(buf, size,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                 "%02x%02x%02x%02x%02x%02x",
                 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
                 b[10], b[11], b[12], b[13], b[14], b[15]);
}

/*
 * The instance's name in transactional.id (see app->instance_id). The
 * process id is written once to state.dir/<application.id>/
 * brook-process-id (as Kafka Streams keeps its process id in the state
 * directory), so that a restart on the same state has the same
 * transactional ids: its producers fence their former selves and end the
 * transactions those left open, rather than leaving readers to wait for
 * transaction.timeout.ms.
 */
static brook_err_t brook__app_instance_id(brook_app_t *app, char *errstr,
                                          size_t errstr_size)
{
        const char *gid = brook_conf_get(app->conf, "group.instance.id");
        char path[4096], tmp[4200], id[64];
        FILE *fp;
        size_t n;
        bool ok;
        int e;

        if (gid && *gid) {
                snprintf(app->instance_id, sizeof app->instance_id, "%s", gid);
                return BROOK_OK;
        }
        if (!app->state_dir) {
                brook__app_random_id(app->instance_id, sizeof app->instance_id);
                return BROOK_OK;
        }
        snprintf(path, sizeof path, "%s/brook-process-id", app->state_dir);
        if ((fp = fopen(path, "r"))) {
                n = fread(id, 1, sizeof id - 1, fp);
                fclose(fp);
                while (n && (id[n - 1] == '\n' || id[n - 1] == ' '))
                        n--;
                id[n] = '\0';
                if (n == 36) {
                        snprintf(app->instance_id, sizeof app->instance_id,
                                 "%s", id);
                        return BROOK_OK;
                }
                brook__log("WARN",
                           "%s: \"%s\" holds no process id; writing "
                           "a new one",
                           app->app_id, path);
        }
        brook__app_random_id(id, sizeof id);
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        fp = fopen(tmp, "w");
        ok = fp && fprintf(fp, "%s\n", id) >= 0 && !fflush(fp) &&
             !fsync(fileno(fp));
        e = errno;
        if (fp && fclose(fp) && ok) {
                ok = false;
                e = errno;
        }
        if (ok && rename(tmp, path)) {
                ok = false;
                e = errno;
        }
        if (!ok) {
                if (fp)
                        unlink(tmp);
                brook__seterr(errstr, errstr_size,
                              "writing the process id to \"%s\": %s", path,
                              strerror(e));
                return BROOK_ERR_STATE;
        }
        snprintf(app->instance_id, sizeof app->instance_id, "%s", id);
        return BROOK_OK;
}

/* Opens state.dir/<application.id>/rocksdb, creating directories. */
static brook_err_t brook__app_open_state(brook_app_t *app, char *errstr,
                                         size_t errstr_size)
{
        const char *base = brook_conf_get(app->conf, "state.dir");
        size_t n = strlen(base) + strlen(app->app_id) + 16;
        char *dbdir;
        brook_err_t err;

        if (!app->b->stores.cnt)
                return brook__app_instance_id(app, errstr, errstr_size);
        app->state_dir = brook__xmalloc(n);
        snprintf(app->state_dir, n, "%s/%s", base, app->app_id);
        dbdir = brook__xmalloc(n + 8);
        snprintf(dbdir, n + 8, "%s/rocksdb", app->state_dir);
        err = brook__statedb_open(
                dbdir, brook__conf_int(app->conf, "rocksdb.memory.bytes"),
                &app->statedb, errstr, errstr_size);
        free(dbdir);
        /* After the db: its lock says the directory is this instance's. */
        if (!err)
                err = brook__app_instance_id(app, errstr, errstr_size);
        return err;
}

void brook_app_stats(brook_app_t *app, brook_app_stats_t *stats)
{
        int i;
        pthread_mutex_lock(&app->lock);
        *stats = app->closed_stats;
        for (i = 0; i < app->thread_cnt; i++)
                brook__stats_add(stats, app->threads[i]);
        brook__global_stats(app, stats);
        pthread_mutex_unlock(&app->lock);
        stats->rocksdb_memory_bytes =
                app->statedb ? brook__statedb_memory(app->statedb) : 0;
}

int64_t brook_app_stalled_ms(brook_app_t *app, char *cause, size_t cause_size)
{
        int64_t since = 0;
        int i;
        brook__seterr(cause, cause_size, "%s", "");
        pthread_mutex_lock(&app->lock);
        for (i = 0; i < app->thread_cnt; i++) {
                brook__thread_t *thr = app->threads[i];
                if (thr->stall_since_pub &&
                    (!since || thr->stall_since_pub < since)) {
                        since = thr->stall_since_pub;
                        brook__seterr(cause, cause_size, "%s",
                                      thr->stall_cause);
                }
        }
        pthread_mutex_unlock(&app->lock);
        return since ? brook__now_mono_ms() - since : 0;
}

int64_t brook_app_records_dropped(brook_app_t *app, brook_drop_reason_t reason)
{
        int64_t n;
        int i;
        if (!app || (int)reason < 0 || (int)reason >= BROOK__DROP_CNT)
                return 0;
        pthread_mutex_lock(&app->lock);
        n = app->closed_drops[reason] + brook__global_drops(app, reason);
        for (i = 0; i < app->thread_cnt; i++)
                n += atomic_load(&app->threads[i]->stat_drops[reason]);
        pthread_mutex_unlock(&app->lock);
        return n;
}

int64_t brook_app_enforced_processing(brook_app_t *app)
{
        int64_t n;
        int i;
        if (!app)
                return 0;
        pthread_mutex_lock(&app->lock);
        n = app->closed_enforced;
        for (i = 0; i < app->thread_cnt; i++)
                n += atomic_load(&app->threads[i]->stat_enforced);
        pthread_mutex_unlock(&app->lock);
        return n;
}

brook_err_t
brook_app_set_restore_listener(brook_app_t *app,
                               const brook_restore_listener_t *listener,
                               char *errstr, size_t errstr_size)
{
        bool started;

        if (listener &&
            !brook__version_ok(listener->version,
                               BROOK_RESTORE_LISTENER_VERSION,
                               "brook_restore_listener_t", errstr, errstr_size))
                return BROOK_ERR_INVALID_ARG;
        pthread_mutex_lock(&app->lock);
        started = app->started;
        pthread_mutex_unlock(&app->lock);
        /* The threads read it without a lock: it must not change under
         * them. */
        if (started) {
                brook__seterr(errstr, errstr_size,
                              "a restore listener can only be set before the "
                              "app starts");
                return BROOK_ERR_STATE;
        }
        if (listener)
                app->restore_listener = *listener;
        else
                memset(&app->restore_listener, 0, sizeof app->restore_listener);
        return BROOK_OK;
}

/* ------------------------------------------------------------- shutdown */

brook_err_t brook_app_close(brook_app_t *app, int64_t timeout_ms)
{
        struct timespec ts;
        bool timed_out = false, own;
        int i;

        /* On one of the app's own threads, or in brook_app_start() on
         * this thread (a state listener's call): the stop is asked for,
         * and that is all; the thread cannot wait for itself, and the
         * owner's close does the rest. */
        own = brook__own_app == app;
        if (!own) {
                pthread_mutex_lock(&app->lock);
                own = app->starting &&
                      pthread_equal(app->start_thread, pthread_self());
                pthread_mutex_unlock(&app->lock);
        }
        if (own) {
                brook__app_request_stop(app);
                pthread_mutex_lock(&app->lock);
                if (!app->closed && (app->state == BROOK_APP_REBALANCING ||
                                     app->state == BROOK_APP_RUNNING))
                        brook__app_state_set(app, BROOK_APP_PENDING_SHUTDOWN);
                pthread_cond_broadcast(&app->cond);
                pthread_mutex_unlock(&app->lock);
                brook__app_state_tell(app);
                return BROOK_ERR_TIMED_OUT;
        }
        if (timeout_ms < 0)
                timeout_ms = brook__conf_int(app->conf, "shutdown.timeout.ms");
        brook__deadline(&ts, CLOCK_REALTIME, timeout_ms);
        brook__app_request_stop(app);
        pthread_mutex_lock(&app->lock);
        /* Start-up (on another thread) gives up within a step of its
         * waits once it sees the stop; the threads are only known after. */
        while (app->starting) {
                if (pthread_cond_timedwait(&app->cond, &app->lock, &ts)) {
                        pthread_mutex_unlock(&app->lock);
                        return BROOK_ERR_TIMED_OUT;
                }
        }
        if (!app->closed && app->state != BROOK_APP_ERROR &&
            app->state != BROOK_APP_PENDING_ERROR &&
            app->state != BROOK_APP_NOT_RUNNING)
                brook__app_state_set(app, app->threads_running || app->replacing
                                                  ? BROOK_APP_PENDING_SHUTDOWN
                                                  : BROOK_APP_NOT_RUNNING);
        /* The listener hears of it now, not once the threads are gone. */
        pthread_mutex_unlock(&app->lock);
        brook__app_state_tell(app);
        pthread_mutex_lock(&app->lock);
        /* A thread being replaced counts as running until its
         * replacement gave up (it sees the stop) or started. */
        while (app->threads_running > 0 || app->replacing > 0) {
                if (pthread_cond_timedwait(&app->cond, &app->lock, &ts)) {
                        timed_out = true;
                        break;
                }
        }
        /* Two callers (say brook_app_run()'s loop and a thread stopping
         * it) can both wait above; only the first to get here destroys
         * the threads. The other waits until that is done, so that either
         * returns only once the app is closed, and may then destroy it. */
        while (!timed_out && app->closed && app->thread_cnt > 0) {
                if (pthread_cond_timedwait(&app->cond, &app->lock, &ts))
                        timed_out = true;
        }
        if (timed_out) {
                pthread_mutex_unlock(&app->lock);
                return BROOK_ERR_TIMED_OUT;
        }
        if (app->closed) {
                pthread_mutex_unlock(&app->lock);
                return BROOK_OK;
        }
        app->closed = true;
        pthread_mutex_unlock(&app->lock);

        for (i = 0; i < app->thread_cnt; i++)
                brook__thread_destroy(app->threads[i]);
        /* After the stream threads, which read its stores. */
        brook__global_destroy(app);
        pthread_mutex_lock(&app->lock);
        for (i = 0; i < app->thread_cnt; i++) {
                brook__app_fold_thread(app, app->threads[i]);
                pthread_mutex_destroy(&app->threads[i]->snap_lock);
                free(app->threads[i]);
                app->threads[i] = NULL;
        }
        app->thread_cnt = 0;
        brook__app_state_set(app, app->error[0] ? BROOK_APP_ERROR
                                                : BROOK_APP_NOT_RUNNING);
        pthread_cond_broadcast(&app->cond);
        pthread_mutex_unlock(&app->lock);
        brook__app_state_tell(app);
        return BROOK_OK;
}

void brook_app_destroy(brook_app_t *app)
{
        if (!app)
                return;
        while (brook_app_close(app, -1) == BROOK_ERR_TIMED_OUT)
                brook__log("WARN", "%s: still waiting for stream threads",
                           app->app_id);
        /* It answered until now (/health says NOT_RUNNING or ERROR after
         * the close). */
        brook__http_stop(app->http);
        brook__instances_stop(app->instances);
        brook__metrics_destroy(app->metrics);
        free(app->threads);
        if (app->subscription)
                rd_kafka_topic_partition_list_destroy(app->subscription);
        brook__topology_free(&app->topo);
        brook_builder_destroy(app->b);
        brook_conf_destroy(app->conf);
        /* Every store is closed now but those a query iterator still
         * holds (a user error: brook_app_destroy() documents it); they keep
         * the db open until they are destroyed, and close it then. */
        if (brook__statedb_refs(app->statedb) > 1)
                brook__log("WARN",
                           "%s: destroyed with query iterators still open: "
                           "its state db stays open until they are "
                           "destroyed",
                           app->app_id);
        brook__statedb_close(app->statedb);
        free(app->state_dir);
        brook__ptrvec_free(&app->iq_stores);
        pthread_mutex_destroy(&app->iq_lock);
        pthread_mutex_destroy(&app->wake_lock);
        free(app->wakers);
        pthread_mutex_destroy(&app->lock);
        pthread_mutex_destroy(&app->listen_lock);
        free(app->trans);
        pthread_cond_destroy(&app->cond);
        free(app->app_id);
        free(app->client_id);
        free(app);
}

/* --------------------------------------------------------------- signals */

/* (brook__signals is defined with the stopping helpers above: start-up
 * looks at it too.) */
static void brook__on_signal(int sig)
{
        /* A second signal means "now": the state is consistent at any
         * point (offsets commit only after output is flushed). */
        if (atomic_fetch_add(&brook__signals, 1))
                _exit(128 + sig);
}

int brook_app_run(brook_app_t *app)
{
        return brook_app_run_with(app, NULL);
}

int brook_app_run_with(brook_app_t *app, const brook_app_run_options_t *opts)
{
        struct sigaction sa, old_int, old_term;
        char errstr[1024];
        brook_app_state_t st;
        bool handlers = !(opts && opts->no_signal_handlers);

        if (opts && !brook__version_ok(
                            opts->version, BROOK_APP_RUN_OPTIONS_VERSION,
                            "brook_app_run_options_t", errstr, sizeof errstr)) {
                fprintf(stderr, "brook: %s\n", errstr);
                return 1;
        }
        if (handlers) {
                memset(&sa, 0, sizeof sa);
                sa.sa_handler = brook__on_signal;
                sigemptyset(&sa.sa_mask);
                atomic_store(&brook__signals, 0);
                sigaction(SIGINT, &sa, &old_int);
                sigaction(SIGTERM, &sa, &old_term);
                /* Start-up stops on a signal too (it looks at
                 * brook__signals between its short waits). */
                app->watch_signals = true;
        }

        if (brook_app_start(app, errstr, sizeof errstr)) {
                fprintf(stderr, "brook: %s\n", errstr);
                if (handlers) {
                        sigaction(SIGINT, &old_int, NULL);
                        sigaction(SIGTERM, &old_term, NULL);
                        app->watch_signals = false;
                }
                return 1;
        }
        while (!handlers || !atomic_load(&brook__signals)) {
                st = brook_app_wait(app, 100);
                if (brook__state_final(st) || st == BROOK_APP_PENDING_ERROR)
                        break;
        }
        /* The threads' stop is bounded (shutdown.timeout.ms from when it
         * was asked for, plus teardown): wait for its outcome, so that the
         * exit status says how the app ended. */
        while (brook_app_close(app, -1) == BROOK_ERR_TIMED_OUT)
                brook__log("WARN", "%s: still waiting for stream threads",
                           app->app_id);
        if (handlers) {
                sigaction(SIGINT, &old_int, NULL);
                sigaction(SIGTERM, &old_term, NULL);
                app->watch_signals = false;
        }
        st = brook_app_state(app, errstr, sizeof errstr);
        if (st == BROOK_APP_ERROR || st == BROOK_APP_PENDING_ERROR ||
            errstr[0]) {
                fprintf(stderr, "brook: stopped on an error: %s\n", errstr);
                return 1;
        }
        return 0;
}
