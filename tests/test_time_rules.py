"""Rules that depend on time, run on the core itself with an injected clock (no sleeping) against
the real LiveKit server: invitations expire, a host who never connects stops blocking the room,
tokens expire, rate-limit windows reopen."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from google.protobuf.message import Message
from livekit import api
from showrunner.v1 import show_service_pb2 as pb

from service.core.auth import Authenticator
from service.core.caller import Caller, Credentials
from service.core.clock import ManualClock, SystemClock
from service.core.errors import Code, ShowError
from service.core.limits import Limit, MemoryLimiter, RatePolicy
from service.core.pages import PageTokens, page_key
from service.core.reconciler import Action, MemoryLeases, ReconcileRules
from service.core.record import Connection, Phase
from service.core.show import ShowCore, ShowRules
from service.dev.livekit_server import LiveKitDevServer
from service.gateway.livekit import LiveKitStage
from service.interceptors.build import Endpoint, chain, endpoints
from service.observability.metrics import Metrics
from service.stores.memory_record import MemoryRecords
from tests.conftest import API_KEY, API_SECRET, admin_token
from tests.live import LiveParticipant


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=time.time())


class Core:
    """The core behind the service's own interceptor chain, called in process."""

    def __init__(self, served: tuple[Endpoint[Any, Any], ...]) -> None:
        self._served = {endpoint.name: endpoint for endpoint in served}

    async def handle(self, rpc: str, request: Message, credentials: Credentials) -> Message:
        headers = {"authorization": credentials.authorization} if credentials.authorization else {}
        answer: Message = await self._served[rpc].serve("test", request, headers, credentials.address)
        return answer


@pytest.fixture
async def core(livekit: LiveKitDevServer, clock: ManualClock) -> AsyncIterator[Core]:
    stage = LiveKitStage(livekit.url, API_KEY, API_SECRET)
    rules = ShowRules(
        invitation_seconds=60,
        host_claim_seconds=30,
        rates=RatePolicy(join=Limit(3, 60), invite=Limit(100, 60), hand=Limit(100, 60), other=Limit(100, 60)),
    )
    store = MemoryRecords()
    yield served(
        ShowCore(stage, store, clock, rules, page_tokens=PageTokens(page_key(API_SECRET))), store, clock, rules
    )
    await stage.close()


def served(show: ShowCore, store: MemoryRecords, clock: ManualClock, rules: ShowRules) -> Core:
    """`show` behind the service's own chain, with the store and clock it was made with."""
    metrics = Metrics()
    auth = Authenticator(API_KEY, API_SECRET, clock)
    return Core(endpoints(show, chain(auth, store, MemoryLimiter(), rules.rates, clock, metrics, metrics)))


def bearer(token: str) -> Credentials:
    return Credentials(authorization=f"Bearer {token}", address="10.0.0.1")


