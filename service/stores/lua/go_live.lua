-- ARGV: acting ('' is the room's admin). Backstage to live; live stays live (a retry answers the
-- same). The audience is let in by the caller, who clears release_due once it has; past it, a
-- reconciler does it. Who took it live is kept (live_by) for whichever of them tells the room.
local acting = ARGV[4]
local current = phase()
if current == 'ended' then return refused('show_ended') end
if not is_host(acting) then return refused('not_host') end
if current == '' then return refused('not_opened') end
local changed = 0
if current == 'backstage' then
  redis.call('HSET', STAGE, 'phase', 'live', 'live_at', NOW, 'release_due', NOW + BOUND, 'live_by', acting)
  touch()
  changed = 1
end
local found = life()
return {'ok', changed, found[1], found[2], found[3], found[4], found[5]}
