/* What the signer hashes: SHA-256 and HMAC-SHA256 one-shot, and the HMAC
 * states of an SK, made once and cloned for each signature (dcs_sign_key).
 * With mbedTLS (mbedtls_md only: the same calls in 2.28 and 3.x), or with
 * the CPU's SHA extensions (dcs_sha256.c) when dcs_sha256_hw() says so. */
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "dcs_sha256.h"
#include "dcs_sign.h"

int dcs_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    if (dcs_sha256_hw()) {
        dcs_sha256 s;
        dcs_sha256_start(&s);
        dcs_sha256_update(&s, p, n);
        dcs_sha256_finish(&s, md);
    } else {
        const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
        if (info == NULL || mbedtls_md(info, (const unsigned char *)p, n, md) != 0)
            return 0;
    }
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

/* The states after (key XOR ipad) and (key XOR opad): the hw pair when
 * hw is set, else the mbedTLS pair, and work for a clone of either. */
struct dcs_sign_key {
    unsigned char *sk;              /* a copy, for dcs_sign_key_matches */
    size_t sk_len;
    int hw;
    dcs_sha256 hw_inner, hw_outer;
    mbedtls_md_context_t inner, outer, work;
};

/* One of the two states: SHA-256 started over the 64-byte key block XOR pad. */
static int start_pad(dcs_sign_key *key, int outer, const unsigned char k0[64])
{
    unsigned char block[64];
    mbedtls_md_context_t *md = outer ? &key->outer : &key->inner;
    dcs_sha256 *s = outer ? &key->hw_outer : &key->hw_inner;
    size_t i;
    int rc = 1;

    for (i = 0; i < 64; i++)
        block[i] = (unsigned char)(k0[i] ^ (outer ? 0x5c : 0x36));
    if (key->hw) {
        dcs_sha256_start(s);
        dcs_sha256_update(s, block, 64);
    } else {
        rc = mbedtls_md_setup(md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 0) == 0 &&
             mbedtls_md_starts(md) == 0 && mbedtls_md_update(md, block, 64) == 0;
    }
    mbedtls_platform_zeroize(block, sizeof block);
    return rc;
}

dcs_sign_key *dcs_sign_key_new(const void *sk, size_t len)
{
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    unsigned char k0[64];
    dcs_sign_key *key;
    int ok;

    if (info == NULL || (key = malloc(sizeof *key)) == NULL)
        return NULL;
    key->sk_len = len;
    if ((key->sk = malloc(len ? len : 1)) == NULL) {
        free(key);
        return NULL;
    }
    if (len > 0)
        memcpy(key->sk, sk, len);
    mbedtls_md_init(&key->inner);
    mbedtls_md_init(&key->outer);
    mbedtls_md_init(&key->work);
    key->hw = dcs_sha256_hw();
    /* RFC 2104: a key longer than the block is hashed first. */
    memset(k0, 0, sizeof k0);
    ok = 1;
    if (len > sizeof k0)
        ok = mbedtls_md(info, sk, len, k0) == 0;
    else if (len > 0)
        memcpy(k0, sk, len);
    ok = ok && (key->hw || mbedtls_md_setup(&key->work, info, 0) == 0) && start_pad(key, 0, k0) &&
         start_pad(key, 1, k0);
    mbedtls_platform_zeroize(k0, sizeof k0);
    if (!ok) {
        dcs_sign_key_free(key);
        return NULL;
    }
    return key;
}

/* mbedtls_md_free zeroes the hash states it frees. */
void dcs_sign_key_free(dcs_sign_key *key)
{
    if (key == NULL)
        return;
    mbedtls_md_free(&key->inner);
    mbedtls_md_free(&key->outer);
    mbedtls_md_free(&key->work);
    mbedtls_platform_zeroize(key->sk, key->sk_len);
    free(key->sk);
    mbedtls_platform_zeroize(key, sizeof *key);
    free(key);
}

/* Every byte compared whatever the first difference: no timing hint. */
int dcs_sign_key_matches(const dcs_sign_key *key, const void *sk, size_t len)
{
    const unsigned char *p = sk;
    unsigned char diff = 0;
    size_t i;

    if (key == NULL || key->sk_len != len)
        return 0;
    for (i = 0; i < len; i++)
        diff |= (unsigned char)(key->sk[i] ^ p[i]);
    return diff == 0;
}

static const char ALGORITHM[] = "SDK-HMAC-SHA256\n";

/* dcs_sign_key_signature's MAC with the SHA extensions. */
static void signature_hw(const dcs_sign_key *key, dcs_str date, const char hash[64],
                         unsigned char mac[32])
{
    unsigned char inner[32];
    dcs_sha256 w = key->hw_inner;

    dcs_sha256_update(&w, ALGORITHM, sizeof ALGORITHM - 1);
    dcs_sha256_update(&w, date.ptr, date.len);
    dcs_sha256_update(&w, "\n", 1);
    dcs_sha256_update(&w, hash, 64);
    dcs_sha256_finish(&w, inner);
    w = key->hw_outer;
    dcs_sha256_update(&w, inner, sizeof inner);
    dcs_sha256_finish(&w, mac);
}

/* HMAC-SHA256(SK, "SDK-HMAC-SHA256\n" date "\n" hash) as hex, from the
 * key's states: the string to sign is never assembled. */
int dcs_sign_key_signature(dcs_sign_key *key, dcs_str date, const char hash[64], char out[65])
{
    unsigned char inner[32], mac[32];
    mbedtls_md_context_t *w = &key->work;
    int ok;

    if (key->hw) {
        signature_hw(key, date, hash, mac);
        dcs_hex_encode(mac, sizeof mac, out);
        return 1;
    }
    ok = mbedtls_md_clone(w, &key->inner) == 0 &&
         mbedtls_md_update(w, (const unsigned char *)ALGORITHM, sizeof ALGORITHM - 1) == 0 &&
         mbedtls_md_update(w, (const unsigned char *)date.ptr, date.len) == 0 &&
         mbedtls_md_update(w, (const unsigned char *)"\n", 1) == 0 &&
         mbedtls_md_update(w, (const unsigned char *)hash, 64) == 0 &&
         mbedtls_md_finish(w, inner) == 0 && mbedtls_md_clone(w, &key->outer) == 0 &&
         mbedtls_md_update(w, inner, sizeof inner) == 0 && mbedtls_md_finish(w, mac) == 0;
    if (ok)
        dcs_hex_encode(mac, sizeof mac, out);
    return ok;
}

