"""A show's state as Showrunner keeps it, and the pure rules that change it.

Stores persist a ShowState as JSON and apply changes atomically (service/core/ports.py); the
methods here decide whether a change is allowed and raise ShowError otherwise, so a refused
change never reaches a store. Nothing here does I/O or reads a clock: `now` is passed in.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from service.core import errors
from service.core.roles import Role


@dataclass
class Seat:
    """A participant holding a stage slot (host or guest)."""

    identity: str
    name: str
    since: float
    # LiveKit's id for the participant's connection, once seen connected; "" until then.
    sid: str = ""


# LiveKit's EgressStatus values, in the order a recording moves through them; past ENDING, each
# is an end (COMPLETE 3, FAILED 4, ABORTED 5, LIMIT_REACHED 6).
EGRESS_STARTING, EGRESS_ACTIVE, EGRESS_ENDING, EGRESS_ABORTED = 0, 1, 2, 5
RECORDINGS_KEPT = 20


@dataclass
class Recording:
    """A recording of the show, as LiveKit's egress last reported it."""

    id: str
    layout: str
    status: int
    started_at: float
    ended_at: float = 0.0
    location: str = ""
    error: str = ""

    @property
    def active(self) -> bool:
        return self.status in (EGRESS_STARTING, EGRESS_ACTIVE, EGRESS_ENDING)


@dataclass(frozen=True)
class Standing:
    """One participant's part of the state (guest seat, raised hand, invitation), kept to put it
    back if LiveKit refuses a change that was already made in the store."""

    seat: Seat | None
    hand: float | None
    invitation: float | None


