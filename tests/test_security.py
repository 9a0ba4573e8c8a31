"""Who may call: every privileged RPC, through every door, refuses bad tokens (401) and callers
without the right (403), and a refused call changes nothing."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import jwt
import pytest
from livekit import api

from service.core.roles import Role
from service.gateway.tokens import TokenMinter
from tests.conftest import API_KEY, API_SECRET, admin_token, lister_token
from tests.doors import Refused, ShowClient, expect_refusal
from tests.live import LiveParticipant, gone_from_livekit, until
from tests.test_show_through_every_door import claims

Call = Callable[[ShowClient, str], Awaitable[Any]]

# Every RPC that needs a caller, as a well-formed request about `room` by the host "host-1".
PRIVILEGED: dict[str, Call] = {
    "JoinRoom (host)": lambda c, r: c.join(r, "host-1", "host"),
    "ListRooms": lambda c, r: c.list_rooms(),
    "GetRoom": lambda c, r: c.get_room(r),
    "DeleteRoom": lambda c, r: c.delete_room(r),
    "ListParticipants": lambda c, r: c.list_participants(r),
    "RemoveParticipant": lambda c, r: c.remove_participant(r, "viewer-1"),
    "InviteGuest": lambda c, r: c.invite(r, "viewer-1", "host-1"),
    "DemoteGuest": lambda c, r: c.demote(r, "viewer-1", "host-1"),
    "RemoveGuest": lambda c, r: c.remove_guest(r, "viewer-1", "host-1"),
    "SetHandRaised": lambda c, r: c.hand(r, "viewer-1", True),
    "AcceptInvitation": lambda c, r: c.accept(r, "viewer-1"),
    "DeclineInvitation": lambda c, r: c.decline(r, "viewer-1"),
    "StepDown": lambda c, r: c.step_down(r, "viewer-1"),
    "ListRaisedHands": lambda c, r: c.hands(r),
    "UpdateRoomSettings": lambda c, r: c.settings(r, 2),
    "StartRecording": lambda c, r: c.start_recording(r, "speaker"),
    "StopRecording": lambda c, r: c.stop_recording(r),
    "ListRecordings": lambda c, r: c.recordings(r),
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unverified(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def bad_tokens(good: str) -> dict[str, str | None]:
    """Each way a token can be wrong, made from a good one."""
    claims = unverified(good)
    header, payload, signature = good.split(".")
    tampered = dict(claims, sub="viewer-1")
    return {
        "missing": None,
        "malformed": "not-a-jwt",
        "forged": jwt.encode(claims, "a-different-secret-of-enough-length-000", algorithm="HS256"),
        "expired": jwt.encode(dict(claims, exp=int(time.time()) - 3600), API_SECRET, algorithm="HS256"),
        "alg=none": f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{payload}.",
        "wrong issuer": jwt.encode(dict(claims, iss="another-key"), API_SECRET, algorithm="HS256"),
        "tampered": f"{header}.{b64(json.dumps(tampered).encode())}.{signature}",
        "no expiry": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, API_SECRET, algorithm="HS256"),
    }


async def refusal(call: Awaitable[Any]) -> Refused:
    with pytest.raises(Refused) as caught:
        await call
    return caught.value


async def snapshot(door: ShowClient, room: str) -> tuple[Any, ...]:
    admin = door.as_(admin_token(room))
    described = await admin.get_room(room)
    participants = sorted((p["identity"], p["role"], p["handRaised"]) for p in await admin.list_participants(room))
    return described["hasHost"], described["hasGuest"], described["guestLimit"], participants, await admin.hands(room)


@pytest.fixture
async def live_show(door: ShowClient, room: str) -> AsyncIterator[dict[str, str]]:
    """A host and a viewer connected to `room`; their tokens by name."""
    host = await door.as_(admin_token(room)).join(room, "host-1", "host")
    viewer = await door.as_(None).join(room, "viewer-1", "viewer")
    people = [
        await LiveParticipant("host-1").connect(host["wsUrl"], host["token"]),
        await LiveParticipant("viewer-1").connect(viewer["wsUrl"], viewer["token"]),
    ]
    yield {"host": host["token"], "viewer": viewer["token"]}
    for person in people:
        await person.disconnect()


async def test_every_privileged_rpc_refuses_every_bad_token(
    door: ShowClient, room: str, live_show: dict[str, str]
) -> None:
    before = await snapshot(door, room)
    for kind, token in bad_tokens(live_show["host"]).items():
        for rpc, call in PRIVILEGED.items():
            caught = await refusal(call(door.as_(token), room))
            assert caught.code == "UNAUTHENTICATED" or caught.wire == 401, f"{rpc} with a {kind} token: {caught}"
            assert caught.message, f"{rpc} with a {kind} token gave no reason"
    assert await snapshot(door, room) == before


async def test_the_reasons_are_specific(door: ShowClient, room: str, live_show: dict[str, str]) -> None:
    reasons = {
        kind: (await refusal(door.as_(t).get_room(room))).message for kind, t in bad_tokens(live_show["host"]).items()
    }
    assert reasons == {
        "missing": "Authorization: Bearer <token> is required",
        "malformed": "token is malformed",
        "forged": "token signature is invalid",
        "expired": "token has expired",
        "alg=none": "token must be signed with HS256",
        "wrong issuer": "token was not issued with this service's API key",
        "tampered": "token signature is invalid",
        "no expiry": "token has no exp claim",
    }


async def test_a_viewer_may_not_do_the_hosts_work(door: ShowClient, room: str, live_show: dict[str, str]) -> None:
    viewer = door.as_(live_show["viewer"])
    before = await snapshot(door, room)
    expected = {
        "JoinRoom (host)": "Joining as host needs the room's admin token or the host's own token",
        "ListRooms": "Listing rooms needs an admin token with the roomList grant",
        "DeleteRoom": "Only the host can end the show",
        "RemoveParticipant": "Only the host can remove participants",
        "InviteGuest": "hostIdentity must be the caller's own identity",
        "DemoteGuest": "hostIdentity must be the caller's own identity",
        "RemoveGuest": "hostIdentity must be the caller's own identity",
        "ListRaisedHands": "Only the host can see raised hands",
        "UpdateRoomSettings": "Only the host can change room settings",
        "StartRecording": "Only the host can record the show",
        "StopRecording": "Only the host can record the show",
        "ListRecordings": "Only the host can record the show",
    }
    for rpc, message in expected.items():
        expect_refusal(await refusal(PRIVILEGED[rpc](viewer, room)), "PERMISSION_DENIED", message)
    # Naming itself as the host does not make a viewer the host.
    expect_refusal(
        await refusal(viewer.invite(room, "viewer-1", "viewer-1")),
        "PERMISSION_DENIED",
        "Only the host can promote viewers to guest",
    )
    assert await snapshot(door, room) == before


async def test_nobody_takes_the_name_of_a_host_whose_seat_was_freed(
    door: ShowClient, room: str, live_show: dict[str, str], lkapi: api.LiveKitAPI
) -> None:
    """The last host's token still ends the show once its seat is freed; a viewer's token with its
    name, had for the asking at the viewer door, must not."""
    admin = door.as_(admin_token(room))
    # Its connection ends (LiveKit drops it): its seat is freed (no reconnect grace here).
    await lkapi.room.remove_participant(api.RoomParticipantIdentity(room=room, identity="host-1"))
    await until(lambda: _seat_free(admin, room), 10.0, "the host's seat freed")
    expect_refusal(
        await refusal(door.as_(None).join(room, "host-1", "viewer")),
        "PERMISSION_DENIED",
        "host-1 hosted this room: joining as host-1 needs its own token or the room's admin token",
    )
    # Its own token, or the room's admin, may still join it as a viewer.
    assert (await door.as_(live_show["host"]).join(room, "host-1", "viewer"))["role"] == "viewer"
    assert (await admin.join(room, "host-1", "viewer"))["role"] == "viewer"
    assert (await admin.get_room(room))["hasHost"] is False


async def test_a_viewer_token_had_for_the_hosts_name_before_it_hosted_carries_no_host_powers(
    door: ShowClient, room: str
) -> None:
    """Before the show opens, "host-1" is a free name: the viewer door hands a token for it to
    whoever asks. Then the backend makes host-1 the host with the room's admin token. The early
    token is a viewer's, whoever holds it: it gets no host's token, and neither the host's powers
    nor, once the host's seat is freed, the last host's. The host's own token keeps both."""
    squat = door.as_((await door.as_(None).join(room, "host-1", "viewer"))["token"])
    joined = await door.as_(admin_token(room)).join(room, "host-1", "host")
    host_live = await LiveParticipant("host-1").connect(joined["wsUrl"], joined["token"])
    host, admin = door.as_(joined["token"]), door.as_(admin_token(room))
    try:
        expect_refusal(
            await refusal(squat.renew_token(room)),
            "PERMISSION_DENIED",
            "host-1 is the host of this room: joining as host-1 needs its own token or the room's admin token",
        )
        for call, message in (
            (squat.go_live(room), "Only the host can take the show live"),
            (squat.appoint_moderator(room, "host-1"), "Only the host can appoint moderators"),
            (squat.start_recording(room, "grid"), "Only the host can record the show"),
        ):
            expect_refusal(await refusal(call), "PERMISSION_DENIED", message)
        assert (await host.renew_token(room))["role"] in ("host", "ROLE_HOST")
        await host_live.disconnect()  # its seat is freed: the last host's powers
        await until(lambda: _seat_free(admin, room), 10.0, "the host's seat freed")
        expect_refusal(await refusal(squat.end_show(room)), "PERMISSION_DENIED", "Only the host can end the show")
        assert (await host.end_show(room))["state"] == "SHOW_STATE_ENDED"
    finally:
        await host_live.disconnect()


