"""The REST door: the contract's google.api.http routes, transcoded from the descriptors.

One route per RPC, from its `google.api.http` rule; the JSON body (for `body: "*"`) fills the
request's fields by their JSON names, path variables fill theirs, on routes without a body the
query string fills the other fields (booleans, strings and 32-bit integers, by their JSON names,
as the usual transcoding rules have it: `?ban=true`, `?pageSize=20`), and the answer is the response
in JSON. A key naming a field under another spelling (`Ban`, `display_name`), or a field in the body
of a route that reads it from the query string, is refused rather than dropped unread. Where the
MVP's existing clients expect something else, service/doors/rest_quirks.py says what and why.
Refusals are the MVP's {"error": "..."} with its HTTP statuses. LiveKit's webhooks come in here
too, through the same interceptor chain as every RPC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from google.api import annotations_pb2, http_pb2
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from service.core import bounds, validate
from service.core.clock import Clock
from service.core.errors import ShowError, invalid
from service.core.show import ShowCore
from service.doors.edges import (
    INTEGER_RANGES,
    MAX_BODY_BYTES,
    UNROUTED,
    ClientGone,
    Refused,
    TooLarge,
    answer_writer,
    headers_of,
    read_body,
)
from service.doors.errors import WIRE
from service.doors.rest_quirks import ANSWERS, ERROR_FIELD, NUMBER_INT64, UNKNOWN_WORD_UNSET, WORD_ENUMS, Shape
from service.interceptors.build import Endpoint
from service.interceptors.chain import Call, Chain
from service.policy import WEBHOOK

OPENAPI = Path(__file__).resolve().parents[2] / "gen" / "openapi.json"

_INT64 = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64}
_INT64 |= {FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({ERROR_FIELD: message}, status_code=status, headers=headers)


def http_rule(method: MethodDescriptor) -> tuple[str, str, str]:
    """(HTTP verb, path template, body) of the method's google.api.http annotation."""
    rule: http_pb2.HttpRule = method.GetOptions().Extensions[annotations_pb2.http]
    verb = rule.WhichOneof("pattern")
    if verb is None or verb == "custom":
        raise ValueError(f"{method.full_name} has no google.api.http route")
    return verb.upper(), getattr(rule, verb), rule.body


# Values orjson might read otherwise than the standard parser, or that might hold such a value.
_NOT_PLAIN = (float, dict, list)


async def json_body(receive: Receive, headers: Mapping[str, str]) -> dict[str, Any]:
    raw = await read_body(receive, headers)
    if not raw.strip():
        return {}
    # orjson reads strict UTF-8 JSON (nearly every body) about seven times faster. Whatever it
    # refuses (NaN, other encodings, lone surrogates) and whatever it could read differently (an
    # integer past 64 bits becomes a float there) the standard parser reads or refuses as before,
    # so the same bodies are taken with the same values.
    try:
        body = orjson.loads(raw)
        plain = type(body) is dict and not any(type(v) in _NOT_PLAIN for v in body.values())
    except orjson.JSONDecodeError:
        plain = False
    if not plain:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
            raise invalid("Request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object")
    return body


# --- JSON -> the contract's request ------------------------------------------------------


Read = Callable[[Any], Any]


def field_reader(field: FieldDescriptor) -> Read:
    """How one field's value is read from its JSON value, refusing a value of the wrong kind by
    name; worked out once per field (descriptor lookups cost more than the checks)."""
    name = field.json_name

    def string(value: Any) -> Any:
        if not isinstance(value, str):
            raise invalid(f"{name} must be a string")
        return value

    def boolean(value: Any) -> Any:
        if not isinstance(value, bool):
            raise invalid(f"{name} must be true or false")
        return value

    if field.type == FieldDescriptor.TYPE_STRING:
        return string
    if field.type == FieldDescriptor.TYPE_BOOL:
        return boolean
    if field.type == FieldDescriptor.TYPE_ENUM:
        return enum_reader(field)
    if field.cpp_type in INTEGER_RANGES:
        low, high = INTEGER_RANGES[field.cpp_type]
        # A number the type cannot hold is refused with the bounds the show takes, where narrower
        # (guestLimit -1 reads as 17 does), else with the type's own.
        first, last = bounds.RANGES.get(field.full_name, (low, high))

        def whole(value: Any) -> Any:
            if isinstance(value, bool) or not isinstance(value, int):
                raise invalid(f"{name} must be a whole number")
            if not low <= value <= high:
                raise invalid(validate.out_of_range(name, value, first, last))
            return value

        return whole
    if field.cpp_type in (FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE):

        def number(value: Any) -> Any:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise invalid(f"{name} must be a number")
            return value

        return number

    def refused(value: Any) -> Any:
        raise invalid(f"{name} is not accepted on this route")

    return refused


