/* libFuzzer harness for the pure-C signer (csrc/dcs_sign.c, csrc/dcs_buf.c).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icsrc -o build/fuzz_sign \
 *         tools/fuzz/fuzz_sign.c csrc/dcs_sign.c csrc/dcs_sign_key.c csrc/dcs_sha256.c csrc/dcs_buf.c -lmbedcrypto -pthread
 *   mkdir -p build/fuzz-corpus && build/fuzz_sign -max_total_time=60 build/fuzz-corpus
 *
 * Input layout: byte 0 holds flags, the rest is split on 0xFF bytes (never
 * part of UTF-8) into fields, missing fields being empty:
 *
 *   method, path, nq x (query key, query value), nh x (header name, value),
 *   host value, date value, [content-hash value], body, ak, sk
 *
 *   flags & 7        nq, number of query pairs (0..7)
 *   (flags >> 3) & 3 nh, number of extra headers (0..3)
 *   flags & 0x20     add an X-Sdk-Content-Sha256 header
 *   flags & 0x40     spell Host / X-Sdk-Date as "HOST" / "x-sdk-date"
 *   flags & 0x80     pass bad_header == NULL
 *
 * A Host and an X-Sdk-Date header are always added, and an empty AK field
 * stands for "AK", so most inputs reach the happy path.  Every result of
 * dcs_sign is compared with an independent reference implementation of
 * docs/api.md ("What lua-dcs signs") written below (error code and
 * bad_header index included, the limits and the AK rule too), structural
 * invariants are checked, and the result must not change when the call is
 * repeated or when the query and header lists are given in reverse order.
 *
 * A quarter of the inputs (by their last byte) also drive a second signer
 * run with up to DCS_SIGN_MAX_HEADERS + 4 headers whose names often repeat
 * (in another case), hold '_' or are invalid (fuzz_many_headers, below).
 * The whole input also goes through dcs_percent_encode/decode (round trips,
 * against the reference), dcs_url_split (against a reference) and
 * dcs_sdk_date (against a civil calendar computation; times outside years
 * 0..9999 must be refused).  The reference hashes with mbedTLS only, and
 * the input is also hashed whole and in pieces by dcs_sha256.c (when the
 * CPU has the SHA extensions) against mbedTLS.
 * A violated invariant prints its line and calls abort(). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/md.h>

#include "dcs_sha256.h"
#include "dcs_sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_Q 7
#define MAX_H 3
#define SEP 0xFF
/* The most headers any driver passes: fuzz_many_headers goes past the limit. */
#define REF_MAX_HEADERS (DCS_SIGN_MAX_HEADERS + 4)

#define FUZZ_NAME "fuzz_sign"
#define FUZZ_FIELDS
#include "fuzz.h"

static const char UNRESERVED[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";
static const char HEXU[] = "0123456789ABCDEF";

/* ---- small helpers (deliberately not shared with the code under test) ---- */

static void ref_sha256_hex(const void *p, size_t n, char out[65])
{
    static const char HEXL[] = "0123456789abcdef";
    unsigned char md[32];
    int i;

    CHECK(mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), p, n, md) == 0);
    for (i = 0; i < 32; i++) {
        out[2 * i] = HEXL[md[i] >> 4];
        out[2 * i + 1] = HEXL[md[i] & 15];
    }
    out[64] = '\0';
}

static int in_set(unsigned char c, const char *set)
{
    return c != 0 && memchr(set, c, strlen(set)) != NULL;
}

static int same(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static int buf_eq(const dcs_buf *a, const dcs_buf *b)
{
    return same(a->data, a->len, b->data, b->len);
}

static int buf_is(const dcs_buf *a, const char *s, size_t n)
{
    return same(a->data, a->len, s, n);
}

static int ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int eq_nocase(dcs_str a, dcs_str b)
{
    size_t i;
    if (a.len != b.len)
        return 0;
    for (i = 0; i < a.len; i++)
        if (ascii_lower((unsigned char)a.ptr[i]) != ascii_lower((unsigned char)b.ptr[i]))
            return 0;
    return 1;
}

static int eq_nocase_lit(dcs_str a, const char *lit)
{
    dcs_str b;
    b.ptr = lit;
    b.len = strlen(lit);
    return eq_nocase(a, b);
}

/* Lexicographic byte order; shorter prefix first. */
static int lex_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    size_t i, n = an < bn ? an : bn;
    for (i = 0; i < n; i++)
        if (a[i] != b[i])
            return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

/* What the official cores strip around a value: space, tab, VT, FF. */
static int ref_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

static dcs_str ows_trim(dcs_str s)
{
    size_t b = 0, e = s.len;
    while (b < e && ref_blank(s.ptr[b]))
        b++;
    while (e > b && ref_blank(s.ptr[e - 1]))
        e--;
    s.ptr += b;
    s.len = e - b;
    return s;
}

/* ---- reference percent-coding ---- */

static void ref_encode(dcs_buf *out, const char *s, size_t n, int keep_slash)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (in_set(c, UNRESERVED) || (keep_slash && c == '/')) {
            dcs_buf_addc(out, (char)c);
        } else {
            dcs_buf_addc(out, '%');
            dcs_buf_addc(out, HEXU[c / 16]);
            dcs_buf_addc(out, HEXU[c % 16]);
        }
    }
}

