-- ARGV: after (when the previous page's last hand went up, ms; '' for the first page), that
-- hand's identity, count. Up to `count` hands after that place in (raised at, identity) order,
-- each with whether an invitation waits, and the queue's length. The place's own hand may be down
-- by now: the first later hand is found by rank, a binary search among the hands raised in that
-- same millisecond (members of one score are in byte order), so a page costs O(log n + count)
-- whatever the queue's length and nothing still raised repeats or is skipped.
local count, start = tonumber(ARGV[6]), 0
if ARGV[4] ~= '' then
  local lo = redis.call('ZCOUNT', HANDS, '-inf', '(' .. ARGV[4])
  local hi = lo + redis.call('ZCOUNT', HANDS, ARGV[4], ARGV[4])
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if before(ARGV[5], redis.call('ZRANGE', HANDS, mid, mid)[1]) then hi = mid else lo = mid + 1 end
  end
  start = lo
end
local out = {}
if count > 0 then with_invitations(redis.call('ZRANGE', HANDS, start, start + count - 1, 'WITHSCORES'), out) end
return {'ok', redis.call('ZCARD', HANDS), out}
