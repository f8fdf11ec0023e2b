-- GET on the URL given to wrk (bench/run.sh passes /healthz): no auth, the
-- "bare route" reference for the cost of tessera's HTTP stack alone.
local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
dofile(dir .. "/common.lua")
