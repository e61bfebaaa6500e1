/* libFuzzer harness for libcurl's callbacks of one transfer
 * (csrc/dcs_transfer.c): on_header, which gathers a response head line by
 * line, skips interim (1xx) answers and checks the final head's framing
 * (Content-Length, Transfer-Encoding), and on_body, which buffers the
 * body (capped by max_body) or streams it into a dcs_file.  They are
 * static: the file is included whole, and no libcurl handle is made.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -pthread -Icsrc -o build/fuzz_transfer \
 *         tools/fuzz/fuzz_transfer.c csrc/dcs_engine.c csrc/dcs_http.c csrc/dcs_file.c \
 *         csrc/dcs_sha256.c csrc/dcs_headers.c csrc/dcs_buf.c -lcurl -lmbedcrypto
 *   mkdir -p build/fuzz-corpus-transfer && build/fuzz_transfer -max_total_time=60 build/fuzz-corpus-transfer
 *
 * Input layout: byte 0 holds flags, byte 1 the size of the body pieces,
 * the rest is what the server sends: lines up to and including each LF go
 * to on_header as libcurl hands them over, until the final head is taken;
 * what follows is the body, in pieces of 1 + (byte 1 & 127) bytes, or,
 * when byte 1 has its top bit, trailers: lines to on_header again.
 *
 *   flags & 1   on_head answers FILE (else BUFFER)
 *   flags & 2   on_head answers REFUSE
 *   flags & 4   max_body is (flags >> 3) bytes (0: no limit)
 *
 * A reference written below from dcs_http.h follows the head: the blocks
 * are cut at each blank line, interim answers counted, the final block's
 * Content-Length items checked (1..15 digits, all equal, no
 * Transfer-Encoding beside them), and the trailers bounded (at most
 * DCS_HEADERS_MAX_FIELDS lines but blank ones, DCS_HEADERS_MAX_BYTES
 * bytes).  Checked: each callback's return value
 * against it, the status and the block on_head sees (once, for the final
 * answer only), and that the body (buffer or file, its SHA-256 too) holds
 * exactly the bytes accepted.  A violated invariant prints its line and
 * calls abort(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/md.h>

#include "../../csrc/dcs_transfer.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NAME "fuzz_transfer"
#include "fuzz.h"

/* ---- the reference ---- */

static int ref_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int ref_name_is(const char *s, size_t n, const char *want)
{
    size_t i;
    if (n != strlen(want))
        return 0;
    for (i = 0; i < n; i++)
        if (ref_lower((unsigned char)s[i]) != want[i])
            return 0;
    return 1;
}

typedef struct ref_framing {
    char first[32];
    size_t first_len;
    int items, has_te, bad;
} ref_framing;

/* Each comma-separated item of a Content-Length value. */
static void ref_length_value(ref_framing *f, const char *v, size_t n)
{
    size_t at = 0;
    for (;;) {
        size_t e = at, b, z, k;
        while (e < n && v[e] != ',')
            e++;
        for (b = at; b < e && (v[b] == ' ' || v[b] == '\t'); b++)
            ;
        for (z = e; z > b && (v[z - 1] == ' ' || v[z - 1] == '\t'); z--)
            ;
        if (z - b < 1 || z - b > 15)
            f->bad = 1;
        for (k = b; k < z; k++)
            if (v[k] < '0' || v[k] > '9')
                f->bad = 1;
        if (f->items == 0 && z - b <= 15) {
            memcpy(f->first, v + b, z - b);
            f->first_len = z - b;
        } else if (f->items > 0 && (z - b != f->first_len || memcmp(f->first, v + b, z - b))) {
            f->bad = 1;
        }
        f->items++;
        if (e == n)
            return;
        at = e + 1;
    }
}

static int ref_field(void *ud, dcs_str name, dcs_str value)
{
    ref_framing *f = ud;
    if (ref_name_is(name.ptr, name.len, "transfer-encoding"))
        f->has_te = 1;
    if (ref_name_is(name.ptr, name.len, "content-length"))
        ref_length_value(f, value.ptr, value.len);
    return 1;
}

