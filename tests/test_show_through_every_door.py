"""Every RPC of the contract, through gRPC, Twirp JSON, Twirp protobuf and the MVP's REST routes,
against a real LiveKit server. Outcomes are checked in LiveKit's own view where LiveKit holds them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from livekit import api
from livekit.protocol import models as lk

from tests.conftest import API_KEY, API_SECRET
from tests.doors import Refused, ShowClient, expect_refusal
from tests.live import LiveParticipant, eventually


def claims(token: str) -> dict[str, Any]:
    """The token's claims, after checking it is signed with the API secret as LiveKit will."""
    decoded: dict[str, Any] = jwt.decode(
        token, API_SECRET, algorithms=["HS256"], options={"verify_aud": False}
    )
    assert decoded["iss"] == API_KEY
    return decoded


async def livekit_participant(lkapi: api.LiveKitAPI, room: str, identity: str) -> lk.ParticipantInfo | None:
    found = await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))
    return next((p for p in found.participants if p.identity == identity), None)


async def livekit_rooms(lkapi: api.LiveKitAPI) -> set[str]:
    return {r.name for r in (await lkapi.room.list_rooms(api.ListRoomsRequest())).rooms}


async def refused(call: Any) -> Refused:
    with pytest.raises(Refused) as caught:
        await call
    return caught.value


@dataclass
class Show:
    """A show in progress: a host and a viewer, both really connected to LiveKit."""

    room: str
    host: LiveParticipant
    viewer: LiveParticipant


@pytest.fixture
async def show(door: ShowClient, room: str) -> AsyncIterator[Show]:
    host_join = await door.join(room, "host-1", "host")
    viewer_join = await door.join(room, "viewer-1", "viewer")
    host = await LiveParticipant("host-1").connect(host_join["wsUrl"], host_join["token"])
    viewer = await LiveParticipant("viewer-1").connect(viewer_join["wsUrl"], viewer_join["token"])
    yield Show(room, host, viewer)
    await viewer.disconnect()
    await host.disconnect()


# --- JoinRoom ----------------------------------------------------------------------------


async def test_host_join_creates_the_room_and_grants_broadcasting(
    door: ShowClient, room: str, lkapi: api.LiveKitAPI
) -> None:
    joined = await door.join(room, "host-1", "host")
    assert joined["role"] == "host"
    assert joined["wsUrl"].startswith("ws://127.0.0.1:")
    assert room in await livekit_rooms(lkapi)
    grants = claims(joined["token"])
    assert grants["sub"] == "host-1"
    video = grants["video"]
    assert video["room"] == room and video["roomJoin"] is True
    assert video["canPublish"] is True and video["canSubscribe"] is True and video["canPublishData"] is True
    assert "canPublishSources" not in video
    assert video.get("canUpdateOwnMetadata") is False
    assert grants["attributes"] == {"role": "host", "handRaised": "false"}


async def test_viewer_token_subscribes_and_sends_data_but_never_publishes(
    door: ShowClient, room: str
) -> None:
    joined = await door.join(room, "viewer-1", "viewer")
    assert joined["role"] == "viewer"
    video = claims(joined["token"])["video"]
    assert video["canPublish"] is False  # explicitly false, not merely absent
    assert video["canSubscribe"] is True and video["canPublishData"] is True


async def test_a_second_host_is_refused_even_before_the_first_connects(door: ShowClient, room: str) -> None:
    await door.join(room, "host-1", "host")
    refusal = await refused(door.join(room, "host-2", "host"))
    expect_refusal(refusal, "ALREADY_EXISTS", "Room already has a host")
    again = await door.join(room, "host-1", "host")  # the host itself may fetch a fresh token
    assert again["role"] == "host"


async def test_join_needs_room_name_participant_name_and_a_role(door: ShowClient, room: str) -> None:
    for args in ((room, "", "host"), ("", "someone", "viewer"), ("", "", "")):
        expect_refusal(
            await refused(door.join(*args)), "INVALID_ARGUMENT", "roomName and participantName are required"
        )
    for role in ("", "guest"):
        expect_refusal(
            await refused(door.join(room, "someone", role)),
            "INVALID_ARGUMENT",
            'role must be "host" or "viewer"',
        )


# --- rooms -------------------------------------------------------------------------------


async def test_rooms_are_listed_and_described(door: ShowClient, room: str) -> None:
    await door.join(room, "host-1", "host")
    listed = {r["name"]: r for r in await door.list_rooms()}
    assert listed[room]["sid"].startswith("RM_")
    assert int(listed[room]["creationTime"]) > 1_700_000_000
    described = await door.get_room(room)
    assert described["name"] == room and described["sid"] == listed[room]["sid"]
    assert described["hasHost"] is True and described["hasGuest"] is False
    assert described["numParticipants"] == 0


