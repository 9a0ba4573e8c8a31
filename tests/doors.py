"""Test clients for Showrunner's three doors, with one interface in the show's language.

Each client speaks its door's real wire protocol (gRPC, Twirp JSON, Twirp protobuf, the MVP's
REST JSON) and turns a refusal into `Refused`, carrying both the canonical code and the exact wire
form, so a test can check that every door says the same thing in its own way.

The expected wire forms below are written from the specifications (gRPC status codes, Twirp v7's
error table, the MVP's HTTP statuses), not imported from the service, so a wrong mapping fails.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
import httpx
from google.protobuf import json_format
from google.protobuf.message import Message
from livekit.protocol import models as lk
from livekit.protocol.egress import EgressStatus
from showrunner.v1 import show_service_pb2 as pb
from showrunner.v1 import show_service_pb2_grpc as pb_grpc

GRPC_CODES = {
    "INVALID_ARGUMENT": grpc.StatusCode.INVALID_ARGUMENT,
    "NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "ALREADY_EXISTS": grpc.StatusCode.ALREADY_EXISTS,
    "PERMISSION_DENIED": grpc.StatusCode.PERMISSION_DENIED,
    "FAILED_PRECONDITION": grpc.StatusCode.FAILED_PRECONDITION,
    "UNAUTHENTICATED": grpc.StatusCode.UNAUTHENTICATED,
    "RESOURCE_EXHAUSTED": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "UNAVAILABLE": grpc.StatusCode.UNAVAILABLE,
}
# Twirp v7: error code and the HTTP status it travels with.
TWIRP_CODES = {
    "INVALID_ARGUMENT": ("invalid_argument", 400),
    "NOT_FOUND": ("not_found", 404),
    "ALREADY_EXISTS": ("already_exists", 409),
    "PERMISSION_DENIED": ("permission_denied", 403),
    "FAILED_PRECONDITION": ("failed_precondition", 412),
    "UNAUTHENTICATED": ("unauthenticated", 401),
    "RESOURCE_EXHAUSTED": ("resource_exhausted", 429),
    "UNAVAILABLE": ("unavailable", 503),
}
# The MVP's statuses (400, 403, 404, 409), and the usual ones for what it left open.
REST_STATUS = {
    "INVALID_ARGUMENT": 400,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "FAILED_PRECONDITION": 409,
    "UNAUTHENTICATED": 401,
    "RESOURCE_EXHAUSTED": 429,
    "UNAVAILABLE": 503,
}
_FROM_GRPC = {v: k for k, v in GRPC_CODES.items()}
_FROM_TWIRP = {v[0]: k for k, v in TWIRP_CODES.items()}


@dataclass
class Refused(Exception):
    """A door said no. `code` is canonical; `wire` is what the door actually sent."""

    door: str
    code: str
    message: str
    wire: Any
    retry_after: str | None = None

    def __str__(self) -> str:
        return f"{self.door} refused: {self.code} {self.message!r} ({self.wire})"


def expect_refusal(refusal: Refused, code: str, message: str) -> None:
    """The refusal has the canonical code and message, in the door's own wire form."""
    assert refusal.message == message, str(refusal)
    if refusal.door == "rest":  # REST's statuses are coarser than the codes: check the status
        assert refusal.wire == REST_STATUS[code], str(refusal)
        return
    assert refusal.code == code, str(refusal)
    if refusal.door == "grpc":
        assert refusal.wire == GRPC_CODES[code]
    else:
        assert refusal.wire == TWIRP_CODES[code], str(refusal)


