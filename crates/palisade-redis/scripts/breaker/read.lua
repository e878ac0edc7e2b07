-- The shared state as it is, and the window's counts (ARGV[7..9]: see `window`). Writes
-- nothing but the trimming of expired window entries; a state not created yet reads as
-- Closed, generation 0, epoch ''.

local s = load()
local tc, tf, ts = 0, 0, 0
if s.epoch ~= '' then tc, tf, ts = window(7, 0, 0, 0) end
return reply(1, s, tc, tf, ts)
