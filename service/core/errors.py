"""The show's errors: one canonical code and one human message each.

Every door maps a code to its own wire form in a single table (service/doors/errors.py), so a rule
refused in the core reads the same on gRPC, Twirp and REST.
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"


class ShowError(Exception):
    """A request the show refuses. Raised before any state changes, or after they are undone."""

    def __init__(self, code: Code, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # For RESOURCE_EXHAUSTED: whole seconds until the caller may try again.
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"ShowError({self.code}, {self.message!r})"


def invalid(message: str) -> ShowError:
    return ShowError(Code.INVALID_ARGUMENT, message)


def not_found(message: str) -> ShowError:
    return ShowError(Code.NOT_FOUND, message)


def denied(message: str) -> ShowError:
    return ShowError(Code.PERMISSION_DENIED, message)


def precondition(message: str) -> ShowError:
    return ShowError(Code.FAILED_PRECONDITION, message)


def unavailable(message: str) -> ShowError:
    return ShowError(Code.UNAVAILABLE, message)


def unauthenticated(message: str) -> ShowError:
    return ShowError(Code.UNAUTHENTICATED, message)


def exhausted(message: str, retry_after: int) -> ShowError:
    return ShowError(Code.RESOURCE_EXHAUSTED, message, retry_after=retry_after)


def kept_name(identity: str, part: str) -> str:
    """Why a name with a part in the show is not handed out at the viewer door to whoever asks."""
    return f"{identity} {part}: joining as {identity} needs its own token or the room's admin token"


def not_holder(identity: str) -> str:
    """Why a token given for a name before it took its part does not act with that part."""
    return (
        f"This token was given for {identity} before {identity} took its part in this room, to someone"
        f" else: only the part's holder's own token or the room's admin token acts with it"
    )


def newer_record(what: str, value: str) -> str:
    """Why a room whose record holds a value only a newer version of the service writes is not
    served by this one: the caller retries (UNAVAILABLE), and reaches an instance that knows it."""
    return f'This room was changed by a newer version of Showrunner ({what} "{value}"); try again shortly'


def no_invitation(viewer: str) -> str:
    return f"No pending invitation for {viewer}"


def banned(identity: str) -> str:
    """JoinRoom's refusal of a banned identity, and every call made with its token in that room."""
    return f"{identity} is banned from this room"


# The MVP's messages, verbatim: existing clients match on them. Who may call each RPC, with its
# refusal, is declared in the contract (its policy option); the ONLY_HOST_* words here are the
# same refusals for the core's own re-check inside a change (tests/test_seam.py holds them equal).
ROOM_NOT_FOUND = "Room not found"
STREAM_CHANGED = "The stream's destinations changed meanwhile: read them again (ListStreams), then ask again"
ROOM_HAS_HOST = "Room already has a host"
ONLY_VIEWERS_RAISE = "Only viewers can raise a hand"
ROOM_HAS_GUEST = "Room already has a guest"
ONLY_HOST_PROMOTES = "Only the host can promote viewers to guest"
JOIN_FIELDS_REQUIRED = "roomName and participantName are required"
INVITE_FIELDS_REQUIRED = "viewerIdentity and hostIdentity are required"
# Messages the MVP's description left open, in the same voice.
ONLY_HOST_DEMOTES = "Only the host can demote guests"
ONLY_HOST_REMOVES = "Only the host can remove guests"
GUEST_FIELDS_REQUIRED = "guestIdentity and hostIdentity are required"
HAND_FIELDS_REQUIRED = "participantIdentity and raised are required"
ROOM_NAME_REQUIRED = "roomName is required"
REMOVE_FIELDS_REQUIRED = "roomName and identity are required"
PARTICIPANT_NOT_FOUND = "Participant not found"
GUEST_NOT_FOUND = "Guest not found"
ROLE_REQUIRED = 'role must be "host" or "viewer"'
MISSING_TOKEN = "Authorization: Bearer <token> is required"
INVITATION_FIELDS_REQUIRED = "viewerIdentity is required"
STEP_DOWN_FIELDS_REQUIRED = "guestIdentity is required"
GUEST_LIMIT_REQUIRED = "guestLimit is required"
ONLY_HOST_CHANGES_SETTINGS = "Only the host can change room settings"
ONLY_HOST_APPOINTS = "Only the host can appoint moderators"
ONLY_HOST_REMOVES_PARTICIPANTS = "Only the host can remove participants"
ONLY_HOST_LOCKS = "Only the host can take a source away from a guest"
SOURCE_REQUIRED = 'source must be "CAMERA" or "MICROPHONE"'
MODERATOR_ON_MANAGER = "A moderator cannot remove or ban the host or another moderator"
# Removal would end its appointment, which is the host's to end (DismissModerator).
MODERATOR_REMOVES_ITSELF = (
    "A moderator cannot remove itself: to leave, disconnect; only the host can end its appointment"
)
HOST_JOIN_NEEDS_ADMIN = "Joining as host needs the room's admin token or the host's own token"
SHOW_ENDED = "This show has ended; nobody can join it again"
NO_PLACE_OF_ITS_OWN = "The room's admin token has no place in the show: ask with the participant's own token"
SHOW_NOT_OPENED = "The show has not opened: the host must join it before it can go live"
ONLY_HOST_GOES_LIVE = "Only the host can take the show live"
