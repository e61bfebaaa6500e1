/* Lua binding of the signer: dcs.core.sign{ method, url, query, headers,
 * body, ak, sk } -> headers, canonical_request, canonical_query.
 * Argument mistakes raise (they are programmer errors); the signer itself
 * is pure C in dcs_sign.c. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "compat.h"
#include "dcs_sign.h"
#include "lcore.h"

/* Strings made here (numbers, booleans, Host, X-Sdk-Date) must stay alive
 * while the signer holds pointers to them: they go into an anchor table
 * that sits on the stack for the whole call. */
typedef struct anchor {
    int index;
    int count;
} anchor;

static dcs_str anchor_string(lua_State *L, anchor *a, int value_index)
{
    dcs_str s;
    lua_pushvalue(L, value_index);
    if (lua_type(L, -1) == LUA_TBOOLEAN) {
        int b = lua_toboolean(L, -1);
        lua_pop(L, 1);
        lua_pushstring(L, b ? "true" : "false");
    } else if (lua_type(L, -1) == LUA_TNUMBER) {
        char num[64];
        lua_Number n = lua_tonumber(L, -1);
        lua_pop(L, 1);
        /* 7 and 7.0 both mean 7 on the wire, as in the official SDKs. */
        if (dcs_isinteger(L, value_index))
            snprintf(num, sizeof num, "%lld", dcs_tointeger(L, value_index));
        else if (n == (lua_Number)(long long)n && n > -9.2e18 && n < 9.2e18)
            snprintf(num, sizeof num, "%lld", (long long)n);
        else
            snprintf(num, sizeof num, "%.14g", (double)n);
        lua_pushstring(L, num);
    }
    s.ptr = lua_tolstring(L, -1, &s.len);
    lua_rawseti(L, a->index, ++a->count);
    return s;
}

static int is_scalar(lua_State *L, int i)
{
    int t = lua_type(L, i);
    return t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN;
}

static dcs_str key_string(lua_State *L, anchor *a, int key_index)
{
    dcs_str s;
    if (lua_type(L, key_index) == LUA_TSTRING) {
        s.ptr = lua_tolstring(L, key_index, &s.len);   /* safe: it is a string */
        return s;
    }
    return anchor_string(L, a, key_index);
}

/* Two passes over query: count, then fill.  Arrays give one pair each. */
static dcs_pair *collect_query(lua_State *L, int t, anchor *a, size_t *count)
{
    size_t n = 0;
    dcs_pair *pairs;

    *count = 0;
    if (lua_isnoneornil(L, t))
        return NULL;
    luaL_argcheck(L, lua_type(L, t) == LUA_TTABLE, 1, "query must be a table");
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int kt = lua_type(L, -2);
        if (kt != LUA_TSTRING && kt != LUA_TNUMBER)
            luaL_error(L, "dcs.sign: query keys must be strings");
        if (lua_type(L, -1) == LUA_TTABLE) {
            size_t i, len = (size_t)lua_rawlen(L, -1);
            for (i = 1; i <= len; i++) {
                lua_rawgeti(L, -1, (int)i);
                if (!is_scalar(L, -1))
                    luaL_error(L, "dcs.sign: query array values must be strings, numbers or booleans");
                lua_pop(L, 1);
            }
            n += len;
        } else if (is_scalar(L, -1)) {
            n++;
        } else {
            luaL_error(L, "dcs.sign: query values must be strings, numbers, booleans or arrays");
        }
        lua_pop(L, 1);
    }
    if (n == 0)
        return NULL;
    pairs = dcs_newuserdata(L, n * sizeof *pairs);
    lua_rawseti(L, a->index, ++a->count);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        dcs_str key = key_string(L, a, lua_gettop(L) - 1);
        if (lua_type(L, -1) == LUA_TTABLE) {
            size_t i, len = (size_t)lua_rawlen(L, -1);
            for (i = 1; i <= len; i++) {
                lua_rawgeti(L, -1, (int)i);
                pairs[*count].key = key;
                pairs[*count].value = anchor_string(L, a, lua_gettop(L));
                (*count)++;
                lua_pop(L, 1);
            }
        } else {
            pairs[*count].key = key;
            pairs[*count].value = anchor_string(L, a, lua_gettop(L));
            (*count)++;
        }
        lua_pop(L, 1);
    }
    return pairs;
}

static int name_equals(dcs_str s, const char *lower_name)
{
    size_t i, n = strlen(lower_name);
    if (s.len != n)
        return 0;
    for (i = 0; i < n; i++) {
        char c = s.ptr[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if (c != lower_name[i])
            return 0;
    }
    return 1;
}

static const char *opt_string_field(lua_State *L, int t, const char *name, size_t *len)
{
    const char *s;
    lua_getfield(L, t, name);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "dcs.sign: '%s' must be a string", name);
    s = lua_tolstring(L, -1, len);
    lua_pop(L, 1);              /* still referenced by the argument table */
    return s;
}

