-- ARGV: placeholder id, layout, recordings kept (of each kind), kind ('recording' or 'stream';
-- records without one are recordings), a stream's destination names joined by commas, how long
-- (ms) a placeholder may be held before it is taken for one a dead instance left
local placeholder, layout, kept, kind, destinations = ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7], ARGV[8]
local starting = tonumber(ARGV[9])
-- Nothing of an ended show is recorded or streamed (a room LiveKit has under its name was opened
-- again by a token used after the end, and is closed as soon as it is seen).
if phase() == 'ended' then return refused('show_ended') end
local function kind_of(recording) return recording.kind or 'recording' end
-- A recording ending only writes out its file, and the next may begin meanwhile; a stream ending
-- still holds its destinations' ingest (Recording.in_the_way, service/core/record.py).
local function in_the_way(recording)
  if kind_of(recording) == 'recording' then return recording.status < 2 end
  return active(recording)
end
-- A placeholder held that long outlived every call a living instance makes while holding one:
-- the instance died before it settled or dropped it, and it holds nothing any more.
local abandoned = {}
local held_all = redis.call('HGETALL', RECORDINGS)
for i = 1, #held_all, 2 do
  local held = cjson.decode(held_all[i + 1])
  if kind_of(held) == kind and in_the_way(held) then  -- a kind this version knows, read as it writes it
    -- a placeholder's id starts with PLACEHOLDER_PREFIX (service/core/record.py)
    if string.sub(held.id, 1, 8) == 'pending-' and held.started_at + starting <= NOW then
      table.insert(abandoned, held_all[i])
    else
      return refused(kind == 'stream' and 'already_streaming' or 'already_recording')
    end
  end
end
for _, id in ipairs(abandoned) do redis.call('HDEL', RECORDINGS, id) end
local seq = redis.call('HINCRBY', STAGE, 'recording_seq', 1)
redis.call('HSET', RECORDINGS, placeholder, cjson.encode({v = VERSION, id = placeholder, layout = layout, status = 0,
  started_at = NOW, ended_at = 0, location = '', error = '', seq = seq, kind = kind, destinations = destinations}))
-- At most `kept` of each kind, the oldest ended one dropped first (a few dozen, so a scan is
-- cheap); one still running or ending is kept, its end still to be heard.
while true do
  local oldest, oldest_seq, count = nil, nil, 0
  local all = redis.call('HGETALL', RECORDINGS)
  for i = 1, #all, 2 do
    local held = cjson.decode(all[i + 1])
    if kind_of(held) == kind then
      count = count + 1
      local s = held.seq or 0
      if not active(held) and (oldest_seq == nil or s < oldest_seq) then oldest, oldest_seq = all[i], s end
    end
  end
  if count <= kept or oldest == nil then break end
  redis.call('HDEL', RECORDINGS, oldest)
end
touch()
return {'ok'}
