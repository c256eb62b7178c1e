-- Hands unfinished deliveries back at once (graceful shutdown), without counting an attempt.
-- KEYS: 1 ready, 2 active, 3 lease, 4 wake
-- ARGV: lease members
-- Returns: how many jobs went back to the head of the ready list.
-- Invariant: only the current delivery can release its job (the lease member is the fence).
local released = 0
for i = 1, #ARGV do
  if redis.call('ZREM', KEYS[3], ARGV[i]) == 1 then
    local id = idOfMember(ARGV[i])
    local rec = redis.call('HGET', KEYS[2], id)
    redis.call('HDEL', KEYS[2], id)
    if rec then
      redis.call('LPUSH', KEYS[1], rec)
      released = released + 1
    end
  end
end
if released > 0 then signal(KEYS[4]) end
return released