/* What the transfer must do with a complete block: -1 skip (1xx), 0
 * refuse, else the status.  The block grammar is dcs_headers_parse's own
 * (tools/fuzz/fuzz_headers.c checks it against a reference). */
static int ref_block(const char *b, size_t n, int *interim)
{
    ref_framing f;
    int status;

    memset(&f, 0, sizeof f);
    status = dcs_headers_parse(b, n, ref_field, &f);
    if (status < 0 || status == 101)
        return 0;
    if (status < 200)
        return ++*interim > DCS_HTTP_MAX_INTERIM ? 0 : -1;
    if (f.bad || (f.items > 0 && f.has_te))
        return 0;
    return status;
}

/* ---- the transfer ---- */

typedef struct seen {
    int calls;
    long status;
    char *block;
    size_t len;
    dcs_http_body_to answer;
} seen;

static dcs_http_body_to on_head_cb(void *ud, long status, const char *block, size_t len)
{
    seen *s = ud;
    s->calls++;
    s->status = status;
    s->block = malloc(len + 1);
    CHECK(s->block != NULL);
    memcpy(s->block, block, len);
    s->len = len;
    return s->answer;
}

static dcs_file file;
static char file_path[64];

/* One file for the whole run, emptied before each input. */
static dcs_file *the_file(void)
{
    if (file_path[0] == '\0') {
        int fd;
        snprintf(file_path, sizeof file_path, "/tmp/fuzz_transfer.XXXXXX");
        CHECK((fd = mkstemp(file_path)) >= 0);
        close(fd);
        unlink(file_path);
        dcs_file_init(&file);
        CHECK(dcs_file_open(&file, file_path, DCS_FILE_NEW, DCS_FILE_SHA256) == 0);
        unlink(file_path);      /* the descriptor is enough */
    }
    CHECK(dcs_file_truncate(&file, 0) == 0);
    return &file;
}

static void setup(dcs_transfer *t, seen *s, unsigned flags)
{
    memset(t, 0, sizeof *t);
    memset(s, 0, sizeof *s);
    t->state = T_RUNNING;
    t->ended_by = DCS_HTTP_OK;
    dcs_http_response_init(&t->res);
    s->answer = flags & 2 ? DCS_HTTP_BODY_REFUSE
                          : flags & 1 ? DCS_HTTP_BODY_FILE : DCS_HTTP_BODY_BUFFER;
    t->req.on_head = on_head_cb;
    t->req.ud = s;
    t->req.file = the_file();
    t->max_body = flags & 4 ? flags >> 3 : 0;
}

/* Feeds the head; returns where the body starts, or NULL when the
 * transfer stopped.  *want: the final status the reference expects (0:
 * refused). */
static const char *feed_head(dcs_transfer *t, const seen *s, const char *p, const char *end,
                             int *want)
{
    const char *block = p;
    int interim = 0, lines = 0;

    *want = 0;
    while (p < end) {
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        size_t n = lf ? (size_t)(lf + 1 - p) : (size_t)(end - p);
        int blank = (n == 1 && p[0] == '\n') || (n == 2 && p[0] == '\r' && p[1] == '\n');
        size_t got, so_far = (size_t)(p - block);
        int r = -2;

        if (so_far + n > DCS_HEADERS_MAX_BYTES || ++lines > DCS_HEADERS_MAX_FIELDS + 2)
            r = 0;
        else if (blank)
            r = ref_block(block, so_far + n, &interim);
        got = on_header((char *)p, 1, n, t);
        CHECK(t->bad_head == (r == 0));
        CHECK(t->aborted == (r > 0 && s->answer == DCS_HTTP_BODY_REFUSE));
        CHECK(got == (r == 0 || t->aborted ? 0 : n));
        p += n;
        if (r == 0)
            return NULL;
        if (r == -1) {
            CHECK(t->res.headers.len == 0 && !t->res.head_done);
            block = p;
            lines = 0;
        } else if (r > 0) {
            *want = r;
            CHECK(t->res.head_done && t->res.status == r);
            CHECK(t->res.headers.len == (size_t)(p - block));
            CHECK(memcmp(t->res.headers.data, block, t->res.headers.len) == 0);
            return t->aborted ? NULL : p;
        } else {
            CHECK(!t->res.head_done && t->res.headers.len == (size_t)(p - block));
        }
    }
    return NULL;
}

