-- Shared by every step of a room's record (service/stores/redis_record.py prepends it).
-- KEYS: the room's keys, all under one hash tag, so a step touches one Cluster slot.
-- ARGV[1] now (ms, the caller's clock: never Redis TIME, so every store agrees and tests
-- control time), ARGV[2] the room's idle expiry (ms), ARGV[3] the deadline of a pending stage
-- change (ms); a step's own arguments follow from ARGV[4].
-- A step answers {'ok', ...} or {'refused', reason}; reasons are worded in Python. Redis does
-- not roll a script back, so a step decides every refusal before its first write.
local STAGE, GUESTS, HANDS, INVITATIONS, PENDING, RECORDINGS = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local MODERATORS, BANS = KEYS[7], KEYS[8]
-- The show's history: a stream of entries, ids "<sequence>-0" (append_history.lua).
local HISTORY = KEYS[9]
-- Who gave each invitation: identity -> {v, by, expires}. An entry counts only for the
-- invitation of its expiry, so one left behind (a version that knew no inviters withdrew or gave
-- the invitation again) names nobody. Kept when the invitation is accepted, while the promotion
-- is pending (a promotion LiveKit refuses gives it back, restore.lua, which names the inviter
-- again), and dropped once that promotion is settled (completed or landed), or the guest leaves
-- the stage; dropped too when the invitation expires or ends otherwise.
local INVITERS = KEYS[10]
-- What the room last heard of each participant's place on the stage (tell.lua): identity ->
-- {v, part ('guest' or 'viewer'), seat (the since of the seat it heard taken or ended), owed (a
-- change of the stage told nothing while a newer one was pending, or overwritten by a newer one
-- before it was told: its part, seat and words), mod (of its moderator's part: on, appointed at
-- `at`, or off, dismissed at `at`), dismissal (a moderator's dismissal a change of the stage
-- overwrote before it was told: its moment `at` and words, told before whatever the room hears
-- of the participant next)}. Dropped with whatever the participant held (forget), but for a
-- change off a part still pending, kept with it: the room hears that end as it always did. A
-- newer key than the others: a version that knows it not leaves it alone.
local HEARD = KEYS[11]
-- Which holder of its name each part is bound to (ShowRecords.bind): identity -> the holder mark
-- of the connection LiveKit had under the name when the part was given ('' for one whose token
-- carries no mark). Set by the step that gives the part (invite, appoint), kept while the
-- name holds it, and written again by the next part given: a free name's entry binds nothing. A
-- newer key than the others.
local HOLDERS = KEYS[12]
-- The participants a reconciler's passes are to look at on LiveKit (ShowRecords.doubt): identity
-- -> when the doubt is due (ms), written by doubt.lua (a change undone after LiveKit failed to
-- answer it) and appoint.lua (an appointment writes no pending change), settled by
-- settle_doubts.lua. A newer key than the others: a version that knows it not leaves it alone.
local DOUBTS = KEYS[13]
-- The viewers whose leave was heard while they kept a hand or an invitation through the grace
-- window (left.lua): identity -> when heard gone (ms), a sorted set, for any instance's pass to
-- let them go once the window is over (read_away.lua, settle_away.lua); and identity -> what
-- that leave kept, '<raised_at>|<invitation expiry>' ('' for none), in LEFT_BEHIND: only that
-- is let go (a hand raised again since is another). Newer keys.
local AWAY, LEFT_BEHIND = KEYS[14], KEYS[15]
local NOW, IDLE, BOUND = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local VERSION = 1

-- Every write keeps the whole room alive for IDLE more: a room nobody touches disappears. An
-- ended show keeps the retention its end gave it, whatever still writes to it; a key written
-- after the end (its history's last entries) expires with the rest of the room.
local function touch()
  if redis.call('HGET', STAGE, 'phase') == 'ended' then
    local left = redis.call('PTTL', STAGE)
    for i = 2, #KEYS do
      if left > 0 and redis.call('PTTL', KEYS[i]) == -1 then redis.call('PEXPIRE', KEYS[i], left) end
    end
    return
  end
  for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], IDLE) end
