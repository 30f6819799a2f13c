package brook.parity;

/*
 * The Kafka Streams side of brook's parity test (docs/parity.md).
 *
 * Reads cases from stdin and writes each case's outputs to stdout, in the
 * same text format as the brook side (tests/parity/brook_parity.c):
 *
 *   case <scenario> <cache> <seed>      cache: 0 (cache off) or 1 (on)
 *   <topic> <key> <value> <timestamp>   one line per input record
 *   end
 *
 * For each case it builds the scenario's topology, pipes the inputs through
 * Kafka Streams' TopologyTestDriver, and prints
 *
 *   case <scenario> <cache> <seed>
 *   describe <line>                     the topology's describe(), each line
 *   <topic> <key> <value> <timestamp>   one line per output record, in order
 *   after <n>                           after each input's outputs
 *   end
 *
 * "~" is a null key or value. Keys and String values are tokens without
 * spaces; Long values are decimal. One JVM runs every case.
 *
 * A scenario is one entry of SCENARIOS: its input and output value types
 * and the topology. To add one, add it here and to the table in
 * brook_parity.c.
 */

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.function.Consumer;

import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.kstream.Aggregator;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.EmitStrategy;
import org.apache.kafka.streams.kstream.GlobalKTable;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.SlidingWindows;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.kstream.WindowedSerdes;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.Joined;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.TableJoined;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.BuiltInDslStoreSuppliers;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.VersionedBytesStoreSupplier;
import org.apache.kafka.streams.test.TestRecord;

public final class Parity {
    static final String IN = "in";
    static final String OUT = "out";
    static final String TBL = "tbl";
    static final String GLB = "glb";
    static final String GLB2 = "glb2";

    /** Output keys: plain, time-windowed, session-windowed. */
    enum Keys { PLAIN, TIME, SESSION }

    /**
     * A scenario: value types of its input and output, its topology, its
     * output keys, and whether the wall clock moves 1 s before each record
     * (emit on window close checks at most once per second of it).
     */
    record Scenario(Serde<?> inValue, Serde<?> outValue, Consumer<StreamsBuilder> build, Keys keys,
                    boolean tick, boolean joinWindows) {
        Scenario(final Serde<?> inValue, final Serde<?> outValue, final Consumer<StreamsBuilder> build) {
            this(inValue, outValue, build, Keys.PLAIN, false, false);
        }

        Scenario(final Serde<?> inValue, final Serde<?> outValue, final Consumer<StreamsBuilder> build,
                 final Keys keys, final boolean tick) {
            this(inValue, outValue, build, keys, tick, false);
        }

        /** A stream-stream join, whose window stores stay RocksDB's. */
        static Scenario streamJoin(final Consumer<StreamsBuilder> build) {
            return new Scenario(S, S, build, Keys.PLAIN, false, true);
        }
    }

    // The windows of the windowed scenarios, as brook_parity.c's.
    static final Duration W_SIZE = Duration.ofMillis(10);
    static final Duration W_ADV = Duration.ofMillis(3);
    static final Duration W_GRACE = Duration.ofMillis(5);
    static final Duration W_GAP = Duration.ofMillis(5);
    static final TimeWindows TUMBLING = TimeWindows.ofSizeAndGrace(W_SIZE, W_GRACE);
    static final TimeWindows HOPPING = TimeWindows.ofSizeAndGrace(W_SIZE, W_GRACE).advanceBy(W_ADV);
    static final SlidingWindows SLIDING = SlidingWindows.ofTimeDifferenceAndGrace(W_SIZE, W_GRACE);
    static final SessionWindows SESSIONS = SessionWindows.ofInactivityGapAndGrace(W_GAP, W_GRACE);
    static final Serde<Windowed<String>> TW = WindowedSerdes.timeWindowedSerdeFrom(String.class, W_SIZE.toMillis());
    static final Serde<Windowed<String>> SW = WindowedSerdes.sessionWindowedSerdeFrom(String.class);

    static final Serde<String> S = Serdes.String();
    static final Serde<Long> L = Serdes.Long();

    static <V> Materialized<String, V, KeyValueStore<Bytes, byte[]>> as(final String name, final Serde<V> vs) {
        return Materialized.<String, V, KeyValueStore<Bytes, byte[]>>as(name).withKeySerde(S).withValueSerde(vs);
    }

    /**
     * A versioned store (KIP-889) of the history retention (ms) and segment
     * interval (ms; 0: the default), as brook_parity.c's vas().
     */
    static Materialized<String, String, KeyValueStore<Bytes, byte[]>> versioned(final String name,
                                                                                final long retention,
                                                                                final long segment) {
        final VersionedBytesStoreSupplier sup = segment == 0
            ? Stores.persistentVersionedKeyValueStore(name, Duration.ofMillis(retention))
            : Stores.persistentVersionedKeyValueStore(name, Duration.ofMillis(retention), Duration.ofMillis(segment));
        return Materialized.<String, String>as(sup).withKeySerde(S).withValueSerde(S);
    }

