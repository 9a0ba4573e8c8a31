"""Redis-backed store and rate limiter: state and limits shared by every instance.

A room's state is one JSON value under `showrunner:room:<name>`, changed with optimistic
transactions (WATCH, then MULTI/EXEC, retried if another instance wrote first), so the rules run
against the latest state and two instances can never both take the same slot. Within one
instance, updates to a room queue on a local lock first, so only other instances' writes can
make a transaction retry; retries back off with jitter so that a busy room cannot livelock.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from typing import TypeVar

import redis.asyncio as redis
from redis.exceptions import RedisError, WatchError

from service.core import errors
from service.core.limits import Limit
from service.core.state import ShowState
from service.stores.locks import RoomLocks

T = TypeVar("T")
PREFIX = "showrunner:"


def _unavailable(exc: RedisError) -> errors.ShowError:
    return errors.unavailable(f"The state store is unavailable: {exc}")


class RedisStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._local = RoomLocks()

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        return cls(redis.Redis.from_url(url))

    @staticmethod
    def _key(room: str) -> str:
        return f"{PREFIX}room:{room}"

    async def load(self, room: str) -> ShowState:
        try:
            stored = await self._redis.get(self._key(room))
        except RedisError as exc:
            raise _unavailable(exc) from exc
        return ShowState.from_json(stored) if stored else ShowState(room)

    async def update(self, room: str, change: Callable[[ShowState], T]) -> T:
        async with self._local[room]:
            return await self._update(room, change)

    async def _update(self, room: str, change: Callable[[ShowState], T]) -> T:
        key, attempt = self._key(room), 0
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(key)
                        stored = await pipe.get(key)
                        state = ShowState.from_json(stored) if stored else ShowState(room)
                        result = change(state)
                        pipe.multi()  # type: ignore[no-untyped-call]
                        if state.is_empty:
                            pipe.delete(key)
                        else:
                            pipe.set(key, state.to_json())
                        await pipe.execute()
                        return result
                    except WatchError:
                        attempt += 1
                        await asyncio.sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))
        except RedisError as exc:
            raise _unavailable(exc) from exc

    async def delete(self, room: str) -> None:
        try:
            await self._redis.delete(self._key(room))
        except RedisError as exc:
            raise _unavailable(exc) from exc

    async def rooms(self) -> list[ShowState]:
        try:
            keys = [key async for key in self._redis.scan_iter(match=f"{PREFIX}room:*", count=500)]
            values = await self._redis.mget(keys) if keys else []
        except RedisError as exc:
            raise _unavailable(exc) from exc
        return [ShowState.from_json(v) for v in values if v]

    @property
    def client(self) -> redis.Redis:
        return self._redis

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except RedisError as exc:
            raise _unavailable(exc) from exc

    async def close(self) -> None:
        await self._redis.aclose()


# One atomic step of the sliding window: drop calls older than the window, refuse if the window
# is full (answering when its oldest call leaves), otherwise count this call.
_SLIDING_WINDOW = """
local key, now, window, limit, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', key, now, member)
redis.call('PEXPIRE', key, math.ceil(window * 1000))
return false
"""


class RedisLimiter:
    """The sliding window in a sorted set per caller, shared by every instance."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._script = client.register_script(_SLIDING_WINDOW)

    async def hit(self, key: str, limit: Limit, now: float) -> float | None:
        member = f"{now:.6f}:{uuid.uuid4().hex[:8]}"
        try:
            wait = await self._script(keys=[f"{PREFIX}rate:{key}"], args=[now, limit.window, limit.requests, member])
        except RedisError as exc:
            raise _unavailable(exc) from exc
        return float(wait) if wait is not None else None
