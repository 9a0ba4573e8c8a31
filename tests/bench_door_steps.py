"""`make bench`'s door steps: one hand raise, invitation and acceptance through the gRPC door, for a
viewer connected to LiveKit (livekit.rtc), in a room that already holds 0, 1,000, 10,000 and
100,000 raised hands. The hands are put into the room's record directly (pipelined ZADDs on the
Redis the service uses), since raising 100,000 hands one call at a time would measure the fill,
not the step; the steps themselves are the service's whole path: the chain, the record's Lua step,
LiveKit (finding the participant, the stage change, the events to the host and the viewer).

Each round raises the viewer's hand (timed) and lowers it again, then the host invites the viewer
(timed), the viewer accepts (timed) and the host demotes the guest again. The target (issue 7) is
that the slowest audience costs at most twice the fastest, for each step."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from livekit import rtc
from showrunner.v1 import show_service_pb2 as pb

from service.stores.redis_record import connect, room_keys
from tests.bench_load import Stack, Verdict
from tests.conftest import admin_token

AUDIENCES = (0, 1_000, 10_000, 100_000)
ROUNDS = 21
FLAT_TARGET = 2.0
SERVICE = "/showrunner.v1.ShowService/"


@dataclass(frozen=True)
class DoorCost:
    hands: int
    raise_ms: float
    invite_ms: float
    accept_ms: float


class Door:
    """The gRPC door's RPCs this section calls, each with its caller's token."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        def rpc(name: str, response: Any) -> Any:
            decode = response.FromString
            return channel.unary_unary(SERVICE + name, request_serializer=serialize, response_deserializer=decode)

        self.join = rpc("JoinRoom", pb.JoinRoomResponse)
        self.hand = rpc("SetHandRaised", pb.SetHandRaisedResponse)
        self.invite = rpc("InviteGuest", pb.InviteGuestResponse)
        self.accept = rpc("AcceptInvitation", pb.AcceptInvitationResponse)
        self.demote = rpc("DemoteGuest", pb.DemoteGuestResponse)


def serialize(message: Message) -> bytes:
    return message.SerializeToString()


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def fill(redis_url: str, room: str, hands: int) -> None:
    """`hands` raised hands in the room's record, 10,000 to a ZADD, all in one pipeline."""
    client = connect(redis_url, cluster=False)
    key, raised_at = room_keys(room)[2], round(time.time() * 1000) - 60_000
    try:
        async with client.pipeline(transaction=False) as pipe:
            for start in range(0, hands, 10_000):
                pipe.zadd(key, {f"waiting-{i}": raised_at + i for i in range(start, min(hands, start + 10_000))})
            await pipe.execute()
        if hands:
            assert await client.zcard(key) == hands, "the room's hands were not filled"
    finally:
        await client.aclose()


async def measure_room(stack: Stack, door: Door, hands: int) -> DoorCost:
    room = f"bench-door-{hands}-{time.time_ns()}"
    request = pb.JoinRoomRequest(room_name=room, participant_name="host", role=pb.ROLE_HOST)
    host = await door.join(request, metadata=bearer(admin_token(room)))
    viewer = await door.join(pb.JoinRoomRequest(room_name=room, participant_name="viewer", role=pb.ROLE_VIEWER))
    rooms = [rtc.Room(), rtc.Room()]
    options = rtc.RoomOptions(auto_subscribe=False)
    try:
        await rooms[0].connect(host.ws_url, host.token, options)
        await rooms[1].connect(host.ws_url, viewer.token, options)
        await fill(stack.redis.url, room, hands)
        as_host, as_viewer = bearer(host.token), bearer(viewer.token)
        me, the_host = viewer.identity, host.identity
        samples: dict[str, list[float]] = {"raise": [], "invite": [], "accept": []}

        async def timed(step: str, call: Callable[[], Awaitable[object]]) -> None:
            started = time.perf_counter()
            await call()
            samples[step].append((time.perf_counter() - started) * 1000)

        raise_hand = pb.SetHandRaisedRequest(room_name=room, participant_identity=me, raised=True)
        lower_hand = pb.SetHandRaisedRequest(room_name=room, participant_identity=me, raised=False)
        invite = pb.InviteGuestRequest(room_name=room, viewer_identity=me, host_identity=the_host)
        accept = pb.AcceptInvitationRequest(room_name=room, viewer_identity=me)
        demote = pb.DemoteGuestRequest(room_name=room, guest_identity=me, host_identity=the_host)
        for _ in range(ROUNDS):
            await timed("raise", lambda: door.hand(raise_hand, metadata=as_viewer))
            await door.hand(lower_hand, metadata=as_viewer)
            await timed("invite", lambda: door.invite(invite, metadata=as_host))
            await timed("accept", lambda: door.accept(accept, metadata=as_viewer))
            await door.demote(demote, metadata=as_host)
    finally:
        for connected in rooms:
            await connected.disconnect()
    median = {step: statistics.median(values) for step, values in samples.items()}
    return DoorCost(hands, median["raise"], median["invite"], median["accept"])


async def run(stack: Stack) -> list[Verdict]:
    """`stack.service` keeps its record in `stack.redis` (the section's own instance)."""
    async with grpc.aio.insecure_channel(stack.service.grpc_address) as channel:
        door = Door(channel)
        await measure_room(stack, door, 0)  # warm-up: connections to LiveKit and Redis, caches
        costs = [await measure_room(stack, door, hands) for hands in AUDIENCES]
    print(f"  {'N':>8} {'raise hand':>11} {'invite':>9} {'accept':>9}   (median ms of {ROUNDS} rounds, gRPC door)")
    for c in costs:
        print(f"  {c.hands:>8,} {c.raise_ms:>11.2f} {c.invite_ms:>9.2f} {c.accept_ms:>9.2f}")
    steps = {
        "raise": [c.raise_ms for c in costs],
        "invite": [c.invite_ms for c in costs],
        "accept": [c.accept_ms for c in costs],
    }
    spread = {step: max(values) / min(values) for step, values in steps.items()}
    passed = max(spread.values()) <= FLAT_TARGET
    detail = ", ".join(f"{step} {x:.2f}x" for step, x in spread.items())
    mark = "PASS" if passed else "FAIL"
    print(f"  slowest / fastest across N: {detail}  (target <= {FLAT_TARGET:g}x)  {mark}")
    return [Verdict("door steps flat 0..100k hands", passed, detail + " slowest/fastest")]
