"""People who come back, with real participants on the real LiveKit server: a host or guest whose
connection drops and who reconnects within the reconnect grace window is back in its seat with
its permissions (as LiveKit itself reports them), whether it reconnects with the token it had or
with a fresh JoinRoom; a host who does not come back loses the seat; and a banned participant who
reconnects with a token it still holds is removed again even when LiveKit's webhook about its
join is lost.

Each test runs its own LiveKit and service (see tests/test_convergence.py), with a reconnect
grace window long enough to look at the held seat before it ends."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from livekit import api
from livekit.protocol import models as lk

from service.core import errors
from service.core.clock import SystemClock
from service.core.pages import PageTokens, page_key
from service.core.ports import Presence
from service.core.reconciler import HANDS_PER_PASS, Action, Reconciler, ReconcileRules
from service.core.roles import Role
from service.core.show import ShowCore
from service.dev.livekit_server import LiveKitDevServer, free_port
from service.gateway.livekit import LiveKitStage
from service.stores.memory_record import MemoryRecords
from tests.conftest import API_KEY, API_SECRET, admin_token, start_service
from tests.doors import Refused, ShowClient
from tests.live import LiveParticipant, gone_from_livekit, leave_livekit, until
from tests.test_convergence import FAST, Stack, agree_within, livekit_api, open_show, stack, viewer
from tests.test_metrics import Samples, scrape, value
from tests.test_room_cache import Calls
from tests.test_show_through_every_door import claims

GRACE = 6  # seconds a host or guest who dropped keeps its seat here


@dataclass
class Show:
    """A show on a stack of the test's own: its host connected to LiveKit, and everyone the test
    connects, disconnected when the test ends."""

    stack: Stack
    room: str
    door: ShowClient
    host_token: str
    host_live: LiveParticipant
    people: list[LiveParticipant] = field(default_factory=list)

    @property
    def admin(self) -> ShowClient:
        return self.door.as_(admin_token(self.room))

    @property
    def host(self) -> ShowClient:
        return self.door.as_(self.host_token)

    async def viewer(self, name: str) -> tuple[ShowClient, LiveParticipant]:
        as_viewer, live = await viewer(self.door, self.room, name)
        self.people.append(live)
        return as_viewer, live

    async def connect(self, identity: str, ws_url: str, token: str, *, until_listed: bool = True) -> LiveParticipant:
        live = LiveParticipant(identity)
        self.people.append(live)
        return await live.connect(ws_url, token, until_listed=until_listed)


@asynccontextmanager
async def show_on(made: Stack, room: str) -> AsyncIterator[Show]:
    door = made.client()
    host_token, host_live = await open_show(door, room)
    show = Show(made, room, door, host_token, host_live, [host_live])
    try:
        yield show
    finally:
        for person in show.people:
            await person.disconnect()
        await door.close()


@pytest.fixture
async def held(tmp_path: Path, room: str) -> AsyncIterator[Show]:
    """A show on a LiveKit and service of the test's own, with a reconnect grace window of GRACE
    seconds."""
    made = stack(tmp_path, SHOW_RECONNECT_GRACE_SECONDS=str(GRACE))
    try:
        async with show_on(made, room) as show:
            yield show
    finally:
        made.service.stop()
        made.livekit.stop()


async def seen_by_livekit(lkapi: api.LiveKitAPI, room: str, identity: str) -> tuple[str, bool] | None:
    """The participant's role attribute and whether it may publish, as LiveKit's own
    ListParticipants reports them; None if LiveKit does not have it connected."""
    listed = (await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))).participants
    found = next((p for p in listed if p.identity == identity), None)
    return (found.attributes.get("role", ""), found.permission.can_publish) if found is not None else None


async def seen_is(lkapi: api.LiveKitAPI, room: str, identity: str, expected: tuple[str, bool]) -> bool:
    return await seen_by_livekit(lkapi, room, identity) == expected


async def drop(lkapi: api.LiveKitAPI, show: Show, live: LiveParticipant) -> float:
    """`live`'s connection ends; answers when (monotonic), once LiveKit has seen it go."""
    return await leave_livekit(lkapi, show.room, live)


async def past_the_window(dropped: float) -> None:
    """Waits until the grace window counted from `dropped` is over, and a pass after it."""
    await asyncio.sleep(max(0.0, dropped + GRACE + 1.5 - time.monotonic()))


async def disconnected(live: LiveParticipant, timeout: float = 10.0) -> None:
    events = live.events
    await live.wait_for(lambda: any(kind == "disconnected" for kind, _ in events), timeout, f"{live.identity} out")


