-- The stage, counts of hands and live invitations, recordings, pending changes, moderators and
-- the count of bans, the show's life (phase and times), and the participants doubted, and the count of viewers away, at once.
-- ARGV: '1' to add the banned identities (the recent read's, for refusing a banned caller's token).
local read = {'ok', redis.call('HGET', STAGE, 'host') or '', redis.call('HGETALL', GUESTS),
              redis.call('HGET', STAGE, 'guest_limit') or '', redis.call('HGET', STAGE, 'room_sid') or '',
              redis.call('ZCARD', HANDS), redis.call('ZCOUNT', INVITATIONS, '(' .. NOW, '+inf'),
              redis.call('HGETALL', RECORDINGS), redis.call('HGETALL', PENDING), redis.call('HGETALL', MODERATORS),
              redis.call('HLEN', BANS), life(), redis.call('HGETALL', DOUBTS),
              redis.call('ZCARD', AWAY)}
if ARGV[4] == '1' then read[#read + 1] = redis.call('HKEYS', BANS) end
return read
