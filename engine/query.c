/*
 * brook — interactive queries on the local instance: read-only views of a
 * store across this instance's tasks, safe from any thread (Kafka Streams'
 * KafkaStreams.store() and queryMetadataForKey()).
 *
 * Queries read through the inner stores' query_* calls, which are
 * thread-safe. They never block a stream thread: under the app's iq_lock
 * (a mutex held only to look instances up) a query takes references to
 * the instances' query handles (brook__iqstore_t), releases the lock, and
 * only then calls the store. A handle keeps its inner store open however
 * long the query or its iterator lasts; a task that leaves marks its
 * handle left, and iterators over it fail at their next step.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_int.h"

/* The store's definition, or NULL with @p errstr set. */
static brook__storedef_t *brook__iq_def(brook_app_t *app, const char *store,
                                        char *errstr, size_t errstr_size)
{
        brook__storedef_t *def =
                store ? brook__builder_store(app->b, store) : NULL;
        if (!def)
                brook__seterr(errstr, errstr_size,
                              "no store named \"%s\" in the topology",
                              store ? store : "(null)");
        return def;
}

static const char *brook__iq_kind_name(brook__storekind_t kind)
{
        switch (kind) {
        case BROOK__STORE_KV:
                return "key-value";
        case BROOK__STORE_WINDOW:
                return "window";
        case BROOK__STORE_SESSION:
                return "session";
        case BROOK__STORE_VERSIONED:
                return "versioned";
        }
        return "unknown";
}

/* Whether @p def is a store of @p kind, which the query called needs;
 * else BROOK_ERR_INVALID_ARG with @p errstr naming the store, its kind and
 * the calls that read it. */
static brook_err_t brook__iq_kind(const brook__storedef_t *def,
                                  brook__storekind_t kind, char *errstr,
                                  size_t errstr_size)
{
        static const char *const calls[] = {
                [BROOK__STORE_KV] = "brook_app_store_get(), _range(), "
                                    "_prefix() or _all()",
                [BROOK__STORE_WINDOW] = "brook_app_window_fetch() or "
                                        "brook_app_window_fetch_all()",
                [BROOK__STORE_SESSION] = "brook_app_session_fetch() or "
                                         "brook_app_session_find()",
                [BROOK__STORE_VERSIONED] = "brook_app_versioned_get()",
        };
        if (def->kind == kind)
                return BROOK_OK;
        brook__seterr(errstr, errstr_size,
                      "store \"%s\" is a %s store, not a %s store: query it "
                      "with %s",
                      def->name, brook__iq_kind_name(def->kind),
                      brook__iq_kind_name(kind),
                      (unsigned)def->kind < sizeof calls / sizeof *calls
                              ? calls[def->kind]
                              : "nothing");
        return BROOK_ERR_INVALID_ARG;
}

static bool brook__iq_running(brook_app_t *app, char *errstr,
                              size_t errstr_size)
{
        brook_app_state_t st;
        bool starting;
        pthread_mutex_lock(&app->lock);
        st = app->state;
        starting = app->starting;
        pthread_mutex_unlock(&app->lock);
        /* Not while brook_app_start() still sets up (REBALANCING from its
         * first step, as in Kafka Streams). */
        if ((st == BROOK_APP_RUNNING || st == BROOK_APP_REBALANCING) &&
            !starting)
                return true;
        brook__seterr(errstr, errstr_size,
                      "the app is not running: queries need a started app");
        return false;
}

/* What every query checks first: store @p store exists, is of @p kind
 * (any, if negative) and the app runs. Sets *@p defp. */
static brook_err_t brook__iq_begin(brook_app_t *app, const char *store,
                                   int kind, brook__storedef_t **defp,
                                   char *errstr, size_t errstr_size)
{
        brook_err_t err;
        if (!(*defp = brook__iq_def(app, store, errstr, errstr_size)))
                return BROOK_ERR_NOT_FOUND;
        if (kind >= 0 && (err = brook__iq_kind(*defp, (brook__storekind_t)kind,
                                               errstr, errstr_size)))
                return err;
        if (!brook__iq_running(app, errstr, errstr_size))
                return BROOK_ERR_STATE;
        return BROOK_OK;
}

/* This instance's open instance of @p def for @p partition, or NULL.
 * Call with iq_lock held; the instance is alive only while it is held. */
