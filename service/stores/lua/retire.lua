-- ARGV: room sid ('' for whatever incarnation)
-- An ended show is kept for its retention (its end set the keys' expiry), readable and locked.
if phase() == 'ended' then return {'ok', 0} end
local current = redis.call('HGET', STAGE, 'room_sid') or ''
if ARGV[4] ~= '' and current ~= '' and current ~= ARGV[4] then return {'ok', 0} end
redis.call('DEL', unpack(KEYS))
return {'ok', 1}
