-- Extends the leases of deliveries a worker still runs.
-- KEYS: 1 lease
-- ARGV: 1 lease ms, then lease members
-- Returns: the 1-based positions of members whose lease is gone (the worker must stop those jobs).
-- Invariant: only an existing member is extended (XX), so a lost lease is never resurrected.
local deadline = nowMs() + tonumber(ARGV[1])
local members = {}
for i = 2, #ARGV do members[#members + 1] = ARGV[i] end
local scores = zmscore(KEYS[1], members)
local held, lost = {}, {}
for i = 1, #members do
  if scores[i] then
    held[#held + 1] = deadline
    held[#held + 1] = members[i]
  else
    lost[#lost + 1] = i
  end
end
bulk('ZADD', KEYS[1], held, 'XX')
return lost