async def test_the_last_hosts_own_later_tokens_keep_its_powers(door: ShowClient, room: str) -> None:
    """Once the host's seat is freed, the tokens made for its name from its own token (renewed,
    or a join through the viewer door, which keeps the name for it) are a viewer's, and still of
    the host's line: each still ends the show, and one renewed from them is too. A token had for
    the name before it hosted is not (the test above)."""
    squat = door.as_((await door.as_(None).join(room, "host-1", "viewer"))["token"])
    joined = await door.as_(admin_token(room)).join(room, "host-1", "host")
    host_live = await LiveParticipant("host-1").connect(joined["wsUrl"], joined["token"])
    admin, host = door.as_(admin_token(room)), door.as_(joined["token"])
    try:
        await host_live.disconnect()  # its seat is freed (no reconnect grace here)
        await until(lambda: _seat_free(admin, room), 10.0, "the host's seat freed")
        renewed = door.as_((await host.renew_token(room))["token"])
        back = door.as_((await host.join(room, "host-1", "viewer"))["token"])
        again = door.as_((await back.renew_token(room))["token"])
        assert not claims(renewed.token or "")["video"].get("canPublish")  # a viewer's grants
        # The early token, through the viewer door too, is still nobody's line.
        rejoined = door.as_((await squat.join(room, "host-1", "viewer"))["token"])
        for early in (squat, rejoined, door.as_((await rejoined.renew_token(room))["token"])):
            expect_refusal(await refusal(early.end_show(room)), "PERMISSION_DENIED", "Only the host can end the show")
        for later in (renewed, back, again):
            assert (await later.history(room, 10, ""))["entries"]  # the last host reads what it kept
        assert (await again.end_show(room))["state"] == "SHOW_STATE_ENDED"
    finally:
        await host_live.disconnect()


