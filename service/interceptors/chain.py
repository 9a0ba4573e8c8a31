"""The chain itself: a call, what a piece of the chain is, and how the pieces run."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from service.core.caller import Caller
from service.core.errors import Code, ShowError
from service.policy import Rule

T = TypeVar("T")


@dataclass
class Call:
    """One call as the chain sees it. A door fills in the first fields; the pieces the rest."""

    door: str  # grpc, twirp, rest or webhook
    rule: Rule
    request: object  # the contract's request message; for a webhook, the raw body
    headers: Mapping[str, str]  # lower-case names: authorization, x-request-id
    address: str | None = None
    started: float = field(default_factory=time.perf_counter)
    request_id: str = ""
    caller: Caller | None = None

    @property
    def rpc(self) -> str:
        return self.rule.rpc

    def verified(self) -> Caller:
        """The caller authentication verified (only pieces after it may ask)."""
        if self.caller is None:
            raise RuntimeError("the call has not been authenticated")
        return self.caller


def code_of(error: BaseException | None) -> str:
    """The canonical code of an outcome: OK, a ShowError's code, or INTERNAL."""
    if error is None:
        return "OK"
    return error.code.value if isinstance(error, ShowError) else Code.INTERNAL.value


class Interceptor(Protocol):
    """One piece of the chain."""

    async def enter(self, call: Call) -> None:
        """Before the core: may refuse the call by raising ShowError."""

    def leave(self, call: Call, error: Exception | None) -> Exception | None:
        """After the call, answered or refused: the outcome, possibly changed."""


class Piece:
    """A piece that does nothing on one of the two ways."""

    async def enter(self, call: Call) -> None:
        return None

    def leave(self, call: Call, error: Exception | None) -> Exception | None:
        return error


class Chain:
    def __init__(self, pieces: Sequence[Interceptor]) -> None:
        self.pieces = tuple(pieces)
        # Every call runs through these: the pieces that do nothing on one way are left out of it.
        self._entering = tuple(p for p in self.pieces if getattr(type(p), "enter", None) is not Piece.enter)
        leaving = [p for p in self.pieces if getattr(type(p), "leave", None) is not Piece.leave]
        self._leaving = tuple(reversed(leaving))

    async def run(self, call: Call, answer: Callable[[Call], Awaitable[T]]) -> T:
        """Runs `answer` (the core) for the call once every piece has let it in."""
        error: Exception | None = None
        result: T | None = None
        try:
            for piece in self._entering:
                await piece.enter(call)
            result = await answer(call)
        except Exception as exc:
            error = exc
        for piece in self._leaving:
            error = piece.leave(call, error)
        if error is not None:
            raise error
        return result  # type: ignore[return-value]  # set whenever no error was raised
