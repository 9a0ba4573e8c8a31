"""The show's record in process: the default for a single instance, with the Redis store's
semantics and big-O.

Each step runs to its end without awaiting, so on the event loop it is as atomic as a Lua script
is in Redis. Hands and invitations are a dict beside a sorted list (sortedcontainers), so raising
a hand, inviting and accepting cost O(log n) whatever the audience, and the queue is read in
pages. A room nobody writes to for the idle time is dropped, judged by the callers' clock; the
steps that are given no time (role_of, hosted_by, pending, ...) judge it by the latest time any
caller gave, which the reconciler's passes keep current, as Redis expires keys whoever asks.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Iterator, Sized
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace

from sortedcontainers import SortedList  # type: ignore[import-untyped]

from service.core import errors
from service.core.record import (
    ACTIVE_STATUSES,
    HISTORY_ENTRIES,
    KEPT_RECORDINGS,
    MODERATORS_PER_ROOM,
    Admission,
    AwayViewer,
    Ban,
    BansPage,
    Connection,
    Departure,
    Doubt,
    EgressKind,
    Hand,
    HandsPage,
    HistoryEntry,
    Lifecycle,
    PendingChange,
    Phase,
    Place,
    Recording,
    Refusal,
    Seat,
    Seating,
    StageChange,
    StageRecord,
    Standing,
    Verdict,
    ms,
    refusal,
)
from service.core.roles import Role
from service.stores.redis_record import DEFAULT_CHANGE_SECONDS, DEFAULT_IDLE_SECONDS, DEFAULT_STARTING_SECONDS


class _Ordered:
    """identity -> score, readable in (score, identity) order: a Redis sorted set's semantics."""

    def __init__(self) -> None:
        self.scores: dict[str, int] = {}
        self.order: SortedList = SortedList()

    def add(self, identity: str, score: int) -> None:
        self.remove(identity)
        self.scores[identity] = score
        self.order.add((score, identity))

    def remove(self, identity: str) -> bool:
        score = self.scores.pop(identity, None)
        if score is None:
            return False
        self.order.remove((score, identity))
        return True

    def remove_up_to(self, score: int) -> list[str]:
        """Removes every identity scored `score` or lower, and answers them."""
        gone = []
        while self.order and self.order[0][0] <= score:
            _, identity = self.order.pop(0)
            del self.scores[identity]
            gone.append(identity)
        return gone

    def count_above(self, score: int) -> int:
        return len(self.order) - int(self.order.bisect_right((score, "\U0010ffff")))

    def next_above(self, score: int) -> int | None:
        """The lowest score above `score`, None if there is none."""
        at = int(self.order.bisect_right((score, "\U0010ffff")))
        return int(self.order[at][0]) if at < len(self.order) else None

    def __len__(self) -> int:
        return len(self.scores)


@dataclass
class _Heard:
    """What the room last heard of a participant's place (`part`, and the since of the seat it
    heard taken or ended), and the change owed to it, if any: (part, seat, words)."""

    part: Role | None = None
    seat: int = 0
    owed: tuple[Role, int, str] | None = None
    # Of its moderator's part: (on, appointed at) or (off, dismissed at), in ms.
    moderator: tuple[bool, int] | None = None
    # A dismissal a change of the stage overwrote before it was told: (its moment, its words).
    dismissal: tuple[int, str] | None = None


# What a room holds that is not kept as Redis keys: when it expires, and the record last read.
_NOT_KEPT = frozenset({"expires", "seen"})


@dataclass
class _Room:
    host: Seat | None = None
    guests: dict[str, Seat] = field(default_factory=dict)
    guest_limit: int | None = None
    room_sid: str = ""
    room_created: int = 0
    hands: _Ordered = field(default_factory=_Ordered)
    invitations: _Ordered = field(default_factory=_Ordered)
    # identity -> (the expiry of the invitation it was given, who gave it), as invite.lua keeps
    # them: an inviter counts only for the invitation of that expiry. Kept when the invitation is
    # accepted, while the promotion is pending (a refused promotion gives it back), dropped once
    # the promotion is settled (completed or landed) or the guest leaves the stage, and when the
    # invitation expires or ends otherwise (prelude.lua's INVITERS).
    inviters: dict[str, tuple[int, str]] = field(default_factory=dict)
    pending: dict[str, PendingChange] = field(default_factory=dict)
    # What the room last heard of each participant's place on the stage, as tell.lua keeps it.
    heard: dict[str, _Heard] = field(default_factory=dict)
    recordings: dict[str, tuple[int, Recording]] = field(default_factory=dict)
    recording_seq: int = 0
    moderators: dict[str, int] = field(default_factory=dict)  # identity -> appointed (ms)
    # identity -> the holder its part is bound to, as prelude.lua's HOLDERS keeps it.
    holders: dict[str, str] = field(default_factory=dict)
    # identity -> when its doubt is due (ms), as prelude.lua's DOUBTS keeps them.
    doubts: dict[str, int] = field(default_factory=dict)
    # identity -> when heard gone (ms), and what that leave kept (raised_at, invitation expiry),
    # as prelude.lua's AWAY and LEFT_BEHIND keep them.
    away: _Ordered = field(default_factory=_Ordered)
    left_behind: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    hosted_by: str = ""  # who last took the host seat, kept when it is freed
    live_by: str = ""  # who took the show live ("" for the room's admin)
    bans: dict[str, Ban] = field(default_factory=dict)
    life: Lifecycle = field(default_factory=Lifecycle)
    expires: int = 0
    # The show's history: sequence -> entry for the last ones kept (contiguous), as Redis's
    # stream keeps them, and the last sequence number given.
    history: dict[int, HistoryEntry] = field(default_factory=dict)
    history_last: int = 0
    # The StageRecord last read, the time (ms) it was read for and until when it holds: every
    # change to the room goes through MemoryRecords._write or clears it itself, and the
    # invitations' count it carries holds from that time until the next invitation expires (not
    # before it: an invitation that expired in between was open then). Readers of an unchanged
    # room share one record.
    seen: tuple[StageRecord, int, float] | None = field(default=None, compare=False, repr=False)

    @property
    def phase(self) -> Phase:
        return self.life.phase

    def bind(self, identity: str, connection: Connection | None) -> None:
        """Binds `identity`'s part to `connection`'s holder, or to nobody (prelude.lua's bind)."""
        if connection is None:
            self.holders.pop(identity, None)
        else:
            self.holders[identity] = connection.holder

    def seat(self, identity: str) -> Seat | None:
        """The host's or a guest's seat of `identity`, if it holds one."""
        if self.host is not None and self.host.identity == identity:
            return self.host
        return self.guests.get(identity)

    def seat_again(self, seat: Seat) -> None:
        """Writes a host's or guest's seat back as it now stands (prelude.lua's put_seat)."""
        if self.host is not None and self.host.identity == seat.identity:
            self.host = seat
        else:
            self.guests[seat.identity] = seat

    def doubt(self, identity: str, due: int) -> None:
        """Doubts `identity` until `due` (ms), written again if it was (prelude.lua's doubt)."""
        self.doubts[identity] = due

    def require_holder(self, identity: str, holder: str | None) -> None:
        """Refuses a participant token of `holder` ("" unmarked; None for the room's admin, never
        refused) the part of `identity` is not bound to (prelude.lua's holds)."""
        bound = self.holders.get(identity)
        if holder is not None and bound is not None and bound != holder:
            raise refusal(Refusal.NOT_HOLDER, identity)

    def role_of(self, identity: str) -> Role:
        if self.host is not None and self.host.identity == identity:
            return Role.HOST
        if identity in self.guests:
            return Role.GUEST
        return Role.MODERATOR if identity in self.moderators else Role.VIEWER

    def manages(self, acting: str | None) -> bool:
        """Whether `acting` may manage the stage: the host, a moderator, or the admin (None)."""
        return acting is None or self.role_of(acting) in (Role.HOST, Role.MODERATOR)

    def standing(self, identity: str) -> Standing:
        return Standing(
            self.guests.get(identity), self.hands.scores.get(identity), self.invitations.scores.get(identity)
        )

    def holds_nothing(self) -> bool:
        """Whether nothing of the room is kept: every field as a new room has it, its expiry and
        its kept read aside (a field added later is counted too). As gone as a room of which
        Redis holds no key (a step here makes the room first, whether or not it then writes
        anything to it)."""
        new = _Room()
        for each in fields(self):
            if each.name in _NOT_KEPT:
                continue
            value = getattr(self, each.name)
            if len(value) if isinstance(value, Sized) else value != getattr(new, each.name):
                return False
        return True

    def expire_invitations(self, now_ms: int) -> None:
        for identity in self.invitations.remove_up_to(now_ms):
            self.inviters.pop(identity, None)

    def withdraw_invitation(self, identity: str) -> bool:
        """Ends `identity`'s invitation, and who gave it; False if it had none."""
        self.inviters.pop(identity, None)
        return self.invitations.remove(identity)

    def settle_inviter(self, identity: str) -> None:
        """Drops who gave `identity` the invitation it accepted, kept while its promotion was
        pending, unless an invitation is open for it again (prelude.lua's settle_inviter)."""
        if identity not in self.invitations.scores:
            self.inviters.pop(identity, None)

    def forget_heard(self, identity: str) -> None:
        """What the room heard of a participant gone from it that held nothing goes, unless a
        change of it is still pending (prelude.lua's forget_heard)."""
        if identity not in self.pending:
            self.heard.pop(identity, None)

    def inviter(self, identity: str, expires: int) -> str:
        """Who gave `identity` its invitation that expires at `expires` (ms), "" if not known."""
        kept = self.inviters.get(identity)
        return kept[1] if kept is not None and kept[0] == expires else ""


