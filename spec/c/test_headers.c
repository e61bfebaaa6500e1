/* Unit tests for the response header block parser (csrc/dcs_headers.c).
 * Prints TAP; exits 1 when any test fails.  Every block is copied into a
 * buffer of exactly its length, so ASan/valgrind catch any read past it.
 *
 *   cc -Wall -Wextra -Icsrc -o build/test_headers spec/c/test_headers.c \
 *      csrc/dcs_headers.c csrc/dcs_buf.c
 *   build/test_headers */
#include <stdlib.h>
#include <string.h>

#include "dcs_headers.h"
#include "tap.h"

#define MAX_SEEN 256

typedef struct seen {
    int count;
    int stop_after;             /* fn returns 0 on this call (1-based); 0 = never */
    char text[8192];            /* "name=value|" for each field */
    size_t len;
} seen;

static int record(void *ud, dcs_str name, dcs_str value)
{
    seen *s = ud;
    s->count++;
    if (s->len + name.len + value.len + 2 < sizeof s->text) {
        memcpy(s->text + s->len, name.ptr, name.len);
        s->len += name.len;
        s->text[s->len++] = '=';
        memcpy(s->text + s->len, value.ptr, value.len);
        s->len += value.len;
        s->text[s->len++] = '|';
        s->text[s->len] = '\0';
    }
    return s->stop_after == 0 || s->count < s->stop_after;
}

/* Parses n bytes of block from an exact-size heap copy. */
static int parse_exact(const char *block, size_t n, seen *s)
{
    char *copy = malloc(n ? n : 1);
    int status;
    memcpy(copy, block, n);
    memset(s, 0, sizeof *s);
    status = dcs_headers_parse(copy, n, record, s);
    free(copy);
    return status;
}

#define BLOCK(lit) (lit), sizeof(lit) - 1

static void good(const char *name, const char *block, size_t n, int status, const char *fields)
{
    seen s;
    int got = parse_exact(block, n, &s);
    if (!ok(got == status && strcmp(s.text, fields) == 0, "%s", name))
        diag("  got status %d, fields \"%s\"; expected %d, \"%s\"", got, s.text, status, fields);
}

static void bad(const char *name, const char *block, size_t n)
{
    seen s;
    int got = parse_exact(block, n, &s);
    if (!ok(got == -1, "malformed: %s", name))
        diag("  got status %d, fields \"%s\"", got, s.text);
}

static void test_valid(void)
{
    good("status line and fields", BLOCK("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b c  \r\n\r\n"),
         200, "Content-Length=5|X-A=b c|");
    good("HTTP/2, no reason, no fields", BLOCK("HTTP/2 204\r\n\r\n"), 204, "");
    good("bare LF line ends", BLOCK("HTTP/1.0 404 Not Found\nA: 1\n\n"), 404, "A=1|");
    good("mixed line ends", BLOCK("HTTP/1.1 200 OK\nA: 1\r\n\n"), 200, "A=1|");
    good("empty value", BLOCK("HTTP/1.1 200 OK\r\nX-Empty:\r\nY:   \r\n\r\n"), 200, "X-Empty=|Y=|");
    good("tabs inside and around a value", BLOCK("HTTP/1.1 200 OK\r\nX:\ta\tb\t\r\n\r\n"), 200,
         "X=a\tb|");
    good("obs-text in a value", BLOCK("HTTP/1.1 200 OK\r\nX: caf\xc3\xa9\r\n\r\n"), 200,
         "X=caf\xc3\xa9|");
    good("a 1xx status", BLOCK("HTTP/1.1 100 Continue\r\n\r\n"), 100, "");
    good("status 999", BLOCK("HTTP/1.1 999 Odd\r\n\r\n"), 999, "");
    good("a reason with a trailing space", BLOCK("HTTP/1.1 200 \r\n\r\n"), 200, "");
    good("a reason with obs-text and tabs", BLOCK("HTTP/1.1 200 O\tK \xff\r\n\r\n"), 200, "");
    good("repeated names, in order", BLOCK("HTTP/1.1 200 OK\r\nSet-Cookie: a\r\nset-cookie: b\r\n\r\n"),
         200, "Set-Cookie=a|set-cookie=b|");
    good("token punctuation in a name", BLOCK("HTTP/1.1 200 OK\r\n!#$%&'*+-.^_`|~09az: v\r\n\r\n"),
         200, "!#$%&'*+-.^_`|~09az=v|");
    good("a colon inside the value", BLOCK("HTTP/1.1 200 OK\r\nLocation: http://h:1/\r\n\r\n"), 200,
         "Location=http://h:1/|");
}

