/*
 * Fuzz target: configuration properties and values (engine/conf.c,
 * engine/conf_rdkafka.c), as a properties file or a command line would
 * pass them.
 *
 * Input: lines; "name=value" (split at the first '=') sets a property, a
 * line without '=' only reads one. After the lines, every property named
 * is read from the conf and from a copy of it, the typed internal getters
 * run over every owned property, and the conf is applied to a consumer, a
 * producer and an admin librdkafka conf. The invariants checked are what
 * conf.h promises:
 *   - set returns OK, UNKNOWN or INVALID, with a message on error;
 *   - a failed set leaves the property's value as it was, and the conf
 *     remembers the first error;
 *   - a successful set makes get return a value (the value itself for
 *     pass-through properties), and setting that value again is accepted
 *     and changes nothing (the stored form is canonical);
 *   - brook_conf_dup() copies every value and the remembered error;
 *   - what set accepted, applying to librdkafka accepts too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"

/* Enough lines and bytes for any interplay of properties; more would only
 * slow each run down. */
#define MAX_LINES 64
#define MAX_LINE  512

static const char *const int_props[] = {
        "num.stream.threads",
        "commit.interval.ms",
        "replication.factor",
        "errors.deadletterqueue.topic.partitions",
        "poll.ms",
        "buffered.records.per.partition",
        "shutdown.timeout.ms",
        "statestore.cache.max.bytes",
        "rocksdb.memory.bytes",
        "max.task.idle.ms",
};
static const char *const handler_props[] = {
        "default.deserialization.exception.handler",
        "default.processing.exception.handler",
        "default.production.exception.handler",
};
static const char *const serde_props[] = {
        "default.key.serde",
        "default.value.serde",
};

static bool same(const char *a, const char *b)
{
        return (!a && !b) || (a && b && !strcmp(a, b));
}

static char *dup_null(const char *s)
{
        return s ? brook__xstrdup(s) : NULL;
}

/* Whether brook owns @p name (else it passes through to librdkafka). */
static bool is_owned(const char *name)
{
        static const char *const strs[] = {
                "application.id",
                "bootstrap.servers",
                "processing.guarantee",
                "state.dir",
                "client.id",
                "errors.deadletterqueue.topic.name",
        };
        size_t i;

        for (i = 0; i < sizeof strs / sizeof strs[0]; i++)
                if (!strcmp(strs[i], name))
                        return true;
        for (i = 0; i < sizeof int_props / sizeof int_props[0]; i++)
                if (!strcmp(int_props[i], name))
                        return true;
        for (i = 0; i < sizeof handler_props / sizeof handler_props[0]; i++)
                if (!strcmp(handler_props[i], name))
                        return true;
        for (i = 0; i < sizeof serde_props / sizeof serde_props[0]; i++)
                if (!strcmp(serde_props[i], name))
                        return true;
        return false;
}

static void set_one(brook_conf_t *conf, const char *name, const char *value,
                    const char **first_err)
{
        char errstr[512], errstr2[512];
        char *before = dup_null(brook_conf_get(conf, name));
        brook_err_t err;
        const char *got;

        memset(errstr, 'x', sizeof errstr);
        err = brook_conf_set(conf, name, value, errstr, sizeof errstr);
        CHECK(err == BROOK_OK || err == BROOK_ERR_CONF_UNKNOWN ||
              err == BROOK_ERR_CONF_INVALID);
        got = brook_conf_get(conf, name);
        if (err) {
                CHECK(memchr(errstr, '\0', sizeof errstr));
                CHECK(errstr[0]);
                CHECK(same(before, got));
                CHECK(brook__conf_error(conf));
                if (!*first_err)
                        *first_err = brook__conf_error(conf);
                CHECK(brook__conf_error(conf) == *first_err);
        } else {
                char *canon;
                CHECK(got);
                if (!is_owned(name))
                        CHECK(!strcmp(got, value));
                /* The stored form reads back as itself. */
                canon = brook__xstrdup(got);
                CHECK(brook_conf_set(conf, name, canon, errstr2,
                                     sizeof errstr2) == BROOK_OK);
                CHECK(!strcmp(brook_conf_get(conf, name), canon));
                free(canon);
        }
        free(before);
}

static void check_getters(const brook_conf_t *conf)
{
        size_t i;
        for (i = 0; i < sizeof int_props / sizeof int_props[0]; i++)
                (void)brook__conf_int(conf, int_props[i]);
        for (i = 0; i < sizeof handler_props / sizeof handler_props[0]; i++)
                (void)brook__conf_handler(conf, handler_props[i]);
        for (i = 0; i < sizeof serde_props / sizeof serde_props[0]; i++) {
                /* A serde property reads back as a name of a serde. */
                const char *v = brook_conf_get(conf, serde_props[i]);
                CHECK(!v || brook__conf_serde(conf, serde_props[i]));
        }
        (void)brook__conf_guarantee(conf);
}

static void check_apply(const brook_conf_t *conf)
{
        static const char *const clients[] = {"consumer", "producer", "admin"};
        char errstr[512];
        size_t i;

        for (i = 0; i < 3; i++) {
                rd_kafka_conf_t *rkconf = rd_kafka_conf_new();
                brook_err_t err = brook__conf_apply_rdkafka(
                        conf, clients[i], rkconf, errstr, sizeof errstr);
                if (err)
                        fprintf(stderr, "apply to %s: %s\n", clients[i],
                                errstr);
                CHECK(err == BROOK_OK);
                rd_kafka_conf_destroy(rkconf);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        brook_conf_t *conf = brook_conf_new(), *dup;
        char *names[MAX_LINES];
        size_t n = 0, i, pos = 0;
        const char *first_err = NULL;

        while (pos < size && n < MAX_LINES) {
                const uint8_t *nl = memchr(data + pos, '\n', size - pos);
                size_t len = nl ? (size_t)(nl - (data + pos)) : size - pos;
                char line[MAX_LINE + 1], *eq;

                /* Embedded NUL bytes end the C strings early, as they
                 * would for any caller. */
                memcpy(line, data + pos, len > MAX_LINE ? MAX_LINE : len);
                line[len > MAX_LINE ? MAX_LINE : len] = '\0';
                pos += len + 1;
                if ((eq = strchr(line, '=')))
                        *eq = '\0';
                /* librdkafka loads plugin libraries as soon as this is
                 * set, even on brook's scratch conf; a fuzzer must not
                 * dlopen() what it makes up. */
                if (strstr(line, "plugin.library.paths"))
                        continue;
                names[n++] = brook__xstrdup(line);
                if (eq)
                        set_one(conf, line, eq + 1, &first_err);
                else
                        (void)brook_conf_get(conf, line);
        }

        dup = brook_conf_dup(conf);
        CHECK(same(brook__conf_error(conf), brook__conf_error(dup)));
        for (i = 0; i < n; i++)
                CHECK(same(brook_conf_get(conf, names[i]),
                           brook_conf_get(dup, names[i])));
        check_getters(conf);
        check_getters(dup);
        check_apply(dup);

        for (i = 0; i < n; i++)
                free(names[i]);
        brook_conf_destroy(dup);
        brook_conf_destroy(conf);
        return 0;
}
