"""Request id: the caller's x-request-id when it is a sane one, else a fresh one; every log line
of the call carries it and every door sends it back."""

from __future__ import annotations

from service.interceptors.chain import Call, Piece
from service.observability.logs import new_request_id, request_id


class RequestId(Piece):
    async def enter(self, call: Call) -> None:
        call.request_id = new_request_id(call.headers.get("x-request-id"))
        request_id.set(call.request_id)
