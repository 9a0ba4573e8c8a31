-- ARGV: offset, count. Hands in the order raised, each with whether an invitation waits.
local offset, count = tonumber(ARGV[4]), tonumber(ARGV[5])
local found = redis.call('ZRANGE', HANDS, offset, offset + count - 1, 'WITHSCORES')
local out = {'ok'}
for i = 1, #found, 2 do
  local until_ = redis.call('ZSCORE', INVITATIONS, found[i])
  out[#out + 1] = found[i]
  out[#out + 1] = found[i + 1]
  out[#out + 1] = (until_ and tonumber(until_) > NOW) and 1 or 0
end
return out
