/* dcs_preload (include/dcs.h): package.preload entries for dcs.core and for
 * every module of the Lua layer compiled in (csrc/dcs_embedded.h, the
 * table tools/embed-lua generates from lua/dcs/).  Only in libdcs
 * (make embed), never in dcs/core.so; the one symbol libdcs exports. */
#include "compat.h"
#include "dcs_embedded.h"
#include "../include/dcs.h"

int luaopen_dcs_core(lua_State *L);

/* What require calls for an embedded module: loads its text under its
 * chunk name and runs it with the arguments a file searcher would give
 * (the module name and where it came from). */
static int load_module(lua_State *L)
{
    const dcs_embedded_module *m = lua_touserdata(L, lua_upvalueindex(1));

    if (luaL_loadbuffer(L, (const char *)m->text, m->len, m->chunkname) != 0)
        return lua_error(L);
    lua_pushstring(L, m->name);
    lua_pushstring(L, m->chunkname + 1);
    lua_call(L, 2, 1);
    return 1;
}

#define NOT_OPEN "dcs_preload: the package library is not open (luaL_openlibs first)"

/* Pushes the table require's preload searcher reads.  In Lua 5.3 and
 * 5.4, the registry's LUA_PRELOAD_TABLE, whatever package.preload holds
 * now (it is only that table's first value); in LuaJIT, package.preload,
 * read at each require. */
static void push_preload(lua_State *L)
{
#ifdef LUA_PRELOAD_TABLE
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    if (!lua_istable(L, -1))
        luaL_error(L, NOT_OPEN);
#else
    lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
    if (lua_istable(L, -1))
        lua_getfield(L, -1, "package");
    if (!lua_istable(L, -1))
        luaL_error(L, NOT_OPEN);
    lua_getfield(L, -1, "preload");
    if (!lua_istable(L, -1))
        luaL_error(L, "dcs_preload: package.preload is not a table");
#endif
}

/* Under a protected call: the preload table, filled. */
static int preload_all(lua_State *L)
{
    const dcs_embedded_module *m;

#if LUA_VERSION_NUM >= 502
    luaL_checkversion(L);
#endif
    push_preload(L);
    lua_pushcfunction(L, luaopen_dcs_core);
    lua_setfield(L, -2, "dcs.core");
    for (m = dcs_embedded_modules; m->name != NULL; m++) {
        lua_pushlightuserdata(L, (void *)m);
        lua_pushcclosure(L, load_module, 1);
        lua_setfield(L, -2, m->name);
    }
    return 0;
}

DCS_EXPORT int dcs_preload(lua_State *L)
{
    if (!lua_checkstack(L, 2))
        return LUA_ERRMEM;
#if LUA_VERSION_NUM < 502
    return lua_cpcall(L, preload_all, NULL);
#else
    lua_pushcfunction(L, preload_all);
    return lua_pcall(L, 0, 0, 0);
#endif
}
