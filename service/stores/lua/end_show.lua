-- ARGV: how long the ended show is kept (ms). The show is over: its seats, hands, invitations,
-- pending changes, moderators, doubts and viewers away end with it; its recordings, times and bans are kept (a banned
-- token stays refused, a banned former host reads nothing it kept), and its phase keeps it
-- locked until the whole room expires. Ending an ended show changes
-- nothing. Answers whether it ended now (1/0) and the show's life.
local keep = tonumber(ARGV[4])
local ended = 0
if phase() ~= 'ended' then
  redis.call('HDEL', STAGE, 'host', 'release_due')
  redis.call('HSET', STAGE, 'phase', 'ended', 'ended_at', NOW)
  redis.call('DEL', GUESTS, HANDS, INVITATIONS, INVITERS, PENDING, MODERATORS, HEARD, HOLDERS, DOUBTS, AWAY, LEFT_BEHIND)
  for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], keep) end
  ended = 1
end
local found = life()
return {'ok', ended, found[1], found[2], found[3], found[4], found[5]}
