"""The show's record (service/core/record.py), one suite over every store: in process, a single
redis-server, and a real three-node Redis Cluster on loopback.

Rules are checked as the show's users meet them (one host, the guest limit, invitations that
expire, LiveKit's events judged by their connection); time is the test's, passed in, so expiry
needs no sleeping except where Redis itself expires keys.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis
from redis.crc import key_slot

from service.config import Settings
from service.core import errors
from service.core.clock import ManualClock
from service.core.record import (
    KEPT_RECORDINGS,
    MODERATORS_PER_ROOM,
    Admission,
    AwayViewer,
    Ban,
    Connection,
    Departure,
    Doubt,
    EgressKind,
    Hand,
    HistoryEntry,
    Phase,
    Place,
    Recording,
    Seat,
    ShowRecords,
    StageChange,
    Standing,
    Verdict,
    ms,
)
from service.core.roles import Role
from service.dev.redis_cluster import RedisCluster
from service.dev.redis_server import RedisServer
from service.stores.memory_record import MemoryRecords
from service.stores.records import StoreUnreachable, open_records
from service.stores.redis_record import (
    ACTIVITY,
    DEFAULT_CHANGE_SECONDS,
    ROOM_KEYS,
    STAGE_CHANGES,
    RedisRecords,
    connect,
    room_keys,
    room_tag,
)

T0 = 1_704_067_200.0
LIMIT = 1
STALE_AFTER = 60.0
INVITE_FOR = 60.0
IDLE = 3600.0


KINDS = ["memory", "redis", "cluster"]


def _client(kind: str, request: pytest.FixtureRequest) -> redis.Redis | redis.RedisCluster:
    if kind == "redis":  # Redis of the store's tests alone: no instance's reconciler looks at it
        server: RedisServer = request.getfixturevalue("store_redis_server")
        return connect(server.url, cluster=False)
    cluster: RedisCluster = request.getfixturevalue("store_redis_cluster")
    return connect(cluster.url, cluster=True)


def _store(
    kind: str, request: pytest.FixtureRequest, idle: float = IDLE, history: int = 10_000, starting: float = 30.0
) -> ShowRecords:
    if kind == "memory":
        return MemoryRecords(idle_seconds=idle, history_entries=history, starting_seconds=starting)
    client = _client(kind, request)
    return RedisRecords(client, idle_seconds=idle, history_entries=history, starting_seconds=starting)


@pytest.fixture(params=KINDS)
async def records(request: pytest.FixtureRequest) -> AsyncIterator[ShowRecords]:
    store = _store(request.param, request)
    yield store
    await store.close()


@pytest.fixture
def room() -> str:
    return f"show-{uuid.uuid4().hex[:10]}"


async def _hosted(records: ShowRecords, room: str, host: str = "hana") -> None:
    assert await records.claim_host(room, host, "Hana", T0, STALE_AFTER)


async def _refused(code: errors.Code, message: str, step: Awaitable[object]) -> None:
    with pytest.raises(errors.ShowError) as refused:
        await step
    assert (refused.value.code, refused.value.message) == (code, message)


async def _kept_in(records: ShowRecords, room: str, key: str) -> set[str]:
    """The identities the room's `…:<key>` hash keeps (`inviters`, `heard`), in whichever store:
    what no read of the record answers, but what a room must not keep for good."""
    if isinstance(records, RedisRecords):
        found = await records.client.hkeys(room_keys(room)[ROOM_KEYS.index(key)])
        return {k.decode() if isinstance(k, bytes) else str(k) for k in found}
    assert isinstance(records, MemoryRecords)
    held = records._rooms.get(room)
    return set(getattr(held, key)) if held is not None else set()


async def _change_due(records: ShowRecords, room: str) -> int | None:
    """When the global stage-change index has the room's latest stage change due (ms), if at all."""
    if isinstance(records, RedisRecords):
        due = await records.client.zscore(STAGE_CHANGES, room)
        return None if due is None else int(due)
    assert isinstance(records, MemoryRecords)
    return records._stage_changes.scores.get(room)


# --- the host slot ---------------------------------------------------------------------------


