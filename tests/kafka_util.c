/*
 * Helpers for integration tests against the real broker.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kafka_util.h"

static char kt_bootstrap_buf[256];

const char *kt_bootstrap(void)
{
        char path[512];
        const char *dir = getenv("BROOK_KAFKA_DIR");
        FILE *fp;
        if (kt_bootstrap_buf[0])
                return kt_bootstrap_buf;
        snprintf(path, sizeof path, "%s/bootstrap",
                 dir ? dir : "/tmp/brook-kafka");
        fp = fopen(path, "r");
        if (!fp)
                fail_msg("no broker: %s is missing (start it with "
                         "tools/kafka/broker start)",
                         path);
        if (!fgets(kt_bootstrap_buf, sizeof kt_bootstrap_buf, fp))
                fail_msg("no broker: %s is empty", path);
        fclose(fp);
        kt_bootstrap_buf[strcspn(kt_bootstrap_buf, "\r\n")] = '\0';
        return kt_bootstrap_buf;
}

char *kt_unique(const char *prefix)
{
        static int n;
        char *s = malloc(strlen(prefix) + 48);
        sprintf(s, "%s-%d-%ld-%d", prefix, (int)getpid(), (long)time(NULL),
                n++);
        return s;
}

static rd_kafka_t *kt_client(rd_kafka_type_t type, const char *group)
{
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        char err[512];
        rd_kafka_t *rk;
        rd_kafka_conf_set(c, "bootstrap.servers", kt_bootstrap(), NULL, 0);
        if (group) {
                rd_kafka_conf_set(c, "group.id", group, NULL, 0);
                rd_kafka_conf_set(c, "enable.auto.commit", "false", NULL, 0);
                rd_kafka_conf_set(c, "isolation.level", "read_committed", NULL,
                                  0);
        }
        if (type == RD_KAFKA_PRODUCER) {
                rd_kafka_conf_set(c, "enable.idempotence", "true", NULL, 0);
                rd_kafka_conf_set(c, "linger.ms", "5", NULL, 0);
        }
        rk = rd_kafka_new(type, c, err, sizeof err);
        if (!rk)
                fail_msg("rd_kafka_new: %s", err);
        return rk;
}

void kt_create_topic(const char *topic, int partitions)
{
        rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, NULL);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        char err[512];
        rd_kafka_NewTopic_t *nt =
                rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof err);
        rd_kafka_event_t *ev;
        const rd_kafka_topic_result_t **res;
        size_t cnt;
        int i;

        assert_non_null(nt);
        rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
        ev = rd_kafka_queue_poll(q, 30000);
        assert_non_null(ev);
        assert_int_equal(rd_kafka_event_error(ev), 0);
        res = rd_kafka_CreateTopics_result_topics(
                rd_kafka_event_CreateTopics_result(ev), &cnt);
        assert_int_equal(cnt, 1);
        if (rd_kafka_topic_result_error(res[0]))
                fail_msg("create topic %s: %s", topic,
                         rd_kafka_topic_result_error_string(res[0]));
        rd_kafka_event_destroy(ev);
        rd_kafka_NewTopic_destroy(nt);
        rd_kafka_queue_destroy(q);
        /* Creation returns before every partition has a leader in the
         * metadata; tests start once the topic is fully usable. */
        for (i = 0; i < 100; i++) {
                const struct rd_kafka_metadata *md;
                rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
                bool ready = false;
                assert_non_null(rkt);
                if (!rd_kafka_metadata(rk, 0, rkt, &md, 5000)) {
                        int p;
                        ready = md->topic_cnt == 1 && !md->topics[0].err &&
                                md->topics[0].partition_cnt == partitions;
                        for (p = 0; ready && p < partitions; p++)
                                if (md->topics[0].partitions[p].leader < 0)
                                        ready = false;
                        rd_kafka_metadata_destroy(md);
                }
                rd_kafka_topic_destroy(rkt);
                if (ready)
                        break;
                usleep(100 * 1000);
        }
        assert_true(i < 100);
        rd_kafka_destroy(rk);
}

static int kt_failed_deliveries;

static void kt_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                     void *opaque)
{
        if (rkm->err) {
                kt_failed_deliveries++;
                return;
        }
        if (rkm->_private) {
                int64_t *out = rkm->_private;
                out[0] = rkm->partition;
                out[1] = rkm->offset;
        }
}

