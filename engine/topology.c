/*
 * brook — the topology builder (Kafka Streams' Topology /
 * InternalTopologyBuilder): named nodes, their wiring, sub-topologies, and
 * the description Kafka Streams users know.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brook_int.h"
#include "store_int.h"

brook_builder_t *brook_builder_new(void)
{
        return brook__xcalloc(1, sizeof(brook_builder_t));
}

static void brook__node_free(brook__node_t *node)
{
        size_t i;
        free(node->name);
        free(node->parents);
        free(node->children);
        free(node->prefetch_nodes);
        for (i = 0; i < node->topic_cnt; i++)
                free(node->topics[i]);
        free(node->topics);
        if (node->pattern) {
                regfree(&node->regex);
                free(node->pattern);
        }
        brook__serde_unref(node->key_serde);
        brook__serde_unref(node->value_serde);
        if (node->def.opaque_destroy)
                node->def.opaque_destroy(node->def.opaque);
        free(node->topic);
        free(node->ts_field);
        free(node);
}

void brook_builder_destroy(brook_builder_t *b)
{
        size_t i;
        if (!b)
                return;
        for (i = 0; i < b->nodes.cnt; i++)
                brook__node_free(b->nodes.v[i]);
        brook__ptrvec_free(&b->nodes);
        for (i = 0; i < b->stores.cnt; i++)
                brook__storedef_free(b->stores.v[i]);
        brook__ptrvec_free(&b->stores);
        for (i = 0; i < b->handles.cnt; i++)
                free(b->handles.v[i]);
        brook__ptrvec_free(&b->handles);
        for (i = 0; i < b->serdes.cnt; i++)
                brook__serde_unref(b->serdes.v[i]);
        brook__ptrvec_free(&b->serdes);
        free(b->error);
        free(b);
}

const char *brook_builder_error(const brook_builder_t *b)
{
        return b->error;
}

void brook__builder_fail(brook_builder_t *b, char *errstr, size_t errstr_size,
                         const char *fmt, ...)
{
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (!b->error)
                b->error = brook__xstrdup(msg);
        brook__seterr(errstr, errstr_size, "%s", msg);
}

char *brook__builder_new_name(brook_builder_t *b, const char *prefix)
{
        char *name = brook__xmalloc(strlen(prefix) + 16);
        sprintf(name, "%s-%010d", prefix, b->next_index++);
        return name;
}

brook__node_t *brook__builder_node(const brook_builder_t *b, const char *name)
{
        size_t i;
        for (i = 0; i < b->nodes.cnt; i++) {
                brook__node_t *node = b->nodes.v[i];
                if (!strcmp(node->name, name))
                        return node;
        }
        return NULL;
}

void brook__builder_keep(brook_builder_t *b, void *handle)
{
        brook__ptrvec_push(&b->handles, handle);
}

const brook_serde_t *brook__builder_keep_serde(brook_builder_t *b,
                                               brook_serde_t *serde)
{
        if (serde)
                brook__ptrvec_push(&b->serdes, serde);
        return serde;
}

/* ---------------------------------------------------------------- stores */

void brook__storedef_free(brook__storedef_t *def)
{
        if (!def)
                return;
        free(def->name);
        brook__serde_unref(def->key_serde);
        brook__serde_unref(def->value_serde);
        free(def->procs);
        free(def);
}

brook__storedef_t *brook__builder_store(const brook_builder_t *b,
                                        const char *name)
{
        size_t i;
        for (i = 0; i < b->stores.cnt; i++) {
                brook__storedef_t *def = b->stores.v[i];
                if (!strcmp(def->name, name))
                        return def;
        }
        return NULL;
}

/* Store names become topic names ("<app>-<store>-changelog"). */
static bool brook__store_name_ok(const char *name)
{
        size_t i, n = strlen(name);
        if (n == 0 || n > 200)
                return false;
        for (i = 0; i < n; i++)
                if (!isalnum((unsigned char)name[i]) && name[i] != '.' &&
                    name[i] != '_' && name[i] != '-')
                        return false;
        return true;
}

brook_err_t brook_builder_connect_store(brook_builder_t *b,
                                        const char *processor,
                                        const char *store, char *errstr,
                                        size_t errstr_size)
{
        brook__storedef_t *def;
        brook__node_t *node;
        size_t i;

        if (!b || !processor || !store) {
                if (b)
                        brook__builder_fail(b, errstr, errstr_size,
                                            "brook_builder_connect_store: "
                                            "processor or store is NULL");
                return BROOK_ERR_INVALID_ARG;
        }
        if (!(def = brook__builder_store(b, store))) {
                brook__builder_fail(b, errstr, errstr_size,
                                    "store \"%s\" does not exist", store);
                return BROOK_ERR_NOT_FOUND;
        }
        node = brook__builder_node(b, processor);
        if (!node || node->kind != BROOK__NODE_PROCESSOR) {
                brook__builder_fail(b, errstr, errstr_size,
                                    "store \"%s\": \"%s\" is not a "
                                    "processor of the topology",
                                    store, processor);
                return BROOK_ERR_NOT_FOUND;
        }
        for (i = 0; i < def->proc_cnt; i++)
                if (def->procs[i] == node->idx)
                        return BROOK_OK;
        def->procs = brook__xrealloc(def->procs,
                                     (def->proc_cnt + 1) * sizeof *def->procs);
        def->procs[def->proc_cnt++] = node->idx;
        return BROOK_OK;
}

/* Adds a store of @p kind; @p w holds the times of window and session
 * stores (NULL for key-value stores). */