static void test_malformed(void)
{
    bad("empty", BLOCK(""));
    bad("no line end", BLOCK("HTTP/1.1 200 OK"));
    bad("no blank line", BLOCK("HTTP/1.1 200 OK\r\nA: 1\r\n"));
    bad("bytes after the blank line", BLOCK("HTTP/1.1 200 OK\r\n\r\nbody"));
    bad("NUL in a value", BLOCK("HTTP/1.1 200 OK\r\nA: x\0y\r\n\r\n"));
    bad("NUL in a name", BLOCK("HTTP/1.1 200 OK\r\nA\0B: x\r\n\r\n"));
    bad("NUL in the status line", BLOCK("HTTP/1.1 200 O\0K\r\n\r\n"));
    bad("bare CR in a value", BLOCK("HTTP/1.1 200 OK\r\nA: x\ry\r\n\r\n"));
    bad("CR CR LF", BLOCK("HTTP/1.1 200 OK\r\nA: x\r\r\n\r\n"));
    bad("bare CR as a blank line", BLOCK("HTTP/1.1 200 OK\r\n\r"));
    bad("DEL in a value", BLOCK("HTTP/1.1 200 OK\r\nA: x\x7fy\r\n\r\n"));
    bad("control byte in a value", BLOCK("HTTP/1.1 200 OK\r\nA: x\x01y\r\n\r\n"));
    bad("control byte in the reason", BLOCK("HTTP/1.1 200 O\x1bK\r\n\r\n"));
    bad("a line without a colon", BLOCK("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n"));
    bad("a blank before the colon", BLOCK("HTTP/1.1 200 OK\r\nA : x\r\n\r\n"));
    bad("an empty name", BLOCK("HTTP/1.1 200 OK\r\n: x\r\n\r\n"));
    bad("a space in a name", BLOCK("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n"));
    bad("a non-token byte in a name", BLOCK("HTTP/1.1 200 OK\r\nA(b): x\r\n\r\n"));
    bad("obs-fold with a space", BLOCK("HTTP/1.1 200 OK\r\nA: x\r\n folded\r\n\r\n"));
    bad("obs-fold with a tab", BLOCK("HTTP/1.1 200 OK\r\nA: x\r\n\tfolded\r\n\r\n"));
    bad("two-digit status", BLOCK("HTTP/1.1 20 OK\r\n\r\n"));
    bad("status below 100", BLOCK("HTTP/1.1 099 X\r\n\r\n"));
    bad("four-digit status", BLOCK("HTTP/1.1 2000 X\r\n\r\n"));
    bad("reason without a space", BLOCK("HTTP/1.1 200OK\r\n\r\n"));
    bad("two spaces before the status", BLOCK("HTTP/1.1  200 OK\r\n\r\n"));
    bad("letters in the version", BLOCK("HTTP/x.1 200 OK\r\n\r\n"));
    bad("version with a dot and no minor", BLOCK("HTTP/1. 200 OK\r\n\r\n"));
    bad("lower-case protocol", BLOCK("http/1.1 200 OK\r\n\r\n"));
    bad("not HTTP", BLOCK("HTP/1.1 200 OK\r\n\r\n"));
    bad("status line cut short", BLOCK("HTTP/1.1 2\r\n\r\n"));
    bad("status line only a version", BLOCK("HTTP/1.1\r\n\r\n"));
    bad("a header line first", BLOCK("A: 1\r\n\r\n"));
    ok(dcs_headers_parse(NULL, 0, NULL, NULL) == -1, "malformed: NULL block");
}

/* n fields "Fi: v" after a status line. */
static char *many_fields(int n, size_t *len)
{
    size_t cap = 32 + (size_t)n * 16, k;
    char *b = malloc(cap);
    int i;
    k = (size_t)snprintf(b, cap, "HTTP/1.1 200 OK\r\n");
    for (i = 0; i < n; i++)
        k += (size_t)snprintf(b + k, cap - k, "F%d: v\r\n", i);
    k += (size_t)snprintf(b + k, cap - k, "\r\n");
    *len = k;
    return b;
}

/* A block of exactly `total` bytes: one field padded to size. */
static char *sized_block(size_t total)
{
    const char *head = "HTTP/1.1 200 OK\r\nX: ", *tail = "\r\n\r\n";
    size_t hl = strlen(head), tl = strlen(tail);
    char *b = malloc(total);
    memcpy(b, head, hl);
    memset(b + hl, 'a', total - hl - tl);
    memcpy(b + total - tl, tail, tl);
    return b;
}

static void test_limits(void)
{
    seen s;
    size_t len;
    char *b;

    b = many_fields(DCS_HEADERS_MAX_FIELDS, &len);
    ok(parse_exact(b, len, &s) == 200 && s.count == DCS_HEADERS_MAX_FIELDS, "%d fields are fine",
       DCS_HEADERS_MAX_FIELDS);
    free(b);
    b = many_fields(DCS_HEADERS_MAX_FIELDS + 1, &len);
    ok(parse_exact(b, len, &s) == -1, "one field more is malformed");
    ok(s.count == DCS_HEADERS_MAX_FIELDS, "the fields before the limit were reported");
    free(b);
    b = sized_block(DCS_HEADERS_MAX_BYTES);
    ok(dcs_headers_parse(b, DCS_HEADERS_MAX_BYTES, NULL, NULL) == 200, "%d bytes are fine",
       DCS_HEADERS_MAX_BYTES);
    free(b);
    b = sized_block(DCS_HEADERS_MAX_BYTES + 1);
    ok(dcs_headers_parse(b, DCS_HEADERS_MAX_BYTES + 1, NULL, NULL) == -1,
       "one byte more is malformed");
    free(b);
}

static void test_callback(void)
{
    static const char block[] = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    char *copy = malloc(sizeof block - 1);
    seen s;

    memcpy(copy, block, sizeof block - 1);
    memset(&s, 0, sizeof s);
    s.stop_after = 2;
    ok(dcs_headers_parse(copy, sizeof block - 1, record, &s) == -1,
       "a callback returning 0 fails the parse");
    check_int("no call after it", s.count, 2);
    ok(dcs_headers_parse(copy, sizeof block - 1, NULL, NULL) == 200, "NULL callback: check only");
    free(copy);
    ok(dcs_http_tchar('a') && dcs_http_tchar('~') && !dcs_http_tchar(' ') && !dcs_http_tchar(':') &&
           !dcs_http_tchar('\0') && !dcs_http_tchar(0x80) && !dcs_http_tchar('"'),
       "dcs_http_tchar");
}

int main(void)
{
    test_valid();
    test_malformed();
    test_limits();
    test_callback();
    return tap_done();
}
