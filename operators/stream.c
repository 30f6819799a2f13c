/*
 * brook — stream sources, naming, merge, custom processors, sinks and
 * repartitioning (the parts of Kafka Streams' KStreamImpl that add sources
 * and sinks or join streams).
 *
 * Everything here goes through the Processor API: brook_builder_add_*()
 * to make nodes and brook_ctx_*() to move records.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "dsl_int.h"

/* The handle and its node name are one allocation, because the builder
 * frees every handle it keeps with a single free(). */
brook_stream_t *brook__stream_new(brook_builder_t *b, const char *node,
                                  const brook_serde_t *key_serde,
                                  const brook_serde_t *value_serde,
                                  bool key_changed)
{
        size_t len = strlen(node) + 1;
        brook_stream_t *s = brook__xmalloc(sizeof *s + len);

        s->b = b;
        s->node = memcpy((char *)(s + 1), node, len);
        s->key_serde = key_serde;
        s->value_serde = value_serde;
        s->key_changed = key_changed;
        s->join_rp = NULL;
        brook__builder_keep(b, s);
        return s;
}

/* Merge does not change records, so it forwards the input itself. */
brook_err_t brook__passthrough_process(brook_ctx_t *ctx, brook_record_t *rec,
                                       void *state, char *errstr,
                                       size_t errstr_size)
{
        (void)state;
        return brook_ctx_forward(ctx, rec, errstr, errstr_size);
}

/* ---------------------------------------------------------------- sources */

static brook_stream_t *source_new(brook_builder_t *b, const char *const *topics,
                                  size_t topic_cnt, const char *pattern,
                                  const brook_consumed_t *consumed)
{
        char *gen = NULL;
        const char *name;
        brook_stream_t *s = NULL;

        /* A name given still takes a number, as in Kafka Streams
         * (NamedInternal.orElseGenerateWithPrefix()), so that generated
         * names after it are the same as there. */
        gen = brook__builder_new_name(b, "KSTREAM-SOURCE");
        name = consumed && consumed->name ? consumed->name : gen;
        if (brook_builder_add_source(b, name, topics, topic_cnt, pattern,
                                     consumed, NULL, 0) == BROOK_OK)
                s = brook__stream_new(
                        b, name, consumed ? consumed->key_serde : NULL,
                        consumed ? consumed->value_serde : NULL, false);
        free(gen);
        return s;
}

brook_stream_t *brook_stream(brook_builder_t *b, const char *topic,
                             const brook_consumed_t *consumed)
{
        if (!b)
                return NULL;
        if (!topic || !*topic) {
                brook__builder_fail(b, NULL, 0, "brook_stream: topic is NULL");
                return NULL;
        }
        return source_new(b, &topic, 1, NULL, consumed);
}

brook_stream_t *brook_stream_topics(brook_builder_t *b,
                                    const char *const *topics, size_t topic_cnt,
                                    const brook_consumed_t *consumed)
{
        if (!b)
                return NULL;
        if (!topics || topic_cnt == 0) {
                brook__builder_fail(b, NULL, 0,
                                    "brook_stream_topics: no topics given");
                return NULL;
        }
        return source_new(b, topics, topic_cnt, NULL, consumed);
}

brook_stream_t *brook_stream_pattern(brook_builder_t *b, const char *pattern,
                                     const brook_consumed_t *consumed)
{
        if (!b)
                return NULL;
        if (!pattern) {
                brook__builder_fail(b, NULL, 0,
                                    "brook_stream_pattern: pattern is NULL");
                return NULL;
        }
        return source_new(b, NULL, 0, pattern, consumed);
}

/* ----------------------------------------------------------------- naming */

