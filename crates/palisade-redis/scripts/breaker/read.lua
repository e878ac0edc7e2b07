-- The shared state as it is, and the window's counts (ARGV[7..9]: see `window`). A read is a
-- use: it renews the TTL (an operator's ForcedOpen on an idle breaker must not expire while
-- instances still look at it). A state not created yet reads as Closed, generation 0,
-- epoch '', and is not created by reading.

local s = load()
local tc, tf, ts = 0, 0, 0
if s.epoch ~= '' then
  tc, tf, ts = window(7, 0, 0, 0)
  touch()
end
return reply(1, s, tc, tf, ts)
