-- POST /login with a wrong password for a random unknown name on every request: the
-- login flood (credential stuffing) scenario. Every request costs tessera a full hash.
-- env: BENCH_PREFIX
local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
dofile(dir .. "/common.lua")

local prefix = bench.env("BENCH_PREFIX")
local headers = { ["Content-Type"] = "application/json" }
local counter = 0

function request()
   counter = counter + 1
   local username = string.format("flood%s_%d_%d", prefix, thread_id, counter)
   return wrk.format("POST", nil, headers,
                     string.format('{"username":"%s","password":"wrong-password-guess"}', username))
end