static brook__store_t *brook__iq_local(brook_app_t *app,
                                       const brook__storedef_t *def,
                                       int32_t partition)
{
        size_t i;
        for (i = 0; i < app->iq_stores.cnt; i++) {
                brook__store_t *st = app->iq_stores.v[i];
                if (st->def == def && st->task->partition == partition)
                        return st;
        }
        return NULL;
}

/* This instance's query handle of @p def's task for @p partition, with a
 * reference taken (release it with brook__iqstore_release()), or NULL
 * with @p errstr and *@p errp set: @p not_here when no local task has it
 * (@p what names the partition in the message), BROOK_ERR_STATE when it
 * restores or its store cannot be read while the app runs (@p range: it
 * must range, else get). */
static brook__iqstore_t *brook__iq_take(brook_app_t *app,
                                        const brook__storedef_t *def,
                                        int32_t partition, const char *what,
                                        bool range, brook_err_t not_here,
                                        brook_err_t *errp, char *errstr,
                                        size_t errstr_size)
{
        brook__store_t *st;
        brook__iqstore_t *h = NULL;

        pthread_mutex_lock(&app->iq_lock);
        st = brook__iq_local(app, def, partition);
        if (!st) {
                brook__seterr(errstr, errstr_size,
                              "store \"%s\": %s %" PRId32
                              " is not on this instance",
                              def->name, what, partition);
                *errp = not_here;
        } else if (atomic_load(&st->state) == BROOK__STORE_RESTORING) {
                brook__seterr(errstr, errstr_size,
                              "store \"%s\": task %s is still restoring, so "
                              "its answer would be stale",
                              def->name, st->task->id);
                *errp = BROOK_ERR_STATE;
        } else if (range ? !st->ops->query_range : !st->ops->query_get) {
                brook__seterr(errstr, errstr_size,
                              "store \"%s\": its %s store cannot be queried "
                              "while the app runs",
                              def->name, st->ops->kind);
                *errp = BROOK_ERR_STATE;
        } else {
                h = st->iq;
                brook__iqstore_ref(h);
        }
        pthread_mutex_unlock(&app->iq_lock);
        return h;
}

/* Encodes @p key into @p buf and picks its partition. */
static brook_err_t brook__iq_partition(brook_app_t *app,
                                       const brook__storedef_t *def,
                                       const void *key, brook_buf_t *buf,
                                       int32_t *partitionp, char *errstr,
                                       size_t errstr_size)
{
        int32_t cnt = app->topo.subs[def->subtopology].partitions;
        char why[512] = "", *topic;
        brook_err_t err;

        if (!key) {
                brook__seterr(errstr, errstr_size, "the key is NULL");
                return BROOK_ERR_INVALID_ARG;
        }
        /* Encoded as its store encodes it: for the changelog topic. */
        topic = brook__changelog_topic(app->app_id, def->name);
        err = brook__serde_serialize_to(topic, def->key_serde, key, buf, why,
                                        sizeof why);
        free(topic);
        if (err) {
                brook__seterr(errstr, errstr_size,
                              "store \"%s\": the key does not serialize: %s",
                              def->name, why);
                return err;
        }
        /* A global store holds every key, in its one instance. */
        if (app->topo.subs[def->subtopology].global) {
                *partitionp = -1;
                return BROOK_OK;
        }
        if (cnt < 1) {
                brook__seterr(errstr, errstr_size,
                              "store \"%s\": its partition count is not "
                              "known yet",
                              def->name);
                return BROOK_ERR_STATE;
        }
        /* The default partitioner (Java's murmur2), as Kafka Streams'
         * queryMetadataForKey assumes. */
        *partitionp = rd_kafka_msg_partitioner_murmur2(
                NULL, brook_buf_data(buf), brook_buf_len(buf), cnt, NULL, NULL);
        return BROOK_OK;
}

