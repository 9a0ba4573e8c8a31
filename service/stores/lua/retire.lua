-- ARGV: room sid ('' for whatever incarnation)
local current = redis.call('HGET', STAGE, 'room_sid') or ''
if ARGV[4] ~= '' and current ~= '' and current ~= ARGV[4] then return {'ok', 0} end
redis.call('DEL', unpack(KEYS))
return {'ok', 1}
