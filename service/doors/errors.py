"""One table: each canonical error code in every door's wire form."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from service.core.errors import Code


@dataclass(frozen=True)
class WireError:
    grpc: grpc.StatusCode
    twirp: str
    http: int  # the REST door's status; the MVP's where it defined one


WIRE: dict[Code, WireError] = {
    Code.INVALID_ARGUMENT: WireError(grpc.StatusCode.INVALID_ARGUMENT, "invalid_argument", 400),
    Code.NOT_FOUND: WireError(grpc.StatusCode.NOT_FOUND, "not_found", 404),
    Code.ALREADY_EXISTS: WireError(grpc.StatusCode.ALREADY_EXISTS, "already_exists", 409),
    Code.FAILED_PRECONDITION: WireError(grpc.StatusCode.FAILED_PRECONDITION, "failed_precondition", 409),
    Code.PERMISSION_DENIED: WireError(grpc.StatusCode.PERMISSION_DENIED, "permission_denied", 403),
    Code.UNAUTHENTICATED: WireError(grpc.StatusCode.UNAUTHENTICATED, "unauthenticated", 401),
    Code.RESOURCE_EXHAUSTED: WireError(grpc.StatusCode.RESOURCE_EXHAUSTED, "resource_exhausted", 429),
    Code.UNAVAILABLE: WireError(grpc.StatusCode.UNAVAILABLE, "unavailable", 503),
    Code.INTERNAL: WireError(grpc.StatusCode.INTERNAL, "internal", 500),
}
