"""Wiring: one core, three doors, one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import grpc
import uvicorn
from starlette.types import ASGIApp

from service.config import Settings
from service.core.auth import Authenticator
from service.core.clock import Clock, SystemClock
from service.core.limits import Limiter, MemoryLimiter
from service.core.ports import Stage, Store
from service.core.show import ShowCore, ShowRules
from service.doors.grpc_door import grpc_server
from service.doors.http import http_app
from service.doors.serving import Serving
from service.gateway.livekit import LiveKitStage
from service.observability.metrics import Metrics
from service.stores.memory import MemoryStore
from service.stores.redis import RedisLimiter, RedisStore

log = logging.getLogger("showrunner")


class StartupError(Exception):
    """Something outside the service keeps it from starting: a port taken, Redis unreachable."""


class HttpServer(uvicorn.Server):
    """uvicorn, minus its own signal handling: `serve` below stops both doors together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Running:
    """A started service: its ports, and how to stop it."""

    grpc_port: int
    http_port: int
    grpc: grpc.aio.Server
    http: uvicorn.Server
    http_task: asyncio.Task[None]
    stage: Stage
    store: Store
    grace: float

    async def stop(self) -> None:
        """Stops accepting on both doors, lets in-flight calls finish (up to `grace` seconds),
        then closes the connections to LiveKit and the store."""
        self.http.should_exit = True
        await asyncio.gather(self.grpc.stop(self.grace), self.http_task)
        await self.stage.close()
        await self.store.close()


def listen(host: str, port: int) -> socket.socket:
    """The HTTP door's socket, bound here so that a taken port is our error to report, not a
    reason for uvicorn to exit the process."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say so;
    # without it every keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def http_config(app: ASGIApp, settings: Settings) -> uvicorn.Config:
    """uvicorn as the HTTP door runs it (`make bench` serves its floor with the same)."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.http_port,
        http=settings.http_parser,
        # The loop is ours (service.runtime); uvicorn only serves on it.
        loop="none",
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        # Behind a load balancer, the client's address (for anonymous rate limits) comes from
        # X-Forwarded-For, but only when the peer is one of the configured proxies.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
        access_log=False,
    )


async def state_backend(settings: Settings) -> tuple[Store, Limiter]:
    """In-process state for one instance; Redis (SHOW_REDIS_URL) when several share it."""
    if not settings.redis_url:
        return MemoryStore(), MemoryLimiter()
    redis_store = RedisStore.from_url(settings.redis_url)
    try:
        await redis_store.ping()
    except Exception as exc:
        await redis_store.close()
        raise StartupError(f"SHOW_REDIS_URL {settings.redis_url} cannot be reached: {exc}") from exc
    return redis_store, RedisLimiter(redis_store.client)


async def start(settings: Settings, clock: Clock | None = None) -> Running:
    clock = clock or SystemClock()
    metrics = Metrics()
    stage = LiveKitStage(
        settings.livekit_url,
        settings.livekit_api_key,
        settings.livekit_api_secret,
        public_url=settings.livekit_public_url,
        egress_url=settings.egress_url,
        recording_output=settings.recording_output,
        egress_timeout=settings.egress_timeout_seconds,
        token_ttl=timedelta(seconds=settings.token_ttl_seconds),
        observe=metrics.livekit_call,
        room_cache_seconds=settings.room_cache_seconds,
    )
    store, limiter = await state_backend(settings)
    rules = ShowRules(
        guest_limit=settings.guest_limit,
        invitation_seconds=settings.invitation_seconds,
        host_claim_seconds=settings.host_claim_seconds,
        rates=settings.rates,
    )
    auth = Authenticator(settings.livekit_api_key, settings.livekit_api_secret, clock)
    core = ShowCore(stage, store, clock, auth, limiter, rules, observer=metrics)
    serving = Serving(core, metrics)

    try:
        server, grpc_port = await grpc_server(serving, settings.host, settings.grpc_port)
    except RuntimeError as exc:
        await stage.close()
        await store.close()
        raise StartupError(f"the gRPC door cannot listen on {settings.host}:{settings.grpc_port}: {exc}") from exc
    await server.start()

    async def metrics_page() -> bytes:
        return await metrics.render(store, stage, clock.now())

    config = http_config(http_app(serving, clock, metrics_page, settings.cors_origins), settings)
    try:
        listener = listen(settings.host, settings.http_port)
    except OSError as exc:
        await server.stop(0)
        await stage.close()
        await store.close()
        raise StartupError(
            f"the HTTP door cannot listen on {settings.host}:{settings.http_port}: {exc.strerror}"
        ) from exc
    http = HttpServer(config)
    # The socket already listens: connections queue until uvicorn takes them, so we are ready.
    http_task = asyncio.create_task(http.serve(sockets=[listener]))
    http_port = listener.getsockname()[1]
    log.info(
        "showrunner serving gRPC on %s:%d and HTTP on %s:%d",
        settings.host,
        grpc_port,
        settings.host,
        http_port,
    )
    return Running(grpc_port, http_port, server, http, http_task, stage, store, settings.shutdown_grace_seconds)


async def serve(settings: Settings) -> None:
    running = await start(settings)
    print(f"showrunner ready grpc={running.grpc_port} http={running.http_port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: draining in-flight calls")
    with contextlib.suppress(asyncio.CancelledError):
        await running.stop()
