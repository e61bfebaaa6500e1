/* SDK-HMAC-SHA256 signer.  The rules follow the official Go and Python
 * cores and what the gateway accepts (docs/api.md, "What lua-dcs signs"):
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

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

static const char HEX_UPPER[] = "0123456789ABCDEF";

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

static void encode_byte(dcs_buf *out, unsigned char c, int keep_slash)
{
    if (is_unreserved(c) || (keep_slash && c == '/')) {
        dcs_buf_addc(out, (char)c);
    } else {
        char esc[3] = {'%', HEX_UPPER[c >> 4], HEX_UPPER[c & 15]};
        dcs_buf_add(out, esc, 3);
    }
}

/* The byte at s[*i], or the one a valid %XX escape there stands for (like
 * Python's unquote, an invalid escape is kept as it is); moves *i past
 * what it read. */
static unsigned char next_decoded(const char *s, size_t n, size_t *i)
{
    int hi, lo;
    if (s[*i] == '%' && *i + 2 < n && (hi = hex_value((unsigned char)s[*i + 1])) >= 0 &&
        (lo = hex_value((unsigned char)s[*i + 2])) >= 0) {
        *i += 3;
        return (unsigned char)(hi * 16 + lo);
    }
    return (unsigned char)s[(*i)++];
}

void dcs_percent_encode(dcs_buf *out, const char *s, size_t n, int keep_slash)
{
    size_t i;
    for (i = 0; i < n; i++)
        encode_byte(out, (unsigned char)s[i], keep_slash);
}

void dcs_percent_decode(dcs_buf *out, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n)
        dcs_buf_addc(out, (char)next_decoded(s, n, &i));
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

int dcs_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (info == NULL || mbedtls_md(info, (const unsigned char *)p, n, md) != 0)
        return 0;
    dcs_hex_encode(md, sizeof md, out);
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
    dcs_hex_encode(md, sizeof md, out);
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
    case DCS_SIGN_EBADAK:
        return "invalid AK (must be an HTTP token of 1 to " STRINGIFY(DCS_SIGN_MAX_AK)
               " bytes: no space, comma, CR, LF or NUL)";
    case DCS_SIGN_ETOOMANY:
        return "too many headers (at most " STRINGIFY(DCS_SIGN_MAX_HEADERS)
               ", Host and X-Sdk-Date included)";
    case DCS_SIGN_ETOOMANYQUERY:
        return "too many query pairs (at most " STRINGIFY(DCS_SIGN_MAX_QUERY) ")";
    default: return "unknown signing error";
    }
}

/* ---- step 1: validation ---- */

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

/* What can be checked before looking at any header; the limits bound the
 * work and memory of everything after. */
static int check_request(const dcs_sign_request *req)
{
    if (!is_token(req->method))
        return DCS_SIGN_EBADMETHOD;
    /* The AK goes into the Authorization value as it is. */
    if (!is_token(req->ak) || req->ak.len > DCS_SIGN_MAX_AK)
        return DCS_SIGN_EBADAK;
    if (req->header_count > DCS_SIGN_MAX_HEADERS)
        return DCS_SIGN_ETOOMANY;
    if (req->query_count > DCS_SIGN_MAX_QUERY)
        return DCS_SIGN_ETOOMANYQUERY;
    return DCS_SIGN_OK;
}

/* Every header by lower-cased name.  The names live in one buffer that is
 * complete before the sort, so the pointers into it stay valid. */
typedef struct sorted_header {
    const char *name;           /* lower-cased, inside header_index.names */
    size_t name_len;
    size_t index;               /* position in req->headers */
} sorted_header;

typedef struct header_index {
    char *names;
    sorted_header *by_name;     /* by name, then by position */
    size_t count;
    dcs_str date;               /* trimmed values of the headers the signer reads */
    dcs_str content_hash;
    int have_host;
} header_index;

static int sorted_header_cmp(const void *a, const void *b)
{
    const sorted_header *x = a, *y = b;
    int c = bytes_cmp(x->name, x->name_len, y->name, y->name_len);
    if (c != 0)
        return c;
    return x->index < y->index ? -1 : (x->index > y->index ? 1 : 0);
}

