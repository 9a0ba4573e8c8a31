"""The MVP's REST routes, kept for its existing clients: same paths, JSON bodies, statuses and
{"error": "..."} messages. Each route turns MVP JSON into the contract's request, calls the core,
and renders the contract's response as MVP JSON."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from livekit.protocol.egress import EgressStatus
from showrunner.v1 import show_service_pb2 as pb
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service.core.caller import Credentials
from service.core.clock import Clock
from service.core.errors import ShowError, invalid
from service.core.roles import Role
from service.core.show import ShowCore
from service.doors.errors import WIRE
from service.doors.serving import Serving

MAX_BODY_BYTES = 64 * 1024

_ROLES = {role.value: role.wire for role in Role}
_ROLE_NAMES = {wire: name for name, wire in _ROLES.items()}


class TooLarge(Exception):
    """The body is larger than the REST door accepts (413)."""


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def read_body(request: Request) -> bytes:
    """The body, refused once it passes MAX_BODY_BYTES without reading the rest."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request) -> dict[str, Any]:
    raw = await read_body(request)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid("Request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object")
    return body


def text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(f"{field} must be a string")
    return value


def flag(body: dict[str, Any], field: str) -> bool | None:
    value = body.get(field)
    if value is None or isinstance(value, bool):
        return value
    raise invalid(f"{field} must be true or false")


def seconds(value: int) -> str:
    """The MVP sends times as strings of Unix seconds."""
    return str(value)


# --- MVP JSON <-> contract --------------------------------------------------------------

# Each route is a pair: MVP JSON in -> (RPC, the contract's request); the contract's response -> MVP JSON.
Take = Callable[[Request], Awaitable[tuple[str, Message]]]
Render = Callable[[Any], dict[str, Any]]


async def join_in(request: Request) -> tuple[str, Message]:
    body = await json_body(request)
    return "JoinRoom", pb.JoinRoomRequest(
        room_name=text(body, "roomName"),
        participant_name=text(body, "participantName"),
        role=_ROLES.get(text(body, "role").lower(), pb.ROLE_UNSPECIFIED),
        display_name=text(body, "displayName"),
    )


def number(body: dict[str, Any], field: str) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"{field} must be a whole number")
    return value


def join_out(r: pb.JoinRoomResponse) -> dict[str, Any]:
    return {"token": r.token, "wsUrl": r.ws_url, "roomName": r.room_name, "role": _ROLE_NAMES[r.role]}


async def list_rooms_in(request: Request) -> tuple[str, Message]:
    return "ListRooms", pb.ListRoomsRequest()


def list_rooms_out(r: pb.ListRoomsResponse) -> dict[str, Any]:
    return {
        "rooms": [
            {
                "name": room.name,
                "sid": room.sid,
                "numParticipants": room.num_participants,
                "creationTime": seconds(room.creation_time),
            }
            for room in r.rooms
        ]
    }


async def get_room_in(request: Request) -> tuple[str, Message]:
    return "GetRoom", pb.GetRoomRequest(room_name=request.path_params["room"])


def get_room_out(r: pb.GetRoomResponse) -> dict[str, Any]:
    room = r.room
    return {
        "room": {
            "name": room.name,
            "sid": room.sid,
            "numParticipants": room.num_participants,
            "hasHost": room.has_host,
            "hasGuest": room.has_guest,
            "guestLimit": room.guest_limit,
            "guests": list(room.guests),
        }
    }


async def delete_room_in(request: Request) -> tuple[str, Message]:
    return "DeleteRoom", pb.DeleteRoomRequest(room_name=request.path_params["room"])


def success(_: Message) -> dict[str, Any]:
    return {"success": True}


async def participants_in(request: Request) -> tuple[str, Message]:
    return "ListParticipants", pb.ListParticipantsRequest(room_name=request.path_params["room"])


def participants_out(r: pb.ListParticipantsResponse) -> dict[str, Any]:
    return {
        "participants": [
            {
                "sid": p.sid,
                "identity": p.identity,
                "name": p.name,
                "metadata": p.metadata,
                "joinedAt": seconds(p.joined_at),
                "role": _ROLE_NAMES.get(p.role, ""),
                "handRaised": p.hand_raised,
            }
            for p in r.participants
        ]
    }


async def remove_participant_in(request: Request) -> tuple[str, Message]:
    return "RemoveParticipant", pb.RemoveParticipantRequest(
        room_name=request.path_params["room"], identity=request.path_params["identity"]
    )


