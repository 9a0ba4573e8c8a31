"""Reading rooms from what the instance knows: one LiveKit call for many readers, never older
than the configured bound, and this instance's own changes and LiveKit's webhooks seen at once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest
from livekit import api
from livekit.protocol import models as lk
from livekit.protocol import webhook as lk_webhook

from service.core import errors
from service.core.ports import Presence
from service.core.roles import Role
from service.dev.livekit_server import LiveKitDevServer, free_port
from service.gateway import room_cache
from service.gateway.livekit import LiveKitStage
from service.gateway.tokens import TokenMinter
from tests.conftest import API_KEY, API_SECRET
from tests.live import LiveParticipant

MAX_AGE = 0.5


class Calls(Counter[str]):
    """LiveKit's RoomService calls the stage made, by method."""

    def record(self, method: str, outcome: str, seconds: float) -> None:
        self[method] += 1


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
async def stage(livekit: LiveKitDevServer, calls: Calls) -> AsyncIterator[LiveKitStage]:
    stage = LiveKitStage(livekit.url, API_KEY, API_SECRET, observe=calls.record, room_cache_seconds=MAX_AGE)
    yield stage
    await stage.close()


@pytest.fixture
async def lkapi(livekit: LiveKitDevServer) -> AsyncIterator[api.LiveKitAPI]:
    async with api.LiveKitAPI(livekit.http_url, API_KEY, API_SECRET) as client:
        yield client


def room_name() -> str:
    return f"cache-{time.time_ns()}"


async def test_fifty_concurrent_readers_cause_one_livekit_call(stage: LiveKitStage, calls: Calls) -> None:
    room = room_name()
    await stage.open_room(room)
    await asyncio.sleep(MAX_AGE)  # what CreateRoom answered is now too old: the next read asks LiveKit
    calls.clear()

    found = await asyncio.gather(*(stage.find_room(room) for _ in range(50)))

    assert calls["ListRooms"] == 1
    assert {r.name for r in found if r is not None} == {room} and all(found)
    await asyncio.gather(*(stage.find_room(room) for _ in range(50)))
    assert calls["ListRooms"] == 1  # still fresh

    listings = await asyncio.gather(*(stage.list_participants(room) for _ in range(50)))
    assert calls["ListParticipants"] == 1 and all(list(listing) == [] for listing in listings)


async def test_a_room_is_never_older_than_the_bound(stage: LiveKitStage, calls: Calls, lkapi: api.LiveKitAPI) -> None:
    room = room_name()
    await stage.open_room(room)
    assert await stage.find_room(room) is not None
    await lkapi.room.delete_room(api.DeleteRoomRequest(room=room))  # behind the stage's back, no webhook

    await asyncio.sleep(MAX_AGE)

    assert await stage.find_room(room) is None
    assert calls["ListRooms"] == 1


async def test_a_room_livekit_does_not_know_is_asked_for_again(
    stage: LiveKitStage, calls: Calls, lkapi: api.LiveKitAPI
) -> None:
    room = room_name()
    assert await stage.find_room(room) is None
    await lkapi.room.create_room(api.CreateRoomRequest(name=room))  # as a viewer's connection would
    found = await stage.find_room(room)
    assert found is not None and found.name == room
    assert calls["ListRooms"] == 2


async def test_closing_a_room_is_seen_at_once(stage: LiveKitStage) -> None:
    room = room_name()
    await stage.open_room(room)
    assert await stage.find_room(room) is not None
    assert await stage.close_room(room) is True
    assert await stage.find_room(room) is None
    assert await stage.close_room(room) is False


async def test_a_promotion_shows_in_the_listing_at_once(livekit: LiveKitDevServer, stage: LiveKitStage) -> None:
    room = room_name()
    await stage.open_room(room)
    token = TokenMinter(API_KEY, API_SECRET, 600).mint(room, "ann", "Ann", Role.VIEWER)
    ann = await LiveParticipant("ann").connect(livekit.url, token)
    try:
        before = {p.identity: p for p in await stage.list_participants(room)}
        assert before["ann"].permission.can_publish is False

        await stage.present(room, "ann", Presence(Role.GUEST))

        after = {p.identity: p for p in await stage.list_participants(room)}
        assert after["ann"].permission.can_publish is True
        assert after["ann"].attributes["role"] == "guest"

        assert await stage.remove_participant(room, "ann") is True
        assert [p.identity for p in await stage.list_participants(room)] == []
    finally:
        await ann.disconnect()