rd_kafka_t *kt_producer(void)
{
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        char err[512];
        rd_kafka_t *rk;
        rd_kafka_conf_set(c, "bootstrap.servers", kt_bootstrap(), NULL, 0);
        rd_kafka_conf_set(c, "enable.idempotence", "true", NULL, 0);
        rd_kafka_conf_set(c, "linger.ms", "5", NULL, 0);
        /* Java's partitioner, as brook's producer uses. */
        rd_kafka_conf_set(c, "partitioner", "murmur2_random", NULL, 0);
        rd_kafka_conf_set_dr_msg_cb(c, kt_dr_cb);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
        if (!rk)
                fail_msg("rd_kafka_new: %s", err);
        kt_failed_deliveries = 0;
        return rk;
}

void kt_producer_close(rd_kafka_t *rk)
{
        assert_int_equal(rd_kafka_flush(rk, 60000), 0);
        assert_int_equal(kt_failed_deliveries, 0);
        rd_kafka_destroy(rk);
}

void kt_produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                const char *key, const void *value, size_t value_size,
                int64_t where[2])
{
        rd_kafka_resp_err_t err;
        for (;;) {
                err = rd_kafka_producev(
                        rk, RD_KAFKA_V_TOPIC(topic),
                        RD_KAFKA_V_PARTITION(partition < 0
                                                     ? RD_KAFKA_PARTITION_UA
                                                     : partition),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                        RD_KAFKA_V_VALUE((void *)value, value_size),
                        RD_KAFKA_V_OPAQUE(where), RD_KAFKA_V_END);
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        break;
                rd_kafka_poll(rk, 50);
        }
        if (err)
                fail_msg("produce to %s: %s", topic, rd_kafka_err2str(err));
        rd_kafka_poll(rk, 0);
}

static int kt_partitions(rd_kafka_t *rk, const char *topic)
{
        const struct rd_kafka_metadata *md;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        int n;
        assert_non_null(rkt);
        assert_int_equal(rd_kafka_metadata(rk, 0, rkt, &md, 10000), 0);
        assert_int_equal(md->topic_cnt, 1);
        n = md->topics[0].err ? 0 : md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        return n;
}

int64_t kt_count(const char *topic)
{
        rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, NULL);
        int n = kt_partitions(rk, topic), p;
        int64_t sum = 0, lo, hi;
        for (p = 0; p < n; p++) {
                assert_int_equal(rd_kafka_query_watermark_offsets(
                                         rk, topic, p, &lo, &hi, 10000),
                                 0);
                sum += hi - lo;
        }
        rd_kafka_destroy(rk);
        return sum;
}

void kt_consume_all(const char *topic,
                    void (*cb)(const rd_kafka_message_t *rkm, void *opaque),
                    void *opaque)
{
        char *group = kt_unique("kt-reader");
        rd_kafka_t *rk = kt_client(RD_KAFKA_CONSUMER, group);
        int n = kt_partitions(rk, topic), p;
        for (p = 0; p < n; p++) {
                rd_kafka_topic_partition_list_t *tp =
                        rd_kafka_topic_partition_list_new(1);
                int64_t lo, hi, last = -1;
                int64_t deadline = time(NULL) + 120;
                assert_int_equal(rd_kafka_query_watermark_offsets(
                                         rk, topic, p, &lo, &hi, 10000),
                                 0);
                if (hi == lo) {
                        rd_kafka_topic_partition_list_destroy(tp);
                        continue;
                }
                rd_kafka_topic_partition_list_add(tp, topic, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
                assert_int_equal(rd_kafka_assign(rk, tp), 0);
                while (last < hi - 1 && time(NULL) < deadline) {
                        rd_kafka_message_t *rkm =
                                rd_kafka_consumer_poll(rk, 500);
                        if (!rkm)
                                continue;
                        if (!rkm->err) {
                                cb(rkm, opaque);
                                last = rkm->offset;
                        } else if (rkm->err ==
                                   RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                                /* Transaction markers may end a partition
                                 * before hi - 1. */
                                rd_kafka_message_destroy(rkm);
                                break;
                        }
                        rd_kafka_message_destroy(rkm);
                }
                assert_int_equal(rd_kafka_assign(rk, NULL), 0);
                rd_kafka_topic_partition_list_destroy(tp);
        }
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        free(group);
}

int64_t kt_committed(const char *group, const char *topic, int32_t partition)
{
        rd_kafka_t *rk = kt_client(RD_KAFKA_CONSUMER, group);
        rd_kafka_topic_partition_list_t *tp =
                rd_kafka_topic_partition_list_new(1);
        int64_t off;
        rd_kafka_topic_partition_list_add(tp, topic, partition);
        assert_int_equal(rd_kafka_committed(rk, tp, 10000), 0);
        off = tp->elems[0].offset;
        rd_kafka_topic_partition_list_destroy(tp);
        rd_kafka_destroy(rk);
        return off < 0 ? -1 : off;
}

int64_t kt_wait_count(const char *topic, int64_t want, int timeout_ms)
{
        struct timespec ts;
        int waited = 0;
        int64_t n = 0;
        while (waited < timeout_ms) {
                if ((n = kt_count(topic)) >= want)
                        return n;
                ts.tv_sec = 0;
                ts.tv_nsec = 250 * 1000000L;
                nanosleep(&ts, NULL);
                waited += 250;
        }
        return n;
}

void kt_watermarks(const char *topic, int32_t partition, int64_t *lo,
                   int64_t *hi)
{
        rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, NULL);
        assert_int_equal(rd_kafka_query_watermark_offsets(rk, topic, partition,
                                                          lo, hi, 10000),
                         0);
        rd_kafka_destroy(rk);
}

