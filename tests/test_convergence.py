"""Whatever happens, the show's record and LiveKit agree again within a bound: guests who leave
the instant they are promoted, webhooks about older connections or other incarnations of a room,
LiveKit restarting, Redis restarting or losing its data, the service killed in the middle of a
promotion. Each test ends by comparing the service's record with LiveKit's own view.

Every test here runs its own LiveKit (delivering webhooks to its own service) with a short
reconnect grace window and reconcile interval, so the bound is a few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from livekit import api
from livekit.protocol.models import TrackSource
from showrunner.v1 import show_service_pb2 as pb

from service.core.caller import Caller
from service.core.clock import SystemClock
from service.core.pages import PageTokens, page_key
from service.core.record import StageChange, new_change_id
from service.core.show import ShowCore
from service.dev.livekit_server import LiveKitDevServer, free_port
from service.dev.redis_server import RedisServer
from service.gateway.livekit import LiveKitStage
from service.stores.redis_record import RedisRecords, connect
from tests.conftest import API_KEY, API_SECRET, ServiceProcess, admin_token, start_service
from tests.doors import Refused, ShowClient, client_for
from tests.live import LiveParticipant, gone_from_livekit, leave_livekit, until
from tests.test_webhooks import deliver, event, signed

# Seconds within which the record and LiveKit must agree again (grace 1 s, passes every 1 s).
BOUND = 12.0
FAST = {
    "SHOW_RECONNECT_GRACE_SECONDS": "1",
    "SHOW_RECONCILE_INTERVAL_SECONDS": "1",
    "SHOW_READY_INTERVAL_SECONDS": "1",
    "SHOW_STAGE_CHANGE_SECONDS": "2",
}


@dataclass
class Stack:
    """A LiveKit of the test's own, delivering its webhooks to a service of the test's own."""

    livekit: LiveKitDevServer
    http_port: int
    env: dict[str, str]
    service: ServiceProcess

    def restart_service(self) -> None:
        self.service.process.send_signal(signal.SIGKILL)
        self.service.process.wait()
        self.service = start_service(self.livekit, SHOW_HTTP_PORT=str(self.http_port), **self.env)

    def client(self) -> ShowClient:
        """gRPC: its refusals carry the canonical codes."""
        return client_for("grpc", self.service.grpc_address, self.service.http_base)


def stack(tmp_path: Path, **env: str) -> Stack:
    http_port = free_port()
    livekit = LiveKitDevServer(
        api_key=API_KEY,
        api_secret=API_SECRET,
        log_path=tmp_path / "livekit.log",
        webhook_urls=[f"http://127.0.0.1:{http_port}/webhooks/livekit"],
    ).start()
    merged = {**FAST, **env}
    return Stack(livekit, http_port, merged, start_service(livekit, SHOW_HTTP_PORT=str(http_port), **merged))


@pytest.fixture
def own(tmp_path: Path) -> Iterator[Stack]:
    made = stack(tmp_path)
    yield made
    made.service.stop()
    made.livekit.stop()


@pytest.fixture
def redis_server_own(tmp_path: Path) -> Iterator[RedisServer]:
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(workdir=folder, persistent=True).start()
    yield server
    server.stop()


@pytest.fixture
def own_with_redis(tmp_path: Path, redis_server_own: RedisServer) -> Iterator[Stack]:
    made = stack(tmp_path, SHOW_REDIS_URL=redis_server_own.url)
    yield made
    made.service.stop()
    made.livekit.stop()


@contextlib.asynccontextmanager
async def livekit_api(server: LiveKitDevServer) -> AsyncIterator[api.LiveKitAPI]:
    client = api.LiveKitAPI(server.http_url, server.api_key, server.api_secret, failover=False)
    try:
        yield client
    finally:
        await client.aclose()


async def disagreements(admin: ShowClient, lkapi: api.LiveKitAPI, room: str) -> list[str]:
    """How the service's record and LiveKit's own view of `room` differ; [] when they agree."""
    try:
        described = await admin.get_room(room)
        recorded = {p["identity"]: p["role"] for p in await admin.list_participants(room)}
    except Refused as refusal:
        if refusal.code != "NOT_FOUND":
            raise
        rooms = (await lkapi.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms
        return [f"the service says no room, LiveKit has {room}"] if rooms else []
    live = (await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))).participants
    publishing = {p.identity for p in live if p.permission.can_publish}
    problems = []
    for guest in described["guests"]:
        if guest not in {p.identity for p in live}:
            problems.append(f"ghost guest {guest}: on stage in the record, not connected to LiveKit")
        elif guest not in publishing:
            problems.append(f"guest {guest} may not publish on LiveKit")
    hosts = [identity for identity, role in recorded.items() if role == "host"]
    if described["hasHost"] and not hosts:
        problems.append("ghost host: the record holds the seat, nobody connected holds it")
    for identity in publishing:
        if recorded.get(identity) not in ("host", "guest"):
            problems.append(f"{identity} publishes on LiveKit without a seat in the record")
    for p in live:
        if p.attributes.get("role") not in (None, recorded.get(p.identity)):
            problems.append(
                f"{p.identity}: LiveKit says {p.attributes.get('role')}, the record {recorded.get(p.identity)}"
            )
    return problems


async def agree_within(admin: ShowClient, lkapi: api.LiveKitAPI, room: str, bound: float = BOUND) -> None:
    deadline = time.monotonic() + bound
    while problems := await disagreements(admin, lkapi, room):
        if time.monotonic() > deadline:
            raise AssertionError(f"the record and LiveKit still disagree after {bound}s: {problems}")
        await asyncio.sleep(0.2)


async def no_guest_and_agreed(admin: ShowClient, lkapi: api.LiveKitAPI, room: str) -> bool:
    return not (await admin.get_room(room))["guests"] and not await disagreements(admin, lkapi, room)


async def open_show(door: ShowClient, room: str, host: str = "host-1") -> tuple[str, LiveParticipant]:
    """The host's own token, and the host connected to LiveKit."""
    ticket = await door.as_(admin_token(room)).join(room, host, "host")
    live = await LiveParticipant(host).connect(ticket["wsUrl"], ticket["token"])
    return str(ticket["token"]), live