class ShowClient(Protocol):
    """A door, called as one participant (or admin): `as_(token)` gives the same door with
    another caller's token."""

    door: str
    token: str | None

    def as_(self, token: str | None) -> ShowClient: ...

    async def join(self, room: str, name: str, role: str) -> dict[str, Any]: ...
    async def my_place(self, room: str) -> dict[str, Any]: ...
    async def renew_token(self, room: str) -> dict[str, Any]: ...
    async def list_rooms(self) -> list[dict[str, Any]]: ...
    async def get_room(self, room: str) -> dict[str, Any]: ...
    async def delete_room(self, room: str) -> None: ...
    async def go_live(self, room: str) -> dict[str, Any]: ...
    async def end_show(self, room: str) -> dict[str, Any]: ...
    async def list_participants(self, room: str) -> list[dict[str, Any]]: ...
    async def participants_page(self, room: str, page_size: int = 0, page_token: str = "") -> dict[str, Any]: ...
    async def remove_participant(self, room: str, identity: str, ban: bool = False) -> None: ...
    async def appoint_moderator(self, room: str, identity: str) -> dict[str, Any]: ...
    async def dismiss_moderator(self, room: str, identity: str) -> dict[str, Any]: ...
    async def unban(self, room: str, identity: str) -> dict[str, Any]: ...
    async def bans(self, room: str) -> list[dict[str, Any]]: ...
    async def mute(self, room: str, guest: str, source: str, lock: bool = False) -> dict[str, Any]: ...
    async def allow_source(self, room: str, guest: str, source: str) -> dict[str, Any]: ...
    async def invite(self, room: str, viewer: str, host: str) -> dict[str, Any]: ...
    async def demote(self, room: str, guest: str, host: str) -> dict[str, Any]: ...
    async def remove_guest(self, room: str, guest: str, host: str) -> dict[str, Any]: ...
    async def hand(self, room: str, identity: str, raised: bool | None) -> dict[str, Any]: ...
    async def accept(self, room: str, viewer: str) -> dict[str, Any]: ...
    async def decline(self, room: str, viewer: str) -> dict[str, Any]: ...
    async def step_down(self, room: str, guest: str) -> dict[str, Any]: ...
    async def hands(self, room: str) -> list[dict[str, Any]]: ...
    async def hands_page(self, room: str, page_size: int = 0, page_token: str = "") -> dict[str, Any]: ...
    async def bans_page(self, room: str, page_size: int = 0, page_token: str = "") -> dict[str, Any]: ...
    async def settings(self, room: str, guest_limit: int | None) -> int: ...
    async def start_recording(self, room: str, layout: str) -> dict[str, Any]: ...
    async def stop_recording(self, room: str) -> dict[str, Any]: ...
    async def recordings(self, room: str) -> list[dict[str, Any]]: ...
    async def start_stream(self, room: str, destinations: list[str]) -> dict[str, Any]: ...
    async def update_stream(self, room: str, add: list[str], remove: list[str]) -> dict[str, Any]: ...
    async def stop_stream(self, room: str) -> dict[str, Any]: ...
    async def streams(self, room: str) -> dict[str, Any]: ...
    async def history(self, room: str, page_size: int = 0, page_token: str = "") -> dict[str, Any]: ...
    async def close(self) -> None: ...


class Bound:
    """Token handling shared by the clients."""

    token: str | None = None

    def as_(self, token: str | None) -> Any:
        view = copy.copy(self)
        view.token = token
        return view

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


_LAYOUTS = {
    "speaker": pb.RECORDING_LAYOUT_SPEAKER,
    "grid": pb.RECORDING_LAYOUT_GRID,
    "": pb.RECORDING_LAYOUT_UNSPECIFIED,
}


# LiveKit's TrackSource by the contract's value names, as every door spells them.
_SOURCES = {"CAMERA": lk.TrackSource.CAMERA, "MICROPHONE": lk.TrackSource.MICROPHONE, "": lk.TrackSource.UNKNOWN}


def recording_dict(r: pb.Recording) -> dict[str, Any]:
    """A recording as the REST door spells it, to compare doors directly."""
    return {
        "recordingId": r.recording_id,
        "roomName": r.room_name,
        "layout": {pb.RECORDING_LAYOUT_SPEAKER: "speaker", pb.RECORDING_LAYOUT_GRID: "grid"}.get(r.layout, ""),
        "status": EgressStatus.Name(r.status),
        "startedAt": r.started_at,
        "endedAt": r.ended_at,
        "location": r.location,
        "error": r.error,
    }


def stream_dict(s: pb.Stream) -> dict[str, Any]:
    """A stream as the REST door spells it, to compare doors directly."""
    return {
        "streamId": s.stream_id,
        "roomName": s.room_name,
        "destinations": list(s.destinations),
        "status": EgressStatus.Name(s.status),
        "startedAt": s.started_at,
        "endedAt": s.ended_at,
        "error": s.error,
    }


_ROLES = {
    "host": pb.ROLE_HOST,
    "viewer": pb.ROLE_VIEWER,
    "guest": pb.ROLE_GUEST,
    "moderator": pb.ROLE_MODERATOR,
    "": pb.ROLE_UNSPECIFIED,
}


