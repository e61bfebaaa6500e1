/* Lua binding of the signer: dcs.core.sign{ method, url, query, headers,
 * body, ak, sk } -> headers, canonical_request, canonical_query.
 * Argument mistakes raise (they are programmer errors); the signer itself
 * is pure C in dcs_sign.c.
 *
 * Any allocation may run a __gc finalizer, and a finalizer may change the
 * caller's query and headers tables.  So the binding never sizes memory
 * from the caller's tables nor keeps a pointer to a string only they hold:
 * it copies their entries into tables of its own first, and every count
 * and string pointer it hands the signer comes from those. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "compat.h"
#include "dcs_sign.h"
#include "lcore.h"

#define WHO "dcs.sign"

/* String pairs in a table only this call references, kept on its stack:
 * key i at 2i-1, value i at 2i. */
typedef struct pair_list {
    int table;
    size_t count;
} pair_list;

static void list_new(lua_State *L, pair_list *list, size_t expected)
{
    lua_createtable(L, (int)(2 * expected), 0);
    list->table = lua_gettop(L);
    list->count = 0;
}

/* Appends the key and the value on top of the stack, popping them. */
static void list_append(lua_State *L, pair_list *list)
{
    lua_rawseti(L, list->table, (int)(2 * list->count + 2));
    lua_rawseti(L, list->table, (int)(2 * list->count + 1));
    list->count++;
}

/* Pushes a copy of the caller's table at t as {k1, v1, k2, v2, ...} and
 * returns its number of pairs; more than max raise `too_many`.  Nothing
 * allocates while lua_next walks t, except when a finalizer grew t after
 * the count; then the copy simply grows too. */
static size_t copy_table(lua_State *L, int t, size_t max, const char *too_many)
{
    size_t n = 0;
    int copy;

    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (++n > max)
            luaL_error(L, WHO ": %s", too_many);
    }
    lua_createtable(L, (int)(2 * n), 0);
    copy = lua_gettop(L);
    n = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (n == max)
            luaL_error(L, WHO ": %s", too_many);
        lua_pushvalue(L, -2);
        lua_rawseti(L, copy, (int)(2 * n + 1));
        lua_rawseti(L, copy, (int)(2 * n + 2));
        n++;
    }
    return n;
}

static int is_scalar(lua_State *L, int i)
{
    int t = lua_type(L, i);
    return t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN;
}

/* Integral numbers go on the wire in decimal, 7 and 7.0 alike (as in the
 * official SDKs), other numbers as %.14g.  Returns 0 for NaN, infinities
 * and numbers outside [-2^63, 2^63): no long long holds them, and the
 * comparisons come before any cast (they are false for NaN). */
static int format_number(lua_State *L, int i, char out[64])
{
    lua_Number n;
#if LUA_VERSION_NUM >= 503
    if (lua_isinteger(L, i)) {
        snprintf(out, 64, "%lld", (long long)lua_tointeger(L, i));
        return 1;
    }
#endif
    n = lua_tonumber(L, i);
    if (!(n >= -9223372036854775808.0 && n < 9223372036854775808.0))
        return 0;
    if (n == (lua_Number)(long long)n)
        snprintf(out, 64, "%lld", (long long)n);
    else
        snprintf(out, 64, "%.14g", (double)n);
    return 1;
}

/* Pushes the scalar at index i as the string that goes on the wire.  A
 * number no string can stand for raises, naming it as `what` (of `owner`,
 * when not NULL): "query value inf for 'limit' ...". */
static void push_wire_string(lua_State *L, int i, const char *what, const char *owner)
{
    char num[64];
    if (lua_type(L, i) == LUA_TBOOLEAN) {
        lua_pushstring(L, lua_toboolean(L, i) ? "true" : "false");
    } else if (lua_type(L, i) != LUA_TNUMBER) {
        lua_pushvalue(L, i);
    } else if (format_number(L, i, num)) {
        lua_pushstring(L, num);
    } else {
        lua_Number n = lua_tonumber(L, i);
        if (n != n)
            strcpy(num, "nan");     /* its sign is noise: "nan" on every ABI */
        else
            snprintf(num, sizeof num, "%.17g", (double)n);
        luaL_error(L, WHO ": %s %s%s%s%s is not a finite number in range [-2^63, 2^63)", what,
                   num, owner ? " for '" : "", owner ? owner : "", owner ? "'" : "");
    }
}

