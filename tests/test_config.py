"""Settings come from the environment, and every problem is named before anything starts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping

import pytest

from service.config import KNOWN, ConfigError, Settings, closest_setting, redacted_url
from tests.conftest import ROOT

GOOD = {"LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "s"}


def test_defaults_are_the_mvps_ports() -> None:
    settings = Settings.from_env(GOOD)
    assert (settings.grpc_port, settings.http_port) == (50051, 3001)
    assert settings.livekit_public_url == "ws://127.0.0.1:7880"
    assert settings.guest_limit == 1


def test_every_problem_is_reported_together() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"LIVEKIT_URL": "ftp://x", "SHOW_HTTP_PORT": "http", "SHOW_GRPC_PORT": "70000"})
    assert caught.value.problems == [
        "LIVEKIT_URL must be a URL starting with one of http://, https://, ws://, wss://; got 'ftp://x'",
        "LIVEKIT_API_KEY is required",
        "LIVEKIT_API_SECRET is required",
        "SHOW_GRPC_PORT must be between 0 and 65535, got 70000",
        "SHOW_HTTP_PORT must be a whole number, got 'http'",
    ]


def test_the_service_refuses_to_start_without_livekit_settings() -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT / 'gen'}:{ROOT}"}
    done = subprocess.run(
        [sys.executable, "-m", "service"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "LIVEKIT_URL is required" in done.stderr and "LIVEKIT_API_SECRET is required" in done.stderr


def test_a_redis_cluster_is_named_by_any_of_its_nodes() -> None:
    settings = Settings.from_env({**GOOD, "SHOW_REDIS_URL": "redis://10.0.0.5:6379/0", "SHOW_REDIS_CLUSTER": "true"})
    assert (settings.redis_cluster, settings.room_idle_seconds) == (True, 6 * 3600)
    assert not Settings.from_env(GOOD).redis_cluster
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**GOOD, "SHOW_REDIS_CLUSTER": "yes", "SHOW_ROOM_IDLE_SECONDS": "5"})
    assert caught.value.problems == [
        "SHOW_REDIS_CLUSTER must be true or false, got 'yes'",
        "SHOW_ROOM_IDLE_SECONDS must be between 60 and 604800, got 5",
    ]
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**GOOD, "SHOW_REDIS_CLUSTER": "true"})
    assert caught.value.problems == ["SHOW_REDIS_CLUSTER needs SHOW_REDIS_URL: the address of any node of the cluster"]


def test_the_server_stack_and_room_cache_settings() -> None:
    settings = Settings.from_env(GOOD)
    assert (settings.event_loop, settings.http_parser, settings.room_cache_seconds) == ("uvloop", "httptools", 2.0)
    chosen = Settings.from_env(
        {**GOOD, "SHOW_EVENT_LOOP": "asyncio", "SHOW_HTTP_PARSER": "h11", "SHOW_ROOM_CACHE_SECONDS": "0.5"}
    )
    assert (chosen.event_loop, chosen.http_parser, chosen.room_cache_seconds) == ("asyncio", "h11", 0.5)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(
            {**GOOD, "SHOW_EVENT_LOOP": "trio", "SHOW_HTTP_PARSER": "x", "SHOW_ROOM_CACHE_SECONDS": "nan"}
        )
    assert caught.value.problems == [
        "SHOW_EVENT_LOOP must be one of uvloop, asyncio, got 'trio'",
        "SHOW_HTTP_PARSER must be one of httptools, h11, got 'x'",
        "SHOW_ROOM_CACHE_SECONDS must be between 0 and 60, got nan",
    ]


def test_a_url_the_service_could_not_use_is_refused_before_anything_starts() -> None:
    """A URL with no host, or a port that is not one, used to start a service that was never
    ready (LiveKit) or died with a traceback (Redis); a database that is not a number was taken
    as 0. Each is named, with the URL shown without its password, and nothing starts."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{ROOT / 'gen'}:{ROOT}",
        "LIVEKIT_URL": "ws://127.0.0.1:78800",
        "LIVEKIT_API_KEY": "k",
        "LIVEKIT_API_SECRET": "s",
        "LIVEKIT_PUBLIC_URL": "wss://",
        "SHOW_EGRESS_URL": "http://127.0.0.1:egress",
        "SHOW_REDIS_URL": "redis://:hunter2@127.0.0.1:redis/0",
        "SHOW_HTTP_PORT": "0",
        "SHOW_GRPC_PORT": "0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "service"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    for problem in (
        "LIVEKIT_URL must have a port from 1 to 65535, if it names one; got 'ws://127.0.0.1:78800'",
        "LIVEKIT_PUBLIC_URL must name a host; got 'wss://'",
        "SHOW_EGRESS_URL must have a port from 1 to 65535, if it names one; got 'http://127.0.0.1:egress'",
        "SHOW_REDIS_URL must have a port from 1 to 65535, if it names one; got 'redis://:***@127.0.0.1:redis/0'",
    ):
        assert problem in done.stderr, done.stderr
    assert "hunter2" not in done.stderr and "Traceback" not in done.stderr
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**GOOD, "SHOW_REDIS_URL": "redis://10.0.0.5:6379/shows"})
    assert caught.value.problems == [
        "SHOW_REDIS_URL: the database must be a number, as redis://host:6379/0; got 'shows'"
    ]
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**GOOD, "SHOW_REDIS_URL": "http://:hunter2@10.0.0.5"})
    assert "hunter2" not in str(caught.value) and "'http://:***@10.0.0.5'" in str(caught.value)
    for good in ("redis://10.0.0.5:6379/2", "rediss://user:pw@redis.example.com", "unix:///run/redis.sock"):
        assert Settings.from_env({**GOOD, "SHOW_REDIS_URL": good}).redis_url == good


