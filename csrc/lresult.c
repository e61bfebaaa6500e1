/* The answer of one request (lreq.h): its headers table, a result's
 * headers built when first read, and the result or failure tables, the
 * same for handle:request and engine:start (the request side: lreq.c). */
#include <string.h>

#include "compat.h"
#include "dcs_headers.h"
#include "lreq.h"

/* ---- the response's headers table ---- */

/* dcs_headers_parse callback: headers[lower(name)] = value, repeated
 * names joined with ", " as HTTP allows.  Runs protected (head_step). */
static int add_header(void *ud, dcs_str name, dcs_str value)
{
    lua_State *L = ud;
    char small[64];
    luaL_Buffer b;
    size_t i;

    if (name.len <= sizeof small) {
        for (i = 0; i < name.len; i++)
            small[i] = (char)dcs_ascii_lower((unsigned char)name.ptr[i]);
        lua_pushlstring(L, small, name.len);
    } else {
        luaL_buffinit(L, &b);
        for (i = 0; i < name.len; i++)
            luaL_addchar(&b, (char)dcs_ascii_lower((unsigned char)name.ptr[i]));
        luaL_pushresult(&b);
    }
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
    if (lua_type(L, -1) == LUA_TSTRING) {
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, value.ptr, value.len);
        lua_concat(L, 3);
    } else {
        lua_pop(L, 1);
        lua_pushlstring(L, value.ptr, value.len);
    }
    lua_rawset(L, -3);
    return 1;
}

/* Pushes the headers table of a complete (already validated) block, sized
 * for its lines (at most DCS_LREQ_MAX_HEADERS: the rest grow it as they come). */
void dcs_lreq_push_headers(lua_State *L, const char *block, size_t len)
{
    const char *p = block, *end = block + len;
    int lines = 0;

    while (lines < DCS_LREQ_MAX_HEADERS && p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        lines++;
        p++;
    }
    lua_createtable(L, 0, lines);
    if (dcs_headers_parse(block, len, add_header, L) < 0)
        luaL_error(L, "malformed response header block");
}

/* ---- a result's headers, built when first read ---- */

/* An API call reads its response's headers only for an error or a hook,
 * and building the headers table is the largest part of making a result.
 * So a result's metatable holds the header block (validated when it
 * arrived) and its __index builds res.headers on the first read.  The
 * results of one request share the metatable, and so one headers table. */
enum { MT_BLOCK = 1, MT_HEADERS };
#define LAZY_INDEX_KEY "dcs.core.lazy_headers"

/* __index(res, key): res.headers, built once per request and then a plain
 * field of res; nil for any other key. */
static int lazy_headers(lua_State *L)
{
    size_t n, len;
    const char *key, *block;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    key = lua_tolstring(L, 2, &n);
    if (n != sizeof "headers" - 1 || memcmp(key, "headers", n) != 0 || !lua_getmetatable(L, 1))
        return 0;
    lua_rawgeti(L, 3, MT_HEADERS);                      /* 4 */
    if (!lua_istable(L, 4)) {
        lua_rawgeti(L, 3, MT_BLOCK);                    /* 5 */
        if ((block = lua_tolstring(L, 5, &len)) == NULL)
            return 0;
        dcs_lreq_push_headers(L, block, len);                    /* 6 */
        /* Lua code may have run while it allocated (a finalizer) and read
         * this request's headers: the table it made stays the one. */
        lua_rawgeti(L, 3, MT_HEADERS);                  /* 7 */
        if (!lua_istable(L, 7)) {
            lua_pop(L, 1);
            lua_pushvalue(L, 6);
            lua_rawseti(L, 3, MT_HEADERS);
        }
        lua_replace(L, 4);
        lua_settop(L, 4);
    }
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 4);
    lua_rawset(L, 1);
    return 1;
}

/* lazy_headers as a function value: light on 5.2+, but pushing a C
 * function allocates on 5.1 and LuaJIT, so one is kept in the registry. */
static void push_lazy_index(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, LAZY_INDEX_KEY);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushcfunction(L, lazy_headers);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, LAZY_INDEX_KEY);
    }
}

/* The request's results' metatable: made by the first result, then kept in
 * the anchor. */
static void push_result_mt(lua_State *L, const dcs_http_response *res, int anchor)
{
    lua_rawgeti(L, anchor, DCS_A_RESULT_MT);
    if (lua_istable(L, -1))
        return;
    lua_pop(L, 1);
    lua_createtable(L, 2, 1);
    lua_pushlstring(L, res->headers.data ? res->headers.data : "", res->headers.len);
    lua_rawseti(L, -2, MT_BLOCK);
    push_lazy_index(L);
    lua_setfield(L, -2, "__index");
    lua_pushvalue(L, -1);
    lua_rawseti(L, anchor, DCS_A_RESULT_MT);
}

/* The headers of the result table on top: the table sink.head had built,
 * else the way to build it on first read. */
