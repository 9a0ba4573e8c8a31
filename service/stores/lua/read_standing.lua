-- ARGV: identity. Its role, standing (guest seat, hand, invitation still open) and whether it is
-- banned (1/0), the show's phase, whether it last took the host seat (1/0), and who gave its
-- open invitation ('' if none or not known), and the holder its part is bound to (nil: nobody).
local identity = ARGV[4]
local role = seat_of(identity)
local found = standing(identity)
if found[3] ~= '' and tonumber(found[3]) <= NOW then found[3] = '' end
local hosted = redis.call('HGET', STAGE, 'hosted_by') == identity and 1 or 0
local by = found[3] ~= '' and inviter(identity, found[3]) or ''
return {'ok', role, found[1], found[2], found[3], redis.call('HEXISTS', BANS, identity), phase(), hosted, by,
        redis.call('HGET', HOLDERS, identity)}
