/*
 * brook — librdkafka's properties as brook sees them: which ones brook
 * keeps for itself, whether a value is valid, and which clients a property
 * is for.
 *
 * librdkafka validates a value only when it is set on an rd_kafka_conf_t,
 * so brook sets it on a scratch one: a mistake is then reported by
 * brook_conf_set(), naming the property, rather than when the app starts.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_int.h"

/* librdkafka properties that brook must control for its guarantees. */
static const struct {
        const char *name;
        const char *why;
} brook__rkprop_reserved[] = {
        {"group.id", "the consumer group id is application.id"},
        {"enable.auto.commit",
         "offsets are committed only after the output is flushed"},
        {"auto.commit.enable",
         "offsets are committed only after the output is flushed"},
        {"enable.auto.offset.store",
         "offsets are stored only once a record is fully processed"},
        {"transactional.id",
         "under exactly_once_v2 it is derived from application.id"},
        {"isolation.level", "it follows from processing.guarantee"},
        {"partition.assignment.strategy",
         "co-partitioning needs the range assignor"},
        {"enable.partition.eof",
         "max.task.idle.ms learns from the end-of-partition events that a "
         "partition has no more data"},
};

/* What librdkafka says about one of its properties, from
 * rd_kafka_conf_properties_show(): which clients it applies to and which
 * values it accepts. librdkafka has no other API for either. */
typedef struct brook__rkprop {
        char *name;
        char scope;  /**< '*' every client, 'C' consumer, 'P' producer. */
        char *range; /**< E.g. "1 .. 100000000"; may be empty. */
} brook__rkprop_t;

static brook__rkprop_t *brook__rkprops;
static size_t brook__rkprop_cnt;
static pthread_once_t brook__rkprops_once = PTHREAD_ONCE_INIT;

static char *brook__trim(char *s, char *end)
{
        while (s < end && (*s == ' ' || *s == '\t'))
                s++;
        while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
        *end = '\0';
        return s;
}

static void brook__rkprops_load(void)
{
        char *text = NULL, *line, *next;
        size_t text_size = 0, cap = 0;
        FILE *fp = open_memstream(&text, &text_size);

        /* If the table cannot be read, every property is treated as
         * applying to every client, which is what librdkafka itself
         * tolerates (with a warning). */
        if (!fp)
                return;
        rd_kafka_conf_properties_show(fp);
        fclose(fp);
        if (!text)
                return;

        for (line = text; line && *line; line = next) {
                char *bar1, *bar2, *bar3, *name, *scope, *range;

                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                if (!(bar1 = strchr(line, '|')) ||
                    !(bar2 = strchr(bar1 + 1, '|')) ||
                    !(bar3 = strchr(bar2 + 1, '|')))
                        continue;
                name = brook__trim(line, bar1);
                scope = brook__trim(bar1 + 1, bar2);
                range = brook__trim(bar2 + 1, bar3);
                /* Skips the header ("C/P") and separator lines. */
                if (!*name || strlen(scope) != 1 || !strchr("*CP", scope[0]))
                        continue;
                if (brook__rkprop_cnt == cap) {
                        cap = cap ? cap * 2 : 256;
                        brook__rkprops = brook__xrealloc(
                                brook__rkprops, cap * sizeof *brook__rkprops);
                }
                brook__rkprops[brook__rkprop_cnt].name = brook__xstrdup(name);
                brook__rkprops[brook__rkprop_cnt].scope = scope[0];
                brook__rkprops[brook__rkprop_cnt].range = brook__xstrdup(range);
                brook__rkprop_cnt++;
        }
        free(text);
}

/* The next entry of librdkafka's table named @p name at or after *@p from,
 * or NULL; a name may be both a global and a topic property. */
static const brook__rkprop_t *brook__rkprop_find(const char *name, size_t *from)
{
        pthread_once(&brook__rkprops_once, brook__rkprops_load);
        for (; *from < brook__rkprop_cnt; (*from)++)
                if (!strcmp(brook__rkprops[*from].name, name))
                        return &brook__rkprops[(*from)++];
        return NULL;
}

