-- Shared by every scenario script under bench/wrk/ (loaded with dofile).
--
-- wrk runs each thread in its own Lua state and calls setup()/done() in a
-- separate main state, so the per-status counters live in each thread's
-- globals and are collected in done() through the thread handles that
-- setup() kept.  done() prints one line that bench/run.sh parses:
--
--   RESULT requests=N ok=N non2xx=N rps=F rps_all=F duration_s=F
--          p50_ms=F p90_ms=F p99_ms=F max_ms=F statuses=200:N,503:N
--          err_connect=N err_read=N err_write=N err_timeout=N
--
-- "rps" counts 2xx responses only: tessera sheds load with 503 on the
-- CPU-bound routes, and a fast 503 must not count as throughput.
-- Latency percentiles come from wrk and cover every response, 503s included.

bench = {}

-- Main state: thread handles, in creation order.
local threads = {}

-- Names of extra per-thread numeric globals that done() sums and appends to
-- the RESULT line as name=N (a scenario script may add to it).
bench.extra = {}

-- Thread state: responses seen, keyed by HTTP status.
statuses = {}

function bench.setup(thread)
   table.insert(threads, thread)
   -- 1-based id, visible as the global thread_id inside the thread; the
   -- register and refresh scripts use it to tell the threads apart.
   thread:set("thread_id", #threads)
   return #threads
end

function bench.count(status)
   statuses[status] = (statuses[status] or 0) + 1
end

function bench.done(summary, latency, requests)
   local merged = {}
   for _, thread in ipairs(threads) do
      local counts = thread:get("statuses") or {}
      for status, n in pairs(counts) do
         merged[status] = (merged[status] or 0) + n
      end
   end

   local ok, non2xx, codes = 0, 0, {}
   for status, n in pairs(merged) do
      if status >= 200 and status < 300 then ok = ok + n else non2xx = non2xx + n end
      table.insert(codes, status)
   end
   table.sort(codes)
   local parts = {}
   for _, status in ipairs(codes) do
      table.insert(parts, string.format("%d:%d", status, merged[status]))
   end

   local extras = {}
   for _, name in ipairs(bench.extra) do
      local total = 0
      for _, thread in ipairs(threads) do total = total + (thread:get(name) or 0) end
      table.insert(extras, string.format(" %s=%d", name, total))
   end

   local seconds = summary.duration / 1e6
   local function ms(us) return string.format("%.3f", us / 1000) end
   local e = summary.errors
   print(string.format(
      "RESULT requests=%d ok=%d non2xx=%d rps=%.2f rps_all=%.2f duration_s=%.3f " ..
      "p50_ms=%s p90_ms=%s p99_ms=%s max_ms=%s statuses=%s " ..
      "err_connect=%d err_read=%d err_write=%d err_timeout=%d%s",
      summary.requests, ok, non2xx, ok / seconds, summary.requests / seconds, seconds,
      ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(99)),
      ms(latency.max), (#parts > 0) and table.concat(parts, ",") or "none",
      e.connect, e.read, e.write, e.timeout, table.concat(extras)))
end

-- Defaults; a scenario script may replace any of these after dofile().
setup = bench.setup
done = bench.done
function response(status, headers, body)
   bench.count(status)
end

-- Value of an environment variable (bench/run.sh passes tokens and names
-- this way); fails the run loudly when a required one is missing.
function bench.env(name, default)
   local value = os.getenv(name)
   if value == nil or value == "" then
      if default == nil then error("bench: environment variable " .. name .. " is not set") end
      return default
   end
   return value
end
