/* The Lua side of one request (lreq.h): shared by handle:request and
 * engine:start, so both read the same request table the same way and run
 * the sink the same way.  The tables they answer with: lresult.c. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "compat.h"
#include "dcs_headers.h"
#include "lreq.h"

#define TOO_MANY_HEADERS "too many headers (at most 1000)"    /* DCS_LREQ_MAX_HEADERS */
#define PROGRESS_STEP (256 * 1024)
#define MIN_SECONDS 0.001       /* below this a timeout would round to "none" */
#define MAX_SECONDS 1e6

void dcs_lreq_anchor(lua_State *L)
{
    lua_createtable(L, DCS_A_COUNT, 0);
}

/* Seconds -> milliseconds, rounded up: 0.0004 s never becomes 0 = none. */
static long seconds_field_ms(lua_State *L, int t, const char *name, double dflt, const char *who)
{
    double s = dcs_field_number(L, t, name, dflt, MIN_SECONDS, MAX_SECONDS, who);
    return (long)ceil(s * 1000.0);
}

/* timeout = seconds | false (no total timeout); nil gives `absent`. */
static long timeout_ms(lua_State *L, int t, long absent, long none, const char *who)
{
    long ms;
    lua_getfield(L, t, "timeout");
    if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))
        ms = none;
    else if (lua_isnil(L, -1))
        ms = absent;
    else
        ms = seconds_field_ms(L, t, "timeout", 0, who);
    lua_pop(L, 1);
    return ms;
}

/* A string option, pushed (dcs_field_string): libcurl takes C strings, so
 * one with a NUL inside, which libcurl would cut short there, raises. */
static const char *config_string(lua_State *L, int t, const char *name, const char *who)
{
    size_t len;
    const char *s = dcs_field_string(L, t, name, &len, who);
    if (s != NULL && strlen(s) != len)
        luaL_error(L, "%s: '%s' must not contain a NUL byte", who, name);
    return s;
}

/* { timeout = s|false, connect_timeout = s, insecure =, ca_file =, proxy =,
 *   no_proxy =, user_agent =, max_body = bytes (0 = no limit) } */
void dcs_lreq_config(lua_State *L, int t, dcs_http_config *cfg, const char *who)
{
    double max_size = (double)SIZE_MAX < 9007199254740992.0 ? (double)SIZE_MAX : 9007199254740992.0;
    double max_body;

    memset(cfg, 0, sizeof *cfg);
    cfg->ca_file = config_string(L, t, "ca_file", who);
    cfg->proxy = config_string(L, t, "proxy", who);
    cfg->no_proxy = config_string(L, t, "no_proxy", who);
    cfg->user_agent = config_string(L, t, "user_agent", who);
    cfg->timeout_ms = timeout_ms(L, t, 120000, 0, who);
    cfg->connect_timeout_ms = seconds_field_ms(L, t, "connect_timeout", 60, who);
    max_body = dcs_field_number(L, t, "max_body", 64.0 * 1024 * 1024, 0, max_size, who);
    /* 0.5 would truncate to 0, which means "no limit". */
    if (max_body != floor(max_body))
        luaL_error(L, "%s: 'max_body' must be a whole number of bytes", who);
    cfg->max_body = (size_t)max_body;
    lua_getfield(L, t, "insecure");
    cfg->insecure = lua_toboolean(L, -1);
    lua_pop(L, 1);
}

/* ---- callbacks from the transfer: protected, on the driving thread ---- */


/* head_step(c, anchor), for a sink with a head function: builds the
 * headers table and asks sink.head where the body goes.  Raises on any
 * mistake; the caller's lua_pcall turns that into a "callback" failure. */
static int head_step(lua_State *L)
{
    dcs_lreq *c = lua_touserdata(L, 1);
    int has_file, answer;

    lua_settop(L, 2);
    lua_rawgeti(L, 2, DCS_A_FILE);                      /* 3 */
    has_file = lua_toboolean(L, 3);
    dcs_lreq_push_headers(L, c->block, c->block_len);            /* 4 */
    lua_pushvalue(L, 4);
    lua_rawseti(L, 2, DCS_A_HEADERS);
    lua_rawgeti(L, 2, DCS_A_HEAD);                      /* 5 */
    lua_pushinteger(L, (lua_Integer)c->status);
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
    if (lua_type(L, 6) == LUA_TSTRING) {
        lua_pushvalue(L, 6);
        lua_rawseti(L, 2, DCS_A_MESSAGE);
    }
    return 0;
}

