-- Stores jobs: ready ones where their priority or group puts them, delayed ones in the delayed set.
-- KEYS: the queue's keys (K)
-- ARGV[1]: cmsgpack map
--   tails    N strings: options SEP traceId [GS extension] SEP payload (codec.ts encodeTail)
--   gen      how many of them need a generated id
--   ids      (absent: all generated) N caller-chosen ids, '' = generate
--   delays   (absent: none delayed) N delays in ms, <= 0 = ready now
--   track    (absent: none tracked) N retentions in ms of tracked jobs, 0 = untracked
--   routed   true when some job has a priority or a group
-- Returns: { first generated id (0 if none), 0-based indexes of caller ids that already existed... }
-- Invariant: a caller-chosen id is stored at most once while it is in ready, delayed, a claim or dead,
-- and for the retention window after its job completed. Enqueue is refused on a full Redis (no
-- allow-oom): that is the one write a full Redis should turn away.
local now = nowMs()
if A.routed then redis.call('HSET', K.meta, 'routed', '1') end
if A.track then redis.call('HSET', K.meta, 'tracks', '1') end
local M = readMeta(now)
local tails, callerIds, delays, track = A.tails, A.ids, A.delays, A.track
local n = #tails
local generate = tonumber(A.gen) or 0
local seq = 0
if generate > 0 then
  seq = redis.call('INCRBY', K.seq, generate) - generate
end
local result = { generate > 0 and seq + 1 or 0 }

local ready = {}
local minDue = nil
local firstDue = delays and firstScore(K.delayed)
local trackedReady = 0
local prefix = SEP .. '0' .. SEP .. fmt(now) .. SEP
for i = 1, n do
  local id = callerIds and callerIds[i] or ''
  if id == '' then
    seq = seq + 1
    id = fmt(seq)
  elseif redis.call('SADD', K.ids, id) == 0 then
    local freeAt = redis.call('ZSCORE', K.retainedIds, id)
    if freeAt and tonumber(freeAt) <= now then
      redis.call('ZREM', K.retainedIds, id) -- its job completed and the retention window has passed
    else
      result[#result + 1] = i - 1
      id = nil
    end
  end
  if id then
    local record = id .. prefix .. tails[i]
    local delay = delays and tonumber(delays[i]) or 0
    local retention = track and tonumber(track[i]) or 0
    if delay > 0 then
      local due = now + delay
      local score = addDelayed(withDue(record, due), due)
      if minDue == nil or due < minDue then minDue = due end
      if retention > 0 then trackSet(id, { s = 'delayed', at = score, k = retention }) end
    else
      ready[#ready + 1] = record
      if retention > 0 then
        trackSet(id, { s = 'ready', rec = record, k = retention })
        trackedReady = trackedReady + 1
      end
    end
  end
end
saveGroupSeq()
if trackedReady > 0 then redis.call('HINCRBY', K.meta, 'tracked', trackedReady) end

pushReadyMany(M, ready)
if #ready > 0 and redis.call('EXISTS', K.wake) == 0 and grantable(M, 1) > 0 then announce() end
if minDue ~= nil and (firstDue == nil or minDue < math.floor(firstDue)) then
  -- Idle workers sleep until the earliest due time they know of: tell them about an earlier one.
  redis.call(PUBLISH, NOTIFY, 't' .. fmt(minDue))
end
return result
