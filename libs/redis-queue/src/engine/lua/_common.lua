-- Shared helpers. scripts.ts builds every script as: its flags line, the table K of the queue's keys
-- (K.ready, K.delayed, ...: engine/keys.ts is the one list), this file, _record.lua, _queue.lua, then the
-- script itself; so each script stays one atomic unit. docs/data-model.md describes the layout.
-- Every script takes one cmsgpack map of arguments; `pub` names the command that publishes on the
-- queue's channel: PUBLISH, or SPUBLISH on Cluster (sharded Pub/Sub; the channel carries the keys' tag).
local A = cmsgpack.unpack(ARGV[1])
local PUBLISH = A.pub == 'SPUBLISH' and 'SPUBLISH' or 'PUBLISH'
local SEP = '\031' -- between the fields of a record
local RS = '\030'  -- between records (or ids) packed into one string
local GS = '\029'  -- between a record's trace id and its version-2 extension
local CHUNK = 4000 -- unpack() is bounded by Lua's C stack; keep variadic calls under it (even, for pairs)
local LEVELS = 10  -- priority levels 1..10; no priority sits between 5 and 6
local LEVEL_KEYS = { K.ready1, K.ready2, K.ready3, K.ready4, K.ready5, K.ready6, K.ready7, K.ready8, K.ready9, K.ready10 }

-- Redis's clock in ms, and its microseconds field (to make tokens unique even if a counter rolls back).
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), t[2]
end

-- An integer as a string without exponent (Lua's tostring would give 1.7e+12).
local function fmt(n)
  return string.format('%.0f', n)
end

-- A score with every bit of its fraction: Lua's own conversion keeps 14 digits, which drops it.
local function fmtScore(n)
  return string.format('%.17g', n)
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

-- A variadic read over a list in chunks, results concatenated: cmd key list... (HMGET, ZMSCORE).
local function bulkRead(cmd, key, list)
  local out = {}
  local i = 1
  while i <= #list do
    local j = math.min(i + CHUNK - 1, #list)
    local part = redis.call(cmd, key, unpack(list, i, j))
    for k = 1, j - i + 1 do out[#out + 1] = part[k] end
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

-- The parts of a string joined by sep, in order.
local function split(blob, sep)
  local parts = {}
  local from = 1
  while true do
    local stop = string.find(blob, sep, from, true)
    if not stop then
      parts[#parts + 1] = string.sub(blob, from)
      return parts
    end
    parts[#parts + 1] = string.sub(blob, from, stop - 1)
    from = stop + 1
  end
end

-- The first element of a sorted set's range with its score, or nil.
local function firstScore(key)
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] then return tonumber(first[2]), first[1] end
  return nil
end

-- The earlier of two optional times.
local function earliest(a, b)
  if a == nil then return b end
  if b == nil then return a end
  return math.min(a, b)
end
