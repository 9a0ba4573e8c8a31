"""The gRPC door on uvicorn's own HTTP/2 (zttp): the default, SHOW_GRPC_SERVER=zttp.

The same endpoints as every door, through the same chain and core; gRPC's wire is small enough to
speak here: a unary call is a POST whose body is one length-prefixed message, answered with one
message and the status in HTTP/2 trailers. The contract's calls are answered by the HTTP/2
connection itself (`GrpcConnection`), everything else (health, reflection, refusals) by `GrpcApp`
through uvicorn's ASGI path. A call costs a fifth to a third of what it costs on grpc.aio here
(README, "Server stack"); grpc.aio stays as SHOW_GRPC_SERVER=grpcio (grpc_door.py), with the
same answers. Callers keep the official grpc-core clients either way.

What grpc.aio did for the door that is done here: health (Check and Watch), server reflection,
deadlines (grpc-timeout), the 64 KiB message bound, compressed messages and unknown methods refused,
the concurrent-call bound; and, in `GrpcConnection`, keepalive pings, the idle and connection
bounds, and a graceful GOAWAY at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import math
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import grpc
import uvicorn
import zttp
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.zttp_h2_impl import ZttpH2Protocol

from service.core.errors import ShowError
from service.doors.edges import ClientGone, EdgeLimits, Refused, TooLarge, answer_writer, body_up_to
from service.doors.errors import WIRE
from service.doors.grpc_door import MAX_MESSAGE_BYTES, SERVICE_NAME, ClientAddresses
from service.doors.http import HttpServer, listen
from service.doors.writes import with_gathered_writes
from service.interceptors.build import Endpoint
from service.observability.logs import new_request_id, request_id
from service.observability.readiness import Readiness

log = logging.getLogger("showrunner")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Trailers = Sequence[tuple[str, str]]

HEALTH = "/grpc.health.v1.Health/"
REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
_GRPC = (b"content-type", b"application/grpc")
# grpc-timeout's units (the gRPC HTTP/2 protocol): hours to nanoseconds.
_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
SERVING: int = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING: int = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN: int = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


class Refusal(Exception):
    """An answer without a message: a gRPC status, its message and trailers."""

    def __init__(self, code: grpc.StatusCode, message: str, trailers: Trailers = ()) -> None:
        super().__init__(message)
        self.code, self.message, self.trailers = code, message, tuple(trailers)

    def reply(self) -> Reply:
        return Reply(self.code, b"", self.message, self.trailers)


@dataclass(frozen=True, slots=True)
class Reply:
    """A unary call's answer: its message (framed; none for a refusal), status and trailers."""

    code: grpc.StatusCode
    message: bytes = b""
    text: str = ""
    trailers: Trailers = ()

    def trailer_block(self) -> list[tuple[bytes, bytes]]:
        block = [(b"grpc-status", _STATUS_BYTES[self.code])]
        if self.text:
            # The protocol's percent-encoding: printable ASCII but '%' as it is, all else escaped.
            block.append((b"grpc-message", urllib.parse.quote(self.text, safe=_PRINTABLE).encode()))
        block += [(name.encode(), value.encode()) for name, value in self.trailers]
        return block


_STATUS_BYTES = {code: str(code.value[0]).encode() for code in grpc.StatusCode}
_PRINTABLE = " !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~"


def framed(message: bytes) -> bytes:
    """One gRPC message on the wire: not compressed, its length, the message."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def timeout_of(value: str | None) -> float | None:
    """grpc-timeout ("250m", "10S") in seconds; None for none, or one that is not well formed."""
    digits = value[:-1] if value else ""
    # ASCII digits only: str.isdigit also takes "²", which int() refuses.
    if not value or not 2 <= len(value) <= 9 or value[-1] not in _UNITS or not (digits.isascii() and digits.isdigit()):
        return None
    return int(digits) * _UNITS[value[-1]]


async def start(send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [_GRPC], "trailers": True})


async def end(send: Send, reply: Reply) -> None:
    """Ends an answer already started: the reply's message (if any), then its status."""
    await send({"type": "http.response.body", "body": reply.message, "more_body": False})
    await send({"type": "http.response.trailers", "headers": reply.trailer_block(), "more_trailers": False})


