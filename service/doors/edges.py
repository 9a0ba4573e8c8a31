"""The edges of both ports: how long a connection may sit idle, how long a client may take to
send its headers and its body, how many connections one instance takes at once, and how the HTTP
doors read a request's headers and (bounded) body.

Without them a client that opens a connection and sends nothing, or sends a body one byte a
second, holds a slot of the instance for as long as it likes. The defaults suit a load balancer
in front: its idle timeout (60 s on the usual cloud balancers) is shorter than ours (75 s), so it
is the balancer that closes an idle keep-alive connection, never the instance under its feet.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from starlette.types import ASGIApp, Receive, Scope, Send

from service.core.show import SHARED_ANSWERS
from service.observability.logs import new_request_id

# The largest request body any door takes.
MAX_BODY_BYTES = 64 * 1024
# The largest request header (request line included) the HTTP port takes, not counting the read
# it begins in.
MAX_HEADER_BYTES = 64 * 1024
# The values each protobuf integer type holds, as the doors check a JSON number before it fills one.
INTEGER_RANGES = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1),
}


# How a request refused before the chain is counted (Metrics.refused): the RPC it was for, or
# UNROUTED when no door had found one, and the status it was answered with (an HTTP status on the
# HTTP port, a canonical code on gRPC). Called on refusals only, never on a request served.
Refused = Callable[[str, str], None]
UNROUTED = "unrouted"
# How long a client refused past SHOW_MAX_CONNECTIONS is asked to wait before it tries again.
RETRY_OVER_CAP_SECONDS = 1


class Written:
    """What a door wrote of the answers the core hands out again (core.show's SHARED_ANSWERS: the
    same message object for as long as what it says holds), kept by the message's identity. The
    message is kept beside its bytes, so no other object can take its identity while it is kept;
    the core never changes an answer once handed out. The `keep` most recent are kept."""

    def __init__(self, write: Callable[[Any], bytes], keep: int = 256) -> None:
        self._write = write
        self._keep = keep
        self._written: dict[int, tuple[Any, bytes]] = {}

    def __call__(self, answer: Any) -> bytes:
        kept = self._written.get(id(answer))
        if kept is not None and kept[0] is answer:
            return kept[1]
        written = self._write(answer)
        if len(self._written) >= self._keep:
            del self._written[next(iter(self._written))]
        self._written[id(answer)] = (answer, written)
        return written


def answer_writer(rpc: str, write: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    """How a door writes an RPC's answers: through a Written when the core shares that RPC's
    answers (SHARED_ANSWERS), else `write` itself, each time."""
    return Written(write) if rpc in SHARED_ANSWERS else write


class TooLarge(Exception):
    """The body is larger than the doors accept; each door answers it in its own words."""


class ClientGone(Exception):
    """The client went away before its body arrived: there is no one to answer."""


def headers_of(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (the last of repeated ones), as the chain reads them."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def read_body(receive: Receive, headers: Mapping[str, str]) -> bytes:
    """The body, refused once it passes MAX_BODY_BYTES without reading the rest."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise TooLarge
    return await body_up_to(receive, MAX_BODY_BYTES)


