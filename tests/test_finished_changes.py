"""A stage change (a guest's promotion, demotion or removal, a moderator's dismissal) whose call
never confirmed it: the instance that wrote it to the record died before LiveKit had it (or
before it could say so), or its LiveKit call is held up past the change's deadline. The
reconciler finishes it, bringing LiveKit to the record, and the room must hear of it then, as it
would have heard of the call's, and once: the call, should it land after all, says nothing more.
The core runs in process on a LiveKit of the test module's own, over each store, with a short
stage-change deadline; its reconciler's passes are run by the test. What the dead instance had
done is the record's steps alone; a call held up is held between its GetParticipant and its
UpdateParticipant (tests/test_crossed_changes.py's HeldStage). Checked in LiveKit's own view, in
the ShowEvents a viewer's own LiveKit connection receives and in the show's history."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from google.protobuf import json_format
from livekit import api
from livekit.protocol import webhook as lk_webhook
from showrunner.v1 import show_service_pb2 as pb

from service.core import errors
from service.core.caller import Caller
from service.core.reconciler import Action
from service.core.record import ShowRecords, StageChange, Standing, new_change_id
from service.core.roles import Role
from service.core.show import ShowRules
from service.dev.livekit_server import LiveKitDevServer
from service.dev.redis_server import RedisServer
from service.stores.redis_record import connect, room_keys
from tests.live import LiveParticipant, gone_from_livekit, livekit_participant, until
from tests.test_crossed_changes import AT_ONCE, Show, live_show, store_for

# The stage-change deadline of these tests' stores, in seconds.
DEADLINE = 0.5


@pytest.fixture(params=["memory", "redis"])
async def records(request: pytest.FixtureRequest) -> AsyncIterator[ShowRecords]:
    async for store in store_for(request, change_seconds=DEADLINE):
        yield store


async def finished(show: Show, identity: str, change: StageChange) -> None:
    """Runs the reconciler's passes over the show's room until one finishes `identity`'s
    pending `change` (once its deadline has passed)."""

    async def done() -> bool:
        return Action("completed", identity, change.value) in await show.core.reconciler.reconcile(show.room)

    await until(done, DEADLINE + 5.0, f"the reconciler finished {identity}'s {change.value}")


async def last_entry(show: Show, identity: str) -> tuple[str, str, str]:
    """The type, actor and reason of the show's last history entry about `identity`."""
    history = await show.core.list_show_events(pb.ListShowEventsRequest(room_name=show.room), show.admin)
    last = [e for e in history.entries if e.target_identity == identity][-1]
    return last.type, last.actor_identity, last.reason


