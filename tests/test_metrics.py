"""GET /metrics, scraped and parsed with prometheus-client's own parser: the numbers move as the
show happens."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time
import uuid
from pathlib import Path

import grpc
import httpx
import pytest
from livekit import api
from prometheus_client.parser import text_string_to_metric_families

from service.dev.livekit_server import LiveKitDevServer
from service.gateway.livekit import LiveKitStage
from service.observability.metrics import Metrics
from service.stores.memory_record import MemoryRecords
from tests.conftest import API_KEY, API_SECRET, ROOT, ServiceProcess, admin_token, start_service
from tests.doors import Refused, client_for
from tests.egress_standin import EgressStandIn
from tests.live import LiveParticipant, until

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(service: ServiceProcess) -> Samples:
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        reply = await http.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def test_the_numbers_move_as_the_show_happens(
    recording_service: ServiceProcess, egress: EgressStandIn, room: str
) -> None:
    rest = client_for("rest", recording_service.grpc_address, recording_service.http_base)
    grpc = client_for("grpc", recording_service.grpc_address, recording_service.http_base)
    people: list[LiveParticipant] = []
    try:
        start = await scrape(recording_service)
        host_ticket = await rest.as_(admin_token(room)).join(room, "host", "host")
        host = rest.as_(host_ticket["token"])
        people.append(await LiveParticipant("host").connect(host_ticket["wsUrl"], host_ticket["token"]))
        tickets = {name: await rest.join(room, name, "viewer") for name in ("ann", "bob")}
        for name, ticket in tickets.items():
            people.append(await LiveParticipant(name).connect(ticket["wsUrl"], ticket["token"]))
        with contextlib.suppress(Refused):
            await grpc.as_(tickets["ann"]["token"]).invite(room, "bob", "host")
        await rest.as_(tickets["ann"]["token"]).hand(room, "ann", True)
        await host.invite(room, "bob", "host")  # waits for bob
        during = await scrape(recording_service)

        assert moved(start, during, "showrunner_requests_total", rpc="JoinRoom", door="rest", code="OK") == 3
        assert (
            moved(start, during, "showrunner_requests_total", rpc="InviteGuest", door="grpc", code="PERMISSION_DENIED")
            == 1
        )
        assert moved(start, during, "showrunner_request_duration_seconds_count", rpc="JoinRoom", door="rest") == 3
        assert moved(start, during, "showrunner_livekit_calls_total", method="CreateRoom", outcome="ok") == 1
        assert moved(start, during, "showrunner_livekit_call_duration_seconds_count", method="CreateRoom") == 1
        # Gauges over every room of a service other tests share: their rooms, retired meanwhile
        # (LiveKit closes them once empty), take theirs away, so this room's part is read as at least.
        assert value(during, "showrunner_rooms") >= 1
        assert value(during, "showrunner_raised_hands") >= 1
        assert value(during, "showrunner_pending_invitations") >= 1
        assert value(during, "showrunner_participants", role="host") >= 1

        async def viewers_counted() -> bool:  # LiveKit's own counts catch up within moments
            return value(await scrape(recording_service), "showrunner_participants", role="viewer") >= 2

        await until(viewers_counted, label="LiveKit's participant count reaching the gauge")

        await host.invite(room, "ann", "host")  # ann's hand is up: on stage
        await host.demote(room, "ann", "host")
        recording = await host.start_recording(room, "speaker")
        await egress.report(recording_service.http_base, "egress_started", recording["recordingId"], 0)
        async with httpx.AsyncClient(base_url=recording_service.http_base) as http:
            await http.post("/webhooks/livekit", content=b"{}", headers={"Authorization": "forged"})
        after = await scrape(recording_service)

        assert moved(during, after, "showrunner_promotions_total") == 1
        assert moved(during, after, "showrunner_demotions_total", how="demoted") == 1
        assert value(after, "showrunner_active_recordings") >= 1  # a gauge over shared rooms, as above
        assert moved(during, after, "showrunner_webhook_events_total", event="egress_started", verdict="applied") == 1
        assert moved(during, after, "showrunner_webhook_events_total", event="unknown", verdict="rejected") == 1
        # The promotion and the demotion; the instance's reconciler may make calls of its own meanwhile
        # (for the rooms of other tests on the same LiveKit), and those are counted too.
        assert moved(during, after, "showrunner_livekit_calls_total", method="UpdateParticipant", outcome="ok") >= 2
    finally:
        for person in people:
            await person.disconnect()
        await rest.close()
        await grpc.close()


async def test_the_shipped_dashboard_only_charts_series_the_service_exports(service: ServiceProcess) -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/showrunner-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    charted = {name for expr in exprs for name in re.findall(r"showrunner_[a-z_]+", expr)}
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        exposition = (await http.get("/metrics")).text
    exported = set(re.findall(r"^# TYPE (showrunner_[a-z_]+) (\w+)", exposition, re.MULTILINE))
    series = set()
    for name, kind in exported:
        if kind in ("gauge", "counter"):  # counters are typed under their _total name
            series.add(name)
        if kind == "histogram":
            series |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    assert charted and charted <= series, charted - series
    assert len(dashboard["panels"]) >= 10


async def test_viewers_are_counted_in_this_deployments_shows_only(tmp_path: Path) -> None:
    """LiveKit's ListRooms lists every room of the LiveKit: another deployment's shows, or another
    application's rooms, on the same LiveKit are none of this deployment's viewers. On a LiveKit
    of its own, so that no other test's room moves the count."""
    own = LiveKitDevServer(api_key=API_KEY, api_secret=API_SECRET, log_path=tmp_path / "lk.log").start()
    running = start_service(own)
    rest = client_for("rest", running.grpc_address, running.http_base)
    lkapi = api.LiveKitAPI(own.http_url, API_KEY, API_SECRET, failover=False)
    people: list[LiveParticipant] = []
    try:
        elsewhere = f"elsewhere-{uuid.uuid4().hex[:8]}"  # a room this deployment never opened
        grants = api.VideoGrants(room_join=True, room=elsewhere)
        stranger = api.AccessToken(API_KEY, API_SECRET).with_identity("stranger").with_grants(grants).to_jwt()
        people.append(await LiveParticipant("stranger").connect(own.url, stranger))
        room = f"show-{uuid.uuid4().hex[:8]}"
        host = await rest.as_(admin_token(room)).join(room, "host", "host")
        await rest.as_(host["token"]).go_live(room)
        viewer = await rest.join(room, "ann", "viewer")
        people.append(await LiveParticipant("ann").connect(viewer["wsUrl"], viewer["token"]))

        async def counted_by_livekit() -> bool:
            rooms = {r.name: r.num_participants for r in (await lkapi.room.list_rooms(api.ListRoomsRequest())).rooms}
            return rooms.get(elsewhere) == 1 and rooms.get(room) == 1

        await until(counted_by_livekit, label="LiveKit counting both participants")
        assert value(await scrape(running), "showrunner_participants", role="viewer") == 1
    finally:
        for person in people:
            await person.disconnect()
        await lkapi.aclose()
        await rest.close()
        running.stop()
        own.stop()


