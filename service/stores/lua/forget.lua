-- ARGV: identity
local role = forget(ARGV[4])
touch()
return {'ok', role}
