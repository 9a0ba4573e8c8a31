-- ARGV: identity, participant sid, its joined_at (ms, 0 if unknown), the event's created_at
-- (ms), room sid, keep (1/0: a reconnect grace window). Answers the verdict, the role freed (''
-- for none), whether a raised hand went down with it (1/0), and, for a viewer kept through the
-- window, its hand's raised_at and its invitation's expiry ('' where none): nothing is freed then.
local identity, sid, joined_at, at, room_sid = ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
if not same_incarnation(room_sid) then return {'ok', 'stale', ''} end
local role, seat = seat_of(identity)
local raised, invited = redis.call('ZSCORE', HANDS, identity), redis.call('ZSCORE', INVITATIONS, identity)
-- An expired invitation is none, whether or not a step has cleared it yet.
if invited and tonumber(invited) <= NOW then invited = false end
if seat then
  local held_by = seat.sid or ''
  if held_by == '' then
    -- Never seen connected: only a leave from before the seat's own second is older (LiveKit's
    -- created_at counts whole seconds, and a guest may leave in the second it was seated).
    if at < seat.since - seat.since % 1000 then return {'ok', 'stale', ''} end
  elseif held_by ~= sid then
    -- Another connection holds the seat: only a newer one than it, that we never saw join,
    -- leaving means the holder is gone.
    if joined_at <= tonumber(seat.joined_at or 0) then return {'ok', 'stale', ''} end
  end
elseif not raised and not invited then
  -- It frees nothing, and no activity is marked; what the room heard of a viewer goes
  -- (forget_heard). A moderator keeps its part through a leave, and what the room heard of it.
  if seat_of(identity) == 'viewer' then forget_heard(identity) end
  return {'ok', 'not_held', ''}
elseif ARGV[9] == '1' then
  -- The viewer may be reloading its page: its hand keeps its place and its invitation stands
  -- (an expired one is none).
  -- Any instance's pass lets go of them once the window is over (AWAY), should this one die.
  if raised or invited then
    redis.call('ZADD', AWAY, NOW, identity)
    redis.call('HSET', LEFT_BEHIND, identity, (raised or '') .. '|' .. (invited or ''))
    touch()
    return {'ok', 'applied', '', 0, raised or '', invited or ''}
  end
end
local hand = raised and 1 or 0
local freed = forget(identity)
touch()
return {'ok', 'applied', freed, hand}
