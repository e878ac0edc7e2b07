-- A trial call's outcome: ARGV[10] 0 (ignored, or given back), 1 (succeeded), 2 (failed, or
-- slow with slow-call detection on). A failure re-opens the breaker; ARGV[11] successes close
-- it. ARGV[7] the generation and ARGV[8] the epoch the lease was taken in, ARGV[9] the lease.
-- Status 1: applied; 2: the state had changed, the outcome belongs to a period that is over.

local s = load()
redis.call('ZREM', trials_key, ARGV[9])
if s.epoch ~= ARGV[8] or s.gen ~= tonumber(ARGV[7]) or s.state ~= OPEN then
  return reply(2, s)
end
local outcome = tonumber(ARGV[10])
if outcome == 2 then
  enter(s, OPEN)
elseif outcome == 1 then
  s.ok = s.ok + 1
  if s.ok >= tonumber(ARGV[11]) then
    enter(s, CLOSED)
  else
    redis.call('HSET', state_key, 'ok', s.ok)
  end
end
touch()
return reply(1, s)
