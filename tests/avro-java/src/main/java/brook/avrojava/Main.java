package brook.avrojava;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.microsoft.kiota.ApiException;
import io.apicurio.registry.resolver.SchemaLookupResult;
import io.apicurio.registry.rest.client.models.ProblemDetails;
import io.apicurio.registry.resolver.config.SchemaResolverConfig;
import io.apicurio.registry.resolver.strategy.ArtifactReference;
import io.apicurio.registry.serde.Default4ByteIdHandler;
import io.apicurio.registry.serde.avro.AvroKafkaDeserializer;
import io.apicurio.registry.serde.avro.AvroKafkaSerializer;
import io.apicurio.registry.serde.avro.AvroSerdeConfig;
import io.apicurio.registry.serde.avro.NonRecordContainer;
import io.apicurio.registry.serde.config.IdOption;
import io.apicurio.registry.serde.config.SerdeConfig;
import io.apicurio.registry.serde.kafka.config.KafkaSerdeConfig;
import io.apicurio.registry.serde.strategy.TopicIdStrategy;
import org.apache.avro.Conversions;
import org.apache.avro.Schema;
import org.apache.avro.data.TimeConversions;
import org.apache.avro.generic.GenericContainer;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.io.JsonEncoder;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringSerializer;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.Future;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.Logger;

/**
 * brook-avro-java: the reference Java side of brook's Avro / Schema Registry
 * tests. Values are serialized and deserialized by Apicurio Registry's Kafka
 * Avro serdes, configured for the Confluent wire format (magic byte 0, a
 * 4-byte big-endian schema id, Avro binary; no headers) with ids that are the
 * ones the registry's Confluent-compatible API (/apis/ccompat/v7) hands out.
 * See tests/avro-java/README.md.
 */
public final class Main {

    private static final String USAGE = String.join("\n",
            "usage: java -jar brook-avro-java.jar COMMAND [--name value ...]",
            "  encode   --registry URL --topic T --schema FILE [--key]",
            "  decode   --registry URL --topic T [--reader-schema FILE] [--key]",
            "  produce  --bootstrap HOSTPORT --registry URL --topic T --schema FILE [--key-string]",
            "           [--partitions N]",
            "  consume  --bootstrap HOSTPORT --registry URL --topic T --count N [--timeout-ms M]",
            "           [--reader-schema FILE] [--key-string] [--with-timestamp]",
            "  register --registry URL --subject S --schema FILE [--verbatim]",
            "URL is the registry's ccompat base (http://HOST:PORT/apis/ccompat/v7) or its",
            "core v3 base (http://HOST:PORT/apis/registry/v3) or just http://HOST:PORT.");

    /** Thrown for a usage or input error: message to stderr, exit 2 (1 for input). */
    static final class Failure extends RuntimeException {
        final int code;

        Failure(int code, String message) {
            super(message);
            this.code = code;
        }
    }

    private Main() {
    }

    public static void main(String[] argv) {
        quietLogging();
        int rc;
        try {
            rc = run(argv);
        } catch (Failure f) {
            System.err.println("brook-avro-java: " + f.getMessage());
            rc = f.code;
        } catch (Throwable t) {
            System.err.println("brook-avro-java: " + describe(t));
            if (System.getenv("BROOK_AVRO_JAVA_TRACE") != null) {
                t.printStackTrace();
            }
            rc = 1;
        }
        System.out.flush();
        System.err.flush();
        // Kafka's clients and the registry client leave threads
        // behind: do not wait for them.
        Runtime.getRuntime().halt(rc);
    }

