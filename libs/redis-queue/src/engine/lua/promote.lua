#!lua flags=allow-oom
-- Makes a delayed job ready now.
-- KEYS: the queue's keys (K)
-- ARGV[1]: cmsgpack map { id = job id, member = the delayed record (optional: found through the
--   tracked entry when absent) }
-- Returns: 1 if the job was delayed and is ready now, 0 otherwise.
local M = readMeta(nowMs())
local member = A.member
if not member then
  local t = trackGet(A.id)
  if not t or t.s ~= 'delayed' then return 0 end
  member = findDelayed(t.at, A.id)
end
if not member or redis.call('ZREM', K.delayed, member) == 0 then return 0 end
pushReady(M, member, false)
saveGroupSeq()
redis.call('HINCRBY', K.meta, 'tracked', trackReady(member))
if claimable(M) then announce() end
return 1