async def viewer(door: ShowClient, room: str, name: str) -> tuple[ShowClient, LiveParticipant]:
    ticket = await door.join(room, name, "viewer")
    live = await LiveParticipant(name).connect(ticket["wsUrl"], ticket["token"])
    return door.as_(ticket["token"]), live


async def test_a_room_of_another_application_on_the_same_livekit_is_left_as_it_is(own: Stack) -> None:
    """LiveKit sends the webhooks of every room it has to every URL it is given, so a room another
    application or another deployment opened on the same LiveKit reaches this service too. Its
    publishers are not strangers on this show's stage: LiveKit's own view still has them
    publishing after the webhooks and several reconciler passes (here one of another Showrunner
    deployment, whose host carries a role of its own)."""
    room = f"elsewhere-{random.randrange(1 << 40):x}"
    async with livekit_api(own.livekit) as lkapi:
        await lkapi.room.create_room(api.CreateRoomRequest(name=room, metadata='{"showrunner":"another"}'))
        grants = api.VideoGrants(room_join=True, room=room, can_publish=True, can_subscribe=True)
        token = (
            api.AccessToken(API_KEY, API_SECRET)
            .with_identity("alice")
            .with_attributes({"role": "host"})
            .with_grants(grants)
            .to_jwt()
        )
        alice = await LiveParticipant("alice").connect(own.livekit.url, token)
        try:
            await alice.publish_microphone()
            heard = 0.0
            async with httpx.AsyncClient(base_url=own.service.http_base) as http:
                deadline = time.monotonic() + BOUND
                while time.monotonic() < deadline and not heard:
                    metrics = (await http.get("/metrics")).text
                    heard = sum(
                        float(line.rpartition(" ")[2])
                        for line in metrics.splitlines()
                        if line.startswith("showrunner_webhook_events_total") and 'event="participant_joined"' in line
                    )
                    await asyncio.sleep(0.2)
            assert heard, "the service never heard LiveKit's webhooks about the other room"
            # Three reconciler passes over a room with recent activity, and more.
            await asyncio.sleep(4 * float(FAST["SHOW_RECONCILE_INTERVAL_SECONDS"]) + 1)
            seen = (await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))).participants
            assert [(p.identity, p.permission.can_publish) for p in seen] == [("alice", True)]
            assert "permissions" not in [kind for kind, _ in alice.events]
        finally:
            await alice.disconnect()


