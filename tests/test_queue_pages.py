"""The host's queue of raised hands and the room's bans, read a page at a time (ListRaisedHands,
ListBans) through every door, on every store: each page goes on from where the last one ended,
so a hand lowered between pages neither repeats nor makes another go missing; a request without
a page size gets the whole queue of any ordinary show, as the MVP's bare GET did; bad page sizes
and tokens the service did not give are refused and change nothing.

On Redis the queue holds 2,500 hands: they are put into the room's record directly (one raise
each through a door would need 2,500 viewers connected to LiveKit), around one viewer who is
really there and raises and lowers its hand through the doors.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from livekit import api
from redis.typing import EncodableT, FieldT

from service.dev.livekit_server import LiveKitDevServer
from service.stores.redis_record import connect, room_keys
from tests.conftest import (
    API_KEY,
    ServiceProcess,
    admin_token,
    own_redis_cluster,
    own_redis_server,
    start_pair,
    start_service,
)
from tests.doors import DOORS, ShowClient, client_for, expect_refusal
from tests.live import LiveParticipant
from tests.test_show_through_every_door import join_viewer, refused, start_show

LONGEST_PAGE = 1000  # the contract's most, and what a request without a page size reads


def identities(page: dict[str, Any], listed: str = "hands") -> list[str]:
    key = "participantIdentity" if listed == "hands" else "identity"
    return [entry[key] for entry in page[listed]]


def bad_token(listed: str) -> str:
    entry = {"hands": "hand", "bans": "ban", "history": "entry"}[listed]
    return (
        f"pageToken is not one this service gave for this room's {listed}; "
        f"leave it empty to read from the first {entry}"
    )


def previous_release_token(listed: str, room: str, at: int, identity: str) -> str:
    """A page token in the form the previous release gave and accepted: the place in clear with a
    sha256 of the room and the place, which anyone can compute, so anyone could make one up."""
    body = f"{listed}:{at}:{identity}"
    check = hashlib.sha256(f"{room}\n{body}".encode()).hexdigest()[:16]
    return base64.urlsafe_b64encode(f"{body}:{check}".encode()).decode().rstrip("=")


@pytest.fixture
async def audience(door: ShowClient, room: str) -> AsyncIterator[tuple[ShowClient, dict[str, ShowClient]]]:
    """A host and four viewers, all connected to LiveKit: the host's door and each viewer's."""
    host, host_live = await start_show(door, room)
    lives: list[LiveParticipant] = [host_live]
    viewers: dict[str, ShowClient] = {}
    try:
        for who in ("vic", "mia", "zed", "ann"):
            viewers[who], live = await join_viewer(door, room, who)
            lives.append(live)
        yield host, viewers
    finally:
        for live in lives:
            await live.disconnect()


async def test_the_queue_and_the_bans_come_a_page_at_a_time(
    audience: tuple[ShowClient, dict[str, ShowClient]], room: str
) -> None:
    host, viewers = audience
    for who in ("vic", "mia", "zed", "ann"):
        await viewers[who].hand(room, who, True)
    first = await host.hands_page(room, 2)
    assert set(first) == {"hands", "nextPageToken", "total"}
    assert (identities(first), first["total"]) == (["vic", "mia"], 4) and first["nextPageToken"]
    # Between pages the page's own last hand goes down, and so does one before it.
    await viewers["mia"].hand(room, "mia", False)
    await viewers["vic"].hand(room, "vic", False)
    second = await host.hands_page(room, 2, first["nextPageToken"])
    assert (identities(second), second["total"], second["nextPageToken"]) == (["zed", "ann"], 2, "")
    # No page size: the whole queue of any ordinary show in one page, as the MVP's clients read it.
    await viewers["mia"].hand(room, "mia", True)
    whole = await host.hands_page(room)
    assert (identities(whole), whole["total"], whole["nextPageToken"]) == (["zed", "ann", "mia"], 3, "")
    assert [h["participantIdentity"] for h in await host.hands(room)] == ["zed", "ann", "mia"]

    for who in ("zed", "ann", "vic"):
        await host.remove_participant(room, who, ban=True)
    bans = await host.bans_page(room)
    assert (sorted(identities(bans, "bans")), bans["total"], bans["nextPageToken"]) == (["ann", "vic", "zed"], 3, "")
    order = identities(bans, "bans")  # oldest first (ties by identity)
    page = await host.bans_page(room, 1)
    assert (identities(page, "bans"), page["total"]) == (order[:1], 3) and page["nextPageToken"]
    await host.unban(room, order[0])  # the page's own ban is lifted between pages
    rest = await host.bans_page(room, 2, page["nextPageToken"])
    assert (identities(rest, "bans"), rest["total"], rest["nextPageToken"]) == (order[1:], 2, "")


async def test_bad_page_sizes_and_tokens_are_refused_and_change_nothing(
    door: ShowClient, audience: tuple[ShowClient, dict[str, ShowClient]], room: str
) -> None:
    host, viewers = audience
    for who in ("vic", "mia"):
        await viewers[who].hand(room, who, True)
    for who in ("zed", "ann"):
        await host.remove_participant(room, who, ban=True)
    queue, bans = await host.hands_page(room), await host.bans_page(room)
    hands_token = (await host.hands_page(room, 1))["nextPageToken"]
    bans_token = (await host.bans_page(room, 1))["nextPageToken"]
    history_token = (await host.history(room, 1))["nextPageToken"]
    assert hands_token and bans_token and history_token

    for size in (LONGEST_PAGE + 1, -1, 1_000_000):
        message = f"pageSize must be between 1 and {LONGEST_PAGE}, got {size}"
        expect_refusal(await refused(host.hands_page(room, size)), "INVALID_ARGUMENT", message)
        expect_refusal(await refused(host.bans_page(room, size)), "INVALID_ARGUMENT", message)
    made_up = ("nope", "!!!", "x" * 500, history_token, hands_token[:-2], hands_token + "AA")
    for token in (*made_up, bans_token):
        expect_refusal(await refused(host.hands_page(room, 1, token)), "INVALID_ARGUMENT", bad_token("hands"))
    for token in (*made_up, hands_token):
        expect_refusal(await refused(host.bans_page(room, 1, token)), "INVALID_ARGUMENT", bad_token("bans"))
    # A token of this room's queue is no token for another room's, even to that room's admin.
    elsewhere = f"{room}-other"
    other = door.as_(admin_token(elsewhere))
    expect_refusal(await refused(other.hands_page(elsewhere, 1, hands_token)), "INVALID_ARGUMENT", bad_token("hands"))
    expect_refusal(await refused(other.bans_page(elsewhere, 1, bans_token)), "INVALID_ARGUMENT", bad_token("bans"))
    # A place a client wrote itself, with the check it could compute (the previous release's
    # form), is no token: the seal needs the service's key.
    vic_hand = queue["hands"][0]
    forged = previous_release_token("hands", room, int(vic_hand["raisedAt"]), vic_hand["participantIdentity"])
    expect_refusal(await refused(host.hands_page(room, 1, forged)), "INVALID_ARGUMENT", bad_token("hands"))
    first_ban = bans["bans"][0]
    forged = previous_release_token("bans", room, int(first_ban["bannedAt"]), first_ban["identity"])
    expect_refusal(await refused(host.bans_page(room, 1, forged)), "INVALID_ARGUMENT", bad_token("bans"))
    # ... and nothing changed.
    assert await host.hands_page(room) == queue and await host.bans_page(room) == bans


# --- on Redis, a single server and a Cluster, through both instances ----------------------------

QUEUE = 2_500
BANS = 1_200


async def fill(
    redis_url: str, cluster: bool, room: str, now_ms: int, queue: int = QUEUE, bans: int = BANS
) -> tuple[list[str], list[str]]:
    """`queue` - 1 hands around `now_ms` (half raised an hour before, half an hour after, five to
    a millisecond) and `bans` bans in the room's record, as the README's layout has them; answers
    the hands before `now_ms` and those after it, each in the queue's order."""
    client = connect(redis_url, cluster=cluster)
    hands_key, bans_key = (next(k for k in room_keys(room) if k.endswith(f":{name}")) for name in ("hands", "bans"))
    before = {f"early-{i:04d}": now_ms - 3_600_000 + i // 5 for i in range(queue // 2 - 1)}
    after = {f"late-{i:04d}": now_ms + 3_600_000 + i // 5 for i in range(queue // 2)}
    banned: dict[FieldT, EncodableT] = {
        f"troll-{i:04d}": json.dumps({"v": 1, "since": now_ms - 60_000 + i // 4, "by": "host-1"}) for i in range(bans)
    }
    try:
        await client.zadd(hands_key, {**before, **after})
        if banned:
            await client.hset(bans_key, mapping=banned)
    finally:
        await client.aclose()
    return sorted(before, key=lambda who: (before[who], who)), sorted(after, key=lambda who: (after[who], who))


@pytest.fixture(scope="module", params=["redis", "cluster"])
def paging_redis(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, bool]]:
    """A redis-server, or a 3-node Cluster, of these tests' own: its URL, and whether it is a
    Cluster. The hands they write straight into Redis have no owner connected, and an instance
    whose reconciler gives such a hand no grace (the session's pairs: the suite's grace is 0)
    lowers the first of them at its look at the room's hands, every 30 s. It did, twice on a
    loaded machine (a page counted 2,483 hands of 2,499), the second time after these tests had
    their own pair but still shared the session's Redis, and with it the other pairs' reconcilers."""
    if request.param == "cluster":
        for cluster in own_redis_cluster(tmp_path_factory, "paging-cluster"):
            yield cluster.url, True
        return
    for server in own_redis_server(tmp_path_factory, "paging-redis"):
        yield server.url, False


@pytest.fixture(scope="module")
def paging_pair(paging_redis: tuple[str, bool], livekit: LiveKitDevServer) -> Iterator[list[ServiceProcess]]:
    """Two instances sharing the tests' own Redis, as the session's redis_pair share its, whose
    reconciler gives a hand without its owner an hour's grace all the same."""
    pair = start_pair(livekit, *paging_redis, SHOW_RECONNECT_GRACE_SECONDS="3600")
    yield pair
    for running in pair:
        running.stop()


async def test_a_long_queue_is_read_in_pages_on_redis_through_every_door(
    paging_pair: list[ServiceProcess], paging_redis: tuple[str, bool], room: str
) -> None:
    """2,500 hands, a page at a time through each door of either instance in turn: each hand
    once, in order, though the hand that ended a page went down before the next."""
    pair = paging_pair
    url, cluster = paging_redis
    doors = [client_for(door, s.grpc_address, s.http_base) for door in DOORS for s in pair]
    host, host_live = await start_show(doors[0], room)
    vic, vic_live = await join_viewer(doors[1], room, "vic")
    try:
        early, late = await fill(url, cluster, room, round(time.time() * 1000))
        await vic.hand(room, "vic", True)  # between the early hands and the late ones
        as_host = [door.as_(host.token) for door in doors]

        first = await as_host[0].hands_page(room)  # no page size: the first 1,000
        assert (identities(first), first["total"]) == (early[:LONGEST_PAGE], QUEUE) and first["nextPageToken"]
        second = await as_host[1].hands_page(room, len(early) - LONGEST_PAGE + 1, first["nextPageToken"])
        assert identities(second) == [*early[LONGEST_PAGE:], "vic"]
        await vic.hand(room, "vic", False)  # the page's own last hand goes down
        read, token, turn = identities(first) + identities(second), second["nextPageToken"], 2
        while token:
            page = await as_host[turn % len(as_host)].hands_page(room, 0, token)
            assert page["total"] == QUEUE - 1 and len(page["hands"]) <= LONGEST_PAGE
            read, token, turn = read + identities(page), page["nextPageToken"], turn + 1
        assert read == [*early, "vic", *late] and turn == 4

        bans = await as_host[2].bans_page(room)
        assert (len(bans["bans"]), bans["total"]) == (LONGEST_PAGE, BANS) and bans["nextPageToken"]
        rest = await as_host[3].bans_page(room, 0, bans["nextPageToken"])
        assert (rest["total"], rest["nextPageToken"]) == (BANS, "")
        assert identities(bans, "bans") + identities(rest, "bans") == [f"troll-{i:04d}" for i in range(BANS)]
        expect_refusal(await refused(as_host[4].hands_page(room, 1, "nope")), "INVALID_ARGUMENT", bad_token("hands"))
    finally:
        await vic_live.disconnect()
        await host_live.disconnect()
        for door in doors:
            await door.close()


async def test_participants_are_listed_with_their_own_hands_among_a_long_queue_on_redis(
    paging_pair: list[ServiceProcess], paging_redis: tuple[str, bool], room: str
) -> None:
    """ListParticipants marks the hands of those it lists, and only theirs, while the queue holds
    2,500 hands of people not connected: a connected viewer's hand shows as it goes up and down,
    through each door of either instance, and a viewer who raised none, or the host, shows none."""
    pair = paging_pair
    url, cluster = paging_redis
    doors = [client_for(door, s.grpc_address, s.http_base) for door in DOORS for s in pair]
    host, host_live = await start_show(doors[0], room)
    vic, vic_live = await join_viewer(doors[1], room, "vic")
    _, mia_live = await join_viewer(doors[0], room, "mia")
    try:
        await fill(url, cluster, room, round(time.time() * 1000), bans=0)

        async def listed(door: ShowClient, want: dict[str, bool]) -> None:
            # Each instance lists LiveKit's participants as it last heard of them (at most its
            # room cache's bound ago); the hands are its own record's, changed through it.
            marked: dict[str, bool] = {}
            for _ in range(50):
                marked = {p["identity"]: p["handRaised"] for p in await door.as_(host.token).list_participants(room)}
                if marked == want:
                    return
                await asyncio.sleep(0.1)
            assert marked == want

        for door in doors:
            await door.as_(vic.token).hand(room, "vic", True)
            await listed(door, {"host-1": False, "vic": True, "mia": False})
            await door.as_(vic.token).hand(room, "vic", False)
            await listed(door, {"host-1": False, "vic": False, "mia": False})
        assert (await doors[0].as_(host.token).hands_page(room, 1))["total"] == QUEUE - 1  # the others' stay up
    finally:
        for live in (mia_live, vic_live, host_live):
            await live.disconnect()
        for door in doors:
            await door.close()


# --- page tokens between instances: the same LiveKit secret, and another ------------------------

OTHER_SECRET = "another-deployments-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def other_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """An instance of another deployment: its own LiveKit, whose API secret is not the pair's."""
    livekit = LiveKitDevServer(
        api_key=API_KEY, api_secret=OTHER_SECRET, log_path=tmp_path_factory.mktemp("other") / "livekit.log"
    ).start()
    try:
        running = start_service(livekit)
        yield running
        running.stop()
    finally:
        livekit.stop()


def other_admin(room: str) -> str:
    grants = api.VideoGrants(room_admin=True, room=room)
    return api.AccessToken(API_KEY, OTHER_SECRET).with_identity("backend").with_grants(grants).to_jwt()


async def test_every_instance_with_the_secret_reads_on_from_the_others_tokens_and_no_other_does(
    paging_pair: list[ServiceProcess],
    paging_redis: tuple[str, bool],
    other_deployment: ServiceProcess,
    room: str,
) -> None:
    """The history, the queue and the bans, each page read through another door of the other
    instance than the page before: every entry once, in order. An instance whose LiveKit secret
    is another refuses the same tokens, as it would any it did not give."""
    url, cluster = paging_redis
    doors = [client_for(door, s.grpc_address, s.http_base) for door in DOORS for s in paging_pair]
    host, host_live = await start_show(doors[0], room)
    _, vic_live = await join_viewer(doors[1], room, "vic")  # to be made a moderator and back
    strangers = [client_for(door, other_deployment.grpc_address, other_deployment.http_base) for door in DOORS]
    try:
        for _ in range(3):
            await host.appoint_moderator(room, "vic")
            await host.dismiss_moderator(room, "vic")
        early, late = await fill(url, cluster, room, round(time.time() * 1000), queue=6, bans=3)
        as_host = [door.as_(host.token) for door in doors]

        async def every_page(read: Callable[[ShowClient, str], Awaitable[dict[str, Any]]], key: str) -> list[Any]:
            entries: list[Any] = []
            token, turn = "", 0
            while turn == 0 or token:
                page = await read(as_host[turn % len(as_host)], token)
                entries, token, turn = entries + page[key], page["nextPageToken"], turn + 1
            return entries

        happened = await every_page(lambda door, token: door.history(room, 2, token), "entries")
        assert [(e["type"], e["targetIdentity"]) for e in happened] == [
            ("host_joined", "host-1"),
            *[("moderator_appointed", "vic"), ("moderator_dismissed", "vic")] * 3,
        ]
        assert [e["sequence"] for e in happened] == [str(n) for n in range(1, 8)]
        hands = await every_page(lambda door, token: door.hands_page(room, 2, token), "hands")
        assert [h["participantIdentity"] for h in hands] == [*early, *late]
        bans = await every_page(lambda door, token: door.bans_page(room, 1, token), "bans")
        assert [b["identity"] for b in bans] == ["troll-0000", "troll-0001", "troll-0002"]

        history_token = (await as_host[0].history(room, 2))["nextPageToken"]
        hands_token = (await as_host[0].hands_page(room, 2))["nextPageToken"]
        bans_token = (await as_host[0].bans_page(room, 1))["nextPageToken"]
        for stranger in (door.as_(other_admin(room)) for door in strangers):
            expect_refusal(
                await refused(stranger.history(room, 2, history_token)), "INVALID_ARGUMENT", bad_token("history")
            )
            expect_refusal(
                await refused(stranger.hands_page(room, 2, hands_token)), "INVALID_ARGUMENT", bad_token("hands")
            )
            expect_refusal(
                await refused(stranger.bans_page(room, 1, bans_token)), "INVALID_ARGUMENT", bad_token("bans")
            )
            # Its own first page it answers: it knows nothing of the room (its own store).
            assert await stranger.history(room) == {"entries": [], "nextPageToken": ""}
    finally:
        await vic_live.disconnect()
        await host_live.disconnect()
        for door in (*doors, *strangers):
            await door.close()
