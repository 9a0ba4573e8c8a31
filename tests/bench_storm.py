"""`make bench`'s hand-raise storm: real participants connected to LiveKit (livekit.rtc, one
process), the host and viewers who joined through the service; every viewer raises a hand at once
through the gRPC door, while one caller keeps reading an unrelated room (GetRoom). Prints how long
the storm took, the raises' latencies, the unrelated GetRoom's p50/p99 before and during the
storm, and how many messages LiveKit delivered per raise (show events to the host and to the
viewers, attribute changes): the fan-out issue 7 item 2 is about. A raise goes to the host and to
the viewer concerned, so the target is 2 per raise, whatever the audience."""

from __future__ import annotations

import asyncio
import time

import grpc
from livekit import rtc
from showrunner.v1 import show_service_pb2 as pb

from service.core.events import EVENTS_TOPIC
from tests.bench_load import Figures, Stack, Verdict
from tests.conftest import admin_token

PARTICIPANTS = 200
FAN_OUT_TARGET = 2.0  # messages delivered per raise: the host and the viewer concerned
CONNECTING_AT_ONCE = 20
SERVICE = "/showrunner.v1.ShowService/"


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


async def reader(channel: grpc.aio.Channel, room: str, token: str, stop: asyncio.Event) -> list[float]:
    """GetRoom on `room`, one call after another, until `stop`; the latencies in seconds."""
    get_room = channel.unary_unary(
        SERVICE + "GetRoom",
        request_serializer=pb.GetRoomRequest.SerializeToString,
        response_deserializer=pb.GetRoomResponse.FromString,
    )
    request, metadata = pb.GetRoomRequest(room_name=room), (("authorization", f"Bearer {token}"),)
    latencies: list[float] = []
    while not stop.is_set():
        started = time.perf_counter()
        await get_room(request, metadata=metadata)
        latencies.append(time.perf_counter() - started)
    return latencies


async def read_for(channel: grpc.aio.Channel, room: str, token: str, seconds: float) -> Figures:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    latencies = await reader(channel, room, token, stop)
    return Figures(len(latencies), seconds, latencies)


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

            storm_started = time.perf_counter()
            await asyncio.gather(*(raise_one(v) for v in connected))
            storm_seconds = time.perf_counter() - storm_started
            stop.set()
            during = await reading
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
        finally:
            await asyncio.gather(*(v.room.disconnect() for v in [*connected, host]), return_exceptions=True)
    enough = len(connected) >= PARTICIPANTS and not refused
    return [
        Verdict(
            "hand-raise storm",
            enough,
            f"{len(connected)} connected, {len(raised)} raised; unrelated GetRoom p99 {gets.p99:.1f} ms "
            f"(quiet {quiet.p99:.1f} ms)",
        ),
        Verdict("fan-out per raise", fan_out_ok, f"{per_raise:.2f} messages delivered per raise"),
    ]