static brook_err_t brook__builder_add_store(brook_builder_t *b,
                                            const brook_materialized_t *m,
                                            brook__storekind_t kind,
                                            const brook_window_store_opts_t *w,
                                            const char *const *processors,
                                            size_t processor_cnt, char *errstr,
                                            size_t errstr_size)
{
        brook__storedef_t *def;
        size_t i;
        brook_err_t err;
        char why[256];

        if (!b)
                return BROOK_ERR_INVALID_ARG;
        if (!m || !m->name) {
                brook__builder_fail(b, errstr, errstr_size,
                                    "brook_builder_add_store: a store name "
                                    "is required");
                return BROOK_ERR_INVALID_ARG;
        }
        if (!brook__version_ok(m->version, BROOK_MATERIALIZED_VERSION,
                               "brook_materialized_t", why, sizeof why) ||
            (m->supplier &&
             !brook__version_ok(m->supplier->version,
                                BROOK_KVSTORE_SUPPLIER_VERSION,
                                "brook_kvstore_supplier_t", why, sizeof why))) {
                brook__builder_fail(b, errstr, errstr_size, "store \"%s\": %s",
                                    m->name, why);
                return BROOK_ERR_INVALID_ARG;
        }
        if (!brook__store_name_ok(m->name)) {
                brook__builder_fail(b, errstr, errstr_size,
                                    "store name \"%s\" is not valid: use 1 to "
                                    "200 characters from a-z, A-Z, 0-9, '.', "
                                    "'_' and '-' (it names a changelog topic)",
                                    m->name);
                return BROOK_ERR_INVALID_ARG;
        }
        if (brook__builder_store(b, m->name)) {
                brook__builder_fail(b, errstr, errstr_size,
                                    "store name \"%s\" is used twice: every "
                                    "store needs its own name",
                                    m->name);
                return BROOK_ERR_TOPOLOGY;
        }
        if (w &&
            !brook__version_ok(w->version, BROOK_WINDOW_STORE_OPTS_VERSION,
                               "brook_window_store_opts_t", why, sizeof why)) {
                brook__builder_fail(b, errstr, errstr_size, "store \"%s\": %s",
                                    m->name, why);
                return BROOK_ERR_INVALID_ARG;
        }
        /* A versioned store is a key-value store; a window or session
         * store cannot be one. */
        if (kind != BROOK__STORE_VERSIONED && kind != BROOK__STORE_KV &&
            brook__materialized_versioned(m)) {
                brook__builder_fail(b, errstr, errstr_size,
                                    "store \"%s\": a %s store cannot be "
                                    "versioned (brook_materialized_t."
                                    "versioned)",
                                    m->name,
                                    kind == BROOK__STORE_WINDOW ? "window"
                                                                : "session");
                return BROOK_ERR_INVALID_ARG;
        }
        if (kind == BROOK__STORE_VERSIONED &&
            (m->history_retention_ms < 0 || m->segment_interval_ms < 0)) {
                /* Kafka Streams' Stores.persistentVersionedKeyValueStore()
                 * checks. */
                brook__builder_fail(
                        b, errstr, errstr_size,
                        "store \"%s\": %s is %" PRId64 ": it must be %s",
                        m->name,
                        m->history_retention_ms < 0 ? "history_retention_ms"
                                                    : "segment_interval_ms",
                        m->history_retention_ms < 0 ? m->history_retention_ms
                                                    : m->segment_interval_ms,
                        m->history_retention_ms < 0
                                ? "0 or more"
                                : "0 (the default) or positive");
                return BROOK_ERR_INVALID_ARG;
        }
        /* A join's buffer may keep nothing (a window of 0 with no grace),
         * as Kafka Streams' may. */
        if (w && (w->retention_ms < 0 ||
                  (w->retention_ms == 0 && !w->retain_duplicates))) {
                brook__builder_fail(b, errstr, errstr_size,
                                    "store \"%s\": retention_ms is %" PRId64
                                    ": it must be positive",
                                    m->name, w->retention_ms);
                return BROOK_ERR_INVALID_ARG;
        }
        if (w && w->segment_ms < 0) {
                brook__builder_fail(b, errstr, errstr_size,
                                    "store \"%s\": segment_ms is %" PRId64
                                    ": it must be 0 (the default) or positive",
                                    m->name, w->segment_ms);
                return BROOK_ERR_INVALID_ARG;
        }
        /* A join's buffer may have windows of size 0 (records of equal
         * timestamps join), as Kafka Streams' stores may. */
        if (kind == BROOK__STORE_WINDOW &&
            (w->window_size_ms < 0 ||
             (w->window_size_ms == 0 && !w->retain_duplicates))) {
                brook__builder_fail(b, errstr, errstr_size,
                                    "store \"%s\": window_size_ms is %" PRId64
                                    ": it must be positive",
                                    m->name, w->window_size_ms);
                return BROOK_ERR_INVALID_ARG;
        }
        if (kind == BROOK__STORE_WINDOW &&
            w->retention_ms < w->window_size_ms) {
                /* Kafka Streams' Stores.persistentWindowStore() check. */
                brook__builder_fail(b, errstr, errstr_size,
                                    "store \"%s\": the retention (%" PRId64
                                    " ms) cannot be smaller than the window "
                                    "size (%" PRId64 " ms)",
                                    m->name, w->retention_ms,
                                    w->window_size_ms);
                return BROOK_ERR_INVALID_ARG;
        }
        def = brook__xcalloc(1, sizeof *def);
        def->name = brook__xstrdup(m->name);
        def->kind = kind;
        if (w) {
                def->retention_ms = w->retention_ms;
                /* Kafka Streams' default segment interval. */
                def->segment_ms = w->segment_ms ? w->segment_ms
                                                : (w->retention_ms / 2 > 60000
                                                           ? w->retention_ms / 2
                                                           : 60000);
                if (kind == BROOK__STORE_WINDOW) {
                        def->window_ms = w->window_size_ms;
                        def->retain_duplicates = w->retain_duplicates;
                }
        }
        if (kind == BROOK__STORE_VERSIONED) {
                def->retention_ms = m->history_retention_ms;
                def->segment_ms = m->segment_interval_ms
                                          ? m->segment_interval_ms
                                          : brook__versioned_segment_ms(
                                                    m->history_retention_ms);
        }
        def->key_serde = brook__serde_ref(m->key_serde);
        def->value_serde = brook__serde_ref(m->value_serde);
        def->supplier = m->supplier ? *m->supplier : *brook_kvstore_rocksdb();
        def->logging = !m->logging_disabled;
        /* Versioned stores never cache, as in Kafka Streams. */
        def->caching = !m->caching_disabled && kind != BROOK__STORE_VERSIONED;
        def->subtopology = -1;
        brook__ptrvec_push(&b->stores, def);
        for (i = 0; i < processor_cnt; i++)
                if ((err = brook_builder_connect_store(
                             b, processors[i], m->name, errstr, errstr_size)))
                        return err;
        return BROOK_OK;
}

brook_err_t brook_builder_add_store(brook_builder_t *b,
                                    const brook_materialized_t *m,
                                    const char *const *processors,
                                    size_t processor_cnt, char *errstr,
                                    size_t errstr_size)
{
        return brook__builder_add_store(
                b, m,
                brook__materialized_versioned(m) ? BROOK__STORE_VERSIONED
                                                 : BROOK__STORE_KV,
                NULL, processors, processor_cnt, errstr, errstr_size);
}

bool brook__materialized_versioned(const brook_materialized_t *m)
{
        /* Members of version 3 exist only in structs of that version. */
        return m && m->version >= 3 &&
               m->version <= BROOK_MATERIALIZED_VERSION && m->versioned;
}

