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
from datetime import timedelta
from pathlib import Path

import pytest
from livekit import api

from service.dev.livekit_server import LiveKitDevServer, free_port
from service.dev.processes import stop_process
from service.dev.redis_cluster import RedisCluster
from service.dev.redis_server import RedisServer
from tests.doors import DOORS, ShowClient, client_for
from tests.egress_standin import EgressStandIn
from tests.live import API_KEY as API_KEY
from tests.live import API_SECRET as API_SECRET

ROOT = Path(__file__).resolve().parent.parent


# Generous limits for the suite at large; the rate-limit tests start services with the MVP's.
TEST_RATES = {f"SHOW_RATE_{b}_PER_MINUTE": "100000" for b in ("JOIN", "INVITE", "HAND", "OTHER")}
# A LiveKit without egress workers takes 20 s to say so; the service gives up sooner, and sooner
# still in the tests.
# Most tests expect a departure to free a seat at once; the reconnect grace window has tests of its own.
# Two stream destinations; their keys must never leave the service (tests look for them).
STREAM_KEYS = {"youtube": "yt-SECRET-KEY-0001", "twitch": "tw-SECRET-KEY-0002"}
STREAM_URLS = {
    "youtube": f"rtmps://a.rtmp.youtube.test/live2/{STREAM_KEYS['youtube']}",
    "twitch": f"rtmp://live.twitch.test/app/{STREAM_KEYS['twitch']}",
}
TEST_ENV = {
    **TEST_RATES,
    "SHOW_EGRESS_TIMEOUT_SECONDS": "2",
    "SHOW_RECONNECT_GRACE_SECONDS": "0",
    "SHOW_STREAM_DESTINATIONS": ",".join(f"{name}={url}" for name, url in STREAM_URLS.items()),
}


@pytest.fixture(scope="session")
def service_http_port() -> int:
    """Chosen before LiveKit starts, so LiveKit can deliver its webhooks to the service."""
    return free_port()


@pytest.fixture(scope="session")
def livekit(tmp_path_factory: pytest.TempPathFactory, service_http_port: int) -> Iterator[LiveKitDevServer]:
    log = tmp_path_factory.mktemp("livekit") / "livekit-server.log"
    server = LiveKitDevServer(
        api_key=API_KEY,
        api_secret=API_SECRET,
        log_path=log,
        webhook_urls=[f"http://127.0.0.1:{service_http_port}/webhooks/livekit"],
    ).start()
    yield server
    server.stop()


def own_redis_server(tmp_path_factory: pytest.TempPathFactory, folder: str) -> Iterator[RedisServer]:
    """A redis-server of its own, in `folder`, for a fixture to yield from and stop after."""
    server = RedisServer.on_free_ports(tmp_path_factory.mktemp(folder))
    yield server
    server.stop()


def own_redis_cluster(tmp_path_factory: pytest.TempPathFactory, folder: str) -> Iterator[RedisCluster]:
    """A 3-node Redis Cluster of its own, in `folder`, for a fixture to yield from and stop after."""
    cluster = RedisCluster(workdir=tmp_path_factory.mktemp(folder)).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from own_redis_server(tmp_path_factory, "redis")


@dataclass
class ServiceProcess:
    process: subprocess.Popen[str]
    grpc_port: int
    http_port: int
    output: list[str]
    livekit_url: str = ""  # the LiveKit server it talks to (LIVEKIT_URL)

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def stop(self) -> int | None:
        return stop_process(self.process, timeout=20)


def start_service(livekit: LiveKitDevServer, **extra_env: str) -> ServiceProcess:
    """Runs `python -m service` exactly as an operator would, on ports it picks itself."""
    return launch(livekit, **{**TEST_ENV, **extra_env})


def launch(livekit: LiveKitDevServer, **extra_env: str) -> ServiceProcess:
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
    return run_until_ready([sys.executable, "-m", "service"], ROOT, env)


def run_until_ready(command: list[str], cwd: Path, env: dict[str, str]) -> ServiceProcess:
    """Runs the service's `command` in `cwd` with exactly `env`, and returns once it says it is
    ready; its output is kept as it comes."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
    return ServiceProcess(process, int(ready.group(1)), int(ready.group(2)), output, env["LIVEKIT_URL"])


@pytest.fixture(scope="session")
def service(livekit: LiveKitDevServer, service_http_port: int) -> Iterator[ServiceProcess]:
    """The service most tests use: in-process state, LiveKit's webhooks delivered to it."""
    running = start_service(livekit, SHOW_HTTP_PORT=str(service_http_port), SHOW_CORS_ORIGINS="https://app.example.com")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A real 3-node Redis Cluster on loopback (Debian's redis-server)."""
    yield from own_redis_cluster(tmp_path_factory, "redis-cluster")


@pytest.fixture(scope="module")
def own_livekit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveKitDevServer]:
    """A LiveKit server of the test module's own, which no instance of the service watches: tests
    that drive a core in process hold and count its calls, and another instance's reconciler
    must not act on their rooms meanwhile."""
    log = tmp_path_factory.mktemp("livekit") / "livekit.log"
    server = LiveKitDevServer(api_key=API_KEY, api_secret=API_SECRET, log_path=log).start()
    yield server
    server.stop()


