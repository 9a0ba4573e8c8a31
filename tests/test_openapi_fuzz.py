"""Schemathesis against the live REST door, from the OpenAPI document the build generates from the
contract: every operation, a bounded number of generated requests each, as an anonymous caller and
as a viewer of a real room. No answer may be a server error, and every answer must conform to the
document (the MVP's forms and its {"error": "..."} refusals included)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings, strategies
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.schemas import APIOperation
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


# Each operation a test of its own, named by its method and path: schemathesis's own parametrize
# gives every operation the same test id, and pytest-xdist, which runs the suite in two workers,
# keeps one test per id (it ran one operation of the 33).
Operation = APIOperation[Any, Any, Any, Any]


def operations() -> list[Operation]:
    """Every operation of the document; one it does not describe well is a collection error."""
    found = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        found.append(result.ok())
    return found


OPERATIONS = operations()


@pytest.mark.parametrize("operation", OPERATIONS, ids=[operation.label for operation in OPERATIONS])
def test_every_operation_answers_as_documented(
    operation: Operation, service: ServiceProcess, viewer_token: str
) -> None:
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]

    # Drawn at random among the document's own examples (the room and viewer above) and requests
    # schemathesis makes up, valid and invalid alike. Not drawn: the deterministic cases of
    # schemathesis's coverage phase, which only its own (private) test builder makes, and which its
    # parametrize ran beside each example in turn.
    cases = [*operation.get_strategies_from_examples(), *map(operation.as_strategy, schema.config.generation.modes)]

    @given(case=strategies.one_of(cases))
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    def answers_as_documented(case: Any) -> None:
        for headers in ({}, {"Authorization": f"Bearer {viewer_token}"}):
            case.call_and_validate(base_url=service.http_base, headers=headers, checks=checks)

    answers_as_documented()
