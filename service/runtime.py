"""The server stack under both doors: the event loop the process runs on and the HTTP parser
uvicorn uses. uvloop (libuv) and httptools (llhttp) are the defaults because they serve the same
requests with less of the event loop's time; the standard library's loop and h11 stay available
(SHOW_EVENT_LOOP=asyncio, SHOW_HTTP_PARSER=h11) for a platform where the fast ones misbehave.
grpc.aio runs on either loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    return uvloop.new_event_loop if name == "uvloop" else asyncio.new_event_loop


def run(main: Coroutine[Any, Any, T], event_loop: str = "uvloop") -> T:
    """Runs `main` to completion on a new loop of the given kind, like asyncio.run."""
    with asyncio.Runner(loop_factory=loop_factory(event_loop)) as runner:
        return runner.run(main)
