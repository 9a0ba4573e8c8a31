"""Lists read a page at a time: page sizes and opaque page tokens, for the show's history
(ListShowEvents), the host's queue of raised hands (ListRaisedHands), the bans (ListBans) and the
connected participants (ListParticipants).

A page of a list goes on from a place, never from an offset: the place where the previous page
ended (for the queue and the bans a Place: when its last hand went up or its last ban was made,
and whose; for the history the sequence number of its last entry; for the participants, who are
listed by identity, the identity of its last participant), so entries added or taken
away between pages make none the store still keeps repeat or go missing, and each page costs the
same wherever it is in the list.

The token carries the list's kind and that place, sealed with an HMAC-SHA256 over the kind, the
room and the place, keyed by the PageTokens the core is given (app.py derives the key from the
LiveKit API secret, so every instance of one deployment accepts the others' tokens and nothing new
needs configuring). The room is sealed in but not carried: the request names it. A token this
service did not give for this room's list (made up, cut short, changed, another room's or list's,
or sealed with another key: an older release's, or before the secret changed) is refused with
INVALID_ARGUMENT before anything is read, and the client reads from the first page again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import TypeVar

from service.core import errors, validate
from service.core.record import Place

T = TypeVar("T")

# The longest token read: a participants' page may go on after an identity of up to
# IDENTITY_PLACE_BYTES (LiveKit lists whoever holds a token of the deployment's key, so an identity
# may be one this service would not give: another character set, any length).
IDENTITY_PLACE_BYTES = 1500
_SEAL_BYTES = 16  # of the HMAC-SHA256: 128 bits cannot be guessed, and keep tokens short
_LONGEST_BODY = len("participants:") + IDENTITY_PLACE_BYTES + _SEAL_BYTES
_TOKEN_CHARS = re.compile(rf"[A-Za-z0-9_-]{{1,{(_LONGEST_BODY + 2) // 3 * 4}}}")
_PLACE = re.compile(r"([0-9]{1,15}):(.+)")  # a Place: when, in ms, and whose
_SEQUENCE = re.compile(r"[1-9][0-9]{0,17}")  # a history entry's sequence number
_IDENTITY_PLACE = re.compile(r".+", re.DOTALL)  # a participant's identity, as LiveKit lists it
_KEY_PURPOSE = b"showrunner page tokens v1"


class Listing(StrEnum):
    """A list read in pages from a place, and how its refusals name its entries."""

    HANDS = "hands"  # the host's queue of raised hands
    BANS = "bans"
    HISTORY = "history"  # the show's history (ListShowEvents)
    PARTICIPANTS = "participants"  # the connected participants, by identity (ListParticipants)

    @property
    def entry(self) -> str:
        return {
            Listing.HANDS: "hand",
            Listing.BANS: "ban",
            Listing.HISTORY: "entry",
            Listing.PARTICIPANTS: "participant",
        }[self]


# Entries per page of the queue or the bans when the request names none, and the most one page may
# hold: the same, so a client that names no size (the MVP's REST clients list hands with a bare
# GET) gets the whole queue of any ordinary show, as it always did.
LISTED_PAGE_SIZE = 1000

# The most participants one page of ListParticipants may hold. A request that names no size reads
# the whole room at once instead (the MVP's clients list participants with a bare GET), so a page
# size is what a client sends to bound its answer: 1000 keeps a page well under the doors' answer
# sizes (a participant is a few hundred bytes) and is the other lists' most.
PARTICIPANTS_PAGE_MOST = 1000


def page_size(requested: int, default: int, most: int) -> int:
    """The request's page size, or `default` for 0; anything outside 1..`most` is refused."""
    if requested == 0:
        return default
    return validate.between("pageSize", requested, 1, most)


def page_key(secret: str) -> bytes:
    """The key page tokens are sealed with, derived from the LiveKit API secret: every instance
    that shares the secret shares the key, and the key is no use for anything the secret signs."""
    return hmac.new(secret.encode(), _KEY_PURPOSE, hashlib.sha256).digest()


