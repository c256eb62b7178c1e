#!lua flags=allow-oom
-- Cancels a tracked job: removed if it waits (ready or delayed), told to stop if it runs.
-- KEYS: the queue's keys (K)
-- ARGV[1]: cmsgpack map { id = job id }
-- Returns: { outcome, state before }: outcome 'removed' (it was waiting or delayed; it will never run),
--   'aborting' (it runs: its worker aborts it, and fencing keeps it from settling as a success),
--   'finished' (already completed, cancelled or dead), 'unknown' (no tracked job with this id).
-- Invariant: a cancelled job never completes afterwards; a ready one is dropped when claimed (the
-- `cancelled` mark), a delayed one leaves the delayed set now.
local id = A.id
local M = readMeta(nowMs())
local t = trackGet(id)
if not t then
  if redis.call('HEXISTS', K.dead, id) == 1 then return { 'finished', 'dead' } end
  return { 'unknown', '' }
end
local state = t.s
local function cancelled(rec, freeId)
  trackFinish(M, id, { s = 'cancelled', rec = rec, a = t.a }, t.k)
  if freeId and isCallerId(id) then redis.call('SREM', K.ids, id) end
  emit(M, 'cancelled', id)
  countStat(M, 'x', 1)
  redis.call(PUBLISH, NOTIFY, 'd' .. id)
  if eventsAdded > 0 then redis.call(PUBLISH, NOTIFY, 'e') end
end
if state == 'ready' then
  -- Its record stays in the ready list until a claim reaches it and drops it: the mark holds the record
  -- itself, so a job enqueued again under the same id (free again now) is not mistaken for it.
  redis.call('HSET', K.cancelled, id, t.rec)
  cancelled(t.rec, true)
  return { 'removed', state }
elseif state == 'delayed' then
  local member = findDelayed(t.at, id)
  if not member then return { 'unknown', state } end
  redis.call('ZREM', K.delayed, member)
  cancelled(member, true)
  return { 'removed', state }
elseif state == 'active' then
  t.s = 'cancelling'
  trackSet(id, t)
  redis.call(PUBLISH, NOTIFY, 'c' .. id)
  return { 'aborting', state }
elseif state == 'cancelling' then
  redis.call(PUBLISH, NOTIFY, 'c' .. id)
  return { 'aborting', 'active' }
end
return { 'finished', state }
