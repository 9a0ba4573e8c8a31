-- ARGV: identity, name, stale_after (ms), connection sid, connection joined_at (ms), the phase a
-- show opens in ('backstage' or 'live')
local identity, name, stale_after, sid, joined_at = ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7], ARGV[8]
local opens = ARGV[9]
local current = phase()
if current == 'ended' then return refused('show_ended') end
local host = host_seat()
if host and host.identity ~= identity then
  -- A host who was given a token but never connected stops blocking the room.
  if (host.sid or '') ~= '' or NOW - host.since < stale_after then return refused('room_has_host') end
  host = nil  -- replaced below, once nothing else refuses: a refused step writes nothing
end
if host then return {'ok', 0} end
if redis.call('HEXISTS', GUESTS, identity) == 1 then return refused('guest_cannot_host') end
if redis.call('HEXISTS', MODERATORS, identity) == 1 then return refused('moderator_cannot_host') end
redis.call('HSET', STAGE, 'host', new_seat(identity, name, sid, joined_at), 'hosted_by', identity)
bind(identity, '=')  -- a host's token carries no mark: no token of a viewer door holder acts as it
if current == '' then
  redis.call('HSET', STAGE, 'phase', opens, 'opened_at', NOW)
  if opens == 'live' then redis.call('HSET', STAGE, 'live_at', NOW) end
end
redis.call('ZREM', HANDS, identity)
withdraw_invitation(identity)
touch()
return {'ok', 1}
