-- ARGV: guest, change (demote/remove), acting ('' for the guest itself or the admin).
local guest, change, acting = ARGV[4], ARGV[5], ARGV[6]
if not is_host(acting) then return refused('not_host') end
local seat = redis.call('HGET', GUESTS, guest)
if not seat then return refused('guest_not_found') end
redis.call('HDEL', GUESTS, guest)
intend(guest, change)
touch()
return {'ok', seat}
