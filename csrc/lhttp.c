/* Lua binding of the libcurl transport: dcs.core.http(opts) returns a
 * handle with :request(req), :close(), __gc and __close.
 *
 * Lifetime: the userdata is NULL-safe before libcurl exists, and close,
 * __gc and __close share one idempotent destroy.  A close requested from
 * inside a callback is deferred until the transfer unwinds.
 *
 * One request runs in named steps over fixed stack slots (enum below):
 * read the request table, anchor the headers, read the sink, perform, push
 * the result.  Every string pointer handed to C lives in a slot or in the
 * anchor table that only this call references; Lua code run by a callback
 * or a finalizer can change the user's tables, never what C reads. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "compat.h"
#include "dcs_headers.h"
#include "dcs_http.h"
#include "lcore.h"

#define HTTP_MT "dcs.core.http"
#define CALL_MT "dcs.core.http.call"
#define WHO "dcs.core.http"

#define MAX_HEADERS 1000
#define PROGRESS_STEP (256 * 1024)
#define MIN_SECONDS 0.001       /* below this a timeout would round to "none" */
#define MAX_SECONDS 1e6

typedef struct lhttp {
    dcs_http *h;
    int busy;                   /* inside curl_easy_perform */
    int close_pending;
} lhttp;

/* Stack slots of handle:request(req), in the order they are filled. */
enum {
    S_HANDLE = 1, S_REQ,
    S_METHOD, S_URL, S_BODY,    /* strings (or nil) whose pointers C keeps */
    S_HEADERS,                  /* the user's headers table: read once */
    S_SINK, S_FILE, S_HEAD, S_PROGRESS,
    S_ANCHOR,                   /* name, value pairs, then the "Name: value" lines */
    S_LINES,                    /* userdata: const char *[] into S_ANCHOR */
    S_CALL,                     /* userdata: call (its __gc frees the buffers) */
    S_HEAD_STEP,                /* head_step, pushed before the transfer */
    S_RESULT_HEADERS,           /* the response's headers table, once built */
    S_MESSAGE,                  /* sink.head's refusal message */
    S_ERROR,                    /* a callback's error object */
    S_LAST = S_ERROR
};

/* Why the transfer stopped on our side (dcs_http only sees "aborted"). */
enum { STOP_NONE, STOP_REFUSED, STOP_HEAD_ERROR, STOP_CANCELLED, STOP_PROGRESS_ERROR };

typedef struct call {
    lua_State *L;               /* the calling thread, only while perform runs */
    dcs_http_request req;
    dcs_http_response res;
    int stop;
    dcs_http_body_to body_to;   /* head_step's answer */
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

/* Seconds -> milliseconds, rounded up: 0.0004 s never becomes 0 = none. */
static long seconds_field_ms(lua_State *L, int t, const char *name, double dflt)
{
    double s = dcs_field_number(L, t, name, dflt, MIN_SECONDS, MAX_SECONDS, WHO);
    return (long)ceil(s * 1000.0);
}

/* timeout = seconds | false (no total timeout); nil gives `absent`. */
static long timeout_ms(lua_State *L, int t, long absent, long none)
{
    long ms;
    lua_getfield(L, t, "timeout");
    if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))
        ms = none;
    else if (lua_isnil(L, -1))
        ms = absent;
    else
        ms = seconds_field_ms(L, t, "timeout", 0);
    lua_pop(L, 1);
    return ms;
}

/* dcs.core.http{ timeout = s|false, connect_timeout = s, insecure =, ca_file =,
 *                proxy =, no_proxy =, user_agent =, max_body = bytes (0 = no limit) } */
