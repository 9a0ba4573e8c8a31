"""The room's participants, read a page at a time (ListParticipants with a page size) through every
door, on every store: pages come in the order of the participants' identities, each goes on from
the identity that ended the one before, so participants joining or leaving between pages make no
one still connected repeat or go missing; a request without a page size gets everyone at once, as
the MVP's bare GET did; bad page sizes and tokens the service did not give for the room are refused
before anything is read. Every participant here is really connected to LiveKit.
"""

from __future__ import annotations

import asyncio
import base64
import string
from collections.abc import AsyncIterator
from typing import Any

import pytest

from service.core.errors import ShowError
from service.core.pages import IDENTITY_PLACE_BYTES, PageTokens, page_key
from tests.conftest import ServiceProcess, admin_token
from tests.doors import DOORS, ShowClient, client_for, expect_refusal
from tests.live import LiveParticipant
from tests.test_show_through_every_door import join_viewer, refused, start_show

MOST = 1000  # the contract's most participants a page may hold
VIEWERS = ("dan", "ann", "cal", "bea")
EVERYONE = ["ann", "bea", "cal", "dan", "host-1"]  # by identity


def bad_token() -> str:
    return (
        "pageToken is not one this service gave for this room's participants; "
        "leave it empty to read from the first participant"
    )


def who(page: dict[str, Any]) -> list[str]:
    return [p["identity"] for p in page["participants"]]


async def every_page(door: ShowClient, room: str, size: int) -> list[dict[str, Any]]:
    pages = [await door.participants_page(room, size)]
    while pages[-1]["nextPageToken"]:
        pages.append(await door.participants_page(room, size, pages[-1]["nextPageToken"]))
    return pages


async def listed_as(door: ShowClient, room: str, want: set[str]) -> None:
    """Until the service lists exactly `want` (it hears of joins and leaves through LiveKit's
    webhooks, and asks LiveKit again at least every few seconds)."""
    found: set[str] = set()
    for _ in range(100):
        found = {p["identity"] for p in await door.list_participants(room)}
        if found == want:
            return
        await asyncio.sleep(0.1)
    assert found == want


@pytest.fixture
async def audience(door: ShowClient, room: str) -> AsyncIterator[tuple[ShowClient, dict[str, LiveParticipant]]]:
    """A host and four viewers, all connected to LiveKit: the host's door, and each one's connection."""
    host, host_live = await start_show(door, room)
    lives = {"host-1": host_live}
    try:
        for identity in VIEWERS:
            _, lives[identity] = await join_viewer(door, room, identity)
        await listed_as(host, room, set(EVERYONE))
        yield host, lives
    finally:
        for live in lives.values():
            await live.disconnect()


async def test_participants_come_a_page_at_a_time_by_identity(
    door: ShowClient, audience: tuple[ShowClient, dict[str, LiveParticipant]], room: str
) -> None:
    host, _ = audience
    pages = await every_page(host, room, 2)
    assert [who(page) for page in pages] == [["ann", "bea"], ["cal", "dan"], ["host-1"]]
    assert all(set(page) == {"participants", "nextPageToken"} for page in pages)
    assert pages[0]["nextPageToken"] and pages[1]["nextPageToken"] and pages[2]["nextPageToken"] == ""
    roles = {p["identity"]: p["role"] for page in pages for p in page["participants"]}
    assert len({roles[v] for v in VIEWERS}) == 1 and roles["host-1"] != roles["ann"]

    # A page as large as the room: everyone, and no token.
    whole = await host.participants_page(room, 5)
    assert (who(whole), whole["nextPageToken"]) == (EVERYONE, "")
    # No page size: everyone at once, as the MVP's clients read them, and no token either.
    unpaged = await host.participants_page(room)
    assert (sorted(who(unpaged)), unpaged["nextPageToken"]) == (EVERYONE, "")
    assert sorted(p["identity"] for p in await host.list_participants(room)) == EVERYONE
    # No page size, but a token: all the rest.
    rest = await host.participants_page(room, 0, pages[0]["nextPageToken"])
    assert (who(rest), rest["nextPageToken"]) == (["cal", "dan", "host-1"], "")


async def test_a_participant_leaving_or_joining_between_pages_makes_no_one_repeat_or_go_missing(
    door: ShowClient, audience: tuple[ShowClient, dict[str, LiveParticipant]], room: str
) -> None:
    host, lives = audience
    first = await host.participants_page(room, 2)
    assert who(first) == ["ann", "bea"]
    # Between pages the page's own last participant leaves, and so does one before it; one joins
    # after the place the page ended, and one before it.
    await lives.pop("bea").disconnect()
    await lives.pop("ann").disconnect()
    for identity in ("abe", "bob"):
        _, lives[identity] = await join_viewer(door, room, identity)
    await listed_as(host, room, {"abe", "bob", "cal", "dan", "host-1"})
    second = await host.participants_page(room, 2, first["nextPageToken"])
    assert who(second) == ["bob", "cal"] and second["nextPageToken"]
    # ... and the participant that ended this page leaves too: the next goes on after it.
    await lives.pop("cal").disconnect()
    await listed_as(host, room, {"abe", "bob", "dan", "host-1"})
    third = await host.participants_page(room, 2, second["nextPageToken"])
    assert (who(third), third["nextPageToken"]) == (["dan", "host-1"], "")


