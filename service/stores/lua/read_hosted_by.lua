-- Who last took the host seat ('' if nobody did): kept when the seat is freed.
return {'ok', redis.call('HGET', STAGE, 'hosted_by') or ''}
