/*
 * brook — the typed façade of versioned key-value stores (Kafka Streams'
 * MeteredVersionedKeyValueStore and ChangeLoggingVersionedKeyValueBytesStore):
 * serdes, counters and the changelog over the versioned store
 * (versioned.c). Versioned stores never cache (Kafka Streams'
 * VersionedKeyValueStoreBuilder has no caching layer), so a put goes
 * straight down and, when it was made, to the changelog: the key, the
 * value (or a tombstone) and the version's timestamp as the record's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define VS(vs) (&(vs)->s)

brook_err_t brook_ctx_versionedstore(brook_ctx_t *ctx, const char *name,
                                     brook_versionedstore_t **stp, char *errstr,
                                     size_t errstr_size)
{
        brook__store_t *st;
        brook_err_t err = brook__ctx_store(ctx, name, BROOK__STORE_VERSIONED,
                                           &st, errstr, errstr_size);
        *stp = err ? NULL : (brook_versionedstore_t *)st;
        return err;
}

const char *brook_versionedstore_name(const brook_versionedstore_t *vs)
{
        return vs->s.def->name;
}

int64_t brook_versionedstore_stream_time(const brook_versionedstore_t *vs)
{
        return brook__versioned_observed(vs->s.inner);
}

int64_t brook_versionedstore_history_retention(const brook_versionedstore_t *vs)
{
        return vs->s.def->retention_ms;
}

/* Puts the bytes key in st->kbuf with @p value (NULL: a tombstone) at
 * @p ts, then logs it if it was made. */
static brook_err_t vs_write(brook__store_t *st, const void *value, int64_t ts,
                            int64_t *codep)
{
        const void *vbytes = NULL;
        size_t vsize = 0;
        char why[512];
        brook_err_t err;
        why[0] = '\0';

        *codep = BROOK_VERSIONED_NOT_PUT;
        if (ts < 0)
                return brook__store_fail(st, BROOK_ERR_INVALID_ARG, "put",
                                         "the timestamp is negative");
        if (value) {
                brook_buf_clear(st->tmp);
                if ((err = brook__store_ser(st, st->def->value_serde, value,
                                            st->tmp, why, sizeof why)))
                        return brook__store_fail(st, err, "value", why);
                vbytes = brook__store_bytes(st->tmp);
                vsize = brook_buf_len(st->tmp);
                st->puts++;
        } else {
                st->deletes++;
        }
        if ((err = brook__versioned_put(st->inner, brook__store_bytes(st->kbuf),
                                        brook_buf_len(st->kbuf), vbytes, vsize,
                                        ts, codep, why, sizeof why)))
                return brook__store_fail(st, err, "write", why);
        if (*codep == BROOK_VERSIONED_NOT_PUT) {
                /* Kafka Streams' expired-record sensor (dropped-records). */
                brook__drop(st->task->rt, BROOK_DROP_EXPIRED,
                            "task %s: store \"%s\": skipping a put at %" PRId64
                            ", older than the history retention (%" PRId64
                            " ms) allows",
                            st->task->id, st->def->name, ts,
                            st->def->retention_ms);
                return BROOK_OK;
        }
        if (st->changelog) {
                brook__collector_t *col = st->task->rt->collector;
                if ((err = col->send_changelog(
                             col, st->changelog, st->task->partition,
                             brook__store_bytes(st->kbuf),
                             brook_buf_len(st->kbuf), vbytes, vsize, ts,
                             st->changelog_end, why, sizeof why)))
                        return brook__store_fail(st, err, "changelog", why);
        }
        return BROOK_OK;
}

