"""Rate limits, from the MVP's table, per verified caller (per address for anonymous joins)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
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
    buckets: dict[str, str] = field(
        default_factory=lambda: {"JoinRoom": "join", "InviteGuest": "invite", "SetHandRaised": "hand"}
    )

    def limit_for(self, rpc: str) -> tuple[str, Limit]:
        bucket = self.buckets.get(rpc, "other")
        limit: Limit = getattr(self, bucket)
        return bucket, limit


class Limiter(Protocol):
    """Counts calls in fixed windows. Returns None if the call is allowed, else the seconds
    until the window that would allow it opens. Shared across instances when backed by Redis."""

    async def hit(self, key: str, limit: Limit, now: float) -> float | None: ...


class MemoryLimiter:
    def __init__(self) -> None:
        self._counts: defaultdict[tuple[str, int], int] = defaultdict(int)

    async def hit(self, key: str, limit: Limit, now: float) -> float | None:
        window = int(now // limit.window)
        if len(self._counts) > 100_000:  # forget windows that have passed
            self._counts = defaultdict(int, {k: v for k, v in self._counts.items() if k[1] >= window})
        self._counts[(key, window)] += 1
        if self._counts[(key, window)] <= limit.requests:
            return None
        return (window + 1) * limit.window - now


async def admit(limiter: Limiter, policy: RatePolicy, rpc: str, caller: Caller, now: float) -> None:
    bucket, limit = policy.limit_for(rpc)
    if limit.requests <= 0:
        return
    wait = await limiter.hit(f"{bucket}:{caller.rate_key}", limit, now)
    if wait is not None:
        retry_after = max(1, math.ceil(wait))
        raise errors.exhausted(
            f"Rate limit exceeded: {limit.requests} {bucket} requests per {int(limit.window)}s; "
            f"retry in {retry_after}s",
            retry_after,
        )