int64_t kt_committed_sum(const char *group, const char *topic, int partitions)
{
        rd_kafka_t *rk = kt_client(RD_KAFKA_CONSUMER, group);
        rd_kafka_topic_partition_list_t *tp =
                rd_kafka_topic_partition_list_new(partitions);
        int64_t sum = 0;
        int p;
        for (p = 0; p < partitions; p++)
                rd_kafka_topic_partition_list_add(tp, topic, p);
        assert_int_equal(rd_kafka_committed(rk, tp, 10000), 0);
        for (p = 0; p < tp->cnt; p++)
                if (tp->elems[p].offset > 0)
                        sum += tp->elems[p].offset;
        rd_kafka_topic_partition_list_destroy(tp);
        rd_kafka_destroy(rk);
        return sum;
}

int64_t kt_wait_committed(const char *group, const char *topic, int partitions,
                          int64_t want, int timeout_ms)
{
        struct timespec ts = {0, 250 * 1000000L}, t0, t1;
        int64_t n;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
                if ((n = kt_committed_sum(group, topic, partitions)) >= want)
                        return n;
                clock_gettime(CLOCK_MONOTONIC, &t1);
                if ((t1.tv_sec - t0.tv_sec) * 1000 +
                            (t1.tv_nsec - t0.tv_nsec) / 1000000 >=
                    timeout_ms)
                        return n;
                nanosleep(&ts, NULL);
        }
}

pid_t kt_spawn(char *const argv[], const char *log_prefix)
{
        char out[512], err[512];
        pid_t pid;
        snprintf(out, sizeof out, "%s.out", log_prefix);
        snprintf(err, sizeof err, "%s.err", log_prefix);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                dup2(fo, 1);
                dup2(fe, 2);
                execv(argv[0], argv);
                _exit(127);
        }
        return pid;
}

int kt_wait(pid_t pid, int timeout_ms)
{
        int status, waited = 0;
        struct timespec ts = {0, 50 * 1000000L};
        while (waited < timeout_ms) {
                pid_t r = waitpid(pid, &status, WNOHANG);
                if (r == pid) {
                        if (WIFEXITED(status))
                                return WEXITSTATUS(status);
                        return 128 + WTERMSIG(status);
                }
                nanosleep(&ts, NULL);
                waited += 50;
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
}

char *kt_slurp(const char *path)
{
        FILE *fp = fopen(path, "r");
        char *buf;
        long n;
        if (!fp)
                return NULL;
        fseek(fp, 0, SEEK_END);
        n = ftell(fp);
        fseek(fp, 0, SEEK_SET);
        buf = malloc((size_t)n + 1);
        buf[fread(buf, 1, (size_t)n, fp)] = '\0';
        fclose(fp);
        return buf;
}
