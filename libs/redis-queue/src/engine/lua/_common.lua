-- Shared helpers. scripts.ts prepends this file to every script, so each script stays one atomic unit.
--
-- A job record is one string: id SEP attemptsMade SEP enqueuedAt SEP options SEP traceId SEP payload.
-- The whole record lives in the ready list (or as the member of the delayed set), which keeps a waiting
-- job to one list entry.
--
-- A claim takes up to N records off the ready list at once and keeps them, joined by RS, as one string
-- in the claims hash under its token (a counter plus the clock's microseconds: unique per claim). The
-- claim holds one lease: its token in the lease set, scored by the deadline (ms, Redis TIME). Per token
-- the hash also keeps how many of the claim's jobs are unsettled (token#n) and which positions were
-- settled one by one (token#d, ",3,7,"); '#active' counts unsettled jobs over all claims. A claim whose
-- jobs are all settled, or whose lease expired (its unsettled jobs go back to ready), disappears whole.
-- A worker names a delivery "token:position". That is the fence: a delivery can settle its job only while
-- its claim exists and its position is unsettled, so a worker whose claim was recovered settles nothing.
local SEP = '\031'
local RS = '\030'
local CHUNK = 4000 -- unpack() is bounded by Lua's C stack; keep variadic calls under it (even, for pairs)

-- Redis's clock in ms, and its microseconds field (to make tokens unique even if a counter rolls back).
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), t[2]
end

local function fmt(n)
  return string.format('%.0f', n)
end

-- Runs a variadic command over a list in chunks: cmd key [flag] list...
local function bulk(cmd, key, list, flag)
  local n = #list
  local i = 1
  while i <= n do
    local j = math.min(i + CHUNK - 1, n)
    if flag then
      redis.call(cmd, key, flag, unpack(list, i, j))
    else
      redis.call(cmd, key, unpack(list, i, j))
    end
    i = j + 1
  end
end

-- ZMSCORE in chunks; a missing member comes back as false.
local function zmscore(key, members)
  local out = {}
  local i = 1
  while i <= #members do
    local j = math.min(i + CHUNK - 1, #members)
    local part = redis.call('ZMSCORE', key, unpack(members, i, j))
    for k = 1, j - i + 1 do
      out[#out + 1] = part[k]
    end
    i = j + 1
  end
  return out
end

-- "token:position" -> token, position
local function splitDelivery(delivery)
  local p = string.find(delivery, ':', 1, true)
  if not p then return delivery, 0 end
  return string.sub(delivery, 1, p - 1), tonumber(string.sub(delivery, p + 1)) or 0
end

-- The records of a claim, in claim order (a record never contains RS: see codec.ts).
local function splitRecords(blob)
  local records = {}
  local from = 1
  while true do
    local stop = string.find(blob, RS, from, true)
    if not stop then
      records[#records + 1] = string.sub(blob, from)
      return records
    end
    records[#records + 1] = string.sub(blob, from, stop - 1)
    from = stop + 1
  end
end

-- The job id of a record (everything before the first SEP), or nil when it has none.
local function recordId(rec)
  local p = string.find(rec, SEP, 1, true)
  if p and p > 1 then return string.sub(rec, 1, p - 1) end
  return nil
end

-- The record with its attemptsMade replaced by n, or by n(current) when n is a function.
local function setAttempts(rec, n)
  local p1 = string.find(rec, SEP, 1, true)
  if not p1 then return rec end
  local p2 = string.find(rec, SEP, p1 + 1, true)
  if not p2 then return rec end
  if type(n) == 'function' then
    local current = tonumber(string.sub(rec, p1 + 1, p2 - 1))
    if not current then return rec end
    n = n(current)
  end
  return string.sub(rec, 1, p1) .. fmt(n) .. string.sub(rec, p2)
end

-- The record with attemptsMade + 1 (a finished or lost delivery counts as an attempt).
local function bumpAttempts(rec)
  return setAttempts(rec, function(n) return n + 1 end)
end

-- Drops a claim whole: its records, counters and lease.
local function dropClaim(claims, lease, token, unsettled)
  redis.call('HDEL', claims, token, token .. '#n', token .. '#d')
  if unsettled > 0 then redis.call('HINCRBY', claims, '#active', -unsettled) end
  redis.call('ZREM', lease, token)
end

-- Settles positions of a claim; returns a table position -> true of those that were unsettled (the
-- others are stale: already settled, or the claim is gone).
local function settlePositions(claims, lease, token, positions)
  local fresh = {}
  local left = tonumber(redis.call('HGET', claims, token .. '#n'))
  if not left then return fresh end
  local done = redis.call('HGET', claims, token .. '#d') or ','
  local count = 0
  for _, p in ipairs(positions) do
    local mark = ',' .. p .. ','
    if p >= 1 and not fresh[p] and not string.find(done, mark, 1, true) then
      fresh[p] = true
      count = count + 1
      done = done .. p .. ','
    end
  end
  if count == 0 then return fresh end
  if count >= left then
    dropClaim(claims, lease, token, left)
  else
    redis.call('HSET', claims, token .. '#n', left - count, token .. '#d', done)
    redis.call('HINCRBY', claims, '#active', -count)
  end
  return fresh
end

-- Hands back the unsettled jobs of an expired claim: ready again, attempt counted (the delivery was lost).
local function recoverClaim(ready, claims, lease, token)
  local blob = redis.call('HGET', claims, token)
  local left = tonumber(redis.call('HGET', claims, token .. '#n')) or 0
  if blob then
    local done = redis.call('HGET', claims, token .. '#d') or ','
    for p, rec in ipairs(splitRecords(blob)) do
      if not string.find(done, ',' .. p .. ',', 1, true) then
        redis.call('LPUSH', ready, bumpAttempts(rec))
      end
    end
  end
  dropClaim(claims, lease, token, left)
end

-- Caller-chosen ids of completed jobs stay taken for the retention window (or are freed at once).
local function completeIds(ids, retained, completed, now, retainMs)
  if #completed == 0 then return end
  if retainMs > 0 then
    local scored = {}
    for i = 1, #completed do
      scored[#scored + 1] = now + retainMs
      scored[#scored + 1] = completed[i]
    end
    bulk('ZADD', retained, scored)
  else
    bulk('SREM', ids, completed)
  end
end

local function deadEntry(id, now, errJson, rec)
  return '{"id":' .. cjson.encode(id) .. ',"failedAt":' .. fmt(now) .. ',"error":' .. errJson ..
    ',"record":' .. cjson.encode(rec) .. '}'
end

-- Idle workers block on the wake list (BLMOVE wake wake, which leaves it in place): one element means
-- "look again".
local function signal(wakeKey)
  if redis.call('EXISTS', wakeKey) == 0 then
    redis.call('RPUSH', wakeKey, '1')
  end
end
