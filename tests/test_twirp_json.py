"""The Twirp door's JSON answers are exactly what Go's Twirp servers write (protoc-gen-twirp v8:
protojson with UseProtoNames and EmitUnpopulated, its defaults): every answer type of the
contract, filled with varied values (defaults, unknown enum numbers, 64-bit integers, non-ASCII
text, nested and repeated messages), encoded both ways. Its JSON requests are read to
the same message, or refused alike, as json_format reads them: every request type of the
contract, with bodies well and badly formed."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from showrunner.v1 import show_service_pb2 as pb

from service.doors.twirp_door import JSON, TwirpError, _encoder, decode, encode, json_fields, plain_json

SERVICE = pb.DESCRIPTOR.services_by_name["ShowService"]
ANSWERS = sorted({method.output_type.full_name: method.output_type for method in SERVICE.methods}.items())
REQUESTS = sorted({method.input_type.full_name: method.input_type for method in SERVICE.methods}.items())


def fill(message: Message, rng: random.Random, depth: int = 0) -> None:
    """Random values in some of the message's fields, leaving others at their defaults."""
    descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[assignment]
    for field in descriptor.fields:
        if rng.random() < 0.25:
            continue  # left unset
        count = rng.randint(0, 3) if field.is_repeated else 1
        for _ in range(count):
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                if depth > 3:
                    break
                child = getattr(message, field.name).add() if field.is_repeated else getattr(message, field.name)
                fill(child, rng, depth + 1)
                if not field.is_repeated:
                    child.SetInParent()
                continue
            value = scalar(field, rng)
            if field.is_repeated:
                getattr(message, field.name).append(value)
            else:
                setattr(message, field.name, value)


def scalar(field: FieldDescriptor, rng: random.Random) -> object:
    if field.type == FieldDescriptor.TYPE_STRING:
        return rng.choice(["", "viewer-1", "Zoë \u00e9t\u00e9 \u2603", 'quote " and \\ slash', "tab\t del\x7f"])
    if field.type == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if field.type == FieldDescriptor.TYPE_ENUM:
        numbers = [v.number for v in field.enum_type.values]  # type: ignore[union-attr]
        return rng.choice([*numbers, 99])  # 99: a number this build does not know
    if field.cpp_type == FieldDescriptor.CPPTYPE_UINT32:
        return rng.choice([0, 1, 2**32 - 1])
    if field.cpp_type == FieldDescriptor.CPPTYPE_INT32:
        return rng.choice([0, -5, 2**31 - 1])
    if field.cpp_type == FieldDescriptor.CPPTYPE_INT64:
        return rng.choice([0, 1_700_000_000_123, -(2**63)])
    if field.cpp_type == FieldDescriptor.CPPTYPE_UINT64:
        return rng.choice([0, 2**64 - 1])
    raise AssertionError(f"the contract's answers hold no {field.full_name} kind yet: extend this test")


def go_twirp_json(message: Message) -> dict[str, Any]:
    """What protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true} writes, as
    google.golang.org/protobuf/encoding/protojson documents it: fields in declaration order under
    their proto names, the unpopulated ones with their default values, null for a message field
    left unset; a oneof's fields (proto3 `optional` included) only when set. Values are written
    as proto3 JSON writes them, which json_format does."""
    descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[assignment]
    written = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    out: dict[str, Any] = {}
    for field in descriptor.fields:
        value = getattr(message, field.name)
        if field.type == FieldDescriptor.TYPE_MESSAGE and field.is_repeated:
            out[field.name] = [go_twirp_json(item) for item in value]
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if message.HasField(field.name):
                out[field.name] = go_twirp_json(value)
            elif field.containing_oneof is None:
                out[field.name] = None
        elif field.name in written:
            out[field.name] = written[field.name]
    return out