static int hexdig(unsigned char c)
{
    const char *lo = "0123456789abcdef", *up = "0123456789ABCDEF";
    const char *p;
    if (c == 0)
        return -1;
    if ((p = memchr(lo, c, 16)) != NULL)
        return (int)(p - lo);
    if ((p = memchr(up, c, 16)) != NULL)
        return (int)(p - up);
    return -1;
}

/* Python's urllib.parse.unquote on bytes: bad escapes stay as they are. */
static void ref_decode(dcs_buf *out, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] == '%' && n - i >= 3 && hexdig((unsigned char)s[i + 1]) >= 0 &&
            hexdig((unsigned char)s[i + 2]) >= 0) {
            dcs_buf_addc(out, (char)(hexdig((unsigned char)s[i + 1]) * 16 +
                                     hexdig((unsigned char)s[i + 2])));
            i += 3;
        } else {
            dcs_buf_addc(out, s[i]);
            i++;
        }
    }
}

/* Only unreserved bytes, the ones in extra, and %XX with upper-case hex. */
static int well_encoded(const char *s, size_t n, const char *extra)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (n - i < 3 || !in_set((unsigned char)s[i + 1], "0123456789ABCDEF") ||
                !in_set((unsigned char)s[i + 2], "0123456789ABCDEF"))
                return 0;
            i += 2;
        } else if (!in_set(c, UNRESERVED) && !in_set(c, extra)) {
            return 0;
        }
    }
    return 1;
}

/* ---- reference canonical request (docs/api.md, "Signing") ---- */

static void ref_canonical_uri(dcs_buf *out, dcs_str path)
{
    dcs_buf dec = DCS_BUF_INIT;
    size_t start = 0, i;

    ref_decode(&dec, path.ptr, path.len);
    /* A path that does not start with '/' gets one. */
    if (dec.len == 0 || dec.data[0] != '/')
        dcs_buf_addc(out, '/');
    /* Split on '/', encode every segment, join with '/'. */
    for (i = 0; i <= dec.len; i++) {
        if (i == dec.len || dec.data[i] == '/') {
            if (i > start)
                ref_encode(out, dec.data + start, i - start, 0);
            if (i < dec.len)
                dcs_buf_addc(out, '/');
            start = i + 1;
        }
    }
    if (out->len == 0 || out->data[out->len - 1] != '/')
        dcs_buf_addc(out, '/');
    dcs_buf_free(&dec);
}

static void ref_canonical_query(dcs_buf *out, const dcs_pair *q, size_t n)
{
    dcs_pair s[MAX_Q];
    size_t i, j;

    CHECK(n <= MAX_Q);
    /* Insertion sort by raw key, then raw value. */
    for (i = 0; i < n; i++) {
        dcs_pair p = q[i];
        for (j = i; j > 0; j--) {
            int c = lex_cmp(s[j - 1].key.ptr, s[j - 1].key.len, p.key.ptr, p.key.len);
            if (c == 0)
                c = lex_cmp(s[j - 1].value.ptr, s[j - 1].value.len, p.value.ptr, p.value.len);
            if (c <= 0)
                break;
            s[j] = s[j - 1];
        }
        s[j] = p;
    }
    for (i = 0; i < n; i++) {
        if (i)
            dcs_buf_addc(out, '&');
        ref_encode(out, s[i].key.ptr, s[i].key.len, 0);
        dcs_buf_addc(out, '=');
        ref_encode(out, s[i].value.ptr, s[i].value.len, 0);
    }
}

/* RFC 7230 tchar, written out independently of the signer's table. */
static int ref_token(dcs_str s)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    size_t i;
    if (s.len == 0)
        return 0;
    for (i = 0; i < s.len; i++)
        if (s.ptr[i] == '\0' || strchr(tchar, s.ptr[i]) == NULL)
            return 0;
    return 1;
}

