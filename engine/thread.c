/*
 * brook — stream threads (Kafka Streams' StreamThread): poll records,
 * route them to task queues, process, punctuate, and commit every
 * commit.interval.ms (producer flushed first, so a committed offset never
 * runs ahead of the output it caused: at-least-once).
 */
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app_int.h"

/* How many messages one poll takes from the consumer before processing. */
#define BROOK__POLL_BATCH 4096
/* The first librdkafka with fetch.queue.backoff.ms (2.2.0). */
#define BROOK__RDKAFKA_FETCH_BACKOFF 0x020200ff

/*
 * What a stream thread does with an error that stops it: its
 * uncaught-exception handler (on this thread, no lock held) says whether
 * a new thread replaces it, this instance stops (the default), or every
 * instance does. The thread leaves its loop either way (failed).
 */
static void brook__thr_fatal(brook__thread_t *thr, const char *msg)
{
        brook_app_t *app = thr->app;
        brook_uncaught_response_t r = BROOK_UNCAUGHT_SHUTDOWN_CLIENT;

        thr->failed = true;
        if (thr->replace)
                return; /* Decided: this is its way out. */
        if (app->uncaught && brook__own_app == app &&
            !brook__app_should_stop(app))
                r = app->uncaught(app, msg, app->uncaught_opaque);
        if (r == BROOK_UNCAUGHT_REPLACE_THREAD) {
                brook__log("WARN",
                           "%s: stream thread %d failed; a new one replaces "
                           "it: %s",
                           app->app_id, thr->idx + 1, msg);
                thr->replace = true;
                /* Its way out is bounded as a stop's would be. */
                brook__own_stop_at =
                        brook__now_mono_ms() +
                        brook__conf_int(app->conf, "shutdown.timeout.ms");
                return;
        }
        if (r == BROOK_UNCAUGHT_SHUTDOWN_APPLICATION) {
                char why[1200];
                snprintf(why, sizeof why,
                         "%s (the uncaught-exception handler shuts the "
                         "whole application down)",
                         msg);
                /* Failed first: the signal comes back to this instance
                 * too, and must not be taken for its cause. */
                brook__app_fail(app, why);
                brook__instances_signal_shutdown(app->instances, msg);
                return;
        }
        brook__app_fail(app, msg);
}

static void brook__release_msg(brook__inrec_t *in)
{
        rd_kafka_message_destroy(in->owner);
}

static int64_t brook__real_wall_clock(brook__runtime_t *rt)
{
        return brook__now_wall_ms();
}

/* ------------------------------------------------------------- producing */

/* A hash of the name, 8 bytes at a time: it runs on every record
 * produced, so it must cost no more than the one string compare a
 * single-topic app used to do, while telling apart internal topic names
 * that share the application id's prefix and a suffix. */
static uint64_t brook__topic_hash(const char *topic, size_t len)
{
        uint64_t h = len * 0x9e3779b97f4a7c15ULL, w;
        size_t i;
        for (i = 0; i + 8 <= len; i += 8) {
                memcpy(&w, topic + i, 8);
                h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
                h ^= h >> 31;
        }
        w = 0;
        memcpy(&w, topic + i, len - i);
        h = (h ^ w) * 0x94d049bb133111ebULL;
        return h ^ (h >> 29);
}

/* The slot of @p topic in thr->ptopic_slots: the one holding it, or the
 * empty one where it goes. The table is never full. */
static size_t *brook__ptopic_slot(brook__thread_t *thr, const char *topic,
                                  size_t len, uint64_t hash)
{
        size_t mask = thr->ptopic_slot_cnt - 1, i = hash & mask;
        for (;; i = (i + 1) & mask) {
                size_t *slot = &thr->ptopic_slots[i];
                struct brook__ptopic *pt;
                if (!*slot)
                        return slot;
                pt = &thr->ptopics[*slot - 1];
                if (pt->hash == hash && pt->len == len &&
                    !memcmp(pt->name, topic, len))
                        return slot;
        }
}

/* Doubles the table (it starts at 16 slots) and puts every topic back. */
static void brook__ptopic_rehash(brook__thread_t *thr)
{
        size_t i;
        free(thr->ptopic_slots);
        thr->ptopic_slot_cnt =
                thr->ptopic_slot_cnt ? thr->ptopic_slot_cnt * 2 : 16;
        thr->ptopic_slots =
                brook__xcalloc(thr->ptopic_slot_cnt, sizeof *thr->ptopic_slots);
        for (i = 0; i < thr->ptopic_cnt; i++)
                *brook__ptopic_slot(thr, thr->ptopics[i].name,
                                    thr->ptopics[i].len, thr->ptopics[i].hash) =
                        i + 1;
}

/* The producer's handle of @p topic, made on first use. Every produce
 * comes through here. Runs of records to one topic (a single-sink app, a
 * batch of changelog writes) cost one string compare against the topic
 * found last; any other topic costs one hash of the name and, nearly
 * always, one compare. */
static struct brook__ptopic *brook__ptopic(brook__thread_t *thr,
                                           const char *topic)
{
        size_t len, *slot;
        uint64_t hash;
        struct brook__ptopic *pt;
        rd_kafka_topic_t *rkt;
        struct brook__ptopic_recent *r;
        /* A record's topics alternate (a join's output, then each side's
         * changelog): the few last ones are looked at first. */
        for (r = thr->ptopic_recent; r < thr->ptopic_recent + 4; r++)
                if (r->ptr == topic && r->idx &&
                    !strcmp(thr->ptopics[r->idx - 1].name, topic))
                        return &thr->ptopics[r->idx - 1];
        r = &thr->ptopic_recent[thr->ptopic_next++ & 3];
        len = strlen(topic);
        hash = brook__topic_hash(topic, len);
        if (thr->ptopic_slot_cnt) {
                slot = brook__ptopic_slot(thr, topic, len, hash);
                if (*slot) {
                        r->ptr = topic;
                        r->idx = *slot;
                        return &thr->ptopics[*slot - 1];
                }
        }
        /* NULL (an invalid topic name, say) must not reach producev, and
         * is not registered: the next record asks again. */
        if (!(rkt = rd_kafka_topic_new(thr->producer, topic, NULL)))
                return NULL;
        if ((thr->ptopic_cnt + 1) * 2 > thr->ptopic_slot_cnt)
                brook__ptopic_rehash(thr);
        slot = brook__ptopic_slot(thr, topic, len, hash);
        if (thr->ptopic_cnt == thr->ptopic_cap) {
                thr->ptopic_cap = thr->ptopic_cap ? thr->ptopic_cap * 2 : 8;
                thr->ptopics = brook__xrealloc(
                        thr->ptopics, thr->ptopic_cap * sizeof *thr->ptopics);
        }
        pt = &thr->ptopics[thr->ptopic_cnt++];
        pt->name = brook__xstrdup(topic);
        pt->hash = hash;
        pt->len = len;
        pt->rkt = rkt;
        pt->partition_cnt = -1;
        /* Findable only once complete. */
        *slot = thr->ptopic_cnt;
        r->ptr = topic;
        r->idx = thr->ptopic_cnt;
        return pt;
}

/* Begins a transaction unless one is open; on failure the transaction
 * must abort (txn_abort_why says why). */
static bool brook__thr_txn_begin(brook__thread_t *thr)
{
        if (thr->txn_open)
                return true;
        if (brook__txn_result(rd_kafka_begin_transaction(thr->producer),
                              "beginning a transaction", thr->txn_abort_why,
                              sizeof thr->txn_abort_why) != BROOK__TXN_OK)
                return false;
        thr->txn_open = true;
        return true;
}

/* Produces one record, waiting for room when the queue is full. Takes
 * @p hdrs (may be NULL) in all cases. @p endp goes with a changelog
 * record to its delivery report. */
static brook_err_t brook__thr_produce(brook__thread_t *thr, const char *topic,
                                      int32_t partition, const void *key,
                                      size_t key_size, const void *value,
                                      size_t value_size, int64_t timestamp,
                                      rd_kafka_headers_t *hdrs, int64_t *endp,
                                      char *errstr, size_t errstr_size)
{
        struct brook__ptopic *pt;
        rd_kafka_resp_err_t err;

        /* Under exactly_once_v2 a record goes in the open transaction. A
         * transaction that must abort takes no more: the record is made
         * again after the abort, from the input it came from. */
        if (thr->eos && (thr->txn_abort_why[0] || !thr->producer ||
                         !brook__thr_txn_begin(thr))) {
                if (hdrs)
                        rd_kafka_headers_destroy(hdrs);
                return BROOK_OK;
        }
        if (!(pt = brook__ptopic(thr, topic))) {
                brook__seterr(errstr, errstr_size,
                              "cannot produce to topic \"%s\": %s", topic,
                              rd_kafka_err2str(rd_kafka_last_error()));
                if (hdrs)
                        rd_kafka_headers_destroy(hdrs);
                return BROOK_ERR_KAFKA;
        }
        for (;;) {
                err = rd_kafka_producev(
                        thr->producer, RD_KAFKA_V_RKT(pt->rkt),
                        RD_KAFKA_V_PARTITION(partition < 0
                                                     ? RD_KAFKA_PARTITION_UA
                                                     : partition),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_KEY(key, key_size),
                        RD_KAFKA_V_VALUE((void *)value, value_size),
                        RD_KAFKA_V_TIMESTAMP(timestamp),
                        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(endp),
                        RD_KAFKA_V_END);
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        break;
                /* Back-pressure: wait for deliveries to make room; while
                 * the app stops, only until its stop deadline (with the
                 * broker gone, room never comes). */
                if (!brook__app_stop_left(thr->app, 1))
                        break;
                rd_kafka_poll(thr->producer, 10);
        }
        if (err && thr->eos && err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                /* The transaction cannot hold everything its input caused:
                 * it aborts, and the input is processed again. */
                if (hdrs)
                        rd_kafka_headers_destroy(hdrs);
                if (!thr->txn_abort_why[0]) {
                        snprintf(thr->txn_abort_why, sizeof thr->txn_abort_why,
                                 "producing to topic \"%s\" failed: %s", topic,
                                 rd_kafka_err2str(err));
                        thr->txn_abort_why_weak =
                                err == RD_KAFKA_RESP_ERR__STATE;
                }
                return BROOK_OK;
        }
        if (err) {
                /* producev takes the headers only on success. */
                if (hdrs)
                        rd_kafka_headers_destroy(hdrs);
                brook__seterr(errstr, errstr_size,
                              "producing to topic \"%s\" failed: %s%s", topic,
                              rd_kafka_err2str(err),
                              err == RD_KAFKA_RESP_ERR__QUEUE_FULL
                                      ? " (the app is stopping and "
                                        "shutdown.timeout.ms has passed)"
                                      : "");
                /* A producer that failed fatally fails every record: no
                 * handler may skip that. A refused record (too large, an
                 * unknown partition) is the production handler's. A record
                 * that a stop cut short is neither: it is not dropped, its
                 * input is not committed. */
                return err == RD_KAFKA_RESP_ERR__FATAL        ? BROOK_ERR_FATAL
                       : err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? BROOK_ERR_STATE
                                                              : BROOK_ERR_KAFKA;
        }
        return BROOK_OK;
}

/* The delivery opaque of a dead-letter record (a changelog record's is its
 * end slot, an output record's NULL). */
static int64_t brook__dlq_mark;

static brook_err_t brook__thr_send(brook__collector_t *col, const char *topic,
                                   int32_t partition, const void *key,
                                   size_t key_size, const void *value,
                                   size_t value_size, int64_t timestamp,
                                   rd_kafka_headers_t *hdrs, char *errstr,
                                   size_t errstr_size)
{
        brook__thread_t *thr = (brook__thread_t *)col;
        /* The task's dead-letter sends pass the runtime's own string. */
        return brook__thr_produce(thr, topic, partition, key, key_size, value,
                                  value_size, timestamp, hdrs,
                                  topic == thr->rt.dlq_topic ? &brook__dlq_mark
                                                             : NULL,
                                  errstr, errstr_size);
}

/* A dead-letter record to produce again, already cut smaller. */
struct brook__redeliver {
        char *topic;
        void *key, *value; /**< Copies; NULL for Kafka's null. */
        size_t key_size, value_size;
        int64_t timestamp;
        rd_kafka_headers_t *hdrs;
};

/* Keeps a copy of @p rkm's key, value and timestamp, to be produced to
 * @p topic with @p hdrs (taken) by brook__thr_redeliver(), cut to fit
 * @p limit bytes on the wire (brook__dead_letter_fit()). Returns false,
 * keeping nothing, if it cannot be cut that far (the headers alone are
 * larger). */
static bool brook__thr_redeliver_add(brook__thread_t *thr,
                                     const rd_kafka_message_t *rkm,
                                     const char *topic,
                                     rd_kafka_headers_t *hdrs, int64_t limit)
{
        struct brook__redeliver *r = brook__xcalloc(1, sizeof *r);

        r->hdrs = hdrs;
        if (rkm->key) {
                r->key = brook__xmalloc(rkm->key_len + 1);
                memcpy(r->key, rkm->key, rkm->key_len);
                r->key_size = rkm->key_len;
        }
        if (rkm->payload) {
                r->value = brook__xmalloc(rkm->len + 1);
                memcpy(r->value, rkm->payload, rkm->len);
                r->value_size = rkm->len;
        }
        r->timestamp = rd_kafka_message_timestamp(rkm, NULL);
        r->topic = brook__xstrdup(topic);
        if (!brook__dead_letter_fit(r->hdrs, limit, r->key, &r->key_size,
                                    r->value, &r->value_size)) {
                rd_kafka_headers_destroy(r->hdrs);
                free(r->key);
                free(r->value);
                free(r->topic);
                free(r);
                return false;
        }
        brook__ptrvec_push(&thr->redeliver, r);
        return true;
}

/* Keeps a copy of dead-letter record @p rkm, which the broker refused as
 * too large for the topic (whose limit the producer does not know), cut to
 * half its size, for brook__thr_redeliver(). Returns false if it cannot be
 * cut that far (its headers alone are larger). */
static bool brook__thr_redeliver_later(brook__thread_t *thr,
                                       const rd_kafka_message_t *rkm)
{
        rd_kafka_headers_t *h = NULL, *hdrs;
        size_t wire;

        if (rd_kafka_message_headers(rkm, &h))
                h = NULL;
        hdrs = h ? rd_kafka_headers_copy(h) : rd_kafka_headers_new(4);
        wire = brook__record_wire_size(rkm->key ? rkm->key_len : 0,
                                       rkm->payload ? rkm->len : 0, hdrs);
        return brook__thr_redeliver_add(thr, rkm, rd_kafka_topic_name(rkm->rkt),
                                        hdrs, (int64_t)(wire / 2));
}

/*
 * The production handler's dead_letter for output record @p rkm, which
 * was not delivered: a copy goes to the dead-letter topic with the
 * __streams.errors.* headers after its own. The input record that led to
 * it is done by now, so they name the output's topic and partition, offset
 * -1 and no task. Returns false if even the headers do not fit.
 */
static bool brook__thr_dead_letter_output(brook__thread_t *thr,
                                          const rd_kafka_message_t *rkm)
{
        brook__inrec_t in = {0};
        char msg[600];

        in.topic = rd_kafka_topic_name(rkm->rkt);
        in.partition = rkm->partition;
        in.offset = -1;
        /* brook__dead_letter_headers() starts from the record's own. */
        in.msg = rkm;
        snprintf(msg, sizeof msg,
                 "a record to topic \"%s\" partition %" PRId32
                 " was not delivered: %s",
                 in.topic, rkm->partition, rd_kafka_err2str(rkm->err));
        if (!brook__thr_redeliver_add(
                    thr, rkm, thr->rt.dlq_topic,
                    brook__dead_letter_headers(
                            &in, "", "brook.ProductionException", msg),
                    thr->rt.max_record_bytes))
                return false;
        thr->rt.dead_lettered++;
        return true;
}

/* Forgets the dead-letter records kept for brook__thr_redeliver(). */
static void brook__thr_redeliver_clear(brook__thread_t *thr)
{
        size_t i;
        for (i = 0; i < thr->redeliver.cnt; i++) {
                struct brook__redeliver *r = thr->redeliver.v[i];
                rd_kafka_headers_destroy(r->hdrs);
                free(r->key);
                free(r->value);
                free(r->topic);
                free(r);
        }
        brook__ptrvec_free(&thr->redeliver);
}

/* Produces the dead-letter records kept by brook__thr_redeliver_later().
 * Returns how many it produced: their deliveries are still to wait for. */
static size_t brook__thr_redeliver(brook__thread_t *thr)
{
        size_t i, cnt = thr->redeliver.cnt;
        char why[400];
        if (!cnt)
                return 0;
        for (i = 0; i < cnt; i++) {
                struct brook__redeliver *r = thr->redeliver.v[i];
                if (brook__thr_produce(thr, r->topic, -1, r->key, r->key_size,
                                       r->value, r->value_size, r->timestamp,
                                       r->hdrs, &brook__dlq_mark, why,
                                       sizeof why) &&
                    !thr->delivery_error[0])
                        snprintf(thr->delivery_error,
                                 sizeof thr->delivery_error,
                                 "production error: a dead-letter record cut "
                                 "to fit could not be produced: %s",
                                 why);
                free(r->key);
                free(r->value);
                free(r->topic);
                free(r);
        }
        /* Producing may poll (a full queue) and so refuse more: those stay
         * for the next call. */
        memmove(thr->redeliver.v, thr->redeliver.v + cnt,
                (thr->redeliver.cnt - cnt) * sizeof *thr->redeliver.v);
        thr->redeliver.cnt -= cnt;
        return cnt;
}