brook_stream_t *brook_stream_as(brook_stream_t *s, const char *name)
{
        brook__node_t *node;
        char *copy;

        if (!s)
                return NULL;
        if (!name || !*name) {
                brook__builder_fail(s->b, NULL, 0,
                                    "brook_stream_as: name is NULL");
                return NULL;
        }
        if (!strcmp(name, s->node))
                return s;
        node = brook__builder_node(s->b, s->node);
        if (!node) {
                brook__builder_fail(s->b, NULL, 0,
                                    "brook_stream_as: node \"%s\" is gone",
                                    s->node);
                return NULL;
        }
        if (brook__builder_node(s->b, name)) {
                brook__builder_fail(s->b, NULL, 0,
                                    "brook_stream_as: node name \"%s\" is "
                                    "already used",
                                    name);
                return NULL;
        }
        if (node->child_cnt) {
                brook__builder_fail(s->b, NULL, 0,
                                    "brook_stream_as: node \"%s\" already has "
                                    "children; name it before attaching "
                                    "operators",
                                    s->node);
                return NULL;
        }
        free(node->name);
        node->name = brook__xstrdup(name);
        /* The handle's own name shares its allocation and may be too short,
         * so the new name is a separate string the builder frees. Updating
         * the handle in place matters: a split keeps branch handles and
         * forwards by their current name. */
        copy = brook__xstrdup(name);
        brook__builder_keep(s->b, copy);
        s->node = copy;
        return s;
}

/* ------------------------------------------------------------------ merge */

brook_stream_t *brook_stream_merge(brook_stream_t *a, brook_stream_t *b)
{
        brook_processor_def_t def = {.process = brook__passthrough_process};
        const char *parents[2];
        brook_stream_t *s = NULL;
        char *name;

        if (!a || !b)
                return NULL;
        if (a->b != b->b) {
                brook__builder_fail(a->b, NULL, 0,
                                    "brook_stream_merge: the streams come "
                                    "from different builders");
                brook__builder_fail(b->b, NULL, 0,
                                    "brook_stream_merge: the streams come "
                                    "from different builders");
                return NULL;
        }
        parents[0] = a->node;
        parents[1] = b->node;
        name = brook__builder_new_name(a->b, "KSTREAM-MERGE");
        if (brook_builder_add_processor(a->b, name, &def, parents, 2, NULL,
                                        0) == BROOK_OK)
                s = brook__stream_new(
                        a->b, name,
                        a->key_serde == b->key_serde ? a->key_serde : NULL,
                        a->value_serde == b->value_serde ? a->value_serde
                                                         : NULL,
                        a->key_changed || b->key_changed);
        free(name);
        return s;
}

/* -------------------------------------------------------------- processor */

brook_stream_t *brook_stream_process(brook_stream_t *s,
                                     const brook_processor_def_t *def,
                                     const char *name)
{
        brook_stream_t *out = NULL;
        char *gen = NULL;

        /* The opaque is ours from here on, as with
         * brook_builder_add_processor(), so the caller never frees it. */
        if (!s) {
                if (def && def->opaque_destroy)
                        def->opaque_destroy(def->opaque);
                return NULL;
        }
        if (!def) {
                brook__builder_fail(s->b, NULL, 0,
                                    "brook_stream_process: def is NULL");
                return NULL;
        }
        /* A given name takes a number too, as in Kafka Streams. */
        gen = brook__builder_new_name(s->b, "KSTREAM-PROCESSOR");
        if (!name)
                name = gen;
        /* A custom processor may change anything, so nothing is known about
         * its output, as in Kafka Streams' process(). */
        if (brook_builder_add_processor(s->b, name, def,
                                        (const char *const *)&s->node, 1, NULL,
                                        0) == BROOK_OK)
                out = brook__stream_new(s->b, name, NULL, NULL, true);
        free(gen);
        return out;
}

/* ------------------------------------------------------------------ sinks */

static void sink_add(brook_stream_t *s, const char *topic,
                     brook_topic_chooser_fn chooser, void *chooser_opaque,
                     const brook_produced_t *produced)
{
        brook_produced_t p = {0};
        char *gen = NULL;
        const char *name;

        if (produced)
                p = *produced;
        /* What the stream knows beats the engine's defaults, as Kafka
         * Streams' to() fills Produced from the stream's serdes. */
        if (!p.key_serde)
                p.key_serde = s->key_serde;
        if (!p.value_serde)
                p.value_serde = s->value_serde;
        /* A given name takes a number too, as in Kafka Streams. */
        gen = brook__builder_new_name(s->b, "KSTREAM-SINK");
        name = p.name ? p.name : gen;
        brook_builder_add_sink(s->b, name, topic, chooser, chooser_opaque, &p,
                               (const char *const *)&s->node, 1, NULL, 0);
        free(gen);
}