    private static String describe(Throwable t) {
        StringBuilder sb = new StringBuilder();
        Set<Throwable> seen = new HashSet<>();
        for (Throwable c = t; c != null && seen.add(c); c = c.getCause()) {
            String msg = c.getMessage();
            Throwable cause = c.getCause();
            if (cause != null && msg != null && (msg.equals(cause.toString())
                    || msg.equals(cause.getClass().getName()))) {
                continue; // a mere wrapper
            }
            if (sb.length() > 0) {
                sb.append(": ");
            }
            if (c instanceof ProblemDetails) {
                // The registry's error answer (RFC 7807).
                ProblemDetails pd = (ProblemDetails) c;
                msg = "registry answered HTTP " + pd.getStatus() + ": " + pd.getTitle()
                        + (pd.getDetail() != null && !pd.getDetail().equals(pd.getTitle())
                                ? " (" + pd.getDetail() + ")" : "");
            } else if (c instanceof ApiException && (msg == null || msg.isEmpty())) {
                msg = "registry answered HTTP " + ((ApiException) c).getResponseStatusCode();
            }
            sb.append(c.getClass().getSimpleName());
            if (msg != null && !msg.isEmpty()) {
                sb.append(" (").append(msg.replace('\n', ' ')).append(')');
            }
        }
        return sb.toString();
    }

    private static void quietLogging() {
        // Apicurio's resolver logs through java.util.logging; Kafka and the
        // registry client through slf4j-simple (simplelogger.properties).
        LogManager.getLogManager().reset();
        Logger root = Logger.getLogger("");
        root.setLevel(Level.WARNING);
        java.util.logging.ConsoleHandler h = new java.util.logging.ConsoleHandler();
        h.setLevel(Level.WARNING);
        root.addHandler(h);
    }

    static int run(String[] argv) throws Exception {
        if (argv.length == 0 || argv[0].equals("-h") || argv[0].equals("--help")) {
            System.err.println(USAGE);
            return argv.length == 0 ? 2 : 0;
        }
        String cmd = argv[0];
        Args a = Args.parse(argv, 1);
        switch (cmd) {
            case "encode":
                return encode(a);
            case "decode":
                return decode(a);
            case "produce":
                return produce(a);
            case "consume":
                return consume(a);
            case "register":
                return register(a);
            case "warmup":
                return warmup(a);
            default:
                throw new Failure(2, "unknown command '" + cmd + "'\n" + USAGE);
        }
    }

    // ---------------------------------------------------------------- args

    static final class Args {
        private final Map<String, String> values = new HashMap<>();
        private final Set<String> flags = new HashSet<>();
        private final Set<String> used = new HashSet<>();

        private static final Set<String> FLAGS = Set.of("key", "key-string", "with-timestamp", "verbatim");

        static Args parse(String[] argv, int from) {
            Args a = new Args();
            for (int i = from; i < argv.length; i++) {
                String s = argv[i];
                if (!s.startsWith("--") || s.length() == 2) {
                    throw new Failure(2, "unexpected argument '" + s + "'\n" + USAGE);
                }
                String name = s.substring(2);
                String value = null;
                int eq = name.indexOf('=');
                if (eq >= 0) {
                    value = name.substring(eq + 1);
                    name = name.substring(0, eq);
                }
                if (FLAGS.contains(name)) {
                    if (value != null) {
                        throw new Failure(2, "--" + name + " takes no value");
                    }
                    a.flags.add(name);
                    continue;
                }
                if (value == null) {
                    if (i + 1 >= argv.length) {
                        throw new Failure(2, "--" + name + " needs a value");
                    }
                    value = argv[++i];
                }
                a.values.put(name, value);
            }
            return a;
        }

        String req(String name) {
            used.add(name);
            String v = values.get(name);
            if (v == null) {
                throw new Failure(2, "missing --" + name + "\n" + USAGE);
            }
            return v;
        }

        String opt(String name) {
            used.add(name);
            return values.get(name);
        }

        boolean flag(String name) {
            used.add(name);
            return flags.contains(name);
        }

