"""The MVP's rate limits, enforced: per verified caller, per address for anonymous joins, the
same answer on every door, shared by instances that share Redis."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from showrunner.v1 import show_service_pb2 as pb
from showrunner.v1 import show_service_pb2_grpc

from service.dev.livekit_server import LiveKitDevServer
from service.dev.redis_server import RedisServer
from tests.conftest import ServiceProcess, admin_token, launch
from tests.doors import DOORS, Refused, client_for, expect_refusal


@pytest.fixture
def strict(livekit: LiveKitDevServer) -> Iterator[ServiceProcess]:
    """An instance with the MVP's limits (join 10/min, invite 5/min, hand 10/min, other 100/min)."""
    running = launch(livekit)
    yield running
    running.stop()


async def refusal(call: object) -> Refused:
    with pytest.raises(Refused) as caught:
        await call  # type: ignore[misc]
    return caught.value


def check_over_limit(caught: Refused, limit: str) -> None:
    assert caught.message.startswith(f"Rate limit exceeded: {limit}"), caught
    assert caught.retry_after is not None and 1 <= int(caught.retry_after) <= 60, caught
    expect_refusal(caught, "RESOURCE_EXHAUSTED", caught.message)


async def test_anonymous_joins_are_limited_per_address_on_every_door(strict: ServiceProcess, room: str) -> None:
    clients = {door: client_for(door, strict.grpc_address, strict.http_base) for door in DOORS}
    try:
        for i in range(10):
            await clients[DOORS[i % len(DOORS)]].join(room, f"v{i}", "viewer")
        for door, client in clients.items():
            check_over_limit(await refusal(client.join(room, f"late-{door}", "viewer")), "10 join requests per 60s")
        async with httpx.AsyncClient(base_url=strict.http_base) as http:
            exposition = (await http.get("/metrics")).text
        refusals = {
            tuple(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(exposition)
            for s in family.samples
            if s.name == "showrunner_rate_limit_refusals_total"
        }
        assert refusals[(("bucket", "join"),)] == len(DOORS)
    finally:
        for client in clients.values():
            await client.close()


async def test_the_tokens_joins_hand_out_bring_no_more_joins(strict: ServiceProcess, room: str) -> None:
    """Each join hands out a participant token: joining with it still counts against the address,
    or ten anonymous joins would bring ten more with each token, and so on without end."""
    rest = client_for("rest", strict.grpc_address, strict.http_base)
    try:
        tokens = [(await rest.join(room, f"v{i}", "viewer"))["token"] for i in range(10)]
        for token in tokens[:3]:
            check_over_limit(
                await refusal(rest.as_(token).join(f"{room}-b", "w", "viewer")), "10 join requests per 60s"
            )
        # The room's admin, which makes hosts, keeps its own allowance.
        assert (await rest.as_(admin_token(room)).join(room, "host", "host"))["role"] == "host"
    finally:
        await rest.close()


async def test_reading_ones_own_place_is_no_join(strict: ServiceProcess, room: str) -> None:
    """A watch page back from a reconnect reads its place with GetMyPlace, which counts in the
    caller's `other` allowance, not in the join limit of its address: ten viewers behind one
    address who used up its joins all come back, and each reads its place, more than ten times."""
    clients = {door: client_for(door, strict.grpc_address, strict.http_base) for door in DOORS}
    try:
        rest = clients["rest"]
        host = await rest.as_(admin_token(room)).join(room, "host", "host")
        tokens = [(await rest.join(room, f"v{i}", "viewer"))["token"] for i in range(10)]
        check_over_limit(await refusal(rest.join(room, "late", "viewer")), "10 join requests per 60s")
        for i, token in enumerate(tokens):
            for door, client in clients.items():
                answer = await client.as_(token).my_place(room)
                assert (answer["identity"], answer["role"], answer["state"]) == (
                    f"v{i}",
                    "viewer",
                    "SHOW_STATE_BACKSTAGE",
                ), door
        for _ in range(12):  # more than the join limit, on one caller's own allowance
            assert (await clients["twirp-json"].as_(tokens[0]).my_place(room))["identity"] == "v0"
        assert (await rest.as_(host["token"]).my_place(room))["role"] == "host"
        check_over_limit(await refusal(rest.as_(tokens[1]).join(room, "v1", "viewer")), "10 join requests per 60s")
    finally:
        for client in clients.values():
            await client.close()


async def test_renewing_ones_token_is_no_join(strict: ServiceProcess, room: str) -> None:
    """The pages renew their tokens before they expire with RenewToken, which counts in the
    caller's `other` allowance, not in the join limit of its address: ten viewers behind one
    address who used up its joins all renew, and the renewed tokens work."""
    rest = client_for("rest", strict.grpc_address, strict.http_base)
    twirp = client_for("twirp-json", strict.grpc_address, strict.http_base)
    try:
        await rest.as_(admin_token(room)).join(room, "host", "host")
        tokens = [(await rest.join(room, f"v{i}", "viewer"))["token"] for i in range(10)]
        check_over_limit(await refusal(rest.join(room, "late", "viewer")), "10 join requests per 60s")
        for i, token in enumerate(tokens):
            renewed = await twirp.as_(token).renew_token(room)
            assert (renewed["identity"], renewed["role"]) == (f"v{i}", "viewer")
            assert (await rest.as_(renewed["token"]).my_place(room))["identity"] == f"v{i}"
        check_over_limit(await refusal(rest.as_(tokens[1]).join(room, "v1", "viewer")), "10 join requests per 60s")
    finally:
        await twirp.close()
        await rest.close()


async def test_invitations_are_limited_per_caller(strict: ServiceProcess, room: str) -> None:
    rest = client_for("rest", strict.grpc_address, strict.http_base)
    try:
        host = await rest.as_(admin_token(room)).join(room, "host", "host")
        as_host = rest.as_(host["token"])
        for _ in range(5):  # refused invitations count too: they are still attempts
            await refusal(as_host.invite(room, "nobody", "host"))
        check_over_limit(await refusal(as_host.invite(room, "nobody", "host")), "5 invite requests per 60s")
        # Another caller has its own allowance.
        other = f"{room}-b"
        other_host = await rest.as_(admin_token(other)).join(other, "host", "host")
        expect_refusal(
            await refusal(rest.as_(other_host["token"]).invite(other, "nobody", "host")),
            "NOT_FOUND",
            "Participant not found",
        )
    finally:
        await rest.close()


async def test_a_participant_of_one_room_uses_no_allowance_of_another(strict: ServiceProcess, room: str) -> None:
    """Room names and identities may both hold ":": the viewer "b:host" of one room and the host
    "host" of the room named after it with ":b" are two callers, each with its own allowance. A
    viewer's token, had for the asking, must not spend another room's host's calls."""
    rest = client_for("rest", strict.grpc_address, strict.http_base)
    try:
        other = f"{room}:b"
        host = await rest.as_(admin_token(other)).join(other, "host", "host")
        intruder = rest.as_((await rest.join(room, "b:host", "viewer"))["token"])
        for _ in range(100):  # the room has no show: each call is refused, and still counted
            await refusal(intruder.get_room(room))
        check_over_limit(await refusal(intruder.get_room(room)), "100 other requests per 60s")
        assert (await rest.as_(host["token"]).get_room(other))["hasHost"] is True
    finally:
        await rest.close()


async def test_calls_the_policy_refuses_count_too(strict: ServiceProcess, room: str) -> None:
    """A viewer's token, had for the asking, calling what only the host may (GoLive): each call
    is refused by the policy (which reads the record to decide) and still counts against the
    caller's allowance, as every attempt does; past it the caller is told to wait."""
    rest = client_for("rest", strict.grpc_address, strict.http_base)
    try:
        await rest.as_(admin_token(room)).join(room, "host", "host")
        viewer = rest.as_((await rest.join(room, "ann", "viewer"))["token"])
        for _ in range(100):
            assert (await refusal(viewer.go_live(room))).code in ("PERMISSION_DENIED", "HTTP 403")
        check_over_limit(await refusal(viewer.go_live(room)), "100 other requests per 60s")
    finally:
        await rest.close()


async def test_limits_are_shared_by_instances_on_redis(
    livekit: LiveKitDevServer, redis_server: RedisServer, room: str
) -> None:
    shared = redis_server.url.rsplit("/", 1)[0] + "/1"  # a database of its own for these counters
    pair = [launch(livekit, SHOW_REDIS_URL=shared) for _ in range(2)]
    clients = [client_for("twirp-json", s.grpc_address, s.http_base) for s in pair]
    try:
        for i in range(10):
            await clients[i % 2].join(room, f"v{i}", "viewer")
        for client in clients:
            check_over_limit(await refusal(client.join(room, "late", "viewer")), "10 join requests per 60s")
    finally:
        for client in clients:
            await client.close()
        for running in pair:
            running.stop()


# The proxy as an address, and as a network written with host bits (which uvicorn, on the HTTP
# port, read only once the setting put it in its canonical form).
@pytest.mark.parametrize("proxies", ["127.0.0.1", "127.0.0.9/8"])
async def test_behind_a_trusted_proxy_each_client_address_has_its_own_allowance(
    livekit: LiveKitDevServer, room: str, proxies: str
) -> None:
    running = launch(livekit, SHOW_TRUSTED_PROXIES=proxies, SHOW_RATE_JOIN_PER_MINUTE="2")
    try:
        async with httpx.AsyncClient(base_url=running.http_base) as http:

            async def join(who: str, client: str) -> int:
                body = {"roomName": room, "participantName": who, "role": "viewer"}
                reply = await http.post("/api/rooms/join", json=body, headers={"X-Forwarded-For": client})
                return reply.status_code

            assert [await join(f"a{i}", "203.0.113.7") for i in range(3)] == [200, 200, 429]
            assert [await join(f"b{i}", "198.51.100.9") for i in range(2)] == [200, 200]
        # The gRPC port, behind the same proxy (an L7 balancer passes x-forwarded-for as metadata).
        async with grpc.aio.insecure_channel(running.grpc_address) as channel:
            stub = show_service_pb2_grpc.ShowServiceStub(channel)

            async def join_grpc(who: str, client: str) -> grpc.StatusCode:
                request = pb.JoinRoomRequest(room_name=room, participant_name=who, role=pb.ROLE_VIEWER)
                try:
                    await stub.JoinRoom(request, metadata=(("x-forwarded-for", f"{client}, 127.0.0.1"),))
                except grpc.aio.AioRpcError as exc:
                    return exc.code()
                return grpc.StatusCode.OK

            ok, over = grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED
            assert [await join_grpc(f"c{i}", "192.0.2.10") for i in range(3)] == [ok, ok, over]
            assert [await join_grpc(f"d{i}", "192.0.2.11") for i in range(2)] == [ok, ok]
            assert await join_grpc("e", "203.0.113.7") == over  # that client's allowance, whatever the port
            # A balancer that adds the client's port names one client all the same, as on HTTP.
            ports = [await join_grpc(f"f{i}", f"192.0.2.12:{4000 + i}") for i in range(3)]
            assert ports == [ok, ok, over]
            assert await join_grpc("g", "[2001:db8::12]:4000") == ok
            assert await join_grpc("h", "2001:db8::12") == ok
            assert await join_grpc("i", "[2001:db8::12]:4001") == over
    finally:
        running.stop()
