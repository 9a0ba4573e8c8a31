"""Hostile input gets a clear error in the door's own form, never a 5xx, and changes nothing."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from showrunner.v1 import show_service_pb2 as pb

from service.dev.livekit_server import LiveKitDevServer
from service.dev.redis_cluster import RedisCluster
from tests.conftest import ServiceProcess, admin_token, start_service
from tests.doors import Refused, ShowClient, client_for, expect_refusal
from tests.test_show_through_every_door import claims

ROOM = "fuzz-target"
METHODS = [m.name for m in pb.DESCRIPTOR.services_by_name["ShowService"].methods]
REST_ROUTES = [
    ("POST", "/api/rooms/join"),
    ("GET", "/api/rooms"),
    ("GET", "/api/rooms/{room}"),
    ("DELETE", "/api/rooms/{room}"),
    ("GET", "/api/rooms/{room}/participants"),
    ("DELETE", "/api/rooms/{room}/participants/{identity}"),
    ("POST", "/api/rooms/{room}/invite"),
    ("POST", "/api/rooms/{room}/demote"),
    ("POST", "/api/rooms/{room}/remove-guest"),
    ("POST", "/api/rooms/{room}/hand-raise"),
    ("POST", "/api/rooms/{room}/invitation/accept"),
    ("POST", "/api/rooms/{room}/invitation/decline"),
    ("POST", "/api/rooms/{room}/step-down"),
    ("GET", "/api/rooms/{room}/hands"),
    ("PATCH", "/api/rooms/{room}/settings"),
    ("POST", "/webhooks/livekit"),
]
FIELDS = [
    "roomName", "participantName", "role", "displayName", "viewerIdentity", "hostIdentity", "guestIdentity",
    "participantIdentity", "raised", "guestLimit", "room_name", "participant_name", "guest_limit", "identity",
]  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
bodies = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=12), json_values, max_size=8)
names = st.sampled_from([ROOM, "viewer-1", "host-1", ""]) | st.text(max_size=200)


@pytest.fixture(scope="module")
def target(service: ServiceProcess) -> Iterator[dict[str, str]]:
    """A room with a host, and tokens to attack it with: its viewer's, its host's, its admin's."""
    with httpx.Client(base_url=service.http_base, timeout=20) as http:
        admin = {"Authorization": f"Bearer {admin_token(ROOM)}"}
        host = http.post(
            "/api/rooms/join", json={"roomName": ROOM, "participantName": "host-1", "role": "host"}, headers=admin
        )
        viewer = http.post("/api/rooms/join", json={"roomName": ROOM, "participantName": "viewer-1", "role": "viewer"})
        assert host.status_code == 200 and viewer.status_code == 200
        yield {"host": host.json()["token"], "viewer": viewer.json()["token"], "admin": admin_token(ROOM, ttl=3600)}


def snapshot(service: ServiceProcess, tokens: dict[str, str]) -> Any:
    with httpx.Client(base_url=service.http_base, timeout=20) as http:
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        room = http.get(f"/api/rooms/{ROOM}", headers=admin).json()
        hands = http.get(f"/api/rooms/{ROOM}/hands", headers=admin).json()
        return room, hands


def credentials(tokens: dict[str, str]) -> st.SearchStrategy[dict[str, str]]:
    """No token, garbage, or a real token of the room's viewer (never its host or admin, so no
    fuzzed request can legitimately change the show)."""
    return st.sampled_from([{}, {"Authorization": "Bearer junk"}, {"Authorization": f"Bearer {tokens['viewer']}"}])


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(data=st.data())
def test_rest_survives_random_bodies_and_paths(
    service: ServiceProcess, target: dict[str, str], data: st.DataObject
) -> None:
    before = snapshot(service, target)
    method, template = data.draw(st.sampled_from(REST_ROUTES))
    path = template.format(
        room=urllib.parse.quote(data.draw(names), safe="") or "x",
        identity=urllib.parse.quote(data.draw(names), safe="") or "x",
    )
    raw = data.draw(st.one_of(bodies.map(lambda b: json.dumps(b).encode()), st.binary(max_size=300)))
    with httpx.Client(base_url=service.http_base, timeout=20) as http:
        reply = http.request(method, path, content=raw, headers=data.draw(credentials(target)))
    assert reply.status_code < 500, (method, path, raw, reply.text)
    assert "error" in reply.json() or reply.status_code == 200
    assert snapshot(service, target) == before


