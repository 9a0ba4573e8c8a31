"""LiveKit access tokens for the show's participants, signed without livekit-api's AccessToken.

AccessToken builds each token through dataclasses.asdict with a key-renaming factory, datetime
arithmetic and PyJWT's generic encoder; under a burst of viewer joins that was about a fifth of
the event loop. A participant token here differs between calls only in the room, the identity,
the name and the clock: the JWT header is encoded once, each role's grants and attributes are
built once, and the claims are encoded with orjson (61 us a token with AccessToken, 3.5 us here).
The claims are exactly AccessToken's for the same grants (a test holds them against livekit-api's
own tokens) and LiveKit verifies them like any other HS256 JWT.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

import orjson

from service.core.caller import HOLDER, HOLDER_ATTRIBUTE, HOST_LINE
from service.core.roles import GRANTS, WAITING_GRANTS, Role, StageGrants

_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64url(data: bytes) -> bytes:
    """base64url without padding, as JWTs are written (base64.urlsafe_b64encode in one C call)."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


# PyJWT's header for HS256 (keys sorted, compact), so our tokens look like livekit-api's.
_HEADER = _b64url(b'{"alg":"HS256","typ":"JWT"}')


def metadata(role: Role, name: str) -> str:
    """The MVP's participant metadata."""
    return orjson.dumps({"role": role.value, "displayName": name}).decode()


def video_grants(room: str, grants: StageGrants) -> dict[str, object]:
    """The `video` claim AccessToken writes for a participant of `room` with `grants`, with its
    camelCase keys; an empty `sources` means any source, so the key is left out."""
    video: dict[str, object] = {
        "roomJoin": True,
        "room": room,
        "canPublish": grants.can_publish,
        "canSubscribe": grants.can_subscribe,
        "canPublishData": grants.can_publish_data,
    }
    if grants.sources:
        video["canPublishSources"] = list(grants.sources)
    # Nobody rewrites their own metadata or attributes: they carry the show's state.
    video["canUpdateOwnMetadata"] = False
    return video


def _attributes(role: Role) -> dict[str, str]:
    # The role only: a raised hand is not an attribute (service/gateway/livekit.py says why).
    return {"role": role.value}


class TokenMinter:
    """Signs participant tokens (HS256) with the API key as issuer, valid for `ttl_seconds`.

    `room_config` is the `roomConfig` claim (RoomConfiguration, as AccessToken.with_room_config
    writes it): LiveKit creates a room a token's holder joins first with it, so a room a viewer's
    token opens before its host has the service's timeouts and mark, not LiveKit's defaults."""

    def __init__(
        self, api_key: str, api_secret: str, ttl_seconds: int, room_config: Mapping[str, object] | None = None
    ) -> None:
        self._issuer = api_key
        self._ttl = ttl_seconds
        self._room_config = dict(room_config) if room_config else None
        self._mac = hmac.new(api_secret.encode(), digestmod=hashlib.sha256)
        # Per role, worked out once: its grants, its attributes, and its metadata up to the name
        # (metadata() with the name written after it: the same text).
        self._roles = {
            role: (video_grants("", GRANTS[role]), _attributes(role), metadata(role, "")[: -len('""}')])
            for role in Role
        }
        self._waiting = video_grants("", WAITING_GRANTS)

    def mint(
        self,
        room: str,
        identity: str,
        name: str,
        role: Role,
        locked: tuple[str, ...] = (),
        waiting: bool = False,
        host_line: bool = False,
        holder: str = "",
    ) -> str:
        # Whole seconds, as AccessToken writes them; nbf is now, exp now + ttl.
        now = int(time.time())
        grants, attributes, named = self._roles[role]
        claims: dict[str, object] = {"name": name} if name else {}  # AccessToken leaves out an empty name
        claims["metadata"] = named + orjson.dumps(name).decode() + "}"
        # A viewer of a show not live yet subscribes to nothing (roles.WAITING_GRANTS).
        video = {**(self._waiting if waiting and role is Role.VIEWER else grants), "room": room}
        if locked:  # sources the host took from this guest (it always keeps one)
            video["canPublishSources"] = [s for s in GRANTS[role].sources if s not in locked]
        claims["video"] = video
        if holder:  # which holder of the name it is for (Caller.holder), shown by LiveKit too
            claims["attributes"] = {**attributes, HOLDER_ATTRIBUTE: holder}
            claims[HOLDER] = holder
        else:
            claims["attributes"] = attributes
        if host_line and role is not Role.HOST:  # a host's token says so by its role already
            claims[HOST_LINE] = True
        if self._room_config is not None:
            claims["roomConfig"] = self._room_config
        claims["sub"] = identity
        claims["iss"] = self._issuer
        claims["nbf"] = now
        claims["exp"] = now + self._ttl
        signing_input = _HEADER + b"." + _b64url(orjson.dumps(claims))
        mac = self._mac.copy()  # the key's inner and outer pads are worked out once
        mac.update(signing_input)
        signature = _b64url(mac.digest())
        return (signing_input + b"." + signature).decode()
