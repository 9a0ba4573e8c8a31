"""A LiveKit call whose answer is lost: LiveKit made the change, and the call saw a failure (a
timeout, a connection reset: UNAVAILABLE). The call looks at LiveKit before it undoes anything:
a change LiveKit shows stands, in the record as on LiveKit. If LiveKit cannot tell either, the
record's change is undone, and the reconciler's next pass brings LiveKit to the record, though
nothing in the record (no seat, appointment or change pending) would have sent it to look.

The core runs in process on a LiveKit of the module's own, over each store, with no reconciler
running (the test runs its pass); checked in LiveKit's own view."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from livekit.protocol import models as lk
from showrunner.v1 import show_service_pb2 as pb

from service.core import errors
from service.core.clock import ManualClock
from service.core.pages import PageTokens, page_key
from service.core.ports import Presence
from service.core.reconciler import Action
from service.core.record import ShowRecords
from service.core.roles import Role
from service.core.show import ShowCore
from service.dev.livekit_server import LiveKitDevServer
from service.stores.redis_record import DEFAULT_CHANGE_SECONDS
from tests.conftest import API_SECRET
from tests.live import until
from tests.test_crossed_changes import Calls, HeldStage, Show, live_show, store_for

LOST = "LiveKit is unavailable (UpdateParticipant): no answer within 10s"
DEADLINE = DEFAULT_CHANGE_SECONDS + 1  # past a doubt's deadline (the stores' stage-change one)


@pytest.fixture(params=["memory", "redis"])
async def records(request: pytest.FixtureRequest) -> AsyncIterator[ShowRecords]:
    async for store in store_for(request):
        yield store


def answer_lost(monkeypatch: pytest.MonkeyPatch, show: Show, identity: str, role: Role, *, blind: bool = False) -> None:
    """The next presentation of `identity` in `role` is made on LiveKit, and its answer lost.
    `blind`: LiveKit then also fails to answer the next look at `identity`."""
    stage = show.stage
    present, find = stage.present, stage.find_participant
    armed = {"present": True, "find": False}

    async def lost(
        room: str, who: str, presence: Presence, known: lk.ParticipantInfo | None = None
    ) -> lk.ParticipantInfo | None:
        made = await present(room, who, presence, known)
        if not armed["present"] or who != identity or presence.role is not role:
            return made
        armed.update(present=False, find=blind)
        raise errors.unavailable(LOST)

    async def unanswered(room: str, who: str) -> lk.ParticipantInfo | None:
        if not armed["find"] or who != identity:
            return await find(room, who)
        armed["find"] = False
        raise errors.unavailable("LiveKit is unavailable (GetParticipant): no answer within 10s")

    monkeypatch.setattr(stage, "present", lost)
    monkeypatch.setattr(stage, "find_participant", unanswered)


def appoint(show: Show, identity: str) -> Awaitable[object]:
    return show.core.appoint_moderator(pb.AppointModeratorRequest(room_name=show.room, identity=identity), show.admin)


CHANGES: dict[str, tuple[Role, Callable[[Show, str], Awaitable[object]]]] = {
    "appointment": (Role.MODERATOR, appoint),
    "promotion": (Role.GUEST, Show.promote),
}


@pytest.mark.parametrize("change", CHANGES)
async def test_a_change_whose_answer_is_lost_stands_as_livekit_made_it(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str, change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    role, make = CHANGES[change]
    async with live_show(own_livekit, records, room) as show:
        await show.viewer("mia", hand=True)
        answer_lost(monkeypatch, show, "mia", role)
        await make(show, "mia")  # answered as made: LiveKit shows it
        assert await records.role_of(room, "mia") is role
        assert await show.role_on_livekit("mia") == (role.value, role is Role.GUEST)


@pytest.mark.parametrize("change", CHANGES)
async def test_a_change_lost_where_livekit_cannot_tell_is_undone_on_livekit_by_the_next_pass(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str, change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    role, make = CHANGES[change]
    async with live_show(own_livekit, records, room) as show:
        await show.viewer("mia", hand=True)
        answer_lost(monkeypatch, show, "mia", role, blind=True)
        with pytest.raises(errors.ShowError) as refused:
            await make(show, "mia")
        assert refused.value.code is errors.Code.UNAVAILABLE
        # Undone in the record (the hand given back), made on LiveKit.
        assert await records.role_of(room, "mia") is Role.VIEWER
        assert await show.role_on_livekit("mia") == (role.value, role is Role.GUEST)
        actions = await show.core.reconciler.reconcile(room)
        assert [(a.kind, a.detail) for a in actions if a.identity == "mia"] == [("presented", "viewer")]
        assert await show.role_on_livekit("mia") == ("viewer", False)
        # Looked at once: the next pass does nothing more about it.
        assert [a for a in await show.core.reconciler.reconcile(room) if a.identity == "mia"] == []


def other_instance(show: Show, *, later: float = 0.0, stage: HeldStage | None = None) -> ShowCore:
    """Another instance on the same store, its reconciler never started and never told of this
    one's doubts; `later`: its clock that many seconds ahead (a pass past a doubt's deadline)."""
    clock = ManualClock(show.clock.now() + later) if later else show.clock
    return ShowCore(stage or show.stage, show.records, clock, page_tokens=PageTokens(page_key(API_SECRET)))


async def doubted(show: Show) -> list[str]:
    return [doubt.identity for doubt in (await show.records.stage(show.room, show.clock.now())).doubted]


@pytest.mark.parametrize("change", CHANGES)
async def test_a_change_lost_where_livekit_cannot_tell_is_undone_by_another_instance_if_this_one_dies(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str, change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The instance whose call undid the change dies before its next pass: the doubt is in the
    record, and another instance's pass (a reconciler that never heard of it) looks, brings
    LiveKit to the record, and, past the stage-change deadline, settles it."""
    role, make = CHANGES[change]
    async with live_show(own_livekit, records, room) as show:
        await show.viewer("mia", hand=True)
        answer_lost(monkeypatch, show, "mia", role, blind=True)
        with pytest.raises(errors.ShowError):
            await make(show, "mia")
        assert await doubted(show) == ["mia"]
        actions = await other_instance(show).reconciler.reconcile(room)
        assert [(a.kind, a.detail) for a in actions if a.identity == "mia"] == [("presented", "viewer")]
        assert await show.role_on_livekit("mia") == ("viewer", False)
        assert await doubted(show) == ["mia"]  # looked at by every pass until its deadline
        await other_instance(show, later=DEADLINE).reconciler.reconcile(room)
        assert await doubted(show) == []


