/*
 * vitals_demo: the vitals-alerts example end to end on a broker.
 *
 *   vitals_demo BOOTSTRAP
 *
 * Creates topics "vitals" and "vitals-alerts", writes 1,000 heart-rate
 * readings of 20 patients (and 3 malformed ones), runs the vitals-alerts
 * topology in this process until every reading is processed, then prints
 * the alerts and the dead-lettered readings.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "topologies.h"

#define READINGS 1000
#define PATIENTS 20

static rd_kafka_t *client(rd_kafka_type_t type, const char *bootstrap)
{
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        char err[512];
        rd_kafka_t *rk;
        rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, NULL, 0);
        if (type == RD_KAFKA_CONSUMER) {
                rd_kafka_conf_set(c, "group.id", "vitals-demo-reader", NULL, 0);
                rd_kafka_conf_set(c, "enable.partition.eof", "true", NULL, 0);
        }
        if (!(rk = rd_kafka_new(type, c, err, sizeof err))) {
                fprintf(stderr, "vitals_demo: %s\n", err);
                exit(1);
        }
        return rk;
}

static void create_topics(rd_kafka_t *rk)
{
        const char *names[] = {"vitals", "vitals-alerts"};
        rd_kafka_NewTopic_t *nts[2];
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_event_t *ev;
        int i;
        for (i = 0; i < 2; i++)
                nts[i] = rd_kafka_NewTopic_new(names[i], 4, 1, NULL, 0);
        rd_kafka_CreateTopics(rk, nts, 2, NULL, q);
        ev = rd_kafka_queue_poll(q, 30000);
        if (!ev || rd_kafka_event_error(ev)) {
                fprintf(stderr, "vitals_demo: creating topics failed: %s\n",
                        ev ? rd_kafka_event_error_string(ev) : "timed out");
                exit(1);
        }
        rd_kafka_event_destroy(ev);
        for (i = 0; i < 2; i++)
                rd_kafka_NewTopic_destroy(nts[i]);
        rd_kafka_queue_destroy(q);
        /* Let the new topics reach the metadata. */
        sleep(1);
}

/* Writes the readings; returns how many should alert (> 120 bpm). */
static int produce_readings(rd_kafka_t *rk)
{
        char key[32], value[256];
        int i, alerts = 0;
        int64_t ts = 1767225600000LL; /* 2026-01-01T00:00:00Z */
        for (i = 0; i < READINGS; i++) {
                /* A deterministic walk between 55 and 140 bpm. */
                int hr = 55 + (i * 37 + (i / PATIENTS) * 11) % 86;
                int n;
                snprintf(key, sizeof key, "patient-%02d", i % PATIENTS);
                n = snprintf(value, sizeof value,
                             "{\"patient_id\":\"%s\",\"heart_rate\":%d,"
                             "\"spo2\":%d}",
                             key, hr, 92 + i % 8);
                alerts += hr > 120;
                rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("vitals"),
                                  RD_KAFKA_V_KEY(key, strlen(key)),
                                  RD_KAFKA_V_VALUE(value, (size_t)n),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_TIMESTAMP(ts + i * 1000LL),
                                  RD_KAFKA_V_END);
                if (i % 400 == 7) {
                        /* A device that sends garbage now and then. */
                        const char *bad = "heart_rate=??";
                        rd_kafka_producev(
                                rk, RD_KAFKA_V_TOPIC("vitals"),
                                RD_KAFKA_V_KEY(key, strlen(key)),
                                RD_KAFKA_V_VALUE((void *)bad, strlen(bad)),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_END);
                }
                rd_kafka_poll(rk, 0);
        }
        rd_kafka_flush(rk, 30000);
        return alerts;
}

/* Prints every record of @p topic; returns how many. */
static int print_topic(const char *bootstrap, const char *topic, bool dlq)
{
        rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, bootstrap);
        rd_kafka_topic_partition_list_t *tp =
                rd_kafka_topic_partition_list_new(4);
        int p, eofs = 0, n = 0, parts = dlq ? 1 : 4;
        for (p = 0; p < parts; p++)
                rd_kafka_topic_partition_list_add(tp, topic, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(rk, tp);
        while (eofs < parts) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 5000);
                rd_kafka_headers_t *h;
                const void *v;
                size_t sz;
                if (!m)
                        break;
                if (m->err) {
                        eofs += m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
                        rd_kafka_message_destroy(m);
                        continue;
                }
                n++;
                if (!dlq) {
                        printf("  alert  %.*s\n", (int)m->len,
                               (const char *)m->payload);
                } else if (!rd_kafka_message_headers(m, &h) &&
                           !rd_kafka_header_get_last(
                                   h, "__streams.errors.message", &v, &sz)) {
                        printf("  dead-lettered  \"%.*s\"  (%.*s)\n",
                               (int)m->len, (const char *)m->payload, (int)sz,
                               (const char *)v);
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_topic_partition_list_destroy(tp);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return n;
}

int main(int argc, char **argv)
{
        char errstr[512];
        brook_conf_t *conf;
        brook_builder_t *b;
        brook_app_t *app;
        brook_app_stats_t st;
        rd_kafka_t *rk;
        int want, alerts, dead;

        if (argc != 2) {
                fprintf(stderr, "usage: %s BOOTSTRAP\n", argv[0]);
                return 2;
        }
        rk = client(RD_KAFKA_PRODUCER, argv[1]);
        create_topics(rk);
        want = produce_readings(rk);
        rd_kafka_destroy(rk);
        printf("wrote %d heart-rate readings of %d patients (and 3 "
               "malformed ones) to \"vitals\"\n",
               READINGS, PATIENTS);

        conf = brook_conf_new();
        if (brook_conf_set(conf, "application.id", "vitals-alerts", errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "bootstrap.servers", argv[1], errstr,
                           sizeof errstr) ||
            brook_conf_set(conf, "default.deserialization.exception.handler",
                           "dead_letter", errstr, sizeof errstr)) {
                fprintf(stderr, "%s\n", errstr);
                return 1;
        }
        b = brook_builder_new();
        brook_example_find("vitals-alerts")->build(b);
        {
                char *text = brook_topology_describe(b, BROOK_DESCRIBE_TEXT);
                printf("running this topology:\n%s", text);
                brook_free(text);
        }
        if (!(app = brook_app_new(b, conf, errstr, sizeof errstr)) ||
            brook_app_start(app, errstr, sizeof errstr)) {
                fprintf(stderr, "vitals_demo: %s\n", errstr);
                return 1;
        }
        do {
                struct timespec ts = {0, 100 * 1000000L};
                nanosleep(&ts, NULL);
                brook_app_stats(app, &st);
        } while (st.records_processed < READINGS + 3 &&
                 brook_app_state(app, NULL, 0) != BROOK_APP_ERROR);
        brook_app_close(app, -1);
        brook_app_stats(app, &st);
        brook_app_destroy(app);
        printf("processed %" PRId64 " records: %" PRId64 " alerts, %" PRId64
               " dead-lettered\n\nalerts in \"vitals-alerts\":\n",
               st.records_processed, st.records_produced,
               st.records_dead_lettered);
        alerts = print_topic(argv[1], "vitals-alerts", false);
        printf("\ndead-letter topic \"vitals-alerts-dlq\":\n");
        dead = print_topic(argv[1], "vitals-alerts-dlq", true);
        printf("\n%d alerts (expected %d), %d dead-lettered (expected 3)\n",
               alerts, want, dead);
        return alerts == want && dead == 3 ? 0 : 1;
}
