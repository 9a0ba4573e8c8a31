"""Per-room locks that do not outlive their use."""

from __future__ import annotations

import asyncio
import weakref


class RoomLocks:
    """One asyncio.Lock per room, kept only while someone holds or awaits it, so that a
    long-running instance does not accumulate a lock for every room it ever saw."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def __getitem__(self, room: str) -> asyncio.Lock:
        lock = self._locks.get(room)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[room] = lock
        return lock

    def __len__(self) -> int:
        return len(self._locks)
