-- ARGV: identity
if redis.call('HDEL', BANS, ARGV[4]) == 0 then return refused('not_banned') end
touch()
return {'ok'}