int64_t brook__versioned_segment_ms(int64_t history_ms)
{
        /* Kafka Streams' RocksDbVersionedKeyValueBytesStoreSupplier
         * .defaultSegmentInterval(). */
        if (history_ms <= 60000)
                return history_ms / 3 > 2000 ? history_ms / 3 : 2000;
        if (history_ms <= 300000)
                return history_ms / 5 > 20000 ? history_ms / 5 : 20000;
        if (history_ms <= 3600000)
                return history_ms / 12 > 60000 ? history_ms / 12 : 60000;
        return history_ms / 24 > 300000 ? history_ms / 24 : 300000;
}

brook_err_t brook_builder_add_window_store(brook_builder_t *b,
                                           const brook_materialized_t *m,
                                           const brook_window_store_opts_t *w,
                                           const char *const *processors,
                                           size_t processor_cnt, char *errstr,
                                           size_t errstr_size)
{
        static const brook_window_store_opts_t none;
        return brook__builder_add_store(b, m, BROOK__STORE_WINDOW,
                                        w ? w : &none, processors,
                                        processor_cnt, errstr, errstr_size);
}

brook_err_t brook_builder_add_session_store(brook_builder_t *b,
                                            const brook_materialized_t *m,
                                            const brook_window_store_opts_t *w,
                                            const char *const *processors,
                                            size_t processor_cnt, char *errstr,
                                            size_t errstr_size)
{
        static const brook_window_store_opts_t none;
        return brook__builder_add_store(b, m, BROOK__STORE_SESSION,
                                        w ? w : &none, processors,
                                        processor_cnt, errstr, errstr_size);
}

/* Places each store in the sub-topology of its processors and fills in
 * default serdes. */
static brook_err_t brook__stores_build(brook__topology_t *topo, bool with_conf,
                                       char *errstr, size_t errstr_size)
{
        const brook_builder_t *b = topo->b;
        size_t i, j;

        for (i = 0; i < b->stores.cnt; i++) {
                brook__storedef_t *def = b->stores.v[i];
                if (def->proc_cnt == 0) {
                        brook__seterr(errstr, errstr_size,
                                      "topology error: store \"%s\" is not "
                                      "connected to any processor",
                                      def->name);
                        return BROOK_ERR_TOPOLOGY;
                }
                def->subtopology = -1;
                for (j = 0; j < def->proc_cnt; j++) {
                        brook__node_t *n = b->nodes.v[def->procs[j]];
                        if (def->subtopology >= 0 &&
                            def->subtopology != n->subtopology) {
                                brook__seterr(
                                        errstr, errstr_size,
                                        "topology error: store \"%s\" is "
                                        "used by processors of two "
                                        "sub-topologies (%d and %d); a store "
                                        "belongs to one task",
                                        def->name, def->subtopology,
                                        n->subtopology);
                                return BROOK_ERR_TOPOLOGY;
                        }
                        def->subtopology = n->subtopology;
                }
                if (!with_conf)
                        continue;
                if (!def->key_serde && def->windowed_key_ms &&
                    topo->default_key_serde)
                        def->key_serde =
                                def->windowed_key_ms < 0
                                        ? brook_serde_session_windowed(
                                                  topo->default_key_serde, NULL,
                                                  0)
                                        : brook_serde_time_windowed(
                                                  topo->default_key_serde,
                                                  def->windowed_key_ms, NULL,
                                                  0);
                if (!def->key_serde)
                        def->key_serde =
                                brook__serde_ref(topo->default_key_serde);
                if (!def->value_serde)
                        def->value_serde =
                                brook__serde_ref(topo->default_value_serde);
                if (!def->key_serde || !def->value_serde) {
                        bool key = !def->key_serde;
                        brook__seterr(errstr, errstr_size,
                                      "topology error: store \"%s\" has no "
                                      "%s serde: give one in its "
                                      "brook_materialized_t or set %s",
                                      def->name, key ? "key" : "value",
                                      key ? "default.key.serde"
                                          : "default.value.serde");
                        return BROOK_ERR_TOPOLOGY;
                }
        }
        return BROOK_OK;
}

/* Checks the name is free and the parents exist; makes the node. */
static brook__node_t *brook__node_add(brook_builder_t *b, const char *name,
                                      brook__node_kind_t kind,
                                      const char *const *parents,
                                      size_t parent_cnt, const char *what,
                                      char *errstr, size_t errstr_size)
{
        brook__node_t *node;
        size_t i;

        if (!name || !*name) {
                brook__builder_fail(b, errstr, errstr_size,
                                    "%s: a node name is required", what);
                return NULL;
        }
        if (brook__builder_node(b, name)) {
                brook__builder_fail(b, errstr, errstr_size,
                                    "%s: node name \"%s\" is already used",
                                    what, name);
                return NULL;
        }
        if (kind != BROOK__NODE_SOURCE && parent_cnt == 0) {
                brook__builder_fail(b, errstr, errstr_size,
                                    "%s \"%s\": at least one parent is needed",
                                    what, name);
                return NULL;
        }
        for (i = 0; i < parent_cnt; i++) {
                brook__node_t *p = brook__builder_node(b, parents[i]);
                if (!p) {
                        brook__builder_fail(
                                b, errstr, errstr_size,
                                "%s \"%s\": parent \"%s\" does not exist", what,
                                name, parents[i]);
                        return NULL;
                }
                if (p->kind == BROOK__NODE_SINK) {
                        brook__builder_fail(
                                b, errstr, errstr_size,
                                "%s \"%s\": parent \"%s\" is a sink, and "
                                "sinks have no children",
                                what, name, parents[i]);
                        return NULL;
                }
        }

        node = brook__xcalloc(1, sizeof *node);
        node->name = brook__xstrdup(name);
        node->kind = kind;
        node->idx = (int)b->nodes.cnt;
        node->subtopology = -1;
        if (parent_cnt) {
                node->parents = brook__xmalloc(parent_cnt * sizeof(int));
                for (i = 0; i < parent_cnt; i++) {
                        brook__node_t *p = brook__builder_node(b, parents[i]);
                        node->parents[node->parent_cnt++] = p->idx;
                        p->children = brook__xrealloc(
                                p->children, (p->child_cnt + 1) * sizeof(int));
                        p->children[p->child_cnt++] = node->idx;
                }
        }
        brook__ptrvec_push(&b->nodes, node);
        return node;
}

/* A node name given both as an argument and in the options struct must be
 * the same name, else the call is ambiguous: fails @p b and returns true
 * when they differ. */
static bool brook__name_conflict(brook_builder_t *b, const char *name,
                                 const char *opt_name, const char *what,
                                 const char *strct, char *errstr,
                                 size_t errstr_size)
{
        if (!name || !opt_name || !strcmp(name, opt_name))
                return false;
        brook__builder_fail(b, errstr, errstr_size,
                            "%s \"%s\": %s.name is \"%s\"; give the node "
                            "name once, or the same name twice",
                            what, name, strct, opt_name);
        return true;
}