/* Pushes the anchor; 0 (nothing pushed) when the host cannot find it. */
static int push_anchor(dcs_lreq *c)
{
    lua_State *L = c->host->L;
    c->host->push_anchor(L, c->host->frame, c);
    if (lua_istable(L, -1))
        return 1;
    lua_pop(L, 1);
    return 0;
}

/* The dcs_http_request's on_head.  Outside lua_pcall only stack operations
 * that cannot raise: the stack was grown beforehand, the anchor's slots
 * exist.  Lua code may run in the pcall, so nothing read before it (but c,
 * which its owner keeps alive meanwhile) is trusted after it. */
static dcs_http_body_to on_head(void *ud, long status, const char *block, size_t len)
{
    dcs_lreq *c = ud;
    lua_State *L = c->host->L;
    int a;

    /* No sink.head: where the body goes needs no Lua, and the headers
     * table is built from the same block after the transfer, when a result
     * needs it (dcs_lreq_result): no pcall while libcurl is on the stack. */
    if (!c->has_head) {
        c->body_to = c->req.file != NULL && status / 100 == 2 ? DCS_HTTP_BODY_FILE
                                                              : DCS_HTTP_BODY_BUFFER;
        return c->body_to;
    }
    if (!push_anchor(c)) {
        c->stop = STOP_HEAD_ERROR;
        return DCS_HTTP_BODY_REFUSE;
    }
    a = lua_gettop(L);
    c->status = status;
    c->block = block;
    c->block_len = len;
    lua_rawgeti(L, a, DCS_A_HEAD_STEP);
    lua_pushlightuserdata(L, c);
    lua_pushvalue(L, a);
    if (lua_pcall(L, 2, 0, 0) != 0) {
        lua_rawseti(L, a, DCS_A_ERROR);
        c->stop = STOP_HEAD_ERROR;
        c->body_to = DCS_HTTP_BODY_REFUSE;
    } else if (c->body_to == DCS_HTTP_BODY_REFUSE) {
        c->stop = STOP_REFUSED;
    }
    lua_pop(L, 1);
    c->block = NULL;
    return c->body_to;
}

/* The dcs_http_request's on_progress: sink.progress(bytes); false cancels. */
static int on_progress(void *ud, long long bytes)
{
    dcs_lreq *c = ud;
    lua_State *L = c->host->L;
    int a, stop;

    if (!push_anchor(c)) {
        c->stop = STOP_PROGRESS_ERROR;
        return 0;
    }
    a = lua_gettop(L);
    lua_rawgeti(L, a, DCS_A_PROGRESS);
    lua_pushinteger(L, (lua_Integer)bytes);
    if (lua_pcall(L, 1, 1, 0) != 0) {
        lua_rawseti(L, a, DCS_A_ERROR);
        lua_pop(L, 1);
        c->stop = STOP_PROGRESS_ERROR;
        return 0;
    }
    stop = lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
    lua_pop(L, 2);
    if (stop)
        c->stop = STOP_CANCELLED;
    return !stop;
}

/* ---- reading the request ---- */

/* A string field of the request into its anchor slot; the pointer stays
 * valid while the anchor holds the string, whatever the request becomes. */
static const char *anchor_string(lua_State *L, int req, int anchor, int slot, const char *name,
                                 size_t *len, const char *who)
{
    const char *s = dcs_field_string(L, req, name, len, who);
    if (s == NULL) {
        lua_pop(L, 1);
        return NULL;
    }
    lua_rawseti(L, anchor, slot);
    return s;
}