        /** Call once every option was asked for: rejects the others. */
        void done() {
            for (String k : values.keySet()) {
                if (!used.contains(k)) {
                    throw new Failure(2, "unknown option --" + k + "\n" + USAGE);
                }
            }
            for (String k : flags) {
                if (!used.contains(k)) {
                    throw new Failure(2, "option --" + k + " does not apply here\n" + USAGE);
                }
            }
        }
    }

    // ------------------------------------------------------------ registry

    /** The registry's base URLs: its Confluent-compatible API and its core v3 API. */
    static final class Registry {
        final String ccompat;
        final String core;

        Registry(String url) {
            String u = url.replaceAll("/+$", "");
            int apis = u.indexOf("/apis/");
            String root = apis >= 0 ? u.substring(0, apis) : u;
            if (!root.startsWith("http://") && !root.startsWith("https://")) {
                throw new Failure(2, "--registry must be an http(s) URL, got '" + url + "'");
            }
            this.ccompat = u.contains("/apis/ccompat/") ? u : root + "/apis/ccompat/v7";
            this.core = u.contains("/apis/registry/v3") ? u : root + "/apis/registry/v3";
        }
    }

    /**
     * The Apicurio serde settings that give the Confluent wire format with the
     * ids of the ccompat API. Each one is spelled out, even where it is the
     * default of the serde version in use, so that a serde upgrade cannot
     * change the bytes quietly.
     */
    static Map<String, Object> serdeConfig(Registry reg) {
        Map<String, Object> c = new HashMap<>();
        // The core v3 API: the serdes speak only that (or v2), not ccompat.
        c.put(SchemaResolverConfig.REGISTRY_URL, reg.core);
        // 4-byte big-endian id after the magic byte 0, as Confluent.
        c.put(SerdeConfig.ID_HANDLER, Default4ByteIdHandler.class.getName());
        // The id is the content id: the id that ccompat returns from
        // POST /subjects/{s}/versions and serves at GET /schemas/ids/{id}
        // (Apicurio 3's ccompat uses content ids unless the server runs with
        // apicurio.ccompat.legacy-id-mode.enabled=true, where it uses global
        // ids).
        c.put(SerdeConfig.USE_ID, IdOption.contentId.name());
        // No Apicurio headers: the id is in the payload.
        c.put(KafkaSerdeConfig.ENABLE_HEADERS, false);
        // TopicNameStrategy: artifact "<topic>-value" / "<topic>-key" in group
        // "default", which is the ccompat subject of that name.
        c.put(SchemaResolverConfig.ARTIFACT_RESOLVER_STRATEGY, TopicIdStrategy.class.getName());
        // Register the schema on first use (as Confluent's auto.register.schemas).
        c.put(SchemaResolverConfig.AUTO_REGISTER_ARTIFACT, true);
        c.put(SchemaResolverConfig.AUTO_REGISTER_ARTIFACT_IF_EXISTS, "FIND_OR_CREATE_VERSION");
        // Find an existing version by canonical form, not by exact text: a
        // schema already registered under the subject in other whitespace or
        // key order (by brook, through ccompat) keeps its id, as a Confluent
        // registry answers. Without this the serializer adds a version with
        // its own text (Avro's Schema.toString()) and a new id.
        c.put(SchemaResolverConfig.CANONICALIZE, true);
        // Register the whole schema as one artifact, as Confluent does.
        // Without this Apicurio's Avro serializer registers each nested
        // record and enum as an artifact of its own and the top-level schema
        // as one with references to them, which a Confluent client reading
        // /schemas/ids/{id} cannot follow.
        c.put(SchemaResolverConfig.DEREFERENCE_SCHEMA, true);
        // Avro binary encoding (not Avro JSON).
        c.put(AvroSerdeConfig.AVRO_ENCODING, AvroSerdeConfig.AVRO_ENCODING_BINARY);
        c.put(AvroSerdeConfig.USE_SPECIFIC_AVRO_READER, false);
        // The JDK's HTTP client rather than a Vert.x instance.
        c.put(SchemaResolverConfig.HTTP_ADAPTER, "JDK");
        c.put(SchemaResolverConfig.RETRY_COUNT, 1L);
        // For experiments: -Dapicurio.registry.X=V overrides a setting.
        for (String k : System.getProperties().stringPropertyNames()) {
            if (k.startsWith("apicurio.")) {
                c.put(k, System.getProperty(k));
            }
        }
        return c;
    }

