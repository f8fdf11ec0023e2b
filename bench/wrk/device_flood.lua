-- POST /login with a wrong password from a different client address on every request
-- (X-Forwarded-For, believed because tessera trusts 127.0.0.1 as its proxy): the flood of
-- bench/flood.sh. Half the requests guess at the measured users' names (BENCH_TARGETS,
-- comma-separated), so their per-name back-off is engaged; the rest at random names.
-- env: BENCH_PREFIX, BENCH_TARGETS
local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
dofile(dir .. "/common.lua")

local prefix = bench.env("BENCH_PREFIX")
local targets = {}
for name in string.gmatch(bench.env("BENCH_TARGETS"), "[^,]+") do
   table.insert(targets, name)
end
local counter = 0

function init(args)
   math.randomseed(os.time() + thread_id * 7919)
end

function request()
   counter = counter + 1
   local username
   if counter % 2 == 0 and #targets > 0 then
      username = targets[(counter / 2) % #targets + 1]
   else
      username = string.format("flood%s_%d_%d", prefix, thread_id, counter)
   end
   -- 10.x.y.z: 16 million addresses, so no per-address limit sees much of any one.
   local headers = {
      ["Content-Type"] = "application/json",
      ["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.random(0, 255),
                                          math.random(0, 255), math.random(1, 254)),
   }
   return wrk.format("POST", nil, headers,
                     string.format('{"username":"%s","password":"wrong-password-guess"}', username))
end
