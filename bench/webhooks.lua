-- wrk script: replay pre-signed webhooks (bench/signed.py) from a file, one per request, so that
-- no two requests share an event id. wrk's Lua has no HMAC, hence the file.
--
--   wrk -t1 -cN -d<seconds+grace>s -s bench/webhooks.lua URL -- FILE OFFSET SECONDS RATE
--
-- FILE/OFFSET: where to start reading. SECONDS: after that long, no new webhook is started and the
-- ones in flight finish (so every answered request is counted, and a server's work matches the
-- client's count). RATE > 0 (with the same value in the environment as BENCH_RATE) paces requests
-- at RATE/s per thread, else they go as fast as they are answered.
-- done() prints one line: `BENCH key=value ...` for bench/run.py.

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

-- per thread
local file, seconds, rate
local started, slots = nil, 0
sent, wrapped, position, stopped_at = 0, 0, 0, 0
-- after the window: a request whose headers never end. The server waits for the rest, so it adds
-- no answer, no latency sample and no work, while the webhooks in flight are answered and counted.
local STALL = "GET /healthz HTTP/1.1\r\nHost: bench\r\n"

function init(args)
  file = assert(io.open(args[1], "rb"))
  file:seek("set", tonumber(args[2]))
  seconds = tonumber(args[3])
  rate = tonumber(args[4])
end

-- Pacing only when asked (BENCH_RATE set): with delay() defined, wrk arms a timer per request,
-- which caps it near 4,000 requests/s here.
if tonumber(os.getenv("BENCH_RATE") or "0") > 0 then
  function delay()
    slots = slots + 1
    local wait = ((started or now()) + slots / rate - now()) * 1000
    if wait > 0 then return wait end
    return 0
  end
end

function request()
  local t = now()
  if started == nil then started = t end
  if t - started >= seconds then
    if stopped_at == 0 then stopped_at = t - started end
    return STALL
  end
  local length = file:read("*l")
  if length == nil then -- the file is exhausted: start again (duplicates; run.py reports it)
    wrapped = wrapped + 1
    file:seek("set", 0)
    length = file:read("*l")
  end
  sent = sent + 1
  local req = file:read(tonumber(length))
  position = file:seek()
  return req
end
function done(summary, latency, requests)
  local total_sent, total_wrapped, last, window = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    total_sent = total_sent + thread:get("sent")
    total_wrapped = total_wrapped + thread:get("wrapped")
    last = math.max(last, thread:get("position"))
    window = math.max(window, thread:get("stopped_at"))
  end
  total_sent = total_sent - 1 -- wrk calls the first thread's request() once to verify the script
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d sent=%d non2xx=%d connect=%d read=%d write=%d timeout=%d wrapped=%d " ..
    "position=%d window=%.3f duration_us=%d p50=%d p90=%d p99=%d p999=%d max=%d mean=%.1f\n",
    summary.requests, total_sent, e.status, e.connect, e.read, e.write, e.timeout, total_wrapped,
    last, window, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))
end