async def invite_in(request: Request) -> tuple[str, Message]:
    body = await json_body(request)
    return "InviteGuest", pb.InviteGuestRequest(
        room_name=request.path_params["room"],
        viewer_identity=text(body, "viewerIdentity"),
        host_identity=text(body, "hostIdentity"),
    )


def invite_out(r: pb.InviteGuestResponse) -> dict[str, Any]:
    if r.promoted:
        return {"success": True, "promoted": True, "token": r.token, "wsUrl": r.ws_url, "message": r.message}
    return {"success": True, "promoted": False, "message": r.message, "expiresAt": r.expires_at}


def new_token_out(
    r: pb.DemoteGuestResponse | pb.AcceptInvitationResponse | pb.StepDownResponse,
) -> dict[str, Any]:
    return {"success": True, "token": r.token, "wsUrl": r.ws_url, "message": r.message}


async def demote_in(request: Request) -> tuple[str, Message]:
    body = await json_body(request)
    return "DemoteGuest", pb.DemoteGuestRequest(
        room_name=request.path_params["room"],
        guest_identity=text(body, "guestIdentity"),
        host_identity=text(body, "hostIdentity"),
    )


async def remove_guest_in(request: Request) -> tuple[str, Message]:
    body = await json_body(request)
    return "RemoveGuest", pb.RemoveGuestRequest(
        room_name=request.path_params["room"],
        guest_identity=text(body, "guestIdentity"),
        host_identity=text(body, "hostIdentity"),
    )


def message_out(r: pb.RemoveGuestResponse | pb.DeclineInvitationResponse) -> dict[str, Any]:
    return {"success": True, "message": r.message}


async def accept_in(request: Request) -> tuple[str, Message]:
    body = await json_body(request)
    return "AcceptInvitation", pb.AcceptInvitationRequest(
        room_name=request.path_params["room"], viewer_identity=text(body, "viewerIdentity")
    )


async def decline_in(request: Request) -> tuple[str, Message]:
    body = await json_body(request)
    return "DeclineInvitation", pb.DeclineInvitationRequest(
        room_name=request.path_params["room"], viewer_identity=text(body, "viewerIdentity")
    )


async def step_down_in(request: Request) -> tuple[str, Message]:
    body = await json_body(request)
    return "StepDown", pb.StepDownRequest(
        room_name=request.path_params["room"], guest_identity=text(body, "guestIdentity")
    )


async def hands_in(request: Request) -> tuple[str, Message]:
    return "ListRaisedHands", pb.ListRaisedHandsRequest(room_name=request.path_params["room"])


def hands_out(r: pb.ListRaisedHandsResponse) -> dict[str, Any]:
    return {
        "hands": [{"participantIdentity": h.identity, "raisedAt": h.raised_at, "invited": h.invited} for h in r.hands]
    }


async def settings_in(request: Request) -> tuple[str, Message]:
    body = await json_body(request)
    settings = pb.UpdateRoomSettingsRequest(room_name=request.path_params["room"])
    limit = number(body, "guestLimit")
    if limit is not None:
        if not 0 <= limit < 2**32:
            raise invalid(f"guestLimit must be between 1 and 16, got {limit}")
        settings.guest_limit = limit
    return "UpdateRoomSettings", settings


def settings_out(r: pb.UpdateRoomSettingsResponse) -> dict[str, Any]:
    return {"success": True, "guestLimit": r.guest_limit}


_LAYOUTS = {"speaker": pb.RECORDING_LAYOUT_SPEAKER, "grid": pb.RECORDING_LAYOUT_GRID}
_LAYOUT_NAMES = {wire: name for name, wire in _LAYOUTS.items()}


def recording_json(r: pb.Recording) -> dict[str, Any]:
    return {
        "recordingId": r.recording_id,
        "roomName": r.room_name,
        "layout": _LAYOUT_NAMES.get(r.layout, ""),
        "status": EgressStatus.Name(r.status),
        "startedAt": r.started_at,
        "endedAt": r.ended_at,
        "location": r.location,
        "error": r.error,
    }


async def start_recording_in(request: Request) -> tuple[str, Message]:
    body = await json_body(request)
    layout = _LAYOUTS.get(text(body, "layout").lower(), pb.RECORDING_LAYOUT_UNSPECIFIED)
    return "StartRecording", pb.StartRecordingRequest(room_name=request.path_params["room"], layout=layout)


async def stop_recording_in(request: Request) -> tuple[str, Message]:
    return "StopRecording", pb.StopRecordingRequest(room_name=request.path_params["room"])


