"""A token checked once is remembered, but never past its expiry and never for another text."""

from __future__ import annotations

import jwt
import pytest

from service.core import auth
from service.core.auth import Authenticator
from service.core.caller import Credentials
from service.core.clock import ManualClock
from service.core.errors import ShowError

KEY, SECRET = "key", "secret-0123456789abcdef0123456789abcdef"


def token(clock: ManualClock, ttl: float = 60, identity: str = "ann", secret: str = SECRET) -> str:
    now = int(clock.now())
    claims = {"iss": KEY, "sub": identity, "nbf": now, "exp": now + ttl, "video": {"roomJoin": True, "room": "r"}}
    return jwt.encode(claims, secret, algorithm="HS256")


def refusal(authenticator: Authenticator, text: str) -> str:
    with pytest.raises(ShowError) as caught:
        authenticator.caller(Credentials(authorization=f"Bearer {text}"))
    return caught.value.message


def test_a_remembered_token_still_expires() -> None:
    clock = ManualClock()
    authenticator = Authenticator(KEY, SECRET, clock)
    ann = token(clock)
    assert authenticator.caller(Credentials(authorization=f"Bearer {ann}")).identity == "ann"
    clock.advance(60 + auth.LEEWAY_SECONDS + 1)
    assert refusal(authenticator, ann) == "token has expired"


def test_a_token_from_a_signer_whose_clock_is_ahead_is_taken_within_a_minute() -> None:
    """LiveKit signs each webhook valid from its own now, and a backend its admin tokens: a
    service clock behind theirs by less than a minute takes them, as LiveKit's own verifiers do."""
    clock, ahead = ManualClock(), ManualClock()
    ahead.advance(45)
    authenticator = Authenticator(KEY, SECRET, clock)
    assert authenticator.caller(Credentials(authorization=f"Bearer {token(ahead)}")).identity == "ann"
    ahead.advance(30)  # 75 s ahead: not yet valid
    assert refusal(authenticator, token(ahead, identity="bob")) == "token is not valid yet"


def test_a_tampered_copy_of_a_remembered_token_is_refused() -> None:
    clock = ManualClock()
    authenticator = Authenticator(KEY, SECRET, clock)
    ann = token(clock)
    authenticator.caller(Credentials(authorization=f"Bearer {ann}"))
    header, _, signature = ann.split(".")
    bob_claims = token(clock, identity="bob").split(".")[1]
    assert refusal(authenticator, f"{header}.{bob_claims}.{signature}") == "token signature is invalid"
    assert (
        refusal(authenticator, token(clock, secret="another-secret-0123456789abcdef0123"))
        == "token signature is invalid"
    )


def test_only_the_most_recent_tokens_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "VERIFIED_TOKENS", 3)
    clock = ManualClock()
    authenticator = Authenticator(KEY, SECRET, clock)
    texts = [token(clock, identity=f"v{i}") for i in range(5)]
    for text in texts:
        authenticator.verify(text)
    assert list(authenticator._verified) == texts[2:]