brook_err_t brook_app_store_key_metadata(brook_app_t *app, const char *store,
                                         const void *key,
                                         brook_key_metadata_t *md, char *errstr,
                                         size_t errstr_size)
{
        brook__storedef_t *def;
        brook__store_t *st;
        brook_buf_t *buf;
        brook_err_t err;

        memset(md, 0, sizeof *md);
        md->partition = -1;
        if ((err = brook__iq_begin(app, store, -1, &def, errstr, errstr_size)))
                return err;
        buf = brook_buf_new();
        err = brook__iq_partition(app, def, key, buf, &md->partition, errstr,
                                  errstr_size);
        brook_buf_destroy(buf);
        if (err)
                return err;
        if (md->partition < 0)
                snprintf(md->task_id, sizeof md->task_id, "global");
        else
                snprintf(md->task_id, sizeof md->task_id, "%d_%" PRId32,
                         def->subtopology, md->partition);
        pthread_mutex_lock(&app->iq_lock);
        if ((st = brook__iq_local(app, def, md->partition))) {
                md->local = true;
                md->restoring =
                        atomic_load(&st->state) == BROOK__STORE_RESTORING;
        }
        pthread_mutex_unlock(&app->iq_lock);
        if (md->local || md->partition < 0) {
                const char *self =
                        brook_conf_get(app->conf, "application.server");
                snprintf(md->server, sizeof md->server, "%s", self ? self : "");
        } else
                brook__instances_owner(app->instances, md->task_id, md->server,
                                       sizeof md->server, &md->restoring);
        return BROOK_OK;
}

brook_err_t brook_app_store_get(brook_app_t *app, const char *store,
                                const void *key, brook_arena_t *arena,
                                void **valuep, char *errstr, size_t errstr_size)
{
        brook__storedef_t *def;
        brook__iqstore_t *h = NULL;
        brook_buf_t *kbuf, *vbuf;
        int32_t partition;
        char why[512] = "";
        brook_err_t err;

        *valuep = NULL;
        if ((err = brook__iq_begin(app, store, BROOK__STORE_KV, &def, errstr,
                                   errstr_size)))
                return err;
        kbuf = brook_buf_new();
        vbuf = brook_buf_new();
        if ((err = brook__iq_partition(app, def, key, kbuf, &partition, errstr,
                                       errstr_size)))
                goto out;
        h = brook__iq_take(app, def, partition, "the key's partition", false,
                           BROOK_ERR_STATE, &err, errstr, errstr_size);
        /* Unlocked: the task may leave meanwhile; the reference keeps its
         * inner store open until the read is done. */
        if (h) {
                char why[512] = "";
                err = h->ops->query_get(h->inner, brook_buf_data(kbuf),
                                        brook_buf_len(kbuf), vbuf, why,
                                        sizeof why);
                brook__iqstore_release(h);
                if (err == BROOK_ERR_NOT_FOUND)
                        brook__seterr(errstr, errstr_size,
                                      "store \"%s\" has no such key",
                                      def->name);
                else if (err)
                        brook__seterr(errstr, errstr_size,
                                      "store \"%s\": read failed: %s",
                                      def->name,
                                      *why ? why : "no reason given");
        }
        /* A decoded value may point into the bytes it was decoded from (the
         * bytes serde's does), and it must live as long as @p arena: decode
         * a copy in the arena, not vbuf, which is freed below. */
        /* A timestamped store's value starts with its timestamp. */
        if (!err && def->timestamped) {
                int64_t ts;
                const void *rest;
                size_t rest_size;
                if (!brook__ts_value_split(brook_buf_data(vbuf),
                                           brook_buf_len(vbuf), &ts, &rest,
                                           &rest_size)) {
                        brook__seterr(errstr, errstr_size,
                                      "store \"%s\": a value has no "
                                      "timestamp",
                                      def->name);
                        err = BROOK_ERR_STATE;
                } else {
                        brook_buf_t *v = brook_buf_new();
                        brook_buf_append(v, rest, rest_size);
                        brook_buf_destroy(vbuf);
                        vbuf = v;
                }
        }
        if (!err &&
            (err = brook_serde_deserialize(
                     def->value_serde,
                     brook_buf_len(vbuf)
                             ? brook_arena_memdup(arena, brook_buf_data(vbuf),
                                                  brook_buf_len(vbuf))
                             : "",
                     brook_buf_len(vbuf), arena, valuep, why, sizeof why)))
                brook__seterr(errstr, errstr_size,
                              "store \"%s\": the value does not "
                              "deserialize: %s",
                              def->name, why);
out:
        brook_buf_destroy(kbuf);
        brook_buf_destroy(vbuf);
        return err;
}

