"""Who is calling: an explicit argument of every core operation."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """The participant on whose behalf a request acts.

    `identity` None is an anonymous caller. Today the doors take the identity a request names
    (the MVP's hostIdentity / participantIdentity); a verified token will supply it instead,
    without the core changing.
    """

    identity: str | None = None

    @classmethod
    def anonymous(cls) -> Caller:
        return cls(None)
