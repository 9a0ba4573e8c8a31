"""Logs: one line per call, with its door, RPC, outcome and duration (and, through the log
formatter, its request id)."""

from __future__ import annotations

import logging
import time

from service.interceptors.chain import Call, Piece, code_of
from service.observability.logs import info_line

log = logging.getLogger("showrunner.requests")


class Logs(Piece):
    def leave(self, call: Call, error: Exception | None) -> Exception | None:
        code = code_of(error)
        fields = {
            "door": call.door,
            "rpc": call.rpc,
            "code": code,
            "ms": round((time.perf_counter() - call.started) * 1000, 2),
        }
        # The same line either way; info_line skips the logging module's record when it can.
        if not info_line(log, f"{call.door} {call.rpc} {code}", fields):
            log.info("%s %s %s", call.door, call.rpc, code, extra={"fields": fields})
        return error