static int brook__iq_cmp_partition(const void *a, const void *b)
{
        const brook__iqstore_t *x = *(brook__iqstore_t *const *)a;
        const brook__iqstore_t *y = *(brook__iqstore_t *const *)b;
        return (x->partition > y->partition) - (x->partition < y->partition);
}

static void brook__iq_release_all(brook__ptrvec_t *hs, size_t from)
{
        size_t i;
        for (i = from; i < hs->cnt; i++)
                brook__iqstore_release(hs->v[i]);
}

/* Scans every local instance of @p store: [from, to] of encoded keys, or
 * keys starting with @p prefix. */
static brook_err_t brook__iq_scan(brook_app_t *app, const char *store,
                                  const void *from, const void *to,
                                  const void *prefix,
                                  const brook_serde_t *prefix_serde,
                                  brook_arena_t *arena, brook_kviter_t **itp,
                                  char *errstr, size_t errstr_size)
{
        brook__storedef_t *def;
        brook__ptrvec_t local = {0};
        brook_buf_t *fb = brook_buf_new(), *tb = brook_buf_new(),
                    *pb = brook_buf_new();
        char why[512] = "", *topic = NULL;
        brook_err_t err = BROOK_OK;
        size_t i;

        *itp = NULL;
        if ((err = brook__iq_begin(app, store, BROOK__STORE_KV, &def, errstr,
                                   errstr_size)))
                goto out;
        topic = brook__changelog_topic(app->app_id, def->name);
        if ((from &&
             (err = brook__serde_serialize_to(topic, def->key_serde, from, fb,
                                              why, sizeof why))) ||
            (to && (err = brook__serde_serialize_to(topic, def->key_serde, to,
                                                    tb, why, sizeof why))) ||
            (prefix &&
             (err = brook__serde_serialize_to(
                      topic, prefix_serde ? prefix_serde : def->key_serde,
                      prefix, pb, why, sizeof why)))) {
                brook__seterr(errstr, errstr_size,
                              "store \"%s\": a bound does not serialize: %s",
                              def->name, why);
                goto out;
        }
        if (prefix) {
                from = prefix;
                brook_buf_append(fb, brook_buf_data(pb), brook_buf_len(pb));
        }

        pthread_mutex_lock(&app->iq_lock);
        for (i = 0; i < app->iq_stores.cnt; i++) {
                brook__store_t *st = app->iq_stores.v[i];
                if (st->def != def)
                        continue;
                if (atomic_load(&st->state) == BROOK__STORE_RESTORING) {
                        brook__seterr(errstr, errstr_size,
                                      "store \"%s\": task %s is still "
                                      "restoring, so the answer would be "
                                      "stale",
                                      def->name, st->task->id);
                        err = BROOK_ERR_STATE;
                        break;
                }
                if (!st->ops->query_range) {
                        brook__seterr(errstr, errstr_size,
                                      "store \"%s\": its %s store cannot be "
                                      "queried while the app runs",
                                      def->name, st->ops->kind);
                        err = BROOK_ERR_STATE;
                        break;
                }
                brook__ptrvec_push(&local, st->iq);
        }
        if (err)
                local.cnt = 0;
        for (i = 0; i < local.cnt; i++)
                brook__iqstore_ref(local.v[i]);
        pthread_mutex_unlock(&app->iq_lock);
        if (err)
                goto out;
        /* Before any assignment there is nothing to sort, and local.v is
         * NULL, which qsort() must not be given. */
        if (local.cnt > 1)
                qsort(local.v, local.cnt, sizeof *local.v,
                      brook__iq_cmp_partition);
        /* The iterator holds references to the handles, no lock: each
         * passes to it with its bytes iterator. */
        *itp = brook__kviter_new(def->key_serde, def->value_serde,
                                 def->timestamped, arena,
                                 prefix ? brook_buf_data(pb) : NULL,
                                 brook_buf_len(pb), NULL, NULL);
        for (i = 0; i < local.cnt; i++) {
                brook__iqstore_t *h = local.v[i];
                brook_kvbytes_iter_t *bit = NULL;
                char why[512] = "";
                if ((err = h->ops->query_range(
                             h->inner, from ? brook_buf_data(fb) : NULL,
                             brook_buf_len(fb), to ? brook_buf_data(tb) : NULL,
                             brook_buf_len(tb), &bit, why, sizeof why))) {
                        brook__seterr(errstr, errstr_size,
                                      "store \"%s\": task %s: range failed: "
                                      "%s",
                                      def->name, h->task_id,
                                      *why ? why : "no reason given");
                        brook_kviter_destroy(*itp);
                        *itp = NULL;
                        brook__iq_release_all(&local, i);
                        goto out;
                }
                if (!brook__version_ok(bit->version, BROOK_KVBYTES_ITER_VERSION,
                                       "brook_kvbytes_iter_t", why,
                                       sizeof why)) {
                        brook__seterr(errstr, errstr_size,
                                      "store \"%s\": task %s: %s", def->name,
                                      h->task_id, why);
                        bit->destroy(bit);
                        brook_kviter_destroy(*itp);
                        *itp = NULL;
                        brook__iq_release_all(&local, i);
                        err = BROOK_ERR_STATE;
                        goto out;
                }
                brook__kviter_add_iq(*itp, bit, h);
        }
out:
        free(topic);
        brook__ptrvec_free(&local);
        brook_buf_destroy(fb);
        brook_buf_destroy(tb);
        brook_buf_destroy(pb);
        return err;
}

