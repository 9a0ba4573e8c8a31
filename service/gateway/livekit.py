"""The one gateway to LiveKit: RoomService calls and access tokens, through livekit-api."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar
from urllib.parse import parse_qsl, urlparse

import aiohttp
from google.protobuf import json_format
from livekit import api
from livekit.api.egress_service import EgressService
from livekit.protocol import egress as lk_egress
from livekit.protocol import models as lk
from livekit.protocol import webhook as lk_webhook
from livekit.protocol.room import RoomConfiguration

from service.core import errors
from service.core.events import EVENTS_TOPIC
from service.core.ports import Presence
from service.core.roles import StageGrants
from service.gateway.room_cache import RoomCache
from service.gateway.tokens import TokenMinter, metadata

log = logging.getLogger("showrunner.livekit")
T = TypeVar("T")
# LiveKit closes a room this long after its last participant left, unless the room says otherwise.
LIVEKIT_DEPARTURE_SECONDS = 20

_SOURCES = {"camera": lk.TrackSource.CAMERA, "microphone": lk.TrackSource.MICROPHONE}


def attributes(presence: Presence) -> dict[str, str]:
    """The participant attributes that mirror the show's state for clients to read: the role only.
    A hand is not an attribute: LiveKit sends every attribute change to the whole room, so a
    hand raise would cost a message to every viewer; hands go to those who act on them instead."""
    return {"role": presence.role.value}


def permission(grants: StageGrants, locked: Sequence[str] = ()) -> lk.ParticipantPermission:
    """LiveKit's permission for `grants`, without the `locked` sources (a guest always keeps one:
    an empty list would mean every source to LiveKit)."""
    return lk.ParticipantPermission(
        can_publish=grants.can_publish,
        can_subscribe=grants.can_subscribe,
        can_publish_data=grants.can_publish_data,
        can_publish_sources=[_SOURCES[s] for s in grants.sources if s not in locked],
        can_update_metadata=False,
    )


def _mark(deployment: str) -> str:
    """The room metadata a deployment marks the rooms it opens with ("" for none)."""
    return json.dumps({"showrunner": deployment}, separators=(",", ":")) if deployment else ""


def http_url(url: str) -> str:
    """LiveKit's server API speaks HTTP on the same address clients reach over WebSocket."""
    for ws, http in (("wss://", "https://"), ("ws://", "http://")):
        if url.startswith(ws):
            return http + url[len(ws) :]
    return url


def ws_url(url: str) -> str:
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if url.startswith(http):
            return ws + url[len(http) :]
    return url


@dataclass(frozen=True)
class RecordingOutput:
    """Where recordings are written: configured on the service, never chosen by a caller.
    `filepath` may use LiveKit's templates ({room_name}, {time}, ...). With `s3_bucket` set, files
    go to that S3-compatible bucket; otherwise to the egress worker's disk."""

    filepath: str = "recordings/{room_name}-{time}.mp4"
    s3_bucket: str = ""
    s3_region: str = ""
    s3_endpoint: str = ""
    s3_access_key: str = ""
    s3_secret: str = ""
    s3_force_path_style: bool = False

    def encoded(self) -> lk_egress.EncodedFileOutput:
        output = lk_egress.EncodedFileOutput(file_type=lk_egress.EncodedFileType.MP4, filepath=self.filepath)
        if self.s3_bucket:
            output.s3.CopyFrom(
                lk_egress.S3Upload(
                    bucket=self.s3_bucket,
                    region=self.s3_region,
                    endpoint=self.s3_endpoint,
                    access_key=self.s3_access_key,
                    secret=self.s3_secret,
                    force_path_style=self.s3_force_path_style,
                )
            )
        return output

    def describe(self, room: str) -> str:
        path = self.filepath.replace("{room_name}", room)
        return f"s3://{self.s3_bucket}/{path}" if self.s3_bucket else path


# A URL's last path segment shorter than this is not taken out of LiveKit's words on its own:
# real stream keys are far longer, and a short one (`app`, `live`) would take out ordinary words.
MIN_STREAM_KEY_CHARS = 8


