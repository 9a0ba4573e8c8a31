-- ARGV: the identity whose change a call is about to undo after LiveKit failed to answer it.
-- Doubted until the stage-change deadline from now, written again if it was already; an ended
-- show keeps no doubt.
if phase() == 'ended' then return {'ok', 0} end
doubt(ARGV[4])
touch()
return {'ok', 1}
