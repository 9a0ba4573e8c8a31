"""Recording through LiveKit Egress: refused clearly when LiveKit has no egress worker (the real
dev server), and the whole life of a recording against the Egress stand-in."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from livekit import api
from livekit.protocol import egress as lk_egress
from showrunner.v1 import show_service_pb2 as pb
from showrunner.v1 import show_service_pb2_grpc

from service.core.record import PLACEHOLDER_PREFIX
from service.dev.livekit_server import LiveKitDevServer
from service.dev.redis_server import RedisServer
from service.stores.redis_record import RedisRecords, connect
from tests.conftest import RECORDING_PATH, ServiceProcess, admin_token, start_service
from tests.doors import DOORS, Refused, RestClient, ShowClient, client_for, expect_refusal
from tests.egress_standin import EgressStandIn
from tests.live import LiveParticipant, eventually, until


def starts_for(egress: EgressStandIn, room: str) -> int:
    return sum(1 for method, _ in egress.changes_about(room) if method == "StartRoomCompositeEgress")


async def refusal(call: object) -> Refused:
    with pytest.raises(Refused) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_without_an_egress_worker_recording_is_unavailable(door: ShowClient, room: str) -> None:
    host = door.as_((await door.as_(admin_token(room)).join(room, "host", "host"))["token"])
    for _ in range(2):  # and nothing is left half-started: the second try answers the same
        caught = await refusal(host.start_recording(room, "speaker"))
        assert caught.code == "UNAVAILABLE" or caught.wire == 503, caught
        assert caught.message.startswith("Recording needs a LiveKit egress worker and none answered"), caught
    assert await host.recordings(room) == []


@pytest.fixture(params=DOORS)
async def recorder(request: pytest.FixtureRequest, recording_service: ServiceProcess) -> AsyncIterator[ShowClient]:
    client = client_for(request.param, recording_service.grpc_address, recording_service.http_base)
    yield client
    await client.close()


async def test_the_host_records_the_show_from_start_to_finish(
    recorder: ShowClient, recording_service: ServiceProcess, egress: EgressStandIn, room: str
) -> None:
    joined = await recorder.as_(admin_token(room)).join(room, "host", "host")
    host = recorder.as_(joined["token"])
    watcher_ticket = await recorder.join(room, "watcher", "viewer")
    watcher = await LiveParticipant("watcher").connect(watcher_ticket["wsUrl"], watcher_ticket["token"])
    try:
        started = await host.start_recording(room, "grid")
        assert started["status"] == "EGRESS_STARTING" and started["recordingId"].startswith("EG_")
        assert started["layout"] == "grid" and started["location"] == RECORDING_PATH.replace("{room_name}", room)
        method, sent = egress.changes_about(room)[-1]
        assert method == "StartRoomCompositeEgress"
        assert isinstance(sent, lk_egress.RoomCompositeEgressRequest)
        assert (sent.room_name, sent.layout) == (room, "grid")
        assert [o.filepath for o in sent.file_outputs] == [RECORDING_PATH]  # the service's, not the caller's

        expect_refusal(
            await refusal(host.start_recording(room, "speaker")),
            "FAILED_PRECONDITION",
            "Room is already being recorded",
        )
        eid = started["recordingId"]
        assert await egress.report(recording_service.http_base, "egress_started", eid, 0) == 200
        assert await egress.report(recording_service.http_base, "egress_updated", eid, 1) == 200
        await watcher.wait_for(lambda: any(e["type"] == "recording_started" for e in watcher.show_events))
        assert next(e for e in watcher.show_events if e["type"] == "recording_started")["recordingId"] == eid
        assert (await host.recordings(room))[0]["status"] == "EGRESS_ACTIVE"

        stopping = await host.stop_recording(room)
        assert stopping["status"] == "EGRESS_ENDING" and stopping["recordingId"] == eid
        assert egress.changes_about(room)[-1][0] == "StopEgress"
        # While it writes out its file, the next part of the show may be recorded.
        second = (await host.start_recording(room, "speaker"))["recordingId"]
        assert second.startswith("EG_") and second != eid
        final = f"/recordings/{room}/2026-11-21T120000.mp4"
        assert await egress.report(recording_service.http_base, "egress_ended", eid, 3, final) == 200
        assert await egress.report(recording_service.http_base, "egress_updated", eid, 1) == 200  # late: ignored
        await watcher.wait_for(lambda: any(e["type"] == "recording_stopped" for e in watcher.show_events))
        done, going = [next(r for r in await host.recordings(room) if r["recordingId"] == i) for i in (eid, second)]
        assert done["status"] == "EGRESS_COMPLETE" and done["location"] == final
        assert going["status"] == "EGRESS_STARTING"
        assert int(done["endedAt"]) >= int(done["startedAt"]) > 0
        assert (await host.stop_recording(room))["recordingId"] == second  # a stop stops the one recording
        assert await egress.report(recording_service.http_base, "egress_ended", second, 3, final) == 200
        expect_refusal(await refusal(host.stop_recording(room)), "NOT_FOUND", "No active recording in this room")
        again = await host.start_recording(room, "speaker")  # a new recording may start now
        assert again["recordingId"] not in (eid, second)
    finally:
        await watcher.disconnect()


async def test_recording_rules(recorder: ShowClient, room: str) -> None:
    joined = await recorder.as_(admin_token(room)).join(room, "host", "host")
    viewer = recorder.as_((await recorder.join(room, "viewer", "viewer"))["token"])
    expect_refusal(
        await refusal(viewer.start_recording(room, "grid")), "PERMISSION_DENIED", "Only the host can record the show"
    )
    host = recorder.as_(joined["token"])
    expect_refusal(await refusal(host.stop_recording(room)), "NOT_FOUND", "No active recording in this room")
    if isinstance(recorder, RestClient):
        # An unknown layout word is refused by name, rather than recorded with the default layout
        # (the start below shows that nothing was started).
        # So is the contract's unspecified value as a word, and a word that is "speaker" only
        # once str.upper() spells its long s as an ASCII S.
        for word in ("mosaic", "unspecified", "\u017fpeaker"):
            expect_refusal(
                await refusal(host.start_recording(room, word)),
                "INVALID_ARGUMENT",
                f'layout must be "speaker" or "grid", got {json.dumps(word)}',
            )
        # So is the layout under another spelling of its name, which went unread: the default again.
        assert isinstance(host, RestClient)
        misspelled = await refusal(host.call("POST", f"/api/rooms/{room}/recordings", {"Layout": "grid"}))
        expect_refusal(misspelled, "INVALID_ARGUMENT", 'Unknown field "Layout": did you mean "layout"?')
    # Without a layout, the show is recorded with the default one, the active speaker's.
    assert (await recorder.as_(admin_token(room)).start_recording(room, ""))["layout"] == "speaker"


async def test_concurrent_starts_make_one_recording(
    recording_service: ServiceProcess, egress: EgressStandIn, room: str
) -> None:
    clients = [client_for(d, recording_service.grpc_address, recording_service.http_base) for d in DOORS]
    try:
        joined = await clients[0].as_(admin_token(room)).join(room, "host", "host")
        before = starts_for(egress, room)

        async def start(client: ShowClient) -> str:
            try:
                await client.as_(joined["token"]).start_recording(room, "grid")
                return "ok"
            except Refused as refused:
                return refused.message

        results = await asyncio.gather(*(start(clients[i % len(clients)]) for i in range(12)))
        assert results.count("ok") == 1 and set(results) == {"ok", "Room is already being recorded"}, results
        assert starts_for(egress, room) - before == 1  # LiveKit was asked once
    finally:
        for client in clients:
            await client.close()


async def test_a_recording_that_ended_unheard_is_stopped_all_the_same(
    recording_service: ServiceProcess, egress: EgressStandIn, room: str
) -> None:
    """LiveKit stops only an egress still starting or active (anything else is refused with
    failed_precondition): a recording whose egress_ended is late or lost, or one being stopped
    already, is stopped as LiveKit says it stands, never answered UNAVAILABLE and left active."""
    client = client_for("rest", recording_service.grpc_address, recording_service.http_base)
    try:
        host = client.as_((await client.as_(admin_token(room)).join(room, "host", "host"))["token"])
        eid = (await host.start_recording(room, "speaker"))["recordingId"]
        assert await egress.report(recording_service.http_base, "egress_updated", eid, 1) == 200
        final = f"/recordings/{room}/lost.mp4"
        egress.move(eid, lk_egress.EgressStatus.EGRESS_COMPLETE, final)  # its egress_ended is lost
        stopped = await host.stop_recording(room)
        assert (stopped["recordingId"], stopped["status"], stopped["location"]) == (eid, "EGRESS_COMPLETE", final)
        # The history says it ended by itself, as its egress_ended would have; once.
        assert await egress.report(recording_service.http_base, "egress_ended", eid, 3, final) == 200  # late
        ends = [e for e in (await host.history(room))["entries"] if e["type"] == "recording_stopped"]
        assert [(e["egressId"], e["reason"], e.get("actorIdentity", "")) for e in ends] == [(eid, "complete", "")]

        # Stopped twice: the second call finds it ending, as the first left it.
        again = (await host.start_recording(room, "grid"))["recordingId"]
        assert (await host.stop_recording(room))["status"] == "EGRESS_ENDING"
        assert (await host.stop_recording(room))["status"] == "EGRESS_ENDING"
        assert [r["recordingId"] for r in await host.recordings(room)] == [again, eid]
    finally:
        await client.close()


async def test_an_ended_show_is_neither_recorded_nor_streamed(
    recording_service: ServiceProcess, egress: EgressStandIn, lkapi: api.LiveKitAPI, room: str
) -> None:
    """A room LiveKit has again under an ended show's name (one of its tokens used again opens it,
    until the service closes it) let StartRecording and StartStream start egresses for it."""
    client = client_for("rest", recording_service.grpc_address, recording_service.http_base)
    try:
        admin = client.as_(admin_token(room))
        await admin.join(room, "host", "host")
        await admin.end_show(room)
        await lkapi.room.create_room(api.CreateRoomRequest(name=room))
        for call in (admin.start_recording(room, "speaker"), admin.start_stream(room, ["youtube"])):
            expect_refusal(await refusal(call), "FAILED_PRECONDITION", "This show has ended; nobody can join it again")
        assert [m for m, _ in egress.changes_about(room) if m == "StartRoomCompositeEgress"] == []
    finally:
        await client.close()


async def test_an_ended_shows_recordings_and_streams_stay_readable(
    recording_service: ServiceProcess, egress: EgressStandIn, room: str
) -> None:
    """EndShow closes the show's LiveKit room; what the show recorded and streamed stays readable
    for the room's admin and for the host who ended it (with its own token), as its times and
    history do, rather than answering NOT_FOUND."""
    client = client_for("rest", recording_service.grpc_address, recording_service.http_base)
    try:
        admin = client.as_(admin_token(room))
        host = client.as_((await admin.join(room, "host", "host"))["token"])
        recording = (await host.start_recording(room, "grid"))["recordingId"]
        stream = (await host.start_stream(room, ["youtube"]))["streamId"]
        await host.end_show(room)
        assert [r["recordingId"] for r in await admin.recordings(room)] == [recording]
        streams = await admin.streams(room)
        assert [(s["streamId"], s["destinations"]) for s in streams["streams"]] == [(stream, ["youtube"])]
        assert await host.recordings(room) == await admin.recordings(room)
        assert await host.streams(room) == streams
    finally:
        await client.close()


@pytest.fixture
def quick_recording_service(livekit: LiveKitDevServer, egress: EgressStandIn) -> Iterator[ServiceProcess]:
    """An instance on the stand-in whose reconciler passes every second and asks LiveKit about a
    running egress once it is two seconds old."""
    running = start_service(
        livekit,
        SHOW_EGRESS_URL=egress.url,
        SHOW_RECORDING_FILEPATH=RECORDING_PATH,
        SHOW_RECONCILE_INTERVAL_SECONDS="1",
        SHOW_STAGE_CHANGE_SECONDS="2",
    )
    yield running
    running.stop()


async def test_a_recording_and_a_stream_whose_end_was_never_heard_end_in_the_record_too(
    quick_recording_service: ServiceProcess, egress: EgressStandIn, room: str
) -> None:
    """LiveKit's egress is the truth about a recording: one that ended without its egress_ended
    reaching the service (lost, or come while its start was being written) ends in the record
    within a few reconciler passes, with the events and history of an end, and nobody calling
    Stop; likewise a stream that failed."""
    service = quick_recording_service
    client = client_for("grpc", service.grpc_address, service.http_base)
    try:
        host = client.as_((await client.as_(admin_token(room)).join(room, "host", "host"))["token"])
        recording = (await host.start_recording(room, "speaker"))["recordingId"]
        stream = (await host.start_stream(room, ["youtube"]))["streamId"]
        final = f"/recordings/{room}/unheard.mp4"
        egress.move(recording, lk_egress.EgressStatus.EGRESS_COMPLETE, final)  # egress_ended lost
        egress.move(stream, lk_egress.EgressStatus.EGRESS_FAILED, error="the destination hung up")

        async def both_ended() -> bool:
            [kept] = await host.recordings(room)
            [streamed] = (await host.streams(room))["streams"]
            return bool(kept["status"] == "EGRESS_COMPLETE" and streamed["status"] == "EGRESS_FAILED")

        await until(both_ended, 10.0, "the recording and the stream ended in the record")
        [kept] = await host.recordings(room)
        assert (kept["recordingId"], kept["location"]) == (recording, final)
        [streamed] = (await host.streams(room))["streams"]
        assert (streamed["streamId"], streamed["error"]) == (stream, "the destination hung up")
        ends = {e["type"]: (e["egressId"], e["reason"]) for e in (await host.history(room))["entries"]}
        assert ends["recording_stopped"] == (recording, "complete")
        assert ends["stream_stopped"] == (stream, "failed")
        # The room is free for the next ones.
        assert (await host.start_recording(room, "grid"))["status"] == "EGRESS_STARTING"
        assert any(f"reconciled {room}: egress {recording} EGRESS_COMPLETE" in line for line in service.output)
    finally:
        await client.close()


async def test_an_ended_shows_recording_and_stream_whose_end_was_never_heard_end_in_the_record_too(
    quick_recording_service: ServiceProcess, egress: EgressStandIn, room: str
) -> None:
    """EndShow closes the room, and LiveKit's egress ends with it; its egress_ended lost, the
    reconciler's passes over the ended show bring the recording and the stream to their end in the
    record all the same, rather than leaving them running for the show's whole retention."""
    service = quick_recording_service
    client = client_for("grpc", service.grpc_address, service.http_base)
    try:
        admin = client.as_(admin_token(room))
        host = client.as_((await admin.join(room, "host", "host"))["token"])
        recording = (await host.start_recording(room, "speaker"))["recordingId"]
        stream = (await host.start_stream(room, ["youtube"]))["streamId"]
        await host.end_show(room)
        final = f"/recordings/{room}/ended.mp4"
        egress.move(recording, lk_egress.EgressStatus.EGRESS_COMPLETE, final)  # egress_ended lost
        egress.move(stream, lk_egress.EgressStatus.EGRESS_COMPLETE)

        async def both_ended() -> bool:
            [kept] = await admin.recordings(room)
            [streamed] = (await admin.streams(room))["streams"]
            return bool(kept["status"] == "EGRESS_COMPLETE" and streamed["status"] == "EGRESS_COMPLETE")

        await until(both_ended, 10.0, "the ended show's recording and stream ended in the record")
        [kept] = await admin.recordings(room)
        assert kept["location"] == final
        kept_history = [(e["type"], e["egressId"], e["reason"]) for e in (await admin.history(room))["entries"]]
        assert kept_history[-3] == ("show_ended", "", "")
        ends = [("recording_stopped", recording, "complete"), ("stream_stopped", stream, "complete")]
        assert sorted(kept_history[-2:]) == ends  # once each: they ended with the room, by themselves
    finally:
        await client.close()


