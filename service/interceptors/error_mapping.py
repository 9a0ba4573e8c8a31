"""Error mapping: whatever went wrong leaves as one of the canonical errors. A failure that is not
a ShowError is a bug: it is logged with its traceback and answered INTERNAL with the request id,
never a crash or a framework's bare 500. Each door then spells the canonical code in its own wire
form (service/doors/errors.py)."""

from __future__ import annotations

import logging

from service.core.errors import Code, ShowError
from service.interceptors.chain import Call, Piece

log = logging.getLogger("showrunner.requests")


class ErrorMapping(Piece):
    def leave(self, call: Call, error: Exception | None) -> Exception | None:
        if error is None or isinstance(error, ShowError):
            return error
        log.error("%s %s failed unexpectedly", call.door, call.rpc, exc_info=error)
        mapped = ShowError(Code.INTERNAL, f"internal error (request {call.request_id or 'unknown'})")
        mapped.__cause__ = error
        return mapped
