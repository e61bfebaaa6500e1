/* Lua binding of the signer: dcs.core.sign{ method, url, query, headers,
 * body, ak, sk } -> headers, canonical_request, canonical_query; and
 * core.sign_request{ the same } -> headers, canonical_query, the request
 * pipeline's (lua/dcs/request.lua): no canonical request string to throw
 * away, and room in headers for the two it adds.
 * Argument mistakes raise (they are programmer errors); the signer itself
 * is pure C in dcs_sign.c.
 *
 * Any allocation may run a __gc finalizer, and a finalizer may change the
 * caller's query and headers tables.  So the binding walks each table once
 * with nothing allocating, pushing its entries onto the stack, and from
 * then on reads only those slots: every string pointer it hands the signer
 * is anchored there, and its arrays are sized by the limits, never by a
 * count taken from the caller's tables.
 *
 * Speed (bench/sign.lua): the HMAC key states of the last SK, the output
 * buffer and those arrays live in a per-state scratch, so signing with the
 * same SK again allocates only the result table and strings. */
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "compat.h"
#include "dcs_sha256.h"
#include "dcs_sign.h"
#include "lcore.h"

#define WHO "dcs.sign"

static int is_scalar(lua_State *L, int i)
{
    int t = lua_type(L, i);
    return t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN;
}

/* v in decimal, as "%lld" would write it, without printf's cost per call. */
static void format_integer(long long v, char out[64])
{
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    char digits[24];
    int n = 0;

    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *out++ = '-';
    while (n > 0)
        *out++ = digits[--n];
    *out = '\0';
}

/* %.14g with a '.' whatever LC_NUMERIC says: snprintf writes the locale's
 * decimal point, and a host in a decimal-comma locale sent and signed
 * f=1%2C5 for 1.5. */
static void format_fraction(double n, char out[64])
{
    const char *point = localeconv()->decimal_point;
    size_t plen = point != NULL ? strlen(point) : 0;
    char tmp[64];
    char *p = tmp;
    snprintf(tmp, sizeof tmp, "%.14g", n);
    while (*p != '\0') {
        if (plen > 0 && strncmp(p, point, plen) == 0) {
            *out++ = '.';
            p += plen;
        } else {
            *out++ = *p++;
        }
    }
    *out = '\0';
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
        format_integer((long long)lua_tointeger(L, i), out);
        return 1;
    }
#endif
    n = lua_tonumber(L, i);
    if (!(n >= -9223372036854775808.0 && n < 9223372036854775808.0))
        return 0;
    if (n == (lua_Number)(long long)n)
        format_integer((long long)n, out);
    else
        format_fraction((double)n, out);
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
        luaL_error(L, WHO ": url must be scheme://authority/path, without query, fragment or user "
                      "information (pass the query as a table)");
}

/* ---- what one Lua state keeps from call to call ---- */

#define SCRATCH_MT "dcs.core.sign scratch"
#define HEADER_ROOM (DCS_SIGN_MAX_HEADERS + 2)     /* the caller's, then Host and X-Sdk-Date */

/* Bodies up to this size have their hash remembered: the API's are few
 * and short ("" and "{}" mostly), and each hash is a SHA-256 block. */
#define BODY_MEMO_MAX 64

/* dcs.sign's upvalue: the HMAC key states of the last SK (signing with the
 * same SK again costs no key set-up), the one buffer the canonical request
 * and Authorization are built in, and the arrays the signer reads, sized by
 * the limits, never by a count taken from the caller's tables.  A call
 * takes it out of the upvalue while it runs: a finalizer that signs during
 * the call makes its own, and an error simply leaves it to __gc. */
typedef struct sign_scratch {
    dcs_sign_key *key;          /* of the last SK, or NULL */
    size_t body_len;            /* the last short body and its hash, when */
    char body[BODY_MEMO_MAX];   /* body_hash[0] != 0 */
    char body_hash[65];
    dcs_buf buf;
    dcs_pair headers[HEADER_ROOM];
    dcs_pair query[DCS_SIGN_MAX_QUERY];
} sign_scratch;

/* __gc: frees; the key zeroes what came from the SK.  Idempotent. */
static int scratch_gc(lua_State *L)
{
    sign_scratch *s = lua_touserdata(L, 1);
    dcs_sign_key_free(s->key);
    s->key = NULL;
    dcs_buf_free(&s->buf);
    return 0;
}

/* Pushes the state's scratch, taken out of the upvalue (which only this
 * file sets: a scratch or false), or a new one. */
static sign_scratch *take_scratch(lua_State *L)
{
    sign_scratch *s;

    lua_pushvalue(L, lua_upvalueindex(1));
    if (lua_type(L, -1) == LUA_TUSERDATA) {
        lua_pushboolean(L, 0);
        lua_replace(L, lua_upvalueindex(1));
        return lua_touserdata(L, -1);
    }
    lua_pop(L, 1);
    s = dcs_newuserdata(L, sizeof *s);
    s->key = NULL;
    s->body_hash[0] = '\0';
    dcs_buf_init(&s->buf);
    luaL_getmetatable(L, SCRATCH_MT);
    lua_setmetatable(L, -2);
    return s;
}

