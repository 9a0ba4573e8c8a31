"""An unrelated room's reader for `make bench`'s storm, as its own client: its own process and its
own gRPC channel, so that what it sees is the service's, not the storm's client's (the bench's
process runs the 200 WebRTC clients and sends the raises on its own channel).

    python -m tests.bench_reader ADDRESS ROOM TOKEN

Prints `reading` once its channel is connected, then calls GetRoom on ROOM one call after
another until its standard input closes, and prints one line per call: the wall-clock time it
started (seconds) and how long it took (seconds). Its `reader` is also the one the storm runs
on its own channel, in the bench's process."""

from __future__ import annotations

import asyncio
import sys
import threading
import time

import grpc
from showrunner.v1 import show_service_pb2 as pb

from service import runtime

SERVICE = "/showrunner.v1.ShowService/"


async def reader(channel: grpc.aio.Channel, room: str, token: str, stop: asyncio.Event) -> list[tuple[float, float]]:
    """GetRoom on `room`, one call after another, until `stop`: for each call, the wall-clock
    time it started and how long it took, in seconds."""
    get_room = channel.unary_unary(
        SERVICE + "GetRoom",
        request_serializer=pb.GetRoomRequest.SerializeToString,
        response_deserializer=pb.GetRoomResponse.FromString,
    )
    request, metadata = pb.GetRoomRequest(room_name=room), (("authorization", f"Bearer {token}"),)
    calls: list[tuple[float, float]] = []
    while not stop.is_set():
        at, started = time.time(), time.perf_counter()
        await get_room(request, metadata=metadata)
        calls.append((at, time.perf_counter() - started))
    return calls


async def read(address: str, room: str, token: str) -> list[tuple[float, float]]:
    loop, done = asyncio.get_running_loop(), asyncio.Event()

    def wait_for_stdin_to_close() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=wait_for_stdin_to_close, daemon=True).start()
    async with grpc.aio.insecure_channel(address) as channel:
        await channel.channel_ready()
        print("reading", flush=True)
        return await reader(channel, room, token, done)


def main() -> int:
    if len(sys.argv) != 4:
        print("usage: python -m tests.bench_reader ADDRESS ROOM TOKEN", file=sys.stderr)
        return 2
    calls = runtime.run(read(*sys.argv[1:4]))
    print("\n".join(f"{at:.6f} {took:.6f}" for at, took in calls), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
