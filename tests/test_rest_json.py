"""The REST door reads and writes JSON with orjson where it gives the same result as the standard
library: every answer of the contract, rendered in the MVP's shapes, is written byte for byte as
starlette's JSONResponse writes it, and request bodies are read to the same values (or refused
alike), orjson's refusals falling back to the standard parser."""

from __future__ import annotations

import json
import random

import pytest
from showrunner.v1 import show_service_pb2 as pb
from starlette.responses import JSONResponse
from starlette.types import Message

from service.core.errors import ShowError
from service.doors.rest_door import json_body, json_bytes, render
from service.doors.rest_quirks import ANSWERS
from tests.test_twirp_json import fill

SERVICE = pb.DESCRIPTOR.services_by_name["ShowService"]


@pytest.mark.parametrize("method", list(SERVICE.methods), ids=[m.name for m in SERVICE.methods])
def test_answers_are_written_as_starlette_writes_them(method: object) -> None:
    name, output = method.name, method.output_type  # type: ignore[attr-defined]
    shape = ANSWERS[name].shape if name in ANSWERS else None
    rng = random.Random(name)
    for _ in range(50):
        message = getattr(pb, output.name)()
        fill(message, rng)
        rendered = render(message, shape)
        assert json_bytes(rendered) == JSONResponse(rendered).body


BODIES = [
    b'{"roomName":"r","participantName":"p","role":"viewer"}',
    '{"displayName":"Zoë ☃","n":-5,"big":18446744073709551615,"f":1.5}'.encode(),
    b'{"huge":123456789012345678901234567890}',
    b'{"nan":NaN,"inf":Infinity}',
    b'{"lone":"\\ud800"}',
    b'{"a":1,"a":2}',
    b'\xef\xbb\xbf{"bom":true}',
    '{"utf16":1}'.encode("utf-16"),
    b'{"cut":',
    b"[1,2]",
    b'"text"',
    b"\xff\xfe\x00",
    b"  ",
]


@pytest.mark.parametrize("raw", BODIES)
async def test_bodies_are_read_as_the_standard_parser_reads_them(raw: bytes) -> None:
    async def receive() -> Message:
        return {"type": "http.request", "body": raw, "more_body": False}

    try:
        expected: object = json.loads(raw) if raw.strip() else {}
        if not isinstance(expected, dict):
            expected = ("refused", "Request body must be a JSON object")
    except (ValueError, UnicodeDecodeError):
        expected = ("refused", "Request body is not valid JSON")
    try:
        got: object = await json_body(receive, {})
    except ShowError as exc:
        got = ("refused", exc.message)
    assert repr(got) == repr(expected)  # repr: NaN is not equal to itself
