-- ARGV: identity, '1' if it was removed from the show (RemoveParticipant): the last host's
-- standing ends then too; the absence (ms, '0' for none) the seat's holder must still be away
-- since, or nothing is freed ('viewer'). 'hosted_by' is kept, empty, so that a record of a
-- version that knew no phases still reads as live (phase()).
local since = tonumber(ARGV[6] or '0')
if since ~= 0 then
  local _, seat = seat_of(ARGV[4])
  if not seat or away(seat) ~= since then return {'ok', 'viewer'} end
end
local role = forget(ARGV[4])
if ARGV[5] == '1' and redis.call('HGET', STAGE, 'hosted_by') == ARGV[4] then
  redis.call('HSET', STAGE, 'hosted_by', '')
end
touch()
return {'ok', role}
