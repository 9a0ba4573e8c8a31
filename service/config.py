"""Settings, from the environment. Every problem is reported at once, before any port opens."""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from redis.connection import parse_url as parse_redis_url

from service.core.limits import Limit, RatePolicy
from service.core.record import HISTORY_ENTRIES
from service.core.validate import GUEST_LIMITS
from service.doors.edges import EdgeLimits
from service.gateway.livekit import RecordingOutput, StreamDestinations

# Every setting, by its environment name. A config file (SHOW_CONFIG_FILE, TOML) uses the same
# names as keys; the environment wins over the file.
KNOWN = frozenset(
    {
        "LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "LIVEKIT_PUBLIC_URL", "SHOW_EGRESS_URL",
        "SHOW_HOST", "SHOW_GRPC_PORT", "SHOW_HTTP_PORT", "SHOW_TOKEN_TTL_SECONDS", "SHOW_GUEST_LIMIT",
        "SHOW_INVITATION_SECONDS", "SHOW_HOST_CLAIM_SECONDS", "SHOW_REDIS_URL", "SHOW_RATE_JOIN_PER_MINUTE",
        "SHOW_RATE_INVITE_PER_MINUTE", "SHOW_RATE_HAND_PER_MINUTE", "SHOW_RATE_OTHER_PER_MINUTE", "SHOW_LOG_LEVEL",
        "SHOW_CORS_ORIGINS", "SHOW_SHUTDOWN_GRACE_SECONDS", "SHOW_RECORDING_FILEPATH", "SHOW_RECORDING_S3_BUCKET",
        "SHOW_RECORDING_S3_REGION", "SHOW_RECORDING_S3_ENDPOINT", "SHOW_RECORDING_S3_ACCESS_KEY",
        "SHOW_RECORDING_S3_SECRET", "SHOW_RECORDING_S3_FORCE_PATH_STYLE", "SHOW_EGRESS_TIMEOUT_SECONDS",
        "SHOW_TRUSTED_PROXIES", "SHOW_HTTP_IDLE_SECONDS", "SHOW_HTTP_HEADER_SECONDS", "SHOW_HTTP_BODY_SECONDS",
        "SHOW_MAX_CONNECTIONS", "SHOW_GRPC_KEEPALIVE_SECONDS", "SHOW_GRPC_IDLE_SECONDS", "SHOW_GRPC_MAX_CONNECTIONS",
        "SHOW_GRPC_MAX_CONCURRENT_RPCS", "SHOW_READY_INTERVAL_SECONDS", "SHOW_REDIS_CLUSTER", "SHOW_ROOM_IDLE_SECONDS",
        "SHOW_RECONNECT_GRACE_SECONDS", "SHOW_RECONCILE_INTERVAL_SECONDS", "SHOW_DEPLOYMENT",
        "SHOW_STAGE_CHANGE_SECONDS", "SHOW_STREAM_DESTINATIONS",
        "SHOW_EVENT_LOOP", "SHOW_HTTP_PARSER", "SHOW_ROOM_CACHE_SECONDS", "SHOW_OPENS", "SHOW_ENDED_KEEP_SECONDS",
        "SHOW_HISTORY_ENTRIES", "SHOW_GRPC_SERVER",
    }
)  # fmt: skip
# The variable naming the config file: read from the environment only, never a key of the file.
CONFIG_FILE = "SHOW_CONFIG_FILE"


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
    cors_origins: tuple[str, ...]
    trusted_proxies: tuple[str, ...]
    shutdown_grace_seconds: int
    egress_url: str
    egress_timeout_seconds: int
    recording_output: RecordingOutput
    edges: EdgeLimits
    ready_interval_seconds: int
    reconnect_grace_seconds: int
    reconcile_interval_seconds: int
    deployment: str
    stage_change_seconds: int
    # SHOW_REDIS_URL names one node of a Redis Cluster (the client finds the others).
    redis_cluster: bool = False
    # A room's record is dropped after this long without a write (a lost room_finished).
    room_idle_seconds: int = 6 * 3600
    event_loop: str = "uvloop"
    http_parser: str = "httptools"
    # The gRPC door's server: zttp (uvicorn's HTTP/2) or grpcio (grpc.aio), the same answers.
    grpc_server: str = "zttp"
    room_cache_seconds: float = 2.0
    # The phase a host's first join opens a show in: "backstage" (GoLive lets the audience in) or
    # "live" (for clients that know no GoLive, such as the MVP's).
    opens: str = "backstage"
    # How long an ended show stays readable and locked (at least the token lifetime, so that no
    # token issued for it outlives the lock).
    ended_keep_seconds: int = 6 * 3600
    stream_destinations: StreamDestinations = dataclasses.field(default_factory=StreamDestinations)
    # A room's history keeps this many entries, oldest dropped first (ListShowEvents).
    history_entries: int = HISTORY_ENTRIES
    # SHOW_* variables of the environment that name no setting (a misspelling, or a newer
    # version's setting during a rolling deploy): ignored, and warned of at start-up.
    unknown: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        problems: list[str] = []
        unknown = unknown_settings(env)
        if env.get(CONFIG_FILE, "").strip():
            # A variable set blank says nothing (as everywhere else here): the file's value stands.
            given = {name: value for name, value in env.items() if value.strip()}
            env = {**read_config_file(env[CONFIG_FILE].strip(), problems), **given}

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
            """A URL of one of `schemes` naming a host (a unix:// socket, its path) and, if it
            names a port, one from 1 to 65535: a URL the clients cannot use would otherwise be
            found out only as a readiness that never comes (LiveKit) or a traceback (Redis). A
            problem shows the URL without its password."""
            if not value:
                return value
            parsed, shown = urlparse(value), redacted_url(value)
            if parsed.scheme not in schemes:
                accepted = ", ".join(f"{scheme}://" for scheme in schemes)
                problems.append(f"{name} must be a URL starting with one of {accepted}; got {shown!r}")
                return value
            try:
                port = parsed.port  # ValueError when it is not a number from 0 to 65535
            except ValueError:
                port = 0
            if parsed.scheme == "unix":
                if not parsed.path:
                    problems.append(f"{name} must name the socket's path, as unix:///path/to/redis.sock; got {shown!r}")
            elif not parsed.hostname:
                problems.append(f"{name} must name a host; got {shown!r}")
            elif port == 0:
                problems.append(f"{name} must have a port from 1 to 65535, if it names one; got {shown!r}")
            return value

        def redis_url(name: str) -> str:
            """SHOW_REDIS_URL, also as the Redis client reads it: its database above all
            (redis://host:6379/db), which the client would take as 0 were it not a number."""
            before = len(problems)
            value = url(name, env.get(name, "").strip(), ("redis", "rediss", "unix"))
            if not value or len(problems) > before:
                return value
            parsed = urlparse(value)
            database = unquote(parsed.path).strip("/") if parsed.scheme != "unix" else ""
            if database and not database.isdigit():
                problems.append(f"{name}: the database must be a number, as redis://host:6379/0; got {database!r}")
            try:
                parse_redis_url(value)  # type: ignore[no-untyped-call]
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
            return value

        def rate(name: str, default: int) -> Limit:
            return Limit(number(name, default, 0, 1_000_000), 60)

        def flag(name: str) -> bool:
            raw = env.get(name, "").strip().lower()
            if raw not in ("", "true", "false", "1", "0"):
                problems.append(f"{name} must be true or false, got {raw!r}")
            return raw in ("true", "1")

        def addresses(name: str) -> tuple[str, ...]:
            """The networks listed, each in its canonical form (`10.1.2.3/16` is 10.1.0.0/16):
            uvicorn reads only that form, and took any other as a name that matches nobody."""
            networks: list[str] = []
            for address in (a.strip() for a in env.get(name, "").split(",")):
                if not address:
                    continue
                try:
                    networks.append(str(ipaddress.ip_network(address, strict=False)))
                except ValueError:
                    problems.append(f"{name} entries must be IP addresses or networks, got {address!r}")
            return tuple(networks)

        def origins(name: str) -> tuple[str, ...]:
            listed = tuple(o.strip().rstrip("/") for o in env.get(name, "").split(",") if o.strip())
            for origin in listed:
                parsed = urlparse(origin)
                if origin != "*" and (parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.path):
                    problems.append(f"{name} entries must be origins like https://app.example.com, got {origin!r}")
            return listed

        def destinations(name: str) -> dict[str, str]:
            """`name=rtmp(s)://host/app/key` pairs, separated by commas or new lines. A problem
            names the destination, never its URL: the URL holds the stream key."""
            found: dict[str, str] = {}
            for entry in env.get(name, "").replace("\n", ",").split(","):
                if not entry.strip():
                    continue
                label, _, target = (part.strip() for part in entry.partition("="))
                if not label.replace("-", "").replace("_", "").isalnum() or len(label) > 64:
                    problems.append(f"{name} entries must be name=rtmp(s)://...; a name is letters, digits, - or _")
                elif urlparse(target).scheme not in ("rtmp", "rtmps") or not urlparse(target).netloc:
                    problems.append(f"{name}: the URL of {label!r} must start with rtmp:// or rtmps://")
                elif label in found:
                    problems.append(f"{name} names {label!r} twice")
                else:
                    found[label] = target
            return found

        def seconds(name: str, default: float, low: float, high: float) -> float:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                problems.append(f"{name} must be a number of seconds, got {raw!r}")
                return default
            if not low <= value <= high:  # also refuses nan
                problems.append(f"{name} must be between {low:g} and {high:g}, got {raw}")
                return default
            return value

        def choice(name: str, allowed: tuple[str, ...]) -> str:
            """One of `allowed`, the first being the default."""
            raw = env.get(name, "").strip().lower() or allowed[0]
            if raw not in allowed:
                problems.append(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
            return raw

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
            guest_limit=number("SHOW_GUEST_LIMIT", 1, *GUEST_LIMITS),
            invitation_seconds=number("SHOW_INVITATION_SECONDS", 60, 1, 3600),
            host_claim_seconds=number("SHOW_HOST_CLAIM_SECONDS", 60, 1, 24 * 3600),
            redis_url=redis_url("SHOW_REDIS_URL"),
            rates=RatePolicy(
                join=rate("SHOW_RATE_JOIN_PER_MINUTE", 10),
                invite=rate("SHOW_RATE_INVITE_PER_MINUTE", 5),
                hand=rate("SHOW_RATE_HAND_PER_MINUTE", 10),
                other=rate("SHOW_RATE_OTHER_PER_MINUTE", 100),
            ),
            log_level=env.get("SHOW_LOG_LEVEL", "INFO").strip().upper() or "INFO",
            cors_origins=origins("SHOW_CORS_ORIGINS"),
            trusted_proxies=addresses("SHOW_TRUSTED_PROXIES"),
            shutdown_grace_seconds=number("SHOW_SHUTDOWN_GRACE_SECONDS", 10, 0, 600),
            egress_url=url("SHOW_EGRESS_URL", env.get("SHOW_EGRESS_URL", "").strip(), livekit_schemes) or livekit_url,
            egress_timeout_seconds=number("SHOW_EGRESS_TIMEOUT_SECONDS", 8, 1, 120),
            recording_output=RecordingOutput(
                filepath=env.get("SHOW_RECORDING_FILEPATH", "").strip() or RecordingOutput.filepath,
                s3_bucket=env.get("SHOW_RECORDING_S3_BUCKET", "").strip(),
                s3_region=env.get("SHOW_RECORDING_S3_REGION", "").strip(),
                s3_endpoint=env.get("SHOW_RECORDING_S3_ENDPOINT", "").strip(),
                s3_access_key=env.get("SHOW_RECORDING_S3_ACCESS_KEY", "").strip(),
                s3_secret=env.get("SHOW_RECORDING_S3_SECRET", "").strip(),
                s3_force_path_style=flag("SHOW_RECORDING_S3_FORCE_PATH_STYLE"),
            ),
            edges=EdgeLimits(
                http_idle_seconds=number("SHOW_HTTP_IDLE_SECONDS", 75, 1, 3600),
                http_header_seconds=number("SHOW_HTTP_HEADER_SECONDS", 10, 1, 600),
                http_body_seconds=number("SHOW_HTTP_BODY_SECONDS", 30, 1, 600),
                max_connections=number("SHOW_MAX_CONNECTIONS", 4096, 1, 1_000_000),
                grpc_keepalive_seconds=number("SHOW_GRPC_KEEPALIVE_SECONDS", 60, 10, 24 * 3600),
                grpc_idle_seconds=number("SHOW_GRPC_IDLE_SECONDS", 300, 1, 24 * 3600),
                grpc_max_connections=number("SHOW_GRPC_MAX_CONNECTIONS", 4096, 1, 1_000_000),
                grpc_max_concurrent_rpcs=number("SHOW_GRPC_MAX_CONCURRENT_RPCS", 2048, 1, 1_000_000),
            ),
            ready_interval_seconds=number("SHOW_READY_INTERVAL_SECONDS", 2, 1, 300),
            reconnect_grace_seconds=number("SHOW_RECONNECT_GRACE_SECONDS", 30, 0, 3600),
            reconcile_interval_seconds=number("SHOW_RECONCILE_INTERVAL_SECONDS", 5, 1, 600),
            deployment=env.get("SHOW_DEPLOYMENT", "").strip(),
            stage_change_seconds=number("SHOW_STAGE_CHANGE_SECONDS", 10, 1, 600),
            redis_cluster=flag("SHOW_REDIS_CLUSTER"),
            room_idle_seconds=number("SHOW_ROOM_IDLE_SECONDS", 6 * 3600, 60, 7 * 24 * 3600),
        )
        if settings.redis_cluster and not settings.redis_url:
            problems.append("SHOW_REDIS_CLUSTER needs SHOW_REDIS_URL: the address of any node of the cluster")
        settings = dataclasses.replace(
            settings,
            event_loop=choice("SHOW_EVENT_LOOP", ("uvloop", "asyncio")),
            http_parser=choice("SHOW_HTTP_PARSER", ("httptools", "h11")),
            grpc_server=choice("SHOW_GRPC_SERVER", ("zttp", "grpcio")),
            room_cache_seconds=seconds("SHOW_ROOM_CACHE_SECONDS", 2.0, 0.0, 60.0),
            opens=choice("SHOW_OPENS", ("backstage", "live")),
            ended_keep_seconds=number("SHOW_ENDED_KEEP_SECONDS", 6 * 3600, 1, 30 * 24 * 3600),
            stream_destinations=StreamDestinations(destinations("SHOW_STREAM_DESTINATIONS")),
            history_entries=number("SHOW_HISTORY_ENTRIES", HISTORY_ENTRIES, 100, 1_000_000),
            unknown=unknown,
        )
        output = settings.recording_output
        if output.s3_bucket and not (output.s3_access_key and output.s3_secret):
            problems.append("SHOW_RECORDING_S3_BUCKET needs SHOW_RECORDING_S3_ACCESS_KEY and SHOW_RECORDING_S3_SECRET")
        if settings.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            problems.append(f"SHOW_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {settings.log_level!r}")
        if problems:
            raise ConfigError(problems)
        return settings


