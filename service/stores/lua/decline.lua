-- ARGV: viewer
expire_invitations()
if redis.call('ZREM', INVITATIONS, ARGV[4]) == 0 then return refused('no_invitation') end
touch()
return {'ok'}
