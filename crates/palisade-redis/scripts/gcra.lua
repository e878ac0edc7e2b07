-- GCRA (and the token bucket, the same algorithm seen from the bucket), as
-- crates/palisade/src/rate_limit/gcra.rs, in microseconds: one decision, atomically.
--
-- KEYS[1]  the state: struct '<df' = theoretical arrival time `tat` (µs), and the interval
--          it was written with (µs, as a float32: only to notice a changed quota)
-- ARGV[1]  now (µs), or -1: Redis's clock (TIME)
-- ARGV[2]  interval: µs per permit (≥ 1)
-- ARGV[3]  burst (≥ 1)
-- ARGV[4]  n: permits asked for (0: report only; the caller checks n ≤ burst)
-- ARGV[5]  tokens missing from a fresh state (token bucket's capacity − initial_tokens)
-- ARGV[6]  ms the key outlives the moment it is fully rested (0 on Redis's clock)
-- ARGV[7]  the interval as a float32 stores it (computed by the caller: no conversion here)
-- Returns  {granted (1 or 0), limit, remaining, reset_after µs, retry_after µs}
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local n = tonumber(ARGV[4])

local tat
local dirty = false
local state = redis.call('GET', KEYS[1])
if state and #state == 12 then
  local stored, written = struct.unpack('<df', state)
  tat = stored
  -- A changed quota: the time still owed scales with the interval, so permits already
  -- taken keep counting at the new rate (gcra.rs `rescale`).
  if written ~= tonumber(ARGV[7]) and written > 0 and tat > now then
    tat = now + math.ceil((tat - now) * interval / written)
    dirty = true
  end
else
  -- Never used (or expired, which happens only once fully rested): a full burst, less the
  -- tokens a token bucket starts without.
  tat = now + tonumber(ARGV[5]) * interval
  -- A token bucket starting short starts at its first decision, even a refusal.
  dirty = tat > now
end

-- How far ahead of schedule a burst may run.
local tau = (burst - 1) * interval

-- n permits are admitted no earlier than tat + (n − 1) × interval − tau.
local earliest = tat + (n - 1) * interval - tau
local granted = 1
if n == 0 then
  earliest = now -- report only
elseif now < earliest then
  granted = 0
else
  tat = math.max(tat, now) + n * interval
  dirty = true
end
-- A converted or started state is written whatever the decision: it happens once. The key
-- expires once fully rested (plus the margin): forgetting it then loses nothing.
if dirty then
  redis.call('SET', KEYS[1], struct.pack('<df', tat, interval),
    'PX', math.ceil(math.max(tat - now, 1) / 1000) + tonumber(ARGV[6]))
end

-- What remains: one more permit while tat − now ≤ tau, k more while tat − now + (k − 1) ×
-- interval ≤ tau (gcra.rs `remaining`).
local ahead = math.max(tat - now, 0)
local remaining = 0
if ahead <= tau then
  remaining = math.min(math.floor((tau - ahead) / interval) + 1, burst)
end
local retry = 0
if granted == 0 then retry = earliest - now end
return {granted, burst, remaining, ahead, retry}