static int32_t brook__thr_partition_cnt(brook__collector_t *col,
                                        const char *topic)
{
        brook__thread_t *thr = (brook__thread_t *)col;
        struct brook__ptopic *pt = brook__ptopic(thr, topic);
        const struct rd_kafka_metadata *md;

        if (!pt)
                return -1;
        if (pt->partition_cnt > 0)
                return pt->partition_cnt;
        if (!thr->producer)
                return -1;
        if (rd_kafka_metadata(thr->producer, 0, pt->rkt, &md, 10000))
                return -1;
        if (md->topic_cnt == 1 && !md->topics[0].err)
                pt->partition_cnt = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
        return pt->partition_cnt;
}

static brook_err_t brook__thr_send_changelog(
        brook__collector_t *col, const char *topic, int32_t partition,
        const void *key, size_t key_size, const void *value, size_t value_size,
        int64_t timestamp, int64_t *endp, char *errstr, size_t errstr_size)
{
        return brook__thr_produce((brook__thread_t *)col, topic, partition, key,
                                  key_size, value, value_size, timestamp, NULL,
                                  endp, errstr, errstr_size);
}

static int64_t *brook__thr_changelog_slot(brook__collector_t *col,
                                          const char *topic, int32_t partition)
{
        brook__thread_t *thr = (brook__thread_t *)col;
        struct brook__clslot *slot;
        size_t i;
        for (i = 0; i < thr->slot_cnt; i++)
                if (thr->slots[i]->partition == partition &&
                    !strcmp(thr->slots[i]->topic, topic))
                        return &thr->slots[i]->end;
        if (thr->slot_cnt == thr->slot_cap) {
                thr->slot_cap = thr->slot_cap ? thr->slot_cap * 2 : 16;
                thr->slots = brook__xrealloc(
                        thr->slots, thr->slot_cap * sizeof *thr->slots);
        }
        /* Each slot is its own allocation: deliveries hold its address. */
        slot = brook__xmalloc(sizeof *slot);
        slot->topic = brook__xstrdup(topic);
        slot->partition = partition;
        slot->end = -1;
        thr->slots[thr->slot_cnt++] = slot;
        return &slot->end;
}

/* The producer's errors (a broker unreachable, say): kept to say why a
 * commit stalls; librdkafka retries them itself. Runs in rd_kafka_poll(),
 * on the stream thread. */
static void brook__producer_error_cb(rd_kafka_t *rk, int err,
                                     const char *reason, void *opaque)
{
        brook__thread_t *thr = opaque;
        snprintf(thr->last_kafka_error, sizeof thr->last_kafka_error, "%s",
                 reason);
}

static void brook__dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                         void *opaque)
{
        brook__thread_t *thr = opaque;
        int64_t *endp = rkm->_private;
        bool dlq = endp == &brook__dlq_mark;
        if (dlq)
                endp = NULL;
        /* Records of tasks closed without a commit, dropped on purpose. */
        if (thr->discarding && (rkm->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
                                rkm->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT))
                return;
        if (!rkm->err) {
                /* A changelog record: its store's data now reaches here. */
                if (endp && rkm->offset + 1 > *endp)
                        *endp = rkm->offset + 1;
                return;
        }
        /* Under exactly_once_v2 a record lost fails its transaction, not
         * the app: the transaction aborts and its input is processed
         * again. Records an abort purged are expected. */
        if (thr->eos) {
                if (rkm->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
                    rkm->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT &&
                    thr->txn_open &&
                    (!thr->txn_abort_why[0] ||
                     (thr->txn_abort_why_weak &&
                      rkm->err != RD_KAFKA_RESP_ERR__STATE))) {
                        snprintf(thr->txn_abort_why, sizeof thr->txn_abort_why,
                                 "a record to topic \"%s\" partition "
                                 "%" PRId32 " was not delivered: %s",
                                 rd_kafka_topic_name(rkm->rkt), rkm->partition,
                                 rd_kafka_err2str(rkm->err));
                        thr->txn_abort_why_weak =
                                rkm->err == RD_KAFKA_RESP_ERR__STATE;
                }
                return;
        }
        /* A lost changelog record would leave a store that its changelog
         * cannot rebuild: always fatal. */
        if (endp) {
                if (!thr->delivery_error[0])
                        snprintf(thr->delivery_error,
                                 sizeof thr->delivery_error,
                                 "a changelog record to topic \"%s\" "
                                 "partition %" PRId32 " was not delivered: %s",
                                 rd_kafka_topic_name(rkm->rkt), rkm->partition,
                                 rd_kafka_err2str(rkm->err));
                return;
        }
        /* A dead-letter record too large for its topic is cut smaller and
         * sent again rather than lost. */
        if (dlq &&
            (rkm->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
             rkm->err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE) &&
            brook__thr_redeliver_later(thr, rkm))
                return;
        /* An output record (neither dead-letter nor changelog) under the
         * dead_letter production handler: to the dead-letter topic. One
         * that cannot go there fails the app below. */
        if (!dlq && thr->rt.prod_handler == BROOK__HANDLER_DEAD_LETTER &&
            !rd_kafka_fatal_error(rk, NULL, 0) &&
            brook__thr_dead_letter_output(thr, rkm))
                return;
        if (thr->rt.prod_handler == BROOK__HANDLER_LOG_AND_CONTINUE &&
            !rd_kafka_fatal_error(rk, NULL, 0)) {
                /* It was counted as dead-lettered when sent. */
                if (dlq)
                        thr->rt.dead_lettered--;
                brook__drop(&thr->rt, BROOK_DROP_PRODUCTION_ERROR,
                            "thread %d: a record to topic \"%s\" partition "
                            "%" PRId32 " was not delivered and is skipped: %s",
                            thr->idx, rd_kafka_topic_name(rkm->rkt),
                            rkm->partition, rd_kafka_err2str(rkm->err));
                return;
        }
        if (!thr->delivery_error[0])
                snprintf(thr->delivery_error, sizeof thr->delivery_error,
                         "production error: a record to topic \"%s\" "
                         "partition %" PRId32 " was not delivered: %s",
                         rd_kafka_topic_name(rkm->rkt), rkm->partition,
                         rd_kafka_err2str(rkm->err));
}

/* --------------------------------------------------------------- commits */

/* How long one attempt of a commit in the poll loop waits for the
 * producer: a stalled commit is retried from the loop, which keeps
 * polling, rather than waited for. */
#define BROOK__COMMIT_FLUSH_MS 1000

/* Publishes the stall for brook_app_stalled_ms(). */
static void brook__thr_publish_stall(brook__thread_t *thr, const char *cause)
{
        pthread_mutex_lock(&thr->app->lock);
        thr->stall_since_pub = thr->stall_since;
        brook__seterr(thr->stall_cause, sizeof thr->stall_cause, "%s",
                      cause ? cause : "");
        pthread_mutex_unlock(&thr->app->lock);
}

/* The assigned partitions, less those paused while their task restores. */
static rd_kafka_topic_partition_list_t *
brook__thr_resumable(brook__thread_t *thr)
{
        rd_kafka_topic_partition_list_t *parts = NULL;
        int i;
        if (rd_kafka_assignment(thr->consumer, &parts) || !parts)
                return NULL;
        for (i = 0; thr->paused && i < thr->paused->cnt; i++)
                rd_kafka_topic_partition_list_del(
                        parts, thr->paused->elems[i].topic,
                        thr->paused->elems[i].partition);
        return parts;
}

/* A commit could not complete, because the producer could not deliver
 * (@p why NULL) or for @p why: stop processing (pause every partition) and
 * retry from the loop, for up to task.timeout.ms. */
static brook__commit_t brook__thr_stall(brook__thread_t *thr, const char *why)
{
        int64_t now = brook__now_mono_ms();
        int64_t limit = brook__conf_int(thr->app->conf, "task.timeout.ms");
        char cause[1024];

        if (why)
                snprintf(cause, sizeof cause, "%s", why);
        else
                snprintf(cause, sizeof cause,
                         "the producer could not deliver %d records%s%s",
                         rd_kafka_outq_len(thr->producer),
                         thr->last_kafka_error[0] ? ": " : "",
                         thr->last_kafka_error);
        if (!thr->stall_since) {
                thr->stall_since = now;
                brook__log("WARN",
                           "thread %d: commit stalled (%s); processing "
                           "paused, retrying for up to task.timeout.ms "
                           "(%" PRId64 " ms)",
                           thr->idx, cause, limit);
        }
        brook__thr_publish_stall(thr, cause);
        if (!thr->stall_paused) {
                rd_kafka_topic_partition_list_t *parts =
                        brook__thr_resumable(thr);
                if (parts) {
                        rd_kafka_pause_partitions(thr->consumer, parts);
                        rd_kafka_topic_partition_list_destroy(parts);
                }
                thr->stall_paused = true;
        }
        if (now - thr->stall_since > limit) {
                char msg[1200];
                snprintf(msg, sizeof msg,
                         "thread %d: commit failed for %" PRId64
                         " ms, past task.timeout.ms (%" PRId64 " ms): %s",
                         thr->idx, now - thr->stall_since, limit, cause);
                brook__thr_fatal(thr, msg);
                thr->failed = true;
                return BROOK__COMMIT_FAILED;
        }
        return BROOK__COMMIT_STALLED;
}

/* A commit completed after a stall: processing resumes. */
static void brook__thr_unstall(brook__thread_t *thr)
{
        rd_kafka_topic_partition_list_t *parts;
        if (!thr->stall_since)
                return;
        brook__log("INFO", "thread %d: commits resumed after %" PRId64 " ms",
                   thr->idx, brook__now_mono_ms() - thr->stall_since);
        if (thr->stall_paused && (parts = brook__thr_resumable(thr))) {
                rd_kafka_resume_partitions(thr->consumer, parts);
                rd_kafka_topic_partition_list_destroy(parts);
        }
        thr->stall_paused = false;
        thr->stall_since = 0;
        brook__thr_publish_stall(thr, NULL);
}

/* Commits @p offsets and waits for the answer; while the app stops, only
 * until its stop deadline (rd_kafka_commit() waits as long as the group
 * coordinator stays unreachable). */
static rd_kafka_resp_err_t
brook__thr_commit_offsets(brook__thread_t *thr,
                          rd_kafka_topic_partition_list_t *offsets)
{
        rd_kafka_queue_t *q = rd_kafka_queue_new(thr->consumer);
        rd_kafka_resp_err_t err =
                rd_kafka_commit_queue(thr->consumer, offsets, q, NULL, NULL);
        while (!err) {
                int64_t left = brook__app_stop_left(thr->app, 100);
                rd_kafka_event_t *ev;
                if (!left) {
                        err = RD_KAFKA_RESP_ERR__TIMED_OUT;
                        break;
                }
                ev = rd_kafka_queue_poll(q, left < 100 ? (int)left : 100);
                if (!ev)
                        continue;
                if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT) {
                        err = rd_kafka_event_error(ev);
                        rd_kafka_event_destroy(ev);
                        break;
                }
                rd_kafka_event_destroy(ev);
        }
        /* An abandoned answer goes nowhere: the queue is disabled. */
        rd_kafka_queue_destroy(q);
        return err;
}

/* ------------------------------------------------------ repartition purge */

/*
 * Deletes the records of repartition topics below the offsets the
 * thread's tasks committed, as Kafka Streams does after a commit that
 * committed something, at most every repartition.purge.interval.ms: each
 * of them was processed, and whoever owns the partition next starts at
 * the committed offset. Asynchronous, one request at a time; its answer
 * is read by brook__thr_purge_poll().
 */
static void brook__thr_purge(brook__thread_t *thr)
{
        int64_t now = brook__now_mono_ms();
        rd_kafka_topic_partition_list_t *offsets;
        rd_kafka_DeleteRecords_t *del;
        size_t i, j;

        if (thr->purging) {
                thr->purge_again = true;
                return;
        }
        if (now - thr->last_purge <
            brook__conf_int(thr->app->conf, "repartition.purge.interval.ms"))
                return;
        offsets = rd_kafka_topic_partition_list_new(4);
        for (i = 0; i < thr->tasks.cnt; i++) {
                brook__task_t *task = thr->tasks.v[i];
                for (j = 0; j < task->queues.cnt; j++) {
                        brook__pqueue_t *q = task->queues.v[j];
                        if (!q->source->internal || q->committed <= q->purged)
                                continue;
                        rd_kafka_topic_partition_list_add(offsets, q->topic,
                                                          q->partition)
                                ->offset = q->committed;
                        q->purged = q->committed;
                }
        }
        if (offsets->cnt) {
                thr->last_purge = now;
                if (!thr->purge_q)
                        thr->purge_q = rd_kafka_queue_new(thr->producer);
                del = rd_kafka_DeleteRecords_new(offsets);
                rd_kafka_DeleteRecords(thr->producer, &del, 1, NULL,
                                       thr->purge_q);
                rd_kafka_DeleteRecords_destroy(del);
                thr->purging = true;
        }
        rd_kafka_topic_partition_list_destroy(offsets);
}

/* Reads the answer to a purge, if it came, and sends the one a commit
 * asked for meanwhile (Kafka Streams skips it: the records would wait for
 * the next commit, which an idle task never makes). A failure is only
 * logged: the records are deleted by a later purge, or by the topic's
 * retention. */
static void brook__thr_purge_poll(brook__thread_t *thr)
{
        const rd_kafka_topic_partition_list_t *res;
        rd_kafka_event_t *ev;
        int i;

        if (!thr->purging || !(ev = rd_kafka_queue_poll(thr->purge_q, 0)))
                return;
        thr->purging = false;
        if (rd_kafka_event_error(ev)) {
                brook__log("WARN",
                           "thread %d: deleting committed records of "
                           "repartition topics failed: %s",
                           thr->idx, rd_kafka_event_error_string(ev));
        } else if ((res = rd_kafka_DeleteRecords_result_offsets(
                            rd_kafka_event_DeleteRecords_result(ev)))) {
                for (i = 0; i < res->cnt; i++)
                        if (res->elems[i].err)
                                brook__log("WARN",
                                           "thread %d: deleting records of "
                                           "%s [%" PRId32 "] below offset "
                                           "%" PRId64 " failed: %s",
                                           thr->idx, res->elems[i].topic,
                                           res->elems[i].partition,
                                           res->elems[i].offset,
                                           rd_kafka_err2str(res->elems[i].err));
        }
        rd_kafka_event_destroy(ev);
        if (thr->purge_again) {
                thr->purge_again = false;
                brook__thr_purge(thr);
        }
}

/* What brook__thr_commit() gives the commit. */
typedef struct brook__thr_io {
        brook__thread_t *thr;
        int flush_ms;
} brook__thr_io_t;

static brook__commit_t brook__thr_txn_abort(brook__thread_t *thr,
                                            const char *why, bool fatal,
                                            bool given_away);
static brook__commit_t brook__thr_txn_send(brook__thr_io_t *io, bool *empty,
                                           char *errstr);

/* Delivery is the producer's flush, up to flush_ms (while the app stops,
 * no longer than what is left of its stop's time). A record lost fails
 * the commit (its input must not be committed); a producer that cannot
 * deliver in time stalls it (and, past task.timeout.ms of stalling,
 * fails it). */
static brook__commit_t brook__thr_deliver(void *opaque, bool *again,
                                          char *errstr, size_t errstr_size)
{
        brook__thr_io_t *io = opaque;
        brook__thread_t *thr = io->thr;
        int64_t stop_left;
        int flush_ms;
        rd_kafka_resp_err_t err;

        (void)again;
        /* Under exactly-once the input offsets go in the transaction
         * first: the coordinator's round trips then overlap the records'
         * way to the broker (a commit took a flush, then two round trips
         * for the offsets, then one for the commit). Not for a
         * transaction that must abort (below). */
        if (thr->eos && !thr->txn_abort_why[0]) {
                bool empty;
                brook__commit_t c = brook__thr_txn_send(io, &empty, errstr);
                if (c != BROOK__COMMIT_DONE)
                        return c;
        }
        /* What is left of a stop's time after the offsets took theirs. */
        stop_left = brook__app_stop_left(thr->app, io->flush_ms);
        flush_ms = stop_left < io->flush_ms ? (int)stop_left : io->flush_ms;
        err = rd_kafka_flush(thr->producer, flush_ms);
        /* Dead-letter records refused as too large go again, cut. */
        while (!err && brook__thr_redeliver(thr))
                err = rd_kafka_flush(thr->producer, flush_ms);
        if (thr->eos && thr->txn_abort_why[0]) {
                char why[sizeof thr->txn_abort_why];
                snprintf(why, sizeof why, "%s", thr->txn_abort_why);
                return brook__thr_txn_abort(
                        thr, why,
                        rd_kafka_fatal_error(thr->producer, NULL, 0) != 0,
                        false);
        }
        if (thr->delivery_error[0]) {
                brook__seterr(errstr, errstr_size, "%s", thr->delivery_error);
                return BROOK__COMMIT_FAILED;
        }
        if (err) {
                if (brook__thr_stall(thr, NULL) == BROOK__COMMIT_STALLED)
                        return BROOK__COMMIT_STALLED;
                /* brook__thr_stall() failed the app already. */
                errstr[0] = '\0';
                return BROOK__COMMIT_FAILED;
        }
        return BROOK__COMMIT_DONE;
}

