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
 *   <topic> <key> <value> <timestamp>   one line per output record, in order
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
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.Consumer;

import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.BuiltInDslStoreSuppliers;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.test.TestRecord;

public final class Parity {
    static final String IN = "in";
    static final String OUT = "out";

    /** A scenario: value types of its input and output, and its topology. */
    record Scenario(Serde<?> inValue, Serde<?> outValue, Consumer<StreamsBuilder> build) {
    }

    static final Serde<String> S = Serdes.String();
    static final Serde<Long> L = Serdes.Long();

    static <V> Materialized<String, V, KeyValueStore<Bytes, byte[]>> as(final String name, final Serde<V> vs) {
        return Materialized.<String, V, KeyValueStore<Bytes, byte[]>>as(name).withKeySerde(S).withValueSerde(vs);
    }

    static final Map<String, Scenario> SCENARIOS = new LinkedHashMap<>();

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
        // In-memory stores: RocksDB's would cost every case a database for
        // nothing (the semantics are the same); brook's test driver keeps
        // its stores in RocksDB.
        p.put(StreamsConfig.DSL_STORE_SUPPLIERS_CLASS_CONFIG, BuiltInDslStoreSuppliers.InMemoryDslStoreSuppliers.class);
        if (System.getenv("BROOK_PARITY_STATE_DIR") != null)
            p.put(StreamsConfig.STATE_DIR_CONFIG, System.getenv("BROOK_PARITY_STATE_DIR"));
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        out.write("case " + head[1] + " " + head[2] + " " + head[3] + "\n");
        try (TopologyTestDriver td = new TopologyTestDriver(b.build(), p)) {
            final Serde<Object> inV = (Serde<Object>) sc.inValue;
            final Serde<Object> outV = (Serde<Object>) sc.outValue;
            final TestInputTopic<String, Object> in = td.createInputTopic(IN, S.serializer(), inV.serializer());
            final TestOutputTopic<String, Object> o = td.createOutputTopic(OUT, S.deserializer(), outV.deserializer());
            for (final String[] r : inputs) {
                if (!r[0].equals(IN))
                    throw new IllegalArgumentException("unknown input topic \"" + r[0] + "\"");
                in.pipeInput(new TestRecord<>((String) parse(S, r[1]), parse(sc.inValue, r[2]), null,
                    Long.parseLong(r[3])));
                // Outputs as they come, so that their order across topics
                // would show, once a scenario writes to several.
                while (!o.isEmpty()) {
                    final TestRecord<String, Object> rec = o.readRecord();
                    out.write(OUT + " " + text(rec.key()) + " " + text(rec.value()) + " " + rec.timestamp() + "\n");
                }
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