def enum_reader(field: FieldDescriptor) -> Read:
    """An enum from its name: the MVP's lowercase words for WORD_ENUMS, the contract's value names
    otherwise. An unknown name is the unspecified value, which the core refuses by name, except an
    unknown word of a word enum not in UNKNOWN_WORD_UNSET, which is refused here by its words."""
    name, enum = field.json_name, enum_of(field)
    prefix = WORD_ENUMS.get(enum.full_name)
    numbers = {v.name: v.number for v in enum.values}
    strict = prefix is not None and enum.full_name not in UNKNOWN_WORD_UNSET
    words = [f'"{v.name.removeprefix(prefix or "").lower()}"' for v in enum.values if v.number]
    taken = f"{', '.join(words[:-1])} or {words[-1]}" if len(words) > 1 else "".join(words)

    def read(value: Any) -> int:
        if not isinstance(value, str):
            raise invalid(f"{name} must be a string")
        if value == "" and prefix is not None:
            return 0
        # A word in ASCII only: str.upper() spells some other letters as ASCII ones (U+017F as "S").
        wanted = (prefix + value.upper() if value.isascii() else "") if prefix is not None else value
        number = numbers.get(wanted)
        # A word enum's words are its values but the unspecified one, which is no word.
        if not number and strict:
            raise invalid(f"{name} must be {taken}, got {json.dumps(value)}")
        return number or 0

    return read


def enum_of(field: FieldDescriptor) -> EnumDescriptor:
    if field.enum_type is None:
        raise TypeError(f"{field.full_name} is not an enum")
    return field.enum_type


def query_fields(request_type: type[Message], query: QueryParams) -> dict[str, Any]:
    """The fields a route without a body takes from its query string, as JSON values. A field
    given twice says two things (`?ban=true&ban=false`): refused, not read as its last."""
    values: dict[str, Any] = {}
    fields: Sequence[FieldDescriptor] = request_type.DESCRIPTOR.fields  # type: ignore[assignment]  # upb's twin
    for field in fields:
        given = query.getlist(field.json_name)
        if not given or field.is_repeated:
            continue
        if len(given) > 1:
            raise invalid(f"{field.json_name} is given more than once")
        raw = given[0]
        if field.type == FieldDescriptor.TYPE_BOOL:
            if raw not in ("true", "false"):
                raise invalid(f"{field.json_name} must be true or false")
            values[field.json_name] = raw == "true"
        elif field.type == FieldDescriptor.TYPE_STRING:
            values[field.json_name] = raw
        elif field.type in _QUERY_INTEGERS:
            if not _WHOLE_NUMBER.fullmatch(raw):
                raise invalid(f"{field.json_name} must be a whole number")
            values[field.json_name] = int(raw)
    return values


# Integers a query string may fill (`?pageSize=20`), written as plain decimal digits.
_QUERY_INTEGERS = frozenset({FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_UINT32})
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,10}")
# Per request type: (JSON name, field name, read by protobuf's own JSON parser, reader).
Plan = tuple[tuple[str, str, bool, Read], ...]
_PLANS: dict[type[Message], Plan] = {}


def plan(request_type: type[Message]) -> Plan:
    known = _PLANS.get(request_type)
    if known is None:
        fields: Sequence[FieldDescriptor] = request_type.DESCRIPTOR.fields  # type: ignore[assignment]  # upb's twin
        known = _PLANS[request_type] = tuple(
            (f.json_name, f.name, f.is_repeated or f.type == FieldDescriptor.TYPE_MESSAGE, field_reader(f))
            for f in fields
        )
    return known


def transcode(request_type: type[Message], body: dict[str, Any], path: dict[str, str]) -> Message:
    """The request from the body's fields (by their JSON names) and the path's variables."""
    values: dict[str, Any] = {}
    structured: dict[str, Any] = {}  # messages and lists: protobuf's own JSON parser reads them
    for json_name, name, is_structured, read in plan(request_type):
        value = body.get(json_name)
        if value is None or name in path:
            continue
        if is_structured:
            structured[json_name] = value
        else:
            values[name] = read(value)
    try:
        message = request_type(**values, **path)
    except UnicodeEncodeError as exc:  # a lone surrogate ("\ud800"), which the standard parser reads
        raise invalid("Request body is not valid JSON: a string holds a lone surrogate") from exc
    if structured:
        try:
            json_format.ParseDict(structured, message, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError) as exc:
            raise invalid(f"{', '.join(structured)} is malformed") from exc
    return message


