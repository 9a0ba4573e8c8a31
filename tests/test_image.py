"""The service's image as its Dockerfile lays it out, run without Docker (these machines have no
Docker engine): the final stage's files are copied into an empty folder, as the build context
and .dockerignore would let them through, and the stage's CMD is run there with its ENV. The
runtime virtualenv of the image stands in as the project's own (test_packaging checks that the
service needs nothing beyond requirements.lock). What this shows: the image starts, answers its
health check, and serves the pages, and the service imports nothing the image leaves out."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from service.dev.livekit_server import LiveKitDevServer, free_port
from tests.conftest import ROOT, run_until_ready

WORKDIR = "/app"


@dataclass
class FinalStage:
    """The last stage of the Dockerfile: what it copies from the build context, its ENV and CMD."""

    copies: list[tuple[str, str]] = field(default_factory=list)  # (source in the context, destination)
    env: dict[str, str] = field(default_factory=dict)
    cmd: list[str] = field(default_factory=list)


def final_stage(dockerfile: Path) -> FinalStage:
    # Instructions with their continuation lines joined, comments dropped.
    text = re.sub(
        r"\\\n\s*",
        " ",
        "\n".join(line for line in dockerfile.read_text().splitlines() if not line.lstrip().startswith("#")),
    )
    stage = FinalStage()
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        word = word.upper()
        if word == "FROM":
            stage = FinalStage()
        elif word == "COPY" and not rest.startswith("--from"):
            *sources, destination = shlex.split(rest)
            stage.copies += [(source, destination) for source in sources]
        elif word == "ENV":
            stage.env.update(dict(pair.split("=", 1) for pair in shlex.split(rest)))
        elif word == "CMD":
            stage.cmd = json.loads(rest)
    return stage


def ignored(dockerignore: Path) -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore's patterns in order, each (is an exception, the paths it matches): `*` and
    `?` within one path segment, `**` across segments; a pattern matching a folder covers what
    is in it."""
    patterns = []
    for line in dockerignore.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        glob = line.removeprefix("!").strip("/")
        regex = "".join(
            ".*" if part == "**" else "[^/]*" if part == "*" else "[^/]" if part == "?" else re.escape(part)
            for part in re.split(r"(\*\*|\*|\?)", glob)
        )
        patterns.append((exception, re.compile(regex + "(/.*)?")))
    return patterns


def sent_to_the_build(path: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether the build context holds `path` (relative to the project): the last pattern
    matching it decides."""
    sent = True
    for exception, pattern in patterns:
        if pattern.fullmatch(path):
            sent = exception
    return sent


def lay_out(stage: FinalStage, into: Path) -> list[str]:
    """Copies what the stage copies (destinations relative to its WORKDIR), as the build context
    lets it through; the files copied, relative to the project."""
    patterns = ignored(ROOT / ".dockerignore")
    copied = []
    for source, destination in stage.copies:
        found = ROOT / source
        assert found.exists(), f"the Dockerfile copies {source}, which is not there (make web builds build/web)"
        target = into / destination.removeprefix(WORKDIR).lstrip("/")
        if found.is_file():
            pairs = [(found, target / found.name if destination.endswith("/") else target)]
        else:
            pairs = [(file, target / file.relative_to(found)) for file in sorted(found.rglob("*")) if file.is_file()]
        for file, to in pairs:
            relative = file.relative_to(ROOT).as_posix()
            if sent_to_the_build(relative, patterns):
                to.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, to)
                copied.append(relative)
    return copied


def test_the_build_context_sends_only_what_the_image_copies() -> None:
    """The context is small (no .venv, node_modules, build tools, tests), and nothing the
    Dockerfile copies is left out of it."""
    patterns = ignored(ROOT / ".dockerignore")
    for left_out in (
        ".venv/bin/python",
        "node_modules/vite/package.json",
        "build/livekit-protocol/x.proto",
        "tests/conftest.py",
    ):
        assert not sent_to_the_build(left_out, patterns), left_out
    # The build stage's one file, then the final stage's.
    assert sent_to_the_build("requirements.lock", patterns)
    for source, _ in final_stage(ROOT / "Dockerfile").copies:
        assert sent_to_the_build(source, patterns), f"the Dockerfile copies {source}, which .dockerignore leaves out"
    assert not sent_to_the_build("service/core/__pycache__/show.cpython-311.pyc", patterns)


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.headers.get("content-type", ""), answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers.get("content-type", ""), refused.read()


def test_the_image_serves_its_doors_and_the_pages(tmp_path: Path, livekit: LiveKitDevServer) -> None:
    stage = final_stage(ROOT / "Dockerfile")
    app = tmp_path / "app"
    copied = lay_out(stage, app)
    assert any(path.startswith("build/web/assets/") for path in copied), "the image has no pages"
    assert not any(path.startswith(("tests/", "tools/", "protos/")) for path in copied)

    # The image's ENV and CMD, with /app where it was laid out, this project's virtualenv for the
    # image's, and loopback and free ports for the image's 0.0.0.0 and fixed ones.
    env = {name: value.replace(WORKDIR, str(app)) for name, value in stage.env.items()}
    env["PATH"] = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    http_port = free_port()
    env |= {
        "SHOW_HOST": "127.0.0.1",
        "SHOW_HTTP_PORT": str(http_port),
        "SHOW_GRPC_PORT": "0",
        "LIVEKIT_URL": livekit.url,
        "LIVEKIT_API_KEY": livekit.api_key,
        "LIVEKIT_API_SECRET": livekit.api_secret,
    }
    assert stage.cmd[0] == "python"
    running = run_until_ready([sys.executable, *stage.cmd[1:]], app, env)
    try:
        base = running.http_base
        assert get(f"{base}/health")[0] == 200
        for page in ("/", "/studio/launch-party", "/watch/launch-party"):
            status, kind, body = get(base + page)
            assert (status, kind.split(";")[0]) == (200, "text/html"), (page, status, body[:200])
            scripts = re.findall(rb'src="(/assets/[^"]+)"', body)
            assert scripts, body[:300]
            for script in scripts:
                assert get(base + script.decode())[0] == 200, script
        assert get(f"{base}/api/rooms/launch-party")[0] == 401  # the REST door, behind its chain
    finally:
        code = running.stop()
    assert code == 0, "".join(running.output[-20:])
    # The service ran from the laid-out image (its PYTHONPATH and folder), not from this checkout.
    assert (app / "service" / "doors" / "__pycache__").is_dir()