def _answer_to(port: int, *parts: bytes) -> bytes:
    """What the HTTP port answers to raw bytes, sent in `parts` a moment apart, until it closes
    the connection (each refusal here closes it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        for part in parts:
            with contextlib.suppress(OSError):  # the server may close before it has read everything
                conn.sendall(part)
            time.sleep(0.1)
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := conn.recv(65536):
                received += chunk
        return received


@pytest.mark.parametrize(("parser", "header_refusal"), [("httptools", "431"), ("h11", "400")])
async def test_requests_refused_before_the_chain_are_counted_as_refused_at_the_edge(
    livekit: LiveKitDevServer, parser: str, header_refusal: str
) -> None:
    """Refusals that no RPC's chain saw (uvicorn's own 400 and 503, the edges' 408 and 431, the
    doors' undecodable or oversized bodies, an undecodable gRPC message) are counted under the
    door "edge", with the RPC when a door had found it (else "unrouted") and the status answered.
    h11 refuses a header past 16 KiB itself, with 400."""
    running = start_service(
        livekit,
        SHOW_HTTP_BODY_SECONDS="1",
        SHOW_HTTP_HEADER_SECONDS="5",
        SHOW_MAX_CONNECTIONS="2",
        SHOW_HTTP_PARSER=parser,
    )
    port = running.http_port
    twirp_join = "/twirp/showrunner.v1.ShowService/JoinRoom"
    try:
        start = await scrape(running)
        # Not HTTP at all: uvicorn answers 400 itself.
        assert (await asyncio.to_thread(_answer_to, port, b"NOT HTTP AT ALL\r\n\r\n")).startswith(b"HTTP/1.1 400")
        # A header past 64 KiB: 431 (past 16 KiB, 400 with h11).
        head = b"GET /health HTTP/1.1\r\nhost: x\r\nx-long: "
        assert (await asyncio.to_thread(_answer_to, port, head, b"a" * 256 * 1024)).startswith(
            f"HTTP/1.1 {header_refusal}".encode()
        )
        # A body that does not come within SHOW_HTTP_BODY_SECONDS: 408, counted once (the Twirp
        # door, which was waiting for it, hears only that the client is gone).
        slow = (
            f"POST {twirp_join} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 50\r\n\r\n{{"
        )
        assert (await asyncio.to_thread(_answer_to, port, slow.encode())).startswith(b"HTTP/1.1 408")
        # Past SHOW_MAX_CONNECTIONS (2): with two connections open and quiet, a third's request is 503.
        quiet = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        try:
            over = await asyncio.to_thread(_answer_to, port, b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        finally:
            for conn in quiet:
                conn.close()
        assert over.startswith(b"HTTP/1.1 503"), over
        # The doors' own refusals before the chain: bodies that are no request, an unknown route.
        async with httpx.AsyncClient(base_url=running.http_base) as http:
            assert (await http.post("/api/rooms/join", content=b"{" * 70_000)).status_code == 413
            assert (await http.post("/api/rooms/join", content=b"[1]")).status_code == 400
            assert (
                await http.post(twirp_join, content=b"{not json", headers={"content-type": "application/json"})
            ).status_code == 400
            assert (await http.post("/twirp/showrunner.v1.ShowService/NoSuchRpc", json={})).status_code == 404
            assert (await http.get("/api/no/such/route")).status_code == 404
        async with grpc.aio.insecure_channel(running.grpc_address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as undecodable:  # field 1 says 5 bytes, 2 follow
                await channel.unary_unary("/showrunner.v1.ShowService/JoinRoom")(b"\x0a\x05ab", timeout=10)
            assert undecodable.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        after = await scrape(running)
    finally:
        running.stop()

    def edge(rpc: str, code: str) -> float:
        return moved(start, after, "showrunner_requests_total", rpc=rpc, door="edge", code=code)

    unrouted = {"400": 1, "431": 0, "408": 1, "503": 1, "404": 2}
    unrouted[header_refusal] += 1
    assert {code: edge("unrouted", code) for code in unrouted} == unrouted
    assert [edge("JoinRoom", code) for code in ("413", "400", "408", "INVALID_ARGUMENT")] == [1, 2, 0, 1]
    # None of them reached the chain: no count of a door's own moved.
    served = [k for k in after if k[0] == "showrunner_requests_total" and dict(k[1])["door"] != "edge"]
    assert all(moved(start, after, "showrunner_requests_total", **dict(k[1])) == 0 for k in served)


async def test_the_gauges_count_every_show_a_quiet_long_one_and_past_a_thousand(livekit: LiveKitDevServer) -> None:
    """A scrape counts each show: one LiveKit still has that has written nothing for longer than
    the store's idle time (kept by the reconciler, not marked as written to), and every one of
    more than a thousand, not the thousand written to least lately."""
    deployment = f"gauges-{uuid.uuid4().hex[:8]}"
    stage = LiveKitStage(livekit.url, API_KEY, API_SECRET, deployment=deployment)
    store, metrics, now = MemoryRecords(idle_seconds=600), Metrics(), time.time()
    quiet = f"{deployment}-quiet"
    try:
        await store.claim_host(quiet, "host", "Host", now, 60)
        opened = await stage.open_room(quiet)
        await store.room_opened(quiet, opened.sid, opened.creation_time * 1000, now)
        await store.keep_alive(quiet, opened.sid, now + 500)  # a reconciler's pass
        for i in range(1_500):
            await store.claim_host(f"{deployment}-{i}", "host", "Host", now + 690, 60)
        exposition = (await metrics.render(store, stage, now + 700)).decode()
    finally:
        await stage.close_room(quiet)
        await stage.close()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }
    assert samples[("showrunner_rooms", ())] == 1_501
    assert samples[("showrunner_participants", (("role", "host"),))] == 1_501
