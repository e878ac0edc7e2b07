-- A lease for one half-open trial call, fleet-wide: at most ARGV[10] at a time, each
-- expiring after ARGV[11] ms (an instance that dies mid-trial gives its lease back so).
-- ARGV[7] the generation and ARGV[8] the epoch of the Open state the caller saw end,
-- ARGV[9] the lease's id. Status 1: granted; 0: every lease is taken; 2: the state changed
-- (the reply says to what).

local s = load()
if s.epoch ~= ARGV[8] or s.gen ~= tonumber(ARGV[7]) or s.state ~= OPEN then
  return reply(2, s)
end
redis.call('ZREMRANGEBYSCORE', trials_key, '-inf', now)
if redis.call('ZCARD', trials_key) >= tonumber(ARGV[10]) then
  return reply(0, s)
end
redis.call('ZADD', trials_key, now + tonumber(ARGV[11]), ARGV[9])
touch()
return reply(1, s)