async def test_a_host_removed_from_the_show_keeps_none_of_the_last_hosts_powers(
    door: ShowClient, room: str, live_show: dict[str, str]
) -> None:
    """A host whose connection ended may still end its show; one the room's admin removed may
    not: the removal is the admin's word that its part is over (a host cannot be banned, so
    nothing else would take the power away). Its name is no longer kept for it either."""
    admin, host = door.as_(admin_token(room)), door.as_(live_show["host"])
    await admin.remove_participant(room, "host-1")
    await until(lambda: _seat_free(admin, room), 10.0, "the host's seat freed")
    for call in (host.end_show(room), host.delete_room(room)):
        expect_refusal(await refusal(call), "PERMISSION_DENIED", "Only the host can end the show")
    assert (await admin.get_room(room))["state"] == "SHOW_STATE_BACKSTAGE"  # not ended
    assert (await door.as_(None).join(room, "host-1", "viewer"))["role"] in ("viewer", "ROLE_VIEWER")


async def test_nobody_takes_the_name_of_a_viewer_with_a_hand_up_or_an_invitation(
    door: ShowClient, room: str, live_show: dict[str, str]
) -> None:
    """A token with a viewer's name accepts its invitation and moves its hand: while it has
    either, the viewer door hands that name only to its own token or the room's admin."""
    admin, viewer = door.as_(admin_token(room)), door.as_(live_show["viewer"])
    invited = await door.as_(None).join(room, "viewer-2", "viewer")
    second = await LiveParticipant("viewer-2").connect(invited["wsUrl"], invited["token"])
    try:
        await viewer.hand(room, "viewer-1", True)
        await door.as_(live_show["host"]).invite(room, "viewer-2", "host-1")
        before = await snapshot(door, room)
        for name, part in (("viewer-1", "has a raised hand"), ("viewer-2", "has a pending invitation")):
            expect_refusal(
                await refusal(door.as_(None).join(room, name, "viewer")),
                "PERMISSION_DENIED",
                f"{name} {part} in this room: joining as {name} needs its own token or the room's admin token",
            )
        assert await snapshot(door, room) == before
        # Its own token, or the room's admin, may still join it as a viewer.
        assert (await viewer.join(room, "viewer-1", "viewer"))["role"] == "viewer"
        assert (await door.as_(invited["token"]).join(room, "viewer-2", "viewer"))["role"] == "viewer"
        assert (await admin.join(room, "viewer-2", "viewer"))["role"] == "viewer"
        # Once the hand is down and the invitation declined, the names are free again.
        await viewer.hand(room, "viewer-1", False)
        await door.as_(invited["token"]).decline(room, "viewer-2")
        for name in ("viewer-1", "viewer-2"):
            assert (await door.as_(None).join(room, name, "viewer"))["role"] == "viewer"
    finally:
        await second.disconnect()


