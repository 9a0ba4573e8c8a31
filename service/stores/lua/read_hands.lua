-- ARGV: offset, count. Hands in the order raised, each with whether an invitation waits.
local offset, count = tonumber(ARGV[4]), tonumber(ARGV[5])
return with_invitations(redis.call('ZRANGE', HANDS, offset, offset + count - 1, 'WITHSCORES'), {'ok'})
