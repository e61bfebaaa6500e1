/* dcs_preload against the package library a host may have changed (make
 * embed-tests; spec/embed_spec.lua runs it).
 *
 *   preload
 *
 * Each case makes a state, runs its Lua setup, calls dcs_preload and then
 * `require "dcs"`.  dcs_preload's promise: it returns 0 with the stack as
 * it was and require "dcs" then finds the library's modules, or it returns
 * an error with its message pushed.  A case may also demand that
 * dcs_preload succeed (the package library is there and require can use
 * it).  Prints "ok CASE" or "not ok CASE: why" for each; exits 0 when every
 * case is ok. */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <dcs.h>

typedef struct preload_case {
    const char *name;
    const char *setup;          /* Lua run after luaL_openlibs, or NULL */
    int must_succeed;
} preload_case;

static const preload_case cases[] = {
    {"plain", NULL, 1},
    {"package.preload replaced by a new table", "package.preload = {}", 1},
    {"package.preload replaced by a proxy table",
     "package.preload = setmetatable({}, { __newindex = rawset })", 1},
    {"package.preload replaced by a number", "package.preload = 42", 0},
    {"global package removed", "package = nil", 1},
    {"package.loaded.package replaced", "package.loaded.package = 'x'", 0},
    {"package.preload refusing new fields",
     "setmetatable(package.preload, { __newindex = function() error('refused') end })", 0},
    {NULL, NULL, 0}
};

/* NULL when require "dcs" gives the library's version, else why not. */
static const char *require_dcs(lua_State *L)
{
    if (luaL_dostring(L, "return require('dcs')._VERSION") != 0)
        return lua_tostring(L, -1);
    if (!lua_isstring(L, -1))
        return "require('dcs')._VERSION is not a string";
    return NULL;
}

/* NULL when dcs_preload kept its promise in L (package library open). */
static const char *check_preload(lua_State *L, int must_succeed)
{
    int top = lua_gettop(L), rc = dcs_preload(L);

    if (rc != 0) {
        if (lua_gettop(L) != top + 1 || !lua_isstring(L, -1))
            return "failed without a message";
        return must_succeed ? lua_tostring(L, -1) : NULL;
    }
    if (lua_gettop(L) != top)
        return "succeeded with the stack changed";
    return require_dcs(L);
}

/* 1 when the case is ok; prints its line. */
static int run_case(const preload_case *c)
{
    lua_State *L = luaL_newstate();
    const char *why;

    luaL_openlibs(L);
    if (c->setup != NULL && luaL_dostring(L, c->setup) != 0)
        why = lua_tostring(L, -1);
    else
        why = check_preload(L, c->must_succeed);
    if (why != NULL)
        printf("not ok %s: %s\n", c->name, why);
    else
        printf("ok %s\n", c->name);
    lua_close(L);
    return why == NULL;
}

/* Before luaL_openlibs: an error with its message; after: works. */
static int before_openlibs(void)
{
    lua_State *L = luaL_newstate();
    const char *why = NULL;

    if (dcs_preload(L) == 0 || lua_gettop(L) != 1 || !lua_isstring(L, -1))
        why = "dcs_preload without the package library did not fail with a message";
    lua_settop(L, 0);
    luaL_openlibs(L);
    if (why == NULL)
        why = check_preload(L, 1);
    if (why == NULL && dcs_preload(L) != 0)
        why = "a second dcs_preload failed";
    if (why != NULL)
        printf("not ok before luaL_openlibs, then after, then twice: %s\n", why);
    else
        printf("ok before luaL_openlibs, then after, then twice\n");
    lua_close(L);
    return why == NULL;
}

int main(void)
{
    const preload_case *c;
    int ok = before_openlibs();

    for (c = cases; c->name != NULL; c++)
        ok &= run_case(c);
    return ok ? 0 : 1;
}
