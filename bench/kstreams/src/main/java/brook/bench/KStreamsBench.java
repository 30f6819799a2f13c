/*
 * brook-kstreams-bench — Kafka Streams' side of brook's pipe and state
 * benchmarks: the workloads of bench/app.c (brook-bench-app), written with
 * the Kafka Streams DSL, run until they have done what the workload must do.
 *
 *   bench-kstreams --bootstrap B --input T --output O --records N
 *                  --workload passthrough|filter-map|count|hopping-count|
 *                             session-count [--threads 1]
 *                  [--app-id ID] [--state-dir D] [--commit-ms N]
 *                  [--cache-bytes N]
 *                  [--guarantee at_least_once|exactly_once_v2]
 *                  [--timeout 600] [--expect-output N]
 *                  [--config K=V]...
 *   bench-kstreams --bootstrap B --input T --other T2 --output O --records N
 *                  --expect-output M --workload st-join|ss-join [as above]
 *   bench-kstreams --bootstrap B --input T --output O --records N
 *                  --workload avro-passthrough|avro-count --registry URL
 *                  [--avro-schema FILE] [as above]
 *
 * Workloads (bench/records.h, bench/state.h; byte-identical output to
 * brook's):
 *   passthrough  source (bytes, bytes) → sink (bytes, bytes)
 *   filter-map   source → filter (the sequence number in the value, 16 hex
 *                digits and '|' or JSON's "id", is even) → mapValues
 *                (ASCII a-z upper-cased, every other byte as is) → sink
 *   count        source (string, bytes) → groupByKey → count into the store
 *                "counts" (string, long; RocksDB, cached) → toStream →
 *                sink (string, long: 8 bytes big-endian, brook's int64).
 *   hopping-count, session-count
 *                source (string, bytes) → groupByKey → windowedBy
 *                (TimeWindows.ofSizeAndGrace(1 s, 1 s).advanceBy(500 ms);
 *                SessionWindows.ofInactivityGapAndGrace(5 s, 1 s);
 *                bench/state.h) → count into the window (session) store
 *                "counts" (RocksDB, cached) → toStream → sink
 *                (WindowedSerdes' time- or session-windowed string key,
 *                long). The input's timestamps are bench/state.h's
 *                bench_event_time().
 *   st-join      stream T (string, string) → join(table(T2) (string,
 *                string; materialized as Kafka Streams does for a join:
 *                RocksDB, cached)) → sink (string, string); value v + "|" +
 *                the table's (bench/join.h).
 *   ss-join      stream T → join(stream T2,
 *                JoinWindows.ofTimeDifferenceAndGrace(10 s, 60 s),
 *                StreamJoined.with(the string serdes): default stores,
 *                RocksDB) → sink; value left + "|" + right.
 *                For both joins N is every input record (st-join: events
 *                and table rows; ss-join: both streams) and M the output
 *                count.
 *   avro-passthrough
 *                source (bytes, GenericRecord) → sink (bytes,
 *                GenericRecord): every value decoded and encoded again by
 *                Apicurio Registry's Avro serdes in the Confluent wire
 *                format (AvroSerdes.java, as tests/avro-java), read in the
 *                schema of FILE (default ../record.avsc, bench/record.avsc)
 *                and registered under "<O>-value" on first use.
 *   avro-count   count's topology with Avro values: source (string,
 *                GenericRecord) → groupByKey → count → sink (string, long).
 *                Both talk to the Schema Registry at URL (its
 *                Confluent-compatible base, or its core v3 one).
 *
 * Defaults are brook's (and Kafka Streams'): commit.interval.ms 30000 (100
 * under exactly_once_v2), statestore.cache.max.bytes 10485760, one thread,
 * auto.offset.reset earliest. Without --state-dir the state lives in a new
 * temporary directory, deleted at exit. Each --config K=V sets Kafka Streams
 * property K (its clients' too, as StreamsConfig passes them on, e.g.
 * compression.type or producer.compression.type) after those. A prefixed
 * client property wins over an unprefixed one in Kafka Streams, so
 * changing auto.offset.reset takes consumer.auto.offset.reset.
 *
 * Done detection, as brook-bench-app: a peek() just before the sink counts
 * the records sent to it and one at the source the records processed.
 * The main thread polls them every millisecond until the first record is
 * processed, then every 50 ms. A pipe is done when the output count
 * reaches --expect-output (default: what records.h's
 * bench_expected_count() gives for N) and N records were processed; count,
 * the windowed counts and the joins when N input records were processed.
 * Then KafkaStreams.close() flushes the producer, commits and (count)
 * flushes the cache. A source table cannot be peeked, so st-join counts
 * its table's records in the table source's timestamp extractor (the
 * default one's behaviour: the record's timestamp), which Kafka Streams
 * calls once per record as it becomes its partition's next; every row is
 * older than every event, so the rows are processed before the last
 * event of their partition and the count reaches N only once all are.
 *
 * Prints to stdout, for passthrough, filter-map and avro-passthrough,
 *   RESULT records=<n> seconds=<s> processed=<n> produced_seconds=<s>
 *          close_seconds=<s>
 * and for count, avro-count, hopping-count, session-count, st-join and ss-join
 *   RESULT records=<n> seconds=<s> processed=<n> produced=<n>
 *          processed_seconds=<s> close_seconds=<s> rocksdb_peak_bytes=<n>
 * with brook-bench-app's meanings: seconds from the first record processed
 * until close() returned. rocksdb_peak_bytes is the largest sum seen of
 * the stores' "size-all-mem-tables" and "block-cache-usage" metrics.
 * Exits 1 (reason on stderr) on a timeout, an ERROR state or a wrong
 * output count (the joins: not exactly M); 2 on a usage error.
 */
