"""What every door does around a call into the core: count it, time it, log it, and make sure
an unexpected failure still leaves as a proper INTERNAL error with the request id, never a crash."""

from __future__ import annotations

import logging
import time

from google.protobuf.message import Message

from service.core.caller import Credentials
from service.core.errors import Code, ShowError
from service.core.show import ShowCore
from service.observability.logs import request_id
from service.observability.metrics import Metrics

log = logging.getLogger("showrunner.requests")


class Serving:
    def __init__(self, core: ShowCore, metrics: Metrics) -> None:
        self.core = core
        self.metrics = metrics

    async def serve(self, door: str, rpc: str, request: Message, credentials: Credentials) -> Message:
        started, code = time.perf_counter(), "OK"
        try:
            return await self.core.handle(rpc, request, credentials)
        except ShowError as exc:
            code = exc.code.value
            raise
        except Exception as exc:
            code = Code.INTERNAL.value
            log.exception("%s %s failed unexpectedly", door, rpc)
            raise ShowError(Code.INTERNAL, f"internal error (request {request_id.get() or 'unknown'})") from exc
        finally:
            seconds = time.perf_counter() - started
            self.metrics.served(rpc, door, code, seconds)
            fields = {"door": door, "rpc": rpc, "code": code, "ms": round(seconds * 1000, 2)}
            log.info("%s %s %s", door, rpc, code, extra={"fields": fields})
