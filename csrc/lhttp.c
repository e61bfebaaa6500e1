/* Lua binding of the libcurl transport: dcs.core.http(opts) returns a
 * handle with :request(req), :close(), __gc and __close.
 *
 * Lifetime: the userdata is NULL-safe before libcurl exists, and close,
 * __gc and __close share one idempotent destroy.  A close requested from
 * inside a progress callback is deferred until the transfer unwinds. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "compat.h"
#include "dcs_http.h"
#include "lcore.h"

#define HTTP_MT "dcs.core.http"

typedef struct lhttp {
    dcs_http *h;
    int busy;                   /* inside curl_easy_perform */
    int close_pending;
} lhttp;

/* Body sink that writes 2xx bodies to a file and reports progress to an
 * optional Lua function, called under pcall with the calling thread's L
 * (never a stored one). */
typedef struct file_sink {
    FILE *fp;
    lua_State *L;
    int progress;               /* stack index of the function, 0 = none */
    int appending;              /* opened with "ab" to resume */
    int restarted;              /* asked for a range, got the whole body: file truncated */
    long long bytes;            /* body bytes written by this request */
    int write_errno;
    int cancelled;
    char lua_error[256];
} file_sink;

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

static double opt_number(lua_State *L, int t, const char *name, double dflt)
{
    double v;
    lua_getfield(L, t, name);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return dflt;
    }
    if (lua_type(L, -1) != LUA_TNUMBER)
        luaL_error(L, "dcs.core.http: '%s' must be a number", name);
    v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (v < 0)
        luaL_error(L, "dcs.core.http: '%s' must not be negative", name);
    return v;
}

static const char *opt_string(lua_State *L, int t, const char *name)
{
    const char *s;
    lua_getfield(L, t, name);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "dcs.core.http: '%s' must be a string", name);
    s = lua_tostring(L, -1);
    lua_pop(L, 1);              /* anchored by the options table */
    return s;
}

/* dcs.core.http{ timeout =, connect_timeout =, insecure =, ca_file =,
 *                proxy =, no_proxy =, user_agent =, max_body = } (seconds, bytes) */
static int http_new(lua_State *L)
{
    dcs_http_config cfg;
    lhttp *u;

    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    memset(&cfg, 0, sizeof cfg);
    cfg.timeout_ms = (long)(opt_number(L, 1, "timeout", 120) * 1000);
    cfg.connect_timeout_ms = (long)(opt_number(L, 1, "connect_timeout", 60) * 1000);
    cfg.max_body = (size_t)opt_number(L, 1, "max_body", 64.0 * 1024 * 1024);
    cfg.ca_file = opt_string(L, 1, "ca_file");
    cfg.proxy = opt_string(L, 1, "proxy");
    cfg.no_proxy = opt_string(L, 1, "no_proxy");
    cfg.user_agent = opt_string(L, 1, "user_agent");
    lua_getfield(L, 1, "insecure");
    cfg.insecure = lua_toboolean(L, -1);
    lua_pop(L, 1);

    u = dcs_newuserdata(L, sizeof *u);
    memset(u, 0, sizeof *u);
    luaL_getmetatable(L, HTTP_MT);
    lua_setmetatable(L, -2);
    u->h = dcs_http_new();
    if (u->h == NULL)
        return luaL_error(L, "dcs.core.http: cannot create a libcurl handle");
    if (!dcs_http_configure(u->h, &cfg))
        return luaL_error(L, "dcs.core.http: out of memory");
    return 1;
}

static void push_headers(lua_State *L, const dcs_buf *raw)
{
    const char *p = raw->data, *end = raw->data + raw->len;
    int first = 1;

    lua_newtable(L);
    while (p != NULL && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end, *colon, *v, *ve;
        if (line_end > p && line_end[-1] == '\r')
            line_end--;
        if (!first && line_end > p && (colon = memchr(p, ':', (size_t)(line_end - p))) != NULL) {
            luaL_Buffer b;
            const char *k;
            for (v = colon + 1; v < line_end && (*v == ' ' || *v == '\t'); v++)
                ;
            for (ve = line_end; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
                ;
            luaL_buffinit(L, &b);
            for (k = p; k < colon; k++)
                luaL_addchar(&b, (*k >= 'A' && *k <= 'Z') ? (char)(*k + 32) : *k);
            luaL_pushresult(&b);
            lua_pushvalue(L, -1);
            lua_rawget(L, -3);
            if (lua_isstring(L, -1)) {  /* repeated header: join like HTTP does */
                lua_pushliteral(L, ", ");
                lua_pushlstring(L, v, (size_t)(ve - v));
                lua_concat(L, 3);
            } else {
                lua_pop(L, 1);
                lua_pushlstring(L, v, (size_t)(ve - v));
            }
            lua_rawset(L, -3);
        }
        first = 0;
        p = eol ? eol + 1 : end;
    }
}

static int progress_call(file_sink *s, long status, long long content_length)
{
    lua_State *L = s->L;
    int ok;
    lua_pushvalue(L, s->progress);
    lua_pushnumber(L, (lua_Number)s->bytes);
    lua_pushnumber(L, (lua_Number)content_length);
    lua_pushinteger(L, (lua_Integer)status);
    if (lua_pcall(L, 3, 1, 0) != 0) {
        const char *msg = lua_tostring(L, -1);
        snprintf(s->lua_error, sizeof s->lua_error, "progress callback failed: %s",
                 msg ? msg : "(error object is not a string)");
        lua_pop(L, 1);
        return 0;
    }
    ok = !(lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1));
    lua_pop(L, 1);
    if (!ok)
        s->cancelled = 1;
    return ok;
}