package brook.bench;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.WindowedSerdes;
import org.apache.kafka.streams.processor.TimestampExtractor;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.SessionStore;
import org.apache.kafka.streams.state.WindowStore;

public final class KStreamsBench {
    private static final String PROG = "brook-kstreams-bench";
    private static final String COUNT_STORE = "counts";
    /* bench/state.h's windows. */
    private static final long HOP_SIZE_MS = 1000;
    private static final long HOP_ADVANCE_MS = 500;
    private static final long HOP_GRACE_MS = 1000;
    private static final long SESSION_GAP_MS = 5000;
    private static final long SESSION_GRACE_MS = 1000;
    /* bench/join.h's join window and the joined values' separator. */
    private static final long SS_WINDOW_MS = 10000;
    private static final long SS_GRACE_MS = 60000;
    private static final String JOIN_SEP = "|";
    /* records.h: 16 hex digits of the sequence number and a '|'. */
    private static final int BINARY_HEADER_SIZE = 17;
    private static final byte[] JSON_PREFIX = "{\"id\":".getBytes();

    private static final AtomicLong processed = new AtomicLong();
    /* st-join's table rows, counted as they are taken (see above). */
    private static final AtomicLong tableRecords = new AtomicLong();
    private static final AtomicLong produced = new AtomicLong();
    /* Values the filter could not read: the input is not the loader's. */
    private static final AtomicLong unreadable = new AtomicLong();

    private KStreamsBench() {
    }

    private static final class UsageException extends Exception {
        UsageException(String msg) {
            super(msg);
        }
    }

    private static void usage() {
        System.err.println("usage: bench-kstreams --bootstrap B --input T --output O --records N\n"
                + "          --workload passthrough|filter-map|count|hopping-count|session-count\n"
                + "          [--threads 1]\n"
                + "          [--app-id ID] [--state-dir D] [--commit-ms N] [--cache-bytes N]\n"
                + "          [--guarantee at_least_once|exactly_once_v2] [--timeout 600]\n"
                + "          [--expect-output N] [--config K=V]...\n"
                + "       bench-kstreams --bootstrap B --input T --other T2 --output O --records N\n"
                + "          --expect-output M --workload st-join|ss-join [as above]\n"
                + "       bench-kstreams --bootstrap B --input T --output O --records N\n"
                + "          --workload avro-passthrough|avro-count --registry URL [--avro-schema FILE]\n"
                + "          [as above]");
    }

