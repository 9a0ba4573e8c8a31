"""Real WebRTC participants, through the livekit Python SDK (its rtc package)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from livekit import api, rtc
from livekit.protocol import models as lk
from livekit.rtc import _ffi_client

from service.core.events import EVENTS_TOPIC, decode

# Every LiveKit server the tests and the benchmark start uses these credentials.
API_KEY = "showrunner-tests"
API_SECRET = "showrunner-tests-secret-0123456789abcdef"

# The native handles of the SDK's objects the garbage collector takes (rooms, participants,
# tracks, once a test lets go of them), kept until the process ends instead of dropped there.
_handles_let_go: list[_ffi_client.FfiHandle] = []


def _keep_until_exit(handle: _ffi_client.FfiHandle) -> None:
    if not handle.disposed:
        _handles_let_go.append(handle)


# The SDK (livekit 1.2.0) drops an object's native handle from its finalizer, wherever in the
# test the collector happens to run, and that drop now and then aborts the whole process inside
# the native library ("Fatal Python error: Aborted" under FfiHandle.dispose, from `__del__`:
# once in about eight full runs of the suite). The objects' own explicit releases (a received
# frame's buffer, each request's answer) still happen; only the collector's drops wait for the
# process's end, which tests/conftest.py makes an `os._exit` once pytest has reported, for the
# same library's panics at teardown. The participants stay real: each test disconnects its rooms
# itself, which is what LiveKit sees.
_ffi_client.FfiHandle.__del__ = _keep_until_exit  # type: ignore[method-assign]


class LiveParticipant:
    """A participant connected to LiveKit, recording what it sees."""

    def __init__(self, identity: str) -> None:
        self.identity = identity
        self.room = rtc.Room()
        self.events: list[tuple[str, Any]] = []
        self.show_events: list[dict[str, Any]] = []
        self._feeders: list[asyncio.Task[None]] = []
        self.room.on("track_subscribed", self._on_subscribed)
        self.room.on("track_unpublished", self._on_unpublished)
        self.room.on("data_received", self._on_data)
        self.room.on("participant_permissions_changed", self._on_permissions)
        self.room.on("disconnected", lambda reason: self.events.append(("disconnected", reason)))

    def _on_subscribed(self, track: rtc.Track, publication: Any, participant: rtc.RemoteParticipant) -> None:
        self.events.append(("subscribed", (participant.identity, track.kind)))

    def _on_unpublished(self, publication: Any, participant: rtc.RemoteParticipant) -> None:
        self.events.append(("unpublished", participant.identity))

    def _on_permissions(self, participant: Any, *args: Any) -> None:
        self.events.append(("permissions", participant.permissions.can_publish))

    def _on_data(self, packet: rtc.DataPacket) -> None:
        if packet.topic == EVENTS_TOPIC:
            from google.protobuf import json_format

            self.show_events.append(json_format.MessageToDict(decode(packet.data)))

    async def connect(self, ws_url: str, token: str, *, until_listed: bool = True) -> LiveParticipant:
        """Connects, and returns once LiveKit's own RoomService lists this participant.

        LiveKit answers the SDK's join before it records the participant where its RoomService
        looks, so on a busy machine a call about the participant made right after `room.connect`
        can be told "participant not found" by LiveKit itself. A participant the service is
        expected to take out again at once (a banned or ended show's comeback) passes
        `until_listed=False`."""
        await self.room.connect(ws_url, token)
        if until_listed:
            server = api.LiveKitAPI(ws_url.replace("ws", "http", 1), API_KEY, API_SECRET, failover=False)
            try:
                await until(lambda: self._listed(server), 10.0, f"LiveKit lists {self.identity}")
            finally:
                await server.aclose()
        return self

    async def _listed(self, server: api.LiveKitAPI) -> bool:
        found = await server.room.list_participants(api.ListParticipantsRequest(room=self.room.name))
        return any(p.identity == self.identity for p in found.participants)

    async def publish_microphone(self, timeout: float = 6.0) -> str:
        """Publishes a microphone track fed with silence; returns its track sid.
        Raises PublishRefused if LiveKit does not accept it within `timeout`."""
        source = rtc.AudioSource(48000, 1)
        track = rtc.LocalAudioTrack.create_audio_track("microphone", source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        try:
            publication = await asyncio.wait_for(self.room.local_participant.publish_track(track, options), timeout)
        except (rtc.participant.PublishTrackError, TimeoutError) as exc:
            raise PublishRefused(str(exc)) from exc
        self._feeders.append(asyncio.create_task(_feed(source)))
        return str(publication.sid)

    async def wait_for(self, what: Callable[[], bool], timeout: float = 10.0, label: str = "") -> None:
        await eventually(what, timeout, label or f"{self.identity}: condition")

    async def disconnect(self) -> None:
        for task in self._feeders:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.room.disconnect()


async def livekit_participant(lkapi: api.LiveKitAPI, room: str, identity: str) -> lk.ParticipantInfo | None:
    """The participant as LiveKit's own ListParticipants has it; None if LiveKit does not list it."""
    found = await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))
    return next((p for p in found.participants if p.identity == identity), None)


async def gone_from_livekit(lkapi: api.LiveKitAPI, room: str, identity: str) -> bool:
    return await livekit_participant(lkapi, room, identity) is None


def _held(attributes: Any, permission: Any) -> tuple[str, bool, list[int]]:
    """A participant's role attribute, publish permission and publishable sources, from LiveKit's
    record of it or from its own client's."""
    return attributes.get("role", ""), permission.can_publish, sorted(permission.can_publish_sources)


async def leave_livekit(lkapi: api.LiveKitAPI, room: str, live: LiveParticipant, timeout: float = 10.0) -> float:
    """`live` disconnects once its client has taken in what LiveKit holds for it (its role
    attribute, publish permission and publishable sources), and LiveKit stops listing it within
    `timeout`; answers when it disconnected (monotonic). A connection closed in the very moment a
    change of it arrives had its leave go unheard by LiveKit until the connection timed out (16 s
    once), which is not the leave the tests play."""
    seen = await livekit_participant(lkapi, room, live.identity)
    if seen is not None:
        held = _held(seen.attributes, seen.permission)
        mine = live.room.local_participant
        await live.wait_for(
            lambda: _held(mine.attributes, mine.permissions) == held,
            10.0,
            f"{live.identity}'s client has what LiveKit holds for it {held}",
        )
    await live.disconnect()
    left = time.monotonic()

    await until(lambda: gone_from_livekit(lkapi, room, live.identity), timeout, f"LiveKit saw {live.identity} go")
    return left


class PublishRefused(Exception):
    pass


async def _feed(source: rtc.AudioSource) -> None:
    frame = rtc.AudioFrame.create(48000, 1, 480)
    while True:
        await source.capture_frame(frame)


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0, label: str = "condition") -> None:
    """Waits for an asynchronous check (a call to a server, say) to come true."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{label} did not happen within {timeout}s")
        await asyncio.sleep(0.1)


async def eventually(what: Callable[[], bool], timeout: float = 10.0, label: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(f"{label} did not happen within {timeout}s")
        await asyncio.sleep(0.05)
