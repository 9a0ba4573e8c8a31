-- ARGV: identity, change, the change's id, ended (ms: the since of the seat a change off the stage
-- ended, or a dismissal's moment; 0 for a promotion), the words the room is to hear it in. The
-- call that wrote the change has made it on LiveKit: it is no longer owed to LiveKit, and in the
-- same step what the room is owed of it is kept with it, until tell.lua tells it (the call, or a
-- reconciler past its new deadline should the call's instance die first). Answers 1 if it was
-- still this call's change (as complete.lua), else 0 and nothing changes. One an older version
-- wrote, without an id, is landed by its kind, and named by this call's id from now on. A
-- promotion landed is settled: who gave the invitation it accepted goes (see INVITERS).
local identity, change, change_id, ended, words = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8]
local pending = decode(redis.call('HGET', PENDING, identity))
if not pending or pending.change ~= change or pending.landed then return {'ok', 0} end
if pending.id and pending.id ~= change_id then return {'ok', 0} end
if change_id ~= '' then pending.id = change_id end
pending.landed, pending.ended, pending.words, pending.deadline = true, ended, words, NOW + BOUND
redis.call('HSET', PENDING, identity, cjson.encode(pending))
if change == 'promote' then settle_inviter(identity) end  -- settled: no undo names it now
touch()
return {'ok', 1}
