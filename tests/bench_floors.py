"""The floors `make bench` holds the doors against: what the same server stack does with no work.

    python -m tests.bench_floors grpc   a bare grpc.aio server answering /floor.Floor/Empty with
                                        google.protobuf.Empty, built with the gRPC door's options
    python -m tests.bench_floors http   a bare ASGI app answering every request with 200 and `{}`
                                        after reading its body, on the HTTP door's uvicorn config
    python -m tests.bench_floors joinwork LOG
                                        the same app doing only what no viewer JoinRoom can skip:
                                        read its JSON, mint its token with the service's own
                                        TokenMinter, answer it as REST does, with a request id
                                        and one log line written to LOG through the service's
                                        own logging (no chain, no record, no checks): how near
                                        its floor a JoinRoom could get on this stack at best

Each runs as its own process, on the event loop the service would use (SHOW_EVENT_LOOP), and
prints `floor ready port=N` once it listens, as the service prints its ports.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time

import grpc
import orjson
from google.protobuf import empty_pb2
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import runtime
from service.app import http_config
from service.config import Settings
from service.core.roles import Role
from service.doors.grpc_door import MAX_MESSAGE_BYTES
from service.doors.http import HttpServer, listen
from service.gateway.tokens import TokenMinter
from service.observability import logs
from service.observability.logs import new_request_id
from service.observability.metrics import Metrics

GRPC_METHOD = "/floor.Floor/Empty"


async def empty(request: empty_pb2.Empty, context: grpc.aio.ServicerContext[object, object]) -> empty_pb2.Empty:
    return empty_pb2.Empty()


async def serve_grpc(settings: Settings) -> None:
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)])
    handler = grpc.unary_unary_rpc_method_handler(
        empty, request_deserializer=empty_pb2.Empty.FromString, response_serializer=empty_pb2.Empty.SerializeToString
    )
    server.add_registered_method_handlers("floor.Floor", {"Empty": handler})  # as the door's are
    port = server.add_insecure_port(f"{settings.host}:0")
    await server.start()
    print(f"floor ready port={port}", flush=True)
    await stopped()
    await server.stop(0)


async def bare(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    message: Message = {"more_body": True}
    while message.get("more_body", False):
        message = await receive()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


def joinwork(settings: Settings, log_path: str) -> ASGIApp:
    logs.configure("INFO")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(log_path, "w"))  # noqa: SIM115  # the process's whole life
    minter = TokenMinter(settings.livekit_api_key, settings.livekit_api_secret, settings.token_ttl_seconds)
    requests = logging.getLogger("showrunner.requests")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        message = await receive()
        asked = orjson.loads(message["body"])
        room, name = asked["roomName"], asked["participantName"]
        rid = new_request_id()
        token = minter.mint(room, name, name, Role.VIEWER)
        body = orjson.dumps(
            {"token": token, "wsUrl": settings.livekit_url, "roomName": room, "role": "viewer", "identity": name}
        )
        fields = {"door": "rest", "rpc": "JoinRoom", "code": "OK", "ms": (time.perf_counter() - started) * 1000}
        logs.info_line(requests, "rest JoinRoom OK", fields)
        headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
        await send(
            {"type": "http.response.start", "status": 200, "headers": [*headers, (b"x-request-id", rid.encode())]}
        )
        await send({"type": "http.response.body", "body": body})

    return app


async def serve_http(settings: Settings, app: ASGIApp = bare) -> None:
    server = HttpServer(http_config(app, settings, Metrics().refused))
    listener = listen(settings.host, 0)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    print(f"floor ready port={listener.getsockname()[1]}", flush=True)
    await stopped()
    server.should_exit = True
    await task


async def stopped() -> None:
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()


def main() -> int:
    # The service's own settings (its loop, its HTTP parser); a floor never calls LiveKit.
    unused = {"LIVEKIT_URL": "ws://127.0.0.1:1", "LIVEKIT_API_KEY": "floor", "LIVEKIT_API_SECRET": "floor"}
    settings = Settings.from_env({**os.environ, **unused, "SHOW_HTTP_PORT": "0", "SHOW_GRPC_PORT": "0"})
    kind = sys.argv[1] if len(sys.argv) > 1 else ""
    if kind == "joinwork" and len(sys.argv) == 3:
        runtime.run(serve_http(settings, joinwork(settings, sys.argv[2])), settings.event_loop)
        return 0
    serve = {"grpc": serve_grpc, "http": serve_http}.get(kind)
    if serve is None:
        print("usage: python -m tests.bench_floors grpc|http|joinwork LOG", file=sys.stderr)
        return 2
    runtime.run(serve(settings), settings.event_loop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