@FUZZ
@given(data=st.data())
def test_twirp_survives_random_json_and_protobuf(
    service: ServiceProcess, target: dict[str, str], data: st.DataObject
) -> None:
    before = snapshot(service, target)
    method = data.draw(st.sampled_from(METHODS))
    if data.draw(st.booleans()):
        content_type, raw = "application/json", json.dumps(data.draw(bodies)).encode()
    else:
        request = getattr(pb, f"{method}Request")()
        if "room_name" in request.DESCRIPTOR.fields_by_name:
            request.room_name = ROOM
        valid = request.SerializeToString()
        mutated = st.binary(max_size=200).map(lambda noise: valid[: len(noise) % (len(valid) + 1)] + noise)
        content_type, raw = "application/protobuf", data.draw(st.binary(max_size=200) | mutated)
    headers = {"Content-Type": content_type, **data.draw(credentials(target))}
    with httpx.Client(base_url=service.http_base, timeout=20) as http:
        reply = http.post(f"/twirp/showrunner.v1.ShowService/{method}", content=raw, headers=headers)
    assert reply.status_code < 500, (method, raw, reply.text)
    if reply.status_code != 200:
        assert set(reply.json()) >= {"code", "msg"}
    assert snapshot(service, target) == before


@FUZZ
@given(data=st.data())
def test_grpc_survives_random_messages(service: ServiceProcess, target: dict[str, str], data: st.DataObject) -> None:
    before = snapshot(service, target)
    method = data.draw(st.sampled_from(METHODS))
    raw = data.draw(st.binary(max_size=300))
    metadata = [(k.lower(), v) for k, v in data.draw(credentials(target)).items()]
    with grpc.insecure_channel(service.grpc_address) as channel:
        call = channel.unary_unary(f"/showrunner.v1.ShowService/{method}")
        try:
            call(raw, metadata=metadata, timeout=20)
        except grpc.RpcError as exc:
            assert exc.code() not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), (method, raw, exc)
    assert snapshot(service, target) == before


def test_grpc_answers_an_rpc_it_does_not_have_unimplemented(service: ServiceProcess) -> None:
    with grpc.insecure_channel(service.grpc_address) as channel:
        for method in ("/showrunner.v1.ShowService/NoSuchRpc", "/showrunner.v1.NoSuchService/JoinRoom"):
            with pytest.raises(grpc.RpcError) as caught:
                channel.unary_unary(method)(b"", timeout=20)
            assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED, method


# --- clear messages, same on every door --------------------------------------------------------


async def refusal(call: object) -> Refused:
    with pytest.raises(Refused) as caught:
        await call  # type: ignore[misc]
    return caught.value


ROOM_RULE = (
    'roomName must be 1 to 128 characters: letters, digits, "-", "_", "." or ":", starting with a letter or digit'
)
NAME_RULE = (
    'participantName must be 1 to 128 characters: letters, digits, "-", "_", ".", ":", "@" or "+", '
    "starting with a letter or digit"
)


async def test_names_are_validated_with_messages_that_say_what_is_wrong(door: ShowClient, room: str) -> None:
    viewer = door.as_(None)
    for bad_room in ("has space", "x" * 129, "-leading", "ünïcode", "semi;colon"):
        expect_refusal(await refusal(viewer.join(bad_room, "ann", "viewer")), "INVALID_ARGUMENT", ROOM_RULE)
    for bad_name in ("two words", "a/b", "x" * 129, "<script>"):
        expect_refusal(await refusal(viewer.join(room, bad_name, "viewer")), "INVALID_ARGUMENT", NAME_RULE)
    admin = door.as_(admin_token(room))
    await admin.join(room, "host-1", "host")
    expect_refusal(
        await refusal(admin.invite(room, "../../etc", "host-1")),
        "INVALID_ARGUMENT",
        NAME_RULE.replace("participantName", "viewerIdentity"),
    )
    # The host named: held to the rule too, not taken for someone who is not the host.
    for call in (admin.invite(room, "viewer-1", "not an identity!"), admin.demote(room, "viewer-1", "x" * 300)):
        expect_refusal(await refusal(call), "INVALID_ARGUMENT", NAME_RULE.replace("participantName", "hostIdentity"))
    assert (await admin.get_room(room))["hasGuest"] is False


