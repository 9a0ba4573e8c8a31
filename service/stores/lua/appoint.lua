-- ARGV: identity, acting ('' for the admin), the most moderators a room may have, the holder the
-- part is bound to (bind()). Answers the
-- identity's standing before (guest seat, hand, invitation), whose hand and invitation go, and
-- so does a change still pending for it: this one is newer (see ShowRecords.appoint).
local identity, acting, most = ARGV[4], ARGV[5], tonumber(ARGV[6])
if phase() == 'ended' then return refused('show_ended') end
if not is_host(acting) then return refused('not_host') end
expire_invitations()
local role = seat_of(identity)
if role == 'moderator' then return refused('already_moderator') end
if role ~= 'viewer' then return refused('not_a_viewer') end
if is_banned(identity) then return refused('banned') end
if redis.call('HLEN', MODERATORS) >= most then return refused('too_many_moderators') end
local before = standing(identity)
redis.call('HSET', MODERATORS, identity, cjson.encode({v = VERSION, since = NOW}))
bind(identity, ARGV[7])
-- A pass looks at the moderator on LiveKit until the deadline, should the call die with the
-- appointment on its way and a dismissal land before it (nothing pending says so).
doubt(identity)
redis.call('ZREM', HANDS, identity)
withdraw_invitation(identity)
drop_change(identity)
touch()
return {'ok', before[1], before[2], before[3]}
