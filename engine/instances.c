/*
 * brook — which instance hosts which task: the instances topic, for
 * remote interactive queries (docs/operations.md, "Remote queries").
 *
 * Kafka Streams carries each instance's application.server and the task
 * assignment in the group protocol (its assignor's user data); librdkafka
 * 2.0 has no custom assignors, so brook publishes the same facts beside
 * the group: every instance with application.server set keeps one record
 * in the compacted topic "<application.id>-brook-instances", keyed by its
 * instance id (engine/app.c), whose value is
 *
 *   {"server": "host:port", "at": <wall ms>,
 *    "tasks": [["0_1", false], ["1_1", true], ...]}
 *
 * (each active task and whether it is restoring), written when its tasks
 * change and every 10 s besides; a tombstone when it closes. Every such
 * instance reads the topic from the start, so it knows the others.
 *
 * The same topic carries Kafka Streams' SHUTDOWN_APPLICATION: a record
 * keyed "__shutdown__" ({"by": <instance id>, "why": "..."}) that every
 * instance reading the topic since before it was written obeys by
 * stopping with an error. So an instance with an uncaught-exception
 * handler reads the topic too (the instances of an application run the
 * same code, so one that may signal is one that listens); only those
 * with application.server publish their tasks. An app with neither has
 * no instances thread and no such topic.
 *
 * This is a directory, not an authority: an entry can be out of date (an
 * instance killed without its tombstone, a rebalance not yet published).
 * What makes a stale entry impossible to serve from is that only the
 * instance that has the task active and restored here answers for it
 * (query.c checks that at every read): a request forwarded to a former
 * owner gets 421, never an old value, and is answered 503 (retry) until
 * the directory catches up. Of two entries that claim a task, the one
 * published last wins.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_int.h"

#define BROOK__INST_HEARTBEAT_MS 10000
#define BROOK__INST_SHUTDOWN_KEY "__shutdown__"

struct brook__inst {
        char *id;
        char *server;
        int64_t at; /**< When it published (its wall clock). */
        char (*tasks)[32];
        bool *restoring;
        size_t task_cnt;
};

struct brook__instances {
        brook_app_t *app;
        char *topic;
        rd_kafka_t *producer, *reader;
        pthread_t tid;
        bool tid_valid;
        atomic_bool stop;
        pthread_mutex_t lock; /**< Guards v, cnt. */
        struct brook__inst *v;
        size_t cnt;
        char *last; /**< What was last published, without "at". */
        int64_t last_at;
        bool publishes; /**< application.server is set. */
        /** Shutdown records from this offset on are obeyed (older ones
         *  were for an earlier run). */
        int64_t shutdown_from;
};

static void inst_free(struct brook__inst *in)
{
        free(in->id);
        free(in->server);
        free(in->tasks);
        free(in->restoring);
        memset(in, 0, sizeof *in);
}

/* Takes instance @p id's record @p value (NULL: its tombstone). */
static void inst_update(brook__instances_t *is, const char *id,
                        const char *value, size_t len)
{
        struct brook__inst nw = {0};
        json_t *doc = NULL, *tasks;
        size_t i;

        if (value) {
                json_error_t jerr;
                json_t *srv, *at;
                doc = json_loadb(value, len, 0, &jerr);
                srv = json_object_get(doc, "server");
                at = json_object_get(doc, "at");
                tasks = json_object_get(doc, "tasks");
                /* A server that is not host:port is not brook's (nor
                 * one to send a token to). */
                if (!json_is_string(srv) || !json_is_integer(at) ||
                    !json_is_array(tasks) ||
                    !brook__hostport_parse(json_string_value(srv), NULL, 0,
                                           NULL)) {
                        brook__log("WARN",
                                   "%s: instances topic \"%s\": ignoring a "
                                   "record of instance \"%s\" that is not "
                                   "brook's",
                                   is->app->app_id, is->topic, id);
                        json_decref(doc);
                        return;
                }
                nw.id = brook__xstrdup(id);
                nw.server = brook__xstrdup(json_string_value(srv));
                nw.at = json_integer_value(at);
                nw.tasks = brook__xcalloc(json_array_size(tasks) + 1,
                                          sizeof *nw.tasks);
                nw.restoring = brook__xcalloc(json_array_size(tasks) + 1,
                                              sizeof *nw.restoring);
                for (i = 0; i < json_array_size(tasks); i++) {
                        json_t *t = json_array_get(tasks, i);
                        const char *tid =
                                json_string_value(json_array_get(t, 0));
                        if (!tid || strlen(tid) >= sizeof nw.tasks[0])
                                continue;
                        snprintf(nw.tasks[nw.task_cnt], sizeof nw.tasks[0],
                                 "%s", tid);
                        nw.restoring[nw.task_cnt++] =
                                json_is_true(json_array_get(t, 1));
                }
                json_decref(doc);
        }
        pthread_mutex_lock(&is->lock);
        for (i = 0; i < is->cnt; i++)
                if (!strcmp(is->v[i].id, id))
                        break;
        if (i < is->cnt) {
                inst_free(&is->v[i]);
                if (nw.id)
                        is->v[i] = nw;
                else
                        is->v[i] = is->v[--is->cnt];
        } else if (nw.id) {
                is->v = brook__xrealloc(is->v, (is->cnt + 1) * sizeof *is->v);
                is->v[is->cnt++] = nw;
        }
        pthread_mutex_unlock(&is->lock);
}

