"""Limits at the edges (slow bodies, idle connections, slow headers) and honest readiness: the
instance says NOT_SERVING, with the reason (never an address), while Redis or LiveKit cannot be
reached, and SERVING again once they can; /metrics does not export gauges it could not read."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis.exceptions import RedisError

from service.dev.livekit_server import LiveKitDevServer
from service.dev.redis_cluster import RedisCluster
from service.dev.redis_server import RedisServer
from service.stores.redis_record import connect
from tests.conftest import API_KEY, API_SECRET, ServiceProcess, start_service

SERVICE = "showrunner.v1.ShowService"


@pytest.fixture(scope="module")
def strict_service(livekit: LiveKitDevServer) -> Iterator[ServiceProcess]:
    """An instance with short edge timeouts, so the tests need not wait long."""
    running = start_service(livekit, SHOW_HTTP_BODY_SECONDS="2", SHOW_HTTP_HEADER_SECONDS="2")
    yield running
    running.stop()


def _connect(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.settimeout(10)
    return conn


def _read_all(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := conn.recv(4096):
        received += chunk
    return received


def _slow_body(port: int, path: str, content_type: str) -> tuple[bytes, float]:
    conn = _connect(port)
    started = time.monotonic()
    head = (
        f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: {content_type}\r\ncontent-length: 100\r\n"
        "x-request-id: trace-slow-body\r\n\r\n"
    )
    conn.sendall(head.encode())
    answer = b""
    with contextlib.suppress(OSError):
        for _ in range(20):  # one byte a second, as the slow client does
            conn.sendall(b"{")
            conn.settimeout(1.0)
            try:
                answer = conn.recv(4096)
            except TimeoutError:
                continue
            if answer:
                conn.settimeout(5)
                answer += _read_all(conn)
                break
    conn.close()
    return answer, time.monotonic() - started


@pytest.mark.parametrize(
    ("path", "content_type", "expected_body"),
    [
        ("/api/rooms/join", "application/json", b'{"error":"the request body did not arrive within 2 s"}'),
        (
            "/twirp/showrunner.v1.ShowService/JoinRoom",
            "application/json",
            b'{"code":"deadline_exceeded","msg":"the request body did not arrive within 2 s"}',
        ),
    ],
)
async def test_a_body_sent_one_byte_a_second_ends_with_408(
    strict_service: ServiceProcess, path: str, content_type: str, expected_body: bytes
) -> None:
    answer, took = await asyncio.to_thread(_slow_body, strict_service.http_port, path, content_type)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert answer.endswith(expected_body)
    assert b"connection: close" in answer.lower()
    assert b"x-request-id: trace-slow-body\r\n" in answer  # every answer carries the request's id
    assert took < 6


def _response(conn: socket.socket) -> bytes:
    """One whole response with a Content-Length, read off a kept-alive connection."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += conn.recv(4096)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    while len(body) < length:
        body += conn.recv(4096)
    return head + b"\r\n\r\n" + body


async def test_a_body_in_pieces_within_the_deadline_is_served_and_the_connection_lives_on(
    strict_service: ServiceProcess,
) -> None:
    """The body's timer runs only while a body is on its way: armed by a header whose body is
    still coming, stopped by the body's last byte, never firing on a connection that went quiet
    after its answer."""

    def pieces() -> list[bytes]:
        conn = _connect(strict_service.http_port)
        try:
            body = b'{"roomName":"edge-pieces","participantName":"viewer-1","role":"viewer"}'
            head = (
                "POST /api/rooms/join HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\n\r\n"
            )
            conn.sendall(head.encode())
            time.sleep(0.5)
            conn.sendall(body[:10])
            time.sleep(0.5)
            conn.sendall(body[10:])
            first = _response(conn)
            time.sleep(2.5)  # past the 2 s body deadline: nothing may fire now
            conn.sendall(head.encode() + body)
            return [first, _response(conn)]
        finally:
            conn.close()

    answers = await asyncio.to_thread(pieces)
    assert [a.split(b"\r\n")[0] for a in answers] == [b"HTTP/1.1 200 OK"] * 2, answers
    assert all(b'"token"' in a for a in answers)


