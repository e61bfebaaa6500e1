/* Lua binding of the multi engine (dcs_engine.c):
 *
 *   core.engine{ max_connections = 64, max_host_connections = 0 (no cap),
 *                multiplex = true } -> engine
 *   engine:start(req, opts) -> transfer    req as handle:request's, opts the
 *                                          network options core.http takes
 *   engine:step(timeout_seconds [, budget_seconds])
 *                           -> how many transfers finished meanwhile
 *   engine:fds() -> { { fd =, read =, write = }, ... }
 *   engine:timeout() -> seconds until it wants a step, nil without a timer
 *   engine:running() -> transfers in flight
 *   engine:close(), __gc, __close -> true;  engine:closed() -> whether it was closed
 *   transfer:done(), :result() (what handle:request returns), :cancel(), :id()
 *
 * Transfers make progress only inside step, whose thread runs the sink
 * callbacks (under lua_pcall, lreq.c); no lua_State is kept past the call
 * that passed it.
 *
 * Lifetime.  Both userdata are safe before their C object exists; close,
 * __gc and __close share one idempotent destroy.  The engine's user value
 * is its live table, lightuserdata(transfer) -> transfer, holding each
 * transfer from its start until its done notice is taken after a step (or
 * a cancel or close outside one): the engine keeps running transfers alive,
 * never finished ones.  A transfer's user value is its anchor (lreq.h),
 * whose DCS_A_OWNER slot holds the engine: a transfer keeps its engine
 * alive.  A close from a sink callback ends every transfer at once, and
 * the rest (libcurl's cleanup, the engine's free) waits for the step to
 * return. */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "compat.h"
#include "dcs_engine.h"
#include "lcore.h"
#include "lreq.h"

#define ENGINE_MT "dcs.core.engine"
#define TRANSFER_MT "dcs.core.transfer"
#define RESPONSE_MT "dcs.core.transfer.response"
#define WHO "dcs.core.engine"
#define MAX_SECONDS 1e6

typedef struct lengine {
    dcs_engine *e;              /* NULL before it exists and once destroyed */
    dcs_lhost host;             /* host.L: step's thread, only while it runs */
    int stepping;
    int free_pending;           /* closed during a step: freed when it returns */
    lua_Integer next_id;
} lengine;

typedef struct ltransfer {
    dcs_lreq c;                 /* its address is the transfer's ud and live key */
    dcs_transfer *t;            /* NULL before the start and once released */
    lua_Integer id;
    int never_ran;              /* started on a closed engine */
} ltransfer;

static lengine *check_engine(lua_State *L)
{
    return (lengine *)luaL_checkudata(L, 1, ENGINE_MT);
}

static ltransfer *check_transfer(lua_State *L)
{
    return (ltransfer *)luaL_checkudata(L, 1, TRANSFER_MT);
}

/* The engine userdata at idx, else NULL (luaL_testudata is not in 5.1). */
static lengine *to_engine(lua_State *L, int idx)
{
    void *p = lua_touserdata(L, idx);
    int same;
    if (p == NULL || !lua_getmetatable(L, idx))
        return NULL;
    luaL_getmetatable(L, ENGINE_MT);
    same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same ? (lengine *)p : NULL;
}

/* The callbacks' way to a transfer's anchor during step: the engine at
 * `frame` (step's self), its live table, the transfer, its user value.
 * Nothing here allocates. */
static void anchor_of_live(lua_State *L, int frame, dcs_lreq *c)
{
    dcs_getuservalue(L, frame);
    lua_pushlightuserdata(L, c);
    lua_rawget(L, -2);
    if (lua_type(L, -1) == LUA_TUSERDATA)
        dcs_getuservalue(L, -1);
    else
        lua_pushnil(L);
    lua_replace(L, -3);
    lua_pop(L, 1);
}

/* Drops the finished transfers from the live table of the engine at idx
 * (an existing key set to nil: no allocation). */
static void drain(lua_State *L, lengine *le, int idx)
{
    void *ud;
    if (le->e == NULL)
        return;
    dcs_getuservalue(L, idx);
    while (dcs_engine_take_done(le->e, &ud)) {
        lua_pushlightuserdata(L, ud);
        lua_pushnil(L);
        lua_rawset(L, -3);
    }
    lua_pop(L, 1);
}

