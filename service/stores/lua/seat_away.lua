-- ARGV: identity, the sid and joined_at (ms) of the connection known gone ('' and 0 for a holder
-- never seen connected). Notes the seat's holder away since now (away, and the connection in
-- away_of and away_joined), unless an absence is noted already of that connection or a newer
-- one (the first moment stays); one of an older connection starts again, the holder was back
-- in between. Nothing is noted if a newer connection than the one gone holds the seat. Answers 1
-- when the holder is (now) away.
local identity, sid, joined_at = ARGV[4], ARGV[5], tonumber(ARGV[6])
local role, seat = seat_of(identity)
if not seat then return {'ok', 0} end
local held_by, held_since = seat.sid or '', tonumber(seat.joined_at or 0)
if held_by ~= '' and held_by ~= sid and joined_at <= held_since then return {'ok', 0} end
-- The seat's own connection joined when the seat says, whatever time the leave carries (none, or
-- whole seconds).
if held_by == sid and held_since > joined_at then joined_at = held_since end
if away(seat) and (seat.away_of == sid or tonumber(seat.away_joined or 0) > joined_at) then return {'ok', 1} end
seat.away, seat.away_of, seat.away_joined = NOW, sid, joined_at
put_seat(role, seat)
touch()
return {'ok', 1}
