-- Fixed window, as the FixedWindow of crates/palisade/src/rate_limit/window.rs, in
-- microseconds: `max` permits per window, windows aligned to the clock's origin.
--
-- KEYS[1]  the state: struct '<dI' = end of the window the count belongs to (µs), count
-- ARGV[1]  now (µs), or -1: Redis's clock (TIME)
-- ARGV[2]  window (µs, ≥ 1)
-- ARGV[3]  max permits per window
-- ARGV[4]  n: permits asked for (0: report only; the caller checks n ≤ max)
-- ARGV[5]  ms the key outlives its window (0 on Redis's clock)
-- Returns  {granted (1 or 0), limit, remaining, reset_after µs, retry_after µs}
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local window = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local n = tonumber(ARGV[4])

local window_end = (math.floor(now / window) + 1) * window
local count = 0
local state = redis.call('GET', KEYS[1])
if state and #state == 12 then
  local stored_end, stored_count = struct.unpack('<dI', state)
  if now < stored_end then
    -- The stored window is still running: its count holds. A later stored end means this
    -- caller's clock reading is older than another's (or the window was longer): stay in
    -- the stored window rather than reset it. A changed window length carries the count.
    count = stored_count
    window_end = math.max(window_end, stored_end)
  end
end

local function reset(c)
  if c == 0 then return 0 end
  return window_end - now
end

if n == 0 then
  return {1, max, math.max(max - count, 0), reset(count), 0}
end
if count + n > max then
  return {0, max, math.max(max - count, 0), reset(count), reset(count)}
end
count = count + n
redis.call('SET', KEYS[1], struct.pack('<dI', window_end, count),
  'PX', math.ceil((window_end - now) / 1000) + tonumber(ARGV[5]))
return {1, max, max - count, reset(count), 0}
