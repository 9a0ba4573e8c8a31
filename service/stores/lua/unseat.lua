-- ARGV: guest, change (demote/remove), acting (the host or a moderator; '' for the guest itself
-- or the admin), the change's id, the words the room is to hear it in ('' for none: see intend).
local guest, change, acting, change_id, words = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
if not is_manager(acting) then return refused('not_host') end
local seat = redis.call('HGET', GUESTS, guest)
if not seat then return refused('guest_not_found') end
redis.call('HDEL', GUESTS, guest)
settle_inviter(guest)  -- off the stage: its promotion is overtaken, and no undo names the inviter
intend(guest, change, change_id, 'guest', cjson.decode(seat).since, words)
touch()
return {'ok', seat}