/* Back into the upvalue, for the next call. */
static void give_back_scratch(lua_State *L, int scratch)
{
    lua_pushvalue(L, scratch);
    lua_replace(L, lua_upvalueindex(1));
}

/* The key states of sk, made again only when the SK changed. */
static dcs_sign_key *scratch_key(lua_State *L, sign_scratch *s, dcs_str sk)
{
    if (dcs_sign_key_matches(s->key, sk.ptr, sk.len))
        return s->key;
    dcs_sign_key_free(s->key);
    if ((s->key = dcs_sign_key_new(sk.ptr, sk.len)) == NULL)
        luaL_error(L, WHO ": out of memory");
    return s->key;
}

/* sha256(body) from the memo, computed and remembered when it is short
 * and new; NULL leaves it to the signer. */
static const char *scratch_body_hash(sign_scratch *s, dcs_str body)
{
    if (body.len == 0 || body.len > BODY_MEMO_MAX)
        return NULL;
    if (s->body_hash[0] != '\0' && s->body_len == body.len && memcmp(s->body, body.ptr, body.len) == 0)
        return s->body_hash;
    if (!dcs_sha256_hex(body.ptr, body.len, s->body_hash)) {
        s->body_hash[0] = '\0';
        return NULL;
    }
    memcpy(s->body, body.ptr, body.len);
    s->body_len = body.len;
    return s->body_hash;
}

/* ---- the caller's tables, anchored on the stack ---- */

/* The string at slot i as it goes on the wire (numbers converted in place). */
static dcs_str wire_slot(lua_State *L, int i, const char *what, const char *owner)
{
    dcs_str s;
    if (lua_type(L, i) != LUA_TSTRING) {
        push_wire_string(L, i, what, owner);
        lua_replace(L, i);
    }
    s.ptr = lua_tolstring(L, i, &s.len);
    return s;
}

/* ---- query ---- */

static void add_query_pair(lua_State *L, dcs_sign_request *req, dcs_pair *room, dcs_str key,
                           dcs_str value)
{
    if (req->query_count >= DCS_SIGN_MAX_QUERY)
        luaL_error(L, WHO ": %s", dcs_sign_strerror(DCS_SIGN_ETOOMANYQUERY));
    room[req->query_count].key = key;
    room[req->query_count].value = value;
    req->query_count++;
}

/* key = each element of the array at slot a, each element anchored in a
 * slot of its own.  The length is read again after each element: a
 * finalizer may change it. */
static void add_query_array(lua_State *L, dcs_sign_request *req, dcs_pair *room, dcs_str key,
                            int a)
{
    int i;
    for (i = 1; i <= (int)lua_rawlen(L, a) && i <= DCS_SIGN_MAX_QUERY + 1; i++) {
        luaL_checkstack(L, 4, WHO);
        lua_rawgeti(L, a, i);
        if (!is_scalar(L, -1))
            luaL_error(L, WHO ": query array values must be strings, numbers or booleans");
        add_query_pair(L, req, room, key, wire_slot(L, lua_gettop(L), "query value", key.ptr));
    }
}

/* The query table at index t into room; arrays give one pair per element. */
static void read_query(lua_State *L, int t, dcs_sign_request *req, dcs_pair *room)
{
    int i, base = lua_gettop(L) + 1;
    int n = dcs_push_entries(L, t, DCS_SIGN_MAX_QUERY, WHO, "query",
                             dcs_sign_strerror(DCS_SIGN_ETOOMANYQUERY));

    req->query = room;
    req->query_count = 0;
    for (i = 0; i < n; i++) {
        int k = base + 2 * i, v = k + 1, kt = lua_type(L, k);
        dcs_str key;
        if (kt != LUA_TSTRING && kt != LUA_TNUMBER)
            luaL_error(L, WHO ": query keys must be strings");
        key = wire_slot(L, k, "query key", NULL);
        if (lua_type(L, v) == LUA_TTABLE)
            add_query_array(L, req, room, key, v);
        else if (is_scalar(L, v))
            add_query_pair(L, req, room, key, wire_slot(L, v, "query value", key.ptr));
        else
            luaL_error(L, WHO ": query values must be strings, numbers, booleans or arrays");
    }
}

/* ---- headers ---- */

/* The name and value pushed last, which stay where they are. */
static void pair_from_top(lua_State *L, dcs_pair *p)
{
    p->key.ptr = lua_tolstring(L, -2, &p->key.len);
    p->value.ptr = lua_tolstring(L, -1, &p->value.len);
}

/* The headers table at index t into room, then Host from the URL and
 * X-Sdk-Date from the clock unless given.  Returns the first slot. */
