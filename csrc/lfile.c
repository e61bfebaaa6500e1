/* Lua binding of the download file writer (dcs_file.c):
 *   core.open_file(path, "new" | "existing"[, { sha256 = bool, md5 = bool }])
 *     -> dcs.core.file | nil, message, code
 *   file:write(s), :size(), :truncate(n), :lock(), :sync(), :sha256() (hex),
 *   :content_md5() (base64, as in a Content-MD5 header), :close()
 *   core.read_file(path, max_bytes) -> string | nil, message, code
 *   core.file_type(path) -> "directory" | "file" | "other" | nil, message, code
 *
 * Lifetime: the userdata holds a closed dcs_file before the open runs, and
 * close, __gc and __close share one idempotent destroy.  lhttp.c writes into
 * the embedded dcs_file while the userdata sits on its stack; a close from a
 * callback only makes the next write fail with EBADF.  dcs_http hashes on
 * helper threads while it streams a body (dcs_file_async_begin/end); every
 * method here waits for them first where it needs to (dcs_file.c), and
 * close and __gc join them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "dcs_file.h"
#include "lcore.h"

#define FILE_MT "dcs.core.file"
#define BOX_MT "dcs.core.file.box"

typedef struct lfile {
    dcs_file f;
    char *path;                 /* a copy for messages; NULL once closed */
} lfile;

/* A malloc'd block owned by a userdata while Lua code that may raise runs. */
typedef struct box {
    void *p;
} box;

static int destroy(lfile *u)
{
    int rc = dcs_file_close(&u->f);
    free(u->path);
    u->path = NULL;
    return rc;
}

static lfile *check_file(lua_State *L)
{
    return (lfile *)luaL_checkudata(L, 1, FILE_MT);
}

dcs_file *dcs_to_file(lua_State *L, int idx)
{
    void *p = lua_touserdata(L, idx);
    int same;
    if (p == NULL || !lua_getmetatable(L, idx))
        return NULL;
    luaL_getmetatable(L, FILE_MT);
    same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same ? &((lfile *)p)->f : NULL;
}

/* nil, "<verb> <path>: <reason>", code */
static int push_error(lua_State *L, const char *verb, const char *path, int rc)
{
    lua_pushnil(L);
    if (path != NULL)
        lua_pushfstring(L, "cannot %s %s: %s", verb, path, dcs_file_strerror(rc));
    else
        lua_pushfstring(L, "cannot %s: %s", verb, dcs_file_strerror(rc));
    lua_pushstring(L, dcs_file_code_name(rc));
    return 3;
}

/* A path argument: a non-empty string without NUL, else NULL with
 * nil, message, "invalid" pushed (a path often comes from data). */
static const char *check_path(lua_State *L, int idx)
{
    size_t len;
    const char *path = luaL_checklstring(L, idx, &len);
    if (len > 0 && strlen(path) == len)
        return path;
    lua_pushnil(L);
    lua_pushstring(L, len == 0 ? "invalid file name: it is empty"
                               : "invalid file name: it contains a NUL byte");
    lua_pushliteral(L, "invalid");
    return NULL;
}

/* A boolean option of the table at 3: `bit` when true, else 0. */
static int flag_field(lua_State *L, const char *name, int bit)
{
    int on;
    lua_getfield(L, 3, name);
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TBOOLEAN)
        luaL_argerror(L, 3, lua_pushfstring(L, "'%s' must be a boolean", name));
    on = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return on ? bit : 0;
}

static int l_open_file(lua_State *L)
{
    static const char *const modes[] = {"new", "existing", NULL};
    const char *path = check_path(L, 1);
    int mode = luaL_checkoption(L, 2, NULL, modes), hash = 0, rc;
    size_t len;
    lfile *u;

    if (path == NULL)
        return 3;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        hash = flag_field(L, "sha256", DCS_FILE_SHA256) | flag_field(L, "md5", DCS_FILE_MD5);
    }
    u = dcs_newuserdata(L, sizeof *u);
    dcs_file_init(&u->f);
    u->path = NULL;
    luaL_getmetatable(L, FILE_MT);
    lua_setmetatable(L, -2);
    len = strlen(path);
    u->path = malloc(len + 1);
    if (u->path == NULL)
        return luaL_error(L, "dcs.core.open_file: out of memory");
    memcpy(u->path, path, len + 1);
    rc = dcs_file_open(&u->f, path, mode == 0 ? DCS_FILE_NEW : DCS_FILE_EXISTING, hash);
    if (rc != 0) {
        destroy(u);
        return push_error(L, mode == 0 ? "create" : "reopen", path, rc);
    }
    return 1;
}

static int f_write(lua_State *L)
{
    lfile *u = check_file(L);
    size_t n;
    const char *data = luaL_checklstring(L, 2, &n);
    int rc = dcs_file_write(&u->f, data, n);
    if (rc != 0)
        return push_error(L, "write", u->path, rc);
    lua_pushboolean(L, 1);
    return 1;
}

static int f_size(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_file(L)->f.size);
    return 1;
}

static int f_truncate(lua_State *L)
{
    lfile *u = check_file(L);
    lua_Number n = luaL_checknumber(L, 2);
    long long size;
    int rc;

    if (u->f.fd < 0)
        return push_error(L, "truncate", NULL, EBADF);
    /* Range first: the cast below is defined only for values in range. */
    luaL_argcheck(L, n >= 0 && n <= (lua_Number)u->f.size, 2,
                  "must be from 0 to the file's size");
    size = (long long)n;
    luaL_argcheck(L, (lua_Number)size == n, 2, "must be an integer");
    rc = dcs_file_truncate(&u->f, size);
    if (rc != 0)
        return push_error(L, "truncate", u->path, rc);
    lua_pushboolean(L, 1);
    return 1;
}

