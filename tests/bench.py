"""`make bench`: the hot paths against their floors, in one run on the real stack (LiveKit dev
server, redis-server, the service as its own process with rate limits off). Prints figures and
PASS/FAIL against issue 7's targets; the targets are ratios to what this same run measured, so a
busy machine moves both sides together.

    floors          a bare grpc.aio server answering an empty message and a bare ASGI app on the
                    HTTP door's uvicorn config, each its own process on the service's event loop
                    (tests/bench_floors.py), started by this run
    viewer joins    JoinRoom as a viewer through each door, 50 concurrent callers: throughput as a
                    share of its floor's, measured right before it, in rounds; the median round
                    decides (target: at least 60%)
    room reads      GetRoom and ListParticipants through each door, 50 concurrent callers: p50
                    against LiveKit's own RoomService answering ListRooms to the same load
                    (target: within 2x; LiveKit's ListParticipants is shown beside it)
    store           tests/bench_store.py (`async def run(redis_url: str) -> list[Verdict]`): one
                    hand raise, invite and accept at 0, 1k, 10k and 100k raised hands on each
                    store (memory, this run's redis-server, a 3-node Redis Cluster it starts),
                    flat within 2x; memory per 10,000 raised hands
    steps           tests/bench_door_steps.py (`async def run(stack: Stack)`): the same three
                    steps through the gRPC door for a viewer connected to LiveKit, the room's
                    hands filled in Redis beforehand, on a second service instance that keeps its
                    record in this run's redis-server; flat within 2x
    storm           tests/bench_storm.py (`async def run(stack: Stack) -> list[Verdict]`): 200
                    livekit.rtc viewers and the host connected, every viewer raises a hand at once;
                    messages LiveKit delivered per raise, an unrelated GetRoom's p99 during it

Options: --seconds S (each measurement, default 3), --only SECTION[,SECTION] (floors are measured
with joins), --rounds N (of floor and door for the viewer joins, default 3; the median round's
share decides). The service and the floors take SHOW_EVENT_LOOP and SHOW_HTTP_PARSER from the
environment, so `SHOW_EVENT_LOOP=asyncio make bench` measures the standard library's loop;
BENCH_PROFILE=FILE runs the service under cProfile and writes its profile to FILE.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import uvloop
from google.protobuf import json_format
from google.protobuf.message import Message
from livekit.protocol import room as lk_room
from showrunner.v1 import show_service_pb2 as pb

from service.dev.livekit_server import LiveKitDevServer, free_port
from service.dev.processes import stop_process
from service.dev.redis_server import RedisServer
from tests.bench_load import (
    Figures,
    Stack,
    Verdict,
    expect_ok,
    grpc_callers,
    http_callers,
    http_request,
    run_load,
)
from tests.conftest import API_KEY, API_SECRET, ROOT, ServiceProcess, admin_token, lister_token

CALLERS = 50
JOIN_SHARE_TARGET = 0.60
READ_P50_TARGET = 2.0
NO_RATE_LIMITS = {f"SHOW_RATE_{b}_PER_MINUTE": "0" for b in ("JOIN", "INVITE", "HAND", "OTHER")}
SERVICE = "/showrunner.v1.ShowService/"


def figures_line(name: str, f: Figures, extra: str = "") -> None:
    failed = f"  {f.failures} failed: {f.failure[:80]}" if f.failures else ""
    cpu = f"{f.cpu_per_call:5.0f} us" if f.cpu_per_call == f.cpu_per_call else "    -   "
    print(f"  {name:<36} {f.rate:>6.0f}/s  p50 {f.p50:6.2f} ms  p99 {f.p99:6.2f} ms  cpu/call {cpu}{extra}{failed}")


def verdict(verdicts: list[Verdict], name: str, passed: bool, detail: str) -> str:
    verdicts.append(Verdict(name, passed, detail))
    return "PASS" if passed else "FAIL"


# --- processes ---------------------------------------------------------------------------------


@dataclass
class Floor:
    process: subprocess.Popen[str]
    port: int

    def stop(self) -> None:
        stop_process(self.process, timeout=10)


def more_descriptors(wanted: int = 65_536) -> int:
    """The storm's 200 WebRTC clients live in this one process and hold 13,000-20,000 file
    descriptors between them (sockets for each one's ICE candidates): as many as the system lets
    this process open, up to `wanted`. Returns the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(hard, wanted)))
    except (ValueError, OSError):  # not allowed past the hard limit here
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def start_floor(kind: str, *args: str, **stack: str) -> Floor:
    """A floor (tests/bench_floors.py) as its own process, on the service's server stack unless
    `stack` names another (SHOW_EVENT_LOOP, SHOW_HTTP_PARSER)."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'gen'}{os.pathsep}{ROOT}", **stack}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.bench_floors", kind, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("floor ready port="):
        process.kill()
        raise RuntimeError(f"the {kind} floor did not start: {line!r}")
    return Floor(process, int(line.strip().rpartition("=")[2]))


def start_service_logging_to(log: Path, livekit: LiveKitDevServer, **env: str) -> ServiceProcess:
    """The service as its own process, as in production: its log lines go to a file, as to a log
    collector, not through a pipe that this process (the load) would have to drain."""
    environment = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'gen'}{os.pathsep}{ROOT}",
        "LIVEKIT_URL": livekit.url,
        "LIVEKIT_API_KEY": livekit.api_key,
        "LIVEKIT_API_SECRET": livekit.api_secret,
        "SHOW_HOST": "127.0.0.1",
        "SHOW_GRPC_PORT": "0",
        **env,
    }
    # BENCH_PROFILE=file: the service runs under cProfile, its profile written there when it stops.
    profile = os.environ.get("BENCH_PROFILE")
    command = [sys.executable, *(("-m", "cProfile", "-o", profile) if profile else ()), "-m", "service"]
    with log.open("w") as sink:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        ready = re.search(r"showrunner ready grpc=(\d+) http=(\d+)", log.read_text())
        if ready:
            return ServiceProcess(process, int(ready.group(1)), int(ready.group(2)), [])
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("the service did not start:\n" + log.read_text()[-4000:])


def rss_mib(pid: int) -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) / 1024
    return 0.0


# --- the doors, as the load sees them ----------------------------------------------------------


def twirp(method: str, message: Message, encoding: str, token: str | None = None) -> bytes:
    headers = {"Content-Type": f"application/{encoding}"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if encoding == "json":
        body = json_format.MessageToJson(message, indent=None).encode()
    else:
        body = message.SerializeToString()
    return http_request("POST", f"/twirp/showrunner.v1.ShowService/{method}", body, headers)


def rest_join(room: str, name: str) -> bytes:
    body = f'{{"roomName":"{room}","participantName":"{name}","role":"viewer"}}'.encode()
    return http_request("POST", "/api/rooms/join", body, {"Content-Type": "application/json"})


async def door_load(
    door: str,
    stack: Stack,
    grpc_method: str,
    messages: list[Message],
    rest: list[bytes],
    token: str | None = None,
) -> Figures:
    """`messages` through `door` (`rest` for the REST door) at CALLERS concurrent callers."""
    service = stack.service
    if door == "grpc":
        async with grpc.aio.insecure_channel(service.grpc_address) as channel:
            metadata = (("authorization", f"Bearer {token}"),) if token else ()
            raw = [m.SerializeToString() for m in messages]
            callers = grpc_callers(channel, SERVICE + grpc_method, raw, CALLERS, metadata)
            await callers[0]()  # the first answer is checked by the call raising on a refusal
            return await run_load(callers, stack.seconds, server=service.process.pid)
    encoding = door.removeprefix("twirp-")
    requests = rest if door == "rest" else [twirp(grpc_method, m, encoding, token) for m in messages]
    return await http_load(service.http_port, requests, stack.seconds, service.process.pid)


async def http_load(port: int, requests: list[bytes], seconds: float, server: int | None = None) -> Figures:
    callers, connections = await http_callers(port, requests, expect_ok, CALLERS)
    try:
        await callers[0]()
        return await run_load(callers, seconds, server=server)
    finally:
        for connection in connections:
            await connection.close()


async def grpc_floor_load(floor: Floor, seconds: float) -> Figures:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{floor.port}") as channel:
        callers = grpc_callers(channel, "/floor.Floor/Empty", [b""], CALLERS)
        await callers[0]()
        return await run_load(callers, seconds, server=floor.process.pid)


DOORS = ("grpc", "twirp-json", "twirp-protobuf", "rest")
# The server stack the service and the floors run on, from the environment, with its defaults.
SERVICE_STACK = {"SHOW_EVENT_LOOP": "uvloop", "SHOW_HTTP_PARSER": "httptools"}


def service_stack() -> dict[str, str]:
    """The server stack this run's service and floors are on: the environment's choice, else
    the defaults."""
    return {name: os.environ.get(name, default) for name, default in SERVICE_STACK.items()}


# --- sections ----------------------------------------------------------------------------------


async def joins(stack: Stack, verdicts: list[Verdict]) -> None:
    room = f"bench-joins-{time.time_ns()}"
    names = [f"viewer-{i}" for i in range(500)]
    messages: list[Message] = [
        pb.JoinRoomRequest(room_name=room, participant_name=n, role=pb.ROLE_VIEWER) for n in names
    ]
    rest = [rest_join(room, n) for n in names]
    grpc_floor, http_floor = start_floor("grpc"), start_floor("http")
    work_log = tempfile.NamedTemporaryFile(prefix="bench-joinwork-", suffix=".log", delete=False)  # noqa: SIM115
    work_log.close()
    join_work = start_floor("joinwork", work_log.name)
    # The stack the issue measured its floor on, for the reading that keeps the floor where it
    # was; the verdicts hold the doors against the floor of the stack the service runs on.
    # (Left out when the service runs on that stack itself: the floor above is that one then.)
    first_stack = {"SHOW_EVENT_LOOP": "asyncio", "SHOW_HTTP_PARSER": "h11"}
    first_floor = start_floor("http", **first_stack) if service_stack() != first_stack else None
    try:
        # This machine's noise moves a floor by a fifth from one run to the next, so each door is
        # measured right after its floor, in JOIN_ROUNDS rounds, and the round with the median
        # share decides: one slow moment moves one round, not the verdict.
        pairs: dict[str, list[tuple[Figures, Figures]]] = {door: [] for door in DOORS}
        for _ in range(stack.rounds):
            grpc_figures = await grpc_floor_load(grpc_floor, stack.seconds)
            pairs["grpc"].append((await door_load("grpc", stack, "JoinRoom", messages, rest), grpc_figures))
            http_figures = await http_load(http_floor.port, rest, stack.seconds, http_floor.process.pid)
            for door in DOORS[1:]:
                pairs[door].append((await door_load(door, stack, "JoinRoom", messages, rest), http_figures))
        # What no JoinRoom can skip (its token, its answer, its request id and log line), alone
        # on the floor's stack: the nearest to the floor any implementation could get.
        work = await http_load(join_work.port, rest, stack.seconds, join_work.process.pid)
        rounds = f"{stack.rounds} rounds, each door right after its floor; the median round's share decides"
        print(f"floors ({CALLERS} concurrent callers; the median of {stack.rounds} rounds, and their range)")
        for name, door in (("grpc.aio, empty message", "grpc"), ("bare ASGI on uvicorn", "rest")):
            floors = sorted((floor for _, floor in pairs[door]), key=lambda f: f.rate)
            spread = f"  rounds {floors[0].rate:.0f}-{floors[-1].rate:.0f}/s"
            figures_line(name, floors[len(floors) // 2], spread)
        target = f"target >= {JOIN_SHARE_TARGET:.0%} of the floor"
        print(f"viewer JoinRoom ({CALLERS} concurrent callers; {target}; {rounds})")
        doors: dict[str, Figures] = {}
        for door, measured in pairs.items():
            ordered = sorted(measured, key=lambda pair: pair[0].rate / pair[1].rate if pair[1].rate else 0.0)
            figures, floor = ordered[len(ordered) // 2]
            doors[door] = figures
            share = figures.rate / floor.rate if floor.rate else 0.0
            # The same share in CPU per call: the floor's cost over the door's, which a busy
            # machine moves less than the rates.
            cpu_share = floor.cpu_per_call / figures.cpu_per_call
            every = "/".join(f"{d.rate / f.rate:.0%}" if f.rate else "-" for d, f in measured)
            passed = share >= JOIN_SHARE_TARGET and all(d.failures == 0 for d, _ in measured)
            detail = f"{share:.0%} of {floor.rate:.0f}/s, median round (rounds {every}; CPU per call {cpu_share:.0%})"
            mark = verdict(verdicts, f"JoinRoom {door}", passed, detail)
            figures_line(door, figures, f"  {share:4.0%} of floor (cpu {cpu_share:4.0%}, rounds {every})  {mark}")
        http_floor_figures = sorted((floor for _, floor in pairs["rest"]), key=lambda f: f.rate)
        median_floor = http_floor_figures[len(http_floor_figures) // 2]
        print("  the HTTP floor plus only a JoinRoom's own work (token, answer, request id, log line):")
        share, cpu_share = work.rate / median_floor.rate, median_floor.cpu_per_call / work.cpu_per_call
        ceiling = f"  {share:4.0%} of floor (cpu {cpu_share:4.0%})  the most any HTTP door could reach"
        figures_line("JoinRoom's own work alone", work, ceiling)
        if first_floor is not None:
            first = await http_load(first_floor.port, rest, stack.seconds, first_floor.process.pid)
            shares = ", ".join(f"{door} {doors[door].rate / first.rate:.0%}" for door in DOORS if door != "grpc")
            print("  the HTTP doors against the floor of the stack the issue first measured, not a verdict:")
            figures_line("bare ASGI on asyncio + h11", first, f"  {shares}")
    finally:
        grpc_floor.stop()
        http_floor.stop()
        join_work.stop()
        if first_floor is not None:
            first_floor.stop()
        os.unlink(work_log.name)


async def room_reads(stack: Stack, verdicts: list[Verdict]) -> None:
    room = f"bench-reads-{time.time_ns()}"
    async with grpc.aio.insecure_channel(stack.service.grpc_address) as channel:
        join = channel.unary_unary(
            SERVICE + "JoinRoom",
            request_serializer=pb.JoinRoomRequest.SerializeToString,
            response_deserializer=pb.JoinRoomResponse.FromString,
        )
        request = pb.JoinRoomRequest(room_name=room, participant_name="host", role=pb.ROLE_HOST)
        host = await join(request, metadata=(("authorization", f"Bearer {admin_token(room)}"),))
    token = host.token
    auth = {"Authorization": f"Bearer {token}"}

    livekit_port = stack.livekit.port
    list_rooms = lk_room.ListRoomsRequest(names=[room]).SerializeToString()
    listing = http_request(
        "POST",
        "/twirp/livekit.RoomService/ListRooms",
        list_rooms,
        {"Content-Type": "application/protobuf", "Authorization": f"Bearer {lister_token()}"},
    )
    lk_list_rooms = await http_load(livekit_port, [listing], stack.seconds)
    participants = lk_room.ListParticipantsRequest(room=room).SerializeToString()
    lk_headers = {"Content-Type": "application/protobuf", "Authorization": f"Bearer {admin_token(room)}"}
    lk_listing = http_request("POST", "/twirp/livekit.RoomService/ListParticipants", participants, lk_headers)
    lk_participants = await http_load(livekit_port, [lk_listing], stack.seconds)
    print(f"room reads ({CALLERS} concurrent callers; target p50 within {READ_P50_TARGET:g}x of LiveKit's ListRooms)")
    figures_line("LiveKit RoomService ListRooms", lk_list_rooms)
    figures_line("LiveKit RoomService ListParticipants", lk_participants)
    reads: list[tuple[str, Message, bytes]] = [
        ("GetRoom", pb.GetRoomRequest(room_name=room), http_request("GET", f"/api/rooms/{room}", b"", auth)),
        (
            "ListParticipants",
            pb.ListParticipantsRequest(room_name=room),
            http_request("GET", f"/api/rooms/{room}/participants", b"", auth),
        ),
    ]
    for rpc, message, rest in reads:
        for door in DOORS:
            figures = await door_load(door, stack, rpc, [message], [rest], token)
            times = figures.p50 / lk_list_rooms.p50
            passed = times <= READ_P50_TARGET and figures.failures == 0
            mark = verdict(verdicts, f"{rpc} {door}", passed, f"p50 {times:.2f}x LiveKit's ListRooms")
            figures_line(f"{rpc} {door}", figures, f"  {times:5.2f}x  {mark}")


async def hook(module: str, title: str, call: Callable[[object], Awaitable[list[Verdict]]]) -> list[Verdict]:
    """Runs another piece's benchmark if it is there; says so plainly if not."""
    print(title)
    try:
        loaded = importlib.import_module(f"tests.{module}")
    except ModuleNotFoundError as exc:
        if exc.name != f"tests.{module}":
            raise
        print(f"  [placeholder] tests/{module}.py is not there yet: no figures for this section")
        return []
    return await call(loaded)


