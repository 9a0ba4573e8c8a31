"""Between the contract and the core nothing is written by hand: every RPC has an implementation
(the type checker proves it; this test names what is missing), a declared policy and a REST
route, the README's policy table is the declaration's, and the OpenAPI document is served."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from showrunner.v1 import policy_pb2 as po
from showrunner.v1 import show_service_pb2 as pb
from showrunner.v1.show_service_seam import ShowService, show_service_rpcs

from service.core import errors
from service.core.show import ShowCore
from service.doors.rest_door import http_rule
from service.policy import AUDIENCE_WORDS, rule_for
from tests.conftest import ServiceProcess

SERVICE = pb.DESCRIPTOR.services_by_name["ShowService"]
README = Path(__file__).resolve().parents[1] / "README.md"
OPENAPI = Path(__file__).resolve().parents[1] / "gen" / "openapi.json"
EXPECTED = json.loads(OPENAPI.read_bytes())
MARKER = "<!-- policy table: each RPC's declared policy and route, held to the contract by tests/test_seam.py -->"


def test_every_rpc_has_an_implementation_a_policy_and_a_route() -> None:
    core = ShowCore.__new__(ShowCore)  # only its bound methods are looked at
    bound = {rpc.name: rpc for rpc in show_service_rpcs(core)}
    for method in SERVICE.methods:
        assert method.name in bound, f"{method.name} has no implementation in ShowCore"
        implementation = bound[method.name].implementation
        assert getattr(implementation, "__func__", None) is not getattr(ShowService, implementation.__name__, None), (
            f"{method.name} is only the protocol's stub"
        )
        rule_for(method)  # raises PolicyMissing when the policy is absent or incomplete
        verb, path, _ = http_rule(method)
        assert verb in {"GET", "POST", "PATCH", "DELETE", "PUT"} and path.startswith("/api/")


def route_words(path: str) -> str:
    """`/api/rooms/{room_name}` as the README writes it: `/api/rooms/:roomName`."""
    return re.sub(r"\{(\w+)\}", lambda m: ":" + re.sub(r"_(\w)", lambda c: c.group(1).upper(), m.group(1)), path)


def policy_rows() -> list[str]:
    rows = []
    for method in SERVICE.methods:
        rule, (verb, path, _) = rule_for(method), http_rule(method)
        acting = f"`{rule.participant_label}`" if rule.participant_label else "\u2013"
        who = AUDIENCE_WORDS[rule.audience]
        if rule.open_field:
            who += " (no token needed as a viewer)"
        rows.append(f"| {method.name} | `{verb} {route_words(path)}` | {who} | {acting} | {rule.bucket} |")
    return rows


def test_the_readme_policy_table_is_the_declared_one() -> None:
    text = README.read_text()
    assert MARKER in text
    table = text.split(MARKER, 1)[1].strip().splitlines()
    assert table[2 : 2 + len(SERVICE.methods)] == policy_rows()


async def test_the_openapi_document_is_served_and_covers_every_route(service: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=service.http_base) as http:
        reply = await http.get("/openapi.json")
    assert reply.status_code == 200
    document = reply.json()
    assert document == EXPECTED
    operations = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    assert operations == {m.name for m in SERVICE.methods}


def test_the_readme_role_table_agrees_with_the_declared_audiences() -> None:
    """The Security section's table by role: every RPC but ListRooms once; the host-only rows are
    exactly the RPCs for the host, the host-and-moderator rows exactly the stage managers'; "yes"
    for all, exactly the RPCs any participant may call for nobody in particular."""
    text = README.read_text().split("| | viewer | guest | moderator | host |", 1)[1]
    lines = text.strip().splitlines()[1:]
    table = lines[: next(i for i, line in enumerate(lines) if not line.startswith("|"))]
    rows = [line.split(" | ") for line in table]
    seen: dict[str, tuple[str, ...]] = {}
    for cells in rows:
        for name in re.split(r", | / ", cells[0].removeprefix("| ")):
            seen[name] = tuple(cell.strip(" |") for cell in cells[1:])
    assert set(seen) == {m.name for m in SERVICE.methods} - {"ListRooms"}
    for method in SERVICE.methods:
        if method.name == "ListRooms":
            continue
        rule = rule_for(method)
        host_only = seen[method.name] == ("\u2013", "\u2013", "\u2013", "yes")
        assert host_only == (rule.audience == po.AUDIENCE_HOST), method.name
        managers = seen[method.name] == ("\u2013", "\u2013", "yes", "yes")
        assert managers == (rule.audience == po.AUDIENCE_STAGE_MANAGERS), method.name
        everyone = seen[method.name] == ("yes", "yes", "yes", "yes")
        assert everyone == (rule.audience == po.AUDIENCE_PARTICIPANT and not rule.participant_field), method.name


def test_the_cores_recheck_refuses_with_the_declared_words() -> None:
    declared = {m.name: rule_for(m).refusal for m in SERVICE.methods}
    assert declared["InviteGuest"] == errors.ONLY_HOST_PROMOTES
    assert declared["DemoteGuest"] == errors.ONLY_HOST_DEMOTES
    assert declared["RemoveGuest"] == errors.ONLY_HOST_REMOVES
    assert declared["UpdateRoomSettings"] == errors.ONLY_HOST_CHANGES_SETTINGS
    assert declared["AppointModerator"] == errors.ONLY_HOST_APPOINTS
    assert declared["RemoveParticipant"] == errors.ONLY_HOST_REMOVES_PARTICIPANTS
    assert declared["GetMyPlace"] == errors.NO_PLACE_OF_ITS_OWN
    assert declared["RenewToken"] == errors.NO_PLACE_OF_ITS_OWN
