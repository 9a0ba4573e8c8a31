"""The numbers a request's integer fields take where the show allows fewer than the field's type
holds (guestLimit is a uint32 the show takes from 1 to 16), by the field's full name in the contract.

The core refuses a number outside them in its own words (`guestLimit must be between 1 and 16, got
17`); a door that refuses a number the type cannot hold at all (-1, or 2^32) says the same bounds,
so a client is told what it may send, never the wire type's range.
"""

from __future__ import annotations

from service.core import history, pages, validate

RANGES: dict[str, tuple[int, int]] = {
    "showrunner.v1.UpdateRoomSettingsRequest.guest_limit": validate.GUEST_LIMITS,
    "showrunner.v1.ListRaisedHandsRequest.page_size": (1, pages.LISTED_PAGE_SIZE),
    "showrunner.v1.ListBansRequest.page_size": (1, pages.LISTED_PAGE_SIZE),
    "showrunner.v1.ListShowEventsRequest.page_size": (1, history.MAX_PAGE_SIZE),
    "showrunner.v1.ListParticipantsRequest.page_size": (1, pages.PARTICIPANTS_PAGE_MOST),
}
