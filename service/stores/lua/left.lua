-- ARGV: identity, participant sid, its joined_at (ms, 0 if unknown), the event's created_at
-- (ms), room sid. Answers the verdict, the role freed ('' for none) and whether a raised hand
-- went down with it (1/0).
local identity, sid, joined_at, at, room_sid = ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
if not same_incarnation(room_sid) then return {'ok', 'stale', ''} end
local role, seat = seat_of(identity)
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
elseif not redis.call('ZSCORE', HANDS, identity) and not redis.call('ZSCORE', INVITATIONS, identity) then
  return {'ok', 'not_held', ''}
end
local hand = redis.call('ZSCORE', HANDS, identity) and 1 or 0
local freed = forget(identity)
touch()
return {'ok', 'applied', freed, hand}
