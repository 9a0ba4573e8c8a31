-- ARGV: viewer, acting ('' for the admin), default guest limit, expires_in (ms), connection sid,
-- connection joined_at (ms), the promotion's id, the holder the part is bound to (bind()): the
-- viewer's connection's. Answers promoted (0/1), the viewer's standing
-- before, the host.
local viewer, acting, default_limit, expires_in, sid, joined_at, change_id =
  ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8], ARGV[9], ARGV[10]
if phase() == 'ended' then return refused('show_ended') end
expire_invitations()
if not is_manager(acting) then return refused('not_host') end
if is_banned(viewer) then return refused('banned') end
local host = host_seat()
local before = standing(viewer)
if host and host.identity == viewer then return refused('host_on_stage') end
if redis.call('HEXISTS', MODERATORS, viewer) == 1 then return refused('not_a_viewer') end
if redis.call('HLEN', GUESTS) >= guest_limit(default_limit) then return refused('room_has_guest') end
if before[1] ~= '' then return refused('already_guest') end
local promoted = 0
if before[2] ~= '' then
  take_seat(viewer, sid, joined_at, change_id)
  promoted = 1
else
  redis.call('ZADD', INVITATIONS, NOW + expires_in, viewer)
  redis.call('HSET', INVITERS, viewer, cjson.encode({v = VERSION, by = acting, expires = NOW + expires_in}))
end
bind(viewer, ARGV[11])
touch()
return {'ok', promoted, before[1], before[2], before[3], host and host.identity or '',
        redis.call('HKEYS', MODERATORS)}