def as_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


class ContractClient(Bound):
    """Shared by the gRPC and Twirp clients: they speak the contract's messages."""

    door = "contract"

    async def rpc(self, method: str, request: Message, response: type[Message]) -> Any:
        raise NotImplementedError

    async def join(self, room: str, name: str, role: str) -> dict[str, Any]:
        r = await self.rpc(
            "JoinRoom",
            pb.JoinRoomRequest(room_name=room, participant_name=name, role=_ROLES[role]),
            pb.JoinRoomResponse,
        )
        out = as_dict(r)
        out["role"] = pb.Role.Name(r.role).removeprefix("ROLE_").lower()
        return out

    async def my_place(self, room: str) -> dict[str, Any]:
        r = await self.rpc("GetMyPlace", pb.GetMyPlaceRequest(room_name=room), pb.GetMyPlaceResponse)
        out = as_dict(r)
        out["role"] = pb.Role.Name(r.role).removeprefix("ROLE_").lower()
        return out

    async def renew_token(self, room: str) -> dict[str, Any]:
        r = await self.rpc("RenewToken", pb.RenewTokenRequest(room_name=room), pb.RenewTokenResponse)
        out = as_dict(r)
        out["role"] = pb.Role.Name(r.role).removeprefix("ROLE_").lower()
        return out

    async def list_rooms(self) -> list[dict[str, Any]]:
        r = await self.rpc("ListRooms", pb.ListRoomsRequest(), pb.ListRoomsResponse)
        return [as_dict(room) for room in r.rooms]

    async def get_room(self, room: str) -> dict[str, Any]:
        r = await self.rpc("GetRoom", pb.GetRoomRequest(room_name=room), pb.GetRoomResponse)
        return as_dict(r.room)

    async def delete_room(self, room: str) -> None:
        await self.rpc("DeleteRoom", pb.DeleteRoomRequest(room_name=room), pb.DeleteRoomResponse)

    async def go_live(self, room: str) -> dict[str, Any]:
        return as_dict(await self.rpc("GoLive", pb.GoLiveRequest(room_name=room), pb.GoLiveResponse))

    async def end_show(self, room: str) -> dict[str, Any]:
        return as_dict(await self.rpc("EndShow", pb.EndShowRequest(room_name=room), pb.EndShowResponse))

    async def list_participants(self, room: str) -> list[dict[str, Any]]:
        r = await self.rpc("ListParticipants", pb.ListParticipantsRequest(room_name=room), pb.ListParticipantsResponse)
        out = []
        for p in r.participants:
            d = as_dict(p)
            d["role"] = pb.Role.Name(p.role).removeprefix("ROLE_").lower()
            out.append(d)
        return out

    async def participants_page(self, room: str, page_size: int = 0, page_token: str = "") -> dict[str, Any]:
        request = pb.ListParticipantsRequest(room_name=room, page_size=page_size, page_token=page_token)
        r = await self.rpc("ListParticipants", request, pb.ListParticipantsResponse)
        return {"participants": [as_dict(p) for p in r.participants], "nextPageToken": r.next_page_token}

    async def remove_participant(self, room: str, identity: str, ban: bool = False) -> None:
        await self.rpc(
            "RemoveParticipant",
            pb.RemoveParticipantRequest(room_name=room, identity=identity, ban=ban),
            pb.RemoveParticipantResponse,
        )

    async def appoint_moderator(self, room: str, identity: str) -> dict[str, Any]:
        request = pb.AppointModeratorRequest(room_name=room, identity=identity)
        return as_dict(await self.rpc("AppointModerator", request, pb.AppointModeratorResponse))

    async def dismiss_moderator(self, room: str, identity: str) -> dict[str, Any]:
        request = pb.DismissModeratorRequest(room_name=room, identity=identity)
        return as_dict(await self.rpc("DismissModerator", request, pb.DismissModeratorResponse))

    async def unban(self, room: str, identity: str) -> dict[str, Any]:
        request = pb.UnbanParticipantRequest(room_name=room, identity=identity)
        return as_dict(await self.rpc("UnbanParticipant", request, pb.UnbanParticipantResponse))

    async def bans(self, room: str) -> list[dict[str, Any]]:
        r = await self.rpc("ListBans", pb.ListBansRequest(room_name=room), pb.ListBansResponse)
        return [as_dict(b) for b in r.bans]

    async def mute(self, room: str, guest: str, source: str, lock: bool = False) -> dict[str, Any]:
        request = pb.MuteGuestTrackRequest(room_name=room, guest_identity=guest, source=_SOURCES[source], lock=lock)
        return as_dict(await self.rpc("MuteGuestTrack", request, pb.MuteGuestTrackResponse))

    async def allow_source(self, room: str, guest: str, source: str) -> dict[str, Any]:
        request = pb.AllowGuestSourceRequest(room_name=room, guest_identity=guest, source=_SOURCES[source])
        return as_dict(await self.rpc("AllowGuestSource", request, pb.AllowGuestSourceResponse))

    async def invite(self, room: str, viewer: str, host: str) -> dict[str, Any]:
        r = await self.rpc(
            "InviteGuest",
            pb.InviteGuestRequest(room_name=room, viewer_identity=viewer, host_identity=host),
            pb.InviteGuestResponse,
        )
        return as_dict(r)

    async def demote(self, room: str, guest: str, host: str) -> dict[str, Any]:
        r = await self.rpc(
            "DemoteGuest",
            pb.DemoteGuestRequest(room_name=room, guest_identity=guest, host_identity=host),
            pb.DemoteGuestResponse,
        )
        return as_dict(r)

    async def remove_guest(self, room: str, guest: str, host: str) -> dict[str, Any]:
        r = await self.rpc(
            "RemoveGuest",
            pb.RemoveGuestRequest(room_name=room, guest_identity=guest, host_identity=host),
            pb.RemoveGuestResponse,
        )
        return as_dict(r)

    async def hand(self, room: str, identity: str, raised: bool | None) -> dict[str, Any]:
        request = pb.SetHandRaisedRequest(room_name=room, participant_identity=identity)
        if raised is not None:
            request.raised = raised
        return as_dict(await self.rpc("SetHandRaised", request, pb.SetHandRaisedResponse))

    async def accept(self, room: str, viewer: str) -> dict[str, Any]:
        request = pb.AcceptInvitationRequest(room_name=room, viewer_identity=viewer)
        return as_dict(await self.rpc("AcceptInvitation", request, pb.AcceptInvitationResponse))

    async def decline(self, room: str, viewer: str) -> dict[str, Any]:
        request = pb.DeclineInvitationRequest(room_name=room, viewer_identity=viewer)
        return as_dict(await self.rpc("DeclineInvitation", request, pb.DeclineInvitationResponse))

    async def step_down(self, room: str, guest: str) -> dict[str, Any]:
        request = pb.StepDownRequest(room_name=room, guest_identity=guest)
        return as_dict(await self.rpc("StepDown", request, pb.StepDownResponse))

    async def hands(self, room: str) -> list[dict[str, Any]]:
        return list((await self.hands_page(room))["hands"])

    async def hands_page(self, room: str, page_size: int = 0, page_token: str = "") -> dict[str, Any]:
        request = pb.ListRaisedHandsRequest(room_name=room, page_size=page_size, page_token=page_token)
        r = await self.rpc("ListRaisedHands", request, pb.ListRaisedHandsResponse)
        return {
            "hands": [
                {"participantIdentity": h.identity, "raisedAt": h.raised_at, "invited": h.invited} for h in r.hands
            ],
            "nextPageToken": r.next_page_token,
            "total": r.total,
        }

    async def bans_page(self, room: str, page_size: int = 0, page_token: str = "") -> dict[str, Any]:
        request = pb.ListBansRequest(room_name=room, page_size=page_size, page_token=page_token)
        r = await self.rpc("ListBans", request, pb.ListBansResponse)
        return {"bans": [as_dict(b) for b in r.bans], "nextPageToken": r.next_page_token, "total": r.total}

    async def settings(self, room: str, guest_limit: int | None) -> int:
        request = pb.UpdateRoomSettingsRequest(room_name=room)
        if guest_limit is not None:
            request.guest_limit = guest_limit
        r = await self.rpc("UpdateRoomSettings", request, pb.UpdateRoomSettingsResponse)
        return int(r.guest_limit)

    async def start_recording(self, room: str, layout: str) -> dict[str, Any]:
        request = pb.StartRecordingRequest(room_name=room, layout=_LAYOUTS[layout])
        return recording_dict((await self.rpc("StartRecording", request, pb.StartRecordingResponse)).recording)

    async def stop_recording(self, room: str) -> dict[str, Any]:
        request = pb.StopRecordingRequest(room_name=room)
        return recording_dict((await self.rpc("StopRecording", request, pb.StopRecordingResponse)).recording)

    async def recordings(self, room: str) -> list[dict[str, Any]]:
        r = await self.rpc("ListRecordings", pb.ListRecordingsRequest(room_name=room), pb.ListRecordingsResponse)
        return [recording_dict(x) for x in r.recordings]

    async def start_stream(self, room: str, destinations: list[str]) -> dict[str, Any]:
        request = pb.StartStreamRequest(room_name=room, destinations=destinations)
        return stream_dict((await self.rpc("StartStream", request, pb.StartStreamResponse)).stream)

    async def update_stream(self, room: str, add: list[str], remove: list[str]) -> dict[str, Any]:
        request = pb.UpdateStreamRequest(room_name=room, add_destinations=add, remove_destinations=remove)
        return stream_dict((await self.rpc("UpdateStream", request, pb.UpdateStreamResponse)).stream)

    async def stop_stream(self, room: str) -> dict[str, Any]:
        request = pb.StopStreamRequest(room_name=room)
        return stream_dict((await self.rpc("StopStream", request, pb.StopStreamResponse)).stream)

    async def streams(self, room: str) -> dict[str, Any]:
        r = await self.rpc("ListStreams", pb.ListStreamsRequest(room_name=room), pb.ListStreamsResponse)
        return {"streams": [stream_dict(x) for x in r.streams], "availableDestinations": list(r.available_destinations)}

    async def history(self, room: str, page_size: int = 0, page_token: str = "") -> dict[str, Any]:
        request = pb.ListShowEventsRequest(room_name=room, page_size=page_size, page_token=page_token)
        return as_dict(await self.rpc("ListShowEvents", request, pb.ListShowEventsResponse))

    async def close(self) -> None:
        return None