brook_err_t brook_app_store_range(brook_app_t *app, const char *store,
                                  const void *from, const void *to,
                                  brook_arena_t *arena, brook_kviter_t **itp,
                                  char *errstr, size_t errstr_size)
{
        return brook__iq_scan(app, store, from, to, NULL, NULL, arena, itp,
                              errstr, errstr_size);
}

brook_err_t brook_app_store_prefix(brook_app_t *app, const char *store,
                                   const void *prefix,
                                   const brook_serde_t *prefix_serde,
                                   brook_arena_t *arena, brook_kviter_t **itp,
                                   char *errstr, size_t errstr_size)
{
        if (!prefix) {
                brook__seterr(errstr, errstr_size, "the prefix is NULL");
                return BROOK_ERR_INVALID_ARG;
        }
        return brook__iq_scan(app, store, NULL, NULL, prefix, prefix_serde,
                              arena, itp, errstr, errstr_size);
}

brook_err_t brook_app_store_all(brook_app_t *app, const char *store,
                                brook_arena_t *arena, brook_kviter_t **itp,
                                char *errstr, size_t errstr_size)
{
        return brook__iq_scan(app, store, NULL, NULL, NULL, NULL, arena, itp,
                              errstr, errstr_size);
}

/* ------------------------------------------------- window and session */

static int brook__iq_cmp_partition_desc(const void *a, const void *b)
{
        return brook__iq_cmp_partition(b, a);
}

/*
 * A window or session query of store @p store, of kind @p kind: with
 * @p key, the windows of that key on the one local instance that owns its
 * partition; without, every key's on every local instance (task by task,
 * in partition order; the reverse when backward, so that a backward read
 * is the forward one reversed). @p tfrom / @p tto are as
 * brook__segfetch_t's.
 */