async def store(stack: Stack, verdicts: list[Verdict]) -> None:
    async def run(module: object) -> list[Verdict]:
        result: list[Verdict] = await module.run(stack.redis.url)  # type: ignore[attr-defined]
        return result

    verdicts += await hook(
        "bench_store", "store: one hand raise, invite and accept with 0, 1k, 10k, 100k raised hands", run
    )


async def door_steps(stack: Stack, verdicts: list[Verdict]) -> None:
    async def run(module: object) -> list[Verdict]:
        # A second instance, its record in this run's redis-server, so that the section can fill
        # a room's hands directly; the first keeps the in-process store the other sections use.
        logs = stack.livekit.log_path
        folder = logs.parent if logs else Path(tempfile.mkdtemp(prefix="showrunner-bench-"))
        service = start_service_logging_to(
            folder / "service-redis.log",
            stack.livekit,
            SHOW_REDIS_URL=stack.redis.url,
            **NO_RATE_LIMITS,
        )
        try:
            on_redis = Stack(stack.livekit, stack.redis, service, stack.seconds, stack.rounds)
            result: list[Verdict] = await module.run(on_redis)  # type: ignore[attr-defined]
        finally:
            service.stop()
        return result

    title = "door: one hand raise, invite and accept with 0, 1k, 10k, 100k raised hands, a connected viewer"
    verdicts += await hook("bench_door_steps", title, run)


