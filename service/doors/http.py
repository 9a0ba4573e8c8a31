"""One HTTP port for the browser-facing doors: Twirp under /twirp/, the MVP's REST routes, LiveKit's
webhooks, /health and /metrics everywhere else. Every response carries x-request-id; browsers
from the configured origins may call across origins (CORS)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.clock import Clock
from service.doors.rest_door import MetricsPage, rest_app
from service.doors.serving import Serving
from service.doors.twirp_door import TWIRP_PREFIX, twirp_app
from service.observability.logs import new_request_id, request_id
from service.observability.readiness import Readiness


def with_request_id(app: ASGIApp) -> ASGIApp:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        rid = new_request_id(Headers(scope=scope).get("x-request-id"))
        request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["x-request-id"] = rid
            await send(message)

        await app(scope, receive, send_with_id)

    return wrapped


def ready_page(readiness: Readiness) -> ASGIApp:
    """GET /ready: 200 while the store and LiveKit answer, 503 with the reasons while not."""

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
    serving: Serving,
    clock: Clock,
    metrics_page: MetricsPage,
    readiness: Readiness,
    cors_origins: Sequence[str] = (),
) -> ASGIApp:
    twirp = twirp_app(serving)
    rest = rest_app(serving, clock, metrics_page)
    ready = ready_page(readiness)

    async def doors(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(TWIRP_PREFIX + "/"):
            await twirp(scope, receive, send)
        elif scope["type"] == "http" and scope["path"] == "/ready":
            await ready(scope, receive, send)
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
