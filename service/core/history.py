"""The show's history as ListShowEvents reads it: page sizes and an entry in the contract's words.

A page is read from a position in the room's history (the sequence number of the last entry the
previous page gave), so each page costs O(page size) whatever the history's length, and paging
never repeats or skips an entry the store still keeps. The page token carries that position,
sealed with the room's name like the other lists' (service/core/pages.py PageTokens), so a token
another room's history gave, or one this service did not give, is refused clearly.
"""

from __future__ import annotations

from showrunner.v1 import show_service_pb2 as pb

from service.core import pages
from service.core.record import HistoryEntry

# Entries per page when the request names none, and the most one page may hold.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def page_size(requested: int) -> int:
    """The request's page size, or the default for 0; anything outside 1..MAX_PAGE_SIZE is refused."""
    return pages.page_size(requested, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


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
