-- A retry budget's exchange: this instance publishes its window counts and reads the sum of
-- the other instances'. Instances not heard from within the window are dropped.
-- KEYS[1] counts (hash: instance id -> "calls retries"), KEYS[2] seen (zset: id -> last ms)
-- ARGV[1] instance id, ARGV[2] calls, ARGV[3] retries, ARGV[4] window (ms)
local counts, seen = KEYS[1], KEYS[2]
local id, window = ARGV[1], tonumber(ARGV[4])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

redis.call('HSET', counts, id, ARGV[2] .. ' ' .. ARGV[3])
redis.call('ZADD', seen, now, id)
local stale = redis.call('ZRANGEBYSCORE', seen, '-inf', now - window)
for _, old in ipairs(stale) do
  redis.call('HDEL', counts, old)
end
if #stale > 0 then
  redis.call('ZREMRANGEBYSCORE', seen, '-inf', now - window)
end
redis.call('PEXPIRE', counts, window * 2)
redis.call('PEXPIRE', seen, window * 2)

local calls, retries = 0, 0
local all = redis.call('HGETALL', counts)
for i = 1, #all, 2 do
  if all[i] ~= id then
    local c, r = string.match(all[i + 1], '^(%d+) (%d+)$')
    if c then
      calls = calls + tonumber(c)
      retries = retries + tonumber(r)
    end
  end
end
return { calls, retries }
