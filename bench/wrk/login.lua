-- POST /login with the correct password of a user that bench/run.sh
-- registered before the run.  The body never changes, so it is set once
-- here and wrk sends the same pre-built request every time.
-- env: BENCH_USERNAME, BENCH_PASSWORD
local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
dofile(dir .. "/common.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"username":"%s","password":"%s"}',
                         bench.env("BENCH_USERNAME"), bench.env("BENCH_PASSWORD"))
