"""Each RPC's access rule, read once at startup from the contract's `(showrunner.v1.policy)` method
option (protos/showrunner/v1/policy.proto): who may call, which request fields name the room and
the acting participant, and which rate-limit bucket the call counts against.

The interceptors consult the `Rule` precomputed here; nothing walks descriptors per request.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.descriptor import MethodDescriptor
from showrunner.v1 import policy_pb2

Audience = policy_pb2.Audience
RateBucket = policy_pb2.RateBucket

# The bucket names of RatePolicy (service/core/limits.py) and of the metrics' `bucket` label.
BUCKETS: dict[int, str] = {
    policy_pb2.RATE_BUCKET_JOIN: "join",
    policy_pb2.RATE_BUCKET_INVITE: "invite",
    policy_pb2.RATE_BUCKET_HAND: "hand",
    policy_pb2.RATE_BUCKET_OTHER: "other",
}

# The README's words for each audience (its role table is checked against these).
AUDIENCE_WORDS: dict[int, str] = {
    policy_pb2.AUDIENCE_ANYONE: "anyone",
    policy_pb2.AUDIENCE_PARTICIPANT: "participant of the room",
    policy_pb2.AUDIENCE_OWN_PARTICIPANT: "participant of the room, its own token (not the room admin)",
    policy_pb2.AUDIENCE_STAGE_MANAGERS: "stage managers (host, moderators, room admin)",
    policy_pb2.AUDIENCE_HOST: "host, room admin",
    policy_pb2.AUDIENCE_ROOM_ADMIN: "room admin",
    policy_pb2.AUDIENCE_ROOM_LISTER: "admin token with roomList",
}
LIVEKIT = policy_pb2.AUDIENCE_LIVEKIT


class PolicyMissing(Exception):
    """An RPC of the contract declares no usable policy: the service must not serve it."""


@dataclass(frozen=True)
class Rule:
    """One RPC's policy, ready for the interceptors."""

    rpc: str
    audience: int
    room_field: str
    participant_field: str
    bucket: str  # empty: not rate-limited
    refusal: str
    participant_label: str = ""  # the participant field's name as JSON clients spell it
    open_field: str = ""  # for AUDIENCE_ANYONE: the field whose value lets a call in without a token
    open_value: int | None = None
    # The open field's values the RPC takes (the policy's well_formed_values, or else every value
    # of its enum but unset): the ones a call may hold and still be well formed.
    open_field_values: frozenset[int] = frozenset()
    former_host: bool = False  # the room's last host may call after its seat was freed

    def needs_token(self, request: object) -> bool:
        if self.audience != policy_pb2.AUDIENCE_ANYONE:
            return True
        if not self.open_field:
            return False
        value = getattr(request, self.open_field)
        # Unset, a value the RPC never takes (JoinRoom's guest or moderator), or one the enum does
        # not define (an unknown word read as unset, a number past the enum): the request is
        # malformed whoever sends it, and is left to the core, which refuses it with the RPC's own
        # INVALID_ARGUMENT message (JoinRoom's `role must be "host" or "viewer"`) rather than
        # asking an anonymous caller for a token that would not make it acceptable.
        return bool(value != self.open_value and value in self.open_field_values)


def rule_for(method: MethodDescriptor) -> Rule:
    """The method's declared policy, checked for completeness."""
    options = method.GetOptions()
    if not options.HasExtension(policy_pb2.policy):
        raise PolicyMissing(f"{method.full_name} declares no (showrunner.v1.policy)")
    declared: policy_pb2.Policy = options.Extensions[policy_pb2.policy]
    if declared.audience == policy_pb2.AUDIENCE_UNSPECIFIED or declared.audience not in AUDIENCE_WORDS:
        raise PolicyMissing(f"{method.full_name} declares no audience")
    if declared.rate_bucket not in BUCKETS:
        raise PolicyMissing(f"{method.full_name} declares no rate bucket")
    fields = method.input_type.fields_by_name
    for name in (declared.room_field, declared.participant_field, declared.anonymous_when.field):
        if name and name not in fields:
            raise PolicyMissing(f"{method.full_name} names {name!r}, not a field of {method.input_type.name}")
    needs_room = declared.audience not in (policy_pb2.AUDIENCE_ANYONE, policy_pb2.AUDIENCE_ROOM_LISTER)
    if needs_room and not declared.room_field:
        raise PolicyMissing(f"{method.full_name}: audience {Audience.Name(declared.audience)} needs a room_field")
    open_value, open_values = None, frozenset[int]()
    if declared.well_formed_values and not declared.anonymous_when.field:
        raise PolicyMissing(f"{method.full_name}: well_formed_values without anonymous_when")
    if declared.anonymous_when.field:
        enum = fields[declared.anonymous_when.field].enum_type
        value = enum.values_by_name.get(declared.anonymous_when.value) if enum else None
        if enum is None or value is None:
            raise PolicyMissing(f"{method.full_name}: anonymous_when names no value of its field's enum")
        taken = [enum.values_by_name.get(name) for name in declared.well_formed_values] or list(enum.values)
        if None in taken or value not in taken:
            named = "well_formed_values must name values of its field's enum, anonymous_when's among them"
            raise PolicyMissing(f"{method.full_name}: {named}")
        open_value, open_values = value.number, frozenset(v.number for v in taken if v is not None and v.number)
    return Rule(
        rpc=method.name,
        audience=declared.audience,
        room_field=declared.room_field,
        participant_field=declared.participant_field,
        bucket=BUCKETS[declared.rate_bucket],
        refusal=declared.refusal,
        participant_label=fields[declared.participant_field].json_name if declared.participant_field else "",
        open_field=declared.anonymous_when.field,
        open_value=open_value,
        open_field_values=open_values,
        former_host=declared.former_host,
    )


# LiveKit's webhook endpoint goes through the same chain as the RPCs, by this rule.
WEBHOOK = Rule(rpc="LiveKitWebhook", audience=LIVEKIT, room_field="", participant_field="", bucket="", refusal="")
