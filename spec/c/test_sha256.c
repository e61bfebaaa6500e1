/* Unit tests for the SHA-extensions SHA-256 (csrc/dcs_sha256.c): the
 * FIPS 180-4 examples, then every length from 0 to 1024 bytes, each fed
 * whole and in pieces, against mbedTLS.  Prints TAP; exits 1 when any
 * test fails.  On a CPU without the extensions (or with DCS_NO_SHA_NI
 * set) it checks that dcs_sha256_hw() says no and skips the rest.
 *
 *   cc -Wall -Wextra -Icsrc -o build/test_sha256 spec/c/test_sha256.c csrc/dcs_sha256.c \
 *      -lmbedcrypto -pthread
 *   build/test_sha256 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md.h>

#include "dcs_sha256.h"
#include "tap.h"

static void hex(const unsigned char *md, char out[65])
{
    int i;
    for (i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

/* The digest of p[0..n) fed in pieces of at most `piece` bytes. */
static void digest_pieces(const unsigned char *p, size_t n, size_t piece, unsigned char md[32])
{
    dcs_sha256 s;
    size_t at = 0;

    dcs_sha256_start(&s);
    while (at < n) {
        size_t take = n - at < piece ? n - at : piece;
        dcs_sha256_update(&s, p + at, take);
        at += take;
    }
    dcs_sha256_finish(&s, md);
}

static void check_example(const char *name, const char *msg, size_t repeat, const char *exp)
{
    unsigned char md[32];
    char got[65];
    dcs_sha256 s;
    size_t i;

    dcs_sha256_start(&s);
    for (i = 0; i < repeat; i++)
        dcs_sha256_update(&s, msg, strlen(msg));
    dcs_sha256_finish(&s, md);
    hex(md, got);
    if (!ok(strcmp(got, exp) == 0, "FIPS 180-4 example: %s", name))
        diag("got %s, expected %s", got, exp);
}

static void test_examples(void)
{
    check_example("empty", "", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_example("abc", "abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check_example("448 bits", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    check_example("896 bits",
                  "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
                  "klmnopqrlmnopqrsmnopqrstnopqrstu",
                  1, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    check_example("one million 'a'", "aaaaaaaaaa", 100000,
                  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Every length 0..1024, whole and in pieces of 1, 3, 63, 64 and 65 bytes,
 * against mbedTLS; one test line for all of them, the first mismatch named. */
static void test_against_mbedtls(void)
{
    static const size_t pieces[] = {(size_t)-1, 1, 3, 63, 64, 65};
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    unsigned char data[1024], want[32], got[32];
    size_t n, i, bad_n = 0, bad_piece = 0;
    int mismatches = 0;
    unsigned seed = 12345;

    for (i = 0; i < sizeof data; i++) {
        seed = seed * 1103515245u + 12345u;
        data[i] = (unsigned char)(seed >> 16);
    }
    for (n = 0; n <= sizeof data; n++) {
        mbedtls_md(info, data, n, want);
        for (i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
            digest_pieces(data, n, pieces[i], got);
            if (memcmp(got, want, 32) != 0 && mismatches++ == 0)
                bad_n = n, bad_piece = pieces[i];
        }
    }
    if (!ok(mismatches == 0, "lengths 0..1024, whole and in pieces, agree with mbedTLS"))
        diag("%d mismatches, the first at length %zu in pieces of %zu", mismatches, bad_n, bad_piece);
}

/* A copy of a hash in progress goes on independently (the signer clones
 * its HMAC states by struct copy). */
static void test_copy(void)
{
    unsigned char a[32], b[32], c[32];
    dcs_sha256 s, t;

    dcs_sha256_start(&s);
    dcs_sha256_update(&s, "0123456789", 10);
    t = s;
    dcs_sha256_update(&s, "abc", 3);
    dcs_sha256_finish(&s, a);
    dcs_sha256_update(&t, "abc", 3);
    dcs_sha256_finish(&t, b);
    digest_pieces((const unsigned char *)"0123456789abc", 13, 64, c);
    ok(memcmp(a, b, 32) == 0 && memcmp(a, c, 32) == 0, "a struct copy of a hash goes on on its own");
}

int main(void)
{
    const char *off = getenv("DCS_NO_SHA_NI");

    if (!dcs_sha256_hw()) {
        printf("1..1\nok 1 - # SKIP %s\n", off != NULL && *off != '\0'
                                              ? "DCS_NO_SHA_NI is set: dcs_sha256_hw() says no"
                                              : "this CPU has no SHA extensions");
        return 0;
    }
    test_examples();
    test_against_mbedtls();
    test_copy();
    return tap_done();
}
