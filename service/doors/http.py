"""One HTTP port for the browser-facing doors: Twirp under /twirp/, the MVP's REST routes and
/health everywhere else."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from service.core.clock import Clock
from service.core.show import ShowCore
from service.doors.rest_door import rest_app
from service.doors.twirp_door import TWIRP_PREFIX, twirp_app


def http_app(core: ShowCore, clock: Clock) -> ASGIApp:
    twirp = twirp_app(core)
    rest = rest_app(core, clock)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(TWIRP_PREFIX + "/"):
            await twirp(scope, receive, send)
        else:
            await rest(scope, receive, send)

    return app