async def test_livekit_webhooks_change_the_listing(
    livekit: LiveKitDevServer, stage: LiveKitStage, calls: Calls, lkapi: api.LiveKitAPI
) -> None:
    room = room_name()
    await stage.open_room(room)
    assert list(await stage.list_participants(room)) == []
    token = TokenMinter(API_KEY, API_SECRET, 600).mint(room, "bob", "Bob", Role.VIEWER)
    bob = await LiveParticipant("bob").connect(livekit.url, token)
    try:
        # What LiveKit's participant_joined webhook carries: the room and the participant's info.
        info = await lkapi.room.get_participant(api.RoomParticipantIdentity(room=room, identity="bob"))
        described = (await lkapi.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms[0]
        joined = lk_webhook.WebhookEvent(event="participant_joined", room=described, participant=info)
        stage.heard(joined)
        assert [p.identity for p in await stage.list_participants(room)] == ["bob"]

        # A participant_left for an older connection of the same identity leaves the newer one.
        stale = lk.ParticipantInfo(identity="bob", sid="PA_older")
        stage.heard(lk_webhook.WebhookEvent(event="participant_left", room=described, participant=stale))
        assert [p.identity for p in await stage.list_participants(room)] == ["bob"]
        stage.heard(lk_webhook.WebhookEvent(event="participant_left", room=described, participant=info))
        assert list(await stage.list_participants(room)) == []

        stage.heard(lk_webhook.WebhookEvent(event="room_finished", room=described))
        calls.clear()
        await stage.find_room(room)
        assert calls["ListRooms"] == 1  # forgotten: asked again
    finally:
        await bob.disconnect()


async def test_a_late_room_started_is_served_no_longer_than_the_bound_from_when_it_was_sent(
    stage: LiveKitStage, calls: Calls
) -> None:
    """A room_started that arrives late (retried by LiveKit, held up on the way) may describe a
    room that has closed since: it is kept as old as it is, so a reader past the bound from when
    LiveKit sent it asks LiveKit, which has no such room."""
    room = room_name()
    described = lk.Room(name=room, sid="RM_long_gone", creation_time=int(time.time()) - 30)
    late = lk_webhook.WebhookEvent(event="room_started", room=described, created_at=int(time.time()) - 30)
    stage.heard(late)
    calls.clear()
    assert await stage.find_room(room) is None
    assert calls["ListRooms"] == 1
    undated = lk_webhook.WebhookEvent(event="room_started", room=described)
    stage.heard(undated)
    calls.clear()
    assert (await stage.find_room(room)) == described  # one that does not say when: as heard now
    assert calls["ListRooms"] == 0


async def test_an_unchanged_listing_is_handed_out_again_until_it_changes(stage: LiveKitStage) -> None:
    """The core shares one ListParticipants answer while the listing is the same object: it
    must be a new one after every change."""
    room = room_name()
    await stage.open_room(room)
    await stage.list_participants(room)  # LiveKit's answer, kept
    first = await stage.list_participants(room)
    assert await stage.list_participants(room) is first and list(first) == []
    described, cy = lk.Room(name=room), lk.ParticipantInfo(identity="cy", sid="PA_cy")
    stage.heard(lk_webhook.WebhookEvent(event="participant_joined", room=described, participant=cy))
    joined = await stage.list_participants(room)
    assert joined is not first and [p.identity for p in joined] == ["cy"]
    assert await stage.list_participants(room) is joined
    stage.rooms.updated(room, lk.ParticipantInfo(identity="cy", sid="PA_cy", name="Cy"))
    renamed = await stage.list_participants(room)
    assert renamed is not joined and [p.name for p in renamed] == ["Cy"]
    stage.heard(lk_webhook.WebhookEvent(event="participant_left", room=described, participant=cy))
    left = await stage.list_participants(room)
    assert left is not renamed and list(left) == []


async def test_pages_by_identity_follow_the_listing_as_participants_come_and_go(
    livekit: LiveKitDevServer, calls: Calls
) -> None:
    """A page of the participants is read from the kept listing, in the order of identities, and
    that order follows what this instance hears between pages, without asking LiveKit again."""
    # A bound no slow moment reaches: every page here must come from the kept listing.
    stage = LiveKitStage(livekit.url, API_KEY, API_SECRET, observe=calls.record, room_cache_seconds=600)
    try:
        await pages_follow_the_listing(stage, calls)
    finally:
        await stage.close()


async def pages_follow_the_listing(stage: LiveKitStage, calls: Calls) -> None:
    room = room_name()
    await stage.open_room(room)
    described = lk.Room(name=room)
    await stage.list_participants(room)  # LiveKit's answer (nobody yet), kept
    for identity in ("dee", "al", "cy", "bo"):
        info = lk.ParticipantInfo(identity=identity, sid=f"PA_{identity}")
        stage.heard(lk_webhook.WebhookEvent(event="participant_joined", room=described, participant=info))
    calls.clear()

    def identities(page: Sequence[lk.ParticipantInfo]) -> list[str]:
        return [p.identity for p in page]

    assert identities(await stage.participants_after(room, "", 3)) == ["al", "bo", "cy"]
    assert identities(await stage.participants_after(room, "cy", 3)) == ["dee"]
    # Between pages: the page's last leaves, someone joins before the place and someone after it.
    stage.heard(
        lk_webhook.WebhookEvent(event="participant_left", room=described, participant=lk.ParticipantInfo(identity="bo"))
    )
    for identity in ("ab", "cz"):
        info = lk.ParticipantInfo(identity=identity, sid=f"PA_{identity}")
        stage.heard(lk_webhook.WebhookEvent(event="participant_joined", room=described, participant=info))
    stage.rooms.updated(room, lk.ParticipantInfo(identity="dee", sid="PA_dee", name="Dee"))  # no new identity
    assert identities(await stage.participants_after(room, "bo", 2)) == ["cy", "cz"]
    assert [(p.identity, p.name) for p in await stage.participants_after(room, "cz", None)] == [("dee", "Dee")]
    assert identities(await stage.participants_after(room, "", None)) == ["ab", "al", "cy", "cz", "dee"]
    assert sorted(identities(await stage.list_participants(room))) == ["ab", "al", "cy", "cz", "dee"]
    assert calls["ListParticipants"] == 0


async def test_an_answer_in_flight_during_a_change_is_not_kept(
    stage: LiveKitStage, calls: Calls, lkapi: api.LiveKitAPI
) -> None:
    room = room_name()
    await stage.open_room(room)
    await asyncio.sleep(MAX_AGE)
    reading = asyncio.ensure_future(stage.find_room(room))
    for _ in range(3):  # a few turns of the loop: the ListRooms call is on its way
        await asyncio.sleep(0)
    stage.heard(lk_webhook.WebhookEvent(event="room_finished", room=lk.Room(name=room)))
    await reading
    calls.clear()
    await stage.find_room(room)
    assert calls["ListRooms"] == 1


async def test_livekit_unreachable_fails_every_reader_and_keeps_nothing(calls: Calls) -> None:
    port = free_port()
    stage = LiveKitStage(f"ws://127.0.0.1:{port}", API_KEY, API_SECRET, observe=calls.record, room_cache_seconds=5)
    try:
        outcomes = await asyncio.gather(*(stage.find_room("nowhere") for _ in range(20)), return_exceptions=True)
        assert calls["ListRooms"] == 1
        assert all(isinstance(o, errors.ShowError) and o.code is errors.Code.UNAVAILABLE for o in outcomes)
        # Callers hear what failed, not where LiveKit lives (the log tells that).
        told = {o.message for o in outcomes if isinstance(o, errors.ShowError)}
        assert told == {"LiveKit is unavailable (ListRooms): ClientConnectorError"}, told
        with pytest.raises(errors.ShowError):
            await stage.find_room("nowhere")
        assert calls["ListRooms"] == 2
    finally:
        await stage.close()


async def test_no_cache_when_the_bound_is_zero(livekit: LiveKitDevServer, calls: Calls) -> None:
    stage = LiveKitStage(livekit.url, API_KEY, API_SECRET, observe=calls.record, room_cache_seconds=0)
    try:
        room = room_name()
        await stage.open_room(room)
        await stage.find_room(room)
        await stage.find_room(room)
        assert calls["ListRooms"] == 2
    finally:
        await stage.close()


def held_clock(stage: LiveKitStage, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The cache's own clock, held still until the test moves it: on a loaded machine opening
    rooms in LiveKit can take longer than the bound, and which are "in use" must not depend on
    that."""
    now = [time.monotonic()]
    monkeypatch.setattr(stage.rooms, "_now", lambda: now[0])
    return now


async def opened_and_read(stage: LiveKitStage, count: int, read: Callable[[str], Awaitable[object]]) -> list[str]:
    names = [room_name() for _ in range(count)]
    for name in names:
        await stage.open_room(name)
        await read(name)
    return names


async def test_what_it_keeps_stays_bounded_by_the_rooms_in_use(
    stage: LiveKitStage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(room_cache, "_SWEEP_ABOVE", 5)
    now = held_clock(stage, monkeypatch)
    await opened_and_read(stage, 8, stage.find_room)
    assert len(stage.rooms._rooms) == 8  # all read just now: all in use
    now[0] += MAX_AGE  # now none is

    last = room_name()
    await stage.open_room(last)
    assert list(stage.rooms._rooms) == [last]
    assert set(stage.rooms._changes) <= {last}


async def test_what_it_keeps_of_rooms_nobody_reads_goes_with_time_however_few(
    stage: LiveKitStage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A room whose room_finished this instance never hears (another instance heard it, or it was
    lost) is not kept until the cache holds 10,000 rooms: what is too old to be served is swept
    out at the latest 30 s after the last sweep."""
    now = held_clock(stage, monkeypatch)
    names = await opened_and_read(stage, 3, stage.list_participants)
    assert set(names) <= set(stage.rooms._participants)
    now[0] += room_cache._SWEEP_EVERY + MAX_AGE
    last = room_name()
    await stage.open_room(last)
    await stage.list_participants(last)
    assert list(stage.rooms._participants) == [last] and list(stage.rooms._rooms) == [last]
