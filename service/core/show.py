"""The show's rules, held once: ShowCore implements the contract's ShowService (the typed seam
generated into gen/showrunner/v1/show_service_seam.py), one async method per RPC.

Each method takes the contract's request message and the verified Caller, and returns the
contract's response message or raises ShowError. Who may call it, and how often, is not decided
here: the interceptor chain (service/interceptors) enforces each RPC's declared policy before the
method runs. A method holds the show's rules only.

The show's record (service/core/record.py) decides each rule in one atomic step that touches only
what it changes, so an operation costs the same whatever the audience. A change that needs both
the record and LiveKit is written to the record first, with the LiveKit change it still owes
recorded as pending; it is confirmed once LiveKit has made it, undone if LiveKit refuses, and
completed by the reconciler if this instance dies in between. A call that finds its change
overtaken by a newer one once LiveKit has made it brings the participant to the newer one (calls
can land on LiveKit in the other order than the record decided them). A refused request leaves
no trace.
"""

from __future__ import annotations

import asyncio
import json
import logging
import operator
import os
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from google.protobuf import json_format
from livekit.protocol import egress as lk_egress
from livekit.protocol import models as lk
from livekit.protocol import webhook as lk_webhook
from showrunner.v1 import show_event_pb2
from showrunner.v1 import show_service_pb2 as pb
from showrunner.v1.show_service_seam import ShowService

from service.core import errors, history, validate
from service.core.caller import Caller, holds
from service.core.clock import Clock
from service.core.events import ANNOUNCED_HISTORY, EventType, encode, show_event
from service.core.limits import RatePolicy
from service.core.pages import Listing, PageTokens
from service.core.ports import (
    SOURCE_WORDS,
    Presence,
    ShowObserver,
    Stage,
    Unobserved,
    sources_agree,
)
from service.core.reconciler import Leases, MemoryLeases, Reconciler, ReconcileRules
from service.core.record import (
    EGRESS_ABORTED,
    EGRESS_ACTIVE,
    EGRESS_ENDING,
    PLACEHOLDER_PREFIX,
    Admission,
    EgressKind,
    HistoryEntry,
    Lifecycle,
    PendingChange,
    Phase,
    Place,
    Recording,
    Refusal,
    Seat,
    ShowRecords,
    StageChange,
    StageRecord,
    Standing,
    Verdict,
    connection_of,
    created_ms,
    ms,
    new_change_id,
    refusal,
)
from service.core.roles import GRANTS, Role

log = logging.getLogger("showrunner.core")

# The RPCs whose answer is handed out again, the same message object, for as long as what it
# says holds (see SharedAnswers). An answer is never changed once handed out, so a door may keep
# what it wrote of one by its identity (doors/edges.py's Written).
SHARED_ANSWERS = frozenset({"GetRoom", "ListParticipants"})

A = TypeVar("A")


class SharedAnswers(Generic[A]):
    """One read RPC's last answer for each room, with the objects it was made from. The room
    cache hands out the same room and the same participants, and the store the same record
    (recent_stage), until something about them changes; while a read finds the same objects, it
    hands out the same answer, so a show's audience polling its room shares one answer (and the
    doors the bytes they wrote of it). Past `keep` rooms, all are forgotten at once."""

    def __init__(self, keep: int = 10_000) -> None:
        self._keep = keep
        self._kept: dict[str, tuple[tuple[object, ...], A]] = {}

    def get(self, room: str, sources: tuple[object, ...]) -> A | None:
        kept = self._kept.get(room)
        if kept is not None and all(map(operator.is_, kept[0], sources)):
            return kept[1]
        return None

    def keep(self, room: str, sources: tuple[object, ...], answer: A) -> A:
        if len(self._kept) >= self._keep:
            self._kept.clear()
        self._kept[room] = (sources, answer)
        return answer


@dataclass(frozen=True)
class ShowRules:
    """Settings of the rules that operators may tune."""

    guest_limit: int = 1  # default guests on stage at once; each room may change it
    invitation_seconds: float = 60.0  # how long a host's invitation waits for an answer
    host_claim_seconds: float = 60.0  # how long a host who never connects blocks the room
    reconnect_grace_seconds: float = 30.0  # a host or guest who drops keeps the seat this long
    opens: Phase = Phase.BACKSTAGE  # the phase a host's first join opens a show in
    ended_keep_seconds: float = 6 * 3600.0  # how long an ended show stays readable and locked
    rates: RatePolicy = field(default_factory=RatePolicy)


