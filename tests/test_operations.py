"""Running the service: request ids in answers and logs, CORS for browsers, graceful shutdown with
calls in flight, settings from a file, and clear start-up refusals."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
import pytest
from showrunner.v1 import show_service_pb2 as pb
from showrunner.v1 import show_service_pb2_grpc as pb_grpc

from service.dev.livekit_server import LiveKitDevServer, free_port
from service.dev.redis_server import RedisServer
from tests.conftest import API_KEY, API_SECRET, ROOT, ServiceProcess, admin_token, start_service
from tests.doors import client_for
from tests.egress_standin import EgressStandIn
from tests.live import eventually, until


def log_lines(service: ServiceProcess) -> list[dict[str, object]]:
    lines = []
    for line in service.output:
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


async def test_every_answer_carries_a_request_id_that_the_logs_carry_too(service: ServiceProcess, room: str) -> None:
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        mine = await http.get(f"/api/rooms/{room}", headers={"x-request-id": "trace-42"})
        assert mine.headers["x-request-id"] == "trace-42"
        fresh = await http.post(
            "/twirp/showrunner.v1.ShowService/GetRoom", json={"room_name": room}, headers={"x-request-id": "bad id!"}
        )
        assert len(fresh.headers["x-request-id"]) == 32 and fresh.headers["x-request-id"] != "bad id!"
        assert (await http.get("/health")).headers["x-request-id"]
    async with grpc.aio.insecure_channel(service.grpc_address) as channel:
        call = pb_grpc.ShowServiceStub(channel).GetRoom(
            pb.GetRoomRequest(room_name=room), metadata=(("x-request-id", "trace-43"),)
        )
        with pytest.raises(grpc.aio.AioRpcError):
            await call
        assert dict(await call.trailing_metadata())["x-request-id"] == "trace-43"
        # An answer carries it in its trailers too, and one the caller did not name gets a fresh one.
        joined = pb_grpc.ShowServiceStub(channel).JoinRoom(
            pb.JoinRoomRequest(room_name=room, participant_name="traced", role=pb.ROLE_VIEWER)
        )
        assert (await joined).identity == "traced"
        assert len(dict(await joined.trailing_metadata())["x-request-id"]) == 32

    def served_now() -> dict[object, dict[str, object]]:
        return {
            line.get("request_id"): line for line in log_lines(service) if line.get("logger") == "showrunner.requests"
        }

    # The service's log lines reach us through a pipe.
    await eventually(lambda: {"trace-42", "trace-43"} <= set(served_now()), label="both calls logged")
    lines = log_lines(service)
    served = served_now()
    assert served["trace-42"]["rpc"] == "GetRoom" and served["trace-42"]["door"] == "rest"
    assert served["trace-42"]["code"] == "UNAUTHENTICATED"
    assert served["trace-43"]["door"] == "grpc"
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)


@pytest.mark.parametrize("grpc_server", ["zttp", "grpcio"])
async def test_the_servers_own_warnings_are_json_log_lines_too(livekit: LiveKitDevServer, grpc_server: str) -> None:
    """uvicorn configured its own loggers with a plain-text handler: its warnings of bytes that
    are not HTTP, and the door's own answer to them, were plain text among the JSON lines. On
    grpc.aio (SHOW_GRPC_SERVER=grpcio) the gRPC port's garbage is refused without a line."""
    service = start_service(livekit, SHOW_GRPC_SERVER=grpc_server)
    try:
        await _garbage_on_both_ports(service, grpc_warns=grpc_server == "zttp")
    finally:
        service.stop()


async def _garbage_on_both_ports(service: ServiceProcess, grpc_warns: bool) -> None:

    def garbage(port: int, data: bytes) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(data)
            with contextlib.suppress(OSError):
                while conn.recv(65536):
                    pass

    settings_frame_of_a_wrong_size = b"\x00\x00\x03\x04\x00\x00\x00\x00\x00abc"
    await asyncio.to_thread(garbage, service.http_port, b"\x16\x03\x01 not HTTP\r\n\r\n")
    await asyncio.to_thread(
        garbage, service.grpc_port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + settings_frame_of_a_wrong_size
    )

    def warned() -> bool:
        told = [str(line.get("message", "")) for line in log_lines(service)]
        return any("not valid HTTP" in m for m in told) and (not grpc_warns or any("HTTP/2" in m for m in told))

    await eventually(warned)
    plain = [line for line in service.output if not line.lstrip().startswith("{") and "showrunner ready" not in line]
    assert plain == [], plain


