/*
 * Helpers for integration tests against the real broker.
 */
#define _GNU_SOURCE /* nftw */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
                /* A transactional topic's last offset is a commit marker,
                 * which a reader never sees: the end of a partition is
                 * where reading stops. */
                rd_kafka_conf_set(c, "enable.partition.eof", "true", NULL, 0);
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
        kt_create_topic_with(topic, partitions, NULL, NULL);
}

void kt_delete_records(const char *topic, int partitions)
{
        rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, NULL);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_topic_partition_list_t *parts =
                rd_kafka_topic_partition_list_new(partitions);
        rd_kafka_DeleteRecords_t *del;
        const rd_kafka_topic_partition_list_t *res;
        rd_kafka_event_t *ev;
        int i;

        for (i = 0; i < partitions; i++)
                rd_kafka_topic_partition_list_add(parts, topic, i)->offset =
                        RD_KAFKA_OFFSET_END;
        del = rd_kafka_DeleteRecords_new(parts);
        rd_kafka_DeleteRecords(rk, &del, 1, NULL, q);
        ev = rd_kafka_queue_poll(q, 30000);
        assert_non_null(ev);
        if (rd_kafka_event_error(ev))
                fail_msg("delete records of %s: %s", topic,
                         rd_kafka_event_error_string(ev));
        res = rd_kafka_DeleteRecords_result_offsets(
                rd_kafka_event_DeleteRecords_result(ev));
        for (i = 0; i < res->cnt; i++)
                if (res->elems[i].err)
                        fail_msg("delete records of %s [%d]: %s", topic, i,
                                 rd_kafka_err2str(res->elems[i].err));
        rd_kafka_event_destroy(ev);
        rd_kafka_DeleteRecords_destroy(del);
        rd_kafka_topic_partition_list_destroy(parts);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
}

void kt_create_topic_with(const char *topic, int partitions, const char *config,
                          const char *value)
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
        if (config)
                assert_int_equal(
                        rd_kafka_NewTopic_set_config(nt, config, value), 0);
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

void kt_produce_at(rd_kafka_t *rk, const char *topic, int32_t partition,
                   const char *key, const void *value, size_t value_size,
                   int64_t timestamp, int64_t where[2])
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
                        RD_KAFKA_V_TIMESTAMP(timestamp),
                        RD_KAFKA_V_OPAQUE(where), RD_KAFKA_V_END);
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        break;
                rd_kafka_poll(rk, 50);
        }
        if (err)
                fail_msg("produce to %s: %s", topic, rd_kafka_err2str(err));
        rd_kafka_poll(rk, 0);
}

void kt_produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                const char *key, const void *value, size_t value_size,
                int64_t where[2])
{
        /* 0: the producer stamps it with its clock. */
        kt_produce_at(rk, topic, partition, key, value, value_size, 0, where);
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

/* The watermarks of @p topic partition @p p. A topic just created (or a
 * broker still electing leaders) answers "not leader" or "unknown
 * partition" for a moment: those are asked again until a 60 s deadline;
 * any other error, or the deadline, fails the test. */
static void kt_query_watermarks(rd_kafka_t *rk, const char *topic, int32_t p,
                                int64_t *lo, int64_t *hi)
{
        int64_t deadline = kt_now_ms() + 60000;
        rd_kafka_resp_err_t err;
        for (;;) {
                err = rd_kafka_query_watermark_offsets(rk, topic, p, lo, hi,
                                                       10000);
                if (!err)
                        return;
                if ((err != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION &&
                     err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
                     err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
                     err != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION &&
                     err != RD_KAFKA_RESP_ERR__TRANSPORT) ||
                    kt_now_ms() >= deadline)
                        fail_msg("watermarks of %s [%d]: %s", topic, (int)p,
                                 rd_kafka_err2str(err));
                kt_sleep_ms(100);
        }
}

int64_t kt_count(const char *topic)
{
        rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, NULL);
        int n = kt_partitions(rk, topic), p;
        int64_t sum = 0, lo, hi;
        for (p = 0; p < n; p++) {
                kt_query_watermarks(rk, topic, p, &lo, &hi);
                sum += hi - lo;
        }
        rd_kafka_destroy(rk);
        return sum;
}

int kt_partition_count(const char *topic)
{
        rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, NULL);
        int n = kt_partitions(rk, topic);
        rd_kafka_destroy(rk);
        return n;
}