def _managers(state: _Room) -> tuple[str, ...]:
    return tuple(sorted(state.moderators))


class MemoryRecords:
    def __init__(
        self,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        change_seconds: float = DEFAULT_CHANGE_SECONDS,
        history_entries: int = HISTORY_ENTRIES,
        starting_seconds: float = DEFAULT_STARTING_SECONDS,
    ) -> None:
        self._history_entries = max(1, history_entries)
        self._idle = max(1, ms(idle_seconds))
        self._bound = ms(change_seconds)
        self._starting = ms(starting_seconds)
        self._rooms: dict[str, _Room] = {}
        self._expiries: _Ordered = _Ordered()  # room -> when it expires
        self._activity: _Ordered = _Ordered()  # room -> last write
        self._stage_changes: _Ordered = _Ordered()  # room -> deadline of its latest stage change
        self._now = 0  # the latest time (ms) a caller gave: the clock of the reads given none

    # --- rooms and their expiry ------------------------------------------------------------

    def _read(self, room: str, now: float) -> _Room:
        now_ms = self._saw(now)
        found = self._rooms.get(room)
        if found is None or found.expires <= now_ms:
            return _Room()
        return found

    def _saw(self, now: float) -> int:
        """`now` in ms, noted as the latest time a caller gave if it is."""
        now_ms = ms(now)
        self._now = max(self._now, now_ms)
        return now_ms

    def _current(self, room: str) -> _Room | None:
        """The room as it stands at the latest time a caller gave; None if it is gone."""
        found = self._rooms.get(room)
        return None if found is None or found.expires <= self._now else found

    @contextmanager
    def _changing(self, room: str, now: float, changes: bool = False) -> Iterator[_Room]:
        """One step on `room`. As in Redis, the global indexes are marked before the step, and the
        room's expiry is refreshed only if the step goes through (a refusal raises out of the
        block and leaves the room as it was)."""
        state = self._write(room, now, changes)
        yield state
        self._touch(room, state, ms(now))

    def _touch(self, room: str, state: _Room, now_ms: int) -> None:
        """A write keeps the room for the idle time from now; an ended show keeps the retention
        its end gave it, whatever still writes to it."""
        if state.phase is not Phase.ENDED:
            state.expires = now_ms + self._idle
        self._expiries.add(room, state.expires)

    def _mark(self, room: str, now: float, changes: bool = False) -> None:
        """Marks the room in the global indexes, as RedisRecords does before every step of its
        _WRITES whether the step then goes through or is refused: written to at `now`, and with
        `changes` a stage change due at the deadline. A step that may refuse (or answer without
        writing) before its _changing block marks first."""
        now_ms = ms(now)
        self._activity.add(room, now_ms)
        self._activity.remove_up_to(now_ms - self._idle)
        if changes:
            self._stage_changes.add(room, now_ms + self._bound)

    def _write(self, room: str, now: float, changes: bool = False) -> _Room:
        """The room to change (rooms past their expiry are gone first); a new one lives for the
        idle time from `now`."""
        now_ms = ms(now)
        self._expire(now_ms)
        self._mark(room, now, changes)
        found = self._rooms.get(room)
        if found is None:
            found = self._rooms[room] = _Room(expires=now_ms + self._idle)
            self._expiries.add(room, found.expires)
        found.seen = None
        return found

    def _expire(self, now_ms: int) -> None:
        """Drops the rooms past their expiry, as Redis expires their keys."""
        self._now = max(self._now, now_ms)
        while self._expiries.order and self._expiries.order[0][0] <= now_ms:
            _, gone = self._expiries.order[0]
            self._expiries.remove(gone)
            self._rooms.pop(gone, None)

    def _seat(self, identity: str, now: float, connection: Connection | None) -> Seat:
        sid, joined_at = (connection.sid, connection.joined_at) if connection else ("", 0)
        return Seat(identity, identity, ms(now), sid, joined_at)

    def _take_seat(self, state: _Room, viewer: str, now: float, connection: Connection | None, change_id: str) -> None:
        state.guests[viewer] = self._seat(viewer, now, connection)
        state.hands.remove(viewer)
        state.invitations.remove(viewer)  # who gave it stays: a promotion LiveKit refuses gives it back
        self._intend(state, viewer, StageChange.PROMOTE, now, change_id, Role.GUEST)

    def _intend(
        self,
        state: _Room,
        identity: str,
        change: StageChange,
        now: float,
        change_id: str,
        part: Role,
        ended: int = 0,
        words: str = "",
    ) -> None:
        """prelude.lua's intend: a change off a part may come with its words (and `ended`)."""
        self._owe(state, identity, overwritten=True)
        at = ms(now)
        state.pending[identity] = PendingChange(
            identity, change, at, at + self._bound, change_id, part, ended=ended if words else 0, words=words
        )

    @staticmethod
    def _owe(state: _Room, identity: str, overwritten: bool) -> None:
        """A change not told yet, about to be overwritten or dropped by a newer step, is owed to
        the room, as prelude.lua's owe has it: a landed one, or with `overwritten` one written
        with words; a dismissal apart, and only when overwritten."""
        held = state.pending.get(identity)
        if held is None or not held.words or not (held.landed or overwritten):
            return
        if held.part is Role.MODERATOR:
            if overwritten:
                state.heard.setdefault(identity, _Heard()).dismissal = (held.ended, held.words)
            return
        state.heard.setdefault(identity, _Heard()).owed = (held.told_part, held.ended, held.words)

    def _drop_change(self, state: _Room, identity: str) -> None:
        """prelude.lua's drop_change."""
        self._owe(state, identity, overwritten=False)
        state.pending.pop(identity, None)

    @staticmethod
    def _limit(state: _Room, default: int) -> int:
        return state.guest_limit if state.guest_limit is not None else default

    @staticmethod
    def _require_host(state: _Room, acting: str | None, not_host: str) -> None:
        if acting is not None and (state.host is None or state.host.identity != acting):
            raise refusal(Refusal.NOT_HOST, acting, not_host)

    @staticmethod
    def _require_not_banned(state: _Room, identity: str) -> None:
        """Nobody banned is put forward: a banned participant back with a token it still held is
        in LiveKit until its removal, and must not raise a hand, take a seat or be appointed."""
        if identity in state.bans:
            raise refusal(Refusal.BANNED, identity)

    @staticmethod
    def _require_open(state: _Room, identity: str) -> None:
        """The steps that put someone forward (a hand, an invitation, a seat, a moderator's part)
        refuse an ended show: all of those ended with it, and it stays locked."""
        if state.phase is Phase.ENDED:
            raise refusal(Refusal.SHOW_ENDED, identity)

    @staticmethod
    def _require_manager(state: _Room, acting: str | None, not_host: str) -> None:
        if not state.manages(acting):
            raise refusal(Refusal.NOT_HOST, acting or "", not_host)

    # --- reading --------------------------------------------------------------------------

    async def stage(self, room: str, now: float) -> StageRecord:
        state, now_ms = self._read(room, now), ms(now)
        seen = state.seen
        if seen is not None and seen[1] <= now_ms < seen[2]:
            return seen[0]
        record = self._stage_record(room, state, now_ms)
        next_expiry = state.invitations.next_above(now_ms)
        state.seen = (record, now_ms, math.inf if next_expiry is None else next_expiry)
        return record

    async def recent_stage(self, room: str, now: float) -> StageRecord:
        return await self.stage(room, now)  # in process, reading it is already this cheap

    async def recently_banned(self, room: str, identity: str, now: float) -> bool:
        # Always current. Asked before every call of a participant's token: the room's expiry is
        # looked at only for a ban found, and nothing else is done.
        found = self._rooms.get(room)
        return found is not None and identity in found.bans and found.expires > self._saw(now)

    @staticmethod
    def _stage_record(room: str, state: _Room, now_ms: int) -> StageRecord:
        return StageRecord(
            room=room,
            host=state.host,
            guests=tuple(sorted(state.guests.values(), key=lambda s: (s.since, s.identity))),
            guest_limit=state.guest_limit,
            room_sid=state.room_sid,
            hands=len(state.hands),
            invitations=state.invitations.count_above(now_ms),
            recordings=tuple(r for _, r in sorted(state.recordings.values(), key=lambda kept: kept[0])),
            pending=tuple(sorted(state.pending.values(), key=lambda p: p.identity)),
            moderators=tuple(i for _, i in sorted((since, i) for i, since in state.moderators.items())),
            bans=len(state.bans),
            life=state.life,
            doubted=tuple(Doubt(identity, due) for identity, due in sorted(state.doubts.items())),
            away=len(state.away),
        )

    async def role_of(self, room: str, identity: str) -> Role:
        found = self._current(room)
        return found.role_of(identity) if found else Role.VIEWER

    async def hosted_by(self, room: str) -> str:
        found = self._current(room)
        return found.hosted_by if found else ""

    async def admission(self, room: str, identity: str, now: float) -> Admission:
        now_ms = self._saw(now)
        state = self._rooms.get(room)
        if state is None or state.expires <= now_ms:
            return _NOBODY  # a viewer's JoinRoom of a room not opened yet: the hot path, no room built
        invitation = state.invitations.scores.get(identity)
        open_until = invitation if invitation is not None and invitation > now_ms else 0
        seat = state.guests.get(identity)
        return Admission(
            state.role_of(identity),
            identity in state.bans,
            state.phase,
            state.hosted_by == identity,
            hand_raised=identity in state.hands.scores,
            invitation_expires_at=open_until,
            invited_by=state.inviter(identity, open_until) if open_until else "",
            locked=seat.locked if seat is not None else (),
            holder=state.holders.get(identity),
        )

    async def standing(self, room: str, identity: str, now: float) -> Standing:
        found = self._read(room, now).standing(identity)
        if found.invitation is not None and found.invitation <= ms(now):
            return replace(found, invitation=None)
        return found

    async def hands(self, room: str, now: float, offset: int = 0, count: int = 100) -> list[Hand]:
        if count <= 0 or offset < 0:
            return []
        state, now_ms = self._read(room, now), ms(now)
        return [
            Hand(identity, raised_at, state.invitations.scores.get(identity, 0) > now_ms)
            for raised_at, identity in state.hands.order.islice(offset, offset + count)
        ]

    async def hands_after(self, room: str, now: float, after: Place | None, count: int) -> HandsPage:
        state, now_ms = self._read(room, now), ms(now)
        # As read_hands_after.lua: the first hand after the place, whether or not it is still up.
        start = 0 if after is None else int(state.hands.order.bisect_right((after.at, after.identity)))
        page = state.hands.order.islice(start, start + max(0, count))
        return HandsPage(
            tuple(Hand(identity, at, state.invitations.scores.get(identity, 0) > now_ms) for at, identity in page),
            len(state.hands),
        )

    async def raised_among(self, room: str, now: float, identities: Collection[str]) -> frozenset[str]:
        raised = self._read(room, now).hands.scores
        return frozenset(identity for identity in identities if identity in raised)

    # --- the host slot --------------------------------------------------------------------

    async def claim_host(
        self,
        room: str,
        identity: str,
        name: str,
        now: float,
        stale_after: float,
        connection: Connection | None = None,
        opens: Phase = Phase.BACKSTAGE,
    ) -> bool:
        self._mark(room, now)
        state = self._read(room, now)
        if state.phase is Phase.ENDED:
            raise refusal(Refusal.SHOW_ENDED, identity)
        host = state.host
        if host is not None and host.identity != identity:
            if host.sid or ms(now) - host.since < ms(stale_after):
                raise refusal(Refusal.ROOM_HAS_HOST, identity)
            host = None
        if host is not None:
            return False
        if identity in state.guests:
            raise refusal(Refusal.GUEST_CANNOT_HOST, identity)
        if identity in state.moderators:
            raise refusal(Refusal.MODERATOR_CANNOT_HOST, identity)
        with self._changing(room, now) as state:
            state.host = replace(self._seat(identity, now, connection), name=name)
            state.hosted_by = identity
            state.holders[identity] = ""  # a host's token carries no mark (claim_host.lua)
            state.hands.remove(identity)
            state.withdraw_invitation(identity)
            if state.phase is Phase.UNOPENED:
                state.life = Lifecycle(opens, ms(now), ms(now) if opens is Phase.LIVE else 0)
            return True

    # --- the show's life ------------------------------------------------------------------

    async def go_live(self, room: str, now: float, acting: str | None, not_host: str = "") -> tuple[bool, Lifecycle]:
        self._mark(room, now)
        state = self._read(room, now)
        if state.phase is Phase.ENDED:
            raise refusal(Refusal.SHOW_ENDED, acting or "")
        self._require_host(state, acting, not_host)
        if state.phase is Phase.UNOPENED:
            raise refusal(Refusal.NOT_OPENED, acting or "")
        if state.phase is Phase.LIVE:
            return False, state.life
        with self._changing(room, now) as state:
            state.life = replace(state.life, phase=Phase.LIVE, live_at=ms(now), release_due=ms(now) + self._bound)
            state.live_by = acting or ""
            return True, state.life

    async def audience_released(self, room: str, now: float) -> str | None:
        self._mark(room, now)
        if not self._read(room, now).life.release_due:
            return None
        with self._changing(room, now) as state:
            state.life = replace(state.life, release_due=0)
            return state.live_by

    async def end_show(self, room: str, now: float, keep_seconds: float) -> tuple[bool, Lifecycle]:
        self._mark(room, now)
        state = self._read(room, now)
        if state.phase is Phase.ENDED:
            return False, state.life
        with self._changing(room, now) as state:
            state.host = None
            state.guests.clear()
            state.hands, state.invitations = _Ordered(), _Ordered()
            state.inviters.clear()
            state.pending.clear()
            state.heard.clear()
            state.moderators.clear()
            state.holders.clear()
            state.doubts.clear()
            state.away = _Ordered()
            state.left_behind.clear()
            state.life = replace(state.life, phase=Phase.ENDED, ended_at=ms(now), release_due=0)
            state.expires = ms(now) + max(1, ms(keep_seconds))
            return True, state.life

    # --- the stage ------------------------------------------------------------------------

    async def invite(
        self,
        room: str,
        viewer: str,
        now: float,
        expires_in: float,
        default_limit: int,
        acting: str | None,
        not_host: str = errors.ONLY_HOST_PROMOTES,
        connection: Connection | None = None,
        change_id: str = "",
    ) -> Seating:
        with self._changing(room, now, changes=True) as state:
            self._require_open(state, viewer)
            state.expire_invitations(ms(now))
            self._require_manager(state, acting, not_host)
            self._require_not_banned(state, viewer)
            before = state.standing(viewer)
            if state.role_of(viewer) is Role.HOST:
                raise refusal(Refusal.HOST_ON_STAGE, viewer)
            if state.role_of(viewer) is Role.MODERATOR:
                raise refusal(Refusal.NOT_A_VIEWER, viewer)
            # A full stage is the MVP's answer whoever is invited; with a seat free, the guest
            # already on stage is told it is one, not that the stage is full.
            if len(state.guests) >= self._limit(state, default_limit):
                raise refusal(Refusal.ROOM_HAS_GUEST, viewer)
            if before.seat is not None:
                raise refusal(Refusal.ALREADY_GUEST, viewer)
            host = state.host.identity if state.host else None
            state.bind(viewer, connection)
            if before.hand is not None:
                self._take_seat(state, viewer, now, connection, change_id)
                return Seating(True, before, host, _managers(state))
            expires = ms(now) + ms(expires_in)
            state.invitations.add(viewer, expires)
            state.inviters[viewer] = (expires, acting or "")
            return Seating(False, before, host, _managers(state))

    async def accept(
        self,
        room: str,
        viewer: str,
        now: float,
        default_limit: int,
        connection: Connection | None = None,
        change_id: str = "",
        holder: str | None = None,
    ) -> Seating:
        with self._changing(room, now, changes=True) as state:
            self._require_open(state, viewer)
            state.expire_invitations(ms(now))
            before = state.standing(viewer)
            if before.invitation is None:
                raise refusal(Refusal.NO_INVITATION, viewer)
            self._require_not_banned(state, viewer)
            state.require_holder(viewer, holder)
            if len(state.guests) >= self._limit(state, default_limit):
                raise refusal(Refusal.ROOM_HAS_GUEST, viewer)
            self._take_seat(state, viewer, now, connection, change_id)
            return Seating(True, before, state.host.identity if state.host else None, _managers(state))

    async def decline(self, room: str, viewer: str, now: float, holder: str | None = None) -> None:
        with self._changing(room, now) as state:
            state.expire_invitations(ms(now))
            if viewer in state.invitations.scores:
                state.require_holder(viewer, holder)
            if not state.withdraw_invitation(viewer):
                raise refusal(Refusal.NO_INVITATION, viewer)

    async def set_hand(
        self,
        room: str,
        identity: str,
        raised: bool,
        now: float,
        default_limit: int,
        connection: Connection | None = None,
        change_id: str = "",
        holder: str | None = None,
    ) -> Seating:
        with self._changing(room, now, changes=raised) as state:
            self._require_open(state, identity)
            state.expire_invitations(ms(now))
            if state.role_of(identity) is not Role.VIEWER:
                raise refusal(Refusal.ONLY_VIEWERS_RAISE, identity)
            if raised:
                self._require_not_banned(state, identity)
            before = state.standing(identity)
            if raised and before.invitation is not None:  # an invited viewer's hand takes the seat
                state.require_holder(identity, holder)
            host = state.host.identity if state.host else None
            if not raised:
                state.hands.remove(identity)
                return Seating(False, before, host, _managers(state))
            if before.hand is None:
                state.hands.add(identity, ms(now))
            if before.invitation is not None and len(state.guests) < self._limit(state, default_limit):
                self._take_seat(state, identity, now, connection, change_id)
                return Seating(True, before, host, _managers(state))
            return Seating(False, before, host, _managers(state))

    async def lower_abandoned_hand(
        self, room: str, identity: str, raised_at: int | None, invitation: int | None = None
    ) -> bool:
        found = self._current(room)
        if found is None:
            return False
        lowered = raised_at is not None and found.hands.scores.get(identity) == raised_at
        if lowered:
            found.hands.remove(identity)
        withdrawn = invitation is not None and found.invitations.scores.get(identity) == invitation
        if withdrawn:
            found.withdraw_invitation(identity)
        if lowered or withdrawn:
            found.seen = None
            if found.role_of(identity) is Role.VIEWER:  # gone, as a leave that held nothing
                found.forget_heard(identity)
        return lowered

    async def unseat(
        self,
        room: str,
        guest: str,
        now: float,
        change: StageChange,
        acting: str | None = None,
        not_host: str = "",
        change_id: str = "",
        words: str = "",
    ) -> Seat:
        with self._changing(room, now, changes=True) as state:
            self._require_manager(state, acting, not_host)
            seat = state.guests.pop(guest, None)
            if seat is None:
                raise refusal(Refusal.GUEST_NOT_FOUND, guest)
            state.settle_inviter(guest)  # off the stage: no undo names the inviter now
            self._intend(state, guest, change, now, change_id, Role.GUEST, seat.since, words)
            return seat

    async def restore(
        self, room: str, identity: str, standing: Standing, now: float, default_limit: int, change_id: str = ""
    ) -> bool:
        # The refusals are decided before the step, as restore.lua does: they keep the room no
        # longer, but mark it in the global indexes, as every step of RedisRecords._WRITES does.
        self._mark(room, now)
        found = self._read(room, now)
        if found.phase is Phase.ENDED:
            return True  # nothing to give back: seats, hands and invitations ended with the show
        held = found.pending.get(identity)
        if change_id and (held is None or held.id != change_id or held.landed):
            return False  # a newer change was written since, or this one completed: it stands
        banned = identity in found.bans
        if standing.seat is not None:
            if banned:
                return False  # nobody banned is put forward: the change stays pending
            role = found.role_of(identity)
            if role in (Role.HOST, Role.MODERATOR):
                return False  # one part at a time: the newer part stands
            if role is not Role.GUEST and len(found.guests) >= self._limit(found, default_limit):
                return False
        with self._changing(room, now) as state:
            state.guests.pop(identity, None)
            if standing.seat is not None:
                state.guests[identity] = standing.seat
            state.hands.remove(identity)
            if standing.hand is not None and not banned:
                state.hands.add(identity, standing.hand)
            if standing.invitation is not None and not banned:
                # Who gave it was kept while the promotion was pending: it names them again.
                state.invitations.add(identity, standing.invitation)
            else:
                state.withdraw_invitation(identity)
            self._drop_change(state, identity)
            return True

    async def forget(self, room: str, identity: str, now: float, removed: bool = False, away: int = 0) -> Role:
        if away:
            self._mark(room, now)  # as RedisRecords marks before the step, whether it frees or not
            seat = self._read(room, now).seat(identity)
            if seat is None or seat.away != away:
                return Role.VIEWER  # the holder is back (or the seat gone): nothing is freed
        with self._changing(room, now) as state:
            if removed and state.hosted_by == identity:
                state.hosted_by = ""
            return self._forget(state, identity)

    @staticmethod
    def _forget(state: _Room, identity: str) -> Role:
        role = state.role_of(identity)
        if role is Role.HOST:
            state.host = None
        state.guests.pop(identity, None)
        state.hands.remove(identity)
        state.withdraw_invitation(identity)
        # A change off a part still pending stays, with what the room heard (prelude.lua's forget).
        held = state.pending.get(identity)
        if held is None or held.change is StageChange.PROMOTE:
            state.pending.pop(identity, None)
            state.heard.pop(identity, None)
        state.moderators.pop(identity, None)
        return role

    async def set_guest_limit(
        self, room: str, limit: int, now: float, acting: str | None = None, not_host: str = ""
    ) -> int | None:
        with self._changing(room, now) as state:
            self._require_host(state, acting, not_host)
            before, state.guest_limit = state.guest_limit, limit
            return before

    # --- moderators and bans -------------------------------------------------------------

    async def appoint(
        self,
        room: str,
        identity: str,
        now: float,
        acting: str | None,
        not_host: str = "",
        connection: Connection | None = None,
        rebind: bool = True,
    ) -> Standing:
        self._mark(room, now)
        state = self._read(room, now)
        self._require_open(state, identity)
        self._require_host(state, acting, not_host)
        role = state.role_of(identity)
        if role is Role.MODERATOR:
            raise refusal(Refusal.ALREADY_MODERATOR, identity)
        if role is not Role.VIEWER:
            raise refusal(Refusal.NOT_A_VIEWER, identity)
        self._require_not_banned(state, identity)
        if len(state.moderators) >= MODERATORS_PER_ROOM:
            raise refusal(Refusal.TOO_MANY_MODERATORS, identity)
        with self._changing(room, now) as state:
            state.expire_invitations(ms(now))
            before = state.standing(identity)
            state.moderators[identity] = ms(now)
            if rebind:
                state.bind(identity, connection)
            state.doubt(identity, ms(now) + self._bound)
            state.hands.remove(identity)
            state.withdraw_invitation(identity)
            self._drop_change(state, identity)
            return before

    async def dismiss(
        self,
        room: str,
        identity: str,
        now: float,
        change_id: str = "",
        words: str = "",
        change: StageChange = StageChange.DEMOTE,
    ) -> None:
        self._mark(room, now, changes=True)
        if identity not in self._read(room, now).moderators:
            raise refusal(Refusal.NOT_MODERATOR, identity)
        with self._changing(room, now, changes=True) as state:
            del state.moderators[identity]
            self._intend(state, identity, change, now, change_id, Role.MODERATOR, ms(now), words)

    async def ban(self, room: str, identity: str, now: float, acting: str | None, not_host: str = "") -> bool:
        self._mark(room, now)
        state = self._read(room, now)
        self._require_manager(state, acting, not_host)
        role = state.role_of(identity)
        if role is Role.HOST:
            raise refusal(Refusal.HOST_NOT_BANNED, identity)
        if role is Role.MODERATOR and acting == identity:
            raise refusal(Refusal.MODERATOR_REMOVES_ITSELF, identity)
        if role is Role.MODERATOR and acting is not None and state.role_of(acting) is not Role.HOST:
            raise refusal(Refusal.MODERATOR_ON_MODERATOR, identity)
        with self._changing(room, now) as state:
            if identity in state.bans:
                return False
            state.bans[identity] = Ban(identity, ms(now), acting or "")
            return True

    async def unban(self, room: str, identity: str, now: float) -> None:
        self._mark(room, now)
        if identity not in self._read(room, now).bans:
            raise refusal(Refusal.NOT_BANNED, identity)
        with self._changing(room, now) as state:
            del state.bans[identity]

    async def lock_source(
        self, room: str, guest: str, source: str, locked: bool, sources: int, now: float
    ) -> tuple[str, ...]:
        self._mark(room, now)
        seat = self._read(room, now).guests.get(guest)
        if seat is None:
            raise refusal(Refusal.GUEST_NOT_FOUND, guest)
        after = tuple(sorted({*seat.locked, source} if locked else set(seat.locked) - {source}))
        if len(after) >= sources:
            raise refusal(Refusal.LAST_SOURCE, guest)
        with self._changing(room, now) as state:
            state.guests[guest] = replace(seat, locked=after)
            held = state.pending.get(guest)
            if held is not None and not held.landed:  # one landed stays, to be told
                del state.pending[guest]
            return after

    async def bans(self, room: str, now: float) -> list[Ban]:
        return sorted(self._read(room, now).bans.values(), key=lambda b: (b.since, b.identity))

    async def bans_after(self, room: str, now: float, after: Place | None, count: int) -> BansPage:
        bans = await self.bans(room, now)
        later = [b for b in bans if after is None or (b.since, b.identity) > (after.at, after.identity)]
        return BansPage(tuple(later[: max(0, count)]), len(bans))

    # --- recordings -----------------------------------------------------------------------

    async def reserve_recording(
        self,
        room: str,
        placeholder: str,
        layout: str,
        now: float,
        kind: EgressKind = EgressKind.RECORDING,
        destinations: tuple[str, ...] = (),
    ) -> None:
        with self._changing(room, now) as state:
            if state.phase is Phase.ENDED:  # nothing of an ended show is recorded or streamed
                raise refusal(Refusal.SHOW_ENDED, placeholder)
            busy = [r for _, r in state.recordings.values() if r.in_the_way and r.kind is kind]
            # A placeholder held this long was left by an instance that died (reserve_recording.lua).
            abandoned = [r.id for r in busy if r.placeholder and r.started_at + self._starting <= ms(now)]
            if len(busy) > len(abandoned):
                reason = Refusal.ALREADY_STREAMING if kind is EgressKind.STREAM else Refusal.ALREADY_RECORDING
                raise refusal(reason, placeholder)
            for gone in abandoned:
                del state.recordings[gone]
            state.recording_seq += 1
            held = Recording(placeholder, layout, 0, ms(now), kind=kind, destinations=destinations)
            state.recordings[placeholder] = (state.recording_seq, held)
            # The oldest ended one goes first; one still running or ending is kept, its end still
            # to be heard (reserve_recording.lua).
            while sum(r.kind is kind for _, r in state.recordings.values()) > KEPT_RECORDINGS:
                ended = [rid for rid, (_, r) in state.recordings.items() if r.kind is kind and not r.active]
                if not ended:
                    break
                del state.recordings[min(ended, key=lambda rid: state.recordings[rid][0])]

    async def set_destinations(
        self, room: str, stream_id: str, destinations: tuple[str, ...], now: float, read: Recording | None = None
    ) -> bool:
        self._mark(room, now)
        held = self._read(room, now).recordings.get(stream_id)
        if held is None:
            return False
        if read is not None and not (
            held[1].active
            and (held[1].destinations, held[1].destinations_at) == (read.destinations, read.destinations_at)
        ):
            return False
        with self._changing(room, now) as state:
            held = state.recordings.get(stream_id)
            if held is None:
                return False
            changed = replace(held[1], destinations=destinations, destinations_at=ms(now))
            state.recordings[stream_id] = (held[0], changed)
            return True

    async def settle_recording(
        self, room: str, placeholder: str, recording_id: str, status: int, location: str, now: float
    ) -> None:
        self._mark(room, now)
        if placeholder not in self._read(room, now).recordings:
            return
        with self._changing(room, now) as state:
            held = state.recordings.pop(placeholder, None)
            if held is not None:
                seq, recording = held
                state.recordings[recording_id] = (
                    seq,
                    replace(recording, id=recording_id, location=location, status=max(recording.status, status)),
                )

    async def drop_recording(self, room: str, placeholder: str, now: float) -> None:
        with self._changing(room, now) as state:
            state.recordings.pop(placeholder, None)

    async def record_progress(
        self, room: str, recording_id: str, status: int, at: float, error: str, location: str, now: float
    ) -> tuple[int, int] | None:
        self._mark(room, now)
        if recording_id not in self._read(room, now).recordings:
            return None
        with self._changing(room, now) as state:
            held = state.recordings.get(recording_id)
            if held is None:
                return None
            seq, found = held
            before = found.status
            if status > found.status:
                found = replace(found, status=status)
                if status not in ACTIVE_STATUSES:
                    found = replace(found, ended_at=ms(at))
            found = replace(found, error=error or found.error, location=location or found.location)
            state.recordings[recording_id] = (seq, found)
            return before, found.status

    # --- LiveKit's view -------------------------------------------------------------------

    async def room_opened(self, room: str, room_sid: str, created_at: int, now: float) -> bool:
        self._mark(room, now)
        state = self._read(room, now)
        if state.phase is Phase.ENDED:  # a room a token of the ended show opened is none of it
            return False
        if state.room_sid == room_sid or (state.room_sid and created_at <= state.room_created):
            return False
        with self._changing(room, now) as state:
            renewed = bool(state.room_sid)
            state.room_sid, state.room_created = room_sid, created_at
            if renewed:
                # The seats' connections belonged to the older incarnation.
                if state.host is not None:
                    state.host = state.host.held_through("", 0)
                state.guests = {who: seat.held_through("", 0) for who, seat in state.guests.items()}
            return True

    def _same_incarnation(self, room: str, room_sid: str, now: float) -> bool:
        if not room_sid:
            return True
        found = self._read(room, now)
        current = found.room_sid
        if not current:
            # Only a record that holds a seat is named by an event (see prelude.lua).
            if found.host is not None or found.guests:
                with self._changing(room, now) as state:
                    state.room_sid = room_sid
            return True
        return current == room_sid

    async def connected(
        self,
        room: str,
        identity: str,
        connection: Connection,
        room_sid: str,
        now: float,
        listed_at: float | None = None,
    ) -> Verdict:
        if not self._same_incarnation(room, room_sid, now):
            return Verdict.STALE
        state = self._read(room, now)
        seat = state.seat(identity)
        if seat is None:
            return Verdict.NOT_HELD
        if seat.sid == connection.sid and seat.joined_at and not seat.away:
            return Verdict.APPLIED
        if seat.sid and seat.sid != connection.sid and seat.joined_at > connection.joined_at:
            return Verdict.STALE  # a late join of an older connection
        event = listed_at is None or seat.away > ms(listed_at)  # a listing older than the absence is none
        if seat.away and event and (seat.away_of == connection.sid or seat.away_joined > connection.joined_at):
            return Verdict.STALE  # a late join of the connection gone, or of an older one
        with self._changing(room, now) as state:
            # The connection the seat knew already keeps the join time it was heard with.
            known = seat.sid == connection.sid and seat.joined_at
            state.seat_again(seat.held_through(connection.sid, seat.joined_at if known else connection.joined_at))
            return Verdict.APPLIED

    async def seat_away(self, room: str, identity: str, gone: Connection, now: float) -> bool:
        self._mark(room, now)  # as RedisRecords marks before the step, whether it notes or not
        seat = self._read(room, now).seat(identity)
        if seat is None or (seat.sid and seat.sid != gone.sid and gone.joined_at <= seat.joined_at):
            return False  # no seat, or a newer connection holds it
        if seat.sid == gone.sid:  # it joined when the seat says, whatever time the leave carries
            gone = replace(gone, joined_at=max(gone.joined_at, seat.joined_at))
        if seat.away and (seat.away_of == gone.sid or seat.away_joined > gone.joined_at):
            return True  # noted already, of this connection or a newer one: the first moment stays
        with self._changing(room, now) as state:
            state.seat_again(replace(seat, away=ms(now), away_of=gone.sid, away_joined=gone.joined_at))
        return True

    async def left(
        self,
        room: str,
        identity: str,
        connection: Connection,
        at: float,
        room_sid: str,
        now: float,
        keep: bool = False,
    ) -> Departure:
        if not self._same_incarnation(room, room_sid, now):
            return Departure(Verdict.STALE, None)
        state = self._read(room, now)
        seat = state.seat(identity)
        raised, invitation = state.hands.scores.get(identity), state.invitations.scores.get(identity)
        if invitation is not None and invitation <= ms(now):
            invitation = None  # an expired invitation is none, cleared or not (left.lua)
        if seat is not None:
            if not seat.sid:
                # LiveKit's created_at counts whole seconds: a leave in the seat's own second counts.
                if ms(at) < seat.since - seat.since % 1000:
                    return Departure(Verdict.STALE, None)
            elif seat.sid != connection.sid and connection.joined_at <= seat.joined_at:
                return Departure(Verdict.STALE, None)
        elif raised is None and invitation is None:
            # It frees nothing, and no activity is marked; what the room heard of a viewer goes
            # (a moderator keeps its part through a leave, and what the room heard of it).
            if state.role_of(identity) is Role.VIEWER:
                state.forget_heard(identity)
            return Departure(Verdict.NOT_HELD, None)
        elif keep:
            # Written, as left.lua's ZADD, without marking the room in the global indexes.
            state.away.add(identity, ms(now))
            state.left_behind[identity] = (raised, invitation)
            state.seen = None
            self._touch(room, state, ms(now))
            return Departure(Verdict.APPLIED, None, kept=Standing(None, raised, invitation))
        hand = raised is not None
        with self._changing(room, now) as state:
            return Departure(Verdict.APPLIED, self._forget(state, identity), hand)

    async def pending(self, room: str) -> list[PendingChange]:
        found = self._current(room)
        return sorted(found.pending.values(), key=lambda p: p.identity) if found else []

    async def complete(self, room: str, identity: str, change: StageChange, change_id: str = "") -> bool:
        found = self._current(room)
        held = found.pending.get(identity) if found else None
        # One without an id (an older version's) by its kind, as complete.lua does; a landed one
        # was cleared of LiveKit already.
        if found is None or held is None or not self._owns(held, change, change_id):
            return False
        del found.pending[identity]
        if change is StageChange.PROMOTE:
            found.settle_inviter(identity)  # settled: no undo names the inviter now
        found.seen = None
        return True

    @staticmethod
    def _owns(held: PendingChange, change: StageChange, change_id: str) -> bool:
        """Whether `held`, not landed, is the change `change_id` of kind `change` names."""
        return held.change is change and not held.landed and (not held.id or held.id == change_id)

    async def land(
        self, room: str, identity: str, change: StageChange, change_id: str, ended: int, words: str, now: float
    ) -> bool:
        self._mark(room, now, changes=True)  # as RedisRecords.land: its new deadline is watched
        found = self._current(room)
        held = found.pending.get(identity) if found else None
        if found is None or held is None or not self._owns(held, change, change_id):
            return False
        with self._changing(room, now, changes=True) as state:
            state.pending[identity] = replace(
                held, id=change_id or held.id, landed=True, ended=ended, words=words, deadline=ms(now) + self._bound
            )
            if change is StageChange.PROMOTE:
                state.settle_inviter(identity)  # settled: no undo names the inviter now
        return True

    async def tell(
        self, room: str, identity: str, part: Role, ended: int, words: str, now: float, change_id: str = ""
    ) -> tuple[str, ...]:
        found = self._current(room)
        if found is None or found.holds_nothing():  # a room that is gone hears nothing (tell.lua)
            return ()
        telling = _Telling(found, identity)
        told = telling.tell(part, ended, words, change_id)
        if telling.wrote:  # the room kept, not marked written to (tell.lua is no activity)
            found.seen = None
            self._touch(room, found, ms(now))
        return told

    async def overdue(self, now: float, count: int = 100) -> list[str]:
        now_ms = self._saw(now)
        candidates = [room for score, room in self._stage_changes.order.irange(maximum=(now_ms, "\U0010ffff"))]
        found: list[str] = []
        for room in candidates[:count]:
            earliest = min((p.deadline for p in await self.pending(room)), default=None)
            if earliest is not None and earliest <= now_ms:
                found.append(room)
            elif earliest is None:
                self._stage_changes.remove(room)
            else:
                self._stage_changes.add(room, earliest)
        return found

    # --- the show's history --------------------------------------------------------------

    async def append_history(self, room: str, entry: HistoryEntry, now: float) -> int:
        # As in Redis, an entry marks no global index (the step it accompanies did), and it keeps
        # the room alive for the idle time, as every write does.
        # A room that is gone gains no history, as in Redis (append_history.lua says why).
        now_ms = ms(now)
        self._expire(now_ms)
        state = self._rooms.get(room)
        if state is None or state.holds_nothing():
            return 0
        state.history_last += 1
        sequence = state.history_last
        state.history[sequence] = replace(entry, sequence=sequence)
        state.history.pop(sequence - self._history_entries, None)  # past the cap, the oldest goes
        self._touch(room, state, now_ms)
        return sequence

    async def history(self, room: str, after: int, count: int, now: float) -> list[HistoryEntry]:
        if count <= 0 or after < 0:
            return []
        state = self._read(room, now)
        first = max(after + 1, state.history_last - len(state.history) + 1)
        return [state.history[s] for s in range(first, min(state.history_last, first + count - 1) + 1)]

    async def active_rooms(self, since: float, count: int = 1_000_000) -> list[str]:
        found = self._activity.order.irange(minimum=(ms(since), ""))
        return [room for _, room in list(found)[:count]]

    async def doubt(self, room: str, identity: str, now: float) -> None:
        if self._read(room, now).phase is Phase.ENDED:
            self._mark(room, now)  # as RedisRecords marks before the step, which writes nothing
            return
        with self._changing(room, now) as state:
            state.doubt(identity, ms(now) + self._bound)

    async def settle_doubts(self, room: str, doubts: Iterable[Doubt], now: float) -> None:
        found = self._current(room)
        if found is None:
            return
        for doubt in doubts:
            if found.doubts.get(doubt.identity) == doubt.due:
                del found.doubts[doubt.identity]
                found.seen = None

    async def away(self, room: str, before: float, count: int) -> list[AwayViewer]:
        found = self._current(room)
        if found is None or count <= 0:
            return []
        ordered = found.away.order
        due = min(count, int(ordered.bisect_right((ms(before), "\U0010ffff"))))
        return [
            AwayViewer(identity, at, *found.left_behind.get(identity, (None, None)))
            for at, identity in ordered.islice(0, due)
        ]

    async def settle_away(self, room: str, identity: str, since: int) -> None:
        found = self._current(room)
        if found is not None and found.away.scores.get(identity) == since:
            found.away.remove(identity)
            found.left_behind.pop(identity, None)
            found.seen = None

    async def keep_alive(self, room: str, room_sid: str, now: float) -> bool:
        now_ms = ms(now)
        self._expire(now_ms)
        found = self._rooms.get(room)
        if found is None or found.holds_nothing() or found.phase is Phase.ENDED:
            return False  # a room of which nothing is kept is as gone as one Redis holds no key of
        if room_sid and found.room_sid not in ("", room_sid):
            return False
        self._touch(room, found, now_ms)
        return True

    async def retire(self, room: str, room_sid: str = "") -> bool:
        found = self._current(room)
        if found is not None and room_sid and found.room_sid and found.room_sid != room_sid:
            return False
        if found is not None and found.phase is Phase.ENDED:  # kept for its retention, locked
            return False
        self._rooms.pop(room, None)
        self._expiries.remove(room)
        return True

    async def deployment(self, proposed: str) -> str:
        return proposed

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._rooms.clear()


