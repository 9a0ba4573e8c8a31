-- ARGV: viewer
expire_invitations()
if withdraw_invitation(ARGV[4]) == 0 then return refused('no_invitation') end
touch()
return {'ok'}