async def test_a_host_who_drops_keeps_its_seat_for_the_grace_window_and_comes_back_to_it(held: Show) -> None:
    show, room, admin = held, held.room, held.admin
    _, vee = await show.viewer("vee")  # the audience hears of the host's leaving
    async with livekit_api(show.stack.livekit) as lkapi:
        await show.host_live.publish_microphone()
        ws_url = (await show.host.join(room, "host-1", "host"))["wsUrl"]

        # The connection drops: the seat is held, nobody else may take it, and the show goes on.
        dropped = await drop(lkapi, show, show.host_live)
        assert (await admin.get_room(room))["hasHost"] is True
        with pytest.raises(Refused) as taken:
            await admin.join(room, "host-2", "host")
        assert (taken.value.code, taken.value.message) == ("ALREADY_EXISTS", "Room already has a host")

        # Back with the token it had, within the window: in its seat once the window is over.
        again = await show.connect("host-1", ws_url, show.host_token)
        await again.publish_microphone()
        await past_the_window(dropped)
        assert (await admin.get_room(room))["hasHost"] is True
        assert await seen_by_livekit(lkapi, room, "host-1") == ("host", True)
        await agree_within(admin, lkapi, room)

        # Drops again, and comes back through a fresh JoinRoom with its own token (the room's admin
        # could give it one as well).
        dropped = await drop(lkapi, show, again)
        assert (await admin.join(room, "host-1", "host"))["role"] == "host"
        ticket = await show.host.join(room, "host-1", "host")
        assert (ticket["role"], ticket["identity"]) == ("host", "host-1")
        fresh = await show.connect("host-1", ticket["wsUrl"], ticket["token"])
        await fresh.publish_microphone()
        await past_the_window(dropped)
        assert (await admin.get_room(room))["hasHost"] is True
        assert await seen_by_livekit(lkapi, room, "host-1") == ("host", True)
        await agree_within(admin, lkapi, room)
        assert not any(e["type"] == "host_left" for e in vee.show_events)

        # Gone for good: the seat is held until the window ends, then freed, the room hears that
        # its host left, and a new host may take the seat.
        dropped = await drop(lkapi, show, fresh)
        assert (await admin.get_room(room))["hasHost"] is True
        await vee.wait_for(lambda: any(e["type"] == "host_left" for e in vee.show_events), GRACE + 10.0, "host_left")
        assert time.monotonic() - dropped >= GRACE - 0.5  # not before the window ended
        assert (await admin.get_room(room))["hasHost"] is False
        assert (await admin.join(room, "host-2", "host"))["role"] == "host"
        # Back too late with the host's token it still holds: LiveKit lets it in as that token
        # says, and the service brings it to what it is now, a viewer.
        await show.connect("host-1", ws_url, show.host_token)
        await until(lambda: seen_is(lkapi, room, "host-1", ("viewer", False)), 10.0, "the late host made a viewer")
        assert (await admin.get_room(room))["hasHost"] is True  # host-2's seat


# LiveKit closes a room this long after its last participant left, unless the room says otherwise.
LIVEKIT_DEPARTURE_TIMEOUT = 20