static int kt_rm_entry(const char *path, const struct stat *sb, int flag,
                       struct FTW *ftw)
{
        (void)sb, (void)flag, (void)ftw;
        remove(path);
        return 0;
}

void kt_incompressible(char *buf, size_t n)
{
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "abcdefghijklmnopqrstuvwxyz"
                                       "0123456789-_";
        uint64_t x = 0x9e3779b97f4a7c15u;
        for (size_t i = 0; i < n; i++) {
                /* xorshift64, 6 bits a step: too few repeats for lz4 to
                 * shorten it (gzip or zstd would, to about 6/8) */
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf[i] = alphabet[x >> 58];
        }
}

void kt_rmtree(const char *dir)
{
        nftw(dir, kt_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int kt_wait_partition_count(const char *topic, int want, int timeout_ms)
{
        int64_t deadline = kt_now_ms() + timeout_ms;
        int n;
        while ((n = kt_partition_count(topic)) != want &&
               kt_now_ms() < deadline)
                kt_sleep_ms(50);
        return n;
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
                int64_t deadline = kt_now_ms() + 120000;
                bool eof = false;
                kt_query_watermarks(rk, topic, p, &lo, &hi);
                if (hi == lo) {
                        rd_kafka_topic_partition_list_destroy(tp);
                        continue;
                }
                rd_kafka_topic_partition_list_add(tp, topic, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
                assert_int_equal(rd_kafka_assign(rk, tp), 0);
                while (last < hi - 1 && !eof) {
                        rd_kafka_message_t *rkm;
                        if (kt_now_ms() >= deadline)
                                fail_msg("reading %s [%d]: at offset %" PRId64
                                         " of %" PRId64 " after 120 s",
                                         topic, p, last + 1, hi);
                        if (!(rkm = rd_kafka_consumer_poll(rk, 500)))
                                continue;
                        if (!rkm->err) {
                                cb(rkm, opaque);
                                last = rkm->offset;
                        } else if (rkm->err ==
                                   RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                                /* Transaction markers may end a partition
                                 * before hi - 1; an end reported before hi
                                 * (a fetch that raced the records we know
                                 * are there) is not the end. */
                                if (rkm->offset >= hi)
                                        eof = true;
                        } else {
                                fail_msg("reading %s [%d]: %s", topic, p,
                                         rd_kafka_message_errstr(rkm));
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
        int64_t deadline = kt_now_ms() + timeout_ms, n;
        for (;;) {
                if ((n = kt_count(topic)) >= want || kt_now_ms() >= deadline)
                        return n;
                kt_sleep_ms(250);
        }
}

void kt_watermarks(const char *topic, int32_t partition, int64_t *lo,
                   int64_t *hi)
{
        rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, NULL);
        kt_query_watermarks(rk, topic, partition, lo, hi);
        rd_kafka_destroy(rk);
}

int64_t kt_committed_sum(const char *group, const char *topic, int partitions)
{
        rd_kafka_t *rk = kt_client(RD_KAFKA_CONSUMER, group);
        rd_kafka_topic_partition_list_t *tp =
                rd_kafka_topic_partition_list_new(partitions);
        int64_t sum = 0;
        int p;
        rd_kafka_resp_err_t err;
        int64_t deadline = kt_now_ms() + 30000;
        for (p = 0; p < partitions; p++)
                rd_kafka_topic_partition_list_add(tp, topic, p);
        /* A broker that just started answers "coordinator load in
         * progress" (or "not coordinator") for a while: ask again. */
        while ((err = rd_kafka_committed(rk, tp, 10000)) ==
                       RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS ||
               err == RD_KAFKA_RESP_ERR_NOT_COORDINATOR ||
               err == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE) {
                if (kt_now_ms() >= deadline)
                        break;
                kt_sleep_ms(200);
        }
        if (err)
                fail_msg("committed offsets of group %s: %s", group,
                         rd_kafka_err2str(err));
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
        int64_t deadline = kt_now_ms() + timeout_ms, n;
        for (;;) {
                if ((n = kt_committed_sum(group, topic, partitions)) >= want ||
                    kt_now_ms() >= deadline)
                        return n;
                kt_sleep_ms(250);
        }
}

int64_t kt_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kt_sleep_ms(int ms)
{
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) && errno == EINTR)
                ;
}

bool kt_wait_until(bool (*cond)(void *opaque), void *opaque, int interval_ms,
                   int timeout_ms)
{
        int64_t deadline = kt_now_ms() + timeout_ms;
        for (;;) {
                if (cond(opaque))
                        return true;
                if (kt_now_ms() >= deadline)
                        return false;
                kt_sleep_ms(interval_ms);
        }
}

/* Whether @p err only means "ask again": the group's coordinator is
 * moving or loading, as it does for a while after the broker starts. */
static bool kt_transient(rd_kafka_resp_err_t err)
{
        return err == RD_KAFKA_RESP_ERR_NOT_COORDINATOR ||
               err == RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS ||
               err == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE ||
               err == RD_KAFKA_RESP_ERR__TIMED_OUT ||
               err == RD_KAFKA_RESP_ERR__TRANSPORT;
}

/* Describes @p group into @p g (see kt_describe_group()). Returns the
 * request's error; fails the test on errors that are not transient. */
static rd_kafka_resp_err_t kt_describe(const char *group, const char *topic,
                                       kt_group_t *g)
{
        rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, NULL);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        const rd_kafka_ConsumerGroupDescription_t **descs, *d;
        const rd_kafka_error_t *gerr;
        rd_kafka_resp_err_t err;
        rd_kafka_event_t *ev;
        size_t cnt, m;

        rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(
                rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
        char errstr[256];

        memset(g, 0, sizeof *g);
        /* A request that gets no answer (a broker just restarted, its
         * coordinator still loading) times out as a transient error, which
         * the caller retries with a fresh client, rather than hang past
         * the poll below (seen once in the chaos test). */
        if (rd_kafka_AdminOptions_set_request_timeout(opts, 10000, errstr,
                                                      sizeof errstr))
                fail_msg("describe group %s: %s", group, errstr);
        rd_kafka_DescribeConsumerGroups(rk, &group, 1, opts, q);
        rd_kafka_AdminOptions_destroy(opts);
        ev = rd_kafka_queue_poll(q, 30000);
        if (!ev)
                fail_msg("describe group %s: no answer in 30 s", group);
        if ((err = rd_kafka_event_error(ev))) {
                if (!kt_transient(err))
                        fail_msg("describe group %s: %s", group,
                                 rd_kafka_event_error_string(ev));
                goto done;
        }
        descs = rd_kafka_DescribeConsumerGroups_result_groups(
                rd_kafka_event_DescribeConsumerGroups_result(ev), &cnt);
        assert_int_equal(cnt, 1);
        d = descs[0];
        gerr = rd_kafka_ConsumerGroupDescription_error(d);
        err = gerr ? rd_kafka_error_code(gerr) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (err == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
                g->state = RD_KAFKA_CONSUMER_GROUP_STATE_DEAD;
                err = RD_KAFKA_RESP_ERR_NO_ERROR;
                goto done;
        }
        if (err) {
                if (!kt_transient(err))
                        fail_msg("describe group %s: %s", group,
                                 rd_kafka_error_string(gerr));
                goto done;
        }
        g->state = rd_kafka_ConsumerGroupDescription_state(d);
        g->members = (int)rd_kafka_ConsumerGroupDescription_member_count(d);
        for (m = 0; m < (size_t)g->members; m++) {
                const rd_kafka_MemberDescription_t *md =
                        rd_kafka_ConsumerGroupDescription_member(d, m);
                const rd_kafka_topic_partition_list_t *tp =
                        rd_kafka_MemberAssignment_partitions(
                                rd_kafka_MemberDescription_assignment(md));
                int i;
                if (tp && tp->cnt > 0)
                        g->members_assigned++;
                for (i = 0; topic && tp && i < tp->cnt; i++)
                        if (!strcmp(tp->elems[i].topic, topic) &&
                            tp->elems[i].partition >= 0 &&
                            tp->elems[i].partition < KT_MAX_PARTITIONS)
                                snprintf(g->owner[tp->elems[i].partition],
                                         sizeof g->owner[0], "%s",
                                         rd_kafka_MemberDescription_client_id(
                                                 md));
        }
done:
        rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
        return err;
}

char *kt_topic_config(const char *topic, const char *name)
{
        rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, NULL);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_ConfigResource_t *res =
                rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
        const rd_kafka_ConfigResource_t **rs;
        const rd_kafka_ConfigEntry_t **entries;
        rd_kafka_event_t *ev;
        char *value = NULL;
        size_t cnt, i;

        rd_kafka_DescribeConfigs(rk, &res, 1, NULL, q);
        ev = rd_kafka_queue_poll(q, 30000);
        if (!ev)
                fail_msg("describe configs of %s: no answer in 30 s", topic);
        if (rd_kafka_event_error(ev))
                fail_msg("describe configs of %s: %s", topic,
                         rd_kafka_event_error_string(ev));
        rs = rd_kafka_DescribeConfigs_result_resources(
                rd_kafka_event_DescribeConfigs_result(ev), &cnt);
        assert_int_equal(cnt, 1);
        if (rd_kafka_ConfigResource_error(rs[0]))
                fail_msg("describe configs of %s: %s", topic,
                         rd_kafka_ConfigResource_error_string(rs[0]));
        entries = rd_kafka_ConfigResource_configs(rs[0], &cnt);
        for (i = 0; i < cnt; i++)
                if (!strcmp(rd_kafka_ConfigEntry_name(entries[i]), name) &&
                    rd_kafka_ConfigEntry_value(entries[i]))
                        value = strdup(rd_kafka_ConfigEntry_value(entries[i]));
        rd_kafka_event_destroy(ev);
        rd_kafka_ConfigResource_destroy(res);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
        return value;
}

void kt_describe_group(const char *group, const char *topic, kt_group_t *g)
{
        int64_t deadline = kt_now_ms() + 60000;
        rd_kafka_resp_err_t err;
        while ((err = kt_describe(group, topic, g))) {
                if (kt_now_ms() >= deadline)
                        fail_msg("describe group %s: %s for 60 s", group,
                                 rd_kafka_err2str(err));
                kt_sleep_ms(100);
        }
}

typedef struct kt_group_wait {
        const char *group, *topic;
        int partitions, members;
        bool want_empty;
        kt_group_t *g;
} kt_group_wait_t;

static bool kt_group_reached(void *opaque)
{
        kt_group_wait_t *w = opaque;
        int p;
        if (kt_describe(w->group, w->topic, w->g))
                return false;
        if (w->want_empty)
                return w->g->members == 0 &&
                       (w->g->state == RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY ||
                        w->g->state == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD);
        if (w->g->state != RD_KAFKA_CONSUMER_GROUP_STATE_STABLE ||
            w->g->members != w->members)
                return false;
        for (p = 0; p < w->partitions; p++)
                if (!w->g->owner[p][0])
                        return false;
        return true;
}

void kt_wait_group_stable(const char *group, const char *topic, int partitions,
                          int members, kt_group_t *g, int timeout_ms)
{
        kt_group_wait_t w = {group, topic, partitions, members, false, g};
        assert_in_range(partitions, 1, KT_MAX_PARTITIONS);
        if (!kt_wait_until(kt_group_reached, &w, 100, timeout_ms))
                fail_msg("group %s did not become stable with %d members "
                         "owning the %d partitions of %s in %d ms (state "
                         "%s, %d members)",
                         group, members, partitions, topic, timeout_ms,
                         rd_kafka_consumer_group_state_name(g->state),
                         g->members);
}

void kt_wait_group_empty(const char *group, int timeout_ms)
{
        kt_group_t g;
        kt_group_wait_t w = {group, NULL, 0, 0, true, &g};
        if (!kt_wait_until(kt_group_reached, &w, 100, timeout_ms))
                fail_msg("group %s still has %d members after %d ms (state "
                         "%s)",
                         group, g.members, timeout_ms,
                         rd_kafka_consumer_group_state_name(g.state));
}

int32_t kt_partition_of(const char *key, int32_t partitions)
{
        return rd_kafka_msg_partitioner_murmur2(NULL, key, strlen(key),
                                                partitions, NULL, NULL);
}

#define KT_READER_TOPICS 4

struct kt_reader {
        rd_kafka_t *rk;
        char *group;
        char *topic[KT_READER_TOPICS];
        int topic_cnt, partitions;
        /** Per topic and partition: the next offset to read, as far as
         *  the reader knows (a record's offset + 1, or where an end of
         *  partition was reported). */
        int64_t next[KT_READER_TOPICS][KT_MAX_PARTITIONS];
};

kt_reader_t *kt_reader_new(const char *const *topics, int topic_cnt,
                           int partitions)
{
        kt_reader_t *r = calloc(1, sizeof *r);
        rd_kafka_topic_partition_list_t *tp;
        int t, p;

        assert_non_null(r);
        assert_in_range(topic_cnt, 1, KT_READER_TOPICS);
        assert_in_range(partitions, 1, KT_MAX_PARTITIONS);
        r->group = kt_unique("kt-reader");
        r->rk = kt_client(RD_KAFKA_CONSUMER, r->group);
        r->topic_cnt = topic_cnt;
        r->partitions = partitions;
        tp = rd_kafka_topic_partition_list_new(topic_cnt * partitions);
        for (t = 0; t < topic_cnt; t++) {
                r->topic[t] = strdup(topics[t]);
                for (p = 0; p < partitions; p++)
                        rd_kafka_topic_partition_list_add(tp, topics[t], p)
                                ->offset = RD_KAFKA_OFFSET_BEGINNING;
        }
        assert_int_equal(rd_kafka_assign(r->rk, tp), 0);
        rd_kafka_topic_partition_list_destroy(tp);
        return r;
}

static int kt_reader_topic(kt_reader_t *r, const rd_kafka_message_t *rkm)
{
        const char *name = rd_kafka_topic_name(rkm->rkt);
        int t;
        for (t = 0; t < r->topic_cnt; t++)
                if (!strcmp(name, r->topic[t]))
                        return t;
        return -1;
}

/* Reads one message (or nothing within @p timeout_ms); returns 1 if it
 * was a record, handed to @p cb. */
static int kt_reader_one(kt_reader_t *r, int timeout_ms,
                         void (*cb)(const rd_kafka_message_t *rkm,
                                    void *opaque),
                         void *opaque)
{
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(r->rk, timeout_ms);
        int t, got = 0;
        if (!rkm)
                return 0;
        t = rkm->rkt ? kt_reader_topic(r, rkm) : -1;
        if (!rkm->err) {
                if (t >= 0 && rkm->partition < r->partitions)
                        r->next[t][rkm->partition] = rkm->offset + 1;
                cb(rkm, opaque);
                got = 1;
        } else if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (t >= 0 && rkm->partition < r->partitions &&
                    rkm->offset > r->next[t][rkm->partition])
                        r->next[t][rkm->partition] = rkm->offset;
        } else if (!kt_transient(rkm->err) &&
                   rkm->err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN &&
                   rkm->err != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION &&
                   rkm->err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) {
                fail_msg("reading %s [%d]: %s", t >= 0 ? r->topic[t] : "?",
                         (int)rkm->partition, rd_kafka_message_errstr(rkm));
        }
        rd_kafka_message_destroy(rkm);
        return got;
}