static brook_err_t brook__iq_windows(brook_app_t *app, const char *store,
                                     brook__storekind_t kind, const void *key,
                                     int64_t tfrom, int64_t tto, bool backward,
                                     brook_arena_t *arena,
                                     brook_windowiter_t **itp, char *errstr,
                                     size_t errstr_size)
{
        brook__storedef_t *def;
        brook__ptrvec_t local = {0};
        brook_buf_t *kbuf = brook_buf_new();
        int32_t partition = -1;
        brook_err_t err = BROOK_OK;
        size_t i;

        *itp = NULL;
        if ((err = brook__iq_begin(app, store, (int)kind, &def, errstr,
                                   errstr_size)))
                goto out;
        if (key && (err = brook__iq_partition(app, def, key, kbuf, &partition,
                                              errstr, errstr_size)))
                goto out;

        pthread_mutex_lock(&app->iq_lock);
        for (i = 0; i < app->iq_stores.cnt; i++) {
                brook__store_t *st = app->iq_stores.v[i];
                if (st->def != def || (key && st->task->partition != partition))
                        continue;
                if (atomic_load(&st->state) == BROOK__STORE_RESTORING) {
                        brook__seterr(errstr, errstr_size,
                                      "store \"%s\": task %s is still "
                                      "restoring, so the answer would be "
                                      "stale",
                                      def->name, st->task->id);
                        err = BROOK_ERR_STATE;
                        break;
                }
                brook__ptrvec_push(&local, st->iq);
        }
        if (!err && key && !local.cnt) {
                brook__seterr(errstr, errstr_size,
                              "store \"%s\": the key's partition %" PRId32
                              " is not on this instance",
                              def->name, partition);
                err = BROOK_ERR_STATE;
        }
        if (err)
                local.cnt = 0;
        for (i = 0; i < local.cnt; i++)
                brook__iqstore_ref(local.v[i]);
        pthread_mutex_unlock(&app->iq_lock);
        if (err)
                goto out;
        /* local.v is NULL before any assignment: no qsort() then. */
        if (local.cnt > 1)
                qsort(local.v, local.cnt, sizeof *local.v,
                      backward ? brook__iq_cmp_partition_desc
                               : brook__iq_cmp_partition);

        /* Unlocked: each handle passes to the iterator with its bytes
         * iterator, and keeps its inner store (the segmented store of the
         * task's instance) open however long the iterator lives. */
        *itp = brook__windowiter_new(def, NULL, NULL, arena);
        for (i = 0; i < local.cnt; i++) {
                brook__iqstore_t *h = local.v[i];
                brook_kvbytes_iter_t *bit = NULL;
                char why[512] = "";
                brook__segfetch_t f = {
                        .kfrom = key ? brook__store_bytes(kbuf) : NULL,
                        .kfrom_size = brook_buf_len(kbuf),
                        .kto = key ? brook__store_bytes(kbuf) : NULL,
                        .kto_size = brook_buf_len(kbuf),
                        .tfrom = tfrom,
                        .tto = tto,
                        .reverse = backward,
                        .query = true,
                };
                if ((err = brook__segmented_fetch(h->inner, &f, &bit, why,
                                                  sizeof why))) {
                        brook__seterr(errstr, errstr_size,
                                      "store \"%s\": task %s: fetch failed: "
                                      "%s",
                                      def->name, h->task_id,
                                      *why ? why : "no reason given");
                        brook_windowiter_destroy(*itp);
                        *itp = NULL;
                        brook__iq_release_all(&local, i);
                        goto out;
                }
                brook__windowiter_add_iq(*itp, bit, h);
        }
out:
        brook__ptrvec_free(&local);
        brook_buf_destroy(kbuf);
        return err;
}

brook_err_t brook_app_window_fetch(brook_app_t *app, const char *store,
                                   const void *key, int64_t time_from,
                                   int64_t time_to, bool backward,
                                   brook_arena_t *arena,
                                   brook_windowiter_t **itp, char *errstr,
                                   size_t errstr_size)
{
        if (!key) {
                *itp = NULL;
                brook__seterr(errstr, errstr_size, "the key is NULL");
                return BROOK_ERR_INVALID_ARG;
        }
        return brook__iq_windows(app, store, BROOK__STORE_WINDOW, key,
                                 time_from, time_to, backward, arena, itp,
                                 errstr, errstr_size);
}

brook_err_t brook_app_window_fetch_all(brook_app_t *app, const char *store,
                                       int64_t time_from, int64_t time_to,
                                       bool backward, brook_arena_t *arena,
                                       brook_windowiter_t **itp, char *errstr,
                                       size_t errstr_size)
{
        return brook__iq_windows(app, store, BROOK__STORE_WINDOW, NULL,
                                 time_from, time_to, backward, arena, itp,
                                 errstr, errstr_size);
}

brook_err_t brook_app_session_fetch(brook_app_t *app, const char *store,
                                    const void *key, bool backward,
                                    brook_arena_t *arena,
                                    brook_windowiter_t **itp, char *errstr,
                                    size_t errstr_size)
{
        if (!key) {
                *itp = NULL;
                brook__seterr(errstr, errstr_size, "the key is NULL");
                return BROOK_ERR_INVALID_ARG;
        }
        /* Kafka Streams' fetch(key): findSessions(key, 0, Long.MAX_VALUE). */
        return brook__iq_windows(app, store, BROOK__STORE_SESSION, key, 0,
                                 INT64_MAX, backward, arena, itp, errstr,
                                 errstr_size);
}