/* Feeds the body in pieces; returns the bytes accepted. */
static size_t feed_body(dcs_transfer *t, const char *p, const char *end, size_t piece)
{
    size_t accepted = 0;
    while (p < end) {
        size_t n = (size_t)(end - p) < piece ? (size_t)(end - p) : piece;
        size_t got = on_body((char *)p, 1, n, t);
        int over = t->res.body_to == DCS_HTTP_BODY_BUFFER && t->max_body > 0 &&
                   accepted + n > t->max_body;
        CHECK(got == (over ? 0 : n));
        CHECK(t->too_large == over);
        if (got == 0)
            break;
        accepted += n;
        p += n;
    }
    return accepted;
}

/* Feeds trailer lines after the final head, as libcurl hands them over. */
static void feed_trailers(dcs_transfer *t, const char *p, const char *end)
{
    size_t bytes = 0;
    int fields = 0;

    while (p < end) {
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        size_t n = lf ? (size_t)(lf + 1 - p) : (size_t)(end - p);
        int blank = (n == 1 && p[0] == '\n') || (n == 2 && p[0] == '\r' && p[1] == '\n');
        int over = (bytes += n) > DCS_HEADERS_MAX_BYTES || (!blank && ++fields > DCS_HEADERS_MAX_FIELDS);

        CHECK(on_header((char *)p, 1, n, t) == (over ? 0 : n));
        CHECK(t->bad_head == over);
        if (over)
            return;
        p += n;
    }
}

static void check_file(dcs_transfer *t, const char *body, size_t n)
{
    char got[65], want[65];
    unsigned char md[32];
    CHECK(dcs_transfer_flush(t));
    if (t->async)
        CHECK(dcs_file_async_end(t->req.file) == 0);
    CHECK(t->res.streamed == (long long)n && t->req.file->size == (long long)n);
    CHECK(t->res.body.len == 0);
    CHECK(dcs_file_sha256(t->req.file, got) == 0);
    CHECK(mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), (const unsigned char *)body,
                     n, md) == 0);
    dcs_hex_encode(md, 32, want);
    CHECK(memcmp(got, want, 65) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dcs_transfer t;
    seen s;
    const char *body, *end = (const char *)data + size;
    size_t accepted;
    int want;

    if (size < 2)
        return 0;
    setup(&t, &s, data[0]);
    body = feed_head(&t, &s, (const char *)data + 2, end, &want);
    CHECK(s.calls == (want > 0));
    if (want > 0) {
        CHECK(s.status == want && s.len == t.res.headers.len);
        CHECK(memcmp(s.block, t.res.headers.data, s.len) == 0);
    }
    if (body != NULL && (data[1] & 128)) {
        feed_trailers(&t, body, end);
        CHECK(t.res.body.len == 0 && t.res.streamed == 0);
    } else if (body != NULL) {
        CHECK(s.answer != DCS_HTTP_BODY_REFUSE);
        CHECK(t.res.body_to == s.answer);
        accepted = feed_body(&t, body, end, 1 + (size_t)(data[1] & 127));
        if (t.res.body_to == DCS_HTTP_BODY_FILE)
            check_file(&t, body, accepted);
        else
            CHECK(t.res.body.len == accepted &&
                  (accepted == 0 || memcmp(t.res.body.data, body, accepted) == 0));
    } else if (want > 0) {
        CHECK(s.answer == DCS_HTTP_BODY_REFUSE && t.aborted);
    }
    if (t.async)
        dcs_file_async_end(t.req.file);
    free(t.wbuf);
    free(s.block);
    dcs_http_response_free(&t.res);
    return 0;
}
