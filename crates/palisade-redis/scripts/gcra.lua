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
  local current = struct.unpack('<f', struct.pack('<f', interval))
  if written ~= current and written > 0 and tat > now then
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

local function remaining(t)
  local ahead = math.max(t - now, 0)
  if ahead > tau then return 0 end
  return math.min(math.floor((tau - ahead) / interval) + 1, burst)
end

-- The key expires once fully rested (plus the margin): forgetting it then loses nothing.
local function save(t)
  redis.call('SET', KEYS[1], struct.pack('<df', t, interval),
    'PX', math.ceil(math.max(t - now, 1) / 1000) + tonumber(ARGV[6]))
end

if n == 0 then
  if dirty then save(tat) end
  return {1, burst, remaining(tat), math.max(tat - now, 0), 0}
end

-- n permits are admitted no earlier than tat + (n − 1) × interval − tau.
local earliest = tat + (n - 1) * interval - tau
if now < earliest then
  -- A converted or started state is written on a refusal too: it happens once.
  if dirty then save(tat) end
  return {0, burst, remaining(tat), math.max(tat - now, 0), earliest - now}
end
local next = math.max(tat, now) + n * interval
save(next)
return {1, burst, remaining(next), next - now, 0}
