"""A show's state as Showrunner keeps it, and the pure rules that change it.

Stores persist a ShowState as JSON and apply changes atomically (service/core/ports.py); the
functions here decide whether a change is allowed and raise ShowError otherwise, so a refused
change never reaches a store.
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


@dataclass
class ShowState:
    room: str
    host: Seat | None = None
    guests: list[Seat] = field(default_factory=list)
    # identity -> time the hand went up; insertion order is the order hands were raised.
    hands: dict[str, float] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return self.host is None and not self.guests and not self.hands

    def role_of(self, identity: str) -> Role:
        if self.host is not None and self.host.identity == identity:
            return Role.HOST
        if any(g.identity == identity for g in self.guests):
            return Role.GUEST
        return Role.VIEWER

    def guest(self, identity: str) -> Seat | None:
        return next((g for g in self.guests if g.identity == identity), None)

    # --- changes ------------------------------------------------------------------------

    def claim_host(self, identity: str, name: str, now: float) -> bool:
        """Takes the host slot; True if newly taken, False if `identity` already held it."""
        if self.host is not None:
            if self.host.identity != identity:
                raise errors.ShowError(errors.Code.ALREADY_EXISTS, errors.ROOM_HAS_HOST)
            return False
        if self.guest(identity) is not None:
            raise errors.precondition(f"{identity} is a guest of this room and cannot also host it")
        self.host = Seat(identity, name, now)
        self.hands.pop(identity, None)
        return True

    def seat_guest(self, caller: str | None, viewer: str, name: str, now: float, limit: int) -> None:
        self.require_host(caller, errors.ONLY_HOST_PROMOTES)
        if self.role_of(viewer) is Role.HOST:
            raise errors.precondition(f"{viewer} is the host and is already on stage")
        if len(self.guests) >= limit or self.guest(viewer) is not None:
            raise errors.denied(errors.ROOM_HAS_GUEST)
        self.guests.append(Seat(viewer, name, now))
        self.hands.pop(viewer, None)

    def unseat_guest(self, caller: str | None, guest: str, refusal: str) -> Seat:
        self.require_host(caller, refusal)
        seat = self.guest(guest)
        if seat is None:
            raise errors.not_found(errors.GUEST_NOT_FOUND)
        self.guests.remove(seat)
        return seat

    def set_hand(self, identity: str, raised: bool, now: float) -> None:
        if self.role_of(identity) is not Role.VIEWER:
            raise errors.precondition("Only viewers can raise a hand")
        if raised:
            self.hands.setdefault(identity, now)
        else:
            self.hands.pop(identity, None)

    def forget(self, identity: str) -> Role:
        """Frees whatever `identity` held (host slot, guest seat, raised hand); returns its role."""
        role = self.role_of(identity)
        if role is Role.HOST:
            self.host = None
        self.guests = [g for g in self.guests if g.identity != identity]
        self.hands.pop(identity, None)
        return role

    def require_host(self, caller: str | None, refusal: str) -> None:
        if caller is None or self.host is None or self.host.identity != caller:
            raise errors.denied(refusal)

    # --- persistence --------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ShowState:
        raw: dict[str, Any] = json.loads(text)
        host = raw.get("host")
        return cls(
            room=raw["room"],
            host=Seat(**host) if host else None,
            guests=[Seat(**g) for g in raw.get("guests", [])],
            hands={k: float(v) for k, v in raw.get("hands", {}).items()},
        )