/* A field into its anchor slot (false when nil); 1 when it is not nil. */
static int anchor_field(lua_State *L, int t, const char *name, int anchor, int slot)
{
    int present;
    lua_getfield(L, t, name);
    present = !lua_isnil(L, -1);
    if (!present) {
        lua_pop(L, 1);
        lua_pushboolean(L, 0);
    }
    lua_rawseti(L, anchor, slot);
    return present;
}

static void check_method_url(lua_State *L, const char *method, size_t method_len,
                             const char *url, size_t url_len)
{
    size_t i;
    /* The method goes on the request line verbatim: letters only. */
    luaL_argcheck(L, method_len > 0 &&
                         strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == method_len,
                  2, "method must be upper-case letters");
    luaL_argcheck(L, url != NULL && url_len > 0, 2, "url must be a non-empty string");
    for (i = 0; i < url_len; i++)
        luaL_argcheck(L, (unsigned char)url[i] > 0x20 && url[i] != 0x7f, 2,
                      "url must not contain whitespace or control characters");
}

/* The sink's fields into the anchor, checked. */
static void read_sink(lua_State *L, int req, int anchor)
{
    int sink;
    lua_getfield(L, req, "sink");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    luaL_argcheck(L, lua_istable(L, -1), 2, "sink must be a table");
    sink = lua_gettop(L);
    if (anchor_field(L, sink, "file", anchor, DCS_A_FILE)) {
        lua_rawgeti(L, anchor, DCS_A_FILE);
        luaL_argcheck(L, dcs_to_file(L, -1) != NULL, 2, "sink.file must be a dcs.core.file");
        lua_pop(L, 1);
    }
    if (anchor_field(L, sink, "head", anchor, DCS_A_HEAD)) {
        lua_rawgeti(L, anchor, DCS_A_HEAD);
        luaL_argcheck(L, lua_isfunction(L, -1), 2, "sink.head must be a function");
        lua_pop(L, 1);
    }
    if (anchor_field(L, sink, "progress", anchor, DCS_A_PROGRESS)) {
        lua_rawgeti(L, anchor, DCS_A_PROGRESS);
        luaL_argcheck(L, lua_isfunction(L, -1), 2, "sink.progress must be a function");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* Strings, numbers, the headers table and the sink: every field read once.
 * A mistake here is the caller's bug: it raises.  Leaves the user's headers
 * table (or nil) on top of the stack. */
static void read_fields(lua_State *L, int req, int anchor, dcs_lreq *c, const char *who)
{
    dcs_http_request *r = &c->req;
    size_t url_len = 0, method_len = 0;
    const char *url;

    r->method = anchor_string(L, req, anchor, DCS_A_METHOD, "method", &method_len, who);
    url = anchor_string(L, req, anchor, DCS_A_URL, "url", &url_len, who);
    r->body = anchor_string(L, req, anchor, DCS_A_BODY, "body", &r->body_len, who);
    if (r->method == NULL) {
        r->method = "GET";
        method_len = 3;
    }
    check_method_url(L, r->method, method_len, url, url_len);
    r->url = url;
    r->timeout_ms = timeout_ms(L, req, 0, -1, who);
    /* nil: no stall check; libcurl counts whole seconds, so round up. */
    r->stall_seconds = (long)ceil(dcs_field_number(L, req, "stall_timeout", 0, MIN_SECONDS,
                                                   MAX_SECONDS, who));
    r->min_speed = (long)dcs_field_number(L, req, "min_speed", 1, 1, 1e9, who);
    lua_getfield(L, req, "headers");
    luaL_argcheck(L, lua_isnil(L, -1) || lua_istable(L, -1), 2, "headers must be a table");
    read_sink(L, req, anchor);
}

static int header_name_ok(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (!dcs_http_tchar((unsigned char)s[i]))
            return 0;
    return n > 0;
}

/* Whether a value is only blanks (libcurl's: SP, HTAB, VT, FF), or empty.
 * libcurl leaves a line "Name:" followed by blanks only out of the
 * request, so such a header (which the signer signs, trimmed, as empty)
 * goes as "Name;" instead of not at all. */
static int blank_value(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\v' && s[i] != '\f')
            return 0;
    return 1;
}

/* Checks the pair at stack slots k (name) and k + 1 (value; a number
 * becomes its string there); returns the length of its line: "Name: value"
 * or, for an empty or blank value, "Name;" (libcurl's way to send a header
 * with no value). */
static size_t check_pair(lua_State *L, int k, const char *who)
{
    size_t nl, vl;
    const char *name, *value;

    if (lua_type(L, k) != LUA_TSTRING ||
        (lua_type(L, k + 1) != LUA_TSTRING && lua_type(L, k + 1) != LUA_TNUMBER))
        luaL_error(L, "%s: headers must map names to strings", who);
    name = lua_tolstring(L, k, &nl);
    value = lua_tolstring(L, k + 1, &vl);       /* a number becomes a string in its slot */
    if (!header_name_ok(name, nl))
        luaL_error(L, "%s: header name '%s' is not an HTTP token", who, name);
    if (strlen(value) != vl || strpbrk(value, "\r\n") != NULL)
        luaL_error(L, "%s: header '%s' has a CR, LF or NUL in its value", who, name);
    return blank_value(value, vl) ? nl + 1 : nl + 2 + vl;
}

/* Writes the line of the (checked) pair at slots k, k + 1 at out,
 * NUL-terminated; returns the bytes written with the NUL.  No allocation. */
static size_t write_line(lua_State *L, int k, char *out)
{
    size_t nl, vl;
    const char *name = lua_tolstring(L, k, &nl), *value = lua_tolstring(L, k + 1, &vl);

    memcpy(out, name, nl);
    if (blank_value(value, vl)) {
        out[nl] = ';';
        out[nl + 1] = '\0';
        return nl + 2;
    }
    out[nl] = ':';
    out[nl + 1] = ' ';
    memcpy(out + nl + 2, value, vl);
    out[nl + 2 + vl] = '\0';
    return nl + 3 + vl;
}

/* The request's header lines, from the user's table on top of the stack
 * (popped): one userdata the anchor owns, the array of line pointers and
 * then the lines themselves.  Sizes and lines come from the pairs on the
 * stack, which no Lua code (a finalizer run by an allocation) can reach. */
static void anchor_headers(lua_State *L, int anchor, dcs_lreq *c, const char *who)
{
    int h = lua_gettop(L), i;
    int pairs = dcs_push_entries(L, h, DCS_LREQ_MAX_HEADERS, who, "headers", TOO_MANY_HEADERS);
    size_t text = 0, at = 0;
    const char **lines;
    char *out;

    for (i = 0; i < pairs; i++)
        text += check_pair(L, h + 1 + 2 * i, who) + 1;
    lines = dcs_newuserdata(L, (size_t)(pairs > 0 ? pairs : 1) * sizeof *lines + text);
    lua_rawseti(L, anchor, DCS_A_LINES);
    out = (char *)(lines + (pairs > 0 ? pairs : 1));
    for (i = 0; i < pairs; i++) {
        lines[i] = out + at;
        at += write_line(L, h + 1 + 2 * i, out + at);
    }
    c->req.headers = lines;
    c->req.header_count = (size_t)pairs;
    lua_settop(L, h - 1);
}

void dcs_lreq_read(lua_State *L, int req, int anchor, dcs_lreq *c, const char *who)
{
    dcs_file *file;

    luaL_checkstack(L, 10, who);
    read_fields(L, req, anchor, c, who);
    anchor_headers(L, anchor, c, who);
    lua_rawgeti(L, anchor, DCS_A_FILE);
    file = dcs_to_file(L, -1);          /* valid while the anchor holds the file */
    lua_pop(L, 1);
    lua_rawgeti(L, anchor, DCS_A_PROGRESS);
    c->req.on_progress = lua_toboolean(L, -1) && file != NULL ? on_progress : NULL;
    lua_pop(L, 1);
    lua_rawgeti(L, anchor, DCS_A_HEAD);
    c->has_head = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_pushcfunction(L, head_step);
    lua_rawseti(L, anchor, DCS_A_HEAD_STEP);
    c->req.file = file;
    c->req.on_head = on_head;
    c->req.progress_step = PROGRESS_STEP;
    c->req.ud = c;
}
