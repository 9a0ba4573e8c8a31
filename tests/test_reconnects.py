"""People who come back, with real participants on the real LiveKit server: a host or guest whose
connection drops and who reconnects within the reconnect grace window is back in its seat with
its permissions (as LiveKit itself reports them), whether it reconnects with the token it had or
with a fresh JoinRoom; a host who does not come back loses the seat; and a banned participant who
reconnects with a token it still holds is removed again even when LiveKit's webhook about its
join is lost.

Each test runs its own LiveKit and service (see tests/test_convergence.py), with a reconnect
grace window long enough to look at the held seat before it ends."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from livekit import api
from livekit.protocol import models as lk

from service.dev.livekit_server import LiveKitDevServer, free_port
from tests.conftest import API_KEY, API_SECRET, admin_token, start_service
from tests.doors import Refused
from tests.live import LiveParticipant, until
from tests.test_convergence import FAST, Stack, agree_within, livekit_api, open_show, stack, viewer
from tests.test_metrics import scrape, value

GRACE = 6  # seconds a host or guest who dropped keeps its seat here


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Stack]:
    """A LiveKit and service of the test's own, with a reconnect grace window of GRACE seconds."""
    made = stack(tmp_path, SHOW_RECONNECT_GRACE_SECONDS=str(GRACE))
    yield made
    made.service.stop()
    made.livekit.stop()


async def seen_by_livekit(lkapi: api.LiveKitAPI, room: str, identity: str) -> tuple[str, bool] | None:
    """The participant's role attribute and whether it may publish, as LiveKit's own
    ListParticipants reports them; None if LiveKit does not have it connected."""
    listed = (await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))).participants
    found = next((p for p in listed if p.identity == identity), None)
    return (found.attributes.get("role", ""), found.permission.can_publish) if found is not None else None


async def gone_from_livekit(lkapi: api.LiveKitAPI, room: str, identity: str) -> bool:
    return await seen_by_livekit(lkapi, room, identity) is None


async def until_past(deadline: float) -> None:
    """Waits until the monotonic clock passes `deadline` (the end of a grace window, say)."""
    await until(lambda: _passed(deadline), deadline - time.monotonic() + 5.0, "time to pass")


async def _passed(deadline: float) -> bool:
    return time.monotonic() > deadline


async def test_a_host_who_drops_keeps_its_seat_for_the_grace_window_and_comes_back_to_it(
    held: Stack, room: str
) -> None:
    made = held
    door = made.client()
    admin = door.as_(admin_token(room))
    host_token, host_live = await open_show(door, room)
    _, vee = await viewer(door, room, "vee")  # the audience hears of the host's leaving
    people = [host_live, vee]
    try:
        async with livekit_api(made.livekit) as lkapi:
            await host_live.publish_microphone()
            ws_url = (await door.as_(host_token).join(room, "host-1", "host"))["wsUrl"]

            # The connection drops: the seat is held, nobody else may take it, and the show goes on.
            await host_live.disconnect()
            dropped = time.monotonic()
            await until(lambda: gone_from_livekit(lkapi, room, "host-1"), 10.0, "LiveKit saw the host leave")
            assert (await admin.get_room(room))["hasHost"] is True
            with pytest.raises(Refused) as taken:
                await admin.join(room, "host-2", "host")
            assert (taken.value.code, taken.value.message) == ("ALREADY_EXISTS", "Room already has a host")

            # Back with the token it had, within the window: in its seat once the window is over.
            again = await LiveParticipant("host-1").connect(ws_url, host_token)
            people.append(again)
            await again.publish_microphone()
            await until_past(dropped + GRACE + 1.5)
            assert (await admin.get_room(room))["hasHost"] is True
            assert await seen_by_livekit(lkapi, room, "host-1") == ("host", True)
            await agree_within(admin, lkapi, room)

            # Drops again, and comes back through a fresh JoinRoom with its own token (the room's
            # admin could give it one as well).
            await again.disconnect()
            dropped = time.monotonic()
            await until(lambda: gone_from_livekit(lkapi, room, "host-1"), 10.0, "LiveKit saw the host leave")
            assert (await admin.join(room, "host-1", "host"))["role"] == "host"
            ticket = await door.as_(host_token).join(room, "host-1", "host")
            assert (ticket["role"], ticket["identity"]) == ("host", "host-1")
            fresh = await LiveParticipant("host-1").connect(ticket["wsUrl"], ticket["token"])
            people.append(fresh)
            await fresh.publish_microphone()
            await until_past(dropped + GRACE + 1.5)
            assert (await admin.get_room(room))["hasHost"] is True
            assert await seen_by_livekit(lkapi, room, "host-1") == ("host", True)
            await agree_within(admin, lkapi, room)
            assert not any(e["type"] == "host_left" for e in vee.show_events)

            # Gone for good: the seat is held until the window ends, then freed, the room hears
            # that its host left, and a new host may take the seat.
            await fresh.disconnect()
            dropped = time.monotonic()
            await until(lambda: gone_from_livekit(lkapi, room, "host-1"), 10.0, "LiveKit saw the host leave")
            assert (await admin.get_room(room))["hasHost"] is True
            await vee.wait_for(
                lambda: any(e["type"] == "host_left" for e in vee.show_events), GRACE + 10.0, "host_left"
            )
            assert time.monotonic() - dropped >= GRACE - 0.5  # not before the window ended
            assert (await admin.get_room(room))["hasHost"] is False
            assert (await admin.join(room, "host-2", "host"))["role"] == "host"
    finally:
        for person in people:
            await person.disconnect()
        await door.close()


