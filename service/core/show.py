"""The show's rules, held once: ShowCore implements the contract's ShowService (the typed seam
generated into gen/showrunner/v1/show_service_seam.py), one async method per RPC.

Each method takes the contract's request message and the verified Caller, and returns the
contract's response message or raises ShowError. Who may call it, and how often, is not decided
here: the interceptor chain (service/interceptors) enforces each RPC's declared policy before the
method runs. A method holds the show's rules only. A change that needs both the store and LiveKit is made in
the store first (where the rules are checked atomically) and undone there if LiveKit refuses,
so a refused request leaves no trace.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from livekit.protocol import models as lk
from livekit.protocol import webhook as lk_webhook
from showrunner.v1 import show_service_pb2 as pb
from showrunner.v1.show_service_seam import ShowService

from service.core import errors, validate
from service.core.caller import Caller
from service.core.clock import Clock
from service.core.events import EventType, encode, show_event
from service.core.limits import RatePolicy
from service.core.ports import Presence, ShowObserver, Stage, Store, Unobserved
from service.core.roles import GRANTS, Role
from service.core.state import EGRESS_ABORTED, EGRESS_ACTIVE, EGRESS_ENDING, Recording, Seat, ShowState, Standing

log = logging.getLogger("showrunner.core")


@dataclass(frozen=True)
class ShowRules:
    """Settings of the rules that operators may tune."""

    guest_limit: int = 1  # default guests on stage at once; each room may change it
    invitation_seconds: float = 60.0  # how long a host's invitation waits for an answer
    host_claim_seconds: float = 60.0  # how long a host who never connects blocks the room
    rates: RatePolicy = field(default_factory=RatePolicy)


class ShowCore(ShowService[Caller]):
    def __init__(
        self,
        stage: Stage,
        store: Store,
        clock: Clock,
        rules: ShowRules | None = None,
        observer: ShowObserver | None = None,
    ) -> None:
        self._stage = stage
        self._store = store
        self._clock = clock
        self._rules = rules or ShowRules()
        self._observer = observer or Unobserved()

    # --- LiveKit's webhooks --------------------------------------------------------------

    async def receive_webhook(self, body: bytes) -> str:
        """Applies a LiveKit webhook whose signature the chain has verified; returns the event name."""
        try:
            event = json_format.Parse(body, lk_webhook.WebhookEvent(), ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError, ValueError) as exc:
            self._observer.webhook("unknown", "rejected")
            raise errors.invalid("webhook body is not a LiveKit WebhookEvent") from exc
        applied = await self._apply(event)
        self._observer.webhook(event.event or "unknown", "applied" if applied else "ignored")
        return event.event

    async def _apply(self, event: lk_webhook.WebhookEvent) -> bool:
        """Makes the show's state agree with what LiveKit reports; True if the event concerned
        something the show holds (a seat, a room, a recording), False if it was not ours."""
        room, who = event.room.name, event.participant
        if event.event.startswith("egress_") and event.egress_info.egress_id:
            return await self._recording_progress(event)
        if not room:
            return False
        if event.event == "room_finished":
            await self._store.delete(room)
            return True
        if event.event == "participant_joined" and who.identity:
            seated = bool(await self._store.update(room, lambda s: s.connected(who.identity, who.sid)))
            await self._reconcile(room, who)
            return seated
        if event.event == "participant_left" and who.identity:
            at = float(event.created_at or self._clock.now())
            freed = await self._store.update(room, lambda s: s.left(who.identity, who.sid, at))
            sender = (who.identity, who.name or who.identity)
            if freed is Role.HOST:
                await self._announce(room, EventType.HOST_LEFT, sender=sender)
            elif freed is Role.GUEST:
                self._observer.demoted("left")
                await self._announce(room, EventType.GUEST_DEMOTED, sender=sender, target=sender)
            return freed is not None
        return False

    async def _reconcile(self, room: str, who: lk.ParticipantInfo) -> None:
        """A token outlives a role: a demoted guest (or a replaced host) could reconnect with the
        token it had, and LiveKit would grant what that token says. The show's state decides, so
        a newcomer whose permission exceeds its role is brought back to it at once."""
        if "role" not in who.attributes or who.kind != lk.ParticipantInfo.Kind.STANDARD:
            return  # not someone who joined with a Showrunner token (an agent, a recorder, ...)
        state = await self._store.load(room)
        role = state.role_of(who.identity)
        exceeds = who.permission.can_publish and not GRANTS[role].can_publish
        if exceeds or who.attributes["role"] != role.value:
            presence = Presence(role, hand_raised=who.identity in state.hands)
            try:
                await self._stage.present(room, who.identity, presence)
            except errors.ShowError as exc:
                log.warning("could not bring %s in %s back to %s: %s", who.identity, room, role, exc.message)

    async def _recording_progress(self, event: lk_webhook.WebhookEvent) -> bool:
        info = event.egress_info
        room = info.room_name or event.room.name
        if not room:
            return False
        ended = info.ended_at or info.updated_at
        at = ended / 1e9 if ended else self._clock.now()
        location = next((f.location or f.filename for f in info.file_results if f.location or f.filename), "")
        change = await self._store.update(
            room, lambda s: s.record_progress(info.egress_id, int(info.status), at, info.error, location)
        )
        if change is None:
            return False
        before, after = change
        if before < EGRESS_ACTIVE == after:
            await self._announce(room, EventType.RECORDING_STARTED, sender=None, recording_id=info.egress_id)
        elif before <= EGRESS_ENDING < after:  # it just reached an end: complete, failed or aborted
            await self._announce(room, EventType.RECORDING_STOPPED, sender=None, recording_id=info.egress_id)
        return True

    # --- joining -------------------------------------------------------------------------

    async def join_room(self, request: pb.JoinRoomRequest, caller: Caller) -> pb.JoinRoomResponse:
        room, identity = request.room_name, request.participant_name
        if not room or not identity:
            raise errors.invalid(errors.JOIN_FIELDS_REQUIRED)
        validate.room_name(room)
        validate.identity(identity, "participantName")
        name = validate.display_name(request.display_name) or identity
        wanted = Role.from_wire(request.role)
        if wanted not in (Role.HOST, Role.VIEWER):
            raise errors.invalid(errors.ROLE_REQUIRED)

        if wanted is Role.HOST:
            await self._claim_host(room, identity, name, caller)
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

    async def _claim_host(self, room: str, identity: str, name: str, caller: Caller) -> None:
        state = await self._store.load(room)
        refreshing = caller.room == room and caller.identity == identity and state.role_of(identity) is Role.HOST
        if not caller.admin_of(room) and not refreshing:
            if caller.anonymous:
                raise errors.unauthenticated(errors.MISSING_TOKEN)
            raise errors.denied(errors.HOST_JOIN_NEEDS_ADMIN)
        now, stale_after = self._clock.now(), self._rules.host_claim_seconds
        if state.host and state.host.identity != identity and state.host_is_stale(now, stale_after):
            # The claim looks abandoned; make sure with LiveKit before letting it go.
            present = await self._stage.find_participant(room, state.host.identity)
            if present is not None:
                await self._store.update(room, lambda s: s.connected(present.identity, present.sid))
        newly = await self._store.update(room, lambda s: s.claim_host(identity, name, now, stale_after))
        try:
            await self._stage.open_room(room)
        except errors.ShowError:
            if newly:
                await self._store.update(room, lambda s: s.forget(identity))
            raise

    # --- rooms ---------------------------------------------------------------------------

    async def list_rooms(self, request: pb.ListRoomsRequest, caller: Caller) -> pb.ListRoomsResponse:
        rooms = await self._stage.list_rooms()
        return pb.ListRoomsResponse(rooms=[self._room(r, await self._store.load(r.name)) for r in rooms])

    async def get_room(self, request: pb.GetRoomRequest, caller: Caller) -> pb.GetRoomResponse:
        room = await self._room_for(request.room_name)
        return pb.GetRoomResponse(room=self._room(room, await self._store.load(room.name)))

    async def delete_room(self, request: pb.DeleteRoomRequest, caller: Caller) -> pb.DeleteRoomResponse:
        room = self._room_name(request.room_name)
        state = await self._store.load(room)
        closed = await self._stage.close_room(room)
        if not closed and state.is_empty:
            raise errors.not_found(errors.ROOM_NOT_FOUND)
        await self._store.delete(room)
        return pb.DeleteRoomResponse()

    async def update_room_settings(
        self, request: pb.UpdateRoomSettingsRequest, caller: Caller
    ) -> pb.UpdateRoomSettingsResponse:
        room = self._room_name(request.room_name)
        if not request.HasField("guest_limit"):
            raise errors.invalid(errors.GUEST_LIMIT_REQUIRED)
        limit = request.guest_limit
        if not 1 <= limit <= 16:
            raise errors.invalid(f"guestLimit must be between 1 and 16, got {limit}")
        await self._hosted(room)

        def change(state: ShowState) -> None:
            self._require_host(caller, room, state, errors.ONLY_HOST_CHANGES_SETTINGS)
            state.set_guest_limit(limit)

        await self._store.update(room, change)
        return pb.UpdateRoomSettingsResponse(guest_limit=limit)

    # --- participants --------------------------------------------------------------------

    async def list_participants(
        self, request: pb.ListParticipantsRequest, caller: Caller
    ) -> pb.ListParticipantsResponse:
        room = await self._room_for(request.room_name)
        participants = await self._stage.list_participants(room.name)
        state = await self._store.load(room.name)
        return pb.ListParticipantsResponse(participants=[self._participant(p, state) for p in participants])

    async def remove_participant(
        self, request: pb.RemoveParticipantRequest, caller: Caller
    ) -> pb.RemoveParticipantResponse:
        room, identity = request.room_name, request.identity
        if not room or not identity:
            raise errors.invalid(errors.REMOVE_FIELDS_REQUIRED)
        self._room_name(room)
        validate.identity(identity, "identity")
        await self._hosted(room)
        if not await self._stage.remove_participant(room, identity):
            raise errors.not_found(errors.PARTICIPANT_NOT_FOUND)
        role = await self._store.update(room, lambda s: s.forget(identity))
        if role is Role.GUEST:
            self._observer.demoted("removed")
            await self._announce(room, EventType.GUEST_DEMOTED, sender=caller.identity, target=(identity, identity))
        return pb.RemoveParticipantResponse()

    # --- the stage -----------------------------------------------------------------------

    async def invite_guest(self, request: pb.InviteGuestRequest, caller: Caller) -> pb.InviteGuestResponse:
        room, viewer, host = request.room_name, request.viewer_identity, request.host_identity
        if not room or not viewer or not host:
            raise errors.invalid(errors.INVITE_FIELDS_REQUIRED)
        self._room_name(room)
        validate.identity(viewer, "viewerIdentity")
        acting = host  # the chain has shown the caller may act for the host it names
        await self._room_for(room)
        if await self._stage.find_participant(room, viewer) is None:
            raise errors.not_found(errors.PARTICIPANT_NOT_FOUND)
        now, ttl, limit = self._clock.now(), self._rules.invitation_seconds, self._rules.guest_limit

        def change(state: ShowState) -> tuple[bool, Standing]:
            before = state.standing(viewer)
            self._require_host(Caller(acting, room), room, state, errors.ONLY_HOST_PROMOTES)
            return state.invite(viewer, now, ttl, limit), before

        promoted, before = await self._store.update(room, change)
        if not promoted:
            expires = now + ttl
            await self._announce(
                room,
                EventType.GUEST_INVITE,
                sender=acting,
                target=(viewer, viewer),
                to=[viewer],
                expires_at=expires,
            )
            return pb.InviteGuestResponse(
                ws_url=self._stage.ws_url,
                message=f"{viewer} has been invited to the stage",
                expires_at=round(expires * 1000),
            )
        token = await self._go_on_stage(room, viewer, before, promoter=acting)
        return pb.InviteGuestResponse(
            token=token,
            ws_url=self._stage.ws_url,
            message=f"{viewer} has been promoted to guest",
            promoted=True,
        )

    async def accept_invitation(
        self, request: pb.AcceptInvitationRequest, caller: Caller
    ) -> pb.AcceptInvitationResponse:
        room, viewer = self._invitation_fields(request.room_name, request.viewer_identity)
        await self._room_for(room)
        now, limit = self._clock.now(), self._rules.guest_limit

        def change(state: ShowState) -> tuple[Standing, str | None]:
            before = state.standing(viewer)
            state.accept(viewer, now, limit)
            return before, state.host.identity if state.host else None

        before, host = await self._store.update(room, change)
        await self._announce(
            room, EventType.GUEST_INVITE_RESPONSE, sender=viewer, accepted=True, to=[host] if host else []
        )
        token = await self._go_on_stage(room, viewer, before, promoter=host)
        return pb.AcceptInvitationResponse(
            token=token, ws_url=self._stage.ws_url, message=f"{viewer} has been promoted to guest"
        )

    async def decline_invitation(
        self, request: pb.DeclineInvitationRequest, caller: Caller
    ) -> pb.DeclineInvitationResponse:
        room, viewer = self._invitation_fields(request.room_name, request.viewer_identity)
        await self._room_for(room)
        now = self._clock.now()

        def change(state: ShowState) -> str | None:
            state.decline(viewer, now)
            return state.host.identity if state.host else None

        host = await self._store.update(room, change)
        await self._announce(
            room, EventType.GUEST_INVITE_RESPONSE, sender=viewer, accepted=False, to=[host] if host else []
        )
        return pb.DeclineInvitationResponse(message=f"{viewer} has declined the invitation")

    async def demote_guest(self, request: pb.DemoteGuestRequest, caller: Caller) -> pb.DemoteGuestResponse:
        room, guest, acting = await self._host_on_guest(request)
        seat = await self._store.update(room, self._unseat_by_host(acting, room, guest, errors.ONLY_HOST_DEMOTES))
        token, name = await self._leave_stage(room, seat)
        self._observer.demoted("demoted")
        await self._announce(room, EventType.GUEST_DEMOTED, sender=acting, target=(guest, name))
        return pb.DemoteGuestResponse(
            token=token, ws_url=self._stage.ws_url, message=f"{guest} has been demoted to viewer"
        )

    async def step_down(self, request: pb.StepDownRequest, caller: Caller) -> pb.StepDownResponse:
        room, guest = request.room_name, request.guest_identity
        if not room or not guest:
            raise errors.invalid(errors.STEP_DOWN_FIELDS_REQUIRED)
        self._room_name(room)
        validate.identity(guest, "guestIdentity")
        await self._room_for(room)
        seat = await self._store.update(room, lambda s: s.unseat_guest(guest))
        token, name = await self._leave_stage(room, seat)
        self._observer.demoted("stepped_down")
        await self._announce(room, EventType.GUEST_DEMOTED, sender=(guest, name), target=(guest, name))
        return pb.StepDownResponse(token=token, ws_url=self._stage.ws_url, message=f"{guest} has stepped down")

    async def remove_guest(self, request: pb.RemoveGuestRequest, caller: Caller) -> pb.RemoveGuestResponse:
        room, guest, acting = await self._host_on_guest(request)
        seat = await self._store.update(room, self._unseat_by_host(acting, room, guest, errors.ONLY_HOST_REMOVES))
        try:
            await self._stage.remove_participant(room, guest)
        except errors.ShowError:
            await self._store.update(room, lambda s: s.guests.append(seat))
            raise
        self._observer.demoted("removed")
        await self._announce(room, EventType.GUEST_DEMOTED, sender=acting, target=(guest, seat.name))
        return pb.RemoveGuestResponse(message=f"{guest} has been removed from the room")

    async def set_hand_raised(self, request: pb.SetHandRaisedRequest, caller: Caller) -> pb.SetHandRaisedResponse:
        room, identity = request.room_name, request.participant_identity
        if not room or not identity or not request.HasField("raised"):
            raise errors.invalid(errors.HAND_FIELDS_REQUIRED)
        self._room_name(room)
        validate.identity(identity, "participantIdentity")
        await self._room_for(room)
        raised, now, limit = request.raised, self._clock.now(), self._rules.guest_limit

        def change(state: ShowState) -> tuple[bool, Standing, str | None]:
            before = state.standing(identity)
            promoted = state.set_hand(identity, raised, now, limit)
            return promoted, before, state.host.identity if state.host else None

        promoted, before, host = await self._store.update(room, change)
        if promoted:
            token = await self._go_on_stage(room, identity, before, promoter=host)
            return pb.SetHandRaisedResponse(hand_raised=False, promoted=True, token=token, ws_url=self._stage.ws_url)

        async def undo() -> None:
            await self._store.update(room, lambda s: s.restore(identity, before))

        shown = await self._present_or_undo(room, identity, Presence(Role.VIEWER, hand_raised=raised), undo)
        if (before.hand is not None) != raised:
            kind = EventType.HAND_RAISE if raised else EventType.HAND_LOWER
            await self._announce(room, kind, sender=(identity, shown.name or identity))
        return pb.SetHandRaisedResponse(hand_raised=raised)

    async def list_raised_hands(self, request: pb.ListRaisedHandsRequest, caller: Caller) -> pb.ListRaisedHandsResponse:
        room = request.room_name
        state = await self._hosted(room)
        now = self._clock.now()
        return pb.ListRaisedHandsResponse(
            hands=[
                pb.RaisedHand(identity=who, raised_at=round(at * 1000), invited=state.invited(who, now))
                for who, at in state.hands.items()
            ]
        )

    # --- recordings ----------------------------------------------------------------------

    async def start_recording(self, request: pb.StartRecordingRequest, caller: Caller) -> pb.StartRecordingResponse:
        room = self._room_name(request.room_name)
        layout = _LAYOUTS.get(request.layout)
        if layout is None:
            raise errors.invalid('layout must be "speaker" or "grid"')
        await self._hosted(room)
        placeholder, now = f"pending-{uuid.uuid4().hex}", self._clock.now()
        await self._store.update(room, lambda s: s.reserve_recording(placeholder, layout, now))
        try:
            info = await self._stage.start_recording(room, layout)
        except errors.ShowError:
            await self._store.update(room, lambda s: s.drop_recording(placeholder))
            raise
        location = self._stage.recording_location(room)
        await self._store.update(
            room, lambda s: s.settle_recording(placeholder, info.egress_id, int(info.status), location)
        )
        started = (await self._store.load(room)).recording(info.egress_id)
        return pb.StartRecordingResponse(recording=self._recording(room, started))

    async def stop_recording(self, request: pb.StopRecordingRequest, caller: Caller) -> pb.StopRecordingResponse:
        room = request.room_name
        state = await self._hosted(room)
        active = state.active_recording()
        if active is None:
            raise errors.not_found("No active recording in this room")
        if active.id.startswith("pending-"):
            raise errors.precondition("The recording is still starting; stop it once it has started")
        info = await self._stage.stop_recording(active.id)
        status, now = (int(info.status) if info else EGRESS_ABORTED), self._clock.now()
        await self._store.update(room, lambda s: s.record_progress(active.id, status, now, "", ""))
        stopped = (await self._store.load(room)).recording(active.id)
        return pb.StopRecordingResponse(recording=self._recording(room, stopped))

    async def list_recordings(self, request: pb.ListRecordingsRequest, caller: Caller) -> pb.ListRecordingsResponse:
        room = request.room_name
        state = await self._hosted(room)
        return pb.ListRecordingsResponse(recordings=[self._recording(room, r) for r in reversed(state.recordings)])

    def _recording(self, room: str, recording: Recording | None) -> pb.Recording:
        if recording is None:
            return pb.Recording(room_name=room)
        return pb.Recording(
            recording_id=recording.id,
            room_name=room,
            layout=_WIRE_LAYOUTS[recording.layout],
            status=recording.status,
            started_at=round(recording.started_at * 1000),
            ended_at=round(recording.ended_at * 1000),
            location=recording.location,
            error=recording.error,
        )

    # --- going on and off stage ----------------------------------------------------------

    async def _go_on_stage(self, room: str, viewer: str, before: Standing, promoter: str | None) -> str:
        """The viewer holds a seat in the store; make it so on LiveKit, or give the seat back."""

        async def undo() -> None:
            await self._store.update(room, lambda s: s.restore(viewer, before))

        shown = await self._present_or_undo(room, viewer, Presence(Role.GUEST), undo)
        name = shown.name or viewer
        self._observer.promoted()
        await self._announce(room, EventType.GUEST_PROMOTED, sender=promoter, target=(viewer, name))
        return self._stage.mint_token(room, viewer, name, Presence(Role.GUEST))

    async def _leave_stage(self, room: str, seat: Seat) -> tuple[str, str]:
        """The guest gave up its seat in the store; make it so on LiveKit (if still connected)."""

        async def undo() -> None:
            await self._store.update(room, lambda s: s.guests.append(seat))

        shown = await self._present_or_undo(room, seat.identity, Presence(Role.VIEWER), undo, required=False)
        name = shown.name if shown else seat.name
        return self._stage.mint_token(room, seat.identity, name, Presence(Role.VIEWER)), name

    def _unseat_by_host(self, acting: str, room: str, guest: str, refusal: str) -> Callable[[ShowState], Seat]:
        def change(state: ShowState) -> Seat:
            self._require_host(Caller(acting, room), room, state, refusal)
            return state.unseat_guest(guest)

        return change

    # --- helpers -------------------------------------------------------------------------

    def _room_name(self, room: str) -> str:
        if not room:
            raise errors.invalid(errors.ROOM_NAME_REQUIRED)
        return validate.room_name(room)

    async def _host_on_guest(self, request: pb.DemoteGuestRequest | pb.RemoveGuestRequest) -> tuple[str, str, str]:
        """The checks the host's actions on a guest share: room, guest, and who acts."""
        room, guest = request.room_name, request.guest_identity
        if not room or not guest or not request.host_identity:
            raise errors.invalid(errors.GUEST_FIELDS_REQUIRED)
        self._room_name(room)
        validate.identity(guest, "guestIdentity")
        await self._room_for(room)
        return room, guest, request.host_identity

    def _invitation_fields(self, room: str, viewer: str) -> tuple[str, str]:
        if not room or not viewer:
            raise errors.invalid(errors.INVITATION_FIELDS_REQUIRED if room else errors.ROOM_NAME_REQUIRED)
        self._room_name(room)
        validate.identity(viewer, "viewerIdentity")
        return room, viewer

    async def _hosted(self, room: str) -> ShowState:
        """For the host's own operations (the chain has shown the caller to be its host or
        admin): the room's state, once the room is shown to exist on LiveKit."""
        state = await self._store.load(self._room_name(room))
        await self._room_for(room)
        return state

    def _require_host(self, caller: Caller, room: str, state: ShowState, refusal: str) -> None:
        """The room's admin, or the participant who holds its host slot. The chain checked this
        before the call; a change checks it again with the state it changes, atomically, because
        the host slot may have changed hands in between."""
        caller.require_member(room)
        if caller.admin_of(room):
            return
        if state.host is None or caller.identity != state.host.identity:
            raise errors.denied(refusal)

    async def _room_for(self, room: str) -> lk.Room:
        """The LiveKit room (the chain has shown the caller to belong to it)."""
        self._room_name(room)
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
        to: Sequence[str] = (),
        accepted: bool | None = None,
        expires_at: float = 0.0,
        recording_id: str = "",
    ) -> None:
        """Broadcasts a ShowEvent (or sends it to `to` only). Best effort: the change it reports
        has already happened and shows in LiveKit's attributes, so a lost event fails no request."""
        sender_id, sender_name = sender if isinstance(sender, tuple) else (sender or "", sender or "")
        event = show_event(
            kind,
            sender_id=sender_id,
            sender_name=sender_name,
            at=self._clock.now(),
            target_id=target[0],
            target_name=target[1],
        )
        if accepted is not None:
            event.accepted = accepted
        if expires_at:
            event.expires_at = float(round(expires_at * 1000))
        event.recording_id = recording_id
        try:
            await self._stage.broadcast(room, encode(event), to)
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
            guest_limit=state.limit(self._rules.guest_limit),
            guests=[g.identity for g in state.guests],
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


_LAYOUTS = {pb.RECORDING_LAYOUT_SPEAKER: "speaker", pb.RECORDING_LAYOUT_GRID: "grid"}
_WIRE_LAYOUTS = {name: wire for wire, name in _LAYOUTS.items()}