# --- fields a request names in another spelling, or in the wrong place -------------------

# Per request type: each field's JSON name by its spelling folded (lower case, no "_"), and the
# field's name in the contract by its JSON name.
_SPELLINGS: dict[type[Message], tuple[dict[str, str], dict[str, str]]] = {}


def _fold(key: str) -> str:
    return key.replace("_", "").lower()


def spellings(request_type: type[Message]) -> tuple[dict[str, str], dict[str, str]]:
    known = _SPELLINGS.get(request_type)
    if known is None:
        fields = plan(request_type)
        known = _SPELLINGS[request_type] = (
            {_fold(json_name): json_name for json_name, *_ in fields},
            {json_name: name for json_name, name, *_ in fields},
        )
    return known


def refuse_misspelled(request_type: type[Message], keys: Iterable[str], path: Mapping[str, str]) -> None:
    """Refuses a key that names one of the request's fields in another spelling (`Ban`,
    `display_name`, `Layout`). Read as an unknown key it would be dropped in silence and the
    request served without it: a participant removed without its ban, a recording made with the
    default layout. Keys that name no field at all, or a field the path fills, are still left
    alone, as before."""
    fields, names = spellings(request_type)
    for key in keys:
        if key in names:
            continue  # spelled right: the usual case, at the cost of one lookup
        meant = fields.get(_fold(key))
        if meant is not None and names[meant] not in path:
            raise invalid(f'Unknown field "{key[:64]}": did you mean "{meant}"?')


async def refuse_body_fields(
    request_type: type[Message], receive: Receive, headers: Mapping[str, str], path: Mapping[str, str]
) -> None:
    """On a route that takes no body, refuses a JSON body naming a field the route reads from its
    query string (`DELETE .../participants/bob` with `{"ban": true}`): the body is never read, and
    the call would be served without it. Any other body is left alone, as before."""
    if not headers.get("content-length", "0").strip("0") and "transfer-encoding" not in headers:
        return  # no body: the common case costs nothing more
    raw = await read_body(receive, headers)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return
    if not isinstance(body, dict):
        return
    fields, names = spellings(request_type)
    named = {fields[_fold(k)] for k in body if isinstance(k, str) and _fold(k) in fields}
    first = next((json_name for json_name, name in names.items() if json_name in named and name not in path), None)
    if first is not None:
        raise invalid(f"{first} is read from the query string on this route (?{first}=...), not from the body")


# --- the contract's response -> JSON -----------------------------------------------------


Render = Callable[[Any], dict[str, Any]]
Convert = Callable[[Any], Any]
_DEFAULT_SHAPE = Shape()
# (message's full name, id of its shape) -> the shape (kept alive with its id) and its renderer.
_RENDERERS: dict[tuple[str, int], tuple[Shape, Render]] = {}


def render(message: Message, shape: Shape | None = None) -> dict[str, Any]:
    descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[assignment]  # upb's twin type
    return renderer(descriptor, shape)(message)


def renderer(descriptor: Descriptor, shape: Shape | None = None) -> Render:
    """How a message of this type is shown in this shape, worked out once: which fields, under
    which names, each with its conversion (enums by a lookup table, 64-bit integers as strings)."""
    shape = shape or _DEFAULT_SHAPE
    key = (descriptor.full_name, id(shape))
    known = _RENDERERS.get(key)
    if known is not None:
        return known[1]
    names = shape.fields if shape.fields is not None else [f.name for f in descriptor.fields]
    steps: list[tuple[str, str, tuple[str, bool] | None, bool, Convert | None]] = []
    for name in names:
        field = descriptor.fields_by_name[name]
        shown = shape.shown_when.get(name)
        steps.append((name, shape.renamed.get(name, field.json_name), shown, field.is_repeated, convert(field, shape)))
    success = shape.success

    def render_one(message: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"success": True} if success else {}
        for name, key, shown, repeated, conversion in steps:
            if shown is not None and getattr(message, shown[0]) is not shown[1]:
                continue
            value = getattr(message, name)
            if conversion is None:
                out[key] = list(value) if repeated else value
            else:
                out[key] = [conversion(v) for v in value] if repeated else conversion(value)
        return out

    _RENDERERS[key] = (shape, render_one)
    return render_one


