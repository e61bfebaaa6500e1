/* Small OS helpers the Lua layer needs and plain Lua lacks: a sleep, a
 * monotonic clock, random numbers from the system, streaming SHA-256 of a
 * file, isatty, and (for the command only) standard descriptors that are
 * never closed.  (Under OpenResty
 * the Lua layer uses ngx.sleep and ngx.now instead of the first two.) */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/md.h>

#include "compat.h"
#include "dcs_sha256.h"
#include "lcore.h"

const char *dcs_field_string(lua_State *L, int t, const char *name, size_t *len,
                             const char *who)
{
    lua_getfield(L, t, name);
    if (lua_isnil(L, -1))
        return NULL;
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "%s: '%s' must be a string", who, name);
    return lua_tolstring(L, -1, len);
}

double dcs_field_number(lua_State *L, int t, const char *name, double dflt, double min,
                        double max, const char *who)
{
    double v;
    lua_getfield(L, t, name);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return dflt;
    }
    if (lua_type(L, -1) != LUA_TNUMBER)
        luaL_error(L, "%s: '%s' must be a number", who, name);
    v = (double)lua_tonumber(L, -1);
    lua_pop(L, 1);
    /* The comparison is false for NaN too; checked before any cast. */
    if (!(v >= min && v <= max))
        luaL_error(L, "%s: '%s' must be from %f to %f", who, name, min, max);
    return v;
}

static int l_sleep(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    struct timespec ts, rem;
    luaL_argcheck(L, s >= 0 && s <= 86400.0 * 365, 1, "seconds out of range");
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (lua_Number)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &rem) != 0 && errno == EINTR)
        ts = rem;
    return 0;
}

