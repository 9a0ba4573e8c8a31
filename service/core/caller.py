"""Who is calling: an explicit argument of every core operation, built from a verified token."""

from __future__ import annotations

from dataclasses import dataclass

from service.core import errors


@dataclass(frozen=True)
class Credentials:
    """What a door knows of its caller, unverified: the Authorization value and the peer."""

    authorization: str | None = None
    address: str | None = None


# The claim a token minted for the last host's name by the host's line carries (Caller.host_line):
# its grants are a viewer's, and its `role` attribute, which pages show, says viewer.
HOST_LINE = "showrunnerHostLine"
# The claim (and participant attribute, which LiveKit shows on the connection) naming which holder
# of a name a token the viewer door gave was minted for (Caller.holder).
HOLDER = "showrunnerHolder"
HOLDER_ATTRIBUTE = "holder"


def holds(holder: str, bound: str | None) -> bool:
    """Whether a participant token (or a LiveKit connection) of `holder` ("" for one without a
    mark) may act with a part bound to `bound`: bound to nobody (None), or to that holder. A part
    given to an unmarked connection ("") goes with any unmarked token of the name; one given to a
    marked connection with its mark alone. The room's admin token is never asked."""
    return bound is None or holder == bound


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
    # Whether a participant token is of the host's line: minted for the host (its `role`
    # attribute claim), or for the last host's name from a token of that line once its seat was
    # freed (tokens.HOST_LINE). A host's powers, and the last host's, come only with one: a
    # token the viewer door gave for the name while it was free is anyone's.
    host_line: bool = False
    # Which holder of its name a token the viewer door gave belongs to: a random mark minted with
    # a name anyone could ask for, and kept by the tokens that token obtains (its renewal, its
    # join). "" (unmarked) for a token the room's admin or the backend named, the host's line,
    # and a token of a version before marks. A part the name takes is bound to the holder
    # LiveKit then had connected under it; a token of another holder does not act with it.
    holder: str = ""

    def holds(self, bound: str | None) -> bool:
        """Whether this token may act with a part bound to `bound` (None: bound to nobody)."""
        return holds(self.holder, bound)

    @property
    def anonymous(self) -> bool:
        return not self.signed and self.identity is None and not self.admin and not self.lists_rooms

    def admin_of(self, room: str) -> bool:
        return self.admin and self.room == room

    def member_of(self, room: str) -> bool:
        return self.room == room and (self.admin or self.identity is not None)

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
