/*
 * brook inspect — prints the entries of a store from an application's state
 * directory, per task, with the changelog offset each task's data
 * corresponds to. Reads the state db read-only, so it works while the
 * application runs (it then shows what the application last committed).
 */
#ifndef BROOK_TOOLS_INSPECT_H
#define BROOK_TOOLS_INSPECT_H

/**
 * Runs `brook inspect`; @p argv[0] is "inspect".
 * @returns the exit code: 0, 1 on an error (message on stderr), 2 on a
 *          usage error.
 */
int brook_cli_inspect(int argc, char **argv);

#endif
