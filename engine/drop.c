/*
 * brook — dropped records: every record skipped without the output it
 * would have made is counted under its reason (Kafka Streams'
 * dropped-records sensor, which has no reasons) and logged, rate-limited
 * so that a flood of bad input cannot flood the log.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "brook_int.h"

/* One warning per reason per thread every this many ms (wall clock),
 * after the first. */
#define BROOK__DROP_WARN_MS 10000

static const char *const brook__drop_names[BROOK__DROP_CNT] = {
        [BROOK_DROP_INVALID_TIMESTAMP] = "invalid_timestamp",
        [BROOK_DROP_DESERIALIZATION_ERROR] = "deserialization_error",
        [BROOK_DROP_PROCESSING_ERROR] = "processing_error",
        [BROOK_DROP_PRODUCTION_ERROR] = "production_error",
        [BROOK_DROP_NULL_KEY] = "null_key",
        [BROOK_DROP_NULL_VALUE] = "null_value",
        [BROOK_DROP_LATE] = "late",
        [BROOK_DROP_EXPIRED] = "expired",
        [BROOK_DROP_STALE] = "stale",
        [BROOK_DROP_OUT_OF_ORDER] = "out_of_order",
};

const char *brook_drop_reason_name(brook_drop_reason_t reason)
{
        if ((int)reason < 0 || (int)reason >= BROOK__DROP_CNT)
                return NULL;
        return brook__drop_names[reason];
}

int64_t brook__drops_sum(const _Atomic long long *pub)
{
        int64_t n = 0;
        for (int r = 0; r < BROOK__DROP_CNT; r++)
                n += atomic_load(&pub[r]);
        return n;
}

void brook__drop(brook__runtime_t *rt, brook_drop_reason_t reason,
                 const char *fmt, ...)
{
        char msg[1024];
        va_list ap;
        int64_t now;

        rt->drops[reason]++;
        if (rt->drops_pub)
                atomic_store(&rt->drops_pub[reason], rt->drops[reason]);
        /* The runtime's clock, so the test driver's mocked one rules. */
        now = rt->wall_clock(rt);
        /* 0 is "never logged": the first drop of a reason always logs. */
        if (rt->drop_warn_next[reason] && now < rt->drop_warn_next[reason]) {
                rt->drop_unlogged[reason]++;
                return;
        }
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (rt->drop_unlogged[reason])
                brook__log("WARN",
                           "%s (dropped: %s; %" PRId64
                           " more dropped for this reason since the last "
                           "warning)",
                           msg, brook__drop_names[reason],
                           rt->drop_unlogged[reason]);
        else
                brook__log("WARN", "%s (dropped: %s)", msg,
                           brook__drop_names[reason]);
        rt->drop_unlogged[reason] = 0;
        rt->drop_warn_next[reason] = now + BROOK__DROP_WARN_MS;
        if (!rt->drop_warn_next[reason])
                rt->drop_warn_next[reason] = 1;
}

void brook__ctx_drop(brook_ctx_t *ctx, const brook_record_t *rec,
                     brook_drop_reason_t reason, const char *why)
{
        const brook__recmeta_t *meta = rec->meta;
        /* Kafka Streams' words: "Skipping record due to null key or
         * value. topic=[..] partition=[..] offset=[..]". */
        brook__drop(ctx->task->rt, reason,
                    "task %s: node \"%s\": skipping record due to %s. "
                    "topic=[%s] partition=[%" PRId32 "] offset=[%" PRId64 "]",
                    ctx->task->id, ctx->node->name, why,
                    meta && meta->topic ? meta->topic : "",
                    meta ? meta->partition : -1, meta ? meta->offset : -1);
}

void brook__ctx_fatal(brook_ctx_t *ctx, const char *fmt, ...)
{
        brook__task_t *task = ctx->task;
        char msg[400];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        task->fatal_failed = true;
        brook__seterr(task->fatal_errbuf, sizeof task->fatal_errbuf,
                      "in node \"%s\": %s", ctx->node->name, msg);
}

/* librdkafka's RD_KAFKAP_MESSAGE_V2_MAX_OVERHEAD: length, attributes,
 * timestamp delta, offset delta, key length, value length and header count,
 * each varint at its largest. */
#define BROOK__RECORD_OVERHEAD (5 + 1 + 10 + 5 + 5 + 5 + 5)

size_t brook__record_wire_size(size_t key_size, size_t value_size,
                               const rd_kafka_headers_t *hdrs)
{
        size_t size = BROOK__RECORD_OVERHEAD + key_size + value_size, i;
        const char *name;
        const void *val;
        size_t val_size;

        /* Each header: name length and value length as varints (at most 5
         * bytes each for sizes librdkafka takes), then the bytes. */
        for (i = 0;
             hdrs && !rd_kafka_header_get_all(hdrs, i, &name, &val, &val_size);
             i++)
                size += 10 + strlen(name) + (val ? val_size : 0);
        return size;
}
