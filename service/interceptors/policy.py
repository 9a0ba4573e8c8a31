"""Policy: the RPC's declared audience, checked against the verified caller and the room's state.

A request whose room or acting participant is missing or malformed is left to the core, which
refuses it with the RPC's own INVALID_ARGUMENT message before doing anything; nothing about such
a request is decided here.

Whatever the audience, a participant's token is refused in a room its identity is banned from:
LiveKit cannot revoke the token, so the service stops honouring it (the room's admin token is
never refused for it).
"""

from __future__ import annotations

from showrunner.v1 import policy_pb2 as po

from service.core import errors, validate
from service.core.clock import Clock
from service.core.record import Phase, ShowRecords
from service.core.roles import Role
from service.interceptors.chain import Call, Piece


class Policy(Piece):
    def __init__(self, records: ShowRecords, clock: Clock) -> None:
        self._records = records
        self._clock = clock

    async def enter(self, call: Call) -> None:
        rule, caller, request = call.rule, call.verified(), call.request
        if rule.audience == po.AUDIENCE_LIVEKIT:
            return  # authentication verified LiveKit's signature on the body
        if caller.anonymous and rule.needs_token(request):
            raise errors.unauthenticated(errors.MISSING_TOKEN)
        if rule.audience == po.AUDIENCE_ROOM_LISTER:
            if not caller.lists_rooms:
                raise errors.denied(rule.refusal)
            return
        if not rule.room_field or (caller.identity is None and rule.audience == po.AUDIENCE_ANYONE):
            return  # no room, or no participant's token to refuse in it (an anonymous viewer's join)
        room = getattr(request, rule.room_field)
        try:
            validate.room_name(room)
        except errors.ShowError:
            return  # the core refuses it with the RPC's own message
        # A participant's own token, refused in a room it is banned from, with JoinRoom's words.
        # Judged from the room's bans as the store keeps them for reads: a ban made through this
        # instance counts at once, one made through another within the store's read bound
        # (SHOW_ROOM_CACHE_SECONDS); meanwhile the record's own steps still refuse a banned
        # identity's hand, invitation and seat.
        identity = caller.identity
        if (
            identity is not None
            and caller.room == room
            and not caller.admin
            and await self._records.recently_banned(room, identity, self._clock.now())
        ):
            raise errors.denied(errors.banned(identity))
        if rule.audience == po.AUDIENCE_ANYONE:
            return
        if rule.participant_field:
            named = getattr(request, rule.participant_field)
            if not named:
                return  # the core refuses it with the RPC's own message
            acting: str | None = caller.acting_as(room, named, rule.participant_label)
        else:
            caller.require_member(room)
            acting = caller.identity
        if rule.audience == po.AUDIENCE_PARTICIPANT:
            return
        if rule.audience == po.AUDIENCE_OWN_PARTICIPANT:
            # The call is about the caller's own place in the show: an admin token has none, even
            # one that also names an identity (it acts for anyone, so for nobody in particular).
            if caller.admin or caller.identity is None:
                raise errors.denied(rule.refusal)
            return
        if rule.audience == po.AUDIENCE_ROOM_ADMIN:
            if not caller.admin_of(room):
                raise errors.denied(rule.refusal)
            return
        # The host (and, for the stage managers' RPCs, a moderator), or the room's admin. When the
        # admin acts for a participant named in the request, the core checks that one manages the
        # stage, atomically with the change it makes.
        if caller.admin_of(room):
            return
        allowed = _MANAGERS if rule.audience == po.AUDIENCE_STAGE_MANAGERS else _HOST
        # The caller acts for itself, with its own token: the host's powers need a token minted
        # for the host (one minted for a viewer while the name was free is anyone's).
        if acting is not None:
            role = await self._records.role_of(room, acting)
            if role in allowed and (role is not Role.HOST or caller.host_line):
                if role is not Role.MODERATOR:
                    return
                # A moderator's powers go with the holder its part was given to: a token the
                # viewer door gave for the name to someone else before the appointment has none.
                admission = await self._records.admission(room, acting, self._clock.now())
                if admission.role is Role.MODERATOR and caller.holds(admission.bound):
                    return
                raise errors.denied(errors.not_holder(acting))
            admission = await self._records.admission(room, acting, self._clock.now())
            # A host whose connection ended can still end its own show, unless it was banned
            # since (as a viewer once its seat was freed): a ban holds for the rest of the show.
            if rule.former_host and admission.hosted and not admission.banned and caller.host_line:
                return
            # The host of a show that has ended hears why nothing more is done: as the room's
            # admin does, not that only the host may (it was).
            if admission.hosted and admission.phase is Phase.ENDED:
                raise errors.precondition(errors.SHOW_ENDED)
        raise errors.denied(rule.refusal)


_HOST = frozenset({Role.HOST})
_MANAGERS = frozenset({Role.HOST, Role.MODERATOR})
