"""The reconciler: makes the show's record and LiveKit agree again, whatever was lost on the way.

LiveKit is the truth about who is connected; the record is the truth about who holds which part
of the show. Webhooks keep the two together quickly, but they arrive late, twice or not at all,
instances die between writing the record and telling LiveKit, and LiveKit or Redis restart. The
reconciler is level-triggered: for one room it compares what the record says (the host and guest
seats and the connections holding them, pending stage changes, the room's incarnation) with what
LiveKit says (does the room exist, with which sid; is each seat holder connected, with which
permission and attributes), and converges:

- the record of a room LiveKit no longer has is retired;
- a seat whose holder left and has not come back within the reconnect grace window is freed,
  with the same ShowEvents as a leave; a holder who reconnects within it keeps the seat;
- a connected seat holder or moderator whose permission or attributes disagree with its role
  (a guest's included: the sources the host took away from it) is brought back to its role;
- a stage change that was written to the record but never confirmed as made in LiveKit (the
  instance died in between) is completed once its deadline passes, and the room hears of it
  (guest_promoted, guest_demoted, moderator_dismissed) by the rules it hears the call's by,
  once: the call, should it be alive after all and land later, says nothing more;
- a stage change its call made on LiveKit but never told the room of (the instance died between
  the two: the change is kept `landed`, with the call's words, until told) is told once its new
  deadline passes, in the call's words, once: whoever tells it first, the other says nothing;
- LiveKit publishers the record does not know of (the record was lost: Redis restarted empty)
  are adopted back into their seats if the rules allow, and sent back to the audience if not;
- a banned identity LiveKit has connected is removed again: LiveKit has no token revocation, so
  a token issued before the ban still connects, and the participant_joined that would have had
  it removed at once may be lost;
- a recording or stream the record holds as running that LiveKit's egress has moved on from (its
  webhooks lost, or come before the start was written) is brought to where LiveKit has it, an
  ended show's included (its egress ends with the room EndShow closed);
- a viewer who left with a raised hand or an open invitation keeps both for the reconnect grace
  window (a reload); once it is over, LiveKit is asked whether the viewer is back, and a viewer
  who is not has its hand lowered and its invitation withdrawn, each only if it is still the one
  it left. Whether the viewer is back is LiveKit's answer at the window's end, never the order
  of webhooks: LiveKit reports the leave of a replaced connection after the new one joined;
- a raised hand whose owner LiveKit no longer has (its participant_left was lost, or heard by an
  instance that died) is lowered once the grace window has passed since it was first found so.
  Hands are the audience's, so a look at a room's hands (once in `hands_every_seconds` at most)
  takes the head of the queue and a few more (HANDS_PER_PASS each), going on from where the
  previous look stopped: every hand is looked at in turn, at a cost that does not grow with
  the queue. (An invitation of a hand whose owner has gone starts its window too.)

Its cost per room is the stage's size, not the audience's: seat holders, moderators and at most
twice HANDS_PER_PASS raised hands are looked up one by one, banned identities likewise (in a room that
has bans; one read of them from the store), and the room's participants are listed only when
LiveKit counts more publishers than the record has seats, or fewer participants than the room
has bans. One instance reconciles a given room at a time (a short lease per room).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from livekit.protocol import egress as lk_egress
from livekit.protocol import models as lk

from service.core import errors, tasks
from service.core.caller import holds
from service.core.clock import Clock
from service.core.ports import Presence, Stage, sources_agree
from service.core.record import (
    Connection,
    EgressKind,
    Lifecycle,
    PendingChange,
    Phase,
    Recording,
    Seat,
    ShowRecords,
    StageChange,
    StageRecord,
    Standing,
    connection_of,
    created_ms,
    ms,
    new_change_id,
)
from service.core.roles import GRANTS, Role


def _kind_of(info: lk_egress.EgressInfo) -> EgressKind:
    """A stream if the egress writes to RTMP(S) destinations, a recording (a file) otherwise."""
    request = info.room_composite
    return EgressKind.STREAM if request.stream_outputs or info.stream_results else EgressKind.RECORDING


log = logging.getLogger("showrunner.reconciler")

# Raised hands a pass over a room looks up in LiveKit, from where its previous pass stopped.
HANDS_PER_PASS = 8
# Viewers whose grace window is over, of those the record holds as away, a pass looks up in
# LiveKit (their leave heard by an instance that may have died; the earliest first).
AWAY_PER_PASS = 32


@dataclass(frozen=True)
class ReconcileRules:
    grace_seconds: float = 30.0  # a seat holder (or a viewer's hand) who dropped gets this long to come back
    interval_seconds: float = 5.0  # how often rooms with recent activity get a pass
    sweep_every: int = 6  # every so many passes, every room either side knows of gets one
    recent_seconds: float = 120.0  # scheduled passes: rooms written to within this long
    active_seconds: float = 6 * 3600.0  # sweeps: rooms written to within this long, and LiveKit's
    lease_seconds: float = 15.0  # one instance's exclusive turn at a room
    fresh_claim_seconds: float = 10.0  # a host claim this young may still be opening its room
    host_claim_seconds: float = 60.0  # a host who never connects blocks the room this long
    guest_limit: int = 1  # the service's default, for rooms that set none
    # The stage-change deadline (SHOW_STAGE_CHANGE_SECONDS): how long LiveKit may still be making
    # or reporting what a call asked of it. A recording or stream the record holds as running is
    # checked against LiveKit's egress on every pass once it started this long ago (its webhooks
    # had time to come); a participant doubted (Reconciler.doubt) that the store could not keep
    # is looked at by every pass this long; and this long after a show went live, a pass makes
    # the late look at its audience (`late_look_window`).
    stage_change_seconds: float = 10.0
    # A recording or stream held as starting this long has no call left waiting on LiveKit's
    # answer for it (the store's starting_seconds): the instance that asked died on the way.
    egress_starting_seconds: float = 30.0
    # A room's raised hands are looked at (HANDS_PER_PASS of them) once in this long at most: a
    # lost participant_left is rare, and a hand left up a little longer harms nobody.
    hands_every_seconds: float = 30.0

    @property
    def late_look_window(self) -> tuple[float, float]:
        """How long after going live (seconds) a pass makes the late look at its audience. A
        viewer given its token backstage that connects after GoLive's listing is let in by its
        own participant_joined; should LiveKit lose that webhook (its queue overflows in just
        such a crowd), one more listing lets it in. From the stage-change deadline (a connection
        begun before going live has joined by then), for a few passes, so that one comes, while
        an instance started long after a show went live lists no audience for it."""
        opens = self.stage_change_seconds
        return opens, opens + max(30.0, 3 * self.interval_seconds)

    @property
    def recent_window(self) -> float:
        """How far back a scheduled pass looks for rooms written to: `recent_seconds`, and never
        less than two intervals, so that a room written just after one pass still gets the next
        however long the interval is set (SHOW_RECONCILE_INTERVAL_SECONDS goes up to 600)."""
        return max(self.recent_seconds, 2 * self.interval_seconds)


class Leases(Protocol):
    """Short exclusive turns, so that one instance at a time reconciles a room."""

    async def take(self, room: str, holder: str, seconds: float) -> bool: ...

    async def give_back(self, room: str, holder: str) -> None: ...


class ReconcileListener(Protocol):
    """What the reconciler tells the rest of the service: ShowEvents and metrics."""

    async def seat_freed(self, room: str, seat: Seat, role: Role) -> None: ...

    async def release_audience(self, room: str) -> int:
        """Lets a live show's waiting viewers see the stage; how many it let in."""
        ...

    async def hand_lowered(self, room: str, identity: str, name: str = "") -> None:
        """A hand whose owner left (and did not come back) was lowered: whoever manages the stage
        hears of it."""
        ...

    async def egress_moved(self, room: str, info: lk_egress.EgressInfo) -> bool:
        """Brings the room's recording or stream to where LiveKit's egress has it, with the
        events of a webhook; whether the record changed."""
        ...

    async def stream_redirected(self, room: str, stream: Recording, destinations: tuple[str, ...]) -> bool:
        """A running stream found sending to other destinations than the record names: the
        record follows LiveKit, with the events of an UpdateStream; whether it changed."""
        ...

    async def change_finished(self, room: str, pending: PendingChange, name: str) -> None:
        """A pending stage change whose call never confirmed it was finished here, LiveKit
        brought to the record (`name`: the participant's, as LiveKit or its seat has it): the
        room hears of it as it would have heard of the call's, if it is still to."""
        ...

    def reconciled(self, action: str) -> None: ...


