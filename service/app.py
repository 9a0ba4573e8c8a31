"""Wiring: one core behind one interceptor chain, three doors, one process."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.config import Settings, closest_setting
from service.core.auth import Authenticator
from service.core.clock import Clock, SystemClock
from service.core.errors import ShowError
from service.core.limits import Limiter, MemoryLimiter
from service.core.pages import PageTokens, page_key
from service.core.ports import Stage
from service.core.reconciler import Leases, MemoryLeases, Reconciler, ReconcileRules
from service.core.record import Phase, ShowRecords
from service.core.show import ShowCore, ShowRules
from service.doors.edges import Refused, with_deadlines
from service.doors.grpc_door import ClientAddresses, grpc_server
from service.doors.grpc_h2 import GrpcApp, GrpcH2Server
from service.doors.http import HttpServer, http_app, listen
from service.doors.writes import with_gathered_writes
from service.gateway.livekit import LIVEKIT_DEPARTURE_SECONDS, LiveKitStage
from service.interceptors.build import chain, endpoints
from service.observability.metrics import Metrics
from service.observability.readiness import Dependency, Readiness
from service.stores.leases import RedisLeases
from service.stores.records import StoreUnreachable, open_records, starting_seconds_for
from service.stores.redis import RedisLimiter
from service.stores.redis_record import RedisRecords

log = logging.getLogger("showrunner")


class StartupError(Exception):
    """Something outside the service keeps it from starting: a port taken, Redis unreachable."""


class GrpcDoorServer(Protocol):
    """What the service asks of the gRPC door's server, either one (SHOW_GRPC_SERVER)."""

    async def start(self) -> None: ...

    async def stop(self, grace: float | None) -> None: ...


@dataclass
class Running:
    """A started service: its ports, and how to stop it."""

    grpc_port: int
    http_port: int
    grpc: GrpcDoorServer
    http: uvicorn.Server
    http_task: asyncio.Task[None]
    stage: Stage
    store: ShowRecords
    readiness: Readiness
    reconciler: Reconciler
    grace: float
    core: ShowCore

    async def stop(self) -> None:
        """Stops accepting on both doors, lets in-flight calls finish (up to `grace` seconds),
        then closes the connections to LiveKit and the store."""
        deadline = asyncio.get_running_loop().time() + self.grace
        await self.readiness.stopping()
        await self.reconciler.stop()
        self.http.should_exit = True
        await asyncio.gather(self.grpc.stop(self.grace), self.http_task)
        # An egress start whose caller went away (a gRPC deadline) is no longer a call in flight,
        # yet runs on to settle the record: within the same grace, it ends before what it uses.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await self.core.starts_settled()
        await self.stage.close()
        await self.store.close()


def deployment_of(settings: Settings) -> str:
    """The name this instance would mark its LiveKit rooms with on its own: SHOW_DEPLOYMENT, or
    else one derived from SHOW_REDIS_URL (an in-process store is one instance: its own). Without
    SHOW_DEPLOYMENT, the store has the last word (`deployment_for`)."""
    if settings.deployment:
        return settings.deployment
    if settings.redis_url:
        return "redis-" + hashlib.sha256(settings.redis_url.encode()).hexdigest()[:12]
    return "instance-" + secrets.token_hex(6)


async def deployment_for(settings: Settings, store: ShowRecords) -> tuple[str, tuple[str, ...]]:
    """The name this instance marks its LiveKit rooms with, and the others it takes for its own
    too. SHOW_DEPLOYMENT if set; otherwise the one the shared store holds, which the first
    instance to ask gave it (its name derived from its SHOW_REDIS_URL): instances that reach the
    same Redis by different URLs (other Cluster nodes, another host name, a rotated password)
    share it. The name this instance derived itself is its own too: an earlier version marked
    the rooms it opened with it."""
    own = deployment_of(settings)
    if settings.deployment:
        return own, ()
    shared = await store.deployment(own)
    return shared, (own,) if own != shared else ()


