/* Growable byte buffer shared by the signer and the HTTP layer.
 * Allocation failure is sticky: every append after it is a no-op and
 * dcs_buf_ok() reports it once, at the end, instead of after every call. */
#ifndef DCS_BUF_H
#define DCS_BUF_H

#include <stddef.h>

#include "dcs_internal.h"

typedef struct dcs_buf {
    char *data;
    size_t len;
    size_t cap;
    int failed;
} dcs_buf;

#define DCS_BUF_INIT {NULL, 0, 0, 0}

DCS_INTERNAL void dcs_buf_init(dcs_buf *b);
DCS_INTERNAL void dcs_buf_free(dcs_buf *b);
DCS_INTERNAL void dcs_buf_reset(dcs_buf *b);                 /* keep memory, drop content */
DCS_INTERNAL int  dcs_buf_reserve(dcs_buf *b, size_t extra);
DCS_INTERNAL void dcs_buf_add(dcs_buf *b, const void *p, size_t n);
DCS_INTERNAL void dcs_buf_addc(dcs_buf *b, char c);
DCS_INTERNAL void dcs_buf_adds(dcs_buf *b, const char *s);   /* NUL-terminated */
DCS_INTERNAL const char *dcs_buf_cstr(dcs_buf *b);           /* NUL-terminates, "" when empty */
DCS_INTERNAL int  dcs_buf_ok(const dcs_buf *b);

#endif
