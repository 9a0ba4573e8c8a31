-- ARGV: identity, change
local pending = decode(redis.call('HGET', PENDING, ARGV[4]))
if not pending or pending.change ~= ARGV[5] then return {'ok', 0} end
redis.call('HDEL', PENDING, ARGV[4])
return {'ok', 1}