def test_a_misspelt_or_newer_setting_is_named_and_ignored_not_refused() -> None:
    settings = Settings.from_env(
        {**GOOD, "SHOW_RATE_JOIN_PER_MINUT": "0", "SHOW_TELEPROMPTER_LINES": "4", "SHOWBIZ": "x", "PATH": "/bin"}
    )
    assert settings.unknown == ("SHOW_RATE_JOIN_PER_MINUT", "SHOW_TELEPROMPTER_LINES")
    assert settings.rates.join.requests == 10  # the misspelt 0 changed nothing
    assert closest_setting("SHOW_RATE_JOIN_PER_MINUT") == "SHOW_RATE_JOIN_PER_MINUTE"
    assert closest_setting("SHOW_CONFIG_FLIE") == "SHOW_CONFIG_FILE"
    assert closest_setting("SHOW_TELEPROMPTER_LINES") is None
    # The file's name and every setting are known; a setting given in the file is the file's to judge.
    assert Settings.from_env({**GOOD, "SHOW_CONFIG_FILE": "", "SHOW_GUEST_LIMIT": "2"}).unknown == ()


class Reads(Mapping[str, str]):
    """An environment that notes every name the settings ask it for."""

    def __init__(self, values: dict[str, str]) -> None:
        self.given, self.asked = values, set[str]()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        return self.given[name]

    def get(self, name: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.add(name)
        return self.given.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.given)

    def __len__(self) -> int:
        return len(self.given)


def test_the_known_settings_are_exactly_those_the_settings_read() -> None:
    """KNOWN, which the config file's keys and the unknown-variable warning are judged by, is
    held to what Settings.from_env reads: a setting added there and not to KNOWN fails here."""
    env = Reads(dict(GOOD))
    Settings.from_env(env)
    assert env.asked - {"SHOW_CONFIG_FILE"} == KNOWN


def test_a_url_is_shown_as_written_but_for_its_passwords() -> None:
    for written, shown in (
        ("redis://showrunner:hunter2@h:6379/0", "redis://showrunner:***@h:6379/0"),
        ("redis://:hunter2@h/0", "redis://:***@h/0"),
        ("redis://h:6379/0?password=hunter2&db=1", "redis://h:6379/0?password=***&db=1"),
        ("rediss://h/0?ssl_password=hunter2", "rediss://h/0?ssl_password=***"),
        # Nothing to hide: as written, to the letter (a socket's URL kept its `//`).
        ("unix:///run/redis/redis.sock?db=0", "unix:///run/redis/redis.sock?db=0"),
        ("redis://h:6379/0?password", "redis://h:6379/0?password"),
    ):
        assert redacted_url(written) == shown
