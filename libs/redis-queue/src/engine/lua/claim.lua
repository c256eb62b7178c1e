-- One round trip of a worker loop: settle finished deliveries, recover expired claims, promote due
-- delayed jobs, then claim up to N ready jobs under one new lease.
-- KEYS: 1 ready, 2 delayed, 3 lease, 4 claims, 5 dead, 6 dead index, 7 ids, 8 claim counter, 9 wake,
--       10 retained ids
-- ARGV: 1 lease ms, 2 claim count N (0: settle only), 3 ms a completed job's caller-chosen id stays taken,
--       then G groups of acknowledgements, each: token, then either
--         'all', S, M, M caller-chosen ids among its jobs (every one of the claim's S jobs succeeded), or
--         K, K entries "position" or "position:callerId" (these jobs of the claim succeeded),
--       then R, R pairs (delivery "token:position", retry delay ms),
--       then D, D triples (delivery, attempts made to record (-1: keep the record as is), error JSON)
-- Returns: { token, ms until the next delayed job or lease deadline (-1: none), stale settles, records }
--   where records are the claimed records joined by RS (absent when nothing was claimed).
-- Invariants: a job is in exactly one of ready, delayed, a claim, dead. A settle whose claim is gone
-- (lease lost, claim recovered) or whose position was already settled changes nothing.
local leaseMs = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
local retainMs = tonumber(ARGV[3])
local ready, delayed, lease, claims = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local dead, deadIndex, ids, retained = KEYS[5], KEYS[6], KEYS[7], KEYS[10]
-- A claim token is a counter plus the microseconds of the clock: after a Redis crash loses the last
-- second of writes, the counter may repeat a value, but not together with the same microsecond.
local now, micros = nowMs()
local stale = 0
local a = 4

-- Acknowledgements. The common case, a claim whose jobs all succeeded, costs O(1) here.
local completed = {}
local groups = tonumber(ARGV[a])
a = a + 1
for _ = 1, groups do
  local token, k = ARGV[a], ARGV[a + 1]
  if k == 'all' then
    local m = tonumber(ARGV[a + 3])
    local left = tonumber(redis.call('HGET', claims, token .. '#n'))
    if left then
      dropClaim(claims, lease, token, left)
      for i = 1, m do completed[#completed + 1] = ARGV[a + 3 + i] end
    else
      -- The claim was recovered whole: every one of its jobs went back to ready and runs again.
      stale = stale + tonumber(ARGV[a + 2])
    end
    a = a + 4 + m
  else
    k = tonumber(k)
    local positions, callerIds = {}, {}
    for i = 1, k do
      local entry = ARGV[a + 1 + i]
      local c = string.find(entry, ':', 1, true)
      local p = tonumber(c and string.sub(entry, 1, c - 1) or entry) or 0
      positions[i] = p
      if c then callerIds[p] = string.sub(entry, c + 1) end
    end
    a = a + 2 + k
    local fresh = settlePositions(claims, lease, token, positions)
    for _, p in ipairs(positions) do
      if not fresh[p] then
        stale = stale + 1
      elseif callerIds[p] then
        completed[#completed + 1] = callerIds[p]
      end
    end
  end
end
completeIds(ids, retained, completed, now, retainMs)

-- Retries and dead letters: one position of a claim each, read from the claim's records.
local recordsByToken = {}
local function take(delivery)
  local token, p = splitDelivery(delivery)
  local records = recordsByToken[token]
  if records == nil then
    local blob = redis.call('HGET', claims, token)
    records = blob and splitRecords(blob) or false
    recordsByToken[token] = records
  end
  local rec = records and records[p]
  if not rec or not settlePositions(claims, lease, token, { p })[p] then
    stale = stale + 1
    return nil
  end
  return rec, token, p
end

-- Retries: back to the delayed set with one more attempt counted.
local nRetry = tonumber(ARGV[a])
for i = 0, nRetry - 1 do
  local rec = take(ARGV[a + 1 + i * 2])
  if rec then
    redis.call('ZADD', delayed, now + math.max(0, tonumber(ARGV[a + 2 + i * 2])), bumpAttempts(rec))
  end
end
a = a + nRetry * 2 + 1

-- Dead letters: payload, attempts and error kept; a caller-chosen id stays taken while the job is dead.
-- The worker says how many attempts were made: a job refused because lost deliveries used them all never
-- ran, and records the maximum however many deliveries were lost on the way. A record without an id
-- (damaged, or not written by this library) is kept under a made-up one.
local nDead = tonumber(ARGV[a])
for i = 0, nDead - 1 do
  local rec, token, p = take(ARGV[a + 1 + i * 3])
  if rec then
    local id = recordId(rec) or ('malformed-' .. token .. '-' .. p)
    local made = tonumber(ARGV[a + 2 + i * 3])
    if made >= 0 then rec = setAttempts(rec, made) end
    redis.call('HSET', dead, id, deadEntry(id, now, ARGV[a + 3 + i * 3], rec))
    redis.call('ZADD', deadIndex, now, id)
  end
end

-- Completed jobs' ids whose retention window has passed are free again.
local free = redis.call('ZRANGEBYSCORE', retained, '-inf', now, 'LIMIT', 0, 100)
if #free > 0 then
  bulk('SREM', ids, free)
  bulk('ZREM', retained, free)
end

-- Recovery: a claim past its lease deadline means its worker is gone; its unsettled jobs are ready again.
local expired = redis.call('ZRANGEBYSCORE', lease, '-inf', now, 'LIMIT', 0, 20)
for _, token in ipairs(expired) do
  recoverClaim(ready, claims, lease, token)
end

-- Promotion: due delayed jobs join the ready list in due order.
local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, 1000)
if #due > 0 then
  bulk('RPUSH', ready, due)
  bulk('ZREM', delayed, due)
end

local result = { 0, -1, stale }
if count > 0 then
  local popped = redis.call('LPOP', ready, count)
  if popped then
    local token = redis.call('INCR', KEYS[8]) .. '.' .. micros
    local blob = table.concat(popped, RS)
    redis.call('HSET', claims, token, blob, token .. '#n', #popped)
    redis.call('HINCRBY', claims, '#active', #popped)
    redis.call('ZADD', lease, now + leaseMs, token)
    result[1] = token
    result[4] = blob
  end
end

if redis.call('LLEN', ready) > 0 then
  signal(KEYS[9])
else
  redis.call('DEL', KEYS[9])
end

-- The caller sleeps at most until the next due job or lease deadline, whichever comes first.
local nextAt = nil
local d = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
if d[2] then nextAt = tonumber(d[2]) end
local l = redis.call('ZRANGE', lease, 0, 0, 'WITHSCORES')
if l[2] and (nextAt == nil or tonumber(l[2]) < nextAt) then nextAt = tonumber(l[2]) end
if nextAt then result[2] = math.max(0, nextAt - now) end
return result
