-- GET /protected with a token that has no `sid` (minted by bench/run.sh with the
-- shared secret, as Flask-JWT-Extended would): same as protected.lua otherwise.
local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
dofile(dir .. "/protected.lua")
