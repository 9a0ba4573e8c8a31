"""Load for `make bench`, and what its sections (and the hooks in other files) share.

Many concurrent callers on one door for a fixed time, with the cheapest clients Python has
(prepared HTTP/1.1 requests on keep-alive connections, raw bytes on one gRPC channel), so that the
server under test, not the client, is what the figures measure."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from service.dev.livekit_server import LiveKitDevServer
from service.dev.redis_server import RedisServer
from tests.conftest import ServiceProcess

Call = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Verdict:
    """One target, met or not, with the figures that decided it."""

    name: str
    passed: bool
    detail: str


@dataclass
class Stack:
    """What one bench run started, for every section (and the hooks in other files) to use."""

    livekit: LiveKitDevServer
    redis: RedisServer
    service: ServiceProcess
    seconds: float
    rounds: int = 3  # of floor and door, for the viewer joins


@dataclass
class Figures:
    """What one load run saw, after its warm-up."""

    calls: int
    seconds: float
    latencies: list[float] = field(repr=False)
    failures: int = 0
    failure: str = ""
    server_cpu: float = float("nan")  # CPU seconds the server process spent in the counted window

    @property
    def cpu_per_call(self) -> float:
        """Microseconds of the server's CPU per call: steadier than the rate on a shared machine."""
        return self.server_cpu / self.calls * 1e6 if self.calls else float("nan")

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """Milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        if p == 50:
            return statistics.median(ordered) * 1000
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process (and its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_load(
    callers: list[Call],
    seconds: float = 3.0,
    warmup: float = 0.5,
    until: asyncio.Event | None = None,
    server: int | None = None,
) -> Figures:
    """Each caller calls in a loop, one call in flight at a time, for `warmup` then `seconds`
    (or until `until` is set); calls that end after the warm-up are counted, and the CPU time the
    `server` process (a pid) spent meanwhile."""
    latencies: list[float] = []
    failures: list[str] = []
    started = time.perf_counter()
    counting_from = started + warmup
    deadline = counting_from + seconds

    async def caller(call: Call) -> None:
        while True:
            now = time.perf_counter()
            if (until is not None and until.is_set()) or (until is None and now >= deadline):
                return
            try:
                await call()
            except Exception as exc:
                failures.append(repr(exc))
                await asyncio.sleep(0.01)
                continue
            done = time.perf_counter()
            if done >= counting_from:
                latencies.append(done - now)

    async def sample_cpu() -> float:
        await asyncio.sleep(max(0.0, counting_from - time.perf_counter()))
        return cpu_seconds(server) if server else float("nan")

    cpu_from = asyncio.ensure_future(sample_cpu())
    await asyncio.gather(*(caller(c) for c in callers))
    ended = time.perf_counter()
    server_cpu = cpu_seconds(server) - await cpu_from if server else float("nan")
    first_failure = failures[0] if failures else ""
    return Figures(len(latencies), ended - counting_from, latencies, len(failures), first_failure, server_cpu)


class BadAnswer(Exception):
    pass


def http_request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    """One HTTP/1.1 request, ready to send again and again on a keep-alive connection."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class HttpConnection:
    """One keep-alive connection; `call` sends a prepared request and reads the whole answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def call(self, request: bytes) -> tuple[int, bytes]:
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lowered = head.lower()
        at = lowered.find(b"content-length:")
        if at >= 0:
            length = int(lowered[at + 15 : lowered.index(b"\r\n", at)])
            return status, await self._reader.readexactly(length)
        if b"transfer-encoding: chunked" not in lowered:
            raise BadAnswer(f"an answer with neither content-length nor chunks: {head!r}")
        body = b""
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await self._reader.readexactly(size + 2)
            if size == 0:
                return status, body
            body += chunk[:-2]

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()


async def http_callers(
    port: int, requests: list[bytes], check: Callable[[int, bytes], None], concurrency: int
) -> tuple[list[Call], list[HttpConnection]]:
    """`concurrency` callers, each on its own connection, cycling through `requests`."""
    connections = [await HttpConnection.open(port) for _ in range(concurrency)]

    def caller(connection: HttpConnection, offset: int) -> Call:
        turn = offset

        async def call() -> None:
            nonlocal turn
            turn += 1
            status, body = await connection.call(requests[turn % len(requests)])
            check(status, body)

        return call

    return [caller(c, i * 7) for i, c in enumerate(connections)], connections


def expect_ok(status: int, body: bytes) -> None:
    if status != 200:
        raise BadAnswer(f"HTTP {status}: {body[:200]!r}")


def grpc_callers(
    channel: grpc.aio.Channel,
    method: str,
    requests: list[bytes],
    concurrency: int,
    metadata: tuple[tuple[str, str], ...] = (),
) -> list[Call]:
    """`concurrency` callers on one channel (HTTP/2 streams side by side), sending raw bytes."""
    multicallable = channel.unary_unary(method)

    def caller(offset: int) -> Call:
        turn = offset

        async def call() -> None:
            nonlocal turn
            turn += 1
            await multicallable(requests[turn % len(requests)], metadata=metadata or None)

        return call

    return [caller(i * 7) for i in range(concurrency)]
