#!lua flags=allow-oom
-- Extends the leases of claims whose jobs a worker still runs.
-- KEYS: the queue's keys (K)
-- ARGV[1]: cmsgpack map { lease = ms, tokens = { claim tokens }, tracked = { ids of tracked jobs running } }
-- Returns: { positions (1-based) of tokens whose claim is gone (the worker must stop those jobs),
--   ids among `tracked` that were cancelled (the worker aborts them: the cancel notice may have been lost) }
-- Invariant: a lost claim is never resurrected; a claim that still exists but lost its deadline (the key
-- deleted or evicted) gets one back, since the worker renewing it is alive.
local deadline = nowMs() + tonumber(A.lease)
local tokens = A.tokens
local scores = bulkRead('ZMSCORE', K.deadlines, tokens)
local held, lost = {}, {}
for i, token in ipairs(tokens) do
  if scores[i] or redis.call('HEXISTS', K.claims, token .. '#n') == 1 then
    held[#held + 1] = deadline
    held[#held + 1] = token
  else
    lost[#lost + 1] = i
  end
end
bulk('ZADD', K.deadlines, held)
local cancelling = {}
if A.tracked and #A.tracked > 0 then
  local entries = bulkRead('HMGET', K.track, A.tracked)
  for i, entry in ipairs(entries) do
    if entry and string.find(entry, '"cancelling"', 1, true) then cancelling[#cancelling + 1] = A.tracked[i] end
  end
end
return { lost, cancelling }