/* f:lock(): true, or nil, message, "in_use" when another writer has it. */
static int f_lock(lua_State *L)
{
    lfile *u = check_file(L);
    int rc = dcs_file_lock(&u->f);
    if (rc != 0)
        return push_error(L, "lock", u->path, rc);
    lua_pushboolean(L, 1);
    return 1;
}

static int f_sync(lua_State *L)
{
    lfile *u = check_file(L);
    int rc = dcs_file_sync(&u->f);
    if (rc != 0)
        return push_error(L, "sync", u->path, rc);
    lua_pushboolean(L, 1);
    return 1;
}

static int f_sha256(lua_State *L)
{
    lfile *u = check_file(L);
    char hex[65];
    int rc;

    if (u->f.fd >= 0 && !(u->f.hashing & DCS_FILE_SHA256)) {
        lua_pushnil(L);
        lua_pushliteral(L, "not hashing: the file was opened without sha256 = true");
        return 2;
    }
    rc = dcs_file_sha256(&u->f, hex);
    if (rc != 0)
        return push_error(L, "hash", u->path, rc);
    lua_pushlstring(L, hex, 64);
    return 1;
}

/* f:drop_md5(): stop keeping the MD5 (the server sent no Content-MD5). */
static int f_drop_md5(lua_State *L)
{
    lfile *u = check_file(L);
    int rc = dcs_file_drop_digests(&u->f, DCS_FILE_MD5);
    if (rc != 0)
        return push_error(L, "drop the MD5 of", u->path, rc);
    lua_pushboolean(L, 1);
    return 1;
}

static int f_content_md5(lua_State *L)
{
    lfile *u = check_file(L);
    char b64[25];
    int rc;

    if (u->f.fd >= 0 && !(u->f.hashing & DCS_FILE_MD5)) {
        lua_pushnil(L);
        lua_pushliteral(L, "not hashing: the file was opened without md5 = true");
        return 2;
    }
    rc = dcs_file_content_md5(&u->f, b64);
    if (rc != 0)
        return push_error(L, "hash", u->path, rc);
    lua_pushlstring(L, b64, 24);
    return 1;
}

/* close, __gc and __close. */
static int f_close(lua_State *L)
{
    lfile *u = check_file(L);
    int rc = dcs_file_close(&u->f);
    if (rc != 0) {
        /* The path is freed after the message: should pushing raise, __gc
         * comes back here and destroy frees it then. */
        lua_pushnil(L);
        lua_pushfstring(L, "cannot close %s: %s", u->path ? u->path : "the file",
                        dcs_file_strerror(rc));
    } else {
        lua_pushboolean(L, 1);
    }
    destroy(u);
    return rc != 0 ? 2 : 1;
}

static int f_tostring(lua_State *L)
{
    lfile *u = check_file(L);
    if (u->f.fd >= 0)
        lua_pushfstring(L, "dcs.core.file (open) %s", u->path);
    else
        lua_pushfstring(L, "dcs.core.file (closed) %p", (void *)u);
    return 1;
}

static int box_gc(lua_State *L)
{
    box *b = luaL_checkudata(L, 1, BOX_MT);
    free(b->p);
    b->p = NULL;
    return 0;
}

static int l_read_file(lua_State *L)
{
    const char *path = check_path(L, 1);
    lua_Number max = luaL_checknumber(L, 2);
    size_t len;
    box *b;
    int rc;

    luaL_argcheck(L, max >= 0 && max <= 9007199254740992.0, 2, "must be from 0 to 2^53");
    if (path == NULL)
        return 3;
    /* The box owns the bytes while lua_pushlstring may raise. */
    b = dcs_newuserdata(L, sizeof *b);
    b->p = NULL;
    luaL_getmetatable(L, BOX_MT);
    lua_setmetatable(L, -2);
    rc = dcs_file_read_small(path, (size_t)max, (char **)&b->p, &len);
    if (rc != 0)
        return push_error(L, "read", path, rc);
    lua_pushlstring(L, b->p, len);
    free(b->p);
    b->p = NULL;
    return 1;
}

static int l_file_type(lua_State *L)
{
    const char *path = check_path(L, 1), *type;
    int rc;

    if (path == NULL)
        return 3;
    rc = dcs_file_type(path, &type);
    if (rc != 0)
        return push_error(L, "find", path, rc);
    lua_pushstring(L, type);
    return 1;
}

static const luaL_Reg file_methods[] = {
    {"write", f_write},
    {"size", f_size},
    {"truncate", f_truncate},
    {"lock", f_lock},
    {"sync", f_sync},
    {"sha256", f_sha256},
    {"content_md5", f_content_md5},
    {"drop_md5", f_drop_md5},
    {"close", f_close},
    {NULL, NULL}
};

static const luaL_Reg file_metamethods[] = {
    {"__gc", f_close},
    {"__close", f_close},
    {"__tostring", f_tostring},
    {NULL, NULL}
};

void dcs_open_file(lua_State *L)
{
    if (luaL_newmetatable(L, FILE_MT)) {
        dcs_setfuncs(L, file_metamethods, 0);
        lua_newtable(L);
        dcs_setfuncs(L, file_methods, 0);
        lua_setfield(L, -2, "__index");
        lua_pushliteral(L, FILE_MT);
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, BOX_MT)) {
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, l_open_file);
    lua_setfield(L, -2, "open_file");
    lua_pushcfunction(L, l_read_file);
    lua_setfield(L, -2, "read_file");
    lua_pushcfunction(L, l_file_type);
    lua_setfield(L, -2, "file_type");
}