async def test_a_token_had_for_a_name_before_it_was_made_a_moderator_has_none_of_its_powers(
    door: ShowClient, room: str, live_show: dict[str, str]
) -> None:
    """While "mia" is a free name, the viewer door hands a token for it to whoever asks. The real
    mia then joins, connects, and is appointed: the moderator's part is bound to the holder LiveKit
    had connected under the name. The early token bans nobody, renews into no moderator's token
    and joins as no moderator; mia's own tokens, and the room's admin, keep every power."""
    squat, joined, mia_live = await _squatted(door, room, "mia")
    mia, host = door.as_(joined["token"]), door.as_(live_show["host"])
    not_holder = _not_holder("mia")
    try:
        await host.appoint_moderator(room, "mia")
        before = await snapshot(door, room)
        for call in (
            squat.remove_participant(room, "viewer-1", ban=True),
            squat.invite(room, "viewer-1", "mia"),
            squat.renew_token(room),
            squat.join(room, "mia", "viewer"),
        ):
            expect_refusal(await refusal(call), "PERMISSION_DENIED", not_holder)
        assert await snapshot(door, room) == before
        assert await door.as_(admin_token(room)).bans(room) == []
        # The holder's own token, and what it renews into, keep the moderator's powers.
        renewed = door.as_((await mia.renew_token(room))["token"])
        assert (await mia.join(room, "mia", "viewer"))["role"] in ("moderator", "ROLE_MODERATOR")
        await renewed.remove_participant(room, "viewer-1", ban=True)
        assert [b["identity"] for b in await door.as_(admin_token(room)).bans(room)] == ["viewer-1"]
    finally:
        await mia_live.disconnect()