class GrpcClient(ContractClient):
    door = "grpc"

    def __init__(self, address: str) -> None:
        self.channel = grpc.aio.insecure_channel(address)
        self.stub = pb_grpc.ShowServiceStub(self.channel)

    async def rpc(self, method: str, request: Message, response: type[Message]) -> Any:
        metadata = (("authorization", f"Bearer {self.token}"),) if self.token else None
        try:
            return await getattr(self.stub, method)(request, timeout=20, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            refusal = Refused(self.door, _FROM_GRPC.get(code, code.name), exc.details() or "", code)
            refusal.retry_after = dict(exc.trailing_metadata() or ()).get("retry-after")
            raise refusal from exc

    async def close(self) -> None:
        await self.channel.close()


class TwirpClient(ContractClient):
    """Twirp over plain HTTP, in either of its encodings, as a browser or any HTTP client would."""

    def __init__(self, base_url: str, encoding: str) -> None:
        self.door = f"twirp-{encoding}"
        self.encoding = encoding
        self.http = httpx.AsyncClient(base_url=base_url, timeout=20)

    async def rpc(self, method: str, request: Message, response: type[Message]) -> Any:
        url = f"/twirp/showrunner.v1.ShowService/{method}"
        headers = self.auth_headers()
        if self.encoding == "json":
            body = json_format.MessageToJson(request).encode()
            headers["Content-Type"] = "application/json"
        else:
            body = request.SerializeToString()
            headers["Content-Type"] = "application/protobuf"
        reply = await self.http.post(url, content=body, headers=headers)
        if reply.status_code != 200:
            error = reply.json()
            code = _FROM_TWIRP.get(error["code"], error["code"])
            refusal = Refused(self.door, code, error["msg"], (error["code"], reply.status_code))
            refusal.retry_after = reply.headers.get("retry-after")
            raise refusal
        if self.encoding == "json":
            assert reply.headers["content-type"].startswith("application/json")
            return json_format.Parse(reply.content, response())
        assert reply.headers["content-type"].startswith("application/protobuf")
        return response.FromString(reply.content)

    async def close(self) -> None:
        await self.http.aclose()


class RestClient(Bound):
    """The MVP's REST routes with the MVP's JSON."""

    door = "rest"

    def __init__(self, base_url: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=20)

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        reply = await self.http.request(method, path, json=body, headers=self.auth_headers())
        data = reply.json()
        if reply.status_code != 200:
            assert set(data) == {"error"}, data
            refusal = Refused(self.door, f"HTTP {reply.status_code}", data["error"], reply.status_code)
            refusal.retry_after = reply.headers.get("retry-after")
            raise refusal
        return data

    async def join(self, room: str, name: str, role: str) -> dict[str, Any]:
        body = {"roomName": room, "participantName": name, "role": role}
        return dict(await self.call("POST", "/api/rooms/join", body))

    async def my_place(self, room: str) -> dict[str, Any]:
        return dict(await self.call("GET", f"/api/rooms/{room}/me"))

    async def renew_token(self, room: str) -> dict[str, Any]:
        return dict(await self.call("POST", f"/api/rooms/{room}/me/token"))

    async def list_rooms(self) -> list[dict[str, Any]]:
        return list((await self.call("GET", "/api/rooms"))["rooms"])

    async def get_room(self, room: str) -> dict[str, Any]:
        return dict((await self.call("GET", f"/api/rooms/{room}"))["room"])

    async def delete_room(self, room: str) -> None:
        assert await self.call("DELETE", f"/api/rooms/{room}") == {"success": True}

    async def go_live(self, room: str) -> dict[str, Any]:
        return dict(await self.call("POST", f"/api/rooms/{room}/live"))

    async def end_show(self, room: str) -> dict[str, Any]:
        return dict(await self.call("POST", f"/api/rooms/{room}/end"))

    async def list_participants(self, room: str) -> list[dict[str, Any]]:
        return list((await self.call("GET", f"/api/rooms/{room}/participants"))["participants"])

    async def participants_page(self, room: str, page_size: int = 0, page_token: str = "") -> dict[str, Any]:
        return dict(await self.call("GET", f"/api/rooms/{room}/participants{_page_query(page_size, page_token)}"))

    async def remove_participant(self, room: str, identity: str, ban: bool = False) -> None:
        query = "?ban=true" if ban else ""
        assert await self.call("DELETE", f"/api/rooms/{room}/participants/{identity}{query}") == {"success": True}

    async def appoint_moderator(self, room: str, identity: str) -> dict[str, Any]:
        return dict(await self.call("POST", f"/api/rooms/{room}/moderators", {"identity": identity}))

    async def dismiss_moderator(self, room: str, identity: str) -> dict[str, Any]:
        return dict(await self.call("DELETE", f"/api/rooms/{room}/moderators/{identity}"))

    async def unban(self, room: str, identity: str) -> dict[str, Any]:
        return dict(await self.call("DELETE", f"/api/rooms/{room}/bans/{identity}"))

    async def bans(self, room: str) -> list[dict[str, Any]]:
        return list((await self.call("GET", f"/api/rooms/{room}/bans"))["bans"])

    async def mute(self, room: str, guest: str, source: str, lock: bool = False) -> dict[str, Any]:
        body = {"source": source, "lock": lock}
        return dict(await self.call("POST", f"/api/rooms/{room}/guests/{guest}/mute", body))

    async def allow_source(self, room: str, guest: str, source: str) -> dict[str, Any]:
        return dict(await self.call("POST", f"/api/rooms/{room}/guests/{guest}/allow", {"source": source}))

    async def invite(self, room: str, viewer: str, host: str) -> dict[str, Any]:
        body = {"viewerIdentity": viewer, "hostIdentity": host}
        reply = await self.call("POST", f"/api/rooms/{room}/invite", body)
        assert reply["success"] is True
        return dict(reply)

    async def demote(self, room: str, guest: str, host: str) -> dict[str, Any]:
        reply = await self.call("POST", f"/api/rooms/{room}/demote", {"guestIdentity": guest, "hostIdentity": host})
        assert reply["success"] is True
        return dict(reply)

    async def remove_guest(self, room: str, guest: str, host: str) -> dict[str, Any]:
        body = {"guestIdentity": guest, "hostIdentity": host}
        reply = await self.call("POST", f"/api/rooms/{room}/remove-guest", body)
        assert reply["success"] is True
        return dict(reply)

    async def hand(self, room: str, identity: str, raised: bool | None) -> dict[str, Any]:
        body: dict[str, Any] = {"participantIdentity": identity}
        if raised is not None:
            body["raised"] = raised
        reply = await self.call("POST", f"/api/rooms/{room}/hand-raise", body)
        assert reply["success"] is True
        return dict(reply)

    async def accept(self, room: str, viewer: str) -> dict[str, Any]:
        return dict(await self.call("POST", f"/api/rooms/{room}/invitation/accept", {"viewerIdentity": viewer}))

    async def decline(self, room: str, viewer: str) -> dict[str, Any]:
        return dict(await self.call("POST", f"/api/rooms/{room}/invitation/decline", {"viewerIdentity": viewer}))

    async def step_down(self, room: str, guest: str) -> dict[str, Any]:
        return dict(await self.call("POST", f"/api/rooms/{room}/step-down", {"guestIdentity": guest}))

    async def hands(self, room: str) -> list[dict[str, Any]]:
        return list((await self.call("GET", f"/api/rooms/{room}/hands"))["hands"])

    async def hands_page(self, room: str, page_size: int = 0, page_token: str = "") -> dict[str, Any]:
        return dict(await self.call("GET", f"/api/rooms/{room}/hands{_page_query(page_size, page_token)}"))

    async def bans_page(self, room: str, page_size: int = 0, page_token: str = "") -> dict[str, Any]:
        return dict(await self.call("GET", f"/api/rooms/{room}/bans{_page_query(page_size, page_token)}"))

    async def settings(self, room: str, guest_limit: int | None) -> int:
        body = {} if guest_limit is None else {"guestLimit": guest_limit}
        return int((await self.call("PATCH", f"/api/rooms/{room}/settings", body))["guestLimit"])

    async def start_recording(self, room: str, layout: str) -> dict[str, Any]:
        reply = await self.call("POST", f"/api/rooms/{room}/recordings", {"layout": layout} if layout else {})
        assert reply["success"] is True
        return dict(reply["recording"])

    async def stop_recording(self, room: str) -> dict[str, Any]:
        reply = await self.call("POST", f"/api/rooms/{room}/recordings/stop", {})
        assert reply["success"] is True
        return dict(reply["recording"])

    async def recordings(self, room: str) -> list[dict[str, Any]]:
        return list((await self.call("GET", f"/api/rooms/{room}/recordings"))["recordings"])

    async def start_stream(self, room: str, destinations: list[str]) -> dict[str, Any]:
        reply = await self.call("POST", f"/api/rooms/{room}/streams", {"destinations": destinations})
        return dict(reply["stream"])

    async def update_stream(self, room: str, add: list[str], remove: list[str]) -> dict[str, Any]:
        body = {"addDestinations": add, "removeDestinations": remove}
        return dict((await self.call("POST", f"/api/rooms/{room}/streams/update", body))["stream"])

    async def stop_stream(self, room: str) -> dict[str, Any]:
        return dict((await self.call("POST", f"/api/rooms/{room}/streams/stop", {}))["stream"])

    async def streams(self, room: str) -> dict[str, Any]:
        reply = await self.call("GET", f"/api/rooms/{room}/streams")
        return {"streams": list(reply["streams"]), "availableDestinations": list(reply["availableDestinations"])}

    async def history(self, room: str, page_size: int = 0, page_token: str = "") -> dict[str, Any]:
        return dict(await self.call("GET", f"/api/rooms/{room}/events{_page_query(page_size, page_token)}"))

    async def close(self) -> None:
        await self.http.aclose()


def _page_query(page_size: int, page_token: str) -> str:
    """A list's page as REST asks for it: `?pageSize=...&pageToken=...`, either left out when unset."""
    query = "&".join(
        part
        for part in (f"pageSize={page_size}" if page_size else "", f"pageToken={page_token}" if page_token else "")
        if part
    )
    return f"?{query}" if query else ""


DOORS = ("grpc", "twirp-json", "twirp-protobuf", "rest")


def client_for(door: str, grpc_address: str, http_base: str) -> ShowClient:
    if door == "grpc":
        return GrpcClient(grpc_address)
    if door == "twirp-json":
        return TwirpClient(http_base, "json")
    if door == "twirp-protobuf":
        return TwirpClient(http_base, "protobuf")
    return RestClient(http_base)
