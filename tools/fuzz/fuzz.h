/* What every fuzz target shares.  Define FUZZ_NAME (the target's name,
 * for the failure line) before including it; FUZZ_FIELDS too for the
 * field splitter, which needs dcs_str (dcs_buf.h) and SEP. */
#ifndef FUZZ_H
#define FUZZ_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An invariant: a failure names the target and the line, then aborts. */
#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, FUZZ_NAME ": invariant failed at line %d: %s\n", __LINE__, \
                    #cond);                                                             \
            abort();                                                                    \
        }                                                                               \
    } while (0)

#ifdef FUZZ_FIELDS
/* The input cut into fields at each SEP byte, taken one at a time. */
typedef struct fields {
    const char *p;
    size_t n;
} fields;

static inline dcs_str next_field(fields *f)
{
    dcs_str s;
    const char *sep = f->n ? memchr(f->p, SEP, f->n) : NULL;
    s.ptr = f->p;
    s.len = sep ? (size_t)(sep - f->p) : f->n;
    f->p += s.len + (sep != NULL);
    f->n -= s.len + (sep != NULL);
    return s;
}
#endif

#endif
