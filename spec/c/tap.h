/* TAP output for the C unit tests of spec/c/ (test_file.c, test_headers.c):
 * ok() prints one test line, diag() a comment, tap_done() the plan and the
 * exit status.  Header-only; static inline so unused helpers cost nothing. */
#ifndef DCS_TAP_H
#define DCS_TAP_H

#include <stdarg.h>
#include <stdio.h>

#if defined(__GNUC__)
#define TAP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TAP_PRINTF(f, a)
#endif

static int tap_tests, tap_failed;

static inline int ok(int cond, const char *fmt, ...) TAP_PRINTF(2, 3);
static inline int ok(int cond, const char *fmt, ...)
{
    va_list ap;
    tap_tests++;
    if (!cond)
        tap_failed++;
    printf("%sok %d - ", cond ? "" : "not ", tap_tests);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    return cond;
}

static inline void diag(const char *fmt, ...) TAP_PRINTF(1, 2);
static inline void diag(const char *fmt, ...)
{
    va_list ap;
    fputs("# ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static inline int check_int(const char *name, long long got, long long exp)
{
    if (!ok(got == exp, "%s", name))
        diag("  got %lld, expected %lld", got, exp);
    return got == exp;
}

static inline int tap_done(void)
{
    printf("1..%d\n", tap_tests);
    if (tap_failed)
        diag("%d of %d tests failed", tap_failed, tap_tests);
    return tap_failed ? 1 : 0;
}

#endif
