-- ARGV: identity, raised_at (ms, '' for none), the invitation's expiry (ms, '' for none). Lowers
-- the hand and withdraws the invitation a viewer who is gone left behind, each only if it is
-- still the one seen (not raised or given again since); answers whether the hand went down. No
-- touch(): the reconciler tidying a room is not the show's activity.
local identity = ARGV[4]
local lowered = 0
local raised = redis.call('ZSCORE', HANDS, identity)
if raised and tonumber(raised) == tonumber(ARGV[5]) then
  redis.call('ZREM', HANDS, identity)
  lowered = 1
end
local invited = redis.call('ZSCORE', INVITATIONS, identity)
local withdrawn = invited and tonumber(invited) == tonumber(ARGV[6])
if withdrawn then withdraw_invitation(identity) end
-- Gone, it holds nothing now (its leave kept these through its window): as left.lua's not_held.
if (lowered == 1 or withdrawn) and seat_of(identity) == 'viewer' then forget_heard(identity) end
return {'ok', lowered}
