/* What the binding files of dcs.core share. */
#ifndef DCS_LCORE_H
#define DCS_LCORE_H

#include <lua.h>

#include "dcs_buf.h"

/* Each adds its functions to the module table on top of the stack. */
DCS_INTERNAL void dcs_open_sign(lua_State *L);
DCS_INTERNAL void dcs_open_http(lua_State *L);
DCS_INTERNAL void dcs_open_util(lua_State *L);

#endif
