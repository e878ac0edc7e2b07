-- Adds one instance's batch of Closed outcomes to the fleet's, and trips the breaker if the
-- fleet's counts meet a configured condition (Machine::trip_reason's rules, on the fleet).
--
-- ARGV[7..9] calls, failures and slow calls in the batch; ARGV[10] failures before its first
-- success, ARGV[11] its longest run of failures between two successes, ARGV[12] failures
-- after its last success, ARGV[13] 1 if it holds a success; ARGV[14] failure_threshold
-- (0: none), ARGV[15] failure_rate_threshold (%, 0: none), ARGV[16] slow_call_rate_threshold
-- (%, 0: none), ARGV[17] minimum_calls; ARGV[18..20] the window (see `window`).
--
-- The fleet's consecutive failures: the run of failures, with no success in between, in
-- the order batches reach Redis (an instance's own order kept within its batch).

local s = load()
create(s)
local c, f, sl = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local leading, inner, trailing = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local succeeded = ARGV[13] == '1'
local threshold, failure_rate = tonumber(ARGV[14]), tonumber(ARGV[15])
local slow_rate, minimum = tonumber(ARGV[16]), tonumber(ARGV[17])
local tc, tf, ts = 0, 0, 0
if s.state == CLOSED or s.state == METRICS_ONLY then
  local trip = false
  if succeeded then
    trip = s.run + leading >= threshold or inner >= threshold or trailing >= threshold
    s.run = trailing
  else
    s.run = s.run + f
    trip = s.run >= threshold
  end
  trip = trip and threshold > 0
  tc, tf, ts = window(18, c, f, sl)
  if not trip and tc > 0 and tc >= minimum then
    trip = (failure_rate > 0 and tf * 100 >= failure_rate * tc)
      or (slow_rate > 0 and ts * 100 >= slow_rate * tc)
  end
  if trip and s.state == CLOSED then
    enter(s, OPEN)
  else
    redis.call('HSET', state_key, 'run', s.run)
  end
end
touch()
return reply(1, s, tc, tf, ts)
