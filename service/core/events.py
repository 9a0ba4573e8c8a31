"""ShowEvents: what the show tells the room, or whom it concerns, over LiveKit's data channel."""

from __future__ import annotations

import json
from enum import StrEnum

from google.protobuf import json_format
from showrunner.v1 import show_event_pb2

# The one LiveKit data topic every ShowEvent travels on.
EVENTS_TOPIC = "showrunner.events"


class EventType(StrEnum):
    HAND_RAISE = "hand_raise"
    HAND_LOWER = "hand_lower"
    GUEST_INVITE = "guest_invite"
    GUEST_INVITE_RESPONSE = "guest_invite_response"
    GUEST_PROMOTED = "guest_promoted"
    GUEST_DEMOTED = "guest_demoted"
    CHAT_MESSAGE = "chat_message"
    # Beyond the MVP's seven: the host's connection ended and the host slot is free; the show
    # started or stopped being recorded.
    HOST_LEFT = "host_left"
    RECORDING_STARTED = "recording_started"
    RECORDING_STOPPED = "recording_stopped"
    # A participant became a moderator, or a viewer again (to the whole room, as a promotion is).
    MODERATOR_APPOINTED = "moderator_appointed"
    MODERATOR_DISMISSED = "moderator_dismissed"
    # The show's state: it went live, it ended (GoLive, EndShow).
    SHOW_LIVE = "show_live"
    SHOW_ENDED = "show_ended"
    # Someone was banned, or let back in (to the host and the moderators only, as hands are).
    PARTICIPANT_BANNED = "participant_banned"
    PARTICIPANT_UNBANNED = "participant_unbanned"
    # The guest limit was set (UpdateRoomSettings): to the host and the moderators only, whose
    # pages offer an invitation only while the stage has a free seat.
    GUEST_LIMIT_CHANGED = "guest_limit_changed"
    # A stream's progress, to the host and the moderators only (the audience is not told where
    # the show is restreamed): StartStream and UpdateStream (kept in the history too, in the same
    # words), then each state LiveKit's egress reaches: active, ending, ended.
    STREAM_STARTED = "stream_started"
    STREAM_UPDATED = "stream_updated"
    STREAM_LIVE = "stream_live"
    STREAM_ENDING = "stream_ending"
    STREAM_ENDED = "stream_ended"
    # Kept in the show's history only (ListShowEvents), never sent: the host took the host seat,
    # someone was removed, a stream was stopped or ended by itself.
    HOST_JOINED = "host_joined"
    PARTICIPANT_REMOVED = "participant_removed"
    STREAM_STOPPED = "stream_stopped"


# What the show's history keeps of what `_announce` sends: who went on and off stage, the host
# leaving, moderators, bans, the show's state. Hands, invitations and chat are left out: they grow
# with the audience. Recordings are kept where they are started and stopped, with who did it.
ANNOUNCED_HISTORY = frozenset(
    {
        EventType.GUEST_PROMOTED,
        EventType.GUEST_DEMOTED,
        EventType.HOST_LEFT,
        EventType.MODERATOR_APPOINTED,
        EventType.MODERATOR_DISMISSED,
        EventType.PARTICIPANT_BANNED,
        EventType.PARTICIPANT_UNBANNED,
        EventType.SHOW_LIVE,
        EventType.SHOW_ENDED,
    }
)


def show_event(
    kind: EventType,
    *,
    sender_id: str,
    sender_name: str,
    at: float,
    target_id: str = "",
    target_name: str = "",
) -> show_event_pb2.ShowEvent:
    """Builds an event; `at` is in seconds, the wire carries milliseconds."""
    return show_event_pb2.ShowEvent(
        type=kind.value,
        sender_id=sender_id,
        sender_name=sender_name,
        timestamp=float(round(at * 1000)),
        target_participant_id=target_id,
        target_participant_name=target_name,
    )


def encode(event: show_event_pb2.ShowEvent) -> bytes:
    """The event's canonical protobuf JSON, compact: the MVP's data-channel message. Whole
    milliseconds (`timestamp`, and an invitation's `expiresAt`) are written as integers, as the
    MVP's clients send them."""
    fields = json_format.MessageToDict(event)
    for name in _MILLISECONDS:
        value = fields.get(name)
        if isinstance(value, float) and value.is_integer():
            fields[name] = int(value)
    return json.dumps(fields, separators=(",", ":")).encode()


# The event's times, in milliseconds since the Unix epoch (doubles in the contract), by JSON name.
_MILLISECONDS = ("timestamp", "expiresAt")


def decode(payload: bytes) -> show_event_pb2.ShowEvent:
    return json_format.Parse(payload, show_event_pb2.ShowEvent(), ignore_unknown_fields=True)
