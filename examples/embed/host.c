/* A C host embedding lua-dcs: a game-style loop at a fixed 60 Hz that runs
 * a Lua script each tick.  The script (examples/embed/game.lua) starts
 * run-log tasks and advances them with dcs.loop():step(0), which never
 * blocks; the host only keeps time and counts the ticks whose work did not
 * fit in its 1/60 s.
 *
 *   make embed-host            (links build/<LUA>/libdcs.a through pkg-config)
 *   build/lua5.4/embed/game-host SCRIPT [ARG...]
 *
 * SCRIPT runs once, with the global `arg` = { [0] = SCRIPT, ARG... }, and
 * returns a table whose tick(n) the host calls every tick; tick returns
 * true when the script is finished.  Then the host prints
 *   ticks N, overruns M, max overrun X ms, mean work Y ms, max work Z ms
 * and exits 0; 1 on a Lua error; 2 when DCS_HOST_MAX_TICKS ticks (3600: a
 * minute) passed first.  lua-dcs comes from the library alone: no Lua file
 * of it is read (lua-cjson still comes from package.cpath). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <dcs.h>

#define PERIOD_NS 16666667LL       /* 1/60 s */

typedef struct stats {
    long ticks, overruns;
    long long max_overrun, work_total, max_work;   /* ns */
} stats;

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_until(long long t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(t / 1000000000LL);
    ts.tv_nsec = (long)(t % 1000000000LL);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
        ;
}

/* The message handler of every call into Lua: the error with a traceback. */
static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
    return 1;
}

/* Calls the function under nargs arguments with a traceback; 0 or prints
 * the error and returns -1. */
static int call(lua_State *L, int nargs, int nresults)
{
    int base = lua_gettop(L) - nargs;
    int rc;
    lua_pushcfunction(L, traceback);
    lua_insert(L, base);
    rc = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    if (rc != 0) {
        fprintf(stderr, "game-host: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    return 0;
}

/* A state with lua-dcs preloaded and the script's table on top, or NULL. */
static lua_State *open_script(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    int i;

    if (L == NULL)
        return NULL;
    luaL_openlibs(L);
    if (dcs_preload(L) != 0) {                   /* the one call */
        fprintf(stderr, "game-host: %s\n", lua_tostring(L, -1));
        lua_close(L);
        return NULL;
    }
    lua_newtable(L);
    for (i = 1; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - 1);
    }
    lua_setglobal(L, "arg");
    if (luaL_loadfile(L, argv[1]) != 0) {
        fprintf(stderr, "game-host: %s\n", lua_tostring(L, -1));
        lua_close(L);
        return NULL;
    }
    if (call(L, 0, 1) != 0 || !lua_istable(L, -1)) {
        fprintf(stderr, "game-host: %s did not return a table\n", argv[1]);
        lua_close(L);
        return NULL;
    }
    return L;
}

/* script.tick(n): 1 when finished, 0 when not, -1 on an error. */
static int tick(lua_State *L, long n)
{
    int finished;
    lua_getfield(L, -1, "tick");
    lua_pushinteger(L, (lua_Integer)n);
    if (call(L, 1, 1) != 0)
        return -1;
    finished = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return finished;
}

static void account(stats *s, long long start, long long end, long long deadline)
{
    long long work = end - start;
    s->ticks++;
    s->work_total += work;
    if (work > s->max_work)
        s->max_work = work;
    if (end > deadline) {
        s->overruns++;
        if (end - deadline > s->max_overrun)
            s->max_overrun = end - deadline;
    }
}

int main(int argc, char **argv)
{
    const char *max_env = getenv("DCS_HOST_MAX_TICKS");
    long max_ticks = max_env ? atol(max_env) : 3600;
    stats s = {0, 0, 0, 0, 0};
    lua_State *L;
    long long deadline;
    int finished = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: game-host SCRIPT [ARG...]\n");
        return 2;
    }
    L = open_script(argc, argv);
    if (L == NULL)
        return 1;
    deadline = now_ns() + PERIOD_NS;
    while (!finished && s.ticks < max_ticks) {
        long long start = now_ns(), end;
        finished = tick(L, s.ticks + 1);
        end = now_ns();
        account(&s, start, end, deadline);
        if (finished < 0)
            break;
        if (end > deadline)
            deadline = end;                      /* overran: the next tick starts now */
        else
            sleep_until(deadline);
        deadline += PERIOD_NS;
    }
    printf("ticks %ld, overruns %ld, max overrun %.3f ms, mean work %.3f ms, max work %.3f ms\n",
           s.ticks, s.overruns, s.max_overrun / 1e6, s.ticks ? s.work_total / 1e6 / s.ticks : 0.0,
           s.max_work / 1e6);
    lua_close(L);                                /* ends whatever is still in flight */
    return finished < 0 ? 1 : finished ? 0 : 2;
}
