"""The show's history as ListShowEvents reads it: page sizes, the opaque page token, and an entry
in the contract's words.

A page is read from a position in the room's history (the sequence number of the last entry the
previous page gave), so each page costs O(page size) whatever the history's length, and paging
never repeats or skips an entry the store still keeps. The token carries that position, encoded
so that clients treat it as opaque and a token this service did not give is refused clearly.
"""

from __future__ import annotations

import re

from showrunner.v1 import show_service_pb2 as pb

from service.core import errors, pages
from service.core.record import HistoryEntry

# Entries per page when the request names none, and the most one page may hold.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

_TOKEN_PREFIX = "history:"
_TOKEN_BODY = re.compile(r"history:([1-9][0-9]{0,17})")
_BAD_TOKEN = "pageToken is not one this service gave; leave it empty to read from the first entry"


def page_size(requested: int) -> int:
    """The request's page size, or the default for 0; anything outside 1..MAX_PAGE_SIZE is refused."""
    return pages.page_size(requested, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def page_token(after: int) -> str:
    """The token of the page after the entry with sequence number `after`."""
    return pages.opaque(f"{_TOKEN_PREFIX}{after}")


def position(token: str) -> int:
    """The sequence number a page token reads after (0 for the empty token: the first page)."""
    if not token:
        return 0
    found = _TOKEN_BODY.fullmatch(pages.revealed(token) or "")
    if found is None:
        raise errors.invalid(_BAD_TOKEN)
    return int(found.group(1))


def wire(entry: HistoryEntry) -> pb.HistoryEntry:
    return pb.HistoryEntry(
        sequence=entry.sequence,
        happened_at=entry.at,
        type=entry.kind,
        actor_identity=entry.actor,
        target_identity=entry.target,
        reason=entry.reason,
        egress_id=entry.egress_id,
        destinations=entry.destinations,
    )
