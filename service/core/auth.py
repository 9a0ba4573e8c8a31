"""Verifying callers and LiveKit's webhooks: JWTs signed with the LiveKit API secret.

Both kinds of token are checked the same way: HS256 only (so "none" and public-key algorithms
are refused), signature, issuer (the API key), expiry and not-before against the injected clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, TypeVar

import jwt

from service.core import errors
from service.core.caller import HOLDER, HOST_LINE, Caller, Credentials
from service.core.clock import Clock

LEEWAY_SECONDS = 10
# A token signed elsewhere (LiveKit's webhooks, the backend's admin tokens) says it is valid from
# its signer's now: a clock behind the signer's by up to this much still takes it, as LiveKit's
# own verifiers do (60 s). Only the start is this lenient; an expiry keeps LEEWAY_SECONDS.
NOT_BEFORE_LEEWAY_SECONDS = 60
# Checking a token's signature (PyJWT) was half of what an authenticated read cost, and each
# participant sends the same token on every call: a token whose signature and issuer were checked
# is remembered by its exact text, for the most recent this many tokens. Expiry and not-before are
# still checked on every call, against the clock.
VERIFIED_TOKENS = 10_000
K = TypeVar("K")
V = TypeVar("V")


class Authenticator:
    def __init__(self, api_key: str, api_secret: str, clock: Clock) -> None:
        self._key = api_key
        self._secret = api_secret
        self._clock = clock
        self._verified: dict[str, dict[str, Any]] = {}
        # The caller each recent Authorization value (from each address) made, as _verified
        # keeps claims: what a token grants never changes, only whether it is still in time.
        self._callers: dict[tuple[str, str | None], tuple[Caller, str]] = {}

    def caller(self, credentials: Credentials) -> Caller:
        """The verified caller; anonymous when no token was given. A token that is given but
        does not verify is refused, never treated as anonymous."""
        if credentials.authorization is None or not credentials.authorization.strip():
            return Caller(address=credentials.address)
        key = (credentials.authorization, credentials.address)
        known = self._callers.get(key)
        if known is not None:
            caller, token = known
            self.verify(token)  # its signature was checked; its expiry and not-before are checked now
            return caller
        scheme, _, token = credentials.authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise errors.unauthenticated("Authorization must be 'Bearer <token>'")
        claims = self.verify(token.strip())
        video = claims.get("video")
        video = video if isinstance(video, dict) else {}
        room = video.get("room") if isinstance(video.get("room"), str) and video.get("room") else None
        identity = claims.get("sub") if isinstance(claims.get("sub"), str) and claims.get("sub") else None
        admin = video.get("roomAdmin") is True and room is not None
        joins = video.get("roomJoin") is True and room is not None and identity is not None
        caller = Caller(
            identity=identity if joins else None,
            room=room if (joins or admin) else None,
            admin=admin,
            lists_rooms=video.get("roomList") is True,
            address=credentials.address,
            signed=True,
            name=claims["name"] if joins and isinstance(claims.get("name"), str) else "",
            host_line=joins and _of_the_host_line(claims),
            holder=claims[HOLDER] if joins and isinstance(claims.get(HOLDER), str) else "",
        )
        _keep(self._callers, key, (caller, token.strip()))
        return caller

    def verify(self, token: str) -> dict[str, Any]:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._signed(token)
            _keep(self._verified, token, claims)
        now = self._clock.now()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int | float) or now > exp + LEEWAY_SECONDS:
            raise errors.unauthenticated("token has expired")
        if isinstance(nbf, int | float) and now < nbf - NOT_BEFORE_LEEWAY_SECONDS:
            raise errors.unauthenticated("token is not valid yet")
        return claims

    def _signed(self, token: str) -> dict[str, Any]:
        """The claims of a token signed with our secret and issued with our key."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise errors.unauthenticated("token is malformed") from exc
        if header.get("alg") != "HS256":
            raise errors.unauthenticated("token must be signed with HS256")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                issuer=self._key,
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": ["exp", "iss"],
                },
            )
        except jwt.InvalidSignatureError as exc:
            raise errors.unauthenticated("token signature is invalid") from exc
        except jwt.InvalidIssuerError as exc:
            raise errors.unauthenticated("token was not issued with this service's API key") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise errors.unauthenticated(f"token has no {exc.claim} claim") from exc
        except jwt.PyJWTError as exc:
            raise errors.unauthenticated("token is malformed") from exc
        return claims

    def verify_webhook(self, authorization: str | None, body: bytes) -> None:
        """LiveKit signs each webhook with a token whose sha256 claim is the body's digest."""
        if not authorization:
            raise errors.unauthenticated("webhook has no Authorization")
        token = authorization.strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        claims = self.verify(token)
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        claimed = claims.get("sha256")
        if not isinstance(claimed, str) or not hmac.compare_digest(claimed, digest):
            raise errors.unauthenticated("webhook body does not match its signature")


def _keep(remembered: dict[K, V], key: K, value: V) -> None:
    """Remembers `value` under `key` among the VERIFIED_TOKENS most recent, the oldest forgotten."""
    if len(remembered) >= VERIFIED_TOKENS:
        del remembered[next(iter(remembered))]
    remembered[key] = value


def _of_the_host_line(claims: dict[str, Any]) -> bool:
    """Whether a participant token was minted for the host (its `role` attribute), or for the
    last host's name by the host's line (HOST_LINE)."""
    attributes = claims.get("attributes")
    return claims.get(HOST_LINE) is True or (isinstance(attributes, dict) and attributes.get("role") == "host")
