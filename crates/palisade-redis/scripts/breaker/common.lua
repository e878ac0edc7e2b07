-- The prelude of every breaker script (prepended by src/breaker/scripts.rs).
--
-- KEYS[1] the state hash, KEYS[2] the window, KEYS[3] the trial leases (a sorted set):
-- all under one hash tag, so one script touches one Redis Cluster slot.
-- ARGV[1] an epoch for a state created now, ARGV[2] the state TTL (ms), ARGV[3] the channel,
-- ARGV[4] the recovery timeout (ms), ARGV[5] its backoff multiplier, ARGV[6] its maximum (ms);
-- each script's own arguments follow from ARGV[7].
--
-- Time is Redis's (TIME), for the window's buckets and the end of Open; instances are told
-- the time *remaining* and count it down on their own clocks. HalfOpen is never stored: it
-- is an instance's view of an Open state whose remaining time has run out on its clock.

local CLOSED, OPEN, FORCED_OPEN, DISABLED, METRICS_ONLY, HALF_OPEN = 0, 1, 2, 3, 4, 5
local state_key, window_key, trials_key = KEYS[1], KEYS[2], KEYS[3]
local ttl, channel = tonumber(ARGV[2]), ARGV[3]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local function load()
  local v = redis.call('HMGET', state_key, 'epoch', 'state', 'gen', 'until', 'trips', 'run', 'ok')
  return {
    epoch = v[1] or '', state = tonumber(v[2] or '0'), gen = tonumber(v[3] or '0'),
    ['until'] = tonumber(v[4] or '0'), trips = tonumber(v[5] or '0'),
    run = tonumber(v[6] or '0'), ok = tonumber(v[7] or '0'),
  }
end

local function save(s)
  redis.call('HSET', state_key, 'epoch', s.epoch, 'state', s.state, 'gen', s.gen,
    'until', s['until'], 'trips', s.trips, 'run', s.run, 'ok', s.ok)
end

-- A state that does not exist yet starts Closed, generation 0, in a new epoch.
local function create(s)
  if s.epoch == '' then
    s.epoch = ARGV[1]
    save(s)
  end
end

local function touch()
  redis.call('PEXPIRE', state_key, ttl)
  redis.call('PEXPIRE', window_key, ttl)
  redis.call('PEXPIRE', trials_key, ttl)
end

-- The recovery timeout after the trips-th trip in a row (as CircuitBreakerConfig's).
local function recovery(trips)
  local base, growth, max = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
  local wait = base
  if growth > 1 and trips > 1 then
    wait = base * growth ^ (trips - 1)
    if wait > max then wait = max end
  end
  return math.floor(wait)
end

local function remaining(s)
  if s.state == OPEN and s['until'] > now then return s['until'] - now end
  return 0
end

-- Enters `to` (a new generation), clears the trial leases, and tells every instance.
local function enter(s, to)
  s.gen = s.gen + 1
  if to == HALF_OPEN then
    s.state, s['until'] = OPEN, now
  else
    s.state = to
    if to == OPEN then
      s.trips = s.trips + 1
      s['until'] = now + recovery(s.trips)
    end
  end
  if to == CLOSED then
    s.trips = 0
    redis.call('DEL', window_key)
  end
  s.run, s.ok = 0, 0
  redis.call('DEL', trials_key)
  save(s)
  redis.call('PUBLISH', channel, s.epoch .. ' ' .. s.gen .. ' ' .. s.state .. ' ' .. remaining(s))
end

-- The window's counts, after adding a batch (calls c, failures f, slow sl; all 0 to read).
-- ARGV[w] the kind (0 none, 1 the last `size` calls, 2 time buckets), ARGV[w+1] the size
-- (calls, or a bucket's length in ms), ARGV[w+2] the buckets.
local function window(w, c, f, sl)
  local kind, size, buckets = tonumber(ARGV[w]), tonumber(ARGV[w + 1]), tonumber(ARGV[w + 2])
  local tc, tf, ts = 0, 0, 0
  if kind == 1 then
    -- Batches, newest first; the oldest one counted is pro-rated to make `size` calls.
    if c > 0 then redis.call('LPUSH', window_key, c .. ' ' .. f .. ' ' .. sl) end
    local items = redis.call('LRANGE', window_key, 0, -1)
    for i, item in ipairs(items) do
      local ic, ifl, isl = string.match(item, '(%d+) (%d+) (%d+)')
      ic, ifl, isl = tonumber(ic), tonumber(ifl), tonumber(isl)
      if tc + ic >= size then
        local part = (size - tc) / ic
        tc, tf, ts = size, tf + ifl * part, ts + isl * part
        if i < #items then redis.call('LTRIM', window_key, 0, i - 1) end
        break
      end
      tc, tf, ts = tc + ic, tf + ifl, ts + isl
    end
  elseif kind == 2 then
    local current = math.floor(now / size)
    if c > 0 then
      redis.call('HINCRBY', window_key, current .. ':c', c)
      if f > 0 then redis.call('HINCRBY', window_key, current .. ':f', f) end
      if sl > 0 then redis.call('HINCRBY', window_key, current .. ':s', sl) end
    end
    local oldest = current - buckets + 1
    local fields = {}
    for i = oldest, current do
      fields[#fields + 1] = i .. ':c'
      fields[#fields + 1] = i .. ':f'
      fields[#fields + 1] = i .. ':s'
    end
    local v = redis.call('HMGET', window_key, unpack(fields))
    for i = 1, #v, 3 do
      tc = tc + tonumber(v[i] or '0')
      tf = tf + tonumber(v[i + 1] or '0')
      ts = ts + tonumber(v[i + 2] or '0')
    end
    if redis.call('HLEN', window_key) > 3 * (buckets + 2) then
      for _, field in ipairs(redis.call('HKEYS', window_key)) do
        local idx = tonumber(string.match(field, '^(%d+):'))
        if idx and idx < oldest then redis.call('HDEL', window_key, field) end
      end
    end
  end
  return tc, tf, ts
end

-- Every script answers: status, epoch, state, generation, remaining Open time (ms), the
-- fleet's run of consecutive failures, and the window's calls, failures and slow calls.
local function reply(status, s, tc, tf, ts)
  return { status, s.epoch, s.state, s.gen, remaining(s), s.run,
    math.floor(tc or 0), math.floor((tf or 0) + 0.5), math.floor((ts or 0) + 0.5) }
end