async def test_a_token_had_for_a_name_before_it_was_invited_neither_accepts_nor_renews_into_a_guest(
    door: ShowClient, room: str, live_show: dict[str, str]
) -> None:
    """The invitation is bound to the holder connected under the name when it was given: a token
    the viewer door gave for that name earlier, to someone else, neither accepts, declines nor
    raises the hand that would accept it; once the holder is on stage, it neither renews into a
    guest's token nor steps the guest down. The holder's own token does all of these."""
    squat, joined, vic_live = await _squatted(door, room, "vic")
    vic, host = door.as_(joined["token"]), door.as_(live_show["host"])
    not_holder = _not_holder("vic")
    try:
        await host.invite(room, "vic", "host-1")
        before = await snapshot(door, room)
        for call in (
            squat.accept(room, "vic"),
            squat.decline(room, "vic"),
            squat.hand(room, "vic", True),
            squat.renew_token(room),
            squat.join(room, "vic", "viewer"),
        ):
            expect_refusal(await refusal(call), "PERMISSION_DENIED", not_holder)
        assert await snapshot(door, room) == before
        accepted = await vic.accept(room, "vic")
        assert claims(accepted["token"])["video"]["canPublish"]
        for call in (squat.renew_token(room), squat.step_down(room, "vic"), squat.join(room, "vic", "viewer")):
            expect_refusal(await refusal(call), "PERMISSION_DENIED", not_holder)
        for token in (joined["token"], accepted["token"]):  # what the holder had, and was given
            renewed = await door.as_(token).renew_token(room)
            assert renewed["role"] in ("guest", "ROLE_GUEST")
            assert claims(renewed["token"])["video"]["canPublish"]
        stepped = await door.as_(accepted["token"]).step_down(room, "vic")
        assert claims(stepped["token"])["showrunnerHolder"] == claims(joined["token"])["showrunnerHolder"]
    finally:
        await vic_live.disconnect()


async def test_a_moderators_part_given_back_by_an_undo_stays_bound_to_its_holder(
    door: ShowClient, room: str, live_show: dict[str, str], lkapi: api.LiveKitAPI
) -> None:
    """A removal LiveKit refuses (the moderator's connection is gone: Participant not found) is
    undone, and the moderator's part given back is still bound to its holder: the token had for
    the name before stays powerless."""
    squat, joined, mia_live = await _squatted(door, room, "mia")
    mia, host = door.as_(joined["token"]), door.as_(live_show["host"])
    await host.appoint_moderator(room, "mia")
    await mia_live.disconnect()  # a moderator keeps its part when its connection ends
    await until(lambda: gone_from_livekit(lkapi, room, "mia"), 10.0, "mia gone from LiveKit")
    expect_refusal(await refusal(host.remove_participant(room, "mia")), "NOT_FOUND", "Participant not found")
    assert (await mia.renew_token(room))["role"] in ("moderator", "ROLE_MODERATOR")  # given back
    for call in (squat.renew_token(room), squat.remove_participant(room, "viewer-1", ban=True)):
        expect_refusal(await refusal(call), "PERMISSION_DENIED", _not_holder("mia"))
    assert await door.as_(admin_token(room)).bans(room) == []


