-- ARGV: identity, raised_at (ms). Lowers the hand only if it is still the one raised then; no
-- touch(): the reconciler tidying a room is not the show's activity.
local raised = redis.call('ZSCORE', HANDS, ARGV[4])
if not raised or tonumber(raised) ~= tonumber(ARGV[5]) then return {'ok', 0} end
redis.call('ZREM', HANDS, ARGV[4])
return {'ok', 1}
