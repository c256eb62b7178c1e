-- The job record, as engine/codec.ts defines it (one definition per language; keep them in step):
--   id SEP attemptsMade SEP enqueuedAt SEP options SEP traceId [GS extension] SEP payload
-- options is '' or JSON with attempts/backoff; the extension is JSON ({"v":2,"p":..,"g":..,"k":..}).
-- Every function here leaves a record it cannot read as it is: the worker dead-letters those with the reason.

-- The job id (everything before the first SEP), or nil when there is none.
local function recordId(rec)
  local p = string.find(rec, SEP, 1, true)
  if p and p > 1 then return string.sub(rec, 1, p - 1) end
  return nil
end

-- A generated id is all digits; only caller-chosen ids are in `ids`.
local function isCallerId(id)
  return string.find(id, '%D') ~= nil
end

-- Positions of the first five separators (nil from the first missing one).
local function recordSeps(rec)
  local p1 = string.find(rec, SEP, 1, true)
  if not p1 then return nil end
  local p2 = string.find(rec, SEP, p1 + 1, true)
  if not p2 then return p1 end
  local p3 = string.find(rec, SEP, p2 + 1, true)
  if not p3 then return p1, p2 end
  local p4 = string.find(rec, SEP, p3 + 1, true)
  if not p4 then return p1, p2, p3 end
  return p1, p2, p3, p4, string.find(rec, SEP, p4 + 1, true)
end

-- The record's attemptsMade, or nil when unreadable.
local function recordAttempts(rec)
  local p1, p2 = recordSeps(rec)
  if not p2 then return nil end
  return tonumber(string.sub(rec, p1 + 1, p2 - 1))
end

-- The record with attemptsMade replaced by n.
local function setAttempts(rec, n)
  local p1, p2 = recordSeps(rec)
  if not p2 then return rec end
  return string.sub(rec, 1, p1) .. fmt(n) .. string.sub(rec, p2)
end

-- The record with attemptsMade + 1 (a delivery lost while the job ran alone counts as an attempt).
local function bumpAttempts(rec)
  local n = recordAttempts(rec)
  if not n then return rec end
  return setAttempts(rec, n + 1)
end

-- The decoded extension table, or nil when the record has none (a plain or 0.1 record).
local function recordExt(rec)
  local _, _, _, p4, p5 = recordSeps(rec)
  if not p5 then return nil end
  local g = string.find(rec, GS, p4 + 1, true)
  if not g or g > p5 then return nil end
  local ok, ext = pcall(cjson.decode, string.sub(rec, g + 1, p5 - 1))
  if ok and type(ext) == 'table' then return ext end
  return nil
end

-- The attempts a job may use: its own option, else the caller's default.
local function recordMaxAttempts(rec, default)
  local _, _, p3, p4 = recordSeps(rec)
  if p4 and p4 > p3 + 1 then
    local ok, options = pcall(cjson.decode, string.sub(rec, p3 + 1, p4 - 1))
    if ok and type(options) == 'table' and tonumber(options.attempts) then return tonumber(options.attempts) end
  end
  return default
end

-- The record's payload JSON (for events and the inspector's tracked entries).
local function recordPayload(rec)
  local _, _, _, _, p5 = recordSeps(rec)
  if not p5 then return nil end
  return string.sub(rec, p5 + 1)
end

-- The record with its due time (ms) in the extension, for the wait-time metrics of workers; a plain
-- record gets an extension with only that, after its trace id written out (the job id when it had none),
-- so that a 0.1 worker, which reads the whole field as the trace id, still logs one that starts with it.
local function withDue(rec, due)
  local p1, _, _, p4, p5 = recordSeps(rec)
  if not p5 then return rec end
  local g = string.find(rec, GS, p4 + 1, true)
  if g and g < p5 then
    local ok, ext = pcall(cjson.decode, string.sub(rec, g + 1, p5 - 1))
    if not ok or type(ext) ~= 'table' then return rec end
    ext.d = due
    return string.sub(rec, 1, g) .. cjson.encode(ext) .. string.sub(rec, p5)
  end
  local trace = string.sub(rec, p4 + 1, p5 - 1)
  if trace == '' then trace = string.sub(rec, 1, p1 - 1) end
  return string.sub(rec, 1, p4) .. trace .. GS .. '{"v":2,"d":' .. fmt(due) .. '}' .. string.sub(rec, p5)
end