/* The source already reading @p topic, or NULL. */
static brook__node_t *brook__topic_owner(const brook_builder_t *b,
                                         const char *topic)
{
        size_t i, j;
        for (i = 0; i < b->nodes.cnt; i++) {
                brook__node_t *n = b->nodes.v[i];
                if (n->kind != BROOK__NODE_SOURCE)
                        continue;
                for (j = 0; j < n->topic_cnt; j++)
                        if (!strcmp(n->topics[j], topic))
                                return n;
        }
        return NULL;
}

/* The source whose pattern matches @p topic, or NULL (Kafka Streams'
 * validateTopicNotAlreadyRegistered()). */
static brook__node_t *brook__pattern_owner(const brook_builder_t *b,
                                           const char *topic)
{
        size_t i;
        for (i = 0; i < b->nodes.cnt; i++) {
                brook__node_t *n = b->nodes.v[i];
                if (n->kind == BROOK__NODE_SOURCE && n->pattern &&
                    !regexec(&n->regex, topic, 0, NULL, 0))
                        return n;
        }
        return NULL;
}

/* A topic another source reads by name that @p pattern's compiled
 * @p re matches: its source in *@p ownerp, or NULL. Repartition topics
 * are left out: their names take the application.id, which the builder
 * does not know. */
static const char *brook__pattern_taken(const brook_builder_t *b,
                                        const brook__node_t *self,
                                        brook__node_t **ownerp)
{
        size_t i, j;
        for (i = 0; i < b->nodes.cnt; i++) {
                brook__node_t *n = b->nodes.v[i];
                if (n == self || n->kind != BROOK__NODE_SOURCE || n->internal)
                        continue;
                for (j = 0; j < n->topic_cnt; j++)
                        if (!regexec(&self->regex, n->topics[j], 0, NULL, 0)) {
                                *ownerp = n;
                                return n->topics[j];
                        }
        }
        return NULL;
}

/* Whether @p c's timestamp members (version 2) make sense; if not, why. */
static bool brook__consumed_time_ok(const brook_consumed_t *c, char *why,
                                    size_t why_size)
{
        if (c->version < 2)
                return true;
        if (c->timestamp_field && c->timestamp_extractor)
                snprintf(why, why_size,
                         "timestamp_extractor and timestamp_field are both "
                         "set; a source has one extractor");
        else if (c->timestamp_field && !*c->timestamp_field)
                snprintf(why, why_size, "timestamp_field is empty");
        else if ((unsigned)c->timestamp_fallback >
                 BROOK_TIMESTAMP_FALLBACK_INVALID)
                snprintf(why, why_size,
                         "timestamp_fallback %d is not a "
                         "brook_timestamp_fallback_t",
                         (int)c->timestamp_fallback);
        else if ((unsigned)c->invalid_timestamp >
                 BROOK_INVALID_TIMESTAMP_USE_PARTITION_TIME)
                snprintf(why, why_size,
                         "invalid_timestamp %d is not a "
                         "brook_invalid_timestamp_t",
                         (int)c->invalid_timestamp);
        else
                return true;
        return false;
}

brook_err_t brook_builder_add_source(brook_builder_t *b, const char *name,
                                     const char *const *topics,
                                     size_t topic_cnt, const char *pattern,
                                     const brook_consumed_t *consumed,
                                     char *errstr, size_t errstr_size)
{
        brook__node_t *node;
        size_t i;
        char why[256];

        if (consumed) {
                if (!brook__version_ok(consumed->version,
                                       BROOK_CONSUMED_VERSION,
                                       "brook_consumed_t", why, sizeof why)) {
                        brook__builder_fail(b, errstr, errstr_size,
                                            "source \"%s\": %s",
                                            name ? name : "", why);
                        return BROOK_ERR_INVALID_ARG;
                }
                if (brook__name_conflict(b, name, consumed->name, "source",
                                         "brook_consumed_t", errstr,
                                         errstr_size))
                        return BROOK_ERR_INVALID_ARG;
                if (!name)
                        name = consumed->name;
                if (!brook__consumed_time_ok(consumed, why, sizeof why)) {
                        brook__builder_fail(b, errstr, errstr_size,
                                            "source \"%s\": brook_consumed_t: "
                                            "%s",
                                            name ? name : "", why);
                        return BROOK_ERR_INVALID_ARG;
                }
        }
        if (!pattern && topic_cnt == 0) {
                brook__builder_fail(b, errstr, errstr_size,
                                    "source \"%s\": no topics and no pattern",
                                    name ? name : "");
                return BROOK_ERR_TOPOLOGY;
        }
        if (pattern && topic_cnt) {
                brook__builder_fail(
                        b, errstr, errstr_size,
                        "source \"%s\": give topics or a pattern, not both",
                        name ? name : "");
                return BROOK_ERR_TOPOLOGY;
        }
        for (i = 0; i < topic_cnt; i++) {
                brook__node_t *owner;
                if (!topics[i] || !*topics[i]) {
                        brook__builder_fail(b, errstr, errstr_size,
                                            "source \"%s\": empty topic name",
                                            name ? name : "");
                        return BROOK_ERR_TOPOLOGY;
                }
                if ((owner = brook__topic_owner(b, topics[i]))) {
                        brook__builder_fail(
                                b, errstr, errstr_size,
                                "source \"%s\": topic \"%s\" is already read "
                                "by source \"%s\"",
                                name ? name : "", topics[i], owner->name);
                        return BROOK_ERR_TOPOLOGY;
                }
                if ((owner = brook__pattern_owner(b, topics[i]))) {
                        brook__builder_fail(
                                b, errstr, errstr_size,
                                "source \"%s\": topic \"%s\" matches the "
                                "pattern \"%s\" of source \"%s\", which "
                                "reads it already",
                                name ? name : "", topics[i], owner->pattern,
                                owner->name);
                        return BROOK_ERR_TOPOLOGY;
                }
        }

        node = brook__node_add(b, name, BROOK__NODE_SOURCE, NULL, 0, "source",
                               errstr, errstr_size);
        if (!node)
                return BROOK_ERR_TOPOLOGY;
        if (pattern) {
                char *anchored = brook__xmalloc(strlen(pattern) + 5);
                brook__node_t *owner = NULL;
                const char *taken;
                int rc;
                sprintf(anchored, "^(%s)$", pattern);
                rc = regcomp(&node->regex, anchored, REG_EXTENDED | REG_NOSUB);
                free(anchored);
                if (rc) {
                        char why[256];
                        regerror(rc, &node->regex, why, sizeof why);
                        brook__builder_fail(
                                b, errstr, errstr_size,
                                "source \"%s\": bad topic pattern \"%s\": %s",
                                name, pattern, why);
                        /* The node stays, without a pattern, so the builder
                         * frees it; the builder is failed anyway. */
                        return BROOK_ERR_TOPOLOGY;
                }
                node->pattern = brook__xstrdup(pattern);
                if ((taken = brook__pattern_taken(b, node, &owner))) {
                        /* The node stays, as above. */
                        brook__builder_fail(b, errstr, errstr_size,
                                            "source \"%s\": pattern \"%s\" "
                                            "matches topic \"%s\", which "
                                            "source \"%s\" reads already",
                                            node->name, pattern, taken,
                                            owner->name);
                        return BROOK_ERR_TOPOLOGY;
                }
        }
        if (topic_cnt) {
                node->topics = brook__xmalloc(topic_cnt * sizeof(char *));
                for (i = 0; i < topic_cnt; i++)
                        node->topics[i] = brook__xstrdup(topics[i]);
                node->topic_cnt = topic_cnt;
        }
        if (consumed) {
                node->key_serde = brook__serde_ref(consumed->key_serde);
                node->value_serde = brook__serde_ref(consumed->value_serde);
                node->ts_extractor = consumed->timestamp_extractor;
                node->ts_extractor_opaque =
                        consumed->timestamp_extractor_opaque;
                /* Version 2 members: an older program's struct ends
                 * before them. */
                if (consumed->version >= 2) {
                        if (consumed->timestamp_field)
                                node->ts_field = brook__xstrdup(
                                        consumed->timestamp_field);
                        node->ts_fallback = consumed->timestamp_fallback;
                        node->ts_invalid = consumed->invalid_timestamp;
                }
        }
        return BROOK_OK;
}

