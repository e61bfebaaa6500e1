std = "max"
files["spec"] = { std = "+busted" }
files["lua/dcs/transport"] = { std = "max+ngx_lua" }
files["examples/openresty"] = { std = "max+ngx_lua" }
max_line_length = 120
exclude_files = { "build" }
files["lua/dcs/gather.lua"] = { std = "max+ngx_lua" }
files["lua/dcs/tasks.lua"] = { std = "max+ngx_lua" }
