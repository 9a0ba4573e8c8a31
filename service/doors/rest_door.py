"""The MVP's REST routes, kept for its existing clients: same paths, JSON bodies, statuses and
{"error": "..."} messages. Each route turns MVP JSON into the contract's request, calls the core,
and renders the contract's response as MVP JSON."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from showrunner.v1 import show_service_pb2 as pb
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service.core.clock import Clock
from service.core.errors import Code, ShowError, invalid
from service.core.roles import Role
from service.core.show import OPERATIONS, ShowCore
from service.doors.callers import claimed_caller
from service.doors.errors import WIRE

MAX_BODY_BYTES = 64 * 1024

_ROLES = {role.value: role.wire for role in Role}
_ROLE_NAMES = {wire: name for name, wire in _ROLES.items()}


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ShowError(Code.INVALID_ARGUMENT, f"Request body is larger than {MAX_BODY_BYTES} bytes")
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

Route_ = Callable[[Request], Awaitable[tuple[str, Message]]]
Render = Callable[[Any], dict[str, Any]]


async def join_in(request: Request) -> tuple[str, Message]:
    body = await json_body(request)
    return "JoinRoom", pb.JoinRoomRequest(
        room_name=text(body, "roomName"),
        participant_name=text(body, "participantName"),
        role=_ROLES.get(text(body, "role").lower(), pb.ROLE_UNSPECIFIED),
        display_name=text(body, "displayName"),
    )


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


def new_token_out(r: pb.InviteGuestResponse | pb.DemoteGuestResponse) -> dict[str, Any]:
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


def message_out(r: pb.RemoveGuestResponse) -> dict[str, Any]:
    return {"success": True, "message": r.message}


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
    return {"success": True, "handRaised": r.hand_raised}


# --- the app ----------------------------------------------------------------------------


def rest_app(core: ShowCore, clock: Clock) -> Starlette:
    def route(path: str, method: str, take: Route_, render: Render) -> Route:
        async def endpoint(request: Request) -> Response:
            try:
                rpc, message = await take(request)
                result = await OPERATIONS[rpc](core, message, claimed_caller(message))
            except ShowError as exc:
                return error_response(WIRE[exc.code].http, exc.message)
            return JSONResponse(render(result))

        return Route(path, endpoint, methods=[method])

    async def health(request: Request) -> Response:
        now = datetime.fromtimestamp(clock.now(), UTC)
        return JSONResponse({"status": "ok", "timestamp": now.isoformat(timespec="milliseconds")[:-6] + "Z"})

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        return error_response(
            status, {404: "Not found", 405: "Method not allowed"}.get(status, "Request failed")
        )

    rooms = "/api/rooms/{room}"
    routes = [
        Route("/health", health, methods=["GET"]),
        route("/api/rooms/join", "POST", join_in, join_out),
        route("/api/rooms", "GET", list_rooms_in, list_rooms_out),
        route(rooms, "GET", get_room_in, get_room_out),
        route(rooms, "DELETE", delete_room_in, success),
        route(rooms + "/participants", "GET", participants_in, participants_out),
        route(rooms + "/participants/{identity}", "DELETE", remove_participant_in, success),
        route(rooms + "/invite", "POST", invite_in, new_token_out),
        route(rooms + "/demote", "POST", demote_in, new_token_out),
        route(rooms + "/remove-guest", "POST", remove_guest_in, message_out),
        route(rooms + "/hand-raise", "POST", hand_in, hand_out),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.router.redirect_slashes = False  # a redirect would hide a missing path segment
    return app
