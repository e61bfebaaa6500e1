/* SHA-256 (FIPS 180-4) with the x86-64 SHA extensions; see dcs_sha256.h.
 * The compression follows Intel's "SHA Extensions" white paper: the state
 * lives as ABEF/CDGH lane pairs, SHA256RNDS2 does two rounds, SHA256MSG1
 * and SHA256MSG2 extend the message schedule four words at a time.  Only
 * this file's block function needs the extensions; it is compiled for them
 * with a target attribute, so the rest of the module stays baseline x86-64
 * and runs on any CPU. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "dcs_sha256.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DCS_SHA_NI 1
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t H0[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

#ifdef DCS_SHA_NI
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* Hashes n 64-byte blocks into h.  w[] holds the last four groups of four
 * schedule words; group g replaces group g - 4 in w[g & 3]. */
__attribute__((target("sha,ssse3,sse4.1"))) static void blocks(uint32_t h[8],
                                                                const unsigned char *p, size_t n)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i dcba = _mm_loadu_si128((const __m128i *)(const void *)&h[0]);
    __m128i hgfe = _mm_loadu_si128((const __m128i *)(const void *)&h[4]);
    __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
    __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);

    for (; n > 0; n--, p += 64) {
        __m128i abef0 = abef, cdgh0 = cdgh, w[4], m;
        int g;
        for (g = 0; g < 16; g++) {
            if (g < 4) {
                m = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * g)),
                                     bswap);
            } else {
                m = _mm_add_epi32(_mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]),
                                  _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4));
                m = _mm_sha256msg2_epu32(m, w[(g + 3) & 3]);
            }
            w[g & 3] = m;
            m = _mm_add_epi32(m, _mm_loadu_si128((const __m128i *)(const void *)&K[4 * g]));
            /* two rounds into cdgh, which then holds ABEF; two more back */
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, m);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(m, 0x0E));
        }
        abef = _mm_add_epi32(abef, abef0);
        cdgh = _mm_add_epi32(cdgh, cdgh0);
    }
    efgh = _mm_shuffle_epi32(abef, 0x1B);   /* FEBA */
    cdgh = _mm_shuffle_epi32(cdgh, 0xB1);   /* DCHG */
    _mm_storeu_si128((__m128i *)(void *)&h[0], _mm_blend_epi16(efgh, cdgh, 0xF0));
    _mm_storeu_si128((__m128i *)(void *)&h[4], _mm_alignr_epi8(cdgh, efgh, 8));
}

/* CPUID: SSSE3 and SSE4.1 (leaf 1, ECX bits 9 and 19), SHA (leaf 7, EBX bit 29). */
static int cpu_has_sha(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 9)) || !(c & (1u << 19)))
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & (1u << 29)) != 0;
}
#else
/* Never called: dcs_sha256_hw() is 0 without the extensions. */
static void blocks(uint32_t h[8], const unsigned char *p, size_t n)
{
    (void)h, (void)p, (void)n;
    abort();
}

static int cpu_has_sha(void)
{
    return 0;
}
#endif

/* Decided at the first call, under a mutex rather than pthread_once: as
 * for libcurl's global init (dcs_http.c), every race detector (helgrind
 * too) sees the ordering, and an uncontended lock costs about 20 ns. */
static pthread_mutex_t hw_lock = PTHREAD_MUTEX_INITIALIZER;
static int hw_state = -1;       /* -1 not decided yet, else 0 or 1 (hw_lock) */

int dcs_sha256_hw(void)
{
    int hw;

    pthread_mutex_lock(&hw_lock);
    if (hw_state < 0) {
        const char *off = getenv("DCS_NO_SHA_NI");
        hw_state = (off == NULL || *off == '\0') && cpu_has_sha();
    }
    hw = hw_state;
    pthread_mutex_unlock(&hw_lock);
    return hw;
}

void dcs_sha256_start(dcs_sha256 *s)
{
    memcpy(s->h, H0, sizeof H0);
    s->len = 0;
}

void dcs_sha256_update(dcs_sha256 *s, const void *data, size_t n)
{
    const unsigned char *p = data;
    size_t used = (size_t)(s->len % 64);

    s->len += n;
    if (used > 0) {
        size_t take = 64 - used < n ? 64 - used : n;
        memcpy(s->block + used, p, take);
        p += take, n -= take;
        if (used + take < 64)
            return;
        blocks(s->h, s->block, 1);
    }
    if (n >= 64) {
        blocks(s->h, p, n / 64);
        p += n - n % 64, n %= 64;
    }
    if (n > 0)
        memcpy(s->block, p, n);
}

void dcs_sha256_finish(dcs_sha256 *s, unsigned char out[32])
{
    uint64_t bits = s->len * 8;
    size_t used = (size_t)(s->len % 64);
    int i;

    s->block[used++] = 0x80;
    if (used > 56) {
        memset(s->block + used, 0, 64 - used);
        blocks(s->h, s->block, 1);
        used = 0;
    }
    memset(s->block + used, 0, 56 - used);
    for (i = 0; i < 8; i++)
        s->block[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
    blocks(s->h, s->block, 1);
    for (i = 0; i < 32; i++)
        out[i] = (unsigned char)(s->h[i / 4] >> (24 - 8 * (i % 4)));
    mbedtls_platform_zeroize(s, sizeof *s);
}
