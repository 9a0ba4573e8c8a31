-- ARGV: identity, guest seat record ('' for none), hand (ms or ''), invitation (ms or ''), default
-- guest limit, the undone step's pending change id ('' for none). Answers 'ok', or 'full' when the
-- seat to give back was taken meanwhile (the stage is at its limit without it): nothing changes
-- then, and the pending change stays; or 'overtaken' when the undone step's change is no longer
-- the one pending (a newer change was written since, or it completed): nothing changes, the newer
-- record stands. An ended show has nothing to give back ('ended'): its seats, hands and
-- invitations ended with it.
local identity, seat, hand, invitation, default_limit, change_id =
  ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
if phase() == 'ended' then return {'ok', 'ended'} end
if change_id ~= '' then
  local pending = decode(redis.call('HGET', PENDING, identity))
  if not pending or pending.id ~= change_id or pending.landed then return {'ok', 'overtaken'} end
end
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
drop_change(identity)
touch()
return {'ok', 'restored'}