int64_t kt_reader_poll(kt_reader_t *r, int timeout_ms,
                       void (*cb)(const rd_kafka_message_t *rkm, void *opaque),
                       void *opaque)
{
        int64_t deadline = kt_now_ms() + timeout_ms, n = 0;
        do
                n += kt_reader_one(r, 50, cb, opaque);
        while (kt_now_ms() < deadline);
        return n;
}

void kt_reader_drain(kt_reader_t *r, int timeout_ms,
                     void (*cb)(const rd_kafka_message_t *rkm, void *opaque),
                     void *opaque)
{
        int64_t hi[KT_READER_TOPICS][KT_MAX_PARTITIONS], lo;
        int64_t deadline = kt_now_ms() + timeout_ms;
        int t, p, lag_t = 0, lag_p = 0;
        bool done;

        for (t = 0; t < r->topic_cnt; t++)
                for (p = 0; p < r->partitions; p++)
                        kt_watermarks(r->topic[t], p, &lo, &hi[t][p]);
        for (;;) {
                done = true;
                for (t = 0; t < r->topic_cnt; t++)
                        for (p = 0; p < r->partitions; p++)
                                if (done && r->next[t][p] < hi[t][p]) {
                                        done = false;
                                        lag_t = t;
                                        lag_p = p;
                                }
                if (done)
                        return;
                if (kt_now_ms() >= deadline)
                        fail_msg("reading %s [%d]: at offset %" PRId64
                                 " of %" PRId64 " after %d ms",
                                 r->topic[lag_t], lag_p, r->next[lag_t][lag_p],
                                 hi[lag_t][lag_p], timeout_ms);
                kt_reader_one(r, 100, cb, opaque);
        }
}

