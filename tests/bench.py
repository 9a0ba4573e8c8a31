"""`make bench`: figures for speed and memory, on the real stack (LiveKit dev server, redis-server,
the service as its own process). Prints a table; asserts nothing.

    store updates   atomic read-modify-write of one room's state, 50 at a time (memory vs Redis)
    token checks    verifying a participant's bearer token
    doors           GetRoom through each door, one caller, sequential (each asks LiveKit once)
    memory          the service's resident memory before and after 500 shows with hosts
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from livekit import api

from service.core.auth import Authenticator
from service.core.caller import Credentials
from service.core.clock import SystemClock
from service.core.ports import Store
from service.dev.livekit_server import LiveKitDevServer
from service.dev.redis_server import RedisServer
from service.stores.memory import MemoryStore
from service.stores.redis import RedisStore
from tests.conftest import API_KEY, API_SECRET, admin_token, start_service
from tests.doors import DOORS, ShowClient, client_for


def line(name: str, count: int, seconds: float, latencies: list[float] | None = None) -> None:
    rate = count / seconds if seconds else float("inf")
    tail = ""
    if latencies:
        ordered = sorted(latencies)
        p50 = statistics.median(ordered) * 1000
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
        tail = f"  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms"
    print(f"  {name:<34} {count:>6} in {seconds:6.2f} s  {rate:>9.0f}/s{tail}")


async def timed(
    calls: int, call: Callable[[int], Awaitable[object]], concurrency: int = 1
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue = iter(range(calls))

    async def worker() -> None:
        for i in queue:
            started = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


async def bench_stores(redis_url: str) -> None:
    print("store updates (50 concurrent, one room)")
    stores: list[tuple[str, Store]] = [("memory", MemoryStore()), ("redis", RedisStore.from_url(redis_url))]
    for name, store in stores:
        room = f"bench-{name}-{time.time_ns()}"
        await store.update(room, lambda s: s.claim_host("h", "H", 0.0, 60.0))

        async def hand(i: int, store: Store = store, room: str = room) -> None:
            await store.update(room, lambda s: s.set_hand(f"v{i}", True, float(i), 1))

        seconds, latencies = await timed(2000, hand, concurrency=50)
        line(f"{name}: raise a hand", 2000, seconds, latencies)
        size = len((await store.load(room)).to_json())
        print(f"  {name}: one room's state with 2000 raised hands is {size / 1024:.1f} KiB of JSON")
        await store.close()


def bench_tokens() -> None:
    print("token checks")
    auth = Authenticator(API_KEY, API_SECRET, SystemClock())
    grants = api.VideoGrants(room_join=True, room="r")
    token = api.AccessToken(API_KEY, API_SECRET).with_identity("v").with_grants(grants).to_jwt()
    credentials = Credentials(authorization=f"Bearer {token}")
    started = time.perf_counter()
    for _ in range(5000):
        auth.caller(credentials)
    line("verify a participant token", 5000, time.perf_counter() - started)


def rss_kib(pid: int) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1])
    return 0


async def bench_doors(livekit: LiveKitDevServer) -> None:
    running = start_service(livekit)
    try:
        room = f"bench-{time.time_ns()}"
        setup = client_for("rest", running.grpc_address, running.http_base)
        host = await setup.as_(admin_token(room)).join(room, "host", "host")
        print("doors: GetRoom, sequential, one caller")
        for door in DOORS:
            client = client_for(door, running.grpc_address, running.http_base).as_(host["token"])
            await client.get_room(room)  # warm up the connection

            async def describe(i: int, client: ShowClient = client) -> object:
                return await client.get_room(room)

            seconds, latencies = await timed(300, describe)
            line(door, 300, seconds, latencies)
            await client.close()

        print("memory")
        before = rss_kib(running.process.pid)
        admin = setup

        async def open_show(i: int) -> None:
            name = f"bench-mem-{i}-{time.time_ns()}"
            await admin.as_(admin_token(name)).join(name, "host", "host")

        seconds, _ = await timed(500, open_show, concurrency=10)
        after = rss_kib(running.process.pid)
        line("open 500 shows (JoinRoom as host)", 500, seconds)
        print(f"  service RSS {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB after 500 shows")
        await setup.close()
    finally:
        running.stop()


async def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="showrunner-bench-"))
    livekit = LiveKitDevServer(api_key=API_KEY, api_secret=API_SECRET, log_path=workdir / "livekit.log").start()
    redis = RedisServer(workdir=workdir).start()
    try:
        cores = os.cpu_count()
        print(f"Showrunner benchmarks ({time.strftime('%Y-%m-%d %H:%M')}, {cores} cores)")
        await bench_stores(redis.url)
        bench_tokens()
        await bench_doors(livekit)
    finally:
        redis.stop()
        livekit.stop()


if __name__ == "__main__":
    asyncio.run(main())
