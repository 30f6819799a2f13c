/*
 * brook — a stream thread's transactional producer under exactly_once_v2:
 * librdkafka's transaction calls, their errors classified as librdkafka
 * classifies them, and a guard on send_offsets_to_transaction().
 *
 * The guard: librdkafka (2.0.2, and newer ones too: confluentinc/librdkafka
 * issues 5456 and 5511) never checks the timeout of a request to the group
 * coordinator, so rd_kafka_send_offsets_to_transaction() can block for as
 * long as that coordinator stays away. The call runs in a thread of its
 * own; the stream thread waits for it with a deadline. A call that does not
 * return by then is abandoned, together with its producer: the call's
 * thread destroys the producer once the call returns, and the stream
 * thread makes a new producer with the same transactional.id, whose
 * init_transactions() fences the old one.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app_int.h"

/* How long past its own timeout a guarded call is waited for. */
#define BROOK__TXN_GRACE_MS 2000

brook__txn_res_t brook__txn_result(rd_kafka_error_t *error, const char *what,
                                   char *errstr, size_t errstr_size)
{
        brook__txn_res_t r;
        rd_kafka_resp_err_t code;

        if (!error)
                return BROOK__TXN_OK;
        code = rd_kafka_error_code(error);
        /* A fenced producer cannot go on; neither can one whose group
         * membership was taken (its offsets would be refused for good). */
        if (rd_kafka_error_is_fatal(error) ||
            code == RD_KAFKA_RESP_ERR__FENCED ||
            code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
            code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH)
                r = BROOK__TXN_FATAL;
        else if (rd_kafka_error_txn_requires_abort(error))
                r = BROOK__TXN_ABORT;
        else if (rd_kafka_error_is_retriable(error))
                r = BROOK__TXN_RETRY;
        else
                /* Neither retriable nor abortable (a state librdkafka did
                 * not expect): only a new producer is sure to recover. */
                r = BROOK__TXN_FATAL;
        brook__seterr(errstr, errstr_size, "%s: %s (%s)", what,
                      rd_kafka_error_string(error),
                      r == BROOK__TXN_FATAL   ? "fatal"
                      : r == BROOK__TXN_ABORT ? "the transaction must abort"
                                              : "retriable");
        rd_kafka_error_destroy(error);
        return r;
}

/* One guarded call of rd_kafka_send_offsets_to_transaction(), shared by
 * the stream thread and the thread that makes it; the last to let go
 * frees it. */
struct brook__txn_call {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        rd_kafka_t *producer;
        rd_kafka_topic_partition_list_t *offsets;
        rd_kafka_consumer_group_metadata_t *cgmd;
        int timeout_ms;
        rd_kafka_error_t *error;
        bool done, abandoned;
};

static void brook__txn_call_free(struct brook__txn_call *c)
{
        if (c->error)
                rd_kafka_error_destroy(c->error);
        rd_kafka_topic_partition_list_destroy(c->offsets);
        rd_kafka_consumer_group_metadata_destroy(c->cgmd);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->cond);
        free(c);
}

static void *brook__txn_call_main(void *arg)
{
        struct brook__txn_call *c = arg;
        rd_kafka_error_t *error = rd_kafka_send_offsets_to_transaction(
                c->producer, c->offsets, c->cgmd, c->timeout_ms);
        bool abandoned;

        pthread_mutex_lock(&c->lock);
        c->error = error;
        c->done = true;
        abandoned = c->abandoned;
        pthread_cond_signal(&c->cond);
        pthread_mutex_unlock(&c->lock);
        if (abandoned) {
                /* The stream thread has a new producer; this one is ours
                 * (its topic handles are gone already). */
                rd_kafka_destroy(c->producer);
                brook__txn_call_free(c);
        }
        return NULL;
}

/* librdkafka 2.0 has no rd_kafka_consumer_group_metadata_dup(). */
static rd_kafka_consumer_group_metadata_t *
brook__txn_cgmd_copy(const rd_kafka_consumer_group_metadata_t *cgmd)
{
        rd_kafka_consumer_group_metadata_t *copy = NULL;
        rd_kafka_error_t *error;
        void *buf = NULL;
        size_t size = 0;

        if ((error = rd_kafka_consumer_group_metadata_write(cgmd, &buf,
                                                            &size)) ||
            (error = rd_kafka_consumer_group_metadata_read(&copy, buf, size))) {
                /* Only an allocation failure or a librdkafka bug: as
                 * brook's own allocations, stop loudly. */
                fprintf(stderr, "brook: copying consumer group metadata: %s\n",
                        rd_kafka_error_string(error));
                abort();
        }
        rd_kafka_mem_free(NULL, buf);
        return copy;
}

brook__txn_res_t brook__txn_send_offsets(
        rd_kafka_t *producer, const rd_kafka_topic_partition_list_t *offsets,
        const rd_kafka_consumer_group_metadata_t *cgmd, int timeout_ms,
        bool *abandonedp, char *errstr, size_t errstr_size)
{
        struct brook__txn_call *c = brook__xcalloc(1, sizeof *c);
        pthread_attr_t attr;
        pthread_condattr_t cattr;
        pthread_t tid;
        struct timespec ts;
        int64_t wait_ms = (int64_t)timeout_ms + BROOK__TXN_GRACE_MS;
        rd_kafka_error_t *error;
        bool done;

        *abandonedp = false;
        pthread_mutex_init(&c->lock, NULL);
        /* A monotonic deadline: a clock step must not abandon a healthy
         * call. */
        pthread_condattr_init(&cattr);
        pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
        pthread_cond_init(&c->cond, &cattr);
        pthread_condattr_destroy(&cattr);
        c->producer = producer;
        c->offsets = rd_kafka_topic_partition_list_copy(offsets);
        c->cgmd = brook__txn_cgmd_copy(cgmd);
        c->timeout_ms = timeout_ms;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&tid, &attr, brook__txn_call_main, c)) {
                /* No thread to spare: call it here, unguarded. */
                pthread_attr_destroy(&attr);
                error = rd_kafka_send_offsets_to_transaction(
                        producer, c->offsets, c->cgmd, timeout_ms);
                brook__txn_call_free(c);
                return brook__txn_result(error, "sending offsets", errstr,
                                         errstr_size);
        }
        pthread_attr_destroy(&attr);
        brook__deadline(&ts, CLOCK_MONOTONIC, wait_ms);
        pthread_mutex_lock(&c->lock);
        while (!c->done)
                if (pthread_cond_timedwait(&c->cond, &c->lock, &ts))
                        break;
        done = c->done;
        if (!done)
                c->abandoned = true;
        pthread_mutex_unlock(&c->lock);
        if (!done) {
                *abandonedp = true;
                brook__seterr(errstr, errstr_size,
                              "sending offsets: no answer in %" PRId64
                              " ms (the group coordinator is away); the "
                              "producer is replaced",
                              wait_ms);
                return BROOK__TXN_FATAL;
        }
        error = c->error;
        c->error = NULL;
        brook__txn_call_free(c);
        return brook__txn_result(error, "sending offsets", errstr, errstr_size);
}
