/* What the binding files of dcs.core share. */
#ifndef DCS_LCORE_H
#define DCS_LCORE_H

#include <lua.h>

#include "dcs_file.h"
#include "dcs_internal.h"

/* Each adds its functions to the module table on top of the stack. */
DCS_INTERNAL void dcs_open_sign(lua_State *L);
DCS_INTERNAL void dcs_open_http(lua_State *L);
DCS_INTERNAL void dcs_open_engine(lua_State *L);
DCS_INTERNAL void dcs_open_util(lua_State *L);
DCS_INTERNAL void dcs_open_file(lua_State *L);
DCS_INTERNAL void dcs_open_signal(lua_State *L);

/* The dcs_file inside a dcs.core.file userdata at idx (open or closed),
 * else NULL.  Valid while that userdata stays referenced (on the stack). */
DCS_INTERNAL dcs_file *dcs_to_file(lua_State *L, int idx);

/* Option fields of a table argument at index t.  `who` names the function
 * in error messages; a wrong type is a programmer error and raises.
 *
 * dcs_field_string pushes the field and leaves it on the stack, so the
 * pointer stays valid until the caller pops it: a pointer into a table that
 * Lua code (a finalizer, say) may change is never kept.  It returns NULL
 * (with nil pushed) when the field is nil. */
DCS_INTERNAL const char *dcs_field_string(lua_State *L, int t, const char *name, size_t *len,
                                          const char *who);
/* A finite number within [min, max], or dflt when nil; pops what it read. */
DCS_INTERNAL double dcs_field_number(lua_State *L, int t, const char *name, double dflt,
                                     double min, double max, const char *who);

/* Pushes every key and value of the table at t, two slots per entry, and
 * returns the number of entries (0 for nil).  The first walk only counts
 * (more than max raise "who: too_many"), and the stack grows by what the
 * table holds, not by max: a coroutine's stack is not made large on every
 * call.  Growing it may allocate, and so run a finalizer that changes t;
 * nothing allocates during the second walk, and an entry beyond the count
 * raises "who: the <what> table changed while it was read".  Afterwards the
 * slots keep each string alive whatever happens to t. */
DCS_INTERNAL int dcs_push_entries(lua_State *L, int t, int max, const char *who, const char *what,
                                  const char *too_many);

#endif
