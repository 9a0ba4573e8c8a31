"""Nobody goes on stage without agreeing, and nobody promotes themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from livekit import api

from tests.conftest import admin_token
from tests.doors import Refused, ShowClient, expect_refusal
from tests.live import LiveParticipant, until


@dataclass
class Audience:
    room: str
    host: ShowClient
    host_live: LiveParticipant
    viewers: dict[str, ShowClient] = field(default_factory=dict)
    live: dict[str, LiveParticipant] = field(default_factory=dict)


@pytest.fixture
async def audience(door: ShowClient, room: str) -> AsyncIterator[Audience]:
    """A connected host and three connected viewers."""
    joined = await door.as_(admin_token(room)).join(room, "host-1", "host")
    show = Audience(
        room, door.as_(joined["token"]), await LiveParticipant("host-1").connect(joined["wsUrl"], joined["token"])
    )
    for name in ("ann", "bob", "cat"):
        ticket = await door.as_(None).join(room, name, "viewer")
        show.viewers[name] = door.as_(ticket["token"])
        show.live[name] = await LiveParticipant(name).connect(ticket["wsUrl"], ticket["token"])
    yield show
    for person in [*show.live.values(), show.host_live]:
        await person.disconnect()


async def refusal(call: object) -> Refused:
    with pytest.raises(Refused) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def can_publish(lkapi: api.LiveKitAPI, room: str, identity: str) -> bool:
    found = await lkapi.room.get_participant(api.RoomParticipantIdentity(room=room, identity=identity))
    return bool(found.permission.can_publish)


async def test_an_invitation_waits_for_the_viewer_and_only_the_viewer_hears_it(
    audience: Audience, lkapi: api.LiveKitAPI
) -> None:
    invited = await audience.host.invite(audience.room, "ann", "host-1")
    assert invited["promoted"] is False
    assert invited["message"] == "ann has been invited to the stage"
    assert int(invited["expiresAt"]) > 1_700_000_000_000
    assert await can_publish(lkapi, audience.room, "ann") is False
    ann = audience.live["ann"]
    await ann.wait_for(lambda: any(e["type"] == "guest_invite" for e in ann.show_events))
    invite = next(e for e in ann.show_events if e["type"] == "guest_invite")
    assert invite["senderId"] == "host-1" and invite["targetParticipantId"] == "ann" and invite["expiresAt"] > 0
    assert not any(e["type"] == "guest_invite" for e in audience.live["bob"].show_events)

    accepted = await audience.viewers["ann"].accept(audience.room, "ann")
    assert accepted["message"] == "ann has been promoted to guest"
    assert await can_publish(lkapi, audience.room, "ann") is True
    host = audience.host_live
    await host.wait_for(
        lambda: any(e["type"] == "guest_invite_response" and e.get("accepted") for e in host.show_events)
    )


async def test_a_viewer_may_decline(audience: Audience, lkapi: api.LiveKitAPI) -> None:
    await audience.host.invite(audience.room, "bob", "host-1")
    declined = await audience.viewers["bob"].decline(audience.room, "bob")
    assert declined["message"] == "bob has declined the invitation"
    host = audience.host_live
    await host.wait_for(
        lambda: any(e["type"] == "guest_invite_response" and e.get("accepted") is False for e in host.show_events)
    )
    expect_refusal(
        await refusal(audience.viewers["bob"].accept(audience.room, "bob")),
        "NOT_FOUND",
        "No pending invitation for bob",
    )
    assert await can_publish(lkapi, audience.room, "bob") is False


async def test_an_answer_to_an_invitation_reaches_only_the_stage_managers_and_nobody_once_they_have_gone(
    audience: Audience, door: ShowClient
) -> None:
    """guest_invite_response is for the host and the moderators only (test_moderation): when the
    host who invited has left a room without moderators, the answer is sent to nobody, never to
    the whole room (LiveKit's SendData with no destination identities)."""
    await audience.host.invite(audience.room, "bob", "host-1")
    await audience.host.invite(audience.room, "ann", "host-1")
    await audience.host_live.disconnect()
    await until(lambda: _hostless(door, audience.room), label="the host's seat freed")
    await audience.viewers["bob"].decline(audience.room, "bob")
    await audience.viewers["ann"].accept(audience.room, "ann")
    # ann's promotion goes to the whole room after her answer: once cat has it, cat has had
    # whatever was sent to her before it.
    cat = audience.live["cat"]
    await cat.wait_for(lambda: any(e["type"] == "guest_promoted" for e in cat.show_events))
    assert not [e for e in cat.show_events if e["type"] == "guest_invite_response"], cat.show_events


async def _hostless(door: ShowClient, room: str) -> bool:
    return (await door.as_(admin_token(room)).get_room(room))["hasHost"] is False


async def test_nobody_promotes_themselves(audience: Audience) -> None:
    ann = audience.viewers["ann"]
    expect_refusal(await refusal(ann.accept(audience.room, "ann")), "NOT_FOUND", "No pending invitation for ann")
    raised = await ann.hand(audience.room, "ann", True)
    assert raised["handRaised"] is True and raised["promoted"] is False
    assert (await audience.host.get_room(audience.room))["hasGuest"] is False


async def test_raising_a_hand_while_invited_is_a_yes(audience: Audience, lkapi: api.LiveKitAPI) -> None:
    await audience.host.invite(audience.room, "cat", "host-1")
    raised = await audience.viewers["cat"].hand(audience.room, "cat", True)
    assert raised["promoted"] is True and raised["handRaised"] is False and raised["token"]
    assert await can_publish(lkapi, audience.room, "cat") is True


async def test_a_guest_steps_down_by_itself(audience: Audience, lkapi: api.LiveKitAPI) -> None:
    ann = audience.viewers["ann"]
    await ann.hand(audience.room, "ann", True)
    await audience.host.invite(audience.room, "ann", "host-1")
    expect_refusal(
        await refusal(audience.viewers["bob"].step_down(audience.room, "bob")), "NOT_FOUND", "Guest not found"
    )
    stepped = await ann.step_down(audience.room, "ann")
    assert stepped["message"] == "ann has stepped down"
    assert await can_publish(lkapi, audience.room, "ann") is False
    assert (await audience.host.get_room(audience.room))["hasGuest"] is False


async def test_the_host_sees_hands_in_the_order_they_were_raised(audience: Audience) -> None:
    for name in ("cat", "ann", "bob"):
        await audience.viewers[name].hand(audience.room, name, True)
    await audience.viewers["cat"].hand(audience.room, "cat", True)  # again: keeps its place
    queue = await audience.host.hands(audience.room)
    assert [h["participantIdentity"] for h in queue] == ["cat", "ann", "bob"]
    assert int(queue[0]["raisedAt"]) <= int(queue[1]["raisedAt"]) <= int(queue[2]["raisedAt"])
    await audience.viewers["ann"].hand(audience.room, "ann", False)
    assert [h["participantIdentity"] for h in await audience.host.hands(audience.room)] == ["cat", "bob"]


async def test_each_room_sets_its_own_guest_limit(audience: Audience) -> None:
    expect_refusal(
        await refusal(audience.host.settings(audience.room, 0)),
        "INVALID_ARGUMENT",
        "guestLimit must be between 1 and 16, got 0",
    )
    expect_refusal(
        await refusal(audience.host.settings(audience.room, None)), "INVALID_ARGUMENT", "guestLimit is required"
    )
    assert await audience.host.settings(audience.room, 2) == 2
    for name in ("ann", "bob", "cat"):
        await audience.viewers[name].hand(audience.room, name, True)
    await audience.host.invite(audience.room, "ann", "host-1")
    await audience.host.invite(audience.room, "bob", "host-1")
    expect_refusal(
        await refusal(audience.host.invite(audience.room, "cat", "host-1")),
        "PERMISSION_DENIED",
        "Room already has a guest",
    )
    described = await audience.host.get_room(audience.room)
    assert described["guestLimit"] == 2 and sorted(described["guests"]) == ["ann", "bob"]


async def test_rest_refuses_a_guest_limit_below_zero_with_the_show_s_bounds(rest: ShowClient, room: str) -> None:
    """guestLimit is a uint32 in the contract: -1 (or 2^32), which the type cannot hold, was
    refused with the uint32's range, 0 to 4294967295, where 17 is told 1 to 16. Every number out
    of bounds is now told the show's bounds, and so are the page sizes, which are int32."""
    admin = rest.as_(admin_token(room))
    await admin.join(room, "host-1", "host")
    for limit in (-1, 0, 17, 2**32, 2**40):
        message = f"guestLimit must be between 1 and 16, got {limit}"
        expect_refusal(await refusal(admin.settings(room, limit)), "INVALID_ARGUMENT", message)
    for size in (1001, 2**31, 9_999_999_999):
        message = f"pageSize must be between 1 and 1000, got {size}"
        expect_refusal(await refusal(admin.hands_page(room, size)), "INVALID_ARGUMENT", message)
        expect_refusal(await refusal(admin.bans_page(room, size)), "INVALID_ARGUMENT", message)
    for size in (201, 2**31):
        message = f"pageSize must be between 1 and 200, got {size}"
        expect_refusal(await refusal(admin.history(room, size)), "INVALID_ARGUMENT", message)
    assert await admin.settings(room, 16) == 16