/* The offsets of what the thread's tasks processed since they last
 * committed, each with its partition time (as Kafka Streams: for whoever
 * resumes from it). */
static rd_kafka_topic_partition_list_t *brook__thr_offsets(brook__thread_t *thr)
{
        rd_kafka_topic_partition_list_t *offsets =
                rd_kafka_topic_partition_list_new(8);
        size_t i, j;
        for (i = 0; i < thr->tasks.cnt; i++) {
                brook__task_t *task = thr->tasks.v[i];
                for (j = 0; j < task->queues.cnt; j++) {
                        brook__pqueue_t *q = task->queues.v[j];
                        rd_kafka_topic_partition_t *tp;
                        if (q->next_offset < 0 ||
                            q->next_offset == q->committed)
                                continue;
                        tp = rd_kafka_topic_partition_list_add(
                                offsets, q->topic, q->partition);
                        tp->offset = q->next_offset;
                        if (q->partition_time >= 0) {
                                tp->metadata = brook__xmalloc(13);
                                tp->metadata_size = brook__ptime_encode(
                                        q->partition_time, tp->metadata);
                        }
                }
        }
        return offsets;
}

/* @p offsets are committed: the queues remember it, and the repartition
 * records below them may go. */
static void brook__thr_committed(brook__thread_t *thr,
                                 const rd_kafka_topic_partition_list_t *offsets)
{
        size_t i, j;
        int k;
        for (k = 0; k < offsets->cnt; k++) {
                const rd_kafka_topic_partition_t *tp = &offsets->elems[k];
                for (i = 0; i < thr->tasks.cnt; i++) {
                        brook__task_t *task = thr->tasks.v[i];
                        for (j = 0; j < task->queues.cnt; j++) {
                                brook__pqueue_t *q = task->queues.v[j];
                                if (q->partition == tp->partition &&
                                    !strcmp(q->topic, tp->topic))
                                        q->committed = tp->offset;
                        }
                }
        }
        atomic_fetch_add(&thr->stat_commits, 1);
        brook__thr_purge(thr);
}

/* Commits the processed offsets. A failed commit is not fatal: the
 * records will be processed again by whoever owns the partitions next
 * (at-least-once), and the next commit includes them again. */
static brook__commit_t brook__thr_commit_processed(void *opaque, char *errstr,
                                                   size_t errstr_size)
{
        brook__thr_io_t *io = opaque;
        brook__thread_t *thr = io->thr;
        rd_kafka_topic_partition_list_t *offsets;
        rd_kafka_resp_err_t err;

        (void)errstr;
        (void)errstr_size;
        brook__thr_unstall(thr);
        offsets = brook__thr_offsets(thr);
        if (offsets->cnt) {
                err = brook__thr_commit_offsets(thr, offsets);
                if (err)
                        brook__log("WARN", "thread %d: commit failed: %s",
                                   thr->idx, rd_kafka_err2str(err));
                else
                        brook__thr_committed(thr, offsets);
        }
        rd_kafka_topic_partition_list_destroy(offsets);
        return BROOK__COMMIT_DONE;
}

/* ---------------------------------------------------------- transactions */

/* Transactions that may abort in a row before the app stops. */
#define BROOK__MAX_ABORT_STREAK 10

/* How long an abort may wait for the broker, per attempt. */
#define BROOK__TXN_ABORT_MS 5000

/* How long a transactional call may take: @p cap_ms, no longer than what
 * is left of a stop's time. Never -1: librdkafka 2.0.2 takes that for
 * "forever" (no cap at the transaction's time), and a call that times out
 * is resumed by the next attempt. */
static int brook__thr_txn_timeout(brook__thread_t *thr, int cap_ms)
{
        int64_t left = brook__app_stop_left(thr->app, cap_ms);
        return left < cap_ms ? (int)left + 1 : cap_ms;
}

/* Forgets the commit's transaction state (the transaction ended). */
static void brook__thr_txn_clear(brook__thread_t *thr)
{
        if (thr->txn_offsets)
                rd_kafka_topic_partition_list_destroy(thr->txn_offsets);
        if (thr->txn_cgmd)
                rd_kafka_consumer_group_metadata_destroy(thr->txn_cgmd);
        thr->txn_offsets = NULL;
        thr->txn_cgmd = NULL;
        thr->txn_offsets_sent = false;
        thr->txn_committing = false;
        thr->txn_open = false;
        thr->txn_abort_why[0] = '\0';
        thr->txn_abort_why_weak = false;
}

/* Drops the producer's topic handles and purge queue (before the producer
 * goes: they hold references on it). */
static void brook__thr_drop_ptopics(brook__thread_t *thr)
{
        size_t i;
        for (i = 0; i < thr->ptopic_cnt; i++) {
                rd_kafka_topic_destroy(thr->ptopics[i].rkt);
                free(thr->ptopics[i].name);
        }
        free(thr->ptopics);
        free(thr->ptopic_slots);
        thr->ptopics = NULL;
        thr->ptopic_slots = NULL;
        thr->ptopic_cnt = thr->ptopic_cap = thr->ptopic_slot_cnt = 0;
        memset(thr->ptopic_recent, 0, sizeof thr->ptopic_recent);
        if (thr->purge_q)
                rd_kafka_queue_destroy(thr->purge_q);
        thr->purge_q = NULL;
        thr->purging = false;
}

static void *brook__thr_reap_producer(void *arg)
{
        rd_kafka_destroy(arg);
        return NULL;
}

static void *brook__thr_reap_consumer(void *arg)
{
        /* Its group membership is gone already: no close, no callbacks. */
        rd_kafka_destroy_flags(arg, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        return NULL;
}

/* Runs @p reap(@p rk) on a thread of its own, as a client's destroy may
 * wait for the broker; here if no thread can be made. */
static void brook__thr_reap(void *(*reap)(void *), rd_kafka_t *rk)
{
        pthread_attr_t attr;
        pthread_t tid;

        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&tid, &attr, reap, rk))
                reap(rk);
        pthread_attr_destroy(&attr);
}

/*
 * Makes the transactional producer ready: init_transactions() (which
 * fences a former producer of the same transactional.id and ends its open
 * transaction), retried while its errors are retriable, until the app
 * stops. Returns false, with the app failed, when it cannot be.
 */
static bool brook__thr_txn_init(brook__thread_t *thr)
{
        char why[512];
        brook__txn_res_t r;
        int64_t limit = brook__conf_int(thr->app->conf, "task.timeout.ms");
        int64_t start = brook__now_mono_ms();

        for (;;) {
                int64_t left = brook__app_stop_left(thr->app, 10000);
                r = brook__txn_result(
                        rd_kafka_init_transactions(
                                thr->producer,
                                left > 10000 ? 10000 : (int)left + 1),
                        "initializing transactions", why, sizeof why);
                if (r == BROOK__TXN_OK)
                        return true;
                if (r != BROOK__TXN_RETRY || !left ||
                    brook__now_mono_ms() - start > limit)
                        break;
                brook__log("WARN", "thread %d: %s; trying again", thr->idx,
                           why);
        }
        if (!thr->failed) {
                char msg[700];
                snprintf(msg, sizeof msg, "thread %d: %s", thr->idx, why);
                brook__thr_fatal(thr, msg);
                thr->failed = true;
        }
        return false;
}

/* Lets go of the producer (abandoned in a call that does not return:
 * @p given_away; else destroyed in the background, as its destroy may
 * wait for the broker). */
static void brook__thr_txn_drop(brook__thread_t *thr, bool given_away)
{
        rd_kafka_t *old = thr->producer;

        brook__thr_drop_ptopics(thr);
        thr->producer = NULL;
        if (!given_away && old)
                brook__thr_reap(brook__thr_reap_producer, old);
}

/* Drops the producer (see brook__thr_txn_drop()) and makes a new one with
 * the same configuration. Returns false, with the app failed, if it
 * cannot be made. */
static bool brook__thr_producer_renew(brook__thread_t *thr, bool given_away)
{
        char why[512], msg[700];
        rd_kafka_conf_t *pc = rd_kafka_conf_dup(thr->producer_conf);

        brook__thr_txn_drop(thr, given_away);
        /* rd_kafka_new() takes the configuration only on success. */
        if (!(thr->producer =
                      rd_kafka_new(RD_KAFKA_PRODUCER, pc, why, sizeof why))) {
                rd_kafka_conf_destroy(pc);
                snprintf(msg, sizeof msg,
                         "thread %d: making a new producer: %s", thr->idx, why);
                brook__thr_fatal(thr, msg);
                thr->failed = true;
                return false;
        }
        return true;
}

/*
 * Replaces a producer that failed fatally (or was fenced, or was abandoned
 * in a call that does not return: @p given_away) by a new one with the
 * same transactional.id.
 */
static bool brook__thr_txn_renew(brook__thread_t *thr, bool given_away)
{
        return brook__thr_producer_renew(thr, given_away) &&
               brook__thr_txn_init(thr);
}

/*
 * Under at_least_once, tasks closed without a commit (their partitions
 * lost, or a commit that could not complete) may leave records in the
 * producer, queued or waiting for the broker. Sent later, whenever the
 * broker answers, they could land after the tasks' next owner restored
 * the stores and wrote newer state to the same changelog partitions: a
 * later restoration would then end on the older state (counts that go
 * back). Their input is processed again from the last commit by whoever
 * owns it next, so they are dropped instead (and the dead-letter copies
 * kept to send again), and the producer is made again (the idempotent
 * producer's sequence cannot skip records). Only requests already on the
 * wire may still land: librdkafka stops waiting for their answer, it
 * cannot call them back. Kafka Streams' at-least-once thread keeps its
 * producer, and such records go out late. Under exactly_once_v2 the
 * abort does this. A thread that failed only drops them (it makes no more
 * records). Returns false, with the app failed, if no producer can be
 * made.
 */
