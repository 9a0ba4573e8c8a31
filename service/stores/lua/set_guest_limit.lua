-- ARGV: limit, acting ('' for the admin). Answers the limit the room had before ('' for none set:
-- the service's default), so that only a real change is told.
if not is_host(ARGV[5]) then return refused('not_host') end
local before = redis.call('HGET', STAGE, 'guest_limit') or ''
redis.call('HSET', STAGE, 'guest_limit', ARGV[4])
touch()
return {'ok', before}
