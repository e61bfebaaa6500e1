--- File names that come from a server (a log's file_name, the last
-- segment of a download link) and text that goes to a terminal.  A server
-- never picks where a file goes: its name is reduced to a safe base name
-- in the destination directory; a name the user gave is used as given.
local core = require "dcs.core"

local M = {}

M.MAX_NAME = 200     -- bytes; leaves room for ".part.meta" and a "-N" suffix under NAME_MAX
M.MAX_EXT = 16       -- bytes of an extension a shortened name keeps

-- Spelled out, not %w: Lua 5.3 and 5.4's %w is the C locale's isalnum, and
-- under a Latin-1 LC_CTYPE it kept bytes from 0xC0 up in file names.
local OTHER, ALNUM = "[^A-Za-z0-9._+-]", "[A-Za-z0-9]"

--- A safe base name from a server's name, or fallback: the last segment
-- after any '/' or '\', bytes outside [A-Za-z0-9._+-] replaced by '_',
-- no leading '.' (hidden files, '.' and '..') nor '-' (a name that tools
-- would read as an option, "-rf"), at most MAX_NAME bytes, and never in
-- the form of a download's own working files (NAME.part, NAME.part.meta):
-- '_' is added to such a name, so that no file of a listing lands on
-- another's partial file or sidecar.
function M.from_server(name, fallback)
  if type(name) ~= "string" then return fallback end
  -- the last segment found from the end: "([^/\\]*)$" would scan each
  -- segment again from every byte of it (hours for a 2 MiB name)
  name = (name:match("^.*[/\\](.*)$") or name):gsub(OTHER, "_"):gsub("^[.-]+", "")
  if #name > M.MAX_NAME then
    -- the extension is kept when short: a server's "extension" can itself
    -- be longer than MAX_NAME
    local ext = name:match("(%.[A-Za-z0-9]+)$") or ""
    if #ext > M.MAX_EXT then ext = "" end
    name = name:sub(1, M.MAX_NAME - #ext) .. ext
  end
  if name == "" or not name:find(ALNUM) then return fallback end
  if name:find("%.part$") or name:find("%.part%.meta$") then name = name .. "_" end
  return name
end

--- The safe base name a download link points at: its last path segment,
-- percent-decoded, then reduced as from_server does.
function M.from_link(link, fallback)
  local segment = type(link) == "string" and link:match("^[^?#]*/([^/?#]+)")
  return M.from_server(segment and core.decode(segment), fallback)
end

--- name, or name with "-2", "-3", ... before its extension when `used`
-- already has it; records the result in `used`.  used[name] also keeps the
-- last suffix given for name (true counts as 1), so that a listing of
-- many files of one name costs time in proportion to it, not its square.
function M.unique(name, used)
  if not used[name] then
    used[name] = 1
    return name
  end
  local stem, ext = name:match("^(.-)(%.[^.]*)$")
  if not stem or stem == "" then stem, ext = name, "" end
  local n, candidate = used[name] == true and 1 or used[name]
  repeat
    n = n + 1
    candidate = ("%s-%d%s"):format(stem, n, ext)
  until not used[candidate]
  used[name], used[candidate] = n, 1
  return candidate
end

-- The well-formed UTF-8 characters of two to four bytes (RFC 3629: no
-- overlong forms, no surrogates, nothing past U+10FFFF).
local UTF8 = { "^[\194-\223][\128-\191]", "^\224[\160-\191][\128-\191]",
  "^[\225-\236\238\239][\128-\191][\128-\191]", "^\237[\128-\159][\128-\191]",
  "^\240[\144-\191][\128-\191][\128-\191]", "^[\241-\243][\128-\191][\128-\191][\128-\191]",
  "^\244[\128-\143][\128-\191][\128-\191]" }

-- The UTF-8 character at i of s, or nil.
local function utf8_at(s, i)
  for _, pattern in ipairs(UTF8) do
    local c = s:match(pattern, i)
    if c then return c end
  end
end

--- s with each byte that is not part of a well-formed UTF-8 character
--- replaced by replace(byte) (a one-byte string); ASCII is kept as is.
---@param s string
---@param replace fun(byte: string): string
---@return string
function M.utf8_clean(s, replace)
  if not s:find("[\128-\255]") then return s end
  local out, i = {}, 1
  while i <= #s do
    local j = s:find("[\128-\255]", i) or #s + 1
    out[#out + 1] = s:sub(i, j - 1)
    if j > #s then break end
    local c = utf8_at(s, j)
    out[#out + 1] = c or replace(s:sub(j, j))
    i = j + (c and #c or 1)
  end
  return table.concat(out)
end

local function escaped(c) return ("\\%03d"):format(c:byte()) end

--- Text safe to print on a terminal: control bytes (escape sequences, bells,
-- carriage returns) shown as \ddd instead of acting on the terminal; so
-- are the C1 controls (U+0080 to U+009F: U+009B is CSI to xterm) and bytes
-- outside well-formed UTF-8 (0x9B alone is CSI to a terminal that is not
-- UTF-8).
function M.printable(s)
  s = tostring(s):gsub("[%z\1-\31\127]", escaped)
  return (M.utf8_clean(s, escaped):gsub("\194[\128-\159]", function(c) return c:gsub(".", escaped) end))
end

return M