class ShowCore(ShowService[Caller]):
    def __init__(
        self,
        stage: Stage,
        records: ShowRecords,
        clock: Clock,
        rules: ShowRules | None = None,
        observer: ShowObserver | None = None,
        leases: Leases | None = None,
        reconcile: ReconcileRules | None = None,
        *,
        page_tokens: PageTokens,
    ) -> None:
        self._stage = stage
        self._pages = page_tokens
        self._records = records
        self._clock = clock
        self._rules = rules or ShowRules()
        self._observer = observer or Unobserved()
        self._room_answers: SharedAnswers[pb.GetRoomResponse] = SharedAnswers()
        self._participant_answers: SharedAnswers[pb.ListParticipantsResponse] = SharedAnswers()
        # Egress starts that outlive their caller (_begin_egress), until they have settled.
        self._beginning: set[asyncio.Future[lk_egress.EgressInfo]] = set()
        self.reconciler = Reconciler(
            records,
            stage,
            clock,
            leases or MemoryLeases(clock),
            self,
            reconcile
            or ReconcileRules(
                grace_seconds=self._rules.reconnect_grace_seconds,
                host_claim_seconds=self._rules.host_claim_seconds,
                guest_limit=self._rules.guest_limit,
            ),
        )

    # --- what the reconciler reports (its ReconcileListener) -----------------------------------

    async def seat_freed(self, room: str, seat: Seat, role: Role) -> None:
        """A seat freed because its holder's connection ended (`seat`: the one freed). A guest's
        is told through `_tell`, as every change of a guest's place is: should the guest be back
        on stage in a newer seat by the time this tells (the free's instance was slow), the room,
        which heard that promotion, does not hear the older seat's end after it."""
        sender = (seat.identity, seat.name or seat.identity)
        # Nobody did it: the service saw the connection end (the history's actor is empty).
        if role is Role.HOST:
            await self._announce(room, EventType.HOST_LEFT, sender=sender, actor="")
        elif role is Role.GUEST:
            self._observer.demoted("left")
            news = _StageNews(EventType.GUEST_DEMOTED, sender, sender, "left", actor="")
            await self._tell(room, seat.identity, Role.VIEWER, news, ended=seat.since)

    async def hand_lowered(self, room: str, identity: str, name: str = "") -> None:
        """A hand lowered without its owner's call (its owner left, heard or not, and did not
        come back within the grace window): the host and the moderators hear hand_lower, as they
        would of a hand lowered by its owner, and so does the owner, should a page of its be
        back in the room just now."""
        to = [*await self._managers_of(room), identity]
        await self._announce(room, EventType.HAND_LOWER, sender=(identity, name or identity), to=to)

    async def egress_moved(self, room: str, info: lk_egress.EgressInfo) -> bool:
        return await self._egress_progress(room, info)

    async def stream_redirected(self, room: str, stream: Recording, destinations: tuple[str, ...]) -> bool:
        """The reconciler found a running stream sending to other destinations than the record
        names (an UpdateStream's instance died between the two, or its LiveKit call failed after
        LiveKit had made it): the record follows LiveKit, and the host and the moderators hear
        a stream_updated from nobody, for "reconciled", as the history keeps it."""
        now = self._clock.now()
        if not await self._records.set_destinations(room, stream.id, destinations, now, read=stream):
            return False
        await self._remember(
            room, EventType.STREAM_UPDATED, actor="", reason=_FINISHED, egress_id=stream.id, destinations=destinations
        )
        # The stream as just written: its destinations are all the event names of it.
        redirected = replace(stream, destinations=destinations)
        await self._tell_stream(room, EventType.STREAM_UPDATED, redirected, sender="", reason=_FINISHED)
        return True

    async def change_finished(self, room: str, pending: PendingChange, name: str) -> None:
        """A guest's promotion, demotion or removal, or a moderator's dismissal, that the
        reconciler finished past its deadline (its call's instance died before confirming it, or
        its LiveKit call is still held up): the room hears it through `_tell`, as the call would
        have. The call, should it land later, finds the room has heard it and says nothing.

        A change off a part (a demotion, a removal, a dismissal) is written with its words (who
        made it, and why), and is told in them, naming the participant by `name` (as LiveKit
        or its seat has it) as its call would: the host's demotion is the host's, for "demoted",
        in the room and in the history, whoever finished it. The service's part in it is the
        reconciler's to show, in its log line and its `completed` count, not the show's. A
        change without words (a promotion, which has none until it lands; an older version's
        change) is told from nobody (the history's actor is empty), for the reason "reconciled".
        A change an older version wrote without its part is told by the part its kind tells
        (PendingChange.moved); an older version's demotion, which may be a guest's or a
        moderator's dismissal, is not told.

        One whose call made it on LiveKit (landed) and whose instance died before telling it is
        told in the call's own words (its sender and reason, kept with it by `_land`), through
        `_tell` as the call would have: whichever of the two tells it first, the other says
        nothing."""
        if pending.landed:
            try:
                news = _StageNews.of(pending.words)
            except (ValueError, KeyError, IndexError, TypeError):
                log.warning("%s in %s: a landed change in words not known: %r", pending.identity, room, pending.words)
                return
            await self._tell(room, pending.identity, pending.told_part, news, pending.ended, pending.id)
            return
        about = (pending.identity, name)
        part = pending.moved
        if part is Role.GUEST and pending.change is StageChange.PROMOTE:
            news = _StageNews(EventType.GUEST_PROMOTED, ("", ""), about, _FINISHED)
            await self._tell(room, pending.identity, Role.GUEST, news)
            return
        if pending.change is StageChange.PROMOTE:
            return
        # The seat it ended began before the change was written: the change's own moment stands
        # for its end, so the call's later telling of it finds it heard. A dismissal's moment is
        # the change's too, as DismissModerator tells it.
        if part is Role.GUEST:
            news = _as_written(room, pending, EventType.GUEST_DEMOTED, about)
            await self._tell(room, pending.identity, Role.VIEWER, news, ended=pending.since)
        elif part is Role.MODERATOR:
            news = _as_written(room, pending, EventType.MODERATOR_DISMISSED, about)
            await self._tell(room, pending.identity, Role.MODERATOR, news, ended=pending.since)

    def reconciled(self, action: str) -> None:
        self._observer.reconciled(action)

    async def release_audience(self, room: str) -> int:
        """Lets the waiting viewers of a live show see and hear the stage: each viewer LiveKit has
        in the room without the right to subscribe gets the viewer's grants, and LiveKit
        subscribes it at once. One listing and one update per waiting viewer: going live is the
        one moment that reaches the whole audience, as it must. Viewers who join later with a
        token minted backstage are brought to a live viewer's grants by their join (see
        `_bring_to_role`). Once all are in, the record says so; otherwise a reconciler retries.
        The room hears show_live from the release that finds it still due in the record: GoLive's,
        a retry's after it stopped half way, or a reconciler's after the instance that took the
        show live died; so once, and never after the show has ended."""
        waiting = [
            who
            for who in await self._stage.list_participants(room, fresh=True)
            if who.kind == lk.ParticipantInfo.Kind.STANDARD
            and who.attributes.get("role") == Role.VIEWER.value
            and not who.permission.can_subscribe
        ]
        gate = asyncio.Semaphore(_RELEASE_CONCURRENCY)

        async def let_in(who: lk.ParticipantInfo) -> bool:
            async with gate:
                viewer = Presence(Role.VIEWER)
                if await self._stage.present(room, who.identity, viewer, known=who) is None:
                    return False
                # Promoted or appointed since the listing, its own update may have landed before
                # this one: the record says which part LiveKit is to end with.
                await self._keep_up(room, who.identity, viewer)
                return True

        let = await asyncio.gather(*(let_in(who) for who in waiting))
        live_by = await self._records.audience_released(room, self._clock.now())
        if live_by is not None:
            await self._announce(room, EventType.SHOW_LIVE, sender=live_by or None)
        return sum(let)

    # --- LiveKit's webhooks --------------------------------------------------------------

    async def receive_webhook(self, body: bytes) -> str:
        """Applies a LiveKit webhook whose signature the chain has verified; returns the event name."""
        try:
            event = json_format.Parse(body, lk_webhook.WebhookEvent(), ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError, ValueError) as exc:
            self._observer.webhook("unknown", "rejected")
            raise errors.invalid("webhook body is not a LiveKit WebhookEvent") from exc
        self._stage.heard(event)
        verdict = await self._apply(event)
        self._observer.webhook(event.event or "unknown", verdict)
        return event.event

    async def _apply(self, event: lk_webhook.WebhookEvent) -> str:
        """Makes the show's record agree with what LiveKit reports. Each event is judged against
        what it concerns: the room's incarnation (its sid) and the participant's connection
        (its sid and LiveKit's joined_at), never the order in which webhooks arrive. Answers
        "applied", "stale" (about an older connection or another incarnation: nothing changed)
        or "ignored" (nothing the show holds)."""
        room, who, now = event.room.name, event.participant, self._clock.now()
        if event.event.startswith("egress_") and event.egress_info.egress_id:
            return "applied" if await self._recording_progress(event) else "ignored"
        if not room:
            return "ignored"
        if event.event == "room_started" and event.room.sid:
            # LiveKit sends every room's webhooks to every URL it has: a room another deployment
            # or application opened is none of this show's, unless the record holds the name
            # (a viewer's token opened a new incarnation of one of ours, still unmarked).
            if not self._stage.ours(event.room) and (await self._records.stage(room, now)).lost:
                return "ignored"
            opened = await self._records.room_opened(room, event.room.sid, created_ms(event.room), now)
            return "applied" if opened else "stale"
        if event.event == "room_finished":
            retired = await self._records.retire(room, event.room.sid)
            return "applied" if retired else "stale"
        if event.event == "participant_joined" and who.identity:
            admission = await self._records.admission(room, who.identity, now)
            if admission.phase is Phase.ENDED:
                await self._shut(room)
                return "applied"
            if admission.banned:
                await self._keep_out(room, who)
                return "applied"
            if not holds(connection_of(who).holder, admission.bound):
                # A token the viewer door gave for the name before it took its part, to someone
                # else: connected, it replaced the holder's connection. It takes no seat and no
                # moderator's part; it is removed, as a banned one is, and the holder may return.
                await self._turn_away(room, who)
                return "applied"
            verdict = await self._records.connected(room, who.identity, connection_of(who), event.room.sid, now)
            if verdict is not Verdict.STALE:
                await self._bring_to_role(room, who, event.room)
            return _WEBHOOK_VERDICTS[verdict]
        if event.event == "participant_left" and who.identity:
            return await self._left(room, who, event.room.sid, float(event.created_at or now), now)
        return "ignored"

    async def _left(self, room: str, who: lk.ParticipantInfo, room_sid: str, at: float, now: float) -> str:
        """A participant's connection ended. A host or guest whose own connection it was keeps
        the seat for the reconnect grace window (the reconciler frees it if they do not come
        back), and a viewer its raised hand and open invitation (the reconciler lets them go if
        LiveKit does not have it when the window ends: the leave may be a replaced connection's,
        its owner back already); everything else is decided by the record's `left` step at once."""
        grace = self._rules.reconnect_grace_seconds
        if grace > 0:
            record = await self._records.stage(room, now)
            seat = record.host if record.host and record.host.identity == who.identity else record.guest(who.identity)
            current = not record.room_sid or not room_sid or record.room_sid == room_sid
            # The holder's own connection, or a newer one whose join is not heard yet (late, or
            # on another instance): its holder has gone all the same, and may be back in time.
            if (
                seat is not None
                and current
                and (seat.sid in ("", who.sid) or connection_of(who).joined_at > seat.joined_at)
                and await self.reconciler.dropped(room, who.identity, connection_of(who), now)
            ):
                return "applied"
        departure = await self._records.left(room, who.identity, connection_of(who), at, room_sid, now, keep=grace > 0)
        if departure.kept is not None:
            self.reconciler.viewer_left(room, who.identity, departure.kept, now, who.name)
        elif departure.freed in (Role.HOST, Role.GUEST):
            seat = Seat(who.identity, who.name or who.identity, 0)
            await self.seat_freed(room, seat, departure.freed)
        elif departure.hand:
            # The host's and the moderators' queues drop it now, not at their next look.
            await self.hand_lowered(room, who.identity, who.name or who.identity)
        return _WEBHOOK_VERDICTS[departure.verdict]

    async def _bring_to_role(self, room: str, who: lk.ParticipantInfo, live: lk.Room) -> None:
        """A token outlives a role: a demoted guest (or a replaced host) could reconnect with the
        token it had, and LiveKit would grant what that token says. The show's record decides, so
        a newcomer whose permission exceeds its role is brought back to it at once."""
        if "role" not in who.attributes or who.kind != lk.ParticipantInfo.Kind.STANDARD:
            return  # not someone who joined with a Showrunner token (an agent, a recorder, ...)
        record = await self._records.stage(room, self._clock.now())
        role = record.role_of(who.identity)
        seat = record.guest(who.identity)
        locked = seat.locked if seat is not None else ()
        # A viewer's token minted backstage still says "wait" once the show is live, and one
        # minted live must not see a backstage: the show's phase now decides.
        presence = Presence.of(role, record.phase, locked)
        if record.lost:
            # The record holds nothing of this room: it was lost, or the room was retired while
            # its people were away. The reconciler gives seats back from LiveKit's picture, now
            # rather than at its next sweep, whoever's arrival showed it: a viewer fitting the
            # record's unopened show (whose arrival writes nothing) too, if the room is one this
            # deployment opened (a room a viewer's token opened before any host is nobody's to
            # give back, and its waiting audience must not keep the reconciler busy).
            if self._stage.ours(live) or not _fits(who, presence):
                self.reconciler.nudge(room)
            return
        if _fits(who, presence):
            return
        try:
            # The webhook's picture is from when it was sent; act on LiveKit's picture of now.
            current = await self._stage.find_participant(room, who.identity)
            if current is not None and current.sid == who.sid and not _fits(current, presence):
                await self._stage.present(room, who.identity, presence, known=current)
        except errors.ShowError as exc:
            log.warning("could not bring %s in %s back to %s: %s", who.identity, room, role, exc.message)

    async def _shut(self, room: str) -> None:
        """A token of an ended show was used again (LiveKit cannot revoke it): the room it opened
        is closed, disconnecting whoever came in with it."""
        try:
            await self._stage.close_room(room)
        except errors.ShowError as exc:
            log.warning("could not close %s, whose show has ended: %s", room, exc.message)
            self.reconciler.nudge(room)

    async def _holder_present(self, room: str, identity: str, *, refused: bool = True) -> lk.ParticipantInfo | None:
        """LiveKit's connection under `identity`, if it is of the holder the name's part is bound
        to (Caller.holds); None if there is none. Another holder's (a token had for the name
        before its part, connected in the holder's place) is turned away, and the call refused as
        if nobody were connected (PARTICIPANT_NOT_FOUND), or, unless `refused`, answered None."""
        present = await self._stage.find_participant(room, identity)
        if present is None:
            return None
        if holds(
            connection_of(present).holder, (await self._records.admission(room, identity, self._clock.now())).bound
        ):
            return present
        await self._turn_away(room, present)
        if refused:
            raise errors.not_found(errors.PARTICIPANT_NOT_FOUND)
        return None

    async def _turn_away(self, room: str, who: lk.ParticipantInfo) -> None:
        """Removes the connection `who` from LiveKit, if it is still the one under its name: the
        holder it replaced may be back already."""
        try:
            await self._stage.turn_away(room, who)
        except errors.ShowError as exc:
            log.warning("could not remove %s's other holder from %s: %s", who.identity, room, exc.message)

    async def _keep_out(self, room: str, who: lk.ParticipantInfo) -> None:
        """LiveKit has no token revocation: a banned participant who still holds a token can
        connect with it. It is removed again as soon as LiveKit reports the join."""
        try:
            await self._stage.remove_participant(room, who.identity)
        except errors.ShowError as exc:
            log.warning("could not remove banned %s from %s: %s", who.identity, room, exc.message)

    async def _recording_progress(self, event: lk_webhook.WebhookEvent) -> bool:
        room = event.egress_info.room_name or event.room.name
        return bool(room) and await self._egress_progress(room, event.egress_info)

    async def _egress_progress(self, room: str, info: lk_egress.EgressInfo) -> bool:
        """Moves the room's recording or stream forward to where LiveKit reports it (its egress
        webhooks, or its answer to a stop), announcing a recording's start and end to the room and
        each state a stream reaches to its host and moderators; False if the room has no such
        egress."""
        ended = info.ended_at or info.updated_at
        at = ended / 1e9 if ended else self._clock.now()
        location = next((f.location or f.filename for f in info.file_results if f.location or f.filename), "")
        change = await self._records.record_progress(
            room, info.egress_id, int(info.status), at, self._stage.redacted(info.error), location, self._clock.now()
        )
        if change is None:
            return False
        before, after = change
        held = (await self._records.stage(room, self._clock.now())).recording(info.egress_id)
        if before < EGRESS_ENDING < after and held is not None:
            await self._egress_ended(room, held, after)
        if held is not None and held.kind is EgressKind.STREAM:
            await self._stream_moved(room, held, change)  # LiveKit's report: nobody did it
            return True
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

        admission = await self._admitted(room, identity)
        if wanted is Role.HOST:
            await self._claim_host(room, identity, name, caller)
            role = Role.HOST
        else:
            role = admission.role
            if role is Role.HOST:
                raise errors.ShowError(
                    errors.Code.ALREADY_EXISTS, f'participantName "{identity}" is the host of this room'
                )
            # A guest who reconnects through the viewer door keeps the stage; a moderator is given
            # a moderator's token; the last host's token still ends its show after its seat was
            # freed (former_host); a viewer's token accepts its invitation or moves its hand. Each
            # of those names is kept for its holder: handed to whoever asked, it would put them on
            # stage, let them ban, or end the show.
            part = _kept_part(admission)
            if part and not caller.admin_of(room):
                if not caller.acts_for(room, identity):
                    raise errors.denied(errors.kept_name(identity, part))
                # Its own token, but one given for the name before it took its part, to someone else.
                if not caller.holds(admission.bound):
                    raise errors.denied(errors.not_holder(identity))

        # A guest who reconnects keeps the sources the host took away (the admission read them).
        locked = admission.locked if role is Role.GUEST else ()
        # A host's first join has just opened the show.
        phase = self._rules.opens if role is Role.HOST and admission.phase is Phase.UNOPENED else admission.phase
        # The last host's own name, asked for by its line or the room's admin, stays of its line.
        line = admission.hosted and (caller.admin_of(room) or (caller.acts_for(room, identity) and caller.host_line))
        token = self._stage.mint_token(
            room, identity, name, Presence.of(role, phase, locked), line, _holder_for(caller, room, identity, admission)
        )
        # A viewer back from a reload finds its hand and its invitation where it left them.
        hand_raised, invitation_expires_at, invited_by = _waiting(role, admission)
        return pb.JoinRoomResponse(
            token=token,
            ws_url=self._stage.ws_url,
            room_name=room,
            role=role.wire,
            identity=identity,
            state=_STATES[phase],
            hand_raised=hand_raised,
            invitation_expires_at=invitation_expires_at,
            invited_by=invited_by,
        )

    async def get_my_place(self, request: pb.GetMyPlaceRequest, caller: Caller) -> pb.GetMyPlaceResponse:
        """JoinRoom's answer about the caller's place, without a token: a page back from a dropped
        connection reads it often, from behind shared addresses, so it is one read of this
        participant's record (the admission JoinRoom reads: O(1) whatever the audience) and asks
        LiveKit nothing."""
        room, identity = self._own_place(request.room_name, caller)
        admission = await self._admitted(room, identity, ended_refused=False)
        hand_raised, invitation_expires_at, invited_by = _waiting(admission.role, admission)
        return pb.GetMyPlaceResponse(
            identity=identity,
            role=admission.role.wire,
            state=_STATES[admission.phase],
            hand_raised=hand_raised,
            invitation_expires_at=invitation_expires_at,
            invited_by=invited_by,
        )

    async def renew_token(self, request: pb.RenewTokenRequest, caller: Caller) -> pb.RenewTokenResponse:
        """A fresh token for a page that stays longer than its token lasts. The grants are the
        role's as the record holds it now (the admission JoinRoom reads, one read whatever the
        audience), never the old token's: a demoted guest gets a viewer's, a banned identity none.
        Unlike JoinRoom it spends nothing of the join limit an audience behind one address shares,
        and it can claim no seat and open no show."""
        room, identity = self._own_place(request.room_name, caller)
        admission = await self._admitted(room, identity)
        if admission.role is Role.HOST and not caller.host_line:
            # A token minted for a viewer while the name was free is anyone's: no host's from it.
            raise errors.denied(errors.kept_name(identity, "is the host of this room"))
        if not caller.holds(admission.bound):
            raise errors.denied(errors.not_holder(identity))  # no guest's or moderator's token from it
        locked = admission.locked if admission.role is Role.GUEST else ()
        presence = Presence.of(admission.role, admission.phase, locked)
        line = caller.host_line and admission.hosted  # the last host's renewed token stays of its line
        return pb.RenewTokenResponse(
            token=self._stage.mint_token(room, identity, caller.name, presence, line, caller.holder),
            identity=identity,
            role=admission.role.wire,
        )

    def _own_place(self, room_name: str, caller: Caller) -> tuple[str, str]:
        """The room and the identity of a call about the caller's own place (GetMyPlace,
        RenewToken): a participant's own token in that room; the chain refused the others."""
        room = self._room_name(room_name)
        identity = caller.identity
        if identity is None or caller.admin or caller.room != room:
            raise errors.denied(errors.NO_PLACE_OF_ITS_OWN)
        return room, identity

    async def _admitted(self, room: str, identity: str, *, ended_refused: bool = True) -> Admission:
        """`identity`'s place in the room as the record holds it now, in one read whatever the
        audience; an ended show (unless `ended_refused` is False: the place is read, not taken)
        and a banned identity are refused. The ban is the record's own word: the chain judged it
        from the record as read for reads, which may lag another instance's ban by
        SHOW_ROOM_CACHE_SECONDS."""
        admission = await self._records.admission(room, identity, self._clock.now())
        if ended_refused and admission.phase is Phase.ENDED:
            raise errors.precondition(errors.SHOW_ENDED)
        if admission.banned:
            raise errors.denied(errors.banned(identity))
        return admission

    async def _claim_host(self, room: str, identity: str, name: str, caller: Caller) -> None:
        now, stale_after = self._clock.now(), self._rules.host_claim_seconds
        record = await self._records.stage(room, now)
        refreshing = caller.acts_for(room, identity) and caller.host_line and record.role_of(identity) is Role.HOST
        if not caller.admin_of(room) and not refreshing:
            if caller.anonymous:
                raise errors.unauthenticated(errors.MISSING_TOKEN)
            raise errors.denied(errors.HOST_JOIN_NEEDS_ADMIN)
        host = record.host
        if host and host.identity != identity and not host.sid and now * 1000 - host.since >= stale_after * 1000:
            # The claim looks abandoned; make sure with LiveKit before letting it go.
            present = await self._stage.find_participant(room, host.identity)
            if present is not None:
                await self._records.connected(room, present.identity, connection_of(present), "", now, listed_at=now)
        try:
            newly = await self._records.claim_host(room, identity, name, now, stale_after, opens=self._rules.opens)
        except errors.ShowError as exc:
            if exc.code is errors.Code.ALREADY_EXISTS:
                self.reconciler.nudge(room)  # the holder may be a ghost: have it checked soon
            raise
        try:
            opened = await self._stage.open_room(room)
        except errors.ShowError:
            if newly:
                await self._records.forget(room, identity, now)
            raise
        if opened.sid:
            await self._records.room_opened(room, opened.sid, created_ms(opened), now)
        if newly:
            await self._remember(room, EventType.HOST_JOINED, actor=_actor(caller, room), target=identity)

    # --- rooms ---------------------------------------------------------------------------

    async def list_rooms(self, request: pb.ListRoomsRequest, caller: Caller) -> pb.ListRoomsResponse:
        rooms, now = await self._stage.list_rooms(), self._clock.now()
        return pb.ListRoomsResponse(rooms=[self._room(r, await self._records.stage(r.name, now)) for r in rooms])

    async def get_room(self, request: pb.GetRoomRequest, caller: Caller) -> pb.GetRoomResponse:
        try:
            room = await self._room_for(request.room_name)
        except errors.ShowError as exc:
            # An ended show has no LiveKit room any more, and stays readable for its retention.
            # Only a well-formed name LiveKit does not have is looked up: a malformed one (which
            # the policy left to this refusal) is refused without asking the store anything.
            if exc.code is not errors.Code.NOT_FOUND:
                raise
            record = await self._records.stage(request.room_name, self._clock.now())
            if record.phase is not Phase.ENDED:
                raise
            return pb.GetRoomResponse(room=self._room(lk.Room(name=record.room, sid=record.room_sid), record))
        sources = (room, await self._records.recent_stage(room.name, self._clock.now()))
        shared = self._room_answers.get(room.name, sources)
        if shared is not None:
            return shared
        return self._room_answers.keep(room.name, sources, pb.GetRoomResponse(room=self._room(*sources)))

    async def delete_room(self, request: pb.DeleteRoomRequest, caller: Caller) -> pb.DeleteRoomResponse:
        await self._end(request.room_name, caller)
        return pb.DeleteRoomResponse()

    # --- the show's life -----------------------------------------------------------------

    async def go_live(self, request: pb.GoLiveRequest, caller: Caller) -> pb.GoLiveResponse:
        room = self._room_name(request.room_name)
        if (await self._records.stage(room, self._clock.now())).phase is Phase.ENDED:
            raise errors.precondition(errors.SHOW_ENDED)
        await self._room_for(room)
        went, life = await self._records.go_live(
            room, self._clock.now(), _acting_host(caller, room), errors.ONLY_HOST_GOES_LIVE
        )
        # A retry lets in whoever is still waiting (an earlier call may have stopped half way);
        # the room hears show_live from the release that completes (release_audience).
        let_in = await self.release_audience(room) if went or life.release_due else 0
        return pb.GoLiveResponse(state=pb.SHOW_STATE_LIVE, started_at=life.live_at, viewers_let_in=let_in)

    async def end_show(self, request: pb.EndShowRequest, caller: Caller) -> pb.EndShowResponse:
        life = await self._end(request.room_name, caller)
        return pb.EndShowResponse(state=pb.SHOW_STATE_ENDED, ended_at=life.ended_at)

    async def _end(self, room: str, caller: Caller) -> Lifecycle:
        """Ends the show (EndShow, and the MVP's DeleteRoom): the record first, so that from now on
        nobody joins it and no token of it is let in; then the room hears show_ended and LiveKit
        closes the room, disconnecting everyone."""
        room, now = self._room_name(room), self._clock.now()
        record = await self._records.stage(room, now)
        if record.phase is not Phase.ENDED and record.is_empty and await self._stage.find_room(room) is None:
            raise errors.not_found(errors.ROOM_NOT_FOUND)
        ended, life = await self._records.end_show(room, now, self._rules.ended_keep_seconds)
        if ended:
            await self._announce(room, EventType.SHOW_ENDED, sender=caller.identity)
        await self._stage.close_room(room)
        return life

    async def update_room_settings(
        self, request: pb.UpdateRoomSettingsRequest, caller: Caller
    ) -> pb.UpdateRoomSettingsResponse:
        room = self._room_name(request.room_name)
        if not request.HasField("guest_limit"):
            raise errors.invalid(errors.GUEST_LIMIT_REQUIRED)
        limit = validate.between("guestLimit", request.guest_limit, *validate.GUEST_LIMITS)
        await self._room_for(room)
        acting = _acting_host(caller, room)
        before = await self._records.set_guest_limit(
            room, limit, self._clock.now(), acting, errors.ONLY_HOST_CHANGES_SETTINGS
        )
        # Whether the stage is full changed with it: the managers read the stage again, while
        # the audience, which invites nobody, hears nothing. A limit set to what it was already
        # (the service's default, for a room that set none) changed nothing, and is not told.
        if limit != (self._rules.guest_limit if before is None else before):
            to = await self._managers_of(room)
            await self._announce(room, EventType.GUEST_LIMIT_CHANGED, sender=acting, to=to)
        return pb.UpdateRoomSettingsResponse(guest_limit=limit)

    # --- participants --------------------------------------------------------------------

    async def list_participants(
        self, request: pb.ListParticipantsRequest, caller: Caller
    ) -> pb.ListParticipantsResponse:
        name = self._room_name(request.room_name)
        size, after = self._pages.participants_asked(name, request.page_size, request.page_token)
        room = await self._room_for(name)
        if size or after is not None:
            return await self._participants_page(room.name, size, after or "")
        participants = await self._stage.list_participants(room.name)
        now = self._clock.now()
        record = await self._records.recent_stage(room.name, now)
        shared = self._participant_answers.get(room.name, (participants, record))
        if shared is not None:
            return shared
        # The listed participants' hands alone, never the room's whole queue: a read costs what
        # its answer holds, not what the audience has raised.
        listed = [p.identity for p in participants]
        hands = await self._records.raised_among(room.name, now, listed) if record.hands else frozenset()
        answer = pb.ListParticipantsResponse(participants=[self._participant(p, record, hands) for p in participants])
        return self._participant_answers.keep(room.name, (participants, record), answer)

    async def _participants_page(self, room: str, size: int, after: str) -> pb.ListParticipantsResponse:
        """A page of the room's participants by identity after `after`, `size` of them (0: all the
        rest). Not shared as the whole room's answer is: each client's pages are its own."""
        found = await self._stage.participants_after(room, after, size + 1 if size else None)
        page = found[:size] if size else found
        now = self._clock.now()
        record = await self._records.recent_stage(room, now)
        listed = [p.identity for p in page]
        hands = await self._records.raised_among(room, now, listed) if record.hands else frozenset()
        more = bool(size) and len(found) > size
        return pb.ListParticipantsResponse(
            participants=[self._participant(p, record, hands) for p in page],
            next_page_token=self._pages.after_participant(room, page[-1].identity) if more else "",
        )

    async def remove_participant(
        self, request: pb.RemoveParticipantRequest, caller: Caller
    ) -> pb.RemoveParticipantResponse:
        room, identity = await self._someone_in(request.room_name, request.identity)
        acting = _acting_host(caller, room)
        # A moderator manages the audience and the stage, never the host or its peers.
        moderating = acting is not None and await self._records.role_of(room, acting) is Role.MODERATOR
        if moderating and identity == acting:
            raise errors.denied(errors.MODERATOR_REMOVES_ITSELF)
        part = await self._records.role_of(room, identity)
        if moderating and part in (Role.HOST, Role.MODERATOR):
            raise errors.denied(errors.MODERATOR_ON_MANAGER)
        banned = request.ban and await self._records.ban(
            room, identity, self._clock.now(), acting, errors.ONLY_HOST_REMOVES_PARTICIPANTS
        )
        by = (caller.identity or "", caller.identity or "")
        # A moderator's part ends in the record before LiveKit is asked, with the removal
        # pending: should this instance die in between, the reconciler removes it, and a removed
        # moderator never keeps its appointment.
        dismissal = _StageNews(EventType.MODERATOR_DISMISSED, by, (identity, identity), "removed", acting or "")
        now, change_id = self._clock.now(), new_change_id() if part is Role.MODERATOR else ""
        dismissed = False

        async def undo() -> None:
            if banned:  # first: a banned participant is appointed nothing
                await self._records.unban(room, identity, self._clock.now())
            if dismissed:
                await self._records.appoint(room, identity, self._clock.now(), None, rebind=False)
                await self._records.complete(room, identity, StageChange.REMOVE, change_id)

        try:
            if change_id:
                await self._records.dismiss(room, identity, now, change_id, dismissal.words(), StageChange.REMOVE)
                dismissed = True
        except errors.ShowError:
            await undo()
            raise
        try:
            removed = await self._stage.remove_participant(room, identity)
        except errors.ShowError as exc:
            if not await self._removed_after_all(room, identity, exc):
                await undo()
                raise
            removed = True
        if not removed:
            await undo()
            raise errors.not_found(errors.PARTICIPANT_NOT_FOUND)
        if change_id:
            await self._land(room, identity, StageChange.REMOVE, change_id, None, _Landing(dismissal, ms(now)))
        role = await self._records.forget(room, identity, self._clock.now(), removed=True)
        actor = acting or ""
        if banned:
            await self._tell_managers(room, EventType.PARTICIPANT_BANNED, acting=acting, about=identity)
        await self._remember(room, EventType.PARTICIPANT_REMOVED, actor=actor, target=identity)
        # Whatever part the removed participant had ends with it, and the room hears it end as it
        # would have heard it end otherwise: a guest demoted, a moderator dismissed, a host left.
        if role is Role.GUEST:
            self._observer.demoted("removed")
        part_ended = {Role.GUEST: EventType.GUEST_DEMOTED, Role.MODERATOR: EventType.MODERATOR_DISMISSED}.get(role)
        if change_id:  # told as the reconciler tells it should it finish the removal first
            await self._tell(room, identity, Role.MODERATOR, dismissal, ended=ms(now), change_id=change_id)
        elif part_ended is not None:
            target = (identity, identity)
            await self._announce(room, part_ended, sender=by, target=target, actor=actor, reason="removed")
        elif role is Role.HOST:
            await self._announce(room, EventType.HOST_LEFT, sender=(identity, identity), actor=actor, reason="removed")
        return pb.RemoveParticipantResponse()

    # --- moderators and bans -------------------------------------------------------------

    async def appoint_moderator(
        self, request: pb.AppointModeratorRequest, caller: Caller
    ) -> pb.AppointModeratorResponse:
        room, identity = await self._someone_in(request.room_name, request.identity)
        # The part is bound to the holder LiveKit has connected under the name now (nobody's if
        # none is: "not connected yet is fine", below).
        present = await self._holder_present(room, identity)
        connection = connection_of(present) if present is not None else None
        now, acting = self._clock.now(), _acting_host(caller, room)
        before = await self._records.appoint(room, identity, now, acting, errors.ONLY_HOST_APPOINTS, connection)

        async def undo() -> None:
            await self._records.dismiss(room, identity, self._clock.now())
            await self._records.restore(room, identity, before, self._clock.now(), self._rules.guest_limit)

        # Not connected yet is fine: its next JoinRoom gives it a moderator's token.
        moderator = Presence(Role.MODERATOR)
        shown = await self._present_or_undo(room, identity, moderator, undo, required=False, known=present)
        # No change of its own is pending to tell whether a newer one overtook it: it looks.
        if shown is not None:
            await self._keep_up(room, identity, moderator)
        name = shown.name if shown is not None and shown.name else identity
        by = (caller.identity or "", caller.identity or "")
        news = _StageNews(EventType.MODERATOR_APPOINTED, by, (identity, name))
        await self._tell(room, identity, Role.MODERATOR, news)
        return pb.AppointModeratorResponse(message=f"{identity} is now a moderator")

    async def dismiss_moderator(
        self, request: pb.DismissModeratorRequest, caller: Caller
    ) -> pb.DismissModeratorResponse:
        room, identity = await self._someone_in(request.room_name, request.identity)
        now, change_id = self._clock.now(), new_change_id()
        by = (caller.identity or "", caller.identity or "")
        # Its words as written, owed to the room should a promotion overwrite it before it lands.
        written = _StageNews(EventType.MODERATOR_DISMISSED, by, (identity, identity))
        await self._records.dismiss(room, identity, now, change_id, written.words())

        async def undo() -> None:
            await self._records.appoint(room, identity, self._clock.now(), None, rebind=False)
            await self._records.complete(room, identity, StageChange.DEMOTE, change_id)

        viewer = await self._as_viewer(room, identity)
        shown = await self._present_or_undo(room, identity, viewer, undo, required=False)
        name = shown.name if shown is not None and shown.name else identity
        # Told as the reconciler tells it should it finish the dismissal first (the change's
        # moment, `now`, ends the appointment): whichever of the two comes second says nothing.
        news = _StageNews(EventType.MODERATOR_DISMISSED, by, (identity, name))
        await self._land(room, identity, StageChange.DEMOTE, change_id, viewer, _Landing(news, ms(now)))
        await self._tell(room, identity, Role.MODERATOR, news, ended=ms(now), change_id=change_id)
        return pb.DismissModeratorResponse(message=f"{identity} is no longer a moderator")

    async def unban_participant(
        self, request: pb.UnbanParticipantRequest, caller: Caller
    ) -> pb.UnbanParticipantResponse:
        room, identity = await self._someone_in(request.room_name, request.identity)
        await self._records.unban(room, identity, self._clock.now())
        acting = _acting_host(caller, room)
        await self._tell_managers(room, EventType.PARTICIPANT_UNBANNED, acting=acting, about=identity)
        return pb.UnbanParticipantResponse(message=f"{identity} may join again")

    async def list_bans(self, request: pb.ListBansRequest, caller: Caller) -> pb.ListBansResponse:
        room = self._room_name(request.room_name)
        size, after = self._pages.asked(Listing.BANS, room, request.page_size, request.page_token)
        await self._room_for(room)
        found = await self._records.bans_after(room, self._clock.now(), after, size + 1)
        return pb.ListBansResponse(
            bans=[pb.Ban(identity=b.identity, banned_at=b.since, banned_by=b.by) for b in found.bans[:size]],
            next_page_token=self._pages.next_token(
                Listing.BANS, room, found.bans, size, lambda b: Place(b.since, b.identity)
            ),
            total=found.total,
        )

    # --- a guest's microphone and camera --------------------------------------------------

    async def mute_guest_track(self, request: pb.MuteGuestTrackRequest, caller: Caller) -> pb.MuteGuestTrackResponse:
        room, guest, source = await self._guest_source(request.room_name, request.guest_identity, request.source)
        # Taking a source away is the host's: a moderator may only mute.
        if request.lock and not await self._hosting(room, caller):
            raise errors.denied(errors.ONLY_HOST_LOCKS)
        seat = await self._guest_seat(room, guest)
        if request.lock and len({*seat.locked, source}) >= len(GRANTS[Role.GUEST].sources):
            # A lock the record will refuse is refused before LiveKit mutes anything: a refused
            # request leaves the guest's track as it was (the record's step still decides).
            raise refusal(Refusal.LAST_SOURCE, guest)
        track = await self._stage.mute_track(room, guest, source)
        if track is None and not request.lock:
            raise errors.not_found(f"{guest} publishes no {source} track")
        locked = seat.locked
        if request.lock:
            locked = await self._set_source(room, guest, source, True, seat.locked)
        what = f"{guest}'s {source} is muted" + (" and locked" if request.lock else "")
        return pb.MuteGuestTrackResponse(
            message=what, track_sid=track or "", locked_sources=[_WIRE_SOURCES[s] for s in locked]
        )

    async def allow_guest_source(
        self, request: pb.AllowGuestSourceRequest, caller: Caller
    ) -> pb.AllowGuestSourceResponse:
        room, guest, source = await self._guest_source(request.room_name, request.guest_identity, request.source)
        seat = await self._guest_seat(room, guest)
        locked = await self._set_source(room, guest, source, False, seat.locked)
        return pb.AllowGuestSourceResponse(
            message=f"{guest} may publish the {source} again", locked_sources=[_WIRE_SOURCES[s] for s in locked]
        )

    async def _guest_source(self, room: str, guest: str, source: int) -> tuple[str, str, str]:
        if not room or not guest:
            raise errors.invalid(errors.STEP_DOWN_FIELDS_REQUIRED if room else errors.ROOM_NAME_REQUIRED)
        self._room_name(room)
        validate.identity(guest, "guestIdentity")
        word = SOURCE_WORDS.get(source)  # type: ignore[call-overload]
        if word is None:
            raise errors.invalid(errors.SOURCE_REQUIRED)
        await self._room_for(room)
        return room, guest, word

    async def _guest_seat(self, room: str, guest: str) -> Seat:
        seat = (await self._records.standing(room, guest, self._clock.now())).seat
        if seat is None:
            raise errors.not_found(errors.GUEST_NOT_FOUND)
        return seat

    async def _set_source(
        self, room: str, guest: str, source: str, locked: bool, before: tuple[str, ...]
    ) -> tuple[str, ...]:
        """Takes `source` from the guest (or gives it back) in the record, then on LiveKit, where
        taking a source away also unpublishes its track; the record's change is undone if LiveKit
        refuses. A guest not connected right now gets it with its next token."""
        sources = len(GRANTS[Role.GUEST].sources)
        after = await self._records.lock_source(room, guest, source, locked, sources, self._clock.now())

        async def undo() -> None:
            if (source in before) != locked:
                await self._records.lock_source(room, guest, source, not locked, sources, self._clock.now())

        presence = Presence(Role.GUEST, after)
        present = await self._holder_present(room, guest, refused=False)
        shown = present and await self._present_or_undo(room, guest, presence, undo, required=False, known=present)
        if shown is not None:
            await self._keep_up(room, guest, presence)  # as an appointment does
        return after

    # --- the stage -----------------------------------------------------------------------

    async def invite_guest(self, request: pb.InviteGuestRequest, caller: Caller) -> pb.InviteGuestResponse:
        room, viewer, host = request.room_name, request.viewer_identity, request.host_identity
        if not room or not viewer or not host:
            raise errors.invalid(errors.INVITE_FIELDS_REQUIRED)
        self._room_name(room)
        validate.identity(viewer, "viewerIdentity")
        validate.identity(host, "hostIdentity")
        acting = host  # the chain has shown the caller may act for the host it names
        await self._room_for(room)
        present = await self._holder_present(room, viewer)
        if present is None:
            # A hand still up for someone LiveKit does not have: its participant_left was lost,
            # or its owner is reloading its page. It goes down once the grace window is over,
            # unless its owner is back by then.
            standing = await self._records.standing(room, viewer, self._clock.now())
            if standing.hand is not None:
                await self.reconciler.hand_unowned(room, viewer, standing)
            raise errors.not_found(errors.PARTICIPANT_NOT_FOUND)
        now, ttl, limit = self._clock.now(), self._rules.invitation_seconds, self._rules.guest_limit
        change_id = new_change_id()  # the promotion's, should the viewer's hand be up
        try:
            seating = await self._records.invite(
                room, viewer, now, ttl, limit, acting, errors.ONLY_HOST_PROMOTES, connection_of(present), change_id
            )
        except errors.ShowError as exc:
            if exc.message == errors.ROOM_HAS_GUEST:
                self.reconciler.nudge(room)  # a seat may be held by someone who has gone
            raise
        if not seating.promoted:
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
        token = await self._go_on_stage(room, viewer, seating.before, acting, change_id, present)
        return pb.InviteGuestResponse(
            token=await self._handed_over(room, caller, token),
            ws_url=self._stage.ws_url,
            message=f"{viewer} has been promoted to guest",
            promoted=True,
        )

    async def accept_invitation(
        self, request: pb.AcceptInvitationRequest, caller: Caller
    ) -> pb.AcceptInvitationResponse:
        room, viewer = self._invitation_fields(request.room_name, request.viewer_identity)
        await self._room_for(room)
        change_id, present = new_change_id(), await self._stage.find_participant(room, viewer)
        seating = await self._records.accept(
            room, viewer, self._clock.now(), self._rules.guest_limit, change_id=change_id, holder=_claim(caller, room)
        )
        # The answer goes to whoever may have invited (the host, the moderators), never the room,
        # once the promotion stands on LiveKit: an acceptance undone is never heard.
        to = _managers(seating.host, seating.moderators)

        async def accepted() -> None:
            await self._announce(room, EventType.GUEST_INVITE_RESPONSE, sender=viewer, accepted=True, to=to)

        token = await self._go_on_stage(room, viewer, seating.before, seating.host, change_id, present, accepted)
        return pb.AcceptInvitationResponse(
            token=token, ws_url=self._stage.ws_url, message=f"{viewer} has been promoted to guest"
        )

    async def decline_invitation(
        self, request: pb.DeclineInvitationRequest, caller: Caller
    ) -> pb.DeclineInvitationResponse:
        room, viewer = self._invitation_fields(request.room_name, request.viewer_identity)
        await self._room_for(room)
        await self._records.decline(room, viewer, self._clock.now(), _claim(caller, room))
        to = await self._managers_of(room)
        await self._announce(room, EventType.GUEST_INVITE_RESPONSE, sender=viewer, accepted=False, to=to)
        return pb.DeclineInvitationResponse(message=f"{viewer} has declined the invitation")

    async def demote_guest(self, request: pb.DemoteGuestRequest, caller: Caller) -> pb.DemoteGuestResponse:
        room, guest, acting = await self._host_on_guest(request)
        now, change_id, by = self._clock.now(), new_change_id(), (acting, acting)
        words = _off_stage(guest, by, "demoted").words()
        seat = await self._records.unseat(
            room, guest, now, StageChange.DEMOTE, acting, errors.ONLY_HOST_DEMOTES, change_id, words
        )
        token = await self._leave_stage(room, seat, change_id, by, "demoted")
        return pb.DemoteGuestResponse(
            token=await self._handed_over(room, caller, token),
            ws_url=self._stage.ws_url,
            message=f"{guest} has been demoted to viewer",
        )

    async def _handed_over(self, room: str, caller: Caller, token: str) -> str:
        """A token minted in the name of the participant a call changed goes back to the room's
        admin and to the host, whose apps (the MVP's) hand it on; never to a moderator, which
        would hold a guest's token in another's name and could take the stage as that one."""
        return token if await self._hosting(room, caller) else ""

    async def _hosting(self, room: str, caller: Caller) -> bool:
        """Whether the caller acts as the room's host: its admin, or the host seat's holder with
        a token of the host's line (Caller.host_line)."""
        if caller.admin_of(room):
            return True
        identity = caller.identity
        return identity is not None and caller.host_line and await self._records.role_of(room, identity) is Role.HOST

    async def step_down(self, request: pb.StepDownRequest, caller: Caller) -> pb.StepDownResponse:
        room, guest = request.room_name, request.guest_identity
        if not room or not guest:
            raise errors.invalid(errors.STEP_DOWN_FIELDS_REQUIRED)
        self._room_name(room)
        validate.identity(guest, "guestIdentity")
        await self._room_for(room)
        # The guest's own token must be of the seat's holder (the room's admin is never asked).
        seated = None if caller.admin_of(room) else await self._records.admission(room, guest, self._clock.now())
        if seated is not None and not caller.holds(seated.bound):
            raise errors.denied(errors.not_holder(guest))
        change_id, words = new_change_id(), _off_stage(guest, None, "stepped_down").words()
        now = self._clock.now()
        seat = await self._records.unseat(room, guest, now, StageChange.DEMOTE, change_id=change_id, words=words)
        token = await self._leave_stage(room, seat, change_id, None, "stepped_down")
        return pb.StepDownResponse(token=token, ws_url=self._stage.ws_url, message=f"{guest} has stepped down")

    async def remove_guest(self, request: pb.RemoveGuestRequest, caller: Caller) -> pb.RemoveGuestResponse:
        room, guest, acting = await self._host_on_guest(request)
        now, change_id = self._clock.now(), new_change_id()
        words = _off_stage(guest, (acting, acting), "removed").words()
        seat = await self._records.unseat(
            room, guest, now, StageChange.REMOVE, acting, errors.ONLY_HOST_REMOVES, change_id, words
        )
        try:
            await self._stage.remove_participant(room, guest)
        except errors.ShowError as exc:
            if not await self._removed_after_all(room, guest, exc):
                await self._give_seat_back(room, seat, change_id)
                raise
        news = _StageNews(EventType.GUEST_DEMOTED, (acting, acting), (guest, seat.name), "removed")
        await self._land(room, guest, StageChange.REMOVE, change_id, None, _Landing(news, seat.since))
        self._observer.demoted("removed")
        await self._tell(room, guest, Role.VIEWER, news, ended=seat.since, change_id=change_id)
        return pb.RemoveGuestResponse(message=f"{guest} has been removed from the room")

    async def set_hand_raised(self, request: pb.SetHandRaisedRequest, caller: Caller) -> pb.SetHandRaisedResponse:
        room, identity = request.room_name, request.participant_identity
        if not room or not identity or not request.HasField("raised"):
            raise errors.invalid(errors.HAND_FIELDS_REQUIRED)
        self._room_name(room)
        validate.identity(identity, "participantIdentity")
        await self._room_for(room)
        if await self._records.role_of(room, identity) is not Role.VIEWER:
            raise errors.precondition(errors.ONLY_VIEWERS_RAISE)  # before asking LiveKit anything
        present = await self._stage.find_participant(room, identity)
        if present is None:
            raise errors.not_found(errors.PARTICIPANT_NOT_FOUND)
        connection = connection_of(present)
        if not caller.admin_of(room) and connection.holder != caller.holder:
            # The name's connection on LiveKit is another holder's: the token was given for the
            # name to someone else, and moves no hand of the one connected.
            raise errors.denied(errors.not_holder(identity))
        raised, now, change_id = request.raised, self._clock.now(), new_change_id()
        seating = await self._records.set_hand(
            room, identity, raised, now, self._rules.guest_limit, connection, change_id, _claim(caller, room)
        )
        if seating.promoted:
            token = await self._go_on_stage(room, identity, seating.before, seating.host, change_id, present)
            return pb.SetHandRaisedResponse(hand_raised=False, promoted=True, token=token, ws_url=self._stage.ws_url)
        if (seating.before.hand is not None) != raised:
            # Only those who can act on a hand (the host, the moderators) hear of it, and the viewer
            # itself: never the room.
            kind = EventType.HAND_RAISE if raised else EventType.HAND_LOWER
            to = [identity, *_managers(seating.host, seating.moderators)]
            await self._announce(room, kind, sender=(identity, present.name or identity), to=to)
        return pb.SetHandRaisedResponse(hand_raised=raised)

    async def list_raised_hands(self, request: pb.ListRaisedHandsRequest, caller: Caller) -> pb.ListRaisedHandsResponse:
        room = self._room_name(request.room_name)
        size, after = self._pages.asked(Listing.HANDS, room, request.page_size, request.page_token)
        await self._room_for(room)
        found = await self._records.hands_after(room, self._clock.now(), after, size + 1)
        return pb.ListRaisedHandsResponse(
            hands=[
                pb.RaisedHand(identity=h.identity, raised_at=h.raised_at, invited=h.invited) for h in found.hands[:size]
            ],
            next_page_token=self._pages.next_token(
                Listing.HANDS, room, found.hands, size, lambda h: Place(h.raised_at, h.identity)
            ),
            total=found.total,
        )

    # --- recordings ----------------------------------------------------------------------

    async def start_recording(self, request: pb.StartRecordingRequest, caller: Caller) -> pb.StartRecordingResponse:
        room = self._room_name(request.room_name)
        # No layout chosen records the default one, the active speaker large.
        layout = _LAYOUTS.get(request.layout or pb.RECORDING_LAYOUT_SPEAKER)
        if layout is None:
            raise errors.invalid(f'layout must be "speaker" or "grid", got {request.layout}')
        await self._room_for(room)
        placeholder, now = f"{PLACEHOLDER_PREFIX}{uuid.uuid4().hex}", self._clock.now()
        await self._records.reserve_recording(room, placeholder, layout, now)
        location = self._stage.recording_location(room)
        info = await self._begin_egress(room, placeholder, self._stage.start_recording(room, layout), location)
        started = (await self._records.stage(room, self._clock.now())).recording(info.egress_id)
        actor = _actor(caller, room)
        await self._remember(room, EventType.RECORDING_STARTED, actor=actor, egress_id=info.egress_id)
        return pb.StartRecordingResponse(recording=self._recording(room, started))

    async def stop_recording(self, request: pb.StopRecordingRequest, caller: Caller) -> pb.StopRecordingResponse:
        room = self._room_name(request.room_name)
        record = await self._hosted(room)
        active = record.active_recording()
        if active is None:
            raise errors.not_found("No active recording in this room")
        if active.placeholder:
            raise errors.precondition("The recording is still starting; stop it once it has started")
        await self._stop(room, active.id, EventType.RECORDING_STOPPED, caller)
        stopped = (await self._records.stage(room, self._clock.now())).recording(active.id)
        return pb.StopRecordingResponse(recording=self._recording(room, stopped))

    async def list_recordings(self, request: pb.ListRecordingsRequest, caller: Caller) -> pb.ListRecordingsResponse:
        room = self._room_name(request.room_name)
        record = await self._kept(room)
        recordings = record.of_kind(EgressKind.RECORDING)
        return pb.ListRecordingsResponse(recordings=[self._recording(room, r) for r in reversed(recordings)])

    def _recording(self, room: str, recording: Recording | None) -> pb.Recording:
        if recording is None:
            return pb.Recording(room_name=room)
        return pb.Recording(
            recording_id=_egress_id(recording),
            room_name=room,
            layout=_WIRE_LAYOUTS[recording.layout],
            status=recording.status,
            started_at=recording.started_at,
            ended_at=recording.ended_at,
            location=recording.location,
            error=recording.error,
        )

    # --- streams -------------------------------------------------------------------------

    def _destinations(self, names: Sequence[str], what: str) -> tuple[str, ...]:
        """`names` checked against the destinations configured on the service: each known, each
        once. A refusal lists the configured names, never their URLs."""
        configured = self._stage.stream_destinations()
        if not configured:
            raise errors.precondition(
                "No stream destinations are configured on this service (SHOW_STREAM_DESTINATIONS)"
            )
        # Counted without repeats: a name given twice is told as such, not as one too many. The
        # bound keeps an unknown-destination refusal short whatever the request holds.
        distinct = dict.fromkeys(names)
        if len(distinct) > len(configured):
            raise errors.invalid(f"{what} names more destinations than are configured: {', '.join(configured)}")
        unknown = [n for n in distinct if n not in configured]
        if unknown:
            # A caller that sends a configured URL instead of its name is not shown its key back
            # (nor is it written to the logs): redacted as LiveKit's words are, then cut short.
            shown = ", ".join(repr(self._stage.redacted(n)[:64]) for n in unknown)
            raise errors.invalid(f"{what}: unknown destination {shown}; configured: {', '.join(configured)}")
        if len(distinct) != len(names):
            # Each one is a configured name by now: its URL and stream key stay with the service.
            repeated = [n for n, times in Counter(names).items() if times > 1]
            shown = ", ".join(repr(n) for n in repeated)
            raise errors.invalid(f"{what} names {shown} more than once; name each destination once")
        return tuple(names)

    async def start_stream(self, request: pb.StartStreamRequest, caller: Caller) -> pb.StartStreamResponse:
        room = self._room_name(request.room_name)
        if not request.destinations:
            raise errors.invalid(
                f"destinations is required: name one or more of {', '.join(self._stage.stream_destinations())}"
                if self._stage.stream_destinations()
                else "No stream destinations are configured on this service (SHOW_STREAM_DESTINATIONS)"
            )
        destinations = self._destinations(request.destinations, "destinations")
        await self._room_for(room)
        placeholder, now = f"{PLACEHOLDER_PREFIX}{uuid.uuid4().hex}", self._clock.now()
        await self._records.reserve_recording(room, placeholder, "speaker", now, EgressKind.STREAM, destinations)
        info = await self._begin_egress(room, placeholder, self._stage.start_stream(room, destinations, "speaker"), "")
        started = (await self._records.stage(room, self._clock.now())).recording(info.egress_id)
        actor = _actor(caller, room)
        await self._remember(
            room, EventType.STREAM_STARTED, actor=actor, egress_id=info.egress_id, destinations=destinations
        )
        if started is not None:
            await self._tell_stream(room, EventType.STREAM_STARTED, started, sender=actor)
        return pb.StartStreamResponse(stream=self._stream(room, started))

    async def starts_settled(self) -> None:
        """Returns once every egress start that outlived its caller (_begin_egress) has settled
        in the record. The service stops (SIGTERM) only after them, as after the calls in
        flight: closing LiveKit's session and the store under one left LiveKit's egress running
        with only its placeholder in the record."""
        while self._beginning:
            await asyncio.wait(set(self._beginning))

    async def _begin_egress(
        self, room: str, placeholder: str, start: Coroutine[Any, Any, lk_egress.EgressInfo], location: str
    ) -> lk_egress.EgressInfo:
        """Asks LiveKit to start the egress reserved as `placeholder` and settles the record with
        its answer, or drops the placeholder if LiveKit refuses. Both run to their end even when
        the caller goes away meanwhile (its deadline passed, its connection dropped): an egress
        LiveKit started is then in the record all the same, and can be stopped."""

        async def begin() -> lk_egress.EgressInfo:
            try:
                info = await start
            except errors.ShowError:
                await self._records.drop_recording(room, placeholder, self._clock.now())
                raise
            try:
                await self._records.settle_recording(
                    room, placeholder, info.egress_id, int(info.status), location, self._clock.now()
                )
            except errors.ShowError:
                # The record cannot take what LiveKit started (the store went away): left running,
                # it would be held only as the placeholder, which nobody can stop and the next
                # start takes over (a second egress). The call fails, and so does its egress.
                try:
                    await self._stage.stop_recording(info.egress_id)
                except errors.ShowError as exc:
                    log.warning(
                        "could not stop egress %s of %s: %s", info.egress_id, room, self._stage.redacted(exc.message)
                    )
                raise
            return info

        beginning = asyncio.ensure_future(begin())
        self._beginning.add(beginning)  # held here: the loop keeps only a weak reference to a task

        def settled(done: asyncio.Future[lk_egress.EgressInfo]) -> None:
            self._beginning.discard(done)
            if not done.cancelled():
                done.exception()  # a refusal is its caller's to answer, if it is still there

        beginning.add_done_callback(settled)
        return await asyncio.shield(beginning)

    async def _active_stream(self, room: str) -> Recording:
        record = await self._hosted(room)
        active = record.active_recording(EgressKind.STREAM)
        if active is None:
            raise errors.not_found("No active stream in this room")
        if active.placeholder:
            raise errors.precondition("The stream is still starting; try again once it has started")
        return active

    async def update_stream(self, request: pb.UpdateStreamRequest, caller: Caller) -> pb.UpdateStreamResponse:
        room = self._room_name(request.room_name)
        if not request.add_destinations and not request.remove_destinations:
            raise errors.invalid("Name destinations to add (addDestinations) or remove (removeDestinations)")
        add = self._destinations(request.add_destinations, "addDestinations")
        remove = self._destinations(request.remove_destinations, "removeDestinations")
        if set(add) & set(remove):
            raise errors.invalid("A destination cannot be both added and removed")
        active = await self._active_stream(room)
        already = [n for n in add if n in active.destinations]
        if already:
            raise errors.invalid(f"Already streaming to {', '.join(already)}")
        absent = [n for n in remove if n not in active.destinations]
        if absent:
            raise errors.invalid(f"Not streaming to {', '.join(absent)}")
        after = tuple(n for n in active.destinations if n not in remove) + add
        if not after:
            raise errors.invalid("A stream needs a destination: stop the stream instead of removing them all")
        # The record first, put back if LiveKit refuses, as every change that touches both. Only
        # over the destinations this call read: two changes at once would each be judged against
        # what the other replaced (both removing the last other destination: none left).
        now = self._clock.now()
        if not await self._records.set_destinations(room, active.id, after, now, read=active):
            raise errors.precondition(errors.STREAM_CHANGED)
        written = replace(active, destinations=after, destinations_at=ms(now))

        async def undo() -> None:  # unless changed again since: a newer change stands
            await self._records.set_destinations(room, active.id, active.destinations, self._clock.now(), read=written)

        try:
            info = await self._stage.update_stream(active.id, add, remove)
        except errors.ShowError:
            await undo()
            raise
        if info is None or info.status > EGRESS_ACTIVE:  # it ended (or is ending) without our hearing
            await undo()
            if info is None:  # LiveKit no longer has it at all
                now = self._clock.now()
                gone = await self._records.record_progress(room, active.id, EGRESS_ABORTED, now, "", "", now)
                ended = (await self._records.stage(room, now)).recording(active.id)
                await self._stream_moved(room, ended, gone)
            else:
                await self._egress_progress(room, info)
            raise errors.not_found("No active stream in this room")
        updated = (await self._records.stage(room, self._clock.now())).recording(active.id)
        actor = _actor(caller, room)
        await self._remember(room, EventType.STREAM_UPDATED, actor=actor, egress_id=active.id, destinations=after)
        if updated is not None:
            await self._tell_stream(room, EventType.STREAM_UPDATED, updated, sender=actor)
        return pb.UpdateStreamResponse(stream=self._stream(room, updated))

    async def stop_stream(self, request: pb.StopStreamRequest, caller: Caller) -> pb.StopStreamResponse:
        room = self._room_name(request.room_name)
        active = await self._active_stream(room)
        moved = await self._stop(room, active.id, EventType.STREAM_STOPPED, caller)
        stopped = (await self._records.stage(room, self._clock.now())).recording(active.id)
        await self._stream_moved(room, stopped, moved, sender=_actor(caller, room))
        return pb.StopStreamResponse(stream=self._stream(room, stopped))

    async def list_streams(self, request: pb.ListStreamsRequest, caller: Caller) -> pb.ListStreamsResponse:
        room = self._room_name(request.room_name)
        record = await self._kept(room)
        return pb.ListStreamsResponse(
            streams=[self._stream(room, s) for s in reversed(record.of_kind(EgressKind.STREAM))],
            available_destinations=self._stage.stream_destinations(),
        )

    @staticmethod
    def _stream(room: str, stream: Recording | None) -> pb.Stream:
        if stream is None:
            return pb.Stream(room_name=room)
        return pb.Stream(
            stream_id=_egress_id(stream),
            room_name=room,
            destinations=stream.destinations,
            status=stream.status,
            started_at=stream.started_at,
            ended_at=stream.ended_at,
            error=stream.error,
        )

    # --- the show's history --------------------------------------------------------------

    async def list_show_events(self, request: pb.ListShowEventsRequest, caller: Caller) -> pb.ListShowEventsResponse:
        room = self._room_name(request.room_name)
        size, after = history.page_size(request.page_size), self._pages.position(room, request.page_token)
        # No LiveKit room is asked for: the history is the record's, and a room without one (or
        # unknown) has none to show. One entry beyond the page tells whether another follows.
        found = await self._records.history(room, after, size + 1, self._clock.now())
        page = found[:size]
        more = len(found) > size
        return pb.ListShowEventsResponse(
            entries=[history.wire(e) for e in page],
            next_page_token=self._pages.after_entry(room, page[-1].sequence) if more else "",
        )

    async def _remember(
        self,
        room: str,
        kind: EventType,
        *,
        actor: str,
        target: str = "",
        reason: str = "",
        egress_id: str = "",
        destinations: Sequence[str] = (),
    ) -> None:
        """Keeps an entry in the show's history. Best effort, as the events are: the change it
        records has already happened, so a history the store cannot write fails no request."""
        entry = HistoryEntry(kind.value, ms(self._clock.now()), actor, target, reason, egress_id, tuple(destinations))
        try:
            await self._records.append_history(room, entry, self._clock.now())
        except errors.ShowError as exc:
            log.warning("could not keep %s in the history of %s: %s", kind, room, exc.message)

    async def _stop(self, room: str, egress_id: str, kind: EventType, caller: Caller) -> tuple[int, int] | None:
        """Asks LiveKit to stop the egress and moves the record with its answer: answers the move
        the stop made (status before, after), None if it made none. One LiveKit had already
        ended, its egress_ended late or lost, is taken as that webhook would have been: it ended
        by itself, as LiveKit says (and that is told as such)."""
        info = await self._stage.stop_recording(egress_id)
        if info is not None and info.status > EGRESS_ENDING:
            await self._egress_progress(room, info)
            return None
        status, now = (int(info.status) if info else EGRESS_ABORTED), self._clock.now()
        moved = await self._records.record_progress(room, egress_id, status, now, "", "", now)
        await self._stopped(room, kind, egress_id, moved, caller)
        return moved

    async def _stopped(
        self, room: str, kind: EventType, egress_id: str, moved: tuple[int, int] | None, caller: Caller
    ) -> None:
        """A StopRecording or StopStream moved the egress towards its end: kept as stopped by the
        caller. If LiveKit's own report got there first, that report was kept instead."""
        if moved is not None and moved[0] < moved[1] and moved[0] < EGRESS_ENDING:
            actor = _actor(caller, room)
            await self._remember(room, kind, actor=actor, reason="stopped", egress_id=egress_id)

    async def _egress_ended(self, room: str, held: Recording, status: int) -> None:
        """LiveKit reports a recording or stream ended that no stop call of ours had moved to
        ENDING: it ended on its own (complete, failed, aborted, limit reached)."""
        kind = EventType.STREAM_STOPPED if held.kind is EgressKind.STREAM else EventType.RECORDING_STOPPED
        reason = _EGRESS_ENDS.get(status, "ended")
        await self._remember(room, kind, actor="", reason=reason, egress_id=held.id)

    async def _stream_moved(
        self, room: str, stream: Recording | None, moved: tuple[int, int] | None, sender: str = ""
    ) -> None:
        """Tells the host and the moderators the state a stream just reached (`moved`: its status
        before and after one step of the record): live, ending, or an end. Only the step that
        moved it tells, so each state is told once, whichever of LiveKit's webhook, a stop's
        answer or the reconciler got there first; a report that moved nothing (repeated, or
        behind a newer one) tells nothing. `sender`: who moved it, "" for LiveKit's report."""
        if stream is None or moved is None or moved[0] >= moved[1]:
            return
        after = moved[1]
        if after == EGRESS_ACTIVE:
            await self._tell_stream(room, EventType.STREAM_LIVE, stream, sender=sender)
        elif after == EGRESS_ENDING:
            await self._tell_stream(room, EventType.STREAM_ENDING, stream, sender=sender)
        elif after > EGRESS_ENDING:
            reason = _EGRESS_ENDS.get(after, "ended")
            await self._tell_stream(room, EventType.STREAM_ENDED, stream, sender=sender, reason=reason)

    async def _tell_stream(
        self, room: str, kind: EventType, stream: Recording, *, sender: str, reason: str = ""
    ) -> None:
        """Sends a stream_* event to the host and the moderators only, with the stream's id and
        its destinations' names (never their URLs): the audience is not told where the show is
        restreamed, and what a stream's progress costs does not grow with the audience."""
        event = show_event(kind, sender_id=sender, sender_name=sender, at=self._clock.now())
        event.stream_id = stream.id
        event.destinations.extend(stream.destinations)
        event.reason = reason
        await self._send(room, kind, event, await self._managers_of(room))

    # --- going on and off stage ----------------------------------------------------------

    async def _go_on_stage(
        self,
        room: str,
        viewer: str,
        before: Standing,
        promoter: str | None,
        change_id: str,
        present: lk.ParticipantInfo | None,
        heard_first: Callable[[], Awaitable[None]] | None = None,
    ) -> str:
        """The viewer holds a seat in the record, with the promotion `change_id` pending; make it
        so on LiveKit and confirm it, or give the seat back. The room hears of it unless a newer
        change took the viewer off the stage meanwhile (see "changes whose LiveKit calls cross"),
        after `heard_first` (what the promotion answers, once it stands on LiveKit)."""

        async def undo() -> None:
            now, limit = self._clock.now(), self._rules.guest_limit
            if not await self._records.restore(room, viewer, before, now, limit, change_id):
                log.info("%s in %s keeps its newer part: its promotion was refused after it", viewer, room)
                return
            await self._tell(room, viewer, Role.VIEWER)  # a demotion this promotion kept silent

        # The seat goes to the holder it was given to, connected as the call found it (`present`):
        # another holder's connection, which replaced the viewer's on LiveKit, is removed rather
        # than put on stage, and the promotion undone (the viewer comes back, and is invited
        # again or accepts again).
        bound = (await self._records.admission(room, viewer, self._clock.now())).bound
        if present is None or not holds(connection_of(present).holder, bound):
            if present is not None:
                await self._turn_away(room, present)
            await undo()
            raise errors.not_found(errors.PARTICIPANT_NOT_FOUND)
        asked = self._clock.now()
        shown = await self._present_or_undo(room, viewer, Presence(Role.GUEST), undo, known=present)
        if heard_first is not None:
            await heard_first()
        await self._records.connected(room, viewer, connection_of(shown), "", self._clock.now(), listed_at=asked)
        name = shown.name or viewer
        by = (promoter or "", promoter or "")
        news = _StageNews(EventType.GUEST_PROMOTED, by, (viewer, name))
        await self._land(room, viewer, StageChange.PROMOTE, change_id, Presence(Role.GUEST), _Landing(news))
        self._observer.promoted()
        await self._tell(room, viewer, Role.GUEST, news, change_id=change_id)
        # For the holder the seat was given to.
        holder = bound if bound is not None else connection_of(shown).holder
        return self._stage.mint_token(room, viewer, name, Presence(Role.GUEST), holder=holder)

    async def _leave_stage(self, room: str, seat: Seat, change_id: str, by: tuple[str, str] | None, reason: str) -> str:
        """The guest gave up its seat in the record, with the demotion `change_id` pending; make
        it so on LiveKit (if still connected) and confirm it, or give the seat back. The room
        hears of it (`_tell`) as sent by `by` (None: the guest itself), for `reason`. Answers the
        viewer's token."""

        async def undo() -> None:
            await self._give_seat_back(room, seat, change_id)

        viewer = await self._as_viewer(room, seat.identity)
        shown = await self._present_or_undo(room, seat.identity, viewer, undo, required=False)
        name = shown.name if shown else seat.name
        guest = (seat.identity, name)
        news = _StageNews(EventType.GUEST_DEMOTED, by or guest, guest, reason)
        await self._land(room, seat.identity, StageChange.DEMOTE, change_id, viewer, _Landing(news, seat.since))
        self._observer.demoted(reason)
        await self._tell(room, seat.identity, Role.VIEWER, news, ended=seat.since, change_id=change_id)
        # For the holder the seat was given to (its binding outlives it); else the connection's, or
        # a holder nobody is yet if none is connected.
        given = (await self._records.admission(room, seat.identity, self._clock.now())).holder
        holder = given if given is not None else connection_of(shown).holder if shown is not None else _new_holder()
        return self._stage.mint_token(room, seat.identity, name, viewer, holder=holder)

    async def _give_seat_back(self, room: str, seat: Seat, change_id: str) -> None:
        """The undo of a demotion or removal (`change_id`) LiveKit refused: the guest gets its seat
        back, unless another guest took it meanwhile and the stage is full, or a newer change of
        the guest was written since. Then that stands in the record: the host's change pending,
        made so on LiveKit by the reconciler past its deadline, or the newer change's own."""
        given = await self._records.restore(
            room, seat.identity, Standing(seat, None, None), self._clock.now(), self._rules.guest_limit, change_id
        )
        if not given:
            log.warning(
                "%s in %s stays off stage: its seat was taken, or a newer change made, while LiveKit refused",
                seat.identity,
                room,
            )
            return
        await self._tell(room, seat.identity, Role.GUEST)  # a promotion this demotion kept silent

    async def _as_viewer(self, room: str, identity: str) -> Presence:
        """A viewer's presence in the room now: waiting while the show is not live."""
        return Presence.of(Role.VIEWER, (await self._records.admission(room, identity, self._clock.now())).phase)

    # --- changes whose LiveKit calls cross ----------------------------------------------
    # The record decides two changes of one participant in order (a promotion, then the host's
    # demotion), but their calls to LiveKit may land the other way round, and LiveKit keeps the
    # last to land. So the call whose change LiveKit got may have been overtaken looks again
    # once it has landed, and brings the participant to what the record holds then: whichever
    # call lands last, LiveKit ends as the record has it, without waiting for the reconciler.
    #
    # Each call knows its own change by the id it wrote it with (new_change_id), so with three
    # in flight (promoted, demoted, promoted again) the first promotion's call cannot clear the
    # second's: that one stays pending until its own call lands, or the reconciler finishes it.
    #
    # The room's events, and the history kept with them, follow the record the same way. A call
    # tells its change once LiveKit has it, and the calls land in any order, so what the room
    # hears of a guest going on or off the stage is decided in one place, `_tell`, in one step
    # of the record with what the room last heard of the participant (ShowRecords.tell):
    # * a change a newer one overtook (a newer change of the participant is pending, on its way
    #   to LiveKit) says nothing: the newer one tells for itself when its call lands;
    # * a change a newer one undid (promoted, then taken off the stage again) says nothing: the
    #   record no longer holds the participant where it put it;
    # * a change that would tell the room what it heard already says nothing: promoted, demoted
    #   and promoted again, the first promotion landing after the other two were told, finds the
    #   room has heard the guest go on stage in the seat it holds;
    # * a change that said nothing for a newer one is owed to the room, should LiveKit refuse
    #   that newer one: the undo that leaves the older change standing tells it, in its words
    #   (demoted, then promoted again, and the promotion refused: the room hears the demotion);
    # * a change off the stage is written with its words (unseat's `words`: the guest named by
    #   its identity, as its seat is), so that a newer change written over it before its call
    #   landed leaves it owed too; and a change that would tell the room the place it heard last
    #   (on stage again in a newer seat, off stage again) tells what it is owed first, or nothing
    #   if nothing is owed: promoted, demoted and promoted again, the demotion's call landing
    #   after the second promotion was told, the room hears promoted, demoted (in the host's
    #   words, as written), promoted; the demotion's call then finds it heard.
    # So what the room hears of a guest's place alternates, on stage and off it, never the same
    # place twice in a row, in the record's order, less what was overtaken before it showed (a
    # promotion written over before its call landed, which carries no words until then), and the
    # last of it is the place the record holds. A newer change that leaves the older standing (a
    # lock on a guest being promoted) silences nothing. With nothing crossing, every change is
    # told as before, and asks LiveKit nothing more.
    #
    # A moderator's part is told through `_tell` too (`part` MODERATOR), by a rule of its own,
    # apart from the stage's: an appointment is told unless the record no longer holds it, or
    # the room heard the moderator appointed and never heard it dismissed since (appointed again
    # while the dismissal was on its way: heard once); a dismissal, at its moment, unless the
    # record holds the moderator appointed again, or the room heard it dismissed at that moment
    # or later (its call and a reconciler that finished it: heard once). A change of the stage
    # pending does not silence it. A dismissal is written with its words too (dismiss's
    # `words`), so that one a promotion writes over before it was told is owed (the record's
    # `dismissal`), and whatever is told of the participant next tells it first: dismissed, then
    # promoted before the dismissal's call landed, the room hears the dismissal, then the
    # promotion, whichever call lands first; the dismissal's call, landing last, finds it heard.
    #
    # A guest's seat freed because its connection ended (`seat_freed`) is told through `_tell`
    # as well: should the guest be back on stage in a newer seat by the time it tells, the room,
    # which heard that promotion, does not hear the older seat's end after it. A guest whose
    # demotion (or removal) is still pending when its connection ends frees no seat: the record
    # has it a viewer already. The leave keeps that change pending (ShowRecords.forget), with
    # what the room heard, so the room, which may have heard the guest on stage last, hears it
    # leave once, in the demotion's words, whether its call or the reconciler that finishes it
    # past its deadline tells it, as had the guest stayed; not "left", which would say the
    # connection's end took the guest off the stage when the host's demotion, earlier in the
    # record, did, and would be told differently depending on whether the leave or the
    # reconciler came first. So is a moderator's dismissal kept.
    #
    # A change the reconciler finishes past its deadline (its call's instance died, or its call
    # to LiveKit is held up) is told by the reconciler, through `_tell` (`change_finished`): the
    # call never told it, since a call tells only once it has cleared its change; and should the
    # call land after all, `_tell` finds the room heard it and says nothing. A change off a part
    # is told in the words it was written with (the host's demotion is the host's, "demoted",
    # whoever made it on LiveKit: the room and the history say who changed the show, not which
    # process delivered it, which the reconciler's log and metrics say); a promotion, which has
    # no words until its call lands, and an older version's change, from nobody, "reconciled".
    #
    # A call that has made its change on LiveKit clears it and keeps what the room is owed of it
    # in one step (`_land`: ShowRecords.land), so an instance that dies between clearing and
    # telling leaves the change `landed` in the record, with the call's words (its sender and
    # reason), under a new deadline. The call's `_tell` names it, and telling it removes it;
    # should the call's instance die first, a reconciler past that deadline tells it in those
    # words (`change_finished`), not as "reconciled". Whichever tells first wins; the other
    # finds the room heard it. A newer change that overwrites a landed one before it was told
    # leaves it owed, as a change told while a newer one is pending is.

    async def _land(
        self,
        room: str,
        identity: str,
        change: StageChange,
        change_id: str,
        made: Presence | None,
        landing: _Landing,
    ) -> tuple[bool, Role | None]:
        """Clears the pending `change` this call wrote (`change_id`) and has made on LiveKit
        (`made`: the presence it set; None if it removed the participant or reached nobody), and
        in the same step of the record keeps what the room is owed of it (`landing`), which the
        call's `_tell` (with its `change_id`) tells next, or a reconciler should this instance
        die in between (`change_finished`). If
        it is no longer pending, a newer change overtook it (or a reconciler finished or undid it
        past its deadline), and LiveKit may hold this older one: the participant is brought to
        the record (`_keep_up`). Every caller wrote its own pending change, so with nothing
        crossing it costs no more. Answers whether it was still this call's to clear, and if
        not, the role the record holds for the participant (None if it could not be read)."""
        words = landing.news.words()
        if await self._records.land(room, identity, change, change_id, landing.ended, words, self._clock.now()):
            return True, None
        return False, await self._keep_up(room, identity, made)

    async def _tell(
        self,
        room: str,
        identity: str,
        part: Role,
        news: _StageNews | None = None,
        ended: int = 0,
        change_id: str = "",
    ) -> None:
        """Tells the room that `identity` went on stage (`part` GUEST) or left it (VIEWER; `ended`:
        the since of the seat it left), or was appointed a moderator (MODERATOR) or dismissed
        (MODERATOR, `ended`: the dismissal's moment), as `news` says, if the record says the room
        is to hear it (see above), after what the room is owed before it (a change written over
        before it was told), in the record's order; without `news` (the undo of a newer change
        LiveKit refused), what that change kept silent, if anything. Best effort, as every
        event: should the record not answer, a change with its own news is told as it was before
        the record kept this.
        `change_id`: the landed change (`_land`) this telling is of, no longer pending once
        told, by this call or a reconciler."""
        words = news.words() if news else ""
        said: tuple[str, ...] = (words,) if words else ()
        try:
            said = await self._records.tell(room, identity, part, ended, words, self._clock.now(), change_id)
        except errors.ShowError as exc:
            log.warning("could not read what %s heard of %s: %s", room, identity, exc.message)
        # What the room missed first (a change owed to it, overwritten before it was told), then
        # this change: in the record's order.
        for each in said:
            try:
                told = _StageNews.of(each)
            except (ValueError, KeyError, IndexError, TypeError):
                log.warning("%s in %s: owed a change in words not known: %r", identity, room, each)
                continue
            kind, sender, target = told.kind, told.sender, told.target
            await self._announce(room, kind, sender=sender, target=target, reason=told.reason, actor=told.actor)

    async def _keep_up(self, room: str, identity: str, made: Presence | None) -> Role | None:
        """This call's change to `identity` has landed on LiveKit (`made`: the presence it set,
        None for a removal). If the record now holds another presence for it, LiveKit is
        brought to that one, and again should the record have moved on meanwhile; past a few
        rounds (a participant changed over and over), the reconciler takes the room. Never fails
        the call: its own change is made, and a LiveKit that cannot be reached now is the
        reconciler's to catch up with. Answers the role the record held for it as last read
        (None if it could not be read)."""
        held: Role | None = None
        try:
            for _ in range(_KEEP_UP_ROUNDS):
                admission = await self._records.admission(room, identity, self._clock.now())
                wanted = Presence.of(admission.role, admission.phase, admission.locked)
                held = wanted.role
                if wanted == made:
                    return held
                current = await self._stage.find_participant(room, identity)
                if current is None or _fits(current, wanted):
                    return held  # gone, or LiveKit has it right (a call still in flight looks for itself)
                if not holds(connection_of(current).holder, admission.bound):
                    await self._turn_away(room, current)  # another holder's: given no part
                    return held
                log.info("%s in %s was overtaken on LiveKit: brought to %s", identity, room, wanted.role.value)
                if await self._stage.present(room, identity, wanted, known=current) is None:
                    return held
                made = wanted
        except errors.ShowError as exc:
            log.warning("could not bring %s in %s to its part: %s", identity, room, exc.message)
        self.reconciler.nudge(room)
        return held

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
        validate.identity(request.host_identity, "hostIdentity")
        await self._room_for(room)
        return room, guest, request.host_identity

    async def _someone_in(self, room: str, identity: str) -> tuple[str, str]:
        """The room (shown to exist on LiveKit) and the identity a call is about, both checked."""
        if not room or not identity:
            raise errors.invalid(errors.REMOVE_FIELDS_REQUIRED)
        self._room_name(room)
        validate.identity(identity, "identity")
        await self._room_for(room)
        return room, identity

    def _invitation_fields(self, room: str, viewer: str) -> tuple[str, str]:
        if not room or not viewer:
            raise errors.invalid(errors.INVITATION_FIELDS_REQUIRED if room else errors.ROOM_NAME_REQUIRED)
        self._room_name(room)
        validate.identity(viewer, "viewerIdentity")
        return room, viewer

    async def _hosted(self, room: str) -> StageRecord:
        """For the host's own operations (the chain has shown the caller to be its host or
        admin): the room's stage, once the room is shown to exist on LiveKit."""
        record = await self._records.stage(self._room_name(room), self._clock.now())
        await self._room_for(room)
        return record

    async def _kept(self, room: str) -> StageRecord:
        """For reading what a show keeps (its recordings and streams): as `_hosted`, but an ended
        show's LiveKit room is gone by design, and what it kept stays readable for its retention."""
        record = await self._records.stage(self._room_name(room), self._clock.now())
        if record.phase is not Phase.ENDED:
            await self._room_for(room)
        return record

    async def _room_for(self, room: str) -> lk.Room:
        """The LiveKit room (the chain has shown the caller to belong to it)."""
        self._room_name(room)
        found = await self._stage.find_room(room)
        if found is None:
            self.reconciler.nudge(room)  # if the record still holds the room, it is to be retired
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
        known: lk.ParticipantInfo | None = None,
    ) -> Any:
        """Applies `presence` on LiveKit; if LiveKit refuses, undoes the record's change and
        re-raises. A participant who is not connected is a refusal only when `required`.
        `known`: LiveKit's participant as the call just looked it up (not looked up again)."""
        try:
            shown = await self._stage.present(room, identity, presence, known)
        except errors.ShowError as exc:
            shown = await self._landed_as(room, identity, presence, exc)
            if shown is None:
                # LiveKit may yet show the change it failed on (made, its answer lost): the
                # reconciler looks, and brings the participant to what the record holds. Doubted
                # before the undo: an instance dying in between leaves the change pending (a pass
                # finishes it), or undone and doubted, never undone and unwatched.
                await self.reconciler.doubt(room, identity)
                await undo()
                raise
        if shown is None and required:
            await undo()
            raise errors.not_found(errors.PARTICIPANT_NOT_FOUND)
        return shown

    async def _looked_again(
        self, room: str, identity: str, failure: errors.ShowError
    ) -> tuple[bool, lk.ParticipantInfo | None]:
        """After LiveKit failed to answer a change of `identity` (`failure` UNAVAILABLE: a
        timeout, a lost connection), it may have made it all the same: whether LiveKit can tell
        now, and the participant as it shows it (None: not connected). A refusal (any other
        code) made nothing, and LiveKit is not asked."""
        if failure.code is not errors.Code.UNAVAILABLE:
            return False, None
        try:
            return True, await self._stage.find_participant(room, identity)
        except errors.ShowError:
            return False, None

    async def _landed_as(
        self, room: str, identity: str, presence: Presence, failure: errors.ShowError
    ) -> lk.ParticipantInfo | None:
        """The participant, if LiveKit shows it with `presence` after failing to answer the
        change to it (_looked_again); None if not, or if LiveKit cannot tell."""
        _, found = await self._looked_again(room, identity, failure)
        return found if found is not None and _fits(found, presence) else None

    async def _removed_after_all(self, room: str, identity: str, failure: errors.ShowError) -> bool:
        """Whether LiveKit, after failing to answer a removal, no longer has the participant
        connected (_looked_again)."""
        told, found = await self._looked_again(room, identity, failure)
        return told and found is None

    async def _announce(
        self,
        room: str,
        kind: EventType,
        *,
        sender: str | tuple[str, str] | None,
        target: tuple[str, str] = ("", ""),
        to: Sequence[str] | None = None,
        accepted: bool | None = None,
        expires_at: float = 0.0,
        recording_id: str = "",
        actor: str | None = None,
        reason: str = "",
    ) -> None:
        """Broadcasts a ShowEvent, or sends it to `to` only (an empty `to`: to nobody, never to
        the room, which is what LiveKit does with no destination identities). Best effort: the change it reports
        has already happened and shows in LiveKit's permissions and attributes, so a lost event
        fails no request. The kinds the show's history keeps (ANNOUNCED_HISTORY) are kept here,
        with `actor` (the sender unless given; "" for what nobody did, which is then about its
        sender unless a target is named) and `reason`."""
        sender_id, sender_name = sender if isinstance(sender, tuple) else (sender or "", sender or "")
        if kind in ANNOUNCED_HISTORY:
            who = sender_id if actor is None else actor
            about = target[0] or (sender_id if actor == "" else "")
            await self._remember(room, kind, actor=who, target=about, reason=reason, egress_id=recording_id)
        if to is not None and not to:
            return
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
        await self._send(room, kind, event, to)

    async def _send(
        self, room: str, kind: EventType, event: show_event_pb2.ShowEvent, to: Sequence[str] | None
    ) -> None:
        """Sends `event` to `to` (None: the whole room; empty: nobody). Best effort: the change it
        reports has already happened, so a lost event fails no request."""
        if to is not None and not to:
            return
        try:
            await self._stage.broadcast(room, encode(event), to or ())
        except errors.ShowError as exc:
            log.warning("could not broadcast %s in %s: %s", kind, room, exc.message)

    async def _tell_managers(self, room: str, kind: EventType, *, acting: str | None, about: str) -> None:
        """Announces what `acting` (None: the room's admin) did to `about` to the room's host and
        moderators only: a ban or its lifting concerns those who keep the room, not the room."""
        to = await self._managers_of(room)
        await self._announce(room, kind, sender=acting, target=(about, about), to=to, actor=acting or "")

    async def _managers_of(self, room: str) -> list[str]:
        """The room's host and moderators as the record has them now (see _managers)."""
        record = await self._records.stage(room, self._clock.now())
        return _managers(record.host.identity if record.host else None, record.moderators)

    def _room(self, room: lk.Room, record: StageRecord) -> pb.Room:
        return pb.Room(
            name=room.name,
            sid=room.sid,
            num_participants=room.num_participants,
            creation_time=room.creation_time,
            has_host=record.host is not None,
            has_guest=bool(record.guests),
            guest_limit=record.limit(self._rules.guest_limit),
            guests=[g.identity for g in record.guests],
            moderators=list(record.moderators),
            num_viewers=max(0, room.num_participants - record.connected_seats),
            raised_hands=record.hands,
            state=_STATES[record.phase],
            opened_at=record.life.opened_at,
            started_at=record.life.live_at,
            ended_at=record.life.ended_at,
        )

    def _participant(self, p: lk.ParticipantInfo, record: StageRecord, hands: frozenset[str]) -> pb.Participant:
        return pb.Participant(
            sid=p.sid,
            identity=p.identity,
            name=p.name,
            metadata=p.metadata,
            joined_at=p.joined_at,
            role=record.role_of(p.identity).wire,
            hand_raised=p.identity in hands,
            permission=p.permission,
        )