static int l_monotime(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

/* core.random() -> a number in [0, 1) from the system's entropy, for the
 * retries' jitter.  math.random starts from one fixed seed in LuaJIT and
 * Lua 5.3, and nginx forks its workers from one Lua state: every process,
 * every worker, would draw the same waits and retry in step.  Without
 * getentropy, the clock and the pid, mixed (splitmix64's finaliser). */
static int l_random(lua_State *L)
{
    uint64_t x = 0;
    if (getentropy(&x, sizeof x) != 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        x = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        x ^= x >> 31;
    }
    lua_pushnumber(L, (lua_Number)(x >> 11) / 9007199254740992.0);      /* 53 bits / 2^53 */
    return 1;
}

/* The SHA-256 of what is left of fp into md: on the CPU's SHA extensions
 * when this process uses them (dcs_sha256_hw: the file writer too),
 * else mbedTLS.  Returns 1, or 0 on a read or hash failure. */
static int hash_stream(FILE *fp, unsigned char md[32])
{
    unsigned char chunk[16384];
    mbedtls_md_context_t ctx;
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    size_t n;
    int ok;

    if (dcs_sha256_hw()) {
        dcs_sha256 s;
        dcs_sha256_start(&s);
        while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
            dcs_sha256_update(&s, chunk, n);
        dcs_sha256_finish(&s, md);
        return !ferror(fp);
    }
    mbedtls_md_init(&ctx);
    ok = info != NULL && mbedtls_md_setup(&ctx, info, 0) == 0 && mbedtls_md_starts(&ctx) == 0;
    while (ok && (n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        ok = mbedtls_md_update(&ctx, chunk, n) == 0;
    ok = ok && !ferror(fp) && mbedtls_md_finish(&ctx, md) == 0;
    mbedtls_md_free(&ctx);
    return ok;
}

/* sha256_file(path) -> hex | nil, message; constant memory. */
static int l_sha256_file(lua_State *L)
{
    size_t len;
    const char *path = luaL_checklstring(L, 1, &len);
    unsigned char md[32];
    char out[65];
    FILE *fp;
    int ok;

    if (strlen(path) != len) {          /* fopen would open the name before the NUL */
        lua_pushnil(L);
        lua_pushliteral(L, "invalid file name: it contains a NUL byte");
        return 2;
    }
    fp = fopen(path, "rb");
    if (fp == NULL) {
        lua_pushnil(L);
        lua_pushfstring(L, "cannot open %s: %s", path, strerror(errno));
        return 2;
    }
    ok = hash_stream(fp, md);
    fclose(fp);
    if (!ok) {
        lua_pushnil(L);
        lua_pushfstring(L, "cannot hash %s", path);
        return 2;
    }
    dcs_hex_encode(md, sizeof md, out);
    lua_pushlstring(L, out, 64);
    return 1;
}

/* isatty(fd): false for a number no descriptor has (not cast to another). */
static int l_isatty(lua_State *L)
{
    lua_Integer fd = luaL_checkinteger(L, 1);
    lua_pushboolean(L, fd >= 0 && fd <= INT_MAX && isatty((int)fd));
    return 1;
}

/* Opens /dev/null on fd: 0 write-only, 1 and 2 read-only, so that reads
 * of stdin and writes of stdout and stderr fail (EBADF), as glibc does for
 * setuid programs.  0, or errno. */
static int hold_fd(int fd)
{
    int got = open("/dev/null", (fd == 0 ? O_WRONLY : O_RDONLY) | O_NOCTTY);
    if (got == -1)
        return errno;
    if (got != fd) {
        int err = dup2(got, fd) == -1 ? errno : 0;
        close(got);
        return err;
    }
    return 0;
}

/* hold_standard_fds() -> true | nil, message.  Descriptors 0, 1 and 2 that
 * are closed (a command run with >&- or 2>&-) get /dev/null (hold_fd):
 * otherwise the next file or socket opened takes the number, and the
 * command's results and messages go into it (libcurl's socketpair, a
 * download's partial file).  For the command: a library leaves a host's
 * descriptors alone. */
static int l_hold_standard_fds(lua_State *L)
{
    int fd;

    for (fd = 0; fd <= 2; fd++) {
        int err = 0;
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF)
            err = hold_fd(fd);
        if (err != 0) {
            lua_pushnil(L);
            lua_pushfstring(L, "descriptor %d: %s", fd, strerror(err));
            return 2;
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- byte classes, for lua/dcs/validate.lua (Lua patterns cost about
 * 20 ns a byte; these run over every header of every request) ---- */

enum { B_TEXT = 1, B_TOKEN = 2, B_VISIBLE = 4, B_ID = 8, B_ALNUM = 16 };

/* The classes of byte c, as constant expressions: text (no control byte
 * but tab), RFC 9110 tchar, visible (printable ASCII, no space), id
 * (letters, digits, '.', '_', '-'), alnum.  spec/transport_spec.lua checks
 * every byte against the definitions, and the token class against the
 * header parser's (dcs_http_tchar in dcs_headers.h). */
#define IS_ALNUM(c) (((c) >= '0' && (c) <= '9') || ((c) >= 'A' && (c) <= 'Z') || \
                     ((c) >= 'a' && (c) <= 'z'))
#define IS_TCHAR(c) (IS_ALNUM(c) || (c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' || \
                     (c) == '&' || (c) == '\'' || (c) == '*' || (c) == '+' || (c) == '-' || \
                     (c) == '.' || (c) == '^' || (c) == '_' || (c) == '`' || (c) == '|' || \
                     (c) == '~')
#define CLASSES(c) ((((c) == '\t' || ((c) >= 32 && (c) != 127)) ? B_TEXT : 0) |       \
                    (IS_TCHAR(c) ? B_TOKEN : 0) |                                     \
                    (((c) >= 33 && (c) <= 126) ? B_VISIBLE : 0) |                     \
                    ((IS_ALNUM(c) || (c) == '.' || (c) == '_' || (c) == '-') ? B_ID : 0) | \
                    (IS_ALNUM(c) ? B_ALNUM : 0))
#define ROW4(c) CLASSES(c), CLASSES((c) + 1), CLASSES((c) + 2), CLASSES((c) + 3)
#define ROW16(c) ROW4(c), ROW4((c) + 4), ROW4((c) + 8), ROW4((c) + 12)
#define ROW64(c) ROW16(c), ROW16((c) + 16), ROW16((c) + 32), ROW16((c) + 48)

static const unsigned char byte_classes[256] = {
    ROW64(0), ROW64(64), ROW64(128), ROW64(192)
};

/* Whether every byte of s[0..n) is of class: no branch per byte, so the
 * common case (every byte passes) costs a load and an AND a byte. */
static int all_bytes(const unsigned char *s, size_t n, unsigned char class)
{
    unsigned char acc = class;
    size_t i;
    for (i = 0; i < n; i++)
        acc &= byte_classes[s[i]];
    return acc != 0;
}

/* The class a kind names, or 0: "text", "token", "visible", "id". */
static unsigned char kind_class(const char *kind, size_t len)
{
    static const struct { const char *name; size_t len; unsigned char class; } kinds[] = {
        {"text", 4, B_TEXT}, {"token", 5, B_TOKEN}, {"visible", 7, B_VISIBLE}, {"id", 2, B_ID},
    };
    size_t i;
    for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (len == kinds[i].len && memcmp(kind, kinds[i].name, len) == 0)
            return kinds[i].class;
    return 0;
}

/* bytes_are(s, kind) -> whether every byte of s is of kind: "token" (RFC
 * 9110 tchar, s not empty), "text" (no control byte but tab), "visible"
 * (printable ASCII, no space) or "id" (letters, digits, '.', '_', '-',
 * starting with a letter or digit). */
static int l_bytes_are(lua_State *L)
{
    size_t n, kn;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    const char *kind = luaL_checklstring(L, 2, &kn);
    unsigned char class = kind_class(kind, kn);

    if (class == 0)
        return luaL_argerror(L, 2, lua_pushfstring(L, "invalid option '%s'", kind));
    if (class == B_TOKEN)
        lua_pushboolean(L, n > 0 && all_bytes(s, n, B_TOKEN));
    else if (class == B_ID)
        lua_pushboolean(L, n > 0 && (byte_classes[s[0]] & B_ALNUM) && all_bytes(s, n, B_ID));
    else
        lua_pushboolean(L, all_bytes(s, n, class));
    return 1;
}

/* bad_header(t) -> nothing when every key of t is a string of tchars (not
 * empty) and every value a string of text bytes; else "name" or "value"
 * and the first key whose name or value is not (in pairs order).  The
 * checks of validate.request in one call: nothing here allocates or runs
 * Lua code. */
static int l_bad_header(lua_State *L)
{
    size_t n;
    const unsigned char *s;
    int all;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        all = lua_type(L, -2) == LUA_TSTRING;
        if (all) {
            s = (const unsigned char *)lua_tolstring(L, -2, &n);
            all = n > 0 && all_bytes(s, n, B_TOKEN);
        }
        if (!all) {
            lua_pushliteral(L, "name");
            lua_pushvalue(L, -3);
            return 2;
        }
        all = lua_type(L, -1) == LUA_TSTRING;
        if (all) {
            s = (const unsigned char *)lua_tolstring(L, -1, &n);
            all = all_bytes(s, n, B_TEXT);
        }
        if (!all) {
            lua_pushliteral(L, "value");
            lua_pushvalue(L, -3);
            return 2;
        }
        lua_pop(L, 1);
    }
    return 0;
}

int dcs_push_entries(lua_State *L, int t, int max, const char *who, const char *what,
                     const char *too_many)
{
    int count = 0, n = 0;

    if (lua_isnil(L, t))
        return 0;
    if (lua_type(L, t) != LUA_TTABLE)
        luaL_error(L, "%s: %s must be a table", who, what);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (++count > max)
            luaL_error(L, "%s: %s", who, too_many);
    }
    luaL_checkstack(L, 2 * count + 4, who);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (n == count)
            luaL_error(L, "%s: the %s table changed while it was read", who, what);
        n++;
        lua_pushvalue(L, -2);                           /* the key, for lua_next */
    }
    return n;
}

static const luaL_Reg util_functions[] = {
    {"sleep", l_sleep},
    {"monotime", l_monotime},
    {"random", l_random},
    {"sha256_file", l_sha256_file},
    {"isatty", l_isatty},
    {"hold_standard_fds", l_hold_standard_fds},
    {"bytes_are", l_bytes_are},
    {"bad_header", l_bad_header},
    {NULL, NULL}
};

void dcs_open_util(lua_State *L)
{
    dcs_setfuncs(L, util_functions, 0);
}