brook_err_t brook_app_session_find(brook_app_t *app, const char *store,
                                   const void *key, int64_t earliest_end,
                                   int64_t latest_start, bool backward,
                                   brook_arena_t *arena,
                                   brook_windowiter_t **itp, char *errstr,
                                   size_t errstr_size)
{
        return brook__iq_windows(app, store, BROOK__STORE_SESSION, key,
                                 earliest_end, latest_start, backward, arena,
                                 itp, errstr, errstr_size);
}

uint64_t brook_app_store_approximate_bytes(brook_app_t *app, const char *store)
{
        brook__ptrvec_t local = {0};
        uint64_t bytes = 0;
        size_t i;

        if (!app || !store)
                return 0;
        pthread_mutex_lock(&app->iq_lock);
        for (i = 0; i < app->iq_stores.cnt; i++) {
                brook__store_t *st = app->iq_stores.v[i];
                if (strcmp(st->def->name, store))
                        continue;
                brook__iqstore_ref(st->iq);
                brook__ptrvec_push(&local, st->iq);
        }
        pthread_mutex_unlock(&app->iq_lock);
        /* Outside the lock: RocksDB's properties take their own. */
        for (i = 0; i < local.cnt; i++) {
                brook__iqstore_t *h = local.v[i];
                if (h->ops->version >= 2 && h->ops->approximate_bytes)
                        bytes += h->ops->approximate_bytes(h->inner);
                brook__iqstore_release(h);
        }
        brook__ptrvec_free(&local);
        return bytes;
}

brook_err_t brook_app_versioned_get(brook_app_t *app, const char *store,
                                    const void *key, int64_t as_of,
                                    brook_arena_t *arena,
                                    brook_versioned_record_t *recp,
                                    char *errstr, size_t errstr_size)
{
        brook__storedef_t *def;
        brook__store_t *st;
        brook__iqstore_t *h = NULL;
        brook_buf_t *kbuf, *vbuf;
        int32_t partition;
        char why[512] = "";
        brook_err_t err;

        memset(recp, 0, sizeof *recp);
        recp->timestamp = -1;
        recp->valid_to = BROOK_VERSIONED_LATEST;
        if ((err = brook__iq_begin(app, store, BROOK__STORE_VERSIONED, &def,
                                   errstr, errstr_size)))
                return err;
        kbuf = brook_buf_new();
        vbuf = brook_buf_new();
        if ((err = brook__iq_partition(app, def, key, kbuf, &partition, errstr,
                                       errstr_size)))
                goto out;
        pthread_mutex_lock(&app->iq_lock);
        st = brook__iq_local(app, def, partition);
        if (!st) {
                brook__seterr(errstr, errstr_size,
                              "store \"%s\": the key's partition %" PRId32
                              " is not on this instance",
                              def->name, partition);
                err = BROOK_ERR_STATE;
        } else if (atomic_load(&st->state) == BROOK__STORE_RESTORING) {
                brook__seterr(errstr, errstr_size,
                              "store \"%s\": task %s is still restoring, so "
                              "its answer would be stale",
                              def->name, st->task->id);
                err = BROOK_ERR_STATE;
        } else {
                h = st->iq;
                brook__iqstore_ref(h);
        }
        pthread_mutex_unlock(&app->iq_lock);
        /* Unlocked: the reference keeps the instance open for the read. */
        if (h) {
                err = brook__versioned_get(h->inner, true, brook_buf_data(kbuf),
                                           brook_buf_len(kbuf), as_of, vbuf,
                                           &recp->timestamp, &recp->valid_to,
                                           why, sizeof why);
                brook__iqstore_release(h);
                if (err == BROOK_ERR_NOT_FOUND)
                        brook__seterr(errstr, errstr_size,
                                      "store \"%s\" has no version of the key "
                                      "valid then",
                                      def->name);
                else if (err)
                        brook__seterr(errstr, errstr_size,
                                      "store \"%s\": read failed: %s",
                                      def->name,
                                      *why ? why : "no reason given");
        }
        /* Decoded from a copy in the arena: the value may point into its
         * bytes, and must live as long as @p arena. */
        if (!err &&
            (err = brook_serde_deserialize(
                     def->value_serde,
                     brook_buf_len(vbuf)
                             ? brook_arena_memdup(arena, brook_buf_data(vbuf),
                                                  brook_buf_len(vbuf))
                             : "",
                     brook_buf_len(vbuf), arena, &recp->value, why,
                     sizeof why)))
                brook__seterr(errstr, errstr_size,
                              "store \"%s\": the value does not "
                              "deserialize: %s",
                              def->name, why);
        if (err) {
                recp->value = NULL;
                recp->timestamp = -1;
                recp->valid_to = BROOK_VERSIONED_LATEST;
        }
out:
        brook_buf_destroy(kbuf);
        brook_buf_destroy(vbuf);
        return err;
}

