"""What names look like. A request with a malformed name is refused before anything happens."""

from __future__ import annotations

import re
import unicodedata

from service.core import errors

MAX_NAME = 128
# Guests on stage at once: a room's setting (UpdateRoomSettings) and the service's default
# (SHOW_GUEST_LIMIT) alike.
GUEST_LIMITS = (1, 16)
_ROOM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_IDENTITY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,127}")


def room_name(value: str, field: str = "roomName") -> str:
    if not _ROOM.fullmatch(value):
        raise errors.invalid(
            f'{field} must be 1 to {MAX_NAME} characters: letters, digits, "-", "_", "." or ":", '
            "starting with a letter or digit"
        )
    return value


def identity(value: str, field: str) -> str:
    if not _IDENTITY.fullmatch(value):
        raise errors.invalid(
            f'{field} must be 1 to {MAX_NAME} characters: letters, digits, "-", "_", ".", ":", "@" or "+", '
            "starting with a letter or digit"
        )
    return value


def is_identity(value: str) -> bool:
    """Whether `value` has an identity's shape (for what carries one inside, as a page token)."""
    return _IDENTITY.fullmatch(value) is not None


# Letters and symbols that print as nothing: the Hangul fillers and the blank Braille pattern.
_SHOWS_NOTHING = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def display_name(value: str, field: str = "displayName") -> str:
    if len(value) > MAX_NAME:
        raise errors.invalid(f"{field} must be at most {MAX_NAME} characters")
    if any(not ch.isprintable() for ch in value):
        raise errors.invalid(f"{field} must not contain control characters")
    if value and all(ch.isspace() or ch in _SHOWS_NOTHING or unicodedata.category(ch) in ("Mn", "Me") for ch in value):
        # Spaces only would show the participant to everyone with no name at all; leaving it
        # out shows its identity.
        raise errors.invalid(f"{field} must not be blank: leave it out to show the participant's identity")
    return value


def between(field: str, value: int, low: int, high: int) -> int:
    """`value`, refused unless it is `low` to `high`."""
    if not low <= value <= high:
        raise errors.invalid(out_of_range(field, value, low, high))
    return value


def out_of_range(field: str, value: int, low: int, high: int) -> str:
    """The words every bounded number is refused in, by the core and by the doors."""
    return f"{field} must be between {low} and {high}, got {value}"
