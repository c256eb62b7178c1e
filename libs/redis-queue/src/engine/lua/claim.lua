-- One round trip of a worker loop: settle finished deliveries, recover expired leases, promote due
-- delayed jobs, then claim up to N ready jobs under a new lease.
-- KEYS: 1 ready, 2 delayed, 3 active, 4 lease, 5 dead, 6 dead index, 7 ids, 8 claim counter, 9 wake
-- ARGV: 1 lease ms, 2 claim count N (0: settle only),
--       then A, A lease members to acknowledge,
--       then R, R pairs (lease member, retry delay ms),
--       then D, D pairs (lease member, error JSON) to dead-letter
-- Returns: { token, ms until the next delayed job or lease deadline (-1: none), stale settles, records... }
-- Invariants: a job id is in exactly one of ready, delayed, active, dead. A settle whose lease member is
-- gone (lease lost, job recovered or claimed again) changes nothing: only the current delivery settles.
local leaseMs = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
local ready, delayed, active, lease = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local dead, deadIndex, ids = KEYS[5], KEYS[6], KEYS[7]
local now = nowMs()
local stale = 0
local a = 3

-- Acknowledgements: drop the job entirely.
local nAck = tonumber(ARGV[a])
if nAck > 0 then
  local members = {}
  for i = 1, nAck do members[i] = ARGV[a + i] end
  local scores = zmscore(lease, members)
  local held, heldIds, customIds = {}, {}, {}
  for i = 1, nAck do
    if scores[i] then
      local id = idOfMember(members[i])
      held[#held + 1] = members[i]
      heldIds[#heldIds + 1] = id
      if isCustomId(id) then customIds[#customIds + 1] = id end
    end
  end
  stale = stale + nAck - #held
  bulk('ZREM', lease, held)
  bulk('HDEL', active, heldIds)
  bulk('SREM', ids, customIds)
end
a = a + nAck + 1

-- Retries: back to the delayed set with one more attempt counted.
local nRetry = tonumber(ARGV[a])
for i = 0, nRetry - 1 do
  local member = ARGV[a + 1 + i * 2]
  if redis.call('ZREM', lease, member) == 1 then
    local id = idOfMember(member)
    local rec = redis.call('HGET', active, id)
    redis.call('HDEL', active, id)
    if rec then
      redis.call('ZADD', delayed, now + math.max(0, tonumber(ARGV[a + 2 + i * 2])), bumpAttempts(rec))
    end
  else
    stale = stale + 1
  end
end
a = a + nRetry * 2 + 1

-- Dead letters: payload, attempts and error kept; a caller-chosen id stays taken while the job is dead.
local nDead = tonumber(ARGV[a])
for i = 0, nDead - 1 do
  local member = ARGV[a + 1 + i * 2]
  if redis.call('ZREM', lease, member) == 1 then
    local id = idOfMember(member)
    local rec = redis.call('HGET', active, id)
    redis.call('HDEL', active, id)
    redis.call('HSET', dead, id, deadEntry(id, now, ARGV[a + 2 + i * 2], bumpAttempts(rec or '')))
    redis.call('ZADD', deadIndex, now, id)
  else
    stale = stale + 1
  end
end

-- Recovery: a lease past its deadline means its worker is gone; the job is ready again, attempt counted.
local expired = redis.call('ZRANGEBYSCORE', lease, '-inf', now, 'LIMIT', 0, 500)
for _, member in ipairs(expired) do
  local id = idOfMember(member)
  local rec = redis.call('HGET', active, id)
  redis.call('ZREM', lease, member)
  redis.call('HDEL', active, id)
  if rec then redis.call('LPUSH', ready, bumpAttempts(rec)) end
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
    local token = redis.call('INCR', KEYS[8])
    local deadline = now + leaseMs
    local fields, leases = {}, {}
    for i, rec in ipairs(popped) do
      local p = string.find(rec, SEP, 1, true)
      if p and p > 1 then
        local id = string.sub(rec, 1, p - 1)
        fields[#fields + 1] = id
        fields[#fields + 1] = rec
        leases[#leases + 1] = deadline
        leases[#leases + 1] = token .. ':' .. id
        result[#result + 1] = rec
      else
        -- Without an id the record cannot be leased or settled: dead-letter it here, with the reason.
        local id = 'malformed-' .. token .. '-' .. i
        redis.call('HSET', dead, id, deadEntry(id, now,
          '{"name":"MalformedJobError","message":"job record has no id: it was damaged or not written by this library"}', rec))
        redis.call('ZADD', deadIndex, now, id)
      end
    end
    bulk('HSET', active, fields)
    bulk('ZADD', lease, leases)
    result[1] = token
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
