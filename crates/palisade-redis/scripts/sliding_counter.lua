-- Sliding window counter, as the SlidingCounter of crates/palisade/src/rate_limit/window.rs,
-- in microseconds: the current window's count plus the previous window's, weighted by how
-- much of the previous window the sliding window still covers.
--
-- KEYS[1]  the state: struct '<dIId' = window index, previous count, current count, and the
--          window length (µs) they were counted in
-- ARGV[1]  now (µs), or -1: Redis's clock (TIME)
-- ARGV[2]  window (µs, ≥ 1)
-- ARGV[3]  max permits per window
-- ARGV[4]  n: permits asked for (0: report only; the caller checks n ≤ max)
-- ARGV[5]  ms the key outlives the moment it is fully rested (0 on Redis's clock)
-- Returns  {granted (1 or 0), limit, remaining, reset_after µs, retry_after µs}
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local w = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local n = tonumber(ARGV[4])

local function elapsed_in(index, window)
  return math.min(math.max(now - index * window, 0), window)
end

local index, previous, current = math.floor(now / w), 0, 0
local converted = false
local state = redis.call('GET', KEYS[1])
if state and #state == 24 then
  local s_index, s_previous, s_current, s_window = struct.unpack('<dIId', state)
  if s_window ~= w then
    -- A changed window: roll the counts in their own window, then carry the estimate into
    -- a fresh window of the new length (window.rs `carry`).
    local s_now = math.floor(now / s_window)
    local p, c = s_previous, s_current
    if s_now == s_index + 1 then
      p, c = s_current, 0
    elseif s_now > s_index + 1 then
      p, c = 0, 0
    end
    local at = math.max(s_now, s_index)
    current = math.ceil((p * (s_window - elapsed_in(at, s_window)) + c * s_window) / s_window)
    converted = true
  elseif index == s_index then
    previous, current = s_previous, s_current
  elseif index == s_index + 1 then
    previous = s_current
  elseif index < s_index then
    -- An older clock reading than the state's: decide in the stored window.
    index, previous, current = s_index, s_previous, s_current
  end
end

local elapsed = elapsed_in(index, w)
local weighted = previous * (w - elapsed) + current * w

local function info()
  local remaining = math.max(math.floor((max * w - weighted) / w), 0)
  local reset = 0
  if current > 0 then
    reset = (index + 2) * w - now
  elseif previous > 0 then
    reset = (index + 1) * w - now
  end
  return remaining, math.max(reset, 0)
end

local function save()
  redis.call('SET', KEYS[1], struct.pack('<dIId', index, previous, current, w),
    'PX', math.ceil(((index + 2) * w - now) / 1000) + tonumber(ARGV[5]))
end

if n == 0 then
  -- A converted state is written whatever the decision: the conversion happens once.
  if converted then save() end
  local remaining, reset = info()
  return {1, max, remaining, reset, 0}
end

if weighted + n * w > max * w then
  -- How long until n more fit (window.rs `wait`).
  local wait
  if current + n <= max then
    local room = (max - current - n) * w
    wait = math.max(w - math.floor(room / previous) - elapsed, 0)
  else
    local room = math.max(max - n, 0) * w
    wait = w - elapsed + w - math.min(math.floor(room / current), w)
  end
  if converted then save() end
  local remaining, reset = info()
  return {0, max, remaining, reset, math.max(wait, 1)}
end

current = current + n
weighted = weighted + n * w
save()
local remaining, reset = info()
return {1, max, remaining, reset, 0}
