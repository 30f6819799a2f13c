/*
 * Unit tests of arenas and byte buffers: records bigger than the first
 * block reuse one block after the first reset instead of allocating one
 * per record, a huge record is not kept, and sizes near SIZE_MAX abort
 * with a message instead of wrapping around to a small allocation.
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

/* Fills @p n bytes at @p p with @p c; check_filled() checks them back
 * later, so two allocations that overlap show (and ASan reports any write
 * past a block). */
static void fill(void *p, int c, size_t n)
{
        memset(p, c, n);
}

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

/* A record of 20 KiB does not fit the 8 KiB first block. After the first
 * such record the first block has grown, so later ones land at the same
 * address: no block is allocated and freed per record. */
static void test_big_records_reuse_one_block(void **state)
{
        brook_arena_t *a = brook_arena_new();
        void *hdr, *big, *first_big = NULL, *first_hdr = NULL;

        (void)state;
        for (int i = 0; i < 5; i++) {
                hdr = brook_arena_alloc(a, 64);
                big = brook_arena_alloc(a, 20 * 1024);
                fill(hdr, 'h', 64);
                fill(big, 'b' + i, 20 * 1024);
                check_filled(hdr, 'h', 64);
                check_filled(big, 'b' + i, 20 * 1024);
                if (i == 1) {
                        first_hdr = hdr;
                        first_big = big;
                } else if (i > 1) {
                        /* Both in the one (grown) first block, in order. */
                        assert_ptr_equal(hdr, first_hdr);
                        assert_ptr_equal(big, first_big);
                        assert_ptr_equal((char *)big, (char *)hdr + 64);
                }
                brook_arena_reset(a);
        }
        brook_arena_destroy(a);
}

/* Several allocations that together pass the first block, each alone
 * below it: the block grows to hold the whole generation. */
static void test_generation_over_the_first_block(void **state)
{
        brook_arena_t *a = brook_arena_new();
        char *p[10], *q[10];

        (void)state;
        for (int i = 0; i < 10; i++) {
                p[i] = brook_arena_alloc(a, 3000);
                fill(p[i], 'a' + i, 3000);
        }
        for (int i = 0; i < 10; i++)
                check_filled(p[i], 'a' + i, 3000);
        brook_arena_reset(a);
        for (int i = 0; i < 10; i++) {
                q[i] = brook_arena_alloc(a, 3000);
                fill(q[i], 'k' + i, 3000);
                if (i)
                        assert_ptr_equal(q[i], q[i - 1] + 3008);
        }
        for (int i = 0; i < 10; i++)
                check_filled(q[i], 'k' + i, 3000);
        brook_arena_destroy(a);
}

/* A record over the bound (4 MiB) still works; afterwards the arena goes
 * on serving records of every size. */
static void test_huge_record(void **state)
{
        brook_arena_t *a = brook_arena_new();
        size_t huge = (size_t)6 << 20;
        char *p;

        (void)state;
        for (int i = 0; i < 2; i++) {
                p = brook_arena_alloc(a, huge);
                fill(p, 'z', huge);
                check_filled(p, 'z', huge);
                brook_arena_reset(a);
        }
        p = brook_arena_alloc(a, 10);
        fill(p, 's', 10);
        check_filled(p, 's', 10);
        brook_arena_reset(a);
        p = brook_arena_alloc(a, 0);
        assert_non_null(p);
        brook_arena_destroy(a);
}

static int deferred_cnt;

static void count_deferred(void *ptr)
{
        assert_ptr_equal(ptr, &deferred_cnt);
        deferred_cnt++;
}

/* Growing the first block keeps the destructors' contract. */
static void test_defer_across_growth(void **state)
{
        brook_arena_t *a = brook_arena_new();

        (void)state;
        deferred_cnt = 0;
        brook_arena_alloc(a, 50000);
        brook_arena_defer(a, count_deferred, &deferred_cnt);
        brook_arena_reset(a);
        assert_int_equal(deferred_cnt, 1);
        brook_arena_defer(a, count_deferred, &deferred_cnt);
        brook_arena_destroy(a);
        assert_int_equal(deferred_cnt, 2);
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
                cmocka_unit_test(test_big_records_reuse_one_block),
                cmocka_unit_test(test_generation_over_the_first_block),
                cmocka_unit_test(test_huge_record),
                cmocka_unit_test(test_defer_across_growth),
                cmocka_unit_test(test_overflow_aborts),
                cmocka_unit_test(test_buf_growth),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
