"""Each piece of the interceptor chain on its own, in process (no network): what it lets in, what
it refuses and with which canonical error, and what it records on the way out."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import time
from typing import Any

import jwt
import pytest
from google.protobuf.message_factory import GetMessageClass
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from showrunner.v1 import show_service_pb2 as pb

from service.core.auth import Authenticator
from service.core.caller import Caller
from service.core.clock import ManualClock
from service.core.errors import Code, ShowError
from service.core.limits import Limit, MemoryLimiter, RatePolicy
from service.interceptors.authentication import Authentication
from service.interceptors.chain import Call, Chain, Piece
from service.interceptors.error_mapping import ErrorMapping
from service.interceptors.logs import Logs
from service.interceptors.metrics import Metrics
from service.interceptors.policy import Policy
from service.interceptors.rate_limit import RateLimit
from service.interceptors.request_id import RequestId
from service.observability import logs
from service.observability.metrics import Metrics as Registry
from service.observability.metrics import Served
from service.policy import WEBHOOK, rule_for
from service.stores.memory_record import MemoryRecords

KEY, SECRET = "key", "secret-of-at-least-thirty-two-bytes!"
SERVICE = pb.DESCRIPTOR.services_by_name["ShowService"]


def rule(rpc: str) -> Any:
    return rule_for(SERVICE.methods_by_name[rpc])


def token(**video: Any) -> str:
    claims = {"iss": KEY, "exp": int(time.time()) + 600, "video": video}
    if "sub" in video:
        claims["sub"] = video.pop("sub")
    return jwt.encode(claims, SECRET, algorithm="HS256")


def call(rpc: str, request: Any, caller: Caller | None = None, headers: dict[str, str] | None = None) -> Call:
    return Call(door="test", rule=rule(rpc), request=request, headers=headers or {}, caller=caller)


async def refusal(piece: Piece, c: Call) -> ShowError:
    with pytest.raises(ShowError) as caught:
        await piece.enter(c)
    return caught.value


async def test_request_id_keeps_a_sane_id_and_replaces_a_bad_one() -> None:
    kept = call("GetRoom", pb.GetRoomRequest(), headers={"x-request-id": "trace-1"})
    await RequestId().enter(kept)
    assert kept.request_id == "trace-1"
    fresh = call("GetRoom", pb.GetRoomRequest(), headers={"x-request-id": "bad id!"})
    await RequestId().enter(fresh)
    assert len(fresh.request_id) == 32


async def test_authentication_verifies_tokens_and_refuses_bad_ones() -> None:
    auth = Authentication(Authenticator(KEY, SECRET, ManualClock(start=time.time())))
    anonymous = call("GetRoom", pb.GetRoomRequest())
    await auth.enter(anonymous)
    assert anonymous.caller is not None and anonymous.caller.anonymous
    viewer = call(
        "GetRoom", pb.GetRoomRequest(), headers={"authorization": f"Bearer {token(room='r', roomJoin=True, sub='v')}"}
    )
    await auth.enter(viewer)
    assert viewer.caller == Caller(identity="v", room="r", signed=True)
    forged = call("GetRoom", pb.GetRoomRequest(), headers={"authorization": "Bearer junk"})
    assert (await refusal(auth, forged)).code is Code.UNAUTHENTICATED
    webhook = Call(door="webhook", rule=WEBHOOK, request=b"{}", headers={"authorization": "forged"})
    assert (await refusal(auth, webhook)).code is Code.UNAUTHENTICATED


async def test_policy_enforces_each_audience() -> None:
    store, clock = MemoryRecords(), ManualClock(start=time.time())
    await store.claim_host("r", "host", "Host", clock.now(), 60)
    policy = Policy(store, clock)
    viewer, host, admin = (
        Caller(identity="v", room="r"),
        Caller(identity="host", room="r", host_line=True),
        Caller(room="r", admin=True),
    )
    anyone = Caller()
    # Anyone joins as a viewer; any other join needs a token.
    await policy.enter(call("JoinRoom", pb.JoinRoomRequest(role=pb.ROLE_VIEWER), anyone))
    error = await refusal(policy, call("JoinRoom", pb.JoinRoomRequest(role=pb.ROLE_HOST), anyone))
    assert error.code is Code.UNAUTHENTICATED
    # A participant of the room, not of another.
    await policy.enter(call("GetRoom", pb.GetRoomRequest(room_name="r"), viewer))
    error = await refusal(policy, call("GetRoom", pb.GetRoomRequest(room_name="other"), viewer))
    assert (error.code, error.message) == (Code.PERMISSION_DENIED, "This token is not for room other")
    # The acting participant is the caller itself.
    error = await refusal(
        policy, call("SetHandRaised", pb.SetHandRaisedRequest(room_name="r", participant_identity="x"), viewer)
    )
    assert (error.code, error.message) == (
        Code.PERMISSION_DENIED,
        "participantIdentity must be the caller's own identity",
    )
    # Stage managers and the host: the host and the admin, never a viewer.
    hands = pb.ListRaisedHandsRequest(room_name="r")
    await policy.enter(call("ListRaisedHands", hands, host))
    await policy.enter(call("ListRaisedHands", hands, admin))
    error = await refusal(policy, call("ListRaisedHands", hands, viewer))
    assert (error.code, error.message) == (Code.PERMISSION_DENIED, "Only the host can see raised hands")
    # The host's name with a token minted for a viewer (had while the name was free) is no host.
    not_of_the_line = Caller(identity="host", room="r")
    error = await refusal(policy, call("ListRaisedHands", hands, not_of_the_line))
    assert (error.code, error.message) == (Code.PERMISSION_DENIED, "Only the host can see raised hands")
    error = await refusal(policy, call("DeleteRoom", pb.DeleteRoomRequest(room_name="r"), viewer))
    assert error.message == "Only the host can end the show"
    # Listing rooms needs the roomList grant.
    await policy.enter(call("ListRooms", pb.ListRoomsRequest(), Caller(lists_rooms=True)))
    assert (await refusal(policy, call("ListRooms", pb.ListRoomsRequest(), admin))).code is Code.PERMISSION_DENIED
    # A malformed room is left to the core's own INVALID_ARGUMENT.
    await policy.enter(call("DeleteRoom", pb.DeleteRoomRequest(room_name=""), viewer))


async def test_a_banned_participants_token_is_refused_for_every_call_in_its_room() -> None:
    """Every RPC of the contract about a room, with whatever the banned participant may name as
    its own identity: refused with JoinRoom's words, before the audience is looked at. Its token
    for another room, the room's admin and the other participants are let in as before, and an
    unban gives the token its use back."""
    now = time.time()
    store = MemoryRecords()
    await store.claim_host("r", "host", "Host", now, 60)
    assert await store.ban("r", "troll", now, "host")
    policy = Policy(store, ManualClock(start=now))
    troll, vic = Caller(identity="troll", room="r"), Caller(identity="vic", room="r")
    admin = Caller(room="r", admin=True)
    about_a_room = [m for m in SERVICE.methods if rule(m.name).room_field]
    assert len(about_a_room) == len(SERVICE.methods) - 1  # all but ListRooms
    for method in about_a_room:
        declared = rule(method.name)
        request = GetMessageClass(method.input_type)()
        setattr(request, declared.room_field, "r")
        if declared.participant_field:
            setattr(request, declared.participant_field, "troll")
        error = await refusal(policy, call(method.name, request, troll))
        assert (method.name, error.code, error.message) == (
            method.name,
            Code.PERMISSION_DENIED,
            "troll is banned from this room",
        )
    reads = [
        ("GetRoom", pb.GetRoomRequest(room_name="r")),
        ("ListParticipants", pb.ListParticipantsRequest(room_name="r")),
    ]
    for rpc, read in reads:
        await policy.enter(call(rpc, read, admin))
        await policy.enter(call(rpc, read, vic))
        # A server token with roomAdmin is the room's admin, whatever identity it also names.
        await policy.enter(call(rpc, read, Caller(identity="troll", room="r", admin=True)))
    elsewhere = Caller(identity="troll", room="other")
    await policy.enter(call("GetRoom", pb.GetRoomRequest(room_name="other"), elsewhere))
    await store.unban("r", "troll", now)
    for rpc, read in reads:
        await policy.enter(call(rpc, read, troll))


async def test_rate_limit_counts_per_bucket_and_says_when_to_retry() -> None:
    clock, registry = ManualClock(start=1000.0), Registry()
    piece = RateLimit(MemoryLimiter(), RatePolicy(hand=Limit(2, 60)), clock, registry)
    viewer = Caller(identity="v", room="r")
    hand = pb.SetHandRaisedRequest(room_name="r", participant_identity="v")
    for _ in range(2):
        await piece.enter(call("SetHandRaised", hand, viewer))
    await piece.enter(call("GetRoom", pb.GetRoomRequest(room_name="r"), viewer))  # another bucket
    error = await refusal(piece, call("SetHandRaised", hand, viewer))
    assert error.code is Code.RESOURCE_EXHAUSTED and error.retry_after == 60
    assert registry.rate_limit_refusals.labels(bucket="hand")._value.get() == 1


def test_metrics_count_every_outcome_and_rejected_webhooks() -> None:
    registry = Registry()
    piece = Metrics(registry)
    piece.leave(call("GetRoom", pb.GetRoomRequest()), None)
    piece.leave(call("GetRoom", pb.GetRoomRequest()), ShowError(Code.NOT_FOUND, "Room not found"))
    piece.leave(Call(door="webhook", rule=WEBHOOK, request=b"", headers={}), ShowError(Code.UNAUTHENTICATED, "x"))
    assert registry.requests.value("GetRoom", "test", "OK") == 1
    assert registry.requests.value("GetRoom", "test", "NOT_FOUND") == 1
    assert registry.webhooks.labels(event="unknown", verdict="rejected")._value.get() == 1


def test_served_requests_are_exported_as_prometheus_clients_counter_and_histogram_export_them() -> None:
    """The request counter and histogram are kept in plain numbers (observability.metrics.Served):
    the exposition is what prometheus_client's own Counter and Histogram give for the same calls."""
    buckets = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    served = Served(buckets)
    ours.register(served)
    counter = Counter(
        "showrunner_requests", "Requests served, by RPC, door and result code", ["rpc", "door", "code"], registry=theirs
    )
    histogram = Histogram(
        "showrunner_request_duration_seconds",
        "Time to serve a request",
        ["rpc", "door"],
        buckets=buckets,
        registry=theirs,
    )
    calls = [
        ("GetRoom", "grpc", "OK", 0.0004),
        ("GetRoom", "rest", "NOT_FOUND", 0.01),
        ("JoinRoom", "twirp", "OK", 0.3),
    ]
    calls += [("GetRoom", "grpc", "OK", s) for s in (0.005, 0.0051, 2.5, 11.0, 0.0)]
    for rpc, door, code, seconds in calls:
        served.served(rpc, door, code, seconds)
        counter.labels(rpc, door, code).inc()
        histogram.labels(rpc, door).observe(seconds)

    def page(registry: CollectorRegistry) -> str:
        return re.sub(r"(_created\{[^}]*\}) \S+", r"\1 T", generate_latest(registry).decode())

    assert page(ours) == page(theirs)
    assert "_created" in page(ours) and served.value("GetRoom", "grpc", "OK") == 6


