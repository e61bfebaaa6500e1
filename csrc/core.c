/* dcs.core: the C half of lua-dcs.
 *   sign, encode, decode, sha256_hex, hmac_sha256_hex, sdk_date,
 *   SIGN_MAX_HEADERS, SIGN_MAX_QUERY, SIGN_MAX_AK, SHA256         (lsign.c)
 *   http, curl_version                                            (lhttp.c)
 *   engine                                                        (lengine.c)
 *   sleep, monotime, random, sha256_file, isatty, bytes_are,
 *   bad_header, hold_standard_fds (for the command only)           (lutil.c)
 *   open_file, read_file                                          (lfile.c)
 *   catch_interrupt, interrupted (for the command only)           (lsignal.c)
 * Everything here is static or hidden except luaopen_dcs_core, which
 * libdcs (make embed, -DDCS_EMBED) hides too: there dcs_preload
 * (csrc/embed.c) is the one entry point. */
#include "compat.h"
#include "dcs_http.h"
#include "lcore.h"

/* The build passes -DDCS_VERSION=x.y.z, read from lua/dcs/version.lua (the
 * one version string); the Lua layer refuses a core of another version. */
#ifndef DCS_VERSION
#error "DCS_VERSION must be defined: build with the Makefile or the rockspec"
#endif
#define DCS_STRING(x) DCS_STRING_(x)
#define DCS_STRING_(x) #x

#ifdef DCS_EMBED
#define DCS_CORE_API DCS_INTERNAL
#else
#define DCS_CORE_API DCS_EXPORT
#endif

DCS_CORE_API int luaopen_dcs_core(lua_State *L);

DCS_CORE_API int luaopen_dcs_core(lua_State *L)
{
    if (!dcs_http_global_init())
        return luaL_error(L, "dcs.core: curl_global_init failed");
    lua_newtable(L);
    dcs_open_sign(L);
    dcs_open_http(L);
    dcs_open_engine(L);
    dcs_open_util(L);
    dcs_open_signal(L);
    dcs_open_file(L);
    lua_pushliteral(L, DCS_STRING(DCS_VERSION));
    lua_setfield(L, -2, "_VERSION");
    return 1;
}