static int ref_header_ok(const dcs_pair *h)
{
    size_t i;
    if (!ref_token(h->key))
        return 0;
    for (i = 0; i < h->value.len; i++) {
        unsigned char c = (unsigned char)h->value.ptr[i];
        if (c == '\r' || c == '\n' || c == 0)
            return 0;
    }
    return 1;
}

typedef struct ref_result {
    int rc;
    size_t bad;
    dcs_buf query, request, signed_headers, authorization;
} ref_result;

static void ref_free(ref_result *r)
{
    dcs_buf_free(&r->query);
    dcs_buf_free(&r->request);
    dcs_buf_free(&r->signed_headers);
    dcs_buf_free(&r->authorization);
}

static void ref_sign(const dcs_sign_request *req, ref_result *r)
{
    size_t i, j, order[REF_MAX_HEADERS], nsigned = 0;
    dcs_str date = {NULL, 0}, hash = {NULL, 0};
    int have_host = 0;
    dcs_buf sts = DCS_BUF_INIT;
    char hex[65], sig[65];

    memset(r, 0, sizeof *r);
    r->bad = (size_t)-1;
    CHECK(req->header_count <= REF_MAX_HEADERS);
    if (!ref_token(req->method)) {
        r->rc = DCS_SIGN_EBADMETHOD;
        return;
    }
    /* The AK goes into the Authorization value: a token of 1..128 bytes. */
    if (!ref_token(req->ak) || req->ak.len > 128) {
        r->rc = DCS_SIGN_EBADAK;
        return;
    }
    if (req->header_count > 256) {
        r->rc = DCS_SIGN_ETOOMANY;
        return;
    }
    if (req->query_count > 1024) {
        r->rc = DCS_SIGN_ETOOMANYQUERY;
        return;
    }
    for (i = 0; i < req->header_count; i++) {
        const dcs_pair *h = &req->headers[i];
        if (!ref_header_ok(h)) {
            r->rc = DCS_SIGN_EBADHEADER;
            r->bad = i;
            return;
        }
        for (j = 0; j < i; j++)
            if (eq_nocase(req->headers[j].key, h->key)) {
                r->rc = DCS_SIGN_EDUPHEADER;
                r->bad = i;
                return;
            }
        if (eq_nocase_lit(h->key, "X-Sdk-Date"))
            date = ows_trim(h->value);
        if (eq_nocase_lit(h->key, "Host"))
            have_host = 1;
        if (eq_nocase_lit(h->key, "X-Sdk-Content-Sha256"))
            hash = ows_trim(h->value);
    }
    if (date.ptr == NULL) {
        r->rc = DCS_SIGN_ENODATE;
        return;
    }
    if (!have_host) {
        r->rc = DCS_SIGN_ENOHOST;
        return;
    }

    /* Signed headers: names without '_', sorted case-insensitively (the
     * names are unique ignoring case, so the order is total). */
    for (i = 0; i < req->header_count; i++) {
        const dcs_pair *h = &req->headers[i];
        if (memchr(h->key.ptr, '_', h->key.len) != NULL)
            continue;
        for (j = nsigned; j > 0; j--) {
            const dcs_str a = req->headers[order[j - 1]].key;
            size_t k, n = a.len < h->key.len ? a.len : h->key.len;
            int c = 0;
            for (k = 0; k < n && c == 0; k++)
                c = ascii_lower((unsigned char)a.ptr[k]) - ascii_lower((unsigned char)h->key.ptr[k]);
            if (c == 0)
                c = a.len < h->key.len ? -1 : 1;
            if (c < 0)
                break;
            order[j] = order[j - 1];
        }
        order[j] = i;
        nsigned++;
    }

    ref_canonical_query(&r->query, req->query, req->query_count);
    dcs_buf_add(&r->request, req->method.ptr, req->method.len);
    dcs_buf_addc(&r->request, '\n');
    ref_canonical_uri(&r->request, req->path);
    dcs_buf_addc(&r->request, '\n');
    dcs_buf_add(&r->request, r->query.data, r->query.len);
    dcs_buf_addc(&r->request, '\n');
    for (i = 0; i < nsigned; i++) {
        const dcs_pair *h = &req->headers[order[i]];
        dcs_str v = ows_trim(h->value);
        for (j = 0; j < h->key.len; j++) {
            dcs_buf_addc(&r->request, (char)ascii_lower((unsigned char)h->key.ptr[j]));
            dcs_buf_addc(&r->signed_headers, (char)ascii_lower((unsigned char)h->key.ptr[j]));
        }
        if (i + 1 < nsigned)
            dcs_buf_addc(&r->signed_headers, ';');
        dcs_buf_addc(&r->request, ':');
        dcs_buf_add(&r->request, v.ptr, v.len);
        dcs_buf_addc(&r->request, '\n');
    }
    dcs_buf_addc(&r->request, '\n');
    dcs_buf_add(&r->request, r->signed_headers.data, r->signed_headers.len);
    dcs_buf_addc(&r->request, '\n');
    if (hash.ptr != NULL) {
        dcs_buf_add(&r->request, hash.ptr, hash.len);
    } else {
        ref_sha256_hex(req->body.len ? req->body.ptr : "", req->body.len, hex);
        dcs_buf_add(&r->request, hex, 64);
    }

    ref_sha256_hex(r->request.data, r->request.len, hex);
    dcs_buf_adds(&sts, "SDK-HMAC-SHA256\n");
    dcs_buf_add(&sts, date.ptr, date.len);
    dcs_buf_addc(&sts, '\n');
    dcs_buf_add(&sts, hex, 64);
    CHECK(dcs_hmac_sha256_hex(req->sk.len ? req->sk.ptr : "", req->sk.len, sts.data, sts.len,
                              sig));
    dcs_buf_free(&sts);
    dcs_buf_adds(&r->authorization, "SDK-HMAC-SHA256 Access=");
    dcs_buf_add(&r->authorization, req->ak.ptr, req->ak.len);
    dcs_buf_adds(&r->authorization, ", SignedHeaders=");
    dcs_buf_add(&r->authorization, r->signed_headers.data, r->signed_headers.len);
    dcs_buf_adds(&r->authorization, ", Signature=");
    dcs_buf_add(&r->authorization, sig, 64);
    CHECK(dcs_buf_ok(&r->query) && dcs_buf_ok(&r->request) && dcs_buf_ok(&r->signed_headers) &&
          dcs_buf_ok(&r->authorization));
    r->rc = DCS_SIGN_OK;
}

