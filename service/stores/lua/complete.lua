-- ARGV: identity, change, the change's id. Only the call that wrote a change clears it: a newer
-- one of the same kind (promoted, demoted, promoted again) is its own call's to clear. One an
-- older version wrote, without an id, is cleared by its kind, as that version clears it. One that
-- landed (land.lua) was cleared of LiveKit already: what is left of it is tell.lua's. A promotion
-- cleared is settled: who gave the invitation it accepted goes (see INVITERS).
local pending = decode(redis.call('HGET', PENDING, ARGV[4]))
if not pending or pending.change ~= ARGV[5] or pending.landed then return {'ok', 0} end
if pending.id and pending.id ~= ARGV[6] then return {'ok', 0} end
redis.call('HDEL', PENDING, ARGV[4])
if pending.change == 'promote' then settle_inviter(ARGV[4]) end  -- settled: no undo names it now
return {'ok', 1}
