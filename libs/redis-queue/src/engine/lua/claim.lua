#!lua flags=allow-oom
-- One round trip of a worker loop: settle what finished, look after the queue (free retained ids, expire
-- tracked entries, recover expired claims, rescue orphaned ones, promote due delayed jobs and parked
-- groups), then claim up to `want` jobs under one new lease. allow-oom: on a full Redis it must keep
-- settling and recovering (that frees memory or holds it constant); see enqueue.lua for the one refusal.
-- KEYS: the queue's keys (K)
-- ARGV[1]: cmsgpack map
--   lease     ms a new claim stays leased without renewal
--   want      jobs to claim (0: settle only)
--   maxBytes  most record bytes in one claim (one job always fits)
--   retain    ms a completed job's caller-chosen id stays taken
--   attempts  the caller's default attempts (recovery dead-letters jobs that used them)
--   acks      { { t = token, all = size | p = { positions }, x = { { p, id, c?, k?, r? } } } }
--             x: the acknowledged jobs that need more than their position: caller-chosen id (c),
--             tracked (k = retention), result JSON (r); completed events come from the claim's records
--   retries   { { t, p, delay, made, err, id?, k?, defer? } }  defer: put back without counting an attempt
--   deads     { { t, p, made, err, id?, k? } }  made < 0: keep the record's count
--   cancels   { { t, p, id } }  deliveries that stopped because their job was cancelled
--   progress  { { id, v, k? } }
-- Returns: { token (0: nothing claimed), records joined by RS, ms until something may become claimable
--   (-1: only an announcement will tell), stale settles, tokens recovered joined by RS, Redis's now in ms
--   (for the worker's offset from Redis's clock: the due times in announcements are on Redis's clock) }
-- Invariant: see _queue.lua. A settle whose claim is gone or whose position was settled changes nothing.
local now, micros = nowMs()
local M = readMeta(now)
local leaseMs = tonumber(A.lease)
local stale = 0
local recoveredTokens = {}

---------------------------------------------------------------------------------------------------
-- Settling.

local recordsByToken = {}
local function recordsOf(token)
  local records = recordsByToken[token]
  if records == nil then
    records = claimRecords(token) or false
    recordsByToken[token] = records
  end
  return records
end

-- The record of a delivery, settling its position; nil (and counted stale) when the fence refuses it.
local function take(token, p)
  local records = recordsOf(token)
  local rec = records and records[p]
  if not rec or not settlePositions(M, token, { p })[p] then
    stale = stale + 1
    return nil
  end
  return rec
end

local function cancelledEntry(id)
  local t = trackGet(id)
  if t and t.s == 'cancelling' then return t end
  return nil
end

local function finishCancelled(id, t, rec)
  trackFinish(M, id, { s = 'cancelled', rec = rec, a = t.a }, t.k)
  emit(M, 'cancelled', id)
  countStat(M, 'x', 1)
  redis.call(PUBLISH, NOTIFY, 'd' .. id)
end

local completedIds = {}
local function completed(x, token)
  local id = x.id
  if x.c then completedIds[#completedIds + 1] = id end
  if x.k then
    local records = recordsOf(token)
    local rec = records and records[x.p] or nil
    local t = trackGet(id) or {}
    if t.s == 'cancelling' then
      -- Fencing for cancel: a cancelled attempt never settles as a success.
      finishCancelled(id, t, rec)
      return false
    end
    trackFinish(M, id, { s = 'completed', rec = rec, r = x.r, a = x.a, m = t.m, pr = t.pr }, x.k)
    redis.call(PUBLISH, NOTIFY, 'd' .. id)
  end
  if x.k and M.listen.completed then emit(M, 'completed', id, x.r and { 'result', x.r } or nil) end
  return true
end

-- Completed events of acknowledged jobs that are not tracked (tracked ones emit theirs in completed()):
-- their ids come from the claim's records, so a worker need not know that someone listens.
local function emitCompleted(token, positions, details)
  if not M.listen.completed then return end
  local tracked = {}
  for _, x in ipairs(details or {}) do if x.k then tracked[x.p] = true end end
  local records = recordsOf(token)
  if not records then return end
  for p in pairs(positions) do
    local id = not tracked[p] and records[p] and recordId(records[p])
    if id then emit(M, 'completed', id) end
  end
end

-- Progress of running jobs (the worker sends the latest value of each), before the acknowledgements: a
-- job's last value arrives with its completion.
for _, pr in ipairs(A.progress or {}) do
  if pr.k then
    local t = trackGet(pr.id)
    if t and (t.s == 'active' or t.s == 'cancelling') then
      t.pr = pr.v
      trackSet(pr.id, t)
    end
  end
  emit(M, 'progress', pr.id, { 'progress', pr.v })
end

local done = 0
for _, ack in ipairs(A.acks or {}) do
  local token = ack.t
  local fresh = {}
  if ack.all then
    -- The common case, a claim whose jobs all succeeded: O(1) in the claim's size (unless someone
    -- listens to completed events, or it holds tracked jobs: then its records are read first).
    if ack.x or M.listen.completed then recordsOf(token) end
    local left = tonumber(redis.call('HGET', K.claims, token .. '#n'))
    if left then
      local done0 = redis.call('HGET', K.claims, token .. '#d') or ','
      dropClaim(M, token, left)
      done = done + left
      for p = 1, ack.all do
        if not string.find(done0, ',' .. p .. ',', 1, true) then fresh[p] = true end
      end
    else
      stale = stale + ack.all -- recovered whole: every one of its jobs went back and runs again
    end
  else
    recordsOf(token)
    fresh = settlePositions(M, token, ack.p)
    for _, p in ipairs(ack.p) do
      if fresh[p] then done = done + 1 else stale = stale + 1 end
    end
  end
  for _, x in ipairs(ack.x or {}) do
    if fresh[x.p] and not completed(x, token) then done = done - 1 end
  end
  emitCompleted(token, fresh, ack.x)
end
completeIds(M, completedIds, tonumber(A.retain) or 0)
countStat(M, 'c', done)

-- Retries: back to the delayed set, the attempt counted (unless deferred: throttled, not failed).
for _, r in ipairs(A.retries or {}) do
  local rec = take(r.t, r.p)
  if rec then
    local t = r.k and cancelledEntry(r.id)
    if t then
      finishCancelled(r.id, t, rec)
    else
      if not r.defer then rec = setAttempts(rec, r.made) end
      local due = now + math.max(0, tonumber(r.delay) or 0)
      local score = addDelayed(withDue(rec, due), due)
      if r.k then
        local previous = trackGet(r.id) or {}
        trackSet(r.id, { s = 'delayed', at = fmtScore(score), k = r.k, e = r.err, a = r.made, m = previous.m })
      end
      if not r.defer then
        emit(M, 'failed', r.id or recordId(rec) or '', { 'attempt', fmt(r.made), 'error', r.err or '{}' })
        countStat(M, 'f', 1)
      end
    end
  end
end

-- Dead letters: payload, attempts and error kept. A record without an id (damaged, or not written by
-- this library) is kept under a made-up one.
for _, d in ipairs(A.deads or {}) do
  local rec = take(d.t, d.p)
  if rec then
    local id = recordId(rec) or ('malformed-' .. d.t .. '-' .. d.p)
    if tonumber(d.made) >= 0 then rec = setAttempts(rec, d.made) end
    countStat(M, 'f', 1)
    bury(M, rec, id, d.err)
  end
end

-- Cancelled deliveries: the job is gone, not retried.
for _, c in ipairs(A.cancels or {}) do
  local rec = take(c.t, c.p)
  if rec then
    local t = trackGet(c.id) or {}
    finishCancelled(c.id, t, rec)
    if isCallerId(c.id) then completeIds(M, { c.id }, tonumber(A.retain) or 0) end
  end
end

---------------------------------------------------------------------------------------------------
-- Looking after the queue.

-- Members of `index` (a sorted set by expiry time) that have expired leave it and `dataKey` (removed with
-- `removeCmd`), 1000 at a time: completed jobs' caller-chosen ids (free again), finished tracked entries.
local function dropExpired(index, dataKey, removeCmd)
  local gone = redis.call('ZRANGE', index, '-inf', now, 'BYSCORE', 'LIMIT', 0, 1000)
  if #gone > 0 then
    bulk(removeCmd, dataKey, gone)
    bulk('ZREM', index, gone)
  end
end

local function exhausted(made, max)
  return cjson.encode({
    name = 'LeaseLostError',
    message = 'attempts exhausted (' .. made .. '/' .. max .. '): the last delivery was lost with its worker or lease',
    attemptsMade = made,
  })
end

-- An expired claim's unsettled jobs go to `recovered`, each to be claimed alone. Only a claim that held
-- one job counts the lost delivery as an attempt (and dead-letters the job when that was its last): the
-- jobs that only shared a claim with a job that stalled or killed its worker lose nothing.
local function recoverClaim(token)
  local left = tonumber(redis.call('HGET', K.claims, token .. '#n')) or 0
  local records = unsettledRecords(token)
  local size = #(claimRecords(token) or {})
  local alone = size == 1 or redis.call('HGET', K.claims, token .. '#i') == '1'
  local tracked = 0
  for p = 1, size do
    local rec = records[p]
    if rec then
      local id = recordId(rec)
      local buried = false
      if alone then
        rec = bumpAttempts(rec)
        local made = recordAttempts(rec)
        local max = recordMaxAttempts(rec, tonumber(A.attempts) or 3)
        if id and made and made >= max then
          bury(M, rec, id, exhausted(made, max))
          buried = true
        end
      end
      if not buried and not endIfCancelled(M, rec) then
        redis.call('RPUSH', K.recovered, rec)
        tracked = tracked + trackReady(rec)
      end
    end
  end
  if tracked > 0 then redis.call('HINCRBY', K.meta, 'tracked', tracked) end
  dropClaim(M, token, left)
  recoveredTokens[#recoveredTokens + 1] = token
end

local function recoverExpired()
  for _, key in ipairs({ K.deadlines, K.lease }) do
    local expired = redis.call('ZRANGE', key, '-inf', now, 'BYSCORE', 'LIMIT', 0, 20)
    for _, token in ipairs(expired) do recoverClaim(token) end
  end
end

-- Claims whose deadline disappeared (the key deleted or evicted) get one back: a live worker renews it,
-- a dead worker's expires and is recovered. Runs only while '#claims' says some claim has no deadline.
local function rescueOrphans()
  local count = tonumber(redis.call('HGET', K.claims, '#claims')) or 0
  if count <= redis.call('ZCARD', K.deadlines) then return false end
  local cursor = redis.call('HGET', K.meta, 'sweep') or '0'
  local scan = redis.call('HSCAN', K.claims, cursor, 'COUNT', 20)
  local found = tonumber(redis.call('HGET', K.meta, 'sweep-found')) or 0
  for i = 1, #scan[2], 2 do
    local field = scan[2][i]
    if not string.find(field, '#', 1, true) and isV2Token(field) and not redis.call('ZSCORE', K.deadlines, field) then
      redis.call('ZADD', K.deadlines, now + leaseMs, field)
      found = found + 1
    end
  end
  if scan[1] == '0' then
    -- A whole pass: if it found no orphan, the counter drifted; make it true again.
    if found == 0 then redis.call('HSET', K.claims, '#claims', redis.call('ZCARD', K.deadlines)) end
    redis.call('HDEL', K.meta, 'sweep', 'sweep-found')
  else
    redis.call('HSET', K.meta, 'sweep', scan[1], 'sweep-found', found)
  end
  return true
end

-- Due delayed jobs join the ready structures in due order.
local function promoteDue()
  local due = redis.call('ZRANGE', K.delayed, '-inf', '(' .. fmt(now + 1), 'BYSCORE', 'LIMIT', 0, 1000)
  if #due == 0 then return end
  pushReadyMany(M, due)
  bulk('ZREM', K.delayed, due)
  if redis.call('HLEN', K.debounce) > 0 then
    -- A debounced job that is due ends its burst: the next enqueue with its key starts a new one.
    for _, rec in ipairs(due) do
      local ext = string.find(rec, GS, 1, true) and recordExt(rec)
      if ext and type(ext.db) == 'string' then
        local json = redis.call('HGET', K.debounce, ext.db)
        if json and cjson.decode(json).id == recordId(rec) then redis.call('HDEL', K.debounce, ext.db) end
      end
    end
  end
  if redis.call('HGET', K.meta, 'tracks') then
    local tracked = 0
    for _, rec in ipairs(due) do tracked = tracked + trackReady(rec) end
    if tracked > 0 then redis.call('HINCRBY', K.meta, 'tracked', tracked) end
  end
end

-- Rate windows of groups that started nothing for a whole window go (1M groups must not leave 1M windows).
local function dropGroupWindows()
  local duration = M.groupRate and M.groupRate.duration or 0
  local stale = redis.call('ZRANGE', K.groupWindows, '-inf', now - duration, 'BYSCORE', 'LIMIT', 0, 100)
  if #stale == 0 then return end
  local fields = {}
  for i, group in ipairs(stale) do fields[i] = 'r:' .. group end
  bulk('HDEL', K.groupState, fields)
  bulk('ZREM', K.groupWindows, stale)
end

-- Groups whose rate limit held them back may start again.
local function unparkGroups()
  local due = redis.call('ZRANGE', K.groupsParked, '-inf', now, 'BYSCORE', 'LIMIT', 0, 100)
  for _, group in ipairs(due) do
    redis.call('ZREM', K.groupsParked, group)
    if groupEligible(M, group) then redis.call('RPUSH', K.groups, group) end
  end
end

dropExpired(K.retainedIds, K.ids, 'SREM')
dropExpired(K.trackExpiry, K.track, 'HDEL')
recoverExpired()
local rescuing = rescueOrphans()
promoteDue()
unparkGroups()
dropGroupWindows()

---------------------------------------------------------------------------------------------------
-- Claiming: `recovered` first (one job, alone), then levels 1-5, the default level (the `ready` list
-- taking turns with the groups' round robin), then levels 6-10.

local out = {}          -- records of the new claim
local outGroups = {}    -- group of each position ('' ungrouped)
local grouped = false
local bytes = 0
local maxBytes = tonumber(A.maxBytes) or 2097152

-- Pops up to n records off a list within the byte budget (the claim's first record always fits).
local function takeList(key, n)
  if n <= 0 then return 0 end
  local popped = redis.call('LPOP', key, n)
  if not popped then return 0 end
  for i, rec in ipairs(popped) do
    if #out > 0 and bytes + #rec > maxBytes then
      local back = {}
      for j = #popped, i, -1 do back[#back + 1] = popped[j] end
      bulk('LPUSH', key, back)
      return i - 1, true
    end
    out[#out + 1] = rec
    outGroups[#out] = ''
    bytes = bytes + #rec
  end
  return #popped
end

-- Starts left in a group's rate window (trims it); nil without a group rate limit.
local function groupAllowance(group)
  if not M.groupRate then return nil end
  local from = now - M.groupRate.duration
  local starts = {}
  for t in string.gmatch(redis.call('HGET', K.groupState, 'r:' .. group) or '', '%d+') do
    if tonumber(t) > from then starts[#starts + 1] = t end
  end
  return M.groupRate.max - #starts, starts
end

-- Records a start of the group in its rate window; true when that was the window's last allowed start
-- (the group is then held back until the oldest start leaves the window).
local function groupStarted(group)
  local allowance, starts = groupAllowance(group)
  if not allowance then return false end
  starts[#starts + 1] = fmt(now)
  redis.call('HSET', K.groupState, 'r:' .. group, table.concat(starts, ','))
  redis.call('ZADD', K.groupWindows, now, group)
  if allowance > 1 then return false end
  redis.call('ZADD', K.groupsParked, tonumber(starts[1]) + M.groupRate.duration + 1, group)
  return true
end

-- One turn of the round robin: the next group gives its oldest job. Returns 'taken', 'skipped' (the
-- group had nothing after all and left the round robin), 'none' (no group waits) or 'full' (byte budget).
local function takeGroupTurn()
  local group = redis.call('LPOP', K.groups)
  if not group then return 'none' end
  local member = redis.call('ZRANGE', K.groupJobs, '[' .. group .. '\0', '(' .. group .. '\1', 'BYLEX', 'LIMIT', 0, 1)[1]
  if not member then
    redis.call('HDEL', K.groupState, 'w:' .. group)
    return 'skipped'
  end
  if M.groupMax and (tonumber(redis.call('HGET', K.groupState, 'a:' .. group)) or 0) >= M.groupMax then
    -- At its limit (a recovered job of the group took the slot): out of the round robin until a slot frees.
    return 'skipped'
  end
  local from = #group + 2
  if string.sub(member, from, from) == '!' then from = from + 1 end
  local rec = string.sub(member, from + 16)
  if #out > 0 and bytes + #rec > maxBytes then
    redis.call('LPUSH', K.groups, group)
    return 'full'
  end
  redis.call('ZREM', K.groupJobs, member)
  local waiting = redis.call('HINCRBY', K.groupState, 'w:' .. group, -1)
  if waiting <= 0 then redis.call('HDEL', K.groupState, 'w:' .. group) end
  local active = redis.call('HINCRBY', K.groupState, 'a:' .. group, 1)
  out[#out + 1] = rec
  outGroups[#out] = group
  grouped = true
  bytes = bytes + #rec
  if groupStarted(group) then return 'taken' end
  if waiting > 0 and (not M.groupMax or active < M.groupMax) then redis.call('RPUSH', K.groups, group) end
  return 'taken'
end

-- The default level: `ready` alone when no group waits; else a job from `ready` and a group's turn,
-- by turns, so ungrouped jobs share the level with the groups like one more group.
local function takeDefault(n)
  if redis.call('LLEN', K.groups) == 0 then return takeList(K.ready, n) end
  local goal = #out + n
  local readyLeft, groupsLeft = true, true
  -- Whose turn it is carries over from claim to claim: with one job per claim they still alternate.
  local groupsNext = redis.call('HGET', K.groupState, '#turn') == 'g'
  while #out < goal and (readyLeft or groupsLeft) do
    if groupsNext and groupsLeft then
      local turn = takeGroupTurn()
      if turn == 'full' then break end
      if turn == 'none' then groupsLeft = false end
      if turn == 'taken' or turn == 'none' then groupsNext = false end
    elseif readyLeft then
      local got, full = takeList(K.ready, 1)
      if full then break end
      readyLeft = got > 0
      groupsNext = true
    else
      groupsNext = true
    end
  end
  redis.call('HSET', K.groupState, '#turn', groupsNext and 'g' or 'r')
end

-- A recovered job's group may start it now (its concurrency, its rate window, not parked).
local function groupAllows(group)
  if M.groupMax and (tonumber(redis.call('HGET', K.groupState, 'a:' .. group)) or 0) >= M.groupMax then return false end
  if redis.call('ZSCORE', K.groupsParked, group) then return false end
  local allowance = groupAllowance(group)
  return allowance == nil or allowance > 0
end

-- The first of the first few recovered jobs whose group (if any) allows it, alone in its claim.
local function takeRecovered()
  local candidates = redis.call('LRANGE', K.recovered, 0, 9)
  for _, rec in ipairs(candidates) do
    local ext = string.find(rec, GS, 1, true) and recordExt(rec)
    local group = ext and type(ext.g) == 'string' and ext.g or ''
    if group == '' or groupAllows(group) then
      redis.call('LREM', K.recovered, 1, rec)
      if group ~= '' then
        redis.call('HINCRBY', K.groupState, 'a:' .. group, 1)
        groupStarted(group)
        grouped = true
      end
      out[1] = rec
      outGroups[1] = group
      return true
    end
  end
  return false
end

-- Recovery and promotion above may have made tracked jobs ready: count them again.
M.tracked = tonumber(redis.call('HGET', K.meta, 'tracked')) or 0
local alone = false
local want = grantable(M, tonumber(A.want) or 0)
if want > 0 then
  if takeRecovered() then
    alone = true
  else
    local levels = redis.call('ZRANGE', K.levels, 0, -1)
    local defaultDone = false
    for _, l in ipairs(levels) do
      local level = tonumber(l)
      if level > DEFAULT_LEVEL and not defaultDone then
        takeDefault(want - #out)
        defaultDone = true
      end
      if #out >= want then break end
      local _, full = takeList(LEVEL_KEYS[level], want - #out)
      if redis.call('LLEN', LEVEL_KEYS[level]) == 0 then redis.call('ZREM', K.levels, l) end
      if full then break end
    end
    if not defaultDone and #out < want then takeDefault(want - #out) end
  end
end

-- Tracked jobs cancelled while ready are dropped here, never started.
if #out > 0 and redis.call('EXISTS', K.cancelled) == 1 then
  local ids = {}
  for i, rec in ipairs(out) do ids[i] = recordId(rec) or '' end
  local marks = bulkRead('HMGET', K.cancelled, ids)
  local consumed = {}
  local kept, keptGroups = {}, {}
  for i, rec in ipairs(out) do
    -- The mark holds the cancelled record itself: a job enqueued again under its id is another record.
    if marks[i] == rec and not consumed[ids[i]] then
      consumed[ids[i]] = true
      redis.call('HDEL', K.cancelled, ids[i])
      redis.call('HINCRBY', K.meta, 'tracked', -1)
      groupSlotFreed(M, outGroups[i])
    else
      kept[#kept + 1] = rec
      keptGroups[#kept] = outGroups[i]
    end
  end
  out, outGroups = kept, keptGroups
end

local token, blob = 0, ''
if #out > 0 then
  -- A token is a counter plus the microseconds of the clock: after a Redis crash loses the last second
  -- of writes, the counter may repeat a value, but not together with the same microsecond.
  token = redis.call('INCR', K.claimCounter) .. '-' .. micros
  blob = table.concat(out, RS)
  redis.call('HSET', K.claims, token, blob, token .. '#n', #out)
  if alone then redis.call('HSET', K.claims, token .. '#i', '1') end
  if grouped then redis.call('HSET', K.claims, token .. '#g', table.concat(outGroups, RS)) end
  redis.call('HINCRBY', K.claims, '#active', #out)
  redis.call('HINCRBY', K.claims, '#claims', 1)
  redis.call('ZADD', K.deadlines, now + leaseMs, token)
  if M.rate then
    local starts = {}
    for i = 1, #out do starts[i] = now end
    bulk('RPUSH', K.rate, starts)
  end
  if M.tracked > 0 then
    local moved = 0
    for p, rec in ipairs(out) do
      local retention = trackedRetention(rec)
      local id = retention and recordId(rec)
      if id then
        trackSet(id, { s = 'active', t = token, p = p, k = retention, a = recordAttempts(rec),
          m = recordMaxAttempts(rec, tonumber(A.attempts) or 3) })
        moved = moved + 1
      end
    end
    if moved > 0 then redis.call('HINCRBY', K.meta, 'tracked', -moved) end
  end
end

---------------------------------------------------------------------------------------------------
-- What the other workers should know, and when the caller should look again.

if claimable(M) then announce() else redis.call('DEL', K.wake) end
if eventsAdded > 0 then redis.call(PUBLISH, NOTIFY, 'e') end

local nextAt = nil
local dueAt = firstScore(K.delayed)
if dueAt then nextAt = math.floor(dueAt) end
nextAt = earliest(nextAt, firstScore(K.deadlines))
nextAt = earliest(nextAt, firstScore(K.lease))
nextAt = earliest(nextAt, firstScore(K.groupsParked))
-- Freeing retained ids and expiring tracked entries can wait a little: batch them.
local retainedAt = firstScore(K.retainedIds)
if retainedAt then nextAt = earliest(nextAt, retainedAt + 1000) end
local expiryAt = firstScore(K.trackExpiry)
if expiryAt then nextAt = earliest(nextAt, expiryAt + 5000) end
if M.rate and not M.paused and anyReady() and rateAllowance(M) == 0 then nextAt = earliest(nextAt, rateFreeAt(M)) end
if rescuing then nextAt = earliest(nextAt, now + 50) end

return { token, blob, nextAt and math.max(0, nextAt - now) or -1, stale, table.concat(recoveredTokens, RS), now }
