"""The service's background loops (the reconciler's passes, readiness checks): how one is stopped."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancels `task` (None: nothing runs) and waits until it has ended, so that nothing of it
    runs on once the caller goes on to close what it used."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
