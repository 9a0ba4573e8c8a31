"""The contract itself: ShowEvent's JSON is the MVP's, every RPC is served, a Twirp protobuf client
built from the contract's descriptors alone talks to the server."""

from __future__ import annotations

import json
from typing import TypeVar

import aiohttp
from google.protobuf import json_format
from google.protobuf.message import Message
from showrunner.v1 import show_event_pb2
from showrunner.v1 import show_service_pb2 as pb
from showrunner.v1.show_service_seam import show_service_rpcs

from service.core import bounds
from service.core.events import EventType, decode, encode, show_event
from service.core.show import ShowCore
from service.doors.edges import INTEGER_RANGES
from tests.conftest import ServiceProcess, admin_token

Res = TypeVar("Res", bound=Message)


class TwirpServerException(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class TwirpProtobufClient:
    """Twirp v7 over application/protobuf, as the generated clients speak it: POST the
    serialized request to /twirp/<service>/<method>, read a serialized response or a JSON error."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self._base, self._session = base_url, session

    async def call(self, method: str, request: Message, response: type[Res], token: str | None = None) -> Res:
        service = pb.DESCRIPTOR.services_by_name["ShowService"].full_name
        headers = {"Content-Type": "application/protobuf"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = f"{self._base}/twirp/{service}/{method}"
        async with self._session.post(url, data=request.SerializeToString(), headers=headers) as reply:
            body = await reply.read()
            if reply.status != 200:
                error = json.loads(body)
                raise TwirpServerException(error["code"], error["msg"])
            return response.FromString(body)


MVP_HAND_RAISE = {
    "type": "hand_raise",
    "senderId": "viewer-123",
    "senderName": "John Viewer",
    "timestamp": 1704067200000,
}
MVP_GUEST_INVITE = {
    "type": "guest_invite",
    "senderId": "host-456",
    "senderName": "Host Jane",
    "targetParticipantId": "viewer-123",
    "targetParticipantName": "John Viewer",
    "timestamp": 1704067200000,
}


def test_show_event_json_is_the_mvps_data_message() -> None:
    raised = show_event(EventType.HAND_RAISE, sender_id="viewer-123", sender_name="John Viewer", at=1704067200.0)
    assert encode(raised) == json.dumps(MVP_HAND_RAISE, separators=(",", ":")).encode()
    invite = show_event(
        EventType.GUEST_INVITE,
        sender_id="host-456",
        sender_name="Host Jane",
        at=1704067200.0,
        target_id="viewer-123",
        target_name="John Viewer",
    )
    assert json.loads(encode(invite)) == MVP_GUEST_INVITE
    # An invitation's expiry is written as whole milliseconds too, not 1704067230000.0.
    invite.expires_at = 1704067230000.0
    assert b'"expiresAt":1704067230000' in encode(invite) and b"1704067230000.0" not in encode(invite)


def test_mvp_clients_messages_parse_as_show_events() -> None:
    for example in (MVP_HAND_RAISE, MVP_GUEST_INVITE):
        event = decode(json.dumps(example).encode())
        assert json.loads(json_format.MessageToJson(event)) == example


def test_show_event_types_are_the_mvps_seven_and_ours() -> None:
    assert {t.value for t in EventType} == {
        "hand_raise",
        "hand_lower",
        "guest_invite",
        "guest_invite_response",
        "guest_promoted",
        "guest_demoted",
        "chat_message",
        "host_left",
        "recording_started",
        "recording_stopped",
        "moderator_appointed",
        "moderator_dismissed",
        "show_live",
        "show_ended",
        "participant_banned",
        "participant_unbanned",
        "guest_limit_changed",
        # a stream's progress, to the host and the moderators only
        "stream_started",
        "stream_updated",
        "stream_live",
        "stream_ending",
        "stream_ended",
        # kept in the show's history only (ListShowEvents), never sent
        "host_joined",
        "participant_removed",
        "stream_stopped",
    }
    accepted = show_event_pb2.ShowEvent(type="guest_invite_response", sender_id="v", accepted=False)
    assert json.loads(json_format.MessageToJson(accepted))["accepted"] is False  # present even when false


def test_every_rpc_of_the_contract_reaches_the_core() -> None:
    methods = {m.name for m in pb.DESCRIPTOR.services_by_name["ShowService"].methods}
    implemented = {rpc.name for rpc in show_service_rpcs(ShowCore.__new__(ShowCore))}
    assert implemented == methods
    assert {
        "JoinRoom",
        "ListRooms",
        "GetRoom",
        "DeleteRoom",
        "ListParticipants",
        "RemoveParticipant",
    } <= methods
    assert {"InviteGuest", "DemoteGuest", "RemoveGuest", "SetHandRaised"} <= methods


async def test_generated_twirp_client_speaks_to_the_server(service: ServiceProcess, room: str) -> None:
    async with aiohttp.ClientSession() as session:
        client = TwirpProtobufClient(service.http_base, session)
        join = pb.JoinRoomRequest(room_name=room, participant_name="h", role=pb.ROLE_HOST)
        joined = await client.call("JoinRoom", join, pb.JoinRoomResponse, admin_token(room))
        assert joined.role == pb.ROLE_HOST and joined.token
        described = await client.call("GetRoom", pb.GetRoomRequest(room_name=room), pb.GetRoomResponse, joined.token)
        assert described.room.has_host
        try:
            await client.call("GetRoom", pb.GetRoomRequest(room_name=room), pb.GetRoomResponse)
            raise AssertionError("an anonymous caller was answered")
        except TwirpServerException as exc:
            assert (exc.code, exc.message) == ("unauthenticated", "Authorization: Bearer <token> is required")


def test_the_show_s_narrower_bounds_name_integer_fields_of_the_contract() -> None:
    """The REST door looks the bounds up by field name: a name the contract lost would leave a
    door telling the wire type's range again, in silence."""
    for name, (low, high) in bounds.RANGES.items():
        field = pb.DESCRIPTOR.pool.FindFieldByName(name)
        assert field.cpp_type in INTEGER_RANGES and 0 < low <= high, name