    /* records.h bench_value_seq(): -1 when the value is neither format. */
    static long valueSeq(byte[] p) {
        if (p == null)
            return -1;
        int size = p.length;
        long seq = 0;
        if (size > 6 && startsWith(p, JSON_PREFIX)) {
            int i = 6;
            if (p[i] < '0' || p[i] > '9')
                return -1;
            for (; i < size && p[i] >= '0' && p[i] <= '9'; i++)
                seq = seq * 10 + (p[i] - '0');
            return seq & Long.MAX_VALUE;
        }
        if (size < BINARY_HEADER_SIZE || p[16] != '|')
            return -1;
        for (int i = 0; i < 16; i++) {
            int c = p[i], d;
            if (c >= '0' && c <= '9')
                d = c - '0';
            else if (c >= 'a' && c <= 'f')
                d = c - 'a' + 10;
            else
                return -1;
            seq = (seq << 4) | d;
        }
        /* A uint64 in C; only its parity matters here. */
        return seq & Long.MAX_VALUE;
    }

    private static boolean startsWith(byte[] p, byte[] prefix) {
        for (int i = 0; i < prefix.length; i++)
            if (p[i] != prefix[i])
                return false;
        return true;
    }

    /* records.h bench_filter_keep(). */
    static boolean filterKeep(long seq) {
        return seq % 2 == 0;
    }

    /* records.h bench_map_value(): ASCII a-z upper-cased, a new array. */
    static byte[] mapValue(byte[] in) {
        byte[] out = new byte[in.length];
        for (int i = 0; i < in.length; i++) {
            byte c = in[i];
            out[i] = (c >= 'a' && c <= 'z') ? (byte) (c - 32) : c;
        }
        return out;
    }

    /* records.h bench_expected_count(), with the predicate itself. */
    static long expectedCount(String workload, long records) {
        if (workload.equals("passthrough") || workload.equals("avro-passthrough"))
            return records;
        long n = 0;
        for (long seq = 0; seq < records; seq++)
            n += filterKeep(seq) ? 1 : 0;
        return n;
    }