@dataclass(frozen=True)
class _StageNews:
    """How the room is told a guest went on or left the stage: the ShowEvent's kind, its sender
    and target (identity, name), and the history's reason. Kept in the record as `words()` while
    a newer change of the guest is pending (see `_tell`)."""

    kind: EventType
    sender: tuple[str, str]
    target: tuple[str, str]
    reason: str = ""
    actor: str | None = None  # the history's, when not the sender ("" for nobody: a leave)

    def words(self) -> str:
        told: dict[str, object] = {"v": 1, "type": self.kind.value, "sender": self.sender, "target": self.target}
        told["reason"] = self.reason
        if self.actor is not None:
            told["actor"] = self.actor
        return json.dumps(told, separators=(",", ":"))

    @classmethod
    def of(cls, words: str) -> _StageNews:
        told = json.loads(words)
        sender, target, actor = told["sender"], told["target"], told.get("actor")
        kind, reason = EventType(told["type"]), told.get("reason", "")
        return cls(kind, (sender[0], sender[1]), (target[0], target[1]), reason, None if actor is None else str(actor))


def _off_stage(guest: str, by: tuple[str, str] | None, reason: str) -> _StageNews:
    """A guest's leaving the stage (sent by `by`; None: the guest itself) as it is written with
    its change, before LiveKit has it: a guest's seat is named by its identity. The call that
    makes it tells it in the name LiveKit has for the guest; these words are told should a newer
    change overwrite the change before it lands (see `_tell`), or a reconciler finish it, its call
    never having landed (`change_finished`, in the name the reconciler found)."""
    about = (guest, guest)
    return _StageNews(EventType.GUEST_DEMOTED, by or about, about, reason)


