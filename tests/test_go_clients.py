"""The Go clients generated into clients/go, used as a Go consumer would: showcheck
(clients/go/cmd/showcheck) calls every RPC over gRPC and over Twirp JSON and protobuf, against the
running service, and checks answers and refusals through the official clients' own error types.

The stage RPCs need viewers connected to LiveKit; showcheck asks for them on its stdout and this
test connects each one as a real WebRTC participant (livekit rtc), then answers on its stdin.
Recordings go to the egress stand-in (see tests/egress_standin.py), so every RPC has a success;
a second run against the real dev LiveKit, which has no egress worker, reads UNAVAILABLE."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from service.dev.livekit_server import LiveKitDevServer
from tests.conftest import ROOT, ServiceProcess, admin_token
from tests.live import LiveParticipant

CLIENTS_GO = ROOT / "clients" / "go"
TRANSPORTS = ("grpc", "twirp-json", "twirp-protobuf")
# The RPCs as the contract declares them, read from the .proto rather than from generated code.
RPCS = re.findall(r"^\s*rpc (\w+)\(", (ROOT / "protos/showrunner/v1/show_service.proto").read_text(), re.M)


@pytest.fixture(scope="module")
def showcheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built with the module's own go.mod and go.sum, as a consumer's build would."""
    binary = tmp_path_factory.mktemp("go") / "showcheck"
    env = {**os.environ, "GOFLAGS": "-mod=readonly"}
    built = subprocess.run(
        ["go", "build", "-o", str(binary), "./cmd/showcheck"],
        cwd=CLIENTS_GO,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert built.returncode == 0, built.stderr
    return binary


@pytest.mark.timeout(420)
async def test_go_clients_call_every_rpc_over_grpc_and_twirp(
    showcheck: Path, livekit: LiveKitDevServer, recording_service: ServiceProcess
) -> None:
    connected: list[LiveParticipant] = []
    process = await asyncio.create_subprocess_exec(
        str(showcheck),
        "-grpc",
        recording_service.grpc_address,
        "-http",
        recording_service.http_base,
        "-room-prefix",
        f"go-{uuid.uuid4().hex[:8]}",
        env={**os.environ, "LIVEKIT_API_KEY": livekit.api_key, "LIVEKIT_API_SECRET": livekit.api_secret},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdin is not None and process.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(150):
            while raw := await process.stdout.readline():
                line = raw.decode().rstrip("\n")
                lines.append(line)
                if line.startswith("CONNECT "):
                    _, identity, ws_url, token = line.split(" ")
                    connected.append(await LiveParticipant(identity).connect(ws_url, token))
                    process.stdin.write(f"CONNECTED {identity}\n".encode())
                    await process.stdin.drain()
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        for participant in connected:
            with contextlib.suppress(Exception):
                await participant.disconnect()

    output = "\n".join(line for line in lines if not line.startswith("CONNECT "))
    print(output)
    assert process.returncode == 0, output
    assert not [line for line in lines if line.startswith(("FAIL", "MISSING"))], output
    assert f"SUMMARY rpcs={len(RPCS)} transports=3 failed=0 missing=0" in lines, output
    # Every RPC the contract declares passed a success and a refusal on every transport.
    for transport in TRANSPORTS:
        for rpc in RPCS:
            for kind in ("answers", "refuses"):
                assert any(line.startswith(f"PASS {transport} {rpc} {kind}: ") for line in lines), (
                    f"{transport} {rpc}: no check that it {kind}"
                )
    # The refusals were read through each client's own vocabulary.
    assert "PASS grpc GetRoom refuses: a room that does not exist (NotFound)" in lines, output
    assert "PASS twirp-json GetRoom refuses: a room that does not exist (not_found)" in lines, output
    assert "PASS twirp-protobuf JoinRoom refuses: hosting without a token (unauthenticated)" in lines, output
    assert "PASS twirp-json SetHandRaised refuses: without saying up or down (invalid_argument)" in lines, output


def test_go_clients_read_unavailable_when_livekit_has_no_egress(
    showcheck: Path, livekit: LiveKitDevServer, service: ServiceProcess
) -> None:
    """`service` sends its Egress calls to the dev LiveKit itself, which has no egress worker."""
    done = subprocess.run(
        [str(showcheck), "-no-egress", "-grpc", service.grpc_address, "-http", service.http_base],
        env={**os.environ, "LIVEKIT_API_KEY": livekit.api_key, "LIVEKIT_API_SECRET": livekit.api_secret},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
    )
    print(done.stdout, done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUMMARY failed=0" in done.stdout
    for transport, code in (("grpc", "Unavailable"), ("twirp-json", "unavailable"), ("twirp-protobuf", "unavailable")):
        assert f"PASS {transport} StartRecording refuses: no egress worker answers ({code})" in done.stdout
        assert f"PASS {transport} ListRecordings answers: no recording was left half-started" in done.stdout
        assert f"PASS {transport} StartStream refuses: no egress worker answers ({code})" in done.stdout
        assert f"PASS {transport} ListStreams answers: no stream was left half-started" in done.stdout


def readme_go_consumer() -> tuple[str, str]:
    """The README's commands for using the client from another module, and its Go program."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("<!-- go consumer:") :]
    commands = re.search(r"```sh\n(.*?)```", section, re.S)
    program = re.search(r"```go\n(.*?)```", section, re.S)
    assert commands and program, "the README's Go consumer section lost its commands or its program"
    return commands.group(1), program.group(1)


def test_a_module_of_its_own_uses_the_go_client_as_the_readme_says(tmp_path: Path, service: ServiceProcess) -> None:
    """The module's path names no repository `go get` could fetch: a module elsewhere uses it from
    this checkout by the README's commands, then builds and runs the README's program. Offline:
    the public modules come from the module cache the client's own build filled."""
    commands, program = readme_go_consumer()
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    env = {**os.environ, "SHOWRUNNER": str(ROOT), "GOPROXY": "off", "GOSUMDB": "off", "GOFLAGS": "-mod=mod"}

    def run(*command: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, cwd=consumer, env={**env, **(extra or {})}, capture_output=True, text=True, timeout=280
        )

    assert run("go", "mod", "init", "example.com/showconsumer").returncode == 0
    (consumer / "main.go").write_text(program)
    done = run("bash", "-e", "-c", commands)
    assert done.returncode == 0, done.stderr
    built = run("go", "build", "-o", "consumer", ".")
    assert built.returncode == 0, built.stderr

    # The program reads a show through the Twirp JSON client, and a refusal through twirp.Error.
    room = "my-show"
    admin = admin_token(room)
    httpx.post(
        f"{service.http_base}/api/rooms/join",
        json={"roomName": room, "participantName": "host-1", "role": "host"},
        headers={"authorization": f"Bearer {admin}"},
    ).raise_for_status()
    answered = run("./consumer", extra={"SHOW_URL": service.http_base, "SHOW_TOKEN": admin})
    assert answered.returncode == 0 and "0 guests on stage" in answered.stderr, answered.stderr
    refused = run("./consumer", extra={"SHOW_URL": service.http_base, "SHOW_TOKEN": admin_token("another-show")})
    assert refused.returncode == 1 and "twirp error permission_denied" in refused.stderr, refused.stderr
