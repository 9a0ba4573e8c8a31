-- ARGV: identity
if redis.call('HDEL', MODERATORS, ARGV[4]) == 0 then return refused('not_moderator') end
touch()
return {'ok'}