def convert(field: FieldDescriptor, shape: Shape) -> Convert | None:
    """One field's value as JSON shows it; None when it shows as it is."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        nested, message_type = shape.nested.get(field.name), field.message_type
        if message_type is None:
            raise TypeError(f"{field.full_name} has no message type")
        # Looked up on first use, not now, so that a message type containing itself is no trouble.
        found: list[Render] = []

        def nested_message(value: Any) -> dict[str, Any]:
            if not found:
                found.append(renderer(message_type, nested))
            return found[0](value)

        return nested_message
    if field.type == FieldDescriptor.TYPE_ENUM:
        enum = enum_of(field)
        prefix = WORD_ENUMS.get(enum.full_name)
        if prefix is not None:
            words = {v.number: v.name.removeprefix(prefix).lower() if v.number else "" for v in enum.values}
            return lambda value: words.get(value, "")
        names = {v.number: v.name for v in enum.values}
        return lambda value: names.get(value, value)
    if field.type in _INT64 and field.full_name not in NUMBER_INT64:
        return str
    return None


# --- the app ----------------------------------------------------------------------------


MetricsPage = Callable[[], Awaitable[bytes]]
# (status, JSON body, extra headers) of one answer.
Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]


def json_bytes(content: Any) -> bytes:
    """JSON as starlette's JSONResponse writes it (compact, UTF-8), so both ways of answering send
    the same bytes. orjson writes strings, integers, booleans and null exactly as json.dumps does
    with those options (a test holds them alike), at a twentieth of the cost; the contract's
    answers hold no floating-point field, where the two would spell large exponents differently."""
    return orjson.dumps(content)


def error_answer(status: int, message: str, retry_after: int | None = None) -> Answer:
    extra = [(b"retry-after", str(retry_after).encode())] if retry_after is not None else []
    return status, json_bytes({ERROR_FIELD: message}), extra


def address_of(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


async def send_answer(send: Send, answer: Answer) -> None:
    """The answer as starlette's JSONResponse sends it (the same headers, in the same order)."""
    status, body, extra = answer
    headers = [*extra, (b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


RouteHandler = Callable[[Scope, Receive, dict[str, str]], Awaitable[Answer]]


def handler(endpoint: Endpoint[Any, Any], refused: Refused) -> RouteHandler:
    """One RPC's route: the request from the JSON body and the path, through the chain, the
    answer in the MVP's shape. Everything per route (the rule, the shape) is worked out here once."""
    _, _, body_rule = http_rule(endpoint.rpc.descriptor)
    shape = ANSWERS[endpoint.name].shape if endpoint.name in ANSWERS else None
    request_type, takes_body = endpoint.rpc.request_type, body_rule == "*"

    def write(answer: Message) -> bytes:
        return json_bytes(render(answer, shape))

    written = answer_writer(endpoint.name, write)

    async def answer(scope: Scope, receive: Receive, path: dict[str, str]) -> Answer:
        headers = headers_of(scope)
        try:
            if takes_body:
                body = await json_body(receive, headers)
                refuse_misspelled(request_type, body, path)
            else:
                await refuse_body_fields(request_type, receive, headers, path)
                if scope["query_string"]:
                    query = QueryParams(scope["query_string"])
                    refuse_misspelled(request_type, query.keys(), path)
                    body = query_fields(request_type, query)
                else:
                    body = {}
            message = transcode(request_type, body, path)
        except TooLarge:
            refused(endpoint.name, "413")
            return error_answer(413, f"Request body is larger than {MAX_BODY_BYTES} bytes")
        except ShowError as exc:  # a body that is no request of the RPC's, refused before the chain
            refused(endpoint.name, str(WIRE[exc.code].http))
            return error_answer(WIRE[exc.code].http, exc.message, exc.retry_after)
        try:
            answer = await endpoint.serve("rest", message, headers, address_of(scope))
        except ShowError as exc:
            return error_answer(WIRE[exc.code].http, exc.message, exc.retry_after)
        return 200, written(answer), []

    return answer


def route(endpoint: Endpoint[Any, Any], answer: RouteHandler) -> Route:
    verb, path, _ = http_rule(endpoint.rpc.descriptor)

    async def serve(request: Request) -> Response:
        try:
            status, body, extra = await answer(request.scope, request.receive, dict(request.path_params))
        except ClientGone:  # gone mid-body (a HEAD, which only these routes take): nobody to answer
            return Response(status_code=400)
        headers = {k.decode(): v.decode() for k, v in extra}
        return Response(body, status, headers=headers or None, media_type="application/json")

    return Route(path, serve, methods=[verb])


def allowed_verbs(routes: Sequence[Route], path: str) -> str:
    """The verbs of every route whose path template matches `path`, as an Allow header says them."""
    verbs = {verb for route in routes if route.path_regex.match(path) for verb in route.methods or ()}
    return ", ".join(sorted(verbs))


class RpcRoutes:
    """The RPCs' routes without starlette's routing and request objects, for the calls that match
    one exactly (its verb and path). Anything else (HEAD on a GET route, a wrong verb, an unknown
    path) goes to starlette, which answers it as it always has. Starlette picks the first route
    that matches; so does this, with the same compiled patterns: a route without variables is
    looked up at once unless an earlier route of the same verb would also match its path."""

    def __init__(self, endpoints: Sequence[Endpoint[Any, Any]], answers: Sequence[RouteHandler]) -> None:
        self._exact: dict[tuple[str, str], RouteHandler] = {}
        self._patterns: list[tuple[str, re.Pattern[str], RouteHandler]] = []
        for endpoint, answer in zip(endpoints, answers, strict=True):
            verb, path, _ = http_rule(endpoint.rpc.descriptor)
            pattern, _, convertors = compile_path(path)
            earlier = any(v == verb and p.match(path) for v, p, _ in self._patterns)
            if not convertors and not earlier and (verb, path) not in self._exact:
                self._exact[(verb, path)] = answer
            self._patterns.append((verb, pattern, answer))

    def find(self, method: str, path: str) -> tuple[RouteHandler, dict[str, str]] | None:
        exact = self._exact.get((method, path))
        if exact is not None:
            return exact, {}
        for verb, pattern, answer in self._patterns:
            if verb == method:
                found = pattern.match(path)
                if found is not None:
                    return answer, found.groupdict()
        return None


def rest_app(
    endpoints: Sequence[Endpoint[Any, Any]],
    core: ShowCore,
    chain: Chain,
    clock: Clock,
    metrics_page: MetricsPage,
    refused: Refused,
) -> ASGIApp:
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
        headers = headers_of(request.scope)
        try:
            body = await read_body(request.receive, headers)
            call = Call(door="webhook", rule=WEBHOOK, request=body, headers=headers, address=address_of(request.scope))

            async def apply(call: Call) -> str:
                return await core.receive_webhook(body)

            event = await chain.run(call, apply)
        except TooLarge:
            refused(WEBHOOK.rpc, "413")
            return error_response(413, f"Request body is larger than {MAX_BODY_BYTES} bytes")
        except ClientGone:
            # LiveKit went away mid-body (it sends the event again if it can): nobody to answer.
            return Response(status_code=400)
        except ShowError as exc:
            return error_response(WIRE[exc.code].http, exc.message)
        return JSONResponse({"success": True, "event": event})

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        # A 405 must say which verbs the path takes (RFC 9110, 15.5.6). Starlette's own Allow
        # names only the first route matching the path, and /api/rooms/<room> is two RPCs' path.
        headers = {"allow": allowed_verbs(routes, request.scope["path"])} if status == 405 else None
        message = {404: "Not found", 405: "Method not allowed"}.get(status, "Request failed")
        refused(UNROUTED, str(status))
        return error_response(status, message, headers)

    answers = [handler(endpoint, refused) for endpoint in endpoints]
    routes = [
        Route("/health", health, methods=["GET"]),
        *(route(endpoint, answer) for endpoint, answer in zip(endpoints, answers, strict=True)),
        Route("/webhooks/livekit", livekit_webhook, methods=["POST"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.router.redirect_slashes = False  # a redirect would hide a missing path segment
    rpcs = RpcRoutes(endpoints, answers)

    async def rest(scope: Scope, receive: Receive, send: Send) -> None:
        found = rpcs.find(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if found is None:
            await app(scope, receive, send)
            return
        answer, path = found
        try:
            answered = await answer(scope, receive, path)
        except ClientGone:
            return
        await send_answer(send, answered)

    return rest
