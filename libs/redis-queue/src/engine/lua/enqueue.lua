-- Stores jobs: ready ones where their priority or group puts them, delayed ones in the delayed set.
-- KEYS: the queue's keys (K)
-- ARGV[1]: cmsgpack map
--   tails    N strings: options SEP traceId [GS extension] SEP payload (codec.ts encodeTail)
--   gen      how many of them need a generated id
--   ids      (absent: all generated) N caller-chosen ids, '' = generate
--   delays   (absent: none delayed) N delays in ms, <= 0 = ready now
--   track    (absent: none tracked) N retentions in ms of tracked jobs, 0 = untracked
--   debounce (absent: none) N entries, false or { key, delay, maxWait }: the job collapses into the one
--            still waiting under that key (payload replaced, start pushed back, at most maxWait after the first)
--   routed   true when some job has a priority, a group or a debounce key
-- Returns: { first generated id (0 if none), then 0-based indexes of caller ids that already existed,
--   and { index, id } for each debounced job that collapsed into a waiting one }
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

-- A debounced job: the one still waiting under its key takes its payload and later start; else it starts
-- a new burst. Returns the id of the job that waited, or nil.
local function debounceInto(key, delay, maxWait, tail, retention)
  local json = redis.call('HGET', K.debounce, key)
  if not json then return nil end
  local entry = cjson.decode(json)
  local member = findDelayed(entry.at, entry.id)
  if not member then return nil end -- it left the delayed set (due, running or done): a new burst begins
  redis.call('ZREM', K.delayed, member)
  local due = math.min(now + delay, tonumber(entry.first) + maxWait)
  local record = entry.id .. SEP .. '0' .. SEP .. fmt(entry.first) .. SEP .. tail
  local score = addDelayed(withDue(record, due), due)
  entry.at = fmtScore(score)
  redis.call('HSET', K.debounce, key, cjson.encode(entry))
  if retention > 0 then trackSet(entry.id, { s = 'delayed', at = entry.at, k = retention }) end
  return entry.id
end

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
  local db = A.debounce and A.debounce[i]
  local retention = track and tonumber(track[i]) or 0
  local collapsed = id and db and debounceInto(db[1], tonumber(db[2]), tonumber(db[3]), tails[i], retention)
  if collapsed then
    result[#result + 1] = { i - 1, collapsed }
  elseif id then
    local score = stageJob(batch, id, tails[i], delays and tonumber(delays[i]) or 0, retention)
    if db and score then
      redis.call('HSET', K.debounce, db[1], cjson.encode({ id = id, at = fmtScore(score), first = now }))
    end
  end
end
commitBatch(batch)
return result
