/*
 * brook — the serde of a table update carried through a repartition topic
 * (a table's group_by), byte-compatible with Kafka Streams'
 * ChangedSerializer / ChangedDeserializer:
 *
 *   old value only:  [old value's bytes][0]
 *   new value only:  [new value's bytes][1]
 *   both:            [varint: new value's length][new][old][2]
 *
 * The varint is Kafka's (ByteUtils.writeVarint: zig-zag, then 7 bits per
 * byte, least significant first).
 */
#include <stdlib.h>
#include <string.h>

#include "brook_int.h"

static brook_err_t change_serialize(const void *obj, brook_buf_t *out,
                                    void *opaque, char *errstr,
                                    size_t errstr_size)
{
        const brook_serde_t *inner = opaque;
        const brook__changed_t *c = obj;
        brook_buf_t *tmp;
        unsigned char flag, v[5];
        uint32_t z;
        size_t n = 0;
        brook_err_t err;

        if (!c->new_value && !c->old_value) {
                brook__seterr(errstr, errstr_size,
                              "both old and new values are null in a table "
                              "update");
                return BROOK_ERR_SERDE;
        }
        if (!c->new_value || !c->old_value) {
                flag = c->new_value ? 1 : 0;
                if ((err = brook_serde_serialize(
                             inner, c->new_value ? c->new_value : c->old_value,
                             out, errstr, errstr_size)))
                        return err;
                brook_buf_append(out, &flag, 1);
                return BROOK_OK;
        }
        tmp = brook_buf_new();
        if ((err = brook_serde_serialize(inner, c->new_value, tmp, errstr,
                                         errstr_size)))
                goto done;
        z = (uint32_t)brook_buf_len(tmp);
        z = (z << 1) ^ (uint32_t)((int32_t)z >> 31);
        do {
                v[n++] = (unsigned char)((z & 0x7f) | (z > 0x7f ? 0x80 : 0));
                z >>= 7;
        } while (z);
        brook_buf_append(out, v, n);
        brook_buf_append(out, brook_buf_data(tmp), brook_buf_len(tmp));
        if ((err = brook_serde_serialize(inner, c->old_value, out, errstr,
                                         errstr_size)))
                goto done;
        flag = 2;
        brook_buf_append(out, &flag, 1);
done:
        brook_buf_destroy(tmp);
        return err;
}

static brook_err_t change_deserialize(const void *data, size_t size,
                                      brook_arena_t *arena, void **objp,
                                      void *opaque, char *errstr,
                                      size_t errstr_size)
{
        const brook_serde_t *inner = opaque;
        const unsigned char *p = data;
        brook__changed_t *c;
        brook_err_t err;

        *objp = NULL;
        if (!data)
                return BROOK_OK;
        if (size < 1 || p[size - 1] > 2) {
                brook__seterr(errstr, errstr_size,
                              "a table update of %zu bytes does not end in "
                              "0, 1 or 2",
                              size);
                return BROOK_ERR_SERDE;
        }
        c = brook_arena_alloc(arena, sizeof *c);
        c->new_value = c->old_value = NULL;
        if (p[size - 1] < 2) {
                /* An empty value's bytes are not a NULL one. */
                err = brook_serde_deserialize(
                        inner, size > 1 ? p : (const void *)"", size - 1, arena,
                        p[size - 1] ? &c->new_value : &c->old_value, errstr,
                        errstr_size);
        } else {
                uint32_t z = 0, len;
                size_t i = 0;
                int shift = 0;
                do {
                        if (i >= size - 1 || shift > 28) {
                                brook__seterr(errstr, errstr_size,
                                              "a table update's length is "
                                              "not a varint");
                                return BROOK_ERR_SERDE;
                        }
                        z |= (uint32_t)(p[i] & 0x7f) << shift;
                        shift += 7;
                } while (p[i++] & 0x80);
                len = (z >> 1) ^ (uint32_t) - (int32_t)(z & 1);
                if ((int32_t)len < 0 || len > size - 1 - i) {
                        brook__seterr(errstr, errstr_size,
                                      "a table update's new value (%u "
                                      "bytes) is longer than the update",
                                      len);
                        return BROOK_ERR_SERDE;
                }
                if (!(err = brook_serde_deserialize(inner, p + i, len, arena,
                                                    &c->new_value, errstr,
                                                    errstr_size)))
                        err = brook_serde_deserialize(
                                inner, p + i + len, size - 1 - i - len, arena,
                                &c->old_value, errstr, errstr_size);
        }
        if (err)
                return err;
        *objp = c;
        return BROOK_OK;
}

static void change_destroy(void *opaque)
{
        brook__serde_unref(opaque);
}

brook_serde_t *brook__serde_change(const brook_serde_t *inner)
{
        brook_serde_t *serde;

        brook__serde_ref(inner);
        serde = brook_serde_new("change", change_serialize, change_deserialize,
                                (void *)inner, change_destroy, NULL, 0);
        if (!serde)
                brook__serde_unref(inner);
        return serde;
}