async def test_a_guest_who_leaves_just_after_promotion_leaves_no_ghost(own: Stack, room: str) -> None:
    door = own.client()
    admin = door.as_(admin_token(room))
    host_token, host_live = await open_show(door, room)
    host = door.as_(host_token)
    people = [host_live]
    try:
        async with livekit_api(own.livekit) as lkapi:
            for round_ in range(5):
                name = f"quick-{round_}"
                as_viewer, live = await viewer(door, room, name)
                people.append(live)
                await as_viewer.hand(room, name, True)
                promotion = asyncio.create_task(host.invite(room, name, "host-1"))
                await asyncio.sleep(random.uniform(0.0, 0.1))
                await live.disconnect()  # closes the tab right after accepting
                with contextlib.suppress(Refused):
                    await promotion
                # A tab closed in the moment the promotion reaches it can go unheard by LiveKit
                # until LiveKit's own connection timeout; that is LiveKit's to decide. Once LiveKit
                # no longer lists the guest, the seat must be gone and the two agree within BOUND.
                await until(partial(gone_from_livekit, lkapi, room, name), 30.0, f"LiveKit saw {name} go")
                await until(partial(no_guest_and_agreed, admin, lkapi, room), BOUND, f"{name} gone from the stage")
            # The stage is free for the next one: no "Room already has a guest".
            as_last, last = await viewer(door, room, "stays")
            people.append(last)
            await as_last.hand(room, "stays", True)
            assert (await host.invite(room, "stays", "host-1"))["promoted"] is True
            await agree_within(admin, lkapi, room)
    finally:
        for person in people:
            await person.disconnect()
        await door.close()


async def test_webhooks_about_older_connections_or_other_incarnations_change_nothing(own: Stack, room: str) -> None:
    door = own.client()
    admin = door.as_(admin_token(room))
    _, host_live = await open_show(door, room)
    try:
        async with livekit_api(own.livekit) as lkapi:
            current = await lkapi.room.get_participant(api.RoomParticipantIdentity(room=room, identity="host-1"))
            incarnation = (await admin.get_room(room))["sid"]
            # A room_finished for an earlier room of the same name does not end this one.
            finished = event("room_finished", room, room_sid="RM_an_earlier_one")
            assert (await deliver(own.service, finished, signed(finished))).status_code == 200
            # A late join of an older connection, then a replayed leave of it: nothing changes.
            older = current.joined_at_ms - 60_000
            late = event("participant_joined", room, "host-1", "PA_older", room_sid=incarnation, joined_at_ms=older)
            assert (await deliver(own.service, late, signed(late))).status_code == 200
            gone = event("participant_left", room, "host-1", "PA_older", room_sid=incarnation, joined_at_ms=older)
            assert (await deliver(own.service, gone, signed(gone))).status_code == 200
            # A leave for the current connection with an old second, while LiveKit still has it
            # connected: the reconciler asks LiveKit, which is the truth, and the host stays.
            replay = event(
                "participant_left",
                room,
                "host-1",
                current.sid,
                created_at=int(time.time()) - 3600,
                room_sid=incarnation,
                joined_at_ms=current.joined_at_ms,
            )
            assert (await deliver(own.service, replay, signed(replay))).status_code == 200
            await asyncio.sleep(3)  # past the grace window and a pass
            assert (await admin.get_room(room))["hasHost"] is True
            await agree_within(admin, lkapi, room)
            # The real departure frees the seat, and a new host may take it: no ghost.
            await host_live.disconnect()

            async def free() -> bool:
                return not (await admin.get_room(room))["hasHost"]

            deadline = time.monotonic() + BOUND
            while not await free():
                assert time.monotonic() < deadline, "the host's seat was not freed"
                await asyncio.sleep(0.2)
            assert (await admin.join(room, "host-2", "host"))["role"] == "host"
    finally:
        await host_live.disconnect()
        await door.close()


