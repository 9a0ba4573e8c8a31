"""Starting and stopping the local servers the dev stack and the tests start."""

from __future__ import annotations

import ctypes
import re
import signal
import socket
import subprocess
from collections.abc import Callable
from typing import Any


def stop_process(process: subprocess.Popen[Any] | None, timeout: float = 10.0) -> int | None:
    """SIGTERM, a grace period, then SIGKILL; returns the exit code (None if never started)."""
    if process is None:
        return None
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None]:
    """For Popen's preexec_fn: the child gets `sig` when the process that started it dies, even by
    SIGKILL, so `make dev` never leaves a livekit-server or redis-server behind (Linux only).

    Only for a parent with a single thread (`make dev` starts its servers before anything else):
    between fork and exec in a child of a threaded parent, even this may find libc's locks held.
    libc's prctl is looked up here, in the parent, so the child only calls it."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1

    def arrange() -> None:
        prctl(pr_set_pdeathsig, int(sig), 0, 0, 0)

    return arrange


def who_listens(port: int) -> str | None:
    """Describes the process listening on TCP `port` on this machine, or None if none does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        if probe.connect_ex(("127.0.0.1", port)) != 0:
            return None
    try:
        shown = subprocess.run(
            ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        shown = ""
    found = re.search(r'users:\(\("([^"]+)",pid=(\d+)', shown)
    return f"{found.group(1)} (pid {found.group(2)})" if found else "another process"