async def test_a_librarys_warning_is_a_json_log_line_like_any_other(tmp_path: Path) -> None:
    """PyJWT warns when the LiveKit secret is short (the dev server's own `secret`); Python wrote
    the warning to stderr in plain text, two lines among the service's JSON ones."""
    short = LiveKitDevServer(log_path=tmp_path / "livekit.log").start()  # devkey / secret
    running = start_service(short)
    try:
        async with httpx.AsyncClient(base_url=running.http_base) as http:
            joined = await http.post(
                "/api/rooms/join", json={"roomName": "r", "participantName": "ann", "role": "viewer"}
            )
            assert joined.status_code == 200, joined.text
            mine = {"authorization": f"Bearer {joined.json()['token']}"}
            assert (await http.get("/api/rooms/r", headers=mine)).status_code < 500  # the token verified
        # The service's log lines reach us through a pipe.
        await eventually(lambda: any(line.get("logger") == "py.warnings" for line in log_lines(running)))
        warned = [line for line in log_lines(running) if line.get("logger") == "py.warnings"]
        assert warned and all("InsecureKeyLengthWarning" in str(line["message"]) for line in warned), warned
        plain = [line for line in running.output if "Warning" in line and not line.lstrip().startswith("{")]
        assert plain == [], plain
    finally:
        running.stop()
        short.stop()