static bool brook__thr_producer_discard(brook__thread_t *thr)
{
        int left;

        if (thr->eos || !thr->producer)
                return true;
        /* Reports that came already count: those records are in. */
        rd_kafka_poll(thr->producer, 0);
        brook__thr_redeliver_clear(thr);
        /* Nothing is left to wait for from here: a stalled commit is over
         * (the partitions it paused are resumed as they are given up). */
        if (thr->stall_since) {
                thr->stall_since = 0;
                brook__thr_publish_stall(thr, NULL);
        }
        if (!(left = rd_kafka_outq_len(thr->producer)))
                return true;
        thr->discarding = true;
        rd_kafka_purge(thr->producer,
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(thr->producer, 0);
        thr->discarding = false;
        brook__log("WARN",
                   "thread %d: dropped the %d records of the closed tasks "
                   "that the producer had not delivered (their input is "
                   "processed again from the last commit)%s",
                   thr->idx, left,
                   thr->failed ? "" : "; making a new producer");
        if (thr->failed)
                return true;
        if (!brook__thr_producer_renew(thr, false))
                return false;
        thr->last_kafka_error[0] = '\0';
        return true;
}

/*
 * Aborts the open transaction for @p why: nothing it sent becomes
 * visible to read_committed consumers, its offsets are not committed, and
 * the thread's uncommitted state (write batch; the cache and the tasks go
 * with brook__thr_reset_tasks(), pending now) is dropped. A producer that
 * cannot abort (@p fatal: it cannot even try) is replaced. Returns
 * ABORTED, or FAILED with the app failed.
 */
static brook__commit_t brook__thr_txn_abort(brook__thread_t *thr,
                                            const char *why, bool fatal,
                                            bool given_away)
{
        char abort_why[512] = "";
        brook__txn_res_t r;
        int attempts = 0;

        /* A producer that failed fatally cannot abort: it is replaced. */
        if (!given_away && thr->producer &&
            rd_kafka_fatal_error(thr->producer, NULL, 0))
                fatal = true;
        /* Nor can one whose commit_transaction() is under way (librdkafka
         * refuses with a conflict): the commit's outcome is unknown, and
         * a new producer's init ends it either way. The tasks' revival
         * restores what the changelog has, committed or not. */
        if (thr->txn_committing) {
                fatal = true;
                snprintf(abort_why, sizeof abort_why,
                         "a commit of the transaction was under way, its "
                         "outcome unknown");
        }
        if (!thr->producer)
                fatal = true;
        r = fatal ? BROOK__TXN_FATAL : BROOK__TXN_OK;
        brook__log("WARN",
                   "thread %d: aborting the transaction (%s); the tasks go "
                   "back to their last commit",
                   thr->idx, why);
        /* The same input failing every time (a record the broker always
         * refuses) would abort forever: stop with the cause instead. Its
         * input stays uncommitted, nothing is lost. */
        if (thr->abort_streak == 0)
                snprintf(thr->abort_first_why, sizeof thr->abort_first_why,
                         "%s", why);
        if (++thr->abort_streak >= BROOK__MAX_ABORT_STREAK && !thr->failed) {
                char msg[1400];
                /* The first cause too: a producer that failed once may
                 * fail the next ones for that (librdkafka's "Erroneous
                 * state"), which says nothing of the cause. */
                if (strcmp(thr->abort_first_why, why))
                        snprintf(msg, sizeof msg,
                                 "thread %d: %d transactions in a row "
                                 "aborted; the last because %s; the first "
                                 "because %s",
                                 thr->idx, thr->abort_streak, why,
                                 thr->abort_first_why);
                else
                        snprintf(msg, sizeof msg,
                                 "thread %d: %d transactions in a row "
                                 "aborted; the last because %s",
                                 thr->idx, thr->abort_streak, why);
                brook__thr_fatal(thr, msg);
                thr->failed = true;
        }
        while (r == BROOK__TXN_OK && thr->txn_open) {
                r = brook__txn_result(
                        rd_kafka_abort_transaction(
                                thr->producer,
                                brook__thr_txn_timeout(thr,
                                                       BROOK__TXN_ABORT_MS)),
                        "aborting the transaction", abort_why,
                        sizeof abort_why);
                if (r == BROOK__TXN_RETRY && ++attempts < 3 &&
                    brook__app_stop_left(thr->app, 1))
                        r = BROOK__TXN_OK;
                else if (r == BROOK__TXN_OK)
                        break;
        }
        if (r != BROOK__TXN_OK) {
                /* A new producer's init ends the transaction instead; a
                 * stopping app makes none (its next start does). */
                bool stopping = brook__app_should_stop(thr->app);
                if (abort_why[0])
                        brook__log("WARN", "thread %d: %s; %s", thr->idx,
                                   abort_why,
                                   stopping ? "dropping the producer"
                                            : "making a new producer");
                brook__thr_txn_clear(thr);
                if (stopping)
                        brook__thr_txn_drop(thr, given_away);
                else if (!brook__thr_txn_renew(thr, given_away))
                        return BROOK__COMMIT_FAILED;
        } else {
                /* Serves the purged records' reports (ignored). */
                rd_kafka_poll(thr->producer, 0);
        }
        brook__thr_txn_clear(thr);
        if (thr->env.batch)
                brook__statebatch_discard(thr->env.batch);
        atomic_fetch_add(&thr->stat_aborts, 1);
        thr->reset_pending = true;
        return BROOK__COMMIT_ABORTED;
}

/* What a failed step of a transaction's commit leaves: a retriable error
 * stalls the commit, and the next attempt makes the same call with the
 * same arguments; one that requires an abort aborts; a fatal one (fenced
 * included) aborts with a new producer. */
static brook__commit_t brook__thr_txn_failed(brook__thread_t *thr,
                                             brook__txn_res_t r,
                                             const char *why, bool abandoned,
                                             char *errstr)
{
        switch (r) {
        case BROOK__TXN_RETRY:
                if (brook__thr_stall(thr, why) == BROOK__COMMIT_STALLED)
                        return BROOK__COMMIT_STALLED;
                /* Past task.timeout.ms: brook__thr_stall() failed the
                 * app; the transaction is aborted on the way out. */
                errstr[0] = '\0';
                return BROOK__COMMIT_FAILED;
        case BROOK__TXN_ABORT:
                return brook__thr_txn_abort(thr, why, false, false);
        default:
                return brook__thr_txn_abort(thr, why, true, abandoned);
        }
}

/*
 * The first step of a transaction's commit (exactly_once_v2): the offsets
 * of what was processed, worked out once per transaction, go in with
 * send_offsets_to_transaction() and fresh group metadata (a member the
 * group fenced cannot commit). Made before the producer is flushed, so
 * that its round trips to the coordinator overlap the last records' way
 * to the broker (brook__thr_deliver()); a later attempt skips it once it
 * succeeded. *@p empty: no offsets and no transaction, nothing to commit.
 */
static brook__commit_t brook__thr_txn_send(brook__thr_io_t *io, bool *empty,
                                           char *errstr)
{
        brook__thread_t *thr = io->thr;
        brook__txn_res_t r = BROOK__TXN_OK;
        bool abandoned = false;
        char why[512];

        *empty = false;
        if (!thr->txn_offsets) {
                thr->txn_offsets = brook__thr_offsets(thr);
                if (!thr->txn_offsets->cnt && !thr->txn_open) {
                        rd_kafka_topic_partition_list_destroy(thr->txn_offsets);
                        thr->txn_offsets = NULL;
                        *empty = true;
                        return BROOK__COMMIT_DONE;
                }
                if (!brook__thr_txn_begin(thr))
                        return brook__thr_txn_abort(thr, thr->txn_abort_why,
                                                    false, false);
                thr->txn_offsets_sent = !thr->txn_offsets->cnt;
                if (thr->txn_offsets->cnt)
                        thr->txn_cgmd =
                                rd_kafka_consumer_group_metadata(thr->consumer);
        }
        if (thr->txn_offsets_sent)
                return BROOK__COMMIT_DONE;
        int64_t left = brook__app_stop_left(thr->app, io->flush_ms);
        r = brook__txn_send_offsets(
                thr->producer, thr->txn_offsets, thr->txn_cgmd,
                left < io->flush_ms ? (int)left + 1 : io->flush_ms, &abandoned,
                why, sizeof why);
        if (abandoned) {
                /* The call's thread owns the producer now. */
                brook__thr_drop_ptopics(thr);
                thr->producer = NULL;
        }
        thr->txn_offsets_sent = r == BROOK__TXN_OK;
        return r == BROOK__TXN_OK
                       ? BROOK__COMMIT_DONE
                       : brook__thr_txn_failed(thr, r, why, abandoned, errstr);
}

/*
 * Commits the transaction (exactly_once_v2): its offsets went in when the
 * producer was flushed (brook__thr_txn_send(), made again here if that
 * was skipped), then commit_transaction(). Failures as
 * brook__thr_txn_failed() says.
 */
static brook__commit_t brook__thr_commit_txn(void *opaque, char *errstr,
                                             size_t errstr_size)
{
        brook__thr_io_t *io = opaque;
        brook__thread_t *thr = io->thr;
        brook__commit_t c;
        brook__txn_res_t r;
        bool empty;
        char why[512];

        (void)errstr_size;
        if ((c = brook__thr_txn_send(io, &empty, errstr)) != BROOK__COMMIT_DONE)
                return c;
        if (empty) {
                brook__thr_txn_clear(thr);
                brook__thr_unstall(thr);
                return BROOK__COMMIT_DONE;
        }
        /* From here until it completes, the transaction can only be
         * committed (a timed-out commit is resumed by the next attempt),
         * not aborted. */
        thr->txn_committing = true;
        r = brook__txn_result(
                rd_kafka_commit_transaction(
                        thr->producer,
                        brook__thr_txn_timeout(thr, io->flush_ms)),
                "committing the transaction", why, sizeof why);
        if (r != BROOK__TXN_OK)
                return brook__thr_txn_failed(thr, r, why, false, errstr);
        thr->abort_streak = 0;
        brook__thr_committed(thr, thr->txn_offsets);
        brook__thr_txn_clear(thr);
        brook__thr_unstall(thr);
        return BROOK__COMMIT_DONE;
}

/**
 * Commits every running task (engine/commit.c), waiting up to @p flush_ms
 * for the producer. A failure fails the app. An aborted transaction
 * leaves the tasks to be reset (reset_pending).
 */
static brook__commit_t brook__thr_commit(brook__thread_t *thr, int flush_ms)
{
        brook__thr_io_t tio = {thr, flush_ms};
        brook__commit_io_t io = {brook__thr_deliver,
                                 thr->eos ? brook__thr_commit_txn
                                          : brook__thr_commit_processed,
                                 &tio, thr->eos};
        char why[1024];
        brook__commit_t r;
        brook_err_t err;

        /* A producer that could not be made again failed the app. */
        if (!thr->producer)
                return BROOK__COMMIT_FAILED;
        /* Tasks that an abort left to be reset hold the aborted
         * transaction's state: nothing of it may be committed. */
        if (thr->reset_pending)
                return BROOK__COMMIT_ABORTED;
        why[0] = '\0';
        thr->last_commit = brook__now_mono_ms();
        r = brook__commit(&thr->tasks, thr->env.batch, &io, &err, why,
                          sizeof why);
        if (r == BROOK__COMMIT_FAILED) {
                if (why[0])
                        brook__thr_fatal(thr, why);
                thr->failed = true;
        }
        return r;
}

/* ------------------------------------------------------------- rebalance */

static void brook__thr_close_task(brook__thread_t *thr, brook__task_t *task)
{
        size_t i;
        brook__thread_restore_drop(thr, task);
        for (i = 0; i < task->stores.cnt; i++)
                brook__app_unregister_store(thr->app, task->stores.v[i]);
        brook__task_destroy(task, brook__release_msg);
}

/* Lets go of the partitions' own queues (their records stay with
 * librdkafka, and are taken no more). */
static void brook__thr_release_queues(brook__thread_t *thr)
{
        size_t i;
        for (i = 0; i < thr->route_cnt; i++) {
                struct brook__route *r = &thr->routes[i];
                if (!r->rkq)
                        continue;
                /* The callback belongs to librdkafka's queue, which
                 * outlives this handle: it goes first (under the queue's
                 * lock, so none runs after this). */
                rd_kafka_queue_cb_event_enable(r->rkq, NULL, NULL);
                rd_kafka_queue_destroy(r->rkq);
                r->rkq = NULL;
        }
}

static void brook__thr_close_tasks(brook__thread_t *thr)
{
        size_t i;
        brook__thr_release_queues(thr);
        for (i = 0; i < thr->tasks.cnt; i++)
                brook__thr_close_task(thr, thr->tasks.v[i]);
        atomic_fetch_add(&thr->m.tasks_closed, (long long)thr->tasks.cnt);
        brook__ptrvec_free(&thr->tasks);
        thr->snap_at = 0;
        thr->route_cnt = 0;
        thr->reset_pending = false;
}

static brook__task_t *brook__thr_task(brook__thread_t *thr, int sub_id,
                                      int32_t partition)
{
        size_t i;
        brook__task_t *task;
        char errstr[1024];
        for (i = 0; i < thr->tasks.cnt; i++) {
                task = thr->tasks.v[i];
                if (task->sub_id == sub_id && task->partition == partition)
                        return task;
        }
        task = brook__task_new(&thr->rt, &thr->app->topo.subs[sub_id],
                               partition);
        brook__ptrvec_push(&thr->tasks, task);
        atomic_fetch_add(&thr->m.tasks_created, 1);
        thr->snap_at = 0;
        /* Processors start once the stores are restored (see assign). */
        if (brook__task_open_stores(task, errstr, sizeof errstr)) {
                brook__thr_fatal(thr, errstr);
                thr->failed = true;
                return task;
        }
        for (i = 0; i < task->stores.cnt; i++)
                brook__app_register_store(thr->app, task->stores.v[i]);
        return task;
}

/* Whether the input partition @p tp feeds @p task. */
static bool brook__thr_feeds(brook__thread_t *thr,
                             const rd_kafka_topic_partition_t *tp,
                             const brook__task_t *task)
{
        brook__node_t *src =
                brook__topology_source_for(&thr->app->topo, tp->topic);
        return src && src->subtopology == task->sub_id &&
               tp->partition == task->partition;
}

/*
 * Starts the partition time of each partition of @p parts (and so the
 * stream time of its task) where the last commit left it, as Kafka
 * Streams' StreamTask does from the committed offsets' metadata. It asks
 * the group coordinator (at most 10 s, less if the app is stopping); a
 * partition without a committed time, or an answer that does not come,
 * starts unknown (-1), with a warning for the latter.
 */
static void brook__thr_committed_times(brook__thread_t *thr,
                                       rd_kafka_topic_partition_list_t *parts)
{
        rd_kafka_topic_partition_list_t *c =
                rd_kafka_topic_partition_list_copy(parts);
        int64_t left = brook__app_stop_left(thr->app, 10000);
        rd_kafka_resp_err_t err;
        int i;
        size_t j;
        if (left > 10000)
                left = 10000;
        err = left ? rd_kafka_committed(thr->consumer, c, (int)left)
                   : RD_KAFKA_RESP_ERR__TIMED_OUT;
        if (err)
                brook__log("WARN",
                           "thread %d: reading the committed partition times: "
                           "%s; they start unknown (-1)",
                           thr->idx, rd_kafka_err2str(err));
        for (i = 0; !err && i < c->cnt; i++) {
                rd_kafka_topic_partition_t *tp = &c->elems[i];
                int64_t pt;
                if (tp->err || (pt = brook__ptime_decode(
                                        tp->metadata, tp->metadata_size)) < 0)
                        continue;
                for (j = 0; j < thr->route_cnt; j++) {
                        struct brook__route *r = &thr->routes[j];
                        if (r->partition != tp->partition ||
                            strcmp(r->q->topic, tp->topic))
                                continue;
                        /* PartitionGroup.setPartitionTime(). */
                        if (pt > r->q->partition_time)
                                r->q->partition_time = pt;
                        if (pt > r->task->stream_time)
                                r->task->stream_time = pt;
                }
        }
        rd_kafka_topic_partition_list_destroy(c);
}

/* Opens the tasks of @p parts. Those with logged stores restore from the
 * poll loop (brook__thread_restore_step()); their partitions go to
 * @p pause, as Kafka Streams pauses a restoring task's input. The others
 * start now. */
static void brook__thr_assign(brook__thread_t *thr,
                              rd_kafka_topic_partition_list_t *parts,
                              rd_kafka_topic_partition_list_t *pause)
{
        size_t first_new = thr->tasks.cnt, k;
        char errstr[1024];
        int i;
        for (i = 0; i < parts->cnt; i++) {
                rd_kafka_topic_partition_t *tp = &parts->elems[i];
                brook__node_t *src =
                        brook__topology_source_for(&thr->app->topo, tp->topic);
                brook__task_t *task;
                struct brook__route *r;
                if (!src)
                        continue;
                task = brook__thr_task(thr, src->subtopology, tp->partition);
                if (thr->route_cnt == thr->route_cap) {
                        thr->route_cap =
                                thr->route_cap ? thr->route_cap * 2 : 16;
                        thr->routes = brook__xrealloc(
                                thr->routes,
                                thr->route_cap * sizeof *thr->routes);
                }
                r = &thr->routes[thr->route_cnt++];
                r->rkt = NULL; /* Learnt from the first message. */
                r->partition = tp->partition;
                r->task = task;
                r->q = brook__task_queue(task, tp->topic, src);
                r->rkq = NULL;
        }
        if (thr->failed)
                return;
        brook__thr_committed_times(thr, parts);
        for (k = first_new; !thr->failed && k < thr->tasks.cnt; k++) {
                brook__task_t *task = thr->tasks.v[k];
                /* Without a state db (no stores) there is nothing to
                 * restore. */
                if (thr->env.batch && brook__thread_restore_add(thr, task)) {
                        for (i = 0; i < parts->cnt; i++)
                                if (brook__thr_feeds(thr, &parts->elems[i],
                                                     task))
                                        rd_kafka_topic_partition_list_add(
                                                pause, parts->elems[i].topic,
                                                parts->elems[i].partition);
                        continue;
                }
                if (brook__task_init(task, errstr, sizeof errstr)) {
                        brook__thr_fatal(thr, errstr);
                        thr->failed = true;
                }
        }
}

/* Starts the tasks restoration finished: processors' init(), then their
 * partitions resume (unless a stalled commit keeps everything paused: it
 * resumes them when it completes). */
static void brook__thr_start_ready(brook__thread_t *thr, brook__ptrvec_t *ready)
{
        rd_kafka_topic_partition_list_t *resume =
                rd_kafka_topic_partition_list_new(4);
        char errstr[1024];
        size_t k;
        int i;
        for (k = 0; k < ready->cnt; k++) {
                brook__task_t *task = ready->v[k];
                if (!thr->failed &&
                    brook__task_init(task, errstr, sizeof errstr)) {
                        brook__thr_fatal(thr, errstr);
                        thr->failed = true;
                }
                for (i = thr->paused->cnt; i-- > 0;) {
                        rd_kafka_topic_partition_t *tp = &thr->paused->elems[i];
                        if (!brook__thr_feeds(thr, tp, task))
                                continue;
                        rd_kafka_topic_partition_list_add(resume, tp->topic,
                                                          tp->partition);
                        rd_kafka_topic_partition_list_del_by_idx(thr->paused,
                                                                 i);
                }
        }
        if (resume->cnt && !thr->stall_paused)
                rd_kafka_resume_partitions(thr->consumer, resume);
        rd_kafka_topic_partition_list_destroy(resume);
        ready->cnt = 0;
        brook__app_notify(thr->app);
}

/* Sets the consumer's queue, where the main loop waits (NULL: none, before
 * it is destroyed): a partition queue's records (brook__thr_wake()) and a
 * stop (brook__app_request_stop()) wake the wait there. */
static void brook__thr_set_wake_q(brook__thread_t *thr, rd_kafka_queue_t *q)
{
        thr->wake_q = q;
        brook__app_set_waker(thr->app, thr->idx, q);
}

/* Called by librdkafka (under the partition queue's lock) when a
 * partition queue gets records while empty: wakes the main loop's wait on
 * the consumer's queue. */
static void brook__thr_wake(rd_kafka_t *rk, void *opaque)
{
        brook__thread_t *thr = opaque;
        (void)rk;
        rd_kafka_queue_yield(thr->wake_q);
}

/* Gives each new route its partition's own queue, before the partition is
 * assigned, so that none of its records goes to the consumer's queue
 * (librdkafka leaves a queue the application unforwarded so). */
static void brook__thr_partition_queues(brook__thread_t *thr)
{
        size_t i;
        for (i = 0; i < thr->route_cnt; i++) {
                struct brook__route *r = &thr->routes[i];
                if (r->rkq)
                        continue;
                if (!(r->rkq = rd_kafka_queue_get_partition(
                              thr->consumer, r->q->topic, r->partition)))
                        continue; /* Its records come through the consumer
                                     queue, as before. */
                rd_kafka_queue_forward(r->rkq, NULL);
                rd_kafka_queue_cb_event_enable(r->rkq, brook__thr_wake, thr);
        }
}

/* Takes @p parts: opens their tasks (those that restore have their
 * partitions paused) and assigns them to the consumer. */
static rd_kafka_resp_err_t
brook__thr_assign_all(brook__thread_t *thr,
                      rd_kafka_topic_partition_list_t *parts)
{
        rd_kafka_topic_partition_list_t *pause =
                rd_kafka_topic_partition_list_new(parts->cnt + 1);
        rd_kafka_resp_err_t kerr;
        int i;

        brook__thr_assign(thr, parts, pause);
        brook__thr_partition_queues(thr);
        kerr = rd_kafka_assign(thr->consumer, parts);
        if (!kerr && pause->cnt) {
                rd_kafka_pause_partitions(thr->consumer, pause);
                for (i = 0; i < pause->cnt; i++)
                        rd_kafka_topic_partition_list_add(
                                thr->paused, pause->elems[i].topic,
                                pause->elems[i].partition);
        }
        rd_kafka_topic_partition_list_destroy(pause);
        thr->assigned = true;
        return kerr;
}

/* Gives up every task and partition; nothing stays paused by this
 * thread. */
static rd_kafka_resp_err_t brook__thr_unassign(brook__thread_t *thr)
{
        rd_kafka_resp_err_t kerr;
        if (thr->paused->cnt)
                rd_kafka_resume_partitions(thr->consumer, thr->paused);
        if (thr->stall_paused) {
                rd_kafka_topic_partition_list_t *all = NULL;
                if (!rd_kafka_assignment(thr->consumer, &all) && all) {
                        rd_kafka_resume_partitions(thr->consumer, all);
                        rd_kafka_topic_partition_list_destroy(all);
                }
        }
        rd_kafka_topic_partition_list_destroy(thr->paused);
        thr->paused = rd_kafka_topic_partition_list_new(8);
        /* A stall outlives the tasks while their records are still in
         * the producer (at_least_once drops them before this: see
         * brook__thr_producer_discard()): the next assignment is paused
         * by the next attempt until a commit completes. */
        thr->stall_paused = false;
        brook__thr_close_tasks(thr);
        kerr = rd_kafka_assign(thr->consumer, NULL);
        thr->assigned = false;
        return kerr;
}

/*
 * After an aborted transaction: every task goes back to its last commit,
 * as if its partitions were revoked and assigned again (Kafka Streams
 * closes them dirty and revives them). The stores keep what RocksDB holds
 * (the last committed state; restoration adds what the changelog has
 * past it), the cache and the queued records are dropped, and the
 * consumer fetches again from the committed offsets.
 */
static void brook__thr_reset_tasks(brook__thread_t *thr)
{
        rd_kafka_topic_partition_list_t *parts = NULL;
        rd_kafka_resp_err_t kerr;
        int i;

        thr->reset_pending = false;
        if (!(kerr = rd_kafka_assignment(thr->consumer, &parts))) {
                kerr = brook__thr_unassign(thr);
                thr->stall_since = 0;
                brook__thr_publish_stall(thr, NULL);
                for (i = 0; i < parts->cnt; i++)
                        parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
                if (!kerr)
                        kerr = brook__thr_assign_all(thr, parts);
        }
        if (parts)
                rd_kafka_topic_partition_list_destroy(parts);
        if (kerr && !thr->failed) {
                char msg[512];
                snprintf(msg, sizeof msg,
                         "thread %d: going back to the last commit after an "
                         "aborted transaction failed: %s",
                         thr->idx, rd_kafka_err2str(kerr));
                brook__thr_fatal(thr, msg);
                thr->failed = true;
        }
        brook__app_notify(thr->app);
}

/* The ids of the thread's tasks, space-separated, into @p buf (cut short
 * with "..." when it is full). */
static void brook__thr_task_ids(brook__thread_t *thr, char *buf, size_t size)
{
        size_t i, len = 0;
        buf[0] = '\0';
        for (i = 0; i < thr->tasks.cnt; i++) {
                const brook__task_t *task = thr->tasks.v[i];
                int n = snprintf(buf + len, size - len, "%s%s", i ? " " : "",
                                 task->id);
                if (n < 0 || (size_t)n >= size - len) {
                        if (size > 4)
                                memcpy(buf + size - 4, "...", 4);
                        return;
                }
                len += (size_t)n;
        }
}

static void brook__rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t *parts,
                                void *opaque)
{
        brook__thread_t *thr = opaque;

        rd_kafka_resp_err_t kerr;
        char msg[512];

        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                char ids[400];
                kerr = brook__thr_assign_all(thr, parts);
                atomic_fetch_add(&thr->stat_rebalances, 1);
                /* Which instance runs what, and when it changed: what an
                 * operator reads first when a task's output stalls or
                 * doubles (Kafka Streams logs it too). */
                brook__thr_task_ids(thr, ids, sizeof ids);
                brook__log("INFO",
                           "thread %d: assigned %d partitions: tasks [%s], "
                           "%d restoring",
                           thr->idx, parts->cnt, ids,
                           atomic_load(&thr->tasks_restoring));
        } else {
                /* Commit before giving the partitions away, so their next
                 * owner starts exactly where this thread stopped; unless
                 * they are already lost (this member was dropped from the
                 * group: another may own them now), or the commit cannot
                 * complete. Then the tasks close without a commit, as
                 * Kafka Streams closes them "dirty": what they processed
                 * since the last commit is processed again. */
                bool lost = rd_kafka_assignment_lost(rk);
                bool clean = false;
                char ids[400];
                thr->revokes++;
                brook__thr_task_ids(thr, ids, sizeof ids);
                brook__log("INFO", "thread %d: partitions %s: tasks [%s]",
                           thr->idx,
                           lost ? "lost (this member left the group)"
                                : "revoked",
                           ids);
                /* The app is rebalancing from here on, while the tasks
                 * commit or abort and close (which can take a while with
                 * the broker away), as Kafka Streams' thread goes to
                 * PARTITIONS_REVOKED first: brook_app_state() does not
                 * say RUNNING for tasks that no longer process. */
                atomic_store(&thr->assigned, false);
                brook__app_notify(thr->app);
                if (!thr->failed && !lost && !thr->close_dirty)
                        clean = brook__thr_commit(thr, thr->revoke_flush_ms) ==
                                BROOK__COMMIT_DONE;
                if (!clean) {
                        if (!thr->failed && thr->tasks.cnt)
                                brook__log("WARN",
                                           "thread %d: closing %zu tasks "
                                           "without a commit (%s): records "
                                           "since the last commit will be "
                                           "processed again",
                                           thr->idx, thr->tasks.cnt,
                                           lost ? "partitions lost"
                                                : "commit could not "
                                                  "complete");
                        /* Under exactly_once_v2 what they sent is
                         * aborted: their next owner must not wait for it,
                         * nor see it. */
                        if (thr->eos && thr->txn_open && thr->producer)
                                brook__thr_txn_abort(
                                        thr, "the partitions are revoked",
                                        false, false);
                        /* Under at_least_once what they sent and the
                         * producer still holds is dropped: their next
                         * owner must not see it arrive late. */
                        brook__thr_producer_discard(thr);
                        brook__statebatch_discard(thr->env.batch);
                }
                kerr = brook__thr_unassign(thr);
        }
        /* A thread whose consumer did not take the assignment would sit
         * idle on tasks it cannot feed (or keep fetching revoked
         * partitions): stop the app with the cause instead. */
        if (kerr && !thr->failed) {
                snprintf(msg, sizeof msg, "thread %d: %s failed: %s", thr->idx,
                         err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS
                                 ? "assigning partitions"
                                 : "revoking partitions",
                         rd_kafka_err2str(kerr));
                brook__thr_fatal(thr, msg);
                thr->failed = true;
        }
        /* The group has just answered: however long opening the tasks or
         * committing took, the thread is a member now. */
        thr->awake_ms = brook__now_mono_ms();
        brook__app_notify(thr->app);
}

