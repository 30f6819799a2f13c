/*
 * The example topologies, by name, so the examples and `brook describe`
 * build exactly the same graph.
 */
#ifndef BROOK_EXAMPLES_TOPOLOGIES_H
#define BROOK_EXAMPLES_TOPOLOGIES_H

#include <brook/brook.h>

typedef struct brook_example {
        const char *name;
        const char *summary;
        /** Adds the example's nodes to @p b; topics as documented. */
        void (*build)(brook_builder_t *b);
} brook_example_t;

/** NULL-terminated by a zeroed entry. */
extern const brook_example_t brook_examples[];

const brook_example_t *brook_example_find(const char *name);

#endif
