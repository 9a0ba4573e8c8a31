"""GetRoom's audience count, with real participants connected to the real LiveKit server: the
viewers are LiveKit's participant count less those on stage, read from the room and the record,
never by listing the room; the raised hands are counted too."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.conftest import admin_token
from tests.doors import ShowClient
from tests.live import LiveParticipant


async def settled(client: ShowClient, room: str, want: dict[str, Any], timeout: float = 15.0) -> dict[str, Any]:
    """GetRoom once it shows `want` (LiveKit's count reaches the service through its webhooks and
    a short room cache), or the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        described = await client.get_room(room)
        if all(described.get(k) == v for k, v in want.items()) or time.monotonic() > deadline:
            return described
        await asyncio.sleep(0.25)


async def test_get_room_counts_the_viewers_and_the_hands(door: ShowClient, room: str) -> None:
    admin = door.as_(admin_token(room))
    hosting = await admin.join(room, "host", "host")
    connected = [await LiveParticipant("host").connect(hosting["wsUrl"], hosting["token"])]
    try:
        tickets = {name: await door.as_(None).join(room, name, "viewer") for name in ("viewer-1", "viewer-2")}
        for name, ticket in tickets.items():
            connected.append(await LiveParticipant(name).connect(ticket["wsUrl"], ticket["token"]))
        described = await settled(admin, room, {"numParticipants": 3, "numViewers": 2})
        assert (described["numParticipants"], described["numViewers"], described["raisedHands"]) == (3, 2, 0)

        viewer = door.as_(tickets["viewer-1"]["token"])  # the connected viewer's own
        await viewer.hand(room, "viewer-1", True)
        assert (await admin.get_room(room))["raisedHands"] == 1

        await door.as_(hosting["token"]).invite(room, "viewer-1", "host")  # her hand is up: on stage at once
        described = await settled(admin, room, {"numViewers": 1, "raisedHands": 0})
        assert (described["numParticipants"], described["numViewers"], described["guests"]) == (3, 1, ["viewer-1"])

        await connected.pop().disconnect()  # viewer-2 leaves
        described = await settled(admin, room, {"numParticipants": 2, "numViewers": 0})
        assert (described["numParticipants"], described["numViewers"]) == (2, 0)
    finally:
        for participant in connected:
            await participant.disconnect()


async def test_a_polled_room_shows_each_change_on_the_next_read(door: ShowClient, room: str) -> None:
    """Readers of an unchanged room share one answer (the core's SharedAnswers and the doors'
    Written); the read right after any change shows it."""
    admin = door.as_(admin_token(room))
    hosting = await admin.join(room, "host", "host")
    ticket = await door.as_(None).join(room, "viewer-1", "viewer")
    connected = [
        await LiveParticipant("host").connect(hosting["wsUrl"], hosting["token"]),
        await LiveParticipant("viewer-1").connect(ticket["wsUrl"], ticket["token"]),
    ]
    viewer = door.as_(ticket["token"])

    async def viewer_listed() -> dict[str, Any]:
        return next(p for p in await admin.list_participants(room) if p["identity"] == "viewer-1")

    try:
        for _ in range(150):  # both in the listing, as LiveKit's webhooks tell it
            if len(await admin.list_participants(room)) == 2:
                break
            await asyncio.sleep(0.1)
        assert await admin.list_participants(room) == await admin.list_participants(room)
        assert await admin.get_room(room) == await admin.get_room(room)

        await viewer.hand(room, "viewer-1", True)
        assert (await admin.get_room(room))["raisedHands"] == 1
        assert (await viewer_listed())["handRaised"] is True
        await viewer.hand(room, "viewer-1", False)
        assert (await admin.get_room(room))["raisedHands"] == 0
        assert (await viewer_listed())["handRaised"] is False

        await admin.appoint_moderator(room, "viewer-1")
        assert (await admin.get_room(room))["moderators"] == ["viewer-1"]
        assert (await viewer_listed())["role"] == "moderator"
        await admin.dismiss_moderator(room, "viewer-1")
        assert (await admin.get_room(room))["moderators"] == []
        assert (await viewer_listed())["role"] == "viewer"
    finally:
        for participant in connected:
            await participant.disconnect()