async def test_a_token_without_a_mark_acts_with_no_part_given_to_a_marked_holder(
    door: ShowClient, room: str, live_show: dict[str, str]
) -> None:
    """A token with no holder mark (one a version before marks gave at the viewer door, or one a
    backend signed itself) is not told apart from another issuer's: it acts with a part given to
    a connection without a mark. A part given to a marked holder goes with that mark alone."""
    unmarked = door.as_(TokenMinter(API_KEY, API_SECRET, 600).mint(room, "mia", "mia", Role.VIEWER))
    joined = await door.as_(None).join(room, "mia", "viewer")
    mia_live = await LiveParticipant("mia").connect(joined["wsUrl"], joined["token"])
    try:
        await door.as_(live_show["host"]).appoint_moderator(room, "mia")
        for call in (unmarked.renew_token(room), unmarked.remove_participant(room, "viewer-1", ban=True)):
            expect_refusal(await refusal(call), "PERMISSION_DENIED", _not_holder("mia"))
        assert await door.as_(admin_token(room)).bans(room) == []
    finally:
        await mia_live.disconnect()


async def _squatted(door: ShowClient, room: str, name: str) -> tuple[ShowClient, dict[str, Any], LiveParticipant]:
    """A token the viewer door gave for `name` while it was free, to someone (the squatter's),
    then the real holder's own JoinRoom answer, the holder connected to LiveKit with it."""
    squat = door.as_((await door.as_(None).join(room, name, "viewer"))["token"])
    joined = await door.as_(None).join(room, name, "viewer")
    return squat, joined, await LiveParticipant(name).connect(joined["wsUrl"], joined["token"])


def _not_holder(name: str) -> str:
    return (
        f"This token was given for {name} before {name} took its part in this room, to someone else: only"
        " the part's holder's own token or the room's admin token acts with it"
    )


async def test_a_former_host_who_is_banned_no_longer_ends_the_show(
    door: ShowClient, room: str, live_show: dict[str, str]
) -> None:
    """The last host's token ends the show after its seat is freed, until another host takes the
    room; a ban, which holds for the rest of the show, ends that too. Once its seat is freed the
    former host is a viewer, whom a moderator or the admin may ban."""
    admin, former = door.as_(admin_token(room)), door.as_(live_show["host"])
    await admin.remove_participant(room, "host-1")  # its seat is freed (no reconnect grace here)
    await until(lambda: _seat_free(admin, room), 10.0, "the host's seat freed")
    back = await former.join(room, "host-1", "viewer")
    comeback = await LiveParticipant("host-1").connect(back["wsUrl"], back["token"])
    try:
        await admin.remove_participant(room, "host-1", ban=True)
    finally:
        await comeback.disconnect()
    assert [b["identity"] for b in await admin.bans(room)] == ["host-1"]
    for call in (former.end_show, former.delete_room, former.history, former.recordings):
        expect_refusal(await refusal(call(room)), "PERMISSION_DENIED", "host-1 is banned from this room")
    assert (await admin.get_room(room))["state"] != "SHOW_STATE_ENDED"
    # The ban outlives the show: what the ended show keeps stays closed to that token.
    await admin.end_show(room)
    assert (await admin.get_room(room))["state"] == "SHOW_STATE_ENDED"
    for call in (former.history, former.recordings, former.get_room):
        expect_refusal(await refusal(call(room)), "PERMISSION_DENIED", "host-1 is banned from this room")


async def _seat_free(admin: ShowClient, room: str) -> bool:
    return not (await admin.get_room(room))["hasHost"]


async def test_nobody_acts_for_someone_else(door: ShowClient, room: str, live_show: dict[str, str]) -> None:
    host, viewer = door.as_(live_show["host"]), door.as_(live_show["viewer"])
    own = "participantIdentity must be the caller's own identity"
    expect_refusal(await refusal(viewer.hand(room, "host-1", True)), "PERMISSION_DENIED", own)
    expect_refusal(await refusal(host.hand(room, "viewer-1", True)), "PERMISSION_DENIED", own)
    expect_refusal(
        await refusal(host.accept(room, "viewer-1")),
        "PERMISSION_DENIED",
        "viewerIdentity must be the caller's own identity",
    )
    expect_refusal(
        await refusal(host.step_down(room, "viewer-1")),
        "PERMISSION_DENIED",
        "guestIdentity must be the caller's own identity",
    )
    # The room's admin may act for anyone in it.
    raised = await door.as_(admin_token(room)).hand(room, "viewer-1", True)
    assert raised["handRaised"] is True