def http_config(app: ASGIApp, settings: Settings, refused: Refused) -> uvicorn.Config:
    """uvicorn as the HTTP door runs it (`make bench` serves its floor with the same), with the
    limits at the edge: header and body deadlines, the keep-alive idle time, a connection cap;
    `refused` counts the requests refused there."""
    edges = settings.edges
    protocol = HttpToolsProtocol if settings.http_parser == "httptools" else H11Protocol
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.http_port,
        http=with_deadlines(
            with_gathered_writes(protocol), edges.http_header_seconds, edges.http_body_seconds, refused
        ),
        # The loop is ours (service.runtime); uvicorn only serves on it.
        loop="none",
        # The logging is ours too: uvicorn's lines go to the root logger's JSON handler, not to
        # the plain-text handler its own configuration would add.
        log_config=None,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        # Behind a load balancer, the client's address (for anonymous rate limits) comes from
        # X-Forwarded-For, but only when the peer is one of the configured proxies.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
        access_log=False,
        timeout_keep_alive=round(edges.http_idle_seconds),
        limit_concurrency=edges.max_connections,
    )


async def state_backend(settings: Settings, clock: Clock) -> tuple[ShowRecords, Limiter, Leases]:
    """In-process state for one instance; Redis (SHOW_REDIS_URL, a Cluster with SHOW_REDIS_CLUSTER)
    when several share it: the show's record, the rate limits and the reconciliation leases."""
    try:
        records = await open_records(settings, settings.stage_change_seconds)
    except StoreUnreachable as exc:
        raise StartupError(str(exc)) from exc
    if isinstance(records, RedisRecords):
        return records, RedisLimiter(records.client), RedisLeases(records.client)
    return records, MemoryLimiter(), MemoryLeases(clock)


