"""Structured JSON logs, each line carrying the id of the request it belongs to."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import random
import re
import time
from typing import Any

import orjson

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


# Request ids need to be unique, not secret: 128 bits from a generator seeded once from the
# system's entropy. os.urandom per request is a getrandom(2) system call, which py-spy put at
# about a tenth of an answered request's samples under load; this costs no system call. (The
# service never forks a worker that would share the sequence.)
_ids = random.Random(os.urandom(32))


def new_request_id(offered: str | None = None) -> str:
    """The caller's own id if it is a sane one (so traces join up), else a fresh one: 32 hex
    digits, as uuid4().hex writes them."""
    if offered and _ACCEPTABLE.fullmatch(offered):
        return offered
    return f"{_ids.getrandbits(128):032x}"


# One line per request is on every hot path: orjson encodes it about ten times faster than the
# standard library's encoder (UTF-8, as ensure_ascii=False gave), and the time's seconds are
# formatted once per second. Values it cannot encode are written as their str().
_LEVELS = {level: logging.getLevelName(level).lower() for level in range(0, 60, 10)}


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def _time(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        # The milliseconds as the logging module's records take them (LogRecord.msecs).
        return f"{self._stamp}.{int((created - second) * 1000):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        error = self.formatException(record.exc_info) if record.exc_info else None
        level = _LEVELS.get(record.levelno) or record.levelname.lower()
        return self.line(record.created, level, record.name, record.getMessage(), record.__dict__.get("fields"), error)

    def line(
        self, created: float, level: str, logger: str, message: str, fields: dict[str, Any] | None, error: str | None
    ) -> str:
        line = {"time": self._time(created), "level": level, "logger": logger, "message": message}
        if rid := request_id.get():
            line["request_id"] = rid
        if fields:
            line.update(fields)
        if error:
            line["error"] = error
        return orjson.dumps(line, default=str).decode()


class GatheredLines(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that writes the lines of one turn of the event loop together.

    Writing to stderr is a system call per line; under load (a file or a pipe to a log collector)
    that was about a fifth of an answered request's cost, more than everything else the line
    takes. Lines logged on the event loop's thread are gathered and written in one call once
    the loop has run the callbacks that were ready (loop.call_soon): a line reaches the stream
    at the end of its turn, never reordered. Anywhere else (another thread, no loop running)
    a line is written at once, after whatever was gathered. Everything gathered is written
    when the handler is flushed or closed, as logging.shutdown does at exit; a process killed
    outright (SIGKILL) loses at most the lines of its last turn."""

    def __init__(self) -> None:
        super().__init__()
        self._gathered: list[str] = []
        self._due = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write_line(self.format(record))
        except Exception:
            self.handleError(record)

    def write_line(self, line: str) -> None:
        """Called with the handler's lock held (Handler.handle takes it; so does info_line)."""
        self._gathered.append(line + self.terminator)
        if self._due:
            return
        try:
            asyncio.get_running_loop().call_soon(self._write_due)
        except RuntimeError:  # not on a running loop's thread, or the loop is closing
            self._write_gathered()
            return
        self._due = True

    def _write_due(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # a StreamHandler always has its lock
            self._due = False
            try:
                self._write_gathered()
            except Exception:
                # As emit does: reported on sys.stderr by the logging module, never logged again
                # (which would gather another line to fail on).
                self.handleError(logging.makeLogRecord({"msg": "gathered log lines"}))

    def _write_gathered(self) -> None:
        if self._gathered:
            text = "".join(self._gathered)
            self._gathered.clear()  # written or not, never twice
            self.stream.write(text)
            self.stream.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write_gathered()
        super().flush()


# The handler configure() installed, while it is the root's only one: the request lines go
# straight to it (see info_line).
_handler: GatheredLines | None = None
_formatter: JsonFormatter | None = None


def info_line(logger: logging.Logger, message: str, fields: dict[str, Any]) -> bool:
    """Writes `message` with `fields` at INFO as the line logger.info(..., extra={"fields": fields})
    would write through configure()'s handler, without the LogRecord and the handler chain around
    it (5-12 us of an answered request in process). It does so only while that handler is
    the only place the line would go and nothing could filter it: False otherwise (a test's
    capturing handler, a filter, another level), and the caller logs it the usual way."""
    handler, formatter = _handler, _formatter
    if handler is None or formatter is None or not logger.isEnabledFor(logging.INFO):
        return False
    root: logging.Logger | None = logger
    while root is not None and root.parent is not None:  # up to the root, as callHandlers goes
        if root.handlers or root.filters or not root.propagate:
            return False
        root = root.parent
    if root is None or root.filters or handler.filters or root.handlers != [handler] or handler.level > logging.INFO:
        return False
    line = formatter.line(time.time(), "info", logger.name, message, fields, None)
    try:
        with handler.lock:  # type: ignore[union-attr]  # a StreamHandler always has its lock
            handler.write_line(line)
    except Exception:
        return False
    return True


def configure(level: str) -> None:
    global _handler, _formatter
    # Fields our lines never show, which the logging module would otherwise look up for every
    # record (the caller's frame above all), as its documentation's "Optimization" section says.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = GatheredLines()
    _formatter = JsonFormatter()
    handler.setFormatter(_formatter)
    _handler = handler
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # A library's warning (PyJWT's for a short LiveKit secret, say) is a log line like any other,
    # in JSON under the logger "py.warnings", not plain text on stderr among the JSON lines.
    logging.captureWarnings(True)
    for noisy in ("livekit", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
