-- ARGV: placeholder id, layout, recordings kept (of each kind), kind ('recording' or 'stream';
-- records without one are recordings), a stream's destination names joined by commas
local placeholder, layout, kept, kind, destinations = ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7], ARGV[8]
local function kind_of(recording) return recording.kind or 'recording' end
for _, text in ipairs(redis.call('HVALS', RECORDINGS)) do
  local held = cjson.decode(text)
  if active(held) and kind_of(held) == kind then
    return refused(kind == 'stream' and 'already_streaming' or 'already_recording')
  end
end
local seq = redis.call('HINCRBY', STAGE, 'recording_seq', 1)
redis.call('HSET', RECORDINGS, placeholder, cjson.encode({v = VERSION, id = placeholder, layout = layout, status = 0,
  started_at = NOW, ended_at = 0, location = '', error = '', seq = seq, kind = kind, destinations = destinations}))
-- At most `kept` of each kind, the oldest dropped first (a few dozen, so a scan is cheap).
while true do
  local oldest, oldest_seq, count = nil, nil, 0
  local all = redis.call('HGETALL', RECORDINGS)
  for i = 1, #all, 2 do
    local held = cjson.decode(all[i + 1])
    if kind_of(held) == kind then
      count = count + 1
      local s = held.seq or 0
      if oldest_seq == nil or s < oldest_seq then oldest, oldest_seq = all[i], s end
    end
  end
  if count <= kept then break end
  redis.call('HDEL', RECORDINGS, oldest)
end
touch()
return {'ok'}
