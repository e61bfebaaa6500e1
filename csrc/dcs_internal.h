/* What every pure-C file of the core shares, with no Lua in sight: the
 * visibility marker and the few byte helpers each would otherwise redefine.
 * The signer, its unit tests and the fuzzers include this, never a Lua
 * header. */
#ifndef DCS_INTERNAL_H
#define DCS_INTERNAL_H

#include <stddef.h>

#if defined(__GNUC__)
#define DCS_INTERNAL __attribute__((visibility("hidden")))
#else
#define DCS_INTERNAL
#endif

/* A byte string that need not be NUL-terminated. */
typedef struct dcs_str {
    const char *ptr;
    size_t len;
} dcs_str;

static inline unsigned char dcs_ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Case-insensitive (ASCII) equality of two byte strings. */
DCS_INTERNAL int dcs_str_ieq(const char *a, size_t alen, const char *b, size_t blen);
/* Lower-case hex of n bytes into out (2n characters and a NUL). */
DCS_INTERNAL void dcs_hex_encode(const unsigned char *in, size_t n, char *out);

#endif
