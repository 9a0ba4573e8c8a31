-- ARGV: identity, the change's id, the words the room is to hear it in ('' for none: see intend).
-- The moderator goes back to the audience, with the change pending until LiveKit has it (a
-- demotion: the reconciler completes it should this instance die before telling LiveKit).
if redis.call('HDEL', MODERATORS, ARGV[4]) == 0 then return refused('not_moderator') end
intend(ARGV[4], 'demote', ARGV[5], 'moderator', NOW, ARGV[6])
touch()
return {'ok'}
