/* Lua binding of the blocking libcurl transport: dcs.core.http(opts)
 * returns a handle with :request(req), :close(), __gc and __close.
 *
 * Lifetime: the userdata is NULL-safe before libcurl exists, and close,
 * __gc and __close share one idempotent destroy.  A close requested from
 * inside a callback is deferred until the transfer unwinds.
 *
 * One request runs over fixed stack slots (enum below): the anchor table
 * (lreq.h) holding every Lua value the request needs, and the call state.
 * Reading the request, the sink's callbacks and the result table are
 * lreq.c's, shared with engine:start; the transfer runs to completion on
 * the handle's own engine (dcs_http_perform). */
#include <string.h>

#include "compat.h"
#include "dcs_http.h"
#include "lcore.h"
#include "lreq.h"

#define HTTP_MT "dcs.core.http"
#define CALL_MT "dcs.core.http.call"
#define WHO "dcs.core.http"

typedef struct lhttp {
    dcs_http *h;
    int busy;                   /* inside dcs_http_perform */
    int close_pending;
} lhttp;

/* Stack slots of handle:request(req). */
enum { S_HANDLE = 1, S_REQ, S_ANCHOR, S_CALL };

typedef struct call {
    dcs_lreq c;
    dcs_lhost host;             /* the callbacks' way to the anchor */
    dcs_http_response res;
} call;

static void destroy(lhttp *u)
{
    if (u->h != NULL) {
        dcs_http_free(u->h);
        u->h = NULL;
    }
}

static lhttp *check_http(lua_State *L)
{
    return (lhttp *)luaL_checkudata(L, 1, HTTP_MT);
}

/* close, __gc and __close. */
static int http_close(lua_State *L)
{
    lhttp *u = check_http(L);
    if (u->busy)
        u->close_pending = 1;
    else
        destroy(u);
    lua_pushboolean(L, 1);
    return 1;
}

static int http_tostring(lua_State *L)
{
    lhttp *u = check_http(L);
    lua_pushfstring(L, "dcs.core.http (%s) %p", u->h ? "open" : "closed", (void *)u);
    return 1;
}

/* dcs.core.http{ timeout = s|false, connect_timeout = s, insecure =, ca_file =,
 *                proxy =, no_proxy =, user_agent =, max_body = bytes (0 = no limit) } */
static int http_new(lua_State *L)
{
    dcs_http_config cfg;
    lhttp *u;

    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    /* The strings stay on the stack until dcs_http_configure copies them. */
    dcs_lreq_config(L, 1, &cfg, WHO);
    u = dcs_newuserdata(L, sizeof *u);
    memset(u, 0, sizeof *u);
    luaL_getmetatable(L, HTTP_MT);
    lua_setmetatable(L, -2);
    u->h = dcs_http_new();
    if (u->h == NULL)
        return luaL_error(L, WHO ": cannot create a libcurl handle");
    if (!dcs_http_configure(u->h, &cfg))
        return luaL_error(L, WHO ": out of memory");
    return 1;
}

static int call_gc(lua_State *L)
{
    call *c = luaL_checkudata(L, 1, CALL_MT);
    dcs_http_response_free(&c->res);
    return 0;
}

/* S_CALL: the call state, its buffers freed by __gc whatever happens. */
static call *new_call(lua_State *L)
{
    call *c = dcs_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);
    dcs_http_response_init(&c->res);
    luaL_getmetatable(L, CALL_MT);
    lua_setmetatable(L, -2);
    return c;
}

/* The request's anchor sits in a slot of handle:request's own frame. */
static void anchor_in_slot(lua_State *L, int frame, dcs_lreq *c)
{
    (void)c;
    lua_pushvalue(L, frame);
}

static void perform(lua_State *L, lhttp *u, call *c)
{
    c->host.frame = S_ANCHOR;
    c->host.push_anchor = anchor_in_slot;
    c->c.host = &c->host;
    /* The callbacks push a few values: grow the stack now, where an error
     * can still be raised. */
    luaL_checkstack(L, 16, WHO);
    c->host.L = L;
    u->busy = 1;
    dcs_http_perform(u->h, &c->c.req, &c->res);
    u->busy = 0;
    c->host.L = NULL;
    if (u->close_pending) {
        u->close_pending = 0;
        destroy(u);
    }
}

/* handle:request{ method =, url =, headers = { name = value }, body =,
 *                 timeout = s | false, stall_timeout = s, min_speed = bytes/s,
 *                 sink = { file =, head = fn(status, headers), progress = fn(bytes) } }
 * -> { status, headers, body, new_connections, elapsed }
 *  | nil, { kind, reason, message, status?, headers? }
 *
 * The sink: head(status, headers) runs once, when the final response's
 * header block is complete (never for 1xx or a proxy's CONNECT answer);
 * true streams the body into file (body is then ""), false buffers it, nil,
 * message stops the transfer (aborted/refused).  Without head a 2xx body
 * goes to file and any other is buffered.  progress(bytes) gets the bytes
 * streamed so far, at most once per 256 KiB and once at the end; false
 * cancels (aborted/cancelled).  A callback that raises fails the request
 * (aborted/callback); a refused write fails it with aborted/write. */
static int http_request(lua_State *L)
{
    lhttp *u = check_http(L);
    call *c;

    luaL_checktype(L, S_REQ, LUA_TTABLE);
    if (u->busy)
        return luaL_error(L, WHO ": request called while a request is running "
                             "(from a sink callback?)");
    if (u->h == NULL)
        return dcs_lreq_failure(L, "closed", "closed", "the transport is closed");
    lua_settop(L, S_REQ);
    dcs_lreq_anchor(L);                                 /* S_ANCHOR */
    c = new_call(L);                                    /* S_CALL */
    dcs_lreq_read(L, S_REQ, S_ANCHOR, &c->c, WHO);
    /* Reading may have run Lua code (a metamethod, a finalizer): the handle
     * is checked again. */
    if (u->h == NULL)
        return dcs_lreq_failure(L, "closed", "closed", "the transport is closed");
    perform(L, u, c);
    return dcs_lreq_result(L, &c->c, &c->res, S_ANCHOR);
}

static const luaL_Reg http_methods[] = {
    {"request", http_request},
    {"close", http_close},
    {NULL, NULL}
};

static const luaL_Reg http_metamethods[] = {
    {"__gc", http_close},
    {"__close", http_close},
    {"__tostring", http_tostring},
    {NULL, NULL}
};

static int l_curl_version(lua_State *L)
{
    lua_pushstring(L, dcs_http_curl_version());
    return 1;
}

void dcs_open_http(lua_State *L)
{
    if (luaL_newmetatable(L, HTTP_MT)) {
        dcs_setfuncs(L, http_metamethods, 0);
        lua_newtable(L);
        dcs_setfuncs(L, http_methods, 0);
        lua_setfield(L, -2, "__index");
        lua_pushliteral(L, HTTP_MT);
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, CALL_MT)) {
        lua_pushcfunction(L, call_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, http_new);
    lua_setfield(L, -2, "http");
    lua_pushcfunction(L, l_curl_version);
    lua_setfield(L, -2, "curl_version");
}
