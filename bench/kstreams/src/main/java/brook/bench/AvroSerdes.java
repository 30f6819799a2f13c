/*
 * The avro-* workloads' value serde for Kafka Streams: a Serde<GenericRecord>
 * of Apicurio Registry's Kafka Avro serializer and deserializer, configured
 * for the Confluent wire format (magic byte 0, 4-byte big-endian schema id,
 * Avro binary; no headers) against the registry that brook uses, exactly as
 * tests/avro-java configures them (Main.serdeConfig(), README.md there): the
 * Java side that brook's Avro serdes are tested against.
 *
 * As brook's serde (brook_serde_avro_new() with bench/record.avsc), the
 * deserializer resolves every writer schema to the reader schema of
 * bench/record.avsc (ReaderSchemaDatumProvider), and the serializer
 * registers the schema of the records it is given under "<topic>-value"
 * (TopicNameStrategy) on first use.
 */
package brook.bench;

import java.util.HashMap;
import java.util.Map;

import io.apicurio.registry.resolver.config.SchemaResolverConfig;
import io.apicurio.registry.serde.Default4ByteIdHandler;
import io.apicurio.registry.serde.avro.AvroKafkaDeserializer;
import io.apicurio.registry.serde.avro.AvroKafkaSerializer;
import io.apicurio.registry.serde.avro.AvroSerdeConfig;
import io.apicurio.registry.serde.avro.DefaultAvroDatumProvider;
import io.apicurio.registry.serde.config.IdOption;
import io.apicurio.registry.serde.config.SerdeConfig;
import io.apicurio.registry.serde.kafka.config.KafkaSerdeConfig;
import io.apicurio.registry.serde.strategy.TopicIdStrategy;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DatumReader;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;

final class AvroSerdes {
    private AvroSerdes() {
    }

    /**
     * The core v3 API's base URL of a registry given as its ccompat base
     * (http://HOST:PORT/apis/ccompat/v7, what tools/registry/registry start
     * prints), its core v3 base or http://HOST:PORT: the serdes speak only
     * the core API.
     */
    static String coreUrl(String url) {
        String u = url.replaceAll("/+$", "");
        int apis = u.indexOf("/apis/");
        String root = apis >= 0 ? u.substring(0, apis) : u;
        if (!root.startsWith("http://") && !root.startsWith("https://"))
            throw new IllegalArgumentException("--registry must be an http(s) URL, got '" + url + "'");
        return u.contains("/apis/registry/v3") ? u : root + "/apis/registry/v3";
    }

    /* tests/avro-java's Main.serdeConfig(), setting for setting. */
    static Map<String, Object> serdeConfig(String registry) {
        Map<String, Object> c = new HashMap<>();
        c.put(SchemaResolverConfig.REGISTRY_URL, coreUrl(registry));
        /* Magic byte 0 and a 4-byte big-endian id, as Confluent. */
        c.put(SerdeConfig.ID_HANDLER, Default4ByteIdHandler.class.getName());
        /* The id ccompat hands out and serves: the content id. */
        c.put(SerdeConfig.USE_ID, IdOption.contentId.name());
        c.put(KafkaSerdeConfig.ENABLE_HEADERS, false);
        /* TopicNameStrategy: artifact "<topic>-value" in group "default". */
        c.put(SchemaResolverConfig.ARTIFACT_RESOLVER_STRATEGY, TopicIdStrategy.class.getName());
        c.put(SchemaResolverConfig.AUTO_REGISTER_ARTIFACT, true);
        c.put(SchemaResolverConfig.AUTO_REGISTER_ARTIFACT_IF_EXISTS, "FIND_OR_CREATE_VERSION");
        c.put(SchemaResolverConfig.CANONICALIZE, true);
        c.put(SchemaResolverConfig.DEREFERENCE_SCHEMA, true);
        c.put(AvroSerdeConfig.AVRO_ENCODING, AvroSerdeConfig.AVRO_ENCODING_BINARY);
        c.put(AvroSerdeConfig.USE_SPECIFIC_AVRO_READER, false);
        c.put(SchemaResolverConfig.HTTP_ADAPTER, "JDK");
        c.put(SchemaResolverConfig.RETRY_COUNT, 1L);
        return c;
    }

    /** The value serde: GenericRecord, read in @p reader's schema. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    static Serde<GenericRecord> valueSerde(String registry, Schema reader) {
        AvroKafkaSerializer<GenericRecord> ser = new AvroKafkaSerializer<>();
        ser.configure(serdeConfig(registry), false);
        Map<String, Object> dc = serdeConfig(registry);
        dc.put(AvroSerdeConfig.AVRO_DATUM_PROVIDER, ReaderSchemaDatumProvider.class.getName());
        dc.put(ReaderSchemaDatumProvider.READER_SCHEMA, reader.toString());
        AvroKafkaDeserializer<GenericRecord> de = new AvroKafkaDeserializer<>();
        de.configure(dc, false);
        return Serdes.serdeFrom(ser, de);
    }

    /**
     * tests/avro-java's ReaderSchemaDatumProvider: Apicurio's
     * DefaultAvroDatumProvider reads generic data in the writer's schema
     * only; this one resolves it to a reader schema (Avro schema
     * resolution, as Confluent's deserializer does given one), taken from
     * the serde config key {@link #READER_SCHEMA}.
     */
    public static class ReaderSchemaDatumProvider<T> extends DefaultAvroDatumProvider<T> {
        public static final String READER_SCHEMA = "brook.avro.reader-schema";

        private Schema reader;

        @Override
        public void configure(AvroSerdeConfig config) {
            super.configure(config);
            Object s = config.originals().get(READER_SCHEMA);
            if (s == null)
                throw new IllegalArgumentException("missing " + READER_SCHEMA);
            reader = new Schema.Parser().parse(s.toString());
        }

        @Override
        public DatumReader<T> createDatumReader(Schema writer) {
            return new GenericDatumReader<>(writer, reader);
        }
    }
}