@dataclass(frozen=True)
class Away:
    """What a viewer LiveKit no longer has left in the record, and since when it is known gone."""

    since: float
    hand: int | None  # when its hand was raised (ms)
    invitation: int | None  # when its invitation expires (ms)
    name: str = ""
    recorded: bool = False  # its leave is kept in the record too (ShowRecords.away)


@dataclass(frozen=True)
class Action:
    """One thing a pass did, for logs, metrics and tests."""

    kind: str  # retired, freed, presented, completed, told, adopted, reconnected, incarnation, kept_out,
    # closed, released, lowered, egress, destinations
    identity: str = ""
    detail: str = ""


class Reconciler:
    def __init__(
        self,
        records: ShowRecords,
        stage: Stage,
        clock: Clock,
        leases: Leases,
        listener: ReconcileListener,
        rules: ReconcileRules | None = None,
    ) -> None:
        self._records, self._stage, self._clock = records, stage, clock
        self._leases, self._listener = leases, listener
        self._rules = rules or ReconcileRules()
        self._me = uuid.uuid4().hex
        # room -> identity -> the hand and invitation of a viewer gone, kept for its grace window.
        self._away: dict[str, dict[str, Away]] = {}
        # room -> where in its queue of hands the next look goes on, and when the last one was.
        self._hand_looks: dict[str, tuple[int, float]] = {}
        # room -> the publisher counts a listing found no stranger behind (LiveKit counts the
        # publishing agents and ingresses too, which are nobody's strangers), and when.
        self._explained: dict[str, tuple[tuple[str, int, int], float]] = {}
        # room -> identity -> due (ms): the doubts (`doubt`) the record could not be given.
        self._doubted: dict[str, dict[str, int]] = {}
        # room -> when its show went live (ms), for the shows this instance made the late look for.
        self._looked_late: dict[str, int] = {}
        self._wanted: set[str] = set()
        self._sweep_wanted = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- when it runs ----------------------------------------------------------------------

    def sweep_soon(self) -> None:
        """Asks for a pass over every room either side knows of, on the reconciler's own task:
        an outage just ended, and whatever changed meanwhile is to be caught up with. The asker
        (readiness) waits on none of it, and goes on watching the store and LiveKit."""
        self._sweep_wanted = True
        self._wake.set()

    def nudge(self, room: str) -> None:
        """Asks for a pass over `room` soon: a webhook or a call saw something worth checking."""
        self._wanted.add(room)
        self._wake.set()

    async def doubt(self, room: str, identity: str) -> None:
        """A call's change of `identity` failed on LiveKit and is about to be undone in the
        record; LiveKit may have made it all the same (its answer lost), and nothing in the
        record would send a pass to look (a viewer appointed or promoted holds no seat,
        appointment or change once undone). A pass soon looks at the participant on LiveKit, and
        brings it to the record's part, until the stage-change deadline has passed (LiveKit may
        make the change that late). The doubt is written to the record (ShowRecords.doubt), so
        that whichever instance passes next looks, should this one die first; should the store
        fail, this instance keeps it alone."""
        now = self._clock.now()
        try:
            await self._records.doubt(room, identity, now)
        except errors.ShowError as exc:
            log.warning("the doubt about %s in %s is kept by this instance alone: %s", identity, room, exc.message)
            self._doubted.setdefault(room, {})[identity] = ms(now + self._rules.stage_change_seconds)
        self.nudge(room)

    async def dropped(self, room: str, identity: str, gone: Connection, at: float) -> bool:
        """LiveKit reported that a seat holder's connection `gone` ended (at `at`): the seat notes
        its holder away (ShowRecords.seat_away), and is freed by whichever instance passes once
        the grace window is over, unless its holder has come back by then. Whether it noted (not
        when the seat went, or a newer connection took it, since it was read)."""
        if not await self._records.seat_away(room, identity, gone, at):
            return False
        self._pass_after_window(room, at)
        return True

    def viewer_left(self, room: str, identity: str, kept: Standing, at: float, name: str = "") -> None:
        """LiveKit reported that a viewer's connection ended (at `at`) while it had a hand up or
        an invitation open (`kept`): a pass after the grace window lets them go unless the viewer
        is back by then. Each leave starts the window again: the viewer may have come back and
        gone again since an earlier one."""
        self._away.setdefault(room, {})[identity] = Away(at, kept.hand, kept.invitation, name, recorded=True)
        self._pass_after_window(room, at)

    async def hand_unowned(self, room: str, identity: str, kept: Standing) -> list[Action]:
        """A hand up (raised at `kept.hand`) whose owner LiveKit does not have: its leave was
        lost, or heard by an instance that died, or is yet to come (a reload). It is lowered,
        with the invitation `kept` names, once the grace window has passed since the owner was
        first known gone (at once without a window); until then a pass is due at its end."""
        viewers, now = self._away.setdefault(room, {}), self._clock.now()
        away = viewers.get(identity)
        if away is None or away.hand != kept.hand:
            away = viewers[identity] = Away(now, kept.hand, kept.invitation)
            if self._rules.grace_seconds > 0:
                self._pass_after_window(room, now)
        if now - away.since < self._rules.grace_seconds:
            return []
        lowered = await self._let_go(room, identity, away)
        self._forget_away(room, identity, away)
        return lowered

    def _pass_after_window(self, room: str, since: float) -> None:
        delay = max(0.0, since + self._rules.grace_seconds - self._clock.now()) + 0.05
        asyncio.get_running_loop().call_later(delay, self.nudge, room)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reconciler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await tasks.cancel(task)

    async def _run(self) -> None:
        await self._guarded(self.sweep())
        passes = 0
        loop = asyncio.get_running_loop()
        due = loop.time() + self._rules.interval_seconds
        while True:
            # asyncio.timeout, not wait_for: on 3.11, wait_for swallows a cancellation that
            # arrives as the wait ends (a nudge as the service stops), and the loop ran on.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(due):
                    await self._wake.wait()
            self._wake.clear()
            wanted, self._wanted = self._wanted, set()
            if self._sweep_wanted:
                self._sweep_wanted = False
                await self._guarded(self.sweep())
            if wanted:
                await self._guarded(self.pass_over(wanted))
            # The passes keep their own time: nudges, however many, come between them.
            if loop.time() < due:
                continue
            due = loop.time() + self._rules.interval_seconds
            passes += 1
            # The record itself may have been lost (Redis emptied) with nothing else noticing:
            # now and then, LiveKit's list of rooms is the list to go over.
            await self._guarded(self.sweep() if passes % self._rules.sweep_every == 0 else self.scheduled())

    async def _guarded(self, work: object) -> None:
        assert asyncio.iscoroutine(work)
        try:
            await work
        except errors.ShowError as exc:
            log.warning("reconciliation postponed: %s", exc.message)
        except Exception:
            log.exception("reconciliation failed")

    async def rooms_to_sweep(self) -> set[str]:
        """Every room either side knows of."""
        rooms = {room.name for room in await self._stage.list_rooms()}
        rooms.update(await self._records.active_rooms(self._clock.now() - self._rules.active_seconds))
        return rooms

    async def sweep(self) -> list[Action]:
        """A pass over every room either side knows of: on start-up and after an outage ends."""
        return await self.pass_over(await self.rooms_to_sweep())

    async def scheduled(self) -> list[Action]:
        """Rooms with recent activity, and rooms whose pending changes are overdue."""
        now = self._clock.now()
        rooms = set(await self._records.active_rooms(now - self._rules.recent_window))
        rooms.update(await self._records.overdue(now))
        rooms.update(self._away)
        return await self.pass_over(rooms)

    async def pass_over(self, rooms: Iterable[str]) -> list[Action]:
        """A pass over each of `rooms`: one that fails (LiveKit refusing, a record of a newer
        version) is logged and left for the next pass, and the others still get theirs."""
        done: list[Action] = []
        postponed: list[tuple[str, str]] = []
        for room in sorted(rooms):
            try:
                done += await self.reconcile(room)
            except errors.ShowError as exc:
                postponed.append((room, exc.message))
            except Exception:
                log.exception("reconciliation of %s failed", room)
        if postponed:  # one line a pass, however many rooms a store or LiveKit outage holds up
            (room, message), more = postponed[0], len(postponed) - 1
            log.warning("reconciliation of %s%s postponed: %s", room, f" and {more} more" if more else "", message)
        return done

    # --- one room --------------------------------------------------------------------------

    async def _keep_lease(self, room: str) -> None:
        """Takes the room's lease again every third of its time while a pass runs: a pass making
        many LiveKit calls on a slow LiveKit may outlast one lease, and another instance must not
        reconcile the room beside it."""
        while True:
            await asyncio.sleep(self._rules.lease_seconds / 3)
            with contextlib.suppress(errors.ShowError):  # the store away: the pass fails on its own
                await self._leases.take(room, self._me, self._rules.lease_seconds)

    async def reconcile(self, room: str) -> list[Action]:
        """One pass over `room`, if no other instance is at it; returns what it did."""
        if not await self._leases.take(room, self._me, self._rules.lease_seconds):
            return []
        renewing = asyncio.create_task(self._keep_lease(room))
        try:
            actions = await self._viewers_away(room) + await self._converge(room)
        finally:
            await tasks.cancel(renewing)
            await self._leases.give_back(room, self._me)
        for action in actions:
            self._listener.reconciled(action.kind)
            log.info(
                "reconciled %s: %s %s %s",
                room,
                action.kind,
                action.identity,
                action.detail,
                extra={"fields": {"room": room, "action": action.kind, "identity": action.identity}},
            )
        return actions

    async def _converge(self, room: str) -> list[Action]:
        now = self._clock.now()
        live = await self._stage.find_room(room)
        record = await self._records.stage(room, now)
        if record.phase is Phase.ENDED or live is None or record.lost:
            # Nobody of the show is on LiveKit, or everyone is looked at (a lost record's listing).
            self._doubted.pop(room, None)
            if record.doubted:
                await self._records.settle_doubts(room, record.doubted, now)
        if record.phase is Phase.ENDED:
            self._explained.pop(room, None)
            # The show is over and locked; a room LiveKit has under its name was opened by one of
            # its tokens used again (a lost or late webhook let it stay): close it.
            ended: list[Action] = []
            if live is not None and await self._stage.close_room(room):
                ended.append(Action("closed", detail="the show has ended"))
            # Its recordings and streams stay readable: one whose egress ended with the room,
            # its egress_ended lost, must not read as running for the whole retention.
            return ended + await self._egresses(room, record, now)
        if live is None:
            return await self._without_livekit_room(room, record, now)
        actions: list[Action] = []
        # A record that holds nothing of the room LiveKit has, not even which incarnation it is,
        # was lost (Redis restarted empty): LiveKit's picture is then all there is, and the
        # participants' own attributes say which seats to give back.
        lost = record.lost
        if lost and not self._stage.ours(live):
            return []  # a room of another deployment (or of nobody) on the same LiveKit
        created = created_ms(live)
        if lost:
            # Seats first, then the incarnation: a record that knows the room's sid is no longer
            # "lost", and a pass cut short in between must find it lost again.
            actions += await self._strangers(room, set(), now, adopt=True)
            if live.sid:
                await self._records.room_opened(room, live.sid, created, now)
            return actions
        if live.sid and record.room_sid != live.sid and await self._records.room_opened(room, live.sid, created, now):
            actions.append(Action("incarnation", detail=live.sid))
            record = await self._records.stage(room, now)
        # A show LiveKit still has is neither ended nor abandoned, though it may write nothing for
        # hours (its stage as it is, its viewers coming and going): its record stays.
        await self._records.keep_alive(room, live.sid, now)
        overdue = {p.identity: p for p in record.pending if p.deadline <= round(now * 1000)}
        # A change another call is making right now (pending, not yet overdue) is left to it.
        in_flight = {p.identity for p in record.pending} - set(overdue)
        present: dict[str, lk.ParticipantInfo] = {}
        seats = ([(record.host, Role.HOST)] if record.host else []) + [(g, Role.GUEST) for g in record.guests]
        for seat, role in seats:
            if seat.identity in in_flight:
                continue
            found = await self._stage.find_participant(room, seat.identity)
            if found is None:
                actions += await self._holder_gone(room, seat, role, record, now)
                continue
            if await self._other_holder(room, found, now):
                actions.append(Action("kept_out", seat.identity, "another holder of the name"))
                continue
            present[seat.identity] = found
            if found.sid != seat.sid or seat.away:  # a new connection, or its holder is back
                await self._records.connected(
                    room, seat.identity, connection_of(found),
                    live.sid, now, listed_at=now,
                )  # fmt: skip
                if found.sid != seat.sid:
                    actions.append(Action("reconnected", seat.identity, found.sid))
            if not _agrees(found, role, seat.locked):
                actions += await self._present(room, found, role, seat.locked)
        # A moderator appointed by an instance that died before telling LiveKit (at most
        # MODERATORS_PER_ROOM lookups, whatever the audience).
        for identity in record.moderators:
            if identity in in_flight:
                continue
            found = await self._stage.find_participant(room, identity)
            if found is not None and await self._other_holder(room, found, now):
                actions.append(Action("kept_out", identity, "another holder of the name"))
            elif found is not None and not _agrees(found, Role.MODERATOR):
                actions += await self._present(room, found, Role.MODERATOR)
        actions += await self._doubts(room, record, now, in_flight, {*present, *record.moderators})
        if record.away:
            actions += await self._away_in_record(room, now)
        held = {seat.identity: seat for seat, _ in seats}
        for identity, change in overdue.items():
            actions += await self._finish(room, change, present.get(identity), held.get(identity))
        actions += await self._egresses(room, record, now)
        if record.hands:
            actions += await self._abandoned_hands(room, now)
        else:
            self._hand_looks.pop(room, None)
        due = record.life.release_due
        if due and due <= round(now * 1000):
            # The show went live, and whoever took it live did not say its audience was let in.
            let_in = await self._listener.release_audience(room)
            actions.append(Action("released", detail=f"{let_in} viewers"))
        elif self._late_look_due(room, record.life, now):
            # Those who connected after the release with a token minted backstage, and whose join
            # LiveKit did not tell (it tells no show_live again: the release is not due). Made
            # once it has gone through: one that failed is made again by the next pass.
            let_in = await self._listener.release_audience(room)
            self._looked_late[room] = record.life.live_at
            if let_in:
                actions.append(Action("released", detail=f"{let_in} viewers late"))
        kept_out = await self._keep_out(room, live, now) if record.bans else []
        actions += kept_out
        seated_publishers = sum(1 for p in present.values() if p.permission.can_publish)
        counts = (live.sid, live.num_publishers, seated_publishers)
        if live.num_publishers > seated_publishers and not in_flight and not self._explains(room, counts, now):
            seated = set(present) | {a.identity for a in kept_out}
            strangers = await self._strangers(room, seated, now, adopt=False)
            actions += strangers
            if not strangers:
                self._explained[room] = (counts, now)
        return actions

    def _explains(self, room: str, counts: tuple[str, int, int], now: float) -> bool:
        """Whether a listing found no stranger behind these same publisher counts lately (within
        a sweep's time): the room is not listed again for them on every pass."""
        explained = self._explained.get(room)
        if explained is None or explained[0] != counts:
            return False
        return now - explained[1] < self._rules.interval_seconds * self._rules.sweep_every

    async def _viewers_away(self, room: str) -> list[Action]:
        """The viewers of `room` whose grace window is over: each one LiveKit does not have now
        has the hand and invitation it left let go of; one that is back keeps them."""
        ended = self._clock.now() - self._rules.grace_seconds
        due = [(who, away) for who, away in self._away.get(room, {}).items() if away.since <= ended]
        actions: list[Action] = []
        for identity, away in due:
            back = await self._stage.find_participant(room, identity) is not None
            # A leave heard meanwhile started a new window: it is that one's to decide.
            if self._away.get(room, {}).get(identity) is not away:
                continue
            if not back:
                actions += await self._let_go(room, identity, away)
            self._forget_away(room, identity, away)
            if away.recorded:
                await self._records.settle_away(room, identity, ms(away.since))
        return actions

    async def _away_in_record(self, room: str, now: float) -> list[Action]:
        """The viewers the record holds as away (their leave heard by any instance, which may
        have died since) whose grace window is over, AWAY_PER_PASS at most: each one LiveKit
        does not have now has the hand and invitation its leave kept let go of (a hand raised or
        an invitation given since is another's to decide); one that is back keeps them. A viewer
        this instance holds as away itself is left to `_viewers_away`."""
        actions: list[Action] = []
        mine = self._away.get(room, {})
        for viewer in await self._records.away(room, now - self._rules.grace_seconds, AWAY_PER_PASS):
            if viewer.identity in mine:
                continue
            if await self._stage.find_participant(room, viewer.identity) is None:
                away = Away(viewer.since / 1000, viewer.hand, viewer.invitation)
                actions += await self._let_go(room, viewer.identity, away)
            await self._records.settle_away(room, viewer.identity, viewer.since)
        return actions

    async def _let_go(self, room: str, identity: str, away: Away) -> list[Action]:
        if not await self._records.lower_abandoned_hand(room, identity, away.hand, away.invitation):
            return []
        await self._listener.hand_lowered(room, identity, away.name)
        return [Action("lowered", identity, "its owner left")]

    def _late_look_due(self, room: str, life: Lifecycle, now: float) -> bool:
        """Whether this pass makes the one late look at the audience of a show gone live (see
        `ReconcileRules.late_look_window`): the first of this instance's passes in the window."""
        since = now - life.live_at / 1000
        opens, closes = self._rules.late_look_window
        if life.phase is not Phase.LIVE or not life.live_at or since > closes:
            self._looked_late.pop(room, None)
            return False
        return since >= opens and self._looked_late.get(room) != life.live_at

    def _forget_away(self, room: str, identity: str, away: Away) -> None:
        viewers = self._away.get(room, {})
        if viewers.get(identity) is away:
            del viewers[identity]
        if not viewers:
            self._away.pop(room, None)

    async def _without_livekit_room(self, room: str, record: StageRecord, now: float) -> list[Action]:
        self._hand_looks.pop(room, None)
        self._explained.pop(room, None)
        self._looked_late.pop(room, None)
        # A record that names a room LiveKit had holds that show (its phase, history, limit) even
        # with nobody in it: the room is gone, so is the show. One that never had a room and
        # holds nothing is left alone (an admin's settings made before the show, say).
        if record.is_empty and not record.room_sid:
            return []
        host = record.host
        if host is not None and not host.sid and now * 1000 - host.since < self._rules.fresh_claim_seconds * 1000:
            return []  # a host who just joined: its room is being opened
        if await self._records.retire(room, record.room_sid):
            return [Action("retired")]
        return []

    async def _holder_gone(self, room: str, seat: Seat, role: Role, record: StageRecord, now: float) -> list[Action]:
        """A seat whose holder LiveKit does not have: freed once the grace window has passed
        since it was first seen gone (a host who never connected keeps its claim window)."""
        if not seat.sid and role is Role.HOST and now * 1000 - seat.since < self._rules.host_claim_seconds * 1000:
            return []
        grace = self._rules.grace_seconds
        if not seat.away and grace > 0:  # first seen gone: noted for whichever instance passes next
            if await self._records.seat_away(room, seat.identity, Connection(seat.sid, seat.joined_at), now):
                self._pass_after_window(room, now)
            return []
        if now * 1000 - seat.away < grace * 1000:
            return []
        # Only if still away since then: a holder back since the record was read keeps its seat.
        freed = await self._records.forget(room, seat.identity, now, away=seat.away)
        if freed is not role:
            return []
        await self._listener.seat_freed(room, seat, role)
        return [Action("freed", seat.identity, role.value)]

    async def _other_holder(self, room: str, found: lk.ParticipantInfo, now: float) -> bool:
        """Whether `found`, connected under the name of a seat or a moderator, is of another holder
        than the one the part was given to (Caller.holder): a token the viewer door gave for the
        name before, to someone else, whose connection replaced the holder's. It is removed from
        LiveKit then (its participant_joined may have been lost), if it is still the connection
        under the name, and given no part."""
        if holds(connection_of(found).holder, (await self._records.admission(room, found.identity, now)).bound):
            return False
        await self._stage.turn_away(room, found)
        return True

    async def _present(
        self, room: str, who: lk.ParticipantInfo, role: Role, locked: tuple[str, ...] | None = None
    ) -> list[Action]:
        """Brings `who` to `role` on LiveKit; a guest keeps the sources the host took away from
        it (`locked`, read from its seat unless the caller holds it already)."""
        if locked is None and role is Role.GUEST:
            seat = (await self._records.standing(room, who.identity, self._clock.now())).seat
            locked = seat.locked if seat else ()
        waiting = (
            role is Role.VIEWER
            and (await self._records.admission(room, who.identity, self._clock.now())).phase.audience_waits
        )
        shown = await self._stage.present(room, who.identity, Presence(role, locked or (), waiting))
        return [Action("presented", who.identity, role.value)] if shown is not None else []

    async def _finish(
        self, room: str, pending: PendingChange, present: lk.ParticipantInfo | None, seat: Seat | None
    ) -> list[Action]:
        """An overdue pending change: the record already holds its outcome; make LiveKit match.
        Only that change is cleared: a newer one written meanwhile is its own call's. The call
        that wrote it never told the room (it tells once it has cleared it), so the room hears
        of it from here, if this pass cleared it, in the words it was written with where it has
        them (ReconcileListener.change_finished): a call that cleared it first tells for itself.
        One its call made on LiveKit (landed) and did not tell in time (its instance died in
        between) asks LiveKit nothing more, and is told here in the call's own words: LiveKit
        has it, and a participant removed may be back as a viewer by now. So may one whose
        removal LiveKit had before the call's instance died, not landed: a removal takes out only
        a connection that LiveKit had before it was written (by LiveKit's joined_at against the
        change's `since`), never one that joined again since, which JoinRoom admitted."""
        identity, change = pending.identity, pending.change
        if pending.landed:
            await self._listener.change_finished(room, pending, identity)
            return [Action("told", identity, change.value)]
        role = await self._records.role_of(room, identity)
        found = present
        if found is None:
            found = await self._stage.find_participant(room, identity)
        if change is StageChange.REMOVE:
            if found is not None and connection_of(found).joined_at <= pending.since:
                await self._stage.remove_participant(room, identity)
        elif present is None and found is not None and not _agrees(found, role):
            await self._present(room, found, role)
        if await self._records.complete(room, identity, change, pending.id):
            name = (found.name if found is not None else "") or (seat.name if seat is not None else "") or identity
            await self._listener.change_finished(room, pending, name)
        return [Action("completed", identity, change.value)]

    async def _egresses(self, room: str, record: StageRecord, now: float) -> list[Action]:
        """The recordings and streams the record holds as running, once their webhooks had time
        to come: each brought to where LiveKit's egress has it."""
        quiet_since = round((now - self._rules.stage_change_seconds) * 1000)
        abandoned_since = round((now - self._rules.egress_starting_seconds) * 1000)
        actions: list[Action] = []
        for recording in record.recordings:
            if recording.active and not recording.placeholder and recording.started_at <= quiet_since:
                actions += await self._egress(room, recording, quiet_since, record.phase is Phase.ENDED)
        abandoned = [r for r in record.recordings if r.active and r.placeholder and r.started_at <= abandoned_since]
        if abandoned:
            actions += await self._unsettled(room, record, abandoned, now)
        return actions

    async def _unsettled(
        self, room: str, record: StageRecord, placeholders: list[Recording], now: float
    ) -> list[Action]:
        """Starts whose instance died between asking LiveKit and writing its answer: the record
        holds only their placeholder, which nobody can stop. An egress of the room LiveKit has
        running, of the same kind and unknown to the record, is the one that start began: the
        record takes it (and follows it from then on); without one, the start never began, and the
        placeholder goes."""
        try:
            running = await self._stage.room_egresses(room)
        except errors.ShowError as exc:
            log.warning("could not ask LiveKit about the egresses of %s: %s", room, exc.message)
            return []
        known = {r.id for r in record.recordings}
        actions: list[Action] = []
        for placeholder in placeholders:
            found = next((e for e in running if e.egress_id not in known and _kind_of(e) is placeholder.kind), None)
            if found is None:
                await self._records.drop_recording(room, placeholder.id, now)
                actions.append(Action("dropped", placeholder.id, "no egress started"))
                continue
            known.add(found.egress_id)
            location = self._stage.recording_location(room) if placeholder.kind is EgressKind.RECORDING else ""
            status = int(lk_egress.EgressStatus.EGRESS_STARTING)
            await self._records.settle_recording(room, placeholder.id, found.egress_id, status, location, now)
            await self._listener.egress_moved(room, found)  # where LiveKit has it now, told as it moves
            actions.append(Action("adopted", found.egress_id, placeholder.kind.value))
        return actions

    async def _egress(self, room: str, recording: Recording, quiet_since: int, ended: bool = False) -> list[Action]:
        """A recording or stream the record holds as running (at most one of each kind a room):
        LiveKit's egress is asked where it stands, and the record follows if it has moved on. A
        stream's destinations follow LiveKit's too, once no change of them can be in flight
        (changed before `quiet_since`): an UpdateStream whose instance died between writing the
        record and asking LiveKit, or whose LiveKit call failed after LiveKit had made it, left
        the record naming other destinations than LiveKit sends to."""
        try:
            info = await self._stage.egress(recording.id)
        except errors.ShowError as exc:  # the rest of the room's pass does not wait on it
            log.warning("could not ask LiveKit about egress %s of %s: %s", recording.id, room, exc.message)
            return []
        if info is None and not ended:
            # A live show's: its worker may run on, unlisted (LiveKit restarted without its store);
            # StopRecording reaches it, and takes it as ended if LiveKit no longer has it.
            return []
        if info is None:
            # An ended show's, LiveKit no longer knows (its end unheard, then forgotten: a LiveKit
            # restarted without its store, or its clean-up of ended egresses): it ended unseen, as
            # a stop that finds it gone takes it; nothing else could end it (no room to stop it in).
            info = lk_egress.EgressInfo(
                egress_id=recording.id, room_name=room, status=lk_egress.EgressStatus.EGRESS_ABORTED,
                error="LiveKit no longer has this egress",
            )  # fmt: skip
        if info.status > recording.status:
            if not await self._listener.egress_moved(room, info):
                return []
            return [Action("egress", recording.id, lk_egress.EgressStatus.Name(info.status))]
        if recording.kind is not EgressKind.STREAM or info.status != lk_egress.EgressStatus.EGRESS_ACTIVE:
            return []
        sending = self._stage.streaming_to(info)
        if not sending or sending == tuple(sorted(recording.destinations)) or recording.destinations_at > quiet_since:
            return []
        if not await self._listener.stream_redirected(room, recording, sending):
            return []
        return [Action("destinations", recording.id, ",".join(sending))]

    async def _abandoned_hands(self, room: str, now: float) -> list[Action]:
        """Lowers the hands whose owner LiveKit does not have, among the first HANDS_PER_PASS of
        the queue (those a host invites next) and the next HANDS_PER_PASS after where the room's
        previous look stopped (so every hand is looked at in turn). A hand is raised only by
        someone LiveKit had connected, and their leave lowers it once the grace window is over;
        one found without its owner had its participant_left lost (or is within its window): it
        is lowered once the window has passed since it was first found so. The store lowers it
        only if it is still the hand that was looked at (not one raised again since by its
        owner, back in the room)."""
        start, last = self._hand_looks.get(room, (0, -math.inf))
        if now - last < self._rules.hands_every_seconds:
            return []
        head = await self._records.hands(room, now, 0, HANDS_PER_PASS)
        start = max(start, len(head))  # the turn goes on past the head
        turn = await self._records.hands(room, now, start, HANDS_PER_PASS) if len(head) == HANDS_PER_PASS else []
        actions: list[Action] = []
        for hand in head + turn:
            if await self._stage.find_participant(room, hand.identity) is not None:
                continue
            actions += await self.hand_unowned(room, hand.identity, Standing(None, hand.raised_at, None))
        # Every hand lowered here stood before the turn's end: the next look goes on from the
        # first hand not yet looked at, and from past the head once the turn reached the end.
        following = start + len(turn) - len(actions) if len(turn) == HANDS_PER_PASS else 0
        self._hand_looks[room] = (following, now)
        return actions

    async def _doubts(
        self, room: str, record: StageRecord, now: float, in_flight: set[str], looked_at: set[str]
    ) -> list[Action]:
        """The participants doubted (the record's, whichever instance wrote them, and those this
        instance could not write there) that this pass, begun at `now`, has not looked at
        already: each one LiveKit has is brought to the record's part. A doubt is settled once a
        pass begun when it was due has looked; one whose change another call is making now is
        not looked at, and stays, as does every one not reached should LiveKit fail meanwhile."""
        kept_here = self._doubted.pop(room, {})
        due = dict(kept_here)
        for doubt in record.doubted:
            due[doubt.identity] = max(doubt.due, due.get(doubt.identity, 0))
        looked = set(due) & (looked_at - in_flight)
        to_look = sorted(set(due) - in_flight - looked_at)
        actions: list[Action] = []
        try:
            for identity in to_look:
                found = await self._stage.find_participant(room, identity)
                if found is not None:
                    role = await self._records.role_of(room, found.identity)
                    if not _agrees(found, role):
                        actions += await self._present(room, found, role)
                looked.add(identity)
        finally:
            settled = {identity for identity in looked if due[identity] <= ms(now)}
            staying = {identity: at for identity, at in kept_here.items() if identity not in settled}
            if staying:  # beside any written again meanwhile: the later due of the two holds
                kept = self._doubted.setdefault(room, {})
                for identity, at in staying.items():
                    kept[identity] = max(at, kept.get(identity, 0))
            done = [doubt for doubt in record.doubted if doubt.identity in settled]
            if done:
                await self._records.settle_doubts(room, done, self._clock.now())
        return actions

    async def _keep_out(self, room: str, live: lk.Room, now: float) -> list[Action]:
        """Removes the banned identities LiveKit has connected. The bans are read in one step;
        LiveKit is asked about each of them, or lists the room if it has fewer participants than bans,
        so a pass costs the smaller of the two and never grows with the audience alone."""
        banned = [ban.identity for ban in await self._records.bans(room, now)]
        if len(banned) < live.num_participants:
            connected = [who for who in banned if await self._stage.find_participant(room, who) is not None]
        else:
            listed = {who.identity for who in await self._stage.list_participants(room)}
            connected = [who for who in banned if who in listed]
        return [Action("kept_out", who) for who in connected if await self._stage.remove_participant(room, who)]

    async def _strangers(self, room: str, seated: set[str], now: float, *, adopt: bool) -> list[Action]:
        """LiveKit has participants who may publish without a seat in the record: list the room
        (rare: only on a mismatch) and send each back to the audience, or, when the record was
        lost (`adopt`), give each the seat its attributes claim if the rules allow."""
        actions: list[Action] = []
        for who in await self._stage.list_participants(room):
            if who.identity in seated or who.kind != lk.ParticipantInfo.Kind.STANDARD:
                continue
            if not who.permission.can_publish and who.attributes.get("role", "viewer") == "viewer":
                continue
            claimed = who.attributes.get("role")
            role = await self._adopt(room, who, claimed, now) if adopt else None
            if role is not None:
                actions.append(Action("adopted", who.identity, role.value))
                if not _agrees(who, role):
                    actions += await self._present(room, who, role)
            else:
                actions += await self._present(room, who, await self._records.role_of(room, who.identity))
        return actions

    async def _adopt(self, room: str, who: lk.ParticipantInfo, claimed: str | None, now: float) -> Role | None:
        connection = connection_of(who)
        try:
            if claimed == Role.HOST.value:
                # A show whose record was lost was opened already, and may be live: it is adopted
                # live, so that a lost record never takes the stage away from its audience.
                await self._records.claim_host(
                    room, who.identity, who.name or who.identity, now, self._rules.host_claim_seconds, connection,
                    Phase.LIVE,
                )  # fmt: skip
                return Role.HOST
            if claimed == Role.GUEST.value:
                # The seat is bound to the holder of the connection LiveKit has.
                await self._records.invite(
                    room, who.identity, now, 60.0, self._rules.guest_limit, None, connection=connection
                )
                change_id = new_change_id()
                limit = self._rules.guest_limit
                seating = await self._records.accept(room, who.identity, now, limit, connection, change_id)
                if seating.promoted:
                    await self._records.complete(room, who.identity, StageChange.PROMOTE, change_id)
                    return Role.GUEST
        except errors.ShowError as exc:
            if exc.code is errors.Code.UNAVAILABLE:
                raise
        return None


def _agrees(who: lk.ParticipantInfo, role: Role, locked: tuple[str, ...] = ()) -> bool:
    """Whether LiveKit's permission and attributes for `who` are those of `role`, without the
    sources the host took away from it (`locked`) and with every other one."""
    grants = GRANTS[role]
    if not sources_agree(who, grants, locked):
        return False
    return who.permission.can_publish == grants.can_publish and who.attributes.get("role") == role.value


class MemoryLeases:
    """Leases for a single instance (the in-process store): one pass per room at a time."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._held: dict[str, tuple[str, float]] = {}

    async def take(self, room: str, holder: str, seconds: float) -> bool:
        now = self._clock.now()
        current = self._held.get(room)
        if current is not None and current[0] != holder and current[1] > now:
            return False
        self._held[room] = (holder, now + seconds)
        return True

    async def give_back(self, room: str, holder: str) -> None:
        if self._held.get(room, ("", 0.0))[0] == holder:
            self._held.pop(room, None)
