/* SDK-HMAC-SHA256 signer.  The rules follow the official Go and Python
 * cores and what the gateway accepts (docs/api.md, "What lua-dcs signs"):
 *  - canonical URI: percent-decode the whole path, then encode every byte
 *    except '/' and A-Za-z0-9-_.~, and end it with '/';
 *  - canonical query: pairs sorted by raw key then raw value, both encoded
 *    with the same set;
 *  - every header is signed except names containing '_'; names lower-cased,
 *    values trimmed (space, tab, VT, FF), sorted by name;
 *  - payload hash: X-Sdk-Content-Sha256 if given, else sha256(body). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcs_headers.h"
#include "dcs_sign.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

/* Up to this many headers, query pairs and bytes of header names, the
 * signer's working arrays live on the stack: no allocation for a usual
 * request. */
#define SMALL_HEADERS 24
#define SMALL_QUERY 24
#define SMALL_NAMES 512

/* sha256 of the empty body: every request of the API sends one. */
static const char EMPTY_SHA256[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static const char HEX_UPPER[] = "0123456789ABCDEF";

/* Character classes, one bit each, looked up per byte: CLASS_UNRESERVED
 * (RFC 3986 unreserved: A-Z a-z 0-9 - _ . ~) and CLASS_PATH (unreserved
 * and '/').  Tokens: dcs_http_tchar. */
enum { CLASS_UNRESERVED = 1, CLASS_PATH = 2 };
static const unsigned char CHAR_CLASS[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 2,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0,
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 3,
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 3, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static int is_unreserved(unsigned char c)
{
    return CHAR_CLASS[c] & CLASS_UNRESERVED;
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

/* What the official cores strip (Python's strip, Go's TrimSpace) that a
 * header value may hold: CR and LF are refused before. */
static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

static dcs_str trim(dcs_str s)
{
    while (s.len > 0 && is_blank(*s.ptr)) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && is_blank(s.ptr[s.len - 1]))
        s.len--;
    return s;
}

/* Room for n more bytes written straight into b->data (b->len not moved):
 * NULL when it cannot grow (the failure is sticky, as for every append). */
static char *room(dcs_buf *b, size_t n)
{
    if (!dcs_buf_reserve(b, n))
        return NULL;
    return b->data + b->len;
}

/* The encoding of c at out; returns the end of what it wrote (1 or 3 bytes). */
static char *encode_byte(char *out, unsigned char c, int keep_slash)
{
    if (is_unreserved(c) || (keep_slash && c == '/')) {
        *out++ = (char)c;
    } else {
        out[0] = '%';
        out[1] = HEX_UPPER[c >> 4];
        out[2] = HEX_UPPER[c & 15];
        out += 3;
    }
    return out;
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

/* How many bytes from s[i] on stay as they are: copied in one go. */
static size_t plain_run(const char *s, size_t n, size_t i, unsigned char class)
{
    size_t j = i;
    while (j < n && (CHAR_CLASS[(unsigned char)s[j]] & class))
        j++;
    return j - i;
}

void dcs_percent_encode(dcs_buf *out, const char *s, size_t n, int keep_slash)
{
    size_t i;
    char *w;

    if (n == 0)
        return;
    if (n > ((size_t)-1) / 3) {
        out->failed = 1;
        return;
    }
    if ((w = room(out, 3 * n)) == NULL)
        return;
    for (i = 0; i < n; i++) {
        size_t run = plain_run(s, n, i, keep_slash ? CLASS_PATH : CLASS_UNRESERVED);
        memcpy(w, s + i, run);
        w += run;
        i += run;
        if (i < n)
            w = encode_byte(w, (unsigned char)s[i], keep_slash);
    }
    out->len = (size_t)(w - out->data);
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
    /* user information (user:password@) would be signed, and returned,
     * as the Host header */
    if (memchr(url.ptr + sep + 3, '@', auth_end - (sep + 3)) != NULL)
        return 0;
    scheme->ptr = url.ptr;
    scheme->len = sep;
    authority->ptr = url.ptr + sep + 3;
    authority->len = auth_end - (sep + 3);
    path->ptr = url.ptr + auth_end;
    path->len = url.len - auth_end;
    return 1;
}

static char *two_digits(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

int dcs_sdk_date(time_t t, char out[17])
{
    struct tm tm;
    int year;
    char *p = out;

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
    year = tm.tm_year + 1900;
    p = two_digits(p, year / 100);
    p = two_digits(p, year % 100);
    p = two_digits(p, tm.tm_mon + 1);
    p = two_digits(p, tm.tm_mday);
    *p++ = 'T';
    p = two_digits(p, tm.tm_hour);
    p = two_digits(p, tm.tm_min);
    p = two_digits(p, tm.tm_sec);
    *p++ = 'Z';
    *p = '\0';
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
        if (!dcs_http_tchar(c))
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
 * complete before the sort, so the pointers into it stay valid; both are
 * on the stack (the _small arrays) unless the request is unusually large. */
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
    char names_small[SMALL_NAMES];
    sorted_header by_name_small[SMALL_HEADERS];
} header_index;

static int sorted_header_cmp(const void *a, const void *b)
{
    const sorted_header *x = a, *y = b;
    int c = bytes_cmp(x->name, x->name_len, y->name, y->name_len);
    if (c != 0)
        return c;
    return x->index < y->index ? -1 : (x->index > y->index ? 1 : 0);
}

/* Sorts n elements of `size` bytes: insertion sort for the few a request
 * usually has (no callback through qsort's indirection per comparison), qsort
 * beyond.  tmp holds one element. */
static void sort_small(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *),
                       void *tmp)
{
    char *a = base;
    size_t i, j;

    if (n > 16) {
        qsort(base, n, size, cmp);
        return;
    }
    for (i = 1; i < n; i++) {
        if (cmp(a + (i - 1) * size, a + i * size) <= 0)
            continue;
        memcpy(tmp, a + i * size, size);
        for (j = i; j > 0 && cmp(a + (j - 1) * size, tmp) > 0; j--)
            memcpy(a + j * size, a + (j - 1) * size, size);
        memcpy(a + j * size, tmp, size);
    }
}

static int index_headers(const dcs_sign_request *req, header_index *hx)
{
    size_t i, j, total = 1, off = 0;
    sorted_header tmp;

    hx->names = NULL;
    hx->by_name = NULL;
    hx->count = 0;
    hx->date.ptr = hx->content_hash.ptr = NULL;
    hx->date.len = hx->content_hash.len = 0;
    hx->have_host = 0;
    for (i = 0; i < req->header_count; i++) {
        if (req->headers[i].key.len > (size_t)-1 - total)
            return 0;
        total += req->headers[i].key.len;
    }
    hx->names = total <= SMALL_NAMES ? hx->names_small : malloc(total);
    hx->by_name = req->header_count <= SMALL_HEADERS
                      ? hx->by_name_small
                      : malloc(req->header_count * sizeof *hx->by_name);
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
    sort_small(hx->by_name, hx->count, sizeof *hx->by_name, sorted_header_cmp, &tmp);
    return 1;
}

static void header_index_free(header_index *hx)
{
    if (hx->names != hx->names_small)
        free(hx->names);
    if (hx->by_name != hx->by_name_small)
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

/* ---- step 2: canonical request, built in the one buffer ---- */

static void canonical_uri(dcs_buf *cr, dcs_str path)
{
    size_t i = 0;
    char *w, *start;

    /* every decoded byte encodes to at most 3, plus a leading and a final '/' */
    if (path.len > ((size_t)-1) / 3 - 2) {
        cr->failed = 1;
        return;
    }
    if ((w = room(cr, 3 * path.len + 2)) == NULL)
        return;
    start = w;
    while (i < path.len) {
        size_t run = plain_run(path.ptr, path.len, i, CLASS_PATH);
        unsigned char c = run ? (unsigned char)path.ptr[i] : next_decoded(path.ptr, path.len, &i);
        if (w == start && c != '/')
            *w++ = '/';
        if (run) {
            memcpy(w, path.ptr + i, run);
            w += run;
            i += run;
        } else {
            w = encode_byte(w, c, 1);
        }
    }
    if (w == start || w[-1] != '/')
        *w++ = '/';
    cr->len = (size_t)(w - cr->data);
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
    const dcs_pair *small[SMALL_QUERY], **sorted = small, *tmp;

    if (req->query_count == 0)
        return 1;
    if (req->query_count > SMALL_QUERY &&
        (sorted = malloc(req->query_count * sizeof *sorted)) == NULL)
        return 0;
    for (i = 0; i < req->query_count; i++)
        sorted[i] = &req->query[i];
    sort_small((void *)sorted, req->query_count, sizeof *sorted, pair_cmp, &tmp);
    for (i = 0; i < req->query_count; i++) {
        if (i > 0)
            dcs_buf_addc(cr, '&');
        dcs_percent_encode(cr, sorted[i]->key.ptr, sorted[i]->key.len, 0);
        dcs_buf_addc(cr, '=');
        dcs_percent_encode(cr, sorted[i]->value.ptr, sorted[i]->value.len, 0);
    }
    if (sorted != small)
        free((void *)sorted);
    return 1;
}

/* Names containing '_' are never signed (as in the official cores). */
static int is_signed(const sorted_header *h)
{
    return memchr(h->name, '_', h->name_len) == NULL;
}

/* "name:value\n" for each signed header, then the empty line, then
 * SignedHeaders; its offset in cr goes to *list_start. */
static void canonical_headers(dcs_buf *cr, const dcs_sign_request *req, const header_index *hx,
                              size_t *list_start)
{
    size_t i;
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
    *list_start = cr->len;
    for (i = 0; i < hx->count; i++) {
        const sorted_header *h = &hx->by_name[i];
        if (!is_signed(h))
            continue;
        if (!first)
            dcs_buf_addc(cr, ';');
        dcs_buf_add(cr, h->name, h->name_len);
        first = 0;
    }
}

/* Offsets into the buffer while it may still grow. */
typedef struct layout {
    size_t query_start, query_end, list_start, list_end, cr_end;
} layout;

/* Method, URI, query, headers, signed headers, payload hash, into cr. */
static int canonical_request(const dcs_sign_request *req, const header_index *hx, dcs_buf *cr,
                             layout *at)
{
    char hash[65];

    dcs_buf_add(cr, req->method.ptr, req->method.len);
    dcs_buf_addc(cr, '\n');
    canonical_uri(cr, req->path);
    dcs_buf_addc(cr, '\n');
    at->query_start = cr->len;
    if (!canonical_query(cr, req))
        return DCS_SIGN_ENOMEM;
    at->query_end = cr->len;
    dcs_buf_addc(cr, '\n');
    canonical_headers(cr, req, hx, &at->list_start);
    at->list_end = cr->len;
    dcs_buf_addc(cr, '\n');
    if (hx->content_hash.ptr != NULL) {
        dcs_buf_add(cr, hx->content_hash.ptr, hx->content_hash.len);
    } else if (req->body_hash != NULL) {
        dcs_buf_add(cr, req->body_hash, 64);
    } else if (req->body.len == 0) {
        dcs_buf_add(cr, EMPTY_SHA256, 64);
    } else {
        if (!dcs_sha256_hex(req->body.ptr, req->body.len, hash))
            return DCS_SIGN_ECRYPTO;
        dcs_buf_add(cr, hash, 64);
    }
    at->cr_end = cr->len;
    return dcs_buf_ok(cr) ? DCS_SIGN_OK : DCS_SIGN_ENOMEM;
}

/* ---- step 3: signature (dcs_sign_key.c), Authorization ---- */

/* The signature, then "SDK-HMAC-SHA256 Access=..., SignedHeaders=...,
 * Signature=..." appended to buf after the canonical request. */
static int authorize(dcs_sign_key *key, const dcs_sign_request *req, dcs_str date, dcs_buf *buf,
                     const layout *at)
{
    char hash[65], sig[65];

    if (!dcs_sha256_hex(buf->data, at->cr_end, hash) || !dcs_sign_key_signature(key, date, hash, sig))
        return DCS_SIGN_ECRYPTO;
    if (at->list_end - at->list_start > ((size_t)-1) / 2 ||
        !dcs_buf_reserve(buf, 23 + req->ak.len + 16 + (at->list_end - at->list_start) + 12 + 64))
        return DCS_SIGN_ENOMEM;
    dcs_buf_add(buf, "SDK-HMAC-SHA256 Access=", 23);
    dcs_buf_add(buf, req->ak.ptr, req->ak.len);
    dcs_buf_add(buf, ", SignedHeaders=", 16);
    /* reserved above: the buffer does not move while it copies from itself */
    dcs_buf_add(buf, buf->data + at->list_start, at->list_end - at->list_start);
    dcs_buf_add(buf, ", Signature=", 12);
    dcs_buf_add(buf, sig, 64);
    return dcs_buf_ok(buf) ? DCS_SIGN_OK : DCS_SIGN_ENOMEM;
}

int dcs_sign_with_key(dcs_sign_key *key, const dcs_sign_request *req, dcs_buf *buf,
                      dcs_sign_out *out, size_t *bad_header)
{
    header_index hx;
    layout at = {0, 0, 0, 0, 0};
    int rc = check_request(req);

    if (rc != DCS_SIGN_OK)
        return rc;
    dcs_buf_reset(buf);
    if (!index_headers(req, &hx))
        rc = DCS_SIGN_ENOMEM;
    else if ((rc = check_headers(req, &hx, bad_header)) == DCS_SIGN_OK &&
             (rc = canonical_request(req, &hx, buf, &at)) == DCS_SIGN_OK)
        rc = authorize(key, req, hx.date, buf, &at);
    header_index_free(&hx);
    if (rc != DCS_SIGN_OK)
        return rc;
    out->canonical_request.ptr = buf->data;
    out->canonical_request.len = at.cr_end;
    out->canonical_query.ptr = buf->data + at.query_start;
    out->canonical_query.len = at.query_end - at.query_start;
    out->signed_headers.ptr = buf->data + at.list_start;
    out->signed_headers.len = at.list_end - at.list_start;
    out->authorization.ptr = buf->data + at.cr_end;
    out->authorization.len = buf->len - at.cr_end;
    return DCS_SIGN_OK;
}

/* The one-shot form: a key for this call only. */
int dcs_sign(const dcs_sign_request *req, dcs_sign_result *r, size_t *bad_header)
{
    dcs_sign_key *key;
    dcs_buf buf = DCS_BUF_INIT;
    dcs_sign_out out;
    int rc = check_request(req);

    if (rc != DCS_SIGN_OK)
        return rc;
    if ((key = dcs_sign_key_new(req->sk.ptr, req->sk.len)) == NULL)
        return DCS_SIGN_ENOMEM;
    rc = dcs_sign_with_key(key, req, &buf, &out, bad_header);
    dcs_sign_key_free(key);
    if (rc == DCS_SIGN_OK) {
        dcs_buf_add(&r->canonical_request, out.canonical_request.ptr, out.canonical_request.len);
        dcs_buf_add(&r->canonical_query, out.canonical_query.ptr, out.canonical_query.len);
        dcs_buf_add(&r->signed_headers, out.signed_headers.ptr, out.signed_headers.len);
        dcs_buf_add(&r->authorization, out.authorization.ptr, out.authorization.len);
        if (!dcs_buf_ok(&r->canonical_request) || !dcs_buf_ok(&r->canonical_query) ||
            !dcs_buf_ok(&r->signed_headers) || !dcs_buf_ok(&r->authorization))
            rc = DCS_SIGN_ENOMEM;
    }
    dcs_buf_free(&buf);
    return rc;
}
