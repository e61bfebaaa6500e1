/* libFuzzer harness for the response header block parser
 * (csrc/dcs_headers.c).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icsrc -o build/fuzz_headers \
 *         tools/fuzz/fuzz_headers.c csrc/dcs_headers.c csrc/dcs_buf.c
 *   mkdir -p build/fuzz-headers-corpus && build/fuzz_headers -max_total_time=60 build/fuzz-headers-corpus
 *
 * Input layout: byte 0 holds flags, the rest is the block (libFuzzer's
 * buffer has exactly that size, so ASan catches any read past it):
 *
 *   flags & 1   put "HTTP/1.1 200 OK\r\n" in front (reach the fields sooner)
 *   flags & 2   append "\r\n" (a blank line to end the block)
 *   flags & 4   stop the parse from the callback at field (flags >> 3) + 1
 *
 * Every result is compared with a reference parser written below from the
 * grammar in dcs_headers.h (split into lines first, then judge each line),
 * and the fields reported must be the reference's, each name and value a
 * slice of the block obeying the grammar.  The parse must give the same
 * status without a callback, and a callback that stops must fail it.  A
 * violated invariant prints its line and calls abort(). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcs_headers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NAME "fuzz_headers"
#include "fuzz.h"

#define MAX_REF_FIELDS (DCS_HEADERS_MAX_FIELDS + 1)

typedef struct field {
    const char *name, *value;
    size_t nlen, vlen;
} field;

/* ---- the reference, deliberately not sharing code with the parser ---- */

static int ref_tchar(unsigned char c)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    size_t i;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
        return 1;
    if (c >= '0' && c <= '9')
        return 1;
    for (i = 0; i < sizeof extra - 1; i++)
        if (c == (unsigned char)extra[i])
            return 1;
    return 0;
}

static int ref_ctl(unsigned char c)
{
    return c == 127 || (c < 32 && c != 9);
}

static int ref_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int ref_status(const char *s, size_t n)
{
    size_t i;
    /* Walk a little state machine over the line. */
    if (n < 5 || strncmp(s, "HTTP/", 5) != 0)
        return -1;
    i = 5;
    if (i >= n || !ref_digit((unsigned char)s[i]))
        return -1;
    i++;
    if (i < n && s[i] == '.') {
        if (i + 1 >= n || !ref_digit((unsigned char)s[i + 1]))
            return -1;
        i += 2;
    }
    if (i >= n || s[i] != ' ')
        return -1;
    i++;
    if (i + 3 > n || s[i] == '0' || !ref_digit((unsigned char)s[i]) ||
        !ref_digit((unsigned char)s[i + 1]) || !ref_digit((unsigned char)s[i + 2]))
        return -1;
    if (i + 3 < n) {
        size_t k;
        if (s[i + 3] != ' ')
            return -1;
        for (k = i + 4; k < n; k++)
            if (ref_ctl((unsigned char)s[k]))
                return -1;
    }
    return (s[i] - '0') * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
}

static int ref_field(const char *s, size_t n, field *f)
{
    size_t colon, b, e, k;
    if (n == 0 || s[0] == ' ' || s[0] == '\t')
        return 0;
    for (colon = 0; colon < n && s[colon] != ':'; colon++)
        ;
    if (colon == 0 || colon == n)
        return 0;
    for (k = 0; k < colon; k++)
        if (!ref_tchar((unsigned char)s[k]))
            return 0;
    for (k = colon + 1; k < n; k++)
        if (ref_ctl((unsigned char)s[k]))
            return 0;
    b = colon + 1;
    e = n;
    while (b < e && (s[b] == ' ' || s[b] == '\t'))
        b++;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
        e--;
    f->name = s;
    f->nlen = colon;
    f->value = s + b;
    f->vlen = e - b;
    return 1;
}