static int read_headers(lua_State *L, int t, dcs_sign_request *req, dcs_pair *room,
                        dcs_str authority)
{
    int i, have_host = 0, have_date = 0, base = lua_gettop(L) + 1;
    int n = dcs_push_entries(L, t, DCS_SIGN_MAX_HEADERS, WHO, "headers",
                             dcs_sign_strerror(DCS_SIGN_ETOOMANY));
    char date[17];

    for (i = 0; i < n; i++) {
        int k = base + 2 * i, v = k + 1;
        dcs_pair *h = &room[i];
        if (lua_type(L, k) != LUA_TSTRING)
            luaL_error(L, WHO ": header names must be strings");
        h->key.ptr = lua_tolstring(L, k, &h->key.len);
        if (lua_type(L, v) != LUA_TSTRING && lua_type(L, v) != LUA_TNUMBER)
            luaL_error(L, WHO ": header '%s' must be a string or number", h->key.ptr);
        h->value = wire_slot(L, v, "header value", h->key.ptr);
        have_host |= dcs_str_ieq(h->key.ptr, h->key.len, "host", 4);
        have_date |= dcs_str_ieq(h->key.ptr, h->key.len, "x-sdk-date", 10);
    }
    req->headers = room;
    luaL_checkstack(L, 4, WHO);
    if (!have_host) {
        lua_pushliteral(L, "Host");
        lua_pushlstring(L, authority.ptr, authority.len);
        pair_from_top(L, &room[n++]);
    }
    if (!have_date) {
        if (!dcs_sdk_date(time(NULL), date))
            luaL_error(L, WHO ": the system clock is out of range");
        lua_pushliteral(L, "X-Sdk-Date");
        lua_pushstring(L, date);
        pair_from_top(L, &room[n++]);
    }
    req->header_count = (size_t)n;
    return base;
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

/* headers (the given ones, the added ones and Authorization; the names and
 * values from their slots, count pairs from base), canonical_request,
 * canonical_query. */
static void push_results(lua_State *L, int base, size_t count, const dcs_sign_out *out,
                         int canonical)
{
    size_t i;

    lua_createtable(L, 0, (int)count + (canonical ? 1 : 3));
    for (i = 0; i < count; i++) {
        lua_pushvalue(L, base + 2 * (int)i);
        lua_pushvalue(L, base + 2 * (int)i + 1);
        lua_rawset(L, -3);
    }
    lua_pushlstring(L, out->authorization.ptr, out->authorization.len);
    lua_setfield(L, -2, "Authorization");
    if (canonical)
        lua_pushlstring(L, out->canonical_request.ptr, out->canonical_request.len);
    lua_pushlstring(L, out->canonical_query.ptr, out->canonical_query.len);
}

/* sign and sign_request: canonical says whether the canonical request is
 * returned (sign's second value). */
static int sign_common(lua_State *L, int canonical)
{
    dcs_sign_request req;
    dcs_sign_out out;
    dcs_str authority = { NULL, 0 };    /* gcc -flto misses that luaL_error never returns */
    sign_scratch *s;
    size_t bad = (size_t)-1;
    int scratch, headers, rc;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    luaL_checkstack(L, 40, WHO);
    memset(&req, 0, sizeof req);
    read_arguments(L, &req, &authority);
    s = take_scratch(L);
    scratch = lua_gettop(L);
    lua_getfield(L, 1, "query");
    read_query(L, lua_gettop(L), &req, s->query);
    lua_getfield(L, 1, "headers");
    headers = read_headers(L, lua_gettop(L), &req, s->headers, authority);
    req.body_hash = scratch_body_hash(s, req.body);
    rc = dcs_sign_with_key(scratch_key(L, s, req.sk), &req, &s->buf, &out, &bad);
    if (rc != DCS_SIGN_OK) {
        give_back_scratch(L, scratch);
        return raise_sign_error(L, rc, &req, bad);
    }
    /* out points into s->buf, which a finalizer run by these allocations
     * cannot reach: the scratch is out of the upvalue until they are done */
    push_results(L, headers, req.header_count, &out, canonical);
    give_back_scratch(L, scratch);
    return canonical ? 3 : 2;
}

static int l_sign(lua_State *L)
{
    return sign_common(L, 1);
}

static int l_sign_request(lua_State *L)
{
    return sign_common(L, 0);
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
    if (luaL_newmetatable(L, SCRATCH_MT)) {
        lua_pushcfunction(L, scratch_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_pushboolean(L, 0);      /* the scratch, made at the first call */
    lua_pushcclosure(L, l_sign, 1);
    lua_setfield(L, -2, "sign");
    lua_pushboolean(L, 0);      /* its own scratch */
    lua_pushcclosure(L, l_sign_request, 1);
    lua_setfield(L, -2, "sign_request");
    lua_pushinteger(L, DCS_SIGN_MAX_HEADERS);
    lua_setfield(L, -2, "SIGN_MAX_HEADERS");
    lua_pushinteger(L, DCS_SIGN_MAX_QUERY);
    lua_setfield(L, -2, "SIGN_MAX_QUERY");
    lua_pushinteger(L, DCS_SIGN_MAX_AK);
    lua_setfield(L, -2, "SIGN_MAX_AK");
    /* which SHA-256 the signer hashes with in this process (dcs_sha256.h) */
    lua_pushstring(L, dcs_sha256_hw() ? "sha-ni" : "mbedtls");
    lua_setfield(L, -2, "SHA256");
}
