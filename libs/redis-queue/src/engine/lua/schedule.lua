-- Keeps a queue's schedules, and turns their ticks into jobs: exactly one job per tick however many
-- processes tick the schedule, with no leader, by a compare-and-set on the schedule's next tick.
-- KEYS: the queue's keys (K)
-- ARGV[1]: cmsgpack map, by `op`:
--   upsert: name, def (the schedule as JSON, see inspector.ts StoredSchedule, without next/last),
--           fingerprint (of what defines its ticks and jobs), next (the first tick from now)
--   remove: name
--   prune:  keep = { names } (schedules declared by handlers that are no longer declared go)
--   fire:   name, tick (the tick the caller fires: it must still be the schedule's next), next (the
--           tick after it), tail (the job, codec.ts encodeTail), skip (a missed tick: no job)
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

-- The tick job a schedule enqueued ahead of its tick, while it still waits in the delayed set.
local function dropPending(s)
  if type(s.pending) ~= 'table' then return end
  local member = findDelayed(s.pending.at, s.pending.id)
  if member then
    redis.call('ZREM', K.delayed, member)
    redis.call('SREM', K.ids, s.pending.id)
  end
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
  if not A.skip then
    local id = A.name .. '@' .. fmt(tick)
    if takeCallerId(M, id) then
      local batch = newBatch(M)
      local delay = math.max(0, tick - now)
      local score = stageJob(batch, id, A.tail, delay, 0)
      commitBatch(batch)
      if score then s.pending = { id = id, at = fmtScore(score) } else s.pending = nil end
    end
    s.last = tick
  end
  s.next = tonumber(A.next)
  redis.call('HSET', K.schedules, A.name, cjson.encode(s))
  return 1
end
return redis.error_reply('schedule.lua: unknown op ' .. tostring(A.op))
