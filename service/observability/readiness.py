"""Readiness: whether this instance can do its work right now, which is more than being alive.

`GET /health` stays the MVP's liveness answer (the process runs). Readiness asks the parts the
show depends on — the state store and LiveKit — on a short interval, and says NOT_SERVING, with
the reasons, while either cannot be reached: on `GET /ready` and in gRPC health for the service,
so a load balancer or Kubernetes takes the instance out of rotation instead of sending it calls
it can only refuse. A reason names the dependency and the kind of failure only: the failure's
own message names the hosts and ports behind the instance, which only its log tells. When an
outage ends, the listeners hear it (the reconciler's cue to compare the show's record with
LiveKit's again): each is awaited by the check, so it only asks for work (the reconciler sweeps on
its own task), and readiness goes on watching while that work runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from service.core import tasks
from service.core.errors import ShowError

log = logging.getLogger("showrunner.readiness")

Probe = Callable[[], Awaitable[None]]
Listener = Callable[[bool, Sequence[str]], Awaitable[None]]


@dataclass(frozen=True)
class Dependency:
    name: str  # as reported: "store", "livekit"
    probe: Probe


class Readiness:
    def __init__(self, dependencies: Sequence[Dependency], *, interval: float = 2.0, timeout: float = 2.0) -> None:
        self._dependencies = list(dependencies)
        self._interval, self._timeout = interval, timeout
        self._reasons: tuple[str, ...] = ()
        self._told: tuple[str, ...] = ()  # the reasons as the log tells them, with the failures' messages
        self._checked = False
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self._checked and not self._reasons

    @property
    def reasons(self) -> tuple[str, ...]:
        return self._reasons if self._checked else ("not checked yet",)

    def on_change(self, listener: Listener) -> None:
        """`listener(ready, reasons)` runs after every change, and once after the first check."""
        self._listeners.append(listener)

    async def check(self) -> bool:
        """Asks every dependency now; returns whether all answered."""
        answers = [answer for answer in await asyncio.gather(*(self._ask(d) for d in self._dependencies)) if answer]
        reasons, told = tuple(shown for shown, _ in answers), tuple(said for _, said in answers)
        changed = not self._checked or told != self._told
        was_ready = self.ready
        self._reasons, self._told, self._checked = reasons, told, True
        if changed:
            if reasons:
                log.warning("not ready: %s", "; ".join(told))
            elif not was_ready:
                log.info("ready: the store and LiveKit answer")
            await self._tell_listeners()
        return self.ready

    async def _tell_listeners(self) -> None:
        for listener in self._listeners:
            try:
                await listener(self.ready, self._reasons)
            except Exception:
                log.exception("readiness listener failed")

    async def _ask(self, dependency: Dependency) -> tuple[str, str] | None:
        """None when the dependency answered; else the reason as `reasons` shows it and as the
        log tells it."""
        try:
            async with asyncio.timeout(self._timeout):  # not wait_for: see Reconciler._run
                await dependency.probe()
        except TimeoutError:
            reason = f"{dependency.name} did not answer within {self._timeout:g} s"
            return reason, reason
        except Exception as exc:
            message = exc.message if isinstance(exc, ShowError) else str(exc)
            return f"{dependency.name}: {kind_of(exc)}", f"{dependency.name}: {message}"
        return None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="readiness")

    async def _watch(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self._interval)

    async def stop(self) -> None:
        task, self._task = self._task, None
        await tasks.cancel(task)

    async def stopping(self) -> None:
        """The instance is stopping: not ready from now on, whatever its dependencies answer, so
        that a probe or a health watch on a connection still open while the doors drain sends
        no more work here."""
        await self.stop()
        was_ready = self.ready
        self._reasons, self._told, self._checked = ("stopping",), ("stopping",), True
        if was_ready:
            log.info("not ready: stopping")
        await self._tell_listeners()


def kind_of(failure: BaseException) -> str:
    """What kind of failure it was, as a probe may be shown it: the class of the failure it was
    raised from (ConnectionError, ConnectionRefusedError, TimeoutError, ...), never a message."""
    while failure.__cause__ is not None:
        failure = failure.__cause__
    if isinstance(failure, ShowError):
        return failure.code.value
    return type(failure).__name__
