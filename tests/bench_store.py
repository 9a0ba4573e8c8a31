"""What one step of the show's record costs as the audience grows: a hand raise, an invitation and
an acceptance in a room that already holds 0, 1,000, 10,000 and 100,000 raised hands, on each
store (in process, one redis-server, a three-node Redis Cluster, all started here), and the
memory that 10,000 raised hands take. A measurement that prints figures, not a test:

    python -m tests.bench_store          (make bench calls `run`, with its own redis-server)

Each step's figure is the lowest of three batches' medians; the target (issue 7) is that the
slowest of the four audiences costs at most twice the fastest, for each step on each store.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from service.core.record import ShowRecords, StageChange
from service.dev.redis_cluster import RedisCluster
from service.dev.redis_server import RedisServer
from service.stores.memory_record import MemoryRecords
from service.stores.redis_record import RedisRecords, connect, room_keys
from tests.bench_load import Verdict

T0 = 1_704_067_200.0
AUDIENCES = (0, 1_000, 10_000, 100_000)
ROUNDS = 100
FLAT_TARGET = 2.0  # slowest / fastest across the audiences, per step


@dataclass(frozen=True)
class StepCost:
    store: str
    hands: int
    raise_us: float
    invite_us: float
    accept_us: float


async def _fill(store: ShowRecords, room: str, hands: int) -> None:
    """`hands` raised hands in `room`, put there in bulk rather than one step each."""
    if isinstance(store, RedisRecords):
        key, batch = room_keys(room)[2], 10_000
        for start in range(0, hands, batch):
            members = {f"viewer-{i}": float(round(T0 * 1000) + i) for i in range(start, min(hands, start + batch))}
            await store.client.zadd(key, members)
    else:
        for i in range(hands):
            await store.set_hand(room, f"viewer-{i}", True, T0, 1)


async def _median_us(step: Callable[[int], Awaitable[object]], rounds: int = ROUNDS) -> float:
    """The lowest of three batches' medians: other work on a shared machine only adds time."""
    medians = []
    for batch in range(3):
        samples = []
        for i in range(batch * rounds, (batch + 1) * rounds):
            started = time.perf_counter()
            await step(i)
            samples.append((time.perf_counter() - started) * 1e6)
        medians.append(statistics.median(samples))
    return min(medians)


async def measure_room(store: ShowRecords, name: str, hands: int) -> StepCost:
    room = f"bench-{name}-{hands}-{time.monotonic_ns()}"
    await store.claim_host(room, "host", "Host", T0, 60)
    await _fill(store, room, hands)
    now = T0 + 1

    async def raise_hand(i: int) -> None:
        await store.set_hand(room, f"raiser-{i}", True, now, 1)

    async def invite(i: int) -> None:
        await store.invite(room, f"invitee-{i}", now, 60, 1, acting="host")

    async def accept(i: int) -> None:
        await store.accept(room, f"invitee-{i}", now, 1)
        await store.unseat(room, f"invitee-{i}", now, StageChange.DEMOTE)  # the seat is free for the next one

    raise_us = await _median_us(raise_hand)
    invite_us = await _median_us(invite)
    # The acceptance is timed with the step that frees the seat again; half of it is the accept.
    accept_us = await _median_us(accept) / 2
    await store.retire(room)
    return StepCost(name, hands, raise_us, invite_us, accept_us)


async def memory_per_10k_hands(store: ShowRecords, name: str) -> int:
    """Bytes that 10,000 raised hands take: Redis's MEMORY USAGE of the room's hands, or what
    tracemalloc sees the process allocate for them."""
    room = f"bench-memory-{name}-{time.monotonic_ns()}"
    if isinstance(store, RedisRecords):
        await _fill(store, room, 10_000)
        used = int(await store.client.memory_usage(room_keys(room)[2], samples=0) or 0)
        await store.retire(room)
        return used
    await store.set_hand(room, "first", True, T0, 1)  # the room itself is not the hands' cost
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    await _fill(store, room, 10_000)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    await store.retire(room)
    return sum(stat.size_diff for stat in after.compare_to(before, "filename"))


