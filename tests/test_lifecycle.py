"""A show's life, backstage, live and ended, through every door, with participants really
connected to a real LiveKit server: what each of them sees is checked in LiveKit's own view and
in what their WebRTC connection receives."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from livekit import api, rtc
from showrunner.v1 import show_service_pb2 as pb

from service.core import errors
from service.core.caller import Caller
from service.core.clock import ManualClock
from service.core.pages import PageTokens, page_key
from service.core.ports import Presence
from service.core.roles import Role
from service.core.show import ShowCore, ShowRules
from service.dev.livekit_server import LiveKitDevServer
from service.gateway.livekit import LiveKitStage
from service.stores.memory_record import MemoryRecords
from tests.conftest import API_KEY, API_SECRET, admin_token, start_service
from tests.doors import GrpcClient, ShowClient, expect_refusal
from tests.live import LiveParticipant, livekit_participant
from tests.test_show_through_every_door import claims, livekit_rooms, refused


@dataclass
class Backstage:
    """A show just opened: its host connected and talking, one viewer waiting in the room."""

    room: str
    admin: ShowClient
    host: ShowClient
    host_live: LiveParticipant
    host_token: str
    viewer: ShowClient
    viewer_live: LiveParticipant
    ws_url: str
    viewer_token: str


def _disconnected(who: LiveParticipant) -> Callable[[], bool]:
    return lambda: any(kind == "disconnected" for kind, _ in who.events)


def heard(who: LiveParticipant, identity: str) -> bool:
    return ("subscribed", (identity, rtc.TrackKind.KIND_AUDIO)) in who.events


def said_live(who: LiveParticipant) -> int:
    """How many times `who` heard show_live."""
    return sum(1 for e in who.show_events if e.get("type") == "show_live")


def subscriptions(who: LiveParticipant) -> list[object]:
    return [what for kind, what in who.events if kind == "subscribed"]


@pytest.fixture
async def backstage(door: ShowClient, room: str) -> AsyncIterator[Backstage]:
    admin = door.as_(admin_token(room))
    joined = await admin.join(room, "host-1", "host")
    assert joined["state"] == "SHOW_STATE_BACKSTAGE"
    host_live = await LiveParticipant("host-1").connect(joined["wsUrl"], joined["token"])
    await host_live.publish_microphone()
    early = await door.as_(None).join(room, "viewer-1", "viewer")
    assert early["state"] == "SHOW_STATE_BACKSTAGE" and claims(early["token"])["video"]["canSubscribe"] is False
    viewer_live = await LiveParticipant("viewer-1").connect(early["wsUrl"], early["token"])
    show = Backstage(
        room,
        admin,
        door.as_(joined["token"]),
        host_live,
        joined["token"],
        door.as_(early["token"]),
        viewer_live,
        early["wsUrl"],
        early["token"],
    )
    yield show
    await viewer_live.disconnect()
    await host_live.disconnect()


async def test_viewers_wait_backstage_and_see_the_show_the_moment_it_goes_live(
    door: ShowClient, backstage: Backstage, lkapi: api.LiveKitAPI
) -> None:
    show, room = backstage, backstage.room
    # Backstage, a guest comes on stage and talks with the host; the waiting viewer gets nothing.
    guest_joined = await door.as_(None).join(room, "guest-1", "viewer")
    guest = door.as_(guest_joined["token"])
    guest_live = await LiveParticipant("guest-1").connect(guest_joined["wsUrl"], guest_joined["token"])
    try:
        await guest.hand(room, "guest-1", True)
        assert (await show.host.invite(room, "guest-1", "host-1"))["promoted"] is True
        await guest_live.wait_for(lambda: heard(guest_live, "host-1"), label="the guest hears the host backstage")
        await guest_live.publish_microphone()
        await show.host_live.wait_for(lambda: heard(show.host_live, "guest-1"), label="the host hears the guest")
        await asyncio.sleep(1.0)
        assert subscriptions(show.viewer_live) == []
        waiting = await livekit_participant(lkapi, room, "viewer-1")
        assert waiting is not None and not waiting.permission.can_subscribe and not waiting.permission.can_publish
        described = await show.viewer.get_room(room)
        assert described["state"] == "SHOW_STATE_BACKSTAGE" and int(described["openedAt"]) > 0
        assert int(described["startedAt"]) == 0

        expect_refusal(
            await refused(show.viewer.go_live(room)), "PERMISSION_DENIED", "Only the host can take the show live"
        )
        live = await show.host.go_live(room)
        assert live["state"] == "SHOW_STATE_LIVE" and int(live["viewersLetIn"]) == 1
        # The viewer did nothing: LiveKit subscribes it to the stage as soon as it may.
        await show.viewer_live.wait_for(
            lambda: heard(show.viewer_live, "host-1") and heard(show.viewer_live, "guest-1"),
            label="the waiting viewer hears the host and the guest",
        )
        await show.viewer_live.wait_for(
            lambda: any(e.get("type") == "show_live" for e in show.viewer_live.show_events), label="show_live"
        )
        let_in = await livekit_participant(lkapi, room, "viewer-1")
        assert let_in is not None and let_in.permission.can_subscribe and not let_in.permission.can_publish
        assert let_in.attributes["role"] == "viewer"
        described = await show.viewer.get_room(room)
        assert described["state"] == "SHOW_STATE_LIVE" and described["startedAt"] == live["startedAt"]
        again = await show.host.go_live(room)  # a retry answers the same and lets nobody in twice
        assert again["startedAt"] == live["startedAt"] and int(again["viewersLetIn"]) == 0
    finally:
        await guest_live.disconnect()


async def test_a_token_minted_backstage_sees_the_show_when_it_connects_after_going_live(
    door: ShowClient, backstage: Backstage, lkapi: api.LiveKitAPI
) -> None:
    room = backstage.room
    early = await door.as_(None).join(room, "late-1", "viewer")
    assert claims(early["token"])["video"]["canSubscribe"] is False
    await backstage.host.go_live(room)
    late = await LiveParticipant("late-1").connect(early["wsUrl"], early["token"])
    try:
        # Its join is reported by LiveKit's webhook, and the live show's grants follow.
        await late.wait_for(lambda: heard(late, "host-1"), label="the late viewer hears the host")
        found = await livekit_participant(lkapi, room, "late-1")
        assert found is not None and found.permission.can_subscribe and not found.permission.can_publish
    finally:
        await late.disconnect()


async def test_ending_the_show_disconnects_everyone_and_locks_it(
    door: ShowClient, backstage: Backstage, lkapi: api.LiveKitAPI
) -> None:
    show, room = backstage, backstage.room
    started = await show.host.go_live(room)
    await show.host.appoint_moderator(room, "viewer-1")
    moderator = door.as_((await show.viewer.join(room, "viewer-1", "viewer"))["token"])
    expect_refusal(await refused(moderator.end_show(room)), "PERMISSION_DENIED", "Only the host can end the show")

    ended = await show.host.end_show(room)
    assert ended["state"] == "SHOW_STATE_ENDED" and int(ended["endedAt"]) >= int(started["startedAt"])
    for who in (show.host_live, show.viewer_live):
        await who.wait_for(_disconnected(who), label="disconnected")
    assert room not in await livekit_rooms(lkapi)

    # Locked: no new token, whoever asks.
    for asking, role in ((door.as_(None), "viewer"), (show.admin, "host")):
        expect_refusal(
            await refused(asking.join(room, f"{role}-again", role)), "FAILED_PRECONDITION", errors.SHOW_ENDED
        )
    expect_refusal(await refused(show.admin.go_live(room)), "FAILED_PRECONDITION", errors.SHOW_ENDED)
    # The host hears why, as the admin does: not that only the host may (it was).
    expect_refusal(await refused(show.host.go_live(room)), "FAILED_PRECONDITION", errors.SHOW_ENDED)
    expect_refusal(await refused(show.host.settings(room, 2)), "FAILED_PRECONDITION", errors.SHOW_ENDED)
    # Readable: the state and when it started and ended, for anyone of the show.
    described = await show.viewer.get_room(room)
    assert described["state"] == "SHOW_STATE_ENDED" and described["startedAt"] == started["startedAt"]
    assert described["endedAt"] == ended["endedAt"] and described["hasHost"] is False
    # Ending it again (the host's own token still may) changes nothing.
    assert (await show.host.end_show(room))["endedAt"] == ended["endedAt"]
    # Its history stays readable too, with the state changes in order.
    kinds = [e["type"] for e in (await show.host.history(room, 200, ""))["entries"]]
    assert [k for k in kinds if k.startswith("show_")] == ["show_live", "show_ended"]
    assert kinds.index("moderator_appointed") < kinds.index("show_ended")

    # A token issued for the show still passes LiveKit (it cannot revoke tokens): the service
    # closes the room it opens as soon as LiveKit reports the join.
    comeback = LiveParticipant("viewer-1")
    try:
        await comeback.connect(show.ws_url, show.viewer_token, until_listed=False)
        await comeback.wait_for(
            lambda: any(kind == "disconnected" for kind, _ in comeback.events), label="the comeback is closed"
        )
        for _ in range(100):
            if room not in await livekit_rooms(lkapi):
                break
            await asyncio.sleep(0.1)
        assert room not in await livekit_rooms(lkapi)
        assert (await show.admin.get_room(room))["state"] == "SHOW_STATE_ENDED"
    finally:
        await comeback.disconnect()


async def test_a_service_may_open_shows_live_for_clients_that_know_no_go_live(
    livekit: LiveKitDevServer, room: str
) -> None:
    opened_live = start_service(livekit, SHOW_OPENS="live")
    door = GrpcClient(opened_live.grpc_address)
    try:
        joined = await door.as_(admin_token(room)).join(room, "host-1", "host")
        assert joined["state"] == "SHOW_STATE_LIVE"
        viewer = await door.as_(None).join(room, "viewer-1", "viewer")
        assert claims(viewer["token"])["video"]["canSubscribe"] is True
        assert (await door.as_(admin_token(room)).get_room(room))["state"] == "SHOW_STATE_LIVE"
    finally:
        await door.close()
        opened_live.stop()


async def test_an_audience_an_instance_left_waiting_is_let_in_by_the_reconciler(tmp_path: Path, room: str) -> None:
    """The instance that took the show live died before it let the audience in: the record says
    live, with the release due; a reconciler's pass after the deadline lets the viewers in, as
    LiveKit's own view shows, and tells the room the show is live (the dead instance never did),
    once, kept in the history as done by whoever took it live. The core runs in process on a
    LiveKit of its own, whose webhooks go nowhere (the suite's service would otherwise judge this
    room by its own record)."""
    livekit = LiveKitDevServer(api_key=API_KEY, api_secret=API_SECRET, log_path=tmp_path / "livekit.log").start()
    lkapi = api.LiveKitAPI(livekit.http_url, API_KEY, API_SECRET)
    clock = ManualClock(start=time.time())
    stage = LiveKitStage(livekit.url, API_KEY, API_SECRET)
    store = MemoryRecords(change_seconds=10)
    core = ShowCore(stage, store, clock, ShowRules(), page_tokens=PageTokens(page_key(API_SECRET)))
    host = LiveParticipant("host-1")
    viewer = LiveParticipant("viewer-1")
    try:
        assert await store.claim_host(room, "host-1", "host-1", clock.now(), 60)
        await stage.open_room(room)
        await host.connect(livekit.url, stage.mint_token(room, "host-1", "host-1", Presence(Role.HOST)))
        await host.publish_microphone()
        waiting = Presence(Role.VIEWER, waiting=True)
        await viewer.connect(livekit.url, stage.mint_token(room, "viewer-1", "viewer-1", waiting))

        went, _ = await store.go_live(room, clock.now(), "host-1")  # and the instance dies here
        assert went
        assert "released" not in {a.kind for a in await core.reconciler.reconcile(room)}  # not due yet
        found = await livekit_participant(lkapi, room, "viewer-1")
        assert found is not None and not found.permission.can_subscribe

        clock.advance(11)
        actions = await core.reconciler.reconcile(room)
        assert [a.detail for a in actions if a.kind == "released"] == ["1 viewers"]
        found = await livekit_participant(lkapi, room, "viewer-1")
        assert found is not None and found.permission.can_subscribe and not found.permission.can_publish
        await viewer.wait_for(lambda: heard(viewer, "host-1"), label="the viewer hears the host")
        assert (await store.stage(room, clock.now())).life.release_due == 0
        await viewer.wait_for(lambda: said_live(viewer) == 1, label="the viewer hears show_live")
        assert "released" not in {a.kind for a in await core.reconciler.reconcile(room)}  # done once
        admin = Caller(room=room, admin=True)
        kept = await core.list_show_events(pb.ListShowEventsRequest(room_name=room), admin)
        assert [(e.type, e.actor_identity) for e in kept.entries] == [("show_live", "host-1")]
        await asyncio.sleep(0.5)
        assert said_live(viewer) == 1 and said_live(host) == 1
    finally:
        await viewer.disconnect()
        await host.disconnect()
        await stage.close()
        await lkapi.aclose()
        livekit.stop()


async def test_a_promotion_in_flight_when_the_show_ends_puts_nothing_back_into_it(tmp_path: Path, room: str) -> None:
    """An invitation took a viewer with a raised hand on stage in the record; before LiveKit was
    told, the show ended and its room closed. LiveKit refuses the promotion and the call undoes
    it, which must not give the ended show its raised hand back: the ended show reads as ended.
    In process, on a LiveKit of the test's own (as above)."""
    livekit = LiveKitDevServer(api_key=API_KEY, api_secret=API_SECRET, log_path=tmp_path / "livekit.log").start()
    clock = ManualClock(start=time.time())
    stage = LiveKitStage(livekit.url, API_KEY, API_SECRET)
    store = MemoryRecords()
    core = ShowCore(stage, store, clock, ShowRules(), page_tokens=PageTokens(page_key(API_SECRET)))
    admin = Caller(room=room, admin=True)
    try:
        assert await store.claim_host(room, "host-1", "host-1", clock.now(), 60)
        await stage.open_room(room)
        await store.set_hand(room, "viewer-1", True, clock.now(), 1)
        # The invitation's step, leaving its promotion (p1) pending.
        seating = await store.invite(room, "viewer-1", clock.now(), 60, 1, "host-1", change_id="p1")
        assert seating.promoted
        ended = await core.end_show(pb.EndShowRequest(room_name=room), admin)  # meanwhile, the show ends
        with pytest.raises(errors.ShowError):
            await core._go_on_stage(room, "viewer-1", seating.before, "host-1", "p1", None)  # LiveKit's room is gone
        described = (await core.get_room(pb.GetRoomRequest(room_name=room), admin)).room
        assert (described.state, described.ended_at) == (pb.SHOW_STATE_ENDED, ended.ended_at)
        assert (described.raised_hands, list(described.guests), described.has_guest) == (0, [], False)
        kept = await core.list_show_events(pb.ListShowEventsRequest(room_name=room), admin)
        assert [e.type for e in kept.entries] == ["show_ended"]
    finally:
        await stage.close()
        livekit.stop()