@dataclass(frozen=True)
class StreamDestinations:
    """RTMP(S) destinations a show may be streamed to, configured on the service by name
    (SHOW_STREAM_DESTINATIONS). A caller names destinations; the URLs, which carry the stream
    keys, stay here: they go to LiveKit and nowhere else, never into answers or logs."""

    urls: Mapping[str, str] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.urls))

    def resolve(self, names: Sequence[str]) -> list[str]:
        """The URLs of `names`, in order; an unknown or repeated name is refused (INVALID_ARGUMENT)
        with the configured names, so the caller can correct the request."""
        if not self.urls:
            raise errors.precondition("No stream destinations are configured on this service")
        unknown = sorted({n for n in names if n not in self.urls})
        if unknown:
            raise errors.invalid(
                f"unknown stream destination(s) {', '.join(unknown)}; configured: {', '.join(self.names)}"
            )
        if len(set(names)) != len(names):
            raise errors.invalid("each stream destination may be named once")
        return [self.urls[n] for n in names]

    def named(self, urls: Sequence[str]) -> tuple[str, ...] | None:
        """The names of the configured destinations `urls` are, as LiveKit's egress reports them
        (its stream results give each URL with the stream key shortened: `{abc...xyz}`); None if
        one of them is none of ours (configured since, or another's), or could be either of two
        (their URLs alike once shortened), which then names nothing."""
        known: dict[str, str | None] = {}
        for name, url in self.urls.items():
            for form in dict.fromkeys((url, _shortened_key(url))):
                # Two destinations alike once shortened name neither: None, as for a stranger.
                known[form] = name if known.get(form, name) == name else None
        names = [known.get(url) for url in urls]
        found = [name for name in names if name is not None]
        return tuple(sorted(set(found))) if len(found) == len(names) else None

    def redact(self, text: str) -> str:
        """`text` with every configured URL replaced by its name, and its stream key (the URL's
        last path segment) wherever it stands alone: LiveKit's error messages, and its egress
        worker's, may quote a URL or the part of it they were given. A key may carry a query
        (Facebook's `FB-...?s_bl=1&...&a=...`): the URL and the key are also taken out without
        it, and each of its values. The longest first, whichever destination it is of: one key may
        begin with another (`live_1` and `live_12`), and the rest of it must not stay behind."""
        secrets: dict[str, str] = {}
        for name, url in self.urls.items():
            bare = url.split("?", 1)[0]
            for quoted in (url, bare):
                secrets.setdefault(quoted, f"<{name}>")
            keys = (url.rstrip("/").rsplit("/", 1)[-1], bare.rstrip("/").rsplit("/", 1)[-1])
            for key in (*keys, *(value for _, value in parse_qsl(urlparse(url).query))):
                if len(key) >= MIN_STREAM_KEY_CHARS:
                    secrets.setdefault(key, f"<{name} stream key>")
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, secrets[secret])
        return text


# An RTMP(S) URL as LiveKit's egress reads one: scheme, host and path, application, stream key,
# and an optional " live=1" (librtmp's option).
_RTMP_URL = re.compile(r"^(rtmps?://)(.*/)(.*/)(\S*)( live=1)?$")


def _shortened_key(url: str) -> str:
    """`url` as LiveKit's egress reports it in a stream's results: its stream key shortened to
    its first and last three characters in braces (fewer for a short key)."""
    parts = _RTMP_URL.match(url)
    if parts is None:
        return url
    key = parts.group(4)
    kept = next((n for n in (3, 2, 1) if len(key) >= 3 * n), 0)
    shortened = "{" + key[:kept] + "..." + (key[len(key) - kept :] if kept else "") + "}"
    return parts.group(1) + parts.group(2) + parts.group(3) + shortened + (parts.group(5) or "")


# A room name no show uses (names are checked by service/core/validate.py), asked for by readiness
# probes: LiveKit answers with an empty list, cheaply, whatever the number of rooms.
_PROBE_ROOM = "(showrunner readiness probe)"

# (method, outcome, seconds) of every LiveKit API call, for metrics.
CallObserver = Callable[[str, str, float], None]


