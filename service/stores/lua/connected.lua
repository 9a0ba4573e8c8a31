-- ARGV: identity, participant sid, joined_at (ms), room sid, listed (ms: when LiveKit was asked
-- for the listing that has the connection; '' for an event saying it joined). Answers the
-- verdict, and 1 after it when it wrote (the seat took this connection, or its holder is no
-- longer away).
local identity, sid, joined_at, room_sid, listed = ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
if not same_incarnation(room_sid) then return {'ok', 'stale'} end
local role, seat = seat_of(identity)
if not seat then return {'ok', 'not_held'} end
local held_by, held_since, since = seat.sid or '', tonumber(seat.joined_at or 0), away(seat)
if held_by == sid and held_since ~= 0 and not since then return {'ok', 'applied'} end
-- A late join of an older connection must not take the seat from the newer one.
if held_by ~= '' and held_by ~= sid and held_since > joined_at then return {'ok', 'stale'} end
-- Nor end an absence: the connection whose leave was heard, or an older one, is gone. LiveKit's
-- own listing of it says otherwise, and decides, unless the leave was heard after it.
if since and (not listed or since > listed) and (seat.away_of == sid or tonumber(seat.away_joined or 0) > joined_at) then
  return {'ok', 'stale'}
end
-- The connection the seat knew already keeps the join time it was heard with.
if held_by == sid and held_since ~= 0 then joined_at = held_since end
hold(seat, sid, joined_at)
put_seat(role, seat)
touch()
return {'ok', 'applied', 1}  -- and it wrote: the caller marks the room written to