static int index_headers(const dcs_sign_request *req, header_index *hx)
{
    size_t i, j, total = 1, off = 0;

    memset(hx, 0, sizeof *hx);
    for (i = 0; i < req->header_count; i++) {
        if (req->headers[i].key.len > (size_t)-1 - total)
            return 0;
        total += req->headers[i].key.len;
    }
    hx->names = malloc(total);
    hx->by_name = malloc((req->header_count ? req->header_count : 1) * sizeof *hx->by_name);
    if (hx->names == NULL || hx->by_name == NULL)
        return 0;
    for (i = 0; i < req->header_count; i++) {
        const dcs_pair *h = &req->headers[i];
        sorted_header *e = &hx->by_name[i];
        for (j = 0; j < h->key.len; j++)
            hx->names[off + j] = (char)dcs_ascii_lower((unsigned char)h->key.ptr[j]);
        e->name = hx->names + off;
        e->name_len = h->key.len;
        e->index = i;
        off += h->key.len;
    }
    hx->count = req->header_count;
    if (hx->count > 1)
        qsort(hx->by_name, hx->count, sizeof *hx->by_name, sorted_header_cmp);
    return 1;
}

static void header_index_free(header_index *hx)
{
    free(hx->names);
    free(hx->by_name);
}

/* The first header, in the given order, that is invalid or repeats an
 * earlier name decides the error.  Repeats are adjacent in by_name, and
 * within a run of one name every entry but the first is a repeat. */
static int check_headers(const dcs_sign_request *req, header_index *hx, size_t *bad_header)
{
    size_t i, first_bad = (size_t)-1, first_dup = (size_t)-1;

    for (i = 0; i < req->header_count && first_bad == (size_t)-1; i++)
        if (!header_is_valid(&req->headers[i]))
            first_bad = i;
    for (i = 1; i < hx->count; i++) {
        const sorted_header *a = &hx->by_name[i - 1], *b = &hx->by_name[i];
        if (b->index < first_dup && bytes_cmp(a->name, a->name_len, b->name, b->name_len) == 0)
            first_dup = b->index;
    }
    if (first_bad != (size_t)-1 && first_bad <= first_dup) {
        if (bad_header) *bad_header = first_bad;
        return DCS_SIGN_EBADHEADER;
    }
    if (first_dup != (size_t)-1) {
        if (bad_header) *bad_header = first_dup;
        return DCS_SIGN_EDUPHEADER;
    }
    for (i = 0; i < req->header_count; i++) {
        const dcs_pair *h = &req->headers[i];
        if (dcs_str_ieq(h->key.ptr, h->key.len, "x-sdk-date", 10))
            hx->date = trim(h->value);
        else if (dcs_str_ieq(h->key.ptr, h->key.len, "host", 4))
            hx->have_host = 1;
        else if (dcs_str_ieq(h->key.ptr, h->key.len, "x-sdk-content-sha256", 20))
            hx->content_hash = trim(h->value);
    }
    if (hx->date.ptr == NULL)
        return DCS_SIGN_ENODATE;
    if (!hx->have_host)
        return DCS_SIGN_ENOHOST;
    return DCS_SIGN_OK;
}

/* ---- step 2: canonical request, built in r->canonical_request ---- */

static void canonical_uri(dcs_buf *cr, dcs_str path)
{
    size_t i = 0, start = cr->len;
    while (i < path.len) {
        unsigned char c = next_decoded(path.ptr, path.len, &i);
        if (cr->len == start && c != '/')
            dcs_buf_addc(cr, '/');
        encode_byte(cr, c, 1);
    }
    if (cr->len == start || cr->data[cr->len - 1] != '/')
        dcs_buf_addc(cr, '/');
}

static int pair_cmp(const void *a, const void *b)
{
    const dcs_pair *x = *(const dcs_pair *const *)a, *y = *(const dcs_pair *const *)b;
    int c = bytes_cmp(x->key.ptr, x->key.len, y->key.ptr, y->key.len);
    return c ? c : bytes_cmp(x->value.ptr, x->value.len, y->value.ptr, y->value.len);
}

/* Pairs sorted by raw key then raw value, both encoded. */
static int canonical_query(dcs_buf *cr, const dcs_sign_request *req)
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
            dcs_buf_addc(cr, '&');
        dcs_percent_encode(cr, sorted[i]->key.ptr, sorted[i]->key.len, 0);
        dcs_buf_addc(cr, '=');
        dcs_percent_encode(cr, sorted[i]->value.ptr, sorted[i]->value.len, 0);
    }
    free(sorted);
    return 1;
}

/* Names containing '_' are never signed (as in the official cores). */
static int is_signed(const sorted_header *h)
{
    return memchr(h->name, '_', h->name_len) == NULL;
}

/* "name:value\n" for each signed header, then the empty line, then
 * SignedHeaders (which goes into r->signed_headers too). */
