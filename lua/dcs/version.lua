--- The version of lua-dcs: the one string the client, the user agent, the
-- command and the rockspec agree on (the C core checks it at load time).
return "0.2.0"