async def test_an_ended_shows_recording_livekit_no_longer_knows_ends_in_the_record(
    quick_recording_service: ServiceProcess, egress: EgressStandIn, room: str
) -> None:
    """Its egress_ended lost, and then LiveKit no longer lists the egress at all (a LiveKit
    restarted without its store, or its clean-up of ended egresses): the recording stayed active
    in the record for the show's whole retention, and StopRecording could not reach it (the room
    is gone). The reconciler takes it as ended unseen (aborted), as a stop that finds it gone does."""
    service = quick_recording_service
    client = client_for("grpc", service.grpc_address, service.http_base)
    try:
        admin = client.as_(admin_token(room))
        await admin.join(room, "host", "host")
        eid = (await admin.start_recording(room, "speaker"))["recordingId"]
        assert (
            await egress.report(service.http_base, "egress_updated", eid, lk_egress.EgressStatus.EGRESS_ACTIVE) == 200
        )
        await admin.end_show(room)
        del egress.egresses[eid]

        async def aborted() -> bool:
            [kept] = await admin.recordings(room)
            return bool(kept["status"] == "EGRESS_ABORTED")

        await until(aborted, 10.0, "the recording LiveKit forgot ended in the record")
        [kept] = await admin.recordings(room)
        assert kept["error"] == "LiveKit no longer has this egress"
        kept_history = [(e["type"], e["egressId"], e["reason"]) for e in (await admin.history(room))["entries"]]
        assert kept_history[-1] == ("recording_stopped", eid, "aborted")
    finally:
        await client.close()