/* ---- reading the arguments ---- */

static dcs_str required_field(lua_State *L, const char *name)
{
    dcs_str s;
    s.ptr = dcs_field_string(L, 1, name, &s.len, WHO);
    if (s.ptr == NULL || s.len == 0)
        luaL_error(L, WHO ": '%s' is required and must be a non-empty string", name);
    return s;
}

/* The string fields stay on the stack, which keeps their pointers valid. */
static void read_arguments(lua_State *L, dcs_sign_request *req, dcs_str *authority)
{
    dcs_str scheme, url;

    req->method = required_field(L, "method");
    url = required_field(L, "url");
    req->ak = required_field(L, "ak");
    req->sk = required_field(L, "sk");
    req->body.ptr = dcs_field_string(L, 1, "body", &req->body.len, WHO);
    if (!dcs_url_split(url, &scheme, authority, &req->path))
        luaL_error(L, WHO ": url must be scheme://authority/path, without query or fragment "
                      "(pass the query as a table)");
}

/* ---- query ---- */

static void check_query_room(lua_State *L, const pair_list *out)
{
    if (out->count >= DCS_SIGN_MAX_QUERY)
        luaL_error(L, WHO ": %s", dcs_sign_strerror(DCS_SIGN_ETOOMANYQUERY));
}

/* Appends key (at index k) = each element of the array at index a.  The
 * length is read again after each element: a finalizer may change it. */
static void collect_query_array(lua_State *L, pair_list *out, int k, int a)
{
    size_t i;
    for (i = 1; i <= (size_t)lua_rawlen(L, a); i++) {
        check_query_room(L, out);
        lua_rawgeti(L, a, (int)i);
        if (!is_scalar(L, -1))
            luaL_error(L, WHO ": query array values must be strings, numbers or booleans");
        push_wire_string(L, k, "query key", NULL);
        push_wire_string(L, -2, "query value", lua_tostring(L, -1));
        lua_remove(L, -3);
        list_append(L, out);
    }
}

/* The query table at index t as a pair list (pushed); arrays give one
 * pair per element.  A table with more keys than DCS_SIGN_MAX_QUERY
 * raises at once, before anything is copied. */
static void collect_query(lua_State *L, int t, pair_list *out)
{
    size_t i, n = 0;
    int copy;

    if (!lua_isnil(L, t)) {
        luaL_argcheck(L, lua_type(L, t) == LUA_TTABLE, 1, "query must be a table");
        n = copy_table(L, t, DCS_SIGN_MAX_QUERY, dcs_sign_strerror(DCS_SIGN_ETOOMANYQUERY));
    } else {
        lua_newtable(L);
    }
    copy = lua_gettop(L);
    list_new(L, out, n);
    for (i = 0; i < n; i++) {
        int kt;
        lua_rawgeti(L, copy, (int)(2 * i + 1));
        lua_rawgeti(L, copy, (int)(2 * i + 2));
        kt = lua_type(L, -2);
        if (kt != LUA_TSTRING && kt != LUA_TNUMBER)
            luaL_error(L, WHO ": query keys must be strings");
        if (lua_type(L, -1) == LUA_TTABLE) {
            collect_query_array(L, out, lua_gettop(L) - 1, lua_gettop(L));
            lua_pop(L, 2);
        } else if (is_scalar(L, -1)) {
            check_query_room(L, out);
            push_wire_string(L, -2, "query key", NULL);
            push_wire_string(L, -2, "query value", lua_tostring(L, -1));
            lua_remove(L, -3);
            lua_remove(L, -3);
            list_append(L, out);
        } else {
            luaL_error(L, WHO ": query values must be strings, numbers, booleans or arrays");
        }
    }
    lua_remove(L, copy);
    out->table--;
}

/* ---- headers ---- */

typedef struct header_flags {
    int host, date;
} header_flags;

/* The headers table at index t as a pair list (pushed), noting whether
 * Host and X-Sdk-Date are among them.  More than DCS_SIGN_MAX_HEADERS
 * raise at once, before anything is copied. */
