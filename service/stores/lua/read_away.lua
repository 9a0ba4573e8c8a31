-- ARGV: until when (ms), how many. The viewers heard gone at or before then while they kept a
-- hand or an invitation, earliest first: identity, when (ms), what that leave kept, ...
local found = redis.call('ZRANGEBYSCORE', AWAY, '-inf', ARGV[4], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[5]))
local read = {}
for i = 1, #found, 2 do
  read[#read + 1] = found[i]
  read[#read + 1] = found[i + 1]
  read[#read + 1] = redis.call('HGET', LEFT_BEHIND, found[i]) or '|'
end
return {'ok', read}
