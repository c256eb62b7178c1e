#!lua flags=allow-oom
-- Sets queue-wide rules every worker obeys (read by the claim script in the same call as it claims),
-- and registers event listeners.
-- KEYS: the queue's keys (K)
-- ARGV[1]: cmsgpack map
--   rate = 'max,duration' | false (remove) | absent (leave), gconc = n | false | absent,
--   gmax = n | false | absent, grate = 'max,duration' | false | absent,
--   listen = { event names }, listenFor = ms from now (Redis clock) they stay registered
-- Returns: the previous values { rate, gconc, gmax, grate } (false when unset).
-- Invariant: a change that makes jobs claimable (a limit raised or removed) tells idle workers.
local now = nowMs()
local previous = redis.call('HMGET', K.meta, 'rate', 'gconc', 'gmax', 'grate')
for _, field in ipairs({ 'rate', 'gconc', 'gmax', 'grate' }) do
  local value = A[field]
  if value == false then
    redis.call('HDEL', K.meta, field)
  elseif value ~= nil then
    redis.call('HSET', K.meta, field, tostring(value))
  end
end
if A.listen then
  for _, name in ipairs(A.listen) do
    redis.call('HSET', K.meta, 'listen:' .. name, fmt(now + tonumber(A.listenFor)))
  end
end
local M = readMeta(now)
if claimable(M) then announce() end
return previous
