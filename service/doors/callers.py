"""Who is calling, as each door can tell today.

The MVP has no authentication: a request's own body names the participant it acts for
(hostIdentity for the host's actions, participantIdentity for a hand). Until verified tokens
arrive, the doors take that name at its word; the core receives it as an explicit Caller.
"""

from __future__ import annotations

from google.protobuf.message import Message

from service.core.caller import Caller

# Request fields that name the acting participant, per the contract.
_ACTING_FIELDS = ("host_identity", "participant_identity")


def claimed_caller(request: Message) -> Caller:
    for field in _ACTING_FIELDS:
        if field in request.DESCRIPTOR.fields_by_name:
            return Caller(getattr(request, field) or None)
    return Caller.anonymous()
