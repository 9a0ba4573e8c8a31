"""Two changes of one participant whose LiveKit calls cross: the record decides them in order, but
LiveKit keeps whichever of its UpdateParticipant calls lands last. The host demotes a guest while
the promotion's call is still on its way, dismisses a moderator being appointed, gives back a
source being locked: LiveKit must end as the record has it at once, not at the reconciler's next
look. The core runs in process on a LiveKit of the module's own (whose webhooks go nowhere, so
no service judges these rooms by a record of its own) with no reconciler running, over each
store; one of the two calls is held in flight by the test until the other has landed. Checked in
LiveKit's own view, and in what the room is told: the ShowEvents a viewer's own LiveKit connection
receives, and the show's history, follow the record's order, and the last of them about the
participant is the part the record holds. And with nothing crossing, every operation asks LiveKit
what it always did, and the room hears what it always heard."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import pytest
from livekit import api
from livekit.protocol import models as lk
from showrunner.v1 import show_service_pb2 as pb

from service.core import errors
from service.core.caller import Caller
from service.core.clock import SystemClock
from service.core.pages import PageTokens, page_key
from service.core.ports import Presence
from service.core.record import Phase, ShowRecords, StageChange, Standing
from service.core.roles import Role
from service.core.show import ShowCore, ShowRules
from service.dev.livekit_server import LiveKitDevServer
from service.dev.redis_server import RedisServer
from service.gateway.livekit import CallObserver, LiveKitStage
from service.stores.memory_record import MemoryRecords
from service.stores.redis_record import DEFAULT_CHANGE_SECONDS, RedisRecords, connect
from tests.conftest import API_KEY, API_SECRET
from tests.live import LiveParticipant, leave_livekit, livekit_participant, until

T = TypeVar("T")

# How soon LiveKit must agree with the record once the late call has landed: well within a
# reconciler's pass (every 5 s by default, and none runs here at all).
AT_ONCE = 2.0
BOTH_SOURCES = {int(lk.TrackSource.CAMERA), int(lk.TrackSource.MICROPHONE)}


@dataclass
class Held:
    """One UpdateParticipant held on its way: `reached` once it is, sent on once `released`."""

    reached: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)


class HeldStage(LiveKitStage):
    """LiveKit, with the next call that would present a participant in a given role held between
    its GetParticipant and its UpdateParticipant until the test lets it go: a call in flight."""

    def __init__(self, url: str, observe: CallObserver) -> None:
        # Rooms always asked for, so that the calls counted do not depend on timing.
        super().__init__(url, API_KEY, API_SECRET, observe=observe, room_cache_seconds=0)
        self._held: dict[tuple[str, Role], Held] = {}

    def hold(self, identity: str, role: Role) -> Held:
        held = self._held[(identity, role)] = Held()
        return held

    async def present(
        self, room: str, identity: str, presence: Presence, known: lk.ParticipantInfo | None = None
    ) -> lk.ParticipantInfo | None:
        held = self._held.pop((identity, presence.role), None)
        if held is not None:
            known = known or await self.find_participant(room, identity)
            held.reached.set()
            await held.released.wait()
        return await super().present(room, identity, presence, known)


class Calls(Counter[str]):
    """LiveKit's RoomService calls the stage made, by method."""

    def record(self, method: str, outcome: str, seconds: float) -> None:
        self[method] += 1


async def store_for(
    request: pytest.FixtureRequest, change_seconds: float = DEFAULT_CHANGE_SECONDS
) -> AsyncIterator[ShowRecords]:
    """The store `request.param` names ("memory" or "redis", on the store's own redis-server, which
    no instance's reconciler looks at), its stage changes due `change_seconds` after they are
    written, closed after the test."""
    if request.param == "memory":
        yield MemoryRecords(change_seconds=change_seconds)
        return
    server: RedisServer = request.getfixturevalue("store_redis_server")
    store = RedisRecords(connect(server.url, cluster=False), change_seconds=change_seconds)
    yield store
    await store.close()


