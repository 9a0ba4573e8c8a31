"""Who is calling: an explicit argument of every core operation, built from a verified token."""

from __future__ import annotations

from dataclasses import dataclass

from service.core import errors


@dataclass(frozen=True)
class Credentials:
    """What a door knows of its caller, unverified: the Authorization value and the peer."""

    authorization: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class Caller:
    """A verified caller.

    A participant (`identity` and `room` from a token JoinRoom issued) acts for itself in its
    room. An admin (a server token with roomAdmin for `room`) acts for anyone in that room.
    `lists_rooms` is the roomList grant. An anonymous caller gave no token (`signed` is False) and
    has none of these; one whose token verified but grants none of them (roomAdmin or roomJoin
    without a room, say) is not anonymous: it is refused as a caller without the right, never
    told to give a token it gave. What a caller may do also depends on its role in the show,
    which comes from the show's state, never from here.
    """

    identity: str | None = None
    room: str | None = None
    admin: bool = False
    lists_rooms: bool = False
    address: str | None = None
    signed: bool = False  # a token was given and verified, whatever it grants
    name: str = ""  # a participant token's display name (its `name` claim): RenewToken keeps it
    # The role a participant token was minted for (its `role` attribute claim): a host's powers
    # come only with a token minted for the host. The name's other tokens, minted for a viewer
    # while the name was free, carry none of them (its kept names say why).
    minted_for: str = ""

    @property
    def anonymous(self) -> bool:
        return not self.signed and self.identity is None and not self.admin and not self.lists_rooms

    def admin_of(self, room: str) -> bool:
        return self.admin and self.room == room

    def member_of(self, room: str) -> bool:
        return self.room == room and (self.admin or self.identity is not None)

    @property
    def minted_for_host(self) -> bool:
        return self.minted_for == "host"

    def acts_for(self, room: str, identity: str) -> bool:
        """Whether this is `identity`'s own participant token for `room`."""
        return self.room == room and self.identity == identity

    def require_member(self, room: str) -> None:
        if self.anonymous:
            raise errors.unauthenticated(errors.MISSING_TOKEN)
        if not self.member_of(room):
            raise errors.denied(f"This token is not for room {room}")

    def acting_as(self, room: str, named: str, field: str) -> str:
        """The participant a request acts for. A participant may act only for itself; the room's
        admin for anyone in it. `named` is the request's own field naming that participant."""
        self.require_member(room)
        if self.admin_of(room) or self.identity == named:
            return named
        raise errors.denied(f"{field} must be the caller's own identity")

    @property
    def rate_key(self) -> str:
        """Whom rate limits count: the verified caller, else its network address. Room names and
        identities may both hold ":", so the two are joined by "/", which neither may hold
        (validate.py): with ":" the viewer "b:jane" of room "show" would spend the allowance of
        "jane" in room "show:b"."""
        if self.admin:
            return f"admin:{self.room}"
        if self.identity is not None:
            return f"participant:{self.room}/{self.identity}"
        return f"address:{self.address or 'unknown'}"
