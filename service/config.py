"""Settings, from the environment. Every problem is reported at once, before any port opens."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse


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

        def url(name: str, value: str) -> str:
            if value and urlparse(value).scheme not in ("http", "https", "ws", "wss"):
                problems.append(f"{name} must be an http(s):// or ws(s):// URL, got {value!r}")
            return value

        livekit_url = url("LIVEKIT_URL", required("LIVEKIT_URL"))
        settings = cls(
            livekit_url=livekit_url,
            livekit_api_key=required("LIVEKIT_API_KEY"),
            livekit_api_secret=required("LIVEKIT_API_SECRET"),
            livekit_public_url=url("LIVEKIT_PUBLIC_URL", env.get("LIVEKIT_PUBLIC_URL", "").strip())
            or livekit_url,
            host=env.get("SHOW_HOST", "127.0.0.1").strip() or "127.0.0.1",
            grpc_port=number("SHOW_GRPC_PORT", 50051, 0, 65535),
            http_port=number("SHOW_HTTP_PORT", 3001, 0, 65535),
            token_ttl_seconds=number("SHOW_TOKEN_TTL_SECONDS", 6 * 3600, 60, 7 * 24 * 3600),
            guest_limit=number("SHOW_GUEST_LIMIT", 1, 1, 16),
            log_level=env.get("SHOW_LOG_LEVEL", "INFO").strip().upper() or "INFO",
        )
        if settings.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            problems.append(
                f"SHOW_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {settings.log_level!r}"
            )
        if problems:
            raise ConfigError(problems)
        return settings