async def test_configured_browser_origins_pass_cors_preflight(service: ServiceProcess) -> None:
    preflight = {
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        for path in ("/twirp/showrunner.v1.ShowService/JoinRoom", "/api/rooms/join"):
            reply = await http.options(path, headers=preflight)
            assert reply.status_code == 200, path
            assert reply.headers["access-control-allow-origin"] == "https://app.example.com"
            assert "authorization" in reply.headers["access-control-allow-headers"].lower()
            assert "POST" in reply.headers["access-control-allow-methods"]
        refused = await http.options("/api/rooms/join", headers={**preflight, "Origin": "https://evil.example.net"})
        assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
        simple = await http.get("/health", headers={"Origin": "https://app.example.com"})
        assert simple.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()


async def test_sigterm_drains_calls_in_flight_then_exits_zero(livekit: LiveKitDevServer, egress: EgressStandIn) -> None:
    running = start_service(
        livekit, SHOW_EGRESS_URL=egress.url, SHOW_SHUTDOWN_GRACE_SECONDS="15", SHOW_EGRESS_TIMEOUT_SECONDS="10"
    )
    rest = client_for("rest", running.grpc_address, running.http_base)
    grpc_door = client_for("grpc", running.grpc_address, running.http_base)
    rooms = [f"drain-{i}-{time.time_ns()}" for i in range(2)]
    try:
        hosts = [await rest.as_(admin_token(r)).join(r, "host", "host") for r in rooms]
        egress.delay = 2.5  # each StartRecording now waits on "LiveKit" for 2.5 s
        in_flight = [
            asyncio.create_task(rest.as_(hosts[0]["token"]).start_recording(rooms[0], "grid")),
            asyncio.create_task(grpc_door.as_(hosts[1]["token"]).start_recording(rooms[1], "speaker")),
        ]
        await asyncio.sleep(0.8)
        running.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        with pytest.raises(httpx.ConnectError):  # no longer accepting
            async with httpx.AsyncClient(base_url=running.http_base) as http:
                await http.get("/health")
        done = await asyncio.gather(*in_flight)
        assert all(d["recordingId"].startswith("EG_") for d in done)  # both finished, answered
        assert await asyncio.to_thread(running.process.wait, 20) == 0
        assert any("stopping" in str(line.get("message")) for line in log_lines(running))
    finally:
        egress.delay = 0.0
        await rest.close()
        await grpc_door.close()
        running.stop()


async def test_sigterm_lets_a_recording_start_whose_caller_went_away_finish(
    livekit: LiveKitDevServer, egress: EgressStandIn, redis_server: RedisServer, room: str
) -> None:
    """A StartRecording whose caller's deadline passed runs on without it (its start and the
    record's update, see "Recording"); SIGTERM then lets it end like any call in flight, rather
    than close LiveKit's session and Redis under it: the egress LiveKit started is in the record
    another instance reads, and can be stopped there."""
    env = {
        "SHOW_EGRESS_URL": egress.url,
        "SHOW_REDIS_URL": redis_server.url,
        "SHOW_SHUTDOWN_GRACE_SECONDS": "15",
        "SHOW_EGRESS_TIMEOUT_SECONDS": "10",
    }
    first = start_service(livekit, **env)
    second: ServiceProcess | None = None
    rest = client_for("rest", first.grpc_address, first.http_base)
    try:
        host = (await rest.as_(admin_token(room)).join(room, "host", "host"))["token"]
        egress.delay = 2.5  # LiveKit takes 2.5 s to start the egress
        async with grpc.aio.insecure_channel(first.grpc_address) as channel:
            request = pb.StartRecordingRequest(room_name=room, layout=pb.RECORDING_LAYOUT_GRID)
            with pytest.raises(grpc.aio.AioRpcError) as gone:
                await pb_grpc.ShowServiceStub(channel).StartRecording(
                    request, timeout=0.3, metadata=(("authorization", f"Bearer {host}"),)
                )
            assert gone.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        first.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(first.process.wait, 20) == 0

        async def started_by_livekit() -> bool:  # whether or not the service was there for the answer
            return any(info.room_name == room for info in egress.egresses.values())

        await until(started_by_livekit, 10.0, "LiveKit starting the egress")
        started = [info.egress_id for info in egress.egresses.values() if info.room_name == room]
        assert len(started) == 1

        second = start_service(livekit, **env)
        admin = client_for("rest", second.grpc_address, second.http_base).as_(admin_token(room))
        try:
            [kept] = await admin.recordings(room)
            assert kept["recordingId"] == started[0] and kept["status"] == "EGRESS_STARTING", kept
            assert (await admin.stop_recording(room))["recordingId"] == started[0]
        finally:
            await admin.close()
    finally:
        egress.delay = 0.0
        await rest.close()
        first.stop()
        if second is not None:
            second.stop()


def run_service(env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT / 'gen'}:{ROOT}"}
    return subprocess.run(
        [sys.executable, "-m", "service"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_settings_may_come_from_a_file(livekit: LiveKitDevServer, tmp_path: Path) -> None:
    http_port = free_port()
    config = tmp_path / "showrunner.toml"
    config.write_text(
        f'LIVEKIT_URL = "{livekit.url}"\nLIVEKIT_API_KEY = "{API_KEY}"\nLIVEKIT_API_SECRET = "{API_SECRET}"\n'
        f'SHOW_HTTP_PORT = {http_port}\nSHOW_GRPC_PORT = 0\nSHOW_CORS_ORIGINS = ["https://a.example.com"]\n'
        "SHOW_ROOM_CACHE_SECONDS = 0.5\n"  # a decimal, as the environment takes it
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "service"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT / 'gen'}:{ROOT}", "SHOW_CONFIG_FILE": str(config)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "showrunner ready" in line:
                break
        reply = httpx.get(f"http://127.0.0.1:{http_port}/health", headers={"Origin": "https://a.example.com"})
        assert reply.status_code == 200 and reply.headers["access-control-allow-origin"] == "https://a.example.com"
    finally:
        process.terminate()
        assert process.wait(20) == 0


def test_a_misspelt_setting_is_warned_of_once_and_the_service_starts(livekit: LiveKitDevServer) -> None:
    running = start_service(livekit, SHOW_RATE_JOIN_PER_MINUT="0", SHOW_TELEPROMPTER_LINES="4")
    try:
        assert httpx.get(f"{running.http_base}/ready").status_code == 200
        warned = [line for line in log_lines(running) if line.get("setting")]
        assert [(line["level"], line["logger"], line["setting"], line.get("closest")) for line in warned] == [
            ("warning", "showrunner", "SHOW_RATE_JOIN_PER_MINUT", "SHOW_RATE_JOIN_PER_MINUTE"),
            ("warning", "showrunner", "SHOW_TELEPROMPTER_LINES", None),
        ]
        assert warned[0]["message"] == (
            "SHOW_RATE_JOIN_PER_MINUT is not a setting of this version and is ignored;"
            " did you mean SHOW_RATE_JOIN_PER_MINUTE?"
        )
        assert warned[1]["message"] == "SHOW_TELEPROMPTER_LINES is not a setting of this version and is ignored"
    finally:
        running.stop()


def test_bad_settings_are_all_reported_before_any_port_opens(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    port = free_port()
    config.write_text(f'LIVEKIT_URL = "ftp://nowhere"\nSHOW_HTTP_PORT = {port}\nSHOW_COLOUR = "blue"\n')
    done = run_service({"SHOW_CONFIG_FILE": str(config), "SHOW_RECORDING_S3_BUCKET": "b", "SHOW_CORS_ORIGINS": "app"})
    assert done.returncode == 2
    for problem in (
        "unknown setting 'SHOW_COLOUR'",
        "LIVEKIT_URL must be a URL starting with one of http://, https://, ws://, wss://; got 'ftp://nowhere'",
        "LIVEKIT_API_KEY is required",
        "SHOW_RECORDING_S3_BUCKET needs SHOW_RECORDING_S3_ACCESS_KEY and SHOW_RECORDING_S3_SECRET",
        "SHOW_CORS_ORIGINS entries must be origins like https://app.example.com, got 'app'",
    ):
        assert problem in done.stderr, done.stderr
    assert "showrunner ready" not in done.stdout
    missing = run_service({"SHOW_CONFIG_FILE": str(tmp_path / "absent.toml")})
    assert missing.returncode == 2 and "cannot be read" in missing.stderr
    # A variable set blank (a deployment template's empty value) leaves the file's value standing,
    # as a blank variable means "not set" everywhere else; one with a value wins over the file.
    config.write_text(f'LIVEKIT_API_KEY = "{API_KEY}"\nSHOW_GUEST_LIMIT = 3\n')
    blank = run_service({"SHOW_CONFIG_FILE": str(config), "LIVEKIT_API_KEY": " ", "SHOW_GUEST_LIMIT": "70"})
    assert "LIVEKIT_API_KEY is required" not in blank.stderr, blank.stderr
    assert "SHOW_GUEST_LIMIT must be between 1 and 16, got 70" in blank.stderr, blank.stderr


def test_a_taken_port_or_an_unreachable_redis_is_a_clear_refusal_to_start(livekit: LiveKitDevServer) -> None:
    base = {"LIVEKIT_URL": livekit.url, "LIVEKIT_API_KEY": API_KEY, "LIVEKIT_API_SECRET": API_SECRET}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_service({**base, "SHOW_HTTP_PORT": str(port), "SHOW_GRPC_PORT": "0"})
    assert done.returncode == 1
    assert f"showrunner: cannot start: the HTTP door cannot listen on 127.0.0.1:{port}" in done.stderr
    dead = f"redis://127.0.0.1:{free_port()}/0"
    done = run_service({**base, "SHOW_REDIS_URL": dead, "SHOW_HTTP_PORT": "0", "SHOW_GRPC_PORT": "0"})
    assert done.returncode == 1 and f"SHOW_REDIS_URL {dead} cannot be reached" in done.stderr
    # Redis' password stays out of the refusal, and the LiveKit session opened before it is closed.
    port = free_port()
    guarded = f"redis://showrunner:hunter2@127.0.0.1:{port}/0"
    done = run_service({**base, "SHOW_REDIS_URL": guarded, "SHOW_HTTP_PORT": "0", "SHOW_GRPC_PORT": "0"})
    assert done.returncode == 1, done.stderr
    assert f"SHOW_REDIS_URL redis://showrunner:***@127.0.0.1:{port}/0 cannot be reached" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout
    # So does one given in the URL's query, which redis-py reads as well.
    queried = f"redis://127.0.0.1:{port}/0?password=hunter2&socket_timeout=5"
    done = run_service({**base, "SHOW_REDIS_URL": queried, "SHOW_HTTP_PORT": "0", "SHOW_GRPC_PORT": "0"})
    assert f"redis://127.0.0.1:{port}/0?password=***&socket_timeout=5 cannot be reached" in done.stderr, done.stderr
    assert "hunter2" not in done.stderr + done.stdout
    assert "Unclosed" not in done.stderr, done.stderr
