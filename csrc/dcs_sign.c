/* SDK-HMAC-SHA256 signer.  The rules follow the official Go and Python
 * cores and what the gateway accepts (shared/docs/dcs-api.md 3.2 and 3.6):
 *  - canonical URI: percent-decode the whole path, then encode every byte
 *    except '/' and A-Za-z0-9-_.~, and end it with '/';
 *  - canonical query: pairs sorted by raw key then raw value, both encoded
 *    with the same set;
 *  - every header is signed except names containing '_'; names lower-cased,
 *    values trimmed, sorted by name;
 *  - payload hash: X-Sdk-Content-Sha256 if given, else sha256(body). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md.h>

#include "dcs_sign.h"

static const char HEX_UPPER[] = "0123456789ABCDEF";
static const char HEX_LOWER[] = "0123456789abcdef";

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Case-insensitive equality of a header name with a lower-case literal. */
static int name_is(dcs_str name, const char *lit)
{
    size_t i, n = strlen(lit);
    if (name.len != n)
        return 0;
    for (i = 0; i < n; i++)
        if (lower((unsigned char)name.ptr[i]) != (unsigned char)lit[i])
            return 0;
    return 1;
}

static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;   /* empty strings may be NULL */
    if (c != 0)
        return c;
    return alen < blen ? -1 : (alen > blen ? 1 : 0);
}

static dcs_str trim(dcs_str s)
{
    while (s.len > 0 && (*s.ptr == ' ' || *s.ptr == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

void dcs_percent_encode(dcs_buf *out, const char *s, size_t n, int keep_slash)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            dcs_buf_addc(out, (char)c);
        } else {
            char esc[3] = {'%', HEX_UPPER[c >> 4], HEX_UPPER[c & 15]};
            dcs_buf_add(out, esc, 3);
        }
    }
}

/* Like Python's unquote: an invalid escape is kept as it is. */
void dcs_percent_decode(dcs_buf *out, const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hex_value((unsigned char)s[i + 1])) >= 0 &&
            (lo = hex_value((unsigned char)s[i + 2])) >= 0) {
            dcs_buf_addc(out, (char)(hi * 16 + lo));
            i += 2;
        } else {
            dcs_buf_addc(out, s[i]);
        }
    }
}

int dcs_url_split(dcs_str url, dcs_str *scheme, dcs_str *authority, dcs_str *path)
{
    size_t i, sep = 0, auth_end;
    int found = 0;

    for (i = 0; i < url.len; i++) {
        unsigned char c = (unsigned char)url.ptr[i];
        if (c == '?' || c == '#' || c <= ' ' || c == 0x7f)
            return 0;
    }
    for (i = 0; i + 2 < url.len; i++) {
        if (url.ptr[i] == ':' && url.ptr[i + 1] == '/' && url.ptr[i + 2] == '/') {
            sep = i;
            found = 1;
            break;
        }
        if (url.ptr[i] == '/')
            break;
    }
    if (!found || sep == 0)
        return 0;
    auth_end = sep + 3;
    while (auth_end < url.len && url.ptr[auth_end] != '/')
        auth_end++;
    if (auth_end == sep + 3)
        return 0;
    scheme->ptr = url.ptr;
    scheme->len = sep;
    authority->ptr = url.ptr + sep + 3;
    authority->len = auth_end - (sep + 3);
    path->ptr = url.ptr + auth_end;
    path->len = url.len - auth_end;
    return 1;
}