/* ---- invariants on a successful dcs_sign ---- */

static dcs_str nth_line(const dcs_buf *b, size_t idx)
{
    dcs_str r = {NULL, 0};
    size_t i, start = 0, cur = 0;
    for (i = 0; i <= b->len; i++)
        if (i == b->len || b->data[i] == '\n') {
            if (cur++ == idx) {
                r.ptr = b->data + start;
                r.len = i - start;
                break;
            }
            start = i + 1;
        }
    return r;
}

static size_t count_byte(const char *p, size_t n, char c)
{
    size_t i, k = 0;
    for (i = 0; i < n; i++)
        k += p[i] == c;
    return k;
}

static void check_ok_result(const dcs_sign_request *req, const dcs_sign_result *r)
{
    static const char prefix[] = "SDK-HMAC-SHA256 Access=";
    const dcs_buf *cr = &r->canonical_request;
    size_t nsigned = 0, off = req->method.len + 1, i;
    dcs_str uri, sig;
    int method_has_lf = memchr(req->method.ptr, '\n', req->method.len) != NULL;

    /* Every header whose name has no '_' is signed.  (Names may hold ';',
     * so counting ';' in SignedHeaders would not do.) */
    for (i = 0; i < req->header_count; i++)
        nsigned += memchr(req->headers[i].key.ptr, '_', req->headers[i].key.len) == NULL;
    CHECK(nsigned >= 2);

    /* Authorization: prefix, AK, signed headers, 64 lower-case hex digits. */
    CHECK(r->authorization.len == sizeof prefix - 1 + req->ak.len + 16 +
                                      r->signed_headers.len + 12 + 64);
    CHECK(memcmp(r->authorization.data, prefix, sizeof prefix - 1) == 0);
    sig.ptr = r->authorization.data + r->authorization.len - 64;
    sig.len = 64;
    for (i = 0; i < sig.len; i++)
        CHECK(in_set((unsigned char)sig.ptr[i], "0123456789abcdef"));

    /* Host and X-Sdk-Date are always signed; signed headers are lower-case,
     * '_'-free, strictly increasing. */
    CHECK(r->signed_headers.len > 0);
    CHECK(memchr(r->signed_headers.data, '_', r->signed_headers.len) == NULL);
    for (i = 0; i < r->signed_headers.len; i++)
        CHECK(!(r->signed_headers.data[i] >= 'A' && r->signed_headers.data[i] <= 'Z'));

    /* The canonical request starts with the method; the URI line starts
     * and ends with '/' and is encoded; line 3 is the canonical query. */
    CHECK(cr->len > off && memcmp(cr->data, req->method.ptr, req->method.len) == 0 &&
          cr->data[off - 1] == '\n');
    uri.ptr = cr->data + off;
    {
        const char *nl = memchr(uri.ptr, '\n', cr->len - off);
        CHECK(nl != NULL);
        uri.len = (size_t)(nl - uri.ptr);
    }
    CHECK(uri.len >= 1 && uri.ptr[0] == '/' && uri.ptr[uri.len - 1] == '/');
    CHECK(well_encoded(uri.ptr, uri.len, "/"));
    CHECK(off + uri.len + 1 + r->canonical_query.len < cr->len);
    CHECK(same(cr->data + off + uri.len + 1, r->canonical_query.len, r->canonical_query.data,
               r->canonical_query.len));
    CHECK(cr->data[off + uri.len + 1 + r->canonical_query.len] == '\n');
    CHECK(well_encoded(r->canonical_query.data, r->canonical_query.len, "=&"));
    CHECK(count_byte(r->canonical_query.data, r->canonical_query.len, '=') == req->query_count);
    CHECK(count_byte(r->canonical_query.data, r->canonical_query.len, '&') ==
          (req->query_count ? req->query_count - 1 : 0));

    /* Line count: method, URI, query, one per signed header, the empty
     * line, signed headers, payload hash.  Only the method is unchecked
     * input that may hold a '\n'. */
    if (!method_has_lf) {
        dcs_str blank = nth_line(cr, 3 + nsigned), sh = nth_line(cr, 4 + nsigned);
        CHECK(count_byte(cr->data, cr->len, '\n') == 5 + nsigned);
        CHECK(blank.ptr != NULL && blank.len == 0);
        CHECK(sh.ptr != NULL && same(sh.ptr, sh.len, r->signed_headers.data,
                                     r->signed_headers.len));
    }
}

