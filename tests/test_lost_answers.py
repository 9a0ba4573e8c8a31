"""A LiveKit call whose answer is lost: LiveKit made the change, and the call saw a failure (a
timeout, a connection reset: UNAVAILABLE). The call looks at LiveKit before it undoes anything:
a change LiveKit shows stands, in the record as on LiveKit. If LiveKit cannot tell either, the
record's change is undone, and the reconciler's next pass brings LiveKit to the record, though
nothing in the record (no seat, appointment or change pending) would have sent it to look.

The core runs in process on a LiveKit of the module's own, over each store, with no reconciler
running (the test runs its pass); checked in LiveKit's own view."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from livekit.protocol import models as lk
from showrunner.v1 import show_service_pb2 as pb

from service.core import errors
from service.core.pages import PageTokens, page_key
from service.core.ports import Presence
from service.core.record import ShowRecords
from service.core.roles import Role
from service.core.show import ShowCore
from service.dev.livekit_server import LiveKitDevServer
from tests.conftest import API_SECRET
from tests.live import until
from tests.test_crossed_changes import Show, live_show, store_for

LOST = "LiveKit is unavailable (UpdateParticipant): no answer within 10s"


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


@pytest.mark.parametrize("change", CHANGES)
async def test_a_change_lost_where_livekit_cannot_tell_is_undone_by_another_instance_if_this_one_dies(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str, change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The instance whose call undid the change dies before its next pass: the doubt is in the
    record, and another instance's pass (a reconciler that never heard of it) looks, brings
    LiveKit to the record, and settles it."""
    role, make = CHANGES[change]
    async with live_show(own_livekit, records, room) as show:
        await show.viewer("mia", hand=True)
        answer_lost(monkeypatch, show, "mia", role, blind=True)
        with pytest.raises(errors.ShowError):
            await make(show, "mia")
        assert (await records.stage(room, show.clock.now())).doubted == ("mia",)
        other = ShowCore(show.stage, records, show.clock, page_tokens=PageTokens(page_key(API_SECRET)))
        actions = await other.reconciler.reconcile(room)
        assert [(a.kind, a.detail) for a in actions if a.identity == "mia"] == [("presented", "viewer")]
        assert await show.role_on_livekit("mia") == ("viewer", False)
        assert (await records.stage(room, show.clock.now())).doubted == ()


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
