-- ARGV: stream (egress) id, its destination names joined by commas, and whether to write only
-- if the stream is as the caller read it (1/0), with the destinations (joined) and the moment
-- they changed that it read. Answers 1, or 0 if the room has no such stream (or, checked, one
-- that has ended or changed since: a newer change stands). Other fields, known or not, are kept
-- as they are; when the destinations changed is kept with them (the reconciler leaves a change
-- in flight alone).
local id, destinations, checked, read, read_at = ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8])
local found = decode(redis.call('HGET', RECORDINGS, id))
if not found then return {'ok', 0} end
if checked == '1' and ((found.status or 0) > 2 or (found.destinations or '') ~= read
    or tonumber(found.destinations_at or 0) ~= read_at) then
  return {'ok', 0}
end
found.destinations, found.destinations_at = destinations, NOW
redis.call('HSET', RECORDINGS, id, cjson.encode(found))
touch()
return {'ok', 1}
