-- Sliding window log, as the SlidingLog of crates/palisade/src/rate_limit/window.rs, in
-- microseconds: the time of every permit of the last window, so at most `max` permits in
-- any interval of one window — exactly.
--
-- KEYS[1]  the log: a sorted set, one member per permit, scored by its time (µs)
-- ARGV[1]  now (µs), or -1: Redis's clock (TIME)
-- ARGV[2]  window (µs, ≥ 1)
-- ARGV[3]  max permits per window
-- ARGV[4]  n: permits asked for (0: report only; the caller checks n ≤ max)
-- ARGV[5]  ms the key outlives its newest permit's window (0 on Redis's clock)
-- ARGV[6]  a token unique to the calling store, so members of one microsecond differ
-- Returns  {granted (1 or 0), limit, remaining, reset_after µs, retry_after µs}
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local window = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local n = tonumber(ARGV[4])

-- A permit taken at t counts until t + window.
-- Scores are written with '%.0f': Lua's own number format would round them.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
local held = redis.call('ZCARD', KEYS[1])

local function reset()
  local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  if #newest == 0 then return 0 end
  return math.max(tonumber(newest[2]) + window - now, 0)
end

if n == 0 then
  return {1, max, math.max(max - held, 0), reset(), 0}
end
if held + n > max then
  -- The (held + n − max)-th oldest permit must expire first.
  local k = held + n - max - 1
  local at = redis.call('ZRANGE', KEYS[1], k, k, 'WITHSCORES')
  local wait = 1
  if #at == 2 then wait = math.max(tonumber(at[2]) + window - now, 1) end
  return {0, max, math.max(max - held, 0), reset(), wait}
end
local stamp = string.format('%.0f', now)
local members = {}
for i = 1, n do
  members[#members + 1] = stamp
  members[#members + 1] = stamp .. ':' .. ARGV[6] .. ':' .. i
  if #members >= 200 or i == n then
    redis.call('ZADD', KEYS[1], unpack(members))
    members = {}
  end
end
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + tonumber(ARGV[5]))
return {1, max, max - held - n, window, 0}
