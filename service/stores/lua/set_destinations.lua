-- ARGV: stream (egress) id, its destination names joined by commas. Answers 1, or 0 if the
-- room has no such stream. Other fields, known or not, are kept as they are.
local id, destinations = ARGV[4], ARGV[5]
local found = decode(redis.call('HGET', RECORDINGS, id))
if not found then return {'ok', 0} end
found.destinations = destinations
redis.call('HSET', RECORDINGS, id, cjson.encode(found))
touch()
return {'ok', 1}
