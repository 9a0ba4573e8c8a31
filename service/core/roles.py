"""Who may do what on LiveKit: the grants each role's token and live permission carry."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from showrunner.v1 import show_service_pb2 as pb


class Role(StrEnum):
    HOST = "host"
    GUEST = "guest"
    VIEWER = "viewer"
    MODERATOR = "moderator"

    @property
    def wire(self) -> pb.Role.ValueType:
        return _TO_WIRE[self]

    @classmethod
    def from_wire(cls, value: pb.Role.ValueType) -> Role | None:
        return _FROM_WIRE.get(value)


_TO_WIRE: dict[Role, pb.Role.ValueType] = {
    Role.HOST: pb.ROLE_HOST,
    Role.GUEST: pb.ROLE_GUEST,
    Role.VIEWER: pb.ROLE_VIEWER,
    Role.MODERATOR: pb.ROLE_MODERATOR,
}
_FROM_WIRE = {wire: role for role, wire in _TO_WIRE.items()}


@dataclass(frozen=True)
class StageGrants:
    """What a participant may do in the LiveKit room. `sources` empty means any source."""

    can_publish: bool
    can_subscribe: bool
    can_publish_data: bool
    sources: tuple[str, ...] = ()


# Exactly what each role needs and nothing more. Nobody may rewrite their own metadata or
# attributes: those carry the role and hand state, which only Showrunner sets.
GRANTS: dict[Role, StageGrants] = {
    Role.HOST: StageGrants(can_publish=True, can_subscribe=True, can_publish_data=True),
    Role.GUEST: StageGrants(
        can_publish=True, can_subscribe=True, can_publish_data=True, sources=("camera", "microphone")
    ),
    Role.VIEWER: StageGrants(can_publish=False, can_subscribe=True, can_publish_data=True),
    # A moderator manages the stage through Showrunner, never on it: it watches and talks on the
    # data channel like a viewer, and publishes no media.
    Role.MODERATOR: StageGrants(can_publish=False, can_subscribe=True, can_publish_data=True),
}

# A viewer of a show that is not live yet (backstage, or not opened): it is in the room, hears the
# show's events and may chat, but subscribes to nothing, so it sees and hears nothing of the
# stage. Going live gives it the viewer's grants on LiveKit, and LiveKit subscribes it then.
WAITING_GRANTS = StageGrants(can_publish=False, can_subscribe=False, can_publish_data=True)