/* ---- dcs_sign driver ---- */

static int same_result(const dcs_sign_result *a, const dcs_sign_result *b)
{
    return buf_eq(&a->canonical_query, &b->canonical_query) &&
           buf_eq(&a->canonical_request, &b->canonical_request) &&
           buf_eq(&a->signed_headers, &b->signed_headers) &&
           buf_eq(&a->authorization, &b->authorization);
}

static int sign_checked(const dcs_sign_request *req, int pass_bad, dcs_sign_result *r,
                        size_t *bad)
{
    int rc;
    *bad = (size_t)-1;
    dcs_sign_result_init(r);
    rc = dcs_sign(req, r, pass_bad ? bad : NULL);
    return rc;
}

static void fuzz_sign(const char *data, size_t size)
{
    fields f;
    unsigned flags = (unsigned char)data[0];
    size_t nq = flags & 7, nh = (flags >> 3) & 3, i, n = 0, bad1, bad2;
    int pass_bad = !(flags & 0x80);
    dcs_pair q[MAX_Q], h[MAX_H + 3], qr[MAX_Q], hr[MAX_H + 3];
    dcs_sign_request req, rev;
    dcs_sign_result r1, r2;
    ref_result ref;
    int rc1, rc2;

    f.p = data + 1;
    f.n = size - 1;
    memset(&req, 0, sizeof req);
    req.method = next_field(&f);
    req.path = next_field(&f);
    for (i = 0; i < nq; i++) {
        q[i].key = next_field(&f);
        q[i].value = next_field(&f);
    }
    h[n].key.ptr = flags & 0x40 ? "HOST" : "Host";
    h[n++].key.len = 4;
    for (i = 0; i < nh; i++) {
        h[n].key = next_field(&f);
        h[n++].value = next_field(&f);
    }
    h[0].value = next_field(&f);
    h[n].key.ptr = flags & 0x40 ? "x-sdk-date" : "X-Sdk-Date";
    h[n].key.len = 10;
    h[n++].value = next_field(&f);
    if (flags & 0x20) {
        h[n].key.ptr = "X-Sdk-Content-Sha256";
        h[n].key.len = 20;
        h[n++].value = next_field(&f);
    }
    req.body = next_field(&f);
    req.ak = next_field(&f);
    if (req.ak.len == 0)
        req.ak.ptr = "AK", req.ak.len = 2;
    req.sk = next_field(&f);
    req.query = q;
    req.query_count = nq;
    req.headers = h;
    req.header_count = n;

    ref_sign(&req, &ref);
    rc1 = sign_checked(&req, pass_bad, &r1, &bad1);
    if (rc1 != ref.rc)
        fprintf(stderr, "fuzz_sign: rc %d (%s), reference %d\n", rc1, dcs_sign_strerror(rc1),
                ref.rc);
    CHECK(rc1 == ref.rc);
    CHECK(dcs_sign_strerror(rc1) != NULL);
    if (pass_bad)
        CHECK(bad1 == ref.bad);
    else
        CHECK(bad1 == (size_t)-1);

    if (rc1 == DCS_SIGN_OK) {
        CHECK(buf_eq(&r1.canonical_query, &ref.query));
        CHECK(buf_eq(&r1.canonical_request, &ref.request));
        CHECK(buf_eq(&r1.signed_headers, &ref.signed_headers));
        CHECK(buf_eq(&r1.authorization, &ref.authorization));
        check_ok_result(&req, &r1);

        /* Same input again, and with both lists reversed: same output. */
        rc2 = sign_checked(&req, pass_bad, &r2, &bad2);
        CHECK(rc2 == DCS_SIGN_OK);
        CHECK(same_result(&r1, &r2));
        dcs_sign_result_free(&r2);

        rev = req;
        for (i = 0; i < nq; i++)
            qr[i] = q[nq - 1 - i];
        for (i = 0; i < n; i++)
            hr[i] = h[n - 1 - i];
        rev.query = qr;
        rev.headers = hr;
        rc2 = sign_checked(&rev, pass_bad, &r2, &bad2);
        CHECK(rc2 == DCS_SIGN_OK);
        CHECK(same_result(&r1, &r2));
        dcs_sign_result_free(&r2);
    } else {
        /* Host and X-Sdk-Date are always there; only header errors remain. */
        CHECK(rc1 == DCS_SIGN_EBADHEADER || rc1 == DCS_SIGN_EDUPHEADER ||
              rc1 == DCS_SIGN_EBADMETHOD || rc1 == DCS_SIGN_EBADAK);
    }
    dcs_sign_result_free(&r1);
    ref_free(&ref);
}

