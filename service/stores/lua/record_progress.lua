-- ARGV: egress id, status, at (ms), error, location. Answers the status before and after; a
-- report never moves a recording backwards, so duplicated or late webhooks are harmless.
local id, status, at, err, location = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], ARGV[8]
local found = decode(redis.call('HGET', RECORDINGS, id))
if not found then return {'ok'} end
local before = found.status
if status > found.status then
  found.status = status
  if not active(found) then found.ended_at = at end
end
if err ~= '' then found.error = err end
if location ~= '' then found.location = location end
redis.call('HSET', RECORDINGS, id, cjson.encode(found))
touch()
return {'ok', before, found.status}