/* This instance's record now, without "at" (to compare), or NULL while a
 * stream thread has not published its tasks. */
static char *inst_mine(brook__instances_t *is)
{
        brook_app_t *app = is->app;
        json_t *doc = json_object(), *tasks = json_array();
        char *s;
        size_t i;
        int t;

        json_object_set_new(
                doc, "server",
                json_string(brook_conf_get(app->conf, "application.server")));
        pthread_mutex_lock(&app->lock);
        for (t = 0; t < app->thread_cnt; t++) {
                brook__thread_t *thr = app->threads[t];
                pthread_mutex_lock(&thr->snap_lock);
                for (i = 0; i < thr->snap_cnt; i++) {
                        json_t *e = json_array();
                        json_array_append_new(e, json_string(thr->snap[i].id));
                        json_array_append_new(
                                e, json_boolean(thr->snap[i].restoring));
                        json_array_append_new(tasks, e);
                }
                pthread_mutex_unlock(&thr->snap_lock);
        }
        pthread_mutex_unlock(&app->lock);
        json_object_set_new(doc, "tasks", tasks);
        s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(doc);
        return s;
}

/* The producer, made on first use (an instance without
 * application.server only ever writes a shutdown signal); NULL, with a
 * warning, if it cannot be made. */
static rd_kafka_t *inst_producer(brook__instances_t *is)
{
        rd_kafka_conf_t *pc;
        rd_kafka_t *rk;
        char why[512];

        pthread_mutex_lock(&is->lock);
        if ((rk = is->producer)) {
                pthread_mutex_unlock(&is->lock);
                return rk;
        }
        if ((pc = brook__client_conf(is->app, "producer", "instances-producer",
                                     -1, why, sizeof why))) {
                if (rd_kafka_conf_set(pc, "linger.ms", "0", why, sizeof why) ||
                    !(rk = rd_kafka_new(RD_KAFKA_PRODUCER, pc, why,
                                        sizeof why)))
                        rd_kafka_conf_destroy(pc);
        }
        is->producer = rk;
        pthread_mutex_unlock(&is->lock);
        if (!rk)
                brook__log("WARN", "%s: instances producer: %s",
                           is->app->app_id, why);
        return rk;
}

static void inst_produce(brook__instances_t *is, const char *value)
{
        rd_kafka_resp_err_t err;
        if (!inst_producer(is))
                return;
        err = rd_kafka_producev(
                is->producer, RD_KAFKA_V_TOPIC(is->topic),
                RD_KAFKA_V_KEY(is->app->instance_id,
                               strlen(is->app->instance_id)),
                RD_KAFKA_V_VALUE((void *)value, value ? strlen(value) : 0),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err)
                brook__log("WARN",
                           "%s: cannot publish this instance's tasks to "
                           "\"%s\": %s",
                           is->app->app_id, is->topic, rd_kafka_err2str(err));
}