void kt_reader_destroy(kt_reader_t *r)
{
        int t;
        if (!r)
                return;
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
        for (t = 0; t < r->topic_cnt; t++)
                free(r->topic[t]);
        free(r->group);
        free(r);
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
        int64_t deadline = kt_now_ms() + timeout_ms;
        int status;
        for (;;) {
                pid_t r = waitpid(pid, &status, WNOHANG);
                if (r == pid) {
                        if (WIFEXITED(status))
                                return WEXITSTATUS(status);
                        return 128 + WTERMSIG(status);
                }
                if (kt_now_ms() >= deadline)
                        break;
                kt_sleep_ms(50);
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
}

/* A KRaft broker restarted after a crash answers requests before its
 * controller has unfenced it; until then creating a topic fails ("All
 * brokers are currently fenced"). Waits until one can be created. */
static void kt_wait_broker_usable(void)
{
        rd_kafka_t *rk = kt_client(RD_KAFKA_PRODUCER, NULL);
        char *topic = kt_unique("kt-restart-probe");
        int64_t deadline = kt_now_ms() + 180000;
        char err[512] = "";
        for (;;) {
                rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
                rd_kafka_NewTopic_t *nt =
                        rd_kafka_NewTopic_new(topic, 1, 1, err, sizeof err);
                rd_kafka_event_t *ev;
                bool ok = false;
                assert_non_null(nt);
                rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
                ev = rd_kafka_queue_poll(q, 30000);
                if (ev && !rd_kafka_event_error(ev)) {
                        size_t cnt;
                        const rd_kafka_topic_result_t **res =
                                rd_kafka_CreateTopics_result_topics(
                                        rd_kafka_event_CreateTopics_result(ev),
                                        &cnt);
                        rd_kafka_resp_err_t e =
                                cnt == 1 ? rd_kafka_topic_result_error(res[0])
                                         : RD_KAFKA_RESP_ERR__FAIL;
                        ok = !e || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS;
                        if (!ok && cnt == 1)
                                snprintf(err, sizeof err, "%s",
                                         rd_kafka_topic_result_error_string(
                                                 res[0]));
                } else if (ev)
                        snprintf(err, sizeof err, "%s",
                                 rd_kafka_event_error_string(ev));
                if (ev)
                        rd_kafka_event_destroy(ev);
                rd_kafka_NewTopic_destroy(nt);
                rd_kafka_queue_destroy(q);
                if (ok)
                        break;
                if (kt_now_ms() >= deadline)
                        fail_msg("the restarted broker cannot create a "
                                 "topic: %s",
                                 err);
                kt_sleep_ms(500);
        }
        free(topic);
        rd_kafka_destroy(rk);
}

void kt_broker(const char *cmd)
{
        pid_t pid;
        int status;
        fflush(NULL);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                /* stdout carries only the bootstrap address; the script's
                 * progress goes to stderr, into the test's log. */
                int null = open("/dev/null", O_WRONLY);
                char *const argv[] = {(char *)BROKER_PATH, (char *)cmd, NULL};
                if (null >= 0)
                        dup2(null, 1);
                /* A loaded machine (the integration tests share it with
                 * builds) restarts a crashed broker slowly. */
                setenv("BROOK_KAFKA_START_TIMEOUT", "600", 0);
                execv(argv[0], argv);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) != pid)
                fail_msg("broker %s: waitpid: %s", cmd, strerror(errno));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                fail_msg("%s %s failed (status %d)", BROKER_PATH, cmd, status);
        if (!strcmp(cmd, "restart"))
                kt_wait_broker_usable();
}

void kt_self_signed_cert(const char *cert, const char *key)
{
        char cmd[2048];
        snprintf(cmd, sizeof cmd,
                 "openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s' "
                 "-out '%s' -days 1 -subj /CN=localhost -addext "
                 "subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1",
                 key, cert);
        if (system(cmd))
                fail_msg("openssl could not make a certificate: %s", cmd);
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

int kt_free_port(void)
{
        struct sockaddr_in sa = {.sin_family = AF_INET};
        socklen_t len = sizeof sa;
        int fd = socket(AF_INET, SOCK_STREAM, 0), port;
        assert_true(fd >= 0);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        port = ntohs(sa.sin_port);
        close(fd);
        return port;
}

void kt_test_filter(void)
{
        const char *f = getenv("BROOK_TEST_FILTER");
        if (f && *f)
                cmocka_set_test_filter(f);
}