async def anonymous_join(door: ShowClient, room: str, role: int | str | None) -> Any:
    """JoinRoom without a token, with `role` as the door carries it: a number of the contract's
    enum on gRPC and Twirp, a word (or nothing) on REST."""
    if door.door == "rest":
        body: dict[str, Any] = {"roomName": room, "participantName": "ann"}
        if role is not None:
            body["role"] = role
        return await door.as_(None).call("POST", "/api/rooms/join", body)  # type: ignore[attr-defined]
    request = pb.JoinRoomRequest(room_name=room, participant_name="ann", role=int(role or 0))  # type: ignore[arg-type]
    return await door.as_(None).rpc("JoinRoom", request, pb.JoinRoomResponse)  # type: ignore[attr-defined]


async def test_a_join_without_a_token_or_a_usable_role_is_told_its_role_is_wrong(door: ShowClient, room: str) -> None:
    """A viewer's client needs no token, so one that leaves the role out, misspells it or asks for
    a role JoinRoom never gives (guest, moderator: other RPCs make those) must hear that the role
    is wrong (`role must be "host" or "viewer"`, as with a token), not that it needs a token that
    would not help: it used to hear UNAUTHENTICATED `Authorization: Bearer <token> is required`."""
    unusable: list[int | str | None] = (
        [None, "", "viewers", "audience", "guest", "moderator"]
        if door.door == "rest"
        else [pb.ROLE_UNSPECIFIED, 99, pb.ROLE_GUEST, pb.ROLE_MODERATOR]
    )
    for role in unusable:
        expect_refusal(
            await refusal(anonymous_join(door, room, role)), "INVALID_ARGUMENT", 'role must be "host" or "viewer"'
        )
    # Joining as host still needs a token, and a viewer still needs none.
    host: int | str = "host" if door.door == "rest" else pb.ROLE_HOST
    expect_refusal(
        await refusal(anonymous_join(door, room, host)), "UNAUTHENTICATED", "Authorization: Bearer <token> is required"
    )
    viewer: int | str = "viewer" if door.door == "rest" else pb.ROLE_VIEWER
    assert await anonymous_join(door, room, viewer)


async def test_a_blank_display_name_is_refused_through_every_door(door: ShowClient, room: str) -> None:
    """A display name of spaces only was taken, and the viewer shown to everyone with no name."""
    if door.door == "rest":
        body = {"roomName": room, "participantName": "ann", "role": "viewer", "displayName": "   "}
        call = door.as_(None).call("POST", "/api/rooms/join", body)  # type: ignore[attr-defined]
    else:
        request = pb.JoinRoomRequest(room_name=room, participant_name="ann", role=pb.ROLE_VIEWER, display_name="   ")
        call = door.as_(None).rpc("JoinRoom", request, pb.JoinRoomResponse)  # type: ignore[attr-defined]
    expect_refusal(
        await refusal(call),
        "INVALID_ARGUMENT",
        "displayName must not be blank: leave it out to show the participant's identity",
    )


async def test_display_names_are_bounded_and_printable(service: ServiceProcess, room: str) -> None:
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        blank = "displayName must not be blank: leave it out to show the participant's identity"
        for display, message in (
            ("x" * 129, "displayName must be at most 128 characters"),
            ("bell\x07", "displayName must not contain control characters"),
            # Printable, and shown as nothing: Hangul fillers, the blank Braille pattern, marks alone.
            ("\u3164\u3164", blank),
            ("\u2800 \uffa0", blank),
            ("\u0301\u20dd", blank),
        ):
            body = {"roomName": room, "participantName": "ann", "role": "viewer", "displayName": display}
            reply = await http.post("/api/rooms/join", json=body)
            assert (reply.status_code, reply.json()) == (400, {"error": message})
        body = {"roomName": room, "participantName": "ann", "role": "viewer", "displayName": "Ann Älvsjö 🎤"}
        assert (await http.post("/api/rooms/join", json=body)).status_code == 200


