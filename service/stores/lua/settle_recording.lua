-- ARGV: placeholder id, LiveKit's egress id, status, location
local placeholder, id, status, location = ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]
local held = decode(redis.call('HGET', RECORDINGS, placeholder))
if not held then return {'ok'} end
held.id, held.location = id, location
if status > held.status then held.status = status end
redis.call('HDEL', RECORDINGS, placeholder)
redis.call('HSET', RECORDINGS, id, cjson.encode(held))
touch()
return {'ok'}