async def refuse(send: Send, refusal: Refusal) -> None:
    """A "trailers-only" answer in effect: headers, no message, the status."""
    await start(send)
    await end(send, refusal.reply())


async def whole_body(receive: Receive, limit: int) -> bytes:
    """The request's body once it has all come; a Refusal as soon as it passes `limit` bytes."""
    try:
        return await body_up_to(receive, limit)
    except TooLarge:
        raise too_large() from None


def too_large() -> Refusal:
    return Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, f"Received message larger than max ({MAX_MESSAGE_BYTES})")


def one_message(body: bytes) -> bytes:
    """The one message of a unary call's body, or a Refusal: compressed, or not one whole message."""
    if body[:1] == b"\x01":
        raise Refusal(
            grpc.StatusCode.UNIMPLEMENTED,
            "compressed messages are not supported",
            (("grpc-accept-encoding", "identity"),),
        )
    if len(body) < 5 or body[0] != 0 or int.from_bytes(body[1:5], "big") != len(body) - 5:
        raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, "the request is not one whole gRPC message")
    return body[5:]


async def messages(receive: Receive) -> AsyncIterator[bytes]:
    """Each message of a request stream as it comes, until the caller ends its side (or goes)."""
    buffer = b""
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            return
        buffer += event.get("body", b"")
        while len(buffer) >= 5 and len(buffer) >= 5 + int.from_bytes(buffer[1:5], "big"):
            if len(buffer) > 5 + MAX_MESSAGE_BYTES:
                return
            size = int.from_bytes(buffer[1:5], "big")
            yield buffer[5 : 5 + size]
            buffer = buffer[5 + size :]
        if not event.get("more_body") or len(buffer) > 5 + MAX_MESSAGE_BYTES:
            return