/* Status and fields, or -1. */
static int ref_parse(const char *buf, size_t len, field *fields, int *nfields)
{
    size_t start = 0, i;
    int line = 0, status = -1, ended = 0;

    *nfields = 0;
    if (len > DCS_HEADERS_MAX_BYTES)
        return -1;
    for (i = 0; i < len; i++) {
        size_t n;
        if (buf[i] != '\n')
            continue;
        if (ended)
            return -1;          /* a line after the blank one */
        n = i - start;
        if (n > 0 && buf[i - 1] == '\r')
            n--;
        if (line == 0) {
            status = ref_status(buf + start, n);
            if (status < 0)
                return -1;
        } else if (n == 0) {
            ended = 1;
        } else {
            if (*nfields == DCS_HEADERS_MAX_FIELDS)
                return -1;
            if (!ref_field(buf + start, n, &fields[*nfields]))
                return -1;
            (*nfields)++;
        }
        line++;
        start = i + 1;
    }
    if (!ended || start != len)
        return -1;
    return status;
}

/* ---- what the parser reports ---- */

typedef struct report {
    const char *block;
    size_t len;
    field fields[MAX_REF_FIELDS];
    int count;
    int stop_at;                /* return 0 on this call (1-based); 0 = never */
} report;

static int in_block(const report *r, const char *p, size_t n)
{
    return p >= r->block && n <= r->len && (size_t)(p - r->block) <= r->len - n;
}

static int on_field(void *ud, dcs_str name, dcs_str value)
{
    report *r = ud;
    size_t k;
    CHECK(r->count < DCS_HEADERS_MAX_FIELDS);
    CHECK(in_block(r, name.ptr, name.len) && in_block(r, value.ptr, value.len));
    CHECK(name.len > 0);
    for (k = 0; k < name.len; k++)
        CHECK(dcs_http_tchar((unsigned char)name.ptr[k]) && ref_tchar((unsigned char)name.ptr[k]));
    CHECK(value.len == 0 || (value.ptr[0] != ' ' && value.ptr[0] != '\t' &&
                             value.ptr[value.len - 1] != ' ' && value.ptr[value.len - 1] != '\t'));
    for (k = 0; k < value.len; k++)
        CHECK(!ref_ctl((unsigned char)value.ptr[k]));
    r->fields[r->count].name = name.ptr;
    r->fields[r->count].nlen = name.len;
    r->fields[r->count].value = value.ptr;
    r->fields[r->count].vlen = value.len;
    r->count++;
    return r->stop_at == 0 || r->count < r->stop_at;
}

static void check_block(const char *block, size_t len, int stop_at)
{
    static field ref[MAX_REF_FIELDS];
    static report r;
    int nref, expect, got, i;

    expect = ref_parse(block, len, ref, &nref);
    memset(&r, 0, sizeof r);
    r.block = block;
    r.len = len;
    got = dcs_headers_parse(block, len, on_field, &r);
    if (got != expect)
        fprintf(stderr, "fuzz_headers: parser %d, reference %d\n", got, expect);
    CHECK(got == expect);
    CHECK(got == -1 || (got >= 100 && got <= 999));
    if (got >= 0) {
        CHECK(r.count == nref);
        for (i = 0; i < nref; i++) {
            CHECK(r.fields[i].name == ref[i].name && r.fields[i].nlen == ref[i].nlen);
            CHECK(r.fields[i].value == ref[i].value && r.fields[i].vlen == ref[i].vlen);
        }
    }
    CHECK(dcs_headers_parse(block, len, NULL, NULL) == got);
    if (stop_at > 0) {
        memset(&r, 0, sizeof r);
        r.block = block;
        r.len = len;
        r.stop_at = stop_at;
        got = dcs_headers_parse(block, len, on_field, &r);
        CHECK(r.count <= stop_at);
        CHECK(got == (r.count == stop_at ? -1 : expect));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char status_line[] = "HTTP/1.1 200 OK\r\n";
    size_t pre, post, len;
    char *block;
    int flags;

    if (size == 0)
        return 0;
    flags = data[0];
    data++;
    size--;
    pre = (flags & 1) ? sizeof status_line - 1 : 0;
    post = (flags & 2) ? 2 : 0;
    len = pre + size + post;
    block = malloc(len ? len : 1);
    if (block == NULL)
        return 0;
    memcpy(block, status_line, pre);
    if (size > 0)
        memcpy(block + pre, data, size);
    memcpy(block + pre + size, "\r\n", post);
    check_block(block, len, (flags & 4) ? (flags >> 3) + 1 : 0);
    free(block);
    return 0;
}
