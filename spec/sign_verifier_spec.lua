-- dcs.sign against the emulator's verifier (tools/dcs_emulator/signing.py):
-- what it signs must be what the verifier recomputes from the same request.
local dcs = require "dcs"

local VERIFY = [==[
import sys
sys.path.insert(0, "tools")
from dcs_emulator.signing import canonical_request, compute_signature
import hashlib, re
b = bytes.fromhex
f = sys.stdin.read().split(" ")
method, path, query, body, date, sk, auth = [b(x).decode("latin-1") for x in f[:7]]
heads = {}
for kv in f[7:]:
    k, v = kv.split(":")
    heads[b(k).decode("latin-1").lower()] = b(v)
signed = re.search(r"SignedHeaders=([^,]+)", auth).group(1).split(";")
creq = canonical_request(method, path.encode("latin-1"), query.encode("latin-1"), signed,
                         lambda n: heads[n], hashlib.sha256(body.encode("latin-1")).hexdigest())
print(compute_signature(sk, date.strip(), creq))
]==]

local function hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

-- The signature the verifier computes for the request dcs.sign describes.
local function verifier_signature(req, headers, query)
  local script = os.tmpname()
  local f = assert(io.open(script, "wb"))
  f:write(VERIFY)
  f:close()
  local input = os.tmpname()
  f = assert(io.open(input, "wb"))
  local path = req.url:match("^%a+://[^/]*(.*)$")
  f:write(table.concat({ hex(req.method), hex(path), hex(query), hex(req.body or ""),
    hex(headers["X-Sdk-Date"]), hex(req.sk), hex(headers.Authorization) }, " "))
  for k, v in pairs(headers) do
    if k ~= "Authorization" then f:write(" ", hex(k), ":", hex(v)) end
  end
  f:close()
  local p = assert(io.popen("python3 " .. script .. " < " .. input))
  local out = p:read("*a")
  p:close()
  os.remove(script)
  os.remove(input)
  return (out:gsub("%s+$", ""))
end

local function check(headers_in)
  headers_in["X-Sdk-Date"] = headers_in["X-Sdk-Date"] or "20210416T120000Z"
  local req = { method = "GET", url = "https://dcs.example.com/v2/p/instances", headers = headers_in,
    ak = "AK", sk = "SK" }
  local headers, _, query = dcs.sign(req)
  assert.are.equal(verifier_signature(req, headers, query),
    headers.Authorization:match("Signature=(%x+)$"))
end

describe("dcs.sign and the emulator's verifier", function()
  it("agree on header values with spaces and tabs around and inside", function()
    check { ["X-A"] = "  a  b\t\t", ["X-B"] = "\t \t", ["X-C"] = "x\t" }
  end)

  it("agree on header values starting or ending in a vertical tab or form feed", function()
    check { ["X-A"] = "a\v", ["X-B"] = "\fb", ["X-Sdk-Date"] = "\v20210416T120000Z\f" }
  end)
end)
