-- ARGV: identity, guest seat record ('' for none), hand (ms or ''), invitation (ms or '').
local identity, seat, hand, invitation = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
redis.call('HDEL', GUESTS, identity)
if seat ~= '' then redis.call('HSET', GUESTS, identity, seat) end
redis.call('ZREM', HANDS, identity)
if hand ~= '' then redis.call('ZADD', HANDS, hand, identity) end
redis.call('ZREM', INVITATIONS, identity)
if invitation ~= '' then redis.call('ZADD', INVITATIONS, invitation, identity) end
redis.call('HDEL', PENDING, identity)
touch()
return {'ok'}
