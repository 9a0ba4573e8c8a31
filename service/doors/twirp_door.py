"""The Twirp door: Twirp's wire protocol v7, served from the contract's descriptors.

POST /twirp/<package>.<Service>/<Method> with an application/json or application/protobuf body
(media-type parameters allowed); the answer comes in the same encoding, JSON compact with the
contract's field names, as Twirp's Go servers answer. Unknown routes and methods other than POST
are `bad_route` (404); JSON requests may carry unknown fields and either field spelling; an
undecodable body is `malformed`; errors are Twirp's JSON {"code", "msg", "meta"} with the HTTP
status of Twirp's table, and a rate limit carries Retry-After. Nothing here is specific to an RPC:
the endpoints come from the contract.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from showrunner.v1 import show_service_pb2 as pb
from starlette.types import Receive, Scope, Send

from service.core.errors import ShowError
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
from service.interceptors.build import Endpoint

TWIRP_PREFIX = "/twirp"
JSON, PROTOBUF = "application/json", "application/protobuf"

# Twirp v7's error codes and the HTTP status each travels with.
STATUS = {
    "canceled": 408,
    "unknown": 500,
    "invalid_argument": 400,
    "malformed": 400,
    "deadline_exceeded": 408,
    "not_found": 404,
    "bad_route": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
    "resource_exhausted": 429,
    "failed_precondition": 412,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "dataloss": 500,
}


class TwirpError(Exception):
    def __init__(self, code: str, message: str, **meta: str) -> None:
        super().__init__(message)
        self.code, self.message, self.meta = code, message, meta


class TwirpDoor:
    """An ASGI app answering the contract's services at /twirp/."""

    def __init__(self, endpoints: Sequence[Endpoint[Any, Any]], refused: Refused) -> None:
        self._refused = refused
        service = pb.DESCRIPTOR.services_by_name["ShowService"].full_name
        self._routes = {f"{TWIRP_PREFIX}/{service}/{e.name}": e for e in endpoints}
        # How each route writes its answer in each media (kept by the answer when it is shared).
        self._writers = {
            path: {media: answer_writer(e.name, partial(encode, media=media)) for media in (JSON, PROTOBUF)}
            for path, e in self._routes.items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = headers_of(scope)
        try:
            status, content_type, body = await self._answer(scope, receive, headers)
            extra: list[tuple[bytes, bytes]] = []
        except TwirpError as error:
            status, content_type = STATUS[error.code], JSON
            document = {"code": error.code, "msg": error.message, "meta": error.meta}
            body = json.dumps(document, separators=(",", ":")).encode()
            retry = error.meta.get("retry_after")
            extra = [(b"retry-after", retry.encode())] if retry else []
            # The chain counted its own refusals; a client gone hears no answer to count.
            if not isinstance(error.__cause__, ShowError | ClientGone):
                endpoint = self._routes.get(scope["path"])
                self._refused(endpoint.name if endpoint else UNROUTED, str(status))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope, receive: Receive, headers: dict[str, str]) -> tuple[int, str, bytes]:
        path, method = scope["path"], scope["method"]
        endpoint = self._routes.get(path)
        if method != "POST":
            raise TwirpError(
                "bad_route",
                f"unsupported method {method} (only POST is allowed)",
                twirp_invalid_route=f"{method} {path}",
            )
        if endpoint is None:
            raise TwirpError("bad_route", f"no handler for path {path}", twirp_invalid_route=f"POST {path}")
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in (JSON, PROTOBUF):
            unexpected = f"unexpected Content-Type: {headers.get('content-type')!r}"
            raise TwirpError("bad_route", f"{unexpected}; use {JSON} or {PROTOBUF}", twirp_invalid_route=f"POST {path}")
        try:
            raw = await read_body(receive, headers)
        except TooLarge:
            raise TwirpError(
                "invalid_argument", f"the request body exceeds the limit of {MAX_BODY_BYTES} bytes"
            ) from None
        except ClientGone as gone:
            raise TwirpError("canceled", "the client went away") from gone
        request = decode(endpoint.rpc.request_type, raw, media)
        client = scope.get("client")
        try:
            answer = await endpoint.serve("twirp", request, headers, client[0] if client else None)
        except ShowError as exc:
            meta = {"retry_after": str(exc.retry_after)} if exc.retry_after is not None else {}
            raise TwirpError(WIRE[exc.code].twirp, exc.message, **meta) from exc
        return 200, media, self._writers[path][media](answer)


