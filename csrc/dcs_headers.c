/* Response header block parser (dcs_headers.h). */
#include <string.h>

#include "dcs_headers.h"

static int is_blank(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* Field values and reason phrases: HTAB, SP, visible ASCII, obs-text. */
static int text_ok(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* One line from p: its length without the terminator, and where the next
 * one starts, or NULL when no LF is left.  A CR kept inside the line is a
 * bare CR, which the callers refuse as a control byte. */
static const char *next_line(const char *p, const char *end, size_t *n)
{
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    const char *e;
    if (lf == NULL)
        return NULL;
    e = lf;
    if (e > p && e[-1] == '\r')
        e--;
    *n = (size_t)(e - p);
    return lf + 1;
}

/* "HTTP/" DIGIT ["." DIGIT] SP 3DIGIT [SP reason] -> status, or -1. */
static int parse_status_line(const char *s, size_t n)
{
    size_t i = 5;
    if (n < 10 || memcmp(s, "HTTP/", 5) != 0 || !is_digit(s[i++]))
        return -1;
    if (s[i] == '.') {
        if (!is_digit(s[i + 1]))
            return -1;
        i += 2;
    }
    if (n < i + 4 || s[i] != ' ')
        return -1;
    i++;
    if (s[i] < '1' || s[i] > '9' || !is_digit(s[i + 1]) || !is_digit(s[i + 2]))
        return -1;
    if (n > i + 3 && (s[i + 3] != ' ' || !text_ok(s + i + 4, n - i - 4)))
        return -1;
    return (s[i] - '0') * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
}

/* name ":" OWS value OWS, the name a token right up to the colon. */
static int parse_field(const char *s, size_t n, dcs_str *name, dcs_str *value)
{
    size_t i = 0, vb, ve;
    while (i < n && s[i] != ':') {
        if (!dcs_http_tchar((unsigned char)s[i]))
            return 0;
        i++;
    }
    if (i == 0 || i == n)
        return 0;
    if (!text_ok(s + i + 1, n - i - 1))
        return 0;
    for (vb = i + 1; vb < n && is_blank((unsigned char)s[vb]); vb++)
        ;
    for (ve = n; ve > vb && is_blank((unsigned char)s[ve - 1]); ve--)
        ;
    name->ptr = s;
    name->len = i;
    value->ptr = s + vb;
    value->len = ve - vb;
    return 1;
}

int dcs_headers_parse(const char *block, size_t len, dcs_header_fn fn, void *ud)
{
    const char *p = block, *end, *next;
    size_t n, fields = 0;
    int status;

    if (block == NULL || len > DCS_HEADERS_MAX_BYTES)
        return -1;
    end = block + len;
    next = next_line(p, end, &n);
    if (next == NULL || (status = parse_status_line(p, n)) < 0)
        return -1;
    for (p = next; (next = next_line(p, end, &n)) != NULL; p = next) {
        dcs_str name, value;
        if (n == 0)             /* the blank line: it ends the block */
            return next == end ? status : -1;
        /* A line starting with a blank continues the previous one (obs-fold). */
        if (is_blank((unsigned char)p[0]) || ++fields > DCS_HEADERS_MAX_FIELDS)
            return -1;
        if (!parse_field(p, n, &name, &value))
            return -1;
        if (fn != NULL && !fn(ud, name, value))
            return -1;
    }
    return -1;                  /* no blank line */
}