def recording_out(r: pb.StartRecordingResponse | pb.StopRecordingResponse) -> dict[str, Any]:
    return {"success": True, "recording": recording_json(r.recording)}


async def recordings_in(request: Request) -> tuple[str, Message]:
    return "ListRecordings", pb.ListRecordingsRequest(room_name=request.path_params["room"])


def recordings_out(r: pb.ListRecordingsResponse) -> dict[str, Any]:
    return {"recordings": [recording_json(x) for x in r.recordings]}


async def hand_in(request: Request) -> tuple[str, Message]:
    body = await json_body(request)
    hand = pb.SetHandRaisedRequest(
        room_name=request.path_params["room"], participant_identity=text(body, "participantIdentity")
    )
    raised = flag(body, "raised")
    if raised is not None:
        hand.raised = raised
    return "SetHandRaised", hand


def hand_out(r: pb.SetHandRaisedResponse) -> dict[str, Any]:
    out: dict[str, Any] = {"success": True, "handRaised": r.hand_raised, "promoted": r.promoted}
    if r.promoted:
        out.update(token=r.token, wsUrl=r.ws_url)
    return out


# --- the app ----------------------------------------------------------------------------


MetricsPage = Callable[[], Awaitable[bytes]]


def rest_app(serving: Serving, clock: Clock, metrics_page: MetricsPage) -> Starlette:
    core: ShowCore = serving.core

    def route(path: str, method: str, take: Take, render: Render) -> Route:
        async def endpoint(request: Request) -> Response:
            credentials = Credentials(
                authorization=request.headers.get("authorization"),
                address=request.client.host if request.client else None,
            )
            try:
                rpc, message = await take(request)
                result = await serving.serve("rest", rpc, message, credentials)
            except TooLarge:
                return error_response(413, f"Request body is larger than {MAX_BODY_BYTES} bytes")
            except ShowError as exc:
                headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
                return error_response(WIRE[exc.code].http, exc.message, headers)
            return JSONResponse(render(result))

        return Route(path, endpoint, methods=[method])

    async def health(request: Request) -> Response:
        now = datetime.fromtimestamp(clock.now(), UTC)
        return JSONResponse({"status": "ok", "timestamp": now.isoformat(timespec="milliseconds")[:-6] + "Z"})

    async def metrics(request: Request) -> Response:
        return Response(await metrics_page(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def livekit_webhook(request: Request) -> Response:
        """LiveKit's signed webhooks keep the show's state true to what happened on LiveKit."""
        try:
            event = await core.receive_webhook(request.headers.get("authorization"), await read_body(request))
        except TooLarge:
            return error_response(413, f"Request body is larger than {MAX_BODY_BYTES} bytes")
        except ShowError as exc:
            return error_response(WIRE[exc.code].http, exc.message)
        return JSONResponse({"success": True, "event": event})

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        return error_response(status, {404: "Not found", 405: "Method not allowed"}.get(status, "Request failed"))

    rooms = "/api/rooms/{room}"
    routes = [
        Route("/health", health, methods=["GET"]),
        route("/api/rooms/join", "POST", join_in, join_out),
        route("/api/rooms", "GET", list_rooms_in, list_rooms_out),
        route(rooms, "GET", get_room_in, get_room_out),
        route(rooms, "DELETE", delete_room_in, success),
        route(rooms + "/participants", "GET", participants_in, participants_out),
        route(rooms + "/participants/{identity}", "DELETE", remove_participant_in, success),
        route(rooms + "/invite", "POST", invite_in, invite_out),
        route(rooms + "/demote", "POST", demote_in, new_token_out),
        route(rooms + "/remove-guest", "POST", remove_guest_in, message_out),
        route(rooms + "/hand-raise", "POST", hand_in, hand_out),
        route(rooms + "/invitation/accept", "POST", accept_in, new_token_out),
        route(rooms + "/invitation/decline", "POST", decline_in, message_out),
        route(rooms + "/step-down", "POST", step_down_in, new_token_out),
        route(rooms + "/hands", "GET", hands_in, hands_out),
        route(rooms + "/settings", "PATCH", settings_in, settings_out),
        route(rooms + "/recordings", "POST", start_recording_in, recording_out),
        route(rooms + "/recordings/stop", "POST", stop_recording_in, recording_out),
        route(rooms + "/recordings", "GET", recordings_in, recordings_out),
        Route("/webhooks/livekit", livekit_webhook, methods=["POST"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.router.redirect_slashes = False  # a redirect would hide a missing path segment
    return app
