#!lua flags=allow-oom
-- Pauses or resumes a queue for every worker: paused, the claim script starts nothing (running jobs
-- finish, settling and recovery go on); resumed, idle workers are told at once.
-- KEYS: the queue's keys (K)
-- ARGV[1]: cmsgpack map { paused = true | false }
-- Returns: 1 if the state changed, 0 if it already was so.
local M = readMeta(nowMs())
if A.paused then
  if M.paused then return 0 end
  redis.call('HSET', K.meta, 'paused', '1')
  return 1
end
if not M.paused then return 0 end
redis.call('HDEL', K.meta, 'paused')
M.paused = false
if claimable(M) then announce() end
return 1
