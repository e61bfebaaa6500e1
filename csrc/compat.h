/* Every difference between the Lua C APIs we build for (5.1/LuaJIT, 5.2,
 * 5.3, 5.4) lives here, so the rest of the code is written for 5.4. */
#ifndef DCS_COMPAT_H
#define DCS_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502
#define lua_rawlen(L, i) lua_objlen((L), (i))

/* LuaJIT has luaL_setfuncs but PUC 5.1 does not: use our own everywhere.
 * static inline: not every file uses every shim. */
static inline void dcs_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
    luaL_checkstack(L, nup + 1, "too many upvalues");
    for (; l->name != NULL; l++) {
        int i;
        for (i = 0; i < nup; i++)
            lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}
#else
#define dcs_setfuncs luaL_setfuncs
#endif

#if LUA_VERSION_NUM < 503
/* The range test comes first: casting NaN, an infinity or anything outside
 * [-2^63, 2^63) to long long is undefined. */
static inline int dcs_isinteger(lua_State *L, int i)
{
    lua_Number n = lua_tonumber(L, i);
    return lua_type(L, i) == LUA_TNUMBER && n >= -9223372036854775808.0 &&
           n < 9223372036854775808.0 && n == (lua_Number)(long long)n;
}
#define dcs_tointeger(L, i) ((long long)lua_tonumber((L), (i)))
#else
#define dcs_isinteger(L, i) lua_isinteger((L), (i))
#define dcs_tointeger(L, i) ((long long)lua_tointeger((L), (i)))
#endif

#if LUA_VERSION_NUM < 504
#define dcs_newuserdata(L, size) lua_newuserdata((L), (size))
#else
#define dcs_newuserdata(L, size) lua_newuserdatauv((L), (size), 0)
#endif

/* A userdata with one user value, always a table (5.1 and LuaJIT accept
 * nothing else): dcs_setuservalue pops the table on top into the userdata
 * at idx, dcs_getuservalue pushes it.  Neither allocates. */
#if LUA_VERSION_NUM < 502
#define dcs_newuserdata_uv(L, size) lua_newuserdata((L), (size))
#define dcs_setuservalue(L, idx) lua_setfenv((L), (idx))
#define dcs_getuservalue(L, idx) lua_getfenv((L), (idx))
#elif LUA_VERSION_NUM < 504
#define dcs_newuserdata_uv(L, size) lua_newuserdata((L), (size))
#define dcs_setuservalue(L, idx) lua_setuservalue((L), (idx))
#define dcs_getuservalue(L, idx) ((void)lua_getuservalue((L), (idx)))
#else
#define dcs_newuserdata_uv(L, size) lua_newuserdatauv((L), (size), 1)
#define dcs_setuservalue(L, idx) ((void)lua_setiuservalue((L), (idx), 1))
#define dcs_getuservalue(L, idx) ((void)lua_getiuservalue((L), (idx), 1))
#endif

#if defined(__GNUC__)
#define DCS_EXPORT __attribute__((visibility("default")))
#else
#define DCS_EXPORT
#endif

#endif
