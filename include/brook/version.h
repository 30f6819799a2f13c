/*
 * brook — the library's version.
 *
 * The macros are the version of the headers a program was compiled with;
 * brook_version() and brook_version_str() are the version of the library
 * it runs with. A program that needs a feature of a later release compares
 * BROOK_VERSION at compile time and brook_version() at run time.
 *
 * CMake's project(VERSION) must agree with these macros: the configure step
 * fails when they differ, so the two cannot drift apart.
 */
#ifndef BROOK_VERSION_H
#define BROOK_VERSION_H

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

#define BROOK_VERSION_MAJOR 0
#define BROOK_VERSION_MINOR 1
#define BROOK_VERSION_PATCH 0

/** The version as one integer, 0xMMmmpp (as librdkafka's RD_KAFKA_VERSION
 *  without its pre-release byte): 0.1.0 is 0x000100, so versions compare
 *  with < and >. */
#define BROOK_VERSION                                                          \
        ((BROOK_VERSION_MAJOR << 16) | (BROOK_VERSION_MINOR << 8) |            \
         BROOK_VERSION_PATCH)

/** The version as a string, "MAJOR.MINOR.PATCH". */
#define BROOK_VERSION_STR "0.1.0"

/**
 * The version of the library the program runs with, encoded as
 * BROOK_VERSION is. Thread-safe; never fails.
 */
int brook_version(void);

/**
 * The version of the library the program runs with, "MAJOR.MINOR.PATCH".
 * The string is static: never free it. Thread-safe; never fails.
 */
const char *brook_version_str(void);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