    /* The default extractor's timestamp (FailOnInvalidTimestamp: the
     * loader writes none that is invalid), counting the records. */
    private static final class CountingExtractor implements TimestampExtractor {
        @Override
        public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
            tableRecords.incrementAndGet();
            return record.timestamp();
        }
    }

    private static Topology topology(String input, String other, String output, String workload,
            Serde<GenericRecord> avro) {
        StreamsBuilder b = new StreamsBuilder();
        if (workload.equals("avro-passthrough")) {
            /* Decoded at the source, encoded again at the sink. */
            b.stream(input, Consumed.with(Serdes.ByteArray(), avro))
                    .peek((k, v) -> processed.incrementAndGet())
                    .peek((k, v) -> produced.incrementAndGet())
                    .to(output, Produced.with(Serdes.ByteArray(), avro));
        } else if (workload.equals("avro-count")) {
            /* count's, with every value decoded at the source. */
            b.stream(input, Consumed.with(Serdes.String(), avro))
                    .peek((k, v) -> processed.incrementAndGet())
                    .groupByKey()
                    .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as(COUNT_STORE)
                            .withKeySerde(Serdes.String())
                            .withValueSerde(Serdes.Long())
                            .withCachingEnabled())
                    .toStream()
                    .peek((k, v) -> produced.incrementAndGet())
                    .to(output, Produced.with(Serdes.String(), Serdes.Long()));
        } else if (workload.equals("st-join")) {
            /* The defaults: the table's store is materialized for the
             * join, RocksDB and cached. */
            KStream<String, String> events = b.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
                    .peek((k, v) -> processed.incrementAndGet());
            KTable<String, String> table = b.table(other,
                    Consumed.with(Serdes.String(), Serdes.String()).withTimestampExtractor(new CountingExtractor()));
            events.join(table, (v, t) -> v + JOIN_SEP + t)
                    .peek((k, v) -> produced.incrementAndGet())
                    .to(output, Produced.with(Serdes.String(), Serdes.String()));
        } else if (workload.equals("ss-join")) {
            KStream<String, String> left = b.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
                    .peek((k, v) -> processed.incrementAndGet());
            KStream<String, String> right = b.stream(other, Consumed.with(Serdes.String(), Serdes.String()))
                    .peek((k, v) -> processed.incrementAndGet());
            /* The serdes for the stores, which the peeks hide from the
             * join (brook's join takes them from its sources); the stores
             * are the defaults. */
            left.join(right, (l, r) -> l + JOIN_SEP + r,
                    JoinWindows.ofTimeDifferenceAndGrace(Duration.ofMillis(SS_WINDOW_MS),
                            Duration.ofMillis(SS_GRACE_MS)),
                    StreamJoined.with(Serdes.String(), Serdes.String(), Serdes.String()))
                    .peek((k, v) -> produced.incrementAndGet())
                    .to(output, Produced.with(Serdes.String(), Serdes.String()));
        } else if (workload.equals("hopping-count")) {
            /* RocksDB with caching, retention size + grace: the defaults,
             * as brook's. */
            b.stream(input, Consumed.with(Serdes.String(), Serdes.ByteArray()))
                    .peek((k, v) -> processed.incrementAndGet())
                    .groupByKey()
                    .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(HOP_SIZE_MS),
                            Duration.ofMillis(HOP_GRACE_MS)).advanceBy(Duration.ofMillis(HOP_ADVANCE_MS)))
                    .count(Materialized.<String, Long, WindowStore<Bytes, byte[]>>as(COUNT_STORE)
                            .withKeySerde(Serdes.String())
                            .withValueSerde(Serdes.Long())
                            .withCachingEnabled())
                    .toStream()
                    .peek((k, v) -> produced.incrementAndGet())
                    .to(output, Produced.with(WindowedSerdes.timeWindowedSerdeFrom(String.class, HOP_SIZE_MS),
                            Serdes.Long()));
        } else if (workload.equals("session-count")) {
            b.stream(input, Consumed.with(Serdes.String(), Serdes.ByteArray()))
                    .peek((k, v) -> processed.incrementAndGet())
                    .groupByKey()
                    .windowedBy(SessionWindows.ofInactivityGapAndGrace(Duration.ofMillis(SESSION_GAP_MS),
                            Duration.ofMillis(SESSION_GRACE_MS)))
                    .count(Materialized.<String, Long, SessionStore<Bytes, byte[]>>as(COUNT_STORE)
                            .withKeySerde(Serdes.String())
                            .withValueSerde(Serdes.Long())
                            .withCachingEnabled())
                    .toStream()
                    .peek((k, v) -> produced.incrementAndGet())
                    .to(output, Produced.with(WindowedSerdes.sessionWindowedSerdeFrom(String.class),
                            Serdes.Long()));
        } else if (!workload.equals("count")) {
            KStream<byte[], byte[]> s = b.stream(input, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()))
                    .peek((k, v) -> processed.incrementAndGet());
            if (workload.equals("filter-map")) {
                s = s.filter((k, v) -> {
                    long seq = valueSeq(v);
                    if (seq < 0) {
                        unreadable.incrementAndGet();
                        return false;
                    }
                    return filterKeep(seq);
                }).mapValues(v -> v == null ? null : mapValue(v));
            }
            s.peek((k, v) -> produced.incrementAndGet())
                    .to(output, Produced.with(Serdes.ByteArray(), Serdes.ByteArray()));
        } else {
            /* RocksDB with caching: the defaults, as brook's. */
            b.stream(input, Consumed.with(Serdes.String(), Serdes.ByteArray()))
                    .peek((k, v) -> processed.incrementAndGet())
                    .groupByKey()
                    .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as(COUNT_STORE)
                            .withKeySerde(Serdes.String())
                            .withValueSerde(Serdes.Long())
                            .withCachingEnabled())
                    .toStream()
                    .peek((k, v) -> produced.incrementAndGet())
                    .to(output, Produced.with(Serdes.String(), Serdes.Long()));
        }
        return b.build();
    }

    /* The stores' memtables and block caches, as their metrics tell. */
    private static long rocksdbBytes(KafkaStreams streams) {
        long sum = 0;
        for (Map.Entry<MetricName, ? extends Metric> e : streams.metrics().entrySet()) {
            MetricName n = e.getKey();
            if (!n.group().equals("stream-state-metrics"))
                continue;
            if (!n.name().equals("size-all-mem-tables") && !n.name().equals("block-cache-usage"))
                continue;
            Object v = e.getValue().metricValue();
            if (v instanceof Number)
                sum += ((Number) v).longValue();
        }
        return sum;
    }

    private static void deleteTree(Path root) {
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<Path>() {
                @Override
                public FileVisitResult visitFile(Path f, BasicFileAttributes a) throws IOException {
                    Files.deleteIfExists(f);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                    Files.deleteIfExists(d);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            System.err.println(PROG + ": cannot delete " + root + ": " + e);
        }
    }

    private static long parseLong(String opt, String v, long min) throws UsageException {
        try {
            long n = Long.parseLong(v);
            if (n < min)
                throw new UsageException(opt + " must be at least " + min + ", not " + v);
            return n;
        } catch (NumberFormatException e) {
            throw new UsageException(opt + " wants a number, not '" + v + "'");
        }
    }

    public static void main(String[] args) {
        int rc;
        try {
            rc = run(args);
        } catch (UsageException e) {
            System.err.println(PROG + ": " + e.getMessage());
            usage();
            rc = 2;
        }
        System.out.flush();
        /* Leftover non-daemon threads must not keep the process. */
        Runtime.getRuntime().halt(rc);
    }

    private static int run(String[] args) throws UsageException {
        String bootstrap = null, input = null, output = null, workload = null, appId = null, stateDir = null;
        String other = null, registry = null, avroSchema = "../record.avsc";
        String guarantee = "at_least_once";
        long records = -1, threads = 1, commitMs = -1, cacheBytes = 10485760L, timeoutS = 600, expectOutput = -1;
        Properties extra = new Properties();

        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--help") || a.equals("-h")) {
                usage();
                return 0;
            }
            if (i + 1 >= args.length)
                throw new UsageException("unknown option or missing value: " + a);
            String v = args[++i];
            switch (a) {
            case "--bootstrap": bootstrap = v; break;
            case "--input": input = v; break;
            case "--output": output = v; break;
            case "--other": other = v; break;
            case "--records": records = parseLong(a, v, 0); break;
            case "--workload": workload = v; break;
            case "--threads": threads = parseLong(a, v, 1); break;
            case "--app-id": appId = v; break;
            case "--state-dir": stateDir = v; break;
            case "--commit-ms": commitMs = parseLong(a, v, 0); break;
            case "--cache-bytes": cacheBytes = parseLong(a, v, 0); break;
            case "--guarantee": guarantee = v; break;
            case "--timeout": timeoutS = parseLong(a, v, 1); break;
            case "--expect-output": expectOutput = parseLong(a, v, 0); break;
            case "--registry": registry = v; break;
            case "--avro-schema": avroSchema = v; break;
            case "--config": {
                int eq = v.indexOf('=');
                if (eq <= 0)
                    throw new UsageException("--config needs K=V, not '" + v + "'");
                extra.setProperty(v.substring(0, eq), v.substring(eq + 1));
                break;
            }
            default:
                throw new UsageException("unknown option " + a);
            }
        }
        if (bootstrap == null || input == null || output == null || workload == null || records < 0)
            throw new UsageException("--bootstrap, --input, --output, --records and --workload are needed");
        if (!workload.equals("passthrough") && !workload.equals("filter-map") && !workload.equals("count")
                && !workload.equals("hopping-count") && !workload.equals("session-count")
                && !workload.equals("st-join") && !workload.equals("ss-join")
                && !workload.equals("avro-passthrough") && !workload.equals("avro-count"))
            throw new UsageException("unknown workload '" + workload + "' (passthrough, filter-map, count,"
                    + " hopping-count, session-count, st-join, ss-join, avro-passthrough, avro-count)");
        boolean avro = workload.startsWith("avro-");
        if (avro != (registry != null))
            throw new UsageException("--registry goes with avro-passthrough and avro-count, and only with them");
        boolean join = workload.endsWith("-join");
        if (join != (other != null) || (join && expectOutput < 0))
            throw new UsageException("--other goes with st-join and ss-join only, and they need --expect-output");
        if (!guarantee.equals(StreamsConfig.AT_LEAST_ONCE) && !guarantee.equals(StreamsConfig.EXACTLY_ONCE_V2))
            throw new UsageException("unknown guarantee '" + guarantee + "' (at_least_once, exactly_once_v2)");
        if (appId == null)
            appId = "brook-kstreams-bench-" + ProcessHandle.current().pid();

        /* The workloads that stop once N input records are counted. */
        boolean count = workload.equals("count") || workload.endsWith("-count") || join;
        long target = join ? expectOutput
                : count ? records : expectOutput >= 0 ? expectOutput : expectedCount(workload, records);

        Path tmpState = null;
        if (stateDir == null) {
            try {
                tmpState = Files.createTempDirectory("brook-kstreams-bench-");
            } catch (IOException e) {
                System.err.println(PROG + ": cannot create a state dir: " + e);
                return 1;
            }
            stateDir = tmpState.toString();
        }
        Serde<GenericRecord> avroSerde = null;
        if (avro) {
            try {
                Schema reader = new Schema.Parser().parse(Files.readString(Path.of(avroSchema)));
                avroSerde = AvroSerdes.valueSerde(registry, reader);
            } catch (IOException | RuntimeException e) {
                System.err.println(PROG + ": the Avro serde (" + avroSchema + ", " + registry + "): " + e);
                return 1;
            }
        }
        try {
            return runApp(bootstrap, input, other, output, workload, appId, stateDir, guarantee, records, threads,
                    commitMs, cacheBytes, timeoutS, count, join, target, avroSerde, extra);
        } finally {
            if (tmpState != null)
                deleteTree(tmpState);
        }
    }

    private static int runApp(String bootstrap, String input, String other, String output, String workload,
            String appId, String stateDir, String guarantee, long records, long threads, long commitMs,
            long cacheBytes, long timeoutS, boolean count, boolean join, long target,
            Serde<GenericRecord> avro, Properties extra) {
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Long.toString(threads));
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        /* Unset, Kafka Streams picks 30000, or 100 under exactly_once_v2. */
        if (commitMs >= 0)
            props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Long.toString(commitMs));
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, Long.toString(cacheBytes));
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        /* There is no global state; this only silences the warning that
         * the handler will cover global threads from Kafka 5.0 on. */
        props.put("processing.exception.handler.global.enabled", "true");
        props.putAll(extra);

        KafkaStreams streams = new KafkaStreams(topology(input, other, output, workload, avro), props);
        AtomicReference<String> failure = new AtomicReference<>();
        streams.setUncaughtExceptionHandler(e -> {
            failure.compareAndSet(null, e.toString());
            e.printStackTrace();
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });

        long began = System.nanoTime(), first = 0, doneAt;
        long rdbPeak = 0;
        streams.start();
        for (;;) {
            long p = processed.get() + tableRecords.get(), o = produced.get();
            if (count) {
                long r = rocksdbBytes(streams);
                if (r > rdbPeak)
                    rdbPeak = r;
            }
            long now = System.nanoTime();
            if (first == 0 && p > 0)
                first = now;
            boolean done = count ? p >= records : o >= target && p >= records;
            if (done) {
                doneAt = now;
                break;
            }
            KafkaStreams.State st = streams.state();
            if (st == KafkaStreams.State.ERROR || st == KafkaStreams.State.PENDING_ERROR
                    || st == KafkaStreams.State.NOT_RUNNING || st == KafkaStreams.State.PENDING_SHUTDOWN) {
                String why = failure.get();
                System.err.println(PROG + ": the app stopped (state " + st + "): "
                        + (why != null ? why : "see its log above"));
                streams.close(Duration.ofSeconds(30));
                return 1;
            }
            if ((now - began) / 1e9 > timeoutS) {
                System.err.printf(Locale.ROOT, "%s: timed out after %d s: processed %d of %d, produced %d of %d%n",
                        PROG, timeoutS, p, records, o, target);
                streams.close(Duration.ofSeconds(30));
                return 1;
            }
            try {
                Thread.sleep(first != 0 ? 50 : 1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return 1;
            }
        }

        long closing = System.nanoTime();
        boolean closed = streams.close(Duration.ofSeconds(Math.max(60, timeoutS)));
        long closedAt = System.nanoTime();
        if (!closed) {
            System.err.println(PROG + ": closing the app timed out");
            return 1;
        }
        if (streams.state() == KafkaStreams.State.ERROR || failure.get() != null) {
            System.err.println(PROG + ": the app failed: " + failure.get());
            return 1;
        }

        long p = processed.get() + tableRecords.get(), o = produced.get(), bad = unreadable.get();
        double seconds = first != 0 ? (closedAt - first) / 1e9 : 0;
        double closeSeconds = (closedAt - closing) / 1e9;
        System.err.printf(Locale.ROOT,
                "%s: %s (%s): processed %d of %d records, produced %d%s, unreadable values %d;"
                        + " %.3f s before the first record, close took %.3f s%n",
                PROG, workload, guarantee, p, records, o, count && !join ? "" : " (expected " + target + ")", bad,
                first != 0 ? (first - began) / 1e9 : 0.0, closeSeconds);
        if (count) {
            if (p != records || o == 0 || (join && o != target)) {
                System.err.printf(Locale.ROOT, "%s: wrong count: processed %d of %d records, produced %d%n", PROG,
                        p, records, o);
                return 1;
            }
        } else if (o != target || bad != 0) {
            System.err.printf(Locale.ROOT, "%s: wrong output: produced %d records, expected %d%n", PROG, o,
                    target);
            return 1;
        }
        System.err.printf(Locale.ROOT, "%s: %d records in %.3f s (%.0f records/s)%n", PROG, records, seconds,
                seconds > 0 ? records / seconds : 0.0);
        if (count)
            System.out.printf(Locale.ROOT,
                    "RESULT records=%d seconds=%.6f processed=%d produced=%d processed_seconds=%.6f"
                            + " close_seconds=%.6f rocksdb_peak_bytes=%d%n",
                    p, seconds, p, o, first != 0 ? (doneAt - first) / 1e9 : 0.0, closeSeconds, rdbPeak);
        else
            System.out.printf(Locale.ROOT,
                    "RESULT records=%d seconds=%.6f processed=%d produced_seconds=%.6f close_seconds=%.6f%n", o,
                    seconds, p, first != 0 ? (doneAt - first) / 1e9 : 0.0, (closedAt - doneAt) / 1e9);
        System.out.flush();
        return 0;
    }
}
