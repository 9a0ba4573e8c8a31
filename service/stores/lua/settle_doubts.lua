-- ARGV: pairs of an identity a pass has looked at once its doubt was due, and that due (ms), as
-- the pass read it. A doubt written again since (another due) stays. Not an activity: the room's
-- expiry is left as it is.
for i = 4, #ARGV - 1, 2 do
  if redis.call('HGET', DOUBTS, ARGV[i]) == ARGV[i + 1] then redis.call('HDEL', DOUBTS, ARGV[i]) end
end
return {'ok'}