async def test_a_host_alone_in_its_room_comes_back_to_it_after_livekit_would_have_closed_it(
    tmp_path: Path, room: str
) -> None:
    """With the service's default grace window (30 s), longer than LiveKit's own departure timeout:
    a host alone in its room (no audience yet) drops, and comes back with its token after LiveKit
    would have closed the empty room. The room and the host's seat are still there."""
    made = stack(tmp_path, SHOW_RECONNECT_GRACE_SECONDS="30")
    try:
        async with show_on(made, room) as show, livekit_api(made.livekit) as lkapi:
            ws_url = (await show.host.join(room, "host-1", "host"))["wsUrl"]
            incarnation = (await show.admin.get_room(room))["sid"]
            dropped = await drop(lkapi, show, show.host_live)
            await asyncio.sleep(max(0.0, dropped + LIVEKIT_DEPARTURE_TIMEOUT + 3 - time.monotonic()))
            assert [r.sid for r in (await lkapi.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms] == [
                incarnation
            ]
            again = await show.connect("host-1", ws_url, show.host_token)
            await again.publish_microphone()
            await until(lambda: seen_is(lkapi, room, "host-1", ("host", True)), 5.0, "host back on LiveKit")
            described = await show.admin.get_room(room)
            assert (described["hasHost"], described["sid"]) == (True, incarnation)
            await agree_within(show.admin, lkapi, room)
    finally:
        made.service.stop()
        made.livekit.stop()


async def test_a_host_whose_connection_dropped_ends_its_show_within_the_grace_window(held: Show) -> None:
    show, room = held, held.room
    as_vee, vee = await show.viewer("vee")
    async with livekit_api(show.stack.livekit) as lkapi:
        await drop(lkapi, show, show.host_live)
        with pytest.raises(Refused) as refused:
            await as_vee.delete_room(room)
        assert (refused.value.code, refused.value.message) == ("PERMISSION_DENIED", "Only the host can end the show")
        await show.host.delete_room(room)
        await disconnected(vee)
        assert room not in {r.name for r in (await lkapi.room.list_rooms(api.ListRoomsRequest())).rooms}


async def test_a_guest_who_drops_and_joins_again_as_a_viewer_within_the_grace_window_keeps_the_stage(
    held: Show,
) -> None:
    show, room, admin = held, held.room, held.admin
    as_guest, guest_live = await show.viewer("guest-1")
    async with livekit_api(show.stack.livekit) as lkapi:
        await as_guest.hand(room, "guest-1", True)
        assert (await show.host.invite(room, "guest-1", "host-1"))["promoted"] is True
        dropped = await drop(lkapi, show, guest_live)
        assert (await admin.get_room(room))["guests"] == ["guest-1"]
        # The page reloads: a fresh JoinRoom through the viewer door, with the token the page
        # kept (the web app keeps it for the tab); the guest's name is nobody else's to ask for.
        with pytest.raises(Refused) as taken:
            await show.door.as_(None).join(room, "guest-1", "viewer")
        assert taken.value.code == "PERMISSION_DENIED"
        ticket = await as_guest.join(room, "guest-1", "viewer")
        assert ticket["role"] == "guest"
        again = await show.connect("guest-1", ticket["wsUrl"], ticket["token"])
        await again.publish_microphone()
        await past_the_window(dropped)
        assert (await admin.get_room(room))["guests"] == ["guest-1"]
        assert await seen_by_livekit(lkapi, room, "guest-1") == ("guest", True)
        await agree_within(admin, lkapi, room)


class WebhookGate:
    """Stands between LiveKit and the service: passes LiveKit's webhooks on while open; while
    closed it loses them, answering LiveKit as if delivered (so LiveKit does not send them again),
    and keeps what it lost for the test to see. The participant_left of an identity it is told
    to hold is kept back, as LiveKit signed it, until the test has it delivered (late)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.port = free_port()
        self.open = True
        self.lost: list[dict[str, Any]] = []
        self.holding: set[str] = set()
        self.held: list[tuple[bytes, dict[str, str]]] = []
        self._http = httpx.AsyncClient()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/livekit"

    async def start(self) -> WebhookGate:
        app = web.Application()
        app.router.add_post("/webhooks/livekit", self._pass)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self._http.aclose()

    async def _pass(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self.open:
            self.lost.append(json.loads(body))
            return web.Response(status=200)
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
        event = json.loads(body)
        if event.get("event") == "participant_left" and event.get("participant", {}).get("identity") in self.holding:
            self.held.append((body, headers))
            return web.Response(status=200)
        try:
            reply = await self._http.post(self.target, content=body, headers=headers)
        except httpx.HTTPError:
            return web.Response(status=502)
        return web.Response(status=reply.status_code, body=reply.content)

    async def deliver_held(self) -> int:
        """Delivers what was held back, as LiveKit sent it; how many."""
        for body, headers in self.held:
            reply = await self._http.post(self.target, content=body, headers=headers)
            assert reply.status_code == 200, reply.text
        return len(self.held)

    def lost_join_of(self, identity: str) -> bool:
        return self._lost("participant_joined", identity)

    def lost_leave_of(self, identity: str) -> bool:
        return self._lost("participant_left", identity)

    def _lost(self, event: str, identity: str) -> bool:
        return any(e.get("event") == event and e.get("participant", {}).get("identity") == identity for e in self.lost)


@pytest.fixture(params=["memory", "redis"])
async def gated(request: pytest.FixtureRequest, tmp_path: Path, room: str) -> AsyncIterator[tuple[Show, WebhookGate]]:
    """A show on a LiveKit of the test's own whose webhooks reach the service through a
    WebhookGate; the service keeps its record in memory or in Redis."""
    async with behind_a_gate(request, tmp_path, room, FAST) as made:
        yield made


@pytest.fixture(params=["memory", "redis"])
async def gated_held(
    request: pytest.FixtureRequest, tmp_path: Path, room: str
) -> AsyncIterator[tuple[Show, WebhookGate]]:
    """As `gated`, with a reconnect grace window of GRACE seconds."""
    async with behind_a_gate(request, tmp_path, room, {**FAST, "SHOW_RECONNECT_GRACE_SECONDS": str(GRACE)}) as made:
        yield made


@pytest.fixture(params=["memory", "redis"])
async def gated_at_once(
    request: pytest.FixtureRequest, tmp_path: Path, room: str
) -> AsyncIterator[tuple[Show, WebhookGate]]:
    """As `gated`, without a reconnect grace window (SHOW_RECONNECT_GRACE_SECONDS=0)."""
    async with behind_a_gate(request, tmp_path, room, {**FAST, "SHOW_RECONNECT_GRACE_SECONDS": "0"}) as made:
        yield made


@asynccontextmanager
async def behind_a_gate(
    request: pytest.FixtureRequest, tmp_path: Path, room: str, settings: dict[str, str]
) -> AsyncIterator[tuple[Show, WebhookGate]]:
    env = dict(settings)
    if request.param == "redis":
        env["SHOW_REDIS_URL"] = request.getfixturevalue("redis_server").url
    http_port = free_port()
    gate = await WebhookGate(f"http://127.0.0.1:{http_port}/webhooks/livekit").start()
    livekit = LiveKitDevServer(
        api_key=API_KEY, api_secret=API_SECRET, log_path=tmp_path / "livekit.log", webhook_urls=[gate.url]
    )
    try:
        livekit.start()
        made = Stack(livekit, http_port, env, start_service(livekit, SHOW_HTTP_PORT=str(http_port), **env))
        try:
            async with show_on(made, room) as show:
                yield show, gate
        finally:
            made.service.stop()
    finally:
        livekit.stop()
        await gate.stop()


async def test_banned_participants_back_with_old_tokens_are_removed_even_when_the_webhook_is_lost(
    gated: tuple[Show, WebhookGate],
) -> None:
    show, gate = gated
    room, door, admin = show.room, show.door, show.admin
    troll_ticket = await door.as_(None).join(room, "troll", "viewer")
    troll = await show.connect("troll", troll_ticket["wsUrl"], troll_ticket["token"])
    as_guest, guest_live = await show.viewer("guest-1")
    async with livekit_api(show.stack.livekit) as lkapi:
        await as_guest.hand(room, "guest-1", True)
        guest_token = (await show.host.invite(room, "guest-1", "host-1"))["token"]  # may publish
        await until(lambda: seen_is(lkapi, room, "troll", ("viewer", False)), 10.0, "troll connected")
        await until(lambda: seen_is(lkapi, room, "guest-1", ("guest", True)), 10.0, "guest-1 on stage")
        for banned, live in (("troll", troll), ("guest-1", guest_live)):
            await show.host.remove_participant(room, banned, ban=True)
            await disconnected(live)
        await agree_within(admin, lkapi, room)
        before = await scrape(show.stack.service)

        # LiveKit's webhooks are lost from now on: only the reconciler can notice the returns.
        gate.open = False
        back = [  # LiveKit lets them in ...
            await show.connect("troll", troll_ticket["wsUrl"], troll_ticket["token"], until_listed=False),
            await show.connect("guest-1", troll_ticket["wsUrl"], guest_token, until_listed=False),
        ]
        for live in back:  # ... and the service takes them out
            await disconnected(live, 8.0)
            assert live.events[-1] == ("disconnected", lk.DisconnectReason.PARTICIPANT_REMOVED)
            assert await gone_from_livekit(lkapi, room, live.identity)
            assert gate.lost_join_of(live.identity)  # the join the service never heard of
        # The pass logs and counts what it did once it is over, a moment after the removals.
        await until(lambda: counted(show, before, "kept_out", 2), 5.0, "kept_out counted twice")
        await until(lambda: logged(show, "kept_out troll", "kept_out guest-1"), 5.0, "the removals logged")
        # The host was never touched, and the stage is as the bans left it.
        assert await seen_by_livekit(lkapi, room, "host-1") == ("host", True)
        assert (await admin.get_room(room))["guests"] == []


async def test_a_hand_whose_owner_left_unheard_is_lowered(gated: tuple[Show, WebhookGate]) -> None:
    """A viewer's hand stays up only while LiveKit has the viewer: when its participant_left is
    lost, an invitation of that hand (answered NOT_FOUND) has it lowered once the grace window
    is over (FAST: a second), and otherwise the reconciler lowers it within its look at the
    room's hands and the window; the hand of a viewer still there stays up."""
    show, gate = gated
    room = show.room
    leaving = {"leaver": await show.viewer("leaver"), "invited": await show.viewer("invited")}
    as_stayer, _ = await show.viewer("stayer")
    async with livekit_api(show.stack.livekit) as lkapi:
        for name, (as_viewer, _) in leaving.items():
            await as_viewer.hand(room, name, True)
        await as_stayer.hand(room, "stayer", True)
        assert await hands_up(show) == ["leaver", "invited", "stayer"]
        before = await scrape(show.stack.service)

        gate.open = False  # the leaves are lost on their way
        for name, (_, live) in leaving.items():
            await live.disconnect()
            await until(partial(gone_from_livekit, lkapi, room, name), 10.0, f"LiveKit saw {name} go")
            await until(partial(gate_lost_leave, gate, name), 10.0, f"{name}'s participant_left lost")
        gate.open = True

        with pytest.raises(Refused) as invited:
            await show.host.invite(room, "invited", "host-1")
        assert invited.value.code == "NOT_FOUND"
        await until(lambda: not_up(show, "invited"), 3.0, "invited's hand lowered after the window")

        async def only_the_connected() -> bool:
            return await hands_up(show) == ["stayer"]

        # FAST: a pass a second, the hands looked at once in six passes, a window of a second.
        await until(only_the_connected, 14.0, "leaver's hand lowered")
        assert await seen_by_livekit(lkapi, room, "stayer") == ("viewer", False)
        # Both by the reconciler's passes: the invited hand's at the end of its window.
        await until(lambda: counted(show, before, "lowered", 2), 5.0, "the reconciler's lowerings counted")
        await until(lambda: logged(show, "lowered leaver", "lowered invited"), 5.0, "the lowerings logged")
        # The host heard each hand go down, as if its owner had lowered it.
        events = show.host_live.show_events
        await show.host_live.wait_for(
            lambda: sorted(e["senderId"] for e in events if e["type"] == "hand_lower") == ["invited", "leaver"],
            5.0,
            "the host heard both hands go down",
        )


async def test_a_viewer_who_leaves_with_a_hand_up_is_heard_lowering_it(gated_at_once: tuple[Show, WebhookGate]) -> None:
    """Without a reconnect grace window, a viewer whose participant_left is heard leaves no hand
    in anyone's queue: the host hears hand_lower at once (its page would otherwise show the hand
    until its next look); a viewer leaving with no hand up makes no such event."""
    show, _ = gated_at_once
    room = show.room
    as_raiser, raiser = await show.viewer("raiser")
    _, quiet = await show.viewer("quiet")
    await as_raiser.hand(room, "raiser", True)
    events = show.host_live.show_events
    await show.host_live.wait_for(
        lambda: any(e["type"] == "hand_raise" and e["senderId"] == "raiser" for e in events), 5.0, "the raise"
    )
    await quiet.disconnect()
    await raiser.disconnect()
    await show.host_live.wait_for(
        lambda: any(e["type"] == "hand_lower" and e["senderId"] == "raiser" for e in events),
        10.0,
        "the host heard raiser's hand go down with raiser",
    )
    assert await hands_up(show) == []
    assert not [e for e in events if e["type"] == "hand_lower" and e["senderId"] == "quiet"]


async def test_a_viewer_who_reloads_within_the_grace_window_keeps_its_hand_in_its_place(
    gated_held: tuple[Show, WebhookGate],
) -> None:
    """Viewers drop (a reload, a network blip) with a hand up or an invitation waiting: while the
    window runs nothing goes down; one back within it (a fresh JoinRoom with the token its tab
    kept, which says so) keeps its hand where it was in the queue, or may still accept; one who
    is not back has its hand lowered once the window is over, and the host hears hand_lower."""
    show, _ = gated_held
    room, events = show.room, show.host_live.show_events
    people = {name: await show.viewer(name) for name in ("first", "second", "gone", "invited")}
    async with livekit_api(show.stack.livekit) as lkapi:
        for name in ("first", "second", "gone"):
            await people[name][0].hand(room, name, True)
        queue = await show.host.hands(room)
        assert [h["participantIdentity"] for h in queue] == ["first", "second", "gone"]
        expires = (await show.host.invite(room, "invited", "host-1"))["expiresAt"]

        dropped = {name: await drop(lkapi, show, people[name][1]) for name in ("first", "invited", "gone")}
        assert await show.host.hands(room) == queue  # the window runs: nothing went down
        back = await people["first"][0].join(room, "first", "viewer")
        assert (back["handRaised"], int(back["invitationExpiresAt"])) == (True, 0)
        await show.connect("first", back["wsUrl"], back["token"])
        ticket = await people["invited"][0].join(room, "invited", "viewer")
        assert (ticket["handRaised"], ticket["invitationExpiresAt"], ticket["invitedBy"]) == (False, expires, "host-1")
        await show.connect("invited", ticket["wsUrl"], ticket["token"])

        await show.host_live.wait_for(
            lambda: any(e["type"] == "hand_lower" and e["senderId"] == "gone" for e in events),
            GRACE + 10.0,
            "the host heard gone's hand go down",
        )
        assert time.monotonic() - dropped["gone"] >= GRACE - 0.5  # not before its window ended
        await past_the_window(max(dropped.values()))
        # first kept its place (and the time it raised its hand), ahead of second.
        assert await show.host.hands(room) == queue[:2]
        assert not [e for e in events if e["type"] == "hand_lower" and e["senderId"] != "gone"]
        accepted = await people["invited"][0].accept(room, "invited")
        assert accepted["message"] == "invited has been promoted to guest"


async def test_a_late_leave_of_a_replaced_connection_lowers_nothing(gated_held: tuple[Show, WebhookGate]) -> None:
    """A viewer with its hand up connects again with the same identity (a reload whose new
    connection is in before the old one's leave): LiveKit replaces the old connection and
    reports its participant_left, which comes after the new join, and twice. Whether the viewer
    is back is LiveKit's view when the window ends, so its hand stays up and nobody hears it go
    down."""
    show, gate = gated_held
    room, events = show.room, show.host_live.show_events
    as_viewer, old = await show.viewer("back")
    await as_viewer.hand(room, "back", True)
    queue = await show.host.hands(room)
    gate.holding.add("back")
    async with livekit_api(show.stack.livekit) as lkapi:
        ticket = await as_viewer.join(room, "back", "viewer")
        assert ticket["handRaised"] is True
        await show.connect("back", ticket["wsUrl"], ticket["token"])
        await disconnected(old)  # replaced by its own new connection
        await until(lambda: held_leave(gate), 10.0, "the old connection's participant_left (held back)")
        await asyncio.sleep(1.0)  # the new connection's join reaches the service first
        assert await gate.deliver_held() == 1
        late = time.monotonic()
        await gate.deliver_held()  # and once more: LiveKit may repeat a webhook
        await past_the_window(late)
        assert await show.host.hands(room) == queue
        assert await seen_by_livekit(lkapi, room, "back") == ("viewer", False)
        assert not [e for e in events if e["type"] == "hand_lower"]


async def held_leave(gate: WebhookGate) -> bool:
    return bool(gate.held)


async def not_up(show: Show, identity: str) -> bool:
    return identity not in await hands_up(show)


async def hands_up(show: Show) -> list[str]:
    return [h["participantIdentity"] for h in await show.host.hands(show.room)]


async def gate_lost_leave(gate: WebhookGate, identity: str) -> bool:
    return gate.lost_leave_of(identity)


async def logged(show: Show, *texts: str) -> bool:
    return all(any(text in line for line in show.stack.service.output) for text in texts)


async def counted(show: Show, before: Samples, action: str, count: int) -> bool:
    """Whether the reconciler counted `count` more of `action` than `before`."""
    actions = "showrunner_reconciler_actions_total"
    now = await scrape(show.stack.service)
    return value(now, actions, action=action) - value(before, actions, action=action) == count


@dataclass
class Reconciling:
    """A reconciler of the test's own over a memory record, on a LiveKit of the test's own, with
    every call to LiveKit counted; the room hosted, its host connected."""

    room: str
    stage: LiveKitStage
    records: MemoryRecords
    clock: SystemClock
    reconciler: Reconciler
    calls: Calls
    people: list[LiveParticipant]

    async def connect(self, identity: str, role: Role) -> None:
        token = self.stage.mint_token(self.room, identity, identity, Presence(role))
        self.people.append(await LiveParticipant(identity).connect(self.stage.ws_url, token))

    async def participants(self, count: int) -> bool:
        found = await self.stage.find_room(self.room)
        return found is not None and found.num_participants == count


@asynccontextmanager
async def reconciling(tmp_path: Path, room: str) -> AsyncIterator[Reconciling]:
    livekit = LiveKitDevServer(api_key=API_KEY, api_secret=API_SECRET, log_path=tmp_path / "livekit.log").start()
    calls = Calls()
    stage = LiveKitStage(livekit.url, API_KEY, API_SECRET, observe=calls.record, room_cache_seconds=0)
    records, clock = MemoryRecords(), SystemClock()
    # Hands are looked at on every pass here (the service looks at a room's once in 30 s), and
    # those of owners gone lowered at once (no reconnect grace window).
    core = ShowCore(
        stage,
        records,
        clock,
        reconcile=ReconcileRules(hands_every_seconds=0, grace_seconds=0),
        page_tokens=PageTokens(page_key(API_SECRET)),
    )
    made = Reconciling(room, stage, records, clock, core.reconciler, calls, [])
    try:
        await records.claim_host(room, "host-1", "host-1", clock.now(), 60)
        await stage.open_room(room)
        await made.connect("host-1", Role.HOST)
        yield made
    finally:
        for person in made.people:
            await person.disconnect()
        await stage.close()
        livekit.stop()


async def test_a_pass_over_a_room_asks_livekit_about_its_bans_never_about_its_whole_audience(
    tmp_path: Path, room: str
) -> None:
    """The reconciler's cost per pass: with no bans, nothing more than before; with a few, one
    GetParticipant per ban; with more bans than participants, one listing of the room instead."""
    async with reconciling(tmp_path, room) as made:
        records, clock, reconciler, calls = made.records, made.clock, made.reconciler, made.calls
        for n in range(4):
            await made.connect(f"viewer-{n}", Role.VIEWER)
        await until(lambda: made.participants(5), 10.0, "five connected")
        await reconciler.reconcile(room)  # learns the room's incarnation and the host's connection

        calls.clear()
        assert await reconciler.reconcile(room) == []
        assert calls == {"ListRooms": 1, "GetParticipant": 1}  # the room, the host's seat

        # Two bans, one of them connected: one GetParticipant each, and the banned one removed.
        await records.ban(room, "viewer-0", clock.now(), None)
        await records.ban(room, "long-gone", clock.now(), None)
        calls.clear()
        assert await reconciler.reconcile(room) == [Action("kept_out", "viewer-0")]
        assert calls == {"ListRooms": 1, "GetParticipant": 3, "RemoveParticipant": 1}
        await until(lambda: made.participants(4), 10.0, "viewer-0 removed")

        # More bans than participants: the room is listed once rather than each ban looked up.
        for n in range(4):
            await records.ban(room, f"troll-{n}", clock.now(), None)
        calls.clear()
        assert await reconciler.reconcile(room) == []
        assert calls == {"ListRooms": 1, "GetParticipant": 1, "ListParticipants": 1}


async def test_a_late_look_that_livekit_failed_is_made_again_by_the_next_pass(tmp_path: Path, room: str) -> None:
    """The one late look at a show gone live (ReconcileRules.late_look_window) counts once it has
    gone through: one whose listing LiveKit failed is made by the next pass, which lets the viewer
    still waiting in (LiveKit's own view), and the pass after makes none."""
    async with reconciling(tmp_path, room) as made:
        records, clock, reconciler, stage = made.records, made.clock, made.reconciler, made.stage
        went_live = clock.now() - ReconcileRules().late_look_window[0] - 1
        await records.go_live(room, went_live, None)
        await records.audience_released(room, went_live)  # GoLive let in whoever was there: nobody
        token = stage.mint_token(room, "late", "late", Presence(Role.VIEWER, waiting=True))
        made.people.append(await LiveParticipant("late").connect(stage.ws_url, token))
        listing = stage.list_participants

        async def unavailable(room: str, fresh: bool = False) -> list[lk.ParticipantInfo]:
            raise errors.unavailable("LiveKit is restarting")

        stage.list_participants = unavailable  # type: ignore[method-assign]
        with pytest.raises(errors.ShowError):
            await reconciler.reconcile(room)
        stage.list_participants = listing  # type: ignore[method-assign]
        assert Action("released", detail="1 viewers late") in await reconciler.reconcile(room)
        late = await stage.find_participant(room, "late")
        assert late is not None and late.permission.can_subscribe
        assert not [a for a in await reconciler.reconcile(room) if a.kind == "released"]


async def test_a_pass_looks_at_a_few_hands_in_turn_never_at_the_whole_queue(tmp_path: Path, room: str) -> None:
    """Twenty raised hands, three of them of viewers LiveKit has: each look takes the head of the
    queue and the next HANDS_PER_PASS after where the previous look stopped, until only the
    hands of the connected are left; then it looks again, lowering nothing."""
    async with reconciling(tmp_path, room) as made:
        records, clock, reconciler, calls = made.records, made.clock, made.reconciler, made.calls
        connected = ["viewer-03", "viewer-10", "viewer-17"]
        for identity in connected:
            await made.connect(identity, Role.VIEWER)
        await until(lambda: made.participants(4), 10.0, "four connected")
        for n in range(20):
            await records.set_hand(room, f"viewer-{n:02}", True, clock.now() + n / 1000, 1)
        looks: list[list[str]] = []
        for _ in range(2):  # 20 hands, up to 16 a look: the queue is gone through in two
            calls.clear()
            done = await reconciler.reconcile(room)
            assert calls["GetParticipant"] <= 1 + 2 * HANDS_PER_PASS  # the host's seat, then the hands
            assert "ListParticipants" not in calls
            looks.append([a.identity for a in done if a.kind == "lowered"])
        gone = [f"viewer-{n:02}" for n in range(20) if f"viewer-{n:02}" not in connected]
        # The first look: the head (00-07) and the eight after it (08-15); the second, the rest.
        assert looks == [gone[:14], gone[14:]]
        assert [h.identity for h in await records.hands(room, clock.now())] == connected
        calls.clear()
        assert await reconciler.reconcile(room) == []
        assert calls == {"ListRooms": 1, "GetParticipant": 1 + len(connected)}


async def test_a_token_had_for_a_guests_name_before_it_went_on_stage_is_turned_away_and_the_guest_comes_back(
    held: Show,
) -> None:
    """LiveKit cannot revoke a token, and a second connection with a name replaces the first. A
    token the viewer door gave for "vic" while the name was free, connected once vic is a guest,
    replaces vic's connection, and the seat is held for the grace window: brought to the seat's
    part it would publish as vic. It is not: its connection is of another holder than the one
    the seat was given to, and the service removes it from LiveKit, which never lets it publish.
    Vic, back with its own token within the window, is on stage again."""
    room, door = held.room, held.door
    squat = await door.as_(None).join(room, "vic", "viewer")
    joined = await door.as_(None).join(room, "vic", "viewer")
    await held.connect("vic", joined["wsUrl"], joined["token"])
    await held.host.invite(room, "vic", "host-1")
    accepted = await door.as_(joined["token"]).accept(room, "vic")
    squatter = claims(squat["token"])["showrunnerHolder"]
    async with livekit_api(held.stack.livekit) as lkapi:

        async def squatter_listed() -> bool:
            listed = (await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))).participants
            return any(p.attributes.get("holder") == squatter for p in listed)

        squatting = await held.connect("vic", squat["wsUrl"], squat["token"], until_listed=False)
        await disconnected(squatting)  # LiveKit let it in (replacing vic's connection), then removed it
        assert not await squatter_listed()
        assert ("permissions", True) not in squatting.events  # it was never let publish
        assert (await held.admin.get_room(room))["guests"] == ["vic"]  # the seat is held for vic
        await held.connect("vic", joined["wsUrl"], accepted["token"])
        await until(lambda: seen_is(lkapi, room, "vic", ("guest", True)), 10.0, "vic back on stage")


