"""The rate limiter in Redis, shared by every instance: a sliding window per caller and bucket.

(The show's record in Redis is service/stores/redis_record.py.)
"""

from __future__ import annotations

import uuid

from service.core.limits import Limit
from service.stores.redis_record import PREFIX, STORE_ERRORS, RedisClient, unavailable

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

    def __init__(self, client: RedisClient) -> None:
        self._redis = client
        self._script = client.register_script(_SLIDING_WINDOW)

    async def hit(self, key: str, limit: Limit, now: float) -> float | None:
        member = f"{now:.6f}:{uuid.uuid4().hex[:8]}"
        try:
            wait = await self._script(keys=[f"{PREFIX}rate:{key}"], args=[now, limit.window, limit.requests, member])
        except STORE_ERRORS as exc:
            raise unavailable(exc) from exc
        return float(wait) if wait is not None else None
