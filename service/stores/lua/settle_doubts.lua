-- ARGV: the identities a reconciler's pass has looked at on LiveKit: no longer doubted.
-- Not an activity: the room's expiry is left as it is.
if #ARGV >= 4 then redis.call('SREM', DOUBTS, unpack(ARGV, 4)) end
return {'ok'}