@pytest.mark.parametrize("change", CHANGES)
async def test_a_pass_between_the_doubt_and_the_undo_leaves_the_doubt_for_a_pass_after_it(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str, change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A's call doubts mia, and B's pass runs before A's undo (it finds the change still in the
    record, and LiveKit agreeing). A undoes and dies: B's later passes bring LiveKit to the
    record (a viewer)."""
    role, make = CHANGES[change]
    async with live_show(own_livekit, records, room) as show:
        await show.viewer("mia", hand=True)
        b = other_instance(show)
        passed: list[list[Action]] = []
        doubt = records.doubt

        async def doubt_then_b_passes(room_: str, identity: str, now: float) -> None:
            await doubt(room_, identity, now)
            passed.append(await b.reconciler.reconcile(room_))

        monkeypatch.setattr(records, "doubt", doubt_then_b_passes)
        answer_lost(monkeypatch, show, "mia", role, blind=True)
        with pytest.raises(errors.ShowError):
            await make(show, "mia")
        assert passed and await records.role_of(room, "mia") is Role.VIEWER
        await b.reconciler.reconcile(room)  # A is gone: B's next pass
        assert await show.role_on_livekit("mia") == ("viewer", False)


async def test_a_doubt_written_again_while_a_pass_looks_stays_for_the_next(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mia is doubted (an appointment LiveKit did not make, and could not tell). B's pass, past
    that doubt's deadline, looks at her (a viewer); while it looks, A's second appointment of her
    is made on LiveKit, its answer lost, LiveKit unable to tell: A doubts her again and undoes,
    and dies. B settles only the doubt it read: the second stays, and B's next pass brings
    LiveKit to the record."""
    async with live_show(own_livekit, records, room) as show:
        await show.viewer("mia")
        present, find = show.stage.present, show.stage.find_participant
        state = {"mode": "refuse"}

        async def failing(
            room_: str, who: str, presence: Presence, known: lk.ParticipantInfo | None = None
        ) -> lk.ParticipantInfo | None:
            if who == "mia" and presence.role is Role.MODERATOR and state["mode"] in ("refuse", "lose"):
                if state["mode"] == "lose":
                    await present(room_, who, presence, known)  # made, its answer lost
                state["mode"] = "blind"
                raise errors.unavailable(LOST)
            return await present(room_, who, presence, known)

        async def blind(room_: str, who: str) -> lk.ParticipantInfo | None:
            if who == "mia" and state["mode"] == "blind":
                state["mode"] = "off"
                raise errors.unavailable("LiveKit is unavailable (GetParticipant): no answer within 10s")
            return await find(room_, who)

        monkeypatch.setattr(show.stage, "present", failing)
        monkeypatch.setattr(show.stage, "find_participant", blind)
        with pytest.raises(errors.ShowError):
            await appoint(show, "mia")  # not made on LiveKit, doubted, undone
        assert await show.role_on_livekit("mia") == ("viewer", False)
        b_stage = HeldStage(own_livekit.url, Calls().record)
        b = other_instance(show, later=DEADLINE, stage=b_stage)
        b_find = b_stage.find_participant

        async def b_looks(room_: str, who: str) -> lk.ParticipantInfo | None:
            found = await b_find(room_, who)
            if who == "mia" and state["mode"] == "off":
                state["mode"] = "lose"
                with pytest.raises(errors.ShowError):
                    await appoint(show, "mia")  # made on LiveKit, its answer lost, doubted again
            return found

        monkeypatch.setattr(b_stage, "find_participant", b_looks)
        try:
            await b.reconciler.reconcile(room)
            assert await doubted(show) == ["mia"]  # the second doubt
            assert await show.role_on_livekit("mia") == ("moderator", False)
            monkeypatch.setattr(b_stage, "find_participant", b_find)
            later = other_instance(show, later=2 * DEADLINE, stage=b_stage)
            await later.reconciler.reconcile(room)
            assert await show.role_on_livekit("mia") == ("viewer", False)
            assert await doubted(show) == []
        finally:
            await b_stage.close()


