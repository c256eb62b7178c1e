-- Shared helpers. scripts.ts prepends this file to every script, so each script stays one atomic unit.
--
-- A job record is one string: id SEP attemptsMade SEP enqueuedAt SEP options SEP traceId SEP payload.
-- The whole record lives in the ready list (or as the member of the delayed set), which keeps a waiting
-- job to one list entry.
--
-- Each claim gets a token, unique per claim (a counter). The claimed jobs sit in the active hash as
-- id -> token SEP record, and the claim holds one lease: the token in the lease set, scored by its
-- deadline (ms, Redis TIME). The batches hash keeps, per token, the ids it claimed (field token) and
-- how many of them are still unsettled (field token#n); the batch and its lease go when that reaches 0.
-- A worker names a delivery as "token:id": it may settle the job only while the active entry still
-- carries its token. That is the fence: a recovered or re-claimed job carries another token, or none.
local SEP = '\031'
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

-- HMGET in chunks; a missing field comes back as false.
local function hmget(key, fields)
  local out = {}
  local i = 1
  while i <= #fields do
    local j = math.min(i + CHUNK - 1, #fields)
    local part = redis.call('HMGET', key, unpack(fields, i, j))
    for k = 1, j - i + 1 do
      out[#out + 1] = part[k]
    end
    i = j + 1
  end
  return out
end

-- "token:id" -> token, id
local function splitMember(member)
  local p = string.find(member, ':', 1, true)
  if not p then return '', member end
  return string.sub(member, 1, p - 1), string.sub(member, p + 1)
end

-- The record of an active entry if it belongs to the claim `token`, else nil.
local function owned(value, token)
  local prefix = token .. SEP
  if value and string.sub(value, 1, #prefix) == prefix then
    return string.sub(value, #prefix + 1)
  end
  return nil
end

-- Counts settled jobs off their batches; a batch with nothing left unsettled drops its lease.
-- `settled` maps token -> number of its jobs just settled.
local function closeBatches(batches, lease, settled)
  for token, n in pairs(settled) do
    if redis.call('HINCRBY', batches, token .. '#n', -n) <= 0 then
      redis.call('HDEL', batches, token, token .. '#n')
      redis.call('ZREM', lease, token)
    end
  end
end



-- Generated ids are decimal; caller-chosen ids never are, and only those are kept in the ids set.
local function isCustomId(id)
  return string.find(id, '^%d+$') == nil
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

-- Hands back the jobs of an expired claim: ready again, attempt counted (the delivery was lost).
local function recoverBatch(ready, active, batches, lease, token)
  local list = redis.call('HGET', batches, token)
  if list then
    local ids = {}
    for id in string.gmatch(list, '[^' .. SEP .. ']+') do ids[#ids + 1] = id end
    local values = hmget(active, ids)
    for i = 1, #ids do
      local rec = owned(values[i], token)
      if rec then
        redis.call('HDEL', active, ids[i])
        redis.call('LPUSH', ready, bumpAttempts(rec))
      end
    end
  end
  redis.call('HDEL', batches, token, token .. '#n')
  redis.call('ZREM', lease, token)
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
