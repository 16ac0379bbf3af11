-- wrk script: every request carries the Basic credentials of another user
-- (u0..u<BENCH_USERS-1>, password BENCH_PASSWORD), each wrk thread
-- starting at its own offset, so no two requests in flight share
-- credentials (no cache hits, no coalescing) until the list wraps.
local chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
local bit = require("bit")

local function b64(s)
  local out, i = {}, 1
  while i <= #s do
    local a, b, c = s:byte(i, i + 2)
    local n = bit.lshift(a, 16) + bit.lshift(b or 0, 8) + (c or 0)
    local function ch(shift) return chars:sub(bit.band(bit.rshift(n, shift), 63) + 1, bit.band(bit.rshift(n, shift), 63) + 1) end
    out[#out + 1] = ch(18) .. ch(12) .. (b and ch(6) or '=') .. (c and ch(0) or '=')
    i = i + 3
  end
  return table.concat(out)
end

local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local users = tonumber(os.getenv("BENCH_USERS") or "1000")
local password = os.getenv("BENCH_PASSWORD") or "bench-password"
-- BENCH_FORMAT: how a user number becomes a name (redis-benchmark's
-- __rand_int__ names are 12 digits: u%012d)
local format = os.getenv("BENCH_FORMAT") or "u%d"
local counter = 0

function request()
  local u = string.format(format, (tid * 7919 + counter) % users)
  counter = counter + 1
  return wrk.format("GET", "/auth", { ["Proxy-Authorization"] = "Basic " .. b64(u .. ":" .. password) })
end
