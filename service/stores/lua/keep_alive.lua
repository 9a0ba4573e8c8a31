-- ARGV: the room sid LiveKit has ('' for whatever incarnation)
-- LiveKit still has the show's room: its keys live the idle time from now, as after a write, with
-- nothing changed and no mark in the global indexes (not an activity). An ended show keeps its
-- retention; a room with no record (no key of it), or another incarnation's, is left to expire.
if redis.call('EXISTS', unpack(KEYS)) == 0 or phase() == 'ended' then return {'ok', 0} end
local current = redis.call('HGET', STAGE, 'room_sid') or ''
if ARGV[4] ~= '' and current ~= '' and current ~= ARGV[4] then return {'ok', 0} end
touch()
return {'ok', 1}
