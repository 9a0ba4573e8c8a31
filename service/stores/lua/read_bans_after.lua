-- ARGV: after (when the previous page's last ban was made, ms; '' for the first page), that ban's
-- identity, count. Up to `count` bans after that place in (banned at, identity) order (identity,
-- record, ...), and how many there are. A room's bans are few (each is someone's decision, not the
-- audience's) and kept in one hash, read whole as GetRoom's record reads their identities; only
-- the page goes back, ordered here, and a ban lifted between pages skips none of the others.
local after = tonumber(ARGV[4])
local count, flat, later = tonumber(ARGV[6]), redis.call('HGETALL', BANS), {}
for i = 1, #flat, 2 do
  local since = tonumber(cjson.decode(flat[i + 1]).since) or 0
  if not after or since > after or (since == after and before(ARGV[5], flat[i])) then
    later[#later + 1] = {since, flat[i], flat[i + 1]}
  end
end
table.sort(later, function(a, b)
  if a[1] ~= b[1] then return a[1] < b[1] end
  return before(a[2], b[2])
end)
local out = {}
for i = 1, math.min(count, #later) do
  out[#out + 1] = later[i][2]
  out[#out + 1] = later[i][3]
end
return {'ok', #flat / 2, out}
