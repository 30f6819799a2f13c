/*
 * A RocksDB store whose every put takes at least a given time: the tests'
 * way to make a restoration take several times max.poll.interval.ms
 * without writing millions of changelog records. Everything else goes
 * straight to brook's RocksDB store.
 */
#ifndef BROOK_TESTS_SLOW_STORE_H
#define BROOK_TESTS_SLOW_STORE_H

#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include <brook/brook.h>

typedef struct slow_store {
        void *inner;
        const brook_kvstore_ops_t *ops;
        unsigned put_us;
} slow_store_t;

/* A gate: while slow_gate_closed is set, every get waits (counted in
 * slow_gate_waiting), so that a test can hold a stream thread at a record
 * before the processor has written or sent anything for it. */
static atomic_int slow_gate_closed, slow_gate_waiting;

static brook_err_t slow_get(void *self, const void *key, size_t key_size,
                            brook_buf_t *out, char *errstr, size_t errstr_size)
{
        slow_store_t *s = self;
        if (atomic_load(&slow_gate_closed)) {
                atomic_fetch_add(&slow_gate_waiting, 1);
                while (atomic_load(&slow_gate_closed))
                        usleep(1000);
                atomic_fetch_sub(&slow_gate_waiting, 1);
        }
        return s->ops->get(s->inner, key, key_size, out, errstr, errstr_size);
}

static brook_err_t slow_put(void *self, const void *key, size_t key_size,
                            const void *value, size_t value_size, char *errstr,
                            size_t errstr_size)
{
        slow_store_t *s = self;
        usleep(s->put_us);
        return s->ops->put(s->inner, key, key_size, value, value_size, errstr,
                           errstr_size);
}

static brook_err_t slow_range(void *self, const void *from, size_t from_size,
                              const void *to, size_t to_size,
                              brook_kvbytes_iter_t **itp, char *errstr,
                              size_t errstr_size)
{
        slow_store_t *s = self;
        return s->ops->range(s->inner, from, from_size, to, to_size, itp,
                             errstr, errstr_size);
}

static uint64_t slow_count(void *self)
{
        slow_store_t *s = self;
        return s->ops->approximate_count(s->inner);
}

static brook_err_t slow_flush(void *self, int64_t offset, char *errstr,
                              size_t errstr_size)
{
        slow_store_t *s = self;
        return s->ops->flush(s->inner, offset, errstr, errstr_size);
}

static int64_t slow_stored_offset(void *self)
{
        slow_store_t *s = self;
        return s->ops->stored_offset(s->inner);
}

static brook_err_t slow_clear(void *self, char *errstr, size_t errstr_size)
{
        slow_store_t *s = self;
        return s->ops->clear(s->inner, errstr, errstr_size);
}

static brook_err_t slow_query_get(void *self, const void *key, size_t key_size,
                                  brook_buf_t *out, char *errstr,
                                  size_t errstr_size)
{
        slow_store_t *s = self;
        return s->ops->query_get(s->inner, key, key_size, out, errstr,
                                 errstr_size);
}

static brook_err_t slow_query_range(void *self, const void *from,
                                    size_t from_size, const void *to,
                                    size_t to_size, brook_kvbytes_iter_t **itp,
                                    char *errstr, size_t errstr_size)
{
        slow_store_t *s = self;
        return s->ops->query_range(s->inner, from, from_size, to, to_size, itp,
                                   errstr, errstr_size);
}

static void slow_close(void *self)
{
        slow_store_t *s = self;
        s->ops->close(s->inner);
        free(s);
}

static const brook_kvstore_ops_t slow_ops = {
        .kind = "slow-rocksdb",
        .persistent = true,
        .get = slow_get,
        .put = slow_put,
        .range = slow_range,
        .approximate_count = slow_count,
        .flush = slow_flush,
        .stored_offset = slow_stored_offset,
        .clear = slow_clear,
        .query_get = slow_query_get,
        .query_range = slow_query_range,
        .close = slow_close,
};

/* The supplier's opaque is the put delay in microseconds. */
static brook_err_t slow_open(const brook_kvstore_open_t *info, void *opaque,
                             void **selfp, const brook_kvstore_ops_t **opsp,
                             char *errstr, size_t errstr_size)
{
        const brook_kvstore_supplier_t *rdb = brook_kvstore_rocksdb();
        slow_store_t *s = calloc(1, sizeof *s);
        brook_err_t err;
        if (!s)
                abort();
        s->put_us = (unsigned)(uintptr_t)opaque;
        if ((err = rdb->open(info, rdb->opaque, &s->inner, &s->ops, errstr,
                             errstr_size))) {
                free(s);
                return err;
        }
        *selfp = s;
        *opsp = &slow_ops;
        return BROOK_OK;
}

/** A supplier of RocksDB stores whose puts take @p put_us each. The
 *  returned struct must outlive the app; @p sup is filled and returned. */
static inline const brook_kvstore_supplier_t *
slow_store_supplier(brook_kvstore_supplier_t *sup, unsigned put_us)
{
        sup->open = slow_open;
        sup->opaque = (void *)(uintptr_t)put_us;
        sup->version = 0;
        return sup;
}

#endif