async def storm(stack: Stack, verdicts: list[Verdict]) -> None:
    async def run(module: object) -> list[Verdict]:
        result: list[Verdict] = await module.run(stack)  # type: ignore[attr-defined]
        return result

    verdicts += await hook(
        "bench_storm", "hand-raise storm: >= 200 connected participants, p99 of an unrelated GetRoom", run
    )


SECTIONS: dict[str, Callable[[Stack, list[Verdict]], Awaitable[None]]] = {
    "joins": joins,
    "reads": room_reads,
    "store": store,
    "steps": door_steps,
    "storm": storm,
}


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--rounds", type=int, default=3, help="rounds of floor and door for the viewer joins")
    args = parser.parse_args(argv)
    more_descriptors()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")

    workdir = Path(tempfile.mkdtemp(prefix="showrunner-bench-"))
    http_port = free_port()
    livekit = LiveKitDevServer(
        api_key=API_KEY,
        api_secret=API_SECRET,
        log_path=workdir / "livekit.log",
        webhook_urls=[f"http://127.0.0.1:{http_port}/webhooks/livekit"],
    ).start()
    redis = RedisServer(workdir=workdir).start()
    service: ServiceProcess | None = None
    verdicts: list[Verdict] = []
    try:
        service = start_service_logging_to(
            workdir / "service.log", livekit, SHOW_HTTP_PORT=str(http_port), **NO_RATE_LIMITS
        )
        stack = Stack(livekit, redis, service, args.seconds, max(1, args.rounds))
        loop, parser_name = service_stack().values()
        print(
            f"Showrunner benchmarks ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
            f"service and floors on {loop} + {parser_name}, {args.seconds:g} s per figure)"
        )
        before = rss_mib(service.process.pid)
        for name in chosen:
            await SECTIONS[name](stack, verdicts)
        print(f"memory: service RSS {before:.1f} MiB at start, {rss_mib(service.process.pid):.1f} MiB at the end")
    finally:
        if service is not None:
            service.stop()
        redis.stop()
        livekit.stop()
    failed = [v for v in verdicts if not v.passed]
    print(f"targets: {len(verdicts) - len(failed)} of {len(verdicts)} met")
    for v in failed:
        print(f"  FAIL {v.name}: {v.detail}")
    return 0


if __name__ == "__main__":
    # The load runs on uvloop whatever the service uses, so that the client stays the same.
    sys.exit(uvloop.run(main(sys.argv[1:])))
