-- ARGV: identity, the change's id, the words the room is to hear it in ('' for none: see intend),
-- the change ('demote', or 'remove' when it is taken out of the room too; an older caller sends
-- none: 'demote').
-- The moderator goes back to the audience, with the change pending until LiveKit has it: the
-- reconciler completes it should this instance die before telling LiveKit.
if redis.call('HDEL', MODERATORS, ARGV[4]) == 0 then return refused('not_moderator') end
local change = ARGV[7]
if change ~= 'remove' then change = 'demote' end
intend(ARGV[4], change, ARGV[5], 'moderator', NOW, ARGV[6])
touch()
return {'ok'}