def decode(request_type: type[Message], raw: bytes, media: str) -> Message:
    if media == JSON:
        plain = plain_json(request_type, raw)
        if plain is not None:
            return plain
    request = request_type()
    try:
        if media == JSON:
            json_format.Parse(raw, request, ignore_unknown_fields=True)
        else:
            request.ParseFromString(raw)
    except Exception as exc:  # json, UTF-8 and protobuf parse errors alike
        kind = "json" if media == JSON else "protobuf"
        raise TwirpError("malformed", f"the {kind} request could not be decoded: {exc}") from exc
    return request


def encode(answer: Message, media: str) -> bytes:
    if media == PROTOBUF:
        return answer.SerializeToString()
    fields = json_fields(answer)
    # orjson writes what json.dumps writes here (compact, ASCII-escaped) whenever its output is
    # plain ASCII without DEL, which json.dumps would escape; anything else is left to json.dumps.
    quick = orjson.dumps(fields)
    if quick.isascii() and b"\x7f" not in quick:
        return quick
    return json.dumps(fields, separators=(",", ":")).encode()


# --- proto3 JSON of a request ---------------------------------------------------------------
# json_format.Parse (about 10 us for a JoinRoom) reads any JSON the contract allows. Nearly every
# request is a flat object of strings, booleans, integers and enum names under the fields' JSON
# or proto names: that is read here directly. Anything else (nested messages or lists, null,
# numbers as strings, unknown keys, duplicate keys, escapes, an oneof, a value out of range)
# returns None, and json_format reads it as before with its own errors.

Reader = Callable[[Any], Any]
_SLOW = object()
_READERS: dict[type[Message], dict[str, tuple[str, Reader]]] = {}


def plain_json(request_type: type[Message], raw: bytes) -> Message | None:
    """The request, when `raw` is a flat JSON object json_format would read to the same message
    without complaint; None to leave it to json_format."""
    if b"\\" in raw:
        return None
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(document) is not dict:
        return None
    readers = _READERS.get(request_type)
    if readers is None:
        readers = _READERS[request_type] = _readers(request_type.DESCRIPTOR)  # type: ignore[arg-type]  # upb's twin
    values: dict[str, Any] = {}
    quotes = 2 * len(document)
    for key, value in document.items():
        known = readers.get(key)
        if known is None:
            return None
        name, read = known
        if type(value) is str:
            quotes += 2
        value = read(value)
        if value is _SLOW:
            return None
        values[name] = value
    # Without escapes every quote delimits a key or a string value: more quotes than those read
    # means a key was given twice, which json_format refuses.
    if raw.count(b'"') != quotes:
        return None
    return request_type(**values)


def _readers(descriptor: Descriptor) -> dict[str, tuple[str, Reader]]:
    readers: dict[str, tuple[str, Reader]] = {}
    for field in descriptor.fields:
        read = _reader(field)
        if read is not None and field.containing_oneof is None:
            readers[field.json_name] = readers[field.name] = (field.name, read)
    return readers


def _reader(field: FieldDescriptor) -> Reader | None:
    if field.is_repeated:
        return None
    if field.type == FieldDescriptor.TYPE_STRING:
        return lambda value: value if type(value) is str else _SLOW
    if field.type == FieldDescriptor.TYPE_BOOL:
        return lambda value: value if type(value) is bool else _SLOW
    if field.type == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
        numbers = {v.name: v.number for v in field.enum_type.values}
        return lambda value: numbers.get(value, _SLOW) if type(value) is str else _SLOW
    bounds = INTEGER_RANGES.get(field.cpp_type)
    if bounds is not None and field.type != FieldDescriptor.TYPE_ENUM:
        low, high = bounds
        return lambda value: value if type(value) is int and low <= value <= high else _SLOW
    return None