async def test_unknown_rooms_are_not_found(door: ShowClient, room: str) -> None:
    for call in (
        door.get_room(room),
        door.delete_room(room),
        door.list_participants(room),
        door.remove_participant(room, "anyone"),
        door.invite(room, "viewer-1", "host-1"),
        door.demote(room, "viewer-1", "host-1"),
        door.remove_guest(room, "viewer-1", "host-1"),
        door.hand(room, "viewer-1", True),
    ):
        expect_refusal(await refused(call), "NOT_FOUND", "Room not found")


async def test_deleting_a_room_ends_the_show_for_everyone(
    door: ShowClient, show: Show, lkapi: api.LiveKitAPI
) -> None:
    await door.delete_room(show.room)
    assert show.room not in await livekit_rooms(lkapi)
    await show.viewer.wait_for(lambda: any(kind == "disconnected" for kind, _ in show.viewer.events))
    expect_refusal(await refused(door.get_room(show.room)), "NOT_FOUND", "Room not found")
    # The host slot went with the room: a new host may start it again.
    assert (await door.join(show.room, "host-2", "host"))["role"] == "host"


# --- participants ------------------------------------------------------------------------


async def test_participants_are_listed_with_their_show_roles(door: ShowClient, show: Show) -> None:
    listed = {p["identity"]: p for p in await door.list_participants(show.room)}
    assert set(listed) == {"host-1", "viewer-1"}
    assert listed["host-1"]["role"] == "host" and listed["viewer-1"]["role"] == "viewer"
    assert listed["viewer-1"]["sid"].startswith("PA_")
    assert listed["viewer-1"]["handRaised"] is False
    assert '"role":"viewer"' in listed["viewer-1"]["metadata"]
    assert int(listed["viewer-1"]["joinedAt"]) > 1_700_000_000


async def test_removing_a_participant_disconnects_them(
    door: ShowClient, show: Show, lkapi: api.LiveKitAPI
) -> None:
    await door.remove_participant(show.room, "viewer-1")
    await show.viewer.wait_for(lambda: any(kind == "disconnected" for kind, _ in show.viewer.events))
    assert await livekit_participant(lkapi, show.room, "viewer-1") is None
    expect_refusal(
        await refused(door.remove_participant(show.room, "viewer-1")), "NOT_FOUND", "Participant not found"
    )
    if door.door != "rest":  # on REST the identity is a path segment: without it there is no such route
        expect_refusal(
            await refused(door.remove_participant(show.room, "")),
            "INVALID_ARGUMENT",
            "roomName and identity are required",
        )


# --- the stage ---------------------------------------------------------------------------


async def test_host_brings_a_connected_viewer_on_stage_live(
    door: ShowClient, show: Show, lkapi: api.LiveKitAPI
) -> None:
    promoted = await door.invite(show.room, "viewer-1", "host-1")
    assert promoted["message"] == "viewer-1 has been promoted to guest"
    assert promoted["wsUrl"].startswith("ws://")
    guest_video = claims(promoted["token"])["video"]
    assert guest_video["canPublish"] is True
    assert sorted(guest_video["canPublishSources"]) == ["camera", "microphone"]

    seen = await livekit_participant(lkapi, show.room, "viewer-1")
    assert seen is not None
    assert seen.permission.can_publish is True
    assert set(seen.permission.can_publish_sources) == {lk.TrackSource.CAMERA, lk.TrackSource.MICROPHONE}
    assert seen.attributes["role"] == "guest"
    assert (await door.get_room(show.room))["hasGuest"] is True
    await show.host.wait_for(lambda: any(e["type"] == "guest_promoted" for e in show.host.show_events))
    event = next(e for e in show.host.show_events if e["type"] == "guest_promoted")
    assert event["senderId"] == "host-1" and event["targetParticipantId"] == "viewer-1"


async def test_only_the_host_invites_and_one_guest_at_a_time(door: ShowClient, show: Show) -> None:
    expect_refusal(
        await refused(door.invite(show.room, "viewer-1", "viewer-1")),
        "PERMISSION_DENIED",
        "Only the host can promote viewers to guest",
    )
    expect_refusal(
        await refused(door.invite(show.room, "viewer-1", "")),
        "INVALID_ARGUMENT",
        "viewerIdentity and hostIdentity are required",
    )
    await door.invite(show.room, "viewer-1", "host-1")
    second = await door.join(show.room, "viewer-2", "viewer")
    other = await LiveParticipant("viewer-2").connect(second["wsUrl"], second["token"])
    try:
        expect_refusal(
            await refused(door.invite(show.room, "viewer-2", "host-1")),
            "PERMISSION_DENIED",
            "Room already has a guest",
        )
    finally:
        await other.disconnect()


