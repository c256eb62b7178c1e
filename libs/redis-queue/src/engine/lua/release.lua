-- Hands unfinished deliveries back at once (graceful shutdown), without counting an attempt.
-- KEYS: 1 ready, 2 lease, 3 claims, 4 wake
-- ARGV: deliveries ("token:position")
-- Returns: how many jobs went back to the head of the ready list.
-- Invariant: only a delivery whose claim still holds its position can release the job.
local released = 0
local byToken, order = {}, {}
for i = 1, #ARGV do
  local token, p = splitDelivery(ARGV[i])
  if not byToken[token] then
    byToken[token] = {}
    order[#order + 1] = token
  end
  table.insert(byToken[token], p)
end
for _, token in ipairs(order) do
  local blob = redis.call('HGET', KEYS[3], token)
  if blob then
    local records = splitRecords(blob)
    local fresh = settlePositions(KEYS[3], KEYS[2], token, byToken[token])
    for _, p in ipairs(byToken[token]) do
      if fresh[p] and records[p] then
        redis.call('LPUSH', KEYS[1], records[p])
        released = released + 1
      end
    end
  end
end
if released > 0 then signal(KEYS[4]) end
return released
