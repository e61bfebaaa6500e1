#include <stdlib.h>
#include <string.h>

#include "dcs_buf.h"

void dcs_buf_init(dcs_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

void dcs_buf_free(dcs_buf *b)
{
    free(b->data);
    dcs_buf_init(b);
}

void dcs_buf_reset(dcs_buf *b)
{
    b->len = 0;
    b->failed = 0;
}

int dcs_buf_reserve(dcs_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (b->failed)
        return 0;
    /* +1 keeps room for the NUL that dcs_buf_cstr() may add. */
    if (extra > (size_t)-1 - b->len - 1) {
        b->failed = 1;
        return 0;
    }
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 1;
    cap = b->cap ? b->cap : 256;        /* an HTTP head or an API answer, mostly */
    while (cap < need)
        cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
    p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = 1;
        return 0;
    }
    b->data = p;
    b->cap = cap;
    return 1;
}

void dcs_buf_add(dcs_buf *b, const void *p, size_t n)
{
    if (n == 0 || !dcs_buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void dcs_buf_addc(dcs_buf *b, char c)
{
    dcs_buf_add(b, &c, 1);
}

void dcs_buf_adds(dcs_buf *b, const char *s)
{
    dcs_buf_add(b, s, strlen(s));
}

const char *dcs_buf_cstr(dcs_buf *b)
{
    if (!dcs_buf_reserve(b, 0))
        return "";
    b->data[b->len] = '\0';
    return b->data;
}

int dcs_buf_ok(const dcs_buf *b)
{
    return !b->failed;
}

int dcs_str_ieq(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i;
    if (alen != blen)
        return 0;
    for (i = 0; i < alen; i++)
        if (dcs_ascii_lower((unsigned char)a[i]) != dcs_ascii_lower((unsigned char)b[i]))
            return 0;
    return 1;
}

void dcs_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}
