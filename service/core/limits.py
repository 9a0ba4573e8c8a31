"""Rate limits, from the MVP's table, per verified caller (per address for anonymous joins, and
for joins made with a participant's token).

Which bucket an RPC counts against is declared in the contract (its policy option); this module
holds the buckets' sizes and the sliding window that enforces them."""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Protocol

from service.core import errors
from service.core.caller import Caller


@dataclass(frozen=True)
class Limit:
    requests: int  # 0 means unlimited
    window: float  # seconds


@dataclass(frozen=True)
class RatePolicy:
    """How many calls each bucket allows per window. The MVP: join 10/min, invite 5/min,
    hand-raise 10/min, everything else 100/min."""

    join: Limit = Limit(10, 60)
    invite: Limit = Limit(5, 60)
    hand: Limit = Limit(10, 60)
    other: Limit = Limit(100, 60)

    def limit_for(self, bucket: str) -> Limit:
        return {"join": self.join, "invite": self.invite, "hand": self.hand}.get(bucket, self.other)


class Limiter(Protocol):
    """A sliding window: a call is allowed if fewer than `limit.requests` calls were allowed in
    the `limit.window` seconds before it. Returns None if allowed (and counts it), else the seconds
    until the oldest counted call leaves the window. Shared across instances when backed by Redis."""

    async def hit(self, key: str, limit: Limit, now: float) -> float | None: ...


class MemoryLimiter:
    """The sliding window in process. Callers are kept in the order of their last call, and each
    call forgets up to two callers at the front whose windows are empty: what is kept is the
    callers of the last window, at O(1) a call however many there are (a rebuild of the whole
    table past a size would cost each call as much once they are all active)."""

    def __init__(self) -> None:
        self._calls: OrderedDict[str, tuple[deque[float], float]] = OrderedDict()  # key -> (calls, window)

    async def hit(self, key: str, limit: Limit, now: float) -> float | None:
        kept = self._calls.get(key)
        if kept is None:
            calls: deque[float] = deque()
            self._calls[key] = (calls, limit.window)
        else:
            calls = kept[0]
            self._calls.move_to_end(key)
        while calls and calls[0] <= now - limit.window:
            calls.popleft()
        self._forget_idle(now)
        if len(calls) >= limit.requests:
            return calls[0] + limit.window - now
        calls.append(now)
        return None

    def _forget_idle(self, now: float) -> None:
        for _ in range(2):
            oldest, (calls, window) = next(iter(self._calls.items()))
            if calls and calls[-1] > now - window:
                return
            if len(self._calls) == 1:
                return  # the caller being counted
            del self._calls[oldest]

    def __len__(self) -> int:
        """Callers kept."""
        return len(self._calls)


def _counted(bucket: str, caller: Caller) -> str:
    """Whose allowance the call uses. Every join hands out a participant token: counted per token,
    each join would bring ten more (ten anonymous joins, then ten with each of their tokens, ...),
    so a participant's joins count against its address, as anonymous ones do. The room's admin
    (who makes hosts) keeps its own."""
    if bucket == "join" and not caller.admin:
        return f"address:{caller.address or 'unknown'}"
    return caller.rate_key


async def admit(limiter: Limiter, policy: RatePolicy, bucket: str, caller: Caller, now: float) -> None:
    limit = policy.limit_for(bucket)
    if limit.requests <= 0:
        return
    wait = await limiter.hit(f"{bucket}:{_counted(bucket, caller)}", limit, now)
    if wait is not None:
        retry_after = max(1, math.ceil(wait))
        raise errors.exhausted(
            f"Rate limit exceeded: {limit.requests} {bucket} requests per {int(limit.window)}s; "
            f"retry in {retry_after}s",
            retry_after,
        )
