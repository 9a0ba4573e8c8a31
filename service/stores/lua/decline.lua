-- ARGV: viewer, the holder the declining token claims (holds()).
expire_invitations()
if standing(ARGV[4])[3] ~= '' and not holds(ARGV[4], ARGV[5]) then return refused('not_holder') end
if withdraw_invitation(ARGV[4]) == 0 then return refused('no_invitation') end
touch()
return {'ok'}
