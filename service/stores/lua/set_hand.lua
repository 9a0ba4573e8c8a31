-- ARGV: identity, raised (1/0), default guest limit, connection sid, connection joined_at (ms),
-- the id of the promotion raising it may make, the holder the raising token claims (holds()).
local identity, raised, default_limit, sid, joined_at, change_id =
  ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
if phase() == 'ended' then return refused('show_ended') end
expire_invitations()
local role = seat_of(identity)
if role ~= 'viewer' then return refused('only_viewers_raise') end
if raised ~= '0' and is_banned(identity) then return refused('banned') end
local host = host_seat()
local before = standing(identity)
-- An invited viewer's hand takes the seat: only its holder raises it.
if raised ~= '0' and before[3] ~= '' and not holds(identity, ARGV[10]) then return refused('not_holder') end
local promoted = 0
if raised == '0' then
  redis.call('ZREM', HANDS, identity)
else
  redis.call('ZADD', HANDS, 'NX', NOW, identity)
  if before[3] ~= '' and redis.call('HLEN', GUESTS) < guest_limit(default_limit) then
    take_seat(identity, sid, joined_at, change_id)
    promoted = 1
  end
end
touch()
return {'ok', promoted, before[1], before[2], before[3], host and host.identity or '',
        redis.call('HKEYS', MODERATORS)}