static int http_new(lua_State *L)
{
    double max_size = (double)SIZE_MAX < 9007199254740992.0 ? (double)SIZE_MAX : 9007199254740992.0;
    double max_body;
    dcs_http_config cfg;
    lhttp *u;

    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    memset(&cfg, 0, sizeof cfg);
    /* The strings stay on the stack (2..5) until dcs_http_configure copies them. */
    cfg.ca_file = dcs_field_string(L, 1, "ca_file", NULL, WHO);
    cfg.proxy = dcs_field_string(L, 1, "proxy", NULL, WHO);
    cfg.no_proxy = dcs_field_string(L, 1, "no_proxy", NULL, WHO);
    cfg.user_agent = dcs_field_string(L, 1, "user_agent", NULL, WHO);
    cfg.timeout_ms = timeout_ms(L, 1, 120000, 0);
    cfg.connect_timeout_ms = seconds_field_ms(L, 1, "connect_timeout", 60);
    max_body = dcs_field_number(L, 1, "max_body", 64.0 * 1024 * 1024, 0, max_size, WHO);
    /* 0.5 would truncate to 0, which means "no limit". */
    luaL_argcheck(L, max_body == floor(max_body), 1, "'max_body' must be a whole number of bytes");
    cfg.max_body = (size_t)max_body;
    lua_getfield(L, 1, "insecure");
    cfg.insecure = lua_toboolean(L, -1);
    lua_pop(L, 1);

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

/* ---- the response's headers table ---- */

/* dcs_headers_parse callback: headers[lower(name)] = value, repeated
 * names joined with ", " as HTTP allows.  Runs protected (head_step). */
static int add_header(void *ud, dcs_str name, dcs_str value)
{
    lua_State *L = ud;
    luaL_Buffer b;
    size_t i;

    luaL_buffinit(L, &b);
    for (i = 0; i < name.len; i++)
        luaL_addchar(&b, (char)dcs_ascii_lower((unsigned char)name.ptr[i]));
    luaL_pushresult(&b);
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

/* Pushes the headers table of a complete (already validated) block. */
static void push_headers(lua_State *L, const dcs_buf *block)
{
    lua_newtable(L);
    if (dcs_headers_parse(block->data, block->len, add_header, L) < 0)
        luaL_error(L, WHO ": malformed response header block");
}

/* ---- callbacks from the transfer: protected, on the calling thread ---- */

/* head_step(call, head, file) -> headers, message: builds the headers table
 * and asks sink.head where the body goes.  Raises on any mistake; the
 * caller's lua_pcall turns that into a "callback" failure. */
static int head_step(lua_State *L)
{
    call *c = lua_touserdata(L, 1);
    int has_file = !lua_isnil(L, 3), answer;

    lua_settop(L, 3);
    push_headers(L, &c->res.headers);                   /* 4 */
    if (lua_isnil(L, 2)) {
        /* No head: a 2xx body goes to the file, any other is buffered. */
        c->body_to = has_file && c->res.status / 100 == 2 ? DCS_HTTP_BODY_FILE
                                                         : DCS_HTTP_BODY_BUFFER;
        lua_pushnil(L);
        return 2;
    }
    lua_pushvalue(L, 2);
    lua_pushinteger(L, (lua_Integer)c->res.status);
    lua_pushvalue(L, 4);
    lua_call(L, 2, 2);                                  /* 5, 6 */
    answer = lua_type(L, 5);
    if (answer == LUA_TBOOLEAN && lua_toboolean(L, 5)) {
        if (!has_file)
            return luaL_error(L, "sink.head returned true but the sink has no file");
        c->body_to = DCS_HTTP_BODY_FILE;
    } else if (answer == LUA_TBOOLEAN) {
        c->body_to = DCS_HTTP_BODY_BUFFER;
    } else if (answer == LUA_TNIL) {
        c->body_to = DCS_HTTP_BODY_REFUSE;
    } else {
        return luaL_error(L, "sink.head must return true, false or nil, message (got a %s)",
                          luaL_typename(L, 5));
    }
    lua_pushvalue(L, 4);
    if (lua_type(L, 6) == LUA_TSTRING)
        lua_pushvalue(L, 6);
    else
        lua_pushnil(L);
    return 2;
}

/* dcs_http's on_head.  Only stack operations that cannot raise happen
 * outside lua_pcall: the slots were made and the stack grown beforehand. */
static dcs_http_body_to on_head(void *ud, long status, const char *block, size_t len)
{
    call *c = ud;
    lua_State *L = c->L;
    (void)status, (void)block, (void)len;              /* head_step reads c->res */

    lua_pushvalue(L, S_HEAD_STEP);
    lua_pushlightuserdata(L, c);
    lua_pushvalue(L, S_HEAD);
    lua_pushvalue(L, S_FILE);
    if (lua_pcall(L, 3, 2, 0) != 0) {
        lua_replace(L, S_ERROR);
        c->stop = STOP_HEAD_ERROR;
        return DCS_HTTP_BODY_REFUSE;
    }
    lua_replace(L, S_MESSAGE);
    lua_replace(L, S_RESULT_HEADERS);
    if (c->body_to == DCS_HTTP_BODY_REFUSE)
        c->stop = STOP_REFUSED;
    return c->body_to;
}

/* dcs_http's on_progress: sink.progress(bytes); false cancels. */
static int on_progress(void *ud, long long bytes)
{
    call *c = ud;
    lua_State *L = c->L;
    int stop;

    lua_pushvalue(L, S_PROGRESS);
    lua_pushinteger(L, (lua_Integer)bytes);
    if (lua_pcall(L, 1, 1, 0) != 0) {
        lua_replace(L, S_ERROR);
        c->stop = STOP_PROGRESS_ERROR;
        return 0;
    }
    stop = lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (stop)
        c->stop = STOP_CANCELLED;
    return !stop;
}

/* ---- the steps of a request ---- */

static int call_gc(lua_State *L)
{
    call *c = luaL_checkudata(L, 1, CALL_MT);
    dcs_http_response_free(&c->res);
    return 0;
}

/* A string field of the request into its slot; the pointer stays valid
 * while the slot holds the string, whatever the request table becomes. */
static const char *slot_string(lua_State *L, int slot, const char *name, size_t *len)
{
    const char *s = dcs_field_string(L, S_REQ, name, len, WHO);
    lua_replace(L, slot);
    return s;
}

static void slot_field(lua_State *L, int t, const char *name, int slot)
{
    lua_getfield(L, t, name);
    lua_replace(L, slot);
}

/* Strings, numbers, S_HEADERS and the sink: every field read once.  A
 * mistake here is the caller's bug: it raises. */
static void read_request(lua_State *L, call *c)
{
    dcs_http_request *req = &c->req;
    size_t i, url_len = 0, method_len = 0;
    const char *url;

    req->method = slot_string(L, S_METHOD, "method", &method_len);
    url = slot_string(L, S_URL, "url", &url_len);
    req->body = slot_string(L, S_BODY, "body", &req->body_len);
    if (req->method == NULL) {
        req->method = "GET";
        method_len = 3;
    }
    /* The method goes on the request line verbatim: letters only. */
    luaL_argcheck(L, method_len > 0 &&
                         strspn(req->method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == method_len,
                  2, "method must be upper-case letters");
    luaL_argcheck(L, url != NULL && url_len > 0, 2, "url must be a non-empty string");
    for (i = 0; i < url_len; i++)
        luaL_argcheck(L, (unsigned char)url[i] > 0x20 && url[i] != 0x7f, 2,
                      "url must not contain whitespace or control characters");
    req->url = url;
    req->timeout_ms = timeout_ms(L, S_REQ, 0, -1);
    /* nil: no stall check; libcurl counts whole seconds, so round up. */
    req->stall_seconds = (long)ceil(dcs_field_number(L, S_REQ, "stall_timeout", 0, MIN_SECONDS,
                                                     MAX_SECONDS, WHO));
    req->min_speed = (long)dcs_field_number(L, S_REQ, "min_speed", 1, 1, 1e9, WHO);

    slot_field(L, S_REQ, "headers", S_HEADERS);
    luaL_argcheck(L, lua_isnil(L, S_HEADERS) || lua_istable(L, S_HEADERS), 2,
                  "headers must be a table");
    slot_field(L, S_REQ, "sink", S_SINK);
    if (lua_isnil(L, S_SINK))
        return;
    luaL_argcheck(L, lua_istable(L, S_SINK), 2, "sink must be a table");
    slot_field(L, S_SINK, "file", S_FILE);
    slot_field(L, S_SINK, "head", S_HEAD);
    slot_field(L, S_SINK, "progress", S_PROGRESS);
    luaL_argcheck(L, lua_isnil(L, S_FILE) || dcs_to_file(L, S_FILE) != NULL, 2,
                  "sink.file must be a dcs.core.file");
    luaL_argcheck(L, lua_isnil(L, S_HEAD) || lua_isfunction(L, S_HEAD), 2,
                  "sink.head must be a function");
    luaL_argcheck(L, lua_isnil(L, S_PROGRESS) || lua_isfunction(L, S_PROGRESS), 2,
                  "sink.progress must be a function");
}

/* The user's headers, copied in one pass into S_ANCHOR as name, value
 * pairs; returns the number of pairs it holds.  The first pass only counts
 * (no allocation, so no finalizer runs between it and the copy, unless
 * lua_createtable's own step runs one: then the anchor grows and its own
 * count, not this estimate, is what the caller uses). */
static int copy_headers(lua_State *L)
{
    int estimate = 0, n = 0;

    if (lua_isnil(L, S_HEADERS)) {
        lua_newtable(L);
        lua_replace(L, S_ANCHOR);
        return 0;
    }
    lua_pushnil(L);
    while (lua_next(L, S_HEADERS)) {
        lua_pop(L, 1);
        luaL_argcheck(L, ++estimate <= MAX_HEADERS, 2, "too many headers");
    }
    lua_createtable(L, 3 * estimate, 0);
    lua_replace(L, S_ANCHOR);
    lua_pushnil(L);
    while (lua_next(L, S_HEADERS)) {
        luaL_argcheck(L, n < 2 * MAX_HEADERS, 2, "too many headers");
        lua_pushvalue(L, -2);
        lua_rawseti(L, S_ANCHOR, ++n);                  /* the name */
        lua_rawseti(L, S_ANCHOR, ++n);                  /* the value; pops it */
    }
    return n / 2;
}

static int header_name_ok(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (!dcs_http_tchar((unsigned char)s[i]))
            return 0;
    return n > 0;
}

/* Pushes the "Name: value" line of pair i of the anchor. */
static const char *push_header_line(lua_State *L, int i)
{
    size_t nl, vl;
    const char *name, *value;

    lua_rawgeti(L, S_ANCHOR, 2 * i - 1);
    lua_rawgeti(L, S_ANCHOR, 2 * i);
    if (lua_type(L, -2) != LUA_TSTRING ||
        (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
        luaL_error(L, WHO ": headers must map names to strings");
    name = lua_tolstring(L, -2, &nl);
    value = lua_tolstring(L, -1, &vl);          /* a number becomes a string on the stack */
    if (!header_name_ok(name, nl))
        luaL_error(L, WHO ": header name '%s' is not an HTTP token", name);
    if (strlen(value) != vl || strpbrk(value, "\r\n") != NULL)
        luaL_error(L, WHO ": header '%s' has a CR, LF or NUL in its value", name);
    /* "Name;" is libcurl's way to send a header with an empty value. */
    if (vl == 0)
        lua_pushfstring(L, "%s;", name);
    else
        lua_pushfstring(L, "%s: %s", name, value);
    lua_replace(L, -3);
    lua_pop(L, 1);
    return lua_tostring(L, -1);
}

/* S_ANCHOR and S_LINES: the request's header lines, owned by this call. */
static void anchor_headers(lua_State *L, call *c)
{
    int pairs = copy_headers(L), i;
    const char **lines = dcs_newuserdata(L, (size_t)(pairs > 0 ? pairs : 1) * sizeof *lines);

    lua_replace(L, S_LINES);
    for (i = 1; i <= pairs; i++) {
        lines[i - 1] = push_header_line(L, i);
        lua_rawseti(L, S_ANCHOR, 2 * pairs + i);        /* the line lives as long as the anchor */
    }
    c->req.headers = lines;
    c->req.header_count = (size_t)pairs;
}

/* S_CALL: the call state, its buffers freed by __gc whatever happens. */
static call *new_call(lua_State *L)
{
    call *c = dcs_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);
    dcs_http_response_init(&c->res);
    luaL_getmetatable(L, CALL_MT);
    lua_setmetatable(L, -2);
    lua_replace(L, S_CALL);
    return c;
}

static void perform(lua_State *L, lhttp *u, call *c)
{
    dcs_file *file = dcs_to_file(L, S_FILE);

    c->req.file = file;
    c->req.on_head = on_head;
    c->req.on_progress = lua_isnil(L, S_PROGRESS) || file == NULL ? NULL : on_progress;
    c->req.progress_step = PROGRESS_STEP;
    c->req.ud = c;
    lua_pushcfunction(L, head_step);
    lua_replace(L, S_HEAD_STEP);
    /* The callbacks push at most five values; grow the stack now, where an
     * error can still be raised. */
    luaL_checkstack(L, 8, WHO);
    c->L = L;
    u->busy = 1;
    dcs_http_perform(u->h, &c->req, &c->res);
    u->busy = 0;
    c->L = NULL;
    if (u->close_pending) {
        u->close_pending = 0;
        destroy(u);
    }
}

/* nil, { kind, reason, message, status?, headers? } with the message at
 * the top of the stack; status and headers once the response's head came. */
static int push_failure(lua_State *L, call *c, const char *kind, const char *reason)
{
    lua_createtable(L, 0, 5);
    lua_insert(L, -2);
    lua_setfield(L, -2, "message");
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, reason);
    lua_setfield(L, -2, "reason");
    if (c != NULL && c->res.head_done) {
        lua_pushinteger(L, (lua_Integer)c->res.status);
        lua_setfield(L, -2, "status");
        if (lua_isnil(L, S_RESULT_HEADERS))   /* head_step failed before building it */
            push_headers(L, &c->res.headers);
        else
            lua_pushvalue(L, S_RESULT_HEADERS);
        lua_setfield(L, -2, "headers");
    }
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

static void push_callback_error(lua_State *L, const char *who)
{
    const char *msg = lua_tostring(L, S_ERROR);
    lua_pushfstring(L, "%s failed: %s", who, msg ? msg : luaL_typename(L, S_ERROR));
}

/* Failures we caused (refusal, cancel, a callback's error) before dcs_http's. */
static int push_outcome(lua_State *L, call *c)
{
    dcs_http_response *res = &c->res;

    switch (c->stop) {
    case STOP_HEAD_ERROR:
        push_callback_error(L, "sink.head");
        return push_failure(L, c, "aborted", "callback");
    case STOP_PROGRESS_ERROR:
        push_callback_error(L, "sink.progress");
        return push_failure(L, c, "aborted", "callback");
    case STOP_REFUSED:
        if (lua_isnil(L, S_MESSAGE))
            lua_pushliteral(L, "the response was refused by sink.head");
        else
            lua_pushvalue(L, S_MESSAGE);
        return push_failure(L, c, "aborted", "refused");
    case STOP_CANCELLED:
        lua_pushliteral(L, "cancelled by sink.progress");
        return push_failure(L, c, "aborted", "cancelled");
    default:
        break;
    }
    switch (res->failure) {
    case DCS_HTTP_OK:
        break;
    case DCS_HTTP_WRITE:
        lua_pushfstring(L, "%s (%s)", res->message, dcs_file_code_name(res->file_error));
        return push_failure(L, c, "aborted", "write");
    case DCS_HTTP_TIMEOUT:
    case DCS_HTTP_STALL:
        lua_pushstring(L, res->message);
        return push_failure(L, c, "timeout", dcs_http_failure_name(res->failure));
    default:
        lua_pushstring(L, res->message);
        return push_failure(L, c, "network", dcs_http_failure_name(res->failure));
    }
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, (lua_Integer)res->status);
    lua_setfield(L, -2, "status");
    lua_pushvalue(L, S_RESULT_HEADERS);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, res->body.data ? res->body.data : "", res->body.len);
    lua_setfield(L, -2, "body");
    lua_pushinteger(L, (lua_Integer)res->new_connections);
    lua_setfield(L, -2, "new_connections");
    lua_pushnumber(L, (lua_Number)res->total_seconds);
    lua_setfield(L, -2, "elapsed");
    return 1;
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
    if (u->h == NULL) {
        lua_pushliteral(L, "the transport is closed");
        return push_failure(L, NULL, "closed", "closed");
    }
    lua_settop(L, S_LAST);
    luaL_checkstack(L, 10, WHO);    /* the steps push a few values above the slots */
    c = new_call(L);
    read_request(L, c);
    anchor_headers(L, c);
    perform(L, u, c);
    return push_outcome(L, c);
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