async def test_a_host_whose_connection_dropped_ends_its_show_within_the_grace_window(held: Stack, room: str) -> None:
    made = held
    door = made.client()
    host_token, host_live = await open_show(door, room)
    as_vee, vee = await viewer(door, room, "vee")
    people = [host_live, vee]
    try:
        async with livekit_api(made.livekit) as lkapi:
            await host_live.disconnect()
            await until(lambda: gone_from_livekit(lkapi, room, "host-1"), 10.0, "LiveKit saw the host leave")
            with pytest.raises(Refused) as refused:
                await as_vee.delete_room(room)
            assert (refused.value.code, refused.value.message) == (
                "PERMISSION_DENIED",
                "Only the host can end the show",
            )
            await door.as_(host_token).delete_room(room)
            await disconnected(vee)
            assert room not in {r.name for r in (await lkapi.room.list_rooms(api.ListRoomsRequest())).rooms}
    finally:
        for person in people:
            await person.disconnect()
        await door.close()


async def test_a_guest_who_drops_and_joins_again_as_a_viewer_within_the_grace_window_keeps_the_stage(
    held: Stack, room: str
) -> None:
    made = held
    door = made.client()
    admin = door.as_(admin_token(room))
    host_token, host_live = await open_show(door, room)
    as_guest, guest_live = await viewer(door, room, "guest-1")
    people = [host_live, guest_live]
    try:
        async with livekit_api(made.livekit) as lkapi:
            await as_guest.hand(room, "guest-1", True)
            assert (await door.as_(host_token).invite(room, "guest-1", "host-1"))["promoted"] is True
            await guest_live.disconnect()
            dropped = time.monotonic()
            await until(lambda: gone_from_livekit(lkapi, room, "guest-1"), 10.0, "LiveKit saw the guest leave")
            assert (await admin.get_room(room))["guests"] == ["guest-1"]
            # The page reloads: a fresh JoinRoom through the viewer door, without the old token.
            ticket = await door.as_(None).join(room, "guest-1", "viewer")
            assert ticket["role"] == "guest"
            again = await LiveParticipant("guest-1").connect(ticket["wsUrl"], ticket["token"])
            people.append(again)
            await again.publish_microphone()
            await until_past(dropped + GRACE + 1.5)
            assert (await admin.get_room(room))["guests"] == ["guest-1"]
            assert await seen_by_livekit(lkapi, room, "guest-1") == ("guest", True)
            await agree_within(admin, lkapi, room)
    finally:
        for person in people:
            await person.disconnect()
        await door.close()


