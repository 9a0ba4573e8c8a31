"""Rate limit: the call counts against its RPC's declared bucket, per verified caller (per
address when anonymous, and for joins unless the room's admin makes them); over the limit it is
refused with the seconds to wait."""

from __future__ import annotations

from service.core import errors
from service.core.clock import Clock
from service.core.limits import Limiter, RatePolicy, admit
from service.core.ports import ShowObserver
from service.interceptors.chain import Call, Piece


class RateLimit(Piece):
    def __init__(self, limiter: Limiter, rates: RatePolicy, clock: Clock, observer: ShowObserver) -> None:
        self._limiter = limiter
        self._rates = rates
        self._clock = clock
        self._observer = observer

    async def enter(self, call: Call) -> None:
        bucket = call.rule.bucket
        if not bucket:
            return
        try:
            await admit(self._limiter, self._rates, bucket, call.verified(), self._clock.now())
        except errors.ShowError as exc:
            if exc.code is errors.Code.RESOURCE_EXHAUSTED:
                self._observer.rate_limited(bucket)
            raise