    static final Map<String, Scenario> SCENARIOS = new LinkedHashMap<>();

    /** "left+right" ("null" for no table row), as brook_parity.c's. */
    static final JoinWindows JOIN_WINDOWS = JoinWindows.ofTimeDifferenceAndGrace(W_SIZE, W_GRACE);

    static KStream<String, String> streamJoin(final StreamsBuilder b, final int kind, final JoinWindows w,
                                              final StreamJoined<String, String, String> sj) {
        final KStream<String, String> l = b.stream(IN, Consumed.with(S, S));
        final KStream<String, String> r = b.stream(TBL, Consumed.with(S, S));
        return kind == 0 ? l.join(r, Parity::plus, w, sj)
            : kind == 1 ? l.leftJoin(r, Parity::plus, w, sj)
            : l.outerJoin(r, Parity::plus, w, sj);
    }

    static KTable<String, String> tableJoin(final StreamsBuilder b, final int kind, final String name,
                                            final Materialized<String, String, KeyValueStore<Bytes, byte[]>> m) {
        final KTable<String, String> l = b.table(IN, Consumed.with(S, S));
        final KTable<String, String> r = b.table(TBL, Consumed.with(S, S));
        final Named n = name == null ? Named.as("unused") : Named.as(name);
        if (m == null)
            return kind == 0 ? l.join(r, Parity::plus) : kind == 1 ? l.leftJoin(r, Parity::plus) : l.outerJoin(r, Parity::plus);
        if (name == null)
            return kind == 0 ? l.join(r, Parity::plus, m) : kind == 1 ? l.leftJoin(r, Parity::plus, m) : l.outerJoin(r, Parity::plus, m);
        return kind == 0 ? l.join(r, Parity::plus, n, m) : kind == 1 ? l.leftJoin(r, Parity::plus, n, m)
            : l.outerJoin(r, Parity::plus, n, m);
    }

    static String fk(final String v) {
        return v.substring(1).equals("0") ? null : "k" + v.substring(1);
    }

    /**
     * A global table's key that a value names ("c7": "k7"; none for 0), as
     * brook_parity.c's digit_key. Kafka Streams asks a global join's key
     * mapper before it drops a null value: null-safe.
     */
    static String gkey(final String v) {
        return v == null || v.substring(1).equals("0") ? null : "k" + v.substring(1);
    }

    /** A new stream key: the value's letter, none for e (letter_key). */
    static String letter(final String v) {
        return v == null || v.charAt(0) == 'e' ? null : v.substring(0, 1);
    }

    /** "k" and the value's last digit ("c7+b3": "k3"), none for 0 (last_digit_key). */
    static String lastDigitKey(final String v) {
        return v == null || v.endsWith("0") ? null : "k" + v.charAt(v.length() - 1);
    }

    static String plus(final String left, final String right) {
        return left + "+" + (right == null ? "null" : right);
    }

