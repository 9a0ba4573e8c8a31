-- ARGV: identity, the sid of the connection known gone ('' for a holder never seen connected).
-- Notes the seat's holder away since now, unless it is noted already (the first moment stays)
-- or another connection holds the seat by now. Answers 1 when the seat is (or was) noted away.
-- The absence names the connection it was noted of (away_of): a version that knows no absences
-- may give the seat another connection and leave the field behind, which then counts for nothing.
local identity, sid = ARGV[4], ARGV[5]
local role, seat = seat_of(identity)
if not seat or (seat.sid or '') ~= sid then return {'ok', 0} end
if away(seat) then return {'ok', 1} end
seat.away, seat.away_of = NOW, sid
put_seat(role, seat)
touch()
return {'ok', 1}