async def test_a_room_has_one_host(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    assert not await records.claim_host(room, "hana", "Hana", T0 + 1, STALE_AFTER)  # already hers
    await _refused(
        errors.Code.ALREADY_EXISTS,
        "Room already has a host",
        records.claim_host(room, "ivan", "Ivan", T0 + 1, STALE_AFTER),
    )
    stage = await records.stage(room, T0 + 1)
    assert stage.host is not None and (stage.host.identity, stage.host.name, stage.host.since) == (
        "hana",
        "Hana",
        ms(T0),
    )
    assert await records.role_of(room, "hana") is Role.HOST


async def test_a_host_who_never_connected_goes_stale(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await _refused(
        errors.Code.ALREADY_EXISTS,
        errors.ROOM_HAS_HOST,
        records.claim_host(room, "ivan", "Ivan", T0 + STALE_AFTER - 1, STALE_AFTER),
    )
    assert await records.claim_host(room, "ivan", "Ivan", T0 + STALE_AFTER, STALE_AFTER)
    assert await records.role_of(room, "hana") is Role.VIEWER


async def test_a_connected_host_never_goes_stale(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    assert await records.connected(room, "hana", Connection("PA_1", ms(T0)), "", T0) is Verdict.APPLIED
    await _refused(
        errors.Code.ALREADY_EXISTS,
        errors.ROOM_HAS_HOST,
        records.claim_host(room, "ivan", "Ivan", T0 + 10 * STALE_AFTER, STALE_AFTER),
    )


async def test_the_last_host_is_remembered_when_its_seat_is_freed(records: ShowRecords, room: str) -> None:
    assert await records.hosted_by(room) == ""
    await _hosted(records, room)
    await records.connected(room, "hana", Connection("PA_h", ms(T0)), "", T0)
    await records.left(room, "hana", Connection("PA_h", ms(T0)), T0 + 5, "", T0 + 5)
    assert ((await records.stage(room, T0 + 5)).host, await records.hosted_by(room)) == (None, "hana")
    # JoinRoom's one read says so too: the viewer door keeps the name for its own token.
    assert (
        (await records.admission(room, "hana", T0 + 5)).hosted,
        (await records.admission(room, "gia", T0 + 5)).hosted,
    ) == (
        True,
        False,
    )
    await records.claim_host(room, "ivan", "Ivan", T0 + 6, STALE_AFTER)
    assert await records.hosted_by(room) == "ivan"
    assert not (await records.admission(room, "hana", T0 + 6)).hosted
    await records.retire(room)
    assert await records.hosted_by(room) == ""


async def test_a_host_removed_from_the_show_is_not_remembered_as_its_last_host(records: ShowRecords, room: str) -> None:
    """A host whose connection ended keeps the last host's standing; one removed from the show
    (RemoveParticipant) does not, and the show stays as it was (live)."""
    await _hosted(records, room)
    await records.go_live(room, T0 + 1, None)
    assert await records.forget(room, "gia", T0 + 2, removed=True) is Role.VIEWER  # not its host
    assert await records.hosted_by(room) == "hana"
    assert await records.forget(room, "hana", T0 + 3, removed=True) is Role.HOST
    assert (await records.admission(room, "hana", T0 + 3)).hosted is False
    assert await records.hosted_by(room) == ""
    assert (await records.stage(room, T0 + 3)).phase is Phase.LIVE


async def test_a_guest_cannot_also_host(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana")
    await records.forget(room, "hana", T0)
    await _refused(
        errors.Code.FAILED_PRECONDITION,
        "gia is a guest of this room and cannot also host it",
        records.claim_host(room, "gia", "Gia", T0, STALE_AFTER),
    )


async def test_a_raised_hand_and_an_open_invitation_show_in_the_admission(records: ShowRecords, room: str) -> None:
    """JoinRoom's one read says whether a viewer has a hand up or an invitation not yet expired:
    the viewer door keeps such a name for its own token. An expired invitation holds nothing."""
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0 + 1, LIMIT)
    await records.invite(room, "ivo", T0 + 1, INVITE_FOR, LIMIT, acting="hana")
    backstage = Admission(Role.VIEWER, False, Phase.BACKSTAGE)
    assert await records.admission(room, "gia", T0 + 2) == Admission(
        Role.VIEWER, False, Phase.BACKSTAGE, hand_raised=True
    )
    assert await records.admission(room, "ivo", T0 + 2) == Admission(
        Role.VIEWER, False, Phase.BACKSTAGE, invitation_expires_at=ms(T0 + 1 + INVITE_FOR), invited_by="hana"
    )
    assert await records.admission(room, "zoe", T0 + 2) == backstage
    # Up to one millisecond before its end, then no more (as an acceptance judges it).
    assert (await records.admission(room, "ivo", T0 + 1 + INVITE_FOR - 0.001)).invited
    assert await records.admission(room, "ivo", T0 + 1 + INVITE_FOR) == backstage
    await records.set_hand(room, "gia", False, T0 + 3, LIMIT)
    assert await records.admission(room, "gia", T0 + 3) == backstage


async def test_the_admission_names_who_gave_the_open_invitation(records: ShowRecords, room: str) -> None:
    """A viewer back from a reload is told who invited it, in JoinRoom's one read: the host or
    the moderator who gave the invitation it holds now, until it expires, is declined, or is given
    again by someone else; an invitation given back after a refused promotion keeps its sender."""
    await _hosted(records, room)
    await records.appoint(room, "mia", T0, acting="hana")
    await records.invite(room, "ivo", T0 + 1, INVITE_FOR, LIMIT, acting="hana")
    await records.invite(room, "gia", T0 + 1, INVITE_FOR, LIMIT, acting="mia")
    assert (await records.admission(room, "ivo", T0 + 2)).invited_by == "hana"
    assert (await records.admission(room, "gia", T0 + 2)).invited_by == "mia"
    assert (await records.admission(room, "zoe", T0 + 2)).invited_by == ""

    await records.decline(room, "gia", T0 + 3)
    assert (await records.admission(room, "gia", T0 + 3)).invited_by == ""
    await records.invite(room, "gia", T0 + 4, INVITE_FOR, LIMIT, acting="hana")
    assert (await records.admission(room, "gia", T0 + 4)).invited_by == "hana"

    # Accepted, then LiveKit refused the promotion: the invitation is given back with its sender.
    seating = await records.accept(room, "gia", T0 + 5, LIMIT)
    assert (await records.admission(room, "gia", T0 + 5)).invited_by == ""
    assert await records.restore(room, "gia", seating.before, T0 + 6, LIMIT)
    assert (await records.admission(room, "gia", T0 + 6)) == Admission(
        Role.VIEWER, False, Phase.BACKSTAGE, invitation_expires_at=ms(T0 + 4 + INVITE_FOR), invited_by="hana"
    )

    # Expired, then given again by the moderator: the new invitation names the moderator.
    assert (await records.admission(room, "ivo", T0 + 1 + INVITE_FOR)).invited_by == ""
    await records.invite(room, "ivo", T0 + 2 + INVITE_FOR, INVITE_FOR, LIMIT, acting="mia")
    assert (await records.admission(room, "ivo", T0 + 3 + INVITE_FOR)).invited_by == "mia"
    await records.forget(room, "ivo", T0 + 4 + INVITE_FOR)
    assert (await records.admission(room, "ivo", T0 + 4 + INVITE_FOR)).invited_by == ""


async def test_who_gave_an_accepted_invitation_is_kept_only_while_its_promotion_is_pending(
    records: ShowRecords, room: str
) -> None:
    """Who gave an invitation is kept when it is accepted: a promotion LiveKit refuses gives the
    invitation back, from the same sender. Once the promotion is settled (completed, or landed
    by its call), or the guest leaves the stage, nothing asks any more, and it goes: before, it
    stayed for every guest the show ever had, until the room went."""
    await _hosted(records, room)
    await records.set_guest_limit(room, 4, T0)
    for i, who in enumerate(("g0", "g1", "g2", "g3")):
        await records.invite(room, who, T0 + i, INVITE_FOR, LIMIT, acting="hana")
    # g0's promotion is refused: its undo gives the invitation back, from hana still.
    g0 = await records.accept(room, "g0", T0 + 5, LIMIT, change_id="p0")
    assert await records.restore(room, "g0", g0.before, T0 + 6, LIMIT, "p0")
    assert (await records.admission(room, "g0", T0 + 6)).invited_by == "hana"
    # Accepted again, and completed; g1's landed; g2 leaves the stage with its promotion pending.
    assert (await records.accept(room, "g0", T0 + 7, LIMIT, change_id="p0b")).promoted
    assert await records.complete(room, "g0", StageChange.PROMOTE, "p0b")
    assert (await records.accept(room, "g1", T0 + 7, LIMIT, change_id="p1")).promoted
    assert await records.land(room, "g1", StageChange.PROMOTE, "p1", 0, "p1 words", T0 + 8)
    assert (await records.accept(room, "g2", T0 + 7, LIMIT, change_id="p2")).promoted
    await records.unseat(room, "g2", T0 + 8, StageChange.DEMOTE, acting="hana", change_id="d2")
    assert (await records.accept(room, "g3", T0 + 7, LIMIT, change_id="p3")).promoted
    assert await _kept_in(records, room, "inviters") == {"g3"}  # its promotion is on its way
    # g3's is made, and g3 goes back to the audience and leaves the room.
    assert await records.complete(room, "g3", StageChange.PROMOTE, "p3")
    await records.unseat(room, "g3", T0 + 9, StageChange.DEMOTE, acting="hana", change_id="d3")
    assert await records.complete(room, "g3", StageChange.DEMOTE, "d3")
    await records.left(room, "g3", Connection("PA_g3", ms(T0 + 7)), T0 + 10, "", T0 + 10)
    assert await _kept_in(records, room, "inviters") == set()


async def test_claiming_the_host_slot_drops_the_claimants_hand_and_invitation(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.invite(room, "ivan", T0, INVITE_FOR, LIMIT, acting="hana")
    await records.set_hand(room, "ivan", True, T0, 0)  # a limit of 0: stays a raised hand
    await records.forget(room, "hana", T0)
    assert await records.claim_host(room, "ivan", "Ivan", T0, STALE_AFTER)
    assert await records.standing(room, "ivan", T0) == Standing(None, None, None)


# --- invitations, hands and seats ------------------------------------------------------------


async def test_inviting_a_raised_hand_seats_the_viewer_at_once(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0 + 1, LIMIT)
    seating = await records.invite(room, "gia", T0 + 2, INVITE_FOR, LIMIT, acting="hana")
    assert seating.promoted and seating.host == "hana"
    assert seating.before == Standing(None, ms(T0 + 1), None)
    stage = await records.stage(room, T0 + 2)
    assert [g.identity for g in stage.guests] == ["gia"] and stage.hands == 0 and stage.invitations == 0
    # Pending, with the part it puts gia into: what the room hears should a reconciler finish it.
    assert [(p.identity, p.change, p.deadline, p.part) for p in stage.pending] == [
        ("gia", StageChange.PROMOTE, ms(T0 + 2 + 10), Role.GUEST)
    ]


async def test_an_invitation_waits_and_can_be_accepted(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    seating = await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana")
    assert not seating.promoted
    assert (await records.standing(room, "gia", T0)).invitation == ms(T0 + INVITE_FOR)
    assert (await records.stage(room, T0)).invitations == 1
    accepted = await records.accept(room, "gia", T0 + 5, LIMIT, Connection("PA_g", ms(T0 - 30)))
    assert accepted.promoted and accepted.before.invitation == ms(T0 + INVITE_FOR)
    guest = (await records.stage(room, T0 + 5)).guest("gia")
    assert guest is not None and (guest.sid, guest.joined_at, guest.since) == ("PA_g", ms(T0 - 30), ms(T0 + 5))


NOT_HOLDER = (
    "This token was given for gia before gia took its part in this room, to someone else: only the part's"
    " holder's own token or the room's admin token acts with it"
)


async def test_an_invitation_is_bound_to_the_holder_connected_when_it_was_given(
    records: ShowRecords, room: str
) -> None:
    """The invitation goes to the holder LiveKit had connected under the name: another holder's
    token neither accepts, declines nor raises the hand that would accept it, and is refused
    before anything changes, nor does an unmarked token; the holder's token does, and the room's
    admin (no holder asked) always would."""
    await _hosted(records, room)
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, "hana", connection=Connection("PA_g", ms(T0), "h-gia"))
    assert (await records.admission(room, "gia", T0)).holder == "h-gia"
    before = (await records.standing(room, "gia", T0 + 1), await records.stage(room, T0 + 1))
    for step in (
        records.accept(room, "gia", T0 + 1, LIMIT, holder="h-other"),
        records.accept(room, "gia", T0 + 1, LIMIT, holder=""),
        records.decline(room, "gia", T0 + 1, "h-other"),
        records.set_hand(room, "gia", True, T0 + 1, LIMIT, holder="h-other"),
    ):
        await _refused(errors.Code.PERMISSION_DENIED, NOT_HOLDER, step)
    assert (await records.standing(room, "gia", T0 + 1), await records.stage(room, T0 + 1)) == before
    # Lowering a hand, and raising one with no invitation to accept, binds and checks nothing.
    await records.set_hand(room, "gia", False, T0 + 1, LIMIT, holder="h-other")
    assert (await records.accept(room, "gia", T0 + 2, LIMIT, holder="h-gia")).promoted
    assert (await records.admission(room, "gia", T0 + 2)).holder == "h-gia"  # the seat keeps it


async def test_a_part_given_again_is_bound_anew(records: ShowRecords, room: str) -> None:
    """Each part given binds the name again: to the connection's holder, to "" (a connection
    whose token carries no mark, and the host's seat: any unmarked token acts with it) or to
    nobody (a moderator appointed before it connected). An undo's appointment keeps it."""
    await _hosted(records, room)
    assert (await records.admission(room, "hana", T0)).holder == ""  # the host's carries no mark
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, "hana", connection=Connection("PA_g", ms(T0), "h-1"))
    await records.decline(room, "gia", T0 + 1, "h-1")
    await records.invite(room, "gia", T0 + 2, INVITE_FOR, LIMIT, "hana", connection=Connection("PA_g2", ms(T0), ""))
    await _refused(errors.Code.PERMISSION_DENIED, NOT_HOLDER, records.accept(room, "gia", T0 + 3, LIMIT, holder="h-1"))
    await records.decline(room, "gia", T0 + 3, holder="")  # an unmarked token, as the connection was
    await records.appoint(room, "gia", T0 + 4, "hana", connection=Connection("PA_g3", ms(T0), "h-3"))
    assert (await records.admission(room, "gia", T0 + 4)).holder == "h-3"
    await records.dismiss(room, "gia", T0 + 5)
    await records.appoint(room, "gia", T0 + 5.5, None, rebind=False)  # an undo gives the part back as it was
    assert (await records.admission(room, "gia", T0 + 5.5)).holder == "h-3"
    await records.dismiss(room, "gia", T0 + 5.6)
    await records.appoint(room, "gia", T0 + 6, "hana")  # not connected: bound to nobody
    assert (await records.admission(room, "gia", T0 + 6)).holder is None
    await records.end_show(room, T0 + 7, 60.0)
    assert (await records.admission(room, "hana", T0 + 7)).holder is None  # gone with the stage


async def test_a_doubt_is_kept_with_the_room_until_a_pass_settles_it(records: ShowRecords, room: str) -> None:
    """A change undone after LiveKit failed to answer it leaves its participant doubted in the
    record, for whichever instance passes next, until the stage-change deadline: read with the
    stage, made recent for the passes, written again with a later due, settled only as it was
    read (one written again since stays), and gone with the show's end; an ended show keeps
    none. An appointment doubts its moderator in its own step."""
    await _hosted(records, room)
    await records.doubt(room, "mia", T0 + 50)
    await records.doubt(room, "gia", T0 + 50)
    first = Doubt("mia", ms(T0 + 50) + ms(DEFAULT_CHANGE_SECONDS))
    assert (await records.stage(room, T0 + 51)).doubted == (Doubt("gia", first.due), first)
    assert room in await records.active_rooms(T0 + 50, count=100_000)
    await records.doubt(room, "mia", T0 + 51)  # doubted again: one doubt, due later
    again = Doubt("mia", ms(T0 + 51) + ms(DEFAULT_CHANGE_SECONDS))
    await records.settle_doubts(room, [first, Doubt("nobody", 1)], T0 + 52)  # mia's, as read before
    assert (await records.stage(room, T0 + 52)).doubted == (Doubt("gia", first.due), again)
    await records.settle_doubts(room, [again], T0 + 52)
    await records.settle_doubts(room, [], T0 + 52)  # nothing looked at: nothing changes
    assert (await records.stage(room, T0 + 52)).doubted == (Doubt("gia", first.due),)
    await records.appoint(room, "ava", T0 + 52.5, "hana")
    assert Doubt("ava", ms(T0 + 52.5) + ms(DEFAULT_CHANGE_SECONDS)) in (await records.stage(room, T0 + 53)).doubted
    await records.end_show(room, T0 + 53, 60.0)
    assert (await records.stage(room, T0 + 53)).doubted == ()
    await records.doubt(room, "gia", T0 + 54)
    assert (await records.stage(room, T0 + 54)).doubted == ()


async def test_a_viewer_gone_with_a_hand_kept_is_held_away_for_any_instances_pass(
    records: ShowRecords, room: str
) -> None:
    """A leave that keeps a hand or an invitation through the grace window holds the viewer as
    away in the record, with what it kept: counted with the stage, read earliest first up to a
    time and a count, moved on by a later leave (with what that one kept), settled only as it
    was read, and gone with the show's end. A leave that keeps nothing holds nobody away."""
    await _hosted(records, room)
    await records.set_hand(room, "ann", True, T0 + 1, LIMIT)
    await records.set_hand(room, "bo", True, T0 + 1, LIMIT)
    await records.invite(room, "cy", T0 + 1, INVITE_FOR, LIMIT, "hana")
    await records.left(room, "dee", Connection("PA_d", ms(T0)), T0 + 2, "", T0 + 2, keep=True)  # holds nothing
    for at, who in ((T0 + 3, "bo"), (T0 + 4, "ann"), (T0 + 5, "cy")):
        departure = await records.left(room, who, Connection(f"PA_{who}", ms(T0)), at, "", at, keep=True)
        assert departure.kept is not None
    assert (await records.stage(room, T0 + 6)).away == 3
    bo, ann = AwayViewer("bo", ms(T0 + 3), ms(T0 + 1), None), AwayViewer("ann", ms(T0 + 4), ms(T0 + 1), None)
    assert await records.away(room, T0 + 4, 10) == [bo, ann]
    assert await records.away(room, T0 + 9, 1) == [bo]
    await records.set_hand(room, "bo", False, T0 + 6, LIMIT)  # back: lowered, raised again, gone again
    await records.set_hand(room, "bo", True, T0 + 6.5, LIMIT)
    await records.left(room, "bo", Connection("PA_bo2", ms(T0 + 3)), T0 + 7, "", T0 + 7, keep=True)
    await records.settle_away(room, "bo", ms(T0 + 3))  # as read before: the later leave stays
    await records.settle_away(room, "ann", ms(T0 + 4))
    cy = AwayViewer("cy", ms(T0 + 5), None, ms(T0 + 1 + INVITE_FOR))
    assert await records.away(room, T0 + 9, 10) == [cy, AwayViewer("bo", ms(T0 + 7), ms(T0 + 6.5), None)]
    await records.end_show(room, T0 + 8, 60.0)
    assert (await records.stage(room, T0 + 8)).away == 0
    assert await records.away(room, T0 + 9, 10) == []


async def test_an_acceptance_after_the_invitation_expired_is_refused(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana")
    await _refused(
        errors.Code.NOT_FOUND, "No pending invitation for gia", records.accept(room, "gia", T0 + INVITE_FOR, LIMIT)
    )
    assert (await records.stage(room, T0 + INVITE_FOR)).guests == ()
    # One millisecond before its end, it still holds.
    await records.invite(room, "gia", T0 + 100, INVITE_FOR, LIMIT, acting="hana")
    assert (await records.accept(room, "gia", T0 + 100 + INVITE_FOR - 0.001, LIMIT)).promoted


async def test_a_read_record_follows_the_clock_and_every_change(records: ShowRecords, room: str) -> None:
    """Reading twice with nothing written in between (the in-process store hands out the record
    it read before) still sees an invitation expire, and any change after it."""
    await _hosted(records, room)
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana")
    assert (await records.stage(room, T0)).invitations == 1
    assert await records.stage(room, T0 + 1) == await records.stage(room, T0)
    assert (await records.stage(room, T0 + INVITE_FOR - 0.001)).invitations == 1
    assert (await records.stage(room, T0 + INVITE_FOR)).invitations == 0
    await records.set_hand(room, "bo", True, T0 + INVITE_FOR, LIMIT)
    assert (await records.stage(room, T0 + INVITE_FOR)).hands == 1
    await records.invite(room, "bo", T0 + INVITE_FOR, INVITE_FOR, LIMIT, acting="hana")  # on stage at once
    seated = await records.stage(room, T0 + INVITE_FOR)
    assert (seated.hands, [g.identity for g in seated.guests], [p.identity for p in seated.pending]) == (
        0,
        ["bo"],
        ["bo"],
    )
    assert await records.complete(room, "bo", StageChange.PROMOTE)  # outside any step: seen too
    assert (await records.stage(room, T0 + INVITE_FOR)).pending == ()


async def test_a_read_record_counts_the_invitations_open_at_the_time_asked(records: ShowRecords, room: str) -> None:
    """Time is the caller's clock, and a read answers for the time it asks, whatever was read
    before: an invitation open until T0+61 is open at T0+30, though a read at T0+100 found it
    expired (Redis counts it by its expiry; the in-process store handed out the record it had
    read for T0+100, 0 invitations)."""
    await _hosted(records, room)
    await records.invite(room, "gia", T0 + 1, INVITE_FOR, LIMIT, acting="hana")
    assert (await records.stage(room, T0 + 100)).invitations == 0
    assert (await records.stage(room, T0 + 30)).invitations == 1
    assert (await records.stage(room, T0 + 100)).invitations == 0
    assert (await records.stage(room, T0 + INVITE_FOR)).invitations == 1


async def test_declining_ends_the_invitation(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana")
    await records.decline(room, "gia", T0 + 1)
    await _refused(errors.Code.NOT_FOUND, "No pending invitation for gia", records.decline(room, "gia", T0 + 1))
    await _refused(errors.Code.NOT_FOUND, "No pending invitation for gia", records.accept(room, "gia", T0 + 1, LIMIT))


async def test_only_the_host_invites(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await _refused(
        errors.Code.PERMISSION_DENIED,
        errors.ONLY_HOST_PROMOTES,
        records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="ivan"),
    )
    assert not (await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting=None)).promoted  # the admin
    await _refused(
        errors.Code.FAILED_PRECONDITION,
        "hana is the host and is already on stage",
        records.invite(room, "hana", T0, INVITE_FOR, LIMIT, acting="hana"),
    )


async def test_the_guest_limit_holds_for_every_way_onto_the_stage(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.invite(room, "ava", T0, INVITE_FOR, LIMIT, acting="hana")
    await records.invite(room, "bo", T0, INVITE_FOR, LIMIT, acting="hana")
    await records.set_hand(room, "cy", True, T0, LIMIT)
    assert (await records.accept(room, "ava", T0, LIMIT)).promoted
    # The stage is full: accepting, inviting a raised hand, and raising a hand while invited all wait.
    await _refused(errors.Code.PERMISSION_DENIED, errors.ROOM_HAS_GUEST, records.accept(room, "bo", T0, LIMIT))
    await _refused(
        errors.Code.PERMISSION_DENIED,
        errors.ROOM_HAS_GUEST,
        records.invite(room, "cy", T0, INVITE_FOR, LIMIT, acting="hana"),
    )
    assert not (await records.set_hand(room, "bo", True, T0, LIMIT)).promoted
    # A full stage is the MVP's answer whoever is invited, the guest already on it included.
    await _refused(
        errors.Code.PERMISSION_DENIED,
        errors.ROOM_HAS_GUEST,
        records.invite(room, "ava", T0, INVITE_FOR, LIMIT, acting="hana"),
    )
    # A larger limit for this room lets one more on.
    await records.set_guest_limit(room, 2, T0, acting="hana")
    seating = await records.set_hand(room, "bo", True, T0 + 1, LIMIT)
    assert seating.promoted and seating.before.invitation == ms(T0 + INVITE_FOR)
    stage = await records.stage(room, T0 + 1)
    assert (stage.guest_limit, stage.limit(LIMIT), [g.identity for g in stage.guests]) == (2, 2, ["ava", "bo"])


async def test_setting_the_guest_limit_answers_the_one_before(records: ShowRecords, room: str) -> None:
    """So that the room is told only of a real change (UpdateRoomSettings)."""
    await _hosted(records, room)
    assert await records.set_guest_limit(room, 2, T0, acting="hana") is None  # none set: the default
    assert await records.set_guest_limit(room, 2, T0 + 1, acting="hana") == 2
    assert await records.set_guest_limit(room, 3, T0 + 2) == 2
    assert (await records.stage(room, T0 + 2)).guest_limit == 3


async def test_only_the_host_changes_the_guest_limit(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await _refused(
        errors.Code.PERMISSION_DENIED,
        errors.ONLY_HOST_CHANGES_SETTINGS,
        records.set_guest_limit(room, 3, T0, acting="ivan", not_host=errors.ONLY_HOST_CHANGES_SETTINGS),
    )
    assert (await records.stage(room, T0)).guest_limit is None


async def test_only_viewers_raise_hands(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await _refused(
        errors.Code.FAILED_PRECONDITION, "Only viewers can raise a hand", records.set_hand(room, "hana", True, T0, 1)
    )


async def test_hands_are_listed_in_the_order_raised_in_pages(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    for i, who in enumerate(["vic", "ana", "zed", "bea"]):
        await records.set_hand(room, who, True, T0 + i, LIMIT)
    await records.set_hand(room, "vic", True, T0 + 9, LIMIT)  # raising again keeps its place
    assert await records.hands(room, T0 + 10) == [
        Hand("vic", ms(T0), False),
        Hand("ana", ms(T0 + 1), False),
        Hand("zed", ms(T0 + 2), False),
        Hand("bea", ms(T0 + 3), False),
    ]


async def _raise_many(records: ShowRecords, room: str, hands: list[tuple[str, float]]) -> None:
    """Raises each (identity, when) hand, a hundred steps at a time."""
    for start in range(0, len(hands), 100):
        await asyncio.gather(*(records.set_hand(room, who, True, at, LIMIT) for who, at in hands[start : start + 100]))


def _queue_of(count: int, seed: int) -> list[tuple[str, float]]:
    """`count` hands, seven raised in each millisecond, their identities in no order (upper and
    lower case, so the ties' order is byte order whatever a server's locale says)."""
    numbers = random.Random(seed).sample(range(100_000), count)
    return [(f"{'Vv'[n % 2]}{n}", T0 + (i // 7) / 1000) for i, n in enumerate(numbers)]


def _in_order(hands: list[tuple[str, float]]) -> list[str]:
    return [who for _, who in sorted((ms(at), who) for who, at in hands)]


async def test_the_queue_is_read_in_pages_that_go_on_from_where_the_last_ended(records: ShowRecords, room: str) -> None:
    """2,500 raised hands read 200 at a time: each hand once, in the order raised (ties by
    identity), and every page knows the queue's length."""
    await _hosted(records, room)
    hands = _queue_of(2_500, 1)
    await _raise_many(records, room, hands)
    read: list[str] = []
    after: Place | None = None
    while True:
        page = await records.hands_after(room, T0 + 10, after, 200)
        assert page.total == 2_500 and len(page.hands) <= 200
        read += [h.identity for h in page.hands]
        if len(page.hands) < 200:
            break
        after = Place(page.hands[-1].raised_at, page.hands[-1].identity)
    assert read == _in_order(hands)
    assert (await records.hands_after(room, T0 + 10, None, 0)).hands == ()  # a page of none still counts
    assert (await records.hands_after(room, T0 + 10, None, 0)).total == 2_500


async def test_the_raised_hands_among_some_participants_are_read_in_one_step(records: ShowRecords, room: str) -> None:
    """What ListParticipants marks: which of the participants it lists have a hand up, out of a
    queue of 2,500, asked for 2,600 identities at once (more than the Redis step asks of the
    sorted set in one call) and for a few, whatever the rest of the queue holds."""
    await _hosted(records, room)
    hands = _queue_of(2_500, 4)
    await _raise_many(records, room, hands)
    raised = [who for who, _ in hands]
    await records.set_hand(room, raised[8], False, T0 + 5, LIMIT)  # lowered: no longer up
    listed = ["hana", *raised[::2], *(f"quiet-{i}" for i in range(1_349))]
    assert len(listed) == 2_600
    assert await records.raised_among(room, T0 + 10, listed) == frozenset(raised[::2]) - {raised[8]}
    few = ["quiet-1", raised[3], raised[8], raised[2_499], "hana"]
    assert await records.raised_among(room, T0 + 10, few) == {raised[3], raised[2_499]}
    assert await records.raised_among(room, T0 + 10, []) == frozenset()
    assert await records.raised_among(f"{room}-elsewhere", T0 + 10, raised[:5]) == frozenset()


async def test_hands_lowered_and_raised_between_pages_make_none_repeat_or_go_missing(
    records: ShowRecords, room: str
) -> None:
    await _hosted(records, room)
    hands = _queue_of(40, 2)
    await _raise_many(records, room, hands)
    order = _in_order(hands)
    first = await records.hands_after(room, T0 + 1, None, 10)
    assert [h.identity for h in first.hands] == order[:10]
    last = first.hands[-1]
    # The page's last hand goes down (its place is no longer in the queue), so does one the next
    # page would have shown, and a late hand goes up at the end.
    await records.set_hand(room, last.identity, False, T0 + 1, LIMIT)
    await records.set_hand(room, order[12], False, T0 + 1, LIMIT)
    await records.set_hand(room, "late", True, T0 + 2, LIMIT)
    second = await records.hands_after(room, T0 + 2, Place(last.raised_at, last.identity), 100)
    assert [h.identity for h in second.hands] == order[10:12] + order[13:] + ["late"]
    assert second.total == 39
    # A place no hand ever held, between two hands raised in one millisecond ("." sorts before
    # the digits and letters that could follow): the page goes on from the later of the two.
    raised = {who: ms(at) for who, at in hands}
    tie = next(i for i in range(13, 39) if raised[order[i]] == raised[order[i + 1]])
    between = Place(raised[order[tie]], order[tie] + ".")
    assert [h.identity for h in (await records.hands_after(room, T0 + 2, between, 2)).hands] == order[tie + 1 : tie + 3]


async def test_bans_are_read_in_pages_and_a_lifted_ban_skips_no_other(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    banned = [f"{'Tt'[i % 2]}roll-{n}" for i, n in enumerate(random.Random(3).sample(range(1_000), 25))]
    for i, who in enumerate(banned):
        assert await records.ban(room, who, T0 + i // 4, acting="hana")
    order = [who for _, who in sorted((ms(T0 + i // 4), who) for i, who in enumerate(banned))]
    first = await records.bans_after(room, T0 + 10, None, 10)
    assert ([b.identity for b in first.bans], first.total) == (order[:10], 25)
    assert all(b.by == "hana" for b in first.bans)
    await records.unban(room, first.bans[-1].identity, T0 + 10)  # the page's own last ban is lifted
    await records.unban(room, order[11], T0 + 10)
    place = Place(first.bans[-1].since, first.bans[-1].identity)
    second = await records.bans_after(room, T0 + 10, place, 10)
    assert ([b.identity for b in second.bans], second.total) == ([order[10], *order[12:21]], 23)
    rest = await records.bans_after(room, T0 + 10, Place(second.bans[-1].since, second.bans[-1].identity), 10)
    assert [b.identity for b in rest.bans] == order[21:]
    assert (await records.bans_after(room, T0 + 10, None, 1000)).bans == tuple(await records.bans(room, T0 + 10))


async def test_a_hand_shows_whether_an_invitation_waits(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.invite(room, "zed", T0, INVITE_FOR, LIMIT, acting="hana")
    await records.set_hand(room, "gia", True, T0, LIMIT)
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana")  # seats gia: the stage is full
    assert not (await records.set_hand(room, "zed", True, T0 + 1, LIMIT)).promoted
    assert await records.hands(room, T0 + 2) == [Hand("zed", ms(T0 + 1), True)]
    assert await records.hands(room, T0 + INVITE_FOR) == [Hand("zed", ms(T0 + 1), False)]
    for i in range(5):
        await records.set_hand(room, f"v{i}", True, T0 + 2 + i, LIMIT)
    page = await records.hands(room, T0 + 10, offset=2, count=2)
    assert [h.identity for h in page] == ["v1", "v2"]
    assert (await records.stage(room, T0 + 10)).hands == 6


async def test_lowering_a_hand(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    seating = await records.set_hand(room, "gia", False, T0 + 1, LIMIT)
    assert not seating.promoted and seating.before.hand == ms(T0)
    assert await records.hands(room, T0 + 1) == []


async def test_an_abandoned_hand_is_lowered_only_as_it_was_seen(records: ShowRecords, room: str) -> None:
    """The reconciler lowers a hand whose owner LiveKit no longer has, only if it is still the
    hand it looked at."""
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    await records.set_hand(room, "bo", True, T0 + 1, LIMIT)
    assert not await records.lower_abandoned_hand(room, "gia", ms(T0 + 5))  # raised at another time
    assert not await records.lower_abandoned_hand(room, "nobody", ms(T0))
    assert [h.identity for h in await records.hands(room, T0 + 2)] == ["gia", "bo"]
    assert await records.lower_abandoned_hand(room, "gia", ms(T0))
    assert not await records.lower_abandoned_hand(room, "gia", ms(T0))  # once
    assert await records.hands(room, T0 + 2) == [Hand("bo", ms(T0 + 1), False)]
    assert (await records.stage(room, T0 + 2)).hands == 1


async def test_stepping_down_demoting_and_removing_free_the_seat(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.set_guest_limit(room, 3, T0, acting="hana")
    for who in ("ava", "bo", "cy"):
        await records.set_hand(room, who, True, T0, LIMIT)
        await records.invite(room, who, T0, INVITE_FOR, LIMIT, acting="hana")
    await _refused(
        errors.Code.PERMISSION_DENIED,
        errors.ONLY_HOST_DEMOTES,
        records.unseat(room, "ava", T0, StageChange.DEMOTE, acting="bo", not_host=errors.ONLY_HOST_DEMOTES),
    )
    seat = await records.unseat(room, "ava", T0 + 1, StageChange.DEMOTE, acting="hana")
    assert seat.identity == "ava"
    await records.unseat(room, "bo", T0 + 1, StageChange.DEMOTE)  # stepping down: the guest itself
    await records.unseat(room, "cy", T0 + 1, StageChange.REMOVE, acting=None)
    await _refused(errors.Code.NOT_FOUND, errors.GUEST_NOT_FOUND, records.unseat(room, "cy", T0, StageChange.DEMOTE))
    stage = await records.stage(room, T0 + 1)
    assert stage.guests == ()
    assert {(p.identity, p.change, p.part) for p in stage.pending} == {
        ("ava", StageChange.DEMOTE, Role.GUEST),
        ("bo", StageChange.DEMOTE, Role.GUEST),
        ("cy", StageChange.REMOVE, Role.GUEST),
    }


async def test_a_refused_promotion_is_undone(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    seating = await records.invite(room, "gia", T0 + 1, INVITE_FOR, LIMIT, acting="hana")
    assert await records.restore(room, "gia", seating.before, T0 + 2, LIMIT)
    assert await records.standing(room, "gia", T0 + 2) == Standing(None, ms(T0), None)
    stage = await records.stage(room, T0 + 2)
    assert stage.guests == () and stage.pending == () and stage.hands == 1


async def test_a_refused_demotion_is_undone(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana")
    seat = await records.unseat(room, "gia", T0 + 1, StageChange.DEMOTE, acting="hana")
    assert await records.restore(room, "gia", Standing(seat, None, None), T0 + 2, LIMIT)
    stage = await records.stage(room, T0 + 2)
    assert stage.guests == (seat,) and stage.pending == ()


async def test_an_undo_changes_nothing_once_its_change_is_no_longer_pending(records: ShowRecords, room: str) -> None:
    """The undo of a step LiveKit refused names the step's pending change: if a newer change of
    the participant was written since (the host demoted gia while her promotion's call was on its
    way), or the step's change completed, the newer record stands. Before, the undo put back
    gia's raised hand after the host had sent her back to the audience, and cleared the
    demotion's pending change, which its own call then no longer found."""
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    seating = await records.invite(room, "gia", T0 + 1, INVITE_FOR, LIMIT, acting="hana", change_id="p1")
    assert seating.promoted
    await records.unseat(room, "gia", T0 + 2, StageChange.DEMOTE, acting="hana", change_id="d1")
    assert not await records.restore(room, "gia", seating.before, T0 + 3, LIMIT, "p1")
    assert await records.standing(room, "gia", T0 + 3) == Standing(None, None, None)
    (pending,) = await records.pending(room)
    assert (pending.identity, pending.change, pending.id) == ("gia", StageChange.DEMOTE, "d1")
    assert await records.complete(room, "gia", StageChange.DEMOTE, "d1")

    # A change completed (made on LiveKit by another call or the reconciler) is not undone either.
    await records.set_hand(room, "bo", True, T0 + 4, LIMIT)
    taken = await records.invite(room, "bo", T0 + 4, INVITE_FOR, LIMIT, acting="hana", change_id="p2")
    assert await records.complete(room, "bo", StageChange.PROMOTE, "p2")
    assert not await records.restore(room, "bo", taken.before, T0 + 5, LIMIT, "p2")
    assert [g.identity for g in (await records.stage(room, T0 + 5)).guests] == ["bo"]

    # Its own change still pending, the undo applies as before.
    seat = await records.unseat(room, "bo", T0 + 6, StageChange.DEMOTE, acting="hana", change_id="d2")
    assert await records.restore(room, "bo", Standing(seat, None, None), T0 + 7, LIMIT, "d2")
    stage = await records.stage(room, T0 + 7)
    assert [g.identity for g in stage.guests] == ["bo"] and stage.pending == ()


async def test_the_room_hears_each_place_on_the_stage_once(records: ShowRecords, room: str) -> None:
    """What the room is told of a guest's place (ShowRecords.tell): nothing while a newer change
    of it is pending, nothing the record no longer holds, nothing it heard already; a change
    told nothing for a newer one is owed, and told by the undo of that one."""
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    await records.invite(room, "gia", T0 + 1, INVITE_FOR, LIMIT, acting="hana", change_id="p1")
    # p1's call is on its way when the host demotes gia (d1) and promotes her again (p2).
    seat = await records.unseat(room, "gia", T0 + 2, StageChange.DEMOTE, acting="hana", change_id="d1")
    assert await records.complete(room, "gia", StageChange.DEMOTE, "d1")
    assert await records.tell(room, "gia", Role.VIEWER, seat.since, "d1 words", T0 + 2) == ("d1 words",)
    await records.set_hand(room, "gia", True, T0 + 3, LIMIT)
    await records.invite(room, "gia", T0 + 3, INVITE_FOR, LIMIT, acting="hana", change_id="p2")
    assert await records.complete(room, "gia", StageChange.PROMOTE, "p2")
    assert await records.tell(room, "gia", Role.GUEST, 0, "p2 words", T0 + 3) == ("p2 words",)
    # p1 lands last: gia is on stage, as the room heard already.
    assert not await records.complete(room, "gia", StageChange.PROMOTE, "p1")
    assert await records.tell(room, "gia", Role.GUEST, 0, "p1 words", T0 + 4) == ()
    # A demotion of an older seat than the one whose end the room heard is not told either.
    second = await records.unseat(room, "gia", T0 + 5, StageChange.DEMOTE, acting="hana", change_id="d2")
    assert await records.complete(room, "gia", StageChange.DEMOTE, "d2")
    assert await records.tell(room, "gia", Role.VIEWER, second.since, "d2 words", T0 + 5) == ("d2 words",)
    assert await records.tell(room, "gia", Role.VIEWER, seat.since, "d1 again", T0 + 5) == ()

    # bo, a guest the room heard of, is demoted (d3), and promoted again (p3) before LiveKit has
    # the demotion; d3 lands with p3 pending, and is owed.
    await records.set_guest_limit(room, 2, T0 + 6)
    await records.set_hand(room, "bo", True, T0 + 6, 2)
    await records.invite(room, "bo", T0 + 6, INVITE_FOR, 2, acting="hana", change_id="p0")
    assert await records.complete(room, "bo", StageChange.PROMOTE, "p0")
    assert await records.tell(room, "bo", Role.GUEST, 0, "p0 words", T0 + 6) == ("p0 words",)
    bo = await records.unseat(room, "bo", T0 + 7, StageChange.DEMOTE, acting="hana", change_id="d3")
    await records.set_hand(room, "bo", True, T0 + 7, 2)
    again = await records.invite(room, "bo", T0 + 7, INVITE_FOR, 2, acting="hana", change_id="p3")
    assert not await records.complete(room, "bo", StageChange.DEMOTE, "d3")
    assert await records.tell(room, "bo", Role.VIEWER, bo.since, "d3 words", T0 + 8) == ()
    assert await records.tell(room, "bo", Role.VIEWER, 0, "", T0 + 8) == ()  # an undo asks nothing while p3 is pending
    # LiveKit refuses p3: its undo leaves bo off stage, where d3 put him, which the room hears.
    assert await records.restore(room, "bo", again.before, T0 + 9, 2, "p3")
    assert await records.tell(room, "bo", Role.VIEWER, 0, "", T0 + 9) == ("d3 words",)
    assert await records.tell(room, "bo", Role.VIEWER, 0, "", T0 + 9) == ()  # told once

    # An undo with nothing owed tells nothing, and a forgotten participant's place is heard anew.
    await records.invite(room, "bo", T0 + 10, INVITE_FOR, 2, acting="hana", change_id="p4")
    assert await records.complete(room, "bo", StageChange.PROMOTE, "p4")
    assert await records.tell(room, "bo", Role.GUEST, 0, "", T0 + 10) == ()
    assert await records.tell(room, "bo", Role.GUEST, 0, "p4 words", T0 + 10) == ("p4 words",)
    await records.forget(room, "bo", T0 + 11)
    assert await records.tell(room, "bo", Role.VIEWER, 0, "left", T0 + 11) == ("left",)


async def test_a_change_made_on_livekit_is_kept_until_the_room_is_told_of_it(records: ShowRecords, room: str) -> None:
    """A call that made its change on LiveKit lands it (ShowRecords.land): in one step the change
    is no longer owed to LiveKit, and what the room is owed of it, in the call's words, stays
    with it until told, by the call or, should its instance die in between, by a reconciler past
    the landed change's deadline. Whoever tells it first wins; the other finds it heard."""
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    await records.invite(room, "gia", T0 + 1, INVITE_FOR, LIMIT, acting="hana", change_id="p1")
    assert not await records.land(room, "gia", StageChange.PROMOTE, "p0", 0, "p0 words", T0 + 2)  # not its change
    assert await records.land(room, "gia", StageChange.PROMOTE, "p1", 0, "p1 words", T0 + 2)
    (landed,) = await records.pending(room)
    assert (landed.id, landed.landed, landed.words, landed.told_part) == ("p1", True, "p1 words", Role.GUEST)
    assert landed.deadline > ms(T0 + 2)  # a deadline of its own, from its landing
    assert (await records.stage(room, T0 + 2)).pending == (landed,)
    # Landed, it is no longer any call's to clear or land, nor an undo's to undo.
    assert not await records.complete(room, "gia", StageChange.PROMOTE, "p1")
    assert not await records.land(room, "gia", StageChange.PROMOTE, "p1", 0, "p1 words", T0 + 2)
    seat = (await records.standing(room, "gia", T0 + 2)).seat
    assert not await records.restore(room, "gia", Standing(None, None, None), T0 + 2, LIMIT, "p1")
    # Its instance died: past the deadline, the reconciler finds it, and tells it in its words.
    assert room in await records.overdue(landed.deadline / 1000 + 1)
    assert await records.tell(room, "gia", Role.GUEST, 0, landed.words, T0 + 3, "p1") == ("p1 words",)
    assert await records.pending(room) == []
    # The call, alive after all, tells it second: nothing.
    assert await records.tell(room, "gia", Role.GUEST, 0, "p1 words", T0 + 3, "p1") == ()

    # A demotion landed by its call, then told by it first; the reconciler's telling comes second.
    assert seat is not None
    await records.unseat(room, "gia", T0 + 4, StageChange.DEMOTE, acting="hana", change_id="d1")
    assert await records.land(room, "gia", StageChange.DEMOTE, "d1", seat.since, "d1 words", T0 + 4)
    (landed,) = await records.pending(room)
    assert (landed.ended, landed.told_part) == (seat.since, Role.VIEWER)
    assert await records.tell(room, "gia", Role.VIEWER, seat.since, "d1 words", T0 + 4, "d1") == ("d1 words",)
    assert await records.tell(room, "gia", Role.VIEWER, landed.ended, landed.words, T0 + 5, "d1") == ()
    assert await records.pending(room) == []

    # Promoted again (p2) and landed, then a lock: it moves nobody's place, and p2 stays to be told.
    await records.invite(room, "gia", T0 + 6, INVITE_FOR, LIMIT, acting="hana", change_id="p2")
    await records.accept(room, "gia", T0 + 6, LIMIT, change_id="p2")
    assert await records.land(room, "gia", StageChange.PROMOTE, "p2", 0, "p2 words", T0 + 6)
    await records.lock_source(room, "gia", "camera", True, 2, T0 + 6)
    assert [p.id for p in await records.pending(room)] == ["p2"]
    # Demoted (d2) before p2 was told, and p2's instance dies: p2 is owed, and the undo of a
    # refused d2 tells it.
    second = await records.unseat(room, "gia", T0 + 7, StageChange.DEMOTE, acting="hana", change_id="d2")
    assert await records.restore(room, "gia", Standing(second, None, None), T0 + 8, LIMIT, "d2")
    assert await records.tell(room, "gia", Role.GUEST, 0, "", T0 + 8) == ("p2 words",)
    assert await records.tell(room, "gia", Role.GUEST, 0, "", T0 + 8) == ()  # told once


async def test_a_moderator_whose_connection_ends_keeps_what_the_room_heard_of_it(
    records: ShowRecords, room: str
) -> None:
    """A moderator holds its part through a leave (a reload, a network blip): what the room heard
    of it stays, so an appointment made again before a dismissal lands is told once, as ever."""
    await _hosted(records, room)
    await records.appoint(room, "mo", T0, acting="hana")
    assert await records.tell(room, "mo", Role.MODERATOR, 0, "a1", T0) == ("a1",)
    left = await records.left(room, "mo", Connection("PA_mo", ms(T0)), T0 + 1, "", T0 + 1)
    assert left.verdict is Verdict.NOT_HELD
    assert await records.role_of(room, "mo") is Role.MODERATOR
    await records.dismiss(room, "mo", T0 + 2, "d1")
    await records.appoint(room, "mo", T0 + 3, acting="hana")
    assert await records.tell(room, "mo", Role.MODERATOR, 0, "a2", T0 + 3) == ()
    assert await records.tell(room, "mo", Role.MODERATOR, ms(T0 + 2), "d1", T0 + 4) == ()


async def test_the_room_hears_each_change_of_a_moderators_part_once(records: ShowRecords, room: str) -> None:
    """ShowRecords.tell for a moderator's part: an appointment is told unless the room heard the
    moderator appointed and never heard it dismissed since; a dismissal, unless the record holds
    it appointed again or the room heard it dismissed already; a change of the stage pending
    silences neither."""
    await _hosted(records, room)
    await records.appoint(room, "mo", T0, acting="hana")
    assert await records.tell(room, "mo", Role.MODERATOR, 0, "a1", T0) == ("a1",)
    assert await records.tell(room, "mo", Role.MODERATOR, 0, "a1 again", T0) == ()
    # Dismissed (d1), and appointed again before d1's call lands: neither is told.
    await records.dismiss(room, "mo", T0 + 1, "d1")
    await records.appoint(room, "mo", T0 + 2, acting="hana")
    assert await records.tell(room, "mo", Role.MODERATOR, 0, "a2", T0 + 2) == ()
    assert await records.tell(room, "mo", Role.MODERATOR, ms(T0 + 1), "d1", T0 + 3) == ()
    # Dismissed (d2): told once, by its call or a reconciler, whichever comes first.
    await records.dismiss(room, "mo", T0 + 4, "d2")
    assert await records.tell(room, "mo", Role.MODERATOR, ms(T0 + 4), "d2", T0 + 4) == ("d2",)
    assert await records.tell(room, "mo", Role.MODERATOR, ms(T0 + 4), "d2 reconciled", T0 + 5) == ()
    assert await records.tell(room, "mo", Role.MODERATOR, 0, "a0 late", T0 + 5) == ()  # not a moderator
    await records.appoint(room, "mo", T0 + 6, acting="hana")
    assert await records.tell(room, "mo", Role.MODERATOR, 0, "a3", T0 + 6) == ("a3",)
    # Dismissed (d3), then promoted before d3's call lands: d3 is told with the promotion pending.
    await records.dismiss(room, "mo", T0 + 7, "d3")
    await records.set_hand(room, "mo", True, T0 + 7, LIMIT)
    assert (await records.invite(room, "mo", T0 + 7, INVITE_FOR, LIMIT, acting="hana", change_id="p1")).promoted
    assert await records.tell(room, "mo", Role.MODERATOR, ms(T0 + 7), "d3", T0 + 8) == ("d3",)
    assert await records.complete(room, "mo", StageChange.PROMOTE, "p1")
    assert await records.tell(room, "mo", Role.GUEST, 0, "p1", T0 + 8) == ("p1",)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_room_that_is_gone_hears_nothing_and_gains_no_keys(
    kind: str, request: pytest.FixtureRequest, room: str
) -> None:
    """gia's demotion and mo's dismissal are on their way to LiveKit when the room is retired
    (LiveKit's room_finished): their calls, telling late, find no room, and the room hears
    nothing of either, as it hears nothing in a room never opened. Nothing is written either:
    a room that is gone gains no key (before, Redis told both and kept what the room heard in a
    `…:heard` key of a room that no longer was; the memory store told nothing)."""
    store = _store(kind, request)
    try:
        await _hosted(store, room)
        await store.set_hand(room, "gia", True, T0, LIMIT)
        await store.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana", change_id="p1")
        assert await store.complete(room, "gia", StageChange.PROMOTE, "p1")
        assert await store.tell(room, "gia", Role.GUEST, 0, "p1 words", T0) == ("p1 words",)
        seat = await store.unseat(room, "gia", T0 + 1, StageChange.DEMOTE, "hana", change_id="d1", words="d1")
        await store.appoint(room, "mo", T0 + 1, acting="hana")
        assert await store.tell(room, "mo", Role.MODERATOR, 0, "a1", T0 + 1) == ("a1",)
        await store.dismiss(room, "mo", T0 + 2, "m1", words="m1")
        assert await store.retire(room)
        assert await store.tell(room, "gia", Role.VIEWER, seat.since, "d1 call", T0 + 3, "d1") == ()
        assert await store.tell(room, "gia", Role.VIEWER, seat.since, "d1 call", T0 + 3) == ()
        assert await store.tell(room, "mo", Role.MODERATOR, ms(T0 + 2), "m1 call", T0 + 3, "m1") == ()
        never = f"{room}-never"
        assert await store.tell(never, "gia", Role.VIEWER, ms(T0), "late", T0 + 3) == ()
        assert await store.tell(never, "mo", Role.MODERATOR, ms(T0), "late", T0 + 3) == ()
        assert await store.pending(room) == []
        assert await store.history(room, 0, 10, T0 + 3) == []
        if kind != "memory":
            client = _client(kind, request)
            try:
                for name in (room, never):
                    kept = {key: int(await client.pttl(key)) for key in room_keys(name) if await client.exists(key)}
                    assert kept == {}, name
            finally:
                await client.aclose()
    finally:
        await store.close()


async def test_a_guest_being_demoted_who_leaves_is_still_told_leaving_the_stage(
    records: ShowRecords, room: str
) -> None:
    """gia, on stage as the room heard, is demoted by an instance that dies before LiveKit has
    it; she then leaves LiveKit with her hand up, and the leave frees what she held. It frees no
    seat (she is a viewer already), so it is the demotion that tells the room she left the
    stage: it stays pending, for the reconciler to finish and tell, once. Before, the leave
    dropped it, and the room never heard her leave. So for a moderator's dismissal."""
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    await records.invite(room, "gia", T0 + 1, INVITE_FOR, LIMIT, acting="hana", change_id="p1")
    assert await records.complete(room, "gia", StageChange.PROMOTE, "p1")
    assert await records.tell(room, "gia", Role.GUEST, 0, "p1 words", T0 + 1) == ("p1 words",)
    await records.unseat(room, "gia", T0 + 2, StageChange.DEMOTE, acting="hana", change_id="d1", words="d1 words")
    await records.set_hand(room, "gia", True, T0 + 3, LIMIT)
    departure = await records.left(room, "gia", Connection("PA_gia", ms(T0)), T0 + 4, "", T0 + 4)
    assert departure == Departure(Verdict.APPLIED, Role.VIEWER, True)
    (pending,) = await records.pending(room)
    assert (pending.id, pending.change, pending.landed) == ("d1", StageChange.DEMOTE, False)
    assert room in await records.overdue(pending.deadline / 1000 + 60)
    # The reconciler past its deadline: LiveKit no longer has her; the room hears it once.
    assert await records.complete(room, "gia", StageChange.DEMOTE, "d1")
    assert await records.tell(room, "gia", Role.VIEWER, pending.since, "finished", T0 + 40) == ("finished",)
    assert await records.tell(room, "gia", Role.VIEWER, pending.since, "finished", T0 + 40) == ()

    # The host removes mo, a moderator being dismissed, from the room: the dismissal stays too.
    await records.appoint(room, "mo", T0 + 5, acting="hana")
    assert await records.tell(room, "mo", Role.MODERATOR, 0, "a1", T0 + 5) == ("a1",)
    await records.dismiss(room, "mo", T0 + 6, "m1", words="m1 words")
    assert await records.forget(room, "mo", T0 + 7) is Role.VIEWER
    assert [p.id for p in await records.pending(room)] == ["m1"]
    assert await records.complete(room, "mo", StageChange.DEMOTE, "m1")
    assert await records.tell(room, "mo", Role.MODERATOR, ms(T0 + 6), "m1 done", T0 + 40) == ("m1 done",)

    # bo, demoted while on stage, leaves, and is back and promoted before the reconciler came:
    # the demotion is owed, heard before the promotion.
    await records.set_guest_limit(room, 2, T0 + 8)
    await records.set_hand(room, "bo", True, T0 + 8, 2)
    await records.invite(room, "bo", T0 + 8, INVITE_FOR, 2, acting="hana", change_id="p2")
    assert await records.complete(room, "bo", StageChange.PROMOTE, "p2")
    assert await records.tell(room, "bo", Role.GUEST, 0, "p2 words", T0 + 8) == ("p2 words",)
    await records.unseat(room, "bo", T0 + 9, StageChange.DEMOTE, acting="hana", change_id="d2", words="d2 words")
    await records.set_hand(room, "bo", True, T0 + 9, 2)
    await records.left(room, "bo", Connection("PA_bo", ms(T0)), T0 + 10, "", T0 + 10)
    await records.set_hand(room, "bo", True, T0 + 11, 2)
    await records.invite(room, "bo", T0 + 11, INVITE_FOR, 2, acting="hana", change_id="p3")
    assert await records.complete(room, "bo", StageChange.PROMOTE, "p3")
    assert await records.tell(room, "bo", Role.GUEST, 0, "p3 words", T0 + 11) == ("d2 words", "p3 words")


async def test_what_the_room_heard_of_a_demoted_guest_goes_once_it_leaves_as_a_viewer(
    records: ShowRecords, room: str
) -> None:
    """gia, on stage as the room heard, is demoted and told so; she then leaves LiveKit holding
    nothing (a viewer's leave that frees nothing). What the room heard of her goes, as it goes
    with whatever a participant held when it leaves: before, the `…:heard` entry of every guest
    who left as a viewer stayed until the room went. bo, demoted and told too, leaves with his
    hand up within his reconnect window and is not back: his hand lowered, it goes too. cy's
    demotion is still pending when she leaves: it stays, for the room to hear that change once."""
    await _hosted(records, room)
    await records.set_guest_limit(room, 3, T0)
    seats = {}
    for who, at in (("gia", T0 + 1), ("bo", T0 + 2), ("cy", T0 + 3)):
        await records.set_hand(room, who, True, at, LIMIT)
        await records.invite(room, who, at, INVITE_FOR, LIMIT, acting="hana", change_id=f"p-{who}")
        assert await records.complete(room, who, StageChange.PROMOTE, f"p-{who}")
        assert await records.tell(room, who, Role.GUEST, 0, f"{who} on", at) == (f"{who} on",)
        seats[who] = await records.unseat(room, who, at + 10, StageChange.DEMOTE, "hana", change_id=f"d-{who}")
    for who in ("gia", "bo"):
        assert await records.complete(room, who, StageChange.DEMOTE, f"d-{who}")
        assert await records.tell(room, who, Role.VIEWER, seats[who].since, f"{who} off", T0 + 20) == (f"{who} off",)
    assert await _kept_in(records, room, "heard") == {"gia", "bo", "cy"}
    left = await records.left(room, "gia", Connection("PA_gia", ms(T0 + 1)), T0 + 21, "", T0 + 21)
    assert left.verdict is Verdict.NOT_HELD
    await records.set_hand(room, "bo", True, T0 + 21, LIMIT)
    left = await records.left(room, "bo", Connection("PA_bo", ms(T0 + 2)), T0 + 22, "", T0 + 22, keep=True)
    assert left.kept is not None
    assert await records.lower_abandoned_hand(room, "bo", left.kept.hand)
    left = await records.left(room, "cy", Connection("PA_cy", ms(T0 + 3)), T0 + 23, "", T0 + 23)
    assert left.verdict is Verdict.NOT_HELD
    assert await _kept_in(records, room, "heard") == {"cy"}
    # The reconciler finishes cy's demotion past its deadline: the room hears it once.
    assert await records.complete(room, "cy", StageChange.DEMOTE, "d-cy")
    assert await records.tell(room, "cy", Role.VIEWER, seats["cy"].since, "cy off", T0 + 40) == ("cy off",)
    assert await records.tell(room, "cy", Role.VIEWER, seats["cy"].since, "cy off", T0 + 40) == ()


async def test_a_guest_promoted_again_before_her_demotion_landed_is_heard_leaving_in_between(
    records: ShowRecords, room: str
) -> None:
    """Promoted (p1, told), demoted (d1) and promoted again (p2) before LiveKit had the demotion:
    p2's telling finds the room heard gia on stage in an older seat, and tells d1 first, in the
    words it was written with; d1's call, landing last, tells nothing. The room hears each change
    of place once, in the record's order, never the same place twice in a row (before, it heard
    guest_promoted twice)."""
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    await records.invite(room, "gia", T0 + 1, INVITE_FOR, LIMIT, acting="hana", change_id="p1")
    assert await records.complete(room, "gia", StageChange.PROMOTE, "p1")
    assert await records.tell(room, "gia", Role.GUEST, 0, "p1 words", T0 + 1) == ("p1 words",)
    seat = await records.unseat(
        room, "gia", T0 + 2, StageChange.DEMOTE, acting="hana", change_id="d1", words="d1 words"
    )
    (written,) = await records.pending(room)
    assert (written.words, written.ended, written.landed) == ("d1 words", seat.since, False)
    await records.set_hand(room, "gia", True, T0 + 3, LIMIT)
    await records.invite(room, "gia", T0 + 3, INVITE_FOR, LIMIT, acting="hana", change_id="p2")
    assert await records.complete(room, "gia", StageChange.PROMOTE, "p2")
    assert await records.tell(room, "gia", Role.GUEST, 0, "p2 words", T0 + 4) == ("d1 words", "p2 words")
    assert not await records.land(room, "gia", StageChange.DEMOTE, "d1", seat.since, "d1 call", T0 + 5)
    assert await records.tell(room, "gia", Role.VIEWER, seat.since, "d1 call", T0 + 5, "d1") == ()

    # Demoted (d2) and told; a demotion told late after it is not heard: never off stage twice.
    second = await records.unseat(room, "gia", T0 + 6, StageChange.DEMOTE, acting="hana", change_id="d2")
    assert await records.complete(room, "gia", StageChange.DEMOTE, "d2")
    assert await records.tell(room, "gia", Role.VIEWER, second.since, "d2 words", T0 + 6) == ("d2 words",)
    assert await records.tell(room, "gia", Role.VIEWER, second.since + 1, "late", T0 + 6) == ()
    # Promoted (p3), landed and not told (its instance died), then demoted (d3): the room, which
    # heard gia off stage, hears p3 before d3.
    await records.set_hand(room, "gia", True, T0 + 7, LIMIT)
    await records.invite(room, "gia", T0 + 7, INVITE_FOR, LIMIT, acting="hana", change_id="p3")
    assert await records.land(room, "gia", StageChange.PROMOTE, "p3", 0, "p3 words", T0 + 7)
    third = await records.unseat(room, "gia", T0 + 8, StageChange.DEMOTE, acting="hana", change_id="d3")
    assert await records.complete(room, "gia", StageChange.DEMOTE, "d3")
    assert await records.tell(room, "gia", Role.VIEWER, third.since, "d3 words", T0 + 8) == ("p3 words", "d3 words")
    # A demotion written without words (an older version's) and overwritten before it was told
    # leaves nothing owed: the promotion after it is not heard either, the room having heard
    # gia on stage last, and the record holds her there.
    await records.set_hand(room, "gia", True, T0 + 9, LIMIT)
    await records.invite(room, "gia", T0 + 9, INVITE_FOR, LIMIT, acting="hana", change_id="p4")
    assert await records.complete(room, "gia", StageChange.PROMOTE, "p4")
    assert await records.tell(room, "gia", Role.GUEST, 0, "p4 words", T0 + 9) == ("p4 words",)
    await records.unseat(room, "gia", T0 + 10, StageChange.DEMOTE, acting="hana", change_id="d4")
    await records.set_hand(room, "gia", True, T0 + 10, LIMIT)
    await records.invite(room, "gia", T0 + 10, INVITE_FOR, LIMIT, acting="hana", change_id="p5")
    assert await records.complete(room, "gia", StageChange.PROMOTE, "p5")
    assert await records.tell(room, "gia", Role.GUEST, 0, "p5 words", T0 + 11) == ()


async def test_a_moderator_dismissed_then_promoted_is_heard_dismissed_first(records: ShowRecords, room: str) -> None:
    """mo, a moderator, is dismissed (m1) and promoted (p1) before the dismissal's call lands: the
    promotion, told first, tells the dismissal before it, in the words it was written with, and
    the dismissal's call, landing last, finds it heard. Before, the room heard the promotion
    first. Should the dismissal's call land first, it tells it in its own words, once."""
    await _hosted(records, room)
    await records.appoint(room, "mo", T0, acting="hana")
    assert await records.tell(room, "mo", Role.MODERATOR, 0, "a1", T0) == ("a1",)
    await records.dismiss(room, "mo", T0 + 1, "m1", words="m1 words")
    await records.set_hand(room, "mo", True, T0 + 2, LIMIT)
    assert (await records.invite(room, "mo", T0 + 2, INVITE_FOR, LIMIT, acting="hana", change_id="p1")).promoted
    assert await records.complete(room, "mo", StageChange.PROMOTE, "p1")
    assert await records.tell(room, "mo", Role.GUEST, 0, "p1 words", T0 + 3) == ("m1 words", "p1 words")
    assert not await records.land(room, "mo", StageChange.DEMOTE, "m1", ms(T0 + 1), "m1 call", T0 + 4)
    assert await records.tell(room, "mo", Role.MODERATOR, ms(T0 + 1), "m1 call", T0 + 4, "m1") == ()

    # cy the same, but the dismissal's call lands (and tells) before the promotion's.
    await records.set_guest_limit(room, 2, T0 + 5)
    await records.appoint(room, "cy", T0 + 5, acting="hana")
    assert await records.tell(room, "cy", Role.MODERATOR, 0, "a2", T0 + 5) == ("a2",)
    await records.dismiss(room, "cy", T0 + 6, "m2", words="m2 words")
    await records.set_hand(room, "cy", True, T0 + 7, 2)
    assert (await records.invite(room, "cy", T0 + 7, INVITE_FOR, 2, acting="hana", change_id="p2")).promoted
    assert await records.tell(room, "cy", Role.MODERATOR, ms(T0 + 6), "m2 call", T0 + 8, "m2") == ("m2 call",)
    assert await records.complete(room, "cy", StageChange.PROMOTE, "p2")
    assert await records.tell(room, "cy", Role.GUEST, 0, "p2 words", T0 + 9) == ("p2 words",)
    # Dismissed, then appointed again before the dismissal was told: neither is heard, as before.
    await records.set_hand(room, "zed", True, T0 + 10, 2)
    await records.appoint(room, "zed", T0 + 10, acting="hana")
    assert await records.tell(room, "zed", Role.MODERATOR, 0, "a3", T0 + 10) == ("a3",)
    await records.dismiss(room, "zed", T0 + 11, "m3", words="m3 words")
    await records.appoint(room, "zed", T0 + 12, acting="hana")
    assert await records.tell(room, "zed", Role.MODERATOR, 0, "a4", T0 + 12) == ()
    assert await records.tell(room, "zed", Role.MODERATOR, ms(T0 + 11), "m3 call", T0 + 13, "m3") == ()


async def test_a_refused_demotion_is_not_undone_past_the_guest_limit(records: ShowRecords, room: str) -> None:
    """While LiveKit was refusing gia's demotion, another viewer took the seat it freed: giving it
    back would put two guests on a stage of one. The demotion stands, pending for the reconciler."""
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana")
    await records.complete(room, "gia", StageChange.PROMOTE)
    seat = await records.unseat(room, "gia", T0 + 1, StageChange.DEMOTE, acting="hana")
    await records.invite(room, "bo", T0 + 1, INVITE_FOR, LIMIT, acting="hana")
    taken = await records.accept(room, "bo", T0 + 1, LIMIT)
    assert taken.promoted
    assert not await records.restore(room, "gia", Standing(seat, None, None), T0 + 2, LIMIT)
    stage = await records.stage(room, T0 + 2)
    assert [g.identity for g in stage.guests] == ["bo"]
    assert ("gia", StageChange.DEMOTE) in {(p.identity, p.change) for p in stage.pending}
    # With room for it (the room's own limit raised), the same undo gives the seat back.
    await records.set_guest_limit(room, 2, T0 + 2)
    assert await records.restore(room, "gia", Standing(seat, None, None), T0 + 3, LIMIT)
    assert sorted(g.identity for g in (await records.stage(room, T0 + 3)).guests) == ["bo", "gia"]


async def test_a_refused_demotion_gives_no_seat_back_to_someone_banned_meanwhile(
    records: ShowRecords, room: str
) -> None:
    """The host demotes gia (d1, on its way to LiveKit); meanwhile the host removes and bans her
    (RemoveParticipant: the ban, LiveKit's removal, forget, which keeps a change off a part
    pending). LiveKit then refuses the demotion: its undo would give her seat back, but nobody
    banned is put forward, so it gives nothing, and the demotion stays pending. Nor does the
    undo of a refused promotion give a hand or an invitation back to someone banned meanwhile:
    it takes the seat, and the viewer holds nothing."""
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana", change_id="p1")
    assert await records.complete(room, "gia", StageChange.PROMOTE, "p1")
    seat = await records.unseat(room, "gia", T0 + 1, StageChange.DEMOTE, acting="hana", change_id="d1")
    assert await records.ban(room, "gia", T0 + 2, "hana")
    await records.forget(room, "gia", T0 + 2)
    assert not await records.restore(room, "gia", Standing(seat, None, None), T0 + 3, LIMIT, "d1")
    stage = await records.stage(room, T0 + 3)
    assert stage.guests == ()
    assert [(p.identity, p.id) for p in stage.pending] == [("gia", "d1")]
    assert await records.role_of(room, "gia") is Role.VIEWER

    # bo's promotion (his raised hand) and cy's (the invitation he accepted) are on their way to
    # LiveKit when both are banned; LiveKit refuses them.
    await records.set_guest_limit(room, 3, T0 + 4)
    await records.set_hand(room, "bo", True, T0 + 4, LIMIT)
    bo = await records.invite(room, "bo", T0 + 4, INVITE_FOR, LIMIT, acting="hana", change_id="p2")
    await records.invite(room, "cy", T0 + 4, INVITE_FOR, LIMIT, acting="hana")
    cy = await records.accept(room, "cy", T0 + 5, LIMIT, change_id="p3")
    assert bo.promoted and cy.promoted and cy.before.invitation is not None
    for who in ("bo", "cy"):
        assert await records.ban(room, who, T0 + 6, "hana")
    assert await records.restore(room, "bo", bo.before, T0 + 7, LIMIT, "p2")
    assert await records.restore(room, "cy", cy.before, T0 + 7, LIMIT, "p3")
    for who in ("bo", "cy"):
        assert await records.standing(room, who, T0 + 7) == Standing(None, None, None)
    stage = await records.stage(room, T0 + 7)
    assert (stage.guests, stage.hands, stage.invitations) == ((), 0, 0)
    assert [p.identity for p in stage.pending] == ["gia"]
    assert "cy" not in await _kept_in(records, room, "inviters")


async def test_a_refused_demotion_gives_no_seat_back_to_the_host_or_a_moderator(
    records: ShowRecords, room: str
) -> None:
    """gia is demoted (d1, on its way to LiveKit); the host leaves, and gia claims the host seat
    (which leaves d1 pending). LiveKit refuses the demotion: its undo would make her host and
    guest at once, her guest seat taking the stage's only place. One part at a time: the newer
    part stands, and no seat is given back. So for a moderator's part (an undo naming no change)."""
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana", change_id="p1")
    assert await records.complete(room, "gia", StageChange.PROMOTE, "p1")
    seat = await records.unseat(room, "gia", T0 + 1, StageChange.DEMOTE, acting="hana", change_id="d1")
    await records.forget(room, "hana", T0 + 2)  # the host leaves
    assert await records.claim_host(room, "gia", "Gia", T0 + 3, STALE_AFTER)
    assert not await records.restore(room, "gia", Standing(seat, None, None), T0 + 4, LIMIT, "d1")
    stage = await records.stage(room, T0 + 4)
    assert stage.host is not None and stage.host.identity == "gia"
    assert stage.guests == ()
    assert await records.role_of(room, "gia") is Role.HOST

    await records.set_hand(room, "bo", True, T0 + 5, LIMIT)
    await records.invite(room, "bo", T0 + 5, INVITE_FOR, LIMIT, acting="gia")
    bo = await records.unseat(room, "bo", T0 + 6, StageChange.DEMOTE, acting="gia")
    await records.appoint(room, "bo", T0 + 7, acting="gia")
    assert not await records.restore(room, "bo", Standing(bo, None, None), T0 + 8, LIMIT)
    stage = await records.stage(room, T0 + 8)
    assert (stage.guests, stage.moderators) == ((), ("bo",))
    assert await records.role_of(room, "bo") is Role.MODERATOR


async def test_forgetting_a_participant_frees_all_it_held(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.invite(room, "zed", T0, INVITE_FOR, LIMIT, acting=None)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana")
    await records.set_hand(room, "ivo", True, T0, LIMIT)
    assert await records.forget(room, "gia", T0) is Role.GUEST
    assert await records.forget(room, "ivo", T0) is Role.VIEWER
    assert await records.forget(room, "hana", T0) is Role.HOST
    stage = await records.stage(room, T0)
    assert (stage.host, stage.guests, stage.hands, stage.pending) == (None, (), 0, ())
    assert stage.invitations == 1  # zed's is his own


async def test_a_refused_step_changes_nothing(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana")
    await records.set_hand(room, "ivo", True, T0, LIMIT)
    await records.invite(room, "zed", T0, INVITE_FOR, 2, acting="hana")
    await records.reserve_recording(room, "pending-1", "grid", T0)
    await records.appoint(room, "mo", T0, acting="hana")
    await records.ban(room, "troll", T0, acting="mo")
    await records.lock_source(room, "gia", "camera", True, 2, T0)

    async def view() -> tuple[object, ...]:
        return (
            await records.stage(room, T0),
            await records.hands(room, T0),
            await records.standing(room, "zed", T0),
            await records.bans(room, T0),
            await records.hosted_by(room),
        )

    before = await view()
    refusals = [
        records.claim_host(room, "ivan", "Ivan", T0, STALE_AFTER),
        records.invite(room, "ivo", T0, INVITE_FOR, LIMIT, acting="hana"),
        records.invite(room, "ivo", T0, INVITE_FOR, 5, acting="gia"),
        records.accept(room, "zed", T0, LIMIT),
        records.accept(room, "ivo", T0, 5),
        records.decline(room, "ivo", T0),
        records.set_hand(room, "gia", True, T0, 5),
        records.unseat(room, "ivo", T0, StageChange.DEMOTE),
        records.unseat(room, "gia", T0, StageChange.DEMOTE, acting="ivo", not_host=errors.ONLY_HOST_DEMOTES),
        records.set_guest_limit(room, 4, T0, acting="gia", not_host=errors.ONLY_HOST_CHANGES_SETTINGS),
        records.reserve_recording(room, "pending-2", "grid", T0),
        records.appoint(room, "mo", T0, acting=None),
        records.appoint(room, "gia", T0, acting=None),
        records.appoint(room, "troll", T0, acting=None),
        records.appoint(room, "ivo", T0, acting="mo", not_host="no"),
        records.dismiss(room, "ivo", T0),
        records.ban(room, "hana", T0, acting=None),
        records.ban(room, "ivo", T0, acting="gia", not_host="no"),
        records.unban(room, "ivo", T0),
        records.lock_source(room, "gia", "microphone", True, 2, T0),
        records.lock_source(room, "ivo", "camera", True, 2, T0),
        records.claim_host(room, "mo", "Mo", T0 + STALE_AFTER * 2, STALE_AFTER),
        records.invite(room, "mo", T0, INVITE_FOR, 5, acting="hana"),
    ]
    for step in refusals:
        with pytest.raises(errors.ShowError):
            await step
    assert await view() == before


# --- moderators and bans ----------------------------------------------------------------------


async def test_the_host_appoints_and_dismisses_moderators(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.set_hand(room, "mo", True, T0, LIMIT)
    before = await records.appoint(room, "mo", T0 + 1, acting="hana")
    assert before.hand == ms(T0)  # its hand goes: a moderator does not queue for the stage
    await records.appoint(room, "ann", T0, acting=None)  # the admin
    assert await records.role_of(room, "mo") is Role.MODERATOR
    stage = await records.stage(room, T0 + 2)
    assert (stage.moderators, stage.hands) == (("ann", "mo"), 0)
    assert stage.role_of("mo") is Role.MODERATOR
    await records.dismiss(room, "mo", T0 + 3)
    assert await records.role_of(room, "mo") is Role.VIEWER
    await _refused(errors.Code.NOT_FOUND, "mo is not a moderator", records.dismiss(room, "mo", T0 + 3))
    stage = await records.stage(room, T0 + 3)
    assert stage.moderators == ("ann",)
    # Pending until LiveKit has it, for the reconciler should the caller die first.
    # A demotion out of the moderators, not off the stage: a reconciler finishing it knows which.
    assert [(p.identity, p.change, p.part) for p in stage.pending] == [("mo", StageChange.DEMOTE, Role.MODERATOR)]
    assert await records.complete(room, "mo", StageChange.DEMOTE)
    assert (await records.stage(room, T0 + 3)).pending == ()


async def test_who_may_be_appointed(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.appoint(room, "mo", T0, acting="hana")
    await records.set_hand(room, "gia", True, T0, LIMIT)
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana")
    no = "Only the host can appoint moderators"
    await _refused(errors.Code.PERMISSION_DENIED, no, records.appoint(room, "ann", T0, acting="mo", not_host=no))
    await _refused(errors.Code.ALREADY_EXISTS, "mo is already a moderator", records.appoint(room, "mo", T0, None))
    await _refused(errors.Code.FAILED_PRECONDITION, "hana is not a viewer", records.appoint(room, "hana", T0, None))
    await _refused(errors.Code.FAILED_PRECONDITION, "gia is not a viewer", records.appoint(room, "gia", T0, None))
    await records.ban(room, "troll", T0, acting="hana")
    await _refused(
        errors.Code.FAILED_PRECONDITION, "troll is banned from this room", records.appoint(room, "troll", T0, None)
    )
    for n in range(MODERATORS_PER_ROOM - 1):
        await records.appoint(room, f"m{n}", T0, acting=None)
    await _refused(
        errors.Code.FAILED_PRECONDITION,
        f"A room has at most {MODERATORS_PER_ROOM} moderators",
        records.appoint(room, "one-more", T0, None),
    )
    await _refused(
        errors.Code.FAILED_PRECONDITION,
        "mo is a moderator of this room; dismiss it before it hosts",
        records.claim_host(room, "mo", "Mo", T0 + STALE_AFTER * 2, STALE_AFTER),
    )


async def test_a_moderator_manages_the_stage_but_not_the_settings(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.appoint(room, "mo", T0, acting="hana")
    raised = await records.set_hand(room, "gia", True, T0, LIMIT)
    assert (raised.host, raised.moderators) == ("hana", ("mo",))  # those who hear of the hand
    assert (await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="mo")).promoted
    await records.unseat(room, "gia", T0, StageChange.DEMOTE, acting="mo", not_host=errors.ONLY_HOST_DEMOTES)
    # An answer to an invitation is told to the same people, whoever invited.
    assert not (await records.invite(room, "ivy", T0, INVITE_FOR, LIMIT, acting="mo")).promoted
    accepted = await records.accept(room, "ivy", T0, LIMIT)
    assert (accepted.promoted, accepted.host, accepted.moderators) == (True, "hana", ("mo",))
    await records.unseat(room, "ivy", T0, StageChange.DEMOTE, acting="hana", not_host=errors.ONLY_HOST_DEMOTES)
    await _refused(
        errors.Code.PERMISSION_DENIED,
        errors.ONLY_HOST_CHANGES_SETTINGS,
        records.set_guest_limit(room, 2, T0, acting="mo", not_host=errors.ONLY_HOST_CHANGES_SETTINGS),
    )
    await _refused(
        errors.Code.FAILED_PRECONDITION, errors.ONLY_VIEWERS_RAISE, records.set_hand(room, "mo", True, T0, 1)
    )
    await _refused(
        errors.Code.FAILED_PRECONDITION,
        "mo is not a viewer",
        records.invite(room, "mo", T0, INVITE_FOR, LIMIT, acting="hana"),
    )
    await records.dismiss(room, "mo", T0)
    await _refused(
        errors.Code.PERMISSION_DENIED,
        errors.ONLY_HOST_PROMOTES,
        records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="mo"),
    )


async def test_bans_are_kept_until_lifted_and_never_touch_the_host(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.appoint(room, "mo", T0, acting="hana")
    await records.appoint(room, "max", T0, acting="hana")
    assert await records.ban(room, "troll", T0 + 1, acting="mo")
    assert not await records.ban(room, "troll", T0 + 2, acting="hana")  # already banned: kept as it was
    assert await records.ban(room, "spam", T0 + 1, acting=None)
    assert await records.admission(room, "troll", T0 + 1) == Admission(Role.VIEWER, True, Phase.BACKSTAGE)
    assert await records.admission(room, "gia", T0 + 1) == Admission(Role.VIEWER, False, Phase.BACKSTAGE)
    assert await records.bans(room, T0) == [Ban("spam", ms(T0 + 1), ""), Ban("troll", ms(T0 + 1), "mo")]
    await _refused(
        errors.Code.FAILED_PRECONDITION,
        "The host cannot be banned; end the show instead",
        records.ban(room, "hana", T0, acting=None),
    )
    await _refused(errors.Code.PERMISSION_DENIED, errors.MODERATOR_ON_MANAGER, records.ban(room, "max", T0, "mo"))
    # A moderator banning itself is refused in the core's words for removing itself.
    await _refused(errors.Code.PERMISSION_DENIED, errors.MODERATOR_REMOVES_ITSELF, records.ban(room, "mo", T0, "mo"))
    await _refused(errors.Code.PERMISSION_DENIED, "no", records.ban(room, "zed", T0, acting="gia", not_host="no"))
    assert await records.ban(room, "max", T0 + 3, acting="hana")  # the host may ban a moderator
    assert await records.forget(room, "max", T0 + 3) is Role.MODERATOR  # removed: no longer a moderator
    assert await records.admission(room, "max", T0 + 3) == Admission(Role.VIEWER, True, Phase.BACKSTAGE)
    await records.unban(room, "troll", T0 + 4)
    await _refused(errors.Code.NOT_FOUND, "troll is not banned", records.unban(room, "troll", T0 + 4))
    assert [b.identity for b in await records.bans(room, T0)] == ["spam", "max"]
    assert (await records.stage(room, T0)).bans == 2
    assert await records.retire(room)  # bans end with the show
    assert await records.bans(room, T0) == [] and not (await records.admission(room, "spam", T0)).banned


async def test_nobody_banned_raises_a_hand_or_goes_on_stage(records: ShowRecords, room: str) -> None:
    """A banned participant back in LiveKit with a token it still held stays there until its
    removal: meanwhile it raises no hand, is invited nowhere and takes no seat. Lifting the ban
    lets it."""
    await _hosted(records, room)
    await records.invite(room, "troll", T0, INVITE_FOR, LIMIT, acting="hana")
    assert await records.ban(room, "troll", T0 + 1, acting="hana")
    banned = "troll is banned from this room"
    await _refused(errors.Code.FAILED_PRECONDITION, banned, records.set_hand(room, "troll", True, T0 + 2, LIMIT))
    await _refused(
        errors.Code.FAILED_PRECONDITION, banned, records.invite(room, "troll", T0 + 2, INVITE_FOR, LIMIT, acting="hana")
    )
    # Its invitation (the ban's step leaves it for the removal that follows) is not accepted.
    await _refused(errors.Code.FAILED_PRECONDITION, banned, records.accept(room, "troll", T0 + 2, LIMIT))
    assert not (await records.set_hand(room, "troll", False, T0 + 2, LIMIT)).promoted  # lowering is never refused
    record = await records.stage(room, T0 + 2)
    assert (record.hands, record.guests) == (0, ())
    await records.unban(room, "troll", T0 + 3)
    assert (await records.invite(room, "troll", T0 + 4, INVITE_FOR, LIMIT, acting="hana")).promoted is False
    await records.set_hand(room, "troll", True, T0 + 5, LIMIT)  # raising while invited takes the free seat
    assert [g.identity for g in (await records.stage(room, T0 + 5)).guests] == ["troll"]


async def test_the_host_takes_a_source_from_a_guest_and_gives_it_back(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana")
    assert await records.lock_source(room, "gia", "microphone", True, 2, T0) == ("microphone",)
    assert await records.lock_source(room, "gia", "microphone", True, 2, T0) == ("microphone",)  # once
    await records.connected(room, "gia", Connection("PA_g", ms(T0)), "", T0)  # a rewrite of the seat keeps it
    [seat] = (await records.stage(room, T0)).guests
    assert (seat.locked, seat.sid) == (("microphone",), "PA_g")
    await _refused(
        errors.Code.FAILED_PRECONDITION,
        "gia would have nothing left to publish; demote the guest instead",
        records.lock_source(room, "gia", "camera", True, 2, T0),
    )
    assert await records.lock_source(room, "gia", "microphone", False, 2, T0) == ()
    assert (await records.standing(room, "gia", T0)).seat.locked == ()  # type: ignore[union-attr]
    await records.lock_source(room, "gia", "camera", True, 2, T0)
    await records.unseat(room, "gia", T0, StageChange.DEMOTE)  # leaving the stage ends it
    await _refused(
        errors.Code.NOT_FOUND, errors.GUEST_NOT_FOUND, records.lock_source(room, "gia", "camera", True, 2, T0)
    )


# --- recordings ------------------------------------------------------------------------------


async def test_one_recording_at_a_time_and_never_backwards(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.reserve_recording(room, "pending-1", "speaker", T0)
    await _refused(
        errors.Code.FAILED_PRECONDITION,
        "Room is already being recorded",
        records.reserve_recording(room, "pending-2", "grid", T0),
    )
    await records.settle_recording(room, "pending-1", "EG_1", 0, "/out/1.mp4", T0 + 1)
    assert await records.record_progress(room, "EG_1", 1, T0 + 2, "", "", T0 + 2) == (0, 1)
    assert await records.record_progress(room, "EG_1", 0, T0 + 3, "", "", T0 + 3) == (1, 1)  # a late report
    assert await records.record_progress(room, "EG_1", 3, T0 + 4, "", "s3://b/1.mp4", T0 + 4) == (1, 3)
    assert await records.record_progress(room, "EG_unknown", 3, T0, "", "", T0) is None
    stage = await records.stage(room, T0 + 4)
    (done,) = stage.recordings
    assert (done.id, done.status, done.started_at, done.ended_at, done.location) == (
        "EG_1",
        3,
        ms(T0),
        ms(T0 + 4),
        "s3://b/1.mp4",
    )
    assert stage.active_recording() is None
    await records.reserve_recording(room, "pending-2", "grid", T0 + 5)
    await records.drop_recording(room, "pending-2", T0 + 6)  # LiveKit refused to start it
    assert [r.id for r in (await records.stage(room, T0 + 6)).recordings] == ["EG_1"]


async def test_a_recording_ending_makes_way_for_the_next_and_a_stream_ending_does_not(
    records: ShowRecords, room: str
) -> None:
    # A recording stopped (ENDING) only writes out its file: the next part of the show may be
    # recorded meanwhile. A stream ending still holds its destinations' ingest until it ends.
    await _hosted(records, room)
    stream = EgressKind.STREAM
    await records.reserve_recording(room, "pending-1", "speaker", T0)
    await records.settle_recording(room, "pending-1", "EG_1", 1, "/out/1.mp4", T0 + 1)
    await records.reserve_recording(room, "pending-s", "speaker", T0, stream, ("youtube",))
    await records.settle_recording(room, "pending-s", "EG_s", 1, "", T0 + 1)
    assert await records.record_progress(room, "EG_1", 2, T0 + 2, "", "", T0 + 2) == (1, 2)
    assert await records.record_progress(room, "EG_s", 2, T0 + 2, "", "", T0 + 2) == (1, 2)
    await records.reserve_recording(room, "pending-2", "grid", T0 + 3)
    await _refused(
        errors.Code.FAILED_PRECONDITION,
        "Room is already being recorded",
        records.reserve_recording(room, "pending-3", "grid", T0 + 3),
    )
    await _refused(
        errors.Code.FAILED_PRECONDITION,
        "Room is already being streamed; stop that stream or change its destinations",
        records.reserve_recording(room, "pending-s2", "speaker", T0 + 3, stream, ("youtube",)),
    )
    stage = await records.stage(room, T0 + 3)
    assert [r.id for r in stage.of_kind(EgressKind.RECORDING)] == ["EG_1", "pending-2"]
    assert _ids(stage.active_recording(), stage.active_recording(stream)) == [
        "pending-2",
        "EG_s",
    ]  # what a stop acts on
    await records.settle_recording(room, "pending-2", "EG_2", 0, "/out/2.mp4", T0 + 4)
    assert await records.record_progress(room, "EG_1", 3, T0 + 5, "", "", T0 + 5) == (2, 3)
    stage = await records.stage(room, T0 + 5)
    assert _ids(stage.active_recording()) == ["EG_2"]
    assert await records.record_progress(room, "EG_2", 2, T0 + 6, "", "", T0 + 6) == (0, 2)
    # Only one, ending: a stop acts on it again (LiveKit answers it as it stands).
    assert _ids((await records.stage(room, T0 + 6)).active_recording()) == ["EG_2"]


def _ids(*recordings: Recording | None) -> list[str | None]:
    return [r.id if r else None for r in recordings]


async def test_a_room_drops_its_oldest_ended_recordings_never_one_still_ending(records: ShowRecords, room: str) -> None:
    # A recording stopped makes way for the next while it writes out its file: twenty more may
    # start and end meanwhile (a long upload, a stuck worker). It is kept, its end still to be heard.
    await _hosted(records, room)
    await records.reserve_recording(room, "pending-a", "speaker", T0)
    await records.settle_recording(room, "pending-a", "EG_a", 1, "/out/a.mp4", T0 + 1)
    assert await records.record_progress(room, "EG_a", 2, T0 + 2, "", "", T0 + 2) == (1, 2)
    for i in range(KEPT_RECORDINGS + 1):
        at = T0 + 10 + i
        await records.reserve_recording(room, f"pending-{i}", "speaker", at)
        await records.settle_recording(room, f"pending-{i}", f"EG_{i}", 1, "", at)
        await records.record_progress(room, f"EG_{i}", 3, at, "", "", at)
    kept = [r.id for r in (await records.stage(room, T0 + 40)).recordings]
    assert kept == ["EG_a"] + [f"EG_{i}" for i in range(2, KEPT_RECORDINGS + 1)]  # 0 and 1 went
    assert await records.record_progress(room, "EG_a", 3, T0 + 41, "", "/out/a.mp4", T0 + 41) == (2, 3)


async def test_a_room_keeps_its_last_twenty_recordings(records: ShowRecords, room: str) -> None:
    for i in range(23):
        await records.reserve_recording(room, f"pending-{i}", "grid", T0 + i)
        await records.record_progress(room, f"pending-{i}", 4, T0 + i, "failed", "", T0 + i)
    kept = (await records.stage(room, T0 + 30)).recordings
    assert [r.id for r in kept] == [f"pending-{i}" for i in range(3, 23)]
    assert kept[0].error == "failed"


async def test_a_stream_runs_beside_a_recording_one_at_a_time(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.reserve_recording(room, "pending-r", "speaker", T0)
    stream = EgressKind.STREAM
    await records.reserve_recording(room, "pending-s", "speaker", T0, stream, ("youtube", "twitch"))
    await _refused(
        errors.Code.FAILED_PRECONDITION,
        "Room is already being streamed; stop that stream or change its destinations",
        records.reserve_recording(room, "pending-s2", "speaker", T0, stream, ("youtube",)),
    )
    await records.settle_recording(room, "pending-s", "EG_s", 1, "", T0 + 1)
    assert await records.set_destinations(room, "EG_s", ("twitch",), T0 + 2)
    assert not await records.set_destinations(room, "EG_unknown", ("twitch",), T0 + 2)
    stage = await records.stage(room, T0 + 2)
    active = stage.active_recording(stream)
    assert active is not None and (active.id, active.kind, active.destinations) == ("EG_s", stream, ("twitch",))
    assert [r.id for r in stage.of_kind(EgressKind.RECORDING)] == ["pending-r"]
    assert stage.active_recording().id == "pending-r"  # type: ignore[union-attr]
    assert await records.record_progress(room, "EG_s", 3, T0 + 3, "", "", T0 + 3) == (1, 3)
    assert (await records.stage(room, T0 + 3)).active_recording(stream) is None
    await records.reserve_recording(room, "pending-s3", "speaker", T0 + 4, stream, ("youtube",))
    await records.drop_recording(room, "pending-s3", T0 + 4)  # LiveKit refused to start it
    # Streams never push recordings out of the room's last twenty, nor the other way round.
    for i in range(22):
        await records.reserve_recording(room, f"p-{i}", "grid", T0 + 5, stream, ("youtube",))
        await records.record_progress(room, f"p-{i}", 4, T0 + 5, "", "", T0 + 5)
    stage = await records.stage(room, T0 + 6)
    assert [r.id for r in stage.of_kind(EgressKind.RECORDING)] == ["pending-r"]
    assert len(stage.of_kind(stream)) == KEPT_RECORDINGS


async def test_destinations_read_are_written_only_if_still_as_read(records: ShowRecords, room: str) -> None:
    """The reconciler writes LiveKit's destinations over those it read: not over a change made
    since (an UpdateStream's), nor once the stream has ended. Each change keeps its moment."""
    await _hosted(records, room)
    await records.reserve_recording(room, "pending-s", "speaker", T0, EgressKind.STREAM, ("youtube",))
    await records.settle_recording(room, "pending-s", "EG_s", 1, "", T0 + 1)
    read = (await records.stage(room, T0 + 1)).recording("EG_s")
    assert read is not None and (read.destinations, read.destinations_at) == (("youtube",), 0)
    assert await records.set_destinations(room, "EG_s", ("twitch", "youtube"), T0 + 2)  # an UpdateStream
    assert not await records.set_destinations(room, "EG_s", ("youtube",), T0 + 3, read=read)
    now_read = (await records.stage(room, T0 + 3)).recording("EG_s")
    assert now_read is not None and (now_read.destinations, now_read.destinations_at) == (
        ("twitch", "youtube"),
        ms(T0 + 2),
    )
    assert await records.set_destinations(room, "EG_s", ("twitch",), T0 + 4, read=now_read)
    after = (await records.stage(room, T0 + 4)).recording("EG_s")
    assert after is not None and (after.destinations, after.destinations_at) == (("twitch",), ms(T0 + 4))
    await records.record_progress(room, "EG_s", 3, T0 + 5, "", "", T0 + 5)
    ended = (await records.stage(room, T0 + 5)).recording("EG_s")
    assert not await records.set_destinations(room, "EG_s", ("youtube",), T0 + 6, read=ended)
    assert not await records.set_destinations(room, "EG_none", ("youtube",), T0 + 6, read=ended)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_recording_left_starting_by_a_dead_instance_is_given_up_past_the_bound(
    kind: str, request: pytest.FixtureRequest, room: str
) -> None:
    """An instance that died while LiveKit's egress was asked never settles or drops its
    placeholder: past the bound the next StartRecording may go ahead, never before (a slow but
    living one would run a second egress), and a recording that started is never given up."""
    store = _store(kind, request, starting=40.0)
    stream = EgressKind.STREAM
    try:
        await _hosted(store, room)
        await store.reserve_recording(room, "pending-dead", "speaker", T0)
        await store.reserve_recording(room, "pending-dead-s", "speaker", T0, stream, ("youtube",))
        await _refused(
            errors.Code.FAILED_PRECONDITION,
            "Room is already being recorded",
            store.reserve_recording(room, "pending-1", "grid", T0 + 39.9),
        )
        await store.reserve_recording(room, "pending-1", "grid", T0 + 40)
        stage = await store.stage(room, T0 + 40)
        assert [r.id for r in stage.of_kind(EgressKind.RECORDING)] == ["pending-1"]
        assert [r.id for r in stage.of_kind(stream)] == ["pending-dead-s"]  # each kind gives up its own
        await store.reserve_recording(room, "pending-s", "speaker", T0 + 40, stream, ("youtube",))
        await store.settle_recording(room, "pending-1", "EG_1", 1, "/out/1.mp4", T0 + 41)
        await store.settle_recording(room, "pending-s", "EG_s", 1, "", T0 + 41)
        await _refused(
            errors.Code.FAILED_PRECONDITION,
            "Room is already being recorded",
            store.reserve_recording(room, "pending-2", "grid", T0 + 400),
        )
        await _refused(
            errors.Code.FAILED_PRECONDITION,
            "Room is already being streamed; stop that stream or change its destinations",
            store.reserve_recording(room, "pending-s2", "speaker", T0 + 400, stream, ("youtube",)),
        )
        stage = await store.stage(room, T0 + 400)
        assert [(r.id, r.active) for r in stage.recordings] == [("EG_1", True), ("EG_s", True)]
    finally:
        await store.close()


# --- LiveKit's view: connections, incarnations (issue 8) -------------------------------------


async def test_a_leave_after_a_newer_join_keeps_the_seat(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    old, new = Connection("PA_old", ms(T0)), Connection("PA_new", ms(T0 + 5))
    assert await records.connected(room, "hana", old, "RM_1", T0) is Verdict.APPLIED
    assert await records.connected(room, "hana", new, "RM_1", T0 + 5) is Verdict.APPLIED
    assert await records.connected(room, "hana", old, "RM_1", T0 + 6) is Verdict.STALE  # late join of the old one
    assert await records.left(room, "hana", old, T0 + 7, "RM_1", T0 + 7) == Departure(Verdict.STALE, None)
    assert await records.role_of(room, "hana") is Role.HOST
    host = (await records.stage(room, T0 + 7)).host
    assert host is not None and (host.sid, host.joined_at) == ("PA_new", ms(T0 + 5))
    # The current connection's leave frees the seat, whatever second it carries.
    departure = await records.left(room, "hana", new, T0 - 100, "RM_1", T0 + 8)
    assert departure == Departure(Verdict.APPLIED, Role.HOST)
    assert (await records.stage(room, T0 + 8)).host is None


async def test_a_leave_of_a_newer_unseen_connection_frees_the_seat(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.connected(room, "hana", Connection("PA_1", ms(T0)), "", T0)
    departure = await records.left(room, "hana", Connection("PA_2", ms(T0 + 3)), T0 + 4, "", T0 + 4)
    assert departure.freed is Role.HOST


async def test_a_seat_notes_its_holder_away_until_a_connection_is_heard(records: ShowRecords, room: str) -> None:
    """A seat holder's absence (its leave heard, or a pass not finding it on LiveKit) is in the
    record, from its first moment, so that whichever instance passes frees the seat once the
    grace window from that moment is over; a connection heard again ends it, but a late join of
    the connection gone does not (webhooks come out of order)."""
    await _hosted(records, room)
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana")
    await records.accept(room, "gia", T0 + 1, LIMIT)
    first = Connection("PA_1", ms(T0))
    await records.connected(room, "hana", first, "", T0)
    assert not await records.seat_away(room, "hana", Connection("PA_0", ms(T0 - 5)), T0 + 2)  # an older one
    assert not await records.seat_away(room, "viv", Connection("", 0), T0 + 2)  # no seat
    assert (await _host(records, room, T0 + 2)).away == 0
    assert await records.seat_away(room, "hana", first, T0 + 3)
    assert await records.seat_away(room, "hana", first, T0 + 4)  # heard again: the first moment stays
    assert await records.seat_away(room, "gia", Connection("", 0), T0 + 4)  # a guest never seen connected
    assert room in await records.active_rooms(T0 + 4)  # made recent: every instance's passes look
    host, [guest] = await _host(records, room, T0 + 5), (await records.stage(room, T0 + 5)).guests
    assert (host.away, host.away_of, guest.away) == (ms(T0 + 3), "PA_1", ms(T0 + 4))
    # The gone connection's join, come late, brings nobody back; LiveKit listing it does.
    assert await records.connected(room, "hana", first, "", T0 + 6) is Verdict.STALE
    assert (await _host(records, room, T0 + 6)).away == ms(T0 + 3)
    # A listing asked for before the absence was noted is older than the leave.
    assert await records.connected(room, "hana", first, "", T0 + 6, listed_at=T0 + 2) is Verdict.STALE
    assert await records.connected(room, "hana", first, "", T0 + 6, listed_at=T0 + 5) is Verdict.APPLIED
    assert await records.connected(room, "gia", Connection("PA_g", ms(T0 + 6)), "", T0 + 6) is Verdict.APPLIED
    host, [guest] = await _host(records, room, T0 + 6), (await records.stage(room, T0 + 6)).guests
    assert (host.sid, host.joined_at, host.away) == ("PA_1", ms(T0), 0)
    assert (guest.sid, guest.away) == ("PA_g", 0)
    # A newer connection, its join unheard, leaving: the holder was back in between, and the
    # absence starts again from its leave. Its late join, or the older one's, ends nothing.
    assert await records.seat_away(room, "hana", first, T0 + 7)
    second = Connection("PA_2", ms(T0 + 8))
    assert await records.seat_away(room, "hana", second, T0 + 9)
    assert ((host := await _host(records, room, T0 + 9)).away, host.away_of) == (ms(T0 + 9), "PA_2")
    assert await records.connected(room, "hana", second, "", T0 + 10) is Verdict.STALE
    assert await records.connected(room, "hana", first, "", T0 + 10) is Verdict.STALE
    assert await records.seat_away(room, "hana", first, T0 + 10)  # the older one's leave, late: kept
    assert (await _host(records, room, T0 + 10)).away == ms(T0 + 9)
    assert await records.connected(room, "hana", Connection("PA_3", ms(T0 + 11)), "", T0 + 11) is Verdict.APPLIED
    assert (await _host(records, room, T0 + 11)).away == 0
    # A leave of the seat's own connection carrying no join time (or whole seconds) is of it all
    # the same: the absence counts, and that connection's late join ends nothing.
    assert await records.seat_away(room, "hana", Connection("PA_3", 0), T0 + 12)
    assert ((host := await _host(records, room, T0 + 12)).away, host.away_joined) == (ms(T0 + 12), ms(T0 + 11))
    assert await records.connected(room, "hana", Connection("PA_3", ms(T0 + 11)), "", T0 + 13) is Verdict.STALE


async def test_a_seat_is_freed_for_an_absence_only_while_it_lasts(records: ShowRecords, room: str) -> None:
    """A reconciler frees the seat of a holder away for the grace window only if it is still
    away since the moment it read: a holder back meanwhile keeps it."""
    await _hosted(records, room)
    await records.connected(room, "hana", Connection("PA_1", ms(T0)), "", T0)
    assert await records.seat_away(room, "hana", Connection("PA_1", ms(T0)), T0 + 1)
    await records.connected(room, "hana", Connection("PA_2", ms(T0 + 2)), "", T0 + 2)  # back
    assert await records.forget(room, "hana", T0 + 40, away=ms(T0 + 1)) is Role.VIEWER
    assert (await _host(records, room, T0 + 40)).sid == "PA_2"
    # Back, and gone again through a newer connection (its join unheard): the absence has a new
    # moment, and a pass that read the first frees nothing.
    assert await records.seat_away(room, "hana", Connection("PA_2", ms(T0 + 2)), T0 + 41)
    assert await records.seat_away(room, "hana", Connection("PA_3", ms(T0 + 42)), T0 + 43)
    assert await records.forget(room, "hana", T0 + 80, away=ms(T0 + 41)) is Role.VIEWER
    assert await records.forget(room, "hana", T0 + 80, away=ms(T0 + 43)) is Role.HOST
    assert (await records.stage(room, T0 + 80)).host is None


async def test_an_absence_by_the_times_livekit_gives(records: ShowRecords, room: str) -> None:
    """A leave carrying whole seconds is of the seat's own connection all the same; a connection
    that joined in the same millisecond as the one gone, leaving, starts the absence again; a
    listing asked for at the very moment the absence was noted ends it."""
    await _hosted(records, room)
    joined = ms(T0) + 750
    await records.connected(room, "hana", Connection("PA_1", joined), "", T0 + 1)
    assert await records.seat_away(room, "hana", Connection("PA_1", ms(T0)), T0 + 2)  # whole seconds
    assert ((host := await _host(records, room, T0 + 2)).away, host.away_joined) == (ms(T0 + 2), joined)
    # Two newer connections, their joins unheard, joined in one millisecond: the second leaving
    # is a return in between all the same.
    again = ms(T0 + 2) + 500
    assert await records.seat_away(room, "hana", Connection("PA_2", again), T0 + 3)
    assert await records.seat_away(room, "hana", Connection("PA_3", again), T0 + 4)
    assert ((host := await _host(records, room, T0 + 4)).away, host.away_of) == (ms(T0 + 4), "PA_3")
    listed = Connection("PA_3", again)
    assert await records.connected(room, "hana", listed, "", T0 + 5, listed_at=T0 + 4) is Verdict.APPLIED
    assert (await _host(records, room, T0 + 5)).away == 0


async def test_an_absence_goes_with_the_seat_through_a_lock_and_an_undo(records: ShowRecords, room: str) -> None:
    """The absence is kept when the host takes a source from the guest, and when a demotion
    LiveKit refused gives the seat back."""
    await _hosted(records, room)
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana")
    await records.accept(room, "gia", T0 + 1, LIMIT)
    await records.connected(room, "gia", Connection("PA_g", ms(T0 + 1)), "", T0 + 1)
    assert await records.seat_away(room, "gia", Connection("PA_g", ms(T0 + 1)), T0 + 2)
    await records.lock_source(room, "gia", "camera", True, 2, T0 + 3)
    [seat] = (await records.stage(room, T0 + 3)).guests
    assert (seat.away, seat.locked) == (ms(T0 + 2), ("camera",))
    seat = await records.unseat(room, "gia", T0 + 4, StageChange.DEMOTE, acting="hana", change_id="c1")
    assert await records.restore(room, "gia", Standing(seat, None, None), T0 + 5, LIMIT, change_id="c1")
    [seat] = (await records.stage(room, T0 + 5)).guests
    assert (seat.sid, seat.away, seat.away_of) == ("PA_g", ms(T0 + 2), "PA_g")


async def _host(records: ShowRecords, room: str, now: float) -> Seat:
    host = (await records.stage(room, now)).host
    assert host is not None
    return host


async def test_a_guest_leaving_in_the_second_of_its_promotion_is_freed(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana")
    await records.accept(room, "gia", T0 + 10.4, LIMIT)  # no connection known
    # LiveKit's created_at is whole seconds: T0 + 10, before the seat's own T0 + 10.4.
    departure = await records.left(room, "gia", Connection("PA_g", 0), T0 + 10, "", T0 + 10.6)
    assert departure == Departure(Verdict.APPLIED, Role.GUEST)
    # ... but a leave from an earlier second is about an earlier connection.
    await records.invite(room, "gia", T0 + 20, INVITE_FOR, LIMIT, acting="hana")
    await records.accept(room, "gia", T0 + 20.4, LIMIT)
    assert await records.left(room, "gia", Connection("PA_g", 0), T0 + 19, "", T0 + 21) == Departure(
        Verdict.STALE, None
    )
    assert await records.role_of(room, "gia") is Role.GUEST


async def test_a_promoted_guests_own_connection_leaving_frees_the_seat(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    connection = Connection("PA_g", ms(T0 - 60))
    await records.invite(room, "gia", T0 + 1, INVITE_FOR, LIMIT, acting="hana", connection=connection)
    departure = await records.left(room, "gia", connection, T0 - 60, "", T0 + 1.2)
    assert departure.freed is Role.GUEST


async def test_events_of_another_room_incarnation_change_nothing(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    assert await records.room_opened(room, "RM_1", ms(T0), T0)
    assert not await records.room_opened(room, "RM_1", ms(T0), T0)
    assert not await records.room_opened(room, "RM_0", ms(T0 - 100), T0)  # an older one
    connection = Connection("PA_1", ms(T0))
    assert await records.connected(room, "hana", connection, "RM_0", T0) is Verdict.STALE
    assert await records.connected(room, "hana", connection, "RM_1", T0) is Verdict.APPLIED
    assert await records.left(room, "hana", connection, T0 + 1, "RM_0", T0 + 1) == Departure(Verdict.STALE, None)
    assert not await records.retire(room, "RM_0")
    assert (await records.stage(room, T0 + 1)).room_sid == "RM_1"
    # A newer incarnation: the seat's connection belonged to the old one.
    assert await records.room_opened(room, "RM_2", ms(T0 + 50), T0 + 50)
    host = (await records.stage(room, T0 + 50)).host
    assert host is not None and (host.sid, host.joined_at) == ("", 0)
    assert await records.retire(room, "RM_2")
    assert (await records.stage(room, T0 + 50)).host is None


async def test_a_lost_record_stays_lost_whatever_a_viewer_event_says(records: ShowRecords, room: str) -> None:
    """Redis emptied mid-show: a viewer's join or leave does not name the empty record's
    incarnation, so the reconciler still finds it lost and gives the seats back from LiveKit."""
    viewer = Connection("PA_v", ms(T0))
    assert await records.connected(room, "vic", viewer, "RM_1", T0) is Verdict.NOT_HELD
    assert await records.left(room, "vic", viewer, T0 + 1, "RM_1", T0 + 1) == Departure(Verdict.NOT_HELD, None)
    assert (await records.stage(room, T0 + 1)).lost
    # A record that holds a seat is named by the first event seen, as before.
    await _hosted(records, room)
    assert await records.connected(room, "hana", Connection("PA_h", ms(T0)), "RM_1", T0 + 2) is Verdict.APPLIED
    stage = await records.stage(room, T0 + 2)
    assert (stage.lost, stage.room_sid) == (False, "RM_1")


async def test_a_join_for_someone_without_a_seat_changes_nothing(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    assert await records.connected(room, "vic", Connection("PA_v", ms(T0)), "", T0) is Verdict.NOT_HELD
    assert await records.left(room, "vic", Connection("PA_v", ms(T0)), T0, "", T0) == Departure(Verdict.NOT_HELD, None)
    await records.set_hand(room, "vic", True, T0, LIMIT)
    assert await records.left(room, "vic", Connection("PA_v", ms(T0)), T0, "", T0) == Departure(
        Verdict.APPLIED, Role.VIEWER, hand=True
    )
    # An invitation alone goes with its viewer too, with no hand to tell of.
    await records.invite(room, "ivy", T0, INVITE_FOR, LIMIT, acting="hana")
    assert await records.left(room, "ivy", Connection("PA_i", ms(T0)), T0, "", T0) == Departure(
        Verdict.APPLIED, Role.VIEWER, hand=False
    )
    assert await records.hands(room, T0) == []


async def test_a_viewer_who_leaves_within_the_grace_window_keeps_its_hand_and_invitation(
    records: ShowRecords, room: str
) -> None:
    """With a reconnect grace window (`keep`), a viewer's leave changes nothing: its hand keeps
    its place in the queue, its invitation stands, and the departure says what they are, for
    letting them go if it does not come back. Without one, both go at once."""
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0 + 1, LIMIT)
    await records.set_hand(room, "bo", True, T0 + 2, LIMIT)
    await records.invite(room, "ivo", T0 + 3, INVITE_FOR, LIMIT, acting="hana")
    gia, ivo = Connection("PA_g", ms(T0)), Connection("PA_i", ms(T0))

    assert await records.left(room, "gia", gia, T0 + 4, "", T0 + 4, keep=True) == Departure(
        Verdict.APPLIED, None, kept=Standing(None, ms(T0 + 1), None)
    )
    assert await records.left(room, "ivo", ivo, T0 + 4, "", T0 + 4, keep=True) == Departure(
        Verdict.APPLIED, None, kept=Standing(None, None, ms(T0 + 3 + INVITE_FOR))
    )
    # A leave heard twice (LiveKit's for a replaced connection) keeps them too.
    assert (await records.left(room, "gia", gia, T0 + 5, "", T0 + 5, keep=True)).kept == Standing(
        None, ms(T0 + 1), None
    )
    assert await records.hands(room, T0 + 5) == [Hand("gia", ms(T0 + 1), False), Hand("bo", ms(T0 + 2), False)]
    assert (await records.admission(room, "gia", T0 + 5)).hand_raised
    assert (await records.admission(room, "ivo", T0 + 5)).invitation_expires_at == ms(T0 + 3 + INVITE_FOR)
    assert await records.left(room, "zoe", Connection("PA_z", ms(T0)), T0 + 5, "", T0 + 5, keep=True) == Departure(
        Verdict.NOT_HELD, None
    )
    # An expired invitation is none: nothing is kept, and the leave holds nothing, whether or not
    # a step cleared the invitation before it.
    assert await records.left(room, "ivo", ivo, T0 + 70, "", T0 + 70, keep=True) == Departure(Verdict.NOT_HELD, None)
    # Without a window the hand goes with its owner, as before.
    assert await records.left(room, "bo", Connection("PA_b", ms(T0)), T0 + 6, "", T0 + 6) == Departure(
        Verdict.APPLIED, Role.VIEWER, hand=True
    )
    assert [h.identity for h in await records.hands(room, T0 + 6)] == ["gia"]


async def test_what_a_viewer_left_is_let_go_only_as_it_was_left(records: ShowRecords, room: str) -> None:
    """When the window ends without its owner, the hand and the invitation it left are let go
    of, each only if still the one it left: a hand raised again or an invitation given again
    since is the viewer's, back in the room."""
    await _hosted(records, room)
    await records.invite(room, "gia", T0 + 1, INVITE_FOR, LIMIT, acting="hana")
    await records.set_hand(room, "gia", True, T0, 0)  # a limit of 0: stays a raised hand
    await records.invite(room, "ivo", T0 + 1, INVITE_FOR, LIMIT, acting="hana")
    kept = (await records.left(room, "gia", Connection("PA_g", ms(T0)), T0 + 2, "", T0 + 2, keep=True)).kept
    assert kept == Standing(None, ms(T0), ms(T0 + 1 + INVITE_FOR))
    assert await records.lower_abandoned_hand(room, "gia", kept.hand, kept.invitation)
    assert await records.standing(room, "gia", T0 + 3) == Standing(None, None, None)
    assert (await records.stage(room, T0 + 3)).hands == 0

    # Invited again after leaving (the host's new invitation): the old expiry withdraws nothing.
    first = (await records.admission(room, "ivo", T0 + 2)).invitation_expires_at
    await records.invite(room, "ivo", T0 + 5, INVITE_FOR, LIMIT, acting="hana")
    assert not await records.lower_abandoned_hand(room, "ivo", None, first)
    assert (await records.admission(room, "ivo", T0 + 6)).invitation_expires_at == ms(T0 + 5 + INVITE_FOR)
    assert not await records.lower_abandoned_hand(room, "ivo", None, ms(T0 + 5 + INVITE_FOR))  # no hand to lower
    assert not (await records.admission(room, "ivo", T0 + 6)).invited


# --- pending stage changes and the reconciler's indexes --------------------------------------


async def test_pending_changes_are_completed_and_found_when_overdue(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana")
    assert room not in await records.overdue(T0 + 9.999, count=10_000)
    assert room in await records.overdue(T0 + 10, count=10_000)
    assert not await records.complete(room, "gia", StageChange.DEMOTE)  # not the change pending
    assert await records.complete(room, "gia", StageChange.PROMOTE)
    assert await records.pending(room) == []
    assert room not in await records.overdue(T0 + 10, count=10_000)
    # A new change is found again once it is due.
    await records.unseat(room, "gia", T0 + 20, StageChange.REMOVE, acting="hana")
    assert room not in await records.overdue(T0 + 25, count=10_000)
    assert room in await records.overdue(T0 + 30, count=10_000)
    (change,) = await records.pending(room)
    assert (change.identity, change.change, change.since, change.deadline) == (
        "gia",
        StageChange.REMOVE,
        ms(T0 + 20),
        ms(T0 + 30),
    )


async def test_a_newer_change_leaves_the_older_one_no_longer_pending(records: ShowRecords, room: str) -> None:
    """Whoever is still making a participant's older change on LiveKit must find, when it
    completes it, that it was overtaken: a lock or an appointment drops the pending change as a
    demotion overwrites it. The participant's admission says how it should now appear."""
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana")  # promotion pending
    await records.lock_source(room, "gia", "camera", True, 2, T0 + 1)
    assert await records.pending(room) == []
    assert not await records.complete(room, "gia", StageChange.PROMOTE)
    admission = await records.admission(room, "gia", T0 + 1)
    assert (admission.role, admission.locked) == (Role.GUEST, ("camera",))
    await records.unseat(room, "gia", T0 + 2, StageChange.DEMOTE, acting="hana")  # demotion pending
    await records.appoint(room, "gia", T0 + 3, acting="hana")
    assert not await records.complete(room, "gia", StageChange.DEMOTE)
    admission = await records.admission(room, "gia", T0 + 3)
    assert (admission.role, admission.locked) == (Role.MODERATOR, ())
    await records.dismiss(room, "gia", T0 + 4)  # pending again, and its own until completed
    assert await records.complete(room, "gia", StageChange.DEMOTE)


async def test_with_three_changes_in_flight_the_first_to_land_leaves_the_third_pending(
    records: ShowRecords, room: str
) -> None:
    """The host promotes gia (a), demotes her (b) and promotes her again (c) before LiveKit has any
    of the three. The first promotion's call lands first: it must not clear the second
    promotion, whose own call may yet fail or whose instance may die, leaving nothing for the
    reconciler to finish. Each change is cleared by its own call only."""
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    assert (await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana", change_id="a")).promoted
    await records.unseat(room, "gia", T0 + 1, StageChange.DEMOTE, acting="hana", change_id="b")
    await records.set_hand(room, "gia", True, T0 + 2, LIMIT)
    assert (await records.invite(room, "gia", T0 + 2, INVITE_FOR, LIMIT, acting="hana", change_id="c")).promoted
    assert not await records.complete(room, "gia", StageChange.PROMOTE, "a")
    assert not await records.complete(room, "gia", StageChange.DEMOTE, "b")
    assert not await records.complete(room, "gia", StageChange.PROMOTE)  # nor a call that names none
    (third,) = await records.pending(room)
    assert (third.change, third.id, third.since, third.deadline) == (StageChange.PROMOTE, "c", ms(T0 + 2), ms(T0 + 12))
    assert room in await records.overdue(T0 + 12, count=10_000)  # the reconciler's, should its call never land
    assert await records.complete(room, "gia", StageChange.PROMOTE, "c")
    assert await records.pending(room) == []


async def test_every_step_that_leaves_a_change_pending_keeps_its_id(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.invite(room, "gia", T0, INVITE_FOR, LIMIT, acting="hana")
    await records.accept(room, "gia", T0, LIMIT, change_id="accepted")
    await records.invite(room, "bo", T0, INVITE_FOR, 2, acting="hana")
    await records.set_hand(room, "bo", True, T0, 2, change_id="raised")
    assert [(p.identity, p.change, p.id) for p in await records.pending(room)] == [
        ("bo", StageChange.PROMOTE, "raised"),
        ("gia", StageChange.PROMOTE, "accepted"),
    ]
    await records.unseat(room, "bo", T0 + 1, StageChange.REMOVE, acting="hana", change_id="removed")
    await records.unseat(room, "gia", T0 + 1, StageChange.DEMOTE, change_id="stepped-down")
    await records.appoint(room, "cy", T0 + 1, acting="hana")
    await records.dismiss(room, "cy", T0 + 2, change_id="dismissed")
    assert [(p.identity, p.change, p.id) for p in await records.pending(room)] == [
        ("bo", StageChange.REMOVE, "removed"),
        ("cy", StageChange.DEMOTE, "dismissed"),
        ("gia", StageChange.DEMOTE, "stepped-down"),
    ]
    assert not await records.complete(room, "cy", StageChange.DEMOTE, "stepped-down")
    for who, change, change_id in (("bo", "remove", "removed"), ("cy", "demote", "dismissed")):
        assert await records.complete(room, who, StageChange(change), change_id)
    assert [p.identity for p in await records.pending(room)] == ["gia"]
    # A moderator taken out of the room (RemoveParticipant) is dismissed with a removal pending.
    await records.appoint(room, "mo", T0 + 3, acting="hana")
    await records.dismiss(room, "mo", T0 + 4, "out", change=StageChange.REMOVE)
    (mo,) = [p for p in await records.pending(room) if p.identity == "mo"]
    assert (mo.change, mo.id, mo.part) == (StageChange.REMOVE, "out", Role.MODERATOR)
    assert await records.role_of(room, "mo") is Role.VIEWER


async def test_rooms_are_found_by_their_last_activity(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0 + 100, LIMIT)
    assert room in await records.active_rooms(T0 + 100, count=100_000)
    assert room not in await records.active_rooms(T0 + 100.001, count=100_000)


async def test_a_refused_step_marks_the_room_active_as_any_other(records: ShowRecords, room: str) -> None:
    """Every writing step marks the room in the global indexes before it runs, whether it then
    goes through, is refused, or finds nothing to write (Redis writes the hint first): so does
    the in-process store, which marked only the steps it refused inside the step (an invite, an
    accept), not those it refused or answered before it (a claim of a held host seat, an
    appointment, a ban, an undo overtaken...). A step that may leave a stage change (a
    dismissal, a landing) marks one due at the deadline too."""
    await _hosted(records, room)
    steps: list[tuple[float, Callable[[float], Awaitable[object]]]] = [
        (10, lambda at: records.claim_host(room, "ivan", "Ivan", at, STALE_AFTER)),
        (20, lambda at: records.go_live(room, at, "ivan")),
        (30, lambda at: records.appoint(room, "ivan", at, acting="ivan")),
        (40, lambda at: records.ban(room, "hana", at, acting=None)),
        (50, lambda at: records.unban(room, "ivan", at)),
        (60, lambda at: records.lock_source(room, "ivan", "camera", True, 2, at)),
        (70, lambda at: records.dismiss(room, "ivan", at)),
    ]
    for after, step in steps:
        with pytest.raises(errors.ShowError):
            await step(T0 + after)
        assert room in await records.active_rooms(T0 + after, count=100_000), after
    assert await _change_due(records, room) == ms(T0 + 70) + ms(DEFAULT_CHANGE_SECONDS)
    answered: list[tuple[float, Callable[[float], Awaitable[object]]]] = [
        (80, lambda at: records.restore(room, "ivan", Standing(None, None, None), at, LIMIT, "gone")),
        (90, lambda at: records.land(room, "ivan", StageChange.PROMOTE, "gone", 0, "", at)),
        (100, lambda at: records.claim_host(room, "hana", "Hana", at, STALE_AFTER)),
        (110, lambda at: records.audience_released(room, at)),
        (120, lambda at: records.settle_recording(room, "pending-x", "EG_x", 1, "", at)),
        (130, lambda at: records.record_progress(room, "EG_x", 1, at, "", "", at)),
        (140, lambda at: records.set_destinations(room, "EG_x", ("a",), at)),
    ]
    for after, step in answered:
        assert not await step(T0 + after), after
        assert room in await records.active_rooms(T0 + after, count=100_000), after
        if after == 90:
            assert await _change_due(records, room) == ms(T0 + 90) + ms(DEFAULT_CHANGE_SECONDS)


async def test_a_departure_that_freed_a_seat_is_told_though_the_activity_index_refuses_a_write(
    request: pytest.FixtureRequest, room: str
) -> None:
    """A connection's arrival or departure marks the global activity index after its step: the
    step has written by then, so an index that refuses the mark (on Cluster its node may fail
    alone; here Redis's ACL refuses it) must not turn a freed seat into an error, which would
    leave the room never told (a retried webhook finds nothing to free)."""
    server: RedisServer = request.getfixturevalue("store_redis_server")
    admin = connect(server.url, cluster=False)
    user, password = f"rooms-only-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    # Reads everywhere, writes to the room's keys only (a script's keys need both at once).
    rooms_only = f"%R~* ~{room_keys(room)[0].split('}')[0]}}}*"
    await admin.execute_command("ACL", "SETUSER", user, "on", f">{password}", "+@all", *rooms_only.split())
    store = RedisRecords(admin, idle_seconds=IDLE)
    limited = RedisRecords(
        connect(server.url.replace("redis://", f"redis://{user}:{password}@"), cluster=False), idle_seconds=IDLE
    )
    try:
        await _hosted(store, room)
        assert await store.connected(room, "hana", Connection("PA_h", ms(T0)), "", T0) is Verdict.APPLIED
        with pytest.raises(errors.ShowError):  # the index is refused to this client, as meant
            await limited.set_hand(room, "gia", True, T0 + 1, LIMIT)
        left = await limited.left(room, "hana", Connection("PA_h", ms(T0)), T0 + 2, "", T0 + 2)
        assert (left.verdict, left.freed) == (Verdict.APPLIED, Role.HOST)
        assert (await store.stage(room, T0 + 2)).host is None
        assert room not in await store.active_rooms(T0 + 1.5, count=100_000)  # the mark it could not write
    finally:
        await admin.execute_command("ACL", "DELUSER", user)
        await limited.close()
        await store.close()


async def test_a_viewer_coming_and_going_is_no_activity(records: ShowRecords, room: str) -> None:
    """LiveKit tells of every viewer's arrival and departure; a viewer holding nothing writes
    nothing, so it marks nothing either (on Redis, the global index is one key every room
    shares). A seat's connection recorded, and one freed, are activity."""
    await _hosted(records, room)
    assert await records.connected(room, "vic", Connection("PA_v", ms(T0 + 10)), "", T0 + 10) is Verdict.NOT_HELD
    left = await records.left(room, "vic", Connection("PA_v", ms(T0 + 10)), T0 + 11, "", T0 + 11)
    assert left.verdict is Verdict.NOT_HELD
    assert room not in await records.active_rooms(T0 + 5, count=100_000)
    assert await records.connected(room, "hana", Connection("PA_h", ms(T0 + 20)), "", T0 + 20) is Verdict.APPLIED
    assert room in await records.active_rooms(T0 + 20, count=100_000)
    # The same connection again writes nothing: no newer mark.
    assert await records.connected(room, "hana", Connection("PA_h", ms(T0 + 20)), "", T0 + 30) is Verdict.APPLIED
    assert room not in await records.active_rooms(T0 + 25, count=100_000)
    left = await records.left(room, "hana", Connection("PA_h", ms(T0 + 20)), T0 + 40, "", T0 + 40)
    assert (left.verdict, left.freed) == (Verdict.APPLIED, Role.HOST)
    assert room in await records.active_rooms(T0 + 40, count=100_000)


# --- the show's life -------------------------------------------------------------------------


async def test_a_show_opens_backstage_goes_live_once_and_ends_once(records: ShowRecords, room: str) -> None:
    assert (await records.stage(room, T0)).phase is Phase.UNOPENED
    assert (await records.admission(room, "gia", T0)).phase is Phase.UNOPENED
    await _refused(errors.Code.FAILED_PRECONDITION, errors.SHOW_NOT_OPENED, records.go_live(room, T0, None))
    await _hosted(records, room)
    stage = await records.stage(room, T0)
    assert (stage.phase, stage.life.opened_at, stage.life.live_at) == (Phase.BACKSTAGE, ms(T0), 0)
    await records.appoint(room, "mo", T0, acting="hana")
    await _refused(errors.Code.PERMISSION_DENIED, "only the host", records.go_live(room, T0 + 1, "mo", "only the host"))

    went, life = await records.go_live(room, T0 + 2, "hana")
    assert went and (life.phase, life.opened_at, life.live_at) == (Phase.LIVE, ms(T0), ms(T0 + 2))
    assert life.release_due > ms(T0 + 2)
    again, same = await records.go_live(room, T0 + 3, None)
    assert not again and same.live_at == ms(T0 + 2)
    await records.audience_released(room, T0 + 3)
    assert (await records.stage(room, T0 + 3)).life.release_due == 0
    assert (await records.admission(room, "gia", T0 + 3)).phase is Phase.LIVE

    await records.set_hand(room, "gia", True, T0 + 4, LIMIT)
    await records.invite(room, "ivo", T0 + 4, INVITE_FOR, LIMIT, acting="hana")
    await records.ban(room, "troll", T0 + 4, acting="hana")
    ended, life = await records.end_show(room, T0 + 5, 3600)
    assert ended and (life.phase, life.live_at, life.ended_at) == (Phase.ENDED, ms(T0 + 2), ms(T0 + 5))
    stage = await records.stage(room, T0 + 6)
    assert (stage.host, stage.guests, stage.hands, stage.invitations, stage.moderators, stage.bans) == (
        None,
        (),
        0,
        0,
        (),
        1,
    )  # fmt: skip  (the bans stay while the ended show is kept: a banned token reads nothing of it)
    assert (stage.phase, stage.life.ended_at) == (Phase.ENDED, ms(T0 + 5))
    assert await records.hosted_by(room) == "hana"  # the former host may still end it again
    assert await records.end_show(room, T0 + 7, 3600) == (False, stage.life)


async def test_the_audience_let_in_is_told_once_by_whoever_finds_its_release_due(
    records: ShowRecords, room: str
) -> None:
    """The call that took the show live, a retry or a reconciler: the first to say the audience
    is in learns who took the show live (to tell the room), and nobody after it, nor after the
    show ended."""
    await _hosted(records, room)
    assert await records.audience_released(room, T0) is None  # backstage: nothing is due
    await records.go_live(room, T0 + 1, "hana")
    assert await records.audience_released(room, T0 + 2) == "hana"
    assert await records.audience_released(room, T0 + 3) is None
    await records.go_live(room, T0 + 4, None)  # live already: nothing is due again
    assert await records.audience_released(room, T0 + 5) is None

    by_admin, ended = f"{room}-admin", f"{room}-ended"
    for other in (by_admin, ended):
        await _hosted(records, other)
        await records.go_live(other, T0 + 1, None)
    assert await records.audience_released(by_admin, T0 + 2) == ""  # the room's admin took it live
    await records.end_show(ended, T0 + 2, 3600)
    assert await records.audience_released(ended, T0 + 3) is None


async def test_an_ended_show_stays_locked(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    assert await records.room_opened(room, "RM_1", ms(T0), T0)
    await records.end_show(room, T0 + 1, 3600)
    for step in (
        records.claim_host(room, "hana", "Hana", T0 + 2, STALE_AFTER),
        records.claim_host(room, "ivan", "Ivan", T0 + 2, STALE_AFTER),
        records.go_live(room, T0 + 2, None),
    ):
        await _refused(errors.Code.FAILED_PRECONDITION, errors.SHOW_ENDED, step)
    # LiveKit's room_finished, and a room a token of the show opened again, change nothing.
    assert not await records.retire(room, "RM_1")
    assert not await records.retire(room)
    assert not await records.room_opened(room, "RM_2", ms(T0 + 3), T0 + 3)
    stage = await records.stage(room, T0 + 4)
    assert (stage.phase, stage.room_sid) == (Phase.ENDED, "RM_1")
    assert (await records.admission(room, "hana", T0 + 4)).phase is Phase.ENDED


async def test_nobody_is_put_forward_in_an_ended_show(records: ShowRecords, room: str) -> None:
    """Steps racing EndShow (an invitation, a hand, an acceptance, an appointment, or the undo of
    a change LiveKit refused because the room had closed) find the show ended: nothing is put
    back into it, and it reads as it ended."""
    await _hosted(records, room)
    await records.set_hand(room, "gia", True, T0, LIMIT)
    await records.invite(room, "ivo", T0, INVITE_FOR, LIMIT, acting="hana")
    seating = await records.invite(room, "gia", T0 + 1, INVITE_FOR, LIMIT, acting="hana")  # her hand was up
    assert seating.promoted and seating.before.hand is not None
    seat = (await records.stage(room, T0 + 1)).guest("gia")
    assert seat is not None
    await records.end_show(room, T0 + 2, 3600)
    for step in (
        records.invite(room, "bo", T0 + 3, INVITE_FOR, LIMIT, acting=None),
        records.accept(room, "ivo", T0 + 3, LIMIT),
        records.set_hand(room, "bo", True, T0 + 3, LIMIT),
        records.appoint(room, "bo", T0 + 3, acting=None),
        # Nor is it recorded or streamed (a room LiveKit has again under its name, opened by a
        # token used after the end, would have let StartRecording through).
        records.reserve_recording(room, "pending-1", "grid", T0 + 3),
        records.reserve_recording(room, "pending-2", "grid", T0 + 3, EgressKind.STREAM, ("youtube",)),
    ):
        await _refused(errors.Code.FAILED_PRECONDITION, errors.SHOW_ENDED, step)
    # The undo of the promotion (her hand back) and of a demotion (her seat back): nothing is left
    # to give back.
    assert await records.restore(room, "gia", seating.before, T0 + 3, LIMIT)
    assert await records.restore(room, "gia", Standing(seat, None, None), T0 + 3, LIMIT)
    stage = await records.stage(room, T0 + 4)
    assert (stage.phase, stage.guests, stage.hands, stage.invitations, stage.moderators, stage.pending) == (
        Phase.ENDED, (), 0, 0, (), (),
    )  # fmt: skip
    assert stage.recordings == ()
    assert await records.hands(room, T0 + 4) == [] and await records.role_of(room, "bo") is Role.VIEWER


async def test_a_show_may_open_live(records: ShowRecords, room: str) -> None:
    assert await records.claim_host(room, "hana", "Hana", T0, STALE_AFTER, opens=Phase.LIVE)
    life = (await records.stage(room, T0)).life
    assert (life.phase, life.opened_at, life.live_at, life.release_due) == (Phase.LIVE, ms(T0), ms(T0), 0)
    # A host who takes a freed seat over keeps the show where it is.
    await records.forget(room, "hana", T0 + 1)
    assert await records.claim_host(room, "ivan", "Ivan", T0 + 2, STALE_AFTER)
    assert (await records.stage(room, T0 + 2)).life == life


@pytest.mark.parametrize("kind", KINDS)
async def test_an_ended_show_is_kept_for_its_retention_whatever_writes_to_it(
    kind: str, request: pytest.FixtureRequest, room: str
) -> None:
    store = _store(kind, request, idle=60.0)
    try:
        now = T0
        await store.claim_host(room, "hana", "Hana", now, STALE_AFTER)
        await store.end_show(room, now, 3.0)
        for _ in range(3):  # late webhooks, and the history's last entries, do not keep it alive
            now += await _passes(kind, 0.6)
            await store.left(room, "hana", Connection("PA_h", ms(T0)), now, "", now)
            await store.append_history(room, _entry("show_ended", now, actor="hana"), now)
            assert (await store.stage(room, now)).phase is Phase.ENDED
        now += await _passes(kind, 1.5)  # 3.3 s after the end, 1.5 s after the last write
        assert (await store.stage(room, now)).phase is Phase.UNOPENED  # gone: the name is free again
        assert await store.history(room, 0, 10, now) == []  # and its history with it
    finally:
        await store.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_an_ended_show_past_its_retention_is_free_for_every_read(
    kind: str, request: pytest.FixtureRequest, room: str
) -> None:
    """Past its retention an ended show is gone for the reads given no time too (Redis expires
    the keys by its own clock; the memory store by the latest time a caller gave)."""
    store = _store(kind, request, idle=60.0)
    try:
        await store.claim_host(room, "hana", "Hana", T0, STALE_AFTER)
        await store.end_show(room, T0, 2.0)
        assert (await store.admission(room, "ivan", T0)).phase is Phase.ENDED
        later = T0 + await _passes(kind, 2.2)
        assert (await store.stage(room, later)).phase is Phase.UNOPENED
        assert await store.admission(room, "ivan", later) == Admission(Role.VIEWER, False, Phase.UNOPENED)
        assert (await store.role_of(room, "hana"), await store.hosted_by(room)) == (Role.VIEWER, "")
        assert await store.claim_host(room, "ivan", "Ivan", later, STALE_AFTER)  # the show opens again
        hosting = Admission(Role.HOST, False, Phase.BACKSTAGE, hosted=True, holder="")  # a host's carries no mark
        assert await store.admission(room, "ivan", later) == hosting
    finally:
        await store.close()


# --- the show's history ---------------------------------------------------------------------


def _entry(kind: str, at: float, **fields: str) -> HistoryEntry:
    return HistoryEntry(kind=kind, at=ms(at), **fields)  # type: ignore[arg-type]


async def test_the_history_keeps_entries_in_order_and_reads_them_in_pages(records: ShowRecords, room: str) -> None:
    assert await records.history(room, 0, 50, T0) == []
    await _hosted(records, room)  # a room that is gone gains no history
    stage = await records.stage(room, T0)
    promoted = HistoryEntry("guest_promoted", ms(T0), actor="hana", target="gia")
    assert await records.append_history(room, promoted, T0) == 1
    demoted = HistoryEntry("guest_demoted", ms(T0 + 1), actor="gia", target="gia", reason="stepped_down")
    assert await records.append_history(room, demoted, T0 + 1) == 2
    stream = HistoryEntry("stream_started", ms(T0 + 2), actor="hana", egress_id="EG_s", destinations=("yt", "tw"))
    assert await records.append_history(room, stream, T0 + 2) == 3
    for n in range(4, 12):
        assert await records.append_history(room, _entry("participant_removed", T0 + n, target=f"v{n}"), T0 + n) == n
    everything = await records.history(room, 0, 100, T0 + 20)
    assert [e.sequence for e in everything] == list(range(1, 12))
    # Every field comes back as written, the sequence number given.
    assert everything[:3] == [
        HistoryEntry("guest_promoted", ms(T0), actor="hana", target="gia", sequence=1),
        HistoryEntry("guest_demoted", ms(T0 + 1), actor="gia", target="gia", reason="stepped_down", sequence=2),
        HistoryEntry(
            "stream_started", ms(T0 + 2), actor="hana", egress_id="EG_s", destinations=("yt", "tw"), sequence=3
        ),
    ]
    # Pages from a position: no entry twice, none skipped, an empty page past the end.
    pages, after = [], 0
    while page := await records.history(room, after, 4, T0 + 20):
        pages.append([e.sequence for e in page])
        after = page[-1].sequence
    assert pages == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11]]
    assert await records.history(room, 11, 4, T0 + 20) == []
    assert await records.history(room, 0, 0, T0 + 20) == []
    # Another room's history is its own; the history is no part of the stage.
    assert await records.history(f"{room}-other", 0, 10, T0) == []
    assert await records.stage(room, T0 + 20) == stage


@pytest.mark.parametrize("kind", KINDS)
async def test_the_history_keeps_its_last_entries_up_to_the_cap(
    kind: str, request: pytest.FixtureRequest, room: str
) -> None:
    store = _store(kind, request, history=5)
    try:
        await _hosted(store, room)
        for n in range(1, 13):
            assert await store.append_history(room, _entry("participant_banned", T0 + n, target=f"t{n}"), T0 + n) == n
        kept = await store.history(room, 0, 100, T0 + 20)
        # The oldest go first; sequence numbers go on, so a reader sees where the gap is.
        assert [(e.sequence, e.target) for e in kept] == [(n, f"t{n}") for n in range(8, 13)]
        assert [e.sequence for e in await store.history(room, 3, 2, T0 + 20)] == [8, 9]
        assert [e.sequence for e in await store.history(room, 10, 100, T0 + 20)] == [11, 12]
    finally:
        await store.close()


async def _passes(kind: str, seconds: float) -> float:
    """`seconds` pass: on the memory store only on the callers' clock (the `now` each step is
    given), on Redis also in fact, since Redis expires keys by its own clock. Steps are a second
    or more apart, so that a loaded machine's stall of most of a second proves nothing wrong."""
    if kind != "memory":
        await asyncio.sleep(seconds)
    return seconds


@pytest.mark.parametrize("kind", KINDS)
async def test_the_history_expires_with_the_room_goes_when_it_is_retired_and_a_gone_room_gains_none(
    kind: str, request: pytest.FixtureRequest, room: str
) -> None:
    store = _store(kind, request, idle=3.0)
    try:
        now = T0
        await store.claim_host(room, "hana", "Hana", now, STALE_AFTER)
        await store.append_history(room, _entry("host_joined", now, target="hana"), now)
        for _ in range(3):  # the room's writes keep its history alive, and an entry keeps the room
            now += await _passes(kind, 1.0)
            await store.set_hand(room, f"v{now}", True, now, LIMIT)
        now += await _passes(kind, 1.5)
        await store.append_history(room, _entry("guest_promoted", now, target="gia"), now)
        now += await _passes(kind, 2.1)  # the room's last other write was 3.6 s ago
        assert (await store.stage(room, now)).host is not None
        assert [e.kind for e in await store.history(room, 0, 10, now)] == ["host_joined", "guest_promoted"]
        now += await _passes(kind, 1.1)
        assert await store.history(room, 0, 10, now) == []
        assert (await store.stage(room, now)).host is None
        # A room that is gone gains no history: an entry that comes after it went is not kept...
        assert await store.append_history(room, _entry("recording_stopped", now, reason="complete"), now) == 0
        assert await store.history(room, 0, 10, now) == []
        # ...and the next show under its name starts its own history from 1.
        assert await store.claim_host(room, "ivan", "Ivan", now, STALE_AFTER)
        assert await store.append_history(room, _entry("host_joined", now, target="ivan"), now) == 1
        await store.retire(room)
        assert await store.history(room, 0, 10, now) == []
        # Retired alike: an entry that comes after room_finished retired the room (a change told
        # as it did) is not kept, and the next show's history holds its own entries alone.
        assert await store.append_history(room, _entry("recording_stopped", now, reason="complete"), now) == 0
        assert await store.claim_host(room, "hana", "Hana", now, STALE_AFTER)
        assert await store.append_history(room, _entry("host_joined", now, target="hana"), now) == 1
        assert [(e.sequence, e.kind) for e in await store.history(room, 0, 10, now)] == [(1, "host_joined")]
    finally:
        await store.close()


# --- expiry, versions, keys ------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_an_idle_room_expires_and_activity_keeps_it(kind: str, request: pytest.FixtureRequest, room: str) -> None:
    store = _store(kind, request, idle=2.0)
    try:
        now = T0
        await store.claim_host(room, "hana", "Hana", now, STALE_AFTER)
        await store.set_hand(room, "gia", True, now, LIMIT)
        for _ in range(3):  # kept alive by activity, past the idle time since the first write
            now += await _passes(kind, 1.0)
            await store.set_hand(room, f"v{now}", True, now, LIMIT)
        assert (await store.stage(room, now)).host is not None
        now += await _passes(kind, 1.2)
        with pytest.raises(errors.ShowError):  # a refused step is no activity
            await store.decline(room, "nobody", now)
        now += await _passes(kind, 1.0)
        stage = await store.stage(room, now)
        assert (stage.host, stage.hands) == (None, 0)
    finally:
        await store.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_show_livekit_still_has_is_kept_though_nothing_is_written(
    kind: str, request: pytest.FixtureRequest, room: str
) -> None:
    """The reconciler keeps the record of a room LiveKit still has (keep_alive) past the idle
    time since its last write; not another incarnation's, not an ended show's, and without making
    the room recent for its own passes."""
    store = _store(kind, request, idle=2.0)
    try:
        now = T0
        await store.claim_host(room, "hana", "Hana", now, STALE_AFTER)
        await store.room_opened(room, "RM_1", ms(now), now)
        await store.ban(room, "troll", now, None)
        for _ in range(3):  # 1.2 s apart: past the idle time since the last write
            now += await _passes(kind, 1.2)
            assert await store.keep_alive(room, "RM_1", now)
        stage = await store.stage(room, now)
        assert (stage.host is not None, stage.bans) == (True, 1)
        assert room not in await store.active_rooms(now - 1.0)  # not an activity
        now += await _passes(kind, 1.2)
        assert not await store.keep_alive(room, "RM_2", now)  # another incarnation's: left to expire
        now += await _passes(kind, 1.2)
        assert (await store.stage(room, now)).lost
        assert not await store.keep_alive(room, "RM_1", now)  # gone: nothing to keep
        assert (await store.stage(room, now)).lost
        await store.claim_host(room, "hana", "Hana", now, STALE_AFTER)
        await store.end_show(room, now, 1.0)
        assert not await store.keep_alive(room, "", now)  # an ended show keeps its retention
        now += await _passes(kind, 1.2)
        assert (await store.stage(room, now)).lost
    finally:
        await store.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_an_undo_that_finds_the_seat_taken_keeps_the_room_no_longer(
    kind: str, request: pytest.FixtureRequest, room: str
) -> None:
    """An undone demotion whose seat was taken meanwhile changes nothing (restore answers False),
    so, like a refusal, it is no activity: the room expires when its last change says."""
    client = None if kind == "memory" else _client(kind, request)
    store = _store(kind, request, idle=4.0) if client is None else RedisRecords(client, idle_seconds=IDLE)
    try:
        now = T0
        await store.claim_host(room, "hana", "Hana", now, STALE_AFTER)
        await store.set_hand(room, "gia", True, now, LIMIT)
        await store.invite(room, "gia", now, INVITE_FOR, LIMIT, acting="hana")
        undo = Standing(await store.unseat(room, "gia", now, StageChange.DEMOTE), None, None)
        await store.set_hand(room, "bo", True, now, LIMIT)
        await store.invite(room, "bo", now, INVITE_FOR, LIMIT, acting="hana")  # gia's seat is taken
        if client is None:
            # The memory store judges idleness by its callers' clock: the look comes 4.2 s after
            # the last change, when the room has gone unless the undo (at 0.5 s) kept it.
            assert not await store.restore(room, "gia", undo, now + 0.5, LIMIT)
            stage = await store.stage(room, now + 4.2)
            assert (stage.host, stage.guests) == (None, ())
            return
        # Redis expires keys by its own clock, which a loaded machine's pauses put out of step
        # with a test's sleeps; so the room's time to live is read from Redis itself, rather than
        # waited out: the undo, half a second after the last change, must not give it back.
        keys = room_keys(room)

        async def time_to_live() -> int:
            return max([int(await client.pttl(key)) for key in keys])

        after_change = await time_to_live()
        assert after_change > ms(IDLE) - 60_000
        await asyncio.sleep(0.5)
        assert not await store.restore(room, "gia", undo, now + 0.5, LIMIT)
        after_undo = await time_to_live()
        assert after_undo <= after_change - 400, (after_change, after_undo)
        stage = await store.stage(room, now + 0.5)
        assert stage.host is not None and stage.host.identity == "hana"
        assert [guest.identity for guest in stage.guests] == ["bo"]
    finally:
        await store.close()


@pytest.mark.parametrize("kind", ["redis", "cluster"])
async def test_every_key_of_a_room_is_in_one_slot_and_expires(
    kind: str, request: pytest.FixtureRequest, room: str
) -> None:
    client = _client(kind, request)
    store = RedisRecords(client, idle_seconds=IDLE)
    try:
        odd = f"{room}{{}}%7B}}{{"  # braces and escapes in a name must not split its keys
        for name in (room, odd):
            await store.claim_host(name, "hana", "Hana", T0, STALE_AFTER)
            await store.set_hand(name, "gia", True, T0, LIMIT)
            await store.invite(name, "ivo", T0, INVITE_FOR, LIMIT, acting="hana")
            await store.reserve_recording(name, "pending-1", "grid", T0)
            await store.set_guest_limit(name, 2, T0)
            await store.appoint(name, "mo", T0, acting="hana")
            await store.ban(name, "troll", T0, acting="mo")
            await store.append_history(name, HistoryEntry("participant_banned", ms(T0), "mo", "troll"), T0)
            keys = room_keys(name)
            slots = (
                {await client.execute_command("CLUSTER KEYSLOT", key) for key in keys} if kind == "cluster" else set()
            )
            assert kind != "cluster" or len(slots) == 1
            for key in keys:
                if await client.exists(key):
                    ttl = await client.pttl(key)
                    assert ms(IDLE) - 5_000 < ttl <= ms(IDLE), key
        assert room_tag(odd) == f"{room}%7B%7D%257B%7D%7B"
        assert (await store.stage(odd, T0)).host is not None
        assert (await store.stage(room, T0)).hands == 1
    finally:
        await store.close()


@pytest.mark.parametrize("kind", ["redis", "cluster"])
async def test_records_written_by_a_newer_version_are_read(
    kind: str, request: pytest.FixtureRequest, room: str
) -> None:
    client = _client(kind, request)
    store = RedisRecords(client, idle_seconds=IDLE)
    try:
        stage_key, guests_key, _, _, pending_key, recordings_key, *_ = room_keys(room)
        newer = {"v": 2, "identity": "hana", "name": "Hana", "since": ms(T0), "sid": "PA_h", "joined_at": ms(T0)}
        await client.hset(
            stage_key, mapping={"host": json.dumps({**newer, "region": "eu", "tags": ["x"]}), "mood": "?"}
        )
        await client.hset(guests_key, "gia", json.dumps({"v": 2, "identity": "gia", "since": ms(T0), "badge": 1}))
        await client.hset(
            pending_key, "gia", json.dumps({"v": 2, "change": "promote", "deadline": ms(T0 + 10), "by": "x"})
        )
        await client.hset(
            recordings_key, "EG_1", json.dumps({"v": 2, "id": "EG_1", "status": 1, "seq": 1, "codec": "av1"})
        )
        stage = await store.stage(room, T0)
        assert stage.host is not None and (stage.host.identity, stage.host.sid) == ("hana", "PA_h")
        assert [g.identity for g in stage.guests] == ["gia"] and stage.guests[0].name == "gia"
        assert stage.pending[0].change is StageChange.PROMOTE
        assert stage.active_recording() is not None
        # ... and the steps of this version work on them, keeping what they do not know.
        assert await store.connected(room, "hana", Connection("PA_h2", ms(T0 + 5)), "", T0 + 5) is Verdict.APPLIED
        written = await client.hget(stage_key, "host")
        assert written is not None
        host = json.loads(written)
        assert (host["sid"], host["region"]) == ("PA_h2", "eu")
        assert await store.record_progress(room, "EG_1", 3, T0 + 6, "", "", T0 + 6) == (1, 3)
        written = await client.hget(recordings_key, "EG_1")
        assert written is not None and json.loads(written)["codec"] == "av1"
        await _refused(
            errors.Code.PERMISSION_DENIED,
            errors.ROOM_HAS_GUEST,
            store.invite(room, "zed", T0, INVITE_FOR, LIMIT, acting="hana"),
        )
    finally:
        await store.close()


async def test_a_room_whose_slot_moves_is_unavailable_while_it_moves_and_whole_after(
    request: pytest.FixtureRequest, room: str
) -> None:
    """Resharding moves a slot's keys to another node: CLUSTER SETSLOT IMPORTING and MIGRATING,
    MIGRATE of the keys, SETSLOT NODE. While a room's slot moves, a step over its keys (some on
    either node) is answered TRYAGAIN by Redis, and the store refuses it as UNAVAILABLE (which
    callers retry), reads and writes alike, having written nothing. Once moved, every step runs
    on the new node, with everything the room held."""
    cluster: RedisCluster = request.getfixturevalue("store_redis_cluster")
    client = connect(cluster.url, cluster=True)
    store = RedisRecords(client, idle_seconds=IDLE)
    nodes = [redis.Redis(port=node.port) for node in cluster.nodes]
    try:
        await _hosted(store, room)
        await store.set_hand(room, "gia", True, T0 + 1, LIMIT)
        await store.ban(room, "troll", T0 + 1, acting="hana")
        slot = key_slot(room_keys(room)[0].encode())
        ids = [(await _command(node, "CLUSTER", "MYID")).decode() for node in nodes]
        counts = [await _command(node, "CLUSTER", "COUNTKEYSINSLOT", slot) for node in nodes]
        owner = next(i for i, count in enumerate(counts) if count)
        target = (owner + 1) % len(nodes)
        keys = await _command(nodes[owner], "CLUSTER", "GETKEYSINSLOT", slot, 100)
        assert len(keys) >= 3  # the stage, the hands, the bans...
        await _command(nodes[target], "CLUSTER", "SETSLOT", slot, "IMPORTING", ids[owner])
        await _command(nodes[owner], "CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target])

        async def migrate(moving: list[bytes]) -> None:
            port = cluster.nodes[target].port
            await _command(nodes[owner], "MIGRATE", "127.0.0.1", port, "", 0, 5000, "KEYS", *moving)

        await migrate(keys[:1])  # half-way: the room's keys are on both nodes
        for step in (
            store.set_hand(room, "bo", True, T0 + 2, LIMIT),
            store.stage(room, T0 + 2),
            store.unban(room, "troll", T0 + 2),
        ):
            with pytest.raises(errors.ShowError) as refused:
                await step
            assert refused.value.code is errors.Code.UNAVAILABLE
        await migrate(keys[1:])
        for node in nodes:
            await _command(node, "CLUSTER", "SETSLOT", slot, "NODE", ids[target])

        stage = await store.stage(room, T0 + 3)  # on the new node
        assert (stage.host is not None, stage.hands, stage.bans) == (True, 1, 1)
        assert await store.set_hand(room, "bo", True, T0 + 3, LIMIT)
        assert [h.identity for h in await store.hands(room, T0 + 3, 0, 10)] == ["gia", "bo"]
        assert await _command(nodes[target], "CLUSTER", "COUNTKEYSINSLOT", slot) >= len(keys)
    finally:
        await store.close()
        for node in nodes:
            await node.aclose()


async def _command(node: redis.Redis, *args: str | int | bytes) -> Any:
    """A command of the cluster's administration, which redis-py's client leaves untyped."""
    return await node.execute_command(*args)  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("kind", ["redis", "cluster"])
async def test_a_seat_given_back_keeps_what_a_newer_version_wrote_in_it(
    kind: str, request: pytest.FixtureRequest, room: str
) -> None:
    """The undo of a demotion LiveKit refused gives the guest its seat back as it was: fields a
    newer version wrote in it (and its version) are kept, as every script keeps them."""
    client = _client(kind, request)
    store = RedisRecords(client, idle_seconds=IDLE)
    try:
        await _hosted(store, room)
        guests_key = room_keys(room)[1]
        newer = {"v": 2, "identity": "gia", "name": "Gia", "since": ms(T0), "badge": 7, "tags": ["x", "y"]}
        await client.hset(guests_key, "gia", json.dumps(newer))
        assert await store.lock_source(room, "gia", "camera", True, 2, T0 + 1) == ("camera",)
        seat = await store.unseat(room, "gia", T0 + 2, StageChange.DEMOTE, acting="hana", change_id="d1")
        assert (seat.identity, seat.locked) == ("gia", ("camera",))
        assert await store.restore(room, "gia", Standing(seat, None, None), T0 + 3, LIMIT, "d1")
        given_back = json.loads(await client.hget(guests_key, "gia") or "{}")
        assert given_back == {**newer, "sid": "", "joined_at": 0, "locked": ["camera"]}
    finally:
        await store.close()


@pytest.mark.parametrize("kind", ["redis", "cluster"])
async def test_an_absence_left_behind_by_an_older_version_counts_for_nothing(
    kind: str, request: pytest.FixtureRequest, room: str
) -> None:
    """During a rolling deploy an older instance, which knows no absences, may give an away
    host's seat a new connection and leave the absence behind: it names the connection it was
    noted of, older than the one the seat now holds, so it counts for nothing (the holder is not
    freed early at its next drop), and the next absence is noted from its own moment."""
    client = _client(kind, request)
    store = RedisRecords(client, idle_seconds=IDLE)
    try:
        await _hosted(store, room)
        await store.connected(room, "hana", Connection("PA_1", ms(T0)), "", T0)
        assert await store.seat_away(room, "hana", Connection("PA_1", ms(T0)), T0 + 1)
        host_key = room_keys(room)[0]
        seat = json.loads(await client.hget(host_key, "host") or "{}")
        assert (seat["away"], seat["away_of"], seat["away_joined"]) == (ms(T0 + 1), "PA_1", ms(T0))
        older = {**seat, "sid": "PA_2", "joined_at": ms(T0 + 2)}  # the older version's connected
        await client.hset(host_key, "host", json.dumps(older))
        assert (await _host(store, room, T0 + 3)).away == 0
        assert await store.seat_away(room, "hana", Connection("PA_2", ms(T0 + 2)), T0 + 40)
        assert (await _host(store, room, T0 + 40)).away == ms(T0 + 40)
    finally:
        await store.close()


@pytest.mark.parametrize("kind", ["redis", "cluster"])
async def test_pending_changes_of_the_version_before_ids_are_completed_by_their_kind(
    kind: str, request: pytest.FixtureRequest, room: str
) -> None:
    """A rolling deploy runs this version beside the one before it, which writes pending changes
    without an id and clears them by their kind. Its changes are cleared here by their kind too;
    this version's carry the id beside the fields that version reads (change, since, deadline),
    which it reads as it always did, ignoring the id."""
    client = _client(kind, request)
    store = RedisRecords(client, idle_seconds=IDLE)
    try:
        await _hosted(store, room)
        pending_key = room_keys(room)[4]
        older = {"v": 1, "change": "promote", "since": ms(T0), "deadline": ms(T0 + 10)}
        await client.hset(pending_key, "gia", json.dumps(older))
        (change,) = await store.pending(room)
        assert (change.change, change.id, change.part) == (StageChange.PROMOTE, "", None)  # its part unknown
        assert not await store.complete(room, "gia", StageChange.DEMOTE, "d1")
        assert await store.complete(room, "gia", StageChange.PROMOTE, "p1")  # whatever id the caller has
        assert await store.pending(room) == []

        await store.set_hand(room, "gia", True, T0 + 1, LIMIT)
        await store.invite(room, "gia", T0 + 1, INVITE_FOR, LIMIT, acting="hana", change_id="p2")
        written = json.loads(await client.hget(pending_key, "gia") or "{}")
        assert written == {
            "v": 1, "change": "promote", "since": ms(T0 + 1), "deadline": ms(T0 + 11), "id": "p2", "part": "guest"
        }  # fmt: skip
    finally:
        await store.close()


@pytest.mark.parametrize("kind", ["redis", "cluster"])
async def test_an_invitation_an_older_version_gave_again_names_nobody(
    kind: str, request: pytest.FixtureRequest, room: str
) -> None:
    """During a rolling deploy an older instance, which keeps no inviters, may give an invitation
    again (or withdraw it) and leave this version's sender of the earlier one behind: the sender
    counts only for the invitation of its expiry, so the viewer is told of nobody rather than of
    the wrong manager. A sender written with fields this version does not know is still read."""
    client = _client(kind, request)
    store = RedisRecords(client, idle_seconds=IDLE)
    try:
        await _hosted(store, room)
        await store.invite(room, "ivo", T0 + 1, INVITE_FOR, LIMIT, acting="hana")
        invitations_key, inviters_key = room_keys(room)[3], room_keys(room)[ROOM_KEYS.index("inviters")]
        await client.zadd(invitations_key, {"ivo": ms(T0 + 2 + INVITE_FOR)})  # the older version's invite
        found = await store.admission(room, "ivo", T0 + 3)
        assert (found.invitation_expires_at, found.invited_by) == (ms(T0 + 2 + INVITE_FOR), "")
        newer = {"v": 2, "by": "mia", "expires": ms(T0 + 2 + INVITE_FOR), "via": "queue"}
        await client.hset(inviters_key, "ivo", json.dumps(newer))
        assert (await store.admission(room, "ivo", T0 + 3)).invited_by == "mia"
    finally:
        await store.close()


@pytest.mark.parametrize("kind", ["redis", "cluster"])
async def test_values_only_a_newer_version_writes_are_left_to_it(
    kind: str, request: pytest.FixtureRequest, room: str
) -> None:
    """A rolling deploy's newer instance may write a value this version's enumerations lack: an
    egress kind, a stage change, a phase. The kind and the change are left alone for the
    instances that know them (never listed, never dropped, the room kept in the index of due
    changes); a phase every step depends on is refused plainly (UNAVAILABLE, which callers
    retry), never an internal error."""
    client = _client(kind, request)
    store = RedisRecords(client, idle_seconds=IDLE)
    try:
        await _hosted(store, room)
        stage_key, _, _, _, pending_key, recordings_key, *_ = room_keys(room)
        newer = {"v": 2, "id": "EG_in", "status": 1, "seq": 9, "kind": "ingest", "started_at": ms(T0)}
        await client.hset(recordings_key, "EG_in", json.dumps(newer))
        # A kind of record whose fields are not this version's (no status at all): left alone too.
        unlike = {"v": 2, "id": "EG_clip", "seq": 10, "kind": "clip", "started_at": ms(T0)}
        await client.hset(recordings_key, "EG_clip", json.dumps(unlike))
        due = ms(T0 + 5)
        await client.hset(
            pending_key, "gia", json.dumps({"v": 2, "change": "transfer", "since": ms(T0), "deadline": due})
        )
        await client.zadd(STAGE_CHANGES, {room: due})

        stage = await store.stage(room, T0)
        assert stage.recordings == () and stage.pending == ()
        assert await store.pending(room) == []
        assert room in await store.overdue(T0 + 6)  # still due, for the version that knows the change
        # This version's own steps go on beside them and keep them.
        await store.reserve_recording(room, "pending-1", "grid", T0 + 1)
        assert [r.id for r in (await store.stage(room, T0 + 1)).recordings] == ["pending-1"]
        assert json.loads(await client.hget(recordings_key, "EG_in") or "{}")["kind"] == "ingest"
        assert json.loads(await client.hget(recordings_key, "EG_clip") or "{}")["kind"] == "clip"
        assert await client.hexists(pending_key, "gia")

        await client.hset(stage_key, "phase", "paused")
        message = errors.newer_record("phase", "paused")
        await _refused(errors.Code.UNAVAILABLE, message, store.stage(room, T0 + 2))
        await _refused(errors.Code.UNAVAILABLE, message, store.admission(room, "zed", T0 + 2))
    finally:
        await store.close()


async def test_an_unreachable_store_is_unavailable() -> None:
    store = RedisRecords(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1))
    with pytest.raises(errors.ShowError) as failed:
        await store.claim_host("r", "hana", "Hana", T0, STALE_AFTER)
    assert failed.value.code is errors.Code.UNAVAILABLE
    await store.close()


# --- two instances racing --------------------------------------------------------------------


@pytest.fixture(params=["redis", "cluster"])
async def two_instances(request: pytest.FixtureRequest) -> AsyncIterator[tuple[ShowRecords, ShowRecords]]:
    """Two stores on two separate clients (connection pools), as two instances have."""
    pair = (_store(request.param, request), _store(request.param, request))
    yield pair
    for store in pair:
        await store.close()


@pytest.mark.parametrize("kind", ["redis", "cluster"])
async def test_reads_lag_another_instances_change_by_the_bound_and_never_their_own(
    kind: str, request: pytest.FixtureRequest, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """recent_stage (GetRoom's and ListParticipants' record) on a shared store: another
    instance's change shows within the read bound, this instance's own at once, and a read that
    overlapped one of this instance's writes is not handed out again."""
    ticks = ManualClock()
    here = RedisRecords(_client(kind, request), idle_seconds=IDLE, read_seconds=2.0, monotonic=ticks.now)
    there = _store(kind, request)
    try:
        await _hosted(there, room)
        read = await here.recent_stage(room, T0)
        assert read.host is not None and read.hands == 0
        assert await here.recent_stage(room, T0) is read  # one read for the bound

        await there.set_hand(room, "gia", True, T0, LIMIT)  # another instance's change
        ticks.advance(1.9)
        assert (await here.recent_stage(room, T0)).hands == 0
        assert (await here.stage(room, T0)).hands == 1  # deciding reads are never held back
        ticks.advance(0.1)
        assert (await here.recent_stage(room, T0)).hands == 1

        await here.set_hand(room, "bo", True, T0, LIMIT)  # this instance's own: at once
        assert (await here.recent_stage(room, T0)).hands == 2

        # A read whose answer was late, while this instance wrote, is not kept: it predates the
        # write. (The read lands in Redis first; its answer is held back until the write is done.)
        ticks.advance(2.0)
        answer_late = _late_reads(here, monkeypatch)
        reading = asyncio.ensure_future(here.recent_stage(room, T0))
        await asyncio.sleep(0.1)
        await here.set_hand(room, "cy", True, T0, LIMIT)
        answer_late.set()
        assert (await reading).hands == 2  # as it was read
        monkeypatch.undo()
        assert (await here.recent_stage(room, T0)).hands == 3
    finally:
        await here.close()
        await there.close()


def _late_reads(store: RedisRecords, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Holds back the answer of every read_stage step of `store` (which reaches Redis at once)
    until the event returned is set."""
    step, answer_late = store._step, asyncio.Event()

    async def late(name: str, room: str, now: float, *args: str | int, **kwargs: Any) -> list[Any]:
        answer = await step(name, room, now, *args, **kwargs)
        if name == "read_stage":
            await answer_late.wait()
        return answer

    monkeypatch.setattr(store, "_step", late)
    return answer_late


@pytest.mark.parametrize("kind", ["redis", "cluster"])
async def test_a_ban_shows_to_the_policy_within_the_bound_and_this_instances_own_at_once(
    kind: str, request: pytest.FixtureRequest, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """recently_banned (the policy's refusal of a banned participant's token) on a shared store:
    read with recent_stage's record in the same step, so that a read by a caller in good
    standing costs what it did; another instance's ban or unban shows within the read bound,
    this instance's own at once, and this instance's other writes leave the bans it read."""
    ticks = ManualClock()
    here = RedisRecords(_client(kind, request), idle_seconds=IDLE, read_seconds=2.0, monotonic=ticks.now)
    there = _store(kind, request)
    steps: list[str] = []
    step = here._step

    async def counted(name: str, room: str, now: float, *args: str | int, **kwargs: Any) -> list[Any]:
        steps.append(name)
        return await step(name, room, now, *args, **kwargs)

    monkeypatch.setattr(here, "_step", counted)
    try:
        await _hosted(there, room)
        assert not await here.recently_banned(room, "troll", T0)
        await here.recent_stage(room, T0)
        assert not await here.recently_banned(room, "troll", T0)
        assert steps == ["read_stage"]  # one read for the record and the bans, for the bound

        assert await there.ban(room, "troll", T0, acting="hana")  # another instance's ban
        ticks.advance(1.9)
        assert not await here.recently_banned(room, "troll", T0)
        assert (await here.admission(room, "troll", T0)).banned  # deciding reads are never held back
        ticks.advance(0.1)
        steps.clear()
        assert await here.recently_banned(room, "troll", T0)
        assert (await here.recent_stage(room, T0)).bans == 1
        assert steps == ["read_stage"]  # the refusal's read is the record's too

        await here.unban(room, "troll", T0)  # this instance's own: at once
        assert not await here.recently_banned(room, "troll", T0)
        assert await here.ban(room, "troll", T0, acting="hana")
        assert await here.recently_banned(room, "troll", T0)
        assert not await here.recently_banned(room, "vic", T0)

        # This instance's other writes leave the bans it read: no read on their account.
        await there.unban(room, "troll", T0)
        await here.set_hand(room, "gia", True, T0, LIMIT)
        steps.clear()
        assert await here.recently_banned(room, "troll", T0)  # as read, within the bound
        assert steps == []
        ticks.advance(2.0)
        assert not await here.recently_banned(room, "troll", T0)

        # A read whose answer was late, while this instance banned, is not kept: it predates the ban.
        ticks.advance(2.0)
        answer_late = _late_reads(here, monkeypatch)
        reading = asyncio.ensure_future(here.recently_banned(room, "troll", T0))
        await asyncio.sleep(0.1)
        assert await here.ban(room, "troll", T0, acting="hana")
        answer_late.set()
        assert not await reading  # as it was read
        assert await here.recently_banned(room, "troll", T0)

        # Ending the show keeps its bans while the ended show is kept.
        await here.end_show(room, T0, IDLE)
        assert await here.recently_banned(room, "troll", T0)
    finally:
        await here.close()
        await there.close()


async def test_recently_banned_follows_bans_and_outlives_the_show(records: ShowRecords, room: str) -> None:
    await _hosted(records, room)
    assert not await records.recently_banned(room, "troll", T0)
    assert await records.ban(room, "troll", T0, acting="hana")
    assert await records.recently_banned(room, "troll", T0)
    assert not await records.recently_banned(room, "vic", T0)
    assert not await records.recently_banned("another-" + room, "troll", T0)
    await records.unban(room, "troll", T0 + 1)
    assert not await records.recently_banned(room, "troll", T0 + 1)
    assert await records.ban(room, "troll", T0 + 2, acting="hana")
    await records.end_show(room, T0 + 3, IDLE)
    # The ended show is kept readable for its retention, and its bans with it: a banned token
    # (a banned former host's among them) reads nothing of it.
    assert await records.recently_banned(room, "troll", T0 + 3)
    assert (await records.admission(room, "troll", T0 + 3)).banned


async def test_the_in_process_store_reads_are_always_current(room: str) -> None:
    store = MemoryRecords(idle_seconds=IDLE)
    await _hosted(store, room)
    await store.set_hand(room, "gia", True, T0, LIMIT)
    assert (await store.recent_stage(room, T0)).hands == 1
    await store.set_hand(room, "gia", False, T0, LIMIT)
    assert (await store.recent_stage(room, T0)).hands == 0


async def test_racing_claims_give_one_host(two_instances: tuple[ShowRecords, ShowRecords]) -> None:
    for _ in range(5):
        room = f"race-{uuid.uuid4().hex[:8]}"
        claims = [two_instances[i % 2].claim_host(room, f"host-{i}", "Host", T0, STALE_AFTER) for i in range(40)]
        outcomes = await asyncio.gather(*claims, return_exceptions=True)
        won = [o for o in outcomes if o is True]
        lost = [o for o in outcomes if isinstance(o, errors.ShowError) and o.message == errors.ROOM_HAS_HOST]
        assert (len(won), len(lost)) == (1, 39)


async def test_racing_acceptances_never_exceed_the_guest_limit(
    two_instances: tuple[ShowRecords, ShowRecords],
) -> None:
    a, b = two_instances
    for limit in (1, 3):
        room = f"race-{uuid.uuid4().hex[:8]}"
        await a.claim_host(room, "hana", "Hana", T0, STALE_AFTER)
        viewers = [f"v{i}" for i in range(30)]
        await asyncio.gather(*(b.invite(room, v, T0, INVITE_FOR, limit, acting="hana") for v in viewers[:20]))
        await asyncio.gather(*(a.set_hand(room, v, True, T0, limit) for v in viewers[20:]))
        steps = [(a, b)[i % 2].accept(room, v, T0 + 1, limit) for i, v in enumerate(viewers[:20])]
        steps += [(a, b)[i % 2].set_hand(room, v, True, T0 + 1, limit) for i, v in enumerate(viewers[:10])]
        steps += [
            (a, b)[i % 2].invite(room, v, T0 + 1, INVITE_FOR, limit, acting="hana") for i, v in enumerate(viewers[20:])
        ]
        await asyncio.gather(*steps, return_exceptions=True)
        stage = await a.stage(room, T0 + 1)
        assert len(stage.guests) == limit
        assert {p.identity for p in stage.pending} == {g.identity for g in stage.guests}


@pytest.mark.parametrize("kind", KINDS)
async def test_the_settings_choose_the_store(kind: str, request: pytest.FixtureRequest, room: str) -> None:
    env = {"LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "s"}
    if kind == "redis":
        env["SHOW_REDIS_URL"] = request.getfixturevalue("store_redis_server").url
    elif kind == "cluster":
        env |= {"SHOW_REDIS_URL": request.getfixturevalue("store_redis_cluster").url, "SHOW_REDIS_CLUSTER": "true"}
    store = await open_records(Settings.from_env(env))
    try:
        assert isinstance(store, MemoryRecords if kind == "memory" else RedisRecords)
        if isinstance(store, RedisRecords):
            assert isinstance(store.client, redis.RedisCluster if kind == "cluster" else redis.Redis)
        await _hosted(store, room)
        assert await store.role_of(room, "hana") is Role.HOST
    finally:
        await store.close()


async def test_a_cluster_with_a_primary_down_is_unavailable_to_readiness(tmp_path: Path) -> None:
    """Readiness asks the store's ping. Any node of a Cluster answers a PING, also once the cluster
    is down (a primary gone, its slots unserved) and refuses every room's step: the store must
    say so as the cluster does, and be ready again once the cluster is whole."""
    cluster = RedisCluster(workdir=tmp_path).start()
    client = connect(cluster.url, cluster=True)
    assert isinstance(client, redis.RedisCluster)
    store = RedisRecords(client)

    async def ready() -> bool:
        try:
            await store.ping()
        except errors.ShowError as exc:
            assert exc.code is errors.Code.UNAVAILABLE
            return False
        return True

    async def until(wanted: bool) -> None:
        for _ in range(150):  # the nodes agree within their node timeout (5 s) and a few beats
            if await ready() is wanted:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"the store never became {'ready' if wanted else 'unready'}")

    try:
        assert await ready()
        default = client.get_default_node()
        gone = next(node for node in cluster.nodes if node.port != default.port)
        options, workdir, port = gone.options, gone.workdir, gone.port
        gone.stop()
        await until(False)
        room = next(f"ping-{n}" for n in range(200) if client.get_node_from_key(room_keys(f"ping-{n}")[0]) != default)
        with pytest.raises(errors.ShowError) as refused:  # every room is refused now, as the ping says
            await store.claim_host(room, "hana", "Hana", T0, STALE_AFTER)
        assert refused.value.code is errors.Code.UNAVAILABLE
        # Back (with its cluster configuration, empty): ready once the cluster serves every slot.
        cluster.nodes[[n.port for n in cluster.nodes].index(port)] = RedisServer(
            workdir=workdir, port=port, options=options
        ).start()
        await until(True)
        assert await store.claim_host(room, "hana", "Hana", T0, STALE_AFTER)
    finally:
        await store.close()
        cluster.stop()


@pytest.mark.parametrize("kind", ["redis", "cluster"])
async def test_a_step_whose_answer_did_not_come_is_never_sent_again(kind: str, tmp_path: Path) -> None:
    """A node stalled past the client's socket timeout (5 s) runs what it was sent once it wakes.
    The step answers UNAVAILABLE and is not sent again, on a single node as on a Cluster (whose
    client sent it again after each timeout): each step runs once."""
    if kind == "cluster":
        cluster = RedisCluster(workdir=tmp_path).start()
        servers, url = cluster.nodes, cluster.url
    else:
        servers = [RedisServer(workdir=tmp_path).start()]
        url = servers[0].url
    client = connect(url, cluster=kind == "cluster")
    store = RedisRecords(client)
    try:
        await store.ping()  # a cluster client knows the layout from here
        port, room = servers[0].port, "stalled"
        if isinstance(client, redis.RedisCluster):
            # A room on another node than the global indexes, which its steps mark first.
            indexes = client.get_node_from_key(ACTIVITY)
            nodes = {name: client.get_node_from_key(room_keys(name)[0]) for name in (f"stalled-{n}" for n in range(50))}
            room, node = next((name, node) for name, node in nodes.items() if node and node != indexes)
            port = int(node.port)
        await _hosted(store, room)
        await store.set_hand(room, "gia", True, T0, LIMIT)
        # The node knows both steps, and two connections to it are open: a step stalls in its
        # sending, not in opening a connection (which would leave it unsent).
        await asyncio.gather(
            store.invite(room, "bo", T0, INVITE_FOR, LIMIT, acting="hana"),
            store.append_history(room, _entry("host_joined", T0, target="hana"), T0),
        )
        stalled = next(server for server in servers if server.port == port)
        os.kill(stalled.pid, signal.SIGSTOP)
        try:
            steps = asyncio.gather(
                store.invite(room, "gia", T0 + 1, INVITE_FOR, LIMIT, acting="hana"),
                store.append_history(room, _entry("guest_promoted", T0 + 1, target="gia"), T0 + 1),
                return_exceptions=True,
            )
            await asyncio.sleep(6)
        finally:
            os.kill(stalled.pid, signal.SIGCONT)
        answers = await steps
        assert [getattr(a, "code", a) for a in answers] == [errors.Code.UNAVAILABLE] * 2
        await asyncio.sleep(0.5)  # the woken node runs what it was sent
        # Each ran at most once. Mostly each reached the node and ran once it woke: gia seated,
        # one entry more. A step whose connection was still being set up when the node stalled
        # was never sent: it changed nothing. Never twice: no second entry, no seat refused.
        stage = await store.stage(room, T0 + 1)
        seated = [g.identity for g in stage.guests]
        assert (seated, stage.hands) in ((["gia"], 0), ([], 1)), (seated, stage.hands)
        history = await store.history(room, 0, 10, T0 + 1)
        assert [(e.sequence, e.kind) for e in history] in (
            [(1, "host_joined"), (2, "guest_promoted")],
            [(1, "host_joined")],
        )
    finally:
        await store.close()
        for server in servers:
            server.stop()


async def test_an_unreachable_cluster_stops_the_start() -> None:
    env = {"LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "s"}
    env |= {"SHOW_REDIS_URL": "redis://127.0.0.1:1/0", "SHOW_REDIS_CLUSTER": "true"}
    with pytest.raises(StoreUnreachable, match="Redis Cluster node"):
        await open_records(Settings.from_env(env))


# --- the memory store and Redis agree --------------------------------------------------------


async def _apply(store: ShowRecords, room: str, op: tuple[str, ...], now: float) -> object:
    """One step of a random show, as a comparable outcome: the answer, or the refusal."""
    kind, who = op[0], op[1]
    try:
        match kind:
            case "claim":
                return await store.claim_host(room, who, who.upper(), now, STALE_AFTER)
            case "invite":
                return await store.invite(room, who, now, INVITE_FOR, 2, acting=op[2] or None, change_id=op[-1])
            case "accept":
                return await store.accept(room, who, now, 2, change_id=op[-1])
            case "decline":
                await store.decline(room, who, now)
                return None
            case "raise" | "lower":
                return await store.set_hand(room, who, kind == "raise", now, 2, change_id=op[-1])
            case "demote":
                acting = op[2] or None
                # Words with a change's id (an older version writes neither).
                words = f"off {who} {op[-1]}" if op[-1] else ""
                return await store.unseat(room, who, now, StageChange.DEMOTE, acting, "no", op[-1], words)
            case "forget":
                return await store.forget(room, who, now)
            case "limit":
                return await store.set_guest_limit(room, int(op[2]), now)
            case "joined":
                return await store.connected(room, who, Connection(op[2], int(op[3])), op[4], now)
            case "left":
                keep = op[5] == "keep"
                return await store.left(room, who, Connection(op[2], int(op[3])), now - 1, op[4], now, keep)
            case "let_go":  # the reconciler, at the end of a viewer's grace window
                standing = await store.standing(room, who, now)
                hand = standing.hand if op[2] == "hand" else ms(now)
                return await store.lower_abandoned_hand(room, who, hand, standing.invitation)
            case "opened":
                return await store.room_opened(room, op[2], int(op[3]), now)
            case "reserve":
                await store.reserve_recording(room, who, "grid", now)
                return None
            case "settle":
                await store.settle_recording(room, who, f"EG_{who}", int(op[2]), "/out", now)
                return None
            case "progress":
                return await store.record_progress(room, op[2], int(op[3]), now, "", "", now)
            case "drop":
                await store.drop_recording(room, who, now)
                return None
            case "retire":
                return await store.retire(room, op[2])
            case "appoint":
                return await store.appoint(room, who, now, acting=op[2] or None, not_host="no")
            case "dismiss":
                await store.dismiss(room, who, now, op[-1], f"dismissed {who} {op[-1]}" if op[-1] else "")
                return None
            case "ban":
                return await store.ban(room, who, now, acting=op[2] or None, not_host="no")
            case "unban":
                await store.unban(room, who, now)
                return None
            case "lock" | "unlock":
                return await store.lock_source(room, who, op[2], kind == "lock", 2, now)
            case "admission":
                return await store.admission(room, who, now)
            case "history":
                await store.append_history(room, HistoryEntry(op[2], ms(now), who, op[3]), now)
                return await store.history(room, int(op[4]), 3, now)
            case "live":
                return await store.go_live(room, now, op[2] or None, "no")
            case "released":
                return await store.audience_released(room, now)
            case "end":
                return await store.end_show(room, now, 3600)
            case "tell":
                part = Role(op[2])
                return await store.tell(room, who, part, int(op[3]), op[4], now, op[5])
            case "land":
                return await store.land(room, who, StageChange(op[2]), op[3], int(op[4]), op[5], now)
            case "undo":  # a step LiveKit refused, undone
                standing = await store.standing(room, who, now)
                await store.forget(room, who, now)
                return await store.restore(room, who, standing, now, 2)
            case _:
                return await store.complete(room, who, StageChange(op[2]), op[3])
    except errors.ShowError as refused:
        return (refused.code, refused.message)


# Who takes part in the random shows.
_PEOPLE = ["hana", "ivan", "gia", "bo", "cy", "zed"]


def _random_show(rng: random.Random, steps: int) -> list[tuple[str, ...]]:
    people = _PEOPLE
    kinds = ["claim", "invite", "accept", "decline", "raise", "lower", "demote", "forget", "limit", "joined"]
    kinds += ["left", "complete", "raise", "invite", "accept", "opened", "reserve", "settle", "progress", "drop"]
    kinds += ["retire", "undo", "appoint", "dismiss", "ban", "unban", "admission", "appoint", "lock", "unlock"]
    kinds += ["history", "history", "live", "released", "end", "left", "let_go"]
    ops: list[tuple[str, ...]] = []
    for _ in range(steps):
        kind, who = rng.choice(kinds), rng.choice(people)
        if kind in ("retire", "end") and rng.random() < 0.8:
            continue  # a retired or ended show now and then, not every few steps
        extra: tuple[str, ...] = ()
        if kind in ("invite", "demote", "appoint", "ban", "live"):
            extra = (rng.choice(["", "hana", "ivan", "bo"]),)
        elif kind in ("lock", "unlock"):
            extra = (rng.choice(["camera", "microphone"]),)
        elif kind == "limit":
            extra = (str(rng.randint(1, 3)),)
        elif kind in ("joined", "left"):
            extra = (f"PA_{who}_{rng.randint(1, 3)}", str(rng.randint(1, 3) * 1000), rng.choice(["", "RM_1", "RM_2"]))
            extra += (rng.choice(["", "keep"]),)
        elif kind == "let_go":
            extra = (rng.choice(["hand", "another"]),)
        elif kind == "opened":
            extra = (rng.choice(["RM_1", "RM_2", "RM_3"]), str(rng.randint(1, 3) * 1000))
        elif kind == "settle":
            extra = (str(rng.randint(0, 5)),)
        elif kind == "progress":
            extra = (rng.choice([f"EG_{p}" for p in people] + people), str(rng.randint(0, 5)))
        elif kind == "retire":
            extra = (rng.choice(["", "RM_1", "RM_2"]),)
        elif kind == "history":
            extra = (rng.choice(["guest_promoted", "host_left"]), rng.choice(people), str(rng.randint(0, 8)))
        elif kind == "complete":
            extra = (rng.choice(["promote", "demote"]),)
        if kind in ("invite", "accept", "raise", "lower", "demote", "dismiss", "complete"):
            # The id of the change the step may leave pending, or that a completion names: one of
            # a few (none, as an older version writes them, among them), taken without drawing from
            # `rng`, so that each seed plays the show it always did.
            extra += (["", "a", "b"][len(ops) % 3],)
        ops.append((kind, who, *extra))
        landing = kind in ("invite", "accept", "demote", "dismiss") and len(ops) % 2 == 0
        if landing:
            # Its call made it on LiveKit and lands it, with the words the room is owed (an id of
            # the few, and a kind, that may or may not be the change's): without drawing from `rng`.
            change = "promote" if kind in ("invite", "accept") else "demote"
            ops.append(("land", who, change, extra[-1] if extra else "", str(ms(T0)), f"w{len(ops) % 3}"))
        if kind in ("invite", "accept", "demote", "complete", "undo") or landing:
            # What the room hears of it, with or without words of its own, after a seat of now or
            # another time, told as a landed change's or not: again without drawing from `rng`.
            part, words = ["guest", "viewer", "moderator"][len(ops) % 4 % 3], ["", "w1", "w2"][len(ops) % 3]
            told = ["", "a", "b"][len(ops) % 3] if landing else ""
            ops.append(("tell", who, part, str(ms(T0) + len(ops) % 4 * 30_000), words, told))
    return ops


@pytest.mark.parametrize("kind", ["redis", "cluster"])
@pytest.mark.parametrize("seed", range(8))
async def test_the_memory_store_and_redis_agree_on_any_show(
    kind: str, seed: int, request: pytest.FixtureRequest, room: str
) -> None:
    """Random shows (seeded, so a failure repeats) played on both: every answer, every refusal
    and the record after each step are the same."""
    rng = random.Random(seed)
    memory, shared = MemoryRecords(), RedisRecords(_client(kind, request))
    try:
        now = T0
        for op in _random_show(rng, 120):
            now += rng.choice([0.0, 0.5, 7.0, 30.0])
            outcomes = [await _apply(store, room, op, now) for store in (memory, shared)]
            assert outcomes[0] == outcomes[1], op
            views = [
                (
                    await s.stage(room, now),
                    await s.hands(room, now),
                    await s.raised_among(room, now, _PEOPLE),
                    await s.pending(room),
                    await s.bans(room, now),
                    await s.history(room, 0, 1000, now),
                )
                for s in (memory, shared)
            ]
            assert views[0] == views[1], op
    finally:
        await shared.close()


async def test_the_stores_agree_on_an_expired_invitation_a_kept_room_and_a_telling(
    records: ShowRecords, room: str
) -> None:
    """Three answers the stores once gave differently: a viewer who leaves after its invitation
    expired held nothing (before, Redis said so only if no step had cleared the invitation yet,
    and one that refused could clear it); a room of which only bans and moderators are kept is
    kept alive (Redis kept only rooms with a stage or guests key), one of which nothing is kept is
    not (the memory store kept it); a telling keeps the room but marks no activity (the memory
    store marked it)."""
    await _hosted(records, room)
    await records.invite(room, "vic", T0, 5.0, LIMIT, acting="hana")
    await records.appoint(room, "mo", T0 + 1, acting="hana")
    with pytest.raises(errors.ShowError):
        await records.appoint(room, "mo", T0 + 10, acting="hana")  # refused, past vic's expiry
    departure = await records.left(room, "vic", Connection("PA_vic", ms(T0)), T0 + 11, "", T0 + 11)
    assert departure.verdict is Verdict.NOT_HELD

    other = f"{room}-kept"
    await records.ban(other, "troll", T0, None)
    assert await records.keep_alive(other, "", T0 + 1)
    empty = f"{room}-empty"
    with pytest.raises(errors.ShowError):
        await records.dismiss(empty, "nobody", T0)  # refused: nothing kept of the room
    assert not await records.keep_alive(empty, "", T0 + 1)

    told = f"{room}-told"
    await records.appoint(told, "mo", T0, acting=None)
    assert await records.tell(told, "mo", Role.MODERATOR, 0, "appointed", T0 + 500) == ("appointed",)
    assert told not in await records.active_rooms(T0 + 100, count=100_000)