    static AvroKafkaSerializer<Object> serializer(Registry reg, boolean isKey) {
        AvroKafkaSerializer<Object> s = new AvroKafkaSerializer<>();
        s.configure(serdeConfig(reg), isKey);
        return s;
    }

    static AvroKafkaDeserializer<Object> deserializer(Registry reg, boolean isKey, Schema reader) {
        Map<String, Object> c = serdeConfig(reg);
        if (reader != null) {
            c.put(AvroSerdeConfig.AVRO_DATUM_PROVIDER, ReaderSchemaDatumProvider.class.getName());
            c.put(ReaderSchemaDatumProvider.READER_SCHEMA, reader.toString());
        }
        AvroKafkaDeserializer<Object> d = new AvroKafkaDeserializer<>();
        d.configure(c, isKey);
        return d;
    }

    // ---------------------------------------------------------------- avro

    static Schema loadSchema(String file) {
        String text;
        try {
            text = Files.readString(Path.of(file), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new Failure(1, "cannot read schema " + file + ": " + describe(e));
        }
        try {
            return new Schema.Parser().parse(text);
        } catch (RuntimeException e) {
            throw new Failure(1, "bad schema " + file + ": " + e.getMessage());
        }
    }

    /**
     * The value Avro's JsonDecoder reads from one line, as the generic
     * representation the serializer takes (logical types as their underlying
     * type, as the serializer's plain GenericDatumWriter writes them).
     * Anything but a record, enum, fixed or array is wrapped with its schema,
     * so that the serializer registers exactly this schema.
     */
    static Object fromJson(Schema schema, String line) throws IOException {
        if (line.strip().equals("null")) {
            // Java null, whatever the schema: the serializers make no payload
            // for it (a tombstone), Confluent's and Apicurio's alike.
            return null;
        }
        GenericDatumReader<Object> r = new GenericDatumReader<>(schema, schema, new GenericData());
        Object v = r.read(null, DecoderFactory.get().jsonDecoder(schema, line));
        if (v instanceof GenericContainer && ((GenericContainer) v).getSchema().equals(schema)) {
            return v;
        }
        return new NonRecordContainer(schema, v);
    }

    /** Generic data that can write both raw and converted logical-type values. */
    private static final GenericData OUT_DATA = new GenericData();

    static {
        OUT_DATA.addLogicalTypeConversion(new Conversions.DecimalConversion());
        OUT_DATA.addLogicalTypeConversion(new Conversions.UUIDConversion());
        OUT_DATA.addLogicalTypeConversion(new TimeConversions.DateConversion());
        OUT_DATA.addLogicalTypeConversion(new TimeConversions.TimeMillisConversion());
        OUT_DATA.addLogicalTypeConversion(new TimeConversions.TimeMicrosConversion());
        OUT_DATA.addLogicalTypeConversion(new TimeConversions.TimestampMillisConversion());
        OUT_DATA.addLogicalTypeConversion(new TimeConversions.TimestampMicrosConversion());
        OUT_DATA.addLogicalTypeConversion(new TimeConversions.LocalTimestampMillisConversion());
        OUT_DATA.addLogicalTypeConversion(new TimeConversions.LocalTimestampMicrosConversion());
    }

    /** Avro's JSON encoding of a value, on one line. */
    static String toJson(Schema schema, Object value) throws IOException {
        if (value instanceof NonRecordContainer) {
            value = ((NonRecordContainer) value).getValue();
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        JsonEncoder enc = EncoderFactory.get().jsonEncoder(schema, out, false);
        new GenericDatumWriter<Object>(schema, OUT_DATA).write(value, enc);
        enc.flush();
        return out.toString(StandardCharsets.UTF_8);
    }

    /** The content id in a Confluent-framed payload. */
    static long payloadId(byte[] p) {
        if (p.length < 5 || p[0] != 0) {
            throw new Failure(1, "not a Confluent-framed Avro payload (magic byte 0 + 4-byte id): "
                    + HexFormat.of().formatHex(p, 0, Math.min(p.length, 16)));
        }
        return ByteBuffer.wrap(p, 1, 4).getInt() & 0xffffffffL;
    }

    /** Deserializes one payload and renders it as Avro JSON. */
    static String decodeOne(AvroKafkaDeserializer<Object> d, Schema reader, String topic, byte[] p)
            throws IOException {
        long id = payloadId(p);
        Object v = d.deserialize(topic, p);
        Schema schema = reader;
        if (schema == null) {
            // The writer's schema: the deserializer has just fetched it.
            SchemaLookupResult<Schema> r = d.getSchemaResolver()
                    .resolveSchemaByArtifactReference(ArtifactReference.builder().contentId(id).build());
            schema = r.getParsedSchema().getParsedSchema();
        }
        return toJson(schema, v);
    }

    static BufferedReader stdin() {
        return new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    }

    static PrintStream stdout() {
        return new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false,
                StandardCharsets.UTF_8);
    }

    // ------------------------------------------------------------ commands

    static int encode(Args a) throws Exception {
        Registry reg = new Registry(a.req("registry"));
        String topic = a.req("topic");
        Schema schema = loadSchema(a.req("schema"));
        boolean isKey = a.flag("key");
        a.done();
        AvroKafkaSerializer<Object> s = serializer(reg, isKey);
        PrintStream out = stdout();
        BufferedReader in = stdin();
        String line;
        int n = 0;
        while ((line = in.readLine()) != null) {
            n++;
            if (line.isBlank()) {
                continue;
            }
            Object v;
            try {
                v = fromJson(schema, line);
            } catch (IOException | RuntimeException e) {
                throw new Failure(1, "line " + n + ": not Avro JSON for the schema: " + describe(e));
            }
            byte[] p = s.serialize(topic, v);
            out.println(p == null ? "null" : HexFormat.of().formatHex(p));
        }
        out.flush();
        s.close();
        return 0;
    }

    static int decode(Args a) throws Exception {
        Registry reg = new Registry(a.req("registry"));
        String topic = a.req("topic");
        String rs = a.opt("reader-schema");
        boolean isKey = a.flag("key");
        a.done();
        Schema reader = rs == null ? null : loadSchema(rs);
        AvroKafkaDeserializer<Object> d = deserializer(reg, isKey, reader);
        PrintStream out = stdout();
        BufferedReader in = stdin();
        String line;
        int n = 0;
        while ((line = in.readLine()) != null) {
            n++;
            line = line.strip();
            if (line.isEmpty()) {
                continue;
            }
            if (line.equals("null")) {
                out.println("null"); // no payload: a null value
                continue;
            }
            byte[] p;
            try {
                p = HexFormat.of().parseHex(line);
            } catch (IllegalArgumentException e) {
                throw new Failure(1, "line " + n + ": not hex: " + e.getMessage());
            }
            try {
                out.println(decodeOne(d, reader, topic, p));
            } catch (Failure f) {
                throw new Failure(f.code, "line " + n + ": " + f.getMessage());
            } catch (Exception e) {
                throw new Failure(1, "line " + n + ": " + describe(e));
            }
        }
        out.flush();
        d.close();
        return 0;
    }

    static int produce(Args a) throws Exception {
        String bootstrap = a.req("bootstrap");
        Registry reg = new Registry(a.req("registry"));
        String topic = a.req("topic");
        Schema schema = loadSchema(a.req("schema"));
        boolean keyString = a.flag("key-string");
        String parts = a.opt("partitions");
        a.done();
        if (parts != null) {
            createTopic(bootstrap, topic, parseInt(parts, "--partitions"));
        }
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        // A missing topic fails the first send after this long (brook's test
        // broker creates no topics by itself).
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 10000);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "brook-avro-java");
        p.put(ProducerConfig.METRIC_REPORTER_CLASSES_CONFIG, "");
        AvroKafkaSerializer<Object> vs = serializer(reg, false);
        @SuppressWarnings({"unchecked", "rawtypes"})
        Serializer<Object> ks = keyString ? (Serializer) new StringSerializer() : (Serializer) new ByteArraySerializer();
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        try (KafkaProducer<Object, Object> prod = new KafkaProducer<>(p, ks, vs)) {
            BufferedReader in = stdin();
            String line;
            int n = 0;
            while ((line = in.readLine()) != null) {
                n++;
                if (line.isBlank()) {
                    continue;
                }
                String key = null;
                String json = line;
                if (keyString) {
                    int tab = line.indexOf('\t');
                    if (tab < 0) {
                        throw new Failure(1, "line " + n + ": expected KEY<TAB>VALUE_JSON");
                    }
                    key = line.substring(0, tab);
                    json = line.substring(tab + 1);
                }
                Object v;
                try {
                    v = fromJson(schema, json);
                } catch (IOException | RuntimeException e) {
                    throw new Failure(1, "line " + n + ": not Avro JSON for the schema: " + describe(e));
                }
                sent.add(prod.send(new ProducerRecord<>(topic, key, v)));
            }
            prod.flush();
            for (int i = 0; i < sent.size(); i++) {
                try {
                    sent.get(i).get();
                } catch (java.util.concurrent.ExecutionException e) {
                    String hint = e.getCause() instanceof org.apache.kafka.common.errors.TimeoutException
                            ? " (does topic " + topic + " exist? --partitions N creates it)" : "";
                    throw new Failure(1, "record " + (i + 1) + " not produced: " + describe(e.getCause()) + hint);
                }
            }
        }
        PrintStream out = stdout();
        out.println(sent.size());
        out.flush();
        return 0;
    }

    /** Creates the topic (replication factor 1) unless it exists. */
    static void createTopic(String bootstrap, String topic, int partitions) throws Exception {
        if (partitions < 1) {
            throw new Failure(2, "--partitions must be at least 1");
        }
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
        try (Admin admin = Admin.create(p)) {
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get();
        } catch (java.util.concurrent.ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw new Failure(1, "cannot create topic " + topic + ": " + describe(e.getCause()));
            }
        }
    }

    static int consume(Args a) throws Exception {
        String bootstrap = a.req("bootstrap");
        Registry reg = new Registry(a.req("registry"));
        String topic = a.req("topic");
        int count = parseInt(a.req("count"), "--count");
        String tm = a.opt("timeout-ms");
        long timeoutMs = tm == null ? 30000 : parseInt(tm, "--timeout-ms");
        String rs = a.opt("reader-schema");
        a.flag("key-string"); // keys are always printed as strings
        boolean withTs = a.flag("with-timestamp");
        a.done();
        Schema reader = rs == null ? null : loadSchema(rs);
        AvroKafkaDeserializer<Object> d = deserializer(reg, false, reader);

        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "brook-avro-java");
        // No JMX: it only costs start-up time here.
        p.put(ConsumerConfig.METRIC_REPORTER_CLASSES_CONFIG, "");
        long deadline = System.currentTimeMillis() + timeoutMs;
        List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
        KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(),
                new ByteArrayDeserializer());
        try {
            List<TopicPartition> tps = new ArrayList<>();
            while (tps.isEmpty()) {
                long left = deadline - System.currentTimeMillis();
                if (left <= 0) {
                    throw new Failure(1, "timed out: topic " + topic + " not found; 0 of " + count
                            + " records arrived");
                }
                try {
                    List<PartitionInfo> parts = c.partitionsFor(topic, Duration.ofMillis(Math.min(left, 2000)));
                    if (parts != null) {
                        for (PartitionInfo pi : parts) {
                            tps.add(new TopicPartition(pi.topic(), pi.partition()));
                        }
                    }
                } catch (org.apache.kafka.common.errors.TimeoutException e) {
                    // not there yet
                }
                if (tps.isEmpty()) {
                    Thread.sleep(100);
                }
            }
            c.assign(tps);
            c.seekToBeginning(tps);
            while (got.size() < count) {
                long left = deadline - System.currentTimeMillis();
                if (left <= 0) {
                    throw new Failure(1, "timed out: " + got.size() + " of " + count + " records arrived");
                }
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(Math.min(left, 500)))) {
                    got.add(r);
                }
            }
            // N arrived: read on to the end of every partition as it is now
            // (the last stable offset, read_committed), so that the output is
            // the whole topic, extra records (duplicates, say) included,
            // whatever the order in which the partitions' records came in.
            Map<TopicPartition, Long> end = c.endOffsets(tps, Duration.ofMillis(
                    Math.max(1000, deadline - System.currentTimeMillis())));
            while (true) {
                boolean atEnd = true;
                for (TopicPartition tp : tps) {
                    if (c.position(tp) < end.getOrDefault(tp, 0L)) {
                        atEnd = false;
                    }
                }
                if (atEnd) {
                    break;
                }
                long left = deadline - System.currentTimeMillis();
                if (left <= 0) {
                    throw new Failure(1, "timed out reading to the end of " + topic + " after "
                            + got.size() + " records");
                }
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(Math.min(left, 500)))) {
                    got.add(r);
                }
            }
        } finally {
            // No group to leave, nothing to commit: do not wait.
            c.close(CloseOptions.timeout(Duration.ZERO));
        }
        got.sort(Comparator.comparingInt((ConsumerRecord<byte[], byte[]> r) -> r.partition())
                .thenComparingLong(ConsumerRecord::offset));
        PrintStream out = stdout();
        for (ConsumerRecord<byte[], byte[]> r : got) {
            String key = r.key() == null ? "null" : new String(r.key(), StandardCharsets.UTF_8);
            String value;
            try {
                value = r.value() == null ? "null" : decodeOne(d, reader, topic, r.value());
            } catch (Failure f) {
                throw new Failure(f.code, "partition " + r.partition() + " offset " + r.offset() + ": "
                        + f.getMessage());
            } catch (Exception e) {
                throw new Failure(1, "partition " + r.partition() + " offset " + r.offset() + ": "
                        + describe(e));
            }
            out.println((withTs ? r.timestamp() + "\t" : "") + key + "\t" + value);
        }
        out.flush();
        d.close();
        return 0;
    }

    static int register(Args a) throws Exception {
        Registry reg = new Registry(a.req("registry"));
        String subject = a.req("subject");
        String file = a.req("schema");
        boolean verbatim = a.flag("verbatim");
        a.done();
        Schema schema = loadSchema(file);
        // By default the text the serializer registers (Avro's Schema.toString()),
        // so that register and encode agree on the id; --verbatim sends the
        // file as it is.
        String text = verbatim ? Files.readString(Path.of(file), StandardCharsets.UTF_8) : schema.toString();
        ObjectMapper om = new ObjectMapper();
        ObjectNode body = om.createObjectNode();
        body.put("schema", text);
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        String url = reg.ccompat + "/subjects/" + URLEncoder.encode(subject, StandardCharsets.UTF_8)
                .replace("+", "%20") + "/versions";
        HttpRequest req = HttpRequest.newBuilder(URI.create(url))
                .timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                .header("Accept", "application/vnd.schemaregistry.v1+json, application/json")
                .POST(HttpRequest.BodyPublishers.ofString(om.writeValueAsString(body)))
                .build();
        HttpResponse<String> res = http.send(req, HttpResponse.BodyHandlers.ofString());
        if (res.statusCode() / 100 != 2) {
            throw new Failure(1, "POST " + url + ": HTTP " + res.statusCode() + ": " + res.body());
        }
        JsonNode id = om.readTree(res.body()).get("id");
        if (id == null || !id.canConvertToLong()) {
            throw new Failure(1, "POST " + url + ": no id in " + res.body());
        }
        PrintStream out = stdout();
        out.println(id.asLong());
        out.flush();
        return 0;
    }

    /**
     * Runs the code paths of the other commands without a registry or a
     * broker (both are pointed at a closed loopback port), so that a JVM
     * class-data-sharing archive made of this run (tests/avro-java/run)
     * holds the classes they load. Prints nothing; always succeeds.
     */
    static int warmup(Args a) throws Exception {
        a.done();
        Schema schema = new Schema.Parser().parse("{\"type\":\"record\",\"name\":\"W\",\"fields\":["
                + "{\"name\":\"i\",\"type\":\"int\"},{\"name\":\"s\",\"type\":[\"null\",\"string\"]},"
                + "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"long\"}},"
                + "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"double\"}},"
                + "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}},"
                + "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":1}},"
                + "{\"name\":\"d\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":4,\"scale\":2}},"
                + "{\"name\":\"t\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
                + "{\"name\":\"u\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}}]}");
        Object v = fromJson(schema, "{\"i\":1,\"s\":{\"string\":\"x\"},\"a\":[1],\"m\":{\"k\":1.5},"
                + "\"e\":\"A\",\"f\":\"z\",\"d\":\"\\u0001\",\"t\":1,"
                + "\"u\":\"123e4567-e89b-12d3-a456-426614174000\"}");
        toJson(schema, v);
        ByteArrayOutputStream bin = new ByteArrayOutputStream();
        org.apache.avro.io.BinaryEncoder enc = EncoderFactory.get().binaryEncoder(bin, null);
        new GenericDatumWriter<Object>(schema).write(v, enc);
        enc.flush();
        new GenericDatumReader<Object>(schema, schema).read(null,
                DecoderFactory.get().binaryDecoder(bin.toByteArray(), null));
        Registry reg = new Registry("http://127.0.0.1:9/apis/ccompat/v7");
        AvroKafkaSerializer<Object> s = serializer(reg, false);
        try {
            s.serialize("warmup", v);
        } catch (RuntimeException expected) {
            // no registry there
        }
        AvroKafkaDeserializer<Object> d = deserializer(reg, false, schema);
        try {
            d.deserialize("warmup", new byte[] {0, 0, 0, 0, 1, 2});
        } catch (RuntimeException expected) {
            // no registry there
        }
        try {
            HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(reg.ccompat + "/subjects"))
                    .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException expected) {
            // no registry there
        }
        new ObjectMapper().readTree("{\"id\":1}");
        Properties p = new Properties();
        p.put("bootstrap.servers", "127.0.0.1:9");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 200);
        try (KafkaProducer<String, Object> prod = new KafkaProducer<>(p, new StringSerializer(), s)) {
            prod.send(new ProducerRecord<>("warmup", "k", v));
        } catch (RuntimeException expected) {
            // no broker there
        }
        p = new Properties();
        p.put("bootstrap.servers", "127.0.0.1:9");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(),
                new ByteArrayDeserializer())) {
            TopicPartition tp = new TopicPartition("warmup", 0);
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            c.poll(Duration.ofMillis(100));
        } catch (RuntimeException expected) {
            // no broker there
        }
        return 0;
    }

    static int parseInt(String s, String what) {
        try {
            int v = Integer.parseInt(s);
            if (v < 0) {
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException e) {
            throw new Failure(2, what + " must be a non-negative integer, got '" + s + "'");
        }
    }
}
