"""The service's background loops (the reconciler's passes, readiness checks): how one is stopped."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

# How long a cancelled loop has to end before it is cancelled again.
RECANCEL_SECONDS = 0.1


async def cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancels `task` (None: nothing runs) and waits until it has ended, so that nothing of it
    runs on once the caller goes on to close what it used.

    A cancellation can be lost on its way: Python 3.11's wait_for, and the client libraries a
    loop awaits (Redis, HTTP), may catch it when it arrives as their own work ends, and the loop
    then runs on, waiting for its next turn. So the task is cancelled again until it has ended:
    make dev hung on Ctrl+C right after it started, about one time in two, waiting for a
    reconciler that had lost its cancellation."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait((task,), timeout=RECANCEL_SECONDS)
    with contextlib.suppress(asyncio.CancelledError):
        await task  # ended: its own failure, if any, is the caller's to see