async def test_the_leave_of_a_connection_whose_join_is_not_heard_yet_waits_for_the_grace_window(
    own: Stack, room: str
) -> None:
    """A host reconnects and drops again before the service hears the new connection's join (it
    is late, lost, or handled on another instance): the leave of a connection newer than the
    seat's is its holder's departure all the same, and the seat is kept for the grace window.
    Once the window is over LiveKit, the truth, has the host connected, so the seat stays and the
    host keeps publishing; nobody hears host_left."""
    door = own.client()
    admin = door.as_(admin_token(room))
    _, host_live = await open_show(door, room)
    _, watcher = await viewer(door, room, "viewer-1")
    try:
        async with livekit_api(own.livekit) as lkapi:
            current = await lkapi.room.get_participant(api.RoomParticipantIdentity(room=room, identity="host-1"))
            incarnation = (await admin.get_room(room))["sid"]
            newer = current.joined_at_ms + 1_000
            gone = event("participant_left", room, "host-1", "PA_newer", room_sid=incarnation, joined_at_ms=newer)
            assert (await deliver(own.service, gone, signed(gone))).status_code == 200
            assert (await admin.get_room(room))["hasHost"] is True  # not freed at once
            await asyncio.sleep(3)  # past the grace window and a pass
            assert (await admin.get_room(room))["hasHost"] is True
            await agree_within(admin, lkapi, room)
            held = await lkapi.room.get_participant(api.RoomParticipantIdentity(room=room, identity="host-1"))
            assert held.permission.can_publish
            assert "host_left" not in [e.get("type") for e in watcher.show_events]
    finally:
        await watcher.disconnect()
        await host_live.disconnect()
        await door.close()


