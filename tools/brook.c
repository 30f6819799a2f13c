/*
 * brook — the command-line tool.
 *
 *   brook describe EXAMPLE [--dot]   print an example's topology
 *   brook examples                   list the examples
 *   brook inspect --state-dir DIR --store NAME [...]
 *                                    print a store's entries per task
 *   brook version
 */
#include <stdio.h>
#include <string.h>

#include "inspect.h"
#include "topologies.h"

static int usage(void)
{
        fprintf(stderr, "usage: brook describe EXAMPLE [--dot]\n"
                        "       brook examples\n"
                        "       brook inspect --state-dir DIR --store NAME "
                        "[--application-id ID]\n"
                        "                     [--key-serde S] [--value-serde "
                        "S] [--limit N]\n"
                        "       brook version\n");
        return 2;
}

static int cmd_describe(int argc, char **argv)
{
        const brook_example_t *ex;
        brook_builder_t *b;
        char *text;
        bool dot = argc > 3 && !strcmp(argv[3], "--dot");

        if (argc < 3)
                return usage();
        if (!(ex = brook_example_find(argv[2]))) {
                fprintf(stderr,
                        "brook: no example named \"%s\" (see brook "
                        "examples)\n",
                        argv[2]);
                return 1;
        }
        b = brook_builder_new();
        ex->build(b);
        text = brook_topology_describe(b, dot ? BROOK_DESCRIBE_DOT
                                              : BROOK_DESCRIBE_TEXT);
        if (!text) {
                fprintf(stderr, "brook: %s\n", brook_builder_error(b));
                brook_builder_destroy(b);
                return 1;
        }
        fputs(text, stdout);
        brook_free(text);
        brook_builder_destroy(b);
        return 0;
}

int main(int argc, char **argv)
{
        const brook_example_t *ex;
        if (argc < 2)
                return usage();
        if (!strcmp(argv[1], "describe"))
                return cmd_describe(argc, argv);
        if (!strcmp(argv[1], "examples")) {
                for (ex = brook_examples; ex->name; ex++)
                        printf("%-16s %s\n", ex->name, ex->summary);
                return 0;
        }
        if (!strcmp(argv[1], "inspect"))
                return brook_cli_inspect(argc - 1, argv + 1);
        if (!strcmp(argv[1], "version")) {
                printf("brook %s\n", brook_version_str());
                return 0;
        }
        return usage();
}
