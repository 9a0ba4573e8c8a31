"""The real parts the tests run against: a livekit-server in dev mode on loopback and
Showrunner itself as a separate process, both started and stopped here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from livekit import api

from service.dev.livekit_server import LiveKitDevServer
from tests.doors import DOORS, ShowClient, client_for

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "showrunner-tests"
API_SECRET = "showrunner-tests-secret-0123456789abcdef"


@pytest.fixture(scope="session")
def livekit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveKitDevServer]:
    log = tmp_path_factory.mktemp("livekit") / "livekit-server.log"
    server = LiveKitDevServer(api_key=API_KEY, api_secret=API_SECRET, log_path=log).start()
    yield server
    server.stop()


@dataclass
class ServiceProcess:
    process: subprocess.Popen[str]
    grpc_port: int
    http_port: int
    output: list[str]

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_service(livekit: LiveKitDevServer, **extra_env: str) -> ServiceProcess:
    """Runs `python -m service` exactly as an operator would, on ports it picks itself."""
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'gen'}{os.pathsep}{ROOT}",
        "LIVEKIT_URL": livekit.url,
        "LIVEKIT_API_KEY": livekit.api_key,
        "LIVEKIT_API_SECRET": livekit.api_secret,
        "SHOW_HOST": "127.0.0.1",
        "SHOW_GRPC_PORT": "0",
        "SHOW_HTTP_PORT": "0",
        **extra_env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "service"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output: list[str] = []
    for line in process.stdout:
        output.append(line)
        ready = re.search(r"showrunner ready grpc=(\d+) http=(\d+)", line)
        if ready:
            break
    else:
        process.wait()
        raise RuntimeError("service did not start:\n" + "".join(output))

    def drain() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)

    threading.Thread(target=drain, daemon=True).start()
    return ServiceProcess(process, int(ready.group(1)), int(ready.group(2)), output)


@pytest.fixture(scope="session")
def service(livekit: LiveKitDevServer) -> Iterator[ServiceProcess]:
    running = start_service(livekit)
    yield running
    running.stop()


@pytest.fixture(params=DOORS)
async def door(request: pytest.FixtureRequest, service: ServiceProcess) -> AsyncIterator[ShowClient]:
    """The same show, through each door in turn."""
    client = client_for(request.param, service.grpc_address, service.http_base)
    yield client
    await client.close()


@pytest.fixture
async def rest(service: ServiceProcess) -> AsyncIterator[ShowClient]:
    client = client_for("rest", service.grpc_address, service.http_base)
    yield client
    await client.close()


@pytest.fixture
def room() -> str:
    return f"show-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def lkapi(livekit: LiveKitDevServer) -> AsyncIterator[api.LiveKitAPI]:
    """LiveKit's own server API, to check what LiveKit itself sees."""
    client = api.LiveKitAPI(livekit.http_url, livekit.api_key, livekit.api_secret, failover=False)
    yield client
    await client.aclose()
