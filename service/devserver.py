"""`make dev`: a local LiveKit dev server and Showrunner in the foreground, until Ctrl+C.

LiveKit listens on 127.0.0.1:7880 (signal), 7881/tcp and 7882/udp (media) with the dev
server's key `devkey` and secret `secret`, and delivers its webhooks to the service. Set
LIVEKIT_URL (with LIVEKIT_API_KEY and LIVEKIT_API_SECRET) to use another LiveKit instead.
`make dev REDIS=1` also starts a local redis-server (port SHOW_DEV_REDIS_PORT, 6379) and keeps
the show's state there, in an append-only file under .dev/redis that survives its restarts.

Both servers die with this process, however it ends (even by SIGKILL): they are started with a
parent-death signal. A server left listening on one of the ports by anything else is reported,
and `make dev` stops, rather than quietly using it: LiveKit's and Redis's, and the service's own
HTTP and gRPC ports, checked before any server starts.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from pathlib import Path

import jwt

from service import runtime
from service.app import StartupError, serve
from service.config import ConfigError, Settings
from service.dev.livekit_server import LiveKitDevServer, PortTaken
from service.dev.processes import who_listens
from service.dev.redis_server import RedisServer
from service.observability import logs

# The dev stack's own settings, which the service itself does not read.
DEV_DIR, DEV_REDIS_PORT = "SHOW_DEV_DIR", "SHOW_DEV_REDIS_PORT"


def main() -> int:
    # The dev server's well-known secret is short; that is the point of a dev server.
    warnings.filterwarnings("ignore", category=jwt.warnings.InsecureKeyLengthWarning)
    env = dict(os.environ)
    try:
        check_service_ports(env)
        livekit, redis = start_servers(env)
    except PortTaken as exc:
        print(f"showrunner: cannot start the dev stack: {exc}", file=sys.stderr)
        return 3
    try:
        return run(env)
    finally:
        if livekit:
            livekit.stop()
        if redis:
            redis.stop()


def check_service_ports(env: dict[str, str]) -> None:
    """Refuses ports of the service's own that something already listens on, before LiveKit and
    Redis start for nothing. A value that is no port is left for the settings to report."""
    for name, default in (("SHOW_HTTP_PORT", "3001"), ("SHOW_GRPC_PORT", "50051")):
        value = env.get(name, default)
        if not value.isdigit() or not 0 < int(value) < 65536:
            continue
        holder = who_listens(int(value))
        if holder is not None:
            raise PortTaken(f"port {value} ({name}) is already taken by {holder}; stop it first")


def start_servers(env: dict[str, str]) -> tuple[LiveKitDevServer | None, RedisServer | None]:
    """Starts what the environment does not name: redis-server if REDIS=1, LiveKit unless
    LIVEKIT_URL is set; fills in `env` to point the service at them."""
    livekit: LiveKitDevServer | None = None
    redis: RedisServer | None = None
    if env.get("REDIS") == "1" and not env.get("SHOW_REDIS_URL"):
        workdir = Path(env.get(DEV_DIR, ".dev")) / "redis"
        workdir.mkdir(parents=True, exist_ok=True)
        port = int(env.get(DEV_REDIS_PORT, "6379"))
        redis = RedisServer(workdir=workdir.resolve(), port=port, persistent=True, tied=True).start()
        env["SHOW_REDIS_URL"] = redis.url
        print(f"started redis-server on {redis.url} (data kept in {workdir}/)", flush=True)
    if not env.get("LIVEKIT_URL"):
        http_port = env.get("SHOW_HTTP_PORT", "3001")
        livekit = LiveKitDevServer(
            port=int(env.get("LIVEKIT_DEV_PORT", "7880")),
            rtc_tcp_port=int(env.get("LIVEKIT_DEV_RTC_TCP_PORT", "7881")),
            rtc_udp_port=int(env.get("LIVEKIT_DEV_RTC_UDP_PORT", "7882")),
            repick_ports=False,
            tied=True,
            webhook_urls=[f"http://127.0.0.1:{http_port}/webhooks/livekit"],
        )
        print(f"starting livekit-server (dev) on {livekit.url}", flush=True)
        try:
            livekit.start()
        except PortTaken:
            if redis:
                redis.stop()
            raise
        env.update(LIVEKIT_URL=livekit.url, LIVEKIT_API_KEY=livekit.api_key, LIVEKIT_API_SECRET=livekit.api_secret)
    return livekit, redis


def run(env: dict[str, str]) -> int:
    try:
        service_env = {name: value for name, value in env.items() if name not in (DEV_DIR, DEV_REDIS_PORT)}
        settings = Settings.from_env(service_env)
    except ConfigError as exc:
        print(f"showrunner: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    print(
        f"showrunner: gRPC {settings.host}:{settings.grpc_port}, "
        f"HTTP http://{settings.host}:{settings.http_port} (pages at /, Twirp at /twirp/, REST at /api/), "
        f"LiveKit {settings.livekit_url}. Ctrl+C stops both.",
        flush=True,
    )
    try:
        with contextlib.suppress(KeyboardInterrupt):
            runtime.run(serve(settings), settings.event_loop)
    except StartupError as exc:
        # As `python -m service` says it; a port taken since the check above lands here.
        print(f"showrunner: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
