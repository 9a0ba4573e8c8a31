-- ARGV: limit, acting ('' for the admin)
if not is_host(ARGV[5]) then return refused('not_host') end
redis.call('HSET', STAGE, 'guest_limit', ARGV[4])
touch()
return {'ok'}
