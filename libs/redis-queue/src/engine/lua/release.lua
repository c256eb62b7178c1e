-- Hands unfinished deliveries back at once (graceful shutdown), without counting an attempt.
-- KEYS: 1 ready, 2 active, 3 lease, 4 batches, 5 wake
-- ARGV: deliveries ("token:id")
-- Returns: how many jobs went back to the head of the ready list.
-- Invariant: only the delivery that owns a job can release it.
local released = 0
local settled = {}
for i = 1, #ARGV do
  local token, id = splitMember(ARGV[i])
  local rec = owned(redis.call('HGET', KEYS[2], id), token)
  if rec then
    redis.call('HDEL', KEYS[2], id)
    redis.call('LPUSH', KEYS[1], rec)
    settled[token] = (settled[token] or 0) + 1
    released = released + 1
  end
end
closeBatches(KEYS[4], KEYS[3], settled)
if released > 0 then signal(KEYS[5]) end
return released