/* ------------------------------------------------------------- main loop */

static struct brook__route *brook__thr_route(brook__thread_t *thr,
                                             rd_kafka_message_t *rkm)
{
        size_t i;
        const char *name = NULL;
        for (i = 0; i < thr->route_cnt; i++) {
                struct brook__route *r = &thr->routes[i];
                if (r->partition != rkm->partition)
                        continue;
                if (r->rkt == rkm->rkt)
                        return r;
                if (!r->rkt) {
                        if (!name)
                                name = rd_kafka_topic_name(rkm->rkt);
                        if (!strcmp(name, r->q->topic)) {
                                r->rkt = rkm->rkt;
                                return r;
                        }
                }
        }
        return NULL;
}

/*
 * Whether @p rkt, which the consumer just reported unknown, is a source
 * topic that is really gone. Only a topic the app subscribes to by name
 * counts (a pattern's topics come and go; a repartition topic is brook's):
 * start-up checked that it existed, so now it was deleted. The consumer's
 * word is checked against a fresh metadata request first, so that a
 * metadata cache lagging behind a creation cannot stop the app; no answer
 * (the broker down) is no proof.
 */
static bool brook__thr_source_gone(brook__thread_t *thr, rd_kafka_topic_t *rkt)
{
        const char *name = rd_kafka_topic_name(rkt);
        brook__node_t *src = brook__topology_source_for(&thr->app->topo, name);
        const struct rd_kafka_metadata *md;
        bool gone;
        if (!src || src->pattern || src->internal)
                return false;
        if (rd_kafka_metadata(thr->consumer, 0, rkt, &md, 5000))
                return false;
        gone = md->topic_cnt == 1 &&
               (md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                (!md->topics[0].err && !md->topics[0].partition_cnt));
        rd_kafka_metadata_destroy(md);
        return gone;
}

/* Queues @p rkm for its task: @p r is its partition's route, or NULL to
 * find it. */
static void brook__thr_enqueue(brook__thread_t *thr, struct brook__route *r,
                               rd_kafka_message_t *rkm)
{
        brook__inrec_t in;
        rd_kafka_timestamp_type_t tstype;
        rd_kafka_headers_t *hdrs;

        if (rkm->err) {
                if ((rkm->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                     rkm->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) &&
                    rkm->rkt && brook__thr_source_gone(thr, rkm->rkt)) {
                        char msg[768];
                        snprintf(msg, sizeof msg,
                                 "source topic \"%s\" is missing: it was "
                                 "deleted while the app ran (Kafka Streams: "
                                 "MissingSourceTopicException); recreate it "
                                 "and restart the app",
                                 rd_kafka_topic_name(rkm->rkt));
                        brook__thr_fatal(thr, msg);
                        thr->failed = true;
                } else if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        /* The partition's end, for max.task.idle.ms. */
                        if (r ||
                            (rkm->rkt && (r = brook__thr_route(thr, rkm)))) {
                                r->q->eof_pos = rkm->offset;
                                r->q->lag_round = 0;
                        }
                } else if (rkm->err == RD_KAFKA_RESP_ERR__FATAL) {
                        /* Nothing more comes from this consumer: the
                         * loop makes a new one (brook__thr_renew_consumer). */
                        thr->consumer_fatal = true;
                } else
                        brook__log("WARN", "thread %d: consumer: %s", thr->idx,
                                   rd_kafka_message_errstr(rkm));
                rd_kafka_message_destroy(rkm);
                return;
        }
        if (!r && !(r = brook__thr_route(thr, rkm))) {
                /* A late message of a partition this thread gave away. */
                rd_kafka_message_destroy(rkm);
                return;
        }
        in.topic = r->q->topic;
        in.partition = rkm->partition;
        in.offset = rkm->offset;
        in.timestamp = rd_kafka_message_timestamp(rkm, &tstype);
        in.key = rkm->key;
        in.key_size = rkm->key_len;
        in.value = rkm->payload;
        in.value_size = rkm->len;
        /* Looked at now, beside the timestamp in the cache: by the time
         * the record is processed (up to buffered.records.per.partition
         * records later) the message has left it, and every record sent
         * on reads its headers. librdkafka parses them here if there are
         * any, and keeps them with the message. */
        if (rd_kafka_message_headers(rkm, &hdrs))
                hdrs = NULL;
        in.headers = hdrs;
        in.msg = NULL;
        in.owner = rkm;
        if (rkm->offset >= r->q->fetch_pos) {
                r->q->fetch_pos = rkm->offset + 1;
                r->q->lag_round = 0;
        }
        brook__task_enqueue(r->task, r->q, &in, brook__release_msg);
}

/*
 * The fetched lag of @p q's partition for max.task.idle.ms (Kafka
 * Streams' consumer.currentLag()): the high watermark of the consumer's
 * last fetch (cached by librdkafka) past what it handed over, 0 when it
 * last reported the partition's end and has handed over nothing since,
 * -1 before either is known. Under read_committed the end the consumer
 * reports is the last stable offset: the high watermark can be further
 * (an open transaction), with nothing to wait for.
 */
static int64_t brook__thr_fetched_lag(brook__runtime_t *rt, brook__pqueue_t *q)
{
        brook__thread_t *thr =
                (brook__thread_t *)(void *)((char *)rt -
                                            offsetof(brook__thread_t, rt));
        int64_t lo, hi, lag;
        bool known;

        if (q->lag_round == thr->lag_round)
                return q->lag;
        known = !rd_kafka_get_watermark_offsets(thr->consumer, q->topic,
                                                q->partition, &lo, &hi) &&
                hi >= 0;
        if (q->eof_pos >= 0 && q->eof_pos >= q->fetch_pos)
                lag = !thr->read_committed && known && hi > q->eof_pos
                              ? hi - q->eof_pos
                              : 0;
        else if (q->fetch_pos < 0 || !known)
                lag = -1;
        else
                lag = hi > q->fetch_pos ? hi - q->fetch_pos : 0;
        q->lag_round = thr->lag_round;
        q->lag = lag;
        return lag;
}

void brook__tsnap_free(brook__tsnap_t *snap, size_t cnt)
{
        size_t i;
        for (i = 0; i < cnt; i++) {
                free(snap[i].parts);
                free(snap[i].nodes);
        }
        free(snap);
}

/* Publishes the thread's tasks, their input partitions and lag for
 * /metrics and /state: about once a second, and at the next turn after
 * its tasks changed. */
static void brook__thr_snapshot(brook__thread_t *thr, int64_t now)
{
        brook__tsnap_t *snap, *old;
        size_t i, j, cnt = thr->tasks.cnt, old_cnt;

        if (thr->snap_at && now - thr->snap_at < 1000)
                return;
        thr->snap_at = now ? now : 1;
        snap = cnt ? brook__xcalloc(cnt, sizeof *snap) : NULL;
        for (i = 0; i < cnt; i++) {
                brook__task_t *task = thr->tasks.v[i];
                snprintf(snap[i].id, sizeof snap[i].id, "%s", task->id);
                snap[i].restoring = task->restoring;
                if (thr->rt.metrics_debug) {
                        size_t k;
                        snap[i].nodes = brook__xcalloc(
                                task->ctx_cnt ? task->ctx_cnt : 1,
                                sizeof *snap[i].nodes);
                        for (k = 0; k < task->ctx_cnt; k++) {
                                const brook_ctx_t *ctx = &task->ctxs[k];
                                if (!ctx->node ||
                                    ctx->node->subtopology != task->sub_id)
                                        continue;
                                snap[i].nodes[snap[i].node_cnt].name =
                                        ctx->node->name;
                                snap[i].nodes[snap[i].node_cnt++].processed =
                                        ctx->processed;
                        }
                }
                snap[i].part_cnt = task->queues.cnt;
                snap[i].parts = task->queues.cnt
                                        ? brook__xcalloc(task->queues.cnt,
                                                         sizeof *snap[i].parts)
                                        : NULL;
                for (j = 0; j < task->queues.cnt; j++) {
                        brook__pqueue_t *q = task->queues.v[j];
                        brook__psnap_t *p = &snap[i].parts[j];
                        int64_t fl = brook__thr_fetched_lag(&thr->rt, q);
                        snprintf(p->topic, sizeof p->topic, "%s", q->topic);
                        p->partition = q->partition;
                        p->next_offset = q->next_offset;
                        p->committed = q->committed;
                        /* What is queued here, plus what the broker has
                         * past what was handed over. */
                        p->lag = fl < 0 ? -1 : fl + (int64_t)q->cnt;
                }
        }
        if (thr->rt.cache) {
                uint64_t hits, misses;
                brook__cache_lookups(thr->rt.cache, &hits, &misses);
                atomic_store(&thr->m.cache_hits, (long long)hits);
                atomic_store(&thr->m.cache_misses, (long long)misses);
                atomic_store(&thr->m.cache_bytes,
                             (long long)brook__cache_bytes(thr->rt.cache));
        }
        pthread_mutex_lock(&thr->snap_lock);
        old = thr->snap;
        old_cnt = thr->snap_cnt;
        thr->snap = snap;
        thr->snap_cnt = cnt;
        pthread_mutex_unlock(&thr->snap_lock);
        brook__tsnap_free(old, old_cnt);
}

static void brook__thr_publish(brook__thread_t *thr)
{
        long long buffered = 0;
        size_t i;
        for (i = 0; i < thr->tasks.cnt; i++)
                buffered +=
                        (long long)((brook__task_t *)thr->tasks.v[i])->queued;
        atomic_store(&thr->m.buffered, buffered);
        atomic_store(&thr->stat_processed, thr->rt.processed);
        atomic_store(&thr->stat_produced, thr->rt.produced);
        atomic_store(&thr->stat_dlq, thr->rt.dead_lettered);
        atomic_store(&thr->stat_enforced, thr->rt.enforced);
        atomic_store(&thr->m.punct_cnt, thr->rt.punctuations);
        brook__thr_snapshot(thr, brook__now_mono_ms());
}

/* Subscribes the thread's consumer; false, with the app failed, if it
 * cannot. */
static bool brook__thr_subscribe(brook__thread_t *thr)
{
        rd_kafka_resp_err_t err =
                rd_kafka_subscribe(thr->consumer, thr->app->subscription);
        char msg[512];

        if (!err)
                return true;
        snprintf(msg, sizeof msg, "thread %d: subscribe failed: %s", thr->idx,
                 rd_kafka_err2str(err));
        brook__thr_fatal(thr, msg);
        thr->failed = true;
        return false;
}

/*
 * The consumer failed fatally (librdkafka: a static member fenced by its
 * own rejoin after a session timeout, for one): the thread's tasks close
 * without a commit (under exactly_once_v2 the transaction aborts), and a
 * new consumer with the same configuration joins the group, as Kafka
 * Streams' thread rejoins. Returns false, with the app failed, if it
 * cannot be made.
 */