/* Reads the bytes key in st->kbuf as of @p as_of and decodes the value. */
static brook_err_t vs_read(brook__store_t *st, int64_t as_of,
                           brook_versioned_record_t *recp)
{
        const void *val;
        char why[512];
        brook_err_t err;
        why[0] = '\0';

        memset(recp, 0, sizeof *recp);
        recp->timestamp = -1;
        recp->valid_to = BROOK_VERSIONED_LATEST;
        st->gets++;
        err = brook__versioned_get(
                st->inner, false, brook__store_bytes(st->kbuf),
                brook_buf_len(st->kbuf), as_of, st->vbuf, &recp->timestamp,
                &recp->valid_to, why, sizeof why);
        if (err == BROOK_ERR_NOT_FOUND) {
                recp->timestamp = -1;
                return err;
        }
        if (err)
                return brook__store_fail(st, err, "read", why);
        /* The bytes are the store's, valid until its next call: what the
         * value may point into must live as long as the record's arena. */
        val = brook__serde_stable(
                st->def->value_serde, brook__store_bytes(st->vbuf),
                brook_buf_len(st->vbuf), brook__store_arena(st));
        if ((err = brook_serde_deserialize(
                     st->def->value_serde, val, brook_buf_len(st->vbuf),
                     brook__store_arena(st), &recp->value, why, sizeof why)))
                return brook__store_fail(st, err, "value", why);
        return BROOK_OK;
}

brook_err_t brook_versionedstore_put(brook_versionedstore_t *vs,
                                     const void *key, const void *value,
                                     int64_t timestamp, int64_t *valid_top,
                                     char *errstr, size_t errstr_size)
{
        brook__store_t *st = VS(vs);
        int64_t code = BROOK_VERSIONED_NOT_PUT;
        brook_err_t err = brook__store_enc_key(st, key, st->kbuf);
        if (!err)
                err = vs_write(st, value, timestamp, &code);
        if (valid_top)
                *valid_top = code;
        return brook__store_ret(st, err, errstr, errstr_size);
}

brook_err_t brook_versionedstore_delete(brook_versionedstore_t *vs,
                                        const void *key, int64_t timestamp,
                                        brook_versioned_record_t *oldp,
                                        char *errstr, size_t errstr_size)
{
        brook__store_t *st = VS(vs);
        brook_versioned_record_t old = {.timestamp = -1,
                                        .valid_to = BROOK_VERSIONED_LATEST};
        int64_t code, observed = brook__versioned_observed(st->inner);
        brook_err_t err = brook__store_enc_key(st, key, st->kbuf);

        if (oldp)
                *oldp = old;
        if (err)
                return brook__store_ret(st, err, errstr, errstr_size);
        if (timestamp < 0) {
                err = brook__store_fail(st, BROOK_ERR_INVALID_ARG, "delete",
                                        "the timestamp is negative");
                return brook__store_ret(st, err, errstr, errstr_size);
        }
        /* Kafka Streams: past the grace period nothing is read or
         * deleted ("Skipping record for expired delete"). */
        if (timestamp < observed - st->def->retention_ms) {
                brook__drop(st->task->rt, BROOK_DROP_EXPIRED,
                            "task %s: store \"%s\": skipping a delete at "
                            "%" PRId64 ", older than the history retention "
                            "(%" PRId64 " ms) allows",
                            st->task->id, st->def->name, timestamp,
                            st->def->retention_ms);
                return BROOK_ERR_NOT_FOUND;
        }
        err = vs_read(st, timestamp, &old);
        if (err && err != BROOK_ERR_NOT_FOUND)
                return brook__store_ret(st, err, errstr, errstr_size);
        /* vs_read left the key in kbuf. */
        if (!(err = vs_write(st, NULL, timestamp, &code)) && !old.value)
                err = BROOK_ERR_NOT_FOUND;
        if (oldp)
                *oldp = old;
        return brook__store_ret(st, err, errstr, errstr_size);
}

brook_err_t brook_versionedstore_get_as_of(brook_versionedstore_t *vs,
                                           const void *key, int64_t as_of,
                                           brook_versioned_record_t *recp,
                                           char *errstr, size_t errstr_size)
{
        brook__store_t *st = VS(vs);
        brook_err_t err = brook__store_enc_key(st, key, st->kbuf);
        if (err) {
                memset(recp, 0, sizeof *recp);
                recp->timestamp = -1;
                recp->valid_to = BROOK_VERSIONED_LATEST;
                return brook__store_ret(st, err, errstr, errstr_size);
        }
        return brook__store_ret(st, vs_read(st, as_of, recp), errstr,
                                errstr_size);
}

brook_err_t brook_versionedstore_get(brook_versionedstore_t *vs,
                                     const void *key,
                                     brook_versioned_record_t *recp,
                                     char *errstr, size_t errstr_size)
{
        return brook_versionedstore_get_as_of(vs, key, INT64_MAX, recp, errstr,
                                              errstr_size);
}
