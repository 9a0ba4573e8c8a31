"""LiveKit access tokens for the show's participants, signed without livekit-api's AccessToken.

AccessToken builds each token through dataclasses.asdict with a key-renaming factory, datetime
arithmetic and PyJWT's generic encoder; under a burst of viewer joins that was about a fifth of
the event loop. A participant token here differs between calls only in the room, the identity,
the name and the clock, so everything else is encoded once per role: the JWT header and each
role's grants and attributes. The claims are exactly AccessToken's for the same grants (a test
holds them against livekit-api's own tokens) and LiveKit verifies them like any other HS256 JWT.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from service.core.roles import GRANTS, Role, StageGrants

# PyJWT's header for HS256 (keys sorted, compact), so our tokens look like livekit-api's.
_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def metadata(role: Role, name: str) -> str:
    """The MVP's participant metadata."""
    return _compact({"role": role.value, "displayName": name})


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


def _role_parts(role: Role, hand_raised: bool) -> str:
    """The JSON members after the room name in `video`, then `attributes`: fixed per role and hand."""
    video = video_grants("", GRANTS[role])
    del video["room"]
    attributes = {"role": role.value, "handRaised": "true" if hand_raised else "false"}
    return _compact(video)[1:] + ',"attributes":' + _compact(attributes)


class TokenMinter:
    """Signs participant tokens (HS256) with the API key as issuer, valid for `ttl_seconds`."""

    def __init__(self, api_key: str, api_secret: str, ttl_seconds: int) -> None:
        self._issuer = _compact(api_key)
        self._ttl = ttl_seconds
        self._mac = hmac.new(api_secret.encode(), digestmod=hashlib.sha256)
        self._parts = {(role, hand): _role_parts(role, hand) for role in Role for hand in (False, True)}

    def mint(self, room: str, identity: str, name: str, role: Role, hand_raised: bool = False) -> str:
        # Whole seconds, as AccessToken writes them; nbf is now, exp now + ttl.
        now = int(time.time())
        # AccessToken leaves out an empty name.
        opening = '{"name":' + _compact(name) + "," if name else "{"
        payload = (
            opening
            + f'"metadata":{_compact(metadata(role, name))}'
            + f',"video":{{"room":{_compact(room)},{self._parts[role, hand_raised]}'
            + f',"sub":{_compact(identity)},"iss":{self._issuer},"nbf":{now},"exp":{now + self._ttl}}}'
        )
        signing_input = _HEADER + b"." + base64.urlsafe_b64encode(payload.encode()).rstrip(b"=")
        mac = self._mac.copy()
        mac.update(signing_input)
        signature = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=")
        return (signing_input + b"." + signature).decode()
