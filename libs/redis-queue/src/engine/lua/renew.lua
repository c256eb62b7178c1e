-- Extends the leases of claims whose jobs a worker still runs.
-- KEYS: 1 lease
-- ARGV: 1 lease ms, then claim tokens
-- Returns: the 1-based positions of tokens whose lease is gone (the worker must stop those jobs).
-- Invariant: only an existing lease is extended (XX), so a lost lease is never resurrected.
local deadline = nowMs() + tonumber(ARGV[1])
local tokens = {}
for i = 2, #ARGV do tokens[#tokens + 1] = ARGV[i] end
local scores = zmscore(KEYS[1], tokens)
local held, lost = {}, {}
for i = 1, #tokens do
  if scores[i] then
    held[#held + 1] = deadline
    held[#held + 1] = tokens[i]
  else
    lost[#lost + 1] = i
  end
end
bulk('ZADD', KEYS[1], held, 'XX')
return lost