async def test_livekit_restarting_mid_show_retires_the_show(own: Stack, room: str) -> None:
    door = own.client()
    admin = door.as_(admin_token(room))
    host_token, host_live = await open_show(door, room)
    host = door.as_(host_token)
    as_guest, guest_live = await viewer(door, room, "guest-1")
    as_hand, hand_live = await viewer(door, room, "hand-1")
    await as_guest.hand(room, "guest-1", True)
    await host.invite(room, "guest-1", "host-1")
    await as_hand.hand(room, "hand-1", True)
    own.livekit.stop()
    for person in (host_live, guest_live, hand_live):  # the clients give up
        await person.disconnect()
    await asyncio.sleep(2)
    own.livekit.repick_ports = False
    own.livekit.start()
    try:
        async with livekit_api(own.livekit) as lkapi:
            await agree_within(admin, lkapi, room)
            with pytest.raises(Refused) as gone:
                await admin.get_room(room)
            assert gone.value.code == "NOT_FOUND"
            # The seat is free: a new host opens the show again, and LiveKit has the room again.
            assert (await admin.join(room, "host-2", "host"))["role"] == "host"
            assert [r.name for r in (await lkapi.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms] == [room]
            assert await admin.hands(room) == []
    finally:
        await door.close()


async def test_redis_restarting_mid_show_loses_nothing_and_catches_up(
    own_with_redis: Stack, redis_server_own: RedisServer, room: str
) -> None:
    stack_ = own_with_redis
    door = stack_.client()
    admin = door.as_(admin_token(room))
    host_token, host_live = await open_show(door, room)
    host = door.as_(host_token)
    as_guest, guest_live = await viewer(door, room, "guest-1")
    people = [host_live, guest_live]
    try:
        await as_guest.hand(room, "guest-1", True)
        await host.invite(room, "guest-1", "host-1")
        await admin.settings(room, 2)
        redis_server_own.stop()
        async with livekit_api(stack_.livekit) as lkapi:
            await leave_livekit(lkapi, room, guest_live, 30.0)  # leaves while the record cannot be written
        await asyncio.sleep(2)
        restarted = RedisServer(workdir=redis_server_own.workdir, port=redis_server_own.port, persistent=True).start()
        try:
            async with livekit_api(stack_.livekit) as lkapi:
                await agree_within(admin, lkapi, room)
                described = await admin.get_room(room)
                assert described["hasHost"] is True and described["guestLimit"] == 2 and described["guests"] == []
        finally:
            restarted.stop()
    finally:
        for person in people:
            await person.disconnect()
        await door.close()


async def test_the_end_of_an_outage_catches_up_with_every_room_at_once(
    tmp_path: Path, redis_server_own: RedisServer, room: str
) -> None:
    """Redis comes back empty after an outage. The service's passes are an hour apart here (the
    interval at its most, sweeps every sixth pass), so only the catch-up the end of the outage
    asks for gives the host its seat back from LiveKit's picture; readiness says ready the whole
    while it runs."""
    made = stack(tmp_path, SHOW_REDIS_URL=redis_server_own.url, SHOW_RECONCILE_INTERVAL_SECONDS="600")
    door = made.client()
    admin = door.as_(admin_token(room))
    _, host_live = await open_show(door, room)
    fresh = tmp_path / "fresh-redis"
    fresh.mkdir()
    try:
        redis_server_own.stop()
        async with httpx.AsyncClient(base_url=made.service.http_base) as http:
            await until(lambda: _status(http, "/ready", 503), label="not ready while Redis is down")
            emptied = RedisServer(workdir=fresh, port=redis_server_own.port).start()
            try:
                await until(lambda: _status(http, "/ready", 200), label="ready once Redis is back")
                deadline = time.monotonic() + BOUND
                while not (await admin.get_room(room))["hasHost"]:
                    assert time.monotonic() < deadline, "the host was not given its seat back"
                    await asyncio.sleep(0.5)
                assert (await http.get("/ready")).status_code == 200
            finally:
                emptied.stop()
    finally:
        await host_live.disconnect()
        await door.close()
        made.service.stop()
        made.livekit.stop()


async def _status(http: httpx.AsyncClient, path: str, status: int) -> bool:
    return (await http.get(path)).status_code == status


async def test_redis_emptied_gives_the_seats_back_from_livekit_within_the_rules(
    own_with_redis: Stack, redis_server_own: RedisServer, room: str
) -> None:
    stack_ = own_with_redis
    door = stack_.client()
    admin = door.as_(admin_token(room))
    host_token, host_live = await open_show(door, room)
    host = door.as_(host_token)
    people = [host_live]
    try:
        await admin.settings(room, 2)
        for name in ("guest-1", "guest-2"):
            as_guest, live = await viewer(door, room, name)
            people.append(live)
            await as_guest.hand(room, name, True)
            await host.invite(room, name, "host-1")
        client = aioredis.Redis(port=redis_server_own.port)
        await client.flushall()
        await client.aclose()
        async with livekit_api(stack_.livekit) as lkapi:
            await agree_within(admin, lkapi, room, bound=BOUND + 8)  # the next sweep finds it
            seen = (await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))).participants
            publishing = sorted(p.attributes.get("role", "") for p in seen if p.permission.can_publish)
            # One host, and no more guests than the rule allows now that the room's own limit is
            # gone with the data (the service's default, 1).
            assert publishing == ["guest", "host"]
            with pytest.raises(Refused) as taken:
                await admin.join(room, "host-2", "host")
            assert taken.value.code == "ALREADY_EXISTS"
    finally:
        for person in people:
            await person.disconnect()
        await door.close()


