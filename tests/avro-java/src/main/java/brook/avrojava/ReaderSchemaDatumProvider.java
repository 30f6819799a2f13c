package brook.avrojava;

import io.apicurio.registry.serde.avro.AvroSerdeConfig;
import io.apicurio.registry.serde.avro.DefaultAvroDatumProvider;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.io.DatumReader;

/**
 * Apicurio's DefaultAvroDatumProvider reads generic data with the writer's
 * schema only. This one resolves it against a reader schema (Avro schema
 * resolution, as Confluent's deserializer does given a reader schema), taken
 * from the serde config key {@link #READER_SCHEMA}.
 */
public class ReaderSchemaDatumProvider<T> extends DefaultAvroDatumProvider<T> {

    public static final String READER_SCHEMA = "brook.avro.reader-schema";

    private Schema reader;

    @Override
    public void configure(AvroSerdeConfig config) {
        super.configure(config);
        Object s = config.originals().get(READER_SCHEMA);
        if (s == null) {
            throw new IllegalArgumentException("missing " + READER_SCHEMA);
        }
        reader = new Schema.Parser().parse(s.toString());
    }

    @Override
    public DatumReader<T> createDatumReader(Schema writer) {
        return new GenericDatumReader<>(writer, reader);
    }
}
