/*
 * Schemas the Avro fuzz target and unit tests share: one that has every
 * Avro type (and logical types over them, which avro-c reads as their
 * underlying types), a recursive one, and an old and a new version of a
 * record for schema resolution.
 */
#ifndef BROOK_TEST_AVRO_SCHEMAS_H
#define BROOK_TEST_AVRO_SCHEMAS_H

#define AVRO_ALL_TYPES                                                         \
        "{\"type\":\"record\",\"name\":\"All\",\"namespace\":\"brook.test\","  \
        "\"fields\":["                                                         \
        "{\"name\":\"n\",\"type\":\"null\"},"                                  \
        "{\"name\":\"b\",\"type\":\"boolean\"},"                               \
        "{\"name\":\"i\",\"type\":\"int\"},"                                   \
        "{\"name\":\"l\",\"type\":\"long\"},"                                  \
        "{\"name\":\"f\",\"type\":\"float\"},"                                 \
        "{\"name\":\"d\",\"type\":\"double\"},"                                \
        "{\"name\":\"by\",\"type\":\"bytes\"},"                                \
        "{\"name\":\"s\",\"type\":\"string\"},"                                \
        "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"Color\","      \
        "\"symbols\":[\"RED\",\"GREEN\",\"BLUE\"]}},"                          \
        "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"Four\","     \
        "\"size\":4}},"                                                        \
        "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"long\"}},"   \
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},"  \
        "{\"name\":\"u\",\"type\":[\"null\",\"string\",\"Color\"]},"           \
        "{\"name\":\"dec\",\"type\":{\"type\":\"bytes\",\"logicalType\":"      \
        "\"decimal\",\"precision\":9,\"scale\":2}},"                           \
        "{\"name\":\"date\",\"type\":{\"type\":\"int\",\"logicalType\":"       \
        "\"date\"}},"                                                          \
        "{\"name\":\"tsm\",\"type\":{\"type\":\"long\",\"logicalType\":"       \
        "\"timestamp-millis\"}},"                                              \
        "{\"name\":\"tsu\",\"type\":{\"type\":\"long\",\"logicalType\":"       \
        "\"timestamp-micros\"}},"                                              \
        "{\"name\":\"uuid\",\"type\":{\"type\":\"string\",\"logicalType\":"    \
        "\"uuid\"}},"                                                          \
        "{\"name\":\"next\",\"type\":[\"null\",\"All\"]}]}"

#define AVRO_V1                                                                \
        "{\"type\":\"record\",\"name\":\"Rx\",\"namespace\":\"brook.test\","   \
        "\"fields\":["                                                         \
        "{\"name\":\"id\",\"type\":\"int\"},"                                  \
        "{\"name\":\"drug\",\"type\":\"string\"},"                             \
        "{\"name\":\"dose\",\"type\":\"float\"},"                              \
        "{\"name\":\"gone\",\"type\":\"string\"},"                             \
        "{\"name\":\"state\",\"type\":{\"type\":\"enum\",\"name\":\"State\","  \
        "\"symbols\":[\"NEW\",\"FILLED\",\"RECALLED\"]}},"                     \
        "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"int\"}}," \
        "{\"name\":\"note\",\"type\":\"bytes\"}]}"

/* v1 evolved: id int->long, dose float->double, tags' items int->double,
 * note bytes->string, gone removed, state's RECALLED removed (default
 * NEW), renamed drug (alias), and fields v1 lacks with defaults of every
 * kind. */
#define AVRO_V2                                                                \
        "{\"type\":\"record\",\"name\":\"Rx\",\"namespace\":\"brook.test\","   \
        "\"fields\":["                                                         \
        "{\"name\":\"id\",\"type\":\"long\"},"                                 \
        "{\"name\":\"medication\",\"type\":\"string\",\"aliases\":"            \
        "[\"drug\"]},"                                                         \
        "{\"name\":\"dose\",\"type\":\"double\"},"                             \
        "{\"name\":\"state\",\"type\":{\"type\":\"enum\",\"name\":\"State\","  \
        "\"symbols\":[\"NEW\",\"FILLED\"],\"default\":\"NEW\"}},"              \
        "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":"           \
        "\"double\"}},"                                                        \
        "{\"name\":\"note\",\"type\":\"string\"},"                             \
        "{\"name\":\"pharmacy\",\"type\":\"string\",\"default\":\"none\"},"    \
        "{\"name\":\"refills\",\"type\":\"int\",\"default\":3},"               \
        "{\"name\":\"ward\",\"type\":[\"null\",\"string\"],\"default\":null}," \
        "{\"name\":\"code\",\"type\":{\"type\":\"fixed\",\"name\":\"Code\","   \
        "\"size\":2},\"default\":\"\\u00ff\\u0001\"},"                         \
        "{\"name\":\"extra\",\"type\":{\"type\":\"map\",\"values\":\"long\"}," \
        "\"default\":{\"a\":1}},"                                              \
        "{\"name\":\"who\",\"type\":{\"type\":\"record\",\"name\":\"Who\","    \
        "\"fields\":[{\"name\":\"n\",\"type\":\"string\"}]},"                  \
        "\"default\":{\"n\":\"?\"}}]}"

#endif
