/* Parsing of an HTTP response header block as it arrives from the server:
 * the status line, the header lines, and the blank line that ends them.
 * Pure C, no Lua types; fuzzed on its own (tools/fuzz/fuzz_headers.c).
 *
 * Nothing in the block is trusted: a NUL, a bare CR, a line without a
 * colon, a name that is not an HTTP token, an obsolete folded line, more
 * than DCS_HEADERS_MAX_FIELDS fields or more than DCS_HEADERS_MAX_BYTES
 * bytes make the whole block malformed. */
#ifndef DCS_HEADERS_H
#define DCS_HEADERS_H

#include "dcs_internal.h"

#define DCS_HEADERS_MAX_FIELDS 200
#define DCS_HEADERS_MAX_BYTES (64 * 1024)

/* Called once per field, name as sent (not lower-cased), value without
 * leading and trailing blanks; return 0 to stop (the parse then fails). */
typedef int (*dcs_header_fn)(void *ud, dcs_str name, dcs_str value);

/* Returns the HTTP status (100..999) and calls fn for each field, or -1 when
 * the block is malformed (fn may have been called for earlier fields). */
DCS_INTERNAL int dcs_headers_parse(const char *block, size_t len, dcs_header_fn fn, void *ud);

#endif