class WebhookGate:
    """Stands between LiveKit and the service: passes LiveKit's webhooks on while open; while
    closed it loses them, answering LiveKit as if delivered (so LiveKit does not send them again),
    and keeps what it lost for the test to see."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.port = free_port()
        self.open = True
        self.lost: list[dict[str, Any]] = []
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
        try:
            reply = await self._http.post(self.target, content=body, headers=headers)
        except httpx.HTTPError:
            return web.Response(status=502)
        return web.Response(status=reply.status_code, body=reply.content)

    def lost_join_of(self, identity: str) -> bool:
        return any(
            e.get("event") == "participant_joined" and e.get("participant", {}).get("identity") == identity
            for e in self.lost
        )


@pytest.fixture
async def gated(tmp_path: Path) -> AsyncIterator[tuple[Stack, WebhookGate]]:
    """A LiveKit of the test's own whose webhooks reach the service through a WebhookGate."""
    http_port = free_port()
    gate = await WebhookGate(f"http://127.0.0.1:{http_port}/webhooks/livekit").start()
    livekit = LiveKitDevServer(
        api_key=API_KEY, api_secret=API_SECRET, log_path=tmp_path / "livekit.log", webhook_urls=[gate.url]
    ).start()
    made = Stack(livekit, http_port, dict(FAST), start_service(livekit, SHOW_HTTP_PORT=str(http_port), **FAST))
    yield made, gate
    made.service.stop()
    livekit.stop()
    await gate.stop()


async def test_banned_participants_back_with_old_tokens_are_removed_even_when_the_webhook_is_lost(
    gated: tuple[Stack, WebhookGate], room: str
) -> None:
    made, gate = gated
    door = made.client()
    host_token, host_live = await open_show(door, room)
    host = door.as_(host_token)
    troll_ticket = await door.as_(None).join(room, "troll", "viewer")
    troll = await LiveParticipant("troll").connect(troll_ticket["wsUrl"], troll_ticket["token"])
    as_guest, guest_live = await viewer(door, room, "guest-1")
    people = [host_live, troll, guest_live]
    try:
        async with livekit_api(made.livekit) as lkapi:
            await as_guest.hand(room, "guest-1", True)
            guest_token = (await host.invite(room, "guest-1", "host-1"))["token"]  # may publish
            await until(lambda: seen_is(lkapi, room, "troll", ("viewer", False)), 10.0, "troll connected")
            await until(lambda: seen_is(lkapi, room, "guest-1", ("guest", True)), 10.0, "guest-1 on stage")
            for banned, live in (("troll", troll), ("guest-1", guest_live)):
                await host.remove_participant(room, banned, ban=True)
                await disconnected(live)
            await agree_within(door.as_(admin_token(room)), lkapi, room)
            before = await scrape(made.service)

            # LiveKit's webhooks are lost from now on: only the reconciler can notice the returns.
            gate.open = False
            back = {name: LiveParticipant(name) for name in ("troll", "guest-1")}
            people += back.values()
            await back["troll"].connect(troll_ticket["wsUrl"], troll_ticket["token"])  # LiveKit lets them in ...
            await back["guest-1"].connect(troll_ticket["wsUrl"], guest_token)
            for live in back.values():  # ... and the service takes them out
                await disconnected(live, 8.0)
                assert live.events[-1] == ("disconnected", lk.DisconnectReason.PARTICIPANT_REMOVED)
            for name in back:
                assert await gone_from_livekit(lkapi, room, name)
                assert gate.lost_join_of(name)  # the join the service never heard of
                assert any(f"kept_out {name}" in line for line in made.service.output)
            after = await scrape(made.service)
            actions = "showrunner_reconciler_actions_total"
            assert value(after, actions, action="kept_out") - value(before, actions, action="kept_out") == 2
            # The host was never touched, and the stage is as the ban left it.
            assert await seen_by_livekit(lkapi, room, "host-1") == ("host", True)
            assert (await door.as_(admin_token(room)).get_room(room))["guests"] == []
    finally:
        for person in people:
            await person.disconnect()
        await door.close()


async def disconnected(live: LiveParticipant, timeout: float = 10.0) -> None:
    events = live.events
    await live.wait_for(lambda: any(kind == "disconnected" for kind, _ in events), timeout, f"{live.identity} out")


async def seen_is(lkapi: api.LiveKitAPI, room: str, identity: str, expected: tuple[str, bool]) -> bool:
    return await seen_by_livekit(lkapi, room, identity) == expected
