-- ARGV: LiveKit's room sid, its creation time (ms). A newer incarnation replaces the recorded
-- one; the seats' connections belonged to the older one and are forgotten, with their holders'
-- absences: the holders are given the grace window from the new incarnation's first look.
local room_sid, created = ARGV[4], tonumber(ARGV[5])
-- A room opened by a token of an ended show is no incarnation of it: the show stays ended.
if phase() == 'ended' then return {'ok', 0} end
local current = redis.call('HGET', STAGE, 'room_sid') or ''
if current == room_sid then return {'ok', 0} end
if current ~= '' and created <= tonumber(redis.call('HGET', STAGE, 'room_created') or 0) then return {'ok', 0} end
redis.call('HSET', STAGE, 'room_sid', room_sid, 'room_created', created)
if current ~= '' then
  local host = host_seat()
  if host then
    hold(host, '', 0)
    redis.call('HSET', STAGE, 'host', cjson.encode(host))
  end
  local guests = redis.call('HGETALL', GUESTS)
  for i = 1, #guests, 2 do
    local seat = cjson.decode(guests[i + 1])
    hold(seat, '', 0)
    redis.call('HSET', GUESTS, guests[i], cjson.encode(seat))
  end
end
touch()
return {'ok', 1}