async def test_tokens_had_for_names_before_their_parts_are_turned_away_even_when_the_webhook_is_lost(
    gated_held: tuple[Show, WebhookGate],
) -> None:
    """With LiveKit's webhooks lost, the reconciler is what sees a token the viewer door gave for
    a guest's or a moderator's name before its part, connected in the holder's place: it removes
    it, and brings it to no part. The guest, back with its own token, is on stage again."""
    show, gate = gated_held
    room, door = show.room, show.door
    squats = {name: await door.as_(None).join(room, name, "viewer") for name in ("vic", "mia")}
    own = {name: await door.as_(None).join(room, name, "viewer") for name in ("vic", "mia")}
    for name, ticket in own.items():
        await show.connect(name, ticket["wsUrl"], ticket["token"])
    await show.host.invite(room, "vic", "host-1")
    accepted = await door.as_(own["vic"]["token"]).accept(room, "vic")
    await show.host.appoint_moderator(room, "mia")
    async with livekit_api(show.stack.livekit) as lkapi:
        await until(lambda: seen_is(lkapi, room, "vic", ("guest", True)), 10.0, "vic on stage")
        await until(lambda: seen_is(lkapi, room, "mia", ("moderator", False)), 10.0, "mia a moderator")
        gate.open = False
        for name, ticket in squats.items():
            squatting = await show.connect(name, ticket["wsUrl"], ticket["token"], until_listed=False)
            await disconnected(squatting, 8.0)
            assert squatting.events[-1] == ("disconnected", lk.DisconnectReason.PARTICIPANT_REMOVED)
            assert ("permissions", True) not in squatting.events
            assert gate.lost_join_of(name)  # only the reconciler could see it
        assert (await show.admin.get_room(room))["guests"] == ["vic"]  # the seat is held for vic
        await show.connect("vic", own["vic"]["wsUrl"], accepted["token"])
        await until(lambda: seen_is(lkapi, room, "vic", ("guest", True)), 10.0, "vic back on stage")


