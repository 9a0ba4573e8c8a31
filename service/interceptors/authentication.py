"""Authentication: who is calling, from a verified token (anonymous when none is given), or, for
LiveKit's webhooks, the body's signature. A token that is given but does not verify is refused."""

from __future__ import annotations

from service.core.auth import Authenticator
from service.core.caller import Caller, Credentials
from service.interceptors.chain import Call, Piece
from service.policy import LIVEKIT


class Authentication(Piece):
    def __init__(self, auth: Authenticator) -> None:
        self._auth = auth

    async def enter(self, call: Call) -> None:
        authorization = call.headers.get("authorization")
        if call.rule.audience == LIVEKIT:
            body = call.request if isinstance(call.request, bytes) else b""
            self._auth.verify_webhook(authorization, body)
            call.caller = Caller(address=call.address)
            return
        call.caller = self._auth.caller(Credentials(authorization=authorization, address=call.address))
