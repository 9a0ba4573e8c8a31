"""Each door speaks its protocol properly, including when the request is wrong."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from showrunner.v1 import show_service_pb2 as pb

from service.dev.livekit_server import LiveKitDevServer
from service.doors.grpc_h2 import PING, h2_frame
from tests.conftest import ServiceProcess, admin_token, lister_token, start_service

TWIRP = "/twirp/showrunner.v1.ShowService"


@pytest.fixture(scope="module")
def grpcio_service(livekit: LiveKitDevServer) -> Iterator[ServiceProcess]:
    """The service with its gRPC door on grpc.aio, the fallback (SHOW_GRPC_SERVER=grpcio)."""
    running = start_service(livekit, SHOW_GRPC_SERVER="grpcio")
    yield running
    running.stop()


@pytest.fixture(params=["zttp", "grpcio"])
def grpc_door(request: pytest.FixtureRequest, service: ServiceProcess) -> ServiceProcess:
    """A service on each of the gRPC door's servers: the answers below are the same on both."""
    return service if request.param == "zttp" else request.getfixturevalue("grpcio_service")


async def test_health_is_the_mvps(service: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        reply = await http.get("/health")
    assert reply.status_code == 200
    body = reply.json()
    assert set(body) == {"status", "timestamp"} and body["status"] == "ok"
    stamp = body["timestamp"]
    assert stamp.endswith("Z") and len(stamp) == len("2024-01-01T12:00:00.000Z")
    age = datetime.now(UTC) - datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert abs(age.total_seconds()) < 60


async def test_twirp_unknown_method_service_or_verb_is_bad_route(service: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        for path in (f"{TWIRP}/Nope", "/twirp/showrunner.v1.Other/GetRoom", "/twirp/x"):
            reply = await http.post(path, content=b"{}", headers={"Content-Type": "application/json"})
            assert reply.status_code == 404, path
            assert reply.json()["code"] == "bad_route"
            assert reply.headers["content-type"].startswith("application/json")
        reply = await http.get(f"{TWIRP}/GetRoom")
        assert (reply.status_code, reply.json()["code"]) == (404, "bad_route")


async def test_twirp_refuses_other_content_types_and_accepts_parameters(service: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        reply = await http.post(f"{TWIRP}/ListRooms", content=b"{}", headers={"Content-Type": "text/plain"})
        assert (reply.status_code, reply.json()["code"]) == (404, "bad_route")
        reply = await http.post(
            f"{TWIRP}/ListRooms",
            content=b"{}",
            headers={"Content-Type": "application/json; charset=utf-8", "Authorization": f"Bearer {lister_token()}"},
        )
        assert reply.status_code == 200, reply.text


async def test_twirp_malformed_bodies_are_malformed_not_internal(service: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        for body, ctype in (
            (b"{not json", "application/json"),
            (b'{"room_name": 5}', "application/json"),
            (b"\xff\xfe", "application/json"),
            (b"\x0a\xff\xff\xff\xff\xff", "application/protobuf"),
        ):
            reply = await http.post(f"{TWIRP}/GetRoom", content=body, headers={"Content-Type": ctype})
            assert reply.status_code == 400, body
            error = reply.json()
            assert error["code"] == "malformed" and error["msg"]


async def test_twirp_json_accepts_unknown_fields_and_both_field_spellings(service: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        admin = {"Authorization": f"Bearer {admin_token('nope-room')}"}
        for body in ({"roomName": "nope-room", "future": 1}, {"room_name": "nope-room"}):
            reply = await http.post(f"{TWIRP}/GetRoom", json=body, headers=admin)
            assert (reply.status_code, reply.json()) == (
                404,
                {"code": "not_found", "msg": "Room not found", "meta": {}},
            )


async def test_twirp_json_answers_hold_every_field_as_go_twirp_writes_them(service: ServiceProcess, room: str) -> None:
    """Go's Twirp servers (v7 on, and v8 by default) write unpopulated fields with their default
    values, under their proto names: a client written against one reads `hand_raised: false`, not
    an absent key, and so it does here."""
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        admin = {"Authorization": f"Bearer {admin_token(room)}"}
        body = {"room_name": room, "participant_name": "host-1", "role": "ROLE_HOST"}
        assert (await http.post(f"{TWIRP}/JoinRoom", json=body, headers=admin)).status_code == 200
        body = {"room_name": room, "participant_name": "vic", "role": "ROLE_VIEWER"}
        reply = await http.post(f"{TWIRP}/JoinRoom", json=body)
        assert reply.status_code == 200, reply.text
        joined = reply.json()
        assert list(joined) == [
            "token", "ws_url", "room_name", "role", "identity", "state", "hand_raised", "invitation_expires_at",
            "invited_by",
        ]  # fmt: skip
        assert (joined["hand_raised"], joined["invitation_expires_at"], joined["invited_by"]) == (False, "0", "")
        reply = await http.post(f"{TWIRP}/ListRaisedHands", json={"room_name": room}, headers=admin)
        assert (reply.status_code, reply.json()) == (200, {"hands": [], "next_page_token": "", "total": 0})


async def test_rest_bad_bodies_get_clear_400s(service: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        cases = [
            (b"{nope", "Request body is not valid JSON"),
            (b"[1, 2]", "Request body must be a JSON object"),
            (
                json.dumps({"roomName": 1, "participantName": "a", "role": "host"}).encode(),
                "roomName must be a string",
            ),
        ]
        for body, message in cases:
            reply = await http.post("/api/rooms/join", content=body)
            assert (reply.status_code, reply.json()) == (400, {"error": message})
        reply = await http.post("/api/rooms/join", content=b"x" * (64 * 1024 + 1))
        assert (reply.status_code, reply.json()) == (413, {"error": "Request body is larger than 65536 bytes"})
        reply = await http.post("/api/rooms/any/hand-raise", json={"participantIdentity": "v", "raised": "yes"})
        assert (reply.status_code, reply.json()) == (400, {"error": "raised must be true or false"})


async def test_rest_unknown_routes_and_methods(service: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        reply = await http.get("/api/nothing-here")
        assert (reply.status_code, reply.json()) == (404, {"error": "Not found"})
        reply = await http.put("/api/rooms/join", json={})
        assert (reply.status_code, reply.json()) == (405, {"error": "Method not allowed"})


async def test_rest_wrong_verbs_are_told_every_verb_the_path_takes(service: ServiceProcess) -> None:
    """A 405 names the verbs the path does take (RFC 9110 requires Allow on it), all of them:
    `/api/rooms/<room>` is GetRoom's and DeleteRoom's, and `/api/rooms/join` JoinRoom's besides."""
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        for verb, path, allowed in (
            ("PUT", "/api/rooms/join", "DELETE, GET, HEAD, POST"),
            ("PATCH", "/api/rooms/some-show", "DELETE, GET, HEAD"),
            ("GET", "/api/rooms/some-show/live", "POST"),
            ("POST", "/api/rooms/some-show/settings", "PATCH"),
            ("POST", "/health", "GET, HEAD"),
            ("GET", "/webhooks/livekit", "POST"),
        ):
            reply = await http.request(verb, path)
            assert (reply.status_code, reply.json()) == (405, {"error": "Method not allowed"}), (verb, path)
            assert reply.headers.get("allow") == allowed, (verb, path)


async def test_grpc_health_and_reflection(grpc_door: ServiceProcess) -> None:
    async with grpc.aio.insecure_channel(grpc_door.grpc_address) as channel:
        checks = health_pb2_grpc.HealthStub(channel)
        for name in ("", "showrunner.v1.ShowService"):
            reply = await checks.Check(health_pb2.HealthCheckRequest(service=name))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING

        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        requests = [
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="showrunner.v1.ShowService"),
        ]
        replies = [r async for r in reflect.ServerReflectionInfo(iter(requests))]
        services = {s.name for s in replies[0].list_services_response.service}
        assert {"showrunner.v1.ShowService", "grpc.health.v1.Health"} <= services
        assert replies[1].file_descriptor_response.file_descriptor_proto
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await checks.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
        assert unknown.value.code() is grpc.StatusCode.NOT_FOUND


async def test_grpc_answers_a_show_and_refuses_what_it_does_not_have(grpc_door: ServiceProcess) -> None:
    async with grpc.aio.insecure_channel(grpc_door.grpc_address) as channel:
        join = channel.unary_unary(
            "/showrunner.v1.ShowService/JoinRoom",
            request_serializer=pb.JoinRoomRequest.SerializeToString,
            response_deserializer=pb.JoinRoomResponse.FromString,
        )
        call = join(pb.JoinRoomRequest(room_name="wire-doors", participant_name="ann", role=pb.ROLE_VIEWER))
        answer = await call
        assert answer.token and answer.identity == "ann"
        assert len(str(dict(await call.trailing_metadata() or ()).get("x-request-id", ""))) == 32
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await join(pb.JoinRoomRequest(room_name="wire-doors", participant_name="", role=pb.ROLE_VIEWER))
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await channel.unary_unary("/showrunner.v1.ShowService/NoSuchCall")(b"")
        assert unknown.value.code() is grpc.StatusCode.UNIMPLEMENTED


async def test_grpc_rejects_what_it_cannot_decode(grpc_door: ServiceProcess) -> None:
    async with grpc.aio.insecure_channel(grpc_door.grpc_address) as channel:
        raw = channel.unary_unary("/showrunner.v1.ShowService/GetRoom")
        try:
            await raw(b"\x0a\xff\xff\xff\xff\xff")
            raise AssertionError("garbage was accepted")
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert exc.details() == "the protobuf request could not be decoded"
        # the service is still answering
        stub = channel.unary_unary(
            "/showrunner.v1.ShowService/ListRooms",
            request_serializer=pb.ListRoomsRequest.SerializeToString,
            response_deserializer=pb.ListRoomsResponse.FromString,
        )
        lister = (("authorization", f"Bearer {lister_token()}"),)
        assert isinstance(await stub(pb.ListRoomsRequest(), metadata=lister), pb.ListRoomsResponse)


async def test_grpc_refusal_of_an_undecodable_message_carries_the_request_id(grpc_door: ServiceProcess) -> None:
    """Every gRPC answer, a refusal included, returns its request id in the trailers (README,
    "Logs and request ids"): the refusal of a message that cannot be decoded too, the caller's
    own id when it names one, else a fresh one."""
    async with grpc.aio.insecure_channel(grpc_door.grpc_address) as channel:
        raw = channel.unary_unary("/showrunner.v1.ShowService/GetRoom")
        for offered in ("trace-undecodable", None):
            call = raw(b"\x0a\xff\xff\xff\xff\xff", metadata=(("x-request-id", offered),) if offered else None)
            try:
                await call
                raise AssertionError("garbage was accepted")
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT
            trailers = dict(await call.trailing_metadata() or ())
            if offered:
                assert trailers.get("x-request-id") == offered, trailers
            else:
                assert len(str(trailers.get("x-request-id", ""))) == 32, trailers


async def test_oversized_requests_get_each_protocols_own_refusal(service: ServiceProcess) -> None:
    big = "x" * (100 * 1024)
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        reply = await http.post(f"{TWIRP}/GetRoom", json={"room_name": big})
        assert reply.status_code == 400
        assert reply.json()["code"] == "invalid_argument" and "exceeds" in reply.json()["msg"]


async def test_grpc_refuses_a_message_over_its_bound(grpc_door: ServiceProcess) -> None:
    big = "x" * (100 * 1024)
    async with grpc.aio.insecure_channel(grpc_door.grpc_address) as channel:
        stub = channel.unary_unary(
            "/showrunner.v1.ShowService/GetRoom",
            request_serializer=pb.GetRoomRequest.SerializeToString,
            response_deserializer=pb.GetRoomResponse.FromString,
        )
        try:
            await stub(pb.GetRoomRequest(room_name=big))
            raise AssertionError("an oversized message was accepted")
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_a_caller_that_pings_too_often_is_told_to_go(grpc_door: ServiceProcess) -> None:
    """Pings sooner than every 10 s with nothing sent back between are strikes; past two, the
    connection gets GOAWAY ENHANCE_YOUR_CALM "too_many_pings" (which makes grpc-core clients double
    their keepalive time) and is closed, on both servers alike."""
    host, port = grpc_door.grpc_address.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2_frame(0x4, b"")  # and an empty SETTINGS
    writer.write(preface + b"".join(h2_frame(PING, b"ping%04d" % n) for n in range(5)))
    goaways, acks = [], 0
    try:
        async with asyncio.timeout(5):
            while head := await reader.read(9):
                head += await reader.readexactly(9 - len(head))
                payload = await reader.readexactly(int.from_bytes(head[:3], "big"))
                acks += head[3] == 0x6 and head[4] & 0x1
                if head[3] == 0x7:
                    goaways.append(payload)
    except TimeoutError:
        pass  # still open 5 s on
    finally:
        writer.close()
    assert goaways, "the connection was not told to go"
    assert int.from_bytes(goaways[-1][4:8], "big") == 0xB  # ENHANCE_YOUR_CALM
    assert goaways[-1][8:] == b"too_many_pings"
    assert acks >= 3  # the pings before it were answered
