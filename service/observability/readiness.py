"""Readiness: whether this instance can do its work right now, which is more than being alive.

`GET /health` stays the MVP's liveness answer (the process runs). Readiness asks the parts the
show depends on — the state store and LiveKit — on a short interval, and says NOT_SERVING, with
the reasons, while either cannot be reached: on `GET /ready` and in gRPC health for the service,
so a load balancer or Kubernetes takes the instance out of rotation instead of sending it calls
it can only refuse. When an outage ends, `on_recovery` runs (the reconciler's cue to compare the
show's record with LiveKit's again).
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
        answers = await asyncio.gather(*(self._ask(d) for d in self._dependencies))
        reasons = tuple(reason for reason in answers if reason)
        changed = not self._checked or reasons != self._reasons
        was_ready = self.ready
        self._reasons, self._checked = reasons, True
        if changed:
            if reasons:
                log.warning("not ready: %s", "; ".join(reasons))
            elif not was_ready:
                log.info("ready: the store and LiveKit answer")
            for listener in self._listeners:
                try:
                    await listener(self.ready, reasons)
                except Exception:
                    log.exception("readiness listener failed")
        return self.ready

    async def _ask(self, dependency: Dependency) -> str:
        try:
            async with asyncio.timeout(self._timeout):  # not wait_for: see Reconciler._run
                await dependency.probe()
        except TimeoutError:
            return f"{dependency.name} did not answer within {self._timeout:g} s"
        except ShowError as exc:
            return f"{dependency.name}: {exc.message}"
        except Exception as exc:
            return f"{dependency.name}: {exc}"
        return ""

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="readiness")

    async def _watch(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self._interval)

    async def stop(self) -> None:
        task, self._task = self._task, None
        await tasks.cancel(task)