    static {
        SCENARIOS.put("count", new Scenario(S, L, b -> b.stream(IN, Consumed.with(S, S))
            .groupByKey()
            .count()
            .toStream().to(OUT, Produced.with(S, L))));
        SCENARIOS.put("reduce_sum", new Scenario(L, L, b -> b.stream(IN, Consumed.with(S, L))
            .groupByKey()
            .reduce(Long::sum)
            .toStream().to(OUT, Produced.with(S, L))));
        SCENARIOS.put("aggregate_concat", new Scenario(S, S, b -> b.stream(IN, Consumed.with(S, S))
            .groupByKey()
            .aggregate(() -> "", (k, v, agg) -> agg + v, Materialized.with(S, S))
            .toStream().to(OUT, Produced.with(S, S))));
        SCENARIOS.put("groupby_count", new Scenario(S, L, b -> b.stream(IN, Consumed.with(S, S))
            .groupBy((k, v) -> v == null ? null : v.substring(0, 1), Grouped.with(S, S))
            .count()
            .toStream().to(OUT, Produced.with(S, L))));
        SCENARIOS.put("count_filter", new Scenario(S, L, b -> b.stream(IN, Consumed.with(S, S))
            .groupByKey()
            .count()
            .filter((k, v) -> v % 2 == 1)
            .toStream().to(OUT, Produced.with(S, L))));
        // An aggregation sends a new key's old value as the initializer's
        // (count's 0) without the cache, the store's (none) with it.
        SCENARIOS.put("count_filter_even", new Scenario(S, L, b -> b.stream(IN, Consumed.with(S, S))
            .groupByKey()
            .count()
            .filter((k, v) -> v % 2 == 0)
            .toStream().to(OUT, Produced.with(S, L))));
        SCENARIOS.put("reduce_filter", new Scenario(L, L, b -> b.stream(IN, Consumed.with(S, L))
            .groupByKey()
            .reduce(Long::sum, as("sum", L))
            .filterNot((k, v) -> v % 3 == 0)
            .toStream().to(OUT, Produced.with(S, L))));
        SCENARIOS.put("aggregate_filter", new Scenario(S, S, b -> b.stream(IN, Consumed.with(S, S))
            .groupByKey()
            .aggregate(() -> "", (k, v, agg) -> agg + v, Materialized.with(S, S))
            .filter((k, v) -> v.length() % 4 == 0)
            .toStream().to(OUT, Produced.with(S, S))));
        SCENARIOS.put("table_filter", new Scenario(L, L, b -> b.table(IN, Consumed.with(S, L))
            .filter((k, v) -> v % 2 == 0)
            .toStream().to(OUT, Produced.with(S, L))));
        SCENARIOS.put("table_filter_mat", new Scenario(L, L, b -> b.table(IN, Consumed.with(S, L), as("src", L))
            .filter((k, v) -> v % 2 == 0)
            .toStream().to(OUT, Produced.with(S, L))));
        SCENARIOS.put("table_map_filter", new Scenario(L, L, b -> b.table(IN, Consumed.with(S, L))
            .mapValues(v -> v * 3)
            .filterNot((k, v) -> v % 2 == 0)
            .toStream().to(OUT, Produced.with(S, L))));
        // A materialized filter of a source that sends no old values: its
        // child asks it for them, and it reads them from its own store.
        SCENARIOS.put("table_filter_mat_filter", new Scenario(L, L, b -> b.table(IN, Consumed.with(S, L))
            .filter((k, v) -> v % 2 == 0, as("f1", L))
            .filter((k, v) -> v % 4 == 0)
            .toStream().to(OUT, Produced.with(S, L))));
        SCENARIOS.put("table_mapvalues_mat", new Scenario(L, L, b -> b.table(IN, Consumed.with(S, L), as("src", L))
            .mapValues(v -> v + 1, as("mv", L))
            .filter((k, v) -> v % 2 == 0)
            .toStream().to(OUT, Produced.with(S, L))));
        SCENARIOS.put("table_chain_mat", new Scenario(L, L, b -> {
            final KTable<String, Long> t = b.table(IN, Consumed.with(S, L), as("src", L))
                .filter((k, v) -> v % 3 != 0, as("flt", L));
            t.mapValues(v -> v * 10)
                .filterNot((k, v) -> v % 20 == 0)
                .toStream().to(OUT, Produced.with(S, L));
        }));

        // Windowed aggregations see null values (sliding windows drop
        // them): "_" in the concatenations, skipped in the sum.
        final Aggregator<String, String, String> concat = (k, v, agg) -> agg + (v == null ? "_" : v);
        SCENARIOS.put("w_tumbling_count", new Scenario(S, L, b -> b.stream(IN, Consumed.with(S, S))
            .groupByKey().windowedBy(TUMBLING).count()
            .toStream().to(OUT, Produced.with(TW, L)), Keys.TIME, false));
        SCENARIOS.put("w_hopping_count", new Scenario(S, L, b -> b.stream(IN, Consumed.with(S, S))
            .groupByKey().windowedBy(HOPPING).count()
            .toStream().to(OUT, Produced.with(TW, L)), Keys.TIME, false));
        SCENARIOS.put("w_hopping_reduce", new Scenario(L, L, b -> b.stream(IN, Consumed.with(S, L))
            .groupByKey().windowedBy(HOPPING).reduce((a, v) -> v == null ? a : a + v)
            .toStream().to(OUT, Produced.with(TW, L)), Keys.TIME, false));
        SCENARIOS.put("w_tumbling_aggregate", new Scenario(S, S, b -> b.stream(IN, Consumed.with(S, S))
            .groupByKey().windowedBy(TUMBLING).aggregate(() -> "", concat, Materialized.with(S, S))
            .toStream().to(OUT, Produced.with(TW, S)), Keys.TIME, false));
        SCENARIOS.put("w_sliding_count", new Scenario(S, L, b -> b.stream(IN, Consumed.with(S, S))
            .groupByKey().windowedBy(SLIDING).count()
            .toStream().to(OUT, Produced.with(TW, L)), Keys.TIME, false));
        SCENARIOS.put("w_sliding_aggregate", new Scenario(S, S, b -> b.stream(IN, Consumed.with(S, S))
            .groupByKey().windowedBy(SLIDING).aggregate(() -> "", concat, Materialized.with(S, S))
            .toStream().to(OUT, Produced.with(TW, S)), Keys.TIME, false));
        SCENARIOS.put("w_session_count", new Scenario(S, L, b -> b.stream(IN, Consumed.with(S, S))
            .groupByKey().windowedBy(SESSIONS).count()
            .toStream().to(OUT, Produced.with(SW, L)), Keys.SESSION, false));
        SCENARIOS.put("w_session_aggregate", new Scenario(S, S, b -> b.stream(IN, Consumed.with(S, S))
            .groupByKey().windowedBy(SESSIONS)
            .aggregate(() -> "", concat, (k, a, c) -> a + "|" + c, Materialized.with(S, S))
            .toStream().to(OUT, Produced.with(SW, S)), Keys.SESSION, false));
        SCENARIOS.put("w_tumbling_suppress", new Scenario(S, L, b -> b.stream(IN, Consumed.with(S, S))
            .groupByKey().windowedBy(TUMBLING).count()
            .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
            .toStream().to(OUT, Produced.with(TW, L)), Keys.TIME, false));
        SCENARIOS.put("w_session_suppress", new Scenario(S, L, b -> b.stream(IN, Consumed.with(S, S))
            .groupByKey().windowedBy(SESSIONS).count()
            .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
            .toStream().to(OUT, Produced.with(SW, L)), Keys.SESSION, false));
        SCENARIOS.put("w_hopping_close", new Scenario(S, L, b -> b.stream(IN, Consumed.with(S, S))
            .groupByKey().windowedBy(HOPPING).emitStrategy(EmitStrategy.onWindowClose()).count()
            .toStream().to(OUT, Produced.with(TW, L)), Keys.TIME, true));
        SCENARIOS.put("w_tumbling_close", new Scenario(S, L, b -> b.stream(IN, Consumed.with(S, S))
            .groupByKey().windowedBy(TUMBLING).emitStrategy(EmitStrategy.onWindowClose()).count()
            .toStream().to(OUT, Produced.with(TW, L)), Keys.TIME, true));
        SCENARIOS.put("w_sliding_close", new Scenario(S, L, b -> b.stream(IN, Consumed.with(S, S))
            .groupByKey().windowedBy(SLIDING).emitStrategy(EmitStrategy.onWindowClose()).count()
            .toStream().to(OUT, Produced.with(TW, L)), Keys.TIME, true));
        SCENARIOS.put("w_session_close", new Scenario(S, L, b -> b.stream(IN, Consumed.with(S, S))
            .groupByKey().windowedBy(SESSIONS).emitStrategy(EmitStrategy.onWindowClose()).count()
            .toStream().to(OUT, Produced.with(SW, L)), Keys.SESSION, true));
        // Stream-table joins: "in" (the stream) with the table of "tbl".
        SCENARIOS.put("st_join", new Scenario(S, S, b -> b.stream(IN, Consumed.with(S, S))
            .join(b.table(TBL, Consumed.with(S, S)), Parity::plus)
            .to(OUT, Produced.with(S, S))));
        SCENARIOS.put("st_left_join", new Scenario(S, S, b -> b.stream(IN, Consumed.with(S, S))
            .leftJoin(b.table(TBL, Consumed.with(S, S)), Parity::plus)
            .to(OUT, Produced.with(S, S))));
        SCENARIOS.put("st_left_join_mat", new Scenario(S, S, b -> b.stream(IN, Consumed.with(S, S))
            .leftJoin(b.table(TBL, Consumed.with(S, S), as("tbl-store", S)), Parity::plus)
            .to(OUT, Produced.with(S, S))));
        SCENARIOS.put("st_join_rekey", new Scenario(S, S, b -> b.stream(IN, Consumed.with(S, S))
            .selectKey((k, v) -> v == null || v.substring(1).equals("0") ? null : "k" + v.substring(1))
            .leftJoin(b.table(TBL, Consumed.with(S, S)), Parity::plus, Joined.with(S, S, S))
            .to(OUT, Produced.with(S, S))));
        // Stream-global joins: "in" with the global table of "glb" (and
        // "glb2"), whose records the TopologyTestDriver applies as they
        // are piped.
        SCENARIOS.put("sg_join", new Scenario(S, S, b -> {
            final KStream<String, String> s = b.stream(IN, Consumed.with(S, S));
            s.join(b.globalTable(GLB, Consumed.with(S, S)), (k, v) -> k, Parity::plus)
                .to(OUT, Produced.with(S, S));
        }));
        SCENARIOS.put("sg_left_join", new Scenario(S, S, b -> {
            final KStream<String, String> s = b.stream(IN, Consumed.with(S, S));
            s.leftJoin(b.globalTable(GLB, Consumed.with(S, S)), (k, v) -> k, Parity::plus)
                .to(OUT, Produced.with(S, S));
        }));
        SCENARIOS.put("sg_left_join_rekey", new Scenario(S, S, b -> {
            final KStream<String, String> s = b.stream(IN, Consumed.with(S, S)).selectKey((k, v) -> letter(v));
            s.leftJoin(b.globalTable(GLB, Consumed.with(S, S)), (k, v) -> gkey(v), Parity::plus)
                .to(OUT, Produced.with(S, S));
        }));
        SCENARIOS.put("sg_join_rekey_named", new Scenario(S, S, b -> {
            final KStream<String, String> s = b.stream(IN, Consumed.with(S, S)).selectKey((k, v) -> letter(v));
            s.join(b.globalTable(GLB, Consumed.with(S, S)), (k, v) -> gkey(v), Parity::plus, Named.as("gj"))
                .to(OUT, Produced.with(S, S));
        }));
        SCENARIOS.put("sg_table_global2", new Scenario(S, S, b -> {
            final GlobalKTable<String, String> g1 = b.globalTable(GLB, Consumed.with(S, S));
            final KStream<String, String> s = b.stream(IN, Consumed.with(S, S));
            final KTable<String, String> t = b.table(TBL, Consumed.with(S, S));
            final GlobalKTable<String, String> g2 = b.globalTable(GLB2, Consumed.with(S, S), as("glb2-store", S));
            s.join(t, Parity::plus)
                .join(g1, (k, v) -> k, Parity::plus)
                .leftJoin(g2, (k, v) -> lastDigitKey(v), Parity::plus, Named.as("g2-join"))
                .to(OUT, Produced.with(S, S));
        }));
        SCENARIOS.put("sg_rekey_left_join_count", new Scenario(S, L, b -> {
            final KStream<String, String> s = b.stream(IN, Consumed.with(S, S)).selectKey((k, v) -> letter(v));
            s.leftJoin(b.globalTable(GLB, Consumed.with(S, S)), (k, v) -> gkey(v), Parity::plus)
                .groupByKey(Grouped.with(S, S))
                .count()
                .toStream().to(OUT, Produced.with(S, L));
        }));
        // Stream-stream joins: "in" with the stream of "tbl".
        SCENARIOS.put("ss_join", Scenario.streamJoin(b -> streamJoin(b, 0, JOIN_WINDOWS, StreamJoined.with(S, S, S))
            .to(OUT, Produced.with(S, S))));
        SCENARIOS.put("ss_left_join", Scenario.streamJoin(b -> streamJoin(b, 1, JOIN_WINDOWS, StreamJoined.with(S, S, S))
            .to(OUT, Produced.with(S, S))));
        SCENARIOS.put("ss_outer_join", Scenario.streamJoin(b -> streamJoin(b, 2, JOIN_WINDOWS, StreamJoined.with(S, S, S))
            .to(OUT, Produced.with(S, S))));
        SCENARIOS.put("ss_outer_asym", Scenario.streamJoin(b -> streamJoin(b, 2,
                JoinWindows.ofTimeDifferenceWithNoGrace(W_SIZE).before(Duration.ofMillis(3)).after(Duration.ofMillis(12)),
                // brook's side keeps these stores in memory, with the
                // semantics of its (and Kafka Streams') RocksDB stores;
                // Kafka Streams' in-memory window stores join differently
                // (seed 1: a record inside the window and the retention is
                // not found), so its side keeps them in RocksDB.
                StreamJoined.<String, String, String>with(S, S, S).withName("ssj").withStoreName("ssj-store"))
            .to(OUT, Produced.with(S, S))));
        SCENARIOS.put("ss_left_join_rekey", Scenario.streamJoin(b -> b.stream(IN, Consumed.with(S, S))
            .selectKey((k, v) -> v == null || v.substring(1).equals("0") ? null : "k" + v.substring(1))
            .leftJoin(b.stream(TBL, Consumed.with(S, S))
                    .selectKey((k, v) -> v == null || v.substring(1).equals("0") ? null : "k" + v.substring(1)),
                Parity::plus, JOIN_WINDOWS, StreamJoined.with(S, S, S))
            .to(OUT, Produced.with(S, S))));
        // Table-table joins: the table of "in" with the table of "tbl".
        SCENARIOS.put("tt_join", new Scenario(S, S, b -> tableJoin(b, 0, null, null)
            .toStream().to(OUT, Produced.with(S, S))));
        SCENARIOS.put("tt_left_join", new Scenario(S, S, b -> tableJoin(b, 1, null, null)
            .toStream().to(OUT, Produced.with(S, S))));
        SCENARIOS.put("tt_outer_join", new Scenario(S, S, b -> tableJoin(b, 2, null, null)
            .toStream().to(OUT, Produced.with(S, S))));
        SCENARIOS.put("tt_join_mat_filter", new Scenario(S, S, b -> tableJoin(b, 0, null, as("tj", S))
            .filter((k, v) -> v.charAt(0) >= 'a' && v.charAt(0) <= 'c')
            .toStream().to(OUT, Produced.with(S, S))));
        SCENARIOS.put("tt_left_join_filter", new Scenario(S, S, b -> tableJoin(b, 1, null, null)
            .filter((k, v) -> v.charAt(0) >= 'a' && v.charAt(0) <= 'c')
            .toStream().to(OUT, Produced.with(S, S))));
        SCENARIOS.put("tt_outer_join_named", new Scenario(S, S, b -> tableJoin(b, 2, "tj",
                Materialized.<String, String, KeyValueStore<Bytes, byte[]>>with(null, S))
            .filter((k, v) -> v.charAt(0) >= 'a' && v.charAt(0) <= 'c')
            .toStream().to(OUT, Produced.with(S, S))));
        // Regrouped tables: rows move between groups as their values change.
        SCENARIOS.put("gt_count", new Scenario(S, L, b -> b.table(IN, Consumed.with(S, S))
            .groupBy((k, v) -> KeyValue.pair(v.substring(0, 1), v), Grouped.with(S, S))
            .count()
            .toStream().to(OUT, Produced.with(S, L))));
        SCENARIOS.put("gt_reduce", new Scenario(L, L, b -> b.table(IN, Consumed.with(S, L))
            .groupBy((k, v) -> KeyValue.pair("g" + Math.floorMod(v, 3L), v), Grouped.with(S, L))
            .reduce(Long::sum, (agg, v) -> agg - v)
            .toStream().to(OUT, Produced.with(S, L))));
        SCENARIOS.put("gt_aggregate", new Scenario(S, S, b -> b.table(IN, Consumed.with(S, S))
            .groupBy((k, v) -> KeyValue.pair(v.substring(0, 1), k), Grouped.with(S, S))
            .aggregate(() -> "", (gk, v, agg) -> agg + "+" + v, (gk, v, agg) -> agg + "-" + v,
                Materialized.<String, String, KeyValueStore<Bytes, byte[]>>with(null, S))
            .toStream().to(OUT, Produced.with(S, S))));
        SCENARIOS.put("gt_count_named_filter", new Scenario(S, L, b -> b.table(IN, Consumed.with(S, S))
            .groupBy((k, v) -> KeyValue.pair(v.substring(0, 1), v), Grouped.<String, String>as("grp").withKeySerde(S).withValueSerde(S))
            .count(as("cnt", L))
            .filter((k, v) -> v % 2 == 0)
            .toStream().to(OUT, Produced.with(S, L))));
        // Foreign-key joins: a row of "in"'s table names a row of "tbl"'s by
        // its value's number ("c7": "k7"; none for 0).
        SCENARIOS.put("fk_join", new Scenario(S, S, b -> b.table(IN, Consumed.with(S, S))
            .join(b.table(TBL, Consumed.with(S, S)), Parity::fk, Parity::plus)
            .toStream().to(OUT, Produced.with(S, S))));
        SCENARIOS.put("fk_left_join", new Scenario(S, S, b -> b.table(IN, Consumed.with(S, S))
            .leftJoin(b.table(TBL, Consumed.with(S, S)), Parity::fk, Parity::plus)
            .toStream().to(OUT, Produced.with(S, S))));
        SCENARIOS.put("fk_left_join_named_filter", new Scenario(S, S, b -> b.table(IN, Consumed.with(S, S))
            .leftJoin(b.table(TBL, Consumed.with(S, S)), Parity::fk, Parity::plus, TableJoined.as("fkj"), as("fk-store", S))
            .filter((k, v) -> v.charAt(0) >= 'a' && v.charAt(0) <= 'c')
            .toStream().to(OUT, Produced.with(S, S))));
        SCENARIOS.put("ss_self_join", Scenario.streamJoin(b -> {
            final KStream<String, String> s = b.stream(IN, Consumed.with(S, S));
            s.join(s, Parity::plus, JOIN_WINDOWS, StreamJoined.with(S, S, S)).to(OUT, Produced.with(S, S));
        }));
        // Versioned tables (KIP-914): stream-table joins as of each stream
        // record's time, and out-of-order updates that joins and groupBy
        // skip.
        SCENARIOS.put("vst_join", new Scenario(S, S, b -> b.stream(IN, Consumed.with(S, S))
            .join(b.table(TBL, Consumed.with(S, S), versioned("tbl-v", 300, 0)), Parity::plus)
            .to(OUT, Produced.with(S, S))));
        SCENARIOS.put("vst_left_join", new Scenario(S, S, b -> b.stream(IN, Consumed.with(S, S))
            .leftJoin(b.table(TBL, Consumed.with(S, S), versioned("tbl-v", 500, 100)), Parity::plus)
            .to(OUT, Produced.with(S, S))));
        // brook's side keeps this store's bytes in memory.
        SCENARIOS.put("vst_left_join_mem", new Scenario(S, S, b -> b.stream(IN, Consumed.with(S, S))
            .leftJoin(b.table(TBL, Consumed.with(S, S), versioned("tbl-v", 200, 50)), Parity::plus)
            .to(OUT, Produced.with(S, S))));
        SCENARIOS.put("vtt_join", new Scenario(S, S, b -> b.table(IN, Consumed.with(S, S), versioned("in-v", 300, 100))
            .join(b.table(TBL, Consumed.with(S, S)), Parity::plus)
            .toStream().to(OUT, Produced.with(S, S))));
        SCENARIOS.put("vtt_outer_join", new Scenario(S, S, b -> b.table(IN, Consumed.with(S, S), versioned("in-v", 300, 100))
            .outerJoin(b.table(TBL, Consumed.with(S, S), versioned("tbl-v", 500, 0)), Parity::plus)
            .toStream().to(OUT, Produced.with(S, S))));
        SCENARIOS.put("vtt_left_join_filter", new Scenario(S, S, b -> b.table(IN, Consumed.with(S, S), versioned("in-v", 300, 100))
            .leftJoin(b.table(TBL, Consumed.with(S, S)), Parity::plus)
            .filter((k, v) -> v.charAt(0) >= 'a' && v.charAt(0) <= 'c')
            .toStream().to(OUT, Produced.with(S, S))));
        SCENARIOS.put("vgt_count", new Scenario(S, L, b -> b.table(IN, Consumed.with(S, S), versioned("in-v", 300, 100))
            .groupBy((k, v) -> KeyValue.pair(v.substring(0, 1), v), Grouped.with(S, S))
            .count()
            .toStream().to(OUT, Produced.with(S, L))));
        SCENARIOS.put("vgt_aggregate", new Scenario(S, S, b -> b.table(IN, Consumed.with(S, S), versioned("in-v", 500, 0))
            .groupBy((k, v) -> KeyValue.pair(v.substring(0, 1), k), Grouped.with(S, S))
            .aggregate(() -> "", (gk, v, agg) -> agg + "+" + v, (gk, v, agg) -> agg + "-" + v,
                Materialized.<String, String, KeyValueStore<Bytes, byte[]>>with(null, S))
            .toStream().to(OUT, Produced.with(S, S))));
        SCENARIOS.put("vfk_left_join", new Scenario(S, S, b -> b.table(IN, Consumed.with(S, S), versioned("in-v", 300, 100))
            .leftJoin(b.table(TBL, Consumed.with(S, S), versioned("tbl-v", 500, 0)), Parity::fk, Parity::plus)
            .toStream().to(OUT, Produced.with(S, S))));
        SCENARIOS.put("vtable_filter", new Scenario(S, S, b -> b.table(IN, Consumed.with(S, S), versioned("in-v", 300, 100))
            .filter((k, v) -> v.charAt(0) >= 'a' && v.charAt(0) <= 'c')
            .toStream().to(OUT, Produced.with(S, S))));
        SCENARIOS.put("vst_left_join_filtered", new Scenario(S, S, b -> b.stream(IN, Consumed.with(S, S))
            .leftJoin(b.table(TBL, Consumed.with(S, S))
                    .filter((k, v) -> v.charAt(0) >= 'a' && v.charAt(0) <= 'c', versioned("f-v", 300, 100)),
                Parity::plus)
            .to(OUT, Produced.with(S, S))));
        SCENARIOS.put("vtable_map_vmat_filter", new Scenario(S, S, b -> b.table(IN, Consumed.with(S, S), versioned("in-v", 300, 100))
            .mapValues(v -> v.substring(0, 1), versioned("mv-v", 200, 0))
            .filter((k, v) -> v.charAt(0) >= 'a' && v.charAt(0) <= 'c')
            .toStream().to(OUT, Produced.with(S, S))));
        SCENARIOS.put("vtable_filter_mat_join", new Scenario(S, S, b -> b.table(IN, Consumed.with(S, S), versioned("in-v", 300, 100))
            .filter((k, v) -> v.charAt(0) >= 'a' && v.charAt(0) <= 'c', as("f1", S))
            .join(b.table(TBL, Consumed.with(S, S)), Parity::plus)
            .toStream().to(OUT, Produced.with(S, S))));
    }