async def until_gone(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class Health:
    """grpc.health.v1: "" is liveness (SERVING while the process runs), the show's service is
    readiness (NOT_SERVING while the store or LiveKit cannot be reached), as on grpc.aio."""

    def __init__(self, readiness: Readiness) -> None:
        self._readiness = readiness
        self._changed = asyncio.Event()
        readiness.on_change(self._follow)

    async def _follow(self, ready: bool, reasons: Sequence[str]) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def status(self, service: str) -> int:
        if service == "":
            return SERVING
        if service == SERVICE_NAME:
            return SERVING if self._readiness.ready else NOT_SERVING
        return SERVICE_UNKNOWN

    async def serve(self, method: str, receive: Receive, send: Send) -> None:
        try:
            service = health_pb2.HealthCheckRequest.FromString(one_message(await whole_body(receive, 5 + 4096))).service
        except DecodeError:
            raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, "the protobuf request could not be decoded") from None
        if method == "Check":
            status = self.status(service)
            if status == SERVICE_UNKNOWN:
                raise Refusal(grpc.StatusCode.NOT_FOUND, "unknown service")
            await start(send)
            await end(send, Reply(grpc.StatusCode.OK, framed(self._answer(status))))
            return
        await start(send)  # Watch: the status now, then each change of it, until the caller goes
        gone = asyncio.ensure_future(until_gone(receive))
        told: int | None = None
        try:
            while not gone.done():
                changed = self._changed
                status = self.status(service)
                if status != told:
                    await send({"type": "http.response.body", "body": framed(self._answer(status)), "more_body": True})
                    told = status
                waiting = asyncio.ensure_future(changed.wait())
                try:
                    await asyncio.wait({gone, waiting}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiting.cancel()
        finally:
            gone.cancel()

    @staticmethod
    def _answer(status: int) -> bytes:
        answer: bytes = health_pb2.HealthCheckResponse(status=status).SerializeToString()
        return answer


class GrpcApp:
    """The door itself: each call routed by its path to its endpoint, health or reflection;
    anything else refused as gRPC would refuse it. An ASGI app, and `unary` for the contract's
    calls, which GrpcConnection answers on its own, without ASGI, on the hot path."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint[Any, Any]],
        readiness: Readiness,
        addresses: ClientAddresses,
        refused: Refused,
        max_concurrent_calls: int,
    ) -> None:
        self._by_path = {f"/{SERVICE_NAME}/{endpoint.name}".encode(): endpoint for endpoint in endpoints}
        # Each RPC's answer, framed; kept for the answers the core hands out again (edges.Written).
        self._framed = {endpoint.name: answer_writer(endpoint.name, _framed_answer) for endpoint in endpoints}
        self._health = Health(readiness)
        self._reflection = reflection.aio.ReflectionServicer(
            (SERVICE_NAME, "grpc.health.v1.Health", reflection.SERVICE_NAME)
        )
        self._addresses, self._refused = addresses, refused
        self._max_calls, self._calls = max_concurrent_calls, 0

    def endpoint_at(self, path: bytes) -> Endpoint[Any, Any] | None:
        return self._by_path.get(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] != "POST" or not _content_type(scope["headers"]).startswith(b"application/grpc"):
            # Not a gRPC call at all (the protocol's own answer for another content-type).
            await send({"type": "http.response.start", "status": 415, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"the gRPC port takes application/grpc POSTs only\n"})
            return
        path: str = scope["path"]
        try:
            if (endpoint := self._by_path.get(path.encode())) is not None:
                client = scope.get("client")
                reply = await self.unary(
                    endpoint, scope["headers"], client[0] if client else None, partial(whole_body, receive)
                )
                await start(send)
                await end(send, reply)
            elif path in (HEALTH + "Check", HEALTH + "Watch", REFLECTION):
                # Counted with the contract's calls against the bound, as grpc.aio counts every RPC.
                with self._counted(path.rpartition("/")[2]):
                    if path == REFLECTION:
                        await self._reflect(receive, send)
                    else:
                        await self._health.serve(path[len(HEALTH) :], receive, send)
            else:
                # At once, whatever the caller still sends: grpc.aio answers an unknown method so too.
                raise Refusal(grpc.StatusCode.UNIMPLEMENTED, f"Method not found: {path.lstrip('/')}")
        except Refusal as refusal:
            await refuse(send, refusal)
        except ClientGone:
            return

    async def unary(
        self,
        endpoint: Endpoint[Any, Any],
        headers: Sequence[tuple[bytes, bytes]],
        client: str | None,
        body: Callable[[int], Awaitable[bytes]],
    ) -> Reply:
        """One call of the contract, through the chain: its answer, or its refusal. `body(limit)`
        is the request's whole body (a Refusal past `limit` bytes; ClientGone if the caller went)."""
        try:
            with self._counted(endpoint.name):
                return await self._serve(endpoint, _metadata(headers), client, body)
        except Refusal as refusal:
            return refusal.reply()

    @contextmanager
    def _counted(self, name: str) -> Iterator[None]:
        """One call in flight, refused (RESOURCE_EXHAUSTED) past the bound on calls at once."""
        if self._calls >= self._max_calls:
            self._refused(name, grpc.StatusCode.RESOURCE_EXHAUSTED.name)
            raise Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, "Concurrent RPC limit exceeded!")
        self._calls += 1
        try:
            yield
        finally:
            self._calls -= 1

    async def _serve(
        self,
        endpoint: Endpoint[Any, Any],
        metadata: dict[str, str],
        client: str | None,
        body: Callable[[int], Awaitable[bytes]],
    ) -> Reply:
        raw = one_message(await body(5 + MAX_MESSAGE_BYTES))
        try:
            request: Message = endpoint.rpc.request_type.FromString(raw)
        except DecodeError:
            # Refused before the chain gives the call its id: the refusal still carries one.
            self._refused(endpoint.name, grpc.StatusCode.INVALID_ARGUMENT.name)
            rid = (("x-request-id", new_request_id(metadata.get("x-request-id"))),)
            raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, "the protobuf request could not be decoded", rid) from None
        address = self._addresses.of_address(client, metadata)
        deadline = timeout_of(metadata.get("grpc-timeout"))
        try:
            if deadline is None:
                answer = await endpoint.serve("grpc", request, metadata, address)
            else:
                async with asyncio.timeout(deadline):
                    answer = await endpoint.serve("grpc", request, metadata, address)
        except ShowError as exc:
            trailers: Trailers = _request_id()
            if exc.retry_after is not None:
                trailers = (*trailers, ("retry-after", str(exc.retry_after)))
            raise Refusal(WIRE[exc.code].grpc, exc.message, trailers) from None
        except TimeoutError:
            raise Refusal(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", _request_id()) from None
        return Reply(grpc.StatusCode.OK, self._framed[endpoint.name](answer), "", _request_id())

    async def _reflect(self, receive: Receive, send: Send) -> None:
        async def requests() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
            async for raw in messages(receive):
                try:
                    yield reflection_pb2.ServerReflectionRequest.FromString(raw)
                except DecodeError:
                    return

        await start(send)
        async for answer in self._reflection.ServerReflectionInfo(requests(), None):
            await send({"type": "http.response.body", "body": framed(answer.SerializeToString()), "more_body": True})
        await end(send, Reply(grpc.StatusCode.OK))


def _framed_answer(answer: Message) -> bytes:
    return framed(answer.SerializeToString())


def _content_type(headers: Sequence[tuple[bytes, bytes]]) -> bytes:
    return next((value for name, value in headers if name == b"content-type"), b"")


def _metadata(headers: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    """The call's metadata as grpc.aio hands it to a handler: text keys only, pseudo-headers out."""
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in headers
        if not name.startswith(b":") and not name.endswith(b"-bin")
    }


def _request_id() -> tuple[tuple[str, str], ...]:
    """The id the chain gave the call, in the trailers that end every answer (as on grpc.aio)."""
    return (("x-request-id", request_id.get()),)


# HTTP/2 error codes (RFC 9113, section 7).
NO_ERROR, INTERNAL_ERROR, REFUSED_STREAM, ENHANCE_YOUR_CALM = 0x0, 0x2, 0x7, 0xB


PING, GOAWAY = 0x6, 0x7


def h2_frame(kind: int, payload: bytes, flags: int = 0, stream: int = 0) -> bytes:
    """One HTTP/2 frame (RFC 9113 4.1), for the few the door writes itself: a PING (zttp sends
    none of its own) and a GOAWAY with debug data (zttp's own carries none)."""
    return len(payload).to_bytes(3, "big") + bytes((kind, flags)) + stream.to_bytes(4, "big") + payload


def go_away_frame(last_stream: int, code: int, debug: bytes = b"") -> bytes:
    return h2_frame(GOAWAY, last_stream.to_bytes(4, "big") + code.to_bytes(4, "big") + debug)


def _header_list(headers: zttp.HeaderBlock | list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    if isinstance(headers, zttp.HeaderBlock):
        return headers.to_list(lowercase_names=True)
    return [(name.lower(), value) for name, value in headers]


class UnaryCall:
    """A unary call GrpcConnection answers itself, in the place of uvicorn's per-stream cycle:
    uvicorn's connection feeds it the body as it comes (`body`, `more_body`, `message_event`)
    and tells it of a reset or a lost connection (`disconnected`)."""

    __slots__ = (
        "_resume", "body", "disconnected", "message_event", "more_body", "response_complete", "stream", "task",
    )  # fmt: skip

    def __init__(self, stream: zttp.Stream, resume_reading: Callable[[], None]) -> None:
        self.stream = stream
        self.body = bytearray()
        self.more_body = True
        self.message_event = asyncio.Event()
        self.disconnected = False
        self.response_complete = False
        self._resume = resume_reading
        self.task: asyncio.Task[None] | None = None

    def cancel(self) -> None:
        """Its caller reset the stream or lost the connection: the call's work is cancelled, as
        grpc.aio cancels a handler (a call with a deadline is cancelled so already)."""
        if not self.response_complete and self.task is not None:
            self.task.cancel()

    async def body_of(self, limit: int) -> bytes:
        """The whole body once the caller has ended it; a Refusal past `limit` bytes."""
        while True:
            if self.disconnected:
                raise ClientGone
            if len(self.body) > limit:
                raise too_large()
            if not self.more_body:
                return bytes(self.body)
            self.message_event.clear()
            # uvicorn pauses reading past its own high-water mark (64 KiB), a hair under `limit`.
            self._resume()
            await self.message_event.wait()


class GrpcConnection(ZttpH2Protocol):
    """uvicorn's HTTP/2 connection, with what a gRPC server owes its callers beyond it:

    - Streams per connection. zttp 0.0.35 ends a connection after 4,096 streams with GOAWAY
      ENHANCE_YOUR_CALM ("HTTP/2 flood detected"), and every call in flight on it fails. Before
      that, after `streams_per_connection`, the connection is told to go (GOAWAY NO_ERROR, its
      last stream named): its calls are answered and the caller opens another connection. A
      stream started after it is refused with REFUSED_STREAM, which gRPC clients retry themselves.
    - Keepalive. After `keepalive_seconds` with nothing read, the connection is pinged; if still
      nothing is read `keepalive_timeout_seconds` later, the peer is gone and the connection is
      closed (grpc.aio's keepalive_time and keepalive_timeout). zttp answers the caller's pings.
    - Idle connections. One with no call for `idle_seconds` is told to go and closed, whatever
      pings it carries (grpc.aio's max_connection_idle).
    - Connections. Past `max_connections` open, a new connection is closed as it comes, as
      grpc.aio refuses it; those open go on.
    - Pings too often. A caller's ping sooner than `ping_interval_seconds` after its last one,
      with nothing sent to it between, is a strike; past `ping_strikes` strikes the connection is
      told to go with GOAWAY ENHANCE_YOUR_CALM "too_many_pings" and closed, as grpc-core servers
      do (its clients then double their keepalive time). What counts as sent: a call answered, or
      a stream's WINDOW_UPDATE from the caller, which it sends having read our data (grpc-core
      resets the strikes on every HEADERS or DATA frame it writes; zttp writes those for us).
    - A graceful GOAWAY at shutdown, so callers stop starting calls here while theirs finish.
    - The contract's unary calls answered here, without ASGI (`door.unary`): no scope, no
      per-stream ASGI cycle, one write of headers, message and trailers. uvicorn's ASGI path
      still takes everything else (health, reflection, unknown methods).

    This subclasses uvicorn's protocol, which is not public API: uvicorn is pinned, and
    tests/test_grpc_h2_door.py holds each of these against a real grpc-core client."""

    streams_per_connection: ClassVar[int] = 3500
    keepalive_seconds: ClassVar[float] = 60.0
    keepalive_timeout_seconds: ClassVar[float] = 20.0
    leave_seconds: ClassVar[float] = 5.0  # a caller told to go closes first; this is its time to
    ping_interval_seconds: ClassVar[float] = 10.0
    ping_strikes: ClassVar[int] = 2
    max_connections: ClassVar[int | None] = None
    idle_seconds: ClassVar[float | None] = None
    door: ClassVar[GrpcApp | None] = None

    _streams = 0
    _newest_stream = 0
    _last_read = 0.0
    _keepalive: asyncio.TimerHandle | None = None
    _idling: asyncio.TimerHandle | None = None
    _idle_since = 0.0
    _owed_until: float | None = None
    _leaving: asyncio.TimerHandle | None = None
    _last_ping = -math.inf
    _strikes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        if self.max_connections is not None and len(self.connections) > self.max_connections:
            # Past the bound the connection itself is refused, as grpc.aio refuses it; the calls
            # of the connections already open go on.
            log.warning("gRPC connection from %s refused: %d connections open", self.client, self.max_connections)
            self.transport.close()
            return
        self._last_read = self._idle_since = self.loop.time()
        self._keepalive = self.loop.call_later(self.keepalive_seconds, self._quiet_check)
        if self.idle_seconds is not None:
            self._idling = self.loop.call_later(self.idle_seconds, self._idle_check)

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._keepalive, self._leaving, self._idling):
            if timer is not None:
                timer.cancel()
        calls = [cycle for cycle in self.cycles.values() if isinstance(cycle, UnaryCall)]
        super().connection_lost(exc)
        for call in calls:
            call.cancel()

    def handle_rst_stream(self, event: zttp.RstStream) -> None:
        call = self.cycles.get(event.stream_id)
        super().handle_rst_stream(event)
        if isinstance(call, UnaryCall):
            call.cancel()

    def data_received(self, data: bytes) -> None:
        self._last_read = self.loop.time()
        super().data_received(data)

    def events(self) -> Generator[zttp.Event]:
        for event in super().events():
            if isinstance(event, zttp.Ping):
                if not event.ack and self._pinged_too_often():
                    return
            elif isinstance(event, zttp.WindowUpdate) and event.stream_id:
                self._sent_something()
            yield event

    def _pinged_too_often(self) -> bool:
        """Counts a caller's ping; past the strikes, tells it to go and closes the connection."""
        now = self.loop.time()
        soon = now - self._last_ping < self.ping_interval_seconds
        self._last_ping = now
        if not soon:
            return False
        self._strikes += 1
        if self.ping_strikes <= 0 or self._strikes <= self.ping_strikes:  # 0: no bound, as in grpc-core
            return False
        log.info("gRPC connection from %s closed: it pinged too often", self.client)
        self.flush()  # what zttp has queued (the ping's ack among it) goes before the GOAWAY
        self.transport.write(go_away_frame(self._newest_stream, ENHANCE_YOUR_CALM, b"too_many_pings"))
        self.shutdown_requested = True
        self.transport.close()
        return True

    def _sent_something(self) -> None:
        self._last_ping = -math.inf
        self._strikes = 0

    def on_response_complete(self, stream_id: int) -> None:
        self._sent_something()
        super().on_response_complete(stream_id)

    def resume_reading_if_idle(self) -> None:
        """Reading goes on unless one of uvicorn's own cycles holds a body past its high-water
        mark. A unary call never holds reads back: it takes its body to the end, or refuses it
        past the message bound (`UnaryCall.body_of`), and a call a few bytes past the high mark
        but under the bound waits for more of it. Counted as uvicorn counts, a stream ending
        while such a call waited left reading paused for the whole connection, and every call
        on it hung."""
        for cycle in self.cycles.values():
            if not isinstance(cycle, UnaryCall) and len(cycle.body) > HIGH_WATER_LIMIT:
                return
        self.flow.resume_reading()

    def handle_request(self, event: zttp.Request) -> None:
        self._streams += 1
        if self._streams > self.streams_per_connection or self.shutdown_requested:
            self.conn.stream(event.stream_id).reset(REFUSED_STREAM)
            self.flush()
            return
        self._newest_stream = event.stream_id
        endpoint = self.door.endpoint_at(event.path) if self.door is not None and event.method == b"POST" else None
        headers = _header_list(event.headers) if endpoint is not None else []
        if endpoint is None or not _content_type(headers).startswith(b"application/grpc"):
            super().handle_request(event)
        else:
            call = UnaryCall(self.conn.stream(event.stream_id), self.flow.resume_reading)
            self.cycles[event.stream_id] = call  # type: ignore[assignment]  # uvicorn feeds it as a cycle
            task = call.task = self.loop.create_task(self._answer(call, endpoint, headers))
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)
        if event.end_stream:
            # HEADERS that end the stream: the request has no body, and zttp gives no
            # EndOfMessage for it, so neither uvicorn's cycle nor ours would stop waiting for one.
            cycle = self.cycles.get(event.stream_id)
            if cycle is not None:
                cycle.more_body = False
                cycle.message_event.set()
        if self._streams == self.streams_per_connection:
            self._go_away()

    async def _answer(self, call: UnaryCall, endpoint: Endpoint[Any, Any], headers: list[tuple[bytes, bytes]]) -> None:
        assert self.door is not None
        stream_id = call.stream.stream_id
        try:
            reply = await self.door.unary(endpoint, headers, self.client[0] if self.client else None, call.body_of)
            if self.flow.write_paused:
                # A caller that does not read what it is sent (the socket's buffer past its high
                # mark) waits for it: its answers hold their streams (128 a connection) instead
                # of piling up in memory, as uvicorn's own answers wait.
                await self.flow.drain()
            if not call.disconnected and not self.transport.is_closing():
                call.stream.send_response(200, [_GRPC])
                if reply.message:
                    call.stream.send_data(reply.message)
                call.stream.end_message(reply.trailer_block())
                self.transport.write(self.conn.data_to_send())
        except ClientGone:
            pass
        except Exception:  # the chain answers its own failures; this is the door's, or the wire's
            log.exception("gRPC call %s could not be answered", endpoint.name)
            if not call.disconnected and not self.transport.is_closing():
                call.stream.reset(INTERNAL_ERROR)
                self.transport.write(self.conn.data_to_send())
        finally:
            call.response_complete = True
            self.on_response_complete(stream_id)

    def shutdown(self) -> None:
        if not self.shutdown_requested and not self.transport.is_closing():
            self._go_away()
        super().shutdown()

    def _go_away(self) -> None:
        """GOAWAY NO_ERROR naming the newest stream taken: those up to it are answered here."""
        self.conn.close(NO_ERROR, self._newest_stream)
        self.flush()
        self.shutdown_requested = True

    def _close_connection(self) -> None:
        if self.transport.is_closing():
            return
        if self.shutdown_requested and self._streams >= self.streams_per_connection:
            # Told to go with the calls answered: closing at once could reset frames still on
            # their way to the caller, who closes the connection itself once it has read them.
            if self._leaving is None:
                self._leaving = self.loop.call_later(self.leave_seconds, self._closed_after_go_away)
            return
        self._closed_after_go_away()

    def _closed_after_go_away(self) -> None:
        """uvicorn's close, its GOAWAY naming the stream ours named: zttp's own would name the
        newest stream it saw, refused ones with it, and a second GOAWAY may not name more. An
        answer zttp still holds for the caller's flow-control window is written first (the
        caller's WINDOW_UPDATEs release it), for `leave_seconds` at most."""
        if self.transport.is_closing():
            return
        if self.conn.has_pending_send():
            now = self.loop.time()
            if self._owed_until is None:
                self._owed_until = now + self.leave_seconds
            if now < self._owed_until:
                self._leaving = self.loop.call_later(0.05, self._closed_after_go_away)
                return
        if self.shutdown_requested and self._newest_stream:
            self.conn.close(NO_ERROR, self._newest_stream)
            self.flush()
            self.transport.close()
            return
        super()._close_connection()

    def on_stream_closed(self) -> None:
        super().on_stream_closed()
        if not self.cycles:
            self._idle_since = self.loop.time()

    def _idle_check(self) -> None:
        """grpc.aio's max_connection_idle: a connection with no call for `idle_seconds` is told
        to go and closed. uvicorn's own idle timer starts again on every byte read, so it never
        ends a connection whose peer answers pings (ours, every keepalive_seconds) or sends its
        own: idle here is time without calls, whatever else the connection carries."""
        assert self.idle_seconds is not None
        if self.transport.is_closing():
            return
        idle = self.loop.time() - self._idle_since
        if self.cycles or idle < self.idle_seconds:
            wait = self.idle_seconds if self.cycles else self.idle_seconds - idle
            self._idling = self.loop.call_later(wait, self._idle_check)
            return
        self._go_away()
        self._close_connection()

    def _quiet_check(self) -> None:
        if self.transport.is_closing():
            return
        quiet = self.loop.time() - self._last_read
        if quiet < self.keepalive_seconds:
            self._keepalive = self.loop.call_later(self.keepalive_seconds - quiet, self._quiet_check)
            return
        # A PING of our own, written between whole frames: zttp takes the peer's ack of it.
        self.transport.write(h2_frame(PING, b"showping"))
        pinged = self.loop.time()
        self._keepalive = self.loop.call_later(self.keepalive_timeout_seconds, self._ping_answered, pinged)

    def _ping_answered(self, pinged: float) -> None:
        if self.transport.is_closing():
            return
        if self._last_read < pinged:
            log.info("gRPC connection from %s closed: its keepalive ping went unanswered", self.client)
            self.transport.abort()
            return
        self._quiet_check()


