"""What an instance that dies leaves for the others: a viewer's leave it heard while the viewer
kept a hand up through the grace window is in the record, and another instance's pass lets the
hand go once the window is over, wherever it stands in the queue; only that hand, not one the
viewer raised again since. A seat holder's leave it heard is in the record too: another
instance frees the seat once the window from that leave is over, unless the holder is back.
The core runs in process on a LiveKit of the module's own (its webhooks go nowhere: the test
feeds the one it needs), over each store, with no reconciler running (the test runs the other
instance's passes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from google.protobuf import json_format
from livekit import api
from livekit.protocol import webhook as lk_webhook

from service.core.clock import ManualClock
from service.core.pages import PageTokens, page_key
from service.core.ports import Presence
from service.core.record import ShowRecords, connection_of
from service.core.roles import Role
from service.core.show import ShowCore, ShowRules
from service.dev.livekit_server import LiveKitDevServer
from tests.conftest import API_SECRET
from tests.live import LiveParticipant, leave_livekit
from tests.test_crossed_changes import Show, live_show, store_for

GRACE = ShowRules().reconnect_grace_seconds


@pytest.fixture(params=["memory", "redis"])
async def records(request: pytest.FixtureRequest) -> AsyncIterator[ShowRecords]:
    async for store in store_for(request):
        yield store


async def seated(show: Show, identity: str) -> None:
    """The record's seat of `identity` holds its connection on LiveKit (its join heard)."""
    seen = await show.seen(identity)
    await show.records.connected(show.room, identity, connection_of(seen), "", show.clock.now())


async def hear_leave(core: ShowCore, show: Show, person: LiveParticipant) -> None:
    """`person` leaves LiveKit, and `core` hears its participant_left."""
    seen = await show.seen(person.identity)
    await leave_livekit(show.lkapi, show.room, person)
    live = await show.lkapi.room.list_rooms(api.ListRoomsRequest(names=[show.room]))
    left = lk_webhook.WebhookEvent(
        event="participant_left", room=live.rooms[0], participant=seen, created_at=int(time.time())
    )
    await core.receive_webhook(json_format.MessageToJson(left).encode())


def instance_at(show: Show, later: float) -> tuple[ShowCore, ManualClock]:
    """Another instance on the same store, and its clock, `later` seconds ahead; its reconciler
    is never told of what another heard."""
    clock = ManualClock(show.clock.now() + later)
    return ShowCore(show.stage, show.records, clock, page_tokens=PageTokens(page_key(API_SECRET))), clock