@pytest.mark.parametrize("change", CHANGES)
async def test_a_change_livekit_makes_after_the_calls_look_is_undone_by_a_pass_before_the_deadline(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str, change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The UpdateParticipant times out at the client and LiveKit makes the change a moment later.
    The call looks (not there yet), doubts and undoes; the pass the doubt asks for looks (not
    there yet either). LiveKit then makes the change: the next pass, still before the
    deadline, looks again and brings LiveKit to the record."""
    role, make = CHANGES[change]
    async with live_show(own_livekit, records, room) as show:
        await show.viewer("mia", hand=True)
        present = show.stage.present
        late = asyncio.Event()
        landing: list[asyncio.Task[object]] = []

        async def times_out(
            room_: str, who: str, presence: Presence, known: lk.ParticipantInfo | None = None
        ) -> lk.ParticipantInfo | None:
            if who == "mia" and presence.role is role and not landing:

                async def lands_late() -> object:
                    await late.wait()
                    return await present(room_, who, presence, None)

                landing.append(asyncio.ensure_future(lands_late()))
                raise errors.unavailable(LOST)
            return await present(room_, who, presence, known)

        monkeypatch.setattr(show.stage, "present", times_out)
        with pytest.raises(errors.ShowError):
            await make(show, "mia")
        await show.core.reconciler.reconcile(room)  # the pass the doubt asked for: nothing yet
        assert await doubted(show) == ["mia"]
        late.set()
        await landing[0]
        assert await show.role_on_livekit("mia") == (role.value, role is Role.GUEST)
        await show.core.reconciler.reconcile(room)
        assert await show.role_on_livekit("mia") == ("viewer", False)


async def test_an_appointment_overtaken_by_a_dismissal_is_undone_on_livekit_when_its_instance_dies(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A appoints mia; its UpdateParticipant is on its way when the host dismisses her (the
    dismissal lands and is settled). LiveKit then makes the appointment, and A dies before its
    look after the change (which, alive, brings mia back at once). The appointment doubted mia in
    its own step (it writes no pending change): B's pass brings LiveKit to the record."""
    async with live_show(own_livekit, records, room) as show:
        await show.viewer("mia")
        held = show.stage.hold("mia", Role.MODERATOR)
        present = show.stage.present
        dead = asyncio.Event()  # never set: the instance is killed once LiveKit has answered

        async def then_dies(
            room_: str, who: str, presence: Presence, known: lk.ParticipantInfo | None = None
        ) -> lk.ParticipantInfo | None:
            made = await present(room_, who, presence, known)
            if who == "mia" and presence.role is Role.MODERATOR:
                await dead.wait()
            return made

        monkeypatch.setattr(show.stage, "present", then_dies)
        appointing = asyncio.ensure_future(appoint(show, "mia"))
        try:
            await asyncio.wait_for(held.reached.wait(), 10.0)
            dismiss = pb.DismissModeratorRequest(room_name=room, identity="mia")
            await show.core.dismiss_moderator(dismiss, show.admin)
            held.released.set()
            await until(lambda: _is(show, "mia", "moderator"), 10.0, "LiveKit made the late appointment")
            assert (await records.stage(room, show.clock.now())).pending == ()
            await other_instance(show).reconciler.reconcile(room)
            assert await show.role_on_livekit("mia") == ("viewer", False)
        finally:
            appointing.cancel()
            await asyncio.gather(appointing, return_exceptions=True)


async def _is(show: Show, identity: str, role: str) -> bool:
    return (await show.role_on_livekit(identity))[0] == role


async def test_a_removal_with_a_ban_whose_answer_is_lost_bans(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_show(own_livekit, records, room) as show:
        await show.viewer("troll")
        remove = show.stage.remove_participant

        async def lost(room_name: str, identity: str) -> bool:
            await remove(room_name, identity)
            raise errors.unavailable("LiveKit is unavailable (RemoveParticipant): no answer within 10s")

        monkeypatch.setattr(show.stage, "remove_participant", lost)
        request = pb.RemoveParticipantRequest(room_name=room, identity="troll", ban=True)
        await show.core.remove_participant(request, show.admin)
        assert [ban.identity for ban in await records.bans(room, show.clock.now())] == ["troll"]
        await until(lambda: _gone(show, "troll"), 10.0, "LiveKit no longer has troll")


async def _gone(show: Show, identity: str) -> bool:
    return await show.stage.find_participant(show.room, identity) is None


async def test_a_doubt_the_store_could_not_keep_holds_until_its_latest_deadline(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store fails to take the doubts: the instance keeps them alone. mia is doubted at T
    (due T+10). A pass at T+5 looks at her; while it looks, a second change of hers is lost the
    same way: doubted again, due T+15, which holds once the pass ends. A pass at T+12 looks and
    keeps it; LiveKit then makes the second change late, and the pass at T+13 brings mia back."""
    async with live_show(own_livekit, records, room) as show:
        await show.viewer("mia")
        clock = ManualClock(show.clock.now())
        core = ShowCore(show.stage, records, clock, page_tokens=PageTokens(page_key(API_SECRET)))

        async def store_fails(room_: str, identity: str, now: float) -> None:
            raise errors.unavailable("The state store is unavailable (timeout)")

        monkeypatch.setattr(records, "doubt", store_fails)
        await core.reconciler.doubt(room, "mia")  # due T+10, kept by this instance alone
        clock.advance(5)
        find = show.stage.find_participant
        looked: list[str] = []

        async def doubted_again_while_looking(room_: str, who: str) -> lk.ParticipantInfo | None:
            found = await find(room_, who)
            if who == "mia" and not looked:
                looked.append(who)
                await core.reconciler.doubt(room, "mia")  # a second change lost: due T+15
            return found

        monkeypatch.setattr(show.stage, "find_participant", doubted_again_while_looking)
        await core.reconciler.reconcile(room)  # at T+5
        assert looked == ["mia"]
        monkeypatch.setattr(show.stage, "find_participant", find)
        clock.advance(7)
        await core.reconciler.reconcile(room)  # at T+12: past the first due, before the second
        await show.stage.present(room, "mia", Presence(Role.MODERATOR))  # the second change, late
        assert await show.role_on_livekit("mia") == ("moderator", False)
        clock.advance(1)
        await core.reconciler.reconcile(room)  # at T+13: within the second doubt
        assert await show.role_on_livekit("mia") == ("viewer", False)