/* Ends every transfer in flight; frees the engine unless a step runs. */
static void destroy(lua_State *L, lengine *le, int idx)
{
    if (le->e == NULL)
        return;
    dcs_engine_close(le->e);
    if (le->stepping) {
        le->free_pending = 1;
        return;
    }
    drain(L, le, idx);
    dcs_engine_free(le->e);
    le->e = NULL;
    le->free_pending = 0;
}

/* close, __gc and __close. */
static int engine_close(lua_State *L)
{
    destroy(L, check_engine(L), 1);
    lua_pushboolean(L, 1);
    return 1;
}

/* Whether close (or __gc, __close) ran: its transfers ended, later starts
 * come back done with kind "closed". */
static int is_closed(const lengine *le)
{
    return le->e == NULL || le->free_pending;
}

static int engine_closed(lua_State *L)
{
    lua_pushboolean(L, is_closed(check_engine(L)));
    return 1;
}

static int engine_tostring(lua_State *L)
{
    lengine *le = check_engine(L);
    lua_pushfstring(L, "dcs.core.engine (%s) %p", is_closed(le) ? "closed" : "open", (void *)le);
    return 1;
}

static long count_field(lua_State *L, const char *name, double dflt)
{
    double v = dcs_field_number(L, 1, name, dflt, 0, 1e6, WHO);
    if (v != floor(v))
        luaL_error(L, WHO ": '%s' must be a whole number", name);
    return (long)v;
}

/* core.engine{ max_connections = 64, max_host_connections = 0, multiplex = true } */
static int engine_new(lua_State *L)
{
    dcs_engine_config cfg;
    lengine *le;

    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    cfg.max_connections = count_field(L, "max_connections", 64);
    cfg.max_host_connections = count_field(L, "max_host_connections", 0);
    lua_getfield(L, 1, "multiplex");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TBOOLEAN)
        return luaL_error(L, WHO ": 'multiplex' must be a boolean");
    cfg.multiplex = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_pop(L, 1);
    le = dcs_newuserdata_uv(L, sizeof *le);
    memset(le, 0, sizeof *le);
    luaL_getmetatable(L, ENGINE_MT);
    lua_setmetatable(L, -2);
    lua_newtable(L);
    dcs_setuservalue(L, -2);
    le->host.frame = 1;
    le->host.push_anchor = anchor_of_live;
    le->e = dcs_engine_new(&cfg);
    if (le->e == NULL)
        return luaL_error(L, WHO ": cannot create a libcurl multi handle");
    return 1;
}