def test_logs_write_one_line_per_call(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="showrunner.requests"):
        Logs().leave(call("GetRoom", pb.GetRoomRequest()), ShowError(Code.NOT_FOUND, "Room not found"))
    (record,) = caplog.records
    assert record.fields["rpc"] == "GetRoom" and record.fields["code"] == "NOT_FOUND"  # type: ignore[attr-defined]


def test_a_request_line_written_directly_is_the_line_the_logging_module_writes() -> None:
    """With the service's own log set-up the line skips the LogRecord (info_line); with anything
    else in the way (here a filter) it goes through the logging module: the same line."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logs._handler, logs._formatter)
    stream = io.StringIO()
    try:
        logs.configure("INFO")
        assert logs._handler is not None
        logs._handler.setStream(stream)
        logs.request_id.set("trace-7")
        c = call("GetRoom", pb.GetRoomRequest())
        Logs().leave(c, ShowError(Code.NOT_FOUND, "Room not found"))
        logs._handler.addFilter(lambda record: True)  # the direct way no longer applies
        Logs().leave(c, ShowError(Code.NOT_FOUND, "Room not found"))
    finally:
        root.handlers[:], logs._handler, logs._formatter = saved[0], saved[2], saved[3]
        root.setLevel(saved[1])
        logs.request_id.set("")
    direct, through_logging = (json.loads(line) for line in stream.getvalue().splitlines())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", direct.pop("time"))
    through_logging.pop("time")
    assert list(direct) == list(through_logging) and direct["ms"] >= 0
    direct.pop("ms"), through_logging.pop("ms")
    assert (
        direct
        == through_logging
        == {
            "level": "info",
            "logger": "showrunner.requests",
            "message": "test GetRoom NOT_FOUND",
            "request_id": "trace-7",
            "door": "test",
            "rpc": "GetRoom",
            "code": "NOT_FOUND",
        }
    )


async def test_log_lines_of_one_turn_of_the_loop_are_written_together_in_order() -> None:
    writes: list[str] = []

    class Stream(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

    handler = logs.GatheredLines()
    handler.setStream(Stream())
    log = logging.getLogger("test.gathered")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("one")
        log.warning("two")
        assert writes == []  # not yet: the turn is not over
        await asyncio.sleep(0)
        assert writes == ["one\ntwo\n"]
        log.warning("three")
        await asyncio.to_thread(log.warning, "four")  # another thread: at once, after what waits
        assert writes == ["one\ntwo\n", "three\nfour\n"]
        log.warning("five")
        handler.flush()  # as logging.shutdown does at exit
        assert writes[-1] == "five\n"
        await asyncio.sleep(0)
        assert len(writes) == 3
    finally:
        log.removeHandler(handler)


def test_error_mapping_turns_a_crash_into_internal_with_the_request_id() -> None:
    c = call("GetRoom", pb.GetRoomRequest())
    c.request_id = "trace-9"
    mapped = ErrorMapping().leave(c, RuntimeError("boom"))
    assert isinstance(mapped, ShowError) and mapped.code is Code.INTERNAL
    assert mapped.message == "internal error (request trace-9)"
    refused = ShowError(Code.NOT_FOUND, "Room not found")
    assert ErrorMapping().leave(c, refused) is refused


async def test_the_chain_lets_every_piece_see_a_refusal_in_reverse_order() -> None:
    seen: list[str] = []

    class Spy(Piece):
        def __init__(self, name: str, refuse: bool = False) -> None:
            self.name, self.refuse = name, refuse

        async def enter(self, call: Call) -> None:
            seen.append(f"enter {self.name}")
            if self.refuse:
                raise ShowError(Code.PERMISSION_DENIED, "no")

        def leave(self, call: Call, error: Exception | None) -> Exception | None:
            seen.append(f"leave {self.name}")
            return error

    async def answer(call: Call) -> str:
        seen.append("core")
        return "answered"

    chain = Chain([Spy("a"), Spy("b", refuse=True), Spy("c")])
    with pytest.raises(ShowError):
        await chain.run(call("GetRoom", pb.GetRoomRequest()), answer)
    assert seen == ["enter a", "enter b", "leave c", "leave b", "leave a"]
    seen.clear()
    assert await Chain([Spy("a")]).run(call("GetRoom", pb.GetRoomRequest()), answer) == "answered"
    assert seen == ["enter a", "core", "leave a"]


async def test_the_memory_limiter_keeps_the_callers_of_the_last_window_only() -> None:
    """Callers whose windows are empty are forgotten as others call, a bounded amount of work a
    call: what is kept is the callers of the last window, however many came before."""
    limiter, limit = MemoryLimiter(), Limit(10, 60)
    for i in range(1_000):
        assert await limiter.hit(f"early-{i}", limit, 0.0) is None
    assert len(limiter) == 1_000
    for i in range(1_000):
        assert await limiter.hit(f"late-{i}", limit, 61.0) is None
    assert len(limiter) == 1_000  # the early callers' windows are empty: forgotten
    for _ in range(9):
        assert await limiter.hit("late-0", limit, 62.0) is None
    assert await limiter.hit("late-0", limit, 62.0) == 59.0  # its first call leaves the window at 121
