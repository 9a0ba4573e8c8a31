-- Every ban of the room (identity, record, ...): a room's bans are read whole, as its stage is.
return {'ok', redis.call('HGETALL', BANS)}