def _as_written(room: str, pending: PendingChange, kind: EventType, about: tuple[str, str]) -> _StageNews:
    """How the room hears of a change off a part (`kind`) the reconciler finished before its
    call landed it: in the words it was written with (`_off_stage`, DismissModerator's), the
    participant named as the reconciler found it (`about`: identity, name), as the call would
    have named it; from nobody, for "reconciled", if it has none (an older version's) or none
    this version knows."""
    finished = _StageNews(kind, ("", ""), about, _FINISHED)
    if not pending.words:
        return finished
    try:
        written = _StageNews.of(pending.words)
    except (ValueError, KeyError, IndexError, TypeError):
        log.warning("%s in %s: a change written in words not known: %r", pending.identity, room, pending.words)
        return finished
    if written.kind is not kind or written.target[0] != about[0]:
        return finished
    sender = about if written.sender[0] == about[0] else written.sender
    return replace(written, sender=sender, target=about)


@dataclass(frozen=True)
class _Landing:
    """What the room is owed of a change its call has made on LiveKit, kept with the change by
    `_land` until it is told: its news, and for a change off the stage the since of the seat it
    ended (a dismissal's moment), as `_tell` takes them."""

    news: _StageNews
    ended: int = 0


def _waiting(role: Role, admission: Admission) -> tuple[bool, int, str]:
    """What a viewer finds kept for it (JoinRoom, GetMyPlace): its hand raised, its invitation's
    expiry and who sent it; nothing for any other role."""
    if role is not Role.VIEWER:
        return False, 0, ""
    return admission.hand_raised, admission.invitation_expires_at, admission.invited_by