async def test_rest_refuses_a_field_under_another_spelling_of_its_name(service: ServiceProcess, room: str) -> None:
    """A REST key that names a field in another case or in the contract's snake_case was dropped
    unread, and the call served without it: a viewer joined under its identity instead of its
    display name. It is refused, naming the spelling meant; a key naming no field is left alone."""
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        body = {"roomName": room, "participantName": "ann", "role": "viewer", "display_name": "Ann"}
        reply = await http.post("/api/rooms/join", json=body)
        assert (reply.status_code, reply.json()) == (
            400,
            {"error": 'Unknown field "display_name": did you mean "displayName"?'},
        )
        body = {"roomName": room, "participantName": "ann", "role": "viewer", "displayName": "Ann", "theme": "dark"}
        assert claims((await http.post("/api/rooms/join", json=body)).json()["token"])["name"] == "Ann"


async def test_rest_answers_400_to_json_nested_too_deep_or_holding_a_lone_surrogate(service: ServiceProcess) -> None:
    """Bodies that orjson refuses and the standard parser then fails on (by recursion) or reads
    into a string protobuf cannot hold."""
    surrogate = b'{"roomName":"\\ud800","participantName":"ann","role":"viewer"}'
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        for raw, message in (
            (b"[" * 5000, "Request body is not valid JSON"),
            (b'{"roomName":' * 5000, "Request body is not valid JSON"),
            (surrogate, "Request body is not valid JSON: a string holds a lone surrogate"),
        ):
            reply = await http.post("/api/rooms/join", content=raw, headers={"content-type": "application/json"})
            assert reply.status_code == 400, (raw[:40], reply.text)
            assert reply.json() == {"error": message}


async def test_getroom_without_a_room_name_is_refused_before_the_store_is_asked(
    livekit: LiveKitDevServer, redis_cluster: RedisCluster
) -> None:
    """The policy leaves a request without a usable room name to the core, to be refused with
    INVALID_ARGUMENT before anything happens. GetRoom read the record first (to describe an ended
    show); on a Redis Cluster the keys of an empty name have no hash tag and span slots, so the
    read failed and a viewer's token, had for the asking, got 503 instead of 400."""
    running = start_service(livekit, SHOW_REDIS_URL=redis_cluster.url, SHOW_REDIS_CLUSTER="true")
    try:
        for door in ("grpc", "twirp-json", "twirp-protobuf"):  # REST has no route without a room
            client = client_for(door, running.grpc_address, running.http_base)
            try:
                viewer = client.as_((await client.join("any-show", "v", "viewer"))["token"])
                with pytest.raises(Refused) as caught:
                    await viewer.get_room("")
                expect_refusal(caught.value, "INVALID_ARGUMENT", "roomName is required")
            finally:
                await client.close()
        assert not [line for line in running.output if "state store is unavailable" in line]
    finally:
        running.stop()


async def test_a_head_request_cut_off_mid_body_is_dropped_without_an_error(livekit: LiveKitDevServer) -> None:
    """HEAD takes the REST routes' path (its GET's), through Starlette's routing: a caller gone
    before the body it announced had come is nobody to answer, as for any other verb, and not an
    unhandled exception in the service's log."""
    running = start_service(livekit)
    try:
        host, port = running.http_base.removeprefix("http://").rsplit(":", 1)
        _, writer = await asyncio.open_connection(host, int(port))
        head = f"HEAD /api/rooms/r1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin_token('r1')}\r\n"
        writer.write((head + "Content-Length: 100\r\n\r\nabcd").encode())
        await writer.drain()
        writer.close()
        await asyncio.sleep(0.5)
        async with httpx.AsyncClient(base_url=running.http_base) as http:
            assert (await http.get("/health")).status_code == 200
        errors = [line for line in running.output if '"level":"error"' in line or "Traceback" in line]
        assert errors == [], errors[:3]
    finally:
        running.stop()
