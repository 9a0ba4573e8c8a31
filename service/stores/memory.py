"""In-process store: the default for a single instance."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from service.core.state import ShowState
from service.stores.locks import RoomLocks

T = TypeVar("T")


class MemoryStore:
    """Keeps states as JSON, exactly as a shared store would, so both behave alike.

    A lock per room serialises updates; `change` works on a fresh copy that replaces the stored
    state only if it returns normally.
    """

    def __init__(self) -> None:
        self._rooms: dict[str, str] = {}
        self._locks = RoomLocks()

    async def load(self, room: str) -> ShowState:
        stored = self._rooms.get(room)
        return ShowState.from_json(stored) if stored else ShowState(room)

    async def update(self, room: str, change: Callable[[ShowState], T]) -> T:
        async with self._locks[room]:
            state = await self.load(room)
            result = change(state)
            if state.is_empty:
                self._rooms.pop(room, None)
            else:
                self._rooms[room] = state.to_json()
            return result

    async def delete(self, room: str) -> None:
        async with self._locks[room]:
            self._rooms.pop(room, None)

    async def ping(self) -> None:
        return None

    async def rooms(self) -> list[ShowState]:
        return [ShowState.from_json(stored) for stored in list(self._rooms.values())]

    async def close(self) -> None:
        self._rooms.clear()
