-- ARGV: identities. Those of them whose hand is up: ZMSCORE of the queue, O(k) for k identities
-- whatever the queue's length. Asked a thousand at a time: Lua's unpack holds a few thousand
-- values at most, and a large room lists more participants than that.
local out, step = {}, 1000
for first = 4, #ARGV, step do
  local last = math.min(first + step - 1, #ARGV)
  local raised = redis.call('ZMSCORE', HANDS, unpack(ARGV, first, last))
  for i = 1, #raised do
    if raised[i] then out[#out + 1] = ARGV[first + i - 1] end
  end
end
return {'ok', out}
