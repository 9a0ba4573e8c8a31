-- ARGV: placeholder id, layout, recordings kept
local placeholder, layout, kept = ARGV[4], ARGV[5], tonumber(ARGV[6])
for _, text in ipairs(redis.call('HVALS', RECORDINGS)) do
  if active(cjson.decode(text)) then return refused('already_recording') end
end
local seq = redis.call('HINCRBY', STAGE, 'recording_seq', 1)
redis.call('HSET', RECORDINGS, placeholder, cjson.encode({v = VERSION, id = placeholder, layout = layout, status = 0,
  started_at = NOW, ended_at = 0, location = '', error = '', seq = seq}))
-- At most `kept` recordings, the oldest dropped first (a handful, so a scan is cheap).
while redis.call('HLEN', RECORDINGS) > kept do
  local oldest, oldest_seq = nil, nil
  local all = redis.call('HGETALL', RECORDINGS)
  for i = 1, #all, 2 do
    local s = cjson.decode(all[i + 1]).seq or 0
    if oldest_seq == nil or s < oldest_seq then oldest, oldest_seq = all[i], s end
  end
  redis.call('HDEL', RECORDINGS, oldest)
end
touch()
return {'ok'}
