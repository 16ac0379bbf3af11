-- wrk script: every request carries "Proxy-Authorization: Negotiate <t>"
-- with the next token of BENCH_TOKENS (a file, one base64 token a line),
-- each wrk thread starting at its own offset.  With one token in the file
-- every request repeats it (the cached row).
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end

local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local counter = 0
function request()
  local t = tokens[((tid * 7919 + counter) % #tokens) + 1]
  counter = counter + 1
  return wrk.format("GET", "/auth", { ["Proxy-Authorization"] = "Negotiate " .. t })
end