static void collect_headers(lua_State *L, int t, pair_list *out, header_flags *have)
{
    size_t i, n = 0;
    int copy;

    have->host = have->date = 0;
    if (!lua_isnil(L, t)) {
        luaL_argcheck(L, lua_type(L, t) == LUA_TTABLE, 1, "headers must be a table");
        n = copy_table(L, t, DCS_SIGN_MAX_HEADERS, dcs_sign_strerror(DCS_SIGN_ETOOMANY));
    } else {
        lua_newtable(L);
    }
    copy = lua_gettop(L);
    list_new(L, out, n + 2);
    for (i = 0; i < n; i++) {
        dcs_str name;
        lua_rawgeti(L, copy, (int)(2 * i + 1));
        lua_rawgeti(L, copy, (int)(2 * i + 2));
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, WHO ": header names must be strings");
        if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, WHO ": header '%s' must be a string or number", lua_tostring(L, -2));
        name.ptr = lua_tolstring(L, -2, &name.len);
        if (dcs_str_ieq(name.ptr, name.len, "host", 4))
            have->host = 1;
        else if (dcs_str_ieq(name.ptr, name.len, "x-sdk-date", 10))
            have->date = 1;
        push_wire_string(L, -1, "header value", name.ptr);
        lua_remove(L, -2);
        list_append(L, out);
    }
    lua_remove(L, copy);
    out->table--;
}

/* Host from the URL and X-Sdk-Date from the clock, unless given. */
static void add_default_headers(lua_State *L, pair_list *headers, const header_flags *have,
                                dcs_str authority)
{
    if (!have->host) {
        lua_pushliteral(L, "Host");
        lua_pushlstring(L, authority.ptr, authority.len);
        list_append(L, headers);
    }
    if (!have->date) {
        char date[17];
        if (!dcs_sdk_date(time(NULL), date))
            luaL_error(L, WHO ": the system clock is out of range");
        lua_pushliteral(L, "X-Sdk-Date");
        lua_pushstring(L, date);
        list_append(L, headers);
    }
}

/* A C array over the strings of a list, pushed as a userdata.  The list's
 * table keeps every string alive until the call returns, and only this
 * call can change it. */
static dcs_pair *list_pairs(lua_State *L, const pair_list *list)
{
    dcs_pair *pairs;
    size_t i;

    pairs = dcs_newuserdata(L, (list->count ? list->count : 1) * sizeof *pairs);
    for (i = 0; i < list->count; i++) {
        lua_rawgeti(L, list->table, (int)(2 * i + 1));
        lua_rawgeti(L, list->table, (int)(2 * i + 2));
        pairs[i].key.ptr = lua_tolstring(L, -2, &pairs[i].key.len);
        pairs[i].value.ptr = lua_tolstring(L, -1, &pairs[i].value.len);
        lua_pop(L, 2);
    }
    return pairs;
}

/* ---- results ---- */

/* "dcs.sign: <what is wrong>", then the header's name when one is at fault. */
static int raise_sign_error(lua_State *L, int rc, const dcs_sign_request *req, size_t bad)
{
    if ((rc == DCS_SIGN_EBADHEADER || rc == DCS_SIGN_EDUPHEADER) && bad < req->header_count) {
        lua_pushlstring(L, req->headers[bad].key.ptr, req->headers[bad].key.len);
        return luaL_error(L, WHO ": %s %s", dcs_sign_strerror(rc), lua_tostring(L, -1));
    }
    return luaL_error(L, WHO ": %s", dcs_sign_strerror(rc));
}

/* headers (the given ones, the added ones and Authorization),
 * canonical_request, canonical_query. */
static int push_results(lua_State *L, const dcs_sign_request *req, dcs_sign_result *res)
{
    size_t i;
    int out;

    /* Copies first, then the C buffers go, before anything else can raise. */
    lua_pushlstring(L, res->authorization.data, res->authorization.len);
    lua_pushlstring(L, res->canonical_request.data, res->canonical_request.len);
    lua_pushlstring(L, res->canonical_query.data ? res->canonical_query.data : "",
                    res->canonical_query.len);
    dcs_sign_result_free(res);

    lua_createtable(L, 0, (int)req->header_count + 1);
    out = lua_gettop(L);
    for (i = 0; i < req->header_count; i++) {
        lua_pushlstring(L, req->headers[i].key.ptr, req->headers[i].key.len);
        lua_pushlstring(L, req->headers[i].value.ptr, req->headers[i].value.len);
        lua_rawset(L, out);
    }
    lua_pushvalue(L, out - 3);
    lua_setfield(L, out, "Authorization");
    lua_pushvalue(L, out);
    lua_pushvalue(L, out - 2);
    lua_pushvalue(L, out - 1);
    return 3;
}