/* ------------------------------------------------ one partition, paged */

static int brook__bytes_cmp(const void *a, size_t an, const void *b, size_t bn)
{
        int c = memcmp(a, b, an < bn ? an : bn);
        if (c)
                return c;
        return an < bn ? -1 : an > bn;
}

brook_err_t brook__iq_scan_partition(brook_app_t *app, const char *store,
                                     int32_t partition,
                                     const brook__iq_bounds_t *bounds,
                                     size_t limit, brook__iq_entry_fn fn,
                                     void *opaque, bool *more, char *errstr,
                                     size_t errstr_size)
{
        brook__storedef_t *def;
        brook__iqstore_t *h = NULL;
        brook_kvbytes_iter_t *bit = NULL;
        const void *lo = bounds->from, *k, *v;
        size_t lo_len = bounds->from_len, ksz, vsz, n = 0;
        char why[512] = "";
        brook_err_t err;

        *more = false;
        if ((err = brook__iq_begin(app, store, BROOK__STORE_KV, &def, errstr,
                                   errstr_size)))
                return err;
                /* The lower bound: the largest of from, prefix and after. */
#define RAISE(p, len)                                                          \
        if ((p) && (!lo || brook__bytes_cmp(p, len, lo, lo_len) > 0)) {        \
                lo = (p);                                                      \
                lo_len = (len);                                                \
        }
        RAISE(bounds->prefix, bounds->prefix_len);
        RAISE(bounds->after, bounds->after_len);
#undef RAISE
        if (!(h = brook__iq_take(
                      app, def,
                      app->topo.subs[def->subtopology].global ? -1 : partition,
                      "partition", true, BROOK_ERR_NOT_FOUND, &err, errstr,
                      errstr_size)))
                return err;
        if ((err = h->ops->query_range(h->inner, lo, lo_len, bounds->to,
                                       bounds->to_len, &bit, why,
                                       sizeof why))) {
                brook__seterr(errstr, errstr_size,
                              "store \"%s\": task %s: range failed: %s",
                              def->name, h->task_id,
                              *why ? why : "no reason given");
                brook__iqstore_release(h);
                return err;
        }
        while (!(err = bit->next(bit, &k, &ksz, &v, &vsz, why, sizeof why))) {
                if (bounds->after &&
                    !brook__bytes_cmp(k, ksz, bounds->after, bounds->after_len))
                        continue;
                if (bounds->prefix &&
                    (ksz < bounds->prefix_len ||
                     memcmp(k, bounds->prefix, bounds->prefix_len)))
                        break;
                if (n == limit) {
                        *more = true;
                        break;
                }
                /* A timestamped store's value starts with its timestamp. */
                if (def->timestamped) {
                        int64_t ts;
                        if (!brook__ts_value_split(v, vsz, &ts, &v, &vsz)) {
                                brook__seterr(errstr, errstr_size,
                                              "store \"%s\": a value has no "
                                              "timestamp",
                                              def->name);
                                err = BROOK_ERR_STATE;
                                break;
                        }
                }
                if ((err = fn(opaque, def, k, ksz, v, vsz)))
                        break;
                n++;
        }
        if (err == BROOK_ERR_END)
                err = BROOK_OK;
        else if (err && !*errstr)
                brook__seterr(errstr, errstr_size,
                              "store \"%s\": task %s: reading failed: %s",
                              def->name, h->task_id,
                              *why ? why : "no reason given");
        bit->destroy(bit);
        /* Read from a task that left meanwhile: it may be behind its new
         * owner; the answer is refused rather than stale. */
        if (!err && atomic_load(&h->left)) {
                brook__seterr(errstr, errstr_size,
                              "store \"%s\": task %s left this instance "
                              "during the read",
                              def->name, h->task_id);
                err = BROOK_ERR_STATE;
        }
        brook__iqstore_release(h);
        return err;
}
