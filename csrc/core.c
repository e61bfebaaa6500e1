/* dcs.core: the C half of lua-dcs.
 *   sign, encode, decode, sha256_hex, hmac_sha256_hex, sdk_date,
 *   SIGN_MAX_HEADERS, SIGN_MAX_QUERY, SIGN_MAX_AK                 (lsign.c)
 *   http, curl_version                                            (lhttp.c)
 *   sleep, monotime, sha256_file, isatty                          (lutil.c)
 *   open_file, read_file                                          (lfile.c)
 * Everything here is static or hidden except luaopen_dcs_core. */
#include <mbedtls/version.h>

#include "compat.h"
#include "dcs_http.h"
#include "lcore.h"

#define DCS_CORE_VERSION "0.1.0"

DCS_EXPORT int luaopen_dcs_core(lua_State *L);

DCS_EXPORT int luaopen_dcs_core(lua_State *L)
{
    char mbedtls[32];

    if (!dcs_http_global_init())
        return luaL_error(L, "dcs.core: curl_global_init failed");
    lua_newtable(L);
    dcs_open_sign(L);
    dcs_open_http(L);
    dcs_open_util(L);
    dcs_open_file(L);
    lua_pushliteral(L, DCS_CORE_VERSION);
    lua_setfield(L, -2, "_VERSION");
    mbedtls_version_get_string(mbedtls);
    lua_pushstring(L, mbedtls);
    lua_setfield(L, -2, "mbedtls_version");
    return 1;
}