static void attach_headers(lua_State *L, const dcs_http_response *res, int anchor)
{
    lua_rawgeti(L, anchor, DCS_A_HEADERS);
    if (lua_istable(L, -1)) {
        lua_setfield(L, -2, "headers");
        return;
    }
    lua_pop(L, 1);
    push_result_mt(L, res, anchor);
    lua_setmetatable(L, -2);
}


/* The headers table of a failure that came after the response's head
 * (push_failure): the one head_step built, else built now and kept in the
 * anchor (an existing slot: no allocation), so every such result of the
 * request shares it. */
static void push_response_headers(lua_State *L, const dcs_http_response *res, int anchor)
{
    lua_rawgeti(L, anchor, DCS_A_HEADERS);
    if (lua_istable(L, -1))
        return;
    lua_pop(L, 1);
    dcs_lreq_push_headers(L, res->headers.data, res->headers.len);
    lua_pushvalue(L, -1);
    lua_rawseti(L, anchor, DCS_A_HEADERS);
}

/* ---- the result ---- */

/* nil, { kind, reason, message, status?, headers? } with the message at
 * the top of the stack; status and headers once the response's head came. */
static int push_failure(lua_State *L, const dcs_http_response *res, int anchor, const char *kind,
                        const char *reason)
{
    lua_createtable(L, 0, 5);
    lua_insert(L, -2);
    lua_setfield(L, -2, "message");
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, reason);
    lua_setfield(L, -2, "reason");
    if (res != NULL && res->head_done) {
        lua_pushinteger(L, (lua_Integer)res->status);
        lua_setfield(L, -2, "status");
        push_response_headers(L, res, anchor);
        lua_setfield(L, -2, "headers");
    }
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

int dcs_lreq_failure(lua_State *L, const char *kind, const char *reason, const char *message)
{
    lua_pushstring(L, message);
    return push_failure(L, NULL, 0, kind, reason);
}

static void push_callback_error(lua_State *L, int anchor, const char *who)
{
    const char *msg;
    lua_rawgeti(L, anchor, DCS_A_ERROR);
    msg = lua_tostring(L, -1);
    lua_pushfstring(L, "%s failed: %s", who, msg ? msg : luaL_typename(L, -1));
    lua_remove(L, -2);
}

/* Failures we caused (refusal, cancel, a callback's error), else the C
 * layer's; NULL when the request succeeded. */
static int push_stop(lua_State *L, const dcs_lreq *c, const dcs_http_response *res, int anchor)
{
    switch (c->stop) {
    case STOP_HEAD_ERROR:
        push_callback_error(L, anchor, "sink.head");
        return push_failure(L, res, anchor, "aborted", "callback");
    case STOP_PROGRESS_ERROR:
        push_callback_error(L, anchor, "sink.progress");
        return push_failure(L, res, anchor, "aborted", "callback");
    case STOP_REFUSED:
        lua_rawgeti(L, anchor, DCS_A_MESSAGE);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            lua_pushliteral(L, "the response was refused by sink.head");
        }
        return push_failure(L, res, anchor, "aborted", "refused");
    case STOP_CANCELLED:
        lua_pushliteral(L, "cancelled by sink.progress");
        return push_failure(L, res, anchor, "aborted", "cancelled");
    default:
        return 0;
    }
}

int dcs_lreq_result(lua_State *L, const dcs_lreq *c, const dcs_http_response *res, int anchor)
{
    int n;

    /* An end forced from outside (cancel, close) wins over what the
     * callbacks said before it. */
    if (res->failure != DCS_HTTP_CANCELLED && res->failure != DCS_HTTP_CLOSED &&
        (n = push_stop(L, c, res, anchor)) > 0)
        return n;
    switch (res->failure) {
    case DCS_HTTP_OK:
        break;
    case DCS_HTTP_WRITE:
        lua_pushfstring(L, "%s (%s)", res->message, dcs_file_code_name(res->file_error));
        return push_failure(L, res, anchor, "aborted", "write");
    case DCS_HTTP_TIMEOUT:
    case DCS_HTTP_STALL:
        lua_pushstring(L, res->message);
        return push_failure(L, res, anchor, "timeout", dcs_http_failure_name(res->failure));
    case DCS_HTTP_CANCELLED:
    case DCS_HTTP_CLOSED:
        lua_pushstring(L, res->message);
        return push_failure(L, res, anchor, "closed", dcs_http_failure_name(res->failure));
    default:
        lua_pushstring(L, res->message);
        return push_failure(L, res, anchor, "network", dcs_http_failure_name(res->failure));
    }
    lua_createtable(L, 0, 5);           /* room for headers when it is read */
    lua_pushinteger(L, (lua_Integer)res->status);
    lua_setfield(L, -2, "status");
    attach_headers(L, res, anchor);
    lua_pushlstring(L, res->body.data ? res->body.data : "", res->body.len);
    lua_setfield(L, -2, "body");
    lua_pushinteger(L, (lua_Integer)res->new_connections);
    lua_setfield(L, -2, "new_connections");
    lua_pushnumber(L, (lua_Number)res->total_seconds);
    lua_setfield(L, -2, "elapsed");
    return 1;
}