static const char *string_field(lua_State *L, int t, const char *name, size_t *len)
{
    const char *s = opt_string_field(L, t, name, len);
    if (s == NULL || *len == 0)
        luaL_error(L, "dcs.sign: '%s' is required and must be a non-empty string", name);
    return s;
}

static int l_sign(lua_State *L)
{
    dcs_sign_request req;
    dcs_sign_result res;
    dcs_str scheme, authority, url;
    anchor a;
    dcs_pair *headers;
    size_t nheaders = 0, cap = 2, bad = 0;
    int have_host = 0, have_date = 0, rc, headers_index, query_index, out;

    luaL_checktype(L, 1, LUA_TTABLE);
    memset(&req, 0, sizeof req);
    lua_settop(L, 1);
    lua_newtable(L);
    a.index = lua_gettop(L);
    a.count = 0;

    req.method.ptr = string_field(L, 1, "method", &req.method.len);
    url.ptr = string_field(L, 1, "url", &url.len);
    req.ak.ptr = string_field(L, 1, "ak", &req.ak.len);
    req.sk.ptr = string_field(L, 1, "sk", &req.sk.len);
    req.body.ptr = opt_string_field(L, 1, "body", &req.body.len);
    if (!dcs_url_split(url, &scheme, &authority, &req.path))
        luaL_error(L, "dcs.sign: url must be scheme://authority/path, without query or fragment "
                      "(pass the query as a table)");

    lua_getfield(L, 1, "query");
    query_index = lua_gettop(L);
    req.query = collect_query(L, query_index, &a, &req.query_count);

    lua_getfield(L, 1, "headers");
    headers_index = lua_gettop(L);
    if (!lua_isnil(L, headers_index)) {
        luaL_argcheck(L, lua_type(L, headers_index) == LUA_TTABLE, 1, "headers must be a table");
        lua_pushnil(L);
        while (lua_next(L, headers_index)) {
            cap++;
            lua_pop(L, 1);
        }
    }
    headers = dcs_newuserdata(L, cap * sizeof *headers);
    lua_rawseti(L, a.index, ++a.count);
    if (!lua_isnil(L, headers_index)) {
        lua_pushnil(L);
        while (lua_next(L, headers_index)) {
            dcs_pair *h = &headers[nheaders++];
            if (lua_type(L, -2) != LUA_TSTRING)
                luaL_error(L, "dcs.sign: header names must be strings");
            if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
                luaL_error(L, "dcs.sign: header '%s' must be a string or number",
                           lua_tostring(L, -2));
            h->key.ptr = lua_tolstring(L, -2, &h->key.len);
            h->value = anchor_string(L, &a, lua_gettop(L));
            if (name_equals(h->key, "host"))
                have_host = 1;
            else if (name_equals(h->key, "x-sdk-date"))
                have_date = 1;
            lua_pop(L, 1);
        }
    }
    if (!have_host) {
        dcs_pair *h = &headers[nheaders++];
        h->key.ptr = "Host";
        h->key.len = 4;
        h->value = authority;
    }
    if (!have_date) {
        char date[17];
        dcs_pair *h = &headers[nheaders++];
        if (!dcs_sdk_date(time(NULL), date))
            luaL_error(L, "dcs.sign: the system clock is out of range");
        lua_pushstring(L, date);
        h->key.ptr = "X-Sdk-Date";
        h->key.len = 10;
        h->value.ptr = lua_tolstring(L, -1, &h->value.len);
        lua_rawseti(L, a.index, ++a.count);
    }
    req.headers = headers;
    req.header_count = nheaders;

    dcs_sign_result_init(&res);
    rc = dcs_sign(&req, &res, &bad);
    if (rc != DCS_SIGN_OK) {
        dcs_sign_result_free(&res);
        if (rc == DCS_SIGN_EBADHEADER || rc == DCS_SIGN_EDUPHEADER)
            lua_pushlstring(L, headers[bad].key.ptr, headers[bad].key.len);
        else
            lua_pushliteral(L, "");
        return luaL_error(L, "dcs.sign: %s %s", dcs_sign_strerror(rc), lua_tostring(L, -1));
    }

    /* Build the results, then free the C buffers before anything can raise
     * past them (pushing copies first). */
    lua_pushlstring(L, res.authorization.data, res.authorization.len);
    lua_pushlstring(L, res.canonical_request.data, res.canonical_request.len);
    lua_pushlstring(L, res.canonical_query.data ? res.canonical_query.data : "",
                    res.canonical_query.len);
    dcs_sign_result_free(&res);

    lua_createtable(L, 0, (int)nheaders + 1);
    out = lua_gettop(L);
    {
        size_t i;
        for (i = 0; i < nheaders; i++) {
            lua_pushlstring(L, headers[i].key.ptr, headers[i].key.len);
            lua_pushlstring(L, headers[i].value.ptr, headers[i].value.len);
            lua_rawset(L, out);
        }
    }
    lua_pushvalue(L, out - 3);
    lua_setfield(L, out, "Authorization");
    lua_pushvalue(L, out);
    lua_pushvalue(L, out - 2);
    lua_pushvalue(L, out - 1);
    return 3;
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
}
