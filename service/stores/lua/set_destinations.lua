-- ARGV: stream (egress) id, its destination names joined by commas. Answers 1, or 0 if the
-- room has no such stream. Other fields, known or not, are kept as they are; when the
-- destinations changed is kept with them (the reconciler leaves a change in flight alone).
local id, destinations = ARGV[4], ARGV[5]
local found = decode(redis.call('HGET', RECORDINGS, id))
if not found then return {'ok', 0} end
found.destinations, found.destinations_at = destinations, NOW
redis.call('HSET', RECORDINGS, id, cjson.encode(found))
touch()
return {'ok', 1}
