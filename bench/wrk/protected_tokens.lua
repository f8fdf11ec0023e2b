-- GET /protected with a different token on every request: each thread cycles through
-- the tokens of BENCH_TOKEN_FILE (one a line), starting at its own offset, so that the
-- connections do not send the same token at the same time.  bench/pinned.sh writes the
-- file (successive refreshes for tessera and the bare route, minted Flask-style tokens
-- for the seed app).  env: BENCH_TOKEN_FILE
local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
dofile(dir .. "/common.lua")

local path = bench.env("BENCH_TOKEN_FILE")

function setup(thread)
   bench.setup(thread)
end

-- Thread state: the requests, built once (wrk.format per request would cost the load
-- generator more than the header it changes).
local requests = {}
local next_index = 1

function init(args)
   for line in io.lines(path) do
      if line ~= "" then
         table.insert(requests, wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. line }))
      end
   end
   if #requests == 0 then error("bench: no tokens in " .. path) end
   -- thread_id is 1-based (set by bench.setup); spread the threads over the file.
   next_index = ((thread_id or 1) - 1) * 7919 % #requests + 1
end

function request()
   local r = requests[next_index]
   next_index = next_index % #requests + 1
   return r
end