@pytest.fixture(params=["memory", "redis"])
async def records(request: pytest.FixtureRequest) -> AsyncIterator[ShowRecords]:
    async for store in store_for(request):
        yield store


@dataclass
class Show:
    """A live show in process: its host (host-1) connected, the core, LiveKit as the core reaches
    it (held and counted) and as LiveKit's own API answers."""

    room: str
    core: ShowCore
    stage: HeldStage
    records: ShowRecords
    lkapi: api.LiveKitAPI
    calls: Calls
    people: list[LiveParticipant]
    admin: Caller
    clock: SystemClock

    async def viewer(self, identity: str, hand: bool = False) -> LiveParticipant:
        token = self.stage.mint_token(self.room, identity, identity, Presence(Role.VIEWER))
        self.people.append(await LiveParticipant(identity).connect(self.stage.ws_url, token))
        if hand:
            await self.records.set_hand(self.room, identity, True, self.clock.now(), 1)
        return self.people[-1]

    async def moderator(self, identity: str, by: Caller | None = None) -> LiveParticipant:
        """`identity` connects as a viewer and is appointed a moderator, by `by` (the room's
        admin, unless named)."""
        person = await self.viewer(identity)
        appoint = pb.AppointModeratorRequest(room_name=self.room, identity=identity)
        await self.core.appoint_moderator(appoint, by or self.admin)
        return person

    async def told(self, watcher: LiveParticipant, identity: str) -> tuple[list[str], list[str]]:
        """What the room has been told of `identity`'s part, in order: the ShowEvents about it
        that `watcher`'s page received over LiveKit, and the entries about it the show's history
        keeps. The events sent so far have all arrived once one sent after them has: LiveKit
        delivers the reliable data sent through its API in the order it was sent."""
        marker = f"marker-{len(watcher.show_events)}"
        await self.lkapi.room.send_data(
            api.SendDataRequest(
                room=self.room,
                data=json.dumps({"type": "chat_message", "senderId": marker}).encode(),
                kind=lk.DataPacket.Kind.RELIABLE,
                topic="showrunner.events",
            )
        )
        await watcher.wait_for(lambda: any(e.get("senderId") == marker for e in watcher.show_events), 10.0, marker)
        heard = [e["type"] for e in watcher.show_events if e.get("targetParticipantId") == identity]
        history = await self.core.list_show_events(pb.ListShowEventsRequest(room_name=self.room), self.admin)
        return heard, [e.type for e in history.entries if e.target_identity == identity]

    async def seen(self, identity: str) -> lk.ParticipantInfo:
        found = await livekit_participant(self.lkapi, self.room, identity)
        assert found is not None, f"LiveKit has no {identity}"
        return found

    async def role_on_livekit(self, identity: str) -> tuple[str, bool]:
        found = await self.seen(identity)
        return found.attributes.get("role", ""), found.permission.can_publish

    async def agrees(self, identity: str) -> bool:
        """LiveKit's view of `identity` is what the record holds: its role and publish permission."""
        role = await self.records.role_of(self.room, identity)
        return await self.role_on_livekit(identity) == (role.value, role in (Role.HOST, Role.GUEST))

    async def leaves(self, person: LiveParticipant) -> None:
        """`person` disconnects, and LiveKit no longer lists it: a call about it now finds nobody.
        LiveKit is given as long as its connection timeout to see a leave it missed."""
        await leave_livekit(self.lkapi, self.room, person, 30.0)
        self.people.remove(person)

    def promote(self, identity: str) -> Awaitable[pb.InviteGuestResponse]:
        invite = pb.InviteGuestRequest(room_name=self.room, viewer_identity=identity, host_identity="host-1")
        return self.core.invite_guest(invite, self.admin)