class LiveKitStage:
    """Implements the core's Stage port on a LiveKit server."""

    def __init__(
        self,
        url: str,
        api_key: str,
        api_secret: str,
        *,
        public_url: str | None = None,
        egress_url: str | None = None,
        recording_output: RecordingOutput | None = None,
        stream_destinations: StreamDestinations | None = None,
        token_ttl: timedelta = timedelta(hours=6),
        empty_timeout: int = 300,
        departure_timeout: int = LIVEKIT_DEPARTURE_SECONDS,
        request_timeout: float = 10.0,
        egress_timeout: float = 8.0,
        observe: CallObserver | None = None,
        deployment: str = "",
        room_cache_seconds: float = 2.0,
        also_ours: Sequence[str] = (),
    ) -> None:
        self._key, self._secret = api_key, api_secret
        # Marks the rooms this deployment opens (room metadata), so that its reconciler never
        # takes over rooms of another deployment, or no deployment, on a shared LiveKit. Rooms
        # marked with one of `also_ours` (names an earlier version of this deployment used) are
        # its own too.
        self._mark = _mark(deployment)
        self._marks = frozenset({self._mark, *(_mark(name) for name in also_ours if name)})
        self._ws_url = ws_url(public_url or url)
        self.rooms = RoomCache(room_cache_seconds)
        # A room a participant's token opens (a viewer before its host) is created by LiveKit with
        # the same timeouts and mark as one the service opens (open_room): CreateRoom on a room
        # that exists changes neither.
        opening = RoomConfiguration(
            empty_timeout=empty_timeout, departure_timeout=departure_timeout, metadata=self._mark
        )
        self._tokens = TokenMinter(
            api_key, api_secret, int(token_ttl.total_seconds()), json_format.MessageToDict(opening)
        )
        self._empty_timeout, self._departure_timeout = empty_timeout, departure_timeout
        self._output = recording_output or RecordingOutput()
        self.destinations = stream_destinations or StreamDestinations()
        self._timeout, self._egress_timeout = request_timeout, egress_timeout
        self._observe = observe or (lambda method, outcome, seconds: None)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=request_timeout))
        self._api = api.LiveKitAPI(http_url(url), api_key, api_secret, session=self._session, failover=False)
        self._egress = EgressService(self._session, http_url(egress_url or url), api_key, api_secret, failover=False)

    @property
    def ws_url(self) -> str:
        return self._ws_url

    def mint_token(
        self, room: str, identity: str, name: str, presence: Presence, host_line: bool = False, holder: str = ""
    ) -> str:
        grants = (presence.role, presence.locked, presence.waiting)
        return self._tokens.mint(room, identity, name, *grants, host_line=host_line, holder=holder)

    async def open_room(self, room: str) -> lk.Room:
        request = api.CreateRoomRequest(
            name=room, empty_timeout=self._empty_timeout, departure_timeout=self._departure_timeout, metadata=self._mark
        )
        opened: lk.Room = await self._call("CreateRoom", self._api.room.create_room(request))
        if self._mark and opened.metadata != self._mark:
            # LiveKit answers CreateRoom for an existing room (a viewer's token opened it) with
            # that room as it is: mark it now.
            marking = api.UpdateRoomMetadataRequest(room=room, metadata=self._mark)
            opened = await self._call("UpdateRoomMetadata", self._api.room.update_room_metadata(marking))
        self.rooms.opened(opened)
        return opened

    def ours(self, room: lk.Room) -> bool:
        """Whether this deployment opened `room` (its reconciler may act on it without a record)."""
        return not self._mark or room.metadata in self._marks

    async def ping(self) -> None:
        """Raises ShowError(UNAVAILABLE) unless LiveKit answers an authenticated call."""
        await self._call("ListRooms", self._api.room.list_rooms(api.ListRoomsRequest(names=[_PROBE_ROOM])))

    async def find_room(self, room: str) -> lk.Room | None:
        """The room as LiveKit described it at most SHOW_ROOM_CACHE_SECONDS ago (see RoomCache)."""
        return await self.rooms.room(room, lambda: self._ask_room(room))

    async def _ask_room(self, room: str) -> lk.Room | None:
        found = await self._call("ListRooms", self._api.room.list_rooms(api.ListRoomsRequest(names=[room])))
        return next((r for r in found.rooms if r.name == room), None)

    def heard(self, event: lk_webhook.WebhookEvent) -> None:
        """A verified LiveKit webhook, to keep what this instance knows of the room current."""
        self.rooms.heard(event)

    def redacted(self, text: str) -> str:
        return self.destinations.redact(text)

    async def list_rooms(self) -> Sequence[lk.Room]:
        return list((await self._call("ListRooms", self._api.room.list_rooms(api.ListRoomsRequest()))).rooms)

    async def close_room(self, room: str) -> bool:
        # Asked afresh: whether there was a room to close is the answer.
        if await self._ask_room(room) is None:
            self.rooms.closed(room)
            return False
        done = await self._find("DeleteRoom", self._api.room.delete_room(api.DeleteRoomRequest(room=room)))
        self.rooms.closed(room)
        return done is not None

    async def list_participants(self, room: str, fresh: bool = False) -> Sequence[lk.ParticipantInfo]:
        """As LiveKit listed them at most SHOW_ROOM_CACHE_SECONDS ago (see RoomCache), or now."""
        if fresh:
            return await self._ask_participants(room)
        return await self.rooms.participants(room, lambda: self._ask_participants(room))

    async def participants_after(self, room: str, after: str, count: int | None) -> Sequence[lk.ParticipantInfo]:
        return await self.rooms.participants_after(room, lambda: self._ask_participants(room), after, count)

    async def _ask_participants(self, room: str) -> Sequence[lk.ParticipantInfo]:
        listing = api.ListParticipantsRequest(room=room)
        found = await self._find("ListParticipants", self._api.room.list_participants(listing))
        return list(found.participants) if found else []

    async def remove_participant(self, room: str, identity: str) -> bool:
        who = api.RoomParticipantIdentity(room=room, identity=identity)
        removed = await self._find("RemoveParticipant", self._remove(who)) is not None
        self.rooms.removed(room, identity)
        return removed

    async def _remove(self, who: api.RoomParticipantIdentity) -> bool:
        await self._api.room.remove_participant(who)
        return True

    async def turn_away(self, room: str, connection: lk.ParticipantInfo) -> bool:
        current = await self.find_participant(room, connection.identity)
        if current is None or current.sid != connection.sid:
            return False
        return await self.remove_participant(room, connection.identity)

    async def find_participant(self, room: str, identity: str) -> lk.ParticipantInfo | None:
        who = api.RoomParticipantIdentity(room=room, identity=identity)
        return await self._find("GetParticipant", self._api.room.get_participant(who))

    async def present(
        self, room: str, identity: str, presence: Presence, known: lk.ParticipantInfo | None = None
    ) -> lk.ParticipantInfo | None:
        current = known or await self.find_participant(room, identity)
        if current is None:
            return None
        update = api.UpdateParticipantRequest(
            room=room,
            identity=identity,
            metadata=metadata(presence.role, current.name or identity),
            permission=permission(presence.grants, presence.locked),
            attributes=attributes(presence),
        )
        updated = await self._find("UpdateParticipant", self._api.room.update_participant(update))
        if updated is not None:
            self.rooms.updated(room, updated)
        return updated

    async def mute_track(self, room: str, identity: str, source: str) -> str | None:
        current = await self.find_participant(room, identity)
        track = next((t for t in current.tracks if t.source == _SOURCES[source]), None) if current else None
        if track is None:
            return None
        mute = api.MuteRoomTrackRequest(room=room, identity=identity, track_sid=track.sid, muted=True)
        muted = await self._find("MutePublishedTrack", self._api.room.mute_published_track(mute))
        return muted.track.sid if muted is not None else None

    async def broadcast(self, room: str, payload: bytes, to: Sequence[str] = ()) -> None:
        packet = api.SendDataRequest(
            room=room,
            data=payload,
            kind=lk.DataPacket.Kind.RELIABLE,
            topic=EVENTS_TOPIC,
            destination_identities=list(to),
        )
        await self._find("SendData", self._api.room.send_data(packet))

    async def start_recording(self, room: str, layout: str) -> lk_egress.EgressInfo:
        start = lk_egress.RoomCompositeEgressRequest(
            room_name=room, layout=layout, file_outputs=[self._output.encoded()]
        )
        try:
            # A LiveKit without egress workers waits 20 s before it says so; we say so sooner.
            egress = self._egress.start_room_composite_egress(start)
            return await self._call("StartRoomCompositeEgress", egress, timeout=self._egress_timeout)
        except errors.ShowError as exc:
            if exc.code is errors.Code.UNAVAILABLE:
                raise errors.unavailable(
                    f"Recording needs a LiveKit egress worker and none answered ({exc.message})"
                ) from exc
            raise

    async def stop_recording(self, recording_id: str) -> lk_egress.EgressInfo | None:
        stop = lk_egress.StopEgressRequest(egress_id=recording_id)
        try:
            return await self._find("StopEgress", self._egress.stop_egress(stop))
        except errors.ShowError as exc:
            if exc.code is not errors.Code.FAILED_PRECONDITION:
                raise
            # LiveKit stops or updates only an egress still starting or active and refuses any
            # other ("egress with status EGRESS_COMPLETE cannot be stopped"): it is ending or has
            # ended, its egress_ended not heard yet (late or lost). What LiveKit holds of it is the answer.
            return await self.egress(recording_id)

    async def egress(self, egress_id: str) -> lk_egress.EgressInfo | None:
        listing = lk_egress.ListEgressRequest(egress_id=egress_id)
        # LiveKit answers NOT_FOUND for an egress it does not have (an older one, an empty list).
        found = await self._find("ListEgress", self._egress.list_egress(listing))
        return next((e for e in found.items if e.egress_id == egress_id), None) if found else None

    async def room_egresses(self, room: str) -> list[lk_egress.EgressInfo]:
        listing = lk_egress.ListEgressRequest(room_name=room, active=True)
        found = await self._call("ListEgress", self._egress.list_egress(listing))
        return [info for info in found.items if info.room_name == room]

    async def start_stream(self, room: str, destinations: Sequence[str], layout: str) -> lk_egress.EgressInfo:
        """Streams the room's composite to the named destinations (RTMP(S)), through LiveKit
        Egress stream outputs."""
        urls = self.destinations.resolve(destinations)
        output = lk_egress.StreamOutput(protocol=lk_egress.StreamProtocol.RTMP, urls=urls)
        start = lk_egress.RoomCompositeEgressRequest(room_name=room, layout=layout, stream_outputs=[output])
        try:
            egress = self._egress.start_room_composite_egress(start)
            return await self._call("StartRoomCompositeEgress", egress, timeout=self._egress_timeout)
        except errors.ShowError as exc:
            message = self.destinations.redact(exc.message)
            if exc.code is errors.Code.UNAVAILABLE:
                raise errors.unavailable(
                    f"Streaming needs a LiveKit egress worker and none answered ({message})"
                ) from exc
            raise errors.ShowError(exc.code, message) from exc

    async def update_stream(
        self, stream_id: str, add: Sequence[str], remove: Sequence[str]
    ) -> lk_egress.EgressInfo | None:
        """Adds destinations to, or removes them from, a running stream (UpdateStream)."""
        update = lk_egress.UpdateStreamRequest(
            egress_id=stream_id,
            add_output_urls=self.destinations.resolve(add),
            remove_output_urls=self.destinations.resolve(remove),
        )
        try:
            return await self._find("UpdateStream", self._egress.update_stream(update))
        except errors.ShowError as exc:
            if exc.code is errors.Code.FAILED_PRECONDITION:
                return await self.egress(stream_id)
            raise errors.ShowError(exc.code, self.destinations.redact(exc.message)) from exc

    def stream_destinations(self) -> tuple[str, ...]:
        return self.destinations.names

    def streaming_to(self, info: lk_egress.EgressInfo) -> tuple[str, ...] | None:
        """The destinations (names) a stream's egress is sending to now, as LiveKit reports it;
        None if it sends to a URL that is none of ours."""
        active = lk_egress.StreamInfo.Status.ACTIVE
        return self.destinations.named([result.url for result in info.stream_results if result.status == active])

    def recording_location(self, room: str) -> str:
        return self._output.describe(room)

    async def close(self) -> None:
        await self._api.aclose()
        await self._session.close()

    async def _call(self, method: str, call: Awaitable[T], timeout: float | None = None) -> T:
        """Awaits a LiveKit call, turning its failures into the show's errors."""
        started, outcome = time.perf_counter(), "ok"
        try:
            # Not wait_for, which on 3.11 can swallow a cancellation arriving as the call ends.
            async with asyncio.timeout(timeout or self._timeout):
                return await call
        except api.TwirpError as exc:
            outcome = exc.code
            if exc.code == "not_found":
                raise errors.not_found(errors.ROOM_NOT_FOUND) from exc
            if exc.code in ("invalid_argument", "malformed", "out_of_range"):
                raise errors.invalid(f"LiveKit refused {method}: {exc.message}") from exc
            if exc.code == "failed_precondition":
                raise errors.precondition(f"LiveKit refused {method}: {exc.message}") from exc
            raise errors.unavailable(f"LiveKit {method} failed: {exc.code}: {exc.message}") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            outcome = "unreachable"
            log.warning("LiveKit %s unreachable: %r", method, exc)
            # The log above has the failure's own words; they name hosts and ports, which callers
            # are not told.
            reason = (
                f"no answer within {timeout or self._timeout:g}s"
                if isinstance(exc, TimeoutError)
                else type(exc).__name__
            )
            raise errors.unavailable(f"LiveKit is unavailable ({method}): {reason}") from exc
        finally:
            self._observe(method, outcome, time.perf_counter() - started)

    async def _find(self, method: str, call: Awaitable[T]) -> T | None:
        """Like _call, but a room or participant that does not exist is None."""
        try:
            return await self._call(method, call)
        except errors.ShowError as exc:
            if exc.code is errors.Code.NOT_FOUND:
                return None
            raise
