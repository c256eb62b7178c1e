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

local batch = newBatch(M)
for i = 1, n do
  local id = callerIds and callerIds[i] or ''
  if id == '' then
    seq = seq + 1
    id = fmt(seq)
  elseif not takeCallerId(M, id) then
    result[#result + 1] = i - 1
    id = nil
  end
  if id then stageJob(batch, id, tails[i], delays and tonumber(delays[i]) or 0, track and tonumber(track[i]) or 0) end
end
commitBatch(batch)
return result
