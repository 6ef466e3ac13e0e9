-- wrk script: replays pre-signed webhook requests, each once, then stops; prints one JSON line of results.
-- REPLAY_FILE holds three lines a request: X-Webhook-Timestamp, X-Webhook-Signature, the body.

local ffi = require("ffi")
ffi.cdef [[
   typedef struct { long tv_sec; long tv_nsec; } timespec;
   int clock_gettime(int clock, timespec *now);
]]
local clock = ffi.new("timespec")

-- wrk's own duration is always -d (its main thread sleeps that long), so the run is timed here: from the first
-- request to the answer to the last one.
local function now_us()
   ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
   return tonumber(clock.tv_sec) * 1000000 + tonumber(clock.tv_nsec) / 1000
end

local requests = {}
count = 0
answered = 0
first_us = nil
last_us = nil
local index = 0
-- REPLAY_RATE > 0 paces the run: request i is due at first + i / rate (an open schedule over all connections),
-- so the rate holds whatever the answers' latency, as long as enough connections are open.
local rate = tonumber(os.getenv("REPLAY_RATE") or "0")
local next_due_us = nil
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local file = assert(io.open(os.getenv("REPLAY_FILE"), "r"))
   while true do
      local timestamp = file:read("*l")
      if not timestamp then break end
      local signature = file:read("*l")
      local body = file:read("*l")
      count = count + 1
      requests[count] = wrk.format("POST", "/daily/webhook", {
         ["Content-Type"] = "application/json",
         ["X-Webhook-Timestamp"] = timestamp,
         ["X-Webhook-Signature"] = signature,
      }, body)
   end
   file:close()
end

if rate > 0 then
   function delay()
      local now = now_us()
      if next_due_us == nil then next_due_us = now end
      local due = next_due_us
      next_due_us = next_due_us + 1000000 / rate
      if due <= now then return 0 end
      return math.floor((due - now) / 1000 + 0.5)
   end
end

function request()
   if first_us == nil then first_us = now_us() end
   -- Past the end, connections still waiting for the last answers repeat the last request (a cheap duplicate).
   if index < count then index = index + 1 end
   return requests[index]
end

function response(status, headers, body)
   answered = answered + 1
   last_us = now_us()
   if answered >= count then wrk.thread:stop() end
end

function done(summary, latency, requests)
   local thread = threads[1]
   local e = summary.errors
   io.write(string.format(
      '{"requests":%d,"answered":%d,"elapsed_us":%d,"p50_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
      thread:get("count"), thread:get("answered"), thread:get("last_us") - thread:get("first_us"),
      latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout))
end