async def start(settings: Settings, clock: Clock | None = None) -> Running:
    clock = clock or SystemClock()
    metrics = Metrics()
    store, limiter, leases = await state_backend(settings, clock)
    try:
        deployment, also_ours = await deployment_for(settings, store)
    except ShowError as exc:
        await store.close()
        raise StartupError(f"the store did not answer: {exc.message}") from exc
    stage = LiveKitStage(
        settings.livekit_url,
        settings.livekit_api_key,
        settings.livekit_api_secret,
        public_url=settings.livekit_public_url,
        egress_url=settings.egress_url,
        recording_output=settings.recording_output,
        stream_destinations=settings.stream_destinations,
        egress_timeout=settings.egress_timeout_seconds,
        token_ttl=timedelta(seconds=settings.token_ttl_seconds),
        observe=metrics.livekit_call,
        deployment=deployment,
        also_ours=also_ours,
        room_cache_seconds=settings.room_cache_seconds,
        # A room whose last participant dropped stays open while its seats wait for their holders'
        # return (the reconnect grace window and the pass that ends it), never less than LiveKit's own.
        departure_timeout=max(
            LIVEKIT_DEPARTURE_SECONDS, settings.reconnect_grace_seconds + settings.reconcile_interval_seconds
        ),
    )
    rules = ShowRules(
        guest_limit=settings.guest_limit,
        invitation_seconds=settings.invitation_seconds,
        host_claim_seconds=settings.host_claim_seconds,
        reconnect_grace_seconds=settings.reconnect_grace_seconds,
        rates=settings.rates,
        opens=Phase(settings.opens),
        # The lock outlives every token issued for the show.
        ended_keep_seconds=max(settings.ended_keep_seconds, settings.token_ttl_seconds),
    )
    auth = Authenticator(settings.livekit_api_key, settings.livekit_api_secret, clock)
    reconcile = ReconcileRules(
        grace_seconds=rules.reconnect_grace_seconds,
        interval_seconds=settings.reconcile_interval_seconds,
        host_claim_seconds=rules.host_claim_seconds,
        guest_limit=rules.guest_limit,
        stage_change_seconds=settings.stage_change_seconds,
        egress_starting_seconds=starting_seconds_for(settings, settings.stage_change_seconds),
        # A room's hands are looked at about as often as every room is swept.
        hands_every_seconds=settings.reconcile_interval_seconds * ReconcileRules.sweep_every,
    )
    # Page tokens are sealed with a key derived from the LiveKit secret: every instance behind the
    # load balancer accepts the others' tokens, with nothing more to configure.
    page_tokens = PageTokens(page_key(settings.livekit_api_secret))
    core = ShowCore(
        stage, store, clock, rules, observer=metrics, leases=leases, reconcile=reconcile, page_tokens=page_tokens
    )
    through = chain(auth, store, limiter, rules.rates, clock, metrics, observer=metrics)
    served = endpoints(core, through)

    readiness = Readiness(
        [Dependency("store", store.ping), Dependency("livekit", stage.ping)],
        interval=settings.ready_interval_seconds,
    )
    server: GrpcDoorServer
    try:
        if settings.grpc_server == "zttp":
            addresses = ClientAddresses(settings.trusted_proxies)
            door = GrpcApp(served, readiness, addresses, metrics.refused, settings.edges.grpc_max_concurrent_rpcs)
            h2 = GrpcH2Server(door, settings.host, settings.grpc_port, settings.edges)
            server, grpc_port = h2, h2.port
        else:
            server, grpc_port = await grpc_server(
                served,
                settings.host,
                settings.grpc_port,
                readiness,
                settings.edges,
                metrics.refused,
                settings.trusted_proxies,
            )
    except RuntimeError as exc:
        await stage.close()
        await store.close()
        raise StartupError(f"the gRPC door cannot listen on {settings.host}:{settings.grpc_port}: {exc}") from exc
    await server.start()

    async def metrics_page() -> bytes:
        return await metrics.render(store, stage, clock.now())

    app = http_app(served, core, through, clock, metrics_page, readiness, metrics.refused, settings.cors_origins)
    config = http_config(app, settings, metrics.refused)
    try:
        listener = listen(settings.host, settings.http_port)
    except OSError as exc:
        await server.stop(0)
        await stage.close()
        await store.close()
        raise StartupError(
            f"the HTTP door cannot listen on {settings.host}:{settings.http_port}: {exc.strerror}"
        ) from exc
    reconciler = core.reconciler

    async def after_outage(ready: bool, reasons: Sequence[str]) -> None:
        # Whatever changed while the store or LiveKit could not be reached is caught up with now,
        # on the reconciler's task: readiness goes on answering (and watching) meanwhile.
        if ready:
            reconciler.sweep_soon()

    readiness.on_change(after_outage)
    await readiness.check()
    readiness.start()
    reconciler.start()  # its first pass sweeps every room either side knows of
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
    return Running(
        grpc_port,
        http_port,
        server,
        http,
        http_task,
        stage,
        store,
        readiness,
        reconciler,
        settings.shutdown_grace_seconds,
        core,
    )


def warn_of_unknown(settings: Settings) -> None:
    """One warning for each SHOW_* variable that names no setting: a misspelt one would otherwise
    do nothing without a word. The service starts all the same."""
    for name in settings.unknown:
        closest = closest_setting(name)
        hint = f"; did you mean {closest}?" if closest else ""
        log.warning(
            "%s is not a setting of this version and is ignored%s",
            name,
            hint,
            extra={"fields": {"setting": name, "closest": closest} if closest else {"setting": name}},
        )


async def serve(settings: Settings) -> None:
    # Heard from before the start: a SIGTERM while the service starts stops it once started. With
    # no handler of ours yet, it killed the process outright, and in a container, where the
    # service is PID 1 and a signal without a handler is dropped, it was lost altogether.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    warn_of_unknown(settings)
    running = await start(settings)
    print(f"showrunner ready grpc={running.grpc_port} http={running.http_port}", flush=True)
    await stop.wait()
    log.info("stopping: draining in-flight calls")
    with contextlib.suppress(asyncio.CancelledError):
        await running.stop()
