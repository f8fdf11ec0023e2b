-- POST /refresh {"refresh_token": ...}.  Every successful refresh rotates
-- the token, so each connection must chain: send the token it got from the
-- previous response.  bench/run.sh runs this with one connection per thread
-- (-c equal to -t) and gives each thread its own session.
-- env: BENCH_REFRESH_TOKENS  (one token per wrk thread, space-separated)
local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
dofile(dir .. "/common.lua")

-- Main state: hand one session to each thread.
local tokens = {}
for token in bench.env("BENCH_REFRESH_TOKENS"):gmatch("%S+") do
   table.insert(tokens, token)
end

function setup(thread)
   local id = bench.setup(thread)
   if tokens[id] == nil then
      error(string.format("bench: refresh needs one token per thread; thread %d has none", id))
   end
   thread:set("refresh_token", tokens[id])
end

-- Thread state.
local headers = { ["Content-Type"] = "application/json" }
-- Responses that were 200 but carried no new token: the chain is broken
-- from there on, and the next requests will fail (reported as non-2xx).
missing_token = 0
bench.extra = { "missing_token" }

function request()
   return wrk.format("POST", nil, headers,
                     string.format('{"refresh_token":"%s"}', refresh_token))
end

function response(status, headers, body)
   bench.count(status)
   if status == 200 then
      local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
      if token then refresh_token = token else missing_token = missing_token + 1 end
   end
end