def test_the_reference_writes_defaults_as_go_twirp_does() -> None:
    """Spelled out for two answers, from protojson's rules rather than from any encoder."""
    assert go_twirp_json(pb.GetRoomResponse()) == {"room": None}
    assert go_twirp_json(pb.ListRecordingsResponse()) == {"recordings": []}
    assert go_twirp_json(pb.UpdateRoomSettingsResponse()) == {"guest_limit": 0}
    hand = go_twirp_json(pb.RaisedHand(identity="ann"))
    assert hand == {"identity": "ann", "raised_at": "0", "invited": False}


@pytest.mark.parametrize("name, descriptor", ANSWERS, ids=[name for name, _ in ANSWERS])
def test_answers_encode_as_go_twirp_does(name: str, descriptor: Descriptor) -> None:
    message_type = pb.DESCRIPTOR.message_types_by_name.get(descriptor.name)
    assert message_type is not None
    cls = getattr(pb, descriptor.name)
    assert _encoder(descriptor) is not None, "the answer falls back to json_format: the door lost its fast encoding"
    rng = random.Random(name)
    for _ in range(50):
        message = cls()
        fill(message, rng)
        expected = go_twirp_json(message)
        assert json_fields(message) == expected
        assert list(json_fields(message)) == list(expected)  # the same order, as on the wire
        assert encode(message, JSON) == json.dumps(expected, separators=(",", ":")).encode()


def body(descriptor: Descriptor, rng: random.Random) -> bytes:
    """A JSON object for a request of this type: fields by either name, right and wrong kinds of
    value, now and then null, an unknown key, a key given twice, an escape or not an object."""
    pairs: list[str] = []
    for field in descriptor.fields:
        if rng.random() < 0.3:
            continue
        key = rng.choice([field.json_name, field.name])
        if field.type == FieldDescriptor.TYPE_ENUM:
            names = [v.name for v in field.enum_type.values]  # type: ignore[union-attr]
            value: object = rng.choice([*names, names[-1], "NOT_A_VALUE", 1, 99, None])
        elif field.type == FieldDescriptor.TYPE_MESSAGE or field.is_repeated:
            value = rng.choice([{}, [], None, "x"])
        elif field.type == FieldDescriptor.TYPE_STRING:
            value = rng.choice(["room-1", "Zoë", 'a "quoted" word', "", 7, None, True])
        elif field.type == FieldDescriptor.TYPE_BOOL:
            value = rng.choice([True, False, "true", 1, None])
        else:
            value = rng.choice([0, 5, -1, 2**40, 2**70, "12", 1.0, 1.5, True, None])
        pairs.append(f"{json.dumps(key)}:{json.dumps(value, ensure_ascii=rng.random() < 0.5)}")
    if pairs and rng.random() < 0.1:
        pairs.append(rng.choice(pairs))  # a key given twice
    if rng.random() < 0.1:
        pairs.append('"notAField":1')
    if rng.random() < 0.03:
        return b"[]"
    return ("{" + ",".join(rng.sample(pairs, len(pairs))) + "}").encode()


@pytest.mark.parametrize("name, descriptor", REQUESTS, ids=[name for name, _ in REQUESTS])
def test_requests_decode_as_json_format_does(name: str, descriptor: Descriptor) -> None:
    cls = getattr(pb, descriptor.name)
    rng = random.Random(name)
    quick = 0
    for _ in range(300):
        raw = body(descriptor, rng)
        expected = cls()
        try:
            json_format.Parse(raw, expected, ignore_unknown_fields=True)
        except json_format.ParseError:
            with pytest.raises(TwirpError):
                decode(cls, raw, JSON)
            assert plain_json(cls, raw) is None
            continue
        assert decode(cls, raw, JSON) == expected, raw
        if plain_json(cls, raw) is not None:
            quick += 1
    if any(f.type != FieldDescriptor.TYPE_MESSAGE and not f.is_repeated for f in descriptor.fields):
        assert quick, "no body took the door's quick reading"
