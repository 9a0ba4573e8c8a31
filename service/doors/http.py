"""One HTTP port for the browser-facing doors: Twirp under /twirp/, the web app's pages (`/`,
/studio/, /watch/, /assets/), the MVP's REST routes, LiveKit's webhooks, /health and /metrics
everywhere else. Every response carries x-request-id; browsers
from the configured origins may call across origins (CORS)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.clock import Clock
from service.doors.rest_door import MetricsPage, rest_app
from service.doors.serving import Serving
from service.doors.twirp_door import TWIRP_PREFIX, twirp_app
from service.doors.web import is_web_path, web_app
from service.observability.logs import new_request_id, request_id


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


def http_app(serving: Serving, clock: Clock, metrics_page: MetricsPage, cors_origins: Sequence[str] = ()) -> ASGIApp:
    twirp = twirp_app(serving)
    rest = rest_app(serving, clock, metrics_page)
    web = web_app()

    async def doors(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(TWIRP_PREFIX + "/"):
            await twirp(scope, receive, send)
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
