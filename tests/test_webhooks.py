"""LiveKit's signed webhooks keep the show's state true; forged ones change nothing."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from livekit import api

from service.dev.livekit_server import LiveKitDevServer
from tests.conftest import API_KEY, API_SECRET, ServiceProcess, admin_token, start_service
from tests.doors import ShowClient, client_for
from tests.live import LiveParticipant, eventually, until


def signed(body: bytes, secret: str = API_SECRET, digest_of: bytes | None = None) -> str:
    digest = base64.b64encode(hashlib.sha256(body if digest_of is None else digest_of).digest()).decode()
    claims = {"iss": API_KEY, "exp": int(time.time()) + 300, "nbf": int(time.time()) - 5, "sha256": digest}
    return jwt.encode(claims, secret, algorithm="HS256")


def event(
    kind: str,
    room: str,
    identity: str = "",
    sid: str = "",
    created_at: int | None = None,
    *,
    room_sid: str = "",
    joined_at_ms: int = 0,
) -> bytes:
    """A webhook as LiveKit sends it: the room's incarnation (its sid) and, for a participant,
    the connection (its sid and when it joined) that the service judges the event by."""
    body: dict[str, Any] = {
        "event": kind,
        "room": {"name": room, "sid": room_sid},
        "id": f"EV_{kind}_{identity}_{sid}",
        "createdAt": str(created_at if created_at is not None else int(time.time())),
    }
    if identity:
        body["participant"] = {
            "identity": identity,
            "sid": sid,
            "name": identity,
            "joinedAt": str(joined_at_ms // 1000),
            "joinedAtMs": str(joined_at_ms),
        }
    return json.dumps(body).encode()


async def deliver(service: ServiceProcess, body: bytes, authorization: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/webhook+json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        return await http.post("/webhooks/livekit", content=body, headers=headers)


async def test_forged_or_tampered_webhooks_are_refused_and_change_nothing(
    service: ServiceProcess, rest: ShowClient, room: str
) -> None:
    admin = rest.as_(admin_token(room))
    await admin.join(room, "host-1", "host")
    left = event("participant_left", room, "host-1", "PA_x")
    cases = {
        "unsigned": None,
        "wrong secret": signed(left, secret="not-the-secret-but-long-enough-0000"),
        "body changed after signing": signed(left, digest_of=event("participant_left", room, "someone")),
        "garbage": "Bearer garbage",
    }
    for case, authorization in cases.items():
        reply = await deliver(service, left, authorization)
        assert reply.status_code == 401, case
        assert "error" in reply.json()
    assert (await admin.get_room(room))["hasHost"] is True


@pytest.fixture(scope="module")
def patient_service(livekit: LiveKitDevServer) -> Iterator[ServiceProcess]:
    """An instance whose reconciler passes come ten minutes apart. The webhooks below tell of a
    host connection LiveKit never had; the session service's reconciler, every 5 s, freed that
    host's seat between two of them once, on a loaded machine."""
    running = start_service(livekit, SHOW_RECONCILE_INTERVAL_SECONDS="600")
    yield running
    running.stop()


async def test_duplicated_and_out_of_order_webhooks_are_harmless(patient_service: ServiceProcess, room: str) -> None:
    service = patient_service
    rest = client_for("rest", service.grpc_address, service.http_base)
    try:
        await _duplicated_and_out_of_order(service, rest, room)
    finally:
        await rest.close()


