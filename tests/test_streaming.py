"""Restreaming through LiveKit Egress stream outputs: refused clearly when LiveKit has no egress
worker (the real dev server), and the whole life of a stream, its destinations changed while it
runs, against the Egress stand-in, through every door. Destinations are configured on the service
by name (tests/conftest.py STREAM_URLS); their stream keys never reach an answer or a log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest
from livekit.protocol import egress as lk_egress
from showrunner.v1 import show_service_pb2 as pb

from service.config import ConfigError, Settings
from service.core import errors
from service.core.caller import Caller
from service.core.clock import SystemClock
from service.core.pages import PageTokens, page_key
from service.core.show import ShowCore
from service.dev.livekit_server import LiveKitDevServer
from service.dev.redis_server import RedisServer
from service.gateway.livekit import LiveKitStage, StreamDestinations
from service.stores.memory_record import MemoryRecords
from service.stores.redis_record import RedisRecords, connect
from tests.conftest import (
    API_KEY,
    API_SECRET,
    RECORDING_PATH,
    STREAM_KEYS,
    STREAM_URLS,
    ServiceProcess,
    admin_token,
    start_service,
)
from tests.doors import DOORS, Refused, ShowClient, client_for, expect_refusal
from tests.egress_standin import EgressStandIn
from tests.live import LiveParticipant

CONFIGURED = "configured: twitch, youtube"


async def refusal(call: object) -> Refused:
    with pytest.raises(Refused) as caught:
        await call  # type: ignore[misc]
    return caught.value


def keys_absent(*texts: object) -> None:
    for text in texts:
        for key in STREAM_KEYS.values():
            assert key not in str(text), f"a stream key leaked into {text!r}"


async def test_without_an_egress_worker_streaming_is_unavailable(
    door: ShowClient, service: ServiceProcess, room: str
) -> None:
    host = door.as_((await door.as_(admin_token(room)).join(room, "host", "host"))["token"])
    for _ in range(2):  # and nothing is left half-started: the second try answers the same
        caught = await refusal(host.start_stream(room, ["youtube", "twitch"]))
        assert caught.code == "UNAVAILABLE" or caught.wire == 503, caught
        assert caught.message.startswith("Streaming needs a LiveKit egress worker and none answered"), caught
        keys_absent(caught)
    listed = await host.streams(room)
    assert listed == {"streams": [], "availableDestinations": ["twitch", "youtube"]}
    keys_absent(*service.output)


@pytest.fixture(params=DOORS)
async def streamer(request: pytest.FixtureRequest, recording_service: ServiceProcess) -> AsyncIterator[ShowClient]:
    client = client_for(request.param, recording_service.grpc_address, recording_service.http_base)
    yield client
    await client.close()


async def test_the_host_streams_the_show_and_changes_its_destinations(
    streamer: ShowClient, recording_service: ServiceProcess, egress: EgressStandIn, room: str
) -> None:
    host = streamer.as_((await streamer.as_(admin_token(room)).join(room, "host", "host"))["token"])
    started = await host.start_stream(room, ["youtube"])
    assert started["status"] == "EGRESS_STARTING" and started["streamId"].startswith("EG_")
    assert started["destinations"] == ["youtube"] and started["roomName"] == room
    method, sent = egress.changes_about(room)[-1]
    assert method == "StartRoomCompositeEgress" and isinstance(sent, lk_egress.RoomCompositeEgressRequest)
    # LiveKit is told the URL with its key, as a stream output; the caller only named it.
    [output] = sent.stream_outputs
    assert (output.protocol, list(output.urls)) == (lk_egress.StreamProtocol.RTMP, [STREAM_URLS["youtube"]])
    assert not sent.file_outputs and sent.room_name == room
    sid = started["streamId"]

    expect_refusal(
        await refusal(host.start_stream(room, ["twitch"])),
        "FAILED_PRECONDITION",
        "Room is already being streamed; stop that stream or change its destinations",
    )
    # A recording runs beside the stream.
    recording = await host.start_recording(room, "speaker")
    assert [r["recordingId"] for r in await host.recordings(room)] == [recording["recordingId"]]

    moved = await host.update_stream(room, ["twitch"], ["youtube"])
    assert (moved["streamId"], moved["destinations"]) == (sid, ["twitch"])
    method, update = egress.changes_about(room)[-1]
    assert method == "UpdateStream" and isinstance(update, lk_egress.UpdateStreamRequest)
    assert (update.egress_id, list(update.add_output_urls), list(update.remove_output_urls)) == (
        sid,
        [STREAM_URLS["twitch"]],
        [STREAM_URLS["youtube"]],
    )
    assert egress.active_urls(sid) == [STREAM_URLS["twitch"]]
    both = await host.update_stream(room, ["youtube"], [])
    assert both["destinations"] == ["twitch", "youtube"]

    assert await egress.report(recording_service.http_base, "egress_updated", sid, 1) == 200
    listed = await host.streams(room)
    assert listed["availableDestinations"] == ["twitch", "youtube"]
    [running] = listed["streams"]
    assert (running["streamId"], running["status"], running["destinations"]) == (
        sid,
        "EGRESS_ACTIVE",
        both["destinations"],
    )

    stopping = await host.stop_stream(room)
    assert stopping["status"] == "EGRESS_ENDING" and stopping["streamId"] == sid
    assert egress.changes_about(room)[-1][0] == "StopEgress"
    assert await egress.report(recording_service.http_base, "egress_ended", sid, 3) == 200
    [done] = (await host.streams(room))["streams"]
    assert done["status"] == "EGRESS_COMPLETE" and int(done["endedAt"]) >= int(done["startedAt"]) > 0, done
    expect_refusal(await refusal(host.stop_stream(room)), "NOT_FOUND", "No active stream in this room")
    # The recording was not touched by the stream's end, and a new stream may start now.
    assert (await host.recordings(room))[0]["status"] == "EGRESS_STARTING"
    assert (await host.start_stream(room, ["twitch"]))["streamId"] != sid
    keys_absent(started, moved, both, listed, done, *recording_service.output)


def stream_events(live: LiveParticipant) -> list[dict[str, Any]]:
    """The stream_* events `live` has heard, without their time."""
    return [
        {k: v for k, v in e.items() if k != "timestamp"}
        for e in live.show_events
        if str(e.get("type", "")).startswith("stream_")
    ]


async def test_a_streams_progress_is_told_to_the_host_and_the_moderators_only(
    recording_service: ServiceProcess, egress: EgressStandIn, room: str
) -> None:
    """Each state a stream reaches (started, live, its destinations changed, ending, ended) is
    sent to the host and the moderators, whoever moved it (a call, or LiveKit's egress webhooks),
    once, with the destinations' names and never their URLs; a viewer hears none of it (the
    audience is not told where the show is restreamed)."""
    client = client_for("rest", recording_service.grpc_address, recording_service.http_base)
    base, admin = recording_service.http_base, client.as_(admin_token(room))
    joined = await admin.join(room, "host", "host")
    host = client.as_(joined["token"])
    host_live = await LiveParticipant("host").connect(joined["wsUrl"], joined["token"])
    live = [host_live]
    try:
        for name in ("mia", "vic"):
            ticket = await client.join(room, name, "viewer")
            live.append(await LiveParticipant(name).connect(ticket["wsUrl"], ticket["token"]))
        _, mia_live, vic_live = live
        await host.appoint_moderator(room, "mia")
        managers = (host_live, mia_live)

        async def managers_hear(*expected: dict[str, Any]) -> None:
            for manager in managers:
                await manager.wait_for(
                    lambda m=manager: stream_events(m) == list(expected),  # type: ignore[misc]
                    label=f"{manager.identity} hears {[e['type'] for e in expected]}",
                )

        sid = (await host.start_stream(room, ["youtube"]))["streamId"]
        started = {"type": "stream_started", "senderId": "host", "senderName": "host", "streamId": sid}
        said = [{**started, "destinations": ["youtube"]}]
        await managers_hear(*said)
        # LiveKit's egress_started (still starting) moves nothing; egress_updated (active) does,
        # once however often LiveKit says it. Nobody did it: no sender.
        assert await egress.report(base, "egress_started", sid, lk_egress.EgressStatus.EGRESS_STARTING) == 200
        for _ in range(2):
            assert await egress.report(base, "egress_updated", sid, lk_egress.EgressStatus.EGRESS_ACTIVE) == 200
        said.append({"type": "stream_live", "streamId": sid, "destinations": ["youtube"]})
        await managers_hear(*said)
        await host.update_stream(room, ["twitch"], [])
        said.append({**started, "type": "stream_updated", "destinations": ["youtube", "twitch"]})
        await managers_hear(*said)
        await host.stop_stream(room)
        said.append({**started, "type": "stream_ending", "destinations": ["youtube", "twitch"]})
        await managers_hear(*said)
        assert await egress.report(base, "egress_ended", sid, lk_egress.EgressStatus.EGRESS_COMPLETE) == 200
        said.append(
            {"type": "stream_ended", "streamId": sid, "destinations": ["youtube", "twitch"], "reason": "complete"}
        )
        await managers_hear(*said)

        # The room's admin (the app's backend) streams in nobody's name; the egress fails, its
        # error quoting the URL: the managers hear how it ended, the error stays in ListStreams.
        again = (await admin.start_stream(room, ["twitch"]))["streamId"]
        said.append({"type": "stream_started", "streamId": again, "destinations": ["twitch"]})
        error = f"failed to connect to {STREAM_URLS['twitch']}: i/o timeout"
        failed = lk_egress.EgressStatus.EGRESS_FAILED
        assert await egress.report(base, "egress_ended", again, failed, error=error) == 200
        said.append({"type": "stream_ended", "streamId": again, "destinations": ["twitch"], "reason": "failed"})
        await managers_hear(*said)

        # An appointment goes to the whole room after all of it: once vic has it, vic has had
        # whatever was sent to the room before, and nothing of the streams was.
        await host.appoint_moderator(room, "late-mo")
        await vic_live.wait_for(lambda: any(e.get("type") == "moderator_appointed" for e in vic_live.show_events))
        assert stream_events(vic_live) == [], vic_live.show_events
        keys_absent(*(e for m in managers for e in m.show_events))
        for manager in managers:
            assert not [e for e in manager.show_events if "rtmp" in str(e)], manager.show_events
    finally:
        for participant in live:
            await participant.disconnect()
        await client.close()


async def test_streaming_rules(streamer: ShowClient, egress: EgressStandIn, room: str) -> None:
    joined = await streamer.as_(admin_token(room)).join(room, "host", "host")
    host = streamer.as_(joined["token"])
    viewer = streamer.as_((await streamer.join(room, "viewer", "viewer"))["token"])
    sent_before = len(egress.changes_about(room))
    expect_refusal(
        await refusal(viewer.start_stream(room, ["youtube"])), "PERMISSION_DENIED", "Only the host can stream the show"
    )
    expect_refusal(
        await refusal(host.start_stream(room, ["youtube", "myspace"])),
        "INVALID_ARGUMENT",
        f"destinations: unknown destination 'myspace'; {CONFIGURED}",
    )
    expect_refusal(
        await refusal(host.start_stream(room, [])),
        "INVALID_ARGUMENT",
        "destinations is required: name one or more of twitch, youtube",
    )
    # A name given twice is told by name, not as more destinations than are configured (two are).
    for names in (["youtube", "youtube"], ["youtube", "twitch", "youtube"], ["youtube"] * 3):
        expect_refusal(
            await refusal(host.start_stream(room, names)),
            "INVALID_ARGUMENT",
            "destinations names 'youtube' more than once; name each destination once",
        )
    # A destination's URL in place of its name is unknown, and its stream key is not said back.
    expect_refusal(
        await refusal(host.start_stream(room, [STREAM_URLS["youtube"]] * 2)),
        "INVALID_ARGUMENT",
        f"destinations: unknown destination '<youtube>'; {CONFIGURED}",
    )
    expect_refusal(
        await refusal(host.start_stream(room, ["twitch", "youtube", "twitch", "youtube"])),
        "INVALID_ARGUMENT",
        "destinations names 'twitch', 'youtube' more than once; name each destination once",
    )
    expect_refusal(
        await refusal(host.update_stream(room, ["twitch"], [])), "NOT_FOUND", "No active stream in this room"
    )
    expect_refusal(await refusal(host.stop_stream(room)), "NOT_FOUND", "No active stream in this room")
    assert len(egress.changes_about(room)) == sent_before  # no bad request reached LiveKit
    assert (await host.streams(room))["streams"] == []

    await host.start_stream(room, ["youtube"])
    for add, remove, message in (
        ([], [], "Name destinations to add (addDestinations) or remove (removeDestinations)"),
        (["youtube"], [], "Already streaming to youtube"),
        ([], ["twitch"], "Not streaming to twitch"),
        (["twitch"], ["twitch"], "A destination cannot be both added and removed"),
        ([], ["youtube"], "A stream needs a destination: stop the stream instead of removing them all"),
        (["myspace"], [], f"addDestinations: unknown destination 'myspace'; {CONFIGURED}"),
        (["twitch"] * 3, [], "addDestinations names 'twitch' more than once; name each destination once"),
        ([], ["youtube"] * 3, "removeDestinations names 'youtube' more than once; name each destination once"),
    ):
        expect_refusal(await refusal(host.update_stream(room, add, remove)), "INVALID_ARGUMENT", message)
    [kept] = (await host.streams(room))["streams"]
    assert kept["destinations"] == ["youtube"]  # the refusals changed nothing


async def test_a_stream_that_failed_unheard_is_neither_updated_nor_left_active(
    recording_service: ServiceProcess, egress: EgressStandIn, room: str
) -> None:
    """LiveKit updates and stops only an egress still starting or active (failed_precondition
    otherwise): a stream whose egress_ended is late or lost is refused as not active, shows how it
    ended, and leaves the room free for the next stream; never UNAVAILABLE, never stuck."""
    client = client_for("rest", recording_service.grpc_address, recording_service.http_base)
    try:
        host = client.as_((await client.as_(admin_token(room)).join(room, "host", "host"))["token"])
        sid = (await host.start_stream(room, ["youtube"]))["streamId"]
        egress.move(sid, lk_egress.EgressStatus.EGRESS_FAILED)  # its egress_ended is lost
        expect_refusal(
            await refusal(host.update_stream(room, ["twitch"], [])), "NOT_FOUND", "No active stream in this room"
        )
        [failed] = (await host.streams(room))["streams"]
        assert (failed["streamId"], failed["status"], failed["destinations"]) == (sid, "EGRESS_FAILED", ["youtube"])
        ends = [e for e in (await host.history(room))["entries"] if e["type"] == "stream_stopped"]
        assert [(e["egressId"], e["reason"]) for e in ends] == [(sid, "failed")]

        again = (await host.start_stream(room, ["twitch"]))["streamId"]
        egress.move(again, lk_egress.EgressStatus.EGRESS_COMPLETE)
        stopped = await host.stop_stream(room)
        assert (stopped["streamId"], stopped["status"]) == (again, "EGRESS_COMPLETE")
        keys_absent(failed, stopped, *recording_service.output)
    finally:
        await client.close()


async def test_a_failure_quoting_a_destination_keeps_its_stream_key_out(
    recording_service: ServiceProcess, egress: EgressStandIn, room: str
) -> None:
    """The egress worker's error, as LiveKit's egress_ended webhook carries it, may quote the URL
    it was given or the key alone: the service keeps and shows it with the destination's name in
    their place, never the key."""
    client = client_for("twirp-json", recording_service.grpc_address, recording_service.http_base)
    try:
        host = client.as_((await client.as_(admin_token(room)).join(room, "host", "host"))["token"])
        sid = (await host.start_stream(room, ["youtube", "twitch"]))["streamId"]
        error = (
            f"output {STREAM_URLS['youtube']} failed: connection refused; "
            f"twitch refused stream key {STREAM_KEYS['twitch']}"
        )
        ended = lk_egress.EgressStatus.EGRESS_FAILED
        assert await egress.report(recording_service.http_base, "egress_ended", sid, ended, error=error) == 200
        [failed] = (await host.streams(room))["streams"]
        assert failed["status"] == "EGRESS_FAILED"
        assert failed["error"] == (
            "output <youtube> failed: connection refused; twitch refused stream key <twitch stream key>"
        )
        keys_absent(failed, await host.history(room), *recording_service.output)
    finally:
        await client.close()


def test_stream_destinations_are_configured_by_name() -> None:
    base = {"LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "s"}
    settings = Settings.from_env(
        {**base, "SHOW_STREAM_DESTINATIONS": "youtube=rtmps://a.rtmp.youtube.com/live2/KEY, twitch=rtmp://t/app/K2"}
    )
    assert settings.stream_destinations.names == ("twitch", "youtube")
    assert settings.stream_destinations.urls["youtube"] == "rtmps://a.rtmp.youtube.com/live2/KEY"
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**base, "SHOW_STREAM_DESTINATIONS": "youtube=https://example.com/SECRET,=rtmp://x/y"})
    assert caught.value.problems == [
        "SHOW_STREAM_DESTINATIONS: the URL of 'youtube' must start with rtmp:// or rtmps://",
        "SHOW_STREAM_DESTINATIONS entries must be name=rtmp(s)://...; a name is letters, digits, - or _",
    ]
    assert "SECRET" not in str(caught.value)


def test_a_stream_key_that_begins_with_another_is_kept_out_whole() -> None:
    """One destination's key may begin with another's: taken out in the order configured, the
    shorter one first, the rest of the longer key stayed in the text."""
    short, long = "live_12345678", "live_12345678_backup_SECRET"
    destinations = StreamDestinations({"main": f"rtmp://a/app/{short}", "backup": f"rtmp://b/app/{long}"})
    said = destinations.redact(f"cannot connect with {long}; retried {short}; rtmp://b/app/{long} is down")
    assert said == "cannot connect with <backup stream key>; retried <main stream key>; <backup> is down"


def test_destinations_are_named_from_livekits_stream_results() -> None:
    """LiveKit's egress reports each stream URL with its key shortened to its first and last
    three characters (fewer for a short key), an older worker whole: either names the destination;
    a URL that is not configured names nothing."""
    urls = {
        "youtube": "rtmps://a.rtmp.youtube.com/live2/abcd-efgh-ijkl",
        "short": "rtmp://t/app/K2",
        "flagged": "rtmp://x.test/live/key123 live=1",
    }
    settings = Settings.from_env(
        {
            "LIVEKIT_URL": "ws://127.0.0.1:7880",
            "LIVEKIT_API_KEY": "k",
            "LIVEKIT_API_SECRET": "s",
            "SHOW_STREAM_DESTINATIONS": ",".join(f"{n}={u}" for n, u in urls.items()),
        }
    )
    named = settings.stream_destinations.named
    reported = [
        "rtmps://a.rtmp.youtube.com/live2/{abc...jkl}",
        "rtmp://t/app/{...}",
        "rtmp://x.test/live/{ke...23} live=1",
    ]
    assert named(reported) == ("flagged", "short", "youtube")
    assert named([urls["youtube"], reported[1]]) == ("short", "youtube")
    assert named([]) == ()
    assert named([reported[0], "rtmp://elsewhere.test/app/{abc...jkl}"]) is None
    assert named(["rtmps://a.rtmp.youtube.com/live2/{abd...jkl}"]) is None
    # Two destinations alike once shortened: the shortened form names neither, the whole URLs do.
    alike = Settings.from_env(
        {
            "LIVEKIT_URL": "ws://127.0.0.1:7880",
            "LIVEKIT_API_KEY": "k",
            "LIVEKIT_API_SECRET": "s",
            "SHOW_STREAM_DESTINATIONS": "main=rtmp://h.test/app/abc-111-xyz,backup=rtmp://h.test/app/abc-222-xyz",
        }
    ).stream_destinations.named
    assert alike(["rtmp://h.test/app/{abc...xyz}"]) is None
    assert alike(["rtmp://h.test/app/abc-222-xyz"]) == ("backup",)


async def test_a_stream_key_with_a_query_is_kept_out_too(
    livekit: LiveKitDevServer, egress: EgressStandIn, room: str
) -> None:
    """Some platforms' stream keys carry a query (Facebook's `FB-...?s_bl=1&...&a=...`): a worker
    that quotes the URL or the key without it, or a part of the query, must not pass the key on."""
    key, token = "FB-1234567890-0-AbSecretStreamKey", "AbSecretQueryToken"
    url = f"rtmps://live-api-s.facebook.test:443/rtmp/{key}?s_bl=1&s_sw=0&a={token}"
    running = start_service(livekit, SHOW_EGRESS_URL=egress.url, SHOW_STREAM_DESTINATIONS=f"facebook={url}")
    client = client_for("rest", running.grpc_address, running.http_base)
    try:
        host = client.as_((await client.as_(admin_token(room)).join(room, "host", "host"))["token"])
        sid = (await host.start_stream(room, ["facebook"]))["streamId"]
        error = f"output {url.split('?')[0]} failed: connection refused; key {key} refused (a={token})"
        ended = lk_egress.EgressStatus.EGRESS_FAILED
        assert await egress.report(running.http_base, "egress_ended", sid, ended, error=error) == 200
        [failed] = (await host.streams(room))["streams"]
        assert failed["status"] == "EGRESS_FAILED"
        assert failed["error"] == (
            "output <facebook> failed: connection refused; key <facebook stream key> refused (a=<facebook stream key>)"
        )
        for text in (failed, await host.history(room), *running.output):
            assert key not in str(text) and token not in str(text), text
    finally:
        await client.close()
        running.stop()


async def test_a_streams_destinations_follow_livekit_after_a_change_left_half_made(
    livekit: LiveKitDevServer, egress: EgressStandIn, redis_server: RedisServer, room: str
) -> None:
    """UpdateStream writes the record, then asks LiveKit. Its instance may die in between (the
    record names a destination LiveKit never got), or its LiveKit call may fail after LiveKit
    made it (the undo leaves out a destination LiveKit sends to). Either way the reconciler
    brings the record to LiveKit's stream results (which give each URL with its key shortened)
    once the change is past the quiet time, and keeps it in the history; a change just made is
    left alone."""
    running = start_service(
        livekit,
        SHOW_EGRESS_URL=egress.url,
        SHOW_RECORDING_FILEPATH=RECORDING_PATH,
        SHOW_REDIS_URL=redis_server.url,
        SHOW_STAGE_CHANGE_SECONDS="4",
        SHOW_RECONCILE_INTERVAL_SECONDS="1",
    )
    client = client_for("rest", running.grpc_address, running.http_base)
    store = RedisRecords(connect(redis_server.url, cluster=False))
    try:
        host = client.as_((await client.as_(admin_token(room)).join(room, "host", "host"))["token"])
        sid = (await host.start_stream(room, ["youtube"]))["streamId"]
        assert (
            await egress.report(running.http_base, "egress_updated", sid, lk_egress.EgressStatus.EGRESS_ACTIVE) == 200
        )
        assert all("..." in r.url for r in egress.egresses[sid].stream_results)  # as LiveKit reports them

        async def destinations_become(expected: list[str]) -> None:
            deadline = time.monotonic() + 15
            while (listed := (await host.streams(room))["streams"][0]["destinations"]) != expected:
                assert time.monotonic() < deadline, f"the record names {listed}, LiveKit sends to {expected}"
                await asyncio.sleep(0.2)

        await asyncio.sleep(4)  # the stream runs past the quiet time: the passes look at it
        # The instance died after writing the record: LiveKit never got twitch. For the quiet
        # time (4 s) the change may still be in flight, and passes (every second) leave it.
        assert await store.set_destinations(room, sid, ("youtube", "twitch"), time.time())
        await asyncio.sleep(2.5)
        assert (await host.streams(room))["streams"][0]["destinations"] == ["youtube", "twitch"]
        await destinations_become(["youtube"])
        assert egress.active_urls(sid) == [STREAM_URLS["youtube"]]  # LiveKit was not touched

        # LiveKit made a change the record does not have.
        egress.send_to(egress.egresses[sid], STREAM_URLS["twitch"])
        await destinations_become(["twitch", "youtube"])

        # A change the service made lands on both, and the passes after it find nothing to mend.
        moved = await host.update_stream(room, [], ["twitch"])
        assert moved["destinations"] == ["youtube"] and egress.active_urls(sid) == [STREAM_URLS["youtube"]]
        await asyncio.sleep(5)
        assert (await host.streams(room))["streams"][0]["destinations"] == ["youtube"]

        updates = [e for e in (await host.history(room))["entries"] if e["type"] == "stream_updated"]
        assert [(e["actorIdentity"], e["reason"], e["destinations"]) for e in updates] == [
            ("", "reconciled", ["youtube"]),
            ("", "reconciled", ["twitch", "youtube"]),
            ("host", "", ["youtube"]),
        ]
        keys_absent(*running.output)
    finally:
        await store.close()
        await client.close()
        running.stop()


async def test_two_changes_of_a_streams_destinations_at_once_never_leave_it_none(
    livekit: LiveKitDevServer, egress: EgressStandIn, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two UpdateStreams at once, each removing one of the stream's two destinations, were each
    judged against the destinations it read before the other wrote: both went through, and
    LiveKit sent to none while the record named one. The record's write is now only over what
    the call read: the later one is refused (FAILED_PRECONDITION) and changes nothing, on the
    record or on LiveKit. In process, on the real LiveKit and the egress stand-in, the first
    call held between its read and its write until the second has finished."""
    records = MemoryRecords()
    destinations = StreamDestinations(dict(STREAM_URLS))
    stage = LiveKitStage(livekit.url, API_KEY, API_SECRET, egress_url=egress.url, stream_destinations=destinations)
    core = ShowCore(stage, records, SystemClock(), page_tokens=PageTokens(page_key(API_SECRET)))
    admin = Caller(room=room, admin=True)
    try:
        assert await records.claim_host(room, "host", "host", time.time(), 60)
        await stage.open_room(room)
        start = pb.StartStreamRequest(room_name=room, destinations=["youtube", "twitch"])
        sid = (await core.start_stream(start, admin)).stream.stream_id
        assert await core.egress_moved(room, egress.move(sid, lk_egress.EgressStatus.EGRESS_ACTIVE))

        write, second_done = records.set_destinations, asyncio.Event()
        calls = 0

        async def first_waits(*args: Any, **kwargs: Any) -> bool:
            nonlocal calls
            calls += 1
            if calls == 1:
                await second_done.wait()
            return await write(*args, **kwargs)

        monkeypatch.setattr(records, "set_destinations", first_waits)

        def removing(name: str) -> Awaitable[pb.UpdateStreamResponse]:
            return core.update_stream(pb.UpdateStreamRequest(room_name=room, remove_destinations=[name]), admin)

        first = asyncio.ensure_future(removing("youtube"))
        await asyncio.sleep(0.2)  # it has read both destinations, and waits to write
        assert list((await removing("twitch")).stream.destinations) == ["youtube"]
        second_done.set()
        with pytest.raises(errors.ShowError) as refused:
            await first
        assert (refused.value.code, refused.value.message) == (errors.Code.FAILED_PRECONDITION, errors.STREAM_CHANGED)
        [stream] = (await core.list_streams(pb.ListStreamsRequest(room_name=room), admin)).streams
        assert list(stream.destinations) == ["youtube"]
        assert egress.active_urls(sid) == [STREAM_URLS["youtube"]]
    finally:
        await stage.close()
