"""The Twirp door's JSON answers are exactly what protobuf's own json_format gives: every answer
type of the contract, filled with varied values (defaults, unknown enum numbers, 64-bit integers,
non-ASCII text, nested and repeated messages), encoded both ways."""

from __future__ import annotations

import json
import random

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from showrunner.v1 import show_service_pb2 as pb

from service.doors.twirp_door import JSON, _encoder, encode, json_fields

SERVICE = pb.DESCRIPTOR.services_by_name["ShowService"]
ANSWERS = sorted({method.output_type.full_name: method.output_type for method in SERVICE.methods}.items())


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
        return rng.choice(["", "viewer-1", "Zoë \u00e9t\u00e9 \u2603", 'quote " and \\ slash'])
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


@pytest.mark.parametrize("name, descriptor", ANSWERS, ids=[name for name, _ in ANSWERS])
def test_answers_encode_as_json_format_does(name: str, descriptor: Descriptor) -> None:
    message_type = pb.DESCRIPTOR.message_types_by_name.get(descriptor.name)
    assert message_type is not None
    cls = getattr(pb, descriptor.name)
    assert _encoder(descriptor) is not None, "the answer falls back to json_format: the door lost its fast encoding"
    rng = random.Random(name)
    for _ in range(50):
        message = cls()
        fill(message, rng)
        expected = json_format.MessageToDict(message, preserving_proto_field_name=True)
        assert json_fields(message) == expected
        assert list(json_fields(message)) == list(expected)  # the same order, as on the wire
        assert encode(message, JSON) == json.dumps(expected, separators=(",", ":")).encode()