/* live[lt] = the transfer at idx, or nil. */
static void set_live(lua_State *L, ltransfer *lt, int idx)
{
    dcs_getuservalue(L, 1);
    lua_pushlightuserdata(L, lt);
    if (idx != 0)
        lua_pushvalue(L, idx);
    else
        lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

/* Stack slots of engine:start(req, opts). */
enum { T_ENGINE = 1, T_REQ, T_OPTS, T_TRANSFER, T_ANCHOR };

/* engine:start(req, opts) -> transfer: req as handle:request's, opts the
 * network options core.http takes.  A mistake in either raises. */
static int engine_start(lua_State *L)
{
    lengine *le = check_engine(L);
    dcs_http_config cfg;
    ltransfer *lt;

    luaL_checktype(L, T_REQ, LUA_TTABLE);
    if (!lua_isnoneornil(L, T_OPTS))
        luaL_checktype(L, T_OPTS, LUA_TTABLE);
    lua_settop(L, T_OPTS);
    if (lua_isnil(L, T_OPTS)) {
        lua_newtable(L);
        lua_replace(L, T_OPTS);
    }
    lt = dcs_newuserdata_uv(L, sizeof *lt);
    memset(lt, 0, sizeof *lt);
    luaL_getmetatable(L, TRANSFER_MT);
    lua_setmetatable(L, T_TRANSFER);
    dcs_lreq_anchor(L);
    lua_pushvalue(L, T_ENGINE);
    lua_rawseti(L, T_ANCHOR, DCS_A_OWNER);
    lua_pushvalue(L, T_ANCHOR);
    dcs_setuservalue(L, T_TRANSFER);
    dcs_lreq_read(L, T_REQ, T_ANCHOR, &lt->c, WHO);
    dcs_lreq_config(L, T_OPTS, &cfg, WHO);  /* its strings stay on the stack */
    lt->id = ++le->next_id;
    lt->c.host = &le->host;
    set_live(L, lt, T_TRANSFER);
    /* Lua code may have run until here (metamethods, finalizers); from the
     * check to the start none does, so le->e is current. */
    if (le->e == NULL) {
        lt->never_ran = 1;
        set_live(L, lt, 0);
    } else if ((lt->t = dcs_engine_start(le->e, &cfg, &lt->c.req)) == NULL) {
        set_live(L, lt, 0);
        return luaL_error(L, WHO ": out of memory");
    } else if (!le->stepping) {
        drain(L, le, T_ENGINE);         /* a transfer that could not run is done already */
    }
    lua_settop(L, T_TRANSFER);
    return 1;
}

/* engine:step(timeout_seconds [, budget_seconds]) -> how many transfers
 * finished meanwhile.  A budget bounds the time spent on ready descriptors
 * (dcs_engine_step); none: all of them. */
static int engine_step(lua_State *L)
{
    lengine *le = check_engine(L);
    double s = luaL_optnumber(L, 2, 0), budget = luaL_optnumber(L, 3, -1);
    int n;

    luaL_argcheck(L, s >= 0 && s <= MAX_SECONDS, 2, "timeout must be from 0 to 1e6 seconds");
    luaL_argcheck(L, budget == -1 || (budget >= 0 && budget <= MAX_SECONDS), 3,
                  "budget must be from 0 to 1e6 seconds");
    if (le->stepping)
        return luaL_error(L, WHO ": step called from inside a sink callback of this engine");
    if (le->e == NULL) {
        lua_pushinteger(L, 0);
        return 1;
    }
    lua_settop(L, 1);
    /* The callbacks push a few values: grow the stack now, where an error
     * can still be raised. */
    luaL_checkstack(L, 16, WHO);
    le->host.L = L;
    le->stepping = 1;
    /* 1e6 s is 1e12 us: more than a 32-bit long holds, so clamped there */
    n = dcs_engine_step(le->e, (long)ceil(s * 1000.0),
                        budget < 0 ? -1 : budget * 1e6 >= (double)LONG_MAX ? LONG_MAX : (long)(budget * 1e6));
    le->stepping = 0;
    le->host.L = NULL;
    drain(L, le, 1);
    if (le->free_pending)
        destroy(L, le, 1);
    lua_pushinteger(L, n > 0 ? n : 0);
    return 1;
}

/* engine:fds() -> { { fd = n, read = bool, write = bool }, ... } */
static int engine_fds(lua_State *L)
{
    lengine *le = check_engine(L);
    dcs_engine_fd *fds = NULL;
    size_t n, room = 0, i;

    lua_settop(L, 1);
    /* The allocation may run a finalizer that closes the engine, or steps
     * it and so changes its descriptors: they are read again until they
     * fit in the room made for them. */
    while ((n = le->e != NULL ? dcs_engine_fds(le->e, fds, room) : 0) > room) {
        lua_settop(L, 1);
        fds = dcs_newuserdata(L, n * sizeof *fds);
        room = n;
    }
    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        lua_createtable(L, 0, 3);
        lua_pushinteger(L, fds[i].fd);
        lua_setfield(L, -2, "fd");
        lua_pushboolean(L, fds[i].events & DCS_ENGINE_READ);
        lua_setfield(L, -2, "read");
        lua_pushboolean(L, fds[i].events & DCS_ENGINE_WRITE);
        lua_setfield(L, -2, "write");
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

/* engine:timeout() -> seconds until the engine wants a step (0: now), nil
 * when it has no timer (nothing in flight, or only descriptors to wait on). */
static int engine_timeout(lua_State *L)
{
    lengine *le = check_engine(L);
    long ms = le->e != NULL ? dcs_engine_timeout(le->e) : -1;
    if (ms < 0)
        lua_pushnil(L);
    else
        lua_pushnumber(L, (lua_Number)ms / 1000.0);
    return 1;
}

static int engine_running(lua_State *L)
{
    lengine *le = check_engine(L);
    lua_pushinteger(L, le->e != NULL ? (lua_Integer)dcs_engine_running(le->e) : 0);
    return 1;
}

/* ---- transfers ---- */

static int is_done(const ltransfer *lt)
{
    return lt->t == NULL || dcs_transfer_done(lt->t);
}

static int transfer_done(lua_State *L)
{
    lua_pushboolean(L, is_done(check_transfer(L)));
    return 1;
}

static int response_gc(lua_State *L)
{
    dcs_http_response_free(luaL_checkudata(L, 1, RESPONSE_MT));
    return 0;
}

/* The response of the done transfer whose anchor is at 2, pushed: moved at
 * the first result into a userdata the anchor keeps, since a finalizer run
 * while a result is built may release the transfer (its __gc), never that.
 * NULL when there is none (the engine was closed before the start, or the
 * transfer was released first). */
static const dcs_http_response *push_response(lua_State *L, ltransfer *lt)
{
    dcs_http_response *res;

    lua_rawgeti(L, 2, DCS_A_RESPONSE);
    if (lua_type(L, -1) == LUA_TUSERDATA)
        return lua_touserdata(L, -1);
    if (lt->t == NULL)
        return NULL;
    res = dcs_newuserdata(L, sizeof *res);
    dcs_http_response_init(res);
    luaL_getmetatable(L, RESPONSE_MT);
    lua_setmetatable(L, -2);
    if (lt->t == NULL)          /* released by a finalizer the allocation ran */
        return NULL;
    *res = *dcs_transfer_response(lt->t);
    dcs_http_response_init(dcs_transfer_response(lt->t));
    lua_pushvalue(L, -1);
    lua_rawseti(L, 2, DCS_A_RESPONSE);
    return res;
}

/* transfer:result() -> what handle:request returns; raises before done. */
static int transfer_result(lua_State *L)
{
    ltransfer *lt = check_transfer(L);
    const dcs_http_response *res;

    if (!is_done(lt))
        return luaL_error(L, WHO ": the transfer is not done (step its engine)");
    lua_settop(L, 1);
    dcs_getuservalue(L, 1);
    if ((res = push_response(L, lt)) == NULL)
        return dcs_lreq_failure(L, "closed", "closed", "the engine is closed");
    return dcs_lreq_result(L, &lt->c, res, 2);
}

/* transfer:cancel(): kind "closed", reason "cancelled"; a no-op when done. */
static int transfer_cancel(lua_State *L)
{
    ltransfer *lt = check_transfer(L);
    lengine *le;

    lua_settop(L, 1);
    if (!is_done(lt)) {
        dcs_transfer_cancel(lt->t);
        /* Out of the live table now, unless a step runs (it drains after). */
        dcs_getuservalue(L, 1);
        lua_rawgeti(L, 2, DCS_A_OWNER);
        le = to_engine(L, 3);
        if (le != NULL && !le->stepping)
            drain(L, le, 3);
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int transfer_id(lua_State *L)
{
    lua_pushinteger(L, check_transfer(L)->id);
    return 1;
}

/* __gc: a transfer still running (its engine is being collected too) is
 * cancelled first. */
static int transfer_gc(lua_State *L)
{
    ltransfer *lt = check_transfer(L);
    if (lt->t != NULL) {
        dcs_transfer_release(lt->t);
        lt->t = NULL;
    }
    return 0;
}

static int transfer_tostring(lua_State *L)
{
    ltransfer *lt = check_transfer(L);
    lua_pushfstring(L, "dcs.core.transfer #%d (%s)", (int)lt->id,
                    is_done(lt) ? "done" : "running");
    return 1;
}

static const luaL_Reg engine_methods[] = {
    {"start", engine_start},
    {"step", engine_step},
    {"fds", engine_fds},
    {"timeout", engine_timeout},
    {"running", engine_running},
    {"close", engine_close},
    {"closed", engine_closed},
    {NULL, NULL}
};

static const luaL_Reg engine_metamethods[] = {
    {"__gc", engine_close},
    {"__close", engine_close},
    {"__tostring", engine_tostring},
    {NULL, NULL}
};

static const luaL_Reg transfer_methods[] = {
    {"done", transfer_done},
    {"result", transfer_result},
    {"cancel", transfer_cancel},
    {"id", transfer_id},
    {NULL, NULL}
};

static const luaL_Reg transfer_metamethods[] = {
    {"__gc", transfer_gc},
    {"__tostring", transfer_tostring},
    {NULL, NULL}
};

static void new_class(lua_State *L, const char *name, const luaL_Reg *meta,
                      const luaL_Reg *methods)
{
    if (luaL_newmetatable(L, name)) {
        dcs_setfuncs(L, meta, 0);
        lua_newtable(L);
        dcs_setfuncs(L, methods, 0);
        lua_setfield(L, -2, "__index");
        lua_pushstring(L, name);
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
}

void dcs_open_engine(lua_State *L)
{
    new_class(L, ENGINE_MT, engine_metamethods, engine_methods);
    new_class(L, TRANSFER_MT, transfer_metamethods, transfer_methods);
    if (luaL_newmetatable(L, RESPONSE_MT)) {
        lua_pushcfunction(L, response_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, engine_new);
    lua_setfield(L, -2, "engine");
}