void brook_stream_to(brook_stream_t *s, const char *topic,
                     const brook_produced_t *produced)
{
        if (!s)
                return;
        if (!topic || !*topic) {
                brook__builder_fail(s->b, NULL, 0,
                                    "brook_stream_to: topic is NULL");
                return;
        }
        sink_add(s, topic, NULL, NULL, produced);
}

void brook_stream_to_chooser(brook_stream_t *s, brook_topic_chooser_fn chooser,
                             void *opaque, const brook_produced_t *produced)
{
        if (!s)
                return;
        if (!chooser) {
                brook__builder_fail(s->b, NULL, 0,
                                    "brook_stream_to_chooser: chooser is "
                                    "NULL");
                return;
        }
        sink_add(s, NULL, chooser, opaque, produced);
}

/* ------------------------------------------------------------ repartition */

/* Drops null keys before the repartition topic: a null key has no
 * partition to go to (Kafka Streams' null-key filter, which drops them
 * silently; brook counts and logs them as every drop). */
/* The filter before a repartition topic: null keys are dropped unless a
 * left or outer join below takes them (decided when the topology is built;
 * a null key then goes to a partition of the producer's choosing). */
static brook_err_t repartition_filter_process(brook_ctx_t *ctx,
                                              brook_record_t *rec, void *state,
                                              char *errstr, size_t errstr_size)
{
        (void)state;
        if (!brook_record_key(rec) && !ctx->node->keep_null_keys) {
                brook__ctx_drop(ctx, rec, BROOK_DROP_NULL_KEY,
                                "null key before a repartition topic");
                return BROOK_OK;
        }
        return brook_ctx_forward(ctx, rec, errstr, errstr_size);
}

/* Whether @p name is one Kafka Streams treats as generated: the whole name
 * matches "KSTREAM.*-[0-9]{10}". */
static bool name_is_generated(const char *name)
{
        size_t len = strlen(name), i;

        if (strncmp(name, "KSTREAM", 7) || len < 7 + 11)
                return false;
        if (name[len - 11] != '-')
                return false;
        for (i = len - 10; i < len; i++)
                if (!isdigit((unsigned char)name[i]))
                        return false;
        return true;
}

static char *concat(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        char *s = brook__xmalloc(la + lb + 1);

        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
        return s;
}

brook_stream_t *
brook_stream_repartition(brook_stream_t *s,
                         const brook_repartitioned_t *repartitioned)
{
        return brook__stream_repartition(s, repartitioned);
}

