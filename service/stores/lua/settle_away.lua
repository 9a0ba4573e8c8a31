-- ARGV: identity, when it was heard gone (ms), as a pass read it. No longer away, unless a later
-- leave was heard since. Not an activity.
if tonumber(redis.call('ZSCORE', AWAY, ARGV[4]) or -1) == tonumber(ARGV[5]) then
  redis.call('ZREM', AWAY, ARGV[4])
  redis.call('HDEL', LEFT_BEHIND, ARGV[4])
end
return {'ok'}