async def test_bad_page_sizes_and_tokens_are_refused_before_anything_is_read(
    door: ShowClient, audience: tuple[ShowClient, dict[str, LiveParticipant]], room: str
) -> None:
    host, _ = audience
    token = (await host.participants_page(room, 2))["nextPageToken"]
    await host.appoint_moderator(room, "ann")  # the history's second entry: a token of its own kind
    history_token = (await host.history(room, 1))["nextPageToken"]
    assert token and history_token

    for size in (MOST + 1, -1, 1_000_000):
        message = f"pageSize must be between 1 and {MOST}, got {size}"
        expect_refusal(await refused(host.participants_page(room, size)), "INVALID_ARGUMENT", message)
    altered = token[:-1] + ("B" if token.endswith("A") else "A")
    made_up = ("nope", "!!!", "x" * 500, history_token, token[:-2], token + "AA", altered)
    for bad in made_up:
        expect_refusal(await refused(host.participants_page(room, 2, bad)), "INVALID_ARGUMENT", bad_token())
    # This room's token is no token for another room, nor for this room's queue; and it is refused
    # before that room is read: the room does not exist, and the answer is not NOT_FOUND.
    elsewhere = f"{room}-other"
    other = door.as_(admin_token(elsewhere))
    expect_refusal(await refused(other.participants_page(elsewhere, 2, token)), "INVALID_ARGUMENT", bad_token())
    expect_refusal(
        await refused(other.participants_page(elsewhere, MOST + 1)),
        "INVALID_ARGUMENT",
        f"pageSize must be between 1 and {MOST}, got {MOST + 1}",
    )
    expect_refusal(await refused(other.participants_page(elsewhere)), "NOT_FOUND", "Room not found")
    expect_refusal(
        await refused(host.hands_page(room, 1, token)),
        "INVALID_ARGUMENT",
        "pageToken is not one this service gave for this room's hands; leave it empty to read from the first hand",
    )
    # ... and the room reads on as before.
    assert [who(page) for page in await every_page(host, room, 2)] == [["ann", "bea"], ["cal", "dan"], ["host-1"]]


# --- on Redis, a single server and a Cluster, through both instances ----------------------------


async def test_pages_go_on_through_every_door_of_either_instance_on_redis(
    redis_pair: list[ServiceProcess], room: str
) -> None:
    """Each page through another door of the other instance than the one before: everyone once,
    in order, the viewer's raised hand shown on its page."""
    doors = [client_for(door, s.grpc_address, s.http_base) for door in DOORS for s in redis_pair]
    host, host_live = await start_show(doors[0], room)
    lives = [host_live]
    try:
        viewers: dict[str, ShowClient] = {}
        for turn, identity in enumerate(VIEWERS):
            viewers[identity], live = await join_viewer(doors[turn % len(doors)], room, identity)
            lives.append(live)
        await viewers["cal"].hand(room, "cal", True)
        as_host = [door.as_(host.token) for door in doors]
        for door in as_host:
            await listed_as(door, room, set(EVERYONE))
        for start in range(len(as_host)):
            read: list[dict[str, Any]] = []
            token, turn = "", start
            while turn == start or token:
                page = await as_host[turn % len(as_host)].participants_page(room, 2, token)
                read, token, turn = read + page["participants"], page["nextPageToken"], turn + 1
            assert [p["identity"] for p in read] == EVERYONE and turn == start + 3
            assert {p["identity"]: p["handRaised"] for p in read} == {**dict.fromkeys(EVERYONE, False), "cal": True}
        expect_refusal(await refused(as_host[-1].participants_page(room, 2, "nope")), "INVALID_ARGUMENT", bad_token())
    finally:
        for live in lives:
            await live.disconnect()
        for door in doors:
            await door.close()


def unpadded(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def test_a_token_is_taken_only_as_the_service_spelled_it() -> None:
    """Base64 leaves spare bits in a token's last character that decoding ignores: a last
    character that differs only there spells the same bytes, and is still no token."""
    tokens = PageTokens(page_key("a secret of the kind LiveKit is given"))
    spelled = 0
    for identity in ("a", "ab", "abc", "abcd"):  # token lengths that leave 2, 4 and 0 spare bits
        token = tokens.after_participant("show", identity)
        assert tokens.participant_place("show", token) == identity
        spellings = (token[:-1] + c for c in string.ascii_letters + string.digits + "-_")
        same_bytes = [other for other in spellings if other != token and unpadded(other) == unpadded(token)]
        spelled += len(same_bytes)
        for other in same_bytes:
            with pytest.raises(ShowError) as caught:
                tokens.participant_place("show", other)
            assert caught.value.message == bad_token()
    assert spelled > 0  # the tokens above did have other spellings to refuse


@pytest.mark.parametrize(
    "identity",
    ["a" + ":" * 127, "a" + "@+" * 63 + "b", "\U0001f3ac" * (IDENTITY_PLACE_BYTES // 4), "line\nbreak"],
    ids=["colons", "signs", "longest-utf8", "newline"],
)
def test_a_page_goes_on_after_any_identity_livekit_may_list(identity: str) -> None:
    """The longest identities this service gives, of the characters a percent-encoding tripled,
    and identities only another token issuer gives (LiveKit lists them all): each page's token
    is one the service takes back."""
    tokens = PageTokens(page_key("a secret of the kind LiveKit is given"))
    token = tokens.after_participant("show", identity)
    assert tokens.participant_place("show", token) == identity


async def test_a_page_ending_with_a_long_identity_goes_on(door: ShowClient, room: str) -> None:
    longest = "a" + ":" * 127  # the identity rule's longest, of a character a URL escapes
    host, host_live = await start_show(door, room)
    _, viewer_live = await join_viewer(door, room, longest)
    try:
        await listed_as(host, room, {"host-1", longest})
        first = await host.participants_page(room, 1)
        assert who(first) == [longest]
        second = await host.participants_page(room, 1, first["nextPageToken"])
        assert who(second) == ["host-1"]
    finally:
        await viewer_live.disconnect()
        await host_live.disconnect()
