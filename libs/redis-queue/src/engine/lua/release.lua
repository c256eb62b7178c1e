#!lua flags=allow-oom
-- Hands unfinished deliveries back at once (graceful shutdown), without counting an attempt.
-- KEYS: the queue's keys (K)
-- ARGV[1]: cmsgpack map { deliveries = { { t = token, p = position } } }
-- Returns: how many jobs went back to the front of their ready structure.
-- Invariant: only a delivery whose claim still holds its position can release the job.
local M = readMeta(nowMs())
local byToken, order = {}, {}
for _, d in ipairs(A.deliveries) do
  if not byToken[d.t] then
    byToken[d.t] = {}
    order[#order + 1] = d.t
  end
  table.insert(byToken[d.t], d.p)
end
local released, tracked = 0, 0
for _, token in ipairs(order) do
  local records = claimRecords(token)
  if records then
    local fresh = settlePositions(M, token, byToken[token])
    -- Front of the list in claim order: push the last first.
    for i = #records, 1, -1 do
      local rec = records[i]
      if fresh[i] and rec and not endIfCancelled(M, rec) then
        pushReady(M, rec, true)
        released = released + 1
        tracked = tracked + trackReady(rec)
      end
    end
  end
end
saveGroupSeq()
if tracked > 0 then redis.call('HINCRBY', K.meta, 'tracked', tracked) end
if released > 0 and claimable(M) then announce() end
return released