async def test_a_host_of_one_room_has_no_rights_in_another(
    door: ShowClient, room: str, live_show: dict[str, str]
) -> None:
    other = f"{room}-other"
    await door.as_(admin_token(other)).join(other, "host-1", "host")
    before = await snapshot(door, other)
    host_of_room = door.as_(live_show["host"])
    for rpc, call in PRIVILEGED.items():
        caught = await refusal(call(host_of_room, other))
        if rpc == "JoinRoom (host)":
            expect_refusal(
                caught, "PERMISSION_DENIED", "Joining as host needs the room's admin token or the host's own token"
            )
        elif rpc == "ListRooms":
            expect_refusal(caught, "PERMISSION_DENIED", "Listing rooms needs an admin token with the roomList grant")
        else:
            expect_refusal(caught, "PERMISSION_DENIED", f"This token is not for room {other}")
    # Nor does the admin of one room administer another.
    caught = await refusal(door.as_(admin_token(room)).get_room(other))
    expect_refusal(caught, "PERMISSION_DENIED", f"This token is not for room {other}")
    assert await snapshot(door, other) == before


def signed(video: dict[str, Any]) -> str:
    """A token signed with the API key and secret, valid for ten minutes, with `video` grants."""
    now = int(time.time())
    claims = {"iss": API_KEY, "sub": "backend", "nbf": now, "exp": now + 600, "video": video}
    return jwt.encode(claims, API_SECRET, algorithm="HS256")


async def test_a_valid_token_that_grants_nothing_here_is_refused_as_such(
    door: ShowClient, room: str, live_show: dict[str, str]
) -> None:
    """A token that verifies but grants nothing usable (roomAdmin or roomJoin without a room, no
    video grant at all) is a caller without the right (403), not a missing token (401): a
    backend that forgot the room in its admin token is told so."""
    before = await snapshot(door, room)
    for kind, video in {
        "roomAdmin without room": {"roomAdmin": True},
        "roomJoin without room": {"roomJoin": True},
        "no grant": {},
    }.items():
        caller = door.as_(signed(video))
        for rpc in ("GetRoom", "DeleteRoom", "RemoveParticipant", "ListRaisedHands", "StartRecording"):
            caught = await refusal(PRIVILEGED[rpc](caller, room))
            assert caught.message == f"This token is not for room {room}", f"{rpc} with {kind}: {caught}"
            expect_refusal(caught, "PERMISSION_DENIED", caught.message)
        expect_refusal(
            await refusal(PRIVILEGED["JoinRoom (host)"](caller, room)),
            "PERMISSION_DENIED",
            "Joining as host needs the room's admin token or the host's own token",
        )
        expect_refusal(
            await refusal(caller.list_rooms()),
            "PERMISSION_DENIED",
            "Listing rooms needs an admin token with the roomList grant",
        )
        # The viewer door, open to anyone, stays open to it.
        assert (await caller.join(room, "viewer-2", "viewer"))["role"] == "viewer"
    assert await snapshot(door, room) == before


async def test_server_callers_need_the_right_grant(door: ShowClient, room: str, live_show: dict[str, str]) -> None:
    listed = await door.as_(lister_token()).list_rooms()
    assert room in {r["name"] for r in listed}
    caught = await refusal(door.as_(lister_token()).get_room(room))
    assert caught.code == "PERMISSION_DENIED" or caught.wire == 403
    assert (await door.as_(admin_token(room)).get_room(room))["hasHost"] is True
    assert unverified(admin_token(room))["iss"] == API_KEY