async def test_inviting_someone_not_connected_changes_nothing(door: ShowClient, show: Show) -> None:
    expect_refusal(
        await refused(door.invite(show.room, "nobody", "host-1")), "NOT_FOUND", "Participant not found"
    )
    assert (await door.get_room(show.room))["hasGuest"] is False
    assert (await door.invite(show.room, "viewer-1", "host-1"))[
        "message"
    ] == "viewer-1 has been promoted to guest"


async def test_host_sends_the_guest_back_to_the_audience(
    door: ShowClient, show: Show, lkapi: api.LiveKitAPI
) -> None:
    await door.invite(show.room, "viewer-1", "host-1")
    expect_refusal(
        await refused(door.demote(show.room, "viewer-1", "viewer-1")),
        "PERMISSION_DENIED",
        "Only the host can demote guests",
    )
    expect_refusal(await refused(door.demote(show.room, "host-1", "host-1")), "NOT_FOUND", "Guest not found")
    expect_refusal(
        await refused(door.demote(show.room, "", "host-1")),
        "INVALID_ARGUMENT",
        "guestIdentity and hostIdentity are required",
    )

    demoted = await door.demote(show.room, "viewer-1", "host-1")
    assert demoted["message"] == "viewer-1 has been demoted to viewer"
    assert claims(demoted["token"])["video"]["canPublish"] is False
    seen = await livekit_participant(lkapi, show.room, "viewer-1")
    assert seen is not None and seen.permission.can_publish is False
    assert seen.attributes["role"] == "viewer"
    assert (await door.get_room(show.room))["hasGuest"] is False
    await show.host.wait_for(lambda: any(e["type"] == "guest_demoted" for e in show.host.show_events))


async def test_host_removes_the_guest_from_the_room(
    door: ShowClient, show: Show, lkapi: api.LiveKitAPI
) -> None:
    await door.invite(show.room, "viewer-1", "host-1")
    expect_refusal(
        await refused(door.remove_guest(show.room, "viewer-1", "viewer-1")),
        "PERMISSION_DENIED",
        "Only the host can remove guests",
    )
    removed = await door.remove_guest(show.room, "viewer-1", "host-1")
    assert removed["message"] == "viewer-1 has been removed from the room"
    await show.viewer.wait_for(lambda: any(kind == "disconnected" for kind, _ in show.viewer.events))
    assert await livekit_participant(lkapi, show.room, "viewer-1") is None
    assert (await door.get_room(show.room))["hasGuest"] is False
    expect_refusal(
        await refused(door.remove_guest(show.room, "viewer-1", "host-1")), "NOT_FOUND", "Guest not found"
    )


async def test_a_viewer_raises_and_lowers_a_hand(door: ShowClient, show: Show, lkapi: api.LiveKitAPI) -> None:
    assert await door.hand(show.room, "viewer-1", True) is True
    seen = await livekit_participant(lkapi, show.room, "viewer-1")
    assert seen is not None and seen.attributes["handRaised"] == "true"
    listed = {p["identity"]: p for p in await door.list_participants(show.room)}
    assert listed["viewer-1"]["handRaised"] is True
    await show.host.wait_for(lambda: any(e["type"] == "hand_raise" for e in show.host.show_events))
    raise_event = next(e for e in show.host.show_events if e["type"] == "hand_raise")
    assert raise_event["senderId"] == "viewer-1" and raise_event["senderName"] == "viewer-1"

    assert await door.hand(show.room, "viewer-1", False) is False
    seen = await livekit_participant(lkapi, show.room, "viewer-1")
    assert seen is not None and seen.attributes["handRaised"] == "false"
    await show.host.wait_for(lambda: any(e["type"] == "hand_lower" for e in show.host.show_events))


async def test_hand_raising_refusals(door: ShowClient, show: Show) -> None:
    expect_refusal(
        await refused(door.hand(show.room, "viewer-1", None)),
        "INVALID_ARGUMENT",
        "participantIdentity and raised are required",
    )
    expect_refusal(
        await refused(door.hand(show.room, "", True)),
        "INVALID_ARGUMENT",
        "participantIdentity and raised are required",
    )
    expect_refusal(
        await refused(door.hand(show.room, "host-1", True)),
        "FAILED_PRECONDITION",
        "Only viewers can raise a hand",
    )
    expect_refusal(await refused(door.hand(show.room, "nobody", True)), "NOT_FOUND", "Participant not found")
    listed = {p["identity"]: p for p in await door.list_participants(show.room)}
    assert not any(p["handRaised"] for p in listed.values())


async def test_inviting_a_viewer_lowers_their_hand(door: ShowClient, show: Show) -> None:
    await door.hand(show.room, "viewer-1", True)
    await door.invite(show.room, "viewer-1", "host-1")
    listed = {p["identity"]: p for p in await door.list_participants(show.room)}
    assert listed["viewer-1"]["role"] == "guest" and listed["viewer-1"]["handRaised"] is False
    await eventually(lambda: any(e["type"] == "guest_promoted" for e in show.viewer.show_events))