async def refused(call: object) -> ShowError:
    with pytest.raises(ShowError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def join(core: Core, room: str, who: str, role: int, token: str | None = None) -> pb.JoinRoomResponse:
    request = pb.JoinRoomRequest(room_name=room, participant_name=who, role=role)  # type: ignore[arg-type]
    credentials = bearer(token) if token else Credentials(address="10.0.0.1")
    reply = await core.handle("JoinRoom", request, credentials)
    assert isinstance(reply, pb.JoinRoomResponse)
    return reply


async def test_an_unanswered_invitation_expires(core: Core, clock: ManualClock, room: str) -> None:
    host = await join(core, room, "host", pb.ROLE_HOST, admin_token(room))
    viewer = await join(core, room, "ann", pb.ROLE_VIEWER)
    ann = await LiveParticipant("ann").connect(viewer.ws_url, viewer.token)
    try:
        invite = pb.InviteGuestRequest(room_name=room, viewer_identity="ann", host_identity="host")
        await core.handle("InviteGuest", invite, bearer(host.token))
        clock.advance(61)
        accept = pb.AcceptInvitationRequest(room_name=room, viewer_identity="ann")
        error = await refused(core.handle("AcceptInvitation", accept, bearer(viewer.token)))
        assert (error.code, error.message) == (Code.NOT_FOUND, "No pending invitation for ann")
        await core.handle("InviteGuest", invite, bearer(host.token))
        clock.advance(59)
        promoted = await core.handle("AcceptInvitation", accept, bearer(viewer.token))
        assert isinstance(promoted, pb.AcceptInvitationResponse) and promoted.token
    finally:
        await ann.disconnect()


async def test_a_host_who_never_connects_stops_blocking_the_room(core: Core, clock: ManualClock, room: str) -> None:
    await join(core, room, "absent-host", pb.ROLE_HOST, admin_token(room))
    error = await refused(join(core, room, "new-host", pb.ROLE_HOST, admin_token(room)))
    assert (error.code, error.message) == (Code.ALREADY_EXISTS, "Room already has a host")
    clock.advance(31)
    took_over = await join(core, room, "new-host", pb.ROLE_HOST, admin_token(room))
    assert took_over.role == pb.ROLE_HOST


async def test_a_connected_host_keeps_the_room_however_long(core: Core, clock: ManualClock, room: str) -> None:
    host = await join(core, room, "present-host", pb.ROLE_HOST, admin_token(room))
    person = await LiveParticipant("present-host").connect(host.ws_url, host.token)
    try:
        clock.advance(3600)
        error = await refused(join(core, room, "usurper", pb.ROLE_HOST, admin_token(room, ttl=7200)))
        assert error.code is Code.ALREADY_EXISTS  # LiveKit says the host is there
    finally:
        await person.disconnect()


async def test_tokens_expire_by_the_services_clock(core: Core, clock: ManualClock, room: str) -> None:
    short = api.AccessToken(API_KEY, API_SECRET).with_grants(api.VideoGrants(room_admin=True, room=room))
    token = short.with_ttl(timedelta(seconds=60)).to_jwt()
    await join(core, room, "host", pb.ROLE_HOST, token)
    clock.advance(60 + 11)  # past expiry and the 10 s leeway
    error = await refused(core.handle("GetRoom", pb.GetRoomRequest(room_name=room), bearer(token)))
    assert (error.code, error.message) == (Code.UNAUTHENTICATED, "token has expired")


async def test_rate_limit_windows_reopen(core: Core, clock: ManualClock, room: str) -> None:
    for i in range(3):
        await join(core, room, f"v{i}", pb.ROLE_VIEWER)
    error = await refused(join(core, room, "v3", pb.ROLE_VIEWER))
    assert error.code is Code.RESOURCE_EXHAUSTED and error.retry_after is not None and 1 <= error.retry_after <= 60
    clock.advance(error.retry_after)
    await join(core, room, "v3", pb.ROLE_VIEWER)


async def test_a_show_that_writes_nothing_for_longer_than_the_idle_time_keeps_its_record(
    livekit: LiveKitDevServer, clock: ManualClock, room: str
) -> None:
    """A long show whose stage stays as it is writes nothing to its record (viewers coming and
    going write nothing), yet it is neither ended nor abandoned: while LiveKit has its room, the
    reconciler's passes keep the record, its host's seat and its bans, past the idle time."""
    stage, store, rules = LiveKitStage(livekit.url, API_KEY, API_SECRET), MemoryRecords(idle_seconds=600), ShowRules()
    show = ShowCore(stage, store, clock, rules, page_tokens=PageTokens(page_key(API_SECRET)))
    core = served(show, store, clock, rules)
    host = await join(core, room, "host", pb.ROLE_HOST, admin_token(room))
    person = await LiveParticipant("host").connect(host.ws_url, host.token)
    try:
        await store.ban(room, "troll", clock.now(), None)
        await show.reconciler.reconcile(room)  # takes in the host's connection: the last write
        for _ in range(4):  # 1,200 s with nothing written
            clock.advance(300)
            await show.reconciler.reconcile(room)
        record = await store.stage(room, clock.now())
        assert (record.host is not None and record.host.identity, record.bans) == ("host", 1)
        error = await refused(join(core, room, "troll", pb.ROLE_VIEWER))
        assert error.code is Code.PERMISSION_DENIED
        # Once LiveKit has the room no more, nothing keeps the record: it goes with its idle time.
        await person.disconnect()
        await stage.close_room(room)
        clock.advance(300)
        await show.reconciler.reconcile(room)
        clock.advance(301)
        assert (await store.stage(room, clock.now())).lost
    finally:
        await person.disconnect()
        await stage.close()


async def test_a_show_whose_livekit_room_went_with_its_finish_unheard_is_retired(
    livekit: LiveKitDevServer, clock: ManualClock, room: str
) -> None:
    """The host left and its seat was freed, then LiveKit closed the empty room and its
    room_finished was lost (this core hears no webhooks at all). The record holds nobody, but it
    still holds the show: live, its room's sid, its history. The reconciler retires it, so the
    next show under the name opens backstage with a history of its own."""
    stage, store, rules = LiveKitStage(livekit.url, API_KEY, API_SECRET), MemoryRecords(), ShowRules()
    show = ShowCore(stage, store, clock, rules, page_tokens=PageTokens(page_key(API_SECRET)))
    core = served(show, store, clock, rules)
    try:
        host = await join(core, room, "host", pb.ROLE_HOST, admin_token(room))
        await core.handle("GoLive", pb.GoLiveRequest(room_name=room), bearer(host.token))
        await store.forget(room, "host", clock.now())  # the seat freed once the grace window passed
        await stage.close_room(room)  # LiveKit closes the empty room; its room_finished is lost
        assert (await store.stage(room, clock.now())).phase is Phase.LIVE
        await show.reconciler.reconcile(room)
        assert (await store.stage(room, clock.now())).lost
        again = await join(core, room, "host-2", pb.ROLE_HOST, admin_token(room))
        assert again.state == pb.SHOW_STATE_BACKSTAGE
        assert [e.target for e in await store.history(room, 0, 10, clock.now())] == ["host-2"]
    finally:
        await stage.close()


async def test_nudges_however_many_leave_the_passes_their_time(livekit: LiveKitDevServer, room: str) -> None:
    """Calls nudge the reconciler at rooms they found amiss (a steady stream under load): those
    rooms get their passes at once, and the scheduled passes and sweeps still come every interval,
    which are what finish overdue changes and find a lost record."""
    stage = LiveKitStage(livekit.url, API_KEY, API_SECRET)
    rules = ReconcileRules(interval_seconds=0.1)
    show = ShowCore(
        stage, MemoryRecords(), SystemClock(), reconcile=rules, page_tokens=PageTokens(page_key(API_SECRET))
    )
    reconciler, passes = show.reconciler, Counter[str]()
    for kind in ("scheduled", "sweep"):
        run = getattr(reconciler, kind)

        async def counted(run: Callable[[], Awaitable[object]] = run, kind: str = kind) -> object:
            passes[kind] += 1
            return await run()

        setattr(reconciler, kind, counted)
    reconciler.start()
    try:
        for _ in range(75):  # 1.5 s of a nudge every 20 ms, 15 intervals
            reconciler.nudge(room)
            await asyncio.sleep(0.02)
        assert passes["scheduled"] + passes["sweep"] >= 5, passes  # the start's sweep, and the passes
    finally:
        await reconciler.stop()
        await stage.close()


async def test_a_scheduled_pass_looks_back_at_least_two_intervals(livekit: LiveKitDevServer, room: str) -> None:
    """With the interval set past the two minutes a scheduled pass looks back by default, a room
    written to just after one pass still gets the next (before, only the hourly sweep)."""
    clock = ManualClock(start=time.time())
    stage = LiveKitStage(livekit.url, API_KEY, API_SECRET)
    store = MemoryRecords()
    rules = ReconcileRules(interval_seconds=300)
    show = ShowCore(stage, store, clock, reconcile=rules, page_tokens=PageTokens(page_key(API_SECRET)))
    seen: list[str] = []

    async def pass_over(rooms: Any) -> list[Action]:
        seen.extend(rooms)
        return []

    show.reconciler.pass_over = pass_over  # type: ignore[method-assign]
    try:
        await store.set_hand(room, "vic", True, clock.now(), 1)
        clock.advance(299)  # the next scheduled pass, one interval after the last
        await show.reconciler.scheduled()
        assert room in seen
        seen.clear()
        clock.advance(302)  # written more than two intervals ago: the sweeps' then
        await show.reconciler.scheduled()
        assert room not in seen
    finally:
        await stage.close()


async def test_a_room_whose_pass_fails_holds_up_no_other(
    livekit: LiveKitDevServer, monkeypatch: pytest.MonkeyPatch, room: str
) -> None:
    """A pass over rooms goes over each even when one fails (LiveKit refusing it, a record a newer
    version wrote): the rooms after it still get theirs."""
    stage = LiveKitStage(livekit.url, API_KEY, API_SECRET)
    show = ShowCore(stage, MemoryRecords(), SystemClock(), page_tokens=PageTokens(page_key(API_SECRET)))
    reconciler, seen = show.reconciler, list[str]()
    real = reconciler.reconcile

    async def reconcile(name: str) -> list[Action]:
        seen.append(name)
        if name.endswith("-b"):
            raise ShowError(Code.UNAVAILABLE, "LiveKit said no")
        return await real(name)

    monkeypatch.setattr(reconciler, "reconcile", reconcile)
    try:
        await reconciler.pass_over([f"{room}-c", f"{room}-a", f"{room}-b"])
        assert seen == [f"{room}-a", f"{room}-b", f"{room}-c"]
    finally:
        await stage.close()


async def test_a_seat_holders_absence_is_kept_in_the_record_for_whichever_instance_passes(
    livekit: LiveKitDevServer, room: str, clock: ManualClock
) -> None:
    """Instance A hears the host leave and dies before the grace window ends. Instance B, whose
    first pass over the room comes after the window, frees the seat in that pass: the window ran
    from the leave A heard (kept in the record), not from B's own first look (a window more)."""
    stage, store = LiveKitStage(livekit.url, API_KEY, API_SECRET), MemoryRecords()
    rules = ShowRules(host_claim_seconds=30)

    def instance() -> ShowCore:
        return ShowCore(stage, store, clock, rules, page_tokens=PageTokens(page_key(API_SECRET)))

    heard, passing = instance(), instance()
    try:
        await heard.join_room(
            pb.JoinRoomRequest(room_name=room, participant_name="host", role=pb.ROLE_HOST),
            Caller(room=room, admin=True),
        )
        clock.advance(rules.host_claim_seconds + 1)  # its claim window is over: only the absence counts
        left_at = clock.now()
        await heard.reconciler.dropped(room, "host", Connection("", 0), left_at)  # its participant_left, on A
        [host] = (await store.stage(room, clock.now())).seats
        assert host.away == round(left_at * 1000)
        clock.advance(rules.reconnect_grace_seconds / 2)
        await heard.reconciler.dropped(room, "host", Connection("", 0), clock.now())  # heard again: the first stays
        assert (await store.stage(room, clock.now())).host == host
        assert await passing.reconciler.reconcile(room) == []  # within the window: kept
        clock.advance(rules.reconnect_grace_seconds / 2 + 0.01)
        assert await passing.reconciler.reconcile(room) == [Action("freed", "host", "host")]
        assert (await store.stage(room, clock.now())).host is None
    finally:
        await stage.close()


async def test_a_publishing_agent_has_the_room_listed_once_not_every_pass(livekit: LiveKitDevServer, room: str) -> None:
    """LiveKit counts an agent (or an ingress) among the room's publishers, and the record has no
    seat for it: a pass lists the room to look for strangers and finds none, and the passes after
    it, with the same counts, do not list the whole audience again."""
    listings = Counter[str]()
    stage = LiveKitStage(  # rooms always asked for: each pass sees LiveKit's count of publishers
        livekit.url,
        API_KEY,
        API_SECRET,
        observe=lambda method, outcome, s: listings.update([method]),
        room_cache_seconds=0,
    )
    show = ShowCore(stage, MemoryRecords(), SystemClock(), page_tokens=PageTokens(page_key(API_SECRET)))
    caller = Caller(room=room, admin=True)
    await show.join_room(pb.JoinRoomRequest(room_name=room, participant_name="host", role=pb.ROLE_HOST), caller)
    grants = api.VideoGrants(room_join=True, room=room, can_publish=True, can_subscribe=True, agent=True)
    token = api.AccessToken(API_KEY, API_SECRET).with_identity("agent-1").with_kind("agent").with_grants(grants)
    agent = await LiveParticipant("agent-1").connect(livekit.url, token.to_jwt())
    try:
        await agent.publish_microphone()
        async with api.LiveKitAPI(livekit.http_url, API_KEY, API_SECRET) as lkapi:
            await until_publishers(lkapi, room, 1)
        listings.clear()
        for _ in range(5):
            await show.reconciler.reconcile(room)
        assert listings["ListRooms"] == 5 and listings["ListParticipants"] == 1, listings
        seen = await stage.find_participant(room, "agent-1")
        assert seen is not None and seen.permission.can_publish  # nobody's stranger
    finally:
        await agent.disconnect()
        await stage.close()


async def until_publishers(lkapi: api.LiveKitAPI, room: str, count: int) -> None:
    for _ in range(100):
        rooms = (await lkapi.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms
        if rooms and rooms[0].num_publishers >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"LiveKit never counted {count} publishers in {room}")


async def test_a_long_pass_keeps_its_lease_so_no_other_instance_reconciles_the_room_beside_it(
    livekit: LiveKitDevServer, monkeypatch: pytest.MonkeyPatch, room: str
) -> None:
    """Two instances sharing their leases: a pass that outlasts one lease (many LiveKit calls on a
    slow LiveKit) takes it again as it goes, so the other instance's pass over the same room,
    started meanwhile, does nothing; once it is done the room is free again."""
    stage, clock = LiveKitStage(livekit.url, API_KEY, API_SECRET), SystemClock()
    leases, rules = MemoryLeases(clock), ReconcileRules(lease_seconds=0.3)
    first, second = (
        ShowCore(
            stage, MemoryRecords(), clock, leases=leases, reconcile=rules, page_tokens=PageTokens(page_key(API_SECRET))
        ).reconciler
        for _ in range(2)
    )
    passes: list[str] = []

    async def slow(room: str) -> list[Action]:
        passes.append("first")
        await asyncio.sleep(1.0)  # more than three leases
        return []

    async def quick(room: str) -> list[Action]:
        passes.append("second")
        return []

    monkeypatch.setattr(first, "_converge", slow)
    monkeypatch.setattr(second, "_converge", quick)
    try:
        long_pass = asyncio.ensure_future(first.reconcile(room))
        await asyncio.sleep(0.7)
        assert await second.reconcile(room) == [] and passes == ["first"]
        await long_pass
        await second.reconcile(room)
        assert passes == ["first", "second"]
    finally:
        await stage.close()