end

-- The show's phase: 'backstage', 'live', 'ended', or '' before a host opened it. A room hosted
-- by a version that knew no phases (hosted, no phase) is live, as it was to that version.
local function phase()
  local found = redis.call('HGET', STAGE, 'phase')
  if found then return found end
  if redis.call('HEXISTS', STAGE, 'hosted_by') == 1 then return 'live' end
  return ''
end

-- The phase and when the show reached each one (ms, '0' before), and when a reconciler is to
-- let a still waiting audience in ('0' once done).
local function life()
  local at = redis.call('HMGET', STAGE, 'opened_at', 'live_at', 'ended_at', 'release_due')
  return {phase(), at[1] or '0', at[2] or '0', at[3] or '0', at[4] or '0'}
end

local function refused(reason) return {'refused', reason} end

-- Whether `a` sorts before `b` byte by byte, as a sorted set orders the members of one score
-- (Lua's own `<` compares strings by the server's locale).
local function before(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- Doubts `identity` until the stage-change deadline from now (ShowRecords.doubt).
local function doubt(identity)
  redis.call('HSET', DOUBTS, identity, string.format('%d', NOW + BOUND))
end

local function decode(text) if text then return cjson.decode(text) end return nil end

-- Appends to `out` each hand of `found` (ZRANGE ... WITHSCORES: identity, score, ...) as identity,
-- when raised, and whether an open invitation waits for it (1/0).
local function with_invitations(found, out)
  for i = 1, #found, 2 do
    local until_ = redis.call('ZSCORE', INVITATIONS, found[i])
    out[#out + 1] = found[i]
    out[#out + 1] = found[i + 1]
    out[#out + 1] = (until_ and tonumber(until_) > NOW) and 1 or 0
  end
  return out
end

local function new_seat(identity, name, sid, joined_at)
  return cjson.encode({v = VERSION, identity = identity, name = name, since = NOW, sid = sid,
                       joined_at = tonumber(joined_at)})
end

local function host_seat() return decode(redis.call('HGET', STAGE, 'host')) end

-- When the seat's holder was first known gone (ms), or nil (seat_away.lua). An absence counts
-- only while the seat holds no newer connection than the one it was noted of: a version that
-- knows no absences may give the seat a newer one and leave the fields behind.
local function away(seat)
  if seat.away and tonumber(seat.away_joined or 0) >= tonumber(seat.joined_at or 0) then
    return tonumber(seat.away)
  end
  return nil
end

-- The seat held through the connection `sid` (joined at `joined_at`, ms; '' and 0 for none
-- known): whatever absence was noted is over (Seat.held_through).
local function hold(seat, sid, joined_at)
  seat.sid, seat.joined_at = sid, joined_at
  seat.away, seat.away_of, seat.away_joined = nil, nil, nil
end

-- Writes a host's or guest's seat (its `role`, as seat_of answers it) back as it now stands.
local function put_seat(role, seat)
  if role == 'host' then
    redis.call('HSET', STAGE, 'host', cjson.encode(seat))
  else
    redis.call('HSET', GUESTS, seat.identity, cjson.encode(seat))
  end
end

-- 'host', 'guest', 'moderator' or 'viewer', and the seat's record (nil but for a host or guest).
local function seat_of(identity)
  local host = host_seat()
  if host and host.identity == identity then return 'host', host end
  local guest = decode(redis.call('HGET', GUESTS, identity))
  if guest then return 'guest', guest end
  if redis.call('HEXISTS', MODERATORS, identity) == 1 then return 'moderator', nil end
  return 'viewer', nil
end

-- Whether `identity` is banned from the room: nobody banned is put forward (a hand, an
-- invitation, a seat, a moderator's part).
local function is_banned(identity) return redis.call('HEXISTS', BANS, identity) == 1 end

local function guest_limit(default)
  return tonumber(redis.call('HGET', STAGE, 'guest_limit') or default)
end

local function expire_invitations()
  local gone = redis.call('ZRANGEBYSCORE', INVITATIONS, '-inf', NOW)
  if #gone == 0 then return end
  redis.call('ZREMRANGEBYSCORE', INVITATIONS, '-inf', NOW)
  for i = 1, #gone, 1000 do redis.call('HDEL', INVITERS, unpack(gone, i, math.min(i + 999, #gone))) end
end

-- Ends `identity`'s invitation and forgets who gave it; answers 1 if it had one, else 0.
local function withdraw_invitation(identity)
  redis.call('HDEL', INVITERS, identity)
  return redis.call('ZREM', INVITATIONS, identity)
end

-- Drops who gave `identity` the invitation it accepted, kept while its promotion was pending
-- (see INVITERS): unless an invitation is open for it again, nobody asks any more.
local function settle_inviter(identity)
  if not redis.call('ZSCORE', INVITATIONS, identity) then redis.call('HDEL', INVITERS, identity) end
end

-- Who gave `identity` its invitation that expires at `expires` (ms), '' if not known.
local function inviter(identity, expires)
  local kept = decode(redis.call('HGET', INVITERS, identity))
  if kept and tonumber(kept.expires) == tonumber(expires) then return kept.by or '' end
  return ''
end

-- The participant's part as it stands: guest seat, hand, invitation ('' where none).
-- Whether a token claiming `claimed` ('=' and its holder mark, '=' alone for an unmarked token;
-- '' for the room's admin: any part) may act with the part `identity` holds: bound to nobody, or
-- to that holder.
local function holds(identity, claimed)
  if claimed == '' then return true end
  local bound = redis.call('HGET', HOLDERS, identity)
  return not bound or '=' .. bound == claimed
end

-- Binds `identity`'s part to `holder` ('=' and the holder mark), to nobody ('': not known), or
-- leaves it as it is ('~': a part given back).
local function bind(identity, holder)
  if holder == '~' then return end
  if holder == '' then redis.call('HDEL', HOLDERS, identity)
  else redis.call('HSET', HOLDERS, identity, string.sub(holder, 2)) end
end

local function standing(identity)
  return {redis.call('HGET', GUESTS, identity) or '', redis.call('ZSCORE', HANDS, identity) or '',
          redis.call('ZSCORE', INVITATIONS, identity) or ''}
end

-- What the room is owed of a change that goes before it was told: a newer change overwrites it,
-- or drops it. A change that landed (land.lua) is owed with the words its call kept; with
-- `overwritten` (a newer change of the participant is written over it), so is one that has not
-- landed yet but was written with words of its own (a change off a part: intend's `words`), as
-- a change told while a newer one is pending is (tell.lua): the room hears it before the newer
-- one, or by the undo of the newer one, should LiveKit refuse it. A moderator's dismissal is
-- owed apart (`dismissal`), by its own rule, and only when overwritten: dropped, it was undone
-- (appointed again).
local function owe(identity, pending, overwritten)
  if not pending or (pending.words or '') == '' or not (pending.landed or overwritten) then return end
  local heard = decode(redis.call('HGET', HEARD, identity)) or {v = VERSION}
  if pending.part == 'moderator' then
    if not overwritten then return end
    heard.dismissal = {at = tonumber(pending.ended) or 0, words = pending.words}
  else
    local part = 'viewer'
    if pending.change == 'promote' then part = 'guest' end
    heard.owed = {part = part, seat = pending.ended or 0, words = pending.words}
  end
  redis.call('HSET', HEARD, identity, cjson.encode(heard))
end

-- Drops `identity`'s pending change (a newer step of the participant supersedes it); one that
-- landed and was not told yet is owed to the room instead.
local function drop_change(identity)
  owe(identity, decode(redis.call('HGET', PENDING, identity)), false)
  redis.call('HDEL', PENDING, identity)
end

-- A pending change, named by the id its caller gave it (none if it gave '', as an older version
-- wrote them): complete.lua clears it for the call that wrote it only. An older version reading
-- the id ignores it (it decodes the fields it knows), and clears it by its kind. `part` is the
-- part it puts the participant into or takes it out of ('guest' or 'moderator'), so that a
-- reconciler that finishes it knows what the room is to hear (an older version writes none).
-- A change off a part may be written with the words the room is to hear it in (`words`, and
-- `ended`: the since of the seat it ends, or the dismissal's moment), should a newer change
-- overwrite it before its call has landed it (see owe). Once its call has made it on LiveKit,
-- land.lua marks it `landed`, with the words the room is owed, until it is told (tell.lua); an
-- older version reads such a change as still pending, and past its deadline finishes and tells
-- it as its reconciler always did.
local function intend(identity, change, id, part, ended, words)
  owe(identity, decode(redis.call('HGET', PENDING, identity)), true)
  if id == '' then id = nil end
  local pending = {v = VERSION, change = change, since = NOW, deadline = NOW + BOUND, id = id, part = part}
  if words and words ~= '' then pending.ended, pending.words = ended, words end
  redis.call('HSET', PENDING, identity, cjson.encode(pending))
end

local function take_seat(viewer, sid, joined_at, change_id)
  redis.call('HSET', GUESTS, viewer, new_seat(viewer, viewer, sid, joined_at))
  redis.call('ZREM', HANDS, viewer)
  redis.call('ZREM', INVITATIONS, viewer)  -- who gave it stays: see INVITERS
  intend(viewer, 'promote', change_id, 'guest')
end

-- The host's own steps: `acting` must hold the host seat ('' is the room's admin).
local function is_host(acting)
  if acting == '' then return true end
  local host = host_seat()
  return host ~= nil and host.identity == acting
end

-- The stage managers' steps: `acting` is the host or a moderator ('' is the room's admin).
local function is_manager(acting)
  return is_host(acting) or redis.call('HEXISTS', MODERATORS, acting) == 1
end

-- An event about another incarnation of the room changes nothing; the first one seen names it.
local function same_incarnation(room_sid)
  if room_sid == '' then return true end
  local current = redis.call('HGET', STAGE, 'room_sid')
  if not current or current == '' then
    -- Only a record that holds a seat is named by an event: one that holds none may have been
    -- lost (Redis emptied), and must stay `lost` until the reconciler gives the seats back.
    if redis.call('HEXISTS', STAGE, 'host') == 1 or redis.call('HLEN', GUESTS) > 0 then
      redis.call('HSET', STAGE, 'room_sid', room_sid)
      touch()
    end
    return true
  end
  return current == room_sid
end

-- Frees whatever `identity` held. A change off a part still pending (a guest's demotion or
-- removal, a moderator's dismissal) is kept, with what the room heard of the participant: the
-- room, which may have heard it on stage last, is to hear it leave, once, by that change's call
-- or the reconciler that finishes it, whichever comes first (a leave that found it a viewer
-- already freed no seat whose end the room would hear).
local function forget(identity)
  local role = seat_of(identity)
  if role == 'host' then redis.call('HDEL', STAGE, 'host') end
  redis.call('HDEL', GUESTS, identity)
  redis.call('ZREM', HANDS, identity)
  withdraw_invitation(identity)
  local pending = decode(redis.call('HGET', PENDING, identity))
  if not pending or pending.change == 'promote' then
    redis.call('HDEL', PENDING, identity)
    redis.call('HDEL', HEARD, identity)
  end
  redis.call('HDEL', MODERATORS, identity)
  return role
end

-- What the room heard of a participant gone from it that held nothing (a guest demoted, or a
-- moderator dismissed, who then left as a viewer; or one whose hand or invitation, kept through
-- its reconnect window, went after it): dropped as forget drops it, unless a change of it is
-- still pending (kept with it, so that the room hears that change once). Answers 1 if dropped.
local function forget_heard(identity)
  if redis.call('HEXISTS', PENDING, identity) == 1 then return 0 end
  return redis.call('HDEL', HEARD, identity)
end

local function active(recording) return recording.status <= 2 end
