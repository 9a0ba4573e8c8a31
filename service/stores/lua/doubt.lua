-- ARGV: the identity whose change a call is undoing after LiveKit failed to answer it.
-- Doubted until a reconciler's pass has looked at it on LiveKit; an ended show keeps no doubt.
if phase() == 'ended' then return {'ok', 0} end
redis.call('SADD', DOUBTS, ARGV[4])
touch()
return {'ok', 1}