/* Publishes this instance's tasks when they changed, or as a heartbeat. */
static void inst_publish(brook__instances_t *is)
{
        char *mine = inst_mine(is);
        int64_t now = brook__now_wall_ms();
        if (is->last && !strcmp(mine, is->last) &&
            now - is->last_at < BROOK__INST_HEARTBEAT_MS) {
                free(mine);
                return;
        }
        {
                /* The record: mine with "at". */
                json_t *doc = json_loads(mine, 0, NULL);
                char *rec;
                json_object_set_new(doc, "at", json_integer(now));
                rec = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
                json_decref(doc);
                inst_produce(is, rec);
                free(rec);
        }
        free(is->last);
        is->last = mine;
        is->last_at = now;
}

/* A shutdown record: this run's are obeyed. */
static void inst_shutdown(brook__instances_t *is, const rd_kafka_message_t *m)
{
        json_t *doc;
        const char *by, *why;
        char msg[1024];

        /* An earlier run's, or one that comes while this app stops. */
        if (!m->payload || m->offset < is->shutdown_from ||
            brook__app_should_stop(is->app))
                return;
        doc = json_loadb(m->payload, m->len, 0, NULL);
        by = json_string_value(json_object_get(doc, "by"));
        why = json_string_value(json_object_get(doc, "why"));
        snprintf(msg, sizeof msg,
                 "the application was shut down by instance %s "
                 "(SHUTDOWN_APPLICATION): %s",
                 by ? by : "?", why ? why : "no reason given");
        json_decref(doc);
        brook__app_fail(is->app, msg);
}

void brook__instances_signal_shutdown(brook__instances_t *is, const char *why)
{
        json_t *doc;
        char *rec;
        rd_kafka_resp_err_t err;
        if (!is)
                return;
        doc = json_object();
        json_object_set_new(doc, "by", json_string(is->app->instance_id));
        json_object_set_new(doc, "why", json_string(why));
        rec = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        if (!inst_producer(is)) {
                free(rec);
                return;
        }
        err = rd_kafka_producev(
                is->producer, RD_KAFKA_V_TOPIC(is->topic),
                RD_KAFKA_V_KEY(BROOK__INST_SHUTDOWN_KEY,
                               strlen(BROOK__INST_SHUTDOWN_KEY)),
                RD_KAFKA_V_VALUE(rec, strlen(rec)),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        free(rec);
        if (err || rd_kafka_flush(is->producer, 5000))
                brook__log("ERROR",
                           "%s: could not signal the other instances to shut "
                           "down (instances topic \"%s\"): %s",
                           is->app->app_id, is->topic,
                           err ? rd_kafka_err2str(err) : "timed out");
}

static void *inst_main(void *arg)
{
        brook__instances_t *is = arg;
        /* The app's own thread (see brook_app_close()). */
        brook__own_app = is->app;
        while (!atomic_load(&is->stop)) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(is->reader, 200);
                int n = 0;
                while (m) {
                        if (!m->err && m->key && m->key_len < 256) {
                                char id[256];
                                memcpy(id, m->key, m->key_len);
                                id[m->key_len] = '\0';
                                if (!strcmp(id, BROOK__INST_SHUTDOWN_KEY))
                                        inst_shutdown(is, m);
                                else
                                        inst_update(is, id, m->payload, m->len);
                        }
                        rd_kafka_message_destroy(m);
                        m = ++n < 1000 ? rd_kafka_consumer_poll(is->reader, 0)
                                       : NULL;
                }
                if (is->publishes)
                        inst_publish(is);
                {
                        rd_kafka_t *pr;
                        pthread_mutex_lock(&is->lock);
                        pr = is->producer;
                        pthread_mutex_unlock(&is->lock);
                        if (pr)
                                rd_kafka_poll(pr, 0);
                }
        }
        return NULL;
}

bool brook__instances_wanted(const brook_app_t *app)
{
        return brook_conf_get(app->conf, "application.server") || app->uncaught;
}

const char *brook__instances_topic_suffix(void)
{
        return "-brook-instances";
}