@pytest.mark.parametrize("path", ["/api/rooms/join", "/twirp/showrunner.v1.ShowService/JoinRoom", "/webhooks/livekit"])
async def test_a_client_gone_before_its_body_arrived_leaves_no_error_behind(
    strict_service: ServiceProcess, path: str
) -> None:
    """A client that closes its connection partway through its body has nobody to be answered:
    the request ends quietly, with no error in the log, and the instance serves on."""
    logged = len(strict_service.output)

    def gone() -> None:
        conn = _connect(strict_service.http_port)
        head = f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n"
        conn.sendall(head.encode() + b'{"room')
        time.sleep(0.2)  # the body's first piece is read before the connection goes
        conn.close()

    await asyncio.to_thread(gone)
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{strict_service.http_base}/health")).status_code == 200
    await asyncio.sleep(0.5)  # whatever the instance would log of it is logged by now
    after = "".join(strict_service.output[logged:])
    assert "Exception" not in after and "Traceback" not in after, after


async def test_connections_that_send_nothing_are_closed_after_the_header_timeout(
    strict_service: ServiceProcess,
) -> None:
    def idle_connections() -> list[bytes]:
        connections = [_connect(strict_service.http_port) for _ in range(50)]
        try:
            return [_read_all(c) for c in connections]  # returns once the server closed each
        finally:
            for c in connections:
                c.close()

    started = time.monotonic()
    answers = await asyncio.to_thread(idle_connections)
    assert answers == [b""] * 50
    assert time.monotonic() - started < 8


async def test_a_header_that_never_ends_is_cut_off(strict_service: ServiceProcess) -> None:
    def partial_header() -> bytes:
        conn = _connect(strict_service.http_port)
        try:
            conn.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\n")  # and never the blank line
            return _read_all(conn)
        finally:
            conn.close()

    started = time.monotonic()
    assert await asyncio.to_thread(partial_header) == b""
    assert time.monotonic() - started < 6


async def test_a_header_past_64_kib_is_answered_431_and_the_connection_closed(strict_service: ServiceProcess) -> None:
    def long_header() -> bytes:
        conn = _connect(strict_service.http_port)
        try:
            conn.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nx-long: ")
            time.sleep(0.1)  # the header begins in a read of its own; the rest counts
            with contextlib.suppress(OSError):  # the server closes before it has read everything
                conn.sendall(b"a" * 256 * 1024)
            received = b""
            with contextlib.suppress(ConnectionResetError):
                while chunk := conn.recv(4096):
                    received += chunk
            return received
        finally:
            conn.close()

    answer = await asyncio.to_thread(long_header)
    assert answer.startswith(b"HTTP/1.1 431 "), answer  # not cut off, silently, by the header timeout
    assert answer.endswith(b'{"error":"the request header is larger than 64 KiB"}')
    assert re.search(rb"\r\nx-request-id: [0-9a-f]{32}\r\n", answer), answer  # one of its own
    async with httpx.AsyncClient(base_url=strict_service.http_base) as client:
        assert (await client.get("/health")).status_code == 200


async def test_bytes_that_are_not_http_are_answered_400_with_a_request_id_the_log_names(
    strict_service: ServiceProcess,
) -> None:
    """uvicorn's parser refuses them and answered in plain text with no request id, the one
    answer of the port without one; now in JSON, with an id of its own that the log names."""

    def garbage() -> bytes:
        conn = _connect(strict_service.http_port)
        try:
            conn.sendall(b"\x16\x03\x01 this is not HTTP\r\n\r\n")  # a TLS hello's first bytes, and worse
            return _read_all(conn)
        finally:
            conn.close()

    answer = await asyncio.to_thread(garbage)
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert answer.endswith(b'{"error":"the request is not valid HTTP/1.1"}'), answer
    found = re.search(rb"\r\nx-request-id: ([0-9a-f]{32})\r\n", answer)
    assert found, answer
    request_id = found.group(1).decode()

    async def logged() -> bool:
        return any(request_id in line and "400" in line for line in strict_service.output)

    deadline = time.monotonic() + 5
    while not await logged():
        assert time.monotonic() < deadline, "".join(strict_service.output[-10:])
        await asyncio.sleep(0.05)
    async with httpx.AsyncClient(base_url=strict_service.http_base) as client:
        assert (await client.get("/health")).status_code == 200


