-- Stores jobs: ready ones at the tail of the ready list, delayed ones in the delayed set scored by due time.
-- KEYS: 1 ready, 2 delayed, 3 ids (caller-chosen ids taken), 4 seq (id counter), 5 wake,
--       6 retained ids (ids of completed jobs, scored by when they are free again)
-- ARGV: 1 job count N, 2 how many of them need a generated id,
--       3 the N tails (options SEP traceId SEP payload) joined by RS,
--       4 the N caller ids ('' = generate) joined by RS, or '' when every id is generated,
--       5 the N delays in ms (<= 0: ready now) joined by ',', or '' when none is delayed
--       (three packed arguments instead of 3N: far less protocol and argument work on both sides)
-- Returns: { first generated id (0 if none), 0-based indexes of caller ids that already existed... }
-- Invariant: a caller-chosen id is stored at most once while it is in ready, delayed, active or dead,
-- and for the retention window after its job completed.
local n = tonumber(ARGV[1])
local generate = tonumber(ARGV[2])
local tails, callerIds, delays = ARGV[3], ARGV[4], ARGV[5]
local now = nowMs()
local seq = 0
if generate > 0 then
  seq = redis.call('INCRBY', KEYS[4], generate) - generate
end
local result = { seq + 1 }
if generate == 0 then result[1] = 0 end

-- The next field of a packed argument: returns it and where the following one starts.
local function field(packed, from, sep)
  local stop = string.find(packed, sep, from, true)
  if stop then return string.sub(packed, from, stop - 1), stop + 1 end
  return string.sub(packed, from), #packed + 2
end

local ready, delayed = {}, {}
local minDue = nil
local prefix = SEP .. '0' .. SEP .. fmt(now) .. SEP
local tailAt, idAt, delayAt = 1, 1, 1
for i = 0, n - 1 do
  local tail, id, delay
  tail, tailAt = field(tails, tailAt, RS)
  id = ''
  if callerIds ~= '' then id, idAt = field(callerIds, idAt, RS) end
  delay = 0
  if delays ~= '' then
    local text
    text, delayAt = field(delays, delayAt, ',')
    delay = tonumber(text)
  end
  if id == '' then
    seq = seq + 1
    id = fmt(seq)
  elseif redis.call('SADD', KEYS[3], id) == 0 then
    local freeAt = redis.call('ZSCORE', KEYS[6], id)
    if freeAt and tonumber(freeAt) <= now then
      redis.call('ZREM', KEYS[6], id) -- its job completed and the retention window has passed
    else
      result[#result + 1] = i
      id = nil
    end
  end
  if id then
    local record = id .. prefix .. tail
    if delay > 0 then
      local due = now + delay
      delayed[#delayed + 1] = due
      delayed[#delayed + 1] = record
      if minDue == nil or due < minDue then minDue = due end
    else
      ready[#ready + 1] = record
    end
  end
end

local wake = #ready > 0
if minDue ~= nil then
  -- Idle workers sleep until the earliest due time they know of; wake them when that moves earlier.
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if first[2] == nil or minDue < tonumber(first[2]) then wake = true end
  bulk('ZADD', KEYS[2], delayed)
end
if #ready > 0 then bulk('RPUSH', KEYS[1], ready) end
if wake then signal(KEYS[5]) end
return result