async def test_a_promotion_whose_instance_died_before_livekit_had_it_is_told_once_the_reconciler_finishes_it(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """An instance seated vic (his hand was up) and died before telling LiveKit: past the
    deadline a reconciler puts him on stage on LiveKit, and the room, which heard nothing, hears
    guest_promoted, kept in the history as the reconciler's (nobody's, for "reconciled")."""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.viewer("vic", hand=True)
        seating = await records.invite(room, "vic", show.clock.now(), 60, 1, "host-1", change_id=new_change_id())
        assert seating.promoted
        await finished(show, "vic", StageChange.PROMOTE)
        assert await show.role_on_livekit("vic") == ("guest", True)
        assert await show.told(ada, "vic") == (["guest_promoted"], ["guest_promoted"])
        assert await last_entry(show, "vic") == ("guest_promoted", "", "reconciled")
        # Another pass finds nothing more to finish, and tells nothing more.
        await show.core.reconciler.reconcile(room)
        assert await show.told(ada, "vic") == (["guest_promoted"], ["guest_promoted"])


async def test_a_demotion_whose_instance_died_before_livekit_had_it_is_told_once_the_reconciler_finishes_it(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """vic is on stage, the room told so; an instance sends him back to the audience in the
    record and dies before telling LiveKit. The reconciler makes LiveKit agree, and the room, which
    last heard vic go on stage, hears guest_demoted: its pages would show him on stage still. The
    demotion is written without words, as an older version writes it: from nobody, "reconciled"
    (for one written with its words, see ..._is_told_in_the_hosts_words)."""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.viewer("vic", hand=True)
        assert (await show.promote("vic")).promoted
        await records.unseat(room, "vic", show.clock.now(), StageChange.DEMOTE, "host-1", change_id=new_change_id())
        await finished(show, "vic", StageChange.DEMOTE)
        assert await show.role_on_livekit("vic") == ("viewer", False)
        assert await show.told(ada, "vic") == (["guest_promoted", "guest_demoted"],) * 2
        assert await last_entry(show, "vic") == ("guest_demoted", "", "reconciled")


async def test_a_removal_whose_instance_died_before_livekit_had_it_is_told_once_the_reconciler_finishes_it(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.viewer("vic", hand=True)
        assert (await show.promote("vic")).promoted
        await records.unseat(room, "vic", show.clock.now(), StageChange.REMOVE, "host-1", change_id=new_change_id())
        await finished(show, "vic", StageChange.REMOVE)
        await until(lambda: gone_from_livekit(show.lkapi, room, "vic"), AT_ONCE, "LiveKit no longer has vic")
        assert await show.told(ada, "vic") == (["guest_promoted", "guest_demoted"],) * 2
        assert await last_entry(show, "vic") == ("guest_demoted", "", "reconciled")


async def removal_dies(
    show: Show, identity: str, monkeypatch: pytest.MonkeyPatch, *, reaches_livekit: bool, guest: bool = True
) -> None:
    """The host removes `identity` on the show's core (RemoveGuest, or RemoveParticipant unless
    `guest`), whose instance dies in its call to LiveKit: after LiveKit took the participant out
    if `reaches_livekit`, before otherwise. Either way the record never hears that LiveKit had it."""
    reached, never = asyncio.Event(), asyncio.Event()
    remove_on_livekit = show.stage.remove_participant

    async def dies_there(room: str, who: str) -> bool:
        if reaches_livekit:
            await remove_on_livekit(room, who)
        reached.set()
        await never.wait()  # until the instance dies
        return True

    host = Caller(room=show.room, identity="host-1")
    removing = (
        show.core.remove_guest(
            pb.RemoveGuestRequest(room_name=show.room, guest_identity=identity, host_identity="host-1"), show.admin
        )
        if guest
        else show.core.remove_participant(pb.RemoveParticipantRequest(room_name=show.room, identity=identity), host)
    )
    with monkeypatch.context() as held:
        held.setattr(show.stage, "remove_participant", dies_there)
        dying = asyncio.ensure_future(removing)
        await asyncio.wait_for(reached.wait(), 10.0)
        dying.cancel()
        with pytest.raises(asyncio.CancelledError):
            await dying


async def test_a_removal_livekit_had_before_its_instance_died_spares_the_participant_who_joined_again(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host removes vic: LiveKit takes vic out, and the instance dies before the record
    hears so. vic joins again as a viewer, as anyone not banned may, before the change's
    deadline. The reconciler finishing the removal takes out only the connection LiveKit had
    when the removal was written: vic's new one stays, and the room hears the removal once, in
    the host's words. (Before, the reconciler removed vic a second time.)"""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        first = await show.viewer("vic", hand=True)
        assert (await show.promote("vic")).promoted
        await removal_dies(show, "vic", monkeypatch, reaches_livekit=True)
        await until(lambda: gone_from_livekit(show.lkapi, room, "vic"), AT_ONCE, "LiveKit took vic out")
        show.people.remove(first)
        await first.disconnect()
        await show.viewer("vic")  # back, a viewer
        again = await livekit_participant(show.lkapi, room, "vic")
        assert again is not None
        await finished(show, "vic", StageChange.REMOVE)
        await show.core.reconciler.reconcile(room)
        still = await livekit_participant(show.lkapi, room, "vic")
        assert still is not None and still.sid == again.sid
        assert await show.role_on_livekit("vic") == ("viewer", False)
        assert await show.told(ada, "vic") == (["guest_promoted", "guest_demoted"],) * 2
        assert await last_entry(show, "vic") == ("guest_demoted", "host-1", "removed")


async def dies_before_livekit_has_it(show: Show, identity: str, role: Role, call: Awaitable[object]) -> None:
    """Runs `call` on the show's core until it has written its change to the record and is about
    to make it on LiveKit (UpdateParticipant, bringing `identity` to `role`): there its instance
    dies, and LiveKit never has it."""
    held = show.stage.hold(identity, role)
    dying = asyncio.ensure_future(call)
    await asyncio.wait_for(held.reached.wait(), 10.0)
    dying.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dying


async def test_a_demotion_whose_instance_died_before_livekit_had_it_is_told_in_the_hosts_words(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """The host demotes vic, and the instance dies after writing it to the record, before
    LiveKit has it. Past the deadline a reconciler makes LiveKit agree, and the room hears the
    demotion as the host made it: from host-1, kept in the history as the host's, for "demoted"
    (the service only finished it). Before, it was told from nobody, for "reconciled". So is a
    guest's own step down, as the guest's."""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.viewer("vic", hand=True)
        assert (await show.promote("vic")).promoted
        demote = pb.DemoteGuestRequest(room_name=room, guest_identity="vic", host_identity="host-1")
        await dies_before_livekit_has_it(show, "vic", Role.VIEWER, show.core.demote_guest(demote, show.admin))
        assert await show.role_on_livekit("vic") == ("guest", True)
        await finished(show, "vic", StageChange.DEMOTE)
        assert await show.role_on_livekit("vic") == ("viewer", False)
        assert await show.told(ada, "vic") == (["guest_promoted", "guest_demoted"],) * 2
        assert await last_entry(show, "vic") == ("guest_demoted", "host-1", "demoted")
        (event,) = [e for e in ada.show_events if e.get("type") == "guest_demoted"]
        assert (event["senderId"], event["targetParticipantId"], event["targetParticipantName"]) == (
            "host-1",
            "vic",
            "vic",
        )
        await show.core.reconciler.reconcile(room)
        assert await show.told(ada, "vic") == (["guest_promoted", "guest_demoted"],) * 2

        # vic back on stage, steps down, and the instance dies before LiveKit has it.
        await records.set_hand(room, "vic", True, show.clock.now(), 1)
        assert (await show.promote("vic")).promoted
        step_down = pb.StepDownRequest(room_name=room, guest_identity="vic")
        vic = Caller(room=room, identity="vic")
        await dies_before_livekit_has_it(show, "vic", Role.VIEWER, show.core.step_down(step_down, vic))
        await finished(show, "vic", StageChange.DEMOTE)
        assert await show.told(ada, "vic") == (["guest_promoted", "guest_demoted"] * 2,) * 2
        assert await last_entry(show, "vic") == ("guest_demoted", "vic", "stepped_down")


async def test_a_removal_whose_instance_died_before_livekit_had_it_is_told_in_the_hosts_words(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.viewer("vic", hand=True)
        assert (await show.promote("vic")).promoted
        await removal_dies(show, "vic", monkeypatch, reaches_livekit=False)
        await finished(show, "vic", StageChange.REMOVE)
        await until(lambda: gone_from_livekit(show.lkapi, room, "vic"), AT_ONCE, "LiveKit no longer has vic")
        assert await show.told(ada, "vic") == (["guest_promoted", "guest_demoted"],) * 2
        assert await last_entry(show, "vic") == ("guest_demoted", "host-1", "removed")


async def test_a_dismissal_whose_instance_died_before_livekit_had_it_is_told_in_the_hosts_words(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        core, host = show.core, Caller(room=room, identity="host-1")
        await show.moderator("mia", host)
        dismiss = pb.DismissModeratorRequest(room_name=room, identity="mia")
        await dies_before_livekit_has_it(show, "mia", Role.VIEWER, core.dismiss_moderator(dismiss, host))
        assert await show.role_on_livekit("mia") == ("moderator", False)
        await finished(show, "mia", StageChange.DEMOTE)
        assert await show.role_on_livekit("mia") == ("viewer", False)
        assert await show.told(ada, "mia") == (["moderator_appointed", "moderator_dismissed"],) * 2
        assert await last_entry(show, "mia") == ("moderator_dismissed", "host-1", "")


async def test_a_demotion_whose_instance_died_before_livekit_had_it_is_told_after_the_guest_left(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """vic is on stage, the room told so; an instance sends him back to the audience in the record
    and dies before telling LiveKit. vic raises his hand and leaves LiveKit, and the service,
    without a reconnect grace window, frees what he held at his participant_left: no seat (the
    record has him a viewer already), so no "left". The demotion stays pending, and past its
    deadline the reconciler tells it, once: the room, which last heard vic go on stage, hears him
    leave it (guest_demoted, the reconciler's, as had he stayed). Before, the leave dropped the
    demotion, and the room never heard him leave the stage."""
    async with live_show(own_livekit, records, room, ShowRules(reconnect_grace_seconds=0)) as show:
        ada = await show.viewer("ada")
        vic = await show.viewer("vic", hand=True)
        assert (await show.promote("vic")).promoted
        await records.unseat(room, "vic", show.clock.now(), StageChange.DEMOTE, "host-1", change_id=new_change_id())
        await records.set_hand(room, "vic", True, show.clock.now(), 1)
        seen = await show.seen("vic")
        live = await show.lkapi.room.list_rooms(api.ListRoomsRequest(names=[room]))
        await show.leaves(vic)
        # LiveKit's participant_left, as its webhook would bring it (this LiveKit's go nowhere).
        left = lk_webhook.WebhookEvent(
            event="participant_left", room=live.rooms[0], participant=seen, created_at=int(time.time())
        )
        assert await show.core.receive_webhook(json_format.MessageToJson(left).encode()) == "participant_left"
        assert await records.standing(room, "vic", show.clock.now()) == Standing(None, None, None)
        await finished(show, "vic", StageChange.DEMOTE)
        assert await show.told(ada, "vic") == (["guest_promoted", "guest_demoted"],) * 2
        assert await last_entry(show, "vic") == ("guest_demoted", "", "reconciled")
        await show.core.reconciler.reconcile(room)
        assert await show.told(ada, "vic") == (["guest_promoted", "guest_demoted"],) * 2


async def test_a_promotion_whose_call_lands_after_the_reconciler_finished_it_is_told_once(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """The instance that promoted vic is alive but slow: its LiveKit call is held past the
    deadline, the reconciler finishes the promotion and tells it, and then the call lands. The
    room has heard vic go on stage in the seat he holds, and hears it once."""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.viewer("vic", hand=True)
        held = show.stage.hold("vic", Role.GUEST)
        promoting = asyncio.ensure_future(show.promote("vic"))
        await asyncio.wait_for(held.reached.wait(), 10.0)
        await finished(show, "vic", StageChange.PROMOTE)
        assert await show.role_on_livekit("vic") == ("guest", True)
        assert await show.told(ada, "vic") == (["guest_promoted"], ["guest_promoted"])
        held.released.set()
        assert (await promoting).promoted
        assert await show.role_on_livekit("vic") == ("guest", True)
        assert await show.told(ada, "vic") == (["guest_promoted"], ["guest_promoted"])
        assert await last_entry(show, "vic") == ("guest_promoted", "", "reconciled")


async def test_a_demotion_whose_call_lands_after_the_reconciler_finished_it_is_told_once(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.viewer("vic", hand=True)
        assert (await show.promote("vic")).promoted
        held = show.stage.hold("vic", Role.VIEWER)
        demote = pb.DemoteGuestRequest(room_name=room, guest_identity="vic", host_identity="host-1")
        demoting = asyncio.ensure_future(show.core.demote_guest(demote, show.admin))
        await asyncio.wait_for(held.reached.wait(), 10.0)
        await finished(show, "vic", StageChange.DEMOTE)
        assert await show.role_on_livekit("vic") == ("viewer", False)
        assert await show.told(ada, "vic") == (["guest_promoted", "guest_demoted"],) * 2
        # The host's demotion, finished by the service: the host's, for "demoted".
        assert await last_entry(show, "vic") == ("guest_demoted", "host-1", "demoted")
        held.released.set()
        await demoting
        assert await show.role_on_livekit("vic") == ("viewer", False)
        assert await show.told(ada, "vic") == (["guest_promoted", "guest_demoted"],) * 2


async def test_a_guest_promoted_again_after_a_demotion_the_reconciler_finished_is_told_on_stage(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """What the reconciler told counts as heard for the seat it ended only: vic, invited again
    after it, is a guest in a new seat, and the room hears that, and his next demotion."""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.viewer("vic", hand=True)
        assert (await show.promote("vic")).promoted
        await records.unseat(room, "vic", show.clock.now(), StageChange.DEMOTE, "host-1", change_id=new_change_id())
        await finished(show, "vic", StageChange.DEMOTE)
        await records.set_hand(room, "vic", True, show.clock.now(), 1)
        assert (await show.promote("vic")).promoted
        demote = pb.DemoteGuestRequest(room_name=room, guest_identity="vic", host_identity="host-1")
        await show.core.demote_guest(demote, show.admin)
        on_and_off = ["guest_promoted", "guest_demoted"] * 2
        assert await show.told(ada, "vic") == (on_and_off, on_and_off)
        assert await last_entry(show, "vic") == ("guest_demoted", "host-1", "demoted")


async def test_a_dismissal_whose_instance_died_before_livekit_had_it_is_told_once_the_reconciler_finishes_it(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """A moderator's dismissal is pending as a guest's demotion is, and told as a dismissal, never
    as a guest's demotion."""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.moderator("mia")
        await records.dismiss(room, "mia", show.clock.now(), new_change_id())
        await finished(show, "mia", StageChange.DEMOTE)
        assert await show.role_on_livekit("mia") == ("viewer", False)
        assert await show.told(ada, "mia") == (["moderator_appointed", "moderator_dismissed"],) * 2
        assert await last_entry(show, "mia") == ("moderator_dismissed", "", "reconciled")


async def test_a_moderators_removal_whose_instance_died_before_livekit_had_it_is_finished_by_the_reconciler(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host removes its moderator mia (RemoveParticipant), and the instance dies before
    LiveKit has it. The record no longer holds her appointment, and past the deadline a
    reconciler takes her out of LiveKit's room; the room hears her dismissal once, in the
    host's words. (Before, RemoveParticipant asked LiveKit first and wrote the record after:
    she stayed a moderator in the record, in the room, and on her next JoinRoom.)"""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.moderator("mia")
        await removal_dies(show, "mia", monkeypatch, reaches_livekit=False, guest=False)
        assert await records.role_of(room, "mia") is Role.VIEWER
        await finished(show, "mia", StageChange.REMOVE)
        await until(lambda: gone_from_livekit(show.lkapi, room, "mia"), AT_ONCE, "LiveKit no longer has mia")
        assert await show.told(ada, "mia") == (["moderator_appointed", "moderator_dismissed"],) * 2
        assert await last_entry(show, "mia") == ("moderator_dismissed", "host-1", "removed")
        await show.core.reconciler.reconcile(room)
        assert await show.told(ada, "mia") == (["moderator_appointed", "moderator_dismissed"],) * 2
        assert await records.pending(room) == []


async def test_a_moderators_removal_the_record_fails_after_livekit_had_it_leaves_no_appointment(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LiveKit takes the moderator out, and the store fails before the call is done with the
    record: the call fails, and her appointment is gone all the same (before, she stayed a
    moderator, and the caller's retry found nobody to remove). The room hears her dismissal once."""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.moderator("mia")

        async def store_fails(*args: object, **kwargs: object) -> Role:
            raise errors.unavailable("the store is away")

        host = Caller(room=room, identity="host-1")
        with monkeypatch.context() as held:
            held.setattr(records, "forget", store_fails)
            with pytest.raises(errors.ShowError):
                await show.core.remove_participant(pb.RemoveParticipantRequest(room_name=room, identity="mia"), host)
        await until(lambda: gone_from_livekit(show.lkapi, room, "mia"), AT_ONCE, "LiveKit no longer has mia")
        assert await records.role_of(room, "mia") is Role.VIEWER
        await told_by_reconciler(show, ada, "mia", ["moderator_appointed", "moderator_dismissed"])
        assert await last_entry(show, "mia") == ("moderator_dismissed", "host-1", "removed")


async def test_a_moderators_removal_livekit_refuses_leaves_the_appointment_and_no_ban(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """Her appointment and the ban end in the record before LiveKit is asked; a moderator LiveKit
    does not have (appointed before she joins) is not removed, and both are given back: she is a
    moderator still, not banned, and nothing is left pending for a reconciler to finish."""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.core.appoint_moderator(pb.AppointModeratorRequest(room_name=room, identity="max"), show.admin)
        host = Caller(room=room, identity="host-1")
        remove = pb.RemoveParticipantRequest(room_name=room, identity="max", ban=True)
        with pytest.raises(errors.ShowError) as refused:
            await show.core.remove_participant(remove, host)
        assert refused.value.code is errors.Code.NOT_FOUND
        assert await records.role_of(room, "max") is Role.MODERATOR
        assert await records.bans(room, show.clock.now()) == []
        assert await records.pending(room) == []
        assert await show.told(ada, "max") == (["moderator_appointed"],) * 2


async def test_a_dismissal_whose_call_lands_after_the_reconciler_finished_it_is_told_once(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.moderator("mia")
        core, admin = show.core, show.admin
        held = show.stage.hold("mia", Role.VIEWER)
        dismissing = asyncio.ensure_future(
            core.dismiss_moderator(pb.DismissModeratorRequest(room_name=room, identity="mia"), admin)
        )
        await asyncio.wait_for(held.reached.wait(), 10.0)
        await finished(show, "mia", StageChange.DEMOTE)
        assert await show.role_on_livekit("mia") == ("viewer", False)
        assert await show.told(ada, "mia") == (["moderator_appointed", "moderator_dismissed"],) * 2
        assert await last_entry(show, "mia") == ("moderator_dismissed", "", "")  # the admin's, as written
        held.released.set()
        await dismissing
        assert await show.role_on_livekit("mia") == ("viewer", False)
        assert await show.told(ada, "mia") == (["moderator_appointed", "moderator_dismissed"],) * 2
        # Appointed and dismissed again, the room hears both anew.
        await core.appoint_moderator(pb.AppointModeratorRequest(room_name=room, identity="mia"), admin)
        await core.dismiss_moderator(pb.DismissModeratorRequest(room_name=room, identity="mia"), admin)
        assert await show.told(ada, "mia") == (["moderator_appointed", "moderator_dismissed"] * 2,) * 2
        assert await last_entry(show, "mia") == ("moderator_dismissed", "", "")


async def dies_before_telling(
    show: Show, monkeypatch: pytest.MonkeyPatch, call: Callable[[], Awaitable[object]]
) -> None:
    """Runs `call` on the show's core until it has made its change on LiveKit and landed it in
    the record, and is about to tell the room (ShowRecords.tell): there its instance dies."""
    reached, never = asyncio.Event(), asyncio.Event()

    async def never_told(*args: object) -> str:
        reached.set()
        await never.wait()  # until the instance dies
        return ""

    with monkeypatch.context() as held:
        held.setattr(show.records, "tell", never_told)
        dying = asyncio.ensure_future(call())
        await asyncio.wait_for(reached.wait(), 10.0)
        dying.cancel()
        with pytest.raises(asyncio.CancelledError):
            await dying


async def told_by_reconciler(show: Show, watcher: LiveParticipant, identity: str, heard: list[str]) -> None:
    """Runs the reconciler's passes over the show's room until `watcher`'s page has heard `heard`
    of `identity`, and then one more, which tells nothing more."""

    async def told() -> bool:
        await show.core.reconciler.reconcile(show.room)
        return (await show.told(watcher, identity))[0] == heard

    await until(told, DEADLINE + 10.0, f"the room heard {heard} of {identity}")
    await show.core.reconciler.reconcile(show.room)
    assert await show.told(watcher, identity) == (heard, heard)


async def test_a_demotion_whose_instance_died_after_livekit_had_it_is_told_in_its_own_words(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host demotes vic; the call makes it on LiveKit and clears it in the record, and its
    instance dies before telling the room. Past the landed change's deadline a reconciler tells
    it, as the call would have: from the host, for "demoted", once."""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.viewer("vic", hand=True)
        assert (await show.promote("vic")).promoted
        demote = pb.DemoteGuestRequest(room_name=room, guest_identity="vic", host_identity="host-1")
        await dies_before_telling(show, monkeypatch, lambda: show.core.demote_guest(demote, show.admin))
        assert await show.role_on_livekit("vic") == ("viewer", False)
        await told_by_reconciler(show, ada, "vic", ["guest_promoted", "guest_demoted"])
        assert await last_entry(show, "vic") == ("guest_demoted", "host-1", "demoted")
        assert await records.pending(room) == []


async def test_a_promotion_whose_instance_died_after_livekit_had_it_is_told_in_its_own_words(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.viewer("vic", hand=True)
        await dies_before_telling(show, monkeypatch, lambda: show.promote("vic"))
        assert await show.role_on_livekit("vic") == ("guest", True)
        await told_by_reconciler(show, ada, "vic", ["guest_promoted"])
        assert await last_entry(show, "vic") == ("guest_promoted", "host-1", "")


async def test_a_dismissal_whose_instance_died_after_livekit_had_it_is_told_in_its_own_words(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        core, host = show.core, Caller(room=room, identity="host-1")
        await show.moderator("mia", host)
        dismiss = pb.DismissModeratorRequest(room_name=room, identity="mia")
        await dies_before_telling(show, monkeypatch, lambda: core.dismiss_moderator(dismiss, host))
        assert await show.role_on_livekit("mia") == ("viewer", False)
        await told_by_reconciler(show, ada, "mia", ["moderator_appointed", "moderator_dismissed"])
        assert await last_entry(show, "mia") == ("moderator_dismissed", "host-1", "")


@pytest.mark.parametrize("records", ["redis"], indirect=True)
async def test_a_promotion_an_older_version_wrote_is_told_once_the_reconciler_finishes_it(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str, store_redis_server: RedisServer
) -> None:
    """An older version's instance seated vic and died before telling LiveKit; its pending change
    names no part (that version wrote none). Only a guest is promoted, so the reconciler that
    finishes it tells the room guest_promoted all the same."""
    async with live_show(own_livekit, records, room) as show:
        ada = await show.viewer("ada")
        await show.viewer("vic", hand=True)
        assert (await records.invite(room, "vic", show.clock.now(), 60, 1, "host-1", change_id="c1")).promoted
        now = round(show.clock.now() * 1000)
        older = {"v": 1, "change": "promote", "since": now, "deadline": now + round(DEADLINE * 1000), "id": "c1"}
        client = connect(store_redis_server.url, cluster=False)
        try:
            await client.hset(room_keys(room)[4], "vic", json.dumps(older))
        finally:
            await client.aclose()
        (pending,) = await records.pending(room)
        assert pending.part is None
        await finished(show, "vic", StageChange.PROMOTE)
        assert await show.role_on_livekit("vic") == ("guest", True)
        assert await show.told(ada, "vic") == (["guest_promoted"], ["guest_promoted"])
        assert await last_entry(show, "vic") == ("guest_promoted", "", "reconciled")
