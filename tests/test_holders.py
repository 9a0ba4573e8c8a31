"""A part goes with the holder it was given to, in process (tests/test_crossed_changes.py's
harness: a LiveKit of the module's own whose webhooks go nowhere, so every webhook is lost unless
a test feeds it), over the memory store and Redis: a token had for a name before its part,
connected in the holder's place, is given nothing by any call, and the room's admin names the
holder itself."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import jwt
import pytest
from google.protobuf import json_format
from livekit import api
from livekit.protocol import models as lk
from livekit.protocol import webhook as lk_webhook
from showrunner.v1 import show_service_pb2 as pb

from service.core import errors
from service.core.caller import Caller
from service.core.ports import Presence
from service.core.record import ShowRecords
from service.core.roles import Role
from service.dev.livekit_server import LiveKitDevServer
from tests.live import LiveParticipant, livekit_participant, until
from tests.test_crossed_changes import Show, live_show, store_for


@pytest.fixture(params=["memory", "redis"])
async def records(request: pytest.FixtureRequest) -> AsyncIterator[ShowRecords]:
    async for store in store_for(request):
        yield store


def me(show: Show, identity: str, holder: str) -> Caller:
    """A participant token of `identity` carrying the holder mark `holder` ("" unmarked)."""
    return Caller(identity=identity, room=show.room, signed=True, name=identity, holder=holder)


async def connect(show: Show, identity: str, holder: str) -> LiveParticipant:
    token = show.stage.mint_token(show.room, identity, identity, Presence(Role.VIEWER), holder=holder)
    person = await LiveParticipant(identity).connect(show.stage.ws_url, token)
    show.people.append(person)

    async def shows_it() -> bool:
        found = await livekit_participant(show.lkapi, show.room, identity)
        return found is not None and found.attributes.get("holder", "") == holder

    await until(shows_it, 10.0, f"LiveKit has {identity}'s connection of holder {holder!r}")
    return person


def invite(show: Show, identity: str) -> pb.InviteGuestRequest:
    return pb.InviteGuestRequest(room_name=show.room, viewer_identity=identity, host_identity="host-1")


async def test_a_token_the_admin_names_for_a_bound_name_is_of_its_holder(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """The room's admin names a kept name's holder: its JoinRoom for vic, a guest whose seat is
    bound to vic's mark, answers a token of that mark, which renews, and whose connection stays."""
    async with live_show(own_livekit, records, room) as show:
        await connect(show, "vic", "M1")
        await show.core.invite_guest(invite(show, "vic"), show.admin)
        accept = pb.AcceptInvitationRequest(room_name=room, viewer_identity="vic")
        await show.core.accept_invitation(accept, me(show, "vic", "M1"))
        joined = await show.core.join_room(
            pb.JoinRoomRequest(room_name=room, participant_name="vic", role=pb.ROLE_VIEWER), show.admin
        )
        claims = jwt.decode(joined.token, options={"verify_signature": False})
        assert claims["video"]["canPublish"] and claims["showrunnerHolder"] == "M1"
        renewed = await show.core.renew_token(pb.RenewTokenRequest(room_name=room), me(show, "vic", "M1"))
        assert renewed.role == pb.ROLE_GUEST
        person = await LiveParticipant("vic").connect(show.stage.ws_url, joined.token)
        show.people.append(person)
        seen = await livekit_participant(show.lkapi, room, "vic")
        assert seen is not None and seen.sid == person.room.local_participant.sid
        live = await show.lkapi.room.list_rooms(api.ListRoomsRequest(names=[room]))
        joined_event = lk_webhook.WebhookEvent(
            event="participant_joined", room=live.rooms[0], participant=seen, created_at=int(time.time())
        )
        await show.core.receive_webhook(json_format.MessageToJson(joined_event).encode())
        assert await livekit_participant(show.lkapi, room, "vic") is not None  # the holder's stays


async def test_an_invitation_or_appointment_finding_another_holders_connection_turns_it_away(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """vic (M1) is invited; a token had for vic earlier (M2) connects in its place, its join
    unheard. The host's second invitation and an appointment find the squatter under the name:
    each removes it and answers as for nobody connected, changing nothing; the invitation stays
    vic's, who accepts once back."""
    async with live_show(own_livekit, records, room) as show:
        await connect(show, "vic", "M1")
        await show.core.invite_guest(invite(show, "vic"), show.admin)
        for call in (
            show.core.invite_guest(invite(show, "vic"), show.admin),
            show.core.appoint_moderator(pb.AppointModeratorRequest(room_name=room, identity="vic"), show.admin),
        ):
            await connect(show, "vic", "M2")  # the squatter replaces vic's connection
            with pytest.raises(errors.ShowError) as refused:
                await call
            assert refused.value.message == errors.PARTICIPANT_NOT_FOUND
            assert await livekit_participant(show.lkapi, room, "vic") is None  # turned away
        admission = await records.admission(room, "vic", show.clock.now())
        assert (admission.role, admission.invited, admission.bound) == (Role.VIEWER, True, "M1")
        await connect(show, "vic", "M1")
        accept = pb.AcceptInvitationRequest(room_name=room, viewer_identity="vic")
        answer = await show.core.accept_invitation(accept, me(show, "vic", "M1"))
        assert jwt.decode(answer.token, options={"verify_signature": False})["showrunnerHolder"] == "M1"


async def test_a_promotion_finding_another_holders_connection_never_puts_it_on_stage(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vic's own acceptance finds the squatter's connection under the name, and LiveKit does not
    answer its removal: the promotion is undone all the same (the invitation waits), and the
    squatter is never given the guest's permission."""
    async with live_show(own_livekit, records, room) as show:
        await connect(show, "vic", "M1")
        await show.core.invite_guest(invite(show, "vic"), show.admin)
        await connect(show, "vic", "M2")

        async def unavailable(room: str, identity: str) -> bool:
            raise errors.unavailable("LiveKit is unavailable (RemoveParticipant): no answer within 10s")

        monkeypatch.setattr(show.stage, "remove_participant", unavailable)
        accept = pb.AcceptInvitationRequest(room_name=room, viewer_identity="vic")
        with pytest.raises(errors.ShowError) as refused:
            await show.core.accept_invitation(accept, me(show, "vic", "M1"))
        assert refused.value.message == errors.PARTICIPANT_NOT_FOUND
        seen = await livekit_participant(show.lkapi, room, "vic")
        assert seen is not None and seen.attributes["holder"] == "M2" and not seen.permission.can_publish
        assert (await records.admission(room, "vic", show.clock.now())).invited  # it waits


async def test_a_guests_source_given_back_goes_to_no_other_holders_connection(
    own_livekit: LiveKitDevServer, records: ShowRecords, room: str
) -> None:
    """vic (M1) is on stage; the squatter (M2) connects in its place, its join unheard. The
    host's AllowGuestSource changes the record, and on LiveKit gives the squatter nothing: it is
    removed."""
    async with live_show(own_livekit, records, room) as show:
        await connect(show, "vic", "M1")
        await show.core.invite_guest(invite(show, "vic"), show.admin)
        accept = pb.AcceptInvitationRequest(room_name=room, viewer_identity="vic")
        await show.core.accept_invitation(accept, me(show, "vic", "M1"))
        await connect(show, "vic", "M2")
        allow = pb.AllowGuestSourceRequest(room_name=room, guest_identity="vic", source=lk.TrackSource.CAMERA)
        await show.core.allow_guest_source(allow, show.admin)
        assert await livekit_participant(show.lkapi, room, "vic") is None  # turned away, never published