async def test_redis_emptied_then_a_viewer_joining_first_costs_nobody_their_seat(
    tmp_path: Path, redis_server_own: RedisServer, room: str
) -> None:
    """A viewer's participant_joined reaches the service before the reconciler's next pass: the
    emptied record must stay lost, so that the pass gives the host and the guest their seats
    back from LiveKit instead of taking the stage from them. Passes every 3 s, so the sweeps
    (every 18 s) come long after the viewer: the pass that acts is the one its webhook asked for."""
    made = stack(tmp_path, SHOW_REDIS_URL=redis_server_own.url, SHOW_RECONCILE_INTERVAL_SECONDS="3")
    door = made.client()
    admin = door.as_(admin_token(room))
    host_token, host_live = await open_show(door, room)
    host = door.as_(host_token)
    as_guest, guest_live = await viewer(door, room, "guest-1")
    people = [host_live, guest_live]
    try:
        await host.go_live(room)
        await host_live.publish_microphone()
        await as_guest.hand(room, "guest-1", True)
        assert (await host.invite(room, "guest-1", "host-1"))["promoted"] is True
        await guest_live.wait_for(lambda: ("permissions", True) in guest_live.events, label="guest may publish")
        await guest_live.publish_microphone()
        client = aioredis.Redis(port=redis_server_own.port)
        await client.flushall()
        await client.aclose()
        _, newcomer = await viewer(door, room, "viewer-1")
        people.append(newcomer)
        async with livekit_api(made.livekit) as lkapi:

            async def seated() -> bool:
                with contextlib.suppress(Refused):
                    described = await admin.get_room(room)
                    return bool(described["hasHost"]) and described["guests"] == ["guest-1"]
                return False

            deadline = time.monotonic() + BOUND
            while not await seated():
                assert time.monotonic() < deadline, "the host and the guest were not given their seats back"
                await asyncio.sleep(0.2)
            await agree_within(admin, lkapi, room)
            seen = (await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))).participants
            on_stage = {p.identity: p.attributes.get("role") for p in seen if p.permission.can_publish}
            assert on_stage == {"host-1": "host", "guest-1": "guest"}
    finally:
        for person in people:
            await person.disconnect()
        await door.close()
        made.service.stop()
        made.livekit.stop()


async def test_the_service_killed_during_a_promotion_converges_after_restart(own_with_redis: Stack, room: str) -> None:
    stack_ = own_with_redis
    door = stack_.client()
    admin = door.as_(admin_token(room))
    host_token, host_live = await open_show(door, room)
    people = [host_live]
    try:
        async with livekit_api(stack_.livekit) as lkapi:
            for round_ in range(4):
                name = f"viewer-{round_}"
                as_viewer, live = await viewer(door, room, name)
                people.append(live)
                await as_viewer.hand(room, name, True)
                body: dict[str, Any] = {"viewerIdentity": name, "hostIdentity": "host-1"}
                async with httpx.AsyncClient(base_url=stack_.service.http_base) as http:
                    call = asyncio.create_task(
                        http.post(
                            f"/api/rooms/{room}/invite", json=body, headers={"authorization": f"Bearer {host_token}"}
                        )
                    )
                    await asyncio.sleep(random.uniform(0.002, 0.015))
                    stack_.restart_service()  # SIGKILL, then a new instance on the same ports
                    with contextlib.suppress(httpx.HTTPError):
                        await call
                await door.close()
                door = stack_.client()
                admin, host = door.as_(admin_token(room)), door.as_(host_token)
                await agree_within(admin, lkapi, room)
                guests = (await admin.get_room(room))["guests"]
                if guests:
                    await host.demote(room, guests[0], "host-1")
                    await agree_within(admin, lkapi, room)
    finally:
        for person in people:
            await person.disconnect()
        await door.close()


async def test_moderators_and_a_locked_source_written_by_an_instance_that_died_reach_livekit(
    own_with_redis: Stack, redis_server_own: RedisServer, room: str
) -> None:
    """An instance that wrote an appointment, a dismissal and a guest's locked camera to the
    record, then died before telling LiveKit: the reconciler's passes make LiveKit's own view
    match the record."""
    stack_ = own_with_redis
    door = stack_.client()
    admin = door.as_(admin_token(room))
    host_token, host_live = await open_show(door, room)
    host = door.as_(host_token)
    as_guest, guest_live = await viewer(door, room, "guest-1")
    _, appointed_live = await viewer(door, room, "mod-1")
    _, dismissed_live = await viewer(door, room, "mod-2")
    people = [host_live, guest_live, appointed_live, dismissed_live]
    dead = RedisRecords(connect(redis_server_own.url, cluster=False))
    try:
        await as_guest.hand(room, "guest-1", True)
        await host.invite(room, "guest-1", "host-1")
        await host.appoint_moderator(room, "mod-2")
        # What the dead instance had done: the record's steps, and nothing on LiveKit.
        await dead.lock_source(room, "guest-1", "camera", True, 2, time.time())
        await dead.appoint(room, "mod-1", time.time(), None)
        await dead.dismiss(room, "mod-2", time.time())
        async with livekit_api(stack_.livekit) as lkapi:
            deadline = time.monotonic() + BOUND
            while True:
                seen = {
                    p.identity: p
                    for p in (await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))).participants
                }
                sources = set(seen["guest-1"].permission.can_publish_sources)
                roles = {who: seen[who].attributes.get("role") for who in ("mod-1", "mod-2")}
                if sources == {TrackSource.MICROPHONE} and roles == {"mod-1": "moderator", "mod-2": "viewer"}:
                    break
                assert time.monotonic() < deadline, (
                    f"LiveKit still has guest-1 publishing {sorted(sources)} (none listed: every source), {roles}"
                )
                await asyncio.sleep(0.2)
            assert seen["guest-1"].permission.can_publish
            await agree_within(admin, lkapi, room)
    finally:
        await dead.close()
        for person in people:
            await person.disconnect()
        await door.close()


