/* SHA-256 on the CPU's SHA extensions (x86-64 SHA-NI), for the signer's
 * hot path.  mbedTLS 2.28 hashes in portable C, about four times slower
 * than these instructions; the signer asks dcs_sha256_hw() and keeps
 * mbedTLS whenever it says no (another CPU, another architecture, or
 * DCS_NO_SHA_NI set in the environment).  Pure C, no Lua types; internal
 * to the module (DCS_INTERNAL: LuaRocks builds without -fvisibility=hidden). */
#ifndef DCS_SHA256_H
#define DCS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "dcs_internal.h"

/* A hash in progress; plain data, so a struct copy clones it. */
typedef struct dcs_sha256 {
    uint32_t h[8];
    uint64_t len;                   /* bytes hashed so far */
    unsigned char block[64];        /* the first len % 64 bytes are pending */
} dcs_sha256;

/* 1 when this process hashes with the SHA extensions: the CPU has them
 * (SHA, SSSE3 and SSE4.1) and DCS_NO_SHA_NI is unset or empty.  Decided
 * once per process, thread-safely. */
DCS_INTERNAL int dcs_sha256_hw(void);

/* Only when dcs_sha256_hw() returned 1. */
DCS_INTERNAL void dcs_sha256_start(dcs_sha256 *s);
DCS_INTERNAL void dcs_sha256_update(dcs_sha256 *s, const void *p, size_t n);
/* Writes the digest and wipes s. */
DCS_INTERNAL void dcs_sha256_finish(dcs_sha256 *s, unsigned char out[32]);

#endif
