"""The show's history (ListShowEvents) through every door, with real participants on the real
LiveKit server: who went on stage and left it and why, moderators, bans and removals, recordings
and streams (against the Egress stand-in), read oldest first in pages that never repeat or skip an
entry; hands are not kept; only the host, its moderators and the room's admin may read it. On the
core itself: the show's state changes are kept when announced, and a history the store cannot
write fails no request."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from livekit import api
from livekit.protocol import egress as lk_egress
from showrunner.v1 import show_service_pb2 as pb

from service.core.caller import Caller
from service.core.clock import ManualClock
from service.core.errors import Code, ShowError
from service.core.events import EventType
from service.core.pages import PageTokens, page_key
from service.core.show import ShowCore
from service.dev.livekit_server import LiveKitDevServer
from service.dev.redis_server import RedisServer
from service.gateway.livekit import LiveKitStage
from service.stores.redis_record import ROOM_KEYS, RedisRecords, connect, room_keys
from tests.conftest import API_KEY, API_SECRET, ServiceProcess, admin_token
from tests.doors import DOORS, ShowClient, client_for, expect_refusal
from tests.egress_standin import EgressStandIn
from tests.live import LiveParticipant, gone_from_livekit, leave_livekit, livekit_participant, until
from tests.test_convergence import livekit_api, stack
from tests.test_show_through_every_door import join_viewer, refused, start_show

NOT_MANAGER = "Only the host or a moderator can see the show's history"
BAD_TOKEN = (
    "pageToken is not one this service gave for this room's history; leave it empty to read from the first entry"
)


def story(entries: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """What happened, who did it, to whom and why: an entry in a comparable form."""
    return [(e["type"], e["actorIdentity"], e["targetIdentity"], e["reason"]) for e in entries]


async def read_all(reader: ShowClient, room: str, page_size: int) -> tuple[list[dict[str, Any]], int]:
    """Every entry, page after page, and how many pages it took."""
    entries: list[dict[str, Any]] = []
    token, pages = "", 0
    while True:
        page = await reader.history(room, page_size, token)
        pages += 1
        assert len(page["entries"]) <= page_size
        entries += page["entries"]
        token = page["nextPageToken"]
        if not token:
            return entries, pages


async def test_the_history_tells_who_went_on_stage_was_banned_and_why_in_order(
    door: ShowClient, room: str, lkapi: api.LiveKitAPI
) -> None:
    host, host_live = await start_show(door, room)
    vic, vic_live = await join_viewer(door, room, "vic")
    mia, mia_live = await join_viewer(door, room, "mia")
    troll_joined = await door.as_(None).join(room, "troll", "viewer")
    troll_live = await LiveParticipant("troll").connect(troll_joined["wsUrl"], troll_joined["token"])
    admin = door.as_(admin_token(room))
    try:
        await vic.hand(room, "vic", True)  # a hand is not history: it grows with the audience
        assert (await host.invite(room, "vic", "host-1"))["promoted"] is True
        on_stage = await livekit_participant(lkapi, room, "vic")
        assert on_stage is not None and on_stage.permission.can_publish  # LiveKit's own view
        expect_refusal(await refused(vic.history(room)), "PERMISSION_DENIED", NOT_MANAGER)  # a guest
        await host.demote(room, "vic", "host-1")
        await host.appoint_moderator(room, "mia")
        await mia.remove_participant(room, "troll", ban=True)
        await until(lambda: gone_from_livekit(lkapi, room, "troll"), 10.0, "troll removed from LiveKit")
        await host.unban(room, "troll")
        await vic.hand(room, "vic", True)
        assert (await mia.invite(room, "vic", "mia"))["promoted"] is True
        await vic.step_down(room, "vic")

        happened = [
            ("host_joined", "", "host-1", ""),  # the room's admin seated the host
            ("guest_promoted", "host-1", "vic", ""),
            ("guest_demoted", "host-1", "vic", "demoted"),
            ("moderator_appointed", "host-1", "mia", ""),
            ("participant_banned", "mia", "troll", ""),
            ("participant_removed", "mia", "troll", ""),
            ("participant_unbanned", "host-1", "troll", ""),
            ("guest_promoted", "mia", "vic", ""),
            ("guest_demoted", "vic", "vic", "stepped_down"),
        ]
        everything = await host.history(room)
        assert story(everything["entries"]) == happened and everything["nextPageToken"] == ""
        assert [e["sequence"] for e in everything["entries"]] == [str(n) for n in range(1, len(happened) + 1)]
        times = [int(e["happenedAt"]) for e in everything["entries"]]
        assert times == sorted(times) and all(abs(t - times[0]) < 120_000 for t in times)
        # The moderator and the room's admin read the same; a viewer may not.
        assert (await mia.history(room)) == everything
        assert (await admin.history(room)) == everything
        expect_refusal(await refused(vic.history(room)), "PERMISSION_DENIED", NOT_MANAGER)

        # Pages of 2, 4 and 9: every entry once, in order, and the token ends with the history.
        for size, expected_pages in ((2, 5), (4, 3), (9, 1), (200, 1)):
            paged, pages = await read_all(host, room, size)
            assert (paged, pages) == (everything["entries"], expected_pages), size
        # A page read later goes on from where the last one ended.
        first = await host.history(room, 8)
        await host.dismiss_moderator(room, "mia")
        rest = await host.history(room, 8, first["nextPageToken"])
        assert story(rest["entries"]) == [happened[-1], ("moderator_dismissed", "host-1", "mia", "")]
        # A token of this room's history is no token for another room's, even to that room's admin.
        elsewhere = f"{room}-other"
        other = door.as_(admin_token(elsewhere))
        await other.join(elsewhere, "host-2", "host")  # a history of its own
        expect_refusal(
            await refused(other.history(elsewhere, 8, first["nextPageToken"])), "INVALID_ARGUMENT", BAD_TOKEN
        )
        expect_refusal(await refused(mia.history(room)), "PERMISSION_DENIED", NOT_MANAGER)  # a viewer again
    finally:
        for participant in (host_live, vic_live, mia_live, troll_live):
            await participant.disconnect()


async def test_bad_pages_are_refused_clearly_and_an_unknown_room_has_no_history(door: ShowClient, room: str) -> None:
    host, host_live = await start_show(door, room)
    try:
        for size in (201, -1, 1_000_000):
            expect_refusal(
                await refused(host.history(room, size)),
                "INVALID_ARGUMENT",
                f"pageSize must be between 1 and 200, got {size}",
            )
        made_up = base64.urlsafe_b64encode(b"history:0").decode().rstrip("=")
        # The previous release's form of a real position: anyone could write it, so it is no token.
        previous_release = base64.urlsafe_b64encode(b"history:1").decode().rstrip("=")
        for token in (
            "nope",
            "!!!",
            made_up,
            previous_release,
            "x" * 100,
            base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        ):
            expect_refusal(await refused(host.history(room, 10, token)), "INVALID_ARGUMENT", BAD_TOKEN)
        if door.door != "rest":  # on REST the room is in the path, which an empty name does not match
            expect_refusal(await refused(host.history("", 10)), "INVALID_ARGUMENT", "roomName is required")
        # ... and nothing changed: the history is the host's arrival.
        assert story((await host.history(room))["entries"]) == [("host_joined", "", "host-1", "")]
        # A room nobody opened has no history (no error: the history is the record's alone).
        elsewhere = f"{room}-never"
        assert await door.as_(admin_token(elsewhere)).history(elsewhere) == {"entries": [], "nextPageToken": ""}
        expect_refusal(
            await refused(host.history(elsewhere)), "PERMISSION_DENIED", f"This token is not for room {elsewhere}"
        )
    finally:
        await host_live.disconnect()


async def test_the_rest_door_refuses_a_page_size_that_is_not_a_number(rest: ShowClient, room: str) -> None:
    host, host_live = await start_show(rest, room)
    try:
        reply = await rest.http.get(  # type: ignore[attr-defined]
            f"/api/rooms/{room}/events?pageSize=ten",
            headers=host.auth_headers(),  # type: ignore[attr-defined]
        )
        assert (reply.status_code, reply.json()) == (400, {"error": "pageSize must be a whole number"})
        reply = await rest.http.get(  # type: ignore[attr-defined]
            f"/api/rooms/{room}/events?pageSize=1",
            headers=host.auth_headers(),  # type: ignore[attr-defined]
        )
        assert reply.status_code == 200 and reply.json()["nextPageToken"] == ""
        assert [e["type"] for e in reply.json()["entries"]] == ["host_joined"]
    finally:
        await host_live.disconnect()


@pytest.fixture(params=DOORS)
async def streamer(request: pytest.FixtureRequest, recording_service: ServiceProcess) -> AsyncIterator[ShowClient]:
    client = client_for(request.param, recording_service.grpc_address, recording_service.http_base)
    yield client
    await client.close()


async def test_recordings_and_streams_are_kept_with_who_started_and_stopped_them(
    streamer: ShowClient, recording_service: ServiceProcess, egress: EgressStandIn, room: str
) -> None:
    host = streamer.as_((await streamer.as_(admin_token(room)).join(room, "host", "host"))["token"])
    recording = (await host.start_recording(room, "speaker"))["recordingId"]
    stream = (await host.start_stream(room, ["youtube"]))["streamId"]
    await host.update_stream(room, ["twitch"], [])
    await host.stop_stream(room)
    await host.stop_recording(room)
    # A stop LiveKit confirms later is kept once, as the caller's stop.
    complete = lk_egress.EgressStatus.EGRESS_COMPLETE
    assert await egress.report(recording_service.http_base, "egress_ended", recording, complete) == 200
    # A recording that fails on its own, as LiveKit reports it: nobody stopped it.
    failing = (await host.start_recording(room, "grid"))["recordingId"]
    failed = lk_egress.EgressStatus.EGRESS_FAILED
    assert await egress.report(recording_service.http_base, "egress_ended", failing, failed) == 200

    entries = (await host.history(room))["entries"]
    assert [(e["type"], e["actorIdentity"], e["reason"], e["egressId"], e["destinations"]) for e in entries] == [
        ("host_joined", "", "", "", []),
        ("recording_started", "host", "", recording, []),
        ("stream_started", "host", "", stream, ["youtube"]),
        ("stream_updated", "host", "", stream, ["youtube", "twitch"]),
        ("stream_stopped", "host", "stopped", stream, []),
        ("recording_stopped", "host", "stopped", recording, []),
        ("recording_started", "host", "", failing, []),
        ("recording_stopped", "", "failed", failing, []),
    ]


async def test_guests_and_hosts_whose_connection_ended_are_kept_as_left(tmp_path: Path) -> None:
    """With a reconnect grace of 1 s: the guest's and then the host's connection end, and once
    their seats are freed the history says so, done by nobody."""
    own = stack(tmp_path)
    door = own.client()
    room = "dropped-history"
    try:
        host, host_live = await start_show(door, room)
        vic, vic_live = await join_viewer(door, room, "vic")
        _, vee_live = await join_viewer(door, room, "vee")  # keeps the room open once both are gone
        await vic.hand(room, "vic", True)
        assert (await host.invite(room, "vic", "host-1"))["promoted"] is True
        admin = door.as_(admin_token(room))

        async def kept(kind: str) -> bool:
            return kind in [e["type"] for e in (await admin.history(room))["entries"]]

        # Each leaves once its client has taken in its role, and LiveKit is seen to let it go (a
        # close in the moment the promotion reaches the client goes unheard until LiveKit's own
        # connection timeout); the grace window and the history are then the service's to keep.
        async with livekit_api(own.livekit) as lkapi:
            await leave_livekit(lkapi, room, vic_live, 30.0)
            await until(lambda: kept("guest_demoted"), 15.0, "the guest's seat freed after the grace window")
            await leave_livekit(lkapi, room, host_live, 30.0)
            await until(lambda: kept("host_left"), 15.0, "the host's seat freed after the grace window")
        assert story((await admin.history(room))["entries"]) == [
            ("host_joined", "", "host-1", ""),
            ("guest_promoted", "host-1", "vic", ""),
            ("guest_demoted", "", "vic", "left"),
            ("host_left", "", "host-1", ""),
        ]
        await vee_live.disconnect()
    finally:
        await door.close()
        own.service.stop()
        own.livekit.stop()


# --- on the core itself, against the real LiveKit and a real redis-server -----------------------


@pytest.fixture
async def core_on_redis(
    livekit: LiveKitDevServer, store_redis_server: RedisServer
) -> AsyncIterator[tuple[ShowCore, RedisRecords]]:
    stage = LiveKitStage(livekit.url, API_KEY, API_SECRET)
    store = RedisRecords(connect(store_redis_server.url, cluster=False))  # no instance's reconciler looks at it
    yield ShowCore(stage, store, ManualClock(start=time.time()), page_tokens=PageTokens(page_key(API_SECRET))), store
    await store.close()
    await stage.close()


def as_admin(room: str) -> Caller:
    return Caller(identity="backend", room=room, admin=True)


async def test_the_shows_state_changes_are_kept_when_announced(
    core_on_redis: tuple[ShowCore, RedisRecords], room: str
) -> None:
    """GoLive and EndShow announce show_live and show_ended; announcing them is what keeps them."""
    core, _ = core_on_redis
    joined = pb.JoinRoomRequest(room_name=room, participant_name="host-1", role=pb.ROLE_HOST)
    await core.join_room(joined, as_admin(room))
    await core._announce(room, EventType.SHOW_LIVE, sender="host-1")
    await core._announce(room, EventType.HAND_RAISE, sender="vic", to=["host-1"])  # never kept
    await core._announce(room, EventType.SHOW_ENDED, sender="host-1")
    page = await core.list_show_events(pb.ListShowEventsRequest(room_name=room), as_admin(room))
    assert [(e.type, e.actor_identity, e.target_identity) for e in page.entries] == [
        ("host_joined", "", "host-1"),
        ("show_live", "host-1", ""),
        ("show_ended", "host-1", ""),
    ]


async def test_a_history_the_store_cannot_write_fails_no_request(
    core_on_redis: tuple[ShowCore, RedisRecords], room: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The room's history key holds something that is not a stream (as after an operator's
    mistake): Redis refuses every entry, and the show goes on without them."""
    core, store = core_on_redis
    await store.client.set(room_keys(room)[ROOM_KEYS.index("history")], "not a stream")
    joined = pb.JoinRoomRequest(room_name=room, participant_name="host-1", role=pb.ROLE_HOST)
    answer = await core.join_room(joined, as_admin(room))
    assert answer.token and answer.role == pb.ROLE_HOST
    assert (await store.stage(room, time.time())).host is not None
    assert f"could not keep host_joined in the history of {room}" in caplog.text
    # Reading it says the store cannot answer, rather than pretending the history is empty.
    with pytest.raises(ShowError) as caught:
        await core.list_show_events(pb.ListShowEventsRequest(room_name=room), as_admin(room))
    assert caught.value.code is Code.UNAVAILABLE