static int file_sink_write(void *ud, long status, long long content_length, const char *data,
                           size_t n)
{
    file_sink *s = ud;
    /* A server may answer a Range request with the whole file (200): start
     * the file over instead of appending a second copy. */
    if (s->appending && s->bytes == 0 && status == 200 && !s->restarted) {
        s->restarted = 1;
        if (fflush(s->fp) != 0 || ftruncate(fileno(s->fp), 0) != 0 || fseek(s->fp, 0, SEEK_SET) != 0) {
            s->write_errno = errno ? errno : EIO;
            return 0;
        }
    }
    if (fwrite(data, 1, n, s->fp) != n) {
        s->write_errno = errno ? errno : EIO;
        return 0;
    }
    s->bytes += (long long)n;
    return s->progress ? progress_call(s, status, content_length) : 1;
}

/* Failure table: { kind =, reason =, message =, status =, headers =, bytes =,
 * restarted = }; status and headers when a response had started. */
static int push_failure(lua_State *L, const char *kind, const char *reason, const char *message,
                        const dcs_http_response *res, const file_sink *sink)
{
    lua_pushnil(L);
    lua_createtable(L, 0, 6);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, reason);
    lua_setfield(L, -2, "reason");
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    if (res != NULL && res->status > 0) {
        lua_pushinteger(L, (lua_Integer)res->status);
        lua_setfield(L, -2, "status");
        push_headers(L, &res->headers);
        lua_setfield(L, -2, "headers");
    }
    lua_pushnumber(L, sink ? (lua_Number)sink->bytes : 0);
    lua_setfield(L, -2, "bytes");
    lua_pushboolean(L, sink && sink->restarted);
    lua_setfield(L, -2, "restarted");
    return 2;
}

/* timeout = seconds | false (no total timeout) | nil (the handle's) */
static long request_timeout_ms(lua_State *L, int t)
{
    long ms = 0;
    lua_getfield(L, t, "timeout");
    if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))
        ms = -1;
    else if (!lua_isnil(L, -1))
        ms = (long)(opt_number(L, t, "timeout", 0) * 1000);
    lua_pop(L, 1);
    return ms;
}

/* handle:request{ method =, url =, headers = {name = value}, body =,
 *                 timeout = s|false, stall_timeout = s,
 *                 file = path, file_mode = "wb"|"ab",
 *                 progress = function(bytes, content_length, status) }
 * -> { status, headers, body, new_connections, elapsed, bytes, restarted }
 *  | nil, failure
 * With file, a 2xx body goes to the file (other bodies are buffered so the
 * error can be read); progress may return false to cancel. */
