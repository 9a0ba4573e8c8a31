"""The show's record, kept so that each operation costs the same whatever the audience.

A room's record is split by concern, each in the structure that makes its operation O(1) or
O(log n): the stage (host seat, guest seats, guest limit, the room's LiveKit incarnation), raised
hands in order of raising, invitations by expiry, pending stage changes, recordings. A
`ShowRecords` store decides every rule that must hold across instances in one atomic step, so
two instances can never both seat a host or exceed the guest limit, and nothing reads or
rewrites a whole room.

Every step takes `now` (seconds since the epoch, from the injected clock): expiry is decided by
the caller's time, never the store's, so stores agree with each other and tests control time.
Times are kept in whole milliseconds, the resolution LiveKit and the contract use.

Refusals are ShowErrors with the codes and messages the contract documents (the same as the
single-document state this replaced raised); `refusal()` turns a store's reason into one, so
every store words them alike.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from livekit.protocol import models as lk

from service.core import errors
from service.core.caller import HOLDER_ATTRIBUTE
from service.core.roles import Role

# LiveKit's EgressStatus values, in the order a recording moves through them; past ENDING, each
# is an end (COMPLETE 3, FAILED 4, ABORTED 5, LIMIT_REACHED 6).
EGRESS_STARTING, EGRESS_ACTIVE, EGRESS_ENDING, EGRESS_ABORTED = 0, 1, 2, 5
RECORDINGS_KEPT = 20

# The version written into every stored record. A reader ignores fields it does not know, so an
# instance of the next version may add fields while this one still runs beside it.
RECORD_VERSION = 1
# Recordings kept per room, oldest dropped first; at most one is active.
KEPT_RECORDINGS = RECORDINGS_KEPT
ACTIVE_STATUSES = (EGRESS_STARTING, EGRESS_ACTIVE, EGRESS_ENDING)
# Moderators a room may have at once: a handful of people who manage the stage, never a crowd,
# so reading them all with the stage stays cheap.
MODERATORS_PER_ROOM = 16
# History entries a room keeps by default (SHOW_HISTORY_ENTRIES), oldest dropped first: enough
# for a long show's stage changes, bounded whatever happens in it.
HISTORY_ENTRIES = 10_000


def ms(seconds: float) -> int:
    """Seconds since the epoch as whole milliseconds, as every store keeps time."""
    return round(seconds * 1000)


@dataclass(frozen=True)
class Connection:
    """One LiveKit connection of a participant: its participant sid and LiveKit's ordering of
    it (the participant's joined_at, in milliseconds). A newer connection has a later joined_at."""

    sid: str
    joined_at: int
    # Which holder of the name its token was minted for (its `holder` attribute, Caller.holder):
    # "" for an unmarked token. What a part given to this connection is bound to.
    holder: str = field(default="", compare=False)


def connection_of(who: lk.ParticipantInfo) -> Connection:
    """LiveKit's connection of a participant, ordered by when it joined (in milliseconds)."""
    return Connection(who.sid, who.joined_at_ms or who.joined_at * 1000, who.attributes.get(HOLDER_ATTRIBUTE, ""))


def created_ms(room: lk.Room) -> int:
    """When LiveKit created this incarnation of a room, in milliseconds: what orders incarnations."""
    return room.creation_time_ms or room.creation_time * 1000


@dataclass(frozen=True)
class Seat:
    """A participant holding a stage slot (host or guest).

    `sid` and `joined_at` name the connection that holds it, once known ("" and 0 before).
    `away` is when its holder was first known gone (ms; 0 while it is not): the seat is freed
    once the reconnect grace window has passed since, by whichever instance passes then.
    `away_of` and `away_joined` name the connection known gone (its sid and joined_at; "" and 0
    for none known): a join of it, or of an older one, comes late and ends no absence."""

    identity: str
    name: str
    since: int  # ms
    sid: str = ""
    joined_at: int = 0  # ms, LiveKit's joined_at of that connection
    locked: tuple[str, ...] = ()  # a guest's sources the host took away ("camera", "microphone"), sorted
    away: int = 0  # ms
    away_of: str = ""
    away_joined: int = 0  # ms
    # The seat as its store held it, fields of a newer version included (a Redis seat's JSON; ""
    # where nothing else is kept): a seat given back (ShowRecords.restore) keeps what it had.
    as_stored: str = field(default="", compare=False, repr=False)

    def held_through(self, sid: str, joined_at: int) -> Seat:
        """The seat held through the connection `sid` (joined at `joined_at`, ms; "" and 0 for
        none known): whatever absence was noted is over (prelude.lua's hold)."""
        return replace(self, sid=sid, joined_at=joined_at, away=0, away_of="", away_joined=0)


@dataclass(frozen=True)
class Hand:
    identity: str
    raised_at: int  # ms
    invited: bool


@dataclass(frozen=True)
class Place:
    """Where a page of the queue or of the bans ended: its last entry's time (ms) and identity.
    The next page goes on after it in (time, identity) order, whether or not that entry is still
    there, so entries added or taken away between pages neither repeat nor skip the others."""

    at: int  # ms
    identity: str


@dataclass(frozen=True)
class HandsPage:
    """Up to a page of raised hands, and how many are raised in the whole queue."""

    hands: tuple[Hand, ...]
    total: int


class StageChange(StrEnum):
    """A change of a participant's part on LiveKit that the record already holds."""

    PROMOTE = "promote"  # give the guest publish permission
    DEMOTE = "demote"  # take it back, the participant stays as a viewer
    REMOVE = "remove"  # take it back and remove the participant from the room


@dataclass(frozen=True)
class PendingChange:
    """A stage change written to the record and not yet confirmed as made in LiveKit. If it is
    still here after `deadline`, the instance that made it is presumed dead and a reconciler
    finishes it: the record holds its outcome already, and LiveKit is brought to it. `id` names
    this one change among a participant's changes, so that only the call that wrote it clears it
    (`complete`); "" for one an older version wrote. `part` is the part it puts the participant
    into or takes it out of (GUEST or MODERATOR), so that the reconciler finishing it knows what
    the room is to hear; None for one an older version wrote (inferred from `change`: see
    `moved`).

    A change whose call has made it on LiveKit is `landed` (ShowRecords.land): LiveKit has it,
    and what is left is to tell the room, in the call's own `words` (for a change off the
    stage, `ended`: the since of the seat it ended, or the dismissal's moment). It stays here
    until told (ShowRecords.tell with its id), so that, should the call's instance die between
    the two, a reconciler past the new `deadline` tells it in those words. A change off a part
    (a demotion, a removal, a dismissal) may carry `words` and `ended` from the moment it is
    written (ShowRecords.unseat, dismiss), not landed yet: what the room is owed of it should a
    newer change overwrite it before its call lands it, and what a reconciler that finishes it
    past its deadline tells (who made it, and why), rather than "reconciled"."""

    identity: str
    change: StageChange
    since: int  # ms
    deadline: int  # ms
    id: str = ""
    part: Role | None = None
    landed: bool = False
    ended: int = 0  # ms
    words: str = ""

    @property
    def moved(self) -> Role | None:
        """The part it puts the participant into or takes it out of: `part`, or for one an
        older version wrote without it, what its kind tells: only a guest is promoted or
        removed. An older version's demotion may be a guest's or a moderator's dismissal (both
        are DEMOTE): None, and the room is told nothing of it rather than the wrong one."""
        if self.part is not None:
            return self.part
        return Role.GUEST if self.change in (StageChange.PROMOTE, StageChange.REMOVE) else None

    @property
    def told_part(self) -> Role:
        """The place the room is told of once it is made (ShowRecords.tell's `part`): on stage
        for a promotion, off it (the audience) for a guest's demotion or removal, and a
        moderator's part for a dismissal (told with its moment as `ended`)."""
        if self.part is Role.MODERATOR:
            return Role.MODERATOR
        return Role.GUEST if self.change is StageChange.PROMOTE else Role.VIEWER


def new_change_id() -> str:
    """A fresh id for a pending change (PendingChange.id), given by the call that will make the
    change on LiveKit, as a recording's placeholder is: one participant has a handful of changes
    in flight at most, and 48 random bits tell them apart."""
    return secrets.token_hex(6)


class EgressKind(StrEnum):
    """What an egress of the room makes: a recording (a file) or a stream (RTMP(S) destinations).
    Both are kept side by side in the room's recordings; each kind has at most one active."""

    RECORDING = "recording"
    STREAM = "stream"


# The id of a recording or stream held while LiveKit is asked to start it, before its egress id is
# known (reserve_recording.lua matches it too).
PLACEHOLDER_PREFIX = "pending-"


@dataclass(frozen=True)
class Recording:
    """One egress of the room, a recording or a stream (`kind`)."""

    id: str
    layout: str
    status: int
    started_at: int  # ms
    ended_at: int = 0  # ms
    location: str = ""
    error: str = ""
    kind: EgressKind = EgressKind.RECORDING
    destinations: tuple[str, ...] = ()  # a stream's destination names (never their URLs)
    destinations_at: int = 0  # ms, when they were last changed (0: as the stream started)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def in_the_way(self) -> bool:
        """Whether a new egress of its kind waits for this one: a recording until it stops taking
        in the show (one ending only writes out its file, and the next may begin meanwhile), a
        stream until it has ended (one ending still holds its destinations' ingest)."""
        if self.kind is EgressKind.RECORDING:
            return self.status < EGRESS_ENDING
        return self.active

    @property
    def placeholder(self) -> bool:
        """Held while LiveKit is asked to start it: no egress yet to stop or update."""
        return self.id.startswith(PLACEHOLDER_PREFIX)


@dataclass(frozen=True)
class Standing:
    """One participant's part of the record (guest seat, raised hand, invitation expiry), as a
    step found it, so the core can put it back if LiveKit refuses the change."""

    seat: Seat | None
    hand: int | None  # ms raised
    invitation: int | None  # ms it expires


@dataclass(frozen=True)
class Ban:
    """An identity kept out of the room until the ban is lifted or the show ends."""

    identity: str
    since: int  # ms
    by: str  # the host or moderator who banned it; "" for the room's admin


@dataclass(frozen=True)
class BansPage:
    """Up to a page of bans, and how many identities are banned from the room."""

    bans: tuple[Ban, ...]
    total: int


class Phase(StrEnum):
    """Where a show is in its life. A room no host has opened yet is UNOPENED: to its viewers it
    is as backstage (they wait)."""

    UNOPENED = ""
    BACKSTAGE = "backstage"
    LIVE = "live"
    ENDED = "ended"

    @property
    def audience_waits(self) -> bool:
        """Whether viewers are kept from seeing and hearing the stage."""
        return self in (Phase.UNOPENED, Phase.BACKSTAGE)


@dataclass(frozen=True)
class HistoryEntry:
    """One thing that happened in the show, kept in its history. `kind` is a ShowEvent type's
    word; `sequence` is given by the store when the entry is appended (1, 2, ... per room)."""

    kind: str
    at: int  # ms
    actor: str = ""  # who did it; "" for the room's admin or what the service saw happen
    target: str = ""  # whom it concerned
    reason: str = ""  # why, where the kind leaves it open (a guest_demoted's "stepped_down", ...)
    egress_id: str = ""  # a recording's or stream's id
    destinations: tuple[str, ...] = ()  # a stream's destination names after the change
    sequence: int = 0


@dataclass(frozen=True)
class Admission:
    """What JoinRoom and a participant_joined need to know of an identity, in one read."""

    role: Role
    banned: bool
    phase: Phase = Phase.UNOPENED
    hosted: bool = False  # it last took the host seat (hosted_by): its token may still end the show
    hand_raised: bool = False  # its token may accept an invitation with it, or lower it
    locked: tuple[str, ...] = ()  # a guest's sources the host took away, as its seat holds them
    # When its invitation expires (ms), 0 if it has none not expired when read: its token may accept it.
    invitation_expires_at: int = 0
    # Who gave that invitation (the host or a moderator), "" if it has none or the record holds no
    # sender for it (one an older version gave).
    invited_by: str = ""
    # Which holder of the name its part is bound to (Caller.holds), None for nobody: a free name,
    # or a part given while nobody was connected under it.
    holder: str | None = None

    @property
    def invited(self) -> bool:
        return self.invitation_expires_at > 0

    @property
    def bound(self) -> str | None:
        """The holder the name's part is bound to (Caller.holds), for the parts given to a
        holder: a seat, a moderator's part, an open invitation. None for a name holding none of
        them, whose binding, if any, is left from a part it no longer holds (a raised hand binds
        nothing)."""
        return self.holder if self.role is not Role.VIEWER or self.invited else None


@dataclass(frozen=True)
class Lifecycle:
    """A show's phase and when it reached each one (ms; 0 before). `release_due` is set while the
    audience of a show that went live may still be waiting: the instance that took it live lets
    them in and clears it; a reconciler finishes the job if that instance died."""

    phase: Phase = Phase.UNOPENED
    opened_at: int = 0
    live_at: int = 0
    ended_at: int = 0
    release_due: int = 0  # ms after which a reconciler lets the waiting audience in


@dataclass(frozen=True)
class AwayViewer:
    """A viewer whose leave was heard at `since` (ms) while it kept a hand raised at `hand` and an
    invitation expiring at `invitation` (ms, None for none) through the grace window."""

    identity: str
    since: int
    hand: int | None
    invitation: int | None


@dataclass(frozen=True)
class Doubt:
    """A participant a pass is to look at on LiveKit (ShowRecords.doubt), until `due` (ms): a
    pass that began at or after it settles the doubt once it has looked."""

    identity: str
    due: int


@dataclass(frozen=True)
class StageRecord:
    """The small part of a room's record: everything but the hands and invitations themselves,
    whose counts it carries instead."""

    room: str
    host: Seat | None
    guests: tuple[Seat, ...]  # in the order they took their seats
    guest_limit: int | None  # None follows the service's default
    room_sid: str  # LiveKit's sid of the room's current incarnation, "" until known
    hands: int  # raised hands
    invitations: int  # invitations not yet expired
    recordings: tuple[Recording, ...]  # oldest first
    pending: tuple[PendingChange, ...]
    moderators: tuple[str, ...] = ()  # in the order they were appointed
    bans: int = 0  # identities banned
    life: Lifecycle = field(default_factory=Lifecycle)
    # Participants a pass is to look at on LiveKit (ShowRecords.doubt), by identity.
    doubted: tuple[Doubt, ...] = ()
    # Viewers whose leave was heard while they kept a hand or an invitation through the grace
    # window (ShowRecords.away).
    away: int = 0

    @property
    def phase(self) -> Phase:
        return self.life.phase

    def role_of(self, identity: str) -> Role:
        if self.host is not None and self.host.identity == identity:
            return Role.HOST
        if self.guest(identity) is not None:
            return Role.GUEST
        return Role.MODERATOR if identity in self.moderators else Role.VIEWER

    def guest(self, identity: str) -> Seat | None:
        return next((g for g in self.guests if g.identity == identity), None)

    def limit(self, default: int) -> int:
        return self.guest_limit if self.guest_limit is not None else default

    def active_recording(self, kind: EgressKind = EgressKind.RECORDING) -> Recording | None:
        """The recording (or stream) a stop or a change acts on: the one in the way of another,
        else one still ending."""
        same = [r for r in self.recordings if r.active and r.kind is kind]
        return next((r for r in same if r.in_the_way), None) or next(iter(same), None)

    def of_kind(self, kind: EgressKind) -> tuple[Recording, ...]:
        """The room's recordings, or its streams, oldest first."""
        return tuple(r for r in self.recordings if r.kind is kind)

    def recording(self, recording_id: str) -> Recording | None:
        return next((r for r in self.recordings if r.id == recording_id), None)

    @property
    def seats(self) -> tuple[Seat, ...]:
        """The stage's seats held: the host's, then the guests'."""
        return ((self.host,) if self.host is not None else ()) + self.guests

    @property
    def connected_seats(self) -> int:
        """Seats held by a connection LiveKit reported (a seat not yet joined, or of an earlier
        incarnation of the room, has none): those of LiveKit's participants who are on stage."""
        return sum(1 for seat in self.seats if seat.sid)

    @property
    def lost(self) -> bool:
        """Holds nothing of the room, not even which incarnation it is: the record was lost (Redis
        restarted empty) or retired while the room's people were away."""
        return not self.room_sid and self.host is None and not self.guests

    @property
    def is_empty(self) -> bool:
        return not (
            self.host
            or self.guests
            or self.hands
            or self.invitations
            or self.recordings
            or self.pending
            or self.moderators
            or self.bans
        )


@dataclass(frozen=True)
class Seating:
    """What a step that may seat a guest did: `promoted` if the viewer took a seat now."""

    promoted: bool
    before: Standing
    host: str | None = None  # the room's host identity, for whoever announces the promotion
    moderators: tuple[str, ...] = ()  # the room's moderators, who hear of hands as the host does


class Verdict(StrEnum):
    """How a LiveKit event about a connection was judged."""

    APPLIED = "applied"  # it concerned what the record holds, and the record follows it
    STALE = "stale"  # an older connection or another incarnation of the room: nothing changed
    NOT_HELD = "not_held"  # the participant holds nothing in the record


@dataclass(frozen=True)
class Departure:
    verdict: Verdict
    freed: Role | None  # the role whose seat was freed (VIEWER: only a hand or an invitation)
    hand: bool = False  # a raised hand went down with the participant
    # A viewer's raised hand and open invitation, kept through the reconnect grace window (`left`
    # with `keep`): nothing was freed, and whoever let it go when the window ends needs these.
    kept: Standing | None = None


class Refusal(StrEnum):
    """Why a step refused, as the stores report it; `refusal()` words it."""

    ROOM_HAS_HOST = "room_has_host"
    GUEST_CANNOT_HOST = "guest_cannot_host"
    HOST_ON_STAGE = "host_on_stage"
    ROOM_HAS_GUEST = "room_has_guest"
    NO_INVITATION = "no_invitation"
    ONLY_VIEWERS_RAISE = "only_viewers_raise"
    GUEST_NOT_FOUND = "guest_not_found"
    NOT_HOST = "not_host"
    ALREADY_RECORDING = "already_recording"
    ALREADY_STREAMING = "already_streaming"
    MODERATOR_CANNOT_HOST = "moderator_cannot_host"
    NOT_A_VIEWER = "not_a_viewer"
    ALREADY_GUEST = "already_guest"
    ALREADY_MODERATOR = "already_moderator"
    NOT_MODERATOR = "not_moderator"
    TOO_MANY_MODERATORS = "too_many_moderators"
    HOST_NOT_BANNED = "host_not_banned"
    MODERATOR_ON_MODERATOR = "moderator_on_moderator"
    MODERATOR_REMOVES_ITSELF = "moderator_removes_itself"
    BANNED = "banned"
    NOT_BANNED = "not_banned"
    LAST_SOURCE = "last_source"
    SHOW_ENDED = "show_ended"
    NOT_OPENED = "not_opened"
    NOT_HOLDER = "not_holder"


def refusal(reason: str, identity: str, not_host: str = "") -> errors.ShowError:
    """The ShowError a store's refusal stands for, worded exactly as state.py's rules word it."""
    match Refusal(reason):
        case Refusal.ROOM_HAS_HOST:
            return errors.ShowError(errors.Code.ALREADY_EXISTS, errors.ROOM_HAS_HOST)
        case Refusal.GUEST_CANNOT_HOST:
            return errors.precondition(f"{identity} is a guest of this room and cannot also host it")
        case Refusal.HOST_ON_STAGE:
            return errors.precondition(f"{identity} is the host and is already on stage")
        case Refusal.ROOM_HAS_GUEST:
            return errors.denied(errors.ROOM_HAS_GUEST)
        case Refusal.NO_INVITATION:
            return errors.not_found(errors.no_invitation(identity))
        case Refusal.ONLY_VIEWERS_RAISE:
            return errors.precondition(errors.ONLY_VIEWERS_RAISE)
        case Refusal.GUEST_NOT_FOUND:
            return errors.not_found(errors.GUEST_NOT_FOUND)
        case Refusal.NOT_HOST:
            return errors.denied(not_host)
        case Refusal.ALREADY_RECORDING:
            return errors.precondition("Room is already being recorded")
        case Refusal.ALREADY_STREAMING:
            return errors.precondition("Room is already being streamed; stop that stream or change its destinations")
        case Refusal.MODERATOR_CANNOT_HOST:
            return errors.precondition(f"{identity} is a moderator of this room; dismiss it before it hosts")
        case Refusal.NOT_A_VIEWER:
            return errors.precondition(f"{identity} is not a viewer")
        case Refusal.ALREADY_GUEST:
            return errors.precondition(f"{identity} is already a guest")
        case Refusal.ALREADY_MODERATOR:
            return errors.ShowError(errors.Code.ALREADY_EXISTS, f"{identity} is already a moderator")
        case Refusal.NOT_MODERATOR:
            return errors.not_found(f"{identity} is not a moderator")
        case Refusal.TOO_MANY_MODERATORS:
            return errors.precondition(f"A room has at most {MODERATORS_PER_ROOM} moderators")
        case Refusal.HOST_NOT_BANNED:
            return errors.precondition("The host cannot be banned; end the show instead")
        case Refusal.MODERATOR_ON_MODERATOR:
            return errors.denied(errors.MODERATOR_ON_MANAGER)
        case Refusal.MODERATOR_REMOVES_ITSELF:
            return errors.denied(errors.MODERATOR_REMOVES_ITSELF)
        case Refusal.BANNED:
            return errors.precondition(errors.banned(identity))
        case Refusal.NOT_BANNED:
            return errors.not_found(f"{identity} is not banned")
        case Refusal.LAST_SOURCE:
            return errors.precondition(f"{identity} would have nothing left to publish; demote the guest instead")
        case Refusal.SHOW_ENDED:
            return errors.precondition(errors.SHOW_ENDED)
        case Refusal.NOT_OPENED:
            return errors.precondition(errors.SHOW_NOT_OPENED)
        case Refusal.NOT_HOLDER:
            return errors.denied(errors.not_holder(identity))


class ShowRecords(Protocol):
    """Keeps every room's record; each method is one atomic step across every instance sharing
    the store. A refused step raises ShowError and changes nothing; an unreachable store raises
    ShowError(UNAVAILABLE).

    `acting`, where a step takes it, is the identity that must hold the host seat for the step
    to go ahead (checked in the same atomic step), or None when the caller is the room's admin;
    `not_host` is the message of the refusal when it does not. The steps of the stage managers
    (invite, unseat, ban) also let a moderator of the room act.

    Every write refreshes the room's expiry (the store's idle time), so a room nobody touches
    for that long disappears even if LiveKit's room_finished never arrives.
    """

    # --- reading --------------------------------------------------------------------------

    async def stage(self, room: str, now: float) -> StageRecord: ...

    async def recent_stage(self, room: str, now: float) -> StageRecord:
        """The stage record for answering a read (GetRoom, ListParticipants), never for deciding
        anything: a shared store may answer with one it read at most its read bound ago
        (SHOW_ROOM_CACHE_SECONDS), so that another instance's change shows within that bound,
        as LiveKit's do; this instance's own changes show at once."""
        ...

    async def recently_banned(self, room: str, identity: str, now: float) -> bool:
        """Whether `identity` is banned from the room, for refusing its token before a call runs
        (the policy), never for deciding a step: a shared store answers from the room's bans as
        it read them with recent_stage's record, at most its read bound ago, so that a read costs
        no more than it did; this instance's own bans and unbans count at once, and its other
        writes leave the bans it read as they are."""
        ...

    async def role_of(self, room: str, identity: str) -> Role: ...

    async def hosted_by(self, room: str) -> str:
        """The identity that last took the room's host seat ("" if none did), kept when the seat
        is freed, until another host takes it or the record is retired."""
        ...

    async def admission(self, room: str, identity: str, now: float) -> Admission:
        """The identity's role, whether it is banned, the show's phase, whether it last took the
        host seat, whether it has a hand up or an invitation not expired at `now`, and a guest's
        locked sources, in one read: everything that says how it should appear on LiveKit."""
        ...

    async def standing(self, room: str, identity: str, now: float) -> Standing: ...

    async def hands(self, room: str, now: float, offset: int = 0, count: int = 100) -> list[Hand]:
        """Raised hands in the order they went up (ties by identity), `count` from `offset`."""
        ...

    async def hands_after(self, room: str, now: float, after: Place | None, count: int) -> HandsPage:
        """Up to `count` raised hands after `after` (from the first with None), in the order they
        went up (ties by identity), each with whether an invitation waits at `now`, and the
        queue's length: one read, O(log n + count) whatever the queue's length."""
        ...

    async def raised_among(self, room: str, now: float, identities: Collection[str]) -> frozenset[str]:
        """Those of `identities` whose hand is up: one read, O(len(identities)) whatever the
        queue's length, so that marking the hands of the participants a read lists costs what the
        listing does, never what the room's whole queue would."""
        ...

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
        """Takes the host slot; True if newly taken, False if `identity` already held it. A host
        never seen connected stops blocking the room `stale_after` seconds after claiming it. The
        first host of a room opens its show, in `opens`; an ended show refuses (SHOW_ENDED)."""
        ...

    # --- the show's life ----------------------------------------------------------------------

    async def go_live(self, room: str, now: float, acting: str | None, not_host: str = "") -> tuple[bool, Lifecycle]:
        """Takes the show from backstage to live, with its audience's release due by the stage
        change deadline and `acting` kept as who took it live; a live show stays as it is. Refuses
        a show that has ended (SHOW_ENDED) or has not opened (NOT_OPENED). True if it went live
        now; and the show's life after it."""
        ...

    async def audience_released(self, room: str, now: float) -> str | None:
        """The waiting audience of a live show has been let in: no release is due any more.
        Answers who took the show live ("" for the room's admin) to the one step that found the
        release due, None to any other (done already, or the show ended meanwhile): whoever lets
        the audience in first (the call that took it live, a retry, a reconciler after the
        deadline) is the one that tells the room, so that it is told once."""
        ...

    async def end_show(self, room: str, now: float, keep_seconds: float) -> tuple[bool, Lifecycle]:
        """Ends the show: seats, hands, invitations, pending changes, moderators and bans end with
        it; its times and recordings stay readable, and the room (locked by its phase) expires
        `keep_seconds` from now whatever writes to it later. True if it ended now (False: it had
        already ended)."""
        ...

    # --- the stage ------------------------------------------------------------------------
    # invite, accept, set_hand and appoint refuse an ended show (SHOW_ENDED): what they would
    # put forward (a seat, a hand, an invitation, a moderator's part) ended with the show. They
    # refuse a banned identity too (BANNED; lowering a hand excepted): one back in LiveKit with a
    # token it still held is there until its removal, and is put forward nowhere meanwhile.

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
        """The host invites a viewer. If the viewer's hand is up both agree and the viewer takes
        a seat now (with a pending PROMOTE, named `change_id`); otherwise the invitation waits
        `expires_in`, kept with who gave it (`acting`, "" for the admin), which the admission
        answers. Every step that records a pending change takes its id so. Either part is bound
        to `connection`'s holder (to nobody without one)."""
        ...

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
        """The invited viewer takes a seat. `holder` (here and for decline and set_hand): the
        holder the acting participant token is of (Caller.holder, "" unmarked), refused NOT_HOLDER
        unless it holds the viewer's invitation (caller.holds); None for the room's admin."""
        ...

    async def decline(self, room: str, viewer: str, now: float, holder: str | None = None) -> None: ...

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
        """Raises or lowers a viewer's hand; raising it while invited takes a seat if one is free
        (only for the invitation's holder: NOT_HOLDER)."""
        ...

    async def lower_abandoned_hand(
        self, room: str, identity: str, raised_at: int | None, invitation: int | None = None
    ) -> bool:
        """Lowers the hand `identity` raised at `raised_at` (ms), and withdraws its invitation that
        expires at `invitation` (ms), which the reconciler found with nobody of that name
        connected to LiveKit (its participant_left was lost, or it did not come back within the
        reconnect grace window). A hand raised or an invitation given at another time stays: its
        owner came back and raised it again, or was invited again. Not a show's activity: the
        room's expiry is left as it was. Whether a hand was lowered."""
        ...

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
        """Frees a guest's seat (step down, demote, remove) and records `change` as pending,
        with the `words` the room is to hear it in (as `tell` takes them; the seat's since is
        the one it ended): should a newer change overwrite it before its call has landed it, the
        room is owed it in those words (see `tell`)."""
        ...

    async def restore(
        self, room: str, identity: str, standing: Standing, now: float, default_limit: int, change_id: str = ""
    ) -> bool:
        """Puts `identity`'s seat, hand and invitation back as `standing` recorded them, and
        clears its pending change: the undo of a step LiveKit refused. False, and nothing
        changed, when the seat to give back was taken meanwhile (the room's guest limit, or
        `default_limit`, is reached without it): the step stands, and its pending change is left
        for the reconciler to complete on LiveKit. With `change_id` (the undone step's pending
        change), False and nothing changed too when that change is no longer pending: a newer
        change of the participant was written since (the host demoted the guest whose promotion
        LiveKit then refused), or it was completed; the newer record stands, and undoing the
        older step would bring back what the newer one ended (a hand, a seat). False and nothing
        changed too when the seat would go back to someone banned meanwhile (the change stays
        pending, for the reconciler), or to someone who holds the host seat or a moderator's part
        now (one part at a time). A hand or an invitation is never given back to someone banned.
        An ended show has nothing to give back: nothing changes, and True (nothing is left to undo)."""
        ...

    async def forget(self, room: str, identity: str, now: float, removed: bool = False, away: int = 0) -> Role:
        """Frees whatever `identity` held (seat, moderator's part, hand, invitation, pending
        promotion) and what the room heard of it; a ban stays. A change off a part still pending
        (a guest's demotion or removal, a moderator's dismissal) stays too, with what the room
        heard: the participant is a viewer already, no seat is freed whose end the room would
        hear, and that change is what tells the room it left the part (its call, or a reconciler
        past its deadline). `removed` (RemoveParticipant): the last host's standing goes too, so
        a host removed from the show keeps none of the last host's powers (one whose connection
        merely ended does). With `away` (ms), only while the seat's holder is still away since
        that moment (a reconciler freeing the seat of a holder gone for the grace window): one
        back meanwhile keeps it, and nothing is freed (VIEWER)."""
        ...

    async def set_guest_limit(
        self, room: str, limit: int, now: float, acting: str | None = None, not_host: str = ""
    ) -> int | None:
        """Sets the room's guest limit; answers the one it had set before (None: none, the
        service's default applied)."""
        ...

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
        """Makes a viewer a moderator (dropping its hand and invitation, which a moderator does not
        have); answers its standing before, for `restore` if LiveKit refuses the change. A change
        still pending for it (a demotion, a removal) is dropped: this one is newer, and the call
        still making the older one on LiveKit must find it no longer its own (`complete`). The
        part is bound to `connection`'s holder, to nobody when it was not connected; without
        `rebind` (an appointment given back by an undo) the binding is left as it is."""
        ...

    async def dismiss(
        self,
        room: str,
        identity: str,
        now: float,
        change_id: str = "",
        words: str = "",
        change: StageChange = StageChange.DEMOTE,
    ) -> None:
        """Makes a moderator a viewer again, with a pending `change` until LiveKit has it
        (`complete`), so that the reconciler makes it there should the caller die first: a
        DEMOTE (DismissModerator), or a REMOVE (RemoveParticipant of a moderator, which takes it
        out of the room too); with the `words` the room is to hear it in (its moment is `now`),
        owed to the room should a change of the stage overwrite it before it was told (see
        `tell`)."""
        ...

    async def ban(self, room: str, identity: str, now: float, acting: str | None, not_host: str = "") -> bool:
        """Bans `identity` from the room (never its host; a moderator may not ban another
        moderator, nor itself: the core's words for a moderator removing itself); True if newly
        banned."""
        ...

    async def unban(self, room: str, identity: str, now: float) -> None: ...

    async def lock_source(
        self, room: str, guest: str, source: str, locked: bool, sources: int, now: float
    ) -> tuple[str, ...]:
        """Takes `source` from the guest's permission (`locked`) or gives it back; answers the
        guest's locked sources after. A guest keeps at least one of its `sources`. A change still
        pending for the guest (its promotion) is dropped, as `appoint` drops one."""
        ...

    async def bans(self, room: str, now: float) -> list[Ban]:
        """The room's bans, oldest first (ties by identity)."""
        ...

    async def bans_after(self, room: str, now: float, after: Place | None, count: int) -> BansPage:
        """Up to `count` bans after `after` (from the first with None), oldest first (ties by
        identity), and how many there are: one read."""
        ...

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
        """Holds the room's one active egress of `kind` under `placeholder` until LiveKit
        answers; refuses if one is active, or if the show has ended (SHOW_ENDED). Keeps the last
        KEPT_RECORDINGS of each kind."""
        ...

    async def set_destinations(
        self, room: str, stream_id: str, destinations: tuple[str, ...], now: float, read: Recording | None = None
    ) -> bool:
        """A stream's destinations, as they are now; False if the room has no such stream. With
        `read` (the stream as the caller read it), only if the stream is still active and its
        destinations are still those it read, changed at the same moment: a change made since
        stands."""
        ...

    async def settle_recording(
        self, room: str, placeholder: str, recording_id: str, status: int, location: str, now: float
    ) -> None: ...

    async def drop_recording(self, room: str, placeholder: str, now: float) -> None: ...

    async def record_progress(
        self, room: str, recording_id: str, status: int, at: float, error: str, location: str, now: float
    ) -> tuple[int, int] | None:
        """(status before, status after), or None if the recording is not this room's. Never
        moves a recording backwards."""
        ...

    # --- the show's history --------------------------------------------------------------

    async def append_history(self, room: str, entry: HistoryEntry, now: float) -> int:
        """Appends `entry` to the room's history and answers its sequence number (one more than
        the last appended; 1 for a room without history). O(1) whatever the history's length:
        past the store's cap the oldest entry is dropped. Refreshes the room's expiry, as every
        write does, so the history lives as long as the room's record. A room that is gone
        (retired, expired, never written to: the store holds nothing of it) gains no history:
        0, nothing written, so an entry that comes after the record went never starts a history
        a new show under the same name would read as its own."""
        ...

    async def history(self, room: str, after: int, count: int, now: float) -> list[HistoryEntry]:
        """Up to `count` entries with a sequence number above `after`, oldest first; O(count)."""
        ...

    # --- LiveKit's view (issue 8) ---------------------------------------------------------

    async def room_opened(self, room: str, room_sid: str, created_at: int, now: float) -> bool:
        """Adopts LiveKit's room `room_sid` (created at `created_at` ms) as the current
        incarnation if it is newer than the one recorded; True if adopted. Seats keep their
        holders, but their connections belonged to the older incarnation and are forgotten."""
        ...

    async def connected(
        self,
        room: str,
        identity: str,
        connection: Connection,
        room_sid: str,
        now: float,
        listed_at: float | None = None,
    ) -> Verdict:
        """A participant_joined: the seat of `identity` is held through `connection`, unless the
        event is about an older connection or another incarnation of the room. The seat's
        holder is then no longer away (`Seat.away`), whether the connection is new or the one
        the seat knew already; but a join of the connection whose leave the absence was noted
        of, or of an older one, is a late event (webhooks come out of order) and is STALE. With
        `listed_at` LiveKit listed the connection, asked at that moment, and its own view decides,
        unless the absence was noted after it (a leave heard since the listing)."""
        ...

    async def seat_away(self, room: str, identity: str, gone: Connection, now: float) -> bool:
        """The connection `gone` (sid "" and joined_at 0 for a holder never seen connected) of
        the seat of `identity` has ended: its participant_left, or a pass that did not find the
        seat's connection on LiveKit. Its holder is away since `now` (`Seat.away`), unless an
        absence is noted already of that connection or a newer one (the first moment stays); one
        noted of an older connection starts again, since the holder was back in between. Nothing
        is noted if a newer connection than `gone` holds the seat, or the identity holds none.
        Answers whether the holder is (now) away. A write: the room is made recent, so that any
        instance's pass frees the seat once the grace window is over, should the one that heard
        the leave die first."""
        ...

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
        """A participant_left. Frees what `identity` held, unless a newer connection holds the
        seat or the event is for another incarnation. A leave for the seat's own connection
        always frees it, whatever `at` (LiveKit's created_at) says. With `keep` (a reconnect
        grace window), a viewer's raised hand and open invitation stay as they are and the
        departure says what they are (`kept`): the viewer may be reloading its page."""
        ...

    async def pending(self, room: str) -> list[PendingChange]: ...

    async def complete(self, room: str, identity: str, change: StageChange, change_id: str = "") -> bool:
        """Clears `identity`'s pending change if it is still the one `change_id` names (of kind
        `change`); True if cleared. A participant's changes may all be in flight at once (promoted,
        demoted, promoted again): the first promotion's call must not clear the second's, whose
        own call may yet fail. One written without an id (by an older version, during a rolling
        deploy) is cleared by its kind, as that version does; that version, which reads no id,
        clears this version's by kind too."""
        ...

    async def land(
        self, room: str, identity: str, change: StageChange, change_id: str, ended: int, words: str, now: float
    ) -> bool:
        """The call that wrote `identity`'s pending `change` (`change_id`) has made it on
        LiveKit: in one step, the change is no longer owed to LiveKit, and what the room is owed
        of it is kept with it (`words`, `ended` as `tell` takes them), until `tell` with its id
        tells it, or a reconciler past its new deadline does should the call's instance die
        first. True if it was still this call's change (as `complete`); False, and nothing
        changed, otherwise. One an older version wrote, without an id, is landed by its kind."""
        ...

    async def tell(
        self, room: str, identity: str, part: Role, ended: int, words: str, now: float, change_id: str = ""
    ) -> tuple[str, ...]:
        """Whether the room is to hear that `identity` went on stage (`part` GUEST) or left it
        (VIEWER; `ended`: the since of the seat it left, in ms), in one step with what the room
        heard before: the words to tell, in order (none for nothing to tell). `words` are the
        change's own, opaque here; "" for the undo of a newer change, which tells only what that
        change left owed. Nothing while a newer change of the participant is pending (it tells
        for itself), but a change with words is then owed, should that newer one be undone;
        nothing either unless the record holds `identity` in `part`, nor what the room heard
        already (on stage in the seat it holds now; off stage at all). The room never hears the
        same place twice in a row: on stage again in a newer seat, it first hears the older
        seat's end if that is owed (a demotion a newer change overwrote before it was told, in
        the words it was written with), and nothing otherwise; off stage again, it first hears
        an owed promotion, and nothing otherwise. Forgetting a participant forgets what the room
        heard of it, unless a change off a part is kept pending (see `forget`).

        A moderator's part (`part` MODERATOR) is apart from the stage: an appointment (`ended`
        0) is told unless the record no longer holds it, or the room heard it appointed and
        never heard it dismissed since; a dismissal (`ended`: its moment) unless the record holds
        it appointed again, or the room heard it dismissed at that moment or later. Neither waits
        for a change of the stage pending. A dismissal a change of the stage overwrote before it
        was told (dismissed, then promoted before the dismissal's call landed) is told first, by
        that rule, in the words it was written with, whatever is told of the participant next:
        the room hears it before the promotion. With `change_id`, the landed change of that id
        (`land`) is the one told: it is no longer pending, whoever tells it (its call, or a
        reconciler), and whoever tells it second finds it heard. A landed change a newer one
        overwrites before it was told is owed, as a change told while a newer one is pending
        is. A room that is gone (retired, expired, never opened) hears nothing and is written
        nothing: a call that tells late does not leave what the room heard behind it."""
        ...

    async def overdue(self, now: float, count: int = 100) -> list[str]:
        """Rooms that may hold a pending change past its deadline (a hint: read `pending`)."""
        ...

    async def active_rooms(self, since: float, count: int = 1_000_000) -> list[str]:
        """Rooms written to at or after `since`, least recent first (up to `count`: every one,
        unless told otherwise; a sweep, and a scrape's gauges, need them all)."""
        ...

    async def doubt(self, room: str, identity: str, now: float) -> None:
        """A call's change of `identity` failed on LiveKit, which may have made it all the same
        (its answer lost, or the change still on its way), and the call is about to undo it in
        the record: the participant is kept in the room's `doubted`, due at the stage-change
        deadline from `now`, and every pass over the room (whichever instance makes it) looks at
        it on LiveKit and brings it to the record's part, until one that began once it was due
        has looked (settle_doubts). Written before the undo, so that an instance that dies in
        between leaves the pending change, or the doubt, to a pass. An appointment doubts its
        moderator in its own step (appoint): it writes no pending change. A write (the room is
        made recent for the passes); an ended show keeps none."""
        ...

    async def settle_doubts(self, room: str, doubts: Iterable[Doubt], now: float) -> None:
        """A pass that began once `doubts` were due has looked at them on LiveKit: each is no
        longer doubted, unless written again since (its due changed). Not an activity."""
        ...

    async def away(self, room: str, before: float, count: int) -> list[AwayViewer]:
        """The viewers whose leave `left` kept a hand or an invitation for (its `keep`), heard at
        or before `before`, earliest first, at most `count`, with the hand and invitation that
        leave kept: so that any instance's pass lets those go once the grace window is over,
        should the instance that heard the leave die first. A leave heard again moves the
        viewer's time on, with what it kept."""
        ...

    async def settle_away(self, room: str, identity: str, since: int) -> None:
        """A pass has let go of `identity` (gone at `since`, ms), or found it back: no longer
        away, unless a later leave was heard since. Not an activity."""
        ...

    async def keep_alive(self, room: str, room_sid: str, now: float) -> bool:
        """LiveKit still has the show's room `room_sid`: its record is kept for the idle time from
        `now`, as a write keeps it, though nothing in it changes (a long show whose stage stays as
        it is, its viewers coming and going, writes nothing). Not an activity (the room is not
        made recent for the reconciler's passes); an ended show keeps the retention its end gave
        it, and another incarnation's record is left to expire. True if kept."""
        ...

    async def retire(self, room: str, room_sid: str = "") -> bool:
        """Deletes the room's record (room_finished); with `room_sid`, only if it is the current
        incarnation or none is recorded. True if deleted."""
        ...

    async def deployment(self, proposed: str) -> str:
        """The name every instance sharing this store marks its LiveKit rooms with: the one the
        store holds, or `proposed`, held from now on, if it holds none yet. So instances that
        reach the same data by different addresses (a Cluster's other nodes, a password
        rotated) share one name. An in-process store is one instance: `proposed`."""
        ...

    async def ping(self) -> None:
        """Raises ShowError(UNAVAILABLE) unless the store answers (readiness)."""
        ...

    async def close(self) -> None: ...
