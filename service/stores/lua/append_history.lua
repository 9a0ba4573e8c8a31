-- ARGV: the history's cap (entries kept), then the entry's fields as name, value pairs (empty
-- values are left out). Answers the entry's sequence number: one more than the last kept
-- entry's (ids are "<sequence>-0"), 1 for a room without history. O(1) whatever the history's
-- length: XREVRANGE with COUNT 1 reads the last entry, and MAXLEN drops the oldest past the cap
-- (exactly, not "~", so the memory store keeps the very same entries).
local cap = tonumber(ARGV[4])
local last = redis.call('XREVRANGE', HISTORY, '+', '-', 'COUNT', 1)
local sequence = 1
if #last > 0 then sequence = tonumber(string.match(last[1][1], '^(%d+)')) + 1 end
local fields = {'v', VERSION}
for i = 5, #ARGV - 1, 2 do
  if ARGV[i + 1] ~= '' then
    fields[#fields + 1] = ARGV[i]
    fields[#fields + 1] = ARGV[i + 1]
  end
end
redis.call('XADD', HISTORY, 'MAXLEN', cap, string.format('%d-0', sequence), unpack(fields))
touch()
return {'ok', sequence}
