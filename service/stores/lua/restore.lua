-- ARGV: identity, guest seat record ('' for none), hand (ms or ''), invitation (ms or ''), default
-- guest limit, the undone step's pending change id ('' for none). Answers 'ok', or 'full' when the
-- seat to give back was taken meanwhile (the stage is at its limit without it): nothing changes
-- then, and the pending change stays; or 'overtaken' when the undone step's change is no longer
-- the one pending (a newer change was written since, or it completed), or when the seat would go
-- back to someone who holds the host seat or a moderator's part now (one part at a time): nothing
-- changes, the newer record stands; or 'banned' when the seat would go back to someone banned
-- meanwhile: nothing changes either (nobody banned is put forward), the change stays pending. A
-- hand or an invitation is not given back to someone banned: the undo of a promotion takes the
-- seat and leaves the banned viewer holding nothing. An ended show has nothing to give back
-- ('ended'): its seats, hands and invitations ended with it.
local identity, seat, hand, invitation, default_limit, change_id =
  ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
if phase() == 'ended' then return {'ok', 'ended'} end
if change_id ~= '' then
  local pending = decode(redis.call('HGET', PENDING, identity))
  if not pending or pending.id ~= change_id or pending.landed then return {'ok', 'overtaken'} end
end
local banned = is_banned(identity)
if seat ~= '' then
  if banned then return {'ok', 'banned'} end
  local role = seat_of(identity)
  if role == 'host' or role == 'moderator' then return {'ok', 'overtaken'} end
  if role ~= 'guest' and redis.call('HLEN', GUESTS) >= guest_limit(default_limit) then return {'ok', 'full'} end
end
redis.call('HDEL', GUESTS, identity)
if seat ~= '' then redis.call('HSET', GUESTS, identity, seat) end
redis.call('ZREM', HANDS, identity)
if hand ~= '' and not banned then redis.call('ZADD', HANDS, hand, identity) end
if invitation ~= '' and not banned then
  -- Who gave it was kept while the promotion was pending (see INVITERS): it names them again.
  redis.call('ZADD', INVITATIONS, invitation, identity)
else
  withdraw_invitation(identity)
end
drop_change(identity)
touch()
return {'ok', 'restored'}