async def _duplicated_and_out_of_order(service: ServiceProcess, rest: ShowClient, room: str) -> None:
    admin = rest.as_(admin_token(room))
    await admin.join(room, "host-1", "host")
    incarnation = (await admin.get_room(room))["sid"]
    now_ms = int(time.time() * 1000)
    joined = event("participant_joined", room, "host-1", "PA_current", room_sid=incarnation, joined_at_ms=now_ms)
    for _ in range(2):
        assert (await deliver(service, joined, signed(joined))).status_code == 200
    # A late departure of an older connection does not free the current host's slot.
    stale = event("participant_left", room, "host-1", "PA_previous", room_sid=incarnation, joined_at_ms=now_ms - 60_000)
    assert (await deliver(service, stale, signed(stale))).status_code == 200
    assert (await admin.get_room(room))["hasHost"] is True
    left = event("participant_left", room, "host-1", "PA_current", room_sid=incarnation, joined_at_ms=now_ms)
    for _ in range(2):
        reply = await deliver(service, left, signed(left))
        assert reply.status_code == 200 and reply.json() == {"success": True, "event": "participant_left"}
    assert (await admin.get_room(room))["hasHost"] is False
    # An old "joined" arriving after the departure does not bring the host back.
    assert (await deliver(service, joined, signed(joined))).status_code == 200
    assert (await admin.get_room(room))["hasHost"] is False


async def test_room_finished_clears_the_show(service: ServiceProcess, rest: ShowClient, room: str) -> None:
    admin = rest.as_(admin_token(room))
    await admin.join(room, "host-1", "host")
    await admin.settings(room, 3)
    finished = event("room_finished", room, room_sid=(await admin.get_room(room))["sid"])
    assert (await deliver(service, finished, signed(finished))).status_code == 200
    await admin.join(room, "host-2", "host")  # the slot is free again
    assert (await admin.get_room(room))["guestLimit"] == 1


async def test_malformed_webhook_bodies_are_refused(service: ServiceProcess) -> None:
    for body in (b"{not json", b'{"event": 5}'):
        reply = await deliver(service, body, signed(body))
        assert reply.status_code == 400 and reply.json()["error"] == "webhook body is not a LiveKit WebhookEvent"


async def test_a_real_hosts_departure_frees_the_host_slot(rest: ShowClient, room: str) -> None:
    """LiveKit itself tells the service, through its configured webhook, that the host left."""
    admin = rest.as_(admin_token(room))
    joined = await admin.join(room, "host-1", "host")
    viewer_ticket = await rest.join(room, "viewer-1", "viewer")
    viewer = await LiveParticipant("viewer-1").connect(viewer_ticket["wsUrl"], viewer_ticket["token"])
    host = await LiveParticipant("host-1").connect(joined["wsUrl"], joined["token"])
    try:
        await eventually(lambda: "host-1" in {p.identity for p in viewer.room.remote_participants.values()})
        await host.disconnect()

        async def slot_free() -> bool:
            return not (await admin.get_room(room))["hasHost"]

        await until(slot_free, label="the host's departure freeing the slot")
        await viewer.wait_for(lambda: any(e["type"] == "host_left" for e in viewer.show_events))
        assert (await admin.join(room, "host-2", "host"))["role"] == "host"
    finally:
        await viewer.disconnect()


async def test_an_old_guest_token_does_not_put_a_demoted_guest_back_on_stage(
    rest: ShowClient, room: str, lkapi: api.LiveKitAPI
) -> None:
    joined = await rest.as_(admin_token(room)).join(room, "host-1", "host")
    host = rest.as_(joined["token"])
    ticket = await rest.join(room, "ann", "viewer")
    ann = await LiveParticipant("ann").connect(ticket["wsUrl"], ticket["token"])
    await rest.as_(ticket["token"]).hand(room, "ann", True)
    guest_token = (await host.invite(room, "ann", "host-1"))["token"]
    await host.demote(room, "ann", "host-1")
    await ann.disconnect()

    again = await LiveParticipant("ann").connect(ticket["wsUrl"], guest_token)  # the stale guest token
    try:

        async def back_in_the_audience() -> bool:
            seen = await lkapi.room.get_participant(api.RoomParticipantIdentity(room=room, identity="ann"))
            return not seen.permission.can_publish and seen.attributes.get("role") == "viewer"

        await until(back_in_the_audience, label="the service bringing ann back to the audience")
    finally:
        await again.disconnect()
