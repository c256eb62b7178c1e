-- One round trip of a worker loop: settle finished deliveries, recover expired claims, promote due
-- delayed jobs, then claim up to N ready jobs under one new lease.
-- KEYS: 1 ready, 2 delayed, 3 active, 4 lease, 5 batches, 6 dead, 7 dead index, 8 ids, 9 claim counter,
--       10 wake, 11 retained ids
-- ARGV: 1 lease ms, 2 claim count N (0: settle only), 3 ms a completed job's caller-chosen id stays taken,
--       then G claims with acknowledgements, each as: token, count K, K job ids,
--       then R, R pairs (delivery, retry delay ms),
--       then D, D triples (delivery, attempts made to record (-1: keep the record as is), error JSON)
--       to dead-letter
-- Returns: { token, ms until the next delayed job or lease deadline (-1: none), stale settles, records... }
-- Invariants: a job id is in exactly one of ready, delayed, active, dead. A settle whose delivery no
-- longer owns the job (lease lost, job recovered or claimed again) changes nothing.
local leaseMs = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
local retainMs = tonumber(ARGV[3])
local retained = KEYS[11]
local ready, delayed, active, lease, batches = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local dead, deadIndex, ids = KEYS[6], KEYS[7], KEYS[8]
-- A claim token is a counter plus the microseconds of the clock: after a Redis crash loses the last
-- second of writes, the counter may repeat a value, but not together with the same microsecond.
local now, micros = nowMs()
local stale = 0
local settled = {}
local a = 4

-- Acknowledgements, grouped by claim: drop the jobs entirely.
local groups = tonumber(ARGV[a])
a = a + 1
for _ = 1, groups do
  local token, n = ARGV[a], tonumber(ARGV[a + 1])
  local jobIds = {}
  for i = 1, n do jobIds[i] = ARGV[a + 1 + i] end
  a = a + 2 + n
  local values = hmget(active, jobIds)
  local prefix = token .. SEP
  local width = #prefix
  local done, customIds = {}, {}
  for i = 1, n do
    local value = values[i]
    if value and string.sub(value, 1, width) == prefix then
      local id = jobIds[i]
      done[#done + 1] = id
      if isCustomId(id) then customIds[#customIds + 1] = id end
    end
  end
  stale = stale + n - #done
  if #done > 0 then settled[token] = (settled[token] or 0) + #done end
  bulk('HDEL', active, done)
  if retainMs > 0 then
    -- The id stays taken for a while, so that a producer retrying an enqueue cannot run the job again.
    local scored = {}
    for i = 1, #customIds do
      scored[#scored + 1] = now + retainMs
      scored[#scored + 1] = customIds[i]
    end
    bulk('ZADD', retained, scored)
  else
    bulk('SREM', ids, customIds)
  end
end

-- Completed jobs' ids whose retention window has passed are free again.
local free = redis.call('ZRANGEBYSCORE', retained, '-inf', now, 'LIMIT', 0, 100)
if #free > 0 then
  bulk('SREM', ids, free)
  bulk('ZREM', retained, free)
end

-- Retries and dead letters: take the job out of active if this delivery still owns it.
local function take(member)
  local token, id = splitMember(member)
  local rec = owned(redis.call('HGET', active, id), token)
  if not rec then
    stale = stale + 1
    return nil
  end
  redis.call('HDEL', active, id)
  settled[token] = (settled[token] or 0) + 1
  return id, rec
end

-- Retries: back to the delayed set with one more attempt counted.
local nRetry = tonumber(ARGV[a])
for i = 0, nRetry - 1 do
  local id, rec = take(ARGV[a + 1 + i * 2])
  if id then
    redis.call('ZADD', delayed, now + math.max(0, tonumber(ARGV[a + 2 + i * 2])), bumpAttempts(rec))
  end
end
a = a + nRetry * 2 + 1

-- Dead letters: payload, attempts and error kept; a caller-chosen id stays taken while the job is dead.
-- The worker says how many attempts were made: one refused because lost deliveries used them all never
-- ran, and records the maximum however many deliveries were lost on the way.
local nDead = tonumber(ARGV[a])
for i = 0, nDead - 1 do
  local id, rec = take(ARGV[a + 1 + i * 3])
  if id then
    local made = tonumber(ARGV[a + 2 + i * 3])
    if made >= 0 then rec = setAttempts(rec, made) end
    redis.call('HSET', dead, id, deadEntry(id, now, ARGV[a + 3 + i * 3], rec))
    redis.call('ZADD', deadIndex, now, id)
  end
end
closeBatches(batches, lease, settled)

-- Recovery: a claim past its lease deadline means its worker is gone; its unsettled jobs are ready again.
local expired = redis.call('ZRANGEBYSCORE', lease, '-inf', now, 'LIMIT', 0, 20)
for _, token in ipairs(expired) do
  recoverBatch(ready, active, batches, lease, token)
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
    local token = redis.call('INCR', KEYS[9]) .. '.' .. micros
    local prefix = token .. SEP
    local fields, claimed = {}, {}
    for i, rec in ipairs(popped) do
      local p = string.find(rec, SEP, 1, true)
      if p and p > 1 then
        local id = string.sub(rec, 1, p - 1)
        fields[#fields + 1] = id
        fields[#fields + 1] = prefix .. rec
        claimed[#claimed + 1] = id
        result[#result + 1] = rec
      else
        -- Without an id the record cannot be leased or settled: dead-letter it here, with the reason.
        local id = 'malformed-' .. token .. '-' .. i
        redis.call('HSET', dead, id, deadEntry(id, now,
          '{"name":"MalformedJobError","message":"job record has no id: it was damaged or not written by this library"}', rec))
        redis.call('ZADD', deadIndex, now, id)
      end
    end
    if #claimed > 0 then
      bulk('HSET', active, fields)
      redis.call('HSET', batches, token, table.concat(claimed, SEP), token .. '#n', #claimed)
      redis.call('ZADD', lease, now + leaseMs, token)
    end
    result[1] = token
  end
end

if redis.call('LLEN', ready) > 0 then
  signal(KEYS[10])
else
  redis.call('DEL', KEYS[10])
end

-- The caller sleeps at most until the next due job or lease deadline, whichever comes first.
local nextAt = nil
local d = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
if d[2] then nextAt = tonumber(d[2]) end
local l = redis.call('ZRANGE', lease, 0, 0, 'WITHSCORES')
if l[2] and (nextAt == nil or tonumber(l[2]) < nextAt) then nextAt = tonumber(l[2]) end
if nextAt then result[2] = math.max(0, nextAt - now) end
return result
