-- ARGV: identity, '1' if it was removed from the show (RemoveParticipant): the last host's
-- standing ends then too. 'hosted_by' is kept, empty, so that a record of a version that knew no
-- phases still reads as live (phase()).
local role = forget(ARGV[4])
if ARGV[5] == '1' and redis.call('HGET', STAGE, 'hosted_by') == ARGV[4] then
  redis.call('HSET', STAGE, 'hosted_by', '')
end
touch()
return {'ok', role}
