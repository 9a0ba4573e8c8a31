-- ARGV: identity. Its role, standing (guest seat, hand, invitation still open) and whether it is
-- banned (1/0), and the show's phase.
local identity = ARGV[4]
local role = seat_of(identity)
local found = standing(identity)
if found[3] ~= '' and tonumber(found[3]) <= NOW then found[3] = '' end
return {'ok', role, found[1], found[2], found[3], redis.call('HEXISTS', BANS, identity), phase()}