def _fits(who: lk.ParticipantInfo, presence: Presence) -> bool:
    """Whether a participant's LiveKit permission and role attribute are no more than its role
    (without the sources the host took away from it), it may publish every source its seat
    allows (a token minted while a source was locked leaves out one given back since), and it
    subscribes exactly when its presence lets it (a waiting viewer does not; everyone else does)."""
    grants = presence.grants
    exceeds = who.permission.can_publish and not grants.can_publish
    subscribes = who.permission.can_subscribe == grants.can_subscribe
    return (
        not exceeds
        and sources_agree(who, grants, presence.locked)
        and subscribes
        and who.attributes.get("role") == presence.role.value
    )


def _acting_host(caller: Caller, room: str) -> str | None:
    """Who must hold the host seat for the caller's change to go ahead: nobody for the room's
    admin, otherwise the caller itself (checked atomically with the change)."""
    return None if caller.admin_of(room) else caller.identity


def _managers(host: str | None, moderators: Sequence[str]) -> list[str]:
    """Who can act on the stage, the host and the moderators: those who hear of hands, of answers
    to invitations and of bans, which never go to the whole room."""
    return [*([host] if host else []), *moderators]


def _actor(caller: Caller, room: str) -> str:
    """Who the show's history says did the caller's change: "" for the room's admin."""
    return _acting_host(caller, room) or ""


