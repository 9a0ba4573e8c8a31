-- ARGV: the history's cap (entries kept), then the entry's fields as name, value pairs (always
-- the same names, so that Redis keeps them once per block of entries rather than with each one).
-- Answers the entry's sequence number: one more than the last kept entry's (ids are
-- "<sequence>-0"), 1 for a room without history. O(1) whatever the history's length: XREVRANGE
-- with COUNT 1 reads the last entry, and MAXLEN drops the oldest past the cap (exactly, not "~",
-- so the memory store keeps the very same entries).
-- A room that is gone (retired, expired, never written to) gains no history: an entry that comes
-- after its record went (a change told as room_finished retires it) would start a history of its
-- own, which a new show under the same name would read as its first entries. Answers 0, writing
-- nothing (the memory store does the same).
if redis.call('EXISTS', unpack(KEYS)) == 0 then return {'ok', 0} end
local cap = tonumber(ARGV[4])
local last = redis.call('XREVRANGE', HISTORY, '+', '-', 'COUNT', 1)
local sequence = 1
if #last > 0 then sequence = tonumber(string.match(last[1][1], '^(%d+)')) + 1 end
redis.call('XADD', HISTORY, 'MAXLEN', cap, string.format('%d-0', sequence), unpack(ARGV, 5))
touch()
return {'ok', sequence}