def unknown_settings(env: Mapping[str, str]) -> tuple[str, ...]:
    """The SHOW_* names of `env` that are no setting, in order. Only warned of, never refused:
    an instance must start beside a newer version's settings while a rolling deploy goes on."""
    names = KNOWN | {CONFIG_FILE}
    return tuple(sorted(name for name in env if name.startswith("SHOW_") and name not in names))


def closest_setting(name: str) -> str | None:
    """The setting `name` most likely misspells, if one is close."""
    close = difflib.get_close_matches(name, KNOWN | {CONFIG_FILE}, n=1, cutoff=0.8)
    return close[0] if close else None


def redacted_url(value: str) -> str:
    """`value` as it may be shown (logs, errors), as it was written but for its passwords, each
    replaced by ***: in the address (`user:password@`), and in the query (`?password=...`,
    `ssl_password=...`: redis-py reads them there too)."""
    parsed = urlparse(value)
    shown = value
    if parsed.password is not None:
        userinfo, _, host = parsed.netloc.rpartition("@")
        shown = shown.replace(parsed.netloc, f"{userinfo.partition(':')[0]}:***@{host}", 1)
    if parsed.query:
        fields = [field.partition("=") for field in parsed.query.split("&")]
        query = "&".join(
            name + sign + ("***" if sign and unquote(name).lower().endswith("password") else given)
            for name, sign, given in fields
        )
        shown = shown.replace(f"?{parsed.query}", f"?{query}", 1)
    return shown


def read_config_file(path: str, problems: list[str]) -> dict[str, str]:
    """Settings from a TOML file of NAME = value lines, as strings like the environment's."""
    try:
        raw = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        problems.append(f"SHOW_CONFIG_FILE {path} cannot be read: {exc.strerror}")
        return {}
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"SHOW_CONFIG_FILE {path} is not valid TOML: {exc}")
        return {}
    settings: dict[str, str] = {}
    for key, value in raw.items():
        if key not in KNOWN:
            problems.append(f"SHOW_CONFIG_FILE {path}: unknown setting {key!r}")
        elif isinstance(value, bool):
            settings[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):  # a decimal (SHOW_ROOM_CACHE_SECONDS = 0.5) too
            settings[key] = str(value)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            settings[key] = ",".join(value)
        elif isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            # A table of name = "value" (SHOW_STREAM_DESTINATIONS), as the environment spells it.
            settings[key] = ",".join(f"{name}={v}" for name, v in value.items())
        else:
            problems.append(
                f"SHOW_CONFIG_FILE {path}: {key} must be a string, number, boolean, list of strings or table of strings"
            )
    return settings
