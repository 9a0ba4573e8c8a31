"""The show's rules, held once. Every door calls these methods and nothing else.

Each operation takes the contract's request message and the Caller, and returns the contract's
response message or raises ShowError. A change that needs both the store and LiveKit is made in
the store first (where the rules are checked atomically) and undone there if LiveKit refuses,
so a failed request leaves no trace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from livekit.protocol import models as lk
from showrunner.v1 import show_service_pb2 as pb

from service.core import errors
from service.core.caller import Caller
from service.core.clock import Clock
from service.core.events import EventType, encode, show_event
from service.core.ports import Presence, Stage, Store
from service.core.roles import Role
from service.core.state import ShowState

log = logging.getLogger("showrunner.core")


@dataclass(frozen=True)
class ShowRules:
    """Settings of the rules that operators may tune."""

    guest_limit: int = 1


class ShowCore:
    def __init__(self, stage: Stage, store: Store, clock: Clock, rules: ShowRules | None = None) -> None:
        self._stage = stage
        self._store = store
        self._clock = clock
        self._rules = rules or ShowRules()

    # --- joining -------------------------------------------------------------------------

    async def join_room(self, request: pb.JoinRoomRequest, caller: Caller) -> pb.JoinRoomResponse:
        room, identity = request.room_name, request.participant_name
        if not room or not identity:
            raise errors.invalid(errors.JOIN_FIELDS_REQUIRED)
        wanted = Role.from_wire(request.role)
        if wanted not in (Role.HOST, Role.VIEWER):
            raise errors.invalid(errors.ROLE_REQUIRED)
        name = request.display_name or identity
        now = self._clock.now()

        if wanted is Role.HOST:
            newly = await self._store.update(room, lambda s: s.claim_host(identity, name, now))
            try:
                await self._stage.open_room(room)
            except errors.ShowError:
                if newly:
                    await self._store.update(room, lambda s: s.forget(identity))
                raise
            role = Role.HOST
        else:
            state = await self._store.load(room)
            role = state.role_of(identity)
            if role is Role.HOST:
                raise errors.ShowError(
                    errors.Code.ALREADY_EXISTS, f'participantName "{identity}" is the host of this room'
                )
            # A guest who reconnects through the viewer door keeps the stage.

        token = self._stage.mint_token(room, identity, name, Presence(role))
        return pb.JoinRoomResponse(
            token=token, ws_url=self._stage.ws_url, room_name=room, role=role.wire, identity=identity
        )

    # --- rooms ---------------------------------------------------------------------------

    async def list_rooms(self, request: pb.ListRoomsRequest, caller: Caller) -> pb.ListRoomsResponse:
        rooms = await self._stage.list_rooms()
        return pb.ListRoomsResponse(rooms=[self._room(r, await self._store.load(r.name)) for r in rooms])

    async def get_room(self, request: pb.GetRoomRequest, caller: Caller) -> pb.GetRoomResponse:
        room = await self._existing_room(request.room_name)
        return pb.GetRoomResponse(room=self._room(room, await self._store.load(room.name)))

    async def delete_room(self, request: pb.DeleteRoomRequest, caller: Caller) -> pb.DeleteRoomResponse:
        if not request.room_name:
            raise errors.invalid(errors.ROOM_NAME_REQUIRED)
        state = await self._store.load(request.room_name)
        closed = await self._stage.close_room(request.room_name)
        if not closed and state.is_empty:
            raise errors.not_found(errors.ROOM_NOT_FOUND)
        await self._store.delete(request.room_name)
        return pb.DeleteRoomResponse()

    # --- participants --------------------------------------------------------------------

    async def list_participants(
        self, request: pb.ListParticipantsRequest, caller: Caller
    ) -> pb.ListParticipantsResponse:
        room = await self._existing_room(request.room_name)
        participants = await self._stage.list_participants(room.name)
        state = await self._store.load(room.name)
        return pb.ListParticipantsResponse(participants=[self._participant(p, state) for p in participants])

    async def remove_participant(
        self, request: pb.RemoveParticipantRequest, caller: Caller
    ) -> pb.RemoveParticipantResponse:
        room, identity = request.room_name, request.identity
        if not room or not identity:
            raise errors.invalid(errors.REMOVE_FIELDS_REQUIRED)
        await self._existing_room(room)
        if not await self._stage.remove_participant(room, identity):
            raise errors.not_found(errors.PARTICIPANT_NOT_FOUND)
        role = await self._store.update(room, lambda s: s.forget(identity))
        if role is Role.GUEST:
            await self._announce(room, EventType.GUEST_DEMOTED, sender=None, target=(identity, identity))
        return pb.RemoveParticipantResponse()

    # --- the stage -----------------------------------------------------------------------

    async def invite_guest(self, request: pb.InviteGuestRequest, caller: Caller) -> pb.InviteGuestResponse:
        room, viewer = request.room_name, request.viewer_identity
        if not room or not viewer or not request.host_identity:
            raise errors.invalid(errors.INVITE_FIELDS_REQUIRED)
        self._acting_as(caller, request.host_identity)
        await self._existing_room(room)
        now, limit = self._clock.now(), self._rules.guest_limit
        hand = await self._store.update(room, lambda s: _seat(s, caller.identity, viewer, now, limit))

        async def undo() -> None:
            await self._store.update(room, lambda s: _unseat(s, viewer, hand))

        shown = await self._present_or_undo(room, viewer, Presence(Role.GUEST), undo)
        name = shown.name or viewer
        await self._announce(room, EventType.GUEST_PROMOTED, sender=caller.identity, target=(viewer, name))
        return pb.InviteGuestResponse(
            token=self._stage.mint_token(room, viewer, name, Presence(Role.GUEST)),
            ws_url=self._stage.ws_url,
            message=f"{viewer} has been promoted to guest",
        )

    async def demote_guest(self, request: pb.DemoteGuestRequest, caller: Caller) -> pb.DemoteGuestResponse:
        room, guest = request.room_name, request.guest_identity
        if not room or not guest or not request.host_identity:
            raise errors.invalid(errors.GUEST_FIELDS_REQUIRED)
        self._acting_as(caller, request.host_identity)
        await self._existing_room(room)
        seat = await self._store.update(
            room, lambda s: s.unseat_guest(caller.identity, guest, errors.ONLY_HOST_DEMOTES)
        )

        async def undo() -> None:
            await self._store.update(room, lambda s: s.guests.append(seat))

        shown = await self._present_or_undo(room, guest, Presence(Role.VIEWER), undo, required=False)
        name = shown.name if shown else seat.name
        await self._announce(room, EventType.GUEST_DEMOTED, sender=caller.identity, target=(guest, name))
        return pb.DemoteGuestResponse(
            token=self._stage.mint_token(room, guest, name, Presence(Role.VIEWER)),
            ws_url=self._stage.ws_url,
            message=f"{guest} has been demoted to viewer",
        )

    async def remove_guest(self, request: pb.RemoveGuestRequest, caller: Caller) -> pb.RemoveGuestResponse:
        room, guest = request.room_name, request.guest_identity
        if not room or not guest or not request.host_identity:
            raise errors.invalid(errors.GUEST_FIELDS_REQUIRED)
        self._acting_as(caller, request.host_identity)
        await self._existing_room(room)
        seat = await self._store.update(
            room, lambda s: s.unseat_guest(caller.identity, guest, errors.ONLY_HOST_REMOVES)
        )
        try:
            await self._stage.remove_participant(room, guest)
        except errors.ShowError:
            await self._store.update(room, lambda s: s.guests.append(seat))
            raise
        await self._announce(room, EventType.GUEST_DEMOTED, sender=caller.identity, target=(guest, seat.name))
        return pb.RemoveGuestResponse(message=f"{guest} has been removed from the room")

    async def set_hand_raised(
        self, request: pb.SetHandRaisedRequest, caller: Caller
    ) -> pb.SetHandRaisedResponse:
        room, identity = request.room_name, request.participant_identity
        if not room or not identity or not request.HasField("raised"):
            raise errors.invalid(errors.HAND_FIELDS_REQUIRED)
        self._acting_as(caller, identity)
        await self._existing_room(room)
        raised, now = request.raised, self._clock.now()
        before = await self._store.update(room, lambda s: _set_hand(s, identity, raised, now))

        async def undo() -> None:
            await self._store.update(room, lambda s: _restore_hand(s, identity, before))

        shown = await self._present_or_undo(room, identity, Presence(Role.VIEWER, hand_raised=raised), undo)
        if (before is not None) != raised:
            kind = EventType.HAND_RAISE if raised else EventType.HAND_LOWER
            await self._announce(room, kind, sender=(identity, shown.name or identity))
        return pb.SetHandRaisedResponse(hand_raised=raised)

    # --- helpers -------------------------------------------------------------------------

    def _acting_as(self, caller: Caller, named: str) -> None:
        """A request that names its acting participant must come from that participant."""
        if caller.identity != named:
            raise errors.denied(f"{named} is not the caller")

    async def _existing_room(self, room: str) -> lk.Room:
        if not room:
            raise errors.invalid(errors.ROOM_NAME_REQUIRED)
        found = await self._stage.find_room(room)
        if found is None:
            raise errors.not_found(errors.ROOM_NOT_FOUND)
        return found

    async def _present_or_undo(
        self,
        room: str,
        identity: str,
        presence: Presence,
        undo: Callable[[], Awaitable[None]],
        *,
        required: bool = True,
    ) -> Any:
        """Applies `presence` on LiveKit; if LiveKit refuses, undoes the store change and re-raises.
        A participant who is not connected is a refusal only when `required`."""
        try:
            shown = await self._stage.present(room, identity, presence)
        except errors.ShowError:
            await undo()
            raise
        if shown is None and required:
            await undo()
            raise errors.not_found(errors.PARTICIPANT_NOT_FOUND)
        return shown

    async def _announce(
        self,
        room: str,
        kind: EventType,
        *,
        sender: str | tuple[str, str] | None,
        target: tuple[str, str] = ("", ""),
    ) -> None:
        """Broadcasts a ShowEvent. Best effort: the change it reports has already happened, and
        participants also see it in LiveKit's attributes, so a lost event fails no request."""
        sender_id, sender_name = sender if isinstance(sender, tuple) else (sender or "", sender or "")
        event = show_event(
            kind,
            sender_id=sender_id,
            sender_name=sender_name,
            at=self._clock.now(),
            target_id=target[0],
            target_name=target[1],
        )
        try:
            await self._stage.broadcast(room, encode(event))
        except errors.ShowError as exc:
            log.warning("could not broadcast %s in %s: %s", kind, room, exc.message)

    def _room(self, room: lk.Room, state: ShowState) -> pb.Room:
        return pb.Room(
            name=room.name,
            sid=room.sid,
            num_participants=room.num_participants,
            creation_time=room.creation_time,
            has_host=state.host is not None,
            has_guest=bool(state.guests),
        )

    def _participant(self, p: lk.ParticipantInfo, state: ShowState) -> pb.Participant:
        return pb.Participant(
            sid=p.sid,
            identity=p.identity,
            name=p.name,
            metadata=p.metadata,
            joined_at=p.joined_at,
            role=state.role_of(p.identity).wire,
            hand_raised=p.identity in state.hands,
            permission=p.permission,
        )


