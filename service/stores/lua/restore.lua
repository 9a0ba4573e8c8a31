-- ARGV: identity, guest seat record ('' for none), hand (ms or ''), invitation (ms or ''), default
-- guest limit. Answers 'ok', or 'full' when the seat to give back was taken meanwhile (the stage
-- is at its limit without it): nothing changes then, and the pending change stays. An ended show
-- has nothing to give back ('ended'): its seats, hands and invitations ended with it.
local identity, seat, hand, invitation, default_limit = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
if phase() == 'ended' then return {'ok', 'ended'} end
if seat ~= '' and redis.call('HEXISTS', GUESTS, identity) == 0
    and redis.call('HLEN', GUESTS) >= guest_limit(default_limit) then
  return {'ok', 'full'}
end
redis.call('HDEL', GUESTS, identity)
if seat ~= '' then redis.call('HSET', GUESTS, identity, seat) end
redis.call('ZREM', HANDS, identity)
if hand ~= '' then redis.call('ZADD', HANDS, hand, identity) end
redis.call('ZREM', INVITATIONS, identity)
if invitation ~= '' then redis.call('ZADD', INVITATIONS, invitation, identity) end
redis.call('HDEL', PENDING, identity)
touch()
return {'ok', 'restored'}
