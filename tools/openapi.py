"""The REST door's OpenAPI document, generated from the contract by `make gen` (gen/openapi.json).

Reads the ShowService descriptors (google.api.http routes, field types, comments) and the REST
quirk table (service/doors/rest_quirks.py), so the document describes what the door really sends,
the MVP's forms included. Never edited by hand; `make gen-check` holds it fresh.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from google.api import annotations_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from showrunner.v1 import show_service_pb2 as pb

from service.doors.rest_quirks import ANSWERS, ERROR_FIELD, NUMBER_INT64, WORD_ENUMS, Shape

# Documentation examples for request fields, by the contract's field name: one show, seen by its
# viewer-1 (tests/test_openapi_fuzz.py joins exactly this show so the examples are answered).
EXAMPLES: dict[str, Any] = {
    "room_name": "my-show",
    "participant_name": "viewer-1",
    "display_name": "Ann Viewer",
    "role": "viewer",
    "identity": "viewer-1",
    "viewer_identity": "viewer-1",
    "participant_identity": "viewer-1",
    "guest_identity": "viewer-1",
    "host_identity": "host-1",
    "raised": True,
    "guest_limit": 2,
    "layout": "grid",
    "source": "MICROPHONE",
    "lock": False,
}

_INT64 = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64}
_INT64 |= {FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64}
_INTEGER = {FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_UINT32}


def enum_schema(field: FieldDescriptor, answer: bool) -> dict[str, Any]:
    enum = field.enum_type
    assert enum is not None
    prefix = WORD_ENUMS.get(enum.full_name)
    if prefix is None:
        return {"type": "string", "enum": [v.name for v in enum.values]}
    words = [v.name.removeprefix(prefix).lower() for v in enum.values if v.number]
    if answer:
        return {"type": "string", "enum": ["", *words]}
    return {"type": "string", "enum": words, "description": "Any case is accepted."}


def field_schema(field: FieldDescriptor, nested: Shape | None, answer: bool, depth: int) -> dict[str, Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        assert field.message_type is not None
        item = message_schema(field.message_type, nested, answer, depth + 1)
    elif field.type == FieldDescriptor.TYPE_ENUM:
        item = enum_schema(field, answer)
    elif field.type == FieldDescriptor.TYPE_STRING:
        item = {"type": "string"}
    elif field.type == FieldDescriptor.TYPE_BOOL:
        item = {"type": "boolean"}
    elif field.type in _INT64:
        number = field.full_name in NUMBER_INT64
        item = {"type": "integer", "format": "int64"} if number else {"type": "string", "format": "int64"}
    elif field.cpp_type in _INTEGER:
        low = 0 if field.cpp_type == FieldDescriptor.CPPTYPE_UINT32 else -(2**31)
        high = 2**32 - 1 if field.cpp_type == FieldDescriptor.CPPTYPE_UINT32 else 2**31 - 1
        item = {"type": "integer", "minimum": low, "maximum": high}
    elif field.cpp_type in (FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE):
        item = {"type": "number"}
    else:
        item = {"type": "string", "format": "byte"}
    return {"type": "array", "items": item} if field.is_repeated else item


def message_schema(message: Descriptor, shape: Shape | None, answer: bool, depth: int = 0) -> dict[str, Any]:
    shape = shape or Shape()
    properties: dict[str, Any] = {}
    required: list[str] = []
    if shape.success and answer:
        properties["success"] = {"type": "boolean", "enum": [True]}
        required.append("success")
    if depth > 4:
        return {"type": "object"}
    names = shape.fields if shape.fields is not None else [f.name for f in message.fields]
    for name in names:
        field = message.fields_by_name[name]
        key = shape.renamed.get(name, field.json_name)
        properties[key] = field_schema(field, shape.nested.get(name), answer, depth)
        if answer and name not in shape.shown_when:
            required.append(key)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
        schema["additionalProperties"] = False
    return schema


def operation(method: MethodDescriptor) -> tuple[str, str, dict[str, Any]]:
    rule = method.GetOptions().Extensions[annotations_pb2.http]
    verb = rule.WhichOneof("pattern")
    if verb is None or verb == "custom":
        raise SystemExit(f"{method.full_name} has no google.api.http route")
    path: str = getattr(rule, verb)
    bound = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    quirk = ANSWERS.get(method.name)
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "example": EXAMPLES[name]}
        for name in bound
    ]
    op: dict[str, Any] = {
        "operationId": method.name,
        "summary": method.name,
        "parameters": parameters,
        "security": [{}, {"bearer": []}],
        "responses": {
            "200": {
                "description": quirk.why if quirk else "The response, in canonical proto3 JSON.",
                "content": {
                    "application/json": {
                        "schema": message_schema(method.output_type, quirk.shape if quirk else None, answer=True)
                    }
                },
            },
            "default": {
                "description": "A refusal: the canonical error's message, with the MVP's HTTP status.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
    if rule.body != "*":
        # Without a body, the fields the path does not bind come in the query string.
        parameters += [
            {"name": f.json_name, "in": "query", "required": False, "schema": field_schema(f, None, False, 0)}
            for f in method.input_type.fields
            if f.name not in bound
            and f.type
            in (
                FieldDescriptor.TYPE_BOOL,
                FieldDescriptor.TYPE_STRING,
                FieldDescriptor.TYPE_INT32,
                FieldDescriptor.TYPE_UINT32,
            )
        ]
    if rule.body == "*":
        fields = [f for f in method.input_type.fields if f.name not in bound]
        body = {
            "type": "object",
            "properties": {f.json_name: field_schema(f, None, answer=False, depth=0) for f in fields},
        }
        example = {f.json_name: EXAMPLES[f.name] for f in fields if f.name in EXAMPLES}
        if example:
            body["example"] = example
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
    return path, verb, op


def document() -> dict[str, Any]:
    service = pb.DESCRIPTOR.services_by_name["ShowService"]
    paths: dict[str, dict[str, Any]] = {}
    for method in service.methods:
        path, verb, op = operation(method)
        paths.setdefault(path, {})[verb] = op
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Showrunner REST door",
            "version": "v1",
            "description": "Generated from protos/showrunner/v1 by tools/openapi.py; do not edit.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {ERROR_FIELD: {"type": "string"}},
                    "required": [ERROR_FIELD],
                    "additionalProperties": False,
                }
            },
        },
    }


def main() -> None:
    json.dump(document(), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