def _claim(caller: Caller, room: str) -> str | None:
    """The holder a call's token claims, for the record's steps that check it: None for the
    room's admin, never asked (ShowRecords.accept)."""
    return None if caller.admin_of(room) else caller.holder


def _new_holder() -> str:
    """A holder mark for a token given for a name to whoever asked (Caller.holder)."""
    return f"{_MARKS.getrandbits(96):024x}"


def _holder_for(caller: Caller, room: str, identity: str, admission: Admission) -> str:
    """Which holder of `identity` a token JoinRoom gives is of (Caller.holder): unmarked for the
    host's; for one the room's admin names, the holder the name's part is bound to (the admin
    names that holder), else unmarked; the caller's own for one its own token asks (a page back
    from a reload stays the holder it was); else a new holder, for a name anyone could ask for."""
    if admission.role is Role.HOST:
        return ""
    if caller.admin_of(room):
        return admission.bound or ""
    if caller.acts_for(room, identity):
        return caller.holder
    return _new_holder()


def _kept_part(admission: Admission) -> str:
    """The part that keeps a name for its holder at the viewer door, in the words of its
    refusal; "" if the name is free to whoever asks."""
    if admission.role in _KEPT_NAMES:
        return _KEPT_NAMES[admission.role]
    if admission.hosted:
        return "hosted this room"
    if admission.invited:
        return "has a pending invitation in this room"
    if admission.hand_raised:
        return "has a raised hand in this room"
    return ""