brook_err_t brook__instances_start(brook_app_t *app, brook__instances_t **isp,
                                   char *errstr, size_t errstr_size)
{
        brook__instances_t *is;
        rd_kafka_topic_partition_list_t *parts;
        size_t n;

        *isp = NULL;
        if (!brook__instances_wanted(app))
                return BROOK_OK;
        is = brook__xcalloc(1, sizeof *is);
        is->app = app;
        is->publishes = brook_conf_get(app->conf, "application.server") != NULL;
        pthread_mutex_init(&is->lock, NULL);
        n = strlen(app->app_id) + strlen(brook__instances_topic_suffix()) + 1;
        is->topic = brook__xmalloc(n);
        snprintf(is->topic, n, "%s%s", app->app_id,
                 brook__instances_topic_suffix());
        {
                static const char *const extra[] = {"enable.partition.eof",
                                                    "false", NULL};
                if (!(is->reader = brook__assign_consumer_new(
                              app, -1, "instances-reader", extra, errstr,
                              errstr_size)))
                        goto fail;
        }
        /* Shutdown records already there are an earlier run's: where the
         * topic ends now is where this run's begin (asked until the broker
         * answers, up to 30 s, or the app stops). */
        {
                int64_t lo, hi, began = brook__now_mono_ms();
                rd_kafka_resp_err_t kerr;
                while ((kerr = rd_kafka_query_watermark_offsets(
                                is->reader, is->topic, 0, &lo, &hi, 1000))) {
                        if (brook__app_should_stop(app) ||
                            brook__now_mono_ms() - began > 30000) {
                                brook__seterr(errstr, errstr_size,
                                              "cannot read the end of the "
                                              "instances topic \"%s\": %s",
                                              is->topic,
                                              rd_kafka_err2str(kerr));
                                goto fail;
                        }
                }
                is->shutdown_from = hi;
        }
        parts = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(parts, is->topic, 0)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        if (rd_kafka_assign(is->reader, parts)) {
                rd_kafka_topic_partition_list_destroy(parts);
                brook__seterr(errstr, errstr_size,
                              "cannot read the instances topic \"%s\"",
                              is->topic);
                goto fail;
        }
        rd_kafka_topic_partition_list_destroy(parts);
        if (pthread_create(&is->tid, NULL, inst_main, is)) {
                brook__seterr(errstr, errstr_size,
                              "cannot start the instances thread");
                goto fail;
        }
        is->tid_valid = true;
        *isp = is;
        return BROOK_OK;
fail:
        brook__instances_stop(is);
        return BROOK_ERR_FATAL;
}

void brook__instances_stop(brook__instances_t *is)
{
        size_t i;
        if (!is)
                return;
        atomic_store(&is->stop, true);
        if (is->tid_valid)
                pthread_join(is->tid, NULL);
        if (is->producer) {
                /* Gone: others stop forwarding here. */
                if (is->tid_valid && is->publishes) {
                        inst_produce(is, NULL);
                        rd_kafka_flush(is->producer, 2000);
                }
                rd_kafka_destroy(is->producer);
        }
        if (is->reader) {
                rd_kafka_consumer_close(is->reader);
                rd_kafka_destroy(is->reader);
        }
        for (i = 0; i < is->cnt; i++)
                inst_free(&is->v[i]);
        free(is->v);
        free(is->last);
        free(is->topic);
        pthread_mutex_destroy(&is->lock);
        free(is);
}

bool brook__instances_owner(brook__instances_t *is, const char *task_id,
                            char *server, size_t server_size, bool *restoring)
{
        int64_t best_at = -1;
        size_t i, j;
        if (!is)
                return false;
        pthread_mutex_lock(&is->lock);
        for (i = 0; i < is->cnt; i++) {
                const struct brook__inst *in = &is->v[i];
                for (j = 0; j < in->task_cnt; j++) {
                        if (strcmp(in->tasks[j], task_id) || in->at <= best_at)
                                continue;
                        best_at = in->at;
                        snprintf(server, server_size, "%s", in->server);
                        if (restoring)
                                *restoring = in->restoring[j];
                }
        }
        pthread_mutex_unlock(&is->lock);
        return best_at >= 0;
}

size_t brook__instances_servers(brook__instances_t *is, char ***serversp)
{
        char **v = NULL;
        size_t i, n = 0;
        *serversp = NULL;
        if (!is)
                return 0;
        pthread_mutex_lock(&is->lock);
        if (is->cnt)
                v = brook__xcalloc(is->cnt, sizeof *v);
        for (i = 0; i < is->cnt; i++)
                v[n++] = brook__xstrdup(is->v[i].server);
        pthread_mutex_unlock(&is->lock);
        *serversp = v;
        return n;
}
