"""A whole show in a real browser: Debian's chromium with a fake camera and microphone plays the
host studio and two watch pages against the real LiveKit and the real service (the driver is
tests/browser/show.mjs, with playwright-core). Needs the pages built: `make web` (make test does)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from service.doors.web import WEB_DIR
from tests.conftest import ROOT, ServiceProcess, admin_token

DRIVER = ROOT / "tests" / "browser" / "show.mjs"


def test_a_whole_show_plays_in_the_browser(service: ServiceProcess, room: str, tmp_path: Path) -> None:
    assert (WEB_DIR / "index.html").is_file(), "the web app is not built: run `make web`"
    assert (ROOT / "node_modules" / "playwright-core").is_dir(), "npm packages are missing: run `make npm`"
    node = shutil.which("node")
    assert node, "node is needed to drive the browser"
    out = tmp_path / "browser"
    env = {
        **os.environ,
        "BASE_URL": service.http_base,
        "ROOM": room,
        "ADMIN_TOKEN": admin_token(room),
        "OUT_DIR": str(out),
        # `make screenshots` points this at docs/ to refresh the README's pictures.
        "SCREENSHOTS_DIR": os.environ.get("SHOW_SCREENSHOTS_DIR", str(out)),
    }
    try:
        run = subprocess.run([node, str(DRIVER)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=150)
    except subprocess.TimeoutExpired as exc:
        said = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        pytest.fail(f"the browser show did not finish in 150 s; see {out}\n{said}")
    sys.stdout.write(run.stdout)
    assert run.returncode == 0, f"the browser show failed; screenshots in {out}\n{run.stdout}{run.stderr}"
