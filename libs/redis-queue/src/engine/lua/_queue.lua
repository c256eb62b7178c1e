-- The queue's structures as the scripts use them: queue-wide state, where a ready job goes, claims and
-- their settling, tracked jobs, events and counters. Invariant kept by every function: a job is in exactly
-- one of ready (a level list, `recovered` or a group), delayed, a claim, dead; a tracked job's entry says
-- which; `claims` '#active' counts the unsettled jobs of every claim and '#claims' the 0.2 claims.
local NOTIFY = string.sub(K.meta, 1, -5) .. 'notify' -- the queue's Pub/Sub channel (see keys.ts)
local EVENTS_MAXLEN = 10000
local STATS_MINUTES = 1440
local DEFAULT_LEVEL = 5.5 -- jobs without a priority run after levels 1-5 and before 6-10

---------------------------------------------------------------------------------------------------
-- Queue-wide state: one HMGET per call.

local META_FIELDS = { 'paused', 'rate', 'gconc', 'gmax', 'grate', 'tracked', 'routed',
  'listen:completed', 'listen:progress', 'listen:failed', 'listen:dead', 'listen:cancelled' }
local EVENT_NAMES = { 'completed', 'progress', 'failed', 'dead', 'cancelled' }

local function parseRate(text)
  if not text then return nil end
  local max, duration = string.match(text, '^(%d+),(%d+)$')
  if not max then return nil end
  return { max = tonumber(max), duration = tonumber(duration) }
end

local function readMeta(now)
  local v = redis.call('HMGET', K.meta, unpack(META_FIELDS))
  local M = {
    paused = v[1] == '1',
    rate = parseRate(v[2]),
    gconc = tonumber(v[3]),
    groupMax = tonumber(v[4]),
    groupRate = parseRate(v[5]),
    tracked = tonumber(v[6]) or 0,
    routed = v[7] == '1',
    listen = {},
    now = now,
  }
  for i, name in ipairs(EVENT_NAMES) do
    local until_ = tonumber(v[7 + i])
    M.listen[name] = until_ ~= nil and until_ > now
  end
  return M
end

---------------------------------------------------------------------------------------------------
-- Events (a bounded stream, only while someone listens) and per-minute counters.

local eventsAdded = 0

-- fields: a flat list name, value, ... (after 'event' and 'id').
local function emit(M, name, id, fields)
  if not M.listen[name] then return end
  redis.call('XADD', K.events, 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'event', name, 'id', id, 'at', fmt(M.now), unpack(fields or {}))
  eventsAdded = eventsAdded + 1
end