    static String keyText(final Object k) {
        if (k instanceof Windowed<?> w)
            return w.key() + "@" + w.window().start() + "/" + w.window().end();
        return text(k);
    }

    static String text(final Object o) {
        return o == null ? "~" : o.toString();
    }

    static Object parse(final Serde<?> serde, final String s) {
        if (s.equals("~"))
            return null;
        return serde == L ? (Object) Long.parseLong(s) : s;
    }

    @SuppressWarnings("unchecked")
    static void runCase(final String[] head, final List<String[]> inputs, final BufferedWriter out) throws Exception {
        final Scenario sc = SCENARIOS.get(head[1]);
        if (sc == null)
            throw new IllegalArgumentException("unknown scenario \"" + head[1] + "\"");
        final StreamsBuilder b = new StreamsBuilder();
        sc.build.accept(b);
        final Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, "parity");
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, head[2].equals("0") ? 0L : 10L * 1024 * 1024);
        // In-memory key-value stores: RocksDB's would cost every case a
        // database for nothing (the semantics are the same); brook's test
        // driver keeps its stores in RocksDB. Window and session stores
        // stay RocksDB's, the default: their retention checks differ from
        // the in-memory ones', and brook's follow RocksDB's.
        if (sc.keys == Keys.PLAIN && !sc.joinWindows)
            p.put(StreamsConfig.DSL_STORE_SUPPLIERS_CLASS_CONFIG, BuiltInDslStoreSuppliers.InMemoryDslStoreSuppliers.class);
        if (System.getenv("BROOK_PARITY_STATE_DIR") != null)
            p.put(StreamsConfig.STATE_DIR_CONFIG, System.getenv("BROOK_PARITY_STATE_DIR"));
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        out.write("case " + head[1] + " " + head[2] + " " + head[3] + "\n");
        final Topology topology = b.build();
        // describe(), line by line (the last one empty), before the outputs.
        for (final String line : topology.describe().toString().split("\n", -1))
            out.write("describe " + line + "\n");
        try (TopologyTestDriver td = new TopologyTestDriver(topology, p)) {
            final Serde<Object> inV = (Serde<Object>) sc.inValue;
            final Serde<Object> outV = (Serde<Object>) sc.outValue;
            final Map<String, TestInputTopic<String, Object>> inputTopics = new LinkedHashMap<>();
            for (final String t : List.of(IN, TBL, GLB, GLB2))
                inputTopics.put(t, td.createInputTopic(t, S.serializer(), inV.serializer()));
            final Serde<Object> outK = (Serde<Object>) (Serde<?>) (sc.keys == Keys.TIME ? TW
                : sc.keys == Keys.SESSION ? SW : S);
            final TestOutputTopic<Object, Object> o = td.createOutputTopic(OUT, outK.deserializer(), outV.deserializer());
            int idx = 0;
            for (final String[] r : inputs) {
                final TestInputTopic<String, Object> in = inputTopics.get(r[0]);
                if (in == null)
                    throw new IllegalArgumentException("unknown input topic \"" + r[0] + "\"");
                if (sc.tick)
                    td.advanceWallClockTime(Duration.ofMillis(1000));
                in.pipeInput(new TestRecord<>((String) parse(S, r[1]), parse(sc.inValue, r[2]), null,
                    Long.parseLong(r[3])));
                // Outputs as they come, so that their order across topics
                // would show, once a scenario writes to several.
                while (!o.isEmpty()) {
                    final TestRecord<Object, Object> rec = o.readRecord();
                    out.write(OUT + " " + keyText(rec.key()) + " " + text(rec.value()) + " " + rec.timestamp() + "\n");
                }
                // Which input the outputs above came with.
                out.write("after " + ++idx + "\n");
            }
        }
        out.write("end\n");
    }

    public static void main(final String[] args) throws Exception {
        final BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        final BufferedWriter out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
        String line;
        String[] head = null;
        final List<String[]> inputs = new ArrayList<>();
        while ((line = in.readLine()) != null) {
            final String[] f = line.split(" ");
            if (f[0].equals("case")) {
                head = f;
                inputs.clear();
            } else if (f[0].equals("end")) {
                runCase(head, inputs, out);
                head = null;
            } else if (head != null && f.length == 4) {
                inputs.add(f);
            } else {
                throw new IllegalArgumentException("bad input line: " + line);
            }
        }
        out.flush();
    }
}
