#!lua flags=allow-oom
-- Retries or removes dead-letter entries, the given ones or, without ids, up to `limit` of the oldest
-- (the caller repeats until none remain: safe on a million dead jobs).
-- KEYS: the queue's keys (K)
-- ARGV[1]: cmsgpack map { op = 'retry' | 'remove', ids = { ... } (absent: the oldest), limit = n }
-- Returns: { entries processed, dead entries left }
-- Invariant: a retried job is ready again with its attempts reset, in the structure its priority or
-- group names; a removed job's caller-chosen id is free again.
local M = readMeta(nowMs())
local ids = A.ids
if not ids then ids = redis.call('ZRANGE', K.deadIndex, 0, (tonumber(A.limit) or 1000) - 1) end
local done, ready = 0, 0
for _, id in ipairs(ids) do
  local entry = redis.call('HGET', K.dead, id)
  if entry then
    if A.op == 'retry' then
      local ok, dead = pcall(cjson.decode, entry)
      local rec = ok and type(dead) == 'table' and dead.record
      if type(rec) == 'string' and recordId(rec) then
        rec = setAttempts(rec, 0)
        pushReady(M, rec, false)
        ready = ready + 1
        redis.call('HINCRBY', K.meta, 'tracked', trackReady(rec))
      end
      -- A record without a readable id cannot run again: retrying it only removes it.
    else
      if isCallerId(id) then redis.call('SREM', K.ids, id) end
      redis.call('HDEL', K.track, id)
    end
    redis.call('HDEL', K.dead, id)
    redis.call('ZREM', K.deadIndex, id)
    done = done + 1
  end
end
saveGroupSeq()
if ready > 0 and claimable(M) then announce() end
return { done, redis.call('HLEN', K.dead) }