static bool brook__thr_renew_consumer(brook__thread_t *thr,
                                      rd_kafka_queue_t **cqp)
{
        char why[512] = "", msg[700];
        rd_kafka_t *old = thr->consumer;
        rd_kafka_conf_t *cc;
        int64_t now;

        rd_kafka_fatal_error(old, why, sizeof why);
        /* Again and again: most likely another instance with the same
         * group.instance.id, which a new consumer would only fence in
         * turn. Stop, as Kafka Streams stops on a fenced instance. */
        now = brook__now_mono_ms();
        thr->consumer_renewals =
                thr->consumer_renewed && now - thr->consumer_renewed < 60000
                        ? thr->consumer_renewals + 1
                        : 1;
        thr->consumer_renewed = now;
        if (thr->consumer_renewals > 3) {
                snprintf(msg, sizeof msg,
                         "thread %d: the consumer failed %d times within a "
                         "minute of each other, the last time: %s (does "
                         "another instance use the same group.instance.id?)",
                         thr->idx, thr->consumer_renewals, why);
                brook__thr_fatal(thr, msg);
                thr->failed = true;
                return false;
        }
        brook__log("WARN",
                   "thread %d: the consumer failed (%s); its %zu tasks close "
                   "without a commit and a new consumer joins the group",
                   thr->idx, why, thr->tasks.cnt);
        thr->consumer_fatal = false;
        if (thr->eos && thr->txn_open && thr->producer)
                brook__thr_txn_abort(thr, "the consumer failed", false, false);
        if (!brook__thr_producer_discard(thr))
                return false;
        if (thr->env.batch)
                brook__statebatch_discard(thr->env.batch);
        brook__thr_close_tasks(thr);
        rd_kafka_topic_partition_list_destroy(thr->paused);
        thr->paused = rd_kafka_topic_partition_list_new(8);
        thr->stall_paused = false;
        thr->stall_since = 0;
        brook__thr_publish_stall(thr, NULL);
        thr->assigned = false;
        brook__thr_set_wake_q(thr, NULL);
        rd_kafka_queue_destroy(*cqp);
        *cqp = NULL;
        brook__thr_reap(brook__thr_reap_consumer, old);
        cc = rd_kafka_conf_dup(thr->consumer_conf);
        if (!(thr->consumer =
                      rd_kafka_new(RD_KAFKA_CONSUMER, cc, why, sizeof why))) {
                rd_kafka_conf_destroy(cc);
                snprintf(msg, sizeof msg,
                         "thread %d: making a new consumer: %s", thr->idx, why);
                brook__thr_fatal(thr, msg);
                thr->failed = true;
                return false;
        }
        rd_kafka_poll_set_consumer(thr->consumer);
        *cqp = rd_kafka_queue_get_consumer(thr->consumer);
        brook__thr_set_wake_q(thr, *cqp);
        if (!brook__thr_subscribe(thr))
                return false;
        brook__app_notify(thr->app);
        return true;
}

/* Takes what the partition queues hold, from each whose task holds
 * fewer than buffered.records.per.partition of its records and is not
 * restoring (its partitions are paused): up to the bound, so a partition's
 * records in the thread stay within it. Taking a whole bound's worth
 * whenever under it held up to twice as many: with eight input
 * partitions, some 8,000 more librdkafka messages of 624 bytes each, plus
 * the fetch buffers they pin, for no gain in speed.
 * @returns how many records (and errors) it took. */
static ssize_t brook__thr_take(brook__thread_t *thr, rd_kafka_message_t **batch)
{
        size_t i, want;
        ssize_t total = 0, got, k;
        for (i = 0; i < thr->route_cnt && !thr->failed; i++) {
                struct brook__route *r = &thr->routes[i];
                if (!r->rkq || r->task->restoring ||
                    r->q->cnt >= thr->buffer_per_partition)
                        continue;
                want = thr->buffer_per_partition - r->q->cnt;
                if (want > BROOK__POLL_BATCH)
                        want = BROOK__POLL_BATCH;
                got = rd_kafka_consume_batch_queue(r->rkq, 0, batch, want);
                for (k = 0; k < got; k++)
                        brook__thr_enqueue(thr, r, batch[k]);
                if (got > 0)
                        total += got;
        }
        return total;
}

/* The consumer's session.timeout.ms, read once. */
static int64_t brook__thr_session_ms(brook__thread_t *thr)
{
        char buf[32];
        size_t size = sizeof buf;

        if (thr->session_ms > 0)
                return thr->session_ms;
        /* librdkafka's default, should the read fail. */
        thr->session_ms = 45000;
        if (thr->consumer &&
            rd_kafka_conf_get(rd_kafka_conf(thr->consumer),
                              "session.timeout.ms", buf,
                              &size) == RD_KAFKA_CONF_OK &&
            atoll(buf) > 0)
                thr->session_ms = atoll(buf);
        return thr->session_ms;
}

/* How long to wait, after the thread did not run, for the consumer to say
 * whether this member is still in the group. librdkafka checks its
 * session on its own thread as soon as the process runs again, and its
 * overdue heartbeat is answered within a round trip. */
#define BROOK__THAW_WAIT_MS 1000

/* The CPU time this thread has used, in ns. */
static int64_t brook__thr_cpu_ns(void)
{
        struct timespec ts;
        if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
                return 0;
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * After more than session.timeout.ms (@p gap_ms) without a sign of life
 * from the thread, the group has most likely given its tasks to another
 * member, and librdkafka tells this thread so only at its next poll.
 * Until then what the thread writes is a zombie's: under at_least_once,
 * its next commit would flush its caches to the changelogs, stale state
 * that a later restoration of those tasks would take, before its offsets
 * are refused. So the consumer is asked first; a loss closes the tasks
 * without a commit (the revoke callback), as Kafka Streams' thread would
 * at its next poll.
 *
 * How long to ask depends on what the gap was. The thread's CPU time says
 * (measured from a mark at most a second older than the gap): a thread
 * that was busy all along (records slow to process) ran beside
 * librdkafka's own threads, whose verdict (rd_kafka_assignment_lost()) is
 * then current, so it only takes what is queued. One that did not run
 * (the process was stopped or the machine paused, or a call to an absent
 * broker blocked it) waits up to BROOK__THAW_WAIT_MS for librdkafka, which
 * may have stood still with it, to look.
 */
static void brook__thr_after_freeze(brook__thread_t *thr, int64_t gap_ms)
{
        unsigned revokes = thr->revokes;
        int64_t now = brook__now_mono_ms(), until;
        int64_t cpu_ms = (brook__thr_cpu_ns() - thr->cpu_mark_ns) / 1000000;
        bool busy = cpu_ms * 2 > now - thr->cpu_mark_ms;

        if (!thr->tasks.cnt || !thr->consumer)
                goto out;
        brook__log("WARN",
                   "thread %d: %" PRId64 " ms since it last showed it ran "
                   "(%s), longer than session.timeout.ms (%" PRId64
                   " ms): asking the group whether this member still has "
                   "its %zu tasks before writing anything more",
                   thr->idx, gap_ms,
                   busy ? "busy processing"
                        : "it did not run: stopped, or blocked in a call",
                   brook__thr_session_ms(thr), thr->tasks.cnt);
        until = busy && !rd_kafka_assignment_lost(thr->consumer)
                        ? now
                        : now + BROOK__THAW_WAIT_MS;
        /* What is queued is taken in any case (a revoke may be). */
        do {
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(
                        thr->consumer, now < until ? 50 : 0);
                if (!rkm && now >= until)
                        break;
                if (rkm)
                        brook__thr_enqueue(thr, NULL, rkm);
                now = brook__now_mono_ms();
        } while (!thr->failed && !thr->consumer_fatal &&
                 thr->revokes == revokes && now < until + 50);
        if (thr->revokes == revokes && !thr->failed && !thr->consumer_fatal)
                brook__log("INFO", "thread %d: still a member: going on",
                           thr->idx);
out:
        thr->awake_ms = brook__now_mono_ms();
}

/* Notes that the thread runs at @p now (and, once a second, its CPU
 * time); returns how long it showed no sign of life before if that was
 * longer than session.timeout.ms, else 0. */
static int64_t brook__thr_awake(brook__thread_t *thr, int64_t now)
{
        int64_t gap = thr->awake_ms ? now - thr->awake_ms : 0;
        if (gap > brook__thr_session_ms(thr))
                return gap;
        thr->awake_ms = now;
        if (now - thr->cpu_mark_ms >= 1000) {
                thr->cpu_mark_ms = now;
                thr->cpu_mark_ns = brook__thr_cpu_ns();
        }
        return 0;
}

/* Processes what is queued, as far as each task is ready to (records
 * may wait for an empty partition: max.task.idle.ms), but stops once a
 * commit is due (@p commit_interval ms after the last) with records left,
 * setting *@p more: a backlog (a task that waited for its other
 * partition, say) would otherwise go into one huge commit, or one huge
 * transaction. Returns false on a fatal error. */
static bool brook__thr_process(brook__thread_t *thr, int64_t commit_interval,
                               bool *more)
{
        size_t i;
        char errstr[1024];
        int64_t now = brook__now_wall_ms();
        unsigned n = 0;
        *more = false;
        for (i = 0; i < thr->tasks.cnt; i++) {
                brook__task_t *task = thr->tasks.v[i];
                /* Records of a restoring task wait for it (its input is
                 * paused: only what was fetched before is here). */
                if (task->restoring)
                        continue;
                while (brook__task_ready(task, now)) {
                        if (brook__task_process_one(task, brook__release_msg,
                                                    errstr, sizeof errstr)) {
                                brook__thr_fatal(thr, errstr);
                                thr->failed = true;
                                return false;
                        }
                        /* A clock read every 1024 records. A thread
                         * that stood still longer than session.timeout.ms
                         * meanwhile goes back to the loop, which asks
                         * whether it is still a member before anything
                         * else (brook__thr_after_freeze()). */
                        if (!(++n & 1023)) {
                                int64_t t = brook__now_mono_ms();
                                if (brook__thr_awake(thr, t) ||
                                    t - thr->last_commit >= commit_interval) {
                                        *more = true;
                                        return true;
                                }
                        }
                }
        }
        return true;
}

/*
 * Leaves the group (the revoke callback commits nothing new and closes the
 * tasks), but only until the stop's deadline: with the broker down,
 * rd_kafka_consumer_close() waits for the coordinator for as long as
 * session.timeout.ms and more. What is not done by then is abandoned;
 * brook__thr_destroy_clients() does not try again.
 */
static void brook__thr_close_consumer(brook__thread_t *thr)
{
        rd_kafka_queue_t *q;
        rd_kafka_error_t *error;

        /* None: making a new one failed (the app failed with why). */
        if (!thr->consumer)
                return;
        /* librdkafka wants every queue reference gone before the close;
         * nothing is taken from them from here on. */
        brook__thr_release_queues(thr);
        q = rd_kafka_queue_new(thr->consumer);
        error = rd_kafka_consumer_close_queue(thr->consumer, q);
        if (error) {
                brook__log("WARN", "thread %d: leaving the group: %s", thr->idx,
                           rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        }
        while (!error && !rd_kafka_consumer_closed(thr->consumer)) {
                int64_t left = brook__app_stop_left(thr->app, 0);
                rd_kafka_event_t *ev;
                if (!left) {
                        brook__log("WARN",
                                   "thread %d: leaving the group did not "
                                   "finish within shutdown.timeout.ms; the "
                                   "group notices when the session times "
                                   "out",
                                   thr->idx);
                        break;
                }
                ev = rd_kafka_queue_poll(q, left < 100 ? (int)left : 100);
                if (!ev)
                        continue;
                if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
                        brook__rebalance_cb(
                                thr->consumer, rd_kafka_event_error(ev),
                                rd_kafka_event_topic_partition_list(ev), thr);
                rd_kafka_event_destroy(ev);
        }
        rd_kafka_queue_destroy(q);
}

/* A thread that destroys librdkafka handles (see
 * brook__thr_destroy_clients()); shared with the thread that waits for it,
 * the last one to let go frees it. */
struct brook__reaper {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        rd_kafka_t *rk[3];
        int refs;
        bool done;
};

static void brook__reaper_unref(struct brook__reaper *r)
{
        bool last;
        pthread_mutex_lock(&r->lock);
        last = --r->refs == 0;
        pthread_mutex_unlock(&r->lock);
        if (last) {
                pthread_mutex_destroy(&r->lock);
                pthread_cond_destroy(&r->cond);
                free(r);
        }
}

static void *brook__reaper_main(void *arg)
{
        struct brook__reaper *r = arg;
        int i;
        for (i = 0; i < 3; i++)
                if (r->rk[i])
                        /* The consumer left the group already, or gave up
                         * on it: no consumer close, no callbacks. */
                        rd_kafka_destroy_flags(
                                r->rk[i], RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        pthread_mutex_lock(&r->lock);
        r->done = true;
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->lock);
        brook__reaper_unref(r);
        return NULL;
}

/*
 * Destroys the thread's Kafka clients (after its producer topic handles),
 * waiting for that until the stop's deadline but at least @p min_wait_ms.
 * rd_kafka_destroy() can block for long with the broker down: it waits for
 * the consumer group to terminate (commits still waiting for the
 * coordinator, up to session.timeout.ms; leaving the group), so it runs in
 * a detached reaper thread, left to finish on its own if it takes longer.
 * That is safe: nothing the handles call back into is touched by a destroy
 * (callbacks run only from our polls), and the handles own everything else
 * they use.
 */
static void brook__thr_destroy_clients(brook__thread_t *thr,
                                       int64_t min_wait_ms)
{
        struct brook__reaper *r;
        pthread_t tid;
        pthread_attr_t attr;
        struct timespec ts;
        int64_t wait_ms;

        /* The topic handles and queues hold references on the producer
         * and the restorer (a purge's answer still to come goes
         * nowhere). */
        brook__thr_drop_ptopics(thr);
        if (thr->restore_q)
                rd_kafka_queue_destroy(thr->restore_q);
        thr->restore_q = NULL;
        if (!thr->consumer && !thr->producer && !thr->restorer)
                return;

        r = brook__xcalloc(1, sizeof *r);
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->cond, NULL);
        r->rk[0] = thr->consumer;
        r->rk[1] = thr->producer;
        r->rk[2] = thr->restorer;
        r->refs = 2;
        thr->consumer = thr->producer = thr->restorer = NULL;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&tid, &attr, brook__reaper_main, r)) {
                pthread_attr_destroy(&attr);
                r->refs = 1;
                brook__reaper_main(r); /* No thread: do it here. */
                return;
        }
        pthread_attr_destroy(&attr);
        wait_ms = brook__app_stop_left(thr->app, INT32_MAX);
        if (wait_ms < min_wait_ms)
                wait_ms = min_wait_ms;
        brook__deadline(&ts, CLOCK_REALTIME, wait_ms);
        pthread_mutex_lock(&r->lock);
        while (!r->done)
                if (pthread_cond_timedwait(&r->cond, &r->lock, &ts))
                        break;
        if (!r->done)
                brook__log("WARN",
                           "thread %d: its Kafka clients did not shut down "
                           "in time; they finish in the background",
                           thr->idx);
        pthread_mutex_unlock(&r->lock);
        brook__reaper_unref(r);
}

