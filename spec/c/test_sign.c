/* Unit tests for the pure-C signer (csrc/dcs_sign.c, csrc/dcs_buf.c).
 * Prints TAP; exits 1 when any test fails.
 *
 *   cc -Wall -Wextra -Icsrc -o build/test_sign spec/c/test_sign.c \
 *      csrc/dcs_sign.c csrc/dcs_sign_key.c csrc/dcs_sha256.c csrc/dcs_buf.c -lmbedcrypto -pthread
 *   build/test_sign
 *
 * The vectors are copied from spec/fixtures/sign-vectors.json (Host is the
 * authority part of the URL, as the official cores take it). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dcs_sign.h"

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
/* A dcs_str / dcs_pair from string literals (embedded NULs allowed). */
#define LIT(s) {(s), sizeof(s) - 1}
#define PAIR(k, v) {LIT(k), LIT(v)}

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define NOT_SET ((size_t)-1)
#define LAST_CODE DCS_SIGN_ETOOMANYQUERY

static int g_tests, g_failed;

/* ---- TAP helpers ---- */

static int ok(int cond, const char *fmt, ...) PRINTF_LIKE(2, 3);
static int ok(int cond, const char *fmt, ...)
{
    va_list ap;
    g_tests++;
    if (!cond)
        g_failed++;
    printf("%sok %d - ", cond ? "" : "not ", g_tests);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    return cond;
}

