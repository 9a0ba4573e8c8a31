"""The show's record in Redis (single node or Cluster): one key per concern, one script per step.

A room's keys share one hash tag, `showrunner:{<room>}:...`, so every step is one Lua script on
one slot: the rules that must hold across instances are decided where the data is, in a single
atomic step, with no read-modify-write of a room and no optimistic retries. The scripts live in
service/stores/lua/ (each prefixed with prelude.lua) and run by EVALSHA.

Two small indexes are global, under their own tag `{rooms}` (so on Cluster they live on one
node, apart from the rooms): rooms by last write (for a reconciler's scheduled passes) and rooms
by the deadline of their latest pending stage change. They are hints written before the room's
own step, so a crash between the two leaves an index entry without a change (harmless: the
reader finds nothing and drops it), never a change without an index entry.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

import redis.asyncio as redis
from redis.exceptions import ClusterDownError, NoScriptError, RedisClusterException, RedisError, SlotNotCoveredError
from redis.maint_notifications import MaintNotificationsConfig

from service.core import errors
from service.core.record import (
    HISTORY_ENTRIES,
    KEPT_RECORDINGS,
    MODERATORS_PER_ROOM,
    RECORD_VERSION,
    Admission,
    AwayViewer,
    Ban,
    BansPage,
    Connection,
    Departure,
    Doubt,
    EgressKind,
    Hand,
    HandsPage,
    HistoryEntry,
    Lifecycle,
    PendingChange,
    Phase,
    Place,
    Recording,
    Seat,
    Seating,
    StageChange,
    StageRecord,
    Standing,
    Verdict,
    ms,
    refusal,
)
from service.core.roles import Role

log = logging.getLogger("showrunner.store")
T = TypeVar("T")

PREFIX = "showrunner:"
ROOM_KEYS = (
    "stage",
    "guests",
    "hands",
    "invitations",
    "pending",
    "recordings",
    "moderators",
    "bans",
    "history",
    "inviters",  # who gave each invitation (prelude.lua's INVITERS); a newer key than the others
    "heard",  # what the room last heard of each participant's place on the stage (tell.lua)
    "holders",  # which holder of its name each part is bound to (prelude.lua's HOLDERS)
    "doubts",  # participants whose undone change a pass is to look at (prelude.lua's DOUBTS)
    "away",  # viewers gone with a hand or an invitation kept through the window (prelude.lua's AWAY)
    "left_behind",  # what each of those kept (prelude.lua's LEFT_BEHIND)
)
ACTIVITY = PREFIX + "{rooms}:activity"
STAGE_CHANGES = PREFIX + "{rooms}:stage-changes"
# The deployment's name (ShowRecords.deployment), set by the first instance that asks; no expiry.
DEPLOYMENT = PREFIX + "{rooms}:deployment"
DEFAULT_IDLE_SECONDS = 6 * 3600.0
DEFAULT_CHANGE_SECONDS = 10.0
# How long a recording or stream may stay starting (its placeholder held while LiveKit's egress
# is asked) before it is taken for one left by an instance that died: the default egress
# timeout and stage change deadline, with a margin (service/stores/records.py derives it).
DEFAULT_STARTING_SECONDS = 30.0
_LUA = Path(__file__).with_name("lua")

RedisClient = redis.Redis | redis.RedisCluster
# What an unreachable store raises: the cluster client's own errors are not RedisErrors.
STORE_ERRORS = (RedisError, RedisClusterException)


def room_tag(room: str) -> str:
    """The room's hash tag: its name with "%", "{" and "}" escaped, so that any name yields a
    tag that Redis Cluster reads whole (a tag ends at the first "}")."""
    return room.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


def room_keys(room: str) -> list[str]:
    tag = room_tag(room)
    return [f"{PREFIX}{{{tag}}}:{name}" for name in ROOM_KEYS]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def unavailable(exc: Exception) -> errors.ShowError:
    """What any Redis failure (single node or Cluster) is to a caller: the store is unavailable,
    and the kind of failure. Its own words name the hosts and ports behind the service, which only
    the log tells (once for each new failure, not once a request, during an outage)."""
    global _last_told
    told = str(exc)
    if told != _last_told:
        _last_told = told
        log.warning("state store unavailable: %s", told)
    return errors.unavailable(f"The state store is unavailable ({type(exc).__name__})")


_last_told = ""  # the latest store failure the log told


def encode_seat(seat: Seat) -> str:
    """A seat's JSON: the fields this version knows over those it was read with, so that fields
    a newer version wrote are kept (its version too, when newer)."""
    stored = json.loads(seat.as_stored) if seat.as_stored else {}
    stored.pop("locked", None)
    for absence in ("away", "away_of", "away_joined"):
        stored.pop(absence, None)
    version = stored.get("v")
    return json.dumps(
        {
            **stored,
            "v": version if isinstance(version, int) and version > RECORD_VERSION else RECORD_VERSION,
            "identity": seat.identity,
            "name": seat.name,
            "since": seat.since,
            "sid": seat.sid,
            "joined_at": seat.joined_at,
            **({"locked": list(seat.locked)} if seat.locked else {}),
            **({"away": seat.away, "away_of": seat.away_of, "away_joined": seat.away_joined} if seat.away else {}),
        },
        separators=(",", ":"),
    )


def decode_seat(text: Any) -> Seat:
    """A seat as any version wrote it: fields this version does not know are ignored."""
    raw = json.loads(_text(text))
    identity = str(raw["identity"])
    return Seat(
        identity=identity,
        name=str(raw.get("name") or identity),
        since=int(raw.get("since") or 0),
        sid=str(raw.get("sid") or ""),
        joined_at=int(raw.get("joined_at") or 0),
        locked=tuple(str(s) for s in raw.get("locked") or ()),
        **_absence(raw),
        as_stored=_text(text),
    )


def _absence(raw: dict[str, Any]) -> dict[str, Any]:
    """A seat's absence as prelude.lua's away() counts it: only while the seat holds no newer
    connection than the one it was noted of (an older version may have given it one)."""
    away_joined = int(raw.get("away_joined") or 0)
    if not raw.get("away") or away_joined < int(raw.get("joined_at") or 0):
        return {}
    return {"away": int(raw["away"]), "away_of": str(raw.get("away_of") or ""), "away_joined": away_joined}


def decode_recording(text: Any) -> tuple[int, Recording] | None:
    """A recording or stream as any version wrote it, or None for an egress of a kind this
    version does not know (a newer version's): it is left to the instances that know it, and
    this version's steps keep it as they found it."""
    raw = json.loads(_text(text))
    # Records written before streams have no kind: they are recordings.
    kind = _known(EgressKind, str(raw.get("kind") or EgressKind.RECORDING))
    if kind is None:
        return None
    recording = Recording(
        id=str(raw["id"]),
        layout=str(raw.get("layout") or ""),
        status=int(raw.get("status") or 0),
        started_at=int(raw.get("started_at") or 0),
        ended_at=int(raw.get("ended_at") or 0),
        location=str(raw.get("location") or ""),
        error=str(raw.get("error") or ""),
        kind=kind,
        destinations=tuple(d for d in str(raw.get("destinations") or "").split(",") if d),
        destinations_at=int(raw.get("destinations_at") or 0),
    )
    return int(raw.get("seq") or 0), recording


def decode_pending(identity: Any, text: Any) -> PendingChange | None:
    """A pending stage change, or None for a change this version does not know (a newer
    version's): that version's instances complete it. One an older version wrote has no id."""
    raw = json.loads(_text(text))
    change = _known(StageChange, str(raw.get("change") or ""))
    if change is None:
        return None
    return PendingChange(
        identity=_text(identity),
        change=change,
        since=int(raw.get("since") or 0),
        deadline=int(raw.get("deadline") or 0),
        id=str(raw.get("id") or ""),
        part=_known(Role, str(raw.get("part") or "")),
        landed=bool(raw.get("landed")),
        ended=int(raw.get("ended") or 0),
        words=str(raw.get("words") or ""),
    )


def decode_ban(identity: Any, text: Any) -> Ban:
    raw = json.loads(_text(text))
    return Ban(_text(identity), int(raw.get("since") or 0), str(raw.get("by") or ""))


def decode_life(fields: Sequence[Any]) -> Lifecycle:
    """The show's life as the scripts' life() answers it: phase, opened, live, ended, release due."""
    phase, opened, live, ended, due = (_text(f) for f in fields)
    return Lifecycle(decode_phase(phase), int(opened or 0), int(live or 0), int(ended or 0), int(due or 0))


def decode_phase(text: str) -> Phase:
    """A show's phase. One only a newer version writes cannot be judged by this one: every step
    depends on the phase, so the room is refused plainly (UNAVAILABLE, which callers retry) rather
    than failing as an internal error."""
    phase = _known(Phase, text)
    if phase is None:
        raise errors.unavailable(errors.newer_record("phase", text))
    return phase


E = TypeVar("E", bound=StrEnum)


def _known(values: type[E], text: str) -> E | None:
    """`text` as a value of `values`, or None when this version does not know it."""
    try:
        return values(text)
    except ValueError:
        return None


def encode_history(entry: HistoryEntry) -> list[str | int]:
    """An entry as the history stream keeps it: its fields as name, value pairs, every name every
    time (Redis then stores the names once for a block of entries). The sequence number is the
    entry's id. Destination names are letters, digits, - and _ (service/config.py): a comma joins
    them."""
    return [
        "v", RECORD_VERSION, "at", entry.at, "kind", entry.kind, "actor", entry.actor, "target", entry.target,
        "reason", entry.reason, "egress", entry.egress_id, "destinations", ",".join(entry.destinations),
    ]  # fmt: skip


def decode_history(entry_id: Any, flat: Sequence[Any]) -> HistoryEntry:
    """An entry as any version wrote it: fields this version does not know are ignored."""
    raw = {_text(name): _text(value) for name, value in _pairs(flat)}
    return HistoryEntry(
        kind=raw.get("kind", ""),
        at=int(raw.get("at") or 0),
        actor=raw.get("actor", ""),
        target=raw.get("target", ""),
        reason=raw.get("reason", ""),
        egress_id=raw.get("egress", ""),
        destinations=tuple(d for d in raw.get("destinations", "").split(",") if d),
        sequence=int(_text(entry_id).split("-", 1)[0]),
    )


def _known_changes(found: Iterable[tuple[Any, Any]]) -> tuple[PendingChange, ...]:
    """The pending changes this version knows, by identity."""
    known = (decode_pending(identity, text) for identity, text in found)
    return tuple(sorted((p for p in known if p is not None), key=lambda p: p.identity))


def _deadline(text: Any) -> int:
    return int(json.loads(_text(text)).get("deadline") or 0)


def _appointed(text: Any) -> int:
    return int(json.loads(_text(text)).get("since") or 0)


def _pairs(flat: Sequence[Any]) -> list[tuple[Any, Any]]:
    return list(zip(flat[::2], flat[1::2], strict=True))


def _hands(flat: Sequence[Any]) -> list[Hand]:
    """Hands as the Lua reads of the queue answer them (prelude.lua's with_invitations): identity,
    when raised, and whether an open invitation waits (1/0), one after another."""
    return [
        Hand(_text(flat[i]), int(float(_text(flat[i + 1]))), bool(int(flat[i + 2]))) for i in range(0, len(flat), 3)
    ]


def _optional_ms(value: Any) -> int | None:
    text = _text(value)
    return int(float(text)) if text else None


def _standing(seat: Any, hand: Any, invitation: Any) -> Standing:
    return Standing(
        decode_seat(seat) if _text(seat) else None,
        _optional_ms(hand),
        _optional_ms(invitation),
    )


def _connection_args(connection: Connection | None) -> list[str | int]:
    return [connection.sid, connection.joined_at] if connection else ["", 0]


def _bound_to(connection: Connection | None, rebind: bool = True) -> str:
    """prelude.lua's bind() argument: the connection's holder, '' for nobody known, or '~' to
    leave the binding as it is."""
    if not rebind:
        return "~"
    return "" if connection is None else "=" + connection.holder


def _claimed(holder: str | None) -> str:
    """prelude.lua's holds() argument for a participant token of `holder` ("" for an unmarked
    one), or for the room's admin (None: no holder asked)."""
    return "" if holder is None else "=" + holder


# Moves (or drops, when ARGV[2] is '') a room's entry in the stage-change index, only if nobody
# wrote it since it was read as ARGV[1]: a newer entry belongs to a newer change.
_REINDEX = """
local seen = redis.call('ZSCORE', KEYS[1], ARGV[3])
if not seen or tonumber(seen) ~= tonumber(ARGV[1]) then return 0 end
if ARGV[2] == '' then redis.call('ZREM', KEYS[1], ARGV[3]) else redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3]) end
return 1
"""


class _Script:
    """A Lua script run by EVALSHA, falling back to EVAL (which also caches it on that node)
    when the node does not know it yet, after a restart or a failover. Nothing is loaded up
    front on every node: on Cluster a step runs on whichever node holds its room."""

    def __init__(self, client: RedisClient, text: str) -> None:
        self._client = client
        self._text = text
        self._sha = hashlib.sha1(text.encode()).hexdigest()

    @property
    def sha(self) -> str:
        return self._sha

    async def __call__(self, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        try:
            return await self._client.evalsha(self._sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self._client.eval(self._text, len(keys), *keys, *args)


class RedisRecords:
    """ShowRecords on Redis. `idle_seconds` is how long a room nobody writes to is kept;
    `change_seconds` is the deadline of a pending stage change; `history_entries` is how many
    entries of its history a room keeps; `read_seconds` how long a stage record read for
    answering a read may be handed out again (recent_stage; 0: never); `starting_seconds` how
    long a recording or stream may stay starting before another may take its place."""

    def __init__(
        self,
        client: RedisClient,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        change_seconds: float = DEFAULT_CHANGE_SECONDS,
        history_entries: int = HISTORY_ENTRIES,
        read_seconds: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
        starting_seconds: float = DEFAULT_STARTING_SECONDS,
    ) -> None:
        self._redis = client
        self._read_seconds, self._monotonic = read_seconds, monotonic
        # What recent_stage and recently_banned hand out: each room's stage record, dropped by any
        # write of this instance to the room, and its banned identities, read with the record and
        # dropped only by the steps that change them (a raised hand leaves the bans as they were).
        self._writes = 0  # this instance's writing steps so far (begun or ended), on any room
        self._recent: _Recent[StageRecord] = _Recent()
        self._recent_bans: _Recent[frozenset[str]] = _Recent()
        self._history_entries = max(1, history_entries)
        self._idle = max(1, ms(idle_seconds))
        self._bound = ms(change_seconds)
        self._starting = ms(starting_seconds)
        prelude = (_LUA / "prelude.lua").read_text()
        self._steps: dict[str, _Script] = {
            path.stem: _Script(client, prelude + "\n" + path.read_text())
            for path in sorted(_LUA.glob("*.lua"))
            if path.stem != "prelude"
        }
        self._reindex = _Script(client, _REINDEX)
        self._ready = False
        self._deployment = ""  # the name deployment() answered, held again by ping()
        self._readying = asyncio.Lock()

    async def _connect(self) -> None:
        """Learns the cluster's layout once, before any step: redis-py's cluster client, left to
        do it on first use, lets concurrent first calls rebuild it under each other (and they
        fail with a closed connection)."""
        async with self._readying:
            if not self._ready:
                await self._redis.initialize()
                self._ready = True

    @property
    def client(self) -> RedisClient:
        return self._redis

    async def _step(
        self,
        name: str,
        room: str,
        now: float,
        *args: str | int,
        identity: str = "",
        not_host: str = "",
        changes: bool = False,
    ) -> list[Any]:
        """Runs one step on the room's keys; its answer after 'ok', or the refusal raised. A
        writing step first marks the room in the global indexes (`changes`: it may record a
        pending stage change)."""
        now_ms = ms(now)
        keys, argv = room_keys(room), [now_ms, self._idle, self._bound, *args]
        # Every step but a read may change the record: more than _WRITES (complete, retire).
        writes = not name.startswith("read_")
        bans = name in _BAN_WRITES
        if writes:
            self._wrote(room, bans)
        try:
            if not self._ready:
                await self._connect()
            if name in _WRITES:
                reply = await self._marked(self._steps[name], room, now_ms, changes, keys, argv)
            else:
                reply = await self._steps[name](keys, argv)
        except STORE_ERRORS as exc:
            raise unavailable(exc) from exc
        finally:
            if writes:  # again once it is done: a read that overlapped it is not kept
                self._wrote(room, bans)
        if _text(reply[0]) == "refused":
            raise refusal(_text(reply[1]), identity, not_host)
        return list(reply[1:])

    async def _marked(
        self, step: _Script, room: str, now_ms: int, changes: bool, keys: list[str], argv: list[str | int]
    ) -> Any:
        """Marks the room in the global indexes (written to now; with `changes`, a stage change
        due at the deadline), then runs `step`: the hint is always written before the fact. On
        one node both go in one pipeline, in order, in one round trip; on Cluster the indexes
        live on their own node, so the step follows once they are written."""
        pipe = self._marks(room, now_ms, changes)
        if isinstance(self._redis, redis.RedisCluster):
            await pipe.execute()
            return await step(keys, argv)
        pipe.evalsha(step.sha, len(keys), *keys, *argv)
        *marks, reply = await pipe.execute(raise_on_error=False)
        for failed in marks:
            if isinstance(failed, Exception):
                raise failed
        if isinstance(reply, NoScriptError):
            return await step(keys, argv)  # this node lost its scripts (a restart): EVAL, once
        if isinstance(reply, Exception):
            raise reply
        return reply

    def _marks(self, room: str, now_ms: int, changes: bool = False) -> Any:
        """A pipeline marking the room in the global indexes: written to at `now_ms`, and with
        `changes` a stage change due at the deadline."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.zadd(ACTIVITY, {room: now_ms})
        pipe.zremrangebyscore(ACTIVITY, "-inf", now_ms - self._idle)
        if changes:
            pipe.zadd(STAGE_CHANGES, {room: now_ms + self._bound})
        return pipe

    async def _mark_written(self, room: str, now: float) -> None:
        """Marks the room written to after a step that wrote only a connection's facts (no stage
        change to hint, so nothing a crash before the mark could leave unwatched): LiveKit tells
        of every viewer, and one that holds nothing must not cost the shared index a write.
        Best effort: the step has written, and its caller must hear what it freed (on Cluster
        the index lives on another node, which may fail alone); a mark lost costs the room only
        its place in the reconciler's next scheduled pass."""
        try:
            await self._marks(room, ms(now)).execute()
        except STORE_ERRORS as exc:
            log.warning("could not mark %s written to in the activity index: %s", room, exc)

    # --- reading --------------------------------------------------------------------------

    def _wrote(self, room: str, bans: bool) -> None:
        self._writes += 1
        self._recent.wrote(room, self._writes)
        if bans:
            self._recent_bans.wrote(room, self._writes)

    async def recent_stage(self, room: str, now: float) -> StageRecord:
        if self._read_seconds <= 0:
            return await self.stage(room, now)
        asked_at = self._monotonic()
        kept = self._recent.get(room, asked_at - self._read_seconds)
        if kept is not None:
            return kept
        record, _ = await self._read_recent(room, now, asked_at)
        return record

    async def recently_banned(self, room: str, identity: str, now: float) -> bool:
        if self._read_seconds <= 0:
            return (await self.admission(room, identity, now)).banned
        asked_at = self._monotonic()
        banned = self._recent_bans.get(room, asked_at - self._read_seconds)
        if banned is None:
            _, banned = await self._read_recent(room, now, asked_at)
        return identity in banned

    async def _read_recent(self, room: str, now: float, asked_at: float) -> tuple[StageRecord, frozenset[str]]:
        """The stage record and the banned identities in one read, kept for the read bound from
        `asked_at`: a refusal of a banned caller's GetRoom costs no read of its own. Each is kept
        only if no write of this instance that changes it began or ended while it was read (it
        could have been read before that write landed)."""
        began = self._writes
        read = await self._step("read_stage", room, now, 1)
        record = _stage_record(room, read[:-1])
        banned = frozenset(_text(identity) for identity in read[-1])
        self._recent.keep(room, record, asked_at, began)
        self._recent_bans.keep(room, banned, asked_at, began)
        return record, banned

    async def stage(self, room: str, now: float) -> StageRecord:
        return _stage_record(room, await self._step("read_stage", room, now, 0))

    async def role_of(self, room: str, identity: str) -> Role:
        role, *_ = await self._step("read_standing", room, 0.0, identity)
        return Role(_text(role))

    async def hosted_by(self, room: str) -> str:
        (identity,) = await self._step("read_hosted_by", room, 0.0)
        return _text(identity)

    async def admission(self, room: str, identity: str, now: float) -> Admission:
        role, seat, hand, invitation, banned, phase, hosted, by, *bound = await self._step(
            "read_standing", room, now, identity
        )
        return Admission(
            Role(_text(role)),
            bool(int(banned)),
            decode_phase(_text(phase)),
            bool(int(hosted)),
            hand_raised=bool(_text(hand)),
            invitation_expires_at=_optional_ms(invitation) or 0,  # read_standing drops one expired at `now`
            invited_by=_text(by),
            locked=decode_seat(seat).locked if _text(seat) else (),
            holder=_text(bound[0]) if bound and bound[0] is not None else None,
        )

    async def standing(self, room: str, identity: str, now: float) -> Standing:
        _, seat, hand, invitation, *_ = await self._step("read_standing", room, now, identity)
        return _standing(seat, hand, invitation)

    async def hands(self, room: str, now: float, offset: int = 0, count: int = 100) -> list[Hand]:
        if count <= 0 or offset < 0:
            return []
        return _hands(await self._step("read_hands", room, now, offset, count))

    async def hands_after(self, room: str, now: float, after: Place | None, count: int) -> HandsPage:
        at, identity = ("", "") if after is None else (after.at, after.identity)
        total, flat = await self._step("read_hands_after", room, now, at, identity, max(0, count))
        return HandsPage(tuple(_hands(flat)), int(total))

    async def raised_among(self, room: str, now: float, identities: Collection[str]) -> frozenset[str]:
        if not identities:
            return frozenset()
        (raised,) = await self._step("read_raised_among", room, now, *identities)
        return frozenset(_text(identity) for identity in raised)

    # --- the host slot --------------------------------------------------------------------

    async def claim_host(
        self,
        room: str,
        identity: str,
        name: str,
        now: float,
        stale_after: float,
        connection: Connection | None = None,
        opens: Phase = Phase.BACKSTAGE,
    ) -> bool:
        (newly,) = await self._step(
            "claim_host",
            room,
            now,
            identity,
            name,
            ms(stale_after),
            *_connection_args(connection),
            opens.value,
            identity=identity,
        )
        return bool(int(newly))

    # --- the stage ------------------------------------------------------------------------

    def _seating(self, reply: list[Any]) -> Seating:
        promoted, seat, hand, invitation, host, moderators = reply
        managers = tuple(sorted(_text(m) for m in moderators))
        return Seating(bool(int(promoted)), _standing(seat, hand, invitation), _text(host) or None, managers)

    async def invite(
        self,
        room: str,
        viewer: str,
        now: float,
        expires_in: float,
        default_limit: int,
        acting: str | None,
        not_host: str = errors.ONLY_HOST_PROMOTES,
        connection: Connection | None = None,
        change_id: str = "",
    ) -> Seating:
        reply = await self._step(
            "invite",
            room,
            now,
            viewer,
            acting or "",
            default_limit,
            ms(expires_in),
            *_connection_args(connection),
            change_id,
            _bound_to(connection),
            identity=viewer,
            not_host=not_host,
            changes=True,
        )
        return self._seating(reply)

    async def accept(
        self,
        room: str,
        viewer: str,
        now: float,
        default_limit: int,
        connection: Connection | None = None,
        change_id: str = "",
        holder: str | None = None,
    ) -> Seating:
        args = (viewer, default_limit, *_connection_args(connection), change_id, _claimed(holder))
        reply = await self._step("accept", room, now, *args, identity=viewer, changes=True)
        return self._seating(reply)

    async def decline(self, room: str, viewer: str, now: float, holder: str | None = None) -> None:
        await self._step("decline", room, now, viewer, _claimed(holder), identity=viewer)

    async def set_hand(
        self,
        room: str,
        identity: str,
        raised: bool,
        now: float,
        default_limit: int,
        connection: Connection | None = None,
        change_id: str = "",
        holder: str | None = None,
    ) -> Seating:
        reply = await self._step(
            "set_hand",
            room,
            now,
            identity,
            1 if raised else 0,
            default_limit,
            *_connection_args(connection),
            change_id,
            _claimed(holder),
            identity=identity,
            changes=raised,
        )
        return self._seating(reply)

    async def lower_abandoned_hand(
        self, room: str, identity: str, raised_at: int | None, invitation: int | None = None
    ) -> bool:
        seen = ("" if raised_at is None else raised_at, "" if invitation is None else invitation)
        (lowered,) = await self._step("lower_abandoned_hand", room, 0.0, identity, *seen)
        return bool(int(lowered))

    async def unseat(
        self,
        room: str,
        guest: str,
        now: float,
        change: StageChange,
        acting: str | None = None,
        not_host: str = "",
        change_id: str = "",
        words: str = "",
    ) -> Seat:
        args = (guest, change.value, acting or "", change_id, words)
        (seat,) = await self._step("unseat", room, now, *args, identity=guest, not_host=not_host, changes=True)
        return decode_seat(seat)

    async def restore(
        self, room: str, identity: str, standing: Standing, now: float, default_limit: int, change_id: str = ""
    ) -> bool:
        seat = encode_seat(standing.seat) if standing.seat else ""
        hand = "" if standing.hand is None else standing.hand
        invitation = "" if standing.invitation is None else standing.invitation
        args = (identity, seat, hand, invitation, default_limit, change_id)
        (outcome,) = await self._step("restore", room, now, *args)
        return _text(outcome) not in ("full", "overtaken", "banned")

    async def forget(self, room: str, identity: str, now: float, removed: bool = False, away: int = 0) -> Role:
        (role,) = await self._step("forget", room, now, identity, "1" if removed else "0", away)
        return Role(_text(role))

    async def set_guest_limit(
        self, room: str, limit: int, now: float, acting: str | None = None, not_host: str = ""
    ) -> int | None:
        (before,) = await self._step("set_guest_limit", room, now, limit, acting or "", not_host=not_host)
        return int(_text(before)) if _text(before) else None

    # --- moderators and bans -------------------------------------------------------------

    async def appoint(
        self,
        room: str,
        identity: str,
        now: float,
        acting: str | None,
        not_host: str = "",
        connection: Connection | None = None,
        rebind: bool = True,
    ) -> Standing:
        args = (identity, acting or "", MODERATORS_PER_ROOM, _bound_to(connection, rebind))
        seat, hand, invitation = await self._step("appoint", room, now, *args, identity=identity, not_host=not_host)
        return _standing(seat, hand, invitation)

    async def dismiss(
        self,
        room: str,
        identity: str,
        now: float,
        change_id: str = "",
        words: str = "",
        change: StageChange = StageChange.DEMOTE,
    ) -> None:
        await self._step(
            "dismiss", room, now, identity, change_id, words, change.value, identity=identity, changes=True
        )

    async def ban(self, room: str, identity: str, now: float, acting: str | None, not_host: str = "") -> bool:
        (newly,) = await self._step("ban", room, now, identity, acting or "", identity=identity, not_host=not_host)
        return bool(int(newly))

    async def unban(self, room: str, identity: str, now: float) -> None:
        await self._step("unban", room, now, identity, identity=identity)

    async def lock_source(
        self, room: str, guest: str, source: str, locked: bool, sources: int, now: float
    ) -> tuple[str, ...]:
        (after,) = await self._step(
            "lock_source", room, now, guest, source, 1 if locked else 0, sources, identity=guest
        )
        return tuple(sorted(json.loads(_text(after))))

    async def bans(self, room: str, now: float) -> list[Ban]:
        (flat,) = await self._step("read_bans", room, now)
        return sorted((decode_ban(i, t) for i, t in _pairs(flat)), key=lambda b: (b.since, b.identity))

    async def bans_after(self, room: str, now: float, after: Place | None, count: int) -> BansPage:
        at, identity = ("", "") if after is None else (after.at, after.identity)
        total, flat = await self._step("read_bans_after", room, now, at, identity, max(0, count))
        return BansPage(tuple(decode_ban(i, t) for i, t in _pairs(flat)), int(total))

    # --- recordings -----------------------------------------------------------------------

    async def reserve_recording(
        self,
        room: str,
        placeholder: str,
        layout: str,
        now: float,
        kind: EgressKind = EgressKind.RECORDING,
        destinations: tuple[str, ...] = (),
    ) -> None:
        # Destination names are letters, digits, - and _ (service/config.py): a comma joins them.
        await self._step(
            "reserve_recording",
            room,
            now,
            placeholder,
            layout,
            KEPT_RECORDINGS,
            kind.value,
            ",".join(destinations),
            self._starting,
        )

    async def set_destinations(
        self, room: str, stream_id: str, destinations: tuple[str, ...], now: float, read: Recording | None = None
    ) -> bool:
        unless = ("1", ",".join(read.destinations), read.destinations_at) if read is not None else ("0", "", 0)
        (found,) = await self._step("set_destinations", room, now, stream_id, ",".join(destinations), *unless)
        return bool(int(found))

    async def settle_recording(
        self, room: str, placeholder: str, recording_id: str, status: int, location: str, now: float
    ) -> None:
        await self._step("settle_recording", room, now, placeholder, recording_id, status, location)

    async def drop_recording(self, room: str, placeholder: str, now: float) -> None:
        await self._step("drop_recording", room, now, placeholder)

    async def record_progress(
        self, room: str, recording_id: str, status: int, at: float, error: str, location: str, now: float
    ) -> tuple[int, int] | None:
        reply = await self._step("record_progress", room, now, recording_id, status, ms(at), error, location)
        return (int(reply[0]), int(reply[1])) if reply else None

    # --- the show's history --------------------------------------------------------------

    async def append_history(self, room: str, entry: HistoryEntry, now: float) -> int:
        # Not one of _WRITES: an entry accompanies a step that has marked the room already.
        (sequence,) = await self._step("append_history", room, now, self._history_entries, *encode_history(entry))
        return int(sequence)

    async def history(self, room: str, after: int, count: int, now: float) -> list[HistoryEntry]:
        if count <= 0 or after < 0:
            return []
        (found,) = await self._step("read_history", room, now, after, count)
        return [decode_history(entry_id, fields) for entry_id, fields in found]

    # --- LiveKit's view -------------------------------------------------------------------

    async def room_opened(self, room: str, room_sid: str, created_at: int, now: float) -> bool:
        (adopted,) = await self._step("room_opened", room, now, room_sid, created_at)
        return bool(int(adopted))

    async def connected(
        self,
        room: str,
        identity: str,
        connection: Connection,
        room_sid: str,
        now: float,
        listed_at: float | None = None,
    ) -> Verdict:
        listed = "" if listed_at is None else ms(listed_at)
        args = (identity, connection.sid, connection.joined_at, room_sid, listed)
        verdict, *wrote = await self._step("connected", room, now, *args)
        if wrote:
            await self._mark_written(room, now)
        return Verdict(_text(verdict))

    async def left(
        self,
        room: str,
        identity: str,
        connection: Connection,
        at: float,
        room_sid: str,
        now: float,
        keep: bool = False,
    ) -> Departure:
        verdict, freed, *rest = await self._step(
            "left", room, now, identity, connection.sid, connection.joined_at, ms(at), room_sid, int(keep)
        )
        kept = Standing(None, _optional_ms(rest[1]), _optional_ms(rest[2])) if len(rest) > 1 else None
        if _text(verdict) == Verdict.APPLIED.value and kept is None:  # a seat, hand or invitation freed
            await self._mark_written(room, now)
        return Departure(
            Verdict(_text(verdict)), Role(_text(freed)) if _text(freed) else None, bool(rest and int(rest[0])), kept
        )

    async def pending(self, room: str) -> list[PendingChange]:
        return list(_known_changes((await self._pending(room)).items()))

    async def _pending(self, room: str) -> dict[Any, Any]:
        """The room's pending changes as stored, a newer version's included."""
        try:
            if not self._ready:
                await self._connect()
            found: dict[Any, Any] = await self._redis.hgetall(room_keys(room)[4])
        except STORE_ERRORS as exc:
            raise unavailable(exc) from exc
        return found

    async def complete(self, room: str, identity: str, change: StageChange, change_id: str = "") -> bool:
        (cleared,) = await self._step("complete", room, 0.0, identity, change.value, change_id)
        return bool(int(cleared))

    async def land(
        self, room: str, identity: str, change: StageChange, change_id: str, ended: int, words: str, now: float
    ) -> bool:
        # One of _WRITES, with a stage change: its new deadline is the reconciler's to watch.
        args = (identity, change.value, change_id, ended, words)
        (landed,) = await self._step("land", room, now, *args, identity=identity, changes=True)
        return bool(int(landed))

    async def tell(
        self, room: str, identity: str, part: Role, ended: int, words: str, now: float, change_id: str = ""
    ) -> tuple[str, ...]:
        # Not one of _WRITES: it follows a step of the same change, which has marked the room.
        (told,) = await self._step("tell", room, now, identity, part.value, ended, words, change_id)
        return tuple(_text(said) for said in told)

    async def overdue(self, now: float, count: int = 100) -> list[str]:
        now_ms = ms(now)
        try:
            if not self._ready:
                await self._connect()
            candidates: Any = await self._redis.zrangebyscore(
                STAGE_CHANGES, "-inf", now_ms, start=0, num=count, withscores=True
            )
        except STORE_ERRORS as exc:
            raise unavailable(exc) from exc
        found: list[str] = []
        for member, score in candidates:
            room = _text(member)
            # Every change's deadline counts, a newer version's too: its room stays in the index
            # for the instances that can complete it.
            stored = await self._pending(room)
            earliest = min((_deadline(text) for text in stored.values()), default=None)
            if earliest is not None and earliest <= now_ms:
                found.append(room)
                continue
            # Nothing due here (any more): move the entry to the next deadline, or drop it.
            try:
                await self._reindex(keys=[STAGE_CHANGES], args=[int(score), "" if earliest is None else earliest, room])
            except STORE_ERRORS as exc:
                raise unavailable(exc) from exc
        return found

    async def active_rooms(self, since: float, count: int = 1_000_000) -> list[str]:
        try:
            if not self._ready:
                await self._connect()
            found = await self._redis.zrangebyscore(ACTIVITY, ms(since), "+inf", start=0, num=count)
        except STORE_ERRORS as exc:
            raise unavailable(exc) from exc
        return [_text(room) for room in found]

    # --- the show's life -------------------------------------------------------------------

    async def go_live(self, room: str, now: float, acting: str | None, not_host: str = "") -> tuple[bool, Lifecycle]:
        changed, *life = await self._step("go_live", room, now, acting or "", identity=acting or "", not_host=not_host)
        return bool(int(changed)), decode_life(life)

    async def audience_released(self, room: str, now: float) -> str | None:
        released, live_by = await self._step("audience_released", room, now)
        return _text(live_by) if int(released) else None

    async def end_show(self, room: str, now: float, keep_seconds: float) -> tuple[bool, Lifecycle]:
        ended, *life = await self._step("end_show", room, now, max(1, ms(keep_seconds)))
        return bool(int(ended)), decode_life(life)

    async def doubt(self, room: str, identity: str, now: float) -> None:
        await self._step("doubt", room, now, identity)

    async def seat_away(self, room: str, identity: str, gone: Connection, now: float) -> bool:
        (noted,) = await self._step("seat_away", room, now, identity, gone.sid, gone.joined_at)
        return bool(int(noted))

    async def settle_doubts(self, room: str, doubts: Iterable[Doubt], now: float) -> None:
        pairs = [part for doubt in doubts for part in (doubt.identity, str(doubt.due))]
        if pairs:
            await self._step("settle_doubts", room, now, *pairs)

    async def away(self, room: str, before: float, count: int) -> list[AwayViewer]:
        if count <= 0:
            return []
        (found,) = await self._step("read_away", room, before, ms(before), count)
        read: list[AwayViewer] = []
        for at in range(0, len(found), 3):
            identity, since, kept = (_text(part) for part in found[at : at + 3])
            hand, _, invitation = kept.partition("|")
            read.append(AwayViewer(identity, int(float(since)), _optional_ms(hand), _optional_ms(invitation)))
        return read

    async def settle_away(self, room: str, identity: str, since: int) -> None:
        await self._step("settle_away", room, 0.0, identity, since)

    async def keep_alive(self, room: str, room_sid: str, now: float) -> bool:
        (kept,) = await self._step("keep_alive", room, now, room_sid)
        return bool(int(kept))

    async def retire(self, room: str, room_sid: str = "") -> bool:
        (deleted,) = await self._step("retire", room, 0.0, room_sid)
        return bool(int(deleted))

    async def deployment(self, proposed: str) -> str:
        try:
            if not self._ready:
                await self._connect()
            await self._redis.set(DEPLOYMENT, proposed, nx=True)
            held = await self._redis.get(DEPLOYMENT)
        except STORE_ERRORS as exc:
            raise unavailable(exc) from exc
        self._deployment = _text(held) if held else proposed
        return self._deployment

    async def ping(self) -> None:
        try:
            if isinstance(self._redis, redis.RedisCluster):
                await self._cluster_serves(self._redis)
            else:
                await self._redis.ping()
            if self._deployment:
                # A Redis restarted empty lost the name too: an instance started after it must
                # find the one the running instances use, not hold its own.
                await self._redis.set(DEPLOYMENT, self._deployment, nx=True)
        except STORE_ERRORS as exc:
            raise unavailable(exc) from exc

    async def _cluster_serves(self, cluster: redis.RedisCluster) -> None:
        """A PING is answered by any node, also while the cluster refuses every room's step (a
        primary gone, its slots unserved: CLUSTERDOWN). The cluster's own verdict is asked
        instead, which follows its configuration (cluster-require-full-coverage)."""
        if not self._ready:
            await self._connect()
        info: Any = await cluster.cluster_info()
        state = _text(info.get("cluster_state", "")) if isinstance(info, dict) else ""
        if state != "ok":
            raise RedisClusterException(f"the Redis Cluster is down (cluster_state:{state or '?'})")

    async def close(self) -> None:
        await self._redis.aclose()


# Rooms whose recently read record is kept for reads; past this many, all are forgotten at once.
_RECENT_ROOMS = 10_000
# Steps that change a room's bans: they drop the banned identities recently_banned hands out.
_BAN_WRITES = frozenset({"ban", "unban", "end_show", "retire"})
# Steps that mark the room in the global indexes before they run. Not connected and left: they
# mark it after, and only when they wrote (_mark_written).
_WRITES = frozenset(
    {
        "claim_host", "invite", "accept", "decline", "set_hand", "unseat", "restore", "forget", "set_guest_limit",
        "reserve_recording", "set_destinations", "settle_recording", "drop_recording", "record_progress",
        "room_opened", "appoint", "dismiss", "ban", "unban", "lock_source",
        "go_live", "audience_released", "end_show", "land", "doubt", "seat_away",
    }
)  # fmt: skip


def _stage_record(room: str, read: list[Any]) -> StageRecord:
    """The StageRecord of read_stage.lua's answer."""
    host, guests, limit, room_sid, hands, invitations, recordings, pending, moderators, bans, life, doubts, away = read
    appointed = sorted((_appointed(text), _text(identity)) for identity, text in _pairs(moderators))
    seats = sorted((decode_seat(text) for _, text in _pairs(guests)), key=lambda s: (s.since, s.identity))
    known = (decode_recording(text) for _, text in _pairs(recordings))
    kept = sorted((held for held in known if held is not None), key=lambda held: held[0])
    return StageRecord(
        room=room,
        host=decode_seat(host) if _text(host) else None,
        guests=tuple(seats),
        guest_limit=int(_text(limit)) if _text(limit) else None,
        room_sid=_text(room_sid),
        hands=int(hands),
        invitations=int(invitations),
        recordings=tuple(r for _, r in kept),
        pending=_known_changes(_pairs(pending)),
        moderators=tuple(identity for _, identity in appointed),
        bans=int(bans),
        life=decode_life(life),
        doubted=tuple(sorted((Doubt(_text(i), int(_text(at))) for i, at in _pairs(doubts)), key=lambda d: d.identity)),
        away=int(away),
    )


class _Recent(Generic[T]):
    """What a read found of each room, handed out again until it is older than the caller's
    bound or this instance writes what it holds. A read whose answer may predate such a write
    (the write began or ended while it was in flight) is not kept. Past _RECENT_ROOMS rooms, all
    are forgotten at once."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[T, float]] = {}  # room -> (what was read, when it was asked)
        self._last_write: dict[str, int] = {}  # room -> the instance's write count at its latest write
        self._forgot_at = 0  # the write count when _last_write was last emptied

    def get(self, room: str, asked_after: float) -> T | None:
        kept = self._kept.get(room)
        return kept[0] if kept is not None and kept[1] > asked_after else None

    def wrote(self, room: str, count: int) -> None:
        self._kept.pop(room, None)
        if len(self._last_write) >= _RECENT_ROOMS:
            self._last_write.clear()
            self._forgot_at = count
        self._last_write[room] = count

    def keep(self, room: str, value: T, asked_at: float, began: int) -> None:
        """Keeps `value`, read from `asked_at` when the write count was `began`, unless a write
        since then makes it suspect."""
        if self._last_write.get(room, 0) <= began and self._forgot_at <= began:
            if len(self._kept) >= _RECENT_ROOMS:
                self._kept.clear()
            self._kept[room] = (value, asked_at)


class _NodeConnection(redis.Connection):
    """A Cluster node's connection that, before it sends, notices that the node closed it (the
    node restarted, or failed over) and connects again. Nothing was sent on the closed one, so
    nothing runs twice. The single-node client's pool makes the same check itself; the Cluster
    client's nodes hand out their idle connections unchecked, so after a node's restart each one
    failed its next command ("Connection closed by server"), one UNAVAILABLE a connection."""

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        reader = self._reader
        if reader is not None and reader.at_eof():
            await self.disconnect()
        await super().send_packed_command(command, check_health)


class _Cluster(redis.RedisCluster):
    """redis-py's cluster client, which sends a command again only after an answer that says it
    did not run. Its own retries also follow a timeout or a dropped connection, after which the
    command may have run (a node stalled past the socket timeout runs it once it wakes): a step
    sent again then ran twice (a second history entry; the refusal of what its first run did, a
    seat already taken). The single-node client never sends a command again; neither does this
    one after such a failure, which answers UNAVAILABLE at once and has the next step read the
    cluster's layout again. Its nodes connect with _NodeConnection (redis-py takes no connection
    class for a cluster: it is set on the nodes it knows and on those it will meet)."""

    # Read by RedisCluster.execute_command (tests/test_stage_record.py holds it to a stalled node).
    ERRORS_ALLOW_RETRY = (ClusterDownError, SlotNotCoveredError)  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nodes_manager.connection_kwargs["connection_class"] = _NodeConnection
        for node in self.nodes_manager.startup_nodes.values():
            node.connection_class = _NodeConnection


def connect(url: str, cluster: bool) -> RedisClient:
    """A client for SHOW_REDIS_URL: a cluster client (which discovers every node from the one
    named) when SHOW_REDIS_CLUSTER is set, a single-node client otherwise.

    Redis's maintenance notifications (a managed service's announcements of a node moving) are
    off: with them on, redis-py's pool hands out a pooled connection without checking that it
    is still open, so after a Redis restart each connection the pool held failed its next
    command ("Connection closed by server"), one UNAVAILABLE a connection, since the store never
    sends a command again. With them off the pool finds the closed connection before using it
    and opens another."""
    quiet = MaintNotificationsConfig(enabled=False)
    if cluster:
        return _Cluster.from_url(url, maint_notifications_config=quiet)
    return redis.Redis.from_url(url, maint_notifications_config=quiet)