static void *brook__thread_main(void *arg)
{
        brook__thread_t *thr = arg;
        brook_app_t *app = brook__own_app = thr->app;
        rd_kafka_message_t *rkm;
        int64_t commit_interval =
                brook__conf_int(app->conf, "commit.interval.ms");
        int poll_ms = (int)brook__conf_int(app->conf, "poll.ms");
        bool more = false;
        int shutdown_ms =
                (int)brook__conf_int(app->conf, "shutdown.timeout.ms");
        brook__ptrvec_t ready = {0};
        size_t i;
        ssize_t got;

        rd_kafka_queue_t *cq = rd_kafka_queue_get_consumer(thr->consumer);
        brook__thr_set_wake_q(thr, cq);
        rd_kafka_message_t **batch =
                brook__xmalloc(BROOK__POLL_BATCH * sizeof *batch);

        /* A transactional producer is ready before any partition is
         * taken (brook__thr_txn_init() fails the app if it cannot be). */
        if (!thr->eos || brook__thr_txn_init(thr))
                brook__thr_subscribe(thr);
        thr->last_commit = thr->last_purge = brook__now_mono_ms();

        thr->awake_ms = brook__now_mono_ms();
        while (!thr->failed && !atomic_load(&app->stopping)) {
                bool restoring = thr->rstore_cnt || thr->restorer_dirty;
                int64_t gap;
                /* What the consumer knows of the partitions' ends is
                 * read again this round (brook__thr_fetched_lag()). */
                thr->lag_round++;
                /* more: records left queued and ready (a commit came
                 * first): the poll does not wait. */
                bool busy = false;
                int64_t t0 = brook__now_mono_ns(), t1, punct0;
                int64_t processed0 = thr->rt.processed;
                /* Before anything is written. */
                if ((gap = brook__thr_awake(thr, brook__now_mono_ms())))
                        brook__thr_after_freeze(thr, gap);
                /* Records come from each partition's own queue, taken
                 * while its task holds fewer than
                 * buffered.records.per.partition of them (Kafka Streams
                 * pauses the partition instead; with librdkafka that drops
                 * what was prefetched). A partition not taken from fills
                 * its queue to librdkafka's bounds, and librdkafka stops
                 * fetching it, so memory stays bounded per partition
                 * whatever a task waits for. The consumer's queue brings
                 * rebalances and errors, and is where the thread waits
                 * when nothing was taken (a partition queue that gets
                 * records wakes it); while stores restore, the restore
                 * step below does the waiting. */
                got = brook__thr_take(thr, batch);
                rkm = rd_kafka_consumer_poll(
                        thr->consumer, restoring || more || got ? 0 : poll_ms);
                if (rkm) {
                        /* Records of partitions without a queue of their
                         * own (none, normally), and errors. */
                        ssize_t more_got;
                        brook__thr_enqueue(thr, NULL, rkm);
                        more_got = thr->failed ? 0
                                               : rd_kafka_consume_batch_queue(
                                                         cq, 0, batch,
                                                         BROOK__POLL_BATCH);
                        for (i = 0; more_got > 0 && i < (size_t)more_got; i++)
                                brook__thr_enqueue(thr, NULL, batch[i]);
                        got += 1 + (more_got > 0 ? more_got : 0);
                }
                if (got) {
                        busy = true;
                        atomic_fetch_add_explicit(&thr->m.poll_records,
                                                  (long long)got,
                                                  memory_order_relaxed);
                }
                t1 = brook__now_mono_ns();
                atomic_fetch_add_explicit(&thr->m.poll_cnt, 1,
                                          memory_order_relaxed);
                brook__metric_time(&thr->m.poll_ns, &thr->m.poll_max_ns,
                                   t1 - t0);
                more = false;
                if (thr->consumer_fatal && !thr->failed &&
                    !brook__thr_renew_consumer(thr, &cq))
                        break;
                /* While a commit is stalled nothing is processed: its
                 * output could not be delivered either. */
                if (thr->failed ||
                    (!thr->stall_since &&
                     !brook__thr_process(thr, commit_interval, &more)))
                        break;
                /* Punctuations and the commit below write too. The loop
                 * starts again after the check: its poll deals with what
                 * the consumer said (a fatal error too) before anything
                 * is written. */
                if ((gap = brook__thr_awake(thr, brook__now_mono_ms()))) {
                        brook__thr_after_freeze(thr, gap);
                        continue;
                }
                if (thr->rt.processed > processed0) {
                        int64_t ns = brook__now_mono_ns() - t1;
                        atomic_fetch_add_explicit(&thr->m.proc_ns, ns,
                                                  memory_order_relaxed);
                        ns /= thr->rt.processed - processed0;
                        if (ns > atomic_load_explicit(&thr->m.proc_max_ns,
                                                      memory_order_relaxed))
                                atomic_store_explicit(&thr->m.proc_max_ns, ns,
                                                      memory_order_relaxed);
                }
                rd_kafka_poll(thr->producer, 0);
                brook__thr_redeliver(thr);
                if (thr->delivery_error[0]) {
                        brook__thr_fatal(thr, thr->delivery_error);
                        thr->failed = true;
                        break;
                }
                punct0 = thr->rt.punctuations;
                t1 = brook__now_mono_ns();
                for (i = 0;
                     !thr->failed && !thr->stall_since && i < thr->tasks.cnt;
                     i++) {
                        char errstr[1024];
                        if (((brook__task_t *)thr->tasks.v[i])->restoring)
                                continue;
                        if (brook__task_punctuate_wall(thr->tasks.v[i],
                                                       brook__now_wall_ms(),
                                                       errstr, sizeof errstr)) {
                                brook__thr_fatal(thr, errstr);
                                thr->failed = true;
                        }
                }
                if (thr->failed)
                        break;
                if (thr->rt.punctuations > punct0) {
                        atomic_fetch_add_explicit(&thr->m.punct_passes, 1,
                                                  memory_order_relaxed);
                        brook__metric_time(&thr->m.punct_ns,
                                           &thr->m.punct_max_ns,
                                           brook__now_mono_ns() - t1);
                }
                if (restoring) {
                        char errstr[1024];
                        if (brook__thread_restore_step(
                                    thr,
                                    busy ? 0 : (poll_ms < 100 ? poll_ms : 100),
                                    &ready, errstr, sizeof errstr)) {
                                brook__thr_fatal(thr, errstr);
                                thr->failed = true;
                                break;
                        }
                        if (ready.cnt)
                                brook__thr_start_ready(thr, &ready);
                }
                /* A stalled commit is retried every round; a transaction
                 * that must abort ends at once. */
                if (thr->stall_since ||
                    brook__now_mono_ms() - thr->last_commit >=
                            commit_interval ||
                    (thr->env.batch && brook__statebatch_size(thr->env.batch) >
                                               thr->batch_limit) ||
                    thr->txn_abort_why[0]) {
                        t1 = brook__now_mono_ns();
                        brook__thr_commit(thr, BROOK__COMMIT_FLUSH_MS);
                        atomic_fetch_add_explicit(&thr->m.commit_rounds, 1,
                                                  memory_order_relaxed);
                        brook__metric_time(&thr->m.commit_ns,
                                           &thr->m.commit_max_ns,
                                           brook__now_mono_ns() - t1);
                }
                if (thr->reset_pending && !thr->failed)
                        brook__thr_reset_tasks(thr);
                brook__thr_purge_poll(thr);
                brook__thr_publish(thr);
        }

        /* Whatever ended the loop, the app stops (unless this thread is
         * being replaced): from here on every wait is bounded by the
         * stop's deadline (shutdown.timeout.ms from when the stop was
         * asked for, or from the failure of a replaced thread). A stop
         * has nothing left to wake here (partition queues still do, until
         * the consumer closes). */
        brook__app_set_waker(app, thr->idx, NULL);
        if (!thr->replace)
                brook__app_request_stop(app);
        /* Commit what was processed (on a fatal error too: everything
         * before the failed record is done), unless output was lost. If
         * the commit cannot complete, the tasks close without one: their
         * records since the last commit are processed again later. */
        if (thr->delivery_error[0] || (thr->eos && thr->failed)) {
                /* Under exactly_once_v2 a thread that failed (a record
                 * that could not be processed, say) commits nothing: its
                 * transaction may hold part of the failed record's
                 * effects. It aborts, and the input since the last commit
                 * is processed again by the next owner. */
                thr->close_dirty = true;
        } else {
                switch (brook__thr_commit(thr, shutdown_ms)) {
                case BROOK__COMMIT_DONE:
                        break;
                case BROOK__COMMIT_STALLED:
                        /* The stop's time is up: what was sent may be lost
                         * with the producer, so say so. */
                        brook__app_fail(app,
                                        "commit failed: the producer could "
                                        "not deliver its records in time "
                                        "(shutdown.timeout.ms); their input "
                                        "is not committed");
                        thr->failed = true;
                        /* fallthrough */
                default:
                        thr->close_dirty = true;
                }
        }
        brook__thr_publish(thr);
        /* Leaving the group runs the revoke callback. */
        brook__thr_close_consumer(thr);
        brook__thr_close_tasks(thr);
        if (thr->close_dirty)
                brook__statebatch_discard(thr->env.batch);
        /* A transaction left open (its commit could not complete) is
         * aborted, so that no reader waits for it; failing that, the
         * producer's next incarnation ends it. */
        if (thr->eos && thr->txn_open && thr->producer) {
                char why[512];
                if (brook__txn_result(
                            rd_kafka_abort_transaction(
                                    thr->producer,
                                    brook__thr_txn_timeout(
                                            thr, BROOK__TXN_ABORT_MS)),
                            "aborting the transaction", why, sizeof why))
                        brook__log("WARN", "thread %d: %s", thr->idx, why);
                brook__thr_txn_clear(thr);
        }
        if (thr->producer)
                rd_kafka_flush(thr->producer,
                               (int)brook__app_stop_left(app, INT32_MAX));
        brook__thr_publish(thr);
        brook__ptrvec_free(&ready);
        if (cq)
                rd_kafka_queue_destroy(cq);
        free(batch);
        brook__thr_destroy_clients(thr, 1000);
        /* The replacement is asked for first, so that a close waits for
         * it (it joins this thread) rather than for nothing. */
        if (thr->replace && !brook__app_should_stop(app))
                brook__app_replace_thread(app, thr->idx);
        brook__app_thread_exited(app);
        return NULL;
}

/* -------------------------------------------------------------- lifecycle */

rd_kafka_conf_t *brook__client_conf(brook_app_t *app, const char *client,
                                    const char *suffix, int idx, char *errstr,
                                    size_t errstr_size)
{
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        char cid[512];
        if (idx < 0)
                snprintf(cid, sizeof cid, "%s-%s", app->client_id, suffix);
        else
                snprintf(cid, sizeof cid, "%s-StreamThread-%d-%s",
                         app->client_id, idx + 1, suffix);
        /* brook's defaults first, so that user settings override them. */
        rd_kafka_conf_set(c, "client.id", cid, NULL, 0);
        bool eos = brook__conf_guarantee(app->conf) ==
                   BROOK__GUARANTEE_EXACTLY_ONCE_V2;
        if (!strcmp(client, "consumer")) {
                /* Output of aborted transactions is never input (the
                 * restore consumer's included: a changelog holds aborted
                 * records too). */
                rd_kafka_conf_set(c, "isolation.level",
                                  eos ? "read_committed" : "read_uncommitted",
                                  NULL, 0);
                rd_kafka_conf_set(c, "auto.offset.reset", "earliest", NULL, 0);
                /* Bound prefetched data. librdkafka checks its bounds
                 * against a partition's queue, or the queue it forwards
                 * to: the stream thread reads each partition from its own
                 * queue (brook__thr_take()), so for it they are per
                 * partition, and it fetches a partition again once that
                 * holds under 2,000 records and 1 MiB. The other
                 * consumers (restoration, global tables) read one queue
                 * for all: 50,000 records and 16 MiB in all. librdkafka's
                 * defaults allow 100,000 records and 64 MiB. */
                bool own = !strcmp(suffix, "consumer");
                rd_kafka_conf_set(c, "queued.max.messages.kbytes",
                                  own ? "1024" : "16384", NULL, 0);
                rd_kafka_conf_set(c, "queued.min.messages",
                                  own ? "2000" : "50000", NULL, 0);
                /* A partition over those bounds is not fetched; when is
                 * it looked at again? librdkafka >= 2.2 does so after
                 * fetch.queue.backoff.ms (1 s by default; 20 ms here).
                 * Before 2.2, only when its broker thread next wakes, up
                 * to a second later: a busy consumer stalls every second
                 * (about 6x slower here). There a frequent metadata
                 * refresh wakes a broker thread every 20 ms (with N
                 * brokers each about every N x 20 ms), at a cost: a
                 * metadata request each time, and librdkafka's main
                 * thread spins for up to a millisecond before each of
                 * its timers (2-3% of a core per consumer). */
                if (rd_kafka_version() >= BROOK__RDKAFKA_FETCH_BACKOFF)
                        rd_kafka_conf_set(c, "fetch.queue.backoff.ms", "20",
                                          NULL, 0);
                else
                        rd_kafka_conf_set(c,
                                          "topic.metadata.refresh.interval.ms",
                                          "20", NULL, 0);
                /* A broker has one fetch of a consumer in flight. When
                 * the partitions with data are over their bounds and the
                 * fetch holds only partitions at their end (a table
                 * that is read up, an idle topic), the broker keeps it
                 * for fetch.wait.max.ms, and the others wait that long to
                 * be fetched again; the thread meanwhile lives on what is
                 * queued. bench/run's stream-table join (four event
                 * partitions beside four table partitions at their end)
                 * once waited 500 ms (librdkafka's default) each time and
                 * ran 6x slower. At 20 ms it still ran out: the 2,000
                 * records a partition queues last its four partitions
                 * 13 ms at 600,000 records/s. 1,000,000 events took
                 * 1.65-1.83 s at 20 ms, 1.22-1.28 s at 10 and 1.09-1.20
                 * s at 5 (at-least-once; exactly-once 1.83-1.93, 1.31-1.75
                 * and 1.12-1.39 s), ss-join and passthrough as fast at
                 * each. Queuing 4,000 records a partition instead took
                 * 1.23 s, but cost ss-join 7-8 MiB of peak RSS. The price
                 * of 5 ms is paid while idle: about 200 empty fetches a
                 * second per broker, which took one broker from 4-6% to
                 * 9-10% of a core for one idle consumer (1.5% with none;
                 * 2026-12-05). consumer.fetch.wait.max.ms raises it.
                 * max.partition.fetch.bytes is also how far a partition's
                 * queue overshoots its bound, and a fetch response's
                 * buffer stays until the last of its records is
                 * processed: 64 KiB (librdkafka's default is 1 MiB)
                 * took 5-6 MiB off the peak RSS of bench/run's ss-join
                 * (eight input partitions) against 256 KiB, with
                 * passthrough and st-join as fast (brook-only runs,
                 * 2026-12-04). */
                if (own) {
                        rd_kafka_conf_set(c, "fetch.wait.max.ms", "5", NULL, 0);
                        rd_kafka_conf_set(c, "max.partition.fetch.bytes",
                                          "65536", NULL, 0);
                } else {
                        /* The other consumers' queue is one for all its
                         * partitions, so what overshoots its bound is a
                         * whole fetch response, and librdkafka
                         * decompresses it at once into a message per
                         * record (some 200 bytes each besides the data).
                         * Fetch sizes count compressed bytes: a 1 MiB
                         * fetch of brook's lz4 changelog (2.9:1) is
                         * 110,000 records. Restoring 1,000,000 such records
                         * from four partitions peaked at 155-225 MiB with
                         * librdkafka's 1 MiB a partition, 133-152 with
                         * 512 KiB and 88-107 with 256 KiB, as fast (0.66-1.14
                         * s; brook-only runs alternating, 2026-12-05). */
                        rd_kafka_conf_set(c, "max.partition.fetch.bytes",
                                          "262144", NULL, 0);
                }
                /* A fetch response's buffer lives until its last record is
                 * processed; librdkafka's 50 MB responses would let 100
                 * partitions pin far more than the queue bound above. The
                 * consumers that read many partitions into one queue
                 * (restoration, global tables) get half of that. */
                rd_kafka_conf_set(c, "fetch.max.bytes",
                                  own ? "8388608" : "4194304", NULL, 0);
        } else {
                rd_kafka_conf_set(c, "linger.ms", "5", NULL, 0);
                /* Every batch compressed (Kafka's producers and Kafka
                 * Streams send them as they are unless told): the broker
                 * appends, and consumers and restorations fetch, a
                 * fraction of the bytes. bench/run's ss-join, where each
                 * input record writes three (the output and both
                 * changelogs), brook only, alternating with
                 * compression.type=none, medians (2026-12-05): with the
                 * join's own values (8:1 compressed) exactly once 4.66 s
                 * against 4.89, broker CPU 2.46 s against 2.92, at least
                 * once 3.57 s against 4.21, broker 1.48 s against 2.78,
                 * brook's CPU the same; with values of random letters
                 * (1.9:1) 5.34 s against 5.41 and broker 3.29 s against
                 * 3.63, for 9% more of brook's CPU (5.39 s against 4.93).
                 * docs/operations.md says so. */
                rd_kafka_conf_set(c, "compression.codec", "lz4", NULL, 0);
                /* Java's partitioner, so keys land where Kafka Streams
                 * would put them. */
                rd_kafka_conf_set(c, "partitioner", "murmur2_random", NULL, 0);
                rd_kafka_conf_set(c, "queue.buffering.max.kbytes", "16384",
                                  NULL, 0);
                /* 20,000 records is four times what 5 ms of linger
                 * collects at 1 M records/s. A transaction's first records
                 * wait longer: the producer sends none to a partition
                 * before the coordinator has added the partition to the
                 * transaction, and a full queue stops the thread. That
                 * once made exactly-once want 30,000 (passthrough: 1.27 s
                 * with 20,000, 1.05-1.15 s with 30,000), but since a
                 * commit sends its offsets while the producer flushes,
                 * 20,000 is as fast and holds less: passthrough 1.06-1.16
                 * s against 1.07-1.20 s (one run of 1.42 s), peak RSS
                 * 35.2-35.9 MiB against 36.8-39.8; ss-join 3.61-3.86 s
                 * against 3.86-4.05 s, 79.4-81.3 MiB against 82.4-84.7
                 * (alternating runs, 2026-12-05). */
                rd_kafka_conf_set(c, "queue.buffering.max.messages", "20000",
                                  NULL, 0);
                /* Right after a commit, the coordinator may still be
                 * writing the previous transaction's markers and answer
                 * the next AddPartitionsToTxn with CONCURRENT_TRANSACTIONS
                 * (4 of 11 transactions in a passthrough run). librdkafka
                 * retries it after retry.backoff.ms, 100 ms by default, a
                 * whole commit interval, while the queue fills; Kafka's
                 * Java producer retries that request after 20 ms
                 * (KAFKA-5477). bench/run's passthrough: 1.67 s with 100
                 * ms and 20,000 records, 1.17 s with 20 ms and 50,000. */
                if (eos)
                        rd_kafka_conf_set(c, "retry.backoff.ms", "20", NULL, 0);
                /* No reordering or duplicates on retries (Kafka's producer
                 * default since 3.0). */
                rd_kafka_conf_set(c, "enable.idempotence", "true", NULL, 0);
                /* Kafka Streams' default under exactly-once: a
                 * transaction that a dead instance left open blocks its
                 * partitions' readers for this long at most. */
                if (eos)
                        rd_kafka_conf_set(c, "transaction.timeout.ms", "10000",
                                          NULL, 0);
        }
        if (brook__conf_apply_rdkafka(app->conf, client, c, errstr,
                                      errstr_size)) {
                rd_kafka_conf_destroy(c);
                return NULL;
        }
        /* librdkafka refuses a consumer whose fetch.max.bytes was set
         * below its message.max.bytes: brook's fetch bound gives way to
         * a larger record size the user set, unless the user set the
         * bound too (then librdkafka's error names both). */
        if (!strcmp(client, "consumer") &&
            !brook_conf_get(app->conf, "fetch.max.bytes") &&
            !brook_conf_get(app->conf, "consumer.fetch.max.bytes")) {
                char fetch[32], msg[32];
                size_t fetch_size = sizeof fetch, msg_size = sizeof msg;
                if (rd_kafka_conf_get(c, "fetch.max.bytes", fetch,
                                      &fetch_size) == RD_KAFKA_CONF_OK &&
                    rd_kafka_conf_get(c, "message.max.bytes", msg, &msg_size) ==
                            RD_KAFKA_CONF_OK &&
                    strtoll(msg, NULL, 10) > strtoll(fetch, NULL, 10))
                        rd_kafka_conf_set(c, "fetch.max.bytes", msg, NULL, 0);
        }
        return c;
}

