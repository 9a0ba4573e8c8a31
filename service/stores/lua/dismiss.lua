-- ARGV: identity, the change's id. The moderator goes back to the audience, with the change pending until LiveKit
-- has it (a demotion: the reconciler completes it should this instance die before telling LiveKit).
if redis.call('HDEL', MODERATORS, ARGV[4]) == 0 then return refused('not_moderator') end
intend(ARGV[4], 'demote', ARGV[5], 'moderator')
touch()
return {'ok'}
