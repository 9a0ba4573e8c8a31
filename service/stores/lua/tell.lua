-- ARGV: identity, part ('guest': it went on stage; 'viewer': it left it; 'moderator': it was
-- appointed, or with `ended` dismissed), the since (ms) of the seat a demotion ended (0 for a
-- promotion; a dismissal's moment; 0 for an appointment), the change's words ('' for the undo of a newer
-- change, which has none of its own), the id of the landed change told ('' for none: see
-- land.lua), which is no longer pending once told. Whether the room is to hear of the change,
-- and in which words: answers them, or '' for nothing to tell. The rules are ShowCore._tell's (see "changes
-- whose LiveKit calls cross" in service/core/show.py):
-- * a newer change of the participant still pending tells for itself: nothing now, but a change
--   with words is owed, should LiveKit refuse that newer one and its undo leave this one standing;
-- * otherwise the record's part must be `part`, and the room must not have heard it already: on
--   stage in the seat it holds now, or off stage after the end of this seat or a later one;
-- * the undo of a newer change tells only what such a change left owed, in its words.
local identity, part, ended, words, change_id = ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7], ARGV[8]
local heard = decode(redis.call('HGET', HEARD, identity))
local pending = decode(redis.call('HGET', PENDING, identity))
if pending and pending.landed and change_id ~= '' and pending.id == change_id then
  -- The landed change this telling is of: told now, by whoever comes first.
  redis.call('HDEL', PENDING, identity)
  touch()
  pending = nil
end
if part == 'moderator' then
  -- A moderator's part is apart from the stage's: an appointment (`ended` 0) is told unless the
  -- record no longer holds it, or the room heard it appointed and never heard it dismissed since;
  -- a dismissal (`ended`: its moment) unless the record holds it appointed again, or the room
  -- heard it dismissed at that moment or later. A change of the stage pending does not wait it.
  if words == '' then return {'ok', ''} end
  local appointed = decode(redis.call('HGET', MODERATORS, identity))
  local mod = heard and heard.mod
  if ended == 0 then
    if not appointed or (mod and mod.on) then return {'ok', ''} end
    mod = {on = true, at = tonumber(appointed.since) or 0}
  else
    if appointed or (mod and not mod.on and tonumber(mod.at) >= ended) then return {'ok', ''} end
    mod = {on = false, at = ended}
  end
  heard = heard or {v = VERSION}
  heard.mod = mod
  redis.call('HSET', HEARD, identity, cjson.encode(heard))
  touch()
  return {'ok', words}
end
if pending then
  if words == '' then return {'ok', ''} end
  heard = heard or {v = VERSION}
  heard.owed = {part = part, seat = ended, words = words}
  redis.call('HSET', HEARD, identity, cjson.encode(heard))
  touch()
  return {'ok', ''}
end
local owed = heard and heard.owed
if owed then
  heard.owed = nil
  redis.call('HSET', HEARD, identity, cjson.encode(heard))
  touch()
end
local role, seat = seat_of(identity)
if (role == 'guest') ~= (part == 'guest') or role == 'host' then return {'ok', ''} end
if words == '' then
  if not owed or owed.part ~= part then return {'ok', ''} end
  words, ended = owed.words, tonumber(owed.seat)
end
local at = part == 'guest' and seat.since or ended
if heard and heard.part == part then
  if part == 'guest' and tonumber(heard.seat) == at then return {'ok', ''} end
  if part == 'viewer' and tonumber(heard.seat) >= at then return {'ok', ''} end
end
heard = heard or {v = VERSION}
heard.part, heard.seat = part, at
redis.call('HSET', HEARD, identity, cjson.encode(heard))
touch()
return {'ok', words}
