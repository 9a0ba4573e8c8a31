"""Concurrency across two instances sharing Redis: one host per room, never more guests than the
limit, however the requests interleave. Each race is run several times."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from livekit import api

from tests.conftest import ServiceProcess, admin_token
from tests.doors import DOORS, Refused, ShowClient, client_for
from tests.live import LiveParticipant


@pytest.fixture
async def clients(redis_pair: list[ServiceProcess]) -> AsyncIterator[list[ShowClient]]:
    """Every door of both instances."""
    made = [client_for(door, s.grpc_address, s.http_base) for s in redis_pair for door in DOORS]
    yield made
    for client in made:
        await client.close()


async def outcome(call: object) -> str:
    try:
        await call  # type: ignore[misc]
        return "ok"
    except Refused as refusal:
        return refusal.message


@pytest.mark.parametrize("round_", range(5))
@pytest.mark.parametrize("contenders", [25, 50])
async def test_concurrent_host_joins_across_instances_make_exactly_one_host(
    clients: list[ShowClient], round_: int, contenders: int
) -> None:
    room = f"race-{uuid.uuid4().hex[:10]}"
    token = admin_token(room)
    calls = [clients[i % len(clients)].as_(token).join(room, f"host-{i}", "host") for i in range(contenders)]
    results = await asyncio.gather(*(outcome(c) for c in calls))
    assert results.count("ok") == 1, results
    assert set(results) == {"ok", "Room already has a host"}
    winner = f"host-{results.index('ok')}"
    for client in clients[:: len(DOORS)]:  # one door of each instance
        listed = await client.as_(token).get_room(room)
        assert listed["hasHost"] is True
    # Whoever won is the host everywhere: only its own token may refresh the slot.
    await clients[0].as_(token).join(room, winner, "host")


@pytest.mark.parametrize("round_", range(3))
async def test_concurrent_acceptances_never_exceed_the_guest_limit(
    clients: list[ShowClient], lkapi: api.LiveKitAPI, round_: int
) -> None:
    room = f"stage-{uuid.uuid4().hex[:10]}"
    admin = clients[0].as_(admin_token(room))
    host = await admin.join(room, "host", "host")
    as_host = clients[1].as_(host["token"])
    await as_host.settings(room, 2)
    viewers: dict[str, str] = {}
    people: list[LiveParticipant] = []
    try:
        for i in range(6):
            ticket = await clients[i % len(clients)].as_(None).join(room, f"v{i}", "viewer")
            viewers[f"v{i}"] = ticket["token"]
            people.append(await LiveParticipant(f"v{i}").connect(ticket["wsUrl"], ticket["token"]))
        for name in viewers:
            invited = await as_host.invite(room, name, "host")
            assert invited["promoted"] is False
        accepts = [
            clients[(i * 3) % len(clients)].as_(token).accept(room, name)
            for i, (name, token) in enumerate(viewers.items())
        ]
        results = await asyncio.gather(*(outcome(a) for a in accepts))
        assert results.count("ok") == 2, results
        assert set(results) == {"ok", "Room already has a guest"}
        participants = (await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))).participants
        publishers = sorted(p.identity for p in participants if p.permission.can_publish)
        assert publishers == sorted(n for n, r in zip(viewers, results, strict=True) if r == "ok")
        assert sorted((await admin.get_room(room))["guests"]) == publishers
    finally:
        for person in people:
            await person.disconnect()


@pytest.mark.parametrize("round_", range(3))
async def test_concurrent_invitations_to_raised_hands_never_exceed_the_limit(
    clients: list[ShowClient], lkapi: api.LiveKitAPI, round_: int
) -> None:
    room = f"hands-{uuid.uuid4().hex[:10]}"
    admin = clients[0].as_(admin_token(room))
    host = await admin.join(room, "host", "host")
    people: list[LiveParticipant] = []
    try:
        names = [f"v{i}" for i in range(5)]
        for i, name in enumerate(names):
            ticket = await clients[i].as_(None).join(room, name, "viewer")
            people.append(await LiveParticipant(name).connect(ticket["wsUrl"], ticket["token"]))
            await clients[i].as_(ticket["token"]).hand(room, name, True)
        invites = [
            clients[i * 2 % len(clients)].as_(host["token"]).invite(room, n, "host") for i, n in enumerate(names)
        ]
        results = await asyncio.gather(*(outcome(c) for c in invites))
        assert results.count("ok") == 1 and set(results) == {"ok", "Room already has a guest"}, results
        participants = (await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))).participants
        assert sum(1 for p in participants if p.permission.can_publish) == 1
    finally:
        for person in people:
            await person.disconnect()