async def test_a_demotion_written_by_an_instance_that_died_is_told_once_the_reconciler_finishes_it(
    own_with_redis: Stack, redis_server_own: RedisServer, room: str
) -> None:
    """An instance sent guest-1 back to the audience in the record and died before telling
    LiveKit or the room: the running instance's reconciler makes LiveKit's own view match past the
    deadline, and a viewer's page, which heard guest-1 go on stage, hears guest_demoted, once; the
    history keeps it as the reconciler's (no actor, "reconciled"): the dead instance wrote it
    without words, as an older version does (tests/test_finished_changes.py tells one written
    with them in them)."""
    stack_ = own_with_redis
    door = stack_.client()
    admin = door.as_(admin_token(room))
    host_token, host_live = await open_show(door, room)
    as_guest, guest_live = await viewer(door, room, "guest-1")
    _, ada = await viewer(door, room, "ada")
    people = [host_live, guest_live, ada]
    dead = RedisRecords(connect(redis_server_own.url, cluster=False))

    def heard() -> list[str]:
        return [e["type"] for e in ada.show_events if e.get("targetParticipantId") == "guest-1"]

    try:
        await as_guest.hand(room, "guest-1", True)
        await door.as_(host_token).invite(room, "guest-1", "host-1")
        await ada.wait_for(lambda: heard() == ["guest_promoted"], 10.0, "ada hears guest-1 go on stage")
        # What the dead instance had done: the record's step, and nothing on LiveKit.
        await dead.unseat(room, "guest-1", time.time(), StageChange.DEMOTE, "host-1", change_id=new_change_id())
        async with livekit_api(stack_.livekit) as lkapi:

            async def in_the_audience() -> bool:
                seen = await lkapi.room.get_participant(api.RoomParticipantIdentity(room=room, identity="guest-1"))
                return seen.attributes.get("role") == "viewer" and not seen.permission.can_publish

            await until(in_the_audience, BOUND, "LiveKit has guest-1 back in the audience")
            await ada.wait_for(lambda: len(heard()) > 1, BOUND, "ada hears guest-1 leave the stage")
            await agree_within(admin, lkapi, room)
        await asyncio.sleep(2.0)  # a few more passes: nothing more is told
        assert heard() == ["guest_promoted", "guest_demoted"]
        entries = (await admin.history(room))["entries"]
        about = [(e["type"], e["actorIdentity"], e["reason"]) for e in entries if e["targetIdentity"] == "guest-1"]
        assert about == [("guest_promoted", "host-1", ""), ("guest_demoted", "", "reconciled")]
    finally:
        await dead.close()
        for person in people:
            await person.disconnect()
        await door.close()


