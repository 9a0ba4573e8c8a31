"""Every RPC of the contract, through gRPC, Twirp JSON, Twirp protobuf and the MVP's REST routes,
against a real LiveKit server. Outcomes are checked in LiveKit's own view where LiveKit holds them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from livekit import api
from livekit.protocol import models as lk

from service.core import errors
from tests.conftest import API_KEY, API_SECRET, admin_token, lister_token
from tests.doors import Refused, ShowClient, expect_refusal
from tests.live import LiveParticipant, livekit_participant


def but_the_holder(attributes: Mapping[str, str]) -> dict[str, str]:
    """A participant's attributes on LiveKit but its `holder` mark, which says only which holder
    of the name its token was given to (the show's state is the rest)."""
    return {key: value for key, value in attributes.items() if key != "holder"}


def claims(token: str) -> dict[str, Any]:
    """The token's claims, after checking it is signed with the API secret as LiveKit will."""
    decoded: dict[str, Any] = jwt.decode(token, API_SECRET, algorithms=["HS256"], options={"verify_aud": False})
    assert decoded["iss"] == API_KEY
    return decoded


async def livekit_rooms(lkapi: api.LiveKitAPI) -> set[str]:
    return {r.name for r in (await lkapi.room.list_rooms(api.ListRoomsRequest())).rooms}


async def refused(call: Any) -> Refused:
    with pytest.raises(Refused) as caught:
        await call
    return caught.value


@dataclass
class Show:
    """A show in progress: a host and a viewer, both really connected to LiveKit, and the door
    as each of them (and as the room's admin)."""

    room: str
    host: ShowClient
    viewer: ShowClient
    admin: ShowClient
    host_live: LiveParticipant
    viewer_live: LiveParticipant


async def start_show(door: ShowClient, room: str) -> tuple[ShowClient, LiveParticipant]:
    joined = await door.as_(admin_token(room)).join(room, "host-1", "host")
    live = await LiveParticipant("host-1").connect(joined["wsUrl"], joined["token"])
    return door.as_(joined["token"]), live


async def join_viewer(door: ShowClient, room: str, identity: str) -> tuple[ShowClient, LiveParticipant]:
    joined = await door.as_(None).join(room, identity, "viewer")
    live = await LiveParticipant(identity).connect(joined["wsUrl"], joined["token"])
    return door.as_(joined["token"]), live


@pytest.fixture
async def show(door: ShowClient, room: str) -> AsyncIterator[Show]:
    host, host_live = await start_show(door, room)
    viewer, viewer_live = await join_viewer(door, room, "viewer-1")
    yield Show(room, host, viewer, door.as_(admin_token(room)), host_live, viewer_live)
    await viewer_live.disconnect()
    await host_live.disconnect()


async def on_stage(show: Show) -> dict[str, Any]:
    """The viewer asks, the host agrees: the viewer is a guest."""
    await show.viewer.hand(show.room, "viewer-1", True)
    promoted = await show.host.invite(show.room, "viewer-1", "host-1")
    assert promoted["promoted"] is True
    return promoted


# --- JoinRoom ----------------------------------------------------------------------------


async def test_host_join_creates_the_room_and_grants_broadcasting(
    door: ShowClient, room: str, lkapi: api.LiveKitAPI
) -> None:
    joined = await door.as_(admin_token(room)).join(room, "host-1", "host")
    assert joined["role"] == "host"
    assert joined["wsUrl"].startswith("ws://127.0.0.1:")
    assert room in await livekit_rooms(lkapi)
    grants = claims(joined["token"])
    assert grants["sub"] == "host-1"
    video = grants["video"]
    assert video["room"] == room and video["roomJoin"] is True
    assert video["canPublish"] is True and video["canSubscribe"] is True and video["canPublishData"] is True
    assert "canPublishSources" not in video and "roomAdmin" not in video
    assert video.get("canUpdateOwnMetadata") is False
    assert grants["attributes"] == {"role": "host"}


async def test_anyone_may_join_as_a_viewer_who_never_publishes_and_subscribes_once_live(
    door: ShowClient, room: str
) -> None:
    early = await door.as_(None).join(room, "viewer-1", "viewer")
    assert early["role"] == "viewer" and early["state"] == "SHOW_STATE_UNSPECIFIED"
    video = claims(early["token"])["video"]
    assert video["canPublish"] is False  # explicitly false, not merely absent
    assert video["canSubscribe"] is False and video["canPublishData"] is True  # waits for the show
    admin = door.as_(admin_token(room))
    await admin.join(room, "host-1", "host")
    await admin.go_live(room)
    joined = await door.as_(None).join(room, "viewer-2", "viewer")
    assert joined["state"] == "SHOW_STATE_LIVE"
    video = claims(joined["token"])["video"]
    assert video["canPublish"] is False
    assert video["canSubscribe"] is True and video["canPublishData"] is True


async def test_a_viewer_joining_again_learns_of_its_raised_hand_and_its_invitation(
    door: ShowClient, show: Show
) -> None:
    """A reloaded page asks JoinRoom again with the token its tab kept: the answer says whether
    the viewer's hand is up, when its invitation expires (ms, 0 if none; on the REST door a
    JSON number, as InviteGuest's expiresAt) and who sent it, so that the page shows them again."""
    room = show.room
    fresh = await show.viewer.join(room, "viewer-1", "viewer")
    assert (fresh["handRaised"], int(fresh["invitationExpiresAt"]), fresh["invitedBy"]) == (False, 0, "")
    await show.viewer.hand(room, "viewer-1", True)
    assert (await show.viewer.join(room, "viewer-1", "viewer"))["handRaised"] is True
    second, second_live = await join_viewer(door, room, "viewer-2")
    try:
        invited = await show.host.invite(room, "viewer-2", "host-1")
        again = await second.join(room, "viewer-2", "viewer")
        assert (again["handRaised"], again["invitationExpiresAt"]) == (False, invited["expiresAt"])
        assert again["invitedBy"] == "host-1"
        if door.door == "rest":
            assert type(again["invitationExpiresAt"]) is int and again["invitationExpiresAt"] > 0
    finally:
        await second_live.disconnect()
    hosting = await show.host.join(room, "host-1", "host")  # only a viewer has a hand or an invitation
    assert (hosting["handRaised"], int(hosting["invitationExpiresAt"]), hosting["invitedBy"]) == (False, 0, "")


async def test_a_second_host_is_refused_even_before_the_first_connects(door: ShowClient, room: str) -> None:
    admin = door.as_(admin_token(room))
    first = await admin.join(room, "host-1", "host")
    expect_refusal(await refused(admin.join(room, "host-2", "host")), "ALREADY_EXISTS", "Room already has a host")
    again = await door.as_(first["token"]).join(room, "host-1", "host")  # the host refreshes its token
    assert again["role"] == "host"


async def test_join_needs_room_name_participant_name_and_a_role(door: ShowClient, room: str) -> None:
    admin = door.as_(admin_token(room))
    for args in ((room, "", "host"), ("", "someone", "viewer"), ("", "", "")):
        expect_refusal(
            await refused(admin.join(*args)), "INVALID_ARGUMENT", "roomName and participantName are required"
        )
    for role in ("", "guest", "moderator"):
        expect_refusal(
            await refused(admin.join(room, "someone", role)), "INVALID_ARGUMENT", 'role must be "host" or "viewer"'
        )


# --- one's own place ---------------------------------------------------------------------


def place(answer: dict[str, Any]) -> tuple[str, str, str, bool, int, str]:
    """GetMyPlace's answer as every door gives it: identity, role (a word, as the MVP's roles are
    on REST), show state, hand, invitation expiry (an int64: a JSON string in proto3's mapping,
    a number on REST as JoinRoom's and InviteGuest's) and who invited."""
    return (
        answer["identity"],
        answer["role"],
        answer["state"],
        answer["handRaised"],
        int(answer["invitationExpiresAt"]),
        answer["invitedBy"],
    )


async def test_each_participant_reads_its_own_place_with_its_own_token(
    door: ShowClient, show: Show, lkapi: api.LiveKitAPI
) -> None:
    """GetMyPlace answers what a page needs after a reconnect (its part, its hand, an invitation
    waiting, the show's state) for whoever's token calls, and mints no token: a viewer, a viewer
    with its hand up, an invited viewer, a moderator, a guest and the host, each connected to
    LiveKit."""
    room = show.room
    live = "SHOW_STATE_LIVE"
    assert place(await show.viewer.my_place(room))[2] == "SHOW_STATE_BACKSTAGE"
    await show.host.go_live(room)
    assert place(await show.viewer.my_place(room)) == ("viewer-1", "viewer", live, False, 0, "")
    assert place(await show.host.my_place(room)) == ("host-1", "host", live, False, 0, "")
    await show.viewer.hand(room, "viewer-1", True)
    assert place(await show.viewer.my_place(room)) == ("viewer-1", "viewer", live, True, 0, "")

    invited, invited_live = await join_viewer(door, room, "viewer-2")
    moderator, moderator_live = await join_viewer(door, room, "viewer-3")
    try:
        invitation = await show.host.invite(room, "viewer-2", "host-1")
        expires_at = int(invitation["expiresAt"])
        assert expires_at > 0
        waiting = await invited.my_place(room)
        assert place(waiting) == ("viewer-2", "viewer", live, False, expires_at, "host-1")
        if door.door == "rest":  # the invitation's expiry reads as InviteGuest's expiresAt does
            assert waiting["invitationExpiresAt"] == invitation["expiresAt"]
            assert type(waiting["invitationExpiresAt"]) is int
        await show.host.appoint_moderator(room, "viewer-3")
        assert place(await moderator.my_place(room)) == ("viewer-3", "moderator", live, False, 0, "")
        assert (await show.host.invite(room, "viewer-1", "host-1"))["promoted"] is True  # its hand was up
        seen = await livekit_participant(lkapi, room, "viewer-1")
        holder = claims(show.viewer.token or "")["showrunnerHolder"]  # the viewer's, kept on stage
        assert seen is not None and seen.attributes == {"role": "guest", "holder": holder}
        assert place(await show.viewer.my_place(room)) == ("viewer-1", "guest", live, False, 0, "")
        # Each read is the caller's own: the others' places are unchanged by it.
        assert place(await invited.my_place(room))[4] == expires_at
        assert place(await show.host.my_place(room)) == ("host-1", "host", live, False, 0, "")
    finally:
        await moderator_live.disconnect()
        await invited_live.disconnect()
    answer = await show.viewer.my_place(room)
    assert "token" not in answer and "wsUrl" not in answer
    if door.door == "rest":  # proto3's JSON mapping, bar the MVP's role words and its numeric times
        assert set(answer) == {"identity", "role", "state", "handRaised", "invitationExpiresAt", "invitedBy"}


async def test_only_a_participants_own_token_reads_its_place(door: ShowClient, show: Show) -> None:
    room = show.room
    expect_refusal(await refused(show.admin.my_place(room)), "PERMISSION_DENIED", errors.NO_PLACE_OF_ITS_OWN)
    expect_refusal(await refused(door.as_(None).my_place(room)), "UNAUTHENTICATED", errors.MISSING_TOKEN)
    elsewhere = f"{room}-b"
    stranger = door.as_((await door.as_(None).join(elsewhere, "viewer-1", "viewer"))["token"])
    expect_refusal(await refused(stranger.my_place(room)), "PERMISSION_DENIED", f"This token is not for room {room}")
    assert place(await stranger.my_place(elsewhere))[:2] == ("viewer-1", "viewer")
    if door.door != "rest":  # on REST the room is a path segment: without it there is no such route
        expect_refusal(await refused(show.viewer.my_place("")), "INVALID_ARGUMENT", errors.ROOM_NAME_REQUIRED)
    # A participant banned meanwhile is refused, as every call with its token is.
    await show.host.remove_participant(room, "viewer-1", ban=True)
    expect_refusal(await refused(show.viewer.my_place(room)), "PERMISSION_DENIED", "viewer-1 is banned from this room")
    # A show ended meanwhile says so, to a page that comes back after it.
    await show.host.end_show(room)
    assert place(await show.host.my_place(room))[1:3] == ("viewer", "SHOW_STATE_ENDED")


# --- renewing one's token ------------------------------------------------------------------


def renewed_as(answer: dict[str, Any], before: str) -> dict[str, Any]:
    """The renewed token's claims, after checking it is the same participant's as `before` (its
    identity, room and display name), minted no earlier, and lasting the service's whole lifetime."""
    old, new = claims(before), claims(answer["token"])
    assert answer["identity"] == new["sub"] == old["sub"]
    assert new["video"]["room"] == old["video"]["room"] and new["video"]["roomJoin"] is True
    assert new["name"] == old["name"] and new["metadata"].endswith(old["metadata"].split(",", 1)[1])
    assert new["nbf"] >= old["nbf"] and new["exp"] - new["nbf"] == old["exp"] - old["nbf"]
    assert "roomAdmin" not in new["video"]
    return new


async def test_each_participant_renews_its_token_for_the_role_it_holds_now(
    door: ShowClient, show: Show, lkapi: api.LiveKitAPI
) -> None:
    """RenewToken gives the caller a fresh token with the grants of the role the show's record
    gives it now, whatever the token it calls with says: a waiting viewer's, then a watching
    viewer's, a guest's (less a source the host took), a viewer's again for a guest sent back, a
    moderator's; and the host's. LiveKit takes each renewed token as that role."""
    room = show.room
    viewer_token = show.viewer.token
    assert viewer_token is not None
    early = renewed_as(await show.viewer.renew_token(room), viewer_token)
    assert early["video"]["canSubscribe"] is False and early["video"]["canPublish"] is False  # backstage
    host_token = show.host.token
    assert host_token is not None
    hosting = await show.host.renew_token(room)
    assert hosting["role"] == "host"
    grants = renewed_as(hosting, host_token)
    assert grants["attributes"] == {"role": "host"} and grants["video"]["canPublish"] is True
    await door.as_(hosting["token"]).go_live(room)  # the renewed token does the host's work

    watching = await show.viewer.renew_token(room)
    video = renewed_as(watching, viewer_token)["video"]
    assert watching["role"] == "viewer" and video["canSubscribe"] is True and video["canPublish"] is False

    await on_stage(show)
    await show.host.mute(room, "viewer-1", "MICROPHONE", lock=True)
    guest = await show.viewer.renew_token(room)  # with its viewer token: the record decides
    grants = renewed_as(guest, viewer_token)
    holder = claims(viewer_token)["showrunnerHolder"]  # which holder of the name: the same as it renews
    assert guest["role"] == "guest" and grants["attributes"] == {"role": "guest", "holder": holder}
    assert grants["video"]["canPublish"] is True and grants["video"]["canPublishSources"] == ["camera"]
    await show.host.demote(room, "viewer-1", "host-1")
    back = await door.as_(guest["token"]).renew_token(room)  # a guest's token renews no guest
    assert back["role"] == "viewer" and renewed_as(back, guest["token"])["video"]["canPublish"] is False

    joined = await door.as_(None).join(room, "viewer-2", "viewer")
    moderator = door.as_(joined["token"])
    await show.host.appoint_moderator(room, "viewer-2")
    appointed = await moderator.renew_token(room)
    assert appointed["role"] == "moderator"
    holder = claims(joined["token"])["showrunnerHolder"]
    assert renewed_as(appointed, joined["token"])["attributes"] == {"role": "moderator", "holder": holder}
    moderator_live = await LiveParticipant("viewer-2").connect(joined["wsUrl"], appointed["token"])
    try:
        seen = await livekit_participant(lkapi, room, "viewer-2")
        assert (
            seen is not None
            and but_the_holder(seen.attributes) == {"role": "moderator"}
            and not seen.permission.can_publish
        )
    finally:
        await moderator_live.disconnect()
    if door.door == "rest":
        assert set(await show.viewer.renew_token(room)) == {"token", "identity", "role"}


async def test_only_a_participants_own_live_token_is_renewed(door: ShowClient, show: Show) -> None:
    """The room's admin has no token of its own to renew; a token for another room, an expired
    one, a banned participant's, and any token of a show that has ended get none."""
    room = show.room
    expect_refusal(await refused(show.admin.renew_token(room)), "PERMISSION_DENIED", errors.NO_PLACE_OF_ITS_OWN)
    expect_refusal(await refused(door.as_(None).renew_token(room)), "UNAUTHENTICATED", errors.MISSING_TOKEN)
    elsewhere = f"{room}-b"
    stranger = door.as_((await door.as_(None).join(elsewhere, "viewer-1", "viewer"))["token"])
    expect_refusal(await refused(stranger.renew_token(room)), "PERMISSION_DENIED", f"This token is not for room {room}")
    if door.door != "rest":  # on REST the room is a path segment: without it there is no such route
        expect_refusal(await refused(show.viewer.renew_token("")), "INVALID_ARGUMENT", errors.ROOM_NAME_REQUIRED)
    # The viewer's own token, as it would be once its lifetime is over.
    lapsed = claims(show.viewer.token or "")
    lapsed["nbf"], lapsed["exp"] = lapsed["nbf"] - 7200, lapsed["nbf"] - 3600
    expired = door.as_(jwt.encode(lapsed, API_SECRET, algorithm="HS256"))
    expect_refusal(await refused(expired.renew_token(room)), "UNAUTHENTICATED", "token has expired")

    await show.host.remove_participant(room, "viewer-1", ban=True)
    banned = await refused(show.viewer.renew_token(room))
    expect_refusal(banned, "PERMISSION_DENIED", "viewer-1 is banned from this room")
    await show.host.end_show(room)
    expect_refusal(await refused(show.host.renew_token(room)), "FAILED_PRECONDITION", errors.SHOW_ENDED)


# --- rooms -------------------------------------------------------------------------------


async def test_rooms_are_listed_and_described(door: ShowClient, show: Show) -> None:
    listed = {r["name"]: r for r in await door.as_(lister_token()).list_rooms()}
    assert listed[show.room]["sid"].startswith("RM_")
    assert int(listed[show.room]["creationTime"]) > 1_700_000_000
    described = await show.viewer.get_room(show.room)
    assert described["name"] == show.room and described["sid"] == listed[show.room]["sid"]
    assert described["hasHost"] is True and described["hasGuest"] is False
    assert described["guestLimit"] == 1
    assert (await show.admin.get_room(show.room))["name"] == show.room


async def test_unknown_rooms_are_not_found(door: ShowClient, room: str) -> None:
    admin = door.as_(admin_token(room))
    for call in (
        admin.get_room(room),
        admin.delete_room(room),
        admin.list_participants(room),
        admin.remove_participant(room, "anyone"),
        admin.invite(room, "viewer-1", "host-1"),
        admin.demote(room, "viewer-1", "host-1"),
        admin.remove_guest(room, "viewer-1", "host-1"),
        admin.hand(room, "viewer-1", True),
        admin.accept(room, "viewer-1"),
        admin.decline(room, "viewer-1"),
        admin.step_down(room, "viewer-1"),
        admin.hands(room),
        admin.settings(room, 2),
        admin.start_recording(room, "grid"),
        admin.stop_recording(room),
        admin.recordings(room),
    ):
        expect_refusal(await refused(call), "NOT_FOUND", "Room not found")


async def test_the_host_ends_the_show_for_everyone(door: ShowClient, show: Show, lkapi: api.LiveKitAPI) -> None:
    expect_refusal(
        await refused(show.viewer.delete_room(show.room)), "PERMISSION_DENIED", "Only the host can end the show"
    )
    await show.host.delete_room(show.room)
    assert show.room not in await livekit_rooms(lkapi)
    await show.viewer_live.wait_for(lambda: any(kind == "disconnected" for kind, _ in show.viewer_live.events))
    # The ended show stays readable, and locked: nobody, not even a new host, joins it again.
    assert (await show.admin.get_room(show.room))["state"] == "SHOW_STATE_ENDED"
    expect_refusal(
        await refused(show.admin.join(show.room, "host-2", "host")), "FAILED_PRECONDITION", errors.SHOW_ENDED
    )


# --- participants ------------------------------------------------------------------------


async def test_participants_are_listed_with_their_show_roles(show: Show) -> None:
    listed = {p["identity"]: p for p in await show.viewer.list_participants(show.room)}
    assert set(listed) == {"host-1", "viewer-1"}
    assert listed["host-1"]["role"] == "host" and listed["viewer-1"]["role"] == "viewer"
    assert listed["viewer-1"]["sid"].startswith("PA_")
    assert listed["viewer-1"]["handRaised"] is False
    assert '"role":"viewer"' in listed["viewer-1"]["metadata"]
    assert int(listed["viewer-1"]["joinedAt"]) > 1_700_000_000


async def test_the_host_removes_a_participant(door: ShowClient, show: Show, lkapi: api.LiveKitAPI) -> None:
    expect_refusal(
        await refused(show.viewer.remove_participant(show.room, "host-1")),
        "PERMISSION_DENIED",
        "Only the host can remove participants",
    )
    await show.host.remove_participant(show.room, "viewer-1")
    await show.viewer_live.wait_for(lambda: any(kind == "disconnected" for kind, _ in show.viewer_live.events))
    assert await livekit_participant(lkapi, show.room, "viewer-1") is None
    expect_refusal(
        await refused(show.host.remove_participant(show.room, "viewer-1")), "NOT_FOUND", "Participant not found"
    )
    if door.door != "rest":  # on REST the identity is a path segment: without it there is no such route
        expect_refusal(
            await refused(show.host.remove_participant(show.room, "")),
            "INVALID_ARGUMENT",
            "roomName and identity are required",
        )


# --- the stage ---------------------------------------------------------------------------


async def test_a_raised_hand_and_an_invitation_bring_the_viewer_on_stage_live(
    show: Show, lkapi: api.LiveKitAPI
) -> None:
    promoted = await on_stage(show)
    assert promoted["message"] == "viewer-1 has been promoted to guest"
    assert promoted["wsUrl"].startswith("ws://")
    guest_video = claims(promoted["token"])["video"]
    assert guest_video["canPublish"] is True
    assert sorted(guest_video["canPublishSources"]) == ["camera", "microphone"]

    seen = await livekit_participant(lkapi, show.room, "viewer-1")
    assert seen is not None
    assert seen.permission.can_publish is True
    assert set(seen.permission.can_publish_sources) == {lk.TrackSource.CAMERA, lk.TrackSource.MICROPHONE}
    assert but_the_holder(seen.attributes) == {"role": "guest"}
    described = await show.host.get_room(show.room)
    assert described["hasGuest"] is True and described["guests"] == ["viewer-1"]
    await show.host_live.wait_for(lambda: any(e["type"] == "guest_promoted" for e in show.host_live.show_events))
    event = next(e for e in show.host_live.show_events if e["type"] == "guest_promoted")
    assert event["senderId"] == "host-1" and event["targetParticipantId"] == "viewer-1"


async def test_only_the_host_invites_and_one_guest_at_a_time(door: ShowClient, show: Show) -> None:
    expect_refusal(
        await refused(show.viewer.invite(show.room, "viewer-1", "viewer-1")),
        "PERMISSION_DENIED",
        "Only the host can promote viewers to guest",
    )
    expect_refusal(
        await refused(show.host.invite(show.room, "viewer-1", "")),
        "INVALID_ARGUMENT",
        "viewerIdentity and hostIdentity are required",
    )
    await on_stage(show)
    second, second_live = await join_viewer(door, show.room, "viewer-2")
    try:
        await second.hand(show.room, "viewer-2", True)
        expect_refusal(
            await refused(show.host.invite(show.room, "viewer-2", "host-1")),
            "PERMISSION_DENIED",
            "Room already has a guest",
        )
    finally:
        await second_live.disconnect()


async def test_inviting_the_guest_on_stage_says_it_is_already_a_guest_and_changes_nothing(
    show: Show, lkapi: api.LiveKitAPI
) -> None:
    """With a seat still free, inviting the guest already on stage was refused PERMISSION_DENIED
    `Room already has a guest`, as if the stage were full; the guest is no viewer to invite."""
    await show.host.settings(show.room, 2)
    await on_stage(show)
    for inviter, acting in ((show.host, "host-1"), (show.admin, "host-1")):
        expect_refusal(
            await refused(inviter.invite(show.room, "viewer-1", acting)),
            "FAILED_PRECONDITION",
            "viewer-1 is already a guest",
        )
    described = await show.host.get_room(show.room)
    assert described["guests"] == ["viewer-1"] and described["guestLimit"] == 2
    seen = await livekit_participant(lkapi, show.room, "viewer-1")
    assert seen is not None and but_the_holder(seen.attributes) == {"role": "guest"} and seen.permission.can_publish


async def test_inviting_someone_not_connected_changes_nothing(show: Show) -> None:
    expect_refusal(await refused(show.host.invite(show.room, "nobody", "host-1")), "NOT_FOUND", "Participant not found")
    assert (await show.host.get_room(show.room))["hasGuest"] is False
    assert (await on_stage(show))["message"] == "viewer-1 has been promoted to guest"


async def test_host_sends_the_guest_back_to_the_audience(show: Show, lkapi: api.LiveKitAPI) -> None:
    await on_stage(show)
    guest = show.viewer
    expect_refusal(
        await refused(guest.demote(show.room, "viewer-1", "viewer-1")),
        "PERMISSION_DENIED",
        "Only the host can demote guests",
    )
    expect_refusal(await refused(show.host.demote(show.room, "host-1", "host-1")), "NOT_FOUND", "Guest not found")
    expect_refusal(
        await refused(show.host.demote(show.room, "", "host-1")),
        "INVALID_ARGUMENT",
        "guestIdentity and hostIdentity are required",
    )

    demoted = await show.host.demote(show.room, "viewer-1", "host-1")
    assert demoted["message"] == "viewer-1 has been demoted to viewer"
    assert claims(demoted["token"])["video"]["canPublish"] is False
    seen = await livekit_participant(lkapi, show.room, "viewer-1")
    assert seen is not None and seen.permission.can_publish is False
    assert seen.attributes["role"] == "viewer"
    assert (await show.host.get_room(show.room))["hasGuest"] is False
    await show.host_live.wait_for(lambda: any(e["type"] == "guest_demoted" for e in show.host_live.show_events))


async def test_host_removes_the_guest_from_the_room(show: Show, lkapi: api.LiveKitAPI) -> None:
    await on_stage(show)
    expect_refusal(
        await refused(show.viewer.remove_guest(show.room, "viewer-1", "viewer-1")),
        "PERMISSION_DENIED",
        "Only the host can remove guests",
    )
    removed = await show.host.remove_guest(show.room, "viewer-1", "host-1")
    assert removed["message"] == "viewer-1 has been removed from the room"
    await show.viewer_live.wait_for(lambda: any(kind == "disconnected" for kind, _ in show.viewer_live.events))
    assert await livekit_participant(lkapi, show.room, "viewer-1") is None
    assert (await show.host.get_room(show.room))["hasGuest"] is False
    expect_refusal(
        await refused(show.host.remove_guest(show.room, "viewer-1", "host-1")), "NOT_FOUND", "Guest not found"
    )


async def test_a_viewer_raises_and_lowers_a_hand(show: Show, lkapi: api.LiveKitAPI) -> None:
    assert (await show.viewer.hand(show.room, "viewer-1", True))["handRaised"] is True
    # A hand is not a participant attribute: LiveKit would push its every change to the whole room.
    seen = await livekit_participant(lkapi, show.room, "viewer-1")
    assert seen is not None and but_the_holder(seen.attributes) == {"role": "viewer"}
    listed = {p["identity"]: p for p in await show.host.list_participants(show.room)}
    assert listed["viewer-1"]["handRaised"] is True
    await show.host_live.wait_for(lambda: any(e["type"] == "hand_raise" for e in show.host_live.show_events))
    raise_event = next(e for e in show.host_live.show_events if e["type"] == "hand_raise")
    assert raise_event["senderId"] == "viewer-1" and raise_event["senderName"] == "viewer-1"

    assert (await show.viewer.hand(show.room, "viewer-1", False))["handRaised"] is False
    assert not (await show.host.hands(show.room))
    await show.host_live.wait_for(lambda: any(e["type"] == "hand_lower" for e in show.host_live.show_events))


async def test_hand_raising_refusals(door: ShowClient, show: Show) -> None:
    required = "participantIdentity and raised are required"
    expect_refusal(await refused(show.viewer.hand(show.room, "viewer-1", None)), "INVALID_ARGUMENT", required)
    expect_refusal(await refused(show.viewer.hand(show.room, "", True)), "INVALID_ARGUMENT", required)
    expect_refusal(
        await refused(show.host.hand(show.room, "host-1", True)), "FAILED_PRECONDITION", "Only viewers can raise a hand"
    )
    expect_refusal(await refused(show.admin.hand(show.room, "nobody", True)), "NOT_FOUND", "Participant not found")
    listed = {p["identity"]: p for p in await show.host.list_participants(show.room)}
    assert not any(p["handRaised"] for p in listed.values())
