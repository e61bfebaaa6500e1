/* libFuzzer harness for signing with a key made once (csrc/dcs_sign_key.c,
 * dcs_sign_with_key in csrc/dcs_sign.c): the path the Lua binding takes,
 * one key and one buffer kept from call to call.  tools/fuzz/fuzz_sign.c
 * checks dcs_sign itself against a reference; this checks that reuse
 * changes nothing.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icsrc -o build/fuzz_sign_key \
 *         tools/fuzz/fuzz_sign_key.c csrc/dcs_sign.c csrc/dcs_sign_key.c csrc/dcs_sha256.c \
 *         csrc/dcs_buf.c -lmbedcrypto
 *   mkdir -p build/fuzz-corpus-sign-key && build/fuzz_sign_key -max_total_time=60 build/fuzz-corpus-sign-key
 *
 * Input layout: fields separated by 0xFF: the SK, then requests of eight
 * fields each (method, path, X-Sdk-Date, a query key and value, a header
 * name and value, the body), as many as there are.
 *
 * Checked for each request, signed with the one key into the one buffer:
 * the return code, the offending header and every output equal dcs_sign's
 * (a fresh key and buffer); the signature is HMAC-SHA256 of the string to
 * sign by mbedTLS; the Authorization value is "SDK-HMAC-SHA256 Access=AK,
 * SignedHeaders=..., Signature=" and 64 lower-case hex digits.  The key
 * matches its SK and nothing else (one byte changed, one byte shorter).
 * A violated invariant prints its line and calls abort(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md.h>

#include "dcs_sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEP 0xFF
#define FUZZ_NAME "fuzz_sign_key"
#define FUZZ_FIELDS
#include "fuzz.h"

static int str_is(dcs_str s, const dcs_buf *b)
{
    return s.len == b->len && (s.len == 0 || memcmp(s.ptr, b->data, s.len) == 0);
}

static void check_matches(const dcs_sign_key *key, dcs_str sk)
{
    char *other = malloc(sk.len + 1);

    CHECK(other != NULL);
    CHECK(dcs_sign_key_matches(key, sk.ptr, sk.len));
    CHECK(!dcs_sign_key_matches(NULL, sk.ptr, sk.len));
    if (sk.len > 0) {
        memcpy(other, sk.ptr, sk.len);
        other[sk.len / 2] ^= 1;
        CHECK(!dcs_sign_key_matches(key, other, sk.len));
        CHECK(!dcs_sign_key_matches(key, sk.ptr, sk.len - 1));
    }
    free(other);
}

/* The signature the key gives for date and hash is mbedTLS's HMAC. */
static void check_signature(dcs_sign_key *key, dcs_str sk, dcs_str date, const char hash[64])
{
    unsigned char mac[32];
    char want[65], got[65];
    size_t n = 16 + date.len + 1 + 64;
    char *msg = malloc(n);

    CHECK(msg != NULL);
    memcpy(msg, "SDK-HMAC-SHA256\n", 16);
    if (date.len)
        memcpy(msg + 16, date.ptr, date.len);
    msg[16 + date.len] = '\n';
    memcpy(msg + 17 + date.len, hash, 64);
    CHECK(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                          (const unsigned char *)sk.ptr, sk.len, (const unsigned char *)msg, n,
                          mac) == 0);
    dcs_hex_encode(mac, 32, want);
    CHECK(dcs_sign_key_signature(key, date, hash, got));
    CHECK(memcmp(got, want, 65) == 0);
    free(msg);
}

static int is_lower_hex(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static void check_authorization(const dcs_sign_request *req, const dcs_sign_out *out)
{
    dcs_str a = out->authorization;
    size_t sh = out->signed_headers.len, want = 23 + req->ak.len + 16 + sh + 12 + 64;

    CHECK(a.len == want);
    CHECK(memcmp(a.ptr, "SDK-HMAC-SHA256 Access=", 23) == 0);
    CHECK(memcmp(a.ptr + 23, req->ak.ptr, req->ak.len) == 0);
    CHECK(memcmp(a.ptr + 23 + req->ak.len, ", SignedHeaders=", 16) == 0);
    CHECK(memcmp(a.ptr + 39 + req->ak.len, out->signed_headers.ptr, sh) == 0);
    CHECK(memcmp(a.ptr + 39 + req->ak.len + sh, ", Signature=", 12) == 0);
    CHECK(is_lower_hex(a.ptr + a.len - 64, 64));
}

static void sign_both(dcs_sign_key *key, dcs_buf *buf, const dcs_sign_request *req)
{
    dcs_sign_result r;
    dcs_sign_out out;
    size_t bad1 = (size_t)-1, bad2 = (size_t)-1;
    int rc1, rc2;

    dcs_sign_result_init(&r);
    rc1 = dcs_sign(req, &r, &bad1);
    rc2 = dcs_sign_with_key(key, req, buf, &out, &bad2);
    CHECK(rc1 == rc2 && bad1 == bad2);
    if (rc2 == DCS_SIGN_OK) {
        CHECK(str_is(out.canonical_request, &r.canonical_request));
        CHECK(str_is(out.canonical_query, &r.canonical_query));
        CHECK(str_is(out.signed_headers, &r.signed_headers));
        CHECK(str_is(out.authorization, &r.authorization));
        CHECK(out.canonical_request.ptr == buf->data);
        check_authorization(req, &out);
    }
    dcs_sign_result_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fields f;
    dcs_str sk;
    dcs_sign_key *key;
    dcs_buf buf = DCS_BUF_INIT;
    int rounds = 0;

    f.p = (const char *)data;
    f.n = size;
    sk = next_field(&f);
    CHECK((key = dcs_sign_key_new(sk.ptr, sk.len)) != NULL);
    check_matches(key, sk);
    while (f.n > 0 && rounds++ < 8) {
        dcs_pair q[1], h[3];
        dcs_sign_request req;

        memset(&req, 0, sizeof req);
        req.method = next_field(&f);
        req.path = next_field(&f);
        h[0].key.ptr = "X-Sdk-Date";
        h[0].key.len = 10;
        h[0].value = next_field(&f);
        h[1].key.ptr = "Host";
        h[1].key.len = 4;
        h[1].value.ptr = "example.com";
        h[1].value.len = 11;
        q[0].key = next_field(&f);
        q[0].value = next_field(&f);
        h[2].key = next_field(&f);
        h[2].value = next_field(&f);
        req.body = next_field(&f);
        req.query = q;
        req.query_count = q[0].key.len > 0;
        req.headers = h;
        req.header_count = h[2].key.len > 0 ? 3 : 2;
        req.ak.ptr = "AK";
        req.ak.len = 2;
        req.sk = sk;
        sign_both(key, &buf, &req);
        check_signature(key, sk, h[0].value, "0123456789abcdef0123456789abcdef"
                                              "0123456789abcdef0123456789abcdef");
    }
    dcs_buf_free(&buf);
    dcs_sign_key_free(key);
    return 0;
}
