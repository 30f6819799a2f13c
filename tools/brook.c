/*
 * brook — the command-line tool.
 *
 *   brook describe EXAMPLE [--dot]   print an example's topology
 *   brook examples                   list the examples
 *   brook inspect --state-dir DIR --store NAME [...]
 *                                    print a store's entries per task
 *   brook reset --application-id ID [...]
 *                                    reset an application for reprocessing
 *                                    (Kafka Streams' application reset tool)
 *   brook version
 *   brook help [COMMAND]
 *
 * Conventions: help (brook --help, brook help, brook COMMAND --help) goes
 * to stdout and exits 0; a command line brook does not understand (no
 * command, an unknown command or option, a missing or extra argument)
 * prints why and the usage to stderr and exits 2; a command that fails
 * exits 1.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "inspect.h"
#include "reset.h"
#include "topologies.h"

static const char usage_describe[] =
        "usage: brook describe EXAMPLE [--dot]\n"
        "  Prints the topology of EXAMPLE (see brook examples) in Kafka "
        "Streams'\n"
        "  text form, or as Graphviz DOT with --dot.\n";
static const char usage_examples[] = "usage: brook examples\n"
                                     "  Lists the examples brook describe "
                                     "knows.\n";
static const char usage_version[] = "usage: brook version\n"
                                    "  Prints brook's version.\n";

static void usage(FILE *fp)
{
        fprintf(fp, "usage: brook describe EXAMPLE [--dot]\n"
                    "       brook examples\n"
                    "       brook inspect --state-dir DIR --store NAME "
                    "[--application-id ID]\n"
                    "                     [--key-serde S] [--value-serde "
                    "S] [--limit N]\n"
                    "       brook reset --application-id ID [--input-topics "
                    "T1,T2] [...]\n"
                    "       brook version\n"
                    "       brook help [COMMAND]\n"
                    "Run brook COMMAND --help for a command's options.\n");
}

/* Says why the command line is wrong, then how to write it; exit code 2. */
static int bad_usage(const char *usage_text, const char *fmt, const char *arg)
{
        fputs("brook: ", stderr);
        fprintf(stderr, fmt, arg);
        fputc('\n', stderr);
        if (usage_text)
                fputs(usage_text, stderr);
        else
                usage(stderr);
        return 2;
}

static bool is_help(const char *arg)
{
        return !strcmp(arg, "--help") || !strcmp(arg, "-h");
}

/* For commands without options: --help, or nothing at all. Returns -1 to
 * run the command, else the exit code. */
static int no_args(int argc, char **argv, const char *usage_text)
{
        if (argc == 2)
                return -1;
        if (is_help(argv[2])) {
                fputs(usage_text, stdout);
                return 0;
        }
        if (argv[2][0] == '-')
                return bad_usage(usage_text, "unknown option \"%s\"", argv[2]);
        return bad_usage(usage_text, "unexpected argument \"%s\"", argv[2]);
}

static int cmd_describe(int argc, char **argv)
{
        const brook_example_t *ex;
        const char *name = NULL;
        brook_builder_t *b;
        bool dot = false;
        char *text;
        int i;

        for (i = 2; i < argc; i++) {
                if (is_help(argv[i])) {
                        fputs(usage_describe, stdout);
                        return 0;
                }
                if (!strcmp(argv[i], "--dot"))
                        dot = true;
                else if (argv[i][0] == '-')
                        return bad_usage(usage_describe,
                                         "unknown option \"%s\"", argv[i]);
                else if (name)
                        return bad_usage(usage_describe,
                                         "unexpected argument \"%s\"", argv[i]);
                else
                        name = argv[i];
        }
        if (!name)
                return bad_usage(usage_describe, "%s",
                                 "describe needs an "
                                 "EXAMPLE");
        if (!(ex = brook_example_find(name))) {
                fprintf(stderr,
                        "brook: no example named \"%s\" (see brook "
                        "examples)\n",
                        name);
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

static int cmd_examples(int argc, char **argv)
{
        const brook_example_t *ex;
        int rc = no_args(argc, argv, usage_examples);
        if (rc >= 0)
                return rc;
        for (ex = brook_examples; ex->name; ex++)
                printf("%-16s %s\n", ex->name, ex->summary);
        return 0;
}

static int cmd_version(int argc, char **argv)
{
        int rc = no_args(argc, argv, usage_version);
        if (rc >= 0)
                return rc;
        printf("brook %s\n", brook_version_str());
        return 0;
}

/* brook help [COMMAND]: the same text as brook [COMMAND] --help. */
static int cmd_help(int argc, char **argv)
{
        char *help[] = {argv[0], argv[argc > 2 ? 2 : 1], "--help", NULL};
        if (argc == 2 || !strcmp(argv[2], "help")) {
                if (argc > 3)
                        return bad_usage(NULL, "unexpected argument \"%s\"",
                                         argv[3]);
                usage(stdout);
                return 0;
        }
        if (argc > 3)
                return bad_usage(NULL, "unexpected argument \"%s\"", argv[3]);
        if (!strcmp(argv[2], "describe"))
                return cmd_describe(3, help);
        if (!strcmp(argv[2], "examples"))
                return cmd_examples(3, help);
        if (!strcmp(argv[2], "inspect"))
                return brook_cli_inspect(2, help + 1);
        if (!strcmp(argv[2], "reset"))
                return brook_cli_reset(2, help + 1);
        if (!strcmp(argv[2], "version"))
                return cmd_version(3, help);
        return bad_usage(NULL, "unknown command \"%s\"", argv[2]);
}

int main(int argc, char **argv)
{
        if (argc < 2)
                return bad_usage(NULL, "%s", "no command given");
        if (is_help(argv[1])) {
                if (argc > 2)
                        return bad_usage(NULL, "unexpected argument \"%s\"",
                                         argv[2]);
                usage(stdout);
                return 0;
        }
        if (!strcmp(argv[1], "help"))
                return cmd_help(argc, argv);
        if (!strcmp(argv[1], "describe"))
                return cmd_describe(argc, argv);
        if (!strcmp(argv[1], "examples"))
                return cmd_examples(argc, argv);
        if (!strcmp(argv[1], "inspect"))
                return brook_cli_inspect(argc - 1, argv + 1);
        if (!strcmp(argv[1], "reset"))
                return brook_cli_reset(argc - 1, argv + 1);
        if (!strcmp(argv[1], "version"))
                return cmd_version(argc, argv);
        if (argv[1][0] == '-')
                return bad_usage(NULL, "unknown option \"%s\"", argv[1]);
        return bad_usage(NULL, "unknown command \"%s\"", argv[1]);
}
