#!lua flags=allow-oom
-- Extends the leases of claims whose jobs a worker still runs.
-- KEYS: the queue's keys (K)
-- ARGV[1]: cmsgpack map { lease = ms, tokens = { claim tokens } }
-- Returns: the 1-based positions of tokens whose claim is gone (the worker must stop those jobs).
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
return lost