brook_err_t brook_builder_add_processor(brook_builder_t *b, const char *name,
                                        const brook_processor_def_t *def,
                                        const char *const *parents,
                                        size_t parent_cnt, char *errstr,
                                        size_t errstr_size)
{
        brook__node_t *node;
        char why[256];

        if (def &&
            !brook__version_ok(def->version, BROOK_PROCESSOR_DEF_VERSION,
                               "brook_processor_def_t", why, sizeof why)) {
                brook__builder_fail(b, errstr, errstr_size,
                                    "processor \"%s\": %s", name ? name : "",
                                    why);
                /* Its opaque_destroy is a version-1 member, so it is there
                 * to call whatever version the program built against. */
                if (def->opaque_destroy)
                        def->opaque_destroy(def->opaque);
                return BROOK_ERR_INVALID_ARG;
        }
        if (!def || !def->process) {
                brook__builder_fail(b, errstr, errstr_size,
                                    "processor \"%s\": process() is required",
                                    name ? name : "");
                if (def && def->opaque_destroy)
                        def->opaque_destroy(def->opaque);
                return BROOK_ERR_TOPOLOGY;
        }
        node = brook__node_add(b, name, BROOK__NODE_PROCESSOR, parents,
                               parent_cnt, "processor", errstr, errstr_size);
        if (!node) {
                if (def->opaque_destroy)
                        def->opaque_destroy(def->opaque);
                return BROOK_ERR_TOPOLOGY;
        }
        node->def = *def;
        return BROOK_OK;
}

brook_err_t
brook_builder_add_sink(brook_builder_t *b, const char *name, const char *topic,
                       brook_topic_chooser_fn chooser, void *chooser_opaque,
                       const brook_produced_t *produced,
                       const char *const *parents, size_t parent_cnt,
                       char *errstr, size_t errstr_size)
{
        brook__node_t *node;
        char why[256];

        if (produced) {
                if (!brook__version_ok(produced->version,
                                       BROOK_PRODUCED_VERSION,
                                       "brook_produced_t", why, sizeof why)) {
                        brook__builder_fail(b, errstr, errstr_size,
                                            "sink \"%s\": %s", name ? name : "",
                                            why);
                        return BROOK_ERR_INVALID_ARG;
                }
                if (brook__name_conflict(b, name, produced->name, "sink",
                                         "brook_produced_t", errstr,
                                         errstr_size))
                        return BROOK_ERR_INVALID_ARG;
                if (!name)
                        name = produced->name;
        }
        if (!chooser && (!topic || !*topic)) {
                brook__builder_fail(b, errstr, errstr_size,
                                    "sink \"%s\": no topic and no topic "
                                    "chooser",
                                    name ? name : "");
                return BROOK_ERR_TOPOLOGY;
        }
        node = brook__node_add(b, name, BROOK__NODE_SINK, parents, parent_cnt,
                               "sink", errstr, errstr_size);
        if (!node)
                return BROOK_ERR_TOPOLOGY;
        if (!chooser)
                node->topic = brook__xstrdup(topic);
        node->chooser = chooser;
        node->chooser_opaque = chooser_opaque;
        if (produced) {
                node->key_serde = brook__serde_ref(produced->key_serde);
                node->value_serde = brook__serde_ref(produced->value_serde);
                node->partitioner = produced->partitioner;
                node->partitioner_opaque = produced->partitioner_opaque;
        }
        return BROOK_OK;
}

/* ------------------------------------------------------- sub-topologies */

static int brook__uf_find(int *uf, int i)
{
        while (uf[i] != i)
                i = uf[i] = uf[uf[i]];
        return i;
}

char *brook__topology_internal_topic(const brook__topology_t *topo,
                                     const char *suffix)
{
        char *t = brook__xmalloc(strlen(topo->app_id) + strlen(suffix) + 2);
        sprintf(t, "%s-%s", topo->app_id, suffix);
        return t;
}

/* Fills a node's missing serdes from the defaults, or fails naming it. */
static brook_err_t brook__node_serdes(brook__topology_t *topo,
                                      brook__node_t *node, char *errstr,
                                      size_t errstr_size)
{
        const char *kind = node->kind == BROOK__NODE_SOURCE ? "source" : "sink";
        if (node->value_wrap && !node->value_wrapped) {
                const brook_serde_t *inner =
                        node->value_serde      ? node->value_serde
                        : node->value_wrap_key ? topo->default_key_serde
                                               : topo->default_value_serde;
                if (inner) {
                        brook_serde_t *wrapped = node->value_wrap(inner);
                        brook__serde_unref(node->value_serde);
                        node->value_serde = wrapped;
                        node->value_wrapped = true;
                }
        }
        if (!node->key_serde && topo->default_key_serde)
                node->key_serde = brook__serde_ref(topo->default_key_serde);
        if (!node->value_serde && topo->default_value_serde)
                node->value_serde = brook__serde_ref(topo->default_value_serde);
        if (!node->key_serde || !node->value_serde) {
                brook__seterr(
                        errstr, errstr_size,
                        "%s \"%s\" has no %s serde: set it in the "
                        "%s options or set %s",
                        kind, node->name, node->key_serde ? "value" : "key",
                        node->kind == BROOK__NODE_SOURCE ? "brook_consumed_t"
                                                         : "brook_produced_t",
                        node->key_serde ? "default.value.serde"
                                        : "default.key.serde");
                return BROOK_ERR_TOPOLOGY;
        }
        return BROOK_OK;
}

