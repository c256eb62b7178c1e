-- Shared helpers. scripts.ts prepends this file to every script, so each script stays one atomic unit.
--
-- A job record is one string: id SEP attemptsMade SEP enqueuedAt SEP options SEP traceId SEP payload.
-- The whole record lives in the ready list (or as the member of the delayed set), which keeps a waiting
-- job to one list entry. While a job is claimed, its record sits in the active hash under its id, and
-- its lease is the member "token:id" of the lease set, scored by the deadline (ms, Redis TIME). The
-- token is unique per claim, so a member names one delivery: that is the fence.
local SEP = '\031'
local CHUNK = 4000 -- unpack() is bounded by Lua's C stack; keep variadic calls under it (even, for pairs)

local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
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

local function idOfMember(member)
  local p = string.find(member, ':', 1, true)
  return string.sub(member, (p or 0) + 1)
end

-- Generated ids are decimal; caller-chosen ids never are, and only those are kept in the ids set.
local function isCustomId(id)
  return string.find(id, '^%d+$') == nil
end

-- The record with attemptsMade + 1 (a finished or lost delivery counts as an attempt).
local function bumpAttempts(rec)
  local p1 = string.find(rec, SEP, 1, true)
  if not p1 then return rec end
  local p2 = string.find(rec, SEP, p1 + 1, true)
  if not p2 then return rec end
  local n = tonumber(string.sub(rec, p1 + 1, p2 - 1))
  if not n then return rec end
  return string.sub(rec, 1, p1) .. fmt(n + 1) .. string.sub(rec, p2)
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