/* ---- many headers ---- */

/* Input bytes 0-1 give the header count (0..REF_MAX_HEADERS), bytes 2 and 3
 * where Host and X-Sdk-Date go (0xFF: left out), byte 4 the query: 0..3
 * fixed pairs, or DCS_SIGN_MAX_QUERY + 1 when 0xFF.  Byte 5 + i shapes
 * header i; past the input, headers get plain unique names:
 *   0-3   the name of an earlier header, case flipped when odd
 *   4-5   an invalid name (a ';' in it)
 *   6-7   a CR or LF in the value
 *   8-11  a name with '_' (never signed)
 *   else  a unique name, upper or lower case, value padded with blanks. */
static void many_header(const uint8_t *data, size_t size, size_t i, dcs_pair *h,
                        char name[24], char value[24])
{
    unsigned b = i + 5 < size ? data[i + 5] : 0xFF;
    size_t k;

    snprintf(name, 24, "%s-%u", (b & 0x10) ? "X-Many" : "x-many", (unsigned)i);
    snprintf(value, 24, "%sv%u%s", (b & 0x20) ? " \t" : "", (unsigned)i, (b & 0x40) ? " " : "");
    if (b < 4 && i > 0) {
        const dcs_pair *earlier = h - 1 - (b * 37 + i) % i;
        for (k = 0; k < earlier->key.len && k < 23; k++) {
            char c = earlier->key.ptr[k];
            name[k] = (b & 1) && c >= 'a' && c <= 'z' ? (char)(c - 32)
                      : (b & 1) && c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
        }
        name[k] = '\0';
    } else if (b < 6) {
        name[1] = ';';
    } else if (b < 8) {
        value[0] = b == 6 ? '\r' : '\n';
    } else if (b < 12) {
        name[1] = '_';
    }
    h->key.ptr = name;
    h->key.len = strlen(name);
    h->value.ptr = value;
    h->value.len = strlen(value);
}