static void canonical_headers(dcs_buf *cr, const dcs_sign_request *req, const header_index *hx,
                              dcs_buf *signed_headers)
{
    size_t i, list_start;
    int first = 1;

    for (i = 0; i < hx->count; i++) {
        const sorted_header *h = &hx->by_name[i];
        dcs_str value = trim(req->headers[h->index].value);
        if (!is_signed(h))
            continue;
        dcs_buf_add(cr, h->name, h->name_len);
        dcs_buf_addc(cr, ':');
        dcs_buf_add(cr, value.ptr, value.len);
        dcs_buf_addc(cr, '\n');
    }
    dcs_buf_addc(cr, '\n');
    list_start = cr->len;
    for (i = 0; i < hx->count; i++) {
        const sorted_header *h = &hx->by_name[i];
        if (!is_signed(h))
            continue;
        if (!first)
            dcs_buf_addc(cr, ';');
        dcs_buf_add(cr, h->name, h->name_len);
        first = 0;
    }
    if (dcs_buf_ok(cr))
        dcs_buf_add(signed_headers, cr->data + list_start, cr->len - list_start);
}

/* Method, URI, query, headers, signed headers, payload hash: one buffer.
 * The query and SignedHeaders are copied out of it into r. */
static int canonical_request(const dcs_sign_request *req, const header_index *hx,
                             dcs_sign_result *r)
{
    dcs_buf *cr = &r->canonical_request;
    size_t query_start;
    char hash[65];

    dcs_buf_add(cr, req->method.ptr, req->method.len);
    dcs_buf_addc(cr, '\n');
    canonical_uri(cr, req->path);
    dcs_buf_addc(cr, '\n');
    query_start = cr->len;
    if (!canonical_query(cr, req))
        return DCS_SIGN_ENOMEM;
    if (dcs_buf_ok(cr))
        dcs_buf_add(&r->canonical_query, cr->data + query_start, cr->len - query_start);
    dcs_buf_addc(cr, '\n');
    canonical_headers(cr, req, hx, &r->signed_headers);
    dcs_buf_addc(cr, '\n');
    if (hx->content_hash.ptr != NULL) {
        dcs_buf_add(cr, hx->content_hash.ptr, hx->content_hash.len);
    } else {
        if (!dcs_sha256_hex(req->body.ptr ? req->body.ptr : "", req->body.len, hash))
            return DCS_SIGN_ECRYPTO;
        dcs_buf_add(cr, hash, 64);
    }
    if (!dcs_buf_ok(cr) || !dcs_buf_ok(&r->canonical_query) || !dcs_buf_ok(&r->signed_headers))
        return DCS_SIGN_ENOMEM;
    return DCS_SIGN_OK;
}

/* ---- step 3: string to sign, signature, Authorization ---- */

static int authorize(const dcs_sign_request *req, dcs_str date, dcs_sign_result *r)
{
    dcs_buf sts = DCS_BUF_INIT;
    char hash[65], signature[65];
    int ok;

    if (!dcs_sha256_hex(r->canonical_request.data, r->canonical_request.len, hash))
        return DCS_SIGN_ECRYPTO;
    dcs_buf_adds(&sts, "SDK-HMAC-SHA256\n");
    dcs_buf_add(&sts, date.ptr, date.len);
    dcs_buf_addc(&sts, '\n');
    dcs_buf_add(&sts, hash, 64);
    if (!dcs_buf_ok(&sts)) {
        dcs_buf_free(&sts);
        return DCS_SIGN_ENOMEM;
    }
    ok = dcs_hmac_sha256_hex(req->sk.ptr, req->sk.len, sts.data, sts.len, signature);
    dcs_buf_free(&sts);
    if (!ok)
        return DCS_SIGN_ECRYPTO;
    dcs_buf_adds(&r->authorization, "SDK-HMAC-SHA256 Access=");
    dcs_buf_add(&r->authorization, req->ak.ptr, req->ak.len);
    dcs_buf_adds(&r->authorization, ", SignedHeaders=");
    dcs_buf_add(&r->authorization, r->signed_headers.data, r->signed_headers.len);
    dcs_buf_adds(&r->authorization, ", Signature=");
    dcs_buf_add(&r->authorization, signature, 64);
    return dcs_buf_ok(&r->authorization) ? DCS_SIGN_OK : DCS_SIGN_ENOMEM;
}

int dcs_sign(const dcs_sign_request *req, dcs_sign_result *r, size_t *bad_header)
{
    header_index hx;
    int rc = check_request(req);

    if (rc != DCS_SIGN_OK)
        return rc;
    if (!index_headers(req, &hx))
        rc = DCS_SIGN_ENOMEM;
    else if ((rc = check_headers(req, &hx, bad_header)) == DCS_SIGN_OK &&
             (rc = canonical_request(req, &hx, r)) == DCS_SIGN_OK)
        rc = authorize(req, hx.date, r);
    header_index_free(&hx);
    return rc;
}