# What a room that does not exist says of anyone: a viewer, in good standing, of an unopened show.
_NOBODY = Admission(Role.VIEWER, False)


class _Telling:
    """One step of tell.lua on a room: what the room is to hear of `identity`, and whether the
    step wrote anything (the room is then touched, as the script's writes touch it)."""

    def __init__(self, state: _Room, identity: str) -> None:
        self.state, self.identity, self.wrote = state, identity, False
        self.told: list[str] = []
        self.appointed = state.moderators.get(identity)

    def heard(self) -> _Heard:
        self.wrote = True
        return self.state.heard.setdefault(self.identity, _Heard())

    def dismissal_told(self, at: int, words: str) -> None:
        """A dismissal at `at` is told unless the record holds the moderator appointed again, or
        the room heard it dismissed at that moment or later."""
        heard = self.state.heard.get(self.identity)
        mod = heard.moderator if heard is not None else None
        if self.appointed is not None or (mod is not None and not mod[0] and mod[1] >= at):
            return
        self.heard().moderator = (False, at)
        self.told.append(words)

    def tell(self, part: Role, ended: int, words: str, change_id: str) -> tuple[str, ...]:
        state, identity = self.state, self.identity
        held = state.pending.get(identity)
        if held is not None and held.landed and change_id and held.id == change_id:
            del state.pending[identity]  # told now, by whoever comes first
            held, self.wrote = None, True
        heard = state.heard.get(identity)
        if heard is not None and heard.dismissal is not None:
            (at, said), heard.dismissal, self.wrote = heard.dismissal, None, True
            if not (part is Role.MODERATOR and ended and ended >= at):
                self.dismissal_told(at, said)
        if part is Role.MODERATOR:
            self._moderator(ended, words)
            return tuple(self.told)
        if held is not None:
            if words:
                self.heard().owed = (part, ended, words)
            return tuple(self.told)
        heard = state.heard.get(identity)
        owed = heard.owed if heard is not None else None
        if heard is not None and owed is not None:
            heard.owed, self.wrote = None, True
        seat = state.guests.get(identity)
        if (seat is not None) != (part is Role.GUEST) or state.role_of(identity) is Role.HOST:
            return tuple(self.told)
        if not words:
            if owed is None or owed[0] is not part:
                return tuple(self.told)
            (_, ended, words), owed = owed, None
        at = seat.since if seat is not None else ended
        if heard is not None and heard.part is part:
            if seat is not None and heard.seat == at:
                return tuple(self.told)
            # Heard of an older seat: what the room missed since is owed, or it hears nothing.
            if owed is None or owed[0] is part or (seat is not None and owed[1] < heard.seat):
                return tuple(self.told)
            self.told.append(owed[2])
        kept = self.heard()
        kept.part, kept.seat = part, at
        self.told.append(words)
        return tuple(self.told)

    def _moderator(self, ended: int, words: str) -> None:
        """An appointment (`ended` 0) is told unless the record no longer holds it, or the room
        heard it appointed and never heard it dismissed since; a dismissal by dismissal_told."""
        if not words:
            return
        if ended:
            self.dismissal_told(ended, words)
            return
        heard = self.state.heard.get(self.identity)
        mod = heard.moderator if heard is not None else None
        if self.appointed is None or (mod is not None and mod[0]):
            return
        self.heard().moderator = (True, self.appointed)
        self.told.append(words)
