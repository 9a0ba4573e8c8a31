"""The HTTP door's writes of one turn of the loop go out together at its end (doors/writes.py):
nothing is lost, reordered or held past its turn, on the service's own uvicorn configuration."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from service import runtime
from service.app import http_config
from service.config import Settings
from service.doors.http import HttpServer, listen
from service.doors.writes import GatheredTransport
from service.observability.metrics import Metrics


class Recorded(asyncio.Transport):
    """What reaches the socket's transport, write by write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted


async def test_one_turns_writes_reach_the_transport_as_one_at_its_end() -> None:
    loop = asyncio.get_running_loop()
    first, second = Recorded(), Recorded()
    a, b = GatheredTransport(first, loop), GatheredTransport(second, loop)
    a.write(b"HTTP/1.1 200 OK\r\n\r\n")
    b.write(b"head-b;")
    a.writelines([b"body", bytearray(b"-a")])
    b.write(b"")
    assert first.writes == [] and second.writes == []  # held until the turn ends
    await asyncio.sleep(0)
    assert first.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody-a"] and second.writes == [b"head-b;"]
    b.write(b"next")
    await asyncio.sleep(0)
    assert second.writes == [b"head-b;", b"next"]


async def test_closing_sends_what_is_held_and_aborting_drops_it() -> None:
    loop = asyncio.get_running_loop()
    closed, aborted = Recorded(), Recorded()
    a, b = GatheredTransport(closed, loop), GatheredTransport(aborted, loop)
    a.write(b"last answer")
    a.close()
    assert closed.writes == [b"last answer"] and closed.closed
    b.write(b"never sent")
    b.abort()
    a.write(b"after the close")
    await asyncio.sleep(0)
    assert aborted.writes == [] and aborted.aborted
    assert closed.writes == [b"last answer"]  # a closed transport takes nothing more


# The service's stack and the standard one it can fall back to (SHOW_EVENT_LOOP, SHOW_HTTP_PARSER).
STACKS = [("uvloop", "httptools"), ("asyncio", "h11")]
App = Callable[[Scope, Receive, Send], Any]


def on_stack(stack: tuple[str, str], app: App, client: Callable[[int], Awaitable[None]], **settings: str) -> None:
    """Serves `app` on the service's uvicorn configuration (with these SHOW_ settings), on that
    loop and parser, and runs `client` against it."""
    event_loop, parser = stack

    async def main() -> None:
        env = {"LIVEKIT_URL": "ws://127.0.0.1:1", "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "s" * 32}
        env |= {"SHOW_HOST": "127.0.0.1", "SHOW_HTTP_PORT": "0", "SHOW_GRPC_PORT": "0", "SHOW_HTTP_PARSER": parser}
        env |= settings
        server = HttpServer(http_config(app, Settings.from_env(env), Metrics().refused))
        listener = listen("127.0.0.1", 0)
        task = asyncio.create_task(server.serve(sockets=[listener]))
        try:
            for _ in range(1000):
                if server.started:
                    break
                await asyncio.sleep(0.01)
            await asyncio.wait_for(client(listener.getsockname()[1]), 20)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)

    runtime.run(main(), event_loop)


async def numbered(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers each request with its own path, header and body sent separately."""
    if scope["type"] != "http":
        return
    await receive()
    body = scope["path"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await asyncio.sleep(0)  # the body in a later turn than the header, now and then
    await send({"type": "http.response.body", "body": body})


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    lengths = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
    length = int(lengths[0].split(b":")[1])
    return await reader.readexactly(length)


@pytest.mark.parametrize("stack", STACKS)
def test_pipelined_requests_on_many_connections_are_each_answered_in_order(stack: tuple[str, str]) -> None:
    answered: list[list[bytes]] = []

    async def one_connection(port: int, c: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        paths = [f"/c{c}/r{r}" for r in range(20)]
        writer.write(b"".join(f"GET {p} HTTP/1.1\r\nhost: x\r\n\r\n".encode() for p in paths))
        answers = [await read_answer(reader) for _ in paths]
        writer.close()
        assert answers == [p.encode() for p in paths]
        answered.append(answers)

    async def client(port: int) -> None:
        await asyncio.gather(*(one_connection(port, c) for c in range(10)))

    on_stack(stack, numbered, client)
    assert sum(len(a) for a in answered) == 200


@pytest.mark.parametrize("stack", STACKS)
def test_a_streamed_answer_is_sent_turn_by_turn_not_at_its_end(stack: tuple[str, str]) -> None:
    heard: list[asyncio.Event] = []

    async def streamed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first;", "more_body": True})
        await heard[0].wait()  # only once the client has the first part
        await send({"type": "http.response.body", "body": b"second", "more_body": False})

    async def client(port: int) -> None:
        heard.append(asyncio.Event())
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        await reader.readuntil(b"first;\r\n")
        heard[0].set()
        assert (await reader.readuntil(b"0\r\n\r\n")).endswith(b"second\r\n0\r\n\r\n")
        writer.close()

    on_stack(stack, streamed, client)


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("request_line", ["GET /last HTTP/1.1\r\nconnection: close", "GET /last HTTP/1.0"])
def test_an_answer_is_whole_before_the_server_closes_the_connection(stack: tuple[str, str], request_line: str) -> None:
    received: list[bytes] = []

    async def client(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"{request_line}\r\nhost: x\r\n\r\n".encode())
        received.append(await reader.read())  # until the server closes
        writer.close()

    on_stack(stack, numbered, client)
    assert received[0].startswith(b"HTTP/1.1 200 OK\r\n") and received[0].endswith(b"\r\n\r\n/last")


async def whole(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers each request with its own path, header and body in one turn."""
    if scope["type"] != "http":
        return
    await receive()
    body = scope["path"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


@pytest.mark.parametrize("stack", STACKS)
def test_a_client_that_half_closes_after_its_request_still_hears_the_answer(stack: tuple[str, str]) -> None:
    received: list[bytes] = []

    async def client(port: int) -> None:
        for c in range(10):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET /half-closed/{c} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
            writer.write_eof()  # shutdown(SHUT_WR): the server reads EOF right after the request
            received.append(await reader.read())  # until the server closes
            writer.close()

    on_stack(stack, whole, client)
    assert [r.split(b"\r\n")[0] for r in received] == [b"HTTP/1.1 200 OK"] * 10, received
    assert [r.rpartition(b"\r\n\r\n")[2] for r in received] == [b"/half-closed/%d" % c for c in range(10)]


@pytest.mark.parametrize("stack", STACKS)
def test_a_pipelined_request_whose_body_is_late_is_answered_408_after_the_answer_before_it(
    stack: tuple[str, str],
) -> None:
    """httptools queues a pipelined request as it reads it; h11 takes it only once the answer
    before it is out. Either way its body is timed, and its 408 follows that answer."""
    received: list[bytes] = []

    async def slow_first(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        if scope["path"] == "/slow":
            await asyncio.sleep(1.5)  # past the 1 s body deadline of the request queued behind it
        body = scope["path"].encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    async def client(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        second = b"POST /second HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\nab"  # and never the rest
        writer.write(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n" + second)
        received.append(await reader.read())  # until the server closes
        writer.close()

    on_stack(stack, slow_first, client, SHOW_HTTP_BODY_SECONDS="1")
    first, _, rest = received[0].partition(b"\r\n\r\n/slow")
    assert first.startswith(b"HTTP/1.1 200 OK\r\n"), received
    assert rest.startswith(b"HTTP/1.1 408 "), received
    assert rest.endswith(b'{"error":"the request body did not arrive within 1 s"}')
