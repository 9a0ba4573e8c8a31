"""Killing an instance loses nothing: state lives in Redis, and a new instance carries on."""

from __future__ import annotations

import signal

from service.dev.livekit_server import LiveKitDevServer
from service.dev.redis_server import RedisServer
from tests.conftest import admin_token, start_service
from tests.doors import client_for
from tests.live import LiveParticipant


async def test_a_killed_instance_loses_no_room_state(
    livekit: LiveKitDevServer, redis_server: RedisServer, room: str
) -> None:
    first = start_service(livekit, SHOW_REDIS_URL=redis_server.url)
    people: list[LiveParticipant] = []
    try:
        door = client_for("rest", first.grpc_address, first.http_base)
        host = await door.as_(admin_token(room)).join(room, "host", "host")
        tickets = {name: await door.join(room, name, "viewer") for name in ("ann", "bob", "cat")}
        for name, ticket in tickets.items():
            people.append(await LiveParticipant(name).connect(ticket["wsUrl"], ticket["token"]))
        as_host = door.as_(host["token"])
        await as_host.settings(room, 2)
        await door.as_(tickets["ann"]["token"]).hand(room, "ann", True)
        await as_host.invite(room, "ann", "host")  # ann goes on stage
        await door.as_(tickets["cat"]["token"]).hand(room, "cat", True)
        await door.as_(tickets["bob"]["token"]).hand(room, "bob", True)
        await door.as_(tickets["bob"]["token"]).hand(room, "bob", False)
        await as_host.invite(room, "bob", "host")  # bob's invitation waits
        await door.close()

        first.process.send_signal(signal.SIGKILL)
        first.process.wait()

        second = start_service(livekit, SHOW_REDIS_URL=redis_server.url)
        try:
            door = client_for("grpc", second.grpc_address, second.http_base)
            described = await door.as_(host["token"]).get_room(room)
            assert described["hasHost"] is True and described["guests"] == ["ann"] and described["guestLimit"] == 2
            queue = await door.as_(host["token"]).hands(room)
            assert [h["participantIdentity"] for h in queue] == ["cat"]
            expired_or_not = await door.as_(tickets["bob"]["token"]).accept(room, "bob")
            assert expired_or_not["message"] == "bob has been promoted to guest"
            assert sorted((await door.as_(host["token"]).get_room(room))["guests"]) == ["ann", "bob"]
            await door.close()
        finally:
            second.stop()
    finally:
        for person in people:
            await person.disconnect()
        first.stop()