static void fuzz_many_headers(const uint8_t *data, size_t size)
{
    static char names[REF_MAX_HEADERS][24], values[REF_MAX_HEADERS][24];
    static dcs_pair h[REF_MAX_HEADERS], hr[REF_MAX_HEADERS], q[DCS_SIGN_MAX_QUERY + 1];
    static const dcs_pair fixed_q[3] = {{{"b", 1}, {"2", 1}}, {{"a", 1}, {"x y", 3}},
                                        {{"a", 1}, {"", 0}}};
    size_t n, i, bad1 = (size_t)-1, bad2;
    dcs_sign_request req, rev;
    dcs_sign_result r1, r2;
    ref_result ref;
    int rc;

    if (size < 5)
        return;
    n = ((size_t)data[0] << 8 | data[1]) % (REF_MAX_HEADERS + 1);
    for (i = 0; i < n; i++)
        many_header(data, size, i, &h[i], names[i], values[i]);
    if (data[2] != 0xFF && n > 0) {
        h[data[2] % n].key.ptr = data[2] & 1 ? "host" : "Host";
        h[data[2] % n].key.len = 4;
    }
    if (data[3] != 0xFF && n > 0) {
        h[data[3] % n].key.ptr = data[3] & 1 ? "X-SDK-DATE" : "X-Sdk-Date";
        h[data[3] % n].key.len = 10;
    }
    memset(&req, 0, sizeof req);
    req.method.ptr = "GET";
    req.method.len = 3;
    req.path.ptr = "/p";
    req.path.len = 2;
    req.headers = h;
    req.header_count = n;
    if (data[4] == 0xFF) {
        for (i = 0; i <= DCS_SIGN_MAX_QUERY; i++)
            q[i] = fixed_q[i % 3];
        req.query = q;
        req.query_count = DCS_SIGN_MAX_QUERY + 1;
    } else {
        req.query = fixed_q;
        req.query_count = data[4] & 3;
    }
    req.ak.ptr = "AK";
    req.ak.len = 2;
    req.sk.ptr = "SK";
    req.sk.len = 2;

    ref_sign(&req, &ref);
    dcs_sign_result_init(&r1);
    rc = dcs_sign(&req, &r1, &bad1);
    if (rc != ref.rc || bad1 != ref.bad)
        fprintf(stderr, "fuzz_sign: many headers (%lu): rc %d at %ld, reference %d at %ld\n",
                (unsigned long)n, rc, (long)bad1, ref.rc, (long)ref.bad);
    CHECK(rc == ref.rc);
    CHECK(bad1 == ref.bad);
    if (rc == DCS_SIGN_OK) {
        CHECK(buf_eq(&r1.canonical_query, &ref.query));
        CHECK(buf_eq(&r1.canonical_request, &ref.request));
        CHECK(buf_eq(&r1.signed_headers, &ref.signed_headers));
        CHECK(buf_eq(&r1.authorization, &ref.authorization));
        check_ok_result(&req, &r1);
        rev = req;
        for (i = 0; i < n; i++)
            hr[i] = h[n - 1 - i];
        rev.headers = hr;
        dcs_sign_result_init(&r2);
        CHECK(dcs_sign(&rev, &r2, &bad2) == DCS_SIGN_OK);
        CHECK(same_result(&r1, &r2));
        dcs_sign_result_free(&r2);
    }
    dcs_sign_result_free(&r1);
    ref_free(&ref);
}

/* ---- percent-coding ---- */

static void fuzz_percent(const char *s, size_t n)
{
    dcs_buf e = DCS_BUF_INIT, d = DCS_BUF_INIT, x = DCS_BUF_INIT, y = DCS_BUF_INIT;
    int keep;

    for (keep = 0; keep <= 1; keep++) {
        /* decode(encode(s)) == s, and encode matches the reference. */
        dcs_buf_reset(&e);
        dcs_buf_reset(&d);
        dcs_buf_reset(&x);
        dcs_percent_encode(&e, s, n, keep);
        ref_encode(&x, s, n, keep);
        CHECK(dcs_buf_ok(&e) && buf_eq(&e, &x));
        CHECK(e.len >= n && e.len <= 3 * n);
        CHECK(well_encoded(e.data, e.len, keep ? "/" : ""));
        dcs_percent_decode(&d, e.data, e.len);
        CHECK(dcs_buf_ok(&d) && buf_is(&d, s, n));
    }

    /* decode matches the reference and never grows the input. */
    dcs_buf_reset(&d);
    dcs_buf_reset(&x);
    dcs_percent_decode(&d, s, n);
    ref_decode(&x, s, n);
    CHECK(dcs_buf_ok(&d) && buf_eq(&d, &x));
    CHECK(d.len <= n);
    /* Without a '%' decoding is the identity. */
    if (memchr(s, '%', n) == NULL)
        CHECK(buf_is(&d, s, n));

    /* encode(decode(s)) is a fixed point of encode(decode(.)). */
    dcs_buf_reset(&e);
    dcs_percent_encode(&e, d.data, d.len, 0);
    dcs_buf_reset(&x);
    dcs_percent_decode(&x, e.data, e.len);
    CHECK(buf_eq(&x, &d));
    dcs_buf_reset(&y);
    dcs_percent_encode(&y, x.data, x.len, 0);
    CHECK(buf_eq(&y, &e));

    dcs_buf_free(&e);
    dcs_buf_free(&d);
    dcs_buf_free(&x);
    dcs_buf_free(&y);
}