brook_stream_t *
brook__stream_repartition(brook_stream_t *s,
                          const brook_repartitioned_t *repartitioned)
{
        brook_repartitioned_t r = {0};
        brook_processor_def_t def = {.process = repartition_filter_process};
        brook_produced_t produced = {0};
        brook_consumed_t consumed = {0};
        brook_builder_t *b;
        brook__node_t *node;
        brook_stream_t *out = NULL;
        char *gen_name = NULL, *topic, *sink, *filter, *source;
        char *gen_sink, *gen_filter, *gen_source;
        const char *name;
        const char *suffix;
        char why[256];

        if (!s)
                return NULL;
        b = s->b;
        if (repartitioned &&
            !brook__version_ok(repartitioned->version,
                               BROOK_REPARTITIONED_VERSION,
                               "brook_repartitioned_t", why, sizeof why)) {
                brook__builder_fail(b, NULL, 0, "brook_stream_repartition: %s",
                                    why);
                return NULL;
        }
        if (repartitioned)
                r = *repartitioned;
        if (r.num_partitions < 0) {
                brook__builder_fail(b, NULL, 0,
                                    "brook_stream_repartition: num_partitions "
                                    "is %d, must be >= 0 (0: inherit)",
                                    (int)r.num_partitions);
                return NULL;
        }
        if (r.name && !*r.name) {
                brook__builder_fail(b, NULL, 0,
                                    "brook_stream_repartition: name is empty");
                return NULL;
        }
        name = r.name ? r.name
                      : (gen_name = brook__builder_new_name(
                                 b, "KSTREAM-REPARTITION"));
        topic = concat(name, "-repartition");

        /* Kafka Streams always burns three numbers here, and keeps the
         * generated node names when the topic name is itself generated, so
         * later generated names stay the same as in a Kafka Streams
         * topology of the same shape. */
        gen_sink = brook__builder_new_name(b, "KSTREAM-SINK");
        gen_filter = brook__builder_new_name(b, "KSTREAM-FILTER");
        gen_source = brook__builder_new_name(b, "KSTREAM-SOURCE");
        if (name_is_generated(name)) {
                sink = gen_sink;
                filter = gen_filter;
                source = gen_source;
                gen_sink = gen_filter = gen_source = NULL;
        } else {
                sink = concat(topic, "-sink");
                filter = concat(topic, "-filter");
                source = concat(topic, "-source");
        }

        produced.key_serde = r.key_serde ? r.key_serde : s->key_serde;
        produced.value_serde = r.value_serde ? r.value_serde : s->value_serde;
        produced.partitioner = r.partitioner;
        produced.partitioner_opaque = r.partitioner_opaque;
        consumed.key_serde = produced.key_serde;
        consumed.value_serde = produced.value_serde;
        /* As Kafka Streams' repartition source: its records carry the
         * timestamps this task gave them, never invalid ones. */
        consumed.version = BROOK_CONSUMED_VERSION;
        consumed.invalid_timestamp = BROOK_INVALID_TIMESTAMP_FAIL;
        suffix = topic;

        if (brook_builder_add_processor(
                    b, filter, &def, (const char *const *)&s->node, 1, NULL, 0))
                goto done;
        brook__builder_node(b, filter)->null_key_filter = true;
        if (brook_builder_add_sink(b, sink, topic, NULL, NULL, &produced,
                                   (const char *const *)&filter, 1, NULL, 0))
                goto done;
        /* The engine prefixes internal topics with application.id when the
         * topology is built, so the nodes hold the suffix only. */
        node = brook__builder_node(b, sink);
        node->sink_internal = true;
        node->repartition_num_partitions = r.num_partitions;
        if (brook_builder_add_source(b, source, &suffix, 1, NULL, &consumed,
                                     NULL, 0))
                goto done;
        node = brook__builder_node(b, source);
        node->internal = true;
        /* Kafka Streams' repartition() hands on the repartitioned serdes
         * and, since the data is now partitioned by its key, no longer
         * requires repartitioning. */
        out = brook__stream_new(b, source, produced.key_serde,
                                produced.value_serde, false);
done:
        free(gen_name);
        free(topic);
        free(sink);
        free(filter);
        free(source);
        free(gen_sink);
        free(gen_filter);
        free(gen_source);
        return out;
}

char *brook__dsl_name(brook_builder_t *b, const char *name, const char *suffix,
                      const char *prefix)
{
        char *gen = brook__builder_new_name(b, prefix), *s;
        size_t nl, sl;

        if (!name)
                return gen;
        free(gen);
        nl = strlen(name);
        sl = strlen(suffix);
        s = brook__xmalloc(nl + sl + 1);
        memcpy(s, name, nl);
        memcpy(s + nl, suffix, sl + 1);
        return s;
}

brook_stream_t *
brook__stream_repartition_for_join(brook_stream_t *s, const char *name,
                                   const brook_serde_t *key_serde,
                                   const brook_serde_t *value_serde)
{
        brook_repartitioned_t r = {.name = name ? name : s->node,
                                   .key_serde = key_serde,
                                   .value_serde = value_serde,
                                   .version = BROOK_REPARTITIONED_VERSION};
        brook_stream_t *out;

        /* Kafka Streams' repartitionForJoin(): a join named after the
         * stream reuses the stream's last repartition (its topic and
         * nodes), though the names it would have had still take their
         * numbers. */
        if (s->join_rp && !strcmp(r.name, s->node)) {
                free(brook__builder_new_name(s->b, "KSTREAM-SINK"));
                free(brook__builder_new_name(s->b, "KSTREAM-FILTER"));
                free(brook__builder_new_name(s->b, "KSTREAM-SOURCE"));
                return s->join_rp;
        }
        out = brook__stream_repartition(s, &r);
        if (out)
                s->join_rp = out;
        return out;
}