static int http_request(lua_State *L)
{
    lhttp *u = check_http(L);
    dcs_http_request req;
    dcs_http_response res;
    file_sink sink;
    const char **lines;
    size_t nlines = 0, cap = 0;
    int lines_anchor, rc;
    const char *file, *mode;

    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    if (u->busy)
        return luaL_error(L, "dcs.core.http: request called while a request is running "
                             "(from a progress callback?)");
    if (u->h == NULL)
        return push_failure(L, "closed", "closed", "the transport is closed", NULL, NULL);

    memset(&req, 0, sizeof req);
    memset(&sink, 0, sizeof sink);
    lua_getfield(L, 2, "method");
    lua_getfield(L, 2, "url");
    req.method = luaL_optstring(L, 3, "GET");
    req.url = luaL_checkstring(L, 4);
    /* The method goes on the request line verbatim: letters only. */
    luaL_argcheck(L, req.method[0] != '\0' &&
                         req.method[strspn(req.method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")] == '\0',
                  2, "method must be upper-case letters");
    lua_getfield(L, 2, "body");
    if (!lua_isnil(L, 5)) {
        req.body = luaL_checklstring(L, 5, &req.body_len);
    }
    req.timeout_ms = request_timeout_ms(L, 2);
    req.stall_seconds = (long)opt_number(L, 2, "stall_timeout", 0);

    lua_getfield(L, 2, "headers");                       /* 6 */
    if (!lua_isnil(L, 6)) {
        luaL_checktype(L, 6, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 6)) {
            cap++;
            lua_pop(L, 1);
        }
    }
    lines = dcs_newuserdata(L, (cap ? cap : 1) * sizeof *lines);   /* 7 */
    lua_newtable(L);                                     /* 8: anchors the lines */
    lines_anchor = 8;
    if (cap > 0) {
        lua_pushnil(L);
        while (lua_next(L, 6)) {
            size_t kl, vl;
            const char *k, *v;
            if (lua_type(L, -2) != LUA_TSTRING ||
                (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
                return luaL_error(L, "dcs.core.http: headers must map names to strings");
            k = lua_tolstring(L, -2, &kl);
            lua_pushvalue(L, -1);
            v = lua_tolstring(L, -1, &vl);
            if (kl == 0 || strpbrk(k, "\r\n:") != NULL || strlen(k) != kl ||
                strpbrk(v, "\r\n") != NULL || strlen(v) != vl)
                return luaL_error(L, "dcs.core.http: invalid header '%s'", k);
            /* "Name;" is libcurl's way to send a header with an empty value. */
            if (vl == 0)
                lua_pushfstring(L, "%s;", k);
            else
                lua_pushfstring(L, "%s: %s", k, v);
            lines[nlines++] = lua_tostring(L, -1);
            lua_rawseti(L, lines_anchor, (int)nlines);
            lua_pop(L, 2);
        }
    }
    req.headers = lines;
    req.header_count = nlines;

    file = opt_string(L, 2, "file");
    if (file != NULL) {
        mode = opt_string(L, 2, "file_mode");
        if (mode == NULL)
            mode = "wb";
        if (strcmp(mode, "wb") != 0 && strcmp(mode, "ab") != 0)
            return luaL_error(L, "dcs.core.http: file_mode must be \"wb\" or \"ab\"");
        lua_getfield(L, 2, "progress");                  /* 9 */
        if (!lua_isnil(L, -1)) {
            luaL_checktype(L, -1, LUA_TFUNCTION);
            sink.progress = lua_gettop(L);
        }
        sink.appending = mode[0] == 'a';
        sink.fp = fopen(file, mode);
        if (sink.fp == NULL) {
            char msg[300];
            snprintf(msg, sizeof msg, "cannot open %s: %s", file, strerror(errno));
            return push_failure(L, "io", "open", msg, NULL, NULL);
        }
        sink.L = L;
        req.sink = file_sink_write;
        req.sink_ud = &sink;
    }

    dcs_http_response_init(&res);
    u->busy = 1;
    rc = dcs_http_perform(u->h, &req, &res);
    u->busy = 0;
    if (sink.fp != NULL && fclose(sink.fp) != 0 && sink.write_errno == 0)
        sink.write_errno = errno ? errno : EIO;
    if (u->close_pending) {
        u->close_pending = 0;
        destroy(u);
    }

    if (sink.write_errno != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "cannot write %s: %s", file, strerror(sink.write_errno));
        push_failure(L, "io", "write", msg, &res, &sink);
    } else if (sink.lua_error[0] != '\0') {
        push_failure(L, "callback", "callback", sink.lua_error, &res, &sink);
    } else if (sink.cancelled) {
        push_failure(L, "cancelled", "cancelled", "cancelled by the progress callback", &res,
                     &sink);
    } else if (rc != DCS_HTTP_OK) {
        push_failure(L, rc == DCS_HTTP_TIMEOUT ? "timeout" : "network",
                     dcs_http_failure_name((dcs_http_failure)rc), res.message, &res, &sink);
    } else {
        lua_createtable(L, 0, 6);
        lua_pushinteger(L, (lua_Integer)res.status);
        lua_setfield(L, -2, "status");
        push_headers(L, &res.headers);
        lua_setfield(L, -2, "headers");
        lua_pushlstring(L, res.body.data ? res.body.data : "", res.body.len);
        lua_setfield(L, -2, "body");
        lua_pushinteger(L, (lua_Integer)res.new_connections);
        lua_setfield(L, -2, "new_connections");
        lua_pushnumber(L, res.total_seconds);
        lua_setfield(L, -2, "elapsed");
        lua_pushnumber(L, (lua_Number)sink.bytes);
        lua_setfield(L, -2, "bytes");
        lua_pushboolean(L, sink.restarted);
        lua_setfield(L, -2, "restarted");
        dcs_http_response_free(&res);
        return 1;
    }
    dcs_http_response_free(&res);
    return 2;
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
        lua_pushliteral(L, "dcs.core.http");
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, http_new);
    lua_setfield(L, -2, "http");
    lua_pushcfunction(L, l_curl_version);
    lua_setfield(L, -2, "curl_version");
}
