"""The MVP's REST quirks: the one table of where the REST door departs from the usual transcoding
of the contract (google.api.http rules with canonical proto3 JSON), and why each departure exists.

Everything else the REST door does, and every RPC not named here, follows the usual rules. The
transcoder (service/doors/rest_door.py) and the OpenAPI generator (tools/openapi.py) both read
this table, so the document describes what the door really sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Shape:
    """How the MVP showed one message: which fields, in its order, under which names."""

    fields: tuple[str, ...] | None = None  # the contract's field names; None means every field
    renamed: Mapping[str, str] = field(default_factory=dict)  # field -> the MVP's JSON name
    # field -> (a bool field of the same message, the value it must hold for the field to show)
    shown_when: Mapping[str, tuple[str, bool]] = field(default_factory=dict)
    nested: Mapping[str, Shape] = field(default_factory=dict)  # message field -> its shape
    success: bool = False  # the answer opens with "success": true


@dataclass(frozen=True)
class Quirk:
    shape: Shape
    why: str


_ROOM_IN_LIST = Shape(("name", "sid", "num_participants", "creation_time"))
_NEW_TOKEN = Shape(("token", "ws_url", "message"), success=True)
_DONE = Shape(("message",), success=True)
_ON_STAGE = {"token": ("promoted", True), "ws_url": ("promoted", True)}

# Per RPC: how its answer is shown on the REST door. The MVP's clients parse these forms.
ANSWERS: dict[str, Quirk] = {
    "JoinRoom": Quirk(
        Shape(("token", "ws_url", "room_name", "role", "state", "hand_raised", "invitation_expires_at", "invited_by")),
        "the MVP's join answer (and the show's state, a viewer's kept hand and invitation and who sent it);"
        " identity came later",
    ),
    "ListRooms": Quirk(Shape(nested={"rooms": _ROOM_IN_LIST}), "the MVP listed LiveKit's four room fields only"),
    "GetRoom": Quirk(
        Shape(
            nested={
                "room": Shape(
                    (
                        "name",
                        "sid",
                        "num_participants",
                        "has_host",
                        "has_guest",
                        "guest_limit",
                        "guests",
                        "moderators",
                        "num_viewers",
                        "raised_hands",
                        "state",
                        "opened_at",
                        "started_at",
                        "ended_at",
                    )
                )
            }
        ),
        "the MVP's room description, without LiveKit's creation time",
    ),
    "DeleteRoom": Quirk(Shape((), success=True), 'the MVP answered an empty success as {"success": true}'),
    "ListParticipants": Quirk(
        Shape(
            nested={"participants": Shape(("sid", "identity", "name", "metadata", "joined_at", "role", "hand_raised"))}
        ),
        "the MVP's participant, without LiveKit's permission",
    ),
    "RemoveParticipant": Quirk(Shape((), success=True), 'the MVP answered an empty success as {"success": true}'),
    "InviteGuest": Quirk(
        Shape(
            ("promoted", "token", "ws_url", "message", "expires_at"),
            shown_when={**_ON_STAGE, "expires_at": ("promoted", False)},
            success=True,
        ),
        "the MVP's two answers: a guest token when promoted, the expiry while the invitation waits",
    ),
    "DemoteGuest": Quirk(_NEW_TOKEN, "the MVP's answer to a change of role: success, new token, message"),
    "RemoveGuest": Quirk(_DONE, "the MVP's answer to an action: success and message"),
    "SetHandRaised": Quirk(
        Shape(("hand_raised", "promoted", "token", "ws_url"), shown_when=_ON_STAGE, success=True),
        "the MVP's hand answer; a token only when raising the hand put the viewer on stage",
    ),
    "AcceptInvitation": Quirk(_NEW_TOKEN, "the MVP's answer to a change of role: success, new token, message"),
    "DeclineInvitation": Quirk(_DONE, "the MVP's answer to an action: success and message"),
    "StepDown": Quirk(_NEW_TOKEN, "the MVP's answer to a change of role: success, new token, message"),
    "ListRaisedHands": Quirk(
        Shape(nested={"hands": Shape(renamed={"identity": "participantIdentity"})}),
        "the MVP named the hand's owner participantIdentity, as its requests do",
    ),
    "UpdateRoomSettings": Quirk(Shape(success=True), 'the MVP opened every change\'s answer with "success": true'),
    "StartRecording": Quirk(Shape(success=True), 'the MVP opened every change\'s answer with "success": true'),
    "StopRecording": Quirk(Shape(success=True), 'the MVP opened every change\'s answer with "success": true'),
}

# Enums the MVP spelled as lowercase words ("host", "speaker"), in requests (any case) and answers
# ("" for unspecified): enum full name -> the prefix its value names carry in the contract.
WORD_ENUMS: dict[str, str] = {
    "showrunner.v1.Role": "ROLE_",
    "showrunner.v1.RecordingLayout": "RECORDING_LAYOUT_",
}
# Word enums whose unknown words read as unset, for the core to refuse: the MVP answered an unknown
# role as a missing one ('role must be "host" or "viewer"'). Any other unknown word is refused by
# the door, naming the words it takes: unset may mean a default (a recording's layout), which an
# unknown word must not choose in silence.
UNKNOWN_WORD_UNSET: frozenset[str] = frozenset({"showrunner.v1.Role"})

# 64-bit integers the MVP sent as JSON numbers (milliseconds since the epoch), where canonical
# proto3 JSON sends strings; the MVP's times in seconds (creationTime, joinedAt) stay strings.
NUMBER_INT64: frozenset[str] = frozenset(
    {
        "showrunner.v1.InviteGuestResponse.expires_at",
        "showrunner.v1.JoinRoomResponse.invitation_expires_at",
        "showrunner.v1.GetMyPlaceResponse.invitation_expires_at",
        "showrunner.v1.RaisedHand.raised_at",
        "showrunner.v1.Recording.started_at",
        "showrunner.v1.Recording.ended_at",
    }
)

# The MVP's error answers: {"error": "<message>"} with its HTTP statuses (service/doors/errors.py),
# for refusals of the core and of the door alike (bad JSON, 404, 405, 413).
ERROR_FIELD = "error"
