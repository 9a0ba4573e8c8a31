"""The gRPC door: the generated servicer, each RPC one call into the core."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import grpc
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from showrunner.v1 import show_service_pb2 as pb
from showrunner.v1 import show_service_pb2_grpc as pb_grpc

from service.core.caller import Credentials
from service.core.errors import ShowError
from service.core.show import OPERATIONS
from service.doors.edges import EdgeLimits
from service.doors.errors import WIRE
from service.doors.serving import Serving
from service.observability.logs import new_request_id, request_id
from service.observability.readiness import Readiness

MAX_MESSAGE_BYTES = 64 * 1024

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ShowService"].full_name


class ShowServicer:
    """Answers every RPC of the contract as the generated servicer would; its methods are made
    from the core's OPERATIONS, so a new RPC needs no new code here."""

    def __init__(self, serving: Serving) -> None:
        self._serving = serving

    async def serve(self, rpc: str, request: Message, context: grpc.aio.ServicerContext[Any, Any]) -> Message:
        metadata = dict(context.invocation_metadata() or ())
        rid = new_request_id(metadata.get("x-request-id"))
        request_id.set(rid)
        await context.send_initial_metadata((("x-request-id", rid),))
        credentials = Credentials(authorization=metadata.get("authorization"), address=peer_address(context.peer()))
        try:
            return await self._serving.serve("grpc", rpc, request, credentials)
        except ShowError as exc:
            if exc.retry_after is not None:
                context.set_trailing_metadata((("retry-after", str(exc.retry_after)),))
            await context.abort(WIRE[exc.code].grpc, exc.message)
            raise  # abort() always raises; this line only informs the type checker


def peer_address(peer: str | None) -> str | None:
    """'ipv4:127.0.0.1:5555' or 'ipv6:[::1]:5555' -> the address without the port."""
    if not peer:
        return None
    _, _, rest = peer.partition(":")
    host, _, _ = rest.rpartition(":")
    return host.strip("[]") or rest


def _rpc(name: str) -> Callable[[ShowServicer, Message, Any], Awaitable[Message]]:
    async def method(self: ShowServicer, request: Message, context: Any) -> Message:
        return await self.serve(name, request, context)

    method.__name__ = name
    return method


for _name in OPERATIONS:
    setattr(ShowServicer, _name, _rpc(_name))


class DecodeGuard(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Turns an undecodable request into INVALID_ARGUMENT; gRPC itself would answer UNKNOWN."""

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], details: grpc.HandlerCallDetails
    ) -> Any:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None or handler.request_deserializer is None:
            return handler
        decode, behaviour = handler.request_deserializer, handler.unary_unary

        async def guarded(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            try:
                request = decode(raw)
            except DecodeError:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the protobuf request could not be decoded")
            return await behaviour(request, context)

        return grpc.unary_unary_rpc_method_handler(guarded, response_serializer=handler.response_serializer)


async def grpc_server(
    serving: Serving, host: str, port: int, readiness: Readiness, edges: EdgeLimits
) -> tuple[grpc.aio.Server, int]:
    """Builds the gRPC server with the show, health and reflection; returns it and its port.

    Health answers for "" as liveness (always SERVING while the process runs) and for the show's
    service as readiness (NOT_SERVING while the store or LiveKit cannot be reached)."""
    server = grpc.aio.server(
        interceptors=[DecodeGuard()],
        options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES), *edges.grpc_options()],
        maximum_concurrent_rpcs=edges.grpc_max_concurrent_rpcs,
    )
    servicer = cast(pb_grpc.ShowServiceServicer, ShowServicer(serving))
    pb_grpc.add_ShowServiceServicer_to_server(servicer, server)
    checks = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    await checks.set("", health_pb2.HealthCheckResponse.SERVING)
    await checks.set(SERVICE_NAME, health_pb2.HealthCheckResponse.NOT_SERVING)

    async def follow(ready: bool, reasons: Sequence[str]) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
        await checks.set(SERVICE_NAME, status)

    readiness.on_change(follow)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    return server, bound
