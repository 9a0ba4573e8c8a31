"""The REST door: the contract's google.api.http routes, transcoded from the descriptors.

One route per RPC, from its `google.api.http` rule; the JSON body (for `body: "*"`) fills the
request's fields by their JSON names, path variables fill theirs, on routes without a body the
query string fills the other fields (booleans and strings, by their JSON names, as the usual
transcoding rules have it: `?ban=true`), and the answer is the response
in JSON. Where the MVP's existing clients expect something else, service/doors/rest_quirks.py
says what and why. Refusals are the MVP's {"error": "..."} with its HTTP statuses. LiveKit's
webhooks come in here too, through the same interceptor chain as every RPC.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.api import annotations_pb2, http_pb2
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service.core.clock import Clock
from service.core.errors import ShowError, invalid
from service.core.show import ShowCore
from service.doors.errors import WIRE
from service.doors.rest_quirks import ANSWERS, ERROR_FIELD, NUMBER_INT64, WORD_ENUMS, Shape
from service.interceptors.build import Endpoint
from service.interceptors.chain import Call, Chain
from service.policy import WEBHOOK

MAX_BODY_BYTES = 64 * 1024
OPENAPI = Path(__file__).resolve().parents[2] / "gen" / "openapi.json"

_INT64 = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64}
_INT64 |= {FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64}
_RANGES = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1),
}


class TooLarge(Exception):
    """The body is larger than the REST door accepts (413)."""


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({ERROR_FIELD: message}, status_code=status, headers=headers)


def http_rule(method: MethodDescriptor) -> tuple[str, str, str]:
    """(HTTP verb, path template, body) of the method's google.api.http annotation."""
    rule: http_pb2.HttpRule = method.GetOptions().Extensions[annotations_pb2.http]
    verb = rule.WhichOneof("pattern")
    if verb is None or verb == "custom":
        raise ValueError(f"{method.full_name} has no google.api.http route")
    return verb.upper(), getattr(rule, verb), rule.body


