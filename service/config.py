"""Settings, from the environment. Every problem is reported at once, before any port opens."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from service.core.limits import Limit, RatePolicy


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    livekit_url: str
    livekit_api_key: str
    livekit_api_secret: str
    livekit_public_url: str
    host: str
    grpc_port: int
    http_port: int
    token_ttl_seconds: int
    guest_limit: int
    invitation_seconds: int
    host_claim_seconds: int
    redis_url: str
    rates: RatePolicy
    log_level: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        problems: list[str] = []

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                problems.append(f"{name} is required")
            return value

        def number(name: str, default: int, low: int, high: int) -> int:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError:
                problems.append(f"{name} must be a whole number, got {raw!r}")
                return default
            if not low <= value <= high:
                problems.append(f"{name} must be between {low} and {high}, got {value}")
            return value

        def url(name: str, value: str, schemes: tuple[str, ...]) -> str:
            if value and urlparse(value).scheme not in schemes:
                accepted = ", ".join(f"{scheme}://" for scheme in schemes)
                problems.append(f"{name} must be a URL starting with one of {accepted}; got {value!r}")
            return value

        def rate(name: str, default: int) -> Limit:
            return Limit(number(name, default, 0, 1_000_000), 60)

        livekit_schemes = ("http", "https", "ws", "wss")
        livekit_url = url("LIVEKIT_URL", required("LIVEKIT_URL"), livekit_schemes)
        settings = cls(
            livekit_url=livekit_url,
            livekit_api_key=required("LIVEKIT_API_KEY"),
            livekit_api_secret=required("LIVEKIT_API_SECRET"),
            livekit_public_url=url("LIVEKIT_PUBLIC_URL", env.get("LIVEKIT_PUBLIC_URL", "").strip(), livekit_schemes)
            or livekit_url,
            host=env.get("SHOW_HOST", "127.0.0.1").strip() or "127.0.0.1",
            grpc_port=number("SHOW_GRPC_PORT", 50051, 0, 65535),
            http_port=number("SHOW_HTTP_PORT", 3001, 0, 65535),
            token_ttl_seconds=number("SHOW_TOKEN_TTL_SECONDS", 6 * 3600, 60, 7 * 24 * 3600),
            guest_limit=number("SHOW_GUEST_LIMIT", 1, 1, 16),
            invitation_seconds=number("SHOW_INVITATION_SECONDS", 60, 1, 3600),
            host_claim_seconds=number("SHOW_HOST_CLAIM_SECONDS", 60, 1, 24 * 3600),
            redis_url=url("SHOW_REDIS_URL", env.get("SHOW_REDIS_URL", "").strip(), ("redis", "rediss", "unix")),
            rates=RatePolicy(
                join=rate("SHOW_RATE_JOIN_PER_MINUTE", 10),
                invite=rate("SHOW_RATE_INVITE_PER_MINUTE", 5),
                hand=rate("SHOW_RATE_HAND_PER_MINUTE", 10),
                other=rate("SHOW_RATE_OTHER_PER_MINUTE", 100),
            ),
            log_level=env.get("SHOW_LOG_LEVEL", "INFO").strip().upper() or "INFO",
        )
        if settings.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            problems.append(f"SHOW_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {settings.log_level!r}")
        if problems:
            raise ConfigError(problems)
        return settings
