-- The audience of a live show was let in: nothing is left for a reconciler to do. Answers 1 and
-- who took the show live ('' for the room's admin) to the one step that found the release due,
-- which then tells the room; 0 to any other (done already, or the show ended meanwhile).
if redis.call('HDEL', STAGE, 'release_due') == 0 then return {'ok', 0, ''} end
touch()
return {'ok', 1, redis.call('HGET', STAGE, 'live_by') or ''}
