"""`make bench`'s hand-raise storm: real participants connected to LiveKit (livekit.rtc, one
process), the host and viewers who joined through the service; every viewer raises a hand at once
through the gRPC door, while one caller keeps reading an unrelated room (GetRoom), on the storm's
channel and, as another room's client would, from a process of its own (tests/bench_reader.py).
Prints how long the storm took, the raises' latencies, the unrelated GetRoom's p50/p99 before and
during the storm, and how many messages LiveKit delivered per raise (show events to the host and
to the viewers, attribute changes): the fan-out issue 7 item 2 is about. A raise goes to the host
and to the viewer concerned, so the target is 2 per raise, whatever the audience.

The storm's show is still backstage, its viewers waiting: then the host takes it live, and the
bench prints what GoLive costs with that waiting audience (issue 10)."""

from __future__ import annotations

import asyncio
import sys
import time

import grpc
from livekit import api, rtc
from showrunner.v1 import show_service_pb2 as pb

from service.core.events import EVENTS_TOPIC
from tests.bench_load import Figures, Stack, Verdict
from tests.bench_reader import SERVICE, reader
from tests.conftest import admin_token

PARTICIPANTS = 200
FAN_OUT_TARGET = 2.0  # messages delivered per raise: the host and the viewer concerned
CONNECTING_AT_ONCE = 20


class Viewer:
    """One connected viewer, counting the show events it receives."""

    def __init__(self, identity: str, token: str) -> None:
        self.identity, self.token = identity, token
        self.room = rtc.Room()
        self.events = 0
        self.attribute_changes = 0
        self.room.on("data_received", self._on_data)
        self.room.on("participant_attributes_changed", self._on_attributes)

    def _on_data(self, packet: rtc.DataPacket) -> None:
        if packet.topic == EVENTS_TOPIC:
            self.events += 1

    def _on_attributes(self, changed: dict[str, str], participant: rtc.Participant) -> None:
        self.attribute_changes += 1


async def settled(viewers: list[Viewer], quiet_for: float = 3.0, at_most: float = 30.0) -> bool:
    """Waits until the viewers have received something and then nothing new for `quiet_for`
    seconds (a busy process works through LiveKit's messages late), or `at_most` seconds."""
    deadline, last, still_since = time.monotonic() + at_most, 0, time.monotonic()
    while time.monotonic() < deadline:
        seen = sum(v.events + v.attribute_changes for v in viewers)
        if seen != last:
            last, still_since = seen, time.monotonic()
        elif seen and time.monotonic() - still_since >= quiet_for:
            return True
        await asyncio.sleep(0.2)
    return False


async def everyone_seen(viewers: list[Viewer], at_most: float = 90.0) -> float:
    """Waits until every viewer sees all the others (LiveKit announces each join to everyone: the
    process works through that before the storm starts); the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < at_most:
        if all(len(v.room.remote_participants) >= len(viewers) - 1 for v in viewers):
            break
        await asyncio.sleep(0.5)
    return time.monotonic() - started


async def read_for(channel: grpc.aio.Channel, room: str, token: str, seconds: float) -> Figures:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    latencies = [took for _, took in await reader(channel, room, token, stop)]
    return Figures(len(latencies), seconds, latencies)


class ReaderApart:
    """tests/bench_reader.py: the unrelated room's reader as a client of its own would be."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, stack: Stack, room: str, token: str) -> ReaderApart:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.bench_reader",
            stack.service.grpc_address,
            room,
            token,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        await asyncio.wait_for(process.stdout.readline(), 30)  # "reading"
        return cls(process)

    async def finish(self, since: float, until: float) -> Figures:
        """Its calls that started between `since` and `until` (wall clock)."""
        try:
            out, _ = await asyncio.wait_for(self.process.communicate(b""), 30)
        except TimeoutError:
            self.process.kill()
            raise
        calls = [tuple(map(float, line.split())) for line in out.decode().splitlines() if line.strip()]
        within = [took for at, took in calls if since <= at <= until]
        return Figures(len(within), until - since, within)


