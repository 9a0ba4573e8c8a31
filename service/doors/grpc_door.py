"""The gRPC door: each RPC of the contract, from its descriptor, served through the chain.

One handler per endpoint, registered with gRPC's core by its method name
(`add_registered_method_handlers`), built from the same tuple the other doors use, so a new RPC
needs nothing here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from showrunner.v1 import show_service_pb2 as pb

from service.core.errors import ShowError
from service.doors.edges import EdgeLimits, Refused
from service.doors.errors import WIRE
from service.interceptors.build import Endpoint
from service.observability.logs import new_request_id, request_id
from service.observability.readiness import Readiness

MAX_MESSAGE_BYTES = 64 * 1024

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ShowService"].full_name

Behaviour = Callable[[bytes, grpc.aio.ServicerContext[Any, Any]], Awaitable[Message]]


def peer_address(peer: str | None) -> str | None:
    """'ipv4:127.0.0.1:5555' or 'ipv6:[::1]:5555' -> the address without the port."""
    if not peer:
        return None
    return _without_port(peer.partition(":")[2])


def _without_port(hop: str) -> str:
    """An address without the port written after it ("1.2.3.4:5", "[2001:db8::1]:5"): grpc.aio's
    peer, or an x-forwarded-for entry (some balancers add the client's port; uvicorn reads
    X-Forwarded-For so on the HTTP port: a client is one address, whichever of its connections
    the call came on)."""
    if hop.startswith("["):
        return hop[1:].partition("]")[0]
    host, colon, port = hop.rpartition(":")
    if colon and port.isdigit() and host.count(":") == 0:
        return host
    return hop


class ClientAddresses:
    """Where a call comes from, for the rate limits that count per address. A call from one of
    the trusted proxies (SHOW_TRUSTED_PROXIES: load balancers) comes from the client its
    x-forwarded-for names, as on the HTTP port: the last address in it that is not a trusted
    proxy itself. Without trusted proxies the peer is the client and the metadata is not read."""

    def __init__(self, trusted: Sequence[str] = ()) -> None:
        self._trusted = tuple(ipaddress.ip_network(t, strict=False) for t in trusted)

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def of(self, peer: str | None, metadata: Mapping[str, str]) -> str | None:
        """From grpc.aio's peer ("ipv4:1.2.3.4:5")."""
        return self.of_address(peer_address(peer), metadata)

    def of_address(self, address: str | None, metadata: Mapping[str, str]) -> str | None:
        """From the connection's own address."""
        if not self._trusted or address is None or not self._is_trusted(address):
            return address
        hops = [_without_port(hop.strip()) for hop in metadata.get("x-forwarded-for", "").split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                return hop
        return hops[0] if hops else address


def behaviour(endpoint: Endpoint[Any, Any], addresses: ClientAddresses, refused: Refused) -> Behaviour:
    """Decodes the request itself, so that an undecodable one is INVALID_ARGUMENT (gRPC would
    answer UNKNOWN), then serves it through the chain."""
    request_type = endpoint.rpc.request_type

    async def serve(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Message:
        metadata = {key: value for key, value in context.invocation_metadata() or () if isinstance(value, str)}
        try:
            request = request_type.FromString(raw)
        except DecodeError:
            # Refused before the chain gives the call its id: the refusal still carries one in
            # its trailers, as every gRPC answer does (the caller's own when it is a sane one).
            rid = (("x-request-id", new_request_id(metadata.get("x-request-id"))),)
            refused(endpoint.name, grpc.StatusCode.INVALID_ARGUMENT.name)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the protobuf request could not be decoded", rid)
        try:
            answer: Message = await endpoint.serve("grpc", request, metadata, addresses.of(context.peer(), metadata))
        except ShowError as exc:
            trailers = _request_id()
            if exc.retry_after is not None:
                trailers += (("retry-after", str(exc.retry_after)),)
            await context.abort(WIRE[exc.code].grpc, exc.message, trailers)
        context.set_trailing_metadata(_request_id())
        return answer

    return serve


def _request_id() -> tuple[tuple[str, str], ...]:
    """The id the chain gave the call (its first piece sets it for the rest of the call), sent
    in the trailers: they end every answer, a refusal included, and initial metadata set by a
    handler costs grpcio's aio server a batch of its own (a seventh of a JoinRoom's CPU)."""
    return (("x-request-id", request_id.get()),)


def show_handlers(
    endpoints: Sequence[Endpoint[Any, Any]], addresses: ClientAddresses, refused: Refused
) -> dict[str, grpc.RpcMethodHandler]:
    """The show's RPCs by name, for `add_registered_method_handlers`: gRPC's core knows each
    method beforehand and grpc.aio waits for each one's next call apart, so a burst of one RPC
    (a room's hand-raise storm) is taken in while another RPC's calls keep being taken in too,
    instead of queueing behind the burst one call at a time."""
    return {
        endpoint.name: grpc.unary_unary_rpc_method_handler(
            behaviour(endpoint, addresses, refused), response_serializer=endpoint.rpc.response_type.SerializeToString
        )
        for endpoint in endpoints
    }


async def grpc_server(
    endpoints: Sequence[Endpoint[Any, Any]],
    host: str,
    port: int,
    readiness: Readiness,
    edges: EdgeLimits,
    refused: Refused,
    trusted_proxies: Sequence[str] = (),
) -> tuple[grpc.aio.Server, int]:
    """Builds the gRPC server with the show, health and reflection; returns it and its port.

    Health answers for "" as liveness (always SERVING while the process runs) and for the show's
    service as readiness (NOT_SERVING while the store or LiveKit cannot be reached)."""
    server = grpc.aio.server(
        options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES), *edges.grpc_options()],
        maximum_concurrent_rpcs=edges.grpc_max_concurrent_rpcs,
    )
    server.add_registered_method_handlers(
        SERVICE_NAME, show_handlers(endpoints, ClientAddresses(trusted_proxies), refused)
    )
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
