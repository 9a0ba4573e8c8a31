"""Lists read a page at a time: page sizes and opaque page tokens, for the show's history
(service/core/history.py) and for the lists that grow with the audience, the host's queue of
raised hands (ListRaisedHands) and the bans (ListBans).

A page of a list goes on from a place, never from an offset: the place where the previous page
ended (a Place: when its last hand went up or its last ban was made, and whose), so hands raised
or lowered between pages make none still raised repeat or go missing, and each page costs the
same wherever it is in the list. The token carries that place and a check of it with the room's
name, encoded so that clients treat it as opaque, and one this service did not give for this
room's list (made up, cut short, changed, or another room's) is refused clearly. The check is
not a signature: a client that copied it could make up a place, which reads no more than the
list it may read page by page anyway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import TypeVar

from service.core import errors, validate
from service.core.record import Place

T = TypeVar("T")

_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_-]{1,400}")
_PLACE = re.compile(r"(hands|bans):([0-9]{1,15}):(.+):([0-9a-f]{16})")


class Listing(StrEnum):
    """A list read in pages from a place, and how its refusals name its entries."""

    HANDS = "hands"  # the host's queue of raised hands
    BANS = "bans"

    @property
    def entry(self) -> str:
        return "hand" if self is Listing.HANDS else "ban"


# Entries per page of the queue or the bans when the request names none, and the most one page may
# hold: the same, so a client that names no size (the MVP's REST clients list hands with a bare
# GET) gets the whole queue of any ordinary show, as it always did.
LISTED_PAGE_SIZE = 1000


def page_size(requested: int, default: int, most: int) -> int:
    """The request's page size, or `default` for 0; anything outside 1..`most` is refused."""
    if requested == 0:
        return default
    if not 1 <= requested <= most:
        raise errors.invalid(f"pageSize must be between 1 and {most}, got {requested}")
    return requested


def opaque(text: str) -> str:
    """`text` as a page token: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def revealed(token: str) -> str | None:
    """The text a token of opaque() carries, or None if it cannot be one."""
    if not _TOKEN_CHARS.fullmatch(token):
        return None
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        return None


def _check(room: str, body: str) -> str:
    """What ties a token's place to its room and list, and shows it was not cut or changed."""
    return hashlib.sha256(f"{room}\n{body}".encode()).hexdigest()[:16]


def token_after(listing: Listing, room: str, place: Place) -> str:
    """The token of the page of `listing` in `room` that goes on after `place`."""
    body = f"{listing.value}:{place.at}:{place.identity}"
    return opaque(f"{body}:{_check(room, body)}")


def place_of(listing: Listing, room: str, token: str) -> Place | None:
    """Where the page a token reads goes on from (None for the empty token: the first page).
    INVALID_ARGUMENT for a token this service did not give, or gave for another room or list."""
    if not token:
        return None
    found = _PLACE.fullmatch(revealed(token) or "")
    if (
        found is None
        or found.group(1) != listing.value
        or found.group(4) != _check(room, found.group(0).rpartition(":")[0])
        or not validate.is_identity(found.group(3))
    ):
        raise errors.invalid(
            f"pageToken is not one this service gave for this room's {listing.value}; "
            f"leave it empty to read from the first {listing.entry}"
        )
    return Place(int(found.group(2)), found.group(3))


def asked(listing: Listing, room: str, size: int, token: str) -> tuple[int, Place | None]:
    """A ListRaisedHands or ListBans request's page: its size (0 for the default) and where it goes
    on from, both checked before anything is read."""
    return page_size(size, LISTED_PAGE_SIZE, LISTED_PAGE_SIZE), place_of(listing, room, token)


def next_token(listing: Listing, room: str, found: Sequence[T], size: int, place: Callable[[T], Place]) -> str:
    """The token of the page after the first `size` of `found`, read with one entry beyond the
    page to tell whether another follows: "" when none does."""
    return token_after(listing, room, place(found[size - 1])) if len(found) > size else ""
