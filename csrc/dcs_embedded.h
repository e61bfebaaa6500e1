/* The Lua layer compiled into libdcs: the table tools/embed-lua generates
 * from lua/dcs/ (build/<LUA>/gen/dcs_lua.c) and csrc/embed.c reads. */
#ifndef DCS_EMBEDDED_H
#define DCS_EMBEDDED_H

#include <stddef.h>

#include "dcs_internal.h"

typedef struct dcs_embedded_module {
    const char *name;           /* "dcs", "dcs.client", "dcs.transport.curl", ... */
    const char *chunkname;      /* "@lua/dcs/client.lua" */
    const unsigned char *text;  /* the file's bytes, unchanged */
    size_t len;
} dcs_embedded_module;

/* Sorted by name; ends with a NULL name. */
DCS_INTERNAL extern const dcs_embedded_module dcs_embedded_modules[];

#endif