local function countStat(M, field, n)
  if n <= 0 then return end
  local minute = math.floor(M.now / 60000)
  redis.call('HINCRBY', K.stats, field .. ':' .. minute, n)
  if redis.call('HGET', K.stats, '#minute') ~= tostring(minute) then
    -- Once a minute: keep a day of buckets.
    redis.call('HSET', K.stats, '#minute', minute)
    local old = {}
    for back = STATS_MINUTES, STATS_MINUTES + 30 do
      for _, f in ipairs({ 'c', 'f', 'd', 'x' }) do old[#old + 1] = f .. ':' .. (minute - back) end
    end
    bulk('HDEL', K.stats, old)
  end
end

---------------------------------------------------------------------------------------------------
-- Wake-ups: `wake` holds one element while the queue has been announced claimable (idle 0.1 workers
-- block on it); the announcement to 0.2 workers is one message on the queue's channel.

local function announce()
  if redis.call('EXISTS', K.wake) == 0 then
    redis.call('RPUSH', K.wake, '1')
    redis.call(PUBLISH, NOTIFY, 'w')
  end
end

local function anyReady()
  return redis.call('LLEN', K.ready) > 0 or redis.call('LLEN', K.recovered) > 0 or
    redis.call('ZCARD', K.levels) > 0 or redis.call('LLEN', K.groups) > 0
end

-- Starts left in the queue's rate window now (and trims the window).
local function rateAllowance(M)
  if not M.rate then return nil end
  local from = M.now - M.rate.duration
  while true do
    local oldest = tonumber(redis.call('LINDEX', K.rate, 0))
    if not oldest or oldest > from then break end
    redis.call('LPOP', K.rate)
  end
  return math.max(0, M.rate.max - redis.call('LLEN', K.rate))
end

-- When the rate window lets the next job start (ms, Redis clock).
local function rateFreeAt(M)
  local oldest = tonumber(redis.call('LINDEX', K.rate, 0))
  if not oldest then return M.now end
  return oldest + M.rate.duration + 1
end

local function activeCount()
  return tonumber(redis.call('HGET', K.claims, '#active')) or 0
end

-- Jobs this call may start: the caller's want, bounded by pause, global concurrency and rate limit.
local function grantable(M, want)
  if M.paused or want <= 0 then return 0 end
  local n = want
  if M.gconc then n = math.min(n, M.gconc - activeCount()) end
  local allowance = rateAllowance(M)
  if allowance then n = math.min(n, allowance) end
  return math.max(0, n)
end

-- Something another worker may claim right now.
local function claimable(M)
  return anyReady() and grantable(M, 1) > 0
end

---------------------------------------------------------------------------------------------------
-- Where a ready job goes: its priority level, its group, or the default list.

local groupSeq = nil
local function nextGroupSeq()
  if not groupSeq then groupSeq = tonumber(redis.call('HGET', K.groupState, '#seq')) or 0 end
  groupSeq = groupSeq + 1
  return groupSeq
end

local function saveGroupSeq()
  if groupSeq then redis.call('HSET', K.groupState, '#seq', groupSeq) end
end

-- A group's member key part: group NUL, then a sequence that sorts as text ('!' before digits: head).
local function groupMember(group, rec, head)
  local seq = string.format('%016x', nextGroupSeq())
  return group .. '\0' .. (head and '!' or '') .. seq .. rec
end

-- The group is in the round robin exactly while it has waiting jobs, is under its concurrency and not parked.
local function groupEligible(M, group)
  local waiting = tonumber(redis.call('HGET', K.groupState, 'w:' .. group)) or 0
  if waiting <= 0 then return false end
  if M.groupMax then
    local active = tonumber(redis.call('HGET', K.groupState, 'a:' .. group)) or 0
    if active >= M.groupMax then return false end
  end
  return redis.call('ZSCORE', K.groupsParked, group) == false
end

local function pushGroup(M, group, rec, head)
  redis.call('ZADD', K.groupJobs, 0, groupMember(group, rec, head))
  local waiting = redis.call('HINCRBY', K.groupState, 'w:' .. group, 1)
  if waiting == 1 and groupEligible(M, group) then redis.call('RPUSH', K.groups, group) end
end

-- Puts one ready record where it belongs; head: at the front of its list (released jobs).
local function pushReady(M, rec, head)
  local ext = M.routed and recordExt(rec) or nil
  if ext and type(ext.g) == 'string' then
    pushGroup(M, ext.g, rec, head)
    return
  end
  local level = ext and tonumber(ext.p)
  local key = K.ready
  if level and LEVEL_KEYS[level] then
    key = LEVEL_KEYS[level]
    redis.call('ZADD', K.levels, level, level)
  end
  redis.call(head and 'LPUSH' or 'RPUSH', key, rec)
end

-- Many ready records at the tail, in order: one RPUSH per list for plain queues.
local function pushReadyMany(M, records)
  if #records == 0 then return end
  if not M.routed then
    bulk('RPUSH', K.ready, records)
    return
  end
  local plain = {}
  for _, rec in ipairs(records) do
    if string.find(rec, GS, 1, true) and recordExt(rec) then
      if #plain > 0 then bulk('RPUSH', K.ready, plain); plain = {} end
      pushReady(M, rec, false)
    else
      plain[#plain + 1] = rec
    end
  end
  bulk('RPUSH', K.ready, plain)
end

---------------------------------------------------------------------------------------------------
-- Delayed jobs. The score is the due time in ms plus a fraction that orders equal due times by arrival:
-- each insert takes the next step above the highest score already at that millisecond (4096 steps a ms
-- until 2039; past that many at one ms, ties fall back to the record's text).

local lastAtDue = {}
local function fifoScore(due)
  local top = lastAtDue[due]
  if top == nil then
    local found = redis.call('ZRANGE', K.delayed, '(' .. fmt(due + 1), fmt(due), 'BYSCORE', 'REV', 'LIMIT', 0, 1, 'WITHSCORES')
    top = found[2] and tonumber(found[2]) or false
  end
  local score = due
  if top then
    local _, e = math.frexp(due)
    local step = math.max(2 ^ (e - 53), 1 / 4096)
    score = top + step
    if score >= due + 1 then score = top end
  end
  lastAtDue[due] = score
  return score
end

local function addDelayed(rec, due)
  local score = fifoScore(due)
  redis.call('ZADD', K.delayed, fmtScore(score), rec)
  return score
end

---------------------------------------------------------------------------------------------------
-- Tracked jobs: an entry per id in `track` (JSON), updated by the same scripts that move the job.

local function trackGet(id)
  local entry = redis.call('HGET', K.track, id)
  if not entry then return nil end
  local ok, t = pcall(cjson.decode, entry)
  if ok and type(t) == 'table' then return t end
  return nil
end

local function trackSet(id, t)
  redis.call('HSET', K.track, id, cjson.encode(t))
end

-- A finished entry (completed, cancelled) is kept for its retention, then expires.
local function trackFinish(M, id, t, retention)
  t.f = M.now
  trackSet(id, t)
  redis.call('ZADD', K.trackExpiry, M.now + (tonumber(retention) or 86400000), id)
end

-- A record whose extension says it is tracked: its retention; nil otherwise.
local function trackedRetention(rec)
  if not string.find(rec, GS, 1, true) then return nil end
  local ext = recordExt(rec)
  return ext and tonumber(ext.k)
end

-- A record that is ready again (recovered, released, promoted, retried from dead): its tracked entry says
-- so. Returns 1 if it is tracked, 0 if not; the caller adds those up into meta 'tracked'.
local function trackReady(rec)
  local retention = trackedRetention(rec)
  local id = retention and recordId(rec)
  if not id then return 0 end
  local before = trackGet(id) or {}
  -- The last error and the attempts allowed stay known (a retry that became due).
  trackSet(id, { s = 'ready', rec = rec, k = retention, e = before.e, m = before.m })
  return 1
end

-- A tracked job cancelled while it ran, whose delivery ended without settling (its worker died, or
-- released it at shutdown): it must not run again. Finishes it as cancelled and returns true; false for
-- any other record.
local function endIfCancelled(M, rec)
  if not string.find(rec, GS, 1, true) then return false end
  local retention = trackedRetention(rec)
  local id = retention and recordId(rec)
  if not id then return false end
  local t = trackGet(id)
  if not t or t.s ~= 'cancelling' then return false end
  trackFinish(M, id, { s = 'cancelled', rec = rec, a = t.a, m = t.m, pr = t.pr }, t.k)
  emit(M, 'cancelled', id)
  countStat(M, 'x', 1)
  if isCallerId(id) then redis.call('SREM', K.ids, id) end
  redis.call(PUBLISH, NOTIFY, 'd' .. id)
  return true
end

---------------------------------------------------------------------------------------------------
-- Claims. A claim keeps its records joined by RS under its token, `token#n` unsettled, `token#d`
-- positions settled one by one (",3,7,"), `token#i` when it holds one job alone, `token#g` the group of
-- each position (RS-joined) when it holds grouped jobs. A delivery settles only while its claim exists
-- and its position is unsettled: that is the fence.

local function claimRecords(token)
  local blob = redis.call('HGET', K.claims, token)
  return blob and split(blob, RS) or nil
end

local function claimGroups(token)
  local g = redis.call('HGET', K.claims, token .. '#g')
  return g and split(g, RS) or nil
end

-- A job of a group left its claim (settled, recovered, released): its slot in the group is free again.
local function groupSlotFreed(M, group)
  if not group or group == '' then return end
  local active = redis.call('HINCRBY', K.groupState, 'a:' .. group, -1)
  if active <= 0 then redis.call('HDEL', K.groupState, 'a:' .. group) end
  if M.groupMax and active == M.groupMax - 1 and groupEligible(M, group) then
    redis.call('RPUSH', K.groups, group)
  end
end

-- 0.2 tokens are "counter-micros"; 0.1 tokens "counter.micros".
local function isV2Token(token)
  return string.find(token, '-', 1, true) ~= nil
end

-- Drops a claim whole: records, counters, deadline; frees the group slots of its unsettled positions.
local function dropClaim(M, token, unsettled)
  local groups = claimGroups(token)
  if groups and unsettled > 0 then
    local done = redis.call('HGET', K.claims, token .. '#d') or ','
    for p, g in ipairs(groups) do
      if not string.find(done, ',' .. p .. ',', 1, true) then groupSlotFreed(M, g) end
    end
  end
  redis.call('HDEL', K.claims, token, token .. '#n', token .. '#d', token .. '#i', token .. '#g')
  if unsettled > 0 then redis.call('HINCRBY', K.claims, '#active', -unsettled) end
  redis.call('ZREM', K.deadlines, token)
  redis.call('ZREM', K.lease, token)
  if isV2Token(token) then redis.call('HINCRBY', K.claims, '#claims', -1) end
end

-- Settles positions of a claim; returns a table position -> true of those that were unsettled (the
-- others are stale: already settled, or the claim is gone).
local function settlePositions(M, token, positions)
  local fresh = {}
  local left = tonumber(redis.call('HGET', K.claims, token .. '#n'))
  if not left then return fresh end
  local done = redis.call('HGET', K.claims, token .. '#d') or ','
  local count = 0
  for _, p in ipairs(positions) do
    if p >= 1 and not fresh[p] and not string.find(done, ',' .. p .. ',', 1, true) then
      fresh[p] = true
      count = count + 1
      done = done .. p .. ','
    end
  end
  if count == 0 then return fresh end
  local groups = claimGroups(token)
  if count >= left then
    -- Every position is settled now: nothing unsettled is left for dropClaim to free.
    redis.call('HSET', K.claims, token .. '#d', done)
    dropClaim(M, token, left)
  else
    redis.call('HSET', K.claims, token .. '#n', left - count, token .. '#d', done)
    redis.call('HINCRBY', K.claims, '#active', -count)
  end
  if groups then for p in pairs(fresh) do groupSlotFreed(M, groups[p]) end end
  return fresh
end

-- The unsettled records of a claim, by position.
local function unsettledRecords(token)
  local records = claimRecords(token)
  if not records then return {} end
  local done = redis.call('HGET', K.claims, token .. '#d') or ','
  local out = {}
  for p, rec in ipairs(records) do
    if not string.find(done, ',' .. p .. ',', 1, true) then out[p] = rec end
  end
  return out
end

---------------------------------------------------------------------------------------------------
-- Dead letters and caller-chosen ids.

local function deadEntry(id, now, errJson, rec)
  return '{"id":' .. cjson.encode(id) .. ',"failedAt":' .. fmt(now) .. ',"error":' .. errJson ..
    ',"record":' .. cjson.encode(rec) .. '}'
end

-- Puts a record in the dead-letter set; its caller-chosen id stays taken while it is there.
local function bury(M, rec, id, errJson)
  redis.call('HSET', K.dead, id, deadEntry(id, M.now, errJson, rec))
  redis.call('ZADD', K.deadIndex, M.now, id)
  if redis.call('HEXISTS', K.track, id) == 1 then
    -- A tracked job's entry says it is dead (the dead-letter set has the rest) while the job is there, and
    -- its waiters hear of it.
    redis.call('HSET', K.track, id, '{"s":"dead"}')
    redis.call('ZREM', K.trackExpiry, id)
    redis.call(PUBLISH, NOTIFY, 'd' .. id)
  end
  emit(M, 'dead', id, { 'error', errJson })
  countStat(M, 'd', 1)
end

-- Caller-chosen ids of completed jobs stay taken for the retention window (or are freed at once).
local function completeIds(M, completed, retainMs)
  if #completed == 0 then return end
  if retainMs > 0 then
    local scored = {}
    for i = 1, #completed do
      scored[#scored + 1] = M.now + retainMs
      scored[#scored + 1] = completed[i]
    end
    bulk('ZADD', K.retainedIds, scored)
  else
    bulk('SREM', K.ids, completed)
  end
end

---------------------------------------------------------------------------------------------------
-- Storing jobs (enqueue, a schedule's tick): a batch collects the ready records to push them together;
-- delayed ones go straight to the delayed set.

-- Takes a caller-chosen id for a new job; false when it is taken (waiting, running, dead, or completed
-- within its retention window).
local function takeCallerId(M, id)
  if redis.call('SADD', K.ids, id) == 1 then return true end
  local freeAt = redis.call('ZSCORE', K.retainedIds, id)
  if freeAt and tonumber(freeAt) <= M.now then
    redis.call('ZREM', K.retainedIds, id) -- its job completed and the retention window has passed
    return true
  end
  return false
end

local function newBatch(M)
  return { M = M, ready = {}, trackedReady = 0, minDue = nil, firstDue = nil, prefix = SEP .. '0' .. SEP .. fmt(M.now) .. SEP }
end

-- Stages one job: `tail` is the record after its id, attempts and enqueued-at (codec.ts encodeTail).
local function stageJob(batch, id, tail, delay, retention)
  local record = id .. batch.prefix .. tail
  if delay > 0 then
    local due = batch.M.now + delay
    if batch.minDue == nil then batch.firstDue = firstScore(K.delayed) or false end
    local score = addDelayed(withDue(record, due), due)
    if batch.minDue == nil or due < batch.minDue then batch.minDue = due end
    -- Scores are kept as text: cjson writes numbers with 14 digits, which would drop the FIFO fraction.
    if retention > 0 then trackSet(id, { s = 'delayed', at = fmtScore(score), k = retention }) end
    return score
  end
  batch.ready[#batch.ready + 1] = record
  if retention > 0 then
    trackSet(id, { s = 'ready', rec = record, k = retention })
    batch.trackedReady = batch.trackedReady + 1
  end
  return nil
end

-- Pushes the batch's ready jobs and tells idle workers what changed.
local function commitBatch(batch)
  local M = batch.M
  saveGroupSeq()
  if batch.trackedReady > 0 then redis.call('HINCRBY', K.meta, 'tracked', batch.trackedReady) end
  pushReadyMany(M, batch.ready)
  if #batch.ready > 0 and redis.call('EXISTS', K.wake) == 0 then
    if grantable(M, 1) > 0 then
      announce()
    elseif M.rate and not M.paused and rateAllowance(M) == 0 then
      -- Held back by the rate window: idle workers may hold no timer for it (nothing was ready when they
      -- last looked), so say when the window lets the next job start.
      redis.call(PUBLISH, NOTIFY, 't' .. fmt(rateFreeAt(M)))
    end
  end
  if batch.minDue ~= nil and (not batch.firstDue or batch.minDue < math.floor(batch.firstDue)) then
    -- Idle workers sleep until the earliest due time they know of: tell them about an earlier one.
    redis.call(PUBLISH, NOTIFY, 't' .. fmt(batch.minDue))
  end
end

-- The delayed member of job `id` stored at score `at` (text, as tracked entries keep it), or nil.
local function findDelayed(at, id)
  local score = fmtScore(tonumber(at))
  for _, member in ipairs(redis.call('ZRANGE', K.delayed, score, score, 'BYSCORE')) do
    if recordId(member) == id then return member end
  end
  return nil
end