static void diag(const char *fmt, ...) PRINTF_LIKE(1, 2);
static void diag(const char *fmt, ...)
{
    va_list ap;
    fputs("# ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* One diagnostic line with the bytes C-escaped; long values are cut. */
static void diag_bytes(const char *label, const char *p, size_t n)
{
    size_t i, lim = n > 600 ? 600 : n;
    printf("#   %s (%lu bytes): \"", label, (unsigned long)n);
    for (i = 0; i < lim; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\x%02X", c);
        else
            putchar(c);
    }
    printf("\"%s\n", lim < n ? "..." : "");
}

static int check_bytes(const char *name, const char *got, size_t glen, const char *exp, size_t elen)
{
    int same = glen == elen && (elen == 0 || memcmp(got, exp, elen) == 0);
    if (!ok(same, "%s", name)) {
        diag_bytes("got     ", got ? got : "", got ? glen : 0);
        diag_bytes("expected", exp, elen);
    }
    return same;
}

static int check_str(const char *name, const char *got, size_t glen, const char *exp)
{
    return check_bytes(name, got, glen, exp, strlen(exp));
}

static int check_buf(const char *name, const dcs_buf *b, const char *exp)
{
    return check_bytes(name, b->data, b->len, exp, strlen(exp));
}

static int check_int(const char *name, long got, long exp)
{
    if (!ok(got == exp, "%s", name))
        diag("  got %ld, expected %ld", got, exp);
    return got == exp;
}

static int check_rc(const char *name, int got, int exp)
{
    if (!ok(got == exp, "%s", name))
        diag("  got %d (%s), expected %d (%s)", got, dcs_sign_strerror(got), exp,
             dcs_sign_strerror(exp));
    return got == exp;
}

static dcs_str mkstr(const char *s)
{
    dcs_str r;
    r.ptr = s;
    r.len = s ? strlen(s) : 0;
    return r;
}

/* Line idx (0-based) of a '\n'-separated buffer; {NULL, 0} past the end. */
static dcs_str line_of(const dcs_buf *b, int idx)
{
    dcs_str r = {NULL, 0};
    size_t start = 0, i;
    int cur = 0;
    for (i = 0; i <= b->len; i++) {
        if (i == b->len || b->data[i] == '\n') {
            if (cur == idx) {
                r.ptr = b->data + start;
                r.len = i - start;
                return r;
            }
            cur++;
            start = i + 1;
        }
    }
    return r;
}

static size_t count_char(const char *p, size_t n, char c)
{
    size_t i, k = 0;
    for (i = 0; i < n; i++)
        if (p[i] == c)
            k++;
    return k;
}

static int contains(const char *hay, size_t n, const char *needle)
{
    size_t i, m = strlen(needle);
    for (i = 0; m <= n && i <= n - m; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return 1;
    return 0;
}

/* A request with the usual Host and X-Sdk-Date, plus extra headers. */
static int sign_with(const char *method, const char *path, const dcs_pair *q, size_t nq,
                     const dcs_pair *extra, size_t nextra, dcs_str body, dcs_sign_result *r)
{
    dcs_pair h[16];
    dcs_sign_request req;
    size_t i, nh = 0;
    dcs_str host = LIT("h.example.com"), date = LIT("20210416T120000Z");

    h[nh].key = mkstr("Host");
    h[nh++].value = host;
    h[nh].key = mkstr("X-Sdk-Date");
    h[nh++].value = date;
    for (i = 0; i < nextra && nh < COUNT(h); i++)
        h[nh++] = extra[i];
    memset(&req, 0, sizeof req);
    req.method = mkstr(method);
    req.path = mkstr(path);
    req.query = q;
    req.query_count = nq;
    req.headers = h;
    req.header_count = nh;
    req.body = body;
    req.ak = mkstr("AK");
    req.sk = mkstr("SK");
    dcs_sign_result_init(r);
    return dcs_sign(&req, r, NULL);
}

/* ---- dcs_buf ---- */

static void test_buf(void)
{
    dcs_buf b = DCS_BUF_INIT;
    size_t cap;

    ok(strcmp(dcs_buf_cstr(&b), "") == 0 && dcs_buf_ok(&b), "buf: cstr of an empty buffer is \"\"");
    dcs_buf_adds(&b, "ab");
    dcs_buf_addc(&b, 'c');
    dcs_buf_add(&b, "d\0e", 3);
    dcs_buf_add(&b, NULL, 0);
    check_bytes("buf: add/addc/adds append, NUL bytes kept", b.data, b.len, "abcd\0e", 6);
    ok(strcmp(dcs_buf_cstr(&b), "abcd") == 0 && b.data[b.len] == '\0',
       "buf: cstr NUL-terminates without changing len");
    cap = b.cap;
    dcs_buf_reset(&b);
    ok(b.len == 0 && b.cap == cap && b.data != NULL, "buf: reset keeps memory, drops content");
    {
        int i;
        for (i = 0; i < 10000; i++)
            dcs_buf_addc(&b, (char)('a' + i % 26));
        ok(b.len == 10000 && dcs_buf_ok(&b) && b.cap > b.len && b.data[9999] == 'a' + 9999 % 26,
           "buf: grows to 10000 bytes");
    }
    ok(dcs_buf_reserve(&b, (size_t)-1) == 0 && !dcs_buf_ok(&b),
       "buf: reserving SIZE_MAX fails and the failure is sticky");
    dcs_buf_addc(&b, 'x');
    ok(b.len == 10000, "buf: appends after a failure are no-ops");
    dcs_buf_free(&b);
    ok(b.data == NULL && b.len == 0 && b.cap == 0 && dcs_buf_ok(&b), "buf: free re-initialises");
}

/* ---- dcs_percent_encode ---- */

static void check_encode(const char *name, const char *in, size_t n, int keep_slash,
                         const char *exp)
{
    dcs_buf b = DCS_BUF_INIT;
    dcs_percent_encode(&b, in, n, keep_slash);
    check_buf(name, &b, exp);
    dcs_buf_free(&b);
}

static void test_percent_encode(void)
{
    static const char unreserved[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";
    dcs_buf b = DCS_BUF_INIT, exp = DCS_BUF_INIT;
    int c;

    check_encode("encode: unreserved set A-Za-z0-9-_.~ kept", unreserved, sizeof unreserved - 1,
                 0, unreserved);
    check_encode("encode: unreserved set kept with keep_slash", unreserved,
                 sizeof unreserved - 1, 1, unreserved);

    /* Every byte 0..255 against an independent %02X rendering. */
    for (c = 0; c < 256; c++) {
        char in = (char)c, tmp[4];
        dcs_percent_encode(&b, &in, 1, 0);
        if (strchr(unreserved, c) != NULL && c != 0) {
            dcs_buf_addc(&exp, (char)c);
        } else {
            snprintf(tmp, sizeof tmp, "%%%02X", c);
            dcs_buf_adds(&exp, tmp);
        }
    }
    check_bytes("encode: all 256 byte values, reserved ones as upper-case %XX", b.data, b.len,
                exp.data, exp.len);
    dcs_buf_free(&b);
    dcs_buf_free(&exp);

    check_encode("encode: space is %20, not +", "a b", 3, 0, "a%20b");
    check_encode("encode: '+' '*' '!' '\\'' '(' ')' escaped", "+*!'()", 6, 0, "%2B%2A%21%27%28%29");
    check_encode("encode: '%' escaped", "100%", 4, 0, "100%25");
    check_encode("encode: ':' '@' '=' '&' '?' '#' escaped", ":@=&?#", 6, 0, "%3A%40%3D%26%3F%23");
    check_encode("encode: '/' escaped without keep_slash", "/a/b/", 5, 0, "%2Fa%2Fb%2F");
    check_encode("encode: '/' kept with keep_slash", "/a/b/", 5, 1, "/a/b/");
    check_encode("encode: keep_slash keeps only '/'", "/a b:c/", 7, 1, "/a%20b%3Ac/");
    check_encode("encode: UTF-8 two-byte (e-acute) byte-wise", "\303\251", 2, 0, "%C3%A9");
    check_encode("encode: UTF-8 three-byte CJK", "\346\227\245\346\234\254\350\252\236", 9, 0,
                 "%E6%97%A5%E6%9C%AC%E8%AA%9E");
    check_encode("encode: UTF-8 four-byte emoji", "\360\237\230\200", 4, 0, "%F0%9F%98%80");
    check_encode("encode: embedded NUL byte", "a\0b", 3, 0, "a%00b");
    check_encode("encode: high bytes 0x80 0xFF", "\200\377", 2, 0, "%80%FF");
    check_encode("encode: empty input gives empty output", "", 0, 0, "");
    check_encode("encode: length is honoured (stops before the NUL-less tail)", "abc d", 3, 0,
                 "abc");

    dcs_buf_adds(&b, "k=");
    dcs_percent_encode(&b, "a b", 3, 0);
    check_buf("encode: appends to existing buffer content", &b, "k=a%20b");
    dcs_buf_free(&b);
}

/* ---- dcs_percent_decode ---- */

static void check_decode(const char *name, const char *in, const char *exp, size_t elen)
{
    dcs_buf b = DCS_BUF_INIT;
    dcs_percent_decode(&b, in, strlen(in));
    check_bytes(name, b.data, b.len, exp, elen);
    dcs_buf_free(&b);
}

static void test_percent_decode(void)
{
    dcs_buf b = DCS_BUF_INIT;

    check_decode("decode: plain text unchanged", "abc-_.~/", "abc-_.~/", 8);
    check_decode("decode: %41%42 -> AB", "%41%42", "AB", 2);
    check_decode("decode: %20 -> space", "a%20b", "a b", 3);
    check_decode("decode: '+' stays '+' (not a space)", "a+b", "a+b", 3);
    check_decode("decode: %2F upper-case hex", "a%2Fb", "a/b", 3);
    check_decode("decode: %2f lower-case hex", "a%2fb", "a/b", 3);
    check_decode("decode: mixed-case hex %c3%A9", "%c3%A9", "\303\251", 2);
    check_decode("decode: UTF-8 escapes", "%E6%97%A5", "\346\227\245", 3);
    check_decode("decode: %00 gives a NUL byte", "a%00b", "a\0b", 3);
    check_decode("decode: %FF gives 0xFF", "%FF", "\377", 1);
    check_decode("decode: one level only (%252F -> %2F)", "%252F", "%2F", 3);
    check_decode("decode: lone '%' kept", "%", "%", 1);
    check_decode("decode: trailing '%' kept", "abc%", "abc%", 4);
    check_decode("decode: truncated escape '%4' at end kept", "ab%4", "ab%4", 4);
    check_decode("decode: truncated escape '%' + one hex digit, mid-string", "%4", "%4", 2);
    check_decode("decode: invalid escape %zz kept", "%zz", "%zz", 3);
    check_decode("decode: invalid second digit %4g kept", "%4g", "%4g", 3);
    check_decode("decode: invalid first digit %g4 kept", "%g4", "%g4", 3);
    check_decode("decode: '%%41' -> '%A' like Python unquote", "%%41", "%A", 2);
    check_decode("decode: invalid then valid '%G1%41' -> '%G1A'", "%G1%41", "%G1A", 4);
    check_decode("decode: '% 41' (space) kept", "% 41", "% 41", 4);
    check_decode("decode: empty input", "", "", 0);

    /* Length is honoured: "%41" cut to 2 bytes is a truncated escape. */
    dcs_percent_decode(&b, "%41", 2);
    check_bytes("decode: honours n (\"%4\" out of \"%41\")", b.data, b.len, "%4", 2);
    dcs_buf_reset(&b);
    dcs_buf_adds(&b, "x");
    dcs_percent_decode(&b, "%41", 3);
    check_bytes("decode: appends to existing buffer content", b.data, b.len, "xA", 2);
    dcs_buf_free(&b);
}

/* ---- dcs_url_split ---- */

static void check_split_ok(const char *url, const char *scheme, const char *auth, const char *path)
{
    dcs_str s = {NULL, 0}, a = {NULL, 0}, p = {NULL, 0};
    dcs_str u = mkstr(url);
    int rc = dcs_url_split(u, &s, &a, &p);
    int good = rc == 1 && s.len == strlen(scheme) && memcmp(s.ptr, scheme, s.len) == 0 &&
               a.len == strlen(auth) && memcmp(a.ptr, auth, a.len) == 0 &&
               p.len == strlen(path) && (p.len == 0 || memcmp(p.ptr, path, p.len) == 0) &&
               s.ptr == url && p.ptr + p.len == url + u.len;
    if (!ok(good, "url_split: %s", url)) {
        diag("  rc=%d", rc);
        if (rc == 1) {
            diag_bytes("scheme   ", s.ptr, s.len);
            diag_bytes("authority", a.ptr, a.len);
            diag_bytes("path     ", p.ptr, p.len);
        }
        diag("  expected scheme=\"%s\" authority=\"%s\" path=\"%s\"", scheme, auth, path);
    }
}

static void check_split_bad(const char *name, const char *url, size_t n)
{
    dcs_str s, a, p, u;
    u.ptr = url;
    u.len = n;
    check_int(name, dcs_url_split(u, &s, &a, &p), 0);
}

static void test_url_split(void)
{
    check_split_ok("https://dcs.cn-north-4.myhuaweicloud.com/v2/p/instances", "https",
                   "dcs.cn-north-4.myhuaweicloud.com", "/v2/p/instances");
    check_split_ok("https://127.0.0.1:8443/v2/p/instances/", "https", "127.0.0.1:8443",
                   "/v2/p/instances/");
    check_split_ok("http://localhost:8080", "http", "localhost:8080", "");
    check_split_ok("http://host", "http", "host", "");
    check_split_ok("http://host/", "http", "host", "/");
    check_split_ok("http://[::1]:9000/x", "http", "[::1]:9000", "/x");
    check_split_ok("https://h/log:1@a!(b)*~\303\251/links", "https", "h",
                   "/log:1@a!(b)*~\303\251/links");
    check_split_ok("https://h/a://b", "https", "h", "/a://b");

    check_split_bad("url_split rejects: no scheme (host/path)", "host/path", 9);
    check_split_bad("url_split rejects: no scheme (bare host)", "example.com", 11);
    check_split_bad("url_split rejects: '/' before '://'", "a/b://c/d", 9);
    check_split_bad("url_split rejects: empty scheme", "://host/x", 9);
    check_split_bad("url_split rejects: scheme only", "https://", 8);
    check_split_bad("url_split rejects: empty authority", "https:///path", 13);
    check_split_bad("url_split rejects: '?'", "https://h/p?x=1", 15);
    check_split_bad("url_split rejects: '?' in the authority", "https://h?x", 11);
    check_split_bad("url_split rejects: '#'", "https://h/p#frag", 16);
    check_split_bad("url_split rejects: user information", "http://user:pw@host/a", 21);
    check_split_bad("url_split rejects: space in the path", "https://h/a b", 13);
    check_split_bad("url_split rejects: space in the authority", "https://h h/", 12);
    check_split_bad("url_split rejects: tab", "https://h/\t", 11);
    check_split_bad("url_split rejects: newline", "https://h/a\nb", 13);
    check_split_bad("url_split rejects: DEL", "https://h/\177", 11);
    check_split_bad("url_split rejects: embedded NUL", "https://h/a\0b", 13);
    check_split_bad("url_split rejects: empty string", "", 0);
}

/* ---- dcs_sdk_date ---- */

static void check_date(time_t t, const char *exp)
{
    char out[17];
    memset(out, 'x', sizeof out);
    dcs_sdk_date(t, out);
    if (!ok(out[16] == '\0' && strcmp(out, exp) == 0, "sdk_date: %lld -> %s", (long long)t, exp)) {
        diag_bytes("got", out, sizeof out);
    }
}

static void test_sdk_date(void)
{
    check_date(0, "19700101T000000Z");
    check_date(86399, "19700101T235959Z");
    check_date(951782400, "20000229T000000Z");
    check_date(1234567890, "20090213T233130Z");
    check_date(1591583940, "20200608T023900Z");
    check_date(1618574400, "20210416T120000Z");
    check_date(2147483647, "20380119T031407Z");
    if (sizeof(time_t) >= 8) {
        char out[17];
        check_date((time_t)4102444800LL, "21000101T000000Z");
        check_date((time_t)253402300799LL, "99991231T235959Z");
        check_date((time_t)-62135596800LL, "00010101T000000Z");
        memset(out, 'x', sizeof out);
        ok(dcs_sdk_date((time_t)253402300800LL, out) == 0 && out[0] == '\0',
           "sdk_date: year 10000 is refused with an empty string");
        ok(dcs_sdk_date((time_t)(1LL << 62), out) == 0 && out[0] == '\0',
           "sdk_date: 2^62 (gmtime fails) is refused");
    }
}

/* ---- sha256 / hmac ---- */

static void check_sha(const char *name, const char *msg, size_t n, const char *exp)
{
    char out[65];
    memset(out, 'x', sizeof out);
    if (!check_int(name, dcs_sha256_hex(msg, n, out), 1))
        return;
    check_str(name, out, strlen(out), exp);
}

static void check_hmac(const char *name, const char *key, size_t klen, const char *msg,
                       size_t mlen, const char *exp)
{
    char out[65];
    memset(out, 'x', sizeof out);
    if (!check_int(name, dcs_hmac_sha256_hex(key, klen, msg, mlen, out), 1))
        return;
    check_str(name, out, strlen(out), exp);
}

static void test_hashes(void)
{
    static const char msg2[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    static const char tc6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
    char key[131], *big;

    check_sha("sha256(\"\") known answer", "", 0, EMPTY_SHA256);
    check_sha("sha256(\"abc\") known answer", "abc", 3,
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check_sha("sha256(448-bit NIST message) known answer", msg2, sizeof msg2 - 1,
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    check_sha("sha256(\"{}\") known answer (Node's bodiless hash)", "{}", 2,
              "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    check_sha("sha256 with an embedded NUL", "a\0b", 3,
              "59b271ae1bbcb1d31d41929817f4b16fb439eb4f31520b5ad1d5ce98920a7138");
    big = malloc(1000000);
    if (big != NULL) {
        memset(big, 'a', 1000000);
        check_sha("sha256(one million 'a') known answer", big, 1000000,
                  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
        free(big);
    }

    memset(key, 0x0b, 20);
    check_hmac("hmac-sha256 RFC 4231 test case 1", key, 20, "Hi There", 8,
               "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    check_hmac("hmac-sha256 RFC 4231 test case 2 (key \"Jefe\")", "Jefe", 4,
               "what do ya want for nothing?", 28,
               "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(key, 0xaa, 131);
    check_hmac("hmac-sha256 RFC 4231 test case 6 (key longer than a block)", key, 131, tc6,
               sizeof tc6 - 1, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    check_hmac("hmac-sha256 empty key, empty message", "", 0, "", 0,
               "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

/* ---- dcs_sign: vectors from spec/fixtures/sign-vectors.json ---- */

typedef struct kv {
    const char *k, *v;
} kv;

typedef struct vector {
    const char *name, *method, *url;
    kv query[10];               /* terminated by k == NULL */
    kv headers[6];              /* terminated by k == NULL; Host is added from the URL */
    const char *body, *ak, *sk, *expect;
} vector;

#define PID "0123456789abcdef0123456789abcdef"
#define BASE "https://dcs.cn-north-4.myhuaweicloud.com/v2/" PID "/instances/5560df16-cebf-4473-95c4-d1b573c16e79"
#define AK "EXAMPLEAK0000000000A"
#define SK "exampleSK00000000000000000000000000000000"
#define NODE_HEADERS {"X-Project-Id", PID}, {"X-Sdk-Date", "20210416T120000Z"}, {"content-type", "application/json"}
#define PY_HEADERS {"Content-Type", "application/json"}, {"User-Agent", "huaweicloud-usdk-python/3.0; EXAMPLE-UA"}, {"X-Project-Id", PID}, {"X-Sdk-Date", "20210416T120000Z"}
#define NODE_AUTH "SDK-HMAC-SHA256 Access=" AK ", SignedHeaders=content-type;host;x-project-id;x-sdk-date, Signature="
#define PY_AUTH "SDK-HMAC-SHA256 Access=" AK ", SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date, Signature="

static const vector VECTORS[] = {
    {"seed_create_redislog_download_link_node_default", "POST",
     BASE "/redislog/3ea6ce21-048e-447a-83c3-3fb004b88439/links",
     {{NULL, NULL}},
     {NODE_HEADERS},
     "{}", AK, SK,
     NODE_AUTH "3b3a7b9a285e1be3da3aaddb93be6eff2cffa66d617ff56c09137e39ea550d18"},
    {"seed_create_redislog_download_link_empty_body", "POST",
     BASE "/redislog/3ea6ce21-048e-447a-83c3-3fb004b88439/links",
     {{NULL, NULL}},
     {NODE_HEADERS},
     "", AK, SK,
     NODE_AUTH "65b48d6386b2f7c322357efcfa67c9c4e71e35814831b47f14560b333e71d6ae"},
    {"list_redislog", "GET", BASE "/redislog",
     {{"log_type", "run"}, {"offset", "0"}, {"limit", "10"}},
     {NODE_HEADERS},
     "{}", AK, SK,
     NODE_AUTH "7014b7619f3baf575ea6ef3daac513e8e9ef712e8cb08864bd5a0dbf1d5f610e"},
    {"create_redislog", "POST", BASE "/redislog",
     {{"log_type", "run"}, {"query_time", "7"}, {"replication_id", "b1c2d3e4-0000-4000-8000-000000000001"}},
     {NODE_HEADERS},
     "{}", AK, SK,
     NODE_AUTH "31ac6c14d06482fdac38882467c3d1e9d5eab06e9fe2a95f96204adc014f8dd1"},
    {"get_query_encoding", "GET", BASE "/redislog",
     {{"log_type", "run"}, {"name", "a b~c*d"},
      {"unicode", "\346\227\245\346\234\254\350\252\236 \303\251\360\237\230\200"},
      {"tags", "z"}, {"tags", "a b"}, {"tags", "m*"}, {"tags", "B"},
      {"empty", ""}, {"plus", "1+1=2&x"}},
     {NODE_HEADERS},
     "", AK, SK,
     NODE_AUTH "4c1ca24fe33cbc5dfc7968d9d544c9d88c257709b66b268c00853000afc28a2f"},
    {"path_needs_encoding", "POST", BASE "/redislog/log:1@a!(b)*~\303\251/links",
     {{NULL, NULL}},
     {NODE_HEADERS},
     "", AK, SK,
     NODE_AUTH "df5bf6122539d3e75baac3e8042171dcccf8881f67e76dec7bd45db25c22c5d3"},
    {"security_token_and_project_id", "GET", BASE "/redislog",
     {{"log_type", "run"}},
     {{"X-Security-Token", "gQpjbi1ub3J0aC00+EXAMPLE/TOKEN=="}, NODE_HEADERS},
     "", AK, SK,
     "SDK-HMAC-SHA256 Access=" AK ", SignedHeaders=content-type;host;x-project-id;x-sdk-date;x-security-token, Signature=cabf1a4e2ae2067ccbbab18e94249b99f0df7219a578c797275a13888911a057"},
    {"json_body", "POST", BASE "/bigkey-task",
     {{NULL, NULL}},
     {NODE_HEADERS},
     "{\"scan_type\":\"manual\",\"remark\":\"caf\303\251 <&>\"}", AK, SK,
     NODE_AUTH "8b84272fb52eabf1a3a465ae3b88825d0c5d5337ba95ffe925845b8ac7880a83"},
    {"unsigned_payload_octet_stream", "PUT", BASE "/upload",
     {{NULL, NULL}},
     {{"X-Project-Id", PID}, {"X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD"},
      {"X-Sdk-Date", "20210416T120000Z"}, {"content-type", "application/octet-stream"}},
     "raw-bytes", AK, SK,
     "SDK-HMAC-SHA256 Access=" AK ", SignedHeaders=content-type;host;x-project-id;x-sdk-content-sha256;x-sdk-date, Signature=e2619bc41a44a529769f74bf198bbeb2479cb73d2276f5c41cbe8cb09ad31804"},
    {"endpoint_with_port_and_trailing_slash", "GET",
     "https://127.0.0.1:8443/v2/" PID "/instances/",
     {{"limit", "1"}},
     {NODE_HEADERS},
     "", AK, SK,
     NODE_AUTH "d3bfa18b5ea6a77bc9954f3939c35877dde868186f3c51e75c25b7a58ea36b64"},
    {"python_CreateRedislogDownloadLink", "POST",
     BASE "/redislog/3ea6ce21-048e-447a-83c3-3fb004b88439/links",
     {{NULL, NULL}},
     {PY_HEADERS},
     "", AK, SK,
     PY_AUTH "0947323c745b723a5de21c7666e743033f7b6a4da8254001ca43fbcad05612dc"},
    {"python_ListRedislog", "GET", BASE "/redislog",
     {{"offset", "0"}, {"limit", "10"}, {"log_type", "run"}},
     {PY_HEADERS},
     "", AK, SK,
     PY_AUTH "84ee781412595b0206f20e7ad68227bfd088fc1aac570a40870a410413afde74"},
    {"python_CreateRedislog", "POST", BASE "/redislog",
     {{"query_time", "7"}, {"log_type", "run"}, {"replication_id", "b1c2d3e4-0000-4000-8000-000000000001"}},
     {PY_HEADERS},
     "", AK, SK,
     PY_AUTH "58ff57cac5052b7d2e52d77214114f20ae8eca8490591695ccc8012fe9b62e9c"},
    {"huaweicloud-sdk-python-v3_test_signer1", "GET",
     "https://service.endpoint.myhuaweicloud.com/resources",
     {{"size", "1"}},
     {{"X-Sdk-Date", "20200608T023900Z"}, {"TEST_UNDERSCORE", "TEST_VALUE"}},
     "", "AccessKey", "SecretKey",
     "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, Signature=cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842"},
    {"huaweicloud-sdk-python-v3_test_signer2", "POST",
     "https://service.endpoint.myhuaweicloud.com/resources",
     {{"size", "1"}},
     {{"X-Sdk-Date", "20200608T023900Z"}, {"TEST_UNDERSCORE", "TEST_VALUE"}},
     "{\"name\":\"test\",\"id\":1}", "AccessKey", "SecretKey",
     "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, Signature=436b1ac0a1ae03705934bb70ef2f2e09f7bfed2117d731a38235053199323a1f"},
};

/* Storage for one vector turned into a dcs_sign_request. */
typedef struct built {
    dcs_pair query[COUNT(((vector *)0)->query)];
    dcs_pair headers[COUNT(((vector *)0)->headers) + 1];
    dcs_sign_request req;
} built;

/* reverse != 0 builds the query and header lists in reverse order. */
static int build_vector(const vector *v, built *b, int reverse)
{
    dcs_str scheme, authority, path;
    size_t i, nq = 0, nh = 0;

    if (!dcs_url_split(mkstr(v->url), &scheme, &authority, &path))
        return 0;
    memset(b, 0, sizeof *b);
    for (i = 0; i < COUNT(v->query) && v->query[i].k != NULL; i++) {
        b->query[nq].key = mkstr(v->query[i].k);
        b->query[nq++].value = mkstr(v->query[i].v);
    }
    b->headers[nh].key = mkstr("Host");
    b->headers[nh++].value = authority;
    for (i = 0; i < COUNT(v->headers) && v->headers[i].k != NULL; i++) {
        b->headers[nh].key = mkstr(v->headers[i].k);
        b->headers[nh++].value = mkstr(v->headers[i].v);
    }
    if (reverse) {
        for (i = 0; i < nq / 2; i++) {
            dcs_pair t = b->query[i];
            b->query[i] = b->query[nq - 1 - i];
            b->query[nq - 1 - i] = t;
        }
        for (i = 0; i < nh / 2; i++) {
            dcs_pair t = b->headers[i];
            b->headers[i] = b->headers[nh - 1 - i];
            b->headers[nh - 1 - i] = t;
        }
    }
    b->req.method = mkstr(v->method);
    b->req.path = path;
    b->req.query = b->query;
    b->req.query_count = nq;
    b->req.headers = b->headers;
    b->req.header_count = nh;
    b->req.body = mkstr(v->body);
    b->req.ak = mkstr(v->ak);
    b->req.sk = mkstr(v->sk);
    return 1;
}

static const vector *find_vector(const char *name)
{
    size_t i;
    for (i = 0; i < COUNT(VECTORS); i++)
        if (strcmp(VECTORS[i].name, name) == 0)
            return &VECTORS[i];
    return NULL;
}

/* Structural checks every successful result must pass. */
static void check_shape(const char *name, const dcs_sign_request *req, const dcs_sign_result *r)
{
    dcs_str uri = line_of(&r->canonical_request, 1), q = line_of(&r->canonical_request, 2);
    size_t nsigned = r->signed_headers.len ? count_char(r->signed_headers.data,
                                                        r->signed_headers.len, ';') + 1 : 0;
    int good = uri.len > 0 && uri.ptr[0] == '/' && uri.ptr[uri.len - 1] == '/' &&
               q.len == r->canonical_query.len &&
               (q.len == 0 || memcmp(q.ptr, r->canonical_query.data, q.len) == 0) &&
               count_char(r->canonical_request.data, r->canonical_request.len, '\n') ==
                   5 + nsigned &&
               r->canonical_request.len > req->method.len &&
               memcmp(r->canonical_request.data, req->method.ptr, req->method.len) == 0;
    if (!ok(good, "%s: canonical request shape (URI /.../, line 3 = query, %lu signed headers)",
            name, (unsigned long)nsigned))
        diag_bytes("canonical_request", r->canonical_request.data, r->canonical_request.len);
}

static void test_vectors(void)
{
    size_t i;
    for (i = 0; i < COUNT(VECTORS); i++) {
        const vector *v = &VECTORS[i];
        built b;
        dcs_sign_result r;
        int rc;
        char name[160];

        snprintf(name, sizeof name, "vector %s", v->name);
        if (!ok(build_vector(v, &b, 0), "%s: URL splits", name))
            continue;
        dcs_sign_result_init(&r);
        rc = dcs_sign(&b.req, &r, NULL);
        if (check_rc(name, rc, DCS_SIGN_OK)) {
            char n2[200];
            snprintf(n2, sizeof n2, "%s: Authorization", name);
            if (!check_buf(n2, &r.authorization, v->expect))
                diag_bytes("canonical_request", r.canonical_request.data,
                           r.canonical_request.len);
            check_shape(name, &b.req, &r);
        }
        dcs_sign_result_free(&r);
    }
}

/* The Signature of a result against HMAC-SHA256 computed the plain way
 * (dcs_hmac_sha256_hex) over the string to sign. */
static int signature_is_hmac(const dcs_sign_out *out, const char *sk, size_t sklen, const char *date)
{
    char hash[65], sts[128], expect[65];
    int n;

    if (!dcs_sha256_hex(out->canonical_request.ptr, out->canonical_request.len, hash))
        return 0;
    n = snprintf(sts, sizeof sts, "SDK-HMAC-SHA256\n%s\n%s", date, hash);
    if (!dcs_hmac_sha256_hex(sk, sklen, sts, (size_t)n, expect))
        return 0;
    return out->authorization.len > 64 &&
           memcmp(out->authorization.ptr + out->authorization.len - 64, expect, 64) == 0;
}

/* One key and one buffer for many signatures: every vector twice, in turn,
 * gives its Authorization; a known body hash is used as given; keys of
 * SKs longer than the HMAC block (hashed first, RFC 2104) agree with the
 * plain HMAC. */
static void test_signing_key(void)
{
    static const char LONG_SK[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                                  "0123456789abcdef0123456789";
    dcs_sign_key *key = dcs_sign_key_new(SK, strlen(SK)), *other;
    dcs_buf buf = DCS_BUF_INIT;
    dcs_sign_out out;
    size_t i, round;
    built b;
    char body_hash[65];

    ok(key != NULL, "signing key: made");
    ok(dcs_sign_key_matches(key, SK, strlen(SK)), "signing key: matches its SK");
    ok(!dcs_sign_key_matches(key, SK, strlen(SK) - 1), "signing key: not a prefix of it");
    ok(!dcs_sign_key_matches(key, "exampleSK00000000000000000000000000000001", strlen(SK)),
       "signing key: not another SK of the same length");
    ok(!dcs_sign_key_matches(NULL, SK, strlen(SK)), "signing key: NULL matches nothing");
    for (round = 0; round < 2; round++) {
        for (i = 0; i < COUNT(VECTORS); i++) {
            const vector *v = &VECTORS[i];
            if (strcmp(v->sk, SK) != 0 || !build_vector(v, &b, (int)round))
                continue;
            if (check_rc(v->name, dcs_sign_with_key(key, &b.req, &buf, &out, NULL), DCS_SIGN_OK))
                check_str(v->name, out.authorization.ptr, out.authorization.len, v->expect);
        }
    }
    build_vector(&VECTORS[0], &b, 0);
    dcs_sha256_hex(b.req.body.ptr, b.req.body.len, body_hash);
    b.req.body_hash = body_hash;
    if (check_rc("signing key: known body hash", dcs_sign_with_key(key, &b.req, &buf, &out, NULL), 0))
        check_str("signing key: known body hash", out.authorization.ptr, out.authorization.len,
                  VECTORS[0].expect);
    b.req.body_hash = EMPTY_SHA256;
    dcs_sign_with_key(key, &b.req, &buf, &out, NULL);
    ok(contains(out.canonical_request.ptr, out.canonical_request.len, EMPTY_SHA256),
       "signing key: the given body hash is the one signed");
    b.req.body_hash = NULL;
    other = dcs_sign_key_new(LONG_SK, sizeof LONG_SK - 1);
    ok(other != NULL && dcs_sign_with_key(other, &b.req, &buf, &out, NULL) == DCS_SIGN_OK &&
           signature_is_hmac(&out, LONG_SK, sizeof LONG_SK - 1, "20210416T120000Z"),
       "signing key: an SK longer than 64 bytes gives the plain HMAC");
    dcs_sign_key_free(other);
    dcs_sign_key_free(key);
    dcs_sign_key_free(NULL);
    dcs_buf_free(&buf);
}

/* Extra checks on a few vectors: exact canonical forms. */
static void test_vector_details(void)
{
    built b;
    dcs_sign_result r;
    const vector *v;

    v = find_vector("huaweicloud-sdk-python-v3_test_signer1");
    if (v && build_vector(v, &b, 0)) {
        dcs_sign_result_init(&r);
        check_rc("test_signer1: signs", dcs_sign(&b.req, &r, NULL), DCS_SIGN_OK);
        check_buf("test_signer1: exact canonical request (TEST_UNDERSCORE not signed)",
                  &r.canonical_request,
                  "GET\n/resources/\nsize=1\nhost:service.endpoint.myhuaweicloud.com\n"
                  "x-sdk-date:20200608T023900Z\n\nhost;x-sdk-date\n" EMPTY_SHA256);
        check_buf("test_signer1: signed headers", &r.signed_headers, "host;x-sdk-date");
        ok(!contains(r.canonical_request.data, r.canonical_request.len, "test_underscore") &&
               !contains(r.canonical_request.data, r.canonical_request.len, "TEST_VALUE"),
           "test_signer1: underscore header absent from the canonical request");
        dcs_sign_result_free(&r);
    }

    v = find_vector("get_query_encoding");
    if (v && build_vector(v, &b, 0)) {
        dcs_sign_result_init(&r);
        check_rc("get_query_encoding: signs", dcs_sign(&b.req, &r, NULL), DCS_SIGN_OK);
        check_buf("get_query_encoding: canonical query", &r.canonical_query,
                  "empty=&log_type=run&name=a%20b~c%2Ad&plus=1%2B1%3D2%26x&tags=B&tags=a%20b&"
                  "tags=m%2A&tags=z&unicode=%E6%97%A5%E6%9C%AC%E8%AA%9E%20%C3%A9%F0%9F%98%80");
        dcs_sign_result_free(&r);
    }

    v = find_vector("path_needs_encoding");
    if (v && build_vector(v, &b, 0)) {
        dcs_str uri;
        dcs_sign_result_init(&r);
        check_rc("path_needs_encoding: signs", dcs_sign(&b.req, &r, NULL), DCS_SIGN_OK);
        uri = line_of(&r.canonical_request, 1);
        check_str("path_needs_encoding: canonical URI", uri.ptr, uri.len,
                  "/v2/" PID "/instances/5560df16-cebf-4473-95c4-d1b573c16e79/redislog/"
                  "log%3A1%40a%21%28b%29%2A~%C3%A9/links/");
        dcs_sign_result_free(&r);
    }

    v = find_vector("unsigned_payload_octet_stream");
    if (v && build_vector(v, &b, 0)) {
        dcs_str last;
        dcs_sign_result_init(&r);
        check_rc("unsigned_payload: signs", dcs_sign(&b.req, &r, NULL), DCS_SIGN_OK);
        last = line_of(&r.canonical_request, 10);
        check_str("unsigned_payload: payload line is the header value", last.ptr, last.len,
                  "UNSIGNED-PAYLOAD");
        dcs_sign_result_free(&r);
    }

    v = find_vector("endpoint_with_port_and_trailing_slash");
    if (v && build_vector(v, &b, 0)) {
        dcs_str uri, host;
        dcs_sign_result_init(&r);
        check_rc("port_and_trailing_slash: signs", dcs_sign(&b.req, &r, NULL), DCS_SIGN_OK);
        uri = line_of(&r.canonical_request, 1);
        host = line_of(&r.canonical_request, 4);
        check_str("port_and_trailing_slash: trailing slash kept single", uri.ptr, uri.len,
                  "/v2/" PID "/instances/");
        check_str("port_and_trailing_slash: host header includes the port", host.ptr, host.len,
                  "host:127.0.0.1:8443");
        dcs_sign_result_free(&r);
    }

    /* canonical_query_vectors[0]: Go/Python unit tests. */
    {
        static const dcs_pair q[] = {
            PAIR("limit", "1"), PAIR("enable", "true"),
            PAIR("test", "\344\270\200 (&=\?!#%.*)"), PAIR("path", "/tmp/123"),
            PAIR("multi", "1"), PAIR("multi", "2"), PAIR("multi", "3"),
        };
        check_rc("canonical_query_go_python_tests: signs",
                 sign_with("GET", "/", q, COUNT(q), NULL, 0, mkstr(""), &r), DCS_SIGN_OK);
        check_buf("canonical_query_go_python_tests: canonical query", &r.canonical_query,
                  "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123&"
                  "test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29");
        dcs_sign_result_free(&r);
    }
}

/* ---- canonical query ---- */

static void check_query(const char *name, const dcs_pair *q, size_t n, const char *exp)
{
    dcs_sign_result r;
    int rc = sign_with("GET", "/", q, n, NULL, 0, mkstr(""), &r);
    if (check_rc(name, rc, DCS_SIGN_OK)) {
        dcs_str line = line_of(&r.canonical_request, 2);
        check_buf(name, &r.canonical_query, exp);
        check_str("  ...and line 3 of the canonical request is the same", line.ptr, line.len,
                  exp);
    }
    dcs_sign_result_free(&r);
}

static void test_canonical_query(void)
{
    static const dcs_pair sort1[] = {
        PAIR("b", "2"), PAIR("a", "z"), PAIR("a", "b"), PAIR("A", "x"), PAIR("a", ""),
    };
    /* Raw byte order: '0' (0x30) < ':' (0x3A) < 'z' < 0xC3, although the
     * encoded forms "%3A" and "%C3%A9" sort before "0" and "z". */
    static const dcs_pair raw_order[] = {
        PAIR("z", ""), PAIR("\303\251", ""), PAIR(":", ""), PAIR("0", ""),
    };
    /* Sorted by key then value, not by the joined "k=v" text ('-' < '='). */
    static const dcs_pair key_then_value[] = {PAIR("a-b", "1"), PAIR("a", "z")};
    static const dcs_pair repeated[] = {
        PAIR("tags", "z"), PAIR("tags", "a b"), PAIR("tags", "m*"), PAIR("tags", "B"),
        PAIR("k", ":"), PAIR("k", "0"),
    };
    static const dcs_pair dup[] = {PAIR("a", "1"), PAIR("a", "1"), PAIR("a", "0")};
    static const dcs_pair prefix[] = {PAIR("ab", ""), PAIR("a b", ""), PAIR("a", "")};
    static const dcs_pair odd[] = {PAIR("", "v"), PAIR("k", "a\0b"), PAIR("sp ace", "+/&=")};
    dcs_sign_result r;

    check_query("query: no pairs -> empty canonical query", NULL, 0, "");
    check_query("query: sorted by raw key then raw value", sort1, COUNT(sort1),
                "A=x&a=&a=b&a=z&b=2");
    check_query("query: raw byte order, not encoded order", raw_order, COUNT(raw_order),
                "0=&%3A=&z=&%C3%A9=");
    check_query("query: key then value, not joined k=v text", key_then_value,
                COUNT(key_then_value), "a=z&a-b=1");
    check_query("query: repeated keys, values sorted raw", repeated, COUNT(repeated),
                "k=0&k=%3A&tags=B&tags=a%20b&tags=m%2A&tags=z");
    check_query("query: exact duplicate pairs both kept", dup, COUNT(dup), "a=0&a=1&a=1");
    check_query("query: prefix keys", prefix, COUNT(prefix), "a=&a%20b=&ab=");
    check_query("query: empty key, NUL in value, reserved chars", odd, COUNT(odd),
                "=v&k=a%00b&sp%20ace=%2B%2F%26%3D");

    /* The caller's array is not reordered. */
    check_rc("query: signs", sign_with("GET", "/", sort1, COUNT(sort1), NULL, 0, mkstr(""), &r),
             DCS_SIGN_OK);
    ok(sort1[0].key.ptr[0] == 'b' && sort1[3].key.ptr[0] == 'A',
       "query: the caller's pair array is left in its order");
    dcs_sign_result_free(&r);
}

/* ---- canonical URI ---- */

static void check_uri(const char *path, const char *exp)
{
    dcs_sign_result r;
    char name[200];
    int rc = sign_with("GET", path, NULL, 0, NULL, 0, mkstr(""), &r);
    snprintf(name, sizeof name, "uri: \"%s\" -> \"%s\"", path, exp);
    if (check_rc(name, rc, DCS_SIGN_OK)) {
        dcs_str uri = line_of(&r.canonical_request, 1);
        check_str(name, uri.ptr, uri.len, exp);
    }
    dcs_sign_result_free(&r);
}

static void test_canonical_uri(void)
{
    dcs_sign_result r;

    check_uri("", "/");
    check_uri("/", "/");
    check_uri("/a/b", "/a/b/");
    check_uri("/a/b/", "/a/b/");
    check_uri("/a//b", "/a//b/");
    check_uri("//", "//");
    check_uri("a/b", "/a/b/");
    check_uri("/a%2Fb", "/a/b/");
    check_uri("/a%2fb", "/a/b/");
    check_uri("/a%2F", "/a/");
    check_uri("/inst%201", "/inst%201/");
    check_uri("/inst 1", "/inst%201/");
    check_uri("/%41%7e", "/A~/");
    check_uri("/a%25", "/a%25/");
    check_uri("/a%252F", "/a%252F/");
    check_uri("/%zz", "/%25zz/");
    check_uri("/100%", "/100%25/");
    check_uri("/log:1@a!(b)*~\303\251", "/log%3A1%40a%21%28b%29%2A~%C3%A9/");
    check_uri("/%C3%A9", "/%C3%A9/");
    check_uri("/a+b", "/a%2Bb/");

    /* Exact canonical request of a minimal request. */
    check_rc("uri: minimal request signs",
             sign_with("GET", "", NULL, 0, NULL, 0, mkstr(""), &r), DCS_SIGN_OK);
    check_buf("minimal request: exact canonical request", &r.canonical_request,
              "GET\n/\n\nhost:h.example.com\nx-sdk-date:20210416T120000Z\n\nhost;x-sdk-date\n"
              EMPTY_SHA256);
    check_buf("minimal request: authorization prefix and signed headers", &r.signed_headers,
              "host;x-sdk-date");
    {
        static const char prefix[] =
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=";
        size_t i, plen = sizeof prefix - 1;
        int hex = r.authorization.len == plen + 64 &&
                  memcmp(r.authorization.data, prefix, plen) == 0;
        for (i = plen; hex && i < r.authorization.len; i++)
            hex = r.authorization.data[i] != '\0' &&
                  strchr("0123456789abcdef", r.authorization.data[i]) != NULL;
        if (!ok(hex, "minimal request: Authorization layout (64 lower-case hex digits)"))
            diag_bytes("authorization", r.authorization.data, r.authorization.len);
    }
    dcs_sign_result_free(&r);
}

/* ---- headers ---- */

static void test_headers(void)
{
    dcs_sign_result r;

    {
        static const dcs_pair h[] = {
            PAIR("X-B", " two  words \t"), PAIR("x-a", "\t1"), PAIR("Content-Type", "a:b"),
            PAIR("X_Under", "skip"), PAIR("X-Empty", ""), PAIR("X-Tab", "a\tb"),
        };
        check_rc("headers: sign", sign_with("POST", "/x", NULL, 0, h, COUNT(h), mkstr(""), &r),
                 DCS_SIGN_OK);
        check_buf("headers: lower-cased, trimmed, sorted; '_' names skipped; empty value kept",
                  &r.canonical_request,
                  "POST\n/x/\n\ncontent-type:a:b\nhost:h.example.com\nx-a:1\nx-b:two  words\n"
                  "x-empty:\nx-sdk-date:20210416T120000Z\nx-tab:a\tb\n\n"
                  "content-type;host;x-a;x-b;x-empty;x-sdk-date;x-tab\n" EMPTY_SHA256);
        check_buf("headers: signed headers list", &r.signed_headers,
                  "content-type;host;x-a;x-b;x-empty;x-sdk-date;x-tab");
        dcs_sign_result_free(&r);
    }

    /* Case-insensitive Host / X-Sdk-Date; the date is trimmed for the
     * string to sign as well, so both spellings give the same signature. */
    {
        static const dcs_pair a[] = {PAIR("HOST", "h"), PAIR("x-sdk-date", " 20210416T120000Z\t")};
        static const dcs_pair b[] = {PAIR("Host", "h"), PAIR("X-Sdk-Date", "20210416T120000Z")};
        dcs_sign_request req;
        dcs_sign_result ra, rb;
        memset(&req, 0, sizeof req);
        req.method = mkstr("GET");
        req.path = mkstr("/");
        req.ak = mkstr("AK");
        req.sk = mkstr("SK");
        req.headers = a;
        req.header_count = COUNT(a);
        dcs_sign_result_init(&ra);
        dcs_sign_result_init(&rb);
        check_rc("headers: HOST and x-sdk-date found case-insensitively",
                 dcs_sign(&req, &ra, NULL), DCS_SIGN_OK);
        req.headers = b;
        check_rc("headers: canonical spelling signs", dcs_sign(&req, &rb, NULL), DCS_SIGN_OK);
        check_bytes("headers: name case and date whitespace do not change the Authorization",
                    ra.authorization.data, ra.authorization.len, rb.authorization.data,
                    rb.authorization.len);
        dcs_sign_result_free(&ra);
        dcs_sign_result_free(&rb);
    }

    /* Many headers, given in reverse order. */
    {
        dcs_pair h[202];
        char names[200][8];
        dcs_sign_request req;
        size_t i, n = 0;
        int sorted = 1;
        memset(&req, 0, sizeof req);
        for (i = 0; i < 200; i++) {
            snprintf(names[i], sizeof names[i], "X-%03u", (unsigned)(199 - i));
            h[n].key = mkstr(names[i]);
            h[n++].value = mkstr("v");
        }
        h[n].key = mkstr("Host");
        h[n++].value = mkstr("h");
        h[n].key = mkstr("X-Sdk-Date");
        h[n++].value = mkstr("20210416T120000Z");
        req.method = mkstr("GET");
        req.headers = h;
        req.header_count = n;
        req.ak = mkstr("AK");
        req.sk = mkstr("SK");
        dcs_sign_result_init(&r);
        check_rc("headers: 202 headers sign", dcs_sign(&req, &r, NULL), DCS_SIGN_OK);
        for (i = 0; i + 1 < 200; i++) {
            dcs_str a = line_of(&r.canonical_request, 3 + (int)i),
                    b = line_of(&r.canonical_request, 4 + (int)i);
            if (a.ptr == NULL || b.ptr == NULL || memcmp(a.ptr, b.ptr, 5) >= 0)
                sorted = 0;
        }
        ok(sorted && r.signed_headers.len == 200 * 6 + 4 + 1 + 10 &&
               contains(r.signed_headers.data, r.signed_headers.len, "x-000;x-001;") &&
               contains(r.signed_headers.data, r.signed_headers.len, "x-199;x-sdk-date"),
           "headers: 202 headers sorted by lower-case name");
        dcs_sign_result_free(&r);
    }
}

/* ---- errors ---- */

static void check_error(const char *name, const dcs_pair *h, size_t n, int exp_rc,
                        size_t exp_bad)
{
    dcs_sign_request req;
    dcs_sign_result r;
    size_t bad = NOT_SET;
    int rc;

    memset(&req, 0, sizeof req);
    req.method = mkstr("GET");
    req.path = mkstr("/");
    req.headers = h;
    req.header_count = n;
    req.ak = mkstr("AK");
    req.sk = mkstr("SK");
    dcs_sign_result_init(&r);
    rc = dcs_sign(&req, &r, &bad);
    if (check_rc(name, rc, exp_rc) && !ok(bad == exp_bad, "%s: bad_header", name))
        diag("  got %ld, expected %ld", (long)bad, (long)exp_bad);
    dcs_sign_result_free(&r);
    /* bad_header may be NULL. */
    dcs_sign_result_init(&r);
    check_rc("  ...same with bad_header == NULL", dcs_sign(&req, &r, NULL), exp_rc);
    dcs_sign_result_free(&r);
}

/* However many headers there are, the first one in the given order that is
 * invalid or repeats an earlier name (ignoring case) decides the error. */
enum { MANY = 250 };

typedef struct many_headers {
    dcs_pair h[MANY];
    char names[MANY][16];
} many_headers;

/* Host, X-Sdk-Date and unique names in a scrambled order. */
static void many_init(many_headers *m)
{
    size_t i;
    for (i = 0; i < MANY; i++) {
        snprintf(m->names[i], sizeof m->names[i], "X-H%03u", (unsigned)(i * 97 % MANY));
        m->h[i].key = mkstr(m->names[i]);
        m->h[i].value = mkstr("v");
    }
    m->h[7].key = mkstr("Host");
    m->h[131].key = mkstr("X-Sdk-Date");
}

/* Header at `at` takes the name of the one at `from`, in upper case. */
static void many_copy_name(many_headers *m, size_t at, size_t from)
{
    size_t i;
    for (i = 0; i < m->h[from].key.len && i + 1 < sizeof m->names[at]; i++)
        m->names[at][i] = (char)toupper((unsigned char)m->h[from].key.ptr[i]);
    m->names[at][i] = '\0';
    m->h[at].key = mkstr(m->names[at]);
}

static void test_many_header_errors(void)
{
    many_headers m;

    many_init(&m);
    check_error("many: 250 distinct headers sign", m.h, MANY, DCS_SIGN_OK, NOT_SET);
    many_copy_name(&m, 200, 40);
    check_error("many: a repeat at 200 of 40 (other case) -> EDUPHEADER at 200", m.h, MANY,
                DCS_SIGN_EDUPHEADER, 200);
    m.h[230].value = mkstr("a\r\nb");
    check_error("many: an invalid header after the repeat -> still EDUPHEADER at 200", m.h,
                MANY, DCS_SIGN_EDUPHEADER, 200);
    m.h[120].key = mkstr("X;bad");
    check_error("many: an invalid header before the repeat -> EBADHEADER at 120", m.h, MANY,
                DCS_SIGN_EBADHEADER, 120);
    many_copy_name(&m, 90, 10);
    check_error("many: a repeat at 90 of 10 -> EDUPHEADER at 90", m.h, MANY,
                DCS_SIGN_EDUPHEADER, 90);
    many_copy_name(&m, 60, 5);
    many_copy_name(&m, 50, 5);
    check_error("many: three of one name at 5, 50, 60 -> EDUPHEADER at 50", m.h, MANY,
                DCS_SIGN_EDUPHEADER, 50);

    /* The later of a pair may sort before the earlier one's partner. */
    many_init(&m);
    many_copy_name(&m, 180, 20);
    many_copy_name(&m, 170, 100);
    check_error("many: repeats at 180 (of 20) and 170 (of 100) -> EDUPHEADER at 170", m.h,
                MANY, DCS_SIGN_EDUPHEADER, 170);
    many_init(&m);
    many_copy_name(&m, 30, 249);
    check_error("many: 30 takes the name of 249, so 249 repeats it -> EDUPHEADER at 249",
                m.h, MANY, DCS_SIGN_EDUPHEADER, 249);

    /* A repeated invalid name is reported as invalid, at its first use. */
    many_init(&m);
    m.h[30].key = mkstr("X bad");
    m.h[50].key = mkstr("x BAD");
    check_error("many: the same invalid name at 30 and 50 -> EBADHEADER at 30", m.h, MANY,
                DCS_SIGN_EBADHEADER, 30);
    many_init(&m);
    m.h[3].key = mkstr("A_b");
    m.h[4].key = mkstr("a_B");
    check_error("many: repeated unsigned '_' names -> EDUPHEADER at 4", m.h, MANY,
                DCS_SIGN_EDUPHEADER, 4);
    many_init(&m);
    m.h[8].key = mkstr("HOST");
    check_error("many: Host at 7 and HOST at 8 -> EDUPHEADER at 8", m.h, MANY,
                DCS_SIGN_EDUPHEADER, 8);
}

/* ---- limits and the AK ---- */

/* A request with n headers (Host, X-Sdk-Date and X-Nnnnn), nq query
 * pairs, and the given method and AK.  Storage is the caller's. */
typedef struct sized_request {
    dcs_sign_request req;
    dcs_pair *h, *q;
    char (*names)[16];
} sized_request;

static int sized_init(sized_request *s, size_t n, size_t nq, const char *method, dcs_str ak)
{
    size_t i;
    memset(s, 0, sizeof *s);
    s->h = calloc(n + 1, sizeof *s->h);
    s->q = calloc(nq + 1, sizeof *s->q);
    s->names = calloc(n + 1, sizeof *s->names);
    if (s->h == NULL || s->q == NULL || s->names == NULL)
        return 0;
    for (i = 0; i < n; i++) {
        snprintf(s->names[i], sizeof s->names[i], "X-N%05u", (unsigned)(n - i));
        s->h[i].key = mkstr(s->names[i]);
        s->h[i].value = mkstr("v");
    }
    if (n > 0)
        s->h[0].key = mkstr("Host");
    if (n > 1)
        s->h[n - 1].key = mkstr("X-Sdk-Date");
    for (i = 0; i < nq; i++) {
        s->q[i].key = mkstr("k");
        s->q[i].value = mkstr(i % 2 ? "b" : "a");
    }
    s->req.method = mkstr(method);
    s->req.path = mkstr("/");
    s->req.headers = s->h;
    s->req.header_count = n;
    s->req.query = s->q;
    s->req.query_count = nq;
    s->req.ak = ak;
    s->req.sk = mkstr("SK");
    return 1;
}

static void sized_free(sized_request *s)
{
    free(s->h);
    free(s->q);
    free(s->names);
}

static void check_sized(const char *name, size_t n, size_t nq, const char *method, dcs_str ak,
                        int exp_rc)
{
    sized_request s;
    dcs_sign_result r;
    size_t bad = NOT_SET;

    if (!sized_init(&s, n, nq, method, ak)) {
        ok(0, "%s: allocation", name);
        sized_free(&s);
        return;
    }
    dcs_sign_result_init(&r);
    if (check_rc(name, dcs_sign(&s.req, &r, &bad), exp_rc) && exp_rc != DCS_SIGN_OK &&
        !ok(bad == NOT_SET, "%s: bad_header left alone", name))
        diag("  got %ld", (long)bad);
    if (exp_rc == DCS_SIGN_OK)
        ok(count_char(r.signed_headers.data, r.signed_headers.len, ';') + 1 == n &&
               count_char(r.canonical_query.data, r.canonical_query.len, '&') + 1 ==
                   (nq ? nq : 1),
           "%s: every header signed, every pair in the query", name);
    dcs_sign_result_free(&r);
    sized_free(&s);
}

static void test_limits(void)
{
    dcs_str ak = LIT("AK");

    check_sized("limits: DCS_SIGN_MAX_HEADERS (256) headers sign", DCS_SIGN_MAX_HEADERS, 0,
                "GET", ak, DCS_SIGN_OK);
    check_sized("limits: 257 headers -> ETOOMANY", DCS_SIGN_MAX_HEADERS + 1, 0, "GET", ak,
                DCS_SIGN_ETOOMANY);
    check_sized("limits: 10000 headers -> ETOOMANY", 10000, 0, "GET", ak, DCS_SIGN_ETOOMANY);
    check_sized("limits: DCS_SIGN_MAX_QUERY (1024) pairs sign", 2, DCS_SIGN_MAX_QUERY, "GET", ak,
                DCS_SIGN_OK);
    check_sized("limits: 1025 pairs -> ETOOMANYQUERY", 2, DCS_SIGN_MAX_QUERY + 1, "GET", ak,
                DCS_SIGN_ETOOMANYQUERY);
    check_sized("limits: order: too many headers before too many pairs", 300, 2000, "GET", ak,
                DCS_SIGN_ETOOMANY);
    check_sized("limits: order: a bad AK before too many headers", 300, 0, "GET",
                mkstr("A K"), DCS_SIGN_EBADAK);
    check_sized("limits: order: a bad method before a bad AK", 300, 0, "GE T", mkstr("A K"),
                DCS_SIGN_EBADMETHOD);
    ok(strstr(dcs_sign_strerror(DCS_SIGN_ETOOMANY), "at most 256") != NULL &&
           strstr(dcs_sign_strerror(DCS_SIGN_ETOOMANYQUERY), "at most 1024") != NULL,
       "strerror: the limits are named");
}

static void test_ak(void)
{
    static const char long_ak[DCS_SIGN_MAX_AK + 2] =
        "AKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAK"
        "AKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKAKx";
    static const struct {
        const char *name;
        dcs_str ak;
        int rc;
    } cases[] = {
        {"ak: empty -> EBADAK", {"", 0}, DCS_SIGN_EBADAK},
        {"ak: NULL -> EBADAK", {NULL, 0}, DCS_SIGN_EBADAK},
        {"ak: CR LF -> EBADAK", LIT("AK\r\nX-Evil: 1"), DCS_SIGN_EBADAK},
        {"ak: LF -> EBADAK", LIT("AK\n"), DCS_SIGN_EBADAK},
        {"ak: NUL -> EBADAK", LIT("AK\0x"), DCS_SIGN_EBADAK},
        {"ak: space -> EBADAK", LIT("A K"), DCS_SIGN_EBADAK},
        {"ak: comma -> EBADAK", LIT("AK,SignedHeaders=x"), DCS_SIGN_EBADAK},
        {"ak: '=' -> EBADAK", LIT("AK="), DCS_SIGN_EBADAK},
        {"ak: non-ASCII -> EBADAK", LIT("A\xc3\xa9"), DCS_SIGN_EBADAK},
        {"ak: 129 bytes -> EBADAK", {long_ak, DCS_SIGN_MAX_AK + 1}, DCS_SIGN_EBADAK},
        {"ak: 128 bytes sign", {long_ak, DCS_SIGN_MAX_AK}, DCS_SIGN_OK},
        {"ak: every tchar signs", LIT("!#$%&'*+-.^_`|~Az09"), DCS_SIGN_OK},
    };
    size_t i;

    for (i = 0; i < COUNT(cases); i++) {
        sized_request s;
        dcs_sign_result r;
        if (!sized_init(&s, 2, 0, "GET", cases[i].ak)) {
            ok(0, "%s: allocation", cases[i].name);
            sized_free(&s);
            continue;
        }
        dcs_sign_result_init(&r);
        check_rc(cases[i].name, dcs_sign(&s.req, &r, NULL), cases[i].rc);
        if (cases[i].rc == DCS_SIGN_OK)
            ok(r.authorization.len > 23 + cases[i].ak.len &&
                   memcmp(r.authorization.data + 23, cases[i].ak.ptr, cases[i].ak.len) == 0,
               "%s: the AK is in the Authorization as given", cases[i].name);
        dcs_sign_result_free(&r);
        sized_free(&s);
    }
}

static void test_method_and_token_errors(void)
{
    static const dcs_pair good[] = {PAIR("Host", "h"), PAIR("X-Sdk-Date", "20210416T120000Z")};
    static const dcs_pair semicolon[] = {PAIR("Host", "h"), PAIR("X-Sdk-Date", "d"), PAIR("a;b", "1")};
    static const dcs_pair comma[] = {PAIR("Host", "h"), PAIR("a,b", "1"), PAIR("X-Sdk-Date", "d")};
    static const dcs_pair slash[] = {PAIR("a/b", "1"), PAIR("Host", "h"), PAIR("X-Sdk-Date", "d")};
    static const dcs_pair high[] = {PAIR("Host", "h"), PAIR("X-Sdk-Date", "d"), PAIR("caf\xc3\xa9", "1")};
    static const dcs_pair tchars[] = {PAIR("Host", "h"), PAIR("X-Sdk-Date", "d"),
                                      PAIR("!#$%&'*+-.^_`|~Az09", "1")};
    const char *bad_methods[] = {"", "GE T", "GET\n", "P(ST", "G\xc3\xa9T"};
    size_t i;

    check_error("token: ';' in a name -> EBADHEADER", semicolon, COUNT(semicolon),
                DCS_SIGN_EBADHEADER, 2);
    check_error("token: ',' in a name -> EBADHEADER", comma, COUNT(comma), DCS_SIGN_EBADHEADER, 1);
    check_error("token: '/' in a name -> EBADHEADER", slash, COUNT(slash), DCS_SIGN_EBADHEADER, 0);
    check_error("token: non-ASCII name -> EBADHEADER", high, COUNT(high), DCS_SIGN_EBADHEADER, 2);
    check_error("token: every tchar is accepted", tchars, COUNT(tchars), DCS_SIGN_OK, NOT_SET);
    for (i = 0; i < COUNT(bad_methods); i++) {
        dcs_sign_request req;
        dcs_sign_result r;
        char name[80];
        memset(&req, 0, sizeof req);
        req.method = mkstr(bad_methods[i]);
        req.path = mkstr("/");
        req.headers = good;
        req.header_count = COUNT(good);
        req.ak = mkstr("AK");
        req.sk = mkstr("SK");
        dcs_sign_result_init(&r);
        snprintf(name, sizeof name, "method #%u is not a token -> EBADMETHOD", (unsigned)i);
        check_rc(name, dcs_sign(&req, &r, NULL), DCS_SIGN_EBADMETHOD);
        dcs_sign_result_free(&r);
    }
    ok(strstr(dcs_sign_strerror(DCS_SIGN_EBADMETHOD), "method") != NULL, "strerror: EBADMETHOD");
}

static void test_errors(void)
{
    static const dcs_pair no_date[] = {PAIR("Host", "h"), PAIR("X-Other", "1")};
    static const dcs_pair no_host[] = {PAIR("X-Sdk-Date", "20210416T120000Z")};
    static const dcs_pair underscore_date[] = {PAIR("Host", "h"), PAIR("X_Sdk_Date", "x")};
    static const dcs_pair dup_host[] = {
        PAIR("Host", "h"), PAIR("X-Sdk-Date", "d"), PAIR("X-A", "1"), PAIR("host", "h2"),
    };
    static const dcs_pair dup_date[] = {
        PAIR("X-SDK-DATE", "d"), PAIR("Host", "h"), PAIR("x-sdk-date", "d"),
    };
    static const dcs_pair dup_unsigned[] = {
        PAIR("Host", "h"), PAIR("X-Sdk-Date", "d"), PAIR("A_b", "1"), PAIR("a_B", "2"),
    };
    static const dcs_pair not_dup[] = {
        PAIR("Host", "h"), PAIR("X-Sdk-Date", "d"), PAIR("X-A", "1"), PAIR("X-AB", "2"),
    };
    static const dcs_pair cr_value[] = {PAIR("Host", "h"), PAIR("X-Sdk-Date", "d"), PAIR("X-A", "a\rb")};
    static const dcs_pair lf_value[] = {PAIR("Host", "h"), PAIR("X-A", "a\nX-Evil: 1"), PAIR("X-Sdk-Date", "d")};
    static const dcs_pair nul_value[] = {PAIR("X-Sdk-Date", "d"), PAIR("Host", "h\0x")};
    static const dcs_pair empty_name[] = {PAIR("Host", "h"), PAIR("X-Sdk-Date", "d"), PAIR("", "v")};
    static const dcs_pair colon_name[] = {PAIR("Host", "h"), PAIR("X-A:b", "v"), PAIR("X-Sdk-Date", "d")};
    static const dcs_pair space_name[] = {PAIR("X A", "v"), PAIR("Host", "h"), PAIR("X-Sdk-Date", "d")};
    static const dcs_pair lf_name[] = {PAIR("Host", "h"), PAIR("X-Sdk-Date", "d"), PAIR("X-A\n", "v")};
    static const dcs_pair del_name[] = {PAIR("Host", "h"), PAIR("X-Sdk-Date", "d"), PAIR("X\177", "v")};
    static const dcs_pair bad_then_dup[] = {PAIR("Host", "h"), PAIR("X-A", "\r"), PAIR("host", "h")};
    int c;

    check_error("error: no headers at all -> ENODATE", NULL, 0, DCS_SIGN_ENODATE, NOT_SET);
    check_error("error: no X-Sdk-Date -> ENODATE", no_date, COUNT(no_date), DCS_SIGN_ENODATE,
                NOT_SET);
    check_error("error: X_Sdk_Date is not X-Sdk-Date -> ENODATE", underscore_date,
                COUNT(underscore_date), DCS_SIGN_ENODATE, NOT_SET);
    check_error("error: no Host -> ENOHOST", no_host, COUNT(no_host), DCS_SIGN_ENOHOST, NOT_SET);
    check_error("error: Host and host -> EDUPHEADER at index 3", dup_host, COUNT(dup_host),
                DCS_SIGN_EDUPHEADER, 3);
    check_error("error: X-SDK-DATE and x-sdk-date -> EDUPHEADER at index 2", dup_date,
                COUNT(dup_date), DCS_SIGN_EDUPHEADER, 2);
    check_error("error: duplicate unsigned '_' header -> EDUPHEADER at index 3", dup_unsigned,
                COUNT(dup_unsigned), DCS_SIGN_EDUPHEADER, 3);
    check_error("error: X-A and X-AB are not duplicates", not_dup, COUNT(not_dup), DCS_SIGN_OK,
                NOT_SET);
    check_error("error: CR in a value -> EBADHEADER at index 2", cr_value, COUNT(cr_value),
                DCS_SIGN_EBADHEADER, 2);
    check_error("error: LF in a value -> EBADHEADER at index 1", lf_value, COUNT(lf_value),
                DCS_SIGN_EBADHEADER, 1);
    check_error("error: NUL in a value -> EBADHEADER at index 1", nul_value, COUNT(nul_value),
                DCS_SIGN_EBADHEADER, 1);
    check_error("error: empty name -> EBADHEADER at index 2", empty_name, COUNT(empty_name),
                DCS_SIGN_EBADHEADER, 2);
    check_error("error: ':' in a name -> EBADHEADER at index 1", colon_name, COUNT(colon_name),
                DCS_SIGN_EBADHEADER, 1);
    check_error("error: space in a name -> EBADHEADER at index 0", space_name, COUNT(space_name),
                DCS_SIGN_EBADHEADER, 0);
    check_error("error: LF in a name -> EBADHEADER at index 2", lf_name, COUNT(lf_name),
                DCS_SIGN_EBADHEADER, 2);
    check_error("error: DEL in a name -> EBADHEADER at index 2", del_name, COUNT(del_name),
                DCS_SIGN_EBADHEADER, 2);
    check_error("error: the first bad header wins (EBADHEADER at 1 before EDUPHEADER at 2)",
                bad_then_dup, COUNT(bad_then_dup), DCS_SIGN_EBADHEADER, 1);

    for (c = DCS_SIGN_OK; c <= LAST_CODE; c++) {
        const char *s = dcs_sign_strerror(c);
        ok(s != NULL && s[0] != '\0' && strcmp(s, "unknown signing error") != 0,
           "strerror(%d) = \"%s\"", c, s ? s : "(null)");
    }
    ok(strcmp(dcs_sign_strerror(LAST_CODE + 1), "unknown signing error") == 0 &&
           strcmp(dcs_sign_strerror(-1), "unknown signing error") == 0,
       "strerror of an unknown code");
}

/* ---- payload hash ---- */

static void check_payload(const char *name, const dcs_pair *extra, size_t n, dcs_str body,
                          const char *exp)
{
    dcs_sign_result r;
    if (check_rc(name, sign_with("PUT", "/", NULL, 0, extra, n, body, &r), DCS_SIGN_OK)) {
        const char *nl = NULL;
        size_t i;
        for (i = r.canonical_request.len; i > 0; i--)
            if (r.canonical_request.data[i - 1] == '\n') {
                nl = r.canonical_request.data + i;
                break;
            }
        check_str(name, nl ? nl : "", nl ? (size_t)(r.canonical_request.data +
                                                    r.canonical_request.len - nl) : 0, exp);
    }
    dcs_sign_result_free(&r);
}

static void test_payload(void)
{
    static const dcs_pair unsigned_payload[] = {PAIR("X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD")};
    static const dcs_pair lower_trim[] = {PAIR("x-sdk-content-sha256", "  abc \t")};
    static const dcs_pair empty_val[] = {PAIR("X-Sdk-Content-Sha256", "")};
    dcs_str nullbody = {NULL, 0};
    dcs_str rawbody = LIT("raw-bytes"), nulbody = LIT("a\0b");
    dcs_sign_result r;

    check_payload("payload: sha256 of the body", NULL, 0, rawbody,
                  "48c2a3cc55bca79baff97910b96c74b906fc5d893a1bc5ccd14d629d3f3ef715");
    check_payload("payload: NULL body -> empty hash", NULL, 0, nullbody, EMPTY_SHA256);
    check_payload("payload: body with a NUL byte hashed exactly", NULL, 0, nulbody,
                  "59b271ae1bbcb1d31d41929817f4b16fb439eb4f31520b5ad1d5ce98920a7138");
    check_payload("payload: X-Sdk-Content-Sha256 overrides the body hash", unsigned_payload, 1,
                  rawbody, "UNSIGNED-PAYLOAD");
    check_payload("payload: x-sdk-content-sha256 found case-insensitively, value trimmed",
                  lower_trim, 1, rawbody, "abc");
    check_payload("payload: empty X-Sdk-Content-Sha256 is used as is", empty_val, 1, rawbody,
                  "");

    check_rc("payload: override signs",
             sign_with("PUT", "/", NULL, 0, unsigned_payload, 1, rawbody, &r), DCS_SIGN_OK);
    ok(!contains(r.canonical_request.data, r.canonical_request.len,
                 "48c2a3cc55bca79baff97910b96c74b906fc5d893a1bc5ccd14d629d3f3ef715") &&
           contains(r.signed_headers.data, r.signed_headers.len, "x-sdk-content-sha256"),
       "payload: the body hash is absent and the override header is signed");
    dcs_sign_result_free(&r);
}

/* ---- determinism / independence from input order ---- */

static int same_result(const dcs_sign_result *a, const dcs_sign_result *b)
{
    const dcs_buf *x[4], *y[4];
    int i;
    x[0] = &a->canonical_query;
    x[1] = &a->canonical_request;
    x[2] = &a->signed_headers;
    x[3] = &a->authorization;
    y[0] = &b->canonical_query;
    y[1] = &b->canonical_request;
    y[2] = &b->signed_headers;
    y[3] = &b->authorization;
    for (i = 0; i < 4; i++)
        if (x[i]->len != y[i]->len || (x[i]->len && memcmp(x[i]->data, y[i]->data, x[i]->len)))
            return 0;
    return 1;
}

static void test_repeatable(void)
{
    size_t i;
    int all_same = 1, all_ok = 1, all_perm = 1;

    for (i = 0; i < COUNT(VECTORS); i++) {
        built b, br;
        dcs_sign_result r1, r2, r3;
        int rc1, rc2, rc3;
        if (!build_vector(&VECTORS[i], &b, 0) || !build_vector(&VECTORS[i], &br, 1)) {
            all_ok = 0;
            continue;
        }
        dcs_sign_result_init(&r1);
        dcs_sign_result_init(&r2);
        dcs_sign_result_init(&r3);
        rc1 = dcs_sign(&b.req, &r1, NULL);
        rc2 = dcs_sign(&b.req, &r2, NULL);
        rc3 = dcs_sign(&br.req, &r3, NULL);
        if (rc1 != DCS_SIGN_OK || rc2 != DCS_SIGN_OK || rc3 != DCS_SIGN_OK)
            all_ok = 0;
        if (!same_result(&r1, &r2)) {
            all_same = 0;
            diag("  %s: two calls differ", VECTORS[i].name);
        }
        if (!same_result(&r1, &r3)) {
            all_perm = 0;
            diag("  %s: reversed query/header order changes the result", VECTORS[i].name);
        }
        dcs_sign_result_free(&r1);
        dcs_sign_result_free(&r2);
        dcs_sign_result_free(&r3);
    }
    ok(all_ok, "fault: every vector returns DCS_SIGN_OK on each of three calls");
    ok(all_same, "fault: signing the same input twice gives identical results");
    ok(all_perm, "fault: reversing the query and header order gives identical results");
}

/* ---- larger inputs ---- */

static void test_large(void)
{
    enum { NQ = DCS_SIGN_MAX_QUERY, PATHREP = 3000 };
    dcs_pair *q = malloc(NQ * sizeof *q);
    char (*keys)[8] = malloc(NQ * sizeof *keys);
    char *path = malloc(PATHREP * 3 + 2);
    dcs_sign_result r;
    size_t i;

    if (q == NULL || keys == NULL || path == NULL) {
        ok(0, "large: allocation");
        free(q);
        free(keys);
        free(path);
        return;
    }
    for (i = 0; i < NQ; i++) {
        snprintf(keys[i], sizeof keys[i], "k%05u", (unsigned)(NQ - 1 - i));
        q[i].key = mkstr(keys[i]);
        q[i].value = mkstr(" ");
    }
    path[0] = '/';
    for (i = 0; i < PATHREP; i++)
        memcpy(path + 1 + 3 * i, "\303\251/", 3);
    path[1 + 3 * PATHREP] = '\0';
    if (check_rc("large: DCS_SIGN_MAX_QUERY query pairs and a 9 KB path sign",
                 sign_with("GET", path, q, NQ, NULL, 0, mkstr(""), &r), DCS_SIGN_OK)) {
        dcs_str uri = line_of(&r.canonical_request, 1);
        ok(r.canonical_query.len == NQ * strlen("k00000=%20") + NQ - 1 &&
               memcmp(r.canonical_query.data, "k00000=%20&k00001=%20&", 22) == 0,
           "large: canonical query length and order");
        ok(uri.len == 1 + PATHREP * 7 && memcmp(uri.ptr, "/%C3%A9/%C3%A9/", 15) == 0,
           "large: canonical URI length");
    }
    dcs_sign_result_free(&r);
    free(q);
    free(keys);
    free(path);
}

int main(void)
{
    test_buf();
    test_percent_encode();
    test_percent_decode();
    test_url_split();
    test_sdk_date();
    test_method_and_token_errors();
    test_hashes();
    test_vectors();
    test_signing_key();
    test_vector_details();
    test_canonical_query();
    test_canonical_uri();
    test_headers();
    test_errors();
    test_many_header_errors();
    test_limits();
    test_ak();
    test_payload();
    test_repeatable();
    test_large();

    printf("1..%d\n", g_tests);
    if (g_failed)
        diag("%d of %d tests failed", g_failed, g_tests);
    return g_failed ? 1 : 0;
}
