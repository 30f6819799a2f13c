/*
 * Unit tests of arenas and byte buffers: sizes near SIZE_MAX abort with a
 * message instead of wrapping around to a small allocation.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "brook_int.h"

/* Checks that @p n bytes at @p p all hold @p c. */
static void check_filled(const void *p, int c, size_t n)
{
        const unsigned char *b = p;
        for (size_t i = 0; i < n; i++)
                if (b[i] != (unsigned char)c)
                        fail_msg("byte %zu is %d, not %d", i, b[i], c);
}

static void test_small_records_reuse_the_first_block(void **state)
{
        brook_arena_t *a = brook_arena_new();
        void *p1, *p2;

        (void)state;
        p1 = brook_arena_alloc(a, 100);
        brook_arena_reset(a);
        p2 = brook_arena_alloc(a, 100);
        assert_ptr_equal(p1, p2);
        assert_int_equal((uintptr_t)p2 % 16, 0);
        brook_arena_destroy(a);
}

/* Runs @p fn in a child and checks that it aborted (SIGABRT) after
 * writing a message that contains @p msg to stderr. */
static void check_aborts(void (*fn)(void), const char *msg)
{
        int fds[2], status;
        char out[512];
        size_t len = 0;
        ssize_t n;
        pid_t pid;

        assert_int_equal(pipe(fds), 0);
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                dup2(fds[1], STDERR_FILENO);
                close(fds[0]);
                fn();
                /* Not reached if fn aborts as it should. */
                _exit(0);
        }
        close(fds[1]);
        while (len < sizeof out - 1 &&
               (n = read(fds[0], out + len, sizeof out - 1 - len)) > 0)
                len += (size_t)n;
        out[len] = '\0';
        close(fds[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGABRT);
        if (!strstr(out, msg))
                fail_msg("stderr was \"%s\", expected \"%s\" in it", out, msg);
}

static void alloc_size_max(void)
{
        brook_arena_t *a = brook_arena_new();
        /* Rounded up to 16 this wrapped to 0 and returned a pointer to no
         * memory at all. */
        brook_arena_alloc(a, SIZE_MAX - 3);
}

static void alloc_size_max_exact(void)
{
        brook_arena_t *a = brook_arena_new();
        brook_arena_alloc(a, SIZE_MAX);
}

static void alloc_below_header(void)
{
        brook_arena_t *a = brook_arena_new();
        /* Aligned already; the block header added to it overflows. */
        brook_arena_alloc(a, SIZE_MAX - 31);
}

static void buf_reserve_size_max(void)
{
        brook_buf_t *b = brook_buf_new();
        brook_buf_append(b, "abc", 3);
        /* cap - len < size forever: doubling wrapped to 0 and looped. */
        brook_buf_reserve(b, SIZE_MAX - 1);
}

static void test_overflow_aborts(void **state)
{
        (void)state;
        check_aborts(alloc_size_max, "arena allocation of");
        check_aborts(alloc_size_max_exact, "overflows size_t");
        check_aborts(alloc_below_header, "arena block of");
        check_aborts(buf_reserve_size_max, "buffer of");
}

/* Buffers still grow normally, including past a doubling. */
static void test_buf_growth(void **state)
{
        brook_buf_t *b = brook_buf_new();
        char chunk[1000];

        (void)state;
        assert_int_equal(brook_buf_len(b), 0);
        assert_string_equal(brook_buf_data(b), "");
        for (int i = 0; i < 100; i++) {
                memset(chunk, 'a' + i % 26, sizeof chunk);
                brook_buf_append(b, chunk, sizeof chunk);
        }
        assert_int_equal(brook_buf_len(b), 100000);
        for (int i = 0; i < 100; i++)
                check_filled((const char *)brook_buf_data(b) + i * 1000,
                             'a' + i % 26, 1000);
        brook_buf_destroy(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_small_records_reuse_the_first_block),
                cmocka_unit_test(test_overflow_aborts),
                cmocka_unit_test(test_buf_growth),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