/* Whether a relaxed join is reachable below node @p idx, across the
 * repartition topics its sinks write too (@p seen: nodes visited). */
static bool relaxed_below(const brook_builder_t *b, int idx, bool *seen)
{
        const brook__node_t *n = b->nodes.v[idx];

        if (seen[idx])
                return false;
        seen[idx] = true;
        if (n->relaxed_join)
                return true;
        for (size_t i = 0; i < n->child_cnt; i++)
                if (relaxed_below(b, n->children[i], seen))
                        return true;
        if (n->kind == BROOK__NODE_SINK && n->sink_internal && n->topic)
                for (size_t i = 0; i < b->nodes.cnt; i++) {
                        const brook__node_t *src = b->nodes.v[i];
                        if (src->kind == BROOK__NODE_SOURCE && src->internal &&
                            src->topic_cnt == 1 &&
                            !strcmp(src->topics[0], n->topic) &&
                            relaxed_below(b, (int)i, seen))
                                return true;
                }
        return false;
}

/* Kafka Streams' rewriteRepartitionNodes(): a repartition's filter drops
 * null keys unless a left or outer join below takes them. */
static void topology_null_key_filters(brook_builder_t *b)
{
        bool *seen = brook__xcalloc(b->nodes.cnt + 1, sizeof *seen);

        for (size_t i = 0; i < b->nodes.cnt; i++) {
                brook__node_t *n = b->nodes.v[i];
                if (!n->null_key_filter)
                        continue;
                memset(seen, 0, (b->nodes.cnt + 1) * sizeof *seen);
                n->keep_null_keys = relaxed_below(b, (int)i, seen);
        }
        free(seen);
}

/* Joins the sets of nodes @p x and @p y. The smaller index becomes the
 * root, so numbering follows creation order. */
static void topology_union(int *uf, int x, int y)
{
        int a = brook__uf_find(uf, x);
        int c = brook__uf_find(uf, y);
        if (a < c)
                uf[c] = a;
        else
                uf[a] = c;
}

/* Below @p node: every node reached with a prefetch hook, once, into
 * *@p list. The key a record reaches it with is the source's raw key
 * unless a processor on the way changes it (then the hint is only wasted:
 * a key change before a join puts a repartition topic, so a new source,
 * between them). */
static void topology_prefetch_walk(brook_builder_t *b,
                                   const brook__node_t *node, bool *seen,
                                   int **list, size_t *cnt)
{
        for (size_t i = 0; i < node->child_cnt; i++) {
                brook__node_t *child = b->nodes.v[node->children[i]];
                if (seen[child->idx])
                        continue;
                seen[child->idx] = true;
                if (child->prefetch) {
                        *list = brook__xrealloc(*list,
                                                (*cnt + 1) * sizeof **list);
                        (*list)[(*cnt)++] = child->idx;
                }
                topology_prefetch_walk(b, child, seen, list, cnt);
        }
}

/* Each source's prefetch_nodes. Written only when they change: the
 * builder is built again while the app's threads read them (describe,
 * for the metrics), and then they do not. */
static void topology_prefetch(brook_builder_t *b)
{
        bool *seen = brook__xmalloc(b->nodes.cnt * sizeof *seen);

        for (size_t i = 0; i < b->nodes.cnt; i++) {
                brook__node_t *node = b->nodes.v[i];
                int *list = NULL;
                size_t cnt = 0;
                if (node->kind != BROOK__NODE_SOURCE)
                        continue;
                memset(seen, 0, b->nodes.cnt * sizeof *seen);
                topology_prefetch_walk(b, node, seen, &list, &cnt);
                if (cnt == node->prefetch_cnt &&
                    (!cnt ||
                     !memcmp(list, node->prefetch_nodes, cnt * sizeof *list))) {
                        free(list);
                        continue;
                }
                free(node->prefetch_nodes);
                node->prefetch_nodes = list;
                node->prefetch_cnt = cnt;
        }
        free(seen);
}

brook_err_t brook__topology_build(brook__topology_t *topo, brook_builder_t *b,
                                  const brook_conf_t *conf, char *errstr,
                                  size_t errstr_size)
{
        size_t n = b->nodes.cnt, i;
        int *uf, *sub_of_root;
        int sub_cnt = 0;
        const char *app_id =
                conf ? brook_conf_get(conf, "application.id") : NULL;

        memset(topo, 0, sizeof *topo);
        if (b->error) {
                brook__seterr(errstr, errstr_size, "topology error: %s",
                              b->error);
                return BROOK_ERR_TOPOLOGY;
        }
        if (n == 0) {
                brook__seterr(errstr, errstr_size,
                              "topology error: the topology has no nodes");
                return BROOK_ERR_TOPOLOGY;
        }
        topo->b = b;
        topo->app_id = brook__xstrdup(app_id ? app_id : "");
        topology_null_key_filters(b);
        topology_prefetch(b);
        if (conf) {
                topo->default_key_serde =
                        brook__conf_serde(conf, "default.key.serde");
                topo->default_value_serde =
                        brook__conf_serde(conf, "default.value.serde");
        }

        /* Nodes joined by an edge share a sub-topology, and so do nodes
         * that use one store (Kafka Streams' node groups): a stream-table
         * join reads the table's store, so the stream's task is the
         * table's. */
        uf = brook__xmalloc(n * sizeof *uf);
        for (i = 0; i < n; i++)
                uf[i] = (int)i;
        for (i = 0; i < n; i++) {
                brook__node_t *node = b->nodes.v[i];
                size_t j;
                for (j = 0; j < node->parent_cnt; j++)
                        topology_union(uf, (int)i, node->parents[j]);
        }
        for (i = 0; i < b->stores.cnt; i++) {
                const brook__storedef_t *def = b->stores.v[i];
                size_t j;
                for (j = 1; j < def->proc_cnt; j++)
                        topology_union(uf, def->procs[0], def->procs[j]);
        }
        sub_of_root = brook__xmalloc(n * sizeof *sub_of_root);
        for (i = 0; i < n; i++)
                sub_of_root[i] = -1;
        for (i = 0; i < n; i++) {
                int root = brook__uf_find(uf, (int)i);
                if (sub_of_root[root] < 0)
                        sub_of_root[root] = sub_cnt++;
        }
        topo->sub_cnt = (size_t)sub_cnt;
        topo->subs = brook__xcalloc((size_t)sub_cnt, sizeof *topo->subs);
        for (i = 0; i < (size_t)sub_cnt; i++)
                topo->subs[i].id = (int)i;
        for (i = 0; i < n; i++) {
                brook__node_t *node = b->nodes.v[i];
                brook__subtopo_t *sub =
                        &topo->subs[sub_of_root[brook__uf_find(uf, (int)i)]];
                node->subtopology = sub->id;
                brook__ptrvec_push(&sub->nodes, node);
                if (node->kind == BROOK__NODE_SOURCE)
                        brook__ptrvec_push(&sub->sources, node);
                if (node->global)
                        sub->global = true;
        }
        free(uf);
        free(sub_of_root);

        for (i = 0; i < topo->sub_cnt; i++) {
                if (topo->subs[i].sources.cnt == 0) {
                        brook__node_t *first = topo->subs[i].nodes.v[0];
                        brook__seterr(errstr, errstr_size,
                                      "topology error: node \"%s\" is not "
                                      "connected to any source",
                                      first->name);
                        brook__topology_free(topo);
                        return BROOK_ERR_TOPOLOGY;
                }
        }
        for (i = 0; conf && i < n; i++) {
                brook__node_t *node = b->nodes.v[i];
                brook_err_t err;
                if (node->kind == BROOK__NODE_PROCESSOR)
                        continue;
                if ((err = brook__node_serdes(topo, node, errstr,
                                              errstr_size))) {
                        brook__topology_free(topo);
                        return err;
                }
        }
        {
                brook_err_t err = brook__stores_build(topo, conf != NULL,
                                                      errstr, errstr_size);
                if (err) {
                        brook__topology_free(topo);
                        return err;
                }
        }
        return BROOK_OK;
}

