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
if invited and tonumber(invited) == tonumber(ARGV[6]) then withdraw_invitation(identity) end
return {'ok', lowered}
