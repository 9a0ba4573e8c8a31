"""A guest's sources as LiveKit holds them, against the seat's locks in the show's record: a source
given back while the guest was away is LiveKit's again once it reconnects, and a lock the show
refuses leaves the guest's track as it was. Checked in LiveKit's own view."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from livekit import api
from livekit.protocol import models as lk

from tests.conftest import API_KEY, API_SECRET, admin_token
from tests.doors import ShowClient, expect_refusal
from tests.live import LiveParticipant, leave_livekit, livekit_participant, until
from tests.test_convergence import stack
from tests.test_show_through_every_door import refused


async def _sources(lkapi: api.LiveKitAPI, room: str, identity: str) -> set[int] | None:
    found = await livekit_participant(lkapi, room, identity)
    return {int(s) for s in found.permission.can_publish_sources} if found else None


@dataclass
class Stage:
    """A show on a LiveKit and service of the test's own: its host (host-1) and a guest (vic),
    both connected, the door as each, and LiveKit's own API."""

    room: str
    host: ShowClient
    vic: ShowClient
    vic_live: LiveParticipant
    lkapi: api.LiveKitAPI
    live: list[LiveParticipant]


@asynccontextmanager
async def on_stage(tmp_path: Path, room: str, **env: str) -> AsyncIterator[Stage]:
    own = stack(tmp_path, **env)
    door = own.client()
    lkapi = api.LiveKitAPI(own.livekit.http_url, API_KEY, API_SECRET, failover=False)
    live: list[LiveParticipant] = []
    try:
        host, vic, host_live, vic_live = await _on_stage(door, room)
        live += [host_live, vic_live]
        yield Stage(room, host, vic, vic_live, lkapi, live)
    finally:
        for person in live:
            await person.disconnect()
        await door.close()
        await lkapi.aclose()
        own.service.stop()
        own.livekit.stop()


async def _on_stage(door: ShowClient, room: str) -> tuple[ShowClient, ShowClient, LiveParticipant, LiveParticipant]:
    """A connected host (host-1) and a connected guest (vic), promoted from the audience."""
    joined = await door.as_(admin_token(room)).join(room, "host-1", "host")
    host_live = await LiveParticipant("host-1").connect(joined["wsUrl"], joined["token"])
    ticket = await door.as_(None).join(room, "vic", "viewer")
    vic_live = await LiveParticipant("vic").connect(ticket["wsUrl"], ticket["token"])
    host, vic = door.as_(joined["token"]), door.as_(ticket["token"])
    await vic.hand(room, "vic", True)
    assert (await host.invite(room, "vic", "host-1"))["promoted"] is True
    await vic_live.wait_for(lambda: vic_live.room.local_participant.permissions.can_publish, label="vic on stage")
    return host, vic, host_live, vic_live


async def test_a_source_given_back_while_the_guest_was_away_is_its_own_when_it_reconnects(tmp_path: Path) -> None:
    """The guest's token, minted while its microphone was locked, leaves the microphone out; the
    host gives it back before the guest reconnects with that token. The seat says the guest may
    publish it, so LiveKit must let it: a connection with fewer sources than its seat is brought
    to the seat's sources as one with more is."""
    async with on_stage(tmp_path, "given-back-while-away", SHOW_RECONNECT_GRACE_SECONDS="30") as show:
        room, host, vic, lkapi = show.room, show.host, show.vic, show.lkapi
        locked = await host.mute(room, "vic", "MICROPHONE", lock=True)
        assert locked["lockedSources"] == ["MICROPHONE"]
        # The guest drops (it keeps its seat for the grace window) and asks for a fresh token,
        # which leaves the locked microphone out.
        await leave_livekit(lkapi, room, show.vic_live, 30.0)
        ticket = await vic.join(room, "vic", "viewer")
        allowed = await host.allow_source(room, "vic", "MICROPHONE")
        assert allowed["lockedSources"] == []
        back = await LiveParticipant("vic").connect(ticket["wsUrl"], ticket["token"])
        show.live.append(back)
        wanted = {int(lk.TrackSource.CAMERA), int(lk.TrackSource.MICROPHONE)}
        await until(
            lambda: _has_sources(lkapi, room, "vic", wanted), 8.0, "LiveKit lets vic publish its microphone again"
        )
        assert await back.publish_microphone()


async def _has_sources(lkapi: api.LiveKitAPI, room: str, identity: str, wanted: set[int]) -> bool:
    return await _sources(lkapi, room, identity) == wanted


async def test_a_refused_lock_leaves_the_guest_s_track_unmuted(tmp_path: Path) -> None:
    """Locking a guest's last source is refused (FAILED_PRECONDITION): a refused request changes
    nothing, so the track it names is not muted either."""
    async with on_stage(tmp_path, "refused-lock") as show:
        room, host, lkapi = show.room, show.host, show.lkapi
        await show.vic_live.publish_microphone()
        await until(lambda: _microphone_muted(lkapi, room, "vic", False), 10.0, "LiveKit lists the microphone")
        assert (await host.mute(room, "vic", "CAMERA", lock=True))["lockedSources"] == ["CAMERA"]
        expect_refusal(
            await refused(host.mute(room, "vic", "MICROPHONE", lock=True)),
            "FAILED_PRECONDITION",
            "vic would have nothing left to publish; demote the guest instead",
        )
        await asyncio.sleep(1.0)  # a mute LiveKit was asked for has reached its view by now
        assert await _microphone_muted(lkapi, room, "vic", False)


async def _microphone_muted(lkapi: api.LiveKitAPI, room: str, identity: str, muted: bool) -> bool:
    found = await livekit_participant(lkapi, room, identity)
    track = next((t for t in found.tracks if t.source == lk.TrackSource.MICROPHONE), None) if found else None
    return track is not None and track.muted is muted
