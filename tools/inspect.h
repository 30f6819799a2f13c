/*
 * brook inspect — prints the entries of a store from an application's state
 * directory, per task, with the changelog offset each task's data
 * corresponds to. Reads the state db read-only, so it works while the
 * application runs (it then shows what the application last committed).
 */
#ifndef BROOK_TOOLS_INSPECT_H
#define BROOK_TOOLS_INSPECT_H

#include <stdbool.h>
#include <stdio.h>

#include "brook_int.h"

/**
 * Runs `brook inspect`; @p argv[0] is "inspect".
 * @returns the exit code: 0, 1 on an error (message on stderr), 2 on a
 *          usage error.
 */
int brook_cli_inspect(int argc, char **argv);

/* What inspect decodes from a state db, apart so that fuzz targets
 * (tests/fuzz/fuzz_inspect.c) reach it. Not thread-safe. */

/**
 * Appends to @p tasks the task ids (allocated; free each) of the column
 * families among @p names ("<task>/<store>") that hold @p store, ordered
 * by sub-topology, then partition, numerically ("0_2" before "0_10");
 * names not of the form "<n>_<n>" after those, bytewise.
 */
void brook__inspect_tasks(char **names, size_t cnt, const char *store,
                          brook__ptrvec_t *tasks);

/**
 * Prints @p size bytes at @p data decoded with @p serde (NULL: bytes) to
 * @p out, using @p arena and @p buf as scratch. Returns false if they do
 * not decode; they are then printed as bytes: printable ASCII as is, other
 * bytes and backslash as \xNN. Strings print the same way, except that
 * bytes from 0x80 up (UTF-8) pass as is; the output never holds a control
 * byte.
 */
bool brook__inspect_print_datum(FILE *out, const brook_serde_t *serde,
                                const void *data, size_t size,
                                brook_arena_t *arena, brook_buf_t *buf);

#endif
