/* Parsing of an HTTP response header block as it arrives from the server:
 * the status line, the header lines, and the blank line that ends them.
 * Pure C, no Lua types; fuzzed on its own (tools/fuzz/fuzz_headers.c).
 *
 * Lines end with CRLF or a bare LF (RFC 9112 2.2 lets a recipient accept
 * both; libcurl does).  Nothing in the block is trusted: a NUL or another
 * control byte (HTAB aside), a bare CR, a line without a colon, a name that
 * is not an HTTP token or has blanks before its colon, an obsolete folded
 * line, a missing blank line or bytes after it, more than
 * DCS_HEADERS_MAX_FIELDS fields or more than DCS_HEADERS_MAX_BYTES bytes
 * make the whole block malformed.
 *
 * The status line is "HTTP/" DIGIT ["." DIGIT] SP 3DIGIT [SP reason], the
 * status from 100 to 999 (libcurl writes "HTTP/2 200" for HTTP/2). */
#ifndef DCS_HEADERS_H
#define DCS_HEADERS_H

#include "dcs_internal.h"

#define DCS_HEADERS_MAX_FIELDS 200
#define DCS_HEADERS_MAX_BYTES (64 * 1024)

/* Called once per field, name as sent (not lower-cased), value without
 * leading and trailing blanks; return 0 to stop (the parse then fails). */
typedef int (*dcs_header_fn)(void *ud, dcs_str name, dcs_str value);

/* Returns the HTTP status (100..999) and calls fn (unless NULL: then the
 * block is only checked) for each field, or -1 when the block is malformed
 * (fn may have been called for earlier fields). */
DCS_INTERNAL int dcs_headers_parse(const char *block, size_t len, dcs_header_fn fn, void *ud);

/* 1 when c may appear in an HTTP token (RFC 9110 5.6.2), a field name.
 * Inline: the request checks run it over every byte of every header name. */
static inline int dcs_http_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return 1;
    default:
        return 0;
    }
}

#endif