async def test_a_cap_of_one_connection_serves_one_client_and_refuses_a_second(livekit: LiveKitDevServer) -> None:
    """SHOW_MAX_CONNECTIONS is how many are served; one past it is refused. A cap of 1 refused
    every request, its own connection counted against it (a lone probe's /health answered 503)."""
    running = start_service(livekit, SHOW_MAX_CONNECTIONS="1")

    def health(*, beside_a_quiet_one: bool) -> bytes:
        quiet = _connect(running.http_port) if beside_a_quiet_one else None
        conn = _connect(running.http_port)
        try:
            conn.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            return _read_all(conn)
        finally:
            conn.close()
            if quiet is not None:
                quiet.close()

    try:
        alone = await asyncio.to_thread(health, beside_a_quiet_one=False)
        assert alone.startswith(b"HTTP/1.1 200 "), alone
        second = await asyncio.to_thread(health, beside_a_quiet_one=True)
        assert second.startswith(b"HTTP/1.1 503 "), second
    finally:
        running.stop()


@pytest.mark.parametrize("parser", ["httptools", "h11"])
async def test_past_the_connection_cap_a_request_is_answered_503_in_json_with_a_request_id(
    livekit: LiveKitDevServer, parser: str
) -> None:
    """Past SHOW_MAX_CONNECTIONS uvicorn answered 503 itself, in plain text with no request id
    and no Retry-After; now in the door's words, with the client's request id (or one of its
    own) that the log names, and the connection closed. Below the cap, answers are as before."""
    running = start_service(livekit, SHOW_MAX_CONNECTIONS="2", SHOW_HTTP_PARSER=parser)

    def past_cap(path: str, request_id: str) -> bytes:
        # Two open and quiet: with this request's own, one past the cap.
        with _connect(running.http_port), _connect(running.http_port):
            conn = _connect(running.http_port)
            try:
                head = f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n"
                conn.sendall(f"{head}x-request-id: {request_id}\r\n\r\n{{}}".encode())
                return _read_all(conn)
            finally:
                conn.close()

    try:
        rest = await asyncio.to_thread(past_cap, "/api/rooms/join", "trace-over-cap")
        assert rest.startswith(b"HTTP/1.1 503 "), rest
        head = rest.split(b"\r\n\r\n", 1)[0].lower()
        for header in (b"x-request-id: trace-over-cap", b"retry-after: 1", b"connection: close"):
            assert b"\r\n" + header + b"\r\n" in head + b"\r\n", rest
        assert rest.endswith(b'{"error":"the service is at its limit of connections; try again shortly"}'), rest
        twirp = await asyncio.to_thread(past_cap, "/twirp/showrunner.v1.ShowService/JoinRoom", "trace-over-cap-2")
        assert twirp.startswith(b"HTTP/1.1 503 "), twirp
        assert twirp.endswith(
            b'"code":"unavailable","msg":"the service is at its limit of connections; try again shortly"}'
        )

        deadline = time.monotonic() + 5
        while not any("trace-over-cap-2" in line and "503" in line for line in running.output):
            assert time.monotonic() < deadline, "".join(running.output[-10:])
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=running.http_base) as client:  # alone, below the cap
            joined = await client.post(
                "/api/rooms/join", json={"roomName": "r", "participantName": "ann", "role": "viewer"}
            )
            assert joined.status_code == 200, joined.text
    finally:
        running.stop()


