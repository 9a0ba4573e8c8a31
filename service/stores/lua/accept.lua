-- ARGV: viewer, default guest limit, connection sid, connection joined_at (ms), the promotion's id,
-- the holder the accepting token claims (holds()).
local viewer, default_limit, sid, joined_at, change_id = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
if phase() == 'ended' then return refused('show_ended') end
expire_invitations()
local before = standing(viewer)
if before[3] == '' then return refused('no_invitation') end
if is_banned(viewer) then return refused('banned') end
if not holds(viewer, ARGV[9]) then return refused('not_holder') end
if redis.call('HLEN', GUESTS) >= guest_limit(default_limit) then return refused('room_has_guest') end
take_seat(viewer, sid, joined_at, change_id)
touch()
local host = host_seat()
return {'ok', 1, before[1], before[2], before[3], host and host.identity or '',
        redis.call('HKEYS', MODERATORS)}