async def heard_vic_accept(host: LiveParticipant) -> bool:
    return accepted_by_vic(host)


def accepted_by_vic(host: LiveParticipant) -> bool:
    heard = host.show_events
    return any(e["type"] == "guest_invite_response" and e.get("accepted") and e.get("senderId") == "vic" for e in heard)


async def test_an_acceptance_puts_no_other_holders_connection_on_stage(gated_held: tuple[Show, WebhookGate]) -> None:
    """The invited viewer's connection was replaced by a token had for its name before, and that
    join's webhook was lost: the viewer's own acceptance does not put the connection LiveKit has
    under the name on stage. It is removed, the acceptance answers that the participant is not
    connected and is undone (the invitation waits), unheard by the host, and the viewer, back with
    its own token, accepts and is given a token of its own holder, which the host hears."""
    show, gate = gated_held
    room, door = show.room, show.door
    squat = await door.as_(None).join(room, "vic", "viewer")
    own = await door.as_(None).join(room, "vic", "viewer")
    await show.connect("vic", own["wsUrl"], own["token"])
    await show.host.invite(room, "vic", "host-1")
    vic = door.as_(own["token"])
    async with livekit_api(show.stack.livekit) as lkapi:
        gate.open = False  # the squatter's participant_joined is lost
        squatting = await show.connect("vic", squat["wsUrl"], squat["token"])
        with pytest.raises(Refused) as refused:
            await vic.accept(room, "vic")
        assert "Participant not found" in str(refused.value)
        await disconnected(squatting, 8.0)
        assert ("permissions", True) not in squatting.events  # never let publish
        assert (await vic.my_place(room))["invitationExpiresAt"]  # the invitation waits
        gate.open = True
        await show.connect("vic", own["wsUrl"], own["token"])
        assert not accepted_by_vic(show.host_live)  # the undone acceptance was never told
        accepted = await vic.accept(room, "vic")
        assert claims(accepted["token"])["showrunnerHolder"] == claims(own["token"])["showrunnerHolder"]
        await until(partial(heard_vic_accept, show.host_live), 10.0, "the host hears vic accepted")
        await until(lambda: seen_is(lkapi, room, "vic", ("guest", True)), 10.0, "vic on stage")


async def test_a_viewer_whose_join_after_going_live_was_lost_is_let_in_by_a_late_look(
    gated: tuple[Show, WebhookGate],
) -> None:
    """A viewer given its token backstage connects after GoLive's listing, and LiveKit loses its
    participant_joined: nothing else would ever let it see the show. One more listing, the
    stage-change deadline after going live (FAST: 2 s), lets it in, as LiveKit's own view shows;
    the room heard show_live once, from GoLive."""
    show, gate = gated
    room, door = show.room, show.door
    ticket = await door.join(room, "late", "viewer")  # backstage: its token may not subscribe
    await show.admin.go_live(room)  # nobody waiting: GoLive's listing lets nobody in
    gate.open = False
    await show.connect("late", ticket["wsUrl"], ticket["token"])
    async with livekit_api(show.stack.livekit) as lkapi:

        async def may_subscribe() -> bool:
            who = api.RoomParticipantIdentity(room=room, identity="late")
            return (await lkapi.room.get_participant(who)).permission.can_subscribe

        await until(may_subscribe, 15.0, "late let in")
    assert gate.lost_join_of("late")  # only the reconciler could see it
    assert [e["type"] for e in show.host_live.show_events].count("show_live") == 1