/* ---- dcs_url_split ---- */

static void fuzz_url_split(const char *s, size_t n)
{
    dcs_str url, sc, au, pa;
    size_t i, slash = n;
    int rc, bad = 0, want = 0;

    url.ptr = s;
    url.len = n;
    rc = dcs_url_split(url, &sc, &au, &pa);
    CHECK(rc == 0 || rc == 1);

    /* Reference: no '?', '#', controls, space or DEL anywhere; the first
     * '/' must be the start of "://" after a non-empty scheme; the
     * authority up to the next '/' must not be empty, nor hold an '@'. */
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '?' || c == '#' || c <= 0x20 || c == 0x7f)
            bad = 1;
    }
    slash = n;
    for (i = 0; i < n; i++)
        if (s[i] == '/') {
            slash = i;
            break;
        }
    if (!bad && slash >= 2 && slash + 1 < n && s[slash - 1] == ':' && s[slash + 1] == '/') {
        size_t a0 = slash + 2, a1 = a0;
        while (a1 < n && s[a1] != '/')
            a1++;
        if (a1 > a0 && memchr(s + a0, '@', a1 - a0) == NULL) {
            want = 1;
            CHECK(rc == 1);
            CHECK(sc.ptr == s && sc.len == slash - 1);
            CHECK(au.ptr == s + a0 && au.len == a1 - a0);
            CHECK(pa.ptr == s + a1 && pa.len == n - a1);
        }
    }
    CHECK(rc == want);
}

/* ---- dcs_sdk_date ---- */

/* Howard Hinnant's civil_from_days. */
static void civil(long long days, long long *y, unsigned *m, unsigned *d)
{
    long long z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (long long)yoe + era * 400 + (*m <= 2);
}

static void fuzz_sdk_date(const uint8_t *data, size_t size)
{
    unsigned long long v = 0;
    long long t, y, secs;
    unsigned m, d;
    char out[18], want[40];
    size_t i;

    for (i = 0; i < size && i < 8; i++)
        v = v << 8 | data[size - 1 - i];
    /* Any time_t half the time; else inside 1970..9999 where it must work. */
    t = (v & 1) ? (long long)(v >> 8) * ((v & 2) ? -1 : 1) : (long long)(v % 253402300800ULL);
    if ((long long)(time_t)t != t)
        return;
    memset(out, '#', sizeof out);
    secs = t % 86400;
    if (secs < 0)
        secs += 86400;
    civil((t - secs) / 86400, &y, &m, &d);
    if (y < 0 || y > 9999) {
        /* Does not fit YYYYMMDD: refused, with an empty string. */
        CHECK(dcs_sdk_date((time_t)t, out) == 0 && out[0] == '\0');
        return;
    }
    CHECK(dcs_sdk_date((time_t)t, out) == 1);
    CHECK(out[16] == '\0' && strlen(out) == 16);
    snprintf(want, sizeof want, "%04lld%02u%02uT%02u%02u%02uZ", y, m, d, (unsigned)(secs / 3600),
             (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
    CHECK(strcmp(out, want) == 0);
    CHECK(out[17] == '#');
}

/* The input through dcs_sha256.c in pieces of 1 + data[0] % 97 bytes, and
 * whole, against mbedTLS; a copy taken halfway must end the same way. */
static void fuzz_sha256(const uint8_t *data, size_t size)
{
    unsigned char want[32], got[32], copied[32];
    size_t piece = 1 + data[0] % 97, at = 0;
    dcs_sha256 s, half;

    if (!dcs_sha256_hw())
        return;
    CHECK(mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), data, size, want) == 0);
    dcs_sha256_start(&s);
    dcs_sha256_start(&half);
    while (at < size) {
        size_t take = size - at < piece ? size - at : piece;
        if (at <= size / 2)
            half = s;
        dcs_sha256_update(&s, data + at, take);
        at += take;
    }
    for (at = half.len; at < size; at++)
        dcs_sha256_update(&half, data + at, 1);
    dcs_sha256_finish(&s, got);
    dcs_sha256_finish(&half, copied);
    CHECK(memcmp(got, want, 32) == 0 && memcmp(copied, want, 32) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    fuzz_sign((const char *)data, size);
    /* A quarter of the inputs: it costs ten times the rest. */
    if ((data[size - 1] & 3) == 0)
        fuzz_many_headers(data, size);
    fuzz_percent((const char *)data, size);
    fuzz_url_split((const char *)data + 1, size - 1);
    fuzz_sdk_date(data, size);
    fuzz_sha256(data, size);
    return 0;
}
