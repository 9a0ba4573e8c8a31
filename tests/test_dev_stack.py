"""`make dev` behaves: its servers die with it, even when it is killed; a server left on one of its
ports (the service's own included) is reported, never reused, and a port the service cannot listen
on is said in one line; `make dev REDIS=1` keeps Redis's data across its restarts."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from service.dev.livekit_server import free_port
from service.dev.redis_server import RedisServer, ServerExited

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class DevPorts:
    redis: int
    livekit: int
    rtc_tcp: int
    rtc_udp: int
    grpc: int
    http: int


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _dev(ports: DevPorts, workdir: Path, **more: str) -> subprocess.Popen[str]:
    env = (
        {key: value for key, value in os.environ.items() if not key.startswith(("LIVEKIT_", "SHOW_"))}
        | {
            "PYTHONPATH": f"{ROOT / 'gen'}{os.pathsep}{ROOT}",
            "LIVEKIT_SERVER_BIN": os.environ["LIVEKIT_SERVER_BIN"],
            "REDIS": "1",
            "SHOW_DEV_DIR": str(workdir),
            "SHOW_DEV_REDIS_PORT": str(ports.redis),
            "LIVEKIT_DEV_PORT": str(ports.livekit),
            "LIVEKIT_DEV_RTC_TCP_PORT": str(ports.rtc_tcp),
            "LIVEKIT_DEV_RTC_UDP_PORT": str(ports.rtc_udp),
            "SHOW_GRPC_PORT": str(ports.grpc),
            "SHOW_HTTP_PORT": str(ports.http),
        }
        | more
    )
    return subprocess.Popen(
        [sys.executable, "-m", "service.devserver"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_ready(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    seen = ""
    for line in process.stdout:
        seen += line
        if re.search(r"showrunner ready grpc=\d+ http=\d+", line):
            return seen
    raise AssertionError(f"make dev did not start:\n{seen}")


def _gone(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _listening(port):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def ports() -> DevPorts:
    import socket as s

    return DevPorts(free_port(), free_port(), free_port(), free_port(s.SOCK_DGRAM), free_port(), free_port())


def test_killing_make_dev_takes_its_servers_with_it_and_redis_keeps_its_data(ports: DevPorts, tmp_path: Path) -> None:
    first = _dev(ports, tmp_path)
    try:
        printed = _wait_ready(first)
        assert f"data kept in {tmp_path}/redis/" in printed
        store = redis.Redis(port=ports.redis)
        store.set("showrunner:dev-probe", "kept")
        store.close()
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert _gone(ports.redis), "redis-server outlived make dev"
        assert _gone(ports.livekit), "livekit-server outlived make dev"
    finally:
        first.kill()
        first.wait()

    second = _dev(ports, tmp_path)
    try:
        _wait_ready(second)
        store = redis.Redis(port=ports.redis)
        assert store.get("showrunner:dev-probe") == b"kept"
        store.close()
    finally:
        second.send_signal(signal.SIGINT)
        second.wait(timeout=30)
    assert _gone(ports.redis) and _gone(ports.livekit)


def test_a_server_left_on_a_dev_port_is_reported_not_reused(ports: DevPorts, tmp_path: Path) -> None:
    stray = RedisServer(workdir=tmp_path, port=ports.redis).start()
    try:
        dev = _dev(ports, tmp_path)
        output, _ = dev.communicate(timeout=60)
        assert dev.returncode == 3
        assert f"port {ports.redis} is already taken by redis-server" in output
        assert "started redis-server" not in output
        assert not _listening(ports.livekit)
    finally:
        stray.stop()


def test_a_server_left_on_the_services_own_port_is_reported_before_anything_starts(
    ports: DevPorts, tmp_path: Path
) -> None:
    with socket.socket() as stray:
        stray.bind(("127.0.0.1", ports.http))
        stray.listen()
        dev = _dev(ports, tmp_path)
        output, _ = dev.communicate(timeout=60)
    assert dev.returncode == 3, output
    assert f"showrunner: cannot start the dev stack: port {ports.http} (SHOW_HTTP_PORT) is already taken by" in output
    assert "Traceback" not in output
    assert "started redis-server" not in output
    assert not _listening(ports.livekit) and not _listening(ports.redis)


def test_a_port_the_service_cannot_listen_on_is_said_in_a_line_not_a_traceback(ports: DevPorts, tmp_path: Path) -> None:
    # A stranger on 127.0.0.2 is not seen by the check on 127.0.0.1, yet holds the port of a
    # service listening on every address: the service's own start is refused, and said so.
    with socket.socket() as stray:
        stray.bind(("127.0.0.2", ports.http))
        stray.listen()
        dev = _dev(ports, tmp_path, SHOW_HOST="0.0.0.0")
        output, _ = dev.communicate(timeout=60)
    assert dev.returncode == 1, output
    assert f"showrunner: cannot start: the HTTP door cannot listen on 0.0.0.0:{ports.http}" in output
    assert "Traceback" not in output
    assert _gone(ports.livekit) and _gone(ports.redis), "make dev left its servers behind"


def test_a_redis_server_whose_port_another_took_meanwhile_starts_again_on_fresh_ones(tmp_path: Path) -> None:
    """Two test workers choose ports from one range: one can take a port between another's choice
    and its server's bind. A redis-server that exits as it starts says why, in its own words, and
    RedisServer.on_free_ports starts it again on fresh ports (here a cluster node's bus port)."""

    def node(bus: int) -> tuple[str, ...]:
        conf = tmp_path / "nodes.conf"
        conf.unlink(missing_ok=True)
        return ("--cluster-enabled", "yes", "--cluster-config-file", str(conf), "--cluster-port", str(bus))

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        busy = taken.getsockname()[1]
        with pytest.raises(ServerExited, match=f"exited with 1: .*Failed listening on port {busy}"):
            RedisServer(workdir=tmp_path, options=node(busy)).start()
        buses = [busy, free_port()]
        server = RedisServer.on_free_ports(tmp_path, lambda: node(buses.pop(0)))
        try:
            assert buses == []  # the first start exited, the second is up
            assert (
                subprocess.run(
                    ["redis-cli", "-p", str(server.port), "ping"], capture_output=True, text=True, timeout=5
                ).stdout.strip()
                == "PONG"
            )
        finally:
            server.stop()