async def test_a_recording_whose_caller_went_away_while_it_started_is_kept(
    recording_service: ServiceProcess, egress: EgressStandIn, room: str
) -> None:
    """The caller's deadline passes while LiveKit is starting the egress: the start runs on and
    the record keeps the recording LiveKit started, which can then be stopped; nothing is left
    starting to refuse the next StartRecording."""
    client = client_for("grpc", recording_service.grpc_address, recording_service.http_base)
    try:
        host = client.as_((await client.as_(admin_token(room)).join(room, "host", "host"))["token"])
        before = starts_for(egress, room)
        egress.delay = 1.0
        try:
            async with grpc.aio.insecure_channel(recording_service.grpc_address) as channel:
                stub = show_service_pb2_grpc.ShowServiceStub(channel)
                request = pb.StartRecordingRequest(room_name=room, layout=pb.RECORDING_LAYOUT_GRID)
                auth = (("authorization", f"Bearer {host.token}"),)
                with pytest.raises(grpc.aio.AioRpcError) as gone:
                    await stub.StartRecording(request, timeout=0.3, metadata=auth)
                assert gone.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
            await asyncio.sleep(1.5)
        finally:
            egress.delay = 0.0
        assert starts_for(egress, room) - before == 1
        [kept] = await host.recordings(room)
        assert kept["recordingId"].startswith("EG_") and kept["status"] == "EGRESS_STARTING", kept
        stopped = await host.stop_recording(room)
        assert stopped["recordingId"] == kept["recordingId"]
    finally:
        await client.close()