async def test_a_hand_kept_through_the_window_by_an_instance_that_died_is_lowered_by_another(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """Twenty hands are up before gone's, past what one look at the queue reaches. The instance
    that heard gone leave keeps its hand for the grace window, and dies. Another instance's pass
    within the window leaves the hand up; its pass once the window is over finds gone still
    away, lowers the hand, and nothing more: the hands ahead wait for their own windows."""
    async with live_show(own_livekit, records, room) as show:
        for n in range(20):
            await records.set_hand(room, f"ahead-{n:02}", True, show.clock.now() + n / 1000, 1)
        await hear_leave(show.core, show, await show.viewer("gone", hand=True))
        assert (await records.stage(room, show.clock.now())).away == 1
        # The instance that heard it dies here: its reconciler never passes again.
        within = await instance_at(show, GRACE / 2)[0].reconciler.reconcile(room)
        assert [a for a in within if a.kind == "lowered"] == []
        assert "gone" in [hand.identity for hand in await records.hands(room, show.clock.now(), 0, 100)]
        past = await instance_at(show, GRACE + 1)[0].reconciler.reconcile(room)
        assert [(a.kind, a.identity) for a in past if a.kind == "lowered"] == [("lowered", "gone")]
        hands = [hand.identity for hand in await records.hands(room, show.clock.now(), 0, 100)]
        assert hands == [f"ahead-{n:02}" for n in range(20)]
        assert (await records.stage(room, show.clock.now())).away == 0


@pytest.mark.parametrize("passer", ["the instance that heard the leave", "another instance"])
async def test_a_hand_raised_again_after_the_leave_gets_its_own_window(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str, passer: str
) -> None:
    """gone leaves with its hand up (heard, kept through the window). It is back within the
    window, lowers its hand and raises it again, and its page reloads just as the first window
    ends: LiveKit does not have it, its new leave not heard yet. The first leave kept the first
    hand, not this one: neither the instance that heard it nor another lowers the new hand."""
    async with live_show(own_livekit, records, room) as show:
        heard_by, its_clock = instance_at(show, 0.0)
        await hear_leave(heard_by, show, await show.viewer("gone", hand=True))
        first = (await records.standing(room, "gone", show.clock.now())).hand
        again = await show.viewer("gone")
        await asyncio.sleep(0.01)
        await records.set_hand(room, "gone", False, show.clock.now(), 1)
        await records.set_hand(room, "gone", True, show.clock.now(), 1)
        second = (await records.standing(room, "gone", show.clock.now())).hand
        assert first is not None and second is not None and second > first
        await leave_livekit(show.lkapi, room, again)  # its new leave not heard
        its_clock.advance(GRACE + 1)
        passing = instance_at(show, GRACE + 1)[0] if passer == "another instance" else heard_by
        actions = await passing.reconciler.reconcile(room)
        assert [a for a in actions if a.kind == "lowered"] == []
        assert (await records.standing(room, "gone", show.clock.now())).hand == second


async def test_a_seat_kept_through_the_window_by_an_instance_that_died_is_freed_by_another(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """The host's leave is heard by an instance that then dies: the seat notes its holder away.
    Another instance's pass within the window keeps the seat; its first pass once the window
    from the leave is over frees it (not a window after its own first look, as when the
    absence was in the dead instance's memory alone), and LiveKit has nobody under the name."""
    async with live_show(own_livekit, records, room) as show:
        [host] = show.people
        await seated(show, "host-1")
        await hear_leave(show.core, show, host)
        seat = (await records.stage(room, show.clock.now())).host
        assert seat is not None and seat.away > 0
        # The instance that heard it dies here: its reconciler never passes again.
        within = await instance_at(show, GRACE / 2)[0].reconciler.reconcile(room)
        assert [a for a in within if a.kind == "freed"] == []
        past = await instance_at(show, GRACE + 1)[0].reconciler.reconcile(room)
        assert [(a.kind, a.identity) for a in past if a.kind == "freed"] == [("freed", "host-1")]
        assert (await records.stage(room, show.clock.now())).host is None
        listed = await show.lkapi.room.list_participants(api.ListParticipantsRequest(room=room))
        assert [p.identity for p in listed.participants if p.identity == "host-1"] == []


async def test_a_seat_holder_back_unheard_keeps_the_seat_whoever_passes(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """The host's leave is heard by an instance that dies; the host comes back at once, and its
    participant_joined is lost. Another instance's pass once the window is over finds the host on
    LiveKit: the seat stays, takes the new connection, and its holder is no longer away, so a
    later drop gets a whole window of its own."""
    async with live_show(own_livekit, records, room) as show:
        [host] = show.people
        await seated(show, "host-1")
        await hear_leave(show.core, show, host)
        token = show.stage.mint_token(room, "host-1", "host-1", Presence(Role.HOST))
        back = await LiveParticipant("host-1").connect(show.stage.ws_url, token)
        show.people.append(back)
        past = await instance_at(show, GRACE + 1)[0].reconciler.reconcile(room)
        assert [a for a in past if a.kind == "freed"] == []
        seat = (await records.stage(room, show.clock.now())).host
        assert seat is not None and (seat.sid, seat.away) == ((await show.seen("host-1")).sid, 0)