async def test_a_keep_alive_connection_serves_requests_one_after_another(strict_service: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=strict_service.http_base) as client:
        for _ in range(3):
            assert (await client.get("/health")).status_code == 200
            await asyncio.sleep(0.5)
        joined = await client.post(
            "/api/rooms/join", json={"roomName": "edge-room", "participantName": "viewer-1", "role": "viewer"}
        )
        assert joined.status_code == 200


# --- readiness ---------------------------------------------------------------------------


async def _grpc_status(address: str, service: str) -> int:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        answer = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return int(answer.status)


async def _eventually(check: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            assert callable(check)
            await check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


async def test_an_instance_is_not_ready_while_redis_is_down_and_ready_again_after(
    livekit: LiveKitDevServer, tmp_path: Path
) -> None:
    redis = RedisServer(workdir=tmp_path).start()
    running = start_service(livekit, SHOW_REDIS_URL=redis.url, SHOW_READY_INTERVAL_SECONDS="1")
    try:
        async with httpx.AsyncClient(base_url=running.http_base) as client:
            ready = await client.get("/ready")
            assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
            assert await _grpc_status(running.grpc_address, SERVICE) == health_pb2.HealthCheckResponse.SERVING
            assert "showrunner_rooms " in (await client.get("/metrics")).text

            redis.stop()

            async def not_ready() -> None:
                answer = await client.get("/ready")
                assert answer.status_code == 503
                # Which dependency fails and how, not where it lives: the log tells that.
                assert answer.json() == {"status": "not_ready", "reasons": ["store: ConnectionError"]}

            await _eventually(not_ready)
            assert any("not ready: store: The state store is unavailable" in line for line in running.output)
            # A call that needs the store hears so, not where the store lives; the log tells that.
            joined = await client.post(
                "/api/rooms/join", json={"roomName": "r", "participantName": "ann", "role": "viewer"}
            )
            assert joined.status_code == 503, joined.text
            assert joined.json()["error"] == "The state store is unavailable (ConnectionError)", joined.text

            async def logged_where() -> None:  # the log's reader thread may be a moment behind
                told = f"127.0.0.1:{redis.port}"
                assert any(told in line and "state store unavailable" in line for line in running.output)

            await _eventually(logged_where)
            status = await _grpc_status(running.grpc_address, SERVICE)
            assert status == health_pb2.HealthCheckResponse.NOT_SERVING
            # Liveness is another question: the process runs and answers.
            assert (await client.get("/health")).status_code == 200
            assert await _grpc_status(running.grpc_address, "") == health_pb2.HealthCheckResponse.SERVING
            page = (await client.get("/metrics")).text
            assert "showrunner_rooms " not in page and "showrunner_raised_hands " not in page
            failures = [x for x in page.splitlines() if x.startswith("showrunner_gauge_refresh_failures_total ")]
            assert failures and float(failures[0].split()[1]) >= 1
            assert "showrunner_requests_total" in page  # the counters are still there

            redis = RedisServer(workdir=tmp_path, port=redis.port).start()

            async def ready_again() -> None:
                answer = await client.get("/ready")
                assert answer.status_code == 200, answer.text

            await _eventually(ready_again)
            assert await _grpc_status(running.grpc_address, SERVICE) == health_pb2.HealthCheckResponse.SERVING
            assert "showrunner_rooms " in (await client.get("/metrics")).text
    finally:
        running.stop()
        redis.stop()


async def test_after_a_redis_restart_no_call_fails_on_a_connection_that_died_with_it(tmp_path: Path) -> None:
    # The store's own client, as the service connects it: its pool holds several connections
    # when Redis restarts; the next calls find those closed and open others, and none fails
    # (each of the 19 pooled connections failed its next command before).
    redis = RedisServer(workdir=tmp_path).start()
    client = connect(f"redis://127.0.0.1:{redis.port}", cluster=False)
    try:
        await asyncio.gather(*(client.get("x") for _ in range(20)))
        redis.stop()
        with contextlib.suppress(RedisError):
            await client.get("x")  # asked while Redis is down, as a readiness probe would be
        redis = RedisServer(workdir=tmp_path, port=redis.port).start()
        answers = await asyncio.gather(*(client.get("x") for _ in range(20)), return_exceptions=True)
        failed = [f"{type(a).__name__}: {a}" for a in answers if isinstance(a, BaseException)]
        assert failed == [], failed[:3]
    finally:
        await client.aclose()
        redis.stop()


async def test_after_a_cluster_node_restarts_no_call_fails_on_a_connection_that_died_with_it(
    tmp_path: Path,
) -> None:
    # The same on a Redis Cluster, whose client keeps each node's idle connections itself and
    # handed them out unchecked: 57 of 180 calls failed after one node's restart without the
    # store's own node connection.
    cluster = RedisCluster(workdir=tmp_path).start()
    client = connect(cluster.url, cluster=True)
    keys = [f"key-{i}" for i in range(60)]  # on every node
    try:
        await client.get("first")  # the client learns the cluster's layout once, as the service does
        await asyncio.gather(*(client.get(key) for key in keys for _ in range(3)))
        await asyncio.to_thread(cluster.restart_node, 1)
        answers = await asyncio.gather(*(client.get(key) for key in keys for _ in range(3)), return_exceptions=True)
        failed = [f"{type(a).__name__}: {a}" for a in answers if isinstance(a, BaseException)]
        assert failed == [], (len(failed), failed[:3])
    finally:
        await client.aclose()
        cluster.stop()


async def test_an_instance_is_not_ready_while_livekit_is_down(tmp_path: Path) -> None:
    own = LiveKitDevServer(api_key=API_KEY, api_secret=API_SECRET, log_path=tmp_path / "lk.log").start()
    running = start_service(own, SHOW_READY_INTERVAL_SECONDS="1")
    try:
        async with httpx.AsyncClient(base_url=running.http_base) as client:
            assert (await client.get("/ready")).status_code == 200
            own.stop()

            async def not_ready() -> None:
                answer = await client.get("/ready")
                assert answer.status_code == 503
                assert answer.json() == {"status": "not_ready", "reasons": ["livekit: ConnectionRefusedError"]}

            await _eventually(not_ready)
            assert await _grpc_status(running.grpc_address, SERVICE) == health_pb2.HealthCheckResponse.NOT_SERVING

            own.repick_ports = False
            own.start()

            async def ready_again() -> None:
                assert (await client.get("/ready")).status_code == 200

            await _eventually(ready_again, timeout=20)
            assert await _grpc_status(running.grpc_address, SERVICE) == health_pb2.HealthCheckResponse.SERVING
    finally:
        running.stop()
        own.stop()


async def test_a_stopping_instance_is_not_ready_while_its_doors_drain(livekit: LiveKitDevServer) -> None:
    """SIGTERM: while in-flight calls finish (up to SHOW_SHUTDOWN_GRACE_SECONDS), the instance no
    longer says it is ready. A gRPC health watch open on it hears NOT_SERVING (it heard SERVING
    to the end), and the log says why."""
    running = start_service(livekit, SHOW_SHUTDOWN_GRACE_SECONDS="3")
    try:
        async with grpc.aio.insecure_channel(running.grpc_address) as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=SERVICE))
            heard = await asyncio.wait_for(watch.read(), 10)
            while heard.status != health_pb2.HealthCheckResponse.SERVING:
                heard = await asyncio.wait_for(watch.read(), 10)
            running.process.send_signal(signal.SIGTERM)
            heard = await asyncio.wait_for(watch.read(), 10)
            assert heard != grpc.aio.EOF and heard.status == health_pb2.HealthCheckResponse.NOT_SERVING
            watch.cancel()
        assert running.process.wait(timeout=20) == 0
        assert any("not ready: stopping" in line for line in running.output), "".join(running.output[-10:])
    finally:
        running.stop()