async def test_a_recording_started_as_the_store_went_away_is_not_left_running(
    livekit: LiveKitDevServer, egress: EgressStandIn, tmp_path: Path, room: str
) -> None:
    """Redis goes away while LiveKit is starting the egress: the record cannot take it, and the
    call answers UNAVAILABLE. The egress LiveKit started is stopped, not left running where the
    record holds only its placeholder (which no StopRecording can stop, and which the next
    StartRecording takes over, starting a second one)."""
    store = RedisServer(workdir=tmp_path, persistent=True).start()
    service = start_service(
        livekit, SHOW_REDIS_URL=store.url, SHOW_EGRESS_URL=egress.url, SHOW_RECORDING_FILEPATH=RECORDING_PATH
    )
    client = client_for("grpc", service.grpc_address, service.http_base)
    try:
        host = client.as_((await client.as_(admin_token(room)).join(room, "host", "host"))["token"])
        egress.delay = 1.5
        try:
            starting = asyncio.ensure_future(host.start_recording(room, "speaker"))
            await eventually(lambda: starts_for(egress, room) == 1)  # reserved, and LiveKit asked
            store.stop()
            caught = await refusal(starting)
        finally:
            egress.delay = 0.0
        assert caught.code == "UNAVAILABLE" and caught.message.startswith("The state store is unavailable"), caught
        [started] = [info for info in egress.egresses.values() if info.room_name == room]
        assert started.status == lk_egress.EgressStatus.EGRESS_ENDING  # stopped
    finally:
        await client.close()
        service.stop()
        store.stop()


