-- ARGV: identity, part ('guest': it went on stage; 'viewer': it left it; 'moderator': it was
-- appointed, or with `ended` dismissed), the since (ms) of the seat a demotion ended (0 for a
-- promotion; a dismissal's moment; 0 for an appointment), the change's words ('' for the undo of a newer
-- change, which has none of its own), the id of the landed change told ('' for none: see
-- land.lua), which is no longer pending once told. Whether the room is to hear of the change,
-- and in which words: answers the words to tell, in order (none for nothing to tell). The rules
-- are ShowCore._tell's (see "changes whose LiveKit calls cross" in service/core/show.py):
-- * a moderator's dismissal a change of the stage overwrote before it was told goes first, by
--   the moderator's rule, unless this is the telling of that dismissal or a later one;
-- * a newer change of the participant still pending tells for itself: nothing now, but a change
--   with words is owed, should LiveKit refuse that newer one and its undo leave this one standing;
-- * otherwise the record's part must be `part`, and the room must not have heard it already: on
--   stage in the seat it holds now, or off stage at all;
-- * on stage again in a newer seat, with the older seat's end owed (its change was overwritten
--   before it was told), or off stage again with a promotion owed, the owed change goes first:
--   the room never hears the same place twice in a row, and what it missed it hears in order;
-- * the undo of a newer change tells only what such a change left owed, in its words.
local identity, part, ended, words, change_id = ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7], ARGV[8]
-- A room that is gone (retired, expired, never opened) hears nothing, and gains no key: what it
-- heard would outlive the rest of it (the memory store answers nothing the same way).
if redis.call('EXISTS', unpack(KEYS)) == 0 then return {'ok', {}} end
local heard = decode(redis.call('HGET', HEARD, identity))
local pending = decode(redis.call('HGET', PENDING, identity))
local told, wrote = {}, false
if pending and pending.landed and change_id ~= '' and pending.id == change_id then
  -- The landed change this telling is of: told now, by whoever comes first.
  redis.call('HDEL', PENDING, identity)
  wrote, pending = true, nil
end

local appointed = decode(redis.call('HGET', MODERATORS, identity))
-- A moderator's part is apart from the stage's: a dismissal at `at` is told unless the record
-- holds the moderator appointed again, or the room heard it dismissed at that moment or later.
local function dismissal_told(at, with)
  local mod = heard and heard.mod
  if appointed or (mod and not mod.on and tonumber(mod.at) >= at) then return end
  heard = heard or {v = VERSION}
  heard.mod, wrote = {on = false, at = at}, true
  told[#told + 1] = with
end

local function answer()
  if wrote then
    if heard then redis.call('HSET', HEARD, identity, cjson.encode(heard)) end
    touch()
  end
  return {'ok', told}
end

local dismissal = heard and heard.dismissal
if dismissal then
  heard.dismissal, wrote = nil, true
  local at = tonumber(dismissal.at) or 0
  if not (part == 'moderator' and ended ~= 0 and ended >= at) then dismissal_told(at, dismissal.words) end
end

if part == 'moderator' then
  -- An appointment (`ended` 0) is told unless the record no longer holds it, or the room heard
  -- it appointed and never heard it dismissed since; a dismissal (`ended`: its moment) as
  -- dismissal_told says. A change of the stage pending does not wait it.
  if words == '' then return answer() end
  if ended ~= 0 then
    dismissal_told(ended, words)
    return answer()
  end
  local mod = heard and heard.mod
  if not appointed or (mod and mod.on) then return answer() end
  heard = heard or {v = VERSION}
  heard.mod, wrote = {on = true, at = tonumber(appointed.since) or 0}, true
  told[#told + 1] = words
  return answer()
end
if pending then
  if words == '' then return answer() end
  heard = heard or {v = VERSION}
  heard.owed, wrote = {part = part, seat = ended, words = words}, true
  return answer()
end
local owed = heard and heard.owed
if owed then heard.owed, wrote = nil, true end
local role, seat = seat_of(identity)
if (role == 'guest') ~= (part == 'guest') or role == 'host' then return answer() end
if words == '' then
  if not owed or owed.part ~= part then return answer() end
  words, ended, owed = owed.words, tonumber(owed.seat), nil
end
local at = part == 'guest' and seat.since or ended
if heard and heard.part == part then
  if part == 'guest' and tonumber(heard.seat) == at then return answer() end
  -- The room heard this place last, of an older seat: what it missed since is owed, or it
  -- hears nothing (never the same place twice in a row).
  if not owed or owed.part == part then return answer() end
  if part == 'guest' and tonumber(owed.seat) < tonumber(heard.seat) then return answer() end
  told[#told + 1] = owed.words
end
heard = heard or {v = VERSION}
heard.part, heard.seat, wrote = part, at, true
told[#told + 1] = words
return answer()
