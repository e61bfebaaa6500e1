/* lua-dcs for C hosts: libdcs.a / libdcs.so hold the C core (dcs.core) and
 * the whole Lua layer (every dcs.* module), compiled in.  One call makes
 * `require "dcs"` work in a lua_State; no Lua file of lua-dcs is read from
 * disk.
 *
 * Building and linking (see README, "Embedding in a C host"):
 *   make embed LUA=lua5.4      build/lua5.4/libdcs.a, libdcs.so, dcs.pc
 *   export PKG_CONFIG_PATH=.../build/lua5.4
 *   cc host.c $(pkg-config --cflags --libs dcs lua5.4)          shared
 *   cc host.c $(pkg-config --cflags dcs lua5.4) \
 *      $(pkg-config --variable=archive dcs) \
 *      $(pkg-config --variable=deps dcs) $(pkg-config --libs lua5.4)   static
 * The library needs libcurl, libmbedcrypto (mbedTLS 2.28), pthreads and libm; it
 * never links a Lua library: the host brings its own.
 *
 * Lua versions.  A build is for one Lua ABI, the one whose headers it was
 * compiled with: build/lua5.4 (Lua 5.4), build/lua5.3 (Lua 5.3),
 * build/luajit (LuaJIT 2.1).  Link the one that matches the Lua you link;
 * on 5.3 and 5.4, dcs_preload checks the running Lua's version numbers
 * (luaL_checkversion) and fails instead of going on with a wrong ABI.  The
 * library's own version is require("dcs")._VERSION (and
 * `pkg-config --modversion dcs`); the C core and the Lua layer inside one
 * build always agree on it.
 *
 * JSON.  lua-dcs uses lua-cjson, which is not copied into the library:
 * `require "cjson"` must work in the state, either
 *   - through package.cpath: Debian's lua-cjson installs cjson.so where
 *     Debian's Lua 5.4, 5.3 and LuaJIT look by default
 *     (/usr/lib/x86_64-linux-gnu/lua/<5.x>/cjson.so); or
 *   - linked in: build lua-cjson from its own source into the host and set
 *     package.preload.cjson = luaopen_cjson before the first
 *     require "dcs" (luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE),
 *     lua_pushcfunction(L, luaopen_cjson), lua_setfield(L, -2, "cjson")).
 *
 * Threads.  A lua_State is used by one thread at a time (Lua's own rule).
 * Any number of threads, each with its own state, may use lua-dcs at the
 * same time: no C state is shared between states (each has its own
 * engine, connections, clients, download buffers and hashing threads).
 * What is process-wide is set up once, thread-safely: libcurl's global
 * initialisation (curl_global_init and curl_version_info, once, under a
 * mutex, at the first require "dcs.core" in any state).  dcs.core.catch_interrupt() installs a
 * process-wide SIGINT/SIGTERM handler for the dcs-logs command; the library
 * never calls it, and a host should not.  The library installs no signal
 * handler and sets CURLOPT_NOSIGNAL on every transfer.
 *
 * Memory.  Everything on the Lua side goes through the state's allocator
 * (the lua_Alloc of lua_newstate).  The C side (libcurl handles, response
 * buffers, download buffers, hashing threads) uses malloc, and libcurl
 * uses its own allocator, which is process-wide: a host that wants
 * curl_global_init_mem must call it before the first require "dcs" in
 * any state (the library's curl_global_init then changes nothing).
 *
 * Lifetime.  lua_close(L) ends what is still in flight in L (tasks,
 * transfers, downloads: connections closed, partial files closed, hashing
 * threads joined) and frees everything the library allocated for L.
 * libcurl's global state stays until the process ends: the library never
 * calls curl_global_cleanup (another state may still be using libcurl); a
 * host may call it after its last lua_close.
 *
 * fork.  A state belongs to the process that made it: its hashing threads,
 * locks and connections are not the child's.  A child of fork must not
 * use a state it inherited, nor lua_close it (with a download in flight,
 * lua_close waits in the child for threads that are not there: forever);
 * it leaves them alone and ends with _exit or exec.  The parent's states
 * go on as before. */
#ifndef DCS_H
#define DCS_H

#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Makes `require "dcs"` work in L: sets package.preload["dcs"],
 * ["dcs.core"] and one entry for every other dcs.* module (replacing any
 * entry of the same name), so that require finds them before any file on
 * package.path or package.cpath.  The table is the one require reads: on
 * 5.3 and 5.4, the registry's LUA_PRELOAD_TABLE (package.preload's first
 * value, still used by require if package.preload was since replaced);
 * on LuaJIT, package.preload as it is now.  Nothing is loaded and nothing runs until
 * the first require.  Call it after the package library is open
 * (luaL_openlibs or luaopen_package); calling it again is harmless.
 *
 * Returns 0 (LUA_OK) with the stack as it was, or a Lua status (LUA_ERRRUN:
 * no package library, or the Lua running is not the one this build is for;
 * LUA_ERRMEM: out of memory) with an error message pushed on the stack;
 * except when the stack itself cannot grow by two slots (lua_checkstack):
 * then LUA_ERRMEM with nothing pushed, since nothing can be. */
int dcs_preload(lua_State *L);

#ifdef __cplusplus
}
#endif

#endif