async def test_a_recording_whose_instance_died_while_livekit_started_it_is_taken_in_and_can_be_stopped(
    livekit: LiveKitDevServer, egress: EgressStandIn, tmp_path: Path, room: str
) -> None:
    """The instance dies after asking LiveKit to start the egress and before writing its answer:
    the record holds only the placeholder, which nobody can stop, while LiveKit's egress runs.
    Once no call can still be waiting for that answer, a reconciler finds the room's egress LiveKit
    has and the record does not, takes it in, and a StopRecording stops it."""
    store = RedisServer(workdir=tmp_path, persistent=True).start()
    quick = {
        "SHOW_REDIS_URL": store.url,
        "SHOW_EGRESS_URL": egress.url,
        "SHOW_RECORDING_FILEPATH": RECORDING_PATH,
        "SHOW_RECONCILE_INTERVAL_SECONDS": "1",
        "SHOW_STAGE_CHANGE_SECONDS": "2",
        "SHOW_EGRESS_TIMEOUT_SECONDS": "2",  # a placeholder is abandoned 12 s on
    }
    dying = start_service(livekit, **quick)
    client = client_for("grpc", dying.grpc_address, dying.http_base)
    token = (await client.as_(admin_token(room)).join(room, "host", "host"))["token"]
    egress.delay = 1.0
    try:
        starting = asyncio.ensure_future(client.as_(token).start_recording(room, "speaker"))
        await eventually(lambda: starts_for(egress, room) == 1)  # reserved, and LiveKit asked
        dying.process.kill()
        dying.process.wait()
        with contextlib.suppress(Refused, grpc.aio.AioRpcError):
            await starting
        await client.close()
        await eventually(lambda: any(info.room_name == room for info in egress.egresses.values()), 5.0)
    finally:
        egress.delay = 0.0
    [started] = [info for info in egress.egresses.values() if info.room_name == room]
    service = start_service(livekit, **quick)
    client = client_for("grpc", service.grpc_address, service.http_base)
    try:
        host = client.as_(token)
        [held] = await host.recordings(room)
        # LiveKit has not answered the start the dying instance asked for: no id yet.
        assert held.get("recordingId", "") == "" and held["status"] == "EGRESS_STARTING", held

        async def taken_in() -> bool:
            return [r["recordingId"] for r in await host.recordings(room)] == [started.egress_id]

        await until(taken_in, 25.0, "the record took in the egress LiveKit started")
        stopped = await host.stop_recording(room)
        assert stopped["recordingId"] == started.egress_id
        assert egress.egresses[started.egress_id].status == lk_egress.EgressStatus.EGRESS_ENDING
        assert starts_for(egress, room) == 1  # no second egress
        # An instance that died before LiveKit had its start: no egress to take in, and the
        # placeholder, which would refuse the room's next start until taken over, goes.
        other = f"{room}-b"
        await client.as_(admin_token(other)).join(other, "host", "host")
        records = RedisRecords(connect(store.url, cluster=False))
        await records.reserve_recording(other, f"{PLACEHOLDER_PREFIX}gone", "speaker", time.time() - 20)
        await records.close()

        async def dropped() -> bool:
            return await client.as_(admin_token(other)).recordings(other) == []

        await until(dropped, 10.0, "the placeholder with no egress went")
        assert starts_for(egress, other) == 0
    finally:
        await client.close()
        service.stop()
        store.stop()
