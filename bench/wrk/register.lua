-- POST /register with a new username on every request: per-run random
-- prefix + wrk thread id + per-thread counter, so no two requests collide,
-- not even across runs against the same database.  Expected status: 201.
-- env: BENCH_PREFIX (short, [a-z0-9]), BENCH_PASSWORD
local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
dofile(dir .. "/common.lua")

local prefix = bench.env("BENCH_PREFIX")
local password = bench.env("BENCH_PASSWORD")
local headers = { ["Content-Type"] = "application/json" }
local counter = 0

function request()
   counter = counter + 1
   -- thread_id is set by bench.setup() through thread:set().
   local username = string.format("r%s_%d_%d", prefix, thread_id, counter)
   return wrk.format("POST", nil, headers,
                     string.format('{"username":"%s","password":"%s"}', username, password))
end