@asynccontextmanager
async def _stores(workdir: Path, redis_url: str | None = None) -> AsyncIterator[list[tuple[str, ShowRecords]]]:
    """The three stores; the single redis-server is `redis_url`'s when given, else started here."""
    server = None
    if redis_url is None:
        (workdir / "redis").mkdir()
        server = RedisServer(workdir=workdir / "redis").start()
        redis_url = server.url
    cluster = RedisCluster(workdir=workdir / "cluster").start()
    stores: list[tuple[str, ShowRecords]] = [
        ("memory", MemoryRecords()),
        ("redis", RedisRecords(connect(redis_url, cluster=False))),
        ("cluster", RedisRecords(connect(cluster.url, cluster=True))),
    ]
    try:
        yield stores
    finally:
        for _, store in stores:
            await store.close()
        cluster.stop()
        if server is not None:
            server.stop()


async def measure_stores(
    audiences: tuple[int, ...] = AUDIENCES, redis_url: str | None = None
) -> tuple[list[StepCost], dict[str, int]]:
    with tempfile.TemporaryDirectory(prefix="bench-store-") as folder:
        async with _stores(Path(folder), redis_url) as stores:
            costs = [await measure_room(store, name, hands) for name, store in stores for hands in audiences]
            memory = {name: await memory_per_10k_hands(store, name) for name, store in stores}
    return costs, memory


def spreads(costs: list[StepCost]) -> dict[str, tuple[float, float, float]]:
    """Per store: slowest / fastest across the audiences, for raise, invite and accept."""
    out = {}
    for name in dict.fromkeys(c.store for c in costs):
        mine = [c for c in costs if c.store == name]
        steps = [[c.raise_us for c in mine], [c.invite_us for c in mine], [c.accept_us for c in mine]]
        raise_x, invite_x, accept_x = (max(s) / min(s) for s in steps)
        out[name] = (raise_x, invite_x, accept_x)
    return out


def table(costs: list[StepCost], memory: dict[str, int]) -> str:
    lines = [
        "  one step of the show's record (median us) with N raised hands already in the room",
        f"  {'store':<8} {'N':>8} {'raise hand':>11} {'invite':>9} {'accept':>9}",
    ]
    lines += [
        f"  {c.store:<8} {c.hands:>8,} {c.raise_us:>11.0f} {c.invite_us:>9.0f} {c.accept_us:>9.0f}" for c in costs
    ]
    for name, (r, i, a) in spreads(costs).items():
        worst = max(r, i, a)
        mark = "PASS" if worst <= FLAT_TARGET else "FAIL"
        lines.append(
            f"  {name:<8} slowest / fastest across N: raise {r:.2f}x, invite {i:.2f}x, accept {a:.2f}x"
            f"  (target <= {FLAT_TARGET:g}x)  {mark}"
        )
    lines.append("memory per 10,000 raised hands (the hands alone, the room's other keys aside)")
    for name, used in memory.items():
        lines.append(f"  {name:<8} {used / 1024:8,.0f} KiB  ({used / 10_000:.0f} bytes a hand)")
    return "\n".join(lines)


async def run(redis_url: str) -> list[Verdict]:
    """`make bench`'s store section: the table, and one verdict per store (flat within 2x)."""
    costs, memory = await measure_stores(redis_url=redis_url)
    print(table(costs, memory))
    return [
        Verdict(
            f"store {name} flat 0..100k hands",
            max(x) <= FLAT_TARGET,
            f"raise {x[0]:.2f}x, invite {x[1]:.2f}x, accept {x[2]:.2f}x slowest/fastest",
        )
        for name, x in spreads(costs).items()
    ]


def main() -> None:
    costs, memory = asyncio.run(measure_stores())
    print(table(costs, memory))


if __name__ == "__main__":
    main()
