rockspec_format = "3.0"
package = "lua-dcs"
version = "scm-1"
source = {
  url = "git+https://github.com/lua-dcs/lua-dcs.git",
}
description = {
  summary = "Huawei Cloud DCS SDK for Lua: Redis run logs (collect, list, download links)",
  detailed = [[
    A C core (SDK-HMAC-SHA256 signing with mbedTLS, HTTP with libcurl,
    downloads streamed to disk) and a Lua layer with configuration, the
    request pipeline, the run-log workflow and error objects; it runs in
    plain Lua and inside OpenResty/nginx (cosockets).
  ]],
  homepage = "https://github.com/lua-dcs/lua-dcs",
  license = "MIT",
}
dependencies = {
  "lua >= 5.1, < 5.5",
  "lua-cjson",
  "dkjson",            -- dcs-logs --json only
}
external_dependencies = {
  -- Only the library is checked: Debian keeps curl/curl.h in a multiarch
  -- include directory that the compiler searches but LuaRocks 3.8 does not.
  CURL = { library = "curl" },
  MBEDTLS = { header = "mbedtls/md.h", library = "mbedcrypto" },
}
build = {
  type = "builtin",
  modules = {
    ["dcs.core"] = {
      sources = {
        "csrc/core.c", "csrc/lsign.c", "csrc/lhttp.c", "csrc/lengine.c", "csrc/lreq.c", "csrc/lresult.c",
        "csrc/lutil.c", "csrc/lfile.c", "csrc/dcs_sign.c", "csrc/dcs_sign_key.c", "csrc/dcs_sha256.c",
        "csrc/dcs_http.c",
        "csrc/dcs_engine.c", "csrc/dcs_transfer.c",
        "csrc/dcs_buf.c", "csrc/dcs_file.c", "csrc/dcs_headers.c",
        "csrc/lsignal.c",
      },
      defines = { "DCS_VERSION=0.2.0" },     -- = lua/dcs/version.lua (spec/package_spec.lua)
      incdirs = { "csrc", "$(CURL_INCDIR)", "$(MBEDTLS_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)", "$(MBEDTLS_LIBDIR)" },
      libraries = { "curl", "mbedcrypto", "pthread" },
    },
    ["dcs"] = "lua/dcs/init.lua",
    ["dcs.client"] = "lua/dcs/client.lua",
    ["dcs.config"] = "lua/dcs/config.lua",
    ["dcs.request"] = "lua/dcs/request.lua",
    ["dcs.validate"] = "lua/dcs/validate.lua",
    ["dcs.version"] = "lua/dcs/version.lua",
    ["dcs.errors"] = "lua/dcs/errors.lua",
    ["dcs.operations"] = "lua/dcs/operations.lua",
    ["dcs.runlogs"] = "lua/dcs/runlogs.lua",
    ["dcs.download"] = "lua/dcs/download.lua",
    ["dcs.gather"] = "lua/dcs/gather.lua",
    ["dcs.tasks"] = "lua/dcs/tasks.lua",
    ["dcs.names"] = "lua/dcs/names.lua",
    ["dcs.regions"] = "lua/dcs/regions.lua",
    ["dcs.credentials"] = "lua/dcs/credentials.lua",
    ["dcs.json"] = "lua/dcs/json.lua",
    ["dcs.retry"] = "lua/dcs/retry.lua",
    ["dcs.transport"] = "lua/dcs/transport/init.lua",
    ["dcs.transport.curl"] = "lua/dcs/transport/curl.lua",
    ["dcs.transport.ngx"] = "lua/dcs/transport/ngx.lua",
    ["dcs.transport.ngx_wire"] = "lua/dcs/transport/ngx_wire.lua",
  },
  install = {
    bin = { ["dcs-logs"] = "bin/dcs-logs" },
  },
  -- LuaRocks installs no man page or shell completion: they travel in the
  -- rock (<tree>/lib/luarocks/rocks-5.x/lua-dcs/<version>/man, completion);
  -- `make install` puts them where man and bash look (README, "Install").
  -- docs/ holds docs/api.md and, after `make docs`, the HTML reference in
  -- docs/reference, which `luarocks doc lua-dcs` opens.
  copy_directories = { "examples", "man", "completion", "docs" },
}
-- The tests only: `make test` never installs packages (`make check` does).
-- No test_dependencies: busted comes from Debian (lua-busted), which
-- LuaRocks does not see, so `luarocks test` would try to download it.
test = {
  type = "command",
  command = "make test",
}
