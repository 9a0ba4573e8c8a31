"""What the core needs from the outside world, as small interfaces.

The core depends only on these: LiveKit is reached through a `Stage`, the show's record
through `ShowRecords` (service/core/record.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from livekit.protocol import egress as lk_egress
from livekit.protocol import models as lk
from livekit.protocol import webhook as lk_webhook

from service.core.record import Phase
from service.core.roles import GRANTS, WAITING_GRANTS, Role, StageGrants


@dataclass(frozen=True)
class Presence:
    """How a participant should appear on LiveKit for their role; `locked` are sources of the role
    the host took away from this participant ("camera", "microphone"); `waiting` is for a viewer
    of a show not yet live, who may not subscribe to anything until it is."""

    role: Role
    locked: tuple[str, ...] = ()
    waiting: bool = False

    @classmethod
    def of(cls, role: Role, phase: Phase, locked: tuple[str, ...] = ()) -> Presence:
        """How someone of `role` appears in a show in `phase`: a viewer waits while it is not live."""
        return cls(role, locked, role is Role.VIEWER and phase.audience_waits)

    @property
    def grants(self) -> StageGrants:
        return WAITING_GRANTS if self.waiting and self.role is Role.VIEWER else GRANTS[self.role]


def keeps_locked_source(who: lk.ParticipantInfo, locked: tuple[str, ...]) -> bool:
    """Whether LiveKit still lets `who` publish a source the host took away from it (`locked`:
    "camera", "microphone"). A permission that may publish and lists no sources allows them all."""
    if not locked or not who.permission.can_publish:
        return False
    sources = {SOURCE_WORDS.get(s, "") for s in who.permission.can_publish_sources}
    return not sources or bool(sources & set(locked))


def lacks_allowed_source(who: lk.ParticipantInfo, grants: StageGrants, locked: tuple[str, ...]) -> bool:
    """Whether LiveKit keeps from `who` a source its role allows and the host has not taken away
    (`locked`): a connection made with a token minted while a source was locked, the source given
    back since. Its permission never widens by itself, so without this it would stay narrower than
    the seat for as long as it lasts. An empty list of sources means every source, on either side."""
    if not grants.can_publish or not grants.sources or not who.permission.can_publish:
        return False
    held = {SOURCE_WORDS.get(s, "") for s in who.permission.can_publish_sources}
    return bool(held) and not set(grants.sources) - set(locked) <= held


def sources_agree(who: lk.ParticipantInfo, grants: StageGrants, locked: tuple[str, ...]) -> bool:
    """Whether the sources LiveKit lets `who` publish are its seat's: none the host took away
    (`locked`), and every other one its role allows. The participant_joined check and the
    reconciler both judge a connection by it."""
    return not keeps_locked_source(who, locked) and not lacks_allowed_source(who, grants, locked)


# A guest's sources in the show's words, from LiveKit's.
SOURCE_WORDS = {lk.TrackSource.CAMERA: "camera", lk.TrackSource.MICROPHONE: "microphone"}


class Stage(Protocol):
    """The LiveKit server, as the show uses it. Raises ShowError(UNAVAILABLE) when LiveKit
    cannot be reached; answers None or False for rooms and participants that do not exist."""

    @property
    def ws_url(self) -> str: ...

    def mint_token(
        self, room: str, identity: str, name: str, presence: Presence, host_line: bool = False, holder: str = ""
    ) -> str:
        """A participant token for `presence`; `host_line`: of the host's line (Caller.host_line);
        `holder`: which holder of the name it is for (Caller.holder), "" for none."""
        ...

    async def open_room(self, room: str) -> lk.Room: ...

    def heard(self, event: lk_webhook.WebhookEvent) -> None:
        """A verified LiveKit webhook, to keep what the gateway knows of the room current."""
        ...

    def redacted(self, text: str) -> str:
        """LiveKit's words (an egress's error) as the service may keep and show them: without the
        stream keys of the configured destinations."""
        ...

    def ours(self, room: lk.Room) -> bool:
        """Whether this deployment opened `room` (so it may act on it without a record of it)."""
        ...

    async def ping(self) -> None:
        """Raises ShowError(UNAVAILABLE) unless LiveKit answers an authenticated call."""
        ...

    async def find_room(self, room: str) -> lk.Room | None: ...

    async def list_rooms(self) -> Sequence[lk.Room]: ...

    async def close_room(self, room: str) -> bool: ...

    async def list_participants(self, room: str, fresh: bool = False) -> Sequence[lk.ParticipantInfo]:
        """The room's participants, as LiveKit listed them lately; `fresh`: as LiveKit lists them now."""
        ...

    async def participants_after(self, room: str, after: str, count: int | None) -> Sequence[lk.ParticipantInfo]:
        """Up to `count` (None: all) of the participants list_participants lists, ordered by
        identity, whose identities come after `after` ("" from the first): one page of them,
        found in the order kept with the listing rather than by sorting the room for each page."""
        ...

    async def find_participant(self, room: str, identity: str) -> lk.ParticipantInfo | None: ...

    async def remove_participant(self, room: str, identity: str) -> bool: ...

    async def turn_away(self, room: str, connection: lk.ParticipantInfo) -> bool:
        """Removes `connection` from LiveKit if it is still the one under its name (LiveKit removes
        by name: a look first, so that the holder it replaced, back already, stays); whether it
        was removed."""
        ...

    async def present(
        self, room: str, identity: str, presence: Presence, known: lk.ParticipantInfo | None = None
    ) -> lk.ParticipantInfo | None:
        """Sets a connected participant's live permission, attributes and metadata for `presence`;
        None if the participant is not connected. `known`: the participant as just listed, so it
        need not be looked up first."""
        ...

    async def mute_track(self, room: str, identity: str, source: str) -> str | None:
        """Mutes the participant's published track of `source` ("camera", "microphone"); its sid,
        or None if the participant is not connected or publishes no such track."""
        ...

    async def broadcast(self, room: str, payload: bytes, to: Sequence[str] = ()) -> None:
        """Sends `payload` reliably on the show's data topic, to everyone or only to `to`."""
        ...

    async def start_recording(self, room: str, layout: str) -> lk_egress.EgressInfo:
        """Starts a room-composite egress to the output configured on the service. Raises
        ShowError(UNAVAILABLE) when LiveKit has no egress worker to do it."""
        ...

    async def stop_recording(self, recording_id: str) -> lk_egress.EgressInfo | None:
        """Stops an egress; LiveKit's info about it after (ending, or already ended: then as it
        ended), or None if LiveKit has no such egress."""
        ...

    async def egress(self, egress_id: str) -> lk_egress.EgressInfo | None:
        """LiveKit's info about an egress as it stands (ListEgress), or None if it has none."""
        ...

    async def room_egresses(self, room: str) -> list[lk_egress.EgressInfo]:
        """The egresses of `room` LiveKit has running or starting (ListEgress, active only)."""
        ...

    def stream_destinations(self) -> tuple[str, ...]:
        """The names of the RTMP(S) destinations configured on the service, sorted."""
        ...

    def streaming_to(self, info: lk_egress.EgressInfo) -> tuple[str, ...] | None:
        """The names of the destinations a stream's egress sends to now, sorted; None if one of
        them is not a configured destination."""
        ...

    async def start_stream(self, room: str, destinations: Sequence[str], layout: str) -> lk_egress.EgressInfo:
        """Starts a room-composite egress streaming to the named destinations. Raises
        ShowError(UNAVAILABLE) when LiveKit has no egress worker to do it."""
        ...

    async def update_stream(
        self, stream_id: str, add: Sequence[str], remove: Sequence[str]
    ) -> lk_egress.EgressInfo | None:
        """Adds and removes destinations of a running stream; None if LiveKit has no such egress.
        A stream LiveKit no longer runs (ending or ended) is answered as it stands, unchanged."""
        ...

    def recording_location(self, room: str) -> str:
        """Where the service writes `room`'s recordings, for people to read."""
        ...

    async def close(self) -> None: ...


class ShowObserver(Protocol):
    """What the core reports as it works, for metrics."""

    def promoted(self) -> None: ...

    def demoted(self, how: str) -> None: ...

    def rate_limited(self, bucket: str) -> None: ...

    def webhook(self, event: str, verdict: str) -> None: ...

    def reconciled(self, action: str) -> None: ...


class Unobserved:
    def promoted(self) -> None:
        return None

    def demoted(self, how: str) -> None:
        return None

    def rate_limited(self, bucket: str) -> None:
        return None

    def webhook(self, event: str, verdict: str) -> None:
        return None

    def reconciled(self, action: str) -> None:
        return None
