-- tools/tap-summary, the closing line of tools/check that CI reads: a
-- stage must never look green when it checked nothing.
local files = require "support.files"
local sub = require "support.subprocess"

-- summary({ stage = { rc = N, tap = "..." } }) -> exit status, output
local function summary(stages)
  local dir = files.tmpdir()
  local status_lines, taps = {}, {}
  for name, s in pairs(stages) do
    status_lines[#status_lines + 1] = name .. " " .. s.rc .. "\n"
    local path = dir .. "/" .. name .. ".tap"
    local f = assert(io.open(path, "w"))
    f:write(s.tap)
    f:close()
    taps[#taps + 1] = sub.quote(path)
  end
  local f = assert(io.open(dir .. "/status", "w"))
  f:write(table.concat(status_lines))
  f:close()
  local status, out = sub.shell(("env -u LD_PRELOAD lua5.4 %s/tools/tap-summary %s/status %s 2>&1"):format(
    sub.quote(sub.ROOT), dir, table.concat(taps, " ")))
  files.remove_tree(dir)
  return status, out
end

describe("tools/tap-summary", function()
  it("passes stages whose tests passed", function()
    local status, out = summary { a = { rc = 0, tap = "ok 1 - x\nok 2 - y # SKIP later\n1..2\n" } }
    assert.are.equal(0, status, out)
    assert.are.equal("1 passed, 0 failed, 1 skipped\n", out)
  end)

  it("fails a stage that exited non-zero without a failing test", function()
    local status, out = summary { a = { rc = 0, tap = "ok 1 - x\n" }, b = { rc = 2, tap = "ok 1 - y\n" } }
    assert.are.equal(1, status, out)
    assert.matches("stage 'b' failed without a failing test", out, 1, true)
    assert.matches("2 passed, 1 failed\n$", out)
  end)

  -- busted with a --filter that matches nothing prints "1..0" and exits 0
  it("fails a stage that ran no test, or skipped all it had", function()
    local status, out = summary { a = { rc = 0, tap = "ok 1 - x\n" }, filtered = { rc = 0, tap = "1..0\n" },
      silent = { rc = 0, tap = "" }, skipped = { rc = 0, tap = "ok 1 - # SKIP no tool\n1..1\n" } }
    assert.are.equal(1, status, out)
    assert.matches("stage 'filtered' ran no test", out, 1, true)
    assert.matches("stage 'silent' ran no test", out, 1, true)
    assert.matches("stage 'skipped' ran no test", out, 1, true)
    assert.matches("1 passed, 3 failed, 1 skipped\n$", out)
  end)
end)