def _seat(state: ShowState, caller: str | None, viewer: str, now: float, limit: int) -> float | None:
    """Seats the viewer; returns when their hand went up (None if it was down), for undo."""
    hand = state.hands.get(viewer)
    state.seat_guest(caller, viewer, viewer, now, limit)
    return hand


def _unseat(state: ShowState, viewer: str, hand: float | None) -> None:
    state.guests = [g for g in state.guests if g.identity != viewer]
    _restore_hand(state, viewer, hand)


def _set_hand(state: ShowState, identity: str, raised: bool, now: float) -> float | None:
    before = state.hands.get(identity)
    state.set_hand(identity, raised, now)
    return before


def _restore_hand(state: ShowState, identity: str, before: float | None) -> None:
    if before is None:
        state.hands.pop(identity, None)
    else:
        state.hands[identity] = before


# RPC name -> core operation, for the doors.
Operation = Callable[[ShowCore, Any, Caller], Awaitable[Message]]
OPERATIONS: dict[str, Operation] = {
    "JoinRoom": ShowCore.join_room,
    "ListRooms": ShowCore.list_rooms,
    "GetRoom": ShowCore.get_room,
    "DeleteRoom": ShowCore.delete_room,
    "ListParticipants": ShowCore.list_participants,
    "RemoveParticipant": ShowCore.remove_participant,
    "InviteGuest": ShowCore.invite_guest,
    "DemoteGuest": ShowCore.demote_guest,
    "RemoveGuest": ShowCore.remove_guest,
    "SetHandRaised": ShowCore.set_hand_raised,
}
