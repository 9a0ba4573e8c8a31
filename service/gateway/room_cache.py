"""What this instance knows of LiveKit's rooms, so that reading a room does not ask LiveKit each time.

GetRoom and ListParticipants (and every operation that first checks that its room exists) used to
ask LiveKit's RoomService on each call: 50 concurrent readers of one room meant 50 ListRooms calls.
Here each room and its participants are kept as LiveKit last described them, and:

- an entry is served for at most `max_age` seconds after the LiveKit answer it came from, then
  LiveKit is asked again (bounded staleness, whatever else happens);
- concurrent readers of one room share one LiveKit call (single flight);
- what this instance changes itself (a room opened or closed, a participant updated or removed)
  and what LiveKit's webhooks report (`heard`) is written in at once, so the entries are usually
  fresher than `max_age`;
- a room LiveKit does not know is never kept: the next reader asks again, so a room created by a
  viewer's connection is seen at once;
- a LiveKit answer that was in flight while a change to its room was heard is handed to its
  callers but not kept, so an older answer never overwrites a newer fact.

A page of the participants (ListParticipants with a page size) is read from the same listing, by
identity: the listing sorts its identities once, on the first page read of it, and from then on
keeps them in order as participants are put in or dropped (a bisection and a move of pointers,
never another sort), so each page costs a bisection and its own length, whatever the audience.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from livekit.protocol import models as lk
from livekit.protocol import webhook as lk_webhook

T = TypeVar("T")

# Entries older than max_age are swept out when a new one is kept, past this many rooms at once
# and otherwise every _SWEEP_EVERY seconds: a room whose room_finished this instance never hears
# (another instance heard it, or it was lost) is not kept for ever.
_SWEEP_ABOVE = 10_000
_SWEEP_EVERY = 30.0


# Keeps a LiveKit answer for a room: (room name, answer, when it was asked for).
Keep = Callable[[str, Any, float], None]


def _settled(flight: asyncio.Future[Any]) -> None:
    """A flight whose callers all went away still ends; its failure was theirs, not a warning."""
    if not flight.cancelled():
        flight.exception()


@dataclass
class _Entry(Generic[T]):
    value: T
    at: float  # when the LiveKit answer it came from was asked for


@dataclass
class _Listing:
    """A room's participants by identity, and the one tuple of them handed to every reader until
    one of them changes (so that the core can tell an unchanged listing by its identity)."""

    by_identity: dict[str, lk.ParticipantInfo]
    at: float
    _listed: tuple[lk.ParticipantInfo, ...] | None = None
    # The identities in order, once a page has been read: sorted once, then kept in order.
    _ordered: list[str] | None = None

    def listed(self) -> tuple[lk.ParticipantInfo, ...]:
        if self._listed is None:
            self._listed = tuple(self.by_identity.values())
        return self._listed

    def after(self, identity: str, count: int | None) -> list[lk.ParticipantInfo]:
        """Up to `count` participants (all, for None) whose identities come after `identity`, in
        order ("" for the first)."""
        if self._ordered is None:
            self._ordered = sorted(self.by_identity)
        start = bisect.bisect_right(self._ordered, identity)
        end = None if count is None else start + count
        return [self.by_identity[who] for who in self._ordered[start:end]]

    def put(self, participant: lk.ParticipantInfo) -> None:
        if self._ordered is not None and participant.identity not in self.by_identity:
            bisect.insort(self._ordered, participant.identity)
        self.by_identity[participant.identity] = participant
        self._listed = None

    def drop(self, identity: str, sid: str) -> None:
        present = self.by_identity.get(identity)
        if present is not None and (not sid or present.sid == sid):
            del self.by_identity[identity]
            if self._ordered is not None:
                del self._ordered[bisect.bisect_left(self._ordered, identity)]
            self._listed = None


class RoomCache:
    def __init__(self, max_age: float, now: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self._now = now
        self._rooms: dict[str, _Entry[lk.Room]] = {}
        self._participants: dict[str, _Listing] = {}
        self._flights: dict[tuple[str, str], asyncio.Future[Any]] = {}
        # Bumped on every change heard about a room; an answer asked for before a bump is not kept.
        self._changes: dict[str, int] = {}
        self._swept = now()

    # --- reading ------------------------------------------------------------------------

    async def room(self, name: str, ask: Callable[[], Awaitable[lk.Room | None]]) -> lk.Room | None:
        """The room, from the cache if fresh enough, else from `ask` (LiveKit), once for all callers."""
        if self.max_age <= 0:
            return await ask()
        entry = self._rooms.get(name)
        if entry is not None and self._fresh(entry):
            return entry.value
        return await self._once("room", name, ask, self._keep_room)

    async def participants(
        self, name: str, ask: Callable[[], Awaitable[Sequence[lk.ParticipantInfo]]]
    ) -> Sequence[lk.ParticipantInfo]:
        if self.max_age <= 0:
            return await ask()
        listing = self._participants.get(name)
        if listing is not None and self._fresh(listing):
            return listing.listed()
        return await self._once("participants", name, ask, self._keep_participants)

    async def participants_after(
        self,
        name: str,
        ask: Callable[[], Awaitable[Sequence[lk.ParticipantInfo]]],
        after: str,
        count: int | None,
    ) -> list[lk.ParticipantInfo]:
        """A page of the room's participants by identity: up to `count` (all, for None) after
        `after` ("" from the first), from the same listing `participants` reads."""
        listing = self._participants.get(name) if self.max_age > 0 else None
        if listing is None or not self._fresh(listing):
            answer = await self.participants(name, ask)
            listing = self._participants.get(name) if self.max_age > 0 else None
            if listing is None or not self._fresh(listing):
                # Not kept (no cache, or a change was heard while LiveKit answered): this answer
                # alone, sorted for this page.
                listing = _Listing({p.identity: p for p in answer}, self._now())
        return listing.after(after, count)

    def _fresh(self, entry: _Entry[Any] | _Listing) -> bool:
        return self._now() - entry.at < self.max_age

    async def _once(self, kind: str, name: str, ask: Callable[[], Awaitable[T]], keep: Keep) -> T:
        key = (kind, name)
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self._ask(key, name, ask, keep))
            flight.add_done_callback(_settled)
            self._flights[key] = flight
        # One caller cancelled (a client gone) must not cancel the others' shared call.
        answer: T = await asyncio.shield(flight)
        return answer

    async def _ask(self, key: tuple[str, str], name: str, ask: Callable[[], Awaitable[T]], keep: Keep) -> T:
        changes, asked_at = self._changes.get(name, 0), self._now()
        try:
            answer = await ask()
        finally:
            self._flights.pop(key, None)
        if self._changes.get(name, 0) == changes:
            keep(name, answer, asked_at)
        return answer

    def _keep_room(self, name: str, room: lk.Room | None, at: float) -> None:
        if room is None:
            self._rooms.pop(name, None)
            return
        self._sweep()
        self._rooms[name] = _Entry(room, at)

    def _keep_participants(self, name: str, participants: Sequence[lk.ParticipantInfo], at: float) -> None:
        self._sweep()
        self._participants[name] = _Listing({p.identity: p for p in participants}, at)

    def _sweep(self) -> None:
        """Keeps memory bounded by the rooms in use: past _SWEEP_ABOVE rooms, or _SWEEP_EVERY
        seconds after the last sweep, forgets what is too old to be served and the change counts
        of rooms nobody is asking LiveKit about."""
        crowded = max(len(self._rooms), len(self._participants), len(self._changes)) > _SWEEP_ABOVE
        if not crowded and self._now() - self._swept < _SWEEP_EVERY:
            return
        self._swept = self._now()
        for name in [n for n, e in self._rooms.items() if not self._fresh(e)]:
            del self._rooms[name]
        for name in [n for n, e in self._participants.items() if not self._fresh(e)]:
            del self._participants[name]
        asking = {name for _, name in self._flights}
        for name in [n for n in self._changes if n not in asking]:
            del self._changes[name]

    # --- what this instance did -------------------------------------------------------------

    def opened(self, room: lk.Room, age: float = 0.0) -> None:
        """The room as LiveKit described it `age` seconds ago."""
        self._changed(room.name)
        if self.max_age > 0:
            self._rooms[room.name] = _Entry(room, self._now() - max(0.0, age))

    def closed(self, name: str) -> None:
        self._changed(name)
        self._rooms.pop(name, None)
        self._participants.pop(name, None)

    def updated(self, name: str, participant: lk.ParticipantInfo) -> None:
        """LiveKit's answer to an UpdateParticipant: the participant as it is now."""
        self._changed(name)
        listing = self._participants.get(name)
        if listing is not None:
            listing.put(participant)

    def removed(self, name: str, identity: str, sid: str = "") -> None:
        self._changed(name)
        listing = self._participants.get(name)
        if listing is not None:
            listing.drop(identity, sid)

    def _changed(self, name: str) -> None:
        self._changes[name] = self._changes.get(name, 0) + 1
        self._sweep()

    # --- what LiveKit said ------------------------------------------------------------------

    def heard(self, event: lk_webhook.WebhookEvent) -> None:
        """A verified LiveKit webhook. Entries are changed, never made to look younger: only a
        room_started (LiveKit's whole description of a new room) starts a fresh entry."""
        name = event.room.name
        if not name:
            return
        if event.event == "room_finished":
            self.closed(name)
        elif event.event == "room_started":
            # As old as the webhook: a late one (the room may have closed since) is not served
            # past the bound from when LiveKit sent it.
            self.opened(event.room, time.time() - event.created_at if event.created_at else 0.0)
        elif event.event == "participant_joined" and event.participant.identity:
            self._changed(name)
            listing = self._participants.get(name)
            if listing is not None:
                listing.put(event.participant)
        elif event.event in ("participant_left", "participant_connection_aborted") and event.participant.identity:
            self.removed(name, event.participant.identity, event.participant.sid)
