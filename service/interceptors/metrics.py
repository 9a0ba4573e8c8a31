"""Metrics: every call counted and timed by RPC, door and outcome; a webhook refused before it
reached the core (a bad signature) is also counted as a rejected webhook."""

from __future__ import annotations

import time

from service.interceptors.chain import Call, Piece, code_of
from service.observability.metrics import Metrics as Registry
from service.policy import LIVEKIT


class Metrics(Piece):
    def __init__(self, metrics: Registry) -> None:
        self._metrics = metrics

    def leave(self, call: Call, error: Exception | None) -> Exception | None:
        self._metrics.served(call.rpc, call.door, code_of(error), time.perf_counter() - call.started)
        if call.rule.audience == LIVEKIT and error is not None and call.caller is None:
            self._metrics.webhook("unknown", "rejected")
        return error
