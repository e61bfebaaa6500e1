/* lua_close on a state whose tasks and transfers are still in flight
 * (make embed-tests; spec/embed_spec.lua runs it, tools/check again under
 * valgrind).
 *
 *   lifetime SCRIPT [ARG...]
 *
 * The state allocates through a counting allocator.  SCRIPT
 * (spec/embed/lifetime.lua, given the ARGs) starts tasks, steps the loop
 * until they are where it wants them (a download receiving, link calls
 * waiting on the server) and returns a line saying so; then lua_close must
 * end them all and give back every byte it took.  Prints that line and
 *   after lua_close: B bytes in N blocks (peak P bytes)
 * and exits 0 only when B and N are 0.  A Lua whose lua_newstate refuses
 * an allocator of the host's (LuaJIT built without GC64 on x86-64) runs
 * with its own and prints "after lua_close: not counted". */
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <dcs.h>

typedef struct counter {
    long long bytes, peak;
    long blocks;
} counter;

static void *count_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    counter *c = ud;
    void *p;

    if (ptr == NULL)
        osize = 0;              /* Lua 5.4 passes the object's type there */
    if (nsize == 0) {
        if (ptr != NULL) {
            c->blocks--;
            c->bytes -= (long long)osize;
        }
        free(ptr);
        return NULL;
    }
    p = realloc(ptr, nsize);
    if (p == NULL)
        return NULL;
    if (ptr == NULL)
        c->blocks++;
    c->bytes += (long long)nsize - (long long)osize;
    if (c->bytes > c->peak)
        c->peak = c->bytes;
    return p;
}

static int panic(lua_State *L)
{
    fprintf(stderr, "lifetime: panic: %s\n", lua_tostring(L, -1));
    return 0;
}

/* Runs the script with argv[2...] as its arguments; 0 or -1. */
static int run(lua_State *L, int argc, char **argv)
{
    int i;
    if (dcs_preload(L) != 0 || luaL_loadfile(L, argv[1]) != 0) {
        fprintf(stderr, "lifetime: %s\n", lua_tostring(L, -1));
        return -1;
    }
    for (i = 2; i < argc; i++)
        lua_pushstring(L, argv[i]);
    if (lua_pcall(L, argc - 2, 1, 0) != 0) {
        fprintf(stderr, "lifetime: %s\n", lua_tostring(L, -1));
        return -1;
    }
    printf("%s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
    return 0;
}

int main(int argc, char **argv)
{
    counter c = {0, 0, 0};
    lua_State *L;
    int counted = 1, rc;

    if (argc < 2) {
        fprintf(stderr, "usage: lifetime SCRIPT [ARG...]\n");
        return 2;
    }
    L = lua_newstate(count_alloc, &c);
    if (L == NULL) {
        counted = 0;
        L = luaL_newstate();
        if (L == NULL)
            return 1;
    }
    lua_atpanic(L, panic);
    luaL_openlibs(L);
    rc = run(L, argc, argv);
    lua_close(L);
    if (!counted) {
        printf("after lua_close: not counted (this Lua refuses the host's allocator)\n");
        return rc == 0 ? 0 : 1;
    }
    printf("after lua_close: %lld bytes in %ld blocks (peak %lld bytes)\n", c.bytes, c.blocks, c.peak);
    return rc == 0 && c.bytes == 0 && c.blocks == 0 ? 0 : 1;
}
