-- ARGV: identity, acting (the host or a moderator; '' for the admin). Answers 1 if newly banned. A
-- moderator bans neither another moderator nor itself (in the core's words: MODERATOR_REMOVES_ITSELF).
local identity, acting = ARGV[4], ARGV[5]
if not is_manager(acting) then return refused('not_host') end
local role = seat_of(identity)
if role == 'host' then return refused('host_not_banned') end
if role == 'moderator' and acting == identity then return refused('moderator_removes_itself') end
if role == 'moderator' and acting ~= '' and not is_host(acting) then return refused('moderator_on_moderator') end
local newly = redis.call('HSETNX', BANS, identity, cjson.encode({v = VERSION, since = NOW, by = acting}))
touch()
return {'ok', newly}
