"""Settings come from the environment, and every problem is named before anything starts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from service.config import ConfigError, Settings
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