static int l_sign(lua_State *L)
{
    dcs_sign_request req;
    dcs_sign_result res;
    dcs_str authority;
    pair_list query, headers;
    header_flags have;
    size_t bad = (size_t)-1;
    int rc;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    luaL_checkstack(L, 40, WHO);
    memset(&req, 0, sizeof req);
    read_arguments(L, &req, &authority);

    lua_getfield(L, 1, "query");
    collect_query(L, lua_gettop(L), &query);
    lua_getfield(L, 1, "headers");
    collect_headers(L, lua_gettop(L), &headers, &have);
    add_default_headers(L, &headers, &have, authority);

    req.query = list_pairs(L, &query);
    req.query_count = query.count;
    req.headers = list_pairs(L, &headers);
    req.header_count = headers.count;

    dcs_sign_result_init(&res);
    rc = dcs_sign(&req, &res, &bad);
    if (rc != DCS_SIGN_OK) {
        dcs_sign_result_free(&res);
        return raise_sign_error(L, rc, &req, bad);
    }
    return push_results(L, &req, &res);
}
/* Runs a percent-coding function over argument 1. */
static int push_coded(lua_State *L, void (*code)(dcs_buf *, const char *, size_t, int), int flag)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    dcs_buf b = DCS_BUF_INIT;
    code(&b, s, n, flag);
    if (!dcs_buf_ok(&b)) {
        dcs_buf_free(&b);
        return luaL_error(L, "out of memory");
    }
    lua_pushlstring(L, b.data ? b.data : "", b.len);
    dcs_buf_free(&b);
    return 1;
}

static void decode_adapter(dcs_buf *out, const char *s, size_t n, int unused)
{
    (void)unused;
    dcs_percent_decode(out, s, n);
}

/* encode(s [, keep_slash]) */
static int l_encode(lua_State *L)
{
    return push_coded(L, dcs_percent_encode, lua_toboolean(L, 2));
}

static int l_decode(lua_State *L)
{
    return push_coded(L, decode_adapter, 0);
}

static int l_sha256_hex(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    char hex[65];
    if (!dcs_sha256_hex(s, n, hex))
        return luaL_error(L, "sha256 failed");
    lua_pushstring(L, hex);
    return 1;
}

static int l_hmac_sha256_hex(lua_State *L)
{
    size_t kn, mn;
    const char *k = luaL_checklstring(L, 1, &kn);
    const char *m = luaL_checklstring(L, 2, &mn);
    char hex[65];
    if (!dcs_hmac_sha256_hex(k, kn, m, mn, hex))
        return luaL_error(L, "hmac-sha256 failed");
    lua_pushstring(L, hex);
    return 1;
}

/* sdk_date([unix_seconds]) -> "YYYYMMDDTHHMMSSZ" */
static int l_sdk_date(lua_State *L)
{
    char date[17];
    time_t t;
    if (lua_isnoneornil(L, 1)) {
        t = time(NULL);
    } else {
        lua_Number n = luaL_checknumber(L, 1);
        /* Checked before the cast: NaN, inf or 1e300 would be undefined. */
        luaL_argcheck(L, n >= 0 && n < 253402300800.0, 1, "time out of range (years 1970-9999)");
        t = (time_t)n;
    }
    if (!dcs_sdk_date(t, date))
        return luaL_error(L, "dcs.core.sdk_date: time out of range");
    lua_pushstring(L, date);
    return 1;
}

static const luaL_Reg sign_functions[] = {
    {"sign", l_sign},
    {"encode", l_encode},
    {"decode", l_decode},
    {"sha256_hex", l_sha256_hex},
    {"hmac_sha256_hex", l_hmac_sha256_hex},
    {"sdk_date", l_sdk_date},
    {NULL, NULL}
};

void dcs_open_sign(lua_State *L)
{
    dcs_setfuncs(L, sign_functions, 0);
    lua_pushinteger(L, DCS_SIGN_MAX_HEADERS);
    lua_setfield(L, -2, "SIGN_MAX_HEADERS");
    lua_pushinteger(L, DCS_SIGN_MAX_QUERY);
    lua_setfield(L, -2, "SIGN_MAX_QUERY");
    lua_pushinteger(L, DCS_SIGN_MAX_AK);
    lua_setfield(L, -2, "SIGN_MAX_AK");
}