/* The producer's message.max.bytes: dead-letter records are cut to it. */
static int64_t brook__producer_max_bytes(rd_kafka_t *producer)
{
        char buf[32];
        size_t size = sizeof buf;
        if (rd_kafka_conf_get(rd_kafka_conf(producer), "message.max.bytes", buf,
                              &size) != RD_KAFKA_CONF_OK)
                return 0;
        return strtoll(buf, NULL, 10);
}

/* A consumer outside the group that reads changelogs from given offsets
 * (Kafka Streams' restore consumer). */
/*
 * Static membership (KIP-345), as Kafka Streams sets it up: with
 * group.instance.id set, each stream thread's consumer is a static member
 * of its own, "<group.instance.id>-<thread number>", so that an instance
 * that stops and comes back within session.timeout.ms gets its partitions
 * back without a rebalance (and its threads do not fence each other).
 */
static brook_err_t brook__thr_static_member(rd_kafka_conf_t *cc, int idx,
                                            char *errstr, size_t errstr_size)
{
        char id[512], thread_id[600], why[512];
        size_t n = sizeof id;
        if (rd_kafka_conf_get(cc, "group.instance.id", id, &n) !=
                    RD_KAFKA_CONF_OK ||
            !id[0])
                return BROOK_OK;
        snprintf(thread_id, sizeof thread_id, "%s-%d", id, idx + 1);
        if (rd_kafka_conf_set(cc, "group.instance.id", thread_id, why,
                              sizeof why)) {
                brook__seterr(errstr, errstr_size,
                              "consumer config: group.instance.id: %s", why);
                return BROOK_ERR_INVALID_ARG;
        }
        return BROOK_OK;
}

rd_kafka_t *brook__assign_consumer_new(brook_app_t *app, int idx,
                                       const char *suffix,
                                       const char *const *extra, char *errstr,
                                       size_t errstr_size)
{
        rd_kafka_conf_t *c = brook__client_conf(app, "consumer", suffix, idx,
                                                errstr, errstr_size);
        rd_kafka_t *rk;
        char why[512], gid[512];
        if (!c)
                return NULL;
        /* librdkafka 2.0 refuses assign() without a group.id; this group
         * is never joined and nothing is committed to it. */
        snprintf(gid, sizeof gid, "%s-%s", app->app_id, suffix);
        if (rd_kafka_conf_set(c, "group.id", gid, why, sizeof why) ||
            /* Static membership is the stream threads' (its group is
             * never joined). */
            rd_kafka_conf_set(c, "group.instance.id", NULL, why, sizeof why) ||
            rd_kafka_conf_set(c, "enable.auto.commit", "false", why,
                              sizeof why) ||
            rd_kafka_conf_set(c, "enable.auto.offset.store", "false", why,
                              sizeof why) ||
            rd_kafka_conf_set(c, "enable.partition.eof", "true", why,
                              sizeof why))
                goto bad;
        for (; extra && *extra; extra += 2)
                if (rd_kafka_conf_set(c, extra[0], extra[1], why, sizeof why))
                        goto bad;
        if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, why, sizeof why)))
                goto bad;
        return rk;
bad:
        brook__seterr(errstr, errstr_size, "%s: %s", suffix, why);
        rd_kafka_conf_destroy(c);
        return NULL;
}

/* librdkafka's statistics of a stream thread's consumer or producer: the
 * figures /metrics shows of them (brook_producer_*, brook_consumer_*). */
static int brook__thr_stats_cb(rd_kafka_t *rk, char *json, size_t len,
                               void *opaque)
{
        brook__thread_t *thr = opaque;
        json_t *doc = json_loadb(json, len, 0, NULL), *brokers, *b;
        bool producer = rd_kafka_type(rk) == RD_KAFKA_PRODUCER;
        int64_t rtt = -1;
        const char *name;

        if (!doc)
                return 0;
        brokers = json_object_get(doc, "brokers");
        json_object_foreach(brokers, name, b)
        {
                /* Bootstrap entries (nodeid -1) carry no requests. */
                int64_t avg = json_integer_value(
                        json_object_get(json_object_get(b, "rtt"), "avg"));
                if (json_integer_value(json_object_get(b, "nodeid")) >= 0 &&
                    avg > rtt)
                        rtt = avg;
        }
#define STAT(f) json_integer_value(json_object_get(doc, f))
        if (producer) {
                atomic_store(&thr->m.prod_records, STAT("txmsgs"));
                atomic_store(&thr->m.prod_bytes, STAT("txmsg_bytes"));
                atomic_store(&thr->m.prod_queued, STAT("msg_cnt"));
                atomic_store(&thr->m.prod_rtt_us, rtt);
        } else {
                atomic_store(&thr->m.cons_records, STAT("rxmsgs"));
                atomic_store(&thr->m.cons_bytes, STAT("rxmsg_bytes"));
                atomic_store(&thr->m.cons_rtt_us, rtt);
        }
#undef STAT
        atomic_store(&thr->m.stats_seen, 1);
        json_decref(doc);
        return 0;
}

/* With the HTTP server on, the stream thread's clients report
 * statistics every metrics.sample.window.ms, unless the user set
 * statistics.interval.ms (then at that pace). */
static void brook__thr_stats_conf(brook_app_t *app, rd_kafka_conf_t *c)
{
        char buf[32];
        size_t size = sizeof buf;
        if (!brook_conf_get(app->conf, "application.server"))
                return;
        /* The user's settings are in @p c already: 0 is librdkafka's
         * default (off). */
        if (rd_kafka_conf_get(c, "statistics.interval.ms", buf, &size) !=
                    RD_KAFKA_CONF_OK ||
            !strcmp(buf, "0")) {
                snprintf(
                        buf, sizeof buf, "%" PRId64,
                        brook__conf_int(app->conf, "metrics.sample.window.ms"));
                rd_kafka_conf_set(c, "statistics.interval.ms", buf, NULL, 0);
        }
        rd_kafka_conf_set_stats_cb(c, brook__thr_stats_cb);
}

static rd_kafka_t *brook__restorer_new(brook_app_t *app, int idx, char *errstr,
                                       size_t errstr_size)
{
        /* Its fetch sizes are those brook__client_conf() gives every
         * consumer but the stream thread's. */
        return brook__assign_consumer_new(app, idx, "restore-consumer", NULL,
                                          errstr, errstr_size);
}

brook_err_t brook__thr_restorer_open(brook__thread_t *thr, char *errstr,
                                     size_t errstr_size)
{
        if (thr->restorer)
                return BROOK_OK;
        if (!(thr->restorer = brook__restorer_new(thr->app, thr->idx, errstr,
                                                  errstr_size)))
                return BROOK_ERR_KAFKA;
        thr->restore_q = rd_kafka_queue_get_consumer(thr->restorer);
        /* It reads nothing until it is assigned the planned stores. */
        thr->restorer_dirty = true;
        return BROOK_OK;
}

void brook__thr_restorer_close(brook__thread_t *thr)
{
        /* No consumer, no assignment to redo. */
        thr->restorer_dirty = false;
        if (!thr->restorer)
                return;
        /* The queue holds a reference on the consumer. */
        if (thr->restore_q)
                rd_kafka_queue_destroy(thr->restore_q);
        thr->restore_q = NULL;
        brook__thr_reap(brook__thr_reap_consumer, thr->restorer);
        thr->restorer = NULL;
}

brook__thread_t *brook__thread_new(brook_app_t *app, int idx, char *errstr,
                                   size_t errstr_size)
{
        brook__thread_t *thr = brook__xcalloc(1, sizeof *thr);
        rd_kafka_conf_t *cc, *pc;
        char why[512];

        thr->app = app;
        thr->idx = idx;
        pthread_mutex_init(&thr->snap_lock, NULL);
        thr->m.start_ms = brook__now_wall_ms();
        thr->collector.send = brook__thr_send;
        thr->collector.partition_cnt = brook__thr_partition_cnt;
        thr->collector.send_changelog = brook__thr_send_changelog;
        thr->collector.changelog_slot = brook__thr_changelog_slot;
        brook__runtime_init(&thr->rt, &thr->collector, &app->topo, app->conf,
                            brook__real_wall_clock, brook__thr_fetched_lag);
        thr->rt.global_store = brook__global_store;
        thr->rt.drops_pub = thr->stat_drops;
        thr->rt.global_shared = true;
        thr->read_committed = brook__conf_guarantee(app->conf) ==
                              BROOK__GUARANTEE_EXACTLY_ONCE_V2;
        thr->eos = thr->read_committed;
        thr->paused = rd_kafka_topic_partition_list_new(8);
        thr->revoke_flush_ms =
                (int)brook__conf_int(app->conf, "shutdown.timeout.ms");
        thr->buffer_per_partition = (size_t)brook__conf_int(
                app->conf, "buffered.records.per.partition");
        if (app->statedb) {
                int64_t cache_bytes = brook__conf_int(
                        app->conf, "statestore.cache.max.bytes");
                int64_t threads =
                        brook__conf_int(app->conf, "num.stream.threads");
                int64_t mem =
                        brook__conf_int(app->conf, "rocksdb.memory.bytes");
                int64_t join_bytes =
                        brook__conf_int(app->conf, "join.memory.bytes");
                thr->env.db = app->statedb;
                thr->env.batch = brook__statebatch_new(app->statedb);
                brook__statebatch_set_transactional(thr->env.batch, thr->eos);
                thr->rt.env = &thr->env;
                thr->rt.state_dir = app->state_dir;
                /* As Kafka Streams: the cache is split between threads. */
                if (cache_bytes / threads > 0)
                        thr->rt.cache = brook__cache_new(
                                (size_t)(cache_bytes / threads));
                if (join_bytes / threads > 0)
                        thr->env.wmbudget =
                                brook__wmbudget_new(join_bytes / threads);
                /* Uncommitted writes live in the batch, outside RocksDB's
                 * bounded memtables: commit early rather than let them
                 * grow past an eighth of the bound. */
                thr->batch_limit = (size_t)(mem / 8 / threads);
                if (thr->batch_limit < (1u << 20))
                        thr->batch_limit = 1u << 20;
                /* Made now so that a bad configuration fails the start.
                 * Dirty: the loop's first round uses it for the first
                 * restoration, or closes it when nothing restores. */
                if (brook__thr_restorer_open(thr, errstr, errstr_size))
                        goto fail;
        }

        if (!(cc = brook__client_conf(app, "consumer", "consumer", idx, errstr,
                                      errstr_size)))
                goto fail;
        /* brook owns these: the group is the application. */
        if (rd_kafka_conf_set(cc, "group.id", app->app_id, why, sizeof why) ||
            rd_kafka_conf_set(cc, "enable.auto.commit", "false", why,
                              sizeof why) ||
            rd_kafka_conf_set(cc, "enable.auto.offset.store", "false", why,
                              sizeof why) ||
            rd_kafka_conf_set(cc, "partition.assignment.strategy", "range", why,
                              sizeof why) ||
            /* max.task.idle.ms learns from it that a partition is empty. */
            rd_kafka_conf_set(cc, "enable.partition.eof", "true", why,
                              sizeof why)) {
                brook__seterr(errstr, errstr_size, "consumer config: %s", why);
                rd_kafka_conf_destroy(cc);
                goto fail;
        }
        if (brook__thr_static_member(cc, idx, errstr, errstr_size)) {
                rd_kafka_conf_destroy(cc);
                goto fail;
        }
        rd_kafka_conf_set_rebalance_cb(cc, brook__rebalance_cb);
        rd_kafka_conf_set_opaque(cc, thr);
        brook__thr_stats_conf(app, cc);
        /* Kept to make the consumer again (a fatal error). */
        thr->consumer_conf = rd_kafka_conf_dup(cc);
        if (!(thr->consumer =
                      rd_kafka_new(RD_KAFKA_CONSUMER, cc, why, sizeof why))) {
                brook__seterr(errstr, errstr_size, "consumer: %s", why);
                rd_kafka_conf_destroy(cc);
                goto fail;
        }
        rd_kafka_poll_set_consumer(thr->consumer);

        if (!(pc = brook__client_conf(app, "producer", "producer", idx, errstr,
                                      errstr_size)))
                goto fail;
        rd_kafka_conf_set_dr_msg_cb(pc, brook__dr_cb);
        rd_kafka_conf_set_error_cb(pc, brook__producer_error_cb);
        rd_kafka_conf_set_opaque(pc, thr);
        brook__thr_stats_conf(app, pc);
        if (thr->eos) {
                /* Stable across restarts (Kafka Streams' EOS v2 id), so
                 * that a restarted instance fences its former self and
                 * ends the transaction it left open at once. */
                char tid[700];
                snprintf(tid, sizeof tid, "%s-%s-%d", app->app_id,
                         app->instance_id, idx + 1);
                if (rd_kafka_conf_set(pc, "transactional.id", tid, why,
                                      sizeof why)) {
                        brook__seterr(errstr, errstr_size,
                                      "producer config: transactional.id: %s",
                                      why);
                        rd_kafka_conf_destroy(pc);
                        goto fail;
                }
        }
        /* Kept to make the producer again (fatal errors; closed tasks'
         * records dropped under at_least_once). */
        thr->producer_conf = rd_kafka_conf_dup(pc);
        if (!(thr->producer =
                      rd_kafka_new(RD_KAFKA_PRODUCER, pc, why, sizeof why))) {
                brook__seterr(errstr, errstr_size, "producer: %s", why);
                rd_kafka_conf_destroy(pc);
                goto fail;
        }
        thr->rt.max_record_bytes = brook__producer_max_bytes(thr->producer);
        return thr;
fail:
        brook__thread_destroy(thr);
        free(thr);
        return NULL;
}

brook_err_t brook__thread_start(brook__thread_t *thr, char *errstr,
                                size_t errstr_size)
{
        /* Set first: the thread may end (and its replacement join it)
         * before pthread_create() returns. */
        thr->tid_valid = true;
        if (pthread_create(&thr->tid, NULL, brook__thread_main, thr)) {
                thr->tid_valid = false;
                brook__seterr(errstr, errstr_size,
                              "could not start stream thread %d", thr->idx);
                return BROOK_ERR_FATAL;
        }
        return BROOK_OK;
}

void brook__thread_destroy(brook__thread_t *thr)
{
        size_t i;
        if (!thr)
                return;
        if (thr->tid_valid)
                pthread_join(thr->tid, NULL);
        brook__thr_close_tasks(thr);
        pthread_mutex_lock(&thr->snap_lock);
        brook__tsnap_free(thr->snap, thr->snap_cnt);
        thr->snap = NULL;
        thr->snap_cnt = 0;
        pthread_mutex_unlock(&thr->snap_lock);
        for (i = 0; i < thr->slot_cnt; i++) {
                free(thr->slots[i]->topic);
                free(thr->slots[i]);
        }
        free(thr->slots);
        thr->slots = NULL;
        brook__thr_redeliver_clear(thr);
        thr->slot_cnt = thr->slot_cap = 0;
        free(thr->rstores);
        thr->rstores = NULL;
        thr->rstore_cnt = thr->rstore_cap = 0;
        if (thr->paused)
                rd_kafka_topic_partition_list_destroy(thr->paused);
        thr->paused = NULL;
        /* A started thread destroyed its clients as it ended; this is for
         * one that never started. */
        brook__thr_destroy_clients(thr, 1000);
        brook__thr_txn_clear(thr);
        if (thr->producer_conf)
                rd_kafka_conf_destroy(thr->producer_conf);
        thr->producer_conf = NULL;
        if (thr->consumer_conf)
                rd_kafka_conf_destroy(thr->consumer_conf);
        thr->consumer_conf = NULL;
        brook__statebatch_destroy(thr->env.batch);
        thr->env.batch = NULL;
        brook__wmbudget_destroy(thr->env.wmbudget);
        thr->env.wmbudget = NULL;
        brook__cache_destroy(thr->rt.cache);
        thr->rt.cache = NULL;
        free(thr->routes);
        thr->routes = NULL;
        brook__runtime_free(&thr->rt);
        thr->consumer = thr->producer = NULL;
        thr->tid_valid = false;
        /* The struct itself stays for the app to read its counters; the
         * app frees it (see brook__thread_destroy() in app_int.h). */
}