def connection_for(door: GrpcApp, edges: EdgeLimits) -> type[GrpcConnection]:
    """GrpcConnection answering `door`'s calls, with the edge limits' keepalive."""
    return type(
        "ShowGrpcConnection",
        (GrpcConnection,),
        {
            "door": door,
            "keepalive_seconds": edges.grpc_keepalive_seconds,
            "keepalive_timeout_seconds": edges.grpc_keepalive_timeout_seconds,
            "ping_interval_seconds": edges.grpc_ping_interval_seconds,
            "ping_strikes": edges.grpc_ping_strikes,
            "max_connections": edges.grpc_max_connections,
            "idle_seconds": edges.grpc_idle_seconds,
        },
    )


class GrpcH2Server:
    """The door's server, started and stopped as grpc.aio.Server is (`start`, `stop(grace)`)."""

    def __init__(self, app: GrpcApp, host: str, port: int, edges: EdgeLimits) -> None:
        try:
            self._socket = listen(host, port)
        except OSError as exc:  # as grpc.aio tells a port it cannot take
            raise RuntimeError(exc.strerror or str(exc)) from exc
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            # A turn's answers on a connection go out in one write at its end, as on the HTTP
            # door (writes.py): a gRPC channel multiplexes its calls on one connection, and
            # uvicorn writes each answer's headers, message and trailers as they come.
            http=with_gathered_writes(connection_for(app, edges)),
            loop="none",
            lifespan="off",
            access_log=False,
            log_config=None,  # uvicorn's lines in the service's JSON, as on the HTTP door
            log_level="warning",
            # A connection without calls is closed after the idle time (GOAWAY). The bounds are
            # the door's: connections past SHOW_GRPC_MAX_CONNECTIONS are refused (GrpcConnection),
            # calls past SHOW_GRPC_MAX_CONCURRENT_RPCS answered RESOURCE_EXHAUSTED (GrpcApp), as on
            # grpc.aio. (uvicorn's limit_concurrency would answer every call on every connection
            # 503 once the connections reached it.)
            timeout_keep_alive=max(1, round(edges.grpc_idle_seconds)),
            proxy_headers=False,  # the door reads x-forwarded-for itself, from trusted proxies only
        )
        self._server = HttpServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))

    async def stop(self, grace: float | None) -> None:
        """Takes no new connection; tells each open one to go (GOAWAY); ends once their calls
        are answered, cancelling those still running after `grace` seconds."""
        now = grace == 0
        # uvicorn waits for the calls up to its graceful timeout, then cancels them (and logs it);
        # with no grace at all it waits for none, and they are cancelled here.
        self._server.config.timeout_graceful_shutdown = None if grace is None or now else math.ceil(grace)
        self._server.should_exit = True
        self._server.force_exit = now
        if self._task is not None:
            await self._task
        else:
            self._socket.close()
        for task in list(self._server.server_state.tasks):
            task.cancel()
