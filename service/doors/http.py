"""One HTTP port for the browser-facing doors: Twirp under /twirp/, the web app's pages (`/`,
/studio/, /watch/, /assets/), the contract's REST routes, LiveKit's webhooks, /health, /ready,
/metrics and /openapi.json everywhere else. Every response carries x-request-id (calls take
theirs from the chain's first piece, which keeps the one given here); browsers from the
configured origins may call across origins (CORS)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator, Sequence
from typing import Any

import uvicorn
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.clock import Clock
from service.core.show import ShowCore
from service.doors.edges import Refused
from service.doors.rest_door import MetricsPage, rest_app
from service.doors.twirp_door import TWIRP_PREFIX, TwirpDoor
from service.doors.web import is_web_path, web_app
from service.interceptors.build import Endpoint
from service.interceptors.chain import Chain
from service.observability.logs import new_request_id, request_id
from service.observability.readiness import Readiness

REQUEST_ID = b"x-request-id"


def listen(host: str, port: int) -> socket.socket:
    """A door's listening socket (uvicorn serves both), bound here so that a taken port is our
    error to report, not a reason for uvicorn to exit the process."""
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


class HttpServer(uvicorn.Server):
    """uvicorn, minus its own signal handling: the service stops its doors together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def with_request_id(app: ASGIApp) -> ASGIApp:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        # The servers hand header names over in lower case; the first x-request-id is the one.
        # The call's chain reads the id from the request: hand it the one answered with here.
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        given: str | None = None
        if any(header[0] == REQUEST_ID for header in headers):
            given = next(header[1] for header in headers if header[0] == REQUEST_ID).decode("latin-1")
            headers = [header for header in headers if header[0] != REQUEST_ID]
        rid = new_request_id(given)
        request_id.set(rid)
        ours = (REQUEST_ID, rid.encode())
        # The scope is this request's own (the server builds one per request): changed in place.
        scope["headers"] = [*headers, ours]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*(h for h in message.get("headers", ()) if h[0].lower() != REQUEST_ID), ours]
            await send(message)

        await app(scope, receive, send_with_id)

    return wrapped


def ready_page(readiness: Readiness) -> ASGIApp:
    """GET /ready: 200 while the store and LiveKit answer, 503 with the reasons while not (which
    of them fails, and the kind of failure; never their addresses)."""

    async def page(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            response: Response = JSONResponse({"error": "Method not allowed"}, 405, headers={"allow": "GET, HEAD"})
        elif readiness.ready:
            response = JSONResponse({"status": "ready"})
        else:
            response = JSONResponse({"status": "not_ready", "reasons": list(readiness.reasons)}, 503)
        await response(scope, receive, send)

    return page


def http_app(
    endpoints: Sequence[Endpoint[Any, Any]],
    core: ShowCore,
    chain: Chain,
    clock: Clock,
    metrics_page: MetricsPage,
    readiness: Readiness,
    refused: Refused,
    cors_origins: Sequence[str] = (),
) -> ASGIApp:
    twirp = TwirpDoor(endpoints, refused)
    rest = rest_app(endpoints, core, chain, clock, metrics_page, refused)
    ready = ready_page(readiness)
    web = web_app()

    async def doors(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            await rest(scope, receive, send)  # the contract's routes, ahead of the pages' lookup
        elif scope["type"] == "http" and scope["path"].startswith(TWIRP_PREFIX + "/"):
            await twirp(scope, receive, send)
        elif scope["type"] == "http" and scope["path"] == "/ready":
            await ready(scope, receive, send)
        elif scope["type"] == "http" and is_web_path(scope["path"]):
            await web(scope, receive, send)
        else:
            await rest(scope, receive, send)

    app: ASGIApp = doors
    if cors_origins:
        app = CORSMiddleware(
            app,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["authorization", "content-type", "x-request-id"],
            expose_headers=["x-request-id", "retry-after"],
            max_age=600,
        )
    return with_request_id(app)