/* Whether librdkafka property @p rkname applies to @p client. Properties
 * are given only to the clients they are meant for, so that an unprefixed
 * consumer property (say auto.offset.reset) does not make every producer
 * log that it ignores it. The admin client takes only properties common to
 * all clients, as Kafka Streams' admin client takes only admin configs. */
bool brook__rkprop_applies(const char *rkname, brook__client_t client)
{
        const brook__rkprop_t *p;
        size_t from = 0;
        bool known = false;

        while ((p = brook__rkprop_find(rkname, &from))) {
                known = true;
                if (p->scope == '*' ||
                    (p->scope == 'C' && client == BROOK__CLIENT_CONSUMER) ||
                    (p->scope == 'P' && client == BROOK__CLIENT_PRODUCER))
                        return true;
        }
        return !known;
}

static const char *brook__rkprop_range(const char *rkname)
{
        const brook__rkprop_t *p;
        size_t from = 0;

        while ((p = brook__rkprop_find(rkname, &from)))
                if (*p->range)
                        return p->range;
        return NULL;
}

/* Checks @p value for librdkafka property @p rkname on a scratch conf, so
 * that a mistake is reported by brook_conf_set() rather than when the app
 * starts. @p name is the property as the user wrote it. */
static brook_err_t brook__rkprop_check_value(const char *name,
                                             const char *rkname,
                                             const char *value, char *errstr,
                                             size_t errstr_size)
{
        char rkerr[512] = "";
        rd_kafka_conf_t *rkconf = rd_kafka_conf_new();
        rd_kafka_conf_res_t res =
                rd_kafka_conf_set(rkconf, rkname, value, rkerr, sizeof rkerr);
        const char *range;

        rd_kafka_conf_destroy(rkconf);
        switch (res) {
        case RD_KAFKA_CONF_OK:
                return BROOK_OK;
        case RD_KAFKA_CONF_UNKNOWN:
                if (name == rkname)
                        brook__seterr(errstr, errstr_size,
                                      "Unknown configuration property "
                                      "\"%s\": neither brook nor librdkafka "
                                      "has it (librdkafka properties may "
                                      "also be set for one client with a "
                                      "\"consumer.\", \"producer.\" or "
                                      "\"admin.\" prefix)",
                                      name);
                else
                        brook__seterr(errstr, errstr_size,
                                      "Unknown configuration property "
                                      "\"%s\": librdkafka has no property "
                                      "\"%s\"",
                                      name, rkname);
                return BROOK_ERR_CONF_UNKNOWN;
        default:
                range = brook__rkprop_range(rkname);
                brook__seterr(errstr, errstr_size,
                              "Invalid value \"%s\" for configuration "
                              "property \"%s\": %s%s%s%s",
                              value, name, rkerr,
                              range ? " (librdkafka accepts " : "",
                              range ? range : "", range ? ")" : "");
                return BROOK_ERR_CONF_INVALID;
        }
}

static brook_err_t brook__rkprop_check_reserved(const char *name,
                                                const char *rkname,
                                                char *errstr,
                                                size_t errstr_size)
{
        size_t i;

        for (i = 0; i < sizeof brook__rkprop_reserved /
                                sizeof brook__rkprop_reserved[0];
             i++) {
                if (strcmp(brook__rkprop_reserved[i].name, rkname))
                        continue;
                brook__seterr(errstr, errstr_size,
                              "Configuration property \"%s\" cannot be set: "
                              "brook sets %s itself (%s)",
                              name, rkname, brook__rkprop_reserved[i].why);
                return BROOK_ERR_CONF_INVALID;
        }
        return BROOK_OK;
}

brook_err_t brook__rkprop_check(const char *name, const char *rkname,
                                const char *value, char *errstr,
                                size_t errstr_size)
{
        brook_err_t err =
                brook__rkprop_check_reserved(name, rkname, errstr, errstr_size);
        if (err)
                return err;
        return brook__rkprop_check_value(name, rkname, value, errstr,
                                         errstr_size);
}