@asynccontextmanager
async def live_show(
    livekit: LiveKitDevServer,
    records: ShowRecords,
    room: str,
    rules: ShowRules | None = None,
    opens: Phase = Phase.LIVE,
) -> AsyncIterator[Show]:
    calls = Calls()
    stage = HeldStage(livekit.url, calls.record)
    clock = SystemClock()
    # Its reconciler is never started.
    core = ShowCore(stage, records, clock, rules, page_tokens=PageTokens(page_key(API_SECRET)))
    lkapi = api.LiveKitAPI(livekit.http_url, API_KEY, API_SECRET, failover=False)
    show = Show(room, core, stage, records, lkapi, calls, [], Caller(room=room, admin=True), clock)
    try:
        assert await records.claim_host(room, "host-1", "host-1", clock.now(), 60, opens=opens)
        await stage.open_room(room)
        token = stage.mint_token(room, "host-1", "host-1", Presence(Role.HOST))
        show.people.append(await LiveParticipant("host-1").connect(stage.ws_url, token))
        yield show
    finally:
        for person in show.people:
            await person.disconnect()
        await stage.close()
        await lkapi.aclose()


async def crossed(held: Held, late: Awaitable[T], first: Awaitable[object]) -> T:
    """Runs `late` until its LiveKit call is held in flight, then `first` to its end (its call
    lands), then lets `late`'s call land after it."""
    started = asyncio.ensure_future(late)
    await asyncio.wait_for(held.reached.wait(), 10.0)
    await first
    held.released.set()
    return await started