async def run(stack: Stack) -> list[Verdict]:
    stamp = time.time_ns()
    stage, elsewhere = f"storm-{stamp}", f"storm-elsewhere-{stamp}"
    viewers: list[Viewer] = []
    async with grpc.aio.insecure_channel(stack.service.grpc_address) as channel:
        join = channel.unary_unary(
            SERVICE + "JoinRoom",
            request_serializer=pb.JoinRoomRequest.SerializeToString,
            response_deserializer=pb.JoinRoomResponse.FromString,
        )
        raise_hand = channel.unary_unary(
            SERVICE + "SetHandRaised",
            request_serializer=pb.SetHandRaisedRequest.SerializeToString,
            response_deserializer=pb.SetHandRaisedResponse.FromString,
        )
        hosts = {}
        for room in (stage, elsewhere):
            request = pb.JoinRoomRequest(room_name=room, participant_name="host", role=pb.ROLE_HOST)
            hosts[room] = await join(request, metadata=(("authorization", f"Bearer {admin_token(room)}"),))
        ws_url = hosts[stage].ws_url
        # The host is connected too: a raise is the host's to act on, so the host hears of each.
        host = Viewer(hosts[stage].identity, hosts[stage].token)

        started = time.perf_counter()
        for i in range(PARTICIPANTS):
            joined = await join(pb.JoinRoomRequest(room_name=stage, participant_name=f"v{i:04d}", role=pb.ROLE_VIEWER))
            viewers.append(Viewer(joined.identity, joined.token))
        options = rtc.RoomOptions(auto_subscribe=False)
        connected: list[Viewer] = []
        failures: list[str] = []

        async def connect(viewer: Viewer) -> None:
            try:
                await viewer.room.connect(ws_url, viewer.token, options)
                connected.append(viewer)
            except Exception as exc:
                failures.append(repr(exc))

        for batch in range(0, PARTICIPANTS, CONNECTING_AT_ONCE):
            await asyncio.gather(*(connect(v) for v in viewers[batch : batch + CONNECTING_AT_ONCE]))
        try:
            await host.room.connect(ws_url, host.token, options)
        except Exception as exc:
            failures.append(f"the host: {exc!r}")
        took = time.perf_counter() - started
        print(
            f"  {len(connected)} of {PARTICIPANTS} viewers joined and connected in {took:.1f} s"
            + (f"; {len(failures)} failed: {failures[0][:80]}" if failures else "")
        )
        try:
            waited = await everyone_seen([*connected, host])
            print(f"  every participant saw the {len(connected)} others {waited:.1f} s later")
            quiet = await read_for(channel, elsewhere, hosts[elsewhere].token, 2.0)
            print(f"  unrelated GetRoom, quiet:           p50 {quiet.p50:7.2f} ms  p99 {quiet.p99:7.2f} ms")

            apart = await ReaderApart.start(stack, elsewhere, hosts[elsewhere].token)
            stop = asyncio.Event()
            reading = asyncio.ensure_future(reader(channel, elsewhere, hosts[elsewhere].token, stop))
            raised: list[float] = []
            refused: list[str] = []

            async def raise_one(viewer: Viewer) -> None:
                request = pb.SetHandRaisedRequest(room_name=stage, participant_identity=viewer.identity, raised=True)
                at = time.perf_counter()
                try:
                    await raise_hand(request, metadata=(("authorization", f"Bearer {viewer.token}"),))
                    raised.append(time.perf_counter() - at)
                except grpc.aio.AioRpcError as exc:
                    refused.append(f"{exc.code().name}: {exc.details()}")

            storm_started, storm_wall = time.perf_counter(), time.time()
            await asyncio.gather(*(raise_one(v) for v in connected))
            storm_seconds = time.perf_counter() - storm_started
            stop.set()
            during = [took for _, took in await reading]
            apart_during = await apart.finish(storm_wall, storm_wall + storm_seconds)
            complete = await settled([*connected, host])  # what LiveKit still has on its way
            fanned_out = time.perf_counter() - storm_started
            storm = Figures(len(raised), storm_seconds, raised, len(refused), refused[0] if refused else "")
            delivered = sum(v.events for v in connected)
            attribute_changes = sum(v.attribute_changes for v in [*connected, host])
            print(
                f"  {len(raised)} hands raised at once in {storm_seconds:.2f} s:"
                f"  p50 {storm.p50:7.2f} ms  p99 {storm.p99:7.2f} ms"
                + (f"  ({len(refused)} refused: {refused[0][:80]})" if refused else "")
            )
            gets = Figures(len(during), storm_seconds, during)
            print(f"  unrelated GetRoom, during the storm: p50 {gets.p50:7.2f} ms  p99 {gets.p99:7.2f} ms")
            print(
                f"  the same, from a process and channel of its own: p50 {apart_during.p50:7.2f} ms"
                f"  p99 {apart_during.p99:7.2f} ms  ({apart_during.calls} calls)"
            )
            raises = max(1, len(raised))
            per_raise = (delivered + host.events + attribute_changes) / raises
            print(
                f"  delivered within {fanned_out:.0f} s: {host.events} show events to the host, {delivered} to "
                f"the viewers, {attribute_changes} attribute changes"
                + ("" if complete else "; more still arriving: this process could not take them faster")
            )
            fan_out_ok = complete and per_raise <= FAN_OUT_TARGET and host.events == len(raised)
            mark = "PASS" if fan_out_ok else "FAIL"
            print(
                f"  messages delivered per raise: {per_raise:.2f} (the host {host.events / raises:.2f}, the viewers "
                f"{delivered / raises:.2f}, attribute changes {attribute_changes / raises:.2f}; "
                f"target {FAN_OUT_TARGET:g}, the host and the viewer concerned)  {mark}"
            )
            going_live = await go_live(stack, channel, stage, hosts[stage].token, connected)
        finally:
            await asyncio.gather(*(v.room.disconnect() for v in [*connected, host]), return_exceptions=True)
    enough = len(connected) >= PARTICIPANTS and not refused
    return [
        Verdict(
            "hand-raise storm",
            enough,
            f"{len(connected)} connected, {len(raised)} raised; unrelated GetRoom p99 {gets.p99:.1f} ms "
            f"(from its own process {apart_during.p99:.1f} ms; quiet {quiet.p99:.1f} ms)",
        ),
        Verdict("fan-out per raise", fan_out_ok, f"{per_raise:.2f} messages delivered per raise"),
        going_live,
    ]


