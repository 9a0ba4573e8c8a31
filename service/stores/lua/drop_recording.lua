-- ARGV: placeholder id
redis.call('HDEL', RECORDINGS, ARGV[4])
touch()
return {'ok'}
