-- An operator's action, for the whole fleet: ARGV[7] the target state (HALF_OPEN: Open with
-- no time left), ARGV[8] 1 to reset (Closed, window cleared, even if Closed already).

local s = load()
create(s)
local target, reset = tonumber(ARGV[7]), ARGV[8] == '1'
local same = s.state == target or (target == HALF_OPEN and s.state == OPEN and remaining(s) == 0)
if reset or not same then
  if reset then s.trips = 0 end
  enter(s, target)
end
touch()
return reply(1, s)
