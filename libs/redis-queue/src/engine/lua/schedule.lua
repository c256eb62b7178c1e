-- Keeps a queue's schedules, and turns their ticks into jobs: exactly one job per tick however many
-- processes tick the schedule, with no leader, by a compare-and-set on the schedule's next tick.
-- KEYS: the queue's keys (K)
-- ARGV[1]: cmsgpack map, by `op`:
--   upsert: name, def (the schedule as JSON, see inspector.ts StoredSchedule, without next/last),
--           fingerprint (of what defines its ticks and jobs), next (the first tick from now)
--   remove: name
--   prune:  keep = { names } (schedules declared by handlers that are no longer declared go)
--   fire:   name, tick (the tick the caller fires: it must still be the schedule's next), next (the
--           tick after it), tail (the job, codec.ts encodeTail), skip (a missed tick: no job), track (its
--           tracking retention), routed (it has a priority or a group)
-- Returns: upsert 1 if the schedule is new or changed (0: unchanged); remove/prune how many went;
--   fire 1 if this call fired the tick (0: another process did, or the schedule changed).
-- Invariant: a tick produces at most one job (id "name@tick"); a removed schedule leaves no pending job.
local now = nowMs()
local M = readMeta(now)

local function get(name)
  local json = redis.call('HGET', K.schedules, name)
  if not json then return nil end
  local ok, s = pcall(cjson.decode, json)
  if ok and type(s) == 'table' then return s end
  return nil
end

-- The tick jobs a schedule enqueued ahead of their ticks that still wait in the delayed set: removed
-- with the schedule (or its old definition).
local function dropPending(s)
  if type(s.pending) ~= 'table' then return end
  for _, p in ipairs(s.pending) do
    local member = type(p) == 'table' and findDelayed(p.at, p.id)
    if member then
      redis.call('ZREM', K.delayed, member)
      redis.call('SREM', K.ids, p.id)
      if redis.call('HDEL', K.track, p.id) == 1 then redis.call('ZREM', K.trackExpiry, p.id) end
    end
  end
  s.pending = nil
end

local function changed()
  redis.call(PUBLISH, NOTIFY, 's')
end

if A.op == 'upsert' then
  local existing = get(A.name)
  if existing and existing.fingerprint == A.fingerprint then return 0 end
  if existing then dropPending(existing) end
  local s = cjson.decode(A.def)
  s.name = A.name
  s.fingerprint = A.fingerprint
  s.next = tonumber(A.next)
  if existing then s.last = existing.last end
  redis.call('HSET', K.schedules, A.name, cjson.encode(s))
  changed()
  return 1
elseif A.op == 'remove' then
  local existing = get(A.name)
  if not existing then return 0 end
  dropPending(existing)
  redis.call('HDEL', K.schedules, A.name)
  changed()
  return 1
elseif A.op == 'prune' then
  local keep = {}
  for _, name in ipairs(A.keep or {}) do keep[name] = true end
  local removed = 0
  local flat = redis.call('HGETALL', K.schedules)
  for i = 1, #flat, 2 do
    local ok, s = pcall(cjson.decode, flat[i + 1])
    if ok and type(s) == 'table' and s.source == 'decorator' and not keep[flat[i]] then
      dropPending(s)
      redis.call('HDEL', K.schedules, flat[i])
      removed = removed + 1
    end
  end
  if removed > 0 then changed() end
  return removed
elseif A.op == 'fire' then
  local s = get(A.name)
  local tick = tonumber(A.tick)
  if not s or tonumber(s.next) ~= tick then return 0 end
  -- Tick jobs enqueued ahead whose tick has passed are no longer pending (they are due, running or done).
  local pending = {}
  for _, p in ipairs(type(s.pending) == 'table' and s.pending or {}) do
    if type(p) == 'table' and tonumber(p.at) > now then pending[#pending + 1] = p end
  end
  if not A.skip then
    local id = A.name .. '@' .. fmt(tick)
    if takeCallerId(M, id) then
      local retention = tonumber(A.track) or 0
      if A.routed then redis.call('HSET', K.meta, 'routed', '1'); M.routed = true end
      if retention > 0 then redis.call('HSET', K.meta, 'tracks', '1') end
      local batch = newBatch(M)
      local score = stageJob(batch, id, A.tail, math.max(0, tick - now), retention)
      commitBatch(batch)
      if score then pending[#pending + 1] = { id = id, at = fmtScore(score) } end
    end
    s.last = tick
  end
  s.pending = #pending > 0 and pending or nil
  s.next = tonumber(A.next)
  redis.call('HSET', K.schedules, A.name, cjson.encode(s))
  return 1
end
return redis.error_reply('schedule.lua: unknown op ' .. tostring(A.op))
