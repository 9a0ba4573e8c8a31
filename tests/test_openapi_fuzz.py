"""Schemathesis against the live REST door, from the OpenAPI document the build generates from the
contract: every operation, a bounded number of generated requests each, as an anonymous caller and
as a viewer of a real room. No answer may be a server error, and every answer must conform to the
document (the MVP's forms and its {"error": "..."} refusals included)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.conftest import ServiceProcess, admin_token

DOCUMENT = json.loads((Path(__file__).resolve().parents[1] / "gen" / "openapi.json").read_text())
schema = schemathesis.openapi.from_dict(DOCUMENT)
# The show the document's examples name, with the viewer they name, so that examples are answered.
ROOM = DOCUMENT["paths"]["/api/rooms/{room_name}"]["get"]["parameters"][0]["example"]
VIEWER = DOCUMENT["paths"]["/api/rooms/join"]["post"]["requestBody"]["content"]["application/json"]["schema"][
    "example"
]["participantName"]


@pytest.fixture(scope="module")
def viewer_token(service: ServiceProcess) -> Iterator[str]:
    """A viewer's token for a room with a host: calls as a participant reach the show's rules."""
    with httpx.Client(base_url=service.http_base, timeout=20) as http:
        admin = {"Authorization": f"Bearer {admin_token(ROOM)}"}
        host = http.post(
            "/api/rooms/join", json={"roomName": ROOM, "participantName": "host-1", "role": "host"}, headers=admin
        )
        viewer = http.post("/api/rooms/join", json={"roomName": ROOM, "participantName": VIEWER, "role": "viewer"})
        assert host.status_code == 200 and viewer.status_code == 200
        yield viewer.json()["token"]


# Each operation is a test of its own, once for each caller, named by its method and path and the
# caller: `test_every_operation_answers_as_documented[GET /api/rooms/{room_name}][viewer]`. The
# caller's parametrize is also what gives each operation its own test id: with pytest 9.2,
# schemathesis 4.32's items for an unparametrized test all take the test function's bare id, and
# pytest-xdist, which runs the suite in two workers, keeps one test per id (it ran one operation
# of the 33). `test_every_operation_is_a_test_of_its_own` holds that.
CALLERS = ("anonymous", "viewer")


@schema.parametrize()
@pytest.mark.parametrize("caller", CALLERS)
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(
    case: Any, caller: str, service: ServiceProcess, viewer_token: str
) -> None:
    """Every example of the document in turn (the room and viewer above), schemathesis's
    deterministic coverage cases, then requests it makes up, valid and invalid alike."""
    headers = {"Authorization": f"Bearer {viewer_token}"} if caller == "viewer" else {}
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    case.call_and_validate(base_url=service.http_base, headers=headers, checks=checks)


def test_every_operation_is_a_test_of_its_own() -> None:
    """Collected as pytest collects the suite: one test per operation and caller, each with an id of
    its own, so that no runner (pytest-xdist among them) takes two for one."""
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", __file__],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr
    fuzzed = [line for line in collected.stdout.splitlines() if "::test_every_operation_answers_as_documented" in line]
    labels = [f"{method.upper()} {path}" for path, item in DOCUMENT["paths"].items() for method in item]
    expected = {f"[{label}][{caller}]" for label in labels for caller in CALLERS}
    assert len(fuzzed) == len(set(fuzzed)) == len(expected), fuzzed
    assert {line[line.index("[") :] for line in fuzzed} == expected