# --- proto3 JSON of an answer --------------------------------------------------------------
# As Go's Twirp servers write it (protoc-gen-twirp v8: protojson with UseProtoNames and
# EmitUnpopulated unless the server opts out with WithServerJSONCamelCaseNames or
# WithServerJSONSkipDefaults): every field under its proto name, a field left at its default
# included with that default ("" / 0 / false, "0" for 64-bit integers, an enum's zero name, [] for
# a list) and a message field left unset as null; only a oneof's fields (proto3 `optional`
# included) are left out while unset. Clients of proto3 JSON read both forms alike.
#
# json_format.MessageToDict walks each message's descriptor on every call; the contract's answers
# hold only strings, booleans, integers, enums and messages of those, whose canonical JSON is
# simple, so each message type's encoding is worked out once here: its defaults, in declaration
# order, then the fields protobuf reports as set (ListFields) in their place, 64-bit integers as
# strings, enums by name (an unknown number as the number). A type holding anything else (floats,
# bytes, maps, well-known types, extensions) keeps json_format's own encoding, with the defaults
# of its fields without presence (json_format writes no null for an unset message).

FieldsOf = Callable[[Any], dict[str, Any]]
_UNSUPPORTED = object()
_ENCODERS: dict[str, FieldsOf | None] = {}
_PLAIN = {
    FieldDescriptor.TYPE_STRING,
    FieldDescriptor.TYPE_BOOL,
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_SFIXED32,
}
_WIDE = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
}


def json_fields(message: Message) -> dict[str, Any]:
    """The answer's JSON object as Go's Twirp servers write it, defaults included."""
    encoder = _encoder(message.DESCRIPTOR)  # type: ignore[arg-type]  # upb's twin type
    if encoder is None:
        return _json_format(message)
    return encoder(message)


def _json_format(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _encoder(descriptor: Descriptor) -> FieldsOf | None:
    name = descriptor.full_name
    if name in _ENCODERS:
        return _ENCODERS[name]
    _ENCODERS[name] = None  # while it is worked out (a type containing itself) or for good
    fields: dict[int, tuple[str, bool, Callable[[Any], Any] | None]] = {}
    # Every field outside a oneof, at its default, in declaration order; a set field takes its
    # place, a oneof's field set comes after them. Never changed once made: each answer's object
    # is a copy (its one list, the empty one, is replaced, never appended to).
    defaults: dict[str, Any] = {}
    for field in descriptor.fields:
        conversion = _conversion(field)
        if conversion is _UNSUPPORTED:
            return None
        fields[field.number] = (field.name, field.is_repeated, conversion)  # type: ignore[assignment]
        if field.containing_oneof is None:
            defaults[field.name] = _default(field, conversion)  # type: ignore[arg-type]

    def encode_one(message: Any) -> dict[str, Any]:
        out = defaults.copy()
        for field, value in message.ListFields():
            known = fields.get(field.number)
            if known is None or field.is_extension:
                return _json_format(message)
            key, repeated, conversion = known
            if conversion is None:
                out[key] = list(value) if repeated else value
            else:
                out[key] = [conversion(v) for v in value] if repeated else conversion(value)
        return out

    _ENCODERS[name] = encode_one
    return encode_one


_EMPTY: list[Any] = []


def _default(field: FieldDescriptor, conversion: Callable[[Any], Any] | None) -> Any:
    """A field's value in JSON while it is left unset: [] for a list, null for a message."""
    if field.is_repeated:
        return _EMPTY
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return None
    return field.default_value if conversion is None else conversion(field.default_value)


def _conversion(field: FieldDescriptor) -> Callable[[Any], Any] | object | None:
    if field.type in _PLAIN:
        return None
    if field.type in _WIDE:
        return str
    if field.type == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
        names = {v.number: v.name for v in field.enum_type.values}
        return lambda value: names.get(value, value)
    message_type = field.message_type
    if field.type == FieldDescriptor.TYPE_MESSAGE and message_type is not None:
        if message_type.full_name.startswith("google.protobuf.") or message_type.GetOptions().map_entry:
            return _UNSUPPORTED
        nested = _encoder(message_type)
        return _UNSUPPORTED if nested is None else nested
    return _UNSUPPORTED