void brook__topology_free(brook__topology_t *topo)
{
        size_t i;
        for (i = 0; i < topo->sub_cnt; i++) {
                brook__ptrvec_free(&topo->subs[i].nodes);
                brook__ptrvec_free(&topo->subs[i].sources);
        }
        free(topo->subs);
        free(topo->app_id);
        memset(topo, 0, sizeof *topo);
}

brook__node_t *brook__topology_source_for(const brook__topology_t *topo,
                                          const char *topic)
{
        const brook_builder_t *b = topo->b;
        size_t i, j, plen = strlen(topo->app_id);

        for (i = 0; i < b->nodes.cnt; i++) {
                brook__node_t *n = b->nodes.v[i];
                if (n->kind != BROOK__NODE_SOURCE)
                        continue;
                if (n->internal) {
                        /* "<app_id>-<suffix>" */
                        if (!strncmp(topic, topo->app_id, plen) &&
                            topic[plen] == '-' &&
                            !strcmp(topic + plen + 1, n->topics[0]))
                                return n;
                        continue;
                }
                for (j = 0; j < n->topic_cnt; j++)
                        if (!strcmp(n->topics[j], topic))
                                return n;
        }
        return brook__pattern_owner(b, topic);
}

/* -------------------------------------------------------------- describe */

typedef struct brook__sb {
        char *s;
        size_t len, cap;
} brook__sb_t;

