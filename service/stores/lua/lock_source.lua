-- ARGV: guest, source, locked (1/0), how many sources a guest has. Takes the source from the
-- guest's seat (or gives it back); answers the locked sources after, as a JSON list. A change still
-- pending for the guest (its promotion) goes: this one is newer (see ShowRecords.lock_source).
-- One that landed already stays, to be told: LiveKit has it, and a lock moves nobody's place.
local guest, source, locked, sources = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local seat = decode(redis.call('HGET', GUESTS, guest))
if not seat then return refused('guest_not_found') end
local after, seen = {}, false
for _, held in ipairs(seat.locked or {}) do
  if held == source then seen = true end
  if held ~= source or locked == '1' then table.insert(after, held) end
end
if locked == '1' and not seen then table.insert(after, source) end
if #after >= sources then return refused('last_source') end
table.sort(after)
if #after == 0 then seat.locked = nil else seat.locked = after end
redis.call('HSET', GUESTS, guest, cjson.encode(seat))
local pending = decode(redis.call('HGET', PENDING, guest))
if pending and not pending.landed then redis.call('HDEL', PENDING, guest) end
touch()
if #after == 0 then return {'ok', '[]'} end
return {'ok', cjson.encode(after)}