@dataclass
class ShowState:
    room: str
    host: Seat | None = None
    guests: list[Seat] = field(default_factory=list)
    # identity -> when the hand went up; insertion order is the order hands were raised.
    hands: dict[str, float] = field(default_factory=dict)
    # identity -> when the host's pending invitation expires.
    invitations: dict[str, float] = field(default_factory=dict)
    # Guests allowed on stage at once; None follows the service's default.
    guest_limit: int | None = None
    # The room's recordings, oldest first; at most one active.
    recordings: list[Recording] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return (
            self.host is None
            and not self.guests
            and not self.hands
            and not self.invitations
            and self.guest_limit is None
            and not self.recordings
        )

    def role_of(self, identity: str) -> Role:
        if self.host is not None and self.host.identity == identity:
            return Role.HOST
        if any(g.identity == identity for g in self.guests):
            return Role.GUEST
        return Role.VIEWER

    def guest(self, identity: str) -> Seat | None:
        return next((g for g in self.guests if g.identity == identity), None)

    def seat_of(self, identity: str) -> Seat | None:
        if self.host is not None and self.host.identity == identity:
            return self.host
        return self.guest(identity)

    def limit(self, default: int) -> int:
        return self.guest_limit if self.guest_limit is not None else default

    def invited(self, identity: str, now: float) -> bool:
        return self.invitations.get(identity, 0.0) > now

    def standing(self, identity: str) -> Standing:
        seat = self.guest(identity)
        copied = Seat(seat.identity, seat.name, seat.since, seat.sid) if seat else None
        return Standing(copied, self.hands.get(identity), self.invitations.get(identity))

    def restore(self, identity: str, standing: Standing) -> None:
        """Puts `identity`'s seat, hand and invitation back as `standing` recorded them."""
        self.guests = [g for g in self.guests if g.identity != identity]
        if standing.seat is not None:
            self.guests.append(standing.seat)
        self.hands.pop(identity, None)
        if standing.hand is not None:
            self.hands[identity] = standing.hand
            self.hands = dict(sorted(self.hands.items(), key=lambda kv: kv[1]))
        self.invitations.pop(identity, None)
        if standing.invitation is not None:
            self.invitations[identity] = standing.invitation

    # --- the host slot -------------------------------------------------------------------

    def claim_host(self, identity: str, name: str, now: float, stale_after: float) -> bool:
        """Takes the host slot; True if newly taken, False if `identity` already held it.

        A host who was given a token but never connected stops blocking the room after
        `stale_after` seconds: the next host may take the slot."""
        if self.host is not None and self.host.identity != identity:
            if self.host.sid or now - self.host.since < stale_after:
                raise errors.ShowError(errors.Code.ALREADY_EXISTS, errors.ROOM_HAS_HOST)
            self.host = None
        if self.host is not None:
            return False
        if self.guest(identity) is not None:
            raise errors.precondition(f"{identity} is a guest of this room and cannot also host it")
        self.host = Seat(identity, name, now)
        self.hands.pop(identity, None)
        self.invitations.pop(identity, None)
        return True

    def host_is_stale(self, now: float, stale_after: float) -> bool:
        return self.host is not None and not self.host.sid and now - self.host.since >= stale_after

    # --- the stage -----------------------------------------------------------------------

    def invite(self, viewer: str, now: float, expires_in: float, default_limit: int) -> bool:
        """The host invites a viewer. True if the viewer's hand is up, so both agree and the viewer
        takes a seat now; False if the invitation now waits for the viewer's answer."""
        self.expire(now)
        if self.role_of(viewer) is Role.HOST:
            raise errors.precondition(f"{viewer} is the host and is already on stage")
        if self.guest(viewer) is not None or len(self.guests) >= self.limit(default_limit):
            raise errors.denied(errors.ROOM_HAS_GUEST)
        if viewer in self.hands:
            self._seat(viewer, now)
            return True
        self.invitations[viewer] = now + expires_in
        return False

    def accept(self, viewer: str, now: float, default_limit: int) -> None:
        self.expire(now)
        if viewer not in self.invitations:
            raise errors.not_found(errors.no_invitation(viewer))
        if len(self.guests) >= self.limit(default_limit):
            raise errors.denied(errors.ROOM_HAS_GUEST)
        self._seat(viewer, now)

    def decline(self, viewer: str, now: float) -> None:
        self.expire(now)
        if self.invitations.pop(viewer, None) is None:
            raise errors.not_found(errors.no_invitation(viewer))

    def set_hand(self, identity: str, raised: bool, now: float, default_limit: int) -> bool:
        """Raises or lowers a viewer's hand. True if raising it accepted a pending invitation
        and the viewer took a seat."""
        self.expire(now)
        if self.role_of(identity) is not Role.VIEWER:
            raise errors.precondition("Only viewers can raise a hand")
        if not raised:
            self.hands.pop(identity, None)
            return False
        self.hands.setdefault(identity, now)
        if identity in self.invitations and len(self.guests) < self.limit(default_limit):
            self._seat(identity, now)
            return True
        return False

    def unseat_guest(self, guest: str) -> Seat:
        seat = self.guest(guest)
        if seat is None:
            raise errors.not_found(errors.GUEST_NOT_FOUND)
        self.guests.remove(seat)
        return seat

    def set_guest_limit(self, limit: int) -> None:
        self.guest_limit = limit

    def _seat(self, viewer: str, now: float) -> None:
        self.guests.append(Seat(viewer, viewer, now))
        self.hands.pop(viewer, None)
        self.invitations.pop(viewer, None)

    # --- recordings ----------------------------------------------------------------------

    def active_recording(self) -> Recording | None:
        return next((r for r in self.recordings if r.active), None)

    def recording(self, recording_id: str) -> Recording | None:
        return next((r for r in self.recordings if r.id == recording_id), None)

    def reserve_recording(self, placeholder: str, layout: str, now: float) -> None:
        """Holds the room's one recording slot while LiveKit is asked to start the egress."""
        if self.active_recording() is not None:
            raise errors.precondition("Room is already being recorded")
        self.recordings.append(Recording(placeholder, layout, EGRESS_STARTING, now))
        del self.recordings[:-RECORDINGS_KEPT]

    def settle_recording(self, placeholder: str, recording_id: str, status: int, location: str) -> None:
        held = self.recording(placeholder)
        if held is not None:
            held.id, held.location = recording_id, location
            held.status = max(held.status, status)

    def drop_recording(self, placeholder: str) -> None:
        self.recordings = [r for r in self.recordings if r.id != placeholder]

    def record_progress(
        self, recording_id: str, status: int, at: float, error: str, location: str
    ) -> tuple[int, int] | None:
        """Applies an egress report; returns (status before, status after), or None if the
        recording is not this room's. Reports never move a recording backwards, so duplicated or
        late webhooks are harmless."""
        found = self.recording(recording_id)
        if found is None:
            return None
        before = found.status
        if status > found.status:
            found.status = status
            if not found.active:
                found.ended_at = at
        found.error = error or found.error
        found.location = location or found.location
        return before, found.status

    # --- connections ---------------------------------------------------------------------

    def connected(self, identity: str, sid: str) -> bool:
        """Records that a seat holder is connected to LiveKit; True if it holds a seat."""
        seat = self.seat_of(identity)
        if seat is not None:
            seat.sid = sid
        return seat is not None

    def left(self, identity: str, sid: str, at: float) -> Role | None:
        """A participant's connection ended. Frees what they held, unless the event is about an
        older connection than the one holding the seat (duplicates and late events are
        harmless). Returns the role that was freed, or None."""
        seat = self.seat_of(identity)
        if seat is not None:
            older = seat.sid != sid if seat.sid else at < seat.since
            if older:
                return None
        return self.forget(identity) if (seat or identity in self.hands or identity in self.invitations) else None

    def forget(self, identity: str) -> Role:
        """Frees whatever `identity` held (seat, raised hand, invitation); returns its role."""
        role = self.role_of(identity)
        if role is Role.HOST:
            self.host = None
        self.guests = [g for g in self.guests if g.identity != identity]
        self.hands.pop(identity, None)
        self.invitations.pop(identity, None)
        return role

    def expire(self, now: float) -> None:
        self.invitations = {who: until for who, until in self.invitations.items() if until > now}

    # --- persistence ---------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> ShowState:
        raw: dict[str, Any] = json.loads(text)
        host = raw.get("host")
        return cls(
            room=raw["room"],
            host=Seat(**host) if host else None,
            guests=[Seat(**g) for g in raw.get("guests", [])],
            hands={k: float(v) for k, v in raw.get("hands", {}).items()},
            invitations={k: float(v) for k, v in raw.get("invitations", {}).items()},
            guest_limit=raw.get("guest_limit"),
            recordings=[Recording(**r) for r in raw.get("recordings", [])],
        )