# Holder marks need to be unique, not secret (the whole room sees them on LiveKit; what proves a
# holder is its signed token): 96 bits from a generator seeded once from the system's entropy, as
# request ids are (a viewer's JoinRoom makes one: 0.3 us, where secrets.token_urlsafe took 4).
_MARKS = random.Random(os.urandom(32))
# The history's reason for a stage change the reconciler finished that has no words of its own
# (a promotion not landed, an older version's change: change_finished).
_FINISHED = "reconciled"
# Looks a call takes at a participant its change may have been overtaken on (see _keep_up).
_KEEP_UP_ROUNDS = 3
_RELEASE_CONCURRENCY = 16  # LiveKit updates in flight at once while letting an audience in
_STATES = {
    Phase.UNOPENED: pb.SHOW_STATE_UNSPECIFIED,
    Phase.BACKSTAGE: pb.SHOW_STATE_BACKSTAGE,
    Phase.LIVE: pb.SHOW_STATE_LIVE,
    Phase.ENDED: pb.SHOW_STATE_ENDED,
}
# How an egress ended, in the history's words (LiveKit's EgressStatus past EGRESS_ENDING).
_EGRESS_ENDS: dict[int, str] = {
    lk_egress.EGRESS_COMPLETE: "complete",
    lk_egress.EGRESS_FAILED: "failed",
    lk_egress.EGRESS_ABORTED: "aborted",
    lk_egress.EGRESS_LIMIT_REACHED: "limit_reached",
}
_WEBHOOK_VERDICTS = {Verdict.APPLIED: "applied", Verdict.STALE: "stale", Verdict.NOT_HELD: "ignored"}
_WIRE_SOURCES = {word: wire for wire, word in SOURCE_WORDS.items()}
# The parts whose name the viewer door hands only to their holder (or the room's admin).
_KEPT_NAMES = {Role.GUEST: "is a guest of this room", Role.MODERATOR: "is a moderator of this room"}
_LAYOUTS = {pb.RECORDING_LAYOUT_SPEAKER: "speaker", pb.RECORDING_LAYOUT_GRID: "grid"}
_WIRE_LAYOUTS = {name: wire for wire, name in _LAYOUTS.items()}


def _egress_id(held: Recording) -> str:
    """The id the contract gives a recording or stream: LiveKit's egress id, or none while the
    record holds only its placeholder (LiveKit has not answered the start yet)."""
    return "" if held.placeholder else held.id