async def test_a_demotion_made_while_the_promotion_is_in_flight_holds_on_livekit(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """The host invites a viewer whose hand is up (a promotion) and demotes it before LiveKit has
    the promotion; LiveKit gets the demotion first and the promotion last. The record says viewer,
    and so must LiveKit."""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.viewer("vic", hand=True)
        held = show.stage.hold("vic", Role.GUEST)
        demote = pb.DemoteGuestRequest(room_name=room, guest_identity="vic", host_identity="host-1")
        promoted = await crossed(held, show.promote("vic"), show.core.demote_guest(demote, show.admin))
        assert promoted.promoted  # as decided: the promotion happened, then the demotion
        assert await records.role_of(room, "vic") is Role.VIEWER
        await until(lambda: show.agrees("vic"), AT_ONCE, "LiveKit has vic back in the audience")
        assert await show.role_on_livekit("vic") == ("viewer", False)
        # The promotion, overtaken before it showed, is not announced after the demotion: the
        # pages would show vic on stage.
        assert await show.told(ada, "vic") == (["guest_demoted"], ["guest_demoted"])


async def test_a_viewer_promoted_while_going_live_lets_it_in_stays_on_stage_on_livekit(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """GoLive lets each waiting viewer in with a viewer's grants, from one listing taken as it
    starts. A waiting viewer promoted meanwhile, whose promotion lands before the release's
    update of it, would be sent back to the audience by that update: the release looks again
    once its update has landed, and LiveKit ends with the guest the record holds."""
    async with live_show(own_livekit, records, room, opens=Phase.BACKSTAGE) as show:
        token = show.stage.mint_token(room, "vic", "vic", Presence(Role.VIEWER, waiting=True))
        show.people.append(await LiveParticipant("vic").connect(show.stage.ws_url, token))
        await records.set_hand(room, "vic", True, show.clock.now(), 1)
        held = show.stage.hold("vic", Role.VIEWER)
        went = await crossed(held, show.core.go_live(pb.GoLiveRequest(room_name=room), show.admin), show.promote("vic"))
        assert went.viewers_let_in == 1
        assert await records.role_of(room, "vic") is Role.GUEST
        await until(lambda: show.agrees("vic"), AT_ONCE, "LiveKit has vic on stage")
        assert await show.role_on_livekit("vic") == ("guest", True)


async def test_a_promotion_landing_late_leaves_a_newer_promotion_of_the_guest_pending(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """Promoted, demoted and promoted again before LiveKit has the first promotion: that one's
    call, landing, must leave the second promotion pending, for its own call to confirm or, should
    that call fail or its instance die, for the reconciler to finish or undo."""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.viewer("vic", hand=True)
        first = show.stage.hold("vic", Role.GUEST)
        promoting = asyncio.ensure_future(show.promote("vic"))
        await asyncio.wait_for(first.reached.wait(), 10.0)
        demote = pb.DemoteGuestRequest(room_name=room, guest_identity="vic", host_identity="host-1")
        await show.core.demote_guest(demote, show.admin)
        await records.set_hand(room, "vic", True, show.clock.now(), 1)
        second = show.stage.hold("vic", Role.GUEST)
        promoting_again = asyncio.ensure_future(show.promote("vic"))
        await asyncio.wait_for(second.reached.wait(), 10.0)
        first.released.set()
        assert (await promoting).promoted
        (pending,) = await records.pending(room)
        assert (pending.identity, pending.change) == ("vic", StageChange.PROMOTE)
        second.released.set()
        assert (await promoting_again).promoted
        assert await records.pending(room) == []
        assert await records.role_of(room, "vic") is Role.GUEST
        await until(lambda: show.agrees("vic"), AT_ONCE, "LiveKit has vic on stage")
        # The first promotion, overtaken while in flight, is not told after the demotion.
        assert await show.told(ada, "vic") == (["guest_demoted", "guest_promoted"],) * 2


async def test_a_promotion_landing_after_the_guest_was_demoted_and_promoted_again_is_not_told_again(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """Promoted, demoted and promoted again, the first promotion's call landing only after the
    other two were made and told: the room has heard vic go on stage again already, and must not
    hear it a second time (a page counting the stage's changes would count one too many)."""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.viewer("vic", hand=True)
        first = show.stage.hold("vic", Role.GUEST)
        promoting = asyncio.ensure_future(show.promote("vic"))
        await asyncio.wait_for(first.reached.wait(), 10.0)
        demote = pb.DemoteGuestRequest(room_name=room, guest_identity="vic", host_identity="host-1")
        await show.core.demote_guest(demote, show.admin)
        await records.set_hand(room, "vic", True, show.clock.now(), 1)
        assert (await show.promote("vic")).promoted
        first.released.set()
        assert (await promoting).promoted
        assert await records.role_of(room, "vic") is Role.GUEST
        await until(lambda: show.agrees("vic"), AT_ONCE, "LiveKit has vic on stage")
        assert await show.told(ada, "vic") == (["guest_demoted", "guest_promoted"],) * 2


async def test_a_demotion_kept_silent_for_a_promotion_that_livekit_then_refused_is_told(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """The host sends vic, a guest, back to the audience and invites him again before LiveKit has
    the demotion; the demotion lands first and says nothing, the promotion being on its way. vic
    leaves, and LiveKit refuses the promotion when it lands: its undo leaves vic in the audience,
    where the demotion put him, and the room, which last heard him go on stage, must hear that."""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        vic = await show.viewer("vic", hand=True)
        assert (await show.promote("vic")).promoted
        demoted = show.stage.hold("vic", Role.VIEWER)
        demote = pb.DemoteGuestRequest(room_name=room, guest_identity="vic", host_identity="host-1")
        demoting = asyncio.ensure_future(show.core.demote_guest(demote, show.admin))
        await asyncio.wait_for(demoted.reached.wait(), 10.0)
        await records.set_hand(room, "vic", True, show.clock.now(), 1)
        promoted = show.stage.hold("vic", Role.GUEST)
        promoting = asyncio.ensure_future(show.promote("vic"))
        await asyncio.wait_for(promoted.reached.wait(), 10.0)
        demoted.released.set()
        await demoting
        await show.leaves(vic)
        promoted.released.set()
        with pytest.raises(errors.ShowError) as refused:
            await promoting
        assert refused.value.code is errors.Code.NOT_FOUND
        assert await records.role_of(room, "vic") is Role.VIEWER
        assert await records.pending(room) == []
        heard, kept = await show.told(ada, "vic")
        assert heard == kept == ["guest_promoted", "guest_demoted"]
        # Told in the words of the demotion that took effect: the host's, sending vic back.
        history = await show.core.list_show_events(pb.ListShowEventsRequest(room_name=room), show.admin)
        (last,) = [e for e in history.entries if e.target_identity == "vic"][-1:]
        assert (last.actor_identity, last.reason) == ("host-1", "demoted")


async def test_a_promotion_refused_after_its_demotion_leaves_the_demotion_standing(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """The host invites vic, whose hand is up, and sends him back to the audience while the
    promotion's call is on its way; vic then leaves, and LiveKit refuses the promotion when it
    lands (no such participant). Its undo must not put back what the demotion ended: before, it
    raised vic's hand again, a hand in the host's queue that nobody had raised."""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        vic = await show.viewer("vic", hand=True)
        held = show.stage.hold("vic", Role.GUEST)
        promoting = asyncio.ensure_future(show.promote("vic"))
        await asyncio.wait_for(held.reached.wait(), 10.0)
        demote = pb.DemoteGuestRequest(room_name=room, guest_identity="vic", host_identity="host-1")
        await show.core.demote_guest(demote, show.admin)
        await show.leaves(vic)
        held.released.set()
        with pytest.raises(errors.ShowError) as refused:
            await promoting
        assert refused.value.code is errors.Code.NOT_FOUND
        now = show.clock.now()
        assert await records.standing(room, "vic", now) == Standing(None, None, None)
        assert await records.role_of(room, "vic") is Role.VIEWER
        assert await records.pending(room) == []
        hands = await show.core.list_raised_hands(pb.ListRaisedHandsRequest(room_name=room), show.admin)
        assert list(hands.hands) == []
        assert await show.told(ada, "vic") == (["guest_demoted"], ["guest_demoted"])


async def test_a_moderator_dismissed_while_its_appointment_is_in_flight_stays_dismissed_on_livekit(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.viewer("mia")
        held = show.stage.hold("mia", Role.MODERATOR)
        appoint = pb.AppointModeratorRequest(room_name=room, identity="mia")
        dismiss = pb.DismissModeratorRequest(room_name=room, identity="mia")
        core = show.core
        await crossed(held, core.appoint_moderator(appoint, show.admin), core.dismiss_moderator(dismiss, show.admin))
        assert await records.role_of(room, "mia") is Role.VIEWER
        await until(lambda: show.agrees("mia"), AT_ONCE, "LiveKit has mia as a viewer again")
        assert await show.told(ada, "mia") == (["moderator_dismissed"], ["moderator_dismissed"])


async def test_a_moderator_appointed_again_while_its_dismissal_is_in_flight_stays_a_moderator_on_livekit(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.viewer("mia")
        core, appoint = show.core, pb.AppointModeratorRequest(room_name=room, identity="mia")
        await core.appoint_moderator(appoint, show.admin)
        held = show.stage.hold("mia", Role.VIEWER)
        dismiss = pb.DismissModeratorRequest(room_name=room, identity="mia")
        await crossed(held, core.dismiss_moderator(dismiss, show.admin), core.appoint_moderator(appoint, show.admin))
        assert await records.role_of(room, "mia") is Role.MODERATOR
        await until(lambda: show.agrees("mia"), AT_ONCE, "LiveKit has mia as a moderator again")
        # The dismissal, undone by the appointment before it showed, is not told after it, and the
        # appointment made again is not told twice: the room never heard mia leave the part.
        assert await show.told(ada, "mia") == (["moderator_appointed"], ["moderator_appointed"])


async def test_a_moderator_dismissed_and_promoted_before_the_dismissal_lands_is_told_both(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """mia, a moderator, is dismissed, and while the dismissal's call is on its way she raises her
    hand and is promoted: the promotion lands first, and the room hears both in the record's
    order, the dismissal (in the words it was written with: the admin's) before the promotion;
    the dismissal, landing last, says nothing more, and LiveKit ends with her on stage. Before,
    the room heard the promotion first, and the dismissal after it."""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.moderator("mia")
        core = show.core
        held = show.stage.hold("mia", Role.VIEWER)
        dismissing = asyncio.ensure_future(
            core.dismiss_moderator(pb.DismissModeratorRequest(room_name=room, identity="mia"), show.admin)
        )
        await asyncio.wait_for(held.reached.wait(), 10.0)
        await records.set_hand(room, "mia", True, show.clock.now(), 1)
        assert (await show.promote("mia")).promoted
        held.released.set()
        await dismissing
        assert await records.role_of(room, "mia") is Role.GUEST
        await until(lambda: show.agrees("mia"), AT_ONCE, "LiveKit has mia on stage")
        heard = ["moderator_appointed", "moderator_dismissed", "guest_promoted"]
        assert await show.told(ada, "mia") == (heard, heard)


async def test_a_guest_promoted_again_before_her_demotion_lands_is_heard_leaving_in_between(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """vic, on stage, is demoted; while the demotion's call is on its way he raises his hand and
    is promoted again, and that promotion lands and is told first. The room, which heard him go
    on stage, hears him leave it (the demotion, in the host's words it was written with) and
    come back, in the record's order; the demotion's call, landing last, says nothing, and
    LiveKit ends with him on stage. Before, the room heard guest_promoted twice in a row."""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.viewer("vic", hand=True)
        assert (await show.promote("vic")).promoted
        held = show.stage.hold("vic", Role.VIEWER)
        demote = pb.DemoteGuestRequest(room_name=room, guest_identity="vic", host_identity="host-1")
        demoting = asyncio.ensure_future(show.core.demote_guest(demote, show.admin))
        await asyncio.wait_for(held.reached.wait(), 10.0)
        await records.set_hand(room, "vic", True, show.clock.now(), 1)
        assert (await show.promote("vic")).promoted
        held.released.set()
        await demoting
        assert await records.role_of(room, "vic") is Role.GUEST
        await until(lambda: show.agrees("vic"), AT_ONCE, "LiveKit has vic on stage")
        heard = ["guest_promoted", "guest_demoted", "guest_promoted"]
        assert await show.told(ada, "vic") == (heard, heard)
        history = await show.core.list_show_events(pb.ListShowEventsRequest(room_name=room), show.admin)
        demoted = [e for e in history.entries if e.target_identity == "vic"][1]
        assert (demoted.actor_identity, demoted.reason) == ("host-1", "demoted")


async def test_a_guests_leave_told_after_she_is_back_on_stage_is_not_heard(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """The reconciler frees vic's seat (her connection ended, so it thought) and is slow to tell
    it; meanwhile vic, still there, raises her hand and is promoted again, which the room hears.
    The late telling of the older seat's end must not follow: the room would think her off
    stage while she is on it."""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.viewer("vic", hand=True)
        assert (await show.promote("vic")).promoted
        seat = (await records.standing(room, "vic", show.clock.now())).seat
        assert seat is not None
        assert await records.forget(room, "vic", show.clock.now()) is Role.GUEST
        await records.set_hand(room, "vic", True, show.clock.now(), 1)
        assert (await show.promote("vic")).promoted
        await show.core.seat_freed(room, seat, Role.GUEST)
        assert await show.told(ada, "vic") == (["guest_promoted"] * 2,) * 2


async def test_a_source_given_back_while_its_lock_is_in_flight_is_the_guests_on_livekit(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """The host locks a guest's camera and gives it back before LiveKit has the lock: the seat
    locks nothing, so LiveKit must let the guest publish both sources."""
    async with live_show(own_livekit, records, room) as show:
        await show.viewer("vic", hand=True)
        assert (await show.promote("vic")).promoted
        held = show.stage.hold("vic", Role.GUEST)
        lock = pb.MuteGuestTrackRequest(room_name=room, guest_identity="vic", source=lk.TrackSource.CAMERA, lock=True)
        allow = pb.AllowGuestSourceRequest(room_name=room, guest_identity="vic", source=lk.TrackSource.CAMERA)
        core, admin = show.core, show.admin
        locked = await crossed(held, core.mute_guest_track(lock, admin), core.allow_guest_source(allow, admin))
        assert list(locked.locked_sources) == [lk.TrackSource.CAMERA]  # as decided, then given back

        async def both_sources() -> bool:
            return {int(s) for s in (await show.seen("vic")).permission.can_publish_sources} == BOTH_SOURCES

        await until(both_sources, AT_ONCE, "LiveKit lets vic publish its camera again")
        seat = (await records.standing(room, "vic", show.clock.now())).seat
        assert seat is not None and seat.locked == ()


async def test_a_promotion_made_while_a_lock_is_in_flight_keeps_the_lock_on_livekit(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """The other way round: the host locks the camera of a guest whose promotion has not reached
    LiveKit yet; the promotion (every source) lands last. The seat keeps the camera locked."""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.viewer("vic", hand=True)
        held = show.stage.hold("vic", Role.GUEST)
        lock = pb.MuteGuestTrackRequest(room_name=room, guest_identity="vic", source=lk.TrackSource.CAMERA, lock=True)
        await crossed(held, show.promote("vic"), show.core.mute_guest_track(lock, show.admin))
        # The lock leaves the promotion standing, which the room hears of all the same.
        assert await show.told(ada, "vic") == (["guest_promoted"], ["guest_promoted"])

        async def microphone_only() -> bool:
            return {int(s) for s in (await show.seen("vic")).permission.can_publish_sources} == {
                int(lk.TrackSource.MICROPHONE)
            }

        await until(microphone_only, AT_ONCE, "LiveKit keeps vic's camera locked")
        assert await show.role_on_livekit("vic") == ("guest", True)


async def test_with_nothing_crossing_each_change_asks_livekit_what_it_always_did(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """The guard against crossed calls costs nothing when nothing crosses: per operation, the
    same LiveKit calls as before it existed."""
    async with live_show(own_livekit, records, room) as show:
        core, admin = show.core, show.admin
        await show.viewer("vic", hand=True)
        await show.viewer("mia")
        spent: dict[str, dict[str, int]] = {}

        async def counted(name: str, call: Awaitable[object]) -> None:
            show.calls.clear()
            await call
            spent[name] = dict(show.calls)

        vic = {"room_name": room, "guest_identity": "vic"}
        mia = {"room_name": room, "identity": "mia"}
        camera = lk.TrackSource.CAMERA
        await counted("promote", show.promote("vic"))
        await counted("lock", core.mute_guest_track(pb.MuteGuestTrackRequest(**vic, source=camera, lock=True), admin))
        await counted("allow", core.allow_guest_source(pb.AllowGuestSourceRequest(**vic, source=camera), admin))
        await counted("demote", core.demote_guest(pb.DemoteGuestRequest(**vic, host_identity="host-1"), admin))
        await counted("appoint", core.appoint_moderator(pb.AppointModeratorRequest(**mia), admin))
        await counted("dismiss", core.dismiss_moderator(pb.DismissModeratorRequest(**mia), admin))
        await records.set_hand(room, "vic", True, show.clock.now(), 1)
        await show.promote("vic")
        await counted("remove", core.remove_guest(pb.RemoveGuestRequest(**vic, host_identity="host-1"), admin))
        # The room looked up (ListRooms), the participant looked up and updated, the room told.
        update = {"ListRooms": 1, "GetParticipant": 1, "UpdateParticipant": 1}
        assert spent == {
            "promote": {**update, "SendData": 1},  # the invitation's look serves the update too
            "lock": {**update, "GetParticipant": 2},  # the mute looks for the track first
            "allow": update,
            "demote": {**update, "SendData": 1},
            "appoint": {**update, "SendData": 1},
            "dismiss": {**update, "SendData": 1},
            "remove": {"ListRooms": 1, "RemoveParticipant": 1, "SendData": 1},
        }