class PageTokens:
    """Makes the page tokens of the paged lists and reads back the place one carries, for one
    key: a token is accepted only with the key, list and room it was made for."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a page token key must be at least 16 bytes")
        self._key = key

    def _seal(self, listing: Listing, room: str, place: str) -> bytes:
        # Room names and places hold no newline, so the three cannot be read another way.
        text = f"{listing.value}\n{room}\n{place}".encode()
        return hmac.new(self._key, text, hashlib.sha256).digest()[:_SEAL_BYTES]

    def _token(self, listing: Listing, room: str, place: str) -> str:
        body = f"{listing.value}:{place}".encode()
        return base64.urlsafe_b64encode(body + self._seal(listing, room, place)).decode().rstrip("=")

    def _place(self, listing: Listing, room: str, token: str, shape: re.Pattern[str]) -> re.Match[str]:
        """The place, of `shape`, that a token of `listing` in `room` carries once its seal is
        checked; INVALID_ARGUMENT for any other token."""
        raw = _decoded(token)
        body, seal = raw[:-_SEAL_BYTES], raw[-_SEAL_BYTES:]
        kind, _, place = body.partition(b":")
        text = place.decode("utf-8", errors="replace")
        if kind == listing.value.encode():
            found = shape.fullmatch(text)
            if found is not None and hmac.compare_digest(seal, self._seal(listing, room, text)):
                return found
        raise _refusal(listing)

    def after(self, listing: Listing, room: str, place: Place) -> str:
        """The token of the page of the queue or the bans in `room` that goes on after `place`."""
        return self._token(listing, room, f"{place.at}:{place.identity}")

    def place_of(self, listing: Listing, room: str, token: str) -> Place | None:
        """Where the page of the queue or the bans a token reads goes on from (None for the
        empty token: the first page). INVALID_ARGUMENT for a token this service did not give
        for this room's list."""
        if not token:
            return None
        found = self._place(listing, room, token, _PLACE)
        if not validate.is_identity(found.group(2)):
            raise _refusal(listing)
        return Place(int(found.group(1)), found.group(2))

    def after_entry(self, room: str, sequence: int) -> str:
        """The token of the page of `room`'s history after the entry numbered `sequence`."""
        return self._token(Listing.HISTORY, room, str(sequence))

    def position(self, room: str, token: str) -> int:
        """The sequence number a page of `room`'s history reads after (0 for the empty token:
        the first page). INVALID_ARGUMENT for a token this service did not give for it."""
        if not token:
            return 0
        return int(self._place(Listing.HISTORY, room, token, _SEQUENCE).group(0))

    def after_participant(self, room: str, identity: str) -> str:
        """The token of the page of `room`'s participants that goes on after `identity`."""
        return self._token(Listing.PARTICIPANTS, room, identity)

    def participant_place(self, room: str, token: str) -> str | None:
        """The identity a page of `room`'s participants goes on after (None for the empty token:
        the first page). INVALID_ARGUMENT for a token this service did not give for it."""
        if not token:
            return None
        return self._place(Listing.PARTICIPANTS, room, token, _IDENTITY_PLACE).group(0)

    def participants_asked(self, room: str, size: int, token: str) -> tuple[int, str | None]:
        """A ListParticipants request's page: its size (0: no bound) and the identity it goes on
        after, both checked before anything is read."""
        return page_size(size, 0, PARTICIPANTS_PAGE_MOST), self.participant_place(room, token)

    def asked(self, listing: Listing, room: str, size: int, token: str) -> tuple[int, Place | None]:
        """A ListRaisedHands or ListBans request's page: its size (0 for the default) and where
        it goes on from, both checked before anything is read."""
        return page_size(size, LISTED_PAGE_SIZE, LISTED_PAGE_SIZE), self.place_of(listing, room, token)

    def next_token(
        self, listing: Listing, room: str, found: Sequence[T], size: int, place: Callable[[T], Place]
    ) -> str:
        """The token of the page after the first `size` of `found`, read with one entry beyond
        the page to tell whether another follows: "" when none does."""
        return self.after(listing, room, place(found[size - 1])) if len(found) > size else ""


def _decoded(token: str) -> bytes:
    """The bytes a token's URL-safe base64 (without padding) holds; none if it is not that."""
    if not _TOKEN_CHARS.fullmatch(token):
        return b""
    try:
        body = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return b""
    # Only the one spelling this service writes: base64 ignores a last character's spare bits,
    # so another spelling of the same bytes would otherwise pass as the token it imitates.
    return body if base64.urlsafe_b64encode(body).decode().rstrip("=") == token else b""


def _refusal(listing: Listing) -> errors.ShowError:
    return errors.invalid(
        f"pageToken is not one this service gave for this room's {listing.value}; "
        f"leave it empty to read from the first {listing.entry}"
    )
