"""Reconciliation leases in Redis: a short key per room, so that one instance at a time
reconciles it. The key shares the room's hash tag, so it lives beside the room on Cluster."""

from __future__ import annotations

from service.stores.redis_record import PREFIX, STORE_ERRORS, RedisClient, room_tag, unavailable

# Takes the lease if it is free or already this instance's (a pass cut short by an outage must
# not lock its own instance out until the lease runs out).
_TAKE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# Deletes the lease only if this instance still holds it (it may have run out and been taken).
_GIVE_BACK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def lease_key(room: str) -> str:
    return f"{PREFIX}{{{room_tag(room)}}}:reconciler"


class RedisLeases:
    def __init__(self, client: RedisClient) -> None:
        self._redis = client
        self._take = client.register_script(_TAKE)
        self._give_back = client.register_script(_GIVE_BACK)

    async def take(self, room: str, holder: str, seconds: float) -> bool:
        try:
            taken = await self._take(keys=[lease_key(room)], args=[holder, max(1, round(seconds * 1000))])
        except STORE_ERRORS as exc:
            raise unavailable(exc) from exc
        return bool(taken)

    async def give_back(self, room: str, holder: str) -> None:
        try:
            await self._give_back(keys=[lease_key(room)], args=[holder])
        except STORE_ERRORS as exc:
            raise unavailable(exc) from exc