# The store's own tests drive a record directly, on a clock of their own (T0 is in 2024), with
# nobody connected to LiveKit. An instance of the service sharing that Redis would take their
# rooms for its own: its reconciler finds their stage changes long past their deadline and their
# hands' owners gone, and finishes, undoes or lowers them mid-test (a Cluster run once saw an
# undo find the seat it was to be refused by already given up). So they get a redis-server and a
# Cluster that no instance ever connects to.


@pytest.fixture(scope="session")
def store_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server for the store's own tests alone (no instance of the service uses it)."""
    yield from own_redis_server(tmp_path_factory, "store-redis")


@pytest.fixture(scope="session")
def store_redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A 3-node Redis Cluster for the store's own tests alone (no instance of the service uses it)."""
    yield from own_redis_cluster(tmp_path_factory, "store-redis-cluster")


@pytest.fixture(scope="session", params=["redis", "cluster"])
def redis_pair(
    request: pytest.FixtureRequest, livekit: LiveKitDevServer, redis_server: RedisServer
) -> Iterator[list[ServiceProcess]]:
    """Two instances sharing one Redis, as in production behind a load balancer: a single
    redis-server, or a 3-node Redis Cluster."""
    pair = start_pair(livekit, *shared_redis(request, request.param, redis_server))
    yield pair
    for running in pair:
        running.stop()


def shared_redis(request: pytest.FixtureRequest, which: str, redis_server: RedisServer) -> tuple[str, bool]:
    """The URL of the Redis a pair of instances shares, `which` being "redis" (the session's
    redis-server) or "cluster" (its 3-node Cluster), and whether it is a Cluster."""
    if which == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        return cluster.url, True
    return redis_server.url, False


def start_pair(livekit: LiveKitDevServer, url: str, cluster: bool, **extra_env: str) -> list[ServiceProcess]:
    """Two instances sharing the Redis at `url`, as in production behind a load balancer."""
    shared = {"SHOW_REDIS_URL": url, **({"SHOW_REDIS_CLUSTER": "true"} if cluster else {})}
    return [start_service(livekit, **shared, **extra_env) for _ in range(2)]


@pytest.fixture(scope="session")
def egress() -> Iterator[EgressStandIn]:
    standin = EgressStandIn(API_KEY, API_SECRET).start()
    yield standin
    standin.stop()


RECORDING_PATH = "/recordings/{room_name}/{time}.mp4"


@pytest.fixture(scope="session")
def recording_service(livekit: LiveKitDevServer, egress: EgressStandIn) -> Iterator[ServiceProcess]:
    """An instance whose egress calls go to the stand-in (a real egress worker cannot run here)."""
    running = start_service(livekit, SHOW_EGRESS_URL=egress.url, SHOW_RECORDING_FILEPATH=RECORDING_PATH)
    yield running
    running.stop()


def admin_token(room: str, ttl: int = 600) -> str:
    """A server-to-server token, signed with the API key and secret, administering one room."""
    grants = api.VideoGrants(room_admin=True, room=room)
    return (
        api.AccessToken(API_KEY, API_SECRET)
        .with_identity("backend")
        .with_grants(grants)
        .with_ttl(timedelta(seconds=ttl))
        .to_jwt()
    )


def lister_token() -> str:
    grants = api.VideoGrants(room_list=True)
    return api.AccessToken(API_KEY, API_SECRET).with_identity("backend").with_grants(grants).to_jwt()


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


# --- the end of the run ------------------------------------------------------------------------


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Once pytest has run and reported everything, a run that loaded the livekit rtc SDK exits
    with pytest's own status at once: the SDK's native library now and then panics while the
    interpreter tears it down ("panic in a function that cannot unwind"), after every test has
    finished, which would turn a passing run into a failing one. Every server the tests started
    has been stopped by its fixture by now."""
    if "livekit.rtc" not in sys.modules or _EXIT_STATUS not in config.stash:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(config.stash[_EXIT_STATUS])


_EXIT_STATUS = pytest.StashKey[int]()