async def read_body(request: Request) -> bytes:
    """The body, refused once it passes MAX_BODY_BYTES without reading the rest."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request) -> dict[str, Any]:
    raw = await read_body(request)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid("Request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object")
    return body


# --- JSON -> the contract's request ------------------------------------------------------


def field_value(field: FieldDescriptor, value: Any) -> Any:
    """One field's value from its JSON value, refusing a value of the wrong kind by name."""
    name = field.json_name
    if field.type == FieldDescriptor.TYPE_STRING:
        if not isinstance(value, str):
            raise invalid(f"{name} must be a string")
    elif field.type == FieldDescriptor.TYPE_BOOL:
        if not isinstance(value, bool):
            raise invalid(f"{name} must be true or false")
    elif field.type == FieldDescriptor.TYPE_ENUM:
        value = enum_value(field, value)
    elif field.cpp_type in _RANGES:
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(f"{name} must be a whole number")
        low, high = _RANGES[field.cpp_type]
        if not low <= value <= high:
            raise invalid(f"{name} must be between {low} and {high}, got {value}")
    elif field.cpp_type in (FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid(f"{name} must be a number")
    else:
        raise invalid(f"{name} is not accepted on this route")
    return value


def enum_value(field: FieldDescriptor, value: Any) -> int:
    """An enum from its name: the MVP's lowercase words for WORD_ENUMS, the contract's value names
    otherwise. An unknown name is the unspecified value, which the core refuses by name."""
    if not isinstance(value, str):
        raise invalid(f"{field.json_name} must be a string")
    enum = enum_of(field)
    prefix = WORD_ENUMS.get(enum.full_name)
    name = prefix + value.upper() if prefix is not None else value
    found = enum.values_by_name.get(name) if name != prefix else None
    return found.number if found is not None else 0


def enum_of(field: FieldDescriptor) -> EnumDescriptor:
    if field.enum_type is None:
        raise TypeError(f"{field.full_name} is not an enum")
    return field.enum_type


def query_fields(request_type: type[Message], query: Mapping[str, str]) -> dict[str, Any]:
    """The fields a route without a body takes from its query string, as JSON values."""
    values: dict[str, Any] = {}
    fields: Sequence[FieldDescriptor] = request_type.DESCRIPTOR.fields  # type: ignore[assignment]  # upb's twin
    for field in fields:
        raw = query.get(field.json_name)
        if raw is None or field.is_repeated:
            continue
        if field.type == FieldDescriptor.TYPE_BOOL:
            if raw not in ("true", "false"):
                raise invalid(f"{field.json_name} must be true or false")
            values[field.json_name] = raw == "true"
        elif field.type == FieldDescriptor.TYPE_STRING:
            values[field.json_name] = raw
    return values


def transcode(request_type: type[Message], body: dict[str, Any], path: dict[str, str]) -> Message:
    """The request from the body's fields (by their JSON names) and the path's variables."""
    values: dict[str, Any] = {}
    structured: dict[str, Any] = {}  # messages and lists: protobuf's own JSON parser reads them
    fields: Sequence[FieldDescriptor] = request_type.DESCRIPTOR.fields  # type: ignore[assignment]  # upb's twin
    for field in fields:
        value = body.get(field.json_name)
        if field.name in path or value is None:
            continue
        if field.is_repeated or field.type == FieldDescriptor.TYPE_MESSAGE:
            structured[field.json_name] = value
        else:
            values[field.name] = field_value(field, value)
    message = request_type(**values, **path)
    if structured:
        try:
            json_format.ParseDict(structured, message, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError) as exc:
            raise invalid(f"{', '.join(structured)} is malformed") from exc
    return message


# --- the contract's response -> JSON -----------------------------------------------------


def render(message: Message, shape: Shape | None = None) -> dict[str, Any]:
    shape = shape or Shape()
    descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[assignment]  # upb's twin type
    out: dict[str, Any] = {"success": True} if shape.success else {}
    names = shape.fields if shape.fields is not None else [f.name for f in descriptor.fields]
    for name in names:
        field = descriptor.fields_by_name[name]
        if name in shape.shown_when:
            flag, wanted = shape.shown_when[name]
            if getattr(message, flag) is not wanted:
                continue
        value = getattr(message, name)
        nested = shape.nested.get(name)
        key = shape.renamed.get(name, field.json_name)
        out[key] = [scalar(field, v, nested) for v in value] if field.is_repeated else scalar(field, value, nested)
    return out


def scalar(field: FieldDescriptor, value: Any, nested: Shape | None) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return render(value, nested)
    if field.type == FieldDescriptor.TYPE_ENUM:
        enum = enum_of(field)
        prefix = WORD_ENUMS.get(enum.full_name)
        known = enum.values_by_number.get(value)
        if prefix is not None:
            return known.name.removeprefix(prefix).lower() if known is not None and value else ""
        return known.name if known is not None else value
    if field.type in _INT64:
        return value if field.full_name in NUMBER_INT64 else str(value)
    return value


# --- the app ----------------------------------------------------------------------------


MetricsPage = Callable[[], Awaitable[bytes]]


def headers_of(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


def route(endpoint: Endpoint[Any, Any]) -> Route:
    verb, path, body_rule = http_rule(endpoint.rpc.descriptor)
    shape = ANSWERS[endpoint.name].shape if endpoint.name in ANSWERS else None

    async def serve(request: Request) -> Response:
        address = request.client.host if request.client else None
        try:
            if body_rule == "*":
                body = await json_body(request)
            else:
                body = query_fields(endpoint.rpc.request_type, request.query_params)
            message = transcode(endpoint.rpc.request_type, body, dict(request.path_params))
            answer = await endpoint.serve("rest", message, headers_of(request), address)
        except TooLarge:
            return error_response(413, f"Request body is larger than {MAX_BODY_BYTES} bytes")
        except ShowError as exc:
            headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
            return error_response(WIRE[exc.code].http, exc.message, headers)
        return JSONResponse(render(answer, shape))

    return Route(path, serve, methods=[verb])


def rest_app(
    endpoints: Sequence[Endpoint[Any, Any]], core: ShowCore, chain: Chain, clock: Clock, metrics_page: MetricsPage
) -> Starlette:
    async def health(request: Request) -> Response:
        now = datetime.fromtimestamp(clock.now(), UTC)
        return JSONResponse({"status": "ok", "timestamp": now.isoformat(timespec="milliseconds")[:-6] + "Z"})

    async def metrics(request: Request) -> Response:
        return Response(await metrics_page(), media_type="text/plain; version=0.0.4; charset=utf-8")

    document = OPENAPI.read_bytes()  # generated from the contract by `make gen`

    async def openapi(request: Request) -> Response:
        return Response(document, media_type="application/json")

    async def livekit_webhook(request: Request) -> Response:
        """LiveKit's signed webhooks keep the show's state true to what happened on LiveKit."""
        address = request.client.host if request.client else None
        try:
            body = await read_body(request)
            call = Call(door="webhook", rule=WEBHOOK, request=body, headers=headers_of(request), address=address)

            async def apply(call: Call) -> str:
                return await core.receive_webhook(body)

            event = await chain.run(call, apply)
        except TooLarge:
            return error_response(413, f"Request body is larger than {MAX_BODY_BYTES} bytes")
        except ShowError as exc:
            return error_response(WIRE[exc.code].http, exc.message)
        return JSONResponse({"success": True, "event": event})

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        return error_response(status, {404: "Not found", 405: "Method not allowed"}.get(status, "Request failed"))

    routes = [
        Route("/health", health, methods=["GET"]),
        *(route(endpoint) for endpoint in endpoints),
        Route("/webhooks/livekit", livekit_webhook, methods=["POST"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.router.redirect_slashes = False  # a redirect would hide a missing path segment
    return app