async def body_up_to(receive: Receive, limit: int) -> bytes:
    """The whole body, refused (TooLarge) once it passes `limit` bytes without reading the rest;
    ClientGone if the client goes first."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


@dataclass(frozen=True)
class EdgeLimits:
    http_idle_seconds: float = 75.0  # a keep-alive connection with no request in flight
    http_header_seconds: float = 10.0  # from connection (or end of the last response) to a whole header
    http_body_seconds: float = 30.0  # from the header to the whole body
    max_connections: int = 4096  # HTTP connections (and requests in flight) per instance; 503 beyond
    grpc_keepalive_seconds: float = 60.0  # the server pings a quiet connection this often
    grpc_keepalive_timeout_seconds: float = 20.0  # and closes it if the ping is not answered
    # A caller may ping this often with nothing sent to it between; a ping sooner is a strike, and
    # past the strikes allowed the connection is told to go (GOAWAY ENHANCE_YOUR_CALM too_many_pings).
    grpc_ping_interval_seconds: float = 10.0
    grpc_ping_strikes: int = 2
    grpc_idle_seconds: float = 300.0  # a connection without calls for this long is closed (GOAWAY)
    grpc_max_connections: int = 4096  # further connections are refused
    grpc_max_concurrent_rpcs: int = 2048  # calls in flight beyond this answer RESOURCE_EXHAUSTED

    def grpc_options(self) -> list[tuple[str, Any]]:
        """Channel arguments of the gRPC server: keepalive, idle and connection limits."""
        return [
            ("grpc.keepalive_time_ms", round(self.grpc_keepalive_seconds * 1000)),
            ("grpc.keepalive_timeout_ms", round(self.grpc_keepalive_timeout_seconds * 1000)),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", round(self.grpc_ping_interval_seconds * 1000)),
            ("grpc.http2.max_ping_strikes", self.grpc_ping_strikes),
            ("grpc.max_connection_idle_ms", round(self.grpc_idle_seconds * 1000)),
            ("grpc.max_allowed_incoming_connections", self.grpc_max_connections),
        ]


def with_deadlines(
    protocol: type[asyncio.Protocol], header_seconds: float, body_seconds: float, refused: Refused
) -> type[asyncio.Protocol]:
    """`protocol` (one of uvicorn's HTTP protocols), closing a connection whose request header
    does not arrive whole within `header_seconds` (from the connection's start, and again from
    the first byte of each following request; uvicorn itself only times the quiet between
    requests), and answering 408 and closing one whose body has not arrived whole within
    `body_seconds` of its header. A header that grows past MAX_HEADER_BYTES is answered 431
    and the connection closed.

    Both are timed here, where the bytes arrive, rather than around the app: a request that
    arrives whole in one read (nearly all of them) never arms the body's timer, and the app reads
    its body as it comes, the doors refusing one past MAX_BODY_BYTES themselves.

    Past the connection cap (uvicorn's `limit_concurrency`, SHOW_MAX_CONNECTIONS: connections
    open, or requests in flight), a request is answered 503 here too, as uvicorn would, but in
    JSON with a request id and a Retry-After like every other answer of the port, where uvicorn
    answers in plain text with neither. The cap is counted exactly as uvicorn counts it.

    Every request refused here, and those uvicorn refuses itself (400 for one it cannot parse),
    is counted by `refused`, as UNROUTED: no door has answered it."""

    class EdgeDeadlines(protocol):  # type: ignore[valid-type,misc]
        _header_timer: asyncio.TimerHandle | None = None
        _body_timer: asyncio.TimerHandle | None = None
        # A header not yet whole, and its bytes in the reads after the one it began in. httptools
        # keeps a header however long it grows (and blocks the loop growing it); h11 refuses one
        # past 16 KiB itself, with 400.
        _in_header = False
        _header_bytes = 0
        logger: Any  # uvicorn's
        limit_concurrency: int | None
        app: ASGIApp  # the service, which this protocol swaps for _over_cap_answer past the cap
        connections: set[asyncio.Protocol]
        tasks: set[asyncio.Task[None]]

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # The cap is checked here (_past_cap), so that the answer past it is ours.
            self._cap: int | None = self.limit_concurrency
            self.limit_concurrency = None
            self._service = self.app

        def _past_cap(self) -> bool:
            """Past the cap: more connections than it, this request's own among them, or as many
            requests in flight as it without this one (SHOW_MAX_CONNECTIONS=1 serves one client)."""
            cap = self._cap
            return cap is not None and (len(self.connections) > cap or len(self.tasks) >= cap)

        def _taking(self, take: Callable[[], None]) -> None:
            """Runs uvicorn's step that starts the request whose header just arrived, with
            _over_cap_answer as the app for it when the instance is past its cap."""
            if not self._past_cap():
                take()
                return
            self.app = self._over_cap_answer
            try:
                take()
            finally:
                self.app = self._service

        async def _over_cap_answer(self, scope: Scope, receive: Receive, send: Send) -> None:
            refused(UNROUTED, "503")
            request_id = id_of(scope)
            self.logger.warning(
                "answered 503 past the connection cap (SHOW_MAX_CONNECTIONS=%s) (request id %s)", self._cap, request_id
            )
            message = "the service is at its limit of connections; try again shortly"
            head, body = _json_answer(
                _in_words_of(scope["path"], "unavailable", message),
                request_id,
                [(b"retry-after", str(RETRY_OVER_CAP_SECONDS).encode())],
            )
            await send({"type": "http.response.start", "status": 503, "headers": head})
            await send({"type": "http.response.body", "body": body})

        def handle_events(self) -> None:  # h11: the request's header is taken in here
            self._taking(super().handle_events)

        def send_400_response(self, msg: str) -> None:
            # uvicorn's own answer (plain text, no request id) replaced by one like every other
            # answer of the port: JSON, with an id of its own that the log line names too.
            refused(UNROUTED, "400")
            request_id = new_request_id()
            self.logger.warning("answered 400 to a request that is not valid HTTP (request id %s)", request_id)
            if not self.transport.is_closing():
                self.transport.write(not_http(request_id))
                self.transport.close()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_header, self._header_bytes = True, 0

        def on_headers_complete(self) -> None:  # httptools
            self._in_header = False
            self._taking(super().on_headers_complete)

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self._arm_header_deadline()

        def data_received(self, data: bytes) -> None:
            if self._in_header:  # all of it, unless the header ends in it (a new one starts at 0)
                self._header_bytes += len(data)
            cycle = self.cycle
            super().data_received(data)
            if self._in_header and self._header_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
                self.transport.write(header_too_large())
                self.transport.close()
                refused(UNROUTED, "431")
                return
            if self.cycle is not cycle:  # the header of a new request arrived whole
                self._disarm_header_deadline()
                cycle = self.cycle
            elif self._header_timer is None and (cycle is None or cycle.response_complete):
                # The first bytes of a header that is not whole yet: timed from now. A header
                # that arrives whole in one read (nearly all) never arms the timer.
                self._arm_header_deadline()
            if cycle is not None and cycle.more_body and not cycle.response_complete:
                if self._body_timer is None:
                    self._body_timer = asyncio.get_running_loop().call_later(body_seconds, self._body_overdue, cycle)
            else:
                self._disarm_body_deadline()

        def on_response_complete(self) -> None:
            cycle = self.cycle
            super().on_response_complete()
            # h11 takes a pipelined request out of what it kept only now, after the answer before
            # it (httptools did in data_received, and queued it): its body is timed from here.
            taken = self.cycle
            if taken is not cycle and taken is not None and taken.more_body and self._body_timer is None:
                self._body_timer = asyncio.get_running_loop().call_later(body_seconds, self._body_overdue, taken)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_deadline()
            self._disarm_body_deadline()
            super().connection_lost(exc)

        def _arm_header_deadline(self) -> None:
            self._header_timer = asyncio.get_running_loop().call_later(header_seconds, self._header_overdue, self.cycle)

        def _disarm_header_deadline(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _disarm_body_deadline(self) -> None:
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

        def _header_overdue(self, cycle: object) -> None:
            self._header_timer = None
            if self.cycle is cycle and not self.transport.is_closing():
                self.transport.close()

        def _body_overdue(self, cycle: Any) -> None:
            self._body_timer = None
            if self.cycle is not cycle or not cycle.more_body or self.transport.is_closing():
                return
            if any(queued is cycle for queued, _ in getattr(self, "pipeline", ())):
                # Pipelined behind a request still being answered (httptools queues it; h11 reads
                # no request ahead): its body is not read until that answer is out, and a 408 now
                # would go out ahead of it. Timed anew.
                self._body_timer = asyncio.get_running_loop().call_later(body_seconds, self._body_overdue, cycle)
                return
            if not cycle.response_started:
                # The app is still waiting for the body: it hears the client is gone (the
                # connection closes), and the client hears why, under the request's own id.
                self.transport.write(request_timeout(cycle.scope["path"], body_seconds, id_of(cycle.scope)))
                refused(UNROUTED, "408")
            self.transport.close()

    EdgeDeadlines.__name__ = f"EdgeDeadlines{protocol.__name__}"
    return EdgeDeadlines


def id_of(scope: Scope) -> str:
    """The request id the HTTP port answers a request with (service.doors.http puts it in the
    request's headers before the app sees them), or a fresh one if the app has not seen it yet."""
    given = next((value for name, value in reversed(scope["headers"]) if name == b"x-request-id"), None)
    return new_request_id(given.decode("latin-1") if given is not None else None)  # a sane one, or fresh


def header_too_large() -> bytes:
    """The whole 431 answer to a header past MAX_HEADER_BYTES (its path may not have arrived),
    with a request id of its own: every HTTP answer carries one."""
    message = f"the request header is larger than {MAX_HEADER_BYTES // 1024} KiB"
    return _answer("431 Request Header Fields Too Large", {"error": message}, new_request_id())


def not_http(request_id: str) -> bytes:
    """The whole 400 answer to bytes that do not parse as an HTTP request (uvicorn's parser
    refused them): the door is not known, so in the REST door's words."""
    return _answer("400 Bad Request", {"error": "the request is not valid HTTP/1.1"}, request_id)


def _answer(status: str, document: dict[str, str], request_id: str) -> bytes:
    """A whole JSON answer that closes its connection, for the refusals made before any door."""
    head, body = _json_answer(document, request_id, [])
    lines = b"".join(name + b": " + value + b"\r\n" for name, value in head)
    return f"HTTP/1.1 {status}\r\n".encode() + lines + b"\r\n" + body


def request_timeout(path: str, seconds: float, request_id: str) -> bytes:
    """The whole 408 answer to a body that did not arrive in time, in the door's own words."""
    message = f"the request body did not arrive within {seconds:g} s"
    return _answer("408 Request Timeout", _in_words_of(path, "deadline_exceeded", message), request_id)


def _in_words_of(path: str, twirp_code: str, message: str) -> dict[str, str]:
    """A refusal made before any door, as the door that `path` leads to words its errors."""
    if path.startswith("/twirp/"):
        return {"code": twirp_code, "msg": message}
    return {"error": message}


def _json_answer(
    document: dict[str, str], request_id: str, more: list[tuple[bytes, bytes]]
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The headers and body of an ASGI answer that refuses in JSON and closes its connection."""
    body = json.dumps(document, separators=(",", ":")).encode()
    head = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
        (b"connection", b"close"),
        *more,
    ]
    return head, body
