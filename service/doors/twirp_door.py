"""The Twirp door: the generated Twirp server on the twirpy runtime, each RPC one call into the core.

`ShowTwirpApp` tightens the runtime where it strays from Twirp's wire protocol v7: unknown
services and methods answer bad_route (404), media types may carry parameters
("application/json; charset=utf-8"), JSON requests may carry unknown fields (as Twirp's Go
servers accept), JSON answers are compact, and any undecodable body is `malformed` rather than an
internal error.
"""

from __future__ import annotations

import contextvars
import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any, cast

from google.protobuf import json_format
from google.protobuf.message import Message
from showrunner.v1 import show_service_twirp
from twirp import ctxkeys
from twirp import errors as twirp_errors
from twirp import exceptions as twirp_exceptions
from twirp.asgi import TwirpASGIApp
from twirp.context import Context

from service.core.caller import Credentials
from service.core.errors import ShowError
from service.core.show import OPERATIONS
from service.doors.errors import WIRE
from service.doors.serving import Serving

TWIRP_PREFIX = "/twirp"
MAX_BODY_BYTES = 64 * 1024

# The client address of the request being served; the runtime's context does not carry it.
_peer: contextvars.ContextVar[str | None] = contextvars.ContextVar("twirp_peer", default=None)


def twirp_error(code: str, message: str, **meta: str) -> twirp_exceptions.TwirpServerException:
    return twirp_exceptions.TwirpServerException(code=code, message=message, meta=meta or None)


class ShowTwirpApp(TwirpASGIApp):  # type: ignore[misc]
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        client = scope.get("client")
        token = _peer.set(client[0] if client else None)
        try:
            await super().__call__(scope, receive, send)
        finally:
            _peer.reset(token)

    async def handle_error(self, ctx: Context, exc: Exception, scope: Any, receive: Any, send: Any) -> None:
        """Twirp's error JSON; anything that is not a Twirp error is logged and answered `internal`."""
        error: Any = exc
        if not isinstance(exc, twirp_exceptions.TwirpServerException):
            ctx.get_logger().exception("unexpected error serving Twirp request")
            error = twirp_error(twirp_errors.Errors.Internal.value, "internal error")
        headers = {"Content-Type": "application/json"}
        if "retry_after" in error.meta:
            headers["Retry-After"] = str(error.meta["retry_after"])
        status = twirp_errors.Errors.get_status_code(error.code)
        ctx.set(ctxkeys.RESPONSE_STATUS, status)
        self._hook.error(ctx=ctx, exc=error)
        await self._respond(send=send, status=status, headers=headers, body_bytes=error.to_json_bytes())
        self._hook.response_sent(ctx=ctx)

    def _get_endpoint(self, path: str) -> Any:
        service_path, _, method = path.rpartition("/")
        service = self._services.get(service_path)
        endpoint = service._endpoints.get(method) if service is not None else None
        if endpoint is None:
            raise twirp_error(
                twirp_errors.Errors.BadRoute.value,
                f"no handler for path {path}",
                twirp_invalid_route=f"POST {path}",
            )
        return endpoint

    def _get_encoder_decoder(self, endpoint: Any, headers: dict[str, str]) -> tuple[Any, Any]:
        media_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
        if media_type == "application/json":
            return (
                functools.partial(_json_encoder, data_obj=endpoint.output),
                functools.partial(_json_decoder, data_obj=endpoint.input),
            )
        if media_type == "application/protobuf":
            return (
                functools.partial(self.proto_encoder, data_obj=endpoint.output),
                functools.partial(_proto_decoder, data_obj=endpoint.input),
            )
        raise twirp_error(
            twirp_errors.Errors.BadRoute.value,
            f"unexpected Content-Type: {headers.get('content-type')!r}; use application/json or application/protobuf",
        )


def _json_encoder(value: Message, data_obj: type[Message]) -> tuple[bytes, dict[str, str]]:
    """Compact JSON with the contract's field names, as Twirp's Go servers answer."""
    fields = json_format.MessageToDict(value, preserving_proto_field_name=True)
    return json.dumps(fields, separators=(",", ":")).encode(), {"Content-Type": "application/json"}


def _json_decoder(body: bytes, data_obj: type[Message]) -> Message:
    message = data_obj()
    try:
        json_format.Parse(body, message, ignore_unknown_fields=True)
    except Exception as exc:  # json, UTF-8 and protobuf parse errors alike
        raise twirp_error(twirp_errors.Errors.Malformed.value, f"the json request could not be decoded: {exc}") from exc
    return message


def _proto_decoder(body: bytes, data_obj: type[Message]) -> Message:
    message = data_obj()
    try:
        message.ParseFromString(body)
    except Exception as exc:
        raise twirp_error(twirp_errors.Errors.Malformed.value, "the protobuf request could not be decoded") from exc
    return message


class TwirpShow:
    """The implementation the generated ShowServiceServer routes to; methods come from OPERATIONS."""

    def __init__(self, serving: Serving) -> None:
        self._serving = serving

    async def serve(self, rpc: str, ctx: Context, request: Message) -> Message:
        headers: dict[str, str] = ctx.get(ctxkeys.RAW_HEADERS)
        credentials = Credentials(authorization=headers.get("authorization"), address=_peer.get())
        try:
            return await self._serving.serve("twirp", rpc, request, credentials)
        except ShowError as exc:
            meta = {"retry_after": str(exc.retry_after)} if exc.retry_after is not None else {}
            raise twirp_error(WIRE[exc.code].twirp, exc.message, **meta) from exc


def _rpc(name: str) -> Callable[[TwirpShow, Context, Message], Awaitable[Message]]:
    async def method(self: TwirpShow, ctx: Context, request: Message) -> Message:
        return await self.serve(name, ctx, request)

    method.__name__ = name
    return method


for _name in OPERATIONS:
    setattr(TwirpShow, _name, _rpc(_name))


def twirp_app(serving: Serving) -> ShowTwirpApp:
    app = ShowTwirpApp(prefix="", max_receive_message_length=MAX_BODY_BYTES)
    service = cast(show_service_twirp.ShowServiceProtocol, TwirpShow(serving))
    app.add_service(show_service_twirp.ShowServiceServer(service=service, server_path_prefix=TWIRP_PREFIX))
    return app