static void brook__sb_printf(brook__sb_t *sb, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void brook__sb_printf(brook__sb_t *sb, const char *fmt, ...)
{
        va_list ap;
        int need;
        va_start(ap, fmt);
        need = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (sb->cap - sb->len < (size_t)need + 1) {
                sb->cap = (sb->cap + (size_t)need + 1) * 2;
                sb->s = brook__xrealloc(sb->s, sb->cap);
        }
        va_start(ap, fmt);
        vsnprintf(sb->s + sb->len, (size_t)need + 1, fmt, ap);
        va_end(ap);
        sb->len += (size_t)need;
}

/* A store's position in a HashSet of store names: its bucket in a table
 * of @p cap, then the order it was added in. */
typedef struct brook__describe_store {
        unsigned bucket;
        size_t order;
        const char *name;
} brook__describe_store_t;

static int brook__describe_store_cmp(const void *a, const void *b)
{
        const brook__describe_store_t *x = a, *y = b;

        if (x->bucket != y->bucket)
                return x->bucket < y->bucket ? -1 : 1;
        return x->order < y->order ? -1 : x->order > y->order;
}

/* The names of the stores connected to processor @p n, comma-separated,
 * in the order of Kafka Streams' describe (it copies them into a HashSet:
 * bucket order, then the order they were connected in). */
static void brook__describe_stores(brook__sb_t *sb, const brook_builder_t *b,
                                   const brook__node_t *n)
{
        brook__describe_store_t *v = NULL;
        size_t i, j, cnt = 0, cap = 16;

        for (i = 0; i < b->stores.cnt; i++) {
                const brook__storedef_t *def = b->stores.v[i];
                if (def->unmaterialized)
                        continue;
                for (j = 0; j < def->proc_cnt; j++) {
                        if (def->procs[j] != n->idx)
                                continue;
                        v = brook__xrealloc(v, (cnt + 1) * sizeof *v);
                        v[cnt].order = cnt;
                        v[cnt].name = def->name;
                        cnt++;
                        break;
                }
        }
        /* HashSet(Collection): a table for size / 0.75 + 1, at least 16. */
        while (cap < (size_t)((float)cnt / 0.75f) + 1)
                cap *= 2;
        for (i = 0; i < cnt; i++) {
                uint32_t h = (uint32_t)brook__java_string_hash(v[i].name);
                v[i].bucket = (h ^ (h >> 16)) & (unsigned)(cap - 1);
        }
        if (cnt > 1)
                qsort(v, cnt, sizeof *v, brook__describe_store_cmp);
        for (i = 0; i < cnt; i++)
                brook__sb_printf(sb, "%s%s", i ? ", " : "", v[i].name);
        free(v);
}

static void brook__describe_names(brook__sb_t *sb, const brook_builder_t *b,
                                  const int *idx, size_t cnt)
{
        size_t i;
        if (!cnt) {
                brook__sb_printf(sb, "none");
                return;
        }
        for (i = 0; i < cnt; i++) {
                const brook__node_t *n = b->nodes.v[idx[i]];
                brook__sb_printf(sb, "%s%s", i ? ", " : "", n->name);
        }
}

static void brook__describe_text(brook__sb_t *sb, const brook_builder_t *b,
                                 const brook__topology_t *topo)
{
        size_t s, i, j, cnt;
        brook__sb_printf(sb, "Topologies:\n");
        for (s = 0; s < topo->sub_cnt; s++) {
                const brook__subtopo_t *sub = &topo->subs[s];
                /* Nodes, successors and predecessors in Kafka Streams'
                 * order. */
                int *order, **succ, **pred;
                size_t *succ_cnt, *pred_cnt;

                cnt = sub->nodes.cnt;
                order = brook__xcalloc(cnt + 1, sizeof *order);
                succ = brook__xcalloc(cnt + 1, sizeof *succ);
                pred = brook__xcalloc(cnt + 1, sizeof *pred);
                succ_cnt = brook__xcalloc(cnt + 1, sizeof *succ_cnt);
                pred_cnt = brook__xcalloc(cnt + 1, sizeof *pred_cnt);
                for (i = 0; i < cnt; i++) {
                        /* Any node's lists fit in these. */
                        succ[i] =
                                brook__xcalloc(b->nodes.cnt + 1, sizeof **succ);
                        pred[i] =
                                brook__xcalloc(b->nodes.cnt + 1, sizeof **pred);
                }
                brook__describe_order(b, sub, order, succ, succ_cnt, pred,
                                      pred_cnt);
                /* Kafka Streams' GlobalStore description: no blank line
                 * after it. */
                brook__sb_printf(sb, "%sSub-topology: %d%s\n", s ? "  " : "   ",
                                 sub->id,
                                 sub->global ? " for global store (will not "
                                               "generate tasks)"
                                             : "");
                for (i = 0; i < cnt; i++) {
                        const brook__node_t *n = b->nodes.v[order[i]];
                        switch (n->kind) {
                        case BROOK__NODE_SOURCE:
                                if (n->pattern) {
                                        brook__sb_printf(
                                                sb,
                                                "    Source: %s (topic "
                                                "pattern: %s)\n",
                                                n->name, n->pattern);
                                        break;
                                }
                                brook__sb_printf(sb,
                                                 "    Source: %s (topics: [",
                                                 n->name);
                                for (j = 0; j < n->topic_cnt; j++)
                                        brook__sb_printf(sb, "%s%s",
                                                         j ? ", " : "",
                                                         n->topics[j]);
                                brook__sb_printf(sb, "])\n");
                                break;
                        case BROOK__NODE_PROCESSOR:
                                brook__sb_printf(sb,
                                                 "    Processor: %s (stores: [",
                                                 n->name);
                                brook__describe_stores(sb, b, n);
                                brook__sb_printf(sb, "])\n");
                                break;
                        case BROOK__NODE_SINK:
                                if (n->chooser)
                                        brook__sb_printf(
                                                sb,
                                                "    Sink: %s (extractor "
                                                "class: topic chooser)\n",
                                                n->name);
                                else
                                        brook__sb_printf(
                                                sb,
                                                "    Sink: %s (topic: %s)\n",
                                                n->name, n->topic);
                                break;
                        }
                        if (n->kind != BROOK__NODE_SINK) {
                                brook__sb_printf(sb, "      --> ");
                                brook__describe_names(sb, b, succ[i],
                                                      succ_cnt[i]);
                                brook__sb_printf(sb, "\n");
                        }
                        if (n->kind != BROOK__NODE_SOURCE) {
                                brook__sb_printf(sb, "      <-- ");
                                brook__describe_names(sb, b, pred[i],
                                                      pred_cnt[i]);
                                brook__sb_printf(sb, "\n");
                        }
                }
                if (!sub->global)
                        brook__sb_printf(sb, "\n");
                for (i = 0; i < cnt; i++) {
                        free(succ[i]);
                        free(pred[i]);
                }
                free(order);
                free(succ);
                free(pred);
                free(succ_cnt);
                free(pred_cnt);
        }
}

static void brook__describe_dot(brook__sb_t *sb, const brook_builder_t *b,
                                const brook__topology_t *topo)
{
        size_t s, i, j;
        brook__sb_printf(sb, "digraph brook {\n  rankdir=LR;\n"
                             "  node [fontname=\"Helvetica\"];\n");
        for (s = 0; s < topo->sub_cnt; s++) {
                const brook__subtopo_t *sub = &topo->subs[s];
                brook__sb_printf(sb,
                                 "  subgraph cluster_%d {\n    label=\"Sub-"
                                 "topology %d%s\";\n",
                                 sub->id, sub->id,
                                 sub->global ? " (global store)" : "");
                for (i = 0; i < sub->nodes.cnt; i++) {
                        const brook__node_t *n = sub->nodes.v[i];
                        brook__sb_printf(
                                sb, "    \"%s\" [shape=%s];\n", n->name,
                                n->kind == BROOK__NODE_PROCESSOR ? "box"
                                                                 : "invhouse");
                }
                brook__sb_printf(sb, "  }\n");
        }
        for (i = 0; i < b->nodes.cnt; i++) {
                const brook__node_t *n = b->nodes.v[i];
                for (j = 0; j < n->child_cnt; j++) {
                        const brook__node_t *c = b->nodes.v[n->children[j]];
                        brook__sb_printf(sb, "  \"%s\" -> \"%s\";\n", n->name,
                                         c->name);
                }
                if (n->kind == BROOK__NODE_SOURCE) {
                        if (n->pattern)
                                brook__sb_printf(sb,
                                                 "  \"topic /%s/\" "
                                                 "[shape=ellipse];\n  \"topic "
                                                 "/%s/\" -> \"%s\";\n",
                                                 n->pattern, n->pattern,
                                                 n->name);
                        for (j = 0; j < n->topic_cnt; j++)
                                brook__sb_printf(sb,
                                                 "  \"%s\" [shape=ellipse];\n"
                                                 "  \"%s\" -> \"%s\";\n",
                                                 n->topics[j], n->topics[j],
                                                 n->name);
                } else if (n->kind == BROOK__NODE_SINK && n->topic) {
                        brook__sb_printf(sb,
                                         "  \"%s\" [shape=ellipse];\n"
                                         "  \"%s\" -> \"%s\";\n",
                                         n->topic, n->name, n->topic);
                }
        }
        brook__sb_printf(sb, "}\n");
}

char *brook_topology_describe(const brook_builder_t *b,
                              brook_describe_format_t format)
{
        brook__topology_t topo;
        brook__sb_t sb = {0};
        char errstr[256];
        brook_err_t err;

        if (!b || b->error)
                return NULL;
        /* Without a conf the build checks structure only and leaves serdes
         * alone: describing must not change the builder. */
        err = brook__topology_build(&topo, (brook_builder_t *)b, NULL, errstr,
                                    sizeof errstr);
        if (err)
                return NULL;
        if (format == BROOK_DESCRIBE_DOT)
                brook__describe_dot(&sb, b, &topo);
        else
                brook__describe_text(&sb, b, &topo);
        brook__topology_free(&topo);
        return sb.s;
}