async def test_a_demotion_whose_instance_died_after_livekit_had_it_is_told_in_its_own_words(
    own_with_redis: Stack, redis_server_own: RedisServer, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another instance (a core in this process, on the same Redis and LiveKit) demotes guest-1:
    LiveKit has it, the record has it cleared of LiveKit, and the instance dies right before
    telling the room. The service's reconciler, past the change's deadline, tells it as the dying
    call would have (from host-1, "demoted"), and a viewer's page hears guest_demoted, once."""
    stack_ = own_with_redis
    door = stack_.client()
    admin = door.as_(admin_token(room))
    host_token, host_live = await open_show(door, room)
    as_guest, guest_live = await viewer(door, room, "guest-1")
    _, ada = await viewer(door, room, "ada")
    people = [host_live, guest_live, ada]
    records = RedisRecords(
        connect(redis_server_own.url, cluster=False), change_seconds=float(FAST["SHOW_STAGE_CHANGE_SECONDS"])
    )
    stage = LiveKitStage(stack_.livekit.url, API_KEY, API_SECRET, room_cache_seconds=0)
    dying = ShowCore(stage, records, SystemClock(), page_tokens=PageTokens(page_key(API_SECRET)))
    reached, never = asyncio.Event(), asyncio.Event()

    async def never_told(*args: object) -> str:
        reached.set()
        await never.wait()  # until the instance dies
        return ""

    def heard() -> list[str]:
        return [e["type"] for e in ada.show_events if e.get("targetParticipantId") == "guest-1"]

    try:
        await as_guest.hand(room, "guest-1", True)
        await door.as_(host_token).invite(room, "guest-1", "host-1")
        await ada.wait_for(lambda: heard() == ["guest_promoted"], 10.0, "ada hears guest-1 go on stage")
        monkeypatch.setattr(records, "tell", never_told)
        demote = pb.DemoteGuestRequest(room_name=room, guest_identity="guest-1", host_identity="host-1")
        demoting = asyncio.ensure_future(dying.demote_guest(demote, Caller(room=room, admin=True)))
        await asyncio.wait_for(reached.wait(), 10.0)
        demoting.cancel()  # the instance dies: LiveKit has the demotion, the room has heard nothing
        with contextlib.suppress(asyncio.CancelledError):
            await demoting
        async with livekit_api(stack_.livekit) as lkapi:
            seen = await lkapi.room.get_participant(api.RoomParticipantIdentity(room=room, identity="guest-1"))
            assert (seen.attributes.get("role"), seen.permission.can_publish) == ("viewer", False)
            await ada.wait_for(lambda: len(heard()) > 1, BOUND, "ada hears guest-1 leave the stage")
            await agree_within(admin, lkapi, room)
        await asyncio.sleep(2.0)  # a few more passes: nothing more is told
        assert heard() == ["guest_promoted", "guest_demoted"]
        entries = (await admin.history(room))["entries"]
        about = [(e["type"], e["actorIdentity"], e["reason"]) for e in entries if e["targetIdentity"] == "guest-1"]
        assert about == [("guest_promoted", "host-1", ""), ("guest_demoted", "host-1", "demoted")]
    finally:
        monkeypatch.undo()
        await records.close()
        await stage.close()
        for person in people:
            await person.disconnect()
        await door.close()


async def test_a_guest_who_drops_and_comes_back_within_the_grace_window_keeps_the_seat(
    tmp_path: Path, room: str
) -> None:
    made = stack(tmp_path, SHOW_RECONNECT_GRACE_SECONDS="6")
    door = made.client()
    admin = door.as_(admin_token(room))
    host_token, host_live = await open_show(door, room)
    as_guest, guest_live = await viewer(door, room, "guest-1")
    people = [host_live, guest_live]
    try:
        await as_guest.hand(room, "guest-1", True)
        promoted = await door.as_(host_token).invite(room, "guest-1", "host-1")
        await guest_live.disconnect()  # the connection drops
        await asyncio.sleep(2)
        again = await LiveParticipant("guest-1").connect(promoted["wsUrl"], promoted["token"])
        people.append(again)
        await asyncio.sleep(6)  # past the grace window counted from the drop
        assert (await admin.get_room(room))["guests"] == ["guest-1"]
        async with livekit_api(made.livekit) as lkapi:
            seen = await lkapi.room.get_participant(api.RoomParticipantIdentity(room=room, identity="guest-1"))
            assert seen.permission.can_publish and seen.attributes.get("role") == "guest"
            await agree_within(admin, lkapi, room)
            # Gone for good this time: the seat is freed once the window has passed.
            await again.disconnect()
            await asyncio.sleep(1)
            assert (await admin.get_room(room))["guests"] == ["guest-1"]  # still within the window
            await agree_within(admin, lkapi, room, bound=BOUND)
            assert (await admin.get_room(room))["guests"] == []
    finally:
        for person in people:
            await person.disconnect()
        await door.close()
        made.service.stop()
        made.livekit.stop()