async def go_live(stack: Stack, channel: grpc.aio.Channel, room: str, token: str, waiting: list[Viewer]) -> Verdict:
    """Issue 10's GoLive figure: the show the storm's viewers joined is still backstage, so every
    one of them waits (no right to subscribe). The host takes it live: how long the call takes,
    how many viewers it let in, LiveKit's own view when it answered, and when the last viewer's
    connection (all of them in this one process) had heard of its new permission."""
    call = channel.unary_unary(
        SERVICE + "GoLive",
        request_serializer=pb.GoLiveRequest.SerializeToString,
        response_deserializer=pb.GoLiveResponse.FromString,
    )
    still_waiting = sum(1 for v in waiting if not v.room.local_participant.permissions.can_subscribe)
    started = time.perf_counter()
    answer = await call(pb.GoLiveRequest(room_name=room), metadata=(("authorization", f"Bearer {token}"),))
    answered = time.perf_counter() - started
    async with api.LiveKitAPI(stack.livekit.http_url, stack.livekit.api_key, stack.livekit.api_secret) as lkapi:
        listed = await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))
    in_livekit = sum(1 for p in listed.participants if p.identity != "host" and p.permission.can_subscribe)
    for _ in range(600):  # at most 60 s
        if all(v.room.local_participant.permissions.can_subscribe for v in waiting):
            break
        await asyncio.sleep(0.1)
    heard = time.perf_counter() - started
    told = sum(1 for v in waiting if v.room.local_participant.permissions.can_subscribe)
    print(
        f"  GoLive with {still_waiting} viewers waiting: answered in {answered * 1000:.0f} ms "
        f"({answered * 1000 / max(1, answer.viewers_let_in):.1f} ms a viewer), let in {answer.viewers_let_in}; "
        f"LiveKit's view at the answer: {in_livekit} may subscribe"
    )
    print(
        f"  the viewers' own connections (all {len(waiting)} in this one process) had heard of it: "
        f"{told} after {heard:.1f} s (LiveKit tells every participant of each one's new permission: "
        f"{len(waiting)}x{len(waiting)} participant updates for this one process to take in)"
    )
    # Judged in LiveKit's own view: every waiting viewer may subscribe once GoLive has answered.
    passed = still_waiting == answer.viewers_let_in == in_livekit == len(waiting)
    return Verdict(
        "go live",
        passed,
        f"{answer.viewers_let_in} of {len(waiting)} waiting viewers let in in {answered * 1000:.0f} ms",
    )