int dcs_sdk_date(time_t t, char out[17])
{
    struct tm tm;
    char tmp[64];               /* the compiler cannot prove the fields' ranges */
    out[0] = '\0';
#if defined(_WIN32)
    if (gmtime_s(&tm, &t) != 0)
        return 0;
#else
    if (gmtime_r(&t, &tm) == NULL)
        return 0;
#endif
    /* Years outside 0..9999 do not fit the format: refuse, never truncate. */
    if (tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
        return 0;
    snprintf(tmp, sizeof tmp, "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    memcpy(out, tmp, 17);
    return 1;
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = HEX_LOWER[in[i] >> 4];
        out[2 * i + 1] = HEX_LOWER[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int dcs_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (info == NULL || mbedtls_md(info, (const unsigned char *)p, n, md) != 0)
        return 0;
    to_hex(md, sizeof md, out);
    return 1;
}

int dcs_hmac_sha256_hex(const void *key, size_t klen, const void *msg, size_t mlen, char out[65])
{
    unsigned char md[32];
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (info == NULL ||
        mbedtls_md_hmac(info, (const unsigned char *)key, klen, (const unsigned char *)msg, mlen,
                        md) != 0)
        return 0;
    to_hex(md, sizeof md, out);
    return 1;
}

void dcs_sign_result_init(dcs_sign_result *r)
{
    dcs_buf_init(&r->canonical_query);
    dcs_buf_init(&r->canonical_request);
    dcs_buf_init(&r->signed_headers);
    dcs_buf_init(&r->authorization);
}

void dcs_sign_result_free(dcs_sign_result *r)
{
    dcs_buf_free(&r->canonical_query);
    dcs_buf_free(&r->canonical_request);
    dcs_buf_free(&r->signed_headers);
    dcs_buf_free(&r->authorization);
}

const char *dcs_sign_strerror(int code)
{
    switch (code) {
    case DCS_SIGN_OK: return "ok";
    case DCS_SIGN_ENOMEM: return "out of memory";
    case DCS_SIGN_ENODATE: return "missing X-Sdk-Date header";
    case DCS_SIGN_ENOHOST: return "missing Host header";
    case DCS_SIGN_EDUPHEADER: return "duplicate header name (names are case-insensitive)";
    case DCS_SIGN_EBADHEADER:
        return "invalid header (the name must be an HTTP token; the value must not hold CR, LF or NUL)";
    case DCS_SIGN_EBADMETHOD: return "invalid method (must be an HTTP token such as GET)";
    case DCS_SIGN_ECRYPTO: return "mbedTLS hash failure";
    default: return "unknown signing error";
    }
}

/* ---- canonical query ---- */

static int pair_cmp(const void *a, const void *b)
{
    const dcs_pair *x = *(const dcs_pair *const *)a, *y = *(const dcs_pair *const *)b;
    int c = bytes_cmp(x->key.ptr, x->key.len, y->key.ptr, y->key.len);
    return c ? c : bytes_cmp(x->value.ptr, x->value.len, y->value.ptr, y->value.len);
}

static int canonical_query(const dcs_sign_request *req, dcs_buf *out)
{
    size_t i;
    const dcs_pair **sorted;

    if (req->query_count == 0)
        return 1;
    sorted = malloc(req->query_count * sizeof *sorted);
    if (sorted == NULL)
        return 0;
    for (i = 0; i < req->query_count; i++)
        sorted[i] = &req->query[i];
    qsort(sorted, req->query_count, sizeof *sorted, pair_cmp);
    for (i = 0; i < req->query_count; i++) {
        if (i > 0)
            dcs_buf_addc(out, '&');
        dcs_percent_encode(out, sorted[i]->key.ptr, sorted[i]->key.len, 0);
        dcs_buf_addc(out, '=');
        dcs_percent_encode(out, sorted[i]->value.ptr, sorted[i]->value.len, 0);
    }
    free(sorted);
    return 1;
}

/* ---- canonical headers ---- */

typedef struct signed_header {
    size_t name_off;            /* lower-cased name, inside the names buffer */
    size_t name_len;
    dcs_str value;              /* trimmed */
} signed_header;

/* qsort has no context argument and the names live in one buffer, so a
 * small insertion sort over offsets (header lists are short). */
static void sort_headers(signed_header *h, size_t n, const char *names)
{
    size_t i, j;
    for (i = 1; i < n; i++) {
        signed_header key = h[i];
        j = i;
        while (j > 0 && bytes_cmp(names + h[j - 1].name_off, h[j - 1].name_len,
                                  names + key.name_off, key.name_len) > 0) {
            h[j] = h[j - 1];
            j--;
        }
        h[j] = key;
    }
}

/* RFC 7230 token: what may appear in a method or a header name.  Anything
 * else could make the canonical request or SignedHeaders ambiguous. */
static int is_token(dcs_str s)
{
    size_t i;
    if (s.len == 0)
        return 0;
    for (i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (!(is_unreserved(c) || (c != 0 && strchr("!#$%&'*+^`|", c) != NULL)))
            return 0;
    }
    return 1;
}

static int header_is_valid(const dcs_pair *h)
{
    size_t i;
    if (!is_token(h->key))
        return 0;
    for (i = 0; i < h->value.len; i++) {
        unsigned char c = (unsigned char)h->value.ptr[i];
        if (c == '\r' || c == '\n' || c == '\0')
            return 0;
    }
    return 1;
}

int dcs_sign(const dcs_sign_request *req, dcs_sign_result *r, size_t *bad_header)
{
    size_t i, j, nsigned = 0;
    signed_header *sh = NULL;
    dcs_buf names = DCS_BUF_INIT, sts = DCS_BUF_INIT;
    dcs_str date = {NULL, 0}, content_hash = {NULL, 0};
    int have_host = 0, rc = DCS_SIGN_ENOMEM;
    char hash[65], signature[65];

    if (!is_token(req->method))
        return DCS_SIGN_EBADMETHOD;
    for (i = 0; i < req->header_count; i++) {
        const dcs_pair *h = &req->headers[i];
        if (!header_is_valid(h)) {
            if (bad_header) *bad_header = i;
            return DCS_SIGN_EBADHEADER;
        }
        for (j = 0; j < i; j++) {
            size_t k;
            const dcs_pair *o = &req->headers[j];
            if (o->key.len != h->key.len)
                continue;
            for (k = 0; k < h->key.len; k++)
                if (lower((unsigned char)o->key.ptr[k]) != lower((unsigned char)h->key.ptr[k]))
                    break;
            if (k == h->key.len) {
                if (bad_header) *bad_header = i;
                return DCS_SIGN_EDUPHEADER;
            }
        }
        if (name_is(h->key, "x-sdk-date"))
            date = trim(h->value);
        else if (name_is(h->key, "host"))
            have_host = 1;
        else if (name_is(h->key, "x-sdk-content-sha256"))
            content_hash = trim(h->value);
    }
    if (date.ptr == NULL)
        return DCS_SIGN_ENODATE;
    if (!have_host)
        return DCS_SIGN_ENOHOST;

    if (req->header_count > 0) {
        sh = malloc(req->header_count * sizeof *sh);
        if (sh == NULL)
            goto done;
    }
    for (i = 0; i < req->header_count; i++) {
        const dcs_pair *h = &req->headers[i];
        if (memchr(h->key.ptr, '_', h->key.len) != NULL)
            continue;           /* the official cores never sign these */
        sh[nsigned].name_off = names.len;
        sh[nsigned].name_len = h->key.len;
        sh[nsigned].value = trim(h->value);
        for (j = 0; j < h->key.len; j++)
            dcs_buf_addc(&names, (char)lower((unsigned char)h->key.ptr[j]));
        nsigned++;
    }
    if (!dcs_buf_ok(&names))
        goto done;
    sort_headers(sh, nsigned, names.data);

    /* Method, URI, query. */
    {
        dcs_buf *cr = &r->canonical_request;
        dcs_buf path = DCS_BUF_INIT;
        size_t uri_start;

        dcs_buf_add(cr, req->method.ptr, req->method.len);
        dcs_buf_addc(cr, '\n');
        dcs_percent_decode(&path, req->path.ptr, req->path.len);
        uri_start = cr->len;
        if (path.len == 0 || path.data[0] != '/')
            dcs_buf_addc(cr, '/');
        dcs_percent_encode(cr, path.data, path.len, 1);
        if (!dcs_buf_ok(&path) || (cr->len > uri_start && cr->data[cr->len - 1] != '/'))
            dcs_buf_addc(cr, '/');
        dcs_buf_free(&path);
        dcs_buf_addc(cr, '\n');
        if (!canonical_query(req, &r->canonical_query))
            goto done;
        dcs_buf_add(cr, r->canonical_query.data, r->canonical_query.len);
        dcs_buf_addc(cr, '\n');

        for (i = 0; i < nsigned; i++) {
            dcs_buf_add(cr, names.data + sh[i].name_off, sh[i].name_len);
            dcs_buf_addc(cr, ':');
            dcs_buf_add(cr, sh[i].value.ptr, sh[i].value.len);
            dcs_buf_addc(cr, '\n');
            if (i > 0)
                dcs_buf_addc(&r->signed_headers, ';');
            dcs_buf_add(&r->signed_headers, names.data + sh[i].name_off, sh[i].name_len);
        }
        dcs_buf_addc(cr, '\n');
        dcs_buf_add(cr, r->signed_headers.data, r->signed_headers.len);
        dcs_buf_addc(cr, '\n');
        if (content_hash.ptr != NULL) {
            dcs_buf_add(cr, content_hash.ptr, content_hash.len);
        } else {
            if (!dcs_sha256_hex(req->body.ptr ? req->body.ptr : "", req->body.len, hash)) {
                rc = DCS_SIGN_ECRYPTO;
                goto done;
            }
            dcs_buf_add(cr, hash, 64);
        }
        if (!dcs_buf_ok(cr) || !dcs_buf_ok(&r->signed_headers) ||
            !dcs_buf_ok(&r->canonical_query))
            goto done;
    }

    /* String to sign, signature, Authorization. */
    if (!dcs_sha256_hex(r->canonical_request.data, r->canonical_request.len, hash)) {
        rc = DCS_SIGN_ECRYPTO;
        goto done;
    }
    dcs_buf_adds(&sts, "SDK-HMAC-SHA256\n");
    dcs_buf_add(&sts, date.ptr, date.len);
    dcs_buf_addc(&sts, '\n');
    dcs_buf_add(&sts, hash, 64);
    if (!dcs_buf_ok(&sts))
        goto done;
    if (!dcs_hmac_sha256_hex(req->sk.ptr, req->sk.len, sts.data, sts.len, signature)) {
        rc = DCS_SIGN_ECRYPTO;
        goto done;
    }
    dcs_buf_adds(&r->authorization, "SDK-HMAC-SHA256 Access=");
    dcs_buf_add(&r->authorization, req->ak.ptr, req->ak.len);
    dcs_buf_adds(&r->authorization, ", SignedHeaders=");
    dcs_buf_add(&r->authorization, r->signed_headers.data, r->signed_headers.len);
    dcs_buf_adds(&r->authorization, ", Signature=");
    dcs_buf_add(&r->authorization, signature, 64);
    if (dcs_buf_ok(&r->authorization))
        rc = DCS_SIGN_OK;

done:
    free(sh);
    dcs_buf_free(&names);
    dcs_buf_free(&sts);
    return rc;
}
