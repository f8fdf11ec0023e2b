-- GET /protected with a bearer token obtained by bench/run.sh (curl login)
-- before the run.  env: BENCH_ACCESS_TOKEN
local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
dofile(dir .. "/common.lua")

wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. bench.env("BENCH_ACCESS_TOKEN")
